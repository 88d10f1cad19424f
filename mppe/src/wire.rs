//! The MPPE packet header (RFC 3078 §3).
//!
//! ```text
//!  0                   1
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |A|B|C|D|   Coherency Count     |  then the encrypted PPP protocol
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+  field and information field
//! ```
//!
//! The packet travels in a PPP frame with protocol [`PROTOCOL`] (0x00FD,
//! "compressed datagram", RFC 1962), which ppp-core frames.
//!
//! - A (0x80, "flushed"): the sender re-initialised its RC4 state before
//!   this packet (RFC 3078 §3.1; set on every packet in stateless mode).
//! - B (0x40): used by MPPC only (RFC 2118); MPPE ignores it.
//! - C (0x20, "compressed"): MPPC compressed data. This crate does not
//!   implement MPPC, so C set is [`HeaderError::Compressed`].
//! - D (0x10, "encrypted"): must be set on every MPPE packet; clear means the
//!   payload is not MPPE-encrypted: [`HeaderError::NotEncrypted`].
//! - Coherency count: 12 bits, incremented per packet, modulo 4096.

use core::fmt;

/// PPP protocol number carrying MPPE packets (RFC 1962 / RFC 3078 §3).
pub const PROTOCOL: u16 = 0x00fd;
/// Length of the MPPE header in octets.
pub const HEADER_LEN: usize = 2;
/// A, the "flushed" bit.
pub const FLAG_FLUSHED: u8 = 0x80;
/// B, MPPC's "packet at front of history" bit (ignored by MPPE).
pub const FLAG_B: u8 = 0x40;
/// C, the "compressed" bit (MPPC).
pub const FLAG_COMPRESSED: u8 = 0x20;
/// D, the "encrypted" bit.
pub const FLAG_ENCRYPTED: u8 = 0x10;
/// Coherency counts live in 0..COHERENCY_SPACE.
pub const COHERENCY_SPACE: u16 = 4096;
/// Mask of the 12-bit coherency count in the 16-bit header word.
pub const COHERENCY_MASK: u16 = 0x0fff;

/// What is wrong with an MPPE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum HeaderError {
    /// Fewer octets than the header (or header plus one octet of protocol
    /// field, for a data packet).
    Truncated {
        /// Octets present.
        len: usize,
        /// Octets needed.
        needed: usize,
    },
    /// The C bit is set: MPPC compressed data, which is not supported
    /// (RFC 3078 §3; MPPC is never negotiated by this crate).
    Compressed {
        /// The coherency count of the packet.
        coherency_count: u16,
    },
    /// The D bit is clear: the payload is not encrypted.
    NotEncrypted {
        /// The coherency count of the packet.
        coherency_count: u16,
    },
}

impl fmt::Display for HeaderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            HeaderError::Truncated { len, needed } => {
                write!(f, "MPPE packet of {len} octets, at least {needed} needed")
            }
            HeaderError::Compressed { coherency_count } => write!(
                f,
                "MPPE packet {coherency_count} has the compressed (MPPC) bit set"
            ),
            HeaderError::NotEncrypted { coherency_count } => write!(
                f,
                "MPPE packet {coherency_count} has the encrypted bit clear"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for HeaderError {}

/// A zero-copy view of an MPPE packet: header plus (encrypted) payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Wraps `buffer` without checking it; the getters then panic-free
    /// return 0 for missing octets. Prefer [`Packet::new_checked`].
    pub const fn new_unchecked(buffer: T) -> Self {
        Packet { buffer }
    }

    /// Wraps `buffer` after checking it holds at least the header.
    pub fn new_checked(buffer: T) -> Result<Self, HeaderError> {
        let len = buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(HeaderError::Truncated {
                len,
                needed: HEADER_LEN,
            });
        }
        Ok(Packet { buffer })
    }

    fn octet(&self, index: usize) -> u8 {
        self.buffer.as_ref().get(index).copied().unwrap_or(0)
    }

    /// The A ("flushed") bit.
    pub fn flushed(&self) -> bool {
        self.octet(0) & FLAG_FLUSHED != 0
    }

    /// The B bit (MPPC only).
    pub fn bit_b(&self) -> bool {
        self.octet(0) & FLAG_B != 0
    }

    /// The C ("compressed") bit.
    pub fn compressed(&self) -> bool {
        self.octet(0) & FLAG_COMPRESSED != 0
    }

    /// The D ("encrypted") bit.
    pub fn encrypted(&self) -> bool {
        self.octet(0) & FLAG_ENCRYPTED != 0
    }

    /// The 12-bit coherency count.
    pub fn coherency_count(&self) -> u16 {
        u16::from_be_bytes([self.octet(0), self.octet(1)]) & COHERENCY_MASK
    }

    /// The payload after the header (empty if there is none).
    pub fn payload(&self) -> &[u8] {
        self.buffer.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }

    /// Gives the buffer back.
    pub fn into_inner(self) -> T {
        self.buffer
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// Writes the two header octets: flags and count (the count is masked
    /// to 12 bits). Does nothing on a buffer shorter than the header.
    pub fn set_header(&mut self, flags: u8, coherency_count: u16) {
        let word = (u16::from(flags & 0xf0) << 8) | (coherency_count & COHERENCY_MASK);
        if let Some(h) = self.buffer.as_mut().get_mut(..HEADER_LEN) {
            h.copy_from_slice(&word.to_be_bytes());
        }
    }

    /// The payload after the header, mutable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        self.buffer
            .as_mut()
            .get_mut(HEADER_LEN..)
            .unwrap_or(&mut [])
    }
}

/// The parsed meaning of an MPPE header.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Header {
    /// A: RC4 state re-initialised before this packet.
    pub flushed: bool,
    /// 12-bit coherency count.
    pub coherency_count: u16,
}

impl Header {
    /// Parses a header for MPPE use: C must be clear, D set; B is ignored.
    pub fn parse<T: AsRef<[u8]>>(packet: &Packet<T>) -> Result<Header, HeaderError> {
        let len = packet.buffer.as_ref().len();
        if len < HEADER_LEN {
            return Err(HeaderError::Truncated {
                len,
                needed: HEADER_LEN,
            });
        }
        let coherency_count = packet.coherency_count();
        if packet.compressed() {
            return Err(HeaderError::Compressed { coherency_count });
        }
        if !packet.encrypted() {
            return Err(HeaderError::NotEncrypted { coherency_count });
        }
        Ok(Header {
            flushed: packet.flushed(),
            coherency_count,
        })
    }

    /// Writes this header (D set, C and B clear) into `buf[..2]`; returns
    /// the number of octets written.
    pub fn emit(&self, buf: &mut [u8]) -> Result<usize, HeaderError> {
        let len = buf.len();
        let Some(h) = buf.get_mut(..HEADER_LEN) else {
            return Err(HeaderError::Truncated {
                len,
                needed: HEADER_LEN,
            });
        };
        let flags = FLAG_ENCRYPTED | if self.flushed { FLAG_FLUSHED } else { 0 };
        let word = (u16::from(flags) << 8) | (self.coherency_count & COHERENCY_MASK);
        h.copy_from_slice(&word.to_be_bytes());
        Ok(HEADER_LEN)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_emit_round_trip() {
        for (flushed, count) in [(false, 0u16), (true, 0xfff), (true, 0x123), (false, 0x800)] {
            let header = Header {
                flushed,
                coherency_count: count,
            };
            let mut buf = [0u8; 5];
            assert_eq!(header.emit(&mut buf), Ok(2));
            let packet = Packet::new_checked(&buf[..]).unwrap();
            assert!(packet.encrypted());
            assert!(!packet.compressed());
            assert!(!packet.bit_b());
            assert_eq!(Header::parse(&packet), Ok(header));
            assert_eq!(packet.payload().len(), 3);
        }
        // Known bytes: 0x90 0x00 = A + D, count 0 (stateless first packet).
        let packet = Packet::new_checked(&[0x90u8, 0x00, 0xaa][..]).unwrap();
        assert_eq!(
            Header::parse(&packet),
            Ok(Header {
                flushed: true,
                coherency_count: 0
            })
        );
        let packet = Packet::new_checked(&[0x1fu8, 0xfe][..]).unwrap();
        assert_eq!(
            Header::parse(&packet),
            Ok(Header {
                flushed: false,
                coherency_count: 0xffe
            })
        );
        // B is ignored by MPPE.
        let packet = Packet::new_checked(&[0x50u8, 0x01][..]).unwrap();
        assert!(packet.bit_b());
        assert_eq!(Header::parse(&packet).unwrap().coherency_count, 1);
    }

    #[test]
    fn bad_headers_have_exact_errors() {
        assert_eq!(
            Packet::new_checked(&[][..]).unwrap_err(),
            HeaderError::Truncated { len: 0, needed: 2 }
        );
        assert_eq!(
            Packet::new_checked(&[0x90u8][..]).unwrap_err(),
            HeaderError::Truncated { len: 1, needed: 2 }
        );
        assert_eq!(
            Header::parse(&Packet::new_unchecked(&[0x90u8][..])),
            Err(HeaderError::Truncated { len: 1, needed: 2 })
        );
        assert_eq!(
            Header::parse(&Packet::new_checked(&[0x30u8, 0x07][..]).unwrap()),
            Err(HeaderError::Compressed { coherency_count: 7 })
        );
        assert_eq!(
            Header::parse(&Packet::new_checked(&[0x80u8, 0x09][..]).unwrap()),
            Err(HeaderError::NotEncrypted { coherency_count: 9 })
        );
        assert_eq!(
            Header {
                flushed: false,
                coherency_count: 1
            }
            .emit(&mut [0u8; 1]),
            Err(HeaderError::Truncated { len: 1, needed: 2 })
        );
        // Unchecked view of an empty buffer: getters do not panic.
        let empty = Packet::new_unchecked(&[][..]);
        assert_eq!(empty.coherency_count(), 0);
        assert!(empty.payload().is_empty());
    }

    #[test]
    fn set_header_masks_the_count() {
        let mut buf = [0u8; 3];
        let mut packet = Packet::new_unchecked(&mut buf[..]);
        packet.set_header(FLAG_ENCRYPTED | FLAG_FLUSHED | 0x0f, 0xf123);
        assert_eq!(packet.coherency_count(), 0x123);
        assert_eq!(buf, [0x91, 0x23, 0]);
        let mut short = [0u8; 1];
        Packet::new_unchecked(&mut short[..]).set_header(0x90, 1);
        assert_eq!(short, [0]);
    }
}
