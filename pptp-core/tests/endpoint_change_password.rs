//! An expired password changed over a whole PPTP session between two
//! endpoints (MS-CHAPv2 Change-Password, RFC 2759 §7; MS-CHAPv1 Change
//! Password version 2, RFC 2433 code 6): the server's local store gets
//! the new hash, the session comes up with MPPE-128 and carries IP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use ppp_core::auth::{CredentialStore, FailureReason, Method, NtHash, Secret};
use pptp_core::endpoint::{Endpoint, Event};

const NEW_PASSWORD: &[u8] = b"brand-new-pw";

fn expired_pair() -> Pair {
    let mut store = users();
    assert!(store.set_expired(USER, true));
    pair_with(store, None, PASSWORD)
}

/// A pair whose server decides with `store`, asking for `method` only
/// when given (else MS-CHAPv2 then MS-CHAPv1); the client logs in with
/// `password` and may answer a 648.
fn pair_with(store: CredentialStore<8>, method: Option<Method>, password: &[u8]) -> Pair {
    let mut config = server_config();
    if let Some(method) = method {
        config.link.lcp = config.link.lcp.with_auth_required(&[method]);
    }
    let server = Endpoint::server(config, memory(8, 2, 2), TestRandom(1), Some(store)).unwrap();
    let mut config = client_config(password);
    config.link.auth_retry = true;
    let client = Endpoint::client(config, memory(1, 1, 1), TestRandom(2)).unwrap();
    Pair::new(server, client)
}

/// Drives `pair` until the client is told 648.
fn until_expired(pair: &mut Pair) -> pptp_core::endpoint::SessionHandle {
    pair.connect();
    for _ in 0..400 {
        pair.drive_for(25);
        if let Some(session) = told_expired(&pair.client_events) {
            return session;
        }
    }
    panic!(
        "the client is never told 648: {:?} / server {:?}",
        pair.client_events, pair.server_events
    )
}

fn told_expired(events: &[Event]) -> Option<pptp_core::endpoint::SessionHandle> {
    events.iter().find_map(|e| match e {
        Event::AuthFailed {
            session,
            reason:
                FailureReason::RejectedByAuthenticator {
                    error_code: Some(648),
                    ..
                },
            ..
        } => Some(*session),
        _ => None,
    })
}

#[test]
fn expired_password_is_changed_and_the_pptp_session_carries_ip() {
    let mut pair = expired_pair();
    pair.connect();
    let mut session = None;
    for _ in 0..400 {
        pair.drive_for(25);
        session = told_expired(&pair.client_events);
        if session.is_some() {
            break;
        }
    }
    let session = session.expect("the client is told 648");
    assert!(pair.session_up(Side::Client).is_none());
    let now = pair.instant();
    assert!(pair.client.change_password(now, session, NEW_PASSWORD));
    pair.drive_for(3_000);

    let up = pair.session_up(Side::Server).expect("server session up");
    let Event::SessionUp { mppe, .. } = up else {
        unreachable!()
    };
    assert!(mppe.is_some(), "MPPE-128 required by the server");
    assert!(pair.session_up(Side::Client).is_some());
    assert!(pair.server_events.iter().any(
        |e| matches!(e, Event::PasswordChanged { user, stored: true, new_nt_hash, .. }
            if &user[..] == USER
                && *new_nt_hash == NtHash::from_password(NEW_PASSWORD).unwrap())
    ));
    let user = pair.server.verifier().unwrap().lookup(USER).unwrap();
    assert!(!user.expired());
    assert_eq!(
        user.secret(),
        &Secret::NtHash(NtHash::from_password(NEW_PASSWORD).unwrap())
    );

    // IP both ways through the tunnel, encrypted with the new keys.
    let client_address = match pair.session_up(Side::Client).unwrap() {
        Event::SessionUp { address, .. } => address.unwrap(),
        _ => unreachable!(),
    };
    let to_server = Pair::ip_packet(client_address, TUNNEL_LOCAL, 300, 7);
    assert!(pair.client_send_ip(&to_server));
    pair.drive_for(100);
    assert!(pair.server_ip.iter().any(|(_, p)| *p == to_server));
    let to_client = Pair::ip_packet(TUNNEL_LOCAL, client_address, 300, 9);
    assert!(pair.server_send_ip(&to_client));
    pair.drive_for(100);
    assert!(pair.client_ip.contains(&to_client));
}

#[test]
fn change_password_without_a_648_is_refused() {
    let mut pair = Pair::default_pair();
    pair.connect();
    pair.drive_for(3_000);
    let Some(Event::SessionUp { session, .. }) = pair.session_up(Side::Client) else {
        panic!("no session")
    };
    let now = pair.instant();
    assert!(!pair.client.change_password(now, session, NEW_PASSWORD));
}

/// A Windows NT/9x-style MS-CHAPv1 client (RFC 2433): told 648 with a
/// fresh challenge and V=2, it sends Change Password version 2 (code 6);
/// the server's store takes the new hash and the session comes up with
/// MPPE-128 keyed from the new password. Then the new password logs in
/// and the old one is refused.
#[test]
fn expired_ms_chap_v1_password_is_changed_then_the_new_one_logs_in() {
    let mut store = users();
    assert!(store.set_expired(USER, true));
    let mut pair = pair_with(store, Some(Method::MsChapV1), PASSWORD);
    let session = until_expired(&mut pair);
    assert!(pair.session_up(Side::Client).is_none());
    let now = pair.instant();
    assert!(pair.client.change_password(now, session, NEW_PASSWORD));
    pair.drive_for(3_000);

    let Some(Event::SessionUp { mppe, .. }) = pair.session_up(Side::Server) else {
        panic!("server session not up: {:?}", pair.server_events)
    };
    assert!(mppe.is_some(), "MPPE-128 required by the server");
    assert!(pair.session_up(Side::Client).is_some());
    assert!(pair.server_events.iter().any(
        |e| matches!(e, Event::PasswordChanged { user, stored: true, new_nt_hash, .. }
            if &user[..] == USER
                && *new_nt_hash == NtHash::from_password(NEW_PASSWORD).unwrap())
    ));
    let store = pair.server.verifier().unwrap().clone();
    let user = store.lookup(USER).unwrap();
    assert!(!user.expired());
    assert_eq!(
        user.secret(),
        &Secret::NtHash(NtHash::from_password(NEW_PASSWORD).unwrap())
    );
    // IP through the tunnel, encrypted with the keys of the new password.
    let client_address = match pair.session_up(Side::Client).unwrap() {
        Event::SessionUp { address, .. } => address.unwrap(),
        _ => unreachable!(),
    };
    let to_server = Pair::ip_packet(client_address, TUNNEL_LOCAL, 300, 7);
    assert!(pair.client_send_ip(&to_server));
    pair.drive_for(100);
    assert!(pair.server_ip.iter().any(|(_, p)| *p == to_server));

    // A new call with the new password: up, no 648.
    let mut again = pair_with(store.clone(), Some(Method::MsChapV1), NEW_PASSWORD);
    again.connect();
    again.drive_for(3_000);
    assert!(matches!(
        again.session_up(Side::Server),
        Some(Event::SessionUp { mppe: Some(_), .. })
    ));
    assert!(told_expired(&again.client_events).is_none());
    // The old password is refused (691), not offered a change.
    let mut old = pair_with(store, Some(Method::MsChapV1), PASSWORD);
    old.connect();
    old.drive_for(3_000);
    assert!(old.session_up(Side::Server).is_none());
    assert!(told_expired(&old.client_events).is_none());
    assert!(old.client_events.iter().any(|e| matches!(
        e,
        Event::AuthFailed {
            reason: FailureReason::RejectedByAuthenticator {
                error_code: Some(691),
                ..
            },
            ..
        }
    )));
}
