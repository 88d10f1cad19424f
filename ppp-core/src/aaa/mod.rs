//! AAA clients: RADIUS (feature `radius`) and TACACS+ (feature `tacacs`),
//! both Sans-IO and `no_std` without allocation, and the [`bridge`] between
//! the authenticator's [`crate::auth::AuthRequest`] / [`crate::auth::Verdict`]
//! and their packets.
//!
//! The host owns the sockets (UDP for RADIUS, one TCP connection per
//! TACACS+ session or a shared single-connection), the clock and the
//! random source; the clients turn requests into bytes and bytes into
//! verdicts.

pub mod bridge;
#[cfg(feature = "radius")]
pub mod radius;
#[cfg(feature = "tacacs")]
pub mod tacacs;
