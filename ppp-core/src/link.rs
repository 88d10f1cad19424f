//! The PPP link: LCP, authentication, IPCP and CCP/MPPE composed into one
//! Sans-IO machine per PPTP call (or serial line), both roles.
//!
//! # Phases (RFC 1661 §3.2)
//!
//! `Dead → Establish → Authenticate → Network → Terminate → Dead`.
//! [`Link::open`] starts LCP (the lower layer, the PPTP call, is up when
//! the host calls it). When LCP opens, each direction that LCP agreed to
//! authenticate runs: the server is the authenticator
//! ([`crate::auth::Authenticator`]), the client the peer
//! ([`crate::auth::Peer`]). After success, IPCP and CCP negotiate together
//! (RFC 1661 §3.4). IP packets flow once IPCP is Opened and CCP has
//! settled: encrypted with MPPE when CCP agreed on it, in plaintext only
//! when the MPPE policy is not `required`.
//!
//! # Host loop
//!
//! ```text
//! link.open(now);
//! loop {
//!     // a GRE payload (one PPP frame) arrived:
//!     match link.handle_frame(now, &mut frame) {       // decrypts in place
//!         Ok(Some(d)) => tun.write(&frame[d.range()]),  // an IP packet
//!         Ok(None) => {}                                // control traffic
//!         Err(e) => log(e),                             // dropped, counted
//!     }
//!     // an IP packet from the tun device:
//!     if let Ok(n) = link.send_ip(now, &ip, &mut out) { gre.send(&out[..n]) }
//!     while let Some(t) = link.poll_transmit(now, &mut out) { gre.send(&out[..t.len]) }
//!     while let Some(ev) = link.poll_event() {
//!         match ev {
//!             LinkEvent::AuthRequest => {                    // external AAA
//!                 let req = link.take_auth_request().unwrap();
//!                 radius.send(req)  // later: link.verdict(now, verdict)
//!             }
//!             LinkEvent::AddressNeeded => link.assign_peer_address(now, pool.allocate().ok()),
//!             LinkEvent::ChallengeNeeded => link.feed_challenge(now, &random16()),
//!             LinkEvent::Down(reason) => { pool.release(..); break }    // final
//!             _ => {}
//!         }
//!     }
//!     sleep_until(link.poll_timeout()); link.handle_timeout(now);
//! }
//! ```
//!
//! # Example: a server and a client in one process
//!
//! ```
//! use core::net::Ipv4Addr;
//! use ppp_core::auth::{CredentialStore, DomainRule};
//! use ppp_core::ipcp::AddressPool;
//! use ppp_core::link::{Credentials, Entropy, Link, LinkConfig, LinkEvent};
//! use ppp_core::time::Instant;
//!
//! // The PIX's `vpdn username cisco password cisco` and
//! // `ip local pool pptp-pool 172.16.1.1-172.16.1.50`.
//! let mut users: CredentialStore<4> = CredentialStore::new(DomainRule::default());
//! users.insert_password(b"cisco", b"cisco").unwrap();
//! let mut pool: AddressPool<1> =
//!     AddressPool::new(Ipv4Addr::new(172, 16, 1, 1), Ipv4Addr::new(172, 16, 1, 50)).unwrap();
//!
//! // Randomness comes from the host (here fixed for the example).
//! let server_config = LinkConfig::server(Ipv4Addr::new(99, 99, 99, 2), [None, None]);
//! let mut server = Link::new(server_config, Entropy { magic: 0x1234, challenge: [7; 16] });
//! let client_config = LinkConfig::client(Credentials::password(b"cisco", b"cisco").unwrap());
//! let mut client = Link::new(client_config, Entropy { magic: 0x5678, challenge: [9; 16] });
//!
//! let now = Instant::ZERO;
//! server.open(now);
//! client.open(now);
//! let mut buf = [0u8; 1600];
//! while !(server.is_data_ready() && client.is_data_ready()) {
//!     // In a real host these frames travel in GRE packets.
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         let _ = client.handle_frame(now, &mut buf[..t.len]);
//!     }
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         let _ = server.handle_frame_with(now, &mut buf[..t.len], &users);
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if event == LinkEvent::AddressNeeded {
//!             server.assign_peer_address(now, pool.allocate().ok());
//!         }
//!     }
//!     while client.poll_event().is_some() {}
//! }
//! assert_eq!(client.ipcp_negotiated().local_address, Some(Ipv4Addr::new(172, 16, 1, 1)));
//! # #[cfg(feature = "mppe")]
//! assert!(client.mppe_info().is_some(), "MPPE-128 stateless by default");
//!
//! // An IP packet from the client's tun device to the server's.
//! let ip = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 172, 16, 1, 1, 99, 99, 99, 2];
//! let n = client.send_ip(now, &ip, &mut buf).unwrap();
//! let delivered = server.handle_frame(now, &mut buf[..n]).unwrap().unwrap();
//! assert_eq!(&buf[delivered.range()], &ip);
//! ```
//!
//! Local authentication: [`Link::handle_frame_with`] decides with a
//! [`Verifier`] such as a [`crate::auth::CredentialStore`] at once; with
//! plain [`Link::handle_frame`] the server emits [`LinkEvent::AuthRequest`]
//! and waits for [`Link::verdict`] (RADIUS, TACACS+), without blocking.
//!
//! # What is negotiated and what is refused
//!
//! - Network protocols other than IPv4 (IPCP 8021) and CCP (80fd),
//!   including IPv6CP (8057), IPX and AppleTalk, get an LCP
//!   Protocol-Reject (RFC 1661 §5.7). **IPv6CP is not supported.**
//! - Protocol 0x00FD (MPPE) is accepted only while MPPE is active;
//!   plaintext IPv4 (0x0021) is refused while MPPE is active or required.
//! - Server without an address for the peer: when the host answers
//!   [`LinkEvent::AddressNeeded`] with `None` (pool exhausted) the link
//!   ends with [`EndReason::NoAddress`] (Windows error 720, no PPP control
//!   protocols could be configured), before IPCP starts.
//! - MS-CHAP retries: the server presets allow none
//!   ([`AuthenticatorConfig::max_retries`] 0, so both ends report 691 at
//!   once); raise it to let clients retry. A client link ends on the first
//!   failure unless [`LinkConfig::auth_retry`] is set, in which case the
//!   host answers "E=691 R=1" with [`Link::retry_auth`].
//!
//! # Framing
//!
//! [`Link::handle_frame`] takes one whole PPP frame (address/control and
//! protocol fields, as carried in enhanced GRE: RFC 2637 §4.1), accepting
//! the compressed forms LCP agreed. [`Link::poll_transmit`] and
//! [`Link::send_ip`] write whole frames, compressed as the peer agreed
//! (LCP itself is never compressed, RFC 1661 §6.5-6.6).

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Range;

use heapless::Deque;

use crate::auth::{
    self, AuthRequest, Authenticator, AuthenticatorConfig, FailureReason, Method, Name, Peer,
    PeerConfig, Secret, SetupError, Verdict, Verifier,
};
#[cfg(feature = "mppe")]
use crate::ccp::{CcpOptions, RESET_REQUEST};
use crate::fsm::{self, Fsm, LayerEvent, State};
use crate::ipcp::{IpcpConfig, IpcpNegotiated, IpcpOptions, Role as IpcpRole};
use crate::lcp::{self, Lcp, LcpConfig, LcpEvent, Message};
#[cfg(feature = "mppe")]
use crate::time::Duration;
use crate::time::Instant;

/// Whether the first octets of a decrypted MPPE payload are the IPv4
/// protocol field, compressed (RFC 1661 §6.5) or not.
#[cfg(feature = "mppe")]
fn is_ipv4_protocol(head: &[u8]) -> bool {
    matches!(head, [0x21, ..] | [0x00, 0x21])
}

/// How often a CCP Reset-Request is repeated while the stateful MPPE
/// decrypter still discards packets (pppd's reset-ack timeout is 1 s).
#[cfg(feature = "mppe")]
const RESET_REQUEST_REPEAT: Duration = Duration::from_secs(1);
use crate::wire::frame::{self, protocol, Frame};

pub mod parked;
#[cfg(feature = "mppe")]
use crate::wire::packet::Code;
use crate::wire::Error as WireError;
pub use parked::ParkedLink;

#[cfg(feature = "mppe")]
pub use mppe::{
    KeyStrength, Mode as MppeMode, ModePreference, PixEncryption, Policy as MppePolicy, Strengths,
};

/// Octets [`Link::send_ip_in_place`] needs in front of the IP packet: the
/// PPP header (at most 4), the MPPE header (2) and the inner protocol (2).
pub const HEADROOM: usize = frame::MAX_HEADER_LEN + 4;
/// Events that can wait in the link's queue (the oldest is dropped when
/// full; the final [`LinkEvent::Down`] is always kept).
pub const EVENT_DEPTH: usize = 8;

/// Which end of the link this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Role {
    /// The dial-in server (PNS side, the PIX): authenticates the peer,
    /// assigns its address.
    Server,
    /// The client (PAC side, Windows): authenticates itself, takes an
    /// address.
    Client,
}

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

/// The client's identity.
#[derive(Clone, Debug)]
pub struct Credentials {
    /// User name sent (PAP Peer-ID, CHAP Name).
    pub username: Name,
    /// Password or NT hash (wiped on drop).
    pub secret: Secret,
}

impl Credentials {
    /// Credentials from a user name and a cleartext password.
    pub fn password(
        username: &[u8],
        password: &[u8],
    ) -> Result<Self, auth::credentials::CredentialError> {
        let mut name = Name::new();
        name.extend_from_slice(username).map_err(|_| {
            auth::credentials::CredentialError::BadNameLength {
                length: username.len(),
            }
        })?;
        Ok(Credentials {
            username: name,
            secret: Secret::password(password)?,
        })
    }
}

/// Link settings.
#[derive(Clone, Debug)]
pub struct LinkConfig {
    /// Server or client.
    pub role: Role,
    /// LCP settings, including the authentication lists: the server asks
    /// for [`LcpConfig::auth_required`] in order, the client accepts
    /// [`LcpConfig::auth_allowed`].
    pub lcp: LcpConfig,
    /// Server: the authenticator's timers, name, retries.
    pub authenticator: AuthenticatorConfig,
    /// Client: the peer's timers.
    pub peer: PeerConfig,
    /// Client: who we are. Without it the client refuses to authenticate.
    pub credentials: Option<Credentials>,
    /// Client: on an MS-CHAP Failure that allows a retry ("E=691 R=1"),
    /// keep the link and let the host answer with [`Link::retry_auth`]
    /// (Windows asks the user again). `false`: end at once with 691.
    pub auth_retry: bool,
    /// IPCP settings.
    pub ipcp: IpcpConfig,
    /// Restart timer and counters of IPCP and CCP.
    pub ncp: fsm::Config,
    /// MPPE policy (CCP): `mppe 40|128|auto [required]`, 56-bit,
    /// stateless/stateful.
    #[cfg(feature = "mppe")]
    pub mppe: mppe::Policy,
}

impl LinkConfig {
    /// A server offering MS-CHAPv2 then MS-CHAPv1, MPPE 40/128 stateless
    /// (`mppe auto`, not required), our address `local`, DNS `dns`.
    pub fn server(local: Ipv4Addr, dns: [Option<Ipv4Addr>; 2]) -> Self {
        let lcp = LcpConfig::default().with_auth_required(&[Method::MsChapV2, Method::MsChapV1]);
        let authenticator = AuthenticatorConfig {
            max_retries: 0,
            ..AuthenticatorConfig::default()
        };
        LinkConfig {
            role: Role::Server,
            lcp,
            authenticator,
            peer: PeerConfig::default(),
            credentials: None,
            auth_retry: false,
            ipcp: IpcpConfig::server(local, dns),
            ncp: fsm::Config::default(),
            #[cfg(feature = "mppe")]
            mppe: mppe::Policy::pix(mppe::PixEncryption::Auto, false),
        }
    }

    /// The PIX 6.3 dial-in server of the origin document: MS-CHAPv1 only,
    /// the client's ACCM rejected ([`LcpConfig::pix_server`]), our address
    /// `local`, no DNS/NBNS (rejected, as in trace 1), and the PIX's
    /// `vpdn group N ppp encryption mppe 40|128|auto [required]` knob
    /// (`None`: no `mppe` line, CCP answered as in trace 1).
    #[cfg(feature = "mppe")]
    pub fn pix_server(local: Ipv4Addr, encryption: Option<(mppe::PixEncryption, bool)>) -> Self {
        let mut config = LinkConfig::server(local, [None, None]);
        config.lcp = LcpConfig::pix_server();
        config.mppe = match encryption {
            Some((strength, required)) => mppe::Policy::pix(strength, required),
            None => mppe::Policy::disabled(),
        };
        config
    }

    /// A client allowing MS-CHAPv2, MS-CHAPv1, CHAP-MD5 and PAP (in that
    /// order of preference), asking for an address and DNS, accepting
    /// MPPE 40/56/128 stateless (not required).
    pub fn client(credentials: Credentials) -> Self {
        let lcp = LcpConfig::default().with_auth_allowed(&[
            Method::MsChapV2,
            Method::MsChapV1,
            Method::ChapMd5,
            Method::Pap,
        ]);
        LinkConfig {
            role: Role::Client,
            lcp,
            authenticator: AuthenticatorConfig::default(),
            peer: PeerConfig::default(),
            credentials: Some(credentials),
            auth_retry: false,
            ipcp: IpcpConfig::client(),
            ncp: fsm::Config::default(),
            #[cfg(feature = "mppe")]
            mppe: mppe::Policy {
                strengths: mppe::Strengths::ALL,
                ..mppe::Policy::disabled()
            },
        }
    }
}

/// Host randomness the link needs (Sans-IO: the crate has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Entropy {
    /// LCP Magic-Number (RFC 1661 §6.4).
    pub magic: u32,
    /// Server: the CHAP challenge (first 8 octets for MS-CHAPv1, all 16
    /// for MS-CHAPv2 and CHAP-MD5). Client: the MS-CHAPv2 Peer-Challenge.
    pub challenge: [u8; 16],
}

/// Why the link ended.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EndReason {
    /// The host closed the link ([`Link::close`]).
    AdminClose,
    /// The peer sent Terminate-Request.
    PeerTerminated,
    /// The authentication lists do not meet (Windows error 732).
    NoCommonAuth,
    /// Authentication failed (Windows error 691, or the code given).
    AuthFailed(FailureReason),
    /// Echo-Requests went unanswered.
    KeepaliveLost,
    /// The link is looped back.
    Loopback,
    /// LCP Configure-Requests went unanswered.
    NegotiationTimeout,
    /// The peer rejected LCP.
    PeerRejectedLcp,
    /// The lower layer (PPTP call) went down.
    LowerLayerDown,
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

impl EndReason {
    /// The Windows RAS error number a user knows for this reason.
    pub fn windows_error(self) -> Option<u32> {
        match self {
            EndReason::NoCommonAuth => Some(732),
            EndReason::AuthFailed(r) => Some(r.windows_error()),
            EndReason::MppeRequiredNotActive | EndReason::EncryptionRefused => Some(742),
            EndReason::NoAddress | EndReason::IpcpFailed => Some(720),
            EndReason::NegotiationTimeout => Some(718),
            _ => None,
        }
    }

    /// A short description (also the Terminate-Request data we send).
    pub fn description(self) -> &'static str {
        match self {
            EndReason::AdminClose => "administrative close",
            EndReason::PeerTerminated => "peer terminated the link",
            EndReason::NoCommonAuth => "could not agree on PPP control protocols",
            EndReason::AuthFailed(_) => "authentication failed",
            EndReason::KeepaliveLost => "peer not responding to echo requests",
            EndReason::Loopback => "link is looped back",
            EndReason::NegotiationTimeout => "LCP negotiation timed out",
            EndReason::PeerRejectedLcp => "peer rejected LCP",
            EndReason::LowerLayerDown => "lower layer down",
            EndReason::MppeRequiredNotActive => "mppe required but not active",
            EndReason::EncryptionRefused => "peer requires encryption we do not provide",
            EndReason::NoAddress => "no IP address available for the peer",
            EndReason::IpcpFailed => "IPCP negotiation failed",
        }
    }

    fn lcp_reason(self) -> lcp::EndReason {
        match self {
            EndReason::PeerTerminated => lcp::EndReason::PeerTerminated,
            EndReason::NoCommonAuth => lcp::EndReason::NoCommonAuth,
            EndReason::KeepaliveLost => lcp::EndReason::KeepaliveLost,
            EndReason::Loopback => lcp::EndReason::Loopback,
            EndReason::NegotiationTimeout => lcp::EndReason::NegotiationTimeout,
            EndReason::PeerRejectedLcp => lcp::EndReason::PeerRejectedLcp,
            EndReason::LowerLayerDown => lcp::EndReason::LowerLayerDown,
            _ => lcp::EndReason::AdminClose,
        }
    }
}

impl From<lcp::EndReason> for EndReason {
    fn from(r: lcp::EndReason) -> Self {
        match r {
            lcp::EndReason::AdminClose => EndReason::AdminClose,
            lcp::EndReason::PeerTerminated => EndReason::PeerTerminated,
            lcp::EndReason::NoCommonAuth => EndReason::NoCommonAuth,
            lcp::EndReason::KeepaliveLost => EndReason::KeepaliveLost,
            lcp::EndReason::Loopback => EndReason::Loopback,
            lcp::EndReason::NegotiationTimeout => EndReason::NegotiationTimeout,
            lcp::EndReason::PeerRejectedLcp => EndReason::PeerRejectedLcp,
            lcp::EndReason::LowerLayerDown => EndReason::LowerLayerDown,
        }
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

/// MPPE as agreed, per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[cfg(feature = "mppe")]
pub struct MppeInfo {
    /// What we send.
    pub send: mppe::Config,
    /// What we receive.
    pub receive: mppe::Config,
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
    /// IP packets may now be sent and are accepted ([`Link::send_ip`]).
    DataReady,
    /// The peer Protocol-Rejected `protocol`.
    ProtocolRejected(u16),
    /// The link ended; the last event.
    Down(EndReason),
}

/// A frame [`Link::poll_transmit`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    /// Octets at the start of the caller's buffer.
    pub len: usize,
    /// The PPP protocol of the frame.
    pub protocol: u16,
}

/// An IP packet delivered in place by [`Link::handle_frame`].
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

#[cfg(feature = "mppe")]
impl MppeInfo {
    fn of<C: mppe::rc4::Keystream>(m: &mppe::session::Mppe<C>) -> Self {
        MppeInfo {
            send: *m.encrypter.config(),
            receive: *m.decrypter.config(),
        }
    }
}

#[cfg(feature = "mppe")]
impl MppeStats {
    fn of<C: mppe::rc4::Keystream>(m: &mppe::session::Mppe<C>) -> Self {
        MppeStats {
            send: *m.encrypter.stats(),
            receive: *m.decrypter.stats(),
        }
    }
}

/// Per-direction MPPE counters.
#[cfg(feature = "mppe")]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MppeStats {
    /// The encrypter's counters.
    pub send: mppe::EncrypterStats,
    /// The decrypter's counters.
    pub receive: mppe::DecrypterStats,
}

/// The PPP link machine. See the [module docs](self).
pub struct Link {
    role: Role,
    phase: Phase,
    config_auth: AuthenticatorConfig,
    config_peer: PeerConfig,
    credentials: Option<Credentials>,
    auth_retry: bool,
    entropy: Entropy,
    lcp: Lcp,
    authenticator: Option<Authenticator>,
    peer: Option<Peer>,
    authenticator_done: bool,
    peer_done: bool,
    ipcp: Fsm<IpcpOptions>,
    ipcp_started: bool,
    address_requested: bool,
    address_known: bool,
    #[cfg(feature = "mppe")]
    ccp: Fsm<CcpOptions>,
    #[cfg(feature = "mppe")]
    policy: mppe::Policy,
    #[cfg(feature = "mppe")]
    keys: Option<mppe::StartKeys>,
    #[cfg(feature = "mppe")]
    mppe: Option<mppe::session::Mppe>,
    /// When our last CCP Reset-Request went out, while the stateful
    /// decrypter still waits for the flushed packet that answers it.
    #[cfg(feature = "mppe")]
    reset_request_sent_at: Option<Instant>,
    ccp_settled: bool,
    data_ready: bool,
    ip_received: bool,
    username: Name,
    auth_request: Option<AuthRequest>,
    encryption_refused_hint: bool,
    lower_is_down: bool,
    pending_close: Option<EndReason>,
    end_reason: Option<EndReason>,
    finished: bool,
    events: Deque<LinkEvent, EVENT_DEPTH>,
    counters: Counters,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("lcp", &self.lcp.state())
            .field("ipcp", &self.ipcp.state())
            .field("data_ready", &self.data_ready)
            .field("end_reason", &self.end_reason)
            .field("counters", &self.counters)
            .finish_non_exhaustive()
    }
}

fn ipcp_role(role: Role) -> IpcpRole {
    match role {
        Role::Server => IpcpRole::Server,
        Role::Client => IpcpRole::Client,
    }
}

impl Link {
    /// A link in phase Dead. `entropy` is host randomness (magic number,
    /// challenge).
    pub fn new(config: LinkConfig, entropy: Entropy) -> Self {
        let LinkConfig {
            role,
            lcp,
            authenticator,
            peer,
            credentials,
            auth_retry,
            ipcp,
            ncp,
            #[cfg(feature = "mppe")]
            mppe,
        } = config;
        Link {
            role,
            phase: Phase::Dead,
            config_auth: authenticator,
            config_peer: peer,
            credentials,
            auth_retry,
            entropy,
            lcp: Lcp::new(lcp, entropy.magic),
            authenticator: None,
            peer: None,
            authenticator_done: false,
            peer_done: false,
            ipcp: Fsm::new(IpcpOptions::new(ipcp_role(role), ipcp), ncp),
            ipcp_started: false,
            address_requested: false,
            address_known: false,
            #[cfg(feature = "mppe")]
            ccp: Fsm::new(CcpOptions::new(mppe), ncp),
            #[cfg(feature = "mppe")]
            policy: mppe,
            #[cfg(feature = "mppe")]
            keys: None,
            #[cfg(feature = "mppe")]
            mppe: None,
            #[cfg(feature = "mppe")]
            reset_request_sent_at: None,
            ccp_settled: false,
            data_ready: false,
            ip_received: false,
            username: Name::new(),
            auth_request: None,
            encryption_refused_hint: false,
            lower_is_down: false,
            pending_close: None,
            end_reason: None,
            finished: false,
            events: Deque::new(),
            counters: Counters::default(),
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Why the link ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    /// Whether IP packets can be sent and received.
    pub fn is_data_ready(&self) -> bool {
        self.data_ready
    }

    /// LCP (state, negotiated options).
    pub fn lcp(&self) -> &Lcp {
        &self.lcp
    }

    /// IPCP's automaton (state, negotiated addresses).
    pub fn ipcp(&self) -> &Fsm<IpcpOptions> {
        &self.ipcp
    }

    /// What IPCP agreed (complete once [`LinkEvent::IpcpUp`]).
    pub fn ipcp_negotiated(&self) -> &IpcpNegotiated {
        self.ipcp.handler().negotiated()
    }

    /// CCP's automaton.
    #[cfg(feature = "mppe")]
    pub fn ccp(&self) -> &Fsm<CcpOptions> {
        &self.ccp
    }

    /// MPPE per direction while active.
    #[cfg(feature = "mppe")]
    pub fn mppe_info(&self) -> Option<MppeInfo> {
        self.mppe.as_ref().map(MppeInfo::of)
    }

    /// MPPE counters while active.
    #[cfg(feature = "mppe")]
    pub fn mppe_stats(&self) -> Option<MppeStats> {
        self.mppe.as_ref().map(MppeStats::of)
    }

    /// The largest IPv4 packet [`Link::send_ip`] takes now: the peer's MRU
    /// (RFC 1661 §6.1), less MPPE's 4 octets (header and inner protocol)
    /// while MPPE is active. Use it as the tunnel interface's MTU.
    pub fn max_ip_len(&self) -> usize {
        #[cfg(feature = "mppe")]
        let encrypted = self.mppe.is_some();
        #[cfg(not(feature = "mppe"))]
        let encrypted = false;
        max_ip_len(self.lcp.negotiated().peer_mru, encrypted)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    /// Server: the address given to the peer (release it to the pool after
    /// [`LinkEvent::Down`]).
    pub fn assigned_peer_address(&self) -> Option<Ipv4Addr> {
        self.ipcp.handler().assigned_peer_address()
    }

    /// Administrative Open: the lower layer is up; LCP starts.
    pub fn open(&mut self, now: Instant) {
        if self.finished || self.phase != Phase::Dead {
            return;
        }
        self.set_phase(Phase::Establish);
        self.lcp.open(now);
        self.lcp.up(now);
        self.drive(now);
    }

    /// Closes the link for `reason` (normally [`EndReason::AdminClose`]):
    /// NCPs go down and LCP sends Terminate-Request.
    pub fn close(&mut self, now: Instant, reason: EndReason) {
        if self.finished {
            return;
        }
        if self.phase == Phase::Dead {
            self.end(reason);
            return;
        }
        self.terminate(now, reason);
        self.drive(now);
    }

    /// The lower layer (PPTP call) went down: the link ends at once.
    pub fn lower_down(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        self.end_reason.get_or_insert(EndReason::LowerLayerDown);
        self.lower_is_down = true;
        self.lcp.down(now);
        self.drive(now);
        if !self.finished {
            self.end(EndReason::LowerLayerDown);
        }
    }

    /// Server: the peer's address (from the host's pool or an AAA
    /// attribute), normally after [`LinkEvent::AddressNeeded`]. `None`:
    /// none available; the link ends with [`EndReason::NoAddress`]. May be
    /// called before the event to preassign.
    pub fn assign_peer_address(&mut self, now: Instant, address: Option<Ipv4Addr>) {
        if self.finished {
            return;
        }
        self.ipcp.handler_mut().set_peer_address(address);
        self.address_known = address.is_some();
        if address.is_none() && self.address_requested {
            self.terminate(now, EndReason::NoAddress);
        } else {
            self.maybe_start_ipcp(now);
        }
        self.drive(now);
    }

    /// Server, external AAA: the request announced by
    /// [`LinkEvent::AuthRequest`] (user name, method, challenge and
    /// response: what RADIUS or TACACS+ needs). `None` once taken.
    pub fn take_auth_request(&mut self) -> Option<AuthRequest> {
        self.auth_request.take()
    }

    /// The user name of the last authentication: the name the peer gave
    /// (server) or the name we sent (client); empty before.
    pub fn username(&self) -> &[u8] {
        &self.username
    }

    /// Server, external AAA: the verdict for the pending
    /// [`LinkEvent::AuthRequest`].
    pub fn verdict(&mut self, now: Instant, verdict: Verdict) -> Result<(), SetupError> {
        let auth = self.authenticator.as_mut().ok_or(SetupError::NotWaiting)?;
        self.auth_request = None;
        let result = auth.verdict(now, verdict);
        self.drive(now);
        result
    }

    /// Client: answers the authenticator's new challenge after an
    /// [`LinkEvent::AuthFailed`] whose reason allows a retry (only with
    /// [`LinkConfig::auth_retry`]), with `secret` if given (a corrected
    /// password). To give up instead, call [`Link::close`].
    pub fn retry_auth(&mut self, now: Instant, secret: Option<Secret>) -> Result<(), SetupError> {
        let peer = self.peer.as_mut().ok_or(SetupError::NotWaiting)?;
        let result = peer.retry(now, secret);
        self.drive(now);
        result
    }

    /// Server: a fresh challenge after [`LinkEvent::ChallengeNeeded`].
    pub fn feed_challenge(&mut self, now: Instant, challenge: &[u8]) -> Result<(), SetupError> {
        let auth = self.authenticator.as_mut().ok_or(SetupError::NotWaiting)?;
        let result = auth.feed_challenge(now, challenge);
        self.drive(now);
        result
    }

    /// Handles one received PPP frame; an IPv4 packet is delivered in
    /// place (decrypted when MPPE is active). Authentication Responses are
    /// surfaced as [`LinkEvent::AuthRequest`] (external AAA).
    pub fn handle_frame(
        &mut self,
        now: Instant,
        frame: &mut [u8],
    ) -> Result<Option<Delivered>, Error> {
        self.handle_frame_inner(now, frame, None)
    }

    /// As [`Link::handle_frame`], deciding authentication at once with
    /// `verifier` (local credential store).
    pub fn handle_frame_with(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        verifier: &dyn Verifier,
    ) -> Result<Option<Delivered>, Error> {
        self.handle_frame_inner(now, frame, Some(verifier))
    }

    fn handle_frame_inner(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        verifier: Option<&dyn Verifier>,
    ) -> Result<Option<Delivered>, Error> {
        self.counters.frames_in += 1;
        self.counters.octets_in += frame.len() as u64;
        if self.phase == Phase::Dead {
            self.counters.dropped_dead += 1;
            return Err(Error::Dead);
        }
        let accept = self.lcp.negotiated().receive;
        let (proto, header_len) = match Frame::parse(frame, accept) {
            Ok(f) => (f.protocol, f.header_len),
            Err(e) => {
                self.counters.dropped_malformed += 1;
                return Err(Error::Frame(e));
            }
        };
        let result = self.dispatch(now, frame, proto, header_len, verifier);
        self.drive(now);
        result
    }

    fn dispatch(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        proto: u16,
        header_len: usize,
        verifier: Option<&dyn Verifier>,
    ) -> Result<Option<Delivered>, Error> {
        let info_range = header_len..frame.len();
        match proto {
            protocol::LCP => {
                let info = frame.get(info_range).unwrap_or(&[]);
                self.lcp.handle_input(now, info).map_err(|error| {
                    self.counters.dropped_control += 1;
                    Error::Control {
                        protocol: proto,
                        error,
                    }
                })?;
                Ok(None)
            }
            protocol::PAP | protocol::CHAP => {
                let info = frame.get(info_range).unwrap_or(&[]);
                let mut taken = false;
                if let Some(auth) = self.authenticator.as_mut() {
                    if auth.method().protocol() == proto {
                        match verifier {
                            Some(v) => auth.handle_packet_with(now, info, v),
                            None => auth.handle_packet(now, info),
                        }
                        taken = true;
                    }
                }
                if let Some(peer) = self.peer.as_mut() {
                    if peer.method().protocol() == proto {
                        peer.handle_packet(now, info);
                        taken = true;
                    }
                }
                if taken {
                    Ok(None)
                } else {
                    self.counters.dropped_phase += 1;
                    Err(Error::WrongPhase { protocol: proto })
                }
            }
            protocol::IPCP => {
                if self.phase != Phase::Network || !self.ipcp_started {
                    self.counters.dropped_phase += 1;
                    return Err(Error::WrongPhase { protocol: proto });
                }
                let info = frame.get(info_range).unwrap_or(&[]);
                self.ipcp.handle_packet(now, info).map_err(|error| {
                    self.counters.dropped_control += 1;
                    Error::Control {
                        protocol: proto,
                        error,
                    }
                })?;
                Ok(None)
            }
            #[cfg(feature = "mppe")]
            protocol::CCP => {
                if self.phase != Phase::Network {
                    self.counters.dropped_phase += 1;
                    return Err(Error::WrongPhase { protocol: proto });
                }
                let info = frame.get(info_range).unwrap_or(&[]);
                self.ccp.handle_packet(now, info).map_err(|error| {
                    self.counters.dropped_control += 1;
                    Error::Control {
                        protocol: proto,
                        error,
                    }
                })?;
                let resets = self.ccp.handler_mut().take_reset_requests();
                if resets > 0 {
                    self.counters.reset_requests_received += u64::from(resets);
                    if let Some(m) = self.mppe.as_mut() {
                        // RFC 3078 §8.2: flush on the next packet.
                        m.encrypter.reset_request();
                    }
                }
                Ok(None)
            }
            protocol::IPV4 => {
                if !self.data_ready {
                    self.counters.dropped_phase += 1;
                    return Err(Error::NotReady);
                }
                if self.encryption_expected() {
                    self.counters.dropped_plaintext += 1;
                    return Err(Error::PlaintextRefused);
                }
                self.deliver(header_len, frame.len() - header_len)
            }
            #[cfg(feature = "mppe")]
            protocol::COMPRESSED => self.decrypt(now, frame, header_len),
            other => {
                // RFC 1661 §5.7: Protocol-Reject, in Opened only.
                let info = frame.get(info_range).unwrap_or(&[]);
                self.lcp.send_protocol_reject(other, info);
                self.counters.dropped_unsupported += 1;
                Err(Error::ProtocolRejected { protocol: other })
            }
        }
    }

    fn deliver(&mut self, start: usize, len: usize) -> Result<Option<Delivered>, Error> {
        self.counters.ip_in += 1;
        self.ip_received = true;
        Ok(Some(Delivered { start, len }))
    }

    #[cfg(feature = "mppe")]
    fn encryption_expected(&self) -> bool {
        self.mppe.is_some() || self.policy.required
    }

    #[cfg(not(feature = "mppe"))]
    fn encryption_expected(&self) -> bool {
        false
    }

    #[cfg(feature = "mppe")]
    fn decrypt(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        header_len: usize,
    ) -> Result<Option<Delivered>, Error> {
        let received = decrypt_ip(
            self.mppe.as_mut(),
            &mut self.counters,
            self.reset_request_sent_at,
            now,
            frame,
            header_len,
        );
        if received.synchronised {
            self.reset_request_sent_at = None;
        }
        if received.reset_request {
            let id = self.ccp.next_identifier();
            if self.ccp.send_packet(Code::from(RESET_REQUEST), id, &[]) {
                self.counters.reset_requests_sent += 1;
                self.reset_request_sent_at = Some(now);
            }
        }
        let delivered = received.result?;
        if !self.data_ready {
            self.counters.dropped_phase += 1;
            return Err(Error::NotReady);
        }
        self.deliver(delivered.start, delivered.len)
    }

    /// Writes the next control frame (LCP, authentication, IPCP, CCP) into
    /// `buf`, fully framed.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let t = self.next_transmit(now, buf);
        if let Some(t) = t {
            self.counters.frames_out += 1;
            self.counters.octets_out += t.len as u64;
        }
        self.drive(now);
        t
    }

    fn next_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        if self.lower_is_down {
            return None;
        }
        if self.finished {
            // After the end only LCP's last word (a Terminate-Ack) goes.
            let len = self.lcp.poll_transmit_frame(buf)?;
            return Some(Transmit {
                len,
                protocol: protocol::LCP,
            });
        }
        // LCP first, so its final Ack precedes the first Challenge; but a
        // pending close waits for the authentication verdict to go out
        // (the Failure before the Terminate-Request).
        if self.pending_close.is_none() {
            if let Some(len) = self.lcp.poll_transmit_frame(buf) {
                return Some(Transmit {
                    len,
                    protocol: protocol::LCP,
                });
            }
        }
        let send = self.lcp.negotiated().send;
        let hl = frame::header_len(protocol::CHAP, send);
        if let Some(body) = buf.get_mut(hl..) {
            let mut out = None;
            if let Some(a) = self.authenticator.as_mut() {
                out = a.poll_transmit(now, body);
            }
            if out.is_none() {
                if let Some(p) = self.peer.as_mut() {
                    out = p.poll_transmit(now, body);
                }
            }
            if let Some(t) = out {
                if frame::emit_header(t.protocol, send, buf).is_ok() {
                    return Some(Transmit {
                        len: hl + t.len,
                        protocol: t.protocol,
                    });
                }
            }
        }
        if let Some(reason) = self.pending_close.take() {
            self.close_lcp(now, reason);
            if let Some(len) = self.lcp.poll_transmit_frame(buf) {
                return Some(Transmit {
                    len,
                    protocol: protocol::LCP,
                });
            }
        }
        if let Some(len) = self.ipcp.poll_transmit_frame(send, buf) {
            return Some(Transmit {
                len,
                protocol: protocol::IPCP,
            });
        }
        #[cfg(feature = "mppe")]
        if let Some(len) = self.ccp.poll_transmit_frame(send, buf) {
            return Some(Transmit {
                len,
                protocol: protocol::CCP,
            });
        }
        None
    }

    /// Frames and (when MPPE is active) encrypts the IPv4 packet `ip` into
    /// `out`; returns the frame length.
    pub fn send_ip(&mut self, now: Instant, ip: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        send_ip_copied(ip, out, |buf, start| self.send_ip_in_place(now, buf, start))
    }

    /// Zero-copy send: the IPv4 packet is `buf[start..]`, with at least
    /// [`HEADROOM`] octets before it. Writes the headers in front of it,
    /// encrypts in place, and returns the frame's range in `buf`.
    pub fn send_ip_in_place(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
        start: usize,
    ) -> Result<Range<usize>, SendError> {
        if !self.data_ready {
            return Err(SendError::NotReady);
        }
        let len = buf.len().saturating_sub(start);
        if len == 0 {
            return Err(SendError::Empty);
        }
        if start < HEADROOM {
            return Err(SendError::BufferTooSmall {
                needed: HEADROOM,
                available: start,
            });
        }
        let negotiated = self.lcp.negotiated();
        let range = encapsulate_ip(
            #[cfg(feature = "mppe")]
            self.mppe.as_mut(),
            negotiated.send,
            negotiated.peer_mru,
            buf,
            start,
        )?;
        Ok(count_sent(&mut self.counters, range))
    }

    /// When [`Link::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let mut next = self.lcp.poll_timeout();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.authenticator.as_ref().and_then(|a| a.poll_timeout()));
        consider(self.peer.as_ref().and_then(|p| p.poll_timeout()));
        consider(self.ipcp.poll_timeout());
        #[cfg(feature = "mppe")]
        consider(self.ccp.poll_timeout());
        next
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.lcp.poll_timeout()) {
            self.lcp.handle_timeout(now);
        }
        if let Some(a) = self.authenticator.as_mut() {
            if due(a.poll_timeout()) {
                a.handle_timeout(now);
            }
        }
        if let Some(p) = self.peer.as_mut() {
            if due(p.poll_timeout()) {
                p.handle_timeout(now);
            }
        }
        if due(self.ipcp.poll_timeout()) {
            self.ipcp.handle_timeout(now);
        }
        #[cfg(feature = "mppe")]
        if due(self.ccp.poll_timeout()) {
            self.ccp.handle_timeout(now);
        }
        self.drive(now);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    // ---- internals ----

    fn push(&mut self, event: LinkEvent) {
        if self.finished && !matches!(event, LinkEvent::Down(_)) {
            return;
        }
        if self.events.is_full() {
            let _ = self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.push(LinkEvent::Phase(phase));
        }
    }

    fn end(&mut self, reason: EndReason) {
        if self.finished {
            return;
        }
        let reason = *self.end_reason.get_or_insert(reason);
        self.data_ready = false;
        self.ipcp_started = false;
        #[cfg(feature = "mppe")]
        {
            self.mppe = None;
            self.keys = None;
        }
        self.authenticator = None;
        self.peer = None;
        self.set_phase(Phase::Dead);
        self.push(LinkEvent::Down(reason));
        self.finished = true;
    }

    /// Starts terminating for `reason` (kept as the end reason).
    fn terminate(&mut self, now: Instant, reason: EndReason) {
        if self.end_reason.is_none() {
            self.end_reason = Some(reason);
        }
        self.ncps_down(now);
        self.close_lcp(now, reason);
    }

    fn close_lcp(&mut self, now: Instant, reason: EndReason) {
        self.set_phase(Phase::Terminate);
        self.lcp
            .close_with_message(now, reason.lcp_reason(), reason.description().as_bytes());
    }

    fn ncps_down(&mut self, now: Instant) {
        // The NCPs' lower layer (LCP in Opened) is gone: IPCP reports its
        // Down through its own event.
        self.ipcp.down(now);
        #[cfg(feature = "mppe")]
        self.ccp.down(now);
        self.data_ready = false;
        self.ipcp_started = false;
        #[cfg(feature = "mppe")]
        {
            self.mppe = None;
        }
        self.ccp_settled = false;
    }

    /// Processes every sub-machine's events until nothing changes.
    fn drive(&mut self, now: Instant) {
        for _ in 0..8 {
            let mut changed = false;
            while let Some(ev) = self.lcp.poll_event() {
                changed = true;
                self.on_lcp_event(now, ev);
            }
            changed |= self.auth_events(now);
            while let Some(ev) = self.ipcp.poll_event() {
                changed = true;
                self.on_ipcp_event(now, ev);
            }
            #[cfg(feature = "mppe")]
            while let Some(ev) = self.ccp.poll_event() {
                changed = true;
                self.on_ccp_event(now, ev);
            }
            self.update_data_ready();
            if !changed {
                break;
            }
        }
    }

    fn on_lcp_event(&mut self, now: Instant, ev: LcpEvent) {
        match ev {
            LcpEvent::Started => {}
            LcpEvent::Up => self.start_authentication(now),
            LcpEvent::Down => {
                // Renegotiation or termination: everything above LCP
                // starts over (RFC 1661 §3.2).
                self.encryption_refused_hint = self.peer_refused_our_plaintext();
                self.ncps_down(now);
                self.authenticator = None;
                self.peer = None;
                self.authenticator_done = false;
                self.peer_done = false;
                #[cfg(feature = "mppe")]
                {
                    // Keys belong to one authentication.
                    self.keys = None;
                }
                let terminating = matches!(self.lcp.state(), State::Closing | State::Stopping);
                self.set_phase(if terminating || self.end_reason.is_some() {
                    Phase::Terminate
                } else {
                    Phase::Establish
                });
            }
            LcpEvent::Finished(reason) => {
                let mut reason = EndReason::from(reason);
                if reason == EndReason::PeerTerminated && self.encryption_refused_hint {
                    reason = EndReason::EncryptionRefused;
                }
                self.end(reason);
            }
            LcpEvent::Identification { message, .. } => {
                self.push(LinkEvent::Identification(message))
            }
            LcpEvent::TimeRemaining { .. } | LcpEvent::MagicNumbersLow => {}
            LcpEvent::ProtocolRejected(proto) => {
                self.push(LinkEvent::ProtocolRejected(proto));
                match proto {
                    protocol::IPCP => {
                        self.ipcp.protocol_rejected(now);
                    }
                    #[cfg(feature = "mppe")]
                    protocol::CCP => {
                        self.ccp.protocol_rejected(now);
                    }
                    _ => {}
                }
            }
        }
    }

    #[cfg(feature = "mppe")]
    fn peer_refused_our_plaintext(&self) -> bool {
        self.phase == Phase::Network
            && self.mppe.is_none()
            && !self.ip_received
            && self.ccp.handler().peer_offered_mppe()
            && !self.policy.enabled()
    }

    #[cfg(not(feature = "mppe"))]
    fn peer_refused_our_plaintext(&self) -> bool {
        false
    }

    fn start_authentication(&mut self, now: Instant) {
        let negotiated = *self.lcp.negotiated();
        self.authenticator_done = true;
        self.peer_done = true;
        if let Some(method) = negotiated.peer_auth {
            let len = method.challenge_len().unwrap_or(16);
            let challenge = &self.entropy.challenge[..len];
            match Authenticator::new(method, self.config_auth.clone(), now, 1, challenge) {
                Ok(a) => {
                    self.authenticator = Some(a);
                    self.authenticator_done = false;
                }
                Err(_) => {
                    self.terminate(now, EndReason::AuthFailed(FailureReason::Timeout));
                    return;
                }
            }
        }
        if let Some(method) = negotiated.local_auth {
            let Some(creds) = self.credentials.as_ref() else {
                // LCP only agrees to methods in `auth_allowed`; without
                // credentials we cannot prove anything.
                self.terminate(now, EndReason::NoCommonAuth);
                return;
            };
            let peer_challenge = Some(self.entropy.challenge);
            match Peer::new(
                method,
                self.config_peer,
                now,
                &creds.username,
                creds.secret.clone(),
                1,
                peer_challenge,
            ) {
                Ok(p) => {
                    self.peer = Some(p);
                    self.peer_done = false;
                }
                Err(_) => {
                    self.terminate(now, EndReason::NoCommonAuth);
                    return;
                }
            }
        }
        if self.authenticator_done && self.peer_done {
            self.start_network(now);
        } else {
            self.set_phase(Phase::Authenticate);
        }
    }

    fn auth_events(&mut self, now: Instant) -> bool {
        let mut changed = false;
        while let Some(ev) = self.authenticator.as_mut().and_then(|a| a.poll_event()) {
            changed = true;
            self.on_auth_event(now, ev, true);
        }
        while let Some(ev) = self.peer.as_mut().and_then(|p| p.poll_event()) {
            changed = true;
            self.on_auth_event(now, ev, false);
        }
        changed
    }

    fn on_auth_event(&mut self, now: Instant, ev: auth::Event, as_authenticator: bool) {
        match ev {
            auth::Event::AuthRequest(req) => {
                self.username = req.username.clone();
                self.auth_request = Some(req);
                self.push(LinkEvent::AuthRequest);
            }
            auth::Event::ChallengeNeeded => self.push(LinkEvent::ChallengeNeeded),
            auth::Event::Success(s) => {
                if s.reauthentication {
                    return;
                }
                #[cfg(feature = "mppe")]
                if let Some(material) = s.key_material.as_ref() {
                    self.keys = Some(start_keys(material, self.role));
                }
                if as_authenticator {
                    if let Some(a) = s.attributes.address {
                        self.ipcp.handler_mut().set_peer_address(Some(a));
                        self.address_known = true;
                    }
                    if s.attributes.primary_dns.is_some() {
                        let dns = [s.attributes.primary_dns, s.attributes.secondary_dns];
                        self.ipcp.handler_mut().set_dns(dns);
                    }
                    if s.attributes.primary_nbns.is_some() {
                        let nbns = [s.attributes.primary_nbns, s.attributes.secondary_nbns];
                        self.ipcp.handler_mut().set_nbns(nbns);
                    }
                    self.authenticator_done = true;
                } else {
                    self.peer_done = true;
                }
                self.username = s.username.clone();
                self.push(LinkEvent::Authenticated {
                    method: s.method,
                    attributes: s.attributes,
                });
                if self.authenticator_done && self.peer_done && self.phase == Phase::Authenticate {
                    self.start_network(now);
                }
            }
            auth::Event::Failure(f) => {
                self.username = f.username.clone();
                self.push(LinkEvent::AuthFailed {
                    method: f.method,
                    reason: f.reason,
                });
                let retry = matches!(
                    f.reason,
                    FailureReason::RejectedByAuthenticator {
                        retry_allowed: true,
                        ..
                    }
                );
                if !as_authenticator && retry && self.auth_retry {
                    // RFC 2759 §6 / RFC 2433 "Failure Packet": the authenticator waits
                    // for a new Response; the host decides.
                    return;
                }
                let reason = EndReason::AuthFailed(f.reason);
                self.end_reason.get_or_insert(reason);
                self.ncps_down(now);
                // Let the Failure packet go out before the Terminate.
                self.pending_close = Some(reason);
            }
        }
    }

    fn start_network(&mut self, now: Instant) {
        self.set_phase(Phase::Network);
        #[cfg(feature = "mppe")]
        {
            let policy = if self.keys.is_some() {
                self.policy
            } else if self.policy.required {
                // No MS-CHAP keys and no AAA keys: MPPE cannot run.
                self.terminate(now, EndReason::MppeRequiredNotActive);
                return;
            } else {
                mppe::Policy::disabled()
            };
            let config = *self.ccp.config();
            self.ccp = Fsm::new(CcpOptions::new(policy), config);
            self.ccp.open(now);
            self.ccp.up(now);
        }
        self.ccp_settled = false;
        if self.role == Role::Server && !self.address_known {
            self.address_requested = true;
            self.push(LinkEvent::AddressNeeded);
        }
        self.maybe_start_ipcp(now);
    }

    fn maybe_start_ipcp(&mut self, now: Instant) {
        if self.phase != Phase::Network || self.ipcp_started {
            return;
        }
        if self.role == Role::Server && !self.address_known {
            return;
        }
        self.ipcp_started = true;
        self.ipcp.open(now);
        self.ipcp.up(now);
    }

    fn on_ipcp_event(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                let n = *self.ipcp.handler().negotiated();
                self.push(LinkEvent::IpcpUp(n));
            }
            LayerEvent::Down(_) => {
                self.push(LinkEvent::IpcpDown);
                self.data_ready = false;
            }
            LayerEvent::Started => {}
            LayerEvent::Finished(_) => {
                // Without IPCP the link carries nothing (IPv6CP and others
                // are not supported): end it.
                if self.phase == Phase::Network && self.end_reason.is_none() {
                    self.terminate(now, EndReason::IpcpFailed);
                }
            }
        }
    }

    #[cfg(feature = "mppe")]
    fn on_ccp_event(&mut self, now: Instant, ev: LayerEvent) {
        if self.phase != Phase::Network {
            return;
        }
        match ev {
            LayerEvent::Up => match self.ccp.handler().outcome() {
                Ok(Some(negotiated)) => {
                    let built = self
                        .keys
                        .as_ref()
                        .and_then(|k| mppe::session::Mppe::new(k, &negotiated).ok());
                    match built {
                        Some(m) => {
                            self.mppe = Some(m);
                            self.ccp_settled = true;
                            self.push(LinkEvent::CcpUp(Some(MppeInfo {
                                send: negotiated.send,
                                receive: negotiated.receive,
                            })));
                        }
                        None => self.ccp_failed(now),
                    }
                }
                Ok(None) => {
                    if self.policy.required {
                        self.terminate(now, EndReason::MppeRequiredNotActive);
                    } else {
                        self.ccp_settled = true;
                        self.push(LinkEvent::CcpUp(None));
                    }
                }
                Err(_) => self.ccp_failed(now),
            },
            LayerEvent::Down(_) => {
                // CCP left Opened: either it is renegotiating (a
                // Configure-Request arrived in Opened, RFC 1661 §4.1 tld)
                // or it is on its way to Finished. Stop the data path until
                // it reopens with fresh MPPE state (RFC 1962 §2); only if it
                // finishes without agreeing does "required" end the link
                // (ccp_failed, through LayerEvent::Finished).
                self.mppe = None;
                self.ccp_settled = false;
                self.reset_request_sent_at = None;
            }
            LayerEvent::Started => {}
            LayerEvent::Finished(_) => self.ccp_failed(now),
        }
    }

    /// CCP could not give MPPE: fatal when required (the PIX's "mppe
    /// required but not active"), otherwise plaintext.
    #[cfg(feature = "mppe")]
    fn ccp_failed(&mut self, now: Instant) {
        self.mppe = None;
        if self.policy.required {
            self.terminate(now, EndReason::MppeRequiredNotActive);
            return;
        }
        if self.ccp.state() == State::Opened {
            self.ccp.close(now, b"mppe not agreed");
        }
        if !self.ccp_settled {
            self.ccp_settled = true;
            self.push(LinkEvent::CcpUp(None));
        }
    }

    /// Once IP flows the peer has had our Success: it reaches IPCP only
    /// after it. A finished authenticator with no timer (no periodic
    /// re-challenge) and nothing to send is dropped then; a later copy of
    /// the peer's Response is a stray from before, not the lost-Success
    /// case of RFC 1994 §4.1, and is discarded as out of phase. (The
    /// peer side is kept: the authenticator may challenge again at any
    /// time, RFC 1994 §3.)
    fn retire_authenticator(&mut self) {
        let finished = self.authenticator_done
            && self
                .authenticator
                .as_ref()
                .is_some_and(|a| a.poll_timeout().is_none() && !a.has_transmit());
        if finished {
            self.authenticator = None;
        }
    }

    fn update_data_ready(&mut self) {
        #[cfg(feature = "mppe")]
        let ccp_ok = self.mppe.is_some()
            || (!self.policy.required
                && (self.ccp_settled || !self.ccp.handler().policy().enabled()));
        #[cfg(not(feature = "mppe"))]
        let ccp_ok = true;
        let ready = !self.finished
            && self.phase == Phase::Network
            && self.ipcp.state() == State::Opened
            && ccp_ok;
        if ready && !self.data_ready {
            self.data_ready = true;
            self.retire_authenticator();
            self.push(LinkEvent::DataReady);
        } else if !ready {
            self.data_ready = false;
        }
    }
}

/// The largest IPv4 packet for a peer MRU (RFC 1661 §6.1), less MPPE's
/// header and inner protocol field when encrypting.
fn max_ip_len(peer_mru: u16, encrypted: bool) -> usize {
    let mru = usize::from(peer_mru);
    if encrypted {
        #[cfg(feature = "mppe")]
        return mru.saturating_sub(mppe::HEADER_LEN + 2);
    }
    mru
}

/// `send_ip` for [`Link`] and [`ParkedLink`]: copies `ip` behind
/// [`HEADROOM`] octets of `out`, frames it in place with `in_place`, and
/// moves the frame to the start of `out`; returns its length.
fn send_ip_copied(
    ip: &[u8],
    out: &mut [u8],
    in_place: impl FnOnce(&mut [u8], usize) -> Result<Range<usize>, SendError>,
) -> Result<usize, SendError> {
    let needed = HEADROOM + ip.len();
    let Some(body) = out.get_mut(HEADROOM..needed) else {
        return Err(SendError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    };
    body.copy_from_slice(ip);
    let range = in_place(&mut out[..needed], HEADROOM)?;
    if range.start > 0 {
        out.copy_within(range.clone(), 0);
    }
    Ok(range.len())
}

/// Counts a data frame sent.
fn count_sent(counters: &mut Counters, range: Range<usize>) -> Range<usize> {
    counters.ip_out += 1;
    counters.frames_out += 1;
    counters.octets_out += range.len() as u64;
    range
}

/// The send half of the data path, shared by [`Link`] and
/// [`ParkedLink`]: the IPv4 packet is `buf[start..]` with at least
/// [`HEADROOM`] octets before it; writes the PPP header (and with MPPE the
/// MPPE header and inner protocol, encrypting in place) in front of it.
fn encapsulate_ip<#[cfg(feature = "mppe")] C: mppe::rc4::Keystream>(
    #[cfg(feature = "mppe")] mppe: Option<&mut mppe::session::Mppe<C>>,
    send: frame::FieldCompression,
    peer_mru: u16,
    buf: &mut [u8],
    start: usize,
) -> Result<Range<usize>, SendError> {
    let len = buf.len().saturating_sub(start);
    if len == 0 {
        return Err(SendError::Empty);
    }
    if start < HEADROOM {
        return Err(SendError::BufferTooSmall {
            needed: HEADROOM,
            available: start,
        });
    }
    let too_small = |_| SendError::BufferTooSmall {
        needed: HEADROOM,
        available: start,
    };
    #[cfg(feature = "mppe")]
    if let Some(m) = mppe {
        let max = max_ip_len(peer_mru, true);
        if len > max {
            return Err(SendError::TooLong { len, max });
        }
        // MPPE header + full 2-octet inner protocol + IP, encrypted.
        let mppe_start = start - 2 - mppe::HEADER_LEN;
        buf[start - 2..start].copy_from_slice(&protocol::IPV4.to_be_bytes());
        let packet = &mut buf[mppe_start..];
        m.encrypter
            .encrypt_in_place(packet)
            .map_err(SendError::Encrypt)?;
        let frame_start = frame::prepend_header(protocol::COMPRESSED, send, buf, mppe_start)
            .map_err(too_small)?;
        return Ok(frame_start..buf.len());
    }
    let max = max_ip_len(peer_mru, false);
    if len > max {
        return Err(SendError::TooLong { len, max });
    }
    let frame_start = frame::prepend_header(protocol::IPV4, send, buf, start).map_err(too_small)?;
    Ok(frame_start..buf.len())
}

/// What [`decrypt_ip`] found, for its owner to act on.
#[cfg(feature = "mppe")]
struct Received {
    /// The decrypted IPv4 packet's place in the frame, or why not.
    result: Result<Delivered, Error>,
    /// Send a CCP Reset-Request now (RFC 3078 §8.2).
    reset_request: bool,
    /// The decrypter is in step again: forget the last Reset-Request.
    synchronised: bool,
}

/// The receive half of the MPPE data path, shared by [`Link`] and
/// [`ParkedLink`]: decrypts the MPPE packet at `frame[header_len..]` in
/// place and checks its inner protocol. Counts drops; the owner sends the
/// Reset-Request it asks for.
#[cfg(feature = "mppe")]
fn decrypt_ip<C: mppe::rc4::Keystream>(
    mppe: Option<&mut mppe::session::Mppe<C>>,
    counters: &mut Counters,
    reset_request_sent_at: Option<Instant>,
    now: Instant,
    frame: &mut [u8],
    header_len: usize,
) -> Received {
    let fail = |counters: &mut Counters, error: Error, reset_request: bool| {
        counters.dropped_mppe += 1;
        Received {
            result: Err(error),
            reset_request,
            synchronised: false,
        }
    };
    let Some(m) = mppe else {
        // RFC 1962 §2.1: compressed datagrams before CCP opened are
        // discarded.
        return fail(counters, Error::MppeNotActive, false);
    };
    let Some(packet) = frame.get_mut(header_len..) else {
        let error = Error::Frame(WireError::Truncated {
            needed: header_len,
            available: 0,
        });
        return fail(counters, error, false);
    };
    // A repeat is due once per RESET_REQUEST_REPEAT while the decrypter
    // waits (RFC 1962 §3.1 leaves the timing to the implementation; pppd
    // repeats after 1 s).
    let repeat_due = reset_request_sent_at.is_none_or(|at| now >= at + RESET_REQUEST_REPEAT);
    // Trial decryption of flushed packets (mppe's
    // `decrypt_in_place_checked`): pppd/Linux change keys on every
    // flushed packet, so a lost one would otherwise leave this end a key
    // behind until CCP is renegotiated. Only IPv4 travels inside MPPE on
    // this link (IPCP is the only network protocol).
    let decrypted = match m
        .decrypter
        .decrypt_in_place_checked(packet, is_ipv4_protocol)
    {
        Ok(d) => d,
        Err(e) => {
            // RFC 3078 §8.2 (stateful): ask the sender to flush. The
            // Reset-Request or the flushed packet answering it can be
            // lost too, so while the decrypter still waits, repeat the
            // request. Without this one lost packet would stall the
            // receive direction for good.
            let repeat = matches!(e, mppe::DecryptError::AwaitingFlush { .. }) && repeat_due;
            return fail(
                counters,
                Error::Decrypt(e),
                e.needs_reset_request() || repeat,
            );
        }
    };
    let inner_start = header_len + mppe::HEADER_LEN;
    let plain = frame
        .get(inner_start..inner_start + decrypted.len)
        .unwrap_or(&[]);
    // The inner protocol field may be compressed (RFC 3078 §3: the
    // PPP protocol field is part of what is encrypted; RFC 1661 §6.5).
    let (inner, inner_len) = match plain {
        [first, ..] if first & 1 == 1 => (u16::from(*first), 1),
        [a, b, ..] => (u16::from_be_bytes([*a, *b]), 2),
        _ => (0, plain.len()),
    };
    if inner != protocol::IPV4 {
        // Stateful: garbage here means the keys are out of step (MPPE
        // has no integrity check). Treat it as a loss: discard until a
        // flushed packet and ask for one (RFC 3078 §8.2). The packet did
        // decrypt, so the last request was answered and a new one is due
        // at once; `resynchronise` is true only when the decrypter was in
        // step, so a run of such packets asks once, and the repeats go by
        // RESET_REQUEST_REPEAT through AwaitingFlush.
        let reset = m.decrypter.resynchronise();
        let mut received = fail(counters, Error::InnerProtocol { protocol: inner }, reset);
        received.synchronised = !reset;
        return received;
    }
    Received {
        result: Ok(Delivered {
            start: inner_start + inner_len,
            len: decrypted.len - inner_len,
        }),
        reset_request: false,
        synchronised: true,
    }
}

/// MPPE start keys from the authentication's key material (RFC 3079).
#[cfg(feature = "mppe")]
fn start_keys(material: &auth::MppeKeyMaterial, role: Role) -> mppe::StartKeys {
    use mppe::keys::{mschapv1_start_key, mschapv2_start_keys, Side};
    match material {
        auth::MppeKeyMaterial::MsChapV2 {
            password_hash_hash,
            nt_response,
        } => {
            let side = match role {
                Role::Server => Side::Server,
                Role::Client => Side::Client,
            };
            mschapv2_start_keys(password_hash_hash, nt_response, side)
        }
        // RFC 3079 §2.4 NT-based key for every strength (what pppd and
        // Linux do for 40/56-bit too).
        auth::MppeKeyMaterial::MsChapV1 {
            password_hash_hash,
            challenge,
            ..
        } => mppe::StartKeys::symmetric(mschapv1_start_key(challenge, password_hash_hash)),
        auth::MppeKeyMaterial::External { send_key, recv_key } => mppe::StartKeys {
            send: mppe::StartKey::from_bytes(*send_key),
            receive: mppe::StartKey::from_bytes(*recv_key),
        },
    }
}
