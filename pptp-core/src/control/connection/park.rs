//! Parking: the quiet connection to and from its [`ParkedConnection`]
//! form.

use heapless::{Deque, Vec};

use crate::control::parked::{ParkedCall, ParkedStream};
use crate::control::stream::ControlStream;
use crate::control::{Config, ParkedConnection};
#[cfg(doc)]
use crate::control::{Error, Event, TunnelDownReason};
use crate::time::Instant;

use super::{Connection, State};

impl<const MAX_CALLS: usize> Connection<MAX_CALLS> {
    /// Whether [`Connection::park`] would succeed now: established, quiet
    /// and carrying exactly one call (a host asks first instead of moving
    /// the whole machine in and back out).
    pub fn is_parkable(&self) -> bool {
        self.is_quiet()
            && matches!(self.calls.as_slice(), [call] if ParkedCall::from_call(call).is_some())
            && ParkedStream::from_partial(self.stream.partial()).is_some()
    }

    fn is_quiet(&self) -> bool {
        self.state == State::Established
            && self.outbound.is_empty()
            && self.events.is_empty()
            && self.tunnel_down.is_none()
            && self.clears_pending == 0
            && self.deadline.is_none()
            && self.stream.error().is_none()
    }

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
        if !self.is_quiet() {
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
}
