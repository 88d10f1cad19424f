//! Time as plain values passed in by the host.
//!
//! The core crates never read a clock. The host keeps one monotonic clock
//! (for example `std::time::Instant` at start-up) and passes "milliseconds
//! since that origin" into every call that needs the time. Timers leave the
//! machines as an [`Instant`] returned by `poll_timeout`: "call
//! `handle_timeout` at or after this time".
//!
//! Milliseconds in a `u64` cover 584 million years, and every timer in
//! PPTP and PPP (ack timeouts, restart timers, keepalives) is specified in
//! seconds or hundreds of milliseconds, so millisecond resolution loses
//! nothing. Arithmetic saturates: a host clock that misbehaves can never
//! cause an overflow panic.
//!
//! This is the one time type of the three crates: `pptp-core` re-exports
//! this module as `pptp_core::time`, so a host passes the same value to
//! every machine (smoltcp's single `time.rs` is the model).

use core::fmt;
use core::ops::{Add, AddAssign, Sub};

/// A point in time: milliseconds since an origin the host chooses.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Instant(u64);

/// A span of time in milliseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Duration(u64);

/// An optional millisecond value in 8 octets instead of 16: `u64::MAX`
/// (585 million years) stands for none. For state kept per parked session
/// ([`crate::link::ParkedLink`]), where every octet counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct PackedMillis(u64);

impl PackedMillis {
    #[cfg_attr(not(feature = "mppe"), allow(dead_code))]
    pub(crate) const NONE: PackedMillis = PackedMillis(u64::MAX);

    fn pack(millis: Option<u64>) -> Self {
        PackedMillis(millis.map_or(u64::MAX, |m| m.min(u64::MAX - 1)))
    }

    fn millis(self) -> Option<u64> {
        (self.0 != u64::MAX).then_some(self.0)
    }

    #[cfg_attr(not(feature = "mppe"), allow(dead_code))]
    pub(crate) fn from_instant(t: Option<Instant>) -> Self {
        Self::pack(t.map(Instant::as_millis))
    }

    #[cfg_attr(not(feature = "mppe"), allow(dead_code))]
    pub(crate) fn instant(self) -> Option<Instant> {
        self.millis().map(Instant::from_millis)
    }

    pub(crate) fn from_duration(d: Option<Duration>) -> Self {
        Self::pack(d.map(Duration::as_millis))
    }

    pub(crate) fn duration(self) -> Option<Duration> {
        self.millis().map(Duration::from_millis)
    }
}

impl Instant {
    /// The host's origin (time zero).
    pub const ZERO: Instant = Instant(0);

    /// An instant `millis` milliseconds after the host's origin.
    pub const fn from_millis(millis: u64) -> Self {
        Instant(millis)
    }

    /// Milliseconds since the host's origin.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Time elapsed from `earlier` to `self`, zero if `earlier` is later.
    pub const fn saturating_duration_since(self, earlier: Instant) -> Duration {
        Duration(self.0.saturating_sub(earlier.0))
    }
}

impl Duration {
    /// No time at all.
    pub const ZERO: Duration = Duration(0);

    /// A duration of `millis` milliseconds.
    pub const fn from_millis(millis: u64) -> Self {
        Duration(millis)
    }

    /// A duration of `secs` seconds.
    pub const fn from_secs(secs: u64) -> Self {
        Duration(secs.saturating_mul(1000))
    }

    /// Length in milliseconds.
    pub const fn as_millis(self) -> u64 {
        self.0
    }

    /// Length in whole seconds (rounded down).
    pub const fn as_secs(self) -> u64 {
        self.0 / 1000
    }

    /// `self * factor`, saturating.
    pub const fn saturating_mul(self, factor: u64) -> Duration {
        Duration(self.0.saturating_mul(factor))
    }
}

impl Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, rhs: Duration) -> Instant {
        Instant(self.0.saturating_add(rhs.0))
    }
}

impl AddAssign<Duration> for Instant {
    fn add_assign(&mut self, rhs: Duration) {
        self.0 = self.0.saturating_add(rhs.0);
    }
}

impl Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, rhs: Instant) -> Duration {
        self.saturating_duration_since(rhs)
    }
}

impl Add for Duration {
    type Output = Duration;
    fn add(self, rhs: Duration) -> Duration {
        Duration(self.0.saturating_add(rhs.0))
    }
}

impl fmt::Display for Instant {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

impl fmt::Display for Duration {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{:03}s", self.0 / 1000, self.0 % 1000)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arithmetic_saturates_instead_of_panicking() {
        let end = Instant::from_millis(u64::MAX);
        assert_eq!(end + Duration::from_secs(u64::MAX), end);
        assert_eq!(Instant::ZERO - end, Duration::ZERO);
        assert_eq!(Duration::from_secs(u64::MAX).as_millis(), u64::MAX);
    }

    #[test]
    fn conversions_round_trip() {
        let t = Instant::from_millis(61_250);
        assert_eq!(t.as_millis(), 61_250);
        assert_eq!((t - Instant::from_millis(1_250)).as_secs(), 60);
        assert_eq!(Duration::from_secs(60).as_millis(), 60_000);
    }
}
