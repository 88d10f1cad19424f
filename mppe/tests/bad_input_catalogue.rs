//! Bad-input catalogue (issue 6) for MPPE: forged coherency-count jumps,
//! malformed headers and option lengths. Each input gets a typed error and
//! a bounded, counted reaction; the tests assert the exact variant and the
//! counters.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

use mppe::keys::StartKey;
use mppe::{
    Config, DecryptError, Decrypter, Encrypter, HeaderError, KeyStrength, Mode, OptionError,
    SupportedBits, HEADER_LEN,
};

fn key() -> StartKey {
    StartKey::from_bytes(*b"catalogue-key-16")
}

fn pair(mode: Mode) -> (Encrypter, Decrypter) {
    let config = Config::new(KeyStrength::Bits128, mode);
    (
        Encrypter::new(&key(), config).unwrap(),
        Decrypter::new(&key(), config).unwrap(),
    )
}

/// A packet with the D bit and the given count, and some ciphertext.
fn forged(count: u16, flushed: bool) -> Vec<u8> {
    let flags = 0x10 | if flushed { 0x80 } else { 0 };
    let mut p = vec![flags | (count >> 8) as u8, count as u8];
    p.extend_from_slice(&[0x21, 0x45, 0, 0, 20]);
    p
}

fn encrypt(enc: &mut Encrypter, plain: &[u8]) -> Vec<u8> {
    let mut p = vec![0u8; HEADER_LEN];
    p.extend_from_slice(plain);
    enc.encrypt_in_place(&mut p).unwrap();
    p
}

#[test]
fn stateless_forged_jump_is_bounded_by_rekey_limit_and_counted() {
    let (mut enc, mut dec) = pair(Mode::Stateless);
    let first = encrypt(&mut enc, b"\x00\x21hello");
    let mut p = first.clone();
    dec.decrypt_in_place(&mut p).unwrap();
    assert_eq!(dec.coherency_count(), 0);
    let before = *dec.stats();

    // Forged count 2000 ahead of 0 (inside the forward half-space).
    let mut p = forged(2000, true);
    let original = p.clone();
    assert_eq!(
        dec.decrypt_in_place(&mut p),
        Err(DecryptError::RekeyLimit {
            needed: 2000,
            limit: Config::DEFAULT_MAX_REKEYS,
        })
    );
    // Nothing was decrypted in place.
    assert_eq!(p, original);
    let after = *dec.stats();
    assert_eq!(after.dropped_unproven, before.dropped_unproven + 1);
    assert_eq!(
        after.key_changes,
        before.key_changes + u64::from(Config::DEFAULT_MAX_REKEYS)
    );
    assert_eq!(dec.coherency_count(), Config::DEFAULT_MAX_REKEYS);
    assert_eq!(after.packets, before.packets);
}

#[test]
fn stateless_flood_of_far_ahead_counts_costs_at_most_limit_per_packet() {
    let limit = 16u16;
    let config = Config {
        max_rekeys_per_packet: limit,
        ..Config::new(KeyStrength::Bits40, Mode::Stateless)
    };
    let mut dec = Decrypter::new(&key(), config).unwrap();
    let mut total = 0u64;
    for i in 0..1_000u32 {
        // Always 2047 ahead of the receiver's current count (the most a
        // forward jump can claim): each costs exactly `limit` changes.
        let target = (dec.coherency_count() + 2047) & 0x0fff;
        let mut p = forged(target, i % 2 == 0);
        assert_eq!(
            dec.decrypt_in_place(&mut p),
            Err(DecryptError::RekeyLimit {
                needed: 2047,
                limit
            })
        );
        total += u64::from(limit);
        assert_eq!(dec.stats().key_changes, total);
    }
    let s = *dec.stats();
    assert_eq!(s.dropped_unproven, 1_000);
    assert_eq!(s.dropped(), 1_000);
    assert_eq!(s.packets, 0);
}

#[test]
fn stateless_rekey_bound_is_clamped() {
    for (asked, effective) in [(0u16, 2u16), (1, 2), (u16::MAX, 0x0fff)] {
        let config = Config {
            max_rekeys_per_packet: asked,
            ..Config::new(KeyStrength::Bits56, Mode::Stateless)
        };
        let mut dec = Decrypter::new(&key(), config).unwrap();
        // From the initial count 0xfff, count 2047 is 2048 ahead.
        let mut p = forged(2047, false);
        let result = dec.decrypt_in_place(&mut p);
        if effective >= 2048 {
            assert_eq!(result.unwrap().key_changes, 2048);
        } else {
            assert_eq!(
                result,
                Err(DecryptError::RekeyLimit {
                    needed: 2048,
                    limit: effective
                })
            );
        }
        assert!(dec.stats().key_changes <= u64::from(effective));
    }
}

#[test]
fn jump_into_the_backward_half_is_late_and_costs_nothing() {
    for mode in [Mode::Stateless, Mode::Stateful] {
        let (mut enc, mut dec) = pair(mode);
        let mut p = encrypt(&mut enc, b"\x00\x21a");
        dec.decrypt_in_place(&mut p).unwrap();
        let changes = dec.stats().key_changes;
        // 2049 ahead of 0 = 2047 behind.
        let mut p = forged(2049, true);
        assert_eq!(
            dec.decrypt_in_place(&mut p),
            Err(DecryptError::Late {
                coherency_count: 2049,
                last: 0
            })
        );
        let mut p = forged(0, true);
        assert_eq!(
            dec.decrypt_in_place(&mut p),
            Err(DecryptError::Duplicate { coherency_count: 0 })
        );
        assert_eq!(dec.stats().key_changes, changes);
        assert_eq!(dec.stats().dropped_late, 1);
        assert_eq!(dec.stats().dropped_duplicate, 1);
    }
}

#[test]
fn stateful_jump_reports_loss_once_then_counts_until_flush() {
    let (mut enc, mut dec) = pair(Mode::Stateful);
    let mut p = encrypt(&mut enc, b"\x00\x21a");
    dec.decrypt_in_place(&mut p).unwrap();
    let mut p = forged(1000, false);
    let err = dec.decrypt_in_place(&mut p).unwrap_err();
    assert_eq!(
        err,
        DecryptError::PacketLost {
            expected: 1,
            received: 1000
        }
    );
    assert!(err.needs_reset_request());
    assert!(dec.is_discarding());
    for c in 1001..1100u16 {
        let mut p = forged(c, false);
        let err = dec.decrypt_in_place(&mut p).unwrap_err();
        assert_eq!(err, DecryptError::AwaitingFlush { coherency_count: c });
        // Only the first loss asks for a Reset-Request: no Reset storm.
        assert!(!err.needs_reset_request());
    }
    let s = *dec.stats();
    assert_eq!(s.dropped_lost, 1);
    assert_eq!(s.dropped_awaiting_flush, 99);
    assert_eq!(s.lost_packets, 999);
    // No key changes were spent on unflushed forged packets.
    assert_eq!(s.key_changes, 0);
}

#[test]
fn malformed_headers_are_typed_and_counted() {
    let (_, mut dec) = pair(Mode::Stateless);
    let mut empty: [u8; 0] = [];
    assert_eq!(
        dec.decrypt_in_place(&mut empty),
        Err(DecryptError::Header(HeaderError::Truncated {
            len: 0,
            needed: HEADER_LEN
        }))
    );
    let mut one = [0x90u8];
    assert_eq!(
        dec.decrypt_in_place(&mut one),
        Err(DecryptError::Header(HeaderError::Truncated {
            len: 1,
            needed: HEADER_LEN
        }))
    );
    // C (MPPC) set.
    let mut compressed = [0x30u8, 0x05, 0xaa];
    assert_eq!(
        dec.decrypt_in_place(&mut compressed),
        Err(DecryptError::Header(HeaderError::Compressed {
            coherency_count: 5
        }))
    );
    // D clear.
    let mut clear = [0x00u8, 0x07, 0xaa];
    assert_eq!(
        dec.decrypt_in_place(&mut clear),
        Err(DecryptError::Header(HeaderError::NotEncrypted {
            coherency_count: 7
        }))
    );
    assert_eq!(dec.stats().dropped_bad_header, 4);
    assert_eq!(dec.stats().key_changes, 0);
}

#[test]
fn encrypt_rejects_buffer_without_room_for_protocol_field() {
    let (mut enc, _) = pair(Mode::Stateful);
    for len in 0..=HEADER_LEN {
        let mut buf = vec![0u8; len];
        assert_eq!(
            enc.encrypt_in_place(&mut buf),
            Err(mppe::EncryptError::Truncated {
                len,
                needed: HEADER_LEN + 1
            })
        );
    }
    assert_eq!(enc.stats().packets, 0);
}

#[test]
fn mppe_option_value_lengths_other_than_four_are_typed() {
    for len in [0usize, 1, 3, 5, 255] {
        let value = vec![0u8; len];
        assert_eq!(
            SupportedBits::parse(&value),
            Err(OptionError::BadLength { len })
        );
    }
    assert!(SupportedBits::parse(&[0, 0, 0, 0x40]).is_ok());
}
