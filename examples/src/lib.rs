//! Shared pieces of the std host programs in `src/bin/`.

pub mod pcap;
