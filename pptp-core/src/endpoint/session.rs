//! Driving one session: its machines' events turned into decisions and
//! endpoint events, its output turned into [`Transmit`]s, its timers, and
//! parking.

use core::ops::Range;

use ppp_core::auth::Verifier;
use ppp_core::link::{Entropy, Link, LinkEvent};

use crate::control::{CallAccept, CallParams, CallRefusal, Connection, Event as ControlEvent};
use crate::gre::{GreConfig, GreSession};
use crate::time::Instant;
use crate::wire::gre::HEADER_LEN_MAX;
use crate::Role;

use super::core::Endpoint;
use super::memory::{
    flag, narrow, CallMtu, CallState, ControlState, LinkState, Memory, CALLS_PER_CONNECTION, NIL,
};
use super::types::{
    ConnectionHandle, Destination, Event, GreInputError, Random, SessionEnd, SessionHandle,
    Transmit, UserName, USER_NAME_MAX,
};

/// Rounds of "drain every machine's events" per service: each round
/// handles what the previous one caused; 16 is far more than any chain
/// needs (a Down ends a call, which ends the tunnel).
const SERVICE_ROUNDS: usize = 16;

fn user_name(name: &[u8]) -> (UserName, bool) {
    let mut u = UserName::new();
    let keep = name.len().min(USER_NAME_MAX);
    let _ = u.extend_from_slice(name.get(..keep).unwrap_or(&[]));
    (u, name.len() > USER_NAME_MAX)
}

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// A fresh [`Entropy`] from the host's random source: Magic-Number,
    /// CHAP challenge and Identifier.
    pub(crate) fn entropy(&mut self) -> Entropy {
        let mut b = [0u8; 21];
        self.random.fill_bytes(&mut b);
        let mut challenge = [0u8; 16];
        challenge.copy_from_slice(&b[4..20]);
        Entropy {
            magic: u32::from_le_bytes([b[0], b[1], b[2], b[3]]),
            challenge,
            identifier: b[20],
        }
    }

    /// Client, MS-CHAPv2: a new Peer-Challenge for the server's next
    /// Challenge (a re-authentication, RFC 1994 §3), so that no two
    /// Responses share one (RFC 2759 §4: random for each Response).
    fn fresh_peer_challenge(&mut self, i: u32, now: Instant, method: ppp_core::auth::Method) {
        if self.role != Role::Client || method != ppp_core::auth::Method::MsChapV2 {
            return;
        }
        let mut peer_challenge = [0u8; 16];
        self.random.fill_bytes(&mut peer_challenge);
        if let Some(link) = self.full_link(i, now) {
            let _ = link.feed_peer_challenge(peer_challenge);
        }
    }

    pub(crate) fn handle(&self, i: u32) -> SessionHandle {
        let (slots, _, _) = self.memory.parts_ref();
        SessionHandle(slots.get(i as usize).map_or(NIL, |s| Self::handle_of(s, i)))
    }

    // ----- calls sharing a control connection -----

    /// The slot holding slot `i`'s control connection.
    pub(crate) fn owner(&self, i: u32) -> u32 {
        match self
            .memory
            .parts_ref()
            .0
            .get(i as usize)
            .map(|s| &s.control)
        {
            Some(ControlState::Shared(o)) => u32::from(*o),
            _ => i,
        }
    }

    /// The slots whose calls run on the connection of slot `o`: `o`
    /// itself, then its chain of further calls.
    pub(crate) fn calls_of(&self, o: u32) -> heapless::Vec<u32, CALLS_PER_CONNECTION> {
        let mut out = heapless::Vec::new();
        let slots = self.memory.parts_ref().0;
        let mut cur = o;
        while cur != NIL && !out.is_full() {
            let _ = out.push(cur);
            cur = slots
                .get(cur as usize)
                .map_or(NIL, |s| super::memory::widen(s.next_call));
        }
        out
    }

    /// Whether slot `i`'s call has a PPP link still running.
    pub(crate) fn has_link(&self, i: u32) -> bool {
        self.memory.parts_ref().0.get(i as usize).is_some_and(|s| {
            s.call
                .as_ref()
                .is_some_and(|c| !matches!(c.link, LinkState::Gone))
        })
    }

    /// Whether slot `i` holds a call that is up or being set up.
    pub(crate) fn has_live_call(&self, i: u32) -> bool {
        self.has_link(i)
            || self
                .memory
                .parts_ref()
                .0
                .get(i as usize)
                .is_some_and(|s| s.has(flag::COUNTED))
    }

    /// A slot for a new call on the connection of slot `o`: `o` itself for
    /// its first call, else a free slot chained to it.
    fn take_call_slot(&mut self, o: u32, now: Instant) -> Option<u32> {
        let owner_busy = self.memory.parts_ref().0.get(o as usize).is_some_and(|s| {
            s.has(flag::COUNTED) || s.has(flag::DOWN_REPORTED) || s.call.is_some()
        });
        if !owner_busy {
            return Some(o);
        }
        let chain = self.calls_of(o);
        if chain.is_full() || self.free_head == NIL {
            return None;
        }
        let (peer, head) = {
            let owner = self.memory.parts_ref().0.get(o as usize)?;
            (owner.peer, owner.next_call)
        };
        let index = self.claim_slot(now, peer, ControlState::Shared(o as u16))?;
        let slots = self.memory.parts().0;
        if let Some(slot) = slots.get_mut(index as usize) {
            slot.next_call = head;
        }
        if let Some(owner) = slots.get_mut(o as usize) {
            owner.next_call = narrow(index);
        }
        Some(index)
    }

    /// Takes slot `s` out of its owner `o`'s chain.
    fn unlink_call(&mut self, o: u32, s: u32) {
        let slots = self.memory.parts().0;
        let next = slots
            .get(s as usize)
            .map_or(super::memory::NIL16, |x| x.next_call);
        let mut cur = o;
        for _ in 0..CALLS_PER_CONNECTION {
            let Some(c) = slots.get_mut(cur as usize) else {
                return;
            };
            if super::memory::widen(c.next_call) == s {
                c.next_call = next;
                return;
            }
            cur = super::memory::widen(c.next_call);
            if cur == NIL {
                return;
            }
        }
    }

    // ----- full machines on demand -----

    /// Rebuilds a parked control connection in a free engine. `false`
    /// when no engine is free.
    pub(crate) fn unpark_control(&mut self, i: u32, now: Instant) -> bool {
        let parked = matches!(
            self.memory.parts().0.get(i as usize).map(|s| &s.control),
            Some(ControlState::Parked(_))
        );
        if !parked {
            return true;
        }
        let Some(e) = self.take_control_engine() else {
            return false;
        };
        let config = self.control_config.clone();
        let (slots, controls, _) = self.memory.parts();
        let Some(slot) = slots.get_mut(i as usize) else {
            return false;
        };
        if let ControlState::Parked(p) =
            core::mem::replace(&mut slot.control, ControlState::Engine(e))
        {
            if let Some(c) = controls.get_mut(e as usize) {
                c.conn = Some(Connection::unpark(p, config, now));
            }
        }
        self.stats.unparks += 1;
        true
    }

    /// Rebuilds a parked link in a free engine. `false` when no engine is
    /// free.
    pub(crate) fn unpark_link(&mut self, i: u32, now: Instant) -> bool {
        let parked = matches!(
            self.memory
                .parts()
                .0
                .get(i as usize)
                .and_then(|s| s.call.as_ref())
                .map(|c| &c.link),
            Some(LinkState::Parked(_))
        );
        if !parked {
            return true;
        }
        let Some(e) = self.take_link_engine() else {
            return false;
        };
        let entropy = self.entropy();
        let config = self.link_config.clone();
        let (slots, _, links) = self.memory.parts();
        let Some(slot) = slots.get_mut(i as usize) else {
            return false;
        };
        let user = UserName::from_slice(slot.user()).unwrap_or_default();
        let Some(call) = slot.call.as_mut() else {
            return false;
        };
        if let LinkState::Parked(p) = core::mem::replace(&mut call.link, LinkState::Engine(e)) {
            if let Some(l) = links.get_mut(e as usize) {
                l.install(Some(Link::unpark(p, config, entropy, &user, now)));
            }
        }
        call.parked_packets = 0;
        self.stats.unparks += 1;
        true
    }

    /// The full link of slot `i`, unparked if need be.
    pub(crate) fn full_link(&mut self, i: u32, now: Instant) -> Option<&mut Link> {
        if !self.unpark_link(i, now) {
            self.stats.no_engine_drops += 1;
            return None;
        }
        let (slots, _, links) = self.memory.parts();
        match slots.get(i as usize)?.call.as_ref()?.link {
            LinkState::Engine(e) => links.get_mut(e as usize)?.link.as_mut(),
            _ => None,
        }
    }

    /// The full control connection of slot `i`, unparked if need be.
    pub(crate) fn full_control(
        &mut self,
        i: u32,
        now: Instant,
    ) -> Option<&mut Connection<{ super::memory::CALLS_PER_CONNECTION }>> {
        // A further call's connection lives in its owner's slot.
        let i = self.owner(i);
        self.mark_ready(i);
        if !self.unpark_control(i, now) {
            self.stats.no_engine_drops += 1;
            return None;
        }
        let (slots, controls, _) = self.memory.parts();
        match slots.get(i as usize)?.control {
            ControlState::Engine(e) => controls.get_mut(e as usize)?.conn.as_mut(),
            _ => None,
        }
    }

    // ----- the data path -----

    /// One PPP frame (from GRE) into the session's link; an IPv4 packet it
    /// carried is at the returned range of `frame`.
    pub(crate) fn link_frame(
        &mut self,
        i: u32,
        now: Instant,
        frame: &mut [u8],
    ) -> Result<Option<Range<usize>>, GreInputError> {
        let parked = {
            let (slots, _, _) = self.memory.parts();
            let Some(call) = slots.get_mut(i as usize).and_then(|s| s.call.as_mut()) else {
                return Err(GreInputError::Link);
            };
            match &mut call.link {
                LinkState::Gone => return Err(GreInputError::Link),
                LinkState::Parked(p) => match p.handle_frame(now, frame) {
                    // Something only the full link handles (RFC 1661 §5:
                    // renegotiation, Terminate, ...): rebuild it below.
                    Err(ppp_core::link::Error::NeedsLink) => None,
                    other => Some(other),
                },
                LinkState::Engine(_) => None,
            }
        };
        let handled = match parked {
            Some(h) => h,
            None => {
                let on_engine = matches!(
                    self.memory
                        .parts_ref()
                        .0
                        .get(i as usize)
                        .and_then(|s| s.call.as_ref())
                        .map(|c| &c.link),
                    Some(LinkState::Engine(_))
                );
                if !on_engine && !self.unpark_link(i, now) {
                    self.stats.no_engine_drops += 1;
                    return Err(GreInputError::NoEngine);
                }
                self.engine_frame(i, now, frame)?
            }
        };
        self.service(i, now);
        match handled {
            Ok(Some(d)) => {
                if let Some(ip) = frame.get_mut(d.range()) {
                    self.clamp_received(i, ip);
                }
                self.carried(i, now);
                Ok(Some(d.range()))
            }
            Ok(None) => Ok(None),
            Err(e) if e.is_garbage() => Err(GreInputError::Unproven),
            Err(_) => Err(GreInputError::Link),
        }
    }

    /// One frame into slot `i`'s full link; local authentication is
    /// capped per user (see `limits.rs`).
    fn engine_frame(
        &mut self,
        i: u32,
        now: Instant,
        frame: &mut [u8],
    ) -> Result<Result<Option<ppp_core::link::Delivered>, ppp_core::link::Error>, GreInputError>
    {
        let (slots, _, links) = self.memory.parts();
        let engine = match slots
            .get(i as usize)
            .and_then(|s| s.call.as_ref())
            .map(|c| &c.link)
        {
            Some(LinkState::Engine(e)) => *e,
            _ => return Err(GreInputError::Link),
        };
        let Some(link) = links.get_mut(engine as usize).and_then(|l| l.link.as_mut()) else {
            return Err(GreInputError::Link);
        };
        // Logins surface as `LinkEvent::AuthRequest` even with a local
        // verifier: the throttle sees each attempt before the verifier
        // does, and the per-user cap applies to every verdict in one place
        // (`login.rs`).
        Ok(link.handle_frame(now, frame))
    }

    /// Whether the session's link receives stateless MPPE: then every
    /// MPPE packet proves itself or changes nothing (see
    /// `mppe::Decrypter::decrypt_in_place_verified`).
    pub(crate) fn link_proves_frames(&mut self, i: u32) -> bool {
        let (slots, _, links) = self.memory.parts();
        let info = match slots
            .get(i as usize)
            .and_then(|s| s.call.as_ref())
            .map(|c| &c.link)
        {
            Some(LinkState::Parked(p)) => p.mppe_info(),
            Some(LinkState::Engine(e)) => links
                .get(*e as usize)
                .and_then(|l| l.link.as_ref())
                .and_then(|l| l.mppe_info()),
            _ => None,
        };
        info.is_some_and(|m| m.receive.mode == ppp_core::link::MppeMode::Stateless)
    }

    /// A data packet crossed the session: a busy session is not parked
    /// again soon, and a busy parked one is unparked (the parked MPPE
    /// state is compact but slower) when an engine is spare.
    pub(crate) fn carried(&mut self, i: u32, now: Instant) {
        let Some(parking) = self.parking else {
            return;
        };
        let spare = self.free_links > self.reserved_engines;
        let (slots, _, _) = self.memory.parts();
        let Some(call) = slots.get_mut(i as usize).and_then(|s| s.call.as_mut()) else {
            return;
        };
        call.busy_until_secs = super::memory::secs_up(now + parking.idle_before_park);
        if let LinkState::Parked(_) = call.link {
            call.parked_packets = call.parked_packets.saturating_add(1);
            if call.parked_packets >= parking.busy_packets && spare {
                self.unpark_link(i, now);
            }
        }
    }

    // ----- output -----

    /// The next transmit of slot `i`, if it has one.
    pub(crate) fn transmit_from(
        &mut self,
        i: u32,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let handle = self.handle(i);
        // 1. The control connection (TCP).
        {
            let (slots, controls, _) = self.memory.parts();
            let slot = slots.get_mut(i as usize)?;
            if !slot.has(flag::TCP_DEAD) {
                let t = match &mut slot.control {
                    ControlState::Engine(e) => controls
                        .get_mut(*e as usize)
                        .and_then(|c| c.conn.as_mut())
                        .and_then(|c| c.poll_transmit(now, buf)),
                    ControlState::Parked(p) => p.poll_transmit(now, buf),
                    ControlState::Refusing(r) => {
                        let answered = r.poll_transmit(&self.control_config.host_name, buf);
                        if answered.is_some() {
                            self.stats.refusals_answered += 1;
                        }
                        answered
                    }
                    ControlState::Shared(_) | ControlState::Gone => None,
                };
                if let Some(t) = t {
                    return Some(Transmit {
                        len: t.len,
                        to: Destination::Tcp(ConnectionHandle(handle.0)),
                    });
                }
            }
        }
        // 2. A datagram that came before the call was up (client).
        if let Some(t) = self.replay_early_gre(i, now, buf) {
            return Some(t);
        }
        // 3. PPP frames to GRE: those waiting for the window, then new ones.
        let (slots, _, links) = self.memory.parts();
        let slot = slots.get_mut(i as usize)?;
        let peer = slot.peer;
        let call = slot.call.as_mut()?;
        let engine = match call.link {
            LinkState::Engine(e) => links.get_mut(e as usize),
            _ => None,
        };
        let gre = &mut call.gre;
        if let Some(engine) = engine {
            if gre.can_send() {
                if let Some(frame) = engine.waiting.pop_front() {
                    if let Ok(n) = gre.encapsulate(now, &frame, buf) {
                        return Some(Transmit {
                            to: Destination::Gre(peer),
                            len: n,
                        });
                    }
                }
            }
            while let Some(link) = engine.link.as_mut() {
                let frame_buf = buf.get_mut(HEADER_LEN_MAX..)?;
                let Some(t) = link.poll_transmit(now, frame_buf) else {
                    break;
                };
                if engine.waiting.is_empty() && gre.can_send() {
                    if let Ok(range) = gre.encapsulate_in_place(now, buf, t.len) {
                        return Some(Transmit {
                            to: Destination::Gre(peer),
                            len: move_to_front(buf, range),
                        });
                    }
                }
                // RFC 2637 §4.2: the window is closed; the frame waits (PPTP
                // does not retransmit, so a dropped LCP frame would cost a
                // 3 s restart).
                let frame = buf
                    .get(HEADER_LEN_MAX..HEADER_LEN_MAX + t.len)
                    .unwrap_or(&[]);
                let fits = frame.len() <= Self::WAIT_LEN && !engine.waiting.is_full();
                if fits {
                    let mut copy = heapless::Vec::new();
                    let _ = copy.extend_from_slice(frame);
                    let _ = engine.waiting.push_back(copy);
                } else {
                    self.stats.window_drops += 1;
                }
            }
        } else if let LinkState::Parked(p) = &mut call.link {
            let frame_buf = buf.get_mut(HEADER_LEN_MAX..)?;
            if let Some(t) = p.poll_transmit(now, frame_buf) {
                match gre.encapsulate_in_place(now, buf, t.len) {
                    Ok(range) => {
                        return Some(Transmit {
                            to: Destination::Gre(peer),
                            len: move_to_front(buf, range),
                        })
                    }
                    Err(_) => self.stats.window_drops += 1,
                }
            }
        }
        // 4. An acknowledgement owed on its own (RFC 2637 §4.3).
        // (A buffer under 12 octets leaves the ack owed; the endpoint asks
        // for 1,600.)
        if let Ok(Some(t)) = gre.poll_transmit(now, buf) {
            return Some(Transmit {
                len: t.len,
                to: Destination::Gre(peer),
            });
        }
        None
    }

    // ----- timers -----

    pub(crate) fn slot_timeout(&mut self, i: u32, now: Instant) {
        let mut control_needs_full = false;
        let mut link_needs_full = false;
        {
            let (slots, controls, links) = self.memory.parts();
            let Some(slot) = slots.get_mut(i as usize) else {
                return;
            };
            match &mut slot.control {
                ControlState::Engine(e) => {
                    if let Some(c) = controls.get_mut(*e as usize).and_then(|c| c.conn.as_mut()) {
                        c.handle_timeout(now);
                    }
                }
                ControlState::Parked(p) => {
                    p.handle_timeout(now);
                    control_needs_full = p.needs_connection();
                }
                ControlState::Refusing(r) => {
                    // No SCCRQ in time: close unanswered.
                    if now >= slot.since + super::refusal::SCCRQ_WAIT {
                        r.state = super::refusal::RefusalState::Done;
                    }
                }
                ControlState::Shared(_) | ControlState::Gone => {}
            }
            if let Some(call) = slot.call.as_mut() {
                call.gre.handle_timeout(now);
                match &mut call.link {
                    LinkState::Engine(e) => {
                        if let Some(l) = links.get_mut(*e as usize).and_then(|l| l.link.as_mut()) {
                            l.handle_timeout(now);
                        }
                    }
                    LinkState::Parked(p) => {
                        p.handle_timeout(now);
                        link_needs_full = p.needs_link();
                    }
                    LinkState::Gone => {}
                }
            }
        }
        self.release_login(i, now);
        // An overdue PPTP Echo-Reply: unpark runs the tear-down (RFC 2637
        // §3.1.4). A lost LCP keepalive: the full link ends (RFC 1661
        // §5.8).
        if control_needs_full && !self.unpark_control(i, now) {
            self.stats.no_engine_drops += 1;
        }
        if link_needs_full {
            match self.full_link(i, now) {
                Some(link) => link.handle_timeout(now),
                None => {
                    // No engine: retry soon rather than lose the end.
                    let (slots, _, _) = self.memory.parts();
                    self.timers.set(
                        slots,
                        i,
                        Some(now + crate::time::Duration::from_millis(100)),
                    );
                }
            }
        }
    }

    // ----- events and decisions -----

    /// Drains the session's machines' events, deciding what the server or
    /// client does about each.
    pub(crate) fn service(&mut self, i: u32, now: Instant) {
        for _ in 0..SERVICE_ROUNDS {
            let mut progress = false;
            while let Some(ev) = self.next_control_event(i) {
                progress = true;
                self.on_control_event(i, ev, now);
            }
            while let Some(ev) = self.next_link_event(i) {
                progress = true;
                self.on_link_event(i, ev, now);
            }
            if !progress {
                break;
            }
        }
        // Whatever the events decided may have output.
        self.mark_ready(i);
    }

    fn next_control_event(&mut self, i: u32) -> Option<ControlEvent> {
        let (slots, controls, _) = self.memory.parts();
        match slots.get(i as usize)?.control {
            ControlState::Engine(e) => controls.get_mut(e as usize)?.conn.as_mut()?.poll_event(),
            _ => None,
        }
    }

    fn next_link_event(&mut self, i: u32) -> Option<LinkEvent> {
        let (slots, _, links) = self.memory.parts();
        match slots.get(i as usize)?.call.as_ref()?.link {
            LinkState::Engine(e) => links.get_mut(e as usize)?.link.as_mut()?.poll_event(),
            _ => None,
        }
    }

    fn on_control_event(&mut self, i: u32, ev: ControlEvent, now: Instant) {
        let handle = self.handle(i);
        match ev {
            ControlEvent::TunnelUp(info) => {
                self.push_event(Event::TunnelUp {
                    connection: ConnectionHandle(handle.0),
                    host_name: info.host_name,
                    vendor: info.vendor_string,
                });
                if self.role == Role::Client {
                    let one_slot = self.memory.parts_ref().0.len() == 1;
                    let id = match self.call_request.call_id {
                        Some(id) if id != 0 && one_slot => id,
                        _ => self.new_call_id(i),
                    };
                    let params = CallParams {
                        serial_number: self.call_request.serial_number,
                        recv_window_size: self.call_request.receive_window,
                        ..CallParams::default()
                    };
                    if let Some(slot) = self.memory.parts().0.get_mut(i as usize) {
                        slot.local_call_id = id;
                    }
                    if let Some(conn) = self.full_control(i, now) {
                        let _ = conn.place_call(now, id, &params);
                    }
                }
            }
            ControlEvent::CallRequested(request) => {
                let closing = self
                    .memory
                    .parts()
                    .0
                    .get(i as usize)
                    .is_some_and(|s| s.has(flag::CLOSING));
                let live = self
                    .calls_of(i)
                    .iter()
                    .filter(|&&s| self.has_live_call(s))
                    .count();
                // The 127-style limit (the PIX refuses past its license),
                // the calls one connection may carry, and a PPP machine for
                // the negotiation beyond the ones kept for established
                // sessions.
                let peer = self.memory.parts_ref().0.get(i as usize).map(|s| s.peer);
                let within_limits = peer.is_some_and(|p| {
                    self.role != Role::Server || self.admits_unauthenticated_call(p)
                });
                if !within_limits {
                    self.stats.unauthenticated_limit_refusals += 1;
                }
                let allowed = !closing
                    && within_limits
                    && self.active_sessions < self.max_sessions
                    && live < self.calls_per_connection
                    && self.free_links > self.reserved_engines;
                let slot = if allowed {
                    self.take_call_slot(i, now)
                } else {
                    None
                };
                let Some(s) = slot else {
                    self.stats.calls_refused += 1;
                    if let Some(conn) = self.full_control(i, now) {
                        let _ =
                            conn.reject_call(now, request.peer_call_id, CallRefusal::NoResource);
                    }
                    return;
                };
                let id = self.new_call_id(s);
                let accept = CallAccept {
                    recv_window_size: self.receive_window,
                    ..CallAccept::default()
                };
                self.active_sessions += 1;
                self.unauthenticated += 1;
                if let Some(slot) = self.memory.parts().0.get_mut(s as usize) {
                    slot.set(flag::COUNTED);
                    slot.local_call_id = id;
                }
                if let Some(conn) = self.full_control(i, now) {
                    if conn
                        .accept_call(now, request.peer_call_id, id, &accept)
                        .is_err()
                    {
                        self.end_call(s, now, SessionEnd::NoResource);
                    }
                }
            }
            ControlEvent::CallUp(up) => {
                if let Some(s) = self.call_slot_of(i, up.local_call_id) {
                    self.call_up(s, now, up);
                }
            }
            // The call or the whole control connection went down: PPP's
            // lower layer is gone (RFC 1661 §4.3 Down). The link is dropped
            // with it and the session ends with the PPTP layer's reason,
            // which says more than the link's "lower layer down" (a
            // Call-Clear-Request is the user hanging up).
            ControlEvent::CallDown(down) => {
                // A call we refused never had a session (no local ID).
                let slot = down.local_call_id.and_then(|id| self.call_slot_of(i, id));
                if let Some(s) = slot {
                    self.end_call(s, now, SessionEnd::Call(down.reason));
                }
                if self.role == Role::Client {
                    self.close_control(i, now);
                }
            }
            ControlEvent::TunnelDown(reason) => {
                for s in self.calls_of(i) {
                    self.end_call(s, now, SessionEnd::Tunnel(reason));
                }
            }
            _ => {}
        }
    }

    /// The slot of our call `local_call_id` on the connection of slot `o`
    /// (a call accepted or up there).
    fn call_slot_of(&self, o: u32, local_call_id: u16) -> Option<u32> {
        let slots = self.memory.parts_ref().0;
        // A server's accepted call is counted; a client's placed call is
        // its connection's one call.
        let placed = |x: &super::memory::Slot| x.has(flag::COUNTED) || self.role == Role::Client;
        self.calls_of(o).into_iter().find(|&s| {
            slots.get(s as usize).is_some_and(|x| {
                (placed(x) && x.local_call_id == local_call_id)
                    || x.call
                        .as_ref()
                        .is_some_and(|c| c.local_id() == local_call_id)
            })
        })
    }

    fn call_up(&mut self, i: u32, now: Instant, up: crate::control::CallUp) {
        let Some(e) = self.take_link_engine() else {
            // Only a client can get here without a machine (a server
            // checked at the request); end the call.
            if let Some(conn) = self.full_control(i, now) {
                let _ = conn.clear_call(now, up.local_call_id);
            }
            self.end_call(i, now, SessionEnd::NoResource);
            return;
        };
        let entropy = self.entropy();
        let mut link = Link::new(self.link_config.clone(), entropy);
        link.open(now);
        // A peer window of 0 is "not enforced" (`GreConfig`).
        let peer_window = if self.honour_peer_window {
            up.peer_recv_window
        } else {
            0
        };
        let mut gre = GreConfig::new(up.local_call_id, up.peer_call_id, peer_window);
        gre.receive_window = self.receive_window;
        // The trusted gap stays at GreConfig's 64 whatever our window:
        // a frame within it is taken without proof, and LCP travels in
        // clear even with MPPE (RFC 3078 §1 encrypts protocol 0x00FD
        // only), so a blind forger's odds of landing a frame grow with
        // it. A genuine sender further ahead after a loss burst still
        // gets through: a stateless MPPE packet proves itself, anything
        // else as a run of three (GreSession::extend_unproven_run).
        let handle = self.handle(i);
        let (slots, _, links) = self.memory.parts();
        if let Some(l) = links.get_mut(e as usize) {
            l.install(Some(link));
        }
        if let Some(slot) = slots.get_mut(i as usize) {
            slot.call = Some(CallState {
                gre: GreSession::new(gre),
                link: LinkState::Engine(e),
                parked_packets: 0,
                // Not busy yet: a new session may park the moment it is quiet in
                // Network phase (rounding `now` up would hold every engine of a
                // burst of set-ups for up to a second).
                busy_until_secs: 0,
                mtu: CallMtu::default(),
            });
            if self.role == Role::Client {
                slot.set(flag::COUNTED);
                self.active_sessions += 1;
            }
        }
        self.push_event(Event::CallUp {
            session: handle,
            local_call_id: up.local_call_id,
            peer_call_id: up.peer_call_id,
        });
    }

    fn on_link_event(&mut self, i: u32, ev: LinkEvent, now: Instant) {
        let session = self.handle(i);
        match ev {
            LinkEvent::AuthRequest => self.on_auth_request(i, now),
            LinkEvent::ChallengeNeeded => {
                let entropy = self.entropy();
                if let Some(link) = self.full_link(i, now) {
                    if link.phase() == ppp_core::link::Phase::Network {
                        // The periodic re-challenge (RFC 1994 §3), with a
                        // random Identifier as the first Challenge had.
                        let _ = link.reauthenticate(now, entropy);
                    } else {
                        // A retry's new challenge (MS-CHAP "R=1").
                        let _ = link.feed_challenge(now, &entropy.challenge);
                    }
                }
            }
            LinkEvent::Reauthenticated { method } => {
                self.fresh_peer_challenge(i, now, method);
                if self.role == Role::Server {
                    self.push_event(Event::Reauthenticated { session, method });
                }
            }
            LinkEvent::Identification(message) => {
                self.push_event(Event::PeerIdentification { session, message });
            }
            LinkEvent::AddressNeeded => {
                // An address the AAA server assigned is the link's already
                // (it never asks then); otherwise one from the pool.
                let known = self
                    .memory
                    .parts_ref()
                    .0
                    .get(i as usize)
                    .and_then(|s| s.address());
                let address = match known {
                    Some(a) => Some(a),
                    None => {
                        let a = self.pool.as_mut().and_then(|p| p.allocate().ok());
                        if let Some(a) = a {
                            self.take_address(i, a);
                        }
                        a
                    }
                };
                if let Some(link) = self.full_link(i, now) {
                    link.assign_peer_address(now, address);
                }
            }
            LinkEvent::Authenticated {
                method,
                attributes,
                name_match,
            } => {
                self.fresh_peer_challenge(i, now, method);
                let (user, _) = self.link_user(i);
                let mut matched = None;
                let (slots, _, links) = self.memory.parts();
                if let Some(slot) = slots.get_mut(i as usize) {
                    let engine = match slot.call.as_ref().map(|c| &c.link) {
                        Some(LinkState::Engine(e)) => links.get(*e as usize),
                        _ => None,
                    };
                    if let Some(link) = engine.and_then(|l| l.link.as_ref()) {
                        let sent = link.username();
                        let entry = name_match.entry(sent);
                        slot.set_user_and_entry(sent, entry);
                        if entry.len() != sent.len() {
                            matched = Some(user_name(entry).0);
                        }
                    }
                }
                // RFC 2865 §5.8: a Framed-IP-Address replaces the pool; the
                // link hands it to IPCP itself, so it is this session's
                // address (and route) from now on. One inside the pool is
                // reserved there so the pool never hands it out twice.
                if let Some(a) = attributes.address.filter(|_| self.role == Role::Server) {
                    if let Some(pool) = self.pool.as_mut().filter(|p| p.contains(a)) {
                        let _ = pool.reserve(a);
                    }
                    self.take_address(i, a);
                }
                self.push_event(Event::Authenticated {
                    session,
                    method,
                    user,
                    matched,
                });
            }
            LinkEvent::PasswordChanged => {
                let Some(change) = self
                    .full_link(i, now)
                    .and_then(|l| l.take_password_change())
                else {
                    return;
                };
                let stored = self
                    .verifier
                    .as_mut()
                    .is_some_and(|v| v.store_password_change(&change));
                let (user, _) = user_name(&change.username);
                self.push_event(Event::PasswordChanged {
                    session,
                    user,
                    stored,
                    new_nt_hash: change.new_nt_hash.clone(),
                });
            }
            LinkEvent::AuthFailed { method, reason } => {
                if reason == ppp_core::auth::FailureReason::SessionLimit {
                    self.stats.user_limit_refusals += 1;
                }
                let (user, _) = self.link_user(i);
                self.push_event(Event::AuthFailed {
                    session,
                    method,
                    reason,
                    user,
                });
            }
            LinkEvent::IpcpUp(n) if self.role == Role::Client => {
                if let Some(slot) = self.memory.parts().0.get_mut(i as usize) {
                    slot.replace_address(n.local_address);
                }
            }
            LinkEvent::DataReady => {
                let (address, peer_address, mppe, mtu) = match self.full_link(i, now) {
                    Some(link) => {
                        let n = link.ipcp_negotiated();
                        let (ours, theirs) = (n.local_address, n.peer_address);
                        let (address, peer) = match link.role() {
                            ppp_core::link::Role::Server => (theirs, ours),
                            ppp_core::link::Role::Client => (ours, theirs),
                        };
                        (address, peer, link.mppe_info(), link.max_ip_len())
                    }
                    None => (None, None, None, 0),
                };
                let first = self
                    .memory
                    .parts()
                    .0
                    .get_mut(i as usize)
                    .map(|s| {
                        let first = !s.has(flag::UP_REPORTED);
                        let counted = s.has(flag::COUNTED);
                        s.set(flag::UP_REPORTED);
                        (first, first && counted)
                    })
                    .unwrap_or((false, false));
                let (first, was_unauthenticated) = first;
                if was_unauthenticated && self.role == Role::Server {
                    self.unauthenticated = self.unauthenticated.saturating_sub(1);
                }
                // Reported once: a renegotiation (RFC 1661 §3.7, e.g. after a
                // lost Configure-Ack) brings the data phase back without a
                // new session.
                if first {
                    self.stats.sessions_established += 1;
                    self.push_event(Event::SessionUp {
                        session,
                        address,
                        peer_address,
                        mppe,
                        mtu,
                    });
                }
            }
            LinkEvent::MsChapV1KeysDecided {
                keys,
                proven,
                packets,
            } => {
                self.push_event(Event::MsChapV1KeysDecided {
                    session,
                    keys,
                    proven,
                    packets,
                });
            }
            LinkEvent::Down(reason) => self.hang_up(i, now, SessionEnd::Link(reason)),
            _ => {}
        }
    }

    /// Ends slot `i`'s call for `reason` and tells the peer: Call-
    /// Disconnect-Notify (server) or Call-Clear-Request (client); the
    /// connection goes with it when nothing is left on it.
    pub(crate) fn hang_up(&mut self, i: u32, now: Instant, reason: SessionEnd) {
        self.end_call(i, now, reason);
        let local_id = self
            .memory
            .parts()
            .0
            .get(i as usize)
            .map_or(0, |s| s.local_call_id);
        let o = self.owner(i);
        if let Some(conn) = self.full_control(i, now) {
            // RFC 2637 §2.13: the server reports the end of the call with
            // Call-Disconnect-Notify; §2.12: the client clears it with
            // Call-Clear-Request.
            let _ = conn.clear_call(now, local_id);
        }
        // A client's connection ends with its call; a server's when it was
        // asked to close it and no call is left.
        let closing = self
            .memory
            .parts()
            .0
            .get(o as usize)
            .is_some_and(|s| s.has(flag::CLOSING));
        let calls_left = self.calls_of(o).iter().any(|&s| self.has_live_call(s));
        if self.role == Role::Client || (closing && !calls_left) {
            self.close_control(o, now);
        }
    }

    /// Slot `i`'s peer now has `address` (from the pool or AAA): it is
    /// routed to the session (a previous one is released first).
    fn take_address(&mut self, i: u32, address: core::net::Ipv4Addr) {
        let old = self
            .memory
            .parts()
            .0
            .get_mut(i as usize)
            .and_then(|s| s.replace_address(Some(address)));
        if let Some(old) = old.filter(|&o| o != address) {
            self.route_remove(i, old);
            if let Some(pool) = self.pool.as_mut() {
                let _ = pool.release(old);
            }
        }
        if old != Some(address) {
            self.route_insert(i, address);
        }
    }

    pub(crate) fn link_user(&mut self, i: u32) -> (UserName, bool) {
        let (slots, _, links) = self.memory.parts();
        match slots
            .get(i as usize)
            .and_then(|s| s.call.as_ref())
            .map(|c| &c.link)
        {
            Some(LinkState::Engine(e)) => links
                .get(*e as usize)
                .and_then(|l| l.link.as_ref())
                .map(|l| user_name(l.username()))
                .unwrap_or_default(),
            _ => (UserName::new(), false),
        }
    }

    fn close_control(&mut self, i: u32, now: Instant) {
        let first = self
            .memory
            .parts()
            .0
            .get_mut(i as usize)
            .map(|s| {
                let first = !s.has(flag::CLOSE_SENT);
                s.set(flag::CLOSE_SENT);
                first
            })
            .unwrap_or(false);
        if first {
            if let Some(conn) = self.full_control(i, now) {
                let _ = conn.close(now);
            }
        }
    }

    /// The call of slot `i` ended: report it once, give back its address
    /// and link machine.
    pub(crate) fn end_call(&mut self, i: u32, _now: Instant, reason: SessionEnd) {
        let session = self.handle(i);
        let (report, address, counted, engine, counters, since) = {
            let (slots, _, links) = self.memory.parts();
            let Some(slot) = slots.get_mut(i as usize) else {
                return;
            };
            // A server reports calls; a client's one session is its
            // connection, so a refused start-up is reported too.
            let client = self.role == Role::Client;
            let report = !slot.has(flag::DOWN_REPORTED)
                && (slot.has(flag::COUNTED) || slot.call.is_some() || client);
            slot.set(flag::DOWN_REPORTED);
            let counted = slot.has(flag::COUNTED);
            if !client && super::limits::is_unauthenticated(slot) {
                self.unauthenticated = self.unauthenticated.saturating_sub(1);
            }
            slot.flags &= !flag::COUNTED;
            let counters = match slot.call.as_ref().map(|c| &c.link) {
                Some(LinkState::Engine(e)) => links
                    .get(*e as usize)
                    .and_then(|l| l.link.as_ref())
                    .map(|l| *l.counters()),
                Some(LinkState::Parked(p)) => Some(*p.counters()),
                _ => None,
            }
            .unwrap_or_default();
            let since = slot.since;
            let engine = match slot
                .call
                .as_mut()
                .map(|c| core::mem::replace(&mut c.link, LinkState::Gone))
            {
                Some(LinkState::Engine(e)) => Some(e),
                _ => None,
            };
            (
                report,
                slot.replace_address(None),
                counted,
                engine,
                counters,
                since,
            )
        };
        if let Some(e) = engine {
            let (_, _, links) = self.memory.parts();
            if let Some(l) = links.get_mut(e as usize) {
                l.install(None);
            }
            self.free_links += 1;
        }
        if let Some(a) = address {
            self.route_remove(i, a);
            if let Some(pool) = self.pool.as_mut() {
                let _ = pool.release(a);
            }
        }
        if counted {
            self.active_sessions = self.active_sessions.saturating_sub(1);
        }
        if report {
            self.stats.sessions_ended += 1;
            self.push_event(Event::SessionDown {
                session,
                reason,
                counters,
                since,
            });
        }
    }

    /// Frees slot `i` entirely (its connection is closed or lost).
    pub(crate) fn free_slot(&mut self, i: u32, now: Instant) {
        // Further calls on this slot's connection go with it; a further
        // call's slot leaves its owner's chain.
        match self
            .memory
            .parts_ref()
            .0
            .get(i as usize)
            .map(|s| &s.control)
        {
            Some(ControlState::Shared(o)) => {
                let o = u32::from(*o);
                self.unlink_call(o, i);
            }
            _ => {
                for s in self.calls_of(i).into_iter().skip(1) {
                    if let Some(slot) = self.memory.parts().0.get_mut(s as usize) {
                        slot.control = ControlState::Gone;
                        slot.next_call = super::memory::NIL16;
                    }
                    self.free_slot(s, now);
                }
            }
        }
        self.end_call(i, now, SessionEnd::ConnectionLost);
        self.unlink_ready(i);
        self.forget_early_gre(i);
        let (slots, controls, _) = self.memory.parts();
        self.timers.set(slots, i, None);
        let Some(slot) = slots.get_mut(i as usize) else {
            return;
        };
        if let ControlState::Engine(e) = core::mem::replace(&mut slot.control, ControlState::Gone) {
            if let Some(c) = controls.get_mut(e as usize) {
                c.conn = None;
            }
            self.free_controls += 1;
        }
        slot.call = None;
        slot.occupied = false;
        slot.next_call = super::memory::NIL16;
        slot.set_user(&[]);
        slot.ready_next = narrow(self.free_head);
        let peer = slot.peer;
        self.free_head = i;
        let bucket = self.source_bucket(peer);
        self.chain_remove(super::memory::Chain::Source, bucket, i);
    }

    /// After slot `i` has nothing more to send: free it if its connection
    /// ended, park what is quiet, and arm its timer.
    pub(crate) fn settle(&mut self, i: u32, now: Instant) {
        let handle = self.handle(i);
        let (closed, tcp_dead) = {
            let (slots, controls, _) = self.memory.parts();
            let Some(slot) = slots.get(i as usize) else {
                return;
            };
            if !slot.occupied {
                return;
            }
            let closed = match slot.control {
                ControlState::Engine(e) => controls
                    .get(e as usize)
                    .and_then(|c| c.conn.as_ref())
                    .is_none_or(|c| c.is_closed()),
                ControlState::Parked(_) => false,
                ControlState::Refusing(ref r) => r.state == super::refusal::RefusalState::Done,
                // A further call's slot is done once its call ended (its
                // Call-Disconnect-Notify went out on the owner's connection).
                ControlState::Shared(_) => slot.has(flag::DOWN_REPORTED),
                ControlState::Gone => true,
            };
            (closed, slot.has(flag::TCP_DEAD))
        };
        if closed
            && matches!(
                self.memory
                    .parts_ref()
                    .0
                    .get(i as usize)
                    .map(|s| &s.control),
                Some(ControlState::Shared(_))
            )
        {
            self.free_slot(i, now);
            return;
        }
        if closed || tcp_dead {
            self.free_slot(i, now);
            if !tcp_dead {
                self.push_event(Event::ConnectionClosed {
                    connection: ConnectionHandle(handle.0),
                });
            }
            return;
        }
        if self.parking.is_some() {
            self.try_park(i, now);
        }
        let mut deadline = self.slot_deadline(i);
        if let Some(quiet_at) = self.park_deadline(i, now) {
            // Come back to park it once it has been quiet long enough.
            deadline = Some(deadline.map_or(quiet_at, |d| d.min(quiet_at)));
        }
        let (slots, _, _) = self.memory.parts();
        self.timers.set(slots, i, deadline);
    }

    /// When slot `i`'s full link will have been quiet for the parking
    /// policy's time, if that is still ahead.
    fn park_deadline(&self, i: u32, now: Instant) -> Option<Instant> {
        self.parking?;
        let call = self.memory.parts_ref().0.get(i as usize)?.call.as_ref()?;
        if !matches!(call.link, LinkState::Engine(_)) {
            return None;
        }
        let at = Instant::from_millis(u64::from(call.busy_until_secs) * 1000);
        (at > now).then_some(at)
    }

    fn try_park(&mut self, i: u32, now: Instant) {
        let (slots, controls, links) = self.memory.parts();
        let Some(slot) = slots.get_mut(i as usize) else {
            return;
        };
        let truncated = slot.has(flag::USER_TRUNCATED);
        if let Some(call) = slot.call.as_mut() {
            if let LinkState::Engine(e) = call.link {
                let quiet = now.as_millis() >= u64::from(call.busy_until_secs) * 1000 && !truncated;
                if let Some(engine) = links.get_mut(e as usize).filter(|l| {
                    // A login in progress keeps its engine (its verdict
                    // or held rejection lives there).
                    quiet
                        && l.waiting.is_empty()
                        && l.login == super::memory::Login::Idle
                        && l.link.as_ref().is_some_and(Link::is_parkable)
                }) {
                    if let Some(link) = engine.link.take() {
                        match link.park() {
                            Ok(parked) => {
                                call.link = LinkState::Parked(parked);
                                call.parked_packets = 0;
                                self.free_links += 1;
                                self.stats.parks += 1;
                            }
                            Err(link) => engine.link = Some(link),
                        }
                    }
                }
            }
        }
        if let ControlState::Engine(e) = slot.control {
            if let Some(engine) = controls
                .get_mut(e as usize)
                .filter(|c| c.conn.as_ref().is_some_and(|c| c.is_parkable()))
            {
                if let Some(conn) = engine.conn.take() {
                    match conn.park() {
                        Ok(parked) => {
                            slot.control = ControlState::Parked(parked);
                            self.free_controls += 1;
                            self.stats.parks += 1;
                        }
                        Err(conn) => engine.conn = Some(conn),
                    }
                }
            }
        }
    }

    fn slot_deadline(&self, i: u32) -> Option<Instant> {
        let (slots, controls, links) = self.memory.parts_ref();
        let slot = slots.get(i as usize)?;
        let control = match &slot.control {
            ControlState::Engine(e) => controls.get(*e as usize)?.conn.as_ref()?.poll_timeout(),
            ControlState::Parked(p) => p.poll_timeout(),
            ControlState::Refusing(_) => Some(slot.since + super::refusal::SCCRQ_WAIT),
            ControlState::Shared(_) | ControlState::Gone => None,
        };
        let (gre, link) = match slot.call.as_ref() {
            Some(call) => (
                call.gre.poll_timeout(),
                match &call.link {
                    LinkState::Engine(e) => links.get(*e as usize).and_then(|l| {
                        let link = l.link.as_ref().and_then(|l| l.poll_timeout());
                        link.into_iter().chain(l.login.deadline()).min()
                    }),
                    LinkState::Parked(p) => p.poll_timeout(),
                    LinkState::Gone => None,
                },
            ),
            None => (None, None),
        };
        let limit = self.limit_deadline(i);
        [control, gre, link, limit].into_iter().flatten().min()
    }
}

/// Moves `buf[range]` to the start of `buf` (a GRE header of 12 octets
/// starts 4 octets in) and returns its length.
pub(super) fn move_to_front(buf: &mut [u8], range: Range<usize>) -> usize {
    let len = range.len();
    if range.start != 0 && range.end <= buf.len() {
        buf.copy_within(range, 0);
    }
    len
}
