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
//! ## Modules
//!
//! - [`keys`]: RFC 3079 key derivation (MS-CHAPv2, MS-CHAPv1 NT- and
//!   LM-based, RADIUS keys) and RFC 3078 §7.3 key changes.
//! - [`rc4`]: RC4 with a zeroizing state and in-place re-keying.
//! - [`wire`]: the 2-octet MPPE header and protocol number 0x00FD.
//! - [`session`]: per-direction [`Encrypter`] / [`Decrypter`], stateful
//!   and stateless, with counters; [`Mppe`] holds both for one end.
//! - [`policy`]: the CCP MPPE option (type 18) and the negotiation policy
//!   (PIX `mppe 40|128|auto [required]`, 56-bit, stateless preference).
//!
//! ## Example
//!
//! ```
//! use mppe::keys::{mschapv2_start_keys, Side};
//! use mppe::{Config, Decrypter, Encrypter, KeyStrength, Mode, HEADER_LEN};
//!
//! // From MS-CHAPv2: MD4(MD4(UTF-16LE password)) and the peer's
//! // NT-Response (RFC 3079 §3.5 sample values).
//! let password_hash_hash = [
//!     0x41, 0xc0, 0x0c, 0x58, 0x4b, 0xd2, 0xd9, 0x1c,
//!     0x40, 0x17, 0xa2, 0xa1, 0x2f, 0xa5, 0x9f, 0x3f,
//! ];
//! let nt_response = [
//!     0x82, 0x30, 0x9e, 0xcd, 0x8d, 0x70, 0x8b, 0x5e, 0xa0, 0x8f, 0xaa, 0x39,
//!     0x81, 0xcd, 0x83, 0x54, 0x42, 0x33, 0x11, 0x4a, 0x3d, 0x85, 0xd6, 0xdf,
//! ];
//! let server = mschapv2_start_keys(&password_hash_hash, &nt_response, Side::Server);
//! let client = mschapv2_start_keys(&password_hash_hash, &nt_response, Side::Client);
//!
//! // CCP agreed on 128-bit stateless (normally from `Policy::outcome`).
//! let config = Config::new(KeyStrength::Bits128, Mode::Stateless);
//! let mut tx = Encrypter::new(&server.send, config).map_err(|e| e.to_string())?;
//! let mut rx = Decrypter::new(&client.receive, config).map_err(|e| e.to_string())?;
//!
//! // Two octets of headroom, then PPP protocol (IPv4) and payload.
//! let mut packet = [0u8; HEADER_LEN + 6];
//! packet[HEADER_LEN..].copy_from_slice(&[0x00, 0x21, 0x45, 0x00, 0x00, 0x14]);
//! tx.encrypt_in_place(&mut packet).map_err(|e| e.to_string())?;
//! // `packet` now goes out as PPP protocol 0x00FD …
//! let decrypted = rx.decrypt_in_place(&mut packet).map_err(|e| e.to_string())?;
//! assert_eq!(&packet[HEADER_LEN..], &[0x00, 0x21, 0x45, 0x00, 0x00, 0x14]);
//! assert_eq!(decrypted.coherency_count, 0);
//! # Ok::<(), String>(())
//! ```
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

mod config;
pub mod keys;
pub mod policy;
pub mod rc4;
pub mod session;
pub mod wire;

pub use config::{Config, Mode, Negotiated, StatefulFlush};
pub use keys::{KeyError, KeySchedule, KeyStrength, MasterKey, Side, StartKey, StartKeys};
pub use policy::{
    ModePreference, NotAgreed, OptionError, PixEncryption, Policy, RequestResponse, Strengths,
    SupportedBits,
};
pub use session::{
    DecryptError, Decrypted, Decrypter, DecrypterStats, EncryptError, Encrypted, Encrypter,
    EncrypterStats, Mppe,
};
pub use wire::{Header, HeaderError, Packet, HEADER_LEN, PROTOCOL};
