//! An expired password changed over a whole PPTP session between two
//! endpoints (MS-CHAPv2 Change-Password, RFC 2759 §7): the server's local
//! store gets the new hash, the session comes up with MPPE-128 and
//! carries IP.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod endpoint_support;

use endpoint_support::*;
use ppp_core::auth::{FailureReason, NtHash, Secret};
use pptp_core::endpoint::{Endpoint, Event};

const NEW_PASSWORD: &[u8] = b"brand-new-pw";

fn expired_pair() -> Pair {
    let mut store = users();
    assert!(store.set_expired(USER, true));
    let server =
        Endpoint::server(server_config(), memory(8, 2, 2), TestRandom(1), Some(store)).unwrap();
    let mut config = client_config(PASSWORD);
    config.link.auth_retry = true;
    let client = Endpoint::client(config, memory(1, 1, 1), TestRandom(2)).unwrap();
    Pair::new(server, client)
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
