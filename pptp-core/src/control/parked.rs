//! A compact form of a quiet, established control connection.
//!
//! A dial-in server spends almost all of a session's life in one state:
//! the control connection is established, it carries exactly one call
//! (Windows and the Cisco PIX open one call per tunnel), and the only
//! control traffic is the keepalive (RFC 2637 §3.1.4: an Echo-Request
//! after 60 s of silence, answered by an Echo-Reply, §2.5 and §2.6). A
//! full [`Connection`] keeps bounded queues, the host and vendor names and
//! a reassembly buffer for the longest message for that; a
//! [`ParkedConnection`] keeps only what this state needs, so a server
//! holding 100,000 sessions pays a few hundred octets for each control
//! connection instead of several kilobytes.
//!
//! The host parks with [`Connection::park`] once the connection is quiet,
//! drives the parked form with the same Sans-IO calls (`handle_input`,
//! `poll_transmit`, `poll_timeout`, `handle_timeout`), and rebuilds the
//! full machine with [`Connection::unpark`] as soon as the parked form
//! says it needs it: any control message other than an Echo-Request or
//! Echo-Reply, bytes that break the stream, or an overdue Echo-Reply. The
//! unparked connection is in exactly the state a connection that was
//! never parked would be in after the same input and timers, and it
//! processes what the parked form left buffered at once.

use super::call::{Call, CallDirection, CallSnapshot, CallState};
use super::connection::answers_our_echo;
use super::{Config, Transmit, TunnelStats};
use crate::time::{Duration, Instant};
use crate::wire::control::{
    BearerCapabilities, ControlMessage, ControlRepr, EchoReply, EchoRequest, EchoResult,
    FramingCapabilities, GeneralError, MessageType, CONTROL_MESSAGE, HEADER_LEN, MAGIC_COOKIE,
};
use crate::Role;
use ppp_core::keepalive::{Action, Keepalive, KeepaliveConfig};

#[cfg(doc)]
use super::Connection;

/// The longest message a parked connection handles itself: Echo-Reply,
/// 20 octets (RFC 2637 §2.6). Echo-Request (§2.5) is 16.
const STREAM_CAPACITY: usize = MessageType::EchoReply.length();

/// Returned by [`ParkedConnection::handle_input`] when the parked form
/// cannot go on: the host must [unpark](Connection::unpark) and hand the
/// unparked connection `bytes[consumed..]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct NeedsConnection {
    /// Octets of this call's input the parked form consumed (and holds, or
    /// has answered) before it stopped.
    pub consumed: usize,
}

/// Why a parked connection needs the full machine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Wake {
    /// Still quiet.
    No,
    /// The stream holds the start of a message the parked form does not
    /// handle (or bytes that break the stream).
    Message,
    /// The Echo-Reply is overdue (RFC 2637 §3.1.4): the full machine tears
    /// the connection down.
    EchoTimeout,
}

/// One message waiting for [`ParkedConnection::poll_transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Output {
    /// Echo-Reply (§2.6, result 1 OK) to the peer's Echo-Request with this
    /// identifier.
    EchoReply(u32),
    /// Our Echo-Request (§2.5) with this identifier.
    EchoRequest(u32),
}

impl Output {
    fn repr(self) -> ControlRepr<'static> {
        match self {
            // The same reply as Connection's: the Connection answers
            // every Echo-Request of an established tunnel with result 1.
            Output::EchoReply(identifier) => ControlRepr::EchoReply(EchoReply {
                identifier,
                result: EchoResult::Ok,
                error: GeneralError::None,
            }),
            Output::EchoRequest(identifier) => ControlRepr::EchoRequest(EchoRequest { identifier }),
        }
    }
}

/// The established call, without what only a call being set up or
/// cleared needs (deadline, pending clear).
#[derive(Clone, Copy, Debug)]
pub(super) struct ParkedCall {
    created_at: Instant,
    established_at: Instant,
    connect_speed: u32,
    framing: FramingCapabilities,
    bearer: BearerCapabilities,
    local_call_id: u16,
    peer_call_id: u16,
    peer_recv_window: u16,
    peer_processing_delay: u16,
    local_recv_window: u16,
    local_processing_delay: u16,
    direction: CallDirection,
}

impl ParkedCall {
    /// The parked form of `call`, if it is established and has no timer
    /// or clear pending.
    pub(super) fn from_call(call: &Call) -> Option<Self> {
        let s = &call.snapshot;
        if s.state != CallState::Established || call.deadline.is_some() || call.clear_pending {
            return None;
        }
        Some(ParkedCall {
            created_at: s.created_at,
            established_at: s.established_at?,
            connect_speed: s.connect_speed,
            framing: s.framing,
            bearer: s.bearer,
            local_call_id: s.local_call_id?,
            peer_call_id: s.peer_call_id?,
            peer_recv_window: s.peer_recv_window,
            peer_processing_delay: s.peer_processing_delay,
            local_recv_window: call.local_recv_window,
            local_processing_delay: call.local_processing_delay,
            direction: s.direction,
        })
    }

    fn snapshot(&self) -> CallSnapshot {
        CallSnapshot {
            local_call_id: Some(self.local_call_id),
            peer_call_id: Some(self.peer_call_id),
            direction: self.direction,
            state: CallState::Established,
            created_at: self.created_at,
            established_at: Some(self.established_at),
            peer_recv_window: self.peer_recv_window,
            peer_processing_delay: self.peer_processing_delay,
            framing: self.framing,
            bearer: self.bearer,
            connect_speed: self.connect_speed,
        }
    }

    /// The call table entry the full connection had.
    pub(super) fn to_call(self) -> Call {
        Call {
            snapshot: self.snapshot(),
            deadline: None,
            local_recv_window: self.local_recv_window,
            local_processing_delay: self.local_processing_delay,
            clear_pending: false,
        }
    }
}

/// Reassembly of the control stream while parked: at most one Echo
/// message, or the first octets of a message the full machine must read.
#[derive(Clone, Copy, Debug)]
pub(super) struct ParkedStream {
    bytes: [u8; STREAM_CAPACITY],
    len: u8,
}

impl ParkedStream {
    const EMPTY: ParkedStream = ParkedStream {
        bytes: [0; STREAM_CAPACITY],
        len: 0,
    };

    /// The parked form of a full reassembler's partial message, if the
    /// parked form can go on from there: no header yet, or the header of
    /// an Echo message of the right length.
    pub(super) fn from_partial(partial: &[u8]) -> Option<Self> {
        if partial.len() >= HEADER_LEN {
            let total = echo_frame_length(partial)?;
            // A full reassembler never holds a whole message.
            if partial.len() >= total {
                return None;
            }
        }
        let mut stream = ParkedStream::EMPTY;
        stream
            .bytes
            .get_mut(..partial.len())?
            .copy_from_slice(partial);
        stream.len = u8::try_from(partial.len()).ok()?;
        Some(stream)
    }

    /// The octets held, for the full reassembler.
    pub(super) fn held(&self) -> &[u8] {
        self.bytes.get(..usize::from(self.len)).unwrap_or(&[])
    }

    /// Moves up to `n` octets from the front of `input` into the buffer.
    fn take(&mut self, input: &mut &[u8], n: usize) {
        let start = usize::from(self.len);
        let n = n.min(input.len()).min(STREAM_CAPACITY - start);
        let (head, rest) = input.split_at(n);
        if let Some(dst) = self.bytes.get_mut(start..start + n) {
            dst.copy_from_slice(head);
        }
        // start + n <= STREAM_CAPACITY (20) fits in a u8.
        self.len = (start + n) as u8;
        *input = rest;
    }
}

/// The Length of an Echo-Request or Echo-Reply whose 12-octet header
/// starts `bytes`, or `None` for any other header: another message type,
/// a Length that does not match the type (RFC 2637 §2.5, §2.6), a PPTP
/// Message Type other than 1, or a wrong magic cookie (§1.4). Those are for
/// the full machine to judge.
fn echo_frame_length(bytes: &[u8]) -> Option<usize> {
    let header = ControlMessage::new_unchecked(bytes.get(..HEADER_LEN)?);
    if header.magic_cookie() != MAGIC_COOKIE || header.pptp_message_type() != CONTROL_MESSAGE {
        return None;
    }
    let message_type = header.message_type()?;
    let total = message_type.length();
    let is_echo = matches!(
        message_type,
        MessageType::EchoRequest | MessageType::EchoReply
    );
    (is_echo && usize::from(header.length()) == total).then_some(total)
}

/// A whole Echo message received, by identifier.
enum Echo {
    Request(u32),
    Reply(u32),
}

/// The result of one step of [`ParkedConnection::handle_input`].
enum Step {
    /// A message was handled: go on.
    Again,
    /// The input is used up.
    Done,
    /// The next message needs an output slot that is taken.
    Blocked,
    /// The full machine is needed.
    Wake,
}

/// A quiet, established control connection in a few hundred octets: the
/// role, the one established call, the keepalive, the counters and the
/// partial message being reassembled.
///
/// A dial-in server spends almost all of a session's life in this state:
/// one call (Windows and the Cisco PIX open one call per tunnel) and only
/// the keepalive on the control connection (RFC 2637 §3.1.4). A full
/// [`Connection`] keeps bounded queues, the host and vendor names and a
/// buffer for the longest message (8,568 octets for a `Connection<1>` on
/// x86-64); this form keeps 272 (a test holds it to at most 320), so a
/// server with 100,000 sessions does not pay for queues that are empty.
///
/// Made by [`Connection::park`], turned back into the full machine by
/// [`Connection::unpark`]. Driven like a [`Connection`]:
///
/// * [`ParkedConnection::handle_input`] answers the peer's Echo-Request
///   (RFC 2637 §2.5) with an Echo-Reply (§2.6) and accepts the Echo-Reply
///   to our own request; it stops at the header of any other message
///   (Call-Clear-Request, Call-Disconnect-Notify,
///   Stop-Control-Connection-Request, Set-Link-Info, WAN-Error-Notify, a
///   malformed or unknown message, bytes that break the stream) and
///   returns [`NeedsConnection`] with how many octets it consumed;
/// * [`ParkedConnection::handle_timeout`] sends our Echo-Request after
///   [`Config::echo_interval`] without a message from the peer (§3.1.4);
///   when the Echo-Reply is [`Config::echo_timeout`] overdue it does not
///   tear anything down itself, it sets
///   [`ParkedConnection::needs_connection`], and the unparked connection
///   reports the teardown ([`super::Event::EchoTimeout`], then the call and
///   [`super::Event::TunnelDown`] with
///   [`super::TunnelDownReason::EchoTimeout`]) exactly as a connection that
///   was never parked does;
/// * [`ParkedConnection::poll_transmit`] hands out the Echo-Reply or
///   Echo-Request waiting (at most one of each).
///
/// # Host pattern
///
/// Keep each session as either form. On TCP input give the bytes to the
/// parked form; when it returns [`NeedsConnection`], unpark (with the same
/// `now` and the server's `Config`) and give the full connection the rest.
/// `Ok(n)` with `n` short of the input means an output slot is taken: send
/// what `poll_transmit` gives and call again with the rest. After
/// `handle_timeout`, check [`ParkedConnection::needs_connection`]. Park
/// again whenever [`Connection::park`] accepts.
///
/// ```
/// use pptp_core::control::{
///     CallAccept, CallParams, Config, Connection, Event, NeedsConnection, ParkedConnection,
/// };
/// use pptp_core::wire::control::{Ccrq, ControlRepr};
/// use pptp_core::{Duration, Instant, Role};
///
/// /// One session of a server: parked while quiet, full otherwise.
/// enum Session {
///     Parked(ParkedConnection),
///     Full(Connection<1>),
/// }
///
/// impl Session {
///     /// TCP bytes from the peer; what to send back is appended to `out`.
///     fn on_input(self, config: &Config, now: Instant, mut bytes: &[u8], out: &mut Vec<u8>) -> Session {
///         let mut buf = [0u8; 256];
///         let mut full = match self {
///             Session::Full(conn) => conn,
///             Session::Parked(mut parked) => loop {
///                 match parked.handle_input(now, bytes) {
///                     Ok(n) => {
///                         bytes = &bytes[n..];
///                         while let Some(t) = parked.poll_transmit(now, &mut buf) {
///                             out.extend_from_slice(&buf[..t.len]);
///                         }
///                         if bytes.is_empty() {
///                             return Session::Parked(parked);
///                         }
///                     }
///                     Err(NeedsConnection { consumed }) => {
///                         bytes = &bytes[consumed..];
///                         break Connection::unpark(parked, config.clone(), now);
///                     }
///                 }
///             },
///         };
///         if !bytes.is_empty() {
///             // Error::Closed here if the buffered bytes already ended the
///             // tunnel (Event::TunnelDown says why): close the socket.
///             let _ = full.handle_input(now, bytes);
///         }
///         while let Some(event) = full.poll_event() {
///             println!("server: {event:?}");
///         }
///         while let Some(t) = full.poll_transmit(now, &mut buf) {
///             out.extend_from_slice(&buf[..t.len]);
///         }
///         match full.park() {
///             Ok(parked) => Session::Parked(parked),
///             Err(full) => Session::Full(full),
///         }
///     }
/// }
///
/// // Set up a tunnel with one call, as a Windows client does.
/// let config = Config::default();
/// let now = Instant::ZERO;
/// let mut client: Connection<1> = Connection::new(Role::Client, Config::default(), now);
/// let mut server: Connection<1> = Connection::new(Role::Server, config.clone(), now);
/// let mut buf = [0u8; 512];
/// let mut moved = true;
/// while moved {
///     moved = false;
///     while let Some(t) = client.poll_transmit(now, &mut buf) {
///         server.handle_input(now, &buf[..t.len]).unwrap();
///         moved = true;
///     }
///     while let Some(t) = server.poll_transmit(now, &mut buf) {
///         client.handle_input(now, &buf[..t.len]).unwrap();
///         moved = true;
///     }
///     while let Some(event) = client.poll_event() {
///         if let Event::TunnelUp(_) = event {
///             client.place_call(now, 7, &CallParams::default()).unwrap();
///         }
///         moved = true;
///     }
///     while let Some(event) = server.poll_event() {
///         if let Event::CallRequested(r) = event {
///             server.accept_call(now, r.peer_call_id, 42, &CallAccept::default()).unwrap();
///         }
///         moved = true;
///     }
/// }
///
/// // Quiet: park. A minute later the client's keepalive arrives and the
/// // parked form answers it.
/// let mut session = Session::Parked(server.park().unwrap());
/// let now = now + Duration::from_secs(60);
/// client.handle_timeout(now);
/// let t = client.poll_transmit(now, &mut buf).unwrap();
/// let mut reply = Vec::new();
/// session = session.on_input(&config, now, &buf[..t.len], &mut reply);
/// assert!(matches!(session, Session::Parked(_)));
/// client.handle_input(now, &reply).unwrap();
/// assert_eq!(client.stats().echo_replies_received, 1);
///
/// // The client clears the call: the session unparks, the full machine
/// // answers with Call-Disconnect-Notify and stays unparked (no call).
/// client.clear_call(now, 7).unwrap();
/// let t = client.poll_transmit(now, &mut buf).unwrap();
/// assert!(matches!(
///     ControlRepr::parse_bytes(&buf[..t.len]),
///     Ok(ControlRepr::Ccrq(Ccrq { call_id: 7 }))
/// ));
/// let mut cdn = Vec::new();
/// session = session.on_input(&config, now, &buf[..t.len], &mut cdn);
/// assert!(matches!(session, Session::Full(_)));
/// client.handle_input(now, &cdn).unwrap();
/// assert_eq!(client.call_count(), 0);
/// ```
#[derive(Clone, Debug)]
pub struct ParkedConnection {
    pub(super) stats: TunnelStats,
    /// When the last whole message came from the peer.
    pub(super) last_received: Instant,
    /// [`Config::echo_interval`] of the connection that was parked.
    pub(super) echo_interval: Duration,
    /// [`Config::echo_timeout`] of the connection that was parked.
    pub(super) echo_timeout: Duration,
    pub(super) call: ParkedCall,
    /// The Identifier of our next Echo-Request (the outstanding one's
    /// plus one).
    pub(super) next_echo_id: u32,
    /// The keepalive, as the full connection runs it.
    keepalive: Keepalive,
    /// Messages waiting for poll_transmit, in order: at most one
    /// Echo-Reply and one Echo-Request.
    output: [Option<Output>; 2],
    pub(super) stream: ParkedStream,
    pub(super) role: Role,
    /// True if this end sent the SCCRQ.
    pub(super) initiator: bool,
    wake: Wake,
}

impl ParkedConnection {
    /// The parked form of an established connection's state (the caller,
    /// [`Connection::park`], has checked that it is quiet).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn new(
        role: Role,
        initiator: bool,
        config: &Config,
        call: ParkedCall,
        stream: ParkedStream,
        last_received: Instant,
        keepalive: Keepalive,
        next_echo_id: u32,
        stats: TunnelStats,
    ) -> Self {
        ParkedConnection {
            stats,
            last_received,
            echo_interval: config.echo_interval,
            echo_timeout: config.echo_timeout,
            call,
            next_echo_id,
            keepalive,
            output: [None; 2],
            stream,
            role,
            initiator,
            wake: Wake::No,
        }
    }

    /// The keepalive's state.
    pub(super) fn keepalive(&self) -> Keepalive {
        self.keepalive
    }

    fn keepalive_config(&self) -> KeepaliveConfig {
        KeepaliveConfig::pptp(self.echo_interval, self.echo_timeout)
    }

    /// The messages waiting for poll_transmit, in order, as the full
    /// connection would have queued them.
    pub(super) fn pending_output(&self) -> impl Iterator<Item = ControlRepr<'static>> + '_ {
        self.output.iter().flatten().map(|o| o.repr())
    }

    /// True if the Echo-Reply was found overdue: the full connection must
    /// run its timers at once.
    pub(super) fn echo_timed_out(&self) -> bool {
        self.wake == Wake::EchoTimeout
    }

    /// This end's role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Counters of this connection (carried over from the full connection
    /// and back).
    pub fn stats(&self) -> &TunnelStats {
        &self.stats
    }

    /// A snapshot of the connection's one call (always
    /// [`CallState::Established`]).
    pub fn call(&self) -> CallSnapshot {
        self.call.snapshot()
    }

    /// Our call ID: the one GRE packets from the peer carry.
    pub fn local_call_id(&self) -> u16 {
        self.call.local_call_id
    }

    /// The peer's call ID: the one our GRE packets must carry.
    pub fn peer_call_id(&self) -> u16 {
        self.call.peer_call_id
    }

    /// True once the parked form cannot go on: a message it does not
    /// handle has begun, or the Echo-Reply is overdue. The host calls
    /// [`Connection::unpark`]; until then `handle_input` consumes nothing
    /// and `handle_timeout` does nothing.
    pub fn needs_connection(&self) -> bool {
        self.wake != Wake::No
    }

    /// Octets of a partial message held (at most 20).
    pub fn buffered(&self) -> usize {
        usize::from(self.stream.len)
    }

    /// Length of the next message [`ParkedConnection::poll_transmit`] will
    /// hand out (16 or 20 octets).
    pub fn pending_transmit_len(&self) -> Option<usize> {
        self.output
            .first()
            .copied()
            .flatten()
            .map(|o| o.repr().buffer_len())
    }

    // --- input ----------------------------------------------------------

    /// Feeds bytes read from the TCP connection (any chunking).
    ///
    /// * `Ok(n)`: `n` octets were consumed. If `n` is short of
    ///   `bytes.len()`, an Echo-Request needs the Echo-Reply slot, which
    ///   is taken: the host sends what [`ParkedConnection::poll_transmit`]
    ///   gives, then calls again with `bytes[n..]`.
    /// * `Err(NeedsConnection { consumed })`: the input holds something
    ///   only the full machine handles; its first octets (up to the end of
    ///   the 12-octet header) are held here. The host calls
    ///   [`Connection::unpark`] and gives the unparked connection
    ///   `bytes[consumed..]` (see the host pattern on
    ///   [`ParkedConnection`]).
    ///
    /// The Echo messages are judged exactly as the full machine judges
    /// them: an Echo-Request is answered (RFC 2637 §2.5: the receiver
    /// replies with an Echo-Reply, §2.6, result 1), an Echo-Reply matching
    /// the outstanding identifier ends the keepalive round and records its
    /// round-trip time, any other Echo-Reply is dropped and counted in
    /// [`TunnelStats::dropped_unexpected`]. Every whole message resets the
    /// keepalive interval (§3.1.4).
    pub fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<usize, NeedsConnection> {
        if self.needs_connection() {
            return Err(NeedsConnection { consumed: 0 });
        }
        let mut rest = bytes;
        let wake = loop {
            match self.step(now, &mut rest) {
                Step::Again => {}
                Step::Done | Step::Blocked => break false,
                Step::Wake => break true,
            }
        };
        let consumed = bytes.len() - rest.len();
        self.stats.bytes_in += consumed as u64;
        if wake {
            Err(NeedsConnection { consumed })
        } else {
            Ok(consumed)
        }
    }

    /// Consumes input towards one message and handles it once whole.
    ///
    /// The buffer never holds a whole Echo message between calls: the
    /// last octet is taken only when the message can be handled at once,
    /// so a host that has nothing left to give never leaves a message
    /// unanswered.
    fn step(&mut self, now: Instant, input: &mut &[u8]) -> Step {
        let held = usize::from(self.stream.len);
        if held < HEADER_LEN {
            self.stream.take(input, HEADER_LEN - held);
            return if usize::from(self.stream.len) < HEADER_LEN {
                Step::Done
            } else {
                Step::Again
            };
        }
        let Some(total) = echo_frame_length(self.stream.held()) else {
            // Another message type (or a broken stream): the full machine
            // reads it from its header on, so nothing past the header is
            // consumed here.
            self.wake = Wake::Message;
            return Step::Wake;
        };
        self.stream
            .take(input, total.saturating_sub(held).saturating_sub(1));
        let held = usize::from(self.stream.len);
        if held + 1 == total {
            if input.is_empty() {
                return Step::Done;
            }
            let is_request = ControlMessage::new_unchecked(self.stream.held()).message_type()
                == Some(MessageType::EchoRequest);
            if is_request && !self.can_queue_reply() {
                return Step::Blocked;
            }
            self.stream.take(input, 1);
        } else if held < total {
            return Step::Done;
        }
        self.handle_message(now)
    }

    /// Handles the whole Echo message in the buffer.
    fn handle_message(&mut self, now: Instant) -> Step {
        let echo = match ControlRepr::parse_bytes(self.stream.held()) {
            Ok(ControlRepr::EchoRequest(m)) => Echo::Request(m.identifier),
            Ok(ControlRepr::EchoReply(m)) => Echo::Reply(m.identifier),
            // Cannot happen after echo_frame_length; if it did, the full
            // machine would read the message (it stays buffered) and
            // decide.
            _ => {
                self.wake = Wake::Message;
                return Step::Wake;
            }
        };
        self.stream.len = 0;
        // As Connection::input does for every whole message.
        self.stats.messages_in += 1;
        self.last_received = now;
        self.keepalive.on_traffic(&self.keepalive_config(), now);
        match echo {
            Echo::Request(identifier) => {
                // RFC 2637 §2.5/§2.6: answered with the same identifier.
                self.stats.echo_requests_received += 1;
                self.push_output(Output::EchoReply(identifier));
            }
            Echo::Reply(identifier) => {
                if answers_our_echo(&self.keepalive, self.next_echo_id, identifier) {
                    self.stats.echo_replies_received += 1;
                    let config = self.keepalive_config();
                    self.stats.last_echo_rtt = self.keepalive.on_reply(&config, now);
                } else {
                    self.stats.dropped_unexpected += 1;
                }
            }
        }
        Step::Again
    }

    fn can_queue_reply(&self) -> bool {
        // At most one Echo-Reply waits, so the slot for our own
        // Echo-Request is always free when the keepalive needs it.
        !self
            .output
            .iter()
            .any(|o| matches!(o, Some(Output::EchoReply(_))))
    }

    fn push_output(&mut self, output: Output) {
        if let Some(slot) = self.output.iter_mut().find(|o| o.is_none()) {
            *slot = Some(output);
        }
    }

    // --- output ---------------------------------------------------------

    /// Writes the waiting messages that fit into `buf` (never past its
    /// end), in the order they were produced. Returns `None` if nothing
    /// waits or the next message does not fit.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        let mut len = 0;
        let mut messages = 0;
        while let Some(next) = self.output.first().copied().flatten() {
            let Some(dst) = buf.get_mut(len..) else {
                break;
            };
            // emit writes nothing and fails if the message does not fit.
            let Ok(n) = next.repr().emit(dst) else {
                break;
            };
            len += n;
            messages += 1;
            self.output = [self.output[1], None];
        }
        if messages == 0 {
            return None;
        }
        self.stats.messages_out += messages as u64;
        self.stats.bytes_out += len as u64;
        Some(Transmit::new(len))
    }

    // --- timers ---------------------------------------------------------

    /// When [`ParkedConnection::handle_timeout`] should next be called:
    /// the keepalive deadline, as for a [`Connection`]. Once
    /// [`ParkedConnection::needs_connection`] is true the deadline may be
    /// past; the host unparks instead.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.keepalive.poll_timeout(&self.keepalive_config())
    }

    /// Runs the keepalive at `now` (RFC 2637 §3.1.4): after
    /// [`Config::echo_interval`] without a message from the peer an
    /// Echo-Request is queued; once its reply is [`Config::echo_timeout`]
    /// overdue, [`ParkedConnection::needs_connection`] becomes true and the
    /// unparked connection tears the tunnel down.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.needs_connection() {
            return;
        }
        match self.keepalive.on_timeout(&self.keepalive_config(), now) {
            Action::Dead => self.wake = Wake::EchoTimeout,
            // Both slots taken only if the host left an earlier
            // Echo-Request unsent for a whole interval; like Connection
            // with a full queue, try again at the next call.
            Action::SendEcho if self.output.iter().any(Option::is_none) => {
                let identifier = self.next_echo_id;
                self.push_output(Output::EchoRequest(identifier));
                self.next_echo_id = self.next_echo_id.wrapping_add(1);
                self.keepalive.request_sent(now);
                self.stats.echo_requests_sent += 1;
            }
            Action::SendEcho | Action::Nothing => {}
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! Parked servers (and clients) against never-parked twins: a client
    //! and two servers built by the same steps, the twin never parked, fed
    //! the same bytes and timers; everything observable must agree.

    extern crate std;

    use std::format;
    use std::vec;
    use std::vec::Vec;

    use super::*;
    use crate::control::{
        CallAccept, CallDownReason, CallParams, Connection, Event, TunnelDownReason,
    };
    use crate::wire::control::{
        Cdn, DisconnectResult, Icrq, Ocrq, Sccrq, Sli, StopCcrp, StopCcrq, StopReason, StopResult,
        Wen, MAX_MESSAGE_LEN, PROTOCOL_VERSION,
    };

    type Conn = Connection<1>;

    const CLIENT_CALL: u16 = 7;
    const SERVER_CALL: u16 = 42;
    const T0: Instant = Instant::from_millis(1_000);

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    fn msg(repr: &ControlRepr<'_>) -> Vec<u8> {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = repr.emit(&mut buf).unwrap();
        buf[..n].to_vec()
    }

    fn echo_request(identifier: u32) -> Vec<u8> {
        msg(&ControlRepr::EchoRequest(EchoRequest { identifier }))
    }

    fn echo_reply(identifier: u32) -> Vec<u8> {
        msg(&ControlRepr::EchoReply(EchoReply {
            identifier,
            result: EchoResult::Ok,
            error: GeneralError::None,
        }))
    }

    fn ccrq() -> Vec<u8> {
        msg(&ControlRepr::Ccrq(crate::wire::control::Ccrq {
            call_id: CLIENT_CALL,
        }))
    }

    fn stop_request() -> Vec<u8> {
        msg(&ControlRepr::StopCcrq(StopCcrq {
            reason: StopReason::LocalShutdown,
        }))
    }

    fn drain(conn: &mut Conn, now: Instant) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 512];
        while let Some(t) = conn.poll_transmit(now, &mut buf) {
            assert!(t.len <= buf.len());
            out.extend_from_slice(&buf[..t.len]);
        }
        out
    }

    /// Splits a byte stream into its messages' types.
    fn types(bytes: &[u8]) -> Vec<MessageType> {
        let mut stream = crate::control::ControlStream::new();
        let mut input = bytes;
        let mut out = Vec::new();
        while let Some(m) = stream.feed(&mut input).unwrap() {
            out.push(ControlRepr::parse_bytes(m).unwrap().message_type());
        }
        assert_eq!(stream.buffered(), 0);
        out
    }

    /// A client and a server with one established call (the client's
    /// OCRQ, call 7, accepted by the server as call 42), all queues
    /// drained, at T0.
    fn established(config: &Config) -> (Conn, Conn) {
        let now = T0;
        let mut client = Conn::new(Role::Client, config.clone(), now);
        let mut server = Conn::new(Role::Server, config.clone(), now);
        loop {
            let mut moved = false;
            let c2s = drain(&mut client, now);
            if !c2s.is_empty() {
                server.handle_input(now, &c2s).unwrap();
                moved = true;
            }
            let s2c = drain(&mut server, now);
            if !s2c.is_empty() {
                client.handle_input(now, &s2c).unwrap();
                moved = true;
            }
            while let Some(event) = client.poll_event() {
                moved = true;
                if let Event::TunnelUp(_) = event {
                    client
                        .place_call(now, CLIENT_CALL, &CallParams::default())
                        .unwrap();
                }
            }
            while let Some(event) = server.poll_event() {
                moved = true;
                if let Event::CallRequested(r) = event {
                    server
                        .accept_call(now, r.peer_call_id, SERVER_CALL, &CallAccept::default())
                        .unwrap();
                }
            }
            if !moved {
                break;
            }
        }
        assert_eq!(
            client.call(CLIENT_CALL).unwrap().state,
            CallState::Established
        );
        assert_eq!(
            server.call(SERVER_CALL).unwrap().state,
            CallState::Established
        );
        (client, server)
    }

    /// One end driven as a host drives it. With `may_park`, it is parked
    /// whenever `Connection::park` accepts and unparked when the parked
    /// form asks; without, it is the never-parked twin.
    struct Host {
        config: Config,
        may_park: bool,
        parked: Option<ParkedConnection>,
        full: Option<Conn>,
        /// Everything it sent, and every event it reported.
        out: Vec<u8>,
        events: Vec<Event>,
        /// What handle_input returned on the full connection.
        errors: Vec<crate::control::Error>,
        unparks: usize,
    }

    impl Host {
        fn new(conn: Conn, config: &Config, may_park: bool) -> Self {
            let mut host = Host {
                config: config.clone(),
                may_park,
                parked: None,
                full: Some(conn),
                out: Vec::new(),
                events: Vec::new(),
                errors: Vec::new(),
                unparks: 0,
            };
            host.settle(T0);
            host
        }

        fn pair(config: &Config) -> (Conn, Host, Host) {
            let (client, server) = established(config);
            let (_, twin) = established(config);
            let host = Host::new(server, config, true);
            let twin = Host::new(twin, config, false);
            assert!(host.is_parked());
            (client, host, twin)
        }

        fn is_parked(&self) -> bool {
            self.parked.is_some()
        }

        fn unpark(&mut self, now: Instant) {
            let parked = self.parked.take().unwrap();
            self.full = Some(Connection::unpark(parked, self.config.clone(), now));
            self.unparks += 1;
        }

        /// Collects the full connection's events and output, then parks
        /// it if allowed and possible.
        fn settle(&mut self, now: Instant) {
            if let Some(full) = self.full.as_mut() {
                while let Some(event) = full.poll_event() {
                    self.events.push(event);
                }
                let out = drain(full, now);
                self.out.extend_from_slice(&out);
            }
            if self.may_park {
                if let Some(full) = self.full.take() {
                    match full.park() {
                        Ok(parked) => self.parked = Some(parked),
                        Err(full) => self.full = Some(full),
                    }
                }
            }
        }

        fn drain_parked(&mut self, now: Instant) -> usize {
            let parked = self.parked.as_mut().unwrap();
            let mut buf = [0u8; 64];
            let mut sent = 0;
            while let Some(t) = parked.poll_transmit(now, &mut buf) {
                assert!(t.len <= buf.len());
                self.out.extend_from_slice(&buf[..t.len]);
                sent += t.len;
            }
            sent
        }

        fn input(&mut self, now: Instant, bytes: &[u8]) {
            let mut rest = bytes;
            if self.is_parked() {
                loop {
                    let parked = self.parked.as_mut().unwrap();
                    match parked.handle_input(now, rest) {
                        Ok(n) => {
                            assert!(n <= rest.len());
                            rest = &rest[n..];
                            let sent = self.drain_parked(now);
                            if rest.is_empty() {
                                return;
                            }
                            assert!(n > 0 || sent > 0, "parked input made no progress");
                        }
                        Err(NeedsConnection { consumed }) => {
                            assert!(consumed <= rest.len());
                            rest = &rest[consumed..];
                            self.unpark(now);
                            break;
                        }
                    }
                }
            }
            let full = self.full.as_mut().unwrap();
            if !rest.is_empty() || !self.may_park {
                if let Err(e) = full.handle_input(now, rest) {
                    self.errors.push(e);
                }
            }
            self.settle(now);
        }

        fn timeout(&mut self, now: Instant) {
            if let Some(parked) = self.parked.as_mut() {
                parked.handle_timeout(now);
                let wake = parked.needs_connection();
                self.drain_parked(now);
                if !wake {
                    return;
                }
                self.unpark(now);
            }
            self.full.as_mut().unwrap().handle_timeout(now);
            self.settle(now);
        }

        fn stats(&self) -> TunnelStats {
            match (&self.parked, &self.full) {
                (Some(p), _) => *p.stats(),
                (None, Some(f)) => *f.stats(),
                (None, None) => unreachable!(),
            }
        }

        fn poll_timeout(&self) -> Option<Instant> {
            match (&self.parked, &self.full) {
                (Some(p), _) => p.poll_timeout(),
                (None, Some(f)) => f.poll_timeout(),
                (None, None) => unreachable!(),
            }
        }

        fn calls(&self) -> Vec<CallSnapshot> {
            match (&self.parked, &self.full) {
                (Some(p), _) => vec![p.call()],
                (None, Some(f)) => f.calls().collect(),
                (None, None) => unreachable!(),
            }
        }

        fn is_closed(&self) -> bool {
            self.full.as_ref().is_some_and(|f| f.is_closed())
        }
    }

    /// Everything observable agrees between the parked host and its twin.
    fn assert_same(host: &Host, twin: &Host) {
        assert_eq!(host.events, twin.events, "events");
        assert_eq!(host.out, twin.out, "bytes sent");
        assert_eq!(host.stats(), twin.stats(), "stats");
        assert_eq!(host.poll_timeout(), twin.poll_timeout(), "timer");
        assert_eq!(host.calls(), twin.calls(), "calls");
        assert_eq!(host.is_closed(), twin.is_closed(), "closed");
        // Closed either way: Error::Closed after unpark where the twin saw
        // the framing error itself (see Connection::unpark).
        assert_eq!(
            host.errors
                .iter()
                .any(|e| matches!(e, crate::control::Error::Wire(_)))
                || host.is_closed(),
            twin.errors
                .iter()
                .any(|e| matches!(e, crate::control::Error::Wire(_)))
                || twin.is_closed(),
        );
    }

    fn both_input(host: &mut Host, twin: &mut Host, now: Instant, bytes: &[u8]) {
        host.input(now, bytes);
        twin.input(now, bytes);
    }

    fn both_timeout(host: &mut Host, twin: &mut Host, now: Instant) {
        host.timeout(now);
        twin.timeout(now);
    }

    #[test]
    fn size_of_parked_connection() {
        let parked = core::mem::size_of::<ParkedConnection>();
        let full = core::mem::size_of::<Connection<1>>();
        std::println!("ParkedConnection: {parked} octets, Connection<1>: {full} octets");
        assert!(parked <= 320, "ParkedConnection is {parked} octets");
        assert!(parked * 10 < full);
    }

    #[test]
    fn park_after_setup_on_both_sides() {
        let config = Config::default();
        let (client, server) = established(&config);
        for (conn, role, local, peer) in [
            (server, Role::Server, SERVER_CALL, CLIENT_CALL),
            (client, Role::Client, CLIENT_CALL, SERVER_CALL),
        ] {
            let snapshot = conn.call(local).unwrap();
            let stats = *conn.stats();
            let timer = conn.poll_timeout();
            let parked = conn.park().unwrap();
            assert_eq!(parked.role(), role);
            assert_eq!(parked.call(), snapshot);
            assert_eq!(
                (parked.local_call_id(), parked.peer_call_id()),
                (local, peer)
            );
            assert_eq!(*parked.stats(), stats);
            assert_eq!(parked.poll_timeout(), timer);
            assert_eq!(timer, Some(T0 + secs(60)));
            assert!(!parked.needs_connection());
            assert_eq!(parked.buffered(), 0);

            // Unparked at once: the same machine again.
            let mut back = Conn::unpark(parked, config.clone(), T0);
            assert_eq!(back.role(), role);
            assert!(back.is_established());
            assert_eq!(back.calls().collect::<Vec<_>>(), vec![snapshot]);
            assert_eq!(*back.stats(), stats);
            assert_eq!(back.poll_timeout(), timer);
            assert_eq!(back.pending_transmit_count(), 0);
            assert_eq!(back.poll_event(), None);
            assert!(back.park().is_ok(), "quiet again");
        }
    }

    #[test]
    fn parked_server_answers_the_clients_echo_request() {
        let config = Config::default();
        let (mut client, mut host, mut twin) = Host::pair(&config);
        let now = T0 + secs(60);
        client.handle_timeout(now);
        let request = drain(&mut client, now);
        assert_eq!(types(&request), [MessageType::EchoRequest]);
        both_input(&mut host, &mut twin, now, &request);
        assert!(host.is_parked());
        assert_eq!(host.unparks, 0);
        assert_eq!(types(&host.out), [MessageType::EchoReply]);
        assert_same(&host, &twin);
        assert_eq!(host.stats().echo_requests_received, 1);
        // The keepalive restarts from the request.
        assert_eq!(host.poll_timeout(), Some(now + secs(60)));
        client.handle_input(now, &host.out).unwrap();
        assert_eq!(client.stats().echo_replies_received, 1);
    }

    #[test]
    fn parked_server_sends_its_echo_request_and_accepts_the_reply() {
        let config = Config::default();
        let (mut client, mut host, mut twin) = Host::pair(&config);
        // Nothing due before the interval.
        both_timeout(&mut host, &mut twin, T0 + secs(59));
        assert!(host.out.is_empty());
        let now = T0 + secs(60);
        both_timeout(&mut host, &mut twin, now);
        assert_eq!(types(&host.out), [MessageType::EchoRequest]);
        assert_same(&host, &twin);
        assert_eq!(host.poll_timeout(), Some(now + secs(60)), "reply deadline");
        client.handle_input(now, &host.out).unwrap();
        let reply = drain(&mut client, now);
        assert_eq!(types(&reply), [MessageType::EchoReply]);
        let later = now + Duration::from_millis(250);
        both_input(&mut host, &mut twin, later, &reply);
        assert!(host.is_parked());
        assert_same(&host, &twin);
        let stats = host.stats();
        assert_eq!(stats.echo_requests_sent, 1);
        assert_eq!(stats.echo_replies_received, 1);
        assert_eq!(stats.last_echo_rtt, Some(Duration::from_millis(250)));
        assert_eq!(host.poll_timeout(), Some(later + secs(60)));
        // A second reply with the same identifier is unexpected.
        both_input(&mut host, &mut twin, later, &reply);
        assert_eq!(host.stats().dropped_unexpected, 1);
        assert_same(&host, &twin);
    }

    #[test]
    fn both_ends_parked_keep_each_other_alive() {
        let config = Config::default();
        let (client, server) = established(&config);
        let mut client = client.park().unwrap();
        let mut server = server.park().unwrap();
        let mut buf = [0u8; 64];
        let mut now = T0;
        for round in 1..=3u64 {
            now += secs(60);
            client.handle_timeout(now);
            server.handle_timeout(now);
            let c = client.poll_transmit(now, &mut buf).unwrap();
            assert_eq!(server.handle_input(now, &buf[..c.len]), Ok(16));
            let s = server.poll_transmit(now, &mut buf).unwrap();
            // The server's own Echo-Request, then its Echo-Reply.
            assert_eq!(
                types(&buf[..s.len]),
                [MessageType::EchoRequest, MessageType::EchoReply]
            );
            assert_eq!(client.handle_input(now, &buf[..s.len]), Ok(36));
            let c = client.poll_transmit(now, &mut buf).unwrap();
            assert_eq!(types(&buf[..c.len]), [MessageType::EchoReply]);
            assert_eq!(server.handle_input(now, &buf[..c.len]), Ok(20));
            for end in [&client, &server] {
                assert!(!end.needs_connection());
                assert_eq!(end.stats().echo_requests_sent, round);
                assert_eq!(end.stats().echo_replies_received, round);
                assert_eq!(end.stats().echo_requests_received, round);
            }
        }
    }

    #[test]
    fn call_clear_request_unparks_and_matches_the_twin() {
        let config = Config::default();
        let (mut client, mut host, mut twin) = Host::pair(&config);
        client.clear_call(T0, CLIENT_CALL).unwrap();
        let request = drain(&mut client, T0);
        assert_eq!(request, ccrq());
        both_input(&mut host, &mut twin, T0, &request);
        assert_eq!(host.unparks, 1);
        assert!(!host.is_parked(), "no call left: stays unparked");
        assert_same(&host, &twin);
        assert_eq!(types(&host.out), [MessageType::CallDisconnectNotify]);
        assert!(matches!(
            host.events.as_slice(),
            [Event::CallDown(d)] if d.reason == CallDownReason::ClearRequested
        ));
        client.handle_input(T0, &host.out).unwrap();
        assert_eq!(client.call_count(), 0);
    }

    #[test]
    fn stop_request_unparks_and_matches_the_twin() {
        let config = Config::default();
        let (_client, mut host, mut twin) = Host::pair(&config);
        both_input(&mut host, &mut twin, T0 + secs(5), &stop_request());
        assert_eq!(host.unparks, 1);
        assert_same(&host, &twin);
        assert_eq!(types(&host.out), [MessageType::StopControlConnectionReply]);
        assert_eq!(
            host.events.last(),
            Some(&Event::TunnelDown(TunnelDownReason::PeerStopped(
                StopReason::LocalShutdown
            )))
        );
        assert!(host.is_closed());
    }

    /// Every other message a peer can send, one at a time, at a parked
    /// server and at its twin.
    #[test]
    fn every_other_message_unparks_and_matches_the_twin() {
        let no_name: &[u8] = &[];
        let messages = [
            msg(&ControlRepr::Sli(Sli {
                peer_call_id: SERVER_CALL,
                send_accm: 0,
                receive_accm: 0xffff_ffff,
            })),
            msg(&ControlRepr::Wen(Wen {
                peer_call_id: SERVER_CALL,
                crc_errors: 1,
                framing_errors: 2,
                hardware_overruns: 3,
                buffer_overruns: 4,
                timeout_errors: 5,
                alignment_errors: 6,
            })),
            msg(&ControlRepr::Cdn(Cdn {
                call_id: CLIENT_CALL,
                result: DisconnectResult::LostCarrier,
                error: GeneralError::None,
                cause_code: 0,
                call_statistics: b"stats",
            })),
            // A second call does not fit a Connection<1>: refused.
            msg(&ControlRepr::Ocrq(Ocrq {
                call_id: 8,
                call_serial_number: 1,
                minimum_bps: 0,
                maximum_bps: 0,
                bearer_type: BearerCapabilities::ANY,
                framing_type: FramingCapabilities::EITHER,
                packet_recv_window_size: 16,
                packet_processing_delay: 0,
                phone_number_length: 0,
                phone_number: no_name,
                subaddress: no_name,
            })),
            msg(&ControlRepr::Icrq(Icrq {
                call_id: 9,
                call_serial_number: 1,
                call_bearer_type: BearerCapabilities::ANY,
                physical_channel_id: 0,
                dialed_number_length: 0,
                dialing_number_length: 0,
                dialed_number: no_name,
                dialing_number: no_name,
                subaddress: no_name,
            })),
            msg(&ControlRepr::Sccrq(Sccrq {
                protocol_version: PROTOCOL_VERSION,
                framing_capabilities: FramingCapabilities::EITHER,
                bearer_capabilities: BearerCapabilities::ANY,
                maximum_channels: 0,
                firmware_revision: 0,
                host_name: no_name,
                vendor_string: no_name,
            })),
            msg(&ControlRepr::StopCcrp(StopCcrp {
                result: StopResult::Ok,
                error: GeneralError::None,
            })),
            ccrq(),
            stop_request(),
        ];
        for bytes in &messages {
            let config = Config::default();
            let (_client, mut host, mut twin) = Host::pair(&config);
            let now = T0 + secs(3);
            both_input(&mut host, &mut twin, now, bytes);
            assert_eq!(host.unparks, 1, "{:?}", types(bytes));
            assert_same(&host, &twin);
            // Then the keepalive still agrees.
            both_timeout(&mut host, &mut twin, now + secs(60));
            both_timeout(&mut host, &mut twin, now + secs(120));
            assert_same(&host, &twin);
        }
    }

    #[test]
    fn messages_split_across_reads_at_every_size() {
        let config = Config::default();
        let mut stream = Vec::new();
        stream.extend(echo_request(9));
        stream.extend(msg(&ControlRepr::Sli(Sli {
            peer_call_id: SERVER_CALL,
            send_accm: 0,
            receive_accm: 0,
        })));
        stream.extend(echo_request(10));
        stream.extend(echo_reply(1)); // unexpected: nothing outstanding
        stream.extend(ccrq());
        stream.extend(echo_request(11));
        for chunk in 1..=stream.len() {
            let (_client, mut host, mut twin) = Host::pair(&config);
            for (i, piece) in stream.chunks(chunk).enumerate() {
                let now = T0 + Duration::from_millis(i as u64);
                both_input(&mut host, &mut twin, now, piece);
                assert_same(&host, &twin);
            }
            assert_eq!(
                types(&host.out),
                [
                    MessageType::EchoReply,
                    MessageType::EchoReply,
                    MessageType::CallDisconnectNotify,
                    MessageType::EchoReply
                ],
                "chunk {chunk}"
            );
            assert!(host.unparks >= 1);
        }
    }

    #[test]
    fn echo_request_byte_by_byte_stays_parked() {
        let config = Config::default();
        let (_client, server) = established(&config);
        let mut parked = server.park().unwrap();
        let request = echo_request(77);
        for (i, b) in request.iter().enumerate() {
            assert_eq!(parked.handle_input(T0, core::slice::from_ref(b)), Ok(1));
            let done = i + 1 == request.len();
            assert_eq!(parked.buffered(), if done { 0 } else { i + 1 });
            assert_eq!(parked.pending_transmit_len().is_some(), done);
        }
        let mut buf = [0u8; 20];
        // Too small a buffer: nothing written, the reply stays.
        assert_eq!(parked.poll_transmit(T0, &mut buf[..19]), None);
        let t = parked.poll_transmit(T0, &mut buf).unwrap();
        assert_eq!(&buf[..t.len], echo_reply(77).as_slice());
        assert_eq!(parked.stats().bytes_in, server_bytes_in(&config) + 16);
    }

    #[test]
    fn echo_requests_beyond_the_output_slot_wait_for_poll_transmit() {
        let config = Config::default();
        let (_client, server) = established(&config);
        let mut parked = server.park().unwrap();
        let three: Vec<u8> = [echo_request(1), echo_request(2), echo_request(3)].concat();
        // The second request waits, one octet short, for the first reply
        // to leave.
        assert_eq!(parked.handle_input(T0, &three), Ok(31));
        assert_eq!(parked.buffered(), 15);
        assert_eq!(parked.handle_input(T0, &three[31..]), Ok(0));
        let mut buf = [0u8; 64];
        let t = parked.poll_transmit(T0, &mut buf).unwrap();
        assert_eq!(&buf[..t.len], echo_reply(1).as_slice());
        assert_eq!(parked.handle_input(T0, &three[31..]), Ok(16));
        let t = parked.poll_transmit(T0, &mut buf).unwrap();
        assert_eq!(&buf[..t.len], echo_reply(2).as_slice());
        assert_eq!(parked.handle_input(T0, &three[47..]), Ok(1));
        let t = parked.poll_transmit(T0, &mut buf).unwrap();
        assert_eq!(&buf[..t.len], echo_reply(3).as_slice());
        assert_eq!(parked.stats().bytes_in, server_bytes_in(&config) + 48);
        assert_eq!(parked.stats().echo_requests_received, 3);

        // The host pattern against the twin.
        let (_client, mut host, mut twin) = Host::pair(&config);
        both_input(&mut host, &mut twin, T0, &three);
        assert_eq!(host.unparks, 0);
        assert_same(&host, &twin);
    }

    #[test]
    fn unpark_queues_unsent_output_before_the_message_it_reads() {
        let config = Config::default();
        let (_client, server) = established(&config);
        let (_, mut twin) = established(&config);
        let mut parked = server.park().unwrap();
        let now = T0 + secs(60);
        // Our keepalive request and the reply to the peer's request both
        // wait when the peer's Call-Clear-Request arrives.
        parked.handle_timeout(now);
        twin.handle_timeout(now);
        let mut input = echo_request(5);
        input.extend(ccrq());
        let err = parked.handle_input(now, &input).unwrap_err();
        assert_eq!(err.consumed, 16 + HEADER_LEN);
        let mut full = Conn::unpark(parked, config.clone(), now);
        full.handle_input(now, &input[err.consumed..]).unwrap();
        twin.handle_input(now, &input).unwrap();
        let out = drain(&mut full, now);
        assert_eq!(
            types(&out),
            [
                MessageType::EchoRequest,
                MessageType::EchoReply,
                MessageType::CallDisconnectNotify
            ]
        );
        assert_eq!(out, drain(&mut twin, now));
        let events: Vec<Event> = core::iter::from_fn(|| full.poll_event()).collect();
        let twin_events: Vec<Event> = core::iter::from_fn(|| twin.poll_event()).collect();
        assert_eq!(events, twin_events);
        assert_eq!(full.stats(), twin.stats());
        assert_eq!(full.poll_timeout(), twin.poll_timeout());
    }

    #[test]
    fn keepalive_timeout_unparks_and_tears_down_like_the_twin() {
        let config = Config::default();
        let (_client, mut host, mut twin) = Host::pair(&config);
        // The Echo-Request goes out; the peer never answers.
        both_timeout(&mut host, &mut twin, T0 + secs(60));
        assert_eq!(types(&host.out), [MessageType::EchoRequest]);
        both_timeout(&mut host, &mut twin, T0 + secs(119));
        assert!(host.is_parked(), "not overdue yet");
        assert_same(&host, &twin);
        both_timeout(&mut host, &mut twin, T0 + secs(120));
        assert_eq!(host.unparks, 1);
        assert_same(&host, &twin);
        assert!(host.is_closed());
        assert_eq!(
            host.events,
            [
                Event::EchoTimeout,
                Event::CallDown(crate::control::CallDown {
                    local_call_id: Some(SERVER_CALL),
                    peer_call_id: Some(CLIENT_CALL),
                    reason: CallDownReason::TunnelDown,
                }),
                Event::TunnelDown(TunnelDownReason::EchoTimeout),
            ]
        );
    }

    #[test]
    fn overdue_reply_stops_parked_input_and_timers() {
        let config = Config::default();
        let (_client, server) = established(&config);
        let mut parked = server.park().unwrap();
        parked.handle_timeout(T0 + secs(60));
        parked.handle_timeout(T0 + secs(130));
        assert!(parked.needs_connection());
        // The reply arriving now is for the full machine (which has already
        // given up, as a never-parked connection would have).
        assert_eq!(
            parked.handle_input(T0 + secs(130), &echo_reply(1)),
            Err(NeedsConnection { consumed: 0 })
        );
        let sent = parked.stats().echo_requests_sent;
        parked.handle_timeout(T0 + secs(200));
        assert_eq!(parked.stats().echo_requests_sent, sent);
        let mut full = Conn::unpark(parked, config, T0 + secs(130));
        assert!(full.is_closed());
        assert_eq!(full.poll_event(), Some(Event::EchoTimeout));
    }

    #[test]
    fn park_refused_unless_quiet() {
        let config = Config::default();
        let refused = |conn: Conn, why: &str| -> Conn {
            let transmit = conn.pending_transmit_count();
            let calls = conn.call_count();
            let timer = conn.poll_timeout();
            match conn.park() {
                Ok(_) => panic!("parked although {why}"),
                Err(back) => {
                    assert_eq!(back.pending_transmit_count(), transmit, "{why}");
                    assert_eq!(back.call_count(), calls, "{why}");
                    assert_eq!(back.poll_timeout(), timer, "{why}");
                    back
                }
            }
        };

        // Starting up.
        refused(Conn::new(Role::Server, config.clone(), T0), "idle");
        refused(Conn::new(Role::Client, config.clone(), T0), "SCCRQ sent");

        // Established without a call.
        let mut client = Conn::new(Role::Client, config.clone(), T0);
        let mut server = Conn::new(Role::Server, config.clone(), T0);
        server.handle_input(T0, &drain(&mut client, T0)).unwrap();
        client.handle_input(T0, &drain(&mut server, T0)).unwrap();
        while client.poll_event().is_some() {}
        while server.poll_event().is_some() {}
        let server = refused(server, "no call");
        // A call being placed (reply timer running).
        client.place_call(T0, 1, &CallParams::default()).unwrap();
        let mut client = refused(client, "outbound queue not empty");
        let ocrq = drain(&mut client, T0);
        let client = refused(client, "call waiting for its reply");
        drop(client);
        // A call waiting for the host (host answer timer).
        let mut server = server;
        server.handle_input(T0, &ocrq).unwrap();
        let mut server = refused(server, "CallRequested not polled");
        while server.poll_event().is_some() {}
        refused(server, "call waiting for the host");

        // Established with one call, but...
        let (_, server) = established(&config);
        let mut server = server;
        server.handle_input(T0, &echo_request(3)).unwrap();
        let mut server = refused(server, "Echo-Reply not sent");
        drain(&mut server, T0);
        assert!(server.park().is_ok());

        let (_, mut server) = established(&config);
        let sli = msg(&ControlRepr::Sli(Sli {
            peer_call_id: SERVER_CALL,
            send_accm: 0,
            receive_accm: 0,
        }));
        server.handle_input(T0, &sli).unwrap();
        let mut server = refused(server, "LinkInfo not polled");
        assert!(matches!(server.poll_event(), Some(Event::LinkInfo { .. })));
        assert!(server.park().is_ok());

        let (_, mut server) = established(&config);
        server.handle_input(T0, &ccrq()[..HEADER_LEN + 1]).unwrap();
        refused(server, "a Call-Clear-Request half read");

        let (_, mut server) = established(&config);
        server
            .disconnect_call(T0, SERVER_CALL, &Default::default())
            .unwrap();
        let mut server = refused(server, "CDN queued");
        drain(&mut server, T0);
        let server = refused(server, "CallDown not polled");
        drop(server);

        let (mut client, _) = established(&config);
        client.close(T0).unwrap();
        let mut client = refused(client, "stopping");
        drain(&mut client, T0);
        refused(client, "stopping, CCRQ sent");

        let (_, mut server) = established(&config);
        server.handle_input(T0, &stop_request()).unwrap();
        drain(&mut server, T0);
        while server.poll_event().is_some() {}
        assert!(server.is_closed());
        refused(server, "closed");
    }

    #[test]
    fn park_carries_a_partial_echo_message() {
        let config = Config::default();
        for split in [1, 11, 12, 15] {
            let (_, mut server) = established(&config);
            let request = echo_request(21);
            server.handle_input(T0, &request[..split]).unwrap();
            let mut parked = server.park().unwrap();
            assert_eq!(parked.buffered(), split);
            assert_eq!(parked.handle_input(T0, &request[split..]), Ok(16 - split));
            let mut buf = [0u8; 32];
            let t = parked.poll_transmit(T0, &mut buf).unwrap();
            assert_eq!(&buf[..t.len], echo_reply(21).as_slice());
            assert_eq!(parked.stats().bytes_in, server_bytes_in(&config) + 16);
        }
        // And back: a partial message survives unpark.
        let (_, server) = established(&config);
        let mut parked = server.park().unwrap();
        let reply = echo_reply(1);
        assert_eq!(parked.handle_input(T0, &reply[..14]), Ok(14));
        let mut full = Conn::unpark(parked, config.clone(), T0);
        full.handle_input(T0, &reply[14..]).unwrap();
        assert_eq!(full.stats().dropped_unexpected, 1);
        assert_eq!(full.stats().messages_in, server_messages_in(&config) + 1);
    }

    fn server_bytes_in(config: &Config) -> u64 {
        established(config).1.stats().bytes_in
    }

    fn server_messages_in(config: &Config) -> u64 {
        established(config).1.stats().messages_in
    }

    #[test]
    fn bad_bytes_match_the_twin() {
        let config = Config::default();
        let mut cases: Vec<Vec<u8>> = Vec::new();
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut m = echo_request(4);
            f(&mut m);
            m
        };
        cases.push(vec![0xde; 40]); // garbage
        cases.push(vec![0; 12]); // zero length, zero cookie
        cases.push(with(&|m| m[..2].copy_from_slice(&4u16.to_be_bytes()))); // short length
        cases.push(with(&|m| m[..2].copy_from_slice(&11u16.to_be_bytes())));
        cases.push(with(&|m| m[..2].copy_from_slice(&12u16.to_be_bytes())));
        cases.push(with(&|m| m[..2].copy_from_slice(&0xffffu16.to_be_bytes()))); // huge
        cases.push(with(&|m| m[..2].copy_from_slice(&221u16.to_be_bytes())));
        cases.push(with(&|m| m[..2].copy_from_slice(&20u16.to_be_bytes()))); // wrong for type
        cases.push(with(&|m| m[7] ^= 1)); // wrong magic cookie
        cases.push(with(&|m| m[3] = 2)); // PPTP message type 2
        cases.push(with(&|m| m[9] = 99)); // unknown control type
        cases.push(with(&|m| m[9] = 0)); // control type 0
        cases.push({
            // An Echo-Reply with an Echo-Request's length.
            let mut m = echo_reply(1);
            m[..2].copy_from_slice(&16u16.to_be_bytes());
            m
        });
        cases.push(with(&|m| m[10] = 0xff)); // Reserved0 (not checked)
                                             // An Echo-Request then bytes that break the stream.
        cases.push(
            [
                echo_request(5),
                vec![0x00, 0x10, 0, 1, 0, 0, 0, 0, 0, 5, 0, 0],
            ]
            .concat(),
        );
        // Pseudo-random bytes (a fixed LCG).
        let mut x: u32 = 0x1234_5678;
        for len in [1usize, 7, 12, 13, 50, 300] {
            cases.push(
                (0..len)
                    .map(|_| {
                        x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                        (x >> 16) as u8
                    })
                    .collect(),
            );
        }
        for bytes in &cases {
            for chunk in [bytes.len().max(1), 1, 5] {
                let (_client, mut host, mut twin) = Host::pair(&config);
                let now = T0 + secs(1);
                for piece in bytes.chunks(chunk) {
                    both_input(&mut host, &mut twin, now, piece);
                }
                // More input after the damage, then the timers.
                if !host.is_closed() {
                    both_input(&mut host, &mut twin, now, &echo_request(6));
                }
                both_timeout(&mut host, &mut twin, now + secs(60));
                both_timeout(&mut host, &mut twin, now + secs(120));
                assert_same(&host, &twin);
                let _ = format!("{:?}", host.parked);
            }
        }
    }
}
