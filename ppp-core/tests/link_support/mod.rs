//! An in-memory wire with a fake clock between a server and a client
//! [`Link`], shared by the `link_*` tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;

use ppp_core::auth::{AuthRequest, CredentialStore, DomainRule, Verifier};
use ppp_core::ipcp::AddressPool;
use ppp_core::link::{Credentials, EndReason, Entropy, Link, LinkConfig, LinkEvent};
use ppp_core::time::{Duration, Instant};

pub const USER: &[u8] = b"cisco";
pub const PASSWORD: &[u8] = b"cisco";

pub fn server_config() -> LinkConfig {
    LinkConfig::server(
        Ipv4Addr::new(99, 99, 99, 2),
        [Some(Ipv4Addr::new(10, 0, 0, 53)), None],
    )
}

pub fn client_config(password: &[u8]) -> LinkConfig {
    LinkConfig::client(Credentials::password(USER, password).unwrap())
}

/// Which way a frame went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dir {
    ToClient,
    ToServer,
}

pub struct Pair {
    pub server: Link,
    pub client: Link,
    pub now: Instant,
    pub store: CredentialStore<4>,
    pub pool: AddressPool<1>,
    /// External AAA: AuthRequests wait here for the test to answer.
    pub external: bool,
    pub pending: Vec<AuthRequest>,
    pub server_events: Vec<LinkEvent>,
    pub client_events: Vec<LinkEvent>,
    /// Every control frame that crossed the wire.
    pub wire: Vec<(Dir, Vec<u8>)>,
}

impl Pair {
    pub fn new(server: LinkConfig, client: LinkConfig) -> Pair {
        let mut store = CredentialStore::new(DomainRule::default());
        store.insert_password(USER, PASSWORD).unwrap();
        let pool =
            AddressPool::new(Ipv4Addr::new(172, 16, 1, 1), Ipv4Addr::new(172, 16, 1, 50)).unwrap();
        Pair {
            server: Link::new(
                server,
                Entropy {
                    magic: 0x1122_3344,
                    challenge: [0x5b; 16],
                },
            ),
            client: Link::new(
                client,
                Entropy {
                    magic: 0x5566_7788,
                    challenge: [0x21; 16],
                },
            ),
            now: Instant::from_millis(1_000),
            store,
            pool,
            external: false,
            pending: Vec::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
            wire: Vec::new(),
        }
    }

    pub fn open(&mut self) {
        let now = self.now;
        self.server.open(now);
        self.client.open(now);
    }

    /// Moves frames and handles events until nothing moves; returns
    /// whether anything did.
    pub fn pump(&mut self) -> bool {
        let mut moved = false;
        for _ in 0..200 {
            let mut any = false;
            let mut buf = [0u8; 1600];
            let now = self.now;
            while let Some(t) = self.server.poll_transmit(now, &mut buf) {
                assert!(t.len <= buf.len());
                any = true;
                let mut f = buf[..t.len].to_vec();
                self.wire.push((Dir::ToClient, f.clone()));
                let _ = self.client.handle_frame(now, &mut f);
            }
            while let Some(t) = self.client.poll_transmit(now, &mut buf) {
                any = true;
                let mut f = buf[..t.len].to_vec();
                self.wire.push((Dir::ToServer, f.clone()));
                let _ = if self.external {
                    self.server.handle_frame(now, &mut f)
                } else {
                    self.server.handle_frame_with(now, &mut f, &self.store)
                };
            }
            while let Some(ev) = self.server.poll_event() {
                any = true;
                match &ev {
                    LinkEvent::AddressNeeded => {
                        let a = self.pool.allocate().ok();
                        self.server.assign_peer_address(now, a);
                    }
                    LinkEvent::AuthRequest => {
                        let req = self.server.take_auth_request().unwrap();
                        if self.external {
                            self.pending.push(req);
                        } else {
                            let v = self.store.decide(&req);
                            self.server.verdict(now, v).unwrap();
                        }
                    }
                    LinkEvent::ChallengeNeeded => {
                        self.server.feed_challenge(now, &[0x33; 16]).unwrap();
                    }
                    _ => {}
                }
                self.server_events.push(ev);
            }
            while let Some(ev) = self.client.poll_event() {
                any = true;
                self.client_events.push(ev);
            }
            if !any {
                break;
            }
            moved = true;
        }
        moved
    }

    /// Pumps, advancing the fake clock to the next timer when idle, until
    /// `done` or `limit` of simulated time passes.
    pub fn run_until(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) -> bool {
        let end = self.now + limit;
        loop {
            self.pump();
            if done(self) {
                return true;
            }
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = t.max(self.now);
                    let now = self.now;
                    self.server.handle_timeout(now);
                    self.client.handle_timeout(now);
                }
                _ => return done(self),
            }
        }
    }

    pub fn establish(&mut self) {
        self.open();
        let ok = self.run_until(Duration::from_secs(60), |p| {
            p.server.is_data_ready() && p.client.is_data_ready()
        });
        assert!(
            ok,
            "link did not come up: server {:?} {:?}\nclient {:?} {:?}",
            self.server, self.server_events, self.client, self.client_events
        );
    }

    pub fn run_until_down(&mut self) {
        let ok = self.run_until(Duration::from_secs(120), |p| {
            p.server.end_reason().is_some()
                && p.client.end_reason().is_some()
                && p.server.poll_timeout().is_none()
                && p.client.poll_timeout().is_none()
        });
        assert!(
            ok,
            "link did not end: server {:?} {:?}\nclient {:?} {:?}",
            self.server, self.server_events, self.client, self.client_events
        );
    }

    pub fn server_down(&self) -> Option<EndReason> {
        last_down(&self.server_events)
    }

    pub fn client_down(&self) -> Option<EndReason> {
        last_down(&self.client_events)
    }

    /// Sends `ip` from the client; returns the wire frame and what the
    /// server delivered.
    pub fn client_to_server(
        &mut self,
        ip: &[u8],
    ) -> (Vec<u8>, Result<Vec<u8>, ppp_core::link::Error>) {
        let now = self.now;
        let mut out = [0u8; 1600];
        let n = self
            .client
            .send_ip(now, ip, &mut out)
            .expect("client sends");
        let wire = out[..n].to_vec();
        let mut frame = wire.clone();
        let got = self
            .server
            .handle_frame_with(now, &mut frame, &self.store)
            .map(|d| frame[d.expect("an IP packet").range()].to_vec());
        (wire, got)
    }

    /// Sends `ip` from the server.
    pub fn server_to_client(
        &mut self,
        ip: &[u8],
    ) -> (Vec<u8>, Result<Vec<u8>, ppp_core::link::Error>) {
        let now = self.now;
        let mut out = [0u8; 1600];
        let n = self
            .server
            .send_ip(now, ip, &mut out)
            .expect("server sends");
        let wire = out[..n].to_vec();
        let mut frame = wire.clone();
        let got = self
            .client
            .handle_frame(now, &mut frame)
            .map(|d| frame[d.expect("an IP packet").range()].to_vec());
        (wire, got)
    }
}

pub fn last_down(events: &[LinkEvent]) -> Option<EndReason> {
    events.iter().rev().find_map(|e| match e {
        LinkEvent::Down(r) => Some(*r),
        _ => None,
    })
}

/// A recognisable IPv4 packet of `len` octets.
pub fn ip_packet(len: usize, seed: u8) -> Vec<u8> {
    let mut p = vec![0u8; len];
    p[0] = 0x45;
    for (i, b) in p.iter_mut().enumerate().skip(1) {
        *b = (i as u8).wrapping_mul(31).wrapping_add(seed);
    }
    // A valid IPv4 header (length and checksum, RFC 791 §3.1): a
    // stateless MPPE receiver keeps only packets that decrypt to one.
    if len >= 20 {
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[10..12].fill(0);
        let mut sum: u32 = p[..20]
            .chunks(2)
            .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
            .sum();
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    }
    p
}

/// The PPP protocol of a frame (either header form).
pub fn frame_protocol(frame: &[u8]) -> u16 {
    let rest = if frame.starts_with(&[0xff, 0x03]) {
        &frame[2..]
    } else {
        frame
    };
    if rest[0] & 1 == 1 {
        u16::from(rest[0])
    } else {
        u16::from_be_bytes([rest[0], rest[1]])
    }
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
