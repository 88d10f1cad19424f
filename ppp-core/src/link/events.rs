//! What the link tells the host: phases, events, end reasons, received and
//! sent frames, errors and counters.

use core::fmt;
use core::ops::Range;

#[cfg(feature = "mppe")]
use super::MppeInfo;
#[cfg(doc)]
use super::{Link, ParkedLink};
#[cfg(feature = "mppe")]
use crate::auth::MsChapV1Keys;
use crate::auth::{self, FailureReason, Method};
use crate::fsm;
use crate::ipcp::IpcpNegotiated;
use crate::lcp::{self, Message};
use crate::wire::Error as WireError;

/// The phases of RFC 1661 §3.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// Nothing running (before [`Link::open`], after the end).
    Dead,
    /// LCP negotiating.
    Establish,
    /// Authentication running.
    Authenticate,
    /// IPCP and CCP; data once they are up.
    Network,
    /// LCP terminating.
    Terminate,
}

/// Why the link ended: LCP's reason, nested whole, or one the link
/// decides above LCP.
///
/// LCP ends the link itself (RFC 1661 §4: Terminate-Request either way,
/// Max-Configure, Echo loss, loopback, lower layer down); those reasons are
/// [`lcp::EndReason`]s, carried in [`EndReason::Lcp`] and never mapped by
/// hand (quinn's `ConnectionError::TransportError(TransportError)`). The
/// other variants are the link's own: authentication, encryption and IPCP
/// decide them and then close LCP administratively.
///
/// Each LCP reason is also an associated constant, so
/// `EndReason::KeepaliveLost` reads (and matches, as a pattern) the same as
/// `EndReason::Lcp(lcp::EndReason::KeepaliveLost)`.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EndReason {
    /// LCP ended the link, for this reason.
    Lcp(lcp::EndReason),
    /// Authentication failed (Windows error 691, or the code given).
    AuthFailed(FailureReason),
    /// We require MPPE and CCP did not deliver it in both directions: the
    /// PIX's "mppe required but not active". Windows shows 742 for this.
    MppeRequiredNotActive,
    /// The peer offered MPPE, we do not do it, and the peer ended the link
    /// before any data (it required encryption): Windows error 742 on its
    /// side. A heuristic: a peer that hangs up for another reason at that
    /// moment is reported the same way.
    EncryptionRefused,
    /// Server: no address for the peer (pool exhausted); Windows error 720.
    NoAddress,
    /// IPCP could not open (timeout, rejected, or Protocol-Rejected).
    IpcpFailed,
}

// The LCP reasons under the names hosts match on: constants of a
// `PartialEq + Eq` enum work as patterns. CamelCase because they stand for
// variants.
#[allow(non_upper_case_globals)]
impl EndReason {
    /// The host closed the link ([`Link::close`]).
    pub const AdminClose: Self = Self::Lcp(lcp::EndReason::AdminClose);
    /// The peer sent Terminate-Request.
    pub const PeerTerminated: Self = Self::Lcp(lcp::EndReason::PeerTerminated);
    /// The authentication lists do not meet (Windows error 732).
    pub const NoCommonAuth: Self = Self::Lcp(lcp::EndReason::NoCommonAuth);
    /// Echo-Requests went unanswered.
    pub const KeepaliveLost: Self = Self::Lcp(lcp::EndReason::KeepaliveLost);
    /// The link is looped back.
    pub const Loopback: Self = Self::Lcp(lcp::EndReason::Loopback);
    /// LCP Configure-Requests went unanswered (Windows error 718).
    pub const NegotiationTimeout: Self = Self::Lcp(lcp::EndReason::NegotiationTimeout);
    /// The peer rejected LCP.
    pub const PeerRejectedLcp: Self = Self::Lcp(lcp::EndReason::PeerRejectedLcp);
    /// The lower layer (PPTP call) went down.
    pub const LowerLayerDown: Self = Self::Lcp(lcp::EndReason::LowerLayerDown);
}

impl EndReason {
    /// The Windows RAS error number a user knows for this reason.
    pub fn windows_error(self) -> Option<u32> {
        match self {
            EndReason::Lcp(r) => r.windows_error(),
            EndReason::AuthFailed(r) => Some(r.windows_error()),
            EndReason::MppeRequiredNotActive | EndReason::EncryptionRefused => Some(742),
            EndReason::NoAddress | EndReason::IpcpFailed => Some(720),
        }
    }

    /// A short description (also the Terminate-Request data we send).
    pub fn description(self) -> &'static str {
        match self {
            EndReason::Lcp(r) => r.description(),
            EndReason::AuthFailed(_) => "authentication failed",
            EndReason::MppeRequiredNotActive => "mppe required but not active",
            EndReason::EncryptionRefused => "peer requires encryption we do not provide",
            EndReason::NoAddress => "no IP address available for the peer",
            EndReason::IpcpFailed => "IPCP negotiation failed",
        }
    }

    /// The reason LCP records when the link closes it: LCP's own, or an
    /// administrative close for a reason decided above LCP (the
    /// Terminate-Request still carries this reason's description).
    pub(super) fn lcp_reason(self) -> lcp::EndReason {
        match self {
            EndReason::Lcp(r) => r,
            _ => lcp::EndReason::AdminClose,
        }
    }
}

impl From<lcp::EndReason> for EndReason {
    fn from(r: lcp::EndReason) -> Self {
        EndReason::Lcp(r)
    }
}

impl fmt::Display for EndReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.windows_error() {
            Some(code) => write!(f, "error {code}: {}", self.description()),
            None => f.write_str(self.description()),
        }
    }
}

/// What the link tells the host.
// No allocator: variants are stored inline, by design.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LinkEvent {
    /// The phase changed.
    Phase(Phase),
    /// The peer identified itself (LCP code 12; Windows: "MSRASV5.00",
    /// `MSRAS-1-<host>`).
    Identification(Message),
    /// Server, external AAA: take the request with
    /// [`Link::take_auth_request`], decide, and call [`Link::verdict`].
    /// (The request is kept in the link, not in the event, so that every
    /// queued event stays small.)
    AuthRequest,
    /// Server: the peer changed its expired password (MS-CHAPv2
    /// Change-Password verified by the local store): take it with
    /// [`Link::take_password_change`] and store the new hash.
    /// [`LinkEvent::Authenticated`] follows.
    PasswordChanged,
    /// Server: the authenticator needs a fresh challenge; call
    /// [`Link::feed_challenge`].
    ChallengeNeeded,
    /// Authentication succeeded (server: the peer proved itself; client:
    /// we were accepted).
    /// The user name (as the peer sent it / as we sent it) is
    /// [`Link::username`].
    Authenticated {
        /// The method.
        method: Method,
        /// AAA attributes (address, DNS) from an external Accept.
        attributes: auth::Attributes,
        /// Server: which form of [`Link::username`] found the local
        /// store's entry (the entry is `name_match.entry(username)`);
        /// [`auth::NameMatch::AsSent`] for external AAA and clients.
        name_match: auth::NameMatch,
    },
    /// A re-authentication in the Network phase succeeded (RFC 1994 §3):
    /// server, the peer proved itself again ([`Link::reauthenticate`] or
    /// a periodic re-challenge); client, the authenticator accepted our
    /// new Response. The link, its MPPE keys and its data path go on
    /// unchanged.
    Reauthenticated {
        /// The method.
        method: Method,
    },
    /// Authentication failed; the link ends ([`LinkEvent::Down`] follows).
    /// The user name, if known, is [`Link::username`].
    AuthFailed {
        /// The method.
        method: Method,
        /// Why (see [`FailureReason::windows_error`]).
        reason: FailureReason,
    },
    /// Server: give the peer an address with [`Link::assign_peer_address`]
    /// (from the host's pool; `None` when exhausted).
    AddressNeeded,
    /// IPCP is Opened.
    IpcpUp(IpcpNegotiated),
    /// IPCP left Opened.
    IpcpDown,
    /// CCP settled: MPPE per direction, or `None` (no encryption).
    #[cfg(feature = "mppe")]
    CcpUp(Option<MppeInfo>),
    /// MS-CHAPv1 with 40/56-bit MPPE on [`MsChapV1Keys::Auto`]: the
    /// start key the peer uses, decided from its first MPPE packets
    /// (once per CCP negotiation).
    #[cfg(feature = "mppe")]
    MsChapV1KeysDecided {
        /// [`MsChapV1Keys::Lm`] or [`MsChapV1Keys::Nt`].
        keys: MsChapV1Keys,
        /// Whether a packet decrypted under them; `false`: no packet did
        /// in [`super::MAX_TRIAL_PACKETS`] and the link fell back to the
        /// NT-based key.
        proven: bool,
        /// MPPE packets tried under both keys (the deciding one included;
        /// at most [`super::MAX_TRIAL_PACKETS`]).
        packets: u8,
    },
    /// IP packets may now be sent and are accepted ([`Link::send_ip`]).
    DataReady,
    /// The peer Protocol-Rejected `protocol`.
    ProtocolRejected(u16),
    /// The link ended; the last event.
    Down(EndReason),
}

/// An IP packet delivered in place by [`Link::handle_frame`].
#[must_use = "the packet is lost unless the host delivers it"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Delivered {
    /// Offset of the IPv4 packet in the frame buffer.
    pub start: usize,
    /// Its length.
    pub len: usize,
}

impl Delivered {
    /// The packet's range in the frame buffer.
    pub fn range(&self) -> Range<usize> {
        self.start..self.start + self.len
    }
}

/// Why a received frame was dropped.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The link is Dead (not opened, or ended).
    Dead,
    /// The PPP header is malformed (address/control, protocol field).
    Frame(WireError),
    /// A control packet was invalid or stale.
    Control {
        /// Its protocol.
        protocol: u16,
        /// What was wrong.
        error: fsm::Error,
    },
    /// A CHAP Response that does not answer the outstanding Challenge
    /// (RFC 1994 §4.1: its Identifier must be the Challenge's), such as
    /// one to the Challenge before a re-authentication, or a repeat while
    /// the verdict is pending: ignored, counted in
    /// [`Counters::dropped_control`]. A genuine peer's late frame, not
    /// garbage.
    StaleResponse {
        /// The Response's Identifier.
        identifier: u8,
    },
    /// A known protocol arrived in a phase that does not take it
    /// (RFC 1661 §3: silently discarded).
    WrongPhase {
        /// The protocol.
        protocol: u16,
    },
    /// An unsupported protocol; Protocol-Reject sent when LCP is Opened.
    ProtocolRejected {
        /// The protocol.
        protocol: u16,
    },
    /// Plaintext IPv4 while MPPE is active or required.
    PlaintextRefused,
    /// IPv4 before IPCP is Opened.
    NotReady,
    /// An MPPE frame (0x00FD) while MPPE is not active.
    MppeNotActive,
    /// MPPE could not decrypt the frame.
    #[cfg(feature = "mppe")]
    Decrypt(mppe::DecryptError),
    /// Decrypted, but the inner protocol is not IPv4.
    InnerProtocol {
        /// The inner protocol.
        protocol: u16,
    },
    /// [`ParkedLink::handle_frame`]: this frame needs the full link
    /// (renegotiation, termination, a reject, a malformed frame...). The
    /// frame is untouched: rebuild the link with [`Link::unpark`] and give
    /// it the same frame.
    NeedsLink,
}

impl Error {
    /// Whether the frame made no sense: malformed, an invalid control
    /// packet, or MPPE that did not decrypt to a valid packet. (An unknown
    /// protocol is not: pppd sends IPv6CP to every peer, and gets its
    /// Protocol-Reject.) A forged frame looks like this; the GRE layer below
    /// does not move its sequence state for one (`pptp_core`'s
    /// `GreSession::reject`). The other errors (wrong phase, plaintext
    /// refused, waiting for a flushed packet...) are a genuine peer's
    /// frames arriving at a bad time.
    pub fn is_garbage(&self) -> bool {
        match self {
            // A reply whose Identifier is not the outstanding request's
            // is a genuine peer's late frame (RFC 1661 §5.2: silently
            // discarded), such as the Configure-Ack to an IPCP request
            // sent again when CCP opened: well formed, not garbage.
            Error::Control {
                error: crate::fsm::Error::StaleReply { .. },
                ..
            } => false,
            Error::Frame(_) | Error::Control { .. } | Error::InnerProtocol { .. } => true,
            // A coherency count behind the last accepted one (or equal to
            // it) on a frame new to the GRE layer below cannot come from
            // the peer: both numbers grow together (RFC 3078 §3, RFC 2637
            // §4.3), so it is a forgery or a replay.
            #[cfg(feature = "mppe")]
            Error::Decrypt(
                mppe::DecryptError::Header(_)
                | mppe::DecryptError::Unproven { .. }
                | mppe::DecryptError::RekeyLimit { .. }
                | mppe::DecryptError::Late { .. }
                | mppe::DecryptError::Duplicate { .. },
            ) => true,
            _ => false,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Dead => f.write_str("link is dead"),
            Error::Frame(e) => write!(f, "bad PPP frame: {e}"),
            Error::Control { protocol, error } => {
                write!(
                    f,
                    "control packet of protocol {protocol:#06x} dropped: {error}"
                )
            }
            Error::StaleResponse { identifier } => {
                write!(
                    f,
                    "CHAP Response with stale identifier {identifier} ignored"
                )
            }
            Error::WrongPhase { protocol } => {
                write!(f, "protocol {protocol:#06x} not accepted in this phase")
            }
            Error::ProtocolRejected { protocol } => {
                write!(f, "unsupported protocol {protocol:#06x} rejected")
            }
            Error::PlaintextRefused => f.write_str("plaintext IP refused: MPPE active or required"),
            Error::NotReady => f.write_str("IP packet before IPCP is up"),
            Error::MppeNotActive => f.write_str("MPPE frame while MPPE is not active"),
            #[cfg(feature = "mppe")]
            Error::Decrypt(e) => write!(f, "MPPE: {e}"),
            Error::InnerProtocol { protocol } => {
                write!(f, "encrypted protocol {protocol:#06x} not supported")
            }
            Error::NeedsLink => f.write_str("frame needs the full link (unpark it)"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Why [`Link::send_ip`] did not send.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// IPCP is not Opened, or CCP has not settled (MPPE pending or
    /// required).
    NotReady,
    /// The packet exceeds the peer's MRU (minus MPPE overhead).
    TooLong {
        /// The packet's length.
        len: usize,
        /// The largest allowed.
        max: usize,
    },
    /// The output buffer (or headroom) is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// An empty IP packet.
    Empty,
    /// MPPE refused the packet.
    #[cfg(feature = "mppe")]
    Encrypt(mppe::EncryptError),
    /// MS-CHAPv1 [`MsChapV1Keys::Auto`]: the peer has not yet sent the
    /// packet that shows which start key it uses; nothing is sent before.
    #[cfg(feature = "mppe")]
    KeysUndecided,
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SendError::NotReady => f.write_str("link not ready for IP"),
            SendError::TooLong { len, max } => write!(f, "packet of {len} octets over {max}"),
            SendError::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "buffer too small: {needed} needed, {available} available"
                )
            }
            SendError::Empty => f.write_str("empty packet"),
            #[cfg(feature = "mppe")]
            SendError::Encrypt(e) => write!(f, "MPPE: {e}"),
            #[cfg(feature = "mppe")]
            SendError::KeysUndecided => {
                f.write_str("MS-CHAPv1 MPPE key not decided yet: waiting for the peer's packet")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}

/// Link counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Counters {
    /// Frames given to [`Link::handle_frame`].
    pub frames_in: u64,
    /// Their octets.
    pub octets_in: u64,
    /// Frames written by [`Link::poll_transmit`] and the send methods.
    pub frames_out: u64,
    /// Their octets.
    pub octets_out: u64,
    /// IP packets delivered.
    pub ip_in: u64,
    /// IP packets sent.
    pub ip_out: u64,
    /// Frames dropped with a malformed PPP header.
    pub dropped_malformed: u64,
    /// Control packets dropped (malformed, stale).
    pub dropped_control: u64,
    /// Frames dropped as out of phase or not ready.
    pub dropped_phase: u64,
    /// Frames of unsupported protocols (Protocol-Rejected).
    pub dropped_unsupported: u64,
    /// Plaintext IP refused.
    pub dropped_plaintext: u64,
    /// MPPE frames dropped (not active, undecryptable, bad inner protocol).
    pub dropped_mppe: u64,
    /// Frames dropped because the link is dead.
    pub dropped_dead: u64,
    /// CCP Reset-Requests sent.
    pub reset_requests_sent: u64,
    /// CCP Reset-Requests received.
    pub reset_requests_received: u64,
}

impl Counters {
    /// Every drop counter summed (each dropped frame counts once).
    pub fn dropped(&self) -> u64 {
        self.dropped_malformed
            + self.dropped_control
            + self.dropped_phase
            + self.dropped_unsupported
            + self.dropped_plaintext
            + self.dropped_mppe
            + self.dropped_dead
    }
}
