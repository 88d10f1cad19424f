//! The demo session: a PPTP server and a PPTP client in one process, each
//! a [`pptp_core::endpoint::Endpoint`], joined by the in-memory network of
//! [`crate::sim`] and driven by a simulated clock.
//!
//! Every protocol step is the endpoints' own: the control connection
//! (SCCRQ/SCCRP, OCRQ/OCRP, at the end CCRQ/CDN and StopCCRQ/StopCCRP),
//! GRE with its reorder buffer, the PPP link (LCP, PAP, CHAP-MD5,
//! MS-CHAPv1, MS-CHAPv2, IPCP with the server's address pool, CCP and
//! MPPE with stateful loss recovery through CCP Reset-Request), and the
//! server's parking of quiet sessions. The hosts here do what a host
//! does: carry bytes between the endpoints and the network, keep the
//! clock, give randomness (seeded, so a run is a pure function of its
//! options), and run a tiny IP stack that sends and answers ICMP echoes.
//!
//! The transcript decodes the bytes the endpoints transmit and receive
//! with [`crate::decode`], and takes automaton states from
//! [`Endpoint::link`] while a session is unparked ("parked" otherwise).

use std::collections::VecDeque;
use std::io::Write;
use std::net::Ipv4Addr;

use mppe::{KeyStrength, ModePreference, Strengths};
use ppp_core::auth::{CredentialStore, DomainRule, Method, MsChapV1Keys, Verifier};
use ppp_core::lcp::LcpConfig;
use ppp_core::link::{Credentials, LinkConfig, MppeInfo, MppePolicy};
use ppp_core::wire::frame::{protocol, FieldCompression, Frame};
use pptp_core::control::NameBytes;
use pptp_core::endpoint::{
    ClientConfig, ConnectionHandle, Destination, Endpoint, Event, ExternalAaa, GreInputError,
    Outbound, ServerConfig, SessionEnd, SessionHandle, TcpInput,
};
use pptp_core::wire::gre::GrePacket;
use pptp_core::Instant;

use crate::decode;
use crate::host::{heap_memory, HeapMemory};
use crate::pcap::{internet_checksum, PcapWriter, Side as PcapSide};
use crate::show_vpdn::{self, SessionRow, TunnelRow};
use crate::sim::{Delivery, End, GreFate, NetConfig, Network, Rng};
use crate::transcript::Transcript;

/// Authentication method choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AuthChoice {
    /// PAP.
    Pap,
    /// CHAP-MD5.
    Chap,
    /// MS-CHAPv1.
    MsChapV1,
    /// MS-CHAPv2.
    MsChapV2,
}

impl AuthChoice {
    fn method(self) -> Method {
        match self {
            AuthChoice::Pap => Method::Pap,
            AuthChoice::Chap => Method::ChapMd5,
            AuthChoice::MsChapV1 => Method::MsChapV1,
            AuthChoice::MsChapV2 => Method::MsChapV2,
        }
    }

    /// Parses `pap|chap|mschapv1|mschapv2`.
    pub fn parse(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "pap" => AuthChoice::Pap,
            "chap" | "chap-md5" => AuthChoice::Chap,
            "mschapv1" | "ms-chap" | "mschap" => AuthChoice::MsChapV1,
            "mschapv2" | "ms-chap-v2" => AuthChoice::MsChapV2,
            _ => {
                return Err(format!(
                    "unknown auth method {s:?} (pap|chap|mschapv1|mschapv2)"
                ))
            }
        })
    }
}

/// What the demo should do.
#[derive(Clone, Debug)]
pub struct DemoOptions {
    /// Authentication method the server requires.
    pub auth: AuthChoice,
    /// MPPE strength, `None` for no encryption.
    pub mppe: Option<KeyStrength>,
    /// Stateful MPPE (default stateless).
    pub stateful: bool,
    /// Percent of GRE datagrams lost (and the same percent reordered).
    pub loss_percent: f64,
    /// Seed of the hosts' random sources and of the network's losses.
    pub seed: u64,
    /// Echo requests each side sends.
    pub pings: u16,
    /// Stateful MPPE with the deployed (pppd/Linux) meaning of the A bit
    /// instead of RFC 3078's; see `mppe::StatefulFlush`.
    pub deployed_flush: bool,
    /// Let the simulated loss hit LCP/IPCP/CCP Configure packets too
    /// (by default they are spared; see `Host::send_gre`).
    pub loss_negotiation: bool,
    /// User name.
    pub username: String,
    /// Password the client uses.
    pub password: String,
    /// Password the server has on file for the user (default: the same;
    /// set it to something else to watch authentication fail).
    pub server_password: Option<String>,
    /// The client's MS-CHAPv1 40/56-bit start key: `Lm` as Windows
    /// (RFC 3079 §2.1), `Nt` as pppd.
    pub mschapv1_keys: MsChapV1Keys,
    /// The server's: `Auto` decides from the client's first packet.
    pub server_mschapv1_keys: MsChapV1Keys,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            auth: AuthChoice::MsChapV2,
            mppe: Some(KeyStrength::Bits128),
            stateful: false,
            loss_percent: 0.0,
            seed: 1,
            pings: 3,
            deployed_flush: false,
            loss_negotiation: false,
            username: "cisco".into(),
            password: "cisco".into(),
            server_password: None,
            mschapv1_keys: MsChapV1Keys::Nt,
            server_mschapv1_keys: MsChapV1Keys::Auto,
        }
    }
}

/// How the run ended.
#[derive(Clone, Debug, Default)]
pub struct Outcome {
    /// Every step happened: tunnel, call, LCP, authentication, data, and
    /// the orderly teardown.
    pub completed: bool,
    /// Echo requests answered with an intact reply, per direction
    /// (client→server, server→client).
    pub pings_ok: (u16, u16),
    /// IP packets delivered intact at each end (client, server).
    pub ip_delivered: (u64, u64),
    /// IP packets that arrived damaged (bad checksum or payload).
    pub ip_damaged: u64,
    /// CCP Reset-Requests sent (stateful MPPE resynchronisation).
    pub reset_requests: u64,
    /// Simulated time at the end, ms.
    pub elapsed_ms: u64,
    /// The `show vpdn` table of the server, taken after the data exchange.
    pub show_vpdn: String,
    /// What went wrong, if it did not complete.
    pub failure: Option<String>,
    /// Which layers ran.
    pub layers: Vec<&'static str>,
    /// Authenticated user name (server view).
    pub username: Option<String>,
}

/// The public addresses of the two hosts (RFC 5737, as in the pcap).
const CLIENT_PUBLIC: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
const SERVER_PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The server's address inside the tunnel.
const SERVER_TUNNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The DNS server the server hands out (RFC 1877), a documentation address.
const DNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const POOL_LAST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 50);
const PING_TIMEOUT_MS: u64 = 500;
/// Echo attempts before the demo gives up (30 s). The endpoint's GRE has
/// no reorder buffer, so with `--stateful` every reordered datagram costs
/// MPPE a resynchronisation as a lost one does (RFC 3078 §8: the
/// receiver sends a Reset-Request, the sender flushes), and a lost
/// flushed packet waits for the 1 s Reset-Request repeat: at 15% loss and
/// 15% reordering one echo can need more than 20 tries.
const PING_ATTEMPTS: u32 = 60;
const SIM_LIMIT_MS: u64 = 600_000;
/// PPTP control message type of Stop-Control-Connection-Request.
const STOP_CCRQ: u16 = 3;

type ServerEndpoint = Endpoint<HeapMemory, Rng, CredentialStore<4>>;
type ClientEndpoint = Endpoint<HeapMemory, Rng, ExternalAaa>;

fn at(ms: u64) -> Instant {
    Instant::from_millis(ms)
}

/// What both hosts share: the network with its clock, the capture, the
/// transcript.
struct World {
    net: Network,
    pcap: Option<PcapWriter<Box<dyn Write>>>,
    log: Transcript,
    pcap_error: Option<String>,
}

impl World {
    fn now(&self) -> u64 {
        self.net.now_ms()
    }
    fn log(&mut self, end: End, text: impl AsRef<str>) {
        let now = self.now();
        self.log.log(now, Some(end), text);
    }
    fn capture(
        &mut self,
        f: impl FnOnce(&mut PcapWriter<Box<dyn Write>>, u64) -> std::io::Result<()>,
    ) {
        let now = self.now();
        if let Some(p) = self.pcap.as_mut() {
            if let Err(e) = f(p, now) {
                self.pcap_error.get_or_insert(e.to_string());
            }
        }
    }
}

fn pcap_side(end: End) -> PcapSide {
    match end {
        End::Client => PcapSide::Client,
        End::Server => PcapSide::Server,
    }
}

fn mppe_policy(opts: &DemoOptions, end: End) -> MppePolicy {
    let Some(strength) = opts.mppe else {
        return MppePolicy::disabled();
    };
    MppePolicy {
        // The server offers exactly the strength asked for; the client,
        // like Windows, accepts any.
        strengths: match end {
            End::Server => Strengths::only(strength),
            End::Client => Strengths::ALL,
        },
        required: true,
        mode: match (opts.stateful, end) {
            (false, _) => ModePreference::StatelessOnly,
            (true, End::Server) => ModePreference::StatefulOnly,
            (true, End::Client) => ModePreference::PreferStateless,
        },
        // RFC 3078's reading of the A bit unless --deployed-flush: both
        // ends are ours, and the deployed reading (pppd/Linux) can leave
        // the receiver a key behind for good when the flushed packet
        // answering a Reset-Request is lost (see `mppe::StatefulFlush`).
        stateful_flush: if opts.deployed_flush {
            mppe::StatefulFlush::KeyChange
        } else {
            mppe::StatefulFlush::Reinitialise
        },
        ..MppePolicy::disabled()
    }
}

fn names(host: &[u8], vendor: &[u8]) -> (NameBytes, NameBytes) {
    (
        NameBytes::from_slice(host).unwrap_or_default(),
        NameBytes::from_slice(vendor).unwrap_or_default(),
    )
}

/// The server: the PIX's `vpdn group 1 ppp authentication <method>`,
/// `ppp encryption mppe <bits>`, `client configuration address local`
/// pool and `vpdn username`, with the endpoint's default parking.
fn server_endpoint(opts: &DemoOptions, random: Rng) -> Result<ServerEndpoint, String> {
    let mut users = CredentialStore::new(DomainRule::default());
    let password = opts.server_password.as_ref().unwrap_or(&opts.password);
    users
        .insert_password(opts.username.as_bytes(), password.as_bytes())
        .map_err(|e| format!("user: {e:?}"))?;
    let mut link = LinkConfig::server(SERVER_TUNNEL_IP, [Some(DNS), None]);
    link.lcp = LcpConfig::default().with_auth_required(&[opts.auth.method()]);
    link.authenticator.name = ppp_core::auth::Name::from_slice(b"demo-server").unwrap_or_default();
    link.mppe = mppe_policy(opts, End::Server);
    link.mschapv1_keys = opts.server_mschapv1_keys;
    let mut config = ServerConfig::new(link, POOL_FIRST, POOL_LAST);
    (config.control.host_name, config.control.vendor_string) =
        names(b"demo-server", b"pptp-demo server");
    config.control.maximum_channels = 4;
    Endpoint::server(config, heap_memory(4, 2), random, Some(users))
        .map_err(|e| format!("server: {e:?}"))
}

/// The client: one call, with the user's credentials (Windows' window of
/// 16 in its OCRQ).
fn client_endpoint(opts: &DemoOptions, random: Rng) -> Result<ClientEndpoint, String> {
    let credentials = Credentials::password(opts.username.as_bytes(), opts.password.as_bytes())
        .map_err(|e| format!("credentials: {e:?}"))?;
    let mut link = LinkConfig::client(credentials);
    link.mppe = mppe_policy(opts, End::Client);
    link.mschapv1_keys = opts.mschapv1_keys;
    // A Windows-style Identification when LCP opens (RFC 1570 §1.1;
    // "MSRASV5.20" is the version string of recent Windows RAS clients).
    link.lcp.identification = ppp_core::lcp::Message::from_slice(b"MSRASV5.20").ok();
    let mut config = ClientConfig::new(link);
    (config.control.host_name, config.control.vendor_string) =
        names(b"demo-client", b"pptp-demo client");
    config.call.serial_number = 1;
    // Windows clients offer a receive window of 16 or 64 in their
    // Outgoing-Call-Request (the origin document's traces); the library's
    // default (512) is for throughput, the demo plays the Windows client.
    config.call.receive_window = 16;
    Endpoint::client(config, heap_memory(1, 1), random).map_err(|e| format!("client: {e:?}"))
}

/// A PPP frame received in a GRE datagram, decoded before the endpoint
/// takes it, logged once the link has taken it (its `frames_in` counter
/// says when: a frame may wait in the GRE reorder buffer first).
#[derive(Debug)]
struct Inbound {
    seq: u32,
    frame: PppFrame,
}

/// What the transcript says about one PPP frame.
#[derive(Debug)]
enum PppFrame {
    /// LCP, PAP, CHAP, IPCP, CCP...: `(protocol, "LCP", "CONFREQ", " id 1 ...")`.
    Control(u16, String, String, String),
    /// An IP packet, with its MPPE header as ` [MPPE cc N flushed]`.
    Data(String),
}

impl PppFrame {
    /// The PPP frame in a GRE datagram, with the GRE sequence number.
    fn of_gre(datagram: &[u8]) -> Option<(Option<u32>, PppFrame)> {
        let gre = GrePacket::new_checked(datagram).ok()?;
        let f = Frame::parse(gre.payload(), FieldCompression::BOTH).ok()?;
        let frame = match f.protocol {
            protocol::COMPRESSED => {
                let h = u16::from_be_bytes([*f.information.first()?, *f.information.get(1)?]);
                PppFrame::Data(format!(
                    " [MPPE cc {}{}]",
                    h & 0x0fff,
                    if h & 0x8000 != 0 { " flushed" } else { "" }
                ))
            }
            protocol::IPV4 => PppFrame::Data(String::new()),
            p => {
                let d = decode::decode_ppp_payload(p, f.information);
                let mut title = d.title.splitn(2, ' ');
                let layer = title.next().unwrap_or("").to_string();
                let name = title.next().unwrap_or("").to_string();
                PppFrame::Control(p, layer, name, d.pix_fields())
            }
        };
        Some((gre.sequence(), frame))
    }

    /// Whether the simulated network spares it from loss and reordering.
    ///
    /// CHAP has no retransmission for a lost Success or Failure (RFC 1994
    /// §4.2: the peer just waits), so authentication packets are spared;
    /// a lost one would end the session with error 718 after 30 s.
    /// Configure-Request/Ack/Nak/Reject of LCP, IPCP and CCP are spared
    /// too unless `--loss-negotiation`: each lost one costs a 3 s restart
    /// timer (RFC 1661 §4.6) or a renegotiation from Opened, which makes a
    /// short demo slow. Data, GRE acks, Terminate and CCP
    /// Reset-Request/Ack take their chances.
    fn spared(&self, loss_negotiation: bool) -> bool {
        let PppFrame::Control(p, _, name, _) = self else {
            return false;
        };
        let configure = matches!(name.as_str(), "CONFREQ" | "CONFACK" | "CONFNAK" | "CONFREJ");
        matches!(*p, protocol::CHAP | protocol::PAP)
            || (!loss_negotiation
                && configure
                && matches!(*p, protocol::LCP | protocol::IPCP | protocol::CCP))
    }
}

/// The tiny IP stack's echo client.
#[derive(Debug, Default)]
struct Pinger {
    next_seq: u16,
    outstanding: Option<(u16, u64, u32)>, // seq, sent at, attempts
    answered: u16,
    failed: bool,
}

/// One host: its endpoint and what a host keeps besides (the "socket"
/// into the simulated network, TCP bytes the endpoint has not taken yet,
/// an IP stack that pings) plus what its transcript needs to know.
struct Host<V: Verifier> {
    end: End,
    ep: Endpoint<HeapMemory, Rng, V>,
    /// The other host's public address (GRE source and destination).
    peer_public: Ipv4Addr,
    conn: Option<ConnectionHandle>,
    tcp_pending: Vec<u8>,
    loss_negotiation: bool,
    // What the endpoint reported.
    tunnel_up_ms: u64,
    up: bool,
    down: Option<SessionEnd>,
    closed: bool,
    user: Option<String>,
    /// The peer's LCP Identification messages (RFC 1570 §1.1).
    peer_identification: Vec<String>,
    mppe: Option<MppeInfo>,
    final_reset_requests: u64,
    // Transcript bookkeeping.
    stop_sent: bool,
    phase: String,
    inbound: VecDeque<Inbound>,
    frames_in: u64,
    link_seen: bool,
    ip_note: String,
    // The IP host.
    ip: Option<Ipv4Addr>,
    peer_ip: Option<Ipv4Addr>,
    pinger: Pinger,
    ip_delivered: u64,
    ip_damaged: u64,
}

impl<V: Verifier> Host<V> {
    fn new(end: End, ep: Endpoint<HeapMemory, Rng, V>, opts: &DemoOptions) -> Self {
        Host {
            end,
            ep,
            peer_public: match end {
                End::Client => SERVER_PUBLIC,
                End::Server => CLIENT_PUBLIC,
            },
            conn: None,
            tcp_pending: Vec::new(),
            loss_negotiation: opts.loss_negotiation,
            tunnel_up_ms: 0,
            up: false,
            down: None,
            closed: false,
            user: None,
            peer_identification: Vec::new(),
            mppe: None,
            final_reset_requests: 0,
            stop_sent: false,
            phase: String::new(),
            inbound: VecDeque::new(),
            frames_in: 0,
            link_seen: false,
            ip_note: String::new(),
            ip: None,
            peer_ip: None,
            pinger: Pinger {
                next_seq: 1,
                ..Pinger::default()
            },
            ip_delivered: 0,
            ip_damaged: 0,
        }
    }

    fn session(&self) -> Option<SessionHandle> {
        // The first call on a connection has the connection's handle value
        // (see `SessionHandle`); the demo places one.
        self.conn.map(|c| SessionHandle(c.0))
    }

    /// The PIX's tunnel id: here the connection's slot in the endpoint,
    /// counted from 1.
    fn tunnel_id(&self) -> u16 {
        self.conn.map_or(0, |c| (c.0 & 0xffff) as u16 + 1)
    }

    fn tnl(&self) -> String {
        format!("Tnl {}", self.tunnel_id())
    }

    /// ` [Opened]`: the automaton of `proto` in the endpoint's link, or
    /// ` [parked]` while the link is in its parked form (it keeps no
    /// automata), ` [link ended]` once it has ended.
    fn state_of(&self, proto: u16) -> String {
        let Some(session) = self.session() else {
            return String::new();
        };
        let Some(link) = self.ep.link(session) else {
            let parked = self.ep.session(session).is_some_and(|v| v.link_parked);
            return if parked { " [parked]" } else { " [link ended]" }.into();
        };
        match proto {
            protocol::LCP => format!(" [{:?}]", link.lcp().state()),
            protocol::IPCP => format!(" [{:?}]", link.ipcp().state()),
            protocol::CCP => format!(" [{:?}]", link.ccp().state()),
            _ => String::new(),
        }
    }

    fn log_frame(&self, w: &mut World, dir: char, frame: &PppFrame) {
        if let PppFrame::Control(p, layer, name, rest) = frame {
            // "PPP: LCP O CONFREQ [ReqSent] id 1 len 18 (...)", as the PIX prints.
            let state = self.state_of(*p);
            w.log(self.end, format!("PPP: {layer} {dir} {name}{state}{rest}"));
        }
    }

    // ----- input from the network -----

    /// TCP bytes from the peer.
    fn receive_tcp(&mut self, w: &mut World, bytes: &[u8]) {
        for msg in split_control(bytes) {
            let line = match decode::decode_control(msg) {
                Ok(d) => d.one_line(),
                Err(e) => e,
            };
            let tnl = self.tnl();
            w.log(
                self.end,
                format!("PPTP: {tnl}: rcvd {}", line.trim_start_matches("PPTP ")),
            );
        }
        self.tcp_pending.extend_from_slice(bytes);
        self.offer_tcp(w);
    }

    /// Offers the endpoint the TCP bytes it has not taken yet. `true` if
    /// it took some.
    fn offer_tcp(&mut self, w: &mut World) -> bool {
        let (Some(conn), false) = (self.conn, self.tcp_pending.is_empty()) else {
            return false;
        };
        let bytes = std::mem::take(&mut self.tcp_pending);
        match self.ep.handle_tcp(at(w.now()), conn, &bytes) {
            TcpInput::Consumed => true,
            TcpInput::Blocked { consumed } => {
                self.tcp_pending = bytes[consumed..].to_vec();
                consumed > 0
            }
            TcpInput::Closed => {
                w.log(self.end, "TCP: bytes for a closed connection dropped");
                false
            }
        }
    }

    /// A GRE datagram from the peer.
    fn receive_gre(&mut self, w: &mut World, mut datagram: Vec<u8>) {
        let inbound = PppFrame::of_gre(&datagram);
        let result = self
            .ep
            .handle_gre(at(w.now()), self.peer_public, &mut datagram);
        // A frame the link will take (or took and refused) is logged when
        // its `frames_in` counter moves.
        let taken = matches!(result, Ok(_) | Err(GreInputError::Link));
        let seq = match inbound {
            Some((Some(seq), frame)) if taken => {
                let pos = self.inbound.partition_point(|i| i.seq < seq);
                self.inbound.insert(pos, Inbound { seq, frame });
                Some(seq)
            }
            _ => None,
        };
        self.catch_up(w);
        match result {
            Ok(Some(delivered)) => {
                let packet = datagram[delivered.range].to_vec();
                self.handle_ip(w, &packet);
            }
            Ok(None) => {
                let reordering = self
                    .session()
                    .and_then(|s| self.ep.session(s))
                    .and_then(|v| v.gre)
                    .is_some_and(|g| g.held > 0);
                let waiting = seq.filter(|s| self.inbound.iter().any(|i| i.seq == *s));
                if let Some(seq) = waiting.filter(|_| reordering) {
                    w.log(
                        self.end,
                        format!("GRE: seq {seq} out of order, held for reordering"),
                    );
                }
            }
            Err(e) => {
                self.ip_note.clear();
                let why = match e {
                    // No reorder buffer in the endpoint: a datagram older
                    // than one already delivered is stale.
                    GreInputError::Dropped => "GRE: dropped (duplicate, stale or out of window)",
                    GreInputError::Link => "PPP: frame refused by the link",
                    _ => "GRE: datagram not taken",
                };
                w.log(self.end, format!("{why}: {e:?}"));
            }
        }
    }

    /// Logs the received frames the link has taken since the last call,
    /// oldest first (GRE hands them over in sequence order).
    fn catch_up(&mut self, w: &mut World) {
        let counters = self
            .session()
            .and_then(|s| self.ep.session(s))
            .and_then(|v| v.link.map(|c| c.frames_in));
        let taken = match counters {
            Some(taken) => taken,
            None if self.link_seen => {
                // The link ended during the last input, having taken every
                // frame handed to it before (the one that ended it, a
                // Terminate-Ack say, among them).
                self.link_seen = false;
                u64::MAX
            }
            None => return,
        };
        self.link_seen = counters.is_some();
        if taken < self.frames_in {
            // Not expected (the counters survive parking); start over
            // rather than attribute frames wrongly.
            self.frames_in = taken;
            self.inbound.clear();
        }
        while self.frames_in < taken {
            self.frames_in += 1;
            let Some(i) = self.inbound.pop_front() else {
                break;
            };
            match i.frame {
                PppFrame::Data(note) => self.ip_note = note,
                control => self.log_frame(w, 'I', &control),
            }
        }
    }

    // ----- output to the network -----

    /// Polls the endpoint's transmits and events until it has none.
    /// `true` if anything happened.
    fn pump(&mut self, w: &mut World) -> bool {
        let mut progress = self.offer_tcp(w);
        let mut buf = vec![0u8; 2048];
        while let Some(t) = self.ep.poll_transmit(at(w.now()), &mut buf) {
            progress = true;
            let bytes = buf[..t.len].to_vec();
            match t.to {
                Destination::Tcp(_) => self.send_tcp(w, bytes),
                Destination::Gre(to) => {
                    if to != self.peer_public {
                        w.log(self.end, format!("GRE: datagram for unknown {to} dropped"));
                        continue;
                    }
                    if let Some((_, frame)) = PppFrame::of_gre(&bytes) {
                        self.log_frame(w, 'O', &frame);
                    }
                    self.send_gre(w, bytes);
                }
                Destination::Ip(_) => {
                    // Released from the GRE reorder buffer.
                    self.catch_up(w);
                    self.handle_ip(w, &bytes);
                }
            }
            self.catch_up(w);
        }
        while let Some(event) = self.ep.poll_event() {
            progress = true;
            self.on_event(w, event);
        }
        if let Some(phase) = self
            .session()
            .and_then(|s| self.ep.link(s))
            .map(|l| format!("{:?}", l.phase()))
        {
            if phase != self.phase {
                w.log(self.end, format!("PPP: phase {phase}"));
                self.phase = phase;
            }
        }
        progress
    }

    fn send_tcp(&mut self, w: &mut World, bytes: Vec<u8>) {
        for msg in split_control(&bytes) {
            self.stop_sent |= control_type(msg) == Some(STOP_CCRQ);
            let line = decode::decode_control(msg)
                .map(|d| d.one_line())
                .unwrap_or_default();
            let tnl = self.tnl();
            w.log(
                self.end,
                format!("PPTP: {tnl}: sent {}", line.trim_start_matches("PPTP ")),
            );
        }
        let end = self.end;
        w.capture(|p, at| p.tcp_data(at, pcap_side(end), &bytes));
        w.net.send_tcp(self.end, bytes);
    }

    fn send_gre(&mut self, w: &mut World, datagram: Vec<u8>) {
        let spared =
            PppFrame::of_gre(&datagram).is_some_and(|(_, f)| f.spared(self.loss_negotiation));
        let end = self.end;
        w.capture(|p, at| p.gre(at, pcap_side(end), &datagram));
        match w.net.send_gre(self.end, datagram, spared) {
            GreFate::Lost => w.log(self.end, "GRE: (network) packet lost"),
            GreFate::Delayed => w.log(
                self.end,
                "GRE: (network) packet delayed: will arrive out of order",
            ),
            GreFate::OnTime => {}
        }
    }

    // ----- events -----

    fn on_event(&mut self, w: &mut World, event: Event) {
        let now = w.now();
        let tnl = self.tnl();
        match event {
            Event::TunnelUp {
                host_name, vendor, ..
            } => {
                self.tunnel_up_ms = now;
                w.log(
                    self.end,
                    format!(
                        "PPTP: {tnl}: tunnel established with peer {:?} ({:?})",
                        String::from_utf8_lossy(&host_name),
                        String::from_utf8_lossy(&vendor)
                    ),
                );
            }
            Event::CallUp {
                session,
                local_call_id,
                peer_call_id,
            } => {
                let rws = self
                    .ep
                    .session(session)
                    .and_then(|v| v.gre)
                    .map_or(0, |g| g.peer_receive_window);
                w.log(
                    self.end,
                    format!(
                        "PPTP: {tnl}: call id {local_call_id} up, remote call id {peer_call_id}, peer RWS {rws}"
                    ),
                );
                w.log(self.end, "PPP: lower layer up (GRE call), link open");
                if self.end == End::Client {
                    // RFC 2637 §2.15: the PNS tells the PAC the ACCMs, as
                    // Windows does once the call is up.
                    if !self.ep.set_link_info(at(now), session, 0, 0xffff_ffff) {
                        w.log(self.end, format!("PPTP: {tnl}: SLI not sent"));
                    }
                }
            }
            Event::AuthRequest { .. } => {
                // The server decides with its CredentialStore; never asked.
                w.log(self.end, "AUTH: unexpected request for an external verdict");
            }
            Event::Authenticated { method, user, .. } => {
                let user = String::from_utf8_lossy(&user).into_owned();
                w.log(
                    self.end,
                    format!("AUTH: {method:?} succeeded for user {user:?}"),
                );
                if self.end == End::Server {
                    // The PIX's syslog 603103.
                    w.log(
                        self.end,
                        format!("%PIX-6-603103: PPP virtual interface 1 - user: {user} aaa authentication succeeded"),
                    );
                }
                self.user = Some(user);
            }
            Event::Reauthenticated { method, .. } => w.log(
                self.end,
                format!("AUTH: {method:?} re-authentication succeeded"),
            ),
            Event::PeerIdentification { message, .. } => {
                let text = String::from_utf8_lossy(&message).into_owned();
                w.log(self.end, format!("LCP: peer identification {text:?}"));
                // Bounded: a peer repeating it gains nothing.
                if self.peer_identification.len() < 2 {
                    self.peer_identification.push(text);
                }
            }
            Event::PasswordChanged { user, .. } => w.log(
                self.end,
                format!(
                    "AUTH: {:?} changed an expired password (MS-CHAP Change-Password)",
                    String::from_utf8_lossy(&user)
                ),
            ),
            Event::AuthFailed {
                method,
                reason,
                user,
                ..
            } => w.log(
                self.end,
                format!(
                    "AUTH: {method:?} failed for {:?}: {reason} (Windows error {})",
                    String::from_utf8_lossy(&user),
                    reason.windows_error()
                ),
            ),
            Event::MsChapV1KeysDecided {
                keys,
                proven,
                packets,
                ..
            } => w.log(
                self.end,
                format!(
                    "CCP: {}",
                    crate::events::mschapv1_keys_text(keys, proven, packets)
                ),
            ),
            Event::SessionUp {
                session,
                address,
                peer_address,
                mppe,
                mtu,
            } => {
                // The server's event names the peer's address first, the
                // client's its own.
                let (local, peer) = match self.end {
                    End::Server => (peer_address, address),
                    End::Client => (address, peer_address),
                };
                self.ip = local;
                self.peer_ip = peer;
                self.mppe = mppe;
                self.up = true;
                match mppe {
                    Some(m) => w.log(self.end, format!("CCP: opened: MPPE {}", m.send)),
                    None => w.log(self.end, "CCP: no MPPE negotiated"),
                }
                let dns = self.ep.link(session).map_or_else(
                    || "not shown (link parked)".into(),
                    |l| format!("{:?}", l.ipcp_negotiated().dns),
                );
                w.log(
                    self.end,
                    format!(
                        "IPCP: opened: local {}, peer {}, DNS {dns}",
                        local.map_or("-".into(), |a| a.to_string()),
                        peer.map_or("-".into(), |a| a.to_string()),
                    ),
                );
                w.log(
                    self.end,
                    format!("PPP: data ready (IPCP up, CCP settled), MTU {mtu}"),
                );
            }
            Event::SessionDown {
                reason, counters, ..
            } => {
                // (A link's end names its Windows error itself.)
                w.log(self.end, format!("session down: {reason}"));
                self.final_reset_requests = counters.reset_requests_sent;
                self.down = Some(reason);
                self.up = false;
            }
            Event::ConnectionClosed { .. } => {
                let how = if self.stop_sent {
                    "Local (our StopCCRQ)"
                } else {
                    "peer stopped"
                };
                w.log(self.end, format!("PPTP: {tnl}: tunnel down: {how}"));
                self.closed = true;
            }
        }
    }

    // ----- the IP host -----

    /// An IP packet out of the tunnel.
    fn handle_ip(&mut self, w: &mut World, packet: &[u8]) {
        let note = std::mem::take(&mut self.ip_note);
        let d = decode::decode_ipv4(packet);
        w.log(
            self.end,
            format!("IP: I {}{note}", d.one_line().trim_start_matches("IPv4 ")),
        );
        let Some(echo) = parse_echo(packet) else {
            self.ip_damaged += 1;
            w.log(
                self.end,
                "IP: damaged packet (bad checksum or not ICMP echo)",
            );
            return;
        };
        if Some(echo.dst) != self.ip || Some(echo.src) != self.peer_ip {
            self.ip_damaged += 1;
            w.log(self.end, "IP: packet not for this end");
            return;
        }
        self.ip_delivered += 1;
        if echo.request {
            let reply = build_echo(echo.dst, echo.src, false, echo.id, echo.seq, &echo.data);
            self.send_ip(w, &reply);
        } else if let Some((seq, _, _)) = self.pinger.outstanding {
            if echo.seq == seq && echo.data == ping_payload(self.end, seq) {
                self.pinger.outstanding = None;
                self.pinger.answered += 1;
                self.pinger.next_seq += 1;
            }
        }
    }

    /// An IP packet into the tunnel.
    fn send_ip(&mut self, w: &mut World, packet: &[u8]) {
        let d = decode::decode_ipv4(packet);
        let mut outbound = Outbound::new(packet);
        loop {
            let mut out = vec![0u8; 2048];
            match self.ep.send_ip(at(w.now()), &mut outbound, &mut out) {
                Ok(Some(t)) => {
                    out.truncate(t.len);
                    if let Destination::Ip(_) = t.to {
                        // ICMP "fragmentation needed" for our own host.
                        self.handle_ip(w, &out);
                        continue;
                    }
                    let note = match PppFrame::of_gre(&out) {
                        Some((_, PppFrame::Data(note))) => note,
                        _ => String::new(),
                    };
                    w.log(
                        self.end,
                        format!("IP: O {}{note}", d.one_line().trim_start_matches("IPv4 ")),
                    );
                    self.send_gre(w, out);
                }
                Ok(None) => break,
                Err(e) => {
                    w.log(self.end, format!("IP: not sent: {e}"));
                    break;
                }
            }
        }
    }

    fn start_ping(&mut self, w: &mut World, pings: u16) {
        let now = w.now();
        if self.pinger.failed || self.pinger.answered >= pings {
            return;
        }
        let (Some(src), Some(dst)) = (self.ip, self.peer_ip) else {
            return;
        };
        let send = match self.pinger.outstanding {
            None => Some((self.pinger.next_seq, 1)),
            Some((seq, sent, attempts)) if now >= sent + PING_TIMEOUT_MS => {
                if attempts >= PING_ATTEMPTS {
                    self.pinger.failed = true;
                    w.log(
                        self.end,
                        format!("IP: echo seq {seq} unanswered after {attempts} attempts"),
                    );
                    None
                } else {
                    w.log(self.end, format!("IP: echo seq {seq} timed out, retrying"));
                    Some((seq, attempts + 1))
                }
            }
            Some(_) => None,
        };
        if let Some((seq, attempts)) = send {
            let id = match self.end {
                End::Client => 0x0c11,
                End::Server => 0x05e7,
            };
            let pkt = build_echo(src, dst, true, id, seq, &ping_payload(self.end, seq));
            self.pinger.outstanding = Some((seq, now, attempts));
            self.send_ip(w, &pkt);
        }
    }

    /// CCP Reset-Requests this end sent: the link's final count once the
    /// session is down, its live count before.
    fn reset_requests(&self) -> u64 {
        let live = self
            .session()
            .and_then(|s| self.ep.session(s))
            .and_then(|v| v.link.map(|c| c.reset_requests_sent));
        live.unwrap_or(self.final_reset_requests)
    }

    /// When this host wants the clock to reach: the endpoint's next timer
    /// or its echo time-out.
    fn poll_timeout(&self) -> Option<u64> {
        let ping = self
            .pinger
            .outstanding
            .map(|(_, sent, _)| sent + PING_TIMEOUT_MS);
        [self.ep.poll_timeout().map(|t| t.as_millis()), ping]
            .into_iter()
            .flatten()
            .min()
    }

    /// The `show vpdn` rows of this endpoint's sessions.
    fn rows(&self, remote_id: u16, now: u64) -> Vec<TunnelRow> {
        self.ep
            .sessions()
            .map(|v| {
                let gs = v.gre.map(|g| g.stats).unwrap_or_default();
                let parked = |p: bool| if p { " (parked)" } else { "" };
                let session = SessionRow {
                    call_id: v.call_ids.map_or(0, |c| c.0),
                    remote_call_id: v.call_ids.map_or(0, |c| c.1),
                    username: if v.user.is_empty() {
                        "-".into()
                    } else {
                        String::from_utf8_lossy(v.user).into_owned()
                    },
                    peer_identification: self.peer_identification.clone(),
                    state: match v.link {
                        Some(_) => format!("established{}", parked(v.link_parked)),
                        None => "down".into(),
                    },
                    ppp_interface: 1,
                    client_ip: v.address,
                    encryption: v.mppe.map_or("none".into(), |m| m.send.to_string()),
                    seq: v.gre.and_then(|g| g.seq),
                    ack: v.gre.and_then(|g| g.ack),
                    ack_rcvd: v.gre.and_then(|g| g.ack_received),
                    peer_rws: v.gre.map_or(0, |g| g.peer_receive_window),
                    out_of_order: gs.out_of_order,
                    gre_packets: (gs.packets_sent, gs.packets_received),
                    gre_bytes: (gs.bytes_sent, gs.bytes_received),
                };
                let t = v.tunnel;
                TunnelRow {
                    tunnel_id: (v.session.0 & 0xffff) as u16 + 1,
                    remote_id,
                    state: format!("established{}", parked(v.tunnel_parked)),
                    secs_since_change: now.saturating_sub(self.tunnel_up_ms) / 1000,
                    remote: format!("{}:49152", v.peer),
                    local: format!("{SERVER_PUBLIC}:1723"),
                    packets: (
                        t.messages_out + gs.packets_sent,
                        t.messages_in + gs.packets_received,
                    ),
                    bytes: (t.bytes_out + gs.bytes_sent, t.bytes_in + gs.bytes_received),
                    sessions: vec![session],
                }
            })
            .collect()
    }
}

/// The PPTP control messages in a chunk of the TCP stream (the endpoints
/// write whole messages; anything left over is passed on as it is).
fn split_control(bytes: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut rest = bytes;
    while rest.len() >= 2 {
        let len = usize::from(u16::from_be_bytes([rest[0], rest[1]]));
        if len < 2 || len > rest.len() {
            out.push(rest);
            break;
        }
        out.push(&rest[..len]);
        rest = &rest[len..];
    }
    out
}

/// The Control Message Type of a PPTP control message (RFC 2637 §2).
fn control_type(msg: &[u8]) -> Option<u16> {
    Some(u16::from_be_bytes([*msg.get(8)?, *msg.get(9)?]))
}

struct Echo {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    request: bool,
    id: u16,
    seq: u16,
    data: Vec<u8>,
}

fn ping_payload(from: End, seq: u16) -> Vec<u8> {
    let tag = match from {
        End::Client => b'c',
        End::Server => b's',
    };
    (0..56u16)
        .map(|i| (i as u8).wrapping_mul(7) ^ tag ^ (seq as u8))
        .collect()
}

/// An IPv4 ICMP echo request or reply with correct checksums.
pub fn build_echo(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    request: bool,
    id: u16,
    seq: u16,
    data: &[u8],
) -> Vec<u8> {
    let mut icmp = vec![if request { 8 } else { 0 }, 0, 0, 0];
    icmp.extend_from_slice(&id.to_be_bytes());
    icmp.extend_from_slice(&seq.to_be_bytes());
    icmp.extend_from_slice(data);
    let c = internet_checksum(&icmp);
    icmp[2..4].copy_from_slice(&c.to_be_bytes());
    let total = (20 + icmp.len()) as u16;
    let mut ip = vec![0x45, 0, 0, 0, 0, 0, 0x40, 0, 64, 1, 0, 0];
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[4..6].copy_from_slice(&seq.to_be_bytes());
    ip.extend_from_slice(&src.octets());
    ip.extend_from_slice(&dst.octets());
    let c = internet_checksum(&ip);
    ip[10..12].copy_from_slice(&c.to_be_bytes());
    ip.extend_from_slice(&icmp);
    ip
}

fn parse_echo(p: &[u8]) -> Option<Echo> {
    if p.len() < 28 || p[0] != 0x45 || p[9] != 1 {
        return None;
    }
    if usize::from(u16::from_be_bytes([p[2], p[3]])) != p.len() {
        return None;
    }
    if internet_checksum(&p[..20]) != 0 || internet_checksum(&p[20..]) != 0 {
        return None;
    }
    let icmp = &p[20..];
    let request = match icmp[0] {
        8 => true,
        0 => false,
        _ => return None,
    };
    Some(Echo {
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        request,
        id: u16::from_be_bytes([icmp[4], icmp[5]]),
        seq: u16::from_be_bytes([icmp[6], icmp[7]]),
        data: icmp[8..].to_vec(),
    })
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Phase {
    Connecting,
    Data,
    Closing,
    Done,
}

/// Runs the whole demo session. `echo` receives the transcript lines as
/// they happen (e.g. stdout); `pcap` receives the capture.
pub fn run(
    opts: &DemoOptions,
    echo: Option<Box<dyn Write>>,
    pcap: Option<Box<dyn Write>>,
) -> Outcome {
    let net_rng = Rng::new(opts.seed.wrapping_mul(31).wrapping_add(17));
    let net = Network::new(
        NetConfig {
            latency_ms: 10,
            gre_loss_percent: opts.loss_percent,
            gre_reorder_percent: opts.loss_percent,
        },
        net_rng,
    );
    let mut outcome = Outcome {
        layers: vec![
            "TCP (simulated)",
            "PPTP control",
            "GRE",
            "PPP Link: LCP",
            "auth",
            "IPCP",
            "CCP/MPPE",
            "IPv4/ICMP",
        ],
        ..Outcome::default()
    };
    let seed = opts.seed;
    let endpoints = (
        client_endpoint(opts, Rng::new(seed)),
        server_endpoint(opts, Rng::new(seed.wrapping_add(0x5e4e_5e4e))),
    );
    let (mut client, mut server) = match endpoints {
        (Ok(c), Ok(s)) => (
            Host::new(End::Client, c, opts),
            Host::new(End::Server, s, opts),
        ),
        (Err(e), _) | (_, Err(e)) => {
            outcome.failure = Some(e);
            return outcome;
        }
    };
    let mut w = World {
        net,
        pcap: None,
        log: echo.map_or_else(Transcript::new, Transcript::echoing),
        pcap_error: None,
    };
    if let Some(out) = pcap {
        match PcapWriter::new(out) {
            Ok(p) => w.pcap = Some(p),
            Err(e) => w.pcap_error = Some(e.to_string()),
        }
    }
    w.log.log(
        0,
        None,
        format!(
            "pptp-demo: auth {:?}, MPPE {}, loss {}%, seed {}",
            opts.auth,
            match (opts.mppe, opts.stateful) {
                (None, _) => "none".to_string(),
                (Some(s), st) => format!("{s:?} {}", if st { "stateful" } else { "stateless" }),
            },
            opts.loss_percent,
            opts.seed
        ),
    );
    w.log.log(
        0,
        None,
        format!("TCP: client {CLIENT_PUBLIC}:49152 connected to server {SERVER_PUBLIC}:1723"),
    );
    w.capture(|p, at| p.tcp_open(at));
    match (
        server.ep.accept(at(0), CLIENT_PUBLIC),
        client.ep.connect(at(0), SERVER_PUBLIC),
    ) {
        (Ok(s), Ok(c)) => (server.conn, client.conn) = (Some(s), Some(c)),
        (Err(e), _) | (_, Err(e)) => {
            outcome.failure = Some(format!("TCP connection not taken: {e}"));
            return outcome;
        }
    }
    let mut phase = Phase::Connecting;
    let mut failure: Option<String> = None;
    let mut stalled_turns = 0u32;

    loop {
        // Run both ends until quiet at this instant.
        for _ in 0..1000 {
            let a = client.pump(&mut w);
            let b = server.pump(&mut w);
            if !a && !b {
                break;
            }
        }
        let now = w.now();
        let phase_before = phase;
        // The script.
        match phase {
            Phase::Connecting if client.up && server.up => phase = Phase::Data,
            Phase::Data => {
                client.start_ping(&mut w, opts.pings);
                server.start_ping(&mut w, opts.pings);
                if client.pinger.failed || server.pinger.failed {
                    failure = Some("echo requests went unanswered".into());
                } else if client.pinger.answered >= opts.pings
                    && server.pinger.answered >= opts.pings
                {
                    let rows = server.rows(client.tunnel_id(), now);
                    outcome.show_vpdn = show_vpdn::render(&rows);
                    w.log
                        .log(now, None, "client: disconnecting (LCP Terminate)");
                    if let Some(s) = client.session() {
                        client.ep.close_session(at(now), s);
                    }
                    phase = Phase::Closing;
                }
            }
            Phase::Closing if client.closed && server.closed => {
                w.log
                    .log(now, None, "TCP: client closes the control connection (FIN)");
                w.capture(|p, at| p.tcp_close(at, PcapSide::Client));
                phase = Phase::Done;
            }
            _ => {}
        }
        if phase == Phase::Done || failure.is_some() {
            break;
        }
        if phase < Phase::Closing {
            if let Some(r) = client.down.as_ref().or(server.down.as_ref()) {
                failure = Some(format!("session ended in phase {phase:?}: {r}"));
                break;
            }
            if client.closed || server.closed {
                failure = Some(format!("control connection closed in phase {phase:?}"));
                break;
            }
        }
        // Whatever the script queued goes out before time moves.
        let a = client.pump(&mut w);
        let b = server.pump(&mut w);
        if phase != phase_before || a || b {
            // Bounded: every turn without the clock moving is counted, so a
            // livelock ends the run instead of hanging it.
            stalled_turns += 1;
            if stalled_turns > 10_000 {
                failure = Some(format!("no progress at {now} ms in phase {phase:?}"));
                break;
            }
            continue;
        }
        // Advance the clock to the next event.
        let next = [
            w.net.next_delivery_ms(),
            client.poll_timeout(),
            server.poll_timeout(),
        ]
        .into_iter()
        .flatten()
        .min();
        let Some(next) = next else {
            failure = Some(format!("nothing left to do in phase {phase:?}: stalled"));
            break;
        };
        if next > SIM_LIMIT_MS {
            failure = Some(format!(
                "no completion within {} s of simulated time (phase {phase:?})",
                SIM_LIMIT_MS / 1000
            ));
            break;
        }
        if next <= now {
            stalled_turns += 1;
            if stalled_turns > 10_000 {
                failure = Some(format!("timers due at {now} ms make no progress"));
                break;
            }
        } else {
            stalled_turns = 0;
        }
        w.net.advance_to(next);
        while let Some((to, what)) = w.net.poll_delivery() {
            match (to, what) {
                (End::Client, Delivery::Tcp(b)) => client.receive_tcp(&mut w, &b),
                (End::Client, Delivery::Gre(d)) => client.receive_gre(&mut w, d),
                (End::Server, Delivery::Tcp(b)) => server.receive_tcp(&mut w, &b),
                (End::Server, Delivery::Gre(d)) => server.receive_gre(&mut w, d),
            }
            // React at once, as a host polls after every input.
            match to {
                End::Client => while client.pump(&mut w) {},
                End::Server => while server.pump(&mut w) {},
            }
        }
        let now = at(w.now());
        client.ep.handle_timeout(now);
        server.ep.handle_timeout(now);
    }

    let now = w.now();
    if let Some(p) = w.pcap.as_mut() {
        if let Err(e) = p.flush() {
            w.pcap_error.get_or_insert(e.to_string());
        }
    }
    outcome.pings_ok = (client.pinger.answered, server.pinger.answered);
    outcome.ip_delivered = (client.ip_delivered, server.ip_delivered);
    outcome.ip_damaged = client.ip_damaged + server.ip_damaged;
    outcome.reset_requests = client.reset_requests() + server.reset_requests();
    outcome.elapsed_ms = now;
    outcome.username = server.user.clone();
    if outcome.show_vpdn.is_empty() {
        outcome.show_vpdn = show_vpdn::render(&server.rows(client.tunnel_id(), now));
    }
    if let Some(e) = w.pcap_error.take() {
        failure.get_or_insert(format!("pcap: {e}"));
    }
    if failure.is_none() && outcome.ip_damaged > 0 {
        failure = Some(format!("{} IP packets arrived damaged", outcome.ip_damaged));
    }
    if failure.is_none() && opts.mppe.is_some() && client.mppe.is_none() {
        failure = Some("MPPE was requested but not negotiated".into());
    }
    outcome.completed = failure.is_none() && phase == Phase::Done;
    outcome.failure = failure;
    w.log.log(
        now,
        None,
        format!(
            "end: {} after {}.{:03} s simulated; {} GRE datagrams sent, {} lost and {} reordered by the network",
            if outcome.completed {
                "session completed"
            } else {
                "session FAILED"
            },
            now / 1000,
            now % 1000,
            w.net.stats.gre_sent,
            w.net.stats.gre_lost,
            w.net.stats.gre_delayed
        ),
    );
    outcome
}
