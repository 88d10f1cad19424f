//! The GRE data path of one call (RFC 2637 §4), Sans-IO.
//!
//! A [`GreSession`] turns PPP frames into enhanced GRE packets and back
//! for one call. It owns no socket and no clock: the host passes in
//! datagrams (the GRE packet, IP header already removed) and the time,
//! and sends what it is given out of IP protocol 47 to the peer.
//!
//! ```
//! use pptp_core::gre::{GreConfig, GreSession, Received, RecvError, SendError};
//! use pptp_core::Instant;
//! # #[derive(Debug)] enum Error { Send(SendError), Recv(RecvError) }
//! # impl From<SendError> for Error { fn from(e: SendError) -> Self { Error::Send(e) } }
//! # impl From<RecvError> for Error { fn from(e: RecvError) -> Self { Error::Recv(e) } }
//! # fn main() -> Result<(), Error> {
//!
//! // Call IDs and the peer's window come from the Outgoing-Call-Request /
//! // Reply exchange on the control connection.
//! let mut client: GreSession = GreSession::new(GreConfig::new(7, 42, 64));
//! let mut server: GreSession = GreSession::new(GreConfig::new(42, 7, 16));
//! let now = Instant::from_millis(0);
//!
//! let mut packet = [0u8; 1600];
//! let len = client.encapsulate(now, b"\xc0\x21\x01\x01\x00\x04", &mut packet)?;
//! match server.decapsulate(now, &packet[..len])? {
//!     Received::Deliver { payload, queued_before } => {
//!         // Hand `queued_before` frames from poll_deliver to PPP first
//!         // (always 0 without a reorder buffer), then this one.
//!         for _ in 0..queued_before {
//!             let _earlier = server.poll_deliver();
//!         }
//!         assert_eq!(&packet[payload], b"\xc0\x21\x01\x01\x00\x04");
//!     }
//!     other => panic!("unexpected {other:?}"),
//! }
//! while let Some(frame) = server.poll_deliver() { /* to PPP, in order */ let _ = frame; }
//!
//! // Nothing to send back: once the ack delay passes, an ack-only packet.
//! let later = now + server.config().ack_delay;
//! assert_eq!(server.poll_timeout(), Some(later));
//! server.handle_timeout(later);
//! let ack_len = server.poll_transmit(later, &mut packet)?.expect("ack owed").len;
//! assert_eq!(ack_len, 12);
//! assert!(matches!(client.decapsulate(later, &packet[..ack_len])?, Received::NoPayload));
//! assert_eq!(client.status().unacked, 0);
//! # Ok(())
//! # }
//! ```
//!
//! ## Sending (RFC 2637 §4.2, §4.4)
//!
//! Sequence numbers start at 0 and wrap at 2^32. Every data packet
//! carries an acknowledgment once anything was received (the PIX does the
//! same in the seed trace: flags `0x3081` on every packet); it costs four
//! octets and makes a lost ack-only packet harmless. The send window
//! starts at the peer's advertised receive window (or half of it with
//! [`GreConfig::slow_start`], RFC 2637 §4.2.1), grows by one for every
//! window's worth of acknowledged packets (§4.2.3), and is halved when
//! the oldest unacknowledged packet waits longer than the adaptive
//! time-out (§4.2.2). [`GreSession::encapsulate`] refuses with
//! [`SendError::WindowFull`] instead of queueing: PPP above drops or
//! retries, as it would on a busy serial line. Because PPTP never
//! retransmits, a time-out writes the unacknowledged packets off, so a
//! peer that never acknowledges slows the call down but cannot stall it.
//! A peer window of 0 is read as "no flow control": RFC 2637 has no
//! window-update message, so a literal zero window could never open.
//!
//! **Adaptive time-out (RFC 2637 §4.4, Appendix A of the draft).**
//! Implemented: one packet at a time is timed; its acknowledgment gives
//! a sample; RTT, deviation and ATO follow §4.4.1 with gains 1/8, 1/4 and
//! 4 in fixed point; a time-out doubles ATO up to `MaxTimeOut` (§4.4.2).
//! See [`AckTimeoutConfig`].
//!
//! ## Receiving (RFC 2637 §4.3)
//!
//! The header is checked ([`crate::wire::gre`]), then the call ID, then
//! the sequence number against the next one expected:
//!
//! * next in line: delivered, by range into the caller's datagram (no
//!   copy);
//! * behind: dropped as [`DropReason::Duplicate`] if it was received
//!   (remembered for the last 64 sequence numbers) or
//!   [`DropReason::Stale`] if it was given up on;
//! * ahead of a gap: counted out-of-order, then held in the reorder
//!   buffer if there is one with room, otherwise delivered at once with
//!   the gap given up (the missing packets count as lost);
//! * absurdly far ahead (more than [`GreConfig::max_sequence_jump`]):
//!   dropped as [`DropReason::OutOfWindow`], unless three such packets
//!   in a row follow one another, which means the peer really moved on
//!   (a long outage) and the receiver re-synchronises.
//!
//! **Reordering.** RFC 2637 §4.3 allows either dropping out-of-sequence
//! packets or reordering them. The Linux kernel's `pptp` module delivers
//! in order and drops anything that arrives late; the user-space
//! pptp-linux client keeps a few out-of-order packets for a short time
//! and releases them in order. Both are available here through the
//! const parameters of [`GreSession`]: `HOLD` slots of `SLOT_SIZE` octets
//! each. The default, `GreSession<0, 0>`, behaves like the kernel (no
//! packet buffers, about 460 octets per call on 64-bit targets, no added
//! latency; right for servers with thousands of calls);
//! `GreSession<8, 1600>` behaves like pptp-linux (≈13 KiB per call) and
//! is worth it on paths that reorder, because every dropped packet costs
//! stateful MPPE a CCP Reset-Request round trip (RFC 3078 §8) during
//! which everything else is discarded too. A
//! held packet is released when the gap before it fills, when
//! [`GreConfig::reorder_timeout`] passes, or when the buffer is full and
//! another packet must be placed. Held packets are copied (the datagram
//! buffer belongs to the host) and handed out by
//! [`GreSession::poll_deliver`] in sequence order.
//!
//! **Acknowledging.** The acknowledgment number is the highest sequence
//! number received (§4.3, §4.2.5), including held packets. It rides on
//! the next data packet, or goes out alone from
//! [`GreSession::poll_transmit`] when [`GreConfig::ack_delay`] passes with
//! nothing to send, or at once when a quarter of our receive window is
//! unacknowledged, so the peer never stalls on a window we advertised.
//! The receive window itself is not enforced on arrival: real senders
//! overrun it (pptpd in the shared pppd capture has four packets
//! unacknowledged against a window of 3), and dropping them would only
//! lose data.
//!
//! **Counters** ([`GreStats`], [`GreStatus`]) match the PIX's
//! `show vpdn` and account for every datagram.
//!
//! **Many calls.** [`CallTable`] maps the call ID of an arriving
//! datagram to the host's slot for that call in O(1) without allocation.

mod demux;
mod receiver;
mod sender;
pub mod serial;
mod stats;

pub use demux::{peek_call_id, CallTable, CallTableError};
pub use sender::AckTimeoutConfig;
pub use stats::{GreStats, GreStatus};

use crate::time::{Duration, Instant};
use crate::transmit::Transmit;
use crate::wire::gre::{GreError, GrePacket, GreRepr, HEADER_LEN_MAX, PAYLOAD_LEN_MAX};
use core::fmt;
use core::ops::Range;
use receiver::{Place, Receiver, Verdict};
use sender::Sender;

/// Configuration of one call's data path, from the call set-up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct GreConfig {
    /// Our call ID: the one the peer puts in every packet it sends us.
    pub local_call_id: u16,
    /// The peer's call ID: the one we put in every packet we send.
    pub peer_call_id: u16,
    /// "Packet Recv. Window Size" the peer advertised in its
    /// Outgoing-Call-Request/Reply or Incoming-Call-Reply/Connected
    /// (RFC 2637 §2.7, §2.8); 0 disables send-side flow control.
    pub peer_receive_window: u16,
    /// The receive window we advertised; an ack goes out at once when a
    /// quarter of it is unacknowledged.
    pub receive_window: u16,
    /// How long an owed acknowledgment may wait for a data packet to ride
    /// on before it is sent alone.
    pub ack_delay: Duration,
    /// Adaptive acknowledgment time-out bounds (RFC 2637 §4.4).
    pub ack_timeout: AckTimeoutConfig,
    /// How long a packet waits in the reorder buffer for the gap before it
    /// (ignored without a buffer).
    pub reorder_timeout: Duration,
    /// Largest plausible forward jump of the peer's sequence number.
    pub max_sequence_jump: u32,
    /// How far ahead of the next expected sequence number a packet that
    /// proves nothing by itself (a control frame, a plaintext packet) is
    /// still taken through [`GreSession::open`]: a genuine sender keeps
    /// at most our receive window unacknowledged (RFC 2637 §4.2), so it is
    /// rarely further ahead than that; a blind attacker must guess the
    /// sequence number to within this many.
    pub trusted_gap: u32,
    /// Sequence number of our first data packet. The default, 0, is what
    /// pptpd sends in the shared pppd capture; the Windows client and the
    /// PIX (seed trace) and pptp-linux (capture) start at 1. Receivers,
    /// this one included, synchronise on the first packet either way.
    pub initial_sequence: u32,
    /// Start with half the peer's window and grow by one per acknowledged
    /// window (RFC 2637 §4.2.1, which *recommends* it). Off by default:
    /// Linux peers (pptpd and pptp-linux in the shared pppd capture)
    /// advertise a window of 3, half of which is 1, and pppd sends
    /// control frames back to back (the capture's sequence numbers 6 and
    /// 7), so the second would be refused and PPP would wait a full
    /// restart timer. Without it the window starts at the peer's value,
    /// which is what the peer said it can buffer; halving on time-out
    /// (§4.2.2) and regrowth (§4.2.3) apply either way.
    pub slow_start: bool,
}

impl GreConfig {
    /// A configuration with defaults: receive window 64 (put the value
    /// advertised in the call set-up here), ack delay 100 ms, ATO 1 s
    /// (500 ms…10 s),
    /// reorder timeout 100 ms, maximum jump 4096, trusted gap 64, first
    /// sequence number 0, no slow start.
    pub const fn new(local_call_id: u16, peer_call_id: u16, peer_receive_window: u16) -> Self {
        GreConfig {
            local_call_id,
            peer_call_id,
            peer_receive_window,
            receive_window: 64,
            ack_delay: Duration::from_millis(100),
            ack_timeout: AckTimeoutConfig {
                initial: Duration::from_secs(1),
                min: Duration::from_millis(500),
                max: Duration::from_secs(10),
            },
            reorder_timeout: Duration::from_millis(100),
            max_sequence_jump: 4096,
            trusted_gap: 64,
            initial_sequence: 0,
            slow_start: false,
        }
    }
}

/// Why a packet was not sent.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SendError {
    /// The peer's receive window is full of unacknowledged packets
    /// (RFC 2637 §4.2): try again after an ack arrives or the ack
    /// time-out fires ([`GreSession::poll_timeout`]).
    WindowFull {
        /// Packets sent and not yet acknowledged.
        unacked: u32,
        /// Current send window.
        window: u32,
    },
    /// The payload exceeds the 16-bit payload length.
    PayloadTooLong {
        /// Length given.
        len: usize,
    },
    /// The output buffer cannot hold header and payload.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}

impl fmt::Display for SendError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            SendError::WindowFull { unacked, window } => write!(
                f,
                "GRE send window full: {unacked} unacknowledged, window {window}"
            ),
            SendError::PayloadTooLong { len } => {
                write!(f, "PPP frame of {len} octets too long for GRE")
            }
            SendError::BufferTooSmall { needed, available } => write!(
                f,
                "GRE output buffer too small: needs {needed} octets, {available} available"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SendError {}

/// Why a datagram was rejected before sequence processing.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RecvError {
    /// Not a valid PPTP enhanced GRE packet.
    Malformed(GreError),
    /// A valid packet for another call.
    WrongCallId {
        /// Our call ID.
        expected: u16,
        /// The call ID in the packet.
        found: u16,
    },
}

impl fmt::Display for RecvError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            RecvError::Malformed(e) => write!(f, "malformed GRE packet: {e}"),
            RecvError::WrongCallId { expected, found } => {
                write!(f, "GRE packet for call {found}, this call is {expected}")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for RecvError {}

impl From<GreError> for RecvError {
    fn from(e: GreError) -> Self {
        RecvError::Malformed(e)
    }
}

/// Why a data packet was dropped (RFC 2637 §4.3).
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum DropReason {
    /// Its sequence number was already received.
    Duplicate,
    /// It arrived after its sequence number was given up on (or more than
    /// 64 behind, too old to tell).
    Stale,
    /// Implausibly far ahead ([`GreConfig::max_sequence_jump`]).
    OutOfWindow,
    /// The layer above could not prove it genuine
    /// ([`GreSession::reject`]).
    Unproven,
}

/// A data packet [`GreSession::open`] placed but did not take yet: hand
/// `datagram[payload]` to the layer above, then [`GreSession::confirm`]
/// it if that layer found it genuine or [`GreSession::reject`] it if not.
#[must_use = "a candidate must be confirmed or rejected"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Candidate {
    /// Where the PPP frame is in the datagram.
    pub payload: Range<usize>,
    seq: u32,
    place: Place,
}

impl Candidate {
    /// The packet's sequence number.
    pub fn sequence(&self) -> u32 {
        self.seq
    }

    /// Sequence numbers it skips: 0 in order, `None` beyond
    /// [`GreConfig::max_sequence_jump`].
    pub fn gap(&self) -> Option<u32> {
        match self.place {
            Place::InOrder => Some(0),
            Place::Ahead(gap) => Some(gap),
            Place::Far => None,
        }
    }
}

/// What [`GreSession::open`] found in a datagram.
#[must_use = "a candidate must be confirmed or rejected"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Opened {
    /// A data packet in a place it may take.
    Data(Candidate),
    /// Dropped by its sequence number; counted in [`GreStats`].
    Dropped(DropReason),
    /// No payload (acknowledgment-only or empty packet); any ack in it was
    /// processed.
    NoPayload,
}

/// What to do with a datagram that passed the header and call-ID checks.
#[must_use = "a delivered frame is lost unless the host hands it to PPP"]
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Received {
    /// Hand `datagram[payload]` to PPP — after first handing over
    /// `queued_before` frames from [`GreSession::poll_deliver`], which are
    /// older. Then drain `poll_deliver`, which may hold later frames that
    /// this one made contiguous.
    Deliver {
        /// Where the PPP frame is in the datagram.
        payload: Range<usize>,
        /// Older frames to take from `poll_deliver` first.
        queued_before: usize,
    },
    /// Copied into the reorder buffer, waiting for the packets before it.
    Held,
    /// Dropped; counted in [`GreStats`].
    Dropped(DropReason),
    /// No payload (acknowledgment-only or empty packet); any ack in it was
    /// processed.
    NoPayload,
}

/// One call's GRE data path: sender, receiver and optional reorder buffer
/// of `HOLD` slots of `SLOT_SIZE` octets (see the [module docs](self)).
#[derive(Clone, Debug)]
pub struct GreSession<const HOLD: usize = 0, const SLOT_SIZE: usize = 0> {
    config: GreConfig,
    sender: Sender,
    receiver: Receiver<HOLD, SLOT_SIZE>,
    /// Last acknowledgment number sent (piggybacked or alone).
    last_ack_sent: Option<u32>,
    /// Since when an acknowledgment is owed, and for how many packets.
    ack_owed_since: Option<Instant>,
    unacked_received: u32,
    stats: GreStats,
}

impl<const HOLD: usize, const SLOT_SIZE: usize> GreSession<HOLD, SLOT_SIZE> {
    /// A session for a call that has just been connected.
    pub fn new(config: GreConfig) -> Self {
        GreSession {
            config,
            sender: Sender::new(
                config.peer_receive_window,
                config.ack_timeout,
                config.initial_sequence,
                config.slow_start,
            ),
            receiver: Receiver::new(config.max_sequence_jump, config.reorder_timeout),
            last_ack_sent: None,
            ack_owed_since: None,
            unacked_received: 0,
            stats: GreStats::default(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &GreConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> &GreStats {
        &self.stats
    }

    /// A snapshot for display (the PIX's `show vpdn session` and more).
    pub fn status(&self) -> GreStatus {
        GreStatus {
            stats: self.stats,
            seq: self.sender.last_sent(),
            ack: self.last_ack_sent,
            ack_received: self.sender.last_ack_received(),
            peer_receive_window: self.sender.peer_window(),
            send_window: self.sender.window(),
            unacked: self.sender.unacked(),
            ack_timeout: self.sender.ato(),
            round_trip: self.sender.round_trip(),
            expected_sequence: self.receiver.expected(),
            held: self.receiver.occupied(),
        }
    }

    /// Packets in the reorder buffer (held or waiting in `poll_deliver`).
    pub fn held(&self) -> usize {
        self.receiver.occupied()
    }

    /// Whether a data packet may be sent now (the peer's window is open).
    pub fn can_send(&self) -> bool {
        self.sender.can_send()
    }

    /// Header length the next data packet will have: 12, or 16 once
    /// something was received (the ack rides along).
    pub fn next_header_len(&self) -> usize {
        if self.receiver.highest().is_some() {
            HEADER_LEN_MAX
        } else {
            HEADER_LEN_MAX - 4
        }
    }

    /// Build the header of the next data packet, taking a sequence number.
    fn next_data_header(&mut self, now: Instant, len: usize) -> Result<GreRepr, SendError> {
        if len > PAYLOAD_LEN_MAX {
            return Err(SendError::PayloadTooLong { len });
        }
        if !self.sender.can_send() {
            self.stats.window_full += 1;
            return Err(SendError::WindowFull {
                unacked: self.sender.unacked(),
                window: self.sender.window(),
            });
        }
        let ack = self.receiver.highest();
        let seq = self.sender.next_sequence(now);
        if ack.is_some() {
            self.ack_sent(ack);
        }
        self.stats.packets_sent += 1;
        self.stats.bytes_sent += len as u64;
        Ok(GreRepr::data(
            self.config.peer_call_id,
            len as u16,
            seq,
            ack,
        ))
    }

    fn ack_sent(&mut self, ack: Option<u32>) {
        self.last_ack_sent = ack;
        self.ack_owed_since = None;
        self.unacked_received = 0;
    }

    /// Encapsulate one PPP frame into `out`, returning the packet length.
    ///
    /// Fails without side effects (no sequence number used) when the
    /// window is full or the frame or buffer has the wrong size.
    pub fn encapsulate(
        &mut self,
        now: Instant,
        ppp_frame: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let needed = self.next_header_len() + ppp_frame.len();
        if ppp_frame.len() > PAYLOAD_LEN_MAX {
            return Err(SendError::PayloadTooLong {
                len: ppp_frame.len(),
            });
        }
        if out.len() < needed {
            return Err(SendError::BufferTooSmall {
                needed,
                available: out.len(),
            });
        }
        let repr = self.next_data_header(now, ppp_frame.len())?;
        let header_len = repr.header_len();
        let (header, rest) = out.split_at_mut(header_len);
        repr.emit(header).map_err(|_| SendError::BufferTooSmall {
            needed,
            available: header_len,
        })?;
        if let Some(dst) = rest.get_mut(..ppp_frame.len()) {
            dst.copy_from_slice(ppp_frame);
        }
        Ok(header_len + ppp_frame.len())
    }

    /// Zero-copy send: the PPP frame already sits at
    /// `buf[HEADER_LEN_MAX..HEADER_LEN_MAX + frame_len]` (the caller
    /// reserved [`HEADER_LEN_MAX`] octets of headroom). The header is
    /// written right before it; the packet is `buf[range]` for the
    /// returned range (it starts at 0 or 4).
    pub fn encapsulate_in_place(
        &mut self,
        now: Instant,
        buf: &mut [u8],
        frame_len: usize,
    ) -> Result<Range<usize>, SendError> {
        let end = HEADER_LEN_MAX + frame_len;
        if frame_len > PAYLOAD_LEN_MAX {
            return Err(SendError::PayloadTooLong { len: frame_len });
        }
        if buf.len() < end {
            return Err(SendError::BufferTooSmall {
                needed: end,
                available: buf.len(),
            });
        }
        let repr = self.next_data_header(now, frame_len)?;
        let start = HEADER_LEN_MAX - repr.header_len();
        let header = buf.get_mut(start..HEADER_LEN_MAX).unwrap_or(&mut []);
        repr.emit(header).map_err(|_| SendError::BufferTooSmall {
            needed: end,
            available: buf.len(),
        })?;
        Ok(start..end)
    }

    /// Whether an acknowledgment-only packet is due at `now`.
    fn ack_due(&self, now: Instant) -> bool {
        let Some(since) = self.ack_owed_since else {
            return false;
        };
        now >= since + self.config.ack_delay || self.unacked_received >= self.ack_threshold()
    }

    /// Packets received and not yet acknowledged after which the ack goes
    /// out at once: a quarter of the window we advertised (at least 1).
    /// RFC 2637 §4.2 leaves the moment to us; at half the window a sender
    /// with a round trip longer than half a window's worth of packets
    /// (user-space hosts on both sides, batched reads) stalls with a full
    /// window every round trip. A quarter leaves it three quarters to go
    /// on with while the ack travels, for one ack per quarter window.
    fn ack_threshold(&self) -> u32 {
        u32::from(self.config.receive_window / 4).max(1)
    }

    /// An acknowledgment-only packet (12 octets), if one is due: the ack
    /// delay passed with nothing to send, or a quarter of our receive window is
    /// unacknowledged (RFC 2637 §4.2). `Ok(None)` when nothing is due.
    ///
    /// Unlike the other machines' `poll_transmit`, this one returns a
    /// `Result`: an ack that is due does not wait in a queue the host can
    /// ask about (as the control connection's messages do, with
    /// `pending_transmit_len`), and [`poll_timeout`](Self::poll_timeout)
    /// keeps naming the past until it goes. A buffer shorter than 12
    /// octets is therefore reported as [`SendError::BufferTooSmall`]
    /// rather than answered with `None`; the ack stays owed.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, SendError> {
        if !self.ack_due(now) {
            return Ok(None);
        }
        let Some(ack) = self.receiver.highest() else {
            return Ok(None);
        };
        let repr = GreRepr::ack_only(self.config.peer_call_id, ack);
        let len = repr.emit(out).map_err(|_| SendError::BufferTooSmall {
            needed: repr.header_len(),
            available: out.len(),
        })?;
        self.ack_sent(Some(ack));
        self.stats.ack_only_sent += 1;
        Ok(Some(Transmit::new(len)))
    }

    /// The checks every datagram passes (header, call ID), the
    /// acknowledgment it carries, and its counters: the data packet's
    /// sequence number and payload range, or `None` without one.
    fn receive_header(
        &mut self,
        now: Instant,
        datagram: &[u8],
    ) -> Result<Option<(u32, Range<usize>)>, RecvError> {
        let packet = match GrePacket::new_checked(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed += 1;
                return Err(RecvError::Malformed(e));
            }
        };
        if packet.call_id() != self.config.local_call_id {
            self.stats.wrong_call_id += 1;
            return Err(RecvError::WrongCallId {
                expected: self.config.local_call_id,
                found: packet.call_id(),
            });
        }
        // An acknowledgment cannot be proven (there is nothing to decrypt
        // in it), and a forged one can do no more than open our send
        // window early: the peer's receiver does not enforce it either.
        if let Some(ack) = packet.ack() {
            self.sender.on_ack(now, ack, &mut self.stats);
        }
        let Some(seq) = packet.sequence() else {
            self.stats.ack_only_received += 1;
            return Ok(None);
        };
        let range = packet.payload_range();
        self.stats.packets_received += 1;
        self.stats.bytes_received += range.len() as u64;
        Ok(Some((seq, range)))
    }

    /// A packet was taken: an acknowledgment is owed for it.
    fn owe_ack(&mut self, now: Instant) {
        if self.receiver.highest() != self.last_ack_sent {
            if self.ack_owed_since.is_none() {
                self.ack_owed_since = Some(now);
            }
            self.unacked_received = self.unacked_received.saturating_add(1);
        }
    }

    /// Process one datagram from the peer (the GRE packet, IP header
    /// removed), trusting what it carries: a caller that can tell a
    /// genuine PPP frame from a forged one uses [`GreSession::open`].
    pub fn decapsulate(&mut self, now: Instant, datagram: &[u8]) -> Result<Received, RecvError> {
        let Some((seq, range)) = self.receive_header(now, datagram)? else {
            return Ok(Received::NoPayload);
        };
        let payload = datagram.get(range.clone()).unwrap_or(&[]);
        let verdict = self.receiver.accept(now, seq, payload, &mut self.stats);
        if !matches!(verdict, Verdict::Dropped(_)) {
            self.owe_ack(now);
        }
        Ok(match verdict {
            Verdict::Deliver { queued_before } => Received::Deliver {
                payload: range,
                queued_before,
            },
            Verdict::Held => Received::Held,
            Verdict::Dropped(reason) => Received::Dropped(reason),
        })
    }

    /// Process one datagram from the peer without letting it move the
    /// receive state yet: a data packet comes back as a [`Candidate`] the
    /// caller confirms once the layer above found it genuine, or rejects.
    ///
    /// Why: enhanced GRE has no integrity check (RFC 2637 §4.1), so anyone
    /// who can spoof the peer's address and guess the call ID can send
    /// packets with any sequence number. Taken on trust, a forged packet
    /// far ahead moves the next expected number past the genuine ones,
    /// which are then dropped as stale: a blind attacker ends the session.
    /// Here a packet moves the state only once it proved itself (with
    /// stateless MPPE: it decrypts to a valid packet, which a forger
    /// without the key cannot arrange), so a forged flood leaves the call
    /// as it was. The caller decides what to hand up: see
    /// [`GreSession::is_trusted`] and [`GreSession::extend_unproven_run`].
    ///
    /// The reorder buffer is not used on this path (a packet is proven
    /// when it is handed up, and delivered then).
    pub fn open(&mut self, now: Instant, datagram: &[u8]) -> Result<Opened, RecvError> {
        let Some((seq, payload)) = self.receive_header(now, datagram)? else {
            return Ok(Opened::NoPayload);
        };
        match self.receiver.classify(seq) {
            Ok(place) => Ok(Opened::Data(Candidate {
                payload,
                seq,
                place,
            })),
            Err(reason) => {
                self.stats.count_drop(reason);
                Ok(Opened::Dropped(reason))
            }
        }
    }

    /// Whether a candidate is close enough to what the call has seen to be
    /// handed up even if it cannot prove itself: in order, or ahead by at
    /// most [`GreConfig::trusted_gap`].
    pub fn is_trusted(&self, candidate: &Candidate) -> bool {
        candidate
            .gap()
            .is_some_and(|gap| gap <= self.config.trusted_gap)
    }

    /// For callers with no proof (no MPPE, or stateful MPPE, whose stream
    /// cannot be rolled back): whether this untrusted candidate continues
    /// a run of packets that follow one another, long enough (three) to
    /// mean the peer moved on after an outage. Never beyond
    /// [`GreConfig::max_sequence_jump`] (the bounded jump).
    pub fn extend_unproven_run(&mut self, candidate: &Candidate) -> bool {
        candidate.gap().is_some() && self.receiver.extend_run(candidate.seq)
    }

    /// The layer above took the candidate's frame as genuine: the call
    /// moves to it (gap given up, or re-synchronised if it was far
    /// ahead), and an acknowledgment is owed.
    pub fn confirm(&mut self, now: Instant, candidate: Candidate) {
        let verdict = self.receiver.commit(
            now,
            candidate.seq,
            candidate.place,
            candidate.payload.len(),
            None,
            &mut self.stats,
        );
        if !matches!(verdict, Verdict::Dropped(_)) {
            self.owe_ack(now);
        }
    }

    /// The layer above found the candidate's frame forged or corrupt:
    /// counted ([`GreStats::dropped_unproven`]), nothing else changes.
    pub fn reject(&mut self, candidate: Candidate) {
        let _ = candidate;
        self.stats.count_drop(DropReason::Unproven);
    }

    /// The next in-order frame from the reorder buffer, removed from it.
    /// Drain after every `decapsulate` and `handle_timeout`.
    pub fn poll_deliver(&mut self) -> Option<&[u8]> {
        self.receiver.poll_deliver(&mut self.stats)
    }

    /// The earliest time [`handle_timeout`](Self::handle_timeout) (and then
    /// [`poll_transmit`](Self::poll_transmit)) should be called: an owed
    /// ack, the ack time-out of sent packets, or a held packet's hold
    /// time.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let ack = self.ack_owed_since.map(|since| {
            if self.unacked_received >= self.ack_threshold() {
                since
            } else {
                since + self.config.ack_delay
            }
        });
        [ack, self.sender.deadline(), self.receiver.deadline()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Run the timers due at `now`: the ack time-out of sent packets
    /// (window halved, ATO backed off) and the reorder hold time (packets
    /// released to `poll_deliver`). A due ack goes out through
    /// `poll_transmit`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.sender.handle_timeout(now, &mut self.stats);
        self.receiver.handle_timeout(now, &mut self.stats);
    }
}
#[cfg(test)]
mod tests;
