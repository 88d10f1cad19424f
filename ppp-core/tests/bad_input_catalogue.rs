//! Bad-input catalogue (issue 6) for PPP: inputs shaped like the bugs that
//! hit peers, each answered by a typed error or a bounded, counted
//! reaction. The tests assert exact error variants and counter values.
//!
//! - pppd CVE-2020-8597 (EAP length overflow): length fields that claim
//!   more than the packet holds (CHAP Value-Size, MS-CHAP name, PAP
//!   Peer-ID/Password lengths, LCP option lengths, RADIUS attributes).
//! - Option lengths 0 and 1; options past the end of the packet.
//! - Duplicated options in one Configure-Request.
//! - Echo-Request floods, endless Configure-Nak loops (Max-Failure),
//!   renegotiation storms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use ppp_core::fsm::{self, State, OUTBOX_DEPTH};
use ppp_core::lcp::{EndReason, Lcp, LcpConfig, LcpEvent};
use ppp_core::wire::auth::{self, ChapRepr, Field, MsChapV2Response, PapRepr};
use ppp_core::wire::lcp::{option_type, AuthMethod, Identification, LcpOption, TimeRemaining};
use ppp_core::wire::packet::{emit, Code, OptionIter, RawOption};
use ppp_core::wire::Error as WireError;
use ppp_core::{Duration, Instant};

const T0: Instant = Instant::from_millis(1_000);

// --- CVE-2020-8597-style lengths in PAP / CHAP / MS-CHAP -------------------

#[test]
fn chap_value_size_beyond_packet_is_field_overrun() {
    // Challenge, id 1, Length 8: Value-Size 200 with 3 octets of value.
    let pkt = [1u8, 1, 0, 8, 200, 0xaa, 0xbb, 0xcc];
    assert_eq!(
        ChapRepr::parse_bytes(&pkt),
        Err(auth::Error::FieldOverrun {
            field: Field::Value,
            needed: 201,
            available: 4
        })
    );
    // Value-Size 255 (the largest), Response with nothing after it.
    let pkt = [2u8, 9, 0, 5, 255];
    assert_eq!(
        ChapRepr::parse_bytes(&pkt),
        Err(auth::Error::FieldOverrun {
            field: Field::Value,
            needed: 256,
            available: 1
        })
    );
    // Value-Size 0.
    let pkt = [1u8, 1, 0, 5, 0];
    assert_eq!(ChapRepr::parse_bytes(&pkt), Err(auth::Error::EmptyValue));
}

#[test]
fn chap_length_field_beyond_datagram_or_below_header_is_bad_length() {
    // Length claims 300 octets, 8 present (the shape of the pppd EAP bug:
    // trusting the header's length over the received size).
    let pkt = [2u8, 1, 0x01, 0x2c, 1, 0xaa, b'n', b'm'];
    assert_eq!(
        ChapRepr::parse_bytes(&pkt),
        Err(auth::Error::BadLength {
            length: 300,
            available: 8
        })
    );
    for length in [0u16, 3] {
        let mut pkt = [2u8, 1, 0, 0, 1, 0xaa];
        pkt[2..4].copy_from_slice(&length.to_be_bytes());
        assert_eq!(
            ChapRepr::parse_bytes(&pkt),
            Err(auth::Error::BadLength {
                length,
                available: 6
            })
        );
    }
    assert_eq!(
        ChapRepr::parse_bytes(&[2u8, 1, 0]),
        Err(auth::Error::Truncated {
            needed: 4,
            available: 3
        })
    );
}

#[test]
fn chap_name_is_bounded_by_length_field_not_datagram() {
    // Length 7 (value 1 octet + 1 octet of name); trailing padding is not
    // part of the name.
    let pkt = [2u8, 4, 0, 7, 1, 0xaa, b'u', b'X', b'X', b'X'];
    assert_eq!(
        ChapRepr::parse_bytes(&pkt),
        Ok(ChapRepr::Response {
            identifier: 4,
            value: &[0xaa],
            name: b"u"
        })
    );
}

#[test]
fn mschap_response_value_of_wrong_size_is_typed() {
    for len in [0usize, 1, 48, 50, 255] {
        let value = vec![0u8; len];
        assert_eq!(
            MsChapV2Response::parse(&value),
            Err(auth::Error::WrongSize {
                field: Field::Value,
                expected: auth::MSCHAP_RESPONSE_LEN,
                actual: len
            })
        );
    }
}

/// MS-CHAP Change-Password packets (RFC 2759 code 7, RFC 2433 codes 6
/// and 5) are fixed-size: a Length that claims more than the datagram, a
/// Length one off the fixed size (with the octets present), and the
/// largest Length with a short body are each a typed error, never a read
/// past the end.
#[test]
fn change_password_lengths_are_typed() {
    type Parse = fn(&[u8]) -> Result<(), auth::Error>;
    let parsers: [(u8, usize, Parse); 3] = [
        (7, auth::MSCHAPV2_CHANGE_PASSWORD_LEN, |b| {
            auth::MsChapV2ChangePassword::parse_bytes(b).map(drop)
        }),
        (6, auth::MSCHAPV1_CHANGE_PASSWORD_V2_LEN, |b| {
            auth::MsChapV1ChangePassword::parse_bytes(b).map(drop)
        }),
        (5, auth::MSCHAPV1_CHANGE_PASSWORD_V1_LEN, |b| {
            auth::MsChapV1ChangePasswordV1::parse_bytes(b).map(drop)
        }),
    ];
    for (code, len, parse) in parsers {
        // Header only, Length claiming the full packet.
        let mut pkt = vec![code, 1, 0, 0];
        pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        assert_eq!(
            parse(&pkt),
            Err(auth::Error::BadLength {
                length: len as u16,
                available: 4
            }),
            "code {code}"
        );
        for length in [len - 1, len + 1, 0xffff] {
            let mut pkt = vec![0u8; length.max(len)];
            pkt[0] = code;
            pkt[2..4].copy_from_slice(&(length as u16).to_be_bytes());
            assert_eq!(
                parse(&pkt),
                Err(auth::Error::WrongSize {
                    field: Field::Packet,
                    expected: len,
                    actual: length
                }),
                "code {code}, Length {length}"
            );
        }
        // The right size is accepted whatever the contents (they are
        // judged by the verifier, not the parser).
        let mut pkt = vec![0xa5u8; len];
        pkt[0] = code;
        pkt[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        assert_eq!(parse(&pkt), Ok(()), "code {code}");
    }
}

#[test]
fn pap_peer_id_and_password_lengths_beyond_packet_are_typed() {
    // Peer-ID-Length 250 with 2 octets.
    let pkt = [1u8, 1, 0, 7, 250, b'a', b'b'];
    assert_eq!(
        PapRepr::parse_bytes(&pkt),
        Err(auth::Error::FieldOverrun {
            field: Field::PeerId,
            needed: 251,
            available: 3
        })
    );
    // Peer-ID fine, Passwd-Length 255 with 1 octet.
    let pkt = [1u8, 1, 0, 9, 2, b'a', b'b', 255, b'p'];
    assert_eq!(
        PapRepr::parse_bytes(&pkt),
        Err(auth::Error::FieldOverrun {
            field: Field::Password,
            needed: 256,
            available: 2
        })
    );
    // Passwd-Length octet missing altogether.
    let pkt = [1u8, 1, 0, 7, 2, b'a', b'b'];
    assert_eq!(
        PapRepr::parse_bytes(&pkt),
        Err(auth::Error::FieldOverrun {
            field: Field::Password,
            needed: 1,
            available: 0
        })
    );
}

// --- LCP option lengths 0, 1, past the end ---------------------------------

#[test]
fn option_lengths_zero_one_and_past_end_are_typed_and_stop_iteration() {
    for length in [0u8, 1] {
        let data = [option_type::MRU, length, 0x05, 0xdc];
        let mut it = OptionIter::new(&data);
        assert_eq!(
            it.next(),
            Some(Err(WireError::OptionLengthTooSmall {
                kind: option_type::MRU,
                length
            }))
        );
        assert_eq!(it.next(), None, "iteration stops after the error");
    }
    let data = [option_type::MAGIC_NUMBER, 255, 1, 2, 3, 4];
    let mut it = OptionIter::new(&data);
    assert_eq!(
        it.next(),
        Some(Err(WireError::OptionPastEnd {
            kind: option_type::MAGIC_NUMBER,
            length: 255,
            available: 6
        }))
    );
    assert_eq!(it.next(), None);
}

#[test]
fn known_option_with_impossible_length_is_bad_option_length() {
    // MRU of 3 octets, Magic-Number of 2 (length 2 = no value).
    let raw = RawOption {
        kind: option_type::MRU,
        data: &[5],
    };
    assert_eq!(
        LcpOption::parse(raw),
        Err(WireError::BadOptionLength {
            kind: option_type::MRU,
            length: 3
        })
    );
    let raw = RawOption {
        kind: option_type::MAGIC_NUMBER,
        data: &[],
    };
    assert_eq!(
        LcpOption::parse(raw),
        Err(WireError::BadOptionLength {
            kind: option_type::MAGIC_NUMBER,
            length: 2
        })
    );
}

/// RFC 1570 §1.1/§1.2: Identification and Time-Remaining too short for
/// their fixed fields are typed errors, and the LCP machine discards them
/// without an answer (no Code-Reject) and without an event.
#[test]
fn short_identification_and_time_remaining_are_typed_and_discarded() {
    for n in 0..4 {
        assert_eq!(
            Identification::parse(&[0x11; 8][..n]),
            Err(WireError::Truncated {
                needed: 4,
                available: n
            })
        );
    }
    for n in 0..8 {
        assert_eq!(
            TimeRemaining::parse(&[0x11; 8][..n]),
            Err(WireError::Truncated {
                needed: 8,
                available: n
            })
        );
    }
    let mut lcp = opened(LcpConfig::default());
    for (code, len) in [(Code::Identification, 3), (Code::TimeRemaining, 7)] {
        let mut buf = [0u8; 16];
        let n = emit(code, 9, &[0x11; 8][..len], &mut buf).unwrap();
        let _ = lcp.handle_input(T0, &buf[..n]);
        assert!(drain(&mut lcp).is_empty(), "{code:?} answered");
        assert!(events(&mut lcp).is_empty(), "{code:?} surfaced");
    }
    // A 300-octet Identification: surfaced, cut to the event's bound.
    let mut data = vec![0, 0, 0, 1];
    data.extend(std::iter::repeat_n(b'x', 296));
    let mut buf = [0u8; 400];
    let n = emit(Code::Identification, 10, &data, &mut buf).unwrap();
    lcp.handle_input(T0, &buf[..n]).unwrap();
    assert!(drain(&mut lcp).is_empty());
    assert!(events(&mut lcp).iter().any(|e| matches!(
        e,
        LcpEvent::Identification { magic: 1, message }
            if message.len() == ppp_core::lcp::MAX_MESSAGE_LEN
    )));
}

// --- RADIUS attribute lengths ------------------------------------------------

#[cfg(feature = "radius")]
fn radius_access_accept(attributes: &[u8]) -> Vec<u8> {
    let mut p = vec![2u8, 7, 0, 0];
    p.extend_from_slice(&[0u8; 16]);
    p.extend_from_slice(attributes);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p
}

#[cfg(feature = "radius")]
#[test]
fn radius_attribute_lengths_zero_one_and_past_end_are_typed() {
    use ppp_core::aaa::radius::wire::{Attributes, Packet as RadiusPacket};
    use ppp_core::aaa::radius::Error as RadiusError;

    for length in [0u8, 1] {
        let p = radius_access_accept(&[1, length, b'x', b'y']);
        assert_eq!(
            RadiusPacket::new_checked(&p[..]).map(|_| ()),
            Err(RadiusError::AttributeTooShort { offset: 20, length })
        );
    }
    // A good attribute then one claiming 200 octets with 3.
    let p = radius_access_accept(&[1, 3, b'a', 18, 200, b'm']);
    assert_eq!(
        RadiusPacket::new_checked(&p[..]).map(|_| ()),
        Err(RadiusError::AttributePastEnd {
            offset: 23,
            length: 200
        })
    );
    // The iterator yields the error once and stops.
    let mut it = Attributes::new(&p[20..], 20);
    assert!(matches!(it.next(), Some(Ok(a)) if a.kind == 1 && a.value == b"a"));
    assert!(matches!(
        it.next(),
        Some(Err(RadiusError::AttributePastEnd { .. }))
    ));
    assert_eq!(it.next(), None);
    // Length field beyond the datagram.
    let mut p = radius_access_accept(&[]);
    p[2..4].copy_from_slice(&4000u16.to_be_bytes());
    assert_eq!(
        RadiusPacket::new_checked(&p[..]).map(|_| ()),
        Err(RadiusError::BadLength {
            length: 4000,
            received: 20
        })
    );
}

// --- LCP machine: a scripted peer ----------------------------------------------

fn config_request(id: u8, options: &[u8]) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let n = emit(Code::ConfigureRequest, id, options, &mut buf).unwrap();
    buf[..n].to_vec()
}

fn drain(lcp: &mut Lcp) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1600];
    while let Some(t) = lcp.poll_transmit(&mut buf) {
        out.push(buf[..t.len].to_vec());
    }
    out
}

fn codes(packets: &[Vec<u8>]) -> Vec<Code> {
    packets.iter().map(|p| Code::from(p[0])).collect()
}

fn events(lcp: &mut Lcp) -> Vec<LcpEvent> {
    std::iter::from_fn(|| lcp.poll_event()).collect()
}

/// An LCP that is Opened against a scripted peer (magic 0x1111_1111 ours,
/// 0x2222_2222 the peer's). Returns the machine and our last request id.
fn opened(config: LcpConfig) -> Lcp {
    let mut lcp = Lcp::new(config, 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    let ours = drain(&mut lcp);
    assert_eq!(codes(&ours), [Code::ConfigureRequest]);
    // Ack our request verbatim.
    let mut ack = ours[0].clone();
    ack[0] = u8::from(Code::ConfigureAck);
    lcp.handle_input(T0, &ack).unwrap();
    // Peer's request with a magic number.
    lcp.handle_input(T0, &config_request(1, &[5, 6, 0x22, 0x22, 0x22, 0x22]))
        .unwrap();
    assert_eq!(codes(&drain(&mut lcp)), [Code::ConfigureAck]);
    assert!(lcp.is_opened());
    events(&mut lcp);
    lcp
}

#[test]
fn duplicate_mru_options_last_one_wins_and_request_is_acked() {
    let mut lcp = Lcp::new(LcpConfig::default(), 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    drain(&mut lcp);
    // Two MRUs (1400 then 1300): both values acceptable, so the request is
    // Acked whole (RFC 1661 §5.2: an Ack repeats the options); the last
    // one is what we honour.
    let req = config_request(3, &[1, 4, 0x05, 0x78, 1, 4, 0x05, 0x14]);
    lcp.handle_input(T0, &req).unwrap();
    let out = drain(&mut lcp);
    assert_eq!(codes(&out), [Code::ConfigureAck]);
    assert_eq!(&out[0][4..], &req[4..]);
    assert_eq!(lcp.negotiated().peer_mru, 1300);
}

#[test]
fn duplicate_auth_protocol_option_is_rejected() {
    // RFC 1661 §6.2: "An implementation MUST NOT include multiple
    // Authentication-Protocol Configuration Options in its
    // Configure-Request packet." The second one is Configure-Rejected (as
    // pppd's lcp_reqci does) so the method agreed on is never ambiguous.
    let config =
        LcpConfig::default().with_auth_allowed(&[AuthMethod::MsChapV2, AuthMethod::ChapMd5]);
    let mut lcp = Lcp::new(config, 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    drain(&mut lcp);
    let chap_v2 = [3u8, 5, 0xc2, 0x23, 0x81];
    let chap_md5 = [3u8, 5, 0xc2, 0x23, 0x05];
    let mut options = Vec::new();
    options.extend_from_slice(&chap_v2);
    options.extend_from_slice(&chap_md5);
    lcp.handle_input(T0, &config_request(4, &options)).unwrap();
    let out = drain(&mut lcp);
    assert_eq!(codes(&out), [Code::ConfigureReject]);
    assert_eq!(&out[0][4..], &chap_md5[..]);
    // The peer drops the duplicate: Ack, MS-CHAPv2 agreed.
    lcp.handle_input(T0, &config_request(5, &chap_v2)).unwrap();
    assert_eq!(codes(&drain(&mut lcp)), [Code::ConfigureAck]);
    assert_eq!(lcp.negotiated().local_auth, Some(AuthMethod::MsChapV2));
}

#[test]
fn malformed_options_in_configure_request_are_typed_errors() {
    let mut lcp = Lcp::new(LcpConfig::default(), 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    drain(&mut lcp);
    for (options, error) in [
        (
            vec![1u8, 0, 5, 0xdc],
            WireError::OptionLengthTooSmall { kind: 1, length: 0 },
        ),
        (
            vec![1u8, 1, 5, 0xdc],
            WireError::OptionLengthTooSmall { kind: 1, length: 1 },
        ),
        (
            vec![5u8, 200, 1, 2, 3, 4],
            WireError::OptionPastEnd {
                kind: 5,
                length: 200,
                available: 6,
            },
        ),
    ] {
        let dropped = lcp.fsm().dropped_packets();
        assert_eq!(
            lcp.handle_input(T0, &config_request(9, &options)),
            Err(fsm::Error::Malformed(error))
        );
        // Silently discarded (RFC 1661 §4: invalid packets): no reply.
        assert!(drain(&mut lcp).is_empty());
        assert_eq!(lcp.fsm().dropped_packets(), dropped);
        assert_eq!(lcp.state(), State::ReqSent);
    }
}

#[test]
fn endless_naks_from_us_turn_into_rejects_after_max_failure() {
    // The peer insists on an MRU below our minimum forever. RFC 1661 §4.6:
    // after Max-Failure Configure-Naks without an Ack, Naks become
    // Configure-Rejects.
    let config = LcpConfig::default();
    let max_failure = config.fsm.max_failure;
    let mut lcp = Lcp::new(config, 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    drain(&mut lcp);
    let tiny_mru = [1u8, 4, 0, 64];
    let mut replies = Vec::new();
    for id in 0..200u8 {
        lcp.handle_input(T0, &config_request(id, &tiny_mru))
            .unwrap();
        let out = drain(&mut lcp);
        assert_eq!(out.len(), 1, "one reply per request, nothing piles up");
        replies.push(Code::from(out[0][0]));
    }
    let naks = replies.iter().filter(|c| **c == Code::ConfigureNak).count();
    assert_eq!(naks, usize::from(max_failure));
    assert!(replies[..usize::from(max_failure)]
        .iter()
        .all(|c| *c == Code::ConfigureNak));
    assert!(replies[usize::from(max_failure)..]
        .iter()
        .all(|c| *c == Code::ConfigureReject));
    // Converges as soon as the peer drops the option.
    lcp.handle_input(T0, &config_request(201, &[])).unwrap();
    assert_eq!(codes(&drain(&mut lcp)), [Code::ConfigureAck]);
}

#[test]
fn endless_auth_naks_from_peer_give_up_with_no_common_auth() {
    // We require MS-CHAPv2 then CHAP-MD5; the peer Naks every method (with
    // PAP, which we do not offer). The list is finite: LCP gives up.
    let config =
        LcpConfig::default().with_auth_required(&[AuthMethod::MsChapV2, AuthMethod::ChapMd5]);
    let mut lcp = Lcp::new(config, 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    let mut requests = 1;
    drain(&mut lcp);
    let nak_pap = [3u8, 4, 0xc0, 0x23];
    let mut gave_up = false;
    for id in 1..=50u8 {
        let mut buf = [0u8; 64];
        let n = emit(Code::ConfigureNak, id, &nak_pap, &mut buf).unwrap();
        lcp.handle_input(T0, &buf[..n]).unwrap();
        let out = drain(&mut lcp);
        requests += codes(&out)
            .iter()
            .filter(|c| **c == Code::ConfigureRequest)
            .count();
        if codes(&out).contains(&Code::TerminateRequest) {
            // RFC 1661 §4.1: giving up closes (Terminate-Request).
            assert_eq!(lcp.state(), State::Closing);
            let terminate = &out[out.len() - 1];
            let mut ack = [0u8; 4];
            emit(Code::TerminateAck, terminate[1], &[], &mut ack).unwrap();
            lcp.handle_input(T0, &ack).unwrap();
            gave_up = true;
            break;
        }
    }
    assert!(gave_up);
    // The initial request, one retry with the second method, then the end.
    assert_eq!(requests, 2);
    assert!(events(&mut lcp).contains(&LcpEvent::Finished(EndReason::NoCommonAuth)));
    assert_eq!(lcp.end_reason(), Some(EndReason::NoCommonAuth));
}

#[test]
fn magic_number_nak_loop_is_bounded_per_packet() {
    // The peer Naks our Magic-Number forever. Each Nak costs exactly one
    // new Configure-Request (RFC 1661 §4.1 RCN: irc, scr); nothing
    // accumulates, and the magic pool refill is asked for once.
    let mut lcp = Lcp::new(LcpConfig::default(), 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    let mut ours = drain(&mut lcp).pop().unwrap();
    let mut low_events = 0;
    for _ in 0..1_000 {
        let id = ours[1];
        let mut buf = [0u8; 64];
        let n = emit(
            Code::ConfigureNak,
            id,
            &[5, 6, 0x11, 0x11, 0x11, 0x11],
            &mut buf,
        )
        .unwrap();
        lcp.handle_input(T0, &buf[..n]).unwrap();
        let out = drain(&mut lcp);
        assert_eq!(codes(&out), [Code::ConfigureRequest]);
        ours = out.into_iter().next().unwrap();
        low_events += events(&mut lcp)
            .iter()
            .filter(|e| matches!(e, LcpEvent::MagicNumbersLow))
            .count();
    }
    assert_eq!(low_events, 1);
    assert_eq!(lcp.state(), State::ReqSent);
    assert_eq!(lcp.fsm().dropped_packets(), 0);
}

#[test]
fn lcp_echo_request_flood_is_bounded_by_the_outbox_and_counted() {
    let mut lcp = opened(LcpConfig::default());
    let mut echo = [0u8; 12];
    let n = emit(
        Code::EchoRequest,
        0,
        &[0x22, 0x22, 0x22, 0x22, 1, 2, 3, 4],
        &mut echo,
    )
    .unwrap();
    assert_eq!(n, 12);
    const FLOOD: u32 = 10_000;
    for i in 0..FLOOD {
        echo[1] = i as u8;
        lcp.handle_input(T0, &echo).unwrap();
    }
    let replies = drain(&mut lcp);
    assert_eq!(replies.len(), OUTBOX_DEPTH);
    assert!(codes(&replies).iter().all(|c| *c == Code::EchoReply));
    // Every reply that did not fit was dropped and counted.
    assert_eq!(lcp.fsm().dropped_packets(), FLOOD - OUTBOX_DEPTH as u32);
    assert!(lcp.is_opened());
    // Draining as we go answers every one.
    let mut lcp = opened(LcpConfig::default());
    let mut answered = 0;
    for i in 0..1_000u32 {
        echo[1] = i as u8;
        lcp.handle_input(T0, &echo).unwrap();
        answered += drain(&mut lcp).len();
    }
    assert_eq!(answered, 1_000);
    assert_eq!(lcp.fsm().dropped_packets(), 0);
}

#[test]
fn echo_request_before_open_is_not_answered() {
    let mut lcp = Lcp::new(LcpConfig::default(), 0x1111_1111);
    lcp.open(T0);
    lcp.up(T0);
    drain(&mut lcp);
    let mut echo = [0u8; 8];
    emit(Code::EchoRequest, 1, &[0x22, 0x22, 0x22, 0x22], &mut echo).unwrap();
    for _ in 0..100 {
        let _ = lcp.handle_input(T0, &echo);
    }
    // RFC 1661 §5.8: Echo-Requests are only answered in Opened.
    assert!(drain(&mut lcp).is_empty());
}

#[test]
fn renegotiation_storm_is_bounded_and_converges() {
    let mut lcp = opened(LcpConfig::default());
    let peer_request = config_request(50, &[5, 6, 0x22, 0x22, 0x22, 0x22]);
    let mut downs = 0;
    let mut max_out = 0;
    for i in 0..1_000u32 {
        let mut req = peer_request.clone();
        req[1] = i as u8;
        lcp.handle_input(T0 + Duration::from_millis(u64::from(i)), &req)
            .unwrap();
        let out = drain(&mut lcp);
        max_out = max_out.max(out.len());
        for e in events(&mut lcp) {
            if e == LcpEvent::Down {
                downs += 1;
            }
        }
        assert!(
            matches!(lcp.state(), State::AckSent | State::Opened),
            "{:?}",
            lcp.state()
        );
    }
    // Only the first request in Opened is a renegotiation (tld, scr, sca);
    // later ones arrive in Ack-Sent and are only Acked again.
    assert_eq!(downs, 1);
    assert!(max_out <= 2);
    assert_eq!(lcp.fsm().dropped_packets(), 0);
    // The storm stops: our pending request is Acked and LCP reopens.
    let mut buf = [0u8; 1600];
    let now = T0 + Duration::from_secs(10);
    lcp.handle_timeout(now);
    let t = lcp.poll_transmit(&mut buf).unwrap();
    assert_eq!(Code::from(buf[0]), Code::ConfigureRequest);
    buf[0] = u8::from(Code::ConfigureAck);
    lcp.handle_input(now, &buf[..t.len]).unwrap();
    assert!(lcp.is_opened());
    assert!(events(&mut lcp).contains(&LcpEvent::Up));
}

#[test]
fn renegotiation_storm_with_alternating_acks_never_livelocks() {
    // The peer alternates Configure-Request and Ack of our request: every
    // round reopens (Up) and the next request renegotiates (Down): each
    // round is bounded (at most two packets out), counters stay
    // consistent (Ups == Downs or Downs + 1).
    let mut lcp = opened(LcpConfig::default());
    let mut ups = 0;
    let mut downs = 0;
    for i in 0..500u32 {
        let now = T0 + Duration::from_millis(u64::from(i));
        let mut req = config_request(0, &[5, 6, 0x22, 0x22, 0x22, 0x22]);
        req[1] = i as u8;
        lcp.handle_input(now, &req).unwrap();
        let out = drain(&mut lcp);
        assert!(out.len() <= 2);
        if let Some(ours) = out
            .iter()
            .find(|p| Code::from(p[0]) == Code::ConfigureRequest)
        {
            let mut ack = ours.clone();
            ack[0] = u8::from(Code::ConfigureAck);
            lcp.handle_input(now, &ack).unwrap();
        }
        for e in events(&mut lcp) {
            match e {
                LcpEvent::Up => ups += 1,
                LcpEvent::Down => downs += 1,
                _ => {}
            }
        }
        assert!(lcp.is_opened());
    }
    assert_eq!(downs, 500);
    assert_eq!(ups, 500);
    assert_eq!(lcp.fsm().dropped_packets(), 0);
}

// --- Oversized names and value sizes through the authenticator ---------------

fn chap_response(identifier: u8, value: &[u8], name: &[u8]) -> Vec<u8> {
    let mut p = vec![2u8, identifier, 0, 0, value.len() as u8];
    p.extend_from_slice(value);
    p.extend_from_slice(name);
    let len = p.len() as u16;
    p[2..4].copy_from_slice(&len.to_be_bytes());
    p
}

fn mschapv2_authenticator() -> (ppp_core::auth::Authenticator, u8) {
    use ppp_core::auth::{Authenticator, AuthenticatorConfig, Method};
    let mut a = Authenticator::new(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        T0,
        7,
        &[0x11; 16],
    )
    .unwrap();
    let mut buf = [0u8; 512];
    let t = a.poll_transmit(T0, &mut buf).unwrap();
    assert_eq!(buf[0], 1, "Challenge");
    assert!(t.len <= buf.len());
    (a, buf[1])
}

#[test]
fn mschap_response_with_name_longer_than_255_fails_as_malformed() {
    use ppp_core::auth::{Event, FailureReason};
    let (mut a, id) = mschapv2_authenticator();
    let name = vec![b'u'; 1_000];
    a.handle_packet(T0, &chap_response(id, &[0u8; 49], &name));
    match a.poll_event() {
        Some(Event::Failure(f)) => {
            assert_eq!(f.reason, FailureReason::MalformedResponse);
            assert!(f.username.is_empty());
        }
        other => panic!("{other:?}"),
    }
    assert!(a.poll_event().is_none());
}

#[test]
fn mschap_response_with_wrong_value_size_fails_as_malformed() {
    use ppp_core::auth::{Event, FailureReason};
    for size in [1usize, 16, 48, 50, 255] {
        let (mut a, id) = mschapv2_authenticator();
        a.handle_packet(T0, &chap_response(id, &vec![0u8; size], b"user"));
        match a.poll_event() {
            Some(Event::Failure(f)) => {
                assert_eq!(f.reason, FailureReason::MalformedResponse, "size {size}");
                assert_eq!(f.username.as_slice(), b"user");
            }
            other => panic!("size {size}: {other:?}"),
        }
    }
}

#[test]
fn chap_response_with_overrunning_value_size_is_silently_discarded() {
    // RFC 1994 §4: a malformed packet is discarded; the authenticator
    // keeps waiting (and retransmits its Challenge on the timer).
    let (mut a, id) = mschapv2_authenticator();
    let mut p = chap_response(id, &[0u8; 49], b"user");
    p[4] = 250; // Value-Size past the end.
    a.handle_packet(T0, &p);
    assert!(a.poll_event().is_none());
    assert!(a.poll_timeout().is_some());
}

// --- MS-CHAPv2 Change-Password (RFC 2759 §7) ---------------------------------

/// An authenticator that has offered Change-Password (E=648) to "user"
/// whose password "old" has expired; returns it, the Failure's
/// Identifier and challenge, and the store.
fn offering_change() -> (
    ppp_core::auth::Authenticator,
    u8,
    [u8; 16],
    ppp_core::auth::CredentialStore<2>,
) {
    use ppp_core::auth::{crypto, CredentialStore, DomainRule, Event};
    let mut store = CredentialStore::new(DomainRule::default());
    store.insert_password(b"user", b"old").unwrap();
    store.set_expired(b"user", true);
    let (mut a, id) = mschapv2_authenticator();
    let peer_challenge = [0x22; 16];
    let hash = crypto::nt_password_hash(b"old").unwrap();
    let mut value = [0u8; 49];
    value[..16].copy_from_slice(&peer_challenge);
    value[24..48].copy_from_slice(&crypto::generate_nt_response(
        &[0x11; 16],
        &peer_challenge,
        b"user",
        &hash,
    ));
    a.handle_packet_with(T0, &chap_response(id, &value, b"user"), &store);
    assert_eq!(a.poll_event(), Some(Event::ChallengeNeeded));
    a.feed_challenge(T0, &[0x33; 16]).unwrap();
    let mut buf = [0u8; 512];
    let t = a.poll_transmit(T0, &mut buf).unwrap();
    assert_eq!(buf[0], 4, "Failure");
    assert!(buf[4..t.len].starts_with(b"E=648 R=0 C="));
    (a, id, [0x33; 16], store)
}

#[test]
fn change_password_with_truncated_or_misdeclared_length_is_discarded() {
    use ppp_core::wire::auth::{MsChapV2ChangePassword, MSCHAPV2_CHANGE_PASSWORD_LEN};
    let (mut a, id, _, store) = offering_change();
    let mut packet = vec![0u8; MSCHAPV2_CHANGE_PASSWORD_LEN];
    packet[0] = 7;
    packet[1] = id.wrapping_add(1);
    packet[2..4].copy_from_slice(&(MSCHAPV2_CHANGE_PASSWORD_LEN as u16).to_be_bytes());
    // Length says 586, 100 octets arrive (the CVE-2020-8597 shape).
    assert_eq!(
        MsChapV2ChangePassword::parse_bytes(&packet[..100]),
        Err(auth::Error::BadLength {
            length: 586,
            available: 100
        })
    );
    a.handle_packet_with(T0, &packet[..100], &store);
    // Length 60000 with 586 present; Length 20 (a Response's size).
    for length in [60_000u16, 20] {
        let mut bad = packet.clone();
        bad[2..4].copy_from_slice(&length.to_be_bytes());
        a.handle_packet_with(T0, &bad, &store);
    }
    assert!(a.poll_event().is_none(), "discarded, still waiting");
    assert!(a.poll_timeout().is_some());
}

#[test]
fn change_password_with_forged_password_length_fails_with_691() {
    use ppp_core::auth::{crypto, Event, FailureReason};
    use ppp_core::wire::auth::MsChapV2ChangePassword;
    // A peer that knows the old password but claims a 4 GiB new one: the
    // decrypted PasswordLength is checked against the 512-octet area.
    for claimed in [u32::MAX, 513, 514, 0x8000_0000, 3] {
        let (mut a, id, _, store) = offering_change();
        let old = crypto::nt_password_hash(b"old").unwrap();
        let mut block = crypto::encrypt_pw_block(b"new", &old, &[0x5a; 512]).unwrap();
        // RC4 is a XOR: flip the encrypted length field to `claimed`.
        let real = 6u32.to_le_bytes();
        for (k, (r, c)) in real.iter().zip(claimed.to_le_bytes()).enumerate() {
            block[512 + k] ^= r ^ c;
        }
        let packet = MsChapV2ChangePassword {
            identifier: id.wrapping_add(1),
            encrypted_password: block,
            encrypted_hash: [0; 16],
            peer_challenge: [0; 16],
            nt_response: [0; 24],
            flags: 0,
        };
        let mut bytes = [0u8; 586];
        packet.emit(&mut bytes).unwrap();
        a.handle_packet_with(T0, &bytes, &store);
        match a.poll_event() {
            Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::WrongPassword),
            other => panic!("{claimed}: {other:?}"),
        }
        assert_eq!(
            crypto::new_nt_hash_from_pw_block(&block, &old),
            Err(crypto::Error::BadPasswordBlockLength { length: claimed })
        );
    }
}
