//! Microsoft vendor attributes (RFC 2548, vendor 311) and the reading of
//! everything a PPTP NAS needs from a response.

use core::net::Ipv4Addr;

use zeroize::{Zeroize, ZeroizeOnDrop};

use super::attributes::{self as attr, integer, ipv4};
use super::wire::{self, Packet};
use super::Error;

/// Microsoft's SMI Private Enterprise Code.
pub const VENDOR_MICROSOFT: u32 = 311;

/// MS-CHAP-Response (RFC 2548).
pub const MS_CHAP_RESPONSE: u8 = 1;
/// MS-CHAP-Error (RFC 2548).
pub const MS_CHAP_ERROR: u8 = 2;
/// MS-CHAP-CPW-2 (RFC 2548 §2.1.2): an MS-CHAPv1 Change Password
/// version 2's fields (RFC 2433 code 6) except the encrypted passwords.
pub const MS_CHAP_CPW_2: u8 = 4;
/// Length of the MS-CHAP-CPW-2 value (RFC 2548: Vendor-Length 86 less
/// the 2-octet vendor type/length).
pub const MS_CHAP_CPW_2_LEN: usize = 84;
/// MS-CHAP-NT-Enc-PW (RFC 2548): a part of a Change-Password's
/// encrypted new password.
pub const MS_CHAP_NT_ENC_PW: u8 = 6;
/// The Code octet MS-CHAP-NT-Enc-PW values begin with (RFC 2548: "always 6").
pub const MS_CHAP_NT_ENC_PW_CODE: u8 = 6;
/// Most encrypted-password octets in one MS-CHAP-NT-Enc-PW: 253 less the
/// vendor header (6) and Code, Ident, Sequence-Number (4).
pub const MS_CHAP_ENC_PW_CHUNK: usize = 243;
/// MS-MPPE-Encryption-Policy (RFC 2548).
pub const MS_MPPE_ENCRYPTION_POLICY: u8 = 7;
/// MS-MPPE-Encryption-Types (RFC 2548).
pub const MS_MPPE_ENCRYPTION_TYPES: u8 = 8;
/// MS-CHAP-Challenge (RFC 2548).
pub const MS_CHAP_CHALLENGE: u8 = 11;
/// MS-CHAP-MPPE-Keys (RFC 2548).
pub const MS_CHAP_MPPE_KEYS: u8 = 12;
/// MS-MPPE-Send-Key (RFC 2548).
pub const MS_MPPE_SEND_KEY: u8 = 16;
/// MS-MPPE-Recv-Key (RFC 2548).
pub const MS_MPPE_RECV_KEY: u8 = 17;
/// MS-CHAP2-Response (RFC 2548).
pub const MS_CHAP2_RESPONSE: u8 = 25;
/// MS-CHAP2-Success (RFC 2548).
pub const MS_CHAP2_SUCCESS: u8 = 26;
/// MS-CHAP2-CPW (RFC 2548): an MS-CHAPv2 Change-Password's fields.
pub const MS_CHAP2_CPW: u8 = 27;
/// Length of the MS-CHAP2-CPW value (RFC 2548: Vendor-Length 70 less the
/// 2-octet vendor type/length).
pub const MS_CHAP2_CPW_LEN: usize = 68;
/// MS-Primary-DNS-Server (RFC 2548).
pub const MS_PRIMARY_DNS_SERVER: u8 = 28;
/// MS-Secondary-DNS-Server (RFC 2548).
pub const MS_SECONDARY_DNS_SERVER: u8 = 29;
/// MS-Primary-NBNS-Server (RFC 2548).
pub const MS_PRIMARY_NBNS_SERVER: u8 = 30;
/// MS-Secondary-NBNS-Server (RFC 2548).
pub const MS_SECONDARY_NBNS_SERVER: u8 = 31;

/// MS-MPPE-Encryption-Policy values (RFC 2548).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum EncryptionPolicy {
    /// 1: encryption allowed.
    Allowed,
    /// 2: encryption required.
    Required,
    /// Another value.
    Other(u32),
}

impl From<u32> for EncryptionPolicy {
    fn from(v: u32) -> Self {
        match v {
            1 => EncryptionPolicy::Allowed,
            2 => EncryptionPolicy::Required,
            v => EncryptionPolicy::Other(v),
        }
    }
}

/// MS-MPPE-Encryption-Types bits (RFC 2548; FreeRADIUS's names
/// for bits 1 and 2 differ, the numbers do not).
pub mod encryption_types {
    /// 40-bit RC4.
    pub const RC4_40: u32 = 0x2;
    /// 128-bit RC4.
    pub const RC4_128: u32 = 0x4;
    /// 56-bit RC4 (RFC 3078 §2; not in RFC 2548 but sent by Windows IAS).
    pub const RC4_56: u32 = 0x8;
}

/// MS-CHAP-MPPE-Keys decrypted (RFC 2548): LM-Key and NT-Key.
///
/// RFC 2548 says NT-Key is the NT password hash; FreeRADIUS (and
/// Windows IAS) send MD4 of it (PasswordHashHash), which is what RFC 3079
/// §2.3 GetStartKey consumes (see tests/data/radius_ms_mppe.toml notes).
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct MsChapMppeKeys {
    /// First 8 octets of the LM hash (all zero from FreeRADIUS).
    pub lm_key: [u8; 8],
    /// PasswordHashHash (see above).
    pub nt_key: [u8; 16],
}

impl core::fmt::Debug for MsChapMppeKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("MsChapMppeKeys(<redacted>)")
    }
}

impl MsChapMppeKeys {
    /// Decrypts the 32-octet value (RFC 2865 §5.2 scheme with the
    /// Request Authenticator).
    pub fn decrypt(
        value: &[u8],
        secret: &[u8],
        request_authenticator: &[u8; 16],
    ) -> Result<Self, Error> {
        if value.len() != 32 {
            return Err(Error::BadEncryptedValue {
                attribute: MS_CHAP_MPPE_KEYS,
            });
        }
        let mut plain = [0u8; 32];
        wire::reveal(value, secret, request_authenticator, &mut plain);
        let mut keys = MsChapMppeKeys {
            lm_key: [0; 8],
            nt_key: [0; 16],
        };
        keys.lm_key.copy_from_slice(&plain[..8]);
        keys.nt_key.copy_from_slice(&plain[8..24]);
        plain.zeroize();
        Ok(keys)
    }
}

/// The MS-CHAP-Error text's `E=` number (RFC 2548: Ident octet,
/// then `E=eeeeeeeeee R=r C=…`).
pub fn error_code(value: &[u8]) -> Option<u32> {
    let text = value.get(1..)?;
    let at = text.windows(2).position(|w| w == b"E=")?;
    let digits = text.get(at + 2..)?;
    let mut code: u32 = 0;
    let mut any = false;
    for &d in digits.iter().take_while(|d| d.is_ascii_digit()).take(10) {
        code = code.checked_mul(10)?.checked_add(u32::from(d - b'0'))?;
        any = true;
    }
    any.then_some(code)
}

/// Everything a PPTP NAS reads from an Access-Accept/Reject, decrypted.
/// Wiped on drop.
#[derive(Clone, Default, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub struct ResponseAttributes {
    /// Framed-IP-Address (RFC 2865 §5.8).
    #[zeroize(skip)]
    pub framed_ip: Option<Ipv4Addr>,
    /// MS-Primary-DNS-Server.
    #[zeroize(skip)]
    pub primary_dns: Option<Ipv4Addr>,
    /// MS-Secondary-DNS-Server.
    #[zeroize(skip)]
    pub secondary_dns: Option<Ipv4Addr>,
    /// MS-Primary-NBNS-Server.
    #[zeroize(skip)]
    pub primary_nbns: Option<Ipv4Addr>,
    /// MS-Secondary-NBNS-Server.
    #[zeroize(skip)]
    pub secondary_nbns: Option<Ipv4Addr>,
    /// Session-Timeout in seconds.
    pub session_timeout: Option<u32>,
    /// Idle-Timeout in seconds.
    pub idle_timeout: Option<u32>,
    /// MS-CHAP2-Success: the value after the Ident octet (`S=<40 hex>`).
    pub ms_chap2_success: Option<[u8; 42]>,
    /// MS-CHAP-Error's `E=` code.
    pub ms_chap_error: Option<u32>,
    /// MS-MPPE-Send-Key, decrypted.
    pub mppe_send_key: Option<[u8; 16]>,
    /// MS-MPPE-Recv-Key, decrypted.
    pub mppe_recv_key: Option<[u8; 16]>,
    /// MS-CHAP-MPPE-Keys (MS-CHAPv1), decrypted: LM-Key then NT-Key.
    pub ms_chap_mppe_keys: Option<([u8; 8], [u8; 16])>,
    /// MS-MPPE-Encryption-Policy.
    pub encryption_policy: Option<u32>,
    /// MS-MPPE-Encryption-Types.
    pub encryption_types: Option<u32>,
}

impl core::fmt::Debug for ResponseAttributes {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ResponseAttributes")
            .field("framed_ip", &self.framed_ip)
            .field("primary_dns", &self.primary_dns)
            .field("secondary_dns", &self.secondary_dns)
            .field("primary_nbns", &self.primary_nbns)
            .field("secondary_nbns", &self.secondary_nbns)
            .field("session_timeout", &self.session_timeout)
            .field("ms_chap_error", &self.ms_chap_error)
            .field("has_mppe_keys", &self.mppe_send_key.is_some())
            .field("encryption_policy", &self.encryption_policy)
            .field("encryption_types", &self.encryption_types)
            .finish()
    }
}

impl ResponseAttributes {
    /// Reads a verified response. Attributes of the wrong size are a
    /// typed error (a server that sends a 3-octet Framed-IP-Address is
    /// broken, and guessing would be worse); unknown ones are ignored.
    pub fn parse(
        packet: &Packet<&[u8]>,
        secret: &[u8],
        request_authenticator: &[u8; 16],
    ) -> Result<Self, Error> {
        let mut out = ResponseAttributes::default();
        for a in packet.attributes() {
            let a = a?;
            let bad = Error::BadAttributeValue {
                attribute: a.kind,
                length: a.value.len(),
            };
            match a.kind {
                attr::FRAMED_IP_ADDRESS => out.framed_ip = Some(ipv4(a.value).ok_or(bad)?),
                attr::SESSION_TIMEOUT => out.session_timeout = Some(integer(a.value).ok_or(bad)?),
                attr::IDLE_TIMEOUT => out.idle_timeout = Some(integer(a.value).ok_or(bad)?),
                _ => {}
            }
        }
        for a in packet.vendor_attributes(VENDOR_MICROSOFT) {
            let bad = Error::BadAttributeValue {
                attribute: a.kind,
                length: a.value.len(),
            };
            match a.kind {
                MS_PRIMARY_DNS_SERVER => out.primary_dns = Some(ipv4(a.value).ok_or(bad)?),
                MS_SECONDARY_DNS_SERVER => out.secondary_dns = Some(ipv4(a.value).ok_or(bad)?),
                MS_PRIMARY_NBNS_SERVER => out.primary_nbns = Some(ipv4(a.value).ok_or(bad)?),
                MS_SECONDARY_NBNS_SERVER => out.secondary_nbns = Some(ipv4(a.value).ok_or(bad)?),
                MS_MPPE_ENCRYPTION_POLICY => {
                    out.encryption_policy = Some(integer(a.value).ok_or(bad)?)
                }
                MS_MPPE_ENCRYPTION_TYPES => {
                    out.encryption_types = Some(integer(a.value).ok_or(bad)?)
                }
                MS_CHAP2_SUCCESS => {
                    // Ident octet, then "S=" and 40 hex digits (RFC 2548
                    // §2.3.3); anything after is ignored.
                    let text = a.value.get(1..43).ok_or(bad)?;
                    let mut s = [0u8; 42];
                    s.copy_from_slice(text);
                    out.ms_chap2_success = Some(s);
                }
                MS_CHAP_ERROR => out.ms_chap_error = error_code(a.value),
                MS_MPPE_SEND_KEY => {
                    out.mppe_send_key = Some(wire::decrypt_salted(
                        a.value,
                        secret,
                        request_authenticator,
                        a.kind,
                    )?)
                }
                MS_MPPE_RECV_KEY => {
                    out.mppe_recv_key = Some(wire::decrypt_salted(
                        a.value,
                        secret,
                        request_authenticator,
                        a.kind,
                    )?)
                }
                MS_CHAP_MPPE_KEYS => {
                    let keys = MsChapMppeKeys::decrypt(a.value, secret, request_authenticator)?;
                    out.ms_chap_mppe_keys = Some((keys.lm_key, keys.nt_key));
                }
                _ => {}
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn ms_chap_mppe_keys_match_vector() {
        let text = include_str!("../../../tests/data/radius_ms_mppe.toml");
        let table: toml::Table = toml::from_str(text).unwrap();
        let v = table["vector"]
            .as_array()
            .unwrap()
            .iter()
            .find(|v| v["kind"].as_str() == Some("radius_chap_mppe_keys"))
            .unwrap();
        let attribute = hex(v["attribute"].as_str().unwrap());
        let ra: [u8; 16] = hex(v["request_authenticator"].as_str().unwrap())
            .try_into()
            .unwrap();
        // Wrap the attribute in an Accept and read it through the parser.
        let mut buf = [0u8; 128];
        buf[0] = 2;
        buf[2..4].copy_from_slice(&((20 + attribute.len()) as u16).to_be_bytes());
        buf[20..20 + attribute.len()].copy_from_slice(&attribute);
        let p = Packet::new_checked(&buf[..20 + attribute.len()]).unwrap();
        let r =
            ResponseAttributes::parse(&p, v["secret"].as_str().unwrap().as_bytes(), &ra).unwrap();
        let (lm, nt) = r.ms_chap_mppe_keys.unwrap();
        assert_eq!(lm.to_vec(), hex(v["lm_key"].as_str().unwrap()));
        assert_eq!(nt.to_vec(), hex(v["nt_key"].as_str().unwrap()));
        assert_eq!(
            MsChapMppeKeys::decrypt(&[0; 31], b"s", &ra).unwrap_err(),
            Error::BadEncryptedValue {
                attribute: MS_CHAP_MPPE_KEYS
            }
        );
    }

    #[test]
    fn error_codes() {
        assert_eq!(error_code(b"\x01E=691 R=1 C=00 V=3"), Some(691));
        assert_eq!(error_code(b"\x01E=649 R=0"), Some(649));
        assert_eq!(error_code(b"\x01R=0"), None);
        assert_eq!(error_code(b"\x01E="), None);
        assert_eq!(error_code(b"\x01E=99999999999"), None);
        assert_eq!(error_code(b""), None);
    }

    #[test]
    fn bad_sizes_are_typed_errors() {
        let mut buf = [0u8; 64];
        let mut w =
            wire::PacketWriter::new(&mut buf, wire::Code::AccessAccept, 1, &[0; 16]).unwrap();
        w.attribute(attr::FRAMED_IP_ADDRESS, &[1, 2, 3]).unwrap();
        let n = w.finish_response(&[0; 16], b"s");
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            ResponseAttributes::parse(&p, b"s", &[0; 16]).unwrap_err(),
            Error::BadAttributeValue {
                attribute: attr::FRAMED_IP_ADDRESS,
                length: 3
            }
        );
        let mut w =
            wire::PacketWriter::new(&mut buf, wire::Code::AccessAccept, 1, &[0; 16]).unwrap();
        w.vendor_attribute(VENDOR_MICROSOFT, MS_CHAP2_SUCCESS, b"\x01S=00")
            .unwrap();
        let n = w.finish_response(&[0; 16], b"s");
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            ResponseAttributes::parse(&p, b"s", &[0; 16]).unwrap_err(),
            Error::BadAttributeValue {
                attribute: MS_CHAP2_SUCCESS,
                length: 5
            }
        );
    }
}
