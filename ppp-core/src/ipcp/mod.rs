//! IPCP, the IP Control Protocol (RFC 1332), with RFC 1877 DNS/NBNS
//! options, and the server's address pool.

pub mod pool;

pub use pool::{AddressPool, PoolError};
