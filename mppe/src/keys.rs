//! MPPE key derivation (RFC 3079) and key changes (RFC 3078 §7.3).
//!
//! The chain, per direction:
//!
//! 1. **Start key** ([`StartKey`], 16 octets; 40/56-bit use the first 8):
//!    - MS-CHAPv2 (RFC 3079 §3.3/§3.4): `MasterKey = SHA1(PasswordHashHash |
//!      NT-Response | Magic1)[..16]`, then
//!      `GetAsymmetricStartKey(MasterKey, IsSend, IsServer)`: see
//!      [`mschapv2_start_keys`]. The client's send key is the server's
//!      receive key and vice versa.
//!    - MS-CHAPv1, NT-hash based (RFC 3079 §2.4 for 128-bit):
//!      `SHA1(PasswordHashHash | PasswordHashHash | Challenge)[..16]`, the same
//!      key in both directions: [`mschapv1_start_key`]. **pppd and the Linux
//!      kernel use the first 8 octets of this key for 40- and 56-bit too**,
//!      which is what this start key gives at [`KeyStrength::Bits40`] /
//!      [`KeyStrength::Bits56`] (vector `start_key_8_*` in the tests).
//!    - MS-CHAPv1, LM-hash based (RFC 3079 §2.1/§2.2, 40/56-bit only): the
//!      first 8 octets of the LAN Manager password hash:
//!      [`mschapv1_lm_start_key`]. This is what RFC 3079 specifies and what
//!      old Windows peers do; use it only when the peer is known to.
//!    - RADIUS (RFC 2548 MS-MPPE-Send-Key / MS-MPPE-Recv-Key, already
//!      decrypted by the AAA layer): [`StartKey::from_slice`].
//! 2. **Initial session key** ([`KeySchedule::new`]):
//!    `GetNewKeyFromSHA(start, start)`, then reduced to the strength
//!    (RFC 3079 §2, §3.1–§3.3): the RC4 step of a key change is skipped.
//! 3. **Key change** ([`KeySchedule::change`], RFC 3078 §7.3):
//!    `interim = GetNewKeyFromSHA(start, current)`, `new = RC4(interim,
//!    interim)`, then reduced. The next change starts from the reduced key.
//!
//! Reduction (RFC 3078 §7.3 / RFC 3079 §2.2): 40-bit keys get octets 0..3 set
//! to `d1 26 9e`, 56-bit keys octet 0 set to `d1`; 128-bit keys are unchanged.
//!
//! Inputs are hashes and responses, never passwords: ppp-core's MS-CHAP code
//! computes the NT hash (MD4) and `PasswordHashHash`; this crate needs only
//! SHA-1. Every key type zeroizes on drop and has a `Debug` that prints no
//! key octets.

use core::fmt;

use sha1::digest::{FixedOutputReset, Reset, Update};
use sha1::Sha1;
use zeroize::{Zeroize, ZeroizeOnDrop};

use crate::rc4::{Keystream, Rc4};

/// RFC 3079 §3.4 `Magic1`.
const MAGIC1: &[u8; 27] = b"This is the MPPE Master Key";
/// RFC 3079 §3.4 `Magic2`.
const MAGIC2: &[u8; 84] =
    b"On the client side, this is the send key; on the server side, it is the receive key.";
/// RFC 3079 §3.4 `Magic3`.
const MAGIC3: &[u8; 84] =
    b"On the client side, this is the receive key; on the server side, it is the send key.";
/// RFC 3079 §3.4 `SHSpad1`.
const SHS_PAD1: [u8; 40] = [0x00; 40];
/// RFC 3079 §3.4 `SHSpad2`.
const SHS_PAD2: [u8; 40] = [0xf2; 40];

/// MPPE key strength, negotiated by CCP (RFC 3078 §2: bits L, M, S).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeyStrength {
    /// 40-bit: 8-octet RC4 key whose first 3 octets are `d1 26 9e`.
    Bits40,
    /// 56-bit: 8-octet RC4 key whose first octet is `d1`.
    Bits56,
    /// 128-bit: 16-octet RC4 key.
    Bits128,
}

impl KeyStrength {
    /// Length in octets of the RC4 session key (and of the start key prefix
    /// that is used): 8 for 40/56-bit, 16 for 128-bit.
    pub const fn key_len(self) -> usize {
        match self {
            KeyStrength::Bits40 | KeyStrength::Bits56 => 8,
            KeyStrength::Bits128 => 16,
        }
    }

    /// Applies the RFC 3078 §7.3 / RFC 3079 §2.2 reduction to a freshly
    /// derived key.
    fn reduce(self, key: &mut [u8; 16]) {
        match self {
            KeyStrength::Bits40 => {
                key[0] = 0xd1;
                key[1] = 0x26;
                key[2] = 0x9e;
            }
            KeyStrength::Bits56 => key[0] = 0xd1,
            KeyStrength::Bits128 => {}
        }
    }
}

/// Which end of the link this is, for MS-CHAPv2's asymmetric keys
/// (RFC 3079 §3.3, GetAsymmetricStartKey's `IsServer`).
///
/// The same end as `ppp_core::link::Role` (this crate sits below
/// `ppp-core`, which uses MPPE only with its `mppe` feature, so the link
/// maps its role onto this one).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Side {
    /// The authenticator: the dial-in server (over PPTP, RFC 2637's PAC:
    /// the PIX, pptpd, RRAS).
    Server,
    /// The peer being authenticated: the client (over PPTP the PNS:
    /// Windows, pptp-linux).
    Client,
}

/// Errors of key handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum KeyError {
    /// A key given as octets has an unusable length (8 and 16 are accepted).
    BadLength {
        /// The length that was given.
        len: usize,
    },
    /// An 8-octet start key cannot drive 128-bit MPPE.
    TooShortForStrength {
        /// Octets available.
        len: usize,
        /// Octets the strength needs.
        needed: usize,
    },
}

impl fmt::Display for KeyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyError::BadLength { len } => {
                write!(f, "MPPE key of {len} octets (8 or 16 expected)")
            }
            KeyError::TooShortForStrength { len, needed } => {
                write!(
                    f,
                    "MPPE start key has {len} octets, strength needs {needed}"
                )
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for KeyError {}

/// The 16-octet MS-CHAPv2 master key (RFC 3079 §3.4 `GetMasterKey`).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct MasterKey([u8; 16]);

impl MasterKey {
    /// The key octets (secret: do not log).
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }
}

impl fmt::Debug for MasterKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("MasterKey(<redacted>)")
    }
}

/// A per-direction MPPE start key (RFC 3079 "StartKey" / "MasterSendKey" /
/// "MasterReceiveKey").
///
/// Holds up to 16 octets; `len` is 16 for keys from MS-CHAPv2, MS-CHAPv1 NT
/// and RADIUS, 8 for RFC 3079 §2.1 LM-based keys (and 8-octet RADIUS keys).
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct StartKey {
    bytes: [u8; 16],
    len: u8,
}

impl StartKey {
    /// A 16-octet start key.
    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        StartKey { bytes, len: 16 }
    }

    /// A start key from 8 or 16 octets, e.g. the decrypted RFC 2548
    /// MS-MPPE-Send-Key / MS-MPPE-Recv-Key a RADIUS server handed over
    /// (for a server: Send-Key drives the send direction, Recv-Key the
    /// receive direction; for a client the other way round).
    pub fn from_slice(key: &[u8]) -> Result<Self, KeyError> {
        let mut bytes = [0u8; 16];
        match key.len() {
            8 | 16 => {
                bytes[..key.len()].copy_from_slice(key);
                Ok(StartKey {
                    bytes,
                    len: key.len() as u8,
                })
            }
            len => Err(KeyError::BadLength { len }),
        }
    }

    /// The key octets (8 or 16; secret: do not log).
    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes[..usize::from(self.len)]
    }
}

impl fmt::Debug for StartKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "StartKey(<{} octets redacted>)", self.len)
    }
}

/// Send and receive start keys for one end of the link.
#[derive(Clone, Debug, Zeroize, ZeroizeOnDrop)]
pub struct StartKeys {
    /// Key for what this end encrypts.
    pub send: StartKey,
    /// Key for what this end decrypts.
    pub receive: StartKey,
}

impl StartKeys {
    /// Keys a RADIUS server handed to the NAS (the server end, over PPTP the
    /// PAC) in
    /// RFC 2548 MS-MPPE-Send-Key / MS-MPPE-Recv-Key, already decrypted by
    /// the AAA layer (8 or 16 octets each). "Send" is the NAS's send
    /// direction (= the client's receive key). 40/56-bit use the first 8
    /// octets (RFC 2548 implementation note: the NAS truncates).
    pub fn from_radius(ms_mppe_send_key: &[u8], ms_mppe_recv_key: &[u8]) -> Result<Self, KeyError> {
        Ok(StartKeys {
            send: StartKey::from_slice(ms_mppe_send_key)?,
            receive: StartKey::from_slice(ms_mppe_recv_key)?,
        })
    }

    /// The same key both ways, as MS-CHAPv1 derives it.
    pub fn symmetric(key: StartKey) -> Self {
        StartKeys {
            send: key.clone(),
            receive: key,
        }
    }
}

/// SHA-1 of the concatenated `parts` into `out`, leaving no input behind
/// in the hasher: RustCrypto's digest 0.10 hashers do not wipe their
/// block buffer on drop (support arrives with digest 0.11), and here the
/// input is key material. After finishing, the buffer is overwritten with
/// zeros and the state reset; `black_box` keeps those writes from being
/// optimised away as dead stores.
fn sha1_into(parts: &[&[u8]], out: &mut [u8; 20]) {
    let mut sha = Sha1::default();
    for part in parts {
        Update::update(&mut sha, part);
    }
    FixedOutputReset::finalize_into_reset(&mut sha, out.into());
    // One octet short of a block: copied into the buffer, never hashed.
    Update::update(&mut sha, &[0u8; 63]);
    Reset::reset(&mut sha);
    core::hint::black_box(&sha);
}

/// RFC 3079 §3.4 `GetMasterKey(PasswordHashHash, NTResponse)`.
pub fn master_key(password_hash_hash: &[u8; 16], nt_response: &[u8; 24]) -> MasterKey {
    let mut digest = [0u8; 20];
    sha1_into(&[password_hash_hash, nt_response, MAGIC1], &mut digest);
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    digest.zeroize();
    MasterKey(key)
}

/// RFC 3079 §3.4 `GetAsymmetricStartKey(MasterKey, 16, IsSend, IsServer)`.
///
/// The 16-octet result serves all strengths: 40/56-bit use its first 8
/// octets, exactly what `GetAsymmetricStartKey` with `SessionKeyLength = 8`
/// returns (the digest is only truncated).
pub fn asymmetric_start_key(master: &MasterKey, side: Side, is_send: bool) -> StartKey {
    // RFC 3079 §3.4: the client's send key uses Magic2, which is the
    // server's receive key; Magic3 is the client's receive = server's send.
    let magic: &[u8] = match (is_send, side) {
        (true, Side::Server) | (false, Side::Client) => MAGIC3,
        (true, Side::Client) | (false, Side::Server) => MAGIC2,
    };
    let mut digest = [0u8; 20];
    sha1_into(
        &[master.as_bytes(), &SHS_PAD1, magic, &SHS_PAD2],
        &mut digest,
    );
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    digest.zeroize();
    StartKey::from_bytes(key)
}

/// MS-CHAPv2 send and receive start keys for `side` (RFC 3079 §3).
pub fn mschapv2_start_keys(
    password_hash_hash: &[u8; 16],
    nt_response: &[u8; 24],
    side: Side,
) -> StartKeys {
    let master = master_key(password_hash_hash, nt_response);
    StartKeys {
        send: asymmetric_start_key(&master, side, true),
        receive: asymmetric_start_key(&master, side, false),
    }
}

/// MS-CHAPv1 NT-based start key, RFC 3079 §2.4 `Get_Start_Key(Challenge,
/// NtPasswordHashHash)`: `SHA1(hh | hh | challenge)[..16]`. Both directions
/// use the same key.
///
/// `challenge` is the authenticator's 8-octet MS-CHAPv1 challenge. For 40-
/// and 56-bit MPPE this gives the pppd/Linux behaviour (first 8 octets of
/// this key), not RFC 3079 §2.1's LM-hash based key; see
/// [`mschapv1_lm_start_key`] for that.
pub fn mschapv1_start_key(challenge: &[u8; 8], password_hash_hash: &[u8; 16]) -> StartKey {
    let mut digest = [0u8; 20];
    sha1_into(
        &[password_hash_hash, password_hash_hash, challenge],
        &mut digest,
    );
    let mut key = [0u8; 16];
    key.copy_from_slice(&digest[..16]);
    digest.zeroize();
    StartKey::from_bytes(key)
}

/// MS-CHAPv1 LM-based start key for 40/56-bit MPPE, RFC 3079 §2.1: the
/// first 8 octets of the LAN Manager password hash (both directions).
///
/// Only usable at [`KeyStrength::Bits40`] / [`KeyStrength::Bits56`]
/// ([`KeySchedule::new`] refuses it for 128-bit).
pub fn mschapv1_lm_start_key(lm_password_hash: &[u8; 16]) -> StartKey {
    let mut bytes = [0u8; 16];
    bytes[..8].copy_from_slice(&lm_password_hash[..8]);
    StartKey { bytes, len: 8 }
}

/// RFC 3079 §3.4 / RFC 3078 §7.3 `GetNewKeyFromSHA(StartKey, SessionKey,
/// len)`: `SHA1(start[..len] | SHSpad1 | session[..len] | SHSpad2)[..len]`,
/// written into `out[..len]` (`len` is 8 or 16).
fn get_new_key_from_sha(start: &[u8; 16], session: &[u8; 16], len: usize, out: &mut [u8; 16]) {
    let len = len.min(16);
    let mut digest = [0u8; 20];
    sha1_into(
        &[&start[..len], &SHS_PAD1, &session[..len], &SHS_PAD2],
        &mut digest,
    );
    *out = [0; 16];
    out[..len].copy_from_slice(&digest[..len]);
    digest.zeroize();
}

/// The session key state of one direction: start key, current session key
/// and strength. Zeroized on drop; old keys are overwritten on change.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct KeySchedule {
    start: [u8; 16],
    current: [u8; 16],
    #[zeroize(skip)]
    strength: KeyStrength,
}

impl KeySchedule {
    /// Derives the initial session key (RFC 3079 §2, §3.1–§3.3:
    /// `GetNewKeyFromSHA(start, start)`, reduced, no RC4 step).
    pub fn new(start: &StartKey, strength: KeyStrength) -> Result<Self, KeyError> {
        let needed = strength.key_len();
        let len = usize::from(start.len);
        if len < needed {
            return Err(KeyError::TooShortForStrength { len, needed });
        }
        let mut schedule = KeySchedule {
            start: start.bytes,
            current: [0; 16],
            strength,
        };
        let start_copy = schedule.start;
        get_new_key_from_sha(&start_copy, &start_copy, needed, &mut schedule.current);
        strength.reduce(&mut schedule.current);
        Ok(schedule)
    }

    /// Changes the session key (RFC 3078 §7.3): `interim =
    /// GetNewKeyFromSHA(start, current)`, `new = RC4(interim, interim)`,
    /// reduced. The previous key is overwritten.
    pub fn change(&mut self) {
        let mut scratch = Rc4::new(&[0]);
        self.change_using(&mut scratch);
    }

    /// [`KeySchedule::change`] with a caller's RC4 state as the scratch
    /// for the `RC4(interim, interim)` step, saving a 1 KiB temporary and
    /// its wipe per change. `scratch` is left keyed with the interim key:
    /// the caller re-keys it (the data path re-keys with the new session
    /// key right after).
    pub fn change_using<C: Keystream>(&mut self, scratch: &mut C) {
        let len = self.strength.key_len();
        let mut interim = [0u8; 16];
        get_new_key_from_sha(&self.start, &self.current, len, &mut interim);
        scratch.rekey(&interim[..len]);
        scratch.apply_keystream(&mut interim[..len]);
        self.current = interim;
        interim.zeroize();
        self.strength.reduce(&mut self.current);
    }

    /// The current RC4 session key (8 or 16 octets; secret: do not log).
    pub fn current(&self) -> &[u8] {
        &self.current[..self.strength.key_len()]
    }

    /// The strength this schedule produces keys for.
    pub fn strength(&self) -> KeyStrength {
        self.strength
    }

    /// The interim key of the next change, for tests against RFC 3078 §7.3
    /// samples.
    #[cfg(test)]
    fn next_interim(&self) -> [u8; 16] {
        let mut interim = [0u8; 16];
        get_new_key_from_sha(
            &self.start,
            &self.current,
            self.strength.key_len(),
            &mut interim,
        );
        interim
    }
}

impl fmt::Debug for KeySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeySchedule")
            .field("strength", &self.strength)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use md4::{Digest, Md4};

    const VECTORS: &str = include_str!("../tests/data/mppe_keys.toml");

    fn h(v: &toml::Value, field: &str) -> Vec<u8> {
        let s = v
            .get(field)
            .and_then(|x| x.as_str())
            .unwrap_or_else(|| panic!("missing {field}"));
        hex::decode(s).unwrap()
    }

    fn arr<const N: usize>(v: &[u8]) -> [u8; N] {
        v.try_into().unwrap()
    }

    fn vectors(kind: &str) -> Vec<toml::Value> {
        let doc: toml::Value = toml::from_str(VECTORS).unwrap();
        let all = doc["vector"].as_array().unwrap().clone();
        let found: Vec<_> = all
            .into_iter()
            .filter(|v| v["kind"].as_str() == Some(kind))
            .collect();
        assert!(!found.is_empty(), "no vectors of kind {kind}");
        found
    }

    fn strength_of(v: &toml::Value) -> KeyStrength {
        match v["key_bits"].as_integer().unwrap() {
            40 => KeyStrength::Bits40,
            56 => KeyStrength::Bits56,
            128 => KeyStrength::Bits128,
            other => panic!("key_bits {other}"),
        }
    }

    fn nt_hash(password: &str) -> [u8; 16] {
        let utf16: Vec<u8> = password
            .encode_utf16()
            .flat_map(|u| u.to_le_bytes())
            .collect();
        Md4::digest(&utf16).into()
    }

    fn rc4_sample(key: &[u8], text: &str) -> Vec<u8> {
        let mut data = text.as_bytes().to_vec();
        Rc4::new(key).apply_keystream(&mut data);
        data
    }

    #[test]
    fn rfc3079_section_3_5_mschapv2_all_strengths() {
        for v in vectors("mppe_v2") {
            let strength = strength_of(&v);
            let len = strength.key_len();
            // Password → hash → hash-hash, checked against the vector.
            let hash = nt_hash(v["password"].as_str().unwrap());
            assert_eq!(&hash[..], &h(&v, "password_hash")[..]);
            let hh: [u8; 16] = Md4::digest(hash).into();
            assert_eq!(&hh[..], &h(&v, "password_hash_hash")[..]);
            let nt_response: [u8; 24] = arr(&h(&v, "nt_response"));
            let master = master_key(&hh, &nt_response);
            assert_eq!(&master.as_bytes()[..], &h(&v, "master_key")[..]);

            let server = mschapv2_start_keys(&hh, &nt_response, Side::Server);
            let client = mschapv2_start_keys(&hh, &nt_response, Side::Client);
            let want_send = h(&v, "server_send_start_key");
            let want_recv = h(&v, "server_recv_start_key");
            assert_eq!(&server.send.as_bytes()[..len], &want_send[..]);
            assert_eq!(&server.receive.as_bytes()[..len], &want_recv[..]);
            assert_eq!(
                &client.send.as_bytes()[..len],
                &h(&v, "client_send_start_key")[..]
            );
            assert_eq!(
                &client.receive.as_bytes()[..len],
                &h(&v, "client_recv_start_key")[..]
            );

            // GetNewKeyFromSHA before reduction.
            let mut pre = [0u8; 16];
            let start = server.send.bytes;
            get_new_key_from_sha(&start, &start, len, &mut pre);
            assert_eq!(&pre[..len], &h(&v, "server_send_get_new_key_from_sha")[..]);

            let send = KeySchedule::new(&server.send, strength).unwrap();
            let recv = KeySchedule::new(&server.receive, strength).unwrap();
            assert_eq!(send.current(), &h(&v, "server_send_session_key")[..]);
            assert_eq!(recv.current(), &h(&v, "server_recv_session_key")[..]);
            let sample = rc4_sample(send.current(), v["sample_plaintext"].as_str().unwrap());
            assert_eq!(sample, h(&v, "server_send_rc4_sample"));

            // The RFC-printed values agree except where the vector file
            // lists a discrepancy (RFC 3079 §3.5.2's 56-bit sample).
            let quoted = v["rfc_quoted"].as_table().unwrap();
            let discrepancies: Vec<&str> = v
                .get("rfc_discrepancies")
                .and_then(|d| d.as_array())
                .map(|d| d.iter().filter_map(|x| x.as_str()).collect())
                .unwrap_or_default();
            for (field, value) in quoted {
                let computed = h(&v, field);
                let printed = hex::decode(value.as_str().unwrap()).unwrap();
                if discrepancies.contains(&field.as_str()) {
                    assert_ne!(computed, printed, "{field} listed as an RFC error");
                } else {
                    assert_eq!(computed, printed, "{field}");
                }
            }
        }
    }

    #[test]
    fn rfc3079_section_2_5_mschapv1_lm_based_40_56() {
        for v in vectors("mppe_v1_lm") {
            let strength = strength_of(&v);
            let lm: [u8; 16] = arr(&h(&v, "lm_password_hash"));
            let start = mschapv1_lm_start_key(&lm);
            let mut pre = [0u8; 16];
            get_new_key_from_sha(&start.bytes, &start.bytes, 8, &mut pre);
            assert_eq!(&pre[..8], &h(&v, "get_key_output")[..]);
            let schedule = KeySchedule::new(&start, strength).unwrap();
            assert_eq!(schedule.current(), &h(&v, "session_key")[..]);
            assert_eq!(
                KeySchedule::new(&start, KeyStrength::Bits128).unwrap_err(),
                KeyError::TooShortForStrength { len: 8, needed: 16 }
            );
        }
    }

    #[test]
    fn rfc3079_section_2_5_3_mschapv1_nt_based_and_pppd_variant() {
        for v in vectors("mppe_v1_nt") {
            let hash = nt_hash(v["password"].as_str().unwrap());
            assert_eq!(&hash[..], &h(&v, "password_hash")[..]);
            let hh: [u8; 16] = Md4::digest(hash).into();
            assert_eq!(&hh[..], &h(&v, "password_hash_hash")[..]);
            let challenge: [u8; 8] = arr(&h(&v, "challenge"));
            let start = mschapv1_start_key(&challenge, &hh);
            assert_eq!(start.as_bytes(), &h(&v, "initial_session_key")[..]);
            // RFC 3079 §2.5.3 Step 3 prints `… ac ca …`: a typo.
            let quoted =
                hex::decode(v["rfc_quoted"]["initial_session_key"].as_str().unwrap()).unwrap();
            assert_ne!(start.as_bytes(), &quoted[..]);
            let k128 = KeySchedule::new(&start, KeyStrength::Bits128).unwrap();
            assert_eq!(k128.current(), &h(&v, "current_session_key")[..]);
            // pppd/Linux: 40/56-bit keys from the first 8 octets.
            let k40 = KeySchedule::new(&start, KeyStrength::Bits40).unwrap();
            assert_eq!(k40.current(), &h(&v, "start_key_8_40bit_session_key")[..]);
            let k56 = KeySchedule::new(&start, KeyStrength::Bits56).unwrap();
            assert_eq!(k56.current(), &h(&v, "start_key_8_56bit_session_key")[..]);
        }
    }

    #[test]
    fn rfc3078_section_7_3_key_changes() {
        for v in vectors("mppe_key_changes") {
            let strength = strength_of(&v);
            let start = StartKey::from_slice(&h(&v, "start_key")).unwrap();
            // The vector's 40/56 start keys are 8 octets: from_slice keeps
            // exactly those.
            let mut schedule = KeySchedule::new(&start, strength).unwrap();
            assert_eq!(schedule.current(), &h(&v, "initial_session_key")[..]);
            let text = v["sample_plaintext"].as_str().unwrap();
            assert_eq!(
                rc4_sample(schedule.current(), text),
                h(&v, "initial_rc4_sample")
            );
            let changed = v["changed_session_keys"].as_array().unwrap();
            let interims = v["interim_keys"].as_array().unwrap();
            let samples = v["changed_rc4_samples"].as_array().unwrap();
            assert_eq!(changed.len(), 4);
            for ((want, interim), sample) in changed.iter().zip(interims).zip(samples) {
                let len = strength.key_len();
                assert_eq!(
                    &schedule.next_interim()[..len],
                    &hex::decode(interim.as_str().unwrap()).unwrap()[..]
                );
                schedule.change();
                assert_eq!(
                    schedule.current(),
                    &hex::decode(want.as_str().unwrap()).unwrap()[..]
                );
                assert_eq!(
                    rc4_sample(schedule.current(), text),
                    hex::decode(sample.as_str().unwrap()).unwrap()
                );
            }
        }
    }

    #[test]
    fn radius_keys_and_bad_lengths() {
        assert_eq!(
            StartKey::from_slice(&[0; 15]).unwrap_err(),
            KeyError::BadLength { len: 15 }
        );
        assert_eq!(
            StartKey::from_slice(&[]).unwrap_err(),
            KeyError::BadLength { len: 0 }
        );
        assert_eq!(
            StartKey::from_slice(&[0; 17]).unwrap_err(),
            KeyError::BadLength { len: 17 }
        );
        // A RADIUS MS-MPPE-Send-Key equal to the MS-CHAPv2 server send start
        // key yields the same session key.
        let v = &vectors("mppe_v2")[2];
        let radius = StartKey::from_slice(&h(v, "server_send_start_key")).unwrap();
        let s = KeySchedule::new(&radius, KeyStrength::Bits128).unwrap();
        assert_eq!(s.current(), &h(v, "server_send_session_key")[..]);
    }

    #[test]
    fn radius_rfc2548_keys_give_the_rfc3079_session_keys() {
        let radius: toml::Value =
            toml::from_str(include_str!("../tests/data/radius_ms_mppe.toml")).unwrap();
        let find = |id: &str| {
            radius["vector"]
                .as_array()
                .unwrap()
                .iter()
                .find(|v| v["id"].as_str() == Some(id))
                .unwrap()
                .clone()
        };
        let send = h(&find("rfc2548-ms-mppe-send-key"), "key");
        let recv = h(&find("rfc2548-ms-mppe-recv-key"), "key");
        let keys = StartKeys::from_radius(&send, &recv).unwrap();
        for v in vectors("mppe_v2") {
            let strength = strength_of(&v);
            let s = KeySchedule::new(&keys.send, strength).unwrap();
            let r = KeySchedule::new(&keys.receive, strength).unwrap();
            assert_eq!(s.current(), &h(&v, "server_send_session_key")[..]);
            assert_eq!(r.current(), &h(&v, "server_recv_session_key")[..]);
        }
        // MS-CHAP-MPPE-Keys: NT-Key is PasswordHashHash (what
        // Get_Start_Key consumes), LM-Key the 8-octet LM start key.
        let chap = find("rfc2548-ms-chap-mppe-keys");
        let v1 = &vectors("mppe_v1_nt")[0];
        assert_eq!(h(&chap, "nt_key"), h(v1, "password_hash_hash"));
        let hh: [u8; 16] = arr(&h(&chap, "nt_key"));
        let challenge: [u8; 8] = arr(&h(v1, "challenge"));
        let nt_start = mschapv1_start_key(&challenge, &hh);
        assert_eq!(
            KeySchedule::new(&nt_start, KeyStrength::Bits128)
                .unwrap()
                .current(),
            &h(v1, "current_session_key")[..]
        );
        let lm = StartKey::from_slice(&h(&chap, "lm_key")).unwrap();
        for v in vectors("mppe_v1_lm") {
            let lm_hash: [u8; 16] = arr(&h(&v, "lm_password_hash"));
            assert_eq!(lm.as_bytes(), mschapv1_lm_start_key(&lm_hash).as_bytes());
            assert_eq!(
                KeySchedule::new(&lm, strength_of(&v)).unwrap().current(),
                &h(&v, "session_key")[..]
            );
        }
        let both = StartKeys::symmetric(nt_start);
        assert_eq!(both.send.as_bytes(), both.receive.as_bytes());
        assert_eq!(
            StartKeys::from_radius(&send, &[0; 3]).unwrap_err(),
            KeyError::BadLength { len: 3 }
        );
    }

    #[test]
    fn debug_output_has_no_key_octets() {
        let start = StartKey::from_bytes([0xab; 16]);
        let schedule = KeySchedule::new(&start, KeyStrength::Bits128).unwrap();
        let text = format!(
            "{start:?} {schedule:?} {:?}",
            master_key(&[0xab; 16], &[0xab; 24])
        );
        assert!(!text.contains("ab"), "{text}");
        assert!(!text.contains("171"), "{text}");
    }
}
