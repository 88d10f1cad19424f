//! `pptp-client`: the PPTP access concentrator (PAC) side — one tunnel,
//! one call, one TUN device — around the same Sans-IO machines as the
//! server, in the same single-threaded `mio` loop style.
//!
//! Life of a session: TCP connect, SCCRQ/SCCRP, Outgoing-Call-Request/
//! Reply, LCP, authentication, IPCP + CCP; the TUN device gets the
//! assigned address and a host route to the server's tunnel address
//! (plus any `routes` asked for). On SIGINT/SIGTERM it says goodbye in
//! order: LCP Terminate-Request, Call-Clear-Request, then
//! Stop-Control-Connection-Request. When the session fails or the server
//! ends it, [`run`] reconnects with exponential back-off (1 s doubling to
//! 60 s) up to `retries` times.

mod stdio;

pub use stdio::run_stdio;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration as StdDuration;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppp_core::link::{Credentials, EndReason, Link, LinkConfig, LinkEvent};
use ppp_core::wire::lcp::AuthMethod;
use pptp_core::control::{CallParams, Config as ControlConfig, Connection, Event};
use pptp_core::gre::{peek_call_id, GreConfig, GreSession, Received};
use pptp_core::Role;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::MppeSettings;
use crate::host::{entropy, Clock};
use crate::net::gre::{GreQueue, GreSocket};
use crate::net::tun::Tun;

const TCP: Token = Token(0);
const GRE: Token = Token(1);
const TUN: Token = Token(2);
const SIGNALS: Token = Token(3);

macro_rules! log {
    ($($arg:tt)*) => {{
        eprintln!("pptp-client: {}", format_args!($($arg)*));
    }};
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The server (PNS).
    pub server: SocketAddrV4,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// Methods we accept, in order of preference.
    pub auth: Vec<AuthMethod>,
    /// MPPE.
    pub mppe: MppeSettings,
    /// TUN device name.
    pub tun_name: String,
    /// Extra routes into the tunnel once it is up.
    pub routes: Vec<(Ipv4Addr, u8)>,
    /// Reconnect attempts after a failed or lost session (0: none).
    pub retries: u32,
}

/// How one session ended.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// The user asked (SIGINT/SIGTERM) and the goodbyes were sent.
    UserDisconnect,
    /// The session failed or was ended by the server; worth retrying.
    Lost(String),
    /// Retrying cannot help (authentication refused, bad settings).
    Fatal(String),
}

/// Runs sessions until the user disconnects or the retries are used up.
pub fn run(config: &ClientConfig) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        return Err("pptp-client needs root: it opens a raw GRE socket (CAP_NET_RAW) and a TUN device (CAP_NET_ADMIN). Run it with sudo.".into());
    }
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signals: {e}"))?;
    let mut backoff = 1u64;
    let mut attempt = 0u32;
    loop {
        match session(config, &mut signals) {
            Outcome::UserDisconnect => {
                log!("disconnected");
                return Ok(());
            }
            Outcome::Fatal(why) => return Err(why),
            Outcome::Lost(why) => {
                if attempt >= config.retries {
                    return Err(format!("session lost: {why}; no retries left"));
                }
                attempt += 1;
                log!(
                    "session lost: {why}; reconnecting in {backoff} s (attempt {attempt} of {})",
                    config.retries
                );
                if wait_or_signal(&mut signals, StdDuration::from_secs(backoff)) {
                    log!("disconnected");
                    return Ok(());
                }
                backoff = (backoff * 2).min(60);
            }
        }
    }
}

/// Sleeps `d` unless a signal comes first (then true).
fn wait_or_signal(signals: &mut Signals, d: StdDuration) -> bool {
    let Ok(mut poll) = Poll::new() else {
        std::thread::sleep(d);
        return false;
    };
    if poll
        .registry()
        .register(signals, SIGNALS, Interest::READABLE)
        .is_err()
    {
        std::thread::sleep(d);
        return false;
    }
    let mut events = Events::with_capacity(4);
    let _ = poll.poll(&mut events, Some(d));
    let got = signals.pending().next().is_some();
    let _ = poll.registry().deregister(signals);
    got
}

/// The PPP settings of the client.
pub fn link_config(config: &ClientConfig) -> Result<LinkConfig, String> {
    let creds = Credentials::password(config.user.as_bytes(), config.password.as_bytes())
        .map_err(|e| format!("credentials: {e:?}"))?;
    let mut link = LinkConfig::client(creds);
    link.lcp = link.lcp.with_auth_allowed(&config.auth);
    link.mppe = config.mppe.policy();
    Ok(link)
}

struct Call {
    local_id: u16,
    gre: GreSession,
    link: Link,
    queue: GreQueue,
}

struct Session<'a> {
    config: &'a ClientConfig,
    clock: Clock,
    stream: TcpStream,
    conn: Connection<1>,
    out: Vec<u8>,
    gre_sock: GreSocket,
    tun: Tun,
    call: Option<Call>,
    call_id: u16,
    closing: bool,
    close_sent: bool,
    outcome: Option<Outcome>,
    tun_up: bool,
    tcp_dead: bool,
    /// GRE datagrams for our call that arrived before its Outgoing-Call-
    /// Reply was read from TCP (the server sends its first LCP
    /// Configure-Request right after the reply, and the two sockets race);
    /// replayed when the call comes up. Bounded.
    early_gre: Vec<Vec<u8>>,
}

/// At most this many early GRE datagrams are kept (LCP's first
/// Configure-Request, maybe a retransmission).
const EARLY_GRE_MAX: usize = 4;

fn session(config: &ClientConfig, signals: &mut Signals) -> Outcome {
    let clock = Clock::start();
    let link_template = match link_config(config) {
        Ok(l) => l,
        Err(e) => return Outcome::Fatal(e),
    };
    let gre_sock = match GreSocket::open() {
        Ok(s) => s,
        Err(e) => return Outcome::Fatal(format!("raw GRE socket: {e}")),
    };
    let tun = match Tun::open(&config.tun_name) {
        Ok(t) => t,
        Err(e) => return Outcome::Fatal(format!("TUN device: {e}")),
    };
    log!("connecting to {}", config.server);
    let std_stream = match StdTcpStream::connect_timeout(
        &SocketAddr::V4(config.server),
        StdDuration::from_secs(10),
    ) {
        Ok(s) => s,
        Err(e) => return Outcome::Lost(format!("TCP connect to {}: {e}", config.server)),
    };
    let _ = std_stream.set_nodelay(true);
    if let Err(e) = std_stream.set_nonblocking(true) {
        return Outcome::Lost(format!("socket: {e}"));
    }
    let Ok(mut poll) = Poll::new() else {
        return Outcome::Fatal("epoll".into());
    };
    let mut stream = TcpStream::from_std(std_stream);
    let registry = poll.registry();
    let registered = registry
        .register(&mut stream, TCP, Interest::READABLE | Interest::WRITABLE)
        .and_then(|()| {
            registry.register(
                &mut SourceFd(&gre_sock.as_raw_fd()),
                GRE,
                Interest::READABLE,
            )
        })
        .and_then(|()| registry.register(&mut SourceFd(&tun.as_raw_fd()), TUN, Interest::READABLE))
        .and_then(|()| registry.register(signals, SIGNALS, Interest::READABLE));
    if let Err(e) = registered {
        return Outcome::Fatal(format!("register: {e}"));
    }
    let control = ControlConfig {
        host_name: b"pptp-client".iter().copied().collect(),
        vendor_string: b"pptp-rs".iter().copied().collect(),
        ..ControlConfig::default()
    };
    let mut s = Session {
        config,
        clock,
        stream,
        conn: Connection::new(
            Role::Client,
            control,
            pptp_core::Instant::from_millis(clock.ms()),
        ),
        out: Vec::new(),
        gre_sock,
        tun,
        call: None,
        call_id: crate::host::call_id(|_| false),
        closing: false,
        close_sent: false,
        outcome: None,
        tun_up: false,
        tcp_dead: false,
        early_gre: Vec::new(),
    };
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 65_536];
    let mut shutdown_deadline: Option<u64> = None;
    s.service(&link_template);
    loop {
        let now = s.clock.ms();
        let mut deadline = shutdown_deadline;
        let mut take = |d: Option<u64>| {
            if let Some(d) = d {
                deadline = Some(deadline.map_or(d, |x: u64| x.min(d)));
            }
        };
        take(s.conn.poll_timeout().map(|i| i.as_millis()));
        if let Some(c) = &s.call {
            take(c.gre.poll_timeout().map(|i| i.as_millis()));
            take(c.link.poll_timeout().map(|i| i.as_millis()));
        }
        let timeout = deadline.map(|d| StdDuration::from_millis(d.saturating_sub(now)));
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Outcome::Fatal(format!("poll: {e}"));
            }
        }
        for event in events.iter() {
            match event.token() {
                TCP => s.tcp_readable(&mut buf),
                GRE => s.gre_readable(&mut buf),
                TUN => s.tun_readable(&mut buf),
                SIGNALS if signals.pending().next().is_some() && !s.closing => {
                    log!("disconnecting");
                    s.start_close();
                    shutdown_deadline = Some(s.clock.ms() + 8_000);
                }
                _ => {}
            }
        }
        let now = s.clock.ms();
        if s.conn.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
            s.conn.handle_timeout(pptp_core::Instant::from_millis(now));
        }
        if let Some(c) = &mut s.call {
            if c.gre.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                c.gre.handle_timeout(pptp_core::Instant::from_millis(now));
            }
            if c.link.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                c.link.handle_timeout(ppp_core::Instant::from_millis(now));
            }
        }
        s.service(&link_template);
        let done = s.tcp_dead || (s.conn.is_closed() && s.out.is_empty());
        if done || shutdown_deadline.is_some_and(|d| s.clock.ms() >= d) {
            let _ = poll.registry().deregister(signals);
            return s
                .outcome
                .take()
                .unwrap_or(Outcome::Lost("control connection closed".into()));
        }
    }
}

impl Session<'_> {
    fn start_close(&mut self) {
        {
            self.outcome = Some(Outcome::UserDisconnect);
        }
        self.closing = true;
        let now = ppp_core::Instant::from_millis(self.clock.ms());
        match &mut self.call {
            Some(c) => c.link.close(now, EndReason::AdminClose),
            None => {
                self.close_sent = true;
                let _ = self
                    .conn
                    .close(pptp_core::Instant::from_millis(self.clock.ms()));
            }
        }
    }

    fn tcp_readable(&mut self, buf: &mut [u8]) {
        let now = pptp_core::Instant::from_millis(self.clock.ms());
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.fail("the server closed the TCP connection");
                    return;
                }
                Ok(n) => {
                    if let Err(e) = self.conn.handle_input(now, &buf[..n]) {
                        log!("control stream error: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.fail(&format!("TCP: {e}"));
                    return;
                }
            }
        }
    }

    /// The TCP connection is gone: nothing more can be said to the server.
    fn fail(&mut self, why: &str) {
        if self.outcome.is_none() {
            self.outcome = Some(Outcome::Lost(why.to_string()));
        }
        if let Some(c) = &mut self.call {
            c.link
                .lower_down(ppp_core::Instant::from_millis(self.clock.ms()));
        }
        self.out.clear();
        self.tcp_dead = true;
    }

    fn gre_readable(&mut self, buf: &mut [u8]) {
        let server = *self.config.server.ip();
        loop {
            let (source, range) = match self.gre_sock.recv(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
                Err(e) => {
                    log!("GRE receive: {e}");
                    return;
                }
            };
            if source != server {
                continue;
            }
            let now = self.clock.ms();
            let Some(call) = &mut self.call else {
                let ours = peek_call_id(&buf[range.clone()]) == Ok(self.call_id);
                if ours && self.early_gre.len() < EARLY_GRE_MAX {
                    self.early_gre.push(buf[range].to_vec());
                }
                continue;
            };
            deliver_gre(call, &mut self.tun, now, &mut buf[range]);
        }
    }

    fn tun_readable(&mut self, buf: &mut [u8]) {
        let mut frame = [0u8; 4096];
        let server = *self.config.server.ip();
        loop {
            let n = match self.tun.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log!("TUN read: {e}");
                    return;
                }
            };
            let now = self.clock.ms();
            let Some(call) = &mut self.call else {
                continue;
            };
            if let Ok(len) =
                call.link
                    .send_ip(ppp_core::Instant::from_millis(now), &buf[..n], &mut frame)
            {
                let pnow = pptp_core::Instant::from_millis(now);
                call.queue
                    .send(&mut call.gre, &self.gre_sock, server, pnow, &frame[..len]);
            }
        }
    }

    fn service(&mut self, template: &LinkConfig) {
        let now_ms = self.clock.ms();
        let pnow = pptp_core::Instant::from_millis(now_ms);
        let lnow = ppp_core::Instant::from_millis(now_ms);
        let server = *self.config.server.ip();
        let mut frame = [0u8; 4096];
        let mut packet = [0u8; 4200];
        for _ in 0..16 {
            let mut progress = false;
            while let Some(event) = self.conn.poll_event() {
                progress = true;
                match event {
                    Event::TunnelUp(info) => {
                        log!(
                            "tunnel up (server \"{}\", vendor \"{}\")",
                            String::from_utf8_lossy(&info.host_name),
                            String::from_utf8_lossy(&info.vendor_string)
                        );
                        if !self.closing {
                            if let Err(e) =
                                self.conn
                                    .place_call(pnow, self.call_id, &CallParams::default())
                            {
                                log!("place_call: {e}");
                            }
                        }
                    }
                    Event::CallUp(up) => {
                        log!(
                            "call up (our call {}, server call {})",
                            up.local_call_id,
                            up.peer_call_id
                        );
                        let gre = GreSession::new(GreConfig::new(
                            up.local_call_id,
                            up.peer_call_id,
                            up.peer_recv_window,
                        ));
                        let mut link = Link::new(template.clone(), entropy());
                        link.open(lnow);
                        let mut call = Call {
                            local_id: up.local_call_id,
                            gre,
                            link,
                            queue: GreQueue::default(),
                        };
                        for mut datagram in std::mem::take(&mut self.early_gre) {
                            deliver_gre(&mut call, &mut self.tun, now_ms, &mut datagram);
                        }
                        self.call = Some(call);
                    }
                    Event::CallDown(down) => {
                        log!("call down: {:?}", down.reason);
                        match &mut self.call {
                            Some(c) => c.link.lower_down(lnow),
                            None => {
                                if self.outcome.is_none() {
                                    self.outcome = Some(Outcome::Lost(format!(
                                        "call refused: {:?}",
                                        down.reason
                                    )));
                                }
                                if !self.close_sent {
                                    self.close_sent = true;
                                    let _ = self.conn.close(pnow);
                                }
                            }
                        }
                    }
                    Event::TunnelDown(reason) => {
                        log!("tunnel down: {reason:?}");
                        if self.outcome.is_none() {
                            self.outcome = Some(Outcome::Lost(format!("tunnel down: {reason:?}")));
                        }
                        if let Some(c) = &mut self.call {
                            c.link.lower_down(lnow);
                        }
                    }
                    _ => {}
                }
            }
            let mut call_ended = false;
            if let Some(call) = &mut self.call {
                while let Some(event) = call.link.poll_event() {
                    progress = true;
                    match event {
                        LinkEvent::Authenticated { method, .. } => {
                            log!("authenticated with {method:?}")
                        }
                        LinkEvent::AuthFailed { method, reason, .. } => {
                            log!("{method:?} authentication failed: {reason:?}");
                            self.outcome =
                                Some(Outcome::Fatal(format!("authentication failed: {reason:?}")));
                        }
                        LinkEvent::CcpUp(info) => log!("CCP up: {info:?}"),
                        LinkEvent::IpcpUp(n) => {
                            let (Some(local), Some(peer)) = (n.local_address, n.peer_address)
                            else {
                                log!("IPCP up without addresses: {n:?}");
                                continue;
                            };
                            if let Err(e) = configure_tun(
                                &self.tun,
                                local,
                                peer,
                                call.link.max_ip_len(),
                                &self.config.routes,
                            ) {
                                log!("configuring {}: {e}", self.tun.name());
                            } else {
                                self.tun_up = true;
                            }
                            log!("IPCP up: local address {local} peer {peer} dns {:?}", n.dns);
                        }
                        LinkEvent::DataReady => log!("data ready"),
                        LinkEvent::Down(reason) => {
                            log!("PPP down: {reason:?}");
                            if self.outcome.is_none() {
                                self.outcome = Some(Outcome::Lost(format!("PPP down: {reason:?}")));
                            }
                            call_ended = true;
                        }
                        _ => {}
                    }
                }
                call.queue
                    .flush(&mut call.gre, &self.gre_sock, server, pnow);
                while let Some(tx) = call.link.poll_transmit(lnow, &mut frame) {
                    progress = true;
                    call.queue.send(
                        &mut call.gre,
                        &self.gre_sock,
                        server,
                        pnow,
                        &frame[..tx.len],
                    );
                }
                if let Ok(Some(n)) = call.gre.poll_transmit(pnow, &mut packet) {
                    let _ = self.gre_sock.send(server, &packet[..n]);
                }
                if call_ended {
                    // RFC 2637 §2.12: the PAC clears its call with
                    // Call-Clear-Request; then the tunnel goes.
                    let id = call.local_id;
                    self.call = None;
                    let _ = self.conn.clear_call(pnow, id);
                    if !self.close_sent {
                        self.close_sent = true;
                        let _ = self.conn.close(pnow);
                    }
                }
            }
            while let Some(tx) = self.conn.poll_transmit(pnow, &mut frame) {
                progress = true;
                self.out.extend_from_slice(&frame[..tx.len]);
                // One write per message, as the server does.
                self.flush_tcp();
            }
            if !progress {
                break;
            }
        }
        self.flush_tcp();
    }

    fn flush_tcp(&mut self) {
        while !self.out.is_empty() && !self.tcp_dead {
            match self.stream.write(&self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => {
                    self.out.clear();
                }
            }
        }
    }
}

/// Puts `local` on the TUN device with `peer` as the point-to-point
/// destination, MTU from the link, and the extra routes.
/// One GRE datagram for the call: sequence/ack processing, then the PPP
/// frame to the link, and an IP packet it yields to the TUN device.
fn deliver_gre(call: &mut Call, tun: &mut Tun, now: u64, datagram: &mut [u8]) {
    if let Ok(Received::Deliver { payload, .. }) = call
        .gre
        .decapsulate(pptp_core::Instant::from_millis(now), datagram)
    {
        let frame = &mut datagram[payload];
        if let Ok(Some(d)) = call
            .link
            .handle_frame(ppp_core::Instant::from_millis(now), frame)
        {
            if let Err(e) = tun.send(&frame[d.range()]) {
                log!("TUN write: {e}");
            }
        }
    }
}

fn configure_tun(
    tun: &Tun,
    local: Ipv4Addr,
    peer: Ipv4Addr,
    mtu: usize,
    routes: &[(Ipv4Addr, u8)],
) -> io::Result<()> {
    let name = tun.name();
    let mtu = mtu.clamp(576, 1500).to_string();
    crate::net::ip(&["link", "set", "dev", name, "up", "mtu", &mtu])?;
    crate::net::ip(&[
        "addr",
        "replace",
        &format!("{local}/32"),
        "peer",
        &format!("{peer}/32"),
        "dev",
        name,
    ])?;
    for (net, prefix) in routes {
        crate::net::ip(&["route", "replace", &format!("{net}/{prefix}"), "dev", name])?;
    }
    Ok(())
}
