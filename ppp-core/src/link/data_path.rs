//! The IP data path shared by [`Link`] and [`super::ParkedLink`]:
//! framing (and with MPPE encrypting) IPv4 packets to send, delivering
//! received ones.

use core::ops::Range;

use super::{Counters, Delivered, Error, Link, SendError, HEADROOM};
use crate::wire::frame::{self, protocol};

impl Link {
    pub(super) fn deliver(&mut self, start: usize, len: usize) -> Result<Option<Delivered>, Error> {
        self.counters.ip_in += 1;
        self.ip_received = true;
        Ok(Some(Delivered { start, len }))
    }

    #[cfg(feature = "mppe")]
    pub(super) fn encryption_expected(&self) -> bool {
        self.mppe.is_some() || self.policy.required
    }

    #[cfg(not(feature = "mppe"))]
    pub(super) fn encryption_expected(&self) -> bool {
        false
    }
}

/// The largest IPv4 packet for a peer MRU (RFC 1661 §6.1), less MPPE's
/// header and inner protocol field when encrypting.
pub(super) fn max_ip_len(peer_mru: u16, encrypted: bool) -> usize {
    let mru = usize::from(peer_mru);
    if encrypted {
        #[cfg(feature = "mppe")]
        return mru.saturating_sub(mppe::HEADER_LEN + 2);
    }
    mru
}

/// `send_ip` for [`Link`] and [`ParkedLink`]: copies `ip` behind
/// [`HEADROOM`] octets of `out`, frames it in place with `in_place`, and
/// moves the frame to the start of `out`; returns its length.
pub(super) fn send_ip_copied(
    ip: &[u8],
    out: &mut [u8],
    in_place: impl FnOnce(&mut [u8], usize) -> Result<Range<usize>, SendError>,
) -> Result<usize, SendError> {
    let needed = HEADROOM + ip.len();
    let Some(body) = out.get_mut(HEADROOM..needed) else {
        return Err(SendError::BufferTooSmall {
            needed,
            available: out.len(),
        });
    };
    body.copy_from_slice(ip);
    let range = in_place(&mut out[..needed], HEADROOM)?;
    if range.start > 0 {
        out.copy_within(range.clone(), 0);
    }
    Ok(range.len())
}

/// Counts a data frame sent.
pub(super) fn count_sent(counters: &mut Counters, range: Range<usize>) -> Range<usize> {
    counters.ip_out += 1;
    counters.frames_out += 1;
    counters.octets_out += range.len() as u64;
    range
}

/// The send half of the data path, shared by [`Link`] and
/// [`ParkedLink`]: the IPv4 packet is `buf[start..]` with at least
/// [`HEADROOM`] octets before it; writes the PPP header (and with MPPE the
/// MPPE header and inner protocol, encrypting in place) in front of it.
pub(super) fn encapsulate_ip<#[cfg(feature = "mppe")] C: mppe::rc4::Keystream>(
    #[cfg(feature = "mppe")] mppe: Option<&mut mppe::session::Mppe<C>>,
    send: frame::FieldCompression,
    peer_mru: u16,
    buf: &mut [u8],
    start: usize,
) -> Result<Range<usize>, SendError> {
    let len = buf.len().saturating_sub(start);
    if len == 0 {
        return Err(SendError::Empty);
    }
    if start < HEADROOM {
        return Err(SendError::BufferTooSmall {
            needed: HEADROOM,
            available: start,
        });
    }
    let too_small = |_| SendError::BufferTooSmall {
        needed: HEADROOM,
        available: start,
    };
    #[cfg(feature = "mppe")]
    if let Some(m) = mppe {
        let max = max_ip_len(peer_mru, true);
        if len > max {
            return Err(SendError::TooLong { len, max });
        }
        // MPPE header + full 2-octet inner protocol + IP, encrypted.
        let mppe_start = start - 2 - mppe::HEADER_LEN;
        buf[start - 2..start].copy_from_slice(&protocol::IPV4.to_be_bytes());
        let packet = &mut buf[mppe_start..];
        m.encrypter
            .encrypt_in_place(packet)
            .map_err(SendError::Encrypt)?;
        let frame_start = frame::prepend_header(protocol::COMPRESSED, send, buf, mppe_start)
            .map_err(too_small)?;
        return Ok(frame_start..buf.len());
    }
    let max = max_ip_len(peer_mru, false);
    if len > max {
        return Err(SendError::TooLong { len, max });
    }
    let frame_start = frame::prepend_header(protocol::IPV4, send, buf, start).map_err(too_small)?;
    Ok(frame_start..buf.len())
}
