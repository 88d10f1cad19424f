//! MS-CHAPv1 start keys for 40- and 56-bit MPPE (only with the `mppe`
//! feature): RFC 3079 §2.1's LM-hash based key, which Windows 95/98/NT
//! and 2000 use, or the NT-hash based key of §2.4 cut to 8 octets, which
//! pppd and Linux use. 128-bit MPPE always uses the NT-based key.
//!
//! With [`MsChapV1Keys::Auto`] (the server default) the link cannot know
//! which its peer took, so it builds MPPE on the NT-based key and keeps a
//! second decrypter on the LM-based one. Every MPPE packet the peer sends
//! is tried under the LM key first (on a copy) and then, as usual, under
//! the NT key; the first key whose plaintext is a valid IPv4 packet (the
//! check that proves stateless packets genuine, `is_valid_ipv4_frame`)
//! is kept for the session. Until then nothing is sent encrypted
//! ([`SendError::KeysUndecided`]): a packet under the wrong key would be
//! lost to the peer and would move a Windows receiver's coherency count.
//! A Windows client sends first (DHCP inform, NetBIOS), so the wait is
//! short. The work is bounded: after [`MAX_TRIAL_PACKETS`] packets that
//! neither key decrypts, the link settles on the NT-based key.

use super::encryption::{inner_protocol, is_ipv4_protocol, is_valid_ipv4_frame};
use super::{Delivered, Error, Link, LinkEvent, Role, SendError};
use crate::auth::{MppeKeyMaterial, MsChapV1Keys};
use crate::time::Instant;
use mppe::rc4::CompactRc4;
use mppe::session::{Decrypter, Encrypter, Mppe};
use mppe::{KeyStrength, Negotiated, StartKeys};
use zeroize::Zeroize;

/// MPPE packets tried under both keys before an `Auto` link gives up and
/// keeps the NT-based key. A genuine first packet decides at once; more
/// than one undecided packet means loss, packets the peer encrypted
/// under neither key, or a forger (who can at most push an LM peer onto
/// the NT key, which then passes no data: no worse than before `Auto`).
pub const MAX_TRIAL_PACKETS: u8 = 16;

/// Largest MPPE packet (header included) the trial copies: the MRU of
/// any peer this crate negotiates with (1,500) and headers. A longer
/// packet is tried under the NT-based key only.
const TRIAL_COPY_LEN: usize = 1_600;

/// What the link still has to decide about the LM-based key, from the
/// authentication until CCP opens at 40/56 bits.
pub(super) enum LmCandidate {
    /// [`MsChapV1Keys::Lm`]: these keys, once CCP agrees on 40/56 bits.
    Fixed(StartKeys),
    /// [`MsChapV1Keys::Auto`] on a server: try these beside the NT keys.
    Trial(StartKeys),
    /// [`MsChapV1Keys::Lm`] without an LM hash (hash-only user, the
    /// store refusing LM hashes, RADIUS with a zero LM key): MPPE at
    /// 40/56 bits cannot start.
    Missing,
}

/// An `Auto` link's second decrypter while the key is undecided. Its
/// keys and RC4 state are wiped on drop (through `mppe`).
pub(super) struct KeyTrial {
    /// The LM-based keys (the encrypter is built from them if they win).
    keys: StartKeys,
    /// The peer's packets under the LM-based key, on the compact RC4
    /// state (a few packets at most: speed does not matter, and the
    /// full link is 770 octets smaller).
    decrypter: Decrypter<CompactRc4>,
    /// Packets tried under both keys so far (a counter of the trial, not
    /// of the link: the link's counters are shared with the parked form,
    /// which has no octet to spare).
    packets: u8,
}

/// The LM-based candidate for `material` under `setting` (already the
/// user's, if the store set one), or `None`: the NT-based keys apply.
pub(super) fn lm_candidate(
    material: &MppeKeyMaterial,
    setting: MsChapV1Keys,
    role: Role,
) -> Option<LmCandidate> {
    let MppeKeyMaterial::MsChapV1 { lm_hash_prefix, .. } = material else {
        return None;
    };
    let keys = lm_hash_prefix.as_ref().map(|prefix| {
        // RFC 3079 §2.1 uses the first 8 octets of the LM hash only.
        let mut lm_hash = [0u8; 16];
        lm_hash[..8].copy_from_slice(prefix);
        let key = mppe::keys::mschapv1_lm_start_key(&lm_hash);
        lm_hash.zeroize();
        StartKeys::symmetric(key)
    });
    match (setting, role, keys) {
        (MsChapV1Keys::Nt, _, _) | (MsChapV1Keys::Auto, Role::Client, _) => None,
        (MsChapV1Keys::Lm, _, Some(keys)) => Some(LmCandidate::Fixed(keys)),
        (MsChapV1Keys::Lm, _, None) => Some(LmCandidate::Missing),
        (MsChapV1Keys::Auto, Role::Server, keys) => keys.map(LmCandidate::Trial),
    }
}

/// Whether CCP's result takes MS-CHAPv1's 40/56-bit start key (RFC 3079
/// §2.1); 128-bit takes the NT-based key whatever the setting.
fn reduced_strength(negotiated: &Negotiated) -> bool {
    [negotiated.send.strength, negotiated.receive.strength]
        .iter()
        .all(|s| *s != KeyStrength::Bits128)
}

impl Link {
    /// MPPE for CCP's result, on the key variant the settings choose;
    /// with [`MsChapV1Keys::Auto`] the trial starts beside it. `None`:
    /// MPPE cannot start with these keys.
    pub(super) fn build_mppe(&mut self, negotiated: &Negotiated) -> Option<Mppe> {
        let candidate = if reduced_strength(negotiated) {
            self.lm_candidate.take()
        } else {
            // Decided: 128-bit uses the NT-based key (RFC 3079 §2.4).
            self.lm_candidate = None;
            None
        };
        let keys = match candidate {
            None => self.keys.as_ref()?,
            Some(LmCandidate::Missing) => return None,
            Some(LmCandidate::Fixed(lm)) => {
                // From now on these are the link's keys: a CCP
                // renegotiation, parked or not, builds on them.
                self.keys.insert(lm)
            }
            Some(LmCandidate::Trial(lm)) => {
                let decrypter = Decrypter::with_keystream(&lm.receive, negotiated.receive).ok()?;
                self.key_trial = Some(KeyTrial {
                    keys: lm,
                    decrypter,
                    packets: 0,
                });
                self.keys.as_ref()?
            }
        };
        Mppe::new(keys, negotiated).ok()
    }

    /// CCP left Opened before the trial decided: it starts again when
    /// CCP reopens (RFC 1962 §2: fresh MPPE state).
    pub(super) fn suspend_key_trial(&mut self) {
        if let Some(trial) = self.key_trial.take() {
            self.lm_candidate = Some(LmCandidate::Trial(trial.keys.clone()));
        }
    }

    /// Whether an `Auto` link still waits for the peer's first packet:
    /// nothing may be sent encrypted yet.
    pub(super) fn keys_undecided(&self) -> Result<(), SendError> {
        match self.key_trial {
            Some(_) => Err(SendError::KeysUndecided),
            None => Ok(()),
        }
    }

    /// An MPPE frame while the key is undecided (see the module docs):
    /// tried under the LM-based key on a copy, then under the NT-based
    /// key through the usual path.
    pub(super) fn decrypt_on_trial(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        header_len: usize,
    ) -> Result<Option<Delivered>, Error> {
        if let Some(trial) = self.key_trial.as_mut() {
            trial.packets += 1;
        }
        if let Some(delivered) = self.try_lm_key(frame, header_len) {
            if !self.data_ready {
                self.data.counters.dropped_phase += 1;
                return Err(Error::NotReady);
            }
            return Ok(Some(self.data.deliver(delivered)));
        }
        let result = self.decrypt(now, frame, header_len);
        if result.is_ok() {
            self.decide(MsChapV1Keys::Nt, true);
        } else if self
            .key_trial
            .as_ref()
            .is_some_and(|t| t.packets >= MAX_TRIAL_PACKETS)
        {
            self.decide(MsChapV1Keys::Nt, false);
        }
        result
    }

    /// Decrypts a copy of the MPPE packet under the LM-based key; if it
    /// is a valid IPv4 packet, the LM keys become the link's and the
    /// plaintext goes into `frame`.
    fn try_lm_key(&mut self, frame: &mut [u8], header_len: usize) -> Option<Delivered> {
        let trial = self.key_trial.as_mut()?;
        let packet = frame.get(header_len..)?;
        let mut copy = [0u8; TRIAL_COPY_LEN];
        let scratch = copy.get_mut(..packet.len())?;
        scratch.copy_from_slice(packet);
        let decrypted = trial.decrypter.decrypt_in_place_verified(
            scratch,
            is_ipv4_protocol,
            is_valid_ipv4_frame,
        );
        // Stateful decryption does not verify: check here, for both modes.
        let won = decrypted.ok().and_then(|d| {
            let plain = scratch.get(mppe::HEADER_LEN..mppe::HEADER_LEN + d.len)?;
            let (_, inner_len) = inner_protocol(plain);
            is_valid_ipv4_frame(plain).then_some((d.len, inner_len))
        });
        let delivered = won.map(|(len, inner_len)| {
            frame[header_len..].copy_from_slice(scratch);
            Delivered {
                start: header_len + mppe::HEADER_LEN + inner_len,
                len: len - inner_len,
            }
        });
        copy.zeroize();
        if delivered.is_some() {
            self.decide(MsChapV1Keys::Lm, true);
        }
        delivered
    }

    /// Ends the trial with `keys` (`proven`: a packet decrypted under
    /// them) and tells the host once.
    fn decide(&mut self, keys: MsChapV1Keys, proven: bool) {
        let Some(trial) = self.key_trial.take() else {
            return;
        };
        let packets = trial.packets;
        if keys == MsChapV1Keys::Lm {
            let KeyTrial {
                keys: lm,
                decrypter,
                ..
            } = trial;
            let encrypter = self
                .data
                .mppe
                .as_ref()
                .and_then(|m| Encrypter::new(&lm.send, *m.encrypter.config()).ok());
            // Nothing was sent yet (`keys_undecided`), so a fresh
            // encrypter starts where the NT-based one stood.
            self.data.mppe = encrypter.map(|encrypter| Mppe {
                encrypter,
                decrypter: decrypter.into_words(),
            });
            self.keys = Some(lm);
        }
        self.push(LinkEvent::MsChapV1KeysDecided {
            keys,
            proven,
            packets,
        });
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::auth::testdata::{hex, hex_n, vectors};
    use crate::auth::{CredentialStore, DomainRule};

    const MPPE_KEYS: &str = include_str!("../../tests/data/mppe_keys.toml");
    const RADIUS: &str = include_str!("../../tests/data/radius_ms_mppe.toml");

    fn material(lm_hash_prefix: Option<[u8; 8]>) -> MppeKeyMaterial {
        MppeKeyMaterial::MsChapV1 {
            password_hash_hash: [0x41; 16],
            lm_hash_prefix,
            challenge: [0x10; 8],
        }
    }

    fn session_key(candidate: Option<LmCandidate>, strength: KeyStrength) -> std::vec::Vec<u8> {
        let keys = match candidate {
            Some(LmCandidate::Fixed(keys) | LmCandidate::Trial(keys)) => keys,
            _ => panic!("no LM keys"),
        };
        let schedule = mppe::KeySchedule::new(&keys.send, strength).unwrap();
        assert_eq!(keys.send.as_bytes(), keys.receive.as_bytes());
        schedule.current().to_vec()
    }

    fn strength(v: &toml::Table) -> KeyStrength {
        match v["key_bits"].as_integer() {
            Some(40) => KeyStrength::Bits40,
            _ => KeyStrength::Bits56,
        }
    }

    /// RFC 3079 §2.5.1/§2.5.2 from the password, through the local
    /// store's verdict path (`Secret::lm_hash_prefix`).
    #[test]
    fn rfc3079_lm_based_session_keys_from_the_password() {
        let mut seen = 0;
        for v in vectors(MPPE_KEYS, "mppe_v1_lm") {
            let password = v["password"].as_str().unwrap().as_bytes();
            let prefix = crate::auth::Secret::password(password)
                .unwrap()
                .lm_hash_prefix();
            let lm_hash = hex(&v["lm_password_hash"]);
            assert_eq!(prefix.map(|p| p.to_vec()), Some(lm_hash[..8].to_vec()));
            for (setting, role) in [
                (MsChapV1Keys::Lm, Role::Server),
                (MsChapV1Keys::Lm, Role::Client),
                (MsChapV1Keys::Auto, Role::Server),
            ] {
                let candidate = lm_candidate(&material(prefix), setting, role);
                assert_eq!(
                    session_key(candidate, strength(&v)),
                    hex(&v["session_key"]),
                    "{} {setting:?} {role:?}",
                    v["id"]
                );
            }
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    /// RADIUS MS-CHAP-MPPE-Keys' LM-Key (RFC 2548 §2.4.1; the vector's is
    /// clientPass's) gives RFC 3079 §2.5.1's 40-bit key.
    #[test]
    fn radius_lm_key_gives_the_rfc3079_key() {
        let radius = &vectors(RADIUS, "radius_chap_mppe_keys")[0];
        let lm_key: [u8; 8] = hex_n(&radius["lm_key"]);
        let v = &vectors(MPPE_KEYS, "mppe_v1_lm")[0];
        let candidate = lm_candidate(&material(Some(lm_key)), MsChapV1Keys::Lm, Role::Server);
        assert_eq!(
            session_key(candidate, KeyStrength::Bits40),
            hex(&v["session_key"])
        );
    }

    #[test]
    fn no_candidate_where_the_nt_key_applies() {
        let known = Some([1; 8]);
        assert!(lm_candidate(&material(known), MsChapV1Keys::Nt, Role::Server).is_none());
        assert!(lm_candidate(&material(known), MsChapV1Keys::Auto, Role::Client).is_none());
        assert!(lm_candidate(&material(None), MsChapV1Keys::Auto, Role::Server).is_none());
        assert!(matches!(
            lm_candidate(&material(None), MsChapV1Keys::Lm, Role::Server),
            Some(LmCandidate::Missing)
        ));
        let v2 = MppeKeyMaterial::MsChapV2 {
            password_hash_hash: [0; 16],
            nt_response: [0; 24],
        };
        assert!(lm_candidate(&v2, MsChapV1Keys::Lm, Role::Server).is_none());
    }

    /// The store's knob and a user on NT keep the LM hash out of the
    /// verdict altogether.
    #[test]
    fn store_verdicts_carry_the_lm_hash_only_when_allowed() {
        use crate::auth::{AuthRequest, AuthResponse, Method, Verdict, Verifier};
        use crate::wire::auth::MsChapV1Response;
        let challenge = [0x10; 8];
        let hash = crate::auth::NtHash::from_password(b"clientPass").unwrap();
        let request = AuthRequest {
            method: Method::MsChapV1,
            username: crate::auth::Name::from_slice(b"user").unwrap(),
            identifier: 1,
            response: AuthResponse::MsChapV1 {
                challenge,
                response: MsChapV1Response {
                    lm_response: [0; 24],
                    nt_response: crate::auth::crypto::mschapv1_nt_response(
                        &challenge,
                        hash.as_bytes(),
                    ),
                    flags: 1,
                },
            },
        };
        let lm_of = |store: &CredentialStore<2>| match store.decide(&request) {
            Verdict::Accept(a) => match a.key_material {
                Some(MppeKeyMaterial::MsChapV1 { lm_hash_prefix, .. }) => {
                    (lm_hash_prefix, a.attributes.mschapv1_keys)
                }
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        };
        let mut store = CredentialStore::<2>::new(DomainRule::default());
        store.insert_password(b"user", b"clientPass").unwrap();
        assert!(lm_of(&store).0.is_some());
        store.set_mschapv1_keys(b"user", Some(MsChapV1Keys::Nt));
        assert_eq!(lm_of(&store), (None, Some(MsChapV1Keys::Nt)));
        store.set_mschapv1_keys(b"user", Some(MsChapV1Keys::Lm));
        assert!(lm_of(&store).0.is_some());
        store.refuse_lm_hashes(true);
        assert_eq!(lm_of(&store), (None, Some(MsChapV1Keys::Lm)));
    }
}
