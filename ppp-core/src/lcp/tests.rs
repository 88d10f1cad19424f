extern crate std;
use std::string::String;
use std::vec::Vec as StdVec;

use super::*;
use crate::wire::frame::Frame;
use crate::wire::packet::OptionIter;

const SEED: &str = include_str!("../../tests/data/seed_frames.toml");
const T0: Instant = Instant::from_millis(1_000);

fn unhex(s: &str) -> StdVec<u8> {
    assert!(s.len() % 2 == 0, "odd hex {s}");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn seed() -> StdVec<toml::Value> {
    let doc: toml::Value = toml::from_str(SEED).unwrap();
    doc["vector"].as_array().unwrap().clone()
}

fn vector(id: &str) -> toml::Value {
    seed()
        .into_iter()
        .find(|v| v["id"].as_str() == Some(id))
        .unwrap_or_else(|| panic!("vector {id}"))
}

fn int(v: &toml::Value, key: &str) -> i64 {
    v[key].as_integer().unwrap()
}

#[test]
fn every_seed_frame_parses_field_by_field() {
    let mut complete = 0;
    let mut prefixes = 0;
    for v in seed() {
        if v["kind"].as_str() != Some("ppp_frame") {
            continue;
        }
        let id = v["id"].as_str().unwrap();
        let bytes = unhex(v["hex"].as_str().unwrap());
        // The Windows 98 log shows a frame without ff 03: accept it
        // the way a receiver that negotiated ACFC must.
        let frame = Frame::parse(&bytes, FieldCompression::BOTH).unwrap();
        let want_proto = u16::from_str_radix(v["protocol"].as_str().unwrap(), 16).unwrap();
        assert_eq!(frame.protocol, want_proto, "{id}");
        let info = frame.information;
        let length = int(&v, "length") as usize;
        if v["complete"].as_bool().unwrap() {
            assert_eq!(bytes.len(), int(&v, "frame_length") as usize, "{id}");
            let pkt = Packet::new_checked(info).unwrap();
            assert_eq!(u8::from(pkt.code()), int(&v, "code") as u8, "{id}");
            assert_eq!(pkt.identifier(), int(&v, "identifier") as u8, "{id}");
            assert_eq!(usize::from(pkt.length()), length, "{id}");
            complete += 1;
        } else {
            // A prefix: the header parses, Length points past the data.
            assert_eq!(
                Packet::new_checked(info),
                Err(WireError::BadPacketLength {
                    length: length as u16,
                    available: info.len()
                }),
                "{id}"
            );
            prefixes += 1;
        }
        let Some(options) = v.get("options").and_then(|o| o.as_array()) else {
            continue;
        };
        // Options: every whole option the vector lists, in order.
        let data = info.get(4..info.len().min(length)).unwrap();
        let mut iter = OptionIter::new(data);
        for want in options {
            let raw = iter.next().unwrap().unwrap();
            assert_eq!(i64::from(raw.kind), int(want, "type"), "{id}");
            assert_eq!(raw.wire_len() as i64, int(want, "length"), "{id}");
            assert_eq!(raw.data, unhex(want["value"].as_str().unwrap()), "{id}");
            if want_proto == protocol::LCP {
                let opt = LcpOption::parse(raw).unwrap();
                let mut out = [0u8; 16];
                let n = opt.emit(&mut out).unwrap();
                assert_eq!(&out[2..n], raw.data, "{id} re-emits");
                match raw.kind {
                    3 => assert!(matches!(opt, LcpOption::AuthenticationProtocol(_))),
                    5 => assert!(matches!(opt, LcpOption::MagicNumber(_))),
                    2 => assert!(matches!(opt, LcpOption::Accm(_))),
                    13 => assert!(matches!(opt, LcpOption::Callback { operation: 6, .. })),
                    7 => assert_eq!(opt, LcpOption::ProtocolFieldCompression),
                    8 => assert_eq!(opt, LcpOption::AddressControlFieldCompression),
                    k => panic!("{id}: unexpected LCP option {k}"),
                }
            }
        }
        if v["complete"].as_bool().unwrap() {
            assert_eq!(iter.next(), None, "{id}: no options beyond the list");
        }
    }
    // 22 complete frames and 6 prefixes in the file (checked with an
    // independent count of `complete = true/false`).
    assert_eq!((complete, prefixes), (22, 6));
}

fn drain_frames(lcp: &mut Lcp) -> StdVec<StdVec<u8>> {
    let mut out = StdVec::new();
    let mut buf = [0u8; 1600];
    while let Some(t) = lcp.poll_transmit_frame(&mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

fn events(lcp: &mut Lcp) -> StdVec<LcpEvent> {
    core::iter::from_fn(|| lcp.poll_event()).collect()
}

fn lcp_info(frame: &[u8]) -> &[u8] {
    Frame::parse(frame, FieldCompression::NONE)
        .unwrap()
        .information
}

/// The PIX of trace 1, with the Magic-Number the trace shows.
fn pix() -> Lcp {
    let mut lcp = Lcp::new(LcpConfig::pix_server(), 0x0989_4ab4);
    lcp.open(T0);
    lcp.up(T0);
    lcp
}

#[test]
fn pix_server_request_matches_the_trace_byte_for_byte() {
    let mut lcp = pix();
    let sent = drain_frames(&mut lcp);
    assert_eq!(sent.len(), 1);
    assert_eq!(
        sent[0],
        unhex(vector("trace1-ppp-01")["hex"].as_str().unwrap())
    );
}

#[test]
fn pix_server_answers_windows_like_the_pix() {
    let mut lcp = pix();
    drain_frames(&mut lcp);
    // Frame 0 is a 22-octet prefix of a 27-octet frame whose Length is
    // 23: the 5 missing octets are ACFC (08 02, present in the client's
    // next request, frame 4) and Callback (0d 03 06, listed in the
    // PIX's Reject), in ascending type order as Windows sends them.
    let v0 = vector("trace1-ppp-00");
    let mut frame0 = unhex(v0["hex"].as_str().unwrap());
    frame0.extend_from_slice(&[0x08, 0x02, 0x0d, 0x03, 0x06]);
    assert_eq!(frame0.len(), int(&v0, "frame_length") as usize);
    lcp.handle_input(T0, lcp_info(&frame0)).unwrap();
    let reply = drain_frames(&mut lcp);
    assert_eq!(reply, [unhex(v0["observed_pix_reply"].as_str().unwrap())]);

    // Frame 3: the client's Ack of our request: no reply.
    let v3 = vector("trace1-ppp-03");
    lcp.handle_input(T0, lcp_info(&unhex(v3["hex"].as_str().unwrap())))
        .unwrap();
    assert!(drain_frames(&mut lcp).is_empty());
    assert_eq!(lcp.state(), State::AckRcvd);

    // Frame 4: the client's second request: Ack, as the PIX did.
    let v4 = vector("trace1-ppp-04");
    lcp.handle_input(T0, lcp_info(&unhex(v4["hex"].as_str().unwrap())))
        .unwrap();
    let reply = drain_frames(&mut lcp);
    assert_eq!(reply, [unhex(v4["observed_pix_reply"].as_str().unwrap())]);
    assert_eq!(lcp.state(), State::Opened);
    assert!(events(&mut lcp).contains(&LcpEvent::Up));
    let n = lcp.negotiated();
    assert_eq!(n.peer_auth, Some(AuthMethod::MsChapV1));
    assert_eq!(n.local_auth, None);
    assert_eq!(n.peer_magic, Some(0x0011_3721));
    assert_eq!(n.local_magic, Some(0x0989_4ab4));
    assert_eq!(n.send, FieldCompression::BOTH);
    assert_eq!(n.receive, FieldCompression::BOTH);
    assert_eq!(n.tx_accm, DEFAULT_ACCM, "the client's ACCM was rejected");
}

#[test]
fn windows_nt_multilink_and_callback_options_are_rejected_in_order() {
    // Constructed like Windows NT's request (the origin document says
    // the PIX also rejected MRRU and Endpoint Discriminator from NT).
    let mut lcp = pix();
    drain_frames(&mut lcp);
    let req = [
        1u8, 7, 0, 0x25, // Configure-Request id 7, Length 37
        0x01, 0x04, 0x05, 0x78, // MRU 1400
        0x02, 0x06, 0, 0, 0, 0, // ACCM 0
        0x05, 0x06, 0x12, 0x34, 0x56, 0x78, // magic
        0x07, 0x02, 0x08, 0x02, // PFC, ACFC
        0x0d, 0x03, 0x06, // Callback (CBCP)
        0x11, 0x04, 0x06, 0x4e, // MRRU 1614
        0x13, 0x06, 0x01, 0xaa, 0xbb, 0xcc, // Endpoint Discriminator
    ];
    lcp.handle_input(T0, &req).unwrap();
    let reply = drain_frames(&mut lcp);
    let want = [
        0xff, 0x03, 0xc0, 0x21, 4, 7, 0, 0x17, 0x02, 0x06, 0, 0, 0, 0, 0x0d, 0x03, 0x06, 0x11,
        0x04, 0x06, 0x4e, 0x13, 0x06, 0x01, 0xaa, 0xbb, 0xcc,
    ];
    assert_eq!(reply, [want.to_vec()]);
}

#[test]
fn identification_is_surfaced_and_never_answered() {
    let mut lcp = pix();
    drain_frames(&mut lcp);
    let mut pkt = StdVec::from([12u8, 3, 0, 0, 0x00, 0x11, 0x37, 0x21]);
    pkt.extend_from_slice(b"MSRASV5.00");
    pkt[3] = pkt.len() as u8;
    lcp.handle_input(T0, &pkt).unwrap();
    assert!(drain_frames(&mut lcp).is_empty());
    let ev = events(&mut lcp);
    assert!(ev.contains(&LcpEvent::Identification {
        magic: 0x0011_3721,
        message: Vec::from_slice(b"MSRASV5.00").unwrap()
    }));
    // Time-Remaining (code 13).
    let tr = [13u8, 4, 0, 14, 0, 0, 0, 1, 0, 0, 0x0e, 0x10, b'h', b'i'];
    lcp.handle_input(T0, &tr).unwrap();
    assert!(drain_frames(&mut lcp).is_empty());
    assert!(events(&mut lcp).contains(&LcpEvent::TimeRemaining {
        magic: 1,
        seconds: 3600,
        message: Vec::from_slice(b"hi").unwrap()
    }));
}

#[test]
fn identification_is_sent_on_opened_when_configured() {
    let mut client_config = client(&[MsChapV2]);
    client_config.identification = Some(Vec::from_slice(b"MSRASV5.20").unwrap());
    let mut s = Lcp::new(server(&[MsChapV2]), 0x1111_1111);
    let mut c = Lcp::new(client_config, 0x2222_2222);
    for l in [&mut s, &mut c] {
        l.open(T0);
        l.up(T0);
    }
    let mut sent = StdVec::new();
    for _ in 0..10 {
        let from_c = drain_frames(&mut c);
        for f in drain_frames(&mut s) {
            let _ = c.handle_input(T0, lcp_info(&f));
        }
        for f in &from_c {
            let _ = s.handle_input(T0, lcp_info(f));
        }
        sent.extend(from_c);
    }
    assert!(s.is_opened() && c.is_opened());
    // Code 12, the client's Magic-Number, the message; after the
    // Configure-Ack that opened LCP.
    let identification: StdVec<&StdVec<u8>> =
        sent.iter().filter(|f| lcp_info(f)[0] == 12).collect();
    assert_eq!(identification.len(), 1);
    let info = lcp_info(identification[0]);
    assert_eq!(&info[2..4], &[0, 18]);
    assert_eq!(&info[4..], b"\x22\x22\x22\x22MSRASV5.20");
    assert!(events(&mut s).contains(&LcpEvent::Identification {
        magic: 0x2222_2222,
        message: Vec::from_slice(b"MSRASV5.20").unwrap()
    }));
    // The server sends none by default, and nothing answered it.
    assert!(drain_frames(&mut s).is_empty());
}

/// Delivers frames both ways until both sides are quiet.
fn pump(a: &mut Lcp, b: &mut Lcp, now: Instant) {
    for _ in 0..50 {
        let from_a = drain_frames(a);
        let from_b = drain_frames(b);
        if from_a.is_empty() && from_b.is_empty() {
            return;
        }
        for f in from_a {
            let _ = b.handle_input(now, lcp_info(&f));
        }
        for f in from_b {
            let _ = a.handle_input(now, lcp_info(&f));
        }
    }
    panic!("no quiescence");
}

fn pair(server: LcpConfig, client: LcpConfig) -> (Lcp, Lcp) {
    let mut s = Lcp::new(server, 0x1111_1111);
    let mut c = Lcp::new(client, 0x2222_2222);
    for l in [&mut s, &mut c] {
        l.open(T0);
        l.up(T0);
    }
    pump(&mut s, &mut c, T0);
    (s, c)
}

fn server(methods: &[AuthMethod]) -> LcpConfig {
    LcpConfig::default().with_auth_required(methods)
}

fn client(methods: &[AuthMethod]) -> LcpConfig {
    LcpConfig::default().with_auth_allowed(methods)
}

use AuthMethod::*;

#[test]
fn client_and_server_open_with_auth_negotiated() {
    let (s, c) = pair(server(&[MsChapV2, MsChapV1]), client(&[MsChapV2, MsChapV1]));
    assert!(s.is_opened() && c.is_opened());
    assert_eq!(s.negotiated().peer_auth, Some(MsChapV2));
    assert_eq!(c.negotiated().local_auth, Some(MsChapV2));
    assert_eq!(s.negotiated().local_auth, None);
    assert_eq!(s.negotiated().peer_magic, Some(0x2222_2222));
    assert_eq!(c.negotiated().peer_magic, Some(0x1111_1111));
    assert_eq!(s.negotiated().send, FieldCompression::BOTH);
}

#[test]
fn nak_driven_fallback_between_methods() {
    // The client's suggestion is in the server's list: taken.
    let (s, c) = pair(
        server(&[MsChapV2, MsChapV1, ChapMd5, Pap]),
        client(&[ChapMd5]),
    );
    assert!(s.is_opened() && c.is_opened());
    assert_eq!(s.negotiated().peer_auth, Some(ChapMd5));
    assert_eq!(c.negotiated().local_auth, Some(ChapMd5));
    // The suggestion is not in the server's list: next in the list.
    let (s, c) = pair(server(&[MsChapV2, MsChapV1]), client(&[ChapMd5, MsChapV1]));
    assert!(s.is_opened() && c.is_opened());
    assert_eq!(s.negotiated().peer_auth, Some(MsChapV1));
    // Windows 9x against a server preferring PAP (any allowed: Ack).
    let (s, _) = pair(server(&[Pap, MsChapV1]), client(&[MsChapV1, Pap]));
    assert_eq!(s.negotiated().peer_auth, Some(Pap));
}

#[test]
fn no_common_method_ends_with_error_732_on_both_sides() {
    // PIX (MS-CHAPv1 only) against Vista (MS-CHAPv2 only).
    let (mut s, mut c) = pair(LcpConfig::pix_server(), client(&[MsChapV2]));
    let mut now = T0;
    for _ in 0..10 {
        now += Duration::from_secs(3);
        s.handle_timeout(now);
        c.handle_timeout(now);
        pump(&mut s, &mut c, now);
    }
    for side in [&mut s, &mut c] {
        let ev = events(side);
        assert!(
            ev.contains(&LcpEvent::Finished(EndReason::NoCommonAuth)),
            "{ev:?}"
        );
        assert_eq!(side.end_reason(), Some(EndReason::NoCommonAuth));
        assert!(!side.is_opened());
    }
    assert_eq!(EndReason::NoCommonAuth.windows_error(), Some(732));
    let mut text = String::new();
    core::fmt::write(&mut text, format_args!("{}", EndReason::NoCommonAuth)).unwrap();
    assert_eq!(text, "error 732: could not agree on PPP control protocols");

    // A client that refuses to authenticate at all rejects the option.
    // The server gives up, the client acknowledges its Terminate.
    let (mut s, _c) = pair(server(&[Pap]), client(&[]));
    let ev = events(&mut s);
    assert!(!ev.contains(&LcpEvent::Up));
    assert!(ev.contains(&LcpEvent::Finished(EndReason::NoCommonAuth)));
    assert_eq!(s.state(), State::Closed);
}

#[test]
fn echo_keepalive_failure_and_success() {
    let cfg = LcpConfig {
        echo_interval: Some(Duration::from_secs(10)),
        echo_failure: 3,
        ..LcpConfig::default()
    };
    let (mut a, mut b) = pair(cfg.clone(), LcpConfig::default());
    events(&mut a);
    // Peer answers: no failure after many intervals.
    let mut now;
    for _ in 0..10 {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        let sent = drain_frames(&mut a);
        assert_eq!(sent.len(), 1);
        assert_eq!(sent[0][4], 9, "Echo-Request");
        assert_eq!(&sent[0][8..12], &0x1111_1111u32.to_be_bytes());
        b.handle_input(now, lcp_info(&sent[0])).unwrap();
        let reply = drain_frames(&mut b);
        assert_eq!(reply[0][4], 10, "Echo-Reply");
        assert_eq!(&reply[0][8..12], &0x2222_2222u32.to_be_bytes());
        a.handle_input(now, lcp_info(&reply[0])).unwrap();
    }
    assert!(a.is_opened());
    // Peer silent: three unanswered requests, then the link closes.
    let mut requests = 0;
    while a.is_opened() {
        now = a.poll_timeout().unwrap();
        a.handle_timeout(now);
        requests += drain_frames(&mut a).iter().filter(|f| f[4] == 9).count();
    }
    assert_eq!(requests, 3);
    while let Some(t) = a.poll_timeout() {
        a.handle_timeout(t);
    }
    assert!(events(&mut a).contains(&LcpEvent::Finished(EndReason::KeepaliveLost)));
}

#[test]
fn looped_back_link_is_detected() {
    let mut a = Lcp::new(LcpConfig::default(), 0x5555_5555);
    a.open(T0);
    a.up(T0);
    let mut now = T0;
    for _ in 0..40 {
        for f in drain_frames(&mut a) {
            let _ = a.handle_input(now, lcp_info(&f));
        }
        if a.end_reason().is_some() {
            break;
        }
        now += Duration::from_secs(3);
        a.handle_timeout(now);
    }
    assert_eq!(a.end_reason(), Some(EndReason::Loopback));
    assert!(events(&mut a).contains(&LcpEvent::MagicNumbersLow));
}

#[test]
fn magic_zero_and_own_magic_are_naked_with_host_values() {
    let mut lcp = pix();
    drain_frames(&mut lcp);
    lcp.supply_magic(0xabcd_ef01);
    lcp.handle_input(T0, &[1, 5, 0, 10, 5, 6, 0, 0, 0, 0])
        .unwrap();
    let r = drain_frames(&mut lcp);
    assert_eq!(&r[0][4..], &[3, 5, 0, 10, 5, 6, 0xab, 0xcd, 0xef, 0x01]);
    // Our own number: Nak with a different one (pool empty now).
    lcp.handle_input(T0, &[1, 6, 0, 10, 5, 6, 0x09, 0x89, 0x4a, 0xb4])
        .unwrap();
    let r = drain_frames(&mut lcp);
    assert_eq!(&r[0][4..10], &[3, 6, 0, 10, 5, 6]);
    assert_ne!(&r[0][10..14], &[0x09, 0x89, 0x4a, 0xb4]);
    assert!(events(&mut lcp).contains(&LcpEvent::MagicNumbersLow));
}

#[test]
fn small_peer_mru_is_naked() {
    let mut lcp = pix();
    drain_frames(&mut lcp);
    lcp.handle_input(T0, &[1, 5, 0, 8, 1, 4, 0, 64]).unwrap();
    let r = drain_frames(&mut lcp);
    assert_eq!(&r[0][4..], &[3, 5, 0, 8, 1, 4, 0, 128]);
}

fn opened_pair() -> (Lcp, Lcp) {
    let (mut s, mut c) = pair(LcpConfig::default(), LcpConfig::default());
    assert!(s.is_opened() && c.is_opened());
    events(&mut s);
    events(&mut c);
    (s, c)
}

#[test]
fn protocol_reject_both_ways() {
    let (mut s, mut c) = opened_pair();
    assert!(s.send_protocol_reject(0x8057, &[1, 1, 0, 4]));
    let f = drain_frames(&mut s);
    assert_eq!(&f[0][4..], &[8, f[0][5], 0, 10, 0x80, 0x57, 1, 1, 0, 4]);
    c.handle_input(T0, lcp_info(&f[0])).unwrap();
    assert_eq!(events(&mut c), [LcpEvent::ProtocolRejected(0x8057)]);
    assert!(c.is_opened());
    // Protocol-Reject of LCP itself is catastrophic (RXJ-).
    c.handle_input(T0, &[8, 9, 0, 6, 0xc0, 0x21]).unwrap();
    assert_eq!(c.state(), State::Stopping);
    assert_eq!(drain_frames(&mut c)[0][4], 5, "Terminate-Request");
    // Not in Opened: not sent.
    let mut fresh = Lcp::new(LcpConfig::default(), 7);
    assert!(!fresh.send_protocol_reject(0x8057, &[]));
}

#[test]
fn bad_input_is_rejected_with_typed_errors() {
    let (mut s, _c) = opened_pair();
    // Unknown code: Code-Reject carrying the packet.
    s.handle_input(T0, &[0x42, 1, 0, 6, 0xaa, 0xbb]).unwrap();
    let f = drain_frames(&mut s);
    assert_eq!(&f[0][4..], &[7, f[0][5], 0, 10, 0x42, 1, 0, 6, 0xaa, 0xbb]);
    // Configure-Request with a zero-length option.
    assert_eq!(
        s.handle_input(T0, &[1, 2, 0, 8, 5, 0, 0, 0]),
        Err(fsm::Error::Malformed(WireError::OptionLengthTooSmall {
            kind: 5,
            length: 0
        }))
    );
    // An option running past the packet.
    assert_eq!(
        s.handle_input(T0, &[1, 2, 0, 7, 5, 6, 0]),
        Err(fsm::Error::Malformed(WireError::OptionPastEnd {
            kind: 5,
            length: 6,
            available: 3
        }))
    );
    // Truncated packet, Length past the data.
    assert_eq!(
        s.handle_input(T0, &[1, 2, 0, 40, 1, 4]),
        Err(fsm::Error::Malformed(WireError::BadPacketLength {
            length: 40,
            available: 6
        }))
    );
    assert!(s.is_opened());
    assert!(drain_frames(&mut s).is_empty());
    // A known option with an impossible length is rejected, not Nak'd.
    let mut lcp = pix();
    drain_frames(&mut lcp);
    lcp.handle_input(T0, &[1, 3, 0, 9, 5, 5, 1, 2, 3]).unwrap();
    assert_eq!(
        &drain_frames(&mut lcp)[0][4..],
        &[4, 3, 0, 9, 5, 5, 1, 2, 3]
    );
}

#[test]
fn peer_terminate_ends_with_reason_and_admin_close_sends_it() {
    let (mut s, mut c) = opened_pair();
    c.close(T0, EndReason::AdminClose);
    let f = drain_frames(&mut c);
    assert_eq!(f[0][4], 5);
    assert_eq!(&f[0][8..], b"administrative close");
    s.handle_input(T0, lcp_info(&f[0])).unwrap();
    assert_eq!(drain_frames(&mut s)[0][4], 6, "Terminate-Ack");
    assert_eq!(events(&mut s), [LcpEvent::Down]);
    s.handle_timeout(T0 + Duration::from_secs(3));
    assert_eq!(
        events(&mut s),
        [LcpEvent::Finished(EndReason::PeerTerminated)]
    );
    assert_eq!(s.state(), State::Stopped);
}

#[test]
fn renegotiation_from_opened_goes_down_and_up_again() {
    let (mut s, mut c) = opened_pair();
    // The client restarts negotiation (RFC 1661: RCR in Opened).
    c.fsm.force_renegotiation_for_test(T0);
    pump(&mut s, &mut c, T0);
    assert_eq!(events(&mut s), [LcpEvent::Down, LcpEvent::Up]);
    assert!(s.is_opened() && c.is_opened());
}

#[test]
fn echo_discard_and_code_reject_of_echo() {
    let (mut s, _c) = opened_pair();
    // Discard-Request: no answer.
    s.handle_input(T0, &[11, 1, 0, 8, 0x22, 0x22, 0x22, 0x22])
        .unwrap();
    assert!(drain_frames(&mut s).is_empty());
    // Echo-Request before Opened is silently discarded (RFC 1661 §5.8).
    let mut fresh = Lcp::new(LcpConfig::default(), 3);
    fresh.open(T0);
    fresh.up(T0);
    drain_frames(&mut fresh);
    fresh.handle_input(T0, &[9, 1, 0, 8, 0, 0, 0, 0]).unwrap();
    assert!(drain_frames(&mut fresh).is_empty());
    // A peer that Code-Rejects Echo-Request stops our keepalive but
    // keeps the link (RXJ+).
    let cfg = LcpConfig {
        echo_interval: Some(Duration::from_secs(10)),
        ..LcpConfig::default()
    };
    let (mut a, _peer) = pair(cfg, LcpConfig::default());
    assert!(a.is_opened());
    let t = a.poll_timeout().unwrap();
    a.handle_timeout(t);
    let echo = drain_frames(&mut a);
    assert_eq!(echo.len(), 1);
    let mut rej = StdVec::from([7u8, 0x33, 0, 0]);
    rej.extend_from_slice(lcp_info(&echo[0]));
    rej[3] = rej.len() as u8;
    a.handle_input(t, &rej).unwrap();
    assert!(a.is_opened());
    a.handle_timeout(t + Duration::from_secs(10));
    assert!(drain_frames(&mut a).is_empty());
    assert_eq!(a.poll_timeout(), None);
}

/// The PPP frames (GRE payloads) of the real pptp-linux/pppd ↔
/// pptpd/pppd capture, in order, with their direction (true = from the
/// client 10.0.0.3). A minimal pcapng + Ethernet + IPv4 + GRE reader.
fn pppd_capture() -> StdVec<(bool, StdVec<u8>)> {
    let d: &[u8] = include_bytes!("../../tests/data/pppd-mschapv2-mppe128-session.pcap");
    let u32le = |b: &[u8]| u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize;
    assert_eq!(u32le(d), 0x0a0d_0d0a, "pcapng section header");
    let mut frames = StdVec::new();
    let mut off = 0;
    while off + 12 <= d.len() {
        let (kind, len) = (u32le(&d[off..]), u32le(&d[off + 4..]));
        if kind == 6 {
            // Enhanced Packet Block, Ethernet link type (checked below).
            let caplen = u32le(&d[off + 20..]);
            let pkt = &d[off + 28..off + 28 + caplen];
            let ip = &pkt[14..];
            // IPv4 (ethertype 0800) carrying GRE (protocol 47).
            if pkt[12..14] == [0x08, 0x00] && ip[9] == 47 {
                let gre = &ip[usize::from(ip[0] & 0x0f) * 4..];
                let mut hl = 8;
                if gre[0] & 0x10 != 0 {
                    hl += 4;
                }
                if gre[1] & 0x80 != 0 {
                    hl += 4;
                }
                if gre.len() > hl {
                    frames.push((ip[12..16] == [10, 0, 0, 3], gre[hl..].to_vec()));
                }
            }
        }
        off += len;
    }
    frames
}

#[test]
fn interoperates_with_pppd_as_captured() {
    let frames = pppd_capture();
    assert_eq!(frames.len(), 37);
    // Every frame parses as PPP with ACFC/PFC accepted; LCP ones in
    // detail. pppd (Linux ppp_generic) omits `ff 03` on LCP codes other
    // than 1-7 once ACFC is negotiated, although RFC 1661 §6.6 says LCP
    // is never compressed: the receiver accepts both.
    let mut lcp_frames = StdVec::new();
    for (from_client, f) in &frames {
        let frame = Frame::parse(f, FieldCompression::BOTH).unwrap();
        if frame.protocol == protocol::LCP {
            let pkt = Packet::new_checked(frame.information).unwrap();
            if matches!(pkt.code_octet(), 1..=4) {
                for raw in Options::new(pkt.data()).unwrap().iter() {
                    LcpOption::parse(raw).unwrap();
                }
            }
            lcp_frames.push((*from_client, frame.information.to_vec()));
        }
    }
    assert_eq!(lcp_frames.len(), 12);
    let info = |i: usize| lcp_frames[i].1.as_slice();

    let common = LcpConfig {
        mru: Some(1400),
        accm: Some(0),
        ..LcpConfig::default()
    };
    let mut server = Lcp::new(common.clone().with_auth_required(&[MsChapV2]), 0x392f_7c36);
    let mut client = Lcp::new(common.with_auth_allowed(&[MsChapV2]), 0xdaf6_d7ef);
    for side in [&mut server, &mut client] {
        side.open(T0);
        side.up(T0);
    }
    // Our requests are pppd's, byte for byte (frames 23 and 25).
    let mut buf = [0u8; 64];
    let t = client.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(0));
    let t = server.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(1));
    // Each answers the other's real request as pppd did (26, 27).
    client.handle_input(T0, info(1)).unwrap();
    let t = client.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(2));
    server.handle_input(T0, info(0)).unwrap();
    let t = server.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(3));
    client.handle_input(T0, info(3)).unwrap();
    server.handle_input(T0, info(2)).unwrap();
    assert!(client.is_opened() && server.is_opened());
    assert_eq!(server.negotiated().peer_auth, Some(MsChapV2));
    assert_eq!(client.negotiated().local_auth, Some(MsChapV2));
    assert_eq!(server.negotiated().peer_mru, 1400);
    assert_eq!(server.negotiated().tx_accm, 0);
    // Echo-Requests both ways get pppd's replies (frames 32, 33).
    client.handle_input(T0, info(4)).unwrap();
    let t = client.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(7));
    server.handle_input(T0, info(5)).unwrap();
    let t = server.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(6));
    // The replies reset nothing badly and are accepted.
    server.handle_input(T0, info(7)).unwrap();
    client.handle_input(T0, info(6)).unwrap();
    // The client's Terminate-Request ("MPPE disabled") gets the
    // server's Terminate-Ack (frames 65, 67).
    assert_eq!(&info(8)[4..], b"MPPE disabled");
    server.handle_input(T0, info(8)).unwrap();
    let t = server.poll_transmit(&mut buf).unwrap();
    assert_eq!(&buf[..t.len], info(10));
    assert_eq!(server.state(), State::Stopping);
}
