//! 32-bit serial-number arithmetic for GRE sequence and acknowledgment
//! numbers (RFC 1982 with SERIAL_BITS = 32).
//!
//! RFC 2637 §4.1 numbers GRE packets with a 32-bit counter that wraps,
//! so "later" means "less than 2^31 ahead modulo 2^32". The one pair
//! RFC 1982 leaves undefined (exactly 2^31 apart) is resolved here as
//! "earlier", which makes every comparison total and deterministic.

/// Signed distance `a - b` in serial arithmetic: positive when `a` is
/// after `b`, negative when before.
pub const fn distance(a: u32, b: u32) -> i32 {
    a.wrapping_sub(b) as i32
}

/// `a` is strictly after `b`.
pub const fn is_after(a: u32, b: u32) -> bool {
    distance(a, b) > 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_around() {
        assert!(is_after(0, u32::MAX));
        assert!(is_after(5, 0xffff_fff0));
        assert!(!is_after(0xffff_fff0, 5));
        assert_eq!(distance(2, u32::MAX), 3);
        assert_eq!(distance(u32::MAX, 2), -3);
        assert!(!is_after(7, 7));
        // The RFC 1982 undefined pair: resolved as "earlier" both ways.
        assert!(!is_after(0x8000_0000, 0));
        assert!(!is_after(0, 0x8000_0000));
    }
}
