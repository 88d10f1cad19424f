//! Zero-copy views and `Repr` types for PPP on the wire.
//!
//! - [`auth`]: PAP (RFC 1334) and CHAP/MS-CHAP (RFC 1994, 2433, 2759)
//!   packets and messages.
//! - [`frame`]: the PPP frame as carried in GRE (address/control, protocol
//!   field, ACFC/PFC; RFC 1661 §2, §6.5, §6.6, RFC 1662 §3).
//! - [`hdlc`]: RFC 1662 asynchronous HDLC framing (flags, escapes, ACCM,
//!   FCS-16) as a streaming encoder and decoder.
//! - [`packet`]: the control-protocol packet (Code, Identifier, Length,
//!   Data; RFC 1661 §5) shared by LCP, IPCP and CCP, and option TLVs.
//! - [`lcp`]: LCP configuration options (RFC 1661 §6, RFC 1570).
//! - [`ipv4`]: the IPv4 packets the link carries, as far as fitting them
//!   to the peer's MRU needs: fragmentation, ICMP "fragmentation
//!   needed", TCP MSS clamping (RFC 791, 792, 1191, 879, 1624).

pub mod auth;
pub mod frame;
pub mod hdlc;
pub mod ipv4;
pub mod lcp;
pub mod packet;

use core::fmt;

/// What went wrong while parsing or emitting PPP wire data.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The input ended before a complete structure: `needed` octets were
    /// required, `available` were present.
    Truncated {
        /// Octets the structure needs.
        needed: usize,
        /// Octets present.
        available: usize,
    },
    /// A packet's Length field is below the 4-octet header or past the end
    /// of the received data (RFC 1661 §5).
    BadPacketLength {
        /// The Length field.
        length: u16,
        /// Octets actually received.
        available: usize,
    },
    /// An option's Length octet is 0 or 1, which cannot even cover the
    /// Type/Length header (RFC 1661 §6).
    OptionLengthTooSmall {
        /// The option's Type.
        kind: u8,
        /// The option's Length octet.
        length: u8,
    },
    /// An option's Length runs past the end of the packet (RFC 1661 §6).
    OptionPastEnd {
        /// The option's Type.
        kind: u8,
        /// The option's Length octet.
        length: u8,
        /// Octets left in the packet from the option's start.
        available: usize,
    },
    /// An option has a Length its Type does not allow (for example an
    /// MRU option that is not 4 octets).
    BadOptionLength {
        /// The option's Type.
        kind: u8,
        /// The option's Length octet.
        length: u8,
    },
    /// A frame lacks the `ff 03` address/control field although
    /// Address-and-Control-Field-Compression was not negotiated.
    MissingAddressControl,
    /// A frame starts with an address octet other than `ff` or a control
    /// octet other than `03` (RFC 1662 §3.1, §3.2).
    BadAddressControl {
        /// The first two octets.
        found: [u8; 2],
    },
    /// A 1-octet protocol field arrived although Protocol-Field-Compression
    /// was not negotiated (RFC 1661 §6.5).
    CompressedProtocolNotAllowed {
        /// The single protocol octet.
        protocol: u8,
    },
    /// A protocol field that breaks the RFC 1661 §2 rule (the high octet
    /// must be even, the low octet odd).
    BadProtocol {
        /// The two protocol octets as a number.
        protocol: u16,
    },
    /// The caller's output buffer is too small.
    BufferTooSmall {
        /// Octets required.
        needed: usize,
        /// Octets available.
        available: usize,
    },
    /// A value does not fit the field that carries it (for example a
    /// packet longer than 65535 octets or option data over 253 octets).
    ValueTooLong {
        /// Octets the value has.
        length: usize,
        /// The most the field can carry.
        max: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { needed, available } => {
                write!(f, "truncated: need {needed} octets, have {available}")
            }
            Error::BadPacketLength { length, available } => write!(
                f,
                "packet Length {length} invalid for {available} received octets"
            ),
            Error::OptionLengthTooSmall { kind, length } => {
                write!(f, "option type {kind} has length {length} (< 2)")
            }
            Error::OptionPastEnd {
                kind,
                length,
                available,
            } => write!(
                f,
                "option type {kind} length {length} runs past the packet ({available} octets left)"
            ),
            Error::BadOptionLength { kind, length } => {
                write!(f, "option type {kind} cannot have length {length}")
            }
            Error::MissingAddressControl => {
                f.write_str("address/control field missing without ACFC")
            }
            Error::BadAddressControl { found } => write!(
                f,
                "bad address/control field {:02x}{:02x}",
                found[0], found[1]
            ),
            Error::CompressedProtocolNotAllowed { protocol } => {
                write!(f, "1-octet protocol field {protocol:02x} without PFC")
            }
            Error::BadProtocol { protocol } => write!(f, "invalid protocol field {protocol:04x}"),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: need {needed} octets, have {available}"
            ),
            Error::ValueTooLong { length, max } => {
                write!(f, "value of {length} octets exceeds the field's {max}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
