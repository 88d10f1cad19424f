//! Client and server control connections driven against each other in
//! memory with a fake clock.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pptp_core::control::*;
use pptp_core::wire::control::*;
use pptp_core::{Duration, Instant, Role};

type Conn = Connection<4>;

/// Two machines joined by an in-memory "TCP connection".
struct Pair {
    now: Instant,
    client: Conn,
    server: Conn,
    client_events: Vec<Event>,
    server_events: Vec<Event>,
    /// Every message each side put on the wire, parsed (type, bytes).
    client_sent: Vec<Vec<u8>>,
    server_sent: Vec<Vec<u8>>,
    /// If false, the server's output is lost (a peer that vanished).
    server_alive: bool,
    client_alive: bool,
}

fn split_messages(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut stream = ControlStream::new();
    let mut input = bytes;
    let mut out = Vec::new();
    while let Some(m) = stream.feed(&mut input).unwrap() {
        out.push(m.to_vec());
    }
    assert_eq!(
        stream.buffered(),
        0,
        "poll_transmit hands out whole messages"
    );
    out
}

fn types(sent: &[Vec<u8>]) -> Vec<MessageType> {
    sent.iter()
        .map(|m| ControlRepr::parse_bytes(m).unwrap().message_type())
        .collect()
}

impl Pair {
    fn new(client_config: Config, server_config: Config) -> Self {
        let now = Instant::from_millis(1_000);
        Pair {
            now,
            client: Connection::new(Role::Client, client_config, now),
            server: Connection::new(Role::Server, server_config, now),
            client_events: Vec::new(),
            server_events: Vec::new(),
            client_sent: Vec::new(),
            server_sent: Vec::new(),
            server_alive: true,
            client_alive: true,
        }
    }

    fn default() -> Self {
        Self::new(Config::default(), Config::default())
    }

    /// Moves bytes both ways and collects events until nothing moves.
    fn pump(&mut self) {
        let mut buf = [0u8; 512];
        loop {
            let mut moved = false;
            while let Some(t) = self.client.poll_transmit(self.now, &mut buf) {
                assert!(t.len <= buf.len());
                moved = true;
                self.client_sent.extend(split_messages(&buf[..t.len]));
                if self.client_alive && !self.server.is_closed() {
                    let _ = self.server.handle_input(self.now, &buf[..t.len]);
                }
            }
            while let Some(t) = self.server.poll_transmit(self.now, &mut buf) {
                moved = true;
                self.server_sent.extend(split_messages(&buf[..t.len]));
                if self.server_alive && !self.client.is_closed() {
                    let _ = self.client.handle_input(self.now, &buf[..t.len]);
                }
            }
            while let Some(e) = self.client.poll_event() {
                moved = true;
                self.client_events.push(e);
            }
            while let Some(e) = self.server.poll_event() {
                moved = true;
                self.server_events.push(e);
            }
            if !moved {
                break;
            }
        }
    }

    /// Advances the clock to `at` (running due timers on the way).
    fn advance_to(&mut self, at: Instant) {
        loop {
            self.pump();
            let next = [self.client.poll_timeout(), self.server.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= at => {
                    self.now = self.now.max(t);
                    self.client.handle_timeout(self.now);
                    self.server.handle_timeout(self.now);
                }
                _ => break,
            }
        }
        self.now = self.now.max(at);
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
        self.pump();
    }

    fn advance(&mut self, d: Duration) {
        let at = self.now + d;
        self.advance_to(at);
    }

    fn up(&mut self) {
        self.pump();
        assert!(matches!(
            self.client_events.as_slice(),
            [Event::TunnelUp(_)]
        ));
        assert!(matches!(
            self.server_events.as_slice(),
            [Event::TunnelUp(_)]
        ));
        assert!(self.client.is_established() && self.server.is_established());
        self.client_events.clear();
        self.server_events.clear();
    }

    /// Client places call `client_id`; the server accepts as `server_id`.
    fn call(&mut self, client_id: u16, server_id: u16) {
        self.client
            .place_call(self.now, client_id, &CallParams::default())
            .unwrap();
        self.pump();
        let request = match self.server_events.pop() {
            Some(Event::CallRequested(r)) => r,
            other => panic!("expected CallRequested, got {other:?}"),
        };
        assert_eq!(request.peer_call_id, client_id);
        self.server
            .accept_call(self.now, client_id, server_id, &CallAccept::default())
            .unwrap();
        self.pump();
    }
}

#[test]
fn set_up_call_sli_echo_clear_and_stop() {
    let host = Config {
        host_name: heapless::Vec::from_slice(b"PIX").unwrap(),
        vendor_string: heapless::Vec::from_slice(b"Cisco Systems").unwrap(),
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), host);
    p.pump();
    match p.client_events.as_slice() {
        [Event::TunnelUp(info)] => {
            assert_eq!(info.host_name.as_slice(), b"PIX");
            assert_eq!(info.vendor_string.as_slice(), b"Cisco Systems");
            assert_eq!(info.protocol_version, PROTOCOL_VERSION);
        }
        other => panic!("{other:?}"),
    }
    p.client_events.clear();
    p.server_events.clear();
    assert_eq!(
        types(&p.client_sent),
        [MessageType::StartControlConnectionRequest]
    );
    assert_eq!(
        types(&p.server_sent),
        [MessageType::StartControlConnectionReply]
    );

    // Call: OCRQ / OCRP.
    p.call(7, 42);
    let up = CallUp {
        local_call_id: 7,
        peer_call_id: 42,
        direction: CallDirection::Outgoing,
        peer_recv_window: 64,
        peer_processing_delay: 0,
        framing: FramingCapabilities::EITHER,
        bearer: BearerCapabilities::ANY,
        connect_speed: 64_000,
    };
    assert_eq!(p.client_events, [Event::CallUp(up)]);
    match p.server_events.as_slice() {
        [Event::CallUp(s)] => {
            assert_eq!((s.local_call_id, s.peer_call_id), (42, 7));
            assert_eq!(s.peer_recv_window, 16, "window from the client's OCRQ");
        }
        other => panic!("{other:?}"),
    }
    let snap = p.client.call(7).unwrap();
    assert_eq!(snap.state, CallState::Established);
    assert_eq!(snap.peer_call_id, Some(42));
    assert_eq!(snap.established_at, Some(p.now));
    p.client_events.clear();
    p.server_events.clear();

    // SLI from the client carries the server's call ID.
    p.client.set_link_info(p.now, 7, 0, 0xffff_ffff).unwrap();
    p.pump();
    assert_eq!(
        p.server_events,
        [Event::LinkInfo {
            local_call_id: 42,
            send_accm: 0,
            receive_accm: 0xffff_ffff
        }]
    );
    let sli = ControlRepr::parse_bytes(p.client_sent.last().unwrap()).unwrap();
    assert!(matches!(
        sli,
        ControlRepr::Sli(Sli {
            peer_call_id: 42,
            ..
        })
    ));
    assert_eq!(
        p.server.set_link_info(p.now, 42, 0, 0),
        Err(Error::WrongRole)
    );
    p.server_events.clear();

    // WEN from the server.
    let errors = WanErrors {
        crc_errors: 1,
        framing_errors: 2,
        hardware_overruns: 3,
        buffer_overruns: 4,
        timeout_errors: 5,
        alignment_errors: 6,
    };
    p.server.wan_error_notify(p.now, 42, &errors).unwrap();
    p.pump();
    assert_eq!(
        p.client_events,
        [Event::WanError {
            local_call_id: 7,
            errors
        }]
    );
    assert_eq!(
        p.client.wan_error_notify(p.now, 7, &errors),
        Err(Error::WrongRole)
    );
    p.client_events.clear();

    // Keepalive: 60 s of silence → both send Echo-Request, both answer.
    let before = p.client.stats().echo_requests_sent;
    p.advance(Duration::from_secs(60));
    assert_eq!(p.client.stats().echo_requests_sent, before + 1);
    assert_eq!(p.client.stats().echo_replies_received, before + 1);
    assert_eq!(p.client.stats().last_echo_rtt, Some(Duration::ZERO));
    assert!(p.server.stats().echo_requests_received >= 1);
    assert!(p.client.is_established());
    assert!(p.client_events.is_empty() && p.server_events.is_empty());

    // Clear the call from the client: CCRQ, CDN (result 4, Request).
    p.client.clear_call(p.now, 7).unwrap();
    p.pump();
    assert_eq!(
        types(&p.client_sent[p.client_sent.len() - 1..]),
        [MessageType::CallClearRequest]
    );
    let cdn = ControlRepr::parse_bytes(p.server_sent.last().unwrap()).unwrap();
    assert!(matches!(
        cdn,
        ControlRepr::Cdn(Cdn {
            call_id: 42,
            result: DisconnectResult::Request,
            ..
        })
    ));
    assert!(matches!(
        p.client_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: Some(7),
            peer_call_id: Some(42),
            reason: CallDownReason::Disconnected {
                result: DisconnectResult::Request,
                ..
            }
        })]
    ));
    assert!(matches!(
        p.server_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: Some(42),
            reason: CallDownReason::ClearRequested,
            ..
        })]
    ));
    assert_eq!(p.client.call_count(), 0);
    assert_eq!(p.server.call_count(), 0);
    p.client_events.clear();
    p.server_events.clear();

    // Stop from the client.
    p.client.close(p.now).unwrap();
    p.pump();
    assert_eq!(
        types(&p.client_sent[p.client_sent.len() - 1..]),
        [MessageType::StopControlConnectionRequest]
    );
    assert_eq!(
        types(&p.server_sent[p.server_sent.len() - 1..]),
        [MessageType::StopControlConnectionReply]
    );
    assert_eq!(
        p.client_events,
        [Event::TunnelDown(TunnelDownReason::Local)]
    );
    assert_eq!(
        p.server_events,
        [Event::TunnelDown(TunnelDownReason::PeerStopped(
            StopReason::None
        ))]
    );
    assert!(p.client.is_closed() && p.server.is_closed());
    assert_eq!(p.client.poll_timeout(), None);
    // Counters agree with what went over the wire.
    let c = *p.client.stats();
    let s = *p.server.stats();
    assert_eq!(c.messages_out as usize, p.client_sent.len());
    assert_eq!(s.messages_in as usize, p.client_sent.len());
    assert_eq!(c.bytes_out, s.bytes_in);
    assert_eq!(s.bytes_out, c.bytes_in);
    assert_eq!(c.calls_established, 1);
}

#[test]
fn close_with_calls_clears_each_call_first() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 101);
    p.call(2, 102);
    p.client_events.clear();
    p.server_events.clear();
    let sent_before = p.client_sent.len();
    p.client.close(p.now).unwrap();
    p.pump();
    assert_eq!(
        types(&p.client_sent[sent_before..]),
        [
            MessageType::CallClearRequest,
            MessageType::CallClearRequest,
            MessageType::StopControlConnectionRequest
        ]
    );
    let downs = p
        .client_events
        .iter()
        .filter(|e| matches!(e, Event::CallDown(_)))
        .count();
    assert_eq!(downs, 2);
    assert_eq!(
        p.client_events.last(),
        Some(&Event::TunnelDown(TunnelDownReason::Local))
    );
    assert!(p.client.is_closed() && p.server.is_closed());
}

#[test]
fn server_clears_tunnel_with_cdns_then_stop() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 101);
    p.call(2, 102);
    p.client_events.clear();
    p.server_events.clear();
    let sent_before = p.server_sent.len();
    // The PIX's `clear vpdn tunnel`: CDN (Admin Shutdown) per call, StopCCRQ.
    p.server.close(p.now).unwrap();
    p.pump();
    assert_eq!(
        types(&p.server_sent[sent_before..]),
        [
            MessageType::CallDisconnectNotify,
            MessageType::CallDisconnectNotify,
            MessageType::StopControlConnectionRequest
        ]
    );
    for e in &p.client_events[..2] {
        assert!(matches!(
            e,
            Event::CallDown(CallDown {
                reason: CallDownReason::Disconnected {
                    result: DisconnectResult::AdminShutdown,
                    ..
                },
                ..
            })
        ));
    }
    assert_eq!(
        p.client_events.last(),
        Some(&Event::TunnelDown(TunnelDownReason::PeerStopped(
            StopReason::None
        )))
    );
    assert!(p.client.is_closed() && p.server.is_closed());
}

#[test]
fn server_clears_one_call() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 101);
    p.client_events.clear();
    p.server.clear_call(p.now, 101).unwrap();
    p.pump();
    assert!(matches!(
        p.client_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: Some(1),
            reason: CallDownReason::Disconnected {
                result: DisconnectResult::AdminShutdown,
                ..
            },
            ..
        })]
    ));
    assert_eq!(
        p.server.clear_call(p.now, 101),
        Err(Error::UnknownCall(101))
    );
    assert!(p.client.is_established() && p.server.is_established());
}

#[test]
fn incoming_call_flow_icrq_icrp_iccn() {
    let mut p = Pair::default();
    p.up();
    let params = CallParams {
        phone_number: b"5551",
        dialing_number: b"5552",
        bearer: BearerCapabilities::ANALOG,
        framing: FramingCapabilities::ASYNC,
        connect_speed: 33_600,
        recv_window_size: 32,
        ..CallParams::default()
    };
    p.server.place_call(p.now, 500, &params).unwrap();
    p.pump();
    let request = match p.client_events.pop() {
        Some(Event::CallRequested(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(request.direction, CallDirection::Incoming);
    assert_eq!(request.phone_number.as_slice(), b"5551");
    assert_eq!(request.dialing_number.as_slice(), b"5552");
    assert_eq!(p.client.call_count(), 1);
    p.client
        .accept_call(p.now, 500, 9, &CallAccept::default())
        .unwrap();
    assert_eq!(p.client.call(9).unwrap().state, CallState::WaitConnect);
    p.pump();
    assert_eq!(
        types(&p.server_sent[p.server_sent.len() - 2..]),
        [
            MessageType::IncomingCallRequest,
            MessageType::IncomingCallConnected
        ]
    );
    let client_up = match p.client_events.as_slice() {
        [Event::CallUp(up)] => *up,
        other => panic!("{other:?}"),
    };
    assert_eq!(
        client_up,
        CallUp {
            local_call_id: 9,
            peer_call_id: 500,
            direction: CallDirection::Incoming,
            peer_recv_window: 32,
            peer_processing_delay: 0,
            framing: FramingCapabilities::ASYNC,
            bearer: BearerCapabilities::ANALOG,
            connect_speed: 33_600,
        }
    );
    match p.server_events.as_slice() {
        [Event::CallUp(up)] => {
            assert_eq!((up.local_call_id, up.peer_call_id), (500, 9));
            assert_eq!(up.peer_recv_window, 64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn refused_incoming_call() {
    let mut p = Pair::default();
    p.up();
    p.server
        .place_call(p.now, 500, &CallParams::default())
        .unwrap();
    p.pump();
    p.client
        .reject_call(p.now, 500, CallRefusal::DoNotAccept)
        .unwrap();
    p.pump();
    assert!(matches!(
        p.server_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: Some(500),
            reason: CallDownReason::IncomingRefused {
                result: IncomingCallResult::DoNotAccept,
                ..
            },
            ..
        })]
    ));
    assert_eq!(p.client.call_count(), 0);
}

#[test]
fn refused_call_past_the_limit_and_by_the_host() {
    // The client must survive its unanswered CCRQ below.
    let lenient = Config {
        close_on_call_timeout: false,
        ..Config::default()
    };
    let mut p = Pair::new(lenient, Config::default());
    p.up();
    // Fill the server's table (4 calls) from a client with a bigger one.
    for i in 0..4 {
        p.call(10 + i, 100 + i);
    }
    assert_eq!(p.server.call_count(), 4);
    // The client's own table is full too: a typed error, nothing sent.
    assert_eq!(
        p.client.place_call(p.now, 99, &CallParams::default()),
        Err(Error::TooManyCalls)
    );
    // Drop one on the client side only, then place a fifth call: the
    // server refuses it with General Error / No-Resource.
    p.client.clear_call(p.now, 10).unwrap();
    p.client_alive = false; // lose the CCRQ so the server keeps 4 calls
    p.pump();
    p.client_alive = true;
    p.client_events.clear();
    p.server_events.clear();
    let refused_before = p.server.stats().calls_refused;
    // Client's call 10 is waiting for a CDN; it still occupies a slot.
    p.advance(Duration::from_secs(61));
    p.client_events.clear();
    p.server_events.clear();
    assert_eq!(p.client.call_count(), 3);
    p.client
        .place_call(p.now, 20, &CallParams::default())
        .unwrap();
    p.pump();
    let ocrp = ControlRepr::parse_bytes(p.server_sent.last().unwrap()).unwrap();
    assert_eq!(
        ocrp,
        ControlRepr::Ocrp(Ocrp {
            call_id: 0,
            peer_call_id: 20,
            result: OutgoingCallResult::GeneralError,
            error: GeneralError::NoResource,
            cause_code: 0,
            connect_speed: 0,
            packet_recv_window_size: 0,
            packet_processing_delay: 0,
            physical_channel_id: 0,
        })
    );
    assert_eq!(p.server.stats().calls_refused, refused_before + 1);
    assert!(
        p.server_events.is_empty(),
        "host not bothered: {:?}",
        p.server_events
    );
    assert!(matches!(
        p.client_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: Some(20),
            reason: CallDownReason::OutgoingRefused {
                result: OutgoingCallResult::GeneralError,
                error: GeneralError::NoResource,
                ..
            },
            ..
        })]
    ));
}

#[test]
fn host_rejects_call() {
    let mut p = Pair::default();
    p.up();
    p.client
        .place_call(p.now, 3, &CallParams::default())
        .unwrap();
    p.pump();
    assert!(matches!(
        p.server_events.as_slice(),
        [Event::CallRequested(_)]
    ));
    p.server
        .reject_call(p.now, 3, CallRefusal::DoNotAccept)
        .unwrap();
    p.pump();
    assert!(matches!(
        p.client_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: Some(3),
            reason: CallDownReason::OutgoingRefused {
                result: OutgoingCallResult::DoNotAccept,
                ..
            },
            ..
        })]
    ));
    assert_eq!(
        p.server.reject_call(p.now, 3, CallRefusal::NoResource),
        Err(Error::UnknownCall(3))
    );
}

#[test]
fn host_that_never_answers_gets_ocrp_timeout() {
    // The server waits 30 s (host_answer_timeout) for its host, less than
    // the client's 60 s reply timeout.
    let mut p = Pair::default();
    p.up();
    p.client
        .place_call(p.now, 3, &CallParams::default())
        .unwrap();
    p.pump();
    p.server_events.clear();
    p.advance(Duration::from_secs(30));
    assert!(matches!(
        p.client_events.as_slice(),
        [Event::CallDown(CallDown {
            reason: CallDownReason::OutgoingRefused {
                result: OutgoingCallResult::TimeOut,
                ..
            },
            ..
        })]
    ));
    assert!(matches!(
        p.server_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: None,
            peer_call_id: Some(3),
            reason: CallDownReason::Timeout
        })]
    ));
}

#[test]
fn duplicate_host_call_ids_are_typed_errors() {
    let mut p = Pair::default();
    p.up();
    p.call(5, 50);
    assert_eq!(
        p.client.place_call(p.now, 5, &CallParams::default()),
        Err(Error::DuplicateCallId(5))
    );
    p.client
        .place_call(p.now, 6, &CallParams::default())
        .unwrap();
    p.pump();
    assert_eq!(
        p.server.accept_call(p.now, 6, 50, &CallAccept::default()),
        Err(Error::DuplicateCallId(50))
    );
    // The request is still pending and can be accepted with a fresh ID.
    p.server
        .accept_call(p.now, 6, 51, &CallAccept::default())
        .unwrap();
    p.pump();
    assert_eq!(p.client.call(6).unwrap().peer_call_id, Some(51));
}

#[test]
fn peer_reusing_a_call_id_is_refused_with_bad_call_id() {
    let mut p = Pair::default();
    p.up();
    p.call(5, 50);
    // Hand-craft a second OCRQ with call ID 5 into the server.
    let mut buf = [0u8; 220];
    let n = ControlRepr::Ocrq(Ocrq {
        call_id: 5,
        call_serial_number: 0,
        minimum_bps: 0,
        maximum_bps: 0,
        bearer_type: BearerCapabilities::ANY,
        framing_type: FramingCapabilities::EITHER,
        packet_recv_window_size: 8,
        packet_processing_delay: 0,
        phone_number_length: 0,
        phone_number: b"",
        subaddress: b"",
    })
    .emit(&mut buf)
    .unwrap();
    let dropped = p.server.stats().dropped_unexpected;
    p.server.handle_input(p.now, &buf[..n]).unwrap();
    let mut out = [0u8; 512];
    // Issue #14: exactly one answer per call ID: the duplicate gets none
    // (a Bad-Call ID refusal next to the call's acceptance could make the
    // peer clear the call it has).
    assert!(p.server.poll_transmit(p.now, &mut out).is_none());
    assert!(p.server.poll_event().is_none());
    assert_eq!(p.server.stats().dropped_unexpected, dropped + 1);
    assert_eq!(p.server.call_count(), 1);
}

#[test]
fn echo_timeout_tears_down() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 2);
    p.client_events.clear();
    p.server_events.clear();
    // The server stops answering (its output is lost) but still hears us.
    p.server_alive = false;
    let start = p.now;
    p.advance(Duration::from_secs(119));
    assert!(p.client.is_established(), "60 s idle + 60 s echo wait");
    p.advance(Duration::from_secs(1));
    assert_eq!(p.now - start, Duration::from_secs(120));
    assert_eq!(
        p.client_events,
        [
            Event::EchoTimeout,
            Event::CallDown(CallDown {
                local_call_id: Some(1),
                peer_call_id: Some(2),
                reason: CallDownReason::TunnelDown
            }),
            Event::TunnelDown(TunnelDownReason::EchoTimeout)
        ]
    );
    assert!(p.client.is_closed());
    assert_eq!(p.client.stats().echo_requests_sent, 1);
    assert_eq!(p.client.stats().echo_replies_received, 0);
}

#[test]
fn configurable_keepalive() {
    let config = Config {
        echo_interval: Duration::from_secs(10),
        echo_timeout: Duration::from_secs(5),
        ..Config::default()
    };
    let mut p = Pair::new(config.clone(), config);
    p.up();
    p.server_alive = false;
    p.client_alive = false;
    let start = p.now;
    p.advance(Duration::from_secs(30));
    assert_eq!(
        p.client_events.last(),
        Some(&Event::TunnelDown(TunnelDownReason::EchoTimeout))
    );
    assert!(p.client.is_closed() && p.server.is_closed());
    let _ = start;
}

#[test]
fn peer_that_vanishes_during_setup_and_calls() {
    // No SCCRP at all: start-up times out after 60 s.
    let mut p = Pair::default();
    p.server_alive = false;
    p.advance(Duration::from_secs(59));
    assert!(!p.client.is_closed());
    p.advance(Duration::from_secs(1));
    assert_eq!(
        p.client_events,
        [Event::TunnelDown(TunnelDownReason::Timeout)]
    );
    assert!(p.client.is_closed());

    // A server whose client never sends SCCRQ also gives up.
    let mut lonely: Conn = Connection::new(Role::Server, Config::default(), Instant::ZERO);
    assert_eq!(lonely.poll_timeout(), Some(Instant::from_millis(60_000)));
    lonely.handle_timeout(Instant::from_millis(60_000));
    assert_eq!(
        lonely.poll_event(),
        Some(Event::TunnelDown(TunnelDownReason::Timeout))
    );
    assert!(lonely.is_closed());

    // No OCRP, RFC 2637 §3.0 default: the call times out and the control
    // connection closes with a StopCCRQ.
    let mut p = Pair::default();
    p.up();
    p.server_alive = false;
    p.client
        .place_call(p.now, 1, &CallParams::default())
        .unwrap();
    p.advance(Duration::from_secs(60));
    assert_eq!(
        p.client_events,
        [
            Event::CallDown(CallDown {
                local_call_id: Some(1),
                peer_call_id: None,
                reason: CallDownReason::Timeout
            }),
            Event::TunnelDown(TunnelDownReason::Timeout)
        ]
    );
    assert_eq!(
        types(&p.client_sent[p.client_sent.len() - 2..]),
        [
            MessageType::CallClearRequest,
            MessageType::StopControlConnectionRequest
        ]
    );
    assert!(p.client.is_closed());

    // No OCRP with close_on_call_timeout = false: only the call ends, and
    // the client sends CCRQ so the server forgets it too.
    let lenient = Config {
        close_on_call_timeout: false,
        ..Config::default()
    };
    let mut p = Pair::new(lenient, Config::default());
    p.up();
    p.server_alive = false;
    p.client
        .place_call(p.now, 1, &CallParams::default())
        .unwrap();
    p.advance(Duration::from_secs(60));
    assert!(p.client_events.iter().any(|e| matches!(
        e,
        Event::CallDown(CallDown {
            local_call_id: Some(1),
            reason: CallDownReason::Timeout,
            ..
        })
    )));
    assert_eq!(
        types(&p.client_sent[p.client_sent.len() - 1..]),
        [MessageType::CallClearRequest]
    );
    assert!(p.client.is_established());

    // No StopCCRP: close completes after the reply timeout.
    let mut p = Pair::default();
    p.up();
    p.server_alive = false;
    p.client.close(p.now).unwrap();
    p.advance(Duration::from_secs(60));
    assert_eq!(
        p.client_events,
        [Event::TunnelDown(TunnelDownReason::Timeout)]
    );
    assert!(p.client.is_closed());
}

#[test]
fn sccrq_collision_on_one_connection() {
    // Both ends initiate on the same connection; the server's side has the
    // higher address, so it ignores the client's SCCRQ and the client
    // answers the server's.
    let client_config = Config {
        local_address_is_higher: false,
        ..Config::default()
    };
    let server_config = Config {
        start: StartMode::Initiate,
        local_address_is_higher: true,
        ..Config::default()
    };
    let mut p = Pair::new(client_config, server_config);
    p.pump();
    assert!(p.client.is_established() && p.server.is_established());
    assert_eq!(
        types(&p.client_sent),
        [
            MessageType::StartControlConnectionRequest,
            MessageType::StartControlConnectionReply
        ]
    );
    assert_eq!(
        types(&p.server_sent),
        [MessageType::StartControlConnectionRequest]
    );
    assert_eq!(p.server.stats().dropped_unexpected, 1);
}

#[test]
fn sccrq_collision_across_two_connections() {
    let now = Instant::ZERO;
    // We (higher address) opened A; the peer opened B at the same time.
    let mut a: Conn = Connection::new(
        Role::Client,
        Config {
            start: StartMode::Initiate,
            ..Config::default()
        },
        now,
    );
    let mut b: Conn = Connection::new(
        Role::Client,
        Config {
            start: StartMode::Listen,
            ..Config::default()
        },
        now,
    );
    let mut peer_b: Conn = Connection::new(
        Role::Server,
        Config {
            start: StartMode::Initiate,
            ..Config::default()
        },
        now,
    );
    let mut buf = [0u8; 512];
    let t = peer_b.poll_transmit(now, &mut buf).unwrap();
    b.handle_input(now, &buf[..t.len]).unwrap();
    // Winner: keeps A, sends nothing on B.
    a.handle_collision(now, true);
    b.handle_collision(now, true);
    assert!(!a.is_closed());
    assert!(b.is_closed());
    assert_eq!(b.poll_transmit(now, &mut buf), None, "nothing sent on B");
    let events: Vec<_> = core::iter::from_fn(|| b.poll_event()).collect();
    assert_eq!(
        events.last(),
        Some(&Event::TunnelDown(TunnelDownReason::Collision))
    );

    // Loser: closes A silently, answers on B.
    let mut a: Conn = Connection::new(Role::Client, Config::default(), now);
    let mut b: Conn = Connection::new(
        Role::Client,
        Config {
            start: StartMode::Listen,
            ..Config::default()
        },
        now,
    );
    let mut peer_b: Conn = Connection::new(
        Role::Server,
        Config {
            start: StartMode::Initiate,
            ..Config::default()
        },
        now,
    );
    let t = peer_b.poll_transmit(now, &mut buf).unwrap();
    b.handle_input(now, &buf[..t.len]).unwrap();
    a.handle_collision(now, false);
    b.handle_collision(now, false);
    assert!(a.is_closed());
    assert_eq!(a.poll_transmit(now, &mut buf), None, "SCCRQ on A withdrawn");
    let t = b.poll_transmit(now, &mut buf).unwrap();
    assert!(matches!(
        ControlRepr::parse_bytes(&buf[..t.len]).unwrap(),
        ControlRepr::Sccrp(Sccrp {
            result: StartControlResult::Ok,
            ..
        })
    ));
    assert!(b.is_established());
}

#[test]
fn bad_cookie_closes_the_connection() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 2);
    p.server_events.clear();
    let mut junk = [0u8; 16];
    junk[..2].copy_from_slice(&16u16.to_be_bytes());
    junk[2..4].copy_from_slice(&1u16.to_be_bytes());
    junk[4..8].copy_from_slice(&0x1a2b_3c4cu32.to_be_bytes());
    assert_eq!(
        p.server.handle_input(p.now, &junk),
        Err(Error::Wire(WireError::BadMagicCookie(0x1a2b_3c4c)))
    );
    assert!(p.server.is_closed());
    let events: Vec<_> = core::iter::from_fn(|| p.server.poll_event()).collect();
    assert_eq!(
        events,
        [
            Event::CallDown(CallDown {
                local_call_id: Some(2),
                peer_call_id: Some(1),
                reason: CallDownReason::TunnelDown
            }),
            Event::TunnelDown(TunnelDownReason::ProtocolError(WireError::BadMagicCookie(
                0x1a2b_3c4c
            )))
        ]
    );
    let mut buf = [0u8; 512];
    assert_eq!(p.server.poll_transmit(p.now, &mut buf), None);
    assert_eq!(p.server.handle_input(p.now, &junk), Err(Error::Closed));
    assert_eq!(p.server.poll_event(), None, "no events after closed");
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn unknown_and_malformed_messages_in_established_state_are_dropped_if_configured() {
    let lenient = Config {
        close_on_malformed: false,
        ..Config::default()
    };
    let mut p = Pair::new(Config::default(), lenient);
    p.up();
    // Control type 99 with a sane length, then a PPTP management message,
    // then an Echo-Request of the wrong length: all dropped, connection up.
    let mut odd = [0u8; 20];
    odd[..2].copy_from_slice(&20u16.to_be_bytes());
    odd[2..4].copy_from_slice(&1u16.to_be_bytes());
    odd[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    odd[8..10].copy_from_slice(&99u16.to_be_bytes());
    let mut mgmt = odd;
    mgmt[2..4].copy_from_slice(&2u16.to_be_bytes());
    mgmt[8..10].copy_from_slice(&5u16.to_be_bytes());
    let mut long_echo = odd;
    long_echo[8..10].copy_from_slice(&5u16.to_be_bytes());
    for m in [odd, mgmt, long_echo] {
        p.server.handle_input(p.now, &m).unwrap();
    }
    assert_eq!(p.server.stats().dropped_malformed, 3);
    assert!(p.server.is_established());
    // An unexpected but valid message (SCCRP while established).
    let mut buf = [0u8; 220];
    let n = ControlRepr::Sccrp(Sccrp {
        protocol_version: PROTOCOL_VERSION,
        result: StartControlResult::Ok,
        error: GeneralError::None,
        framing_capabilities: FramingCapabilities::ASYNC,
        bearer_capabilities: BearerCapabilities::ANALOG,
        maximum_channels: 0,
        firmware_revision: 0,
        host_name: b"",
        vendor_string: b"",
    })
    .emit(&mut buf)
    .unwrap();
    p.server.handle_input(p.now, &buf[..n]).unwrap();
    assert_eq!(p.server.stats().dropped_unexpected, 1);
    // The connection still works.
    p.call(1, 2);
    assert!(matches!(p.client_events.as_slice(), [Event::CallUp(_)]));
}

#[test]
fn bad_version_gets_sccrp_result_5() {
    let mut server: Conn = Connection::new(Role::Server, Config::default(), Instant::ZERO);
    let mut buf = [0u8; 220];
    let n = ControlRepr::Sccrq(Sccrq {
        protocol_version: 0x0200,
        framing_capabilities: FramingCapabilities::ASYNC,
        bearer_capabilities: BearerCapabilities::ANALOG,
        maximum_channels: 0,
        firmware_revision: 0,
        host_name: b"",
        vendor_string: b"",
    })
    .emit(&mut buf)
    .unwrap();
    server.handle_input(Instant::ZERO, &buf[..n]).unwrap();
    assert!(!server.is_closed(), "the reply is still to be sent");
    let t = server.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    match ControlRepr::parse_bytes(&buf[..t.len]).unwrap() {
        ControlRepr::Sccrp(r) => {
            assert_eq!(r.result, StartControlResult::BadVersion);
            assert_eq!(r.protocol_version, PROTOCOL_VERSION);
        }
        other => panic!("{other:?}"),
    }
    assert!(server.is_closed());
    assert_eq!(
        server.poll_event(),
        Some(Event::TunnelDown(TunnelDownReason::VersionMismatch(0x0200)))
    );
}

#[test]
fn malformed_sccrq_gets_bad_format() {
    let mut server: Conn = Connection::new(Role::Server, Config::default(), Instant::ZERO);
    let mut bad = [0u8; 24];
    bad[..2].copy_from_slice(&24u16.to_be_bytes());
    bad[2..4].copy_from_slice(&1u16.to_be_bytes());
    bad[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    bad[8..10].copy_from_slice(&1u16.to_be_bytes());
    server.handle_input(Instant::ZERO, &bad).unwrap();
    let mut buf = [0u8; 220];
    let t = server.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    match ControlRepr::parse_bytes(&buf[..t.len]).unwrap() {
        ControlRepr::Sccrp(r) => {
            assert_eq!(r.result, StartControlResult::GeneralError);
            assert_eq!(r.error, GeneralError::BadFormat);
        }
        other => panic!("{other:?}"),
    }
    assert!(server.is_closed());
}

#[test]
fn refused_sccrp_brings_tunnel_down() {
    let mut client: Conn = Connection::new(Role::Client, Config::default(), Instant::ZERO);
    let mut buf = [0u8; 220];
    let n = ControlRepr::Sccrp(Sccrp {
        protocol_version: PROTOCOL_VERSION,
        result: StartControlResult::NotAuthorized,
        error: GeneralError::None,
        framing_capabilities: FramingCapabilities::ASYNC,
        bearer_capabilities: BearerCapabilities::ANALOG,
        maximum_channels: 0,
        firmware_revision: 0,
        host_name: b"",
        vendor_string: b"",
    })
    .emit(&mut buf)
    .unwrap();
    client.handle_input(Instant::ZERO, &buf[..n]).unwrap();
    assert_eq!(
        client.poll_event(),
        Some(Event::TunnelDown(TunnelDownReason::PeerRefused {
            result: StartControlResult::NotAuthorized,
            error: GeneralError::None
        }))
    );
    assert!(client.is_closed());
}

#[test]
fn commands_before_setup_and_after_close() {
    let mut p = Pair::default();
    assert_eq!(
        p.client.place_call(p.now, 1, &CallParams::default()),
        Err(Error::NotEstablished)
    );
    p.up();
    let long = [b'1'; 65];
    assert_eq!(
        p.client.place_call(
            p.now,
            1,
            &CallParams {
                phone_number: &long,
                ..CallParams::default()
            }
        ),
        Err(Error::FieldTooLong("phone_number"))
    );
    p.client.close(p.now).unwrap();
    p.pump();
    assert_eq!(
        p.client.place_call(p.now, 1, &CallParams::default()),
        Err(Error::Closed)
    );
    assert_eq!(p.client.close(p.now), Err(Error::Closed));
}

#[test]
fn small_transmit_buffer_leaves_message_queued() {
    let mut client: Conn = Connection::new(Role::Client, Config::default(), Instant::ZERO);
    let mut small = [0u8; 100];
    assert_eq!(client.pending_transmit_len(), Some(156));
    assert_eq!(client.poll_transmit(Instant::ZERO, &mut small), None);
    assert!(small.iter().all(|&b| b == 0), "nothing written");
    let mut buf = [0u8; 156];
    assert_eq!(
        client.poll_transmit(Instant::ZERO, &mut buf),
        Some(Transmit::new(156))
    );
}

#[test]
fn outbound_queue_is_bounded() {
    let mut p = Pair::default();
    p.up();
    // Flood the server with Echo-Requests without draining its output.
    let mut echo = [0u8; 16];
    let n = ControlRepr::EchoRequest(EchoRequest { identifier: 1 })
        .emit(&mut echo)
        .unwrap();
    let mut flood = Vec::new();
    for _ in 0..(OUTBOUND_QUEUE + 10) {
        flood.extend_from_slice(&echo[..n]);
    }
    p.server.handle_input(p.now, &flood).unwrap();
    assert_eq!(p.server.stats().dropped_queue_full, 10);
    // A host command now gets QueueFull on the client side when its queue
    // is full.
    for i in 0..OUTBOUND_QUEUE {
        let _ = p.client.set_link_info(p.now, 1, 0, i as u32);
    }
    let mut buf = [0u8; 4096];
    let t = p.server.poll_transmit(p.now, &mut buf).unwrap();
    // OUTBOUND_QUEUE Echo-Replies of 20 octets each (RFC 2637 §2.6).
    assert_eq!(t.len, OUTBOUND_QUEUE * 20);
}

#[test]
fn clear_with_full_queue_is_deferred_not_lost() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 2);
    p.client_events.clear();
    p.server_events.clear();
    // Fill the server's queue with Echo-Replies.
    let mut echo = [0u8; 16];
    let n = ControlRepr::EchoRequest(EchoRequest { identifier: 1 })
        .emit(&mut echo)
        .unwrap();
    for _ in 0..OUTBOUND_QUEUE {
        p.server.handle_input(p.now, &echo[..n]).unwrap();
    }
    assert_eq!(
        p.server.wan_error_notify(p.now, 2, &WanErrors::default()),
        Err(Error::QueueFull)
    );
    p.server.clear_call(p.now, 2).unwrap();
    p.pump();
    assert!(matches!(
        p.client_events.last(),
        Some(Event::CallDown(CallDown {
            local_call_id: Some(1),
            ..
        }))
    ));
    assert_eq!(p.server.call_count(), 0);
}

#[test]
fn byte_by_byte_input_gives_the_same_events() {
    // Run one session normally and record what the server sent; then feed
    // those bytes to a fresh client in different chunkings. The host places
    // its call once the tunnel is up, so the SCCRP (156 octets) is fed
    // first and the rest after the call was placed, both chunked.
    let mut p = Pair::default();
    p.up();
    p.call(1, 2);
    p.server.clear_call(p.now, 2).unwrap();
    p.pump();
    let live = p.client_events.clone();
    assert!(matches!(
        live.as_slice(),
        [Event::CallUp(_), Event::CallDown(_)]
    ));
    let server_bytes: Vec<u8> = p.server_sent.concat();
    let (sccrp, rest) = server_bytes.split_at(156);
    for chunk in [1usize, 3, 7, 50, 1000] {
        let mut c: Conn =
            Connection::new(Role::Client, Config::default(), Instant::from_millis(1_000));
        let mut events = Vec::new();
        let mut buf = [0u8; 512];
        for piece in sccrp.chunks(chunk) {
            c.handle_input(p.now, piece).unwrap();
        }
        events.extend(core::iter::from_fn(|| c.poll_event()));
        assert!(
            matches!(events.as_slice(), [Event::TunnelUp(_)]),
            "chunk {chunk}"
        );
        c.place_call(p.now, 1, &CallParams::default()).unwrap();
        for piece in rest.chunks(chunk) {
            c.handle_input(p.now, piece).unwrap();
            events.extend(core::iter::from_fn(|| c.poll_event()));
            while c.poll_transmit(p.now, &mut buf).is_some() {}
        }
        assert_eq!(&events[1..], &live[..], "chunk {chunk}");
    }
}

#[test]
fn withdrawn_request_does_not_clear_call_id_zero() {
    // Found by the randomised sessions: the client's call 3 is up with
    // server call ID 0; it then withdraws call 4 before the server's host
    // answered. The server must not answer with a CDN naming call ID 0.
    let mut p = Pair::default();
    p.up();
    p.client
        .place_call(p.now, 3, &CallParams::default())
        .unwrap();
    p.client
        .place_call(p.now, 4, &CallParams::default())
        .unwrap();
    p.pump();
    p.server
        .accept_call(p.now, 3, 0, &CallAccept::default())
        .unwrap();
    p.pump();
    p.client.clear_call(p.now, 4).unwrap();
    p.pump();
    assert_eq!(p.client.call(3).unwrap().state, CallState::Established);
    assert_eq!(p.server.call(0).unwrap().state, CallState::Established);
    assert_eq!(p.client.call(4), None, "withdrawn call answered and gone");
    assert_eq!(p.server.call_count(), 1);
    let ocrp = ControlRepr::parse_bytes(p.server_sent.last().unwrap()).unwrap();
    assert!(matches!(
        ocrp,
        ControlRepr::Ocrp(Ocrp {
            peer_call_id: 4,
            result: OutgoingCallResult::DoNotAccept,
            ..
        })
    ));
}

#[test]
fn server_withdraws_icrq_before_client_host_answers() {
    let mut p = Pair::default();
    p.up();
    p.server
        .place_call(p.now, 7, &CallParams::default())
        .unwrap();
    p.pump();
    assert_eq!(p.client.call_count(), 1);
    p.client_events.clear();
    p.server.clear_call(p.now, 7).unwrap();
    p.pump();
    assert_eq!(p.client.call_count(), 0);
    assert!(matches!(
        p.client_events.as_slice(),
        [Event::CallDown(CallDown {
            local_call_id: None,
            peer_call_id: Some(7),
            reason: CallDownReason::Disconnected { .. }
        })]
    ));
    assert_eq!(
        p.client.accept_call(p.now, 7, 1, &CallAccept::default()),
        Err(Error::UnknownCall(7))
    );
}

#[test]
fn unknown_message_type_closes_the_connection_per_rfc() {
    // RFC 2637 §3.0: a malformed message closes the control connection.
    let mut p = Pair::default();
    p.up();
    p.call(1, 2);
    p.server_events.clear();
    let mut odd = [0u8; 20];
    odd[..2].copy_from_slice(&20u16.to_be_bytes());
    odd[2..4].copy_from_slice(&1u16.to_be_bytes());
    odd[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    odd[8..10].copy_from_slice(&99u16.to_be_bytes());
    p.server.handle_input(p.now, &odd).unwrap();
    assert_eq!(p.server.stats().dropped_malformed, 1);
    let events: Vec<_> = core::iter::from_fn(|| p.server.poll_event()).collect();
    assert_eq!(
        events,
        [
            Event::CallDown(CallDown {
                local_call_id: Some(2),
                peer_call_id: Some(1),
                reason: CallDownReason::TunnelDown
            }),
            Event::TunnelDown(TunnelDownReason::ProtocolError(
                WireError::UnknownControlType(99)
            ))
        ]
    );
    // The peer is told: StopCCRQ, then nothing more.
    let mut buf = [0u8; 512];
    let t = p.server.poll_transmit(p.now, &mut buf).unwrap();
    assert_eq!(
        ControlRepr::parse_bytes(&buf[..t.len]).unwrap(),
        ControlRepr::StopCcrq(StopCcrq {
            reason: StopReason::None
        })
    );
    assert!(p.server.is_closed());
    assert_eq!(p.server.poll_transmit(p.now, &mut buf), None);
}

/// Moves everything between two machines of any size; returns the events
/// each side saw. The host reads with `handle_input_partial` and polls in
/// between, as a host reading big TCP chunks should.
fn drive<const N: usize>(
    now: Instant,
    a: &mut Connection<N>,
    b: &mut Connection<N>,
) -> (Vec<Event>, Vec<Event>) {
    let (mut ea, mut eb) = (Vec::new(), Vec::new());
    loop {
        let moved_ab = relay(now, a, b, &mut ea, &mut eb);
        let moved_ba = relay(now, b, a, &mut eb, &mut ea);
        let before = ea.len() + eb.len();
        ea.extend(core::iter::from_fn(|| a.poll_event()));
        eb.extend(core::iter::from_fn(|| b.poll_event()));
        if !moved_ab && !moved_ba && ea.len() + eb.len() == before {
            return (ea, eb);
        }
    }
}

/// Gathers all of `src`'s output into one big chunk and feeds it to `dst`
/// with `handle_input_partial`, polling `dst`'s events and keeping its
/// replies queued in between (they go back on the next turn).
fn relay<const N: usize>(
    now: Instant,
    src: &mut Connection<N>,
    dst: &mut Connection<N>,
    src_events: &mut Vec<Event>,
    dst_events: &mut Vec<Event>,
) -> bool {
    let mut buf = [0u8; 8192];
    let mut chunk = Vec::new();
    while let Some(t) = src.poll_transmit(now, &mut buf) {
        chunk.extend_from_slice(&buf[..t.len]);
    }
    let mut rest = &chunk[..];
    let mut pending_replies = Vec::new();
    while !rest.is_empty() && !dst.is_closed() {
        let n = dst.handle_input_partial(now, rest).unwrap();
        rest = &rest[n..];
        dst_events.extend(core::iter::from_fn(|| dst.poll_event()));
        // Make room for replies: hold them for the next turn.
        while let Some(t) = dst.poll_transmit(now, &mut buf) {
            pending_replies.extend_from_slice(&buf[..t.len]);
        }
    }
    let moved = !chunk.is_empty();
    if !pending_replies.is_empty() && !src.is_closed() {
        let mut rest = &pending_replies[..];
        while !rest.is_empty() && !src.is_closed() {
            let n = src.handle_input_partial(now, rest).unwrap();
            rest = &rest[n..];
            src_events.extend(core::iter::from_fn(|| src.poll_event()));
            // This harness holds replies to replies in src's queue; it
            // never needs more room than that in these tests.
            assert!(n > 0 || rest.is_empty(), "src stalled");
        }
    }
    moved
}

#[test]
fn many_calls_close_without_losing_a_message_or_event() {
    const N: usize = 64;
    let now = Instant::ZERO;
    let mut client: Connection<N> = Connection::new(Role::Client, Config::default(), now);
    let mut server: Connection<N> = Connection::new(Role::Server, Config::default(), now);
    drive(now, &mut client, &mut server);
    for id in 0..N as u16 {
        client
            .place_call(now, id, &CallParams::default())
            .unwrap_or_else(|e| {
                // The outbound queue holds 16: drain and retry.
                assert_eq!(e, Error::QueueFull);
                let (_, s) = drive(now, &mut client, &mut server);
                for e in s {
                    if let Event::CallRequested(r) = e {
                        server
                            .accept_call(
                                now,
                                r.peer_call_id,
                                1000 + r.peer_call_id,
                                &CallAccept::default(),
                            )
                            .unwrap();
                    }
                }
                client.place_call(now, id, &CallParams::default()).unwrap();
            });
    }
    // Accept the rest, draining as needed.
    loop {
        let (_, s) = drive(now, &mut client, &mut server);
        let mut any = false;
        for e in s {
            if let Event::CallRequested(r) = e {
                any = true;
                while server.accept_call(
                    now,
                    r.peer_call_id,
                    1000 + r.peer_call_id,
                    &CallAccept::default(),
                ) == Err(Error::QueueFull)
                {
                    drive(now, &mut client, &mut server);
                }
            }
        }
        if !any {
            break;
        }
    }
    assert_eq!(client.call_count(), N);
    assert!(client.calls().all(|c| c.state == CallState::Established));
    assert_eq!(server.call_count(), N);

    // The server clears the tunnel: 64 CDNs through a 16-slot queue, then
    // StopCCRQ; every CallDown reaches both hosts.
    server.close(now).unwrap();
    let (c, s) = drive(now, &mut client, &mut server);
    let downs = |ev: &[Event]| {
        ev.iter()
            .filter(|e| matches!(e, Event::CallDown(_)))
            .count()
    };
    assert_eq!(downs(&c), N);
    assert_eq!(downs(&s), N);
    assert_eq!(s.last(), Some(&Event::TunnelDown(TunnelDownReason::Local)));
    assert_eq!(
        c.last(),
        Some(&Event::TunnelDown(TunnelDownReason::PeerStopped(
            StopReason::None
        )))
    );
    for conn in [&client, &server] {
        assert!(conn.is_closed());
        assert_eq!(conn.stats().events_dropped, 0);
        assert_eq!(conn.stats().dropped_queue_full, 0);
    }
}

#[test]
fn tunnel_death_reports_every_call() {
    const N: usize = 40;
    let now = Instant::ZERO;
    let mut client: Connection<N> = Connection::new(Role::Client, Config::default(), now);
    let mut server: Connection<N> = Connection::new(Role::Server, Config::default(), now);
    drive(now, &mut client, &mut server);
    for id in 0..N as u16 {
        if client.place_call(now, id, &CallParams::default()).is_err() {
            drive(now, &mut client, &mut server);
            client.place_call(now, id, &CallParams::default()).unwrap();
        }
    }
    drive(now, &mut client, &mut server);
    assert_eq!(client.call_count(), N);
    // Garbage with a bad cookie kills the client's stream.
    let junk = [0u8; 12];
    assert!(client.handle_input(now, &junk).is_err());
    assert_eq!(client.call_count(), 0, "closed: no live calls");
    let events: Vec<_> = core::iter::from_fn(|| client.poll_event()).collect();
    assert_eq!(events.len(), N + 1);
    assert!(events[..N].iter().all(|e| matches!(
        e,
        Event::CallDown(CallDown {
            reason: CallDownReason::TunnelDown,
            ..
        })
    )));
    assert_eq!(
        events[N],
        Event::TunnelDown(TunnelDownReason::ProtocolError(WireError::BadMagicCookie(
            0
        )))
    );
    assert_eq!(client.poll_event(), None);
}

#[test]
fn partial_input_absorbs_a_large_chunk_without_drops() {
    let now = Instant::ZERO;
    let mut p = Pair::default();
    p.up();
    let mut echo = [0u8; 16];
    ControlRepr::EchoRequest(EchoRequest { identifier: 9 })
        .emit(&mut echo)
        .unwrap();
    let flood: Vec<u8> = echo.iter().copied().cycle().take(16 * 100).collect();
    let mut rest = &flood[..];
    let mut replies = 0;
    let mut buf = [0u8; 4096];
    while !rest.is_empty() {
        let n = p.server.handle_input_partial(now, rest).unwrap();
        assert!(n > 0 || p.server.pending_transmit_len().is_some());
        rest = &rest[n..];
        while let Some(t) = p.server.poll_transmit(now, &mut buf) {
            // Each Echo-Reply is 20 octets (RFC 2637 §2.6).
            assert_eq!(t.len % 20, 0);
            replies += t.len / 20;
        }
    }
    assert_eq!(replies, 100);
    assert_eq!(p.server.stats().dropped_queue_full, 0);
    assert_eq!(p.server.stats().echo_requests_received, 100);
}

#[test]
fn clear_all_calls_keeps_the_tunnel() {
    let mut p = Pair::default();
    p.up();
    p.call(1, 11);
    p.call(2, 12);
    p.client
        .place_call(p.now, 3, &CallParams::default())
        .unwrap();
    p.pump(); // call 3 waits for the server's host
    p.client_events.clear();
    p.server_events.clear();
    p.server.clear_all_calls(p.now).unwrap();
    p.pump();
    assert_eq!(p.server.call_count(), 0);
    assert_eq!(p.client.call_count(), 0);
    assert_eq!(
        p.client_events
            .iter()
            .filter(|e| matches!(e, Event::CallDown(_)))
            .count(),
        3
    );
    assert!(p.client.is_established() && p.server.is_established());
    // The tunnel still carries new calls.
    p.call(4, 14);
    assert_eq!(p.client.call(4).unwrap().peer_call_id, Some(14));
}
