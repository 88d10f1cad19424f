//! The endpoint in both roles under hostile input. A server and a client
//! `Endpoint` are joined by an in-memory wire; between honest steps the
//! input injects bytes into either side's TCP stream (on the honest
//! connection or on extra attacker connections), GRE datagrams (raw,
//! mutated copies of real ones, from the right or a wrong address), IP
//! packets from the hosts, clock steps, small output buffers and host
//! commands.
//!
//! Invariants after every step:
//! - no panic, no unbounded loop;
//! - `poll_transmit` never reports more octets than the buffer holds;
//! - `handle_tcp` never reports more octets taken than it was given;
//! - an IP packet delivered in place lies inside the datagram;
//! - sessions counted never exceed the slots.
#![no_main]

use std::net::Ipv4Addr;

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::{Credentials, LinkConfig, MppePolicy, PixEncryption};
use pptp_core::endpoint::{
    ClientConfig, ConnectionHandle, ControlEngine, Destination, Endpoint, ExternalAaa, LinkEngine,
    Outbound, Random, ServerConfig, Slot, TcpInput,
};
use pptp_core::time::Instant;

const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const SLOTS: usize = 4;

struct Rng(u64);
impl Random for Rng {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

type Mem = (Vec<Slot>, Vec<ControlEngine>, Vec<LinkEngine>);
fn memory(slots: usize, engines: usize) -> Mem {
    (
        (0..slots).map(|_| Slot::new()).collect(),
        (0..engines).map(|_| ControlEngine::new()).collect(),
        (0..engines).map(|_| LinkEngine::new()).collect(),
    )
}

#[derive(Arbitrary, Debug)]
enum Step {
    /// Honest traffic flows for this many rounds.
    Pump(u8),
    /// The clock moves on (×100 ms) and both run their timers.
    Tick(u8),
    /// Bytes into the server (true) or client TCP stream; `conn` picks the
    /// honest connection (0) or an attacker's.
    Tcp {
        to_server: bool,
        conn: u8,
        bytes: Vec<u8>,
    },
    /// A GRE datagram to the server or client, from the right peer or not.
    Gre {
        to_server: bool,
        right_peer: bool,
        bytes: Vec<u8>,
    },
    /// A real datagram seen on the wire, with one octet changed.
    Mutate { index: u16, at: u16, value: u8 },
    /// An IP packet from the server's or the client's host.
    Ip { from_server: bool, bytes: Vec<u8> },
    /// The next polls use a buffer of this many octets.
    Buffer(u16),
    /// A host command.
    Command(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    mppe_required: bool,
    parking: bool,
    steps: Vec<Step>,
}

struct World {
    server: Endpoint<Mem, Rng, CredentialStore<2>>,
    client: Endpoint<Mem, Rng, ExternalAaa>,
    now: u64,
    server_conns: Vec<ConnectionHandle>,
    client_conn: ConnectionHandle,
    to_server: Vec<u8>,
    to_client: Vec<u8>,
    gre_to_server: Vec<Vec<u8>>,
    gre_to_client: Vec<Vec<u8>>,
    seen: Vec<Vec<u8>>,
    buf_len: usize,
}

impl World {
    fn poll(&mut self) {
        let now = Instant::from_millis(self.now);
        let mut buf = vec![0u8; self.buf_len];
        let mut guard = 0;
        while let Some(t) = self.server.poll_transmit(now, &mut buf) {
            assert!(t.len <= buf.len());
            guard += 1;
            assert!(guard < 10_000, "server output does not end");
            match t.to {
                Destination::Tcp(c) if Some(&c) == self.server_conns.first() => {
                    self.to_client.extend_from_slice(&buf[..t.len])
                }
                Destination::Gre(_) => self.gre_to_client.push(buf[..t.len].to_vec()),
                _ => {}
            }
        }
        while let Some(t) = self.client.poll_transmit(now, &mut buf) {
            assert!(t.len <= buf.len());
            guard += 1;
            assert!(guard < 20_000, "client output does not end");
            match t.to {
                Destination::Tcp(_) => self.to_server.extend_from_slice(&buf[..t.len]),
                Destination::Gre(_) => self.gre_to_server.push(buf[..t.len].to_vec()),
                _ => {}
            }
        }
        while self.server.poll_event().is_some() {}
        while self.client.poll_event().is_some() {}
        assert!(self.server.active_sessions() <= SLOTS);
    }

    fn tcp(&mut self, to_server: bool, conn: ConnectionHandle, bytes: &[u8]) -> usize {
        let now = Instant::from_millis(self.now);
        let r = if to_server {
            self.server.handle_tcp(now, conn, bytes)
        } else {
            self.client.handle_tcp(now, conn, bytes)
        };
        match r {
            TcpInput::Blocked { consumed } => {
                assert!(consumed <= bytes.len());
                consumed
            }
            _ => bytes.len(),
        }
    }

    fn gre(&mut self, to_server: bool, from: Ipv4Addr, d: &mut [u8]) {
        let now = Instant::from_millis(self.now);
        let len = d.len();
        let r = if to_server {
            self.server.handle_gre(now, from, d)
        } else {
            self.client.handle_gre(now, from, d)
        };
        if let Ok(Some(p)) = r {
            assert!(p.range.start <= p.range.end && p.range.end <= len);
        }
    }

    fn pump(&mut self) {
        self.poll();
        let to_server = std::mem::take(&mut self.to_server);
        if let Some(&c) = self.server_conns.first() {
            let n = self.tcp(true, c, &to_server);
            self.to_server = to_server[n..].to_vec();
        }
        let to_client = std::mem::take(&mut self.to_client);
        let n = self.tcp(false, self.client_conn, &to_client);
        self.to_client = to_client[n..].to_vec();
        for mut d in std::mem::take(&mut self.gre_to_server) {
            if self.seen.len() < 64 {
                self.seen.push(d.clone());
            }
            self.gre(true, CLIENT, &mut d);
        }
        for mut d in std::mem::take(&mut self.gre_to_client) {
            if self.seen.len() < 64 {
                self.seen.push(d.clone());
            }
            self.gre(false, SERVER, &mut d);
        }
        self.poll();
    }
}

fuzz_target!(|input: Input| {
    let mut link = LinkConfig::server(Ipv4Addr::new(192, 0, 2, 1), [None, None]);
    if input.mppe_required {
        link.mppe = MppePolicy::pix(PixEncryption::Bits128, true);
    }
    let mut config = ServerConfig::new(
        link,
        Ipv4Addr::new(192, 0, 2, 10),
        Ipv4Addr::new(192, 0, 2, 12),
    );
    if !input.parking {
        config.parking = None;
    }
    let mut users = CredentialStore::new(DomainRule::default());
    let _ = users.insert_password(b"alice", b"clientPass");
    let Ok(server) = Endpoint::server(config, memory(SLOTS, 2), Rng(1), Some(users)) else {
        return;
    };
    let Ok(credentials) = Credentials::password(b"alice", b"clientPass") else {
        return;
    };
    let Ok(client) = Endpoint::client(
        ClientConfig::new(LinkConfig::client(credentials)),
        memory(1, 1),
        Rng(2),
    ) else {
        return;
    };
    let mut w = World {
        server,
        client,
        now: 0,
        server_conns: Vec::new(),
        client_conn: ConnectionHandle(0),
        to_server: Vec::new(),
        to_client: Vec::new(),
        gre_to_server: Vec::new(),
        gre_to_client: Vec::new(),
        seen: Vec::new(),
        buf_len: 4096,
    };
    let now = Instant::ZERO;
    if let Ok(c) = w.server.accept(now, CLIENT) {
        w.server_conns.push(c);
    }
    match w.client.connect(now, SERVER) {
        Ok(c) => w.client_conn = c,
        Err(_) => return,
    }
    for step in input.steps.into_iter().take(256) {
        match step {
            Step::Pump(n) => {
                for _ in 0..(n % 16) {
                    w.pump();
                }
            }
            Step::Tick(t) => {
                w.now += u64::from(t) * 100;
                let now = Instant::from_millis(w.now);
                w.server.handle_timeout(now);
                w.client.handle_timeout(now);
            }
            Step::Tcp {
                to_server,
                conn,
                bytes,
            } => {
                if to_server {
                    let c = match conn % 3 {
                        0 => w.server_conns.first().copied(),
                        _ => match w.server.accept(
                            Instant::from_millis(w.now),
                            Ipv4Addr::new(198, 51, 100, conn),
                        ) {
                            Ok(c) => {
                                w.server_conns.push(c);
                                Some(c)
                            }
                            Err(_) => w.server_conns.last().copied(),
                        },
                    };
                    if let Some(c) = c {
                        w.tcp(true, c, &bytes);
                    }
                } else {
                    let c = w.client_conn;
                    w.tcp(false, c, &bytes);
                }
            }
            Step::Gre {
                to_server,
                right_peer,
                mut bytes,
            } => {
                let from = match (to_server, right_peer) {
                    (true, true) => CLIENT,
                    (false, true) => SERVER,
                    _ => Ipv4Addr::new(192, 0, 2, 99),
                };
                w.gre(to_server, from, &mut bytes);
            }
            Step::Mutate { index, at, value } => {
                if w.seen.is_empty() {
                    continue;
                }
                let mut d = w.seen[usize::from(index) % w.seen.len()].clone();
                if !d.is_empty() {
                    let i = usize::from(at) % d.len();
                    d[i] ^= value;
                }
                let to_server = index % 2 == 0;
                let from = if to_server { CLIENT } else { SERVER };
                w.gre(to_server, from, &mut d);
            }
            Step::Ip { from_server, bytes } => {
                let now = Instant::from_millis(w.now);
                let mut out = vec![0u8; bytes.len() + 64];
                let mut outbound = Outbound::new(&bytes);
                // Each call sends at least 8 octets of the packet, so a
                // packet ends within its length / 8 calls (plus ICMP).
                for _ in 0..=bytes.len() / 8 + 1 {
                    let r = if from_server {
                        w.server.send_ip(now, &mut outbound, &mut out)
                    } else {
                        w.client.send_ip(now, &mut outbound, &mut out)
                    };
                    let Ok(Some(t)) = r else { break };
                    assert!(t.len <= out.len());
                    match (t.to, from_server) {
                        (Destination::Gre(_), true) => w.gre_to_client.push(out[..t.len].to_vec()),
                        (Destination::Gre(_), false) => w.gre_to_server.push(out[..t.len].to_vec()),
                        (Destination::Ip(_), _) => {}
                        (Destination::Tcp(_), _) => panic!("send_ip wrote for TCP"),
                    }
                }
                assert!(outbound.is_done(), "a packet did not end");
            }
            Step::Buffer(n) => w.buf_len = usize::from(n).max(1),
            Step::Command(c) => {
                let now = Instant::from_millis(w.now);
                match c % 5 {
                    0 => w.server.close_all(now),
                    1 => {
                        let first = w.server.sessions().next().map(|v| v.session);
                        if let Some(s) = first {
                            w.server.close_session(now, s);
                        }
                    }
                    2 => {
                        let first = w.client.sessions().next().map(|v| v.session);
                        if let Some(s) = first {
                            w.client.close_session(now, s);
                        }
                    }
                    3 => {
                        if let Some(c) = w.server_conns.pop() {
                            w.server.handle_tcp_closed(now, c);
                        }
                    }
                    _ => {
                        let _ = w.server.sessions().count();
                        let _ = w.server.poll_timeout();
                    }
                }
            }
        }
        w.poll();
    }
});
