//! # mppe: Microsoft Point-to-Point Encryption (RFC 3078, RFC 3079)
//!
//! Key derivation from MS-CHAPv1/v2 material or from keys a RADIUS server
//! handed over, and the in-place RC4 cipher with coherency counts, stateful
//! and stateless key changes, flushing and CCP Reset-Request
//! resynchronisation.
//!
//! `#![no_std]`, no allocator, no `unsafe`. Keys and RC4 state are zeroized
//! on drop and on rekey.
//!
//! ## Conventions shared by `pptp-core`, `ppp-core` and `mppe`
//!
//! **Layout.** `wire` holds the MPPE header view; the cipher state lives
//! outside it.
//!
//! **Errors.** One `#[non_exhaustive]` enum per layer, `Copy`, `Display`
//! without allocating; `std::error::Error` with the `std` feature.
//!
//! **Data path.** Like boringtun: the caller's buffer is encrypted or
//! decrypted in place, and the result says what to do next. MPPE has no
//! timers of its own, so there is no `poll_timeout`; resynchronisation
//! requests surface as values for ppp-core's CCP to carry.
// Tests use std (Vec, format!, the toml parser); the library never does.
#![cfg_attr(not(test), no_std)]
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(all(feature = "std", not(test)))]
extern crate std;

pub mod keys;
pub mod policy;
pub mod rc4;
pub mod session;
pub mod wire;

pub use keys::{KeyError, KeySchedule, KeyStrength, MasterKey, Side, StartKey, StartKeys};
pub use policy::{
    ModePreference, Negotiated, NotAgreed, OptionError, PixEncryption, Policy, RequestResponse,
    Strengths, SupportedBits,
};
pub use session::{
    Config, DecryptError, Decrypted, Decrypter, DecrypterStats, EncryptError, Encrypted, Encrypter,
    EncrypterStats, Mode, StatefulFlush,
};
pub use wire::{Header, HeaderError, Packet, HEADER_LEN, PROTOCOL};
