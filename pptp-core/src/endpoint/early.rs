//! GRE that arrives before its call is up (client).
//!
//! A PNS places its call with Outgoing-Call-Request; the PAC answers with
//! Outgoing-Call-Reply over TCP and, right after it, opens PPP: its first
//! LCP Configure-Request comes by GRE (RFC 2637 §2.8, RFC 1661 §4.1). The
//! two arrive on different sockets, so a host may read the datagram
//! first, when the call is not up yet and its call ID is unknown.
//! Dropping it costs the PAC's LCP restart timer (3 s, RFC 1661 §4.6) on
//! every session (pptpd and the project's server both send it at once),
//! so one such datagram is kept and replayed when the reply has been read.
//! One is enough: a retransmission comes only after the restart timer,
//! when the reply has long been read.

use ppp_core::auth::Verifier;

use crate::time::Instant;
use crate::wire::gre::HEADER_LEN_MAX;
use crate::Role;

use super::core::Endpoint;
use super::memory::{Memory, WAIT_FRAME_LEN};
use super::types::{Destination, Random, Transmit};

/// The largest early datagram kept: a PPP control frame of the size that
/// may wait for the GRE window, in its GRE header. Nothing larger can come
/// before LCP is open (no data flows yet).
pub(crate) const EARLY_GRE_LEN: usize = HEADER_LEN_MAX + WAIT_FRAME_LEN;

/// A GRE datagram for a call placed and not yet answered.
#[derive(Debug)]
pub(crate) struct EarlyGre {
    pub(crate) slot: u32,
    pub(crate) datagram: heapless::Vec<u8, EARLY_GRE_LEN>,
}

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// Keeps `datagram` (call ID `call_id`, from `from`) if it is for the
    /// call this client placed and whose reply has not been read. `false`:
    /// not such a datagram, too long, or one is kept already.
    pub(crate) fn keep_early_gre(
        &mut self,
        from: core::net::Ipv4Addr,
        call_id: u16,
        datagram: &[u8],
    ) -> bool {
        if self.role != Role::Client || self.early_gre.is_some() || call_id == 0 {
            return false;
        }
        let Some(i) = self.slot_of_call_id(call_id) else {
            return false;
        };
        let placed = self.memory.parts_ref().0.get(i as usize).is_some_and(|s| {
            s.occupied && s.call.is_none() && s.local_call_id == call_id && s.peer == from
        });
        if !placed {
            return false;
        }
        let mut copy = heapless::Vec::new();
        if copy.extend_from_slice(datagram).is_err() {
            return false;
        }
        self.early_gre = Some(EarlyGre {
            slot: i,
            datagram: copy,
        });
        true
    }

    /// Slot `i`'s call is up: the datagram kept for it goes through
    /// [`Endpoint::handle_gre`] now; an IPv4 packet it carried (none in
    /// practice: it precedes LCP) comes out as [`Destination::Ip`].
    pub(crate) fn replay_early_gre(
        &mut self,
        i: u32,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        let (slots, _, _) = self.memory.parts_ref();
        let slot = slots.get(i as usize)?;
        let waiting = self.early_gre.as_ref().is_some_and(|e| e.slot == i);
        if !waiting || slot.call.is_none() {
            return None;
        }
        let peer = slot.peer;
        let early = self.early_gre.take()?;
        let n = early.datagram.len();
        let datagram = buf.get_mut(..n)?;
        datagram.copy_from_slice(&early.datagram);
        let delivered = self.handle_gre(now, peer, datagram).ok()??;
        let len = delivered.range.len();
        buf.copy_within(delivered.range, 0);
        Some(Transmit {
            to: Destination::Ip(delivered.session),
            len,
        })
    }

    /// Slot `i` is freed: a datagram kept for it goes too.
    pub(crate) fn forget_early_gre(&mut self, i: u32) {
        if self.early_gre.as_ref().is_some_and(|e| e.slot == i) {
            self.early_gre = None;
        }
    }
}
