//! Re-authentication of an established session (RFC 1994 §3), as a host
//! command.

use ppp_core::auth::Verifier;

use crate::time::Instant;
use crate::Role;

use super::core::Endpoint;
use super::memory::Memory;
use super::types::{Random, SessionHandle};

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// Server: challenges the session's peer again (RFC 1994 §3: the
    /// authenticator may send a new Challenge at any time during the
    /// Network phase), with a new Identifier and challenge from the
    /// endpoint's random source. The Response goes through the same login
    /// path as the first (throttle, verifier or [`Event::AuthRequest`]).
    /// Success is [`Event::Reauthenticated`]; failure ends the session
    /// ([`Event::AuthFailed`], then [`Event::SessionDown`]). IP keeps
    /// flowing meanwhile, with the MPPE keys of the first authentication
    /// (RFC 3079 derives them from it). A parked session is unparked for
    /// the exchange and parks again when it is quiet.
    ///
    /// `false` on a client, for an unknown session, one without an
    /// established link, one authenticated with PAP (RFC 1334 leaves the
    /// exchange to the peer), or while an exchange is still running.
    ///
    /// [`Event::AuthRequest`]: super::Event::AuthRequest
    /// [`Event::Reauthenticated`]: super::Event::Reauthenticated
    /// [`Event::AuthFailed`]: super::Event::AuthFailed
    /// [`Event::SessionDown`]: super::Event::SessionDown
    pub fn reauthenticate(&mut self, now: Instant, session: SessionHandle) -> bool {
        self.last_now = now;
        if self.role != Role::Server {
            return false;
        }
        let Some(i) = self.slot_index(session.0) else {
            return false;
        };
        if !self.has_link(i) {
            return false;
        }
        let entropy = self.entropy();
        let started = self
            .full_link(i, now)
            .is_some_and(|link| link.reauthenticate(now, entropy).is_ok());
        self.service(i, now);
        self.mark_ready(i);
        started
    }
}
