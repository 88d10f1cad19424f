//! Client and server links over an in-memory wire: LCP → authentication →
//! IPCP + CCP, then IP packets both ways.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::type_complexity)]

mod link_support;

use std::net::Ipv4Addr;

use link_support::*;
use ppp_core::auth::{FailureReason, Method};
use ppp_core::link::{EndReason, KeyStrength, LinkEvent, MppeMode, Phase};
use ppp_core::time::Duration;

fn mppe_up(events: &[LinkEvent]) -> Option<ppp_core::link::MppeInfo> {
    events.iter().find_map(|e| match e {
        LinkEvent::CcpUp(info) => Some(*info),
        _ => None,
    })?
}

fn exchange_both_ways(pair: &mut Pair, encrypted: bool) {
    for (i, len) in [20usize, 64, 576, 1400].into_iter().enumerate() {
        let ip = ip_packet(len, i as u8);
        let (wire, got) = pair.client_to_server(&ip);
        assert_eq!(got.unwrap(), ip, "client → server, {len} octets");
        let proto = frame_protocol(&wire);
        if encrypted {
            assert_eq!(proto, 0x00fd, "client frame is MPPE");
            assert!(
                !contains(&wire, &ip[4..20]),
                "plaintext visible on the wire"
            );
        } else {
            assert_eq!(proto, 0x0021);
            assert!(wire.ends_with(&ip));
        }
        let ip = ip_packet(len, 100 + i as u8);
        let (wire, got) = pair.server_to_client(&ip);
        assert_eq!(got.unwrap(), ip, "server → client, {len} octets");
        assert_eq!(
            frame_protocol(&wire),
            if encrypted { 0x00fd } else { 0x0021 }
        );
        if encrypted {
            assert!(!contains(&wire, &ip[4..20]));
        }
    }
}

#[test]
fn mschapv2_mppe128_stateless_by_default_and_ip_flows_encrypted() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    // Phases in order on the server.
    let phases: Vec<Phase> = pair
        .server_events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::Phase(p) => Some(*p),
            _ => None,
        })
        .collect();
    assert_eq!(
        phases,
        [Phase::Establish, Phase::Authenticate, Phase::Network]
    );
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        LinkEvent::Authenticated {
            method: Method::MsChapV2,
            ..
        }
    )));
    assert_eq!(pair.server.username(), USER);
    assert_eq!(pair.client.username(), USER);
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        LinkEvent::Authenticated {
            method: Method::MsChapV2,
            ..
        }
    )));
    // IPCP: pool address, our address, DNS.
    let client_ipcp = pair.client.ipcp_negotiated();
    assert_eq!(
        client_ipcp.local_address,
        Some(Ipv4Addr::new(172, 16, 1, 1))
    );
    assert_eq!(client_ipcp.peer_address, Some(Ipv4Addr::new(99, 99, 99, 2)));
    assert_eq!(client_ipcp.dns, [Some(Ipv4Addr::new(10, 0, 0, 53)), None]);
    assert_eq!(
        pair.server.assigned_peer_address(),
        Some(Ipv4Addr::new(172, 16, 1, 1))
    );
    assert!(pair
        .client_events
        .iter()
        .any(|e| matches!(e, LinkEvent::IpcpUp(n) if n.local_address == Some(Ipv4Addr::new(172, 16, 1, 1)))));
    // CCP: MPPE-128 stateless both ways, both ends.
    for events in [&pair.server_events, &pair.client_events] {
        let info = mppe_up(events).expect("MPPE agreed");
        for dir in [info.send, info.receive] {
            assert_eq!(dir.strength, KeyStrength::Bits128);
            assert_eq!(dir.mode, MppeMode::Stateless);
        }
        assert!(events.iter().any(|e| matches!(e, LinkEvent::DataReady)));
    }
    // ACFC and PFC agreed: data frames start with the 1-octet 0xfd.
    assert!(
        pair.now.as_millis() <= 1_000,
        "no retransmission needed: set up at {} ms",
        pair.now.as_millis()
    );
    let (wire, _) = pair.client_to_server(&ip_packet(40, 9));
    assert_eq!(
        wire[0], 0xfd,
        "ACFC + PFC: the frame starts with the 1-octet protocol"
    );
    let (wire, _) = pair.server_to_client(&ip_packet(40, 9));
    assert_eq!(wire[0], 0xfd);
    exchange_both_ways(&mut pair, true);
    let stats = pair.server.mppe_stats().unwrap();
    assert_eq!(stats.send.packets, 5);
    assert_eq!(stats.receive.packets, 5);
    let c = pair.server.counters();
    assert_eq!(c.ip_in, 5);
    assert_eq!(c.ip_out, 5);
    assert_eq!(c.dropped(), 0, "{c:?}");
    // Plaintext IP is refused once MPPE is active.
    let mut plain = vec![0x21];
    plain.extend_from_slice(&ip_packet(40, 1));
    let now = pair.now;
    assert_eq!(
        pair.server.handle_frame(now, &mut plain),
        Err(ppp_core::link::Error::PlaintextRefused)
    );
    // Admin close: both end, reasons typed.
    pair.server.close(now, EndReason::AdminClose);
    pair.run_until_down();
    assert_eq!(pair.server_down(), Some(EndReason::AdminClose));
    assert_eq!(pair.client_down(), Some(EndReason::PeerTerminated));
    // Nothing after the final Down.
    assert!(matches!(
        pair.server_events.last(),
        Some(LinkEvent::Down(_))
    ));
    assert!(matches!(
        pair.client_events.last(),
        Some(LinkEvent::Down(_))
    ));
}

fn run_method(method: Method, encrypted: bool) {
    let mut server = server_config();
    server.lcp = server.lcp.with_auth_required(&[method]);
    let mut pair = Pair::new(server, client_config(PASSWORD));
    pair.establish();
    assert!(
        pair.server_events.iter().any(|e| matches!(e,
            LinkEvent::Authenticated { method: m, .. } if *m == method)),
        "{method:?}"
    );
    assert_eq!(
        mppe_up(&pair.server_events).is_some(),
        encrypted,
        "{method:?}"
    );
    exchange_both_ways(&mut pair, encrypted);
}

#[test]
fn pap_runs_without_mppe() {
    run_method(Method::Pap, false);
}

#[test]
fn chap_md5_runs_without_mppe() {
    run_method(Method::ChapMd5, false);
}

#[test]
fn mschapv1_runs_with_mppe() {
    run_method(Method::MsChapV1, true);
}

#[test]
fn mppe_strength_and_mode_matrix() {
    use mppe::{ModePreference, Strengths};
    use ppp_core::link::MppePolicy;
    for strength in [
        KeyStrength::Bits40,
        KeyStrength::Bits56,
        KeyStrength::Bits128,
    ] {
        for (mode, pref) in [
            (MppeMode::Stateless, ModePreference::StatelessOnly),
            (MppeMode::Stateful, ModePreference::StatefulOnly),
        ] {
            let policy = MppePolicy {
                strengths: Strengths::only(strength),
                mode: pref,
                ..MppePolicy::disabled()
            };
            let mut server = server_config();
            server.mppe = policy;
            let mut client = client_config(PASSWORD);
            client.mppe = MppePolicy {
                strengths: Strengths::ALL,
                mode: ModePreference::PreferStateless,
                ..MppePolicy::disabled()
            };
            let mut pair = Pair::new(server, client);
            pair.establish();
            for events in [&pair.server_events, &pair.client_events] {
                let info = mppe_up(events).expect("MPPE agreed");
                for dir in [info.send, info.receive] {
                    assert_eq!((dir.strength, dir.mode), (strength, mode));
                }
            }
            exchange_both_ways(&mut pair, true);
        }
    }
}

#[test]
fn mppe_off_both_sides_runs_plaintext() {
    let mut server = server_config();
    server.mppe = ppp_core::link::MppePolicy::disabled();
    let mut client = client_config(PASSWORD);
    client.mppe = ppp_core::link::MppePolicy::disabled();
    let mut pair = Pair::new(server, client);
    pair.establish();
    assert_eq!(mppe_up(&pair.server_events), None);
    assert!(pair
        .server_events
        .iter()
        .any(|e| matches!(e, LinkEvent::CcpUp(None))));
    exchange_both_ways(&mut pair, false);
}

#[test]
fn wrong_password_ends_both_sides_with_691() {
    let mut pair = Pair::new(server_config(), client_config(b"wrong"));
    pair.open();
    pair.run_until_down();
    let s = pair.server_down().unwrap();
    let c = pair.client_down().unwrap();
    assert_eq!(s, EndReason::AuthFailed(FailureReason::WrongPassword));
    assert_eq!(s.windows_error(), Some(691));
    assert!(matches!(c, EndReason::AuthFailed(_)), "{c:?}");
    assert_eq!(c.windows_error(), Some(691));
    assert!(pair
        .server_events
        .iter()
        .any(|e| matches!(e, LinkEvent::AuthFailed { .. })));
    assert!(!pair
        .server_events
        .iter()
        .any(|e| matches!(e, LinkEvent::IpcpUp(_))));
}

#[test]
fn no_common_auth_method_ends_with_732() {
    let mut server = server_config();
    server.lcp = server.lcp.with_auth_required(&[Method::MsChapV2]);
    let mut client = client_config(PASSWORD);
    client.lcp = client.lcp.with_auth_allowed(&[Method::Pap]);
    let mut pair = Pair::new(server, client);
    pair.open();
    pair.run_until_down();
    assert_eq!(pair.server_down(), Some(EndReason::NoCommonAuth));
    assert_eq!(pair.client_down(), Some(EndReason::NoCommonAuth));
    assert_eq!(EndReason::NoCommonAuth.windows_error(), Some(732));
}

/// LCP's reasons are nested in the link's, not mapped: each LCP reason is
/// `EndReason::Lcp(r)`, its constant names the same value (and matches as a
/// pattern), and the texts hosts log are the ones they were before the
/// nesting.
#[test]
fn end_reasons_nest_lcp_reasons_and_keep_their_texts() {
    use ppp_core::lcp;
    let lcp_reasons = [
        (lcp::EndReason::AdminClose, EndReason::AdminClose),
        (lcp::EndReason::PeerTerminated, EndReason::PeerTerminated),
        (lcp::EndReason::NoCommonAuth, EndReason::NoCommonAuth),
        (lcp::EndReason::KeepaliveLost, EndReason::KeepaliveLost),
        (lcp::EndReason::Loopback, EndReason::Loopback),
        (
            lcp::EndReason::NegotiationTimeout,
            EndReason::NegotiationTimeout,
        ),
        (lcp::EndReason::PeerRejectedLcp, EndReason::PeerRejectedLcp),
        (lcp::EndReason::LowerLayerDown, EndReason::LowerLayerDown),
    ];
    for (inner, named) in lcp_reasons {
        assert_eq!(EndReason::from(inner), EndReason::Lcp(inner));
        assert_eq!(named, EndReason::Lcp(inner));
        assert_eq!(named.description(), inner.description());
        assert_eq!(named.windows_error(), inner.windows_error());
        assert_eq!(named.to_string(), inner.to_string());
    }
    assert!(matches!(
        EndReason::Lcp(lcp::EndReason::AdminClose),
        EndReason::AdminClose
    ));
    let texts = [
        (EndReason::AdminClose, "administrative close"),
        (EndReason::PeerTerminated, "peer terminated the link"),
        (
            EndReason::NoCommonAuth,
            "error 732: could not agree on PPP control protocols",
        ),
        (
            EndReason::AuthFailed(FailureReason::Timeout),
            "error 718: authentication failed",
        ),
        (
            EndReason::KeepaliveLost,
            "peer not responding to echo requests",
        ),
        (EndReason::Loopback, "link is looped back"),
        (
            EndReason::NegotiationTimeout,
            "error 718: LCP negotiation timed out",
        ),
        (EndReason::PeerRejectedLcp, "peer rejected LCP"),
        (EndReason::LowerLayerDown, "lower layer down"),
        (
            EndReason::MppeRequiredNotActive,
            "error 742: mppe required but not active",
        ),
        (
            EndReason::EncryptionRefused,
            "error 742: peer requires encryption we do not provide",
        ),
        (
            EndReason::NoAddress,
            "error 720: no IP address available for the peer",
        ),
        (EndReason::IpcpFailed, "error 720: IPCP negotiation failed"),
    ];
    for (reason, text) in texts {
        assert_eq!(reason.to_string(), text);
    }
}

#[test]
fn server_requiring_mppe_ends_when_client_refuses() {
    let mut server = server_config();
    server.mppe = ppp_core::link::MppePolicy::pix(ppp_core::link::PixEncryption::Bits128, true);
    let mut client = client_config(PASSWORD);
    client.mppe = ppp_core::link::MppePolicy::disabled();
    let mut pair = Pair::new(server, client);
    pair.open();
    pair.run_until_down();
    let reason = pair.server_down().unwrap();
    assert_eq!(reason, EndReason::MppeRequiredNotActive);
    assert_eq!(
        reason.to_string(),
        "error 742: mppe required but not active"
    );
    assert!(!pair
        .server_events
        .iter()
        .any(|e| matches!(e, LinkEvent::DataReady)));
    // The Terminate-Request carries the PIX's text.
    assert!(pair
        .wire
        .iter()
        .any(|(d, f)| *d == Dir::ToClient && contains(f, b"mppe required but not active")));
}

#[test]
fn client_requiring_mppe_against_server_without_it_ends_with_742() {
    let mut server = server_config();
    server.mppe = ppp_core::link::MppePolicy::disabled();
    let mut client = client_config(PASSWORD);
    client.mppe.required = true;
    let mut pair = Pair::new(server, client);
    pair.open();
    pair.run_until_down();
    assert_eq!(pair.client_down(), Some(EndReason::MppeRequiredNotActive));
    assert_eq!(pair.client_down().unwrap().windows_error(), Some(742));
    assert_eq!(pair.server_down(), Some(EndReason::EncryptionRefused));
    assert_eq!(pair.server_down().unwrap().windows_error(), Some(742));
}

#[test]
fn pool_exhaustion_ends_the_link_with_no_address() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    while pair.pool.allocate().is_ok() {}
    pair.open();
    pair.run_until_down();
    assert_eq!(pair.server_down(), Some(EndReason::NoAddress));
    assert_eq!(EndReason::NoAddress.windows_error(), Some(720));
    assert_eq!(pair.client_down(), Some(EndReason::PeerTerminated));
    assert!(pair
        .server_events
        .iter()
        .any(|e| matches!(e, LinkEvent::AddressNeeded)));
    assert!(!pair
        .client_events
        .iter()
        .any(|e| matches!(e, LinkEvent::IpcpUp(_))));
}

#[test]
fn external_aaa_with_a_delayed_verdict() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.external = true;
    pair.open();
    pair.run_until(Duration::from_secs(1), |p| !p.pending.is_empty());
    assert_eq!(pair.pending.len(), 1);
    let request = pair.pending.pop().unwrap();
    assert_eq!(&request.username[..], USER);
    assert_eq!(request.method, Method::MsChapV2);
    assert_eq!(pair.server.phase(), Phase::Authenticate);
    // The AAA server answers 2 s later; the link waited without resending.
    pair.now += Duration::from_secs(2);
    let verdict = ppp_core::auth::Verifier::decide(&pair.store, &request);
    let now = pair.now;
    pair.server.verdict(now, verdict).unwrap();
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    exchange_both_ways(&mut pair, true);
}

#[test]
fn external_aaa_reject_ends_with_691() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.external = true;
    pair.open();
    pair.run_until(Duration::from_secs(1), |p| !p.pending.is_empty());
    let now = pair.now;
    pair.server
        .verdict(
            now,
            ppp_core::auth::Verdict::reject(FailureReason::Rejected { error_code: 691 }),
        )
        .unwrap();
    pair.run_until_down();
    assert_eq!(pair.server_down().unwrap().windows_error(), Some(691));
    assert_eq!(pair.client_down().unwrap().windows_error(), Some(691));
}

/// The PIX preset's answers, at link level, to the Windows client's IPCP
/// and CCP requests of the origin document's trace 1 (complete frames
/// only): CCP MPPE+Stac rejected (no `mppe` line), IPCP 0.0.0.0 Nak'd
/// with the pool address, the pool address Acked.
#[test]
fn pix_preset_answers_the_windows_trace_requests() {
    let text = include_str!("data/seed_frames.toml");
    let doc: toml::Table = text.parse().unwrap();
    let vectors = doc["vector"].as_array().unwrap();
    let hex = |s: &str| -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    };
    let mut server = ppp_core::link::LinkConfig::pix_server(Ipv4Addr::new(99, 99, 99, 2), None);
    server.lcp = server.lcp.with_auth_required(&[Method::MsChapV1]);
    let mut client = client_config(PASSWORD);
    client.mppe = ppp_core::link::MppePolicy::disabled();
    let mut pair = Pair::new(server, client);
    pair.establish();
    let now = pair.now;
    let mut checked = 0;
    for id in ["trace1-ppp-12", "trace1-ppp-23", "trace1-ppp-25"] {
        let v = vectors
            .iter()
            .find(|v| v["id"].as_str() == Some(id))
            .unwrap();
        let mut frame = hex(v["hex"].as_str().unwrap());
        let expected = hex(v["observed_pix_reply"].as_str().unwrap());
        let _ = pair.server.handle_frame_with(now, &mut frame, &pair.store);
        let mut replies = Vec::new();
        let mut buf = [0u8; 1600];
        while let Some(t) = pair.server.poll_transmit(now, &mut buf) {
            replies.push(buf[..t.len].to_vec());
        }
        // Our frames may omit ff03 (ACFC agreed); compare protocol and
        // packet.
        let body = |f: &[u8]| -> Vec<u8> {
            let f = f.strip_prefix(&[0xff, 0x03][..]).unwrap_or(f);
            f.to_vec()
        };
        assert!(
            replies.iter().any(|r| body(r) == body(&expected)),
            "{id}: expected {expected:02x?} among {replies:02x?}"
        );
        checked += 1;
    }
    assert_eq!(checked, 3);
}

#[test]
fn server_falls_back_down_its_list_when_the_client_naks() {
    let mut server = server_config();
    server.lcp = server
        .lcp
        .with_auth_required(&[Method::MsChapV2, Method::MsChapV1, Method::Pap]);
    let mut client = client_config(PASSWORD);
    client.lcp = client.lcp.with_auth_allowed(&[Method::Pap]);
    let mut pair = Pair::new(server, client);
    pair.establish();
    assert!(pair.server_events.iter().any(|e| matches!(
        e,
        LinkEvent::Authenticated {
            method: Method::Pap,
            ..
        }
    )));
    exchange_both_ways(&mut pair, false);
}

#[test]
fn lcp_renegotiation_reauthenticates_and_traffic_resumes() {
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.establish();
    let now = pair.now;
    // The client restarts LCP (a new Configure-Request while Opened).
    let mut f = vec![
        0xff, 0x03, 0xc0, 0x21, 1, 0x77, 0, 10, 5, 6, 0x55, 0x66, 0x77, 0x88,
    ];
    pair.server.handle_frame(now, &mut f).unwrap();
    assert_eq!(pair.server.phase(), Phase::Establish);
    assert!(!pair.server.is_data_ready());
    let mut out = [0u8; 1600];
    assert_eq!(
        pair.server.send_ip(now, &ip_packet(40, 0), &mut out),
        Err(ppp_core::link::SendError::NotReady)
    );
    // The client's side restarts too when it sees the server's new
    // Configure-Request; both come back up with fresh keys.
    assert!(
        pair.run_until(Duration::from_secs(60), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    let authenticated = pair
        .server_events
        .iter()
        .filter(|e| matches!(e, LinkEvent::Authenticated { .. }))
        .count();
    assert_eq!(authenticated, 2);
    exchange_both_ways(&mut pair, true);
}

/// RADIUS-style keys: the AAA server hands MS-MPPE-Send/Recv-Key instead
/// of the NAS deriving them; the client derives its own from MS-CHAPv2.
/// Traffic only flows if the link used the external keys the right way
/// round.
#[test]
fn external_aaa_mppe_keys_drive_the_server_side() {
    use ppp_core::auth::{MppeKeyMaterial, Verdict};
    let mut pair = Pair::new(server_config(), client_config(PASSWORD));
    pair.external = true;
    pair.open();
    pair.run_until(Duration::from_secs(1), |p| !p.pending.is_empty());
    let request = pair.pending.pop().unwrap();
    let verdict = ppp_core::auth::Verifier::decide(&pair.store, &request);
    let Verdict::Accept(mut accept) = verdict else {
        panic!("the store accepts")
    };
    let Some(MppeKeyMaterial::MsChapV2 {
        password_hash_hash,
        nt_response,
    }) = accept.key_material.clone()
    else {
        panic!("MS-CHAPv2 key material")
    };
    let keys = mppe::keys::mschapv2_start_keys(
        &password_hash_hash,
        &nt_response,
        mppe::keys::Side::Server,
    );
    let mut send_key = [0u8; 16];
    send_key.copy_from_slice(keys.send.as_bytes());
    let mut recv_key = [0u8; 16];
    recv_key.copy_from_slice(keys.receive.as_bytes());
    accept.key_material = Some(MppeKeyMaterial::External { send_key, recv_key });
    let now = pair.now;
    pair.server.verdict(now, Verdict::Accept(accept)).unwrap();
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    exchange_both_ways(&mut pair, true);
}

/// MS-CHAPv2 retry (RFC 2759 §6): the server allows one more attempt
/// ("E=691 R=1 C=..."), the client's host supplies the right password.
#[test]
fn mschapv2_retry_with_a_corrected_password() {
    let mut server = server_config();
    server.authenticator.max_retries = 1;
    let mut client = client_config(b"wrong");
    client.auth_retry = true;
    let mut pair = Pair::new(server, client);
    pair.open();
    pair.run_until(Duration::from_secs(5), |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, LinkEvent::AuthFailed { .. }))
    });
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        LinkEvent::AuthFailed {
            reason: FailureReason::RejectedByAuthenticator {
                retry_allowed: true,
                error_code: Some(691)
            },
            ..
        }
    )));
    assert_eq!(pair.client.end_reason(), None);
    let now = pair.now;
    pair.client
        .retry_auth(
            now,
            Some(ppp_core::auth::Secret::password(PASSWORD).unwrap()),
        )
        .unwrap();
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    exchange_both_ways(&mut pair, true);
}

/// MS-CHAPv1's retry (Failure with R=1, RFC 2433 §5): the host answers
/// ChallengeNeeded with 16 random octets (what the endpoint and this
/// test's host hold) and the link takes the 8 MS-CHAPv1 needs; it used to
/// refuse them, and the second Challenge never went out.
#[test]
fn mschapv1_retry_with_a_corrected_password() {
    let mut server = server_config();
    server.lcp = server.lcp.with_auth_required(&[Method::MsChapV1]);
    server.authenticator.max_retries = 1;
    let mut client = client_config(b"wrong");
    client.auth_retry = true;
    let mut pair = Pair::new(server, client);
    pair.open();
    pair.run_until(Duration::from_secs(5), |p| {
        p.client_events
            .iter()
            .any(|e| matches!(e, LinkEvent::AuthFailed { .. }))
    });
    assert!(pair.client_events.iter().any(|e| matches!(
        e,
        LinkEvent::AuthFailed {
            reason: FailureReason::RejectedByAuthenticator {
                retry_allowed: true,
                error_code: Some(691)
            },
            ..
        }
    )));
    let now = pair.now;
    pair.client
        .retry_auth(
            now,
            Some(ppp_core::auth::Secret::password(PASSWORD).unwrap()),
        )
        .unwrap();
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    exchange_both_ways(&mut pair, true);
}

/// Framed-IP-Address, DNS and NBNS from an AAA Accept (RADIUS
/// MS-Primary-DNS/NBNS-Server, RFC 2548) override the
/// server's own settings in IPCP (RFC 1877).
#[test]
fn external_aaa_address_dns_and_nbns_reach_the_client() {
    use ppp_core::auth::Verdict;
    use std::net::Ipv4Addr;
    let mut server = server_config();
    server.ipcp.dns = [Some(Ipv4Addr::new(9, 9, 9, 9)), None];
    let mut client = client_config(PASSWORD);
    client.ipcp.request_dns = true;
    client.ipcp.request_nbns = true;
    let mut pair = Pair::new(server, client);
    pair.external = true;
    pair.open();
    pair.run_until(Duration::from_secs(1), |p| !p.pending.is_empty());
    let request = pair.pending.pop().unwrap();
    let Verdict::Accept(mut accept) = ppp_core::auth::Verifier::decide(&pair.store, &request)
    else {
        panic!("the store accepts")
    };
    let a = |d| Some(Ipv4Addr::new(192, 0, 2, d));
    accept.attributes.address = a(77);
    accept.attributes.primary_dns = a(53);
    accept.attributes.secondary_dns = a(54);
    accept.attributes.primary_nbns = a(137);
    accept.attributes.secondary_nbns = a(138);
    let now = pair.now;
    pair.server.verdict(now, Verdict::Accept(accept)).unwrap();
    assert!(
        pair.run_until(Duration::from_secs(30), |p| p.server.is_data_ready()
            && p.client.is_data_ready())
    );
    let got = pair.client.ipcp_negotiated();
    assert_eq!(got.local_address, a(77));
    assert_eq!(got.dns, [a(53), a(54)]);
    assert_eq!(got.nbns, [a(137), a(138)]);
}

/// Issue #14 item 6. pppd with `require-mppe` keeps IPCP Closed until
/// its CCP opens and answers our IPCP Configure-Request with a
/// Terminate-Ack meanwhile (the [`Pair::pppd_ipcp_closed`] model). Our
/// end sends its request again the moment CCP opens, so IPCP opens with
/// no restart timer (3 s) in between: for our server with MPPE optional
/// or required, and for our client (MPPE optional) against a pppd
/// server.
#[test]
fn ipcp_opens_at_once_when_ccp_opens_against_pppd_requiring_mppe() {
    use ppp_core::fsm::State;
    use ppp_core::link::{MppePolicy, PixEncryption, Role};
    let cases = [
        (Role::Client, false, "our server, MPPE optional"),
        (Role::Client, true, "our server, MPPE required"),
        (Role::Server, false, "our client, MPPE optional"),
    ];
    for (model, ours_required, case) in cases {
        let mut server = server_config();
        let mut client = client_config(PASSWORD);
        match model {
            Role::Client => {
                client.mppe.required = true;
                server.mppe = MppePolicy::pix(PixEncryption::Bits128, ours_required);
            }
            Role::Server => {
                server.mppe = MppePolicy::pix(PixEncryption::Bits128, true);
                client.mppe.required = ours_required;
            }
        }
        let mut pair = Pair::new(server, client);
        pair.pppd_requiring_mppe = Some(model);
        let start = pair.now;
        pair.open();
        let up = pair.run_until(Duration::from_secs(10), |p| {
            p.server.is_data_ready() && p.client.is_data_ready()
        });
        assert!(
            up,
            "{case}: not up: server {:?}\nclient {:?}",
            pair.server, pair.client
        );
        let took = pair.now - start;
        assert!(
            took < Duration::from_millis(500),
            "{case}: up after {took:?}, a restart timer"
        );
        assert_eq!(pair.server.ipcp().state(), State::Opened, "{case}");
        assert_eq!(pair.client.ipcp().state(), State::Opened, "{case}");
        assert!(pair.server.mppe_info().is_some(), "{case}");
        // The model did refuse our early request: the scenario happened.
        let refused = pair.wire.iter().any(|(dir, f)| {
            let from_model = match model {
                Role::Client => Dir::ToServer,
                Role::Server => Dir::ToClient,
            };
            *dir == from_model && frame_protocol(f) == 0x8021 && frame_info(f).first() == Some(&6)
        });
        assert!(refused, "{case}: no IPCP Terminate-Ack from the pppd model");
        exchange_both_ways(&mut pair, true);
    }
}
