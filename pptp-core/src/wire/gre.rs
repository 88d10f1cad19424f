//! The enhanced GRE header of RFC 2637 §4.1 (GRE version 1).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |C|R|K|S|s|Recur|A| Flags | Ver |         Protocol Type         |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |    Key (HW) Payload Length    |       Key (LW) Call ID        |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |                  Sequence Number (Optional)                   |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |               Acknowledgment Number (Optional)                |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//!
//! RFC 2637 fixes every bit except S and A: C (checksum), R (routing),
//! s (strict source route), Recur (recursion control) and Flags are 0, K
//! (key present) is 1, Ver is 1 and Protocol Type is 0x880B (PPP). Any
//! other combination is rejected by [`GrePacket::new_checked`] with a
//! [`GreError`] naming the bad field, so a [`GrePacket`] that exists is
//! always a well-formed PPTP GRE packet and its getters cannot fail.
//!
//! **Payload length governs.** The Key's high half carries the payload
//! length "not including the GRE header" (RFC 2637 §4.1). A datagram
//! longer than header + payload length (padding added below GRE by some
//! IP stacks or middleboxes) is accepted and the excess is ignored:
//! [`GrePacket::payload`] returns exactly `payload_length` octets and
//! [`GrePacket::trailing_len`] reports the padding. A datagram *shorter*
//! than header + payload length is truncated and rejected
//! ([`GreError::PayloadTruncated`]): delivering a partial PPP frame would
//! hand corrupt data to the decompressor/decryptor above.
//!
//! **Sequence and payload.** RFC 2637 §4.1 says S is "set to 1 if a
//! payload (data) packet is present" and 0 for an acknowledgment-only
//! packet, so a packet with S = 0 and a non-zero payload length is
//! rejected ([`GreError::PayloadWithoutSequence`]). S = 1 with payload
//! length 0 is accepted (it is unambiguous, and it still consumes a
//! sequence number the peer's window accounting relies on). S = 0 and
//! A = 0 (flags `0x2001`, 8 octets) is a legal header that carries
//! nothing; it parses and the data path ignores it.

use core::fmt;

/// GRE Protocol Type for PPP, the only one PPTP uses (RFC 2637 §4.1).
pub const PROTOCOL_PPP: u16 = 0x880B;
/// GRE version of the enhanced header (RFC 2637 §4.1).
pub const VERSION_ENHANCED: u8 = 1;
/// Length of the header without sequence and acknowledgment numbers.
pub const HEADER_LEN_MIN: usize = 8;
/// Length of the header with both sequence and acknowledgment numbers.
pub const HEADER_LEN_MAX: usize = 16;
/// Largest payload the 16-bit payload length can describe.
pub const PAYLOAD_LEN_MAX: usize = u16::MAX as usize;

/// Bits of the first octet.
mod bits0 {
    pub const CHECKSUM: u8 = 0x80;
    pub const ROUTING: u8 = 0x40;
    pub const KEY: u8 = 0x20;
    pub const SEQUENCE: u8 = 0x10;
    pub const STRICT_SOURCE_ROUTE: u8 = 0x08;
    pub const RECURSION_MASK: u8 = 0x07;
}

/// Bits of the second octet.
mod bits1 {
    pub const ACK: u8 = 0x80;
    pub const FLAGS_MASK: u8 = 0x78;
    pub const VERSION_MASK: u8 = 0x07;
}

mod field {
    use core::ops::Range;
    pub const FLAGS0: usize = 0;
    pub const FLAGS1: usize = 1;
    pub const PROTOCOL: Range<usize> = 2..4;
    pub const PAYLOAD_LEN: Range<usize> = 4..6;
    pub const CALL_ID: Range<usize> = 6..8;
    pub const OPTIONAL: usize = 8;
}

/// Why a byte string is not a valid PPTP enhanced GRE packet, or why a
/// header cannot be emitted.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum GreError {
    /// The buffer ends inside the header: `needed` octets of header (8
    /// fixed, plus 4 for each of S and A), `available` present.
    Truncated {
        /// Header length the flags call for (or 8 before they are known).
        needed: usize,
        /// Octets in the buffer.
        available: usize,
    },
    /// C (checksum present) is set; RFC 2637 §4.1 requires 0.
    ChecksumPresent,
    /// R (routing present) is set; RFC 2637 §4.1 requires 0.
    RoutingPresent,
    /// K (key present) is clear; RFC 2637 §4.1 requires 1 because the key
    /// carries payload length and call ID.
    KeyMissing,
    /// s (strict source route) is set; RFC 2637 §4.1 requires 0.
    StrictSourceRoute,
    /// Recur (recursion control) is not 0.
    RecursionControl {
        /// The 3-bit value found.
        value: u8,
    },
    /// The reserved Flags bits are not 0.
    ReservedFlags {
        /// The 4-bit value found.
        value: u8,
    },
    /// Ver is not 1 (version 0 is plain RFC 1701/2784 GRE, not PPTP).
    Version {
        /// The 3-bit value found.
        found: u8,
    },
    /// Protocol Type is not 0x880B (PPP).
    Protocol {
        /// The value found.
        found: u16,
    },
    /// Payload length points past the end of the datagram.
    PayloadTruncated {
        /// Payload length from the header.
        payload_len: u16,
        /// Octets present after the header.
        available: usize,
    },
    /// S is clear (acknowledgment-only or empty packet) but the payload
    /// length is not 0 (RFC 2637 §4.1: S is set whenever a payload is
    /// present).
    PayloadWithoutSequence {
        /// Payload length from the header.
        payload_len: u16,
    },
    /// Emit: a payload longer than the 16-bit length field allows.
    PayloadTooLong {
        /// Length asked for.
        len: usize,
    },
    /// Emit: an acknowledgment-only/empty header ([`GreRepr::sequence`]
    /// `None`) with a non-zero payload length.
    PayloadWithoutSequenceNumber,
    /// Emit: the output buffer is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}

impl fmt::Display for GreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            GreError::Truncated { needed, available } => write!(
                f,
                "GRE header truncated: needs {needed} octets, {available} present"
            ),
            GreError::ChecksumPresent => f.write_str("GRE checksum bit (C) set"),
            GreError::RoutingPresent => f.write_str("GRE routing bit (R) set"),
            GreError::KeyMissing => f.write_str("GRE key bit (K) clear"),
            GreError::StrictSourceRoute => f.write_str("GRE strict source route bit (s) set"),
            GreError::RecursionControl { value } => {
                write!(f, "GRE recursion control {value} (must be 0)")
            }
            GreError::ReservedFlags { value } => {
                write!(f, "GRE reserved flags {value:#x} (must be 0)")
            }
            GreError::Version { found } => write!(f, "GRE version {found} (must be 1)"),
            GreError::Protocol { found } => {
                write!(f, "GRE protocol type {found:#06x} (must be 0x880b)")
            }
            GreError::PayloadTruncated {
                payload_len,
                available,
            } => write!(
                f,
                "GRE payload length {payload_len} but only {available} octets follow the header"
            ),
            GreError::PayloadWithoutSequence { payload_len } => write!(
                f,
                "GRE payload length {payload_len} without a sequence number (S clear)"
            ),
            GreError::PayloadTooLong { len } => {
                write!(f, "GRE payload of {len} octets exceeds 65535")
            }
            GreError::PayloadWithoutSequenceNumber => {
                f.write_str("GRE header without sequence number cannot carry a payload")
            }
            GreError::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small for GRE: needs {needed} octets, {available} available"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for GreError {}

/// Header length for the given optional fields.
pub const fn header_len(has_sequence: bool, has_ack: bool) -> usize {
    HEADER_LEN_MIN + if has_sequence { 4 } else { 0 } + if has_ack { 4 } else { 0 }
}

/// A zero-copy view of a PPTP enhanced GRE packet.
///
/// Construct with [`GrePacket::new_checked`] (validates every fixed bit
/// and every length, see the [module docs](self)) or
/// [`GrePacket::new_unchecked`] when building a packet in a buffer that a
/// [`GreRepr::emit`] is about to fill.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct GrePacket<T: AsRef<[u8]>> {
    buffer: T,
}

fn be16(bytes: &[u8], at: core::ops::Range<usize>) -> u16 {
    match bytes.get(at) {
        Some(&[a, b]) => u16::from_be_bytes([a, b]),
        _ => 0,
    }
}

fn be32(bytes: &[u8], at: usize) -> u32 {
    match bytes.get(at..at + 4) {
        Some(&[a, b, c, d]) => u32::from_be_bytes([a, b, c, d]),
        _ => 0,
    }
}

impl<T: AsRef<[u8]>> GrePacket<T> {
    /// Wrap a buffer without checking it. Getters on an unchecked buffer
    /// never panic (missing octets read as 0), but their values mean
    /// nothing until [`check`](Self::check) has passed.
    pub const fn new_unchecked(buffer: T) -> Self {
        GrePacket { buffer }
    }

    /// Wrap a buffer after [`check`](Self::check)ing it.
    pub fn new_checked(buffer: T) -> Result<Self, GreError> {
        let packet = Self::new_unchecked(buffer);
        packet.check()?;
        Ok(packet)
    }

    /// Validate the header against RFC 2637 §4.1, in wire order: the 8
    /// fixed octets must be present, then each fixed bit is checked (C, R,
    /// K, s, Recur, Flags, Ver, Protocol), then the optional fields must be
    /// present, then the payload length must fit, then a payload requires
    /// S.
    pub fn check(&self) -> Result<(), GreError> {
        let bytes = self.buffer.as_ref();
        if bytes.len() < HEADER_LEN_MIN {
            return Err(GreError::Truncated {
                needed: HEADER_LEN_MIN,
                available: bytes.len(),
            });
        }
        let b0 = bytes.get(field::FLAGS0).copied().unwrap_or(0);
        let b1 = bytes.get(field::FLAGS1).copied().unwrap_or(0);
        if b0 & bits0::CHECKSUM != 0 {
            return Err(GreError::ChecksumPresent);
        }
        if b0 & bits0::ROUTING != 0 {
            return Err(GreError::RoutingPresent);
        }
        if b0 & bits0::KEY == 0 {
            return Err(GreError::KeyMissing);
        }
        if b0 & bits0::STRICT_SOURCE_ROUTE != 0 {
            return Err(GreError::StrictSourceRoute);
        }
        if b0 & bits0::RECURSION_MASK != 0 {
            return Err(GreError::RecursionControl {
                value: b0 & bits0::RECURSION_MASK,
            });
        }
        if b1 & bits1::FLAGS_MASK != 0 {
            return Err(GreError::ReservedFlags {
                value: (b1 & bits1::FLAGS_MASK) >> 3,
            });
        }
        if b1 & bits1::VERSION_MASK != VERSION_ENHANCED {
            return Err(GreError::Version {
                found: b1 & bits1::VERSION_MASK,
            });
        }
        let protocol = be16(bytes, field::PROTOCOL);
        if protocol != PROTOCOL_PPP {
            return Err(GreError::Protocol { found: protocol });
        }
        let header_len = self.header_len();
        if bytes.len() < header_len {
            return Err(GreError::Truncated {
                needed: header_len,
                available: bytes.len(),
            });
        }
        let payload_len = self.payload_len();
        let available = bytes.len() - header_len;
        if usize::from(payload_len) > available {
            return Err(GreError::PayloadTruncated {
                payload_len,
                available,
            });
        }
        if !self.has_sequence() && payload_len != 0 {
            return Err(GreError::PayloadWithoutSequence { payload_len });
        }
        Ok(())
    }

    /// Consume the view, returning the buffer.
    pub fn into_inner(self) -> T {
        self.buffer
    }

    fn b0(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::FLAGS0)
            .copied()
            .unwrap_or(0)
    }

    fn b1(&self) -> u8 {
        self.buffer
            .as_ref()
            .get(field::FLAGS1)
            .copied()
            .unwrap_or(0)
    }

    /// The 16-bit flags-and-version word (e.g. `0x3081`).
    pub fn flags_word(&self) -> u16 {
        u16::from_be_bytes([self.b0(), self.b1()])
    }

    /// S: a sequence number is present (the packet carries a payload).
    pub fn has_sequence(&self) -> bool {
        self.b0() & bits0::SEQUENCE != 0
    }

    /// A: an acknowledgment number is present.
    pub fn has_ack(&self) -> bool {
        self.b1() & bits1::ACK != 0
    }

    /// The 3-bit version (1 in a checked packet).
    pub fn version(&self) -> u8 {
        self.b1() & bits1::VERSION_MASK
    }

    /// Protocol Type (0x880B in a checked packet).
    pub fn protocol(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PROTOCOL)
    }

    /// Payload length: octets of PPP frame after the header.
    pub fn payload_len(&self) -> u16 {
        be16(self.buffer.as_ref(), field::PAYLOAD_LEN)
    }

    /// Call ID: the *receiver's* call ID for this session (RFC 2637 §4.1:
    /// "the Peer's Call ID").
    pub fn call_id(&self) -> u16 {
        be16(self.buffer.as_ref(), field::CALL_ID)
    }

    /// Sequence number, if S is set.
    pub fn sequence(&self) -> Option<u32> {
        self.has_sequence()
            .then(|| be32(self.buffer.as_ref(), field::OPTIONAL))
    }

    /// Acknowledgment number, if A is set (after the sequence number when
    /// both are present).
    pub fn ack(&self) -> Option<u32> {
        let at = field::OPTIONAL + if self.has_sequence() { 4 } else { 0 };
        self.has_ack().then(|| be32(self.buffer.as_ref(), at))
    }

    /// Header length implied by S and A: 8, 12 or 16.
    pub fn header_len(&self) -> usize {
        header_len(self.has_sequence(), self.has_ack())
    }

    /// The payload: exactly `payload_len` octets after the header (empty
    /// if the buffer is shorter, which a checked packet never is).
    pub fn payload(&self) -> &[u8] {
        self.buffer
            .as_ref()
            .get(self.payload_range())
            .unwrap_or(&[])
    }

    /// Where the payload sits in the buffer.
    pub fn payload_range(&self) -> core::ops::Range<usize> {
        let start = self.header_len();
        start..start + usize::from(self.payload_len())
    }

    /// Octets after the payload (padding below GRE), ignored.
    pub fn trailing_len(&self) -> usize {
        self.buffer
            .as_ref()
            .len()
            .saturating_sub(self.payload_range().end)
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> GrePacket<T> {
    fn set_b0(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::FLAGS0) {
            *b = v;
        }
    }

    fn set_b1(&mut self, v: u8) {
        if let Some(b) = self.buffer.as_mut().get_mut(field::FLAGS1) {
            *b = v;
        }
    }

    fn set_be16(&mut self, at: core::ops::Range<usize>, v: u16) {
        if let Some(dst) = self.buffer.as_mut().get_mut(at) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }

    fn set_be32(&mut self, at: usize, v: u32) {
        if let Some(dst) = self.buffer.as_mut().get_mut(at..at + 4) {
            dst.copy_from_slice(&v.to_be_bytes());
        }
    }

    /// Write the fixed bits of RFC 2637 §4.1 (K = 1, version 1, protocol
    /// 0x880B, everything else 0) together with S and A.
    pub fn set_fixed_fields(&mut self, has_sequence: bool, has_ack: bool) {
        let b0 = bits0::KEY | if has_sequence { bits0::SEQUENCE } else { 0 };
        let b1 = VERSION_ENHANCED | if has_ack { bits1::ACK } else { 0 };
        self.set_b0(b0);
        self.set_b1(b1);
        self.set_be16(field::PROTOCOL, PROTOCOL_PPP);
    }

    /// Set the payload length field.
    pub fn set_payload_len(&mut self, len: u16) {
        self.set_be16(field::PAYLOAD_LEN, len);
    }

    /// Set the call ID field.
    pub fn set_call_id(&mut self, call_id: u16) {
        self.set_be16(field::CALL_ID, call_id);
    }

    /// Set the sequence number (S must already be set, see
    /// [`set_fixed_fields`](Self::set_fixed_fields)).
    pub fn set_sequence(&mut self, seq: u32) {
        self.set_be32(field::OPTIONAL, seq);
    }

    /// Set the acknowledgment number (A, and S if present, must already
    /// be set).
    pub fn set_ack(&mut self, ack: u32) {
        let at = field::OPTIONAL + if self.has_sequence() { 4 } else { 0 };
        self.set_be32(at, ack);
    }

    /// The payload, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let range = self.payload_range();
        self.buffer.as_mut().get_mut(range).unwrap_or(&mut [])
    }
}

/// The meaning of a PPTP enhanced GRE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct GreRepr {
    /// Call ID of the receiving end (the peer's call ID when sending).
    pub call_id: u16,
    /// Payload length in octets (0 for an acknowledgment-only packet).
    pub payload_len: u16,
    /// Sequence number: present on every packet carrying a payload.
    pub sequence: Option<u32>,
    /// Acknowledgment number: the highest sequence number received from
    /// the peer, if one is being acknowledged.
    pub ack: Option<u32>,
}

impl GreRepr {
    /// Read a checked packet.
    pub fn parse<T: AsRef<[u8]>>(packet: &GrePacket<T>) -> Result<GreRepr, GreError> {
        packet.check()?;
        Ok(GreRepr {
            call_id: packet.call_id(),
            payload_len: packet.payload_len(),
            sequence: packet.sequence(),
            ack: packet.ack(),
        })
    }

    /// A data packet header carrying `payload_len` octets.
    pub const fn data(call_id: u16, payload_len: u16, sequence: u32, ack: Option<u32>) -> Self {
        GreRepr {
            call_id,
            payload_len,
            sequence: Some(sequence),
            ack,
        }
    }

    /// An acknowledgment-only header (flags `0x2081`, 12 octets).
    pub const fn ack_only(call_id: u16, ack: u32) -> Self {
        GreRepr {
            call_id,
            payload_len: 0,
            sequence: None,
            ack: Some(ack),
        }
    }

    /// Length of the header this repr emits: 8, 12 or 16.
    pub const fn header_len(&self) -> usize {
        header_len(self.sequence.is_some(), self.ack.is_some())
    }

    /// Header plus payload.
    pub const fn total_len(&self) -> usize {
        self.header_len() + self.payload_len as usize
    }

    /// Write the header into the start of `buf` and return its length.
    /// The payload (if any) is the caller's: it belongs right after the
    /// header. Refuses a payload without a sequence number
    /// (RFC 2637 §4.1) and a buffer shorter than the header.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, GreError> {
        if self.sequence.is_none() && self.payload_len != 0 {
            return Err(GreError::PayloadWithoutSequenceNumber);
        }
        let len = self.header_len();
        let Some(header) = buf.get_mut(..len) else {
            return Err(GreError::BufferTooSmall {
                needed: len,
                available: buf.len(),
            });
        };
        let mut packet = GrePacket::new_unchecked(header);
        packet.set_fixed_fields(self.sequence.is_some(), self.ack.is_some());
        packet.set_payload_len(self.payload_len);
        packet.set_call_id(self.call_id);
        if let Some(seq) = self.sequence {
            packet.set_sequence(seq);
        }
        if let Some(ack) = self.ack {
            packet.set_ack(ack);
        }
        Ok(len)
    }

    /// Write header and `payload` into `buf`, returning the packet length.
    pub fn emit_with_payload(&self, payload: &[u8], buf: &mut [u8]) -> Result<usize, GreError> {
        if payload.len() > PAYLOAD_LEN_MAX {
            return Err(GreError::PayloadTooLong { len: payload.len() });
        }
        let repr = GreRepr {
            payload_len: payload.len() as u16,
            ..*self
        };
        let total = repr.total_len();
        if buf.len() < total {
            return Err(GreError::BufferTooSmall {
                needed: total,
                available: buf.len(),
            });
        }
        let header_len = repr.emit(buf)?;
        if let Some(dst) = buf.get_mut(header_len..total) {
            dst.copy_from_slice(payload);
        }
        Ok(total)
    }
}

impl fmt::Display for GreRepr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "GRE call {} len {}", self.call_id, self.payload_len)?;
        if let Some(seq) = self.sequence {
            write!(f, " seq {seq}")?;
        }
        if let Some(ack) = self.ack {
            write!(f, " ack {ack}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::string::{String, ToString};
    use std::vec;
    use std::vec::Vec;

    const GRE_VECTORS: &str = include_str!("../../tests/data/gre.toml");
    const SEED_TRACE: &str = include_str!("../../tests/data/seed_trace1.toml");

    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    fn table_array<'a>(doc: &'a toml::Table, key: &str) -> Vec<&'a toml::Table> {
        doc[key]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_table().unwrap())
            .collect()
    }

    fn int(t: &toml::Table, key: &str) -> i64 {
        t[key]
            .as_integer()
            .unwrap_or_else(|| panic!("{key} missing"))
    }

    fn opt_int(t: &toml::Table, key: &str) -> Option<u32> {
        t.get(key).map(|v| v.as_integer().unwrap() as u32)
    }

    /// Check a header (complete or prefix) against the vector's fields;
    /// returns the parsed repr.
    fn check_header_fields(v: &toml::Table, bytes: &[u8]) -> GreRepr {
        let p = GrePacket::new_unchecked(bytes);
        let flags = u16::from_str_radix(v["flags"].as_str().unwrap(), 16).unwrap();
        assert_eq!(p.flags_word(), flags);
        assert_eq!(p.has_sequence(), v["S"].as_bool().unwrap());
        assert_eq!(p.has_ack(), v["A"].as_bool().unwrap());
        assert!(v["K"].as_bool().unwrap());
        assert_eq!(i64::from(p.version()), int(v, "version"));
        let protocol = u16::from_str_radix(v["protocol"].as_str().unwrap(), 16).unwrap();
        assert_eq!(p.protocol(), protocol);
        assert_eq!(i64::from(p.payload_len()), int(v, "payload_length"));
        assert_eq!(i64::from(p.call_id()), int(v, "call_id"));
        assert_eq!(p.sequence(), opt_int(v, "seq"));
        assert_eq!(p.ack(), opt_int(v, "ack"));
        assert_eq!(p.header_len() as i64, int(v, "header_length"));
        GreRepr {
            call_id: p.call_id(),
            payload_len: p.payload_len(),
            sequence: p.sequence(),
            ack: p.ack(),
        }
    }

    #[test]
    fn every_gre_vector_parses_and_round_trips() {
        let doc: toml::Table = GRE_VECTORS.parse().unwrap();
        let mut complete = 0;
        let mut prefixes = 0;
        for v in table_array(&doc, "vector") {
            if v["kind"].as_str() != Some("gre") {
                continue;
            }
            let id = v["id"].as_str().unwrap();
            let bytes = unhex(v["hex"].as_str().unwrap());
            let repr = check_header_fields(v, &bytes);
            let header_len = repr.header_len();
            if v["complete"].as_bool().unwrap() {
                complete += 1;
                let p = GrePacket::new_checked(&bytes[..]).unwrap_or_else(|e| panic!("{id}: {e}"));
                assert_eq!(GreRepr::parse(&p).unwrap(), repr, "{id}");
                assert_eq!(p.payload(), &bytes[header_len..], "{id}");
                assert_eq!(p.trailing_len(), 0);
                if let Some(total) = v.get("total_length") {
                    assert_eq!(total.as_integer().unwrap() as usize, bytes.len());
                }
                let mut out = vec![0u8; bytes.len()];
                let n = repr
                    .emit_with_payload(&bytes[header_len..], &mut out)
                    .unwrap();
                assert_eq!(&out[..n], &bytes[..], "{id}: emit(parse(x)) != x");
            } else {
                prefixes += 1;
                // A prefix is a truncated datagram: the header is whole, the
                // payload is cut, and the parser says exactly that.
                let total = int(v, "total_length") as usize;
                assert_eq!(total, repr.total_len(), "{id}");
                assert_eq!(
                    GrePacket::new_checked(&bytes[..]),
                    Err(GreError::PayloadTruncated {
                        payload_len: repr.payload_len,
                        available: bytes.len() - header_len,
                    }),
                    "{id}"
                );
                // The header re-emits to the same octets.
                let mut header = [0u8; HEADER_LEN_MAX];
                let n = repr.emit(&mut header).unwrap();
                assert_eq!(&header[..n], &bytes[..n], "{id}");
                // Completed to its real length, the prefix parses, with the
                // observed octets at the start of the payload.
                let mut whole = bytes.clone();
                whole.resize(total, 0);
                let p = GrePacket::new_checked(&whole[..]).unwrap();
                assert_eq!(GreRepr::parse(&p).unwrap(), repr);
                assert_eq!(&p.payload()[..bytes.len() - n], &bytes[n..]);
            }
        }
        assert_eq!((complete, prefixes), (8, 10), "vector file changed");
    }

    #[test]
    fn length_relations_of_received_packets_match_header_rules() {
        let doc: toml::Table = GRE_VECTORS.parse().unwrap();
        let mut seen = 0;
        for v in table_array(&doc, "vector") {
            if v["kind"].as_str() != Some("gre_length_relation") {
                continue;
            }
            seen += 1;
            let ack = opt_int(v, "ack");
            let repr = GreRepr {
                call_id: 0,
                payload_len: int(v, "gre_payload_length") as u16,
                sequence: Some(int(v, "seq") as u32),
                ack,
            };
            assert_eq!(repr.header_len() as i64, int(v, "gre_header_length"));
            assert_eq!(repr.total_len() as i64, int(v, "total_length"));
            // Build the datagram the client sent and parse it back.
            let payload = vec![0x5a; usize::from(repr.payload_len)];
            let mut buf = vec![0u8; repr.total_len()];
            repr.emit_with_payload(&payload, &mut buf).unwrap();
            let p = GrePacket::new_checked(&buf[..]).unwrap();
            assert_eq!(GreRepr::parse(&p).unwrap(), repr);
        }
        assert_eq!(seen, 28);
    }

    #[test]
    fn seed_trace_gre_packets_match() {
        let doc: toml::Table = SEED_TRACE.parse().unwrap();
        let mut seen = 0;
        for ev in table_array(&doc, "event") {
            if ev["kind"].as_str() != Some("gre_packet") {
                continue;
            }
            seen += 1;
            let bytes = unhex(ev["hex"].as_str().unwrap());
            let total = int(ev, "total_len") as usize;
            let p = GrePacket::new_unchecked(&bytes[..]);
            assert_eq!(p.sequence(), opt_int(ev, "seq"));
            assert_eq!(p.ack(), opt_int(ev, "ack"));
            assert_eq!(p.header_len() + usize::from(p.payload_len()), total);
            let checked = GrePacket::new_checked(&bytes[..]);
            if ev["complete"].as_bool().unwrap() {
                assert_eq!(bytes.len(), total);
                checked.unwrap();
            } else {
                assert_eq!(
                    checked,
                    Err(GreError::PayloadTruncated {
                        payload_len: p.payload_len(),
                        available: bytes.len() - p.header_len(),
                    })
                );
            }
        }
        assert_eq!(seen, 14);
    }

    fn complete_vectors() -> Vec<Vec<u8>> {
        let doc: toml::Table = GRE_VECTORS.parse().unwrap();
        table_array(&doc, "vector")
            .into_iter()
            .filter(|v| v["kind"].as_str() == Some("gre") && v["complete"].as_bool() == Some(true))
            .map(|v| unhex(v["hex"].as_str().unwrap()))
            .collect()
    }

    #[test]
    fn every_truncation_is_rejected_with_the_right_error() {
        for bytes in complete_vectors() {
            let full = GrePacket::new_checked(&bytes[..]).unwrap();
            let header_len = full.header_len();
            for len in 0..bytes.len() {
                let expected = if len < HEADER_LEN_MIN {
                    GreError::Truncated {
                        needed: HEADER_LEN_MIN,
                        available: len,
                    }
                } else if len < header_len {
                    GreError::Truncated {
                        needed: header_len,
                        available: len,
                    }
                } else {
                    GreError::PayloadTruncated {
                        payload_len: full.payload_len(),
                        available: len - header_len,
                    }
                };
                assert_eq!(GrePacket::new_checked(&bytes[..len]), Err(expected));
            }
        }
    }

    #[test]
    fn every_flag_bit_flip_is_judged() {
        // 0x3081 vector: K S A ver1, payload 23, 39 octets.
        let base = complete_vectors()
            .into_iter()
            .find(|b| b[..2] == [0x30, 0x81])
            .unwrap();
        for bit in 0..16u16 {
            let mut bytes = base.clone();
            let word = u16::from_be_bytes([bytes[0], bytes[1]]) ^ (0x8000 >> bit);
            bytes[..2].copy_from_slice(&word.to_be_bytes());
            let result = GrePacket::new_checked(&bytes[..]).map(|p| p.flags_word());
            let expected = match bit {
                0 => Err(GreError::ChecksumPresent),
                1 => Err(GreError::RoutingPresent),
                2 => Err(GreError::KeyMissing),
                // S cleared: 12-octet header, 23 octets of payload remain
                // in the 27 that follow, but no sequence number.
                3 => Err(GreError::PayloadWithoutSequence { payload_len: 23 }),
                4 => Err(GreError::StrictSourceRoute),
                5 => Err(GreError::RecursionControl { value: 4 }),
                6 => Err(GreError::RecursionControl { value: 2 }),
                7 => Err(GreError::RecursionControl { value: 1 }),
                // A cleared: still valid (seq only); the old ack octets
                // become payload, the last 4 octets become padding.
                8 => Ok(0x3001),
                9..=12 => Err(GreError::ReservedFlags {
                    value: 1 << (12 - bit),
                }),
                13 => Err(GreError::Version { found: 5 }),
                14 => Err(GreError::Version { found: 3 }),
                15 => Err(GreError::Version { found: 0 }),
                _ => unreachable!(),
            };
            assert_eq!(result, expected, "bit {bit}");
        }
        for bit in 0..16u16 {
            let mut bytes = base.clone();
            let protocol = PROTOCOL_PPP ^ (0x8000 >> bit);
            bytes[2..4].copy_from_slice(&protocol.to_be_bytes());
            assert_eq!(
                GrePacket::new_checked(&bytes[..]),
                Err(GreError::Protocol { found: protocol })
            );
        }
    }

    #[test]
    fn every_version_but_one_is_rejected() {
        for version in 0..8u8 {
            let bytes = [0x20, version, 0x88, 0x0b, 0, 0, 0, 1];
            let expected = if version == 1 {
                Ok(())
            } else {
                Err(GreError::Version { found: version })
            };
            assert_eq!(GrePacket::new_checked(&bytes[..]).map(|_| ()), expected);
        }
        // Plain RFC 2784 GRE carrying IPv4 (version 0, no key).
        assert_eq!(
            GrePacket::new_checked(&[0x00, 0x00, 0x08, 0x00, 0, 0, 0, 0][..]),
            Err(GreError::KeyMissing)
        );
    }

    #[test]
    fn payload_length_governs_and_padding_is_ignored() {
        let mut bytes = unhex("3001880b000c00000000000f80210101000a030663636302");
        bytes.extend_from_slice(&[0xee; 6]);
        let p = GrePacket::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.payload(), &unhex("80210101000a030663636302")[..]);
        assert_eq!(p.trailing_len(), 6);
        // An ack-only packet padded to Ethernet's minimum.
        let mut ack = unhex("2081880b0000400000000007");
        ack.resize(46, 0);
        let p = GrePacket::new_checked(&ack[..]).unwrap();
        assert_eq!(GreRepr::parse(&p).unwrap(), GreRepr::ack_only(16384, 7));
        assert!(p.payload().is_empty());
    }

    #[test]
    fn ack_only_with_payload_is_rejected() {
        let bytes = unhex("2081880b0002400000000007abcd");
        assert_eq!(
            GrePacket::new_checked(&bytes[..]),
            Err(GreError::PayloadWithoutSequence { payload_len: 2 })
        );
        let bytes = unhex("2001880b00024000abcd");
        assert_eq!(
            GrePacket::new_checked(&bytes[..]),
            Err(GreError::PayloadWithoutSequence { payload_len: 2 })
        );
    }

    #[test]
    fn emit_refuses_what_it_cannot_write() {
        let mut small = [0u8; 15];
        assert_eq!(
            GreRepr::data(1, 0, 2, Some(3)).emit(&mut small),
            Err(GreError::BufferTooSmall {
                needed: 16,
                available: 15
            })
        );
        assert_eq!(
            GreRepr::data(1, 4, 2, None).emit_with_payload(&[1, 2, 3, 4], &mut small),
            Err(GreError::BufferTooSmall {
                needed: 16,
                available: 15
            })
        );
        let bad = GreRepr {
            call_id: 1,
            payload_len: 3,
            sequence: None,
            ack: Some(1),
        };
        assert_eq!(
            bad.emit(&mut [0u8; 16]),
            Err(GreError::PayloadWithoutSequenceNumber)
        );
        let big = vec![0u8; PAYLOAD_LEN_MAX + 1];
        let mut out = vec![0u8; PAYLOAD_LEN_MAX + 17];
        assert_eq!(
            GreRepr::data(1, 0, 0, None).emit_with_payload(&big, &mut out),
            Err(GreError::PayloadTooLong {
                len: PAYLOAD_LEN_MAX + 1
            })
        );
        // The largest payload fits.
        let n = GreRepr::data(1, 0, 0, Some(9))
            .emit_with_payload(&big[..PAYLOAD_LEN_MAX], &mut out)
            .unwrap();
        assert_eq!(n, PAYLOAD_LEN_MAX + 16);
        let p = GrePacket::new_checked(&out[..n]).unwrap();
        assert_eq!(p.payload_len(), u16::MAX);
    }

    #[test]
    fn every_error_displays() {
        use core::fmt::Write;
        let errors = [
            GreError::Truncated {
                needed: 8,
                available: 1,
            },
            GreError::ChecksumPresent,
            GreError::RoutingPresent,
            GreError::KeyMissing,
            GreError::StrictSourceRoute,
            GreError::RecursionControl { value: 1 },
            GreError::ReservedFlags { value: 1 },
            GreError::Version { found: 0 },
            GreError::Protocol { found: 0x0800 },
            GreError::PayloadTruncated {
                payload_len: 9,
                available: 1,
            },
            GreError::PayloadWithoutSequence { payload_len: 1 },
            GreError::PayloadTooLong { len: 70000 },
            GreError::PayloadWithoutSequenceNumber,
            GreError::BufferTooSmall {
                needed: 16,
                available: 0,
            },
        ];
        for e in errors {
            let mut s = String::new();
            write!(s, "{e}").unwrap();
            assert!(s.starts_with("GRE") || s.starts_with("buffer"), "{s}");
        }
        let repr = GreRepr::data(5, 6, 7, Some(8));
        assert_eq!(repr.to_string(), "GRE call 5 len 6 seq 7 ack 8");
    }

    #[test]
    fn setters_write_what_getters_read() {
        let mut buf = [0u8; 20];
        let mut p = GrePacket::new_unchecked(&mut buf[..]);
        p.set_fixed_fields(true, true);
        p.set_payload_len(4);
        p.set_call_id(0xbeef);
        p.set_sequence(0xffff_fffe);
        p.set_ack(0x8000_0001);
        p.payload_mut().copy_from_slice(&[9, 8, 7, 6]);
        let p = GrePacket::new_checked(&buf[..]).unwrap();
        assert_eq!(p.flags_word(), 0x3081);
        assert_eq!(p.call_id(), 0xbeef);
        assert_eq!(p.sequence(), Some(0xffff_fffe));
        assert_eq!(p.ack(), Some(0x8000_0001));
        assert_eq!(p.payload(), &[9, 8, 7, 6]);
        assert_eq!(p.into_inner().len(), 20);
    }

    proptest::proptest! {
        #[test]
        fn emit_then_parse_is_identity(
            call_id: u16,
            seq: Option<u32>,
            ack: Option<u32>,
            payload in proptest::collection::vec(proptest::num::u8::ANY, 0..64),
            padding in 0usize..8,
        ) {
            let payload: &[u8] = if seq.is_some() { &payload } else { &[] };
            let repr = GreRepr { call_id, payload_len: payload.len() as u16, sequence: seq, ack };
            let mut buf = vec![0u8; repr.total_len() + padding];
            let n = repr.emit_with_payload(payload, &mut buf).unwrap();
            proptest::prop_assert_eq!(n, repr.total_len());
            let p = GrePacket::new_checked(&buf[..]).unwrap();
            proptest::prop_assert_eq!(GreRepr::parse(&p).unwrap(), repr);
            proptest::prop_assert_eq!(p.payload(), payload);
            proptest::prop_assert_eq!(p.trailing_len(), padding);
        }

        #[test]
        fn arbitrary_bytes_never_panic_and_checked_packets_reemit(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            if let Ok(p) = GrePacket::new_checked(&bytes[..]) {
                let repr = GreRepr::parse(&p).unwrap();
                let mut out = vec![0u8; repr.total_len()];
                repr.emit_with_payload(p.payload(), &mut out).unwrap();
                proptest::prop_assert_eq!(&out[..], &bytes[..repr.total_len()]);
            }
        }
    }
}
