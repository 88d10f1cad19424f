//! The PPP frame as carried in GRE (RFC 2637 §4) or inside async HDLC:
//! optional address/control `ff 03`, a 1- or 2-octet Protocol field, then
//! the information field (RFC 1661 §2, RFC 1662 §3).
//!
//! - Address-and-Control-Field-Compression (ACFC, RFC 1661 §6.6) lets a
//!   sender omit `ff 03`; Protocol-Field-Compression (PFC, RFC 1661 §6.5)
//!   lets it send protocols below 0x0100 as one octet.
//! - A receiver that negotiated an option accepts both forms (RFC 1661
//!   §6.5/§6.6: "MUST also accept" the uncompressed form).
//! - LCP packets are always sent in full form (RFC 1661 §6.5/§6.6: the
//!   fields "MUST NOT be compressed when sending any LCP packet").

use super::Error;

/// The address/control octets `ff 03` (RFC 1662 §3.1, §3.2).
pub const ADDRESS_CONTROL: [u8; 2] = [0xff, 0x03];

/// The longest header [`emit_header`] writes (`ff 03` + 2-octet protocol).
pub const MAX_HEADER_LEN: usize = 4;

/// PPP protocol numbers used by this crate (RFC 1661 §2, IANA PPP DLL
/// protocol numbers).
pub mod protocol {
    /// Internet Protocol version 4.
    pub const IPV4: u16 = 0x0021;
    /// Internet Protocol version 6.
    pub const IPV6: u16 = 0x0057;
    /// Compressed datagram (CCP/MPPE, RFC 1962 §2.1, RFC 3078 §3).
    pub const COMPRESSED: u16 = 0x00fd;
    /// IP Control Protocol (RFC 1332).
    pub const IPCP: u16 = 0x8021;
    /// IPv6 Control Protocol (RFC 5072).
    pub const IPV6CP: u16 = 0x8057;
    /// Compression Control Protocol (RFC 1962).
    pub const CCP: u16 = 0x80fd;
    /// Link Control Protocol (RFC 1661).
    pub const LCP: u16 = 0xc021;
    /// Password Authentication Protocol (RFC 1334).
    pub const PAP: u16 = 0xc023;
    /// Link Quality Report (RFC 1989).
    pub const LQR: u16 = 0xc025;
    /// Challenge Handshake Authentication Protocol (RFC 1994).
    pub const CHAP: u16 = 0xc223;
}

/// Which header fields are compressed (one direction of a link).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct FieldCompression {
    /// Address-and-Control-Field-Compression (omit `ff 03`).
    pub address_control: bool,
    /// Protocol-Field-Compression (1-octet protocol when below 0x0100).
    pub protocol: bool,
}

impl FieldCompression {
    /// Neither field compressed (the state before LCP negotiates).
    pub const NONE: FieldCompression = FieldCompression {
        address_control: false,
        protocol: false,
    };
    /// Both fields compressed.
    pub const BOTH: FieldCompression = FieldCompression {
        address_control: true,
        protocol: true,
    };
}

/// A parsed PPP frame: protocol and information field (padding, if any,
/// stays in `information`: only the protocol knows its length).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Frame<'a> {
    /// The Protocol field (a 1-octet field is returned zero-extended).
    pub protocol: u16,
    /// The information field.
    pub information: &'a [u8],
    /// Octets the header took on the wire (0..=4 + 1..=2).
    pub header_len: usize,
}

impl<'a> Frame<'a> {
    /// Parses a frame. `accept` says which compressed forms the receiver
    /// negotiated; the uncompressed forms are always accepted.
    pub fn parse(bytes: &'a [u8], accept: FieldCompression) -> Result<Frame<'a>, Error> {
        let mut offset = 0;
        match bytes {
            [0xff, 0x03, ..] => offset = 2,
            [0xff, second, ..] => {
                return Err(Error::BadAddressControl {
                    found: [0xff, *second],
                })
            }
            [0xff] => {
                return Err(Error::Truncated {
                    needed: 2,
                    available: 1,
                })
            }
            _ if !accept.address_control => {
                // RFC 1661 §6.6: without ACFC the field must be present.
                return Err(if bytes.len() < 2 {
                    Error::Truncated {
                        needed: 2,
                        available: bytes.len(),
                    }
                } else {
                    Error::MissingAddressControl
                });
            }
            _ => {}
        }
        let rest = bytes.get(offset..).unwrap_or(&[]);
        let first = *rest.first().ok_or(Error::Truncated {
            needed: offset + 1,
            available: bytes.len(),
        })?;
        // RFC 1661 §2: the last octet of a protocol number is odd and the
        // first even, so an odd first octet is a compressed (1-octet) field.
        let (protocol, proto_len) = if first & 1 == 1 {
            if !accept.protocol {
                return Err(Error::CompressedProtocolNotAllowed { protocol: first });
            }
            if first == 0xff {
                return Err(Error::BadProtocol { protocol: 0x00ff });
            }
            (u16::from(first), 1)
        } else {
            let second = *rest.get(1).ok_or(Error::Truncated {
                needed: offset + 2,
                available: bytes.len(),
            })?;
            let protocol = u16::from_be_bytes([first, second]);
            if !is_valid_protocol(protocol) {
                return Err(Error::BadProtocol { protocol });
            }
            (protocol, 2)
        };
        let header_len = offset + proto_len;
        Ok(Frame {
            protocol,
            information: bytes.get(header_len..).unwrap_or(&[]),
            header_len,
        })
    }
}

/// Whether `protocol` is a valid PPP protocol number: RFC 1661 §2 (high
/// octet even, low octet odd) and not 0x00ff, which compressed would be
/// the address octet `ff` (RFC 1661 §6.6 relies on that; the value is
/// reserved).
pub fn is_valid_protocol(protocol: u16) -> bool {
    protocol & 0x0100 == 0 && protocol & 1 == 1 && protocol != 0x00ff
}

/// Whether `protocol` is sent in full form whatever was negotiated.
fn never_compressed(protocol: u16) -> bool {
    protocol == protocol::LCP
}

/// The header length [`emit_header`] will write for `protocol` under
/// `send` compression: lets a caller place the payload first and prepend
/// the header without copying.
pub fn header_len(protocol: u16, send: FieldCompression) -> usize {
    if never_compressed(protocol) {
        return MAX_HEADER_LEN;
    }
    let ac = if send.address_control { 0 } else { 2 };
    let proto = if send.protocol && protocol < 0x0100 {
        1
    } else {
        2
    };
    ac + proto
}

/// Writes the header for `protocol` into the start of `out`; returns its
/// length (always [`header_len`]).
pub fn emit_header(protocol: u16, send: FieldCompression, out: &mut [u8]) -> Result<usize, Error> {
    if !is_valid_protocol(protocol) {
        return Err(Error::BadProtocol { protocol });
    }
    let len = header_len(protocol, send);
    let available = out.len();
    let dst = out.get_mut(..len).ok_or(Error::BufferTooSmall {
        needed: len,
        available,
    })?;
    let mut i = 0;
    if len >= 3 {
        // Only full-form headers (3 or 4 octets) carry `ff 03`.
        dst[..2].copy_from_slice(&ADDRESS_CONTROL);
        i = 2;
    }
    if len - i == 1 {
        dst[i] = protocol as u8;
    } else {
        dst[i..i + 2].copy_from_slice(&protocol.to_be_bytes());
    }
    Ok(len)
}

/// Writes header + `information` into `out`; returns the frame length.
pub fn emit(
    protocol: u16,
    information: &[u8],
    send: FieldCompression,
    out: &mut [u8],
) -> Result<usize, Error> {
    let hl = header_len(protocol, send);
    let total = hl + information.len();
    let available = out.len();
    if total > available {
        return Err(Error::BufferTooSmall {
            needed: total,
            available,
        });
    }
    emit_header(protocol, send, out)?;
    out[hl..total].copy_from_slice(information);
    Ok(total)
}

/// Zero-copy variant: the information field already sits in
/// `buf[payload_start..payload_start + payload_len]`; writes the header
/// just before it and returns the frame's range start (the frame is
/// `buf[start..payload_start + payload_len]`). Reserve
/// [`MAX_HEADER_LEN`] octets (or [`header_len`]) in front of the payload.
pub fn prepend_header(
    protocol: u16,
    send: FieldCompression,
    buf: &mut [u8],
    payload_start: usize,
) -> Result<usize, Error> {
    let hl = header_len(protocol, send);
    let start = payload_start.checked_sub(hl).ok_or(Error::BufferTooSmall {
        needed: hl,
        available: payload_start,
    })?;
    let available = buf.len();
    let dst = buf
        .get_mut(start..payload_start)
        .ok_or(Error::BufferTooSmall {
            needed: payload_start,
            available,
        })?;
    emit_header(protocol, send, dst)?;
    Ok(start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_all_four_forms_when_negotiated() {
        let both = FieldCompression::BOTH;
        for (bytes, hl) in [
            (&[0xff, 0x03, 0x00, 0x21, 0x45][..], 4),
            (&[0xff, 0x03, 0x21, 0x45][..], 3),
            (&[0x00, 0x21, 0x45][..], 2),
            (&[0x21, 0x45][..], 1),
        ] {
            let f = Frame::parse(bytes, both).unwrap();
            assert_eq!(f.protocol, protocol::IPV4);
            assert_eq!(f.information, &[0x45]);
            assert_eq!(f.header_len, hl);
        }
    }

    #[test]
    fn rejects_compressed_forms_not_negotiated() {
        let none = FieldCompression::NONE;
        assert_eq!(
            Frame::parse(&[0x00, 0x21, 0x45], none),
            Err(Error::MissingAddressControl)
        );
        assert_eq!(
            Frame::parse(&[0xff, 0x03, 0x21, 0x45], none),
            Err(Error::CompressedProtocolNotAllowed { protocol: 0x21 })
        );
        assert_eq!(
            Frame::parse(&[0xff, 0x05, 0x00, 0x21], none),
            Err(Error::BadAddressControl {
                found: [0xff, 0x05]
            })
        );
        assert_eq!(
            Frame::parse(&[0xff, 0x03, 0x00, 0x20], none),
            Err(Error::BadProtocol { protocol: 0x0020 })
        );
        assert_eq!(
            Frame::parse(&[0x00, 0xff, 0xff], FieldCompression::BOTH),
            Err(Error::BadProtocol { protocol: 0x00ff })
        );
        assert_eq!(
            Frame::parse(&[0xff, 0x03, 0xff, 0x01], FieldCompression::BOTH),
            Err(Error::BadProtocol { protocol: 0x00ff })
        );
        assert_eq!(
            Frame::parse(&[0xff, 0x03, 0xc0], none),
            Err(Error::Truncated {
                needed: 4,
                available: 3
            })
        );
        assert_eq!(
            Frame::parse(&[0xff], none),
            Err(Error::Truncated {
                needed: 2,
                available: 1
            })
        );
        assert_eq!(
            Frame::parse(&[], FieldCompression::BOTH),
            Err(Error::Truncated {
                needed: 1,
                available: 0
            })
        );
    }

    #[test]
    fn lcp_is_never_compressed_and_prepend_matches_emit() {
        let both = FieldCompression::BOTH;
        let mut out = [0u8; 16];
        let n = emit(protocol::LCP, &[9, 1, 0, 4], both, &mut out).unwrap();
        assert_eq!(&out[..n], &[0xff, 0x03, 0xc0, 0x21, 9, 1, 0, 4]);
        let n = emit(protocol::IPV4, &[0x45], both, &mut out).unwrap();
        assert_eq!(&out[..n], &[0x21, 0x45]);
        let acfc_only = FieldCompression {
            address_control: true,
            protocol: false,
        };
        let n = emit(protocol::COMPRESSED, &[0x90], acfc_only, &mut out).unwrap();
        assert_eq!(&out[..n], &[0x00, 0xfd, 0x90]);
        let pfc_only = FieldCompression {
            address_control: false,
            protocol: true,
        };
        let n = emit(protocol::IPCP, &[1], pfc_only, &mut out).unwrap();
        assert_eq!(&out[..n], &[0xff, 0x03, 0x80, 0x21, 1]);
        let n = emit(protocol::IPV4, &[1], pfc_only, &mut out).unwrap();
        assert_eq!(&out[..n], &[0xff, 0x03, 0x21, 1]);

        for send in [FieldCompression::NONE, acfc_only, pfc_only, both] {
            for proto in [protocol::IPV4, protocol::LCP, protocol::CCP] {
                let mut a = [0u8; 8];
                let n = emit(proto, &[1, 2], send, &mut a).unwrap();
                let mut b = [0u8; 8];
                b[4..6].copy_from_slice(&[1, 2]);
                let start = prepend_header(proto, send, &mut b, 4).unwrap();
                assert_eq!(&b[start..6], &a[..n]);
                let f = Frame::parse(&a[..n], send).unwrap();
                assert_eq!((f.protocol, f.information), (proto, &[1u8, 2][..]));
            }
        }
        assert_eq!(
            emit(protocol::LCP, &[1, 2], both, &mut [0u8; 5]),
            Err(Error::BufferTooSmall {
                needed: 6,
                available: 5
            })
        );
        assert_eq!(
            prepend_header(protocol::LCP, both, &mut [0u8; 8], 2),
            Err(Error::BufferTooSmall {
                needed: 4,
                available: 2
            })
        );
        assert_eq!(
            emit_header(0x0020, both, &mut out),
            Err(Error::BadProtocol { protocol: 0x0020 })
        );
    }
}
