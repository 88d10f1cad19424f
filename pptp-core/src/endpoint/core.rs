//! The endpoint core: construction, the host's inputs, commands and
//! views. How a session is driven (its machines' events, output, parking)
//! is in `session.rs`.

use core::net::Ipv4Addr;

use ppp_core::auth::{AuthRequest, Verdict, Verifier};
use ppp_core::ipcp::AddressPool;
use ppp_core::link::{EndReason, Link, LinkConfig};

use crate::control::{Config as ControlConfig, Connection};
#[cfg(doc)]
use crate::gre::GreSession;
use crate::gre::{peek_call_id, Candidate, Opened};
use crate::time::Instant;
use crate::Role;

use super::memory::{
    flag, narrow, widen, CallState, Chain, ControlState, LinkState, Memory, Slot, NIL,
    WAIT_FRAME_LEN,
};
use super::timers::TimerHeap;
use super::types::{
    AcceptError, CallRequestParams, ClientConfig, ConnectionHandle, Delivered, Destination,
    EndpointStats, Event, ExternalAaa, GreInputError, IpSendError, NextPart, Outbound, Parking,
    Random, ServerConfig, SessionHandle, SessionView, TcpInput, Transmit, MAX_SLOTS,
};

/// Words of the address pool bitmap: 65,536 addresses (8 KiB), a /16.
pub(crate) const POOL_WORDS: usize = 1024;
/// The most addresses a server's pool may hold.
pub const POOL_CAPACITY: u32 = AddressPool::<POOL_WORDS>::CAPACITY;
/// Events held for the host (overflow: dropped and counted).
pub(crate) const EVENT_QUEUE: usize = 64;

/// Why an endpoint could not be built.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum BuildError {
    /// No slots, more than [`MAX_SLOTS`], or no engine of a kind.
    Memory,
    /// The address pool is empty, reversed or larger than 65,536.
    Pool,
    /// More slots than the Call ID share can number twice over
    /// ([`ServerConfig::call_ids`]: about 32,768 divided by the workers).
    CallIds,
}

impl core::fmt::Display for BuildError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            BuildError::Memory => "no slots, too many slots, or no engine of a kind",
            BuildError::Pool => "address pool empty, reversed or larger than 65,536",
            BuildError::CallIds => "more slots than the worker's share of Call IDs allows",
        })
    }
}

/// A PPTP server or client (see the [module docs](super)).
pub struct Endpoint<M: Memory, R: Random, V: Verifier> {
    pub(crate) role: Role,
    pub(crate) memory: M,
    pub(crate) random: R,
    pub(crate) verifier: Option<V>,
    pub(crate) control_config: ControlConfig,
    pub(crate) link_config: LinkConfig,
    pub(crate) pool: Option<AddressPool<POOL_WORDS>>,
    pub(crate) max_sessions: usize,
    pub(crate) calls_per_connection: usize,
    pub(crate) reserved_engines: usize,
    pub(crate) receive_window: u16,
    /// [`ServerConfig::honour_peer_window`].
    pub(crate) honour_peer_window: bool,
    pub(crate) parking: Option<Parking>,
    pub(crate) limits: super::Limits,
    /// Calls accepted whose sessions are not up yet (server).
    pub(crate) unauthenticated: usize,
    /// Salt of the per-source hash buckets (host randomness).
    pub(crate) source_salt: u32,
    pub(crate) call_request: CallRequestParams,
    pub(crate) timers: TimerHeap,
    pub(crate) ready_head: u32,
    pub(crate) ready_tail: u32,
    pub(crate) free_head: u32,
    pub(crate) free_controls: usize,
    pub(crate) free_links: usize,
    pub(crate) events: heapless::Deque<Event, EVENT_QUEUE>,
    pub(crate) early_gre: Option<super::early::EarlyGre>,
    pub(crate) stats: EndpointStats,
    /// The server's login throttle (`login.rs`), if on.
    pub(crate) throttle: Option<super::login::Throttle>,
    pub(crate) active_sessions: usize,
    pub(crate) last_now: Instant,
    pub(crate) accepting: bool,
    pub(crate) mss_clamp: bool,
    /// [`ServerConfig::call_ids`] (the whole space for a client).
    pub(crate) call_ids: super::CallIdShard,
}

impl<M: Memory, R: Random> Endpoint<M, R, ExternalAaa> {
    /// A client: call [`Endpoint::connect`] once its TCP connection to the
    /// server's port 1723 is up.
    pub fn client(config: ClientConfig, memory: M, random: R) -> Result<Self, BuildError> {
        let mut e = Self::build(
            Role::Client,
            memory,
            random,
            None,
            config.control,
            config.link,
        )?;
        e.call_request = config.call;
        e.receive_window = config.call.receive_window;
        e.honour_peer_window = config.honour_peer_window;
        e.mss_clamp = config.mss_clamp;
        Ok(e)
    }
}

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// A server. With `verifier` (e.g. a
    /// [`CredentialStore`](ppp_core::auth::CredentialStore)) logins are
    /// decided at once; with `None` each one surfaces as
    /// [`Event::AuthRequest`] for an external AAA server.
    pub fn server(
        config: ServerConfig,
        memory: M,
        random: R,
        verifier: Option<V>,
    ) -> Result<Self, BuildError> {
        let mut e = Self::build(
            Role::Server,
            memory,
            random,
            verifier,
            config.control,
            config.link,
        )?;
        e.pool =
            Some(AddressPool::new(config.pool.0, config.pool.1).map_err(|_| BuildError::Pool)?);
        e.max_sessions = config.max_sessions;
        e.calls_per_connection = config
            .calls_per_connection
            .clamp(1, super::memory::CALLS_PER_CONNECTION);
        e.reserved_engines = config.reserved_engines;
        e.receive_window = config.receive_window;
        e.honour_peer_window = config.honour_peer_window;
        e.parking = config.parking;
        e.mss_clamp = config.mss_clamp;
        e.limits = config.limits;
        // new_call_id draws `i + k * slots` with k >= 1 from the share.
        let slots = e.memory.parts_ref().0.len() as u32;
        if config.call_ids.dense_max() < 2 * slots - 1 {
            return Err(BuildError::CallIds);
        }
        e.call_ids = config.call_ids;
        let mut salt = [0u8; 4];
        e.random.fill_bytes(&mut salt);
        e.source_salt = u32::from_be_bytes(salt);
        let random = &mut e.random;
        e.throttle = config
            .login_throttle
            .map(|c| ppp_core::auth::throttle::LoginThrottle::new(c, |k| random.fill_bytes(k)));
        e.accepting = true;
        Ok(e)
    }

    fn build(
        role: Role,
        mut memory: M,
        random: R,
        verifier: Option<V>,
        control_config: ControlConfig,
        link_config: LinkConfig,
    ) -> Result<Self, BuildError> {
        let (slots, controls, links) = memory.parts();
        if slots.is_empty() || slots.len() > MAX_SLOTS || controls.is_empty() || links.is_empty() {
            return Err(BuildError::Memory);
        }
        let n = slots.len() as u32;
        for (i, slot) in slots.iter_mut().enumerate() {
            let generation = slot.generation;
            *slot = Slot::new();
            slot.generation = generation;
            slot.ready_next = narrow(if i as u32 + 1 < n { i as u32 + 1 } else { NIL });
        }
        for c in controls.iter_mut() {
            c.conn = None;
        }
        for l in links.iter_mut() {
            *l = super::memory::LinkEngine::new();
        }
        let (free_controls, free_links) = (controls.len(), links.len());
        Ok(Endpoint {
            role,
            memory,
            random,
            verifier,
            control_config,
            link_config,
            pool: None,
            max_sessions: usize::MAX,
            calls_per_connection: 1,
            reserved_engines: 0,
            receive_window: super::types::DEFAULT_RECEIVE_WINDOW,
            honour_peer_window: true,
            parking: None,
            limits: super::Limits::unlimited(),
            unauthenticated: 0,
            source_salt: 0,
            call_request: CallRequestParams::default(),
            timers: TimerHeap::default(),
            ready_head: NIL,
            ready_tail: NIL,
            free_head: 0,
            free_controls,
            free_links,
            events: heapless::Deque::new(),
            early_gre: None,
            stats: EndpointStats::default(),
            throttle: None,
            active_sessions: 0,
            last_now: Instant::ZERO,
            accepting: false,
            mss_clamp: true,
            call_ids: super::CallIdShard::WHOLE,
        })
    }

    // ----- getters -----

    /// Server or client.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The endpoint's counters.
    pub fn stats(&self) -> &EndpointStats {
        &self.stats
    }

    /// Sessions counted against `max_sessions` (calls accepted and not
    /// yet ended).
    pub fn active_sessions(&self) -> usize {
        self.active_sessions
    }

    /// Calls accepted whose sessions are not up yet (server): what
    /// [`Limits::max_unauthenticated`](super::Limits) caps.
    pub fn unauthenticated_calls(&self) -> usize {
        self.unauthenticated
    }

    /// The address pool (server).
    pub fn pool(&self) -> Option<&AddressPool<POOL_WORDS>> {
        self.pool.as_ref()
    }

    /// Every session, as `show vpdn` lists them.
    pub fn sessions(&self) -> impl Iterator<Item = SessionView<'_>> + '_ {
        let (slots, _, _) = self.memory.parts_ref();
        (0..slots.len() as u32).filter_map(move |i| self.view(i))
    }

    /// One session.
    pub fn session(&self, session: SessionHandle) -> Option<SessionView<'_>> {
        self.slot_index(session.0).and_then(|i| self.view(i))
    }

    /// The session's full PPP link, while it is unparked (for transcripts
    /// and diagnostics).
    pub fn link(&self, session: SessionHandle) -> Option<&Link> {
        let i = self.slot_index(session.0)?;
        let (slots, _, links) = self.memory.parts_ref();
        match slots.get(i as usize)?.call.as_ref()?.link {
            LinkState::Engine(e) => links.get(e as usize)?.link.as_ref(),
            _ => None,
        }
    }

    /// The session's full control connection, while it is unparked.
    pub fn connection(
        &self,
        connection: ConnectionHandle,
    ) -> Option<&Connection<{ super::memory::CALLS_PER_CONNECTION }>> {
        let i = self.owner(self.slot_index(connection.0)?);
        let (slots, controls, _) = self.memory.parts_ref();
        match slots.get(i as usize)?.control {
            ControlState::Engine(e) => controls.get(e as usize)?.conn.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn handle_of(slot: &Slot, index: u32) -> u32 {
        (u32::from(slot.generation) << 16) | index
    }

    pub(crate) fn slot_index(&self, handle: u32) -> Option<u32> {
        let index = handle & 0xffff;
        let (slots, _, _) = self.memory.parts_ref();
        let slot = slots.get(index as usize)?;
        (slot.occupied && u32::from(slot.generation) == handle >> 16).then_some(index)
    }

    fn view(&self, i: u32) -> Option<SessionView<'_>> {
        let (slots, controls, links) = self.memory.parts_ref();
        let slot = slots.get(i as usize)?;
        if !slot.occupied {
            return None;
        }
        // A further call shows its connection's (owner slot's) state.
        let owner_index = match slot.control {
            ControlState::Shared(o) => u32::from(o),
            _ => i,
        };
        let owner = slots.get(owner_index as usize)?;
        let tunnel = match &owner.control {
            ControlState::Engine(e) => controls.get(*e as usize)?.conn.as_ref()?.stats(),
            ControlState::Parked(p) => p.stats(),
            ControlState::Refusing(_) | ControlState::Shared(_) | ControlState::Gone => {
                return None
            }
        };
        let call = slot.call.as_ref();
        let (link, mppe, mppe_stats) = match call.map(|c| &c.link) {
            Some(LinkState::Engine(e)) => {
                match links.get(*e as usize).and_then(|l| l.link.as_ref()) {
                    Some(l) => (Some(l.counters()), l.mppe_info(), l.mppe_stats()),
                    None => (None, None, None),
                }
            }
            Some(LinkState::Parked(p)) => (Some(p.counters()), p.mppe_info(), p.mppe_stats()),
            _ => (None, None, None),
        };
        Some(SessionView {
            session: SessionHandle(Self::handle_of(slot, i)),
            connection: ConnectionHandle(Self::handle_of(owner, owner_index)),
            peer: slot.peer,
            since: slot.since,
            tunnel,
            tunnel_parked: matches!(owner.control, ControlState::Parked(_)),
            call_ids: call.map(|c| (c.local_id(), c.peer_id())),
            gre: call.map(|c| c.gre.status()),
            link,
            link_parked: matches!(call.map(|c| &c.link), Some(LinkState::Parked(_))),
            user: slot.user(),
            matched_user: slot.matched_user(),
            address: slot.address(),
            mppe,
            mppe_stats,
            mtu: call.map(|c| c.mtu.counters()).unwrap_or_default(),
        })
    }

    // ----- inputs -----

    /// Server: a TCP connection to port 1723 came in from `peer`. The
    /// returned handle names it in [`Endpoint::handle_tcp`] and in
    /// [`Destination::Tcp`]. An error means: close the socket at once.
    pub fn accept(
        &mut self,
        now: Instant,
        peer: Ipv4Addr,
    ) -> Result<ConnectionHandle, AcceptError> {
        self.last_now = now;
        if !self.accepting || self.role != Role::Server {
            self.stats.connections_refused += 1;
            return Err(AcceptError::NotAccepting);
        }
        if !self.admits_connection(peer) {
            // Past the per-source cap: no slot, no answer (a flood from one
            // address costs nothing but the host's accept).
            self.stats.connections_refused += 1;
            self.stats.source_limit_refusals += 1;
            return Err(AcceptError::SourceLimit);
        }
        let full = self.active_sessions >= self.max_sessions
            || self.free_controls <= self.reserved_engines;
        let result = if full {
            // RFC 2637 §2.2/§2.16: answer the SCCRQ with result 2, error 4
            // rather than drop the connection unanswered.
            self.open_refusal(now, peer)
        } else {
            self.open_connection(now, peer, true)
        };
        match result {
            Ok(_) if !full => self.stats.connections_accepted += 1,
            _ => self.stats.connections_refused += 1,
        }
        result
    }

    /// Client: the TCP connection to the server at `server` is up; the
    /// Start-Control-Connection-Request goes out with the next
    /// [`Endpoint::poll_transmit`].
    pub fn connect(
        &mut self,
        now: Instant,
        server: Ipv4Addr,
    ) -> Result<ConnectionHandle, AcceptError> {
        self.last_now = now;
        if self.role != Role::Client {
            return Err(AcceptError::NotAccepting);
        }
        self.open_connection(now, server, false)
    }

    /// Takes the first free slot for a session from `peer` whose control
    /// connection is `control`: a new generation (old handles stop
    /// naming it), everything else reset but the route chain head it
    /// carries for its bucket.
    pub(crate) fn claim_slot(
        &mut self,
        now: Instant,
        peer: Ipv4Addr,
        control: ControlState,
    ) -> Option<u32> {
        let index = self.free_head;
        let (slots, _, _) = self.memory.parts();
        let slot = slots.get_mut(index as usize)?;
        self.free_head = widen(slot.ready_next);
        let generation = slot.generation.wrapping_add(1);
        let (route_head, source_head) = (slot.route_head, slot.source_head);
        *slot = Slot::new();
        slot.generation = generation;
        slot.route_head = route_head;
        slot.source_head = source_head;
        slot.occupied = true;
        slot.peer = peer;
        slot.since = now;
        slot.control = control;
        let bucket = self.source_bucket(peer);
        self.chain_insert(Chain::Source, bucket, index);
        Some(index)
    }

    fn open_refusal(
        &mut self,
        now: Instant,
        peer: Ipv4Addr,
    ) -> Result<ConnectionHandle, AcceptError> {
        let refusal = ControlState::Refusing(super::refusal::Refusal::new());
        let index = self
            .claim_slot(now, peer, refusal)
            .ok_or(AcceptError::NoSlot)?;
        let handle = self.handle(index);
        let (slots, _, _) = self.memory.parts();
        self.timers
            .set(slots, index, Some(now + super::refusal::SCCRQ_WAIT));
        Ok(ConnectionHandle(handle.0))
    }

    fn open_connection(
        &mut self,
        now: Instant,
        peer: Ipv4Addr,
        keep_reserve: bool,
    ) -> Result<ConnectionHandle, AcceptError> {
        if self.free_head == NIL {
            return Err(AcceptError::NoSlot);
        }
        if keep_reserve && self.free_controls <= self.reserved_engines {
            return Err(AcceptError::NoEngine);
        }
        let engine = self.take_control_engine().ok_or(AcceptError::NoEngine)?;
        let conn = Connection::new(self.role, self.control_config.clone(), now);
        if let Some(c) = self.memory.parts().1.get_mut(engine as usize) {
            c.conn = Some(conn);
        }
        let index = self
            .claim_slot(now, peer, ControlState::Engine(engine))
            .ok_or(AcceptError::NoSlot)?;
        self.mark_ready(index);
        Ok(ConnectionHandle(self.handle(index).0))
    }

    /// Bytes read from a control connection's TCP stream. See
    /// [`TcpInput`] for what to do with bytes not taken.
    pub fn handle_tcp(
        &mut self,
        now: Instant,
        connection: ConnectionHandle,
        bytes: &[u8],
    ) -> TcpInput {
        self.last_now = now;
        let Some(i) = self.slot_index(connection.0) else {
            return TcpInput::Closed;
        };
        let mut taken = 0;
        let result = loop {
            let rest = bytes.get(taken..).unwrap_or(&[]);
            let (slots, controls, _) = self.memory.parts();
            let Some(slot) = slots.get_mut(i as usize) else {
                break TcpInput::Closed;
            };
            if slot.has(flag::TCP_DEAD) {
                break TcpInput::Closed;
            }
            match &mut slot.control {
                ControlState::Gone | ControlState::Shared(_) => break TcpInput::Closed,
                ControlState::Refusing(r) => {
                    r.feed(rest);
                    self.mark_ready(i);
                    return TcpInput::Consumed;
                }
                ControlState::Parked(p) => match p.handle_input(now, rest) {
                    Ok(_) => break TcpInput::Consumed,
                    Err(needs) => {
                        taken += needs.consumed;
                        if !self.unpark_control(i, now) {
                            self.stats.no_engine_drops += 1;
                            break TcpInput::Blocked { consumed: taken };
                        }
                    }
                },
                ControlState::Engine(e) => {
                    let Some(conn) = controls.get_mut(*e as usize).and_then(|c| c.conn.as_mut())
                    else {
                        break TcpInput::Closed;
                    };
                    match conn.handle_input_partial(now, rest) {
                        Ok(n) if n + taken >= bytes.len() => break TcpInput::Consumed,
                        Ok(n) => {
                            taken += n;
                            break TcpInput::Blocked { consumed: taken };
                        }
                        // The machine closed the connection (RFC 2637 §3:
                        // a broken stream ends it); the rest is moot.
                        Err(_) => break TcpInput::Consumed,
                    }
                }
            }
        };
        self.service(i, now);
        result
    }

    /// The host's TCP connection closed or broke: the session ends at once
    /// (its call and link have no lower layer left).
    pub fn handle_tcp_closed(&mut self, now: Instant, connection: ConnectionHandle) {
        self.last_now = now;
        if let Some(i) = self.slot_index(connection.0) {
            if let Some(slot) = self.memory.parts().0.get_mut(i as usize) {
                slot.set(flag::TCP_DEAD);
            }
            self.free_slot(i, now);
        }
    }

    /// One GRE datagram (the IP header removed) from `from`. An IPv4
    /// packet it carried is decrypted in place and returned; frames it
    /// released from the reorder buffer, replies and acks come out of
    /// [`Endpoint::poll_transmit`].
    pub fn handle_gre(
        &mut self,
        now: Instant,
        from: Ipv4Addr,
        datagram: &mut [u8],
    ) -> Result<Option<Delivered>, GreInputError> {
        self.last_now = now;
        let Ok(call_id) = peek_call_id(datagram) else {
            self.stats.gre_malformed += 1;
            return Err(GreInputError::Malformed);
        };
        let Some(i) = self.call_slot(call_id) else {
            // A client's call whose reply is still in the TCP stream (see
            // early.rs): kept and replayed once the call is up.
            if self.keep_early_gre(from, call_id, datagram) {
                return Ok(None);
            }
            self.stats.gre_unknown_call += 1;
            return Err(GreInputError::UnknownCall(call_id));
        };
        let (slots, _, _) = self.memory.parts();
        let Some(slot) = slots.get_mut(i as usize) else {
            return Err(GreInputError::UnknownCall(call_id));
        };
        if slot.peer != from {
            // Another host guessing call IDs: not this call's peer.
            self.stats.gre_wrong_peer += 1;
            return Err(GreInputError::WrongPeer);
        }
        let handle = SessionHandle(Self::handle_of(slot, i));
        let Some(call) = slot.call.as_mut() else {
            return Err(GreInputError::UnknownCall(call_id));
        };
        let opened = call.gre.open(now, datagram);
        self.mark_ready(i);
        let candidate = match opened {
            Ok(Opened::Data(candidate)) => candidate,
            Ok(Opened::NoPayload) => return Ok(None),
            Ok(Opened::Dropped(_)) | Err(_) => return Err(GreInputError::Dropped),
        };
        let payload = candidate.payload.clone();
        let Some(frame) = datagram.get_mut(payload.clone()) else {
            self.gre_reject(i, candidate);
            return Err(GreInputError::Dropped);
        };
        // Beyond the trusted gap a session with stateless MPPE takes only
        // packets that prove themselves (a run of three is the proof
        // without it, checked in may_hand_up).
        let needs_proof = !self
            .call_mut(i)
            .is_some_and(|c| c.gre.is_trusted(&candidate))
            && self.link_proves_frames(i);
        if !self.may_hand_up(i, &candidate, frame) {
            self.gre_reject(i, candidate);
            self.stats.gre_unproven += 1;
            return Err(GreInputError::Unproven);
        }
        let handled = self.link_frame(i, now, frame);
        // A packet close to what the call has seen moves it unless the
        // link found it garbage; one that had to prove itself moves it only
        // if it did: delivered a valid packet. (A forged MPPE packet whose
        // coherency count is "late" is an error but no garbage: taken, it
        // re-synchronised the call onto the forger's sequence numbers, and
        // the forger's next frame was in order. Found by scripts/attack.sh.)
        // A frame the link found garbage (`Unproven`, which includes an
        // MPPE count "late" for a packet new to GRE: a forgery) moves
        // nothing, however close; a genuine peer's frame at a bad time (a
        // stale Configure-Ack, data before IPCP is up) moves the call
        // like any other close one.
        let proven = match &handled {
            Ok(Some(_)) => true,
            Err(GreInputError::Unproven) => false,
            _ => !needs_proof,
        };
        if !proven {
            self.gre_reject(i, candidate);
            self.stats.gre_unproven += 1;
        } else if let Some(call) = self.call_mut(i) {
            call.gre.confirm(now, candidate);
        }
        match handled? {
            Some(range) => Ok(Some(Delivered {
                session: handle,
                range: payload.start + range.start..payload.start + range.end,
            })),
            None => Ok(None),
        }
    }

    /// Whether a GRE candidate may go up to the link (see
    /// [`GreSession::open`]): one close to what the call has seen always
    /// may (the link judges it, and a frame that makes no sense is
    /// rejected below without moving anything); one further ahead only if
    /// it can prove itself: an MPPE packet while the link receives
    /// stateless MPPE, which it keeps only if it decrypts to a valid
    /// packet. Without that proof (no MPPE, stateful MPPE whose stream
    /// cannot be rolled back) three such packets following one another
    /// within the bounded jump still count, as a sender that moved on
    /// after an outage; never one alone, and never in a session that
    /// could prove its packets. What PPTP cannot protect: see the GRE
    /// section of the README.
    fn may_hand_up(&mut self, i: u32, candidate: &Candidate, frame: &[u8]) -> bool {
        let proves = self.link_proves_frames(i);
        let Some(call) = self.call_mut(i) else {
            return false;
        };
        if call.gre.is_trusted(candidate) {
            return true;
        }
        if proves {
            return is_mppe_frame(frame);
        }
        call.gre.extend_unproven_run(candidate)
    }

    fn gre_reject(&mut self, i: u32, candidate: Candidate) {
        if let Some(call) = self.call_mut(i) {
            call.gre.reject(candidate);
        }
    }

    fn call_mut(&mut self, i: u32) -> Option<&mut CallState> {
        let (slots, _, _) = self.memory.parts();
        slots.get_mut(i as usize).and_then(|s| s.call.as_mut())
    }

    /// Sends the next part of an IPv4 packet from the host to its session
    /// (server: by destination address; client: the one session), and
    /// says where the bytes it wrote at the start of `out` go (give at
    /// least the packet plus 40 octets, or 1,600):
    ///
    /// - [`Destination::Gre`]: a GRE datagram for the peer, the whole
    ///   packet or one fragment of it;
    /// - [`Destination::Ip`]: an ICMP "fragmentation needed" error for the
    ///   host's TUN device, when the packet has DF set and is longer than
    ///   the session carries (RFC 1191 §4).
    ///
    /// Call again with the same `packet` until `Ok(None)`: a packet longer
    /// than the session carries with DF clear goes out one fragment per
    /// call (RFC 791 §2.3). An error ends the packet (it is dropped, as a
    /// full line would drop it; IP recovers), except
    /// [`IpSendError::WindowFull`]: the peer has a window's worth of our
    /// packets unacknowledged (RFC 2637 §4.2), `packet` is left where it
    /// was, and the host may offer it again once datagrams from the peer
    /// (acks) or [`handle_timeout`](Self::handle_timeout) have opened the
    /// window, not reading its TUN meanwhile: back-pressure instead of a
    /// drop that TCP would take for congestion. TCP SYNs have their MSS
    /// clamped on the way ([`ServerConfig::mss_clamp`]).
    ///
    /// See the host loop in the [module docs](super).
    pub fn send_ip(
        &mut self,
        now: Instant,
        packet: &mut Outbound<'_>,
        out: &mut [u8],
    ) -> Result<Option<Transmit>, IpSendError> {
        self.last_now = now;
        let routed = match packet.next {
            NextPart::Done => return Ok(None),
            NextPart::Fragment { session, .. } => {
                self.slot_index(session.0).ok_or(IpSendError::NoRoute)
            }
            // Only IPv4 is negotiated (IPCP, RFC 1332): anything else a
            // host hands in (an IPv6 packet from its TUN) is not framed as
            // IPv4 for the peer to discard.
            NextPart::Start if packet.packet.first().is_none_or(|b| b >> 4 != 4) => {
                Err(IpSendError::Invalid)
            }
            NextPart::Start => match self.role {
                Role::Server => packet
                    .packet
                    .get(16..20)
                    .map(|d| Ipv4Addr::new(d[0], d[1], d[2], d[3]))
                    .ok_or(IpSendError::Invalid)
                    .and_then(|dst| self.route_lookup(dst).ok_or(IpSendError::NoRoute)),
                Role::Client => self.client_slot().ok_or(IpSendError::NoRoute),
            },
        };
        let i = match routed {
            Ok(i) => i,
            Err(e) => {
                packet.next = NextPart::Done;
                return Err(e);
            }
        };
        let resume = packet.next;
        let result = self.send_ip_on(i, now, packet, out);
        match &result {
            Ok(Transmit {
                to: Destination::Gre(_),
                ..
            }) => self.carried(i, now),
            Ok(_) => {}
            // Nothing of this part went out: it may be offered again.
            Err(IpSendError::WindowFull) => packet.next = resume,
            Err(_) => packet.next = NextPart::Done,
        }
        self.mark_ready(i);
        result.map(Some)
    }

    /// Runs the timers due at `now`.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.last_now = now;
        loop {
            let due = {
                let (slots, _, _) = self.memory.parts();
                match self.timers.peek(slots) {
                    Some((slot, at)) if at <= now => {
                        self.timers.set(slots, slot, None);
                        slot
                    }
                    _ => break,
                }
            };
            self.slot_timeout(due, now);
            self.enforce_limits(due, now);
            self.service(due, now);
            self.mark_ready(due);
        }
    }

    // ----- outputs -----

    /// The next bytes to send, written at the start of `buf` (give at
    /// least 1,600 octets: a whole PPP frame in GRE). Call until `None`
    /// after every input.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
        self.last_now = now;
        while self.ready_head != NIL {
            let i = self.ready_head;
            if let Some(t) = self.transmit_from(i, now, buf) {
                return Some(t);
            }
            self.pop_ready();
            self.settle(i, now);
        }
        None
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When to call [`Endpoint::handle_timeout`]: the earliest timer of
    /// any session (now, if output is still waiting to be polled).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ready_head != NIL {
            return Some(self.last_now);
        }
        let (slots, _, _) = self.memory.parts_ref();
        self.timers.peek(slots).map(|(_, at)| at)
    }

    // ----- commands -----

    /// External AAA: the request behind [`Event::AuthRequest`].
    pub fn take_auth_request(&mut self, session: SessionHandle) -> Option<AuthRequest> {
        let i = self.slot_index(session.0)?;
        self.full_link(i, self.last_now)?.take_auth_request()
    }

    /// External AAA: the verdict for the session's request. `false` if the
    /// session is gone or was not waiting. A rejection reaches the peer
    /// after the login throttle's delay ([`ServerConfig::login_throttle`]).
    pub fn auth_verdict(&mut self, now: Instant, session: SessionHandle, verdict: Verdict) -> bool {
        self.last_now = now;
        let Some(i) = self.slot_index(session.0) else {
            return false;
        };
        // Counted by the login throttle; a rejection leaves after its
        // delay (`login.rs`).
        let ok = self.login_verdict(i, now, verdict);
        self.service(i, now);
        self.mark_ready(i);
        ok
    }

    /// Client: answers an [`Event::AuthFailed`] with error 648 (password
    /// expired; only with [`LinkConfig::auth_retry`], else the session
    /// ends) with a Change-Password carrying `new_password` (MS-CHAPv2:
    /// RFC 2759 §7; MS-CHAPv1: RFC 2433 code 6). The Peer-Challenge and
    /// the 512 octets that pad the encrypted password block (§8.10) come
    /// from the endpoint's
    /// randomness. `false` if the session is gone or was not told 648.
    pub fn change_password(
        &mut self,
        now: Instant,
        session: SessionHandle,
        new_password: &[u8],
    ) -> bool {
        self.last_now = now;
        let Some(i) = self.slot_index(session.0) else {
            return false;
        };
        let mut peer_challenge = [0u8; 16];
        let mut fill = [0u8; ppp_core::auth::crypto::PW_BLOCK_PASSWORD_LEN];
        self.random.fill_bytes(&mut peer_challenge);
        self.random.fill_bytes(&mut fill);
        let ok = self.full_link(i, now).is_some_and(|l| {
            l.change_password(now, new_password, peer_challenge, &fill)
                .is_ok()
        });
        self.service(i, now);
        self.mark_ready(i);
        ok
    }

    /// Server: the local verifier (a
    /// [`CredentialStore`](ppp_core::auth::CredentialStore)), e.g. to
    /// persist what [`Event::PasswordChanged`] stored in it.
    pub fn verifier(&self) -> Option<&V> {
        self.verifier.as_ref()
    }

    /// Clears one session: LCP Terminate-Request first (RFC 1661 §5.5),
    /// then Call-Disconnect-Notify (server, RFC 2637 §2.13) or
    /// Call-Clear-Request and Stop-Control-Connection-Request (client), as
    /// the PIX's `clear vpdn ... id` does. A server's control connection
    /// stays for the peer to close (or for its other calls).
    pub fn close_session(&mut self, now: Instant, session: SessionHandle) -> bool {
        self.last_now = now;
        let Some(i) = self.slot_index(session.0) else {
            return false;
        };
        if self.has_link(i) {
            if let Some(link) = self.full_link(i, now) {
                link.close(now, EndReason::AdminClose);
            }
        } else if self.role == Role::Client || !self.has_live_call(i) {
            // No link (yet): nothing to terminate but the connection.
            let o = self.owner(i);
            return self.close_connection(now, ConnectionHandle(self.handle(o).0));
        }
        self.service(i, now);
        self.mark_ready(i);
        true
    }

    /// Clears a control connection and every call on it: LCP Terminate on
    /// each link, Call-Disconnect-Notify, then Stop-Control-Connection-
    /// Request (RFC 2637 §2.3) once no call is left (the PIX's `clear vpdn
    /// tunnel`).
    pub fn close_connection(&mut self, now: Instant, connection: ConnectionHandle) -> bool {
        self.last_now = now;
        let Some(o) = self.slot_index(connection.0) else {
            return false;
        };
        if matches!(
            self.memory
                .parts_ref()
                .0
                .get(o as usize)
                .map(|s| &s.control),
            Some(ControlState::Shared(_))
        ) {
            return false;
        }
        if let Some(slot) = self.memory.parts().0.get_mut(o as usize) {
            slot.set(flag::CLOSING);
        }
        let calls = self.calls_of(o);
        let mut links = 0;
        for &s in &calls {
            if self.has_link(s) {
                links += 1;
                if let Some(link) = self.full_link(s, now) {
                    link.close(now, EndReason::AdminClose);
                }
                self.service(s, now);
            }
        }
        if links == 0 {
            // No PPP to terminate first: straight to the control
            // connection's close.
            for &s in &calls {
                self.end_call(
                    s,
                    now,
                    super::types::SessionEnd::Link(EndReason::AdminClose),
                );
            }
            if let Some(conn) = self.full_control(o, now) {
                let _ = conn.close(now);
            }
        }
        self.service(o, now);
        self.mark_ready(o);
        true
    }

    /// Clears every connection (shutdown, `clear vpdn all`) and accepts no
    /// new one.
    pub fn close_all(&mut self, now: Instant) {
        self.accepting = false;
        let n = self.memory.parts().0.len() as u32;
        for i in 0..n {
            let handle = {
                let slot = &self.memory.parts().0[i as usize];
                let owner = slot.occupied
                    && !matches!(slot.control, ControlState::Shared(_) | ControlState::Gone);
                owner.then(|| Self::handle_of(slot, i))
            };
            if let Some(h) = handle {
                self.close_connection(now, ConnectionHandle(h));
            }
        }
    }

    /// The control connection a session's call runs on.
    pub fn connection_of(&self, session: SessionHandle) -> Option<ConnectionHandle> {
        let i = self.slot_index(session.0)?;
        let o = self.owner(i);
        let slot = self.memory.parts_ref().0.get(o as usize)?;
        Some(ConnectionHandle(Self::handle_of(slot, o)))
    }

    /// Whether `address` is a peer's already (assigned from the pool or by
    /// AAA): an AAA server's Framed-IP-Address must not be handed out
    /// twice.
    pub fn address_in_use(&self, address: Ipv4Addr) -> bool {
        self.route_lookup(address).is_some()
            || self
                .pool
                .as_ref()
                .is_some_and(|p| p.contains(address) && p.is_allocated(address))
    }

    /// Whether `connection` is being refused at the session limit (it
    /// gets SCCRP result 2 / error 4, then closes).
    pub fn is_refused(&self, connection: ConnectionHandle) -> bool {
        self.slot_index(connection.0).is_some_and(|i| {
            matches!(
                self.memory
                    .parts_ref()
                    .0
                    .get(i as usize)
                    .map(|s| &s.control),
                Some(ControlState::Refusing(_))
            )
        })
    }

    /// The session whose call has our call ID `local_call_id` (the PIX's
    /// `clear vpdn ... id`).
    pub fn session_by_call_id(&self, local_call_id: u16) -> Option<SessionHandle> {
        let i = self.call_slot(local_call_id)?;
        let (slots, _, _) = self.memory.parts_ref();
        slots
            .get(i as usize)
            .map(|s| SessionHandle(Self::handle_of(s, i)))
    }

    /// Whether no session is left (after [`Endpoint::close_all`]).
    pub fn is_idle(&self) -> bool {
        self.memory.parts_ref().0.iter().all(|s| !s.occupied)
    }

    // ----- helpers shared with session.rs -----

    pub(crate) fn call_slot(&self, call_id: u16) -> Option<u32> {
        let i = self.slot_of_call_id(call_id)?;
        let slot = self.memory.parts_ref().0.get(i as usize)?;
        (slot.occupied && slot.call.as_ref().is_some_and(|c| c.local_id() == call_id)).then_some(i)
    }

    pub(crate) fn client_slot(&self) -> Option<u32> {
        let (slots, _, _) = self.memory.parts_ref();
        slots
            .iter()
            .position(|s| s.occupied && s.call.is_some())
            .map(|i| i as u32)
    }

    /// The only slot that can hold our call `call_id`: its number in our
    /// share of Call IDs, mod the slot count (no table to search).
    pub(crate) fn slot_of_call_id(&self, call_id: u16) -> Option<u32> {
        let n = self.memory.parts_ref().0.len() as u32;
        Some(self.call_ids.to_dense(call_id)? % n)
    }

    /// A new call ID for slot `i`: number `i + k * slots` of our share
    /// for a random `k >= 1` (see [`Self::slot_of_call_id`]), as
    /// unpredictable as the slot count and the share allow.
    pub(crate) fn new_call_id(&mut self, i: u32) -> u16 {
        let n = self.memory.parts_ref().0.len() as u32;
        let choices = (self.call_ids.dense_max() - i) / n; // k in 1..=choices
        let mut r = [0u8; 4];
        self.random.fill_bytes(&mut r);
        let k = 1 + u32::from_le_bytes(r) % choices.max(1);
        self.call_ids.to_wire(i + k * n)
    }

    pub(crate) fn mark_ready(&mut self, i: u32) {
        let tail = self.ready_tail;
        let (slots, _, _) = self.memory.parts();
        let Some(slot) = slots.get_mut(i as usize) else {
            return;
        };
        if slot.has(flag::READY) || !slot.occupied {
            return;
        }
        slot.set(flag::READY);
        slot.ready_next = narrow(NIL);
        match slots.get_mut(tail as usize) {
            Some(t) if tail != NIL => t.ready_next = narrow(i),
            _ => self.ready_head = i,
        }
        self.ready_tail = i;
    }

    fn pop_ready(&mut self) {
        let head = self.ready_head;
        let (slots, _, _) = self.memory.parts();
        let Some(slot) = slots.get_mut(head as usize) else {
            self.ready_head = NIL;
            self.ready_tail = NIL;
            return;
        };
        slot.flags &= !flag::READY;
        self.ready_head = widen(slot.ready_next);
        slot.ready_next = narrow(NIL);
        if self.ready_head == NIL {
            self.ready_tail = NIL;
        }
    }

    /// Removes `i` from the ready list wherever it is (the slot is being
    /// freed).
    pub(crate) fn unlink_ready(&mut self, i: u32) {
        let (slots, _, _) = self.memory.parts();
        if !slots.get(i as usize).is_some_and(|s| s.has(flag::READY)) {
            return;
        }
        let mut prev = NIL;
        let mut cur = self.ready_head;
        let mut guard = slots.len();
        while cur != NIL && guard > 0 {
            guard -= 1;
            let next = slots.get(cur as usize).map_or(NIL, |s| widen(s.ready_next));
            if cur == i {
                match slots.get_mut(prev as usize) {
                    Some(p) if prev != NIL => p.ready_next = narrow(next),
                    _ => self.ready_head = next,
                }
                if self.ready_tail == i {
                    self.ready_tail = prev;
                }
                if let Some(s) = slots.get_mut(i as usize) {
                    s.flags &= !flag::READY;
                    s.ready_next = narrow(NIL);
                }
                return;
            }
            prev = cur;
            cur = next;
        }
    }

    pub(crate) fn take_control_engine(&mut self) -> Option<u16> {
        let (_, controls, _) = self.memory.parts();
        let e = controls.iter().position(|c| c.conn.is_none())?;
        self.free_controls = self.free_controls.saturating_sub(1);
        Some(e as u16)
    }

    pub(crate) fn take_link_engine(&mut self) -> Option<u16> {
        let (_, _, links) = self.memory.parts();
        let e = links.iter().position(|l| l.link.is_none())?;
        self.free_links = self.free_links.saturating_sub(1);
        Some(e as u16)
    }

    pub(crate) fn route_bucket(&self, addr: Ipv4Addr) -> u32 {
        let n = self.memory.parts_ref().0.len() as u32;
        // Fibonacci hashing; the addresses are ours (pool or AAA), so a
        // peer cannot choose colliding keys.
        (u32::from(addr).wrapping_mul(0x9E37_79B9) >> 7) % n
    }

    pub(crate) fn route_insert(&mut self, i: u32, addr: Ipv4Addr) {
        let b = self.route_bucket(addr);
        self.chain_insert(Chain::Route, b, i);
    }

    pub(crate) fn route_remove(&mut self, i: u32, addr: Ipv4Addr) {
        let b = self.route_bucket(addr);
        self.chain_remove(Chain::Route, b, i);
    }

    /// Puts slot `i` at the head of `chain`'s bucket `b`.
    pub(crate) fn chain_insert(&mut self, chain: Chain, b: u32, i: u32) {
        let (slots, _, _) = self.memory.parts();
        let head = slots
            .get(b as usize)
            .map_or(NIL, |s| widen(s.chain_head(chain)));
        if let Some(s) = slots.get_mut(i as usize) {
            s.set_chain_next(chain, narrow(head));
        }
        if let Some(s) = slots.get_mut(b as usize) {
            s.set_chain_head(chain, narrow(i));
        }
    }

    /// Takes slot `i` out of `chain`'s bucket `b` (bounded by the number
    /// of slots, whatever the chain holds).
    pub(crate) fn chain_remove(&mut self, chain: Chain, b: u32, i: u32) {
        let (slots, _, _) = self.memory.parts();
        let mut prev = NIL;
        let mut cur = slots
            .get(b as usize)
            .map_or(NIL, |s| widen(s.chain_head(chain)));
        let mut guard = slots.len();
        while cur != NIL && guard > 0 {
            guard -= 1;
            let next = slots
                .get(cur as usize)
                .map_or(NIL, |s| widen(s.chain_next(chain)));
            if cur == i {
                match slots.get_mut(prev as usize) {
                    Some(p) if prev != NIL => p.set_chain_next(chain, narrow(next)),
                    _ => {
                        if let Some(s) = slots.get_mut(b as usize) {
                            s.set_chain_head(chain, narrow(next));
                        }
                    }
                }
                if let Some(s) = slots.get_mut(i as usize) {
                    s.set_chain_next(chain, narrow(NIL));
                }
                return;
            }
            prev = cur;
            cur = next;
        }
    }

    pub(crate) fn route_lookup(&self, addr: Ipv4Addr) -> Option<u32> {
        let b = self.route_bucket(addr);
        let (slots, _, _) = self.memory.parts_ref();
        let mut cur = widen(slots.get(b as usize)?.chain_head(Chain::Route));
        let mut guard = slots.len();
        while cur != NIL && guard > 0 {
            guard -= 1;
            let s = slots.get(cur as usize)?;
            if s.occupied && s.address() == Some(addr) {
                return Some(cur);
            }
            cur = widen(s.chain_next(Chain::Route));
        }
        None
    }

    pub(crate) fn push_event(&mut self, event: Event) {
        if self.events.push_back(event).is_err() {
            self.stats.events_dropped += 1;
        }
    }

    /// Largest frame that may wait for the GRE window.
    pub(crate) const WAIT_LEN: usize = WAIT_FRAME_LEN;
}

impl Destination {
    /// The session an IP packet belongs to, if this is one.
    pub fn session(&self) -> Option<SessionHandle> {
        match self {
            Destination::Ip(s) => Some(*s),
            _ => None,
        }
    }
}

/// Whether a PPP frame (as GRE carries it: address and control fields
/// optional, protocol field possibly compressed, RFC 1661 §6.5, §6.6) is
/// an MPPE packet (protocol 0x00FD, RFC 3078 §3).
fn is_mppe_frame(frame: &[u8]) -> bool {
    let rest = frame.strip_prefix(&[0xff, 0x03]).unwrap_or(frame);
    matches!(rest, [0xfd, ..] | [0x00, 0xfd, ..])
}
