//! # ppp-core: the PPP link as Sans-IO machines
//!
//! PPP framing (HDLC address/control, PFC/ACFC, RFC 1662 async framing),
//! the RFC 1661 option-negotiation automaton written once and shared by
//! LCP, IPCP and CCP, authentication (PAP, CHAP-MD5, MS-CHAPv1, MS-CHAPv2,
//! both roles), IPCP with address pools and RFC 1877 DNS/NBNS, CCP with
//! MPPE (through the `mppe` crate, default feature `mppe`), the AAA
//! side, and [`link::Link`], which composes them into one machine per
//! PPP link (both roles, encrypted data path).
//!
//! `#![no_std]`, no allocator, no `unsafe`, no sockets, clocks, threads or
//! randomness: challenges, magic numbers and identifiers are supplied by the
//! host.
//!
//! ## Conventions shared by `pptp-core`, `ppp-core` and `mppe`
//!
//! **Layout.** `wire/` holds zero-copy views over `&[u8]` and `Repr` types
//! with `parse`/`emit`; machines live outside `wire/`.
//!
//! **Time.** [`time::Instant`] and [`time::Duration`] are `u64`
//! milliseconds since an origin the host picks (the same representation as
//! `pptp_core::time`). See [`time`].
//!
//! **Errors.** One `#[non_exhaustive]` enum per layer, `Copy`, carrying what
//! went wrong, `Display` without allocating; `std::error::Error` with the
//! `std` feature.
//!
//! **Machines.** `handle_input(now, bytes)`, `poll_transmit(now, &mut buf)
//! -> Option<Transmit<D>>` (one [`Transmit`] for the three crates, `D`
//! saying where the bytes go), `poll_timeout() -> Option<Instant>`,
//! `handle_timeout(now)`, `poll_event() -> Option<Event>`, driven in a loop
//! until nothing is left to poll (see `pptp_core`'s crate docs).
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

// Ungated: the per-session AAA bookkeeping (`aaa::session`) and the
// verdict bridge serve any AAA transport, and pptp-core's endpoint maps
// its session ends onto Acct-Terminate-Cause without the RADIUS client.
pub mod aaa;
pub mod auth;
#[cfg(feature = "mppe")]
pub mod ccp;
pub mod fsm;
pub mod ipcp;
pub mod keepalive;
pub mod lcp;
pub mod link;
pub mod log_limit;
pub mod time;
pub mod transmit;
pub mod wire;

pub use time::{Duration, Instant};
pub use transmit::Transmit;
