//! Send side of a call: sequence numbers, the peer's receive window and
//! RFC 2637 Appendix A / §4.4 adaptive acknowledgment time-out.

use super::serial;
use super::stats::GreStats;
use crate::time::{Duration, Instant};

/// Bounds and start value of the adaptive acknowledgment time-out (ATO,
/// RFC 2637 §4.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct AckTimeoutConfig {
    /// ATO before the first round-trip sample.
    pub initial: Duration,
    /// Floor of the ATO. Keep it above the peer's delayed-ack time (the
    /// Linux `pptp` client acks after about 500 ms when it has nothing to
    /// send, see the pppd capture in the shared vectors), or the
    /// estimator learns a short RTT during bulk traffic and then times out
    /// on the first delayed ack.
    pub min: Duration,
    /// RFC 2637 §4.4's administrator-set MaxTimeOut: the ATO never
    /// exceeds it, not even after back-off.
    pub max: Duration,
}

impl Default for AckTimeoutConfig {
    fn default() -> Self {
        AckTimeoutConfig {
            initial: Duration::from_secs(1),
            min: Duration::from_millis(500),
            max: Duration::from_secs(10),
        }
    }
}

/// Send-side state. See [`super`] for the rules it implements.
#[derive(Clone, Debug)]
pub(crate) struct Sender {
    /// Sequence number of the next data packet (RFC 2637: starts at 0).
    next_seq: u32,
    /// Highest sequence number acknowledged or written off; `next_seq - 1`
    /// when nothing is outstanding (`initial_sequence - 1` at the start).
    acked_through: u32,
    /// Last acknowledgment number accepted from the peer (Ack_Rcvd).
    last_ack_received: Option<u32>,
    /// Whether any data packet was sent yet.
    sent_any: bool,
    /// The peer's advertised receive window; 0 means "not enforced".
    peer_window: u16,
    /// Current send window, 1..=peer_window.
    window: u32,
    /// Packets acknowledged since the window last grew.
    acked_since_growth: u32,
    /// The one packet being timed for a round-trip sample (Karn-style:
    /// one sample in flight at a time, never across a time-out).
    timed: Option<(u32, Instant)>,
    /// Smoothed RTT and mean deviation, in 1/8 ms.
    rtt_x8: Option<(u64, u64)>,
    ato: Duration,
    ato_bounds: AckTimeoutConfig,
    /// When the oldest outstanding packet is declared unacknowledged.
    deadline: Option<Instant>,
}

impl Sender {
    pub(crate) fn new(
        peer_window: u16,
        ato_bounds: AckTimeoutConfig,
        first_seq: u32,
        slow_start: bool,
    ) -> Self {
        // RFC 2637 §4.2.1 recommends starting at half the peer's window
        // (at least 1); see `GreConfig::slow_start` for why it is optional.
        let window = if slow_start {
            u32::from(peer_window / 2).max(1)
        } else {
            u32::from(peer_window).max(1)
        };
        let ato = clamp(ato_bounds.initial, ato_bounds);
        Sender {
            next_seq: first_seq,
            acked_through: first_seq.wrapping_sub(1),
            last_ack_received: None,
            sent_any: false,
            peer_window,
            window,
            acked_since_growth: 0,
            timed: None,
            rtt_x8: None,
            ato,
            ato_bounds,
            deadline: None,
        }
    }

    /// Packets sent and neither acknowledged nor written off.
    pub(crate) fn unacked(&self) -> u32 {
        self.next_seq
            .wrapping_sub(self.acked_through)
            .wrapping_sub(1)
    }

    pub(crate) fn window(&self) -> u32 {
        self.window
    }

    pub(crate) fn window_enforced(&self) -> bool {
        self.peer_window != 0
    }

    pub(crate) fn can_send(&self) -> bool {
        !self.window_enforced() || self.unacked() < self.window
    }

    pub(crate) fn last_sent(&self) -> Option<u32> {
        self.sent_any.then(|| self.next_seq.wrapping_sub(1))
    }

    pub(crate) fn last_ack_received(&self) -> Option<u32> {
        self.last_ack_received
    }

    pub(crate) fn ato(&self) -> Duration {
        self.ato
    }

    pub(crate) fn round_trip(&self) -> Option<Duration> {
        self.rtt_x8.map(|(rtt, _)| Duration::from_millis(rtt / 8))
    }

    pub(crate) fn peer_window(&self) -> u16 {
        self.peer_window
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.deadline
    }

    /// Take the next sequence number for a packet sent at `now`. The
    /// caller has checked [`can_send`](Self::can_send).
    pub(crate) fn next_sequence(&mut self, now: Instant) -> u32 {
        let seq = self.next_seq;
        self.next_seq = seq.wrapping_add(1);
        self.sent_any = true;
        if self.timed.is_none() {
            self.timed = Some((seq, now));
        }
        if self.deadline.is_none() {
            self.deadline = Some(now + self.ato);
        }
        seq
    }

    /// Process an acknowledgment number from the peer (RFC 2637 §4.2.5:
    /// it acknowledges every packet up to and including it).
    pub(crate) fn on_ack(&mut self, now: Instant, ack: u32, stats: &mut GreStats) {
        let newly = serial::distance(ack, self.acked_through);
        let last_sent = self.next_seq.wrapping_sub(1);
        if !self.sent_any || newly <= 0 || serial::is_after(ack, last_sent) {
            // Old news (reordered or repeated ack, or an ack for packets
            // already written off), or an ack for a packet never sent.
            stats.acks_ignored += 1;
            return;
        }
        stats.acks_accepted += 1;
        self.acked_through = ack;
        self.last_ack_received = Some(ack);
        if let Some((seq, sent_at)) = self.timed {
            if !serial::is_after(seq, ack) {
                self.sample(now.saturating_duration_since(sent_at));
                self.timed = None;
            }
        }
        // RFC 2637 §4.2.3: every window's worth of packets acknowledged
        // without a time-out opens the window by one, up to the peer's.
        self.acked_since_growth = self.acked_since_growth.saturating_add(newly as u32);
        if self.window_enforced() && self.acked_since_growth >= self.window {
            self.acked_since_growth -= self.window;
            self.window = (self.window + 1).min(u32::from(self.peer_window));
        }
        self.deadline = (self.unacked() > 0).then(|| now + self.ato);
    }

    /// RFC 2637 §4.4.1 (Appendix A of the draft): with gains 1/8, 1/4 and
    /// 4, scaled by 8 so all arithmetic is integer.
    ///   DIFF = Sample - RTT;  RTT += DIFF/8;  DEV += (|DIFF| - DEV)/4;
    ///   ATO = min(RTT + 4*DEV, MaxTimeOut)
    /// The RFC gives no initial RTT/DEV; the first sample sets RTT = Sample
    /// and DEV = Sample/2, as RFC 6298 §2.2 does for TCP.
    fn sample(&mut self, sample: Duration) {
        let sample_x8 = sample.as_millis().saturating_mul(8);
        let (rtt, dev) = match self.rtt_x8 {
            None => (sample_x8, sample_x8 / 2),
            Some((rtt, dev)) => {
                let diff = sample_x8.abs_diff(rtt);
                let rtt = if sample_x8 >= rtt {
                    rtt.saturating_add(diff / 8)
                } else {
                    rtt - diff / 8
                };
                let dev = if diff >= dev {
                    dev.saturating_add((diff - dev) / 4)
                } else {
                    dev - (dev - diff) / 4
                };
                (rtt, dev)
            }
        };
        self.rtt_x8 = Some((rtt, dev));
        let ato_ms = rtt.saturating_add(dev.saturating_mul(4)) / 8;
        self.ato = clamp(Duration::from_millis(ato_ms), self.ato_bounds);
    }

    /// The oldest outstanding packet went unacknowledged for an ATO.
    /// RFC 2637 §4.2.2: halve the window (rounding up, minimum 1);
    /// §4.4.2: back off, ATO = min(2 * ATO, MaxTimeOut). PPTP never
    /// retransmits, so the outstanding packets are written off: without
    /// that a peer that stops acknowledging would close the window for
    /// good.
    pub(crate) fn handle_timeout(&mut self, now: Instant, stats: &mut GreStats) {
        let Some(deadline) = self.deadline else {
            return;
        };
        if now < deadline {
            return;
        }
        stats.ack_timeouts += 1;
        stats.unacked_written_off += u64::from(self.unacked());
        self.window = self.window.div_ceil(2).max(1);
        self.acked_since_growth = 0;
        self.ato = clamp(self.ato.saturating_mul(2), self.ato_bounds);
        self.acked_through = self.next_seq.wrapping_sub(1);
        self.timed = None;
        self.deadline = None;
    }
}

fn clamp(d: Duration, bounds: AckTimeoutConfig) -> Duration {
    d.min(bounds.max).max(bounds.min.min(bounds.max))
}
