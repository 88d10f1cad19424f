//! CHAP Identifiers from the host's randomness and re-authentication in
//! the Network phase (RFC 1994 §3, §4.1): a new Challenge with a new
//! Identifier, answered by the client while IP keeps flowing; a stale
//! Response ignored; a failed re-authentication ends the link.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod link_support;

use link_support::*;
use ppp_core::auth::{FailureReason, Method, SetupError};
use ppp_core::link::{EndReason, Entropy, Error, Link, LinkEvent};
use ppp_core::time::Duration;

const CHAP: u16 = 0xc223;

/// The server's randomness in these tests: a recognisable Identifier.
const SERVER_ENTROPY: Entropy = Entropy {
    magic: 0x1122_3344,
    challenge: [0x5b; 16],
    identifier: 0xa7,
};

fn pair_with(method: Method) -> Pair {
    let mut server = server_config();
    server.lcp = server.lcp.with_auth_required(&[method]);
    let mut pair = Pair::new(server.clone(), client_config(PASSWORD));
    pair.server = Link::new(server, SERVER_ENTROPY);
    pair
}

/// `(identifier, value)` of every CHAP Challenge the server sent.
fn challenges(pair: &Pair) -> Vec<(u8, Vec<u8>)> {
    pair.wire
        .iter()
        .filter(|(dir, f)| *dir == Dir::ToClient && frame_protocol(f) == CHAP)
        .map(|(_, f)| frame_info(f))
        .filter(|info| info[0] == 1)
        .map(|info| (info[1], info[5..5 + info[4] as usize].to_vec()))
        .collect()
}

/// Every CHAP Response the client sent, whole frames.
fn responses(pair: &Pair) -> Vec<Vec<u8>> {
    pair.wire
        .iter()
        .filter(|(dir, f)| *dir == Dir::ToServer && frame_protocol(f) == CHAP)
        .filter(|(_, f)| frame_info(f)[0] == 2)
        .map(|(_, f)| f.clone())
        .collect()
}

fn count(events: &[LinkEvent], wanted: fn(&LinkEvent) -> bool) -> usize {
    events.iter().filter(|e| wanted(e)).count()
}

/// IP both ways, through MPPE (the keys of the first authentication).
fn data_flows(pair: &mut Pair, seed: u8) {
    for len in [20usize, 576, 1400] {
        let ip = ip_packet(len, seed);
        assert_eq!(pair.client_to_server(&ip).1.unwrap(), ip);
        assert_eq!(pair.server_to_client(&ip).1.unwrap(), ip);
    }
}

#[test]
fn the_first_challenge_takes_the_hosts_identifier() {
    let mut pair = pair_with(Method::MsChapV2);
    pair.establish();
    assert_eq!(challenges(&pair), [(0xa7, vec![0x5b; 16])]);
    let response = &responses(&pair)[0];
    assert_eq!(frame_info(response)[1], 0xa7, "the Response echoes it");
}

#[test]
fn reauthentication_sends_a_new_challenge_and_data_keeps_flowing() {
    for method in [Method::MsChapV2, Method::MsChapV1, Method::ChapMd5] {
        let mut pair = pair_with(method);
        pair.establish();
        data_flows(&mut pair, 1);
        let mppe_before = pair.server.mppe_info();
        let now = pair.now;
        let fresh = Entropy {
            magic: 0,
            challenge: [0xc4; 16],
            identifier: 0x3d,
        };
        pair.server.reauthenticate(now, fresh).unwrap();
        // IP flows while the new Challenge is outstanding.
        data_flows(&mut pair, 2);
        pair.pump();
        let len = method.challenge_len().unwrap_or(16);
        assert_eq!(
            challenges(&pair),
            [(0xa7, vec![0x5b; len]), (0x3d, vec![0xc4; len])],
            "{method}: a new Identifier and challenge, from the host"
        );
        let answers = responses(&pair);
        assert_eq!(answers.len(), 2, "{method}: the client answered again");
        assert_eq!(frame_info(&answers[1])[1], 0x3d);
        assert_ne!(frame_info(&answers[0]), frame_info(&answers[1]));
        assert_eq!(
            count(&pair.server_events, |e| matches!(
                e,
                LinkEvent::Reauthenticated { .. }
            )),
            1,
            "{method}: {:?}",
            pair.server_events
        );
        assert_eq!(
            count(&pair.server_events, |e| matches!(
                e,
                LinkEvent::Authenticated { .. }
            )),
            1,
            "{method}: the first login is reported once"
        );
        assert!(pair.server.is_data_ready() && pair.client.is_data_ready());
        assert_eq!(pair.server.mppe_info(), mppe_before);
        // RFC 3079: the keys are the first authentication's; packets the
        // client encrypts still decrypt.
        data_flows(&mut pair, 3);
        assert!(pair.server.end_reason().is_none());
        // Finished again: the link may park.
        assert!(pair.server.is_parkable(), "{method}");
    }
}

#[test]
fn a_repeated_random_identifier_still_changes() {
    let mut pair = pair_with(Method::MsChapV2);
    pair.establish();
    let now = pair.now;
    let same = Entropy {
        identifier: 0xa7,
        ..SERVER_ENTROPY
    };
    pair.server.reauthenticate(now, same).unwrap();
    pair.pump();
    let ids: Vec<u8> = challenges(&pair).iter().map(|c| c.0).collect();
    assert_eq!(
        ids,
        [0xa7, 0xa8],
        "RFC 1994 §4.1: a new Challenge, a new Identifier"
    );
    assert!(pair.server.is_data_ready());
}

#[test]
fn a_response_with_a_stale_identifier_is_ignored_and_counted() {
    let mut pair = pair_with(Method::MsChapV2);
    pair.establish();
    let old_response = responses(&pair)[0].clone();
    let now = pair.now;
    pair.server
        .reauthenticate(
            now,
            Entropy {
                magic: 0,
                challenge: [0x11; 16],
                identifier: 0x20,
            },
        )
        .unwrap();
    // The first Response again (a duplicate from the first login, or a
    // replay): its Identifier is not the new Challenge's.
    let dropped = pair.server.counters().dropped_control;
    let mut frame = old_response;
    let result = pair.server.handle_frame_with(now, &mut frame, &pair.store);
    assert_eq!(result, Err(Error::StaleResponse { identifier: 0xa7 }));
    // A genuine peer's late frame: GRE below keeps its sequence state.
    assert!(!result.unwrap_err().is_garbage());
    assert_eq!(pair.server.counters().dropped_control, dropped + 1);
    pair.pump();
    assert!(pair.server.end_reason().is_none());
    assert_eq!(
        count(&pair.server_events, |e| matches!(
            e,
            LinkEvent::Reauthenticated { .. }
        )),
        1,
        "the real Response still counts: {:?}",
        pair.server_events
    );
}

#[test]
fn a_failed_reauthentication_ends_the_link() {
    for method in [Method::MsChapV2, Method::MsChapV1, Method::ChapMd5] {
        let mut pair = pair_with(method);
        pair.establish();
        // The user's password changed on the server since the login.
        pair.store.remove(USER);
        pair.store.insert_password(USER, b"changed").unwrap();
        let now = pair.now;
        pair.server
            .reauthenticate(
                now,
                Entropy {
                    magic: 0,
                    challenge: [0x42; 16],
                    identifier: 9,
                },
            )
            .unwrap();
        pair.run_until_down();
        let failed = EndReason::AuthFailed(FailureReason::WrongPassword);
        assert_eq!(pair.server_down(), Some(failed), "{method}");
        assert!(pair.server_events.iter().any(|e| matches!(
            e,
            LinkEvent::AuthFailed {
                reason: FailureReason::WrongPassword,
                ..
            }
        )));
        assert!(
            pair.client_down().is_some(),
            "{method}: the client goes too"
        );
    }
}

#[test]
fn periodic_rechallenge_takes_the_hosts_identifier() {
    let mut server = server_config();
    server.authenticator.rechallenge_interval = Some(Duration::from_secs(60));
    let mut pair = Pair::new(server.clone(), client_config(PASSWORD));
    pair.server = Link::new(server, SERVER_ENTROPY);
    pair.establish();
    let start = pair.now;
    pair.run_until(Duration::from_secs(61), |p| {
        count(&p.server_events, |e| {
            matches!(e, LinkEvent::Reauthenticated { .. })
        }) == 1
    });
    assert!(pair.now >= start + Duration::from_secs(60));
    assert_eq!(
        challenges(&pair),
        [(0xa7, vec![0x5b; 16]), (0x9e, vec![0x6c; 16])],
        "the Pair's host answers ChallengeNeeded with REAUTH_ENTROPY"
    );
    data_flows(&mut pair, 4);
}

#[test]
fn reauthentication_is_refused_when_there_is_nothing_to_reauthenticate() {
    let fresh = Entropy {
        identifier: 5,
        ..SERVER_ENTROPY
    };
    // Before the Network phase.
    let mut pair = pair_with(Method::MsChapV2);
    let now = pair.now;
    assert_eq!(
        pair.server.reauthenticate(now, fresh),
        Err(SetupError::NotWaiting)
    );
    pair.establish();
    // The client authenticates nobody.
    assert_eq!(
        pair.client.reauthenticate(now, fresh),
        Err(SetupError::NotWaiting)
    );
    // One exchange at a time.
    pair.server.reauthenticate(now, fresh).unwrap();
    assert_eq!(
        pair.server.reauthenticate(now, fresh),
        Err(SetupError::NotWaiting)
    );
    // PAP: RFC 1334 leaves the request to the peer.
    let mut pap = pair_with(Method::Pap);
    pap.establish();
    let now = pap.now;
    assert_eq!(
        pap.server.reauthenticate(now, fresh),
        Err(SetupError::NotWaiting)
    );
}

#[test]
fn reauthenticating_as_another_user_ends_the_link() {
    use ppp_core::auth::crypto::chap_md5_response;
    use ppp_core::wire::auth::ChapRepr;

    let mut pair = pair_with(Method::ChapMd5);
    pair.store.insert_password(b"mallory", b"her own").unwrap();
    pair.establish();
    let now = pair.now;
    pair.server
        .reauthenticate(
            now,
            Entropy {
                magic: 0,
                challenge: [0x0f; 16],
                identifier: 0x51,
            },
        )
        .unwrap();
    // The new Challenge reaches the client's side, but a Response as
    // another user (valid for that user) comes back instead of the
    // client's.
    let mut buf = [0u8; 1600];
    let t = pair.server.poll_transmit(now, &mut buf).unwrap();
    let info = frame_info(&buf[..t.len]).to_vec();
    assert_eq!(info[..2], [1, 0x51]);
    let challenge = &info[5..5 + info[4] as usize];
    let value = chap_md5_response(0x51, b"her own", challenge);
    let mut response = vec![0xff, 0x03, 0xc2, 0x23];
    let mut body = [0u8; 64];
    let n = ChapRepr::Response {
        identifier: 0x51,
        value: &value,
        name: b"mallory",
    }
    .emit(&mut body)
    .unwrap();
    response.extend_from_slice(&body[..n]);
    let _ = pair
        .server
        .handle_frame_with(now, &mut response, &pair.store);
    pair.run_until_down();
    assert_eq!(
        pair.server_down(),
        Some(EndReason::AuthFailed(FailureReason::UnknownUser))
    );
    assert_eq!(
        pair.server.username(),
        USER,
        "the session stays the first user's"
    );
    assert_eq!(
        count(&pair.server_events, |e| matches!(
            e,
            LinkEvent::Reauthenticated { .. }
        )),
        0
    );
}
