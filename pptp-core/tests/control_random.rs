//! Randomised sessions: a client and a server driven by random host
//! commands, clock jumps and (in the second test) corrupted or injected
//! bytes. Checks the safety invariants the fuzz target checks and, on a
//! clean wire, that both ends agree on which calls are up.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pptp_core::control::*;
use pptp_core::wire::control::MAX_MESSAGE_LEN;
use pptp_core::{Duration, Instant, Role};
use proptest::prelude::*;

const MAX_CALLS: usize = 3;
type Conn = Connection<MAX_CALLS>;

#[derive(Clone, Debug)]
enum Op {
    Place(bool, u16),
    Accept(bool, u16, u16),
    Reject(bool, u16),
    Clear(bool, u16),
    Sli(u16),
    Wen(u16),
    Close(bool),
    ClearAll(bool),
    Tick(u16),
    /// Bytes injected into one side's input (dirty test only).
    Inject(bool, Vec<u8>),
    /// Flip one byte of the next transmission (dirty test only).
    Corrupt(usize),
}

fn op(dirty: bool) -> BoxedStrategy<Op> {
    let id = 0u16..5;
    let clean = prop_oneof![
        4 => (any::<bool>(), id.clone()).prop_map(|(s, i)| Op::Place(s, i)),
        4 => (any::<bool>(), id.clone(), id.clone()).prop_map(|(s, p, l)| Op::Accept(s, p, l)),
        1 => (any::<bool>(), id.clone()).prop_map(|(s, i)| Op::Reject(s, i)),
        2 => (any::<bool>(), id.clone()).prop_map(|(s, i)| Op::Clear(s, i)),
        1 => id.clone().prop_map(Op::Sli),
        1 => id.clone().prop_map(Op::Wen),
        1 => any::<bool>().prop_map(Op::Close),
        1 => any::<bool>().prop_map(Op::ClearAll),
        2 => (0u16..150).prop_map(Op::Tick),
    ];
    if dirty {
        prop_oneof![
            8 => clean,
            1 => (any::<bool>(), proptest::collection::vec(any::<u8>(), 0..64))
                .prop_map(|(s, b)| Op::Inject(s, b)),
            1 => (0usize..400).prop_map(Op::Corrupt),
        ]
        .boxed()
    } else {
        clean.boxed()
    }
}

struct World {
    now: Instant,
    client: Conn,
    server: Conn,
    corrupt: Option<usize>,
    client_done: bool,
    server_done: bool,
}

impl World {
    fn new() -> Self {
        let now = Instant::ZERO;
        World {
            now,
            client: Connection::new(Role::Client, Config::default(), now),
            server: Connection::new(Role::Server, Config::default(), now),
            corrupt: None,
            client_done: false,
            server_done: false,
        }
    }

    fn side(&mut self, server: bool) -> &mut Conn {
        if server {
            &mut self.server
        } else {
            &mut self.client
        }
    }

    fn pump(&mut self) {
        let mut buf = [0u8; 2 * MAX_MESSAGE_LEN];
        for _ in 0..64 {
            let mut moved = false;
            for from_server in [false, true] {
                let now = self.now;
                while let Some(t) = self.side(from_server).poll_transmit(now, &mut buf) {
                    assert!(t.len <= buf.len());
                    moved = true;
                    if let Some(at) = self.corrupt.take() {
                        buf[at % t.len] ^= 0x5a;
                    }
                    let to = self.side(!from_server);
                    if !to.is_closed() {
                        let _ = to.handle_input(now, &buf[..t.len]);
                    }
                }
            }
            for server in [false, true] {
                let closed_before = if server {
                    self.server_done
                } else {
                    self.client_done
                };
                while let Some(e) = self.side(server).poll_event() {
                    assert!(!closed_before, "event after close: {e:?}");
                    moved = true;
                }
                if self.side(server).is_closed() {
                    if server {
                        self.server_done = true;
                    } else {
                        self.client_done = true;
                    }
                    assert_eq!(self.side(server).poll_timeout(), None);
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the two machines never went quiet");
    }

    fn apply(&mut self, op: &Op) {
        let now = self.now;
        match op.clone() {
            Op::Place(s, id) => {
                let _ = self.side(s).place_call(now, id, &CallParams::default());
            }
            Op::Accept(s, p, l) => {
                let _ = self.side(s).accept_call(now, p, l, &CallAccept::default());
            }
            Op::Reject(s, p) => {
                let _ = self.side(s).reject_call(now, p, CallRefusal::NoResource);
            }
            Op::Clear(s, id) => {
                let _ = self.side(s).clear_call(now, id);
            }
            Op::Sli(id) => {
                let _ = self.client.set_link_info(now, id, 0, !0);
            }
            Op::Wen(id) => {
                let _ = self.server.wan_error_notify(now, id, &WanErrors::default());
            }
            Op::Close(s) => {
                let _ = self.side(s).close(now);
            }
            Op::ClearAll(s) => {
                let _ = self.side(s).clear_all_calls(now);
            }
            Op::Tick(secs) => {
                // Run every timer on the way, as a host would.
                let end = now + Duration::from_secs(u64::from(secs));
                loop {
                    let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                        .into_iter()
                        .flatten()
                        .min();
                    match next {
                        Some(t) if t <= end => {
                            self.now = self.now.max(t);
                            let n = self.now;
                            self.client.handle_timeout(n);
                            self.server.handle_timeout(n);
                            self.pump();
                        }
                        _ => break,
                    }
                }
                self.now = end;
            }
            Op::Inject(s, bytes) => {
                let _ = self.side(s).handle_input(now, &bytes);
            }
            Op::Corrupt(at) => self.corrupt = Some(at),
        }
        self.pump();
        for c in [&self.client, &self.server] {
            assert!(c.call_count() <= MAX_CALLS);
            let mut ids: Vec<u16> = c.calls().filter_map(|s| s.local_call_id).collect();
            let n = ids.len();
            ids.sort_unstable();
            ids.dedup();
            assert_eq!(ids.len(), n, "local call IDs unique");
        }
    }

    /// Established calls agree: (client local, client peer) on one side is
    /// (server peer, server local) on the other.
    fn agree(&self) {
        if !(self.client.is_established() && self.server.is_established()) {
            return;
        }
        let mut c: Vec<(u16, u16)> = self
            .client
            .calls()
            .filter(|s| s.state == CallState::Established)
            .map(|s| (s.local_call_id.unwrap(), s.peer_call_id.unwrap()))
            .collect();
        let mut s: Vec<(u16, u16)> = self
            .server
            .calls()
            .filter(|s| s.state == CallState::Established)
            .map(|s| (s.peer_call_id.unwrap(), s.local_call_id.unwrap()))
            .collect();
        c.sort_unstable();
        s.sort_unstable();
        assert_eq!(c, s);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn clean_sessions_stay_consistent(ops in proptest::collection::vec(op(false), 1..60)) {
        let mut w = World::new();
        w.pump();
        prop_assert!(w.client.is_established() && w.server.is_established());
        for op in &ops {
            w.apply(op);
            w.agree();
        }
        // On a clean wire, nothing is ever malformed or lost.
        prop_assert_eq!(w.client.stats().dropped_malformed, 0);
        prop_assert_eq!(w.server.stats().dropped_malformed, 0);
        prop_assert_eq!(w.client.stats().dropped_queue_full, 0);
        prop_assert_eq!(w.server.stats().dropped_queue_full, 0);
    }

    #[test]
    fn dirty_sessions_never_break_invariants(ops in proptest::collection::vec(op(true), 1..60)) {
        let mut w = World::new();
        w.pump();
        for op in &ops {
            w.apply(op);
        }
    }
}

#[test]
fn harness_establishes_calls_it_checks() {
    // The consistency check above is only worth something if the random
    // operations do bring calls up: this fixed sequence does.
    let mut w = World::new();
    w.pump();
    w.apply(&Op::Place(false, 1));
    w.apply(&Op::Accept(true, 1, 2));
    w.apply(&Op::Place(true, 3));
    w.apply(&Op::Accept(false, 3, 4));
    w.agree();
    let up: Vec<_> = w
        .client
        .calls()
        .filter(|s| s.state == CallState::Established)
        .map(|s| (s.local_call_id, s.peer_call_id))
        .collect();
    assert_eq!(up, [(Some(1), Some(2)), (Some(4), Some(3))]);
    w.apply(&Op::Tick(300));
    w.agree();
    assert_eq!(w.client.call_count(), 2, "keepalive keeps calls up");
    w.apply(&Op::Close(true));
    assert!(w.client.is_closed() && w.server.is_closed());
}
