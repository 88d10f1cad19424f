//! Arbitrary packets into MPPE decrypters, stateful and stateless.
//!
//! Invariants:
//! - no panic, whatever the bytes;
//! - a decrypted packet keeps its length; the plaintext length reported is
//!   the input length minus the 2-octet header (never more than the input);
//! - on error the buffer is left untouched (nothing decrypted half-way);
//! - every call lands in exactly one counter: `packets + dropped()` equals
//!   the number of calls, and octets add up;
//! - a stateless packet never costs more key changes than the configured
//!   bound; a header error changes no key;
//! - only a loss in stateful mode asks for a CCP Reset-Request;
//! - trial decryption (`decrypt_in_place_checked`) recovers at most
//!   `MAX_RECOVERED_KEY_CHANGES` key changes, only for stateful packets
//!   under the deployed flushed-bit reading, and reports them;
//! - stateless: when the noise left the receiver's key in step with its
//!   count near the start of the count space, the matching encrypter's
//!   packets decrypt correctly again (loss and forged-count handling does
//!   not wedge it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mppe::{
    Config, DecryptError, Decrypter, Encrypter, KeyStrength, Mode, StartKey, StatefulFlush,
    HEADER_LEN,
};

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let strength = match selector % 3 {
        0 => KeyStrength::Bits40,
        1 => KeyStrength::Bits56,
        _ => KeyStrength::Bits128,
    };
    let mode = if selector & 0x04 == 0 {
        Mode::Stateless
    } else {
        Mode::Stateful
    };
    let mut config = Config::new(strength, mode);
    if selector & 0x08 != 0 {
        config.stateful_flush = StatefulFlush::Reinitialise;
    }
    config.max_rekeys_per_packet = u16::from(selector >> 4) * 64;
    let key = StartKey::from_bytes(*b"fuzzing mppe key");
    let Ok(mut dec) = Decrypter::new(&key, config) else {
        return;
    };
    let Ok(mut enc) = Encrypter::new(&key, config) else {
        return;
    };

    // Packets: a length octet, then that many octets (at most 255).
    let mut calls = 0u64;
    let mut octets = 0u64;
    let mut input = rest;
    while let Some((&len, tail)) = input.split_first() {
        let take = usize::from(len).min(tail.len());
        let (packet, next) = tail.split_at(take);
        input = next;
        let mut buf = packet.to_vec();
        let changes_before = dec.stats().key_changes;
        // Odd-length packets go through trial decryption (the check
        // accepts an IPv4 protocol field, as ppp-core's Link does).
        let checked = packet.len() % 2 == 1;
        let recovered_before = dec.stats().recovered_key_changes;
        let result = if checked {
            dec.decrypt_in_place_checked(&mut buf, |h| matches!(h, [0x21, ..] | [0x00, 0x21]))
        } else {
            dec.decrypt_in_place(&mut buf)
        };
        let recovered = dec.stats().recovered_key_changes - recovered_before;
        // Trial decryption is bounded and only for checked, stateful
        // packets under the deployed reading.
        assert!(recovered <= u64::from(Config::MAX_RECOVERED_KEY_CHANGES));
        if recovered > 0 {
            assert!(checked && mode == Mode::Stateful);
            assert_eq!(config.stateful_flush, StatefulFlush::KeyChange);
        }
        calls += 1;
        let changes = dec.stats().key_changes - changes_before;
        match result {
            Ok(d) => {
                assert_eq!(buf.len(), packet.len());
                assert_eq!(d.len + HEADER_LEN, packet.len());
                assert_eq!(u64::from(d.key_changes), changes);
                assert_eq!(u64::from(d.recovered_key_changes), recovered);
                octets += d.len as u64;
            }
            Err(e) => {
                assert_eq!(buf, packet, "buffer changed on {e:?}");
                if matches!(e, DecryptError::Header(_)) {
                    assert_eq!(changes, 0);
                }
                if e.needs_reset_request() {
                    assert_eq!(mode, Mode::Stateful);
                }
            }
        }
        if mode == Mode::Stateless {
            // The bound is clamped to 2..=4095 by the decrypter.
            assert!(changes <= u64::from(config.max_rekeys_per_packet.clamp(2, 4095)));
        }
        let s = dec.stats();
        assert_eq!(s.packets + s.dropped(), calls);
        assert_eq!(s.octets, octets);
    }

    // A real packet after the noise. MPPE has no integrity check, so forged
    // packets can move a receiver's key anywhere; the stateless receiver
    // must come back whenever its key still belongs to its count within
    // the first cycle near the start (then the sender's packets reach it
    // within 257 packets and match).
    let count = dec.coherency_count();
    if mode == Mode::Stateless && dec.stats().key_changes < 4096 && (count == 4095 || count < 256) {
        let plain = [0x00u8, 0x21, 0x45, 0x00, 0x00, 0x14];
        let mut recovered = false;
        for _ in 0..300 {
            let mut buf = [0u8; HEADER_LEN + 6];
            buf[HEADER_LEN..].copy_from_slice(&plain);
            assert!(enc.encrypt_in_place(&mut buf).is_ok());
            if dec.decrypt_in_place(&mut buf).is_ok() {
                assert_eq!(buf[HEADER_LEN..], plain, "in-sequence packet decrypts");
                recovered = true;
                break;
            }
        }
        assert!(recovered, "stateless receiver did not resynchronise");
    }
});
