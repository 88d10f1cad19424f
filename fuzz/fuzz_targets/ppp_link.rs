//! A server and a client `Link` connected by two in-memory queues, driven
//! by the fuzzer: deliver or corrupt queued frames, inject arbitrary
//! frames, advance time, send IP packets, and host commands (close,
//! verdicts, address exhaustion, lower layer down). Invariants: nothing
//! panics; every output fits the caller's buffer; delivered packets lie
//! inside the frame; no event follows the final `Down`; after `Down` the
//! link takes no frame and has no timer; counters stay consistent.
#![no_main]

use std::collections::VecDeque;
use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use ppp_core::auth::{CredentialStore, DomainRule, FailureReason, Verdict, Verifier};
use ppp_core::link::{Credentials, EndReason, Entropy, Link, LinkConfig, LinkEvent};
use ppp_core::time::{Duration, Instant};

struct Side {
    link: Link,
    frames_in: u64,
    down: bool,
    external: bool,
    pending: Option<ppp_core::auth::AuthRequest>,
}

impl Side {
    fn new(link: Link, external: bool) -> Side {
        Side {
            link,
            frames_in: 0,
            down: false,
            external,
            pending: None,
        }
    }

    fn take(&mut self, now: Instant, frame: &mut [u8], store: &CredentialStore<2>) {
        let len = frame.len();
        self.frames_in += 1;
        let r = if self.external {
            self.link.handle_frame(now, frame)
        } else {
            self.link.handle_frame_with(now, frame, store)
        };
        if let Ok(Some(d)) = r {
            assert!(d.start + d.len <= len);
        }
        if self.down {
            assert!(r.is_err());
        }
        self.check();
    }

    fn check(&self) {
        let c = self.link.counters();
        assert_eq!(c.frames_in, self.frames_in);
        assert!(c.dropped() + c.ip_in <= c.frames_in);
        if self.down {
            assert_eq!(self.link.poll_timeout(), None);
            assert!(!self.link.is_data_ready());
        }
    }

    fn events(&mut self, now: Instant, pool_empty: bool) {
        while let Some(ev) = self.link.poll_event() {
            assert!(!self.down, "event {ev:?} after Down");
            match ev {
                LinkEvent::Down(_) => self.down = true,
                LinkEvent::AddressNeeded => {
                    let a = (!pool_empty).then(|| Ipv4Addr::new(172, 16, 1, 1));
                    self.link.assign_peer_address(now, a);
                }
                LinkEvent::AuthRequest => {
                    let req = self.link.take_auth_request();
                    assert!(req.is_some(), "AuthRequest without a request");
                    self.pending = req;
                }
                LinkEvent::ChallengeNeeded => {
                    let _ = self.link.feed_challenge(now, &[7; 16]);
                }
                _ => {}
            }
        }
    }

    fn transmit(&mut self, now: Instant, queue: &mut VecDeque<Vec<u8>>, small: bool) {
        let mut buf = [0u8; 1600];
        let cap = if small { 40 } else { buf.len() };
        while let Some(t) = self.link.poll_transmit(now, &mut buf[..cap]) {
            assert!(t.len <= cap);
            assert!(!self.down || t.to == 0xc021);
            if queue.len() < 64 {
                queue.push_back(buf[..t.len].to_vec());
            }
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
    if flags & 1 != 0 {
        server_cfg.mppe.required = true;
    }
    if flags & 2 != 0 {
        server_cfg.lcp.echo_interval = Some(Duration::from_secs(5));
    }
    let password: &[u8] = if flags & 4 != 0 { b"wrong" } else { b"secret" };
    let client_cfg = LinkConfig::client(Credentials::password(b"user", password).unwrap());
    let mut server = Side::new(
        Link::new(
            server_cfg,
            Entropy {
                magic: 1,
                challenge: [3; 16],
                identifier: 1,
            },
        ),
        flags & 8 != 0,
    );
    let mut client = Side::new(
        Link::new(
            client_cfg,
            Entropy {
                magic: 2,
                challenge: [4; 16],
                identifier: 1,
            },
        ),
        false,
    );
    let pool_empty = flags & 16 != 0;
    let mut now = Instant::ZERO;
    server.link.open(now);
    client.link.open(now);
    let mut to_client: VecDeque<Vec<u8>> = VecDeque::new();
    let mut to_server: VecDeque<Vec<u8>> = VecDeque::new();
    let mut steps = 0;
    while let Some((&op, rest)) = data.split_first() {
        data = rest;
        steps += 1;
        if steps > 2000 {
            break;
        }
        let arg = data.first().copied().unwrap_or(0);
        match op % 10 {
            0 | 1 => {
                // Deliver all queued frames both ways (makes progress).
                for _ in 0..8 {
                    while let Some(mut f) = to_client.pop_front() {
                        client.take(now, &mut f, &store);
                    }
                    while let Some(mut f) = to_server.pop_front() {
                        server.take(now, &mut f, &store);
                    }
                    server.events(now, pool_empty);
                    client.events(now, false);
                    server.transmit(now, &mut to_client, false);
                    client.transmit(now, &mut to_server, false);
                }
            }
            2 => {
                // Corrupt the next frame to the server.
                if let Some(mut f) = to_server.pop_front() {
                    if !f.is_empty() {
                        let i = usize::from(arg) % f.len();
                        f[i] ^= rest.get(1).copied().unwrap_or(0x55) | 1;
                    }
                    server.take(now, &mut f, &store);
                }
            }
            3 => {
                // Drop the next frame to the client.
                to_client.pop_front();
            }
            4 | 5 => {
                // Inject an arbitrary frame.
                let len = usize::from(arg).min(data.len().saturating_sub(1));
                let mut f = data.get(1..1 + len).unwrap_or(&[]).to_vec();
                data = data.get(1 + len..).unwrap_or(&[]);
                if op % 10 == 4 {
                    server.take(now, &mut f, &store);
                } else {
                    client.take(now, &mut f, &store);
                }
            }
            6 => {
                now = now + Duration::from_millis(u64::from(arg) * 100);
                server.link.handle_timeout(now);
                client.link.handle_timeout(now);
                server.check();
                client.check();
            }
            7 => {
                let ip = vec![0x45; usize::from(arg) * 6];
                let mut out = [0u8; 1600];
                for side in [&mut server, &mut client] {
                    if let Ok(n) = side.link.send_ip(now, &ip, &mut out) {
                        assert!(n <= out.len());
                        assert!(side.link.is_data_ready());
                    }
                }
            }
            8 => match arg % 4 {
                0 => server.link.close(now, EndReason::AdminClose),
                1 => client.link.lower_down(now),
                2 => {
                    if let Some(req) = server.pending.take() {
                        let v = if arg & 0x80 != 0 {
                            store.decide(&req)
                        } else {
                            Verdict::reject(FailureReason::Rejected { error_code: 691 })
                        };
                        let _ = server.link.verdict(now, v);
                    }
                }
                _ => client.link.close(now, EndReason::AdminClose),
            },
            _ => {
                // Tiny transmit buffers never overflow.
                server.transmit(now, &mut to_client, true);
                client.transmit(now, &mut to_server, true);
            }
        }
        server.events(now, pool_empty);
        client.events(now, false);
    }
});
