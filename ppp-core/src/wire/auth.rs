//! PAP (RFC 1334) and CHAP (RFC 1994) packets, and the MS-CHAP values and
//! messages carried inside CHAP (RFC 2433 MS-CHAPv1, RFC 2759 MS-CHAPv2).
//!
//! Every packet here is what follows the PPP protocol field (`0xc023` for
//! PAP, `0xc223` for CHAP): a 4-octet header (Code, Identifier, Length)
//! and a code-specific body. [`Packet`] is the zero-copy view of that
//! header; [`PapRepr`] and [`ChapRepr`] are the parsed forms. The MS-CHAP
//! Response values ([`MsChapV1Response`], [`MsChapV2Response`]) and text
//! messages ([`MsChapV2Success`], [`MsChapFailure`]) live inside CHAP
//! Response, Success and Failure packets and are parsed from those fields.
//!
//! Octets after `Length` are padding (RFC 1661 §5) and ignored. Parsers
//! never panic; each returns a typed [`Error`].

use core::fmt;

/// PPP protocol number of PAP (RFC 1334 §2).
pub const PROTOCOL_PAP: u16 = 0xc023;
/// PPP protocol number of CHAP and MS-CHAP (RFC 1994 §4).
pub const PROTOCOL_CHAP: u16 = 0xc223;
/// Length of the Code/Identifier/Length header.
pub const HEADER_LEN: usize = 4;
/// Size of an MS-CHAPv1 or MS-CHAPv2 Response value (RFC 2433 "Response Packet", RFC 2759 §4).
pub const MSCHAP_RESPONSE_LEN: usize = 49;
/// Length of the "S=" authenticator response string (RFC 2759 §5): "S=" + 40 hex.
pub const AUTHENTICATOR_RESPONSE_STR_LEN: usize = 42;

mod field {
    pub const CODE: usize = 0;
    pub const IDENTIFIER: usize = 1;
    pub const LENGTH: core::ops::Range<usize> = 2..4;
}

/// Errors from parsing or emitting authentication packets and messages.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The buffer is shorter than the 4-octet header.
    Truncated {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// The Length field is below 4 or beyond the buffer.
    BadLength {
        /// The Length field.
        length: u16,
        /// Octets available in the buffer.
        available: usize,
    },
    /// A Code this protocol does not define (or one this parser does not
    /// take: MS-CHAP Change-Password, see [`MsChapV2ChangePassword`]).
    UnknownCode {
        /// The Code field.
        code: u8,
    },
    /// A length-prefixed field runs past the end of the packet.
    FieldOverrun {
        /// Which field.
        field: Field,
        /// Octets the field needs (from its offset).
        needed: usize,
        /// Octets left in the packet (from its offset).
        available: usize,
    },
    /// A CHAP Value-Size of zero (RFC 1994 §4.1: one or more octets).
    EmptyValue,
    /// A field has the wrong fixed size.
    WrongSize {
        /// Which field.
        field: Field,
        /// Size required.
        expected: usize,
        /// Size found.
        actual: usize,
    },
    /// A field is too long to encode (a one-octet length, or the 16-bit
    /// packet Length).
    TooLong {
        /// Which field.
        field: Field,
        /// Its length.
        length: usize,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// An MS-CHAP message lacks a required attribute (`b'S'` or `b'E'`).
    MissingAttribute {
        /// The attribute letter.
        attribute: u8,
    },
    /// An MS-CHAP message attribute has a malformed value.
    BadAttribute {
        /// The attribute letter.
        attribute: u8,
    },
}

/// Names of fields, for [`Error`].
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Field {
    /// PAP Peer-ID-Length and Peer-ID.
    PeerId,
    /// PAP Passwd-Length and Password.
    Password,
    /// PAP Msg-Length and Message, or a CHAP/MS-CHAP message.
    Message,
    /// CHAP Value-Size and Value.
    Value,
    /// CHAP Name.
    Name,
    /// The whole packet.
    Packet,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { needed, available } => {
                write!(
                    f,
                    "packet truncated: {needed} octets needed, {available} available"
                )
            }
            Error::BadLength { length, available } => {
                write!(f, "bad Length {length} ({available} octets available)")
            }
            Error::UnknownCode { code } => write!(f, "unknown code {code}"),
            Error::FieldOverrun {
                field,
                needed,
                available,
            } => write!(
                f,
                "{field:?} runs past the packet: {needed} octets needed, {available} left"
            ),
            Error::EmptyValue => write!(f, "CHAP Value-Size is zero"),
            Error::WrongSize {
                field,
                expected,
                actual,
            } => write!(f, "{field:?} is {actual} octets, expected {expected}"),
            Error::TooLong { field, length } => write!(f, "{field:?} too long: {length} octets"),
            Error::BufferTooSmall { needed, available } => {
                write!(
                    f,
                    "buffer too small: {needed} octets needed, {available} available"
                )
            }
            Error::MissingAttribute { attribute } => {
                write!(f, "MS-CHAP message lacks {}=", attribute as char)
            }
            Error::BadAttribute { attribute } => {
                write!(f, "MS-CHAP message has a malformed {}=", attribute as char)
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Result type of this module.
pub type Result<T> = core::result::Result<T, Error>;

/// A zero-copy view of a PAP or CHAP packet (Code, Identifier, Length, body).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps a buffer without checking it; getters may then return
    /// truncated data but never panic.
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps a buffer after checking the header and the Length field.
    pub fn new_checked(buffer: T) -> Result<Self> {
        let packet = Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header is present and Length is within 4..=buffer.
    pub fn check_len(&self) -> Result<()> {
        let data = self.buffer.as_ref();
        if data.len() < HEADER_LEN {
            return Err(Error::Truncated {
                needed: HEADER_LEN,
                available: data.len(),
            });
        }
        let length = self.length();
        if usize::from(length) < HEADER_LEN || usize::from(length) > data.len() {
            return Err(Error::BadLength {
                length,
                available: data.len(),
            });
        }
        Ok(())
    }

    /// The Code field (0 if the buffer is empty).
    pub fn code(&self) -> u8 {
        self.buffer.as_ref().get(field::CODE).copied().unwrap_or(0)
    }

    /// The Identifier field (0 if absent).
    pub fn identifier(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::IDENTIFIER)
            .copied()
            .unwrap_or(0)
    }

    /// The Length field (0 if absent).
    pub fn length(&self) -> u16 {
        match self.buffer.as_ref().get(field::LENGTH) {
            Some(&[hi, lo]) => u16::from_be_bytes([hi, lo]),
            _ => 0,
        }
    }

    /// The body: octets 4..Length (clamped to the buffer).
    pub fn body(&self) -> &[u8] {
        let data = self.buffer.as_ref();
        let end = usize::from(self.length()).min(data.len());
        data.get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Code field (no-op on a buffer shorter than the header).
    pub fn set_code(&mut self, code: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::CODE) {
            *b = code;
        }
    }

    /// Sets the Identifier field.
    pub fn set_identifier(&mut self, identifier: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::IDENTIFIER) {
            *b = identifier;
        }
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, length: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::LENGTH) {
            b.copy_from_slice(&length.to_be_bytes());
        }
    }
}

/// Writes octets sequentially into a caller buffer, never past its end.
struct Writer<'b> {
    buf: &'b mut [u8],
    pos: usize,
}

impl<'b> Writer<'b> {
    fn new(buf: &'b mut [u8]) -> Self {
        Writer { buf, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) {
        // Callers check the total size first; `get_mut` keeps this safe anyway.
        if let Some(dst) = self.buf.get_mut(self.pos..self.pos + bytes.len()) {
            dst.copy_from_slice(bytes);
        }
        self.pos += bytes.len();
    }

    fn put_u8(&mut self, byte: u8) {
        self.put(&[byte]);
    }
}

fn check_room(needed: usize, buf: &[u8]) -> Result<()> {
    if buf.len() < needed {
        Err(Error::BufferTooSmall {
            needed,
            available: buf.len(),
        })
    } else {
        Ok(())
    }
}

fn header(w: &mut Writer<'_>, code: u8, identifier: u8, length: usize) {
    w.put_u8(code);
    w.put_u8(identifier);
    // Lengths are checked against u16::MAX by the callers.
    w.put(&(length as u16).to_be_bytes());
}

fn one_octet_len(field: Field, bytes: &[u8]) -> Result<u8> {
    u8::try_from(bytes.len()).map_err(|_| Error::TooLong {
        field,
        length: bytes.len(),
    })
}

fn checked_packet_len(field: Field, length: usize) -> Result<usize> {
    if length > usize::from(u16::MAX) {
        Err(Error::TooLong { field, length })
    } else {
        Ok(length)
    }
}

/// Reads a one-octet length and the field it prefixes from `body[at..]`.
fn length_prefixed(body: &[u8], at: usize, field: Field) -> Result<(&[u8], usize)> {
    let len = match body.get(at) {
        Some(&len) => usize::from(len),
        None => {
            return Err(Error::FieldOverrun {
                field,
                needed: 1,
                available: 0,
            })
        }
    };
    let start = at + 1;
    match body.get(start..start + len) {
        Some(value) => Ok((value, start + len)),
        None => Err(Error::FieldOverrun {
            field,
            needed: len + 1,
            available: body.len().saturating_sub(at),
        }),
    }
}

/// PAP codes (RFC 1334 §2.2).
pub mod pap_code {
    /// Authenticate-Request.
    pub const AUTHENTICATE_REQUEST: u8 = 1;
    /// Authenticate-Ack.
    pub const AUTHENTICATE_ACK: u8 = 2;
    /// Authenticate-Nak.
    pub const AUTHENTICATE_NAK: u8 = 3;
}

/// A parsed PAP packet (RFC 1334 §2.2).
///
/// `Debug` does not print the password.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum PapRepr<'a> {
    /// Authenticate-Request: the peer's name and cleartext password.
    AuthenticateRequest {
        /// Identifier.
        identifier: u8,
        /// Peer-ID.
        peer_id: &'a [u8],
        /// Password (cleartext; never printed).
        password: &'a [u8],
    },
    /// Authenticate-Ack with a message.
    AuthenticateAck {
        /// Identifier (copied from the request).
        identifier: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Authenticate-Nak with a message.
    AuthenticateNak {
        /// Identifier (copied from the request).
        identifier: u8,
        /// Message.
        message: &'a [u8],
    },
}

impl fmt::Debug for PapRepr<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PapRepr::AuthenticateRequest {
                identifier,
                peer_id,
                ..
            } => f
                .debug_struct("AuthenticateRequest")
                .field("identifier", identifier)
                .field("peer_id", peer_id)
                .field("password", &"<redacted>")
                .finish(),
            PapRepr::AuthenticateAck {
                identifier,
                message,
            } => f
                .debug_struct("AuthenticateAck")
                .field("identifier", identifier)
                .field("message", message)
                .finish(),
            PapRepr::AuthenticateNak {
                identifier,
                message,
            } => f
                .debug_struct("AuthenticateNak")
                .field("identifier", identifier)
                .field("message", message)
                .finish(),
        }
    }
}

impl<'a> PapRepr<'a> {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<PapRepr<'a>> {
        packet.check_len()?;
        let data: &'a [u8] = packet.buffer.as_ref();
        let end = usize::from(packet.length());
        let body = data.get(HEADER_LEN..end).unwrap_or(&[]);
        let identifier = packet.identifier();
        match packet.code() {
            pap_code::AUTHENTICATE_REQUEST => {
                let (peer_id, next) = length_prefixed(body, 0, Field::PeerId)?;
                let (password, _) = length_prefixed(body, next, Field::Password)?;
                Ok(PapRepr::AuthenticateRequest {
                    identifier,
                    peer_id,
                    password,
                })
            }
            code @ (pap_code::AUTHENTICATE_ACK | pap_code::AUTHENTICATE_NAK) => {
                // RFC 1334 §2.2.2 requires Msg-Length; a body with no octet
                // at all is accepted as an empty message, because the
                // verdict is the Code and the message "MUST NOT affect
                // operation of the protocol".
                let message = if body.is_empty() {
                    &[][..]
                } else {
                    length_prefixed(body, 0, Field::Message)?.0
                };
                Ok(if code == pap_code::AUTHENTICATE_ACK {
                    PapRepr::AuthenticateAck {
                        identifier,
                        message,
                    }
                } else {
                    PapRepr::AuthenticateNak {
                        identifier,
                        message,
                    }
                })
            }
            code => Err(Error::UnknownCode { code }),
        }
    }

    /// Parses a packet from bytes (header check included).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<PapRepr<'a>> {
        PapRepr::parse(&Packet::new_checked(bytes)?)
    }

    /// Length of the emitted packet.
    pub fn buffer_len(&self) -> usize {
        match self {
            PapRepr::AuthenticateRequest {
                peer_id, password, ..
            } => HEADER_LEN + 2 + peer_id.len() + password.len(),
            PapRepr::AuthenticateAck { message, .. } | PapRepr::AuthenticateNak { message, .. } => {
                HEADER_LEN + 1 + message.len()
            }
        }
    }

    /// Writes the packet into `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        match self {
            PapRepr::AuthenticateRequest {
                identifier,
                peer_id,
                password,
            } => {
                let id_len = one_octet_len(Field::PeerId, peer_id)?;
                let pw_len = one_octet_len(Field::Password, password)?;
                check_room(len, buf)?;
                let mut w = Writer::new(buf);
                header(&mut w, pap_code::AUTHENTICATE_REQUEST, *identifier, len);
                w.put_u8(id_len);
                w.put(peer_id);
                w.put_u8(pw_len);
                w.put(password);
            }
            PapRepr::AuthenticateAck {
                identifier,
                message,
            }
            | PapRepr::AuthenticateNak {
                identifier,
                message,
            } => {
                let msg_len = one_octet_len(Field::Message, message)?;
                check_room(len, buf)?;
                let code = if matches!(self, PapRepr::AuthenticateAck { .. }) {
                    pap_code::AUTHENTICATE_ACK
                } else {
                    pap_code::AUTHENTICATE_NAK
                };
                let mut w = Writer::new(buf);
                header(&mut w, code, *identifier, len);
                w.put_u8(msg_len);
                w.put(message);
            }
        }
        Ok(len)
    }
}

/// CHAP codes (RFC 1994 §4).
pub mod chap_code {
    /// Challenge.
    pub const CHALLENGE: u8 = 1;
    /// Response.
    pub const RESPONSE: u8 = 2;
    /// Success.
    pub const SUCCESS: u8 = 3;
    /// Failure.
    pub const FAILURE: u8 = 4;
    /// MS-CHAPv1 Change Password (version 1), RFC 2433
    /// ([`super::MsChapV1ChangePasswordV1`]).
    pub const CHANGE_PASSWORD_V1: u8 = 5;
    /// MS-CHAPv1 Change Password (version 2), RFC 2433
    /// ([`super::MsChapV1ChangePassword`]).
    pub const CHANGE_PASSWORD_V1_2: u8 = 6;
    /// MS-CHAPv2 Change-Password, RFC 2759 §7 ([`super::MsChapV2ChangePassword`]).
    pub const CHANGE_PASSWORD_V2: u8 = 7;
}

/// A parsed CHAP packet (RFC 1994 §4).
///
/// MS-CHAP Change-Password packets parse as [`Error::UnknownCode`] here:
/// each has its own parser, [`MsChapV2ChangePassword`] (RFC 2759 code 7),
/// [`MsChapV1ChangePassword`] and [`MsChapV1ChangePasswordV1`] (RFC 2433
/// codes 6 and 5).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ChapRepr<'a> {
    /// Challenge: the challenge value and the authenticator's name.
    Challenge {
        /// Identifier.
        identifier: u8,
        /// Challenge value (one or more octets).
        value: &'a [u8],
        /// Name of the authenticator.
        name: &'a [u8],
    },
    /// Response: the response value and the peer's name.
    Response {
        /// Identifier (copied from the Challenge).
        identifier: u8,
        /// Response value (16 octets for MD5, 49 for MS-CHAP).
        value: &'a [u8],
        /// Name of the peer (the user name).
        name: &'a [u8],
    },
    /// Success with a message (for MS-CHAPv2, "S=… M=…").
    Success {
        /// Identifier (copied from the Response).
        identifier: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Failure with a message (for MS-CHAP, "E=… R=… C=… V=… M=…").
    Failure {
        /// Identifier (copied from the Response).
        identifier: u8,
        /// Message.
        message: &'a [u8],
    },
}

impl<'a> ChapRepr<'a> {
    /// Parses a checked packet.
    pub fn parse<T: AsRef<[u8]> + ?Sized>(packet: &Packet<&'a T>) -> Result<ChapRepr<'a>> {
        packet.check_len()?;
        let data: &'a [u8] = packet.buffer.as_ref();
        let end = usize::from(packet.length());
        let body = data.get(HEADER_LEN..end).unwrap_or(&[]);
        let identifier = packet.identifier();
        match packet.code() {
            code @ (chap_code::CHALLENGE | chap_code::RESPONSE) => {
                let (value, next) = length_prefixed(body, 0, Field::Value)?;
                if value.is_empty() {
                    return Err(Error::EmptyValue);
                }
                // RFC 1994 §4.1: the Name is the rest of the packet.
                let name = body.get(next..).unwrap_or(&[]);
                Ok(if code == chap_code::CHALLENGE {
                    ChapRepr::Challenge {
                        identifier,
                        value,
                        name,
                    }
                } else {
                    ChapRepr::Response {
                        identifier,
                        value,
                        name,
                    }
                })
            }
            chap_code::SUCCESS => Ok(ChapRepr::Success {
                identifier,
                message: body,
            }),
            chap_code::FAILURE => Ok(ChapRepr::Failure {
                identifier,
                message: body,
            }),
            code => Err(Error::UnknownCode { code }),
        }
    }

    /// Parses a packet from bytes (header check included).
    pub fn parse_bytes(bytes: &'a [u8]) -> Result<ChapRepr<'a>> {
        ChapRepr::parse(&Packet::new_checked(bytes)?)
    }

    /// The Identifier.
    pub fn identifier(&self) -> u8 {
        match *self {
            ChapRepr::Challenge { identifier, .. }
            | ChapRepr::Response { identifier, .. }
            | ChapRepr::Success { identifier, .. }
            | ChapRepr::Failure { identifier, .. } => identifier,
        }
    }

    /// Length of the emitted packet.
    pub fn buffer_len(&self) -> usize {
        match self {
            ChapRepr::Challenge { value, name, .. } | ChapRepr::Response { value, name, .. } => {
                HEADER_LEN + 1 + value.len() + name.len()
            }
            ChapRepr::Success { message, .. } | ChapRepr::Failure { message, .. } => {
                HEADER_LEN + message.len()
            }
        }
    }

    /// Writes the packet into `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        match self {
            ChapRepr::Challenge {
                identifier,
                value,
                name,
            }
            | ChapRepr::Response {
                identifier,
                value,
                name,
            } => {
                let value_size = one_octet_len(Field::Value, value)?;
                if value_size == 0 {
                    return Err(Error::EmptyValue);
                }
                checked_packet_len(Field::Name, len)?;
                check_room(len, buf)?;
                let code = if matches!(self, ChapRepr::Challenge { .. }) {
                    chap_code::CHALLENGE
                } else {
                    chap_code::RESPONSE
                };
                let mut w = Writer::new(buf);
                header(&mut w, code, *identifier, len);
                w.put_u8(value_size);
                w.put(value);
                w.put(name);
            }
            ChapRepr::Success {
                identifier,
                message,
            }
            | ChapRepr::Failure {
                identifier,
                message,
            } => {
                checked_packet_len(Field::Message, len)?;
                check_room(len, buf)?;
                let code = if matches!(self, ChapRepr::Success { .. }) {
                    chap_code::SUCCESS
                } else {
                    chap_code::FAILURE
                };
                let mut w = Writer::new(buf);
                header(&mut w, code, *identifier, len);
                w.put(message);
            }
        }
        Ok(len)
    }
}

fn fixed<const N: usize>(bytes: &[u8]) -> [u8; N] {
    let mut out = [0u8; N];
    if let Some(src) = bytes.get(..N) {
        out.copy_from_slice(src);
    }
    out
}

fn check_response_len(value: &[u8]) -> Result<()> {
    if value.len() != MSCHAP_RESPONSE_LEN {
        return Err(Error::WrongSize {
            field: Field::Value,
            expected: MSCHAP_RESPONSE_LEN,
            actual: value.len(),
        });
    }
    Ok(())
}

/// The MS-CHAPv1 Response value (RFC 2433 "Response Packet"): 24-octet LM response,
/// 24-octet NT response, one-octet "use NT" flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MsChapV1Response {
    /// LAN Manager compatible response (zeros from NT clients; the weak one,
    /// RFC 2433 §12).
    pub lm_response: [u8; 24],
    /// Windows NT compatible response.
    pub nt_response: [u8; 24],
    /// Flags: 1 means "use the NT response" (RFC 2433 "Response Packet").
    pub flags: u8,
}

impl MsChapV1Response {
    /// Parses the 49-octet Response value.
    pub fn parse(value: &[u8]) -> Result<Self> {
        check_response_len(value)?;
        Ok(MsChapV1Response {
            lm_response: fixed(value.get(0..24).unwrap_or(&[])),
            nt_response: fixed(value.get(24..48).unwrap_or(&[])),
            flags: value.get(48).copied().unwrap_or(0),
        })
    }

    /// Whether the peer asks the authenticator to use the NT response.
    pub fn use_nt(&self) -> bool {
        self.flags & 1 != 0
    }

    /// The 49-octet Response value.
    pub fn to_bytes(&self) -> [u8; MSCHAP_RESPONSE_LEN] {
        let mut out = [0u8; MSCHAP_RESPONSE_LEN];
        out[..24].copy_from_slice(&self.lm_response);
        out[24..48].copy_from_slice(&self.nt_response);
        out[48] = self.flags;
        out
    }
}

/// The MS-CHAPv2 Response value (RFC 2759 §4): 16-octet peer challenge,
/// 8 reserved octets, 24-octet NT response, one flags octet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MsChapV2Response {
    /// Peer-Challenge.
    pub peer_challenge: [u8; 16],
    /// NT-Response.
    pub nt_response: [u8; 24],
    /// Flags (RFC 2759 §4: reserved, zero).
    pub flags: u8,
}

impl MsChapV2Response {
    /// Parses the 49-octet Response value. The 8 reserved octets must be
    /// zero per RFC 2759 §4 but are ignored here, as the RFC gives them no
    /// meaning.
    pub fn parse(value: &[u8]) -> Result<Self> {
        check_response_len(value)?;
        Ok(MsChapV2Response {
            peer_challenge: fixed(value.get(0..16).unwrap_or(&[])),
            nt_response: fixed(value.get(24..48).unwrap_or(&[])),
            flags: value.get(48).copied().unwrap_or(0),
        })
    }

    /// The 49-octet Response value (reserved octets zero).
    pub fn to_bytes(&self) -> [u8; MSCHAP_RESPONSE_LEN] {
        let mut out = [0u8; MSCHAP_RESPONSE_LEN];
        out[..16].copy_from_slice(&self.peer_challenge);
        out[24..48].copy_from_slice(&self.nt_response);
        out[48] = self.flags;
        out
    }
}

/// Iterates "K=value" attributes of an MS-CHAP message separated by
/// spaces. `M=` takes the rest of the message (it may contain spaces), so
/// it ends the iteration. Tokens that are not "K=…" with a single-letter
/// key are skipped.
struct Attributes<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for Attributes<'a> {
    type Item = (u8, &'a [u8]);

    fn next(&mut self) -> Option<(u8, &'a [u8])> {
        loop {
            // Skip separators.
            while let Some((&b' ', tail)) = self.rest.split_first() {
                self.rest = tail;
            }
            if self.rest.is_empty() {
                return None;
            }
            let token_end = self
                .rest
                .iter()
                .position(|&b| b == b' ')
                .unwrap_or(self.rest.len());
            let (token, tail) = self.rest.split_at(token_end);
            if let [key, b'=', ..] = token {
                let key = key.to_ascii_uppercase();
                if key == b'M' {
                    let message = self.rest.get(2..).unwrap_or(&[]);
                    self.rest = &[];
                    return Some((b'M', message));
                }
                self.rest = tail;
                return Some((key, token.get(2..).unwrap_or(&[])));
            }
            self.rest = tail;
        }
    }
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn decode_hex<const N: usize>(text: &[u8], attribute: u8) -> Result<[u8; N]> {
    if text.len() != 2 * N {
        return Err(Error::BadAttribute { attribute });
    }
    let mut out = [0u8; N];
    for (byte, pair) in out.iter_mut().zip(text.chunks_exact(2)) {
        match (
            pair.first().copied().and_then(hex_value),
            pair.get(1).copied().and_then(hex_value),
        ) {
            (Some(hi), Some(lo)) => *byte = (hi << 4) | lo,
            _ => return Err(Error::BadAttribute { attribute }),
        }
    }
    Ok(out)
}

const HEX_UPPER: &[u8; 16] = b"0123456789ABCDEF";

fn put_hex(w: &mut Writer<'_>, bytes: &[u8]) {
    for &b in bytes {
        w.put_u8(HEX_UPPER[usize::from(b >> 4)]);
        w.put_u8(HEX_UPPER[usize::from(b & 0x0f)]);
    }
}

fn decimal_len(mut n: u32) -> usize {
    let mut len = 1;
    while n >= 10 {
        n /= 10;
        len += 1;
    }
    len
}

fn put_decimal(w: &mut Writer<'_>, n: u32) {
    let mut digits = [0u8; 10];
    let len = decimal_len(n);
    let mut rest = n;
    for slot in digits[..len].iter_mut().rev() {
        *slot = b'0' + (rest % 10) as u8;
        rest /= 10;
    }
    w.put(&digits[..len]);
}

fn parse_decimal(text: &[u8], attribute: u8) -> Result<u32> {
    if text.is_empty() || text.len() > 10 {
        return Err(Error::BadAttribute { attribute });
    }
    let mut value: u32 = 0;
    for &digit in text {
        if !digit.is_ascii_digit() {
            return Err(Error::BadAttribute { attribute });
        }
        value = value
            .checked_mul(10)
            .and_then(|v| v.checked_add(u32::from(digit - b'0')))
            .ok_or(Error::BadAttribute { attribute })?;
    }
    Ok(value)
}

/// Parses the authenticator response string `S=<40 hex digits>` alone (as
/// in RADIUS MS-CHAP2-Success after its Ident octet, RFC 2548).
pub fn parse_authenticator_response(text: &[u8]) -> Result<[u8; 20]> {
    match text {
        [s, b'=', hex @ ..] if s.eq_ignore_ascii_case(&b'S') => decode_hex::<20>(hex, b'S'),
        _ => Err(Error::MissingAttribute { attribute: b'S' }),
    }
}

/// Formats an authenticator response as "S=" and 40 upper-case hex digits
/// (RFC 2759 §8.7).
pub fn format_authenticator_response(response: &[u8; 20]) -> [u8; AUTHENTICATOR_RESPONSE_STR_LEN] {
    let mut out = [0u8; AUTHENTICATOR_RESPONSE_STR_LEN];
    let mut w = Writer::new(&mut out);
    w.put(b"S=");
    put_hex(&mut w, response);
    out
}

/// The MS-CHAPv2 Success message (RFC 2759 §5): `S=<auth_string> M=<message>`.
///
/// Parsing is tolerant: attributes in any order, `M=` optional (Windows
/// and pppd accept and send "S=…" alone), hex in either case.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsChapV2Success<'a> {
    /// The 20-octet authenticator response (decoded from 40 hex digits).
    pub authenticator_response: [u8; 20],
    /// The `M=` text, if present.
    pub message: Option<&'a [u8]>,
}

impl<'a> MsChapV2Success<'a> {
    /// Parses a CHAP Success message.
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        let mut authenticator_response = None;
        let mut message = None;
        for (key, value) in (Attributes { rest: text }) {
            match key {
                b'S' => authenticator_response = Some(decode_hex::<20>(value, b'S')?),
                b'M' => message = Some(value),
                _ => {}
            }
        }
        Ok(MsChapV2Success {
            authenticator_response: authenticator_response
                .ok_or(Error::MissingAttribute { attribute: b'S' })?,
            message,
        })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        AUTHENTICATOR_RESPONSE_STR_LEN + self.message.map_or(0, |m| 3 + m.len())
    }

    /// Writes `S=<40 hex>[ M=<message>]` into `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        check_room(len, buf)?;
        let mut w = Writer::new(buf);
        w.put(&format_authenticator_response(&self.authenticator_response));
        if let Some(message) = self.message {
            w.put(b" M=");
            w.put(message);
        }
        Ok(len)
    }
}

/// The challenge carried by `C=` in an MS-CHAP Failure message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FailureChallenge {
    /// 8 octets (16 hex digits): MS-CHAPv1 (RFC 2433 "Failure Packet").
    V1([u8; 8]),
    /// 16 octets (32 hex digits): MS-CHAPv2 (RFC 2759 §6).
    V2([u8; 16]),
}

impl FailureChallenge {
    /// The challenge octets.
    pub fn as_bytes(&self) -> &[u8] {
        match self {
            FailureChallenge::V1(c) => c,
            FailureChallenge::V2(c) => c,
        }
    }
}

/// MS-CHAP error code for an authentication failure ("E=691").
pub const ERROR_AUTHENTICATION_FAILURE: u32 = 691;
/// MS-CHAP error code: restricted logon hours (RFC 2759 §6).
pub const ERROR_RESTRICTED_LOGON_HOURS: u32 = 646;
/// MS-CHAP error code: account disabled.
pub const ERROR_ACCT_DISABLED: u32 = 647;
/// MS-CHAP error code: password expired.
pub const ERROR_PASSWD_EXPIRED: u32 = 648;
/// MS-CHAP error code: no dial-in permission.
pub const ERROR_NO_DIALIN_PERMISSION: u32 = 649;

/// The MS-CHAP Failure message (RFC 2433 "Failure Packet", RFC 2759 §6):
/// `E=eeeeeeeeee R=r C=cccc… V=vvvvvvvvvv M=<msg>`.
///
/// Parsing is tolerant: attributes in any order; only `E=` is required;
/// a missing `R=` means no retry. Unknown attributes are skipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MsChapFailure<'a> {
    /// Error code (691 authentication failure, 646–649, 709).
    pub error: u32,
    /// Retry allowed (`R=1`).
    pub retry: bool,
    /// New challenge for the retry (`C=`).
    pub challenge: Option<FailureChallenge>,
    /// Version (`V=`; 3 for MS-CHAPv2, RFC 2759 §6).
    pub version: Option<u32>,
    /// Message text (`M=`).
    pub message: Option<&'a [u8]>,
}

impl<'a> MsChapFailure<'a> {
    /// Parses a CHAP Failure message.
    pub fn parse(text: &'a [u8]) -> Result<Self> {
        let mut error = None;
        let mut retry = false;
        let mut challenge = None;
        let mut version = None;
        let mut message = None;
        for (key, value) in (Attributes { rest: text }) {
            match key {
                b'E' => error = Some(parse_decimal(value, b'E')?),
                b'R' => {
                    retry = match value {
                        b"0" => false,
                        b"1" => true,
                        _ => return Err(Error::BadAttribute { attribute: b'R' }),
                    }
                }
                b'C' => {
                    challenge = Some(match value.len() {
                        16 => FailureChallenge::V1(decode_hex::<8>(value, b'C')?),
                        32 => FailureChallenge::V2(decode_hex::<16>(value, b'C')?),
                        _ => return Err(Error::BadAttribute { attribute: b'C' }),
                    })
                }
                b'V' => version = Some(parse_decimal(value, b'V')?),
                b'M' => message = Some(value),
                _ => {}
            }
        }
        Ok(MsChapFailure {
            error: error.ok_or(Error::MissingAttribute { attribute: b'E' })?,
            retry,
            challenge,
            version,
            message,
        })
    }

    /// Length of the emitted message.
    pub fn buffer_len(&self) -> usize {
        let mut len = 2 + decimal_len(self.error) + 4;
        if let Some(challenge) = &self.challenge {
            len += 3 + 2 * challenge.as_bytes().len();
        }
        if let Some(version) = self.version {
            len += 3 + decimal_len(version);
        }
        if let Some(message) = self.message {
            len += 3 + message.len();
        }
        len
    }

    /// Writes `E=… R=…[ C=…][ V=…][ M=…]` into `buf`, returning its length.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize> {
        let len = self.buffer_len();
        check_room(len, buf)?;
        let mut w = Writer::new(buf);
        w.put(b"E=");
        put_decimal(&mut w, self.error);
        w.put(if self.retry { b" R=1" } else { b" R=0" });
        if let Some(challenge) = &self.challenge {
            w.put(b" C=");
            put_hex(&mut w, challenge.as_bytes());
        }
        if let Some(version) = self.version {
            w.put(b" V=");
            put_decimal(&mut w, version);
        }
        if let Some(message) = self.message {
            w.put(b" M=");
            w.put(message);
        }
        Ok(len)
    }
}

mod change_password;
pub use change_password::{MsChapV2ChangePassword, MSCHAPV2_CHANGE_PASSWORD_LEN};
mod change_password_v1;
pub use change_password_v1::{
    MsChapV1ChangePassword, MsChapV1ChangePasswordV1, CHANGE_PASSWORD_FLAG_USE_NT,
    MSCHAPV1_CHANGE_PASSWORD_V1_LEN, MSCHAPV1_CHANGE_PASSWORD_V2_LEN,
};

#[cfg(test)]
mod tests;
