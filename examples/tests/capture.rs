//! `pptp-tool pcap`: decrypting captured MPPE sessions. The real pppd
//! capture from the shared vectors (MS-CHAPv2, MPPE-128 stateless,
//! recorded between two Linux stacks), captures the demo records
//! in-process (stateless and stateful, both readings of the A bit, with
//! network loss and with packets cut out of the capture), the decrypted
//! capture it writes, and garbage of every kind.

use std::io::Write;
use std::net::Ipv4Addr;
use std::process::Command;
use std::sync::{Arc, Mutex};

use mppe::KeyStrength;
use ppp_core::wire::frame::{protocol, FieldCompression, Frame};
use ppp_core::wire::ipv4;
use pptp_core::wire::gre::GrePacket;
use pptp_vpn::capture::decrypt::is_well_formed;
use pptp_vpn::capture::reader::{ipv4_offset, CaptureReader};
use pptp_vpn::capture::{analyse, Report, Secret};
use pptp_vpn::demo::{run, AuthChoice, DemoOptions};
use pptp_vpn::pcap::{write_file_header, write_record};
use zeroize::Zeroizing;

const PPPD_CAPTURE: &[u8] = include_bytes!("data/pppd-mschapv2-mppe128-session.pcap");
const PPPD_CAPTURE_PATH: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/pppd-mschapv2-mppe128-session.pcap"
);

/// A writer the test reads back after the code under test consumed it.
#[derive(Clone, Default)]
struct Shared(Arc<Mutex<Vec<u8>>>);

impl Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Shared {
    fn bytes(&self) -> Vec<u8> {
        self.0.lock().unwrap().clone()
    }
}

fn password(p: &str) -> Secret {
    Secret {
        password: Some(Zeroizing::new(p.to_string())),
        nt_hash: None,
    }
}

/// Analyses `capture`; returns the report, the transcript and the
/// decrypted capture.
fn decrypt(capture: &[u8], secret: Secret) -> (Report, String, Vec<u8>) {
    let mut text = Vec::new();
    let out = Shared::default();
    let report = analyse(capture, secret, &mut text, Some(Box::new(out.clone()))).unwrap();
    (report, String::from_utf8(text).unwrap(), out.bytes())
}

/// The capture the demo records for `opts`.
fn demo_capture(opts: &DemoOptions) -> Vec<u8> {
    let pcap = Shared::default();
    let outcome = run(opts, None, Some(Box::new(pcap.clone())));
    assert!(outcome.completed, "{opts:?}: {:?}", outcome.failure);
    pcap.bytes()
}

/// Each record's IPv4 packet.
fn ip_packets(capture: &[u8]) -> Vec<Vec<u8>> {
    let mut reader = CaptureReader::new(capture).unwrap();
    let mut out = Vec::new();
    while let Some(r) = reader.next_record().unwrap() {
        if let Some(at) = ipv4_offset(r.link_type, &r.data) {
            let ip = ipv4::Packet::new_checked(&r.data[at..]).unwrap();
            out.push(r.data[at..at + ip.total_len()].to_vec());
        }
    }
    out
}

/// The PPP frame in an IPv4 + GRE packet.
fn ppp_of(ip: &[u8]) -> Option<(u16, Vec<u8>)> {
    let p = ipv4::Packet::new_checked(ip).ok()?;
    if p.protocol() != 47 {
        return None;
    }
    let gre = GrePacket::new_checked(p.payload()).ok()?;
    let f = Frame::parse(gre.payload(), FieldCompression::BOTH).ok()?;
    Some((f.protocol, f.information.to_vec()))
}

/// Checks that every MPPE packet of the report decrypted, and that the
/// decrypted capture holds no MPPE frame any more but the same number of
/// well-formed IPv4/IPv6 frames in their place.
fn assert_all_decrypted(capture: &[u8], report: &Report, text: &str, decrypted: &[u8]) {
    let mppe_in: Vec<Vec<u8>> = ip_packets(capture)
        .into_iter()
        .filter(|ip| ppp_of(ip).is_some_and(|(p, _)| p == protocol::COMPRESSED))
        .collect();
    assert!(!mppe_in.is_empty());
    assert_eq!(report.mppe_packets(), mppe_in.len() as u64, "{text}");
    assert_eq!(report.decrypted(), report.mppe_packets(), "{text}");
    assert!(!text.contains("NOT decrypted"), "{text}");
    let out = ip_packets(decrypted);
    assert_eq!(out.len(), ip_packets(capture).len());
    let mut plain = 0;
    for ip in &out {
        if let Some((proto, info)) = ppp_of(ip) {
            assert_ne!(proto, protocol::COMPRESSED, "an MPPE frame left");
            if proto == protocol::IPV4 || proto == protocol::IPV6 {
                let mut frame = proto.to_be_bytes().to_vec();
                frame.extend_from_slice(&info);
                assert!(is_well_formed(&frame), "{ip:02x?}");
                plain += 1;
            }
        }
    }
    assert_eq!(plain, mppe_in.len());
}

#[test]
fn decrypts_every_mppe_packet_of_the_pppd_capture() {
    let (report, text, out) = decrypt(PPPD_CAPTURE, password("labpass"));
    assert_all_decrypted(PPPD_CAPTURE, &report, &text, &out);
    assert_eq!(report.mppe_packets(), 8);
    assert_eq!(report.calls.len(), 1);
    let call = &report.calls[0];
    assert_eq!((call.ms_chap, call.secret_matches), (Some(2), Some(true)));
    for d in &call.directions {
        assert_eq!((d.stats.packets, d.stats.decrypted), (4, 4), "{d:?}");
        assert_eq!(d.config.unwrap().to_string(), "128-bit stateless");
    }
    // The pings of the capture, both ways (the other two packets are
    // IPv6 router solicitations).
    for seq in 1..=3 {
        for kind in ["echo-request", "echo-reply"] {
            assert!(
                text.contains(&format!("ICMP {kind} id 246, seq {seq}, cksum ok")),
                "{kind} {seq}\n{text}"
            );
        }
    }
    // The control connection and the PPP negotiation are in the
    // transcript too.
    for needle in ["sent SCCRQ", "sent OCRP", "CHAP RESPONSE", "sent CCRQ"] {
        assert!(text.contains(needle), "{needle}\n{text}");
    }
}

#[test]
fn the_nt_hash_does_what_the_password_does_and_a_wrong_one_nothing() {
    let hash = ppp_core::auth::crypto::nt_password_hash(b"labpass").unwrap();
    let (report, _, _) = decrypt(
        PPPD_CAPTURE,
        Secret {
            password: None,
            nt_hash: Some(Zeroizing::new(hash)),
        },
    );
    assert_eq!(report.decrypted(), 8);
    let (report, text, _) = decrypt(PPPD_CAPTURE, password("labpasS"));
    assert_eq!(report.decrypted(), 0);
    assert_eq!(report.calls[0].secret_matches, Some(false));
    assert!(text.contains("does NOT give this NT-Response"), "{text}");
    assert!(text.contains("wrong password"), "{text}");
    let (report, text, _) = decrypt(PPPD_CAPTURE, Secret::default());
    assert_eq!(report.decrypted(), 0);
    assert!(text.contains("give --password or --nt-hash"), "{text}");
}

fn stateful(deployed_flush: bool, loss_percent: f64, pings: u16) -> DemoOptions {
    DemoOptions {
        stateful: true,
        deployed_flush,
        loss_percent,
        pings,
        ..DemoOptions::default()
    }
}

#[test]
fn decrypts_every_packet_of_stateful_demo_captures_with_loss() {
    // 150 pings: more than 256 packets each way, so the flag packet's key
    // change (RFC 3078 §7.3) is crossed; network loss makes the receiver
    // send CCP Reset-Requests and the sender flush (§8.2).
    for deployed_flush in [false, true] {
        let opts = stateful(deployed_flush, 5.0, 150);
        let capture = demo_capture(&opts);
        let (report, text, out) = decrypt(&capture, password("cisco"));
        assert_all_decrypted(&capture, &report, &text, &out);
        assert!(text.contains("RESETREQ"), "no Reset-Request: {opts:?}");
        for d in &report.calls[0].directions {
            assert!(d.stats.packets > 256, "{d:?}");
            // Flushed packets besides the flag packets: the resets.
            assert!(d.stats.flushed > 1, "{d:?}");
            let reading = if deployed_flush {
                "pppd/Windows"
            } else {
                "RFC 3078"
            };
            assert!(
                d.verdict.contains(reading),
                "{deployed_flush}: {}",
                d.verdict
            );
        }
    }
}

#[test]
fn decrypts_stateless_and_ms_chap_v1_demo_captures() {
    let cases = [
        DemoOptions {
            loss_percent: 10.0,
            pings: 20,
            ..DemoOptions::default()
        },
        DemoOptions {
            auth: AuthChoice::MsChapV1,
            mppe: Some(KeyStrength::Bits40),
            stateful: true,
            loss_percent: 5.0,
            pings: 20,
            ..DemoOptions::default()
        },
        DemoOptions {
            auth: AuthChoice::MsChapV1,
            mppe: Some(KeyStrength::Bits56),
            pings: 5,
            ..DemoOptions::default()
        },
    ];
    for opts in cases {
        let capture = demo_capture(&opts);
        let (report, text, out) = decrypt(&capture, password("cisco"));
        assert_all_decrypted(&capture, &report, &text, &out);
    }
}

/// The capture without the client's MPPE packets whose coherency counts
/// are in `cut` (as if the capturing host had missed them).
fn without_client_mppe(capture: &[u8], cut: std::ops::Range<u16>) -> (Vec<u8>, usize) {
    let client = Ipv4Addr::new(198, 51, 100, 10);
    let mut reader = CaptureReader::new(capture).unwrap();
    let mut out = Vec::new();
    write_file_header(&mut out).unwrap();
    let mut dropped = 0;
    while let Some(r) = reader.next_record().unwrap() {
        let ip = ipv4::Packet::new_checked(&r.data[..]).unwrap();
        let count = ppp_of(&r.data)
            .filter(|(p, _)| *p == protocol::COMPRESSED)
            .map(|(_, info)| u16::from_be_bytes([info[0], info[1]]) & 0x0fff);
        if ip.src_addr() == client && count.is_some_and(|c| cut.contains(&c)) {
            dropped += 1;
            continue;
        }
        write_record(&mut out, r.time_us, &[&r.data]).unwrap();
    }
    (out, dropped)
}

#[test]
fn packets_missing_from_a_stateful_capture_are_reported_and_the_flush_resynchronises() {
    // No network loss: the sender flushes only on its flag packet (count
    // 255). Cut counts 100..103 out of the capture: 100..102 are missing,
    // the stream cannot be followed from 103 until the flag packet.
    for deployed_flush in [false, true] {
        let capture = demo_capture(&stateful(deployed_flush, 0.0, 150));
        let (cut, dropped) = without_client_mppe(&capture, 100..103);
        assert_eq!(dropped, 3);
        let (report, text, _) = decrypt(&cut, password("cisco"));
        let d = &report.calls[0].directions[0];
        assert_eq!(d.direction, "client->server");
        assert_eq!(d.stats.decrypted + d.stats.failed(), d.stats.packets);
        // 103 reveals the gap; 104..=254 wait for the flush.
        let lost = d.stats.not_decrypted["stateful, packets before it missing"];
        let waiting = d.stats.not_decrypted["stateful, waiting for a flushed packet"];
        assert_eq!((lost, waiting), (1, 151), "{:?}\n{text}", d.stats);
        assert!(
            text.contains("sent MPPE cc 103: NOT decrypted: stateful: packets 100..102 are not in the capture"),
            "{text}"
        );
        assert!(
            text.contains("sent MPPE cc 255 flushed: decrypted"),
            "{text}"
        );
        assert!(text.contains("sent MPPE cc 256: decrypted"), "{text}");
        // The other direction lost nothing.
        let back = &report.calls[0].directions[1];
        assert_eq!(back.stats.decrypted, back.stats.packets);
    }
}

#[test]
fn packets_missing_from_a_stateless_capture_cost_nothing_else() {
    // RFC 3078 §8.1: every stateless packet carries its own key change,
    // so the packet after a gap decrypts.
    let capture = demo_capture(&DemoOptions {
        pings: 20,
        ..DemoOptions::default()
    });
    let (cut, dropped) = without_client_mppe(&capture, 10..15);
    assert_eq!(dropped, 5);
    let (report, text, out) = decrypt(&cut, password("cisco"));
    assert_all_decrypted(&cut, &report, &text, &out);
    assert!(
        text.contains("sent MPPE cc 15 flushed: decrypted"),
        "{text}"
    );
}

#[test]
fn truncated_and_garbage_captures_never_panic() {
    // Every prefix of the real capture.
    for len in 0..PPPD_CAPTURE.len() {
        let _ = decrypt_no_writer(&PPPD_CAPTURE[..len]);
    }
    // Corrupted copies: octets overwritten at pseudo-random places.
    let mut state = 0x1234_5678_9abc_def0u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..300 {
        let mut bad = PPPD_CAPTURE.to_vec();
        for _ in 0..1 + next() % 8 {
            let at = (next() % bad.len() as u64) as usize;
            bad[at] = next() as u8;
        }
        let _ = decrypt_no_writer(&bad);
    }
    // Not a capture at all, and a header alone.
    assert!(decrypt_no_writer(b"not a capture").is_err());
    assert!(decrypt_no_writer(&[]).is_err());
    let mut header = Vec::new();
    write_file_header(&mut header).unwrap();
    assert_eq!(decrypt_no_writer(&header).unwrap().mppe_packets(), 0);
    // A record claiming 4 GiB: a note, no allocation.
    let mut lying = header.clone();
    lying.extend_from_slice(&[0; 8]);
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    lying.extend_from_slice(&u32::MAX.to_le_bytes());
    let report = decrypt_no_writer(&lying).unwrap();
    assert!(report.notes[0].contains("claims"), "{:?}", report.notes);
    assert!(report.read_error.is_some());
    // Records of random octets behind a valid header.
    for _ in 0..200 {
        let mut f = header.clone();
        let mut ip: Vec<u8> = (0..(next() % 200) as usize).map(|_| next() as u8).collect();
        if ip.len() > 24 && next() % 2 == 0 {
            // Often enough an IPv4 + GRE header to reach the PPP code.
            let len = ip.len() as u16;
            ip[..4].copy_from_slice(&[0x45, 0, (len >> 8) as u8, len as u8]);
            ip[6..10].copy_from_slice(&[0, 0, 64, 47]);
            ip[20..24].copy_from_slice(&[0x30, 0x81, 0x88, 0x0b]);
        }
        write_record(&mut f, 0, &[&ip]).unwrap();
        let _ = decrypt_no_writer(&f);
    }
}

fn decrypt_no_writer(capture: &[u8]) -> Result<Report, String> {
    analyse(capture, password("labpass"), &mut std::io::sink(), None)
}

fn tool(args: &[&str]) -> (Option<i32>, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_pptp-tool"))
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
fn cli_pcap_decrypts_and_fails_when_something_did_not() {
    let out_path = std::env::temp_dir().join(format!("pptp-tool-test-{}.pcap", std::process::id()));
    let out_str = out_path.to_str().unwrap();
    let (code, out, err) = tool(&[
        "pcap",
        PPPD_CAPTURE_PATH,
        "--password",
        "labpass",
        "--write-decrypted",
        out_str,
    ]);
    assert_eq!(code, Some(0), "{err}");
    assert!(out.contains("MPPE packets 8, decrypted 8"), "{out}");
    let written = std::fs::read(&out_path).unwrap();
    let _ = std::fs::remove_file(&out_path);
    let pings = ip_packets(&written)
        .iter()
        .filter(|ip| ppp_of(ip).is_some_and(|(p, _)| p == protocol::IPV4))
        .count();
    assert_eq!(pings, 6);
    // Wireshark's dissectors see the pings inside (when tshark is here).
    let tshark_path = out_path.with_extension("tshark.pcap");
    std::fs::write(&tshark_path, &written).unwrap();
    if let Ok(t) = Command::new("tshark")
        .args(["-r", tshark_path.to_str().unwrap(), "-Y", "icmp"])
        .output()
    {
        let listing = String::from_utf8_lossy(&t.stdout);
        assert_eq!(listing.matches("Echo (ping)").count(), 6, "{listing}");
    }
    let _ = std::fs::remove_file(&tshark_path);
    let (code, _, err) = tool(&["pcap", PPPD_CAPTURE_PATH, "--password", "nope"]);
    assert_eq!(code, Some(1));
    assert!(err.contains("8 of 8 MPPE packets not decrypted"), "{err}");
    let (code, _, err) = tool(&["pcap", "/dev/null", "--password", "x"]);
    assert_eq!(code, Some(1), "{err}");
    // Cut inside a record: what was read is analysed, the exit is 1.
    let cut_path = out_path.with_extension("cut.pcap");
    std::fs::write(&cut_path, &PPPD_CAPTURE[..PPPD_CAPTURE.len() - 10]).unwrap();
    let (code, out, err) = tool(&["pcap", cut_path.to_str().unwrap(), "--password", "labpass"]);
    let _ = std::fs::remove_file(&cut_path);
    assert_eq!(code, Some(1), "{out}");
    assert!(
        out.contains("decrypted 8") && err.contains("not read to the end"),
        "{out}{err}"
    );
    let (code, _, _) = tool(&[
        "pcap",
        PPPD_CAPTURE_PATH,
        "--password",
        "x",
        "--nt-hash",
        "00",
    ]);
    assert_eq!(code, Some(2), "--password and --nt-hash conflict");
}

/// The capture with every control-connection segment cut into 5-octet
/// pieces, each pair sent in reverse order and then retransmitted in one
/// segment that also carries the start of the next pair (as a lossy
/// path's repeats show up in a capture).
fn rechunked(capture: &[u8]) -> Vec<u8> {
    let mut reader = CaptureReader::new(capture).unwrap();
    let mut out = Vec::new();
    write_file_header(&mut out).unwrap();
    while let Some(r) = reader.next_record().unwrap() {
        let ip = &r.data;
        // The demo writes 20-octet IPv4 and TCP headers.
        if ip[9] != 6 || ip.len() <= 40 {
            write_record(&mut out, r.time_us, &[ip]).unwrap();
            continue;
        }
        let seq = u32::from_be_bytes([ip[24], ip[25], ip[26], ip[27]]);
        let payload = &ip[40..];
        // Pieces as (offset, length) in the payload.
        let pieces: Vec<(usize, usize)> = (0..payload.len())
            .step_by(5)
            .map(|at| (at, 5.min(payload.len() - at)))
            .collect();
        let mut order: Vec<(u32, &[u8])> = Vec::new();
        for pair in pieces.chunks(2) {
            for &(at, len) in pair.iter().rev() {
                order.push((seq.wrapping_add(at as u32), &payload[at..at + len]));
            }
            // A retransmission overlapping what arrived, with 3 new
            // octets of the next pair at its end.
            let (start, _) = pair[0];
            let (last, last_len) = pair[pair.len() - 1];
            let (from, to) = (start + 1, (last + last_len + 3).min(payload.len()));
            order.push((seq.wrapping_add(from as u32), &payload[from..to]));
        }
        for (s, piece) in order {
            let mut p = ip[..40].to_vec();
            p[2..4].copy_from_slice(&((40 + piece.len()) as u16).to_be_bytes());
            p[24..28].copy_from_slice(&s.to_be_bytes());
            p.extend_from_slice(piece);
            write_record(&mut out, r.time_us, &[&p]).unwrap();
        }
    }
    out
}

#[test]
fn control_messages_survive_any_chunking_reordering_and_retransmission() {
    let capture = demo_capture(&DemoOptions::default());
    let (report, text, _) = decrypt(&capture, password("cisco"));
    let (re_report, re_text, _) = decrypt(&rechunked(&capture), password("cisco"));
    let control = |t: &str| -> Vec<String> {
        t.lines()
            .filter(|l| l.contains("PPTP: tnl"))
            .map(|l| l[12..].to_string())
            .collect()
    };
    assert!(control(&text).len() >= 5, "{text}");
    assert_eq!(control(&re_text), control(&text));
    assert_eq!(
        re_report.counters.control_messages,
        report.counters.control_messages
    );
    assert_eq!(re_report.decrypted(), report.decrypted());
    assert!(re_report.notes.is_empty(), "{:?}", re_report.notes);
}

/// The records of a capture, with the client's address changed to
/// `client` (a second tunnel in a merged capture).
fn records_with_client(capture: &[u8], client: Ipv4Addr) -> Vec<(u64, Vec<u8>)> {
    let demo_client = [198, 51, 100, 10];
    let mut reader = CaptureReader::new(capture).unwrap();
    let mut out = Vec::new();
    while let Some(mut r) = reader.next_record().unwrap() {
        for at in [12, 16] {
            if r.data[at..at + 4] == demo_client {
                r.data[at..at + 4].copy_from_slice(&client.octets());
            }
        }
        r.data[10..12].copy_from_slice(&[0, 0]);
        let sum = pptp_vpn::pcap::internet_checksum(&r.data[..20]);
        r.data[10..12].copy_from_slice(&sum.to_be_bytes());
        out.push((r.time_us, r.data));
    }
    out
}

#[test]
fn follows_every_tunnel_of_a_capture_with_several() {
    // Two demo sessions with different challenges (seeds), one of them
    // stateful, captured together: their records interleaved.
    let a = demo_capture(&DemoOptions {
        pings: 10,
        ..DemoOptions::default()
    });
    let b = demo_capture(&DemoOptions {
        seed: 2,
        stateful: true,
        pings: 10,
        ..DemoOptions::default()
    });
    let a = records_with_client(&a, Ipv4Addr::new(198, 51, 100, 10));
    let b = records_with_client(&b, Ipv4Addr::new(198, 51, 100, 11));
    let mut merged = Vec::new();
    write_file_header(&mut merged).unwrap();
    for i in 0..a.len().max(b.len()) {
        for records in [&a, &b] {
            if let Some((t, data)) = records.get(i) {
                write_record(&mut merged, *t, &[data]).unwrap();
            }
        }
    }
    let (report, text, out) = decrypt(&merged, password("cisco"));
    assert_all_decrypted(&merged, &report, &text, &out);
    assert_eq!(report.calls.len(), 2, "{text}");
    assert!(text.contains("PPTP: tnl 2: sent SCCRQ"), "{text}");
    let modes: Vec<String> = report
        .calls
        .iter()
        .map(|c| c.directions[0].config.unwrap().to_string())
        .collect();
    assert_eq!(modes, ["128-bit stateless", "128-bit stateful"]);
}
