//! Login throttling through the endpoint: a client guessing passwords
//! over fresh connections from one address, in simulated time. After the
//! free failures the CHAP Failure leaves only after the throttle's delay;
//! during a block even the right password is refused without the verifier
//! or the AAA server seeing it; and a name that does not exist is
//! answered with the same octets at the same times as a wrong password.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use ppp_core::auth::throttle::ThrottleConfig;
use ppp_core::auth::{FailureReason, Verifier};
use ppp_core::link::{Credentials, LinkConfig};
use pptp_core::endpoint::{ClientConfig, Endpoint, Event, ServerConfig};
use pptp_core::time::Duration;

/// The CHAP code (2 Response, 3 Success, 4 Failure) of a GRE datagram
/// carrying a CHAP packet (RFC 2637 §4.1 header, RFC 1994 §4).
fn chap_code(d: &[u8]) -> Option<u8> {
    chap_packet(d).and_then(|p| p.first().copied())
}

/// The CHAP packet in a GRE datagram (after the PPP protocol field).
fn chap_packet(d: &[u8]) -> Option<&[u8]> {
    let mut header = 8;
    if d.first()? & 0x10 != 0 {
        header += 4; // sequence number
    }
    if d.get(1)? & 0x80 != 0 {
        header += 4; // acknowledgement number
    }
    let ppp = d.get(header..)?;
    let ppp = ppp.strip_prefix(&[0xff, 0x03][..]).unwrap_or(ppp);
    ppp.strip_prefix(&[0xc2, 0x23][..])
}

/// A CHAP Failure without what differs from attempt to attempt: its
/// Identifier and the new challenge in "C=" (RFC 2759 §6).
fn masked_failure(packet: &[u8]) -> Vec<u8> {
    let mut p = packet.to_vec();
    p[1] = 0;
    let text = p.windows(2).position(|w| w == b"C=").expect("C=") + 2;
    for b in &mut p[text..text + 32] {
        *b = b'x';
    }
    p
}

/// One login over a fresh connection from [`CLIENT_ADDR`].
#[derive(Debug, PartialEq, Eq)]
struct Login {
    /// The client's Response reached the server (ms).
    response_at: u64,
    /// How long the server's answer took after it.
    answer_after: u64,
    /// The answer's CHAP code (3 Success, 4 Failure).
    answer: u8,
    /// The answer (the CHAP packet).
    answer_packet: Vec<u8>,
    /// The server's end event for the session, if any.
    failure: Option<FailureReason>,
    /// Everything the server sent: GRE datagrams with their times, TCP.
    wire: (Vec<(u64, Vec<u8>)>, Vec<u8>),
}

fn server(config: ServerConfig) -> Server {
    Endpoint::server(config, memory(8, 2, 2), TestRandom(1), Some(users())).unwrap()
}

fn client(user: &[u8], password: &[u8], seed: u64) -> Client {
    let link = LinkConfig::client(Credentials::password(user, password).unwrap());
    Endpoint::client(ClientConfig::new(link), memory(1, 1, 1), TestRandom(seed)).unwrap()
}

/// A client logs in as `user` with `password` and goes away; times are
/// relative to the start of the attempt, so two runs compare.
fn login(pair: &mut Pair, user: &[u8], password: &[u8], seed: u64) -> Login {
    pair.client = client(user, password, seed);
    pair.closed = [false; 2];
    let start = pair.now;
    let (c0, s0, t0, e0) = (
        pair.client_gre_log.len(),
        pair.server_gre_log.len(),
        pair.server_tcp_log.len(),
        pair.server_events.len(),
    );
    pair.connect();
    pair.drive_for(60_000);
    let response = (c0..pair.client_gre_log.len())
        .find(|&i| chap_code(&pair.client_gre_log[i]) == Some(2))
        .expect("a CHAP Response");
    let response_at = pair.client_gre_at[response] + pair.latency;
    let (answer_at, answer, answer_packet) = (s0..pair.server_gre_log.len())
        .find_map(|i| match chap_code(&pair.server_gre_log[i]) {
            Some(code @ (3 | 4)) => Some((
                pair.server_gre_at[i],
                code,
                chap_packet(&pair.server_gre_log[i])?.to_vec(),
            )),
            _ => None,
        })
        .expect("a CHAP Success or Failure");
    // A failed attempt is over before the next one connects.
    assert!(answer == 3 || pair.server.is_idle(), "the attempt is over");
    let failure = pair.server_events[e0..].iter().find_map(|e| match e {
        Event::AuthFailed { reason, .. } => Some(*reason),
        _ => None,
    });
    let gre = (s0..pair.server_gre_log.len())
        .map(|i| {
            (
                pair.server_gre_at[i] - start,
                pair.server_gre_log[i].clone(),
            )
        })
        .collect();
    Login {
        response_at: response_at - start,
        answer_after: answer_at - response_at,
        answer,
        answer_packet,
        failure,
        wire: (gre, pair.server_tcp_log[t0..].to_vec()),
    }
}

#[test]
fn after_the_free_failures_the_failure_waits_for_the_throttle() {
    let mut pair = Pair::new(server(server_config()), client(USER, PASSWORD, 2));
    let answers: Vec<u64> = (0..6)
        .map(|n| {
            let l = login(&mut pair, USER, b"wrong", 10 + n);
            assert_eq!(l.answer, 4, "CHAP Failure");
            assert_eq!(l.failure, Some(FailureReason::WrongPassword));
            l.answer_after
        })
        .collect();
    // Three free failures (answered at once), then 1 s, 2 s, 4 s.
    let expected = [0, 0, 0, 1000, 2000, 4000];
    assert_eq!(answers, expected);
    let s = pair.server.stats().logins;
    assert_eq!((s.failed, s.delayed, s.refused), (6, 3, 0));
}

#[test]
fn during_a_block_even_the_right_password_is_refused_untested() {
    let mut config = server_config();
    let throttle = ThrottleConfig {
        free_failures: 1,
        block_after: 3,
        block_time: Duration::from_secs(300),
        ..ThrottleConfig::default()
    };
    config.login_throttle = Some(throttle);
    let mut pair = Pair::new(server(config), client(USER, PASSWORD, 2));
    let wrong: Vec<Login> = (0..3)
        .map(|n| login(&mut pair, USER, b"wrong", 10 + n))
        .collect();
    assert_eq!(pair.server.logins_blocked(pair.instant()), (1, 1));
    let right = login(&mut pair, USER, PASSWORD, 20);
    assert_eq!(right.answer, 4, "refused");
    assert_eq!(right.failure, Some(FailureReason::Throttled));
    // Answered like the last wrong password: the same Failure (691, a
    // retry offered, the same message), after the same delay.
    assert_eq!(
        masked_failure(&right.answer_packet),
        masked_failure(&wrong[2].answer_packet)
    );
    assert_eq!(right.answer_after, wrong[2].answer_after);
    assert_eq!(right.answer_after, throttle.delay_for(3).as_millis());
    let s = pair.server.stats().logins;
    assert_eq!((s.failed, s.refused, s.blocks), (3, 1, 2));
    // After the block the right password gets in, and clears the counters.
    pair.drive_for(300_000);
    let later = login(&mut pair, USER, PASSWORD, 30);
    assert_eq!(later.answer, 3, "CHAP Success");
    assert_eq!(pair.server.logins_blocked(pair.instant()), (0, 0));
}

#[test]
fn during_a_block_the_aaa_server_is_not_asked() {
    let mut config = server_config();
    config.login_throttle = Some(ThrottleConfig {
        free_failures: 0,
        block_after: 2,
        ..ThrottleConfig::default()
    });
    // External AAA: no local verifier, logins come out as AuthRequest.
    let server = Endpoint::server(config, memory(8, 2, 2), TestRandom(1), None).unwrap();
    let mut pair = Pair::new(server, client(USER, PASSWORD, 2));
    let mut asked = 0;
    for (n, password) in [&b"wrong"[..], b"wrong", PASSWORD].iter().enumerate() {
        pair.client = client(USER, password, 10 + n as u64);
        pair.closed = [false; 2];
        pair.connect();
        let until = pair.now + 60_000;
        let mut seen = pair.server_events.len();
        while pair.step(until) {
            let new: Vec<_> = pair.server_events[seen..]
                .iter()
                .filter_map(|e| match e {
                    Event::AuthRequest { session } => Some(*session),
                    _ => None,
                })
                .collect();
            seen = pair.server_events.len();
            for session in new {
                asked += 1;
                let request = pair.server.take_auth_request(session).unwrap();
                let now = pair.instant();
                assert!(pair
                    .server
                    .auth_verdict(now, session, users().decide(&request)));
            }
        }
        pair.drive_until(until);
    }
    assert_eq!(
        asked, 2,
        "the right password during the block was not asked"
    );
    assert!(matches!(
        pair.server_events.iter().rev().find_map(|e| match e {
            Event::AuthFailed { reason, .. } => Some(*reason),
            _ => None,
        }),
        Some(FailureReason::Throttled)
    ));
}

#[test]
fn a_wrong_user_and_a_wrong_password_get_the_same_octets_at_the_same_times() {
    let run = |user: &[u8]| -> Vec<Login> {
        let mut pair = Pair::new(server(server_config()), client(USER, PASSWORD, 2));
        (0..12)
            .map(|n| login(&mut pair, user, b"wrong", 10 + n))
            .collect()
    };
    let known = run(USER);
    let unknown = run(b"mallory");
    assert_eq!(known[0].failure, Some(FailureReason::WrongPassword));
    assert_eq!(unknown[0].failure, Some(FailureReason::UnknownUser));
    for (n, (k, u)) in known.iter().zip(&unknown).enumerate() {
        assert_eq!(k.response_at, u.response_at, "attempt {n}");
        assert_eq!(k.answer_after, u.answer_after, "attempt {n}");
        assert_eq!(k.wire, u.wire, "attempt {n}: the server's octets");
    }
    // Both were throttled: delayed after three, refused from the 11th.
    assert_eq!(unknown[3].answer_after, 1000);
    assert_eq!(unknown[10].failure, Some(FailureReason::Throttled));
    assert_eq!(known[10].failure, Some(FailureReason::Throttled));
}
