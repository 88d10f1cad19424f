//! The PPTP control connection's byte stream, one direction at a time:
//! TCP segments put back in sequence order (retransmissions and overlaps
//! trimmed, out-of-order segments held), then cut into control messages
//! by their Length field (RFC 2637 §2.1), whatever the segment
//! boundaries were.
//!
//! Bounded: at most [`MAX_HELD_OCTETS`] of out-of-order data per
//! direction. When that fills (a gap the capture never closes), the
//! stream skips the gap, says how many octets it lost, and finds the next
//! message by its magic cookie.

use std::collections::BTreeMap;

/// Out-of-order octets held per direction before a gap is given up.
pub const MAX_HELD_OCTETS: usize = 64 * 1024;
/// Longest control message accepted (the longest in RFC 2637 is the
/// 220-octet Outgoing-Call-Request).
const MAX_MESSAGE_LEN: usize = 1024;
/// Shortest control message (header through the reserved field).
const MIN_MESSAGE_LEN: usize = 12;
/// RFC 2637 §2.1: the Magic Cookie, at offset 4 of every message.
const MAGIC_COOKIE: [u8; 4] = [0x1a, 0x2b, 0x3c, 0x4d];
/// How far ahead of the expected sequence number a segment may start
/// and still be held (further is taken for garbage).
const MAX_AHEAD: u32 = 1 << 20;

/// What the stream noticed besides messages.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StreamNotes {
    /// Octets the capture never had (gaps skipped).
    pub octets_missing: u64,
    /// Octets skipped while looking for a message start after a gap or
    /// garbage.
    pub octets_skipped: u64,
    /// Segments that repeated data already seen (retransmissions).
    pub retransmissions: u64,
}

/// One direction of a TCP connection.
#[derive(Debug, Default)]
pub struct Reassembler {
    /// Sequence number of the next in-order octet, once known.
    next_seq: Option<u32>,
    /// Out-of-order segments by sequence number.
    held: BTreeMap<u32, Vec<u8>>,
    held_octets: usize,
    /// In-order octets not yet cut into messages.
    pending: Vec<u8>,
    notes: StreamNotes,
}

impl Reassembler {
    /// What the stream noticed so far.
    pub fn notes(&self) -> &StreamNotes {
        &self.notes
    }

    /// One segment: `seq` of its first octet, whether it carries SYN,
    /// and its payload. Complete messages then come from
    /// [`Reassembler::next_message`].
    pub fn push(&mut self, seq: u32, syn: bool, payload: &[u8]) {
        // SYN takes one sequence number (RFC 9293 §3.4).
        let data_seq = seq.wrapping_add(u32::from(syn));
        let next = match self.next_seq {
            Some(n) => n,
            None if syn || !payload.is_empty() => {
                // A capture that starts mid-connection begins where it
                // begins; the message parser finds the first cookie.
                self.next_seq = Some(data_seq);
                data_seq
            }
            None => return,
        };
        if payload.is_empty() {
            return;
        }
        let ahead = data_seq.wrapping_sub(next);
        if ahead == 0 || ahead > u32::MAX / 2 {
            // In order, or starting before `next` (a retransmission,
            // perhaps with new data at its end).
            let behind = next.wrapping_sub(data_seq) as usize;
            if behind >= payload.len() {
                self.notes.retransmissions += 1;
                return;
            }
            if behind > 0 {
                self.notes.retransmissions += 1;
            }
            self.append(&payload[behind..]);
            self.drain_held();
        } else if ahead < MAX_AHEAD {
            if self.held_octets + payload.len() > MAX_HELD_OCTETS {
                self.skip_gap();
            }
            if self.held_octets + payload.len() <= MAX_HELD_OCTETS {
                self.held_octets += payload.len();
                if let Some(old) = self.held.insert(data_seq, payload.to_vec()) {
                    self.held_octets -= old.len();
                    self.notes.retransmissions += 1;
                }
            }
            self.drain_held();
        }
    }

    fn append(&mut self, data: &[u8]) {
        if let Some(n) = self.next_seq.as_mut() {
            *n = n.wrapping_add(data.len() as u32);
        }
        self.pending.extend_from_slice(data);
        // Cut messages are taken by the caller after every push; what is
        // left here is at most one partial message, or garbage.
        if self.pending.len() > MAX_HELD_OCTETS {
            let excess = self.pending.len() - MAX_HELD_OCTETS;
            self.pending.drain(..excess);
            self.notes.octets_skipped += excess as u64;
        }
    }

    /// Moves held segments that now continue the stream into it.
    fn drain_held(&mut self) {
        while let Some(next) = self.next_seq {
            // A held segment starting at or before `next` continues it.
            let Some((&seq, _)) = self
                .held
                .iter()
                .find(|(&s, _)| next.wrapping_sub(s) < u32::MAX / 2)
            else {
                return;
            };
            let data = self.held.remove(&seq).unwrap_or_default();
            self.held_octets -= data.len();
            let behind = next.wrapping_sub(seq) as usize;
            if behind < data.len() {
                self.append(&data[behind..]);
            } else {
                self.notes.retransmissions += 1;
            }
        }
    }

    /// Gives up on the gap before the first held segment: the octets in
    /// it are counted as missing and the stream continues after it.
    fn skip_gap(&mut self) {
        let (Some(next), Some((&first, _))) = (self.next_seq, self.held.iter().next()) else {
            return;
        };
        // The held segment closest ahead of `next`.
        let first = self
            .held
            .keys()
            .copied()
            .min_by_key(|s| s.wrapping_sub(next))
            .unwrap_or(first);
        self.notes.octets_missing += u64::from(first.wrapping_sub(next));
        self.next_seq = Some(first);
        // What was pending belongs before the gap: it can never complete.
        self.notes.octets_skipped += self.pending.len() as u64;
        self.pending.clear();
        self.drain_held();
    }

    /// The next complete control message, if the in-order bytes hold
    /// one. Garbage (a bad cookie or length) is skipped up to the next
    /// cookie.
    pub fn next_message(&mut self) -> Option<Vec<u8>> {
        loop {
            if self.pending.len() < 8 {
                return None;
            }
            let len = usize::from(u16::from_be_bytes([self.pending[0], self.pending[1]]));
            if self.pending[4..8] == MAGIC_COOKIE
                && (MIN_MESSAGE_LEN..=MAX_MESSAGE_LEN).contains(&len)
            {
                if self.pending.len() < len {
                    return None;
                }
                return Some(self.pending.drain(..len).collect());
            }
            // Not a message start: find the next cookie (4 octets after
            // a message start) and drop what is before it.
            let skip = self
                .pending
                .windows(4)
                .skip(5)
                .position(|w| w == MAGIC_COOKIE)
                .map_or(self.pending.len().saturating_sub(7), |p| p + 1);
            self.pending.drain(..skip);
            self.notes.octets_skipped += skip as u64;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(kind: u8, len: usize) -> Vec<u8> {
        let mut m = vec![0u8; len];
        m[..2].copy_from_slice(&(len as u16).to_be_bytes());
        m[3] = 1;
        m[4..8].copy_from_slice(&MAGIC_COOKIE);
        m[9] = kind;
        m
    }

    fn drain(r: &mut Reassembler) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| r.next_message()).collect()
    }

    #[test]
    fn any_chunking_reordering_and_retransmission_gives_the_messages() {
        let a = message(1, 156);
        let b = message(7, 168);
        let stream: Vec<u8> = [a.clone(), b.clone()].concat();
        let mut r = Reassembler::default();
        r.push(999, true, &[]);
        // Chunks of 7, delivered: 2nd, 1st, 1st again, then the rest with
        // one overlapping the previous.
        let chunks: Vec<(u32, &[u8])> = stream
            .chunks(7)
            .enumerate()
            .map(|(i, c)| (1000 + 7 * i as u32, c))
            .collect();
        r.push(chunks[1].0, false, chunks[1].1);
        r.push(chunks[0].0, false, chunks[0].1);
        r.push(chunks[0].0, false, chunks[0].1);
        let mut got = Vec::new();
        for (i, (seq, c)) in chunks.iter().enumerate().skip(2) {
            // Each segment resends the last 3 octets of the one before.
            let start = (7 * i - 3) as u32;
            r.push(
                1000 + start,
                false,
                &stream[start as usize..7 * i + c.len()],
            );
            let _ = seq;
            got.extend(drain(&mut r));
        }
        assert_eq!(got, vec![a, b]);
        assert!(r.notes().retransmissions > 0);
    }

    #[test]
    fn a_gap_never_filled_is_skipped_and_the_next_message_found() {
        let a = message(5, 16);
        let mut r = Reassembler::default();
        r.push(0, true, &[]);
        r.push(1, false, &a[..10]);
        // The rest of `a` is never captured; a flood of later data
        // arrives. Memory stays bounded and later messages still come.
        let b = message(6, 20);
        let mut seq = 1 + 16 + 5;
        for _ in 0..(2 * MAX_HELD_OCTETS / 20) {
            r.push(seq, false, &b);
            seq += 20;
        }
        let got = drain(&mut r);
        assert!(!got.is_empty() && got.iter().all(|m| *m == b));
        assert!(r.held_octets <= MAX_HELD_OCTETS);
        assert!(r.notes().octets_missing >= 5);
    }

    #[test]
    fn garbage_is_skipped_to_the_next_cookie() {
        let mut r = Reassembler::default();
        let mut bytes = vec![0xee; 33];
        bytes.extend(message(5, 16));
        r.push(0, false, &bytes);
        assert_eq!(drain(&mut r), vec![message(5, 16)]);
        assert_eq!(r.notes().octets_skipped, 33);
        let mut r = Reassembler::default();
        r.push(0, false, &[0xff; 5000]);
        assert!(drain(&mut r).is_empty());
        assert!(r.pending.len() < 8);
    }
}
