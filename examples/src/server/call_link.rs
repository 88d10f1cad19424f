//! A call's PPP link, parked whenever it is quiet.
//!
//! While a call negotiates it needs the whole [`Link`] (about 17 KB); once
//! IP flows and nothing is in flight, [`Link::park`] leaves a
//! [`ParkedLink`] that carries the data path, answers LCP Echo and CCP
//! Reset-Request, and sends the keepalive. Anything else (a renegotiation,
//! a Terminate-Request, a lost keepalive, a host command such as closing
//! the call) rebuilds the full link with [`Link::unpark`] first. The
//! server keeps one [`LinkConfig`] for all calls, which is what `unpark`
//! needs back.

use std::rc::Rc;

use ppp_core::auth::Verifier;
use ppp_core::link::{
    Counters, Delivered, EndReason, Entropy, Error, Link, LinkConfig, LinkEvent, MppeStats,
    ParkedLink, SendError, Transmit,
};
use ppp_core::Instant;

enum State {
    Full(Box<Link>),
    Parked {
        link: Box<ParkedLink>,
        /// The peer's user name (the parked link does not keep it).
        username: Box<[u8]>,
    },
    /// Only while switching between the two.
    Moving,
}

/// One call's link, full or parked (see the module docs).
pub(crate) struct CallLink {
    state: State,
    config: Rc<LinkConfig>,
    entropy: fn() -> Entropy,
    parks: u32,
}

impl CallLink {
    /// A new, full link made from the server's shared `config`; `entropy`
    /// gives fresh randomness when a parked link is rebuilt.
    pub(crate) fn new(link: Link, config: Rc<LinkConfig>, entropy: fn() -> Entropy) -> Self {
        CallLink {
            state: State::Full(Box::new(link)),
            config,
            entropy,
            parks: 0,
        }
    }

    /// The full link, rebuilt from the parked one if need be.
    pub(crate) fn full(&mut self, now: Instant) -> &mut Link {
        if let State::Parked { .. } = self.state {
            let State::Parked { link, username } =
                std::mem::replace(&mut self.state, State::Moving)
            else {
                unreachable!("checked above");
            };
            let config = LinkConfig::clone(&self.config);
            let full = Link::unpark(*link, config, (self.entropy)(), &username, now);
            self.state = State::Full(Box::new(full));
        }
        match &mut self.state {
            State::Full(link) => link,
            State::Parked { .. } | State::Moving => unreachable!("unparked above"),
        }
    }

    /// Parks the link if it is established and quiet; call after its
    /// events and output have been drained.
    pub(crate) fn try_park(&mut self) {
        if !matches!(self.state, State::Full(_)) {
            return;
        }
        let State::Full(link) = std::mem::replace(&mut self.state, State::Moving) else {
            unreachable!("checked above");
        };
        let username: Box<[u8]> = link.username().into();
        self.state = match link.park() {
            Ok(parked) => {
                self.parks += 1;
                State::Parked {
                    link: Box::new(parked),
                    username,
                }
            }
            Err(link) => State::Full(Box::new(link)),
        };
    }

    /// Whether the link is parked now.
    pub(crate) fn is_parked(&self) -> bool {
        matches!(self.state, State::Parked { .. })
    }

    /// How many times the link was parked.
    pub(crate) fn parks(&self) -> u32 {
        self.parks
    }

    /// One received frame; `verifier` decides logins at once (local
    /// users), `None` surfaces them as [`LinkEvent::AuthRequest`].
    pub(crate) fn handle_frame(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        verifier: Option<&dyn Verifier>,
    ) -> Result<Option<Delivered>, Error> {
        if let State::Parked { link, .. } = &mut self.state {
            match link.handle_frame(now, frame) {
                Err(Error::NeedsLink) => {}
                other => return other,
            }
        }
        let link = self.full(now);
        match verifier {
            Some(v) => link.handle_frame_with(now, frame, v),
            None => link.handle_frame(now, frame),
        }
    }

    /// Frames (and encrypts) an IP packet.
    pub(crate) fn send_ip(
        &mut self,
        now: Instant,
        ip: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        match &mut self.state {
            State::Full(link) => link.send_ip(now, ip, out),
            State::Parked { link, .. } => link.send_ip(now, ip, out),
            State::Moving => Err(SendError::NotReady),
        }
    }

    /// The next event (a parked link has none).
    pub(crate) fn poll_event(&mut self) -> Option<LinkEvent> {
        match &mut self.state {
            State::Full(link) => link.poll_event(),
            State::Parked { .. } | State::Moving => None,
        }
    }

    /// The next control frame.
    pub(crate) fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        match &mut self.state {
            State::Full(link) => link.poll_transmit(now, buf),
            State::Parked { link, .. } => link.poll_transmit(now, buf),
            State::Moving => None,
        }
    }

    /// When [`CallLink::handle_timeout`] should run.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Full(link) => link.poll_timeout(),
            State::Parked { link, .. } => link.poll_timeout(),
            State::Moving => None,
        }
    }

    /// Runs the timers; a parked link whose keepalive is lost is rebuilt
    /// so that the full link closes it.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if let State::Parked { link, .. } = &mut self.state {
            link.handle_timeout(now);
            if !link.needs_link() {
                return;
            }
        }
        self.full(now).handle_timeout(now);
    }

    /// The counters.
    pub(crate) fn counters(&self) -> Counters {
        match &self.state {
            State::Full(link) => *link.counters(),
            State::Parked { link, .. } => *link.counters(),
            State::Moving => Counters::default(),
        }
    }

    /// MPPE counters while MPPE is active.
    pub(crate) fn mppe_stats(&self) -> Option<MppeStats> {
        match &self.state {
            State::Full(link) => link.mppe_stats(),
            State::Parked { link, .. } => link.mppe_stats(),
            State::Moving => None,
        }
    }

    /// Why the link ended, once it has (a parked link has not).
    pub(crate) fn end_reason(&self) -> Option<EndReason> {
        match &self.state {
            State::Full(link) => link.end_reason(),
            State::Parked { .. } | State::Moving => None,
        }
    }

    /// The peer's user name.
    pub(crate) fn username(&self) -> &[u8] {
        match &self.state {
            State::Full(link) => link.username(),
            State::Parked { username, .. } => username,
            State::Moving => &[],
        }
    }
}
