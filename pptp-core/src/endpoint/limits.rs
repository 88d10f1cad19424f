//! What a server facing the internet owes its authenticated users: limits
//! on what a peer can hold without a password (issue #14).
//!
//! Without them a peer that never authenticates can fill every slot (70
//! connections × 4 Outgoing-Call-Requests filled 256 sessions in 1.5 s),
//! keep a call alive by renegotiating LCP, or hold control connections
//! that answer keepalives for ever. So:
//!
//! * every call has [`Limits::setup_timeout`] from its set-up (for the
//!   connection's first call, from the connection) to the session being
//!   up — authenticated, IPCP (and CCP) Opened; LCP renegotiation does
//!   not extend it (it runs from a fixed start);
//! * calls not yet up are capped in total and per source address, below
//!   `max_sessions`, so authenticated users always have room;
//! * control connections are capped per source address, and one that
//!   carries no call is closed after [`Limits::idle_connection_timeout`]
//!   even if it answers keepalives;
//! * one user may hold [`Limits::max_sessions_per_user`] sessions (a PIX
//!   user logs in once).
//!
//! Per-source counts walk a chain through the slots of one hash bucket
//! (like the routes), so admission costs the bucket's length, not the
//! number of sessions. The bucket key is salted with the host's
//! randomness: a peer cannot choose addresses that collide with another's.

use core::net::Ipv4Addr;

use ppp_core::auth::{FailureReason, Verdict, Verifier};

use super::core::Endpoint;
use super::memory::{flag, widen, Chain, ControlState, Memory, Slot, NIL};
use super::types::{Random, SessionEnd};
use crate::time::{Duration, Instant};

/// Limits on what peers hold before they authenticate, and per user: a
/// set-up time-out, caps on calls not yet up (in total, below
/// `max_sessions`, and per source address), on control connections per
/// source, an idle time-out for connections without a call, and sessions
/// per user. `0` in a count means "no limit".
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub struct Limits {
    /// From a call's set-up to its session being up; past it the call is
    /// cleared (Call-Disconnect-Notify) and the session ends with
    /// [`SessionEnd::SetupTimeout`]. Windows and pppd take 1–3 s; default
    /// 30 s.
    pub setup_timeout: Duration,
    /// A control connection with no call is closed (Stop-Control-
    /// Connection-Request) after this long, keepalives or not. Default
    /// 60 s: Windows places its call right after the SCCRP.
    pub idle_connection_timeout: Duration,
    /// Calls not yet up at once, in total. `0`: half of `max_sessions`.
    pub max_unauthenticated: usize,
    /// Calls not yet up at once from one source address. Default 8.
    pub max_unauthenticated_per_source: usize,
    /// Control connections at once from one source address. Default 32
    /// (clients behind one NAT share an address).
    pub max_connections_per_source: usize,
    /// Sessions one user name may hold at once. Default 1, as a PIX user;
    /// a further login is refused at authentication.
    pub max_sessions_per_user: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            setup_timeout: Duration::from_secs(30),
            idle_connection_timeout: Duration::from_secs(60),
            max_unauthenticated: 0,
            max_unauthenticated_per_source: 8,
            max_connections_per_source: 32,
            max_sessions_per_user: 1,
        }
    }
}

impl Limits {
    /// No limits beyond the time-outs (a test rig or a load generator
    /// from one address).
    pub fn unlimited() -> Self {
        Limits {
            max_unauthenticated: usize::MAX,
            max_unauthenticated_per_source: 0,
            max_connections_per_source: 0,
            max_sessions_per_user: 0,
            ..Limits::default()
        }
    }
}

/// `0` stands for "no limit".
fn within(count: usize, limit: usize) -> bool {
    limit == 0 || count < limit
}

/// A slot that holds a control connection (not a further call on one).
fn is_connection(slot: &Slot) -> bool {
    slot.occupied && !matches!(slot.control, ControlState::Shared(_))
}

/// A slot whose call was accepted but whose session is not up yet.
pub(crate) fn is_unauthenticated(slot: &Slot) -> bool {
    slot.occupied && slot.has(flag::COUNTED) && !slot.has(flag::UP_REPORTED)
}

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    pub(crate) fn source_bucket(&self, peer: Ipv4Addr) -> u32 {
        let n = self.memory.parts_ref().0.len().max(1) as u32;
        // Fibonacci hashing of the address mixed with a per-endpoint salt:
        // peers choose their addresses, so unsalted they could pile into
        // one bucket.
        let key = u32::from(peer) ^ self.source_salt;
        (key.wrapping_mul(0x9E37_79B9)
            .rotate_left(13)
            .wrapping_mul(0x85EB_CA6B)
            >> 3)
            % n
    }

    /// Counts the slots of `peer` that `what` selects.
    fn count_from(&self, peer: Ipv4Addr, what: fn(&Slot) -> bool) -> usize {
        let bucket = self.source_bucket(peer);
        let slots = self.memory.parts_ref().0;
        let mut count = 0;
        let mut cur = slots
            .get(bucket as usize)
            .map_or(NIL, |s| widen(s.chain_head(Chain::Source)));
        let mut guard = slots.len();
        while cur != NIL && guard > 0 {
            guard -= 1;
            let Some(s) = slots.get(cur as usize) else {
                break;
            };
            if s.peer == peer && what(s) {
                count += 1;
            }
            cur = widen(s.chain_next(Chain::Source));
        }
        count
    }

    /// Whether a new control connection from `peer` is within the
    /// per-source cap.
    pub(crate) fn admits_connection(&self, peer: Ipv4Addr) -> bool {
        let limit = self.limits.max_connections_per_source;
        limit == 0 || within(self.count_from(peer, is_connection), limit)
    }

    /// Whether a new call from `peer` is within the caps on calls not yet
    /// up (in total, below `max_sessions`; and per source).
    pub(crate) fn admits_unauthenticated_call(&self, peer: Ipv4Addr) -> bool {
        let total = match self.limits.max_unauthenticated {
            0 => (self.max_sessions / 2).max(1),
            n => n,
        };
        if self.unauthenticated >= total {
            return false;
        }
        let limit = self.limits.max_unauthenticated_per_source;
        limit == 0 || within(self.count_from(peer, is_unauthenticated), limit)
    }

    /// When slot `i` is due for a limit: its call's set-up time-out, or
    /// the idle time-out of a connection that carries no call.
    pub(crate) fn limit_deadline(&self, i: u32) -> Option<Instant> {
        if self.role != crate::Role::Server {
            return None;
        }
        let slot = self.memory.parts_ref().0.get(i as usize)?;
        if is_unauthenticated(slot) {
            return Some(slot.since + self.limits.setup_timeout);
        }
        let carries_call = self.calls_of(i).iter().any(|&s| self.has_live_call(s));
        if is_connection(slot)
            && !carries_call
            && !slot.has(flag::CLOSING)
            && !matches!(slot.control, ControlState::Refusing(_))
        {
            // From the connection's start: one whose call ended after
            // the time-out is closed at once (Windows and pptp-linux close
            // it themselves when their call ends).
            return Some(slot.since + self.limits.idle_connection_timeout);
        }
        None
    }

    /// Enforces the limits due at `now` on slot `i` (from its timer).
    pub(crate) fn enforce_limits(&mut self, i: u32, now: Instant) {
        let Some(due) = self.limit_deadline(i) else {
            return;
        };
        if now < due {
            return;
        }
        let unauthenticated = self
            .memory
            .parts_ref()
            .0
            .get(i as usize)
            .is_some_and(is_unauthenticated);
        if unauthenticated {
            self.stats.setup_timeouts += 1;
            self.hang_up(i, now, SessionEnd::SetupTimeout);
        } else {
            self.stats.idle_connections_closed += 1;
            let connection = super::ConnectionHandle(self.handle(i).0);
            self.close_connection(now, connection);
        }
    }

    /// The per-user cap on a verdict for slot `i`'s `user`, the local
    /// verifier's or the host's AAA server's (applied in `login.rs`).
    pub(crate) fn user_limit(&self, i: u32, user: &[u8], verdict: Verdict) -> Verdict {
        capped(
            self.memory.parts_ref().0,
            i,
            self.limits.max_sessions_per_user,
            user,
            verdict,
        )
    }
}

/// Sessions `user` (the name as the peer sent it) holds, other than slot
/// `except`'s own (a re-authentication is not a second login). A
/// session counts from its authentication until it ends.
fn sessions_of(slots: &[Slot], user: &[u8], except: u32) -> usize {
    slots
        .iter()
        .enumerate()
        .filter(|&(n, s)| {
            n as u32 != except && s.occupied && s.has(flag::COUNTED) && s.user() == user
        })
        .count()
}

/// `verdict`, unless it accepts a user who already holds `limit`
/// sessions: then a refusal ([`FailureReason::SessionLimit`]).
fn capped(slots: &[Slot], i: u32, limit: usize, user: &[u8], verdict: Verdict) -> Verdict {
    if limit == 0 || !matches!(verdict, Verdict::Accept(_)) {
        return verdict;
    }
    if sessions_of(slots, user, i) < limit {
        return verdict;
    }
    Verdict::reject(FailureReason::SessionLimit)
}
