//! The one `Transmit` every machine of the three crates returns.
//!
//! A machine writes its next packet at the start of the caller's buffer
//! and says how many octets it wrote and, in `to`, where they go or what
//! they are. Each machine picks the `D` its host needs to route the bytes,
//! and nothing more:
//!
//! | machine | `D` | meaning |
//! |---|---|---|
//! | `pptp_core::control` (connection, parked) | `()` | the control connection's own TCP stream |
//! | `pptp_core::gre::GreSession` | `()` | the call's GRE flow (an acknowledgment-only packet) |
//! | [`fsm::Fsm`](crate::fsm::Fsm), [`lcp::Lcp`](crate::lcp::Lcp), [`auth`](crate::auth), [`link`](crate::link) | `u16` | the PPP protocol number of the frame (RFC 1661 §2) |
//! | `aaa::radius` (feature `radius`) | `radius::Destination` | server, port (RFC 2865 §3 / RFC 2866 §3) and request |
//! | `aaa::tacacs` (feature `tacacs`) | `tacacs::SessionHandle` | the session on the TCP connection (RFC 8907 §4.1) |
//! | `aaa::tacacs::TacacsPool` (feature `tacacs`) | `tacacs::ConnectionId` | the TCP connection, in the pool's connection table |
//! | `pptp_core::endpoint::Endpoint` | `pptp_core::endpoint::Destination` | a TCP connection or a GRE peer |
//!
//! (quinn-proto has one `Transmit` for its whole crate; here the three
//! crates share it, so a host's send loop reads the same at every layer.)

/// Octets a machine wrote at the start of the caller's buffer, and where
/// they go.
///
/// `D` says where (or what): `()` where the machine has one destination,
/// a PPP protocol number for PPP control frames, a server or session for
/// the AAA clients, a connection or peer for the PPTP endpoint (see the
/// [module docs](self)).
#[must_use = "the bytes are lost unless the host sends them"]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit<D = ()> {
    /// Octets written at the start of the caller's buffer.
    pub len: usize,
    /// Where they go, or what they are.
    pub to: D,
}

impl Transmit {
    /// `len` octets for the machine's one destination.
    pub const fn new(len: usize) -> Self {
        Transmit { len, to: () }
    }
}
