//! Bad-input catalogue (issue 6), link level: renegotiation storms and
//! LCP echo floods against an established server [`Link`], through the
//! same in-memory wire as the other link tests.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod link_support;

use link_support::*;
use ppp_core::link::{LinkEvent, Phase, EVENT_DEPTH};
use ppp_core::time::Duration;

/// The client's LCP Configure-Request (magic 0x55667788) as a frame.
fn client_lcp_request(id: u8) -> Vec<u8> {
    vec![
        0xff, 0x03, 0xc0, 0x21, 1, id, 0, 10, 5, 6, 0x55, 0x66, 0x77, 0x88,
    ]
}

#[test]
fn renegotiation_storm_each_round_is_bounded_and_the_link_recovers() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    const ROUNDS: usize = 60; // more than the 50 addresses of the pool
    for round in 0..ROUNDS {
        let now = pair.now;
        let wire_before = pair.wire.len();
        let auth_before = pair
            .server_events
            .iter()
            .filter(|e| matches!(e, LinkEvent::Authenticated { .. }))
            .count();
        let mut f = client_lcp_request(0x80u8.wrapping_add(round as u8));
        pair.server.handle_frame(now, &mut f).unwrap();
        assert_eq!(pair.server.phase(), Phase::Establish);
        assert!(
            pair.run_until(Duration::from_secs(60), |p| p.server.is_data_ready()
                && p.client.is_data_ready()),
            "round {round}: link did not recover: {:?}",
            pair.server
        );
        let frames = pair.wire.len() - wire_before;
        // LCP, MS-CHAPv2, CCP and IPCP each way: a bounded exchange.
        assert!(frames <= 40, "round {round}: {frames} frames");
        let auth_after = pair
            .server_events
            .iter()
            .filter(|e| matches!(e, LinkEvent::Authenticated { .. }))
            .count();
        assert_eq!(auth_after, auth_before + 1, "round {round}");
    }
    assert_eq!(pair.server.end_reason(), None);
    exchange_round_trip(&mut pair);
}

fn exchange_round_trip(pair: &mut Pair) {
    let ip = ip_packet(100, 7);
    let (_, got) = pair.client_to_server(&ip);
    assert_eq!(got.unwrap(), ip);
    let (_, got) = pair.server_to_client(&ip);
    assert_eq!(got.unwrap(), ip);
}

#[test]
fn renegotiation_burst_without_draining_keeps_queues_bounded() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    for i in 0..5_000u32 {
        let mut f = client_lcp_request(i as u8);
        pair.server.handle_frame(now, &mut f).unwrap();
    }
    // Nothing grew: the server holds at most a few control packets and
    // EVENT_DEPTH events.
    let mut buf = [0u8; 1600];
    let mut queued = 0;
    while let Some(t) = pair.server.poll_transmit(now, &mut buf) {
        assert!(t.len <= buf.len());
        queued += 1;
        assert!(queued <= 16, "outbound grew");
    }
    let mut events = 0;
    while pair.server.poll_event().is_some() {
        events += 1;
    }
    assert!(events <= EVENT_DEPTH);
    // The storm stops: the link converges again.
    assert!(
        pair.run_until(Duration::from_secs(60), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    exchange_round_trip(&mut pair);
}

#[test]
fn lcp_echo_flood_on_an_established_link_is_bounded() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    let echo = [
        0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 12, 0x55, 0x66, 0x77, 0x88, 1, 2, 3, 4,
    ];
    for _ in 0..10_000 {
        let mut f = echo;
        pair.server.handle_frame(now, &mut f).unwrap();
    }
    let mut buf = [0u8; 1600];
    let mut replies = 0;
    while let Some(t) = pair.server.poll_transmit(now, &mut buf) {
        assert_eq!(&buf[..4], &[0xff, 0x03, 0xc0, 0x21]);
        assert_eq!(buf[4], 10, "Echo-Reply");
        assert!(t.len <= buf.len());
        replies += 1;
    }
    assert_eq!(replies, ppp_core::fsm::OUTBOX_DEPTH);
    assert_eq!(
        u64::from(pair.server.lcp().fsm().dropped_packets()),
        10_000 - ppp_core::fsm::OUTBOX_DEPTH as u64
    );
    assert!(pair.server.is_data_ready());
    exchange_round_trip(&mut pair);
}
