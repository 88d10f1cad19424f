//! The endpoint against the machines wired by hand: a server built from
//! `Connection`, `GreSession`, `Link` and an `AddressPool` the way a host
//! wired them before the endpoint existed, drawing the same randomness in
//! the same order, must put the same octets on the wire as
//! `Endpoint::server` for the same client: every TCP octet, every GRE
//! datagram (sequence and acknowledgement numbers, MPPE ciphertext), and
//! deliver the same IP packets. Parking is off on both sides (parked and
//! full machines are compared octet for octet by their own twin tests).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use std::collections::VecDeque;

use endpoint_support::*;
use ppp_core::auth::CredentialStore;
use ppp_core::ipcp::AddressPool;
use ppp_core::link::{Entropy, Link, LinkEvent};
use pptp_core::control::{CallAccept, Connection, Event as ControlEvent};
use pptp_core::endpoint::{Destination, Endpoint, Outbound, Random, ServerConfig};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::time::Instant;
use pptp_core::wire::gre::HEADER_LEN_MAX;
use pptp_core::Role;

/// One transmit, by destination.
enum Out {
    Tcp(Vec<u8>),
    Gre(Vec<u8>),
    Ip(Vec<u8>),
}

/// What a server does with the same inputs, in either build.
trait ServerUnderTest {
    fn accept(&mut self, now: Instant);
    fn tcp(&mut self, now: Instant, bytes: &[u8]);
    fn gre(&mut self, now: Instant, datagram: &mut [u8]) -> Option<Vec<u8>>;
    fn send_ip(&mut self, now: Instant, packet: &[u8]) -> Option<Vec<u8>>;
    fn transmit(&mut self, now: Instant) -> Option<Out>;
    fn on_timeout(&mut self, now: Instant);
}

struct WithEndpoint {
    server: Server,
    conn: Option<pptp_core::endpoint::ConnectionHandle>,
}

impl ServerUnderTest for WithEndpoint {
    fn accept(&mut self, now: Instant) {
        self.conn = Some(self.server.accept(now, CLIENT_ADDR).unwrap());
    }
    fn tcp(&mut self, now: Instant, bytes: &[u8]) {
        let _ = self.server.handle_tcp(now, self.conn.unwrap(), bytes);
    }
    fn gre(&mut self, now: Instant, d: &mut [u8]) -> Option<Vec<u8>> {
        match self.server.handle_gre(now, CLIENT_ADDR, d) {
            Ok(Some(p)) => Some(d[p.range].to_vec()),
            _ => None,
        }
    }
    fn send_ip(&mut self, now: Instant, packet: &[u8]) -> Option<Vec<u8>> {
        let mut out = vec![0u8; 4096];
        let t = self
            .server
            .send_ip(now, &mut Outbound::new(packet), &mut out)
            .ok()??;
        Some(out[..t.len].to_vec())
    }
    fn transmit(&mut self, now: Instant) -> Option<Out> {
        let mut buf = vec![0u8; 4096];
        let t = self.server.poll_transmit(now, &mut buf)?;
        while self.server.poll_event().is_some() {}
        let bytes = buf[..t.len].to_vec();
        Some(match t.to {
            Destination::Tcp(_) => Out::Tcp(bytes),
            Destination::Gre(_) => Out::Gre(bytes),
            Destination::Ip(_) => Out::Ip(bytes),
        })
    }
    fn on_timeout(&mut self, now: Instant) {
        self.server.handle_timeout(now);
    }
}

/// The server as hosts wired it by hand.
struct HandWired {
    conn: Option<Connection<1>>,
    call: Option<(GreSession, Link)>,
    waiting: VecDeque<Vec<u8>>,
    pool: AddressPool<1024>,
    users: CredentialStore<8>,
    random: TestRandom,
    config: ServerConfig,
    /// The endpoint's slot count (its call IDs carry the slot).
    slots: u32,
}

impl HandWired {
    fn entropy(&mut self) -> Entropy {
        let mut b = [0u8; 21];
        self.random.fill_bytes(&mut b);
        let mut challenge = [0u8; 16];
        challenge.copy_from_slice(&b[4..20]);
        Entropy {
            magic: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            challenge,
            identifier: b[20],
        }
    }

    fn service(&mut self, now: Instant) {
        for _ in 0..16 {
            let mut progress = false;
            while let Some(ev) = self.conn.as_mut().and_then(|c| c.poll_event()) {
                progress = true;
                match ev {
                    ControlEvent::CallRequested(req) => {
                        let mut r = [0u8; 4];
                        self.random.fill_bytes(&mut r);
                        let choices = 65_535 / self.slots;
                        let id = (self.slots * (1 + u32::from_le_bytes(r) % choices)) as u16;
                        let accept = CallAccept {
                            recv_window_size: self.config.receive_window,
                            ..CallAccept::default()
                        };
                        self.conn
                            .as_mut()
                            .unwrap()
                            .accept_call(now, req.peer_call_id, id, &accept)
                            .unwrap();
                    }
                    ControlEvent::CallUp(up) => {
                        let entropy = self.entropy();
                        let mut link = Link::new(self.config.link.clone(), entropy);
                        link.open(now);
                        let mut gre =
                            GreConfig::new(up.local_call_id, up.peer_call_id, up.peer_recv_window);
                        gre.receive_window = self.config.receive_window;
                        self.call = Some((GreSession::new(gre), link));
                    }
                    _ => {}
                }
            }
            while let Some(ev) = self.call.as_mut().and_then(|(_, l)| l.poll_event()) {
                progress = true;
                let link = &mut self.call.as_mut().unwrap().1;
                match ev {
                    LinkEvent::ChallengeNeeded => {
                        let mut c = [0u8; 16];
                        self.random.fill_bytes(&mut c);
                        let link = &mut self.call.as_mut().unwrap().1;
                        link.feed_challenge(now, &c).unwrap();
                    }
                    LinkEvent::AddressNeeded => {
                        let a = self.pool.allocate().ok();
                        link.assign_peer_address(now, a);
                    }
                    _ => {}
                }
            }
            if !progress {
                return;
            }
        }
    }

    fn frame(&mut self, now: Instant, frame: &mut [u8]) -> Option<Vec<u8>> {
        let (_, link) = self.call.as_mut()?;
        let r = link.handle_frame_with(now, frame, &self.users);
        self.service(now);
        match r {
            Ok(Some(d)) => Some(frame[d.range()].to_vec()),
            _ => None,
        }
    }
}

impl ServerUnderTest for HandWired {
    fn accept(&mut self, now: Instant) {
        self.conn = Some(Connection::new(
            Role::Server,
            self.config.control.clone(),
            now,
        ));
    }
    fn tcp(&mut self, now: Instant, bytes: &[u8]) {
        let _ = self.conn.as_mut().unwrap().handle_input_partial(now, bytes);
        self.service(now);
    }
    fn gre(&mut self, now: Instant, d: &mut [u8]) -> Option<Vec<u8>> {
        let (gre, _) = self.call.as_mut()?;
        match gre.decapsulate(now, d) {
            Ok(Received::Deliver { payload, .. }) => self.frame(now, &mut d[payload]),
            _ => None,
        }
    }
    fn send_ip(&mut self, now: Instant, packet: &[u8]) -> Option<Vec<u8>> {
        let (gre, link) = self.call.as_mut()?;
        if !gre.can_send() {
            return None;
        }
        let mut out = vec![0u8; 4096];
        let n = link.send_ip(now, packet, &mut out[HEADER_LEN_MAX..]).ok()?;
        let range = gre.encapsulate_in_place(now, &mut out, n).ok()?;
        Some(out[range].to_vec())
    }
    fn transmit(&mut self, now: Instant) -> Option<Out> {
        let mut buf = vec![0u8; 4096];
        if let Some(t) = self
            .conn
            .as_mut()
            .and_then(|c| c.poll_transmit(now, &mut buf))
        {
            return Some(Out::Tcp(buf[..t.len].to_vec()));
        }
        // Held frames from the reorder buffer go to the link in order.
        while let Some(frame) = self
            .call
            .as_mut()
            .and_then(|(g, _)| g.poll_deliver().map(<[u8]>::to_vec))
        {
            let mut frame = frame;
            if let Some(ip) = self.frame(now, &mut frame) {
                return Some(Out::Ip(ip));
            }
        }
        let (gre, link) = self.call.as_mut()?;
        if gre.can_send() {
            if let Some(f) = self.waiting.pop_front() {
                let n = gre.encapsulate(now, &f, &mut buf).unwrap();
                return Some(Out::Gre(buf[..n].to_vec()));
            }
        }
        while let Some(t) = link.poll_transmit(now, &mut buf[HEADER_LEN_MAX..]) {
            if self.waiting.is_empty() && gre.can_send() {
                let range = gre.encapsulate_in_place(now, &mut buf, t.len).unwrap();
                return Some(Out::Gre(buf[range].to_vec()));
            }
            self.waiting
                .push_back(buf[HEADER_LEN_MAX..HEADER_LEN_MAX + t.len].to_vec());
        }
        if let Ok(Some(t)) = gre.poll_transmit(now, &mut buf) {
            return Some(Out::Gre(buf[..t.len].to_vec()));
        }
        None
    }
    fn on_timeout(&mut self, now: Instant) {
        if let Some(c) = self.conn.as_mut() {
            if c.poll_timeout().is_some_and(|t| t <= now) {
                c.handle_timeout(now);
            }
        }
        if let Some((g, l)) = self.call.as_mut() {
            g.handle_timeout(now);
            if l.poll_timeout().is_some_and(|t| t <= now) {
                l.handle_timeout(now);
            }
        }
        self.service(now);
    }
}

/// Everything a server put on the wire and delivered.
#[derive(Debug, Default, PartialEq, Eq)]
struct Trace {
    tcp: Vec<u8>,
    /// Each datagram with the millisecond it left: timing is behaviour too
    /// (ack delays, restart timers).
    gre: Vec<(u64, Vec<u8>)>,
    ip_to_host: Vec<Vec<u8>>,
    ip_to_client: Vec<Vec<u8>>,
}

/// One client against `server`: the session, then from 10 s on 30 IP
/// packets each way with every 7th GRE datagram to the server lost (the
/// reorder buffer and MPPE's resynchronisation at work), then keepalives
/// until 130 s.
fn run(server: &mut dyn ServerUnderTest) -> Trace {
    let mut client =
        Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut trace = Trace::default();
    let mut now = 0u64;
    let t = Instant::from_millis;
    server.accept(t(0));
    let cconn = client.connect(t(0), SERVER_ADDR).unwrap();
    let mut wire: VecDeque<(u64, bool, bool, Vec<u8>)> = VecDeque::new(); // (at, to_server, tcp, bytes)
    let mut buf = vec![0u8; 4096];
    let mut sent_to_server = 0u32;
    let mut packets_sent = 0u8;
    let mut peer = None;
    while now < 130_000 {
        // The documented host order: timers due now, then output.
        server.on_timeout(t(now));
        client.handle_timeout(t(now));
        // Outputs.
        while let Some(out) = server.transmit(t(now)) {
            match out {
                Out::Tcp(bytes) => {
                    trace.tcp.extend_from_slice(&bytes);
                    wire.push_back((now + 3, false, true, bytes));
                }
                Out::Gre(bytes) => {
                    trace.gre.push((now, bytes.clone()));
                    wire.push_back((now + 3, false, false, bytes));
                }
                Out::Ip(bytes) => trace.ip_to_host.push(bytes),
            }
        }
        while let Some(tx) = client.poll_transmit(t(now), &mut buf) {
            let bytes = buf[..tx.len].to_vec();
            match tx.to {
                Destination::Tcp(_) => wire.push_back((now + 3, true, true, bytes)),
                Destination::Gre(_) => {
                    sent_to_server += u32::from(now >= 10_000);
                    if sent_to_server % 7 != 0 || now < 10_000 {
                        wire.push_back((now + 3, true, false, bytes));
                    }
                }
                Destination::Ip(_) => trace.ip_to_client.push(bytes),
            }
        }
        while let Some(e) = client.poll_event() {
            if let pptp_core::endpoint::Event::SessionUp { address, .. } = e {
                peer = address;
            }
        }
        // Data once up: one packet each way every 200 ms.
        if let Some(p) = peer.filter(|_| packets_sent < 30 && now >= 10_000 && now % 200 == 0) {
            packets_sent += 1;
            let down = Pair::ip_packet(
                TUNNEL_LOCAL,
                p,
                200 + usize::from(packets_sent) * 20,
                packets_sent,
            );
            if let Some(d) = server.send_ip(t(now), &down) {
                trace.gre.push((now, d.clone()));
                wire.push_back((now + 3, false, false, d));
            }
            let up = Pair::ip_packet(p, TUNNEL_LOCAL, 600, packets_sent);
            let mut out = vec![0u8; 4096];
            if let Ok(Some(tx)) = client.send_ip(t(now), &mut Outbound::new(&up), &mut out) {
                sent_to_server += 1;
                if sent_to_server % 7 != 0 {
                    wire.push_back((now + 3, true, false, out[..tx.len].to_vec()));
                }
            }
        }
        // Deliveries due now.
        while let Some(pos) = wire.iter().position(|w| w.0 <= now) {
            let (_, to_server, tcp, mut bytes) = wire.remove(pos).unwrap();
            match (to_server, tcp) {
                (true, true) => server.tcp(t(now), &bytes),
                (true, false) => {
                    if let Some(ip) = server.gre(t(now), &mut bytes) {
                        trace.ip_to_host.push(ip);
                    }
                }
                (false, true) => {
                    let _ = client.handle_tcp(t(now), cconn, &bytes);
                }
                (false, false) => {
                    if let Ok(Some(p)) = client.handle_gre(t(now), SERVER_ADDR, &mut bytes) {
                        trace.ip_to_client.push(bytes[p.range].to_vec());
                    }
                }
            }
        }
        now += 1;
    }
    trace
}

#[test]
fn endpoint_and_hand_wired_server_put_the_same_octets_on_the_wire() {
    let mut config = server_config();
    config.parking = None;
    let mut with_endpoint = WithEndpoint {
        server: Endpoint::server(
            config.clone(),
            memory(8, 2, 2),
            TestRandom(1),
            Some(users()),
        )
        .unwrap(),
        conn: None,
    };
    let mut hand_wired = HandWired {
        conn: None,
        call: None,
        waiting: VecDeque::new(),
        pool: AddressPool::new(POOL.0, POOL.1).unwrap(),
        users: users(),
        random: TestRandom(1),
        config,
        slots: 8,
    };
    // The endpoint draws its per-source hash salt first (limits.rs).
    hand_wired.random.fill_bytes(&mut [0u8; 4]);
    // The endpoint draws its login throttle's hash key first.
    hand_wired.random.fill_bytes(&mut [0u8; 16]);
    let a = run(&mut with_endpoint);
    let b = run(&mut hand_wired);
    assert!(
        a.gre.len() > 60,
        "the session ran: {} GRE datagrams",
        a.gre.len()
    );
    assert!(
        a.ip_to_host.len() >= 20 && a.ip_to_client.len() >= 20,
        "{} / {}",
        a.ip_to_host.len(),
        a.ip_to_client.len()
    );
    assert_eq!(a.tcp, b.tcp, "control connection octets");
    for (i, (x, y)) in a.gre.iter().zip(&b.gre).enumerate() {
        assert_eq!(x, y, "GRE datagram {i}");
    }
    assert_eq!(a.gre.len(), b.gre.len());
    assert_eq!(a.ip_to_host, b.ip_to_host);
    assert_eq!(a.ip_to_client, b.ip_to_client);
}
