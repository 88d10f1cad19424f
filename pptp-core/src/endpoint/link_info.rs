//! Set-Link-Info from a client (RFC 2637 §2.15), as a host command.

use ppp_core::auth::Verifier;

use crate::time::Instant;
use crate::Role;

use super::core::Endpoint;
use super::memory::Memory;
use super::types::{Random, SessionHandle};

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// Client: sends Set-Link-Info for the session's call with the ACCMs
    /// PPP uses (RFC 2637 §2.15: the PNS tells the PAC; only a PAC that
    /// relays to an asynchronous line needs them, over GRE they are
    /// informational). Windows and pptp-linux send one after the call is
    /// up, with send ACCM 0 and receive ACCM `0xffffffff` before LCP has
    /// settled them. The message goes out with the next
    /// [`Endpoint::poll_transmit`]. `false` on a server, or when the
    /// session has no established call.
    pub fn set_link_info(
        &mut self,
        now: Instant,
        session: SessionHandle,
        send_accm: u32,
        receive_accm: u32,
    ) -> bool {
        self.last_now = now;
        if self.role != Role::Client {
            return false;
        }
        let Some(i) = self.slot_index(session.0) else {
            return false;
        };
        let Some(local_id) = self
            .memory
            .parts()
            .0
            .get(i as usize)
            .and_then(|s| s.call.as_ref())
            .map(|c| c.local_id())
        else {
            return false;
        };
        let sent = self.full_control(i, now).is_some_and(|c| {
            c.set_link_info(now, local_id, send_accm, receive_accm)
                .is_ok()
        });
        self.mark_ready(i);
        sent
    }
}
