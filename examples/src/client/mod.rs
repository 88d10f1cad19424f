//! `pptp-client`: one session (one tunnel, one call, one TUN device) as
//! RFC 2637's PNS, which places the call. The session is a
//! [`pptp_core::endpoint::Endpoint`] in the client role; this host keeps
//! its sockets (the TCP connection, the raw GRE socket), the TUN device,
//! the clock, the randomness, the reconnect policy and the CLI, in a
//! single-threaded `mio` loop.
//!
//! Life of a session: TCP connect, SCCRQ/SCCRP, Outgoing-Call-Request/
//! Reply, LCP, authentication, IPCP + CCP; the TUN device gets the
//! assigned address with the server's tunnel address as its peer (plus
//! any `routes` asked for). On SIGINT/SIGTERM the endpoint says goodbye
//! in order: LCP Terminate-Request, Call-Clear-Request, then
//! Stop-Control-Connection-Request. When the session fails or the server
//! ends it, [`run`] reconnects with exponential back-off (1 s doubling to
//! 60 s) up to `retries` times.

mod stdio;

pub use stdio::run_stdio;

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, SocketAddrV4, TcpStream as StdTcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration as StdDuration;

use mio::net::TcpStream;
use mio::unix::SourceFd;
use mio::{Events, Interest, Poll, Registry, Token};
use ppp_core::auth::MsChapV1Keys;
use ppp_core::link::{Credentials, LinkConfig};
use ppp_core::wire::lcp::AuthMethod;
use pptp_core::control::Config as ControlConfig;
use pptp_core::endpoint::{
    self, ConnectionHandle, Destination, Event, IpSendError, TcpInput, Transmit,
};
use pptp_core::time::Instant;
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook_mio::v1_0::Signals;

use crate::config::MppeSettings;
use crate::host::{heap_memory, Clock, HeapMemory, OsRandom};
use crate::net::gre::{Flushed, GreSocket, RecvBatch, SendBatch, BATCH};
use crate::net::hold::send_packet;
use crate::net::tun::Tun;
use crate::net::tun_offload::TunBatch;
use crate::net::tun_reader::TunReader;

const TCP: Token = Token(0);
const GRE: Token = Token(1);
const TUN: Token = Token(2);
const SIGNALS: Token = Token(3);

/// `recvmmsg` batches read from the GRE socket per loop turn, and packets
/// read from the TUN device per turn: then the other sources get their
/// turn (the control connection, timers, the other direction) and the
/// loop comes back at once for the rest (edge-triggered readiness does
/// not say again).
const GRE_BATCHES_PER_TURN: usize = 8;
const TUN_READS_PER_TURN: usize = 256;

macro_rules! log {
    ($($arg:tt)*) => {{
        eprintln!("pptp-client: {}", format_args!($($arg)*));
    }};
}
/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// The server (RFC 2637's PAC).
    pub server: SocketAddrV4,
    /// User name.
    pub user: String,
    /// Password.
    pub password: String,
    /// A new password to change to when the server says the password has
    /// expired (MS-CHAP error 648: RFC 2759 §7 for MS-CHAPv2, RFC 2433
    /// code 6 for MS-CHAPv1), as Windows asks its user. Without it a 648
    /// ends the session.
    pub new_password: Option<String>,
    /// Methods we accept, in order of preference.
    pub auth: Vec<AuthMethod>,
    /// MPPE.
    pub mppe: MppeSettings,
    /// MS-CHAPv1 with 40/56-bit MPPE: the LM-hash based start key
    /// (RFC 3079 §2.1, as Windows) instead of the NT-based one (pppd).
    pub lm_keys: bool,
    /// TUN device name.
    pub tun_name: String,
    /// Extra routes into the tunnel once it is up.
    pub routes: Vec<(Ipv4Addr, u8)>,
    /// Reconnect attempts after a failed or lost session (0: none).
    pub retries: u32,
    /// Our Packet Receive Window Size in the Outgoing-Call-Request (RFC
    /// 2637 §2.7): the library's default is sized for throughput; Windows
    /// offers 16 or 64, pptp-linux 3 (to see what such a peer gets).
    pub receive_window: u16,
    /// TUN offloads ([`crate::net::tun_offload`]): merged writes and TSO
    /// reads, as the server's `tun_offload`.
    pub tun_offload: bool,
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
    link.mschapv1_keys = if config.lm_keys {
        MsChapV1Keys::Lm
    } else {
        MsChapV1Keys::Nt
    };
    Ok(link)
}

/// The endpoint of one session: one slot, one machine of each kind.
type Client = endpoint::Client<HeapMemory, OsRandom>;

/// The sockets and device of one session around its endpoint.
struct Session<'a> {
    config: &'a ClientConfig,
    clock: Clock,
    endpoint: Client,
    conn: ConnectionHandle,
    stream: TcpStream,
    /// Bytes for the server not yet taken by the socket.
    out: Vec<u8>,
    gre: GreSocket,
    /// GRE datagrams for the server, sent by one `sendmmsg` when it is
    /// full and once per loop turn.
    gre_tx: SendBatch,
    /// Whether the GRE socket is registered for writability: only while
    /// datagrams wait for it (`EAGAIN`).
    gre_writable: bool,
    /// Readiness not yet used up (a per-turn budget ran out).
    gre_ready: bool,
    tun_ready: bool,
    /// TUN writes that failed (logged at 1, 2, 4, 8, ...: not per packet).
    tun_write_errors: u64,
    tun: Tun,
    /// IP packets from a GRE batch on their way to the TUN device.
    tun_batch: TunBatch,
    /// Reads the TUN device: TSO segments, and a packet waiting for the
    /// server's GRE window (back-pressure); `None` only while it reads.
    reader: Option<TunReader>,
    /// The endpoint's output (a GRE datagram or control message).
    tx: Vec<u8>,
    outcome: Option<Outcome>,
    /// The endpoint closed the control connection, or TCP is gone.
    finished: bool,
}

fn session(config: &ClientConfig, signals: &mut Signals) -> Outcome {
    let clock = Clock::start();
    let link = match link_config(config) {
        Ok(l) => l,
        Err(e) => return Outcome::Fatal(e),
    };
    let mut link = link;
    // Keep the session on a 648 so that the new password can be sent.
    link.auth_retry = config.new_password.is_some();
    let mut client_config = endpoint::ClientConfig::new(link);
    client_config.call.receive_window = config.receive_window;
    client_config.control = ControlConfig {
        host_name: b"pptp-client".iter().copied().collect(),
        vendor_string: b"pptp-rs".iter().copied().collect(),
        ..ControlConfig::default()
    };
    let Ok(mut endpoint) = Client::client(client_config, heap_memory(1, 1), OsRandom) else {
        return Outcome::Fatal("endpoint: bad memory".into());
    };
    let gre = match GreSocket::open() {
        Ok(s) => s,
        Err(e) => return Outcome::Fatal(format!("raw GRE socket: {e}")),
    };
    let tun = if config.tun_offload {
        Tun::open_offloading(&config.tun_name)
    } else {
        Tun::open(&config.tun_name)
    };
    let tun = match tun {
        Ok(t) => t,
        Err(e) => return Outcome::Fatal(format!("TUN device: {e}")),
    };
    let reader = match tun.try_clone() {
        Ok(t) => TunReader::new(t),
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
        .and_then(|()| registry.register(&mut SourceFd(&gre.as_raw_fd()), GRE, Interest::READABLE))
        .and_then(|()| registry.register(&mut SourceFd(&tun.as_raw_fd()), TUN, Interest::READABLE))
        .and_then(|()| registry.register(signals, SIGNALS, Interest::READABLE));
    if let Err(e) = registered {
        return Outcome::Fatal(format!("register: {e}"));
    }
    let conn = match endpoint.connect(Instant::from_millis(clock.ms()), *config.server.ip()) {
        Ok(c) => c,
        Err(e) => return Outcome::Fatal(format!("endpoint: {e}")),
    };
    let mut s = Session {
        config,
        clock,
        endpoint,
        conn,
        stream,
        out: Vec::new(),
        gre,
        gre_tx: SendBatch::new(),
        gre_writable: false,
        gre_ready: false,
        tun_ready: false,
        tun_write_errors: 0,
        tun,
        tun_batch: TunBatch::new(config.tun_offload),
        reader: Some(reader),
        tx: vec![0u8; 4096],
        outcome: None,
        finished: false,
    };
    let mut events = Events::with_capacity(16);
    let mut buf = vec![0u8; 65_536];
    let mut rx = RecvBatch::new();
    let mut shutdown_deadline: Option<u64> = None;
    s.drain();
    loop {
        s.flush_gre(poll.registry());
        let now = s.clock.ms();
        let wake = [
            s.endpoint.poll_timeout().map(|t| t.as_millis()),
            shutdown_deadline,
            s.reader.as_ref().and_then(|r| r.hold().deadline_ms()),
        ]
        .into_iter()
        .flatten()
        .min();
        let timeout = if s.gre_ready || s.tun_ready {
            // A budget ran out with input left.
            Some(StdDuration::ZERO)
        } else {
            wake.map(|d| StdDuration::from_millis(d.saturating_sub(now)))
        };
        if let Err(e) = poll.poll(&mut events, timeout) {
            if e.kind() != io::ErrorKind::Interrupted {
                return Outcome::Fatal(format!("poll: {e}"));
            }
        }
        for event in events.iter() {
            match event.token() {
                TCP => s.tcp_ready(&mut buf),
                // Read after the other events, within their budgets; a
                // writable GRE socket only needs the flush at the top.
                GRE => s.gre_ready |= event.is_readable(),
                TUN => s.tun_ready = true,
                SIGNALS if signals.pending().next().is_some() && shutdown_deadline.is_none() => {
                    log!("disconnecting");
                    s.outcome = Some(Outcome::UserDisconnect);
                    s.endpoint.close_all(s.now());
                    shutdown_deadline = Some(s.clock.ms() + 8_000);
                }
                _ => {}
            }
        }
        if s.gre_ready {
            s.gre_ready = s.gre_readable(&mut rx);
        }
        if s.tun_ready {
            s.tun_ready = s.tun_readable(&mut buf);
        }
        let now = s.now();
        if s.endpoint.poll_timeout().is_some_and(|t| t <= now) {
            s.endpoint.handle_timeout(now);
        }
        s.drain();
        if s.reader.as_ref().is_some_and(|r| r.hold().is_holding()) {
            // Acks or an ack time-out may have opened the window.
            s.tun_ready = s.tun_readable(&mut buf);
        }
        if s.finished || shutdown_deadline.is_some_and(|d| s.clock.ms() >= d) {
            // The last goodbyes (LCP Terminate-Request) may be queued.
            s.gre.flush(&mut s.gre_tx);
            let _ = poll.registry().deregister(signals);
            return s
                .outcome
                .take()
                .unwrap_or(Outcome::Lost("control connection closed".into()));
        }
    }
}

impl Session<'_> {
    fn now(&self) -> Instant {
        Instant::from_millis(self.clock.ms())
    }

    /// The TCP socket is readable or writable.
    fn tcp_ready(&mut self, buf: &mut [u8]) {
        self.flush_tcp();
        loop {
            match self.stream.read(buf) {
                Ok(0) => {
                    self.lost("the server closed the TCP connection".into());
                    return;
                }
                Ok(n) => self.feed_tcp(&buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.lost(format!("TCP: {e}"));
                    return;
                }
            }
        }
    }

    /// Gives the endpoint control bytes; what it cannot take yet waits
    /// for its output to be sent (TCP back-pressure).
    fn feed_tcp(&mut self, mut bytes: &[u8]) {
        for _ in 0..8 {
            match self.endpoint.handle_tcp(self.now(), self.conn, bytes) {
                TcpInput::Blocked { consumed } => {
                    bytes = bytes.get(consumed..).unwrap_or(&[]);
                    self.drain();
                }
                _ => return,
            }
        }
        log!("control input blocked; {} octets dropped", bytes.len());
    }

    /// The TCP connection is gone: nothing more can be said to the server.
    fn lost(&mut self, why: String) {
        self.endpoint.handle_tcp_closed(self.now(), self.conn);
        self.outcome.get_or_insert(Outcome::Lost(why));
        self.out.clear();
        self.finished = true;
    }

    /// Reads the GRE socket a `recvmmsg` batch at a time, each datagram
    /// into the endpoint as it comes; after each batch, what the endpoint
    /// owes (acks) goes out. At most [`GRE_BATCHES_PER_TURN`] batches;
    /// whether more may be waiting.
    fn gre_readable(&mut self, rx: &mut RecvBatch) -> bool {
        for _ in 0..GRE_BATCHES_PER_TURN {
            match self.gre.recv_batch(rx) {
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log!("GRE receive: {e}");
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
                // Events after every input (the endpoint's queue of them
                // is bounded).
                while let Some(event) = self.endpoint.poll_event() {
                    self.on_event(event);
                }
            }
            let errors = self.tun_batch.stats().errors;
            let tun = &self.tun;
            self.tun_batch.flush(&mut |w| tun.send_with_header(w));
            if self.tun_batch.stats().errors > errors {
                self.tun_write_failed(&io::Error::other("a write of a GRE batch's packets"));
            }
            self.drain();
            self.gre.flush(&mut self.gre_tx);
            if rx.len() < BATCH {
                // `recvmmsg` stopped short: the socket was empty, and what
                // arrives after raises a new readiness edge.
                return false;
            }
        }
        true
    }

    /// Counts a failed TUN write; logs it at the 1st, 2nd, 4th, ... so
    /// that a device that refuses every packet does not flood the log.
    fn tun_write_failed(&mut self, e: &io::Error) {
        self.tun_write_errors += 1;
        if self.tun_write_errors.is_power_of_two() {
            log!("TUN write: {e} ({} so far)", self.tun_write_errors);
        }
    }

    /// Sends the queued GRE datagrams; keeps the socket's writable
    /// interest exactly while some wait for it (see
    /// [`crate::net::gre::SendBatch`]).
    fn flush_gre(&mut self, registry: &Registry) {
        let blocked = self.gre.flush(&mut self.gre_tx) == Flushed::Blocked;
        if blocked != self.gre_writable {
            let interest = if blocked {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            let fd = self.gre.as_raw_fd();
            if registry
                .reregister(&mut SourceFd(&fd), GRE, interest)
                .is_ok()
            {
                self.gre_writable = blocked;
            }
        }
    }

    /// Reads the TUN device until it is empty, a packet must wait for
    /// the server's GRE window ([`crate::net::hold`]), or
    /// [`TUN_READS_PER_TURN`] packets were read; whether more may be
    /// waiting. Before the session is up, packets are dropped, as a line
    /// that is down would. The GRE datagrams go into the send batch,
    /// which sends itself when full.
    fn tun_readable(&mut self, buf: &mut [u8]) -> bool {
        let Some(mut reader) = self.reader.take() else {
            return false;
        };
        let clock = self.clock;
        let more = reader.read(
            buf,
            TUN_READS_PER_TURN,
            || clock.ms(),
            |now, p| self.send_from_tun(Instant::from_millis(now), p),
            |e| log!("TUN read: {e}"),
        );
        self.reader = Some(reader);
        more
    }

    /// One packet from the TUN device into the session, read at `now`.
    fn send_from_tun(&mut self, now: Instant, packet: &[u8]) -> Result<(), IpSendError> {
        send_packet(packet, |outbound| {
            let sent = self.endpoint.send_ip(now, outbound, &mut self.tx)?;
            Ok(sent.map(|t| self.send(t)).is_some())
        })
    }

    /// Sends what the endpoint has to send and acts on its events.
    fn drain(&mut self) {
        while let Some(t) = self.endpoint.poll_transmit(self.now(), &mut self.tx) {
            self.send(t);
        }
        while let Some(event) = self.endpoint.poll_event() {
            self.on_event(event);
        }
        self.flush_tcp();
    }

    fn send(&mut self, t: Transmit) {
        let bytes = &self.tx[..t.len];
        match t.to {
            Destination::Tcp(_) => {
                self.out.extend_from_slice(bytes);
                // One write per message, as the server does.
                self.flush_tcp();
            }
            Destination::Gre(peer) => self.gre.queue(&mut self.gre_tx, peer, bytes),
            Destination::Ip(_) => {
                if let Err(e) = self.tun.send(bytes) {
                    self.tun_write_failed(&e);
                }
            }
        }
    }

    fn on_event(&mut self, event: Event) {
        match event {
            Event::TunnelUp {
                host_name, vendor, ..
            } => log!(
                "tunnel up (server \"{}\", vendor \"{}\")",
                String::from_utf8_lossy(&host_name),
                String::from_utf8_lossy(&vendor)
            ),
            Event::CallUp {
                local_call_id,
                peer_call_id,
                ..
            } => log!("call up (our call {local_call_id}, server call {peer_call_id})"),
            Event::Authenticated { method, .. } => log!("authenticated with {method}"),
            Event::AuthFailed {
                session,
                method,
                reason,
                ..
            } => {
                log!("{method:?} authentication failed: {reason:?}");
                let expired = reason.windows_error() == ppp_core::wire::auth::ERROR_PASSWD_EXPIRED;
                if let (true, Some(new)) = (expired, self.config.new_password.as_ref()) {
                    let now = self.now();
                    if self.endpoint.change_password(now, session, new.as_bytes()) {
                        log!("password expired: sending the new one ({method:?} Change-Password)");
                        return;
                    }
                }
                self.outcome = Some(Outcome::Fatal(format!("authentication failed: {reason:?}")));
            }
            Event::SessionUp {
                session,
                address,
                peer_address,
                mppe,
                mtu,
            } => {
                log!("CCP up: {}", crate::events::mppe_text(mppe.as_ref()));
                let (Some(local), Some(peer)) = (address, peer_address) else {
                    log!("IPCP up without addresses");
                    return;
                };
                let dns = self.endpoint.link(session).map(|l| l.ipcp_negotiated().dns);
                if let Err(e) = configure_tun(&self.tun, local, peer, mtu, &self.config.routes) {
                    log!("configuring {}: {e}", self.tun.name());
                }
                let dns = crate::events::addresses_text(&dns.unwrap_or_default());
                log!("IPCP up: local address {local} peer {peer} dns {dns}");
                log!("data ready");
            }
            Event::SessionDown { reason, .. } => {
                log!("session down: {reason}");
                self.outcome
                    .get_or_insert_with(|| Outcome::Lost(format!("session down: {reason}")));
            }
            Event::ConnectionClosed { .. } => {
                self.flush_tcp();
                let _ = self.stream.shutdown(Shutdown::Write);
                self.finished = true;
            }
            _ => {}
        }
    }

    fn flush_tcp(&mut self) {
        while !self.out.is_empty() {
            match self.stream.write(&self.out) {
                Ok(n) => {
                    self.out.drain(..n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => self.out.clear(),
            }
        }
    }
}

/// Puts `local` on the TUN device with `peer` as the point-to-point
/// destination, MTU from the link, and the extra routes.
fn configure_tun(
    tun: &Tun,
    local: Ipv4Addr,
    peer: Ipv4Addr,
    mtu: usize,
    routes: &[(Ipv4Addr, u8)],
) -> io::Result<()> {
    let name = tun.name();
    let mtu = mtu.clamp(576, 1500).to_string();
    // The same deep queue as the server's: with the default 500 the
    // kernel dropped what iperf3's TCP wrote while this one thread was
    // encrypting (scripts/throughput.sh, `cli_tun_tx_dropped`: 297-24,035
    // TCP retransmissions in 5 s up; with 10,000: 0 with MPPE-128, 696-1,164
    // without, at the same throughput).
    let queue = crate::net::tun::TX_QUEUE_LEN.to_string();
    crate::net::ip(&[
        "link",
        "set",
        "dev",
        name,
        "up",
        "mtu",
        &mtu,
        "txqueuelen",
        &queue,
    ])?;
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
