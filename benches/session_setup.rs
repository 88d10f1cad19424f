//! In-process session establishment, client and server in one thread with
//! no network in between: PPTP start-up (SCCRQ/SCCRP), the call
//! (OCRQ/OCRP), then over GRE the whole PPP `Link`: LCP, MS-CHAPv2, IPCP
//! (address from the server's pool) and CCP with MPPE-128, until both
//! ends report `DataReady` (IPCP and CCP opened).
//!
//! Prints sessions per second and the memory of the per-session server
//! state: `size_of` of each machine and the RSS delta of N established
//! server sessions held in one process (N = 1,000, 10,000 and 100,000).
//! Both ends run on the same thread, so the rate counts the client's work
//! too; the time spent in the server's calls alone is measured as well
//! (sessions per second per core for a server).

use std::cell::Cell;
use std::time::{Duration, Instant as WallClock};

use criterion::{black_box, Criterion};
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::ipcp::pool::AddressPool;
use ppp_core::link::{Credentials, Entropy, Link, LinkConfig, LinkEvent, ParkedLink};
use pptp_core::control::{CallAccept, CallParams, Config, Connection, Event, ParkedConnection};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::Role;
use std::net::Ipv4Addr;

const NOW: pptp_core::Instant = pptp_core::Instant::ZERO;
const PNOW: ppp_core::time::Instant = ppp_core::time::Instant::ZERO;

thread_local! {
    /// Wall time spent inside the server's calls (PPTP control input and
    /// output, GRE, the PPP link), summed over sessions.
    static SERVER_TIME: Cell<Duration> = const { Cell::new(Duration::ZERO) };
}

/// Runs `f`, adding its wall time to [`SERVER_TIME`] when `role` is the
/// server.
fn timed<T>(role: Role, f: impl FnOnce() -> T) -> T {
    if role != Role::Server {
        return f();
    }
    let start = WallClock::now();
    let out = f();
    let spent = start.elapsed();
    SERVER_TIME.with(|t| t.set(t.get() + spent));
    out
}

/// The per-session state a server keeps once the session is up.
struct ServerSession {
    conn: Connection<1>,
    gre: Option<GreSession>,
    link: Link,
}

/// The same session parked: what a server that parks quiet sessions holds
/// per established session (`Connection::park`, `Link::park`).
struct ParkedServerSession {
    conn: ParkedConnection,
    gre: GreSession,
    link: ParkedLink,
}

impl ServerSession {
    fn park(self) -> ParkedServerSession {
        timed(Role::Server, || ParkedServerSession {
            conn: self.conn.park().expect("the control connection is quiet"),
            gre: self.gre.expect("a call"),
            link: self.link.park().expect("the link is quiet"),
        })
    }
}

/// One end while establishing.
struct End {
    role: Role,
    call_id: u16,
    session: ServerSession,
    ready: bool,
    out_tcp: Vec<u8>,
    out_gre: Vec<Vec<u8>>,
}

impl End {
    fn new(role: Role, call_id: u16, link: Link) -> Self {
        End {
            role,
            call_id,
            session: ServerSession {
                conn: Connection::new(role, Config::default(), NOW),
                gre: None,
                link,
            },
            ready: false,
            out_tcp: Vec::new(),
            out_gre: Vec::new(),
        }
    }

    fn pump(&mut self, pool: &mut Pool) -> bool {
        timed(self.role, || self.pump_untimed(pool))
    }

    fn pump_untimed(&mut self, pool: &mut Pool) -> bool {
        let s = &mut self.session;
        let mut progress = false;
        while let Some(ev) = s.conn.poll_event() {
            progress = true;
            match ev {
                Event::TunnelUp(_) if self.role == Role::Client => {
                    s.conn
                        .place_call(NOW, self.call_id, &CallParams::default())
                        .expect("call");
                }
                Event::CallRequested(r) => {
                    s.conn
                        .accept_call(NOW, r.peer_call_id, self.call_id, &CallAccept::default())
                        .expect("accept");
                }
                Event::CallUp(up) => {
                    s.gre = Some(GreSession::new(GreConfig::new(
                        up.local_call_id,
                        up.peer_call_id,
                        up.peer_recv_window,
                    )));
                    s.link.open(PNOW);
                }
                _ => {}
            }
        }
        let mut buf = [0u8; 1600];
        while let Some(t) = s.conn.poll_transmit(NOW, &mut buf) {
            progress = true;
            self.out_tcp.extend_from_slice(&buf[..t.len]);
        }
        if let Some(g) = s.gre.as_mut() {
            while let Some(t) = s.link.poll_transmit(PNOW, &mut buf) {
                progress = true;
                let mut d = [0u8; 1700];
                let len = g.encapsulate(NOW, &buf[..t.len], &mut d).expect("window");
                self.out_gre.push(d[..len].to_vec());
            }
            while let Some(ev) = s.link.poll_event() {
                progress = true;
                match ev {
                    LinkEvent::AddressNeeded => {
                        s.link.assign_peer_address(PNOW, pool.allocate().ok());
                    }
                    LinkEvent::DataReady => self.ready = true,
                    LinkEvent::Down(r) => panic!("link down: {r}"),
                    _ => {}
                }
            }
        }
        progress
    }

    fn input_gre(&mut self, datagram: &[u8], users: &CredentialStore<1>) {
        timed(self.role, || self.input_gre_untimed(datagram, users))
    }

    fn input_gre_untimed(&mut self, datagram: &[u8], users: &CredentialStore<1>) {
        let s = &mut self.session;
        let g = s.gre.as_mut().expect("call");
        let payload = match g.decapsulate(NOW, datagram).expect("gre") {
            Received::Deliver { payload, .. } => payload,
            _ => return,
        };
        let mut frame = datagram[payload].to_vec();
        let _ = match self.role {
            Role::Server => s.link.handle_frame_with(PNOW, &mut frame, users),
            Role::Client => s.link.handle_frame(PNOW, &mut frame),
        };
    }
}

fn entropy(seed: u32, salt: u32) -> Entropy {
    let mut challenge = [0u8; 16];
    for (i, b) in challenge.iter_mut().enumerate() {
        *b = (seed.wrapping_mul(31).wrapping_add(salt) >> (i % 4 * 8)) as u8 ^ i as u8;
    }
    Entropy {
        // Distinct Magic-Numbers, or LCP rightly suspects a loopback.
        magic: (seed ^ salt) | 1,
        challenge,
        identifier: seed as u8,
    }
}

/// Establishes one session through IPCP and CCP opened; returns the
/// server's state.
fn establish(
    seed: u32,
    users: &CredentialStore<1>,
    pool: &mut Pool,
    client_config: &LinkConfig,
    server_config: &LinkConfig,
) -> ServerSession {
    let (client_call, server_call) = ((seed as u16) | 1, (seed >> 16) as u16 | 1);
    let mut client = End::new(
        Role::Client,
        client_call,
        Link::new(client_config.clone(), entropy(seed, 0xa5a5_a5a5)),
    );
    let mut server = timed(Role::Server, || {
        End::new(
            Role::Server,
            server_call,
            Link::new(server_config.clone(), entropy(seed, 0x5a5a_5a5a)),
        )
    });
    for _ in 0..64 {
        let a = client.pump(pool);
        let b = server.pump(pool);
        let c2s = std::mem::take(&mut client.out_tcp);
        let s2c = std::mem::take(&mut server.out_tcp);
        let g2s = std::mem::take(&mut client.out_gre);
        let g2c = std::mem::take(&mut server.out_gre);
        let moved = !(c2s.is_empty() && s2c.is_empty() && g2s.is_empty() && g2c.is_empty());
        if !c2s.is_empty() {
            timed(Role::Server, || {
                server
                    .session
                    .conn
                    .handle_input(NOW, &c2s)
                    .expect("control")
            });
        }
        if !s2c.is_empty() {
            client
                .session
                .conn
                .handle_input(NOW, &s2c)
                .expect("control");
        }
        // A call that came up needs its GRE session before its first
        // datagram; each datagram is handled before the next, as a host
        // does.
        client.pump(pool);
        server.pump(pool);
        for d in &g2s {
            server.input_gre(d, users);
            server.pump(pool);
        }
        for d in &g2c {
            client.input_gre(d, users);
            client.pump(pool);
        }
        if client.ready && server.ready && !moved && !a && !b {
            break;
        }
    }
    assert!(
        client.ready && server.ready,
        "session not established: {:?} / {:?}",
        client.session.link,
        server.session.link
    );
    assert!(server.session.link.mppe_info().is_some(), "MPPE not agreed");
    server.session
}

fn configs() -> (LinkConfig, LinkConfig, CredentialStore<1>) {
    let mut users = CredentialStore::new(DomainRule::default());
    users.insert_password(b"cisco", b"cisco").expect("user");
    let server = LinkConfig::server(Ipv4Addr::new(10, 0, 0, 1), [None, None]);
    let mut server = server;
    server.mppe = ppp_core::link::MppePolicy::pix(ppp_core::link::PixEncryption::Bits128, true);
    let client = LinkConfig::client(Credentials::password(b"cisco", b"cisco").expect("creds"));
    (client, server, users)
}

/// 2,048 bitmap words: up to 131,072 addresses.
type Pool = AddressPool<2048>;

fn pool() -> Pool {
    // Two /16s (131,068 addresses): room for every session held below.
    AddressPool::new(Ipv4Addr::new(10, 1, 0, 1), Ipv4Addr::new(10, 2, 255, 254)).expect("pool")
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * 4096)
}

fn memory_report() {
    println!("session_setup: per-session server state (PPTP Connection<1> + GRE + PPP Link with IPCP, CCP and MPPE)");
    println!(
        "  size_of Connection<1>     {:6} bytes",
        std::mem::size_of::<Connection<1>>()
    );
    println!(
        "  size_of GreSession        {:6} bytes",
        std::mem::size_of::<GreSession>()
    );
    println!(
        "  size_of Link              {:6} bytes",
        std::mem::size_of::<Link>()
    );
    println!(
        "  size_of ServerSession     {:6} bytes",
        std::mem::size_of::<ServerSession>()
    );
    println!(
        "parked (Connection::park + GreSession + Link::park; RC4 state {} B per direction instead of {} B):",
        std::mem::size_of::<mppe::rc4::CompactRc4>(),
        std::mem::size_of::<mppe::rc4::Rc4>()
    );
    println!(
        "  size_of ParkedConnection  {:6} bytes",
        std::mem::size_of::<ParkedConnection>()
    );
    println!(
        "  size_of ParkedLink        {:6} bytes",
        std::mem::size_of::<ParkedLink>()
    );
    println!(
        "  size_of ParkedServerSession {:4} bytes (target 2,048)",
        std::mem::size_of::<ParkedServerSession>()
    );
    let (client, server, users) = configs();
    for n in [1_000u32, 10_000, 100_000] {
        let mut pool = pool();
        let before = rss_bytes();
        SERVER_TIME.with(|t| t.set(Duration::ZERO));
        let mut held: Vec<ParkedServerSession> = Vec::with_capacity(n as usize);
        for i in 0..n {
            let session = establish(
                i.wrapping_mul(2_654_435_761),
                &users,
                &mut pool,
                &client,
                &server,
            );
            held.push(session.park());
        }
        let server_time = SERVER_TIME.with(Cell::get);
        let after = rss_bytes();
        match (before, after) {
            (Some(b), Some(a)) => println!(
                "  N = {n:6} parked: RSS +{} KiB = {} bytes/session; server side {:.1} us/session with parking",
                a.saturating_sub(b) / 1024,
                a.saturating_sub(b) / u64::from(n),
                server_time.as_secs_f64() * 1e6 / f64::from(n),
            ),
            _ => println!("  N = {n:6} parked: RSS unavailable (no /proc)"),
        }
        // Every parked session still carries traffic: one packet each way
        // through a sample of them (the rest are alike).
        for s in held.iter_mut().step_by(97) {
            let mut out = [0u8; 1600];
            let ip = [0x45u8; 60];
            let n = s.link.send_ip(PNOW, &ip, &mut out).expect("parked send");
            let mut datagram = [0u8; 1700];
            let len = s
                .gre
                .encapsulate(NOW, &out[..n], &mut datagram)
                .expect("window");
            black_box((&datagram[..len], s.conn.local_call_id()));
        }
        black_box(&held);
        drop(held);
    }
    println!("full (the same sessions, not parked):");
    for n in [1_000u32, 10_000, 100_000] {
        let mut pool = pool();
        let before = rss_bytes();
        SERVER_TIME.with(|t| t.set(Duration::ZERO));
        let start = WallClock::now();
        let mut held = Vec::with_capacity(n as usize);
        for i in 0..n {
            held.push(establish(
                i.wrapping_mul(2_654_435_761),
                &users,
                &mut pool,
                &client,
                &server,
            ));
        }
        let elapsed = start.elapsed();
        let server_time = SERVER_TIME.with(Cell::get);
        let after = rss_bytes();
        let rate = f64::from(n) / elapsed.as_secs_f64();
        println!(
            "  N = {n:6}: server side alone {:.1} us/session = {:.0} sessions/s per core",
            server_time.as_secs_f64() * 1e6 / f64::from(n),
            f64::from(n) / server_time.as_secs_f64()
        );
        match (before, after) {
            (Some(b), Some(a)) => println!(
                "  N = {n:6}: established in {:.3} s ({rate:.0} sessions/s, one thread); RSS +{} KiB = {} bytes/session",
                elapsed.as_secs_f64(),
                a.saturating_sub(b) / 1024,
                a.saturating_sub(b) / u64::from(n)
            ),
            _ => println!("  N = {n:6}: {rate:.0} sessions/s; RSS unavailable (no /proc)"),
        }
        black_box(&held);
        drop(held);
    }
}

/// Host randomness for the endpoint bench (deterministic; the bench
/// measures work, not entropy).
struct BenchRandom(u64);

impl pptp_core::endpoint::Random for BenchRandom {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

type BenchMemory = (
    Vec<pptp_core::endpoint::Slot>,
    Vec<pptp_core::endpoint::ControlEngine>,
    Vec<pptp_core::endpoint::LinkEngine>,
);

fn bench_memory(slots: usize, engines: usize) -> BenchMemory {
    (
        (0..slots)
            .map(|_| pptp_core::endpoint::Slot::new())
            .collect(),
        (0..engines)
            .map(|_| pptp_core::endpoint::ControlEngine::new())
            .collect(),
        (0..engines)
            .map(|_| pptp_core::endpoint::LinkEngine::new())
            .collect(),
    )
}

/// `n` sessions set up through one `Endpoint::server` (parking on, as
/// pptp-server runs it), each against its own `Endpoint::client` from its
/// own address, one at a time; returns the wall time spent in the
/// server's calls.
fn endpoint_setups(n: u32) -> Duration {
    use pptp_core::endpoint::{ClientConfig, Destination, Endpoint, Event, ServerConfig};
    let (client_link, server_link, users) = configs();
    let mut config = ServerConfig::new(
        server_link,
        Ipv4Addr::new(10, 1, 0, 1),
        Ipv4Addr::new(10, 1, 255, 254),
    );
    config.reserved_engines = 1;
    let mut server = Endpoint::server(
        config,
        bench_memory(n as usize + 8, 16),
        BenchRandom(1),
        Some(users),
    )
    .expect("server");
    let server_addr = Ipv4Addr::new(192, 0, 2, 1);
    let mut spent = Duration::ZERO;
    let mut timed_server = |f: &mut dyn FnMut()| {
        let start = WallClock::now();
        f();
        spent += start.elapsed();
    };
    let mut buf = vec![0u8; 4096];
    for i in 0..n {
        let peer = Ipv4Addr::from(0x0a80_0000 + i);
        let mut client = Endpoint::client(
            ClientConfig::new(client_link.clone()),
            bench_memory(1, 1),
            BenchRandom(u64::from(i) + 7),
        )
        .expect("client");
        let mut s_conn = None;
        timed_server(&mut || s_conn = server.accept(NOW, peer).ok());
        let s_conn = s_conn.expect("accepted");
        let c_conn = client.connect(NOW, server_addr).expect("connect");
        let (mut up_s, mut up_c) = (false, false);
        for _ in 0..200 {
            let mut moved = false;
            while let Some(t) = client.poll_transmit(NOW, &mut buf) {
                moved = true;
                let bytes = buf[..t.len].to_vec();
                timed_server(&mut || match t.to {
                    Destination::Tcp(_) => {
                        let _ = server.handle_tcp(NOW, s_conn, &bytes);
                    }
                    Destination::Gre(_) => {
                        let mut d = bytes.clone();
                        let _ = server.handle_gre(NOW, peer, &mut d);
                    }
                    Destination::Ip(_) => {}
                });
            }
            let mut out = Vec::new();
            timed_server(&mut || {
                while let Some(t) = server.poll_transmit(NOW, &mut buf) {
                    out.push((t.to, buf[..t.len].to_vec()));
                }
                while let Some(e) = server.poll_event() {
                    up_s |= matches!(e, Event::SessionUp { .. });
                }
            });
            for (to, mut bytes) in out {
                moved = true;
                match to {
                    Destination::Tcp(_) => {
                        let _ = client.handle_tcp(NOW, c_conn, &bytes);
                    }
                    Destination::Gre(_) => {
                        let _ = client.handle_gre(NOW, server_addr, &mut bytes);
                    }
                    Destination::Ip(_) => {}
                }
            }
            while let Some(e) = client.poll_event() {
                up_c |= matches!(e, Event::SessionUp { .. });
            }
            if up_s && up_c && !moved {
                break;
            }
        }
        assert!(up_s && up_c, "endpoint session {i} not established");
    }
    assert_eq!(server.active_sessions(), n as usize);
    spent
}

/// Set-ups per second per core of the server side, by hand-wired machines
/// and through the endpoint, measured side by side in this run.
fn endpoint_report() {
    println!(
        "endpoint: size_of Slot {} bytes (a parked session), ControlEngine {} bytes, LinkEngine {} bytes",
        std::mem::size_of::<pptp_core::endpoint::Slot>(),
        std::mem::size_of::<pptp_core::endpoint::ControlEngine>(),
        std::mem::size_of::<pptp_core::endpoint::LinkEngine>()
    );
    let (client, server, users) = configs();
    for n in [1_000u32, 10_000] {
        let mut pool = pool();
        SERVER_TIME.with(|t| t.set(Duration::ZERO));
        let mut held = Vec::with_capacity(n as usize);
        for i in 0..n {
            let s = establish(
                i.wrapping_mul(2_654_435_761),
                &users,
                &mut pool,
                &client,
                &server,
            );
            held.push(s.park());
        }
        let hand = SERVER_TIME.with(Cell::get);
        black_box(&held);
        drop(held);
        let endpoint = endpoint_setups(n);
        let per = |d: Duration| d.as_secs_f64() * 1e6 / f64::from(n);
        println!(
            "  N = {n:6}: server side {:.1} us/session hand-wired (+park) = {:.0}/s per core; \
             {:.1} us/session through the endpoint = {:.0}/s per core; endpoint/hand-wired rate {:.2}",
            per(hand),
            f64::from(n) / hand.as_secs_f64(),
            per(endpoint),
            f64::from(n) / endpoint.as_secs_f64(),
            hand.as_secs_f64() / endpoint.as_secs_f64()
        );
    }
}

fn main() {
    memory_report();
    endpoint_report();
    let (client, server, users) = configs();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut seed = 0u32;
    let mut pool = pool();
    criterion.bench_function("session_setup/mschapv2_mppe128_through_ipcp_ccp", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(0x9e37_79b9);
            let s = establish(seed, &users, &mut pool, &client, &server);
            if let Some(a) = s.link.ipcp_negotiated().peer_address {
                let _ = pool.release(a);
            }
            black_box(s)
        })
    });
    criterion.final_summary();
}
