//! The demo session: a PPTP client and server in one process, over the
//! in-memory network of [`crate::sim`], driven by a simulated clock.
//!
//! Every protocol step is done by the workspace crates, driven as Sans-IO
//! machines by the two hosts here:
//!
//! * TCP connect, then the PPTP control connection
//!   (`pptp_core::control::Connection`, both roles): SCCRQ/SCCRP,
//!   OCRQ/OCRP, Set-Link-Info; at the end CCRQ/CDN and StopCCRQ/StopCCRP;
//! * the GRE data path (`pptp_core::gre::GreSession`, with a reorder
//!   buffer) carrying PPP frames;
//! * the PPP session (`ppp_core::link::Link`): LCP, authentication (PAP,
//!   CHAP-MD5, MS-CHAPv1, MS-CHAPv2), IPCP with the server's address pool
//!   (`ppp_core::ipcp::pool`), CCP negotiating MPPE, and the encrypted
//!   data path (stateful loss recovery through CCP Reset-Request);
//! * IPv4 ICMP echo packets with correct checksums, both ways.

use std::io::Write;
use std::net::Ipv4Addr;

use mppe::{KeyStrength, Mode, ModePreference, Strengths};
use ppp_core::auth::{CredentialStore, DomainRule, Method};
use ppp_core::ipcp::pool::AddressPool;
use ppp_core::lcp::LcpConfig;
use ppp_core::link::{
    Credentials, EndReason as LinkEndReason, Entropy, Link, LinkConfig, LinkEvent, MppePolicy,
};
use ppp_core::wire::frame::{protocol, FieldCompression, Frame};
use pptp_core::control::{
    CallAccept, CallParams, Config as ControlConfig, Connection, Event as ControlEvent, NameBytes,
};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::Role;

use crate::decode;
use crate::pcap::{internet_checksum, PcapWriter, Side as PcapSide};
use crate::show_vpdn::{self, SessionRow, TunnelRow};
use crate::sim::{End, GreFate, NetConfig, Network, Rng};
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
    /// Seed of the host's random source.
    pub seed: u64,
    /// Echo requests each side sends.
    pub pings: u16,
    /// Stateful MPPE with the deployed (pppd/Linux) meaning of the A bit
    /// instead of RFC 3078's; see `mppe::StatefulFlush`.
    pub deployed_flush: bool,
    /// Let the simulated loss hit LCP/IPCP/CCP Configure packets too
    /// (by default they are spared; see `Endpoint::flush_gre`).
    pub loss_negotiation: bool,
    /// User name.
    pub username: String,
    /// Password the client uses.
    pub password: String,
    /// Password the server has on file for the user (default: the same;
    /// set it to something else to watch authentication fail).
    pub server_password: Option<String>,
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

type Gre = GreSession<8, 1600>;

fn pt(ms: u64) -> pptp_core::Instant {
    pptp_core::Instant::from_millis(ms)
}
fn pp(ms: u64) -> ppp_core::time::Instant {
    ppp_core::time::Instant::from_millis(ms)
}

/// Everything shared by both ends: network, clock, capture, log, randomness.
struct World {
    net: Network,
    pcap: Option<PcapWriter<Box<dyn Write>>>,
    log: Transcript,
    rng: Rng,
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

/// The session addresses: the server's tunnel address and the pool.
const SERVER_TUNNEL_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 1);
/// The DNS server the server hands out (RFC 1877), a documentation address.
const DNS: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const POOL_FIRST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 1);
const POOL_LAST: Ipv4Addr = Ipv4Addr::new(192, 168, 1, 50);
const PING_TIMEOUT_MS: u64 = 500;
const PING_ATTEMPTS: u32 = 20;
const SIM_LIMIT_MS: u64 = 600_000;

#[derive(Debug, Default)]
struct Pinger {
    next_seq: u16,
    outstanding: Option<(u16, u64, u32)>, // seq, sent at, attempts
    answered: u16,
    failed: bool,
}

/// One end: PPTP control + GRE + PPP (LCP, auth, MPPE) + a tiny IP host.
/// One end: PPTP control + GRE + the PPP `Link` (LCP, authentication,
/// IPCP, CCP/MPPE) + a tiny IP host that answers and sends pings.
struct Endpoint {
    end: End,
    conn: Connection<4>,
    tunnel_id: u16,
    call_id: u16,
    peer_call_id: Option<u16>,
    peer_window: u16,
    gre: Option<Gre>,
    link: Link,
    link_opened: bool,
    link_down: Option<LinkEndReason>,
    data_ready: bool,
    credentials: CredentialStore<4>,
    pool: Option<AddressPool<1>>,
    username: Option<String>,
    mppe_text: String,
    ip: Option<Ipv4Addr>,
    peer_ip: Option<Ipv4Addr>,
    ppp_out: std::collections::VecDeque<Vec<u8>>,
    pinger: Pinger,
    loss_negotiation: bool,
    ip_delivered: u64,
    ip_damaged: u64,
    tunnel_up: bool,
    tunnel_down: bool,
    call_up: bool,
    call_down: bool,
    state_change_ms: u64,
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

impl Endpoint {
    fn new(end: End, opts: &DemoOptions, rng: &mut Rng) -> Result<Self, String> {
        let role = match end {
            End::Client => Role::Client,
            End::Server => Role::Server,
        };
        let mut config = ControlConfig::default();
        let (host, vendor): (&[u8], &[u8]) = match end {
            End::Client => (b"demo-client", b"pptp-demo client"),
            End::Server => (b"demo-server", b"pptp-demo server"),
        };
        config.host_name = NameBytes::from_slice(host).unwrap_or_default();
        config.vendor_string = NameBytes::from_slice(vendor).unwrap_or_default();
        if end == End::Server {
            config.maximum_channels = 4;
        }
        let mut credentials = CredentialStore::new(DomainRule::default());
        let mut link_config = match end {
            End::Server => {
                let pw = opts.server_password.as_ref().unwrap_or(&opts.password);
                credentials
                    .insert_password(opts.username.as_bytes(), pw.as_bytes())
                    .map_err(|e| format!("user: {e:?}"))?;
                // The PIX's `vpdn group ... ppp authentication <method>`
                // and `ip local pool`.
                let mut c = LinkConfig::server(SERVER_TUNNEL_IP, [Some(DNS), None]);
                c.lcp = LcpConfig::default().with_auth_required(&[opts.auth.method()]);
                c.authenticator.name =
                    ppp_core::auth::Name::from_slice(b"demo-server").unwrap_or_default();
                c
            }
            End::Client => {
                let creds =
                    Credentials::password(opts.username.as_bytes(), opts.password.as_bytes())
                        .map_err(|e| format!("credentials: {e:?}"))?;
                LinkConfig::client(creds)
            }
        };
        link_config.mppe = mppe_policy(opts, end);
        let mut challenge = [0u8; 16];
        rng.fill(&mut challenge);
        let entropy = Entropy {
            magic: rng.next_u32() | 1,
            challenge,
        };
        let pool = match end {
            End::Server => {
                Some(AddressPool::new(POOL_FIRST, POOL_LAST).map_err(|e| format!("pool: {e}"))?)
            }
            End::Client => None,
        };
        Ok(Endpoint {
            end,
            conn: Connection::new(role, config, pt(0)),
            tunnel_id: (rng.next_u32() % 64 + 1) as u16,
            call_id: rng.nonzero_u16(),
            peer_call_id: None,
            peer_window: 0,
            gre: None,
            link: Link::new(link_config, entropy),
            link_opened: false,
            link_down: None,
            data_ready: false,
            credentials,
            pool,
            username: None,
            mppe_text: "none".into(),
            ip: None,
            peer_ip: None,
            ppp_out: Default::default(),
            pinger: Pinger {
                next_seq: 1,
                ..Pinger::default()
            },
            loss_negotiation: opts.loss_negotiation,
            ip_delivered: 0,
            ip_damaged: 0,
            tunnel_up: false,
            tunnel_down: false,
            call_up: false,
            call_down: false,
            state_change_ms: 0,
        })
    }

    fn tnl(&self) -> String {
        format!("Tnl {}", self.tunnel_id)
    }

    /// Earliest timer of any machine of this end.
    fn poll_timeout(&self) -> Option<u64> {
        let mut t = [
            self.conn.poll_timeout().map(|i| i.as_millis()),
            self.gre
                .as_ref()
                .and_then(|g| g.poll_timeout())
                .map(|i| i.as_millis()),
            self.link.poll_timeout().map(|i| i.as_millis()),
        ]
        .into_iter()
        .flatten()
        .min();
        if let Some((_, sent, _)) = self.pinger.outstanding {
            let due = sent + PING_TIMEOUT_MS;
            t = Some(t.map_or(due, |x| x.min(due)));
        }
        t
    }

    fn handle_timeout(&mut self, w: &mut World) {
        let now = w.now();
        if self
            .conn
            .poll_timeout()
            .is_some_and(|t| t.as_millis() <= now)
        {
            self.conn.handle_timeout(pt(now));
        }
        let mut released = Vec::new();
        if let Some(g) = self.gre.as_mut() {
            if g.poll_timeout().is_some_and(|t| t.as_millis() <= now) {
                g.handle_timeout(pt(now));
                while let Some(f) = g.poll_deliver() {
                    released.push(f.to_vec());
                }
            }
        }
        for mut f in released {
            w.log(self.end, "GRE: reorder timeout released a held packet");
            self.handle_ppp_frame(w, &mut f);
        }
        if self
            .link
            .poll_timeout()
            .is_some_and(|t| t.as_millis() <= now)
        {
            self.link.handle_timeout(pp(now));
        }
    }

    /// TCP bytes from the peer.
    fn handle_tcp(&mut self, w: &mut World, bytes: &[u8]) {
        let now = w.now();
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
        if let Err(e) = self.conn.handle_input(pt(now), bytes) {
            w.log(self.end, format!("PPTP: control stream error: {e}"));
        }
    }

    /// A GRE datagram from the peer.
    fn handle_gre(&mut self, w: &mut World, datagram: &[u8]) {
        let now = w.now();
        let Some(g) = self.gre.as_mut() else {
            w.log(self.end, "GRE: packet for no call, dropped");
            return;
        };
        let mut frames = Vec::new();
        match g.decapsulate(pt(now), datagram) {
            Ok(Received::Deliver {
                payload,
                queued_before,
            }) => {
                for _ in 0..queued_before {
                    if let Some(f) = g.poll_deliver() {
                        frames.push(f.to_vec());
                    }
                }
                frames.push(datagram[payload].to_vec());
                while let Some(f) = g.poll_deliver() {
                    frames.push(f.to_vec());
                }
            }
            Ok(Received::Held) => {
                let seq = decode::decode_gre(datagram)
                    .ok()
                    .and_then(|d| {
                        d.fields
                            .iter()
                            .find(|(k, _)| k == "seq")
                            .map(|(_, v)| v.clone())
                    })
                    .unwrap_or_default();
                w.log(
                    self.end,
                    format!("GRE: seq {seq} out of order, held for reordering"),
                );
            }
            Ok(Received::Dropped(r)) => w.log(self.end, format!("GRE: dropped ({r:?})")),
            Ok(Received::NoPayload) => {}
            Err(e) => w.log(self.end, format!("GRE: {e}")),
        }
        for mut f in frames {
            self.handle_ppp_frame(w, &mut f);
        }
    }

    fn state_of(&self, proto: u16) -> String {
        match proto {
            protocol::LCP => format!(" [{:?}]", self.link.lcp().state()),
            protocol::IPCP => format!(" [{:?}]", self.link.ipcp().state()),
            protocol::CCP => format!(" [{:?}]", self.link.ccp().state()),
            _ => String::new(),
        }
    }

    fn log_frame(&self, w: &mut World, dir: char, frame: &[u8]) {
        let Ok(f) = Frame::parse(frame, FieldCompression::BOTH) else {
            return;
        };
        let d = decode::decode_ppp_payload(f.protocol, f.information);
        let state = self.state_of(f.protocol);
        // "PPP: LCP O CONFREQ [ReqSent] id 1 len 18 (...)", as the PIX prints.
        let mut title = d.title.splitn(2, ' ');
        let layer = title.next().unwrap_or("");
        let name = title.next().unwrap_or("");
        let rest = d.pix_fields();
        w.log(self.end, format!("PPP: {layer} {dir} {name}{state}{rest}"));
    }

    /// The MPPE header of an encrypted frame, as `[MPPE cc N flushed]`.
    fn mppe_note(frame: &[u8]) -> Option<String> {
        let f = Frame::parse(frame, FieldCompression::BOTH).ok()?;
        if f.protocol != protocol::COMPRESSED {
            return None;
        }
        let h = u16::from_be_bytes([*f.information.first()?, *f.information.get(1)?]);
        Some(format!(
            " [MPPE cc {}{}]",
            h & 0x0fff,
            if h & 0x8000 != 0 { " flushed" } else { "" }
        ))
    }

    fn handle_ppp_frame(&mut self, w: &mut World, frame: &mut [u8]) {
        let now = w.now();
        let note = Self::mppe_note(frame);
        let proto = Frame::parse(frame, FieldCompression::BOTH).map(|f| f.protocol);
        let result = match self.end {
            End::Server => self
                .link
                .handle_frame_with(pp(now), frame, &self.credentials),
            End::Client => self.link.handle_frame(pp(now), frame),
        };
        match result {
            Ok(Some(d)) => {
                let packet = frame[d.range()].to_vec();
                self.handle_ip(w, &packet, note.as_deref().unwrap_or(""));
            }
            Ok(None) => {
                if proto.is_ok_and(|p| p != protocol::COMPRESSED && p != protocol::IPV4) {
                    self.log_frame(w, 'I', frame);
                }
            }
            Err(e) => {
                if proto.is_ok_and(|p| p != protocol::COMPRESSED && p != protocol::IPV4) {
                    self.log_frame(w, 'I', frame);
                }
                w.log(self.end, format!("PPP: frame dropped: {e}"));
            }
        }
    }

    fn handle_ip(&mut self, w: &mut World, packet: &[u8], note: &str) {
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

    fn send_ip(&mut self, w: &mut World, packet: &[u8]) {
        let now = w.now();
        let d = decode::decode_ipv4(packet);
        let mut out = vec![0u8; packet.len() + ppp_core::link::HEADROOM + 8];
        match self.link.send_ip(pp(now), packet, &mut out) {
            Ok(n) => {
                out.truncate(n);
                let note = Self::mppe_note(&out).unwrap_or_default();
                w.log(
                    self.end,
                    format!("IP: O {}{note}", d.one_line().trim_start_matches("IPv4 ")),
                );
                self.ppp_out.push_back(out);
            }
            Err(e) => w.log(self.end, format!("IP: not sent: {e}")),
        }
    }

    /// Runs the machines of this end until nothing more happens now.
    fn pump(&mut self, w: &mut World) -> bool {
        let now = w.now();
        let mut progress = false;
        while let Some(ev) = self.conn.poll_event() {
            progress = true;
            self.on_control_event(w, ev);
        }
        let mut buf = [0u8; 4096];
        while let Some(t) = self.conn.poll_transmit(pt(now), &mut buf) {
            progress = true;
            let bytes = buf[..t.len].to_vec();
            for msg in split_control(&bytes) {
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
        if self.link_opened {
            let mut pbuf = [0u8; 1600];
            while let Some(t) = self.link.poll_transmit(pp(now), &mut pbuf) {
                progress = true;
                let frame = pbuf[..t.len].to_vec();
                self.log_frame(w, 'O', &frame);
                self.ppp_out.push_back(frame);
            }
            while let Some(ev) = self.link.poll_event() {
                progress = true;
                self.on_link_event(w, ev);
            }
        }
        progress |= self.flush_gre(w);
        progress
    }

    fn flush_gre(&mut self, w: &mut World) -> bool {
        let now = w.now();
        let Some(g) = self.gre.as_mut() else {
            return false;
        };
        let mut progress = false;
        let mut out = [0u8; 1700];
        while let Some(frame) = self.ppp_out.front() {
            // CHAP has no retransmission for a lost Success or Failure
            // (RFC 1994 §4.2: the peer just waits), so the simulated loss
            // spares authentication packets; a lost one would end the
            // session with error 718 after 30 s.
            //
            // Configure-Request/Ack/Nak/Reject of LCP, IPCP and CCP are
            // spared too by default: each lost one costs a 3 s restart
            // timer (RFC 1661 §4.6) or a renegotiation from Opened, which
            // makes a short demo slow. Data, GRE acks and CCP
            // Reset-Request/Ack are subject to the simulated loss.
            // `--loss-negotiation` lifts the Configure exemption.
            let spare_configure = !self.loss_negotiation;
            let protected = matches!(
                Frame::parse(frame, FieldCompression::BOTH),
                Ok(f) if f.protocol == protocol::CHAP
                    || f.protocol == protocol::PAP
                    || (spare_configure
                        && matches!(f.protocol, protocol::LCP | protocol::IPCP | protocol::CCP)
                        && matches!(f.information.first(), Some(1..=4)))
            );
            match g.encapsulate(pt(now), frame, &mut out) {
                Ok(n) => {
                    progress = true;
                    self.ppp_out.pop_front();
                    let dgram = out[..n].to_vec();
                    let end = self.end;
                    w.capture(|p, at| p.gre(at, pcap_side(end), &dgram));
                    match w.net.send_gre(self.end, dgram, protected) {
                        GreFate::Lost => w.log(self.end, "GRE: (network) packet lost"),
                        GreFate::Delayed => w.log(
                            self.end,
                            "GRE: (network) packet delayed: will arrive out of order",
                        ),
                        GreFate::OnTime => {}
                    }
                }
                Err(pptp_core::gre::SendError::WindowFull { .. }) => break,
                Err(e) => {
                    w.log(self.end, format!("GRE: frame dropped: {e}"));
                    self.ppp_out.pop_front();
                }
            }
        }
        if let Ok(Some(n)) = g.poll_transmit(pt(now), &mut out) {
            progress = true;
            let dgram = out[..n].to_vec();
            let end = self.end;
            w.capture(|p, at| p.gre(at, pcap_side(end), &dgram));
            w.net.send_gre(self.end, dgram, false);
        }
        progress
    }

    fn on_control_event(&mut self, w: &mut World, ev: ControlEvent) {
        let now = w.now();
        let tnl = self.tnl();
        match ev {
            ControlEvent::TunnelUp(info) => {
                self.tunnel_up = true;
                self.state_change_ms = now;
                w.log(
                    self.end,
                    format!(
                        "PPTP: {tnl}: tunnel established with peer {:?} ({:?})",
                        String::from_utf8_lossy(&info.host_name),
                        String::from_utf8_lossy(&info.vendor_string)
                    ),
                );
                if self.end == End::Client {
                    let params = CallParams {
                        serial_number: 1,
                        ..CallParams::default()
                    };
                    if let Err(e) = self.conn.place_call(pt(now), self.call_id, &params) {
                        w.log(self.end, format!("PPTP: place_call failed: {e}"));
                    }
                }
            }
            ControlEvent::CallRequested(req) => {
                w.log(
                    self.end,
                    format!(
                        "PPTP: {tnl}: call request from peer call id {}",
                        req.peer_call_id
                    ),
                );
                if let Err(e) = self.conn.accept_call(
                    pt(now),
                    req.peer_call_id,
                    self.call_id,
                    &CallAccept::default(),
                ) {
                    w.log(self.end, format!("PPTP: accept_call failed: {e}"));
                }
            }
            ControlEvent::CallUp(up) => {
                self.call_up = true;
                self.peer_call_id = Some(up.peer_call_id);
                self.peer_window = up.peer_recv_window;
                w.log(
                    self.end,
                    format!(
                        "PPTP: {tnl}: call id {} up, remote call id {}, peer RWS {}, speed {}",
                        up.local_call_id, up.peer_call_id, up.peer_recv_window, up.connect_speed
                    ),
                );
                let mut gc =
                    GreConfig::new(up.local_call_id, up.peer_call_id, up.peer_recv_window);
                gc.receive_window = match self.end {
                    End::Client => CallParams::default().recv_window_size,
                    End::Server => CallAccept::default().recv_window_size,
                };
                self.gre = Some(Gre::new(gc));
                if self.end == End::Client {
                    // RFC 2637 §2.15: the PNS tells the PAC the ACCMs.
                    let _ = self
                        .conn
                        .set_link_info(pt(now), self.call_id, 0, 0xffff_ffff);
                }
                w.log(self.end, "PPP: lower layer up (GRE call), link open");
                self.link.open(pp(now));
                self.link_opened = true;
            }
            ControlEvent::CallDown(down) => {
                self.call_down = true;
                w.log(self.end, format!("PPTP: {tnl}: call down: {:?}", down.reason));
                self.link.lower_down(pp(now));
            }
            ControlEvent::TunnelDown(reason) => {
                self.tunnel_down = true;
                self.state_change_ms = now;
                w.log(self.end, format!("PPTP: {tnl}: tunnel down: {reason:?}"));
            }
            ControlEvent::LinkInfo {
                send_accm,
                receive_accm,
                ..
            } => w.log(
                self.end,
                format!(
                    "PPTP: {tnl}: link info: send ACCM {send_accm:#010x}, recv ACCM {receive_accm:#010x}"
                ),
            ),
            other => w.log(self.end, format!("PPTP: {tnl}: {other:?}")),
        }
    }

    fn on_link_event(&mut self, w: &mut World, ev: LinkEvent) {
        let now = w.now();
        match ev {
            LinkEvent::Phase(p) => w.log(self.end, format!("PPP: phase {p:?}")),
            LinkEvent::Identification(m) => w.log(
                self.end,
                format!("PPP: peer identifies as {:?}", String::from_utf8_lossy(&m)),
            ),
            LinkEvent::AuthRequest => {
                // Local verification (handle_frame_with): never asked.
            }
            LinkEvent::ChallengeNeeded => {
                let mut c = [0u8; 16];
                w.rng.fill(&mut c);
                let _ = self.link.feed_challenge(pp(now), &c);
            }
            LinkEvent::Authenticated { method, .. } => {
                let user = String::from_utf8_lossy(self.link.username()).into_owned();
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
                self.username = Some(user);
            }
            LinkEvent::AuthFailed { method, reason } => w.log(
                self.end,
                format!(
                    "AUTH: {method:?} failed for {:?}: {reason} (Windows error {})",
                    String::from_utf8_lossy(self.link.username()),
                    reason.windows_error()
                ),
            ),
            LinkEvent::AddressNeeded => {
                let addr = self.pool.as_mut().and_then(|p| p.allocate().ok());
                w.log(
                    self.end,
                    format!(
                        "IPCP: peer address {} from pool {POOL_FIRST}-{POOL_LAST}",
                        addr.map_or("none (pool exhausted)".into(), |a| a.to_string())
                    ),
                );
                self.link.assign_peer_address(pp(now), addr);
            }
            LinkEvent::IpcpUp(n) => {
                self.ip = n.local_address;
                self.peer_ip = n.peer_address;
                w.log(
                    self.end,
                    format!(
                        "IPCP: opened: local {}, peer {}, DNS {:?}",
                        n.local_address.map_or("-".into(), |a| a.to_string()),
                        n.peer_address.map_or("-".into(), |a| a.to_string()),
                        n.dns
                    ),
                );
            }
            LinkEvent::IpcpDown => {
                self.data_ready = false;
                w.log(self.end, "IPCP: down");
            }
            LinkEvent::CcpUp(info) => {
                self.mppe_text = match info {
                    Some(i) => format!(
                        "{}-bit {}",
                        match i.send.strength {
                            KeyStrength::Bits40 => 40,
                            KeyStrength::Bits56 => 56,
                            KeyStrength::Bits128 => 128,
                        },
                        if i.send.mode == Mode::Stateful {
                            "stateful"
                        } else {
                            "stateless"
                        }
                    ),
                    None => "none".into(),
                };
                w.log(self.end, format!("CCP: opened: MPPE {}", self.mppe_text));
            }
            LinkEvent::DataReady => {
                self.data_ready = true;
                w.log(self.end, "PPP: data ready (IPCP up, CCP settled)");
            }
            LinkEvent::ProtocolRejected(p) => {
                w.log(self.end, format!("PPP: peer rejected protocol {p:#06x}"))
            }
            LinkEvent::Down(reason) => {
                self.link_down = Some(reason);
                self.data_ready = false;
                if let (Some(pool), Some(addr)) = (self.pool.as_mut(), self.peer_ip) {
                    let _ = pool.release(addr);
                }
                w.log(self.end, format!("PPP: link down: {reason}"));
            }
            #[allow(unreachable_patterns)]
            other => w.log(self.end, format!("PPP: {other:?}")),
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

    fn row(&self, remote_id: u16, now: u64) -> TunnelRow {
        let ts = self.conn.stats();
        let status = self.gre.as_ref().map(|g| g.status());
        let gs = status.map(|s| s.stats).unwrap_or_default();
        let session = SessionRow {
            call_id: self.call_id,
            remote_call_id: self.peer_call_id.unwrap_or(0),
            username: self.username.clone().unwrap_or_else(|| "-".into()),
            state: if self.call_up && !self.call_down {
                "established".into()
            } else {
                "down".into()
            },
            ppp_interface: 1,
            client_ip: match self.end {
                End::Server => self.peer_ip,
                End::Client => self.ip,
            },
            encryption: self.mppe_text.clone(),
            seq: status.and_then(|s| s.seq),
            ack: status.and_then(|s| s.ack),
            ack_rcvd: status.and_then(|s| s.ack_received),
            peer_rws: self.peer_window,
            out_of_order: gs.out_of_order,
            gre_packets: (gs.packets_sent, gs.packets_received),
            gre_bytes: (gs.bytes_sent, gs.bytes_received),
        };
        TunnelRow {
            tunnel_id: self.tunnel_id,
            remote_id,
            state: if self.tunnel_up && !self.tunnel_down {
                "established".into()
            } else {
                "closed".into()
            },
            secs_since_change: now.saturating_sub(self.state_change_ms) / 1000,
            remote: "198.51.100.10:49152".into(),
            local: "192.0.2.1:1723".into(),
            packets: (
                ts.messages_out + gs.packets_sent,
                ts.messages_in + gs.packets_received,
            ),
            bytes: (
                ts.bytes_out + gs.bytes_sent,
                ts.bytes_in + gs.bytes_received,
            ),
            sessions: vec![session],
        }
    }
}

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
    Terminating,
    ClearingCall,
    StoppingTunnel,
    Done,
}

/// Runs the whole demo session. `echo` receives the transcript lines as
/// they happen (e.g. stdout); `pcap` receives the capture.
pub fn run(
    opts: &DemoOptions,
    echo: Option<Box<dyn Write>>,
    pcap: Option<Box<dyn Write>>,
) -> Outcome {
    let mut rng = Rng::new(opts.seed);
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
    let (mut client, mut server) = match (
        Endpoint::new(End::Client, opts, &mut rng),
        Endpoint::new(End::Server, opts, &mut rng),
    ) {
        (Ok(c), Ok(s)) => (c, s),
        (Err(e), _) | (_, Err(e)) => {
            outcome.failure = Some(e);
            return outcome;
        }
    };
    let mut w = World {
        net,
        pcap: None,
        log: echo.map_or_else(Transcript::new, Transcript::echoing),
        rng,
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
        "TCP: client 198.51.100.10:49152 connected to server 192.0.2.1:1723",
    );
    w.capture(|p, at| p.tcp_open(at));
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
            Phase::Connecting if client.data_ready && server.data_ready => {
                phase = Phase::Data;
            }
            Phase::Data => {
                client.start_ping(&mut w, opts.pings);
                server.start_ping(&mut w, opts.pings);
                if client.pinger.failed || server.pinger.failed {
                    failure = Some("echo requests went unanswered".into());
                } else if client.pinger.answered >= opts.pings
                    && server.pinger.answered >= opts.pings
                {
                    outcome.show_vpdn = show_vpdn::render(&[server.row(client.tunnel_id, now)]);
                    w.log
                        .log(now, None, "client: disconnecting (LCP Terminate)");
                    client.link.close(pp(now), LinkEndReason::AdminClose);
                    phase = Phase::Terminating;
                }
            }
            Phase::Terminating if client.link_down.is_some() => {
                if let Err(e) = client.conn.clear_call(pt(now), client.call_id) {
                    failure = Some(format!("clear_call: {e}"));
                }
                phase = Phase::ClearingCall;
            }
            Phase::ClearingCall if client.call_down && server.call_down => {
                if let Err(e) = client.conn.close(pt(now)) {
                    failure = Some(format!("close: {e}"));
                }
                phase = Phase::StoppingTunnel;
            }
            Phase::StoppingTunnel if client.conn.is_closed() && server.conn.is_closed() => {
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
        if phase < Phase::Terminating {
            if let Some(r) = client.link_down.or(server.link_down) {
                failure = Some(format!("PPP link ended in phase {phase:?}: {r}"));
                break;
            }
        }
        if phase < Phase::StoppingTunnel && (client.tunnel_down || server.tunnel_down) {
            failure = Some(format!(
                "tunnel ended early in phase {phase:?} (see transcript)"
            ));
            break;
        }
        if phase != phase_before {
            // The script acted: let the machines send before time moves.
            stalled_turns += 1;
            if stalled_turns > 10_000 {
                failure = Some(format!("no progress at {now} ms in phase {phase:?}"));
                break;
            }
            continue;
        }
        // Whatever the script queued goes out before time moves.
        let a = client.pump(&mut w);
        let b = server.pump(&mut w);
        if a || b {
            // Bounded: every turn without the clock moving is counted, so a
            // livelock between the machines ends the run instead of
            // hanging it.
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
        w.net.advance_to(next);
        stalled_turns = 0;
        while let Some((to, what)) = w.net.poll_delivery() {
            let ep = match to {
                End::Client => &mut client,
                End::Server => &mut server,
            };
            match what {
                crate::sim::Delivery::Tcp(b) => ep.handle_tcp(&mut w, &b),
                crate::sim::Delivery::Gre(d) => ep.handle_gre(&mut w, &d),
            }
            // React at once (a call that came up must have its GRE
            // session before the next datagram of the same instant).
            while ep.pump(&mut w) {}
        }
        client.handle_timeout(&mut w);
        server.handle_timeout(&mut w);
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
    outcome.reset_requests =
        client.link.counters().reset_requests_sent + server.link.counters().reset_requests_sent;
    outcome.elapsed_ms = now;
    outcome.username = server.username.clone();
    if outcome.show_vpdn.is_empty() {
        outcome.show_vpdn = show_vpdn::render(&[server.row(client.tunnel_id, now)]);
    }
    if let Some(e) = w.pcap_error.take() {
        failure.get_or_insert(format!("pcap: {e}"));
    }
    if failure.is_none() && outcome.ip_damaged > 0 {
        failure = Some(format!("{} IP packets arrived damaged", outcome.ip_damaged));
    }
    if failure.is_none() && opts.mppe.is_some() && client.mppe_text == "none" {
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
