//! MPPE negotiation policy for CCP (RFC 3078 §2, RFC 1962).
//!
//! The CCP option (type 18, length 6) carries 32 "Supported Bits":
//!
//! ```text
//!  bit      name  meaning
//!  0x01000000  H  stateless mode ("historyless")
//!  0x00000080  M  56-bit keys
//!  0x00000040  S  128-bit keys
//!  0x00000020  L  40-bit keys
//!  0x00000010  D  obsolete, never offered or accepted here
//!  0x00000001  C  MPPC compression (RFC 2118), not supported here
//! ```
//!
//! As with every CCP option, a Configure-Request names what its *sender*
//! will receive (RFC 1962 §4): our acknowledged request sets our receive
//! direction, the peer's acknowledged request our send direction.
//!
//! RFC 3078 §2: a peer offers every strength it supports in its first
//! request; the receiver Naks with the single bit it wants, and a request
//! with exactly one strength bit can be Acked. Deployed peers:
//! - **pppd** offers all strengths it allows and, as receiver, Naks with the
//!   strongest one both allow (128 > 56 > 40); it refuses stateful mode
//!   unless told otherwise, Nak'ing with H.
//! - **Windows** offers what its policy allows (often S|L, with H) and Naks
//!   in the same way.
//! - **The Cisco PIX** (`vpdn group N ppp encryption mppe 40|128|auto
//!   [required]`) offers 40, 128 or both, stateless.
//!
//! [`Policy`] holds those knobs; its methods give CCP's answers.

use core::fmt;

// Re-exported: `mppe::policy::Negotiated` is where callers found it before
// it moved to `config` to break the session <-> policy import loop.
pub use crate::config::Negotiated;
use crate::config::{Config, Mode, StatefulFlush};
use crate::keys::KeyStrength;

/// CCP option type of MPPE/MPPC (RFC 3078 §2).
pub const OPTION_TYPE: u8 = 18;
/// CCP option length of MPPE/MPPC (type, length, 4 octets of bits).
pub const OPTION_LEN: u8 = 6;

/// The MPPE option's 32 Supported Bits.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SupportedBits(pub u32);

/// Errors parsing the MPPE option value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum OptionError {
    /// The option value is not 4 octets.
    BadLength {
        /// The value length given.
        len: usize,
    },
}

impl fmt::Display for OptionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OptionError::BadLength { len } => {
                write!(f, "MPPE option value of {len} octets, 4 expected")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for OptionError {}

impl SupportedBits {
    /// H: stateless mode.
    pub const STATELESS: u32 = 0x0100_0000;
    /// M: 56-bit.
    pub const BITS_56: u32 = 0x80;
    /// S: 128-bit.
    pub const BITS_128: u32 = 0x40;
    /// L: 40-bit.
    pub const BITS_40: u32 = 0x20;
    /// D: obsolete.
    pub const OBSOLETE_D: u32 = 0x10;
    /// C: MPPC compression.
    pub const MPPC: u32 = 0x01;
    /// Every bit RFC 3078 defines.
    pub const KNOWN: u32 = Self::STATELESS
        | Self::BITS_56
        | Self::BITS_128
        | Self::BITS_40
        | Self::OBSOLETE_D
        | Self::MPPC;

    /// Parses the option *value* (the 4 octets after type and length).
    pub fn parse(value: &[u8]) -> Result<Self, OptionError> {
        let bytes: [u8; 4] = value
            .try_into()
            .map_err(|_| OptionError::BadLength { len: value.len() })?;
        Ok(SupportedBits(u32::from_be_bytes(bytes)))
    }

    /// The 4 value octets, network order.
    pub fn to_bytes(self) -> [u8; 4] {
        self.0.to_be_bytes()
    }

    /// The whole option: type 18, length 6, value.
    pub fn to_option(self) -> [u8; 6] {
        let v = self.to_bytes();
        [OPTION_TYPE, OPTION_LEN, v[0], v[1], v[2], v[3]]
    }

    /// Bits from a strength set and the stateless flag.
    pub fn new(strengths: Strengths, stateless: bool) -> Self {
        let mut bits = 0;
        if strengths.bits40 {
            bits |= Self::BITS_40;
        }
        if strengths.bits56 {
            bits |= Self::BITS_56;
        }
        if strengths.bits128 {
            bits |= Self::BITS_128;
        }
        if stateless {
            bits |= Self::STATELESS;
        }
        SupportedBits(bits)
    }

    /// The strengths named.
    pub fn strengths(self) -> Strengths {
        Strengths {
            bits40: self.0 & Self::BITS_40 != 0,
            bits56: self.0 & Self::BITS_56 != 0,
            bits128: self.0 & Self::BITS_128 != 0,
        }
    }

    /// H set.
    pub fn stateless(self) -> bool {
        self.0 & Self::STATELESS != 0
    }

    /// The mode H selects.
    pub fn mode(self) -> Mode {
        if self.stateless() {
            Mode::Stateless
        } else {
            Mode::Stateful
        }
    }

    /// C, D or bits RFC 3078 does not define are set.
    pub fn has_unsupported(self) -> bool {
        self.0 & (Self::MPPC | Self::OBSOLETE_D | !Self::KNOWN) != 0
    }
}

/// A set of key strengths.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Strengths {
    /// 40-bit allowed/offered.
    pub bits40: bool,
    /// 56-bit allowed/offered.
    pub bits56: bool,
    /// 128-bit allowed/offered.
    pub bits128: bool,
}

impl Strengths {
    /// No strength.
    pub const NONE: Strengths = Strengths {
        bits40: false,
        bits56: false,
        bits128: false,
    };
    /// All three.
    pub const ALL: Strengths = Strengths {
        bits40: true,
        bits56: true,
        bits128: true,
    };

    /// Exactly `strength`.
    pub const fn only(strength: KeyStrength) -> Strengths {
        Strengths {
            bits40: matches!(strength, KeyStrength::Bits40),
            bits56: matches!(strength, KeyStrength::Bits56),
            bits128: matches!(strength, KeyStrength::Bits128),
        }
    }

    /// Whether `strength` is in the set.
    pub fn contains(self, strength: KeyStrength) -> bool {
        match strength {
            KeyStrength::Bits40 => self.bits40,
            KeyStrength::Bits56 => self.bits56,
            KeyStrength::Bits128 => self.bits128,
        }
    }

    /// Both sets.
    pub fn intersect(self, other: Strengths) -> Strengths {
        Strengths {
            bits40: self.bits40 && other.bits40,
            bits56: self.bits56 && other.bits56,
            bits128: self.bits128 && other.bits128,
        }
    }

    /// Empty set.
    pub fn is_empty(self) -> bool {
        !(self.bits40 || self.bits56 || self.bits128)
    }

    /// Strongest member (128 > 56 > 40), as pppd picks.
    pub fn strongest(self) -> Option<KeyStrength> {
        if self.bits128 {
            Some(KeyStrength::Bits128)
        } else if self.bits56 {
            Some(KeyStrength::Bits56)
        } else if self.bits40 {
            Some(KeyStrength::Bits40)
        } else {
            None
        }
    }

    /// The only member, if there is exactly one.
    pub fn single(self) -> Option<KeyStrength> {
        match (self.bits40, self.bits56, self.bits128) {
            (true, false, false) => Some(KeyStrength::Bits40),
            (false, true, false) => Some(KeyStrength::Bits56),
            (false, false, true) => Some(KeyStrength::Bits128),
            _ => None,
        }
    }
}

/// Stateless/stateful preference.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ModePreference {
    /// Only stateless (pppd's default; what the PIX and Windows use).
    StatelessOnly,
    /// Request stateless, accept a peer's stateful request.
    PreferStateless,
    /// Request stateful, accept a peer's stateless request.
    PreferStateful,
    /// Only stateful.
    StatefulOnly,
}

impl ModePreference {
    fn requests_stateless(self) -> bool {
        matches!(
            self,
            ModePreference::StatelessOnly | ModePreference::PreferStateless
        )
    }

    fn accepts(self, stateless: bool) -> bool {
        match self {
            ModePreference::StatelessOnly => stateless,
            ModePreference::StatefulOnly => !stateless,
            ModePreference::PreferStateless | ModePreference::PreferStateful => true,
        }
    }
}

/// The PIX's `vpdn group N ppp encryption mppe 40|128|auto` choice.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum PixEncryption {
    /// `mppe 40`.
    Bits40,
    /// `mppe 128`.
    Bits128,
    /// `mppe auto`: 40 or 128, whichever the peer does (128 preferred).
    Auto,
}

/// Local MPPE policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Policy {
    /// Strengths we accept. Empty = MPPE disabled.
    pub strengths: Strengths,
    /// `required`: the link must end if MPPE is not agreed in both
    /// directions ("mppe required but not active").
    pub required: bool,
    /// Stateless/stateful preference.
    pub mode: ModePreference,
    /// Meaning of the A bit if stateful mode is agreed (both ends must
    /// match; see [`StatefulFlush`]).
    pub stateful_flush: StatefulFlush,
    /// Stateless receive bound, copied into [`Config::max_rekeys_per_packet`].
    pub max_rekeys_per_packet: u16,
}

/// Answer to the peer's MPPE option in its Configure-Request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestResponse {
    /// Acknowledge as offered.
    Ack,
    /// Nak, suggesting these bits.
    Nak(SupportedBits),
    /// Reject the option (MPPE disabled here).
    Reject,
}

/// Why MPPE is not active when CCP finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum NotAgreed {
    /// Policy says `required` but MPPE is missing in at least one
    /// direction: the link must be terminated.
    RequiredButNotActive,
    /// MPPE was agreed in one direction only. Not required, but a half
    /// encrypted link is not useful: close CCP (and run unencrypted).
    OneDirectionOnly,
    /// An acknowledged option does not name exactly one strength we allow,
    /// or asks for MPPC: a peer that Acked (or sent) something this policy
    /// would never produce.
    InvalidBits {
        /// The offending bits.
        bits: SupportedBits,
    },
}

impl fmt::Display for NotAgreed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotAgreed::RequiredButNotActive => f.write_str("mppe required but not active"),
            NotAgreed::OneDirectionOnly => f.write_str("mppe agreed in one direction only"),
            NotAgreed::InvalidBits { bits } => {
                write!(f, "mppe option bits {:#010x} not usable", bits.0)
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for NotAgreed {}

impl Policy {
    /// MPPE off.
    pub const fn disabled() -> Self {
        Policy {
            strengths: Strengths::NONE,
            required: false,
            mode: ModePreference::StatelessOnly,
            stateful_flush: StatefulFlush::KeyChange,
            max_rekeys_per_packet: Config::DEFAULT_MAX_REKEYS,
        }
    }

    /// The PIX knobs: `mppe 40|128|auto [required]`, stateless (as the PIX
    /// negotiates in the origin document's traces).
    pub const fn pix(encryption: PixEncryption, required: bool) -> Self {
        let strengths = match encryption {
            PixEncryption::Bits40 => Strengths::only(KeyStrength::Bits40),
            PixEncryption::Bits128 => Strengths::only(KeyStrength::Bits128),
            PixEncryption::Auto => Strengths {
                bits40: true,
                bits56: false,
                bits128: true,
            },
        };
        Policy {
            strengths,
            required,
            mode: ModePreference::StatelessOnly,
            stateful_flush: StatefulFlush::KeyChange,
            max_rekeys_per_packet: Config::DEFAULT_MAX_REKEYS,
        }
    }

    /// Whether MPPE is enabled at all.
    pub fn enabled(&self) -> bool {
        !self.strengths.is_empty()
    }

    /// Bits for our first Configure-Request: every strength we allow, plus
    /// H when we prefer stateless (RFC 3078 §2). `None` = do not request
    /// MPPE.
    pub fn initial_request(&self) -> Option<SupportedBits> {
        if !self.enabled() {
            return None;
        }
        Some(SupportedBits::new(
            self.strengths,
            self.mode.requests_stateless(),
        ))
    }

    /// Our answer to the MPPE option in the peer's Configure-Request.
    ///
    /// Ack when it names exactly one strength we allow, a mode we accept and
    /// nothing else; otherwise Nak with the strongest common strength (or
    /// our strongest, when there is none in common) and the mode we accept;
    /// Reject when MPPE is disabled.
    pub fn respond(&self, offered: SupportedBits) -> RequestResponse {
        let Some(our_best) = self.strengths.strongest() else {
            return RequestResponse::Reject;
        };
        let common = offered.strengths().intersect(self.strengths);
        let chosen = common.strongest().unwrap_or(our_best);
        let stateless = if self.mode.accepts(offered.stateless()) {
            offered.stateless()
        } else {
            !offered.stateless()
        };
        let acceptable = offered.strengths().single() == Some(chosen)
            && common.contains(chosen)
            && stateless == offered.stateless()
            && !offered.has_unsupported();
        if acceptable {
            RequestResponse::Ack
        } else {
            RequestResponse::Nak(SupportedBits::new(Strengths::only(chosen), stateless))
        }
    }

    /// Our next request after the peer Nak'ed ours with `nak`; `None` when
    /// nothing in it is acceptable (stop requesting MPPE; see
    /// [`Policy::on_reject`]).
    pub fn on_nak(&self, nak: SupportedBits) -> Option<SupportedBits> {
        let chosen = nak.strengths().intersect(self.strengths).strongest()?;
        if !self.mode.accepts(nak.stateless()) {
            return None;
        }
        Some(SupportedBits::new(Strengths::only(chosen), nak.stateless()))
    }

    /// The peer rejected MPPE (or [`Policy::on_nak`] gave up): fine unless
    /// MPPE is required.
    pub fn on_reject(&self) -> Result<(), NotAgreed> {
        if self.required {
            Err(NotAgreed::RequiredButNotActive)
        } else {
            Ok(())
        }
    }

    fn direction(&self, bits: SupportedBits) -> Result<Config, NotAgreed> {
        let strength = bits
            .strengths()
            .single()
            .filter(|s| self.strengths.contains(*s))
            .ok_or(NotAgreed::InvalidBits { bits })?;
        if bits.0 & SupportedBits::MPPC != 0 || !self.mode.accepts(bits.stateless()) {
            return Err(NotAgreed::InvalidBits { bits });
        }
        let mut config = Config::new(strength, bits.mode());
        config.stateful_flush = self.stateful_flush;
        config.max_rekeys_per_packet = self.max_rekeys_per_packet;
        Ok(config)
    }

    /// The final mode when CCP reaches Opened: `ours_acked` is our
    /// acknowledged MPPE option (None if we did not request MPPE or it was
    /// rejected), `peers_acked` the peer's request we Acked.
    ///
    /// `Ok(None)`: no MPPE, and that is allowed. `Err`: see [`NotAgreed`];
    /// [`NotAgreed::RequiredButNotActive`] means the link must end.
    pub fn outcome(
        &self,
        ours_acked: Option<SupportedBits>,
        peers_acked: Option<SupportedBits>,
    ) -> Result<Option<Negotiated>, NotAgreed> {
        match (ours_acked, peers_acked) {
            (Some(ours), Some(peers)) => Ok(Some(Negotiated {
                send: self.direction(peers)?,
                receive: self.direction(ours)?,
            })),
            _ if self.required => Err(NotAgreed::RequiredButNotActive),
            (None, None) => Ok(None),
            _ => Err(NotAgreed::OneDirectionOnly),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: u32 = SupportedBits::STATELESS;
    const M: u32 = SupportedBits::BITS_56;
    const S: u32 = SupportedBits::BITS_128;
    const L: u32 = SupportedBits::BITS_40;
    const C: u32 = SupportedBits::MPPC;
    const D: u32 = SupportedBits::OBSOLETE_D;

    fn pix40() -> Policy {
        Policy::pix(PixEncryption::Bits40, false)
    }
    fn pix128() -> Policy {
        Policy::pix(PixEncryption::Bits128, false)
    }
    fn auto() -> Policy {
        Policy::pix(PixEncryption::Auto, false)
    }
    fn auto_req() -> Policy {
        Policy::pix(PixEncryption::Auto, true)
    }
    fn all_stateful_ok() -> Policy {
        Policy {
            strengths: Strengths::ALL,
            mode: ModePreference::PreferStateless,
            ..Policy::disabled()
        }
    }
    fn stateful_only() -> Policy {
        Policy {
            strengths: Strengths::ALL,
            mode: ModePreference::StatefulOnly,
            ..Policy::disabled()
        }
    }

    #[test]
    fn option_bytes() {
        // The capture's CCP agreed on 0x01000040 (MPPE-128 stateless).
        let bits = SupportedBits::parse(&[0x01, 0x00, 0x00, 0x40]).unwrap();
        assert_eq!(bits, SupportedBits(H | S));
        assert!(bits.stateless());
        assert_eq!(bits.strengths().single(), Some(KeyStrength::Bits128));
        assert_eq!(bits.to_option(), [18, 6, 0x01, 0, 0, 0x40]);
        assert_eq!(
            SupportedBits::parse(&[1, 2, 3]),
            Err(OptionError::BadLength { len: 3 })
        );
        assert_eq!(
            SupportedBits::parse(&[1, 2, 3, 4, 5]),
            Err(OptionError::BadLength { len: 5 })
        );
        assert!(SupportedBits(S | C).has_unsupported());
        assert!(SupportedBits(S | 0x0200_0000).has_unsupported());
        assert!(!SupportedBits(S | H | L | M).has_unsupported());
    }

    /// (policy, peer's request) → our answer.
    #[test]
    fn respond_matrix() {
        use RequestResponse::*;
        let nak = |b| Nak(SupportedBits(b));
        let table: &[(&str, Policy, u32, RequestResponse)] = &[
            ("40 acks 40", pix40(), H | L, Ack),
            ("40 naks 128-only to 40", pix40(), H | S, nak(H | L)),
            ("40 picks 40 from all", pix40(), H | S | M | L, nak(H | L)),
            ("128 acks 128", pix128(), H | S, Ack),
            ("128 naks 40 to 128", pix128(), H | L, nak(H | S)),
            ("auto picks strongest", auto(), H | S | L, nak(H | S)),
            ("auto acks 40", auto(), H | L, Ack),
            ("auto naks 56 (not allowed)", auto(), H | M, nak(H | S)),
            ("required changes nothing here", auto_req(), H | S, Ack),
            ("stateless-only naks stateful", auto(), S, nak(H | S)),
            ("MPPC bit is naked away", auto(), H | S | C, nak(H | S)),
            ("D bit is naked away", auto(), H | S | D, nak(H | S)),
            (
                "unknown bit is naked away",
                auto(),
                H | S | 0x100,
                nak(H | S),
            ),
            ("MPPC only", auto(), C, nak(H | S)),
            ("empty", pix128(), 0, nak(H | S)),
            ("disabled rejects", Policy::disabled(), H | S, Reject),
            ("prefer-stateless acks stateful", all_stateful_ok(), S, Ack),
            ("prefer-stateless acks 56", all_stateful_ok(), M | H, Ack),
            ("stateful-only naks H", stateful_only(), H | S, nak(S)),
            ("stateful-only acks stateful 40", stateful_only(), L, Ack),
        ];
        for (name, policy, offered, want) in table {
            assert_eq!(policy.respond(SupportedBits(*offered)), *want, "{name}");
        }
    }

    #[test]
    fn requests_and_naks() {
        assert_eq!(pix40().initial_request(), Some(SupportedBits(H | L)));
        assert_eq!(auto().initial_request(), Some(SupportedBits(H | S | L)));
        assert_eq!(
            stateful_only().initial_request(),
            Some(SupportedBits(S | M | L))
        );
        assert_eq!(Policy::disabled().initial_request(), None);
        // A Nak naming something we allow → request exactly that.
        assert_eq!(
            auto().on_nak(SupportedBits(H | L)),
            Some(SupportedBits(H | L))
        );
        assert_eq!(
            auto().on_nak(SupportedBits(H | S | L)),
            Some(SupportedBits(H | S))
        );
        // Nothing acceptable → give up on MPPE.
        assert_eq!(pix128().on_nak(SupportedBits(H | L)), None);
        assert_eq!(pix128().on_nak(SupportedBits(S)), None);
        assert_eq!(
            all_stateful_ok().on_nak(SupportedBits(S)),
            Some(SupportedBits(S))
        );
        assert_eq!(pix128().on_reject(), Ok(()));
        assert_eq!(
            Policy::pix(PixEncryption::Bits128, true).on_reject(),
            Err(NotAgreed::RequiredButNotActive)
        );
    }

    type Outcome = Result<Option<Negotiated>, NotAgreed>;

    /// Runs both request/response exchanges between two policies as CCP
    /// would (bounded rounds), then both outcomes.
    fn negotiate(
        a: Policy,
        b: Policy,
    ) -> (
        Result<Option<Negotiated>, NotAgreed>,
        Result<Option<Negotiated>, NotAgreed>,
    ) {
        // Direction 1: a requests, b answers.
        fn exchange(req: Policy, resp: Policy) -> Option<SupportedBits> {
            let mut bits = req.initial_request()?;
            for _ in 0..5 {
                match resp.respond(bits) {
                    RequestResponse::Ack => return Some(bits),
                    RequestResponse::Reject => return None,
                    RequestResponse::Nak(n) => bits = req.on_nak(n)?,
                }
            }
            None
        }
        let a_req = exchange(a, b);
        let b_req = exchange(b, a);
        (a.outcome(a_req, b_req), b.outcome(b_req, a_req))
    }

    #[test]
    fn negotiation_matrix() {
        let k = |strength, mode| Config::new(strength, mode);
        let both = |c: Config| {
            Ok(Some(Negotiated {
                send: c,
                receive: c,
            }))
        };
        use KeyStrength::*;
        use Mode::*;
        let table: &[(&str, Policy, Policy, Outcome)] = &[
            ("auto vs auto", auto(), auto(), both(k(Bits128, Stateless))),
            ("auto vs 40", auto(), pix40(), both(k(Bits40, Stateless))),
            ("128 vs auto", pix128(), auto(), both(k(Bits128, Stateless))),
            ("40 vs 128", pix40(), pix128(), Ok(None)),
            (
                "40 required vs 128",
                Policy::pix(PixEncryption::Bits40, true),
                pix128(),
                Err(NotAgreed::RequiredButNotActive),
            ),
            ("auto vs disabled", auto(), Policy::disabled(), Ok(None)),
            (
                "auto required vs disabled",
                auto_req(),
                Policy::disabled(),
                Err(NotAgreed::RequiredButNotActive),
            ),
            (
                "all/prefer-stateless vs stateful-only",
                all_stateful_ok(),
                stateful_only(),
                both(k(Bits128, Stateful)),
            ),
            (
                "stateless-only vs stateful-only",
                auto(),
                stateful_only(),
                Ok(None),
            ),
            (
                "56 only both sides",
                Policy {
                    strengths: Strengths::only(Bits56),
                    required: true,
                    ..Policy::disabled()
                },
                all_stateful_ok(),
                both(k(Bits56, Stateless)),
            ),
        ];
        for (name, a, b, want) in table {
            let (got_a, _) = negotiate(*a, *b);
            assert_eq!(got_a, *want, "{name}");
        }
        // The default flush meaning is the deployed one.
        assert_eq!(k(Bits40, Stateful).stateful_flush, StatefulFlush::KeyChange);
    }

    #[test]
    fn outcome_rejects_bad_acked_bits() {
        let p = auto();
        assert_eq!(
            p.outcome(Some(SupportedBits(H | S | L)), Some(SupportedBits(H | S))),
            Err(NotAgreed::InvalidBits {
                bits: SupportedBits(H | S | L)
            })
        );
        assert_eq!(
            p.outcome(Some(SupportedBits(H | S)), Some(SupportedBits(H | M))),
            Err(NotAgreed::InvalidBits {
                bits: SupportedBits(H | M)
            })
        );
        assert_eq!(
            p.outcome(Some(SupportedBits(H | S)), None),
            Err(NotAgreed::OneDirectionOnly)
        );
        assert_eq!(
            auto_req().outcome(None, Some(SupportedBits(H | S))),
            Err(NotAgreed::RequiredButNotActive)
        );
        let mut text = String::new();
        use core::fmt::Write;
        write!(text, "{}", NotAgreed::RequiredButNotActive).unwrap();
        assert_eq!(text, "mppe required but not active");
    }
}
