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
use crate::keepalive::{Action, Keepalive, KeepaliveConfig};
use crate::time::{Duration, Instant, PackedMillis};
use crate::transmit::Transmit;
use crate::wire::frame::{protocol, FieldCompression};
use crate::wire::hdlc::DEFAULT_ACCM;
use crate::wire::lcp::{option_type, Identification, LcpOption, TimeRemaining};
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
    /// An Identification (RFC 1570 §1.1) to send each time LCP opens, as
    /// Windows does ("MSRASV5.20"); `None` (the default, as pppd) sends
    /// none.
    pub identification: Option<Message>,
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
            identification: None,
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
    /// The Windows RAS error number users know for this reason, if any:
    /// 732 (ERROR_PPP_NO_PROTOCOLS_CONFIGURED) when the authentication
    /// lists do not meet, 718 (ERROR_PPP_TIMEOUT) when the peer never
    /// answered our Configure-Requests.
    pub fn windows_error(self) -> Option<u32> {
        match self {
            EndReason::NoCommonAuth => Some(732),
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
        // The message, cut to what an event carries.
        let message = |text: &[u8]| -> Message {
            Vec::from_slice(text.get(..text.len().min(MAX_MESSAGE_LEN)).unwrap_or(&[]))
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
                if state == State::Opened && answers_our_echo(self.negotiated.local_magic, data) {
                    self.echo_reply_seen = true;
                }
                OtherCode::Rxr
            }
            Code::DiscardRequest => OtherCode::Rxr,
            Code::Identification => {
                // RFC 1570 §1.1: surface, never answer (no Code-Reject);
                // one too short for its Magic-Number is discarded.
                if let Ok(id) = Identification::parse(data) {
                    self.push_event(LcpEvent::Identification {
                        magic: id.magic,
                        message: message(id.message),
                    });
                }
                OtherCode::Handled
            }
            Code::TimeRemaining => {
                // RFC 1570 §1.2: likewise.
                if let Ok(t) = TimeRemaining::parse(data) {
                    self.push_event(LcpEvent::TimeRemaining {
                        magic: t.magic,
                        seconds: t.seconds,
                        message: message(t.message),
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
    /// The keepalive as parts (see [`Keepalive::to_parts`]).
    keepalive_since: Instant,
    keepalive_unanswered: u8,
    keepalive_running: bool,
    echo_failure: u8,
    echo_interval: PackedMillis,
}

impl ParkedLcp {
    /// The keepalive's state.
    pub(crate) fn keepalive(&self) -> Keepalive {
        Keepalive::from_parts(
            self.keepalive_since,
            self.keepalive_unanswered,
            self.keepalive_running,
        )
    }

    /// Stores the keepalive's state.
    pub(crate) fn set_keepalive(&mut self, keepalive: Keepalive) {
        (
            self.keepalive_since,
            self.keepalive_unanswered,
            self.keepalive_running,
        ) = keepalive.to_parts();
    }

    /// The keepalive's configuration as LCP had it when parked (`None`:
    /// no Echo-Requests configured).
    pub(crate) fn keepalive_config(&self) -> Option<KeepaliveConfig> {
        let interval = self.echo_interval.duration()?;
        Some(KeepaliveConfig::lcp(interval, self.echo_failure))
    }
}

/// Whether an Echo-Reply with `data` (Magic-Number first) answers us
/// (RFC 1661 §5.8): a reply carrying our own Magic-Number is our request
/// looped back, not an answer.
pub(crate) fn answers_our_echo(local_magic: Option<u32>, data: &[u8]) -> bool {
    let magic_field = data
        .get(..4)
        .map(|m| u32::from_be_bytes([m[0], m[1], m[2], m[3]]));
    local_magic.is_none() || magic_field != local_magic
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
    /// Echo-Requests (RFC 1661 §5.8) while Opened, if configured.
    keepalive: Keepalive,
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
            keepalive: Keepalive::STOPPED,
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
        let (keepalive_since, keepalive_unanswered, keepalive_running) = self.keepalive.to_parts();
        ParkedLcp {
            fsm: self.fsm.snapshot(),
            negotiated: handler.negotiated,
            magic: handler.magic,
            echo_rejected: handler.echo_rejected,
            keepalive_since,
            keepalive_unanswered,
            keepalive_running,
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
            keepalive: parked.keepalive(),
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
        if core::mem::take(&mut self.fsm.handler_mut().echo_reply_seen) {
            if let Some(config) = self.keepalive_config() {
                // No round-trip time for LCP: pppd reports none either.
                let _ = self.keepalive.on_reply(&config, now);
            }
        }
        if self.fsm.handler().failure == Some(Failure::Loopback) && self.end_reason.is_none() {
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
        let keepalive = self
            .keepalive_config()
            .and_then(|c| self.keepalive.poll_timeout(&c));
        match (self.fsm.poll_timeout(), keepalive) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Runs the restart timer and the keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.fsm.handle_timeout(now);
        if self.is_opened() {
            self.echo_tick(now);
        }
        self.collect(now);
    }

    /// The keepalive's configuration (`None`: no Echo-Requests
    /// configured).
    fn keepalive_config(&self) -> Option<KeepaliveConfig> {
        let config = self.fsm.handler().config();
        let interval = config.echo_interval?;
        Some(KeepaliveConfig::lcp(interval, config.echo_failure))
    }

    /// The keepalive, when due (RFC 1661 §5.8; pppd's `lcp-echo-interval`
    /// and `lcp-echo-failure`).
    fn echo_tick(&mut self, now: Instant) {
        let Some(config) = self.keepalive_config() else {
            self.keepalive.stop();
            return;
        };
        let action = self.keepalive.on_timeout(&config, now);
        if action == Action::Nothing {
            return;
        }
        if self.fsm.handler().echo_rejected {
            // The peer Code-Rejected Echo-Request: keepalive is then
            // impossible; the link lives on.
            self.keepalive.stop();
            return;
        }
        if action == Action::Dead {
            self.keepalive.stop();
            self.close(now, EndReason::KeepaliveLost);
            return;
        }
        let id = self.fsm.next_identifier();
        let magic = self.fsm.handler().echo_magic().to_be_bytes();
        self.fsm.send_packet(Code::EchoRequest, id, &magic);
        self.keepalive.request_sent(now);
    }

    /// The next LCP packet to send (Code onwards) into `buf`.
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit<u16>> {
        self.fsm.poll_transmit(buf)
    }

    /// The next LCP packet as a whole PPP frame (`ff 03 c0 21` + packet:
    /// LCP is never compressed, RFC 1661 §6.5/§6.6).
    pub fn poll_transmit_frame(&mut self, buf: &mut [u8]) -> Option<Transmit<u16>> {
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

    /// Sends the configured Identification (RFC 1570 §1.1) with our
    /// Magic-Number (0 when none was negotiated), after the Configure-Ack
    /// that opened LCP, as Windows does.
    fn send_identification(&mut self) {
        let Some(text) = self.fsm.handler().config.identification.clone() else {
            return;
        };
        let identification = Identification {
            magic: self.negotiated().local_magic.unwrap_or(0),
            message: &text,
        };
        let mut data = [0u8; 4 + MAX_MESSAGE_LEN];
        if let Ok(len) = identification.emit(&mut data) {
            let id = self.fsm.next_identifier();
            self.fsm
                .send_packet(Code::Identification, id, data.get(..len).unwrap_or(&[]));
        }
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
                    self.keepalive = match self.keepalive_config() {
                        Some(_) => Keepalive::started(now),
                        None => Keepalive::STOPPED,
                    };
                    self.send_identification();
                    self.push(LcpEvent::Up);
                }
                LayerEvent::Down(_) => {
                    self.keepalive.stop();
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
mod tests;
