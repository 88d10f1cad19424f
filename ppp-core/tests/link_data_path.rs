//! The link's data path and input checking: MPPE resynchronisation,
//! Protocol-Reject, malformed frames, sending before the link is ready.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod link_support;

use link_support::*;
use ppp_core::link::{Error, Link, LinkEvent, SendError, HEADROOM};
use ppp_core::time::Duration;

fn stateful_pair() -> Pair {
    use mppe::{ModePreference, Strengths};
    let policy = ppp_core::link::MppePolicy {
        strengths: Strengths::only(mppe::KeyStrength::Bits128),
        mode: ModePreference::StatefulOnly,
        ..ppp_core::link::MppePolicy::disabled()
    };
    let mut server = server_config();
    server.mppe = policy;
    let mut client = client_config(PASSWORD);
    client.mppe = policy;
    Pair::new(server, client)
}

#[test]
fn stateful_loss_sends_reset_request_and_traffic_resumes() {
    let mut pair = stateful_pair();
    pair.establish();
    let now = pair.now;
    let mut out = [0u8; 1600];
    // Packet 1 arrives, packet 2 is lost, packet 3 arrives.
    let mut frames = Vec::new();
    for i in 0..3u8 {
        let n = pair
            .client
            .send_ip(now, &ip_packet(100, i), &mut out)
            .unwrap();
        frames.push(out[..n].to_vec());
    }
    let mut f = frames[0].clone();
    assert!(pair.server.handle_frame(now, &mut f).unwrap().is_some());
    let mut f = frames[2].clone();
    let err = pair.server.handle_frame(now, &mut f).unwrap_err();
    assert!(
        matches!(err, Error::Decrypt(e) if e.needs_reset_request()),
        "{err:?}"
    );
    assert_eq!(pair.server.counters().reset_requests_sent, 1);
    // The Reset-Request crosses; the client answers Reset-Ack and flushes.
    let before = pair.wire.len();
    pair.pump();
    let crossed: Vec<_> = pair.wire[before..].to_vec();
    assert!(crossed.iter().any(|(d, f)| *d == Dir::ToClient
        && frame_protocol(f) == 0x80fd
        && f.ends_with(&[14, f[f.len() - 3], 0, 4])));
    assert!(crossed
        .iter()
        .any(|(d, f)| *d == Dir::ToServer && frame_protocol(f) == 0x80fd));
    assert_eq!(pair.client.counters().reset_requests_received, 1);
    // The next packet carries the A bit and decrypts.
    let ip = ip_packet(200, 7);
    let (_, got) = pair.client_to_server(&ip);
    assert_eq!(got.unwrap(), ip);
    let stats = pair.server.mppe_stats().unwrap();
    assert_eq!(stats.receive.resyncs, 1);
    assert_eq!(pair.client.mppe_stats().unwrap().send.reset_requests, 1);
    for i in 0..300u32 {
        let ip = ip_packet(60, i as u8);
        let (_, got) = pair.client_to_server(&ip);
        assert_eq!(got.unwrap(), ip);
    }
}

/// pppd/Linux change the key on every flushed packet, so losing the
/// flushed packet that answers a Reset-Request used to leave the receiver
/// a key behind for good (the interop lab's stateful-loss case). The
/// link now finds the missed key change by trial decryption of the next
/// flushed packet.
#[test]
fn stateful_lost_flushed_packet_is_recovered() {
    let mut pair = stateful_pair();
    pair.establish();
    let now = pair.now;
    let mut out = [0u8; 1600];
    let mut send = |pair: &mut Pair, seed: u8| {
        let n = pair
            .client
            .send_ip(pair.now, &ip_packet(80, seed), &mut out)
            .unwrap();
        out[..n].to_vec()
    };
    let first = send(&mut pair, 0);
    let _lost = send(&mut pair, 1);
    let third = send(&mut pair, 2);
    pair.server.handle_frame(now, &mut first.clone()).unwrap();
    pair.server
        .handle_frame(now, &mut third.clone())
        .unwrap_err();
    assert_eq!(pair.server.counters().reset_requests_sent, 1);
    pair.pump(); // Reset-Request and Reset-Ack cross
    assert_eq!(pair.client.counters().reset_requests_received, 1);
    let _lost_flushed = send(&mut pair, 3);
    // Dropped while waiting; no new Reset-Request before a second passed.
    let mut fourth = send(&mut pair, 4);
    let err = pair.server.handle_frame(now, &mut fourth).unwrap_err();
    assert!(
        matches!(
            err,
            Error::Decrypt(mppe::DecryptError::AwaitingFlush { .. })
        ),
        "{err:?}"
    );
    assert_eq!(pair.server.counters().reset_requests_sent, 1);
    pair.now = now + Duration::from_secs(1);
    let mut fifth = send(&mut pair, 5);
    pair.server.handle_frame(pair.now, &mut fifth).unwrap_err();
    assert_eq!(pair.server.counters().reset_requests_sent, 2);
    pair.pump();
    assert_eq!(pair.client.counters().reset_requests_received, 2);
    // The client changed keys twice (once per flushed packet); the
    // server saw one flushed packet. Everything after still decrypts.
    for i in 0..300u32 {
        let ip = ip_packet(60, i as u8);
        let (_, got) = pair.client_to_server(&ip);
        assert_eq!(got.unwrap(), ip, "packet {i}");
    }
    let receive = pair.server.mppe_stats().unwrap().receive;
    assert_eq!(receive.recovered_key_changes, 1);
    assert_eq!(pair.client.mppe_stats().unwrap().send.flushed_packets, 3); // 2 + one flag packet
}

/// Garbage after a successful decrypt (keys out of step without a
/// visible loss) makes a stateful receiver discard and ask for a flush.
#[test]
fn stateful_garbage_triggers_resynchronisation() {
    let mut pair = stateful_pair();
    pair.establish();
    let now = pair.now;
    let mut out = [0u8; 1600];
    let n = pair
        .client
        .send_ip(now, &ip_packet(80, 0), &mut out)
        .unwrap();
    let mut frame = out[..n].to_vec();
    // Flip the last octet of the encrypted protocol field (just before
    // the 80-octet IP packet): MPPE has no integrity check, so this
    // decrypts to a wrong inner protocol.
    let at = frame.len() - 81;
    frame[at] ^= 0x5a;
    let err = pair.server.handle_frame(now, &mut frame).unwrap_err();
    assert!(matches!(err, Error::InnerProtocol { .. }), "{err:?}");
    assert_eq!(pair.server.counters().reset_requests_sent, 1);
    pair.pump();
    for i in 0..20u32 {
        let ip = ip_packet(60, i as u8);
        let (_, got) = pair.client_to_server(&ip);
        assert_eq!(got.unwrap(), ip, "packet {i}");
    }
    assert_eq!(pair.server.mppe_stats().unwrap().receive.forced_resyncs, 1);
}

#[test]
fn stateless_loss_needs_no_reset() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    let mut out = [0u8; 1600];
    let _lost = pair
        .client
        .send_ip(now, &ip_packet(100, 0), &mut out)
        .unwrap();
    let ip = ip_packet(100, 1);
    let (_, got) = pair.client_to_server(&ip);
    assert_eq!(got.unwrap(), ip);
    assert_eq!(pair.server.counters().reset_requests_sent, 0);
}

#[test]
fn ipv6cp_and_unknown_protocols_are_protocol_rejected() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    // IPv6CP Configure-Request (Interface-Identifier).
    let mut f = vec![
        0xff, 0x03, 0x80, 0x57, 1, 1, 0, 14, 1, 10, 1, 2, 3, 4, 5, 6, 7, 8,
    ];
    assert_eq!(
        pair.server.handle_frame(now, &mut f),
        Err(Error::ProtocolRejected { protocol: 0x8057 })
    );
    let mut buf = [0u8; 1600];
    let t = pair
        .server
        .poll_transmit(now, &mut buf)
        .expect("Protocol-Reject");
    let pr = &buf[..t.len];
    assert_eq!(&pr[..4], &[0xff, 0x03, 0xc0, 0x21]);
    assert_eq!(pr[4], 8, "LCP Protocol-Reject");
    assert_eq!(&pr[8..10], &[0x80, 0x57]);
    assert_eq!(&pr[10..], &f[4..]);
    // The client takes the reject of its (hypothetical) IPv6CP calmly.
    let mut g = pr.to_vec();
    pair.client.handle_frame(now, &mut g).unwrap();
    assert!(pair
        .client
        .poll_event()
        .into_iter()
        .chain(std::iter::from_fn(|| pair.client.poll_event()))
        .any(|e| e == LinkEvent::ProtocolRejected(0x8057)));
    assert!(pair.client.is_data_ready());
    assert_eq!(pair.server.counters().dropped_unsupported, 1);
}

#[test]
fn malformed_frames_are_typed_errors() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    let cases: Vec<(Vec<u8>, fn(&Error) -> bool)> = vec![
        (vec![], |e| matches!(e, Error::Frame(_))),
        (vec![0xff], |e| matches!(e, Error::Frame(_))),
        (vec![0xff, 0x05, 0x00, 0x21], |e| {
            matches!(e, Error::Frame(_))
        }),
        (vec![0xff, 0x03, 0x02, 0x00], |e| {
            matches!(e, Error::Frame(_))
        }),
        (vec![0xff, 0x03, 0xc0, 0x21, 1], |e| {
            matches!(
                e,
                Error::Control {
                    protocol: 0xc021,
                    ..
                }
            )
        }),
        (vec![0xff, 0x03, 0x80, 0x21, 1, 1, 0, 40, 3, 6], |e| {
            matches!(
                e,
                Error::Control {
                    protocol: 0x8021,
                    ..
                }
            )
        }),
        (vec![0xff, 0x03, 0x80, 0xfd, 1, 1, 0, 6, 18, 0], |e| {
            matches!(
                e,
                Error::Control {
                    protocol: 0x80fd,
                    ..
                }
            )
        }),
        // MPPE frame too short for its header; MPPE frame with the
        // encrypted bit clear.
        (vec![0xfd, 0x10], |e| matches!(e, Error::Decrypt(_))),
        (vec![0xfd, 0x80, 0x05, 1, 2, 3], |e| {
            matches!(e, Error::Decrypt(_))
        }),
    ];
    let before = *pair.server.counters();
    for (bytes, check) in &cases {
        let mut f = bytes.clone();
        let err = pair.server.handle_frame(now, &mut f).unwrap_err();
        assert!(check(&err), "{bytes:02x?} gave {err:?}");
    }
    let after = *pair.server.counters();
    assert_eq!(after.frames_in - before.frames_in, cases.len() as u64);
    assert_eq!(after.dropped() - before.dropped(), cases.len() as u64);
    // Still up and working.
    let ip = ip_packet(80, 3);
    let (_, got) = pair.client_to_server(&ip);
    assert_eq!(got.unwrap(), ip);
}

#[test]
fn nothing_is_sent_or_taken_before_the_link_is_ready_or_after_it_ends() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    let now = pair.now;
    let mut out = [0u8; 1600];
    assert_eq!(
        pair.server.send_ip(now, &ip_packet(40, 0), &mut out),
        Err(SendError::NotReady)
    );
    let mut f = vec![0x21, 0x45, 0, 0];
    assert_eq!(pair.server.handle_frame(now, &mut f), Err(Error::Dead));
    pair.open();
    // LCP running: IP refused, NCP packets out of phase.
    let mut f = vec![0xff, 0x03, 0x00, 0x21, 0x45, 0, 0, 20];
    assert_eq!(pair.server.handle_frame(now, &mut f), Err(Error::NotReady));
    let mut f = vec![0xff, 0x03, 0x80, 0x21, 1, 1, 0, 10, 3, 6, 0, 0, 0, 0];
    assert_eq!(
        pair.server.handle_frame(now, &mut f),
        Err(Error::WrongPhase { protocol: 0x8021 })
    );
    pair.establish();
    // Too long for the peer's MRU (1500 minus MPPE's 4 octets).
    assert_eq!(pair.server.max_ip_len(), 1496);
    let mut big = vec![0u8; 2000];
    assert_eq!(
        pair.server.send_ip(now, &ip_packet(1497, 0), &mut big),
        Err(SendError::TooLong {
            len: 1497,
            max: 1496
        })
    );
    assert_eq!(
        pair.server.send_ip(now, &ip_packet(100, 0), &mut out[..50]),
        Err(SendError::BufferTooSmall {
            needed: 100 + HEADROOM,
            available: 50
        })
    );
    // In-place variant: the packet behind HEADROOM octets.
    let ip = ip_packet(300, 4);
    let mut buf = vec![0u8; HEADROOM + ip.len()];
    buf[HEADROOM..].copy_from_slice(&ip);
    let range = pair
        .server
        .send_ip_in_place(now, &mut buf, HEADROOM)
        .unwrap();
    let mut frame = buf[range].to_vec();
    let d = pair.client.handle_frame(now, &mut frame).unwrap().unwrap();
    assert_eq!(&frame[d.range()], &ip[..]);
    assert_eq!(
        pair.server.send_ip_in_place(now, &mut buf, 3),
        Err(SendError::BufferTooSmall {
            needed: HEADROOM,
            available: 3
        })
    );
    // Close: after the final Down, nothing more.
    pair.client
        .close(now, ppp_core::link::EndReason::AdminClose);
    pair.run_until_down();
    let events_after = pair.server_events.len();
    let now = pair.now + Duration::from_secs(10);
    pair.server.handle_timeout(now);
    let mut f = vec![0xff, 0x03, 0xc0, 0x21, 1, 9, 0, 4];
    assert_eq!(pair.server.handle_frame(now, &mut f), Err(Error::Dead));
    assert!(pair.server.poll_event().is_none());
    assert_eq!(pair.server_events.len(), events_after);
    assert_eq!(pair.server.poll_timeout(), None);
    assert_eq!(
        pair.server.send_ip(now, &ip_packet(40, 0), &mut out),
        Err(SendError::NotReady)
    );
}

#[test]
fn keepalive_loss_ends_the_link() {
    let mut server = server_config();
    server.lcp.echo_interval = Some(Duration::from_secs(10));
    server.lcp.echo_failure = 3;
    let mut pair = Pair::new(server, client_config(PASSWORD));
    pair.establish();
    // The client vanishes: only the server's timers run.
    let mut now = pair.now;
    for _ in 0..10 {
        if let Some(t) = pair.server.poll_timeout() {
            now = t;
        }
        pair.server.handle_timeout(now);
        let mut buf = [0u8; 1600];
        while pair.server.poll_transmit(now, &mut buf).is_some() {}
    }
    let mut down = None;
    while let Some(e) = pair.server.poll_event() {
        if let LinkEvent::Down(r) = e {
            down = Some(r);
        }
    }
    assert_eq!(down, Some(ppp_core::link::EndReason::KeepaliveLost));
}

#[test]
fn identification_is_surfaced() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    let mut f = b"\xff\x03\xc0\x21\x0c\x05\x00\x12\x00\x00\x00\x00MSRASV5.00".to_vec();
    pair.server.handle_frame(now, &mut f).unwrap();
    let found = std::iter::from_fn(|| pair.server.poll_event())
        .any(|e| matches!(e, LinkEvent::Identification(m) if &m[..] == b"MSRASV5.00"));
    assert!(found);
}

#[test]
fn link_memory_footprint() {
    // Reported in the merge notes; a regression guard with headroom.
    let size = core::mem::size_of::<Link>();
    println!("size_of::<Link>() = {size}");
    assert!(size < 22 * 1024, "{size}");
}

#[test]
fn component_sizes() {
    use core::mem::size_of;
    println!("Link {}", size_of::<Link>());
    println!("Lcp {}", size_of::<ppp_core::lcp::Lcp>());
    println!(
        "Fsm<IpcpOptions> {}",
        size_of::<ppp_core::fsm::Fsm<ppp_core::ipcp::IpcpOptions>>()
    );
    println!(
        "Fsm<CcpOptions> {}",
        size_of::<ppp_core::fsm::Fsm<ppp_core::ccp::CcpOptions>>()
    );
    println!(
        "Authenticator {}",
        size_of::<ppp_core::auth::Authenticator>()
    );
    println!("Peer {}", size_of::<ppp_core::auth::Peer>());
    println!("LinkEvent {}", size_of::<LinkEvent>());
    println!("Credentials {}", size_of::<ppp_core::link::Credentials>());
    println!("Mppe {}", size_of::<mppe::session::Mppe>());
    println!("StartKeys {}", size_of::<mppe::StartKeys>());
}

#[test]
fn protocol_reject_of_ipcp_ends_the_link() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    // The client's LCP Protocol-Rejects IPCP (as a peer without IPv4
    // would): the server has nothing left to carry.
    let mut f = vec![
        0xff, 0x03, 0xc0, 0x21, 8, 0x42, 0, 10, 0x80, 0x21, 1, 1, 0, 4,
    ];
    pair.server.handle_frame(now, &mut f).unwrap();
    pair.run_until_down();
    assert_eq!(
        pair.server_down(),
        Some(ppp_core::link::EndReason::IpcpFailed)
    );
    assert!(pair
        .server_events
        .iter()
        .any(|e| *e == LinkEvent::ProtocolRejected(0x8021)));
}

#[test]
fn lower_layer_down_ends_at_once_and_sends_nothing() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    pair.server.lower_down(now);
    let mut buf = [0u8; 1600];
    assert!(pair.server.poll_transmit(now, &mut buf).is_none());
    let events: Vec<_> = std::iter::from_fn(|| pair.server.poll_event()).collect();
    assert_eq!(
        events.last(),
        Some(&LinkEvent::Down(ppp_core::link::EndReason::LowerLayerDown))
    );
    assert_eq!(pair.server.poll_timeout(), None);
}

#[test]
fn event_part_sizes() {
    use core::mem::size_of;
    println!("AuthRequest {}", size_of::<ppp_core::auth::AuthRequest>());
    println!("Name {}", size_of::<ppp_core::auth::Name>());
    println!("Attributes {}", size_of::<ppp_core::auth::Attributes>());
    println!(
        "IpcpNegotiated {}",
        size_of::<ppp_core::ipcp::IpcpNegotiated>()
    );
    println!(
        "PapAuthenticator {}",
        size_of::<ppp_core::auth::PapAuthenticator>()
    );
    println!(
        "ChapAuthenticator {}",
        size_of::<ppp_core::auth::ChapAuthenticator>()
    );
    println!("ChapPeer {}", size_of::<ppp_core::auth::ChapPeer>());
    println!("LcpOptions {}", size_of::<ppp_core::lcp::LcpOptions>());
    println!("LcpEvent {}", size_of::<ppp_core::lcp::LcpEvent>());
}
