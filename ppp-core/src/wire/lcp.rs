//! LCP configuration options (RFC 1661 §6, RFC 1570, RFC 1990, RFC 1994,
//! RFC 2433, RFC 2759).

use super::frame::protocol;
use super::packet::{emit_option, RawOption};
use super::Error;

/// LCP option types.
pub mod option_type {
    /// Maximum-Receive-Unit (RFC 1661 §6.1).
    pub const MRU: u8 = 1;
    /// Async-Control-Character-Map (RFC 1662 §7.1).
    pub const ACCM: u8 = 2;
    /// Authentication-Protocol (RFC 1661 §6.2).
    pub const AUTHENTICATION_PROTOCOL: u8 = 3;
    /// Quality-Protocol (RFC 1661 §6.3).
    pub const QUALITY_PROTOCOL: u8 = 4;
    /// Magic-Number (RFC 1661 §6.4).
    pub const MAGIC_NUMBER: u8 = 5;
    /// Protocol-Field-Compression (RFC 1661 §6.5).
    pub const PFC: u8 = 7;
    /// Address-and-Control-Field-Compression (RFC 1661 §6.6).
    pub const ACFC: u8 = 8;
    /// Callback (RFC 1570 §2.3; Microsoft uses operation 6 for CBCP).
    pub const CALLBACK: u8 = 13;
    /// Multilink Maximum-Received-Reconstructed-Unit (RFC 1990 §5.1.1).
    pub const MRRU: u8 = 17;
    /// Multilink Endpoint Discriminator (RFC 1990 §5.1.3).
    pub const ENDPOINT_DISCRIMINATOR: u8 = 19;
}

/// CHAP algorithm octets (RFC 1994 §3, RFC 2433 §2, RFC 2759 §2).
pub mod chap_algorithm {
    /// CHAP with MD5 (RFC 1994).
    pub const MD5: u8 = 5;
    /// Microsoft CHAP version 1 (RFC 2433).
    pub const MS_CHAP_V1: u8 = 0x80;
    /// Microsoft CHAP version 2 (RFC 2759).
    pub const MS_CHAP_V2: u8 = 0x81;
}

/// An authentication method LCP can negotiate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthMethod {
    /// PAP (RFC 1334), protocol c023.
    Pap,
    /// CHAP with MD5 (RFC 1994), c223 algorithm 5.
    ChapMd5,
    /// MS-CHAP version 1 (RFC 2433), c223 algorithm 0x80.
    MsChapV1,
    /// MS-CHAP version 2 (RFC 2759), c223 algorithm 0x81.
    MsChapV2,
}

impl core::fmt::Display for AuthMethod {
    /// The method as the RFCs and Windows spell it ("MS-CHAPv2").
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            AuthMethod::Pap => "PAP",
            AuthMethod::ChapMd5 => "CHAP-MD5",
            AuthMethod::MsChapV1 => "MS-CHAPv1",
            AuthMethod::MsChapV2 => "MS-CHAPv2",
        })
    }
}

impl AuthMethod {
    /// Every method, strongest first.
    pub const ALL: [AuthMethod; 4] = [
        AuthMethod::MsChapV2,
        AuthMethod::MsChapV1,
        AuthMethod::ChapMd5,
        AuthMethod::Pap,
    ];

    /// The Authentication-Protocol option value for this method.
    pub fn option(self) -> AuthProtocol<'static> {
        match self {
            AuthMethod::Pap => AuthProtocol::Pap,
            AuthMethod::ChapMd5 => AuthProtocol::Chap(chap_algorithm::MD5),
            AuthMethod::MsChapV1 => AuthProtocol::Chap(chap_algorithm::MS_CHAP_V1),
            AuthMethod::MsChapV2 => AuthProtocol::Chap(chap_algorithm::MS_CHAP_V2),
        }
    }

    /// The method an Authentication-Protocol option names, if supported.
    pub fn from_option(option: &AuthProtocol<'_>) -> Option<AuthMethod> {
        match *option {
            AuthProtocol::Pap => Some(AuthMethod::Pap),
            AuthProtocol::Chap(chap_algorithm::MD5) => Some(AuthMethod::ChapMd5),
            AuthProtocol::Chap(chap_algorithm::MS_CHAP_V1) => Some(AuthMethod::MsChapV1),
            AuthProtocol::Chap(chap_algorithm::MS_CHAP_V2) => Some(AuthMethod::MsChapV2),
            _ => None,
        }
    }

    /// The PPP protocol number that carries this method.
    pub const fn protocol(self) -> u16 {
        match self {
            AuthMethod::Pap => protocol::PAP,
            _ => protocol::CHAP,
        }
    }

    /// The CHAP algorithm octet of the LCP option (None for PAP).
    pub const fn chap_algorithm(self) -> Option<u8> {
        match self {
            AuthMethod::Pap => None,
            AuthMethod::ChapMd5 => Some(chap_algorithm::MD5),
            AuthMethod::MsChapV1 => Some(chap_algorithm::MS_CHAP_V1),
            AuthMethod::MsChapV2 => Some(chap_algorithm::MS_CHAP_V2),
        }
    }

    /// The method for an LCP Authentication-Protocol value (protocol and,
    /// for CHAP, algorithm octet).
    pub const fn from_lcp(protocol: u16, algorithm: Option<u8>) -> Option<AuthMethod> {
        match (protocol, algorithm) {
            (protocol::PAP, None) => Some(AuthMethod::Pap),
            (protocol::CHAP, Some(chap_algorithm::MD5)) => Some(AuthMethod::ChapMd5),
            (protocol::CHAP, Some(chap_algorithm::MS_CHAP_V1)) => Some(AuthMethod::MsChapV1),
            (protocol::CHAP, Some(chap_algorithm::MS_CHAP_V2)) => Some(AuthMethod::MsChapV2),
            _ => None,
        }
    }

    /// Whether the method is MS-CHAP (v1 or v2), the only ones that yield
    /// MPPE key material.
    pub const fn is_ms_chap(self) -> bool {
        matches!(self, AuthMethod::MsChapV1 | AuthMethod::MsChapV2)
    }

    /// The challenge length the method requires, if fixed: 8 octets for
    /// MS-CHAPv1 (RFC 2433 §2), 16 for MS-CHAPv2 (RFC 2759 §3).
    pub const fn challenge_len(self) -> Option<usize> {
        match self {
            AuthMethod::MsChapV1 => Some(8),
            AuthMethod::MsChapV2 => Some(16),
            _ => None,
        }
    }
}

/// The value of an Authentication-Protocol option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthProtocol<'a> {
    /// c023 (PAP); must carry no data.
    Pap,
    /// c223 (CHAP) with its algorithm octet.
    Chap(u8),
    /// Anything else (EAP c227, SPAP, PAP/CHAP with unexpected data).
    Other {
        /// The protocol number.
        protocol: u16,
        /// Data after the protocol number.
        data: &'a [u8],
    },
}

/// A parsed LCP configuration option.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LcpOption<'a> {
    /// Maximum-Receive-Unit.
    Mru(u16),
    /// Async-Control-Character-Map.
    Accm(u32),
    /// Authentication-Protocol.
    AuthenticationProtocol(AuthProtocol<'a>),
    /// Quality-Protocol (protocol and its data).
    QualityProtocol {
        /// Quality protocol number (c025 for LQR).
        protocol: u16,
        /// Protocol-specific data.
        data: &'a [u8],
    },
    /// Magic-Number.
    MagicNumber(u32),
    /// Protocol-Field-Compression.
    ProtocolFieldCompression,
    /// Address-and-Control-Field-Compression.
    AddressControlFieldCompression,
    /// Callback (operation, message).
    Callback {
        /// Operation (6 = Microsoft CBCP).
        operation: u8,
        /// Message.
        message: &'a [u8],
    },
    /// Multilink MRRU.
    Mrru(u16),
    /// Endpoint Discriminator (class, address).
    EndpointDiscriminator {
        /// Class.
        class: u8,
        /// Address.
        address: &'a [u8],
    },
    /// Any other option, kept raw.
    Unknown(RawOption<'a>),
}

fn exact<const N: usize>(raw: &RawOption<'_>) -> Result<[u8; N], Error> {
    raw.data.try_into().map_err(|_| Error::BadOptionLength {
        kind: raw.kind,
        length: raw.wire_len().min(255) as u8,
    })
}

impl<'a> LcpOption<'a> {
    /// Parses one raw option, checking the length its type requires.
    pub fn parse(raw: RawOption<'a>) -> Result<LcpOption<'a>, Error> {
        let too_short = Error::BadOptionLength {
            kind: raw.kind,
            length: raw.wire_len().min(255) as u8,
        };
        Ok(match raw.kind {
            option_type::MRU => LcpOption::Mru(u16::from_be_bytes(exact(&raw)?)),
            option_type::ACCM => LcpOption::Accm(u32::from_be_bytes(exact(&raw)?)),
            option_type::AUTHENTICATION_PROTOCOL => {
                let (proto, data) = match raw.data {
                    [a, b, rest @ ..] => (u16::from_be_bytes([*a, *b]), rest),
                    _ => return Err(too_short),
                };
                LcpOption::AuthenticationProtocol(match (proto, data) {
                    (protocol::PAP, []) => AuthProtocol::Pap,
                    (protocol::CHAP, [algorithm]) => AuthProtocol::Chap(*algorithm),
                    (protocol, data) => AuthProtocol::Other { protocol, data },
                })
            }
            option_type::QUALITY_PROTOCOL => match raw.data {
                [a, b, data @ ..] => LcpOption::QualityProtocol {
                    protocol: u16::from_be_bytes([*a, *b]),
                    data,
                },
                _ => return Err(too_short),
            },
            option_type::MAGIC_NUMBER => LcpOption::MagicNumber(u32::from_be_bytes(exact(&raw)?)),
            option_type::PFC => {
                exact::<0>(&raw)?;
                LcpOption::ProtocolFieldCompression
            }
            option_type::ACFC => {
                exact::<0>(&raw)?;
                LcpOption::AddressControlFieldCompression
            }
            option_type::CALLBACK => match raw.data {
                [operation, message @ ..] => LcpOption::Callback {
                    operation: *operation,
                    message,
                },
                _ => return Err(too_short),
            },
            option_type::MRRU => LcpOption::Mrru(u16::from_be_bytes(exact(&raw)?)),
            option_type::ENDPOINT_DISCRIMINATOR => match raw.data {
                [class, address @ ..] => LcpOption::EndpointDiscriminator {
                    class: *class,
                    address,
                },
                _ => return Err(too_short),
            },
            _ => LcpOption::Unknown(raw),
        })
    }

    /// The option's Type octet.
    pub fn kind(&self) -> u8 {
        match self {
            LcpOption::Mru(_) => option_type::MRU,
            LcpOption::Accm(_) => option_type::ACCM,
            LcpOption::AuthenticationProtocol(_) => option_type::AUTHENTICATION_PROTOCOL,
            LcpOption::QualityProtocol { .. } => option_type::QUALITY_PROTOCOL,
            LcpOption::MagicNumber(_) => option_type::MAGIC_NUMBER,
            LcpOption::ProtocolFieldCompression => option_type::PFC,
            LcpOption::AddressControlFieldCompression => option_type::ACFC,
            LcpOption::Callback { .. } => option_type::CALLBACK,
            LcpOption::Mrru(_) => option_type::MRRU,
            LcpOption::EndpointDiscriminator { .. } => option_type::ENDPOINT_DISCRIMINATOR,
            LcpOption::Unknown(raw) => raw.kind,
        }
    }

    /// Writes the option into `out`; returns the octets written.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let kind = self.kind();
        let mut scratch = [0u8; 8];
        let with_prefix = |prefix: &[u8], tail: &[u8], out: &mut [u8]| -> Result<usize, Error> {
            let total = 2 + prefix.len() + tail.len();
            if total > 255 {
                return Err(Error::ValueTooLong {
                    length: prefix.len() + tail.len(),
                    max: 253,
                });
            }
            let available = out.len();
            let dst = out.get_mut(..total).ok_or(Error::BufferTooSmall {
                needed: total,
                available,
            })?;
            dst[0] = kind;
            dst[1] = total as u8;
            dst[2..2 + prefix.len()].copy_from_slice(prefix);
            dst[2 + prefix.len()..].copy_from_slice(tail);
            Ok(total)
        };
        match *self {
            LcpOption::Mru(v) | LcpOption::Mrru(v) => emit_option(kind, &v.to_be_bytes(), out),
            LcpOption::Accm(v) | LcpOption::MagicNumber(v) => {
                emit_option(kind, &v.to_be_bytes(), out)
            }
            LcpOption::AuthenticationProtocol(auth) => match auth {
                AuthProtocol::Pap => emit_option(kind, &protocol::PAP.to_be_bytes(), out),
                AuthProtocol::Chap(algorithm) => {
                    scratch[..2].copy_from_slice(&protocol::CHAP.to_be_bytes());
                    scratch[2] = algorithm;
                    emit_option(kind, &scratch[..3], out)
                }
                AuthProtocol::Other { protocol, data } => {
                    with_prefix(&protocol.to_be_bytes(), data, out)
                }
            },
            LcpOption::QualityProtocol { protocol, data } => {
                with_prefix(&protocol.to_be_bytes(), data, out)
            }
            LcpOption::ProtocolFieldCompression | LcpOption::AddressControlFieldCompression => {
                emit_option(kind, &[], out)
            }
            LcpOption::Callback { operation, message } => with_prefix(&[operation], message, out),
            LcpOption::EndpointDiscriminator { class, address } => {
                with_prefix(&[class], address, out)
            }
            LcpOption::Unknown(raw) => raw.emit(out),
        }
    }
}

/// The data of an LCP Identification packet (Code 12, RFC 1570 §1.1):
/// the sender's Magic-Number, then a message of any length (not
/// NUL-terminated). Windows sends two when LCP opens, "MSRASV5.00" (or
/// "MSRASV5.20") and `MSRAS-<n>-<host name>`. The receiver never answers
/// one (no Code-Reject, RFC 1570 §1.1: it is informational). A view over
/// the packet's data: the message stays in the packet's buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Identification<'a> {
    /// The sender's Magic-Number (0 when none was negotiated).
    pub magic: u32,
    /// The message.
    pub message: &'a [u8],
}

/// Octets before an Identification's message: the Magic-Number.
const IDENTIFICATION_HEADER: usize = 4;
/// Octets before a Time-Remaining's message: Magic-Number and Seconds.
const TIME_REMAINING_HEADER: usize = 8;

/// The first `N` octets of `data` as an array, or [`Error::Truncated`].
fn fixed<const N: usize>(data: &[u8]) -> Result<[u8; N], Error> {
    data.get(..N)
        .and_then(|b| b.try_into().ok())
        .ok_or(Error::Truncated {
            needed: N,
            available: data.len(),
        })
}

/// Writes `header` then `message` into `out`; returns the octets written.
fn emit_message(header: &[u8], message: &[u8], out: &mut [u8]) -> Result<usize, Error> {
    let total = header.len() + message.len();
    let available = out.len();
    let dst = out.get_mut(..total).ok_or(Error::BufferTooSmall {
        needed: total,
        available,
    })?;
    let (head, tail) = dst.split_at_mut(header.len());
    head.copy_from_slice(header);
    tail.copy_from_slice(message);
    Ok(total)
}

impl<'a> Identification<'a> {
    /// Parses the data field of a Code 12 packet: at least the 4-octet
    /// Magic-Number ([`Error::Truncated`] otherwise).
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        let magic = u32::from_be_bytes(fixed(data)?);
        Ok(Identification {
            magic,
            message: data.get(IDENTIFICATION_HEADER..).unwrap_or(&[]),
        })
    }

    /// Octets [`Identification::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        IDENTIFICATION_HEADER + self.message.len()
    }

    /// Writes the data field into `out`; returns the octets written.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        emit_message(&self.magic.to_be_bytes(), self.message, out)
    }
}

/// The data of an LCP Time-Remaining packet (Code 13, RFC 1570 §1.2): the
/// sender's Magic-Number, the seconds left in the session, and an
/// optional message. Never answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TimeRemaining<'a> {
    /// The sender's Magic-Number (0 when none was negotiated).
    pub magic: u32,
    /// Seconds remaining.
    pub seconds: u32,
    /// The message.
    pub message: &'a [u8],
}

impl<'a> TimeRemaining<'a> {
    /// Parses the data field of a Code 13 packet: at least Magic-Number
    /// and Seconds-Remaining, 8 octets ([`Error::Truncated`] otherwise).
    pub fn parse(data: &'a [u8]) -> Result<Self, Error> {
        let fields: [u8; TIME_REMAINING_HEADER] = fixed(data)?;
        Ok(TimeRemaining {
            magic: u32::from_be_bytes([fields[0], fields[1], fields[2], fields[3]]),
            seconds: u32::from_be_bytes([fields[4], fields[5], fields[6], fields[7]]),
            message: data.get(TIME_REMAINING_HEADER..).unwrap_or(&[]),
        })
    }

    /// Octets [`TimeRemaining::emit`] writes.
    pub fn buffer_len(&self) -> usize {
        TIME_REMAINING_HEADER + self.message.len()
    }

    /// Writes the data field into `out`; returns the octets written.
    pub fn emit(&self, out: &mut [u8]) -> Result<usize, Error> {
        let mut header = [0u8; TIME_REMAINING_HEADER];
        header[..4].copy_from_slice(&self.magic.to_be_bytes());
        header[4..].copy_from_slice(&self.seconds.to_be_bytes());
        emit_message(&header, self.message, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::packet::OptionIter;

    fn round_trip(bytes: &[u8]) -> LcpOption<'_> {
        let raw = OptionIter::new(bytes).next().unwrap().unwrap();
        let opt = LcpOption::parse(raw).unwrap();
        let mut out = [0u8; 64];
        let n = opt.emit(&mut out).unwrap();
        assert_eq!(&out[..n], bytes, "emit(parse(x)) == x for {opt:?}");
        opt
    }

    #[test]
    fn parses_and_emits_every_known_option() {
        assert_eq!(round_trip(&[1, 4, 0x05, 0xdc]), LcpOption::Mru(1500));
        assert_eq!(
            round_trip(&[2, 6, 0, 0x0a, 0, 0]),
            LcpOption::Accm(0x000a_0000)
        );
        assert_eq!(
            round_trip(&[3, 4, 0xc0, 0x23]),
            LcpOption::AuthenticationProtocol(AuthProtocol::Pap)
        );
        assert_eq!(
            round_trip(&[3, 5, 0xc2, 0x23, 0x80]),
            LcpOption::AuthenticationProtocol(AuthProtocol::Chap(0x80))
        );
        assert_eq!(
            round_trip(&[3, 4, 0xc2, 0x27]),
            LcpOption::AuthenticationProtocol(AuthProtocol::Other {
                protocol: 0xc227,
                data: &[]
            })
        );
        assert_eq!(
            round_trip(&[4, 8, 0xc0, 0x25, 0, 0, 0, 10]),
            LcpOption::QualityProtocol {
                protocol: 0xc025,
                data: &[0, 0, 0, 10]
            }
        );
        assert_eq!(
            round_trip(&[5, 6, 0x09, 0x89, 0x4a, 0xb4]),
            LcpOption::MagicNumber(0x0989_4ab4)
        );
        assert_eq!(round_trip(&[7, 2]), LcpOption::ProtocolFieldCompression);
        assert_eq!(
            round_trip(&[8, 2]),
            LcpOption::AddressControlFieldCompression
        );
        assert_eq!(
            round_trip(&[13, 3, 6]),
            LcpOption::Callback {
                operation: 6,
                message: &[]
            }
        );
        assert_eq!(round_trip(&[17, 4, 0x06, 0x4e]), LcpOption::Mrru(1614));
        assert_eq!(
            round_trip(&[19, 5, 1, 0xaa, 0xbb]),
            LcpOption::EndpointDiscriminator {
                class: 1,
                address: &[0xaa, 0xbb]
            }
        );
        assert!(matches!(
            round_trip(&[99, 3, 1]),
            LcpOption::Unknown(RawOption {
                kind: 99,
                data: &[1]
            })
        ));
    }

    #[test]
    fn rejects_wrong_lengths_with_exact_errors() {
        let cases: [(&[u8], Error); 8] = [
            (&[1, 3, 5], Error::BadOptionLength { kind: 1, length: 3 }),
            (
                &[2, 5, 0, 0, 0],
                Error::BadOptionLength { kind: 2, length: 5 },
            ),
            (&[3, 3, 0xc0], Error::BadOptionLength { kind: 3, length: 3 }),
            (&[4, 2], Error::BadOptionLength { kind: 4, length: 2 }),
            (
                &[5, 7, 0, 0, 0, 0, 0],
                Error::BadOptionLength { kind: 5, length: 7 },
            ),
            (&[7, 3, 0], Error::BadOptionLength { kind: 7, length: 3 }),
            (
                &[13, 2],
                Error::BadOptionLength {
                    kind: 13,
                    length: 2,
                },
            ),
            (
                &[19, 2],
                Error::BadOptionLength {
                    kind: 19,
                    length: 2,
                },
            ),
        ];
        for (bytes, want) in cases {
            let raw = OptionIter::new(bytes).next().unwrap().unwrap();
            assert_eq!(LcpOption::parse(raw), Err(want), "{bytes:?}");
        }
    }

    #[test]
    fn auth_methods_map_to_option_bytes() {
        for (method, bytes) in [
            (AuthMethod::Pap, &[3u8, 4, 0xc0, 0x23][..]),
            (AuthMethod::ChapMd5, &[3, 5, 0xc2, 0x23, 5][..]),
            (AuthMethod::MsChapV1, &[3, 5, 0xc2, 0x23, 0x80][..]),
            (AuthMethod::MsChapV2, &[3, 5, 0xc2, 0x23, 0x81][..]),
        ] {
            let mut out = [0u8; 8];
            let n = LcpOption::AuthenticationProtocol(method.option())
                .emit(&mut out)
                .unwrap();
            assert_eq!(&out[..n], bytes);
            assert_eq!(AuthMethod::from_option(&method.option()), Some(method));
        }
        assert_eq!(AuthMethod::from_option(&AuthProtocol::Chap(6)), None);
    }

    /// A Windows-style Identification's data: a Magic-Number (made up
    /// here) and "MSRASV5.10", the version string Windows XP sends.
    const WINDOWS_IDENTIFICATION: [u8; 14] = [
        0x1b, 0x2c, 0x3d, 0x4e, b'M', b'S', b'R', b'A', b'S', b'V', b'5', b'.', b'1', b'0',
    ];

    #[test]
    fn test_parse_and_emit_identification() {
        let id = Identification::parse(&WINDOWS_IDENTIFICATION).unwrap();
        assert_eq!(
            id,
            Identification {
                magic: 0x1b2c_3d4e,
                message: b"MSRASV5.10",
            }
        );
        let mut out = [0u8; 14];
        assert_eq!(id.emit(&mut out), Ok(14));
        assert_eq!(out, WINDOWS_IDENTIFICATION);
        assert_eq!(id.buffer_len(), 14);
        // Only a Magic-Number: an empty message.
        let bare = Identification::parse(&[0, 0, 0, 0]).unwrap();
        assert_eq!(bare.message, b"");
    }

    #[test]
    fn test_parse_and_emit_time_remaining() {
        let bytes = [0, 0, 0, 7, 0, 0, 0x0e, 0x10, b'b', b'y', b'e'];
        let t = TimeRemaining::parse(&bytes).unwrap();
        assert_eq!(
            t,
            TimeRemaining {
                magic: 7,
                seconds: 3600,
                message: b"bye",
            }
        );
        let mut out = [0u8; 11];
        assert_eq!(t.emit(&mut out), Ok(11));
        assert_eq!(out, bytes);
    }

    #[test]
    fn identification_and_time_remaining_errors_are_typed() {
        for n in 0..4 {
            assert_eq!(
                Identification::parse(&WINDOWS_IDENTIFICATION[..n]),
                Err(Error::Truncated {
                    needed: 4,
                    available: n
                })
            );
        }
        for n in 0..8 {
            assert_eq!(
                TimeRemaining::parse(&WINDOWS_IDENTIFICATION[..n]),
                Err(Error::Truncated {
                    needed: 8,
                    available: n
                })
            );
        }
        let id = Identification::parse(&WINDOWS_IDENTIFICATION).unwrap();
        let mut small = [0u8; 13];
        assert_eq!(
            id.emit(&mut small),
            Err(Error::BufferTooSmall {
                needed: 14,
                available: 13
            })
        );
        let t = TimeRemaining {
            magic: 0,
            seconds: 0,
            message: &[],
        };
        assert_eq!(
            t.emit(&mut small[..7]),
            Err(Error::BufferTooSmall {
                needed: 8,
                available: 7
            })
        );
    }
}
