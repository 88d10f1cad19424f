//! Shared pieces of the std host programs in `src/bin/`.

pub mod config;
pub mod net;
pub mod pcap;
pub mod server;
