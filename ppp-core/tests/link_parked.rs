//! Parked links ([`ParkedLink`]): a server that parks its link whenever
//! it is quiet must behave, on the wire and towards the host, exactly like
//! a twin server that never parks. Both twins are built from the same
//! configuration and randomness, so even their MPPE ciphertext must match
//! octet for octet.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod link_support;

use link_support::*;
use ppp_core::auth::{CredentialStore, Verifier};
use ppp_core::link::{
    Delivered, EndReason, Entropy, Error, Link, LinkConfig, LinkEvent, ParkedLink,
};
use ppp_core::time::{Duration, Instant};
use ppp_core::Transmit;

/// The randomness `Pair::new` gives its server.
const SERVER_ENTROPY: Entropy = Entropy {
    magic: 0x1122_3344,
    challenge: [0x5b; 16],
    identifier: 1,
};

/// A server link that is parked whenever [`Link::park`] allows.
struct ParkingServer {
    link: Option<Link>,
    parked: Option<ParkedLink>,
    config: LinkConfig,
    parks: usize,
    unparks: usize,
    /// Frames a parked link handled itself.
    handled_parked: usize,
}

impl ParkingServer {
    fn new(link: Link, config: LinkConfig) -> Self {
        let mut s = ParkingServer {
            link: Some(link),
            parked: None,
            config,
            parks: 0,
            unparks: 0,
            handled_parked: 0,
        };
        s.try_park();
        s
    }

    fn try_park(&mut self) {
        if let Some(link) = self.link.take() {
            match link.park() {
                Ok(p) => {
                    self.parks += 1;
                    self.parked = Some(p);
                }
                Err(link) => self.link = Some(link),
            }
        }
    }

    fn unpark(&mut self, now: Instant) {
        let parked = self.parked.take().unwrap();
        self.link = Some(Link::unpark(
            parked,
            self.config.clone(),
            SERVER_ENTROPY,
            USER,
            now,
        ));
        self.unparks += 1;
    }

    fn link(&mut self) -> &mut Link {
        self.link.as_mut().unwrap()
    }

    fn handle_frame(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        store: &CredentialStore<4>,
    ) -> Result<Option<Delivered>, Error> {
        if let Some(p) = self.parked.as_mut() {
            let before = frame.to_vec();
            match p.handle_frame(now, frame) {
                Err(Error::NeedsLink) => {
                    assert_eq!(frame, &before[..], "NeedsLink must leave the frame intact");
                    self.unpark(now);
                }
                other => {
                    self.handled_parked += 1;
                    return other;
                }
            }
        }
        self.link().handle_frame_with(now, frame, store)
    }

    fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        match self.parked.as_mut() {
            Some(p) => p.poll_transmit(now, buf),
            None => self.link().poll_transmit(now, buf),
        }
    }

    fn send_ip(&mut self, now: Instant, ip: &[u8], out: &mut [u8]) -> usize {
        match self.parked.as_mut() {
            Some(p) => p.send_ip(now, ip, out).unwrap(),
            None => self.link().send_ip(now, ip, out).unwrap(),
        }
    }

    fn poll_timeout(&self) -> Option<Instant> {
        match (&self.parked, &self.link) {
            (Some(p), _) => p.poll_timeout(),
            (None, Some(l)) => l.poll_timeout(),
            (None, None) => None,
        }
    }

    fn handle_timeout(&mut self, now: Instant) {
        if let Some(p) = self.parked.as_mut() {
            p.handle_timeout(now);
            if !p.needs_link() {
                return;
            }
            self.unpark(now);
        }
        self.link().handle_timeout(now);
    }

    fn counters(&self) -> ppp_core::link::Counters {
        match (&self.parked, &self.link) {
            (Some(p), _) => *p.counters(),
            (_, Some(l)) => *l.counters(),
            _ => unreachable!(),
        }
    }

    fn end_reason(&self) -> Option<EndReason> {
        self.link.as_ref().and_then(Link::end_reason)
    }

    fn is_data_ready(&self) -> bool {
        self.parked.is_some() || self.link.as_ref().is_some_and(Link::is_data_ready)
    }
}

/// A server/client pair whose server parks; mirrors `Pair`'s pump.
struct ParkingPair {
    server: ParkingServer,
    client: Link,
    now: Instant,
    store: CredentialStore<4>,
    pool: ppp_core::ipcp::AddressPool<1>,
    server_events: Vec<LinkEvent>,
    /// Every frame the server sent, in order.
    server_wire: Vec<Vec<u8>>,
    /// Whether server frames reach the client.
    deliver_to_client: bool,
}

impl ParkingPair {
    fn from(pair: Pair, config: LinkConfig) -> Self {
        let Pair {
            server,
            client,
            now,
            store,
            pool,
            ..
        } = pair;
        ParkingPair {
            server: ParkingServer::new(server, config),
            client,
            now,
            store,
            pool,
            server_events: Vec::new(),
            server_wire: Vec::new(),
            deliver_to_client: true,
        }
    }

    fn pump(&mut self) {
        for _ in 0..200 {
            let mut any = false;
            let mut buf = [0u8; 1600];
            let now = self.now;
            while let Some(t) = self.server.poll_transmit(now, &mut buf) {
                any = true;
                let mut f = buf[..t.len].to_vec();
                self.server_wire.push(f.clone());
                if self.deliver_to_client {
                    let _ = self.client.handle_frame(now, &mut f);
                }
            }
            while let Some(t) = self.client.poll_transmit(now, &mut buf) {
                any = true;
                let mut f = buf[..t.len].to_vec();
                let _ = self.server.handle_frame(now, &mut f, &self.store);
            }
            if let Some(link) = self.server.link.as_mut() {
                while let Some(ev) = link.poll_event() {
                    any = true;
                    match &ev {
                        LinkEvent::AddressNeeded => {
                            let a = self.pool.allocate().ok();
                            link.assign_peer_address(now, a);
                        }
                        LinkEvent::AuthRequest => {
                            let req = link.take_auth_request().unwrap();
                            link.verdict(now, self.store.decide(&req)).unwrap();
                        }
                        LinkEvent::ChallengeNeeded => {
                            link.feed_challenge(now, &[0x33; 16]).unwrap();
                        }
                        _ => {}
                    }
                    self.server_events.push(ev);
                }
            }
            while self.client.poll_event().is_some() {
                any = true;
            }
            self.server.try_park();
            if !any {
                break;
            }
        }
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&ParkingPair) -> bool) -> bool {
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
}

/// The never-parked twin with the same bookkeeping as [`ParkingPair`].
struct PlainPair {
    pair: Pair,
    /// Every frame the server sent, in order (from `pair.wire`).
    seen: usize,
    deliver_to_client: bool,
    server_wire: Vec<Vec<u8>>,
}

impl PlainPair {
    fn pump(&mut self) {
        if self.deliver_to_client {
            self.pair.pump();
        } else {
            // Server frames are lost: drain them here.
            let now = self.pair.now;
            let mut buf = [0u8; 1600];
            for _ in 0..200 {
                let mut any = false;
                while let Some(t) = self.pair.server.poll_transmit(now, &mut buf) {
                    any = true;
                    self.pair.wire.push((Dir::ToClient, buf[..t.len].to_vec()));
                }
                while let Some(t) = self.pair.client.poll_transmit(now, &mut buf) {
                    any = true;
                    let mut f = buf[..t.len].to_vec();
                    let _ = self
                        .pair
                        .server
                        .handle_frame_with(now, &mut f, &self.pair.store);
                }
                while let Some(ev) = self.pair.server.poll_event() {
                    any = true;
                    self.pair.server_events.push(ev);
                }
                if !any {
                    break;
                }
            }
        }
        for (dir, f) in &self.pair.wire[self.seen..] {
            if *dir == Dir::ToClient {
                self.server_wire.push(f.clone());
            }
        }
        self.seen = self.pair.wire.len();
    }

    fn run_until(&mut self, limit: Duration, done: impl Fn(&Pair) -> bool) -> bool {
        let end = self.pair.now + limit;
        loop {
            self.pump();
            if done(&self.pair) {
                return true;
            }
            let next = [
                self.pair.server.poll_timeout(),
                self.pair.client.poll_timeout(),
            ]
            .into_iter()
            .flatten()
            .min();
            match next {
                Some(t) if t <= end => {
                    self.pair.now = t.max(self.pair.now);
                    let now = self.pair.now;
                    self.pair.server.handle_timeout(now);
                    self.pair.client.handle_timeout(now);
                }
                _ => return done(&self.pair),
            }
        }
    }
}

fn stateful_configs(echo: Option<Duration>) -> (LinkConfig, LinkConfig) {
    use mppe::{ModePreference, Strengths};
    let policy = ppp_core::link::MppePolicy {
        strengths: Strengths::only(mppe::KeyStrength::Bits128),
        mode: ModePreference::StatefulOnly,
        ..ppp_core::link::MppePolicy::disabled()
    };
    let mut server = server_config();
    server.mppe = policy;
    server.lcp.echo_interval = echo;
    server.lcp.echo_failure = 3;
    let mut client = client_config(PASSWORD);
    client.mppe = policy;
    (server, client)
}

/// Two established twins: the plain one and the parking one.
fn twins(echo: Option<Duration>) -> (PlainPair, ParkingPair) {
    let (server, client) = stateful_configs(echo);
    let mut a = Pair::new(server.clone(), client.clone());
    a.establish();
    let mut b = Pair::new(server.clone(), client);
    b.establish();
    let seen = a.wire.len();
    let plain = PlainPair {
        pair: a,
        seen,
        deliver_to_client: true,
        server_wire: Vec::new(),
    };
    let parking = ParkingPair::from(b, server);
    assert!(parking.server.parked.is_some(), "an established link parks");
    (plain, parking)
}

/// Feeds the same frame to both servers; results must match.
fn feed_both(plain: &mut PlainPair, parking: &mut ParkingPair, frame: &[u8]) {
    let now = plain.pair.now;
    assert_eq!(now, parking.now);
    let mut fa = frame.to_vec();
    let ra = plain
        .pair
        .server
        .handle_frame_with(now, &mut fa, &plain.pair.store)
        .map(|d| d.map(|d| fa[d.range()].to_vec()));
    let mut fb = frame.to_vec();
    let rb = parking
        .server
        .handle_frame(now, &mut fb, &parking.store)
        .map(|d| d.map(|d| fb[d.range()].to_vec()));
    assert_eq!(ra, rb, "frame {frame:02x?}");
}

fn server_ip_both(plain: &mut PlainPair, parking: &mut ParkingPair, ip: &[u8]) {
    let mut out = [0u8; 1600];
    let n = plain
        .pair
        .server
        .send_ip(plain.pair.now, ip, &mut out)
        .unwrap();
    let wa = out[..n].to_vec();
    let n = parking.server.send_ip(parking.now, ip, &mut out);
    assert_eq!(wa, out[..n].to_vec(), "server ciphertext differs");
}

fn client_frame(pair_client: &mut Link, now: Instant, ip: &[u8]) -> Vec<u8> {
    let mut out = [0u8; 1600];
    let n = pair_client.send_ip(now, ip, &mut out).unwrap();
    out[..n].to_vec()
}

#[test]
fn a_parked_server_behaves_like_one_that_never_parks() {
    let (mut plain, mut parking) = twins(None);

    // Data both ways; the clients are twins too, so their frames match.
    for i in 0..20u8 {
        let ip = ip_packet(60 + usize::from(i) * 50, i);
        let fa = client_frame(&mut plain.pair.client, plain.pair.now, &ip);
        let fb = client_frame(&mut parking.client, parking.now, &ip);
        assert_eq!(fa, fb);
        feed_both(&mut plain, &mut parking, &fa);
        server_ip_both(&mut plain, &mut parking, &ip);
    }
    assert_eq!(parking.server.unparks, 0, "data never needs the full link");
    assert!(parking.server.handled_parked >= 20);

    // A lost client packet: both ask for a flush (CCP Reset-Request).
    let lost = [0u8, 1, 2].map(|i| {
        let ip = ip_packet(100, 100 + i);
        let fa = client_frame(&mut plain.pair.client, plain.pair.now, &ip);
        let fb = client_frame(&mut parking.client, parking.now, &ip);
        assert_eq!(fa, fb);
        fa
    });
    feed_both(&mut plain, &mut parking, &lost[0]);
    feed_both(&mut plain, &mut parking, &lost[2]);
    plain.pump();
    parking.pump();

    // Echo-Request with data, Discard-Request, CCP Reset-Request and
    // Reset-Ack from the peer.
    let echo = [
        0xff, 0x03, 0xc0, 0x21, 9, 0x42, 0, 11, 0x55, 0x66, 0x77, 0x88, b'a', b'b', b'c',
    ];
    // A host drains its output after each frame, as the pumps do here (a
    // second reply before that would go through the full link).
    feed_both(&mut plain, &mut parking, &echo);
    plain.pump();
    parking.pump();
    let discard = [
        0xff, 0x03, 0xc0, 0x21, 11, 0x43, 0, 8, 0x55, 0x66, 0x77, 0x88,
    ];
    feed_both(&mut plain, &mut parking, &discard);
    let reset = [0xff, 0x03, 0x80, 0xfd, 14, 0x44, 0, 4];
    feed_both(&mut plain, &mut parking, &reset);
    plain.pump();
    parking.pump();
    let reset_ack = [0xff, 0x03, 0x80, 0xfd, 15, 0x45, 0, 4];
    feed_both(&mut plain, &mut parking, &reset_ack);
    // The next server packet is flushed, identically.
    server_ip_both(&mut plain, &mut parking, &ip_packet(300, 9));
    plain.pump();
    parking.pump();
    assert_eq!(parking.server.unparks, 0, "echo and CCP resets stay parked");
    assert_eq!(plain.server_wire, parking.server_wire);
    assert_eq!(
        *plain.pair.server.counters(),
        parking.server.counters(),
        "counters continue identically"
    );

    // Renegotiation: the peer sends an LCP Configure-Request in Opened.
    let renegotiate = [
        0xff, 0x03, 0xc0, 0x21, 1, 0x90, 0, 10, 5, 6, 0x55, 0x66, 0x77, 0x88,
    ];
    feed_both(&mut plain, &mut parking, &renegotiate);
    assert_eq!(parking.server.unparks, 1);
    assert!(
        plain.run_until(Duration::from_secs(60), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    assert!(
        parking.run_until(Duration::from_secs(60), |p| p.server.is_data_ready()
            && p.client.is_data_ready()),
        "the unparked link renegotiated: {:?}",
        parking.server.link
    );
    assert!(
        parking.server.parks >= 2,
        "parked again after renegotiation"
    );
    let plain_events: Vec<_> = plain
        .pair
        .server_events
        .iter()
        .skip_while(|e| !matches!(e, LinkEvent::DataReady))
        .skip(1)
        .cloned()
        .collect();
    assert_eq!(plain_events, parking.server_events);
    assert!(plain_events
        .iter()
        .any(|e| matches!(e, LinkEvent::Authenticated { .. })));
    for i in 0..5u8 {
        let ip = ip_packet(500, 200 + i);
        let fa = client_frame(&mut plain.pair.client, plain.pair.now, &ip);
        let fb = client_frame(&mut parking.client, parking.now, &ip);
        feed_both(&mut plain, &mut parking, &fa);
        assert_eq!(fa, fb);
        server_ip_both(&mut plain, &mut parking, &ip);
    }

    // The client hangs up: Terminate-Request reaches the parked server.
    let now = plain.pair.now;
    plain.pair.client.close(now, EndReason::AdminClose);
    parking.client.close(now, EndReason::AdminClose);
    assert!(plain.run_until(Duration::from_secs(30), |p| p.server.end_reason().is_some()));
    assert!(parking.run_until(Duration::from_secs(30), |p| p.server.end_reason().is_some()));
    assert_eq!(plain.pair.server.end_reason(), parking.server.end_reason());
    assert_eq!(parking.server.end_reason(), Some(EndReason::PeerTerminated));
    assert_eq!(plain.server_wire, parking.server_wire);
    assert_eq!(*plain.pair.server.counters(), parking.server.counters());
}

#[test]
fn a_parked_server_keeps_alive_and_closes_on_a_lost_keepalive_like_its_twin() {
    let (mut plain, mut parking) = twins(Some(Duration::from_secs(2)));
    // Echoes answered for a while: the parked link sends them itself.
    assert!(!plain.run_until(Duration::from_secs(20), |p| p.server.end_reason().is_some()));
    assert!(!parking.run_until(Duration::from_secs(20), |p| p.server.end_reason().is_some()));
    assert_eq!(parking.server.unparks, 0, "answered keepalives stay parked");
    let echoes = parking
        .server_wire
        .iter()
        .filter(|f| f.starts_with(&[0xff, 0x03, 0xc0, 0x21, 9]))
        .count();
    assert!(echoes >= 9, "{echoes} Echo-Requests in 20 s at 2 s");
    assert_eq!(plain.server_wire, parking.server_wire);

    // Now the client is gone: nothing reaches it.
    plain.deliver_to_client = false;
    parking.deliver_to_client = false;
    assert!(plain.run_until(Duration::from_secs(60), |p| p.server.end_reason().is_some()));
    assert!(parking.run_until(Duration::from_secs(60), |p| p.server.end_reason().is_some()));
    assert_eq!(parking.server.end_reason(), Some(EndReason::KeepaliveLost));
    assert_eq!(plain.pair.server.end_reason(), parking.server.end_reason());
    assert_eq!(parking.server.unparks, 1);
    assert_eq!(plain.server_wire, parking.server_wire);
}

/// xorshift64: deterministic "random" input.
fn next(state: &mut u64) -> u64 {
    let mut x = *state;
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    *state = x;
    x
}

#[test]
fn bad_frames_to_a_parked_link_never_panic_and_match_the_twin() {
    let (mut plain, mut parking) = twins(None);
    let heads: [&[u8]; 8] = [
        &[0xff, 0x03, 0xc0, 0x21],
        &[0xff, 0x03, 0x80, 0xfd],
        &[0xff, 0x03, 0x80, 0x21],
        &[0xff, 0x03, 0x00, 0x21],
        &[0xff, 0x03, 0x00, 0xfd],
        &[0xfd],
        &[0xc2, 0x23],
        &[],
    ];
    let mut seed = 0x0123_4567_89ab_cdefu64;
    for round in 0..3_000 {
        let head = heads[(next(&mut seed) % heads.len() as u64) as usize];
        let len = (next(&mut seed) % 40) as usize;
        let mut frame = head.to_vec();
        for _ in 0..len {
            frame.push(next(&mut seed) as u8);
        }
        // Sometimes a plausible control header: code 1-15, a length that
        // lies, matches, or is 0 or 1.
        if round % 3 == 0 && frame.len() >= head.len() + 4 {
            let at = head.len();
            frame[at] = (next(&mut seed) % 16) as u8;
            let body = (frame.len() - at) as u16;
            let lie = [0u16, 1, 3, body, body + 1, 0xffff][(next(&mut seed) % 6) as usize];
            frame[at + 2..at + 4].copy_from_slice(&lie.to_be_bytes());
        }
        feed_both(&mut plain, &mut parking, &frame);
        plain.pump();
        parking.pump();
        assert_eq!(plain.server_wire, parking.server_wire, "round {round}");
        if plain.pair.server.end_reason().is_some() {
            break;
        }
    }
    assert_eq!(*plain.pair.server.counters(), parking.server.counters());
    assert_eq!(plain.pair.server.end_reason(), parking.server.end_reason());
    assert!(parking.server.handled_parked > 0);
    assert!(parking.server.unparks > 0);
}

#[test]
fn park_is_refused_until_the_link_is_established_and_quiet() {
    let (server, client) = stateful_configs(None);
    let link = Link::new(server.clone(), SERVER_ENTROPY);
    let link = link.park().expect_err("a dead link does not park");
    drop(link);
    let mut pair = Pair::new(server, client);
    pair.open();
    // Negotiating: LCP's Configure-Request is queued, its timer running.
    let server = std::mem::replace(&mut pair.server, Link::new(server_config(), SERVER_ENTROPY));
    pair.server = server.park().expect_err("a negotiating link does not park");
    pair.establish();
    // An Echo-Request whose reply has not been polled yet.
    let now = pair.now;
    let mut echo = vec![0xff, 0x03, 0xc0, 0x21, 9, 7, 0, 8, 0x55, 0x66, 0x77, 0x88];
    pair.server.handle_frame(now, &mut echo).unwrap();
    let server = std::mem::replace(&mut pair.server, Link::new(server_config(), SERVER_ENTROPY));
    let mut server = server.park().expect_err("a reply is waiting");
    let mut buf = [0u8; 64];
    let t = server.poll_transmit(now, &mut buf).expect("the Echo-Reply");
    assert_eq!(&buf[4..6], &[10, 7]);
    assert!(t.len >= 12);
    let parked = server.park().expect("quiet now");
    assert!(parked.mppe_info().is_some());
    assert_eq!(
        parked.ipcp_negotiated().peer_address,
        Some(std::net::Ipv4Addr::new(172, 16, 1, 1))
    );
}

#[test]
fn parked_link_size() {
    use mppe::rc4::CompactRc4;
    let parked = core::mem::size_of::<ParkedLink>();
    let link = core::mem::size_of::<Link>();
    let mppe = core::mem::size_of::<mppe::Mppe<CompactRc4>>();
    println!("ParkedLink {parked} B (of which MPPE {mppe} B); Link {link} B");
    // MPPE on the compact RC4 state: two 258-octet permutations, keys,
    // counters.
    assert!(mppe <= 760, "compact MPPE is {mppe} B");
    // Everything else: agreed options, keepalive, the IPCP and CCP
    // settings, the start keys, one queued packet and the counters.
    assert!(
        parked - mppe <= 440,
        "ParkedLink without MPPE is {} B",
        parked - mppe
    );
    assert!(parked <= 1_200, "ParkedLink is {parked} B");
}

/// Found by the `ppp_parked` fuzz target: with the parked link's one
/// packet slot taken by an unpolled keepalive Echo-Request, a packet
/// whose decryption calls for a Reset-Request must go to the full link
/// (it cannot be handed back once decrypted), so no Reset-Request is lost.
#[test]
fn a_loss_while_a_keepalive_is_unpolled_still_sends_the_reset_request() {
    let (mut plain, mut parking) = twins(Some(Duration::from_secs(2)));
    let t = plain.pair.now + Duration::from_secs(2);
    plain.pair.now = t;
    parking.now = t;
    plain.pair.server.handle_timeout(t);
    parking.server.handle_timeout(t);
    assert!(parking.server.parked.is_some());
    let frames: Vec<Vec<u8>> = (0..2u8)
        .map(|i| {
            let ip = ip_packet(80, i);
            let fa = client_frame(&mut plain.pair.client, t, &ip);
            let fb = client_frame(&mut parking.client, t, &ip);
            assert_eq!(fa, fb);
            fa
        })
        .collect();
    feed_both(&mut plain, &mut parking, &frames[1]);
    assert_eq!(parking.server.unparks, 1);
    plain.pump();
    parking.pump();
    assert_eq!(plain.server_wire, parking.server_wire);
    assert!(parking
        .server_wire
        .iter()
        .any(|f| frame_protocol(f) == 0x80fd && contains(f, &[14])));
    assert_eq!(*plain.pair.server.counters(), parking.server.counters());
}
