//! The Link Control Protocol (RFC 1661 §5-§6, RFC 1570 codes 12-13):
//! the LCP option handler for the shared [`crate::fsm`] automaton, plus
//! keepalive, loopback detection and the extra LCP codes.
//!
//! [`Lcp`] is the machine a link drives: it owns an
//! [`Fsm<LcpOptions>`](crate::fsm::Fsm), adds the Echo keepalive timer and
//! turns the automaton's layer events into [`LcpEvent`]s with typed
//! [`EndReason`]s.
//!
//! Options: MRU, ACCM, Authentication-Protocol, Magic-Number, PFC and ACFC
//! are negotiated; every other option the peer sends (Quality-Protocol,
//! Callback, MRRU, Endpoint Discriminator, unknown) is Configure-Rejected,
//! as the PIX did with Windows (see `ORIGIN.md`).
//!
//! Authentication: as authenticator we ask for the first method of
//! [`LcpConfig::auth_required`] and, when the peer Naks, take its
//! suggestion if it is in our list and not yet tried, else the next
//! untried method; when none is left, or the peer rejects authentication,
//! LCP closes with [`EndReason::NoCommonAuth`] (Windows error 732). As the
//! authenticated peer we Ack any method in [`LcpConfig::auth_allowed`] and
//! Nak with our first choice otherwise.
//!
//! Magic numbers come from the host: [`Lcp::new`] takes the first and
//! [`Lcp::supply_magic`] refills a small pool used when a new one is
//! needed (loopback suspicion, RFC 1661 §6.4). When the pool runs dry the
//! machine derives a different value from the old one and raises
//! [`LcpEvent::MagicNumbersLow`].

use core::fmt;

use heapless::{Deque, Vec};

use crate::fsm::{
    self, Cause, Fsm, LayerEvent, OptionHandler, Options, OtherCode, Outbox, Progress,
    ResponseBuilder, State, Verdict,
};
use crate::time::{Duration, Instant, PackedMillis};
use crate::wire::frame::{protocol, FieldCompression};
use crate::wire::hdlc::DEFAULT_ACCM;
use crate::wire::lcp::{option_type, LcpOption};
use crate::wire::packet::{Code, OptionWriter, Packet, RawOption};
use crate::wire::Error as WireError;

pub use crate::wire::lcp::AuthMethod;

/// The most authentication methods a list holds.
pub const MAX_AUTH_METHODS: usize = 4;
/// The most octets of an Identification or Time-Remaining message kept.
pub const MAX_MESSAGE_LEN: usize = 64;
/// Host-supplied magic numbers kept in reserve.
pub const MAGIC_POOL: usize = 4;
/// The default MRU (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;

/// LCP settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LcpConfig {
    /// Restart timer and counters.
    pub fsm: fsm::Config,
    /// MRU to request; `None` leaves the default 1500 unrequested.
    pub mru: Option<u16>,
    /// The smallest peer MRU accepted; smaller values are Nak'd with it.
    pub min_peer_mru: u16,
    /// ACCM to request (async HDLC links); `None` on GRE, where it means
    /// nothing (RFC 2637 §4).
    pub accm: Option<u32>,
    /// Whether the peer's ACCM option is accepted; the PIX rejected it.
    pub accept_peer_accm: bool,
    /// Whether to negotiate a Magic-Number.
    pub magic_number: bool,
    /// Request Protocol-Field-Compression (peer may send 1-octet protocol).
    pub request_pfc: bool,
    /// Request Address-and-Control-Field-Compression.
    pub request_acfc: bool,
    /// Accept the peer's PFC request (we may then compress when sending).
    pub accept_pfc: bool,
    /// Accept the peer's ACFC request.
    pub accept_acfc: bool,
    /// Authenticator role: methods the peer must use, best first. Empty:
    /// do not ask the peer to authenticate.
    pub auth_required: Vec<AuthMethod, MAX_AUTH_METHODS>,
    /// Authenticated-peer role: methods we will authenticate ourselves
    /// with, best first. Empty: reject any request to authenticate.
    pub auth_allowed: Vec<AuthMethod, MAX_AUTH_METHODS>,
    /// Echo-Request interval once Opened (pppd `lcp-echo-interval`).
    pub echo_interval: Option<Duration>,
    /// Unanswered Echo-Requests before the link is declared dead (pppd
    /// `lcp-echo-failure`).
    pub echo_failure: u8,
    /// Configure-Requests carrying our own Magic-Number before the link is
    /// declared looped back.
    pub loopback_limit: u8,
}

impl Default for LcpConfig {
    fn default() -> Self {
        LcpConfig {
            fsm: fsm::Config::default(),
            mru: None,
            min_peer_mru: 128,
            accm: None,
            accept_peer_accm: true,
            magic_number: true,
            request_pfc: true,
            request_acfc: true,
            accept_pfc: true,
            accept_acfc: true,
            auth_required: Vec::new(),
            auth_allowed: Vec::new(),
            echo_interval: None,
            echo_failure: 5,
            loopback_limit: 5,
        }
    }
}

impl LcpConfig {
    /// The PIX 6.3 dial-in server of the origin document: MS-CHAPv1 only,
    /// Magic-Number, PFC, ACFC; the client's ACCM is rejected.
    pub fn pix_server() -> Self {
        let mut auth_required = Vec::new();
        let _ = auth_required.push(AuthMethod::MsChapV1);
        LcpConfig {
            accept_peer_accm: false,
            auth_required,
            ..LcpConfig::default()
        }
    }

    /// Sets the authenticator list from a slice (extra entries ignored).
    pub fn with_auth_required(mut self, methods: &[AuthMethod]) -> Self {
        self.auth_required = methods.iter().copied().take(MAX_AUTH_METHODS).collect();
        self
    }

    /// Sets the authenticated-peer list from a slice.
    pub fn with_auth_allowed(mut self, methods: &[AuthMethod]) -> Self {
        self.auth_allowed = methods.iter().copied().take(MAX_AUTH_METHODS).collect();
        self
    }
}

/// What LCP agreed, both directions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Negotiated {
    /// Largest packet the peer receives: we must not send more.
    pub peer_mru: u16,
    /// Largest packet we said we receive.
    pub local_mru: u16,
    /// ACCM for what we send (the peer's request).
    pub tx_accm: u32,
    /// ACCM for what we receive (our request).
    pub rx_accm: u32,
    /// Compression we may use when sending (peer's PFC/ACFC acknowledged).
    pub send: FieldCompression,
    /// Compression the peer may use towards us (ours acknowledged).
    pub receive: FieldCompression,
    /// Our Magic-Number, if negotiated.
    pub local_magic: Option<u32>,
    /// The peer's Magic-Number, if negotiated.
    pub peer_magic: Option<u32>,
    /// The method the peer must authenticate itself to us with.
    pub peer_auth: Option<AuthMethod>,
    /// The method we must authenticate ourselves to the peer with.
    pub local_auth: Option<AuthMethod>,
}

impl Default for Negotiated {
    fn default() -> Self {
        Negotiated {
            peer_mru: DEFAULT_MRU,
            local_mru: DEFAULT_MRU,
            tx_accm: DEFAULT_ACCM,
            rx_accm: DEFAULT_ACCM,
            send: FieldCompression::NONE,
            receive: FieldCompression::NONE,
            local_magic: None,
            peer_magic: None,
            peer_auth: None,
            local_auth: None,
        }
    }
}

/// Why LCP ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EndReason {
    /// The host closed the link.
    AdminClose,
    /// The peer sent Terminate-Request.
    PeerTerminated,
    /// The authentication lists of the two sides do not meet (Windows:
    /// "error 732: could not agree on PPP control protocols").
    NoCommonAuth,
    /// Echo-Requests went unanswered (keepalive).
    KeepaliveLost,
    /// The link is looped back (our Magic-Number came back).
    Loopback,
    /// Configure-Requests went unanswered (Max-Configure).
    NegotiationTimeout,
    /// The peer Code-Rejected an essential LCP code or Protocol-Rejected
    /// LCP.
    PeerRejectedLcp,
    /// The lower layer (the PPTP call) went down.
    LowerLayerDown,
}

impl EndReason {
    /// The Windows RAS error number users know for this reason, if any.
    pub fn windows_error(self) -> Option<u16> {
        match self {
            EndReason::NoCommonAuth => Some(732),
            _ => None,
        }
    }

    /// A short description (also the Terminate-Request data we send).
    pub fn description(self) -> &'static str {
        match self {
            EndReason::AdminClose => "administrative close",
            EndReason::PeerTerminated => "peer terminated the link",
            EndReason::NoCommonAuth => "could not agree on PPP control protocols",
            EndReason::KeepaliveLost => "peer not responding to echo requests",
            EndReason::Loopback => "link is looped back",
            EndReason::NegotiationTimeout => "LCP negotiation timed out",
            EndReason::PeerRejectedLcp => "peer rejected LCP",
            EndReason::LowerLayerDown => "lower layer down",
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

/// A bounded message carried by Identification or Time-Remaining.
pub type Message = Vec<u8, MAX_MESSAGE_LEN>;

/// What LCP tells the link.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LcpEvent {
    /// LCP needs the lower layer (tls).
    Started,
    /// LCP is Opened: see [`Lcp::negotiated`]; authentication may start.
    Up,
    /// LCP left Opened (renegotiation or termination follows).
    Down,
    /// LCP is done; the link ends for `reason`.
    Finished(EndReason),
    /// The peer identified itself (RFC 1570 §1.1; Windows sends
    /// "MSRASV5.00" and `MSRAS-1-<host>`). Never answered.
    Identification {
        /// The sender's Magic-Number field.
        magic: u32,
        /// The message (truncated to [`MAX_MESSAGE_LEN`]).
        message: Message,
    },
    /// The peer announced the time left in the session (RFC 1570 §1.2).
    TimeRemaining {
        /// The sender's Magic-Number field.
        magic: u32,
        /// Seconds remaining.
        seconds: u32,
        /// The message (truncated).
        message: Message,
    },
    /// The peer Protocol-Rejected `protocol`: stop that NCP (RFC 1661
    /// §5.7).
    ProtocolRejected(u16),
    /// The magic-number pool is empty: call [`Lcp::supply_magic`].
    MagicNumbersLow,
}

/// Which side of the authentication lists failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Failure {
    NoCommonAuth,
    Loopback,
}

/// The LCP option handler plugged into the automaton.
#[derive(Clone, Debug)]
pub struct LcpOptions {
    config: LcpConfig,
    /// What our next Configure-Request asks for.
    want_mru: Option<u16>,
    want_accm: Option<u32>,
    want_auth: Option<AuthMethod>,
    want_magic: Option<u32>,
    want_pfc: bool,
    want_acfc: bool,
    /// Methods of `auth_required` tried so far (bit i = index i).
    auth_tried: u8,
    /// Our current Magic-Number.
    magic: u32,
    magic_pool: Deque<u32, MAGIC_POOL>,
    magic_low: bool,
    loopback_count: u8,
    nakked_auth: bool,
    failure: Option<Failure>,
    negotiated: Negotiated,
    echo_reply_seen: bool,
    echo_rejected: bool,
    events: Deque<LcpEvent, 4>,
}

impl LcpOptions {
    /// A handler for `config` starting with Magic-Number `magic`.
    pub fn new(config: LcpConfig, magic: u32) -> Self {
        let mut handler = LcpOptions {
            config,
            want_mru: None,
            want_accm: None,
            want_auth: None,
            want_magic: None,
            want_pfc: false,
            want_acfc: false,
            auth_tried: 0,
            magic: if magic == 0 { 1 } else { magic },
            magic_pool: Deque::new(),
            magic_low: false,
            loopback_count: 0,
            nakked_auth: false,
            failure: None,
            negotiated: Negotiated::default(),
            echo_reply_seen: false,
            echo_rejected: false,
            events: Deque::new(),
        };
        handler.reset_request();
        handler
    }

    /// The configuration.
    pub fn config(&self) -> &LcpConfig {
        &self.config
    }

    /// What has been agreed so far.
    pub fn negotiated(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Adds a host-supplied random value to the magic-number pool.
    pub fn supply_magic(&mut self, value: u32) {
        if value != 0 && self.magic_pool.push_back(value).is_ok() {
            self.magic_low = false;
        }
    }

    /// A fresh Magic-Number different from `avoid` (RFC 1661 §6.4).
    fn fresh_magic(&mut self, avoid: u32) -> u32 {
        while let Some(v) = self.magic_pool.pop_front() {
            if v != avoid && v != 0 {
                return v;
            }
        }
        if !self.magic_low {
            self.magic_low = true;
            self.push_event(LcpEvent::MagicNumbersLow);
        }
        // Pool empty: derive a different value (xorshift32). Not random,
        // but differs from `avoid`, which is all loopback detection needs;
        // the host is asked to refill.
        let mut x = avoid ^ 0x9e37_79b9;
        x ^= x << 13;
        x ^= x >> 17;
        x ^= x << 5;
        if x == 0 || x == avoid {
            x = avoid.wrapping_add(0x6d2b_79f5) | 1;
        }
        x
    }

    fn push_event(&mut self, event: LcpEvent) {
        if self.events.push_back(event.clone()).is_err() {
            let _ = self.events.pop_front();
            let _ = self.events.push_back(event);
        }
    }

    fn required_index(&self, method: AuthMethod) -> Option<usize> {
        self.config.auth_required.iter().position(|&m| m == method)
    }

    fn next_untried(&self) -> Option<AuthMethod> {
        self.config
            .auth_required
            .iter()
            .enumerate()
            .find(|(i, _)| self.auth_tried & (1 << i) == 0)
            .map(|(_, &m)| m)
    }

    fn mark_tried(&mut self, method: AuthMethod) {
        if let Some(i) = self.required_index(method) {
            self.auth_tried |= 1 << i;
        }
    }
}

impl OptionHandler for LcpOptions {
    fn protocol(&self) -> u16 {
        protocol::LCP
    }

    fn reset_request(&mut self) {
        let c = &self.config;
        self.want_mru = c.mru;
        self.want_accm = c.accm;
        self.want_auth = c.auth_required.first().copied();
        self.want_magic = if c.magic_number {
            Some(self.magic)
        } else {
            None
        };
        self.want_pfc = c.request_pfc;
        self.want_acfc = c.request_acfc;
        self.auth_tried = 0;
        if let Some(m) = self.want_auth {
            self.mark_tried(m);
        }
        self.failure = None;
        self.loopback_count = 0;
    }

    fn build_request(&mut self, out: &mut OptionWriter<'_>) -> Result<(), WireError> {
        // Ascending type order, as the PIX and Windows send them.
        let mut buf = [0u8; 8];
        let mut put = |opt: LcpOption<'_>, out: &mut OptionWriter<'_>| -> Result<(), WireError> {
            let n = opt.emit(&mut buf)?;
            let raw = RawOption {
                kind: buf[0],
                data: buf.get(2..n).unwrap_or(&[]),
            };
            out.push_raw(raw)
        };
        if let Some(mru) = self.want_mru {
            put(LcpOption::Mru(mru), out)?;
        }
        if let Some(accm) = self.want_accm {
            put(LcpOption::Accm(accm), out)?;
        }
        if let Some(method) = self.want_auth {
            put(LcpOption::AuthenticationProtocol(method.option()), out)?;
        }
        if let Some(magic) = self.want_magic {
            put(LcpOption::MagicNumber(magic), out)?;
        }
        if self.want_pfc {
            put(LcpOption::ProtocolFieldCompression, out)?;
        }
        if self.want_acfc {
            put(LcpOption::AddressControlFieldCompression, out)?;
        }
        Ok(())
    }

    fn process_request(&mut self, options: Options<'_>, response: &mut ResponseBuilder) {
        let mut peer = self.negotiated;
        peer.peer_mru = DEFAULT_MRU;
        peer.tx_accm = DEFAULT_ACCM;
        peer.send = FieldCompression::NONE;
        peer.peer_magic = None;
        peer.local_auth = None;
        let mut nak_buf = [0u8; 8];
        let mut auth_seen = false;
        for raw in options.iter() {
            if raw.kind == option_type::AUTHENTICATION_PROTOCOL {
                // RFC 1661 §6.2: "An implementation MUST NOT include
                // multiple Authentication-Protocol Configuration Options in
                // its Configure-Request packet." Acking two would leave the
                // method ambiguous; reject every one after the first, as
                // pppd's lcp_reqci does.
                if auth_seen {
                    response.reject(raw);
                    continue;
                }
                auth_seen = true;
            }
            let Ok(option) = LcpOption::parse(raw) else {
                // A known type with an impossible length cannot be
                // negotiated: reject it as pppd does.
                response.reject(raw);
                continue;
            };
            match option {
                LcpOption::Mru(mru) => {
                    if mru < self.config.min_peer_mru {
                        response.nak(raw, raw.kind, &self.config.min_peer_mru.to_be_bytes());
                    } else {
                        peer.peer_mru = mru;
                    }
                }
                LcpOption::Accm(accm) if self.config.accept_peer_accm => peer.tx_accm = accm,
                LcpOption::AuthenticationProtocol(auth) => {
                    let allowed = &self.config.auth_allowed;
                    match AuthMethod::from_option(&auth) {
                        _ if allowed.is_empty() => response.reject(raw),
                        Some(m) if allowed.contains(&m) => peer.local_auth = Some(m),
                        _ => {
                            // RFC 1661 §6.2: Nak with the protocol we want.
                            self.nakked_auth = true;
                            if let Some(first) = allowed.first() {
                                let opt = LcpOption::AuthenticationProtocol(first.option());
                                if let Ok(n) = opt.emit(&mut nak_buf) {
                                    response.nak(raw, raw.kind, nak_buf.get(2..n).unwrap_or(&[]));
                                }
                            }
                        }
                    }
                }
                LcpOption::MagicNumber(magic) => {
                    let ours = self.want_magic;
                    if magic == 0 || Some(magic) == ours {
                        // RFC 1661 §6.4: zero is illegal; equal to ours may
                        // be a loopback: Nak with a different value.
                        if Some(magic) == ours {
                            self.loopback_count = self.loopback_count.saturating_add(1);
                            if self.loopback_count >= self.config.loopback_limit {
                                self.failure = Some(Failure::Loopback);
                            }
                        }
                        let suggestion = self.fresh_magic(ours.unwrap_or(magic));
                        response.nak(raw, raw.kind, &suggestion.to_be_bytes());
                    } else {
                        peer.peer_magic = Some(magic);
                    }
                }
                LcpOption::ProtocolFieldCompression if self.config.accept_pfc => {
                    peer.send.protocol = true
                }
                LcpOption::AddressControlFieldCompression if self.config.accept_acfc => {
                    peer.send.address_control = true
                }
                // Quality-Protocol, Callback (Windows' CBCP), MRRU and
                // Endpoint Discriminator (Windows NT multilink), ACCM when
                // not accepted, and unknown options: Configure-Reject, as
                // the PIX did.
                _ => response.reject(raw),
            }
        }
        if response.verdict() == Verdict::Ack {
            self.negotiated.peer_mru = peer.peer_mru;
            self.negotiated.tx_accm = peer.tx_accm;
            self.negotiated.send = peer.send;
            self.negotiated.peer_magic = peer.peer_magic;
            self.negotiated.local_auth = peer.local_auth;
            self.nakked_auth = false;
        }
    }

    fn on_ack(&mut self, _options: Options<'_>) {
        // The automaton checked the Ack equals our request.
        let n = &mut self.negotiated;
        n.local_mru = self.want_mru.unwrap_or(DEFAULT_MRU);
        n.rx_accm = self.want_accm.unwrap_or(DEFAULT_ACCM);
        n.peer_auth = self.want_auth;
        n.local_magic = self.want_magic;
        n.receive = FieldCompression {
            address_control: self.want_acfc,
            protocol: self.want_pfc,
        };
        self.loopback_count = 0;
    }

    fn on_nak(&mut self, options: Options<'_>) -> Progress {
        for raw in options.iter() {
            let Ok(option) = LcpOption::parse(raw) else {
                continue;
            };
            match option {
                LcpOption::Mru(mru) if self.want_mru.is_some() || mru < DEFAULT_MRU => {
                    // The peer wants us to receive less (or more): follow,
                    // within what we accept from it as well.
                    self.want_mru = Some(mru.max(self.config.min_peer_mru));
                }
                LcpOption::Accm(accm) if self.want_accm.is_some() => {
                    // RFC 1662 §7.1: escape the union of both maps.
                    self.want_accm = Some(self.want_accm.unwrap_or(0) | accm);
                }
                LcpOption::AuthenticationProtocol(auth) => {
                    let Some(current) = self.want_auth else {
                        continue;
                    };
                    self.mark_tried(current);
                    let suggested = AuthMethod::from_option(&auth).filter(|m| {
                        self.required_index(*m)
                            .is_some_and(|i| self.auth_tried & (1 << i) == 0)
                    });
                    match suggested.or_else(|| self.next_untried()) {
                        Some(next) => {
                            self.mark_tried(next);
                            self.want_auth = Some(next);
                        }
                        None => {
                            self.failure = Some(Failure::NoCommonAuth);
                            return Progress::GiveUp;
                        }
                    }
                }
                LcpOption::MagicNumber(_) if self.want_magic.is_some() => {
                    // RFC 1661 §6.4: the peer saw our number as its own (or
                    // zero): pick a new one.
                    let new = self.fresh_magic(self.magic);
                    self.magic = new;
                    self.want_magic = Some(new);
                }
                _ => {}
            }
        }
        Progress::Continue
    }

    fn on_reject(&mut self, options: Options<'_>) -> Progress {
        for raw in options.iter() {
            match raw.kind {
                option_type::MRU => self.want_mru = None,
                option_type::ACCM => self.want_accm = None,
                // The peer refuses to authenticate at all: no common
                // method (Windows reports 732).
                option_type::AUTHENTICATION_PROTOCOL if self.want_auth.is_some() => {
                    self.failure = Some(Failure::NoCommonAuth);
                    return Progress::GiveUp;
                }
                option_type::MAGIC_NUMBER => self.want_magic = None,
                option_type::PFC => self.want_pfc = false,
                option_type::ACFC => self.want_acfc = false,
                _ => {}
            }
        }
        Progress::Continue
    }

    fn this_layer_down(&mut self) {
        self.echo_reply_seen = false;
    }

    fn code_rejected(&mut self, code: u8) -> bool {
        if code == u8::from(Code::EchoRequest) {
            // Keepalive is then impossible; the link lives on.
            self.echo_rejected = true;
        }
        !(1..=7).contains(&code)
    }

    fn handle_other(
        &mut self,
        _now: Instant,
        state: State,
        packet: &Packet<&[u8]>,
        _out: &mut Outbox<'_>,
    ) -> OtherCode {
        let data = packet.data();
        let magic_field = data
            .get(..4)
            .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
        let message = |from: usize| -> Message {
            let rest = data.get(from..).unwrap_or(&[]);
            Vec::from_slice(rest.get(..rest.len().min(MAX_MESSAGE_LEN)).unwrap_or(&[]))
                .unwrap_or_default()
        };
        match packet.code() {
            Code::ProtocolReject => {
                // RFC 1661 §5.7: Rejected-Protocol then Rejected-Information.
                let Some(p) = data.get(..2) else {
                    return OtherCode::Handled;
                };
                let rejected = u16::from_be_bytes([p[0], p[1]]);
                if rejected == protocol::LCP {
                    OtherCode::RejectCatastrophic
                } else {
                    self.push_event(LcpEvent::ProtocolRejected(rejected));
                    OtherCode::RejectPermitted
                }
            }
            Code::EchoRequest => OtherCode::EchoRequest,
            Code::EchoReply => {
                // RFC 1661 §5.8: a reply carrying our own magic is our
                // request looped back, not an answer.
                let ours = self.negotiated.local_magic;
                if state == State::Opened && (ours.is_none() || magic_field != ours) {
                    self.echo_reply_seen = true;
                }
                OtherCode::Rxr
            }
            Code::DiscardRequest => OtherCode::Rxr,
            Code::Identification => {
                // RFC 1570 §1.1: surface, never answer.
                if let Some(magic) = magic_field {
                    self.push_event(LcpEvent::Identification {
                        magic,
                        message: message(4),
                    });
                }
                OtherCode::Handled
            }
            Code::TimeRemaining => {
                if let (Some(magic), Some(s)) = (magic_field, data.get(4..8)) {
                    self.push_event(LcpEvent::TimeRemaining {
                        magic,
                        seconds: u32::from_be_bytes([s[0], s[1], s[2], s[3]]),
                        message: message(8),
                    });
                }
                OtherCode::Handled
            }
            _ => OtherCode::Unknown,
        }
    }

    fn echo_magic(&self) -> u32 {
        self.negotiated.local_magic.unwrap_or(0)
    }

    fn give_up_reason(&self) -> &[u8] {
        EndReason::NoCommonAuth.description().as_bytes()
    }
}

/// What a parked link keeps of an Opened, quiet LCP (see
/// [`crate::link::ParkedLink`]): the automaton's scalars, the agreed
/// options, our Magic-Number and the keepalive. The handler's wishes are
/// not kept: a new Configure-Request from Opened starts again from the
/// configuration (RFC 1661 §4.1; [`crate::fsm::OptionHandler::reset_request`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct ParkedLcp {
    pub(crate) fsm: fsm::Snapshot,
    pub(crate) negotiated: Negotiated,
    magic: u32,
    pub(crate) echo_rejected: bool,
    pub(crate) echo_deadline: PackedMillis,
    pub(crate) echo_outstanding: u8,
    pub(crate) echo_failure: u8,
    pub(crate) echo_interval: PackedMillis,
}

/// The LCP machine: the automaton with [`LcpOptions`], keepalive and
/// typed end reasons.
#[derive(Debug)]
pub struct Lcp {
    fsm: Fsm<LcpOptions>,
    /// Drained by the link after every input; one input causes at most
    /// four events (Down, Finished, and a handler event or two).
    events: Deque<LcpEvent, 8>,
    end_reason: Option<EndReason>,
    echo_deadline: Option<Instant>,
    echo_outstanding: u8,
    ever_opened: bool,
}

impl Lcp {
    /// A new LCP in state Initial with our first Magic-Number `magic`
    /// (host randomness; RFC 1661 §6.4).
    pub fn new(config: LcpConfig, magic: u32) -> Self {
        let fsm_config = config.fsm;
        Lcp {
            fsm: Fsm::new(LcpOptions::new(config, magic), fsm_config),
            events: Deque::new(),
            end_reason: None,
            echo_deadline: None,
            echo_outstanding: 0,
            ever_opened: false,
        }
    }

    /// Whether LCP can be parked: Opened and quiet (nothing queued, no
    /// restart timer, no handler state in flight).
    pub(crate) fn parkable(&self) -> bool {
        let handler = self.fsm.handler();
        self.fsm.is_quiet()
            && self.fsm.state() == State::Opened
            && self.events.is_empty()
            && handler.events.is_empty()
            && self.end_reason.is_none()
            && handler.failure.is_none()
            && !handler.echo_reply_seen
    }

    /// The parked form (meaningful when [`Lcp::parkable`]).
    pub(crate) fn park(&self) -> ParkedLcp {
        let handler = self.fsm.handler();
        let config = handler.config();
        ParkedLcp {
            fsm: self.fsm.snapshot(),
            negotiated: handler.negotiated,
            magic: handler.magic,
            echo_rejected: handler.echo_rejected,
            echo_deadline: PackedMillis::from_instant(self.echo_deadline),
            echo_outstanding: self.echo_outstanding,
            echo_failure: config.echo_failure,
            echo_interval: PackedMillis::from_duration(config.echo_interval),
        }
    }

    /// Queues a packet built while parked (Echo-Reply, Echo-Request) when
    /// the link is restored with it still unsent.
    pub(crate) fn send_packet(&mut self, code: Code, identifier: u8, data: &[u8]) -> bool {
        self.fsm.send_packet(code, identifier, data)
    }

    /// LCP rebuilt from its parked form and the (re-supplied) `config`.
    pub(crate) fn restore(config: LcpConfig, parked: ParkedLcp) -> Self {
        let fsm_config = config.fsm;
        let mut handler = LcpOptions::new(config, parked.magic);
        handler.negotiated = parked.negotiated;
        handler.echo_rejected = parked.echo_rejected;
        let mut fsm = Fsm::restore(handler, fsm_config, parked.fsm);
        fsm.set_peer_mru(parked.negotiated.peer_mru);
        Lcp {
            fsm,
            events: Deque::new(),
            end_reason: None,
            echo_deadline: parked.echo_deadline.instant(),
            echo_outstanding: parked.echo_outstanding,
            ever_opened: true,
        }
    }

    /// The automaton (state, counters, handler).
    pub fn fsm(&self) -> &Fsm<LcpOptions> {
        &self.fsm
    }

    /// The automaton's state.
    pub fn state(&self) -> State {
        self.fsm.state()
    }

    /// Whether LCP is Opened.
    pub fn is_opened(&self) -> bool {
        self.fsm.state() == State::Opened
    }

    /// What has been agreed (meaningful once [`LcpEvent::Up`] was seen).
    pub fn negotiated(&self) -> &Negotiated {
        self.fsm.handler().negotiated()
    }

    /// Why LCP ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    /// Adds a random value to the magic-number pool.
    pub fn supply_magic(&mut self, value: u32) {
        self.fsm.handler_mut().supply_magic(value);
    }

    /// Administrative Open.
    pub fn open(&mut self, now: Instant) {
        self.end_reason = None;
        self.ever_opened = false;
        self.fsm.open(now);
        self.collect(now);
    }

    /// The lower layer (PPTP call, serial line) is up.
    pub fn up(&mut self, now: Instant) {
        self.end_reason = None;
        self.fsm.up(now);
        self.collect(now);
    }

    /// The lower layer went down.
    pub fn down(&mut self, now: Instant) {
        self.end_reason.get_or_insert(EndReason::LowerLayerDown);
        self.fsm.down(now);
        self.collect(now);
    }

    /// Closes LCP for `reason` (Terminate-Request carries its
    /// description).
    pub fn close(&mut self, now: Instant, reason: EndReason) {
        self.end_reason = Some(reason);
        self.fsm.close(now, reason.description().as_bytes());
        self.collect(now);
    }

    /// Closes LCP for `reason`, sending `message` as the Terminate-Request
    /// data instead of the reason's description (the link's own reasons,
    /// such as "mppe required but not active").
    pub fn close_with_message(&mut self, now: Instant, reason: EndReason, message: &[u8]) {
        self.end_reason = Some(reason);
        self.fsm.close(now, message);
        self.collect(now);
    }

    /// Handles one LCP packet (the PPP information field of protocol
    /// c021).
    pub fn handle_input(&mut self, now: Instant, packet: &[u8]) -> Result<(), fsm::Error> {
        let before = self.fsm.state();
        let result = self.fsm.handle_packet(now, packet);
        let handler = self.fsm.handler_mut();
        if core::mem::take(&mut handler.echo_reply_seen) {
            self.echo_outstanding = 0;
        }
        if handler.failure == Some(Failure::Loopback) && self.end_reason.is_none() {
            self.close(now, EndReason::Loopback);
        }
        // The authenticator gave up on our Nak'd methods and terminates
        // before LCP ever opened: end now with 732, as Windows does,
        // instead of retrying until Max-Configure.
        let terminated = packet.first() == Some(&u8::from(Code::TerminateRequest));
        if terminated
            && result.is_ok()
            && before.is_negotiating()
            && self.fsm.handler().nakked_auth
            && self.end_reason.is_none()
        {
            self.close(now, EndReason::NoCommonAuth);
        }
        self.collect(now);
        result
    }

    /// When [`Lcp::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.fsm.poll_timeout(), self.echo_deadline) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the restart timer and the keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fsm.handle_timeout(now);
        if let Some(deadline) = self.echo_deadline {
            if now >= deadline && self.is_opened() {
                self.echo_tick(now);
            }
        }
        self.collect(now);
    }

    fn echo_tick(&mut self, now: Instant) {
        let config = self.fsm.handler().config();
        let (Some(interval), failure) = (config.echo_interval, config.echo_failure) else {
            self.echo_deadline = None;
            return;
        };
        if self.fsm.handler().echo_rejected {
            self.echo_deadline = None;
            return;
        }
        if self.echo_outstanding >= failure.max(1) {
            self.echo_deadline = None;
            self.close(now, EndReason::KeepaliveLost);
            return;
        }
        let id = self.fsm.next_identifier();
        let magic = self.fsm.handler().echo_magic().to_be_bytes();
        self.fsm.send_packet(Code::EchoRequest, id, &magic);
        self.echo_outstanding = self.echo_outstanding.saturating_add(1);
        self.echo_deadline = Some(now + interval);
    }

    /// The next LCP packet to send (Code onwards) into `buf`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.fsm.poll_transmit(buf)
    }

    /// The next LCP packet as a whole PPP frame (`ff 03 c0 21` + packet:
    /// LCP is never compressed, RFC 1661 §6.5/§6.6).
    pub fn poll_transmit_frame(&mut self, buf: &mut [u8]) -> Option<usize> {
        self.fsm.poll_transmit_frame(FieldCompression::NONE, buf)
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LcpEvent> {
        self.events.pop_front()
    }

    /// Sends Protocol-Reject for a frame of unknown `protocol` whose
    /// information field is `information` (RFC 1661 §5.7: only in Opened;
    /// truncated to the peer's MRU). Returns false if not sent.
    pub fn send_protocol_reject(&mut self, protocol: u16, information: &[u8]) -> bool {
        if !self.is_opened() {
            return false;
        }
        let id = self.fsm.next_identifier();
        let mut data = [0u8; fsm::MAX_PACKET_LEN - 4];
        data[..2].copy_from_slice(&protocol.to_be_bytes());
        let room = data.len() - 2;
        let take = information.len().min(room);
        data[2..2 + take].copy_from_slice(&information[..take]);
        self.fsm
            .send_packet(Code::ProtocolReject, id, &data[..2 + take])
    }

    /// Moves handler and automaton events into the LCP queue.
    fn collect(&mut self, now: Instant) {
        while let Some(e) = self.fsm.handler_mut().events.pop_front() {
            self.push(e);
        }
        while let Some(e) = self.fsm.poll_event() {
            match e {
                LayerEvent::Started => self.push(LcpEvent::Started),
                LayerEvent::Up => {
                    self.ever_opened = true;
                    let peer_mru = self.negotiated().peer_mru;
                    self.fsm.set_peer_mru(peer_mru);
                    self.echo_outstanding = 0;
                    self.echo_deadline = self.fsm.handler().config().echo_interval.map(|i| now + i);
                    self.push(LcpEvent::Up);
                }
                LayerEvent::Down(_) => {
                    self.echo_deadline = None;
                    self.push(LcpEvent::Down);
                }
                LayerEvent::Finished(cause) => {
                    let reason = self.reason_for(cause);
                    self.end_reason = Some(reason);
                    self.push(LcpEvent::Finished(reason));
                }
            }
        }
    }

    fn reason_for(&self, cause: Cause) -> EndReason {
        let handler = self.fsm.handler();
        if handler.failure == Some(Failure::NoCommonAuth) {
            return EndReason::NoCommonAuth;
        }
        if let Some(reason) = self.end_reason {
            return reason;
        }
        match cause {
            Cause::Closed | Cause::Renegotiation => EndReason::AdminClose,
            Cause::GaveUp => EndReason::NoCommonAuth,
            Cause::LowerDown => EndReason::LowerLayerDown,
            Cause::Timeout if handler.nakked_auth && !self.ever_opened => EndReason::NoCommonAuth,
            Cause::Timeout => EndReason::NegotiationTimeout,
            Cause::PeerTerminated if handler.nakked_auth && !self.ever_opened => {
                EndReason::NoCommonAuth
            }
            Cause::PeerTerminated => EndReason::PeerTerminated,
            Cause::PeerRejected => EndReason::PeerRejectedLcp,
        }
    }

    fn push(&mut self, event: LcpEvent) {
        if self.events.push_back(event.clone()).is_err() {
            let _ = self.events.pop_front();
            let _ = self.events.push_back(event);
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::String;
    use std::vec::Vec as StdVec;

    use super::*;
    use crate::wire::frame::Frame;
    use crate::wire::packet::OptionIter;

    const SEED: &str = include_str!("../tests/data/seed_frames.toml");
    const T0: Instant = Instant::from_millis(1_000);

    fn unhex(s: &str) -> StdVec<u8> {
        assert!(s.len() % 2 == 0, "odd hex {s}");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn seed() -> StdVec<toml::Value> {
        let doc: toml::Value = toml::from_str(SEED).unwrap();
        doc["vector"].as_array().unwrap().clone()
    }

    fn vector(id: &str) -> toml::Value {
        seed()
            .into_iter()
            .find(|v| v["id"].as_str() == Some(id))
            .unwrap_or_else(|| panic!("vector {id}"))
    }

    fn int(v: &toml::Value, key: &str) -> i64 {
        v[key].as_integer().unwrap()
    }

    #[test]
    fn every_seed_frame_parses_field_by_field() {
        let mut complete = 0;
        let mut prefixes = 0;
        for v in seed() {
            if v["kind"].as_str() != Some("ppp_frame") {
                continue;
            }
            let id = v["id"].as_str().unwrap();
            let bytes = unhex(v["hex"].as_str().unwrap());
            // The Windows 98 log shows a frame without ff 03: accept it
            // the way a receiver that negotiated ACFC must.
            let frame = Frame::parse(&bytes, FieldCompression::BOTH).unwrap();
            let want_proto = u16::from_str_radix(v["protocol"].as_str().unwrap(), 16).unwrap();
            assert_eq!(frame.protocol, want_proto, "{id}");
            let info = frame.information;
            let length = int(&v, "length") as usize;
            if v["complete"].as_bool().unwrap() {
                assert_eq!(bytes.len(), int(&v, "frame_length") as usize, "{id}");
                let pkt = Packet::new_checked(info).unwrap();
                assert_eq!(u8::from(pkt.code()), int(&v, "code") as u8, "{id}");
                assert_eq!(pkt.identifier(), int(&v, "identifier") as u8, "{id}");
                assert_eq!(usize::from(pkt.length()), length, "{id}");
                complete += 1;
            } else {
                // A prefix: the header parses, Length points past the data.
                assert_eq!(
                    Packet::new_checked(info),
                    Err(WireError::BadPacketLength {
                        length: length as u16,
                        available: info.len()
                    }),
                    "{id}"
                );
                prefixes += 1;
            }
            let Some(options) = v.get("options").and_then(|o| o.as_array()) else {
                continue;
            };
            // Options: every whole option the vector lists, in order.
            let data = info.get(4..info.len().min(length)).unwrap();
            let mut iter = OptionIter::new(data);
            for want in options {
                let raw = iter.next().unwrap().unwrap();
                assert_eq!(i64::from(raw.kind), int(want, "type"), "{id}");
                assert_eq!(raw.wire_len() as i64, int(want, "length"), "{id}");
                assert_eq!(raw.data, unhex(want["value"].as_str().unwrap()), "{id}");
                if want_proto == protocol::LCP {
                    let opt = LcpOption::parse(raw).unwrap();
                    let mut out = [0u8; 16];
                    let n = opt.emit(&mut out).unwrap();
                    assert_eq!(&out[2..n], raw.data, "{id} re-emits");
                    match raw.kind {
                        3 => assert!(matches!(opt, LcpOption::AuthenticationProtocol(_))),
                        5 => assert!(matches!(opt, LcpOption::MagicNumber(_))),
                        2 => assert!(matches!(opt, LcpOption::Accm(_))),
                        13 => assert!(matches!(opt, LcpOption::Callback { operation: 6, .. })),
                        7 => assert_eq!(opt, LcpOption::ProtocolFieldCompression),
                        8 => assert_eq!(opt, LcpOption::AddressControlFieldCompression),
                        k => panic!("{id}: unexpected LCP option {k}"),
                    }
                }
            }
            if v["complete"].as_bool().unwrap() {
                assert_eq!(iter.next(), None, "{id}: no options beyond the list");
            }
        }
        // 22 complete frames and 6 prefixes in the file (checked with an
        // independent count of `complete = true/false`).
        assert_eq!((complete, prefixes), (22, 6));
    }

    fn drain_frames(lcp: &mut Lcp) -> StdVec<StdVec<u8>> {
        let mut out = StdVec::new();
        let mut buf = [0u8; 1600];
        while let Some(n) = lcp.poll_transmit_frame(&mut buf) {
            out.push(buf[..n].to_vec());
        }
        out
    }

    fn events(lcp: &mut Lcp) -> StdVec<LcpEvent> {
        core::iter::from_fn(|| lcp.poll_event()).collect()
    }

    fn lcp_info(frame: &[u8]) -> &[u8] {
        Frame::parse(frame, FieldCompression::NONE)
            .unwrap()
            .information
    }

    /// The PIX of trace 1, with the Magic-Number the trace shows.
    fn pix() -> Lcp {
        let mut lcp = Lcp::new(LcpConfig::pix_server(), 0x0989_4ab4);
        lcp.open(T0);
        lcp.up(T0);
        lcp
    }

    #[test]
    fn pix_server_request_matches_the_trace_byte_for_byte() {
        let mut lcp = pix();
        let sent = drain_frames(&mut lcp);
        assert_eq!(sent.len(), 1);
        assert_eq!(
            sent[0],
            unhex(vector("trace1-ppp-01")["hex"].as_str().unwrap())
        );
    }

    #[test]
    fn pix_server_answers_windows_like_the_pix() {
        let mut lcp = pix();
        drain_frames(&mut lcp);
        // Frame 0 is a 22-octet prefix of a 27-octet frame whose Length is
        // 23: the 5 missing octets are ACFC (08 02, present in the client's
        // next request, frame 4) and Callback (0d 03 06, listed in the
        // PIX's Reject), in ascending type order as Windows sends them.
        let v0 = vector("trace1-ppp-00");
        let mut frame0 = unhex(v0["hex"].as_str().unwrap());
        frame0.extend_from_slice(&[0x08, 0x02, 0x0d, 0x03, 0x06]);
        assert_eq!(frame0.len(), int(&v0, "frame_length") as usize);
        lcp.handle_input(T0, lcp_info(&frame0)).unwrap();
        let reply = drain_frames(&mut lcp);
        assert_eq!(reply, [unhex(v0["observed_pix_reply"].as_str().unwrap())]);

        // Frame 3: the client's Ack of our request: no reply.
        let v3 = vector("trace1-ppp-03");
        lcp.handle_input(T0, lcp_info(&unhex(v3["hex"].as_str().unwrap())))
            .unwrap();
        assert!(drain_frames(&mut lcp).is_empty());
        assert_eq!(lcp.state(), State::AckRcvd);

        // Frame 4: the client's second request: Ack, as the PIX did.
        let v4 = vector("trace1-ppp-04");
        lcp.handle_input(T0, lcp_info(&unhex(v4["hex"].as_str().unwrap())))
            .unwrap();
        let reply = drain_frames(&mut lcp);
        assert_eq!(reply, [unhex(v4["observed_pix_reply"].as_str().unwrap())]);
        assert_eq!(lcp.state(), State::Opened);
        assert!(events(&mut lcp).contains(&LcpEvent::Up));
        let n = lcp.negotiated();
        assert_eq!(n.peer_auth, Some(AuthMethod::MsChapV1));
        assert_eq!(n.local_auth, None);
        assert_eq!(n.peer_magic, Some(0x0011_3721));
        assert_eq!(n.local_magic, Some(0x0989_4ab4));
        assert_eq!(n.send, FieldCompression::BOTH);
        assert_eq!(n.receive, FieldCompression::BOTH);
        assert_eq!(n.tx_accm, DEFAULT_ACCM, "the client's ACCM was rejected");
    }

    #[test]
    fn windows_nt_multilink_and_callback_options_are_rejected_in_order() {
        // Constructed like Windows NT's request (the origin document says
        // the PIX also rejected MRRU and Endpoint Discriminator from NT).
        let mut lcp = pix();
        drain_frames(&mut lcp);
        let req = [
            1u8, 7, 0, 0x25, // Configure-Request id 7, Length 37
            0x01, 0x04, 0x05, 0x78, // MRU 1400
            0x02, 0x06, 0, 0, 0, 0, // ACCM 0
            0x05, 0x06, 0x12, 0x34, 0x56, 0x78, // magic
            0x07, 0x02, 0x08, 0x02, // PFC, ACFC
            0x0d, 0x03, 0x06, // Callback (CBCP)
            0x11, 0x04, 0x06, 0x4e, // MRRU 1614
            0x13, 0x06, 0x01, 0xaa, 0xbb, 0xcc, // Endpoint Discriminator
        ];
        lcp.handle_input(T0, &req).unwrap();
        let reply = drain_frames(&mut lcp);
        let want = [
            0xff, 0x03, 0xc0, 0x21, 4, 7, 0, 0x17, 0x02, 0x06, 0, 0, 0, 0, 0x0d, 0x03, 0x06, 0x11,
            0x04, 0x06, 0x4e, 0x13, 0x06, 0x01, 0xaa, 0xbb, 0xcc,
        ];
        assert_eq!(reply, [want.to_vec()]);
    }

    #[test]
    fn identification_is_surfaced_and_never_answered() {
        let mut lcp = pix();
        drain_frames(&mut lcp);
        let mut pkt = StdVec::from([12u8, 3, 0, 0, 0x00, 0x11, 0x37, 0x21]);
        pkt.extend_from_slice(b"MSRASV5.00");
        pkt[3] = pkt.len() as u8;
        lcp.handle_input(T0, &pkt).unwrap();
        assert!(drain_frames(&mut lcp).is_empty());
        let ev = events(&mut lcp);
        assert!(ev.contains(&LcpEvent::Identification {
            magic: 0x0011_3721,
            message: Vec::from_slice(b"MSRASV5.00").unwrap()
        }));
        // Time-Remaining (code 13).
        let tr = [13u8, 4, 0, 14, 0, 0, 0, 1, 0, 0, 0x0e, 0x10, b'h', b'i'];
        lcp.handle_input(T0, &tr).unwrap();
        assert!(drain_frames(&mut lcp).is_empty());
        assert!(events(&mut lcp).contains(&LcpEvent::TimeRemaining {
            magic: 1,
            seconds: 3600,
            message: Vec::from_slice(b"hi").unwrap()
        }));
    }

    /// Delivers frames both ways until both sides are quiet.
    fn pump(a: &mut Lcp, b: &mut Lcp, now: Instant) {
        for _ in 0..50 {
            let from_a = drain_frames(a);
            let from_b = drain_frames(b);
            if from_a.is_empty() && from_b.is_empty() {
                return;
            }
            for f in from_a {
                let _ = b.handle_input(now, lcp_info(&f));
            }
            for f in from_b {
                let _ = a.handle_input(now, lcp_info(&f));
            }
        }
        panic!("no quiescence");
    }

    fn pair(server: LcpConfig, client: LcpConfig) -> (Lcp, Lcp) {
        let mut s = Lcp::new(server, 0x1111_1111);
        let mut c = Lcp::new(client, 0x2222_2222);
        for l in [&mut s, &mut c] {
            l.open(T0);
            l.up(T0);
        }
        pump(&mut s, &mut c, T0);
        (s, c)
    }

    fn server(methods: &[AuthMethod]) -> LcpConfig {
        LcpConfig::default().with_auth_required(methods)
    }

    fn client(methods: &[AuthMethod]) -> LcpConfig {
        LcpConfig::default().with_auth_allowed(methods)
    }

    use AuthMethod::*;

    #[test]
    fn client_and_server_open_with_auth_negotiated() {
        let (s, c) = pair(server(&[MsChapV2, MsChapV1]), client(&[MsChapV2, MsChapV1]));
        assert!(s.is_opened() && c.is_opened());
        assert_eq!(s.negotiated().peer_auth, Some(MsChapV2));
        assert_eq!(c.negotiated().local_auth, Some(MsChapV2));
        assert_eq!(s.negotiated().local_auth, None);
        assert_eq!(s.negotiated().peer_magic, Some(0x2222_2222));
        assert_eq!(c.negotiated().peer_magic, Some(0x1111_1111));
        assert_eq!(s.negotiated().send, FieldCompression::BOTH);
    }

    #[test]
    fn nak_driven_fallback_between_methods() {
        // The client's suggestion is in the server's list: taken.
        let (s, c) = pair(
            server(&[MsChapV2, MsChapV1, ChapMd5, Pap]),
            client(&[ChapMd5]),
        );
        assert!(s.is_opened() && c.is_opened());
        assert_eq!(s.negotiated().peer_auth, Some(ChapMd5));
        assert_eq!(c.negotiated().local_auth, Some(ChapMd5));
        // The suggestion is not in the server's list: next in the list.
        let (s, c) = pair(server(&[MsChapV2, MsChapV1]), client(&[ChapMd5, MsChapV1]));
        assert!(s.is_opened() && c.is_opened());
        assert_eq!(s.negotiated().peer_auth, Some(MsChapV1));
        // Windows 9x against a server preferring PAP (any allowed: Ack).
        let (s, _) = pair(server(&[Pap, MsChapV1]), client(&[MsChapV1, Pap]));
        assert_eq!(s.negotiated().peer_auth, Some(Pap));
    }

    #[test]
    fn no_common_method_ends_with_error_732_on_both_sides() {
        // PIX (MS-CHAPv1 only) against Vista (MS-CHAPv2 only).
        let (mut s, mut c) = pair(LcpConfig::pix_server(), client(&[MsChapV2]));
        let mut now = T0;
        for _ in 0..10 {
            now += Duration::from_secs(3);
            s.handle_timeout(now);
            c.handle_timeout(now);
            pump(&mut s, &mut c, now);
        }
        for side in [&mut s, &mut c] {
            let ev = events(side);
            assert!(
                ev.contains(&LcpEvent::Finished(EndReason::NoCommonAuth)),
                "{ev:?}"
            );
            assert_eq!(side.end_reason(), Some(EndReason::NoCommonAuth));
            assert!(!side.is_opened());
        }
        assert_eq!(EndReason::NoCommonAuth.windows_error(), Some(732));
        let mut text = String::new();
        core::fmt::write(&mut text, format_args!("{}", EndReason::NoCommonAuth)).unwrap();
        assert_eq!(text, "error 732: could not agree on PPP control protocols");

        // A client that refuses to authenticate at all rejects the option.
        // The server gives up, the client acknowledges its Terminate.
        let (mut s, _c) = pair(server(&[Pap]), client(&[]));
        let ev = events(&mut s);
        assert!(!ev.contains(&LcpEvent::Up));
        assert!(ev.contains(&LcpEvent::Finished(EndReason::NoCommonAuth)));
        assert_eq!(s.state(), State::Closed);
    }

    #[test]
    fn echo_keepalive_failure_and_success() {
        let cfg = LcpConfig {
            echo_interval: Some(Duration::from_secs(10)),
            echo_failure: 3,
            ..LcpConfig::default()
        };
        let (mut a, mut b) = pair(cfg.clone(), LcpConfig::default());
        events(&mut a);
        // Peer answers: no failure after many intervals.
        let mut now;
        for _ in 0..10 {
            now = a.poll_timeout().unwrap();
            a.handle_timeout(now);
            let sent = drain_frames(&mut a);
            assert_eq!(sent.len(), 1);
            assert_eq!(sent[0][4], 9, "Echo-Request");
            assert_eq!(&sent[0][8..12], &0x1111_1111u32.to_be_bytes());
            b.handle_input(now, lcp_info(&sent[0])).unwrap();
            let reply = drain_frames(&mut b);
            assert_eq!(reply[0][4], 10, "Echo-Reply");
            assert_eq!(&reply[0][8..12], &0x2222_2222u32.to_be_bytes());
            a.handle_input(now, lcp_info(&reply[0])).unwrap();
        }
        assert!(a.is_opened());
        // Peer silent: three unanswered requests, then the link closes.
        let mut requests = 0;
        while a.is_opened() {
            now = a.poll_timeout().unwrap();
            a.handle_timeout(now);
            requests += drain_frames(&mut a).iter().filter(|f| f[4] == 9).count();
        }
        assert_eq!(requests, 3);
        while let Some(t) = a.poll_timeout() {
            a.handle_timeout(t);
        }
        assert!(events(&mut a).contains(&LcpEvent::Finished(EndReason::KeepaliveLost)));
    }

    #[test]
    fn looped_back_link_is_detected() {
        let mut a = Lcp::new(LcpConfig::default(), 0x5555_5555);
        a.open(T0);
        a.up(T0);
        let mut now = T0;
        for _ in 0..40 {
            for f in drain_frames(&mut a) {
                let _ = a.handle_input(now, lcp_info(&f));
            }
            if a.end_reason().is_some() {
                break;
            }
            now += Duration::from_secs(3);
            a.handle_timeout(now);
        }
        assert_eq!(a.end_reason(), Some(EndReason::Loopback));
        assert!(events(&mut a).contains(&LcpEvent::MagicNumbersLow));
    }

    #[test]
    fn magic_zero_and_own_magic_are_naked_with_host_values() {
        let mut lcp = pix();
        drain_frames(&mut lcp);
        lcp.supply_magic(0xabcd_ef01);
        lcp.handle_input(T0, &[1, 5, 0, 10, 5, 6, 0, 0, 0, 0])
            .unwrap();
        let r = drain_frames(&mut lcp);
        assert_eq!(&r[0][4..], &[3, 5, 0, 10, 5, 6, 0xab, 0xcd, 0xef, 0x01]);
        // Our own number: Nak with a different one (pool empty now).
        lcp.handle_input(T0, &[1, 6, 0, 10, 5, 6, 0x09, 0x89, 0x4a, 0xb4])
            .unwrap();
        let r = drain_frames(&mut lcp);
        assert_eq!(&r[0][4..10], &[3, 6, 0, 10, 5, 6]);
        assert_ne!(&r[0][10..14], &[0x09, 0x89, 0x4a, 0xb4]);
        assert!(events(&mut lcp).contains(&LcpEvent::MagicNumbersLow));
    }

    #[test]
    fn small_peer_mru_is_naked() {
        let mut lcp = pix();
        drain_frames(&mut lcp);
        lcp.handle_input(T0, &[1, 5, 0, 8, 1, 4, 0, 64]).unwrap();
        let r = drain_frames(&mut lcp);
        assert_eq!(&r[0][4..], &[3, 5, 0, 8, 1, 4, 0, 128]);
    }

    fn opened_pair() -> (Lcp, Lcp) {
        let (mut s, mut c) = pair(LcpConfig::default(), LcpConfig::default());
        assert!(s.is_opened() && c.is_opened());
        events(&mut s);
        events(&mut c);
        (s, c)
    }

    #[test]
    fn protocol_reject_both_ways() {
        let (mut s, mut c) = opened_pair();
        assert!(s.send_protocol_reject(0x8057, &[1, 1, 0, 4]));
        let f = drain_frames(&mut s);
        assert_eq!(&f[0][4..], &[8, f[0][5], 0, 10, 0x80, 0x57, 1, 1, 0, 4]);
        c.handle_input(T0, lcp_info(&f[0])).unwrap();
        assert_eq!(events(&mut c), [LcpEvent::ProtocolRejected(0x8057)]);
        assert!(c.is_opened());
        // Protocol-Reject of LCP itself is catastrophic (RXJ-).
        c.handle_input(T0, &[8, 9, 0, 6, 0xc0, 0x21]).unwrap();
        assert_eq!(c.state(), State::Stopping);
        assert_eq!(drain_frames(&mut c)[0][4], 5, "Terminate-Request");
        // Not in Opened: not sent.
        let mut fresh = Lcp::new(LcpConfig::default(), 7);
        assert!(!fresh.send_protocol_reject(0x8057, &[]));
    }

    #[test]
    fn bad_input_is_rejected_with_typed_errors() {
        let (mut s, _c) = opened_pair();
        // Unknown code: Code-Reject carrying the packet.
        s.handle_input(T0, &[0x42, 1, 0, 6, 0xaa, 0xbb]).unwrap();
        let f = drain_frames(&mut s);
        assert_eq!(&f[0][4..], &[7, f[0][5], 0, 10, 0x42, 1, 0, 6, 0xaa, 0xbb]);
        // Configure-Request with a zero-length option.
        assert_eq!(
            s.handle_input(T0, &[1, 2, 0, 8, 5, 0, 0, 0]),
            Err(fsm::Error::Malformed(WireError::OptionLengthTooSmall {
                kind: 5,
                length: 0
            }))
        );
        // An option running past the packet.
        assert_eq!(
            s.handle_input(T0, &[1, 2, 0, 7, 5, 6, 0]),
            Err(fsm::Error::Malformed(WireError::OptionPastEnd {
                kind: 5,
                length: 6,
                available: 3
            }))
        );
        // Truncated packet, Length past the data.
        assert_eq!(
            s.handle_input(T0, &[1, 2, 0, 40, 1, 4]),
            Err(fsm::Error::Malformed(WireError::BadPacketLength {
                length: 40,
                available: 6
            }))
        );
        assert!(s.is_opened());
        assert!(drain_frames(&mut s).is_empty());
        // A known option with an impossible length is rejected, not Nak'd.
        let mut lcp = pix();
        drain_frames(&mut lcp);
        lcp.handle_input(T0, &[1, 3, 0, 9, 5, 5, 1, 2, 3]).unwrap();
        assert_eq!(
            &drain_frames(&mut lcp)[0][4..],
            &[4, 3, 0, 9, 5, 5, 1, 2, 3]
        );
    }

    #[test]
    fn peer_terminate_ends_with_reason_and_admin_close_sends_it() {
        let (mut s, mut c) = opened_pair();
        c.close(T0, EndReason::AdminClose);
        let f = drain_frames(&mut c);
        assert_eq!(f[0][4], 5);
        assert_eq!(&f[0][8..], b"administrative close");
        s.handle_input(T0, lcp_info(&f[0])).unwrap();
        assert_eq!(drain_frames(&mut s)[0][4], 6, "Terminate-Ack");
        assert_eq!(events(&mut s), [LcpEvent::Down]);
        s.handle_timeout(T0 + Duration::from_secs(3));
        assert_eq!(
            events(&mut s),
            [LcpEvent::Finished(EndReason::PeerTerminated)]
        );
        assert_eq!(s.state(), State::Stopped);
    }

    #[test]
    fn renegotiation_from_opened_goes_down_and_up_again() {
        let (mut s, mut c) = opened_pair();
        // The client restarts negotiation (RFC 1661: RCR in Opened).
        c.fsm.force_renegotiation_for_test(T0);
        pump(&mut s, &mut c, T0);
        assert_eq!(events(&mut s), [LcpEvent::Down, LcpEvent::Up]);
        assert!(s.is_opened() && c.is_opened());
    }

    #[test]
    fn echo_discard_and_code_reject_of_echo() {
        let (mut s, _c) = opened_pair();
        // Discard-Request: no answer.
        s.handle_input(T0, &[11, 1, 0, 8, 0x22, 0x22, 0x22, 0x22])
            .unwrap();
        assert!(drain_frames(&mut s).is_empty());
        // Echo-Request before Opened is silently discarded (RFC 1661 §5.8).
        let mut fresh = Lcp::new(LcpConfig::default(), 3);
        fresh.open(T0);
        fresh.up(T0);
        drain_frames(&mut fresh);
        fresh.handle_input(T0, &[9, 1, 0, 8, 0, 0, 0, 0]).unwrap();
        assert!(drain_frames(&mut fresh).is_empty());
        // A peer that Code-Rejects Echo-Request stops our keepalive but
        // keeps the link (RXJ+).
        let cfg = LcpConfig {
            echo_interval: Some(Duration::from_secs(10)),
            ..LcpConfig::default()
        };
        let (mut a, _peer) = pair(cfg, LcpConfig::default());
        assert!(a.is_opened());
        let t = a.poll_timeout().unwrap();
        a.handle_timeout(t);
        let echo = drain_frames(&mut a);
        assert_eq!(echo.len(), 1);
        let mut rej = StdVec::from([7u8, 0x33, 0, 0]);
        rej.extend_from_slice(lcp_info(&echo[0]));
        rej[3] = rej.len() as u8;
        a.handle_input(t, &rej).unwrap();
        assert!(a.is_opened());
        a.handle_timeout(t + Duration::from_secs(10));
        assert!(drain_frames(&mut a).is_empty());
        assert_eq!(a.poll_timeout(), None);
    }

    /// The PPP frames (GRE payloads) of the real pptp-linux/pppd ↔
    /// pptpd/pppd capture, in order, with their direction (true = from the
    /// client 10.0.0.3). A minimal pcapng + Ethernet + IPv4 + GRE reader.
    fn pppd_capture() -> StdVec<(bool, StdVec<u8>)> {
        let d: &[u8] = include_bytes!("../tests/data/pppd-mschapv2-mppe128-session.pcap");
        let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
        assert_eq!(u32le(d), 0x0a0d_0d0a, "pcapng section header");
        let mut frames = StdVec::new();
        let mut off = 0;
        while off + 12 <= d.len() {
            let (kind, len) = (u32le(&d[off..]), u32le(&d[off + 4..]));
            if kind == 6 {
                // Enhanced Packet Block, Ethernet link type (checked below).
                let caplen = u32le(&d[off + 20..]);
                let pkt = &d[off + 28..off + 28 + caplen];
                let ip = &pkt[14..];
                // IPv4 (ethertype 0800) carrying GRE (protocol 47).
                if pkt[12..14] == [0x08, 0x00] && ip[9] == 47 {
                    let gre = &ip[usize::from(ip[0] & 0x0f) * 4..];
                    let mut hl = 8;
                    if gre[0] & 0x10 != 0 {
                        hl += 4;
                    }
                    if gre[1] & 0x80 != 0 {
                        hl += 4;
                    }
                    if gre.len() > hl {
                        frames.push((ip[12..16] == [10, 0, 0, 3], gre[hl..].to_vec()));
                    }
                }
            }
            off += len;
        }
        frames
    }

    #[test]
    fn interoperates_with_pppd_as_captured() {
        let frames = pppd_capture();
        assert_eq!(frames.len(), 37);
        // Every frame parses as PPP with ACFC/PFC accepted; LCP ones in
        // detail. pppd (Linux ppp_generic) omits `ff 03` on LCP codes other
        // than 1-7 once ACFC is negotiated, although RFC 1661 §6.6 says LCP
        // is never compressed: the receiver accepts both.
        let mut lcp_frames = StdVec::new();
        for (from_client, f) in &frames {
            let frame = Frame::parse(f, FieldCompression::BOTH).unwrap();
            if frame.protocol == protocol::LCP {
                let pkt = Packet::new_checked(frame.information).unwrap();
                if matches!(pkt.code_octet(), 1..=4) {
                    for raw in Options::new(pkt.data()).unwrap().iter() {
                        LcpOption::parse(raw).unwrap();
                    }
                }
                lcp_frames.push((*from_client, frame.information.to_vec()));
            }
        }
        assert_eq!(lcp_frames.len(), 12);
        let info = |i: usize| lcp_frames[i].1.as_slice();

        let common = LcpConfig {
            mru: Some(1400),
            accm: Some(0),
            ..LcpConfig::default()
        };
        let mut server = Lcp::new(common.clone().with_auth_required(&[MsChapV2]), 0x392f_7c36);
        let mut client = Lcp::new(common.with_auth_allowed(&[MsChapV2]), 0xdaf6_d7ef);
        for side in [&mut server, &mut client] {
            side.open(T0);
            side.up(T0);
        }
        // Our requests are pppd's, byte for byte (frames 23 and 25).
        let mut buf = [0u8; 64];
        let n = client.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(0));
        let n = server.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(1));
        // Each answers the other's real request as pppd did (26, 27).
        client.handle_input(T0, info(1)).unwrap();
        let n = client.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(2));
        server.handle_input(T0, info(0)).unwrap();
        let n = server.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(3));
        client.handle_input(T0, info(3)).unwrap();
        server.handle_input(T0, info(2)).unwrap();
        assert!(client.is_opened() && server.is_opened());
        assert_eq!(server.negotiated().peer_auth, Some(MsChapV2));
        assert_eq!(client.negotiated().local_auth, Some(MsChapV2));
        assert_eq!(server.negotiated().peer_mru, 1400);
        assert_eq!(server.negotiated().tx_accm, 0);
        // Echo-Requests both ways get pppd's replies (frames 32, 33).
        client.handle_input(T0, info(4)).unwrap();
        let n = client.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(7));
        server.handle_input(T0, info(5)).unwrap();
        let n = server.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(6));
        // The replies reset nothing badly and are accepted.
        server.handle_input(T0, info(7)).unwrap();
        client.handle_input(T0, info(6)).unwrap();
        // The client's Terminate-Request ("MPPE disabled") gets the
        // server's Terminate-Ack (frames 65, 67).
        assert_eq!(&info(8)[4..], b"MPPE disabled");
        server.handle_input(T0, info(8)).unwrap();
        let n = server.poll_transmit(&mut buf).unwrap();
        assert_eq!(&buf[..n], info(10));
        assert_eq!(server.state(), State::Stopping);
    }
}
