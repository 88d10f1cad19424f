//! Shared pieces of the std host programs in `src/bin/`.

pub mod decode;
pub mod demo;
pub mod keys;
pub mod pcap;
pub mod show_vpdn;
pub mod sim;
pub mod transcript;
