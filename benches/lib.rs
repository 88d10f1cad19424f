//! Shared helpers for the criterion benchmarks in this folder. The
//! benchmarks themselves are the `[[bench]]` targets in `Cargo.toml`.

use std::time::{Duration, Instant};

/// Runs `f` in 7 rounds of about `budget / 7` each and returns the best
/// round's nanoseconds per call: on a shared machine the minimum is the
/// figure least disturbed by other load.
pub fn time_per_call(budget: Duration, mut f: impl FnMut()) -> f64 {
    for _ in 0..1000 {
        f();
    }
    let round = budget / 7;
    let mut best = f64::INFINITY;
    for _ in 0..7 {
        let mut calls = 0u64;
        let start = Instant::now();
        let mut elapsed = Duration::ZERO;
        while elapsed < round {
            for _ in 0..200 {
                f();
            }
            calls += 200;
            elapsed = start.elapsed();
        }
        best = best.min(elapsed.as_nanos() as f64 / calls as f64);
    }
    best
}

/// Megabytes per second for `size` octets in `ns` nanoseconds.
pub fn mbps(size: usize, ns: f64) -> f64 {
    size as f64 / ns * 1e3
}
