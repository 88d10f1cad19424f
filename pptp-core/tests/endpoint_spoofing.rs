//! A blind attacker who can spoof the client's address and knows (or
//! sweeps to) the server's call ID sends forged GRE packets at an
//! established MS-CHAPv2 + stateless MPPE-128 session. Issue #14: three
//! forged packets in a row far ahead used to re-synchronise the receiver
//! onto them and end the session; forged MPPE with a count ahead left the
//! decrypter out of step ("listed but passes nothing"). Now nothing the
//! attacker sends without the keys may move the session.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use pptp_core::endpoint::{Event, GreInputError};
use pptp_core::wire::gre::GreRepr;

fn establish(pair: &mut Pair) -> std::net::Ipv4Addr {
    pair.connect();
    pair.drive_for(5_000);
    let Some(Event::SessionUp { address, .. }) = pair.session_up(Side::Server) else {
        panic!("no session: {:?}", pair.server_events);
    };
    address.unwrap()
}

/// The server's call ID and the next sequence number it expects.
fn target(pair: &Pair) -> (u16, u32) {
    let view = pair.server.sessions().next().expect("one session");
    let (local, _) = view.call_ids.expect("a call");
    let expected = view.gre.expect("gre").expected_sequence.expect("started");
    (local, expected)
}

/// A forged GRE data packet carrying `frame`.
fn forged(call_id: u16, seq: u32, frame: &[u8]) -> Vec<u8> {
    let mut out = vec![0u8; 16 + frame.len()];
    let repr = GreRepr::data(call_id, frame.len() as u16, seq, None);
    let n = repr.emit_with_payload(frame, &mut out).unwrap();
    out.truncate(n);
    out
}

/// An MPPE frame (protocol 00FD) with coherency count `count` and bytes
/// the attacker made up (it has no key).
fn forged_mppe(count: u16, seed: u8) -> Vec<u8> {
    let mut f = vec![
        0xff,
        0x03,
        0x00,
        0xfd,
        0x90 | (count >> 8) as u8 & 0x0f,
        count as u8,
    ];
    f.extend((0..60u8).map(|i| i.wrapping_mul(73).wrapping_add(seed)));
    f
}

/// LCP Terminate-Request (RFC 1661 §5.5): what would end the session if
/// taken.
const LCP_TERMINATE: [u8; 8] = [0xff, 0x03, 0xc0, 0x21, 0x05, 0x77, 0x00, 0x04];

fn spoof(pair: &mut Pair, datagram: &[u8]) -> Result<(), GreInputError> {
    let now = pair.instant();
    let mut d = datagram.to_vec();
    let r = pair.server.handle_gre(now, CLIENT_ADDR, &mut d).map(|_| ());
    pair.flush();
    r
}

fn traffic_still_flows(pair: &mut Pair, peer: std::net::Ipv4Addr, rounds: u8) {
    for n in 0..rounds {
        let up = Pair::ip_packet(peer, TUNNEL_LOCAL, 200 + n as usize, n);
        client_send_eventually(pair, &up);
        let down = Pair::ip_packet(TUNNEL_LOCAL, peer, 300 + n as usize, n);
        assert!(pair.server_send_ip(&down));
        pair.drive_for(50);
        assert_eq!(pair.server_ip.last().map(|p| &p.1), Some(&up), "up {n}");
        assert_eq!(pair.client_ip.last(), Some(&down), "down {n}");
    }
}

/// The client sends `packet`, waiting for its GRE window to open (after
/// an outage the unacknowledged packets are written off at the ack
/// time-out, RFC 2637 §4.4).
fn client_send_eventually(pair: &mut Pair, packet: &[u8]) {
    for _ in 0..100 {
        if pair.client_send_ip(packet) {
            return;
        }
        pair.drive_for(500);
    }
    panic!("the client's window never opened");
}

fn assert_still_up(pair: &Pair) {
    assert!(
        !pair
            .server_events
            .iter()
            .any(|e| matches!(e, Event::SessionDown { .. })),
        "{:?}",
        pair.server_events
    );
    assert_eq!(pair.server.active_sessions(), 1);
}

#[test]
fn forged_runs_far_ahead_do_not_resynchronise_the_receiver() {
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    traffic_still_flows(&mut pair, peer, 3);
    let (call_id, expected) = target(&pair);
    // The attack from the issue: runs of three consecutive sequence
    // numbers far ahead, as MPPE packets and as LCP Terminate-Requests.
    for (k, base) in [500u32, 10_000, 100_000, 1 << 30].into_iter().enumerate() {
        for j in 0..3 {
            let seq = expected.wrapping_add(base + j);
            let frame = forged_mppe(100 + j as u16, k as u8);
            assert!(spoof(&mut pair, &forged(call_id, seq, &frame)).is_err());
        }
        for j in 0..3 {
            let seq = expected.wrapping_add(base + 1000 + j);
            assert!(spoof(&mut pair, &forged(call_id, seq, &LCP_TERMINATE)).is_err());
        }
    }
    pair.drive_for(1_000);
    assert_still_up(&pair);
    assert_eq!(target(&pair).1, expected, "the receiver did not move");
    assert!(pair.server.stats().gre_unproven >= 24);
    traffic_still_flows(&mut pair, peer, 10);
    assert_still_up(&pair);
}

#[test]
fn forged_mppe_near_the_expected_sequence_does_not_move_the_keys() {
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    traffic_still_flows(&mut pair, peer, 3);
    let (call_id, expected) = target(&pair);
    // Every sequence number from the next expected one to 64 ahead (the
    // trusted gap), and some beyond it up to the edge of our receive
    // window (512), each with a coherency count ahead of the decrypter's:
    // taken on trust, one of them would leave the stateless decrypter
    // keys ahead of the client, and nothing the client sends would
    // decrypt again.
    let gaps: Vec<u32> = (0..64u32).chain([64, 100, 255, 400, 511]).collect();
    for &gap in &gaps {
        let frame = forged_mppe(50 + (gap % 64) as u16 * 7, gap as u8);
        let r = spoof(
            &mut pair,
            &forged(call_id, expected.wrapping_add(gap), &frame),
        );
        assert_eq!(r, Err(GreInputError::Unproven), "gap {gap}");
    }
    assert_eq!(target(&pair).1, expected, "the receiver did not move");
    let view = pair.server.sessions().next().unwrap();
    let unproven = view.mppe_stats.unwrap().receive.dropped_unproven;
    assert_eq!(unproven, gaps.len() as u64);
    traffic_still_flows(&mut pair, peer, 10);
    assert_still_up(&pair);
}

#[test]
fn a_genuine_sender_that_moved_far_ahead_is_followed() {
    // An outage swallows 300 of the client's packets: its sequence number
    // comes back far beyond the trusted gap and its MPPE count beyond the
    // per-packet key-change bound (256). The first packet after it proves
    // itself by decrypting (a long key catch-up), and the receiver follows.
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    traffic_still_flows(&mut pair, peer, 2);
    let (_, expected) = target(&pair);
    pair.loss_percent = 100;
    for n in 0..300u32 {
        let up = Pair::ip_packet(peer, TUNNEL_LOCAL, 100, n as u8);
        client_send_eventually(&mut pair, &up);
    }
    pair.drive_for(100);
    pair.loss_percent = 0;
    traffic_still_flows(&mut pair, peer, 5);
    assert_still_up(&pair);
    let (_, now_expected) = target(&pair);
    assert!(
        now_expected.wrapping_sub(expected) > 300,
        "{expected} -> {now_expected}"
    );
}

/// Forged MPPE packets whose coherency count the decrypter reads as
/// behind it ("late": an error, but not garbage) far ahead in sequence,
/// each followed by an LCP Terminate-Request at the next sequence number:
/// taking the first as a proven packet re-synchronised the call onto the
/// forger's numbers and let the second in (found by scripts/attack.sh).
#[test]
fn a_late_forged_mppe_packet_proves_nothing() {
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    traffic_still_flows(&mut pair, peer, 3);
    let (call_id, expected) = target(&pair);
    for (k, count) in [4000u16, 3000, 2100, 0].into_iter().enumerate() {
        let seq = 0x4000_0000 + 10 * k as u32;
        let r = spoof(
            &mut pair,
            &forged(call_id, seq, &forged_mppe(count, k as u8)),
        );
        assert!(r.is_err(), "count {count}: {r:?}");
        let r = spoof(&mut pair, &forged(call_id, seq + 1, &LCP_TERMINATE));
        assert_eq!(r, Err(GreInputError::Unproven), "count {count}");
    }
    // Within the trusted gap a packet is taken without proof, so only the
    // link's refusal keeps a late forged one from moving the call (and
    // from putting the next genuine packets behind it as stale).
    for (k, count) in [3000u16, 2100, 4000].into_iter().enumerate() {
        let seq = expected.wrapping_add(5 + 10 * k as u32);
        let r = spoof(
            &mut pair,
            &forged(call_id, seq, &forged_mppe(count, k as u8)),
        );
        assert!(r.is_err(), "near, count {count}: {r:?}");
    }
    assert_eq!(target(&pair).1, expected, "the receiver did not move");
    pair.drive_for(1_000);
    assert_still_up(&pair);
    traffic_still_flows(&mut pair, peer, 5);
}

/// A host that hands the client endpoint an IPv6 packet (from its TUN)
/// gets it refused instead of it going out labelled IPv4 (IPCP negotiated
/// IPv4 only, RFC 1332), which the server would count as a forgery.
#[test]
fn only_ipv4_is_sent() {
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    let mut v6 = vec![0u8; 80];
    v6[0] = 0x60;
    assert!(!pair.client_send_ip(&v6));
    traffic_still_flows(&mut pair, peer, 2);
}
