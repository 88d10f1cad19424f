//! An in-memory wire with a fake clock between a server and a client
//! [`Link`], shared by the `link_*` tests.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;

use ppp_core::auth::{AuthRequest, CredentialStore, DomainRule, Verifier};
#[cfg(feature = "mppe")]
use ppp_core::fsm::State;
use ppp_core::ipcp::AddressPool;
use ppp_core::link::{Credentials, EndReason, Entropy, Link, LinkConfig, LinkEvent, Phase, Role};
use ppp_core::time::{Duration, Instant};

pub const USER: &[u8] = b"cisco";
pub const PASSWORD: &[u8] = b"cisco";

/// The randomness the pair's host gives a periodic re-challenge.
pub const REAUTH_ENTROPY: Entropy = Entropy {
    magic: 0,
    challenge: [0x6c; 16],
    identifier: 0x9e,
};

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
    /// The end that behaves like pppd with `require-mppe` (see
    /// [`Pair::pppd_ipcp_closed`]), if any.
    pub pppd_requiring_mppe: Option<Role>,
    /// That end's own IPCP frames, not yet sent: pppd opens IPCP only
    /// when its CCP opens.
    pub held: Vec<Vec<u8>>,
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
                    identifier: 1,
                },
            ),
            client: Link::new(
                client,
                Entropy {
                    magic: 0x5566_7788,
                    challenge: [0x21; 16],
                    identifier: 1,
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
            pppd_requiring_mppe: None,
            held: Vec::new(),
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
                self.carry(Role::Server, buf[..t.len].to_vec());
            }
            while let Some(t) = self.client.poll_transmit(now, &mut buf) {
                any = true;
                self.carry(Role::Client, buf[..t.len].to_vec());
            }
            if let Some(model) = self.pppd_requiring_mppe {
                if !self.held.is_empty() && !self.pppd_ipcp_closed(model) {
                    any = true;
                    for f in std::mem::take(&mut self.held) {
                        self.carry(model, f);
                    }
                }
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
                    LinkEvent::ChallengeNeeded if self.server.phase() == Phase::Network => {
                        // A periodic re-challenge (RFC 1994 §3).
                        self.server.reauthenticate(now, REAUTH_ENTROPY).unwrap();
                    }
                    LinkEvent::ChallengeNeeded => {
                        self.server.feed_challenge(now, &[0x33; 16]).unwrap();
                    }
                    LinkEvent::PasswordChanged => {
                        // The host persists the new hash (RFC 2759 §7).
                        let change = self.server.take_password_change().unwrap();
                        let entry = change.name_match.entry(&change.username);
                        assert!(self.store.change_nt_hash(entry, change.new_nt_hash));
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

    /// Sends one frame from `from` to the other end, through the pppd
    /// model when one is set.
    fn carry(&mut self, from: Role, frame: Vec<u8>) {
        if frame_protocol(&frame) == 0x8021 && self.pppd_ipcp_closed(from) {
            self.held.push(frame);
        } else {
            self.transfer(from, frame);
        }
    }

    fn transfer(&mut self, from: Role, mut frame: Vec<u8>) {
        let (to, dir) = match from {
            Role::Server => (Role::Client, Dir::ToClient),
            Role::Client => (Role::Server, Dir::ToServer),
        };
        let ipcp = frame_protocol(&frame) == 0x8021;
        self.wire.push((dir, frame.clone()));
        if ipcp && self.pppd_ipcp_closed(to) {
            // pppd/fsm.c fsm_rconfreq in CLOSED: "Go away, we're
            // closed": a Terminate-Ack with the request's Identifier
            // (RFC 1661 §4.1, RCR in Closed). Other IPCP codes cannot
            // reach it here (its own requests are held).
            if let [1, id, ..] = frame_info(&frame) {
                let answer = vec![0xff, 0x03, 0x80, 0x21, 6, *id, 0, 4];
                self.transfer(to, answer);
            }
            return;
        }
        let now = self.now;
        let _ = match to {
            Role::Client => self.client.handle_frame(now, &mut frame),
            Role::Server if self.external => self.server.handle_frame(now, &mut frame),
            Role::Server => self.server.handle_frame_with(now, &mut frame, &self.store),
        };
    }

    /// Whether `role` is the pppd model and its IPCP is still Closed:
    /// with `require-mppe` pppd opens CCP alone (auth.c
    /// `start_networks`) and IPCP only from `ccp_up` (ccp.c, through
    /// `continue_networks`); IPCP's lower layer is up since LCP opened
    /// (auth.c `link_established`), so the automaton sits in Closed.
    #[cfg(feature = "mppe")]
    pub fn pppd_ipcp_closed(&self, role: Role) -> bool {
        let link = match role {
            Role::Server => &self.server,
            Role::Client => &self.client,
        };
        self.pppd_requiring_mppe == Some(role) && link.ccp().state() != State::Opened
    }

    /// Without CCP there is nothing for the pppd model to wait for.
    #[cfg(not(feature = "mppe"))]
    pub fn pppd_ipcp_closed(&self, _role: Role) -> bool {
        false
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

/// A frame's information field (after either header form).
pub fn frame_info(frame: &[u8]) -> &[u8] {
    let rest = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    let protocol_len = if rest[0] & 1 == 1 { 1 } else { 2 };
    &rest[protocol_len..]
}

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    hay.windows(needle.len()).any(|w| w == needle)
}
