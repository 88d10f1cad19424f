//! Control-message wire tests against the shared RFC 2637 vectors
//! (`tests/data/pptp_messages.toml`) and the seed trace
//! (`tests/data/seed_trace1.toml`), plus property tests.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pptp_core::control::ControlStream;
use pptp_core::wire::control::*;
use proptest::prelude::*;

const MESSAGES: &str = include_str!("data/pptp_messages.toml");
const TRACE: &str = include_str!("data/seed_trace1.toml");

fn hex(s: &str) -> Vec<u8> {
    assert!(s.len() % 2 == 0, "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

struct Vector {
    id: String,
    control_type: u16,
    length: usize,
    fields: toml::Table,
    bytes: Vec<u8>,
    observed_prefix: Option<Vec<u8>>,
}

fn vectors() -> Vec<Vector> {
    let doc: toml::Table = MESSAGES.parse().expect("toml");
    let list = doc["vector"].as_array().expect("vector array");
    list.iter()
        .map(|v| Vector {
            id: v["id"].as_str().unwrap().to_owned(),
            control_type: v["control_message_type"].as_integer().unwrap() as u16,
            length: v["length"].as_integer().unwrap() as usize,
            fields: v["fields"].as_table().unwrap().clone(),
            bytes: hex(v["hex"].as_str().unwrap()),
            observed_prefix: v.get("observed_prefix").map(|p| hex(p.as_str().unwrap())),
        })
        .collect()
}

/// A repr field as a TOML value, by the vector file's field name.
enum Field<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

fn field<'a>(repr: &ControlRepr<'a>, name: &str) -> Option<Field<'a>> {
    use Field::{Bytes, Int};
    let i = |v: u64| Some(Int(v as i64));
    match (repr, name) {
        (ControlRepr::Sccrq(m), "protocol_version") => i(m.protocol_version.into()),
        (ControlRepr::Sccrq(m), "framing_capabilities") => i(m.framing_capabilities.0.into()),
        (ControlRepr::Sccrq(m), "bearer_capabilities") => i(m.bearer_capabilities.0.into()),
        (ControlRepr::Sccrq(m), "maximum_channels") => i(m.maximum_channels.into()),
        (ControlRepr::Sccrq(m), "firmware_revision") => i(m.firmware_revision.into()),
        (ControlRepr::Sccrq(m), "host_name") => Some(Bytes(m.host_name)),
        (ControlRepr::Sccrq(m), "vendor_string") => Some(Bytes(m.vendor_string)),
        (ControlRepr::Sccrp(m), "protocol_version") => i(m.protocol_version.into()),
        (ControlRepr::Sccrp(m), "result_code") => i(u8::from(m.result).into()),
        (ControlRepr::Sccrp(m), "error_code") => i(u8::from(m.error).into()),
        (ControlRepr::Sccrp(m), "framing_capabilities") => i(m.framing_capabilities.0.into()),
        (ControlRepr::Sccrp(m), "bearer_capabilities") => i(m.bearer_capabilities.0.into()),
        (ControlRepr::Sccrp(m), "maximum_channels") => i(m.maximum_channels.into()),
        (ControlRepr::Sccrp(m), "firmware_revision") => i(m.firmware_revision.into()),
        (ControlRepr::Sccrp(m), "host_name") => Some(Bytes(m.host_name)),
        (ControlRepr::Sccrp(m), "vendor_string") => Some(Bytes(m.vendor_string)),
        (ControlRepr::StopCcrq(m), "reason") => i(u8::from(m.reason).into()),
        (ControlRepr::StopCcrp(m), "result_code") => i(u8::from(m.result).into()),
        (ControlRepr::StopCcrp(m), "error_code") => i(u8::from(m.error).into()),
        (ControlRepr::EchoRequest(m), "identifier") => i(m.identifier.into()),
        (ControlRepr::EchoReply(m), "identifier") => i(m.identifier.into()),
        (ControlRepr::EchoReply(m), "result_code") => i(u8::from(m.result).into()),
        (ControlRepr::EchoReply(m), "error_code") => i(u8::from(m.error).into()),
        (ControlRepr::Ocrq(m), "call_id") => i(m.call_id.into()),
        (ControlRepr::Ocrq(m), "call_serial_number") => i(m.call_serial_number.into()),
        (ControlRepr::Ocrq(m), "minimum_bps") => i(m.minimum_bps.into()),
        (ControlRepr::Ocrq(m), "maximum_bps") => i(m.maximum_bps.into()),
        (ControlRepr::Ocrq(m), "bearer_type") => i(m.bearer_type.0.into()),
        (ControlRepr::Ocrq(m), "framing_type") => i(m.framing_type.0.into()),
        (ControlRepr::Ocrq(m), "packet_recv_window_size") => i(m.packet_recv_window_size.into()),
        (ControlRepr::Ocrq(m), "packet_processing_delay") => i(m.packet_processing_delay.into()),
        (ControlRepr::Ocrq(m), "phone_number_length") => i(m.phone_number_length.into()),
        (ControlRepr::Ocrq(m), "phone_number") => Some(Bytes(m.phone_number)),
        (ControlRepr::Ocrq(m), "subaddress") => Some(Bytes(m.subaddress)),
        (ControlRepr::Ocrp(m), "call_id") => i(m.call_id.into()),
        (ControlRepr::Ocrp(m), "peer_call_id") => i(m.peer_call_id.into()),
        (ControlRepr::Ocrp(m), "result_code") => i(u8::from(m.result).into()),
        (ControlRepr::Ocrp(m), "error_code") => i(u8::from(m.error).into()),
        (ControlRepr::Ocrp(m), "cause_code") => i(m.cause_code.into()),
        (ControlRepr::Ocrp(m), "connect_speed") => i(m.connect_speed.into()),
        (ControlRepr::Ocrp(m), "packet_recv_window_size") => i(m.packet_recv_window_size.into()),
        (ControlRepr::Ocrp(m), "packet_processing_delay") => i(m.packet_processing_delay.into()),
        (ControlRepr::Ocrp(m), "physical_channel_id") => i(m.physical_channel_id.into()),
        (ControlRepr::Icrq(m), "call_id") => i(m.call_id.into()),
        (ControlRepr::Icrq(m), "call_serial_number") => i(m.call_serial_number.into()),
        (ControlRepr::Icrq(m), "call_bearer_type") => i(m.call_bearer_type.0.into()),
        (ControlRepr::Icrq(m), "physical_channel_id") => i(m.physical_channel_id.into()),
        (ControlRepr::Icrq(m), "dialed_number_length") => i(m.dialed_number_length.into()),
        (ControlRepr::Icrq(m), "dialing_number_length") => i(m.dialing_number_length.into()),
        (ControlRepr::Icrq(m), "dialed_number") => Some(Bytes(m.dialed_number)),
        (ControlRepr::Icrq(m), "dialing_number") => Some(Bytes(m.dialing_number)),
        (ControlRepr::Icrq(m), "subaddress") => Some(Bytes(m.subaddress)),
        (ControlRepr::Icrp(m), "call_id") => i(m.call_id.into()),
        (ControlRepr::Icrp(m), "peer_call_id") => i(m.peer_call_id.into()),
        (ControlRepr::Icrp(m), "result_code") => i(u8::from(m.result).into()),
        (ControlRepr::Icrp(m), "error_code") => i(u8::from(m.error).into()),
        (ControlRepr::Icrp(m), "packet_recv_window_size") => i(m.packet_recv_window_size.into()),
        (ControlRepr::Icrp(m), "packet_transmit_delay") => i(m.packet_transmit_delay.into()),
        (ControlRepr::Iccn(m), "peer_call_id") => i(m.peer_call_id.into()),
        (ControlRepr::Iccn(m), "connect_speed") => i(m.connect_speed.into()),
        (ControlRepr::Iccn(m), "packet_recv_window_size") => i(m.packet_recv_window_size.into()),
        (ControlRepr::Iccn(m), "packet_transmit_delay") => i(m.packet_transmit_delay.into()),
        (ControlRepr::Iccn(m), "framing_type") => i(m.framing_type.0.into()),
        (ControlRepr::Ccrq(m), "call_id") => i(m.call_id.into()),
        (ControlRepr::Cdn(m), "call_id") => i(m.call_id.into()),
        (ControlRepr::Cdn(m), "result_code") => i(u8::from(m.result).into()),
        (ControlRepr::Cdn(m), "error_code") => i(u8::from(m.error).into()),
        (ControlRepr::Cdn(m), "cause_code") => i(m.cause_code.into()),
        (ControlRepr::Cdn(m), "call_statistics") => Some(Bytes(m.call_statistics)),
        (ControlRepr::Wen(m), "peer_call_id") => i(m.peer_call_id.into()),
        (ControlRepr::Wen(m), "crc_errors") => i(m.crc_errors.into()),
        (ControlRepr::Wen(m), "framing_errors") => i(m.framing_errors.into()),
        (ControlRepr::Wen(m), "hardware_overruns") => i(m.hardware_overruns.into()),
        (ControlRepr::Wen(m), "buffer_overruns") => i(m.buffer_overruns.into()),
        (ControlRepr::Wen(m), "timeout_errors") => i(m.timeout_errors.into()),
        (ControlRepr::Wen(m), "alignment_errors") => i(m.alignment_errors.into()),
        (ControlRepr::Sli(m), "peer_call_id") => i(m.peer_call_id.into()),
        (ControlRepr::Sli(m), "send_accm") => i(m.send_accm.into()),
        (ControlRepr::Sli(m), "receive_accm") => i(m.receive_accm.into()),
        _ => None,
    }
}

#[test]
fn every_vector_parses_to_its_fields_and_round_trips() {
    let vectors = vectors();
    assert_eq!(vectors.len(), 15, "all 15 control messages");
    let mut seen = [false; 16];
    for v in &vectors {
        let repr = ControlRepr::parse_bytes(&v.bytes).unwrap_or_else(|e| panic!("{}: {e}", v.id));
        assert_eq!(repr.message_type().as_u16(), v.control_type, "{}", v.id);
        assert_eq!(repr.buffer_len(), v.length, "{}", v.id);
        assert_eq!(v.bytes.len(), v.length, "{}", v.id);
        seen[usize::from(v.control_type)] = true;
        for (name, expected) in &v.fields {
            let got = field(&repr, name).unwrap_or_else(|| panic!("{}: no field {name}", v.id));
            match (got, expected) {
                (Field::Int(g), toml::Value::Integer(e)) => assert_eq!(g, *e, "{}.{name}", v.id),
                (Field::Bytes(g), toml::Value::String(e)) => {
                    assert_eq!(g, e.as_bytes(), "{}.{name}", v.id)
                }
                _ => panic!("{}.{name}: type mismatch", v.id),
            }
        }
        let mut out = [0xaau8; MAX_MESSAGE_LEN + 4];
        let n = repr.emit(&mut out).unwrap();
        assert_eq!(&out[..n], &v.bytes[..], "{}: emit(parse(x)) == x", v.id);
        // The view's header getters agree.
        let view = ControlMessage::new_checked(&v.bytes[..]).unwrap();
        assert_eq!(usize::from(view.length()), v.length);
        assert_eq!(view.magic_cookie(), MAGIC_COOKIE);
        assert_eq!(view.pptp_message_type(), CONTROL_MESSAGE);
        assert_eq!(ControlRepr::parse(&view), repr);
    }
    assert!(seen[1..].iter().all(|&s| s), "every type 1..=15 present");
}

#[test]
fn observed_prefixes_are_truncated_and_match_the_full_frames() {
    let mut count = 0;
    for v in vectors() {
        let Some(prefix) = v.observed_prefix else {
            continue;
        };
        count += 1;
        assert_eq!(&v.bytes[..prefix.len()], &prefix[..], "{}", v.id);
        assert_eq!(
            ControlMessage::new_checked(&prefix[..]),
            Err(WireError::Truncated {
                needed: v.length,
                got: prefix.len()
            }),
            "{}",
            v.id
        );
        assert_eq!(check_prefix(&prefix), Ok(Some(v.length)), "{}", v.id);
    }
    assert_eq!(count, 5);
}

#[test]
fn seed_trace_control_events() {
    let doc: toml::Table = TRACE.parse().unwrap();
    let events = doc["event"].as_array().unwrap();
    let all = vectors();
    let mut checked = 0;
    for e in events {
        if e["kind"].as_str() != Some("pptp_control") {
            continue;
        }
        checked += 1;
        let bytes = hex(e["hex"].as_str().unwrap());
        let complete = e["complete"].as_bool().unwrap();
        let view = ControlMessage::new_unchecked(&bytes[..]);
        let message_type = view.message_type().expect("known control type");
        let length = message_type.length();
        if let Some(l) = e.get("length") {
            assert_eq!(l.as_integer().unwrap() as usize, length);
        }
        if complete {
            assert_eq!(bytes.len(), length);
            let repr = ControlRepr::parse_bytes(&bytes).unwrap();
            let mut out = [0u8; MAX_MESSAGE_LEN];
            let n = repr.emit(&mut out).unwrap();
            assert_eq!(&out[..n], &bytes[..]);
        } else {
            assert_eq!(
                ControlMessage::new_checked(&bytes[..]),
                Err(WireError::Truncated {
                    needed: length,
                    got: bytes.len()
                })
            );
            // The prefix agrees with the fully specified vector of that type.
            let v = all
                .iter()
                .find(|v| v.control_type == message_type.as_u16())
                .unwrap();
            assert_eq!(&v.bytes[..bytes.len()], &bytes[..]);
        }
        // The reassembler holds the prefix, waiting for the rest.
        let mut stream = ControlStream::new();
        let mut input = &bytes[..];
        let got = stream.feed(&mut input).unwrap().map(<[u8]>::to_vec);
        assert_eq!(got.is_some(), complete);
    }
    assert_eq!(checked, 3, "SCCRQ, SCCRP and OCRQ of trace 1");
}

#[test]
fn every_truncation_of_every_message_is_rejected_exactly() {
    for v in vectors() {
        for n in 0..v.bytes.len() {
            let expected = if n < HEADER_LEN {
                WireError::Truncated {
                    needed: HEADER_LEN,
                    got: n,
                }
            } else {
                WireError::Truncated {
                    needed: v.length,
                    got: n,
                }
            };
            assert_eq!(
                ControlRepr::parse_bytes(&v.bytes[..n]),
                Err(expected),
                "{} cut at {n}",
                v.id
            );
        }
    }
}

#[test]
fn bad_header_fields_are_rejected_exactly() {
    for v in vectors() {
        let mut bad = v.bytes.clone();
        bad[4..8].copy_from_slice(&0xdead_beefu32.to_be_bytes());
        assert_eq!(
            ControlRepr::parse_bytes(&bad),
            Err(WireError::BadMagicCookie(0xdead_beef))
        );

        let mut bad = v.bytes.clone();
        bad[2..4].copy_from_slice(&2u16.to_be_bytes());
        assert_eq!(
            ControlRepr::parse_bytes(&bad),
            Err(WireError::BadMessageType(2))
        );

        for t in [0u16, 16, 0xffff] {
            let mut bad = v.bytes.clone();
            bad[8..10].copy_from_slice(&t.to_be_bytes());
            assert_eq!(
                ControlRepr::parse_bytes(&bad),
                Err(WireError::UnknownControlType(t))
            );
        }

        for length in [0u16, 12, v.length as u16 - 1, v.length as u16 + 1, 0xffff] {
            let mut bad = v.bytes.clone();
            bad[0..2].copy_from_slice(&length.to_be_bytes());
            assert_eq!(
                ControlRepr::parse_bytes(&bad),
                Err(WireError::BadLength {
                    message_type: v.control_type,
                    length
                }),
                "{} length {length}",
                v.id
            );
        }

        // A type whose length belongs to another type: still BadLength.
        let mut bad = v.bytes.clone();
        let other: u16 = if v.control_type == 1 { 3 } else { 1 };
        bad[8..10].copy_from_slice(&other.to_be_bytes());
        if MessageType::from_u16(other).unwrap().length() != v.length {
            assert_eq!(
                ControlRepr::parse_bytes(&bad),
                Err(WireError::BadLength {
                    message_type: other,
                    length: v.length as u16
                })
            );
        }
    }
}

#[test]
fn trailing_bytes_after_length_are_ignored() {
    for v in vectors() {
        let mut long = v.bytes.clone();
        long.extend_from_slice(&[1, 2, 3]);
        let view = ControlMessage::new_checked(&long[..]).unwrap();
        assert_eq!(view.message(), &v.bytes[..]);
        assert_eq!(
            ControlRepr::parse_bytes(&long),
            ControlRepr::parse_bytes(&v.bytes)
        );
    }
}

fn all_messages_concatenated() -> (Vec<u8>, Vec<Vec<u8>>) {
    let msgs: Vec<Vec<u8>> = vectors().into_iter().map(|v| v.bytes).collect();
    (msgs.concat(), msgs)
}

fn reassemble(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
    let mut stream = ControlStream::new();
    let mut out = Vec::new();
    for chunk in chunks {
        let mut input = *chunk;
        while let Some(m) = stream.feed(&mut input).unwrap() {
            out.push(m.to_vec());
        }
        assert!(input.is_empty());
        assert!(stream.buffered() <= ControlStream::CAPACITY);
    }
    out
}

#[test]
fn stream_byte_by_byte_and_whole_agree() {
    let (all, msgs) = all_messages_concatenated();
    let bytes: Vec<&[u8]> = all.chunks(1).collect();
    assert_eq!(reassemble(&bytes), msgs);
    assert_eq!(reassemble(&[&all]), msgs);
}

// --- property tests -------------------------------------------------------

fn name(max: usize) -> impl Strategy<Value = Vec<u8>> {
    proptest::collection::vec(1u8..=255, 0..=max)
}

/// Owned inputs for one repr of each type, built from random values.
#[derive(Debug, Clone)]
struct Fields {
    kind: u16,
    a: u16,
    b: u16,
    c: u32,
    d: u32,
    e: u32,
    f: u32,
    g: u8,
    h: u8,
    s1: Vec<u8>,
    s2: Vec<u8>,
    s3: Vec<u8>,
    stats: Vec<u8>,
}

fn fields() -> impl Strategy<Value = Fields> {
    (
        (1u16..=15, any::<u16>(), any::<u16>(), any::<u32>()),
        (
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            any::<u8>(),
            any::<u8>(),
        ),
        (name(64), name(64), name(64), name(128)),
    )
        .prop_map(
            |((kind, a, b, c), (d, e, f, g, h), (s1, s2, s3, stats))| Fields {
                kind,
                a,
                b,
                c,
                d,
                e,
                f,
                g,
                h,
                s1,
                s2,
                s3,
                stats,
            },
        )
}

fn build(x: &Fields) -> ControlRepr<'_> {
    match x.kind {
        1 => ControlRepr::Sccrq(Sccrq {
            protocol_version: x.a,
            framing_capabilities: FramingCapabilities(x.c),
            bearer_capabilities: BearerCapabilities(x.d),
            maximum_channels: x.b,
            firmware_revision: x.a ^ x.b,
            host_name: &x.s1,
            vendor_string: &x.s2,
        }),
        2 => ControlRepr::Sccrp(Sccrp {
            protocol_version: x.a,
            result: x.g.into(),
            error: x.h.into(),
            framing_capabilities: FramingCapabilities(x.c),
            bearer_capabilities: BearerCapabilities(x.d),
            maximum_channels: x.b,
            firmware_revision: x.a ^ x.b,
            host_name: &x.s1,
            vendor_string: &x.s2,
        }),
        3 => ControlRepr::StopCcrq(StopCcrq { reason: x.g.into() }),
        4 => ControlRepr::StopCcrp(StopCcrp {
            result: x.g.into(),
            error: x.h.into(),
        }),
        5 => ControlRepr::EchoRequest(EchoRequest { identifier: x.c }),
        6 => ControlRepr::EchoReply(EchoReply {
            identifier: x.c,
            result: x.g.into(),
            error: x.h.into(),
        }),
        7 => ControlRepr::Ocrq(Ocrq {
            call_id: x.a,
            call_serial_number: x.b,
            minimum_bps: x.c,
            maximum_bps: x.d,
            bearer_type: BearerCapabilities(x.e),
            framing_type: FramingCapabilities(x.f),
            packet_recv_window_size: x.b ^ 0x5a5a,
            packet_processing_delay: x.a ^ 0x1234,
            phone_number_length: x.s1.len() as u16,
            phone_number: &x.s1,
            subaddress: &x.s2,
        }),
        8 => ControlRepr::Ocrp(Ocrp {
            call_id: x.a,
            peer_call_id: x.b,
            result: x.g.into(),
            error: x.h.into(),
            cause_code: x.a ^ x.b,
            connect_speed: x.c,
            packet_recv_window_size: x.b ^ 1,
            packet_processing_delay: x.a ^ 2,
            physical_channel_id: x.d,
        }),
        9 => ControlRepr::Icrq(Icrq {
            call_id: x.a,
            call_serial_number: x.b,
            call_bearer_type: BearerCapabilities(x.c),
            physical_channel_id: x.d,
            dialed_number_length: x.s1.len() as u16,
            dialing_number_length: x.s2.len() as u16,
            dialed_number: &x.s1,
            dialing_number: &x.s2,
            subaddress: &x.s3,
        }),
        10 => ControlRepr::Icrp(Icrp {
            call_id: x.a,
            peer_call_id: x.b,
            result: x.g.into(),
            error: x.h.into(),
            packet_recv_window_size: x.a ^ 3,
            packet_transmit_delay: x.b ^ 4,
        }),
        11 => ControlRepr::Iccn(Iccn {
            peer_call_id: x.a,
            connect_speed: x.c,
            packet_recv_window_size: x.b,
            packet_transmit_delay: x.a ^ x.b,
            framing_type: FramingCapabilities(x.d),
        }),
        12 => ControlRepr::Ccrq(Ccrq { call_id: x.a }),
        13 => ControlRepr::Cdn(Cdn {
            call_id: x.a,
            result: x.g.into(),
            error: x.h.into(),
            cause_code: x.b,
            call_statistics: &x.stats,
        }),
        14 => ControlRepr::Wen(Wen {
            peer_call_id: x.a,
            crc_errors: x.c,
            framing_errors: x.d,
            hardware_overruns: x.e,
            buffer_overruns: x.f,
            timeout_errors: x.c ^ x.d,
            alignment_errors: x.e ^ x.f,
        }),
        _ => ControlRepr::Sli(Sli {
            peer_call_id: x.a,
            send_accm: x.c,
            receive_accm: x.d,
        }),
    }
}

proptest! {
    #[test]
    fn random_reprs_round_trip(x in fields()) {
        let repr = build(&x);
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = repr.emit(&mut buf).unwrap();
        prop_assert_eq!(n, repr.message_type().length());
        let back = ControlRepr::parse_bytes(&buf[..n]).unwrap();
        prop_assert_eq!(back, repr);
        // And the bytes are a fixed point.
        let mut again = [0u8; MAX_MESSAGE_LEN];
        let m = back.emit(&mut again).unwrap();
        prop_assert_eq!(&again[..m], &buf[..n]);
    }

    #[test]
    fn random_chunkings_yield_the_same_messages(cuts in proptest::collection::vec(0usize..2000, 0..40)) {
        let (all, msgs) = all_messages_concatenated();
        let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (all.len() + 1)).collect();
        points.push(0);
        points.push(all.len());
        points.sort_unstable();
        let chunks: Vec<&[u8]> = points.windows(2).map(|w| &all[w[0]..w[1]]).collect();
        prop_assert_eq!(reassemble(&chunks), msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Ok(repr) = ControlRepr::parse_bytes(&bytes) {
            let mut buf = [0u8; MAX_MESSAGE_LEN];
            let n = repr.emit(&mut buf).unwrap();
            prop_assert_eq!(ControlRepr::parse_bytes(&buf[..n]).unwrap(), repr);
        }
        let mut stream = ControlStream::new();
        let mut input = &bytes[..];
        while let Ok(Some(m)) = stream.feed(&mut input) {
            prop_assert!(m.len() >= HEADER_LEN && m.len() <= MAX_MESSAGE_LEN);
        }
    }
}
