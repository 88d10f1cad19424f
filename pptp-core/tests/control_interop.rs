//! The machines against the recorded frames of real peers: a server set up
//! like the PIX of seed trace 1 answers the Windows client's frames with
//! the PIX's frames, and a client set up like Windows sends Windows'
//! frames. Expected bytes come from `tests/data/pptp_messages.toml`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use pptp_core::control::*;
use pptp_core::wire::control::*;
use pptp_core::{Instant, Role};

const MESSAGES: &str = include_str!("data/pptp_messages.toml");

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

/// The bytes of the vector for control message type `t`.
fn vector(t: u16) -> Vec<u8> {
    let doc: toml::Table = MESSAGES.parse().unwrap();
    let v = doc["vector"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["control_message_type"].as_integer() == Some(i64::from(t)))
        .unwrap();
    hex(v["hex"].as_str().unwrap())
}

fn name(s: &[u8]) -> NameBytes {
    heapless::Vec::from_slice(s).unwrap()
}

fn transmit_all(conn: &mut Connection<8>, now: Instant) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 300];
    while let Some(t) = conn.poll_transmit(now, &mut buf) {
        out.extend_from_slice(&buf[..t.len]);
    }
    out
}

fn pix_config() -> Config {
    // The fields of the PIX's SCCRP in the vector file.
    let sccrp = vector(2);
    let ControlRepr::Sccrp(r) = ControlRepr::parse_bytes(&sccrp).unwrap() else {
        panic!("not an SCCRP")
    };
    Config {
        host_name: name(r.host_name),
        vendor_string: name(r.vendor_string),
        framing_capabilities: r.framing_capabilities,
        bearer_capabilities: r.bearer_capabilities,
        maximum_channels: r.maximum_channels,
        firmware_revision: r.firmware_revision,
        ..Config::default()
    }
}

#[test]
fn pix_like_server_answers_windows_frames_with_pix_frames() {
    let now = Instant::ZERO;
    let mut server: Connection<8> = Connection::new(Role::Server, pix_config(), now);

    // Windows SCCRQ in, PIX SCCRP out.
    server.handle_input(now, &vector(1)).unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(2));
    match server.poll_event() {
        Some(Event::TunnelUp(peer)) => {
            assert_eq!(peer.host_name.as_slice(), b"local");
            assert_eq!(peer.vendor_string.as_slice(), b"9x");
        }
        other => panic!("{other:?}"),
    }

    // Windows OCRQ in (call ID 0, window 16); the host accepts as call 42
    // with the OCRP vector's values; PIX OCRP out.
    server.handle_input(now, &vector(7)).unwrap();
    let request = match server.poll_event() {
        Some(Event::CallRequested(r)) => r,
        other => panic!("{other:?}"),
    };
    assert_eq!(request.peer_call_id, 0);
    assert_eq!(request.minimum_bps, 56_000);
    assert_eq!(request.maximum_bps, 64_000);
    assert_eq!(request.peer_recv_window, 16);
    let ControlRepr::Ocrp(ocrp) = ControlRepr::parse_bytes(&vector(8)).unwrap() else {
        panic!()
    };
    server
        .accept_call(
            now,
            0,
            ocrp.call_id,
            &CallAccept {
                connect_speed: ocrp.connect_speed,
                recv_window_size: ocrp.packet_recv_window_size,
                processing_delay: ocrp.packet_processing_delay,
                physical_channel_id: ocrp.physical_channel_id,
            },
        )
        .unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(8));
    match server.poll_event() {
        Some(Event::CallUp(up)) => {
            assert_eq!((up.local_call_id, up.peer_call_id), (42, 0));
            assert_eq!(up.peer_recv_window, 16);
        }
        other => panic!("{other:?}"),
    }

    // An Echo-Request vector gets the Echo-Reply vector.
    server.handle_input(now, &vector(5)).unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(6));

    // Windows' CCRQ for its call 0 would name call ID 0; the CCRQ vector
    // names 42, so use a client-side view: a StopCCRQ vector (reason 1)
    // gets the StopCCRP vector (result 1) and both ends are done.
    server.handle_input(now, &vector(3)).unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(4));
    assert!(server.is_closed());
}

#[test]
fn windows_like_client_sends_windows_frames() {
    let now = Instant::ZERO;
    let config = Config {
        host_name: name(b"local"),
        vendor_string: name(b"9x"),
        framing_capabilities: FramingCapabilities::ASYNC,
        bearer_capabilities: BearerCapabilities::ANALOG,
        ..Config::default()
    };
    let mut client: Connection<8> = Connection::new(Role::Client, config, now);
    assert_eq!(transmit_all(&mut client, now), vector(1));
    client.handle_input(now, &vector(2)).unwrap();
    assert!(matches!(client.poll_event(), Some(Event::TunnelUp(_))));

    // The OCRQ of the trace: call ID 0, 56000-64000 bps, any bearer,
    // either framing, window 16 (CallParams::default() is exactly that).
    client.place_call(now, 0, &CallParams::default()).unwrap();
    assert_eq!(transmit_all(&mut client, now), vector(7));
    client.handle_input(now, &vector(8)).unwrap();
    match client.poll_event() {
        Some(Event::CallUp(up)) => {
            assert_eq!((up.local_call_id, up.peer_call_id), (0, 42));
            assert_eq!(up.peer_recv_window, 64);
            assert_eq!(up.connect_speed, 64_000);
        }
        other => panic!("{other:?}"),
    }

    // The CDN vector (PIX call 42, Admin Shutdown, statistics text).
    client.handle_input(now, &vector(13)).unwrap();
    match client.poll_event() {
        Some(Event::CallDown(CallDown {
            local_call_id: Some(0),
            peer_call_id: Some(42),
            reason:
                CallDownReason::Disconnected {
                    result: DisconnectResult::AdminShutdown,
                    statistics,
                    ..
                },
        })) => assert_eq!(statistics.as_slice(), b"bytes 394/3469"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn sli_and_ccrq_vectors_from_the_client() {
    // A client whose call's peer (server) call ID is 9 sends the SLI vector;
    // one whose own call ID is 42 sends the CCRQ vector.
    let now = Instant::ZERO;
    let mut client: Connection<8> = Connection::new(Role::Client, Config::default(), now);
    let _ = transmit_all(&mut client, now);
    client.handle_input(now, &vector(2)).unwrap();
    client.place_call(now, 42, &CallParams::default()).unwrap();
    let _ = transmit_all(&mut client, now);
    let mut buf = [0u8; 64];
    let n = ControlRepr::Ocrp(Ocrp {
        call_id: 9,
        peer_call_id: 42,
        result: OutgoingCallResult::Connected,
        error: GeneralError::None,
        cause_code: 0,
        connect_speed: 64_000,
        packet_recv_window_size: 64,
        packet_processing_delay: 0,
        physical_channel_id: 0,
    })
    .emit(&mut buf)
    .unwrap();
    client.handle_input(now, &buf[..n]).unwrap();
    client
        .set_link_info(now, 42, 0xffff_ffff, 0xffff_ffff)
        .unwrap();
    assert_eq!(transmit_all(&mut client, now), vector(15));
    client.clear_call(now, 42).unwrap();
    assert_eq!(transmit_all(&mut client, now), vector(12));
}

#[test]
fn server_receives_sli_and_sends_wen_vectors() {
    // Server call 9 gets the SLI vector as an event; a server call whose
    // peer call ID is 16384 sends the WEN vector.
    let now = Instant::ZERO;
    let mut server: Connection<8> = Connection::new(Role::Server, Config::default(), now);
    server.handle_input(now, &vector(1)).unwrap();
    let _ = transmit_all(&mut server, now);
    let mut buf = [0u8; 200];
    let n = ControlRepr::Ocrq(Ocrq {
        call_id: 16384,
        call_serial_number: 0,
        minimum_bps: 0,
        maximum_bps: 0,
        bearer_type: BearerCapabilities::ANY,
        framing_type: FramingCapabilities::EITHER,
        packet_recv_window_size: 8,
        packet_processing_delay: 0,
        phone_number_length: 0,
        phone_number: b"",
        subaddress: b"",
    })
    .emit(&mut buf)
    .unwrap();
    server.handle_input(now, &buf[..n]).unwrap();
    server
        .accept_call(now, 16384, 9, &CallAccept::default())
        .unwrap();
    let _ = transmit_all(&mut server, now);
    while server.poll_event().is_some() {}
    server.handle_input(now, &vector(15)).unwrap();
    assert_eq!(
        server.poll_event(),
        Some(Event::LinkInfo {
            local_call_id: 9,
            send_accm: 0xffff_ffff,
            receive_accm: 0xffff_ffff
        })
    );
    server
        .wan_error_notify(
            now,
            9,
            &WanErrors {
                crc_errors: 1,
                framing_errors: 2,
                hardware_overruns: 3,
                buffer_overruns: 4,
                timeout_errors: 5,
                alignment_errors: 6,
            },
        )
        .unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(14));
}

#[test]
fn incoming_vectors_icrq_icrp_iccn() {
    // A client receiving the ICRQ vector (call 1) and accepting it as call
    // 2 with window 64 sends the ICRP vector; the ICCN vector then brings
    // the call up.
    let now = Instant::ZERO;
    let mut client: Connection<8> = Connection::new(Role::Client, Config::default(), now);
    let _ = transmit_all(&mut client, now);
    client.handle_input(now, &vector(2)).unwrap();
    assert!(matches!(client.poll_event(), Some(Event::TunnelUp(_))));
    client.handle_input(now, &vector(9)).unwrap();
    match client.poll_event() {
        Some(Event::CallRequested(r)) => {
            assert_eq!(r.peer_call_id, 1);
            assert_eq!(r.phone_number.as_slice(), b"5551");
            assert_eq!(r.dialing_number.as_slice(), b"5552");
        }
        other => panic!("{other:?}"),
    }
    client
        .accept_call(
            now,
            1,
            2,
            &CallAccept {
                recv_window_size: 64,
                processing_delay: 0,
                ..CallAccept::default()
            },
        )
        .unwrap();
    assert_eq!(transmit_all(&mut client, now), vector(10));
    client.handle_input(now, &vector(11)).unwrap();
    match client.poll_event() {
        Some(Event::CallUp(up)) => {
            assert_eq!((up.local_call_id, up.peer_call_id), (2, 1));
            assert_eq!(up.connect_speed, 64_000);
            assert_eq!(up.peer_recv_window, 16);
            assert_eq!(up.framing, FramingCapabilities::EITHER);
        }
        other => panic!("{other:?}"),
    }

    // And a server placing that ICRQ sends the ICRQ vector, then the ICCN
    // vector when the ICRP vector arrives.
    let mut server: Connection<8> = Connection::new(Role::Server, Config::default(), now);
    server.handle_input(now, &vector(1)).unwrap();
    let _ = transmit_all(&mut server, now);
    server
        .place_call(
            now,
            1,
            &CallParams {
                serial_number: 1,
                bearer: BearerCapabilities::ANALOG,
                physical_channel_id: 0,
                phone_number: b"5551",
                dialing_number: b"5552",
                connect_speed: 64_000,
                recv_window_size: 16,
                processing_delay: 0,
                framing: FramingCapabilities::EITHER,
                ..CallParams::default()
            },
        )
        .unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(9));
    server.handle_input(now, &vector(10)).unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(11));
}

#[test]
fn server_disconnect_with_statistics_sends_the_cdn_vector() {
    // A server call 42 cleared with the vector's result and statistics
    // sends the CDN vector byte for byte.
    let now = Instant::ZERO;
    let mut server: Connection<8> = Connection::new(Role::Server, Config::default(), now);
    server.handle_input(now, &vector(1)).unwrap();
    server.handle_input(now, &vector(7)).unwrap();
    server
        .accept_call(now, 0, 42, &CallAccept::default())
        .unwrap();
    let _ = transmit_all(&mut server, now);
    while server.poll_event().is_some() {}
    let cdn_bytes = vector(13);
    let ControlRepr::Cdn(cdn) = ControlRepr::parse_bytes(&cdn_bytes).unwrap() else {
        panic!()
    };
    server
        .disconnect_call(
            now,
            42,
            &Disconnect {
                result: cdn.result,
                error: cdn.error,
                cause_code: cdn.cause_code,
                statistics: cdn.call_statistics,
            },
        )
        .unwrap();
    assert_eq!(transmit_all(&mut server, now), vector(13));
    assert!(matches!(
        server.poll_event(),
        Some(Event::CallDown(CallDown {
            local_call_id: Some(42),
            reason: CallDownReason::Local,
            ..
        }))
    ));
    assert_eq!(server.call_count(), 0);
}

#[test]
fn stop_request_during_start_up_is_acknowledged() {
    let now = Instant::ZERO;
    let mut client: Connection<8> = Connection::new(Role::Client, Config::default(), now);
    let _ = transmit_all(&mut client, now);
    client.handle_input(now, &vector(3)).unwrap();
    assert_eq!(transmit_all(&mut client, now), vector(4));
    assert_eq!(
        client.poll_event(),
        Some(Event::TunnelDown(TunnelDownReason::PeerStopped(
            StopReason::None
        )))
    );
    assert!(client.is_closed());
}
