//! The control-protocol packet shared by LCP, IPCP and CCP (RFC 1661 §5)
//! and its option TLVs (RFC 1661 §6).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |     Code      |  Identifier   |            Length             |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Data ...
//! +-+-+-+-+
//! ```

use super::Error;

/// Length of the Code/Identifier/Length header.
pub const HEADER_LEN: usize = 4;

/// Control-protocol packet codes (RFC 1661 §5, RFC 1570 §1, RFC 1962 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Code {
    /// 1: Configure-Request.
    ConfigureRequest,
    /// 2: Configure-Ack.
    ConfigureAck,
    /// 3: Configure-Nak.
    ConfigureNak,
    /// 4: Configure-Reject.
    ConfigureReject,
    /// 5: Terminate-Request.
    TerminateRequest,
    /// 6: Terminate-Ack.
    TerminateAck,
    /// 7: Code-Reject.
    CodeReject,
    /// 8: Protocol-Reject (LCP only).
    ProtocolReject,
    /// 9: Echo-Request (LCP only).
    EchoRequest,
    /// 10: Echo-Reply (LCP only).
    EchoReply,
    /// 11: Discard-Request (LCP only).
    DiscardRequest,
    /// 12: Identification (LCP, RFC 1570 §1.1).
    Identification,
    /// 13: Time-Remaining (LCP, RFC 1570 §1.2).
    TimeRemaining,
    /// 14: Reset-Request (CCP, RFC 1962 §2).
    ResetRequest,
    /// 15: Reset-Ack (CCP, RFC 1962 §2).
    ResetAck,
    /// Any other code.
    Unknown(u8),
}

impl From<u8> for Code {
    fn from(value: u8) -> Self {
        match value {
            1 => Code::ConfigureRequest,
            2 => Code::ConfigureAck,
            3 => Code::ConfigureNak,
            4 => Code::ConfigureReject,
            5 => Code::TerminateRequest,
            6 => Code::TerminateAck,
            7 => Code::CodeReject,
            8 => Code::ProtocolReject,
            9 => Code::EchoRequest,
            10 => Code::EchoReply,
            11 => Code::DiscardRequest,
            12 => Code::Identification,
            13 => Code::TimeRemaining,
            14 => Code::ResetRequest,
            15 => Code::ResetAck,
            other => Code::Unknown(other),
        }
    }
}

impl From<Code> for u8 {
    fn from(code: Code) -> u8 {
        match code {
            Code::ConfigureRequest => 1,
            Code::ConfigureAck => 2,
            Code::ConfigureNak => 3,
            Code::ConfigureReject => 4,
            Code::TerminateRequest => 5,
            Code::TerminateAck => 6,
            Code::CodeReject => 7,
            Code::ProtocolReject => 8,
            Code::EchoRequest => 9,
            Code::EchoReply => 10,
            Code::DiscardRequest => 11,
            Code::Identification => 12,
            Code::TimeRemaining => 13,
            Code::ResetRequest => 14,
            Code::ResetAck => 15,
            Code::Unknown(other) => other,
        }
    }
}

/// A read (or read/write) view of a control-protocol packet.
///
/// [`Packet::new_checked`] guarantees the header is present and the Length
/// field lies between 4 and the buffer's length, so every getter is
/// infallible. Octets past Length are padding and are ignored (RFC 1661 §5:
/// "Octets outside the range of the Length field are treated as padding").
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it. Getters may then return short
    /// slices but never panic; prefer [`Packet::new_checked`].
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking the header and the Length field.
    pub fn new_checked(buffer: T) -> Result<Self, Error> {
        let packet = Packet { buffer };
        packet.check_len()?;
        Ok(packet)
    }

    /// Checks that the header is present and Length is within the buffer.
    pub fn check_len(&self) -> Result<(), Error> {
        let bytes = self.buffer.as_ref();
        if bytes.len() < HEADER_LEN {
            return Err(Error::Truncated {
                needed: HEADER_LEN,
                available: bytes.len(),
            });
        }
        let length = self.length();
        if usize::from(length) < HEADER_LEN || usize::from(length) > bytes.len() {
            return Err(Error::BadPacketLength {
                length,
                available: bytes.len(),
            });
        }
        Ok(())
    }

    /// Consumes the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn octet(&self, index: usize) -> u8 {
        self.buffer.as_ref().get(index).copied().unwrap_or(0)
    }

    /// The Code octet, raw.
    pub fn code_octet(&self) -> u8 {
        self.octet(0)
    }

    /// The Code field.
    pub fn code(&self) -> Code {
        Code::from(self.code_octet())
    }

    /// The Identifier field.
    pub fn identifier(&self) -> u8 {
        self.octet(1)
    }

    /// The Length field (header included).
    pub fn length(&self) -> u16 {
        u16::from_be_bytes([self.octet(2), self.octet(3)])
    }

    /// The Data field: octets 4..Length (padding beyond Length excluded).
    pub fn data(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        let end = usize::from(self.length()).min(bytes.len());
        bytes.get(HEADER_LEN..end).unwrap_or(&[])
    }

    /// The whole packet up to Length (header included, padding excluded).
    pub fn as_bytes(&self) -> &[u8] {
        let bytes = self.buffer.as_ref();
        let end = usize::from(self.length()).min(bytes.len());
        bytes.get(..end).unwrap_or(&[])
    }

    /// The options of a Configure-Request/Ack/Nak/Reject (the Data field
    /// read as TLVs).
    pub fn options(&self) -> OptionIter<'_> {
        OptionIter::new(self.data())
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Sets the Code field.
    pub fn set_code(&mut self, code: Code) {
        if let Some(b) = self.buffer.as_mut().get_mut(0) {
            *b = code.into();
        }
    }

    /// Sets the Identifier field.
    pub fn set_identifier(&mut self, identifier: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(1) {
            *b = identifier;
        }
    }

    /// Sets the Length field.
    pub fn set_length(&mut self, length: u16) {
        if let Some(b) = self.buffer.as_mut().get_mut(2..4) {
            b.copy_from_slice(&length.to_be_bytes());
        }
    }

    /// The Data field, writable (octets 4..Length).
    pub fn data_mut(&mut self) -> &mut [u8] {
        let end = usize::from(self.length()).min(self.buffer.as_ref().len());
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..end)
            .unwrap_or(&mut [])
    }
}

/// Writes a whole packet `code, identifier, length, data` into `out` and
/// returns its length.
pub fn emit(code: Code, identifier: u8, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let total = HEADER_LEN + data.len();
    if total > usize::from(u16::MAX) {
        return Err(Error::ValueTooLong {
            length: total,
            max: usize::from(u16::MAX),
        });
    }
    let available = out.len();
    let dst = out.get_mut(..total).ok_or(Error::BufferTooSmall {
        needed: total,
        available,
    })?;
    dst[0] = code.into();
    dst[1] = identifier;
    dst[2..4].copy_from_slice(&(total as u16).to_be_bytes());
    dst[HEADER_LEN..].copy_from_slice(data);
    Ok(total)
}

/// One configuration option, raw: Type, and the value after Type/Length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RawOption<'a> {
    /// The option's Type octet.
    pub kind: u8,
    /// The octets after Type and Length.
    pub data: &'a [u8],
}

impl<'a> RawOption<'a> {
    /// The option's total length on the wire (Type + Length + data).
    pub fn wire_len(&self) -> usize {
        2 + self.data.len()
    }

    /// Writes the option (Type, Length, data) into `out`; returns the
    /// octets written.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        emit_option(self.kind, self.data, out)
    }
}

/// Writes one option `kind, 2 + data.len(), data` into `out`.
pub fn emit_option(kind: u8, data: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let total = 2 + data.len();
    if total > usize::from(u8::MAX) {
        return Err(Error::ValueTooLong {
            length: data.len(),
            max: usize::from(u8::MAX) - 2,
        });
    }
    let available = out.len();
    let dst = out.get_mut(..total).ok_or(Error::BufferTooSmall {
        needed: total,
        available,
    })?;
    dst[0] = kind;
    dst[1] = total as u8;
    dst[2..].copy_from_slice(data);
    Ok(total)
}

/// Iterates over the options in a Configure-* packet's Data field.
///
/// Yields `Err` once on a malformed option (RFC 1661 §6: Length below 2 or
/// past the packet) and then stops; it never panics and never loops.
#[derive(Clone, Debug)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> OptionIter<'a> {
    /// Iterates over the TLVs in `data`.
    pub const fn new(data: &'a [u8]) -> Self {
        OptionIter {
            rest: data,
            failed: false,
        }
    }
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = Result<RawOption<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let rest = self.rest;
        let (kind, length) = match rest {
            [kind, length, ..] => (*kind, *length),
            [kind] => {
                self.failed = true;
                return Some(Err(Error::OptionPastEnd {
                    kind: *kind,
                    length: 0,
                    available: 1,
                }));
            }
            [] => return None,
        };
        if length < 2 {
            self.failed = true;
            return Some(Err(Error::OptionLengthTooSmall { kind, length }));
        }
        let Some(option) = rest.get(..usize::from(length)) else {
            self.failed = true;
            return Some(Err(Error::OptionPastEnd {
                kind,
                length,
                available: rest.len(),
            }));
        };
        self.rest = rest.get(usize::from(length)..).unwrap_or(&[]);
        Some(Ok(RawOption {
            kind,
            data: option.get(2..).unwrap_or(&[]),
        }))
    }
}

/// Checks that `data` is a well-formed sequence of option TLVs.
pub fn validate_options(data: &[u8]) -> Result<(), Error> {
    for option in OptionIter::new(data) {
        option?;
    }
    Ok(())
}

/// Appends options one after another into a caller buffer.
#[derive(Debug)]
pub struct OptionWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
}

impl<'a> OptionWriter<'a> {
    /// Writes options into `buf` from its start.
    pub fn new(buf: &'a mut [u8]) -> Self {
        OptionWriter { buf, len: 0 }
    }

    /// Appends option `kind` with value `data`.
    pub fn push(&mut self, kind: u8, data: &[u8]) -> Result<(), Error> {
        let rest = self.buf.get_mut(self.len..).unwrap_or(&mut []);
        self.len += emit_option(kind, data, rest)?;
        Ok(())
    }

    /// Appends a raw option unchanged.
    pub fn push_raw(&mut self, option: RawOption<'_>) -> Result<(), Error> {
        self.push(option.kind, option.data)
    }

    /// Octets written so far.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether nothing was written.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The options written so far.
    pub fn written(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_header_and_ignores_padding() {
        // Windows 98 CHAP Failure with 4 padding octets past Length (seed).
        let bytes = [4u8, 1, 0, 6, b'h', b'i', 0, 0, 0, 0];
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.code(), Code::ConfigureReject);
        assert_eq!(p.identifier(), 1);
        assert_eq!(p.length(), 6);
        assert_eq!(p.data(), b"hi");
        assert_eq!(p.as_bytes(), &bytes[..6]);
    }

    #[test]
    fn rejects_bad_headers_with_exact_errors() {
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0][..]),
            Err(Error::Truncated {
                needed: 4,
                available: 3
            })
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0, 3][..]),
            Err(Error::BadPacketLength {
                length: 3,
                available: 4
            })
        );
        assert_eq!(
            Packet::new_checked(&[1u8, 2, 0, 9, 1, 2][..]),
            Err(Error::BadPacketLength {
                length: 9,
                available: 6
            })
        );
    }

    #[test]
    fn option_iteration_reports_each_malformation() {
        let ok = [1u8, 4, 5, 0xdc, 7, 2];
        let v: Result<heapless::Vec<RawOption<'_>, 4>, Error> = OptionIter::new(&ok).collect();
        let v = v.unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[0].kind, 1);
        assert_eq!(v[0].data, &[5, 0xdc]);
        assert_eq!(v[1].kind, 7);
        assert!(v[1].data.is_empty());

        let zero = [7u8, 2, 3, 0, 8, 2];
        let mut it = OptionIter::new(&zero);
        assert!(it.next().unwrap().is_ok());
        assert_eq!(
            it.next(),
            Some(Err(Error::OptionLengthTooSmall { kind: 3, length: 0 }))
        );
        assert_eq!(it.next(), None, "iteration stops after an error");

        assert_eq!(
            validate_options(&[5u8, 1]),
            Err(Error::OptionLengthTooSmall { kind: 5, length: 1 })
        );
        assert_eq!(
            validate_options(&[5u8, 6, 0, 0]),
            Err(Error::OptionPastEnd {
                kind: 5,
                length: 6,
                available: 4
            })
        );
        assert_eq!(
            validate_options(&[7u8, 2, 8]),
            Err(Error::OptionPastEnd {
                kind: 8,
                length: 0,
                available: 1
            })
        );
        assert_eq!(validate_options(&[]), Ok(()));
    }

    #[test]
    fn emitters_round_trip_and_respect_buffers() {
        let mut buf = [0u8; 16];
        let mut w = OptionWriter::new(&mut buf);
        w.push(5, &[1, 2, 3, 4]).unwrap();
        w.push(7, &[]).unwrap();
        assert_eq!(w.written(), &[5, 6, 1, 2, 3, 4, 7, 2]);
        let mut small = [0u8; 3];
        assert_eq!(
            emit_option(5, &[1, 2], &mut small),
            Err(Error::BufferTooSmall {
                needed: 4,
                available: 3
            })
        );
        assert_eq!(
            emit_option(5, &[0u8; 254], &mut [0u8; 300]),
            Err(Error::ValueTooLong {
                length: 254,
                max: 253
            })
        );
        let mut out = [0u8; 12];
        let n = emit(Code::ConfigureAck, 9, &[7, 2], &mut out).unwrap();
        assert_eq!(&out[..n], &[2, 9, 0, 6, 7, 2]);
        assert_eq!(
            emit(Code::ConfigureAck, 9, &[0; 9], &mut out),
            Err(Error::BufferTooSmall {
                needed: 13,
                available: 12
            })
        );
    }

    #[test]
    fn code_round_trips_every_octet() {
        for b in 0..=255u8 {
            assert_eq!(u8::from(Code::from(b)), b);
        }
    }
}
