//! RADIUS client (RFC 2865 authentication, RFC 2866 accounting, RFC 2548
//! Microsoft attributes, RFC 3579 Message-Authenticator).
//!
//! - [`wire`]: zero-copy packet view, attribute iteration that never
//!   panics, a bounded packet writer, and the RADIUS cryptography
//!   (authenticators, User-Password hiding, Message-Authenticator,
//!   RFC 2548 salt encryption).
//! - [`attributes`]: attribute numbers and small value types.
//! - [`ms`]: the Microsoft vendor attributes (vendor 311).
//! - [`client`]: the Sans-IO [`RadiusClient`] with identifiers,
//!   retransmission with back-off and primary/secondary failover,
//!   duplicate-response protection, and the verdict conversion of
//!   [`crate::aaa::bridge`].
//! - [`accounting`]: Accounting-Request contents (Start, Interim-Update,
//!   Stop, 64-bit counters through Gigawords).
//!
//! Hardening (BlastRADIUS, CVE-2024-3596): every Access-Request carries
//! Message-Authenticator as its first attribute, and every
//! Access-Accept/Reject/Challenge must carry a valid one; a response
//! without it is refused with [`Error::MissingMessageAuthenticator`].

use core::fmt;

pub mod accounting;
pub mod attributes;
pub mod client;
pub mod ms;
pub mod wire;

pub use accounting::{AccountingRecord, AccountingStatus, TerminateCause};
pub use client::{
    Destination, Event, RadiusClient, RadiusConfig, Randomness, RequestHandle, RequestKind,
    ServerConfig, SessionInfo, Stats,
};

/// What went wrong in RADIUS encoding, decoding or response handling.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The datagram is shorter than the 20-octet header.
    Truncated {
        /// Octets received.
        len: usize,
    },
    /// The Length field is below 20, above 4096, or beyond the datagram
    /// (RFC 2865 §3: such packets are silently discarded).
    BadLength {
        /// The Length field.
        length: u16,
        /// Octets received.
        received: usize,
    },
    /// The datagram is larger than the 4096 octets RFC 2865 §3 allows.
    Oversized {
        /// Octets received.
        len: usize,
    },
    /// The Code is not one this client knows (RFC 2865 §3).
    UnknownCode {
        /// The Code octet.
        code: u8,
    },
    /// An attribute whose Length octet is 0 or 1 (RFC 2865 §5: at least 2).
    AttributeTooShort {
        /// Offset of the attribute in the packet.
        offset: usize,
        /// Its Length octet.
        length: u8,
    },
    /// An attribute that runs past the packet's Length.
    AttributePastEnd {
        /// Offset of the attribute in the packet.
        offset: usize,
        /// Its Length octet.
        length: u8,
    },
    /// A Vendor-Specific attribute (26) that is malformed (RFC 2865 §5.26).
    BadVendorAttribute {
        /// Its value length.
        length: usize,
    },
    /// An attribute value of the wrong size or content for its type.
    BadAttributeValue {
        /// The attribute type (for vendor attributes: the vendor type).
        attribute: u8,
        /// The value length.
        length: usize,
    },
    /// A value too long for one attribute (253 octets) or a field limit.
    ValueTooLong {
        /// The attribute type.
        attribute: u8,
        /// The value length.
        length: usize,
    },
    /// The caller's buffer (or a bounded internal buffer) is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
    },
    /// The Response Authenticator does not match (RFC 2865 §3): wrong
    /// secret, forged or corrupted.
    BadResponseAuthenticator,
    /// An Access-Accept/Reject/Challenge without Message-Authenticator
    /// (RFC 3579 §3.2; BlastRADIUS hardening).
    MissingMessageAuthenticator,
    /// A Message-Authenticator that does not verify, is not 16 octets, or
    /// appears twice.
    BadMessageAuthenticator,
    /// A response whose Identifier matches no pending request.
    UnexpectedResponse {
        /// The Identifier.
        identifier: u8,
    },
    /// A second response for a request already answered (dropped, counted).
    DuplicateResponse {
        /// The Identifier.
        identifier: u8,
    },
    /// A response of a Code that does not answer the request (an
    /// Accounting-Response to an Access-Request, a request code).
    UnexpectedCode {
        /// The Code octet.
        code: u8,
    },
    /// A response from a server the request was never sent to.
    WrongServer {
        /// The server index the datagram came from.
        server_index: usize,
    },
    /// All request slots are in use.
    TooManyPending,
    /// No configured server, or a server index out of range.
    NoServer,
    /// An encrypted attribute (MS-MPPE-Send-Key and the like) that does
    /// not decrypt to a well-formed value.
    BadEncryptedValue {
        /// The (vendor) attribute type.
        attribute: u8,
    },
    /// The request cannot be sent as RADIUS (e.g. a password over 128
    /// octets, RFC 2865 §5.2).
    UnsupportedRequest,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { len } => write!(f, "RADIUS datagram of {len} octets is truncated"),
            Error::BadLength { length, received } => {
                write!(f, "RADIUS Length {length} invalid for {received} octets")
            }
            Error::Oversized { len } => write!(f, "RADIUS datagram of {len} octets exceeds 4096"),
            Error::UnknownCode { code } => write!(f, "unknown RADIUS code {code}"),
            Error::AttributeTooShort { offset, length } => {
                write!(f, "RADIUS attribute at {offset} has length {length}")
            }
            Error::AttributePastEnd { offset, length } => write!(
                f,
                "RADIUS attribute at {offset} of length {length} runs past the packet"
            ),
            Error::BadVendorAttribute { length } => {
                write!(f, "malformed Vendor-Specific attribute ({length} octets)")
            }
            Error::BadAttributeValue { attribute, length } => {
                write!(f, "attribute {attribute} has a bad value ({length} octets)")
            }
            Error::ValueTooLong { attribute, length } => {
                write!(
                    f,
                    "value of {length} octets too long for attribute {attribute}"
                )
            }
            Error::BufferTooSmall { needed } => write!(f, "buffer too small ({needed} needed)"),
            Error::BadResponseAuthenticator => {
                f.write_str("RADIUS Response Authenticator mismatch")
            }
            Error::MissingMessageAuthenticator => {
                f.write_str("RADIUS response without Message-Authenticator refused")
            }
            Error::BadMessageAuthenticator => f.write_str("RADIUS Message-Authenticator invalid"),
            Error::UnexpectedResponse { identifier } => {
                write!(f, "RADIUS response {identifier} matches no request")
            }
            Error::DuplicateResponse { identifier } => {
                write!(f, "duplicate RADIUS response {identifier} dropped")
            }
            Error::UnexpectedCode { code } => write!(f, "RADIUS code {code} does not answer"),
            Error::WrongServer { server_index } => {
                write!(f, "response from server {server_index}, never asked")
            }
            Error::TooManyPending => f.write_str("too many RADIUS requests pending"),
            Error::NoServer => f.write_str("no RADIUS server configured"),
            Error::BadEncryptedValue { attribute } => {
                write!(f, "encrypted attribute {attribute} does not decrypt")
            }
            Error::UnsupportedRequest => f.write_str("request cannot be expressed in RADIUS"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
