//! CHAP-MD5 (RFC 1994) and MS-CHAP (RFC 2433, RFC 2759) primitives.
//!
//! Names follow the RFCs' pseudo-code (RFC 2759 §8, RFC 2433 appendix A).
//! Passwords enter as UTF-8 octets; the NT hash takes them as UTF-16LE
//! (RFC 2759 §8.3), converted on the fly in a small stack buffer that is
//! wiped afterwards: nothing is allocated and at most 256 UTF-16 code
//! units are accepted (RFC 2759 §8.3 "0 to 256 unicode characters").

use core::fmt;

use des::cipher::{generic_array::GenericArray, BlockDecrypt, BlockEncrypt, KeyInit};
use md4::digest::{FixedOutputReset, Output, Reset, Update};
use md4::Md4;
use md5::Md5;
use sha1::Sha1;
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

/// Longest password the NT hash takes, in UTF-16 code units (RFC 2759 §8.3).
pub const MAX_PASSWORD_UNITS: usize = 256;

/// Errors from the MS-CHAP primitives.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The password is not valid UTF-8, so it has no UTF-16 form for the
    /// NT hash.
    PasswordNotUtf8,
    /// The password has more than 256 UTF-16 code units.
    PasswordTooLong {
        /// Its length in UTF-16 code units.
        units: usize,
    },
    /// A decrypted Change-Password block (RFC 2759 §8.10) whose
    /// PasswordLength is odd or beyond the 512-octet password area: the
    /// old password was wrong or the block was forged.
    BadPasswordBlockLength {
        /// The length field as decrypted.
        length: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::PasswordNotUtf8 => write!(f, "password is not valid UTF-8"),
            Error::PasswordTooLong { units } => write!(
                f,
                "password has {units} UTF-16 units, at most {MAX_PASSWORD_UNITS} allowed"
            ),
            Error::BadPasswordBlockLength { length } => write!(
                f,
                "password block length {length} is odd or beyond {PW_BLOCK_PASSWORD_LEN} octets"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Feeds `parts` to a fresh `D`, returns the digest and scrubs the
/// hasher: RustCrypto's digest 0.10 hashers (MD4, MD5, SHA-1: 64-octet
/// blocks) do not wipe their block buffer on drop, and the input here is
/// passwords and hashes of them. After finishing, the buffer is
/// overwritten with zeros and the state reset; `black_box` keeps those
/// writes from being optimised away. (mppe's key derivation has the same
/// few lines for SHA-1: the crates do not depend on each other's
/// internals.)
pub(crate) fn digest_scrubbed<D>(parts: &[&[u8]]) -> Output<D>
where
    D: Default + Update + FixedOutputReset + Reset,
{
    digest_scrubbed2::<D>(parts, &[])
}

/// [`digest_scrubbed`] of `head` followed by `tail`.
pub(crate) fn digest_scrubbed2<D>(head: &[&[u8]], tail: &[&[u8]]) -> Output<D>
where
    D: Default + Update + FixedOutputReset + Reset,
{
    let mut hasher = D::default();
    for part in head.iter().chain(tail) {
        Update::update(&mut hasher, part);
    }
    let out = FixedOutputReset::finalize_fixed_reset(&mut hasher);
    // One octet short of a block: copied into the buffer, never hashed.
    Update::update(&mut hasher, &[0u8; 63]);
    Reset::reset(&mut hasher);
    core::hint::black_box(&hasher);
    out
}

/// CHAP-MD5 response: MD5(Identifier | secret | Challenge) (RFC 1994 §4.1).
pub fn chap_md5_response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    digest_scrubbed::<Md5>(&[&[identifier], secret, challenge]).into()
}

/// NtPasswordHash: MD4 of the UTF-16LE password (RFC 2759 §8.3).
pub fn nt_password_hash(password: &[u8]) -> Result<[u8; 16], Error> {
    let text = core::str::from_utf8(password).map_err(|_| Error::PasswordNotUtf8)?;
    let units = text.encode_utf16().count();
    if units > MAX_PASSWORD_UNITS {
        return Err(Error::PasswordTooLong { units });
    }
    let mut hasher = Md4::default();
    // Convert in 64-octet chunks so the UTF-16 copy never needs a large
    // buffer; the chunk is wiped before returning.
    let mut chunk = [0u8; 64];
    let mut filled = 0;
    for unit in text.encode_utf16() {
        let [lo, hi] = unit.to_le_bytes();
        chunk[filled] = lo;
        chunk[filled + 1] = hi;
        filled += 2;
        if filled == chunk.len() {
            Update::update(&mut hasher, &chunk);
            filled = 0;
        }
    }
    Update::update(&mut hasher, &chunk[..filled]);
    chunk.zeroize();
    let hash = FixedOutputReset::finalize_fixed_reset(&mut hasher);
    // As in digest_scrubbed: wipe the buffered tail of the password.
    Update::update(&mut hasher, &[0u8; 63]);
    Reset::reset(&mut hasher);
    core::hint::black_box(&hasher);
    Ok(hash.into())
}

/// Size of the Change-Password block (RFC 2759 §8.10 `PWBLOCK`): a
/// password area of 256 UTF-16 units and a 4-octet PasswordLength.
pub const PW_BLOCK_LEN: usize = 516;
/// Size of the block's password area; the password sits at its end.
pub const PW_BLOCK_PASSWORD_LEN: usize = 2 * MAX_PASSWORD_UNITS;

/// NewPasswordEncryptedWithOldNtPasswordHash (RFC 2759 §8.9) with the old
/// hash already computed, i.e. EncryptPwBlockWithPasswordHash (§8.10):
/// the UTF-16LE `new_password` at the end of the 512-octet area, `fill`
/// (random octets from the host: the crate has no randomness) before it,
/// the length in octets as a little-endian 32-bit PasswordLength (the
/// RFC's `ulong` on Windows' x86), all RC4-encrypted with the old hash
/// (§8.11).
pub fn encrypt_pw_block(
    new_password: &[u8],
    old_password_hash: &[u8; 16],
    fill: &[u8; PW_BLOCK_PASSWORD_LEN],
) -> Result<[u8; PW_BLOCK_LEN], Error> {
    let text = core::str::from_utf8(new_password).map_err(|_| Error::PasswordNotUtf8)?;
    let units = text.encode_utf16().count();
    if units > MAX_PASSWORD_UNITS {
        return Err(Error::PasswordTooLong { units });
    }
    let mut block = [0u8; PW_BLOCK_LEN];
    block[..PW_BLOCK_PASSWORD_LEN].copy_from_slice(fill);
    let offset = PW_BLOCK_PASSWORD_LEN - 2 * units;
    for (slot, unit) in block[offset..PW_BLOCK_PASSWORD_LEN]
        .chunks_exact_mut(2)
        .zip(text.encode_utf16())
    {
        slot.copy_from_slice(&unit.to_le_bytes());
    }
    // At most 512: fits the 4-octet field.
    block[PW_BLOCK_PASSWORD_LEN..].copy_from_slice(&((2 * units) as u32).to_le_bytes());
    rc4_in_place(old_password_hash, &mut block);
    Ok(block)
}

/// The authenticator's side of §8.10: decrypts `encrypted` with the old
/// NT hash and returns the NT hash (MD4, §8.3) of the new password it
/// carries, without ever holding the password as text. The length is
/// bounded to the 512-octet area and must be even (whole UTF-16 units); a
/// wrong old password decrypts to a random length and almost always fails
/// here, otherwise at the Encrypted-Hash check. The decrypted copy is wiped.
pub fn new_nt_hash_from_pw_block(
    encrypted: &[u8; PW_BLOCK_LEN],
    old_password_hash: &[u8; 16],
) -> Result<[u8; 16], Error> {
    let mut block = *encrypted;
    rc4_in_place(old_password_hash, &mut block);
    let mut length_octets = [0u8; 4];
    length_octets.copy_from_slice(&block[PW_BLOCK_PASSWORD_LEN..]);
    let length = u32::from_le_bytes(length_octets);
    let result = match usize::try_from(length) {
        Ok(len) if len <= PW_BLOCK_PASSWORD_LEN && len % 2 == 0 => {
            let password = &block[PW_BLOCK_PASSWORD_LEN - len..PW_BLOCK_PASSWORD_LEN];
            Ok(digest_scrubbed::<Md4>(&[password]).into())
        }
        _ => Err(Error::BadPasswordBlockLength { length }),
    };
    block.zeroize();
    length_octets.zeroize();
    result
}

/// Rc4Encrypt (RFC 2759 §8.11) with a 16-octet key, in place; the
/// cipher's state is wiped when it drops (the `rc4` crate's `zeroize`).
fn rc4_in_place(key: &[u8; 16], data: &mut [u8]) {
    use rc4::{KeyInit, StreamCipher};
    let mut cipher = rc4::Rc4::<rc4::consts::U16>::new(key.into());
    cipher.apply_keystream(data);
}

/// NtPasswordHashEncryptedWithBlock (RFC 2759 §8.13): each half of
/// `password_hash` DES-encrypted with 7 octets of `block`.
pub fn nt_password_hash_encrypted_with_block(
    password_hash: &[u8; 16],
    block: &[u8; 16],
) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_exact_mut(8).enumerate() {
        let mut clear = [0u8; 8];
        clear.copy_from_slice(&password_hash[8 * i..8 * i + 8]);
        let mut key = [0u8; 7];
        key.copy_from_slice(&block[7 * i..7 * i + 7]);
        half.copy_from_slice(&des_encrypt(&clear, &key));
        clear.zeroize();
        key.zeroize();
    }
    out
}

/// The inverse of [`nt_password_hash_encrypted_with_block`]: each half of
/// `cypher` DES-decrypted with 7 octets of `block`. The authenticator of
/// an MS-CHAPv1 Change Password version 1 (RFC 2433, code 5) recovers the
/// new NT hash from its Encrypted-New-NT-Hash with the old hash as
/// `block`.
pub fn password_hash_decrypted_with_block(cypher: &[u8; 16], block: &[u8; 16]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (i, half) in out.chunks_exact_mut(8).enumerate() {
        let mut enciphered = [0u8; 8];
        enciphered.copy_from_slice(&cypher[8 * i..8 * i + 8]);
        let mut key = [0u8; 7];
        key.copy_from_slice(&block[7 * i..7 * i + 7]);
        half.copy_from_slice(&des_decrypt(&enciphered, &key));
        key.zeroize();
    }
    out
}

/// OldNtPasswordHashEncryptedWithNewNtPasswordHash (RFC 2759 §8.12), from
/// the two hashes: proves the peer knew the old password and chose the
/// new one. The authenticator recomputes it and compares in constant time
/// ([`check_encrypted_hash`]).
pub fn old_nt_hash_encrypted_with_new(old_hash: &[u8; 16], new_hash: &[u8; 16]) -> [u8; 16] {
    nt_password_hash_encrypted_with_block(old_hash, new_hash)
}

/// Compares a received Encrypted-Hash with the expected one in constant time.
pub fn check_encrypted_hash(expected: &[u8; 16], received: &[u8; 16]) -> bool {
    bool::from(expected.ct_eq(received))
}

/// HashNtPasswordHash: MD4 of the NT hash (RFC 2759 §8.4).
pub fn hash_nt_password_hash(password_hash: &[u8; 16]) -> [u8; 16] {
    digest_scrubbed::<Md4>(&[password_hash]).into()
}

/// Spreads 7 key octets over 8 DES key octets, 7 bits each, and sets odd
/// parity in the low bit (RFC 2759 §8.6 and the §9.3 example).
pub fn des_key_7_to_8(key7: &[u8; 7]) -> [u8; 8] {
    let bits = key7.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let mut key8 = [0u8; 8];
    for (i, octet) in key8.iter_mut().enumerate() {
        let seven = ((bits >> (49 - 7 * i)) & 0x7f) as u8;
        let high = seven << 1;
        // Odd parity: the low bit makes the number of one bits odd.
        *octet = high | u8::from(high.count_ones() % 2 == 0);
    }
    key8
}

/// DesEncrypt: one DES block with a 7-octet key (RFC 2759 §8.6).
pub fn des_encrypt(clear: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    let mut key8 = des_key_7_to_8(key7);
    let cipher = des::Des::new(GenericArray::from_slice(&key8));
    key8.zeroize();
    let mut block = GenericArray::clone_from_slice(clear);
    cipher.encrypt_block(&mut block);
    block.into()
}

/// The DES decryption of one block with a 7-octet key (the inverse of
/// [`des_encrypt`]).
pub fn des_decrypt(cypher: &[u8; 8], key7: &[u8; 7]) -> [u8; 8] {
    let mut key8 = des_key_7_to_8(key7);
    let cipher = des::Des::new(GenericArray::from_slice(&key8));
    key8.zeroize();
    let mut block = GenericArray::clone_from_slice(cypher);
    cipher.decrypt_block(&mut block);
    block.into()
}

/// ChallengeResponse: three DES encryptions of an 8-octet challenge with
/// the 16-octet hash zero-padded to 21 octets (RFC 2759 §8.5).
pub fn challenge_response(challenge: &[u8; 8], password_hash: &[u8; 16]) -> [u8; 24] {
    let mut z = [0u8; 21];
    z[..16].copy_from_slice(password_hash);
    let mut response = [0u8; 24];
    for (i, out) in response.chunks_exact_mut(8).enumerate() {
        let mut key = [0u8; 7];
        key.copy_from_slice(&z[7 * i..7 * i + 7]);
        out.copy_from_slice(&des_encrypt(challenge, &key));
        key.zeroize();
    }
    z.zeroize();
    response
}

/// LmPasswordHash (RFC 2433 §A.2): the password upper-cased (ASCII; RFC
/// 2433 uses the OEM character set, which agrees on ASCII), padded or cut
/// to 14 octets, each half used as a DES key on "KGS!@#$%".
pub fn lm_password_hash(password: &[u8]) -> [u8; 16] {
    const MAGIC: &[u8; 8] = b"KGS!@#$%";
    let mut upper = [0u8; 14];
    for (dst, src) in upper.iter_mut().zip(password.iter()) {
        *dst = src.to_ascii_uppercase();
    }
    let mut hash = [0u8; 16];
    let mut half = [0u8; 7];
    half.copy_from_slice(&upper[..7]);
    hash[..8].copy_from_slice(&des_encrypt(MAGIC, &half));
    half.copy_from_slice(&upper[7..]);
    hash[8..].copy_from_slice(&des_encrypt(MAGIC, &half));
    half.zeroize();
    upper.zeroize();
    hash
}

/// MS-CHAPv1 NT response: ChallengeResponse(challenge, NT hash) (RFC 2433 §A.5).
pub fn mschapv1_nt_response(challenge: &[u8; 8], nt_password_hash: &[u8; 16]) -> [u8; 24] {
    challenge_response(challenge, nt_password_hash)
}

/// MS-CHAPv1 LM response: ChallengeResponse(challenge, LM hash) (RFC 2433 §A.1).
pub fn mschapv1_lm_response(challenge: &[u8; 8], lm_password_hash: &[u8; 16]) -> [u8; 24] {
    challenge_response(challenge, lm_password_hash)
}

/// The user name without a "DOMAIN\" prefix (everything after the last
/// backslash). RFC 2759 §8.2: only the user name, "excluding any
/// prepended domain name", enters the ChallengeHash.
pub fn strip_domain(username: &[u8]) -> &[u8] {
    match username.iter().rposition(|&b| b == b'\\') {
        Some(i) => username.get(i + 1..).unwrap_or(&[]),
        None => username,
    }
}

/// ChallengeHash: the first 8 octets of SHA1(PeerChallenge |
/// AuthenticatorChallenge | UserName) (RFC 2759 §8.2). A "DOMAIN\" prefix
/// is removed from `username` first.
pub fn challenge_hash(
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    username: &[u8],
) -> [u8; 8] {
    let digest: [u8; 20] = digest_scrubbed::<Sha1>(&[
        peer_challenge,
        authenticator_challenge,
        strip_domain(username),
    ])
    .into();
    let mut out = [0u8; 8];
    out.copy_from_slice(&digest[..8]);
    out
}

/// GenerateNTResponse (RFC 2759 §8.1), from the NT password hash.
pub fn generate_nt_response(
    authenticator_challenge: &[u8; 16],
    peer_challenge: &[u8; 16],
    username: &[u8],
    password_hash: &[u8; 16],
) -> [u8; 24] {
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, username);
    challenge_response(&challenge, password_hash)
}

/// GenerateAuthenticatorResponse (RFC 2759 §8.7), as the 20 raw octets;
/// format them with [`crate::wire::auth::format_authenticator_response`].
pub fn generate_authenticator_response(
    password_hash: &[u8; 16],
    nt_response: &[u8; 24],
    peer_challenge: &[u8; 16],
    authenticator_challenge: &[u8; 16],
    username: &[u8],
) -> [u8; 20] {
    const MAGIC1: &[u8; 39] = b"Magic server to client signing constant";
    const MAGIC2: &[u8; 41] = b"Pad to make it do more than one iteration";
    let mut hash_hash = hash_nt_password_hash(password_hash);
    let mut digest: [u8; 20] = digest_scrubbed::<Sha1>(&[&hash_hash, nt_response, MAGIC1]).into();
    hash_hash.zeroize();
    let challenge = challenge_hash(peer_challenge, authenticator_challenge, username);
    let response = digest_scrubbed::<Sha1>(&[&digest, &challenge, MAGIC2]).into();
    digest.zeroize();
    response
}

/// CheckAuthenticatorResponse (RFC 2759 §8.8): compares the received
/// authenticator response with the expected one in constant time.
pub fn check_authenticator_response(expected: &[u8; 20], received: &[u8; 20]) -> bool {
    bool::from(expected.ct_eq(received))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::testdata::{hex, hex_n, vectors};
    use crate::wire::auth::format_authenticator_response;
    use md4::Digest;

    #[test]
    fn mschapv2_vectors() {
        let mut seen = 0;
        for v in vectors(include_str!("../../tests/data/mschapv2.toml"), "mschapv2") {
            let id = v["id"].as_str().unwrap();
            let user = v["username"].as_str().unwrap().as_bytes();
            let password = v["password"].as_str().unwrap().as_bytes();
            assert_eq!(hex(&v["username_hex"]), user, "{id}");
            let auth: [u8; 16] = hex_n(&v["authenticator_challenge"]);
            let peer: [u8; 16] = hex_n(&v["peer_challenge"]);
            assert_eq!(
                challenge_hash(&peer, &auth, user).to_vec(),
                hex(&v["challenge_hash"]),
                "{id}"
            );
            let hash = nt_password_hash(password).unwrap();
            assert_eq!(hash.to_vec(), hex(&v["password_hash"]), "{id}");
            assert_eq!(
                hash_nt_password_hash(&hash).to_vec(),
                hex(&v["password_hash_hash"]),
                "{id}"
            );
            let nt = generate_nt_response(&auth, &peer, user, &hash);
            assert_eq!(nt.to_vec(), hex(&v["nt_response"]), "{id}");
            let ar = generate_authenticator_response(&hash, &nt, &peer, &auth, user);
            assert_eq!(
                &format_authenticator_response(&ar)[..],
                v["authenticator_response"].as_str().unwrap().as_bytes(),
                "{id}"
            );
            assert!(check_authenticator_response(&ar, &ar));
            let mut wrong = ar;
            wrong[19] ^= 1;
            assert!(!check_authenticator_response(&ar, &wrong));
            // RFC-quoted values, where the file has them, agree.
            if let Some(q) = v.get("rfc_quoted") {
                assert_eq!(hex(&q["nt_response"]), nt.to_vec());
                assert_eq!(
                    q["authenticator_response"].as_str().unwrap().as_bytes(),
                    &format_authenticator_response(&ar)[..]
                );
            }
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    /// RFC 2759 §7 and §8.9-8.13, against values computed independently
    /// (tests/data/mschapv2_change_password.py: pycryptodome MD4, DES,
    /// ARC4).
    #[test]
    fn change_password_vectors() {
        let file = include_str!("../../tests/data/mschapv2_change_password.toml");
        let mut seen = 0;
        for v in vectors(file, "mschapv2_change_password") {
            let id = v["id"].as_str().unwrap();
            let user = v["username"].as_str().unwrap().as_bytes();
            let old = nt_password_hash(v["old_password"].as_str().unwrap().as_bytes()).unwrap();
            let new_password = v["new_password"].as_str().unwrap().as_bytes();
            let new = nt_password_hash(new_password).unwrap();
            assert_eq!(old.to_vec(), hex(&v["old_password_hash"]), "{id}");
            assert_eq!(new.to_vec(), hex(&v["new_password_hash"]), "{id}");
            let fill: [u8; PW_BLOCK_PASSWORD_LEN] = hex_n(&v["fill"]);
            let block = encrypt_pw_block(new_password, &old, &fill).unwrap();
            assert_eq!(block.to_vec(), hex(&v["encrypted_password"]), "{id}");
            assert_eq!(new_nt_hash_from_pw_block(&block, &old), Ok(new), "{id}");
            let encrypted_hash = old_nt_hash_encrypted_with_new(&old, &new);
            assert_eq!(encrypted_hash.to_vec(), hex(&v["encrypted_hash"]), "{id}");
            assert!(check_encrypted_hash(
                &encrypted_hash,
                &hex_n(&v["encrypted_hash"])
            ));
            let auth: [u8; 16] = hex_n(&v["authenticator_challenge"]);
            let peer: [u8; 16] = hex_n(&v["peer_challenge"]);
            let nt = generate_nt_response(&auth, &peer, user, &new);
            assert_eq!(nt.to_vec(), hex(&v["nt_response"]), "{id}");
            let ar = generate_authenticator_response(&new, &nt, &peer, &auth, user);
            assert_eq!(
                &format_authenticator_response(&ar)[..],
                v["authenticator_response"].as_str().unwrap().as_bytes(),
                "{id}"
            );
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    /// RFC 2433 Change Password packets (versions 1 and 2, Appendix A),
    /// against values computed independently
    /// (tests/data/mschapv1_change_password.py: pycryptodome MD4, DES,
    /// ARC4).
    #[test]
    fn mschapv1_change_password_vectors() {
        let file = include_str!("../../tests/data/mschapv1_change_password.toml");
        let mut seen = 0;
        for v in vectors(file, "mschapv1_change_password_v2") {
            let id = v["id"].as_str().unwrap();
            let old = nt_password_hash(v["old_password"].as_str().unwrap().as_bytes()).unwrap();
            let new_password = v["new_password"].as_str().unwrap().as_bytes();
            let new = nt_password_hash(new_password).unwrap();
            assert_eq!(new.to_vec(), hex(&v["new_password_hash"]), "{id}");
            let fill: [u8; PW_BLOCK_PASSWORD_LEN] = hex_n(&v["fill"]);
            // A.11 is RFC 2759 §8.9, A.14 is §8.12: the same functions.
            let block = encrypt_pw_block(new_password, &old, &fill).unwrap();
            assert_eq!(block.to_vec(), hex(&v["encrypted_password"]), "{id}");
            assert_eq!(new_nt_hash_from_pw_block(&block, &old), Ok(new), "{id}");
            let encrypted_hash = old_nt_hash_encrypted_with_new(&old, &new);
            assert_eq!(encrypted_hash.to_vec(), hex(&v["encrypted_hash"]), "{id}");
            let challenge: [u8; 8] = hex_n(&v["challenge"]);
            assert_eq!(
                mschapv1_nt_response(&challenge, &new).to_vec(),
                hex(&v["nt_response"]),
                "{id}"
            );
            seen += 1;
        }
        for v in vectors(file, "mschapv1_change_password_v1") {
            let old = nt_password_hash(v["old_password"].as_str().unwrap().as_bytes()).unwrap();
            let new = nt_password_hash(v["new_password"].as_str().unwrap().as_bytes()).unwrap();
            let encrypted_new: [u8; 16] = hex_n(&v["encrypted_new_nt_hash"]);
            assert_eq!(
                nt_password_hash_encrypted_with_block(&new, &old),
                encrypted_new
            );
            assert_eq!(
                password_hash_decrypted_with_block(&encrypted_new, &old),
                new
            );
            assert_eq!(
                old_nt_hash_encrypted_with_new(&old, &new),
                hex_n::<16>(&v["encrypted_old_nt_hash"])
            );
            seen += 1;
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn password_block_length_is_bounded_and_checked() {
        let old = nt_password_hash(b"old").unwrap();
        let fill = [0x5a; PW_BLOCK_PASSWORD_LEN];
        // A block whose PasswordLength is `length`, encrypted as a peer would.
        let forged = |length: u32| {
            let mut clear = [0x41u8; PW_BLOCK_LEN];
            clear[PW_BLOCK_PASSWORD_LEN..].copy_from_slice(&length.to_le_bytes());
            rc4_in_place(&old, &mut clear);
            clear
        };
        for length in [513, 514, 1000, u32::MAX, 1, 511] {
            assert_eq!(
                new_nt_hash_from_pw_block(&forged(length), &old),
                Err(Error::BadPasswordBlockLength { length }),
                "{length}"
            );
        }
        // 0 (empty new password, RFC 2759 §8.3 allows it) and 512 (256 units).
        assert_eq!(
            new_nt_hash_from_pw_block(&forged(0), &old),
            Ok(nt_password_hash(b"").unwrap())
        );
        let all: [u8; 16] = Md4::digest([0x41u8; 512]).into();
        assert_eq!(new_nt_hash_from_pw_block(&forged(512), &old), Ok(all));
        // The wrong old hash decrypts the length to noise.
        let block = encrypt_pw_block(b"new", &old, &fill).unwrap();
        let wrong = nt_password_hash(b"not old").unwrap();
        assert!(matches!(
            new_nt_hash_from_pw_block(&block, &wrong),
            Err(Error::BadPasswordBlockLength { .. })
        ));
        // The peer side refuses what has no NT hash.
        assert_eq!(
            encrypt_pw_block(&[0xff], &old, &fill),
            Err(Error::PasswordNotUtf8)
        );
        assert_eq!(
            encrypt_pw_block("a".repeat(257).as_bytes(), &old, &fill),
            Err(Error::PasswordTooLong { units: 257 })
        );
    }

    #[test]
    fn des_parity_vectors() {
        let mut seen = 0;
        for v in vectors(include_str!("../../tests/data/mschapv2.toml"), "des_parity") {
            let key7: [u8; 7] = hex_n(&v["key7"]);
            assert_eq!(des_key_7_to_8(&key7).to_vec(), hex(&v["key8"]));
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn mschapv1_vectors() {
        let mut seen = 0;
        for v in vectors(include_str!("../../tests/data/mschapv1.toml"), "mschapv1") {
            let id = v["id"].as_str().unwrap();
            let password = v["password"].as_str().unwrap().as_bytes();
            let challenge: [u8; 8] = hex_n(&v["challenge"]);
            let hash = nt_password_hash(password).unwrap();
            assert_eq!(hash.to_vec(), hex(&v["password_hash"]), "{id}");
            assert_eq!(
                mschapv1_nt_response(&challenge, &hash).to_vec(),
                hex(&v["nt_response"]),
                "{id}"
            );
            if let Some(lm) = v.get("lm_password_hash") {
                let lm_hash = lm_password_hash(password);
                assert_eq!(lm_hash.to_vec(), hex(lm), "{id}");
                assert_eq!(
                    mschapv1_lm_response(&challenge, &lm_hash).to_vec(),
                    hex(&v["lm_response"]),
                    "{id}"
                );
            }
            seen += 1;
        }
        assert_eq!(seen, 4);
    }

    #[test]
    fn chap_md5_vectors() {
        let mut seen = 0;
        for v in vectors(include_str!("../../tests/data/chap_pap.toml"), "chap_md5") {
            let id = v["identifier"].as_integer().unwrap() as u8;
            let response = chap_md5_response(
                id,
                v["secret"].as_str().unwrap().as_bytes(),
                &hex(&v["challenge"]),
            );
            assert_eq!(response.to_vec(), hex(&v["response_value"]));
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn utf16_conversion_handles_non_ascii_and_chunk_boundaries() {
        // 40 code units = 80 octets: crosses the 64-octet chunk boundary.
        let long = "é".repeat(40);
        let mut expected = Md4::new();
        for unit in long.encode_utf16() {
            Digest::update(&mut expected, unit.to_le_bytes());
        }
        let expected: [u8; 16] = expected.finalize().into();
        assert_eq!(nt_password_hash(long.as_bytes()).unwrap(), expected);
        // Astral characters are two UTF-16 units each.
        let emoji = "😀".repeat(128);
        assert_eq!(nt_password_hash(emoji.as_bytes()).map(|_| ()), Ok(()));
        let emoji = "😀".repeat(129);
        assert_eq!(
            nt_password_hash(emoji.as_bytes()),
            Err(Error::PasswordTooLong { units: 258 })
        );
    }

    #[test]
    fn bad_passwords_are_typed_errors() {
        assert_eq!(nt_password_hash(&[0xff, 0xfe]), Err(Error::PasswordNotUtf8));
        assert_eq!(
            nt_password_hash("a".repeat(257).as_bytes()),
            Err(Error::PasswordTooLong { units: 257 })
        );
        assert!(nt_password_hash("a".repeat(256).as_bytes()).is_ok());
        // Empty password is allowed (RFC 2759 §8.3: 0 to 256 characters).
        assert_eq!(
            nt_password_hash(b"").unwrap(),
            <[u8; 16]>::from(Md4::digest(b""))
        );
    }

    #[test]
    fn strip_domain_takes_text_after_last_backslash() {
        assert_eq!(strip_domain(b"DOMAIN\\user"), b"user");
        assert_eq!(strip_domain(b"a\\b\\user"), b"user");
        assert_eq!(strip_domain(b"user"), b"user");
        assert_eq!(strip_domain(b"DOMAIN\\"), b"");
    }
}
