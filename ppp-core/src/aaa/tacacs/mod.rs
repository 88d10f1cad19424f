//! TACACS+ client (RFC 8907): authentication (PAP, CHAP, MS-CHAPv1,
//! MS-CHAPv2 as inbound PPP logins), authorization of `service=ppp
//! protocol=ip` (address, DNS), and accounting start/watchdog/stop.
//!
//! [`client`] speaks the protocol on one TCP connection; [`pool`] is what
//! a NAS drives: a bounded job queue and connection table over clients,
//! with server failover and the single-connection policy (RFC 8907
//! §4.3), so that the host keeps only its TCP streams.
//!
//! ## Why not the `tacacs-plus-protocol` crate
//!
//! `tacacs-plus-protocol` 0.3.2 (MPL-2.0) is `no_std`/no-alloc and was
//! evaluated first. It was not adopted because (1) it pulls in four
//! dependencies outside this workspace's allowed set (`bitflags`,
//! `byteorder`, and the proc-macro crates `getset` and `num_enum`),
//! (2) its library code has `unwrap()`, `unreachable!()` and `panic!()`
//! on paths reachable from caller data (`packet.rs` chunk iteration,
//! `text.rs` `FieldText::assert`, length conversions in
//! `arguments.rs`/`authentication.rs`), which breaks this crate's
//! no-panic rule, and (3) it is MPL-2.0 while this workspace is MIT. The
//! protocol needed here (12-octet header, MD5 pad, six body layouts) is
//! small, so [`wire`] implements it with checked reads throughout.
//!
//! ## MPPE
//!
//! TACACS+ has no attribute for MPPE keys. A configuration that combines
//! TACACS+ with required MPPE is refused by [`TacacsConfig::new`] with
//! [`Error::MppeRequiresRadius`] (the origin document's PIX refuses the
//! same combination); with [`MppePolicy::Auto`] every accept carries
//! [`Note::Unencrypted`](crate::aaa::bridge::Note::Unencrypted).

use core::fmt;

pub mod client;
pub mod pool;
pub mod wire;

pub use crate::aaa::bridge::MppePolicy;
pub use client::{
    AccountingKind, AccountingRecord, AuthorizationOutcome, AuthorizationStatus, Event,
    SessionHandle, TacacsClient, TacacsConfig,
};
pub use pool::{ConnectionId, Outcome, SessionIds, TacacsPool};

/// What went wrong in TACACS+ encoding, decoding or session handling.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// Fewer than 12 octets for a header.
    Truncated {
        /// Octets available.
        len: usize,
    },
    /// Major version is not 0xc (RFC 8907 §4.1).
    BadVersion {
        /// The version octet.
        version: u8,
    },
    /// Type is not authentication, authorization or accounting.
    UnknownType {
        /// The type octet.
        packet_type: u8,
    },
    /// A body longer than [`wire::MAX_BODY_LEN`]: the connection must be
    /// closed (its framing can no longer be trusted).
    Oversized {
        /// The header's length field.
        length: u32,
    },
    /// A body whose fields do not fit its length.
    BadBody {
        /// The field that ran past the end (or "trailing octets").
        field: &'static str,
    },
    /// A field too long for its length octet(s).
    FieldTooLong {
        /// Which field.
        field: &'static str,
        /// Its length.
        length: usize,
    },
    /// More arguments than [`wire::MAX_ARGS`].
    TooManyArgs,
    /// The caller's buffer is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
    },
    /// A packet for a session id with no session.
    UnknownSession {
        /// The session id.
        session_id: u32,
    },
    /// A reply whose sequence number is not the one expected (RFC 8907
    /// §4.1: the session is terminated).
    BadSequence {
        /// The sequence number received.
        seq_no: u8,
        /// The one expected.
        expected: u8,
    },
    /// A reply of another packet type than the session's.
    UnexpectedType {
        /// The type octet.
        packet_type: u8,
    },
    /// A reply with the UNENCRYPTED flag while a key is configured
    /// (RFC 8907 §4.5: refused).
    Unobfuscated,
    /// All session slots are in use.
    TooManySessions,
    /// The session id is already in use.
    SessionIdInUse,
    /// The connection is broken (oversized frame); open a new one.
    ConnectionBroken,
    /// The key is empty or longer than the configured maximum.
    BadKey,
    /// TACACS+ cannot carry MPPE keys: `mppe required` needs RADIUS.
    MppeRequiresRadius,
    /// An MS-CHAP Change-Password (RFC 2759 §7, RFC 2433): RFC 8907 §5.4.2 lays
    /// out PPP data for PAP, CHAP and MS-CHAP Responses only, so a
    /// password change needs RADIUS or the local store.
    PasswordChangeUnsupported,
    /// A [`TacacsPool`] without servers.
    NoServer,
    /// More servers than the [`TacacsPool`] holds.
    TooManyServers {
        /// Its capacity.
        max: usize,
    },
    /// The [`TacacsPool`]'s job table is full: the new job is refused
    /// (the jobs already admitted keep their places).
    QueueFull,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::Truncated { len } => write!(f, "TACACS+ header truncated ({len} octets)"),
            Error::BadVersion { version } => {
                write!(f, "TACACS+ version {version:#04x} unsupported")
            }
            Error::UnknownType { packet_type } => write!(f, "unknown TACACS+ type {packet_type}"),
            Error::Oversized { length } => write!(f, "TACACS+ body of {length} octets too large"),
            Error::BadBody { field } => write!(f, "TACACS+ body field {field} runs past the end"),
            Error::FieldTooLong { field, length } => {
                write!(f, "TACACS+ field {field} of {length} octets too long")
            }
            Error::TooManyArgs => f.write_str("too many TACACS+ arguments"),
            Error::BufferTooSmall { needed } => write!(f, "buffer too small ({needed} needed)"),
            Error::UnknownSession { session_id } => {
                write!(f, "TACACS+ packet for unknown session {session_id:#010x}")
            }
            Error::BadSequence { seq_no, expected } => {
                write!(f, "TACACS+ sequence {seq_no}, expected {expected}")
            }
            Error::UnexpectedType { packet_type } => {
                write!(
                    f,
                    "TACACS+ reply of type {packet_type} does not match the session"
                )
            }
            Error::Unobfuscated => f.write_str("unobfuscated TACACS+ packet refused"),
            Error::TooManySessions => f.write_str("too many TACACS+ sessions"),
            Error::SessionIdInUse => f.write_str("TACACS+ session id in use"),
            Error::ConnectionBroken => f.write_str("TACACS+ connection broken"),
            Error::BadKey => f.write_str("TACACS+ key empty or too long"),
            Error::PasswordChangeUnsupported => {
                f.write_str("MS-CHAP password change cannot be expressed in TACACS+")
            }
            Error::MppeRequiresRadius => {
                f.write_str("TACACS+ cannot deliver MPPE keys: 'mppe required' needs RADIUS")
            }
            Error::NoServer => f.write_str("no TACACS+ server configured"),
            Error::TooManyServers { max } => write!(f, "more than {max} TACACS+ servers"),
            Error::QueueFull => f.write_str("TACACS+ job queue full"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
