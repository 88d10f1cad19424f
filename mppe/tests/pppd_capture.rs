//! The whole key chain against two real Linux stacks.
//!
//! `tests/data/pppd-mschapv2-mppe128-session.pcap` (see the `.summary.txt`
//! beside it) is a PPTP session between pptp-linux + pppd 2.4.9 and pptpd +
//! pppd, kernel 6.1 `ppp_mppe`: MS-CHAPv2 as `labuser` / `labpass` against
//! authenticator `pptpd`, CCP agreeing on MPPE-128 stateless (0x01000040),
//! then encrypted pings both ways. This test reads the capture with a small
//! pcapng reader, takes the challenge and response from the CHAP frames,
//! derives both directions' keys with this crate and decrypts every MPPE
//! packet: the plaintexts must be IP datagrams with valid checksums,
//! including ICMP echo requests and replies. Re-encrypting the plaintexts
//! with this crate's encrypters must reproduce the captured packets byte
//! for byte.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use md4::{Digest, Md4};
use mppe::keys::{asymmetric_start_key, master_key, Side};
use mppe::{Config, Decrypter, Encrypter, KeyStrength, Mode, HEADER_LEN};
use sha1::Sha1;

const PCAP: &[u8] = include_bytes!("data/pppd-mschapv2-mppe128-session.pcap");
const CLIENT_IP: [u8; 4] = [10, 0, 0, 3];
const SERVER_IP: [u8; 4] = [10, 0, 0, 2];

fn u32le(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().unwrap())
}

/// Packet data of every Enhanced Packet Block (little-endian pcapng).
fn pcapng_packets(file: &[u8]) -> Vec<&[u8]> {
    assert_eq!(u32le(file, 0), 0x0a0d_0d0a, "not pcapng");
    assert_eq!(u32le(file, 8), 0x1a2b_3c4d, "not little-endian pcapng");
    let mut out = Vec::new();
    let mut at = 0;
    while at + 12 <= file.len() {
        let block_type = u32le(file, at);
        let len = u32le(file, at + 4) as usize;
        assert!(len >= 12 && at + len <= file.len(), "bad block at {at}");
        if block_type == 1 {
            // Interface Description: link type 1 = Ethernet.
            assert_eq!(u16::from_le_bytes([file[at + 8], file[at + 9]]), 1);
        }
        if block_type == 6 {
            let captured = u32le(file, at + 20) as usize;
            out.push(&file[at + 28..at + 28 + captured]);
        }
        at += len;
    }
    assert_eq!(at, file.len());
    out
}

/// A PPP frame carried in enhanced GRE (RFC 2637 §4.1) over IPv4 over
/// Ethernet, with its source address.
struct PppFrame<'a> {
    src: [u8; 4],
    protocol: u16,
    info: &'a [u8],
}

fn ppp_in_gre(frame: &[u8]) -> Option<PppFrame<'_>> {
    if frame.len() < 14 || frame[12..14] != [0x08, 0x00] {
        return None;
    }
    let ip = &frame[14..];
    let ihl = usize::from(ip[0] & 0x0f) * 4;
    if ip[9] != 47 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    let src: [u8; 4] = ip[12..16].try_into().unwrap();
    let gre = &ip[ihl..total];
    assert_eq!(gre[1] & 0x7f, 0x01, "enhanced GRE version 1");
    assert_eq!(gre[2..4], [0x88, 0x0b]);
    let payload_len = usize::from(u16::from_be_bytes([gre[4], gre[5]]));
    let mut at = 8;
    if gre[0] & 0x10 != 0 {
        at += 4; // sequence number
    }
    if gre[1] & 0x80 != 0 {
        at += 4; // acknowledgment number
    }
    if payload_len == 0 {
        return None;
    }
    let mut ppp = &gre[at..at + payload_len];
    // ACFC: address/control may be absent (RFC 1661 §6.6).
    if ppp.starts_with(&[0xff, 0x03]) {
        ppp = &ppp[2..];
    }
    // PFC: a 1-octet protocol field is odd (RFC 1661 §6.5).
    let (protocol, info) = if ppp[0] & 1 == 1 {
        (u16::from(ppp[0]), &ppp[1..])
    } else {
        (u16::from_be_bytes([ppp[0], ppp[1]]), &ppp[2..])
    };
    Some(PppFrame {
        src,
        protocol,
        info,
    })
}

fn ones_complement_sum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = u16::from_be_bytes([pair[0], *pair.get(1).unwrap_or(&0)]);
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

#[test]
fn pppd_session_decrypts_with_our_keys() {
    let packets = pcapng_packets(PCAP);
    let frames: Vec<PppFrame> = packets.iter().filter_map(|p| ppp_in_gre(p)).collect();

    // CHAP (0xc223): Challenge from the server, Response from the client.
    let challenge = frames
        .iter()
        .find(|f| f.protocol == 0xc223 && f.info[0] == 1 && f.src == SERVER_IP)
        .expect("CHAP Challenge");
    assert_eq!(challenge.info[4], 16);
    let auth_challenge: [u8; 16] = challenge.info[5..21].try_into().unwrap();
    assert_eq!(&challenge.info[21..], b"pptpd");
    let response = frames
        .iter()
        .find(|f| f.protocol == 0xc223 && f.info[0] == 2 && f.src == CLIENT_IP)
        .expect("CHAP Response");
    assert_eq!(response.info[4], 49);
    let value = &response.info[5..54];
    let peer_challenge: [u8; 16] = value[..16].try_into().unwrap();
    let nt_response: [u8; 24] = value[24..48].try_into().unwrap();
    let username = &response.info[54..];
    assert_eq!(username, b"labuser");

    // Password hashes (ppp-core's job in the stack; MD4 here).
    let utf16: Vec<u8> = "labpass"
        .encode_utf16()
        .flat_map(|u| u.to_le_bytes())
        .collect();
    let hash: [u8; 16] = Md4::digest(&utf16).into();
    let hash_hash: [u8; 16] = Md4::digest(hash).into();

    // Confirm the password with the server's RFC 2759 §8.7 authenticator
    // response from the CHAP Success message ("S=…").
    let success = frames
        .iter()
        .find(|f| f.protocol == 0xc223 && f.info[0] == 3)
        .expect("CHAP Success");
    let message = core::str::from_utf8(&success.info[4..]).unwrap();
    let s_hex = &message[2..42];
    let challenge_hash: [u8; 20] = Sha1::new()
        .chain_update(peer_challenge)
        .chain_update(auth_challenge)
        .chain_update(username)
        .finalize()
        .into();
    let digest: [u8; 20] = Sha1::new()
        .chain_update(hash_hash)
        .chain_update(nt_response)
        .chain_update(b"Magic server to client signing constant")
        .finalize()
        .into();
    let authenticator: [u8; 20] = Sha1::new()
        .chain_update(digest)
        .chain_update(&challenge_hash[..8])
        .chain_update(b"Pad to make it do more than one iteration")
        .finalize()
        .into();
    assert_eq!(hex::encode_upper(authenticator), s_hex);

    // MPPE keys for both ends, from this crate.
    let master = master_key(&hash_hash, &nt_response);
    let config = Config::new(KeyStrength::Bits128, Mode::Stateless);
    // Server → client: the server's send key = the client's receive key.
    let server_send = asymmetric_start_key(&master, Side::Server, true);
    let client_receive = asymmetric_start_key(&master, Side::Client, false);
    assert_eq!(server_send.as_bytes(), client_receive.as_bytes());
    let mut to_client = Decrypter::new(&client_receive, config).unwrap();
    let client_send = asymmetric_start_key(&master, Side::Client, true);
    let mut to_server = Decrypter::new(&client_send, config).unwrap();

    // Our encrypters, fed the plaintexts, must put the very same bytes on
    // the wire as the Linux kernel did (header flags, counts, ciphertext).
    let mut server_tx = Encrypter::new(&server_send, config).unwrap();
    let mut client_tx = Encrypter::new(&client_send, config).unwrap();
    let mut reproduced = 0;

    let mut ip_packets = 0;
    let mut echo_requests = 0;
    let mut echo_replies = 0;
    for frame in frames.iter().filter(|f| f.protocol == 0x00fd) {
        let dec = if frame.src == SERVER_IP {
            &mut to_client
        } else {
            &mut to_server
        };
        let mut buf = frame.info.to_vec();
        let d = dec
            .decrypt_in_place(&mut buf)
            .expect("MPPE packet accepted");
        assert!(d.flushed, "stateless packets carry A");
        let plain = &buf[HEADER_LEN..];
        let tx = if frame.src == SERVER_IP {
            &mut server_tx
        } else {
            &mut client_tx
        };
        let mut again = vec![0u8; HEADER_LEN];
        again.extend_from_slice(plain);
        tx.encrypt_in_place(&mut again).unwrap();
        assert_eq!(
            &again[..],
            frame.info,
            "re-encryption differs from the kernel's"
        );
        reproduced += 1;
        // pppd encrypts the uncompressed 2-octet protocol field.
        let protocol = u16::from_be_bytes([plain[0], plain[1]]);
        let ip = &plain[2..];
        match protocol {
            0x0021 => {
                assert_eq!(ip[0] >> 4, 4);
                let ihl = usize::from(ip[0] & 0x0f) * 4;
                assert_eq!(ones_complement_sum(&ip[..ihl]), 0xffff, "IPv4 checksum");
                let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
                assert_eq!(total, ip.len());
                if ip[9] == 1 {
                    assert_eq!(ones_complement_sum(&ip[ihl..]), 0xffff, "ICMP checksum");
                    match ip[ihl] {
                        8 => echo_requests += 1,
                        0 => echo_replies += 1,
                        _ => {}
                    }
                }
            }
            0x0057 => {
                assert_eq!(ip[0] >> 4, 6);
                let payload = usize::from(u16::from_be_bytes([ip[4], ip[5]]));
                assert_eq!(payload + 40, ip.len());
            }
            other => panic!("unexpected protocol {other:#06x}"),
        }
        ip_packets += 1;
    }
    eprintln!("decrypted {ip_packets} packets: {echo_requests} echo requests, {echo_replies} echo replies");
    assert!(ip_packets >= 6, "{ip_packets} packets");
    assert_eq!(reproduced, ip_packets);
    assert!(echo_requests >= 3, "{echo_requests} echo requests");
    assert!(echo_replies >= 3, "{echo_replies} echo replies");
    assert_eq!(
        to_client.stats().packets + to_server.stats().packets,
        ip_packets as u64
    );
    assert_eq!(to_client.stats().dropped() + to_server.stats().dropped(), 0);
}
