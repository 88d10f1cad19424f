//! Per-session MRU (issue #14 item 5): a server whose TUN has one MTU
//! for every session, against a peer that asked for MRU 1200 in LCP (as
//! pppd with `mru 1200` does) with MS-CHAPv2 and MPPE-40. Packets from
//! the host longer than the session carries are fragmented (DF clear) or
//! answered with ICMP "fragmentation needed" (DF set), and TCP SYNs have
//! their MSS clamped both ways. Before, every such packet was dropped
//! silently.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use std::net::Ipv4Addr;

use endpoint_support::*;
use ppp_core::link::{MppePolicy, PixEncryption};
use pptp_core::endpoint::{Endpoint, Event, MtuCounters};

/// The peer's MRU.
const PEER_MRU: u16 = 1200;
/// What the session carries: the MRU less MPPE's header and inner
/// protocol field (RFC 3078 §3).
const SESSION_MTU: usize = PEER_MRU as usize - 4;

/// A pair whose client asks for MRU 1200; MPPE-40 required. The client's
/// own clamping is off so that the server's is what is seen.
fn mru_pair(server_clamps: bool) -> (Pair, Ipv4Addr) {
    let mut config = server_config();
    config.link.mppe = MppePolicy::pix(PixEncryption::Bits40, true);
    config.mss_clamp = server_clamps;
    let server = Endpoint::server(config, memory(8, 2, 2), TestRandom(1), Some(users())).unwrap();
    let mut client = client_config(PASSWORD);
    client.link.lcp.mru = Some(PEER_MRU);
    client.mss_clamp = false;
    let client = Endpoint::client(client, memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut pair = Pair::new(server, client);
    pair.connect();
    pair.drive_for(5_000);
    let Some(Event::SessionUp {
        address: Some(peer),
        mtu,
        mppe: Some(mppe),
        ..
    }) = pair.session_up(Side::Server)
    else {
        panic!("no session: {:?}", pair.server_events);
    };
    assert_eq!(mppe.send.strength, ppp_core::link::KeyStrength::Bits40);
    assert_eq!(mtu, SESSION_MTU, "the session's max IP length");
    (pair, peer)
}

/// The Internet checksum's sum, written here apart from the crates'.
fn ones_sum(parts: &[&[u8]]) -> u16 {
    let bytes: Vec<u8> = parts.concat();
    let mut sum: u64 = 0;
    for w in bytes.chunks(2) {
        sum += u64::from(w[0]) << 8 | u64::from(*w.get(1).unwrap_or(&0));
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

fn header_len(ip: &[u8]) -> usize {
    usize::from(ip[0] & 0x0f) * 4
}

/// Puts fragments back together by offset (RFC 791 §3.2), checking each
/// header; returns the header of the first and the data.
fn reassemble(fragments: &[Vec<u8>]) -> (Vec<u8>, Vec<u8>) {
    let mut data = Vec::new();
    let mut first_header = Vec::new();
    let mut saw_last = false;
    for f in fragments {
        let hl = header_len(f);
        assert_eq!(ones_sum(&[&f[..hl]]), 0xffff, "header checksum");
        assert_eq!(usize::from(u16::from_be_bytes([f[2], f[3]])), f.len());
        let word = u16::from_be_bytes([f[6], f[7]]);
        let offset = usize::from(word & 0x1fff) * 8;
        let more = word & 0x2000 != 0;
        if offset == 0 {
            first_header = f[..hl].to_vec();
        }
        if !more {
            saw_last = true;
        } else {
            assert_eq!((f.len() - hl) % 8, 0, "a multiple of 8 before the last");
        }
        let end = offset + f.len() - hl;
        if data.len() < end {
            data.resize(end, 0);
        }
        data[offset..end].copy_from_slice(&f[hl..]);
    }
    assert!(saw_last, "the last fragment has MF clear");
    (first_header, data)
}

fn server_mtu(pair: &Pair) -> MtuCounters {
    pair.server.sessions().next().expect("one session").mtu
}

#[test]
fn a_packet_with_df_clear_over_the_peer_mru_arrives_as_fragments_that_reassemble() {
    let (mut pair, peer) = mru_pair(true);
    // One that fits goes whole, as before.
    let fits = Pair::ip_packet(TUNNEL_LOCAL, peer, SESSION_MTU, 1);
    assert!(pair.server_send_ip(&fits));
    pair.drive_for(50);
    assert_eq!(pair.client_ip, [fits]);
    pair.client_ip.clear();
    // One octet more, 1,400 octets, and a 4,000-octet one.
    let mut fragmented = 0;
    for (n, len) in [SESSION_MTU + 1, 1400, 4000].into_iter().enumerate() {
        let big = Pair::ip_packet(TUNNEL_LOCAL, peer, len, n as u8);
        assert!(pair.server_send_ip(&big), "{len} octets sent");
        pair.drive_for(50);
        let fragments = std::mem::take(&mut pair.client_ip);
        assert_eq!(
            fragments.len(),
            (len - 20).div_ceil((SESSION_MTU - 20) & !7)
        );
        assert!(fragments.iter().all(|f| f.len() <= SESSION_MTU));
        let (header, data) = reassemble(&fragments);
        assert_eq!(data, big[20..], "{len} octets reassembled");
        assert_eq!(header[..2], big[..2]);
        assert_eq!(header[4..6], big[4..6], "one Identification");
        assert_eq!(header[8..10], big[8..10]);
        assert_eq!(header[12..20], big[12..20]);
        fragmented += fragments.len() as u64;
    }
    let expected = MtuCounters {
        fragmented: 3,
        fragments: fragmented,
        frag_needed: 0,
        mss_clamped: 0,
    };
    assert_eq!(server_mtu(&pair), expected);
    assert_eq!(pair.server.stats().mtu, expected);
    assert!(pair.tun_replies[0].is_empty());

    // The same once the session is parked (quiet for 10 s).
    pair.drive_for(15_000);
    assert!(pair.server.sessions().next().unwrap().link_parked);
    let big = Pair::ip_packet(TUNNEL_LOCAL, peer, 1400, 9);
    assert!(pair.server_send_ip(&big));
    pair.drive_for(50);
    let fragments = std::mem::take(&mut pair.client_ip);
    assert_eq!(fragments.len(), 2);
    assert_eq!(reassemble(&fragments).1, big[20..]);
}

#[test]
fn a_packet_with_df_set_gets_icmp_fragmentation_needed_with_the_session_mtu() {
    let (mut pair, peer) = mru_pair(true);
    let host = Ipv4Addr::new(10, 1, 2, 3);
    let mut big = Pair::ip_packet(host, peer, 1400, 3);
    big[6] |= 0x40; // DF
    big[10..12].fill(0);
    let sum = !ones_sum(&[&big[..20]]);
    big[10..12].copy_from_slice(&sum.to_be_bytes());
    assert!(pair.server_send_ip(&big), "answered");
    pair.drive_for(50);
    assert!(pair.client_ip.is_empty(), "nothing crossed");
    let [icmp] = &pair.tun_replies[0][..] else {
        panic!("one ICMP error for the host: {:?}", pair.tun_replies[0]);
    };
    assert_eq!(icmp.len(), 20 + 8 + 28);
    assert_eq!(ones_sum(&[&icmp[..20]]), 0xffff, "IP checksum");
    assert_eq!(icmp[9], 1, "ICMP");
    assert_eq!(icmp[12..16], TUNNEL_LOCAL.octets(), "from the tunnel's end");
    assert_eq!(icmp[16..20], host.octets(), "to the sender");
    assert_eq!(ones_sum(&[&icmp[20..]]), 0xffff, "ICMP checksum");
    assert_eq!(icmp[20..22], [3, 4], "Destination Unreachable, code 4");
    assert_eq!(
        usize::from(u16::from_be_bytes([icmp[26], icmp[27]])),
        SESSION_MTU,
        "Next-Hop MTU (RFC 1191 §4)"
    );
    assert_eq!(icmp[28..], big[..28], "the header and 8 octets quoted");
    assert_eq!(server_mtu(&pair).frag_needed, 1);
    assert_eq!(pair.server.stats().mtu.frag_needed, 1);

    // Octets after Total Length are padding: a DF packet that fits once
    // they are left off crosses whole, without them.
    let mut fits = Pair::ip_packet(host, peer, 1000, 4);
    fits[6] |= 0x40;
    fits[10..12].fill(0);
    let sum = !ones_sum(&[&fits[..20]]);
    fits[10..12].copy_from_slice(&sum.to_be_bytes());
    let padded = [&fits[..], &[0xee; 300]].concat();
    assert!(pair.server_send_ip(&padded));
    pair.drive_for(50);
    assert_eq!(pair.client_ip, [fits]);
    pair.client_ip.clear();
    assert_eq!(pair.tun_replies[0].len(), 1);

    // An ICMP error is not answered with one (RFC 1122 §3.2.2), nor is a
    // fragment other than the first: dropped.
    let mut error = big.clone();
    error[9] = 1;
    error[20] = 3;
    assert!(!pair.server_send_ip(&error));
    let mut later = big.clone();
    later[7] = 1;
    assert!(!pair.server_send_ip(&later));
    pair.drive_for(50);
    assert_eq!(pair.tun_replies[0].len(), 1);
    assert!(pair.client_ip.is_empty());
    assert_eq!(server_mtu(&pair).frag_needed, 1);
}

/// A TCP SYN from `src` to `dst` with MSS 1460, both checksums right.
fn syn(src: Ipv4Addr, dst: Ipv4Addr) -> Vec<u8> {
    let mut p = Pair::ip_packet(src, dst, 20 + 24, 0);
    p[6] = 0x40;
    p[9] = 6;
    p[10..12].fill(0);
    let sum = !ones_sum(&[&p[..20]]);
    p[10..12].copy_from_slice(&sum.to_be_bytes());
    let tcp = &mut p[20..];
    tcp.fill(0);
    tcp[..4].copy_from_slice(&[0xc3, 0x50, 0x00, 0x50]);
    tcp[4..8].copy_from_slice(&[1, 2, 3, 4]);
    tcp[12] = 6 << 4;
    tcp[13] = 0x02; // SYN
    tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
    tcp[20..24].copy_from_slice(&[2, 4, 0x05, 0xb4]); // MSS 1460
    let sum = !tcp_sum(&p);
    p[36..38].copy_from_slice(&sum.to_be_bytes());
    assert!(tcp_ok(&p));
    p
}

fn tcp_sum(ip: &[u8]) -> u16 {
    let seg = &ip[20..];
    let len = (seg.len() as u16).to_be_bytes();
    ones_sum(&[&ip[12..20], &[0, 6], &len, seg])
}

fn tcp_ok(ip: &[u8]) -> bool {
    tcp_sum(ip) == 0xffff
}

fn mss(ip: &[u8]) -> u16 {
    u16::from_be_bytes([ip[42], ip[43]])
}

#[test]
fn a_syn_with_mss_1460_crosses_either_way_with_the_mss_clamped() {
    let (mut pair, peer) = mru_pair(true);
    let clamped = (SESSION_MTU - 40) as u16;
    // Host to peer (send_ip).
    let down = syn(TUNNEL_LOCAL, peer);
    assert!(pair.server_send_ip(&down));
    // Peer to host (handle_gre), the client not clamping.
    let up = syn(peer, TUNNEL_LOCAL);
    assert!(pair.client_send_ip(&up));
    pair.drive_for(50);
    let [at_peer] = &pair.client_ip[..] else {
        panic!("{:?}", pair.client_ip)
    };
    let [(_, at_host)] = &pair.server_ip[..] else {
        panic!("{:?}", pair.server_ip)
    };
    for (got, sent) in [(at_peer, &down), (at_host, &up)] {
        assert_eq!(mss(got), clamped);
        assert!(tcp_ok(got), "TCP checksum updated");
        assert_eq!(got[..36], sent[..36], "nothing else changed");
        assert_eq!(got[38..42], sent[38..42]);
    }
    assert_eq!(server_mtu(&pair).mss_clamped, 2);
    assert_eq!(pair.server.stats().mtu.mss_clamped, 2);

    // With `mss_clamp` off the SYNs cross as they are.
    let (mut pair, peer) = mru_pair(false);
    assert!(pair.server_send_ip(&syn(TUNNEL_LOCAL, peer)));
    assert!(pair.client_send_ip(&syn(peer, TUNNEL_LOCAL)));
    pair.drive_for(50);
    assert_eq!(mss(&pair.client_ip[0]), 1460);
    assert_eq!(mss(&pair.server_ip[0].1), 1460);
    assert_eq!(server_mtu(&pair).mss_clamped, 0);
}
