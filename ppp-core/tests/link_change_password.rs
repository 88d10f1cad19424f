//! An expired password changed in-band (MS-CHAPv2 Change-Password, RFC
//! 2759 §6-§7) between a client and a server [`Link`]: the session comes
//! up with MPPE keys from the new password and data flows; the store
//! keeps the new hash.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod link_support;

use link_support::*;
use ppp_core::auth::{FailureReason, Method, NtHash, Secret};
use ppp_core::link::{EndReason, LinkEvent};
use ppp_core::time::Duration;

const NEW_PASSWORD: &[u8] = b"n3w-Secret";

fn told_expired(events: &[LinkEvent]) -> bool {
    events.iter().any(|e| {
        matches!(
            e,
            LinkEvent::AuthFailed {
                method: Method::MsChapV2,
                reason: FailureReason::RejectedByAuthenticator {
                    error_code: Some(648),
                    ..
                },
            }
        )
    })
}

#[test]
fn expired_password_is_changed_and_the_encrypted_session_comes_up() {
    let mut client = client_config(PASSWORD);
    client.auth_retry = true;
    let mut pair = Pair::new(server_config(), client);
    assert!(pair.store.set_expired(USER, true));
    pair.open();
    assert!(pair.run_until(Duration::from_secs(30), |p| told_expired(&p.client_events)));
    assert_eq!(
        pair.client.end_reason(),
        None,
        "the client waits for its host"
    );
    assert_eq!(
        pair.server.end_reason(),
        None,
        "the server waits for the change"
    );

    let now = pair.now;
    pair.client
        .change_password(now, NEW_PASSWORD, [0x44; 16], &[0x99; 512])
        .unwrap();
    pair.run_until(Duration::from_secs(30), |p| {
        p.server.is_data_ready() && p.client.is_data_ready()
    });
    assert!(
        pair.server.is_data_ready() && pair.client.is_data_ready(),
        "server {:?}\nclient {:?}",
        pair.server_events,
        pair.client_events
    );
    let changed = pair
        .server_events
        .iter()
        .position(|e| *e == LinkEvent::PasswordChanged)
        .expect("PasswordChanged");
    let authenticated = pair
        .server_events
        .iter()
        .position(|e| matches!(e, LinkEvent::Authenticated { .. }))
        .unwrap();
    assert!(changed < authenticated);
    let user = pair.store.lookup(USER).unwrap();
    assert!(!user.expired());
    assert_eq!(
        user.secret(),
        &Secret::NtHash(NtHash::from_password(NEW_PASSWORD).unwrap())
    );

    // MPPE keys on both sides come from the new password: data crosses.
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, LinkEvent::CcpUp(Some(_)))));
    for (i, len) in [20usize, 576, 1400].into_iter().enumerate() {
        let ip = ip_packet(len, i as u8);
        let (wire, got) = pair.client_to_server(&ip);
        assert_eq!(frame_protocol(&wire), 0x00fd, "MPPE");
        assert_eq!(got.unwrap(), ip);
        let ip = ip_packet(len, 50 + i as u8);
        assert_eq!(pair.server_to_client(&ip).1.unwrap(), ip);
    }

    // A later login: the new password works, the old one is refused.
    let store = pair.store.clone();
    let mut again = Pair::new(server_config(), client_config(NEW_PASSWORD));
    again.store = store.clone();
    again.establish();
    let mut old = Pair::new(server_config(), client_config(PASSWORD));
    old.store = store;
    old.open();
    old.run_until_down();
    assert_eq!(
        old.server_down(),
        Some(EndReason::AuthFailed(FailureReason::WrongPassword))
    );
}

#[test]
fn a_client_without_a_host_to_ask_ends_at_648() {
    // auth_retry off (the default): nobody can supply a new password.
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    assert!(pair.store.set_expired(USER, true));
    pair.open();
    pair.run_until_down();
    assert_eq!(
        pair.client_down(),
        Some(EndReason::AuthFailed(
            FailureReason::RejectedByAuthenticator {
                error_code: Some(648),
                retry_allowed: false,
            }
        ))
    );
    // The server was waiting for the change; the client's Terminate ends it.
    assert!(
        matches!(pair.server_down(), Some(EndReason::Lcp(_))),
        "{:?}",
        pair.server_events
    );
    assert!(pair.store.lookup(USER).unwrap().expired());
}
