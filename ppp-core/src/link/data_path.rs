//! The IP data path, one for [`Link`] and [`ParkedLink`] (rustls keeps one
//! core under its full and its kernel-offload connections): framing (with
//! MPPE, encrypting) the IPv4 packets sent, refusing or delivering the ones
//! received, and the counters. The full link keeps it on the word RC4
//! state, the parked link on the compact one ([`ParkedDataPath`]); parking
//! moves it across. The MPPE half (decryption, Reset-Requests) is in
//! `encryption.rs`, compiled with the `mppe` feature only.

use core::ops::Range;

use super::{Counters, Delivered, Error, SendError, HEADROOM};
#[cfg(doc)]
use super::{Link, ParkedLink};
#[cfg(feature = "mppe")]
use crate::time::PackedMillis;
use crate::wire::frame::{self, protocol};
#[cfg(not(feature = "mppe"))]
use core::marker::PhantomData;
#[cfg(feature = "mppe")]
use mppe::rc4::{CompactRc4 as Compact, Keystream, Rc4 as Words};

/// Without MPPE there is no keystream: [`DataPath`]'s parameter is `()`.
#[cfg(not(feature = "mppe"))]
pub(super) trait Keystream {}
#[cfg(not(feature = "mppe"))]
impl Keystream for () {}
#[cfg(not(feature = "mppe"))]
type Words = ();
#[cfg(not(feature = "mppe"))]
type Compact = ();

/// The data path's state; see the [module docs](self). `C` is the RC4
/// state layout: words in the full link, compact in the parked one.
pub(super) struct DataPath<C: Keystream = Words> {
    /// MPPE while CCP has agreed on it (RFC 3078).
    #[cfg(feature = "mppe")]
    pub(super) mppe: Option<mppe::session::Mppe<C>>,
    /// When we last spent effort to get back in step with the sender:
    /// stateful, our last CCP Reset-Request while the decrypter still
    /// waits for the flushed packet that answers it; stateless, the last
    /// long key catch-up (see `encryption.rs`, `LONG_CATCH_UP_EVERY`).
    /// One field for both: the parked link has no octet to spare.
    #[cfg(feature = "mppe")]
    pub(super) last_resync_attempt: PackedMillis,
    #[cfg(not(feature = "mppe"))]
    keystream: PhantomData<C>,
    // Only octet-aligned fields: a smaller one would add 7 octets of
    // padding to every parked link, so what the policy requires is passed
    // in and "an IP packet was received" is read from the counters.
    pub(super) counters: Counters,
}

/// The data path as a parked link keeps it: on the compact RC4 state
/// (258 octets per direction instead of 1,028; see `mppe::rc4`).
pub(super) type ParkedDataPath = DataPath<Compact>;

impl DataPath {
    /// A data path with no MPPE yet.
    pub(super) fn new() -> Self {
        DataPath {
            #[cfg(feature = "mppe")]
            mppe: None,
            #[cfg(feature = "mppe")]
            last_resync_attempt: PackedMillis::NONE,
            #[cfg(not(feature = "mppe"))]
            keystream: PhantomData,
            counters: Counters::default(),
        }
    }
}

impl<C: Keystream> DataPath<C> {
    /// Whether MPPE is active.
    pub(super) fn encrypted(&self) -> bool {
        #[cfg(feature = "mppe")]
        return self.mppe.is_some();
        #[cfg(not(feature = "mppe"))]
        false
    }

    /// The largest IPv4 packet [`DataPath::send_in_place`] takes now.
    pub(super) fn max_ip_len(&self, peer_mru: u16) -> usize {
        max_ip_len(peer_mru, self.encrypted())
    }

    /// Counts a received frame (before it is judged).
    pub(super) fn count_in(&mut self, len: usize) {
        self.counters.frames_in += 1;
        self.counters.octets_in += len as u64;
    }

    /// Counts a control frame sent.
    pub(super) fn count_out(&mut self, len: usize) {
        self.counters.frames_out += 1;
        self.counters.octets_out += len as u64;
    }

    /// A plaintext IPv4 frame whose packet is `frame[header_len..frame_len]`:
    /// refused while MPPE is active or `encryption_required` (the policy's
    /// `required`), delivered in place otherwise.
    pub(super) fn receive_plain(
        &mut self,
        header_len: usize,
        frame_len: usize,
        encryption_required: bool,
    ) -> Result<Delivered, Error> {
        if self.encrypted() || encryption_required {
            self.counters.dropped_plaintext += 1;
            return Err(Error::PlaintextRefused);
        }
        Ok(self.deliver(Delivered {
            start: header_len,
            len: frame_len - header_len,
        }))
    }

    /// Hands an IPv4 packet to the host, counted.
    pub(super) fn deliver(&mut self, delivered: Delivered) -> Delivered {
        self.counters.ip_in += 1;
        delivered
    }

    /// Zero-copy send (see [`Link::send_ip_in_place`]): frames and, with
    /// MPPE active, encrypts `buf[start..]` in place; counts the frame.
    pub(super) fn send_in_place(
        &mut self,
        send: frame::FieldCompression,
        peer_mru: u16,
        buf: &mut [u8],
        start: usize,
    ) -> Result<Range<usize>, SendError> {
        let range = encapsulate_ip(
            #[cfg(feature = "mppe")]
            self.mppe.as_mut(),
            send,
            peer_mru,
            buf,
            start,
        )?;
        self.counters.ip_out += 1;
        self.count_out(range.len());
        Ok(range)
    }
}

/// The largest IPv4 packet for a peer MRU (RFC 1661 §6.1), less MPPE's
/// header and inner protocol field when encrypting.
fn max_ip_len(peer_mru: u16, encrypted: bool) -> usize {
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

/// The send half of the data path, shared by [`Link`] and
/// [`ParkedLink`]: the IPv4 packet is `buf[start..]` with at least
/// [`HEADROOM`] octets before it; writes the PPP header (and with MPPE the
/// MPPE header and inner protocol, encrypting in place) in front of it.
fn encapsulate_ip<#[cfg(feature = "mppe")] C: Keystream>(
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
