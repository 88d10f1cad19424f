//! Re-authentication through the endpoint (RFC 1994 §3): the host asks
//! for it ([`Endpoint::reauthenticate`]) or the link's periodic
//! re-challenge does; the Challenge's Identifier and value come from the
//! endpoint's random source; the session and its data go on, or end when
//! the peer fails.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use ppp_core::auth::{CredentialStore, DomainRule, FailureReason, Verifier};
use ppp_core::link::EndReason;
use pptp_core::endpoint::{Endpoint, Event, SessionEnd, SessionHandle};
use pptp_core::time::Duration;
use pptp_core::wire::gre::GrePacket;

/// `(identifier, value)` of every CHAP packet of `code` in `gre_log`
/// (1: Challenge, 2: Response).
fn chap_values(gre_log: &[Vec<u8>], code: u8) -> Vec<(u8, Vec<u8>)> {
    gre_log
        .iter()
        .filter_map(|d| {
            let packet = GrePacket::new_checked(&d[..]).ok()?;
            let ppp = packet.payload();
            let ppp = ppp.strip_prefix(&[0xff, 0x03]).unwrap_or(ppp);
            let info = ppp.strip_prefix(&[0xc2, 0x23])?;
            (info[0] == code).then(|| (info[1], info[5..5 + info[4] as usize].to_vec()))
        })
        .collect()
}

fn chap_challenges(gre_log: &[Vec<u8>]) -> Vec<(u8, Vec<u8>)> {
    chap_values(gre_log, 1)
}

fn server_session(pair: &Pair) -> SessionHandle {
    match pair.session_up(Side::Server) {
        Some(Event::SessionUp { session, .. }) => session,
        other => panic!("no session: {other:?}"),
    }
}

fn count(events: &[Event], wanted: fn(&Event) -> bool) -> usize {
    events.iter().filter(|e| wanted(e)).count()
}

/// IP both ways through the tunnel; panics unless each side's host got
/// the other's packet.
fn data_flows(pair: &mut Pair, seed: u8) {
    let (client_addr, server_addr) = match pair.session_up(Side::Client) {
        Some(Event::SessionUp {
            address,
            peer_address,
            ..
        }) => (address.unwrap(), peer_address.unwrap()),
        other => panic!("client not up: {other:?}"),
    };
    let up = Pair::ip_packet(client_addr, server_addr, 300, seed);
    let down = Pair::ip_packet(server_addr, client_addr, 300, seed.wrapping_add(1));
    let (server_got, client_got) = (pair.server_ip.len(), pair.client_ip.len());
    assert!(pair.client_send_ip(&up));
    assert!(pair.server_send_ip(&down));
    pair.drive_for(100);
    assert_eq!(pair.server_ip[server_got..].last().map(|p| &p.1), Some(&up));
    assert_eq!(pair.client_ip[client_got..].last(), Some(&down));
}

fn established() -> (Pair, SessionHandle) {
    let mut pair = Pair::default_pair();
    pair.connect();
    pair.drive_for(2_000);
    let session = server_session(&pair);
    (pair, session)
}

#[test]
fn reauthentication_takes_a_fresh_identifier_and_the_session_goes_on() {
    let (mut pair, session) = established();
    data_flows(&mut pair, 1);
    let first = chap_challenges(&pair.server_gre_log);
    assert_eq!(first.len(), 1);
    let now = pair.instant();
    assert!(pair.server.reauthenticate(now, session));
    pair.drive_for(1_000);
    let all = chap_challenges(&pair.server_gre_log);
    assert_eq!(all.len(), 2, "one new Challenge");
    assert_ne!(all[0].0, all[1].0, "RFC 1994 §4.1: a new Identifier");
    assert_ne!(all[0].1, all[1].1, "and a new challenge value");
    assert_eq!(
        count(&pair.server_events, |e| matches!(
            e,
            Event::Reauthenticated { .. }
        )),
        1,
        "{:?}",
        pair.server_events
    );
    assert_eq!(
        count(&pair.server_events, |e| matches!(
            e,
            Event::SessionDown { .. }
        )),
        0
    );
    // The client answered with a new MS-CHAPv2 Peer-Challenge (RFC 2759
    // §4), the first 16 octets of the Response's value.
    let responses = chap_values(&pair.client_gre_log, 2);
    assert_eq!(responses.len(), 2);
    assert_eq!(responses[1].0, all[1].0);
    assert_ne!(responses[0].1[..16], responses[1].1[..16]);
    data_flows(&mut pair, 3);
}

#[test]
fn the_identifiers_come_from_the_endpoints_random_source() {
    // The same pair with another random seed: the Identifiers follow it
    // (with a constant Identifier they would not move).
    let identifiers = |seed: u64| {
        let server = Endpoint::server(
            server_config(),
            memory(8, 2, 2),
            TestRandom(seed),
            Some(users()),
        )
        .unwrap();
        let client =
            Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(2)).unwrap();
        let mut pair = Pair::new(server, client);
        pair.connect();
        pair.drive_for(2_000);
        let session = server_session(&pair);
        let now = pair.instant();
        assert!(pair.server.reauthenticate(now, session));
        pair.drive_for(1_000);
        chap_challenges(&pair.server_gre_log)
            .iter()
            .map(|c| c.0)
            .collect::<Vec<_>>()
    };
    let runs: Vec<Vec<u8>> = (1..=4).map(identifiers).collect();
    assert!(runs.iter().all(|ids| ids.len() == 2));
    // The first Challenge and the re-authentication alike.
    for n in 0..2 {
        assert!(
            runs.windows(2).any(|w| w[0][n] != w[1][n]),
            "Challenge {n}: Identifiers independent of the seed: {runs:?}"
        );
    }
}

#[test]
fn a_parked_session_is_reauthenticated_too() {
    let (mut pair, session) = established();
    // Quiet long enough to park (Parking::idle_before_park, 10 s).
    pair.drive_for(15_000);
    assert!(pair.server.session(session).unwrap().link_parked);
    let now = pair.instant();
    assert!(pair.server.reauthenticate(now, session));
    pair.drive_for(1_000);
    assert_eq!(
        count(&pair.server_events, |e| matches!(
            e,
            Event::Reauthenticated { .. }
        )),
        1
    );
    data_flows(&mut pair, 5);
}

#[test]
fn periodic_rechallenge_runs_through_the_endpoint() {
    let mut config = server_config();
    config.link.authenticator.rechallenge_interval = Some(Duration::from_secs(30));
    let server = Endpoint::server(config, memory(8, 2, 2), TestRandom(1), Some(users())).unwrap();
    let client = Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut pair = Pair::new(server, client);
    pair.connect();
    pair.drive_for(65_000);
    let challenges = chap_challenges(&pair.server_gre_log);
    assert_eq!(challenges.len(), 3, "the first and two re-challenges");
    // Random Identifiers from the endpoint's source, not the previous
    // one plus one (with this seed none happens to follow its predecessor).
    assert_ne!(challenges[0].0.wrapping_add(1), challenges[1].0);
    assert_ne!(challenges[1].0.wrapping_add(1), challenges[2].0);
    assert_ne!(challenges[0].0, challenges[1].0);
    assert_ne!(challenges[1].0, challenges[2].0);
    assert_eq!(
        count(&pair.server_events, |e| matches!(
            e,
            Event::Reauthenticated { .. }
        )),
        2
    );
    data_flows(&mut pair, 7);
}

/// External AAA: the test is the AAA server, answering each request with
/// `store`.
fn answer_requests(pair: &mut Pair, answered: &mut usize, store: &CredentialStore<8>) {
    let requests: Vec<SessionHandle> = pair.server_events[*answered..]
        .iter()
        .filter_map(|e| match e {
            Event::AuthRequest { session } => Some(*session),
            _ => None,
        })
        .collect();
    *answered = pair.server_events.len();
    let now = pair.instant();
    for session in requests {
        let request = pair.server.take_auth_request(session).unwrap();
        assert!(pair
            .server
            .auth_verdict(now, session, store.decide(&request)));
    }
}

fn drive_answering(pair: &mut Pair, ms: u64, answered: &mut usize, store: &CredentialStore<8>) {
    let until = pair.now + ms;
    while pair.step(until) {
        pair.flush();
        answer_requests(pair, answered, store);
    }
    pair.flush();
    answer_requests(pair, answered, store);
    pair.now = pair.now.max(until);
}

#[test]
fn a_failed_reauthentication_ends_the_session() {
    let server = Endpoint::server(server_config(), memory(8, 2, 2), TestRandom(1), None).unwrap();
    let client = Endpoint::client(client_config(PASSWORD), memory(1, 1, 1), TestRandom(2)).unwrap();
    let mut pair = Pair::new(server, client);
    let mut answered = 0;
    pair.connect();
    drive_answering(&mut pair, 2_000, &mut answered, &users());
    let session = server_session(&pair);
    data_flows(&mut pair, 1);
    // The AAA server has a new password for the user now.
    let mut changed = CredentialStore::new(DomainRule::default());
    changed.insert_password(USER, b"not the password").unwrap();
    let now = pair.instant();
    assert!(pair.server.reauthenticate(now, session));
    drive_answering(&mut pair, 10_000, &mut answered, &changed);
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        Event::AuthFailed {
            reason: FailureReason::WrongPassword,
            ..
        }
    )));
    let down = pair.server_events.iter().find_map(|e| match e {
        Event::SessionDown { reason, .. } => Some(reason.clone()),
        _ => None,
    });
    assert_eq!(
        down,
        Some(SessionEnd::Link(EndReason::AuthFailed(
            FailureReason::WrongPassword
        )))
    );
    assert!(
        pair.session_up(Side::Client).is_some()
            && pair
                .client_events
                .iter()
                .any(|e| matches!(e, Event::SessionDown { .. })),
        "the client's session ends too"
    );
}

#[test]
fn reauthenticate_is_refused_where_it_makes_no_sense() {
    let (mut pair, session) = established();
    let now = pair.instant();
    // The client authenticates nobody.
    let client_session = match pair.session_up(Side::Client) {
        Some(Event::SessionUp { session, .. }) => session,
        _ => unreachable!(),
    };
    assert!(!pair.client.reauthenticate(now, client_session));
    // One exchange at a time.
    assert!(pair.server.reauthenticate(now, session));
    assert!(!pair.server.reauthenticate(now, session));
    // A session that is gone.
    pair.drive_for(1_000);
    assert!(pair.server.close_session(pair.instant(), session));
    pair.drive_for(5_000);
    assert!(!pair.server.reauthenticate(pair.instant(), session));
}
