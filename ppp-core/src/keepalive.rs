//! One keepalive for every machine that probes its peer: LCP Echo
//! (RFC 1661 §5.8) in [`crate::lcp::Lcp`] and [`crate::link::ParkedLink`],
//! PPTP Echo (RFC 2637 §2.5, §2.6, §3.1.4) in `pptp_core`'s `Connection`
//! and `ParkedConnection`.
//!
//! The two protocols probe differently, and [`KeepaliveConfig`] says how:
//!
//! - **LCP** ([`KeepaliveConfig::lcp`], pppd's `lcp-echo-interval` and
//!   `lcp-echo-failure`): an Echo-Request every interval once LCP is
//!   Opened, whether or not other traffic flows; the link is dead when the
//!   failure count of requests has gone unanswered at the next tick. Any
//!   Echo-Reply (not our own looped back) clears the count; the period
//!   goes on unchanged.
//! - **PPTP** ([`KeepaliveConfig::pptp`]): an Echo-Request after 60 s
//!   without a control message from the peer (§3.1.4); one request at a
//!   time; the tunnel is dead when its Echo-Reply (§2.6) has not come 60 s
//!   after it was sent. Every message received restarts the idle interval.
//!
//! The component decides and times; the owner builds, numbers and sends
//! the Echo-Request (LCP takes the Identifier from the automaton's
//! sequence, PPTP keeps its own 32-bit one) and checks that a reply
//! answers it (LCP: not our Magic-Number; PPTP: the outstanding
//! Identifier). [`Keepalive`] is 16 octets; the parked machines keep its
//! parts ([`Keepalive::to_parts`]) among their own small fields, so they
//! do not grow; the configuration is not kept in it (the full
//! machines have theirs, the parked forms the two durations they need).
//!
//! Time is the host's (see [`crate::time`]): a clock that goes backwards
//! only delays the next probe, and the arithmetic saturates.

use crate::time::{Duration, Instant};

/// How a keepalive probes; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct KeepaliveConfig {
    /// Idle (PPTP) or period (LCP) before an Echo-Request.
    pub interval: Duration,
    /// How long after an Echo-Request the keepalive looks again: LCP the
    /// interval, PPTP the reply timeout.
    pub reply_timeout: Duration,
    /// Requests that may be unanswered when it looks again; one more
    /// ends the link (at least 1).
    pub max_unanswered: u8,
    /// Whether every message received restarts the interval (PPTP) or the
    /// period runs regardless (LCP).
    pub restart_on_traffic: bool,
}

impl KeepaliveConfig {
    /// LCP Echo (RFC 1661 §5.8): a request every `interval`; dead after
    /// `failures` unanswered ones (0 counts as 1, as pppd).
    pub const fn lcp(interval: Duration, failures: u8) -> Self {
        KeepaliveConfig {
            interval,
            reply_timeout: interval,
            max_unanswered: if failures == 0 { 1 } else { failures },
            restart_on_traffic: false,
        }
    }

    /// PPTP Echo (RFC 2637 §3.1.4): a request after `interval` without a
    /// message from the peer; dead when its reply is `reply_timeout` late.
    pub const fn pptp(interval: Duration, reply_timeout: Duration) -> Self {
        KeepaliveConfig {
            interval,
            reply_timeout,
            max_unanswered: 1,
            restart_on_traffic: true,
        }
    }
}

/// What [`Keepalive::on_timeout`] asks of its owner.
#[must_use]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// Not due (or stopped).
    Nothing,
    /// Send an Echo-Request now, then call [`Keepalive::request_sent`]
    /// (not calling it, when the request could not be queued, asks again
    /// at the next call).
    SendEcho,
    /// The peer is not answering: end the link or tunnel.
    Dead,
}

/// The keepalive's state; see the [module docs](self).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Keepalive {
    /// Start of the current wait: the last request sent (or, with none
    /// unanswered, the start or the last traffic when that restarts the
    /// interval).
    since: Instant,
    unanswered: u8,
    running: bool,
}

impl Keepalive {
    /// A keepalive that does not run (before LCP opens, after it goes
    /// down, without an interval configured).
    pub const STOPPED: Keepalive = Keepalive {
        since: Instant::ZERO,
        unanswered: 0,
        running: false,
    };

    /// A keepalive whose first interval starts at `now`.
    pub const fn started(now: Instant) -> Self {
        Keepalive {
            since: now,
            unanswered: 0,
            running: true,
        }
    }

    /// The state as plain parts (start of the current wait, requests
    /// unanswered, running), for a parked machine that stores them among
    /// its own small fields: nested, the 16-octet struct can cost up to 8
    /// octets of padding per session.
    pub const fn to_parts(self) -> (Instant, u8, bool) {
        (self.since, self.unanswered, self.running)
    }

    /// The keepalive from [`Keepalive::to_parts`].
    pub const fn from_parts(since: Instant, unanswered: u8, running: bool) -> Self {
        Keepalive {
            since,
            unanswered,
            running,
        }
    }

    /// (Re)starts the keepalive at `now` with nothing unanswered (LCP:
    /// this-layer-up).
    pub fn start(&mut self, now: Instant) {
        *self = Keepalive::started(now);
    }

    /// Stops the keepalive (LCP: this-layer-down, or the peer
    /// Code-Rejected Echo-Request; PPTP: the tunnel closed).
    pub fn stop(&mut self) {
        *self = Keepalive::STOPPED;
    }

    /// Whether it runs.
    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Whether an Echo-Request is unanswered.
    pub fn is_outstanding(&self) -> bool {
        self.unanswered > 0
    }

    /// Echo-Requests sent and not answered since the last reply.
    pub fn unanswered(&self) -> u8 {
        self.unanswered
    }

    /// When [`Keepalive::on_timeout`] has something to do; `None` when
    /// stopped.
    pub fn poll_timeout(&self, config: &KeepaliveConfig) -> Option<Instant> {
        let wait = if self.is_outstanding() {
            config.reply_timeout
        } else {
            config.interval
        };
        self.running.then_some(self.since + wait)
    }

    /// What is due at `now`: nothing before the deadline (also when the
    /// host's clock went backwards), the end when the unanswered requests
    /// reach [`KeepaliveConfig::max_unanswered`], another request
    /// otherwise.
    pub fn on_timeout(&self, config: &KeepaliveConfig, now: Instant) -> Action {
        match self.poll_timeout(config) {
            Some(deadline) if now >= deadline => {
                if self.unanswered >= config.max_unanswered.max(1) {
                    Action::Dead
                } else {
                    Action::SendEcho
                }
            }
            _ => Action::Nothing,
        }
    }

    /// The Echo-Request asked for by [`Action::SendEcho`] went out at
    /// `now`.
    pub fn request_sent(&mut self, now: Instant) {
        self.unanswered = self.unanswered.saturating_add(1);
        self.since = now;
    }

    /// A reply that answers us (the owner has checked it) came at `now`:
    /// nothing is unanswered any more. Returns the time since the last
    /// request, if one was outstanding (PPTP's round-trip time).
    pub fn on_reply(&mut self, config: &KeepaliveConfig, now: Instant) -> Option<Duration> {
        let rtt = self
            .is_outstanding()
            .then(|| now.saturating_duration_since(self.since));
        self.unanswered = 0;
        if config.restart_on_traffic {
            self.since = now;
        }
        rtt
    }

    /// A message came from the peer at `now`: with
    /// [`KeepaliveConfig::restart_on_traffic`] and nothing unanswered, the
    /// idle interval starts again (RFC 2637 §3.1.4). An outstanding
    /// request still needs its reply.
    pub fn on_traffic(&mut self, config: &KeepaliveConfig, now: Instant) {
        if config.restart_on_traffic && !self.is_outstanding() {
            self.since = now;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: u64 = 1_000;

    fn at(secs: u64) -> Instant {
        Instant::from_millis(secs * SECOND)
    }

    #[test]
    fn lcp_probes_every_interval_and_dies_after_the_failure_count() {
        let config = KeepaliveConfig::lcp(Duration::from_secs(10), 3);
        let mut k = Keepalive::started(at(0));
        assert_eq!(k.poll_timeout(&config), Some(at(10)));
        assert_eq!(k.on_timeout(&config, at(9)), Action::Nothing);
        for n in 1..=3 {
            let now = at(10 * n);
            assert_eq!(k.on_timeout(&config, now), Action::SendEcho, "request {n}");
            k.request_sent(now);
            assert_eq!(k.unanswered(), n as u8);
            assert_eq!(k.poll_timeout(&config), Some(now + Duration::from_secs(10)));
        }
        assert_eq!(k.on_timeout(&config, at(40)), Action::Dead);
    }

    #[test]
    fn lcp_reply_clears_the_count_without_moving_the_period() {
        let config = KeepaliveConfig::lcp(Duration::from_secs(10), 1);
        let mut k = Keepalive::started(at(0));
        k.request_sent(at(10));
        assert_eq!(k.on_reply(&config, at(12)), Some(Duration::from_secs(2)));
        assert_eq!(k.unanswered(), 0);
        assert_eq!(k.poll_timeout(&config), Some(at(20)));
        // Traffic does not delay an LCP probe.
        k.on_traffic(&config, at(15));
        assert_eq!(k.poll_timeout(&config), Some(at(20)));
        assert_eq!(k.on_timeout(&config, at(20)), Action::SendEcho);
    }

    #[test]
    fn lcp_failure_count_zero_counts_as_one() {
        let config = KeepaliveConfig::lcp(Duration::from_secs(5), 0);
        assert_eq!(config.max_unanswered, 1);
        let mut k = Keepalive::started(at(0));
        k.request_sent(at(5));
        assert_eq!(k.on_timeout(&config, at(10)), Action::Dead);
    }

    #[test]
    fn pptp_probes_after_silence_and_dies_when_the_reply_is_late() {
        // RFC 2637 §3.1.4: 60 s idle, then 60 s for the reply.
        let config = KeepaliveConfig::pptp(Duration::from_secs(60), Duration::from_secs(60));
        let mut k = Keepalive::started(at(0));
        k.on_traffic(&config, at(30));
        assert_eq!(k.poll_timeout(&config), Some(at(90)));
        assert_eq!(k.on_timeout(&config, at(89)), Action::Nothing);
        assert_eq!(k.on_timeout(&config, at(90)), Action::SendEcho);
        k.request_sent(at(90));
        // Other traffic does not answer the request.
        k.on_traffic(&config, at(100));
        assert_eq!(k.poll_timeout(&config), Some(at(150)));
        assert_eq!(k.on_timeout(&config, at(150)), Action::Dead);
    }

    #[test]
    fn pptp_reply_gives_the_round_trip_and_restarts_the_interval() {
        let config = KeepaliveConfig::pptp(Duration::from_secs(60), Duration::from_secs(60));
        let mut k = Keepalive::started(at(0));
        k.request_sent(at(60));
        assert_eq!(
            k.on_reply(&config, Instant::from_millis(60_250)),
            Some(Duration::from_millis(250))
        );
        assert!(!k.is_outstanding());
        assert_eq!(k.poll_timeout(&config), Some(Instant::from_millis(120_250)));
        // A second reply answers nothing.
        assert_eq!(k.on_reply(&config, at(61)), None);
    }

    #[test]
    fn a_clock_going_backwards_only_delays() {
        let config = KeepaliveConfig::pptp(Duration::from_secs(60), Duration::from_secs(60));
        let mut k = Keepalive::started(at(100));
        assert_eq!(k.on_timeout(&config, at(50)), Action::Nothing);
        k.request_sent(at(160));
        // The reply "before" the request: no negative round trip.
        assert_eq!(k.on_reply(&config, at(150)), Some(Duration::ZERO));
        assert_eq!(k.on_timeout(&config, at(0)), Action::Nothing);
    }

    #[test]
    fn arithmetic_saturates_at_the_end_of_time() {
        let end = Instant::from_millis(u64::MAX);
        let config = KeepaliveConfig::lcp(Duration::from_millis(u64::MAX), u8::MAX);
        let mut k = Keepalive::started(end);
        assert_eq!(k.poll_timeout(&config), Some(end));
        for _ in 0..300 {
            k.request_sent(end);
        }
        assert_eq!(k.unanswered(), u8::MAX);
        assert_eq!(k.on_timeout(&config, end), Action::Dead);
    }

    #[test]
    fn stopped_does_nothing() {
        let config = KeepaliveConfig::lcp(Duration::from_secs(1), 1);
        let mut k = Keepalive::started(at(0));
        k.stop();
        assert!(!k.is_running());
        assert_eq!(k.poll_timeout(&config), None);
        assert_eq!(k.on_timeout(&config, at(1_000)), Action::Nothing);
        assert_eq!(core::mem::size_of::<Keepalive>(), 16);
    }

    #[test]
    fn parts_round_trip() {
        let mut k = Keepalive::started(at(7));
        k.request_sent(at(9));
        let (since, unanswered, running) = k.to_parts();
        assert_eq!((since, unanswered, running), (at(9), 1, true));
        assert_eq!(Keepalive::from_parts(since, unanswered, running), k);
    }
}
