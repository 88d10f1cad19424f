//! `pptp-tokio-server`: a PPTP server embedded in a tokio program, to show
//! that an async VPN product can host `pptp_core::endpoint::Endpoint`.
//!
//! ```text
//! sudo pptp-tokio-server --user alice:secret --local 10.200.0.1 \
//!     --pool 10.200.0.10-10.200.0.20 --mppe 128 --mppe-required
//! ```
//!
//! The endpoint is single-owner: one task (`run`) owns it, the raw GRE
//! socket and the TUN device (in `AsyncFd`s) and a `sleep_until` for its
//! `poll_timeout`. Each TCP connection has a task that passes bytes over
//! channels; it reads one chunk, then waits until the endpoint took all of
//! it (`ToConn::ReadMore`), so `TcpInput::Blocked` is TCP back-pressure.
//! Session logic is the endpoint's; here are sockets, clock, CLI and log.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::LinkConfig;
use pptp_core::endpoint::{
    ConnectionHandle, Destination, Endpoint, Event, Outbound, ServerConfig, TcpInput,
};
use pptp_core::time::Instant;
use pptp_vpn::config::{parse_mppe_strength, MppeMode, MppeSettings};
use pptp_vpn::events::describe;
use pptp_vpn::host::{heap_memory, Clock, HeapMemory, OsRandom};
use pptp_vpn::net::{gre::GreSocket, range_to_cidrs, tun::Tun};
use tokio::io::{unix::AsyncFd, AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{signal, SignalKind};
use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::task::{AbortHandle, JoinSet};
use tokio::time::sleep_until;

#[derive(Parser)]
#[command(about = "PPTP server on tokio around pptp_core's Endpoint; needs root")]
struct Args {
    /// A local user, NAME:PASSWORD (repeatable).
    #[arg(long = "user", required = true)]
    users: Vec<String>,
    /// TCP address for control connections.
    #[arg(long, default_value = "0.0.0.0:1723")]
    listen: SocketAddr,
    /// Our tunnel address (on the TUN device).
    #[arg(long, default_value = "10.200.0.1")]
    local: Ipv4Addr,
    /// The peers' addresses, FIRST-LAST.
    #[arg(long, default_value = "10.200.0.10-10.200.0.20")]
    pool: String,
    /// MPPE: none, 40 or 128.
    #[arg(long, default_value = "128")]
    mppe: String,
    /// Hang up on peers that do not agree to MPPE.
    #[arg(long)]
    mppe_required: bool,
}

/// The TUN device: our tunnel address, and routes to the pool.
const TUN: &str = "pptptk0";
/// Control messages waiting for one connection's socket; a peer that lets
/// more pile up is not reading, and its connection is dropped.
const CONN_QUEUE: usize = 64;
type Users = CredentialStore<32>;
type Error = Box<dyn std::error::Error>;

macro_rules! log {
    ($($arg:tt)*) => { eprintln!("pptp-tokio-server: {}", format_args!($($arg)*)) };
}

enum ToConn {
    Write(Vec<u8>),
    ReadMore,
    Close,
}

enum FromConn {
    Bytes(ConnectionHandle, Vec<u8>),
    Closed(ConnectionHandle),
}

/// The endpoint and what the host keeps per connection.
struct Host {
    ep: Endpoint<HeapMemory, OsRandom, Users>,
    clock: Clock,
    conns: HashMap<ConnectionHandle, (mpsc::Sender<ToConn>, AbortHandle)>,
    /// Bytes the endpoint did not take yet (`TcpInput::Blocked`).
    pending: HashMap<ConnectionHandle, Vec<u8>>,
    out: Vec<u8>,
}

impl Host {
    fn now(&self) -> Instant {
        Instant::from_millis(self.clock.ms())
    }

    fn tcp_in(&mut self, conn: ConnectionHandle, mut bytes: Vec<u8>) {
        match self.ep.handle_tcp(self.now(), conn, &bytes) {
            TcpInput::Blocked { consumed } => {
                bytes.drain(..consumed);
                self.pending.insert(conn, bytes);
            }
            TcpInput::Consumed | TcpInput::Closed => self.send(conn, ToConn::ReadMore),
        }
    }

    /// The socket ended (or was given up on): so does the session.
    fn tcp_closed(&mut self, conn: ConnectionHandle) {
        self.ep.handle_tcp_closed(self.now(), conn);
        self.conns.remove(&conn);
        self.pending.remove(&conn);
    }

    fn send(&mut self, conn: ConnectionHandle, msg: ToConn) {
        let Some((tx, task)) = self.conns.get(&conn) else {
            return;
        };
        // (Closed: the task saw the socket end and tells the endpoint.)
        if let Err(TrySendError::Full(_)) = tx.try_send(msg) {
            log!("connection {} not reading: dropped", conn.0);
            task.abort();
            self.tcp_closed(conn);
        }
    }

    /// Polls the endpoint's output after an input, in the documented order.
    fn flush(&mut self, gre: &AsyncFd<GreSocket>, tun: &AsyncFd<Tun>) {
        let now = self.now();
        loop {
            while let Some(t) = self.ep.poll_transmit(now, &mut self.out) {
                let bytes = &self.out[..t.len];
                // Datagrams: a full socket buffer drops them, as a link would.
                match t.to {
                    Destination::Gre(addr) => drop(gre.get_ref().send(addr, bytes)),
                    Destination::Ip(_) => drop(tun.get_ref().send(bytes)),
                    Destination::Tcp(c) => self.send(c, ToConn::Write(bytes.to_vec())),
                }
            }
            // Blocked bytes are offered again after each poll_transmit round.
            let before: usize = self.pending.values().map(Vec::len).sum();
            for (conn, bytes) in std::mem::take(&mut self.pending) {
                self.tcp_in(conn, bytes);
            }
            if before == 0 || self.pending.values().map(Vec::len).sum::<usize>() == before {
                break;
            }
        }
        while let Some(event) = self.ep.poll_event() {
            log!("{}", describe(&self.ep, now, &event));
            if let Event::ConnectionClosed { connection } = event {
                self.send(connection, ToConn::Close);
                self.conns.remove(&connection);
            }
        }
    }

    /// SIGINT/SIGTERM: every session says goodbye (LCP Terminate-Request,
    /// then Call-Disconnect-Notify and StopCCRQ); 3 s for that.
    fn close_all(&mut self) -> tokio::time::Instant {
        log!("closing {} session(s)", self.ep.active_sessions());
        self.ep.close_all(self.now());
        tokio::time::Instant::now() + Duration::from_secs(3)
    }
}

/// One TCP connection: its bytes to the endpoint task, the answers back.
async fn connection(
    conn: ConnectionHandle,
    mut stream: TcpStream,
    mut rx: mpsc::Receiver<ToConn>,
    tx: mpsc::Sender<FromConn>,
) {
    let mut buf = vec![0u8; 4096];
    let mut may_read = true;
    loop {
        tokio::select! {
            read = stream.read(&mut buf), if may_read => match read {
                Ok(n) if n > 0 => {
                    may_read = false;
                    let _ = tx.send(FromConn::Bytes(conn, buf[..n].to_vec())).await;
                }
                _ => break,
            },
            msg = rx.recv() => match msg {
                Some(ToConn::Write(b)) => if stream.write_all(&b).await.is_err() { break },
                Some(ToConn::ReadMore) => may_read = true,
                // The control connection is over: FIN after its last message.
                Some(ToConn::Close) | None => return drop(stream.shutdown().await),
            },
        }
    }
    // The peer's FIN or a broken stream.
    let _ = tx.send(FromConn::Closed(conn)).await;
}

/// Registers a non-blocking descriptor with tokio for read readiness.
fn readable<T: AsRawFd>(inner: T) -> std::io::Result<AsyncFd<T>> {
    // SAFETY: `GreSocket` and `Tun` own their descriptor (socket2 `Socket`,
    // `File`) and never close or replace it while they live.
    Ok(unsafe { AsyncFd::register_with_interest(inner, Interest::READABLE) }?)
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let Err(e) = run(Args::parse()).await else {
        return ExitCode::SUCCESS;
    };
    log!("{e}");
    ExitCode::FAILURE
}

async fn run(args: Args) -> Result<(), Error> {
    let (first, last) = args.pool.split_once('-').ok_or("--pool: FIRST-LAST")?;
    let pool: (Ipv4Addr, Ipv4Addr) = (first.parse()?, last.parse()?);
    let mut link = LinkConfig::server(args.local, [None, None]);
    link.mppe = MppeSettings {
        strength: parse_mppe_strength(&args.mppe)?,
        required: args.mppe_required,
        mode: MppeMode::Stateless,
    }
    .policy();
    let mut config = ServerConfig::new(link, pool.0, pool.1);
    config.control.host_name = b"pptp-tokio-server".iter().copied().collect();
    config.max_sessions = (u32::from(pool.1).saturating_sub(pool.0.into()) as usize + 1).min(1024);
    let mut users = Users::new(DomainRule::default());
    for user in &args.users {
        let (name, password) = user.split_once(':').ok_or("--user: NAME:PASSWORD")?;
        users.insert_password(name.as_bytes(), password.as_bytes())?;
    }
    // A few slots beyond max_sessions answer refusals (SCCRP result 2).
    let memory = heap_memory(config.max_sessions + 8, config.max_sessions.min(63) + 1);
    let ep = Endpoint::server(config, memory, OsRandom, Some(users));
    let ep = ep.map_err(|e| format!("endpoint: {e:?}"))?;
    let gre = readable(GreSocket::open()?)?;
    let tun = Tun::open(TUN)?;
    tun.configure(args.local, 1400)?;
    for (net, prefix) in range_to_cidrs(pool.0, pool.1) {
        tun.add_route(net, prefix)?;
    }
    let tun = readable(tun)?;
    let listener = TcpListener::bind(args.listen).await?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sigterm = signal(SignalKind::terminate())?;
    let (listen, local, mppe) = (args.listen, args.local, &args.mppe);
    let required = if args.mppe_required { " required" } else { "" };
    log!("listening on {listen}, tunnel {local}, pool {first}-{last}, MPPE {mppe}{required}");
    // The clock starts before the timer base, so that no timer fires early.
    let clock = Clock::start();
    let base = tokio::time::Instant::now();
    let (conns, pending, out) = (HashMap::new(), HashMap::new(), vec![0; 4096]);
    let mut host = Host {
        ep,
        clock,
        conns,
        pending,
        out,
    };
    let (to_host, mut inbox) = mpsc::channel(1024);
    let mut tasks = JoinSet::new();
    let mut buf = vec![0u8; 65_536];
    // After SIGINT/SIGTERM: the loop ends once the endpoint is idle, or then.
    let mut stop_by = None;
    let far = base + Duration::from_secs(86_400 * 365);
    loop {
        let wake = host.ep.poll_timeout();
        let wake = wake.map(|t| base + Duration::from_millis(t.as_millis()));
        tokio::select! {
            accepted = listener.accept(), if stop_by.is_none() => {
                let Ok((stream, SocketAddr::V4(peer))) = accepted else { continue };
                match host.ep.accept(host.now(), *peer.ip()) {
                    Ok(conn) => {
                        let (tx, rx) = mpsc::channel(CONN_QUEUE);
                        let task = tasks.spawn(connection(conn, stream, rx, to_host.clone()));
                        host.conns.insert(conn, (tx, task));
                    }
                    Err(e) => log!("refused {peer}: {e}"),
                }
            }
            Some(msg) = inbox.recv() => match msg {
                FromConn::Bytes(conn, bytes) => host.tcp_in(conn, bytes),
                FromConn::Closed(conn) => host.tcp_closed(conn),
            },
            // One datagram or packet per turn: readiness stays set until a
            // read would block, so the next turn reads on.
            Ok(mut ready) = gre.readable() => {
                let Ok(Ok((from, range))) = ready.try_io(|fd| fd.get_ref().recv(&mut buf)) else { continue };
                let datagram = &mut buf[range];
                if let Ok(Some(d)) = host.ep.handle_gre(host.now(), from, datagram) {
                    let _ = tun.get_ref().send(&datagram[d.range]);
                }
            }
            Ok(mut ready) = tun.readable() => {
                let Ok(Ok(n)) = ready.try_io(|fd| fd.get_ref().recv(&mut buf)) else { continue };
                // No session for the address, or its GRE window full: dropped.
                // The packet, its fragments, or an ICMP error for the TUN.
                let mut packet = Outbound::new(&buf[..n]);
                while let Ok(Some(t)) = host.ep.send_ip(host.now(), &mut packet, &mut host.out) {
                    let bytes = &host.out[..t.len];
                    match t.to {
                        Destination::Gre(addr) => drop(gre.get_ref().send(addr, bytes)),
                        Destination::Ip(_) => drop(tun.get_ref().send(bytes)),
                        Destination::Tcp(_) => {}
                    }
                }
            }
            () = sleep_until(wake.unwrap_or(far)), if wake.is_some() => host.ep.handle_timeout(host.now()),
            () = sleep_until(stop_by.unwrap_or(far)), if stop_by.is_some() => break,
            _ = sigint.recv(), if stop_by.is_none() => stop_by = Some(host.close_all()),
            _ = sigterm.recv(), if stop_by.is_none() => stop_by = Some(host.close_all()),
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
        }
        host.flush(&gre, &tun);
        if stop_by.is_some() && host.ep.is_idle() {
            break;
        }
    }
    // Let the connection tasks write the last control messages.
    let _ = tokio::time::timeout(Duration::from_secs(2), tasks.join_all()).await;
    log!("stopped");
    Ok(())
}
