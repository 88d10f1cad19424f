//! Back-pressure from a peer's GRE window to the TUN device.
//!
//! When `Endpoint::send_ip` answers `WindowFull`, the peer has a window's
//! worth of our packets unacknowledged (RFC 2637 §4.2). Dropping the
//! packet there made TCP through the tunnel see loss and back off
//! (issue #15: 32,685 retransmissions in 8 s on a loss-free veth). A host
//! instead keeps that one packet and stops reading its TUN device until
//! the peer's acks open the window: the kernel's TUN queue fills and the
//! senders behind it slow down, as on any full link.
//!
//! One TUN device serves every session, so a peer that stops
//! acknowledging would stall the others; the wait is therefore bounded
//! ([`HOLD_MAX_MS`]), and once a packet to an address was dropped after
//! the wait, further packets to it are dropped at once while its window
//! stays shut, so a dead peer costs one wait, not one per packet.

use std::net::Ipv4Addr;

use pptp_core::endpoint::{IpSendError, Outbound};

/// The longest a packet waits for its peer's window: far beyond an ack's
/// round trip between live hosts (well under 1 ms on a LAN, tens on the
/// internet), far below the 500 ms after which the endpoint writes the
/// unacknowledged packets off (RFC 2637 §4.4, the ATO floor).
pub const HOLD_MAX_MS: u64 = 50;

/// Counters of the back-pressure, for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HoldStats {
    /// Packets held for a full window (and sent later or dropped).
    pub held: u64,
    /// Packets dropped: held for [`HOLD_MAX_MS`] in vain, or to an address
    /// whose window stayed shut after that.
    pub dropped: u64,
}

/// The one packet waiting for its peer's window, and what it learnt.
#[derive(Debug, Default)]
pub struct TunHold {
    packet: Vec<u8>,
    since_ms: Option<u64>,
    /// An address whose packet was dropped after the full wait.
    shut: Option<Ipv4Addr>,
    stats: HoldStats,
}

/// What to do with the TUN device after [`TunHold`] had its say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Reading {
    /// Read on.
    Go,
    /// A packet waits: do not read until [`TunHold::retry`] says so.
    Stop,
}

impl TunHold {
    /// Counters so far.
    pub fn stats(&self) -> HoldStats {
        self.stats
    }

    /// Whether a packet waits (the TUN device is not being read).
    pub fn is_holding(&self) -> bool {
        self.since_ms.is_some()
    }

    /// When the waiting packet is given up, for the host's poll time-out.
    pub fn deadline_ms(&self) -> Option<u64> {
        self.since_ms.map(|t| t + HOLD_MAX_MS)
    }

    /// A packet just read from the TUN device: `send` offers it to the
    /// endpoint (every part of it, writing the datagrams). Held if its
    /// window is full, unless its address's window stayed shut before.
    pub fn offer(
        &mut self,
        now_ms: u64,
        packet: &[u8],
        send: impl FnOnce(&[u8]) -> Result<(), IpSendError>,
    ) -> Reading {
        match send(packet) {
            Err(IpSendError::WindowFull) => {
                let dst = destination(packet);
                if dst.is_some() && dst == self.shut {
                    self.stats.dropped += 1;
                    return Reading::Go;
                }
                self.stats.held += 1;
                self.packet.clear();
                self.packet.extend_from_slice(packet);
                self.since_ms = Some(now_ms);
                Reading::Stop
            }
            _ => {
                if self.shut.is_some() && destination(packet) == self.shut {
                    self.shut = None;
                }
                Reading::Go
            }
        }
    }

    /// Offers the waiting packet again (after datagrams from peers or
    /// time-outs, which open windows). [`Reading::Go`] once it went, or
    /// was dropped after [`HOLD_MAX_MS`].
    pub fn retry(
        &mut self,
        now_ms: u64,
        send: impl FnOnce(&[u8]) -> Result<(), IpSendError>,
    ) -> Reading {
        let Some(since) = self.since_ms else {
            return Reading::Go;
        };
        match send(&self.packet) {
            Err(IpSendError::WindowFull) if now_ms < since + HOLD_MAX_MS => Reading::Stop,
            Err(IpSendError::WindowFull) => {
                self.stats.dropped += 1;
                self.shut = destination(&self.packet);
                self.since_ms = None;
                Reading::Go
            }
            _ => {
                self.since_ms = None;
                Reading::Go
            }
        }
    }
}

/// Offers every part of `packet` (the packet, its fragments, or an ICMP
/// error for the TUN) through `send_part`, one `Endpoint::send_ip` call
/// that writes what it gave and says whether it gave anything, until the
/// endpoint has nothing more. `WindowFull` only when nothing of the
/// packet went; a part refused after others went ends the packet (IP
/// reassembly gives it up, as after any loss).
pub fn send_packet(
    packet: &[u8],
    mut send_part: impl FnMut(&mut Outbound<'_>) -> Result<bool, IpSendError>,
) -> Result<(), IpSendError> {
    let mut outbound = Outbound::new(packet);
    let mut sent_any = false;
    loop {
        match send_part(&mut outbound) {
            Ok(true) => sent_any = true,
            Ok(false) => return Ok(()),
            Err(_) if sent_any => return Ok(()),
            Err(e) => return Err(e),
        }
    }
}

/// An IPv4 packet's destination address.
fn destination(packet: &[u8]) -> Option<Ipv4Addr> {
    let d: [u8; 4] = packet.get(16..20)?.try_into().ok()?;
    Some(Ipv4Addr::from(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn packet(dst: u8) -> Vec<u8> {
        let mut p = vec![0x45; 28];
        p[16..20].copy_from_slice(&[10, 0, 0, dst]);
        p
    }

    #[test]
    fn a_packet_waits_for_its_window_and_goes_when_it_opens() {
        let mut hold = TunHold::default();
        assert_eq!(
            hold.offer(0, &packet(1), |_| Err(IpSendError::WindowFull)),
            Reading::Stop
        );
        assert!(hold.is_holding());
        assert_eq!(hold.deadline_ms(), Some(HOLD_MAX_MS));
        assert_eq!(
            hold.retry(10, |_| Err(IpSendError::WindowFull)),
            Reading::Stop
        );
        let mut sent = Vec::new();
        assert_eq!(
            hold.retry(20, |p| {
                sent = p.to_vec();
                Ok(())
            }),
            Reading::Go
        );
        assert_eq!(sent, packet(1));
        assert!(!hold.is_holding());
        assert_eq!(
            hold.stats(),
            HoldStats {
                held: 1,
                dropped: 0
            }
        );
    }

    #[test]
    fn a_peer_that_never_acks_costs_one_wait_then_its_packets_drop_at_once() {
        let mut hold = TunHold::default();
        let full = |_: &[u8]| Err(IpSendError::WindowFull);
        assert_eq!(hold.offer(0, &packet(1), full), Reading::Stop);
        assert_eq!(hold.retry(HOLD_MAX_MS, full), Reading::Go);
        // Dropped; the next packet to it does not wait, another's does.
        assert_eq!(hold.offer(60, &packet(1), full), Reading::Go);
        assert_eq!(
            hold.stats(),
            HoldStats {
                held: 1,
                dropped: 2
            }
        );
        assert_eq!(hold.offer(61, &packet(2), full), Reading::Stop);
        // Once a packet to it goes, it may wait again.
        assert_eq!(hold.retry(62, |_| Ok(())), Reading::Go);
        assert_eq!(hold.offer(63, &packet(1), |_| Ok(())), Reading::Go);
        assert_eq!(hold.offer(64, &packet(1), full), Reading::Stop);
    }
}
