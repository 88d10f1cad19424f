//! One server over several endpoints, one per core.
//!
//! A GRE packet names its session only by the Call ID it carries, which is
//! the receiver's own (RFC 2637 §4.1: "the Peer's Call ID for the session
//! to which this packet belongs"). A server that gives each worker its own
//! share of the Call ID space therefore lets the host steer every GRE
//! packet to the worker that owns its session before anything parses it
//! (on Linux a socket filter on each worker's raw socket does it in the
//! kernel), and the workers share no state on the data path.
//!
//! [`ServerConfig::worker`] splits the rest of a server's configuration the
//! same way, so that the workers together keep the bounds one endpoint
//! would: the address pool and `max_sessions` are divided exactly, and the
//! per-source bounds and the login throttle's counts are divided rounding
//! up (the kernel spreads one source's connections over the workers).

use super::types::ServerConfig;
use core::net::Ipv4Addr;

/// The most workers one server may be split into.
pub const MAX_WORKERS: u16 = 64;

/// Which share of the Call ID space an endpoint allocates from: the IDs
/// `id` with `id % count == index`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallIdShard {
    index: u16,
    count: u16,
}

impl Default for CallIdShard {
    fn default() -> Self {
        CallIdShard::WHOLE
    }
}

impl CallIdShard {
    /// The whole space (one endpoint).
    pub const WHOLE: CallIdShard = CallIdShard { index: 0, count: 1 };

    /// Share `index` of `count` (`index < count <= MAX_WORKERS`).
    pub fn new(index: u16, count: u16) -> Option<Self> {
        ((1..=MAX_WORKERS).contains(&count) && index < count)
            .then_some(CallIdShard { index, count })
    }

    /// This share's number.
    pub fn index(&self) -> u16 {
        self.index
    }

    /// How many shares there are.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The share that owns `call_id` among `count` (what a host's
    /// demultiplexer computes for a received GRE packet).
    pub fn owner(call_id: u16, count: u16) -> u16 {
        call_id % count.max(1)
    }

    /// Whether `call_id` is in this share.
    pub fn owns(&self, call_id: u16) -> bool {
        Self::owner(call_id, self.count) == self.index
    }

    /// The largest dense number `x` with `to_wire(x) <= 65,535`.
    pub(crate) fn dense_max(&self) -> u32 {
        (65_535 - u32::from(self.index)) / u32::from(self.count)
    }

    /// The Call ID of dense number `x` (`x <= dense_max()`).
    pub(crate) fn to_wire(self, x: u32) -> u16 {
        (x * u32::from(self.count) + u32::from(self.index)) as u16
    }

    /// The dense number of `call_id`, if it is in this share.
    pub(crate) fn to_dense(self, call_id: u16) -> Option<u32> {
        self.owns(call_id)
            .then_some(u32::from(call_id) / u32::from(self.count))
    }
}

/// Why [`ServerConfig::worker`] cannot split a configuration.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum ShardError {
    /// `index` is not below `count`, or `count` is 0 or above
    /// [`MAX_WORKERS`].
    Index,
    /// The address pool has fewer addresses than workers.
    Pool,
}

impl core::fmt::Display for ShardError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            ShardError::Index => "worker index not below the worker count, or count not 1-64",
            ShardError::Pool => "the address pool has fewer addresses than workers",
        })
    }
}

/// Part `index` of `total` split into `count` parts as evenly as possible
/// (the first `total % count` parts one larger): the parts sum to `total`.
fn part(total: u64, index: u16, count: u16) -> u64 {
    let (index, count) = (u64::from(index), u64::from(count));
    total / count + u64::from(index < total % count)
}

/// `limit / count` rounded up, at least 1 (a limit of 0 stays 0).
fn per_worker(limit: usize, count: u16) -> usize {
    if limit == 0 || limit == usize::MAX {
        return limit;
    }
    limit.div_ceil(usize::from(count)).max(1)
}

impl ServerConfig {
    /// The configuration of worker `index` of `count` sharing this
    /// server's address and port:
    ///
    /// - its own share of Call IDs ([`CallIdShard`]), so GRE packets can
    ///   be steered to it by their Call ID;
    /// - its own slice of the address pool (contiguous, so the host routes
    ///   each slice to its worker's TUN device) and of `max_sessions`, and
    ///   of `limits.max_unauthenticated` when set: these are divided
    ///   exactly;
    /// - the per-source bounds (`max_unauthenticated_per_source`,
    ///   `max_connections_per_source`) and the login throttle's
    ///   `free_failures` and `block_after` divided rounding up, so that a
    ///   source whose connections the kernel spreads over all workers
    ///   still gets about one endpoint's share in total;
    /// - `max_sessions_per_user` divided rounding up, at least 1: a user
    ///   limited to one session may hold one per worker, since the
    ///   workers share no state (the host may enforce a global limit with
    ///   a shared verifier).
    pub fn worker(&self, index: u16, count: u16) -> Result<ServerConfig, ShardError> {
        let shard = CallIdShard::new(index, count).ok_or(ShardError::Index)?;
        let mut c = self.clone();
        c.call_ids = shard;
        let (first, last) = (u32::from(self.pool.0), u32::from(self.pool.1));
        let total = u64::from(last.saturating_sub(first)) + 1;
        if last < first || total < u64::from(count) {
            return Err(ShardError::Pool);
        }
        let start: u64 = (0..index).map(|i| part(total, i, count)).sum();
        let size = part(total, index, count);
        let slice_first = u64::from(first) + start;
        c.pool = (
            Ipv4Addr::from(slice_first as u32),
            Ipv4Addr::from((slice_first + size - 1) as u32),
        );
        if self.max_sessions != usize::MAX {
            c.max_sessions = part(self.max_sessions as u64, index, count) as usize;
        }
        if self.limits.max_unauthenticated != 0 && self.limits.max_unauthenticated != usize::MAX {
            c.limits.max_unauthenticated =
                (part(self.limits.max_unauthenticated as u64, index, count) as usize).max(1);
        }
        let l = &mut c.limits;
        l.max_unauthenticated_per_source = per_worker(l.max_unauthenticated_per_source, count);
        l.max_connections_per_source = per_worker(l.max_connections_per_source, count);
        l.max_sessions_per_user = per_worker(l.max_sessions_per_user, count);
        if let Some(t) = c.login_throttle.as_mut() {
            t.free_failures = per_worker(usize::from(t.free_failures), count) as u16;
            t.block_after = per_worker(usize::from(t.block_after), count) as u16;
        }
        Ok(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp_core::link::LinkConfig;

    fn config(first: [u8; 4], last: [u8; 4]) -> ServerConfig {
        let link = LinkConfig::server(Ipv4Addr::new(192, 0, 2, 1), [None, None]);
        ServerConfig::new(link, Ipv4Addr::from(first), Ipv4Addr::from(last))
    }

    #[test]
    fn shares_partition_the_call_id_space() {
        for count in [1u16, 2, 3, 7, 64] {
            for id in [1u16, 2, 100, 65_534, 65_535] {
                let owners = (0..count)
                    .filter(|&i| CallIdShard::new(i, count).unwrap().owns(id))
                    .count();
                assert_eq!(owners, 1, "id {id} among {count}");
            }
            for index in 0..count {
                let s = CallIdShard::new(index, count).unwrap();
                for x in [0, 1, 2, s.dense_max()] {
                    let id = s.to_wire(x);
                    assert!(s.owns(id));
                    assert_eq!(s.to_dense(id), Some(x));
                }
                assert!(u32::from(s.to_wire(s.dense_max())) + u32::from(count) > 65_535);
            }
        }
        assert_eq!(CallIdShard::new(2, 2), None);
        assert_eq!(CallIdShard::new(0, 0), None);
        assert_eq!(CallIdShard::new(0, MAX_WORKERS + 1), None);
    }

    #[test]
    fn workers_split_the_pool_and_the_session_limit_exactly() {
        let mut whole = config([10, 0, 0, 10], [10, 0, 0, 20]); // 11 addresses
        whole.max_sessions = 11;
        let parts: [ServerConfig; 3] = core::array::from_fn(|i| whole.worker(i as u16, 3).unwrap());
        assert_eq!(
            parts[0].pool,
            (Ipv4Addr::new(10, 0, 0, 10), Ipv4Addr::new(10, 0, 0, 13))
        );
        assert_eq!(
            parts[1].pool,
            (Ipv4Addr::new(10, 0, 0, 14), Ipv4Addr::new(10, 0, 0, 17))
        );
        assert_eq!(
            parts[2].pool,
            (Ipv4Addr::new(10, 0, 0, 18), Ipv4Addr::new(10, 0, 0, 20))
        );
        assert_eq!(parts.iter().map(|p| p.max_sessions).sum::<usize>(), 11);
        assert_eq!(parts[1].call_ids, CallIdShard::new(1, 3).unwrap());
        // Per-source bounds: 8 and 32 by default, each rounded up.
        assert_eq!(parts[0].limits.max_unauthenticated_per_source, 3);
        assert_eq!(parts[0].limits.max_connections_per_source, 11);
        assert_eq!(parts[0].limits.max_sessions_per_user, 1);
        let t = parts[0].login_throttle.unwrap();
        assert_eq!((t.free_failures, t.block_after), (1, 4));
        // One worker is the whole configuration.
        let one = whole.worker(0, 1).unwrap();
        assert_eq!((one.pool, one.max_sessions), (whole.pool, 11));
        assert_eq!(one.limits, whole.limits);
    }

    #[test]
    fn a_split_that_cannot_be_made_is_refused() {
        let small = config([10, 0, 0, 1], [10, 0, 0, 2]);
        assert_eq!(small.worker(0, 3).unwrap_err(), ShardError::Pool);
        assert_eq!(small.worker(3, 3).unwrap_err(), ShardError::Index);
        let reversed = config([10, 0, 0, 9], [10, 0, 0, 1]);
        assert_eq!(reversed.worker(0, 2).unwrap_err(), ShardError::Pool);
    }
}
