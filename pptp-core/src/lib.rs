//! # pptp-core: the PPTP tunnel layer as Sans-IO machines
//!
//! RFC 2637's control channel (all 15 control messages, both roles, many
//! calls per tunnel, keepalive, teardown) and enhanced GRE (sequence
//! numbers, acknowledgements, receive window, reordering, ack timeout).
//! Everything between "TCP port 1723 is connected" and "here is a PPP frame
//! for call N".
//!
//! `#![no_std]`, no allocator, no `unsafe`, no sockets, clocks, threads or
//! randomness: bytes come in, bytes go out into caller buffers, time enters
//! as a value, timers leave as "call me at T", and identifiers that must be
//! unpredictable are supplied by the host.
//!
//! ## Conventions shared by `pptp-core`, `ppp-core` and `mppe`
//!
//! **Layout.** `wire/` holds zero-copy views over `&[u8]` (checked once by
//! `new_checked`, then infallible getters) and `Repr` types with
//! `parse`/`emit`; state machines live outside `wire/` and only use the
//! reprs.
//!
//! **Time.** [`time::Instant`] and [`time::Duration`] are `u64`
//! milliseconds since an origin the host picks. They are defined once, in
//! `ppp_core::time`, and re-exported here: the same value drives every
//! machine of the three crates, with no conversion. See [`time`].
//!
//! **Errors.** One `#[non_exhaustive]` enum per layer, `Copy`, carrying what
//! went wrong (which field, which length) and implementing `Display`
//! without allocating; `std::error::Error` with the `std` feature.
//!
//! **Machines.** Every state machine is driven the same way, in a loop the
//! host runs until nothing is left to poll:
//!
//! ```text
//! machine.handle_input(now, bytes)?;            // bytes from the peer
//! while let Some(t) = machine.poll_transmit(now, &mut buf) { send(&buf[..t.len]) }
//! while let Some(ev) = machine.poll_event() { react(ev) }
//! if let Some(at) = machine.poll_timeout() { arm_timer(at) }
//! // ... when the timer fires:
//! machine.handle_timeout(now);
//! ```
//!
//! `poll_transmit` never writes past the caller's buffer; a buffer too
//! small for the next message leaves that message queued and is reported.
//!
//! **Roles.** RFC 2637 names the two ends PAC (access concentrator) and PNS
//! (network server). In the dial-in VPNs this crate serves, the *client*
//! (Windows, pptp-linux) places calls and the *server* (the PIX, pptpd,
//! RRAS) answers them, so the API calls them [`Role::Client`] and
//! [`Role::Server`]. The RFC mapping is written down once, on [`Role`].
#![no_std]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(feature = "std")]
extern crate std;

pub mod control;
#[cfg(feature = "endpoint")]
pub mod endpoint;
pub mod gre;
/// The time type shared by the three crates (defined once, in `ppp-core`):
/// a host passes the same [`Instant`] to PPTP, GRE, PPP and MPPE machines.
pub use ppp_core::time;
/// The one `Transmit` of the three crates (defined in `ppp-core`): every
/// machine's `poll_transmit` returns it, `D` saying where the bytes go.
pub use ppp_core::transmit;
pub mod wire;

pub use time::{Duration, Instant};
pub use transmit::Transmit;

/// Which end of a PPTP control connection this machine plays.
///
/// RFC 2637 §1.2 defines the PAC (PPTP Access Concentrator, the end
/// attached to the dial-up lines) and the PNS (PPTP Network Server). The
/// message directions the RFC gives are: the PNS sends
/// Outgoing-Call-Request and Set-Link-Info, the PAC sends
/// Incoming-Call-Request and WAN-Error-Notify; either may start the
/// control connection.
///
/// In the dial-in VPNs deployed in practice (Windows or pptp-linux
/// connecting to a PIX, pptpd or RRAS) the *client* sends
/// Start-Control-Connection-Request, Outgoing-Call-Request and
/// Set-Link-Info, so on the wire the client acts as the RFC's **PNS** and
/// the server as the RFC's **PAC** (the origin document's PIX guide uses
/// the opposite words; the bytes are what matter).
///
/// This is the PPTP role only. The PPP role (who authenticates whom, who
/// assigns addresses) is `ppp_core::link::Role`: a different question,
/// though over PPTP the server is PPP's `Server` too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// Places calls: sends SCCRQ, Outgoing-Call-Request and Set-Link-Info
    /// (RFC 2637's PNS). Also answers Incoming-Call-Requests.
    Client,
    /// Answers calls: replies to SCCRQ and Outgoing-Call-Request (RFC
    /// 2637's PAC). Also places Incoming-Call-Requests and sends
    /// WAN-Error-Notify.
    Server,
}
