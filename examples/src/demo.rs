//! The demo session: a PPTP client and server in one process, over the
//! in-memory network of [`crate::sim`], driven by a simulated clock.
//!
//! Layers that run (all from the workspace crates, driven as Sans-IO
//! machines by the hosts here):
//!
//! * TCP connect, then the PPTP control connection
//!   (`pptp_core::control::Connection`, both roles): SCCRQ/SCCRP,
//!   OCRQ/OCRP, Set-Link-Info; at the end CCRQ/CDN and StopCCRQ/StopCCRP;
//! * the GRE data path (`pptp_core::gre::GreSession`, with a reorder
//!   buffer) carrying PPP frames;
//! * PPP LCP (`ppp_core::lcp::Lcp`) and authentication
//!   (`ppp_core::auth`: PAP, CHAP-MD5, MS-CHAPv1, MS-CHAPv2);
//! * MPPE (`mppe`): keys derived from the MS-CHAP exchange (RFC 3079),
//!   every IP packet encrypted, stateful loss recovery through CCP
//!   Reset-Request/Reset-Ack.
//!
//! Not yet: CCP option negotiation and IPCP. Those are ppp-core's `Link`
//! (branch `ppp-session`); until it is merged the demo applies the MPPE
//! settings given on the command line to both ends and hands the client
//! an address from the server's pool (`ip local pool`) out of band, and
//! the transcript says so.

use std::io::Write;
use std::net::Ipv4Addr;

use mppe::keys::{mschapv1_start_key, mschapv2_start_keys, Side as KeySide};
use mppe::{KeyStrength, Mode, StartKeys};
use ppp_core::auth::{
    Authenticator, AuthenticatorConfig, CredentialStore, DomainRule, Event as AuthEvent, Method,
    MppeKeyMaterial, Peer, PeerConfig, Secret,
};
use ppp_core::ipcp::pool::AddressPool;
use ppp_core::lcp::{AuthMethod, EndReason, Lcp, LcpConfig, LcpEvent};
use ppp_core::wire::frame::{self as ppp_frame, protocol, FieldCompression, Frame};
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
    fn lcp(self) -> AuthMethod {
        match self {
            AuthChoice::Pap => AuthMethod::Pap,
            AuthChoice::Chap => AuthMethod::ChapMd5,
            AuthChoice::MsChapV1 => AuthMethod::MsChapV1,
            AuthChoice::MsChapV2 => AuthMethod::MsChapV2,
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

fn method_of(m: AuthMethod) -> Method {
    match m {
        AuthMethod::Pap => Method::Pap,
        AuthMethod::ChapMd5 => Method::ChapMd5,
        AuthMethod::MsChapV1 => Method::MsChapV1,
        AuthMethod::MsChapV2 => Method::MsChapV2,
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
struct Endpoint {
    end: End,
    conn: Connection<4>,
    tunnel_id: u16,
    call_id: u16,
    peer_call_id: Option<u16>,
    peer_window: u16,
    gre: Option<Gre>,
    lcp: Lcp,
    lcp_opened: bool,
    lcp_finished: bool,
    authenticator: Option<Authenticator>,
    peer: Option<Peer>,
    credentials: CredentialStore<4>,
    auth_ok: bool,
    username: Option<String>,
    key_material: Option<MppeKeyMaterial>,
    mppe: Option<mppe::session::Mppe>,
    mppe_text: String,
    ccp_id: u8,
    stateful_flush: mppe::StatefulFlush,
    last_reset_request_ms: Option<u64>,
    reset_requests: u64,
    ip: Option<Ipv4Addr>,
    peer_ip: Option<Ipv4Addr>,
    ppp_out: std::collections::VecDeque<Vec<u8>>,
    pinger: Pinger,
    ip_delivered: u64,
    ip_damaged: u64,
    tunnel_up: bool,
    tunnel_down: bool,
    call_up: bool,
    call_down: bool,
    state_change_ms: u64,
}

impl Endpoint {
    fn new(end: End, opts: &DemoOptions, rng: &mut Rng) -> Self {
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
        let lcp_config = match end {
            // The server (the PIX's `vpdn group ... ppp authentication`)
            // requires the chosen method; the client, like Windows,
            // allows all four.
            End::Server => LcpConfig::default().with_auth_required(&[opts.auth.lcp()]),
            End::Client => LcpConfig::default().with_auth_allowed(&AuthMethod::ALL),
        };
        let mut credentials = CredentialStore::new(DomainRule::default());
        if end == End::Server {
            let pw = opts.server_password.as_ref().unwrap_or(&opts.password);
            let _ = credentials.insert_password(opts.username.as_bytes(), pw.as_bytes());
        }
        let magic = rng.next_u32() | 1;
        let mut lcp = Lcp::new(lcp_config, magic);
        for _ in 0..3 {
            lcp.supply_magic(rng.next_u32() | 1);
        }
        Endpoint {
            end,
            conn: Connection::new(role, config, pt(0)),
            tunnel_id: (rng.next_u32() % 64 + 1) as u16,
            call_id: rng.nonzero_u16(),
            peer_call_id: None,
            peer_window: 0,
            gre: None,
            lcp,
            lcp_opened: false,
            lcp_finished: false,
            authenticator: None,
            peer: None,
            credentials,
            auth_ok: false,
            username: None,
            key_material: None,
            mppe: None,
            mppe_text: "none".into(),
            ccp_id: 0,
            stateful_flush: if opts.deployed_flush {
                mppe::StatefulFlush::KeyChange
            } else {
                mppe::StatefulFlush::Reinitialise
            },
            last_reset_request_ms: None,
            reset_requests: 0,
            ip: None,
            peer_ip: None,
            ppp_out: Default::default(),
            pinger: Pinger {
                next_seq: 1,
                ..Pinger::default()
            },
            ip_delivered: 0,
            ip_damaged: 0,
            tunnel_up: false,
            tunnel_down: false,
            call_up: false,
            call_down: false,
            state_change_ms: 0,
        }
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
            self.lcp.poll_timeout().map(|i| i.as_millis()),
            self.authenticator
                .as_ref()
                .and_then(|a| a.poll_timeout())
                .map(|i| i.as_millis()),
            self.peer
                .as_ref()
                .and_then(|p| p.poll_timeout())
                .map(|i| i.as_millis()),
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
        for f in released {
            w.log(self.end, "GRE: reorder timeout released a held packet");
            self.handle_ppp_frame(w, &f);
        }
        if self
            .lcp
            .poll_timeout()
            .is_some_and(|t| t.as_millis() <= now)
        {
            self.lcp.handle_timeout(pp(now));
        }
        if let Some(a) = self.authenticator.as_mut() {
            if a.poll_timeout().is_some_and(|t| t.as_millis() <= now) {
                a.handle_timeout(pp(now));
            }
        }
        if let Some(p) = self.peer.as_mut() {
            if p.poll_timeout().is_some_and(|t| t.as_millis() <= now) {
                p.handle_timeout(pp(now));
            }
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
        for f in frames {
            self.handle_ppp_frame(w, &f);
        }
    }

    fn handle_ppp_frame(&mut self, w: &mut World, frame: &[u8]) {
        let now = w.now();
        let f = match Frame::parse(frame, FieldCompression::BOTH) {
            Ok(f) => f,
            Err(e) => {
                w.log(self.end, format!("PPP: bad frame: {e}"));
                return;
            }
        };
        let (proto, info) = (f.protocol, f.information);
        match proto {
            protocol::LCP => {
                let _ = self.lcp.handle_input(pp(now), info);
                self.log_ppp(w, 'I', proto, info);
            }
            protocol::PAP | protocol::CHAP => {
                self.log_ppp(w, 'I', proto, info);
                if let Some(a) = self.authenticator.as_mut() {
                    a.handle_packet_with(pp(now), info, &self.credentials);
                } else if let Some(p) = self.peer.as_mut() {
                    p.handle_packet(pp(now), info);
                }
            }
            protocol::CCP => {
                self.log_ppp(w, 'I', proto, info);
                self.handle_ccp(w, info);
            }
            protocol::COMPRESSED => self.handle_mppe(w, info),
            protocol::IPV4 => {
                if self.mppe.is_some() {
                    w.log(self.end, "IP: unencrypted packet on an MPPE link, dropped");
                } else {
                    self.handle_ip(w, info, None);
                }
            }
            other => {
                w.log(
                    self.end,
                    format!("PPP: unknown protocol {other:#06x}, Protocol-Reject"),
                );
                self.lcp.send_protocol_reject(other, info);
            }
        }
    }

    fn log_ppp(&self, w: &mut World, dir: char, proto: u16, info: &[u8]) {
        let d = decode::decode_ppp_payload(proto, info);
        let state = match proto {
            protocol::LCP => format!(" [{:?}]", self.lcp.state()),
            _ => String::new(),
        };
        // "PPP: LCP O CONFREQ [ReqSent] id 1 len 18 (...)", as the PIX prints.
        let mut title = d.title.splitn(2, ' ');
        let layer = title.next().unwrap_or("");
        let name = title.next().unwrap_or("");
        let rest = d.pix_fields();
        w.log(self.end, format!("PPP: {layer} {dir} {name}{state}{rest}"));
    }

    /// CCP here only carries MPPE's Reset-Request/Reset-Ack (RFC 1962 §2.2,
    /// RFC 3078 §8); option negotiation is the Link's job.
    fn handle_ccp(&mut self, w: &mut World, info: &[u8]) {
        let (Some(&code), Some(&id)) = (info.first(), info.get(1)) else {
            return;
        };
        match code {
            14 => {
                if let Some(m) = self.mppe.as_mut() {
                    m.encrypter.reset_request();
                    w.log(
                        self.end,
                        "MPPE: Reset-Request received: next packet flushed (A bit)",
                    );
                }
                self.send_ppp(w, protocol::CCP, &[15, id, 0, 4]);
            }
            15 => {}
            _ => {}
        }
    }

    fn handle_mppe(&mut self, w: &mut World, info: &[u8]) {
        let now = w.now();
        let Some(m) = self.mppe.as_mut() else {
            w.log(self.end, "MPPE: packet without MPPE, dropped");
            return;
        };
        let mut buf = info.to_vec();
        match m.decrypter.decrypt_in_place(&mut buf) {
            Ok(d) => {
                let plain = &buf[mppe::HEADER_LEN..];
                match Frame::parse(plain, FieldCompression::BOTH) {
                    Ok(f) if f.protocol == protocol::IPV4 => {
                        let info = f.information.to_vec();
                        self.handle_ip(w, &info, Some((d.coherency_count, d.flushed)));
                    }
                    Ok(f) => w.log(
                        self.end,
                        format!("MPPE: decrypted protocol {:#06x}", f.protocol),
                    ),
                    Err(e) => w.log(self.end, format!("MPPE: decrypted garbage ({e})")),
                }
            }
            Err(e) => {
                let discarding = m.decrypter.is_discarding();
                w.log(self.end, format!("MPPE: {e}"));
                let again = self.last_reset_request_ms.is_none_or(|t| now >= t + 200);
                if e.needs_reset_request() || (discarding && again) {
                    self.ccp_id = self.ccp_id.wrapping_add(1);
                    let id = self.ccp_id;
                    self.last_reset_request_ms = Some(now);
                    self.reset_requests += 1;
                    w.log(
                        self.end,
                        "MPPE: sending CCP Reset-Request to resynchronise (RFC 3078 §8)",
                    );
                    self.send_ppp(w, protocol::CCP, &[14, id, 0, 4]);
                }
            }
        }
    }

    fn handle_ip(&mut self, w: &mut World, packet: &[u8], mppe: Option<(u16, bool)>) {
        let d = decode::decode_ipv4(packet);
        let enc = mppe.map_or(String::new(), |(cc, a)| {
            format!(" [MPPE cc {cc}{}]", if a { " flushed" } else { "" })
        });
        w.log(
            self.end,
            format!("IP: I {}{enc}", d.one_line().trim_start_matches("IPv4 ")),
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
        let d = decode::decode_ipv4(packet);
        match self.mppe.as_mut() {
            Some(m) => {
                let mut buf = vec![0u8; mppe::HEADER_LEN + 2];
                buf[mppe::HEADER_LEN..].copy_from_slice(&protocol::IPV4.to_be_bytes());
                buf.extend_from_slice(packet);
                match m.encrypter.encrypt_in_place(&mut buf) {
                    Ok(e) => {
                        w.log(
                            self.end,
                            format!(
                                "IP: O {} [MPPE cc {}{}]",
                                d.one_line().trim_start_matches("IPv4 "),
                                e.coherency_count,
                                if e.flushed { " flushed" } else { "" }
                            ),
                        );
                        self.queue_frame(protocol::COMPRESSED, &buf);
                    }
                    Err(e) => w.log(self.end, format!("MPPE: encrypt failed: {e}")),
                }
            }
            None => {
                w.log(
                    self.end,
                    format!("IP: O {}", d.one_line().trim_start_matches("IPv4 ")),
                );
                self.queue_frame(protocol::IPV4, packet);
            }
        }
    }

    fn send_ppp(&mut self, w: &mut World, proto: u16, info: &[u8]) {
        self.log_ppp(w, 'O', proto, info);
        self.queue_frame(proto, info);
    }

    fn queue_frame(&mut self, proto: u16, info: &[u8]) {
        // LCP is never compressed (RFC 1661 §6.5, §6.6); others use what
        // LCP agreed.
        let send = if proto == protocol::LCP || !self.lcp_opened {
            FieldCompression::NONE
        } else {
            self.lcp.negotiated().send
        };
        let mut buf = vec![0u8; info.len() + 4];
        if let Ok(n) = ppp_frame::emit(proto, info, send, &mut buf) {
            buf.truncate(n);
            self.ppp_out.push_back(buf);
        }
    }

    /// Runs the machines of this end until nothing more happens now.
    fn pump(&mut self, w: &mut World, opts: &DemoOptions) -> bool {
        let now = w.now();
        let mut progress = false;
        // Control connection events.
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
        // LCP.
        while let Some(ev) = self.lcp.poll_event() {
            progress = true;
            self.on_lcp_event(w, ev, opts);
        }
        let mut pbuf = [0u8; 1600];
        while let Some(n) = self.lcp.poll_transmit(&mut pbuf) {
            progress = true;
            let info = pbuf[..n].to_vec();
            self.send_ppp(w, protocol::LCP, &info);
        }
        // Authentication.
        let mut auth_tx = Vec::new();
        if let Some(a) = self.authenticator.as_mut() {
            while let Some(t) = a.poll_transmit(pp(now), &mut pbuf) {
                auth_tx.push((t.protocol, pbuf[..t.len].to_vec()));
            }
        }
        if let Some(p) = self.peer.as_mut() {
            while let Some(t) = p.poll_transmit(pp(now), &mut pbuf) {
                auth_tx.push((t.protocol, pbuf[..t.len].to_vec()));
            }
        }
        for (proto, info) in auth_tx {
            progress = true;
            self.send_ppp(w, proto, &info);
        }
        let mut auth_events = Vec::new();
        if let Some(a) = self.authenticator.as_mut() {
            while let Some(e) = a.poll_event() {
                auth_events.push(e);
            }
        }
        if let Some(p) = self.peer.as_mut() {
            while let Some(e) = p.poll_event() {
                auth_events.push(e);
            }
        }
        for e in auth_events {
            progress = true;
            self.on_auth_event(w, e, opts);
        }
        // Frames into GRE.
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
            let frame_len = frame.len();
            match g.encapsulate(pt(now), frame, &mut out) {
                Ok(n) => {
                    progress = true;
                    self.ppp_out.pop_front();
                    let dgram = out[..n].to_vec();
                    let end = self.end;
                    w.capture(|p, at| p.gre(at, pcap_side(end), &dgram));
                    // CHAP has no retransmission for a lost Success or
                    // Failure (RFC 1994 §4.2: the peer just waits), so the
                    // simulated loss spares authentication packets; a lost
                    // one would end the session with error 718 after 30 s.
                    let protected = matches!(
                        Frame::parse(&dgram[n - frame_len..], FieldCompression::BOTH),
                        Ok(f) if f.protocol == protocol::CHAP || f.protocol == protocol::PAP
                    );
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
                w.log(self.end, format!("PPTP: {tnl}: call request from peer call id {}", req.peer_call_id));
                if let Err(e) = self.conn.accept_call(pt(now), req.peer_call_id, self.call_id, &CallAccept::default()) {
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
                let mut gc = GreConfig::new(up.local_call_id, up.peer_call_id, up.peer_recv_window);
                gc.receive_window = match self.end {
                    End::Client => CallParams::default().recv_window_size,
                    End::Server => CallAccept::default().recv_window_size,
                };
                self.gre = Some(Gre::new(gc));
                if self.end == End::Client {
                    // RFC 2637 §2.15: the PNS tells the PAC the ACCMs.
                    let _ = self.conn.set_link_info(pt(now), self.call_id, 0, 0xffff_ffff);
                }
                w.log(self.end, "PPP: lower layer up (GRE call), LCP open");
                self.lcp.up(pp(now));
                self.lcp.open(pp(now));
            }
            ControlEvent::CallDown(down) => {
                self.call_down = true;
                w.log(self.end, format!("PPTP: {tnl}: call down: {:?}", down.reason));
                self.lcp.down(pp(now));
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
                format!("PPTP: {tnl}: link info: send ACCM {send_accm:#010x}, recv ACCM {receive_accm:#010x}"),
            ),
            other => w.log(self.end, format!("PPTP: {tnl}: {other:?}")),
        }
    }

    fn on_lcp_event(&mut self, w: &mut World, ev: LcpEvent, _opts: &DemoOptions) {
        let now = w.now();
        match ev {
            LcpEvent::Up => {
                self.lcp_opened = true;
                let n = *self.lcp.negotiated();
                w.log(
                    self.end,
                    format!(
                        "PPP: LCP opened: peer MRU {}, magic {:#010x}/{:#010x}, PFC {}, ACFC {}, auth peer {:?} local {:?}",
                        n.peer_mru,
                        n.local_magic.unwrap_or(0),
                        n.peer_magic.unwrap_or(0),
                        n.send.protocol,
                        n.send.address_control,
                        n.peer_auth,
                        n.local_auth
                    ),
                );
                if let Some(m) = n.peer_auth {
                    let method = method_of(m);
                    let mut challenge = vec![0u8; method.challenge_len().unwrap_or(16)];
                    w.rng.fill(&mut challenge);
                    let config = AuthenticatorConfig {
                        name: ppp_core::auth::Name::from_slice(b"demo-server").unwrap_or_default(),
                        ..AuthenticatorConfig::default()
                    };
                    let id = (w.rng.next_u32() & 0xff) as u8;
                    match Authenticator::new(method, config, pp(now), id, &challenge) {
                        Ok(a) => self.authenticator = Some(a),
                        Err(e) => w.log(self.end, format!("AUTH: cannot start: {e}")),
                    }
                    w.log(self.end, format!("AUTH: {method:?} authenticator started"));
                }
                if let Some(m) = n.local_auth {
                    let method = method_of(m);
                    let mut pc = [0u8; 16];
                    w.rng.fill(&mut pc);
                    let secret = Secret::password(_opts.password.as_bytes());
                    let id = (w.rng.next_u32() & 0xff) as u8;
                    match secret.map_err(|e| e.to_string()).and_then(|s| {
                        Peer::new(
                            method,
                            PeerConfig::default(),
                            pp(now),
                            _opts.username.as_bytes(),
                            s,
                            id,
                            Some(pc),
                        )
                        .map_err(|e| e.to_string())
                    }) {
                        Ok(p) => self.peer = Some(p),
                        Err(e) => w.log(self.end, format!("AUTH: cannot start: {e}")),
                    }
                    w.log(
                        self.end,
                        format!("AUTH: {method:?} peer started as {:?}", _opts.username),
                    );
                }
                if n.peer_auth.is_none() && n.local_auth.is_none() {
                    self.auth_ok = true;
                }
            }
            LcpEvent::Down => {
                self.lcp_opened = false;
                w.log(self.end, "PPP: LCP down");
            }
            LcpEvent::Finished(reason) => {
                self.lcp_finished = true;
                w.log(self.end, format!("PPP: LCP finished: {reason}"));
            }
            LcpEvent::MagicNumbersLow => self.lcp.supply_magic(w.rng.next_u32() | 1),
            other => w.log(self.end, format!("PPP: LCP event {other:?}")),
        }
    }

    fn on_auth_event(&mut self, w: &mut World, e: AuthEvent, opts: &DemoOptions) {
        let now = w.now();
        match e {
            AuthEvent::Success(s) => {
                self.auth_ok = true;
                let user = String::from_utf8_lossy(&s.username).into_owned();
                w.log(
                    self.end,
                    format!(
                        "AUTH: {:?} succeeded for user {user:?}{}",
                        s.method,
                        if s.key_material.is_some() {
                            ", MPPE key material available"
                        } else {
                            ""
                        }
                    ),
                );
                self.username = Some(user);
                self.key_material = s.key_material.clone();
                if self.end == End::Server {
                    // The PIX's syslog 603103.
                    w.log(self.end, format!("%PIX-6-603103: PPP virtual interface 1 - user: {} aaa authentication succeeded", opts.username));
                }
            }
            AuthEvent::Failure(f) => {
                w.log(
                    self.end,
                    format!(
                        "AUTH: {:?} failed: {} (Windows error {})",
                        f.method,
                        f.reason,
                        f.reason.windows_error()
                    ),
                );
                self.lcp.close(pp(now), EndReason::AdminClose);
            }
            AuthEvent::ChallengeNeeded => {
                let mut c = [0u8; 16];
                w.rng.fill(&mut c);
                if let Some(a) = self.authenticator.as_mut() {
                    let len = a.method().challenge_len().unwrap_or(16);
                    let _ = a.feed_challenge(pp(now), &c[..len]);
                }
            }
            AuthEvent::AuthRequest(_) => {}
        }
    }

    /// Sets up MPPE from the MS-CHAP key material (RFC 3079).
    fn start_mppe(
        &mut self,
        w: &mut World,
        strength: KeyStrength,
        mode: Mode,
    ) -> Result<(), String> {
        let side = match self.end {
            End::Client => KeySide::Client,
            End::Server => KeySide::Server,
        };
        let keys = match self.key_material.as_ref() {
            Some(MppeKeyMaterial::MsChapV2 {
                password_hash_hash,
                nt_response,
            }) => mschapv2_start_keys(password_hash_hash, nt_response, side),
            Some(MppeKeyMaterial::MsChapV1 {
                password_hash_hash,
                challenge,
                ..
            }) => StartKeys::symmetric(mschapv1_start_key(challenge, password_hash_hash)),
            Some(MppeKeyMaterial::External { send_key, recv_key }) => {
                StartKeys::from_radius(send_key, recv_key).map_err(|e| e.to_string())?
            }
            None => {
                return Err(
                    "MPPE needs MS-CHAP key material (RFC 3079); none from this method".into(),
                )
            }
        };
        let mut config = mppe::Config::new(strength, mode);
        // Both ends are ours, so stateful mode uses RFC 3078's literal
        // flush reading: only flag packets change keys, and a lost flushed
        // packet cannot leave the receiver a key behind. The deployed
        // reading (pppd/Linux, `StatefulFlush::KeyChange`) desynchronises
        // for good when the flushed packet answering a Reset-Request is
        // lost (seen here with --stateful --loss 15 --seed 1); see
        // `mppe::StatefulFlush`.
        config.stateful_flush = self.stateful_flush;
        let m = mppe::session::Mppe {
            encrypter: mppe::Encrypter::new(&keys.send, config).map_err(|e| e.to_string())?,
            decrypter: mppe::Decrypter::new(&keys.receive, config).map_err(|e| e.to_string())?,
        };
        self.mppe = Some(m);
        self.mppe_text = format!(
            "{}-bit {}",
            match strength {
                KeyStrength::Bits40 => 40,
                KeyStrength::Bits56 => 56,
                KeyStrength::Bits128 => 128,
            },
            if mode == Mode::Stateful {
                "stateful"
            } else {
                "stateless"
            }
        );
        w.log(
            self.end,
            format!(
                "MPPE: {} keys derived from the MS-CHAP exchange (RFC 3079)",
                self.mppe_text
            ),
        );
        Ok(())
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

    fn row(&self, w: &World, remote_id: u16, now: u64) -> TunnelRow {
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
        let _ = w;
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

/// Splits a buffer of whole control messages by their Length fields.
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
    Authenticating,
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
    let mut client = Endpoint::new(End::Client, opts, &mut rng);
    let mut server = Endpoint::new(End::Server, opts, &mut rng);
    let mut outcome = Outcome {
        layers: vec![
            "TCP (simulated)",
            "PPTP control",
            "GRE",
            "PPP LCP",
            "PPP auth",
        ],
        ..Outcome::default()
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
    let mut pool: AddressPool<1> = match AddressPool::new(POOL_FIRST, POOL_LAST) {
        Ok(p) => p,
        Err(e) => {
            outcome.failure = Some(format!("pool: {e}"));
            return outcome;
        }
    };
    let mut phase = Phase::Connecting;
    let mut failure: Option<String> = None;

    loop {
        // Run both ends until quiet at this instant.
        for _ in 0..1000 {
            let a = client.pump(&mut w, opts);
            let b = server.pump(&mut w, opts);
            if !a && !b {
                break;
            }
        }
        let now = w.now();
        let phase_before = phase;
        let pending_before = (client.lcp.state(), client.conn.is_closed());
        // The script.
        match phase {
            Phase::Connecting if client.lcp_opened && server.lcp_opened => {
                phase = Phase::Authenticating;
            }
            Phase::Authenticating if client.auth_ok && server.auth_ok => {
                if let Some(strength) = opts.mppe {
                    let mode = if opts.stateful {
                        Mode::Stateful
                    } else {
                        Mode::Stateless
                    };
                    w.log.log(now, None, "CCP: option negotiation not run in this build (ppp-core Link pending); both ends use the MPPE settings given");
                    for ep in [&mut client, &mut server] {
                        if let Err(e) = ep.start_mppe(&mut w, strength, mode) {
                            failure = Some(e);
                        }
                    }
                    if failure.is_none() {
                        outcome.layers.push("MPPE");
                    }
                }
                match pool.allocate() {
                    Ok(addr) => {
                        w.log.log(now, None, format!("IPCP: not run in this build (ppp-core Link pending); client given {addr} from pool {POOL_FIRST}-{POOL_LAST} out of band"));
                        client.ip = Some(addr);
                        client.peer_ip = Some(SERVER_TUNNEL_IP);
                        server.ip = Some(SERVER_TUNNEL_IP);
                        server.peer_ip = Some(addr);
                    }
                    Err(e) => failure = Some(format!("pool: {e}")),
                }
                outcome.layers.push("IPv4/ICMP");
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
                    outcome.show_vpdn = show_vpdn::render(&[server.row(&w, client.tunnel_id, now)]);
                    w.log
                        .log(now, None, "client: disconnecting (LCP Terminate)");
                    client.lcp.close(pp(now), EndReason::AdminClose);
                    phase = Phase::Terminating;
                }
            }
            Phase::Terminating if client.lcp_finished => {
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
        if (phase < Phase::Data && (client.lcp_finished || server.lcp_finished))
            || (phase < Phase::StoppingTunnel && (client.tunnel_down || server.tunnel_down))
        {
            failure = Some(format!(
                "session ended early in phase {phase:?} (see transcript)"
            ));
            break;
        }
        if phase != phase_before || pending_before != (client.lcp.state(), client.conn.is_closed())
        {
            // The script acted: let the machines send before time moves.
            continue;
        }
        // Whatever the script queued goes out before time moves.
        let a = client.pump(&mut w, opts);
        let b = server.pump(&mut w, opts);
        if a || b {
            continue;
        }
        if phase == Phase::Data
            && (client.pinger.outstanding.is_none() || server.pinger.outstanding.is_none())
        {
            // A ping was answered: send the next one now.
            let c = client.pinger.outstanding.is_none() && client.pinger.answered < opts.pings;
            let s = server.pinger.outstanding.is_none() && server.pinger.answered < opts.pings;
            if c || s {
                continue;
            }
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
            while ep.pump(&mut w, opts) {}
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
    outcome.reset_requests = client.reset_requests + server.reset_requests;
    outcome.elapsed_ms = now;
    outcome.username = server.username.clone();
    if outcome.show_vpdn.is_empty() {
        outcome.show_vpdn = show_vpdn::render(&[server.row(&w, client.tunnel_id, now)]);
    }
    if failure.is_none() && opts.mppe.is_some() && client.mppe.is_none() {
        failure = Some("MPPE was requested but could not start".into());
    }
    if let Some(e) = w.pcap_error.take() {
        failure.get_or_insert(format!("pcap: {e}"));
    }
    if failure.is_none() && outcome.ip_damaged > 0 {
        failure = Some(format!("{} IP packets arrived damaged", outcome.ip_damaged));
    }
    outcome.completed = failure.is_none() && phase == Phase::Done;
    outcome.failure = failure;
    w.log.log(
        now,
        None,
        format!(
            "end: {} after {}.{:03} s simulated; {} GRE datagrams sent, {} lost and {} reordered by the network",
            if outcome.completed { "session completed" } else { "session FAILED" },
            now / 1000,
            now % 1000,
            w.net.stats.gre_sent,
            w.net.stats.gre_lost,
            w.net.stats.gre_delayed
        ),
    );
    outcome
}
