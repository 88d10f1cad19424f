extern crate std;
use super::*;
use crate::auth::testdata::{frame_body, hex, vectors};
use std::vec;
use std::vec::Vec;

fn emit_chap(repr: &ChapRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
    buf
}

fn emit_pap(repr: &PapRepr<'_>) -> Vec<u8> {
    let mut buf = vec![0u8; repr.buffer_len()];
    assert_eq!(repr.emit(&mut buf), Ok(buf.len()));
    buf
}

#[test]
fn chap_md5_frames_parse_and_reemit() {
    let file = include_str!("../../../tests/data/chap_pap.toml");
    let mut seen = 0;
    for v in vectors(file, "chap_md5") {
        let id = v["identifier"].as_integer().unwrap() as u8;
        let challenge = frame_body(&v["challenge_packet"], PROTOCOL_CHAP);
        let repr = ChapRepr::parse_bytes(&challenge).unwrap();
        assert_eq!(
            repr,
            ChapRepr::Challenge {
                identifier: id,
                value: &hex(&v["challenge"]),
                name: v["authenticator_name"].as_str().unwrap().as_bytes(),
            }
        );
        assert_eq!(emit_chap(&repr), challenge);

        let response = frame_body(&v["response_packet"], PROTOCOL_CHAP);
        let repr = ChapRepr::parse_bytes(&response).unwrap();
        assert_eq!(
            repr,
            ChapRepr::Response {
                identifier: id,
                value: &hex(&v["response_value"]),
                name: v["peer_name"].as_str().unwrap().as_bytes(),
            }
        );
        assert_eq!(emit_chap(&repr), response);

        let success = frame_body(&v["success_packet"], PROTOCOL_CHAP);
        let repr = ChapRepr::parse_bytes(&success).unwrap();
        assert_eq!(
            repr,
            ChapRepr::Success {
                identifier: id,
                message: v["success_message"].as_str().unwrap().as_bytes(),
            }
        );
        assert_eq!(emit_chap(&repr), success);

        let failure = frame_body(&v["failure_packet"], PROTOCOL_CHAP);
        let repr = ChapRepr::parse_bytes(&failure).unwrap();
        assert_eq!(
            repr,
            ChapRepr::Failure {
                identifier: id,
                message: v["failure_message"].as_str().unwrap().as_bytes(),
            }
        );
        assert_eq!(emit_chap(&repr), failure);
        seen += 1;
    }
    assert_eq!(seen, 2);
}

#[test]
fn pap_frames_parse_and_reemit() {
    let file = include_str!("../../../tests/data/chap_pap.toml");
    let mut seen = 0;
    for v in vectors(file, "pap") {
        let id = v["identifier"].as_integer().unwrap() as u8;
        let text = |k: &str| v[k].as_str().unwrap().as_bytes().to_vec();
        let request = frame_body(&v["request_packet"], PROTOCOL_PAP);
        let repr = PapRepr::parse_bytes(&request).unwrap();
        assert_eq!(
            repr,
            PapRepr::AuthenticateRequest {
                identifier: id,
                peer_id: &text("peer_id"),
                password: &text("password"),
            }
        );
        assert_eq!(emit_pap(&repr), request);
        let ack = frame_body(&v["ack_packet"], PROTOCOL_PAP);
        let repr = PapRepr::parse_bytes(&ack).unwrap();
        assert_eq!(
            repr,
            PapRepr::AuthenticateAck {
                identifier: id,
                message: &text("ack_message"),
            }
        );
        assert_eq!(emit_pap(&repr), ack);
        let nak = frame_body(&v["nak_packet"], PROTOCOL_PAP);
        let repr = PapRepr::parse_bytes(&nak).unwrap();
        assert_eq!(
            repr,
            PapRepr::AuthenticateNak {
                identifier: id,
                message: &text("nak_message"),
            }
        );
        assert_eq!(emit_pap(&repr), nak);
        seen += 1;
    }
    assert_eq!(seen, 2);
}

#[test]
fn mschapv2_frames_parse_and_reemit() {
    let file = include_str!("../../../tests/data/mschapv2.toml");
    let mut seen = 0;
    for v in vectors(file, "mschapv2") {
        let Some(response_packet) = v.get("response_packet") else {
            continue;
        };
        let id = v["chap_identifier"].as_integer().unwrap() as u8;
        let challenge = frame_body(&v["challenge_packet"], PROTOCOL_CHAP);
        let repr = ChapRepr::parse_bytes(&challenge).unwrap();
        assert_eq!(
            repr,
            ChapRepr::Challenge {
                identifier: id,
                value: &hex(&v["authenticator_challenge"]),
                name: v["authenticator_name"].as_str().unwrap().as_bytes(),
            }
        );
        assert_eq!(emit_chap(&repr), challenge);

        let response = frame_body(response_packet, PROTOCOL_CHAP);
        let repr = ChapRepr::parse_bytes(&response).unwrap();
        let ChapRepr::Response {
            identifier,
            value,
            name,
        } = repr
        else {
            panic!("not a response: {repr:?}")
        };
        assert_eq!(identifier, id);
        assert_eq!(name, v["username"].as_str().unwrap().as_bytes());
        let value = MsChapV2Response::parse(value).unwrap();
        assert_eq!(value.peer_challenge.to_vec(), hex(&v["peer_challenge"]));
        assert_eq!(value.nt_response.to_vec(), hex(&v["nt_response"]));
        assert_eq!(value.flags, 0);
        let bytes = value.to_bytes();
        assert_eq!(
            emit_chap(&ChapRepr::Response {
                identifier,
                value: &bytes,
                name
            }),
            response
        );

        let success = frame_body(&v["success_packet"], PROTOCOL_CHAP);
        let ChapRepr::Success {
            identifier,
            message,
        } = ChapRepr::parse_bytes(&success).unwrap()
        else {
            panic!("not a success")
        };
        assert_eq!(identifier, id);
        let parsed = MsChapV2Success::parse(message).unwrap();
        let text = v["authenticator_response"].as_str().unwrap().as_bytes();
        assert_eq!(
            parsed.authenticator_response,
            parse_authenticator_response(text).unwrap()
        );
        let expected_message = v["success_message"].as_str().unwrap().as_bytes();
        assert_eq!(
            parsed.message,
            (!expected_message.is_empty()).then_some(expected_message)
        );
        let mut out = vec![0u8; parsed.buffer_len()];
        assert_eq!(parsed.emit(&mut out), Ok(message.len()));
        assert_eq!(out, message);
        seen += 1;
    }
    assert_eq!(seen, 2);
}

#[test]
fn mschapv1_frames_parse_and_reemit() {
    let file = include_str!("../../../tests/data/mschapv1.toml");
    let mut seen = 0;
    for v in vectors(file, "mschapv1") {
        let Some(response_packet) = v.get("response_packet") else {
            continue;
        };
        let id = v["chap_identifier"].as_integer().unwrap() as u8;
        let challenge = frame_body(&v["challenge_packet"], PROTOCOL_CHAP);
        assert_eq!(
            ChapRepr::parse_bytes(&challenge).unwrap(),
            ChapRepr::Challenge {
                identifier: id,
                value: &hex(&v["challenge"]),
                name: b"",
            }
        );
        let response = frame_body(response_packet, PROTOCOL_CHAP);
        let ChapRepr::Response {
            identifier,
            value,
            name,
        } = ChapRepr::parse_bytes(&response).unwrap()
        else {
            panic!("not a response")
        };
        assert_eq!(identifier, id);
        assert_eq!(name, v["username"].as_str().unwrap().as_bytes());
        let value = MsChapV1Response::parse(value).unwrap();
        assert_eq!(value.nt_response.to_vec(), hex(&v["nt_response"]));
        assert!(value.use_nt());
        if v.get("send_lm_response").and_then(|b| b.as_bool()) == Some(true) {
            assert_eq!(value.lm_response.to_vec(), hex(&v["lm_response"]));
        } else {
            assert_eq!(value.lm_response, [0; 24]);
        }
        let bytes = value.to_bytes();
        assert_eq!(
            emit_chap(&ChapRepr::Response {
                identifier,
                value: &bytes,
                name
            }),
            response
        );
        seen += 1;
    }
    assert_eq!(seen, 3);
}

#[test]
fn header_errors() {
    assert_eq!(
        Packet::new_checked(&[][..]).err(),
        Some(Error::Truncated {
            needed: 4,
            available: 0
        })
    );
    assert_eq!(
        Packet::new_checked(&[1, 1, 0][..]).err(),
        Some(Error::Truncated {
            needed: 4,
            available: 3
        })
    );
    assert_eq!(
        Packet::new_checked(&[1, 1, 0, 3][..]).err(),
        Some(Error::BadLength {
            length: 3,
            available: 4
        })
    );
    assert_eq!(
        Packet::new_checked(&[3, 1, 0, 6, 0][..]).err(),
        Some(Error::BadLength {
            length: 6,
            available: 5
        })
    );
    // Octets after Length are padding (RFC 1661 §5).
    assert_eq!(
        ChapRepr::parse_bytes(&[3, 9, 0, 5, b'x', 0xee, 0xee]),
        Ok(ChapRepr::Success {
            identifier: 9,
            message: b"x"
        })
    );
    let view = Packet::new_unchecked(&[1u8][..]);
    assert_eq!((view.code(), view.identifier(), view.length()), (1, 0, 0));
    assert_eq!(view.body(), b"");
}

#[test]
fn pap_bad_input() {
    // Request with no Peer-ID-Length.
    assert_eq!(
        PapRepr::parse_bytes(&[1, 1, 0, 4]),
        Err(Error::FieldOverrun {
            field: Field::PeerId,
            needed: 1,
            available: 0
        })
    );
    // Peer-ID-Length 5 with 2 octets.
    assert_eq!(
        PapRepr::parse_bytes(&[1, 1, 0, 7, 5, b'a', b'b']),
        Err(Error::FieldOverrun {
            field: Field::PeerId,
            needed: 6,
            available: 3
        })
    );
    // No Passwd-Length.
    assert_eq!(
        PapRepr::parse_bytes(&[1, 1, 0, 6, 1, b'a']),
        Err(Error::FieldOverrun {
            field: Field::Password,
            needed: 1,
            available: 0
        })
    );
    // Password past Length (bytes beyond Length do not count).
    assert_eq!(
        PapRepr::parse_bytes(&[1, 1, 0, 8, 1, b'a', 3, b'x', b'y', b'z']),
        Err(Error::FieldOverrun {
            field: Field::Password,
            needed: 4,
            available: 2
        })
    );
    assert_eq!(
        PapRepr::parse_bytes(&[2, 1, 0, 6, 9, b'a']),
        Err(Error::FieldOverrun {
            field: Field::Message,
            needed: 10,
            available: 2
        })
    );
    // Ack without Msg-Length is tolerated as an empty message.
    assert_eq!(
        PapRepr::parse_bytes(&[2, 7, 0, 4]),
        Ok(PapRepr::AuthenticateAck {
            identifier: 7,
            message: b""
        })
    );
    assert_eq!(
        PapRepr::parse_bytes(&[4, 1, 0, 4]),
        Err(Error::UnknownCode { code: 4 })
    );
    assert_eq!(
        PapRepr::parse_bytes(&[0, 1, 0, 4]),
        Err(Error::UnknownCode { code: 0 })
    );
    // Emitting.
    let long = [b'x'; 256];
    let repr = PapRepr::AuthenticateRequest {
        identifier: 1,
        peer_id: &long,
        password: b"",
    };
    assert_eq!(
        repr.emit(&mut [0u8; 300]),
        Err(Error::TooLong {
            field: Field::PeerId,
            length: 256
        })
    );
    let repr = PapRepr::AuthenticateNak {
        identifier: 1,
        message: b"no",
    };
    assert_eq!(
        repr.emit(&mut [0u8; 6]),
        Err(Error::BufferTooSmall {
            needed: 7,
            available: 6
        })
    );
}

#[test]
fn pap_debug_hides_password() {
    let s = std::format!(
        "{:?}",
        PapRepr::AuthenticateRequest {
            identifier: 1,
            peer_id: b"u",
            password: b"hunter2"
        }
    );
    assert!(s.contains("redacted") && !s.contains("104, 117"), "{s}");
}

#[test]
fn chap_bad_input() {
    assert_eq!(
        ChapRepr::parse_bytes(&[1, 1, 0, 4]),
        Err(Error::FieldOverrun {
            field: Field::Value,
            needed: 1,
            available: 0
        })
    );
    // Value-Size past Length.
    assert_eq!(
        ChapRepr::parse_bytes(&[2, 1, 0, 7, 16, 1, 2, 3, 4, 5]),
        Err(Error::FieldOverrun {
            field: Field::Value,
            needed: 17,
            available: 3
        })
    );
    assert_eq!(
        ChapRepr::parse_bytes(&[1, 1, 0, 5, 0]),
        Err(Error::EmptyValue)
    );
    for code in [0u8, 5, 6, 7, 255] {
        assert_eq!(
            ChapRepr::parse_bytes(&[code, 1, 0, 4]),
            Err(Error::UnknownCode { code })
        );
    }
    assert_eq!(
        ChapRepr::Challenge {
            identifier: 1,
            value: b"",
            name: b""
        }
        .emit(&mut [0u8; 10]),
        Err(Error::EmptyValue)
    );
    let value = [0u8; 256];
    assert_eq!(
        ChapRepr::Response {
            identifier: 1,
            value: &value,
            name: b""
        }
        .emit(&mut [0u8; 300]),
        Err(Error::TooLong {
            field: Field::Value,
            length: 256
        })
    );
    let name = vec![b'n'; 70_000];
    assert_eq!(
        ChapRepr::Response {
            identifier: 1,
            value: b"v",
            name: &name
        }
        .emit(&mut [0u8; 10]),
        Err(Error::TooLong {
            field: Field::Name,
            length: 70_006
        })
    );
    assert_eq!(
        ChapRepr::Success {
            identifier: 1,
            message: b"abc"
        }
        .emit(&mut [0u8; 6]),
        Err(Error::BufferTooSmall {
            needed: 7,
            available: 6
        })
    );
}

#[test]
fn mschap_values_bad_size() {
    for len in [0usize, 48, 50] {
        let value = vec![0u8; len];
        let err = Error::WrongSize {
            field: Field::Value,
            expected: 49,
            actual: len,
        };
        assert_eq!(MsChapV1Response::parse(&value), Err(err));
        assert_eq!(MsChapV2Response::parse(&value), Err(err));
    }
    // Non-zero reserved octets are ignored; re-emitting zeroes them.
    let mut value = [0u8; 49];
    value[16..24].fill(0xaa);
    let parsed = MsChapV2Response::parse(&value).unwrap();
    assert_eq!(parsed.to_bytes(), [0u8; 49]);
    let v1 = MsChapV1Response::parse(&[0u8; 49]).unwrap();
    assert!(!v1.use_nt());
}

#[test]
fn mschapv2_success_parsing_is_tolerant() {
    let hex40 = b"407A5589115FD0D6209F510FE9C04566932CDA56";
    let expected =
        parse_authenticator_response(b"S=407A5589115FD0D6209F510FE9C04566932CDA56").unwrap();
    let mut lower = Vec::from(&b"S="[..]);
    lower.extend(hex40.to_ascii_lowercase());
    assert_eq!(
        MsChapV2Success::parse(&lower)
            .unwrap()
            .authenticator_response,
        expected
    );
    let mut text = Vec::from(&b"M=hello there S="[..]);
    text.extend_from_slice(hex40);
    // M= runs to the end, so S= after it is part of the message.
    assert_eq!(
        MsChapV2Success::parse(&text),
        Err(Error::MissingAttribute { attribute: b'S' })
    );
    let mut text = Vec::from(&b"  S="[..]);
    text.extend_from_slice(hex40);
    text.extend_from_slice(b" X=1 M=Access granted ok");
    let parsed = MsChapV2Success::parse(&text).unwrap();
    assert_eq!(parsed.authenticator_response, expected);
    assert_eq!(parsed.message, Some(&b"Access granted ok"[..]));
    // Bad inputs.
    assert_eq!(
        MsChapV2Success::parse(b""),
        Err(Error::MissingAttribute { attribute: b'S' })
    );
    assert_eq!(
        MsChapV2Success::parse(b"S=407A"),
        Err(Error::BadAttribute { attribute: b'S' })
    );
    let mut bad = Vec::from(&b"S="[..]);
    bad.extend_from_slice(&hex40[..39]);
    bad.push(b'G');
    assert_eq!(
        MsChapV2Success::parse(&bad),
        Err(Error::BadAttribute { attribute: b'S' })
    );
    assert_eq!(
        parse_authenticator_response(b"T=00"),
        Err(Error::MissingAttribute { attribute: b'S' })
    );
    let s = MsChapV2Success {
        authenticator_response: expected,
        message: Some(b"hi"),
    };
    assert_eq!(
        s.emit(&mut [0u8; 46]),
        Err(Error::BufferTooSmall {
            needed: 47,
            available: 46
        })
    );
}

#[test]
fn mschap_failure_parse_and_emit() {
    let v2 = b"E=691 R=1 C=000102030405060708090A0B0C0D0E0F V=3 M=Authentication failed";
    let parsed = MsChapFailure::parse(v2).unwrap();
    let challenge: [u8; 16] = core::array::from_fn(|i| i as u8);
    assert_eq!(
        parsed,
        MsChapFailure {
            error: 691,
            retry: true,
            challenge: Some(FailureChallenge::V2(challenge)),
            version: Some(3),
            message: Some(b"Authentication failed"),
        }
    );
    let mut out = vec![0u8; parsed.buffer_len()];
    assert_eq!(parsed.emit(&mut out), Ok(v2.len()));
    assert_eq!(&out[..], &v2[..]);

    let v1 = b"E=691 R=1";
    let parsed = MsChapFailure::parse(v1).unwrap();
    assert_eq!(
        parsed,
        MsChapFailure {
            error: 691,
            retry: true,
            challenge: None,
            version: None,
            message: None
        }
    );
    let mut out = vec![0u8; parsed.buffer_len()];
    parsed.emit(&mut out).unwrap();
    assert_eq!(&out[..], &v1[..]);

    // Any order, lower-case keys, 8-octet challenge, no R=.
    let parsed = MsChapFailure::parse(b"C=0011223344556677 v=2 e=649").unwrap();
    assert_eq!(parsed.error, 649);
    assert!(!parsed.retry);
    assert_eq!(
        parsed.challenge,
        Some(FailureChallenge::V1([
            0, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77
        ]))
    );
    assert_eq!(parsed.version, Some(2));

    // Bad inputs.
    let cases: [(&[u8], Error); 7] = [
        (b"R=1", Error::MissingAttribute { attribute: b'E' }),
        (b"", Error::MissingAttribute { attribute: b'E' }),
        (b"E=69x", Error::BadAttribute { attribute: b'E' }),
        (b"E=99999999999", Error::BadAttribute { attribute: b'E' }),
        (b"E=4294967296", Error::BadAttribute { attribute: b'E' }),
        (b"E=691 R=2", Error::BadAttribute { attribute: b'R' }),
        (b"E=691 C=0011", Error::BadAttribute { attribute: b'C' }),
    ];
    for (text, err) in cases {
        assert_eq!(MsChapFailure::parse(text), Err(err), "{text:?}");
    }
    assert_eq!(
        MsChapFailure::parse(b"E=691 V=three"),
        Err(Error::BadAttribute { attribute: b'V' })
    );
    assert_eq!(
        MsChapFailure::parse(b"E= R=1"),
        Err(Error::BadAttribute { attribute: b'E' })
    );
    assert_eq!(
        MsChapFailure::parse(b"E=691 C=00112233445566zz"),
        Err(Error::BadAttribute { attribute: b'C' })
    );
    assert_eq!(
        MsChapFailure::parse(b"E=4294967295").unwrap().error,
        u32::MAX
    );
    assert_eq!(
        parsed.emit(&mut [0u8; 4]),
        Err(Error::BufferTooSmall {
            needed: parsed.buffer_len(),
            available: 4
        })
    );
}

#[test]
fn error_display_does_not_allocate_and_names_the_field() {
    let s = std::format!(
        "{}",
        Error::FieldOverrun {
            field: Field::Value,
            needed: 17,
            available: 3
        }
    );
    assert!(s.contains("Value") && s.contains("17"), "{s}");
    assert_eq!(
        std::format!("{}", Error::MissingAttribute { attribute: b'S' }),
        "MS-CHAP message lacks S="
    );
}
