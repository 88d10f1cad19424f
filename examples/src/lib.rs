//! Shared pieces of the std host programs in `src/bin/`.

pub mod client;
pub mod config;
pub mod host;
pub mod net;
pub mod pcap;
pub mod server;
