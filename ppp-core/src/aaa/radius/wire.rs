//! RADIUS packets on the wire (RFC 2865 §3), attributes (§5), and the
//! RADIUS cryptography: Request/Response Authenticators, User-Password
//! hiding (§5.2), Message-Authenticator (RFC 3579 §3.2) and the RFC 2548
//! §2.4.2 salt encryption of MPPE keys.

use md5::Md5;

use crate::auth::crypto::{digest_scrubbed, digest_scrubbed2};
use subtle::ConstantTimeEq;
use zeroize::Zeroize;

use super::attributes::{MESSAGE_AUTHENTICATOR, USER_PASSWORD, VENDOR_SPECIFIC};
use super::Error;

/// Header: Code, Identifier, Length (2), Authenticator (16).
pub const HEADER_LEN: usize = 20;
/// RFC 2865 §3: the maximum packet length.
pub const MAX_PACKET_LEN: usize = 4096;
/// Longest attribute value (Length octet 255 minus the 2-octet header).
pub const MAX_VALUE_LEN: usize = 253;
/// RFC 2865 §5.2: User-Password is at most 128 octets.
pub const MAX_PASSWORD_LEN: usize = 128;

/// A RADIUS Code (RFC 2865 §3, RFC 2866 §3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Code {
    /// Access-Request (1).
    AccessRequest,
    /// Access-Accept (2).
    AccessAccept,
    /// Access-Reject (3).
    AccessReject,
    /// Accounting-Request (4).
    AccountingRequest,
    /// Accounting-Response (5).
    AccountingResponse,
    /// Access-Challenge (11).
    AccessChallenge,
}

impl Code {
    /// The Code for an octet, if known.
    pub const fn from_u8(code: u8) -> Option<Code> {
        Some(match code {
            1 => Code::AccessRequest,
            2 => Code::AccessAccept,
            3 => Code::AccessReject,
            4 => Code::AccountingRequest,
            5 => Code::AccountingResponse,
            11 => Code::AccessChallenge,
            _ => return None,
        })
    }

    /// The Code octet.
    pub const fn as_u8(self) -> u8 {
        match self {
            Code::AccessRequest => 1,
            Code::AccessAccept => 2,
            Code::AccessReject => 3,
            Code::AccountingRequest => 4,
            Code::AccountingResponse => 5,
            Code::AccessChallenge => 11,
        }
    }

    /// Whether a server sends this Code (answers).
    pub const fn is_response(self) -> bool {
        matches!(
            self,
            Code::AccessAccept
                | Code::AccessReject
                | Code::AccessChallenge
                | Code::AccountingResponse
        )
    }
}

/// One attribute: type and value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attribute<'a> {
    /// The Type octet.
    pub kind: u8,
    /// The value (Length − 2 octets).
    pub value: &'a [u8],
}

/// Iterates the attributes of a region. Yields `Err` once for a malformed
/// attribute (Length 0 or 1, or past the end) and then stops: it never
/// panics and never loops.
#[derive(Clone, Debug)]
pub struct Attributes<'a> {
    bytes: &'a [u8],
    offset: usize,
    base: usize,
    failed: bool,
}

impl<'a> Attributes<'a> {
    /// Attributes in `bytes`; offsets in errors are reported from `base`.
    pub fn new(bytes: &'a [u8], base: usize) -> Self {
        Attributes {
            bytes,
            offset: 0,
            base,
            failed: false,
        }
    }

    /// The first attribute of type `kind`.
    pub fn find(self, kind: u8) -> Option<&'a [u8]> {
        self.filter_map(Result::ok)
            .find(|a| a.kind == kind)
            .map(|a| a.value)
    }
}

impl<'a> Iterator for Attributes<'a> {
    type Item = Result<Attribute<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let rest = self.bytes.get(self.offset..)?;
        if rest.is_empty() {
            return None;
        }
        let offset = self.base + self.offset;
        let (kind, length) = match rest {
            [kind, length, ..] => (*kind, *length),
            // One octet left: an attribute header cut short.
            _ => {
                self.failed = true;
                return Some(Err(Error::AttributePastEnd { offset, length: 0 }));
            }
        };
        if length < 2 {
            self.failed = true;
            return Some(Err(Error::AttributeTooShort { offset, length }));
        }
        match rest.get(2..usize::from(length)) {
            Some(value) => {
                self.offset += usize::from(length);
                Some(Ok(Attribute { kind, value }))
            }
            None => {
                self.failed = true;
                Some(Err(Error::AttributePastEnd { offset, length }))
            }
        }
    }
}

/// A Vendor-Specific attribute's content (RFC 2865 §5.26) in the
/// recommended format: Vendor-Id then sub-attributes (type, length ≥ 2,
/// value), as RFC 2548 §2 uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct VendorSpecific<'a> {
    /// The SMI Network Management Private Enterprise Code.
    pub vendor_id: u32,
    /// The sub-attributes, in the same layout as attributes.
    pub data: &'a [u8],
}

impl<'a> VendorSpecific<'a> {
    /// Parses a Vendor-Specific value.
    pub fn parse(value: &'a [u8]) -> Result<Self, Error> {
        match value {
            [a, b, c, d, data @ ..] if !data.is_empty() => Ok(VendorSpecific {
                vendor_id: u32::from_be_bytes([*a, *b, *c, *d]),
                data,
            }),
            _ => Err(Error::BadVendorAttribute {
                length: value.len(),
            }),
        }
    }

    /// The sub-attributes.
    pub fn attributes(&self) -> Attributes<'a> {
        Attributes::new(self.data, 0)
    }
}

/// A read-only or mutable view of a RADIUS packet.
#[derive(Clone, Debug)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// A view without checks (getters may then see garbage but never panic).
    pub fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// A view after checking the header, the Length (RFC 2865 §3: octets
    /// past Length are padding and ignored) and every attribute.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Packet { buffer };
        packet.check()?;
        Ok(packet)
    }

    /// The checks of [`Packet::new_checked`].
    pub fn check(&self) -> Result<(), Error> {
        let bytes = self.buffer.as_ref();
        if bytes.len() > MAX_PACKET_LEN {
            return Err(Error::Oversized { len: bytes.len() });
        }
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated { len: bytes.len() });
        }
        let length = self.length();
        if usize::from(length) < HEADER_LEN || usize::from(length) > bytes.len() {
            return Err(Error::BadLength {
                length,
                received: bytes.len(),
            });
        }
        if Code::from_u8(self.code_octet()).is_none() {
            return Err(Error::UnknownCode {
                code: self.code_octet(),
            });
        }
        for attribute in self.attributes() {
            attribute?;
        }
        Ok(())
    }

    /// The Code octet.
    pub fn code_octet(&self) -> u8 {
        self.buffer.as_ref().first().copied().unwrap_or(0)
    }

    /// The Code (None if unknown).
    pub fn code(&self) -> Option<Code> {
        Code::from_u8(self.code_octet())
    }

    /// The Identifier.
    pub fn identifier(&self) -> u8 {
        self.buffer.as_ref().get(1).copied().unwrap_or(0)
    }

    /// The Length field.
    pub fn length(&self) -> u16 {
        match self.buffer.as_ref().get(2..4) {
            Some(&[a, b]) => u16::from_be_bytes([a, b]),
            _ => 0,
        }
    }

    /// The Authenticator field.
    pub fn authenticator(&self) -> [u8; 16] {
        let mut out = [0u8; 16];
        if let Some(a) = self.buffer.as_ref().get(4..HEADER_LEN) {
            out.copy_from_slice(a);
        }
        out
    }

    /// The packet up to Length (padding excluded).
    pub fn as_bytes(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        bytes.get(..usize::from(self.length())).unwrap_or(bytes)
    }

    /// The attributes.
    pub fn attributes(&self) -> Attributes<'_> {
        Attributes::new(self.as_bytes().get(HEADER_LEN..).unwrap_or(&[]), HEADER_LEN)
    }

    /// The vendor attributes of `vendor_id`, flattened: `(vendor type,
    /// value)` for each sub-attribute. Malformed VSAs are skipped.
    pub fn vendor_attributes(&self, vendor_id: u32) -> impl Iterator<Item = Attribute<'_>> {
        self.attributes()
            .filter_map(Result::ok)
            .filter(|a| a.kind == VENDOR_SPECIFIC)
            .filter_map(|a| VendorSpecific::parse(a.value).ok())
            .filter(move |v| v.vendor_id == vendor_id)
            .flat_map(|v| v.attributes().filter_map(Result::ok))
    }
}

/// Writes a packet into a caller buffer: header first, then attributes,
/// then [`PacketWriter::finish_request`] or one of the other finishers,
/// which set Length and the authenticator fields.
#[derive(Debug)]
pub struct PacketWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
    message_authenticator_at: Option<usize>,
}

impl<'b> PacketWriter<'b> {
    /// Starts a packet with `code`, `identifier` and `authenticator`.
    pub fn new(
        buf: &'b mut [u8],
        code: Code,
        identifier: u8,
        authenticator: &[u8; 16],
    ) -> Result<Self, Error> {
        let header = buf
            .get_mut(..HEADER_LEN)
            .ok_or(Error::BufferTooSmall { needed: HEADER_LEN })?;
        header[0] = code.as_u8();
        header[1] = identifier;
        header[2..4].copy_from_slice(&(HEADER_LEN as u16).to_be_bytes());
        header[4..].copy_from_slice(authenticator);
        Ok(PacketWriter {
            buf,
            len: HEADER_LEN,
            message_authenticator_at: None,
        })
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether only the header is written.
    pub fn is_empty(&self) -> bool {
        self.len == HEADER_LEN
    }

    fn reserve(&mut self, kind: u8, value_len: usize) -> Result<&mut [u8], Error> {
        if value_len > MAX_VALUE_LEN {
            return Err(Error::ValueTooLong {
                attribute: kind,
                length: value_len,
            });
        }
        let end = self.len + 2 + value_len;
        if end > MAX_PACKET_LEN {
            return Err(Error::BufferTooSmall { needed: end });
        }
        let out = self
            .buf
            .get_mut(self.len..end)
            .ok_or(Error::BufferTooSmall { needed: end })?;
        out[0] = kind;
        out[1] = (2 + value_len) as u8;
        self.len = end;
        Ok(&mut out[2..])
    }

    /// Appends an attribute.
    pub fn attribute(&mut self, kind: u8, value: &[u8]) -> Result<(), Error> {
        self.reserve(kind, value.len())?.copy_from_slice(value);
        Ok(())
    }

    /// Appends already-encoded attributes (a region produced by another
    /// writer), unchanged.
    pub fn attribute_region(&mut self, region: &[u8]) -> Result<(), Error> {
        let end = self.len + region.len();
        if end > MAX_PACKET_LEN {
            return Err(Error::BufferTooSmall { needed: end });
        }
        self.buf
            .get_mut(self.len..end)
            .ok_or(Error::BufferTooSmall { needed: end })?
            .copy_from_slice(region);
        self.len = end;
        Ok(())
    }

    /// Appends a 4-octet integer attribute.
    pub fn integer(&mut self, kind: u8, value: u32) -> Result<(), Error> {
        self.attribute(kind, &value.to_be_bytes())
    }

    /// Appends a Vendor-Specific attribute with one sub-attribute.
    pub fn vendor_attribute(
        &mut self,
        vendor_id: u32,
        kind: u8,
        value: &[u8],
    ) -> Result<(), Error> {
        if value.len() > MAX_VALUE_LEN - 6 {
            return Err(Error::ValueTooLong {
                attribute: kind,
                length: value.len(),
            });
        }
        let out = self.reserve(VENDOR_SPECIFIC, value.len() + 6)?;
        out[..4].copy_from_slice(&vendor_id.to_be_bytes());
        out[4] = kind;
        out[5] = (value.len() + 2) as u8;
        out[6..].copy_from_slice(value);
        Ok(())
    }

    /// Appends a User-Password attribute hiding `password` (RFC 2865 §5.2)
    /// with `secret` and this packet's Request Authenticator.
    pub fn user_password(&mut self, password: &[u8], secret: &[u8]) -> Result<(), Error> {
        if password.len() > MAX_PASSWORD_LEN {
            return Err(Error::ValueTooLong {
                attribute: USER_PASSWORD,
                length: password.len(),
            });
        }
        let mut authenticator = [0u8; 16];
        authenticator.copy_from_slice(&self.buf[4..HEADER_LEN]);
        let padded = password.len().div_ceil(16).max(1) * 16;
        let out = self.reserve(USER_PASSWORD, padded)?;
        hide(password, secret, &authenticator, out);
        Ok(())
    }

    /// Appends a Message-Authenticator placeholder (16 zero octets), filled
    /// in by the finisher. RFC 3579 §3.2; placed first in Access-Requests
    /// as the BlastRADIUS advisories recommend.
    pub fn message_authenticator(&mut self) -> Result<(), Error> {
        let at = self.len + 2;
        self.reserve(MESSAGE_AUTHENTICATOR, 16)?.fill(0);
        self.message_authenticator_at = Some(at);
        Ok(())
    }

    fn set_length(&mut self) {
        let length = (self.len as u16).to_be_bytes();
        self.buf[2..4].copy_from_slice(&length);
    }

    fn fill_message_authenticator(&mut self, secret: &[u8]) {
        if let Some(at) = self.message_authenticator_at {
            let mac = hmac_md5(secret, &[&self.buf[..self.len]]);
            self.buf[at..at + 16].copy_from_slice(&mac);
        }
    }

    /// Finishes an Access-Request: Length, then Message-Authenticator over
    /// the packet with the Request Authenticator in place (RFC 3579 §3.2).
    pub fn finish_request(mut self, secret: &[u8]) -> usize {
        self.set_length();
        self.fill_message_authenticator(secret);
        self.len
    }

    /// Finishes an Accounting-Request: Length, Message-Authenticator (if
    /// any) and the Request Authenticator MD5(Code | Identifier | Length |
    /// 16 zero octets | Attributes | Secret) (RFC 2866 §3).
    pub fn finish_accounting_request(mut self, secret: &[u8]) -> usize {
        self.set_length();
        self.buf[4..HEADER_LEN].fill(0);
        self.fill_message_authenticator(secret);
        let digest = md5_parts(&[&self.buf[..self.len], secret]);
        self.buf[4..HEADER_LEN].copy_from_slice(&digest);
        self.len
    }

    /// Finishes a response (what a server does; used by tests and
    /// fuzzing): Message-Authenticator over the packet with the Request
    /// Authenticator in the authenticator field, then the Response
    /// Authenticator MD5(Code | Identifier | Length | RequestAuth |
    /// Attributes | Secret) (RFC 2865 §3, RFC 3579 §3.2).
    pub fn finish_response(mut self, request_authenticator: &[u8; 16], secret: &[u8]) -> usize {
        self.set_length();
        self.buf[4..HEADER_LEN].copy_from_slice(request_authenticator);
        self.fill_message_authenticator(secret);
        let digest = md5_parts(&[&self.buf[..self.len], secret]);
        self.buf[4..HEADER_LEN].copy_from_slice(&digest);
        self.len
    }
}

/// MD5 over concatenated parts (the shared secret is among them: the
/// hasher is scrubbed after use).
pub(crate) fn md5_parts(parts: &[&[u8]]) -> [u8; 16] {
    digest_scrubbed::<Md5>(parts).into()
}

/// HMAC-MD5 (RFC 2104) of the concatenated `parts` under `key`.
pub fn hmac_md5(key: &[u8], parts: &[&[u8]]) -> [u8; 16] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..16].copy_from_slice(&md5_parts(&[key]));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut pad = [0u8; 64];
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x36;
    }
    let inner: [u8; 16] = digest_scrubbed2::<Md5>(&[&pad], parts).into();
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x5c;
    }
    let out = md5_parts(&[&pad, &inner]);
    block.zeroize();
    pad.zeroize();
    out
}

/// RFC 2865 §5.2 hiding: `out` (a multiple of 16 octets, at least
/// `clear.len()`) receives `clear` zero-padded and XORed with the chain
/// b1 = MD5(S | first), bi = MD5(S | c(i−1)).
fn hide_with(clear: &[u8], secret: &[u8], first: &[&[u8]], out: &mut [u8]) {
    out.fill(0);
    let n = clear.len().min(out.len());
    out[..n].copy_from_slice(&clear[..n]);
    let mut previous: Option<[u8; 16]> = None;
    for chunk in out.chunks_mut(16) {
        let mut b = match previous {
            None => digest_scrubbed2::<Md5>(&[secret], first).into(),
            Some(c) => md5_parts(&[secret, &c]),
        };
        for (o, k) in chunk.iter_mut().zip(b.iter()) {
            *o ^= k;
        }
        let mut c = [0u8; 16];
        c[..chunk.len()].copy_from_slice(chunk);
        previous = Some(c);
        b.zeroize();
    }
}

/// The inverse of [`hide_with`]: decrypts `cipher` into `out` (same
/// length).
fn reveal_with(cipher: &[u8], secret: &[u8], first: &[&[u8]], out: &mut [u8]) {
    let mut previous: Option<&[u8]> = None;
    for (chunk, o) in cipher.chunks(16).zip(out.chunks_mut(16)) {
        let mut b = match previous {
            None => digest_scrubbed2::<Md5>(&[secret], first).into(),
            Some(c) => md5_parts(&[secret, c]),
        };
        for ((o, c), k) in o.iter_mut().zip(chunk.iter()).zip(b.iter()) {
            *o = c ^ k;
        }
        previous = Some(chunk);
        b.zeroize();
    }
}

/// Hides a User-Password (RFC 2865 §5.2) into `out` (length: the password
/// length rounded up to 16, at least 16).
pub fn hide(password: &[u8], secret: &[u8], request_authenticator: &[u8; 16], out: &mut [u8]) {
    hide_with(password, secret, &[request_authenticator], out);
}

/// Reveals a hidden User-Password or MS-CHAP-MPPE-Keys value (RFC 2865
/// §5.2 scheme) into `out` (same length as `cipher`); trailing zero
/// padding is left in place.
pub fn reveal(cipher: &[u8], secret: &[u8], request_authenticator: &[u8; 16], out: &mut [u8]) {
    reveal_with(cipher, secret, &[request_authenticator], out);
}

/// Encrypts an MS-MPPE-Send/Recv-Key value (RFC 2548): writes
/// Salt | C into `out`, where the plaintext is Key-Length | Key | zero
/// padding to a multiple of 16 and b1 = MD5(S | R | Salt). Returns the
/// length. (A server's job; here for tests and fuzzing.)
pub fn encrypt_salted(
    key: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    salt: [u8; 2],
    out: &mut [u8],
) -> Result<usize, Error> {
    if key.len() > 64 {
        return Err(Error::ValueTooLong {
            attribute: 0,
            length: key.len(),
        });
    }
    let mut plain = [0u8; 80];
    plain[0] = key.len() as u8;
    plain[1..=key.len()].copy_from_slice(key);
    let padded = (key.len() + 1).div_ceil(16) * 16;
    let needed = 2 + padded;
    let out = out
        .get_mut(..needed)
        .ok_or(Error::BufferTooSmall { needed })?;
    out[..2].copy_from_slice(&salt);
    hide_with(
        &plain[..padded],
        secret,
        &[request_authenticator, &salt],
        &mut out[2..],
    );
    plain.zeroize();
    Ok(needed)
}

/// Decrypts an MS-MPPE-Send/Recv-Key value (RFC 2548):
/// `value` = Salt (2, most significant bit set) | C (multiple of 16).
/// Returns the 16-octet key (RFC 3079 keys; longer keys are truncated to
/// 16 as the NAS uses at most 128 bits).
pub fn decrypt_salted(
    value: &[u8],
    secret: &[u8],
    request_authenticator: &[u8; 16],
    vendor_type: u8,
) -> Result<[u8; 16], Error> {
    let bad = Error::BadEncryptedValue {
        attribute: vendor_type,
    };
    let (salt, cipher) = match value {
        [a, b, rest @ ..] => ([*a, *b], rest),
        _ => return Err(bad),
    };
    // RFC 2548: "The most significant bit (leftmost) of the Salt
    // field MUST be set (1)".
    if salt[0] & 0x80 == 0 || cipher.is_empty() || cipher.len() % 16 != 0 || cipher.len() > 64 {
        return Err(bad);
    }
    let mut plain = [0u8; 64];
    reveal_with(
        cipher,
        secret,
        &[request_authenticator, &salt],
        &mut plain[..cipher.len()],
    );
    let key_len = usize::from(plain[0]);
    let result = if key_len < 16 || key_len + 1 > cipher.len() {
        Err(bad)
    } else {
        let mut key = [0u8; 16];
        key.copy_from_slice(&plain[1..17]);
        Ok(key)
    };
    plain.zeroize();
    result
}

/// Verifies a response from the server: Message-Authenticator present
/// exactly once and valid (RFC 3579 §3.2, required here for all but
/// Accounting-Response) and the Response Authenticator (RFC 2865 §3,
/// RFC 2866 §3). Both comparisons are constant-time.
pub fn verify_response(
    packet: &Packet<&[u8]>,
    request_authenticator: &[u8; 16],
    secret: &[u8],
) -> Result<(), Error> {
    let bytes = packet.as_bytes();
    let require_ma = packet.code() != Some(Code::AccountingResponse);
    // Locate Message-Authenticator.
    let mut ma_at = None;
    let mut offset = HEADER_LEN;
    for attribute in packet.attributes() {
        let attribute = attribute?;
        if attribute.kind == MESSAGE_AUTHENTICATOR {
            if ma_at.is_some() || attribute.value.len() != 16 {
                return Err(Error::BadMessageAuthenticator);
            }
            ma_at = Some(offset + 2);
        }
        offset += 2 + attribute.value.len();
    }
    // Response Authenticator first: it covers the whole packet.
    let expected = md5_parts(&[
        bytes.get(..4).unwrap_or(&[]),
        request_authenticator,
        bytes.get(HEADER_LEN..).unwrap_or(&[]),
        secret,
    ]);
    if !bool::from(expected.ct_eq(&packet.authenticator())) {
        return Err(Error::BadResponseAuthenticator);
    }
    match ma_at {
        None if require_ma => Err(Error::MissingMessageAuthenticator),
        None => Ok(()),
        Some(at) => {
            let received = bytes
                .get(at..at + 16)
                .ok_or(Error::BadMessageAuthenticator)?;
            let zeros = [0u8; 16];
            let mac = hmac_md5(
                secret,
                &[
                    bytes.get(..4).unwrap_or(&[]),
                    request_authenticator,
                    bytes.get(HEADER_LEN..at).unwrap_or(&[]),
                    &zeros,
                    bytes.get(at + 16..).unwrap_or(&[]),
                ],
            );
            if bool::from(mac.ct_eq(received)) {
                Ok(())
            } else {
                Err(Error::BadMessageAuthenticator)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec;
    use std::vec::Vec;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn vectors(kind: &str) -> Vec<toml::Table> {
        let text = include_str!("../../../tests/data/radius_ms_mppe.toml");
        let table: toml::Table = toml::from_str(text).unwrap();
        table["vector"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_table().unwrap().clone())
            .filter(|v| v["kind"].as_str() == Some(kind))
            .collect()
    }

    fn s<'a>(v: &'a toml::Table, k: &str) -> &'a str {
        v[k].as_str().unwrap()
    }

    fn auth16(v: &toml::Table) -> [u8; 16] {
        hex(s(v, "request_authenticator")).try_into().unwrap()
    }

    #[test]
    fn hmac_md5_matches_rfc2202() {
        // RFC 2202 §2 test cases 1 and 2.
        assert_eq!(
            hmac_md5(&[0x0b; 16], &[b"Hi There"]).to_vec(),
            hex("9294727a3638bb1c13f48ef8158bfc9d")
        );
        assert_eq!(
            hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"]).to_vec(),
            hex("750c783e6ab0b503eaa86e310a5db738")
        );
        // Test case 6: key longer than the block.
        assert_eq!(
            hmac_md5(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )
            .to_vec(),
            hex("6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd")
        );
    }

    #[test]
    fn user_password_hiding_matches_vector() {
        let v = vectors("radius_user_password");
        assert!(!v.is_empty());
        for v in v {
            let mut out = [0u8; 16];
            hide(
                s(&v, "password").as_bytes(),
                s(&v, "secret").as_bytes(),
                &auth16(&v),
                &mut out,
            );
            assert_eq!(out.to_vec(), hex(s(&v, "encrypted")));
            let mut back = [0u8; 16];
            reveal(&out, s(&v, "secret").as_bytes(), &auth16(&v), &mut back);
            assert!(back.starts_with(s(&v, "password").as_bytes()));
        }
    }

    #[test]
    fn long_password_chains_blocks() {
        let password = [b'p'; 40];
        let mut out = [0u8; 48];
        hide(&password, b"secret", &[7; 16], &mut out);
        let mut back = [0u8; 48];
        reveal(&out, b"secret", &[7; 16], &mut back);
        assert_eq!(&back[..40], &password[..]);
        assert_eq!(&back[40..], &[0; 8]);
    }

    #[test]
    fn mppe_send_recv_keys_match_vectors() {
        let v = vectors("radius_mppe_key");
        assert_eq!(v.len(), 3);
        for v in v {
            let secret = s(&v, "secret").as_bytes();
            let ra = auth16(&v);
            let attribute = hex(s(&v, "attribute"));
            // Parse the whole attribute as a packet attribute region.
            let attrs: Vec<_> = Attributes::new(&attribute, 0).collect();
            assert_eq!(attrs.len(), 1);
            let a = attrs[0].unwrap();
            assert_eq!(a.kind, VENDOR_SPECIFIC);
            let vsa = VendorSpecific::parse(a.value).unwrap();
            assert_eq!(vsa.vendor_id, 311);
            let sub = vsa.attributes().next().unwrap().unwrap();
            assert_eq!(i64::from(sub.kind), v["vendor_type"].as_integer().unwrap());
            let key = decrypt_salted(sub.value, secret, &ra, sub.kind).unwrap();
            assert_eq!(key.to_vec(), hex(s(&v, "key")));
            // And encryption reproduces the same bytes from the same salt.
            let salt: [u8; 2] = hex(s(&v, "salt")).try_into().unwrap();
            let mut out = [0u8; 64];
            let n = encrypt_salted(&key, secret, &ra, salt, &mut out).unwrap();
            assert_eq!(out[..n].to_vec(), sub.value.to_vec());
            assert_eq!(out[2..n].to_vec(), hex(s(&v, "encrypted_string")));
        }
    }

    #[test]
    fn salted_decryption_rejects_bad_values() {
        let bad = Err(Error::BadEncryptedValue { attribute: 16 });
        assert_eq!(decrypt_salted(&[0x80], b"s", &[0; 16], 16), bad);
        // Salt MSB clear.
        assert_eq!(
            decrypt_salted(
                &[0x00, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
                b"s",
                &[0; 16],
                16
            ),
            bad
        );
        // Not a multiple of 16.
        assert_eq!(decrypt_salted(&[0x80, 1, 0, 0, 0], b"s", &[0; 16], 16), bad);
        // Wrong secret: Key-Length decodes to garbage (checked for this input).
        let mut out = [0u8; 34];
        let n = encrypt_salted(&[9; 16], b"right", &[1; 16], [0x80, 1], &mut out).unwrap();
        assert_eq!(n, 34);
        let wrong = decrypt_salted(&out[..n], b"wrong", &[1; 16], 16);
        assert!(wrong.is_err() || wrong != Ok([9; 16]));
        // A short key (Key-Length 5) is refused: MPPE needs 16 octets.
        let n = encrypt_salted(&[9; 5], b"s", &[1; 16], [0x80, 1], &mut out).unwrap();
        assert_eq!(decrypt_salted(&out[..n], b"s", &[1; 16], 16), bad);
    }

    #[test]
    fn attribute_iteration_reports_typed_errors() {
        // Zero length.
        let mut it = Attributes::new(&[1, 0, 2, 3], 20);
        assert_eq!(
            it.next(),
            Some(Err(Error::AttributeTooShort {
                offset: 20,
                length: 0
            }))
        );
        assert_eq!(it.next(), None);
        // Length 1.
        let mut it = Attributes::new(&[1, 3, b'a', 5, 1], 20);
        assert_eq!(
            it.next(),
            Some(Ok(Attribute {
                kind: 1,
                value: b"a"
            }))
        );
        assert_eq!(
            it.next(),
            Some(Err(Error::AttributeTooShort {
                offset: 23,
                length: 1
            }))
        );
        // Past the end.
        let mut it = Attributes::new(&[1, 9, b'a'], 20);
        assert_eq!(
            it.next(),
            Some(Err(Error::AttributePastEnd {
                offset: 20,
                length: 9
            }))
        );
        // A lone type octet.
        let mut it = Attributes::new(&[1, 2, 7], 20);
        assert_eq!(
            it.next(),
            Some(Ok(Attribute {
                kind: 1,
                value: b""
            }))
        );
        assert_eq!(
            it.next(),
            Some(Err(Error::AttributePastEnd {
                offset: 22,
                length: 0
            }))
        );
    }

    fn accept_packet(secret: &[u8], ra: &[u8; 16], with_ma: bool) -> Vec<u8> {
        let mut buf = [0u8; 128];
        let mut w = PacketWriter::new(&mut buf, Code::AccessAccept, 9, &[0; 16]).unwrap();
        if with_ma {
            w.message_authenticator().unwrap();
        }
        w.integer(6, 2).unwrap();
        let n = w.finish_response(ra, secret);
        buf[..n].to_vec()
    }

    #[test]
    fn packet_checks_report_typed_errors() {
        let good = accept_packet(b"s", &[3; 16], true);
        assert!(Packet::new_checked(&good[..]).is_ok());
        assert_eq!(
            Packet::new_checked(&good[..19]).unwrap_err(),
            Error::Truncated { len: 19 }
        );
        assert_eq!(
            Packet::new_checked(&good[..good.len() - 1]).unwrap_err(),
            Error::BadLength {
                length: good.len() as u16,
                received: good.len() - 1
            }
        );
        let mut short_len = good.clone();
        short_len[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&short_len[..]).unwrap_err(),
            Error::BadLength {
                length: 19,
                received: good.len()
            }
        );
        let mut unknown = good.clone();
        unknown[0] = 99;
        assert_eq!(
            Packet::new_checked(&unknown[..]).unwrap_err(),
            Error::UnknownCode { code: 99 }
        );
        let big = vec![0u8; 4097];
        assert_eq!(
            Packet::new_checked(&big[..]).unwrap_err(),
            Error::Oversized { len: 4097 }
        );
        // Padding after Length is ignored (RFC 2865 §3).
        let mut padded = good.clone();
        padded.extend_from_slice(&[0xff; 5]);
        let p = Packet::new_checked(&padded[..]).unwrap();
        assert_eq!(p.as_bytes(), &good[..]);
        // Zero-length attribute inside a packet.
        let mut zero = good.clone();
        zero.extend_from_slice(&[18, 0]);
        let l = zero.len() as u16;
        zero[2..4].copy_from_slice(&l.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&zero[..]).unwrap_err(),
            Error::AttributeTooShort {
                offset: good.len(),
                length: 0
            }
        );
        // Truncated attribute.
        let mut cut = good.clone();
        cut.extend_from_slice(&[18, 10, b'x']);
        let l = cut.len() as u16;
        cut[2..4].copy_from_slice(&l.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&cut[..]).unwrap_err(),
            Error::AttributePastEnd {
                offset: good.len(),
                length: 10
            }
        );
    }

    #[test]
    fn response_verification() {
        let ra = [3; 16];
        let good = accept_packet(b"s", &ra, true);
        let p = Packet::new_checked(&good[..]).unwrap();
        assert_eq!(verify_response(&p, &ra, b"s"), Ok(()));
        assert_eq!(
            verify_response(&p, &ra, b"other"),
            Err(Error::BadResponseAuthenticator)
        );
        assert_eq!(
            verify_response(&p, &[4; 16], b"s"),
            Err(Error::BadResponseAuthenticator)
        );
        // No Message-Authenticator: refused even though the Response
        // Authenticator is right (BlastRADIUS).
        let bare = accept_packet(b"s", &ra, false);
        let p = Packet::new_checked(&bare[..]).unwrap();
        assert_eq!(
            verify_response(&p, &ra, b"s"),
            Err(Error::MissingMessageAuthenticator)
        );
        // A wrong Message-Authenticator with a Response Authenticator
        // recomputed over it (an attacker who knows no secret cannot, but
        // a buggy server can): refused.
        let mut forged = good.clone();
        forged[22] ^= 1;
        let digest = md5_parts(&[&forged[..4], &ra, &forged[20..], b"s"]);
        forged[4..20].copy_from_slice(&digest);
        let p = Packet::new_checked(&forged[..]).unwrap();
        assert_eq!(
            verify_response(&p, &ra, b"s"),
            Err(Error::BadMessageAuthenticator)
        );
        // Message-Authenticator of the wrong length.
        let mut buf = [0u8; 64];
        let mut w = PacketWriter::new(&mut buf, Code::AccessAccept, 9, &[0; 16]).unwrap();
        w.attribute(MESSAGE_AUTHENTICATOR, &[0; 15]).unwrap();
        let n = w.finish_response(&ra, b"s");
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert_eq!(
            verify_response(&p, &ra, b"s"),
            Err(Error::BadMessageAuthenticator)
        );
    }

    #[test]
    fn writer_bounds() {
        let mut buf = [0u8; 10];
        assert_eq!(
            PacketWriter::new(&mut buf, Code::AccessRequest, 1, &[0; 16]).unwrap_err(),
            Error::BufferTooSmall { needed: 20 }
        );
        let mut buf = [0u8; 24];
        let mut w = PacketWriter::new(&mut buf, Code::AccessRequest, 1, &[0; 16]).unwrap();
        assert_eq!(
            w.attribute(1, b"abc").unwrap_err(),
            Error::BufferTooSmall { needed: 25 }
        );
        assert_eq!(
            w.attribute(1, &[0; 254]).unwrap_err(),
            Error::ValueTooLong {
                attribute: 1,
                length: 254
            }
        );
        assert_eq!(
            w.user_password(&[0; 129], b"s").unwrap_err(),
            Error::ValueTooLong {
                attribute: USER_PASSWORD,
                length: 129
            }
        );
    }
}
