//! The endpoint's vocabulary: handles, the one `Transmit`, events, end
//! reasons, configuration, errors and counters.

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Range;

use ppp_core::auth::throttle::{ThrottleConfig, ThrottleStats};
use ppp_core::auth::{AuthRequest, FailureReason, Method, Verdict, Verifier};
use ppp_core::link::{Counters, LinkConfig, MppeInfo, MppeStats};

use crate::control::{CallDownReason, Config as ControlConfig, NameBytes, TunnelDownReason};
use crate::control::{CallParams, TunnelStats};
use crate::gre::GreStatus;
use crate::time::{Duration, Instant};

/// Most slots an endpoint can have: our call IDs carry the slot number
/// (`call ID mod slots`), and each slot needs at least one nonzero call
/// ID besides it in the 16-bit space (RFC 2637 §2.7: the Call ID is 16
/// bits).
pub const MAX_SLOTS: usize = 32_768;

/// Longest user name a parked session keeps (the PIX's `vpdn username`
/// limit is 64 octets too). A session whose peer sent a longer name is
/// kept unparked, because the full link needs the name back when it is
/// rebuilt.
pub const USER_NAME_MAX: usize = 64;

/// Randomness from the host: the crate never draws its own. Used for LCP
/// Magic-Numbers, CHAP challenges and call IDs, which must be
/// unpredictable (RFC 1994 §2.3, RFC 2637 §2.7 call IDs guard GRE
/// against blind injection only as far as they cannot be guessed).
pub trait Random {
    /// Fills `dest` with random octets.
    fn fill_bytes(&mut self, dest: &mut [u8]);
}

/// The verifier of a client or of a server whose logins go to an external
/// AAA server: it has no values, so `None::<ExternalAaa>` is the only
/// choice, and logins surface as [`Event::AuthRequest`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExternalAaa {}

impl Verifier for ExternalAaa {
    fn decide(&self, _request: &AuthRequest) -> Verdict {
        match *self {}
    }
}

/// A control connection (one TCP connection to port 1723), as the host
/// names it to the endpoint. Handles of closed connections are never
/// reused for the same slot while the endpoint lives: a generation count
/// tells them apart.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnectionHandle(pub u32);

/// A session: a call on a control connection and its PPP link. The first
/// call on a connection shares its slot, so its handle has the
/// connection's handle value (`SessionHandle(connection.0)`); further
/// calls (pptp-linux multiplexes them) have their own: ask
/// [`Endpoint::connection_of`](super::Endpoint::connection_of).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionHandle(pub u32);

/// Where the bytes of a [`Transmit`] go.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Destination {
    /// Write them to this control connection's TCP stream.
    Tcp(ConnectionHandle),
    /// Send them as one GRE datagram (IP protocol 47) to this address.
    Gre(Ipv4Addr),
    /// Hand this IPv4 packet, received through the session, to the host's
    /// network stack (its TUN device).
    Ip(SessionHandle),
}

// `core::net::Ipv4Addr` has no `defmt::Format`: the address is logged as
// its four octets.
#[cfg(feature = "defmt")]
impl defmt::Format for Destination {
    fn format(&self, f: defmt::Formatter<'_>) {
        match self {
            Destination::Tcp(c) => defmt::write!(f, "Tcp({=u32})", c.0),
            Destination::Gre(a) => {
                let [a, b, c, d] = a.octets();
                defmt::write!(f, "Gre({=u8}.{=u8}.{=u8}.{=u8})", a, b, c, d)
            }
            Destination::Ip(s) => defmt::write!(f, "Ip({=u32})", s.0),
        }
    }
}

/// Bytes the endpoint wrote at the start of the caller's buffer, and
/// where they go: the crates' one [`Transmit`](crate::Transmit) with a
/// [`Destination`].
pub type Transmit = crate::Transmit<Destination>;

/// An IPv4 packet [`Endpoint::handle_gre`](super::Endpoint::handle_gre)
/// decrypted in place.
#[must_use = "the packet is lost unless the host delivers it"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Delivered {
    /// The session it arrived on.
    pub session: SessionHandle,
    /// Where it lies in the datagram buffer.
    pub range: Range<usize>,
}

/// An IPv4 packet from the host on its way into the tunnel, and how far
/// [`Endpoint::send_ip`](super::Endpoint::send_ip) has got with it. A
/// packet that fits the session goes out in one call; a longer one with
/// DF clear goes out one fragment per call (RFC 791 §2.3), so the host
/// calls `send_ip` with the same `Outbound` until it returns `Ok(None)`.
/// No copy of the packet is kept: the cursor borrows it.
#[must_use = "a packet may need more than one send_ip call"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Outbound<'a> {
    pub(crate) packet: &'a [u8],
    pub(crate) next: NextPart,
}

/// What [`Outbound`]'s next `send_ip` call sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum NextPart {
    /// Nothing yet: route the packet and decide.
    Start,
    /// The fragment whose data starts at `offset`, on `session`.
    Fragment {
        session: SessionHandle,
        offset: usize,
    },
    /// Everything has been sent (or refused).
    Done,
}

impl<'a> Outbound<'a> {
    /// The IPv4 packet `packet`, read from the TUN device.
    pub fn new(packet: &'a [u8]) -> Self {
        Outbound {
            packet,
            next: NextPart::Start,
        }
    }

    /// Whether nothing is left to send.
    pub fn is_done(&self) -> bool {
        self.next == NextPart::Done
    }
}

/// What a session did to fit IPv4 packets to the peer's MRU (per session
/// in [`SessionView::mtu`], summed in [`EndpointStats::mtu`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MtuCounters {
    /// Packets from the host cut into fragments (DF clear, RFC 791 §2.3).
    pub fragmented: u64,
    /// Fragments sent for them.
    pub fragments: u64,
    /// ICMP "fragmentation needed" errors given to the host for packets
    /// with DF set (RFC 1191 §4).
    pub frag_needed: u64,
    /// TCP SYNs whose MSS option was lowered, either direction.
    pub mss_clamped: u64,
}

/// What [`Endpoint::handle_tcp`](super::Endpoint::handle_tcp) did with the
/// bytes.
#[must_use = "bytes not consumed must be offered again"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TcpInput {
    /// All of them were taken.
    Consumed,
    /// The first `consumed` octets were taken; the rest must wait (no
    /// full control machine was free to rebuild a parked connection, or
    /// its reply queue is full). Offer the rest again after the next
    /// [`poll_transmit`](super::Endpoint::poll_transmit) round; stop
    /// reading the socket meanwhile (TCP back-pressure).
    Blocked {
        /// Octets taken.
        consumed: usize,
    },
    /// The connection is unknown or closed; drop the bytes.
    Closed,
}

/// Why an incoming control connection was refused. The host closes the
/// socket at once (RFC 2637 has no message for it before SCCRQ; a full
/// server that took the connection would answer SCCRP result 2 / error 4,
/// which needs a machine it does not have).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AcceptError {
    /// Every slot is taken.
    NoSlot,
    /// Every full control machine not reserved for established sessions
    /// is busy with a connection that has not finished starting up.
    NoEngine,
    /// `max_sessions` is reached.
    MaxSessions,
    /// This endpoint is a client or is shutting down.
    NotAccepting,
    /// The peer's address holds as many control connections as
    /// [`Limits::max_connections_per_source`](super::Limits) allows: close
    /// the TCP connection.
    SourceLimit,
}

impl fmt::Display for AcceptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AcceptError::NoSlot => "no free session slot",
            AcceptError::NoEngine => "no free control machine (too many connections starting up)",
            AcceptError::MaxSessions => "max_sessions reached",
            AcceptError::NotAccepting => "not accepting connections",
            AcceptError::SourceLimit => "too many connections from this address",
        })
    }
}

/// Why a GRE datagram was not taken. Every case is counted in
/// [`EndpointStats`]; none of them needs an answer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GreInputError {
    /// Not an enhanced GRE header (RFC 2637 §4.1).
    Malformed,
    /// No session has this call ID.
    UnknownCall(u16),
    /// The call exists but the datagram came from another address than
    /// its control connection's peer.
    WrongPeer,
    /// The GRE layer dropped it (duplicate, stale, out of window); see
    /// the session's GRE counters.
    Dropped,
    /// The PPP link refused the frame (see its counters).
    Link,
    /// The frame proved nothing: too far ahead in sequence to be taken on
    /// trust and not a packet that could prove itself, or a frame that
    /// made no sense to the link (malformed, or MPPE that did not decrypt
    /// to a valid packet). A forged or corrupt packet; nothing changed
    /// (see [`GreSession::open`](crate::gre::GreSession::open)).
    Unproven,
    /// A parked link needed its full machine and none was free; PPP will
    /// retransmit.
    NoEngine,
}

/// Why [`Endpoint::send_ip`](super::Endpoint::send_ip) sent nothing.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpSendError {
    /// No session has this destination address (server) or no session is
    /// up (client).
    NoRoute,
    /// The session's link does not carry IP yet (or, MS-CHAPv1 on
    /// `MsChapV1Keys::Auto`, waits for the peer's first packet to learn
    /// its MPPE key).
    NotReady,
    /// The peer's GRE receive window is full (RFC 2637 §4.2): the
    /// [`Outbound`] is left as it was; offer it again after the next
    /// datagram from the peer (acks open the window) or drop it.
    WindowFull,
    /// The packet does not fit the buffer, or it has DF set and does not
    /// fit the peer's MRU where RFC 1122 §3.2.2 forbids an ICMP answer
    /// (or it cannot be fragmented).
    TooBig,
    /// The packet is empty, or is longer than the session carries and not
    /// a well-formed IPv4 packet.
    Invalid,
}

impl fmt::Display for IpSendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IpSendError::NoRoute => "no session for this address",
            IpSendError::NotReady => "session not carrying IP yet",
            IpSendError::WindowFull => "peer's GRE window full",
            IpSendError::TooBig => "packet too big for the link or buffer",
            IpSendError::Invalid => "not an IPv4 packet",
        })
    }
}

/// Why a session ended: the layer that ended it, with that layer's own
/// reason nested (quinn's error nesting), so no reason is mapped by hand.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SessionEnd {
    /// The PPP link ended (authentication, keepalive, negotiation, the
    /// peer's Terminate-Request, an administrative clear).
    Link(ppp_core::link::EndReason),
    /// The PPTP call went down (Call-Clear-Request, Call-Disconnect-
    /// Notify, refusal, time-out).
    Call(CallDownReason),
    /// The control connection went down (Stop-Control-Connection,
    /// keepalive, protocol error).
    Tunnel(TunnelDownReason),
    /// The host reported the TCP connection closed or broken.
    ConnectionLost,
    /// No free PPP machine for a new call (OCRP result 2, error 4).
    NoResource,
    /// The session was not up (authenticated, IPCP Opened) within
    /// [`Limits::setup_timeout`](super::Limits) of its call's set-up.
    SetupTimeout,
}

impl SessionEnd {
    /// The Windows RAS error number a user of a Windows client sees for
    /// this end, where one applies (691 authentication, 732 no common
    /// protocol, 742 encryption, 720 no address, 718 negotiation time-out).
    pub fn windows_error(&self) -> Option<u32> {
        match self {
            SessionEnd::Link(reason) => reason.windows_error(),
            // What Windows reports when PPP negotiation does not finish.
            SessionEnd::SetupTimeout => Some(718),
            _ => None,
        }
    }
}

impl fmt::Display for SessionEnd {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionEnd::Link(r) => write!(f, "PPP: {r}"),
            SessionEnd::Call(r) => write!(f, "PPTP call: {r}"),
            SessionEnd::Tunnel(r) => write!(f, "PPTP control connection: {r}"),
            SessionEnd::ConnectionLost => f.write_str("TCP connection lost"),
            SessionEnd::NoResource => f.write_str("no resources for the call"),
            SessionEnd::SetupTimeout => f.write_str("not up within the set-up time-out"),
        }
    }
}

/// A user name as the peer sent it (or as a client sent it), truncated to
/// [`USER_NAME_MAX`] octets for events and views.
pub type UserName = heapless::Vec<u8, USER_NAME_MAX>;

/// What the endpoint tells the host.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// A control connection finished its start-up (SCCRQ/SCCRP, RFC 2637
    /// §2.1, §2.2).
    TunnelUp {
        /// The connection.
        connection: ConnectionHandle,
        /// The peer's Host Name.
        host_name: NameBytes,
        /// The peer's Vendor String.
        vendor: NameBytes,
    },
    /// A call came up; PPP starts on it.
    CallUp {
        /// The session.
        session: SessionHandle,
        /// Our call ID (in the peer's GRE packets).
        local_call_id: u16,
        /// The peer's call ID (in ours).
        peer_call_id: u16,
    },
    /// External AAA: take the request with
    /// [`Endpoint::take_auth_request`](super::Endpoint::take_auth_request),
    /// decide, and answer with
    /// [`Endpoint::auth_verdict`](super::Endpoint::auth_verdict). An
    /// attempt while the user or the peer's address is blocked by the
    /// login throttle never comes out: it is refused untested.
    AuthRequest {
        /// The session.
        session: SessionHandle,
    },
    /// The peer proved itself (server) or we were accepted (client).
    Authenticated {
        /// The session.
        session: SessionHandle,
        /// The method agreed in LCP.
        method: Method,
        /// The user name, as the peer sent it (server) or as we sent it.
        user: UserName,
        /// Server, local user store: the entry that accepted `user` when
        /// it is not `user` itself (`DOMAIN\bob` found `bob` under
        /// `DomainRule::StripDomain` or `ExactThenStripped`). `None` when
        /// the entry is the name as sent, with external AAA, and on a
        /// client.
        matched: Option<UserName>,
    },
    /// Server: the peer proved itself again in the Network phase
    /// ([`Endpoint::reauthenticate`](super::Endpoint::reauthenticate) or
    /// the link's periodic re-challenge, RFC 1994 §3); the session goes on
    /// with its keys. A failed re-authentication is [`Event::AuthFailed`]
    /// and ends the session.
    Reauthenticated {
        /// The session.
        session: SessionHandle,
        /// The method.
        method: Method,
    },
    /// The peer identified itself with LCP Identification (RFC 1570
    /// §2.1): Windows sends "MSRASV5.00" or "MSRASV5.20" and
    /// `MSRAS-<n>-<host name>` when LCP opens. Informational; the endpoint
    /// does not keep it (a parked session has no room), the host does
    /// (`show vpdn`).
    PeerIdentification {
        /// The session.
        session: SessionHandle,
        /// The message, at most 64 octets (longer ones are cut).
        message: ppp_core::lcp::Message,
    },
    /// Server: the peer changed its expired password (MS-CHAPv2
    /// Change-Password, RFC 2759 §7) and the local verifier accepted it;
    /// [`Event::Authenticated`] follows. The endpoint has already handed
    /// the new hash to the verifier
    /// ([`Verifier::store_password_change`]); a host that keeps its users
    /// elsewhere (a file) persists `new_nt_hash` itself.
    PasswordChanged {
        /// The session.
        session: SessionHandle,
        /// The user name, as the peer sent it.
        user: UserName,
        /// Whether the verifier stored the new hash.
        stored: bool,
        /// NtPasswordHash of the new password (wiped on drop, never
        /// printed).
        new_nt_hash: ppp_core::auth::NtHash,
    },
    /// Authentication failed; [`Event::SessionDown`] follows, except on
    /// a client with [`LinkConfig::auth_retry`](ppp_core::link::LinkConfig::auth_retry)
    /// told 648 (password expired), which may answer with
    /// [`Endpoint::change_password`](super::Endpoint::change_password).
    AuthFailed {
        /// The session.
        session: SessionHandle,
        /// The method.
        method: Method,
        /// Why (its `windows_error` is what a Windows client shows).
        reason: FailureReason,
        /// The user name the peer sent, if any.
        user: UserName,
    },
    /// IPCP and CCP are up: the session carries IP.
    SessionUp {
        /// The session.
        session: SessionHandle,
        /// The peer's address (server) or ours (client).
        address: Option<Ipv4Addr>,
        /// The other end's address (client: the server's).
        peer_address: Option<Ipv4Addr>,
        /// MPPE per direction (strength, stateless or stateful), or `None`.
        mppe: Option<MppeInfo>,
        /// The largest IP packet the link carries (peer MRU minus framing).
        mtu: usize,
    },
    /// MS-CHAPv1 with 40/56-bit MPPE under `MsChapV1Keys::Auto`: which
    /// start key the peer uses, decided from its first MPPE packets
    /// (ppp-core's `LinkEvent::MsChapV1KeysDecided`; once per CCP
    /// negotiation). Until then the server sends nothing to the peer.
    MsChapV1KeysDecided {
        /// The session.
        session: SessionHandle,
        /// `Lm` (RFC 3079 §2.1, Windows) or `Nt` (pppd, Linux).
        keys: ppp_core::auth::MsChapV1Keys,
        /// `false`: no packet decrypted under either key within the
        /// trial's bound, and the link fell back to the NT-based key.
        proven: bool,
        /// MPPE packets tried under both keys.
        packets: u8,
    },
    /// The session ended; its slot is free once its connection closes.
    SessionDown {
        /// The session.
        session: SessionHandle,
        /// Why, layer by layer.
        reason: SessionEnd,
        /// The link's final counters (octets and packets each way, for
        /// accounting Stop records), zero if no link ran.
        counters: Counters,
        /// When the control connection started.
        since: Instant,
    },
    /// Close this TCP connection (after writing what `poll_transmit` gave
    /// for it): the control connection ended.
    ConnectionClosed {
        /// The connection.
        connection: ConnectionHandle,
    },
}

/// When a quiet session gives its full machines back, and when a busy one
/// takes them again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Parking {
    /// Data packets a parked session carries before it is unparked: the
    /// parked MPPE state is compact but slower (`benches/mppe.rs`).
    pub busy_packets: u16,
    /// How long an unparked session must carry no data before it parks.
    pub idle_before_park: Duration,
}

impl Default for Parking {
    fn default() -> Self {
        Parking {
            busy_packets: 64,
            idle_before_park: Duration::from_secs(10),
        }
    }
}

/// A server's settings.
#[derive(Clone, Debug)]
pub struct ServerConfig {
    /// Control connection settings (Host Name, timers).
    pub control: ControlConfig,
    /// PPP settings every session starts from.
    pub link: LinkConfig,
    /// First and last address of the pool the peers' addresses come from.
    pub pool: (Ipv4Addr, Ipv4Addr),
    /// Calls one control connection may carry, 1 to 4 (the call table
    /// each connection's slot holds, `CALLS_PER_CONNECTION`).
    /// Windows and the PIX place one per connection; pptp-linux's call
    /// manager puts every pppd dialling the same server on one connection
    /// (default 4). A call beyond it is refused with OCRP result 2 /
    /// error 4.
    pub calls_per_connection: usize,
    /// Sessions at most (the PIX's `vpdn group N client configuration
    /// address local` pool and its license limit); a call beyond it is
    /// refused with OCRP result 2 / error 4 (RFC 2637 §2.8, §2.16).
    pub max_sessions: usize,
    /// Full control and link machines kept back for sessions that are
    /// already established (to rebuild a parked one that renegotiates or
    /// tears down); new connections and calls may not take them.
    pub reserved_engines: usize,
    /// Our Packet Receive Window Size, sent in OCRP (RFC 2637 §2.8);
    /// [`DEFAULT_RECEIVE_WINDOW`] unless set.
    pub receive_window: u16,
    /// Whether we keep to the window the peer advertised (RFC 2637 §4.2,
    /// on by default). Off, we send as the Linux kernel's PPTP driver
    /// does, without flow control: the only way to get more than a few
    /// packets per round trip to pptpd and pptp-linux peers, which
    /// advertise 3 (the shared pppd capture) yet buffer far more.
    pub honour_peer_window: bool,
    /// Parking policy, or `None` to keep every session full.
    pub parking: Option<Parking>,
    /// Lower the MSS option of TCP SYNs crossing a session, either way, to
    /// what the session carries (its largest IP packet less 40; RFC 879,
    /// RFC 6691): what pppd users configure with iptables' TCPMSS target
    /// and accel-ppp does itself. On by default.
    pub mss_clamp: bool,
    /// What peers may hold before they authenticate, and per user.
    pub limits: super::Limits,
    /// Login throttling (on by default): failed logins are answered
    /// later and later, and a user or address with too many is refused
    /// untested for a while ([`ppp_core::auth::throttle`]). `None` turns
    /// it off (failed logins are still counted).
    pub login_throttle: Option<ThrottleConfig>,
    /// The share of Call IDs this endpoint allocates from: the whole
    /// space unless it is one worker of several
    /// ([`ServerConfig::worker`]).
    pub call_ids: super::CallIdShard,
}

impl ServerConfig {
    /// A server with `link`, peers' addresses from `pool_first` to
    /// `pool_last`, no session limit beyond its memory, one engine of each
    /// kind reserved, a window of [`DEFAULT_RECEIVE_WINDOW`] and the
    /// default parking policy.
    pub fn new(link: LinkConfig, pool_first: Ipv4Addr, pool_last: Ipv4Addr) -> Self {
        ServerConfig {
            control: ControlConfig::default(),
            link,
            pool: (pool_first, pool_last),
            calls_per_connection: super::memory::CALLS_PER_CONNECTION,
            max_sessions: usize::MAX,
            reserved_engines: 1,
            receive_window: DEFAULT_RECEIVE_WINDOW,
            honour_peer_window: true,
            parking: Some(Parking::default()),
            mss_clamp: true,
            limits: super::Limits::default(),
            login_throttle: Some(ThrottleConfig::default()),
            call_ids: super::CallIdShard::WHOLE,
        }
    }
}

/// A client's settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Control connection settings.
    pub control: ControlConfig,
    /// PPP settings (credentials, MPPE policy).
    pub link: LinkConfig,
    /// What the Outgoing-Call-Request carries (RFC 2637 §2.7).
    pub call: CallRequestParams,
    /// As [`ServerConfig::mss_clamp`]; on by default.
    pub mss_clamp: bool,
    /// As [`ServerConfig::honour_peer_window`]; on by default.
    pub honour_peer_window: bool,
}

/// The Packet Receive Window Size we advertise unless told otherwise
/// (RFC 2637 §2.7, §2.8: any value to 65,535). Arriving packets are not
/// held against it (they go to the host at once, see `gre`), so it costs
/// no memory; it is how many packets the peer may have in flight before
/// our acknowledgment, which must cover the round trip of two user-space
/// hosts at line rate: 64 capped a session near 0.3 Gb/s (issue #15),
/// Windows' 16 far lower. Acks go out every quarter of it.
pub const DEFAULT_RECEIVE_WINDOW: u16 = 512;

/// The owned values of an Outgoing-Call-Request (see [`CallParams`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallRequestParams {
    /// Call Serial Number.
    pub serial_number: u16,
    /// Our Packet Receive Window Size.
    pub receive_window: u16,
    /// Our Call ID, or `None` (the default) for a random one: call IDs
    /// guard GRE against blind injection only as far as they cannot be
    /// guessed (RFC 2637 §2.7). A host that runs many clients from one
    /// address through one GRE socket (a load generator) routes the
    /// server's GRE by call ID, and sets distinct ones. Used if nonzero
    /// and the endpoint has one slot (our call IDs carry the slot number).
    pub call_id: Option<u16>,
}

impl Default for CallRequestParams {
    /// What `CallParams::default()` sends, as Windows does (window 16),
    /// with a random call ID.
    fn default() -> Self {
        let p = CallParams::default();
        CallRequestParams {
            serial_number: p.serial_number,
            receive_window: p.recv_window_size,
            call_id: None,
        }
    }
}

impl ClientConfig {
    /// A client with `link` and RFC 2637's default timers.
    pub fn new(link: LinkConfig) -> Self {
        ClientConfig {
            control: ControlConfig::default(),
            link,
            call: CallRequestParams {
                receive_window: DEFAULT_RECEIVE_WINDOW,
                ..CallRequestParams::default()
            },
            mss_clamp: true,
            honour_peer_window: true,
        }
    }
}

/// The endpoint's own counters (the machines keep theirs; see
/// [`SessionView`]). Plain data for `show vpdn`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct EndpointStats {
    /// Connections accepted.
    pub connections_accepted: u64,
    /// Connections refused: at the session limit (answered with SCCRP
    /// result 2 / error 4 when the peer sends its SCCRQ) or with an
    /// [`AcceptError`].
    pub connections_refused: u64,
    /// Refusal SCCRPs (result 2, error 4) sent.
    pub refusals_answered: u64,
    /// Calls refused for `max_sessions` or lack of a free link machine.
    pub calls_refused: u64,
    /// Sessions that reached [`Event::SessionUp`].
    pub sessions_established: u64,
    /// Sessions that ended.
    pub sessions_ended: u64,
    /// GRE datagrams for no known call.
    pub gre_unknown_call: u64,
    /// GRE datagrams for a call from another address than its peer's.
    pub gre_wrong_peer: u64,
    /// Malformed GRE datagrams.
    pub gre_malformed: u64,
    /// GRE data packets that proved nothing (too far ahead to take on
    /// trust, or a frame that made no sense to the link: forged or
    /// corrupt); each was dropped without changing its call.
    pub gre_unproven: u64,
    /// Connections refused at accept: their address held
    /// `max_connections_per_source` already.
    pub source_limit_refusals: u64,
    /// Calls refused because too many calls were not up yet (in total or
    /// from the caller's address).
    pub unauthenticated_limit_refusals: u64,
    /// Calls ended because their session was not up in time.
    pub setup_timeouts: u64,
    /// Control connections closed for carrying no call.
    pub idle_connections_closed: u64,
    /// Logins refused by the per-user session limit.
    pub user_limit_refusals: u64,
    /// Frames dropped because a parked session needed a full machine and
    /// none was free.
    pub no_engine_drops: u64,
    /// PPP control frames dropped because the peer's GRE window stayed
    /// full and the wait queue was full (or the session was parked).
    pub window_drops: u64,
    /// Events dropped because the host did not poll them (the event queue
    /// holds 64).
    pub events_dropped: u64,
    /// Times a session was parked.
    pub parks: u64,
    /// Times a session was unparked.
    pub unparks: u64,
    /// Logins: tested and failed, answered late, refused while blocked,
    /// blocks started (only `failed` counts when the throttle is off).
    /// Blocked users and addresses now:
    /// [`Endpoint::logins_blocked`](super::Endpoint::logins_blocked).
    pub logins: ThrottleStats,
    /// Every session's [`MtuCounters`], summed (ended sessions included).
    pub mtu: MtuCounters,
}

/// One session as `show vpdn` lists it.
#[derive(Clone, Debug)]
pub struct SessionView<'a> {
    /// The session.
    pub session: SessionHandle,
    /// The control connection its call runs on.
    pub connection: ConnectionHandle,
    /// The control connection's peer.
    pub peer: Ipv4Addr,
    /// When the connection was accepted (server) or started (client).
    pub since: Instant,
    /// Control connection counters.
    pub tunnel: &'a TunnelStats,
    /// Whether the control connection is in its parked form.
    pub tunnel_parked: bool,
    /// Our and the peer's call ID, once the call is up.
    pub call_ids: Option<(u16, u16)>,
    /// GRE state and counters, once the call is up.
    pub gre: Option<GreStatus>,
    /// PPP counters, once the call is up.
    pub link: Option<&'a Counters>,
    /// Whether the PPP link is in its parked form.
    pub link_parked: bool,
    /// The authenticated user, as the peer sent it.
    pub user: &'a [u8],
    /// The local store's entry that accepted `user`, when it is not
    /// `user` itself (see [`Event::Authenticated`]'s `matched`).
    pub matched_user: Option<&'a [u8]>,
    /// The peer's address (server) or ours (client).
    pub address: Option<Ipv4Addr>,
    /// MPPE in use.
    pub mppe: Option<MppeInfo>,
    /// MPPE counters (resynchronisations, key changes, lost packets).
    pub mppe_stats: Option<MppeStats>,
    /// Fragmentation, ICMP and MSS clamping on this session's call.
    pub mtu: MtuCounters,
}
