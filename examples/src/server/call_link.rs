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
//!
//! A parked link runs MPPE on the compact RC4 state, at about 60 % of the
//! full link's speed (`benches/mppe.rs`). So a call that carries traffic
//! is unparked once it has moved [`BUSY_PACKETS`] packets parked, and is
//! parked again only after [`IDLE_BEFORE_PARK_MS`] without data.

use std::rc::Rc;

use ppp_core::auth::Verifier;
use ppp_core::link::{
    Counters, Delivered, EndReason, Entropy, Error, Link, LinkConfig, LinkEvent, MppeStats,
    ParkedLink, SendError, Transmit,
};
use ppp_core::Instant;

/// Data packets a parked link carries before it is unparked for speed.
pub(crate) const BUSY_PACKETS: u32 = 64;
/// How long an unparked link must carry no data before it is parked
/// again.
pub(crate) const IDLE_BEFORE_PARK_MS: u64 = 10_000;

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
    /// Data packets carried since the last park.
    parked_packets: u32,
    /// No parking before this time (ms): the call was busy.
    hold_full_until: u64,
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
            parked_packets: 0,
            hold_full_until: 0,
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

    /// Parks the link if it is established, quiet and has not been busy
    /// lately; call after its events and output have been drained.
    pub(crate) fn try_park(&mut self, now: Instant) {
        if !matches!(self.state, State::Full(_)) || now.as_millis() < self.hold_full_until {
            return;
        }
        let State::Full(link) = std::mem::replace(&mut self.state, State::Moving) else {
            unreachable!("checked above");
        };
        let username: Box<[u8]> = link.username().into();
        self.state = match link.park() {
            Ok(parked) => {
                self.parks += 1;
                self.parked_packets = 0;
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
                other => {
                    if matches!(other, Ok(Some(_))) {
                        self.carried(now);
                    }
                    return other;
                }
            }
        }
        let link = self.full(now);
        let result = match verifier {
            Some(v) => link.handle_frame_with(now, frame, v),
            None => link.handle_frame(now, frame),
        };
        if matches!(result, Ok(Some(_))) {
            self.carried(now);
        }
        result
    }

    /// One data packet carried: a busy parked link is unparked (the full
    /// link's MPPE is faster), and a busy link is not parked again soon.
    fn carried(&mut self, now: Instant) {
        self.hold_full_until = now.as_millis() + IDLE_BEFORE_PARK_MS;
        if let State::Parked { .. } = self.state {
            self.parked_packets += 1;
            if self.parked_packets >= BUSY_PACKETS {
                self.full(now);
            }
        }
    }

    /// Frames (and encrypts) an IP packet.
    pub(crate) fn send_ip(
        &mut self,
        now: Instant,
        ip: &[u8],
        out: &mut [u8],
    ) -> Result<usize, SendError> {
        let result = match &mut self.state {
            State::Full(link) => link.send_ip(now, ip, out),
            State::Parked { link, .. } => link.send_ip(now, ip, out),
            State::Moving => Err(SendError::NotReady),
        };
        if result.is_ok() {
            self.carried(now);
        }
        result
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

#[cfg(test)]
mod tests {
    use super::*;
    use ppp_core::auth::{CredentialStore, DomainRule};
    use ppp_core::link::Credentials;
    use std::net::Ipv4Addr;

    /// A server CallLink and a client Link, established in memory.
    fn established() -> (CallLink, Link, CredentialStore<1>, Instant) {
        let mut users = CredentialStore::new(DomainRule::default());
        users.insert_password(b"u", b"p").unwrap();
        let mut config = LinkConfig::server(Ipv4Addr::new(10, 0, 0, 1), [None, None]);
        config.mppe = ppp_core::link::MppePolicy::pix(ppp_core::link::PixEncryption::Bits128, true);
        let config = Rc::new(config);
        let now = Instant::from_millis(1_000);
        let mut server = Link::new(LinkConfig::clone(&config), crate::host::entropy());
        server.open(now);
        let mut server = CallLink::new(server, config, crate::host::entropy);
        let mut client_config = LinkConfig::client(Credentials::password(b"u", b"p").unwrap());
        client_config.mppe =
            ppp_core::link::MppePolicy::pix(ppp_core::link::PixEncryption::Bits128, true);
        let mut client = Link::new(client_config, crate::host::entropy());
        client.open(now);
        for _ in 0..50 {
            pump(&mut server, &mut client, &users, now);
        }
        assert!(client.is_data_ready());
        (server, client, users, now)
    }

    fn pump(server: &mut CallLink, client: &mut Link, users: &CredentialStore<1>, now: Instant) {
        let mut buf = [0u8; 1600];
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            let _ = server.handle_frame(now, &mut buf[..t.len], Some(users));
        }
        while let Some(ev) = server.poll_event() {
            if ev == LinkEvent::AddressNeeded {
                server
                    .full(now)
                    .assign_peer_address(now, Some(Ipv4Addr::new(10, 0, 0, 9)));
            }
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            let _ = client.handle_frame(now, &mut buf[..t.len]);
        }
        while client.poll_event().is_some() {}
        server.try_park(now);
    }

    #[test]
    fn a_busy_call_is_unparked_and_parked_again_when_idle() {
        let (mut server, mut client, users, now) = established();
        assert!(server.is_parked(), "an established quiet call parks");
        let mut out = [0u8; 1600];
        let ip = [0x45u8; 100];
        for n in 0..BUSY_PACKETS + 10 {
            let len = client.send_ip(now, &ip, &mut out).unwrap();
            let got = server
                .handle_frame(now, &mut out[..len], Some(&users))
                .unwrap();
            assert!(got.is_some(), "packet {n} delivered");
            assert_eq!(server.is_parked(), n + 1 < BUSY_PACKETS, "packet {n}");
            server.try_park(now);
        }
        assert!(!server.is_parked(), "busy: held full");
        // Replies still reach the client after the switch.
        let len = server.send_ip(now, &ip, &mut out).unwrap();
        assert!(client.handle_frame(now, &mut out[..len]).unwrap().is_some());
        let later = Instant::from_millis(now.as_millis() + IDLE_BEFORE_PARK_MS);
        server.try_park(later);
        assert!(server.is_parked(), "idle again: parked");
        assert_eq!(server.parks(), 2);
        let len = client.send_ip(later, &ip, &mut out).unwrap();
        assert!(server
            .handle_frame(later, &mut out[..len], Some(&users))
            .unwrap()
            .is_some());
    }
}
