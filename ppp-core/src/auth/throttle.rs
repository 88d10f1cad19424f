//! Login throttling: per-user and per-source failure counters with
//! exponential back-off and a temporary block, in fixed memory.
//!
//! An attacker once made 11,981 wrong MS-CHAPv2 guesses per second
//! against one user for 30 s: every guess was tested, answered at once
//! and logged. [`LoginThrottle`] makes guessing slow and then impossible
//! for a while, without telling the guesser anything:
//!
//! - **A user's attempts are counted before the verdict.**
//!   [`LoginThrottle::begin`] is asked when a Response arrives, before the
//!   verifier or the AAA server sees it, and counts the attempt against
//!   the user name as a failure at once ("pessimistic"); a success takes
//!   it back ([`LoginThrottle::succeeded`]). So guesses in flight in
//!   parallel (many connections, a slow AAA server) are counted too, and
//!   no more than `block_after` guesses at one name are tested per block.
//!   A source's failures are counted when the verdict comes
//!   ([`LoginThrottle::failed`]): many logins in flight from one address
//!   are normal (an office behind NAT, a load generator), many for one
//!   name are not.
//! - **Back-off.** After [`ThrottleConfig::free_failures`] failures the
//!   answer (the CHAP Failure, PAP Nak) to each further failed attempt is
//!   delayed by `delay_base · 2^k`, capped at `delay_max`; the caller
//!   holds the answer ([`LoginThrottle::failed`] says how long).
//! - **Block.** At `block_after` failures the user or source is blocked
//!   for `block_time`: [`LoginThrottle::begin`] answers
//!   [`Attempt::Refuse`] and the attempt is answered with the same
//!   Failure, after the same delay as a wrong password, without being
//!   tested. Even the right password is refused then, so a guesser cannot
//!   learn that a guess was right. After the block the counter stays: the
//!   next failure blocks again at once (one guess per block), until the
//!   counter is forgotten.
//! - **Decay.** A counter with no attempt for `forget_after` is forgotten.
//! - **Indistinguishable names.** A user is keyed by the name as sent,
//!   whether or not it exists (the throttle never asks), so a wrong user
//!   and a wrong password look alike. The key is a keyed hash (SHA-1 over
//!   a host-supplied random key and the name): the table holds no names,
//!   and nobody who does not know the key can choose names that collide.
//!   The name is taken without a `DOMAIN\` prefix and in ASCII lower case
//!   before hashing, because verifiers match it that way
//!   ([`crate::auth::DomainRule::StripDomain`], Windows NPS compares case
//!   insensitively): otherwise `X\alice`, `Alice`, `ALICE`… would each get
//!   their own counter for the same account.
//! - **Sources** (IPv4 addresses) have counters of their own, so one
//!   address spraying many names is blocked too.
//!
//! ## Memory and eviction
//!
//! Each table is an array of `N` entries of 32 octets plus one overflow
//! entry: `LoginThrottle<256, 256>` is 16,536 octets (88 for the key,
//! configuration and counters). An entry is taken
//! only while its counter is not zero (a success frees it), so the tables
//! hold users and sources with recent failures, not every user.
//!
//! When a table is full, the entry evicted is the one that is not blocking
//! and has the **fewest failures**, the oldest last attempt among equals.
//! Evicting by age alone would let an attacker reset a target's counter
//! by spraying `N` fresh names (one failure each); with this rule the
//! fresh names evict each other, and removing a counter of `k` failures
//! first costs `N · k` failures spread over names and sources (which the
//! source counters block). Blocking entries are never evicted; when every
//! entry blocks, further names share the one overflow entry (so they are
//! throttled together rather than not at all).
//!
//! ## Example
//!
//! ```
//! use ppp_core::auth::throttle::{Attempt, LoginThrottle, ThrottleConfig};
//! use ppp_core::time::{Duration, Instant};
//! use core::net::Ipv4Addr;
//!
//! // The key comes from the host's random source.
//! let mut throttle: LoginThrottle<16, 16> =
//!     LoginThrottle::new(ThrottleConfig::default(), |key| key.fill(0x5a));
//! let (user, from) = (&b"alice"[..], Ipv4Addr::new(198, 51, 100, 7));
//! let mut now = Instant::ZERO;
//! for n in 1..=4 {
//!     assert_eq!(throttle.begin(now, user, from), Attempt::Test);
//!     // ... the verifier says no:
//!     let delay = throttle.failed(now, user, from);
//!     // The 4th failure (after 3 free ones) waits 1 s for its answer.
//!     assert_eq!(delay, if n <= 3 { Duration::ZERO } else { Duration::from_secs(1) });
//!     now += delay;
//! }
//! ```

use core::fmt;
use core::net::Ipv4Addr;

use sha1::Sha1;
use zeroize::Zeroize;

use super::crypto::{digest_scrubbed, strip_domain};
use super::MAX_NAME_LEN;
use crate::time::{Duration, Instant};

/// When the throttle delays and blocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ThrottleConfig {
    /// Failures answered without delay. Default 3 (a user who mistypes
    /// twice and gets it right the third time never waits).
    pub free_failures: u16,
    /// Delay of the first delayed answer; each further failure doubles
    /// it. Default 1 s.
    pub delay_base: Duration,
    /// Longest delay. Default 16 s: below the 30 s a peer waits for
    /// Success/Failure ([`crate::auth::PeerConfig::wait_timeout`], and
    /// Windows' RAS), so a legitimate user still sees error 691 rather
    /// than a time-out.
    pub delay_max: Duration,
    /// Failures at which the user or source is blocked. Default 10 (the
    /// ASA's `aaa local authentication attempts max-fail` is 1 to 16).
    pub block_after: u16,
    /// How long a block lasts. Default 5 minutes.
    pub block_time: Duration,
    /// A counter with no attempt for this long is forgotten. Default 30
    /// minutes (longer than `block_time`, so a blocked guesser who waits
    /// out the block still has one guess per block).
    pub forget_after: Duration,
}

impl Default for ThrottleConfig {
    fn default() -> Self {
        ThrottleConfig {
            free_failures: 3,
            delay_base: Duration::from_secs(1),
            delay_max: Duration::from_secs(16),
            block_after: 10,
            block_time: Duration::from_secs(5 * 60),
            forget_after: Duration::from_secs(30 * 60),
        }
    }
}

impl ThrottleConfig {
    /// The delay of the answer to a failed attempt when its counter
    /// stands at `failures` (this attempt included).
    pub fn delay_for(&self, failures: u16) -> Duration {
        let Some(k) = failures.checked_sub(self.free_failures.saturating_add(1)) else {
            return Duration::ZERO;
        };
        let factor = if k >= 63 { u64::MAX } else { 1u64 << k };
        Duration::from_millis(
            self.delay_base
                .saturating_mul(factor)
                .as_millis()
                .min(self.delay_max.as_millis()),
        )
    }
}

/// What to do with an attempt ([`LoginThrottle::begin`]).
#[must_use = "a refused attempt must not be tested"]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Attempt {
    /// Ask the verifier or AAA server, then report the verdict with
    /// [`LoginThrottle::succeeded`] or [`LoginThrottle::failed`].
    Test,
    /// The user or the source is blocked: answer with the same rejection
    /// as a wrong password after `delay`, without testing the guess.
    Refuse {
        /// How long to hold the rejection (the delay a wrong password
        /// gets at this count).
        delay: Duration,
    },
}

/// The throttle's counters, for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ThrottleStats {
    /// Attempts tested and rejected (wrong user, wrong password, AAA
    /// rejection or time-out).
    pub failed: u64,
    /// Rejections whose answer was delayed (failed or refused).
    pub delayed: u64,
    /// Attempts refused untested because the user or source was blocked.
    pub refused: u64,
    /// Blocks started (user or source).
    pub blocks: u64,
}

/// One counter. Free when `failures` is 0 or it was forgotten.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Entry {
    /// Keyed hash of the user name or source address.
    key: u64,
    /// Last attempt, milliseconds (decay counts from it).
    last: u64,
    /// Blocked until, milliseconds; 0 for never blocked.
    blocked_until: u64,
    failures: u16,
}

impl Entry {
    const EMPTY: Entry = Entry {
        key: 0,
        last: 0,
        blocked_until: 0,
        failures: 0,
    };

    fn blocking(&self, now: Instant) -> bool {
        now.as_millis() < self.blocked_until
    }

    /// Counts a failure at `now`; `true` if it starts a block.
    fn fail(&mut self, now: Instant, config: &ThrottleConfig) -> bool {
        self.failures = self.failures.saturating_add(1);
        self.last = now.as_millis();
        // A verdict that comes in during a block does not extend it.
        let block = self.failures >= config.block_after && !self.blocking(now);
        if block {
            self.blocked_until = (now + config.block_time).as_millis();
        }
        block
    }

    /// Whether the entry holds nothing worth keeping at `now`: no
    /// failures, or forgotten (never while it blocks).
    fn free(&self, now: Instant, config: &ThrottleConfig) -> bool {
        self.failures == 0
            || (!self.blocking(now)
                && now.saturating_duration_since(Instant::from_millis(self.last))
                    >= config.forget_after)
    }
}

/// `N` counters and the overflow entry (see the module docs).
#[derive(Clone, Debug)]
struct Table<const N: usize> {
    entries: [Entry; N],
    overflow: Entry,
}

impl<const N: usize> Table<N> {
    const fn new() -> Self {
        Table {
            entries: [Entry::EMPTY; N],
            overflow: Entry::EMPTY,
        }
    }

    /// Where the live counter of `key` is: its entry, `Some(N)` for the
    /// overflow entry while every entry blocks, `None` if it has none.
    fn position(&self, now: Instant, key: u64, config: &ThrottleConfig) -> Option<usize> {
        self.entries
            .iter()
            .position(|e| e.key == key && !e.free(now, config))
            .or_else(|| {
                let full = self.entries.iter().all(|e| e.blocking(now));
                (full && !self.overflow.free(now, config)).then_some(N)
            })
    }

    fn at_mut(&mut self, i: usize) -> &mut Entry {
        match self.entries.get_mut(i) {
            Some(e) => e,
            None => &mut self.overflow,
        }
    }

    /// The live counter of `key`, if it has one.
    fn get(&self, now: Instant, key: u64, config: &ThrottleConfig) -> Option<&Entry> {
        self.position(now, key, config)
            .map(|i| self.entries.get(i).unwrap_or(&self.overflow))
    }

    /// The live counter of `key`, mutably, if it has one.
    fn get_mut(&mut self, now: Instant, key: u64, config: &ThrottleConfig) -> Option<&mut Entry> {
        self.position(now, key, config).map(|i| self.at_mut(i))
    }

    /// The counter of `key`, claimed if it has none: a free entry, else
    /// the non-blocking one with the fewest failures (the oldest among
    /// equals), else the shared overflow entry.
    fn claim(&mut self, now: Instant, key: u64, config: &ThrottleConfig) -> &mut Entry {
        if let Some(i) = self.position(now, key, config) {
            return self.at_mut(i);
        }
        let mut free = None;
        let mut victim: Option<(usize, u16, u64)> = None;
        for (i, e) in self.entries.iter().enumerate() {
            if e.free(now, config) {
                free = Some(i);
                break;
            }
            if !e.blocking(now) && victim.is_none_or(|(_, f, l)| (e.failures, e.last) < (f, l)) {
                victim = Some((i, e.failures, e.last));
            }
        }
        match free.or(victim.map(|(i, _, _)| i)) {
            Some(i) => {
                let e = self.at_mut(i);
                *e = Entry {
                    key,
                    ..Entry::EMPTY
                };
                e
            }
            None => {
                // Every entry blocks and the shared overflow entry is free
                // (a live one was found by `position`): it starts afresh.
                self.overflow = Entry {
                    key,
                    ..Entry::EMPTY
                };
                &mut self.overflow
            }
        }
    }

    /// Forgets the counter of `key` (a success). The overflow entry is
    /// shared, so one success does not clear it.
    fn clear(&mut self, now: Instant, key: u64, config: &ThrottleConfig) {
        if let Some(e) = self
            .entries
            .iter_mut()
            .find(|e| e.key == key && !e.free(now, config))
        {
            *e = Entry::EMPTY;
        }
    }

    fn blocking(&self, now: Instant) -> usize {
        self.entries.iter().filter(|e| e.blocking(now)).count()
            + usize::from(self.overflow.blocking(now))
    }
}

/// Per-user and per-source login throttle with `USERS` and `SOURCES`
/// counters (see the [module docs](self)).
pub struct LoginThrottle<const USERS: usize, const SOURCES: usize> {
    config: ThrottleConfig,
    /// The hash key (secret: who knows it can choose colliding names).
    key: [u8; 16],
    users: Table<USERS>,
    sources: Table<SOURCES>,
    stats: ThrottleStats,
}

impl<const USERS: usize, const SOURCES: usize> Drop for LoginThrottle<USERS, SOURCES> {
    fn drop(&mut self) {
        self.key.zeroize();
    }
}

impl<const USERS: usize, const SOURCES: usize> fmt::Debug for LoginThrottle<USERS, SOURCES> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginThrottle")
            .field("config", &self.config)
            .field("key", &"<redacted>")
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

/// Domain separation of the two tables' keys.
const USER_TAG: u8 = b'u';
const SOURCE_TAG: u8 = b's';

impl<const USERS: usize, const SOURCES: usize> LoginThrottle<USERS, SOURCES> {
    /// A throttle with `config`, hashing names with a 16-octet key that
    /// `fill_key` writes from the host's random source (in place, so the
    /// key is in no variable of the caller's to wipe).
    pub fn new(config: ThrottleConfig, fill_key: impl FnOnce(&mut [u8; 16])) -> Self {
        let mut throttle = LoginThrottle {
            config,
            key: [0; 16],
            users: Table::new(),
            sources: Table::new(),
            stats: ThrottleStats::default(),
        };
        fill_key(&mut throttle.key);
        throttle
    }

    /// The configuration.
    pub fn config(&self) -> &ThrottleConfig {
        &self.config
    }

    /// The counters.
    pub fn stats(&self) -> &ThrottleStats {
        &self.stats
    }

    /// Users and sources blocked at `now`.
    pub fn blocked(&self, now: Instant) -> (usize, usize) {
        (self.users.blocking(now), self.sources.blocking(now))
    }

    fn hash(&self, tag: u8, data: &[u8]) -> u64 {
        let digest = digest_scrubbed::<Sha1>(&[&self.key, &[tag], data]);
        let mut first = [0u8; 8];
        first.copy_from_slice(digest.get(..8).unwrap_or(&[0; 8]));
        u64::from_le_bytes(first)
    }

    fn user_key(&self, user: &[u8]) -> u64 {
        // Matched as verifiers match it (see the module docs).
        let name = strip_domain(user);
        let mut lower = [0u8; MAX_NAME_LEN];
        let len = name.len().min(MAX_NAME_LEN);
        for (d, s) in lower.iter_mut().zip(name) {
            *d = s.to_ascii_lowercase();
        }
        self.hash(USER_TAG, lower.get(..len).unwrap_or(&[]))
    }

    fn source_key(&self, source: Ipv4Addr) -> u64 {
        self.hash(SOURCE_TAG, &source.octets())
    }

    /// An attempt by `user` (as sent) from `source` arrives: refuse it
    /// untested while either is blocked, else count it as a failure until
    /// its verdict says otherwise.
    pub fn begin(&mut self, now: Instant, user: &[u8], source: Ipv4Addr) -> Attempt {
        let config = self.config;
        let (ukey, skey) = (self.user_key(user), self.source_key(source));
        let blocked = [
            self.users.get(now, ukey, &config).copied(),
            self.sources.get(now, skey, &config).copied(),
        ];
        let blocked = blocked
            .iter()
            .flatten()
            .filter(|e| e.blocking(now))
            .map(|e| e.failures)
            .max();
        if let Some(failures) = blocked {
            // Nothing is counted: the guess is not tested. The blocking
            // entry's last attempt is refreshed so that a counter under
            // attack is not forgotten.
            // Nothing is claimed either: a refusal never evicts a counter.
            for e in [
                self.users.get_mut(now, ukey, &config),
                self.sources.get_mut(now, skey, &config),
            ]
            .into_iter()
            .flatten()
            {
                if e.blocking(now) {
                    e.last = now.as_millis();
                }
            }
            let delay = self.config.delay_for(failures);
            self.stats.refused += 1;
            if delay > Duration::ZERO {
                self.stats.delayed += 1;
            }
            return Attempt::Refuse { delay };
        }
        let started = self.users.claim(now, ukey, &config).fail(now, &config);
        self.stats.blocks += u64::from(started);
        Attempt::Test
    }

    /// The attempt [`begin`](Self::begin) let through was rejected: how
    /// long to hold the rejection. The source's failure is counted here,
    /// the user's was at `begin`.
    pub fn failed(&mut self, now: Instant, user: &[u8], source: Ipv4Addr) -> Duration {
        let config = self.config;
        let (ukey, skey) = (self.user_key(user), self.source_key(source));
        let started = self.sources.claim(now, skey, &config).fail(now, &config);
        self.stats.blocks += u64::from(started);
        let failures = [
            self.users.get(now, ukey, &config),
            self.sources.get(now, skey, &config),
        ]
        .iter()
        .flatten()
        .map(|e| e.failures)
        .max()
        .unwrap_or(0);
        let delay = config.delay_for(failures);
        self.stats.failed += 1;
        if delay > Duration::ZERO {
            self.stats.delayed += 1;
        }
        delay
    }

    /// The attempt [`begin`](Self::begin) let through was accepted: the
    /// user's and the source's counters (and blocks) are cleared.
    pub fn succeeded(&mut self, now: Instant, user: &[u8], source: Ipv4Addr) {
        let config = self.config;
        let (ukey, skey) = (self.user_key(user), self.source_key(source));
        self.users.clear(now, ukey, &config);
        self.sources.clear(now, skey, &config);
    }
}

#[cfg(test)]
mod tests {
    extern crate std;

    use super::*;

    fn key(k: &mut [u8; 16]) {
        k.fill(7);
    }
    const FROM: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);

    fn throttle() -> LoginThrottle<8, 8> {
        LoginThrottle::new(ThrottleConfig::default(), key)
    }

    fn at(secs: u64) -> Instant {
        Instant::from_millis(secs * 1000)
    }

    /// One failed attempt: its verdict's delay, or `None` if refused.
    fn fail(t: &mut LoginThrottle<8, 8>, now: Instant, user: &[u8], from: Ipv4Addr) -> Option<u64> {
        match t.begin(now, user, from) {
            Attempt::Test => Some(t.failed(now, user, from).as_secs()),
            Attempt::Refuse { .. } => None,
        }
    }

    fn source(n: u32) -> Ipv4Addr {
        Ipv4Addr::from(0x0a00_0000 + n)
    }

    #[test]
    fn delays_double_after_the_free_failures_up_to_the_cap() {
        let mut t = throttle();
        let delays: [Option<u64>; 9] =
            core::array::from_fn(|n| fail(&mut t, at(n as u64 * 100), b"alice", FROM));
        let expected = [0, 0, 0, 1, 2, 4, 8, 16, 16].map(Some);
        assert_eq!(delays, expected);
        assert_eq!(t.stats().failed, 9);
        assert_eq!(t.stats().delayed, 6);
        let c = ThrottleConfig::default();
        assert_eq!(c.delay_for(u16::MAX), c.delay_max, "no overflow");
    }

    #[test]
    fn a_block_refuses_untested_with_the_same_delay_and_ends() {
        let mut t = throttle();
        for n in 0..10 {
            assert!(fail(&mut t, at(n), b"alice", FROM).is_some(), "attempt {n}");
        }
        assert_eq!(t.stats().blocks, 2, "the user and the source");
        assert_eq!(t.blocked(at(10)), (1, 1));
        // Blocked: refused untested, answered after the delay a wrong
        // password gets at this count.
        let last_wrong = t.config().delay_for(10);
        assert_eq!(
            t.begin(at(11), b"alice", FROM),
            Attempt::Refuse { delay: last_wrong }
        );
        // From elsewhere too (the user is blocked)...
        assert!(matches!(
            t.begin(at(12), b"alice", source(1)),
            Attempt::Refuse { .. }
        ));
        // ...and any user from this source.
        assert!(matches!(
            t.begin(at(12), b"bob", FROM),
            Attempt::Refuse { .. }
        ));
        assert_eq!(t.stats().refused, 3);
        assert_eq!(t.stats().failed, 10, "refused attempts were not tested");
        // After block_time one attempt is tested; its failure blocks again.
        let end = at(9) + t.config().block_time;
        assert_eq!(t.blocked(end), (0, 0));
        assert_eq!(t.begin(end, b"alice", FROM), Attempt::Test);
        t.failed(end, b"alice", FROM);
        assert_eq!(t.blocked(end), (1, 1));
    }

    #[test]
    fn success_clears_the_users_and_the_sources_counters() {
        let mut t = throttle();
        for n in 0..9 {
            fail(&mut t, at(n), b"alice", FROM);
        }
        assert_eq!(t.begin(at(9), b"alice", FROM), Attempt::Test);
        t.succeeded(at(9), b"alice", FROM);
        assert_eq!(fail(&mut t, at(10), b"alice", FROM), Some(0), "free again");
        assert_eq!(fail(&mut t, at(10), b"bob", FROM), Some(0), "source too");
        // The 10th attempt was counted before its verdict, blocked both,
        // and its success lifted the blocks.
        assert_eq!(t.blocked(at(10)), (0, 0));
    }

    #[test]
    fn counters_are_forgotten_after_a_quiet_period_but_not_while_blocking() {
        let mut t = throttle();
        for n in 0..5 {
            fail(&mut t, at(n), b"alice", FROM);
        }
        let quiet = at(4) + t.config().forget_after;
        assert_eq!(fail(&mut t, quiet, b"alice", FROM), Some(0));
        // A block outlives a forget_after shorter than it.
        let mut t = LoginThrottle::<8, 8>::new(
            ThrottleConfig {
                forget_after: Duration::from_secs(1),
                ..ThrottleConfig::default()
            },
            key,
        );
        for n in 0..10 {
            fail(&mut t, Instant::from_millis(n * 100), b"alice", FROM);
        }
        assert_eq!(fail(&mut t, at(60), b"alice", FROM), None);
    }

    #[test]
    fn unknown_and_known_names_are_counted_alike_and_variants_share_a_counter() {
        // The throttle never asks whether a name exists; the only input is
        // the name, so "alice" (known) and "mallory" (unknown) follow the
        // same sequence.
        let (mut a, mut m) = (throttle(), throttle());
        let mut refused = false;
        for n in 0..12 {
            let from = source(n as u32); // the user's counter alone
            let outcome = fail(&mut a, at(n), b"alice", from);
            assert_eq!(outcome, fail(&mut m, at(n), b"mallory", from));
            refused |= outcome.is_none();
        }
        assert!(refused, "both were blocked");
        let mut t = throttle();
        for (n, name) in [&b"alice"[..], b"ALICE", b"DOM\\alice", b"x\\Alice"]
            .iter()
            .enumerate()
        {
            fail(&mut t, at(n as u64), name, source(n as u32));
        }
        assert_eq!(fail(&mut t, at(5), b"alice", source(9)), Some(2));
    }

    #[test]
    fn attempts_in_flight_count_against_the_name_not_the_address() {
        let mut t = throttle();
        // Twenty users behind one address log in at once (their verdicts
        // still with the AAA server): all are tested.
        for n in 0..20u32 {
            assert_eq!(t.begin(at(0), &n.to_le_bytes(), FROM), Attempt::Test);
        }
        // Twenty guesses at one name in flight at once: only block_after
        // of them are tested.
        let tested = (0..20)
            .filter(|&n| t.begin(at(0), b"alice", source(n)) == Attempt::Test)
            .count();
        assert_eq!(tested, 10);
    }

    #[test]
    fn one_source_spraying_names_is_blocked() {
        let mut t = throttle();
        let names: [&[u8]; 10] = [b"a", b"b", b"c", b"d", b"e", b"f", b"g", b"h", b"i", b"j"];
        for (n, name) in names.iter().enumerate() {
            assert!(fail(&mut t, at(n as u64), name, FROM).is_some());
        }
        assert_eq!(fail(&mut t, at(11), b"k", FROM), None);
    }

    #[test]
    fn a_full_table_evicts_the_fewest_failures_and_keeps_blocks() {
        let mut t = throttle();
        // "alice" has 9 failures, "blocked" is blocked; each from its own
        // source so that only the user table is exercised.
        for n in 0..9 {
            fail(&mut t, at(n), b"alice", source(100 + n as u32));
        }
        for n in 0..10 {
            fail(&mut t, at(n), b"blocked", source(200 + n as u32));
        }
        // 100 fresh names with one failure each, from fresh sources: they
        // evict each other, never alice's 9 or the block.
        for n in 0..100u32 {
            fail(&mut t, at(20), &n.to_le_bytes(), source(300 + n));
        }
        assert_eq!(fail(&mut t, at(21), b"alice", source(1)), Some(16));
        assert_eq!(fail(&mut t, at(21), b"blocked", source(2)), None);
        // A table whose every entry blocks: further names share the
        // overflow counter, which blocks them together.
        let mut t = throttle();
        for u in 0..8u32 {
            for n in 0..10 {
                fail(&mut t, at(n), &u.to_le_bytes(), source(u * 100 + n as u32));
            }
        }
        assert_eq!(t.blocked(at(10)).0, 8);
        for n in 0..10u32 {
            assert!(fail(&mut t, at(10), &(1000 + n).to_le_bytes(), source(5000 + n)).is_some());
        }
        assert_eq!(fail(&mut t, at(11), b"anyone", source(9999)), None);
        assert_eq!(t.blocked(at(11)).0, 9, "eight entries and the overflow");
    }

    #[test]
    fn the_table_holds_no_names_and_the_key_changes_every_hash() {
        let a = throttle();
        let b = LoginThrottle::<8, 8>::new(ThrottleConfig::default(), |k| k.fill(8));
        assert_ne!(a.user_key(b"alice"), b.user_key(b"alice"));
        assert_ne!(a.user_key(b"alice"), a.user_key(b"bob"));
        assert_ne!(a.source_key(FROM), a.user_key(&FROM.octets()));
        let text = std::format!("{a:?}");
        assert!(text.contains("redacted") && !text.contains("7, 7"));
    }

    #[test]
    fn memory_cost_is_as_documented() {
        assert_eq!(core::mem::size_of::<Entry>(), 32);
        assert_eq!(core::mem::size_of::<LoginThrottle<256, 256>>(), 16_536);
    }
}
