//! Login attempts: the throttle's say before any verifier or AAA server
//! sees a guess, and rejections held back for the throttle's delay.
//!
//! Every authentication Response reaches the endpoint as
//! `LinkEvent::AuthRequest`, with a local verifier too, so that one path
//! serves both: [`LoginThrottle::begin`] first (a blocked user or address
//! is refused untested), then the local verifier at once or the host's
//! AAA server through [`Event::AuthRequest`]. A rejection is held in the
//! session's [`LinkEngine`](super::LinkEngine) (`Login::Held`) until the
//! throttle's delay has passed, and the slot's timer wakes it: only the
//! engine, which a negotiating session holds anyway, grows, never the
//! parked slot.
//!
//! A refusal during a block is the rejection of a wrong password: the
//! same Reject (error 691, the authenticator's default message, so the
//! same MS-CHAP retry), after the same delay. Only the endpoint's event
//! ([`FailureReason::Throttled`]) tells the host what happened.

use core::net::Ipv4Addr;

use ppp_core::auth::throttle::{Attempt, LoginThrottle};
use ppp_core::auth::{FailureReason, Name, Reject, Verdict, Verifier};

use super::core::Endpoint;
use super::memory::{LinkEngine, LinkState, Login, Memory};
use super::types::{Event, Random};
use crate::time::{Duration, Instant};

/// User names with recent failures the server's throttle tracks (32
/// octets each, see [`ppp_core::auth::throttle`] for the eviction).
pub const THROTTLE_USERS: usize = 256;
/// Peer addresses with recent failures the server's throttle tracks.
pub const THROTTLE_SOURCES: usize = 256;

/// The server's throttle: 16,536 octets in the endpoint.
pub(crate) type Throttle = LoginThrottle<THROTTLE_USERS, THROTTLE_SOURCES>;

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// Users and peer addresses blocked at `now` by the login throttle.
    pub fn logins_blocked(&self, now: Instant) -> (usize, usize) {
        self.throttle.as_ref().map_or((0, 0), |t| t.blocked(now))
    }

    /// The engine of slot `i`'s link, while it has one.
    fn link_engine(&mut self, i: u32) -> Option<&mut LinkEngine> {
        let (slots, _, links) = self.memory.parts();
        match slots.get(i as usize)?.call.as_ref()?.link {
            LinkState::Engine(e) => links.get_mut(e as usize),
            _ => None,
        }
    }

    /// Who is logging in on slot `i`: the name as the peer sent it (the
    /// link keeps it from the Response) and the peer's address.
    fn login_of(&mut self, i: u32) -> Option<(Name, Ipv4Addr)> {
        let peer = self.memory.parts_ref().0.get(i as usize)?.peer;
        let link = self.link_engine(i)?.link.as_ref()?;
        Some((Name::from_slice(link.username()).unwrap_or_default(), peer))
    }

    /// The peer's Response (or PAP request) is complete: refused untested
    /// while the user or address is blocked, else decided by the local
    /// verifier at once or handed to the host's AAA server.
    pub(crate) fn on_auth_request(&mut self, i: u32, now: Instant) {
        let session = self.handle(i);
        let Some((user, peer)) = self.login_of(i) else {
            return;
        };
        let attempt = match self.throttle.as_mut() {
            Some(t) => t.begin(now, &user, peer),
            None => Attempt::Test,
        };
        self.sync_login_stats();
        if let Some(engine) = self.link_engine(i) {
            engine.login = Login::Pending;
        }
        if let Attempt::Refuse { delay } = attempt {
            // Neither the verifier nor the AAA server sees the guess.
            drop(self.full_link(i, now).and_then(|l| l.take_auth_request()));
            let refusal = Verdict::Reject(Reject::new(FailureReason::Throttled));
            self.answer_login(i, now, refusal, delay);
            return;
        }
        if self.verifier.is_none() {
            self.push_event(Event::AuthRequest { session });
            return;
        }
        let request = self.full_link(i, now).and_then(|l| l.take_auth_request());
        let verdict = request.and_then(|r| self.verifier.as_ref().map(|v| v.decide(&r)));
        if let Some(verdict) = verdict {
            self.login_verdict(i, now, verdict);
        }
    }

    /// The verdict on slot `i`'s attempt (the local verifier's or the AAA
    /// server's): counted by the throttle, a rejection held for its delay.
    /// `false` if no attempt was waiting.
    pub(crate) fn login_verdict(&mut self, i: u32, now: Instant, verdict: Verdict) -> bool {
        let pending = self
            .link_engine(i)
            .is_some_and(|e| e.login == Login::Pending);
        let Some((user, peer)) = self.login_of(i).filter(|_| pending) else {
            return false;
        };
        // The per-user session cap first (`limits.rs`, names as the slots
        // keep them). The throttle then counts its refusal as a failure:
        // answered sooner than a wrong password, it would tell a guesser
        // that the password was right.
        let (kept, _) = self.link_user(i);
        let verdict = self.user_limit(i, &kept, verdict);
        let delay = match (&verdict, self.throttle.as_mut()) {
            (Verdict::Accept(_), Some(t)) => {
                t.succeeded(now, &user, peer);
                Duration::ZERO
            }
            (Verdict::Reject(_), Some(t)) => t.failed(now, &user, peer),
            (Verdict::Accept(_), None) => Duration::ZERO,
            (Verdict::Reject(_), None) => {
                self.stats.logins.failed += 1;
                Duration::ZERO
            }
        };
        self.sync_login_stats();
        self.answer_login(i, now, verdict, delay)
    }

    /// Gives the link its verdict, or holds a rejection for `delay`.
    fn answer_login(&mut self, i: u32, now: Instant, verdict: Verdict, delay: Duration) -> bool {
        let Some(engine) = self.link_engine(i) else {
            return false;
        };
        match verdict {
            Verdict::Reject(reject) if delay > Duration::ZERO => {
                // The slot's timer is armed for it when the slot settles
                // (`slot_deadline`).
                engine.login = Login::Held {
                    until: now + delay,
                    reject,
                };
                true
            }
            verdict => {
                engine.login = Login::Idle;
                self.full_link(i, now)
                    .is_some_and(|l| l.verdict(now, verdict).is_ok())
            }
        }
    }

    /// Slot `i`'s held rejection, when its delay is over.
    pub(crate) fn release_login(&mut self, i: u32, now: Instant) {
        let Some(engine) = self.link_engine(i) else {
            return;
        };
        let due = matches!(engine.login, Login::Held { until, .. } if until <= now);
        if !due {
            return;
        }
        if let Login::Held { reject, .. } = core::mem::take(&mut engine.login) {
            if let Some(link) = self.full_link(i, now) {
                let _ = link.verdict(now, Verdict::Reject(reject));
            }
        }
    }

    fn sync_login_stats(&mut self) {
        if let Some(t) = self.throttle.as_ref() {
            self.stats.logins = *t.stats();
        }
    }
}

impl Login {
    /// When a held rejection is due.
    pub(crate) fn deadline(&self) -> Option<Instant> {
        match self {
            Login::Held { until, .. } => Some(*until),
            _ => None,
        }
    }
}
