//! MS-CHAPv1 password change (RFC 2433 "Failure Packet" E=648 and the
//! "Change Password Packet" versions 1 and 2, codes 5 and 6): the expired
//! account, the Failure offering the change, the packets, the store
//! update. Packet and crypto values come from
//! tests/data/mschapv1_change_password.toml (computed independently in
//! Python: see its .py).

extern crate std;

use std::vec::Vec;

use super::aaa::verify_with_secret;
use super::change_password_tests::{failure_text, pump};
use super::testdata::{hex, hex_n, vectors};
use super::*;
use crate::wire::auth::{MsChapFailure, MsChapV1ChangePassword, MsChapV1ChangePasswordV1};

const FILE: &str = include_str!("../../tests/data/mschapv1_change_password.toml");
const FIRST_CHALLENGE: [u8; 8] = [0x11; 8];

fn vector(id: &str) -> toml::Table {
    vectors(FILE, "mschapv1_change_password_v2")
        .into_iter()
        .chain(vectors(FILE, "mschapv1_change_password_v1"))
        .find(|v| v["id"].as_str() == Some(id))
        .unwrap()
}

fn expired_store() -> CredentialStore<4> {
    let mut store = CredentialStore::new(DomainRule::default());
    store.insert_password(b"User", b"clientPass").unwrap();
    assert!(store.set_expired(b"User", true));
    store
}

/// An MS-CHAPv1 authenticator whose first Challenge has `identifier`, so
/// the Change Password answering its 648 Failure has `identifier + 1`.
fn authenticator(identifier: u8) -> Authenticator {
    let config = AuthenticatorConfig {
        max_retries: 0,
        ..AuthenticatorConfig::default()
    };
    Authenticator::new(
        Method::MsChapV1,
        config,
        Instant::ZERO,
        identifier,
        &FIRST_CHALLENGE,
    )
    .unwrap()
}

fn peer(password: &[u8]) -> Peer {
    Peer::new(
        Method::MsChapV1,
        PeerConfig::default(),
        Instant::ZERO,
        b"User",
        Secret::password(password).unwrap(),
        0,
        None,
    )
    .unwrap()
}

/// Up to the E=648 Failure, whose C= is `challenge`; checks it offers
/// the version 2 packet (V=2) and that the peer was told 648.
fn up_to_expired(
    auth: &mut Authenticator,
    peer: &mut Peer,
    store: &CredentialStore<4>,
    challenge: [u8; 8],
) {
    let (mut a, mut p) = (Vec::new(), Vec::new());
    pump(auth, peer, Some(store), &mut a, &mut p);
    assert_eq!(a, [Event::ChallengeNeeded]);
    auth.feed_challenge(Instant::ZERO, &challenge).unwrap();
    let (mut a, mut p) = (Vec::new(), Vec::new());
    let sent = pump(auth, peer, Some(store), &mut a, &mut p);
    assert!(a.is_empty(), "the authenticator waits: {a:?}");
    assert_eq!(sent.len(), 1);
    let (_, text) = failure_text(&sent[0]);
    let failure = MsChapFailure::parse(&text).unwrap();
    assert_eq!(failure.error, 648);
    assert!(!failure.retry);
    assert_eq!(
        failure.challenge.map(|c| c.as_bytes().to_vec()),
        Some(challenge.to_vec())
    );
    assert_eq!(failure.version, Some(2), "asks for the version 2 packet");
    assert!(matches!(
        p.last(),
        Some(Event::Failure(Failure {
            reason: FailureReason::RejectedByAuthenticator {
                error_code: Some(648),
                ..
            },
            ..
        }))
    ));
}

fn login(store: &CredentialStore<4>, password: &[u8]) -> Option<Event> {
    let (mut auth, mut peer) = (authenticator(1), peer(password));
    let (mut a, mut p) = (Vec::new(), Vec::new());
    pump(&mut auth, &mut peer, Some(store), &mut a, &mut p);
    a.pop()
}

fn fill(v: &toml::Table) -> [u8; crypto::PW_BLOCK_PASSWORD_LEN] {
    hex_n(&v["fill"])
}

#[test]
fn expired_user_changes_password_with_code_6_then_logs_in_with_the_new_one() {
    let v = vector("cpw1-v2-nt-only");
    let challenge: [u8; 8] = hex_n(&v["challenge"]);
    let new_password = v["new_password"].as_str().unwrap().as_bytes();
    let new_hash: [u8; 16] = hex_n(&v["new_password_hash"]);
    let mut store = expired_store();
    // Identifier 2: the vector's packet (3) answers the Failure's.
    let (mut auth, mut peer) = (authenticator(2), peer(b"clientPass"));
    up_to_expired(&mut auth, &mut peer, &store, challenge);

    peer.change_password(Instant::ZERO, new_password, [0; 16], &fill(&v))
        .unwrap();
    let mut buf = [0u8; 1500];
    let t = peer.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    // Byte for byte the independently computed packet.
    assert_eq!(&buf[..t.len], &hex(&v["packet"])[..]);

    auth.handle_packet_with(Instant::ZERO, &buf[..t.len], &store);
    let Some(Event::PasswordChanged(change)) = auth.poll_event() else {
        panic!("no PasswordChanged")
    };
    assert_eq!(change.new_nt_hash, NtHash::from_bytes(new_hash));
    let key = Some(MppeKeyMaterial::MsChapV1 {
        password_hash_hash: crypto::hash_nt_password_hash(&new_hash),
        lm_hash_prefix: None,
        challenge,
    });
    let Some(Event::Success(success)) = auth.poll_event() else {
        panic!("no Success")
    };
    assert_eq!(success.key_material, key);
    let t = auth.poll_transmit(Instant::ZERO, &mut buf).unwrap();
    peer.handle_packet(Instant::ZERO, &buf[..t.len]);
    let Some(Event::Success(peer_success)) = peer.poll_event() else {
        panic!("the peer got no Success")
    };
    assert_eq!(peer_success.key_material, key, "both sides key alike");

    // The host stores the hash: the new password logs in, the old not.
    assert!(store.store_password_change(&change));
    assert!(matches!(
        login(&store, new_password),
        Some(Event::Success(_))
    ));
    assert!(matches!(
        login(&store, b"clientPass"),
        Some(Event::Failure(Failure {
            reason: FailureReason::WrongPassword,
            ..
        }))
    ));
}

#[test]
fn a_change_under_a_wrong_old_password_is_refused_with_691() {
    let v = vector("cpw1-v2-nt-only");
    let store = expired_store();
    let (mut auth, mut peer) = (authenticator(2), peer(b"clientPass"));
    up_to_expired(&mut auth, &mut peer, &store, hex_n(&v["challenge"]));
    // The peer encrypts under a hash that is not the stored one.
    let Peer::Chap(chap) = &mut peer else {
        unreachable!()
    };
    chap.set_secret(Secret::password(b"notThePass").unwrap());
    peer.change_password(Instant::ZERO, b"newPass1", [0; 16], &fill(&v))
        .unwrap();
    let (mut a, mut p) = (Vec::new(), Vec::new());
    let sent = pump(&mut auth, &mut peer, Some(&store), &mut a, &mut p);
    assert!(matches!(
        a.as_slice(),
        [Event::Failure(Failure {
            reason: FailureReason::WrongPassword,
            ..
        })]
    ));
    let (identifier, text) = failure_text(sent.last().unwrap());
    assert_eq!(identifier, 3);
    let failure = MsChapFailure::parse(&text).unwrap();
    assert_eq!((failure.error, failure.retry), (691, false), "final");
    assert!(matches!(
        p.last(),
        Some(Event::Failure(Failure {
            reason: FailureReason::RejectedByAuthenticator {
                error_code: Some(691),
                retry_allowed: false
            },
            ..
        }))
    ));
}

/// Feeds `packet` to an authenticator that offered the change (Failure
/// Identifier `identifier - 1`, C= `challenge`) and returns its events.
fn judge(packet: &[u8], challenge: [u8; 8], store: &CredentialStore<4>) -> Vec<Event> {
    let identifier = packet[1].wrapping_sub(1);
    let (mut auth, mut peer) = (authenticator(identifier), peer(b"clientPass"));
    up_to_expired(&mut auth, &mut peer, store, challenge);
    auth.handle_packet_with(Instant::ZERO, packet, store);
    let mut events = Vec::new();
    while let Some(e) = auth.poll_event() {
        events.push(e);
    }
    events
}

#[test]
fn a_code_5_change_is_verified_from_the_hashes() {
    let v = vector("cpw1-v1");
    let challenge: [u8; 8] = hex_n(&v["challenge"]);
    let new_hash: [u8; 16] = hex_n(&v["new_password_hash"]);
    let packet = hex(&v["packet"]);
    let events = judge(&packet, challenge, &expired_store());
    match events.as_slice() {
        [Event::PasswordChanged(change), Event::Success(success)] => {
            assert_eq!(change.new_nt_hash, NtHash::from_bytes(new_hash));
            assert_eq!(
                success.key_material,
                Some(MppeKeyMaterial::MsChapV1 {
                    password_hash_hash: crypto::hash_nt_password_hash(&new_hash),
                    lm_hash_prefix: None,
                    challenge,
                })
            );
        }
        other => panic!("{other:?}"),
    }
    // The old hash under the new one is the proof: a changed octet, or
    // the new hash under another old one, is a wrong password.
    for offset in [4 + 32, 4 + 48 + 15] {
        let mut bad = packet.clone();
        bad[offset] ^= 0x01;
        assert!(
            matches!(
                judge(&bad, challenge, &expired_store()).as_slice(),
                [Event::Failure(Failure {
                    reason: FailureReason::WrongPassword,
                    ..
                })]
            ),
            "offset {offset}"
        );
    }
    // Only the LM hashes valid (flag clear): refused, as an LM-only
    // Response is (RFC 2433 §12).
    let mut lm_only = packet.clone();
    lm_only[71] = 0;
    assert!(MsChapV1ChangePasswordV1::parse_bytes(&lm_only).is_ok());
    assert!(matches!(
        judge(&lm_only, challenge, &expired_store()).as_slice(),
        [Event::Failure(Failure {
            reason: FailureReason::LmResponseRefused,
            ..
        })]
    ));
}

#[test]
fn a_tampered_code_6_is_refused() {
    let v = vector("cpw1-v2-nt-only");
    let challenge: [u8; 8] = hex_n(&v["challenge"]);
    let packet = hex(&v["packet"]);
    // Encrypted-Password (in the password, in its length; the fill
    // before the password carries nothing), Encrypted-Hash, NT-Response.
    for offset in [4 + 499, 4 + 513, 4 + 516 + 3, 4 + 1088 + 23] {
        let mut bad = packet.clone();
        bad[offset] ^= 0x80;
        assert!(
            matches!(
                judge(&bad, challenge, &expired_store()).as_slice(),
                [Event::Failure(Failure {
                    reason: FailureReason::WrongPassword,
                    ..
                })]
            ),
            "offset {offset}"
        );
    }
    // The right packet over another challenge: its NT-Response is wrong.
    assert!(matches!(
        judge(&packet, [0x5a; 8], &expired_store()).as_slice(),
        [Event::Failure(Failure {
            reason: FailureReason::WrongPassword,
            ..
        })]
    ));
    let mut lm_only = packet;
    lm_only[1117] = 0;
    assert!(matches!(
        judge(&lm_only, challenge, &expired_store()).as_slice(),
        [Event::Failure(Failure {
            reason: FailureReason::LmResponseRefused,
            ..
        })]
    ));
}

/// A Windows 9x/NT packet with its LM fields filled: they are ignored,
/// the NT part decides.
#[test]
fn the_lm_fields_of_a_code_6_are_ignored() {
    let v = vector("cpw1-v2-with-lm");
    let packet = MsChapV1ChangePassword::parse_bytes(&hex(&v["packet"])).unwrap();
    let request = AuthRequest {
        method: Method::MsChapV1,
        username: name_from(b"User").unwrap(),
        identifier: packet.identifier,
        response: AuthResponse::MsChapV1ChangePassword {
            challenge: hex_n(&v["challenge"]),
            packet,
        },
    };
    let Verdict::Accept(accept) = verify_with_secret(&request, &Secret::password(b"MyPw").unwrap())
    else {
        panic!("refused")
    };
    assert_eq!(
        accept.new_nt_hash,
        Some(NtHash::from_bytes(hex_n(&v["new_password_hash"])))
    );
    assert_eq!(
        verify_with_secret(&request, &Secret::password(b"mypw").unwrap()),
        Verdict::reject(FailureReason::WrongPassword)
    );
}

/// RADIUS's MS-CHAP-Error E=648 (`Rejected { 648 }`) offers the change
/// too; the Change Password then goes to the AAA server as a request
/// (RADIUS MS-CHAP-CPW-2, `aaa::bridge`), whose Accept ends it.
#[test]
fn an_external_648_offers_the_change_and_gets_the_change_request() {
    let v = vector("cpw1-v2-nt-only");
    let challenge: [u8; 8] = hex_n(&v["challenge"]);
    let (mut auth, mut peer) = (authenticator(2), peer(b"clientPass"));
    let (mut a, mut p) = (Vec::new(), Vec::new());
    pump(&mut auth, &mut peer, None, &mut a, &mut p);
    assert!(matches!(a.pop(), Some(Event::AuthRequest(_))));
    auth.verdict(Instant::ZERO, aaa_rejection(648)).unwrap();
    assert_eq!(auth.poll_event(), Some(Event::ChallengeNeeded));
    auth.feed_challenge(Instant::ZERO, &challenge).unwrap();
    let sent = pump(&mut auth, &mut peer, None, &mut a, &mut p);
    let (_, text) = failure_text(&sent[0]);
    let failure = MsChapFailure::parse(&text).unwrap();
    assert_eq!(failure.error, 648);
    assert_eq!(failure.version, Some(2));
    peer.change_password(
        Instant::ZERO,
        v["new_password"].as_str().unwrap().as_bytes(),
        [0; 16],
        &fill(&v),
    )
    .unwrap();
    let (mut a, mut p) = (Vec::new(), Vec::new());
    pump(&mut auth, &mut peer, None, &mut a, &mut p);
    let Some(Event::AuthRequest(request)) = a.pop() else {
        panic!("no change request: {a:?}")
    };
    assert_eq!(&request.username[..], b"User");
    assert_eq!(request.identifier, 3);
    let AuthResponse::MsChapV1ChangePassword {
        challenge: asked,
        packet,
    } = &request.response
    else {
        panic!("{:?}", request.response)
    };
    assert_eq!(*asked, challenge);
    assert_eq!(packet.nt_response, hex_n::<24>(&v["nt_response"]));
    // The AAA server accepts: Success, no PasswordChanged (it stored it).
    auth.verdict(Instant::ZERO, Verdict::Accept(Accept::default()))
        .unwrap();
    assert!(matches!(auth.poll_event(), Some(Event::Success(_))));
    assert_eq!(auth.poll_event(), None);
}

fn aaa_rejection(code: u32) -> Verdict {
    Verdict::Reject(Reject {
        reason: FailureReason::Rejected { error_code: code },
        error_code: code,
        message: Message::new(),
    })
}

#[test]
fn a_hash_only_user_with_an_lm_hash_gets_lm_key_material() {
    let mut store: CredentialStore<4> = CredentialStore::new(DomainRule::default());
    let nt = NtHash::from_password(b"clientPass").unwrap();
    store.insert(b"User", Secret::NtHash(nt)).unwrap();
    let lm = LmHash::from_password(b"clientPass");
    let lm_prefix = |store: &CredentialStore<4>| match login(store, b"clientPass") {
        Some(Event::Success(Success {
            key_material: Some(MppeKeyMaterial::MsChapV1 { lm_hash_prefix, .. }),
            ..
        })) => lm_hash_prefix,
        other => panic!("{other:?}"),
    };
    assert_eq!(lm_prefix(&store), None, "no LM hash without one given");
    store.set_lm_hash(b"User", Some(lm.clone())).unwrap();
    assert_eq!(lm_prefix(&store), Some(lm.prefix()));
    // As for a cleartext password: `lm_hashes = false` keeps it out.
    store.refuse_lm_hashes(true);
    assert_eq!(lm_prefix(&store), None);
}
