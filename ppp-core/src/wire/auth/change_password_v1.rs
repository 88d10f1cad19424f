//! The MS-CHAPv1 Change Password packets (RFC 2433 "Change Password
//! Packet (version 1)", CHAP code 5, and "(version 2)", code 6).
//!
//! A Windows NT/95/98 RAS client whose password has expired gets a
//! Failure with `E=648` and answers it with one of these instead of a
//! Response. The Failure's `V=` says which: absent or 1, version 1; 2 or
//! more, version 2 (RFC 2433 "Failure Packet": version 1 is deprecated).
//! Neither carries a Name: the account is the one of the preceding
//! Response.
//!
//! Version 2 carries the new password as a 516-octet block under the old
//! NT hash (the RFC 2759 §8.9/§8.10 computation, RFC 2433 A.11), the old NT
//! hash under the new one (A.14, RFC 2759 §8.12), the same pair with the LM
//! hash (A.15, A.16), and LM and NT Responses computed with the new
//! password. Version 1 carries only the hashes, each encrypted under the
//! other (old LM under new LM, new LM under old LM, the same for NT), the
//! new password's length and the Flags.

use super::change_password::{copy, fixed_packet};
use super::{chap_code, check_room, header, Result, Writer, HEADER_LEN};
use crate::auth::crypto::PW_BLOCK_LEN;

/// Length of a version 2 Change Password packet (RFC 2433: 1118).
pub const MSCHAPV1_CHANGE_PASSWORD_V2_LEN: usize = 1118;
/// Length of a version 1 Change Password packet (RFC 2433: 72).
pub const MSCHAPV1_CHANGE_PASSWORD_V1_LEN: usize = 72;
/// The Flags bit saying the NT-Response (version 2) or the NT hashes
/// (version 1) are valid: the least significant bit of the 2-octet,
/// network-order field (RFC 2433; RFC 2548 MS-CHAP-CPW-1/2 "Flags").
pub const CHANGE_PASSWORD_FLAG_USE_NT: u16 = 0x0001;

mod field {
    use core::ops::Range;
    // Offsets in the body (after the 4-octet header), RFC 2433
    // "Change Password Packet (version 2)".
    pub const ENCRYPTED_PASSWORD: Range<usize> = 0..516;
    pub const ENCRYPTED_HASH: Range<usize> = 516..532;
    pub const ENCRYPTED_LM_PASSWORD: Range<usize> = 532..1048;
    // Encrypted-LM-Hash: 1048..1064.
    pub const LM_RESPONSE: Range<usize> = 1064..1088;
    pub const NT_RESPONSE: Range<usize> = 1088..1112;
    pub const FLAGS: Range<usize> = 1112..1114;

    // "Change Password Packet (version 1)".
    pub const OLD_LM_HASH: Range<usize> = 0..16;
    pub const NEW_LM_HASH: Range<usize> = 16..32;
    pub const OLD_NT_HASH: Range<usize> = 32..48;
    pub const NEW_NT_HASH: Range<usize> = 48..64;
    pub const PASSWORD_LENGTH: Range<usize> = 64..66;
    pub const V1_FLAGS: Range<usize> = 66..68;
}

/// A parsed MS-CHAPv1 Change Password packet, version 2 (RFC 2433, code 6).
///
/// The LM fields (Encrypted-LM-Password, the new password under the old
/// LM hash, A.15; Encrypted-LM-Hash, the old LM hash under the new NT
/// hash, A.16; the LM-Response) are checked for size and skipped: this
/// crate never uses the LM hash to judge a password (RFC 2433 §12,
/// Security Considerations), and keeping 556 octets it would not read
/// would grow every authentication event (no allocator).
/// [`MsChapV1ChangePassword::emit`] writes them as zeros, as this crate's
/// peer sends them (the Flags' use-NT bit set).
#[derive(Clone, PartialEq, Eq)]
pub struct MsChapV1ChangePassword {
    /// Identifier: the Failure's plus one, as for a retried Response.
    pub identifier: u8,
    /// New password block, RC4 under the old NT hash (A.11).
    pub encrypted_password: [u8; PW_BLOCK_LEN],
    /// Old NT hash DES-encrypted with the new one (A.14).
    pub encrypted_hash: [u8; 16],
    /// NT Response with the new password over the Failure's challenge.
    pub nt_response: [u8; 24],
    /// Flags ([`CHANGE_PASSWORD_FLAG_USE_NT`]).
    pub flags: u16,
}

impl core::fmt::Debug for MsChapV1ChangePassword {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The 516-octet block is noise to a reader; its size is not.
        f.debug_struct("MsChapV1ChangePassword")
            .field("identifier", &self.identifier)
            .field("encrypted_password", &"<516 octets>")
            .field("encrypted_hash", &self.encrypted_hash)
            .field("nt_response", &self.nt_response)
            .field("flags", &self.flags)
            .finish()
    }
}

impl MsChapV1ChangePassword {
    /// Parses a CHAP packet of code 6. Any other code is
    /// [`super::Error::UnknownCode`]; a Length other than 1118 is
    /// [`super::Error::WrongSize`]. Octets after Length are padding (RFC
    /// 1661 §5).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        let (identifier, body) = fixed_packet(
            bytes,
            chap_code::CHANGE_PASSWORD_V1_2,
            MSCHAPV1_CHANGE_PASSWORD_V2_LEN,
        )?;
        let flags: [u8; 2] = copy(body, field::FLAGS);
        Ok(MsChapV1ChangePassword {
            identifier,
            encrypted_password: copy(body, field::ENCRYPTED_PASSWORD),
            encrypted_hash: copy(body, field::ENCRYPTED_HASH),
            nt_response: copy(body, field::NT_RESPONSE),
            flags: u16::from_be_bytes(flags),
        })
    }

    /// Writes the 1118-octet packet into `buf` (the LM fields as zeros,
    /// see the type's documentation).
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        check_room(MSCHAPV1_CHANGE_PASSWORD_V2_LEN, buf)?;
        let mut w = Writer::new(buf);
        header(
            &mut w,
            chap_code::CHANGE_PASSWORD_V1_2,
            self.identifier,
            MSCHAPV1_CHANGE_PASSWORD_V2_LEN,
        );
        w.put(&self.encrypted_password);
        w.put(&self.encrypted_hash);
        // Encrypted-LM-Password, Encrypted-LM-Hash, LM-Response.
        w.put(&[0u8; field::LM_RESPONSE.end - field::ENCRYPTED_LM_PASSWORD.start]);
        w.put(&self.nt_response);
        w.put(&self.flags.to_be_bytes());
        debug_assert_eq!(
            w.pos,
            HEADER_LEN + field::FLAGS.end,
            "fields add up to Length"
        );
        Ok(MSCHAPV1_CHANGE_PASSWORD_V2_LEN)
    }
}

/// A parsed MS-CHAPv1 Change Password packet, version 1 (RFC 2433, code 5).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MsChapV1ChangePasswordV1 {
    /// Identifier: the Failure's plus one.
    pub identifier: u8,
    /// Old LM hash DES-encrypted with the new LM hash; not used.
    pub encrypted_old_lm_hash: [u8; 16],
    /// New LM hash DES-encrypted with the old LM hash; not used.
    pub encrypted_new_lm_hash: [u8; 16],
    /// Old NT hash DES-encrypted with the new NT hash.
    pub encrypted_old_nt_hash: [u8; 16],
    /// New NT hash DES-encrypted with the old NT hash.
    pub encrypted_new_nt_hash: [u8; 16],
    /// Length of the new password in octets (the LM form's).
    pub password_length: u16,
    /// Flags ([`CHANGE_PASSWORD_FLAG_USE_NT`]).
    pub flags: u16,
}

impl MsChapV1ChangePasswordV1 {
    /// Parses a CHAP packet of code 5; errors as
    /// [`MsChapV1ChangePassword::parse_bytes`], with Length 72.
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        let (identifier, body) = fixed_packet(
            bytes,
            chap_code::CHANGE_PASSWORD_V1,
            MSCHAPV1_CHANGE_PASSWORD_V1_LEN,
        )?;
        let length: [u8; 2] = copy(body, field::PASSWORD_LENGTH);
        let flags: [u8; 2] = copy(body, field::V1_FLAGS);
        Ok(MsChapV1ChangePasswordV1 {
            identifier,
            encrypted_old_lm_hash: copy(body, field::OLD_LM_HASH),
            encrypted_new_lm_hash: copy(body, field::NEW_LM_HASH),
            encrypted_old_nt_hash: copy(body, field::OLD_NT_HASH),
            encrypted_new_nt_hash: copy(body, field::NEW_NT_HASH),
            password_length: u16::from_be_bytes(length),
            flags: u16::from_be_bytes(flags),
        })
    }

    /// Writes the 72-octet packet into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        check_room(MSCHAPV1_CHANGE_PASSWORD_V1_LEN, buf)?;
        let mut w = Writer::new(buf);
        header(
            &mut w,
            chap_code::CHANGE_PASSWORD_V1,
            self.identifier,
            MSCHAPV1_CHANGE_PASSWORD_V1_LEN,
        );
        w.put(&self.encrypted_old_lm_hash);
        w.put(&self.encrypted_new_lm_hash);
        w.put(&self.encrypted_old_nt_hash);
        w.put(&self.encrypted_new_nt_hash);
        w.put(&self.password_length.to_be_bytes());
        w.put(&self.flags.to_be_bytes());
        debug_assert_eq!(
            w.pos,
            HEADER_LEN + field::V1_FLAGS.end,
            "fields add up to Length"
        );
        Ok(MSCHAPV1_CHANGE_PASSWORD_V1_LEN)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::{ChapRepr, Error, Field, MsChapV2ChangePassword};
    use super::*;
    use crate::auth::testdata::{hex, hex_n, vectors};
    use std::vec;
    use std::vec::Vec;

    const FILE: &str = include_str!("../../../tests/data/mschapv1_change_password.toml");

    #[test]
    fn test_parse_and_emit_version_2_vectors() {
        let mut seen = 0;
        for v in vectors(FILE, "mschapv1_change_password_v2") {
            let id = v["id"].as_str().unwrap();
            let bytes = hex(&v["packet"]);
            let packet = MsChapV1ChangePassword::parse_bytes(&bytes).unwrap();
            assert_eq!(
                i64::from(packet.identifier),
                v["identifier"].as_integer().unwrap()
            );
            assert_eq!(
                packet.encrypted_password.to_vec(),
                hex(&v["encrypted_password"]),
                "{id}"
            );
            assert_eq!(packet.encrypted_hash, hex_n(&v["encrypted_hash"]));
            assert_eq!(packet.nt_response, hex_n(&v["nt_response"]));
            assert_eq!(packet.flags, CHANGE_PASSWORD_FLAG_USE_NT);
            let mut out = vec![0u8; MSCHAPV1_CHANGE_PASSWORD_V2_LEN];
            assert_eq!(packet.emit(&mut out), Ok(MSCHAPV1_CHANGE_PASSWORD_V2_LEN));
            // The LM fields are not kept: emitted as zeros.
            let mut expected = bytes.clone();
            expected[4 + 532..4 + 1088].fill(0);
            assert_eq!(out, expected, "{id}");
            if !v["lm_fields"].as_bool().unwrap() {
                assert_eq!(out, bytes, "{id}: the form this crate's peer sends");
            }
            // Padding after Length is ignored (RFC 1661 §5).
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[0xee; 3]);
            assert_eq!(MsChapV1ChangePassword::parse_bytes(&padded), Ok(packet));
            seen += 1;
        }
        assert_eq!(seen, 3);
    }

    #[test]
    fn test_parse_and_emit_version_1_vector() {
        let v = &vectors(FILE, "mschapv1_change_password_v1")[0];
        let bytes = hex(&v["packet"]);
        let packet = MsChapV1ChangePasswordV1::parse_bytes(&bytes).unwrap();
        assert_eq!(packet.identifier, 9);
        assert_eq!(
            packet.encrypted_old_lm_hash,
            hex_n(&v["encrypted_old_lm_hash"])
        );
        assert_eq!(
            packet.encrypted_new_lm_hash,
            hex_n(&v["encrypted_new_lm_hash"])
        );
        assert_eq!(
            packet.encrypted_old_nt_hash,
            hex_n(&v["encrypted_old_nt_hash"])
        );
        assert_eq!(
            packet.encrypted_new_nt_hash,
            hex_n(&v["encrypted_new_nt_hash"])
        );
        assert_eq!(packet.password_length, 8);
        assert_eq!(packet.flags, CHANGE_PASSWORD_FLAG_USE_NT);
        let mut out = [0u8; MSCHAPV1_CHANGE_PASSWORD_V1_LEN];
        assert_eq!(packet.emit(&mut out), Ok(72));
        assert_eq!(out.to_vec(), bytes);
    }

    /// Every truncation, a Length one off either way, every other code,
    /// and a short output buffer: typed errors, no panic.
    fn check_bad_input<T: PartialEq + core::fmt::Debug>(
        good: &[u8],
        len: usize,
        code: u8,
        parse: fn(&[u8]) -> Result<T>,
    ) {
        for cut in 0..good.len() {
            let err = parse(&good[..cut]).unwrap_err();
            let expected = if cut < HEADER_LEN {
                Error::Truncated {
                    needed: HEADER_LEN,
                    available: cut,
                }
            } else {
                Error::BadLength {
                    length: len as u16,
                    available: cut,
                }
            };
            assert_eq!(err, expected, "cut {cut}");
        }
        for length in [len - 1, len + 1] {
            let mut bad = good.to_vec();
            bad.push(0);
            bad[2..4].copy_from_slice(&(length as u16).to_be_bytes());
            assert_eq!(
                parse(&bad),
                Err(Error::WrongSize {
                    field: Field::Packet,
                    expected: len,
                    actual: length
                })
            );
        }
        for other in (0u8..=255).filter(|&c| c != code) {
            let mut bad = good.to_vec();
            bad[0] = other;
            assert_eq!(parse(&bad), Err(Error::UnknownCode { code: other }));
        }
        // The generic CHAP parser and the MS-CHAPv2 one refuse it too.
        assert_eq!(
            ChapRepr::parse_bytes(good),
            Err(Error::UnknownCode { code })
        );
        assert_eq!(
            MsChapV2ChangePassword::parse_bytes(good),
            Err(Error::UnknownCode { code })
        );
    }

    #[test]
    fn test_bad_input_is_typed() {
        let v2 = hex(&vectors(FILE, "mschapv1_change_password_v2")[0]["packet"]);
        check_bad_input(&v2, 1118, 6, MsChapV1ChangePassword::parse_bytes);
        let v1 = hex(&vectors(FILE, "mschapv1_change_password_v1")[0]["packet"]);
        check_bad_input(&v1, 72, 5, MsChapV1ChangePasswordV1::parse_bytes);
        let packet = MsChapV1ChangePassword::parse_bytes(&v2).unwrap();
        let mut small: Vec<u8> = vec![0; 1117];
        assert_eq!(
            packet.emit(&mut small),
            Err(Error::BufferTooSmall {
                needed: 1118,
                available: 1117
            })
        );
        let packet = MsChapV1ChangePasswordV1::parse_bytes(&v1).unwrap();
        assert_eq!(
            packet.emit(&mut [0u8; 71]),
            Err(Error::BufferTooSmall {
                needed: 72,
                available: 71
            })
        );
    }
}
