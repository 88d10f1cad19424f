//! The control connection machine (RFC 2637 §3.1–§3.2), both roles.

// The machine's parts, one concern per file: tunnel start-up, teardown
// and keepalive (RFC 2637 §3.1); calls, from the peer's messages and the
// host's commands (§3.2); parking (see `super::parked`). This file holds
// the machine itself: state, input framing and dispatch, output, timers.
mod calls;
mod park;
mod tunnel;

pub(in crate::control) use tunnel::answers_our_echo;

use heapless::{Deque, Vec};

use crate::control::call::{Call, CallSnapshot};
use crate::control::stream::ControlStream;
use crate::control::{
    CallDown, CallDownReason, Config, Error, Event, NameBytes, StartMode, Transmit,
    TunnelDownReason, TunnelStats, EVENT_QUEUE, OUTBOUND_QUEUE,
};
use crate::time::Instant;
use crate::wire::control::{
    ControlMessage, ControlRepr, EchoRequest, GeneralError, MessageType, Sccrq, StartControlResult,
    StopCcrq, StopReason, WireError, MAX_MESSAGE_LEN, NAME_FIELD_LEN, PROTOCOL_VERSION,
};
use crate::Role;
use ppp_core::keepalive::{Action, Keepalive};

/// Control connection states (RFC 2637 §3.1.1, §3.1.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Waiting for the peer's SCCRQ.
    Idle,
    /// We sent SCCRQ and wait for SCCRP.
    WaitCtlReply,
    /// SCCRQ/SCCRP exchanged.
    Established,
    /// The host asked to close: calls are cleared, then StopCCRQ is sent
    /// and StopCCRP awaited.
    Stopping { stop_sent: bool },
    /// Done. Queued messages may still be transmitted.
    Closed,
}

/// One encoded control message waiting for poll_transmit.
#[derive(Clone, Copy, Debug)]
struct Outbound {
    len: u8,
    bytes: [u8; MAX_MESSAGE_LEN],
}

/// One PPTP control connection (one TCP connection), either role, with up
/// to `MAX_CALLS` calls. See the [module docs](super) for the policies and
/// a complete host loop.
#[derive(Debug)]
pub struct Connection<const MAX_CALLS: usize> {
    role: Role,
    config: Config,
    state: State,
    /// True if this end sent SCCRQ on this connection.
    initiator: bool,
    stream: ControlStream,
    calls: Vec<Call, MAX_CALLS>,
    outbound: Deque<Outbound, OUTBOUND_QUEUE>,
    events: Deque<Event, EVENT_QUEUE>,
    /// TunnelDown is never lost to a full event queue.
    tunnel_down: Option<Event>,
    /// Start-up or StopCCRP deadline.
    deadline: Option<Instant>,
    last_received: Instant,
    /// The Echo keepalive (RFC 2637 §3.1.4), running from the start; an
    /// outstanding Echo-Request's Identifier is `next_echo_id - 1`.
    keepalive: Keepalive,
    next_echo_id: u32,
    /// Calls with a clear waiting for queue space.
    clears_pending: usize,
    /// The latest time the host gave us (for work done in poll_event).
    last_now: Instant,
    stats: TunnelStats,
}

impl<const MAX_CALLS: usize> Connection<MAX_CALLS> {
    /// A new control connection for a freshly connected TCP socket. With
    /// [`StartMode::ByRole`] a client queues its SCCRQ at once and a server
    /// waits for one; either way start-up must finish within
    /// [`Config::reply_timeout`].
    pub fn new(role: Role, config: Config, now: Instant) -> Self {
        let initiator = match config.start {
            StartMode::ByRole => role == Role::Client,
            StartMode::Initiate => true,
            StartMode::Listen => false,
        };
        let deadline = Some(now + config.reply_timeout);
        let mut connection = Connection {
            role,
            config,
            state: State::Idle,
            initiator,
            stream: ControlStream::new(),
            calls: Vec::new(),
            outbound: Deque::new(),
            events: Deque::new(),
            tunnel_down: None,
            deadline,
            last_received: now,
            keepalive: Keepalive::started(now),
            next_echo_id: 1,
            clears_pending: 0,
            last_now: now,
            stats: TunnelStats::default(),
        };
        if initiator {
            let repr = ControlRepr::Sccrq(Sccrq {
                protocol_version: PROTOCOL_VERSION,
                framing_capabilities: connection.config.framing_capabilities,
                bearer_capabilities: connection.config.bearer_capabilities,
                maximum_channels: connection.config.maximum_channels,
                firmware_revision: connection.config.firmware_revision,
                host_name: &connection.config.host_name,
                vendor_string: &connection.config.vendor_string,
            });
            // The queue is empty, so this cannot fail.
            let _ = encode(&mut connection.outbound, &repr);
            connection.state = State::WaitCtlReply;
        }
        connection
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// True once SCCRQ/SCCRP have been exchanged and until the connection
    /// starts closing.
    pub fn is_established(&self) -> bool {
        self.state == State::Established
    }

    /// True once the connection is over and every queued message has been
    /// handed out: the host closes the TCP connection. Nothing more is
    /// transmitted, and no further events are produced once the pending
    /// ones have been polled.
    pub fn is_closed(&self) -> bool {
        self.state == State::Closed && self.outbound.is_empty()
    }

    /// Counters of this connection.
    pub fn stats(&self) -> &TunnelStats {
        &self.stats
    }

    /// A snapshot of the call with local call ID `local_call_id`.
    pub fn call(&self, local_call_id: u16) -> Option<CallSnapshot> {
        self.live_calls()
            .find(|c| c.local_id() == Some(local_call_id))
            .map(|c| c.snapshot)
    }

    /// Snapshots of every call, including requests waiting for the host.
    pub fn calls(&self) -> impl Iterator<Item = CallSnapshot> + '_ {
        self.live_calls().map(|c| c.snapshot)
    }

    /// Number of calls in the table (zero once the connection is closed).
    pub fn call_count(&self) -> usize {
        self.live_calls().len()
    }

    /// The call table; empty once closed (the calls left are only waiting
    /// for poll_event to report them down).
    fn live_calls(&self) -> core::slice::Iter<'_, Call> {
        if self.state == State::Closed {
            [].iter()
        } else {
            self.calls.iter()
        }
    }

    /// Number of messages waiting for [`Connection::poll_transmit`] (at
    /// most [`OUTBOUND_QUEUE`]).
    pub fn pending_transmit_count(&self) -> usize {
        self.outbound.len()
    }

    /// Length of the next message [`Connection::poll_transmit`] will hand
    /// out; a buffer at least this long (at most
    /// [`crate::wire::control::MAX_MESSAGE_LEN`]) is needed.
    pub fn pending_transmit_len(&self) -> Option<usize> {
        self.outbound.front().map(|m| usize::from(m.len))
    }

    // --- input ----------------------------------------------------------

    /// Feeds bytes read from the TCP connection (any chunking), all of
    /// them.
    ///
    /// Returns [`Error::Wire`] on a framing error (the connection is then
    /// closed, see the module docs) and [`Error::Closed`] if the connection
    /// was already closed (the bytes are ignored). If one chunk holds more
    /// messages than the event and outbound queues can absorb, the excess
    /// replies and events are dropped and counted; hosts that read large
    /// chunks use [`Connection::handle_input_partial`] instead.
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        self.input(now, bytes, false).map(|_| ())
    }

    /// Like [`Connection::handle_input`], but stops before a message whose
    /// reply or event might not fit in the bounded queues, and returns how
    /// many octets it consumed. The host polls events and transmits, then
    /// calls again with the rest. Driven this way the machine never drops
    /// an event or a reply, whatever the chunk size.
    pub fn handle_input_partial(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, Error> {
        self.input(now, bytes, true)
    }

    fn input(&mut self, now: Instant, bytes: &[u8], backpressure: bool) -> Result<usize, Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        self.last_now = self.last_now.max(now);
        let mut rest = bytes;
        let mut frame = [0u8; MAX_MESSAGE_LEN];
        let mut result = Ok(());
        loop {
            // Every message causes at most one event and one reply
            // (tunnel teardown reports its calls lazily, see poll_event).
            if backpressure && (self.events.is_full() || self.outbound.is_full()) {
                break;
            }
            let len = match self.stream.feed(&mut rest) {
                Ok(Some(message)) => {
                    let len = message.len();
                    if let Some(dst) = frame.get_mut(..len) {
                        dst.copy_from_slice(message);
                    }
                    len
                }
                Ok(None) => break,
                Err(error) => {
                    self.shut_down(TunnelDownReason::ProtocolError(error), false);
                    result = Err(Error::Wire(error));
                    break;
                }
            };
            self.stats.messages_in += 1;
            self.last_received = now;
            self.keepalive.on_traffic(&self.keepalive_config(), now);
            let message = frame.get(..len).unwrap_or(&[]);
            self.handle_frame(now, message);
            if self.state == State::Closed {
                // Whatever follows a fatal message is not ours to read.
                break;
            }
        }
        let consumed = bytes.len() - rest.len();
        self.stats.bytes_in += consumed as u64;
        self.pump(now);
        result.map(|()| consumed)
    }

    fn handle_frame(&mut self, now: Instant, message: &[u8]) {
        let repr = match ControlRepr::parse_bytes(message) {
            Ok(repr) => repr,
            Err(error) => {
                self.stats.dropped_malformed += 1;
                self.on_malformed(message, error);
                return;
            }
        };
        match repr {
            ControlRepr::Sccrq(m) => self.on_sccrq(now, &m),
            ControlRepr::Sccrp(m) => self.on_sccrp(now, &m),
            ControlRepr::StopCcrq(m) => self.on_stop_request(m),
            ControlRepr::StopCcrp(_) => self.on_stop_reply(),
            ControlRepr::EchoRequest(m) => self.on_echo_request(m),
            ControlRepr::EchoReply(m) => self.on_echo_reply(now, m),
            ControlRepr::Ocrq(m) => self.on_ocrq(now, &m),
            ControlRepr::Ocrp(m) => self.on_ocrp(now, m),
            ControlRepr::Icrq(m) => self.on_icrq(now, &m),
            ControlRepr::Icrp(m) => self.on_icrp(now, m),
            ControlRepr::Iccn(m) => self.on_iccn(now, m),
            ControlRepr::Ccrq(m) => self.on_ccrq(m),
            ControlRepr::Cdn(m) => self.on_cdn(&m),
            ControlRepr::Wen(m) => self.on_wen(m),
            ControlRepr::Sli(m) => self.on_sli(m),
        }
    }

    /// A well-framed message that does not parse (unknown control type,
    /// PPTP message type other than 1, wrong Length for its type).
    fn on_malformed(&mut self, message: &[u8], error: WireError) {
        let view = ControlMessage::new_unchecked(message);
        let is_sccrq = view.message_type() == Some(MessageType::StartControlConnectionRequest);
        match self.state {
            // RFC 2637 §2.2/§2.16: a start-up request we cannot read is
            // answered "General Error / Bad-Format", then the connection
            // closes.
            State::Idle | State::WaitCtlReply if is_sccrq => {
                self.send_sccrp(StartControlResult::GeneralError, GeneralError::BadFormat);
                self.shut_down(TunnelDownReason::ProtocolError(error), true);
            }
            _ if !self.config.close_on_malformed => {}
            State::Idle | State::WaitCtlReply => {
                self.shut_down(TunnelDownReason::ProtocolError(error), false);
            }
            // RFC 2637 §3: "Receipt of an invalid or malformed Control
            // Connection message should be logged appropriately, and the
            // control connection should be closed and restarted to ensure
            // recovery into a known state." The stream is still framed, so
            // the peer is told with a StopCCRQ; we do not wait for its
            // reply.
            _ => {
                self.enqueue_or_count(&ControlRepr::StopCcrq(StopCcrq {
                    reason: StopReason::None,
                }));
                self.shut_down(TunnelDownReason::ProtocolError(error), true);
            }
        }
    }

    // --- output ---------------------------------------------------------

    /// Writes as many whole queued messages as fit into `buf` (never past
    /// its end). Returns `None` if nothing is queued or the next message
    /// does not fit (see [`Connection::pending_transmit_len`]).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.last_now = self.last_now.max(now);
        self.pump(now);
        let mut len = 0;
        let mut messages = 0;
        while let Some(next) = self.outbound.front() {
            let n = usize::from(next.len);
            let Some(dst) = buf.get_mut(len..len + n) else {
                break;
            };
            dst.copy_from_slice(next.bytes.get(..n).unwrap_or(&[]));
            len += n;
            messages += 1;
            self.outbound.pop_front();
            // Room in the queue may release pending clears.
            self.pump(now);
        }
        if messages == 0 {
            return None;
        }
        self.stats.messages_out += messages as u64;
        self.stats.bytes_out += len as u64;
        Some(Transmit::new(len))
    }

    /// The next event, if any.
    ///
    /// When the connection goes down, each remaining call is reported as
    /// [`Event::CallDown`] with [`CallDownReason::TunnelDown`], then
    /// [`Event::TunnelDown`] comes last; these are produced one at a time
    /// here, so a table of thousands of calls never overflows the queue.
    pub fn poll_event(&mut self) -> Option<Event> {
        if let Some(event) = self.events.pop_front() {
            // Room in the event queue may release deferred clears.
            let now = self.last_now;
            self.pump(now);
            return Some(event);
        }
        if self.state == State::Closed {
            if let Some(call) = self.calls.pop() {
                return Some(Event::CallDown(CallDown {
                    local_call_id: call.local_id(),
                    peer_call_id: call.peer_id(),
                    reason: CallDownReason::TunnelDown,
                }));
            }
        }
        self.tunnel_down.take()
    }

    /// When [`Connection::handle_timeout`] should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut earliest = self.deadline;
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                earliest = Some(earliest.map_or(t, |e| e.min(t)));
            }
        };
        match self.state {
            State::Closed => return None,
            State::Established | State::Stopping { .. } => {
                consider(self.keepalive.poll_timeout(&self.keepalive_config()));
            }
            _ => {}
        }
        for call in &self.calls {
            consider(call.deadline);
        }
        earliest
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        if let Some(deadline) = self.deadline {
            if now >= deadline {
                self.shut_down(TunnelDownReason::Timeout, false);
                return;
            }
        }
        if matches!(self.state, State::Established | State::Stopping { .. }) {
            match self.keepalive.on_timeout(&self.keepalive_config(), now) {
                Action::Dead => {
                    // RFC 2637 §3.1.4: no Echo-Reply within 60 s → close.
                    self.push_event(Event::EchoTimeout);
                    self.shut_down(TunnelDownReason::EchoTimeout, false);
                    return;
                }
                Action::SendEcho => {
                    // RFC 2637 §3.1.4: 60 s without a message → Echo-Request.
                    let identifier = self.next_echo_id;
                    if self
                        .enqueue(&ControlRepr::EchoRequest(EchoRequest { identifier }))
                        .is_ok()
                    {
                        self.next_echo_id = self.next_echo_id.wrapping_add(1);
                        self.keepalive.request_sent(now);
                        self.stats.echo_requests_sent += 1;
                    }
                }
                Action::Nothing => {}
            }
        }
        let mut index = 0;
        while index < self.calls.len() {
            let expired = self
                .calls
                .get(index)
                .and_then(|c| c.deadline)
                .is_some_and(|d| now >= d);
            if expired {
                self.call_timed_out(index);
                // remove_call swapped another call into `index`: look again.
                continue;
            }
            index += 1;
        }
        self.pump(now);
    }

    // --- internals ------------------------------------------------------

    fn find(&self, pred: impl Fn(&Call) -> bool) -> Option<usize> {
        self.calls.iter().position(pred)
    }

    fn push_event(&mut self, event: Event) {
        if self.events.push_back(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    fn enqueue(&mut self, repr: &ControlRepr<'_>) -> Result<(), Error> {
        encode(&mut self.outbound, repr)
    }

    /// Enqueues a reply caused by the peer's input; if there is no room it
    /// is dropped and counted (the host is not draining poll_transmit).
    fn enqueue_or_count(&mut self, repr: &ControlRepr<'_>) {
        if self.enqueue(repr).is_err() {
            self.stats.dropped_queue_full += 1;
        }
    }

    /// Moves deferred work into the outbound queue: pending clears, then
    /// the StopCCRQ once all calls are gone.
    fn pump(&mut self, now: Instant) {
        while self.clears_pending > 0 && !self.outbound.is_full() && !self.events.is_full() {
            let Some(index) = self.find(|c| c.clear_pending) else {
                self.clears_pending = 0;
                break;
            };
            if let Some(call) = self.calls.get_mut(index) {
                call.clear_pending = false;
            }
            self.clears_pending -= 1;
            self.send_clear(now, index);
        }
        if self.state == (State::Stopping { stop_sent: false })
            && self.calls.is_empty()
            && !self.outbound.is_full()
        {
            let _ = self.enqueue(&ControlRepr::StopCcrq(StopCcrq {
                reason: StopReason::None,
            }));
            self.state = State::Stopping { stop_sent: true };
            self.deadline = Some(now + self.config.reply_timeout);
        }
    }

    /// Ends the connection: every call goes down, TunnelDown is reported,
    /// and unless `flush` the queued messages are discarded.
    fn shut_down(&mut self, reason: TunnelDownReason, flush: bool) {
        if self.state == State::Closed {
            return;
        }
        // The calls stay in the table, invisible, until poll_event has
        // reported each one.
        for call in self.calls.iter_mut() {
            call.clear_pending = false;
            call.deadline = None;
        }
        self.clears_pending = 0;
        if !flush {
            self.outbound.clear();
        }
        self.state = State::Closed;
        self.deadline = None;
        self.keepalive.stop();
        self.tunnel_down = Some(Event::TunnelDown(reason));
    }
}

/// Encodes `repr` at the back of the outbound queue.
fn encode(
    queue: &mut Deque<Outbound, OUTBOUND_QUEUE>,
    repr: &ControlRepr<'_>,
) -> Result<(), Error> {
    if queue.is_full() {
        return Err(Error::QueueFull);
    }
    let mut out = Outbound {
        len: 0,
        bytes: [0; MAX_MESSAGE_LEN],
    };
    let len = repr.emit(&mut out.bytes).map_err(|e| match e {
        WireError::FieldTooLong { field, .. } => Error::FieldTooLong(field),
        other => Error::Wire(other),
    })?;
    // MAX_MESSAGE_LEN (220) fits in a u8.
    out.len = u8::try_from(len).unwrap_or(u8::MAX);
    queue.push_back(out).map_err(|_| Error::QueueFull)
}

/// A name or number field from the wire, cut to the field's 64 octets
/// (RFC 2637 §2.1, §2.7).
fn name_bytes(value: &[u8]) -> NameBytes {
    let mut out = NameBytes::new();
    let n = value.len().min(NAME_FIELD_LEN);
    let _ = out.extend_from_slice(value.get(..n).unwrap_or(&[]));
    out
}
