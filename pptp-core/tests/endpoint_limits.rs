//! What a peer can hold without a password (issue #14 item 2): control
//! connections per source, calls not yet up in total and per source, the
//! set-up time-out, the idle connection time-out. Peers here are bare
//! PPTP control connections (`pptp_core::control::Connection`) that place
//! calls and never run PPP, as the attacker in the issue did.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use std::net::Ipv4Addr;

use endpoint_support::*;
use pptp_core::control::{CallParams, Connection, Event as ControlEvent};
use pptp_core::endpoint::{
    AcceptError, ConnectionHandle, Destination, Event, Limits, ServerConfig, SessionEnd,
};
use pptp_core::time::Instant;
use pptp_core::Role;

/// A peer's control connection, as the server knows it.
struct Peer {
    conn: Connection<4>,
    handle: ConnectionHandle,
    up: Vec<u16>,
    refused: Vec<u16>,
    down: Vec<u16>,
    closed: bool,
}

struct Rig {
    server: Server,
    peers: Vec<Peer>,
    events: Vec<Event>,
    now: u64,
    next_call: u16,
}

impl Rig {
    fn new(config: ServerConfig, slots: usize) -> Self {
        Rig {
            server: Server::server(
                config,
                memory(slots, slots, slots),
                TestRandom(3),
                Some(users()),
            )
            .unwrap(),
            peers: Vec::new(),
            events: Vec::new(),
            now: 0,
            next_call: 100,
        }
    }

    fn instant(&self) -> Instant {
        Instant::from_millis(self.now)
    }

    /// A new control connection from `addr`, started up.
    fn connect(&mut self, addr: Ipv4Addr) -> Result<usize, AcceptError> {
        let handle = self.server.accept(self.instant(), addr)?;
        self.peers.push(Peer {
            conn: Connection::new(Role::Client, Default::default(), self.instant()),
            handle,
            up: Vec::new(),
            refused: Vec::new(),
            down: Vec::new(),
            closed: false,
        });
        self.pump();
        Ok(self.peers.len() - 1)
    }

    /// Peer `p` places a call.
    fn call(&mut self, p: usize) -> u16 {
        let id = self.next_call;
        self.next_call += 1;
        let now = self.instant();
        self.peers[p]
            .conn
            .place_call(now, id, &CallParams::default())
            .unwrap();
        self.pump();
        id
    }

    /// Moves TCP both ways until quiet; GRE from the server is ignored
    /// (these peers never run PPP).
    fn pump(&mut self) {
        let now = self.instant();
        let mut buf = vec![0u8; 4096];
        for _ in 0..64 {
            let mut progress = false;
            for p in &mut self.peers {
                while let Some(t) = p.conn.poll_transmit(now, &mut buf) {
                    progress = true;
                    let _ = self.server.handle_tcp(now, p.handle, &buf[..t.len]);
                }
            }
            while let Some(t) = self.server.poll_transmit(now, &mut buf) {
                progress = true;
                if let Destination::Tcp(h) = t.to {
                    if let Some(p) = self.peers.iter_mut().find(|p| p.handle == h) {
                        let _ = p.conn.handle_input(now, &buf[..t.len]);
                    }
                }
            }
            while let Some(e) = self.server.poll_event() {
                progress = true;
                if let Event::ConnectionClosed { connection } = e {
                    if let Some(p) = self.peers.iter_mut().find(|p| p.handle == connection) {
                        p.closed = true;
                    }
                }
                self.events.push(e);
            }
            for p in &mut self.peers {
                while let Some(ev) = p.conn.poll_event() {
                    progress = true;
                    match ev {
                        ControlEvent::CallUp(up) => p.up.push(up.local_call_id),
                        ControlEvent::CallDown(down) => {
                            if let Some(id) = down.local_call_id {
                                if p.up.contains(&id) {
                                    p.down.push(id);
                                } else {
                                    p.refused.push(id);
                                }
                            }
                        }
                        _ => {}
                    }
                }
            }
            if !progress {
                break;
            }
        }
    }

    /// Runs timers for `ms` milliseconds in 100 ms steps (the peers
    /// answer keepalives).
    fn run(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now < end {
            self.now += 100;
            let now = self.instant();
            self.server.handle_timeout(now);
            for p in &mut self.peers {
                p.conn.handle_timeout(now);
            }
            self.pump();
        }
    }
}

fn addr(n: u8) -> Ipv4Addr {
    Ipv4Addr::new(198, 51, 100, n)
}

fn config(limits: Limits) -> ServerConfig {
    let mut c = server_config();
    c.limits = limits;
    c
}

#[test]
fn connections_per_source_are_capped_and_come_back_when_closed() {
    let mut limits = Limits::default();
    limits.max_connections_per_source = 3;
    let mut rig = Rig::new(config(limits), 16);
    for _ in 0..3 {
        rig.connect(addr(1)).unwrap();
    }
    assert_eq!(rig.connect(addr(1)).unwrap_err(), AcceptError::SourceLimit);
    // Other sources are not affected.
    rig.connect(addr(2)).unwrap();
    assert_eq!(rig.server.stats().source_limit_refusals, 1);
    // One of addr(1)'s connections goes: room for one more.
    let h = rig.peers[0].handle;
    rig.server.handle_tcp_closed(rig.instant(), h);
    rig.connect(addr(1)).unwrap();
    assert_eq!(rig.connect(addr(1)).unwrap_err(), AcceptError::SourceLimit);
}

#[test]
fn calls_not_yet_up_are_capped_per_source_and_in_total() {
    let mut limits = Limits::default();
    limits.max_unauthenticated_per_source = 2;
    limits.max_unauthenticated = 5;
    let mut rig = Rig::new(config(limits), 32);
    // One source: two calls, the third refused (on a new connection too).
    let a = rig.connect(addr(1)).unwrap();
    let b = rig.connect(addr(1)).unwrap();
    rig.call(a);
    rig.call(a);
    let c = rig.call(b);
    assert_eq!(rig.peers[a].up.len(), 2);
    assert_eq!(rig.peers[b].refused, vec![c]);
    // Other sources fill the total of five; the sixth is refused.
    for n in 2..5 {
        let p = rig.connect(addr(n)).unwrap();
        rig.call(p);
        assert_eq!(rig.peers[p].up.len(), 1, "source {n}");
    }
    let p = rig.connect(addr(9)).unwrap();
    let id = rig.call(p);
    assert_eq!(rig.peers[p].refused, vec![id]);
    assert_eq!(rig.server.stats().unauthenticated_limit_refusals, 2);
    assert_eq!(rig.server.active_sessions(), 5);
}

#[test]
fn the_default_total_keeps_half_of_max_sessions_for_authenticated_users() {
    let mut limits = Limits::default();
    limits.max_unauthenticated_per_source = 0;
    let mut c = config(limits);
    c.max_sessions = 8;
    let mut rig = Rig::new(c, 32);
    let p = rig.connect(addr(1)).unwrap();
    let q = rig.connect(addr(1)).unwrap();
    for _ in 0..4 {
        rig.call(p);
    }
    rig.call(q);
    assert_eq!(rig.peers[p].up.len(), 4);
    assert_eq!(
        rig.peers[q].refused.len(),
        1,
        "4 of 8 unauthenticated at most"
    );
}

#[test]
fn a_call_that_never_comes_up_is_cleared_at_the_setup_timeout() {
    let mut rig = Rig::new(config(Limits::default()), 8);
    let p = rig.connect(addr(1)).unwrap();
    let id = rig.call(p);
    assert_eq!(rig.peers[p].up, vec![id]);
    assert_eq!(rig.server.unauthenticated_calls(), 1);
    rig.run(29_000);
    assert!(rig.peers[p].down.is_empty(), "not before 30 s");
    rig.run(2_000);
    assert_eq!(rig.peers[p].down, vec![id], "Call-Disconnect-Notify");
    assert!(rig.events.iter().any(|e| matches!(
        e,
        Event::SessionDown {
            reason: SessionEnd::SetupTimeout,
            ..
        }
    )));
    assert_eq!(rig.server.stats().setup_timeouts, 1);
    assert_eq!(rig.server.active_sessions(), 0);
    assert_eq!(rig.server.unauthenticated_calls(), 0);
    // The call's slot and its count are free again.
    let id = rig.call(p);
    assert_eq!(rig.peers[p].up.last(), Some(&id));
}

#[test]
fn a_connection_without_a_call_is_closed_even_if_it_answers_keepalives() {
    let mut rig = Rig::new(config(Limits::default()), 8);
    let p = rig.connect(addr(1)).unwrap();
    assert!(rig.peers[p].conn.is_established());
    rig.run(59_000);
    assert!(!rig.peers[p].closed);
    rig.run(10_000);
    assert!(rig.peers[p].conn.is_closed(), "Stop-Control-Connection");
    assert_eq!(rig.server.stats().idle_connections_closed, 1);
}
