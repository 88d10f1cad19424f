//! Bad-input catalogue (issue 6): inputs shaped like the bugs that hit
//! other PPTP implementations, each answered by a typed error or a
//! bounded, counted reaction. Every test asserts the exact error variant or
//! counter value, not merely "no panic".
//!
//! - pptpd CVE-2003-0213: a control Length field smaller than the header
//!   (underflow of `length - header`), zero, or huge.
//! - GRE payload lengths beyond the datagram.
//! - Call-ID floods against a server with a small call table.
//! - Echo-Request floods.
//! - GRE: forged sequence-number jumps, forged acks, wrong call IDs.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pptp_core::control::*;
use pptp_core::gre::{DropReason, GreConfig, GreSession, Received, RecvError};
use pptp_core::wire::control::*;
use pptp_core::wire::gre::{GreError, GrePacket, GreRepr};
use pptp_core::{Instant, Role};

const MAX_CALLS: usize = 4;
type Server = Connection<MAX_CALLS>;

fn emit(repr: &ControlRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; MAX_MESSAGE_LEN];
    let n = repr.emit(&mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn sccrq() -> Vec<u8> {
    emit(&ControlRepr::Sccrq(Sccrq {
        protocol_version: PROTOCOL_VERSION,
        framing_capabilities: FramingCapabilities::EITHER,
        bearer_capabilities: BearerCapabilities::ANY,
        maximum_channels: 0,
        firmware_revision: 0,
        host_name: b"peer",
        vendor_string: b"catalogue",
    }))
}

fn ocrq(call_id: u16) -> Vec<u8> {
    emit(&ControlRepr::Ocrq(Ocrq {
        call_id,
        call_serial_number: call_id,
        minimum_bps: 56_000,
        maximum_bps: 64_000,
        bearer_type: BearerCapabilities::ANY,
        framing_type: FramingCapabilities::EITHER,
        packet_recv_window_size: 16,
        packet_processing_delay: 0,
        phone_number_length: 0,
        phone_number: b"",
        subaddress: b"",
    }))
}

fn echo_request(identifier: u32) -> Vec<u8> {
    emit(&ControlRepr::EchoRequest(EchoRequest { identifier }))
}

/// A header-only frame with the given Length field (valid cookie, type
/// Echo-Request).
fn header_with_length(length: u16) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[0..2].copy_from_slice(&length.to_be_bytes());
    b[2..4].copy_from_slice(&CONTROL_MESSAGE.to_be_bytes());
    b[4..8].copy_from_slice(&MAGIC_COOKIE.to_be_bytes());
    b[8..10].copy_from_slice(&MessageType::EchoRequest.as_u16().to_be_bytes());
    b
}

/// A server whose tunnel is up (SCCRQ in, SCCRP out and drained).
fn established_server(now: Instant) -> Server {
    let mut server = Server::new(Role::Server, Config::default(), now);
    server.handle_input(now, &sccrq()).unwrap();
    let mut buf = [0u8; 1024];
    while server.poll_transmit(now, &mut buf).is_some() {}
    assert!(matches!(server.poll_event(), Some(Event::TunnelUp(_))));
    assert!(server.is_established());
    server
}

fn drain_replies(server: &mut Server, now: Instant) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 4096];
    while let Some(t) = server.poll_transmit(now, &mut buf) {
        assert!(t.len <= buf.len());
        let mut stream = ControlStream::new();
        let mut input = &buf[..t.len];
        while let Some(m) = stream.feed(&mut input).unwrap() {
            out.push(m.to_vec());
        }
    }
    out
}

// --- CVE-2003-0213: control Length underflow -------------------------------

#[test]
fn stream_rejects_lengths_below_header_zero_and_huge() {
    for length in [0u16, 1, 11, 221, 0x7fff, 0xffff] {
        let frame = header_with_length(length);
        let mut stream = ControlStream::new();
        let mut input = &frame[..];
        assert_eq!(
            stream.feed(&mut input),
            Err(WireError::BadLength {
                message_type: MessageType::EchoRequest.as_u16(),
                length,
            }),
            "length {length}"
        );
        // Sticky: the stream is unframed and stays failed.
        let mut more = &echo_request(1)[..];
        assert!(stream.feed(&mut more).is_err());
        assert!(stream.buffered() <= ControlStream::CAPACITY);
    }
}

#[test]
fn stream_accepts_exact_header_length_frame_then_parser_rejects_it() {
    // Length 12 frames (header only) but is wrong for Echo-Request (16).
    let frame = header_with_length(12);
    let mut stream = ControlStream::new();
    let mut input = &frame[..12];
    let message = stream.feed(&mut input).unwrap().unwrap().to_vec();
    assert_eq!(message.len(), 12);
    assert_eq!(
        ControlRepr::parse_bytes(&message),
        Err(WireError::BadLength {
            message_type: MessageType::EchoRequest.as_u16(),
            length: 12,
        })
    );
}

#[test]
fn parser_rejects_length_field_beyond_buffer_and_below_type_length() {
    let good = echo_request(9);
    // Length claims 16 but only 14 octets are present.
    assert_eq!(
        ControlRepr::parse_bytes(&good[..14]),
        Err(WireError::Truncated {
            needed: 16,
            got: 14
        })
    );
    // Fewer octets than a header.
    assert_eq!(
        ControlRepr::parse_bytes(&good[..5]),
        Err(WireError::Truncated {
            needed: HEADER_LEN,
            got: 5
        })
    );
    // Length smaller than the header inside an otherwise whole buffer.
    let mut short = good.clone();
    short[0..2].copy_from_slice(&4u16.to_be_bytes());
    assert_eq!(
        ControlRepr::parse_bytes(&short),
        Err(WireError::BadLength {
            message_type: MessageType::EchoRequest.as_u16(),
            length: 4,
        })
    );
}

#[test]
fn connection_closes_on_underflowing_length_and_reports_typed_error() {
    for length in [0u16, 11, 0xffff] {
        let now = Instant::from_millis(0);
        let mut server = established_server(now);
        let frame = header_with_length(length);
        assert_eq!(
            server.handle_input(now, &frame),
            Err(Error::Wire(WireError::BadLength {
                message_type: MessageType::EchoRequest.as_u16(),
                length,
            }))
        );
        assert!(server.is_closed());
        // No Echo-Reply was produced from the broken frame.
        assert_eq!(server.stats().echo_requests_received, 0);
        // Later input is refused, not parsed.
        assert_eq!(
            server.handle_input(now, &echo_request(1)),
            Err(Error::Closed)
        );
    }
}

#[test]
fn connection_counts_framed_message_with_wrong_type_length() {
    // A framed message whose Length (12) is legal for the stream but wrong
    // for Echo-Request: counted as malformed and (by default policy,
    // RFC 2637 §3.0) the tunnel closes with a StopCCRQ.
    let now = Instant::from_millis(0);
    let mut server = established_server(now);
    let frame = header_with_length(12);
    server.handle_input(now, &frame[..12]).unwrap();
    assert_eq!(server.stats().dropped_malformed, 1);
    assert_eq!(server.stats().echo_requests_received, 0);
    let replies = drain_replies(&mut server, now);
    assert_eq!(replies.len(), 1);
    assert_eq!(
        ControlRepr::parse_bytes(&replies[0])
            .unwrap()
            .message_type(),
        MessageType::StopControlConnectionRequest
    );
}

#[test]
fn lenient_connection_survives_wrong_type_length_and_counts_it() {
    let now = Instant::from_millis(0);
    let config = Config {
        close_on_malformed: false,
        ..Config::default()
    };
    let mut server = Server::new(Role::Server, config, now);
    server.handle_input(now, &sccrq()).unwrap();
    drain_replies(&mut server, now);
    while server.poll_event().is_some() {}
    let frame = header_with_length(12);
    for _ in 0..100 {
        server.handle_input(now, &frame[..12]).unwrap();
    }
    assert_eq!(server.stats().dropped_malformed, 100);
    assert!(server.is_established());
    assert!(drain_replies(&mut server, now).is_empty());
}

// --- GRE payload lengths beyond the datagram -------------------------------

#[test]
fn gre_payload_length_beyond_datagram_is_typed() {
    let repr = GreRepr {
        call_id: 7,
        payload_len: 4,
        sequence: Some(1),
        ack: None,
    };
    let mut buf = [0u8; 64];
    let n = repr.emit_with_payload(&[1, 2, 3, 4], &mut buf).unwrap();
    // Claim 0xffff payload octets with 4 present.
    let mut packet = GrePacket::new_unchecked(&mut buf[..n]);
    packet.set_payload_len(0xffff);
    assert_eq!(
        GrePacket::new_checked(&buf[..n]).map(|_| ()),
        Err(GreError::PayloadTruncated {
            payload_len: 0xffff,
            available: 4
        })
    );
    // Truncated inside the sequence number.
    assert_eq!(
        GrePacket::new_checked(&buf[..10]).map(|_| ()),
        Err(GreError::Truncated {
            needed: 12,
            available: 10
        })
    );
}

// --- Call-ID floods --------------------------------------------------------

#[test]
fn ocrq_flood_distinct_ids_is_bounded_and_refusals_counted() {
    let now = Instant::from_millis(0);
    let mut server = established_server(now);
    const FLOOD: u16 = 5_000;
    let mut refusals = 0u64;
    let mut requests = 0usize;
    for id in 0..FLOOD {
        // Feed without draining for a while so the outbound queue fills.
        server.handle_input(now, &ocrq(id)).unwrap();
        assert!(server.call_count() <= MAX_CALLS);
        assert!(server.pending_transmit_count() <= OUTBOUND_QUEUE);
        if id % 64 == 63 {
            for reply in drain_replies(&mut server, now) {
                match ControlRepr::parse_bytes(&reply).unwrap() {
                    ControlRepr::Ocrp(p) => {
                        assert_eq!(p.result, OutgoingCallResult::GeneralError);
                        assert_eq!(p.error, GeneralError::NoResource);
                        refusals += 1;
                    }
                    other => panic!("unexpected reply {other:?}"),
                }
            }
            while let Some(e) = server.poll_event() {
                assert!(matches!(e, Event::CallRequested(_)));
                requests += 1;
            }
        }
    }
    for reply in drain_replies(&mut server, now) {
        assert!(matches!(
            ControlRepr::parse_bytes(&reply).unwrap(),
            ControlRepr::Ocrp(_)
        ));
        refusals += 1;
    }
    while server.poll_event().is_some() {
        requests += 1;
    }
    let stats = *server.stats();
    // The first MAX_CALLS were admitted; every other one refused (counted).
    assert_eq!(requests, MAX_CALLS);
    assert_eq!(server.call_count(), MAX_CALLS);
    assert_eq!(stats.calls_refused, u64::from(FLOOD) - MAX_CALLS as u64);
    // Refusals that did not fit the queue were dropped and counted; none
    // vanished silently.
    assert_eq!(refusals + stats.dropped_queue_full, stats.calls_refused);
    assert_eq!(stats.messages_in, 1 + u64::from(FLOOD));
    assert!(server.is_established());
}

#[test]
fn ocrq_flood_duplicate_id_is_refused_as_bad_call_id() {
    let now = Instant::from_millis(0);
    let mut server = established_server(now);
    server.handle_input(now, &ocrq(77)).unwrap();
    assert!(matches!(server.poll_event(), Some(Event::CallRequested(_))));
    for _ in 0..1_000 {
        server.handle_input(now, &ocrq(77)).unwrap();
        for reply in drain_replies(&mut server, now) {
            match ControlRepr::parse_bytes(&reply).unwrap() {
                ControlRepr::Ocrp(p) => {
                    assert_eq!(p.peer_call_id, 77);
                    assert_eq!(p.error, GeneralError::BadCallId);
                }
                other => panic!("unexpected reply {other:?}"),
            }
        }
    }
    assert_eq!(server.call_count(), 1);
    assert_eq!(server.stats().calls_refused, 1_000);
    assert_eq!(server.stats().dropped_queue_full, 0);
    assert!(server.poll_event().is_none());
}

#[test]
fn ocrq_flood_in_one_chunk_keeps_queues_bounded() {
    // Thousands of OCRQ in one read: handle_input drops what does not fit
    // (counted); handle_input_partial applies back-pressure instead.
    let now = Instant::from_millis(0);
    let mut chunk = Vec::new();
    for id in 0..2_000u16 {
        chunk.extend_from_slice(&ocrq(id));
    }

    let mut server = established_server(now);
    server.handle_input(now, &chunk).unwrap();
    assert_eq!(server.call_count(), MAX_CALLS);
    assert_eq!(server.pending_transmit_count(), OUTBOUND_QUEUE);
    let stats = *server.stats();
    assert_eq!(stats.calls_refused, 2_000 - MAX_CALLS as u64);
    assert_eq!(
        stats.dropped_queue_full,
        stats.calls_refused - OUTBOUND_QUEUE as u64
    );

    let mut server = established_server(now);
    let mut rest = &chunk[..];
    let mut replies = 0usize;
    let mut rounds = 0usize;
    while !rest.is_empty() {
        let used = server.handle_input_partial(now, rest).unwrap();
        assert!(server.pending_transmit_count() <= OUTBOUND_QUEUE);
        rest = &rest[used..];
        replies += drain_replies(&mut server, now).len();
        while server.poll_event().is_some() {}
        rounds += 1;
        assert!(rounds < 10_000, "no progress");
    }
    assert_eq!(server.stats().dropped_queue_full, 0);
    assert_eq!(server.stats().events_dropped, 0);
    assert_eq!(replies, 2_000 - MAX_CALLS);
}

// --- Echo floods -------------------------------------------------------------

#[test]
fn echo_request_flood_is_answered_within_bounded_queue() {
    let now = Instant::from_millis(0);
    let mut server = established_server(now);
    let mut chunk = Vec::new();
    for id in 0..10_000u32 {
        chunk.extend_from_slice(&echo_request(id));
    }
    server.handle_input(now, &chunk).unwrap();
    let stats = *server.stats();
    assert_eq!(stats.echo_requests_received, 10_000);
    assert_eq!(server.pending_transmit_count(), OUTBOUND_QUEUE);
    assert_eq!(stats.dropped_queue_full, 10_000 - OUTBOUND_QUEUE as u64);
    let replies = drain_replies(&mut server, now);
    assert_eq!(replies.len(), OUTBOUND_QUEUE);
    for (i, r) in replies.iter().enumerate() {
        assert_eq!(
            ControlRepr::parse_bytes(r).unwrap(),
            ControlRepr::EchoReply(EchoReply {
                identifier: i as u32,
                result: EchoResult::Ok,
                error: GeneralError::None,
            })
        );
    }
    assert!(server.is_established());
    assert_eq!(server.pending_transmit_count(), 0);
}

#[test]
fn echo_request_before_tunnel_up_is_counted_not_answered() {
    let now = Instant::from_millis(0);
    let mut server = Server::new(Role::Server, Config::default(), now);
    for id in 0..100 {
        server.handle_input(now, &echo_request(id)).unwrap();
    }
    assert_eq!(server.stats().dropped_unexpected, 100);
    assert_eq!(server.stats().echo_requests_received, 0);
    assert_eq!(server.pending_transmit_count(), 0);
}

// --- GRE sequence-number jumps and forged acks ------------------------------

const LOCAL: u16 = 42;
const PEER: u16 = 7;

fn gre(call_id: u16, seq: Option<u32>, ack: Option<u32>, payload: &[u8]) -> Vec<u8> {
    let repr = GreRepr {
        call_id,
        payload_len: payload.len() as u16,
        sequence: seq,
        ack,
    };
    let mut buf = vec![0u8; 16 + payload.len()];
    let n = repr.emit_with_payload(payload, &mut buf).unwrap();
    buf.truncate(n);
    buf
}

fn delivered(r: Received) -> bool {
    matches!(r, Received::Deliver { .. })
}

#[test]
fn gre_forged_sequence_jumps_are_dropped_and_counted_without_resync() {
    let now = Instant::from_millis(0);
    let mut s: GreSession = GreSession::new(GreConfig::new(LOCAL, PEER, 16));
    assert!(delivered(
        s.decapsulate(now, &gre(LOCAL, Some(1), None, b"a"))
            .unwrap()
    ));
    // 10 000 forged packets, each far ahead but never two in a row (a real
    // restart of the peer's numbering sends consecutive ones).
    for i in 0..10_000u32 {
        let seq = 1 + 100_000 + i * 7;
        assert_eq!(
            s.decapsulate(now, &gre(LOCAL, Some(seq), None, b"x"))
                .unwrap(),
            Received::Dropped(DropReason::OutOfWindow)
        );
    }
    assert_eq!(s.stats().dropped_out_of_window, 10_000);
    assert_eq!(s.stats().resyncs, 0);
    // Genuine traffic carries on where it was.
    assert!(delivered(
        s.decapsulate(now, &gre(LOCAL, Some(2), None, b"b"))
            .unwrap()
    ));
    assert_eq!(s.stats().delivered, 2);
    assert!(s.stats().is_consistent(s.held()));
}

#[test]
fn gre_forged_acks_for_unsent_packets_are_ignored_and_counted() {
    let now = Instant::from_millis(0);
    let mut s: GreSession = GreSession::new(GreConfig::new(LOCAL, PEER, 2));
    let mut out = [0u8; 64];
    s.encapsulate(now, b"ppp1", &mut out).unwrap();
    s.encapsulate(now, b"ppp2", &mut out).unwrap();
    assert!(matches!(
        s.encapsulate(now, b"ppp3", &mut out),
        Err(pptp_core::gre::SendError::WindowFull { .. })
    ));
    // Acks for packets never sent must not open the window.
    for ack in [5u32, 1_000, u32::MAX / 2 - 1] {
        assert_eq!(
            s.decapsulate(now, &gre(LOCAL, None, Some(ack), b""))
                .unwrap(),
            Received::NoPayload
        );
    }
    assert_eq!(s.stats().acks_ignored, 3);
    assert_eq!(s.stats().acks_accepted, 0);
    assert!(!s.can_send());
}

#[test]
fn gre_wrong_call_id_and_malformed_floods_are_counted() {
    let now = Instant::from_millis(0);
    let mut s: GreSession = GreSession::new(GreConfig::new(LOCAL, PEER, 16));
    for i in 0..1_000u32 {
        assert_eq!(
            s.decapsulate(now, &gre(LOCAL + 1, Some(i), None, b"x")),
            Err(RecvError::WrongCallId {
                expected: LOCAL,
                found: LOCAL + 1
            })
        );
        let mut bad = gre(LOCAL, Some(i), None, b"xyz");
        bad[4..6].copy_from_slice(&0xffffu16.to_be_bytes()); // payload length
        assert_eq!(
            s.decapsulate(now, &bad),
            Err(RecvError::Malformed(GreError::PayloadTruncated {
                payload_len: 0xffff,
                available: 3
            }))
        );
    }
    let st = s.stats();
    assert_eq!(st.wrong_call_id, 1_000);
    assert_eq!(st.malformed, 1_000);
    assert_eq!(st.datagrams_received(), 2_000);
    assert_eq!(st.packets_received, 0);
    assert!(st.is_consistent(s.held()));
}
