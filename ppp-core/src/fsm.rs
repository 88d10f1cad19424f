//! The RFC 1661 option-negotiation automaton, written once and shared by
//! every control protocol (LCP, IPCP, CCP, IPV6CP).
//!
//! [`Fsm`] implements the state transition table of RFC 1661 §4.1 exactly
//! ([`transition`] is that table), the restart timer and counters of §4.6,
//! identifier matching of §5 and Code-Reject of §5.6. What differs per
//! protocol (which options to request, how to judge the peer's, extra codes
//! such as LCP's Echo or CCP's Reset) lives behind [`OptionHandler`].
//!
//! Sans-IO: inputs are [`Fsm::up`], [`Fsm::down`], [`Fsm::open`],
//! [`Fsm::close`], [`Fsm::handle_packet`] and [`Fsm::handle_timeout`];
//! outputs are queued control packets ([`Fsm::poll_transmit`]), layer
//! events ([`Fsm::poll_event`]) and the next deadline
//! ([`Fsm::poll_timeout`]). Every queue is bounded.
//!
//! # Plugging in a control protocol
//!
//! A handler states what we request, judges the peer's request option by
//! option through a [`ResponseBuilder`], and adjusts on Nak/Reject. IPCP
//! (address pool Nak, RFC 1877 DNS/NBNS), CCP (MPPE policy) and LCP
//! ([`crate::lcp::LcpOptions`]) are all written this way; extra codes
//! (CCP Reset-Request/Ack, LCP Echo) go through
//! [`OptionHandler::handle_other`].
//!
//! ```
//! use ppp_core::fsm::{Config, Fsm, OptionHandler, Options, Progress, ResponseBuilder, State};
//! use ppp_core::time::Instant;
//! use ppp_core::wire::packet::OptionWriter;
//! use ppp_core::wire::Error;
//!
//! /// A toy NCP: asks for IP-Address (type 3) 10.0.0.1 and insists the peer
//! /// uses 10.0.0.2 (Nak otherwise); rejects every other option.
//! struct ToyIpcp {
//!     peer: Option<[u8; 4]>,
//! }
//!
//! impl OptionHandler for ToyIpcp {
//!     fn protocol(&self) -> u16 {
//!         0x8021
//!     }
//!     fn build_request(&mut self, out: &mut OptionWriter<'_>) -> Result<(), Error> {
//!         out.push(3, &[10, 0, 0, 1])
//!     }
//!     fn process_request(&mut self, options: Options<'_>, response: &mut ResponseBuilder) {
//!         let mut peer = None;
//!         for opt in options.iter() {
//!             match (opt.kind, opt.data) {
//!                 (3, [10, 0, 0, 2]) => peer = Some([10, 0, 0, 2]),
//!                 (3, _) => response.nak(opt, 3, &[10, 0, 0, 2]),
//!                 _ => response.reject(opt),
//!             }
//!         }
//!         if response.verdict() == ppp_core::fsm::Verdict::Ack {
//!             self.peer = peer;
//!         }
//!     }
//!     fn on_ack(&mut self, _: Options<'_>) {}
//!     fn on_nak(&mut self, _: Options<'_>) -> Progress {
//!         Progress::Continue
//!     }
//!     fn on_reject(&mut self, _: Options<'_>) -> Progress {
//!         Progress::GiveUp
//!     }
//! }
//!
//! let now = Instant::ZERO;
//! let mut ncp = Fsm::new(ToyIpcp { peer: None }, Config::default());
//! ncp.open(now);
//! ncp.up(now); // LCP opened and authentication done: the NCP may start
//! let mut buf = [0u8; 64];
//! let t = ncp.poll_transmit(&mut buf).unwrap();
//! assert_eq!(t.to, 0x8021); // the protocol to frame it with
//! assert_eq!(&buf[..t.len], &[1, 1, 0, 10, 3, 6, 10, 0, 0, 1]);
//! // The peer asks for 0.0.0.0: we Nak with its address.
//! ncp.handle_packet(now, &[1, 7, 0, 10, 3, 6, 0, 0, 0, 0]).unwrap();
//! let t = ncp.poll_transmit(&mut buf).unwrap();
//! assert_eq!(&buf[..t.len], &[3, 7, 0, 10, 3, 6, 10, 0, 0, 2]);
//! // It acks ours and asks again with the address we gave: Opened.
//! ncp.handle_packet(now, &[2, 1, 0, 10, 3, 6, 10, 0, 0, 1]).unwrap();
//! ncp.handle_packet(now, &[1, 8, 0, 10, 3, 6, 10, 0, 0, 2]).unwrap();
//! assert_eq!(ncp.state(), State::Opened);
//! assert_eq!(ncp.handler().peer, Some([10, 0, 0, 2]));
//! ```

use core::fmt;

use heapless::{Deque, Vec};

use crate::time::{Duration, Instant};
use crate::transmit::Transmit;
use crate::wire::frame::{self, FieldCompression};
use crate::wire::packet::{self, Code, OptionIter, OptionWriter, Packet, RawOption};
use crate::wire::Error as WireError;

/// The largest control packet the automaton queues (header included).
/// Replies that would be longer are truncated where the RFC allows it
/// (Code-Reject, Protocol-Reject, Echo-Reply data) and dropped otherwise.
pub const MAX_PACKET_LEN: usize = 1500;
/// The largest option list kept for a Configure-Nak or Configure-Reject we
/// build (they echo what the peer sent).
pub const MAX_OPTIONS_LEN: usize = 512;
/// The largest option list of our own Configure-Request, kept per
/// automaton to check the peer's Ack and Reject against. Our requests are
/// small (LCP at most 25 octets, IPCP 30, CCP 6); an option of a handler
/// that does not fit is left out of the request.
pub const MAX_REQUEST_LEN: usize = 128;
/// Control packets that can wait in the outbound queue.
pub const OUTBOX_DEPTH: usize = 4;
/// Octets the outbound queue holds, all packets together: room for one
/// packet of [`MAX_PACKET_LEN`] or several ordinary ones. Packets are
/// stored back to back (each carries its own Length field), so a queue
/// costs this many octets rather than `OUTBOX_DEPTH * MAX_PACKET_LEN`
/// (the link keeps three automata per session).
pub const OUTBOX_BYTES: usize = MAX_PACKET_LEN + 36;
/// Layer events that can wait in the event queue.
pub const EVENT_DEPTH: usize = 8;
/// The most octets of a Terminate-Request's data kept.
pub const MAX_TERMINATE_DATA: usize = 64;

/// The ten states of RFC 1661 §4.2.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum State {
    /// 0: lower layer down, no Open.
    Initial,
    /// 1: Open, waiting for the lower layer.
    Starting,
    /// 2: lower layer up, no Open.
    Closed,
    /// 3: waiting for the peer after termination or failure.
    Stopped,
    /// 4: Terminate-Request sent after Close.
    Closing,
    /// 5: Terminate-Request sent, link going down.
    Stopping,
    /// 6: Configure-Request sent.
    ReqSent,
    /// 7: Configure-Request sent and acknowledged.
    AckRcvd,
    /// 8: Configure-Request sent, peer's acknowledged.
    AckSent,
    /// 9: both Configure-Requests acknowledged.
    Opened,
}

impl State {
    /// All states in RFC order (0..=9).
    pub const ALL: [State; 10] = [
        State::Initial,
        State::Starting,
        State::Closed,
        State::Stopped,
        State::Closing,
        State::Stopping,
        State::ReqSent,
        State::AckRcvd,
        State::AckSent,
        State::Opened,
    ];

    /// Whether the restart timer runs in this state (RFC 1661 §4.6).
    pub fn uses_restart_timer(self) -> bool {
        matches!(
            self,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        )
    }

    /// Whether a Configure-Request of ours is being negotiated.
    pub fn is_negotiating(self) -> bool {
        matches!(self, State::ReqSent | State::AckRcvd | State::AckSent)
    }
}

/// The events of RFC 1661 §4.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// Up: lower layer is up.
    Up,
    /// Down: lower layer is down.
    Down,
    /// Open: administrative open.
    Open,
    /// Close: administrative close.
    Close,
    /// TO+: timeout with counter > 0.
    TimeoutRetry,
    /// TO-: timeout with counter expired.
    TimeoutExpired,
    /// RCR+: receive Configure-Request (good).
    RcrGood,
    /// RCR-: receive Configure-Request (bad).
    RcrBad,
    /// RCA: receive Configure-Ack.
    Rca,
    /// RCN: receive Configure-Nak or Configure-Reject.
    Rcn,
    /// RTR: receive Terminate-Request.
    Rtr,
    /// RTA: receive Terminate-Ack.
    Rta,
    /// RUC: receive unknown code.
    Ruc,
    /// RXJ+: receive Code-Reject or Protocol-Reject (permitted).
    RxjGood,
    /// RXJ-: receive Code-Reject or Protocol-Reject (catastrophic).
    RxjBad,
    /// RXR: receive Echo-Request, Echo-Reply or Discard-Request.
    Rxr,
}

impl Event {
    /// All events in RFC order.
    pub const ALL: [Event; 16] = [
        Event::Up,
        Event::Down,
        Event::Open,
        Event::Close,
        Event::TimeoutRetry,
        Event::TimeoutExpired,
        Event::RcrGood,
        Event::RcrBad,
        Event::Rca,
        Event::Rcn,
        Event::Rtr,
        Event::Rta,
        Event::Ruc,
        Event::RxjGood,
        Event::RxjBad,
        Event::Rxr,
    ];
}

/// The actions of RFC 1661 §4.4.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Action {
    /// tlu: This-Layer-Up.
    Tlu,
    /// tld: This-Layer-Down.
    Tld,
    /// tls: This-Layer-Started.
    Tls,
    /// tlf: This-Layer-Finished.
    Tlf,
    /// irc: Initialize-Restart-Count.
    Irc,
    /// zrc: Zero-Restart-Count.
    Zrc,
    /// scr: Send-Configure-Request.
    Scr,
    /// sca: Send-Configure-Ack.
    Sca,
    /// scn: Send-Configure-Nak/Rej.
    Scn,
    /// str: Send-Terminate-Request.
    Str,
    /// sta: Send-Terminate-Ack.
    Sta,
    /// scj: Send-Code-Reject.
    Scj,
    /// ser: Send-Echo-Reply.
    Ser,
}

/// RFC 1661 §4.1's state transition table: the actions to run and the
/// next state for `event` in `state`. Cells marked "-" in the RFC (events
/// that cannot occur) leave the state unchanged with no action. The
/// options `r` (restart), `p` (passive) and `x` (crossed connection) take
/// the RFC's default behaviour.
pub fn transition(state: State, event: Event) -> (State, &'static [Action]) {
    use Action::*;
    use Event as E;
    use State as S;
    const NONE: &[Action] = &[];
    match (event, state) {
        (E::Up, S::Initial) => (S::Closed, NONE),
        (E::Up, S::Starting) => (S::ReqSent, &[Irc, Scr]),
        (E::Up, s) => (s, NONE),

        (E::Down, S::Closed) => (S::Initial, NONE),
        (E::Down, S::Stopped) => (S::Starting, &[Tls]),
        (E::Down, S::Closing) => (S::Initial, NONE),
        (E::Down, S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent) => (S::Starting, NONE),
        (E::Down, S::Opened) => (S::Starting, &[Tld]),
        (E::Down, s) => (s, NONE),

        (E::Open, S::Initial) => (S::Starting, &[Tls]),
        (E::Open, S::Closed) => (S::ReqSent, &[Irc, Scr]),
        (E::Open, S::Closing) => (S::Stopping, NONE),
        (E::Open, s) => (s, NONE),

        (E::Close, S::Initial) => (S::Initial, NONE),
        (E::Close, S::Starting) => (S::Initial, &[Tlf]),
        (E::Close, S::Closed | S::Stopped) => (S::Closed, NONE),
        (E::Close, S::Closing | S::Stopping) => (S::Closing, NONE),
        (E::Close, S::ReqSent | S::AckRcvd | S::AckSent) => (S::Closing, &[Irc, Str]),
        (E::Close, S::Opened) => (S::Closing, &[Tld, Irc, Str]),

        (E::TimeoutRetry, S::Closing) => (S::Closing, &[Str]),
        (E::TimeoutRetry, S::Stopping) => (S::Stopping, &[Str]),
        (E::TimeoutRetry, S::ReqSent | S::AckRcvd) => (S::ReqSent, &[Scr]),
        (E::TimeoutRetry, S::AckSent) => (S::AckSent, &[Scr]),
        (E::TimeoutRetry, s) => (s, NONE),

        (E::TimeoutExpired, S::Closing) => (S::Closed, &[Tlf]),
        (E::TimeoutExpired, S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent) => {
            (S::Stopped, &[Tlf])
        }
        (E::TimeoutExpired, s) => (s, NONE),

        (E::RcrGood, S::Closed) => (S::Closed, &[Sta]),
        (E::RcrGood, S::Stopped) => (S::AckSent, &[Irc, Scr, Sca]),
        (E::RcrGood, S::ReqSent | S::AckSent) => (S::AckSent, &[Sca]),
        (E::RcrGood, S::AckRcvd) => (S::Opened, &[Sca, Tlu]),
        (E::RcrGood, S::Opened) => (S::AckSent, &[Tld, Scr, Sca]),
        (E::RcrGood, s) => (s, NONE),

        (E::RcrBad, S::Closed) => (S::Closed, &[Sta]),
        (E::RcrBad, S::Stopped) => (S::ReqSent, &[Irc, Scr, Scn]),
        (E::RcrBad, S::ReqSent | S::AckSent) => (S::ReqSent, &[Scn]),
        (E::RcrBad, S::AckRcvd) => (S::AckRcvd, &[Scn]),
        (E::RcrBad, S::Opened) => (S::ReqSent, &[Tld, Scr, Scn]),
        (E::RcrBad, s) => (s, NONE),

        (E::Rca, S::Closed | S::Stopped) => (state, &[Sta]),
        (E::Rca, S::ReqSent) => (S::AckRcvd, &[Irc]),
        (E::Rca, S::AckRcvd) => (S::ReqSent, &[Scr]),
        (E::Rca, S::AckSent) => (S::Opened, &[Irc, Tlu]),
        (E::Rca, S::Opened) => (S::ReqSent, &[Tld, Scr]),
        (E::Rca, s) => (s, NONE),

        (E::Rcn, S::Closed | S::Stopped) => (state, &[Sta]),
        (E::Rcn, S::ReqSent) => (S::ReqSent, &[Irc, Scr]),
        (E::Rcn, S::AckRcvd) => (S::ReqSent, &[Scr]),
        (E::Rcn, S::AckSent) => (S::AckSent, &[Irc, Scr]),
        (E::Rcn, S::Opened) => (S::ReqSent, &[Tld, Scr]),
        (E::Rcn, s) => (s, NONE),

        (E::Rtr, S::Closed | S::Stopped | S::Closing | S::Stopping) => (state, &[Sta]),
        (E::Rtr, S::ReqSent | S::AckRcvd | S::AckSent) => (S::ReqSent, &[Sta]),
        (E::Rtr, S::Opened) => (S::Stopping, &[Tld, Zrc, Sta]),
        (E::Rtr, s) => (s, NONE),

        (E::Rta, S::Closing) => (S::Closed, &[Tlf]),
        (E::Rta, S::Stopping) => (S::Stopped, &[Tlf]),
        (E::Rta, S::AckRcvd) => (S::ReqSent, NONE),
        (E::Rta, S::Opened) => (S::ReqSent, &[Tld, Scr]),
        (E::Rta, s) => (s, NONE),

        (E::Ruc, S::Initial | S::Starting) => (state, NONE),
        (E::Ruc, s) => (s, &[Scj]),

        (E::RxjGood, S::AckRcvd) => (S::ReqSent, NONE),
        (E::RxjGood, s) => (s, NONE),

        (E::RxjBad, S::Closed | S::Closing) => (S::Closed, &[Tlf]),
        (E::RxjBad, S::Stopped | S::Stopping | S::ReqSent | S::AckRcvd | S::AckSent) => {
            (S::Stopped, &[Tlf])
        }
        (E::RxjBad, S::Opened) => (S::Stopping, &[Tld, Irc, Str]),
        (E::RxjBad, s) => (s, NONE),

        (E::Rxr, S::Opened) => (S::Opened, &[Ser]),
        (E::Rxr, s) => (s, NONE),
    }
}

/// Timer and counter settings (RFC 1661 §4.6).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Config {
    /// Restart timer (default 3 s).
    pub restart_interval: Duration,
    /// Configure-Requests sent before giving up (default 10).
    pub max_configure: u8,
    /// Terminate-Requests sent before giving up (default 2).
    pub max_terminate: u8,
    /// Configure-Naks sent without a Configure-Ack before Naks turn into
    /// Rejects (default 5).
    pub max_failure: u8,
    /// The first Identifier used (later ones increment).
    pub first_identifier: u8,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            restart_interval: Duration::from_secs(3),
            max_configure: 10,
            max_terminate: 2,
            max_failure: 5,
            first_identifier: 1,
        }
    }
}

/// How a peer's Configure-Request is answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Verdict {
    /// Every option acceptable: Configure-Ack (RCR+).
    Ack,
    /// Some values unacceptable: Configure-Nak (RCR-).
    Nak,
    /// Some options unrecognised or not negotiable: Configure-Reject (RCR-).
    Reject,
}

/// A validated option list (every TLV well formed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Options<'a>(&'a [u8]);

impl<'a> Options<'a> {
    /// Validates `data` as an option list.
    pub fn new(data: &'a [u8]) -> Result<Self, WireError> {
        packet::validate_options(data)?;
        Ok(Options(data))
    }

    /// The options, in order.
    pub fn iter(&self) -> impl Iterator<Item = RawOption<'a>> + 'a {
        OptionIter::new(self.0).filter_map(Result::ok)
    }

    /// The raw octets.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.0
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Collects the answer to a peer's Configure-Request (RFC 1661 §5.2-5.4):
/// every option is acknowledged unless the handler Naks or Rejects it. Any
/// Reject makes the reply a Configure-Reject of only the rejected options;
/// otherwise any Nak makes it a Configure-Nak of the Nak'd options.
#[derive(Clone, Debug, Default)]
pub struct ResponseBuilder {
    nak: Vec<u8, MAX_OPTIONS_LEN>,
    nak_originals: Vec<u8, MAX_OPTIONS_LEN>,
    reject: Vec<u8, MAX_OPTIONS_LEN>,
    truncated: bool,
}

fn push_option<const N: usize>(list: &mut Vec<u8, N>, kind: u8, data: &[u8]) -> bool {
    let total = 2 + data.len();
    if total > 255 || list.len() + total > N {
        return false;
    }
    // Capacity checked above; these pushes cannot fail.
    list.push(kind).is_ok()
        && list.push(total as u8).is_ok()
        && list.extend_from_slice(data).is_ok()
}

impl ResponseBuilder {
    /// An empty builder (verdict Ack).
    pub fn new() -> Self {
        Self::default()
    }

    /// Nak `original`, suggesting `suggestion` as the value of option
    /// `kind` (normally `original.kind`).
    pub fn nak(&mut self, original: RawOption<'_>, kind: u8, suggestion: &[u8]) {
        let fits = push_option(&mut self.nak, kind, suggestion);
        let orig = push_option(&mut self.nak_originals, original.kind, original.data);
        self.truncated |= !(fits && orig);
    }

    /// Appends an option the peer did not request, to prompt it to ask
    /// for it (RFC 1661 §5.3). Only sent if the reply is a Nak.
    pub fn nak_unrequested(&mut self, kind: u8, suggestion: &[u8]) {
        self.truncated |= !push_option(&mut self.nak, kind, suggestion);
    }

    /// Rejects `original` (unknown, or not negotiable here).
    pub fn reject(&mut self, original: RawOption<'_>) {
        self.truncated |= !push_option(&mut self.reject, original.kind, original.data);
    }

    /// The reply as it stands.
    pub fn verdict(&self) -> Verdict {
        if !self.reject.is_empty() {
            Verdict::Reject
        } else if !self.nak.is_empty() {
            Verdict::Nak
        } else {
            Verdict::Ack
        }
    }

    /// Whether some options did not fit the bounded lists (the peer will
    /// see the rest rejected or Nak'd in a later round).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    /// The options of the Configure-Nak being built.
    pub fn nak_options(&self) -> &[u8] {
        &self.nak
    }

    /// The options of the Configure-Reject being built.
    pub fn reject_options(&self) -> &[u8] {
        &self.reject
    }

    /// RFC 1661 §4.6 Max-Failure: turn every Nak into a Reject of the
    /// original option (options appended unrequested are dropped).
    fn convert_naks_to_rejects(&mut self) {
        let originals = core::mem::take(&mut self.nak_originals);
        for opt in OptionIter::new(&originals).filter_map(Result::ok) {
            self.truncated |= !push_option(&mut self.reject, opt.kind, opt.data);
        }
        self.nak.clear();
    }
}

/// What a handler wants after processing a Configure-Nak or -Reject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Progress {
    /// Send the adjusted Configure-Request.
    Continue,
    /// Negotiation cannot succeed (for example no common authentication
    /// method): close the layer (as the Close event).
    GiveUp,
}

/// How a handler classified a code the automaton does not handle itself
/// (anything but codes 1-7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum OtherCode {
    /// Understood and fully handled by the handler.
    Handled,
    /// An Echo-Request: RXR; in Opened the automaton sends the Echo-Reply
    /// (action ser) with the handler's [`OptionHandler::echo_magic`].
    EchoRequest,
    /// Echo-Reply or Discard-Request (RXR without reply).
    Rxr,
    /// A permitted reject (RXJ+), for example Protocol-Reject of an NCP.
    RejectPermitted,
    /// A catastrophic reject (RXJ-), for example Protocol-Reject of LCP.
    RejectCatastrophic,
    /// Not a code of this protocol: RUC, answered with Code-Reject.
    Unknown,
}

/// The outbound queue: whole control packets back to back in one bounded
/// ring of octets; a packet's Length field (octets 3-4) delimits it.
#[derive(Debug, Default)]
struct PacketQueue {
    bytes: Deque<u8, OUTBOX_BYTES>,
    count: usize,
}

impl PacketQueue {
    /// Appends a complete packet (its Length field must equal its size);
    /// false if it does not fit.
    fn push(&mut self, packet: &[u8]) -> bool {
        let free = OUTBOX_BYTES - self.bytes.len();
        let length_field = match packet {
            [_, _, hi, lo, ..] => usize::from(u16::from_be_bytes([*hi, *lo])),
            _ => 0,
        };
        // Only well-delimited packets enter, so `pop_into` always removes
        // exactly one whole packet.
        if self.count >= OUTBOX_DEPTH || packet.len() > free || length_field != packet.len() {
            return false;
        }
        for &b in packet {
            // Room checked above.
            let _ = self.bytes.push_back(b);
        }
        self.count += 1;
        true
    }

    /// Removes the first packet, copying it into `buf` if it fits;
    /// returns its length and whether it was copied.
    fn pop_into(&mut self, buf: &mut [u8]) -> Option<(usize, bool)> {
        let mut it = self.bytes.iter().skip(2);
        let hi = *it.next()?;
        let lo = *it.next()?;
        let len = usize::from(u16::from_be_bytes([hi, lo])).min(self.bytes.len());
        let fits = len <= buf.len();
        for i in 0..len {
            let b = self.bytes.pop_front().unwrap_or(0);
            if let Some(d) = buf.get_mut(i) {
                if fits {
                    *d = b;
                }
            }
        }
        self.count = self.count.saturating_sub(1);
        Some((len, fits))
    }

    fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    #[cfg(test)]
    fn clear(&mut self) {
        self.bytes.clear();
        self.count = 0;
    }
}

/// Lets a handler queue packets of its own (Echo-Request, Reset-Ack, ...).
#[derive(Debug)]
pub struct Outbox<'a> {
    queue: &'a mut PacketQueue,
    dropped: &'a mut u32,
}

impl Outbox<'_> {
    /// Queues `code, identifier, data`; data longer than fits is cut.
    /// Returns false if the queue was full and the packet dropped.
    pub fn send(&mut self, code: Code, identifier: u8, data: &[u8]) -> bool {
        enqueue(self.queue, self.dropped, code, identifier, &[data])
    }
}

fn enqueue(
    queue: &mut PacketQueue,
    dropped: &mut u32,
    code: Code,
    identifier: u8,
    parts: &[&[u8]],
) -> bool {
    let mut pkt: Vec<u8, MAX_PACKET_LEN> = Vec::new();
    let header = [u8::from(code), identifier, 0, 0];
    let _ = pkt.extend_from_slice(&header);
    for part in parts {
        let room = MAX_PACKET_LEN - pkt.len();
        let take = part.get(..room.min(part.len())).unwrap_or(&[]);
        let _ = pkt.extend_from_slice(take);
    }
    let len = (pkt.len() as u16).to_be_bytes();
    if let Some(l) = pkt.get_mut(2..4) {
        l.copy_from_slice(&len);
    }
    if !queue.push(&pkt) {
        *dropped = dropped.saturating_add(1);
        return false;
    }
    true
}

/// The per-protocol part of a control protocol.
///
/// The automaton calls these at the points RFC 1661 leaves to the
/// protocol. A handler keeps two sides of state: what *we* request
/// (adjusted by the peer's Nak/Reject, committed on Ack) and what the
/// *peer* requested (committed when we Ack it).
pub trait OptionHandler {
    /// The PPP protocol number of this control protocol (c021 for LCP,
    /// 8021 for IPCP, 80fd for CCP).
    fn protocol(&self) -> u16;

    /// A new negotiation starts (scr from a state that was not
    /// negotiating): restore the Configure-Request to the configured wishes.
    fn reset_request(&mut self) {}

    /// Writes the options of our next Configure-Request.
    fn build_request(&mut self, out: &mut OptionWriter<'_>) -> Result<(), WireError>;

    /// Judges the peer's Configure-Request option by option, calling
    /// [`ResponseBuilder::nak`] / [`ResponseBuilder::reject`] for those not
    /// acceptable. Commit the peer's values only if the final
    /// [`ResponseBuilder::verdict`] is [`Verdict::Ack`].
    fn process_request(&mut self, options: Options<'_>, response: &mut ResponseBuilder);

    /// The peer acknowledged our last request (`options` are exactly it).
    fn on_ack(&mut self, options: Options<'_>);

    /// The peer Nak'd our request with these suggestions.
    fn on_nak(&mut self, options: Options<'_>) -> Progress;

    /// The peer rejected these options of our request.
    fn on_reject(&mut self, options: Options<'_>) -> Progress;

    /// tlu: the layer is up.
    fn this_layer_up(&mut self) {}
    /// tld: the layer is leaving Opened.
    fn this_layer_down(&mut self) {}
    /// tls: the layer needs the lower layer.
    fn this_layer_started(&mut self) {}
    /// tlf: the layer no longer needs the lower layer.
    fn this_layer_finished(&mut self) {}

    /// The peer sent Code-Reject for `code`: return true if this protocol
    /// can live without it (RXJ+), false if catastrophic (RXJ-). The
    /// default treats codes 1-7 as essential (RFC 1661 §4.3, RXJ-).
    fn code_rejected(&mut self, code: u8) -> bool {
        !(1..=7).contains(&code)
    }

    /// A packet with a code other than 1-7 arrived in `state`.
    fn handle_other(
        &mut self,
        now: Instant,
        state: State,
        packet: &Packet<&[u8]>,
        out: &mut Outbox<'_>,
    ) -> OtherCode {
        let _ = (now, state, packet, out);
        OtherCode::Unknown
    }

    /// The Terminate-Request data sent when the handler gives up.
    fn give_up_reason(&self) -> &[u8] {
        b""
    }

    /// The Magic-Number an Echo-Reply carries (LCP only; 0 = none
    /// negotiated, RFC 1661 §5.8).
    fn echo_magic(&self) -> u32 {
        0
    }
}

/// Why the layer left Opened or finished.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Cause {
    /// Administrative Close.
    Closed,
    /// The handler gave up negotiating ([`Progress::GiveUp`]).
    GaveUp,
    /// The lower layer went down.
    LowerDown,
    /// The restart counter expired (TO-).
    Timeout,
    /// The peer sent Terminate-Request (or Terminate-Ack in Opened).
    PeerTerminated,
    /// The peer rejected an essential code or protocol (RXJ-).
    PeerRejected,
    /// The peer renegotiated from Opened.
    Renegotiation,
}

/// What the automaton tells its owner.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum LayerEvent {
    /// tlu: the layer is Opened.
    Up,
    /// tld: the layer left Opened.
    Down(Cause),
    /// tls: the layer needs the lower layer (for LCP: bring up the link).
    Started,
    /// tlf: the layer is done with the lower layer.
    Finished(Cause),
}

/// Why a received packet was discarded.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The packet or its options are malformed.
    Malformed(WireError),
    /// The lower layer is not up (state Initial or Starting).
    NotUp,
    /// A Configure-Ack/Nak/Reject whose Identifier does not match the
    /// outstanding Configure-Request (RFC 1661 §5.2-5.4), or that
    /// arrived when none was outstanding.
    StaleReply {
        /// The reply's Identifier.
        identifier: u8,
    },
    /// A Configure-Ack whose options differ from our request (§5.2).
    AckMismatch,
    /// A Configure-Reject listing options we did not request, or
    /// modified ones (§5.4).
    RejectMismatch,
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::Malformed(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Malformed(e) => write!(f, "malformed packet: {e}"),
            Error::NotUp => f.write_str("packet received while the lower layer is down"),
            Error::StaleReply { identifier } => {
                write!(f, "reply with stale identifier {identifier}")
            }
            Error::AckMismatch => f.write_str("Configure-Ack does not match our request"),
            Error::RejectMismatch => {
                f.write_str("Configure-Reject lists options we did not request")
            }
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// What an event needs from the packet that caused it.
#[derive(Clone, Copy, Default)]
struct Ctx<'a> {
    /// Identifier of the received packet (for sta, ser).
    identifier: u8,
    /// The whole received packet (for scj, ser).
    received: &'a [u8],
    /// The prepared Configure-Ack/Nak/Reject (for sca, scn).
    reply: &'a [u8],
}

/// The RFC 1661 automaton around an [`OptionHandler`].
#[derive(Debug)]
pub struct Fsm<H> {
    handler: H,
    config: Config,
    state: State,
    restart_count: u8,
    naks_sent: u8,
    timer: Option<Instant>,
    next_identifier: u8,
    request_identifier: u8,
    request: Vec<u8, MAX_REQUEST_LEN>,
    awaiting_reply: bool,
    terminate_data: Vec<u8, MAX_TERMINATE_DATA>,
    cause: Cause,
    outbox: PacketQueue,
    events: Deque<LayerEvent, EVENT_DEPTH>,
    peer_mru: usize,
    dropped: u32,
}

/// The scalar state of an automaton that has nothing in flight: what a
/// parked link keeps of it (see [`crate::link::ParkedLink`]). The queues,
/// the last Configure-Request and the Terminate data are not kept: a quiet
/// automaton has nothing queued, and a Configure-Request is rebuilt from
/// the handler's wishes whenever one is sent from Opened (RFC 1661 §4.1,
/// scr after tld).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Snapshot {
    pub(crate) state: State,
    next_identifier: u8,
    request_identifier: u8,
    cause: Cause,
    peer_mru: u16,
    dropped: u32,
}

impl Snapshot {
    /// A fresh Identifier for a packet sent while parked (the automaton
    /// continues the same sequence once restored).
    pub(crate) fn next_identifier(&mut self) -> u8 {
        let id = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        id
    }
}

impl<H: OptionHandler> Fsm<H> {
    /// A new automaton in state Initial.
    pub fn new(handler: H, config: Config) -> Self {
        Fsm {
            handler,
            config,
            state: State::Initial,
            restart_count: 0,
            naks_sent: 0,
            timer: None,
            next_identifier: config.first_identifier,
            request_identifier: 0,
            request: Vec::new(),
            awaiting_reply: false,
            terminate_data: Vec::new(),
            cause: Cause::Closed,
            outbox: PacketQueue::default(),
            events: Deque::new(),
            peer_mru: MAX_PACKET_LEN,
            dropped: 0,
        }
    }

    /// Whether nothing is in flight: no packet or event queued, no
    /// restart timer running, and a state that waits for nothing (Opened,
    /// or one of the states without a timer).
    pub(crate) fn is_quiet(&self) -> bool {
        self.outbox.is_empty()
            && self.events.is_empty()
            && self.timer.is_none()
            && !self.state.uses_restart_timer()
    }

    /// The scalar state (meaningful when [`Fsm::is_quiet`]).
    pub(crate) fn snapshot(&self) -> Snapshot {
        Snapshot {
            state: self.state,
            next_identifier: self.next_identifier,
            request_identifier: self.request_identifier,
            cause: self.cause,
            // peer_mru is clamped to MAX_PACKET_LEN (1500).
            peer_mru: u16::try_from(self.peer_mru).unwrap_or(u16::MAX),
            dropped: self.dropped,
        }
    }

    /// Takes the handler out (the rest is dropped).
    #[cfg_attr(not(feature = "mppe"), allow(dead_code))]
    pub(crate) fn into_handler(self) -> H {
        self.handler
    }

    /// Rebuilds a quiet automaton from its handler and snapshot.
    pub(crate) fn restore(handler: H, config: Config, snapshot: Snapshot) -> Self {
        let mut fsm = Fsm::new(handler, config);
        fsm.state = snapshot.state;
        fsm.next_identifier = snapshot.next_identifier;
        fsm.request_identifier = snapshot.request_identifier;
        fsm.cause = snapshot.cause;
        fsm.peer_mru = usize::from(snapshot.peer_mru);
        fsm.dropped = snapshot.dropped;
        fsm
    }

    /// The current state.
    pub fn state(&self) -> State {
        self.state
    }

    /// The option handler.
    pub fn handler(&self) -> &H {
        &self.handler
    }

    /// The option handler, mutable.
    pub fn handler_mut(&mut self) -> &mut H {
        &mut self.handler
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The restart counter (RFC 1661 §4.6).
    pub fn restart_count(&self) -> u8 {
        self.restart_count
    }

    /// Packets dropped because a queue was full or a caller buffer small.
    pub fn dropped_packets(&self) -> u32 {
        self.dropped
    }

    /// Limits the packets we send to the peer's MRU (Code-Reject data is
    /// truncated to it, RFC 1661 §5.6).
    pub fn set_peer_mru(&mut self, mru: u16) {
        self.peer_mru = usize::from(mru).clamp(packet::HEADER_LEN + 4, MAX_PACKET_LEN);
    }

    /// A fresh Identifier for a packet the handler or owner sends.
    pub fn next_identifier(&mut self) -> u8 {
        let id = self.next_identifier;
        self.next_identifier = self.next_identifier.wrapping_add(1);
        id
    }

    /// Queues a packet of the owner's (Echo-Request, Protocol-Reject...).
    /// Returns false if the queue was full.
    pub fn send_packet(&mut self, code: Code, identifier: u8, data: &[u8]) -> bool {
        let room = self.peer_mru.saturating_sub(packet::HEADER_LEN);
        let data = data.get(..room.min(data.len())).unwrap_or(&[]);
        enqueue(
            &mut self.outbox,
            &mut self.dropped,
            code,
            identifier,
            &[data],
        )
    }

    /// Lower layer up (event Up).
    pub fn up(&mut self, now: Instant) {
        self.run(now, Event::Up, Ctx::default());
    }

    /// Lower layer down (event Down).
    pub fn down(&mut self, now: Instant) {
        self.cause = Cause::LowerDown;
        self.run(now, Event::Down, Ctx::default());
    }

    /// Administrative Open (event Open).
    pub fn open(&mut self, now: Instant) {
        self.run(now, Event::Open, Ctx::default());
    }

    /// Administrative Close (event Close); `reason` goes into the
    /// Terminate-Request's data (RFC 1661 §5.5).
    pub fn close(&mut self, now: Instant, reason: &[u8]) {
        self.close_with(now, reason, Cause::Closed);
    }

    /// Close with an explicit cause (used by owners that end the layer
    /// for a reason of their own).
    pub fn close_with(&mut self, now: Instant, reason: &[u8], cause: Cause) {
        self.terminate_data.clear();
        let keep = reason
            .get(..reason.len().min(MAX_TERMINATE_DATA))
            .unwrap_or(&[]);
        let _ = self.terminate_data.extend_from_slice(keep);
        self.cause = cause;
        self.run(now, Event::Close, Ctx::default());
    }

    /// The peer Protocol-Rejected this protocol (LCP reports it with
    /// [`crate::lcp::LcpEvent::ProtocolRejected`]): event RXJ-, so the
    /// layer stops sending (RFC 1661 §5.7; pppd does the same for NCPs).
    pub fn protocol_rejected(&mut self, now: Instant) {
        self.cause = Cause::PeerRejected;
        self.run(now, Event::RxjBad, Ctx::default());
    }

    /// Sends our Configure-Request again at once, with the restart
    /// counter reinitialised, while it is still unanswered (Req-Sent,
    /// Ack-Sent): the TO+ event of RFC 1661 §4.1 run early, after irc.
    /// For an owner that learns the copies sent so far could not have
    /// been heard (a peer that holds its NCPs until CCP opens); the
    /// copies were not refusals, so they do not count against
    /// Max-Configure (§4.6). The new copy takes a new Identifier, so a
    /// late reply to an earlier one is discarded as stale (§5.2). Returns
    /// whether a request was sent; in other states nothing happens (in
    /// Ack-Rcvd our request is answered, and TO+ would throw that away).
    pub fn retransmit_request(&mut self, now: Instant) -> bool {
        if !matches!(self.state, State::ReqSent | State::AckSent) {
            return false;
        }
        self.restart_count = self.config.max_configure;
        self.run(now, Event::TimeoutRetry, Ctx::default());
        true
    }

    /// When [`Fsm::handle_timeout`] should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Runs the restart timer (TO+ or TO-) if it has expired.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.timer {
            Some(deadline) if now >= deadline => {
                self.timer = None;
                if !self.state.uses_restart_timer() {
                    return;
                }
                if self.restart_count > 0 {
                    self.run(now, Event::TimeoutRetry, Ctx::default());
                } else {
                    if self.state.is_negotiating() {
                        self.cause = Cause::Timeout;
                    }
                    self.run(now, Event::TimeoutExpired, Ctx::default());
                }
            }
            _ => {}
        }
    }

    /// The next queued control packet (Code onwards, no PPP header) into
    /// `buf`, with [`OptionHandler::protocol`] as its destination. A packet
    /// that does not fit is dropped (and counted): the control protocols
    /// retransmit on their restart timer (RFC 1661 §4.6).
    pub fn poll_transmit(&mut self, buf: &mut [u8]) -> Option<Transmit<u16>> {
        while let Some((len, copied)) = self.outbox.pop_into(buf) {
            if copied {
                return Some(Transmit {
                    len,
                    to: self.handler.protocol(),
                });
            }
            self.dropped = self.dropped.saturating_add(1);
        }
        None
    }

    /// Like [`Fsm::poll_transmit`] but writes a whole PPP frame: header
    /// for [`OptionHandler::protocol`] (LCP always uncompressed) and packet.
    pub fn poll_transmit_frame(
        &mut self,
        send: FieldCompression,
        buf: &mut [u8],
    ) -> Option<Transmit<u16>> {
        let protocol = self.handler.protocol();
        let hl = frame::header_len(protocol, send);
        let body = buf.get_mut(hl..)?;
        let t = self.poll_transmit(body)?;
        frame::prepend_header(protocol, send, buf, hl).ok()?;
        Some(Transmit {
            len: hl + t.len,
            to: protocol,
        })
    }

    /// Whether a packet waits in the outbound queue.
    pub fn has_transmit(&self) -> bool {
        !self.outbox.is_empty()
    }

    /// The next layer event.
    pub fn poll_event(&mut self) -> Option<LayerEvent> {
        self.events.pop_front()
    }

    /// Handles one received control packet (Code onwards, after the PPP
    /// protocol field). Invalid packets are discarded with an error and no
    /// state change (RFC 1661 §5: "silently discarded").
    pub fn handle_packet(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        let pkt = Packet::new_checked(bytes)?;
        if matches!(self.state, State::Initial | State::Starting) {
            return Err(Error::NotUp);
        }
        let id = pkt.identifier();
        let received = pkt.as_bytes();
        let ctx = Ctx {
            identifier: id,
            received,
            reply: &[],
        };
        match pkt.code() {
            Code::ConfigureRequest => self.receive_configure_request(now, &pkt),
            Code::ConfigureAck => {
                let options = Options::new(pkt.data())?;
                if self.checks_replies() {
                    self.check_reply_identifier(id)?;
                    if options.as_bytes() != self.request.as_slice() {
                        return Err(Error::AckMismatch);
                    }
                    self.awaiting_reply = false;
                    if self.state.is_negotiating() {
                        self.handler.on_ack(options);
                    }
                }
                self.run(now, Event::Rca, ctx);
                Ok(())
            }
            code @ (Code::ConfigureNak | Code::ConfigureReject) => {
                let options = Options::new(pkt.data())?;
                if self.checks_replies() {
                    self.check_reply_identifier(id)?;
                    if code == Code::ConfigureReject && !self.is_subset_of_request(options) {
                        return Err(Error::RejectMismatch);
                    }
                    self.awaiting_reply = false;
                    if self.state.is_negotiating() {
                        let progress = if code == Code::ConfigureNak {
                            self.handler.on_nak(options)
                        } else {
                            self.handler.on_reject(options)
                        };
                        if progress == Progress::GiveUp {
                            let mut reason: Vec<u8, MAX_TERMINATE_DATA> = Vec::new();
                            let text = self.handler.give_up_reason();
                            let keep = text.len().min(MAX_TERMINATE_DATA);
                            let _ = reason.extend_from_slice(text.get(..keep).unwrap_or(&[]));
                            self.close_with(now, &reason, Cause::GaveUp);
                            return Ok(());
                        }
                    }
                }
                self.run(now, Event::Rcn, ctx);
                Ok(())
            }
            Code::TerminateRequest => {
                // While we terminate, the cause stays ours.
                if !matches!(self.state, State::Closing | State::Stopping) {
                    self.cause = Cause::PeerTerminated;
                }
                self.run(now, Event::Rtr, ctx);
                Ok(())
            }
            Code::TerminateAck => {
                if self.state == State::Opened {
                    self.cause = Cause::PeerTerminated;
                }
                self.run(now, Event::Rta, ctx);
                Ok(())
            }
            Code::CodeReject => {
                let rejected = *pkt.data().first().ok_or(WireError::Truncated {
                    needed: packet::HEADER_LEN + 1,
                    available: received.len(),
                })?;
                if self.handler.code_rejected(rejected) {
                    self.run(now, Event::RxjGood, ctx);
                } else {
                    self.cause = Cause::PeerRejected;
                    self.run(now, Event::RxjBad, ctx);
                }
                Ok(())
            }
            _ => {
                let state = self.state;
                let mut out = Outbox {
                    queue: &mut self.outbox,
                    dropped: &mut self.dropped,
                };
                let pkt_ref = Packet::new_unchecked(received);
                match self.handler.handle_other(now, state, &pkt_ref, &mut out) {
                    OtherCode::Handled => {}
                    OtherCode::EchoRequest | OtherCode::Rxr => self.run(now, Event::Rxr, ctx),
                    OtherCode::RejectPermitted => self.run(now, Event::RxjGood, ctx),
                    OtherCode::RejectCatastrophic => {
                        self.cause = Cause::PeerRejected;
                        self.run(now, Event::RxjBad, ctx)
                    }
                    OtherCode::Unknown => self.run(now, Event::Ruc, ctx),
                }
                Ok(())
            }
        }
    }

    /// Whether Configure-Ack/Nak/Reject must match our request here: in
    /// states that do not negotiate, the reply only triggers a
    /// Terminate-Ack or nothing (RFC 1661 §4.1).
    fn checks_replies(&self) -> bool {
        self.state.is_negotiating() || self.state == State::Opened
    }

    fn check_reply_identifier(&self, id: u8) -> Result<(), Error> {
        // RFC 1661 §5.2-5.4: a reply must carry the Identifier of the last
        // Configure-Request; a second reply to it is a duplicate.
        if !self.awaiting_reply || id != self.request_identifier {
            return Err(Error::StaleReply { identifier: id });
        }
        Ok(())
    }

    /// RFC 1661 §5.4: a Configure-Reject lists a subset of our options,
    /// unmodified and in order.
    fn is_subset_of_request(&self, rejected: Options<'_>) -> bool {
        let mut ours = OptionIter::new(&self.request).filter_map(Result::ok);
        rejected
            .iter()
            .all(|r| ours.by_ref().any(|o| o.kind == r.kind && o.data == r.data))
    }

    fn receive_configure_request(
        &mut self,
        now: Instant,
        pkt: &Packet<&[u8]>,
    ) -> Result<(), Error> {
        let options = Options::new(pkt.data())?;
        let id = pkt.identifier();
        // Only states whose table cell depends on the verdict consult the
        // handler (Closed answers Terminate-Ack, Closing/Stopping ignore).
        let judged = matches!(
            self.state,
            State::Stopped | State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
        );
        let mut reply: Vec<u8, MAX_PACKET_LEN> = Vec::new();
        let mut event = Event::RcrGood;
        if judged {
            let mut response = ResponseBuilder::new();
            self.handler.process_request(options, &mut response);
            if response.verdict() == Verdict::Nak && self.naks_sent >= self.config.max_failure {
                response.convert_naks_to_rejects();
            }
            let (code, data) = match response.verdict() {
                Verdict::Ack => (Code::ConfigureAck, options.as_bytes()),
                Verdict::Nak => (Code::ConfigureNak, response.nak_options()),
                Verdict::Reject => (Code::ConfigureReject, response.reject_options()),
            };
            if code != Code::ConfigureAck {
                event = Event::RcrBad;
            }
            // A request too long to echo within our bound cannot be
            // acknowledged; it is discarded with BufferTooSmall.
            let _ = reply.resize_default(MAX_PACKET_LEN);
            let n = packet::emit(code, id, data, &mut reply)?;
            reply.truncate(n);
        }
        let ctx = Ctx {
            identifier: id,
            received: pkt.as_bytes(),
            reply: &reply,
        };
        self.run(now, event, ctx);
        Ok(())
    }

    fn run(&mut self, now: Instant, event: Event, ctx: Ctx<'_>) {
        let before = self.state;
        let (next, actions) = transition(before, event);
        let terminating = actions.contains(&Action::Str);
        for &action in actions {
            match action {
                Action::Tlu => {
                    self.handler.this_layer_up();
                    self.push_event(LayerEvent::Up);
                }
                Action::Tld => {
                    self.handler.this_layer_down();
                    let cause = match event {
                        Event::RcrGood | Event::RcrBad | Event::Rca | Event::Rcn => {
                            Cause::Renegotiation
                        }
                        _ => self.cause,
                    };
                    self.push_event(LayerEvent::Down(cause));
                }
                Action::Tls => {
                    self.naks_sent = 0;
                    self.handler.this_layer_started();
                    self.push_event(LayerEvent::Started);
                }
                Action::Tlf => {
                    self.handler.this_layer_finished();
                    let cause = self.cause;
                    self.push_event(LayerEvent::Finished(cause));
                }
                Action::Irc => {
                    self.restart_count = if terminating {
                        self.config.max_terminate
                    } else {
                        self.config.max_configure
                    };
                }
                Action::Zrc => {
                    self.restart_count = 0;
                    self.timer = Some(now + self.config.restart_interval);
                }
                Action::Scr => self.send_configure_request(now, before),
                Action::Sca => {
                    self.naks_sent = 0;
                    self.queue_raw(ctx.reply);
                }
                Action::Scn => {
                    if ctx.reply.first() == Some(&u8::from(Code::ConfigureNak)) {
                        self.naks_sent = self.naks_sent.saturating_add(1);
                    }
                    self.queue_raw(ctx.reply);
                }
                Action::Str => {
                    self.restart_count = self.restart_count.saturating_sub(1);
                    self.timer = Some(now + self.config.restart_interval);
                    let id = self.next_identifier();
                    let data = self.terminate_data.clone();
                    enqueue(
                        &mut self.outbox,
                        &mut self.dropped,
                        Code::TerminateRequest,
                        id,
                        &[&data],
                    );
                }
                Action::Sta => {
                    enqueue(
                        &mut self.outbox,
                        &mut self.dropped,
                        Code::TerminateAck,
                        ctx.identifier,
                        &[],
                    );
                }
                Action::Scj => {
                    // RFC 1661 §5.6: the rejected packet, truncated to the
                    // peer's MRU; a new Identifier for each Code-Reject.
                    let id = self.next_identifier();
                    let room = self.peer_mru.saturating_sub(packet::HEADER_LEN);
                    let body = ctx.received.get(..room.min(ctx.received.len()));
                    enqueue(
                        &mut self.outbox,
                        &mut self.dropped,
                        Code::CodeReject,
                        id,
                        &[body.unwrap_or(&[])],
                    );
                }
                Action::Ser => {
                    // Only Echo-Requests are answered (RFC 1661 §5.8).
                    if ctx.received.first() == Some(&u8::from(Code::EchoRequest)) {
                        let magic = self.handler.echo_magic().to_be_bytes();
                        let rest = ctx.received.get(packet::HEADER_LEN + 4..).unwrap_or(&[]);
                        let room = self.peer_mru.saturating_sub(packet::HEADER_LEN + 4);
                        let rest = rest.get(..room.min(rest.len())).unwrap_or(&[]);
                        enqueue(
                            &mut self.outbox,
                            &mut self.dropped,
                            Code::EchoReply,
                            ctx.identifier,
                            &[&magic, rest],
                        );
                    }
                }
            }
        }
        self.state = next;
        if !next.uses_restart_timer() {
            self.timer = None;
        }
    }

    fn send_configure_request(&mut self, now: Instant, before: State) {
        if !before.is_negotiating() {
            // pppd and RFC 1661 §4.1 (scr from a non-negotiating state):
            // start from the configured wishes.
            self.handler.reset_request();
            self.naks_sent = 0;
        }
        let mut buf = [0u8; MAX_REQUEST_LEN];
        let mut writer = OptionWriter::new(&mut buf);
        // An option that does not fit is left out of this request; the
        // handler's own emitters bound what they write.
        let _ = self.handler.build_request(&mut writer);
        let len = writer.len();
        self.request.clear();
        let _ = self
            .request
            .extend_from_slice(buf.get(..len).unwrap_or(&[]));
        // RFC 1661 §5.1: a new Identifier whenever the contents change or a
        // reply arrived; we take a new one for every transmission so a late
        // reply to a retransmission can never be mistaken for a fresh one.
        self.request_identifier = self.next_identifier();
        self.awaiting_reply = true;
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.config.restart_interval);
        let request = self.request.clone();
        enqueue(
            &mut self.outbox,
            &mut self.dropped,
            Code::ConfigureRequest,
            self.request_identifier,
            &[&request],
        );
    }

    fn queue_raw(&mut self, packet: &[u8]) {
        if !self.outbox.push(packet) {
            self.dropped = self.dropped.saturating_add(1);
        }
    }

    fn push_event(&mut self, event: LayerEvent) {
        if self.events.push_back(event).is_err() {
            // Oldest first: keep the newest state change visible.
            let _ = self.events.pop_front();
            let _ = self.events.push_back(event);
        }
    }

    /// Test hook: puts the automaton in `state` as if a Configure-Request
    /// with the handler's current options were outstanding.
    #[cfg(test)]
    pub(crate) fn force_state(&mut self, now: Instant, state: State, restart_count: u8) {
        self.state = state;
        self.restart_count = restart_count;
        let mut buf = [0u8; MAX_OPTIONS_LEN];
        let mut writer = OptionWriter::new(&mut buf);
        let _ = self.handler.build_request(&mut writer);
        let len = writer.len();
        self.request.clear();
        let _ = self.request.extend_from_slice(&buf[..len]);
        self.request_identifier = self.next_identifier();
        self.awaiting_reply = true;
        self.timer = if state.uses_restart_timer() {
            Some(now + self.config.restart_interval)
        } else {
            None
        };
        self.outbox.clear();
        self.events.clear();
    }

    /// Test hook: sends a fresh Configure-Request from Opened, as a peer
    /// restarting negotiation would (RFC 1661 §4.1, RCA/RCN in Opened).
    #[cfg(test)]
    pub(crate) fn force_renegotiation_for_test(&mut self, now: Instant) {
        self.awaiting_reply = false;
        self.run(now, Event::Rta, Ctx::default());
    }

    /// Test hook: the Identifier of the outstanding Configure-Request.
    #[cfg(test)]
    pub(crate) fn request_identifier(&self) -> u8 {
        self.request_identifier
    }
}

#[cfg(test)]
mod tests;
