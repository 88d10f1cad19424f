//! In-process session establishment, client and server in one thread with
//! no network in between: PPTP start-up (SCCRQ/SCCRP), the call
//! (OCRQ/OCRP), then over GRE: LCP, MS-CHAPv2 and the MPPE-128 keys.
//!
//! Prints sessions per second and the memory of the per-session server
//! state: `size_of` of each machine and the RSS delta of N established
//! server sessions held in one process (N = 1,000 and 10,000).
//!
//! This version drives ppp-core's `Lcp` and authentication machines and
//! the `mppe` crate directly; IPCP and CCP need ppp-core's `Link` and are
//! not part of the figure yet.

use std::time::{Duration, Instant as WallClock};

use criterion::{black_box, Criterion};
use mppe::keys::{mschapv2_start_keys, Side};
use mppe::session::Mppe;
use mppe::{Config as MppeConfig, Decrypter, Encrypter, KeyStrength, Mode};
use ppp_core::auth::{
    Authenticator, AuthenticatorConfig, CredentialStore, DomainRule, Event as AuthEvent, Method,
    MppeKeyMaterial, Peer, PeerConfig, Secret,
};
use ppp_core::lcp::{AuthMethod, Lcp, LcpConfig, LcpEvent};
use ppp_core::wire::frame::{self, protocol, FieldCompression, Frame};
use pptp_core::control::{CallAccept, CallParams, Config, Connection, Event};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::Role;

/// One end's state. The server's is what a server holds per session.
struct End {
    conn: Connection<1>,
    gre: Option<GreSession>,
    lcp: Lcp,
    authenticator: Option<Authenticator>,
    peer: Option<Peer>,
    key_material: Option<MppeKeyMaterial>,
    mppe: Option<Mppe>,
    done: bool,
    out_tcp: Vec<u8>,
    out_gre: Vec<Vec<u8>>,
}

const NOW: pptp_core::Instant = pptp_core::Instant::ZERO;
const PNOW: ppp_core::time::Instant = ppp_core::time::Instant::ZERO;

impl End {
    fn new(role: Role, seed: u32) -> Self {
        let lcp = match role {
            Role::Server => LcpConfig::default().with_auth_required(&[AuthMethod::MsChapV2]),
            Role::Client => LcpConfig::default().with_auth_allowed(&[AuthMethod::MsChapV2]),
        };
        End {
            conn: Connection::new(role, Config::default(), NOW),
            gre: None,
            lcp: Lcp::new(lcp, seed | 1),
            authenticator: None,
            peer: None,
            key_material: None,
            mppe: None,
            done: false,
            out_tcp: Vec::new(),
            out_gre: Vec::new(),
        }
    }

    fn send_ppp(&mut self, proto: u16, info: &[u8]) {
        let mut f = [0u8; 1600];
        let n = frame::emit(proto, info, FieldCompression::NONE, &mut f).expect("frame");
        let mut d = [0u8; 1700];
        let g = self.gre.as_mut().expect("call up");
        let len = g.encapsulate(NOW, &f[..n], &mut d).expect("window");
        self.out_gre.push(d[..len].to_vec());
    }

    fn pump(&mut self, role: Role, call_id: u16, seed: u32) -> bool {
        let mut progress = false;
        while let Some(ev) = self.conn.poll_event() {
            progress = true;
            match ev {
                Event::TunnelUp(_) if role == Role::Client => {
                    self.conn
                        .place_call(NOW, call_id, &CallParams::default())
                        .expect("call");
                }
                Event::CallRequested(r) => {
                    self.conn
                        .accept_call(NOW, r.peer_call_id, call_id, &CallAccept::default())
                        .expect("accept");
                }
                Event::CallUp(up) => {
                    self.gre = Some(GreSession::new(GreConfig::new(
                        up.local_call_id,
                        up.peer_call_id,
                        up.peer_recv_window,
                    )));
                    self.lcp.up(PNOW);
                    self.lcp.open(PNOW);
                }
                _ => {}
            }
        }
        let mut buf = [0u8; 1600];
        while let Some(t) = self.conn.poll_transmit(NOW, &mut buf) {
            progress = true;
            self.out_tcp.extend_from_slice(&buf[..t.len]);
        }
        while let Some(ev) = self.lcp.poll_event() {
            progress = true;
            if ev == LcpEvent::Up {
                let n = *self.lcp.negotiated();
                let challenge = [seed as u8; 16];
                if n.peer_auth.is_some() {
                    self.authenticator = Some(
                        Authenticator::new(
                            Method::MsChapV2,
                            AuthenticatorConfig::default(),
                            PNOW,
                            1,
                            &challenge,
                        )
                        .expect("auth"),
                    );
                }
                if n.local_auth.is_some() {
                    let secret = Secret::password(b"cisco").expect("secret");
                    self.peer = Some(
                        Peer::new(
                            Method::MsChapV2,
                            PeerConfig::default(),
                            PNOW,
                            b"cisco",
                            secret,
                            1,
                            Some([(seed >> 8) as u8; 16]),
                        )
                        .expect("peer"),
                    );
                }
            }
        }
        while let Some(n) = self.lcp.poll_transmit(&mut buf) {
            progress = true;
            let info = buf[..n].to_vec();
            self.send_ppp(protocol::LCP, &info);
        }
        let mut tx = Vec::new();
        let mut events = Vec::new();
        if let Some(a) = self.authenticator.as_mut() {
            while let Some(t) = a.poll_transmit(PNOW, &mut buf) {
                tx.push((t.protocol, buf[..t.len].to_vec()));
            }
            while let Some(e) = a.poll_event() {
                events.push(e);
            }
        }
        if let Some(p) = self.peer.as_mut() {
            while let Some(t) = p.poll_transmit(PNOW, &mut buf) {
                tx.push((t.protocol, buf[..t.len].to_vec()));
            }
            while let Some(e) = p.poll_event() {
                events.push(e);
            }
        }
        for (proto, info) in tx {
            progress = true;
            self.send_ppp(proto, &info);
        }
        for e in events {
            progress = true;
            if let AuthEvent::Success(s) = e {
                self.key_material = s.key_material;
                self.start_mppe(role);
            }
        }
        progress
    }

    fn start_mppe(&mut self, role: Role) {
        let Some(MppeKeyMaterial::MsChapV2 {
            password_hash_hash,
            nt_response,
        }) = self.key_material.take()
        else {
            panic!("MS-CHAPv2 key material");
        };
        let side = if role == Role::Server {
            Side::Server
        } else {
            Side::Client
        };
        let keys = mschapv2_start_keys(&password_hash_hash, &nt_response, side);
        let config = MppeConfig::new(KeyStrength::Bits128, Mode::Stateless);
        self.mppe = Some(Mppe {
            encrypter: Encrypter::new(&keys.send, config).expect("key"),
            decrypter: Decrypter::new(&keys.receive, config).expect("key"),
        });
        // The authenticator and peer are done: a server drops them.
        self.authenticator = None;
        self.peer = None;
        self.done = true;
    }

    fn input_tcp(&mut self, bytes: &[u8]) {
        if !bytes.is_empty() {
            self.conn.handle_input(NOW, bytes).expect("control");
        }
    }

    fn input_gre(&mut self, datagram: &[u8], users: &CredentialStore<1>) {
        let g = self.gre.as_mut().expect("call");
        let payload = match g.decapsulate(NOW, datagram).expect("gre") {
            Received::Deliver { payload, .. } => payload,
            _ => return,
        };
        let f = Frame::parse(&datagram[payload], FieldCompression::BOTH).expect("ppp");
        match f.protocol {
            protocol::LCP => {
                let _ = self.lcp.handle_input(PNOW, f.information);
            }
            protocol::CHAP => {
                if let Some(a) = self.authenticator.as_mut() {
                    a.handle_packet_with(PNOW, f.information, users);
                } else if let Some(p) = self.peer.as_mut() {
                    p.handle_packet(PNOW, f.information);
                }
            }
            _ => {}
        }
    }
}

/// The per-session state a server keeps once the session is up.
struct ServerSession {
    _conn: Connection<1>,
    _gre: GreSession,
    _lcp: Lcp,
    _mppe: Mppe,
}

/// Establishes one session; returns the server's state.
fn establish(seed: u32, users: &CredentialStore<1>) -> ServerSession {
    // Distinct Magic-Numbers, or LCP rightly suspects a loopback.
    let mut client = End::new(Role::Client, seed ^ 0xa5a5_a5a5);
    let mut server = End::new(Role::Server, seed ^ 0x5a5a_5a5a);
    let (client_call, server_call) = ((seed as u16) | 1, (seed >> 16) as u16 | 1);
    for _ in 0..64 {
        let a = client.pump(Role::Client, client_call, seed);
        let b = server.pump(Role::Server, server_call, seed);
        let c2s = std::mem::take(&mut client.out_tcp);
        let s2c = std::mem::take(&mut server.out_tcp);
        let g2s = std::mem::take(&mut client.out_gre);
        let g2c = std::mem::take(&mut server.out_gre);
        let moved = !(c2s.is_empty() && s2c.is_empty() && g2s.is_empty() && g2c.is_empty());
        server.input_tcp(&c2s);
        client.input_tcp(&s2c);
        // A call that came up needs its GRE session before its first
        // datagram (a real host handles the OCRP before the GRE packet
        // that follows it).
        client.pump(Role::Client, client_call, seed);
        server.pump(Role::Server, server_call, seed);
        // Each datagram is handled before the next, as a host does, so
        // LCP's Up (which starts authentication) comes before the Challenge.
        for d in &g2s {
            server.input_gre(d, users);
            server.pump(Role::Server, server_call, seed);
        }
        for d in &g2c {
            client.input_gre(d, users);
            client.pump(Role::Client, client_call, seed);
        }
        if client.done && server.done && !moved && !a && !b {
            break;
        }
    }
    assert!(
        client.done && server.done,
        "session not established: lcp {:?}/{:?}, auth {}/{}, peer {}",
        client.lcp.state(),
        server.lcp.state(),
        client.done,
        server.done,
        client.peer.is_some()
    );
    assert!(client.lcp.is_opened() && server.lcp.is_opened());
    ServerSession {
        _conn: server.conn,
        _gre: server.gre.expect("gre"),
        _lcp: server.lcp,
        _mppe: server.mppe.expect("mppe"),
    }
}

fn users() -> CredentialStore<1> {
    let mut u = CredentialStore::new(DomainRule::default());
    u.insert_password(b"cisco", b"cisco").expect("user");
    u
}

fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let resident: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(resident * 4096)
}

fn memory_report() {
    println!("session_setup: per-session server state (this build: Connection<1> + GRE + LCP + MPPE; IPCP/CCP not yet)");
    println!(
        "  size_of Connection<1>     {:6} bytes",
        std::mem::size_of::<Connection<1>>()
    );
    println!(
        "  size_of GreSession        {:6} bytes",
        std::mem::size_of::<GreSession>()
    );
    println!(
        "  size_of Lcp               {:6} bytes",
        std::mem::size_of::<Lcp>()
    );
    println!(
        "  size_of Mppe              {:6} bytes",
        std::mem::size_of::<Mppe>()
    );
    println!(
        "  size_of Authenticator     {:6} bytes (dropped after success)",
        std::mem::size_of::<Authenticator>()
    );
    println!(
        "  size_of ServerSession     {:6} bytes",
        std::mem::size_of::<ServerSession>()
    );
    let users = users();
    for n in [1_000u32, 10_000] {
        let before = rss_bytes();
        let start = WallClock::now();
        let mut held = Vec::with_capacity(n as usize);
        for i in 0..n {
            held.push(establish(i.wrapping_mul(2_654_435_761), &users));
        }
        let elapsed = start.elapsed();
        let after = rss_bytes();
        let rate = f64::from(n) / elapsed.as_secs_f64();
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

fn main() {
    memory_report();
    let users = users();
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    let mut seed = 0u32;
    criterion.bench_function("session_setup/mschapv2_mppe128_through_keys", |b| {
        b.iter(|| {
            seed = seed.wrapping_add(0x9e37_79b9);
            black_box(establish(seed, &users))
        })
    });
    criterion.final_summary();
}
