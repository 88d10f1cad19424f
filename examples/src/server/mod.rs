//! `pptp-server`: the PPTP server (RFC 2637's PAC: it answers
//! Start-Control-Connection-Request and Outgoing-Call-Request) as a thin
//! host around one [`pptp_core::endpoint::Endpoint`].
//!
//! # Design
//!
//! * **The endpoint owns every session decision**: call IDs, the GRE
//!   data path, PPP, MPPE, the address pool and routes, parking, the
//!   session limit and its SCCRP refusal, keepalives and timers. This
//!   host keeps only what needs the operating system: sockets, the TUN
//!   device, the clock, randomness, the AAA transports (RADIUS over UDP,
//!   TACACS+ over TCP, in `aaa.rs`), signals and the control socket.
//! * **One thread, one `mio` poll loop per worker.** The endpoint is
//!   Sans-IO: bytes in, bytes out, and a `poll_timeout` deadline; a
//!   readiness loop that feeds it and sleeps until the deadline is all it
//!   needs. With `workers = N` there are N such servers, each with its own
//!   share of the calls, sharing nothing on the data path (`workers.rs`).
//! * **One shared TUN device** (`pptp0` by default) for all sessions, as
//!   the PIX has one outside interface: our tunnel address is on it and
//!   the pool's addresses are routed into it. Packets read from it go to
//!   [`Endpoint::send_ip`], which finds the session by destination.
//! * **One raw GRE socket** (IP protocol 47) for every call; datagrams go
//!   to [`Endpoint::handle_gre`], which finds the call by its ID and
//!   checks the source address.
//!
//! Control: `SIGUSR1` prints the `show vpdn` table on stdout; the unix
//! socket in `control_socket` takes `status`, `clear all`, `clear
//! TUNNEL-ID`, `clear call CALL-ID`; `SIGINT`/`SIGTERM` close every call
//! (LCP Terminate-Request, then Call-Disconnect-Notify) and every tunnel
//! before exiting.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{IpAddr, Ipv4Addr};
use std::os::fd::AsRawFd;

use mio::net::{TcpListener, TcpStream, UnixListener, UnixStream};
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Token};
use ppp_core::auth::credentials::CredentialError;
use ppp_core::auth::{CredentialStore, Method, Secret};
use ppp_core::link::{EndReason, LinkConfig, MppeInfo};
use ppp_core::log_limit::LogLimiter;
use pptp_core::control::Config as ControlConfig;
use pptp_core::endpoint::{
    ConnectionHandle, Destination, Endpoint, Event, IpSendError, ServerConfig as EndpointConfig,
    SessionEnd, SessionHandle, TcpInput,
};
use pptp_core::time::{Duration, Instant};
use signal_hook::consts::{SIGINT, SIGTERM, SIGUSR1};
use signal_hook_mio::v1_0::Signals;

use crate::config::ServerConfig;
use crate::host::{heap_memory, Clock, HeapMemory, OsRandom};
use crate::net::gre::{Flushed, GreSocket, RecvBatch, SendBatch, BATCH};
use crate::net::hold::send_packet;
use crate::net::range_to_cidrs;
use crate::net::tun::Tun;
use crate::net::tun_offload::TunBatch;
use crate::net::tun_reader::TunReader;

/// Local users the server can hold.
pub const MAX_USERS: usize = 256;
/// Sessions that may negotiate (or be unparked) at once: full control and
/// PPP machines in the endpoint's pools. Beyond it a new connection is
/// refused with SCCRP result 2 / error 4, as at `max_sessions`.
pub const ENGINES: usize = 512;

const LISTENER: Token = Token(0);
const GRE: Token = Token(1);
const TUN: Token = Token(2);
const SIGNALS: Token = Token(3);
const CONTROL: Token = Token(4);
/// The RADIUS UDP socket (`aaa.rs`).
const RADIUS: Token = Token(5);
/// Worker 0 wakes another worker with a request (`workers.rs`). It once
/// shared RADIUS's number, and the loop took RADIUS answers for wake-ups
/// (interop's RADIUS cases caught it): every fixed token is listed here.
const WAKE: Token = Token(6);
const FIRST_DYNAMIC: usize = 16;
// The fixed tokens differ from each other and from the dynamic ones
// (checked when compiling).
const _: () = {
    let fixed = [LISTENER, GRE, TUN, SIGNALS, CONTROL, RADIUS, WAKE];
    let mut i = 0;
    while i < fixed.len() {
        assert!(fixed[i].0 < FIRST_DYNAMIC);
        let mut j = i + 1;
        while j < fixed.len() {
            assert!(fixed[i].0 != fixed[j].0);
            j += 1;
        }
        i += 1;
    }
};

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

/// "N similar lines suppressed" for a [`Noisy`] class.
fn log_suppressed(class: usize, n: u64) {
    let name = Noisy::NAMES.get(class).copied().unwrap_or("noisy");
    log!(
        "{n} similar {name} line(s) suppressed (at most {} per {} s)",
        LOG_LIMIT.0,
        LOG_LIMIT.1.as_secs()
    );
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
mod show;
mod workers;

pub use workers::build as build_workers;

/// Classes of log lines an attacker can multiply (one per failed login,
/// one per bad packet), each limited by [`LOG_LIMIT`].
#[derive(Clone, Copy, Debug)]
enum Noisy {
    /// A failed login and its session's end.
    Login = 0,
    /// Errors on the GRE socket and the TUN device, per packet.
    Packet = 1,
    /// Connections refused at accept (per-source cap, shutting down).
    Refused = 2,
    /// A control connection's "from", "up" and "closed" lines, decided
    /// once per connection: a client that reconnects as fast as it is
    /// turned away (pptp-load guessing against a throttled user: 3,000
    /// connections/s) wrote 0.5 MB of them per second.
    Connection = 3,
}

impl Noisy {
    const NAMES: [&'static str; 4] = [
        "failed-login",
        "packet-error",
        "refused-connection",
        "connection",
    ];
}

/// GRE datagrams read between two flushes of what the endpoint owes
/// (acks): one `recvmmsg` batch, well under a quarter of the window peers
/// get from us (`pptp_core::endpoint::DEFAULT_RECEIVE_WINDOW`), so their
/// acks go out in time during a run of reads.
const ACK_FLUSH_EVERY: usize = BATCH;
const _: () = assert!(ACK_FLUSH_EVERY <= pptp_core::endpoint::DEFAULT_RECEIVE_WINDOW as usize / 4);

/// `recvmmsg` batches read from the GRE socket per loop turn (256
/// datagrams), and packets read from the TUN device per turn: then the
/// other sources get their turn (control connections, timers, the other
/// direction), and the loop comes back at once (a zero poll time-out)
/// for what is left, since edge-triggered readiness does not say again.
const GRE_BATCHES_PER_TURN: usize = 8;
const TUN_READS_PER_TURN: usize = 256;

/// Lines per class and interval before the rest are only counted: enough
/// to see what is happening, not 100 MB in 30 s (issue #14).
const LOG_LIMIT: (u32, Duration) = (20, Duration::from_secs(10));

/// The endpoint as this server uses it: local users decide logins at
/// once; with RADIUS or TACACS+ the verifier is `None` and logins come
/// out as `Event::AuthRequest`.
pub(crate) type Core = Endpoint<HeapMemory, OsRandom, LocalUsers>;

/// The `[[users]]` list, boxed (256 users do not belong on the stack).
pub(crate) struct LocalUsers(Box<CredentialStore<MAX_USERS>>);

impl ppp_core::auth::Verifier for LocalUsers {
    fn decide(&self, request: &ppp_core::auth::AuthRequest) -> ppp_core::auth::Verdict {
        self.0.decide(request)
    }

    fn store_password_change(&mut self, change: &ppp_core::auth::PasswordChange) -> bool {
        self.0.store_password_change(change)
    }
}

/// One TCP connection to port 1723 and what the host knows of it.
pub(crate) struct Tunnel {
    /// Number shown by `status` (the PIX's tunnel ID).
    pub(crate) id: u32,
    stream: TcpStream,
    handle: ConnectionHandle,
    pub(crate) peer: Ipv4Addr,
    out: Vec<u8>,
    /// Bytes read that the endpoint could not take yet (no free machine
    /// to rebuild the parked connection): offered again each turn, and
    /// the socket is not read meanwhile (TCP back-pressure).
    pending_in: Vec<u8>,
    /// The endpoint closed the control connection: close once `out` is
    /// written (or after CLOSE_GRACE if the peer does not read).
    closing: bool,
    /// When `closing` was set.
    closing_since: Option<std::time::Instant>,
    pub(crate) since: std::time::Instant,
    /// Whether this connection's lines are written ([`Noisy::Connection`]).
    logged: bool,
}

/// What the log and `status` show of a session beyond the endpoint's
/// view.
#[derive(Clone, Debug, Default)]
pub(crate) struct SessionNotes {
    /// Tunnel number and our call ID, for log lines after the endpoint
    /// has freed the session.
    pub(crate) ids: (u32, u16),
    pub(crate) auth: Option<Method>,
    pub(crate) mppe: Option<MppeInfo>,
    /// What the peer said in LCP Identification (RFC 1570 §1.1): Windows
    /// sends "MSRASV5.20" and `MSRAS-0-<host>`. The first
    /// [`MAX_IDENTIFICATIONS`] are kept; a peer repeating them gains no
    /// memory.
    pub(crate) identification: Vec<String>,
    pub(crate) since: Option<std::time::Instant>,
}

/// Identification messages kept per session (Windows sends two).
const MAX_IDENTIFICATIONS: usize = 2;

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
    pub(crate) endpoint: Core,
    gre: GreSocket,
    /// GRE datagrams for peers, sent by one `sendmmsg` when it is full
    /// and once per loop turn.
    pub(crate) gre_tx: SendBatch,
    /// Whether the GRE socket is registered for writability: only while
    /// datagrams wait for it (`EAGAIN`), since a raw socket with writable
    /// interest would wake the loop as each sent datagram is freed.
    gre_writable: bool,
    /// Readiness not yet used up: the GRE socket or the TUN device had
    /// more to read when its per-turn budget ran out.
    gre_ready: bool,
    tun_ready: bool,
    pub(crate) tun: Tun,
    /// Reads the TUN device: TSO segments, and a packet waiting for its
    /// peer's GRE window (back-pressure); `None` only while it reads.
    pub(crate) tun_reader: Option<TunReader>,
    /// IP packets from a GRE batch on their way to the TUN device, TCP
    /// segments of one flow merged (`tun_offload`).
    tun_batch: TunBatch,
    /// Where `send_ip` writes the datagrams of a TUN packet.
    tun_out: Vec<u8>,
    pub(crate) tunnels: HashMap<Token, Tunnel>,
    tokens: HashMap<ConnectionHandle, Token>,
    pub(crate) notes: HashMap<SessionHandle, SessionNotes>,
    next_token: usize,
    next_tunnel_id: u32,
    pub(crate) clock: Clock,
    shutdown_deadline: Option<u64>,
    /// External AAA (RADIUS / TACACS+) or local users.
    pub(crate) aaa: aaa::Aaa,
    /// Rate limit of the [`Noisy`] log lines.
    log_limit: LogLimiter<4>,
    /// This server's place among the workers (`workers.rs`).
    pub(crate) worker: workers::Worker,
}

/// The PPP link settings for every call, from the configuration.
pub fn link_config(config: &ServerConfig) -> LinkConfig {
    let mut link = LinkConfig::server(config.local_address, config.dns);
    link.lcp = link.lcp.with_auth_required(&config.auth);
    link.ipcp.nbns = config.wins;
    link.mppe = config.mppe.policy();
    link.mschapv1_keys = config.mschapv1_keys;
    link.authenticator.name = config
        .host_name
        .as_bytes()
        .iter()
        .copied()
        .take(64)
        .collect();
    link.authenticator.rechallenge_interval = config.chap_interval_secs.map(Duration::from_secs);
    link
}

/// The endpoint's settings, from the configuration.
fn endpoint_config(config: &ServerConfig) -> EndpointConfig {
    let mut control = ControlConfig {
        echo_interval: Duration::from_secs(config.keepalive_secs),
        // Many healthy calls share the server: a peer that leaves one
        // call's request unanswered loses that call, not the tunnel.
        close_on_call_timeout: false,
        ..ControlConfig::default()
    };
    control.host_name = config.host_name.bytes().take(64).collect();
    control.vendor_string = b"pptp-rs".iter().copied().collect();
    let mut endpoint =
        EndpointConfig::new(link_config(config), config.pool_first, config.pool_last);
    endpoint.control = control;
    endpoint.max_sessions = config.max_sessions;
    endpoint.mss_clamp = config.mss_clamp;
    endpoint.receive_window = config.receive_window;
    endpoint.honour_peer_window = config.honour_peer_window;
    endpoint.limits = config.limits;
    endpoint.calls_per_connection = config.calls_per_connection;
    endpoint.login_throttle = config.login_throttle;
    // Keep a few machines for established sessions that must be rebuilt
    // (renegotiation, tear-down) while others start up.
    endpoint.reserved_engines = ENGINES / 16;
    endpoint
}

impl Server {
    /// Opens the sockets and the TUN device (needs root): the whole server
    /// on one thread (see [`build_workers`] for several).
    pub fn new(config: ServerConfig) -> Result<Self, StartError> {
        let only = workers::Worker {
            index: 0,
            count: 1,
            role: workers::Role::Only,
            connections: None,
        };
        Self::new_worker(config, only)
    }

    /// Worker `worker.index` of `worker.count`: its share of Call IDs, its
    /// slice of the pool and of `max_sessions`, its own TUN device
    /// (`{tun_name}-{index}` after the first).
    fn new_worker(mut config: ServerConfig, worker: workers::Worker) -> Result<Self, StartError> {
        let endpoint_settings = endpoint_config(&config)
            .worker(worker.index, worker.count)
            .map_err(|e| StartError(format!("workers = {}: {e}", worker.count)))?;
        (config.pool_first, config.pool_last) = endpoint_settings.pool;
        config.max_sessions = endpoint_settings.max_sessions;
        if worker.index > 0 {
            config.tun_name = format!("{}-{}", config.tun_name, worker.index);
        }
        let several = worker.count > 1;
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
        if several {
            gre.steer_by_call_id(worker.index, worker.count)
                .map_err(start_err("GRE socket filter"))?;
        }
        let tun = if config.tun_offload {
            Tun::open_offloading(&config.tun_name)
        } else {
            Tun::open(&config.tun_name)
        }
        .map_err(start_err("TUN device"))?;
        tun.configure(config.local_address, config.mtu)
            .map_err(start_err("configuring the TUN device"))?;
        for (net, prefix) in range_to_cidrs(config.pool_first, config.pool_last) {
            tun.add_route(net, prefix)
                .map_err(start_err("pool route"))?;
        }
        let aaa_local = matches!(config.aaa, crate::config::AaaSettings::Local);
        let users = if aaa_local {
            let mut users = Box::new(CredentialStore::<MAX_USERS>::new(config.strip_domain));
            users.refuse_lm_hashes(!config.lm_hashes);
            for u in &config.users {
                let user_err = |e| StartError(format!("user {}: {e}", u.name));
                // The configuration has exactly one of the two.
                let secret = match (&u.password, &u.nt_hash) {
                    (Some(password), _) => Secret::password(password.as_bytes()),
                    (None, Some(hash)) => Ok(Secret::NtHash(hash.clone())),
                    (None, None) => Err(CredentialError::BadHashLength { length: 0 }),
                };
                users
                    .insert(u.name.as_bytes(), secret.map_err(user_err)?)
                    .map_err(user_err)?;
                users
                    .set_lm_hash(u.name.as_bytes(), u.lm_hash.clone())
                    .map_err(user_err)?;
                users.set_mschapv1_keys(u.name.as_bytes(), u.mschapv1_keys);
                users.set_expired(u.name.as_bytes(), u.expired);
            }
            Some(LocalUsers(users))
        } else {
            None
        };
        // Every session a slot (under 2 KiB parked), and a pool of full
        // machines for the ones negotiating; refusals take a slot too.
        let engines = (ENGINES / usize::from(worker.count)).max(32);
        // A worker's slots are numbered twice over by its share of Call
        // IDs (about 65,535 / workers).
        let share = 65_535 / (2 * usize::from(worker.count));
        let slots = (config.max_sessions + engines)
            .min(pptp_core::endpoint::MAX_SLOTS)
            .min(share);
        let endpoint = Endpoint::server(
            endpoint_settings,
            heap_memory(slots, engines.min(slots)),
            OsRandom,
            users,
        )
        .map_err(|e| StartError(format!("endpoint: {e}")))?;
        // Worker 0 alone listens and deals the connections (`workers.rs`).
        let mut listener = match worker.index {
            0 => Some(crate::net::tcp_listener(config.listen).map_err(start_err("listen"))?),
            _ => None,
        };
        let signals =
            Signals::new([SIGINT, SIGTERM, SIGUSR1]).map_err(start_err("signal handlers"))?;
        let registry = poll.registry();
        if let Some(l) = listener.as_mut() {
            registry
                .register(l, LISTENER, Interest::READABLE)
                .map_err(start_err("register"))?;
        }
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
        if worker.index == 0 {
            let _ = std::fs::remove_file(&config.control_socket);
        }
        let control = match UnixListener::bind(&config.control_socket) {
            _ if worker.index > 0 => None,
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
        let aaa = aaa::Aaa::new(&config, poll.registry()).map_err(StartError)?;
        let place = if several {
            format!("worker {} of {}: ", worker.index, worker.count)
        } else {
            String::new()
        };
        log!(
            "{place}listening on {}, TUN {} ({}), pool {}-{}, auth {}, mppe {}, aaa {}",
            config.listen,
            tun.name(),
            config.local_address,
            config.pool_first,
            config.pool_last,
            config
                .auth
                .iter()
                .map(|m| m.to_string())
                .collect::<Vec<_>>()
                .join(", "),
            config.mppe,
            aaa.method_name()
        );
        let tun_batch = TunBatch::new(config.tun_offload);
        let tun_reader = TunReader::new(tun.try_clone().map_err(start_err("TUN device"))?);
        Ok(Server {
            config,
            poll,
            listener,
            control,
            control_clients: HashMap::new(),
            signals,
            endpoint,
            gre,
            gre_tx: SendBatch::new(),
            gre_writable: false,
            gre_ready: false,
            tun_ready: false,
            tun,
            tun_reader: Some(tun_reader),
            tun_batch,
            tun_out: vec![0u8; BUF],
            tunnels: HashMap::new(),
            tokens: HashMap::new(),
            notes: HashMap::new(),
            next_token: FIRST_DYNAMIC,
            next_tunnel_id: u32::from(worker.index) + 1,
            clock,
            shutdown_deadline: None,
            aaa,
            log_limit: LogLimiter::new(LOG_LIMIT.0, LOG_LIMIT.1),
            worker,
        })
    }

    pub(crate) fn now(&self) -> Instant {
        Instant::from_millis(self.clock.ms())
    }

    /// Whether a [`Noisy`] line may be written now; a count of the lines
    /// of its class suppressed in the last interval goes first.
    fn log_allowed(&mut self, class: Noisy) -> bool {
        let d = self.log_limit.check(self.now(), class as usize);
        if d.suppressed_before > 0 {
            log_suppressed(class as usize, d.suppressed_before);
        }
        d.log
    }

    /// Counts of suppressed lines whose interval has ended.
    fn log_summaries(&mut self) {
        while let Some(s) = self.log_limit.poll_summary(self.now()) {
            log_suppressed(s.class, s.suppressed);
        }
    }

    /// Runs until SIGINT/SIGTERM and the goodbyes are done.
    pub fn run(&mut self) -> io::Result<()> {
        let mut events = Events::with_capacity(256);
        let mut buf = vec![0u8; BUF];
        let mut rx = RecvBatch::new();
        loop {
            self.drain(&mut buf);
            self.flush_gre();
            let now = self.clock.ms();
            self.log_summaries();
            let deadline = crate::timers::earliest([
                self.endpoint.poll_timeout().map(|t| t.as_millis()),
                self.aaa_deadline(),
                self.shutdown_deadline,
                self.log_limit.poll_timeout().map(|t| t.as_millis()),
                self.tun_reader
                    .as_ref()
                    .and_then(|r| r.hold().deadline_ms()),
            ]);
            let mut timeout =
                deadline.map(|d| std::time::Duration::from_millis(d.saturating_sub(now)));
            if self.tunnels.values().any(|t| t.closing) {
                // Come back for a closed connection whose peer does not
                // read its last bytes (CLOSE_GRACE).
                timeout = Some(timeout.map_or(CLOSE_GRACE, |t| t.min(CLOSE_GRACE)));
            }
            if self.gre_ready || self.tun_ready {
                // A budget ran out with input left (see TUN_READS_PER_TURN).
                timeout = Some(std::time::Duration::ZERO);
            }
            flush_log();
            if let Err(e) = self.poll.poll(&mut events, timeout) {
                if e.kind() != io::ErrorKind::Interrupted {
                    return Err(e);
                }
            }
            for event in events.iter() {
                match event.token() {
                    LISTENER => self.accept(),
                    // Read after the other events, within their budgets; a
                    // writable GRE socket only needs the flush at the top.
                    GRE => self.gre_ready |= event.is_readable(),
                    TUN => self.tun_ready = true,
                    SIGNALS => self.signals(),
                    WAKE => self.answer_requests(),
                    CONTROL => self.control_accept(),
                    token if self.aaa.owns(token) => self.aaa_readable(token),
                    token if self.control_clients.contains_key(&token) => {
                        self.control_readable(token)
                    }
                    token => self.tcp_event(token, &mut buf),
                }
            }
            if self.gre_ready {
                self.gre_ready = self.gre_readable(&mut rx, &mut buf);
            }
            if self.tun_ready {
                self.tun_ready = self.tun_readable(&mut buf);
            }
            self.endpoint.handle_timeout(self.now());
            if self
                .tun_reader
                .as_ref()
                .is_some_and(|r| r.hold().is_holding())
            {
                // Acks or an ack time-out may have opened the window.
                self.drain(&mut buf);
                self.tun_ready = self.tun_readable(&mut buf);
            }
            self.aaa_run();
            if let Some(deadline) = self.shutdown_deadline {
                self.drain(&mut buf);
                // Accounting Stops go out (and are acknowledged) first.
                if self.tunnels.is_empty() && self.endpoint.is_idle() && self.aaa.idle() {
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
        // The last goodbyes (LCP Terminate-Requests) may still be queued.
        self.flush_gre();
        if self.worker.index == 0 {
            let _ = std::fs::remove_file(&self.config.control_socket);
        }
        flush_log();
        Ok(())
    }

    /// Sends the queued GRE datagrams; keeps the socket's writable
    /// interest exactly while some wait for it (see
    /// [`crate::net::gre::SendBatch`] for the policy when it blocks).
    fn flush_gre(&mut self) {
        let blocked = self.gre.flush(&mut self.gre_tx) == Flushed::Blocked;
        if blocked != self.gre_writable {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let fd = self.gre.as_raw_fd();
            if self
                .poll
                .registry()
                .reregister(&mut SourceFd(&fd), GRE, interest)
                .is_ok()
            {
                self.gre_writable = blocked;
            }
        }
    }

    /// Everything the endpoint has to say: bytes to sockets and the TUN
    /// device, then events, until it is quiet.
    fn drain(&mut self, buf: &mut [u8]) {
        let mut unread = Vec::new();
        for _ in 0..64 {
            let now = self.now();
            let mut progress = false;
            progress |= self.write_transmits(now, buf, &mut unread);
            for conn in unread.drain(..) {
                // Its machines and slot go now, not when the peer reads.
                self.endpoint.handle_tcp_closed(self.now(), conn);
                progress = true;
            }
            while let Some(event) = self.endpoint.poll_event() {
                progress = true;
                self.on_event(event);
            }
            // Input that waited for a free machine (back-pressure).
            let blocked: Vec<Token> = self
                .tunnels
                .iter()
                .filter(|(_, t)| !t.pending_in.is_empty() && !t.closing)
                .map(|(k, _)| *k)
                .collect();
            for token in blocked {
                progress |= self.offer_pending(token);
            }
            if !progress {
                break;
            }
        }
        self.close_finished();
    }

    /// Writes what the endpoint has to send now (control messages, GRE
    /// data and acks, packets for the TUN); connections whose peer does
    /// not read are put in `unread` for closing. Whether anything went.
    fn write_transmits(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        unread: &mut Vec<ConnectionHandle>,
    ) -> bool {
        let mut progress = false;
        while let Some(t) = self.endpoint.poll_transmit(now, buf) {
            progress = true;
            let bytes = &buf[..t.len];
            match t.to {
                Destination::Tcp(conn) => {
                    if let Some(tunnel) = self
                        .tokens
                        .get(&conn)
                        .and_then(|token| self.tunnels.get_mut(token))
                    {
                        tunnel.out.extend_from_slice(bytes);
                        // One write per message (TCP_NODELAY is on), so
                        // each usually leaves in its own segment:
                        // Wireshark's PPTP dissector decodes only the
                        // first message of a segment.
                        flush_tcp(tunnel);
                        if tunnel.out.len() > TCP_OUT_MAX && !tunnel.closing {
                            // A peer that does not read (issue #14: Echo-
                            // Requests without reading grew the server by
                            // 17 MB per connection in 40 s): closed.
                            log!(
                                "tunnel {}: peer does not read ({} octets unsent): closing",
                                tunnel.id,
                                tunnel.out.len()
                            );
                            tunnel.out.clear();
                            mark_closing(tunnel);
                            unread.push(conn);
                        }
                    }
                }
                Destination::Gre(peer) => self.gre.queue(&mut self.gre_tx, peer, bytes),
                Destination::Ip(_) => {
                    if let Err(e) = self.tun.send(bytes) {
                        if self.log_allowed(Noisy::Packet) {
                            log!("TUN write: {e}");
                        }
                    }
                }
            }
        }
        progress
    }

    /// Offers a tunnel's waiting input again; `true` if some was taken.
    fn offer_pending(&mut self, token: Token) -> bool {
        let now = self.now();
        let Some(t) = self.tunnels.get_mut(&token) else {
            return false;
        };
        let pending = std::mem::take(&mut t.pending_in);
        match self.endpoint.handle_tcp(now, t.handle, &pending) {
            TcpInput::Blocked { consumed } => {
                t.pending_in = pending[consumed..].to_vec();
                consumed > 0
            }
            TcpInput::Consumed | TcpInput::Closed => true,
        }
    }

    fn drain_events(&mut self) {
        while let Some(event) = self.endpoint.poll_event() {
            self.on_event(event);
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::TunnelUp {
                connection,
                host_name,
                vendor,
            } => {
                if let Some(t) = self.tunnel_of(connection).filter(|t| t.logged) {
                    log!(
                        "tunnel {}: up (peer host \"{}\", vendor \"{}\")",
                        t.id,
                        String::from_utf8_lossy(&host_name),
                        String::from_utf8_lossy(&vendor)
                    );
                }
            }
            Event::CallUp {
                session,
                local_call_id,
                peer_call_id,
            } => {
                let conn = self.endpoint.connection_of(session);
                let Some((id, peer)) = conn.and_then(|c| self.tunnel_of(c)).map(|t| (t.id, t.peer))
                else {
                    return;
                };
                self.notes.insert(
                    session,
                    SessionNotes {
                        ids: (id, local_call_id),
                        since: Some(std::time::Instant::now()),
                        ..SessionNotes::default()
                    },
                );
                log!("tunnel {id}: call {local_call_id} up (peer call {peer_call_id})");
                self.aaa.call_up(session, local_call_id, id, peer);
            }
            Event::AuthRequest { session } => self.auth_request(session),
            Event::Authenticated {
                session,
                method,
                user,
                matched,
            } => {
                let prefix = self.prefix(session);
                self.notes.entry(session).or_default().auth = Some(method);
                let entry = matched
                    .as_deref()
                    .map(|m| format!(" (matched \"{}\")", String::from_utf8_lossy(m)))
                    .unwrap_or_default();
                log!(
                    "{prefix}: {method} authentication of \"{}\"{entry} succeeded",
                    String::from_utf8_lossy(&user)
                );
            }
            Event::Reauthenticated { session, method } => {
                log!(
                    "{}: {method} re-authentication succeeded",
                    self.prefix(session)
                );
            }
            Event::PeerIdentification { session, message } => {
                let prefix = self.prefix(session);
                let notes = self.notes.entry(session).or_default();
                if notes.identification.len() < MAX_IDENTIFICATIONS {
                    let text = String::from_utf8_lossy(&message).into_owned();
                    log!("{prefix}: peer identification \"{text}\"");
                    notes.identification.push(text);
                }
            }
            Event::PasswordChanged { session, user, .. } => {
                // The configuration file keeps the old password: the new
                // hash lives until the server restarts.
                log!(
                    "{}: \"{}\" changed an expired password (kept in memory until restart)",
                    self.prefix(session),
                    String::from_utf8_lossy(&user)
                );
            }
            Event::AuthFailed {
                session,
                method,
                reason,
                user,
            } => {
                if self.log_allowed(Noisy::Login) {
                    log!(
                        "{}: {method} authentication of \"{}\" failed: {reason} (Windows error {})",
                        self.prefix(session),
                        String::from_utf8_lossy(&user),
                        reason.windows_error()
                    );
                }
            }
            Event::SessionUp {
                session,
                address,
                mppe,
                mtu,
                ..
            } => {
                let prefix = self.prefix(session);
                self.notes.entry(session).or_default().mppe = mppe;
                log!(
                    "{prefix}: data ready, peer {}, MTU {mtu}, MPPE {}",
                    address.map_or("-".into(), |a| a.to_string()),
                    mppe.map_or("none".into(), |m| m.send.to_string())
                );
                self.aaa_session_up(session);
            }
            Event::MsChapV1KeysDecided {
                session,
                keys,
                proven,
                packets,
            } => log!(
                "{}: {}",
                self.prefix(session),
                crate::events::mschapv1_keys_text(keys, proven, packets)
            ),
            Event::SessionDown {
                session,
                reason,
                counters,
                ..
            } => {
                let failed_login = matches!(reason, SessionEnd::Link(EndReason::AuthFailed(_)));
                if !failed_login || self.log_allowed(Noisy::Login) {
                    log!("{}: session down: {reason}", self.prefix(session));
                }
                self.aaa_session_down(session, &reason, &counters);
                self.notes.remove(&session);
            }
            Event::ConnectionClosed { connection } => {
                if let Some(t) = self.tunnel_of_mut(connection) {
                    mark_closing(t);
                }
            }
        }
    }

    /// The tunnel number of a connection (0 if gone), for sorting.
    pub(crate) fn tokens_id(&self, conn: ConnectionHandle) -> u32 {
        self.tunnel_of(conn).map_or(0, |t| t.id)
    }

    pub(crate) fn tunnel_of(&self, conn: ConnectionHandle) -> Option<&Tunnel> {
        self.tokens.get(&conn).and_then(|t| self.tunnels.get(t))
    }

    fn tunnel_of_mut(&mut self, conn: ConnectionHandle) -> Option<&mut Tunnel> {
        self.tokens.get(&conn).and_then(|t| self.tunnels.get_mut(t))
    }

    /// "tunnel T call C" for log lines.
    pub(crate) fn prefix(&self, session: SessionHandle) -> String {
        if let Some((tunnel, call)) = self.notes.get(&session).map(|n| n.ids) {
            return format!("tunnel {tunnel} call {call}");
        }
        let view = self.endpoint.session(session);
        let tunnel = view
            .as_ref()
            .and_then(|v| self.tunnel_of(v.connection))
            .map_or(0, |t| t.id);
        let call = view.and_then(|v| v.call_ids).map_or(0, |(ours, _)| ours);
        format!("tunnel {tunnel} call {call}")
    }

    /// Tunnels whose control connection ended and whose bytes are out.
    fn close_finished(&mut self) {
        let done: Vec<Token> = self
            .tunnels
            .iter()
            .filter(|(_, t)| {
                t.closing
                    && (t.out.is_empty()
                        || t.closing_since.is_some_and(|s| s.elapsed() >= CLOSE_GRACE))
            })
            .map(|(k, _)| *k)
            .collect();
        for token in done {
            if let Some(mut t) = self.tunnels.remove(&token) {
                self.tokens.remove(&t.handle);
                self.worker.connection_gone();
                let _ = self.poll.registry().deregister(&mut t.stream);
                // Our side first (FIN): a close with unread input would make
                // Linux send a RST that can destroy the last reply (the
                // refusal SCCRP, the StopCCRP) before the peer reads it.
                let _ = t.stream.shutdown(std::net::Shutdown::Write);
                if t.logged {
                    log!(
                        "tunnel {}: closed ({} s)",
                        t.id,
                        t.since.elapsed().as_secs()
                    );
                }
            }
        }
    }

    /// Takes the waiting connections: each goes to the worker holding the
    /// fewest (`workers.rs`), this one included.
    fn accept(&mut self) {
        loop {
            let Some(listener) = self.listener.as_ref() else {
                return;
            };
            match listener.accept() {
                Ok((stream, addr)) => {
                    if let Some((stream, addr)) = self.hand_over(stream, addr) {
                        self.adopt(stream, addr);
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) => {
                    log!("accept: {e}");
                    return;
                }
            }
        }
    }

    /// A control connection this worker serves from now on (accepted
    /// here or handed over by worker 0).
    pub(crate) fn adopt(&mut self, mut stream: TcpStream, addr: std::net::SocketAddr) {
        let IpAddr::V4(peer) = addr.ip() else {
            self.worker.connection_gone();
            return;
        };
        let _ = stream.set_nodelay(true);
        let now = self.now();
        let handle = match self.endpoint.accept(now, peer) {
            Ok(h) => h,
            Err(e) => {
                if self.log_allowed(Noisy::Refused) {
                    log!("refusing {addr}: {e}");
                }
                self.worker.connection_gone();
                return;
            }
        };
        self.next_token += 1;
        let token = Token(self.next_token);
        if let Err(e) = self.poll.registry().register(
            &mut stream,
            token,
            Interest::READABLE | Interest::WRITABLE,
        ) {
            log!("register {addr}: {e}");
            self.endpoint.handle_tcp_closed(now, handle);
            self.worker.connection_gone();
            return;
        }
        let id = self.next_tunnel_id;
        // Worker k numbers its tunnels k + 1, k + 1 + count, … (`workers.rs`).
        self.next_tunnel_id += u32::from(self.worker.count);
        let refused = self.endpoint.is_refused(handle);
        let logged = self.log_allowed(if refused {
            Noisy::Refused
        } else {
            Noisy::Connection
        });
        // RFC 2637 §2.2/§2.16: a refused connection's SCCRQ
        // gets General error / No-Resource, then it closes.
        match (logged, refused) {
            (true, true) => log!(
                "tunnel {id}: refusing {addr}: {} sessions (max_sessions {})",
                self.endpoint.active_sessions(),
                self.config.max_sessions
            ),
            (true, false) => log!("tunnel {id}: control connection from {addr}"),
            (false, _) => {}
        }
        self.tokens.insert(handle, token);
        self.tunnels.insert(
            token,
            Tunnel {
                id,
                stream,
                handle,
                peer,
                out: Vec::new(),
                pending_in: Vec::new(),
                closing: false,
                closing_since: None,
                since: std::time::Instant::now(),
                logged,
            },
        );
    }

    fn tcp_event(&mut self, token: Token, buf: &mut [u8]) {
        let now = self.now();
        let Some(t) = self.tunnels.get_mut(&token) else {
            return;
        };
        flush_tcp(t);
        if t.closing {
            // The endpoint is done with it: what the peer still sends is
            // read and dropped unseen (no log line, no work per byte) until
            // our last bytes are out and the socket goes.
            while matches!(t.stream.read(buf), Ok(n) if n > 0) {}
            return;
        }
        while t.pending_in.is_empty() {
            match t.stream.read(buf) {
                Ok(0) => {
                    self.endpoint.handle_tcp_closed(now, t.handle);
                    mark_closing(t);
                    t.out.clear();
                    break;
                }
                Ok(n) => match self.endpoint.handle_tcp(now, t.handle, &buf[..n]) {
                    TcpInput::Consumed | TcpInput::Closed => {}
                    TcpInput::Blocked { consumed } => {
                        // No free machine to rebuild this connection: the
                        // rest waits (at most one read), offered again by
                        // `drain`; the socket is not read meanwhile.
                        t.pending_in = buf[consumed..n].to_vec();
                    }
                },
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log!("tunnel {}: TCP error: {e}", t.id);
                    self.endpoint.handle_tcp_closed(now, t.handle);
                    mark_closing(t);
                    t.out.clear();
                    break;
                }
            }
        }
        self.drain_events();
    }

    /// Reads the GRE socket a `recvmmsg` batch at a time, each datagram
    /// into the endpoint as it comes, and after each batch sends what the
    /// endpoint owes (acks first among it, so the peers' windows open
    /// during a long run, not after it). At most [`GRE_BATCHES_PER_TURN`]
    /// batches; whether more may be waiting.
    fn gre_readable(&mut self, rx: &mut RecvBatch, buf: &mut [u8]) -> bool {
        let mut unread = Vec::new();
        for _ in 0..GRE_BATCHES_PER_TURN {
            match self.gre.recv_batch(rx) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    if self.log_allowed(Noisy::Packet) {
                        log!("GRE receive: {e}");
                    }
                    return false;
                }
            }
            let now = self.now();
            for i in 0..rx.len() {
                // A cut datagram or a short IPv4 header: dropped.
                let Some((source, datagram)) = rx.gre_mut(i) else {
                    continue;
                };
                if let Ok(Some(ip)) = self.endpoint.handle_gre(now, source, datagram) {
                    let tun = &self.tun;
                    self.tun_batch
                        .push(&datagram[ip.range], &mut |w| tun.send_with_header(w));
                }
                // Events after every input: the endpoint holds 64 (a burst
                // of set-ups would overflow them otherwise).
                self.drain_events();
            }
            let errors = self.tun_batch.stats().errors;
            let tun = &self.tun;
            self.tun_batch.flush(&mut |w| tun.send_with_header(w));
            let failed = self.tun_batch.stats().errors - errors;
            if failed > 0 && self.log_allowed(Noisy::Packet) {
                log!("TUN write: {failed} write(s) failed in a batch");
            }
            self.write_transmits(self.now(), buf, &mut unread);
            for conn in unread.drain(..) {
                self.endpoint.handle_tcp_closed(self.now(), conn);
            }
            self.flush_gre();
            if rx.len() < BATCH {
                // `recvmmsg` stopped short: the socket was empty, and what
                // arrives after raises a new readiness edge.
                return false;
            }
        }
        true
    }

    /// Reads the TUN device until it is empty, a packet must wait for its
    /// peer's GRE window (then it is not read until the window opens: see
    /// [`crate::net::hold`]), or [`TUN_READS_PER_TURN`] packets were
    /// read; whether more may be waiting. The GRE datagrams go into the
    /// send batch, which sends itself when full.
    fn tun_readable(&mut self, buf: &mut [u8]) -> bool {
        let mut out = std::mem::take(&mut self.tun_out);
        let Some(mut reader) = self.tun_reader.take() else {
            return false;
        };
        let clock = self.clock;
        let mut failed = None;
        let more = reader.read(
            buf,
            TUN_READS_PER_TURN,
            || clock.ms(),
            |now, p| self.send_from_tun(Instant::from_millis(now), p, &mut out),
            |e| failed = Some(e.to_string()),
        );
        if let Some(e) = failed {
            if self.log_allowed(Noisy::Packet) {
                log!("TUN read: {e}");
            }
        }
        self.tun_reader = Some(reader);
        self.tun_out = out;
        more
    }

    /// One packet from the TUN device into its session (see
    /// [`send_packet`]), read at `now`.
    fn send_from_tun(
        &mut self,
        now: Instant,
        packet: &[u8],
        out: &mut [u8],
    ) -> Result<(), IpSendError> {
        send_packet(packet, |outbound| {
            let Some(t) = self.endpoint.send_ip(now, outbound, out)? else {
                return Ok(false);
            };
            match t.to {
                Destination::Gre(peer) => self.gre.queue(&mut self.gre_tx, peer, &out[..t.len]),
                Destination::Ip(_) => {
                    if let Err(e) = self.tun.send(&out[..t.len]) {
                        log!("TUN write: {e}");
                    }
                }
                Destination::Tcp(_) => {}
            }
            Ok(true)
        })
    }

    fn signals(&mut self) {
        let pending: Vec<i32> = self.signals.pending().collect();
        for signal in pending {
            match signal {
                // Every worker sees the signal; worker 0 prints them all.
                SIGUSR1 if self.worker.index == 0 => {
                    println!("{}", self.control_command("status"));
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
        self.aaa.shutting_down();
        self.shutdown_deadline = Some(self.clock.ms() + 8_000);
        if let Some(mut l) = self.listener.take() {
            let _ = self.poll.registry().deregister(&mut l);
        }
        let now = self.now();
        self.endpoint.close_all(now);
    }

    /// The `show vpdn` table.
    pub fn status(&self) -> String {
        let mut s = show::render(self);
        let g = self.gre_tx.stats();
        s.push_str(&format!(
            "GRE send: {} datagrams in {} sendmmsg calls; blocked {}; dropped queue-full {}, error {}\n",
            g.sent, g.calls, g.blocked, g.dropped_full, g.dropped_error
        ));
        let t = self.tun_batch.stats();
        s.push_str(&format!(
            "TUN write: {} packets from GRE in {} writes (TCP segments merged: {}); failed writes {}\n",
            t.packets,
            t.writes,
            if self.config.tun_offload { "on" } else { "off" },
            t.errors
        ));
        s.push_str(&self.aaa.status());
        s
    }

    fn control_accept(&mut self) {
        loop {
            let Some(l) = self.control.as_ref() else {
                return;
            };
            match l.accept() {
                Ok((mut stream, _)) => {
                    self.next_token += 1;
                    let token = Token(self.next_token);
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
    /// TUNNEL-ID`, `clear call CALL-ID`, `shutdown`) on this worker
    /// ([`Server::control_command`] is the operator's view).
    pub(crate) fn local_command(&mut self, command: &str) -> String {
        let words: Vec<&str> = command.split_whitespace().collect();
        let now = self.now();
        match words.as_slice() {
            ["status"] | ["show"] | ["show", "vpdn"] => self.status(),
            ["clear", "all"] => {
                let handles: Vec<ConnectionHandle> =
                    self.tunnels.values().map(|t| t.handle).collect();
                for h in &handles {
                    self.endpoint.close_connection(now, *h);
                }
                format!("clearing {} tunnel(s)\n", handles.len())
            }
            ["clear", "call", id] => match id.parse::<u16>() {
                // The PIX's `clear vpdn ... id`: LCP Terminate first, then
                // Call-Disconnect-Notify when the link is down.
                Ok(id) => match self.endpoint.session_by_call_id(id) {
                    Some(session) => {
                        self.endpoint.close_session(now, session);
                        format!("clearing call {id}\n")
                    }
                    None => format!("no call {id}\n"),
                },
                Err(_) => "usage: clear call CALL-ID\n".into(),
            },
            ["clear", id] => match id.parse::<u32>() {
                Ok(id) => match self.tunnels.values().find(|t| t.id == id).map(|t| t.handle) {
                    Some(handle) => {
                        self.endpoint.close_connection(now, handle);
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
}

/// Writes what the socket takes of the tunnel's pending TCP bytes.
fn flush_tcp(t: &mut Tunnel) {
    while !t.out.is_empty() {
        match t.stream.write(&t.out) {
            Ok(n) => {
                t.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(_) => {
                t.out.clear();
                mark_closing(t);
            }
        }
    }
}

/// Octets a control connection may have waiting for its peer to read:
/// far more than any burst of replies (a PPTP message is at most 220
/// octets), far less than what a peer that never reads could pile up.
const TCP_OUT_MAX: usize = 64 * 1024;

/// How long a closed control connection waits for its peer to read the
/// last bytes before the socket goes anyway.
const CLOSE_GRACE: std::time::Duration = std::time::Duration::from_secs(2);

fn mark_closing(t: &mut Tunnel) {
    if !t.closing {
        t.closing = true;
        t.closing_since = Some(std::time::Instant::now());
    }
}
