//! A tunnel's control connection, parked whenever it is quiet.
//!
//! While a tunnel starts, places its call or tears down it needs the whole
//! [`Connection`] (about 9 KB with its queues). With one established call
//! and nothing in flight, [`Connection::park`] leaves a
//! [`ParkedConnection`] of a few hundred octets that answers and sends the
//! keepalive Echo (RFC 2637 §2.5, §2.6, §3.1.4). Any other message, an
//! overdue Echo-Reply or a host command (accepting a call, clearing,
//! closing) rebuilds the full machine with [`Connection::unpark`] first,
//! with the configuration the server shares between tunnels.

use std::rc::Rc;

use pptp_core::control::Transmit;
use pptp_core::control::{
    Config, Connection, Error, Event, NeedsConnection, ParkedConnection, TunnelStats,
};
use pptp_core::Instant;

use super::MAX_CALLS;

enum State {
    Full(Box<Connection<MAX_CALLS>>),
    Parked(Box<ParkedConnection>),
    /// Only while switching between the two.
    Moving,
}

/// One tunnel's control connection, full or parked (see the module docs).
pub(crate) struct TunnelConn {
    state: State,
    config: Rc<Config>,
    parks: u32,
}

impl TunnelConn {
    /// A new, full connection made from the server's shared `config`.
    pub(crate) fn new(conn: Connection<MAX_CALLS>, config: Rc<Config>) -> Self {
        TunnelConn {
            state: State::Full(Box::new(conn)),
            config,
            parks: 0,
        }
    }

    /// The full machine, rebuilt from the parked one if need be.
    pub(crate) fn full(&mut self, now: Instant) -> &mut Connection<MAX_CALLS> {
        if let State::Parked(_) = self.state {
            let State::Parked(parked) = std::mem::replace(&mut self.state, State::Moving) else {
                unreachable!("checked above");
            };
            let config = Config::clone(&self.config);
            self.state = State::Full(Box::new(Connection::unpark(*parked, config, now)));
        }
        match &mut self.state {
            State::Full(conn) => conn,
            State::Parked(_) | State::Moving => unreachable!("unparked above"),
        }
    }

    /// Parks the connection if it is quiet; call after its events and
    /// output have been drained.
    pub(crate) fn try_park(&mut self) {
        if !matches!(self.state, State::Full(_)) {
            return;
        }
        let State::Full(conn) = std::mem::replace(&mut self.state, State::Moving) else {
            unreachable!("checked above");
        };
        self.state = match conn.park() {
            Ok(parked) => {
                self.parks += 1;
                State::Parked(Box::new(parked))
            }
            Err(conn) => State::Full(Box::new(conn)),
        };
    }

    /// Whether the connection is parked now.
    pub(crate) fn is_parked(&self) -> bool {
        matches!(self.state, State::Parked(_))
    }

    /// How many times it was parked.
    pub(crate) fn parks(&self) -> u32 {
        self.parks
    }

    /// Octets read from the TCP connection.
    pub(crate) fn handle_input(&mut self, now: Instant, bytes: &[u8]) -> Result<(), Error> {
        let rest = match &mut self.state {
            State::Parked(parked) => match parked.handle_input(now, bytes) {
                Ok(n) if n == bytes.len() => return Ok(()),
                // Its output slots are full (the host has not polled yet):
                // the full machine queues more.
                Ok(n) => bytes.get(n..).unwrap_or(&[]),
                Err(NeedsConnection { consumed }) => bytes.get(consumed..).unwrap_or(&[]),
            },
            State::Full(_) | State::Moving => bytes,
        };
        self.full(now).handle_input(now, rest)
    }

    /// The next event (a parked connection has none).
    pub(crate) fn poll_event(&mut self) -> Option<Event> {
        match &mut self.state {
            State::Full(conn) => conn.poll_event(),
            State::Parked(_) | State::Moving => None,
        }
    }

    /// The next message to write to the TCP connection.
    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match &mut self.state {
            State::Full(conn) => conn.poll_transmit(now, buf),
            State::Parked(parked) => parked.poll_transmit(now, buf),
            State::Moving => None,
        }
    }

    /// When [`TunnelConn::handle_timeout`] should run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Full(conn) => conn.poll_timeout(),
            State::Parked(parked) => parked.poll_timeout(),
            State::Moving => None,
        }
    }

    /// Runs the timers; an overdue Echo-Reply rebuilds the full machine,
    /// which tears the tunnel down as it would have.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let State::Parked(parked) = &mut self.state {
            parked.handle_timeout(now);
            if !parked.needs_connection() {
                return;
            }
        }
        self.full(now).handle_timeout(now);
    }

    /// The counters.
    pub(crate) fn stats(&self) -> TunnelStats {
        match &self.state {
            State::Full(conn) => *conn.stats(),
            State::Parked(parked) => *parked.stats(),
            State::Moving => TunnelStats::default(),
        }
    }

    /// Whether SCCRQ/SCCRP have been exchanged (a parked connection is).
    pub(crate) fn is_established(&self) -> bool {
        match &self.state {
            State::Full(conn) => conn.is_established(),
            State::Parked(_) => true,
            State::Moving => false,
        }
    }

    /// Whether the connection is closed (a parked one is not).
    pub(crate) fn is_closed(&self) -> bool {
        match &self.state {
            State::Full(conn) => conn.is_closed(),
            State::Parked(_) | State::Moving => false,
        }
    }
}
