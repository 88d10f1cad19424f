//! Shared helpers for the criterion benchmarks in this folder. The
//! benchmarks themselves are the `[[bench]]` targets in `Cargo.toml`.
