//! The MS-CHAPv2 Change-Password packet (RFC 2759 §7, CHAP code 7).
//!
//! A peer whose password has expired gets a Failure with `E=648` and a
//! new challenge `C=`; it answers with this packet instead of a Response:
//! the new password encrypted under the old NT hash (§8.9/§8.10), the old
//! hash encrypted under the new one (§8.12), and an NT-Response computed
//! with the new password over the Failure's challenge (§8.1). There is no
//! Name field: the account is the one of the preceding Response.

use super::{chap_code, check_room, header, Error, Field, Packet, Result, Writer, HEADER_LEN};
use crate::auth::crypto::PW_BLOCK_LEN;
use crate::wire::auth::MsChapV2Response;

/// Length of a Change-Password packet (RFC 2759 §7: "Length: 586").
pub const MSCHAPV2_CHANGE_PASSWORD_LEN: usize = 586;

mod field {
    use core::ops::Range;
    // Offsets in the body (after the 4-octet header), RFC 2759 §7.
    pub const ENCRYPTED_PASSWORD: Range<usize> = 0..516;
    pub const ENCRYPTED_HASH: Range<usize> = 516..532;
    pub const PEER_CHALLENGE: Range<usize> = 532..548;
    pub const RESERVED: Range<usize> = 548..556;
    pub const NT_RESPONSE: Range<usize> = 556..580;
    pub const FLAGS: Range<usize> = 580..582;
}

/// A parsed MS-CHAPv2 Change-Password packet (RFC 2759 §7).
#[derive(Clone, PartialEq, Eq)]
pub struct MsChapV2ChangePassword {
    /// Identifier: the Failure's plus one (RFC 2759 §7).
    pub identifier: u8,
    /// New password block, RC4 under the old NT hash (§8.9).
    pub encrypted_password: [u8; PW_BLOCK_LEN],
    /// Old NT hash DES-encrypted with the new one (§8.12).
    pub encrypted_hash: [u8; 16],
    /// Peer-Challenge for the NT-Response.
    pub peer_challenge: [u8; 16],
    /// NT-Response with the new password (§8.1).
    pub nt_response: [u8; 24],
    /// Flags (reserved, zero).
    pub flags: u16,
}

impl core::fmt::Debug for MsChapV2ChangePassword {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // The 516-octet block is noise to a reader; its size is not.
        f.debug_struct("MsChapV2ChangePassword")
            .field("identifier", &self.identifier)
            .field("encrypted_password", &"<516 octets>")
            .field("encrypted_hash", &self.encrypted_hash)
            .field("peer_challenge", &self.peer_challenge)
            .field("nt_response", &self.nt_response)
            .field("flags", &self.flags)
            .finish()
    }
}

/// The Identifier and body of a fixed-size Change-Password packet (RFC
/// 2759 §7, RFC 2433 "Change Password Packet" versions 1 and 2): the
/// header is checked, the Code must be `code` and the Length exactly
/// `len` (octets after it are padding, RFC 1661 §5).
pub(super) fn fixed_packet(bytes: &[u8], code: u8, len: usize) -> Result<(u8, &[u8])> {
    let packet = Packet::new_checked(bytes)?;
    if packet.code() != code {
        return Err(Error::UnknownCode {
            code: packet.code(),
        });
    }
    let length = usize::from(packet.length());
    if length != len {
        return Err(Error::WrongSize {
            field: Field::Packet,
            expected: len,
            actual: length,
        });
    }
    // Length is `len` and within the buffer (checked above).
    Ok((
        packet.identifier(),
        bytes.get(HEADER_LEN..len).unwrap_or(&[]),
    ))
}

/// The `N` octets of `body` at `range` (zeros if out of range; callers
/// check the Length first, so it never is).
pub(super) fn copy<const N: usize>(body: &[u8], range: core::ops::Range<usize>) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = body.get(range) {
        if src.len() == N {
            out.copy_from_slice(src);
        }
    }
    out
}

impl MsChapV2ChangePassword {
    /// Parses a CHAP packet of code 7 (header checked here). Any other
    /// code is [`Error::UnknownCode`]; a Length other than 586 is
    /// [`Error::WrongSize`]. Octets after Length are padding (RFC 1661 §5).
    pub fn parse_bytes(bytes: &[u8]) -> Result<Self> {
        let (identifier, body) = fixed_packet(
            bytes,
            chap_code::CHANGE_PASSWORD_V2,
            MSCHAPV2_CHANGE_PASSWORD_LEN,
        )?;
        let flags: [u8; 2] = copy(body, field::FLAGS);
        Ok(MsChapV2ChangePassword {
            identifier,
            encrypted_password: copy(body, field::ENCRYPTED_PASSWORD),
            encrypted_hash: copy(body, field::ENCRYPTED_HASH),
            peer_challenge: copy(body, field::PEER_CHALLENGE),
            nt_response: copy(body, field::NT_RESPONSE),
            flags: u16::from_be_bytes(flags),
        })
    }

    /// The Peer-Challenge and NT-Response as an MS-CHAPv2 Response value:
    /// the authenticator verifies them exactly like a Response (§7),
    /// with the new password.
    pub fn response(&self) -> MsChapV2Response {
        MsChapV2Response {
            peer_challenge: self.peer_challenge,
            nt_response: self.nt_response,
            flags: 0,
        }
    }

    /// Writes the 586-octet packet into `buf`.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        check_room(MSCHAPV2_CHANGE_PASSWORD_LEN, buf)?;
        let mut w = Writer::new(buf);
        header(
            &mut w,
            chap_code::CHANGE_PASSWORD_V2,
            self.identifier,
            MSCHAPV2_CHANGE_PASSWORD_LEN,
        );
        w.put(&self.encrypted_password);
        w.put(&self.encrypted_hash);
        w.put(&self.peer_challenge);
        w.put(&[0u8; field::RESERVED.end - field::RESERVED.start]);
        w.put(&self.nt_response);
        w.put(&self.flags.to_be_bytes());
        debug_assert_eq!(
            w.pos,
            HEADER_LEN + field::FLAGS.end,
            "fields add up to Length"
        );
        Ok(MSCHAPV2_CHANGE_PASSWORD_LEN)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use crate::auth::testdata::{hex, hex_n, vectors};
    use std::vec;

    const FILE: &str = include_str!("../../../tests/data/mschapv2_change_password.toml");

    #[test]
    fn test_parse_and_emit_vectors() {
        let mut seen = 0;
        for v in vectors(FILE, "mschapv2_change_password") {
            let bytes = hex(&v["packet"]);
            let packet = MsChapV2ChangePassword::parse_bytes(&bytes).unwrap();
            assert_eq!(
                i64::from(packet.identifier),
                v["identifier"].as_integer().unwrap()
            );
            assert_eq!(
                packet.encrypted_password.to_vec(),
                hex(&v["encrypted_password"])
            );
            assert_eq!(packet.encrypted_hash, hex_n(&v["encrypted_hash"]));
            assert_eq!(packet.peer_challenge, hex_n(&v["peer_challenge"]));
            assert_eq!(packet.nt_response, hex_n(&v["nt_response"]));
            assert_eq!(packet.flags, 0);
            assert_eq!(packet.response().nt_response, packet.nt_response);
            let mut out = vec![0u8; MSCHAPV2_CHANGE_PASSWORD_LEN];
            assert_eq!(packet.emit(&mut out), Ok(MSCHAPV2_CHANGE_PASSWORD_LEN));
            assert_eq!(out, bytes);
            // Padding after Length is ignored (RFC 1661 §5).
            let mut padded = bytes.clone();
            padded.extend_from_slice(&[0xee; 3]);
            assert_eq!(MsChapV2ChangePassword::parse_bytes(&padded), Ok(packet));
            seen += 1;
        }
        assert_eq!(seen, 2);
    }

    #[test]
    fn test_bad_input_is_typed() {
        let v = &vectors(FILE, "mschapv2_change_password")[0];
        let good = hex(&v["packet"]);
        // Every truncation: the Length field then claims more than is there.
        for cut in 0..good.len() {
            let err = MsChapV2ChangePassword::parse_bytes(&good[..cut]).unwrap_err();
            if cut < HEADER_LEN {
                assert_eq!(
                    err,
                    Error::Truncated {
                        needed: HEADER_LEN,
                        available: cut
                    }
                );
            } else {
                assert_eq!(
                    err,
                    Error::BadLength {
                        length: 586,
                        available: cut
                    }
                );
            }
        }
        // A Length one short or one long of 586, with the octets present.
        for length in [585u16, 587] {
            let mut bad = good.clone();
            bad.push(0);
            bad[2..4].copy_from_slice(&length.to_be_bytes());
            assert_eq!(
                MsChapV2ChangePassword::parse_bytes(&bad),
                Err(Error::WrongSize {
                    field: Field::Packet,
                    expected: 586,
                    actual: usize::from(length)
                })
            );
        }
        // Other codes are not this packet; codes 5 and 6 (MS-CHAPv1) too.
        for code in [1u8, 2, 3, 4, 5, 6, 8, 255] {
            let mut bad = good.clone();
            bad[0] = code;
            assert_eq!(
                MsChapV2ChangePassword::parse_bytes(&bad),
                Err(Error::UnknownCode { code })
            );
        }
        // And the generic CHAP parser still refuses code 7.
        assert_eq!(
            super::super::ChapRepr::parse_bytes(&good),
            Err(Error::UnknownCode { code: 7 })
        );
        let packet = MsChapV2ChangePassword::parse_bytes(&good).unwrap();
        let mut small = [0u8; 585];
        assert_eq!(
            packet.emit(&mut small),
            Err(Error::BufferTooSmall {
                needed: 586,
                available: 585
            })
        );
    }
}
