//! `pptp-server`: the PPTP network server (PNS) host around the Sans-IO
//! machines.
//!
//! # Design
//!
//! * **One thread, one `mio` poll loop.** Every protocol machine here
//!   (`pptp_core::control::Connection`, `pptp_core::gre::GreSession`,
//!   `ppp_core::link::Link`) is Sans-IO: bytes in, bytes out, and a
//!   `poll_timeout` deadline. A single readiness loop that feeds them and
//!   sleeps until the earliest deadline is all they need; an async runtime
//!   would add tasks, wakers and locks around state that is naturally owned
//!   by one loop. Each session costs its machines' memory and nothing else
//!   (no task stacks), and there is no cross-thread synchronisation.
//! * **One shared TUN device** (`pptp0` by default) for all sessions, as
//!   the PIX has one outside interface: our tunnel address is on it and
//!   the pool's addresses are routed into it, so the kernel needs one
//!   interface and a fixed set of routes instead of one device, address
//!   and route per session (which costs a syscall storm per login and
//!   does not scale to thousands of sessions). Packets read from the TUN
//!   go to the session whose assigned address is the destination (a hash
//!   map lookup).
//! * **One raw GRE socket** (IP protocol 47) for every call; datagrams
//!   are demultiplexed by the GRE call ID (our call IDs are unique across
//!   the server) and checked against the tunnel's peer address.
//!
//! Control: `SIGUSR1` prints the `show vpdn` table on stdout; the unix
//! socket in `control_socket` takes `status`, `clear all`, `clear
//! TUNNEL-ID`, `clear call CALL-ID`;
//! `SIGINT`/`SIGTERM` close every call (LCP Terminate-Request, then
//! Call-Disconnect-Notify) and every tunnel (Stop-Control-Connection-
//! Request) before exiting.

mod refuse;
mod show;
pub mod timers;

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::ipcp::AddressPool;
use ppp_core::link::{EndReason, Link, LinkConfig, LinkEvent, MppeInfo};
use ppp_core::wire::lcp::AuthMethod;
use pptp_core::control::{CallAccept, CallRefusal, Config as ControlConfig, Connection, Event};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::Role;
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;

use crate::config::ServerConfig;
use crate::host::{entropy, random_bytes, Clock};
use crate::net::gre::{GreQueue, GreSocket};
use crate::net::tun::Tun;
use crate::net::{ipv4_destination, range_to_cidrs};
use refuse::Refusals;
use timers::{earliest, Schedule};

/// The address pool type: up to 65,536 addresses (a /16; 8 KiB of
/// bitmap). It was 4,096, which stopped the 10,000-session scale test.
pub type Pool = AddressPool<1024>;
/// Calls one control connection may carry (pptp-linux and Windows place
/// one per tunnel).
pub const MAX_CALLS: usize = 4;
/// Local users the server can hold.
pub const MAX_USERS: usize = 256;

const LISTENER: Token = Token(0);
const GRE: Token = Token(1);
const TUN: Token = Token(2);
const SIGNALS: Token = Token(3);
const CONTROL: Token = Token(4);
const FIRST_DYNAMIC: usize = 16;

/// Large enough for any PPP frame plus GRE and IPv4 headers.
const BUF: usize = 65_536;

/// Log lines go to a buffer that the event loop writes to stderr once per
/// turn, before it blocks: one `write` per turn instead of one per line
/// (at 10,000 sessions set up at once the per-line writes were the
/// server's largest cost, found with `perf`).
macro_rules! log {
    ($($arg:tt)*) => {{
        $crate::server::log_line(format_args!($($arg)*));
    }};
}

thread_local! {
    static LOG: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Appends one log line (see `log!`); flushed by [`flush_log`], and at
/// once when the buffer grows past 64 KiB.
pub(crate) fn log_line(args: std::fmt::Arguments<'_>) {
    use std::io::Write as _;
    let full = LOG.with(|b| {
        let mut b = b.borrow_mut();
        let _ = writeln!(b, "pptp-server: {args}");
        b.len() > 64 * 1024
    });
    if full {
        flush_log();
    }
}

/// Writes the buffered log lines to stderr.
pub fn flush_log() {
    use std::io::Write as _;
    LOG.with(|b| {
        let mut b = b.borrow_mut();
        if !b.is_empty() {
            let _ = std::io::stderr().write_all(&b);
            b.clear();
        }
    });
}

mod aaa;
mod call_link;
mod tunnel_conn;

use call_link::CallLink;
use tunnel_conn::TunnelConn;

/// One call: its GRE data path and its PPP link.
pub(crate) struct Call {
    pub(crate) local_id: u16,
    pub(crate) peer_id: u16,
    pub(crate) gre: GreSession,
    pub(crate) link: CallLink,
    pub(crate) address: Option<Ipv4Addr>,
    pub(crate) user: String,
    pub(crate) auth: Option<AuthMethod>,
    pub(crate) mppe: Option<MppeInfo>,
    pub(crate) since: std::time::Instant,
    pub(crate) queue: GreQueue,
    ended: bool,
}

/// One control connection (a tunnel) and its calls.
pub(crate) struct Tunnel {
    pub(crate) id: u32,
    stream: TcpStream,
    pub(crate) peer: Ipv4Addr,
    pub(crate) conn: TunnelConn,
    out: Vec<u8>,
    pub(crate) calls: Vec<Call>,
    pub(crate) since: std::time::Instant,
    closing: bool,
    close_sent: bool,
    tcp_dead: bool,
}

/// State every tunnel touches.
struct Shared {
    gre: GreSocket,
    tun: Tun,
    pool: Pool,
    users: Box<CredentialStore<MAX_USERS>>,
    calls_by_id: HashMap<u16, Token>,
    routes: HashMap<Ipv4Addr, (Token, u16)>,
    link_template: std::rc::Rc<LinkConfig>,
    active_calls: usize,
    max_sessions: usize,
    /// External AAA (RADIUS / TACACS+) or local users.
    aaa: aaa::Aaa,
}

/// Why the server could not start.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

fn start_err<E: std::fmt::Display>(what: &str) -> impl FnOnce(E) -> StartError + '_ {
    move |e| StartError(format!("{what}: {e}"))
}

/// The server.
pub struct Server {
    config: ServerConfig,
    poll: Poll,
    listener: Option<TcpListener>,
    control: Option<UnixListener>,
    control_clients: HashMap<Token, UnixStream>,
    signals: Signals,
    shared: Shared,
    tunnels: HashMap<Token, Tunnel>,
    next_token: usize,
    next_tunnel_id: u32,
    clock: Clock,
    shutdown_deadline: Option<u64>,
    schedule: Schedule<Token>,
    refusals: Refusals,
}

/// The PPP link settings for every call, from the configuration.
pub fn link_config(config: &ServerConfig) -> LinkConfig {
    let mut link = LinkConfig::server(config.local_address, config.dns);
    link.lcp = link.lcp.with_auth_required(&config.auth);
    link.ipcp.nbns = config.wins;
    link.mppe = config.mppe.policy();
    link.authenticator.name = config
        .host_name
        .as_bytes()
        .iter()
        .copied()
        .take(64)
        .collect();
    link
}

impl Server {
    /// Opens the sockets and the TUN device (needs root).
    pub fn new(config: ServerConfig) -> Result<Self, StartError> {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Err(StartError(
                "pptp-server needs root: it opens a raw GRE socket (IP protocol 47, CAP_NET_RAW) \
                 and a TUN device (CAP_NET_ADMIN). Run it with sudo."
                    .into(),
            ));
        }
        let poll = Poll::new().map_err(start_err("epoll"))?;
        let gre = GreSocket::open().map_err(start_err("raw GRE socket"))?;
        let tun = Tun::open(&config.tun_name).map_err(start_err("TUN device"))?;
        tun.configure(config.local_address, config.mtu)
            .map_err(start_err("configuring the TUN device"))?;
        for (net, prefix) in range_to_cidrs(config.pool_first, config.pool_last) {
            tun.add_route(net, prefix)
                .map_err(start_err("pool route"))?;
        }
        let pool = Pool::new(config.pool_first, config.pool_last)
            .map_err(|e| StartError(format!("pool: {e:?}")))?;
        let mut users = Box::new(CredentialStore::<MAX_USERS>::new(DomainRule::default()));
        for u in &config.users {
            users
                .insert_password(u.name.as_bytes(), u.password.as_bytes())
                .map_err(|e| StartError(format!("user {}: {e:?}", u.name)))?;
        }
        let mut listener = crate::net::tcp_listener(config.listen).map_err(start_err("listen"))?;
        let signals =
            Signals::new([SIGINT, SIGTERM, SIGUSR1]).map_err(start_err("signal handlers"))?;
        let registry = poll.registry();
        registry
            .register(&mut listener, LISTENER, Interest::READABLE)
            .map_err(start_err("register"))?;
        registry
            .register(&mut SourceFd(&gre.as_raw_fd()), GRE, Interest::READABLE)
            .map_err(start_err("register"))?;
        registry
            .register(&mut SourceFd(&tun.as_raw_fd()), TUN, Interest::READABLE)
            .map_err(start_err("register"))?;
        let mut signals = signals;
        registry
            .register(&mut signals, SIGNALS, Interest::READABLE)
            .map_err(start_err("register"))?;
        let _ = std::fs::remove_file(&config.control_socket);
        let control = match UnixListener::bind(&config.control_socket) {
            Ok(mut l) => {
                registry
                    .register(&mut l, CONTROL, Interest::READABLE)
                    .map_err(start_err("register"))?;
                Some(l)
            }
            Err(e) => {
                log!(
                    "control socket {} unavailable ({e}); SIGUSR1 still prints the status",
                    config.control_socket.display()
                );
                None
            }
        };
        let clock = Clock::start();
        let aaa = aaa::Aaa::new(&config, poll.registry(), clock).map_err(StartError)?;
        let shared = Shared {
            aaa,
            gre,
            tun,
            pool,
            users,
            calls_by_id: HashMap::new(),
            routes: HashMap::new(),
            link_template: std::rc::Rc::new(link_config(&config)),
            active_calls: 0,
            max_sessions: config.max_sessions,
        };
        log!(
            "listening on {}, TUN {} ({}), pool {}-{}, auth {:?}, mppe {:?}, aaa {}",
            config.listen,
            shared.tun.name(),
            config.local_address,
            config.pool_first,
            config.pool_last,
            config.auth,
            config.mppe,
            shared.aaa.method_name()
        );
        let refusals = Refusals::new(config.host_name.as_bytes());
        Ok(Server {
            config,
            poll,
            listener: Some(listener),
            control,
            control_clients: HashMap::new(),
            signals,
            shared,
            tunnels: HashMap::new(),
            next_token: FIRST_DYNAMIC,
            next_tunnel_id: 1,
            clock,
            shutdown_deadline: None,
            schedule: Schedule::default(),
            refusals,
        })
    }

    fn token(&mut self) -> Token {
        self.next_token += 1;
        Token(self.next_token)
    }

    /// Runs until SIGINT/SIGTERM and the goodbyes are done.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; BUF];
        loop {
            let now = self.clock.ms();
            let deadline = match (self.next_deadline(), self.aaa_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            };
            let timeout = deadline.map(|d| std::time::Duration::from_millis(d.saturating_sub(now)));
            flush_log();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    GRE => self.gre_readable(&mut buf),
                    TUN => self.tun_readable(&mut buf),
                    SIGNALS => self.signals(),
                    CONTROL => self.control_accept(),
                    token if self.shared.aaa.owns(token) => self.aaa_readable(token),
                    token if self.refusals.contains(token) => {
                        self.refusals
                            .readable(self.poll.registry(), token, self.clock.ms())
                    }
                    token if self.control_clients.contains_key(&token) => {
                        self.control_readable(token)
                    }
                    token => self.tcp_event(token, &mut buf),
                }
            }
            self.timers();
            self.aaa_run();
            if let Some(deadline) = self.shutdown_deadline {
                // Accounting Stops go out (and are acknowledged) first.
                if self.tunnels.is_empty() && self.shared.aaa.idle() {
                    log!("all tunnels closed; exiting");
                    break;
                }
                if self.clock.ms() >= deadline {
                    log!(
                        "shutdown: {} tunnel(s) did not close in time; exiting",
                        self.tunnels.len()
                    );
                    break;
                }
            }
        }
        let _ = std::fs::remove_file(&self.config.control_socket);
        flush_log();
        Ok(())
    }

    /// The earliest deadline of any machine (or of the shutdown). Only the
    /// tunnels touched since the last turn are asked for their deadlines
    /// (see `timers`); the rest stay armed in the heap, so a turn costs
    /// O(touched · log tunnels), not O(tunnels).
    fn next_deadline(&mut self) -> Option<u64> {
        let now = self.clock.ms();
        for token in self.schedule.take_dirty() {
            let deadline = self
                .tunnels
                .get(&token)
                .and_then(|t| tunnel_deadline(t, now));
            self.schedule.heap.set(token, deadline);
        }
        earliest([
            self.shutdown_deadline,
            self.schedule.heap.next_deadline(),
            self.refusals.next_deadline(),
        ])
    }

    /// Fires the due timers: only the tunnels whose armed deadline has
    /// passed are visited. Servicing one marks it dirty, so
    /// [`Server::next_deadline`] re-arms it with its new deadline.
    fn timers(&mut self) {
        let now = self.clock.ms();
        self.refusals.expire(self.poll.registry(), now);
        while let Some(token) = self.schedule.heap.pop_due(now) {
            let Some(t) = self.tunnels.get_mut(&token) else {
                continue;
            };
            if t.conn.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                t.conn.handle_timeout(pptp_core::Instant::from_millis(now));
            }
            for c in &mut t.calls {
                if c.gre.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                    c.gre.handle_timeout(pptp_core::Instant::from_millis(now));
                }
                if c.link.poll_timeout().is_some_and(|d| d.as_millis() <= now) {
                    c.link.handle_timeout(ppp_core::Instant::from_millis(now));
                }
            }
            self.service(token);
        }
    }

    fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((mut stream, addr)) => {
                    let IpAddr::V4(peer) = addr.ip() else {
                        continue;
                    };
                    let _ = stream.set_nodelay(true);
                    let token = self.token();
                    if self.shared.active_calls >= self.shared.max_sessions {
                        // RFC 2637 §2.2/§2.16: answer the SCCRQ with
                        // General error / No-Resource, then close.
                        log!(
                            "refusing {addr}: {} sessions (max_sessions)",
                            self.shared.active_calls
                        );
                        let now = self.clock.ms();
                        self.refusals.add(self.poll.registry(), token, stream, now);
                        continue;
                    }
                    if let Err(e) = self.poll.registry().register(
                        &mut stream,
                        token,
                        Interest::READABLE | Interest::WRITABLE,
                    ) {
                        log!("register {addr}: {e}");
                        continue;
                    }
                    let mut control = ControlConfig {
                        echo_interval: pptp_core::Duration::from_secs(self.config.keepalive_secs),
                        close_on_call_timeout: false,
                        ..ControlConfig::default()
                    };
                    control.host_name = self
                        .config
                        .host_name
                        .as_bytes()
                        .iter()
                        .copied()
                        .take(64)
                        .collect();
                    control.vendor_string = b"pptp-rs".iter().copied().collect();
                    let now = pptp_core::Instant::from_millis(self.clock.ms());
                    let id = self.next_tunnel_id;
                    self.next_tunnel_id += 1;
                    log!("tunnel {id}: control connection from {addr}");
                    self.tunnels.insert(
                        token,
                        Tunnel {
                            id,
                            stream,
                            peer,
                            conn: TunnelConn::new(
                                Connection::new(Role::Server, control.clone(), now),
                                std::rc::Rc::new(control),
                            ),
                            out: Vec::new(),
                            calls: Vec::new(),
                            since: std::time::Instant::now(),
                            closing: self.shutdown_deadline.is_some(),
                            close_sent: false,
                            tcp_dead: false,
                        },
                    );
                    // Its start-up timer (SCCRQ within reply_timeout).
                    self.schedule.touch(token);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log!("accept: {e}");
                    return;
                }
            }
        }
    }

    fn tcp_event(&mut self, token: Token, buf: &mut [u8]) {
        let now = self.clock.ms();
        let Some(t) = self.tunnels.get_mut(&token) else {
            return;
        };
        loop {
            match t.stream.read(buf) {
                Ok(0) => {
                    t.tcp_dead = true;
                    break;
                }
                Ok(n) => {
                    if let Err(e) = t
                        .conn
                        .handle_input(pptp_core::Instant::from_millis(now), &buf[..n])
                    {
                        log!("tunnel {}: control stream error: {e}", t.id);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log!("tunnel {}: TCP error: {e}", t.id);
                    t.tcp_dead = true;
                    break;
                }
            }
        }
        self.service(token);
    }

    fn gre_readable(&mut self, buf: &mut [u8]) {
        loop {
            let (source, range) = match self.shared.gre.recv(buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::InvalidData => continue,
                Err(e) => {
                    log!("GRE receive: {e}");
                    return;
                }
            };
            let now = self.clock.ms();
            let Ok(call_id) = pptp_core::gre::peek_call_id(&buf[range.clone()]) else {
                continue;
            };
            let Some(&token) = self.shared.calls_by_id.get(&call_id) else {
                continue;
            };
            let Some(t) = self.tunnels.get_mut(&token) else {
                continue;
            };
            if t.peer != source {
                // Another host guessing call IDs: not this tunnel's peer.
                continue;
            }
            let Some(call) = t
                .calls
                .iter_mut()
                .find(|c| c.local_id == call_id && !c.ended)
            else {
                continue;
            };
            let received = call
                .gre
                .decapsulate(pptp_core::Instant::from_millis(now), &buf[range.clone()]);
            if let Ok(Received::Deliver { payload, .. }) = received {
                let frame = &mut buf[range.start + payload.start..range.start + payload.end];
                let lnow = ppp_core::Instant::from_millis(now);
                let handled = if self.shared.aaa.is_local() {
                    call.link
                        .handle_frame(lnow, frame, Some(&*self.shared.users))
                } else {
                    // External AAA: Responses become LinkEvent::AuthRequest.
                    call.link.handle_frame(lnow, frame, None)
                };
                match handled {
                    Ok(Some(d)) => {
                        if let Err(e) = self.shared.tun.send(&frame[d.range()]) {
                            log!("TUN write: {e}");
                        }
                    }
                    Ok(None) => {}
                    Err(_) => {} // counted by the link
                }
            }
            self.service(token);
        }
    }

    fn tun_readable(&mut self, buf: &mut [u8]) {
        let mut frame = vec![0u8; 4096];
        loop {
            let n = match self.shared.tun.recv(buf) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log!("TUN read: {e}");
                    return;
                }
            };
            let ip = &buf[..n];
            let Some(dst) = ipv4_destination(ip) else {
                continue;
            };
            let Some(&(token, call_id)) = self.shared.routes.get(&dst) else {
                continue;
            };
            self.schedule.touch(token);
            let Some(t) = self.tunnels.get_mut(&token) else {
                continue;
            };
            let peer = t.peer;
            let Some(call) = t
                .calls
                .iter_mut()
                .find(|c| c.local_id == call_id && !c.ended)
            else {
                continue;
            };
            let now = self.clock.ms();
            if let Ok(len) = call
                .link
                .send_ip(ppp_core::Instant::from_millis(now), ip, &mut frame)
            {
                let pnow = pptp_core::Instant::from_millis(now);
                call.queue
                    .send(&mut call.gre, &self.shared.gre, peer, pnow, &frame[..len]);
            }
        }
    }

    fn signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                SIGUSR1 => {
                    println!("{}", self.status());
                }
                SIGINT | SIGTERM => self.shutdown(),
                _ => {}
            }
        }
    }

    /// Starts the graceful shutdown: LCP Terminate on every call, CDN,
    /// StopCCRQ, then exit.
    pub fn shutdown(&mut self) {
        if self.shutdown_deadline.is_some() {
            return;
        }
        log!("shutting down: closing {} tunnel(s)", self.tunnels.len());
        self.shared.aaa.shutting_down();
        self.shutdown_deadline = Some(self.clock.ms() + 8_000);
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let tokens: Vec<Token> = self.tunnels.keys().copied().collect();
        for token in tokens {
            self.clear_tunnel(token);
        }
    }

    /// Clears one tunnel: its calls first (LCP Terminate, CDN), then the
    /// control connection (StopCCRQ).
    fn clear_tunnel(&mut self, token: Token) {
        let now = ppp_core::Instant::from_millis(self.clock.ms());
        if let Some(t) = self.tunnels.get_mut(&token) {
            t.closing = true;
            for c in &mut t.calls {
                c.link.full(now).close(now, EndReason::AdminClose);
            }
        }
        self.service(token);
    }

    /// The `show vpdn` table.
    pub fn status(&self) -> String {
        let mut s = show::render(&self.tunnels, &self.shared.pool, self.shared.active_calls);
        s.push_str(&self.shared.aaa.status());
        s.push_str(&self.refusals.status_line());
        s
    }

    fn control_accept(&mut self) {
        loop {
            let Some(l) = self.control.as_ref() else {
                return;
            };
            match l.accept() {
                Ok((mut stream, _)) => {
                    let token = self.token();
                    if self
                        .poll
                        .registry()
                        .register(&mut stream, token, Interest::READABLE)
                        .is_ok()
                    {
                        self.control_clients.insert(token, stream);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log!("control accept: {e}");
                    return;
                }
            }
        }
    }

    fn control_readable(&mut self, token: Token) {
        let Some(mut stream) = self.control_clients.remove(&token) else {
            return;
        };
        let mut line = [0u8; 256];
        let n = match stream.read(&mut line) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                self.control_clients.insert(token, stream);
                return;
            }
            Err(_) => 0,
        };
        let command = String::from_utf8_lossy(&line[..n]).trim().to_string();
        let reply = self.control_command(&command);
        let _ = self.poll.registry().deregister(&mut stream);
        // The reply is small; a blocking write finishes at once.
        let std_stream: std::os::unix::net::UnixStream =
            std::os::unix::net::UnixStream::from(std::os::fd::OwnedFd::from(stream));
        let _ = std_stream.set_nonblocking(false);
        let _ = (&std_stream).write_all(reply.as_bytes());
    }

    /// Executes a control command (`status`, `clear all`, `clear
    /// TUNNEL-ID`, `clear call CALL-ID`, `shutdown`).
    pub fn control_command(&mut self, command: &str) -> String {
        let words: Vec<&str> = command.split_whitespace().collect();
        match words.as_slice() {
            ["status"] | ["show"] | ["show", "vpdn"] => self.status(),
            ["clear", "all"] => {
                let tokens: Vec<Token> = self.tunnels.keys().copied().collect();
                let n = tokens.len();
                for token in tokens {
                    self.clear_tunnel(token);
                }
                format!("clearing {n} tunnel(s)\n")
            }
            ["clear", "call", id] => match id.parse::<u16>() {
                Ok(id) => {
                    let now = ppp_core::Instant::from_millis(self.clock.ms());
                    let found = self.tunnels.iter_mut().find_map(|(token, t)| {
                        let call = t.calls.iter_mut().find(|c| c.local_id == id && !c.ended)?;
                        // The PIX's `clear vpdn ... id`: LCP Terminate first,
                        // then Call-Disconnect-Notify when the link is down.
                        call.link.full(now).close(now, EndReason::AdminClose);
                        Some(*token)
                    });
                    match found {
                        Some(token) => {
                            self.service(token);
                            format!("clearing call {id}\n")
                        }
                        None => format!("no call {id}\n"),
                    }
                }
                Err(_) => "usage: clear call CALL-ID\n".into(),
            },
            ["clear", id] => match id.parse::<u32>() {
                Ok(id) => match self
                    .tunnels
                    .iter()
                    .find(|(_, t)| t.id == id)
                    .map(|(k, _)| *k)
                {
                    Some(token) => {
                        self.clear_tunnel(token);
                        format!("clearing tunnel {id}\n")
                    }
                    None => format!("no tunnel {id}\n"),
                },
                Err(_) => "usage: clear all | clear TUNNEL-ID\n".into(),
            },
            ["shutdown"] => {
                self.shutdown();
                "shutting down\n".into()
            }
            _ => "commands: status | clear all | clear TUNNEL-ID | clear call CALL-ID | shutdown\n"
                .into(),
        }
    }

    /// Runs the machines of one tunnel until they are quiet: events,
    /// frames out, TCP bytes out; removes the tunnel once it is closed.
    fn service(&mut self, token: Token) {
        self.schedule.touch(token);
        let now_ms = self.clock.ms();
        let Server {
            shared,
            tunnels,
            poll,
            ..
        } = self;
        let Some(t) = tunnels.get_mut(&token) else {
            return;
        };
        let pnow = pptp_core::Instant::from_millis(now_ms);
        let lnow = ppp_core::Instant::from_millis(now_ms);
        if t.tcp_dead {
            // The peer vanished: every call's lower layer is gone.
            for c in &mut t.calls {
                if !c.ended {
                    c.link.full(lnow).lower_down(lnow);
                }
            }
        }
        let mut frame = [0u8; 4096];
        let mut packet = [0u8; 4200];
        for _ in 0..16 {
            let mut progress = false;
            while let Some(event) = t.conn.poll_event() {
                progress = true;
                conn_event(shared, t, token, event, pnow, lnow);
            }
            let Tunnel {
                calls,
                conn,
                peer,
                id,
                ..
            } = &mut *t;
            for call in calls.iter_mut() {
                while let Some(event) = call.link.poll_event() {
                    progress = true;
                    link_event(shared, conn, *id, token, call, event, lnow, pnow);
                }
                call.queue.flush(&mut call.gre, &shared.gre, *peer, pnow);
                while let Some(tx) = call.link.poll_transmit(lnow, &mut frame) {
                    progress = true;
                    call.queue
                        .send(&mut call.gre, &shared.gre, *peer, pnow, &frame[..tx.len]);
                }
                if let Ok(Some(n)) = call.gre.poll_transmit(pnow, &mut packet) {
                    let _ = shared.gre.send(*peer, &packet[..n]);
                }
            }
            calls.retain(|c| !c.ended);
            for call in calls.iter_mut() {
                call.link.try_park(lnow);
            }
            if t.closing && t.calls.is_empty() && !t.close_sent {
                t.close_sent = true;
                let _ = t.conn.full(pnow).close(pnow);
                progress = true;
            }
            while let Some(tx) = t.conn.poll_transmit(pnow, &mut frame) {
                progress = true;
                t.out.extend_from_slice(&frame[..tx.len]);
                // One write per message (TCP_NODELAY is on), so each one
                // usually leaves in its own segment; Wireshark's PPTP
                // dissector decodes only the first message of a segment.
                // (Linux autocorking may still merge back-to-back writes.)
                flush_tcp(t);
            }
            if !progress {
                break;
            }
        }
        flush_tcp(t);
        // Everything drained: quiet machines shrink to their parked form.
        t.conn.try_park();
        let finished = t.tcp_dead || (t.conn.is_closed() && t.out.is_empty());
        if finished {
            let mut t = match tunnels.remove(&token) {
                Some(t) => t,
                None => return,
            };
            for c in &mut t.calls {
                release_call(shared, c);
            }
            let _ = poll.registry().deregister(&mut t.stream);
            let _ = t.stream.shutdown(std::net::Shutdown::Both);
            log!(
                "tunnel {}: closed ({} s)",
                t.id,
                t.since.elapsed().as_secs()
            );
        }
    }
}

/// How often a closing tunnel is serviced while it waits for its calls to
/// end (the loop used to service closing tunnels on every turn).
const CLOSING_REPOLL_MS: u64 = 100;

/// The earliest deadline of one tunnel's machines.
fn tunnel_deadline(t: &Tunnel, now: u64) -> Option<u64> {
    let calls = t.calls.iter().flat_map(|c| {
        [
            c.gre.poll_timeout().map(|i| i.as_millis()),
            c.link.poll_timeout().map(|i| i.as_millis()),
        ]
    });
    earliest(
        [
            t.conn.poll_timeout().map(|i| i.as_millis()),
            t.closing.then_some(now + CLOSING_REPOLL_MS),
        ]
        .into_iter()
        .chain(calls),
    )
}

/// Writes what the socket takes of the tunnel's pending TCP bytes.
fn flush_tcp(t: &mut Tunnel) {
    while !t.out.is_empty() && !t.tcp_dead {
        match t.stream.write(&t.out) {
            Ok(n) => {
                t.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => t.tcp_dead = true,
        }
    }
}

fn release_call(shared: &mut Shared, call: &mut Call) {
    if !call.ended {
        aaa::call_released(shared, call);
    }
    if let Some(addr) = call.address.take() {
        let _ = shared.pool.release(addr);
        shared.routes.remove(&addr);
    }
    if shared.calls_by_id.remove(&call.local_id).is_some() && !call.ended {
        shared.active_calls = shared.active_calls.saturating_sub(1);
    }
    call.ended = true;
}

fn new_call_id(shared: &Shared) -> u16 {
    crate::host::call_id(|id| shared.calls_by_id.contains_key(&id))
}

fn conn_event(
    shared: &mut Shared,
    t: &mut Tunnel,
    token: Token,
    event: Event,
    pnow: pptp_core::Instant,
    lnow: ppp_core::Instant,
) {
    match event {
        Event::TunnelUp(info) => log!(
            "tunnel {}: up (peer host \"{}\", vendor \"{}\")",
            t.id,
            String::from_utf8_lossy(&info.host_name),
            String::from_utf8_lossy(&info.vendor_string)
        ),
        Event::CallRequested(request) => {
            if t.closing || shared.active_calls >= shared.max_sessions {
                log!(
                    "tunnel {}: refusing call (max_sessions {} reached or closing)",
                    t.id,
                    shared.max_sessions
                );
                let _ = t.conn.full(pnow).reject_call(
                    pnow,
                    request.peer_call_id,
                    CallRefusal::NoResource,
                );
                return;
            }
            let id = new_call_id(shared);
            match t.conn.full(pnow).accept_call(
                pnow,
                request.peer_call_id,
                id,
                &CallAccept::default(),
            ) {
                Ok(()) => {
                    shared.calls_by_id.insert(id, token);
                    shared.active_calls += 1;
                }
                Err(e) => log!("tunnel {}: accept_call: {e}", t.id),
            }
        }
        Event::CallUp(up) => {
            log!(
                "tunnel {}: call {} up (peer call {}, window {})",
                t.id,
                up.local_call_id,
                up.peer_call_id,
                up.peer_recv_window
            );
            shared.aaa.call_up(up.local_call_id, t.id, t.peer);
            let gre = GreSession::new(GreConfig::new(
                up.local_call_id,
                up.peer_call_id,
                up.peer_recv_window,
            ));
            let mut link = Link::new(LinkConfig::clone(&shared.link_template), entropy());
            link.open(lnow);
            let link = CallLink::new(link, shared.link_template.clone(), entropy);
            t.calls.push(Call {
                local_id: up.local_call_id,
                peer_id: up.peer_call_id,
                gre,
                link,
                address: None,
                user: String::new(),
                auth: None,
                mppe: None,
                since: std::time::Instant::now(),
                queue: GreQueue::default(),
                ended: false,
            });
        }
        Event::CallDown(down) => {
            log!(
                "tunnel {}: call {:?} down: {:?}",
                t.id,
                down.local_call_id,
                down.reason
            );
            if let Some(id) = down.local_call_id {
                shared.aaa.call_down(id, &down.reason);
            }
            match t
                .calls
                .iter_mut()
                .find(|c| Some(c.local_id) == down.local_call_id && !c.ended)
            {
                Some(call) => call.link.full(lnow).lower_down(lnow),
                None => {
                    // Accepted but never up: free its ID and session slot.
                    if let Some(id) = down.local_call_id {
                        if shared.calls_by_id.remove(&id).is_some() {
                            shared.active_calls = shared.active_calls.saturating_sub(1);
                        }
                    }
                }
            }
        }
        Event::TunnelDown(reason) => {
            log!("tunnel {}: control connection down: {reason:?}", t.id);
            for c in &mut t.calls {
                if !c.ended {
                    c.link.full(lnow).lower_down(lnow);
                }
            }
        }
        Event::EchoTimeout => log!("tunnel {}: keepalive: no Echo-Reply", t.id),
        _ => {}
    }
}

#[allow(clippy::too_many_arguments)]
fn link_event(
    shared: &mut Shared,
    conn: &mut TunnelConn,
    tunnel_id: u32,
    token: Token,
    call: &mut Call,
    event: LinkEvent,
    lnow: ppp_core::Instant,
    pnow: pptp_core::Instant,
) {
    let id = call.local_id;
    match event {
        LinkEvent::AuthRequest => aaa::auth_request(shared, call, lnow),
        LinkEvent::ChallengeNeeded => {
            let _ = call
                .link
                .full(lnow)
                .feed_challenge(lnow, &random_bytes::<16>());
        }
        LinkEvent::AddressNeeded => {
            let addr = shared.pool.allocate().ok();
            if let Some(a) = addr {
                call.address = Some(a);
                shared.routes.insert(a, (token, id));
            } else {
                log!("tunnel {tunnel_id} call {id}: address pool exhausted");
            }
            call.link.full(lnow).assign_peer_address(lnow, addr);
        }
        LinkEvent::Authenticated { method, .. } => {
            call.user = String::from_utf8_lossy(call.link.username()).into_owned();
            call.auth = Some(method);
            log!(
                "tunnel {tunnel_id} call {id}: {:?} authentication of \"{}\" succeeded",
                method,
                call.user
            );
        }
        LinkEvent::AuthFailed { method, reason } => log!(
            "tunnel {tunnel_id} call {id}: {:?} authentication of \"{}\" failed: {reason:?}",
            method,
            String::from_utf8_lossy(call.link.username())
        ),
        LinkEvent::CcpUp(info) => {
            call.mppe = info;
            log!("tunnel {tunnel_id} call {id}: CCP up: {info:?}");
        }
        LinkEvent::IpcpUp(n) => {
            log!("tunnel {tunnel_id} call {id}: IPCP up: {n:?}");
            aaa::ipcp_up(shared, call);
        }
        LinkEvent::DataReady => log!(
            "tunnel {tunnel_id} call {id}: data ready, peer {}",
            call.address.map_or("-".into(), |a| a.to_string())
        ),
        LinkEvent::Down(reason) => {
            log!("tunnel {tunnel_id} call {id}: PPP down: {reason:?}");
            release_call(shared, call);
            // RFC 2637 §2.13: the server reports the end of the call with
            // Call-Disconnect-Notify (an error just means it is gone).
            let _ = conn.full(pnow).clear_call(pnow, id);
        }
        _ => {}
    }
}
