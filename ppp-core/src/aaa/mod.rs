//! AAA clients: RADIUS (feature `radius`) and TACACS+ (feature `tacacs`),
//! both Sans-IO and `no_std` without allocation, and the [`bridge`] between
//! the authenticator's [`crate::auth::AuthRequest`] / [`crate::auth::Verdict`]
//! and their packets.
//!
//! The host owns the sockets (UDP for RADIUS, one TCP connection per
//! TACACS+ session or a shared single-connection), the clock and the
//! random source; the clients turn requests into bytes and bytes into
//! verdicts.
//!
//! ## Wiring with the authenticator
//!
//! 1. The authenticator (plain `handle_packet`, external mode) emits
//!    [`crate::auth::Event::AuthRequest`].
//! 2. The host passes it to [`radius::RadiusClient::start_auth`] (or
//!    [`tacacs::TacacsPool::start_auth`]) with fresh randomness, and
//!    drives the client's `poll_transmit` / `handle_datagram` (or the
//!    pool's `handle_connected` / `handle_input` / `handle_closed`) /
//!    `poll_timeout` / `handle_timeout`.
//! 3. The client's `Event::Verdict` carries a [`crate::auth::Verdict`]:
//!    the host hands it to the authenticator's `verdict`. Accepts carry
//!    the MPPE key material (RADIUS only), the MS-CHAPv2 authenticator
//!    response, and the address/DNS for IPCP; [`bridge::VerdictInfo`]
//!    carries NBNS, timeouts and the encryption policy. A timeout event
//!    becomes `Verdict::reject(FailureReason::Timeout)` (Windows error
//!    718).
//! 4. With [`bridge::MppePolicy::Required`] an accept without MPPE keys
//!    is turned into the PIX's rejection (691, "missing MPPE key from aaa
//!    server", syslog 403110). TACACS+ refuses that policy at
//!    configuration time.
//!
//! Between the answer and the accounting Stop, [`session::Sessions`]
//! keeps what the NAS remembers per session (Acct-Session-Id, Class,
//! Session-Timeout and Idle-Timeout, interim accounting) and builds the
//! accounting records for either client.
//!
//! `tests/radius_freeradius.rs` runs exactly this loop between
//! ppp-core's MS-CHAP peer and authenticator with FreeRADIUS deciding.

pub mod bridge;
#[cfg(feature = "radius")]
pub mod radius;
pub mod session;
#[cfg(feature = "tacacs")]
pub mod tacacs;
