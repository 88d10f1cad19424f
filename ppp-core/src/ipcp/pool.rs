//! A bounded IPv4 address pool for the server side of IPCP.
//!
//! The PIX's `ip local pool pptp-pool 192.168.1.1-192.168.1.50` hands one
//! address to each dial-in client and takes it back when the session ends.
//! [`AddressPool`] is that: a contiguous range of at most `64 * WORDS`
//! addresses tracked in a fixed bitmap, no allocation, O(range/64)
//! allocation. Several IPCP machines share one pool through the host (the
//! pool is owned by the host and borrowed per call), so one session's
//! address is never given to another.

use core::fmt;
use core::net::Ipv4Addr;

/// Why a pool could not be built or could not hand out an address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
#[non_exhaustive]
pub enum PoolError {
    /// The range's first address is above its last.
    EmptyRange,
    /// The range holds more addresses than the pool's bitmap can track.
    RangeTooLarge {
        /// Addresses in the requested range.
        requested: u32,
        /// Addresses this pool type can track.
        capacity: u32,
    },
    /// Every address is in use.
    Exhausted,
    /// The address is not in the pool's range.
    NotInPool,
    /// The address is already allocated (on `reserve`) or was not
    /// allocated (on `release`).
    WrongState,
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::EmptyRange => f.write_str("address pool range is empty"),
            PoolError::RangeTooLarge {
                requested,
                capacity,
            } => {
                write!(
                    f,
                    "address pool range of {requested} addresses exceeds capacity {capacity}"
                )
            }
            PoolError::Exhausted => f.write_str("address pool exhausted"),
            PoolError::NotInPool => f.write_str("address is not in the pool"),
            PoolError::WrongState => f.write_str("address is not in the expected allocation state"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for PoolError {}

/// A range of IPv4 addresses handed out one per session.
///
/// `WORDS` 64-bit words of bitmap: `AddressPool<1>` tracks up to 64
/// addresses, `AddressPool<1024>` a /16.
#[derive(Clone, Debug)]
pub struct AddressPool<const WORDS: usize> {
    first: u32,
    len: u32,
    in_use: [u64; WORDS],
    allocated: u32,
    /// Where the next search starts, so a released address is not handed
    /// straight to the next client (stale routes and ARP entries on the
    /// peer side clear first).
    cursor: u32,
}

impl<const WORDS: usize> AddressPool<WORDS> {
    /// Addresses this pool type can track.
    pub const CAPACITY: u32 = (WORDS as u32).saturating_mul(64);

    /// A pool of `first..=last`.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, PoolError> {
        let (first, last) = (u32::from(first), u32::from(last));
        if first > last {
            return Err(PoolError::EmptyRange);
        }
        let requested = (last - first).saturating_add(1);
        if requested > Self::CAPACITY {
            return Err(PoolError::RangeTooLarge {
                requested,
                capacity: Self::CAPACITY,
            });
        }
        Ok(AddressPool {
            first,
            len: requested,
            in_use: [0; WORDS],
            allocated: 0,
            cursor: 0,
        })
    }

    /// The range's first address.
    pub fn first(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first)
    }

    /// The range's last address.
    pub fn last(&self) -> Ipv4Addr {
        Ipv4Addr::from(self.first + (self.len - 1))
    }

    /// Addresses in the range.
    pub fn size(&self) -> u32 {
        self.len
    }

    /// Addresses currently handed out.
    pub fn allocated(&self) -> u32 {
        self.allocated
    }

    /// Whether `addr` is in the range (allocated or not).
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.index(addr).is_some()
    }

    /// Whether `addr` is currently handed out.
    pub fn is_allocated(&self, addr: Ipv4Addr) -> bool {
        self.index(addr).is_some_and(|i| self.bit(i))
    }

    /// Hands out the next free address.
    pub fn allocate(&mut self) -> Result<Ipv4Addr, PoolError> {
        if self.allocated >= self.len {
            return Err(PoolError::Exhausted);
        }
        for step in 0..self.len {
            let i = (self.cursor + step) % self.len;
            if !self.bit(i) {
                self.set(i, true);
                self.allocated += 1;
                self.cursor = (i + 1) % self.len;
                return Ok(Ipv4Addr::from(self.first + i));
            }
        }
        Err(PoolError::Exhausted)
    }

    /// Takes a specific address, e.g. the one a reconnecting client asks
    /// for in its IPCP Configure-Request.
    pub fn reserve(&mut self, addr: Ipv4Addr) -> Result<(), PoolError> {
        let i = self.index(addr).ok_or(PoolError::NotInPool)?;
        if self.bit(i) {
            return Err(PoolError::WrongState);
        }
        self.set(i, true);
        self.allocated += 1;
        Ok(())
    }

    /// Gives an address back when its session ends.
    pub fn release(&mut self, addr: Ipv4Addr) -> Result<(), PoolError> {
        let i = self.index(addr).ok_or(PoolError::NotInPool)?;
        if !self.bit(i) {
            return Err(PoolError::WrongState);
        }
        self.set(i, false);
        self.allocated -= 1;
        Ok(())
    }

    fn index(&self, addr: Ipv4Addr) -> Option<u32> {
        let offset = u32::from(addr).checked_sub(self.first)?;
        (offset < self.len).then_some(offset)
    }

    fn bit(&self, i: u32) -> bool {
        let (word, bit) = ((i / 64) as usize, i % 64);
        self.in_use.get(word).is_some_and(|w| w & (1 << bit) != 0)
    }

    fn set(&mut self, i: u32, on: bool) {
        let (word, bit) = ((i / 64) as usize, i % 64);
        if let Some(w) = self.in_use.get_mut(word) {
            if on {
                *w |= 1 << bit;
            } else {
                *w &= !(1 << bit);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pix_pool() -> AddressPool<1> {
        // The origin document's `ip local pool pptp-pool 192.168.1.1-192.168.1.50`.
        AddressPool::new(
            Ipv4Addr::new(192, 168, 1, 1),
            Ipv4Addr::new(192, 168, 1, 50),
        )
        .unwrap()
    }

    #[test]
    fn hands_out_every_address_once_then_reports_exhaustion() {
        let mut pool = pix_pool();
        let mut seen = [false; 50];
        for _ in 0..50 {
            let a = pool.allocate().unwrap();
            let i = usize::from(a.octets()[3]) - 1;
            assert!(!seen[i], "{a} handed out twice");
            seen[i] = true;
        }
        assert_eq!(pool.allocate(), Err(PoolError::Exhausted));
        assert_eq!(pool.allocated(), 50);
    }

    #[test]
    fn released_address_is_reused_only_after_the_others() {
        let mut pool = pix_pool();
        let a = pool.allocate().unwrap();
        let b = pool.allocate().unwrap();
        pool.release(a).unwrap();
        assert_eq!(pool.allocated(), 1);
        // The cursor moves on: the next client gets .3, not the freed .1.
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(192, 168, 1, 3));
        assert_ne!(b, a);
        for _ in 0..47 {
            pool.allocate().unwrap();
        }
        // Only the released one is left.
        assert_eq!(pool.allocate().unwrap(), a);
        assert_eq!(pool.allocate(), Err(PoolError::Exhausted));
    }

    #[test]
    fn exhaustion_then_release_makes_room() {
        let mut pool =
            AddressPool::<1>::new(Ipv4Addr::new(10, 0, 0, 1), Ipv4Addr::new(10, 0, 0, 2)).unwrap();
        let a = pool.allocate().unwrap();
        pool.allocate().unwrap();
        assert_eq!(pool.allocate(), Err(PoolError::Exhausted));
        pool.release(a).unwrap();
        assert_eq!(pool.allocate().unwrap(), a);
    }

    #[test]
    fn bad_ranges_and_addresses_are_typed_errors() {
        let lo = Ipv4Addr::new(10, 0, 0, 1);
        let hi = Ipv4Addr::new(10, 0, 1, 0);
        assert_eq!(
            AddressPool::<1>::new(hi, lo).unwrap_err(),
            PoolError::EmptyRange
        );
        assert_eq!(
            AddressPool::<1>::new(lo, hi).unwrap_err(),
            PoolError::RangeTooLarge {
                requested: 256,
                capacity: 64
            }
        );
        let all =
            AddressPool::<1>::new(Ipv4Addr::new(0, 0, 0, 0), Ipv4Addr::new(255, 255, 255, 255));
        assert!(matches!(
            all,
            Err(PoolError::RangeTooLarge {
                requested: u32::MAX,
                ..
            })
        ));
        let mut pool = pix_pool();
        assert_eq!(
            pool.release(Ipv4Addr::new(192, 168, 1, 7)),
            Err(PoolError::WrongState)
        );
        assert_eq!(
            pool.release(Ipv4Addr::new(192, 168, 2, 7)),
            Err(PoolError::NotInPool)
        );
        pool.reserve(Ipv4Addr::new(192, 168, 1, 7)).unwrap();
        assert_eq!(
            pool.reserve(Ipv4Addr::new(192, 168, 1, 7)),
            Err(PoolError::WrongState)
        );
        assert!(pool.is_allocated(Ipv4Addr::new(192, 168, 1, 7)));
        assert!(!pool.contains(Ipv4Addr::new(192, 168, 1, 51)));
    }

    #[test]
    fn a_large_pool_spans_many_words() {
        let mut pool =
            AddressPool::<1024>::new(Ipv4Addr::new(10, 1, 0, 0), Ipv4Addr::new(10, 1, 255, 255))
                .unwrap();
        for _ in 0..65_536 {
            pool.allocate().unwrap();
        }
        assert_eq!(pool.allocate(), Err(PoolError::Exhausted));
        pool.release(Ipv4Addr::new(10, 1, 200, 3)).unwrap();
        assert_eq!(pool.allocate().unwrap(), Ipv4Addr::new(10, 1, 200, 3));
    }
}
