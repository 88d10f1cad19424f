//! One test driver for the endpoint (quinn's `Pair`): a server and a
//! client [`Endpoint`] joined by an in-memory network with simulated time,
//! in-order TCP, and GRE with optional loss, reordering and duplication.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::{Credentials, LinkConfig, MppePolicy, PixEncryption};
use pptp_core::endpoint::{
    ClientConfig, ConnectionHandle, ControlEngine, Destination, Endpoint, Event, ExternalAaa,
    LinkEngine, Outbound, Random, ServerConfig, SessionHandle, Slot, TcpInput,
};
use pptp_core::time::Instant;

pub const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
pub const TUNNEL_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
pub const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 20));
pub const USER: &[u8] = b"alice";
pub const PASSWORD: &[u8] = b"clientPass";

/// Deterministic randomness (splitmix64).
#[derive(Clone)]
pub struct TestRandom(pub u64);

impl TestRandom {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

impl Random for TestRandom {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            let r = self.next().to_le_bytes();
            chunk.copy_from_slice(&r[..chunk.len()]);
        }
    }
}

pub type Mem = (Vec<Slot>, Vec<ControlEngine>, Vec<LinkEngine>);
pub type Server = Endpoint<Mem, TestRandom, CredentialStore<8>>;
pub type Client = Endpoint<Mem, TestRandom, ExternalAaa>;

pub fn memory(slots: usize, controls: usize, links: usize) -> Mem {
    (
        (0..slots).map(|_| Slot::new()).collect(),
        (0..controls).map(|_| ControlEngine::new()).collect(),
        (0..links).map(|_| LinkEngine::new()).collect(),
    )
}

/// A server requiring MPPE-128 with MS-CHAPv2 (the PIX's `vpdn group 1
/// ppp encryption mppe 128 required`).
pub fn server_config() -> ServerConfig {
    let mut link = LinkConfig::server(TUNNEL_LOCAL, [None, None]);
    link.mppe = MppePolicy::pix(PixEncryption::Bits128, true);
    ServerConfig::new(link, POOL.0, POOL.1)
}

pub fn users() -> CredentialStore<8> {
    let mut store = CredentialStore::new(DomainRule::default());
    store.insert_password(USER, PASSWORD).unwrap();
    store
}

pub fn client_config(password: &[u8]) -> ClientConfig {
    ClientConfig::new(LinkConfig::client(
        Credentials::password(USER, password).unwrap(),
    ))
}

/// A datagram or stream chunk in flight.
#[derive(Clone, Debug)]
enum Packet {
    Tcp(Vec<u8>),
    Gre(Vec<u8>),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    Server = 0,
    Client = 1,
}

/// The two endpoints and the wire between them.
pub struct Pair {
    pub server: Server,
    pub client: Client,
    pub now: u64,
    pub latency: u64,
    pub server_conn: Option<ConnectionHandle>,
    pub client_conn: Option<ConnectionHandle>,
    /// (deliver at, to, packet)
    wire: VecDeque<(u64, Side, Packet)>,
    /// TCP bytes a side has not taken yet (back-pressure).
    pending_tcp: [Vec<u8>; 2],
    pub server_events: Vec<Event>,
    pub client_events: Vec<Event>,
    /// IP packets the server's / client's host received from the tunnel.
    pub server_ip: Vec<(SessionHandle, Vec<u8>)>,
    pub client_ip: Vec<Vec<u8>>,
    /// Every GRE datagram each side sent (for differential tests).
    pub server_gre_log: Vec<Vec<u8>>,
    pub client_gre_log: Vec<Vec<u8>>,
    /// When each of those was sent (simulated ms).
    pub server_gre_at: Vec<u64>,
    pub client_gre_at: Vec<u64>,
    pub server_tcp_log: Vec<u8>,
    pub client_tcp_log: Vec<u8>,
    /// GRE loss in percent and its randomness.
    pub loss_percent: u64,
    pub net_random: TestRandom,
    pub closed: [bool; 2],
    /// Deliver GRE due at the same time as TCP before it (a host that
    /// reads its GRE socket first).
    pub gre_before_tcp: bool,
    /// What `send_ip` gave each side's host for its own TUN device (ICMP
    /// errors), by [`Side`].
    pub tun_replies: [Vec<Vec<u8>>; 2],
}

impl Pair {
    pub fn new(server: Server, client: Client) -> Self {
        Pair {
            server,
            client,
            now: 0,
            latency: 5,
            server_conn: None,
            client_conn: None,
            wire: VecDeque::new(),
            pending_tcp: [Vec::new(), Vec::new()],
            server_events: Vec::new(),
            client_events: Vec::new(),
            server_ip: Vec::new(),
            client_ip: Vec::new(),
            server_gre_log: Vec::new(),
            client_gre_log: Vec::new(),
            server_gre_at: Vec::new(),
            client_gre_at: Vec::new(),
            server_tcp_log: Vec::new(),
            client_tcp_log: Vec::new(),
            loss_percent: 0,
            net_random: TestRandom(99),
            closed: [false; 2],
            gre_before_tcp: false,
            tun_replies: [Vec::new(), Vec::new()],
        }
    }

    /// The default pair: MS-CHAPv2, MPPE-128 required, 8 slots.
    pub fn default_pair() -> Self {
        let server = Endpoint::server(
            server_config(),
            memory(8, 2, 2),
            TestRandom(1),
            Some(users()),
        )
        .unwrap();
        let client =
            Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(2)).unwrap();
        Pair::new(server, client)
    }

    pub fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// The TCP connection opens: both ends learn of it.
    pub fn connect(&mut self) {
        let now = self.instant();
        self.server_conn = Some(self.server.accept(now, CLIENT_ADDR).unwrap());
        self.client_conn = Some(self.client.connect(now, SERVER_ADDR).unwrap());
    }

    fn send(&mut self, from: Side, packet: Packet) {
        let to = match from {
            Side::Server => Side::Client,
            Side::Client => Side::Server,
        };
        if let Packet::Gre(ref d) = packet {
            match from {
                Side::Server => {
                    self.server_gre_log.push(d.clone());
                    self.server_gre_at.push(self.now);
                }
                Side::Client => {
                    self.client_gre_log.push(d.clone());
                    self.client_gre_at.push(self.now);
                }
            }
            if self.loss_percent > 0 && self.net_random.next() % 100 < self.loss_percent {
                return;
            }
        }
        if let Packet::Tcp(ref b) = packet {
            match from {
                Side::Server => self.server_tcp_log.extend_from_slice(b),
                Side::Client => self.client_tcp_log.extend_from_slice(b),
            }
        }
        self.wire.push_back((self.now + self.latency, to, packet));
    }

    /// Polls both endpoints' output onto the wire and their events.
    pub fn flush(&mut self) -> bool {
        let now = self.instant();
        let mut buf = vec![0u8; 4096];
        let mut progress = false;
        while let Some(t) = self.server.poll_transmit(now, &mut buf) {
            progress = true;
            let bytes = buf[..t.len].to_vec();
            match t.to {
                Destination::Tcp(_) => self.send(Side::Server, Packet::Tcp(bytes)),
                Destination::Gre(addr) => {
                    assert_eq!(addr, CLIENT_ADDR);
                    self.send(Side::Server, Packet::Gre(bytes))
                }
                Destination::Ip(s) => self.server_ip.push((s, bytes)),
            }
        }
        while let Some(t) = self.client.poll_transmit(now, &mut buf) {
            progress = true;
            let bytes = buf[..t.len].to_vec();
            match t.to {
                Destination::Tcp(_) => self.send(Side::Client, Packet::Tcp(bytes)),
                Destination::Gre(addr) => {
                    assert_eq!(addr, SERVER_ADDR);
                    self.send(Side::Client, Packet::Gre(bytes))
                }
                Destination::Ip(_) => self.client_ip.push(bytes),
            }
        }
        while let Some(e) = self.server.poll_event() {
            progress = true;
            if let Event::ConnectionClosed { .. } = e {
                self.closed[0] = true;
            }
            self.server_events.push(e);
        }
        while let Some(e) = self.client.poll_event() {
            progress = true;
            if let Event::ConnectionClosed { .. } = e {
                self.closed[1] = true;
            }
            self.client_events.push(e);
        }
        progress
    }

    fn deliver(&mut self, to: Side, packet: Packet) {
        let now = self.instant();
        match packet {
            Packet::Tcp(bytes) => {
                let idx = (to == Side::Client) as usize;
                self.pending_tcp[idx].extend_from_slice(&bytes);
                self.feed_tcp(to);
            }
            Packet::Gre(mut d) => match to {
                Side::Server => {
                    if let Ok(Some(p)) = self.server.handle_gre(now, CLIENT_ADDR, &mut d) {
                        self.server_ip.push((p.session, d[p.range].to_vec()));
                    }
                }
                Side::Client => {
                    if let Ok(Some(p)) = self.client.handle_gre(now, SERVER_ADDR, &mut d) {
                        self.client_ip.push(d[p.range].to_vec());
                    }
                }
            },
        }
    }

    fn feed_tcp(&mut self, to: Side) {
        let now = self.instant();
        let idx = (to == Side::Client) as usize;
        if self.pending_tcp[idx].is_empty() || self.closed[idx] {
            return;
        }
        let bytes = std::mem::take(&mut self.pending_tcp[idx]);
        let result = match to {
            Side::Server => self
                .server
                .handle_tcp(now, self.server_conn.unwrap(), &bytes),
            Side::Client => self
                .client
                .handle_tcp(now, self.client_conn.unwrap(), &bytes),
        };
        if let TcpInput::Blocked { consumed } = result {
            self.pending_tcp[idx] = bytes[consumed..].to_vec();
        }
    }

    /// One step: output onto the wire, then the next delivery or timer.
    /// `false` when nothing is left before `until`.
    pub fn step(&mut self, until: u64) -> bool {
        self.flush();
        self.feed_tcp(Side::Server);
        self.feed_tcp(Side::Client);
        let timer = [self.server.poll_timeout(), self.client.poll_timeout()]
            .into_iter()
            .flatten()
            .map(|t| t.as_millis())
            .min();
        let wire = self.wire.iter().map(|(at, _, _)| *at).min();
        let next = [timer, wire].into_iter().flatten().min();
        let Some(next) = next.filter(|&n| n <= until) else {
            return false;
        };
        self.now = self.now.max(next);
        let now = self.instant();
        // Deliver everything due, in order (GRE first if asked).
        while let Some(pos) = self
            .wire
            .iter()
            .position(|(at, _, p)| {
                *at <= self.now && (!self.gre_before_tcp || matches!(p, Packet::Gre(_)))
            })
            .or_else(|| self.wire.iter().position(|(at, _, _)| *at <= self.now))
        {
            let (_, to, packet) = self.wire.remove(pos).unwrap();
            self.deliver(to, packet);
        }
        self.server.handle_timeout(now);
        self.client.handle_timeout(now);
        true
    }

    /// Runs until `until` ms or until nothing is left to do.
    pub fn drive_until(&mut self, until: u64) {
        let mut guard = 0;
        while self.step(until) {
            guard += 1;
            assert!(guard < 1_000_000, "the pair does not settle");
        }
        self.flush();
        if self.now < until {
            self.now = until;
        }
    }

    /// Runs for `ms` milliseconds of simulated time.
    pub fn drive_for(&mut self, ms: u64) {
        let until = self.now + ms;
        self.drive_until(until);
    }

    pub fn session_up(&self, side: Side) -> Option<Event> {
        let events = match side {
            Side::Server => &self.server_events,
            Side::Client => &self.client_events,
        };
        events
            .iter()
            .find(|e| matches!(e, Event::SessionUp { .. }))
            .cloned()
    }

    /// An IPv4 packet of `len` octets from `src` to `dst` with a valid
    /// header checksum.
    pub fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize, seed: u8) -> Vec<u8> {
        let mut p = vec![0u8; len];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&src.octets());
        p[16..20].copy_from_slice(&dst.octets());
        for (i, b) in p.iter_mut().enumerate().skip(20) {
            *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
        }
        let mut sum = 0u32;
        for c in p[..20].chunks(2) {
            sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
        p
    }

    /// The server's host sends `packet` into the tunnel, as a host loop
    /// does: `send_ip` until `Ok(None)`, GRE onto the wire, ICMP errors
    /// into [`Pair::server_tun_replies`]. `false` if nothing went out.
    pub fn server_send_ip(&mut self, packet: &[u8]) -> bool {
        self.send_ip(Side::Server, packet)
    }

    /// The client's host sends `packet` into the tunnel.
    pub fn client_send_ip(&mut self, packet: &[u8]) -> bool {
        self.send_ip(Side::Client, packet)
    }

    fn send_ip(&mut self, from: Side, packet: &[u8]) -> bool {
        let now = self.instant();
        let mut out = vec![0u8; 4096];
        let mut outbound = Outbound::new(packet);
        let mut sent = false;
        loop {
            let t = match from {
                Side::Server => self.server.send_ip(now, &mut outbound, &mut out),
                Side::Client => self.client.send_ip(now, &mut outbound, &mut out),
            };
            match t {
                Ok(Some(t)) => {
                    sent = true;
                    let bytes = out[..t.len].to_vec();
                    match t.to {
                        Destination::Gre(_) => self.send(from, Packet::Gre(bytes)),
                        Destination::Ip(_) => self.tun_replies[from as usize].push(bytes),
                        Destination::Tcp(_) => panic!("send_ip wrote for TCP"),
                    }
                }
                Ok(None) => return sent,
                Err(_) => return false,
            }
        }
    }
}
