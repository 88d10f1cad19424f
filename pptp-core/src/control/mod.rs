//! The PPTP control connection (RFC 2637 §3): stream reassembly and the
//! connection/call state machine for both roles.

pub mod stream;

pub use stream::ControlStream;
