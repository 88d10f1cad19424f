//! MS-CHAPv1 start keys for 40/56-bit MPPE (RFC 3079 §2.1 LM-based, as
//! Windows; §2.4 NT-based, as pppd): a client on a fixed variant against
//! a server on `auto` and on each fixed variant, the per-user setting and
//! the store refusing LM hashes, the trial's bound, and parking.

#![cfg(feature = "mppe")]
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod link_support;

use link_support::*;
use mppe::{KeyStrength, ModePreference, Strengths};
use ppp_core::auth::{LmHash, Method, MsChapV1Keys, NtHash, Secret};
use ppp_core::link::{Error, LinkConfig, LinkEvent, MppePolicy, SendError, MAX_TRIAL_PACKETS};

/// The seed's set-up: MS-CHAPv1 only, MPPE at `strength`, stateless
/// (the PIX and Windows NT), unless `stateful`.
fn pair_with(
    server_keys: MsChapV1Keys,
    client_keys: MsChapV1Keys,
    strength: KeyStrength,
    stateful: bool,
) -> Pair {
    let (server, client) = configs(server_keys, client_keys, strength, stateful);
    Pair::new(server, client)
}

fn configs(
    server_keys: MsChapV1Keys,
    client_keys: MsChapV1Keys,
    strength: KeyStrength,
    stateful: bool,
) -> (LinkConfig, LinkConfig) {
    let policy = MppePolicy {
        strengths: Strengths::only(strength),
        mode: if stateful {
            ModePreference::StatefulOnly
        } else {
            ModePreference::StatelessOnly
        },
        ..MppePolicy::disabled()
    };
    let mut server: LinkConfig = server_config();
    server.lcp = server.lcp.with_auth_required(&[Method::MsChapV1]);
    server.mppe = policy;
    server.mschapv1_keys = server_keys;
    let mut client = client_config(PASSWORD);
    client.mppe = policy;
    client.mschapv1_keys = client_keys;
    (server, client)
}

fn keyed_pair(server_keys: MsChapV1Keys, client_keys: MsChapV1Keys) -> Pair {
    pair_with(server_keys, client_keys, KeyStrength::Bits40, false)
}

fn decided(events: &[LinkEvent]) -> Vec<(MsChapV1Keys, bool)> {
    decisions(events).iter().map(|(k, p, _)| (*k, *p)).collect()
}

/// Each decision with the packets it took.
fn decisions(events: &[LinkEvent]) -> Vec<(MsChapV1Keys, bool, u8)> {
    events
        .iter()
        .filter_map(|e| match e {
            LinkEvent::MsChapV1KeysDecided {
                keys,
                proven,
                packets,
            } => Some((*keys, *proven, *packets)),
            _ => None,
        })
        .collect()
}

/// Client first (as Windows: its first packets go out at once), then the
/// server answers; both packets must arrive intact.
fn data_passes_both_ways(pair: &mut Pair) -> bool {
    let ip = ip_packet(120, 7);
    let (_, up) = pair.client_to_server(&ip);
    pair.pump();
    let reply = ip_packet(90, 9);
    let (_, down) = pair.server_to_client(&reply);
    up.as_deref() == Ok(&ip[..]) && down.as_deref() == Ok(&reply[..])
}

#[test]
fn auto_server_takes_the_lm_key_of_a_windows_like_client() {
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Lm);
    pair.establish();
    assert!(pair.server.mppe_info().is_some(), "MPPE-40 agreed");
    // Undecided: the server holds its packets, and does not park.
    let mut out = [0u8; 1600];
    let held = pair.server.send_ip(pair.now, &ip_packet(60, 1), &mut out);
    assert_eq!(held, Err(SendError::KeysUndecided));
    assert!(!pair.server.is_parkable());

    assert!(data_passes_both_ways(&mut pair));
    assert_eq!(
        decisions(&pair.server_events),
        vec![(MsChapV1Keys::Lm, true, 1)]
    );
    // Decided once: later packets go the usual way.
    assert!(data_passes_both_ways(&mut pair));
    assert_eq!(decided(&pair.server_events).len(), 1);
    assert!(pair.server.is_parkable());
}

#[test]
fn auto_server_takes_the_nt_key_of_a_pppd_like_client() {
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Nt);
    pair.establish();
    assert!(data_passes_both_ways(&mut pair));
    assert_eq!(
        decisions(&pair.server_events),
        vec![(MsChapV1Keys::Nt, true, 1)]
    );
}

#[test]
fn a_client_on_auto_uses_the_nt_key() {
    let mut pair = keyed_pair(MsChapV1Keys::Nt, MsChapV1Keys::Auto);
    pair.establish();
    assert!(data_passes_both_ways(&mut pair));
    assert!(decided(&pair.client_events).is_empty());
}

#[test]
fn fixed_settings_pass_data_only_when_both_ends_agree() {
    use MsChapV1Keys::{Lm, Nt};
    for (server, client, passes) in [
        (Lm, Lm, true),
        (Nt, Nt, true),
        (Nt, Lm, false),
        (Lm, Nt, false),
    ] {
        let mut pair = keyed_pair(server, client);
        pair.establish();
        assert_eq!(
            data_passes_both_ways(&mut pair),
            passes,
            "server {server:?}, client {client:?}"
        );
        assert!(decided(&pair.server_events).is_empty());
    }
}

#[test]
fn a_mismatch_drops_the_packet_as_undecryptable() {
    let mut pair = keyed_pair(MsChapV1Keys::Nt, MsChapV1Keys::Lm);
    pair.establish();
    let (_, got) = pair.client_to_server(&ip_packet(100, 3));
    assert!(
        matches!(
            got,
            Err(Error::Decrypt(mppe::DecryptError::Unproven { .. }))
        ),
        "{got:?}"
    );
}

#[test]
fn lm_keys_apply_to_56_bits_and_not_to_128() {
    let mut pair = pair_with(
        MsChapV1Keys::Lm,
        MsChapV1Keys::Lm,
        KeyStrength::Bits56,
        false,
    );
    pair.establish();
    assert!(data_passes_both_ways(&mut pair));
    // 128-bit: both ends take the NT-based key whatever the setting
    // (RFC 3079 §2.4), and `auto` has nothing to decide.
    let mut pair = pair_with(
        MsChapV1Keys::Auto,
        MsChapV1Keys::Lm,
        KeyStrength::Bits128,
        false,
    );
    pair.establish();
    assert!(data_passes_both_ways(&mut pair));
    assert!(decided(&pair.server_events).is_empty());
}

#[test]
fn auto_works_in_stateful_mode_too() {
    for client in [MsChapV1Keys::Lm, MsChapV1Keys::Nt] {
        let mut pair = pair_with(MsChapV1Keys::Auto, client, KeyStrength::Bits40, true);
        pair.establish();
        assert!(data_passes_both_ways(&mut pair), "{client:?}");
        assert!(data_passes_both_ways(&mut pair), "{client:?}");
        assert_eq!(decided(&pair.server_events), vec![(client, true)]);
    }
}

#[test]
fn the_per_user_setting_overrides_the_servers() {
    let mut pair = keyed_pair(MsChapV1Keys::Nt, MsChapV1Keys::Lm);
    assert!(pair.store.set_mschapv1_keys(USER, Some(MsChapV1Keys::Lm)));
    assert!(!pair
        .store
        .set_mschapv1_keys(b"nobody", Some(MsChapV1Keys::Lm)));
    pair.establish();
    assert!(data_passes_both_ways(&mut pair));

    // And the other way: a user kept on NT under an `auto` server.
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Lm);
    pair.store.set_mschapv1_keys(USER, Some(MsChapV1Keys::Nt));
    pair.establish();
    assert!(!data_passes_both_ways(&mut pair));
    assert!(decided(&pair.server_events).is_empty(), "no trial for NT");
}

#[test]
fn a_store_refusing_lm_hashes_never_uses_the_lm_key() {
    // `auto`: no LM hash, so no trial; an LM client's data is lost.
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Lm);
    pair.store.refuse_lm_hashes(true);
    pair.establish();
    assert!(!data_passes_both_ways(&mut pair));
    assert!(decided(&pair.server_events).is_empty(), "no trial");

    // `lm`: the key cannot be made, so MPPE does not start (plaintext,
    // since the policy does not require it).
    let mut pair = keyed_pair(MsChapV1Keys::Lm, MsChapV1Keys::Lm);
    pair.store.refuse_lm_hashes(true);
    pair.establish();
    assert!(pair.server.mppe_info().is_none());
}

/// A user configured by hashes only (`[[users]] nt_hash`) has no LM hash
/// to derive RFC 3079 §2.1's keys from; given one (`lm_hash`), its
/// Windows-like LM-keyed session carries data, on a server fixed to `lm`
/// and on `auto`.
#[test]
fn a_hash_only_user_given_its_lm_hash_gets_an_lm_keyed_session() {
    for server_keys in [MsChapV1Keys::Lm, MsChapV1Keys::Auto] {
        let mut pair = keyed_pair(server_keys, MsChapV1Keys::Lm);
        let nt = NtHash::from_password(PASSWORD).unwrap();
        pair.store.insert(USER, Secret::NtHash(nt)).unwrap();
        // Without the LM hash: `lm` cannot start MPPE.
        if server_keys == MsChapV1Keys::Lm {
            let mut without = keyed_pair(server_keys, MsChapV1Keys::Lm);
            let nt = NtHash::from_password(PASSWORD).unwrap();
            without.store.insert(USER, Secret::NtHash(nt)).unwrap();
            without.establish();
            assert!(without.server.mppe_info().is_none());
        }
        assert_eq!(
            pair.store
                .set_lm_hash(USER, Some(LmHash::from_password(PASSWORD))),
            Ok(true)
        );
        pair.establish();
        assert!(pair.server.mppe_info().is_some(), "{server_keys:?}");
        assert!(data_passes_both_ways(&mut pair), "{server_keys:?}");
    }
}

#[test]
fn the_trial_gives_up_on_the_nt_key_after_its_bound() {
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Lm);
    pair.establish();
    let now = pair.now;
    for seed in 0..MAX_TRIAL_PACKETS {
        let mut out = [0u8; 1600];
        let n = pair
            .client
            .send_ip(now, &ip_packet(80, seed), &mut out)
            .unwrap();
        // Corrupted on the way: neither key gives a valid packet.
        out[n - 30] ^= 0x5a;
        out[n - 70] ^= 0xa5;
        let got = pair
            .server
            .handle_frame_with(now, &mut out[..n], &pair.store);
        assert!(got.is_err(), "packet {seed}");
        let expected = if seed + 1 < MAX_TRIAL_PACKETS {
            vec![]
        } else {
            vec![(MsChapV1Keys::Nt, false, MAX_TRIAL_PACKETS)]
        };
        while let Some(e) = pair.server.poll_event() {
            pair.server_events.push(e);
        }
        assert_eq!(decisions(&pair.server_events), expected, "packet {seed}");
    }
    // Settled on NT: the LM client's data no longer passes.
    let (_, got) = pair.client_to_server(&ip_packet(80, 99));
    assert!(got.is_err());
}

#[test]
fn a_decided_link_parks_and_unparks_on_the_lm_keys() {
    use ppp_core::link::{Entropy, Link};
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Lm);
    let (server_link_config, _) = configs(
        MsChapV1Keys::Auto,
        MsChapV1Keys::Lm,
        KeyStrength::Bits40,
        false,
    );
    pair.establish();
    assert!(
        !pair.server.is_parkable(),
        "undecided: the trial is in the full link"
    );
    assert!(data_passes_both_ways(&mut pair));
    pair.pump();
    let entropy = Entropy {
        magic: 0x1122_3344,
        challenge: [0x5b; 16],
        identifier: 1,
    };
    let placeholder = Link::new(server_config(), entropy);
    let server = std::mem::replace(&mut pair.server, placeholder);
    let mut parked = server.park().expect("decided and quiet: parks");
    let now = pair.now;
    // Parked, the LM keys carry data both ways.
    let ip = ip_packet(100, 4);
    let mut out = [0u8; 1600];
    let n = pair.client.send_ip(now, &ip, &mut out).unwrap();
    let d = parked.handle_frame(now, &mut out[..n]).unwrap().unwrap();
    assert_eq!(&out[d.range()], &ip[..]);
    let n = parked.send_ip(now, &ip, &mut out).unwrap();
    let d = pair
        .client
        .handle_frame(now, &mut out[..n])
        .unwrap()
        .unwrap();
    assert_eq!(&out[d.range()], &ip[..]);
    // Unparked: still the LM keys, no new trial.
    pair.server = Link::unpark(parked, server_link_config, entropy, USER, now);
    assert!(data_passes_both_ways(&mut pair));
    assert_eq!(decided(&pair.server_events).len(), 1);
}

/// Bad MPPE frames while the key is undecided: typed errors, no panic,
/// counted; the trial still decides on the next genuine packet.
#[test]
fn bad_mppe_frames_during_the_trial_are_typed_errors() {
    let mut pair = keyed_pair(MsChapV1Keys::Auto, MsChapV1Keys::Lm);
    pair.establish();
    let now = pair.now;
    let mut oversized = vec![0x00, 0xfd, 0x90, 0x00];
    oversized.extend((0..2_000u32).map(|i| i as u8));
    for bad in [
        vec![0x00, 0xfd],
        vec![0x00, 0xfd, 0x90],
        vec![0x00, 0xfd, 0x90, 0x00],
        vec![0x00, 0xfd, 0x10, 0x01, 0x21, 0x45],
        vec![0xff, 0x03, 0x00, 0xfd, 0x90, 0x05, 0xde, 0xad],
        oversized,
    ] {
        let mut frame = bad.clone();
        let got = pair.server.handle_frame_with(now, &mut frame, &pair.store);
        assert!(got.is_err(), "{bad:02x?}: {got:?}");
    }
    let dropped = pair.server.counters().dropped_mppe;
    assert!(dropped >= 6, "{dropped}");
    assert!(data_passes_both_ways(&mut pair));
    // Six bad frames, then the genuine one that decides.
    assert_eq!(
        decisions(&pair.server_events),
        vec![(MsChapV1Keys::Lm, true, 7)]
    );
}
