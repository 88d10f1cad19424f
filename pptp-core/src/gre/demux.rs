//! Demultiplexing arriving GRE datagrams to calls by call ID.
//!
//! A server with thousands of calls needs "which call owns call ID N?"
//! for every datagram, without allocating. [`CallTable`] is an
//! open-addressing hash table (linear probing, backward-shift deletion,
//! so no tombstones and no degradation after churn) over a fixed array
//! of `BUCKETS` entries, filled to at most 7/8.
//!
//! Memory, for a table mapping call IDs to `u16` slot indexes (6 octets
//! per bucket): `CallTable<u16, 8192>` is 48 KiB and holds 7168 calls;
//! `CallTable<u16, 1024>` is 6 KiB for 896. The alternative, a direct
//! 65536-entry index, costs 128 KiB whatever the number of calls and
//! cannot carry a value wider than the index; the hash table costs what
//! the host's call limit needs and stays O(1) on average: the keys are
//! our own call IDs (the host allocates them, so a peer cannot pick
//! colliding keys) and the multiplicative hash spreads sequential and
//! random IDs alike. A lookup for an absent ID (a stray or forged
//! datagram) stops at the first empty bucket, and every probe loop is
//! bounded by `BUCKETS` even in a full table.

use crate::wire::gre::{GreError, GrePacket};
use core::fmt;

/// Why a [`CallTable`] refused an insert.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallTableError {
    /// The table holds its maximum number of calls.
    Full {
        /// That maximum.
        capacity: usize,
    },
    /// The call ID is already in use.
    Duplicate {
        /// The call ID.
        call_id: u16,
    },
}

impl fmt::Display for CallTableError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CallTableError::Full { capacity } => write!(f, "call table full ({capacity} calls)"),
            CallTableError::Duplicate { call_id } => write!(f, "call ID {call_id} already in use"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for CallTableError {}

/// The call ID of a datagram, after the full header check: the first step
/// of demultiplexing.
pub fn peek_call_id(datagram: &[u8]) -> Result<u16, GreError> {
    GrePacket::new_checked(datagram).map(|p| p.call_id())
}

/// A fixed-size map from call ID to `V` (typically the index of the
/// host's per-call state). See the [module docs](self).
#[derive(Clone, Debug)]
pub struct CallTable<V: Copy, const BUCKETS: usize> {
    buckets: [Option<(u16, V)>; BUCKETS],
    len: usize,
}

impl<V: Copy, const BUCKETS: usize> Default for CallTable<V, BUCKETS> {
    fn default() -> Self {
        Self::new()
    }
}

impl<V: Copy, const BUCKETS: usize> CallTable<V, BUCKETS> {
    /// Maximum number of calls: 7/8 of the buckets (all of them below 8).
    pub const CAPACITY: usize = if BUCKETS < 8 {
        BUCKETS
    } else {
        BUCKETS - BUCKETS / 8
    };

    /// An empty table.
    pub const fn new() -> Self {
        CallTable {
            buckets: [None; BUCKETS],
            len: 0,
        }
    }

    /// Calls in the table.
    pub const fn len(&self) -> usize {
        self.len
    }

    /// No calls.
    pub const fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Maximum number of calls ([`Self::CAPACITY`]).
    pub const fn capacity(&self) -> usize {
        Self::CAPACITY
    }

    /// Home bucket: Fibonacci hashing, then a multiply-shift range
    /// reduction that works for any bucket count.
    fn home(call_id: u16) -> usize {
        let hash = u32::from(call_id).wrapping_mul(0x9E37_79B9);
        ((u64::from(hash) * BUCKETS as u64) >> 32) as usize
    }

    fn next(i: usize) -> usize {
        if i + 1 >= BUCKETS {
            0
        } else {
            i + 1
        }
    }

    /// Bucket holding `call_id`, if present.
    fn find(&self, call_id: u16) -> Option<usize> {
        let mut i = Self::home(call_id);
        for _ in 0..BUCKETS {
            match self.buckets.get(i).copied().flatten() {
                None => return None,
                Some((k, _)) if k == call_id => return Some(i),
                Some(_) => i = Self::next(i),
            }
        }
        None
    }

    /// The value for `call_id`.
    pub fn get(&self, call_id: u16) -> Option<V> {
        let i = self.find(call_id)?;
        self.buckets.get(i).copied().flatten().map(|(_, v)| v)
    }

    /// Whether `call_id` is in the table.
    pub fn contains(&self, call_id: u16) -> bool {
        self.find(call_id).is_some()
    }

    /// Add a call.
    pub fn insert(&mut self, call_id: u16, value: V) -> Result<(), CallTableError> {
        if self.find(call_id).is_some() {
            return Err(CallTableError::Duplicate { call_id });
        }
        if self.len >= Self::CAPACITY {
            return Err(CallTableError::Full {
                capacity: Self::CAPACITY,
            });
        }
        let mut i = Self::home(call_id);
        for _ in 0..BUCKETS {
            if let Some(bucket) = self.buckets.get_mut(i) {
                if bucket.is_none() {
                    *bucket = Some((call_id, value));
                    self.len += 1;
                    return Ok(());
                }
            }
            i = Self::next(i);
        }
        Err(CallTableError::Full {
            capacity: Self::CAPACITY,
        })
    }

    /// Remove a call, returning its value.
    pub fn remove(&mut self, call_id: u16) -> Option<V> {
        let mut hole = self.find(call_id)?;
        let removed = self.buckets.get_mut(hole)?.take().map(|(_, v)| v);
        self.len -= 1;
        // Backward-shift deletion: pull later members of the probe run
        // into the hole unless their home lies cyclically in (hole, j].
        let mut j = hole;
        for _ in 0..BUCKETS {
            j = Self::next(j);
            let Some(Some((key, value))) = self.buckets.get(j).copied() else {
                break;
            };
            let home = Self::home(key);
            let stays = if hole <= j {
                hole < home && home <= j
            } else {
                hole < home || home <= j
            };
            if !stays {
                if let Some(b) = self.buckets.get_mut(hole) {
                    *b = Some((key, value));
                }
                if let Some(b) = self.buckets.get_mut(j) {
                    *b = None;
                }
                hole = j;
            }
        }
        removed
    }

    /// All (call ID, value) pairs, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (u16, V)> + '_ {
        self.buckets.iter().filter_map(|b| *b)
    }

    /// Longest probe sequence any present key needs (a quality measure
    /// for tests and monitoring).
    pub fn max_probe_len(&self) -> usize {
        self.buckets
            .iter()
            .enumerate()
            .filter_map(|(i, b)| b.map(|(k, _)| (i + BUCKETS - Self::home(k)) % BUCKETS.max(1) + 1))
            .max()
            .unwrap_or(0)
    }
}
