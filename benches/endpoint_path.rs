//! The whole per-packet data path of the endpoint (issue #15 item 4): a
//! server and a client [`Endpoint`] established in memory (MS-CHAPv2,
//! then MPPE-128 stateless, MPPE-128 stateful or no MPPE), and per
//! iteration what a host does with one IP packet each way:
//!
//! TUN packet in -> `send_ip` -> GRE datagram -> `handle_gre` on the other
//! side -> IP packet out (plus the `poll_transmit` a host calls after each
//! input, whose GRE acknowledgements go back to the sender), first client
//! to server, then the same size back from server to client.
//!
//! Printed beside it: the bare MPPE cipher (`mppe::Encrypter` +
//! `Decrypter`, header included) on the same bytes, and the ratio of the
//! two, so the cost of everything around the cipher (GRE, PPP framing,
//! routing, counters, the endpoint's bookkeeping) shows on its own.
//!
//! Run: `cargo bench -p benches --bench endpoint_path` (criterion groups,
//! then the summary). `-- --ceiling` prints only the summary's
//! machine-readable `CEILING` lines (a few seconds): `scripts/throughput.sh`
//! takes the in-process MPPE cipher rate from them.

use std::hint::black_box;
use std::net::Ipv4Addr;
use std::time::Duration;

use benches::{mbps, time_per_call};
use criterion::{BenchmarkId, Criterion, Throughput};
use mppe::{
    Config as CipherConfig, Decrypter, Encrypter, KeyStrength, Mode, ModePreference, StartKey,
    HEADER_LEN,
};
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::{Credentials, LinkConfig, MppePolicy, PixEncryption};
use pptp_core::endpoint::{
    ClientConfig, ConnectionHandle, ControlEngine, Destination, Endpoint, Event, ExternalAaa,
    LinkEngine, Outbound, Random, ServerConfig, Slot,
};
use pptp_core::time::Instant;

const SIZES: [usize; 3] = [64, 576, 1400];
const SERVER_ADDR: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const CLIENT_ADDR: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
const TUNNEL_LOCAL: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const POOL: (Ipv4Addr, Ipv4Addr) = (Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 20));
const USER: &[u8] = b"bench";
const PASSWORD: &[u8] = b"benchPass";
/// When the TCP connection opens (simulated milliseconds).
const START: Instant = Instant::from_millis(1_000);

/// The three data paths measured.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Encryption {
    None,
    Stateless128,
    Stateful128,
}

impl Encryption {
    const ALL: [Encryption; 3] = [
        Encryption::None,
        Encryption::Stateless128,
        Encryption::Stateful128,
    ];

    fn name(self) -> &'static str {
        match self {
            Encryption::None => "none",
            Encryption::Stateless128 => "mppe128-stateless",
            Encryption::Stateful128 => "mppe128-stateful",
        }
    }

    /// The policy both ends use: both require exactly this, so CCP can
    /// only agree on it.
    fn policy(self) -> MppePolicy {
        let mut p = MppePolicy::pix(PixEncryption::Bits128, true);
        match self {
            Encryption::None => MppePolicy::disabled(),
            Encryption::Stateless128 => p,
            Encryption::Stateful128 => {
                p.mode = ModePreference::StatefulOnly;
                p
            }
        }
    }

    fn cipher(self) -> Option<CipherConfig> {
        match self {
            Encryption::None => None,
            Encryption::Stateless128 => {
                Some(CipherConfig::new(KeyStrength::Bits128, Mode::Stateless))
            }
            Encryption::Stateful128 => {
                Some(CipherConfig::new(KeyStrength::Bits128, Mode::Stateful))
            }
        }
    }
}

/// Deterministic randomness (splitmix64): the bench needs repeatable
/// challenges, not secret ones.
struct BenchRandom(u64);

impl Random for BenchRandom {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for chunk in dest.chunks_mut(8) {
            self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
            let mut z = self.0;
            z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
            z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
            z ^= z >> 31;
            chunk.copy_from_slice(&z.to_le_bytes()[..chunk.len()]);
        }
    }
}

type Memory = (Vec<Slot>, Vec<ControlEngine>, Vec<LinkEngine>);
type Server = Endpoint<Memory, BenchRandom, CredentialStore<1>>;
type Client = Endpoint<Memory, BenchRandom, ExternalAaa>;

/// `slots` slots and `engines` machines of each kind.
fn memory(slots: usize, engines: usize) -> Memory {
    (
        (0..slots).map(|_| Slot::new()).collect(),
        (0..engines).map(|_| ControlEngine::new()).collect(),
        (0..engines).map(|_| LinkEngine::new()).collect(),
    )
}

/// An established session: both endpoints and the addresses IPCP gave.
struct Tunnel {
    server: Server,
    client: Client,
    /// The client's tunnel address (the server routes to it).
    client_ip: Ipv4Addr,
    /// The simulated clock. It moves only while the handshake waits for a
    /// timer; then it stands still while packets flow, so no timer (LCP
    /// echo, GRE acknowledgement delay) fires inside a measurement.
    now: Instant,
    /// Transmit and datagram buffers, reused as a host reuses its own.
    out: Vec<u8>,
    datagram: Vec<u8>,
    /// IP packets delivered on each side, to check the path really ran.
    delivered: [u64; 2],
}

impl Tunnel {
    fn establish(encryption: Encryption) -> Self {
        let mut server_link = LinkConfig::server(TUNNEL_LOCAL, [None, None]);
        server_link.mppe = encryption.policy();
        let mut server_config = ServerConfig::new(server_link, POOL.0, POOL.1);
        // Parking would move the quiet session to the compact form between
        // set-up and the first packet; the full machines are the data path
        // measured here.
        server_config.parking = None;
        let mut users = CredentialStore::new(DomainRule::default());
        users
            .insert_password(USER, PASSWORD)
            .expect("one user fits");
        let server =
            // Two machines of each kind: the server keeps one in reserve
            // (`ServerConfig::reserved_engines`).
            Endpoint::server(server_config, memory(4, 2), BenchRandom(1), Some(users))
                .expect("server");
        let mut client_link =
            LinkConfig::client(Credentials::password(USER, PASSWORD).expect("credentials"));
        client_link.mppe = encryption.policy();
        let client = Endpoint::client(ClientConfig::new(client_link), memory(1, 1), BenchRandom(2))
            .expect("client");
        let mut t = Tunnel {
            server,
            client,
            client_ip: Ipv4Addr::UNSPECIFIED,
            now: START,
            out: vec![0u8; 4096],
            datagram: vec![0u8; 4096],
            delivered: [0; 2],
        };
        t.handshake(encryption);
        t
    }

    /// TCP connect, then both ends' output to the other until both report
    /// `SessionUp`; when neither has anything to send, the clock jumps to
    /// the earlier of their timers (nothing is lost, but the endpoint paces
    /// some steps of the set-up).
    fn handshake(&mut self, encryption: Encryption) {
        let server_conn: ConnectionHandle =
            self.server.accept(self.now, CLIENT_ADDR).expect("accept");
        let client_conn = self.client.connect(self.now, SERVER_ADDR).expect("connect");
        let (mut server_up, mut client_up) = (false, false);
        for _ in 0..10_000 {
            let now = self.now;
            let mut progress = false;
            while let Some(t) = self.client.poll_transmit(now, &mut self.out) {
                progress = true;
                match t.to {
                    Destination::Tcp(_) => {
                        let _ = self.server.handle_tcp(now, server_conn, &self.out[..t.len]);
                    }
                    Destination::Gre(_) => {
                        let _ = self
                            .server
                            .handle_gre(now, CLIENT_ADDR, &mut self.out[..t.len]);
                    }
                    Destination::Ip(_) => {}
                }
            }
            while let Some(t) = self.server.poll_transmit(now, &mut self.out) {
                progress = true;
                match t.to {
                    Destination::Tcp(_) => {
                        let _ = self.client.handle_tcp(now, client_conn, &self.out[..t.len]);
                    }
                    Destination::Gre(_) => {
                        let _ = self
                            .client
                            .handle_gre(now, SERVER_ADDR, &mut self.out[..t.len]);
                    }
                    Destination::Ip(_) => {}
                }
            }
            while let Some(e) = self.server.poll_event() {
                progress = true;
                server_up |= matches!(e, Event::SessionUp { .. });
            }
            while let Some(e) = self.client.poll_event() {
                progress = true;
                if let Event::SessionUp { address, mppe, .. } = e {
                    client_up = true;
                    self.client_ip = address.expect("IPCP gave the client an address");
                    assert_eq!(
                        mppe.map(|m| m.send.mode),
                        encryption.cipher().map(|c| c.mode),
                        "CCP agreed on the encryption asked for"
                    );
                }
            }
            if server_up && client_up {
                return;
            }
            if !progress {
                let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                    .into_iter()
                    .flatten()
                    .min()
                    .expect("the handshake stalled with no timer set");
                self.now = self.now.max(next);
                self.server.handle_timeout(self.now);
                self.client.handle_timeout(self.now);
            }
        }
        panic!("the handshake did not finish");
    }

    /// One packet through the tunnel from `from_client`'s side, as a host
    /// does it: `send_ip` until done, each GRE datagram into the other
    /// side's `handle_gre`, then that side's `poll_transmit` (GRE
    /// acknowledgements back to the sender).
    fn one_way(&mut self, from_client: bool, packet: &[u8]) {
        let now = self.now;
        let mut outbound = Outbound::new(packet);
        loop {
            let sent = if from_client {
                self.client.send_ip(now, &mut outbound, &mut self.out)
            } else {
                self.server.send_ip(now, &mut outbound, &mut self.out)
            };
            let Ok(Some(t)) = sent else { break };
            let Destination::Gre(_) = t.to else { continue };
            self.datagram[..t.len].copy_from_slice(&self.out[..t.len]);
            let datagram = &mut self.datagram[..t.len];
            let got = if from_client {
                self.server.handle_gre(now, CLIENT_ADDR, datagram)
            } else {
                self.client.handle_gre(now, SERVER_ADDR, datagram)
            };
            if let Ok(Some(ip)) = got {
                black_box(&datagram[ip.range]);
                self.delivered[usize::from(from_client)] += 1;
            }
        }
        self.drain(!from_client);
    }

    /// What a host does after an input: `poll_transmit` until empty, GRE
    /// to the peer.
    fn drain(&mut self, client: bool) {
        let now = self.now;
        loop {
            let t = if client {
                self.client.poll_transmit(now, &mut self.out)
            } else {
                self.server.poll_transmit(now, &mut self.out)
            };
            let Some(t) = t else { return };
            if let Destination::Gre(_) = t.to {
                let datagram = &mut self.out[..t.len];
                let _ = if client {
                    self.server.handle_gre(now, CLIENT_ADDR, datagram)
                } else {
                    self.client.handle_gre(now, SERVER_ADDR, datagram)
                };
            }
        }
    }

    /// One packet each way; `up` and `down` are the client's and the
    /// server's packets of the same size.
    fn round_trip(&mut self, up: &[u8], down: &[u8]) {
        self.one_way(true, up);
        self.one_way(false, down);
    }
}

/// An IPv4/UDP packet of `len` octets from `src` to `dst` with a valid
/// header checksum (no DF: the sizes measured fit the link).
fn ip_packet(src: Ipv4Addr, dst: Ipv4Addr, len: usize) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
    p[8] = 64;
    p[9] = 17;
    p[12..16].copy_from_slice(&src.octets());
    p[16..20].copy_from_slice(&dst.octets());
    for (i, b) in p.iter_mut().enumerate().skip(20) {
        *b = (i as u8).wrapping_mul(31);
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

/// The tunnel's two packets of `size` octets.
fn packets(t: &Tunnel, size: usize) -> (Vec<u8>, Vec<u8>) {
    (
        ip_packet(t.client_ip, TUNNEL_LOCAL, size),
        ip_packet(TUNNEL_LOCAL, t.client_ip, size),
    )
}

/// The bare cipher on the same bytes the endpoint encrypts (the PPP
/// protocol field and the IP packet after the MPPE header): one encrypt
/// and one decrypt, in sequence, per call.
struct BareCipher {
    enc: Encrypter,
    dec: Decrypter,
    buf: Vec<u8>,
}

impl BareCipher {
    fn new(config: CipherConfig, size: usize) -> Self {
        let key = StartKey::from_bytes(*b"bench key 16 oct");
        BareCipher {
            enc: Encrypter::new(&key, config).expect("key"),
            dec: Decrypter::new(&key, config).expect("key"),
            buf: vec![0x5a; HEADER_LEN + 2 + size],
        }
    }

    fn run(&mut self) {
        self.enc.encrypt_in_place(&mut self.buf).expect("encrypt");
        black_box(
            self.dec
                .decrypt_in_place(&mut self.buf)
                .expect("in sequence"),
        );
    }
}

fn bench_path(c: &mut Criterion) {
    for encryption in Encryption::ALL {
        let mut group = c.benchmark_group(format!("endpoint_round_trip/{}", encryption.name()));
        for size in SIZES {
            // Two packets of `size` per iteration.
            group.throughput(Throughput::Bytes(2 * size as u64));
            let mut tunnel = Tunnel::establish(encryption);
            let (up, down) = packets(&tunnel, size);
            group.bench_function(BenchmarkId::from_parameter(size), |b| {
                b.iter(|| tunnel.round_trip(&up, &down))
            });
            assert!(tunnel.delivered[0] > 0 && tunnel.delivered[1] > 0);
        }
        group.finish();
    }
}

/// Nanoseconds per packet of the endpoint path and of the bare cipher
/// (`None` without MPPE), and how many packets each side delivered.
fn measure(encryption: Encryption, size: usize, budget: Duration) -> (f64, Option<f64>, [u64; 2]) {
    let mut tunnel = Tunnel::establish(encryption);
    let (up, down) = packets(&tunnel, size);
    let path_ns = time_per_call(budget, || tunnel.round_trip(&up, &down)) / 2.0;
    let cipher_ns = encryption.cipher().map(|config| {
        let mut bare = BareCipher::new(config, size);
        time_per_call(budget, || bare.run())
    });
    (path_ns, cipher_ns, tunnel.delivered)
}

fn gbps(size: usize, ns: f64) -> f64 {
    size as f64 * 8.0 / ns
}

/// The summary: per size and encryption, the endpoint path beside the
/// bare cipher. With `ceiling_only`, just the `CEILING` lines
/// `scripts/throughput.sh` reads.
fn summary(ceiling_only: bool) {
    let budget = Duration::from_millis(if ceiling_only { 140 } else { 400 });
    if !ceiling_only {
        println!();
        println!(
            "== endpoint data path (std::time, best of 7 rounds in {budget:?} per figure; machine is shared) =="
        );
        println!("   per packet: send_ip -> GRE -> handle_gre -> IP out, + poll_transmit; one each way per round trip");
        println!("   bare cipher: MPPE encrypt + decrypt of the same octets (header, protocol, IP packet)");
    }
    for size in SIZES {
        if !ceiling_only {
            println!("-- {size} B IP packets");
        }
        for encryption in Encryption::ALL {
            if ceiling_only && size != 1400 {
                continue;
            }
            let (path_ns, cipher_ns, delivered) = measure(encryption, size, budget);
            // Every iteration must have delivered its packets: a path that
            // dropped them would look fast.
            assert_eq!(
                delivered[0],
                delivered[1],
                "{}: both ways delivered",
                encryption.name()
            );
            assert!(
                delivered[0] > 1000,
                "{}: packets delivered",
                encryption.name()
            );
            if ceiling_only {
                if let Some(c) = cipher_ns {
                    println!(
                        "CEILING cipher {} size={size} ns_per_packet={c:.1} gbps={:.3}",
                        encryption.name(),
                        gbps(size, c)
                    );
                }
                println!(
                    "CEILING endpoint {} size={size} ns_per_packet={path_ns:.1} gbps={:.3}",
                    encryption.name(),
                    gbps(size, path_ns)
                );
                continue;
            }
            let bare = match cipher_ns {
                Some(c) => format!(
                    "| bare cipher {c:8.1} ns {:8.1} MB/s | path/cipher {:5.2}x",
                    mbps(size, c),
                    path_ns / c
                ),
                None => "| no cipher".into(),
            };
            println!(
                "   {:18} path {:8.1} ns/packet {:8.1} MB/s {:6.3} Gb/s {bare}",
                encryption.name(),
                path_ns,
                mbps(size, path_ns),
                gbps(size, path_ns)
            );
        }
    }
}

fn main() {
    if std::env::args().any(|a| a == "--ceiling") {
        summary(true);
        return;
    }
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    bench_path(&mut criterion);
    criterion.final_summary();
    summary(false);
}
