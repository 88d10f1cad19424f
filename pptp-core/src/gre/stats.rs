//! Counters of one call's GRE data path.
//!
//! The first group mirrors what the Cisco PIX prints per call in
//! `show vpdn session` (packets and bytes sent and received, current Seq,
//! Ack, Ack_Rcvd, peer RWS, out-of-order packets); the rest counts every
//! way a datagram can leave the receive path, so that for data packets
//!
//! ```text
//! packets_received == delivered + dropped_duplicate + dropped_stale
//!                     + dropped_out_of_window + dropped_unproven + held (now)
//! ```
//!
//! always holds (see [`GreStats::is_consistent`]).

use crate::time::Duration;

/// Monotonic counters of one call's GRE data path. All wrap-free `u64`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct GreStats {
    /// Data packets sent (each consumed one sequence number).
    pub packets_sent: u64,
    /// Payload octets in those packets.
    pub bytes_sent: u64,
    /// Acknowledgment-only packets sent (flags `0x2081`).
    pub ack_only_sent: u64,
    /// Sends refused because the peer's receive window was full.
    pub window_full: u64,
    /// Acknowledgment time-outs (RFC 2637 §4.4): each halved the send
    /// window and doubled the ack time-out.
    pub ack_timeouts: u64,
    /// Sent packets written off as lost at a time-out (never acked).
    pub unacked_written_off: u64,

    /// Datagrams rejected by the GRE header check.
    pub malformed: u64,
    /// Datagrams for another call ID.
    pub wrong_call_id: u64,
    /// Valid datagrams without a sequence number (acknowledgment-only or
    /// empty).
    pub ack_only_received: u64,
    /// Valid data packets (with a sequence number) for this call.
    pub packets_received: u64,
    /// Payload octets in those packets.
    pub bytes_received: u64,
    /// Acknowledgments (piggybacked or not) that opened the send window.
    pub acks_accepted: u64,
    /// Acknowledgments ignored: older than one already seen, or for a
    /// sequence number never sent.
    pub acks_ignored: u64,

    /// Data packets handed to PPP.
    pub delivered: u64,
    /// Payload octets handed to PPP.
    pub bytes_delivered: u64,
    /// Data packets that arrived while an earlier sequence number was
    /// still missing (the PIX's "out-of-order packets").
    pub out_of_order: u64,
    /// Data packets whose sequence number had already been received.
    pub dropped_duplicate: u64,
    /// Data packets arriving after their sequence number was given up on,
    /// or too old to tell (more than 64 behind).
    pub dropped_stale: u64,
    /// Data packets too far ahead to be plausible (more than the
    /// configured maximum jump), before a re-synchronisation.
    pub dropped_out_of_window: u64,
    /// Data packets held in the reorder buffer since the call began.
    pub held: u64,
    /// Sequence numbers never received and skipped over.
    pub lost: u64,
    /// Data packets the layer above could not prove genuine (a forged or
    /// corrupt packet: see [`GreSession::open`](super::GreSession::open));
    /// they changed nothing.
    pub dropped_unproven: u64,
    /// Times the receiver re-synchronised to a far-ahead sequence.
    pub resyncs: u64,
}

impl GreStats {
    /// Counts a data packet dropped for `reason`.
    pub(crate) fn count_drop(&mut self, reason: super::DropReason) {
        use super::DropReason;
        match reason {
            DropReason::Duplicate => self.dropped_duplicate += 1,
            DropReason::Stale => self.dropped_stale += 1,
            DropReason::OutOfWindow => self.dropped_out_of_window += 1,
            DropReason::Unproven => self.dropped_unproven += 1,
        }
    }

    /// Data packets accounted for by an outcome, plus `currently_held`:
    /// equals `packets_received` in every reachable state.
    pub const fn accounted(&self, currently_held: usize) -> u64 {
        self.delivered
            + self.dropped_duplicate
            + self.dropped_stale
            + self.dropped_out_of_window
            + self.dropped_unproven
            + currently_held as u64
    }

    /// Datagrams handed to the call, valid or not: each is malformed, for
    /// another call, sequence-less or a data packet (a sum, not a counter
    /// of its own: parked sessions keep these counters, and every octet of
    /// them counts).
    pub const fn datagrams_received(&self) -> u64 {
        self.malformed + self.wrong_call_id + self.ack_only_received + self.packets_received
    }

    /// The bookkeeping identity of the receive path holds: every data
    /// packet is delivered, dropped or held.
    pub const fn is_consistent(&self, currently_held: usize) -> bool {
        self.packets_received == self.accounted(currently_held)
    }
}

/// A snapshot of one call's GRE state: the PIX's `show vpdn session`
/// line plus what this implementation adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct GreStatus {
    /// Counters.
    pub stats: GreStats,
    /// "Seq": the last sequence number sent, if any.
    pub seq: Option<u32>,
    /// "Ack": the last acknowledgment number sent, if any.
    pub ack: Option<u32>,
    /// "Ack_Rcvd": the last acknowledgment number accepted from the peer.
    pub ack_received: Option<u32>,
    /// "peer RWS": the receive window the peer advertised.
    pub peer_receive_window: u16,
    /// The current send window (RFC 2637 §4.2: starts at half the peer's
    /// window, halves on time-out, grows by one per acked window).
    pub send_window: u32,
    /// Packets sent and not yet acknowledged.
    pub unacked: u32,
    /// Current adaptive ack time-out (RFC 2637 §4.4.1 ATO).
    pub ack_timeout: Duration,
    /// Smoothed round-trip estimate, once a sample was taken.
    pub round_trip: Option<Duration>,
    /// Next sequence number expected in order from the peer.
    pub expected_sequence: Option<u32>,
    /// Packets in the reorder buffer (held or ready to deliver).
    pub held: usize,
}
