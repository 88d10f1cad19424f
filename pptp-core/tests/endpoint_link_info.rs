//! `Endpoint::set_link_info`: a client sends Set-Link-Info (RFC 2637
//! §2.15) for its call; a server has nothing to send.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use pptp_core::endpoint::Event;

/// The control messages in a TCP byte stream: (message type, bytes).
fn control_messages(mut stream: &[u8]) -> Vec<(u16, Vec<u8>)> {
    let mut out = Vec::new();
    while stream.len() >= 10 {
        let len = usize::from(u16::from_be_bytes([stream[0], stream[1]]));
        assert!(len >= 10 && len <= stream.len(), "broken stream");
        out.push((
            u16::from_be_bytes([stream[8], stream[9]]),
            stream[..len].to_vec(),
        ));
        stream = &stream[len..];
    }
    out
}

const SLI: u16 = 15;

#[test]
fn client_sends_set_link_info_for_its_call_and_the_server_takes_it() {
    let mut pair = Pair::default_pair();
    pair.connect();
    pair.drive_for(5_000);
    let Some(Event::SessionUp { session, .. }) = pair.session_up(Side::Client) else {
        panic!("client session did not come up: {:?}", pair.client_events);
    };
    let Some(Event::SessionUp {
        session: server_session,
        ..
    }) = pair.session_up(Side::Server)
    else {
        panic!("server session did not come up: {:?}", pair.server_events);
    };
    assert!(control_messages(&pair.client_tcp_log)
        .iter()
        .all(|(t, _)| *t != SLI));
    let server_in = pair
        .server
        .session(server_session)
        .unwrap()
        .tunnel
        .messages_in;

    let now = pair.instant();
    assert!(pair.client.set_link_info(now, session, 0, 0xffff_ffff));
    // A server is the PAC: RFC 2637 §2.15 has it receive SLI, not send it.
    assert!(!pair
        .server
        .set_link_info(now, server_session, 0, 0xffff_ffff));
    pair.drive_for(100);

    let sli: Vec<_> = control_messages(&pair.client_tcp_log)
        .into_iter()
        .filter(|(t, _)| *t == SLI)
        .collect();
    assert_eq!(sli.len(), 1, "one SLI on the wire");
    let m = &sli[0].1;
    assert_eq!(m.len(), 24, "SLI is 24 octets (RFC 2637 §2.15)");
    let (_, peer_call_id) = pair.client.session(session).unwrap().call_ids.unwrap();
    assert_eq!(u16::from_be_bytes([m[12], m[13]]), peer_call_id);
    assert_eq!(&m[16..20], &[0, 0, 0, 0], "send ACCM");
    assert_eq!(&m[20..24], &[0xff; 4], "receive ACCM");
    // The server took it and the session is still up on both sides.
    let view = pair.server.session(server_session).unwrap();
    assert_eq!(view.tunnel.messages_in, server_in + 1);
    assert!(!pair
        .server_events
        .iter()
        .chain(&pair.client_events)
        .any(|e| matches!(e, Event::SessionDown { .. })));
}

#[test]
fn set_link_info_without_a_call_is_refused() {
    let mut pair = Pair::default_pair();
    let now = pair.instant();
    let stale = pptp_core::endpoint::SessionHandle(0);
    assert!(!pair.client.set_link_info(now, stale, 0, 0));
    pair.connect();
    let session = pptp_core::endpoint::SessionHandle(pair.client_conn.unwrap().0);
    // Connected, but no call yet (the SCCRQ has not even gone out).
    assert!(!pair.client.set_link_info(now, session, 0, 0));
}
