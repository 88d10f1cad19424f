//! The control connection machine (RFC 2637 §3.1–§3.2), both roles.

use heapless::{Deque, Vec};

use super::call::{Call, CallDirection, CallSnapshot, CallState};
use super::parked::{ParkedCall, ParkedStream};
use super::stream::ControlStream;
use super::{
    CallAccept, CallDown, CallDownReason, CallParams, CallRefusal, CallRequest, CallUp, Config,
    Disconnect, Error, Event, NameBytes, ParkedConnection, PeerInfo, StartMode, StatsBytes,
    Transmit, TunnelDownReason, TunnelStats, WanErrors, EVENT_QUEUE, OUTBOUND_QUEUE,
};
use crate::time::Instant;
use crate::wire::control::{
    Ccrq, Cdn, ControlMessage, ControlRepr, DisconnectResult, EchoReply, EchoRequest, EchoResult,
    GeneralError, Iccn, Icrp, Icrq, IncomingCallResult, MessageType, Ocrp, Ocrq,
    OutgoingCallResult, Sccrp, Sccrq, Sli, StartControlResult, StopCcrp, StopCcrq, StopReason,
    StopResult, Wen, WireError, MAX_MESSAGE_LEN, NAME_FIELD_LEN, PROTOCOL_VERSION, STATS_FIELD_LEN,
};
use crate::Role;
use ppp_core::keepalive::{Action, Keepalive, KeepaliveConfig};

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

    /// Queues an SCCRP with our parameters (counted if there is no room).
    fn send_sccrp(&mut self, result: StartControlResult, error: GeneralError) {
        let reply = ControlRepr::Sccrp(Sccrp {
            protocol_version: PROTOCOL_VERSION,
            result,
            error,
            framing_capabilities: self.config.framing_capabilities,
            bearer_capabilities: self.config.bearer_capabilities,
            maximum_channels: self.config.maximum_channels,
            firmware_revision: self.config.firmware_revision,
            host_name: &self.config.host_name,
            vendor_string: &self.config.vendor_string,
        });
        if encode(&mut self.outbound, &reply).is_err() {
            self.stats.dropped_queue_full += 1;
        }
    }

    fn on_sccrq(&mut self, now: Instant, m: &Sccrq<'_>) {
        match self.state {
            State::Idle => {}
            // RFC 2637 §3.1.3 on a single connection: the end with the
            // higher address ignores the other's SCCRQ and keeps waiting
            // for its SCCRP; the lower one answers it.
            State::WaitCtlReply if !self.config.local_address_is_higher => {}
            _ => {
                self.stats.dropped_unexpected += 1;
                return;
            }
        }
        if m.protocol_version != PROTOCOL_VERSION {
            // RFC 2637 §2.2: result 5, with the version we do support.
            self.send_sccrp(StartControlResult::BadVersion, GeneralError::None);
            self.shut_down(TunnelDownReason::VersionMismatch(m.protocol_version), true);
            return;
        }
        self.send_sccrp(StartControlResult::Ok, GeneralError::None);
        self.establish(
            now,
            peer_info(
                m.protocol_version,
                m.framing_capabilities,
                m.bearer_capabilities,
                m.maximum_channels,
                m.firmware_revision,
                m.host_name,
                m.vendor_string,
            ),
        );
    }

    fn on_sccrp(&mut self, now: Instant, m: &Sccrp<'_>) {
        if self.state != State::WaitCtlReply {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if m.result != StartControlResult::Ok {
            self.shut_down(
                TunnelDownReason::PeerRefused {
                    result: m.result,
                    error: m.error,
                },
                false,
            );
            return;
        }
        if m.protocol_version != PROTOCOL_VERSION {
            // RFC 2637 §2.3: Stop-Protocol when we cannot speak the
            // peer's version; we do not wait for its StopCCRP.
            self.enqueue_or_count(&ControlRepr::StopCcrq(StopCcrq {
                reason: StopReason::StopProtocol,
            }));
            self.shut_down(TunnelDownReason::VersionMismatch(m.protocol_version), true);
            return;
        }
        self.establish(
            now,
            peer_info(
                m.protocol_version,
                m.framing_capabilities,
                m.bearer_capabilities,
                m.maximum_channels,
                m.firmware_revision,
                m.host_name,
                m.vendor_string,
            ),
        );
    }

    fn establish(&mut self, now: Instant, peer: PeerInfo) {
        self.state = State::Established;
        self.deadline = None;
        self.last_received = now;
        self.keepalive.on_traffic(&self.keepalive_config(), now);
        self.stats.established_at = Some(now);
        self.push_event(Event::TunnelUp(peer));
    }

    fn on_stop_request(&mut self, m: StopCcrq) {
        // RFC 2637 §2.3/§2.4: always acknowledged, whatever our state (a
        // peer may give up during start-up, or both ends may close at
        // once); the connection is then over.
        self.enqueue_or_count(&ControlRepr::StopCcrp(StopCcrp {
            result: StopResult::Ok,
            error: GeneralError::None,
        }));
        self.shut_down(TunnelDownReason::PeerStopped(m.reason), true);
    }

    fn on_stop_reply(&mut self) {
        if self.state == (State::Stopping { stop_sent: true }) {
            self.shut_down(TunnelDownReason::Local, true);
        } else {
            self.stats.dropped_unexpected += 1;
        }
    }

    fn on_echo_request(&mut self, m: EchoRequest) {
        if !matches!(self.state, State::Established | State::Stopping { .. }) {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.stats.echo_requests_received += 1;
        self.enqueue_or_count(&ControlRepr::EchoReply(EchoReply {
            identifier: m.identifier,
            result: EchoResult::Ok,
            error: GeneralError::None,
        }));
    }

    fn on_echo_reply(&mut self, now: Instant, m: EchoReply) {
        if answers_our_echo(&self.keepalive, self.next_echo_id, m.identifier) {
            self.stats.echo_replies_received += 1;
            let config = self.keepalive_config();
            self.stats.last_echo_rtt = self.keepalive.on_reply(&config, now);
        } else {
            self.stats.dropped_unexpected += 1;
        }
    }

    /// The keepalive as configured (RFC 2637 §3.1.4: 60 s idle, 60 s for
    /// the reply, by default).
    fn keepalive_config(&self) -> KeepaliveConfig {
        KeepaliveConfig::pptp(self.config.echo_interval, self.config.echo_timeout)
    }

    /// Checks a peer's call request: the General Error code to refuse it
    /// with, if it must be refused.
    fn screen_request(&self, peer_call_id: u16) -> Option<GeneralError> {
        if self.calls.iter().any(|c| c.peer_id() == Some(peer_call_id)) {
            // RFC 2637 §2.16 error 5 (Bad-Call ID): the ID is already in
            // use for another call of this peer.
            return Some(GeneralError::BadCallId);
        }
        if self.calls.is_full() {
            // RFC 2637 §2.16 error 4 (No-Resource).
            return Some(GeneralError::NoResource);
        }
        None
    }

    fn on_ocrq(&mut self, now: Instant, m: &Ocrq<'_>) {
        if self.state != State::Established {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if self.role != Role::Server {
            // Only the PAC (server) places outgoing calls.
            self.stats.dropped_unexpected += 1;
            self.send_ocrp_refusal(
                m.call_id,
                OutgoingCallResult::DoNotAccept,
                GeneralError::None,
            );
            return;
        }
        if let Some(error) = self.screen_request(m.call_id) {
            self.stats.calls_refused += 1;
            self.send_ocrp_refusal(m.call_id, OutgoingCallResult::GeneralError, error);
            return;
        }
        let mut call = Call::new(CallDirection::Outgoing, CallState::WaitHost, now);
        call.snapshot.peer_call_id = Some(m.call_id);
        call.snapshot.peer_recv_window = m.packet_recv_window_size;
        call.snapshot.peer_processing_delay = m.packet_processing_delay;
        call.snapshot.framing = m.framing_type;
        call.snapshot.bearer = m.bearer_type;
        call.deadline = Some(now + self.config.host_answer_timeout);
        let _ = self.calls.push(call);
        self.push_event(Event::CallRequested(CallRequest {
            peer_call_id: m.call_id,
            direction: CallDirection::Outgoing,
            serial_number: m.call_serial_number,
            minimum_bps: m.minimum_bps,
            maximum_bps: m.maximum_bps,
            bearer: m.bearer_type,
            framing: m.framing_type,
            peer_recv_window: m.packet_recv_window_size,
            peer_processing_delay: m.packet_processing_delay,
            physical_channel_id: 0,
            phone_number: name_bytes(m.phone_number),
            dialing_number: NameBytes::new(),
            subaddress: name_bytes(m.subaddress),
        }));
    }

    fn send_ocrp_refusal(
        &mut self,
        peer_call_id: u16,
        result: OutgoingCallResult,
        error: GeneralError,
    ) {
        self.enqueue_or_count(&ControlRepr::Ocrp(Ocrp {
            call_id: 0,
            peer_call_id,
            result,
            error,
            cause_code: 0,
            connect_speed: 0,
            packet_recv_window_size: 0,
            packet_processing_delay: 0,
            physical_channel_id: 0,
        }));
    }

    fn send_icrp_refusal(
        &mut self,
        peer_call_id: u16,
        result: IncomingCallResult,
        error: GeneralError,
    ) {
        self.enqueue_or_count(&ControlRepr::Icrp(Icrp {
            call_id: 0,
            peer_call_id,
            result,
            error,
            packet_recv_window_size: 0,
            packet_transmit_delay: 0,
        }));
    }

    fn on_ocrp(&mut self, now: Instant, m: Ocrp) {
        // A reply to an OCRQ we already cleared (CCRQ crossed the OCRP):
        // learn the server's call ID so its CDN can be matched.
        if let Some(index) = self.find(|c| {
            c.snapshot.direction == CallDirection::Outgoing
                && c.state() == CallState::WaitDisconnect
                && c.peer_id().is_none()
                && c.local_id() == Some(m.peer_call_id)
        }) {
            if let Some(call) = self.calls.get_mut(index) {
                call.snapshot.peer_call_id = Some(m.call_id);
            }
            if m.result != OutgoingCallResult::Connected {
                // Refused anyway: no CDN will come.
                self.remove_call(index, CallDownReason::Local);
            }
            return;
        }
        let Some(index) = self.find(|c| {
            c.snapshot.direction == CallDirection::Outgoing
                && c.state() == CallState::WaitReply
                && c.local_id() == Some(m.peer_call_id)
        }) else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if m.result == OutgoingCallResult::Connected {
            if let Some(call) = self.calls.get_mut(index) {
                call.snapshot.peer_call_id = Some(m.call_id);
                call.snapshot.peer_recv_window = m.packet_recv_window_size;
                call.snapshot.peer_processing_delay = m.packet_processing_delay;
                call.snapshot.connect_speed = m.connect_speed;
            }
            self.call_established(now, index);
        } else {
            self.remove_call(
                index,
                CallDownReason::OutgoingRefused {
                    result: m.result,
                    error: m.error,
                    cause_code: m.cause_code,
                },
            );
        }
    }

    fn on_icrq(&mut self, now: Instant, m: &Icrq<'_>) {
        if self.state != State::Established {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if self.role != Role::Client {
            // Only the PAC (server) announces incoming calls.
            self.stats.dropped_unexpected += 1;
            self.send_icrp_refusal(
                m.call_id,
                IncomingCallResult::DoNotAccept,
                GeneralError::None,
            );
            return;
        }
        if let Some(error) = self.screen_request(m.call_id) {
            self.stats.calls_refused += 1;
            self.send_icrp_refusal(m.call_id, IncomingCallResult::GeneralError, error);
            return;
        }
        let mut call = Call::new(CallDirection::Incoming, CallState::WaitHost, now);
        call.snapshot.peer_call_id = Some(m.call_id);
        call.snapshot.bearer = m.call_bearer_type;
        call.deadline = Some(now + self.config.host_answer_timeout);
        let _ = self.calls.push(call);
        self.push_event(Event::CallRequested(CallRequest {
            peer_call_id: m.call_id,
            direction: CallDirection::Incoming,
            serial_number: m.call_serial_number,
            minimum_bps: 0,
            maximum_bps: 0,
            bearer: m.call_bearer_type,
            framing: crate::wire::control::FramingCapabilities::NONE,
            peer_recv_window: 0,
            peer_processing_delay: 0,
            physical_channel_id: m.physical_channel_id,
            phone_number: name_bytes(m.dialed_number),
            dialing_number: name_bytes(m.dialing_number),
            subaddress: name_bytes(m.subaddress),
        }));
    }

    fn on_icrp(&mut self, now: Instant, m: Icrp) {
        let Some(index) = self.find(|c| {
            c.snapshot.direction == CallDirection::Incoming
                && c.state() == CallState::WaitReply
                && c.local_id() == Some(m.peer_call_id)
        }) else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if m.result != IncomingCallResult::Connect {
            self.remove_call(
                index,
                CallDownReason::IncomingRefused {
                    result: m.result,
                    error: m.error,
                },
            );
            return;
        }
        let Some(call) = self.calls.get_mut(index) else {
            return;
        };
        call.snapshot.peer_call_id = Some(m.call_id);
        call.snapshot.peer_recv_window = m.packet_recv_window_size;
        call.snapshot.peer_processing_delay = m.packet_transmit_delay;
        let iccn = ControlRepr::Iccn(Iccn {
            peer_call_id: m.call_id,
            connect_speed: call.snapshot.connect_speed,
            packet_recv_window_size: call.local_recv_window,
            packet_transmit_delay: call.local_processing_delay,
            framing_type: call.snapshot.framing,
        });
        self.enqueue_or_count(&iccn);
        self.call_established(now, index);
    }

    fn on_iccn(&mut self, now: Instant, m: Iccn) {
        let Some(index) = self
            .find(|c| c.state() == CallState::WaitConnect && c.local_id() == Some(m.peer_call_id))
        else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if let Some(call) = self.calls.get_mut(index) {
            call.snapshot.connect_speed = m.connect_speed;
            call.snapshot.peer_recv_window = m.packet_recv_window_size;
            call.snapshot.peer_processing_delay = m.packet_transmit_delay;
            call.snapshot.framing = m.framing_type;
        }
        self.call_established(now, index);
    }

    fn on_ccrq(&mut self, m: Ccrq) {
        // RFC 2637 §2.12: the CCRQ carries the sender's (PNS's) call ID,
        // i.e. our peer call ID. Only the server (PAC) receives CCRQ.
        let index = if self.role == Role::Server {
            self.find(|c| c.peer_id() == Some(m.call_id) && c.state() != CallState::WaitReply)
        } else {
            None
        };
        let Some(index) = index else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        let local = self.calls.get(index).and_then(Call::local_id);
        match local {
            Some(local) => self.enqueue_or_count(&ControlRepr::Cdn(Cdn {
                call_id: local,
                result: DisconnectResult::Request,
                error: GeneralError::None,
                cause_code: 0,
                call_statistics: &[],
            })),
            // The client withdrew an OCRQ the host has not answered yet. We
            // have no call ID to put in a CDN (0 could name another call),
            // so the OCRQ gets its reply instead: "Do Not Accept".
            None => self.send_ocrp_refusal(
                m.call_id,
                OutgoingCallResult::DoNotAccept,
                GeneralError::None,
            ),
        }
        self.remove_call(index, CallDownReason::ClearRequested);
    }

    fn on_cdn(&mut self, m: &Cdn<'_>) {
        // RFC 2637 §2.13: the CDN carries the sender's (PAC's) call ID,
        // i.e. our peer call ID. RFC 2637 has only the PAC send CDN; we
        // accept it in either role because ending a call the peer has
        // ended is always right.
        // At a client, peer call IDs are the server's, so every call state
        // matches (a CDN may also withdraw an ICRQ the host has not
        // answered). At a server, peer IDs are the client's own, so only
        // an established call can be meant.
        let role = self.role;
        let Some(index) = self.find(|c| {
            c.peer_id() == Some(m.call_id)
                && (role == Role::Client || c.state() == CallState::Established)
        }) else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        let mut statistics = StatsBytes::new();
        let _ = statistics.extend_from_slice(m.call_statistics);
        self.remove_call(
            index,
            CallDownReason::Disconnected {
                result: m.result,
                error: m.error,
                cause_code: m.cause_code,
                statistics,
            },
        );
    }

    fn on_wen(&mut self, m: Wen) {
        // RFC 2637 §2.14: Peer's Call ID = the receiver's call ID.
        if self
            .find(|c| c.local_id() == Some(m.peer_call_id) && c.peer_id().is_some())
            .is_none()
        {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.push_event(Event::WanError {
            local_call_id: m.peer_call_id,
            errors: WanErrors {
                crc_errors: m.crc_errors,
                framing_errors: m.framing_errors,
                hardware_overruns: m.hardware_overruns,
                buffer_overruns: m.buffer_overruns,
                timeout_errors: m.timeout_errors,
                alignment_errors: m.alignment_errors,
            },
        });
    }

    fn on_sli(&mut self, m: Sli) {
        // RFC 2637 §2.15: Peer's Call ID = the receiver's call ID. Windows
        // sends SLI as soon as its LCP is up, i.e. right after the call is
        // established; accept it in either role.
        if self
            .find(|c| c.local_id() == Some(m.peer_call_id) && c.state() == CallState::Established)
            .is_none()
        {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.push_event(Event::LinkInfo {
            local_call_id: m.peer_call_id,
            send_accm: m.send_accm,
            receive_accm: m.receive_accm,
        });
    }

    // --- host commands --------------------------------------------------

    fn check_established(&self) -> Result<(), Error> {
        match self.state {
            State::Established => Ok(()),
            State::Closed => Err(Error::Closed),
            _ => Err(Error::NotEstablished),
        }
    }

    fn check_new_local_id(&self, local_call_id: u16) -> Result<(), Error> {
        if self
            .calls
            .iter()
            .any(|c| c.local_id() == Some(local_call_id))
        {
            Err(Error::DuplicateCallId(local_call_id))
        } else {
            Ok(())
        }
    }

    fn check_queue(&self) -> Result<(), Error> {
        if self.outbound.is_full() {
            Err(Error::QueueFull)
        } else {
            Ok(())
        }
    }

    /// Places a call with our call ID `local_call_id` (chosen by the host,
    /// unique on this connection): a client sends Outgoing-Call-Request, a
    /// server Incoming-Call-Request. [`Event::CallUp`] or
    /// [`Event::CallDown`] follows.
    pub fn place_call(
        &mut self,
        now: Instant,
        local_call_id: u16,
        params: &CallParams<'_>,
    ) -> Result<(), Error> {
        self.check_established()?;
        self.check_new_local_id(local_call_id)?;
        if self.calls.is_full() {
            return Err(Error::TooManyCalls);
        }
        self.check_queue()?;
        for (name, value) in [
            ("phone_number", params.phone_number),
            ("dialing_number", params.dialing_number),
            ("subaddress", params.subaddress),
        ] {
            if value.len() > NAME_FIELD_LEN {
                return Err(Error::FieldTooLong(name));
            }
        }
        let direction = match self.role {
            Role::Client => CallDirection::Outgoing,
            Role::Server => CallDirection::Incoming,
        };
        let repr = match self.role {
            Role::Client => ControlRepr::Ocrq(Ocrq {
                call_id: local_call_id,
                call_serial_number: params.serial_number,
                minimum_bps: params.minimum_bps,
                maximum_bps: params.maximum_bps,
                bearer_type: params.bearer,
                framing_type: params.framing,
                packet_recv_window_size: params.recv_window_size,
                packet_processing_delay: params.processing_delay,
                phone_number_length: params.phone_number.len() as u16,
                phone_number: params.phone_number,
                subaddress: params.subaddress,
            }),
            Role::Server => ControlRepr::Icrq(Icrq {
                call_id: local_call_id,
                call_serial_number: params.serial_number,
                call_bearer_type: params.bearer,
                physical_channel_id: params.physical_channel_id,
                dialed_number_length: params.phone_number.len() as u16,
                dialing_number_length: params.dialing_number.len() as u16,
                dialed_number: params.phone_number,
                dialing_number: params.dialing_number,
                subaddress: params.subaddress,
            }),
        };
        self.enqueue(&repr)?;
        let mut call = Call::new(direction, CallState::WaitReply, now);
        call.snapshot.local_call_id = Some(local_call_id);
        call.snapshot.bearer = params.bearer;
        call.snapshot.framing = params.framing;
        call.snapshot.connect_speed = match self.role {
            Role::Client => 0,
            Role::Server => params.connect_speed,
        };
        call.local_recv_window = params.recv_window_size;
        call.local_processing_delay = params.processing_delay;
        call.deadline = Some(now + self.config.reply_timeout);
        let _ = self.calls.push(call);
        Ok(())
    }

    /// Accepts the peer's call request `peer_call_id` (from
    /// [`Event::CallRequested`]) under our call ID `local_call_id`. A
    /// server answers OCRP "Connected" and the call is up at once
    /// ([`Event::CallUp`]); a client answers ICRP "Connect" and the call is
    /// up when the server's Incoming-Call-Connected arrives.
    pub fn accept_call(
        &mut self,
        now: Instant,
        peer_call_id: u16,
        local_call_id: u16,
        accept: &CallAccept,
    ) -> Result<(), Error> {
        self.check_established()?;
        let index = self
            .find(|c| c.state() == CallState::WaitHost && c.peer_id() == Some(peer_call_id))
            .ok_or(Error::UnknownCall(peer_call_id))?;
        self.check_new_local_id(local_call_id)?;
        self.check_queue()?;
        let Some(call) = self.calls.get_mut(index) else {
            return Err(Error::UnknownCall(peer_call_id));
        };
        call.snapshot.local_call_id = Some(local_call_id);
        call.local_recv_window = accept.recv_window_size;
        call.local_processing_delay = accept.processing_delay;
        match call.snapshot.direction {
            CallDirection::Outgoing => {
                call.snapshot.connect_speed = accept.connect_speed;
                let repr = ControlRepr::Ocrp(Ocrp {
                    call_id: local_call_id,
                    peer_call_id,
                    result: OutgoingCallResult::Connected,
                    error: GeneralError::None,
                    cause_code: 0,
                    connect_speed: accept.connect_speed,
                    packet_recv_window_size: accept.recv_window_size,
                    packet_processing_delay: accept.processing_delay,
                    physical_channel_id: accept.physical_channel_id,
                });
                self.enqueue(&repr)?;
                self.call_established(now, index);
            }
            CallDirection::Incoming => {
                call.snapshot.state = CallState::WaitConnect;
                call.deadline = Some(now + self.config.reply_timeout);
                let repr = ControlRepr::Icrp(Icrp {
                    call_id: local_call_id,
                    peer_call_id,
                    result: IncomingCallResult::Connect,
                    error: GeneralError::None,
                    packet_recv_window_size: accept.recv_window_size,
                    packet_transmit_delay: accept.processing_delay,
                });
                self.enqueue(&repr)?;
            }
        }
        Ok(())
    }

    /// Refuses the peer's call request `peer_call_id`.
    pub fn reject_call(
        &mut self,
        now: Instant,
        peer_call_id: u16,
        refusal: CallRefusal,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.check_established()?;
        let index = self
            .find(|c| c.state() == CallState::WaitHost && c.peer_id() == Some(peer_call_id))
            .ok_or(Error::UnknownCall(peer_call_id))?;
        self.check_queue()?;
        self.send_refusal(index, refusal);
        self.remove_call(index, CallDownReason::Local);
        Ok(())
    }

    fn send_refusal(&mut self, index: usize, refusal: CallRefusal) {
        let Some(call) = self.calls.get(index) else {
            return;
        };
        let peer = call.peer_id().unwrap_or(0);
        match (call.snapshot.direction, refusal) {
            (CallDirection::Outgoing, CallRefusal::DoNotAccept) => {
                self.send_ocrp_refusal(peer, OutgoingCallResult::DoNotAccept, GeneralError::None)
            }
            (CallDirection::Outgoing, CallRefusal::NoResource) => self.send_ocrp_refusal(
                peer,
                OutgoingCallResult::GeneralError,
                GeneralError::NoResource,
            ),
            (CallDirection::Incoming, CallRefusal::DoNotAccept) => {
                self.send_icrp_refusal(peer, IncomingCallResult::DoNotAccept, GeneralError::None)
            }
            (CallDirection::Incoming, CallRefusal::NoResource) => self.send_icrp_refusal(
                peer,
                IncomingCallResult::GeneralError,
                GeneralError::NoResource,
            ),
        }
    }

    /// Clears the call `local_call_id` (the PIX's `clear vpdn ... id N`).
    /// RFC 2637 §2.12/§2.13: a client sends Call-Clear-Request and the call
    /// goes down when the server's Call-Disconnect-Notify arrives (or after
    /// [`Config::reply_timeout`]); a server sends Call-Disconnect-Notify
    /// (result 3, Admin Shutdown) and the call is down at once. If the
    /// outbound queue is full the message is sent as soon as it has room.
    pub fn clear_call(&mut self, now: Instant, local_call_id: u16) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        let index = self
            .find(|c| c.local_id() == Some(local_call_id) && c.state() != CallState::WaitDisconnect)
            .ok_or(Error::UnknownCall(local_call_id))?;
        self.clear_at(now, index);
        Ok(())
    }

    /// Sends the clearing message for the call at `index`, or marks it
    /// pending when the queue is full.
    fn clear_at(&mut self, now: Instant, index: usize) {
        let Some(call) = self.calls.get_mut(index) else {
            return;
        };
        if call.clear_pending || call.state() == CallState::WaitDisconnect {
            return;
        }
        if self.outbound.is_full() || self.events.is_full() {
            call.clear_pending = true;
            self.clears_pending += 1;
            return;
        }
        self.send_clear(now, index);
    }

    fn send_clear(&mut self, now: Instant, index: usize) {
        let Some(call) = self.calls.get(index).copied() else {
            return;
        };
        if call.state() == CallState::WaitHost {
            // Not ours yet: refuse the request instead.
            self.send_refusal(index, CallRefusal::DoNotAccept);
            self.remove_call(index, CallDownReason::Local);
            return;
        }
        let local = call.local_id().unwrap_or(0);
        match self.role {
            Role::Client => {
                let _ = self.enqueue(&ControlRepr::Ccrq(Ccrq { call_id: local }));
                if let Some(c) = self.calls.get_mut(index) {
                    c.snapshot.state = CallState::WaitDisconnect;
                    c.deadline = Some(now + self.config.reply_timeout);
                }
            }
            Role::Server => {
                let _ = self.enqueue(&ControlRepr::Cdn(Cdn {
                    call_id: local,
                    result: DisconnectResult::AdminShutdown,
                    error: GeneralError::None,
                    cause_code: 0,
                    call_statistics: &[],
                }));
                self.remove_call(index, CallDownReason::Local);
            }
        }
    }

    /// Disconnects the call `local_call_id` with a Call-Disconnect-Notify
    /// carrying the given result, cause and call statistics (server only:
    /// RFC 2637 §2.13 has the PAC send CDN; the PIX puts its byte and
    /// packet counts in the statistics text). The call is down at once.
    /// Unlike [`Connection::clear_call`] this fails with
    /// [`Error::QueueFull`] rather than deferring, since the statistics are
    /// borrowed.
    pub fn disconnect_call(
        &mut self,
        now: Instant,
        local_call_id: u16,
        disconnect: &Disconnect<'_>,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        if self.role != Role::Server {
            return Err(Error::WrongRole);
        }
        if disconnect.statistics.len() > STATS_FIELD_LEN {
            return Err(Error::FieldTooLong("call_statistics"));
        }
        let index = self
            .find(|c| c.local_id() == Some(local_call_id))
            .ok_or(Error::UnknownCall(local_call_id))?;
        self.enqueue(&ControlRepr::Cdn(Cdn {
            call_id: local_call_id,
            result: disconnect.result,
            error: disconnect.error,
            cause_code: disconnect.cause_code,
            call_statistics: disconnect.statistics,
        }))?;
        self.remove_call(index, CallDownReason::Local);
        self.pump(now);
        Ok(())
    }

    /// Clears every call but keeps the control connection (the PIX's
    /// `clear vpdn ... all` for one tunnel): each call is cleared as by
    /// [`Connection::clear_call`]; requests the host has not answered are
    /// refused ("Do Not Accept"). Messages that do not fit in the outbound
    /// queue are sent as it drains.
    pub fn clear_all_calls(&mut self, now: Instant) -> Result<(), Error> {
        self.check_established()?;
        for index in (0..self.calls.len()).rev() {
            self.clear_at(now, index);
        }
        self.pump(now);
        Ok(())
    }

    /// Sends Set-Link-Info for an established call (client only: RFC 2637
    /// §2.15 has the PNS send it) with the ACCMs PPP negotiated.
    pub fn set_link_info(
        &mut self,
        now: Instant,
        local_call_id: u16,
        send_accm: u32,
        receive_accm: u32,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.check_established()?;
        if self.role != Role::Client {
            return Err(Error::WrongRole);
        }
        let peer = self.established_peer(local_call_id)?;
        self.enqueue(&ControlRepr::Sli(Sli {
            peer_call_id: peer,
            send_accm,
            receive_accm,
        }))
    }

    /// Sends WAN-Error-Notify for an established call (server only: RFC
    /// 2637 §2.14 has the PAC send it).
    pub fn wan_error_notify(
        &mut self,
        now: Instant,
        local_call_id: u16,
        errors: &WanErrors,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.check_established()?;
        if self.role != Role::Server {
            return Err(Error::WrongRole);
        }
        let peer = self.established_peer(local_call_id)?;
        self.enqueue(&ControlRepr::Wen(Wen {
            peer_call_id: peer,
            crc_errors: errors.crc_errors,
            framing_errors: errors.framing_errors,
            hardware_overruns: errors.hardware_overruns,
            buffer_overruns: errors.buffer_overruns,
            timeout_errors: errors.timeout_errors,
            alignment_errors: errors.alignment_errors,
        }))
    }

    fn established_peer(&self, local_call_id: u16) -> Result<u16, Error> {
        self.calls
            .iter()
            .find(|c| c.local_id() == Some(local_call_id) && c.state() == CallState::Established)
            .and_then(Call::peer_id)
            .ok_or(Error::UnknownCall(local_call_id))
    }

    /// Closes the control connection (the PIX's `clear vpdn tunnel`):
    /// every call is cleared first (client: CCRQ and wait for CDN; server:
    /// CDN), then Stop-Control-Connection-Request (reason 1) is sent and
    /// the connection closes on the Stop-Control-Connection-Reply or after
    /// [`Config::reply_timeout`]. Before start-up has finished the
    /// connection just closes.
    pub fn close(&mut self, now: Instant) -> Result<(), Error> {
        match self.state {
            State::Closed => Err(Error::Closed),
            State::Stopping { .. } => Ok(()),
            State::Idle | State::WaitCtlReply => {
                self.shut_down(TunnelDownReason::Local, false);
                Ok(())
            }
            State::Established => {
                self.state = State::Stopping { stop_sent: false };
                for index in (0..self.calls.len()).rev() {
                    self.clear_at(now, index);
                }
                self.pump(now);
                Ok(())
            }
        }
    }

    /// Applies the SCCRQ collision rule of RFC 2637 §3.1.3 across two TCP
    /// connections to the same peer. The host calls this on each of the
    /// two connections when it sees an SCCRQ arrive on one while its own
    /// SCCRQ is outstanding on the other, with `local_is_higher` = our IP
    /// address compared with the peer's as unsigned 32-bit numbers.
    ///
    /// * On the connection we opened: the higher end keeps waiting for the
    ///   SCCRP; the lower end closes it without sending anything more.
    /// * On the connection the peer opened: the lower end answers the
    ///   SCCRQ as usual; the higher end must send nothing on it, so the
    ///   machine drops any queued reply and closes (call this before the
    ///   first `poll_transmit` after the SCCRQ).
    ///
    /// Either way, a connection that has to go ends with
    /// [`TunnelDownReason::Collision`].
    pub fn handle_collision(&mut self, now: Instant, local_is_higher: bool) {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        let must_go = if self.initiator {
            !local_is_higher
        } else {
            local_is_higher
        };
        if must_go {
            self.shut_down(TunnelDownReason::Collision, false);
        }
    }

    // --- parking --------------------------------------------------------

    /// Turns a quiet connection into its compact [`ParkedConnection`]
    /// form (a few hundred octets instead of this machine's several
    /// kilobytes), or returns it unchanged if it is not quiet.
    ///
    /// Quiet means: established (not starting up or stopping), exactly one
    /// call and that call established (a dial-in tunnel carries one call,
    /// as Windows and the Cisco PIX open it), nothing waiting in the
    /// outbound or event queue, no tunnel-down report, no clear pending,
    /// no start-up, stop or call timer running, and the reassembler holding
    /// at most the start of an Echo-Request or Echo-Reply (RFC 2637 §2.5,
    /// §2.6). The keepalive (§3.1.4) may be in any phase: it goes on in the
    /// parked form.
    ///
    /// The [`Config`] is not kept (only its keepalive durations): the host
    /// gives it back to [`Connection::unpark`].
    // The Err variant is the connection itself, handed back unchanged: no
    // allocator to box it in, and the host keeps it where it was anyway.
    #[allow(clippy::result_large_err)]
    pub fn park(self) -> Result<ParkedConnection, Self> {
        let quiet = self.state == State::Established
            && self.outbound.is_empty()
            && self.events.is_empty()
            && self.tunnel_down.is_none()
            && self.clears_pending == 0
            && self.deadline.is_none()
            && self.stream.error().is_none();
        if !quiet {
            return Err(self);
        }
        let parts = match self.calls.as_slice() {
            [call] => {
                ParkedCall::from_call(call).zip(ParkedStream::from_partial(self.stream.partial()))
            }
            _ => None,
        };
        let Some((call, stream)) = parts else {
            return Err(self);
        };
        Ok(ParkedConnection::new(
            self.role,
            self.initiator,
            &self.config,
            call,
            stream,
            self.last_received,
            self.keepalive,
            self.next_echo_id,
            self.stats,
        ))
    }

    /// Rebuilds the full connection from its parked form, in exactly the
    /// state a connection that was never parked would be in after the same
    /// input and timers. `config` is the one the connection was made with
    /// (a server's one Config for all sessions); the keepalive durations
    /// the connection was parked with are kept, so a keepalive round that
    /// spans park and unpark is timed as it began. `now` is the time of
    /// the input or timer that made the parked form ask for the full
    /// machine.
    ///
    /// * Messages the parked form had not handed out yet (an Echo-Reply,
    ///   our Echo-Request) are queued first, in their order.
    /// * The octets the parked form holds go to the reassembler and are
    ///   processed at once: a message they complete is handled now and its
    ///   events and replies wait in `poll_event` / `poll_transmit`; a
    ///   framing error (bad magic cookie, impossible Length, RFC 2637
    ///   §1.4) closes the connection now ([`Event::TunnelDown`] with
    ///   [`TunnelDownReason::ProtocolError`]), so the host's next
    ///   `handle_input` returns [`Error::Closed`] where a never-parked
    ///   connection returned [`Error::Wire`]; a partial message waits for
    ///   the rest of the host's bytes.
    /// * If the Echo-Reply was overdue ([`ParkedConnection::needs_connection`]
    ///   after `handle_timeout`), the keepalive timeout runs now (§3.1.4):
    ///   [`Event::EchoTimeout`], the call down, then [`Event::TunnelDown`]
    ///   with [`TunnelDownReason::EchoTimeout`].
    ///
    /// `MAX_CALLS` must be at least 1 (checked at compile time).
    pub fn unpark(parked: ParkedConnection, config: Config, now: Instant) -> Self {
        const { assert!(MAX_CALLS >= 1, "a parked connection has one call") };
        let mut config = config;
        config.echo_interval = parked.echo_interval;
        config.echo_timeout = parked.echo_timeout;
        let mut calls = Vec::new();
        let _ = calls.push(parked.call.to_call());
        let mut connection = Connection {
            role: parked.role,
            config,
            state: State::Established,
            initiator: parked.initiator,
            stream: ControlStream::with_partial(parked.stream.held()),
            calls,
            outbound: Deque::new(),
            events: Deque::new(),
            tunnel_down: None,
            deadline: None,
            last_received: parked.last_received,
            keepalive: parked.keepalive(),
            next_echo_id: parked.next_echo_id,
            clears_pending: 0,
            last_now: now.max(parked.last_received),
            stats: parked.stats,
        };
        for repr in parked.pending_output() {
            // At most two messages into an empty queue of sixteen.
            let _ = connection.enqueue(&repr);
        }
        if parked.echo_timed_out() {
            // The parked form found the reply overdue at or after this
            // deadline; a never-parked connection tore down then.
            let keepalive = parked.keepalive();
            let due = match keepalive.is_outstanding() {
                true => keepalive.poll_timeout(&connection.keepalive_config()),
                false => None,
            };
            let due = due.unwrap_or(now);
            connection.handle_timeout(now.max(due));
        } else if !connection.stream.partial().is_empty() {
            // No new octets: only what the parked form held.
            let _ = connection.input(now, &[], false);
        }
        connection
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
        Some(Transmit { len, messages })
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

    fn call_timed_out(&mut self, index: usize) {
        let Some(call) = self.calls.get(index).copied() else {
            return;
        };
        let local = call.local_id().unwrap_or(0);
        match call.state() {
            CallState::WaitHost => match call.snapshot.direction {
                // RFC 2637 §2.8 result 6: not established in the time
                // the PAC allows.
                CallDirection::Outgoing => self.send_ocrp_refusal(
                    call.peer_id().unwrap_or(0),
                    OutgoingCallResult::TimeOut,
                    GeneralError::None,
                ),
                CallDirection::Incoming => self.send_icrp_refusal(
                    call.peer_id().unwrap_or(0),
                    IncomingCallResult::DoNotAccept,
                    GeneralError::None,
                ),
            },
            CallState::WaitReply | CallState::WaitConnect => match self.role {
                // Tell the peer to forget the half-made call.
                Role::Client => self.enqueue_or_count(&ControlRepr::Ccrq(Ccrq { call_id: local })),
                Role::Server => self.enqueue_or_count(&ControlRepr::Cdn(Cdn {
                    call_id: local,
                    result: DisconnectResult::GeneralError,
                    error: GeneralError::None,
                    cause_code: 0,
                    call_statistics: &[],
                })),
            },
            // No CDN for our CCRQ: give up on it.
            CallState::WaitDisconnect | CallState::Established => {}
        }
        self.remove_call(index, CallDownReason::Timeout);
        let peer_was_silent = call.state() != CallState::WaitHost;
        if peer_was_silent && self.config.close_on_call_timeout {
            // RFC 2637 §3: "If an expected reply does not arrive within
            // 60 seconds, the control connection is closed."
            self.enqueue_or_count(&ControlRepr::StopCcrq(StopCcrq {
                reason: StopReason::None,
            }));
            self.shut_down(TunnelDownReason::Timeout, true);
        }
    }

    // --- internals ------------------------------------------------------

    fn find(&self, pred: impl Fn(&Call) -> bool) -> Option<usize> {
        self.calls.iter().position(pred)
    }

    fn call_established(&mut self, now: Instant, index: usize) {
        let Some(call) = self.calls.get_mut(index) else {
            return;
        };
        call.snapshot.state = CallState::Established;
        call.snapshot.established_at = Some(now);
        call.deadline = None;
        let s = call.snapshot;
        self.stats.calls_established += 1;
        self.push_event(Event::CallUp(CallUp {
            local_call_id: s.local_call_id.unwrap_or(0),
            peer_call_id: s.peer_call_id.unwrap_or(0),
            direction: s.direction,
            peer_recv_window: s.peer_recv_window,
            peer_processing_delay: s.peer_processing_delay,
            framing: s.framing,
            bearer: s.bearer,
            connect_speed: s.connect_speed,
        }));
    }

    fn remove_call(&mut self, index: usize, reason: CallDownReason) {
        if index >= self.calls.len() {
            return;
        }
        let call = self.calls.swap_remove(index);
        if call.clear_pending {
            self.clears_pending = self.clears_pending.saturating_sub(1);
        }
        self.push_event(Event::CallDown(CallDown {
            local_call_id: call.local_id(),
            peer_call_id: call.peer_id(),
            reason,
        }));
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

fn name_bytes(value: &[u8]) -> NameBytes {
    let mut out = NameBytes::new();
    let n = value.len().min(NAME_FIELD_LEN);
    let _ = out.extend_from_slice(value.get(..n).unwrap_or(&[]));
    out
}

fn peer_info(
    protocol_version: u16,
    framing_capabilities: crate::wire::control::FramingCapabilities,
    bearer_capabilities: crate::wire::control::BearerCapabilities,
    maximum_channels: u16,
    firmware_revision: u16,
    host_name: &[u8],
    vendor_string: &[u8],
) -> PeerInfo {
    PeerInfo {
        protocol_version,
        framing_capabilities,
        bearer_capabilities,
        maximum_channels,
        firmware_revision,
        host_name: name_bytes(host_name),
        vendor_string: name_bytes(vendor_string),
    }
}

/// Whether an Echo-Reply (RFC 2637 §2.6) with `identifier` answers our
/// outstanding Echo-Request: our Identifiers are sequential, so the
/// outstanding one is the last handed out, `next_echo_id - 1`.
pub(super) fn answers_our_echo(keepalive: &Keepalive, next_echo_id: u32, identifier: u32) -> bool {
    keepalive.is_outstanding() && identifier == next_echo_id.wrapping_sub(1)
}
