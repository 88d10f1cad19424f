//! Shared pieces of the std host programs in `src/bin/`.

pub mod capture;
pub mod client;
pub mod config;
pub mod decode;
pub mod demo;
pub mod events;
pub mod host;
pub mod keys;
pub mod load;
pub mod net;
pub mod pcap;
pub mod server;
pub mod show_vpdn;
pub mod sim;
pub mod timers;
pub mod transcript;
