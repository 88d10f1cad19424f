//! Decrypting one direction of a captured MPPE session with every key a
//! user might be up against, and saying which one works.
//!
//! The keys of a direction can come from more than one place (RFC 3079
//! §2.1 derives MS-CHAPv1 40/56-bit keys from the LM hash, pppd and Linux
//! from the NT hash), and in stateful mode the two readings of the A bit
//! (`mppe::StatefulFlush`) agree until the first flush and then part.
//! Each is a [`Candidate`] with its own `mppe::Decrypter` that sees every
//! packet; a packet counts as decrypted when some candidate turns it into
//! a well-formed IPv4 or IPv6 packet (MPPE has no integrity check, RFC
//! 3078 §1, so a wrong key is only seen in what comes out).

use std::collections::BTreeMap;

use mppe::{Config, DecryptError, Decrypter, Mode, StartKey, StatefulFlush, HEADER_LEN};
use ppp_core::wire::frame::protocol;
use ppp_core::wire::ipv4;

/// Where a candidate's start key came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeySource {
    /// The NT password hash (MS-CHAPv2, RFC 3079 §3; MS-CHAPv1 128-bit,
    /// and 40/56-bit as pppd and Linux derive them).
    NtHash,
    /// The LM password hash (MS-CHAPv1 40/56-bit, RFC 3079 §2.1, as
    /// Windows derives them).
    LmHash,
}

impl KeySource {
    /// "the NT hash" / "the LM hash".
    pub fn name(self) -> &'static str {
        match self {
            KeySource::NtHash => "the NT hash",
            KeySource::LmHash => "the LM hash",
        }
    }
}

/// One way of decrypting a direction.
pub struct Candidate {
    /// Where its start key came from.
    pub source: KeySource,
    /// The meaning of the A bit it assumes (stateful only).
    pub flush: Option<StatefulFlush>,
    decrypter: Decrypter,
    /// Packets it decrypted to a well-formed packet.
    pub valid: u64,
    /// Packets it decrypted to something else.
    pub garbage: u64,
}

impl std::fmt::Debug for Candidate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Candidate")
            .field("source", &self.source)
            .field("flush", &self.flush)
            .field("valid", &self.valid)
            .field("garbage", &self.garbage)
            .finish_non_exhaustive()
    }
}

impl Candidate {
    /// "keys from the LM hash" (and the A-bit reading when stateful).
    pub fn describe(&self) -> String {
        format!("keys from {}{}", self.source.name(), self.flush_note())
    }

    /// "; A bit read as pppd/Windows do" in stateful mode, else nothing.
    fn flush_note(&self) -> &'static str {
        match self.flush {
            Some(StatefulFlush::KeyChange) => "; A bit read as pppd/Windows do",
            Some(StatefulFlush::Reinitialise) => "; A bit read as RFC 3078 §3.1 does",
            None => "",
        }
    }
}

/// What became of one MPPE packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Decrypted to a well-formed packet.
    Decrypted {
        /// The plaintext PPP frame without address/control: the inner
        /// protocol field (1 or 2 octets, RFC 1661 §6.5) and information.
        plaintext: Vec<u8>,
        /// Index of the candidate that decrypted it.
        candidate: usize,
    },
    /// Not decrypted.
    NotDecrypted {
        /// Short class of the reason (the report counts by it).
        class: &'static str,
        /// The reason in words.
        reason: String,
    },
}

/// Counters of one direction.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DirectionStats {
    /// MPPE packets seen.
    pub packets: u64,
    /// Decrypted to a well-formed packet.
    pub decrypted: u64,
    /// Not decrypted, by reason class.
    pub not_decrypted: BTreeMap<&'static str, u64>,
    /// Flushed packets (A bit) seen.
    pub flushed: u64,
}

impl DirectionStats {
    /// Packets not decrypted, all reasons.
    pub fn failed(&self) -> u64 {
        self.not_decrypted.values().sum()
    }
}

/// One direction of one call.
#[derive(Debug)]
pub struct Direction {
    /// What CCP agreed for it.
    pub config: Config,
    /// The candidates, in the order tried.
    pub candidates: Vec<Candidate>,
    /// Counters.
    pub stats: DirectionStats,
}

impl Direction {
    /// A direction with one candidate per start key and, in stateful
    /// mode, per reading of the A bit.
    pub fn new(keys: &[(KeySource, StartKey)], config: Config) -> Result<Self, String> {
        let flushes: &[Option<StatefulFlush>] = match config.mode {
            Mode::Stateless => &[None],
            Mode::Stateful => &[
                Some(StatefulFlush::KeyChange),
                Some(StatefulFlush::Reinitialise),
            ],
        };
        let mut candidates = Vec::new();
        for (source, key) in keys {
            for flush in flushes {
                let mut c = config;
                if let Some(f) = flush {
                    c.stateful_flush = *f;
                }
                // A capture may miss many packets in a row: let one packet
                // catch up as far as the count space allows (RFC 3078
                // §8.1), the cost is SHA-1 rounds on this machine only.
                c.max_rekeys_per_packet = 2048;
                candidates.push(Candidate {
                    source: *source,
                    flush: *flush,
                    decrypter: Decrypter::new(key, c).map_err(|e| e.to_string())?,
                    valid: 0,
                    garbage: 0,
                });
            }
        }
        Ok(Direction {
            config,
            candidates,
            stats: DirectionStats::default(),
        })
    }

    /// Decrypts one MPPE packet (the 2-octet header and the encrypted
    /// data, RFC 3078 §3) with every candidate.
    pub fn decrypt(&mut self, packet: &[u8]) -> Outcome {
        self.stats.packets += 1;
        if packet.first().is_some_and(|b| b & 0x80 != 0) {
            self.stats.flushed += 1;
        }
        // (candidate, plaintext, its valid count): the candidate with the
        // best record so far wins a packet several decrypt.
        let mut winner: Option<(usize, Vec<u8>, u64)> = None;
        let mut errors: Vec<Option<DecryptError>> = Vec::new();
        for (i, c) in self.candidates.iter_mut().enumerate() {
            let mut buf = packet.to_vec();
            match c
                .decrypter
                .decrypt_in_place_checked(&mut buf, is_network_protocol)
            {
                Ok(d) => {
                    let plain = buf
                        .get(HEADER_LEN..HEADER_LEN + d.len)
                        .unwrap_or(&[])
                        .to_vec();
                    if is_well_formed(&plain) {
                        c.valid += 1;
                        if winner.as_ref().is_none_or(|w| c.valid > w.2) {
                            winner = Some((i, plain, c.valid));
                        }
                    } else {
                        c.garbage += 1;
                        // Stateful: garbage means this candidate's RC4
                        // stream is out of step; like a receiver, wait
                        // for the sender's next flush (RFC 3078 §8.2).
                        c.decrypter.resynchronise();
                    }
                    errors.push(None);
                }
                Err(e) => errors.push(Some(e)),
            }
        }
        if let Some((candidate, plaintext, _)) = winner {
            self.stats.decrypted += 1;
            return Outcome::Decrypted {
                plaintext,
                candidate,
            };
        }
        // The reason of the candidate that has done best so far.
        let best = (0..self.candidates.len())
            .max_by_key(|&i| (self.candidates[i].valid, std::cmp::Reverse(i)))
            .unwrap_or(0);
        let (class, reason) = match errors.get(best).copied().flatten() {
            Some(e) => reason_of(e),
            None if self.candidates.is_empty() => ("no keys", "no keys".to_string()),
            None => (
                "garbage under every key",
                "decrypts to garbage under every key (wrong password, or keys out of step)"
                    .to_string(),
            ),
        };
        *self.stats.not_decrypted.entry(class).or_insert(0) += 1;
        Outcome::NotDecrypted { class, reason }
    }

    /// A sentence on which keys work, for a user chasing a key mismatch:
    /// "keys from the LM hash decrypt (12 packets), from the NT hash
    /// they don't".
    pub fn verdict(&self) -> String {
        let working: Vec<&Candidate> = self.candidates.iter().filter(|c| c.valid > 0).collect();
        let failing: Vec<&Candidate> = self
            .candidates
            .iter()
            .filter(|c| c.valid == 0 && c.garbage > 0)
            .collect();
        let mut s = String::new();
        if working.is_empty() {
            if self.stats.packets == 0 {
                return "no MPPE packets".into();
            }
            s.push_str("no key decrypts anything");
            if !failing.is_empty() {
                let tried: Vec<String> = failing.iter().map(|c| c.describe()).collect();
                s.push_str(&format!(" (tried {})", tried.join("; ")));
            }
            return s;
        }
        let best = working.iter().max_by_key(|c| c.valid).copied();
        if let Some(b) = best {
            s.push_str(&format!(
                "keys from {} decrypt ({} packets{})",
                b.source.name(),
                b.valid,
                b.flush_note()
            ));
        }
        let other_sources: Vec<&Candidate> = failing
            .iter()
            .filter(|c| best.is_some_and(|b| c.source != b.source))
            .copied()
            .collect();
        if let Some(o) = other_sources.first() {
            s.push_str(&format!(", keys from {} don't", o.source.name()));
        }
        s
    }
}

fn reason_of(e: DecryptError) -> (&'static str, String) {
    match e {
        DecryptError::PacketLost { expected, received } => (
            "stateful, packets before it missing",
            format!(
                "stateful: packets {expected}..{} are not in the capture, so the RC4 stream \
                 cannot be followed until the sender flushes (RFC 3078 §8.2)",
                received.wrapping_sub(1) & 0x0fff
            ),
        ),
        DecryptError::AwaitingFlush { .. } => (
            "stateful, waiting for a flushed packet",
            "stateful: waiting for the sender's next flushed packet after a gap (RFC 3078 §8.2)"
                .into(),
        ),
        DecryptError::Duplicate { coherency_count } => (
            "duplicate",
            format!("duplicate of packet {coherency_count}"),
        ),
        DecryptError::Late {
            coherency_count,
            last,
        } => (
            "late or reordered",
            format!("packet {coherency_count} arrived after {last}: late or reordered"),
        ),
        DecryptError::Header(h) => ("bad MPPE header", h.to_string()),
        other => ("other", other.to_string()),
    }
}

/// The inner protocol field (RFC 1661 §6.5: one octet when compressed,
/// which an odd first octet shows) and its length.
pub fn inner_protocol(plain: &[u8]) -> Option<(u16, usize)> {
    match plain {
        [first, ..] if first & 1 == 1 => Some((u16::from(*first), 1)),
        [a, b, ..] => Some((u16::from_be_bytes([*a, *b]), 2)),
        _ => None,
    }
}

/// Whether the first octets are the protocol field of IPv4 or IPv6, the
/// network protocols that travel inside MPPE (RFC 3078 §3 encrypts the
/// protocol field with the data).
fn is_network_protocol(head: &[u8]) -> bool {
    matches!(
        inner_protocol(head),
        Some((protocol::IPV4 | protocol::IPV6, _))
    )
}

/// Whether a decrypted payload is a well-formed IPv4 packet (lengths and
/// header checksum, RFC 791 §3.1) or IPv6 packet (version and payload
/// length, RFC 8200 §3). Random bytes pass with a probability of about
/// 2^-26 (IPv4) or 2^-12 (IPv6).
pub fn is_well_formed(plain: &[u8]) -> bool {
    let Some((proto, n)) = inner_protocol(plain) else {
        return false;
    };
    let packet = &plain[n..];
    match proto {
        protocol::IPV4 => ipv4::Packet::new_checked(packet).is_ok_and(|p| p.verify_checksum()),
        protocol::IPV6 => {
            packet.len() >= 40
                && packet[0] >> 4 == 6
                && 40 + usize::from(u16::from_be_bytes([packet[4], packet[5]])) <= packet.len()
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use mppe::keys::{mschapv1_lm_start_key, mschapv1_start_key};
    use mppe::{Encrypter, KeyStrength};
    use ppp_core::auth::crypto;

    /// An MPPE packet carrying a well-formed IPv4 packet, encrypted by `e`.
    fn encrypted_ip(e: &mut Encrypter, ident: u16) -> Vec<u8> {
        let mut ip = vec![
            0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0, 10, 0, 0, 1, 10, 0, 0, 2,
        ];
        ip[4..6].copy_from_slice(&ident.to_be_bytes());
        let sum = crate::pcap::internet_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        ip.extend_from_slice(&[0; 8]);
        let mut packet = vec![0, 0, 0x21];
        packet.extend_from_slice(&ip);
        e.encrypt_in_place(&mut packet).unwrap();
        packet
    }

    #[test]
    fn says_the_lm_keys_decrypt_and_the_nt_ones_do_not() {
        // RFC 3079 §2.1: MS-CHAPv1 40-bit keys from the LM hash (Windows);
        // the NT-based candidate (pppd's) must not take them.
        let password = b"clientPass";
        let challenge = [0x10, 0x2d, 0xb5, 0xdf, 0x08, 0x5d, 0x30, 0x41];
        let hash = crypto::nt_password_hash(password).unwrap();
        let nt = mschapv1_start_key(&challenge, &crypto::hash_nt_password_hash(&hash));
        let lm = mschapv1_lm_start_key(&crypto::lm_password_hash(password));
        for mode in [Mode::Stateless, Mode::Stateful] {
            let config = Config::new(KeyStrength::Bits40, mode);
            let mut sender = Encrypter::new(&lm, config).unwrap();
            let keys = [
                (KeySource::NtHash, nt.clone()),
                (KeySource::LmHash, lm.clone()),
            ];
            let mut d = Direction::new(&keys, config).unwrap();
            for i in 0..300 {
                let packet = encrypted_ip(&mut sender, i);
                match d.decrypt(&packet) {
                    Outcome::Decrypted { candidate, .. } => {
                        assert_eq!(d.candidates[candidate].source, KeySource::LmHash)
                    }
                    other => panic!("{mode:?} packet {i}: {other:?}"),
                }
            }
            assert_eq!(d.stats.decrypted, 300);
            let verdict = d.verdict();
            assert!(
                verdict.starts_with("keys from the LM hash")
                    && verdict.ends_with("keys from the NT hash don't"),
                "{verdict}"
            );
        }
    }

    #[test]
    fn garbage_and_short_payloads_are_not_well_formed() {
        assert!(!is_well_formed(&[]));
        assert!(!is_well_formed(&[0x21]));
        assert!(!is_well_formed(&[0x21, 0x45, 0, 0, 20]));
        assert!(!is_well_formed(&[0x00, 0x57, 0x60]));
        assert!(!is_well_formed(&[0xc0, 0x21, 1, 1, 0, 4]));
    }
}
