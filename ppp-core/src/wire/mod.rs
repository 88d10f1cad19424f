//! Wire formats: zero-copy views and `Repr` types.

pub mod auth;
