//! `pptp-tool`: decode of the shared vectors (PPTP control messages, GRE
//! packets, PPP frames) and `keys` against the RFC 2759 / RFC 3079
//! vectors. The vector files are copies from `/work/shared/vectors`.

use std::process::Command;

use pptp_vpn::decode::{decode_auto, decode_control, decode_gre, decode_ppp, Decoded, Kind};
use pptp_vpn::keys::{compute, parse_hex, KeyInputs};

const PPTP: &str = include_str!("data/pptp_messages.toml");
const GRE: &str = include_str!("data/gre.toml");
const SEED_FRAMES: &str = include_str!("data/seed_frames.toml");
const CHAP_PAP: &str = include_str!("data/chap_pap.toml");
const MSCHAPV2: &str = include_str!("data/mschapv2.toml");
const MSCHAPV1: &str = include_str!("data/mschapv1.toml");
const MPPE_KEYS: &str = include_str!("data/mppe_keys.toml");

fn vectors(text: &str) -> Vec<toml::Table> {
    let doc: toml::Table = text.parse().expect("vector file parses");
    doc["vector"]
        .as_array()
        .expect("[[vector]]")
        .iter()
        .map(|v| v.as_table().expect("table").clone())
        .collect()
}

fn s<'a>(v: &'a toml::Table, k: &str) -> &'a str {
    v.get(k)
        .and_then(|x| x.as_str())
        .unwrap_or_else(|| panic!("{k} in {v:?}"))
}

/// A name as the decoder quotes it.
fn q(text: &str) -> String {
    format!("\"{}\"", text.escape_debug())
}

fn field<'a>(d: &'a Decoded, name: &str) -> Option<&'a str> {
    d.fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

#[test]
fn decodes_all_15_control_messages_with_their_fields() {
    let names = [
        "SCCRQ", "SCCRP", "StopCCRQ", "StopCCRP", "ECHORQ", "ECHORP", "OCRQ", "OCRP", "ICRQ",
        "ICRP", "ICCN", "CCRQ", "CDN", "WEN", "SLI",
    ];
    // Vector field name -> the decoder's field name.
    let map = [
        ("host_name", "host"),
        ("vendor_string", "vendor"),
        ("framing_capabilities", "framing caps"),
        ("bearer_capabilities", "bearer caps"),
        ("maximum_channels", "max chan"),
        ("call_serial_number", "serial"),
        ("minimum_bps", "min bps"),
        ("maximum_bps", "max bps"),
        ("bearer_type", "bearer"),
        ("call_bearer_type", "bearer"),
        ("framing_type", "framing"),
        ("packet_recv_window_size", "recv window"),
        ("packet_processing_delay", "proc delay"),
        ("packet_transmit_delay", "xmit delay"),
        ("peer_call_id", "peer call id"),
        ("result_code", "result"),
        ("error_code", "error"),
        ("cause_code", "cause"),
        ("connect_speed", "speed"),
        ("physical_channel_id", "phys chan"),
        ("crc_errors", "crc"),
        ("hardware_overruns", "hw overruns"),
        ("buffer_overruns", "buf overruns"),
        ("timeout_errors", "timeouts"),
        ("alignment_errors", "alignment"),
        ("dialed_number", "dialed"),
        ("dialing_number", "dialing"),
    ];
    let all = vectors(PPTP);
    assert_eq!(all.len(), 15);
    let mut checked = 0;
    for v in &all {
        let bytes = parse_hex(s(v, "hex")).unwrap();
        let (kind, d) = decode_auto(&bytes).unwrap();
        assert_eq!(kind, Kind::PptpControl);
        let t = v["control_message_type"].as_integer().unwrap() as usize;
        assert_eq!(d.title, format!("PPTP {}", names[t - 1]), "{}", s(v, "id"));
        assert_eq!(
            field(&d, "len").unwrap(),
            v["length"].as_integer().unwrap().to_string()
        );
        let fields = v["fields"].as_table().unwrap();
        for (vk, dk) in map {
            let Some(expected) = fields.get(vk) else {
                continue;
            };
            let got = field(&d, dk).unwrap_or_else(|| panic!("{}: no {dk}", s(v, "id")));
            match expected {
                toml::Value::Integer(i) => assert!(
                    got == i.to_string() || got.starts_with(&format!("{i} ")),
                    "{}: {dk} = {got}, vector {i}",
                    s(v, "id")
                ),
                toml::Value::String(text) => {
                    assert_eq!(got, q(text), "{}: {dk}", s(v, "id"))
                }
                _ => {}
            }
            checked += 1;
        }
        if let Some(accm) = fields.get("send_accm").and_then(|x| x.as_integer()) {
            assert_eq!(field(&d, "send ACCM").unwrap(), format!("{accm:#010x}"));
        }
    }
    assert!(checked > 50, "only {checked} fields compared");
}

#[test]
fn decodes_gre_headers_and_the_ppp_inside() {
    let mut n = 0;
    for v in vectors(GRE).iter().filter(|v| s(v, "kind") == "gre") {
        let bytes = parse_hex(s(v, "hex")).unwrap();
        let complete = v.get("complete").and_then(|c| c.as_bool()).unwrap_or(true);
        let result = decode_gre(&bytes);
        if !complete {
            // Truncated captures: an error or a partial decode, never a panic.
            continue;
        }
        let d = result.unwrap_or_else(|e| panic!("{}: {e}", s(v, "id")));
        n += 1;
        assert_eq!(
            field(&d, "call id").unwrap(),
            v["call_id"].as_integer().unwrap().to_string()
        );
        assert_eq!(
            field(&d, "payload len").unwrap(),
            v["payload_length"].as_integer().unwrap().to_string()
        );
        match v.get("seq").and_then(|x| x.as_integer()) {
            Some(seq) => assert_eq!(field(&d, "seq").unwrap(), seq.to_string()),
            None => assert!(field(&d, "seq").is_none()),
        }
        match v.get("ack").and_then(|x| x.as_integer()) {
            Some(ack) => assert_eq!(field(&d, "ack").unwrap(), ack.to_string()),
            None => assert!(field(&d, "ack").is_none()),
        }
        let payload_len = v["payload_length"].as_integer().unwrap();
        assert_eq!(d.inner.is_some(), payload_len > 0, "{}", s(v, "id"));
        let (kind, _) = decode_auto(&bytes).unwrap();
        assert_eq!(kind, Kind::Gre);
    }
    assert!(n >= 5, "{n} complete GRE vectors");
}

fn code_short(name: &str) -> &'static str {
    match name {
        "Configure-Request" => "CONFREQ",
        "Configure-Ack" => "CONFACK",
        "Configure-Nak" => "CONFNAK",
        "Configure-Reject" => "CONFREJ",
        "Terminate-Request" => "TERMREQ",
        "Terminate-Ack" => "TERMACK",
        "Challenge" => "CHALLENGE",
        "Response" => "RESPONSE",
        "Success" => "SUCCESS",
        "Failure" => "FAILURE",
        other => panic!("unmapped code {other}"),
    }
}

#[test]
fn decodes_the_seed_trace_ppp_frames() {
    let mut n = 0;
    for v in vectors(SEED_FRAMES) {
        let bytes = parse_hex(s(&v, "hex")).unwrap();
        let complete = v.get("complete").and_then(|c| c.as_bool()).unwrap_or(true);
        let result = decode_ppp(&bytes);
        if !complete {
            continue;
        }
        let d = result.unwrap_or_else(|e| panic!("{}: {e}", s(&v, "id")));
        let proto = s(&v, "protocol_name").split_whitespace().next().unwrap();
        let expected = format!("{proto} {}", code_short(s(&v, "code_name")));
        assert_eq!(d.title, expected, "{}", s(&v, "id"));
        assert!(
            !d.one_line().contains("bad option"),
            "{}: {}",
            s(&v, "id"),
            d.one_line()
        );
        n += 1;
    }
    assert!(n >= 15, "{n} complete frames");
}

#[test]
fn decodes_chap_and_pap_packets() {
    for v in vectors(CHAP_PAP) {
        match s(&v, "kind") {
            "chap_md5" => {
                let d = decode_ppp(&parse_hex(s(&v, "challenge_packet")).unwrap()).unwrap();
                assert_eq!(d.title, "CHAP CHALLENGE");
                assert_eq!(field(&d, "challenge").unwrap(), s(&v, "challenge"));
                assert_eq!(field(&d, "name").unwrap(), q(s(&v, "authenticator_name")));
                let d = decode_ppp(&parse_hex(s(&v, "response_packet")).unwrap()).unwrap();
                assert_eq!(
                    field(&d, "response (MD5)").unwrap(),
                    s(&v, "response_value")
                );
                assert_eq!(field(&d, "name").unwrap(), q(s(&v, "peer_name")));
                let d = decode_ppp(&parse_hex(s(&v, "failure_packet")).unwrap()).unwrap();
                assert_eq!(field(&d, "message").unwrap(), q(s(&v, "failure_message")));
            }
            "pap" => {
                let d = decode_ppp(&parse_hex(s(&v, "request_packet")).unwrap()).unwrap();
                assert_eq!(d.title, "PAP AUTH-REQ");
                assert_eq!(field(&d, "peer-id").unwrap(), q(s(&v, "peer_id")));
                // The password is never printed.
                assert!(
                    !d.one_line().contains(&format!("\"{}\"", s(&v, "password")))
                        || s(&v, "password") == s(&v, "peer_id")
                );
                assert!(field(&d, "password").unwrap().contains("hidden"));
                let d = decode_ppp(&parse_hex(s(&v, "nak_packet")).unwrap()).unwrap();
                assert_eq!(field(&d, "message").unwrap(), q(s(&v, "nak_message")));
            }
            _ => {}
        }
    }
}

#[test]
fn decodes_ms_chap_responses() {
    let v2 = &vectors(MSCHAPV2)[0];
    let d = decode_ppp(&parse_hex(s(v2, "response_packet")).unwrap()).unwrap();
    assert_eq!(
        field(&d, "peer-challenge (MS-CHAPv2)").unwrap(),
        s(v2, "peer_challenge")
    );
    assert_eq!(field(&d, "nt-response").unwrap(), s(v2, "nt_response"));
    let d = decode_ppp(&parse_hex(s(v2, "success_packet")).unwrap()).unwrap();
    assert_eq!(
        field(&d, "message").unwrap(),
        q(s(v2, "authenticator_response"))
    );
    let v1 = vectors(MSCHAPV1)
        .into_iter()
        .find(|v| v.contains_key("response_packet"))
        .unwrap();
    let d = decode_ppp(&parse_hex(s(&v1, "response_packet")).unwrap()).unwrap();
    assert_eq!(field(&d, "nt-response").unwrap(), s(&v1, "nt_response"));
    assert_eq!(field(&d, "use-nt flag").unwrap(), "1");
}

#[test]
fn bad_input_gives_typed_errors() {
    assert!(decode_control(&[0x00, 0x10, 0x00, 0x01, 0x1a, 0x2b, 0x3c, 0x4d]).is_err());
    assert!(decode_gre(&[0x30, 0x81, 0x88, 0x0b, 0x00, 0x05]).is_err());
    assert!(decode_ppp(&[0xff, 0x05]).is_err());
    // Every prefix of every vector decodes or errors, never panics.
    for text in [PPTP, GRE, SEED_FRAMES] {
        for v in vectors(text) {
            let Some(hex) = v.get("hex").and_then(|h| h.as_str()) else {
                continue;
            };
            let bytes = parse_hex(hex).unwrap();
            for cut in 0..bytes.len() {
                let _ = decode_auto(&bytes[..cut]);
            }
        }
    }
}

fn hexarr<const N: usize>(text: &str) -> [u8; N] {
    parse_hex(text).unwrap().try_into().unwrap()
}

#[test]
fn keys_match_rfc2759_and_rfc3079() {
    for v in vectors(MSCHAPV2)
        .into_iter()
        .filter(|v| s(v, "kind") == "mschapv2")
    {
        let inputs = KeyInputs {
            username: s(&v, "username").into(),
            password: s(&v, "password").into(),
            auth_challenge: Some(hexarr(s(&v, "authenticator_challenge"))),
            peer_challenge: Some(hexarr(s(&v, "peer_challenge"))),
            v1_challenge: None,
        };
        let r = compute(&inputs).unwrap();
        assert_eq!(r.password_hash, s(&v, "password_hash"), "{}", s(&v, "id"));
        assert_eq!(r.password_hash_hash, s(&v, "password_hash_hash"));
        assert_eq!(r.nt_response, s(&v, "nt_response"));
        assert_eq!(r.challenge_hash.as_deref(), Some(s(&v, "challenge_hash")));
        assert_eq!(
            r.authenticator_response.as_deref(),
            Some(s(&v, "authenticator_response"))
        );
    }
    let mut strengths = 0;
    for v in vectors(MPPE_KEYS)
        .iter()
        .filter(|v| s(v, "kind") == "mppe_v2")
    {
        let inputs = KeyInputs {
            username: s(v, "username").into(),
            password: s(v, "password").into(),
            auth_challenge: Some(hexarr(s(v, "authenticator_challenge"))),
            peer_challenge: Some(hexarr(s(v, "peer_challenge"))),
            v1_challenge: None,
        };
        let r = compute(&inputs).unwrap();
        assert_eq!(r.nt_response, s(v, "nt_response"));
        assert_eq!(r.master_key, s(v, "master_key"));
        let bits = v["key_bits"].as_integer().unwrap() as u16;
        let k = r.strengths.iter().find(|k| k.bits == bits).unwrap();
        assert_eq!(
            k.server_send_start_key,
            s(v, "server_send_start_key"),
            "{}",
            s(v, "id")
        );
        assert_eq!(k.server_recv_start_key, s(v, "server_recv_start_key"));
        assert_eq!(k.server_send_session_key, s(v, "server_send_session_key"));
        assert_eq!(k.server_recv_session_key, s(v, "server_recv_session_key"));
        strengths += 1;
    }
    assert_eq!(strengths, 3);
}

#[test]
fn keys_match_the_ms_chapv1_vectors() {
    let nt = vectors(MPPE_KEYS)
        .into_iter()
        .find(|v| s(v, "kind") == "mppe_v1_nt")
        .unwrap();
    let inputs = KeyInputs {
        password: s(&nt, "password").into(),
        v1_challenge: Some(hexarr(s(&nt, "challenge"))),
        ..KeyInputs::default()
    };
    let r = compute(&inputs).unwrap();
    assert_eq!(r.master_key, s(&nt, "initial_session_key"));
    let k128 = r.strengths.iter().find(|k| k.bits == 128).unwrap();
    assert_eq!(k128.server_send_session_key, s(&nt, "current_session_key"));
    assert_eq!(
        r.strengths[0].server_send_session_key,
        s(&nt, "start_key_8_40bit_session_key")
    );
    assert_eq!(
        r.strengths[1].server_send_session_key,
        s(&nt, "start_key_8_56bit_session_key")
    );
    for lm in vectors(MPPE_KEYS)
        .iter()
        .filter(|v| s(v, "kind") == "mppe_v1_lm")
    {
        assert_eq!(
            r.lm_password_hash.as_deref(),
            Some(s(lm, "lm_password_hash"))
        );
        let bits = lm["key_bits"].as_integer().unwrap() as u16;
        let k = r.strengths.iter().find(|k| k.bits == bits).unwrap();
        assert_eq!(k.lm_session_key.as_deref(), Some(s(lm, "session_key")));
    }
    for v in vectors(MSCHAPV1) {
        let inputs = KeyInputs {
            password: s(&v, "password").into(),
            v1_challenge: Some(hexarr(s(&v, "challenge"))),
            ..KeyInputs::default()
        };
        let r = compute(&inputs).unwrap();
        if let Some(expected) = v.get("nt_response").and_then(|x| x.as_str()) {
            assert_eq!(r.nt_response, expected, "{}", s(&v, "id"));
        }
        if let Some(expected) = v.get("lm_response").and_then(|x| x.as_str()) {
            assert_eq!(r.lm_response.as_deref(), Some(expected), "{}", s(&v, "id"));
        }
    }
}

fn tool(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pptp-tool"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_keys_prints_the_rfc_values() {
    let (ok, out, err) = tool(&[
        "keys",
        "--user",
        "User",
        "--password",
        "clientPass",
        "--auth-challenge",
        "5b5d7c7d7b3f2f3e3c2c602132262628",
        "--peer-challenge",
        "21402324255e262a28295f2b3a337c7e",
    ]);
    assert!(ok, "{err}");
    assert!(
        out.contains("82309ecd8d708b5ea08faa3981cd83544233114a3d85d6df"),
        "{out}"
    );
    assert!(out.contains("S=407A5589115FD0D6209F510FE9C04566932CDA56"));
    assert!(out.contains("fdece3717a8c838cb388e527ae3cdd31"));
    assert!(out.contains("d1269ec49fa62e3e")); // 40-bit send session key
    assert!(out.contains("405cb2247a7956e6e211007ae27b22d4")); // 128-bit
    let (ok, out, _) = tool(&[
        "keys",
        "--v1",
        "--challenge",
        "102db5df085d3041",
        "--password",
        "MyPw",
    ]);
    assert!(ok);
    assert!(
        out.contains("4e9d3c8f9cfd385d5bf4d3246791956ca4c351ab409a3d61"),
        "{out}"
    );
    let (ok, _, err) = tool(&["keys", "--password", "x", "--auth-challenge", "00"]);
    assert!(!ok);
    assert!(
        err.contains("16 needed") || err.contains("required"),
        "{err}"
    );
}

#[test]
fn cli_decode_auto_detects() {
    let (ok, out, _) = tool(&["decode", "001000011a2b3c4d0005000000000001"]);
    assert!(ok);
    assert!(out.starts_with("PPTP ECHORQ"), "{out}");
    let (ok, out, _) = tool(&[
        "decode",
        "3081880b001740000000000100000000ff03c021010100130305c2238005065a899b2307020802",
    ]);
    assert!(ok);
    assert!(out.starts_with("GRE"), "{out}");
    assert!(
        out.contains("LCP CONFREQ") && out.contains("(AUTHTYPE MS-CHAP)"),
        "{out}"
    );
    let (ok, out, _) = tool(&["decode", "ff03 c021 0401000d 0206000a0000 0d0306"]);
    assert!(ok);
    assert!(
        out.contains("LCP CONFREJ")
            && out.contains("(ACCM 0x000a0000)")
            && out.contains("(CALLBACK 06)"),
        "{out}"
    );
    let (ok, _, err) = tool(&["decode", "zz"]);
    assert!(!ok && err.contains("hex"), "{err}");
}

/// `pptp-tool decode`'s exit status: 0 only when everything decoded.
fn decode_status(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pptp-tool"))
        .arg("decode")
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn cli_decode_fails_on_what_it_could_not_decode() {
    // An LCP Configure-Request whose Length (12) runs past the 6 octets
    // present: the PPP header decodes, the packet does not.
    let (code, out, err) = decode_status(&["ff03c021 0101000c 0506"]);
    assert_eq!(code, Some(1), "{out}{err}");
    assert!(out.contains("LCP (undecodable)"), "{out}");
    assert!(
        err.contains("not decoded") || err.contains("incomplete"),
        "{err}"
    );
    // The same truncated frame inside a good GRE header.
    let (code, out, _) = decode_status(&["3001880b000a0000 00000001 ff03c021 0101000c 0506"]);
    assert_eq!(code, Some(1), "{out}");
    assert!(out.starts_with("GRE"), "{out}");
    // A CCP option cut short.
    let (code, _, _) = decode_status(&["80fd 0101000a 1206 0100"]);
    assert_eq!(code, Some(1));
    // An option running past its packet.
    let (code, _, _) = decode_status(&["ff03c021 01010008 05061234"]);
    assert_eq!(code, Some(1), "the option runs past the packet");
    // A whole frame still exits 0.
    let (code, _, err) = decode_status(&["ff03c021 0101000a 05061234 5678"]);
    assert_eq!(code, Some(0), "{err}");
    // Truncated GRE and PPTP control headers were errors already.
    assert_eq!(decode_status(&["3081880b00"]).0, Some(1));
    assert_eq!(decode_status(&["009c00011a2b3c4d0001"]).0, Some(1));
}

#[test]
fn cli_decode_as_names_what_the_bytes_are() {
    // A bare IPv4 ICMP echo request (10.0.0.1 -> 10.0.0.2): auto-detection
    // would take it for PPP, `--as ip` decodes it.
    let ip = "450000200001000040010000 0a000001 0a000002 0800f7fe00010000 00000000";
    let mut bytes = parse_hex(ip).unwrap();
    let sum = pptp_vpn::pcap::internet_checksum(&bytes[..20]);
    bytes[10..12].copy_from_slice(&sum.to_be_bytes());
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let (code, out, err) = decode_status(&["--as", "ip", &hex]);
    assert_eq!(code, Some(0), "{out}{err}");
    assert!(
        out.starts_with("IPv4") && out.contains("hdr cksum"),
        "{out}"
    );
    assert!(out.contains("ICMP echo-request"), "{out}");
    // Cut short: the header says 32 octets.
    let (code, _, err) = decode_status(&["--as", "ip", &hex[..40]]);
    assert_eq!(code, Some(1), "{err}");
    // A bare MPPE packet: flushed + encrypted, coherency count 5.
    let (code, out, _) = decode_status(&["--as", "mppe", "9005 deadbeef"]);
    assert_eq!(code, Some(0));
    assert!(
        out.starts_with("MPPE") && out.contains("coherency count") && out.contains(" 5\n"),
        "{out}"
    );
    assert_eq!(decode_status(&["--as", "mppe", "90"]).0, Some(1));
    // The other kinds by name; HDLC needs its flags.
    assert_eq!(
        decode_status(&["--as", "pptp", "001000011a2b3c4d0005000000000001"]).0,
        Some(0)
    );
    assert_eq!(decode_status(&["--as", "hdlc", "ff03c021"]).0, Some(1));
    assert_eq!(decode_status(&["--as", "gre", "ff03c021"]).0, Some(1));
    // An unknown kind is a usage error.
    let (code, _, err) = decode_status(&["--as", "ipx", "00"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("ip, mppe, ppp, gre, pptp, hdlc"), "{err}");
}
