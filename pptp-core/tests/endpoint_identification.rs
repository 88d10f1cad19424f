//! LCP Identification (RFC 1570 §1.1) through the endpoint: a client that
//! identifies itself as Windows does ("MSRASV5.20" when LCP opens) is
//! surfaced to the server's host as [`Event::PeerIdentification`]; nothing
//! is sent by default.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod endpoint_support;

use endpoint_support::*;
use ppp_core::lcp::Message;
use pptp_core::endpoint::{Endpoint, Event};

fn identifications(events: &[Event]) -> Vec<Vec<u8>> {
    events
        .iter()
        .filter_map(|e| match e {
            Event::PeerIdentification { message, .. } => Some(message.to_vec()),
            _ => None,
        })
        .collect()
}

#[test]
fn a_windows_style_identification_reaches_the_servers_host() {
    let server = Endpoint::server(
        server_config(),
        memory(8, 2, 2),
        TestRandom(1),
        Some(users()),
    )
    .unwrap();
    let mut config = client_config(PASSWORD);
    config.link.lcp.identification = Some(Message::from_slice(b"MSRASV5.20").unwrap());
    let client = Endpoint::client(config, memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut pair = Pair::new(server, client);
    pair.connect();
    pair.drive_for(2_000);
    let up = pair.session_up(Side::Server).expect("session up");
    let Event::SessionUp { session, .. } = up else {
        unreachable!()
    };
    assert_eq!(
        identifications(&pair.server_events),
        [b"MSRASV5.20".to_vec()]
    );
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::PeerIdentification { session: s, .. } if *s == session
    )));
    // The server sends none (off by default), and the session is up.
    assert!(identifications(&pair.client_events).is_empty());
    assert!(pair.session_up(Side::Client).is_some());
}

#[test]
fn no_identification_by_default() {
    let mut pair = Pair::default_pair();
    pair.connect();
    pair.drive_for(2_000);
    assert!(pair.session_up(Side::Server).is_some());
    assert!(identifications(&pair.server_events).is_empty());
}
