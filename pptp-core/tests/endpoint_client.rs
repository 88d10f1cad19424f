//! The client endpoint as std hosts drive it: GRE read before the TCP
//! stream, and call IDs chosen by a host that runs many clients.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use pptp_core::endpoint::{Endpoint, Event};

/// The server's first LCP Configure-Request (GRE) reaches the client
/// before the Outgoing-Call-Reply (TCP) it follows: the client keeps it
/// and the session comes up without waiting for the server's LCP restart
/// timer (3 s, RFC 1661 §4.6).
#[test]
fn gre_before_the_call_reply_is_kept_and_replayed() {
    let mut pair = Pair::default_pair();
    pair.gre_before_tcp = true;
    pair.connect();
    pair.drive_until(1_000);
    assert!(
        pair.session_up(Side::Client).is_some() && pair.session_up(Side::Server).is_some(),
        "not up within 1 s: client {:?}\nserver {:?}",
        pair.client_events,
        pair.server_events
    );
    assert_eq!(pair.client.stats().gre_unknown_call, 0);
    // The data path works as usual afterwards.
    let Some(Event::SessionUp {
        address: Some(ours),
        peer_address: Some(theirs),
        ..
    }) = pair.session_up(Side::Client)
    else {
        panic!("no addresses: {:?}", pair.client_events);
    };
    let packet = Pair::ip_packet(ours, theirs, 100, 1);
    assert!(pair.client_send_ip(&packet));
    pair.drive_for(100);
    assert_eq!(pair.server_ip.last().map(|(_, p)| p), Some(&packet));
}

/// GRE for a call ID the client has not placed is still refused and
/// counted, before and after the call.
#[test]
fn gre_for_another_call_is_not_kept() {
    let mut pair = Pair::default_pair();
    pair.connect();
    let now = pair.instant();
    // Enhanced GRE (RFC 2637 §4.1), key present, call ID 7, no payload.
    let mut datagram = [0x20, 0x01, 0x88, 0x0b, 0, 0, 0, 7];
    assert!(pair
        .client
        .handle_gre(now, SERVER_ADDR, &mut datagram)
        .is_err());
    assert_eq!(pair.client.stats().gre_unknown_call, 1);
}

/// A host-chosen call ID goes into the Outgoing-Call-Request and names
/// the call in the server's GRE.
#[test]
fn client_uses_the_call_id_its_host_chose() {
    let mut config = client_config(PASSWORD);
    config.call.call_id = Some(4242);
    let server = Endpoint::server(
        server_config(),
        memory(8, 2, 2),
        TestRandom(1),
        Some(users()),
    )
    .unwrap();
    let client = Endpoint::client(config, memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut pair = Pair::new(server, client);
    pair.connect();
    pair.drive_for(2_000);
    let call = pair.client_events.iter().find_map(|e| match e {
        Event::CallUp { local_call_id, .. } => Some(*local_call_id),
        _ => None,
    });
    assert_eq!(call, Some(4242));
    assert!(pair.session_up(Side::Client).is_some());
    assert!(pair
        .server
        .sessions()
        .any(|s| s.call_ids.is_some_and(|(_, peer)| peer == 4242)));
}
