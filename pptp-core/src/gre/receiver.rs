//! Receive side of a call: in-order tracking, duplicate/stale detection,
//! the optional bounded reorder buffer and the acknowledgment we owe.

use super::serial;
use super::stats::GreStats;
use super::DropReason;
use crate::time::{Duration, Instant};

/// After this many consecutive far-ahead packets that follow one another
/// (each `seq` = previous + 1), a receiver with no other proof believes
/// the jump and re-synchronises: a long outage, not one corrupt or
/// spoofed packet. (A blind attacker can send such a run too; callers
/// that can prove packets do not use this rule, see `GreSession::open`.)
pub(crate) const RESYNC_AFTER: u8 = 3;

/// How far back duplicates are told apart from stale packets.
const HISTORY_BITS: u32 = 64;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum SlotState {
    Empty,
    /// Waiting for the packets before it.
    Held,
    /// In order now; waiting for `poll_deliver`.
    Ready,
}

#[derive(Clone, Copy, Debug)]
struct Slot<const SLOT_SIZE: usize> {
    state: SlotState,
    seq: u32,
    len: u16,
    arrived: Instant,
    data: [u8; SLOT_SIZE],
}

impl<const SLOT_SIZE: usize> Slot<SLOT_SIZE> {
    const EMPTY: Self = Slot {
        state: SlotState::Empty,
        seq: 0,
        len: 0,
        arrived: Instant::ZERO,
        data: [0; SLOT_SIZE],
    };
}

/// Where a data packet's sequence number falls against the next one
/// expected.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Place {
    /// The next one expected (or the call's first).
    InOrder,
    /// Ahead of a gap of this many sequence numbers, within the bounded
    /// jump.
    Ahead(u32),
    /// Further ahead than the bounded jump.
    Far,
}

/// What the receiver decided about one data packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Deliver it now, after `queued_before` packets from `poll_deliver`.
    Deliver {
        queued_before: usize,
    },
    Held,
    Dropped(DropReason),
}

#[derive(Clone, Debug)]
pub(crate) struct Receiver<const HOLD: usize, const SLOT_SIZE: usize> {
    /// Next sequence number expected in order; meaningless until `started`.
    expected: u32,
    started: bool,
    /// Bit i set: sequence number `expected - 1 - i` was received.
    history: u64,
    /// Highest sequence number received (delivered or held): what
    /// RFC 2637 §4.4 / §4.3 says to acknowledge.
    highest: Option<u32>,
    /// The far-ahead run being watched for re-synchronisation:
    /// (next sequence number of the run, run length).
    jump_run: Option<(u32, u8)>,
    max_jump: u32,
    hold_time: Duration,
    slots: [Slot<SLOT_SIZE>; HOLD],
}

impl<const HOLD: usize, const SLOT_SIZE: usize> Receiver<HOLD, SLOT_SIZE> {
    pub(crate) fn new(max_jump: u32, hold_time: Duration) -> Self {
        Receiver {
            expected: 0,
            started: false,
            history: 0,
            highest: None,
            jump_run: None,
            max_jump: max_jump.clamp(1, i32::MAX as u32),
            hold_time,
            slots: [Slot::EMPTY; HOLD],
        }
    }

    pub(crate) fn highest(&self) -> Option<u32> {
        self.highest
    }

    pub(crate) fn expected(&self) -> Option<u32> {
        self.started.then_some(self.expected)
    }

    /// Packets in the buffer, held or ready.
    pub(crate) fn occupied(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state != SlotState::Empty)
            .count()
    }

    fn ready_count(&self) -> usize {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Ready)
            .count()
    }

    /// Where `seq` falls, without changing anything (RFC 2637 §4.3).
    pub(crate) fn classify(&self, seq: u32) -> Result<Place, DropReason> {
        if !self.started {
            // The first packet fixes the base: RFC 2637 numbers from 0, but
            // a lost first packet must not make everything else look late.
            return Ok(Place::InOrder);
        }
        let ahead = serial::distance(seq, self.expected);
        if ahead < 0 {
            let back = ahead.unsigned_abs() - 1;
            let seen = back < HISTORY_BITS && self.history & (1u64 << back) != 0;
            return Err(if seen {
                DropReason::Duplicate
            } else {
                DropReason::Stale
            });
        }
        if ahead == i32::MAX {
            // Exactly 2^31 after the last packet delivered (expected - 1):
            // RFC 1982 leaves that comparison undefined, so "in order"
            // would not hold. Found by the gre_session fuzz target.
            return Err(DropReason::OutOfWindow);
        }
        Ok(match ahead as u32 {
            0 => Place::InOrder,
            gap if gap > self.max_jump => Place::Far,
            gap => Place::Ahead(gap),
        })
    }

    /// Whether `seq` continues the run of unproven packets being watched
    /// (each one after the other), counting it: true once the run is
    /// [`RESYNC_AFTER`] long — a sender that really moved on, not one
    /// corrupt or spoofed packet.
    pub(crate) fn extend_run(&mut self, seq: u32) -> bool {
        let run = match self.jump_run {
            Some((next, n)) if next == seq => n.saturating_add(1),
            _ => 1,
        };
        self.jump_run = Some((seq.wrapping_add(1), run));
        run >= RESYNC_AFTER
    }

    /// Judge one data packet with sequence number `seq` and `payload`,
    /// trusting it (no proof from the layer above): far-ahead packets
    /// count only as a run of [`RESYNC_AFTER`].
    pub(crate) fn accept(
        &mut self,
        now: Instant,
        seq: u32,
        payload: &[u8],
        stats: &mut GreStats,
    ) -> Verdict {
        let place = match self.classify(seq) {
            Ok(place) => place,
            Err(reason) => {
                if reason == DropReason::OutOfWindow {
                    self.jump_run = None;
                }
                return self.drop(reason, stats);
            }
        };
        if place == Place::Far && !self.extend_run(seq) {
            return self.drop(DropReason::OutOfWindow, stats);
        }
        self.commit(now, seq, place, payload.len(), Some(payload), stats)
    }

    /// Take a data packet whose place `classify` gave: resynchronise if it
    /// is far ahead, hold it (when its payload is given to `hold` and
    /// there is room) or deliver it, giving up the gap before it.
    pub(crate) fn commit(
        &mut self,
        now: Instant,
        seq: u32,
        place: Place,
        payload_len: usize,
        hold: Option<&[u8]>,
        stats: &mut GreStats,
    ) -> Verdict {
        if !self.started {
            self.started = true;
            self.expected = seq;
        }
        let resync = place == Place::Far;
        if resync {
            stats.resyncs += 1;
        }
        self.jump_run = None;
        if place != Place::InOrder {
            if self.held_index(seq).is_some() {
                return self.drop(DropReason::Duplicate, stats);
            }
            stats.out_of_order += 1;
            self.note_received(seq);
            if let (false, Some(payload)) = (resync, hold) {
                if self.try_hold(now, seq, payload) {
                    stats.held += 1;
                    return Verdict::Held;
                }
            }
            // Cannot wait for the gap (no reorder buffer, buffer full,
            // packet too big for a slot, a proven packet or a
            // re-synchronisation): give the missing packets up and deliver
            // this one now.
            self.advance_to(seq, stats);
        } else {
            self.note_received(seq);
        }
        let queued_before = self.ready_count();
        self.expected = seq.wrapping_add(1);
        self.history = (self.history << 1) | 1;
        self.promote_contiguous();
        stats.delivered += 1;
        stats.bytes_delivered += payload_len as u64;
        Verdict::Deliver { queued_before }
    }

    fn drop(&mut self, reason: DropReason, stats: &mut GreStats) -> Verdict {
        stats.count_drop(reason);
        Verdict::Dropped(reason)
    }

    fn note_received(&mut self, seq: u32) {
        match self.highest {
            Some(h) if !serial::is_after(seq, h) => {}
            _ => self.highest = Some(seq),
        }
    }

    fn held_index(&self, seq: u32) -> Option<usize> {
        self.slots
            .iter()
            .position(|s| s.state == SlotState::Held && s.seq == seq)
    }

    fn try_hold(&mut self, now: Instant, seq: u32, payload: &[u8]) -> bool {
        if payload.len() > SLOT_SIZE {
            return false;
        }
        let Some(slot) = self.slots.iter_mut().find(|s| s.state == SlotState::Empty) else {
            return false;
        };
        let Some(dst) = slot.data.get_mut(..payload.len()) else {
            return false;
        };
        dst.copy_from_slice(payload);
        slot.state = SlotState::Held;
        slot.seq = seq;
        slot.len = payload.len() as u16;
        slot.arrived = now;
        true
    }

    /// Give up every missing sequence number before `target`: held packets
    /// before it become ready (in order), the rest count as lost, and
    /// `expected` becomes `target`. O(HOLD), whatever the gap.
    fn advance_to(&mut self, target: u32, stats: &mut GreStats) {
        let gap = target.wrapping_sub(self.expected);
        if serial::distance(target, self.expected) <= 0 {
            return;
        }
        let mut history = if gap >= HISTORY_BITS {
            0
        } else {
            self.history << gap
        };
        let mut released = 0u32;
        for slot in self.slots.iter_mut() {
            if slot.state == SlotState::Held && serial::is_after(target, slot.seq) {
                slot.state = SlotState::Ready;
                released += 1;
                let back = target.wrapping_sub(slot.seq) - 1;
                if back < HISTORY_BITS {
                    history |= 1u64 << back;
                }
            }
        }
        stats.lost += u64::from(gap.saturating_sub(released));
        self.history = history;
        self.expected = target;
    }

    /// Held packets that are now next in line become ready.
    fn promote_contiguous(&mut self) {
        while let Some(i) = self.held_index(self.expected) {
            if let Some(slot) = self.slots.get_mut(i) {
                slot.state = SlotState::Ready;
            }
            self.expected = self.expected.wrapping_add(1);
            self.history = (self.history << 1) | 1;
        }
    }

    /// The oldest ready packet, removed from the buffer.
    pub(crate) fn poll_deliver(&mut self, stats: &mut GreStats) -> Option<&[u8]> {
        let expected = self.expected;
        let index = self
            .slots
            .iter()
            .enumerate()
            .filter(|(_, s)| s.state == SlotState::Ready)
            .max_by_key(|(_, s)| expected.wrapping_sub(s.seq))
            .map(|(i, _)| i)?;
        let slot = self.slots.get_mut(index)?;
        slot.state = SlotState::Empty;
        stats.delivered += 1;
        stats.bytes_delivered += u64::from(slot.len);
        slot.data.get(..usize::from(slot.len))
    }

    /// When the oldest held packet stops waiting for its gap.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        self.slots
            .iter()
            .filter(|s| s.state == SlotState::Held)
            .map(|s| s.arrived + self.hold_time)
            .min()
    }

    /// Release packets whose hold time is over: give up the gap before
    /// the lowest held packet, repeatedly, until no expired packet waits.
    pub(crate) fn handle_timeout(&mut self, now: Instant, stats: &mut GreStats) {
        for _ in 0..HOLD {
            let expired = self
                .slots
                .iter()
                .any(|s| s.state == SlotState::Held && s.arrived + self.hold_time <= now);
            if !expired {
                return;
            }
            let expected = self.expected;
            let Some(lowest) = self
                .slots
                .iter()
                .filter(|s| s.state == SlotState::Held)
                .min_by_key(|s| s.seq.wrapping_sub(expected))
                .map(|s| s.seq)
            else {
                return;
            };
            self.advance_to(lowest, stats);
            self.promote_contiguous();
        }
    }
}
