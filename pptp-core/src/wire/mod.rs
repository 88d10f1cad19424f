//! Zero-copy views and representations of PPTP's wire formats.

pub mod gre;
