//! Differential target for `ParkedLink`: two identical client/server pairs
//! (same configuration, same randomness) are established; one server
//! parks whenever `Link::park` allows and is rebuilt with `Link::unpark`
//! when the parked link asks for it, the other never parks. The fuzzer
//! then drives both pairs with the same operations (deliver, drop, inject
//! arbitrary frames, send IP both ways, advance time, close). Invariants:
//! nothing panics; both servers return the same result for every frame,
//! send the same octets (MPPE ciphertext included), report the same
//! events and end the same way; a frame the parked link hands back is
//! untouched; outputs fit the caller's buffer.
#![no_main]

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::{
    Credentials, Delivered, EndReason, Entropy, Error, Link, LinkConfig, LinkEvent, MppePolicy,
    ParkedLink,
};
use ppp_core::time::{Duration, Instant};

const SERVER_ENTROPY: Entropy = Entropy {
    magic: 0x1122_3344,
    challenge: [0x5b; 16],
    identifier: 1,
};

enum Server {
    Full(Box<Link>),
    Parked(Box<ParkedLink>),
}

struct Pair {
    server: Server,
    parking: bool,
    client: Link,
    to_server: VecDeque<Vec<u8>>,
    to_client: VecDeque<Vec<u8>>,
    events: Vec<LinkEvent>,
    sent: Vec<Vec<u8>>,
}

impl Pair {
    fn new(server: &LinkConfig, client: &LinkConfig, parking: bool) -> Pair {
        Pair {
            server: Server::Full(Box::new(Link::new(server.clone(), SERVER_ENTROPY))),
            parking,
            client: Link::new(
                client.clone(),
                Entropy {
                    magic: 0x5566_7788,
                    challenge: [0x21; 16],
                    identifier: 1,
                },
            ),
            to_server: VecDeque::new(),
            to_client: VecDeque::new(),
            events: Vec::new(),
            sent: Vec::new(),
        }
    }

    fn full(&mut self, config: &LinkConfig, now: Instant) -> &mut Link {
        if let Server::Parked(_) = self.server {
            let Server::Parked(p) = std::mem::replace(
                &mut self.server,
                Server::Full(Box::new(Link::new(config.clone(), SERVER_ENTROPY))),
            ) else {
                unreachable!()
            };
            self.server = Server::Full(Box::new(Link::unpark(
                *p,
                config.clone(),
                SERVER_ENTROPY,
                b"user",
                now,
            )));
        }
        match &mut self.server {
            Server::Full(l) => l,
            Server::Parked(_) => unreachable!(),
        }
    }

    fn try_park(&mut self, config: &LinkConfig) {
        if !self.parking {
            return;
        }
        if let Server::Full(_) = self.server {
            let Server::Full(l) = std::mem::replace(
                &mut self.server,
                Server::Full(Box::new(Link::new(config.clone(), SERVER_ENTROPY))),
            ) else {
                unreachable!()
            };
            self.server = match l.park() {
                Ok(p) => Server::Parked(Box::new(p)),
                Err(l) => Server::Full(Box::new(l)),
            };
        }
    }

    fn server_frame(
        &mut self,
        config: &LinkConfig,
        store: &CredentialStore<2>,
        now: Instant,
        frame: &mut [u8],
    ) -> Result<Option<Vec<u8>>, Error> {
        let len = frame.len();
        let check = |r: Result<Option<Delivered>, Error>, frame: &[u8]| {
            r.map(|d| {
                d.map(|d| {
                    assert!(d.start + d.len <= len);
                    frame[d.range()].to_vec()
                })
            })
        };
        if let Server::Parked(p) = &mut self.server {
            let before = frame.to_vec();
            match p.handle_frame(now, frame) {
                Err(Error::NeedsLink) => assert_eq!(&before[..], &*frame),
                r => return check(r, frame),
            }
        }
        let r = self.full(config, now).handle_frame_with(now, frame, store);
        check(r, frame)
    }

    fn server_transmit(&mut self, now: Instant) {
        let mut buf = [0u8; 1600];
        loop {
            let t = match &mut self.server {
                Server::Full(l) => l.poll_transmit(now, &mut buf),
                Server::Parked(p) => p.poll_transmit(now, &mut buf),
            };
            let Some(t) = t else { break };
            assert!(t.len <= buf.len());
            self.sent.push(buf[..t.len].to_vec());
            if self.to_client.len() < 64 {
                self.to_client.push_back(buf[..t.len].to_vec());
            }
        }
    }

    fn server_events(&mut self, now: Instant) {
        if let Server::Full(l) = &mut self.server {
            while let Some(ev) = l.poll_event() {
                match &ev {
                    LinkEvent::AddressNeeded => {
                        l.assign_peer_address(now, Some(Ipv4Addr::new(172, 16, 1, 1)))
                    }
                    LinkEvent::ChallengeNeeded => {
                        let _ = l.feed_challenge(now, &[7; 16]);
                    }
                    _ => {}
                }
                self.events.push(ev);
            }
        }
    }

    fn pump(&mut self, config: &LinkConfig, store: &CredentialStore<2>, now: Instant) {
        for _ in 0..8 {
            while let Some(mut f) = self.to_client.pop_front() {
                let _ = self.client.handle_frame(now, &mut f);
            }
            while let Some(mut f) = self.to_server.pop_front() {
                let _ = self.server_frame(config, store, now, &mut f);
            }
            self.server_events(now);
            while self.client.poll_event().is_some() {}
            self.server_transmit(now);
            let mut buf = [0u8; 1600];
            while let Some(t) = self.client.poll_transmit(now, &mut buf) {
                if self.to_server.len() < 64 {
                    self.to_server.push_back(buf[..t.len].to_vec());
                }
            }
            self.try_park(config);
        }
    }

    fn timeouts(&mut self, config: &LinkConfig, now: Instant) {
        if let Server::Parked(p) = &mut self.server {
            p.handle_timeout(now);
            if !p.needs_link() {
                self.client.handle_timeout(now);
                return;
            }
        }
        self.full(config, now).handle_timeout(now);
        self.client.handle_timeout(now);
    }

    fn end_reason(&self) -> Option<EndReason> {
        match &self.server {
            Server::Full(l) => l.end_reason(),
            Server::Parked(_) => None,
        }
    }

    fn counters(&self) -> ppp_core::link::Counters {
        match &self.server {
            Server::Full(l) => *l.counters(),
            Server::Parked(p) => *p.counters(),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, mut data)) = data.split_first() else {
        return;
    };
    let mut store = CredentialStore::<2>::new(DomainRule::default());
    store.insert_password(b"user", b"secret").unwrap();
    let mut server_cfg = LinkConfig::server(Ipv4Addr::new(10, 0, 0, 1), [None; 2]);
    let mut client_cfg = LinkConfig::client(Credentials::password(b"user", b"secret").unwrap());
    let policy = if flags & 1 != 0 {
        MppePolicy::pix(ppp_core::link::PixEncryption::Bits128, true)
    } else {
        use mppe::{ModePreference, Strengths};
        MppePolicy {
            strengths: Strengths::only(mppe::KeyStrength::Bits128),
            mode: ModePreference::StatefulOnly,
            ..MppePolicy::disabled()
        }
    };
    server_cfg.mppe = policy;
    client_cfg.mppe = policy;
    if flags & 2 != 0 {
        server_cfg.lcp.echo_interval = Some(Duration::from_secs(2));
        server_cfg.lcp.echo_failure = 2;
    }
    let mut pairs = [
        Pair::new(&server_cfg, &client_cfg, false),
        Pair::new(&server_cfg, &client_cfg, true),
    ];
    let mut now = Instant::ZERO;
    for p in pairs.iter_mut() {
        if let Server::Full(l) = &mut p.server {
            l.open(now);
        }
        p.client.open(now);
        p.server_transmit(now);
        p.pump(&server_cfg, &store, now);
    }
    let mut steps = 0;
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        steps += 1;
        if steps > 500 {
            break;
        }
        let arg = data.first().copied().unwrap_or(0);
        match op % 8 {
            0 | 1 => {
                for p in pairs.iter_mut() {
                    p.pump(&server_cfg, &store, now);
                }
            }
            2 | 3 => {
                // An arbitrary frame to both servers.
                let len = usize::from(arg).min(data.len().saturating_sub(1));
                let frame = data.get(1..1 + len).unwrap_or(&[]).to_vec();
                data = data.get(1 + len..).unwrap_or(&[]);
                let results: Vec<_> = pairs
                    .iter_mut()
                    .map(|p| {
                        let mut f = frame.clone();
                        let r = p.server_frame(&server_cfg, &store, now, &mut f);
                        p.server_events(now);
                        p.server_transmit(now);
                        p.try_park(&server_cfg);
                        r
                    })
                    .collect();
                assert_eq!(results[0], results[1], "frame {frame:02x?}");
            }
            4 => {
                // IP both ways.
                let ip: Vec<u8> = std::iter::once(0x45)
                    .chain((1..usize::from(arg) * 5 + 20).map(|i| i as u8))
                    .collect();
                let mut wires = Vec::new();
                for p in pairs.iter_mut() {
                    let mut out = [0u8; 1600];
                    if let Ok(n) = p.client.send_ip(now, &ip, &mut out) {
                        p.to_server.push_back(out[..n].to_vec());
                    }
                    let r = match &mut p.server {
                        Server::Full(l) => l.send_ip(now, &ip, &mut out),
                        Server::Parked(s) => s.send_ip(now, &ip, &mut out),
                    };
                    wires.push(r.map(|n| out[..n].to_vec()));
                }
                assert_eq!(wires[0], wires[1]);
            }
            5 => {
                now = now + Duration::from_millis(u64::from(arg) * 50);
                for p in pairs.iter_mut() {
                    p.timeouts(&server_cfg, now);
                }
            }
            6 => {
                for p in pairs.iter_mut() {
                    if arg & 1 == 0 {
                        p.to_server.pop_front();
                    } else {
                        p.to_client.pop_front();
                    }
                }
            }
            _ => {
                for p in pairs.iter_mut() {
                    if arg & 1 == 0 {
                        p.client.close(now, EndReason::AdminClose);
                    } else {
                        p.full(&server_cfg, now).close(now, EndReason::AdminClose);
                    }
                }
            }
        }
        let [a, b] = &pairs;
        assert_eq!(a.sent, b.sent, "server output differs");
        assert_eq!(a.events, b.events, "server events differ");
        assert_eq!(a.counters(), b.counters());
        assert_eq!(a.end_reason(), b.end_reason());
    }
});
