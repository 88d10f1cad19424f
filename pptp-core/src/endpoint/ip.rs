//! IPv4 packets between the host and a session, fitted to the peer's MRU.
//!
//! The peer refuses frames over the MRU it announced in LCP (RFC 1661
//! §6.1), and the host's TUN device has one MTU for every session, so a
//! packet from the host that is longer than its session carries
//! ([`Link::max_ip_len`](ppp_core::link::Link::max_ip_len)) is cut into
//! fragments when DF is clear (RFC 791 §2.3) or answered with ICMP
//! "fragmentation needed" when DF is set (RFC 1191 §4), as a router
//! would; and TCP SYNs crossing either way have their MSS clamped so
//! that TCP needs neither (RFC 879, RFC 6691). Without this, pppd with
//! MRU 1200 lost every packet from 1,197 to 1,396 octets silently. The
//! byte work is in `ppp_core::wire::ipv4`; this file decides and counts.

use core::net::Ipv4Addr;

use ppp_core::link::{SendError, HEADROOM};
use ppp_core::wire::ipv4::{self, Packet};

use crate::time::Instant;
use crate::wire::gre::HEADER_LEN_MAX;

use super::core::Endpoint;
use super::memory::{LinkState, Memory, MtuEvent};
use super::session::move_to_front;
use super::types::{Destination, IpSendError, NextPart, Outbound, Random, Transmit};
use ppp_core::auth::Verifier;

/// Where the IP packet (whole or a fragment) is built in the caller's
/// buffer: behind room for the GRE header and the PPP/MPPE headers, so
/// that it is framed and encrypted in place.
const IP_AT: usize = HEADER_LEN_MAX + HEADROOM;

impl<M: Memory, R: Random, V: Verifier> Endpoint<M, R, V> {
    /// The largest IPv4 packet session `i` carries now, and our address
    /// on it (the source of the ICMP errors we originate); `None` while
    /// its link does not carry IP.
    fn ip_path(&self, i: u32) -> Option<(usize, Option<Ipv4Addr>)> {
        let (slots, _, links) = self.memory.parts_ref();
        match &slots.get(i as usize)?.call.as_ref()?.link {
            LinkState::Engine(e) => {
                let link = links.get(*e as usize)?.link.as_ref()?;
                link.is_data_ready()
                    .then(|| (link.max_ip_len(), link.ipcp_negotiated().local_address))
            }
            LinkState::Parked(p) => Some((p.max_ip_len(), p.ipcp_negotiated().local_address)),
            LinkState::Gone => None,
        }
    }

    /// Adds one to a counter of session `i` and to the endpoint's total.
    fn count_mtu(&mut self, i: u32, event: MtuEvent) {
        self.stats.mtu.count(event);
        let (slots, _, _) = self.memory.parts();
        if let Some(call) = slots.get_mut(i as usize).and_then(|s| s.call.as_mut()) {
            call.mtu.count(event);
        }
    }

    /// Clamps the MSS of a TCP SYN in `ip` (a packet crossing session `i`,
    /// either way) to the session's largest IP packet less the 40 octets
    /// of IPv4 and TCP headers (RFC 6691 §2). One value serves both
    /// directions: the host's TUN has one MTU for all sessions, and the
    /// smaller of the two MRUs is the peer's in practice (pppd's default
    /// MRU is 1500). Malformed packets are left as they are. Whether it
    /// clamped; the caller counts it once the packet is on its way.
    fn clamp_mss(&self, i: u32, ip: &mut [u8]) -> bool {
        if !self.mss_clamp {
            return false;
        }
        let Some((max, _)) = self.ip_path(i) else {
            return false;
        };
        let mss = max.saturating_sub(ipv4::HEADER_LEN + ipv4::TCP_HEADER_LEN);
        let mss = u16::try_from(mss).unwrap_or(u16::MAX);
        matches!(ipv4::clamp_mss(ip, mss), Ok(Some(_)))
    }

    /// A packet from the peer on session `i`, delivered in place: its
    /// MSS clamped (see [`Endpoint::clamp_mss`]).
    pub(crate) fn clamp_received(&mut self, i: u32, ip: &mut [u8]) {
        if self.clamp_mss(i, ip) {
            self.count_mtu(i, MtuEvent::MssClamped);
        }
    }

    /// The next part of `outbound` on session `i`: the whole packet, its
    /// next fragment, or the ICMP error for the host (see the module
    /// docs).
    pub(crate) fn send_ip_on(
        &mut self,
        i: u32,
        now: Instant,
        outbound: &mut Outbound<'_>,
        out: &mut [u8],
    ) -> Result<Transmit, IpSendError> {
        let (max, local) = self.ip_path(i).ok_or(IpSendError::NotReady)?;
        let packet = outbound.packet;
        let offset = match outbound.next {
            NextPart::Fragment { offset, .. } => offset,
            NextPart::Done => return Err(IpSendError::Invalid),
            NextPart::Start if packet.len() <= max => {
                // The common case, as before: no parsing beyond the MSS
                // clamp's, which leaves anything but a TCP SYN alone.
                let len = packet.len();
                let ip = out.get_mut(IP_AT..IP_AT + len).ok_or(IpSendError::TooBig)?;
                ip.copy_from_slice(packet);
                let clamped = self.clamp_mss(i, ip);
                outbound.next = NextPart::Done;
                let sent = self.frame_ip(i, now, len, out)?;
                if clamped {
                    self.count_mtu(i, MtuEvent::MssClamped);
                }
                return Ok(sent);
            }
            NextPart::Start => {
                outbound.next = NextPart::Done;
                let view = Packet::new_checked(packet).map_err(|_| IpSendError::Invalid)?;
                if view.total_len() < packet.len() {
                    // Octets after Total Length are padding, not packet.
                    *outbound = Outbound::new(&packet[..view.total_len()]);
                    return self.send_ip_on(i, now, outbound, out);
                }
                if view.dont_fragment() {
                    return self.frag_needed(i, &view, max, local, out);
                }
                0
            }
        };
        outbound.next = NextPart::Done;
        let view = Packet::new_checked(packet).map_err(|_| IpSendError::Invalid)?;
        let fragment = out
            .get_mut(IP_AT..)
            .ok_or(IpSendError::TooBig)
            .and_then(|o| ipv4::fragment(&view, offset, max, o).map_err(|_| IpSendError::TooBig))?;
        let sent = self.frame_ip(i, now, fragment.len, out)?;
        if offset == 0 {
            self.count_mtu(i, MtuEvent::Fragmented);
        }
        self.count_mtu(i, MtuEvent::Fragment);
        if let Some(offset) = fragment.next {
            outbound.next = NextPart::Fragment {
                session: self.handle(i),
                offset,
            };
        }
        Ok(sent)
    }

    /// A packet with DF set that session `i` cannot carry: the ICMP
    /// error for the host to write to its TUN device (RFC 1191 §4: the
    /// Next-Hop MTU is the session's `max`), where RFC 1122 §3.2.2
    /// allows one; otherwise it is dropped.
    fn frag_needed(
        &mut self,
        i: u32,
        view: &Packet<&[u8]>,
        max: usize,
        local: Option<Ipv4Addr>,
        out: &mut [u8],
    ) -> Result<Transmit, IpSendError> {
        let (Some(source), true) = (local, ipv4::icmp_error_allowed(view)) else {
            return Err(IpSendError::TooBig);
        };
        let mtu = u16::try_from(max).unwrap_or(u16::MAX);
        let len = ipv4::frag_needed(view, mtu, source, out).map_err(|_| IpSendError::TooBig)?;
        self.count_mtu(i, MtuEvent::FragNeeded);
        Ok(Transmit {
            to: Destination::Ip(self.handle(i)),
            len,
        })
    }

    /// Frames (and encrypts) the IPv4 packet at `out[IP_AT..IP_AT + len]`
    /// for session `i` and wraps it in GRE, in place; the datagram is
    /// moved to the start of `out`.
    fn frame_ip(
        &mut self,
        i: u32,
        now: Instant,
        len: usize,
        out: &mut [u8],
    ) -> Result<Transmit, IpSendError> {
        let (slots, _, links) = self.memory.parts();
        let Some(slot) = slots.get_mut(i as usize) else {
            return Err(IpSendError::NoRoute);
        };
        let peer = slot.peer;
        let Some(call) = slot.call.as_mut() else {
            return Err(IpSendError::NoRoute);
        };
        if !call.gre.can_send() {
            return Err(IpSendError::WindowFull);
        }
        let frame_buf = out
            .get_mut(HEADER_LEN_MAX..IP_AT + len)
            .ok_or(IpSendError::TooBig)?;
        let framed = match &mut call.link {
            LinkState::Parked(p) => p.send_ip_in_place(now, frame_buf, HEADROOM),
            LinkState::Engine(e) => {
                match links.get_mut(*e as usize).and_then(|l| l.link.as_mut()) {
                    Some(link) => link.send_ip_in_place(now, frame_buf, HEADROOM),
                    None => return Err(IpSendError::NotReady),
                }
            }
            LinkState::Gone => return Err(IpSendError::NotReady),
        };
        let frame = framed.map_err(|e| match e {
            SendError::NotReady | SendError::KeysUndecided => IpSendError::NotReady,
            SendError::Empty => IpSendError::Invalid,
            _ => IpSendError::TooBig,
        })?;
        let frame_len = move_to_front(frame_buf, frame);
        let range = call
            .gre
            .encapsulate_in_place(now, out, frame_len)
            .map_err(|_| IpSendError::WindowFull)?;
        Ok(Transmit {
            to: Destination::Gre(peer),
            len: move_to_front(out, range),
        })
    }
}
