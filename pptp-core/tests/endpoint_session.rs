//! End-to-end sessions through the endpoint: a server and a client
//! `Endpoint` over the in-memory wire of `endpoint_support`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use ppp_core::link::EndReason;
use pptp_core::endpoint::{Event, SessionEnd};

/// Brings a session up and returns the server's view of its address.
fn establish(pair: &mut Pair) -> std::net::Ipv4Addr {
    pair.connect();
    pair.drive_for(5_000);
    let Some(Event::SessionUp { address, mppe, .. }) = pair.session_up(Side::Server) else {
        panic!(
            "server session did not come up: {:?}\nclient: {:?}\n{:?}",
            pair.server_events,
            pair.client_events,
            pair.server.stats()
        );
    };
    let mppe = mppe.expect("MPPE required");
    assert_eq!(mppe.send.strength, ppp_core::link::KeyStrength::Bits128);
    assert!(
        pair.session_up(Side::Client).is_some(),
        "{:?}",
        pair.client_events
    );
    address.expect("an address from the pool")
}

#[test]
fn session_comes_up_with_mschapv2_and_mppe128_and_carries_ip_both_ways() {
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    assert_eq!(peer, POOL.0);
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::Authenticated { user, .. } if user.as_slice() == USER
    )));
    for n in 0..20u8 {
        let down = Pair::ip_packet(TUNNEL_LOCAL, peer, 100 + n as usize * 50, n);
        assert!(pair.server_send_ip(&down));
        let up = Pair::ip_packet(peer, TUNNEL_LOCAL, 1000 - n as usize * 30, n);
        assert!(pair.client_send_ip(&up));
        pair.drive_for(50);
        assert_eq!(
            pair.client_ip.last(),
            Some(&down),
            "packet {n} to the client"
        );
        assert_eq!(
            pair.server_ip.last().map(|p| &p.1),
            Some(&up),
            "packet {n} to the server"
        );
    }
    assert_eq!(pair.client_ip.len(), 20);
    assert_eq!(pair.server_ip.len(), 20);
    assert_eq!(pair.server.stats().sessions_established, 1);
    assert_eq!(pair.server.active_sessions(), 1);
}

#[test]
fn quiet_server_session_parks_and_keeps_working() {
    let mut pair = Pair::default_pair();
    let peer = establish(&mut pair);
    // Idle for longer than the parking policy's 10 s.
    pair.drive_for(15_000);
    let view = pair.server.sessions().next().expect("one session");
    assert!(view.link_parked, "link parked after 10 s idle");
    assert!(view.tunnel_parked, "control connection parked");
    let parks = pair.server.stats().parks;
    assert!(parks >= 2);
    // Data still flows, parked.
    let down = Pair::ip_packet(TUNNEL_LOCAL, peer, 300, 7);
    assert!(pair.server_send_ip(&down));
    let up = Pair::ip_packet(peer, TUNNEL_LOCAL, 500, 9);
    assert!(pair.client_send_ip(&up));
    pair.drive_for(100);
    assert_eq!(pair.client_ip.last(), Some(&down));
    assert_eq!(pair.server_ip.last().map(|p| &p.1), Some(&up));
    // Keepalives for two minutes (LCP and PPTP echo answered parked).
    pair.drive_for(120_000);
    assert!(pair.server.sessions().next().is_some(), "still up");
    assert!(!pair
        .server_events
        .iter()
        .any(|e| matches!(e, Event::SessionDown { .. })));
}

#[test]
fn client_hangs_up_and_both_sides_free_everything() {
    let mut pair = Pair::default_pair();
    establish(&mut pair);
    pair.drive_for(15_000); // parked on the server
    let session = pair.client.sessions().next().unwrap().session;
    let now = pair.instant();
    assert!(pair.client.close_session(now, session));
    pair.drive_for(10_000);
    assert!(
        pair.client_events.iter().any(|e| matches!(
            e,
            Event::SessionDown {
                reason: SessionEnd::Link(EndReason::AdminClose),
                ..
            }
        )),
        "{:?}",
        pair.client_events
    );
    assert!(pair
        .server_events
        .iter()
        .any(|e| matches!(e, Event::SessionDown { .. })));
    assert!(
        pair.closed[0] && pair.closed[1],
        "both TCP connections closed"
    );
    assert!(pair.server.is_idle() && pair.client.is_idle());
    assert_eq!(pair.server.active_sessions(), 0);
    assert_eq!(pair.server.pool().unwrap().allocated(), 0);
}

#[test]
fn wrong_password_ends_with_windows_error_691() {
    let server = pptp_core::endpoint::Endpoint::server(
        server_config(),
        memory(4, 2, 2),
        TestRandom(1),
        Some(users()),
    )
    .unwrap();
    let client = pptp_core::endpoint::Endpoint::client(
        client_config(b"wrong"),
        memory(1, 1, 1),
        TestRandom(2),
    )
    .unwrap();
    let mut pair = Pair::new(server, client);
    pair.connect();
    pair.drive_for(10_000);
    let down = pair
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::SessionDown { reason, .. } => Some(reason.clone()),
            _ => None,
        })
        .expect("session down");
    assert_eq!(down.windows_error(), Some(691), "{down:?}");
    assert!(pair.server.is_idle() || pair.server.active_sessions() == 0);
}

#[test]
fn server_clear_all_terminates_the_client() {
    let mut pair = Pair::default_pair();
    establish(&mut pair);
    let now = pair.instant();
    pair.server.close_all(now);
    pair.drive_for(10_000);
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, Event::SessionDown { .. })));
    assert!(pair.server.is_idle(), "{:?}", pair.server_events);
    // Accepts nothing after close_all.
    assert!(pair.server.accept(pair.instant(), CLIENT_ADDR).is_err());
}

#[test]
fn parked_session_size_stays_under_two_kib() {
    let slot = core::mem::size_of::<pptp_core::endpoint::Slot>();
    let control = core::mem::size_of::<pptp_core::endpoint::ControlEngine>();
    let link = core::mem::size_of::<pptp_core::endpoint::LinkEngine>();
    println!("Slot {slot} B, ControlEngine {control} B, LinkEngine {link} B");
    // 2 KiB per parked session (issues 6 and #15), MTU counters (#14
    // item 5), per-source chain and login state included.
    assert!(slot <= 2048, "a parked session is {slot} B");
}

#[test]
fn beyond_max_sessions_the_sccrq_gets_result_2_error_4_and_the_slot_comes_back() {
    use pptp_core::control::TunnelDownReason;
    use pptp_core::endpoint::{Destination, Endpoint};
    use pptp_core::wire::control::{GeneralError, StartControlResult};
    let mut config = server_config();
    config.max_sessions = 1;
    let server = Endpoint::server(config, memory(4, 2, 2), TestRandom(1), Some(users())).unwrap();
    let client = Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut pair = Pair::new(server, client);
    establish(&mut pair);
    // A second client while the first holds the only session.
    let mut second =
        Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(3)).unwrap();
    let now = pair.instant();
    let other = std::net::Ipv4Addr::new(198, 51, 100, 8);
    let s_conn = pair
        .server
        .accept(now, other)
        .expect("taken, to be refused");
    let c_conn = second.connect(now, SERVER_ADDR).unwrap();
    let mut buf = vec![0u8; 4096];
    let mut closed = false;
    for _ in 0..10 {
        while let Some(t) = second.poll_transmit(now, &mut buf) {
            if let Destination::Tcp(_) = t.to {
                let _ = pair.server.handle_tcp(now, s_conn, &buf[..t.len]);
            }
        }
        while let Some(t) = pair.server.poll_transmit(now, &mut buf) {
            if t.to == Destination::Tcp(s_conn) {
                let _ = second.handle_tcp(now, c_conn, &buf[..t.len]);
            }
        }
        while let Some(e) = pair.server.poll_event() {
            if e == (Event::ConnectionClosed { connection: s_conn }) {
                closed = true;
            }
        }
    }
    assert!(closed, "the refused connection is closed after the reply");
    let events: Vec<Event> = std::iter::from_fn(|| second.poll_event()).collect();
    let down = events
        .into_iter()
        .find_map(|e| match e {
            Event::SessionDown { reason, .. } => Some(reason),
            _ => None,
        })
        .unwrap_or_else(|| panic!("the second client learns why: {:?}", pair.server.stats()));
    assert_eq!(
        down,
        SessionEnd::Tunnel(TunnelDownReason::PeerRefused {
            result: StartControlResult::GeneralError,
            error: GeneralError::NoResource,
        })
    );
    assert_eq!(pair.server.stats().refusals_answered, 1);
    assert_eq!(
        pair.server.active_sessions(),
        1,
        "the first session is untouched"
    );
    assert_eq!(pair.server.sessions().count(), 1);
}

#[test]
fn a_server_that_never_parks_runs_sessions_too() {
    let mut config = server_config();
    config.parking = None;
    let server = pptp_core::endpoint::Endpoint::server(
        config,
        memory(8, 2, 2),
        TestRandom(1),
        Some(users()),
    )
    .unwrap();
    let client = pptp_core::endpoint::Endpoint::client(
        client_config(PASSWORD),
        memory(1, 1, 1),
        TestRandom(2),
    )
    .unwrap();
    let mut pair = Pair::new(server, client);
    establish(&mut pair);
    pair.drive_for(20_000);
    assert!(!pair.server.sessions().next().unwrap().link_parked);
}

#[test]
fn external_aaa_address_outside_the_pool_is_the_sessions_route() {
    use ppp_core::auth::{Verdict, Verifier};
    // No local verifier: logins come out as AuthRequest events.
    let server = pptp_core::endpoint::Endpoint::server(
        server_config(),
        memory(4, 2, 2),
        TestRandom(1),
        None::<ppp_core::auth::CredentialStore<8>>,
    )
    .unwrap();
    let client = pptp_core::endpoint::Endpoint::client(
        client_config(PASSWORD),
        memory(1, 1, 1),
        TestRandom(2),
    )
    .unwrap();
    let mut pair = Pair::new(server, client);
    pair.connect();
    pair.drive_for(200);
    let session = pair
        .server_events
        .iter()
        .find_map(|e| match e {
            Event::AuthRequest { session } => Some(*session),
            _ => None,
        })
        .expect("an AAA request");
    let request = pair.server.take_auth_request(session).expect("the request");
    // The "AAA server": the right password, and Framed-IP-Address
    // 198.18.0.5, outside the pool (RFC 2865 §5.8).
    let framed = std::net::Ipv4Addr::new(198, 18, 0, 5);
    let mut verdict = users().decide(&request);
    match &mut verdict {
        Verdict::Accept(a) => a.attributes.address = Some(framed),
        Verdict::Reject(_) => panic!("rejected"),
    }
    let now = pair.instant();
    assert!(pair.server.auth_verdict(now, session, verdict));
    pair.drive_for(5_000);
    let Some(Event::SessionUp { address, .. }) = pair.session_up(Side::Server) else {
        panic!("no session: {:?}", pair.server_events);
    };
    assert_eq!(address, Some(framed));
    assert!(pair.server.address_in_use(framed));
    assert_eq!(
        pair.server.pool().unwrap().allocated(),
        0,
        "the pool is untouched"
    );
    // IP for that address goes to the session.
    let down = Pair::ip_packet(TUNNEL_LOCAL, framed, 300, 1);
    assert!(pair.server_send_ip(&down), "routed to the session");
    pair.drive_for(100);
    assert_eq!(pair.client_ip.last(), Some(&down));
    // Hang-up frees the route.
    let s = pair.client.sessions().next().unwrap().session;
    let now = pair.instant();
    pair.client.close_session(now, s);
    pair.drive_for(10_000);
    assert!(!pair.server.address_in_use(framed));
}

/// Issue #14 item 7: a `CORP\alice` login. Under "on-miss"
/// (`DomainRule::ExactThenStripped`, the store holding only `alice`) the
/// Authenticated event and the session view carry the entry that matched,
/// `alice`, beside the name as sent. Under "never" (`DomainRule::Exact`)
/// only a `CORP\alice` entry lets it in, and nothing differs to report.
#[test]
fn authenticated_event_and_view_name_the_store_entry_a_domain_login_matched() {
    use ppp_core::auth::{CredentialStore, DomainRule};
    use ppp_core::link::{Credentials, LinkConfig};
    use pptp_core::endpoint::{ClientConfig, Endpoint};
    const SENT: &[u8] = b"CORP\\alice";
    for (rule, entry, matched) in [
        (DomainRule::ExactThenStripped, USER, Some(USER)),
        (DomainRule::Exact, SENT, None),
    ] {
        let mut users = CredentialStore::<8>::new(rule);
        users.insert_password(entry, PASSWORD).unwrap();
        let server =
            Endpoint::server(server_config(), memory(8, 2, 2), TestRandom(1), Some(users)).unwrap();
        let credentials = Credentials::password(SENT, PASSWORD).unwrap();
        let client_config = ClientConfig::new(LinkConfig::client(credentials));
        let client = Endpoint::client(client_config, memory(1, 1, 1), TestRandom(2)).unwrap();
        let mut pair = Pair::new(server, client);
        establish(&mut pair);
        let event = pair.server_events.iter().find_map(|e| match e {
            Event::Authenticated { user, matched, .. } => Some((user.clone(), matched.clone())),
            _ => None,
        });
        let (user, got) = event.expect("Authenticated");
        assert_eq!(user.as_slice(), SENT, "{rule:?}");
        assert_eq!(got.as_deref(), matched, "{rule:?}");
        let view = pair.server.sessions().next().expect("a session");
        assert_eq!(view.user, SENT, "{rule:?}");
        assert_eq!(view.matched_user, matched, "{rule:?}");
        // The client reports no store entry.
        assert!(pair.client_events.iter().any(
            |e| matches!(e, Event::Authenticated { user, matched: None, .. } if user.as_slice() == SENT)
        ));
    }
}
