//! `pptp-load`: many PPTP clients against one `pptp-server`, to measure
//! session set-up rate and the server's memory per session.
//!
//! Every session is the project's own client, as `pptp-client` runs it:
//! a [`pptp_core::endpoint::Endpoint`] in the client role (one slot, one
//! machine of each kind) over a real TCP connection, with LCP, MS-CHAPv2,
//! IPCP and CCP with MPPE-128 required. A session counts as established
//! at its `SessionUp` (IPCP and CCP opened).
//!
//! One thread, one `mio` loop, like the server: at most `concurrency`
//! handshakes are in flight, new TCP connections start at most `ramp`
//! per second, and the sessions' timers live in one heap, so 10,000
//! sessions cost nothing per loop turn. All sessions share one raw GRE
//! socket: session `i` places its call with call ID `i + 1`
//! ([`CallRequestParams::call_id`](pptp_core::endpoint::CallRequestParams)),
//! which routes the server's GRE to it.
//!
//! Phases: establish all N (prints `RESULT ...`), optionally send one ICMP
//! Echo Request per session through the tunnel to the server's tunnel
//! address and wait for the replies (`DATA ...`), optionally a bounded
//! Echo flood on every session at a set rate (`TRAFFIC ...`, see
//! [`TrafficConfig`]), then hold the sessions
//! (`HOLDING`; the endpoints answer PPTP and LCP keepalives) until
//! SIGINT/SIGTERM or the hold time, then close every session in order
//! (LCP Terminate, Call-Clear-Request, Stop-Control-Connection-Request)
//! and print `CLOSED ...`.

pub mod icmp;
mod traffic;

pub use traffic::{TrafficConfig, TrafficReport};

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4};
use std::os::fd::AsRawFd;
use std::time::Duration as StdDuration;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppp_core::link::{Credentials, LinkConfig};
use ppp_core::wire::lcp::AuthMethod;
use pptp_core::control::Config as ControlConfig;
use pptp_core::endpoint::{self, ConnectionHandle, Destination, Event, Outbound, TcpInput};
use pptp_core::time::Instant;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::MppeSettings;
use crate::host::{heap_memory, Clock, HeapMemory, OsRandom};
use crate::net::gre::{Flushed, GreSocket, RecvBatch, SendBatch};
use crate::timers::TimerHeap;

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
    /// MPPE asked of the server (required unless `none`).
    pub mppe: MppeSettings,
    /// The Echo flood on every session after the data check, if any.
    pub traffic: Option<TrafficConfig>,
    /// How long to hold the sessions up (`None`: until SIGINT/SIGTERM).
    pub hold: Option<StdDuration>,
    /// How long the orderly close may take.
    pub close_timeout: StdDuration,
}

/// What a run measured.
#[derive(Clone, Debug, Default)]
pub struct Report {
    /// Sessions that reached `SessionUp`.
    pub established: usize,
    /// Sessions that did not.
    pub failed: usize,
    /// Failure reasons and counts.
    pub failures: BTreeMap<String, usize>,
    /// First connect to last `SessionUp`, seconds.
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
    /// What the Echo flood measured (if it ran).
    pub traffic: Option<TrafficReport>,
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
    /// TCP connect to `SessionUp`.
    Handshake,
    /// Established.
    Up,
    /// Closing in order.
    Closing,
    /// Finished (failed or closed); no socket, no endpoint.
    Done,
}

/// One session's endpoint: one slot, one machine of each kind.
type Client = endpoint::Client<HeapMemory, OsRandom>;

struct Session {
    phase: Phase,
    /// Boxed: built at launch, dropped when done.
    endpoint: Option<Box<Client>>,
    conn: Option<ConnectionHandle>,
    stream: Option<TcpStream>,
    /// Bytes for the server not yet taken by the socket.
    out: Vec<u8>,
    call_id: u16,
    started: u64,
    /// What the handshake waits for (for the timeout's message).
    stage: &'static str,
    /// Why it failed, when an event said so before `SessionDown`.
    failure: Option<String>,
    local: Option<Ipv4Addr>,
    remote: Option<Ipv4Addr>,
    mppe128: bool,
    replied: bool,
    /// The largest IP packet the session carries (from `SessionUp`).
    mtu: usize,
    /// Echo Replies received through the tunnel, all phases.
    echo_replies: u64,
    /// Sequence number of the session's next flood Echo Request.
    echo_sequence: u16,
    /// Milliseconds after the start at which each event came
    /// (`PPTP_LOAD_TRACE=1` prints them for slow and failed sessions).
    trace: Vec<(&'static str, u64)>,
}

struct Load<'a> {
    config: &'a LoadConfig,
    client: endpoint::ClientConfig,
    poll: Poll,
    gre: GreSocket,
    /// GRE datagrams to send, one `sendmmsg` per batch (as the hosts do):
    /// sent when full and at every loop turn, before the loop sleeps.
    gre_tx: SendBatch,
    /// What one `recvmmsg` read; taken while its datagrams are handled.
    gre_rx: Option<RecvBatch>,
    server_ip: Ipv4Addr,
    clock: Clock,
    sessions: Vec<Session>,
    timers: TimerHeap<usize>,
    /// The endpoints' output, one transmit at a time.
    tx: Vec<u8>,
    launched: usize,
    in_flight: usize,
    stopping: bool,
    first_connect: Option<u64>,
    last_ready: u64,
    /// Octets of the Echo Replies counted in [`Session::echo_replies`].
    echo_reply_octets: u64,
    report: Report,
}

/// The client's PPP settings: MS-CHAPv2 only, MPPE as `mppe` says.
pub fn link_config(user: &str, password: &str, mppe: MppeSettings) -> Result<LinkConfig, String> {
    let creds = Credentials::password(user.as_bytes(), password.as_bytes())
        .map_err(|e| format!("credentials: {e:?}"))?;
    let mut link = LinkConfig::client(creds);
    link.lcp = link.lcp.with_auth_allowed(&[AuthMethod::MsChapV2]);
    link.mppe = mppe.policy();
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
    let mut client =
        endpoint::ClientConfig::new(link_config(&config.user, &config.password, config.mppe)?);
    client.control = ControlConfig {
        host_name: b"pptp-load".iter().copied().collect(),
        vendor_string: b"pptp-rs".iter().copied().collect(),
        ..ControlConfig::default()
    };
    let gre = GreSocket::open().map_err(|e| format!("raw GRE socket: {e}"))?;
    let poll = Poll::new().map_err(|e| format!("epoll: {e}"))?;
    poll.registry()
        .register(&mut SourceFd(&gre.as_raw_fd()), GRE, Interest::READABLE)
        .map_err(|e| format!("register: {e}"))?;
    let mut signals = Signals::new([SIGINT, SIGTERM]).map_err(|e| format!("signals: {e}"))?;
    poll.registry()
        .register(&mut signals, SIGNALS, Interest::READABLE)
        .map_err(|e| format!("register: {e}"))?;
    let sessions = (0..config.sessions)
        .map(|i| Session {
            phase: Phase::Idle,
            endpoint: None,
            conn: None,
            stream: None,
            out: Vec::new(),
            call_id: (i + 1) as u16,
            started: 0,
            stage: "control connection",
            failure: None,
            local: None,
            remote: None,
            mppe128: false,
            replied: false,
            mtu: 0,
            echo_replies: 0,
            echo_sequence: 0,
            trace: Vec::new(),
        })
        .collect();
    let mut load = Load {
        config,
        client,
        poll,
        gre,
        server_ip: *config.server.ip(),
        clock: Clock::start(),
        sessions,
        timers: TimerHeap::new(),
        tx: vec![0u8; 4096],
        gre_tx: SendBatch::new(),
        gre_rx: Some(RecvBatch::new()),
        launched: 0,
        in_flight: 0,
        stopping: false,
        first_connect: None,
        last_ready: 0,
        echo_reply_octets: 0,
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
    if let (Some(traffic), false) = (&config.traffic, load.stopping) {
        load.traffic(traffic, &mut signals);
    }
    if !load.stopping {
        print_line(&format!("HOLDING sessions={}", load.count(Phase::Up)));
        load.hold(&mut signals);
    }
    load.report.pptp_echoes_answered = load
        .sessions
        .iter()
        .filter_map(|s| s.endpoint.as_ref())
        .flat_map(|e| e.sessions().map(|v| v.tunnel.echo_requests_received))
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

    /// One loop turn: sleep until an event, `max_wait` or a timer, then
    /// handle everything that is ready. Returns true on SIGINT/SIGTERM.
    fn turn(
        &mut self,
        events: &mut Events,
        buf: &mut [u8],
        signals: &mut Signals,
        max_wait: Option<u64>,
    ) -> bool {
        // What the last turn queued goes before the loop sleeps; if the
        // socket is full, the wait is short so that it goes soon after.
        let max_wait = if self.gre.flush(&mut self.gre_tx) == Flushed::Blocked {
            Some(max_wait.map_or(1, |w| w.min(1)))
        } else {
            max_wait
        };
        let now = self.now();
        let timer = self.timers.next_deadline();
        let wake = [timer, max_wait.map(|w| now + w)]
            .into_iter()
            .flatten()
            .min();
        let timeout = wake.map(|d| StdDuration::from_millis(d.saturating_sub(now)));
        if let Err(e) = self.poll.poll(events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                eprintln!("pptp-load: poll: {e}");
            }
        }
        let mut stop = false;
        for event in events.iter() {
            match event.token() {
                GRE => self.gre_readable(),
                SIGNALS => stop |= signals.pending().next().is_some(),
                Token(t) if t >= FIRST_SESSION => self.tcp_event(t - FIRST_SESSION, buf),
                _ => {}
            }
        }
        let now = self.now();
        while let Some(idx) = self.timers.pop_due(now) {
            self.fire(idx, now);
        }
        stop
    }

    /// Arms session `idx`'s timer: its endpoint's, or the end of its
    /// handshake.
    fn arm(&mut self, idx: usize) {
        let s = &mut self.sessions[idx];
        let handshake = (s.phase == Phase::Handshake)
            .then(|| s.started + self.config.handshake_timeout.as_millis() as u64);
        let endpoint = s
            .endpoint
            .as_ref()
            .and_then(|e| e.poll_timeout())
            .map(|t| t.as_millis());
        let at = [handshake, endpoint].into_iter().flatten().min();
        self.timers.set(idx, at);
    }

    fn fire(&mut self, idx: usize, now: u64) {
        let s = &mut self.sessions[idx];
        if s.phase == Phase::Handshake
            && now >= s.started + self.config.handshake_timeout.as_millis() as u64
        {
            let link = s
                .endpoint
                .as_ref()
                .zip(s.conn)
                // A client's one call shares its connection's handle value.
                .and_then(|(e, c)| e.link(pptp_core::endpoint::SessionHandle(c.0)))
                .map(|l| l.phase());
            let stage = match link {
                Some(ppp_core::link::Phase::Establish) => "LCP",
                Some(ppp_core::link::Phase::Authenticate) => "authentication",
                Some(_) => "IPCP/CCP",
                None => s.stage,
            };
            self.fail(idx, format!("handshake timeout in {stage}"));
            return;
        }
        if let Some(e) = s.endpoint.as_mut() {
            e.handle_timeout(Instant::from_millis(now));
        }
        self.drain(idx);
    }

    /// Phase 1: start and establish every session.
    fn establish(&mut self, signals: &mut Signals) -> Result<(), String> {
        let mut events = Events::with_capacity(1024);
        let mut buf = vec![0u8; 65_536];
        let start = self.now();
        let mut last_progress = start;
        while self.report.established + self.report.failed < self.config.sessions {
            let now = self.now();
            let mut max_wait = 1000;
            while self.launched < self.config.sessions && self.in_flight < self.config.concurrency {
                if self.config.ramp_per_sec > 0 {
                    let allowed = (now - start) * self.config.ramp_per_sec / 1000 + 1;
                    if self.launched as u64 >= allowed {
                        // Wake when the next connection is due.
                        let due = start + (self.launched as u64) * 1000 / self.config.ramp_per_sec;
                        max_wait = due.saturating_sub(now).clamp(1, 1000);
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
            if self.turn(&mut events, &mut buf, signals, Some(max_wait)) {
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
        let mut config = self.client.clone();
        config.call.call_id = Some(s.call_id);
        let Ok(mut endpoint) = Client::client(config, heap_memory(1, 1), OsRandom) else {
            self.fail(idx, "endpoint: bad memory".into());
            return;
        };
        // The connect is under way: the SCCRQ waits in `out` until the
        // socket is writable.
        match endpoint.connect(Instant::from_millis(now), self.server_ip) {
            Ok(conn) => s.conn = Some(conn),
            Err(e) => {
                self.fail(idx, format!("endpoint: {e}"));
                return;
            }
        }
        s.endpoint = Some(Box::new(endpoint));
        self.drain(idx);
    }

    /// A session did not make it (or went down while up): count it once
    /// and drop its socket and endpoint.
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
        s.endpoint = None;
        s.out = Vec::new();
        self.timers.set(idx, None);
    }

    fn tcp_event(&mut self, idx: usize, buf: &mut [u8]) {
        let mut gone = None;
        loop {
            let s = &mut self.sessions[idx];
            flush_tcp(s);
            let Some(stream) = s.stream.as_mut() else {
                return;
            };
            match stream.read(buf) {
                Ok(0) => {
                    gone = Some("server closed the TCP connection".to_string());
                    break;
                }
                Ok(n) => self.feed_tcp(idx, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    gone = Some(format!("TCP: {}", e.kind()));
                    break;
                }
            }
        }
        let Some(why) = gone else {
            return;
        };
        let now = Instant::from_millis(self.now());
        let s = &mut self.sessions[idx];
        if let (Some(e), Some(conn)) = (s.endpoint.as_mut(), s.conn) {
            e.handle_tcp_closed(now, conn);
        }
        self.drain(idx);
        match self.sessions[idx].phase {
            Phase::Closing => self.finish(idx),
            Phase::Done => {}
            _ => self.fail(idx, why),
        }
    }

    /// Gives session `idx`'s endpoint control bytes; what it cannot take
    /// yet waits for its output to be sent (TCP back-pressure).
    fn feed_tcp(&mut self, idx: usize, mut bytes: &[u8]) {
        for _ in 0..8 {
            let now = Instant::from_millis(self.now());
            let s = &mut self.sessions[idx];
            let (Some(e), Some(conn)) = (s.endpoint.as_mut(), s.conn) else {
                return;
            };
            let input = e.handle_tcp(now, conn, bytes);
            self.drain(idx);
            match input {
                TcpInput::Blocked { consumed } => bytes = bytes.get(consumed..).unwrap_or(&[]),
                _ => return,
            }
        }
    }

    /// Reads the GRE socket until it is empty, a `recvmmsg` batch at a
    /// time.
    fn gre_readable(&mut self) {
        let Some(mut rx) = self.gre_rx.take() else {
            return;
        };
        loop {
            let n = match self.gre.recv_batch(&mut rx) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    eprintln!("pptp-load: GRE receive: {e}");
                    break;
                }
            };
            for i in 0..n {
                if let Some((source, datagram)) = rx.gre_mut(i) {
                    self.gre_datagram(source, datagram);
                }
            }
        }
        self.gre_rx = Some(rx);
    }

    /// One GRE datagram from `source`, to the session whose call it names.
    fn gre_datagram(&mut self, source: Ipv4Addr, datagram: &mut [u8]) {
        if source != self.server_ip {
            return;
        }
        let Ok(call_id) = pptp_core::gre::peek_call_id(datagram) else {
            return;
        };
        // Session i placed its call with call ID i + 1.
        let idx = usize::from(call_id).wrapping_sub(1);
        let now = Instant::from_millis(self.now());
        let Some(s) = self.sessions.get_mut(idx) else {
            return;
        };
        let Some(e) = s.endpoint.as_mut() else {
            return;
        };
        if let Ok(Some(ip)) = e.handle_gre(now, source, datagram) {
            if is_echo_reply(&datagram[ip.range.clone()], s.local, s.call_id) {
                s.replied = true;
                s.echo_replies += 1;
                self.echo_reply_octets += ip.range.len() as u64;
            }
        }
        self.drain(idx);
    }

    /// Sends what session `idx`'s endpoint has to send, acts on its
    /// events and re-arms its timer.
    fn drain(&mut self, idx: usize) {
        let now = self.now();
        let s = &mut self.sessions[idx];
        let Some(e) = s.endpoint.as_mut() else {
            return;
        };
        while let Some(t) = e.poll_transmit(Instant::from_millis(now), &mut self.tx) {
            let bytes = &self.tx[..t.len];
            match t.to {
                Destination::Tcp(_) => s.out.extend_from_slice(bytes),
                Destination::Gre(peer) => self.gre.queue(&mut self.gre_tx, peer, bytes),
                Destination::Ip(_) => s.replied |= is_echo_reply(bytes, s.local, s.call_id),
            }
        }
        let events: Vec<Event> = std::iter::from_fn(|| e.poll_event()).collect();
        flush_tcp(s);
        for event in events {
            if self.sessions[idx].phase == Phase::Done {
                return;
            }
            self.on_event(idx, event, now);
        }
        self.arm(idx);
    }

    fn on_event(&mut self, idx: usize, event: Event, now: u64) {
        let s = &mut self.sessions[idx];
        if tracing() {
            s.trace.push((event_name(&event), now - s.started));
        }
        match event {
            Event::TunnelUp { .. } => s.stage = "call",
            Event::CallUp { .. } => s.stage = "PPP",
            Event::AuthFailed { reason, .. } => {
                s.failure
                    .get_or_insert(format!("authentication failed: {reason:?}"));
            }
            Event::SessionUp {
                address,
                peer_address,
                mppe,
                mtu,
                ..
            } => {
                s.local = address;
                s.remote = peer_address;
                s.mtu = mtu;
                s.mppe128 = mppe.is_some_and(|m| {
                    m.send.strength == mppe::KeyStrength::Bits128
                        && m.receive.strength == mppe::KeyStrength::Bits128
                });
                if s.phase == Phase::Handshake {
                    s.phase = Phase::Up;
                    self.in_flight -= 1;
                    self.report.established += 1;
                    self.report.setup_ms.push(now - s.started);
                    if tracing() && now - s.started > 1_000 {
                        eprintln!("pptp-load: slow session {idx}: {:?}", s.trace);
                    }
                    self.last_ready = now;
                }
            }
            Event::SessionDown { reason, .. } => {
                let why = s.failure.take().unwrap_or_else(|| reason.to_string());
                if matches!(s.phase, Phase::Handshake | Phase::Up) {
                    self.fail(idx, why);
                }
            }
            Event::ConnectionClosed { .. } => {
                flush_tcp(s);
                if let Some(stream) = s.stream.as_ref() {
                    let _ = stream.shutdown(Shutdown::Write);
                }
                match s.phase {
                    Phase::Closing => self.finish(idx),
                    _ => self.fail(idx, "control connection closed".into()),
                }
            }
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
        let now = Instant::from_millis(self.now());
        let s = &mut self.sessions[idx];
        let (Some(local), Some(remote), Some(e)) = (s.local, s.remote, s.endpoint.as_mut()) else {
            return;
        };
        let request = icmp::echo_request(local, remote, s.call_id, sequence);
        // 84 octets: never fragmented nor answered with ICMP.
        if let Ok(Some(t)) = e.send_ip(now, &mut Outbound::new(&request), &mut self.tx) {
            if let Destination::Gre(peer) = t.to {
                self.gre.queue(&mut self.gre_tx, peer, &self.tx[..t.len]);
            }
        }
        self.drain(idx);
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

    /// Phase 4: every established session closes in order (the endpoint
    /// sends LCP Terminate-Request, then Call-Clear-Request and
    /// Stop-Control-Connection-Request).
    fn close_all(&mut self) {
        let now = self.now();
        for idx in 0..self.sessions.len() {
            let s = &mut self.sessions[idx];
            match s.phase {
                Phase::Up => {
                    s.phase = Phase::Closing;
                    if let Some(e) = s.endpoint.as_mut() {
                        e.close_all(Instant::from_millis(now));
                    }
                    self.drain(idx);
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
        Event::TunnelUp { .. } => "tunnel-up",
        Event::CallUp { .. } => "call-up",
        Event::Authenticated { .. } => "authenticated",
        Event::AuthFailed { .. } => "auth-failed",
        Event::SessionUp { .. } => "session-up",
        Event::SessionDown { .. } => "session-down",
        Event::ConnectionClosed { .. } => "connection-closed",
        _ => "other",
    }
}

/// Whether `packet`, from the tunnel, is the reply to the Echo Request
/// of the session with address `local` and call ID `id`.
fn is_echo_reply(packet: &[u8], local: Option<Ipv4Addr>, id: u16) -> bool {
    local.is_some_and(|a| icmp::echo_reply_id(packet, a) == Some(id))
}

/// Writes what the socket takes of a session's pending TCP bytes. A
/// connect still in progress reports `WouldBlock` (or `NotConnected`): the
/// bytes wait for the writable event. A broken socket shows as EOF or an
/// error on the next read.
fn flush_tcp(s: &mut Session) {
    let Some(stream) = s.stream.as_mut() else {
        return;
    };
    while !s.out.is_empty() {
        match stream.write(&s.out) {
            Ok(n) => {
                s.out.drain(..n);
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
            Err(_) => {
                s.out.clear();
                break;
            }
        }
    }
}
