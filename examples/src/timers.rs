//! Host timers of thousands of keys without scanning them: a binary heap
//! of deadlines with lazy invalidation. The server's AAA side (interim
//! accounting, Session-Timeout, Idle-Timeout per session) and pptp-load
//! (one endpoint per session) use it; the endpoint keeps its own sessions'
//! timers itself.
//!
//! Re-arming does not search the heap for the old entry: the key's current
//! `(deadline, generation)` lives in a map, and heap entries whose
//! generation is no longer current are dropped when they reach the top
//! (lazy invalidation). The heap is rebuilt from the map when stale
//! entries outnumber live ones, so its size stays within a constant factor
//! of the number of armed keys.

use std::cmp::Ordering;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;

/// One heap entry. Ordered so that the [`BinaryHeap`] (a max-heap) pops the
/// earliest deadline first; ties go to the oldest arming.
#[derive(Clone, Copy, Debug)]
struct Entry<K> {
    deadline: u64,
    generation: u64,
    key: K,
}

impl<K> PartialEq for Entry<K> {
    fn eq(&self, other: &Self) -> bool {
        (self.deadline, self.generation) == (other.deadline, other.generation)
    }
}

impl<K> Eq for Entry<K> {}

impl<K> PartialOrd for Entry<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Entry<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        (other.deadline, other.generation).cmp(&(self.deadline, self.generation))
    }
}

/// Deadlines (milliseconds of the host clock) keyed by `K`, at most one per
/// key. `set`, `pop_due` and `next_deadline` cost O(log n) amortised.
#[derive(Debug)]
pub struct TimerHeap<K> {
    heap: BinaryHeap<Entry<K>>,
    armed: HashMap<K, (u64, u64)>,
    next_generation: u64,
}

impl<K: Copy + Eq + Hash> Default for TimerHeap<K> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Copy + Eq + Hash> TimerHeap<K> {
    /// Stale entries tolerated beyond twice the live ones before a rebuild.
    const SLACK: usize = 1024;

    /// An empty heap.
    pub fn new() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            armed: HashMap::new(),
            next_generation: 0,
        }
    }

    /// Arms `key` for `deadline`, replacing its previous deadline; `None`
    /// disarms it.
    pub fn set(&mut self, key: K, deadline: Option<u64>) {
        let Some(deadline) = deadline else {
            self.armed.remove(&key);
            return;
        };
        if self.armed.get(&key).is_some_and(|&(d, _)| d == deadline) {
            return;
        }
        self.next_generation += 1;
        let generation = self.next_generation;
        self.armed.insert(key, (deadline, generation));
        self.heap.push(Entry {
            deadline,
            generation,
            key,
        });
        if self.heap.len() > 2 * self.armed.len() + Self::SLACK {
            self.rebuild();
        }
    }

    /// The deadline `key` is armed for.
    pub fn get(&self, key: K) -> Option<u64> {
        self.armed.get(&key).map(|&(d, _)| d)
    }

    /// The earliest armed deadline.
    pub fn next_deadline(&mut self) -> Option<u64> {
        self.drop_stale_top();
        self.heap.peek().map(|e| e.deadline)
    }

    /// Removes and returns one key whose deadline is at or before `now`
    /// (earliest first); the key is disarmed.
    pub fn pop_due(&mut self, now: u64) -> Option<K> {
        self.drop_stale_top();
        let top = self.heap.peek()?;
        if top.deadline > now {
            return None;
        }
        let entry = self.heap.pop()?;
        self.armed.remove(&entry.key);
        Some(entry.key)
    }

    /// Keys armed.
    pub fn len(&self) -> usize {
        self.armed.len()
    }

    /// Whether no key is armed.
    pub fn is_empty(&self) -> bool {
        self.armed.is_empty()
    }

    /// Entries in the heap, live and stale (for tests and status).
    pub fn heap_len(&self) -> usize {
        self.heap.len()
    }

    fn is_live(&self, e: &Entry<K>) -> bool {
        self.armed.get(&e.key).map(|&(_, g)| g) == Some(e.generation)
    }

    fn drop_stale_top(&mut self) {
        while let Some(top) = self.heap.peek() {
            if self.is_live(top) {
                return;
            }
            self.heap.pop();
        }
    }

    fn rebuild(&mut self) {
        self.heap = self
            .armed
            .iter()
            .map(|(&key, &(deadline, generation))| Entry {
                deadline,
                generation,
                key,
            })
            .collect();
    }
}

/// The earliest of some optional deadlines.
pub fn earliest(deadlines: impl IntoIterator<Item = Option<u64>>) -> Option<u64> {
    deadlines.into_iter().flatten().min()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pops_in_deadline_order_and_only_when_due() {
        let mut h = TimerHeap::new();
        h.set(1u32, Some(30));
        h.set(2, Some(10));
        h.set(3, Some(20));
        assert_eq!(h.next_deadline(), Some(10));
        assert_eq!(h.pop_due(9), None);
        assert_eq!(h.pop_due(25), Some(2));
        assert_eq!(h.pop_due(25), Some(3));
        assert_eq!(h.pop_due(25), None);
        assert_eq!(h.next_deadline(), Some(30));
        assert_eq!(h.len(), 1);
        assert_eq!(h.pop_due(u64::MAX), Some(1));
        assert!(h.is_empty());
        assert_eq!(h.next_deadline(), None);
    }

    #[test]
    fn rearming_replaces_the_old_deadline() {
        let mut h = TimerHeap::new();
        h.set(7u32, Some(10));
        h.set(7, Some(50));
        assert_eq!(h.get(7), Some(50));
        // The stale entry for 10 is skipped, not fired.
        assert_eq!(h.pop_due(20), None);
        assert_eq!(h.next_deadline(), Some(50));
        h.set(7, Some(5));
        assert_eq!(h.pop_due(5), Some(7));
        assert_eq!(h.pop_due(100), None, "fired once, then disarmed");
    }

    #[test]
    fn disarm_and_same_deadline() {
        let mut h = TimerHeap::new();
        h.set(1u32, Some(10));
        h.set(1, Some(10));
        assert_eq!(h.heap_len(), 1, "same deadline pushes nothing");
        h.set(1, None);
        assert_eq!(h.get(1), None);
        assert_eq!(h.next_deadline(), None);
        assert_eq!(h.pop_due(u64::MAX), None);
    }

    #[test]
    fn heap_stays_bounded_under_churn() {
        let mut h = TimerHeap::new();
        for round in 0..200u64 {
            for key in 0..100u32 {
                h.set(key, Some(1_000 + round * 7 + u64::from(key)));
            }
            assert!(h.heap_len() <= 2 * h.len() + TimerHeap::<u32>::SLACK + 1);
        }
        assert_eq!(h.len(), 100);
        let mut fired = Vec::new();
        while let Some(k) = h.pop_due(u64::MAX) {
            fired.push(k);
        }
        // Each key fires once, at its last deadline, in deadline order.
        assert_eq!(fired, (0..100).collect::<Vec<u32>>());
    }

    #[test]
    fn matches_a_linear_scan() {
        // A small deterministic random walk against the obvious model.
        let mut h = TimerHeap::new();
        let mut model: HashMap<u32, u64> = HashMap::new();
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut now = 0u64;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let key = (x % 64) as u32;
            match (x >> 8) % 4 {
                0 => {
                    h.set(key, None);
                    model.remove(&key);
                }
                1 => {
                    now += (x >> 16) % 5;
                    let expect_next = model.values().min().copied();
                    assert_eq!(h.next_deadline(), expect_next);
                    while let Some(k) = h.pop_due(now) {
                        let d = model.remove(&k).expect("fired key was armed");
                        assert!(d <= now);
                        assert!(model.values().all(|&o| o >= d), "earliest first");
                    }
                    assert!(model.values().all(|&d| d > now), "nothing due left");
                }
                _ => {
                    let d = now + (x >> 20) % 50;
                    h.set(key, Some(d));
                    model.insert(key, d);
                }
            }
            assert_eq!(h.len(), model.len());
        }
    }

    #[test]
    fn earliest_ignores_none() {
        assert_eq!(earliest([None, Some(4), Some(2)]), Some(2));
        assert_eq!(earliest([None, None]), None);
    }
}
