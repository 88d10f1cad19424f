//! What CCP agreed and what each cipher direction runs with: [`Mode`],
//! [`StatefulFlush`], [`Config`] and the pair of them, [`Negotiated`].
//!
//! Its own module because both sides of the negotiation use these types:
//! [`crate::policy`] produces them from CCP's outcome and
//! [`crate::session`] consumes them. With the types here the dependency
//! runs one way, `policy -> config <- session`, and the cipher never needs
//! to know how CCP decided. The public paths stay where they were
//! (`mppe::session::Config`, `mppe::policy::Negotiated`, `mppe::Config`)
//! through re-exports.

use crate::keys::KeyStrength;

/// Stateful or stateless MPPE (CCP "H" bit, RFC 3078 §2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Mode {
    /// Key change every 256 packets; loss needs a CCP Reset-Request.
    Stateful,
    /// Key change every packet ("H" bit, "stateless" / "historyless").
    Stateless,
}

/// What the A ("flushed") bit means in stateful mode.
///
/// RFC 3078 (§3.1, §8.2) says the sender re-initialises its RC4 state with the
/// *current* session key when it flushes (after a CCP Reset-Request, and on
/// the first packet), and changes the key only on flag packets.
/// pppd + the Linux kernel (`ppp_mppe`, which interoperate with Windows) do
/// otherwise: every packet with A set is preceded by a key change (flag
/// packets and the packet after a Reset-Request), and the first packet has
/// no A. The two readings agree while nothing is lost and differ after a
/// reset, so both ends must use the same one.
///
/// The deployed reading has a weakness the RFC one does not: a receiver
/// cannot count key changes carried by flushed packets it never saw. If a
/// flushed packet answering a Reset-Request is lost and a later one
/// arrives, the receiver ends up one key behind and decrypts garbage (MPPE
/// has no integrity check) until CCP is renegotiated. With
/// [`StatefulFlush::Reinitialise`] only flag packets change keys, and those
/// are counted from the coherency count, so losses never desynchronise.
/// Stateless mode has neither problem.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StatefulFlush {
    /// Deployed behaviour (pppd/Linux `ppp_mppe`): A means "the key was
    /// changed before this packet". The default.
    KeyChange,
    /// RFC 3078 literal reading: A on a non-flag packet means "RC4 was
    /// re-initialised with the current key"; the first packet carries A.
    Reinitialise,
}

/// Per-direction MPPE parameters, normally from CCP's result
/// ([`Negotiated`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Key strength.
    pub strength: KeyStrength,
    /// Stateful or stateless.
    pub mode: Mode,
    /// Meaning of the A bit in stateful mode.
    pub stateful_flush: StatefulFlush,
    /// Stateless receive: most key changes one packet may cause (clamped
    /// to 2..=4095). Default 256. A packet further ahead is dropped after
    /// this many changes, so a receiver behind by `d` catches up with a
    /// sender in about `d / (bound - 1)` packets.
    pub max_rekeys_per_packet: u16,
}

/// "128-bit stateless": how the PIX's `show vpdn` and the hosts' logs
/// name a direction's MPPE.
impl core::fmt::Display for Config {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        let bits = match self.strength {
            KeyStrength::Bits40 => 40,
            KeyStrength::Bits56 => 56,
            KeyStrength::Bits128 => 128,
        };
        let mode = match self.mode {
            Mode::Stateless => "stateless",
            Mode::Stateful => "stateful",
        };
        write!(f, "{bits}-bit {mode}")
    }
}

impl Config {
    /// Default bound on key changes per received stateless packet.
    pub const DEFAULT_MAX_REKEYS: u16 = 256;
    /// Stateful, [`StatefulFlush::KeyChange`]: most extra key changes
    /// [`crate::Decrypter::decrypt_in_place_checked`] tries on one flushed
    /// packet (one per lost flushed packet since the last one seen).
    pub const MAX_RECOVERED_KEY_CHANGES: u16 = 4;

    /// A configuration with the default stateful flush meaning and rekey
    /// bound.
    pub const fn new(strength: KeyStrength, mode: Mode) -> Self {
        Config {
            strength,
            mode,
            stateful_flush: StatefulFlush::KeyChange,
            max_rekeys_per_packet: Self::DEFAULT_MAX_REKEYS,
        }
    }
}

/// MPPE as agreed, per direction (from [`crate::Policy::outcome`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Negotiated {
    /// For our [`crate::Encrypter`] (from the peer's acknowledged request).
    pub send: Config,
    /// For our [`crate::Decrypter`] (from our acknowledged request).
    pub receive: Config,
}

#[cfg(test)]
mod display_tests {
    use super::*;
    extern crate std;
    use std::format;

    #[test]
    fn config_prints_as_show_vpdn_does() {
        let c = Config::new(KeyStrength::Bits128, Mode::Stateless);
        assert_eq!(format!("{c}"), "128-bit stateless");
        let c = Config::new(KeyStrength::Bits40, Mode::Stateful);
        assert_eq!(format!("{c}"), "40-bit stateful");
    }
}
