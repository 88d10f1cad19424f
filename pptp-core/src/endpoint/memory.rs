//! The caller's memory: session slots and the two pools of full machines.
//!
//! Sizes are the caller's choice and fixed for the endpoint's life; the
//! endpoint never allocates. A firmware passes arrays; a std host passes
//! `Vec`s or boxed slices (anything that is `AsMut<[T]>`), so that a
//! server with 100,000 slots never builds them on the stack.

use core::net::Ipv4Addr;

use ppp_core::auth::Reject;
use ppp_core::link::{Link, ParkedLink};

use crate::control::{Connection, ParkedConnection};
use crate::gre::GreSession;
use crate::time::Instant;

use super::types::{MtuCounters, USER_NAME_MAX};

/// Calls one control connection can carry at most (RFC 2637 allows
/// many; Windows and the PIX place one per connection, pptp-linux's call
/// manager multiplexes every pppd dialling the same server onto one).
/// [`ServerConfig::calls_per_connection`](super::ServerConfig) sets the
/// limit below it.
pub const CALLS_PER_CONNECTION: usize = 4;

/// "No slot" in the intrusive lists and the timer heap.
pub(crate) const NIL: u32 = u32::MAX;
/// [`NIL`] as the slots store it: the intrusive indexes are `u16`
/// (`MAX_SLOTS` is 32,768), which keeps a parked session under 2 KiB.
pub(crate) const NIL16: u16 = u16::MAX;

/// A stored index as the code uses it.
pub(crate) fn widen(i: u16) -> u32 {
    if i == NIL16 {
        NIL
    } else {
        u32::from(i)
    }
}

/// An index as the slots store it.
pub(crate) fn narrow(i: u32) -> u16 {
    if i == NIL {
        NIL16
    } else {
        i as u16
    }
}

/// PPP control frames a negotiating link may hold while the peer's GRE
/// window is full (RFC 2637 §4.2: PPTP never retransmits, so a dropped
/// LCP or CCP frame would come back only after PPP's 3 s restart timer;
/// pptp-linux advertises a window of 3 and acknowledges lazily).
pub(crate) const WAIT_FRAMES: usize = 8;
/// The largest PPP control frame that may wait (Configure-Requests,
/// authentication packets and Echo-Replies of usual size fit).
pub(crate) const WAIT_FRAME_LEN: usize = 512;

/// A full PPTP control machine, lent to a session while it starts up, has
/// messages to exchange, or tears down.
#[derive(Debug, Default)]
pub struct ControlEngine {
    pub(crate) conn: Option<Connection<CALLS_PER_CONNECTION>>,
}

impl ControlEngine {
    /// An idle machine.
    pub const fn new() -> Self {
        ControlEngine { conn: None }
    }
}

/// A full PPP link, lent to a session while it negotiates, renegotiates,
/// tears down or moves much data, with its frames waiting for the peer's
/// GRE window and its login attempt's state.
#[derive(Debug, Default)]
pub struct LinkEngine {
    pub(crate) link: Option<Link>,
    pub(crate) waiting: heapless::Deque<heapless::Vec<u8, WAIT_FRAME_LEN>, WAIT_FRAMES>,
    pub(crate) login: Login,
}

impl LinkEngine {
    /// An idle machine.
    pub const fn new() -> Self {
        LinkEngine {
            link: None,
            waiting: heapless::Deque::new(),
            login: Login::Idle,
        }
    }

    /// Puts `link` (or nothing) in the machine, with nothing waiting.
    pub(crate) fn install(&mut self, link: Option<Link>) {
        self.link = link;
        self.waiting.clear();
        self.login = Login::Idle;
    }
}

/// Where a login attempt stands between the peer's Response and the
/// link's verdict. It lives in the engine, not the slot: only a link that
/// authenticates has one, and a parked slot stays at its size.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) enum Login {
    /// No attempt outstanding.
    #[default]
    Idle,
    /// The throttle let the attempt through; the host's AAA server
    /// decides (`Endpoint::auth_verdict`).
    Pending,
    /// A rejection held for the throttle's delay (the Failure must not
    /// leave before `until`).
    Held {
        /// When it is given to the link.
        until: Instant,
        /// The rejection.
        reject: Reject,
    },
}

/// Where a session's control connection lives.
// The parked form is inline on purpose: it is what a quiet session is.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum ControlState {
    /// In a [`ControlEngine`].
    Engine(u16),
    /// Parked in the slot.
    Parked(ParkedConnection),
    /// Refused at the session limit: answered with SCCRP result 2 /
    /// error 4, then closed (no machine).
    Refusing(super::refusal::Refusal),
    /// A further call on the control connection of this slot: the
    /// connection lives there (RFC 2637 calls share their tunnel).
    Shared(u16),
    /// Gone (closed).
    Gone,
}

/// Where a session's PPP link lives.
// The parked form is inline on purpose: it is what a quiet session is.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub(crate) enum LinkState {
    /// In a [`LinkEngine`].
    Engine(u16),
    /// Parked in the slot.
    Parked(ParkedLink),
    /// Ended.
    Gone,
}

/// A call that is up: its GRE data path and its link.
#[derive(Debug)]
pub(crate) struct CallState {
    /// The call's data path; its configuration holds both call IDs.
    pub(crate) gre: GreSession,
    pub(crate) link: LinkState,
    /// Data packets carried while parked (unpark at the policy's limit).
    pub(crate) parked_packets: u16,
    /// No parking before this second of the endpoint's clock (whole
    /// seconds, rounded up: 4 octets instead of an `Instant`'s 8): the
    /// session carried data lately.
    pub(crate) busy_until_secs: u32,
    /// Fragmentation, ICMP and MSS clamping on this call (`ip.rs`).
    pub(crate) mtu: CallMtu,
}

/// What `ip.rs` counts, one per [`MtuCounters`] field.
#[derive(Clone, Copy, Debug)]
pub(crate) enum MtuEvent {
    Fragmented,
    Fragment,
    FragNeeded,
    MssClamped,
}

impl MtuCounters {
    pub(crate) fn count(&mut self, event: MtuEvent) {
        let counter = match event {
            MtuEvent::Fragmented => &mut self.fragmented,
            MtuEvent::Fragment => &mut self.fragments,
            MtuEvent::FragNeeded => &mut self.frag_needed,
            MtuEvent::MssClamped => &mut self.mss_clamped,
        };
        *counter += 1;
    }
}

/// A call's [`MtuCounters`] as its slot keeps them: 16 bits each,
/// saturating at 65,535, so that a parked session stays within 2,048
/// octets (`parked_session_size_stays_under_two_kib`; with the MSS clamp
/// on, TCP never needs fragmenting, so these stay small). The endpoint's
/// totals ([`EndpointStats::mtu`](super::EndpointStats)) are exact
/// 64-bit counts.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct CallMtu([u16; 4]);

impl CallMtu {
    pub(crate) fn count(&mut self, event: MtuEvent) {
        let n = &mut self.0[event as usize];
        *n = n.saturating_add(1);
    }

    pub(crate) fn counters(&self) -> MtuCounters {
        let [fragmented, fragments, frag_needed, mss_clamped] = self.0.map(u64::from);
        MtuCounters {
            fragmented,
            fragments,
            frag_needed,
            mss_clamped,
        }
    }
}

/// One session: a control connection, its call and its PPP link, in the
/// parked forms while quiet (see the module docs of
/// [`endpoint`](super)).
#[derive(Debug)]
pub struct Slot {
    pub(crate) generation: u16,
    pub(crate) occupied: bool,
    pub(crate) peer: Ipv4Addr,
    pub(crate) since: Instant,
    pub(crate) control: ControlState,
    pub(crate) call: Option<CallState>,
    /// Our call ID, chosen when the call was accepted or placed.
    pub(crate) local_call_id: u16,
    /// The user (as the peer sent it; at most USER_NAME_MAX octets kept,
    /// flag::USER_TRUNCATED if it was longer).
    user: [u8; USER_NAME_MAX],
    user_len: u8,
    /// Where, in the name as sent, the local store's entry begins (0: the
    /// entry is the name as sent). The entry is always the name itself or
    /// its part after a `DOMAIN\` prefix (`ppp_core::auth::NameMatch`),
    /// so one octet keeps it (names are at most 255 octets).
    entry_at: u8,
    /// The peer's address (server) or ours (client), once assigned;
    /// 0.0.0.0 for none (never a tunnel address, RFC 1122 §3.2.1.3), which
    /// saves the octet an `Option` would take in every slot.
    address: Ipv4Addr,
    pub(crate) flags: u8,
    // Intrusive bookkeeping (indexes into the slot array).
    /// The armed timer in milliseconds, `u64::MAX` for none (8 octets
    /// instead of 16 for an `Option<Instant>`).
    deadline: u64,
    pub(crate) heap_pos: u16,
    pub(crate) heap_item: u16,
    pub(crate) ready_next: u16,
    pub(crate) route_head: u16,
    pub(crate) route_next: u16,
    /// The next slot holding a further call on this slot's control
    /// connection (a chain from the connection's slot).
    pub(crate) next_call: u16,
    /// The chain of slots whose peer hashes to this slot's index (head)
    /// and the next slot in this slot's own peer's chain: per-source
    /// counts without a table (see `limits.rs`).
    pub(crate) source_head: u16,
    pub(crate) source_next: u16,
}

/// The intrusive chains through the slots, each a hash table whose bucket
/// heads live in the slot of the bucket's index.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Chain {
    /// By the session's tunnel address (the routes).
    Route,
    /// By the peer's address (per-source limits).
    Source,
}

/// Slot flags.
pub(crate) mod flag {
    /// On the ready list.
    pub const READY: u8 = 1;
    /// SessionDown was reported.
    pub const DOWN_REPORTED: u8 = 2;
    /// The host asked to clear this session's connection.
    pub const CLOSING: u8 = 4;
    /// The TCP connection is gone.
    pub const TCP_DEAD: u8 = 8;
    /// Counted in the active sessions (for max_sessions).
    pub const COUNTED: u8 = 16;
    /// SessionUp was reported.
    pub const UP_REPORTED: u8 = 32;
    /// The control connection's close was asked for.
    pub const CLOSE_SENT: u8 = 64;
    /// The user name was longer than a slot keeps: the link never parks
    /// (unparking needs the whole name back).
    pub const USER_TRUNCATED: u8 = 128;
}

impl Default for Slot {
    fn default() -> Self {
        Slot::new()
    }
}

impl Slot {
    /// A free slot.
    pub const fn new() -> Self {
        Slot {
            generation: 0,
            occupied: false,
            peer: Ipv4Addr::UNSPECIFIED,
            since: Instant::ZERO,
            control: ControlState::Gone,
            call: None,
            local_call_id: 0,
            user: [0; USER_NAME_MAX],
            user_len: 0,
            entry_at: 0,
            address: Ipv4Addr::UNSPECIFIED,
            flags: 0,
            deadline: u64::MAX,
            heap_pos: NIL16,
            heap_item: NIL16,
            ready_next: NIL16,
            route_head: NIL16,
            route_next: NIL16,
            next_call: NIL16,
            source_head: NIL16,
            source_next: NIL16,
        }
    }

    pub(crate) fn has(&self, f: u8) -> bool {
        self.flags & f != 0
    }

    pub(crate) fn set(&mut self, f: u8) {
        self.flags |= f;
    }

    pub(crate) fn deadline(&self) -> Option<Instant> {
        (self.deadline != u64::MAX).then_some(Instant::from_millis(self.deadline))
    }

    pub(crate) fn set_deadline(&mut self, at: Option<Instant>) {
        self.deadline = at.map_or(u64::MAX, |t| t.as_millis().min(u64::MAX - 1));
    }

    /// The user name kept (see [`USER_NAME_MAX`]).
    pub(crate) fn chain_head(&self, chain: Chain) -> u16 {
        match chain {
            Chain::Route => self.route_head,
            Chain::Source => self.source_head,
        }
    }

    pub(crate) fn chain_next(&self, chain: Chain) -> u16 {
        match chain {
            Chain::Route => self.route_next,
            Chain::Source => self.source_next,
        }
    }

    pub(crate) fn set_chain_head(&mut self, chain: Chain, v: u16) {
        match chain {
            Chain::Route => self.route_head = v,
            Chain::Source => self.source_head = v,
        }
    }

    pub(crate) fn set_chain_next(&mut self, chain: Chain, v: u16) {
        match chain {
            Chain::Route => self.route_next = v,
            Chain::Source => self.source_next = v,
        }
    }

    /// The session's tunnel address, once assigned.
    pub(crate) fn address(&self) -> Option<Ipv4Addr> {
        (!self.address.is_unspecified()).then_some(self.address)
    }

    /// Sets the tunnel address and returns the previous one.
    pub(crate) fn replace_address(&mut self, address: Option<Ipv4Addr>) -> Option<Ipv4Addr> {
        let old = self.address();
        self.address = address.unwrap_or(Ipv4Addr::UNSPECIFIED);
        old
    }

    pub(crate) fn user(&self) -> &[u8] {
        self.user.get(..usize::from(self.user_len)).unwrap_or(&[])
    }

    /// The local store's entry that accepted [`Slot::user`], when it is
    /// not the name as sent (`DOMAIN\bob` matched `bob`). `None` too when
    /// the entry begins beyond the octets kept.
    pub(crate) fn matched_user(&self) -> Option<&[u8]> {
        let at = usize::from(self.entry_at);
        (at > 0)
            .then(|| self.user().get(at..))
            .flatten()
            .filter(|e| !e.is_empty())
    }

    /// Keeps `name` (as [`Slot::set_user`]) and where its matched entry
    /// `entry`, a suffix of it, begins.
    pub(crate) fn set_user_and_entry(&mut self, name: &[u8], entry: &[u8]) {
        self.set_user(name);
        let at = name.len().saturating_sub(entry.len());
        self.entry_at = u8::try_from(at).unwrap_or(0);
    }

    /// Keeps `name`, or its first [`USER_NAME_MAX`] octets and
    /// `flag::USER_TRUNCATED`; its entry is the name as sent.
    pub(crate) fn set_user(&mut self, name: &[u8]) {
        self.entry_at = 0;
        let keep = name.len().min(USER_NAME_MAX);
        if let (Some(dst), Some(src)) = (self.user.get_mut(..keep), name.get(..keep)) {
            dst.copy_from_slice(src);
        }
        self.user_len = keep as u8;
        if name.len() > USER_NAME_MAX {
            self.set(flag::USER_TRUNCATED);
        } else {
            self.flags &= !flag::USER_TRUNCATED;
        }
    }
}

/// The caller's memory: slots and full machines. Implemented for a triple
/// of anything that is `AsMut<[T]>`, e.g. `([Slot; 8], [ControlEngine;
/// 2], [LinkEngine; 2])` or three `Vec`s.
pub trait Memory {
    /// The three parts, mutably.
    fn parts(&mut self) -> (&mut [Slot], &mut [ControlEngine], &mut [LinkEngine]);
    /// The three parts.
    fn parts_ref(&self) -> (&[Slot], &[ControlEngine], &[LinkEngine]);
}

impl<S, C, L> Memory for (S, C, L)
where
    S: AsMut<[Slot]> + AsRef<[Slot]>,
    C: AsMut<[ControlEngine]> + AsRef<[ControlEngine]>,
    L: AsMut<[LinkEngine]> + AsRef<[LinkEngine]>,
{
    fn parts(&mut self) -> (&mut [Slot], &mut [ControlEngine], &mut [LinkEngine]) {
        (self.0.as_mut(), self.1.as_mut(), self.2.as_mut())
    }

    fn parts_ref(&self) -> (&[Slot], &[ControlEngine], &[LinkEngine]) {
        (self.0.as_ref(), self.1.as_ref(), self.2.as_ref())
    }
}

impl CallState {
    /// Our call ID (the one in the peer's GRE packets).
    pub(crate) fn local_id(&self) -> u16 {
        self.gre.config().local_call_id
    }

    /// The peer's call ID (the one in ours).
    pub(crate) fn peer_id(&self) -> u16 {
        self.gre.config().peer_call_id
    }
}

/// `at` in whole seconds, rounded up, saturating (136 years of uptime).
pub(crate) fn secs_up(at: Instant) -> u32 {
    u32::try_from(at.as_millis().div_ceil(1000)).unwrap_or(u32::MAX)
}
