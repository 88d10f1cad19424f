//! Authenticator ↔ peer exchanges over an in-memory wire with a fake clock.

extern crate std;

use std::vec;
use std::vec::Vec;

use super::testdata::{frame_body, hex, hex_n, vectors};
use super::*;
use crate::time::{Duration, Instant};
use crate::wire::auth::{
    format_authenticator_response, ChapRepr, MsChapFailure, MsChapV2Success, PapRepr,
};

const MSCHAPV2: &str = include_str!("../../tests/data/mschapv2.toml");
const MSCHAPV1: &str = include_str!("../../tests/data/mschapv1.toml");
const CHAP_PAP: &str = include_str!("../../tests/data/chap_pap.toml");

const PEER_CHALLENGE: [u8; 16] = [0x22; 16];

fn challenge_for(method: Method) -> Vec<u8> {
    match method {
        Method::MsChapV1 => vec![0x11; 8],
        _ => vec![0x11; 16],
    }
}

fn store() -> CredentialStore<8> {
    let mut s = CredentialStore::new(DomainRule::default());
    s.insert_password(b"cisco", b"cisco").unwrap();
    s.insert_password(b"john", b"cisco").unwrap();
    s.insert_password(b"User", b"clientPass").unwrap();
    s.insert(
        b"hashonly",
        Secret::NtHash(NtHash::from_password(b"cisco").unwrap()),
    )
    .unwrap();
    s
}

fn pw(p: &str) -> Secret {
    Secret::password(p.as_bytes()).unwrap()
}

/// Two machines joined by an in-memory wire, with loss injection.
struct Exchange {
    auth: Authenticator,
    peer: Peer,
    now: Instant,
    auth_events: Vec<Event>,
    peer_events: Vec<Event>,
    /// Every packet the authenticator sent, delivered or not.
    to_peer: Vec<Vec<u8>>,
    /// Every packet the peer sent, delivered or not.
    to_auth: Vec<Vec<u8>>,
    drop_to_peer: usize,
    drop_to_auth: usize,
    /// Drops the packet to the peer with this index (0-based) in `to_peer`.
    drop_nth_to_peer: Option<usize>,
}

impl Exchange {
    fn new(auth: Authenticator, peer: Peer) -> Self {
        Exchange {
            auth,
            peer,
            now: Instant::ZERO,
            auth_events: Vec::new(),
            peer_events: Vec::new(),
            to_peer: Vec::new(),
            to_auth: Vec::new(),
            drop_to_peer: 0,
            drop_to_auth: 0,
            drop_nth_to_peer: None,
        }
    }

    fn setup(method: Method, config: AuthenticatorConfig, username: &str, secret: Secret) -> Self {
        let auth =
            Authenticator::new(method, config, Instant::ZERO, 1, &challenge_for(method)).unwrap();
        let peer = Peer::new(
            method,
            PeerConfig::default(),
            Instant::ZERO,
            username.as_bytes(),
            secret,
            1,
            Some(PEER_CHALLENGE),
        )
        .unwrap();
        Exchange::new(auth, peer)
    }

    /// Delivers packets both ways until neither side has anything to send.
    fn run(&mut self, verifier: Option<&dyn Verifier>) {
        for _ in 0..100 {
            let mut progress = false;
            let mut buf = [0u8; 1500];
            if let Some(t) = self.auth.poll_transmit(self.now, &mut buf) {
                progress = true;
                assert_eq!(t.to, self.auth.method().protocol());
                let packet = buf[..t.len].to_vec();
                self.to_peer.push(packet.clone());
                if self.drop_to_peer > 0 {
                    self.drop_to_peer -= 1;
                } else if self.drop_nth_to_peer == Some(self.to_peer.len() - 1) {
                    // lost
                } else {
                    self.peer.handle_packet(self.now, &packet);
                }
            }
            if let Some(t) = self.peer.poll_transmit(self.now, &mut buf) {
                progress = true;
                assert_eq!(t.to, self.peer.method().protocol());
                let packet = buf[..t.len].to_vec();
                self.to_auth.push(packet.clone());
                if self.drop_to_auth > 0 {
                    self.drop_to_auth -= 1;
                } else {
                    match verifier {
                        Some(v) => self.auth.handle_packet_with(self.now, &packet, v),
                        None => self.auth.handle_packet(self.now, &packet),
                    }
                }
            }
            while let Some(e) = self.auth.poll_event() {
                progress = true;
                self.auth_events.push(e);
            }
            while let Some(e) = self.peer.poll_event() {
                progress = true;
                self.peer_events.push(e);
            }
            if !progress {
                return;
            }
        }
        panic!("exchange did not settle");
    }

    /// Advances the clock to the earliest timer and fires it.
    fn fire_next_timer(&mut self) -> bool {
        let next = [self.auth.poll_timeout(), self.peer.poll_timeout()]
            .into_iter()
            .flatten()
            .min();
        let Some(at) = next else { return false };
        assert!(at >= self.now, "timer in the past");
        self.now = at;
        self.auth.handle_timeout(self.now);
        self.peer.handle_timeout(self.now);
        true
    }

    /// Runs, firing timers, until nothing is pending (bounded).
    fn run_to_end(&mut self, verifier: Option<&dyn Verifier>) {
        for _ in 0..50 {
            self.run(verifier);
            if !self.fire_next_timer() {
                self.run(verifier);
                return;
            }
        }
        panic!("timers never settled");
    }
}

fn only_success(events: &[Event]) -> &Success {
    match events {
        [Event::Success(s)] => s,
        other => panic!("expected one Success, got {other:?}"),
    }
}

fn only_failure(events: &[Event]) -> &Failure {
    match events {
        [Event::Failure(f)] => f,
        other => panic!("expected one Failure, got {other:?}"),
    }
}

fn take_request(events: &mut Vec<Event>) -> AuthRequest {
    match events.as_slice() {
        [Event::AuthRequest(_)] => match events.pop() {
            Some(Event::AuthRequest(r)) => r,
            _ => unreachable!(),
        },
        other => panic!("expected one AuthRequest, got {other:?}"),
    }
}

const ALL: [Method; 4] = [
    Method::Pap,
    Method::ChapMd5,
    Method::MsChapV1,
    Method::MsChapV2,
];

#[test]
fn every_method_succeeds_both_roles_with_local_store() {
    let store = store();
    for method in ALL {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        x.run_to_end(Some(&store));
        let a = only_success(&x.auth_events);
        let p = only_success(&x.peer_events);
        assert_eq!((a.method, p.method), (method, method));
        assert_eq!(&a.username[..], b"cisco");
        assert_eq!(&p.username[..], b"cisco");
        assert!(!a.reauthentication);
        // Both sides derive the same MPPE inputs; only MS-CHAP has any.
        assert_eq!(a.key_material, p.key_material, "{method:?}");
        assert_eq!(a.key_material.is_some(), method.is_ms_chap(), "{method:?}");
        // Nothing left: no timers once both sides are done (no re-challenge).
        assert_eq!(x.auth.poll_timeout(), None, "{method:?}");
        assert_eq!(x.peer.poll_timeout(), None, "{method:?}");
    }
}

#[test]
fn mschapv2_key_material_matches_rfc_values() {
    let v = vectors(MSCHAPV2, "mschapv2")
        .into_iter()
        .find(|v| v["id"].as_str() == Some("rfc2759-9.2"))
        .unwrap();
    let mut x = Exchange::new(
        Authenticator::new(
            Method::MsChapV2,
            AuthenticatorConfig::default(),
            Instant::ZERO,
            1,
            &hex(&v["authenticator_challenge"]),
        )
        .unwrap(),
        Peer::new(
            Method::MsChapV2,
            PeerConfig::default(),
            Instant::ZERO,
            b"User",
            pw("clientPass"),
            0,
            Some(hex_n(&v["peer_challenge"])),
        )
        .unwrap(),
    );
    x.run(Some(&store()));
    let expected = MppeKeyMaterial::MsChapV2 {
        password_hash_hash: hex_n(&v["password_hash_hash"]),
        nt_response: hex_n(&v["nt_response"]),
    };
    assert_eq!(
        only_success(&x.auth_events).key_material,
        Some(expected.clone())
    );
    assert_eq!(only_success(&x.peer_events).key_material, Some(expected));
    // The exact frames of the vector (constructed per RFC 2759 §3-5).
    assert_eq!(x.to_peer[0], frame_body(&v["challenge_packet"], 0xc223));
    assert_eq!(x.to_auth[0], frame_body(&v["response_packet"], 0xc223));
    assert_eq!(x.to_peer[1], frame_body(&v["success_packet"], 0xc223));
}

#[test]
fn mschapv2_seed_cisco_frames_exact() {
    let v = vectors(MSCHAPV2, "mschapv2")
        .into_iter()
        .find(|v| v["id"].as_str() == Some("computed-seed-cisco"))
        .unwrap();
    let config = AuthenticatorConfig {
        name: Name::from_slice(v["authenticator_name"].as_str().unwrap().as_bytes()).unwrap(),
        success_message: message_from(v["success_message"].as_str().unwrap().as_bytes()),
        ..AuthenticatorConfig::default()
    };
    let id = v["chap_identifier"].as_integer().unwrap() as u8;
    let mut x = Exchange::new(
        Authenticator::new(
            Method::MsChapV2,
            config,
            Instant::ZERO,
            id,
            &hex(&v["authenticator_challenge"]),
        )
        .unwrap(),
        Peer::new(
            Method::MsChapV2,
            PeerConfig::default(),
            Instant::ZERO,
            v["username"].as_str().unwrap().as_bytes(),
            pw(v["password"].as_str().unwrap()),
            0,
            Some(hex_n(&v["peer_challenge"])),
        )
        .unwrap(),
    );
    x.run(Some(&store()));
    only_success(&x.auth_events);
    only_success(&x.peer_events);
    assert_eq!(x.to_peer[0], frame_body(&v["challenge_packet"], 0xc223));
    assert_eq!(x.to_auth[0], frame_body(&v["response_packet"], 0xc223));
    assert_eq!(x.to_peer[1], frame_body(&v["success_packet"], 0xc223));
}

#[test]
fn mschapv1_pix_challenge_frames_exact() {
    for id in ["computed-seed-pix-challenge", "computed-clientPass"] {
        let v = vectors(MSCHAPV1, "mschapv1")
            .into_iter()
            .find(|v| v["id"].as_str() == Some(id))
            .unwrap();
        let mut x = Exchange::new(
            Authenticator::new(
                Method::MsChapV1,
                AuthenticatorConfig::default(),
                Instant::ZERO,
                v["chap_identifier"].as_integer().unwrap() as u8,
                &hex(&v["challenge"]),
            )
            .unwrap(),
            Peer::new(
                Method::MsChapV1,
                PeerConfig::default(),
                Instant::ZERO,
                v["username"].as_str().unwrap().as_bytes(),
                pw(v["password"].as_str().unwrap()),
                0,
                None,
            )
            .unwrap(),
        );
        x.run(Some(&store()));
        let success = only_success(&x.auth_events);
        assert_eq!(
            x.to_peer[0],
            frame_body(&v["challenge_packet"], 0xc223),
            "{id}"
        );
        assert_eq!(
            x.to_auth[0],
            frame_body(&v["response_packet"], 0xc223),
            "{id}"
        );
        // The PIX answered ff03c22303010004: Success, no message.
        assert_eq!(x.to_peer[1], [3, 1, 0, 4], "{id}");
        let lm: [u8; 16] = hex_n(&v["lm_password_hash"]);
        let nt: [u8; 16] = hex_n(&v["password_hash"]);
        assert_eq!(
            success.key_material,
            Some(MppeKeyMaterial::MsChapV1 {
                password_hash_hash: crypto::hash_nt_password_hash(&nt),
                lm_hash_prefix: Some(lm[..8].try_into().unwrap()),
                challenge: hex_n(&v["challenge"]),
            }),
            "{id}"
        );
        assert_eq!(
            only_success(&x.peer_events).key_material,
            success.key_material
        );
    }
}

#[test]
fn mschapv1_windows9x_lm_filled_response_is_accepted() {
    // The seed's Windows 9x client filled the LM field and set use-NT.
    let v = vectors(MSCHAPV1, "mschapv1")
        .into_iter()
        .find(|v| v["id"].as_str() == Some("computed-win9x-lm"))
        .unwrap();
    let mut auth = Authenticator::new(
        Method::MsChapV1,
        AuthenticatorConfig::default(),
        Instant::ZERO,
        1,
        &hex(&v["challenge"]),
    )
    .unwrap();
    let mut buf = [0u8; 64];
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(
        &buf[..t.len],
        &frame_body(&v["challenge_packet"], 0xc223)[..]
    );
    auth.handle_packet_with(
        Instant::ZERO,
        &frame_body(&v["response_packet"], 0xc223),
        &store(),
    );
    assert!(matches!(auth.poll_event(), Some(Event::Success(_))));
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(&buf[..t.len], &[3, 1, 0, 4]);
}

#[test]
fn chap_md5_and_pap_frames_exact() {
    let store = store();
    for v in vectors(CHAP_PAP, "chap_md5") {
        let config = AuthenticatorConfig {
            name: Name::from_slice(v["authenticator_name"].as_str().unwrap().as_bytes()).unwrap(),
            success_message: message_from(v["success_message"].as_str().unwrap().as_bytes()),
            failure_message: message_from(v["failure_message"].as_str().unwrap().as_bytes()),
            ..AuthenticatorConfig::default()
        };
        let mut x = Exchange::new(
            Authenticator::new(
                Method::ChapMd5,
                config.clone(),
                Instant::ZERO,
                v["identifier"].as_integer().unwrap() as u8,
                &hex(&v["challenge"]),
            )
            .unwrap(),
            Peer::new(
                Method::ChapMd5,
                PeerConfig::default(),
                Instant::ZERO,
                v["peer_name"].as_str().unwrap().as_bytes(),
                pw(v["secret"].as_str().unwrap()),
                0,
                None,
            )
            .unwrap(),
        );
        // A one-user verifier for the vector's secret (names may be empty).
        struct One(Secret);
        impl Verifier for One {
            fn decide(&self, request: &AuthRequest) -> Verdict {
                aaa::verify_with_secret(request, &self.0)
            }
        }
        x.run(Some(&One(pw(v["secret"].as_str().unwrap()))));
        only_success(&x.auth_events);
        only_success(&x.peer_events);
        assert_eq!(x.to_peer[0], frame_body(&v["challenge_packet"], 0xc223));
        assert_eq!(x.to_auth[0], frame_body(&v["response_packet"], 0xc223));
        assert_eq!(x.to_peer[1], frame_body(&v["success_packet"], 0xc223));

        // Wrong secret: the failure packet of the vector.
        let mut auth = Authenticator::new(
            Method::ChapMd5,
            config,
            Instant::ZERO,
            v["identifier"].as_integer().unwrap() as u8,
            &hex(&v["challenge"]),
        )
        .unwrap();
        let mut buf = [0u8; 128];
        assert!(auth.poll_transmit(Instant::ZERO, &mut buf).is_some());
        auth.handle_packet_with(
            Instant::ZERO,
            &frame_body(&v["response_packet"], 0xc223),
            &One(pw("wrong")),
        );
        let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
        assert_eq!(&buf[..t.len], &frame_body(&v["failure_packet"], 0xc223)[..]);
    }
    for v in vectors(CHAP_PAP, "pap") {
        let id = v["identifier"].as_integer().unwrap() as u8;
        let config = AuthenticatorConfig {
            success_message: message_from(v["ack_message"].as_str().unwrap().as_bytes()),
            failure_message: message_from(v["nak_message"].as_str().unwrap().as_bytes()),
            ..AuthenticatorConfig::default()
        };
        let peer_id = v["peer_id"].as_str().unwrap();
        for (password, good) in [(v["password"].as_str().unwrap(), true), ("bad", false)] {
            let mut x = Exchange::new(
                Authenticator::new(Method::Pap, config.clone(), Instant::ZERO, 0, &[]).unwrap(),
                Peer::new(
                    Method::Pap,
                    PeerConfig::default(),
                    Instant::ZERO,
                    peer_id.as_bytes(),
                    pw(password),
                    id,
                    None,
                )
                .unwrap(),
            );
            x.run(Some(&store));
            if good {
                assert_eq!(x.to_auth[0], frame_body(&v["request_packet"], 0xc023));
                assert_eq!(x.to_peer[0], frame_body(&v["ack_packet"], 0xc023));
                only_success(&x.peer_events);
            } else {
                assert_eq!(x.to_peer[0], frame_body(&v["nak_packet"], 0xc023));
                assert_eq!(
                    only_failure(&x.peer_events).reason,
                    FailureReason::RejectedByAuthenticator {
                        error_code: None,
                        retry_allowed: false
                    }
                );
            }
        }
    }
}

#[test]
fn wrong_password_fails_every_method_with_691() {
    let store = store();
    let config = AuthenticatorConfig {
        max_retries: 0,
        ..AuthenticatorConfig::default()
    };
    for method in ALL {
        let mut x = Exchange::setup(method, config.clone(), "cisco", pw("nope"));
        x.run_to_end(Some(&store));
        let a = only_failure(&x.auth_events);
        assert_eq!(a.reason, FailureReason::WrongPassword, "{method:?}");
        assert_eq!(&a.username[..], b"cisco");
        assert_eq!(a.reason.windows_error(), 691);
        let p = only_failure(&x.peer_events);
        let code = method.is_ms_chap().then_some(691);
        assert_eq!(
            p.reason,
            FailureReason::RejectedByAuthenticator {
                error_code: code,
                retry_allowed: false
            },
            "{method:?}"
        );
        assert_eq!(p.reason.windows_error(), 691);
        // The last packet was the Failure/Nak; an MS-CHAP one says R=0.
        let last = x.to_peer.last().unwrap();
        if method.is_ms_chap() {
            let ChapRepr::Failure { message, .. } = ChapRepr::parse_bytes(last).unwrap() else {
                panic!("not a failure")
            };
            let f = MsChapFailure::parse(message).unwrap();
            assert_eq!((f.error, f.retry), (691, false));
            if method == Method::MsChapV2 {
                assert_eq!(f.version, Some(3));
                assert_eq!(f.challenge.unwrap().as_bytes(), &challenge_for(method)[..]);
                assert_eq!(f.message, Some(&b"Authentication failed"[..]));
            } else {
                assert_eq!(message, b"E=691 R=0");
            }
        }
    }
}

#[test]
fn unknown_user_fails_with_691() {
    let store = store();
    for method in ALL {
        let mut x = Exchange::setup(
            method,
            AuthenticatorConfig {
                max_retries: 0,
                ..AuthenticatorConfig::default()
            },
            "mallory",
            pw("cisco"),
        );
        x.run_to_end(Some(&store));
        assert_eq!(
            only_failure(&x.auth_events).reason,
            FailureReason::UnknownUser
        );
        assert_eq!(only_failure(&x.peer_events).reason.windows_error(), 691);
    }
}

#[test]
fn mschap_retry_with_new_challenge_then_success() {
    let store = store();
    for method in [Method::MsChapV1, Method::MsChapV2] {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("typo"));
        let fresh = match method {
            Method::MsChapV1 => vec![0x33; 8],
            _ => vec![0x33; 16],
        };
        x.auth.feed_challenge(x.now, &fresh).unwrap();
        if let Peer::Chap(p) = &mut x.peer {
            p.feed_peer_challenge([0x44; 16]).unwrap();
        }
        x.run(Some(&store));
        // No final failure on the authenticator side yet.
        assert!(x.auth_events.is_empty(), "{:?}", x.auth_events);
        let f = only_failure(&x.peer_events);
        assert_eq!(
            f.reason,
            FailureReason::RejectedByAuthenticator {
                error_code: Some(691),
                retry_allowed: true
            }
        );
        let ChapRepr::Failure {
            identifier,
            message,
        } = ChapRepr::parse_bytes(x.to_peer.last().unwrap()).unwrap()
        else {
            panic!()
        };
        let parsed = MsChapFailure::parse(message).unwrap();
        assert!(parsed.retry);
        assert_eq!(parsed.challenge.unwrap().as_bytes(), &fresh[..]);
        if method == Method::MsChapV2 {
            assert_eq!(parsed.version, Some(3));
            assert_eq!(parsed.message, Some(&b"Authentication failed"[..]));
        } else {
            assert_eq!(parsed.version, None);
        }
        x.peer_events.clear();
        x.peer.retry(x.now, Some(pw("cisco"))).unwrap();
        x.run(Some(&store));
        // The retry Response uses the Failure's Identifier plus one and
        // answers the new challenge.
        let ChapRepr::Response {
            identifier: rid, ..
        } = ChapRepr::parse_bytes(x.to_auth.last().unwrap()).unwrap()
        else {
            panic!()
        };
        assert_eq!(rid, identifier.wrapping_add(1));
        let a = only_success(&x.auth_events);
        let p = only_success(&x.peer_events);
        assert_eq!(a.key_material, p.key_material);
        if let Some(MppeKeyMaterial::MsChapV1 { challenge, .. }) = &a.key_material {
            assert_eq!(&challenge[..], &fresh[..]);
        }
        // retry() is refused once not in the retry state.
        assert_eq!(x.peer.retry(x.now, None), Err(SetupError::NotWaiting));
    }
}

#[test]
fn mschap_retries_are_bounded_and_end_with_r0() {
    let store = store();
    let config = AuthenticatorConfig {
        max_retries: 2,
        ..AuthenticatorConfig::default()
    };
    let mut x = Exchange::setup(Method::MsChapV2, config, "cisco", pw("bad"));
    x.run(Some(&store));
    let mut retry_failures = 0;
    for attempt in 0..3 {
        // Without a queued challenge the authenticator asks for one.
        if attempt < 2 {
            assert_eq!(x.auth_events.pop(), Some(Event::ChallengeNeeded));
            x.auth.feed_challenge(x.now, &[attempt as u8; 16]).unwrap();
            x.run(Some(&store));
            let f = only_failure(&x.peer_events);
            assert!(matches!(
                f.reason,
                FailureReason::RejectedByAuthenticator {
                    retry_allowed: true,
                    ..
                }
            ));
            retry_failures += 1;
            x.peer_events.clear();
            x.peer.retry(x.now, None).unwrap();
            x.run(Some(&store));
        }
    }
    assert_eq!(retry_failures, 2);
    let a = only_failure(&x.auth_events);
    assert_eq!(a.reason, FailureReason::WrongPassword);
    assert_eq!(a.reason.windows_error(), 691);
    let p = only_failure(&x.peer_events);
    assert_eq!(
        p.reason,
        FailureReason::RejectedByAuthenticator {
            error_code: Some(691),
            retry_allowed: false
        }
    );
    // Three Responses in all: first try plus two retries.
    assert_eq!(x.to_auth.len(), 3);
}

#[test]
fn retry_wait_times_out() {
    let store = store();
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("bad"),
    );
    x.auth.feed_challenge(x.now, &[9; 16]).unwrap();
    x.run(Some(&store));
    // The peer does not retry; the authenticator gives up after wait_timeout.
    assert_eq!(x.auth.poll_timeout(), Some(Instant::from_millis(30_000)));
    x.run_to_end(Some(&store));
    // Reported as the rejection it was, so the user sees 691.
    let f = only_failure(&x.auth_events);
    assert_eq!(f.reason, FailureReason::WrongPassword);
    assert_eq!(f.reason.windows_error(), 691);
    assert_eq!(x.now, Instant::from_millis(30_000));
    assert_eq!(FailureReason::Timeout.windows_error(), 718);
}

#[test]
fn mschapv2_mutual_authentication_failure() {
    // An external AAA accepts but supplies a wrong authenticator response
    // (as a server that does not know the password would): the peer
    // refuses the Success.
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.run(None);
    let _request = take_request(&mut x.auth_events);
    x.auth
        .verdict(
            x.now,
            Verdict::Accept(Accept {
                authenticator_response: Some([0x5a; 20]),
                ..Accept::default()
            }),
        )
        .unwrap();
    x.run(None);
    only_success(&x.auth_events);
    let f = only_failure(&x.peer_events);
    assert_eq!(f.reason, FailureReason::AuthenticatorResponseMismatch);
    assert_eq!(f.reason.windows_error(), 778);

    // A Success without S= at all.
    let mut peer = Peer::new(
        Method::MsChapV2,
        PeerConfig::default(),
        Instant::ZERO,
        b"cisco",
        pw("cisco"),
        0,
        Some(PEER_CHALLENGE),
    )
    .unwrap();
    peer.handle_packet(
        Instant::ZERO,
        &[
            1, 5, 0, 21, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
        ],
    );
    let mut buf = [0u8; 128];
    assert!(peer.poll_transmit(Instant::ZERO, &mut buf).is_some());
    peer.handle_packet(Instant::ZERO, b"\x03\x05\x00\x0eM=Welcome!");
    match peer.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::MalformedSuccess),
        other => panic!("{other:?}"),
    }
}

#[test]
fn mschapv2_tampered_success_in_flight_is_refused() {
    let store = store();
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.drop_to_peer = 0;
    // Run until the authenticator has the Success queued, then flip one hex
    // digit of S= before delivery.
    let mut buf = [0u8; 256];
    let t = x.auth.poll_transmit(x.now, &mut buf).unwrap();
    x.peer.handle_packet(x.now, &buf[..t.len]);
    let t = x.peer.poll_transmit(x.now, &mut buf).unwrap();
    x.auth.handle_packet_with(x.now, &buf[..t.len], &store);
    let t = x.auth.poll_transmit(x.now, &mut buf).unwrap();
    let mut success = buf[..t.len].to_vec();
    success[4 + 2] = if success[6] == b'0' { b'1' } else { b'0' };
    x.peer.handle_packet(x.now, &success);
    match x.peer.poll_event() {
        Some(Event::Failure(f)) => {
            assert_eq!(f.reason, FailureReason::AuthenticatorResponseMismatch)
        }
        other => panic!("{other:?}"),
    }
    // The untampered Success arriving later does not revive the peer.
    x.peer.handle_packet(x.now, &buf[..t.len]);
    assert_eq!(x.peer.poll_event(), None);
}

#[test]
fn domain_prefixed_usernames_under_each_rule() {
    for method in ALL {
        for (rule, accepted) in [
            (DomainRule::Exact, false),
            (DomainRule::StripDomain, true),
            (DomainRule::ExactThenStripped, true),
        ] {
            let mut store = store();
            store.set_rule(rule);
            let mut x = Exchange::setup(
                method,
                AuthenticatorConfig {
                    max_retries: 0,
                    ..AuthenticatorConfig::default()
                },
                "DOMAIN\\cisco",
                pw("cisco"),
            );
            x.run_to_end(Some(&store));
            if accepted {
                let a = only_success(&x.auth_events);
                // The event keeps the name as the peer sent it.
                assert_eq!(&a.username[..], b"DOMAIN\\cisco");
                only_success(&x.peer_events);
            } else {
                // The PIX behaviour with Windows 98: error 691.
                let a = only_failure(&x.auth_events);
                assert_eq!(a.reason, FailureReason::UnknownUser, "{method:?} {rule:?}");
                assert_eq!(only_failure(&x.peer_events).reason.windows_error(), 691);
            }
        }
    }
    // The origin document's workaround: configure the domain name too.
    let mut store = store();
    store.set_rule(DomainRule::Exact);
    store.insert_password(b"DOMAIN\\cisco", b"cisco").unwrap();
    let mut x = Exchange::setup(
        Method::MsChapV1,
        AuthenticatorConfig::default(),
        "DOMAIN\\cisco",
        pw("cisco"),
    );
    x.run_to_end(Some(&store));
    only_success(&x.auth_events);
}

#[test]
fn hash_only_user_can_do_ms_chap_only() {
    let store = store();
    for method in ALL {
        let mut x = Exchange::setup(
            method,
            AuthenticatorConfig {
                max_retries: 0,
                ..AuthenticatorConfig::default()
            },
            "hashonly",
            pw("cisco"),
        );
        x.run_to_end(Some(&store));
        if method.is_ms_chap() {
            let a = only_success(&x.auth_events);
            // Without the cleartext, no LM hash for 40/56-bit MPPE.
            if let Some(MppeKeyMaterial::MsChapV1 { lm_hash_prefix, .. }) = &a.key_material {
                assert_eq!(*lm_hash_prefix, None);
            }
            only_success(&x.peer_events);
        } else {
            assert_eq!(
                only_failure(&x.auth_events).reason,
                FailureReason::CleartextRequired,
                "{method:?}"
            );
            assert_eq!(only_failure(&x.peer_events).reason.windows_error(), 691);
        }
    }
    // A peer that holds only the NT hash cannot do PAP or CHAP-MD5 either.
    for method in [Method::Pap, Method::ChapMd5] {
        let mut x = Exchange::setup(
            method,
            AuthenticatorConfig::default(),
            "cisco",
            Secret::NtHash(NtHash::from_password(b"cisco").unwrap()),
        );
        x.run_to_end(Some(&store));
        assert_eq!(
            only_failure(&x.peer_events).reason,
            FailureReason::CleartextRequired,
            "{method:?}"
        );
    }
    // And with MS-CHAPv2 it can.
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        Secret::NtHash(NtHash::from_password(b"cisco").unwrap()),
    );
    x.run_to_end(Some(&store));
    only_success(&x.peer_events);
}

#[test]
fn external_aaa_accept_after_delay_without_duplicate_requests() {
    let verifier = store();
    for method in ALL {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        x.run(None);
        let request = take_request(&mut x.auth_events);
        assert_eq!(request.method, method);
        assert_eq!(&request.username[..], b"cisco");
        // The host's AAA is slow: the peer repeats its packet and time
        // passes, but the host sees no second request and the authenticator
        // does not retransmit its Challenge meanwhile.
        let response = x.to_auth.last().unwrap().clone();
        for step in 1..=5u64 {
            x.now = Instant::from_millis(step * 10_000);
            x.auth.handle_packet(x.now, &response);
            x.auth.handle_timeout(x.now);
            x.run(None);
        }
        assert!(x.auth_events.is_empty(), "{:?}", x.auth_events);
        // Only the first Challenge (PAP sends nothing before the verdict).
        assert_eq!(x.to_peer.len(), usize::from(method != Method::Pap));
        // The AAA decides with the local computation (what RADIUS would),
        // adding keys and attributes.
        let Verdict::Accept(mut accept) = verifier.decide(&request) else {
            panic!("local decision rejected")
        };
        accept.key_material = Some(MppeKeyMaterial::External {
            send_key: [1; 16],
            recv_key: [2; 16],
        });
        accept.attributes.address = Some(core::net::Ipv4Addr::new(192, 168, 1, 7));
        accept.message = message_from(b"Welcome");
        x.auth.verdict(x.now, Verdict::Accept(accept)).unwrap();
        x.run(None);
        let a = only_success(&x.auth_events);
        assert_eq!(
            a.attributes.address,
            Some(core::net::Ipv4Addr::new(192, 168, 1, 7))
        );
        assert!(matches!(
            a.key_material,
            Some(MppeKeyMaterial::External { .. })
        ));
        // A second verdict is refused.
        assert_eq!(
            x.auth
                .verdict(x.now, Verdict::reject(FailureReason::WrongPassword)),
            Err(SetupError::NotWaiting)
        );
    }
}

#[test]
fn external_aaa_within_peer_patience_completes_both_sides() {
    for method in ALL {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        x.run(None);
        let request = take_request(&mut x.auth_events);
        x.now = Instant::from_millis(4_000);
        x.auth.handle_timeout(x.now);
        x.peer.handle_timeout(x.now);
        let verdict = aaa::verify_with_secret(&request, &pw("cisco"));
        x.auth.verdict(x.now, verdict).unwrap();
        x.run(None);
        only_success(&x.auth_events);
        only_success(&x.peer_events);
    }
}

#[test]
fn external_mschapv2_accept_from_radius_success_text() {
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.run(None);
    let request = take_request(&mut x.auth_events);
    // What RADIUS MS-CHAP2-Success carries after its Ident octet.
    let Verdict::Accept(local) = aaa::verify_with_secret(&request, &pw("cisco")) else {
        panic!()
    };
    let text = format_authenticator_response(&local.authenticator_response.unwrap());
    let accept = Accept::default()
        .with_authenticator_response_text(&text)
        .unwrap();
    x.auth.verdict(x.now, Verdict::Accept(accept)).unwrap();
    x.run(None);
    only_success(&x.auth_events);
    let p = only_success(&x.peer_events);
    assert!(matches!(
        p.key_material,
        Some(MppeKeyMaterial::MsChapV2 { .. })
    ));

    // An Accept without it cannot prove the server to the peer.
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.run(None);
    take_request(&mut x.auth_events);
    x.auth
        .verdict(x.now, Verdict::Accept(Accept::default()))
        .unwrap();
    x.run(None);
    assert_eq!(
        only_failure(&x.auth_events).reason,
        FailureReason::MissingAuthenticatorResponse
    );
    only_failure(&x.peer_events);
}

#[test]
fn external_aaa_reject_with_message() {
    for method in ALL {
        let config = AuthenticatorConfig {
            max_retries: 0,
            ..AuthenticatorConfig::default()
        };
        let mut x = Exchange::setup(method, config, "cisco", pw("cisco"));
        x.run(None);
        take_request(&mut x.auth_events);
        x.now = Instant::from_millis(2_000);
        let reject = Reject {
            reason: FailureReason::Rejected { error_code: 649 },
            error_code: 649,
            message: message_from(b"No dial-in permission"),
        };
        x.auth.verdict(x.now, Verdict::Reject(reject)).unwrap();
        x.run(None);
        let a = only_failure(&x.auth_events);
        assert_eq!(a.reason.windows_error(), 649);
        let p = only_failure(&x.peer_events);
        let last = x.to_peer.last().unwrap();
        match method {
            Method::Pap => {
                assert_eq!(
                    PapRepr::parse_bytes(last).unwrap(),
                    PapRepr::AuthenticateNak {
                        identifier: 1,
                        message: b"No dial-in permission"
                    }
                );
            }
            Method::ChapMd5 => {
                let ChapRepr::Failure { message, .. } = ChapRepr::parse_bytes(last).unwrap() else {
                    panic!()
                };
                assert_eq!(message, b"No dial-in permission");
            }
            _ => {
                assert_eq!(p.reason.windows_error(), 649);
                let ChapRepr::Failure { message, .. } = ChapRepr::parse_bytes(last).unwrap() else {
                    panic!()
                };
                let f = MsChapFailure::parse(message).unwrap();
                assert_eq!((f.error, f.retry), (649, false));
            }
        }
    }
    // A non-691 rejection is never retried, even with retries configured.
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.run(None);
    take_request(&mut x.auth_events);
    x.auth
        .verdict(
            x.now,
            Verdict::Reject(Reject {
                reason: FailureReason::Rejected { error_code: 647 },
                error_code: 647,
                message: Message::new(),
            }),
        )
        .unwrap();
    x.run(None);
    only_failure(&x.auth_events);
}

#[test]
fn lost_challenge_is_retransmitted_with_same_identifier() {
    let store = store();
    for method in [Method::ChapMd5, Method::MsChapV1, Method::MsChapV2] {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        x.drop_to_peer = 2;
        x.run_to_end(Some(&store));
        only_success(&x.auth_events);
        only_success(&x.peer_events);
        assert_eq!(x.to_peer[0], x.to_peer[1]);
        assert_eq!(x.to_peer[0], x.to_peer[2]);
        // Retransmissions 3 s apart (restart timer).
        assert_eq!(x.now, Instant::from_millis(6_000));
    }
}

#[test]
fn lost_response_means_challenge_retransmit_and_same_response() {
    let store = store();
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.drop_to_auth = 1;
    x.run_to_end(Some(&store));
    only_success(&x.auth_events);
    only_success(&x.peer_events);
    // The peer answered the repeated Challenge with the same octets.
    assert_eq!(x.to_auth.len(), 2);
    assert_eq!(x.to_auth[0], x.to_auth[1]);
}

/// A lost Success: the authenticator got the Response and has nothing to
/// retransmit; the peer repeats its Response after the restart interval
/// and the authenticator answers it with the same Success (RFC 1994 §4.1
/// implementation note).
#[test]
fn lost_success_means_response_retransmit_and_same_success() {
    let store = store();
    for method in [Method::ChapMd5, Method::MsChapV1, Method::MsChapV2] {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        x.drop_nth_to_peer = Some(1); // [Challenge, Success, ...]
        x.run_to_end(Some(&store));
        only_success(&x.auth_events);
        only_success(&x.peer_events);
        assert_eq!(x.to_auth.len(), 2, "{method:?}");
        assert_eq!(x.to_auth[0], x.to_auth[1], "{method:?}");
        assert_eq!(x.to_peer.len(), 3, "{method:?}");
        assert_eq!(x.to_peer[1], x.to_peer[2], "{method:?}");
        // One restart interval (3 s) later.
        assert_eq!(x.now, Instant::from_millis(3_000), "{method:?}");
        // Nothing left to do: no timer after the Success.
        assert_eq!(x.peer.poll_timeout(), None);
    }
}

/// With no answer at all the peer repeats its Response every restart
/// interval and gives up at the wait timeout.
#[test]
fn unanswered_response_is_repeated_then_times_out() {
    let mut peer = Peer::new(
        Method::ChapMd5,
        PeerConfig::default(),
        Instant::ZERO,
        b"cisco",
        pw("cisco"),
        1,
        None,
    )
    .unwrap();
    let challenge = [
        1u8, 7, 0, 21, 16, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16,
    ];
    peer.handle_packet(Instant::ZERO, &challenge);
    let mut buf = [0u8; 128];
    let mut sent = Vec::new();
    let mut now = Instant::ZERO;
    for _ in 0..50 {
        if let Some(t) = peer.poll_transmit(now, &mut buf) {
            sent.push((now, buf[..t.len].to_vec()));
        }
        match peer.poll_timeout() {
            Some(t) => {
                now = t;
                peer.handle_timeout(now);
            }
            None => break,
        }
    }
    // 0, 3, ..., 27 s: ten copies of the same Response, then the 30 s
    // timeout.
    assert_eq!(sent.len(), 10);
    assert!(sent.iter().all(|(_, p)| *p == sent[0].1));
    assert_eq!(sent[9].0, Instant::from_millis(27_000));
    assert_eq!(now, Instant::from_millis(30_000));
    match peer.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::Timeout),
        other => panic!("{other:?}"),
    }
    assert_eq!(peer.poll_timeout(), None);
}

#[test]
fn challenge_transmissions_are_bounded() {
    let config = AuthenticatorConfig {
        max_transmissions: 4,
        ..AuthenticatorConfig::default()
    };
    let mut auth =
        Authenticator::new(Method::MsChapV2, config, Instant::ZERO, 1, &[0; 16]).unwrap();
    let mut now = Instant::ZERO;
    let mut sent = 0;
    let mut buf = [0u8; 64];
    for _ in 0..20 {
        if auth.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        match auth.poll_timeout() {
            Some(t) => {
                now = t;
                auth.handle_timeout(now);
            }
            None => break,
        }
    }
    assert_eq!(sent, 4);
    match auth.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::Timeout),
        other => panic!("{other:?}"),
    }
    assert_eq!(now, Instant::from_millis(12_000));
}

#[test]
fn pap_peer_retransmits_with_new_identifier_and_gives_up() {
    let store = store();
    let mut x = Exchange::setup(
        Method::Pap,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.drop_to_auth = 1;
    x.run_to_end(Some(&store));
    only_success(&x.peer_events);
    assert_eq!(x.to_auth.len(), 2);
    let ids: Vec<u8> = x.to_auth.iter().map(|p| p[1]).collect();
    assert_eq!(ids, [1, 2]);
    // The Ack copies the Identifier of the request it answers.
    assert_eq!(x.to_peer[0][1], 2);

    // An Ack for an older request is ignored.
    let mut peer = PapPeer::new(PeerConfig::default(), Instant::ZERO, b"u", pw("p"), 5).unwrap();
    let mut buf = [0u8; 64];
    assert!(peer.poll_transmit(Instant::ZERO, &mut buf).is_some());
    peer.handle_packet(Instant::ZERO, &[2, 4, 0, 5, 0]);
    assert_eq!(peer.poll_event(), None);

    // Silence: max_transmissions requests, then Timeout.
    let config = PeerConfig {
        max_transmissions: 3,
        ..PeerConfig::default()
    };
    let mut peer = PapPeer::new(config, Instant::ZERO, b"u", pw("p"), 0).unwrap();
    let mut now = Instant::ZERO;
    let mut sent = 0;
    for _ in 0..10 {
        if peer.poll_transmit(now, &mut buf).is_some() {
            sent += 1;
        }
        match peer.poll_timeout() {
            Some(t) => {
                now = t;
                peer.handle_timeout(now);
            }
            None => {
                if peer.poll_transmit(now, &mut buf).is_some() {
                    sent += 1;
                    continue;
                }
                break;
            }
        }
    }
    assert_eq!(sent, 3);
    match peer.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::Timeout),
        other => panic!("{other:?}"),
    }
}

#[test]
fn duplicate_request_after_verdict_gets_same_answer() {
    let store = store();
    // PAP: the Ack was lost; the repeated request (new Identifier) is
    // answered with an Ack again and no second Success event.
    let mut auth = Authenticator::new(
        Method::Pap,
        AuthenticatorConfig::default(),
        Instant::ZERO,
        0,
        &[],
    )
    .unwrap();
    let request = [
        1, 1, 0, 16, 5, b'c', b'i', b's', b'c', b'o', 5, b'c', b'i', b's', b'c', b'o',
    ];
    auth.handle_packet_with(Instant::ZERO, &request, &store);
    assert!(matches!(auth.poll_event(), Some(Event::Success(_))));
    let mut buf = [0u8; 64];
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(&buf[..t.len], &[2, 1, 0, 5, 0]);
    let mut again = request;
    again[1] = 2;
    auth.handle_packet_with(Instant::ZERO, &again, &store);
    assert_eq!(auth.poll_event(), None);
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(&buf[..t.len], &[2, 2, 0, 5, 0]);

    // CHAP (the seed trace): a repeated Response with the same Identifier
    // gets the same Success; another Identifier is ignored.
    for method in [Method::ChapMd5, Method::MsChapV1, Method::MsChapV2] {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        x.run(Some(&store));
        only_success(&x.auth_events);
        let response = x.to_auth[0].clone();
        let success = x.to_peer[1].clone();
        x.auth.handle_packet_with(x.now, &response, &store);
        let t = x.auth.poll_transmit(x.now, &mut buf).unwrap();
        assert_eq!(&buf[..t.len], &success[..]);
        assert_eq!(x.auth.poll_event(), None);
        let mut other = response.clone();
        other[1] = other[1].wrapping_add(7);
        x.auth.handle_packet_with(x.now, &other, &store);
        assert_eq!(x.auth.poll_transmit(x.now, &mut buf), None);
        // The peer ignores the duplicate Success.
        x.peer.handle_packet(x.now, &success);
        assert_eq!(x.peer.poll_event(), None);
    }
}

#[test]
fn periodic_rechallenge() {
    let store = store();
    let config = AuthenticatorConfig {
        rechallenge_interval: Some(Duration::from_secs(60)),
        ..AuthenticatorConfig::default()
    };
    for method in [Method::ChapMd5, Method::MsChapV1, Method::MsChapV2] {
        let mut x = Exchange::setup(method, config.clone(), "cisco", pw("cisco"));
        x.run(Some(&store));
        assert!(!only_success(&x.auth_events).reauthentication);
        x.auth_events.clear();
        x.peer_events.clear();
        assert_eq!(x.auth.poll_timeout(), Some(Instant::from_millis(60_000)));
        x.fire_next_timer();
        x.run(Some(&store));
        // No challenge queued: the authenticator asks the host.
        assert_eq!(x.auth_events, [Event::ChallengeNeeded]);
        x.auth_events.clear();
        let fresh = match method {
            Method::MsChapV1 => vec![0x77; 8],
            _ => vec![0x77; 16],
        };
        x.auth.feed_challenge(x.now, &fresh).unwrap();
        x.run(Some(&store));
        let a = only_success(&x.auth_events);
        assert!(a.reauthentication);
        assert!(only_success(&x.peer_events).reauthentication);
        // The re-challenge used a new Identifier and the new value.
        let ChapRepr::Challenge {
            identifier, value, ..
        } = ChapRepr::parse_bytes(&x.to_peer[2]).unwrap()
        else {
            panic!()
        };
        assert_eq!(identifier, 2);
        assert_eq!(value, &fresh[..]);
        // With a queued challenge the next round needs no host call.
        x.auth.feed_challenge(x.now, &fresh).unwrap();
        x.auth_events.clear();
        x.peer_events.clear();
        x.fire_next_timer();
        x.run(Some(&store));
        assert!(only_success(&x.auth_events).reauthentication);
    }
    // A failed re-challenge is a final failure.
    let mut x = Exchange::setup(Method::ChapMd5, config, "cisco", pw("cisco"));
    x.run(Some(&store));
    x.auth.feed_challenge(x.now, &[5; 16]).unwrap();
    if let Peer::Chap(p) = &mut x.peer {
        p.set_secret(pw("changed"));
    }
    x.auth_events.clear();
    x.peer_events.clear();
    x.fire_next_timer();
    x.run(Some(&store));
    assert_eq!(
        only_failure(&x.auth_events).reason,
        FailureReason::WrongPassword
    );
}

#[test]
fn machines_ignore_bad_and_foreign_packets() {
    let store = store();
    let junk: [&[u8]; 9] = [
        &[],
        &[2],
        &[2, 1, 0],
        &[2, 1, 0, 3],
        &[2, 1, 0, 200, 1],
        &[2, 1, 0, 6, 16, 0],
        &[9, 1, 0, 4],
        &[7, 1, 0, 4],
        &[1, 1, 0, 5, 0],
    ];
    for method in ALL {
        let mut x = Exchange::setup(method, AuthenticatorConfig::default(), "cisco", pw("cisco"));
        let mut buf = [0u8; 128];
        let _ = x.auth.poll_transmit(x.now, &mut buf);
        for packet in junk {
            x.auth.handle_packet_with(x.now, packet, &store);
            x.peer.handle_packet(x.now, packet);
        }
        assert_eq!(x.auth.poll_event(), None, "{method:?}");
        assert_eq!(x.peer.poll_event(), None, "{method:?}");
        // A Response with the wrong Identifier is ignored.
        if method != Method::Pap {
            let mut response = [0u8; 80];
            let value = [0u8; 49];
            let len = ChapRepr::Response {
                identifier: 99,
                value: if method == Method::ChapMd5 {
                    &value[..16]
                } else {
                    &value
                },
                name: b"cisco",
            }
            .emit(&mut response)
            .unwrap();
            x.auth.handle_packet_with(x.now, &response[..len], &store);
            assert_eq!(x.auth.poll_event(), None);
            // A Success/Failure before any Response is ignored by the peer.
            x.peer.handle_packet(x.now, &[3, 1, 0, 4]);
            x.peer.handle_packet(x.now, &[4, 1, 0, 4]);
            assert_eq!(x.peer.poll_event(), None);
        }
        // The exchange still completes normally afterwards.
        x.run_to_end(Some(&store));
        only_success(&x.auth_events);
        only_success(&x.peer_events);
    }
}

#[test]
fn malformed_response_fails_the_exchange() {
    let store = store();
    for (method, bad_len) in [
        (Method::ChapMd5, 15usize),
        (Method::MsChapV1, 48),
        (Method::MsChapV2, 50),
    ] {
        let mut auth = Authenticator::new(
            method,
            AuthenticatorConfig::default(),
            Instant::ZERO,
            1,
            &challenge_for(method),
        )
        .unwrap();
        let mut buf = [0u8; 128];
        assert!(auth.poll_transmit(Instant::ZERO, &mut buf).is_some());
        let value = vec![0u8; bad_len];
        let len = ChapRepr::Response {
            identifier: 1,
            value: &value,
            name: b"cisco",
        }
        .emit(&mut buf)
        .unwrap();
        let packet = buf[..len].to_vec();
        auth.handle_packet_with(Instant::ZERO, &packet, &store);
        match auth.poll_event() {
            Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::MalformedResponse),
            other => panic!("{method:?}: {other:?}"),
        }
        let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
        assert_eq!(buf[0], 4, "a Failure packet");
        assert!(t.len >= 4);
    }
    // A CHAP name longer than 255 octets.
    let mut auth = Authenticator::new(
        Method::ChapMd5,
        AuthenticatorConfig::default(),
        Instant::ZERO,
        1,
        &[1; 16],
    )
    .unwrap();
    let mut buf = vec![0u8; 400];
    assert!(auth.poll_transmit(Instant::ZERO, &mut buf).is_some());
    let name = [b'n'; 300];
    let len = ChapRepr::Response {
        identifier: 1,
        value: &[0; 16],
        name: &name,
    }
    .emit(&mut buf)
    .unwrap();
    let packet = buf[..len].to_vec();
    auth.handle_packet_with(Instant::ZERO, &packet, &store);
    match auth.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::MalformedResponse),
        other => panic!("{other:?}"),
    }
}

#[test]
fn peer_rejects_challenges_of_the_wrong_size() {
    for (method, len) in [(Method::MsChapV1, 16usize), (Method::MsChapV2, 8)] {
        let mut peer = Peer::new(
            method,
            PeerConfig::default(),
            Instant::ZERO,
            b"u",
            pw("p"),
            0,
            Some(PEER_CHALLENGE),
        )
        .unwrap();
        let mut buf = [0u8; 64];
        let value = vec![1u8; len];
        let n = ChapRepr::Challenge {
            identifier: 1,
            value: &value,
            name: b"",
        }
        .emit(&mut buf)
        .unwrap();
        peer.handle_packet(Instant::ZERO, &buf[..n]);
        match peer.poll_event() {
            Some(Event::Failure(f)) => {
                assert_eq!(f.reason, FailureReason::BadChallenge { length: len })
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(peer.poll_transmit(Instant::ZERO, &mut buf), None);
    }
}

#[test]
fn waits_time_out() {
    // The peer waits 30 s for a Challenge.
    let mut peer = Peer::new(
        Method::MsChapV2,
        PeerConfig::default(),
        Instant::ZERO,
        b"u",
        pw("p"),
        0,
        Some(PEER_CHALLENGE),
    )
    .unwrap();
    assert_eq!(peer.poll_timeout(), Some(Instant::from_millis(30_000)));
    peer.handle_timeout(Instant::from_millis(29_999));
    assert_eq!(peer.poll_event(), None);
    peer.handle_timeout(Instant::from_millis(30_000));
    match peer.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::Timeout),
        other => panic!("{other:?}"),
    }
    // The PAP authenticator waits 30 s for a request.
    let mut auth = Authenticator::new(
        Method::Pap,
        AuthenticatorConfig::default(),
        Instant::ZERO,
        0,
        &[],
    )
    .unwrap();
    assert_eq!(auth.poll_timeout(), Some(Instant::from_millis(30_000)));
    auth.handle_timeout(Instant::from_millis(30_000));
    match auth.poll_event() {
        Some(Event::Failure(f)) => assert_eq!(f.reason, FailureReason::Timeout),
        other => panic!("{other:?}"),
    }
}

#[test]
fn setup_errors_are_typed() {
    let cfg = AuthenticatorConfig::default;
    assert_eq!(
        Authenticator::new(Method::MsChapV1, cfg(), Instant::ZERO, 1, &[0; 16]).err(),
        Some(SetupError::ChallengeLength {
            method: Method::MsChapV1,
            length: 16
        })
    );
    assert_eq!(
        Authenticator::new(Method::MsChapV2, cfg(), Instant::ZERO, 1, &[0; 8]).err(),
        Some(SetupError::ChallengeLength {
            method: Method::MsChapV2,
            length: 8
        })
    );
    assert_eq!(
        Authenticator::new(Method::ChapMd5, cfg(), Instant::ZERO, 1, &[]).err(),
        Some(SetupError::ChallengeLength {
            method: Method::ChapMd5,
            length: 0
        })
    );
    assert_eq!(
        Authenticator::new(Method::ChapMd5, cfg(), Instant::ZERO, 1, &[0; 65]).err(),
        Some(SetupError::ChallengeLength {
            method: Method::ChapMd5,
            length: 65
        })
    );
    let mut auth = Authenticator::new(Method::ChapMd5, cfg(), Instant::ZERO, 1, &[0; 8]).unwrap();
    auth.feed_challenge(Instant::ZERO, &[1; 8]).unwrap();
    auth.feed_challenge(Instant::ZERO, &[2; 8]).unwrap();
    assert_eq!(
        auth.feed_challenge(Instant::ZERO, &[3; 8]),
        Err(SetupError::ChallengeQueueFull)
    );
    assert_eq!(
        auth.verdict(Instant::ZERO, Verdict::Accept(Accept::default())),
        Err(SetupError::NotWaiting)
    );
    assert_eq!(
        Peer::new(
            Method::MsChapV2,
            PeerConfig::default(),
            Instant::ZERO,
            b"u",
            pw("p"),
            0,
            None
        )
        .err(),
        Some(SetupError::MissingPeerChallenge)
    );
    assert_eq!(
        Peer::new(
            Method::Pap,
            PeerConfig::default(),
            Instant::ZERO,
            &[b'u'; 256],
            pw("p"),
            0,
            None
        )
        .err(),
        Some(SetupError::NameTooLong { length: 256 })
    );
}

#[test]
fn small_output_buffer_keeps_the_packet_pending() {
    let mut auth = Authenticator::new(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        Instant::ZERO,
        1,
        &[0; 16],
    )
    .unwrap();
    let mut small = [0u8; 10];
    assert_eq!(auth.poll_transmit(Instant::ZERO, &mut small), None);
    assert_eq!(small, [0; 10], "nothing written");
    let mut buf = [0u8; 64];
    assert_eq!(
        auth.poll_transmit(Instant::ZERO, &mut buf),
        Some(Transmit {
            to: 0xc223,
            len: 21
        })
    );
}

#[test]
fn method_lcp_mapping() {
    for v in vectors(CHAP_PAP, "lcp_auth_option") {
        let value = hex(&v["value"]);
        let protocol = u16::from_be_bytes([value[0], value[1]]);
        let method = Method::from_lcp(protocol, value.get(2).copied()).unwrap();
        assert_eq!(method.protocol(), protocol);
        assert_eq!(method.chap_algorithm(), value.get(2).copied());
    }
    assert_eq!(Method::from_lcp(0xc223, Some(6)), None);
    assert_eq!(Method::from_lcp(0xc023, Some(5)), None);
}

#[test]
fn success_message_roundtrip_through_machines() {
    // The authenticator's Success for MS-CHAPv2 carries "S=… M=<msg>".
    let store = store();
    let config = AuthenticatorConfig {
        success_message: message_from(b"Access granted"),
        ..AuthenticatorConfig::default()
    };
    let mut x = Exchange::setup(Method::MsChapV2, config, "cisco", pw("cisco"));
    x.run(Some(&store));
    let ChapRepr::Success { message, .. } = ChapRepr::parse_bytes(&x.to_peer[1]).unwrap() else {
        panic!()
    };
    let parsed = MsChapV2Success::parse(message).unwrap();
    assert_eq!(parsed.message, Some(&b"Access granted"[..]));
    only_success(&x.peer_events);
}

#[test]
fn events_never_print_secrets() {
    let store = store();
    let mut x = Exchange::setup(
        Method::Pap,
        AuthenticatorConfig::default(),
        "cisco",
        pw("hunter2"),
    );
    x.run(None);
    let text = std::format!("{:?}", x.auth_events);
    assert!(text.contains("redacted"), "{text}");
    assert!(
        !text.contains("hunter2") && !text.contains("104, 117, 110"),
        "{text}"
    );
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.run(Some(&store));
    let text = std::format!("{:?}", x.auth_events);
    assert!(
        text.contains("MppeKeyMaterial::MsChapV2(<redacted>)"),
        "{text}"
    );
}

/// The CHAP lines of the real pppd 2.4.9 session (pptp-linux client,
/// pptpd server) in `tests/data/pppd-mschapv2-mppe128-pppd-client.log`.
struct PppdExchange {
    identifier: u8,
    challenge: Vec<u8>,
    authenticator_name: Vec<u8>,
    response: Vec<u8>,
    username: Vec<u8>,
    success_message: Vec<u8>,
}

fn pppd_exchange() -> PppdExchange {
    let log = include_str!("../../tests/data/pppd-mschapv2-mppe128-pppd-client.log");
    let line = |prefix: &str| {
        log.lines()
            .find_map(|l| l.strip_prefix(prefix))
            .unwrap_or_else(|| panic!("no {prefix} line"))
    };
    // `id=0x9e <hex>, name = "x"]`
    let value_and_name = |rest: &str| {
        let (id, rest) = rest.split_once(' ').unwrap();
        let id = u8::from_str_radix(id.trim_start_matches("id=0x"), 16).unwrap();
        let (hex_value, rest) = rest.trim_start_matches('<').split_once('>').unwrap();
        let name = rest.split('"').nth(1).unwrap();
        let value = hex(&toml::Value::String(hex_value.into()));
        (id, value, name.as_bytes().to_vec())
    };
    let (identifier, challenge, authenticator_name) = value_and_name(line("rcvd [CHAP Challenge "));
    let (response_id, response, username) = value_and_name(line("sent [CHAP Response "));
    assert_eq!(response_id, identifier);
    let success = line("rcvd [CHAP Success ");
    assert!(success.starts_with(&std::format!("id=0x{identifier:02x} ")));
    let success_message = success.split('"').nth(1).unwrap().as_bytes().to_vec();
    PppdExchange {
        identifier,
        challenge,
        authenticator_name,
        response,
        username,
        success_message,
    }
}

/// The lab's secret for `labuser` (shared/lab/conf/chap-secrets and the
/// captures' README entry).
const LAB_PASSWORD: &str = "labpass";

#[test]
fn interop_pppd_client_against_our_authenticator() {
    let pppd = pppd_exchange();
    let mut store: CredentialStore<1> = CredentialStore::new(DomainRule::Exact);
    store
        .insert_password(&pppd.username, LAB_PASSWORD.as_bytes())
        .unwrap();
    let config = AuthenticatorConfig {
        name: Name::from_slice(&pppd.authenticator_name).unwrap(),
        success_message: message_from(b"Access granted"),
        ..AuthenticatorConfig::default()
    };
    let mut auth = Authenticator::new(
        Method::MsChapV2,
        config,
        Instant::ZERO,
        pppd.identifier,
        &pppd.challenge,
    )
    .unwrap();
    let mut buf = [0u8; 256];
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(
        ChapRepr::parse_bytes(&buf[..t.len]).unwrap(),
        ChapRepr::Challenge {
            identifier: pppd.identifier,
            value: &pppd.challenge,
            name: &pppd.authenticator_name,
        }
    );
    // pppd's Response, byte for byte as logged.
    let mut response = [0u8; 128];
    let len = ChapRepr::Response {
        identifier: pppd.identifier,
        value: &pppd.response,
        name: &pppd.username,
    }
    .emit(&mut response)
    .unwrap();
    auth.handle_packet_with(Instant::ZERO, &response[..len], &store);
    assert!(matches!(auth.poll_event(), Some(Event::Success(_))));
    // Our Success is exactly what pptpd sent.
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(
        ChapRepr::parse_bytes(&buf[..t.len]).unwrap(),
        ChapRepr::Success {
            identifier: pppd.identifier,
            message: &pppd.success_message,
        }
    );
}

#[test]
fn interop_our_peer_against_pptpd_authenticator() {
    let pppd = pppd_exchange();
    // Reuse pppd's Peer-Challenge so our Response must equal its own.
    let peer_challenge: [u8; 16] = pppd.response[..16].try_into().unwrap();
    let mut peer = Peer::new(
        Method::MsChapV2,
        PeerConfig::default(),
        Instant::ZERO,
        &pppd.username,
        pw(LAB_PASSWORD),
        0,
        Some(peer_challenge),
    )
    .unwrap();
    let mut packet = [0u8; 128];
    let len = ChapRepr::Challenge {
        identifier: pppd.identifier,
        value: &pppd.challenge,
        name: &pppd.authenticator_name,
    }
    .emit(&mut packet)
    .unwrap();
    peer.handle_packet(Instant::ZERO, &packet[..len]);
    let mut buf = [0u8; 128];
    let t = peer.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    assert_eq!(
        ChapRepr::parse_bytes(&buf[..t.len]).unwrap(),
        ChapRepr::Response {
            identifier: pppd.identifier,
            value: &pppd.response,
            name: &pppd.username,
        }
    );
    // pptpd's Success verifies (mutual authentication).
    let len = ChapRepr::Success {
        identifier: pppd.identifier,
        message: &pppd.success_message,
    }
    .emit(&mut packet)
    .unwrap();
    peer.handle_packet(Instant::ZERO, &packet[..len]);
    match peer.poll_event() {
        Some(Event::Success(s)) => {
            assert!(matches!(
                s.key_material,
                Some(MppeKeyMaterial::MsChapV2 { .. })
            ))
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn external_reject_691_offers_retry_with_its_message() {
    let mut x = Exchange::setup(
        Method::MsChapV2,
        AuthenticatorConfig::default(),
        "cisco",
        pw("cisco"),
    );
    x.auth.feed_challenge(x.now, &[0x66; 16]).unwrap();
    x.run(None);
    take_request(&mut x.auth_events);
    x.auth
        .verdict(
            x.now,
            Verdict::Reject(Reject {
                reason: FailureReason::Rejected { error_code: 691 },
                error_code: 691,
                message: message_from(b"Bad password, try again"),
            }),
        )
        .unwrap();
    x.run(None);
    assert!(x.auth_events.is_empty());
    let ChapRepr::Failure { message, .. } =
        ChapRepr::parse_bytes(x.to_peer.last().unwrap()).unwrap()
    else {
        panic!()
    };
    let f = MsChapFailure::parse(message).unwrap();
    assert!(f.retry);
    assert_eq!(f.message, Some(&b"Bad password, try again"[..]));
    // The retry is a new AuthRequest with the new challenge.
    x.peer_events.clear();
    x.peer.retry(x.now, None).unwrap();
    x.run(None);
    let request = take_request(&mut x.auth_events);
    match request.response {
        AuthResponse::MsChapV2 {
            authenticator_challenge,
            ..
        } => assert_eq!(authenticator_challenge, [0x66; 16]),
        other => panic!("{other:?}"),
    }
}
