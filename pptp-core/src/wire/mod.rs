//! Zero-copy wire formats of PPTP (RFC 2637).
//!
//! Each submodule holds views over byte buffers (`new_checked` once, then
//! infallible getters) and `Repr` types with `parse`/`emit`. Nothing here
//! keeps state; the machines in [`crate::control`] and [`crate::gre`] use
//! these types.

pub mod control;
pub mod gre;
