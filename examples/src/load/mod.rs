//! `pptp-load`: many PPTP clients against one `pptp-server`, to measure
//! session set-up rate and the server's memory per session.
//!
//! Every session is the project's own client stack, as `pptp-client` runs
//! it: a `pptp_core::control::Connection` in the client role over a real
//! TCP connection (SCCRQ/SCCRP, Outgoing-Call-Request/Reply), a
//! `GreSession` over one shared raw GRE socket, and a `ppp_core::link::Link`
//! client (LCP, MS-CHAPv2, IPCP, CCP with MPPE-128 required). A session
//! counts as established when its link reports `DataReady` (IPCP and CCP
//! opened).
//!
//! One thread, one `mio` loop, like the server: at most `concurrency`
//! handshakes are in flight, new TCP connections start at most `ramp`
//! per second, and timers live in the server's
//! [`TimerHeap`](crate::server::timers::TimerHeap) so 10,000 sessions cost
//! nothing per loop turn. GRE datagrams are demultiplexed by call ID (ours
//! are 1..=N, unique).
//!
//! Phases: establish all N (prints `RESULT ...`), optionally send one ICMP
//! Echo Request per session through the tunnel to the server's tunnel
//! address and wait for the replies (`DATA ...`), then hold the sessions
//! (`HOLDING`; PPTP and LCP keepalives are answered by the machines)
//! until SIGINT/SIGTERM or the hold time, then close every session in
//! order (LCP Terminate, Call-Clear-Request, Stop-Control-Connection-
//! Request) and print `CLOSED ...`.

pub mod icmp;

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration as StdDuration;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppp_core::link::{Credentials, EndReason, Link, LinkConfig, LinkEvent};
use ppp_core::wire::lcp::AuthMethod;
use pptp_core::control::{CallParams, Config as ControlConfig, Connection, Event};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::Role;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::{MppeMode, MppeSettings, MppeStrength};
use crate::host::{entropy, Clock};
use crate::net::gre::{GreQueue, GreSocket};
use crate::server::timers::{earliest, Schedule};

const GRE: Token = Token(0);
const SIGNALS: Token = Token(1);
const FIRST_SESSION: usize = 16;

/// Echo Requests sent back to back in the data check, then a pause of
/// [`DATA_PAUSE_MS`]: about 50,000 packets/s at most.
const DATA_BURST: usize = 100;
const DATA_PAUSE_MS: u64 = 2;

/// Sessions one run may drive: call IDs are 1..=N in 16 bits.
pub const MAX_SESSIONS: usize = 65_000;

/// Settings of a run.
#[derive(Clone, Debug)]
pub struct LoadConfig {
    /// The server's PPTP address.
    pub server: SocketAddrV4,
    /// Sessions to establish.
    pub sessions: usize,
    /// Handshakes in flight at most.
    pub concurrency: usize,
    /// New TCP connections per second at most (0: no limit).
    pub ramp_per_sec: u64,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// A session not established this long after its TCP connect fails.
    pub handshake_timeout: StdDuration,
    /// Send one IP packet per session through and wait for the reply.
    pub data: bool,
    /// How long to hold the sessions up (`None`: until SIGINT/SIGTERM).
    pub hold: Option<StdDuration>,
    /// How long the orderly close may take.
    pub close_timeout: StdDuration,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Sessions that reached `DataReady`.
    pub established: usize,
    /// Sessions that did not.
    pub failed: usize,
    /// Failure reasons and counts.
    pub failures: BTreeMap<String, usize>,
    /// First connect to last `DataReady`, seconds.
    pub seconds: f64,
    /// Established sessions with MPPE-128 both ways.
    pub mppe128: usize,
    /// Set-up time of each established session, milliseconds, sorted.
    pub setup_ms: Vec<u64>,
    /// Echo Requests answered through the tunnels (if the data check ran).
    pub data_replied: Option<usize>,
    /// Established sessions that went down before the close.
    pub lost: usize,
    /// PPTP Echo-Requests from the server answered while holding.
    pub pptp_echoes_answered: u64,
    /// Sessions closed in order at the end.
    pub closed: usize,
}

impl Report {
    /// Sessions per second.
    pub fn rate(&self) -> f64 {
        if self.seconds > 0.0 {
            self.established as f64 / self.seconds
        } else {
            0.0
        }
    }

    /// The `p`-th percentile of the set-up times (0..=100).
    pub fn percentile(&self, p: usize) -> u64 {
        if self.setup_ms.is_empty() {
            return 0;
        }
        let i = (self.setup_ms.len() - 1) * p.min(100) / 100;
        self.setup_ms[i]
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not started yet.
    Idle,
    /// TCP connect to DataReady.
    Handshake,
    /// Established.
    Up,
    /// Closing in order.
    Closing,
    /// Finished (failed or closed); no socket.
    Done,
}

struct Call {
    gre: GreSession,
    link: Link,
    queue: GreQueue,
}

struct Session {
    phase: Phase,
    stream: Option<TcpStream>,
    conn: Option<Connection<1>>,
    out: Vec<u8>,
    call_id: u16,
    call: Option<Call>,
    started: u64,
    tcp_dead: bool,
    close_sent: bool,
    local: Option<Ipv4Addr>,
    remote: Option<Ipv4Addr>,
    mppe128: bool,
    replied: bool,
    /// GRE datagrams that arrived before the Outgoing-Call-Reply (see
    /// [`EARLY_LIMIT`]).
    early: Vec<Vec<u8>>,
    /// Milliseconds after the start at which each stage was reached
    /// (`PPTP_LOAD_TRACE=1` prints them for slow sessions).
    trace: Vec<(&'static str, u64)>,
}

/// GRE datagrams kept per session while its call is not up yet. The server
/// sends its first LCP Configure-Request by GRE right after the
/// Outgoing-Call-Reply by TCP; both arrive together, and if the loop reads
/// the GRE socket first the datagram is for a call it does not know yet.
/// Dropping it costs the server's LCP restart timer (3 s, RFC 1661 §4.6)
/// on every session, so a few are kept and replayed once the call is up.
const EARLY_LIMIT: usize = 4;

struct Load<'a> {
    config: &'a LoadConfig,
    poll: Poll,
    gre: GreSocket,
    server_ip: Ipv4Addr,
    clock: Clock,
    sessions: Vec<Session>,
    by_call: Vec<u32>,
    schedule: Schedule<usize>,
    template: LinkConfig,
    control: ControlConfig,
    launched: usize,
    in_flight: usize,
    stopping: bool,
    first_connect: Option<u64>,
    last_ready: u64,
    report: Report,
}

/// The client's PPP settings: MS-CHAPv2 only, MPPE-128 stateless required.
pub fn link_config(user: &str, password: &str) -> Result<LinkConfig, String> {
    let creds = Credentials::password(user.as_bytes(), password.as_bytes())
        .map_err(|e| format!("credentials: {e:?}"))?;
    let mut link = LinkConfig::client(creds);
    link.lcp = link.lcp.with_auth_allowed(&[AuthMethod::MsChapV2]);
    link.mppe = MppeSettings {
        strength: MppeStrength::Bits128,
        required: true,
        mode: MppeMode::Stateless,
    }
    .policy();
    Ok(link)
}

fn print_line(line: &str) {
    let mut out = io::stdout().lock();
    let _ = writeln!(out, "{line}");
    let _ = out.flush();
}

/// Runs the whole test; needs root (raw GRE socket).
pub fn run(config: &LoadConfig) -> Result<Report, String> {
    if config.sessions == 0 || config.sessions > MAX_SESSIONS {
        return Err(format!("sessions: 1 to {MAX_SESSIONS}"));
    }
    let template = link_config(&config.user, &config.password)?;
    let gre = GreSocket::open().map_err(|e| format!("raw GRE socket: {e}"))?;
    let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
    poll.registry()
        .register(&mut SourceFd(&gre.as_raw_fd()), GRE, Interest::READABLE)
        .map_err(|e| format!("register: {e}"))?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signals: {e}"))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|e| format!("register: {e}"))?;
    let control = ControlConfig {
        host_name: b"pptp-load".iter().copied().collect(),
        vendor_string: b"pptp-rs".iter().copied().collect(),
        ..ControlConfig::default()
    };
    let sessions = (0..config.sessions)
        .map(|i| Session {
            phase: Phase::Idle,
            stream: None,
            conn: None,
            out: Vec::new(),
            call_id: (i + 1) as u16,
            call: None,
            started: 0,
            tcp_dead: false,
            close_sent: false,
            local: None,
            remote: None,
            mppe128: false,
            replied: false,
            early: Vec::new(),
            trace: Vec::new(),
        })
        .collect();
    let mut load = Load {
        config,
        poll,
        gre,
        server_ip: *config.server.ip(),
        clock: Clock::start(),
        sessions,
        by_call: vec![0; 65_536],
        schedule: Schedule::default(),
        template,
        control,
        launched: 0,
        in_flight: 0,
        stopping: false,
        first_connect: None,
        last_ready: 0,
        report: Report::default(),
    };
    load.establish(&mut signals)?;
    let r = &load.report;
    print_line(&format!(
        "RESULT sessions={} established={} failed={} seconds={:.3} rate={:.1} mppe128={} setup_ms_p50={} p90={} p99={} max={}",
        config.sessions,
        r.established,
        r.failed,
        r.seconds,
        r.rate(),
        r.mppe128,
        r.percentile(50),
        r.percentile(90),
        r.percentile(99),
        r.percentile(100)
    ));
    if !r.failures.is_empty() {
        let list: Vec<String> = r
            .failures
            .iter()
            .map(|(k, v)| format!("{v}x {k}"))
            .collect();
        print_line(&format!("FAILURES {}", list.join("; ")));
    }
    if config.data && !load.stopping {
        load.data_check(&mut signals);
    }
    if !load.stopping {
        print_line(&format!("HOLDING sessions={}", load.count(Phase::Up)));
        load.hold(&mut signals);
    }
    load.report.pptp_echoes_answered = load
        .sessions
        .iter()
        .filter_map(|s| s.conn.as_ref())
        .map(|c| c.stats().echo_requests_received)
        .sum();
    let up_before_close = load.count(Phase::Up);
    let t = load.clock.ms();
    load.close_all();
    print_line(&format!(
        "CLOSED closed={} of {} seconds={:.3} lost_while_up={} pptp_echo_requests_answered={}",
        load.report.closed,
        up_before_close,
        (load.clock.ms() - t) as f64 / 1000.0,
        load.report.lost,
        load.report.pptp_echoes_answered
    ));
    Ok(load.report)
}

impl Load<'_> {
    fn count(&self, phase: Phase) -> usize {
        self.sessions.iter().filter(|s| s.phase == phase).count()
    }

    fn now(&self) -> u64 {
        self.clock.ms()
    }

    /// One loop turn: sleep until an event or `max_wait`/a timer, then
    /// handle everything that is ready. Returns true on SIGINT/SIGTERM.
    fn turn(
        &mut self,
        events: &mut Events,
        buf: &mut [u8],
        signals: &mut Signals,
        max_wait: Option<u64>,
    ) -> bool {
        let now = self.now();
        for idx in self.schedule.take_dirty() {
            let deadline = self.deadline(idx);
            self.schedule.heap.set(idx, deadline);
        }
        let wake = earliest([
            self.schedule.heap.next_deadline(),
            max_wait.map(|w| now + w),
        ]);
        let timeout = wake.map(|d| StdDuration::from_millis(d.saturating_sub(now)));
        if let Err(e) = self.poll.poll(events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("pptp-load: poll: {e}");
            }
        }
        let mut stop = false;
        for event in events.iter() {
            match event.token() {
                GRE => self.gre_readable(buf),
                SIGNALS => stop |= signals.pending().next().is_some(),
                Token(t) if t >= FIRST_SESSION => self.tcp_event(t - FIRST_SESSION, buf),
                _ => {}
            }
        }
        let now = self.now();
        while let Some(idx) = self.schedule.heap.pop_due(now) {
            self.fire(idx, now);
        }
        stop
    }

    fn deadline(&self, idx: usize) -> Option<u64> {
        let s = &self.sessions[idx];
        if matches!(s.phase, Phase::Idle | Phase::Done) {
            return None;
        }
        let handshake = (s.phase == Phase::Handshake)
            .then(|| s.started + self.config.handshake_timeout.as_millis() as u64);
        let (gre, link) = match &s.call {
            Some(c) => (
                c.gre.poll_timeout().map(|i| i.as_millis()),
                c.link.poll_timeout().map(|i| i.as_millis()),
            ),
            None => (None, None),
        };
        earliest([
            s.conn
                .as_ref()
                .and_then(|c| c.poll_timeout())
                .map(|i| i.as_millis()),
            gre,
            link,
            handshake,
        ])
    }

    fn fire(&mut self, idx: usize, now: u64) {
        let s = &mut self.sessions[idx];
        if s.phase == Phase::Handshake
            && now >= s.started + self.config.handshake_timeout.as_millis() as u64
        {
            let stage = match &s.call {
                None if s.conn.as_ref().is_some_and(|c| c.is_established()) => "call",
                None => "control connection",
                Some(c) => match c.link.phase() {
                    ppp_core::link::Phase::Establish => "LCP",
                    ppp_core::link::Phase::Authenticate => "authentication",
                    _ => "IPCP/CCP",
                },
            };
            self.fail(idx, format!("handshake timeout in {stage}"));
            return;
        }
        if let Some(conn) = s.conn.as_mut() {
            if conn.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                conn.handle_timeout(pptp_core::Instant::from_millis(now));
            }
        }
        if let Some(c) = s.call.as_mut() {
            if c.gre.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                c.gre.handle_timeout(pptp_core::Instant::from_millis(now));
            }
            if c.link.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                c.link.handle_timeout(ppp_core::Instant::from_millis(now));
            }
        }
        self.service(idx);
    }

    /// Phase 1: start and establish every session.
    fn establish(&mut self, signals: &mut Signals) -> Result<(), String> {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65_536];
        let start = self.now();
        let mut last_progress = start;
        while self.report.established + self.report.failed < self.config.sessions {
            let now = self.now();
            let mut max_wait = None;
            while self.launched < self.config.sessions && self.in_flight < self.config.concurrency {
                if self.config.ramp_per_sec > 0 {
                    let allowed = (now - start) * self.config.ramp_per_sec / 1000 + 1;
                    if self.launched as u64 >= allowed {
                        // Wake when the next connection is due.
                        let due = start + (self.launched as u64) * 1000 / self.config.ramp_per_sec;
                        max_wait = Some(due.saturating_sub(now).max(1));
                        break;
                    }
                }
                let idx = self.launched;
                self.launched += 1;
                self.launch(idx);
            }
            if now >= last_progress + 1000 {
                last_progress = now;
                eprintln!(
                    "pptp-load: {:.1} s: established {} failed {} in flight {}",
                    (now - start) as f64 / 1000.0,
                    self.report.established,
                    self.report.failed,
                    self.in_flight
                );
            }
            let max_wait = earliest([max_wait, Some(1000)]);
            if self.turn(&mut events, &mut buf, signals, max_wait) {
                self.stopping = true;
                return Err("interrupted while establishing".into());
            }
        }
        let first = self.first_connect.unwrap_or(start);
        self.report.seconds = self.last_ready.saturating_sub(first) as f64 / 1000.0;
        self.report.setup_ms.sort_unstable();
        self.report.mppe128 = self
            .sessions
            .iter()
            .filter(|s| s.phase == Phase::Up && s.mppe128)
            .count();
        Ok(())
    }

    fn launch(&mut self, idx: usize) {
        let now = self.now();
        self.first_connect.get_or_insert(now);
        self.in_flight += 1;
        let s = &mut self.sessions[idx];
        s.phase = Phase::Handshake;
        s.started = now;
        self.by_call[usize::from(s.call_id)] = idx as u32 + 1;
        let mut stream = match TcpStream::connect(SocketAddr::V4(self.config.server)) {
            Ok(st) => st,
            Err(e) => {
                self.fail(idx, format!("TCP connect: {}", e.kind()));
                return;
            }
        };
        let _ = stream.set_nodelay(true);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            Token(FIRST_SESSION + idx),
            Interest::READABLE | Interest::WRITABLE,
        ) {
            self.fail(idx, format!("register: {}", e.kind()));
            return;
        }
        s.stream = Some(stream);
        s.conn = Some(Connection::new(
            Role::Client,
            self.control.clone(),
            pptp_core::Instant::from_millis(now),
        ));
        self.service(idx);
    }

    /// A session did not make it: count it once and drop its sockets.
    fn fail(&mut self, idx: usize, why: String) {
        let s = &mut self.sessions[idx];
        if tracing() && s.phase == Phase::Handshake {
            eprintln!("pptp-load: failed session {idx} ({why}): {:?}", s.trace);
        }
        match s.phase {
            Phase::Handshake => {
                self.in_flight -= 1;
                self.report.failed += 1;
                *self.report.failures.entry(why).or_default() += 1;
            }
            Phase::Up => self.report.lost += 1,
            _ => {}
        }
        self.finish(idx);
    }

    fn finish(&mut self, idx: usize) {
        let s = &mut self.sessions[idx];
        if s.phase == Phase::Closing {
            self.report.closed += 1;
        }
        s.phase = Phase::Done;
        if let Some(mut st) = s.stream.take() {
            let _ = self.poll.registry().deregister(&mut st);
        }
        s.call = None;
        s.early = Vec::new();
        self.by_call[usize::from(s.call_id)] = 0;
        s.out = Vec::new();
        self.schedule.touch(idx);
    }

    fn tcp_event(&mut self, idx: usize, buf: &mut [u8]) {
        let Some(s) = self.sessions.get_mut(idx) else {
            return;
        };
        let (Some(stream), Some(conn)) = (s.stream.as_mut(), s.conn.as_mut()) else {
            return;
        };
        let now = pptp_core::Instant::from_millis(self.clock.ms());
        let mut error = None;
        loop {
            match stream.read(buf) {
                Ok(0) => {
                    s.tcp_dead = true;
                    error.get_or_insert_with(|| "server closed the TCP connection".to_string());
                    break;
                }
                Ok(n) => {
                    let _ = conn.handle_input(now, &buf[..n]);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    s.tcp_dead = true;
                    error = Some(format!("TCP: {}", e.kind()));
                    break;
                }
            }
        }
        self.service(idx);
        let s = &mut self.sessions[idx];
        if s.tcp_dead && s.phase != Phase::Done {
            let why = error.unwrap_or_else(|| "TCP closed".into());
            if s.phase == Phase::Closing {
                self.finish(idx);
            } else {
                self.fail(idx, why);
            }
        }
    }

    fn gre_readable(&mut self, buf: &mut [u8]) {
        loop {
            let (source, range) = match self.gre.recv(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
                Err(e) => {
                    eprintln!("pptp-load: GRE receive: {e}");
                    return;
                }
            };
            if source != self.server_ip {
                continue;
            }
            let Ok(call_id) = pptp_core::gre::peek_call_id(&buf[range.clone()]) else {
                continue;
            };
            let idx = match self.by_call[usize::from(call_id)] {
                0 => continue,
                n => n as usize - 1,
            };
            let now = self.clock.ms();
            let s = &mut self.sessions[idx];
            let Some(call) = s.call.as_mut() else {
                if s.phase == Phase::Handshake && s.early.len() < EARLY_LIMIT {
                    s.early.push(buf[range].to_vec());
                }
                continue;
            };
            if let Ok(Received::Deliver { payload, .. }) = call
                .gre
                .decapsulate(pptp_core::Instant::from_millis(now), &buf[range.clone()])
            {
                let frame = &mut buf[range.start + payload.start..range.start + payload.end];
                if let Ok(Some(d)) = call
                    .link
                    .handle_frame(ppp_core::Instant::from_millis(now), frame)
                {
                    let ip = &frame[d.range()];
                    if let Some(local) = s.local {
                        if icmp::echo_reply_id(ip, local) == Some(s.call_id) {
                            s.replied = true;
                        }
                    }
                }
            }
            self.service(idx);
        }
    }

    /// Runs one session's machines until they are quiet.
    fn service(&mut self, idx: usize) {
        self.schedule.touch(idx);
        let now_ms = self.clock.ms();
        let pnow = pptp_core::Instant::from_millis(now_ms);
        let lnow = ppp_core::Instant::from_millis(now_ms);
        let server = self.server_ip;
        let mut frame = [0u8; 4096];
        let mut packet = [0u8; 4200];
        let mut failure: Option<String> = None;
        let mut ready = false;
        let s = &mut self.sessions[idx];
        let Some(conn) = s.conn.as_mut() else {
            return;
        };
        for _ in 0..16 {
            let mut progress = false;
            while let Some(event) = conn.poll_event() {
                progress = true;
                if tracing() {
                    s.trace.push((event_name(&event), now_ms - s.started));
                }
                match event {
                    Event::TunnelUp(_) => {
                        if let Err(e) = conn.place_call(pnow, s.call_id, &CallParams::default()) {
                            failure.get_or_insert(format!("place_call: {e}"));
                        }
                    }
                    Event::CallUp(up) => {
                        let gre = GreSession::new(GreConfig::new(
                            up.local_call_id,
                            up.peer_call_id,
                            up.peer_recv_window,
                        ));
                        let mut link = Link::new(self.template.clone(), entropy());
                        link.open(lnow);
                        let mut call = Call {
                            gre,
                            link,
                            queue: GreQueue::default(),
                        };
                        for mut datagram in s.early.drain(..) {
                            if let Ok(Received::Deliver { payload, .. }) =
                                call.gre.decapsulate(pnow, &datagram)
                            {
                                let _ = call.link.handle_frame(lnow, &mut datagram[payload]);
                            }
                        }
                        s.call = Some(call);
                    }
                    Event::CallDown(down) => match s.call.as_mut() {
                        Some(c) => c.link.lower_down(lnow),
                        None => {
                            failure.get_or_insert(format!("call refused: {:?}", down.reason));
                        }
                    },
                    Event::TunnelDown(reason) => {
                        if let Some(c) = s.call.as_mut() {
                            c.link.lower_down(lnow);
                        }
                        failure.get_or_insert(format!("tunnel down: {reason:?}"));
                    }
                    _ => {}
                }
            }
            let mut call_ended = false;
            if let Some(call) = s.call.as_mut() {
                while let Some(event) = call.link.poll_event() {
                    progress = true;
                    if tracing() {
                        s.trace.push((link_event_name(&event), now_ms - s.started));
                    }
                    match event {
                        LinkEvent::AuthFailed { reason, .. } => {
                            failure.get_or_insert(format!("authentication failed: {reason:?}"));
                        }
                        LinkEvent::CcpUp(info) => {
                            s.mppe128 = info.is_some_and(|m| {
                                m.send.strength == mppe::KeyStrength::Bits128
                                    && m.receive.strength == mppe::KeyStrength::Bits128
                            });
                        }
                        LinkEvent::IpcpUp(n) => {
                            s.local = n.local_address;
                            s.remote = n.peer_address;
                        }
                        LinkEvent::DataReady => ready = true,
                        LinkEvent::Down(reason) => {
                            failure.get_or_insert(format!("PPP down: {reason:?}"));
                            call_ended = true;
                        }
                        _ => {}
                    }
                }
                call.queue.flush(&mut call.gre, &self.gre, server, pnow);
                while let Some(tx) = call.link.poll_transmit(lnow, &mut frame) {
                    progress = true;
                    call.queue
                        .send(&mut call.gre, &self.gre, server, pnow, &frame[..tx.len]);
                }
                if let Ok(Some(n)) = call.gre.poll_transmit(pnow, &mut packet) {
                    let _ = self.gre.send(server, &packet[..n]);
                }
            }
            if call_ended {
                // RFC 2637 §2.12: the PAC clears its call with
                // Call-Clear-Request, then the tunnel goes.
                s.call = None;
                let _ = conn.clear_call(pnow, s.call_id);
                if !s.close_sent {
                    s.close_sent = true;
                    let _ = conn.close(pnow);
                }
                progress = true;
            }
            while let Some(tx) = conn.poll_transmit(pnow, &mut frame) {
                progress = true;
                s.out.extend_from_slice(&frame[..tx.len]);
            }
            flush_tcp(s.stream.as_mut(), &mut s.out, &mut s.tcp_dead);
            if !progress {
                break;
            }
        }
        flush_tcp(s.stream.as_mut(), &mut s.out, &mut s.tcp_dead);
        let conn_done = s.conn.as_ref().is_some_and(|c| c.is_closed()) && s.out.is_empty();
        if ready && s.phase == Phase::Handshake {
            s.phase = Phase::Up;
            self.in_flight -= 1;
            self.report.established += 1;
            self.report.setup_ms.push(now_ms - s.started);
            if tracing() && now_ms - s.started > 1_000 {
                eprintln!("pptp-load: slow session {idx}: {:?}", s.trace);
            }
            self.last_ready = now_ms;
        }
        let s = &self.sessions[idx];
        match s.phase {
            Phase::Handshake | Phase::Up if failure.is_some() || conn_done || s.tcp_dead => {
                let why = failure.unwrap_or_else(|| "control connection closed".into());
                self.fail(idx, why);
            }
            Phase::Closing if conn_done || s.tcp_dead => self.finish(idx),
            _ => {}
        }
    }

    /// Phase 2: one ICMP Echo Request per session to the server's tunnel
    /// address; unanswered ones are sent again (up to three rounds).
    fn data_check(&mut self, signals: &mut Signals) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65_536];
        let start = self.now();
        let mut first_round = 0;
        for round in 0..3u16 {
            let todo: Vec<usize> = (0..self.sessions.len())
                .filter(|&i| self.sessions[i].phase == Phase::Up && !self.sessions[i].replied)
                .collect();
            if todo.is_empty() {
                break;
            }
            // Paced: a burst of thousands would overflow the server's
            // socket buffers, and PPTP never retransmits data.
            for chunk in todo.chunks(DATA_BURST) {
                for &idx in chunk {
                    self.ping(idx, round + 1);
                }
                let next = self.now() + DATA_PAUSE_MS;
                while self.now() < next {
                    if self.turn(&mut events, &mut buf, signals, Some(1)) {
                        self.stopping = true;
                        return;
                    }
                }
            }
            let wait_until = self.now() + 2_000;
            while self.now() < wait_until && !self.all_replied() {
                if self.turn(&mut events, &mut buf, signals, Some(100)) {
                    self.stopping = true;
                    return;
                }
            }
            if round == 0 {
                first_round = self.replied();
            }
        }
        let replied = self.replied();
        self.report.data_replied = Some(replied);
        print_line(&format!(
            "DATA sessions={} replied={} first_round={} seconds={:.3}",
            self.count(Phase::Up),
            replied,
            first_round,
            (self.now() - start) as f64 / 1000.0
        ));
    }

    fn replied(&self) -> usize {
        self.sessions
            .iter()
            .filter(|s| s.phase == Phase::Up && s.replied)
            .count()
    }

    fn all_replied(&self) -> bool {
        self.sessions
            .iter()
            .all(|s| s.phase != Phase::Up || s.replied)
    }

    fn ping(&mut self, idx: usize, sequence: u16) {
        let now = self.clock.ms();
        let server = self.server_ip;
        let s = &mut self.sessions[idx];
        let (Some(local), Some(remote), Some(call)) = (s.local, s.remote, s.call.as_mut()) else {
            return;
        };
        let request = icmp::echo_request(local, remote, s.call_id, sequence);
        let mut frame = [0u8; 256];
        if let Ok(len) =
            call.link
                .send_ip(ppp_core::Instant::from_millis(now), &request, &mut frame)
        {
            call.queue.send(
                &mut call.gre,
                &self.gre,
                server,
                pptp_core::Instant::from_millis(now),
                &frame[..len],
            );
        }
        self.schedule.touch(idx);
    }

    /// Phase 3: keep everything running until a signal or the hold time.
    fn hold(&mut self, signals: &mut Signals) {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65_536];
        let until = self.config.hold.map(|h| self.now() + h.as_millis() as u64);
        loop {
            let now = self.now();
            if until.is_some_and(|u| now >= u) {
                return;
            }
            let wait = until.map(|u| u - now).unwrap_or(1_000);
            if self.turn(&mut events, &mut buf, signals, Some(wait)) {
                return;
            }
        }
    }

    /// Phase 4: LCP Terminate on every established session; the link going
    /// down sends Call-Clear-Request and Stop-Control-Connection-Request.
    fn close_all(&mut self) {
        let now = self.now();
        for idx in 0..self.sessions.len() {
            let s = &mut self.sessions[idx];
            match s.phase {
                Phase::Up => {
                    s.phase = Phase::Closing;
                    if let Some(c) = s.call.as_mut() {
                        c.link
                            .close(ppp_core::Instant::from_millis(now), EndReason::AdminClose);
                    }
                    self.service(idx);
                }
                Phase::Handshake => self.fail(idx, "interrupted".into()),
                _ => {}
            }
        }
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65_536];
        let until = now + self.config.close_timeout.as_millis() as u64;
        // SIGINT again does not stop the orderly close early: the deadline does.
        let Ok(mut quiet) = Signals::new([SIGINT, SIGTERM]) else {
            return;
        };
        while self.sessions.iter().any(|s| s.phase == Phase::Closing) && self.now() < until {
            self.turn(&mut events, &mut buf, &mut quiet, Some(100));
        }
    }
}

fn tracing() -> bool {
    static TRACE: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *TRACE.get_or_init(|| std::env::var_os("PPTP_LOAD_TRACE").is_some())
}

fn event_name(e: &Event) -> &'static str {
    match e {
        Event::TunnelUp(_) => "tunnel-up",
        Event::CallUp(_) => "call-up",
        Event::CallDown(_) => "call-down",
        Event::TunnelDown(_) => "tunnel-down",
        _ => "control-other",
    }
}

fn link_event_name(e: &LinkEvent) -> &'static str {
    match e {
        LinkEvent::Phase(ppp_core::link::Phase::Authenticate) => "lcp-opened",
        LinkEvent::Phase(ppp_core::link::Phase::Network) => "network",
        LinkEvent::Phase(_) => "phase",
        LinkEvent::Authenticated { .. } => "authenticated",
        LinkEvent::IpcpUp(_) => "ipcp-up",
        LinkEvent::CcpUp(_) => "ccp-up",
        LinkEvent::DataReady => "data-ready",
        LinkEvent::Down(_) => "down",
        _ => "link-other",
    }
}

/// Writes what the socket takes of a session's pending TCP bytes. A
/// connect still in progress reports `WouldBlock` (or `NotConnected`): the
/// bytes wait for the writable event.
fn flush_tcp(stream: Option<&mut TcpStream>, out: &mut Vec<u8>, dead: &mut bool) {
    let Some(stream) = stream else {
        return;
    };
    while !out.is_empty() && !*dead {
        match stream.write(out) {
            Ok(n) => {
                out.drain(..n);
            }
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::WouldBlock | io::ErrorKind::NotConnected
                ) =>
            {
                break
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => *dead = true,
        }
    }
}
