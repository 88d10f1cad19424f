//! Per-call state kept by a control connection (RFC 2637 §3.2).

use crate::time::Instant;
use crate::wire::control::{BearerCapabilities, FramingCapabilities};

/// Which exchange created a call (RFC 2637 §3.2.3 and §3.2.4 name calls after
/// the direction the PAC sees them in).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallDirection {
    /// Set up by Outgoing-Call-Request / -Reply: the client (PNS) asked the
    /// server (PAC) to place the call. The dial-in VPN case.
    Outgoing,
    /// Set up by Incoming-Call-Request / -Reply / -Connected: the server
    /// (PAC) announced a call to the client (PNS).
    Incoming,
}

/// Where a call is in its life (RFC 2637 §3.2.3.1, §3.2.3.2, §3.2.4.1, §3.2.4.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallState {
    /// We sent OCRQ (client) or ICRQ (server) and wait for the reply.
    WaitReply,
    /// The peer sent OCRQ/ICRQ; the host must accept or reject it.
    WaitHost,
    /// Client only: we sent a positive ICRP and wait for ICCN.
    WaitConnect,
    /// The call is up: PPP runs over GRE with the peer's call ID.
    Established,
    /// Client only: we sent Call-Clear-Request and wait for
    /// Call-Disconnect-Notify.
    WaitDisconnect,
}

/// A read-only snapshot of one call, for hosts that show sessions (the
/// PIX's `show vpdn session`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallSnapshot {
    /// Our call ID (none while a peer's request waits for the host).
    pub local_call_id: Option<u16>,
    /// The peer's call ID (none until the peer has told us).
    pub peer_call_id: Option<u16>,
    /// Which exchange created the call.
    pub direction: CallDirection,
    /// Current state.
    pub state: CallState,
    /// When the call was requested (sent or received).
    pub created_at: Instant,
    /// When it reached [`CallState::Established`].
    pub established_at: Option<Instant>,
    /// The peer's Packet Receive Window Size (0 until known).
    pub peer_recv_window: u16,
    /// The peer's Packet Processing / Transmit Delay in 1/10 s.
    pub peer_processing_delay: u16,
    /// Framing in use.
    pub framing: FramingCapabilities,
    /// Bearer in use.
    pub bearer: BearerCapabilities,
    /// Connect speed in bits per second (0 until known).
    pub connect_speed: u32,
}

/// One entry of the call table.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Call {
    pub(crate) snapshot: CallSnapshot,
    /// Deadline of the reply we wait for, if any.
    pub(crate) deadline: Option<Instant>,
    /// Our receive window and delay, sent in ICCN (server, incoming).
    pub(crate) local_recv_window: u16,
    pub(crate) local_processing_delay: u16,
    /// Set when a clear could not be queued at once; the connection sends
    /// it as soon as its outbound queue has room.
    pub(crate) clear_pending: bool,
}

impl Call {
    pub(crate) fn new(direction: CallDirection, state: CallState, now: Instant) -> Self {
        Call {
            snapshot: CallSnapshot {
                local_call_id: None,
                peer_call_id: None,
                direction,
                state,
                created_at: now,
                established_at: None,
                peer_recv_window: 0,
                peer_processing_delay: 0,
                framing: FramingCapabilities::NONE,
                bearer: BearerCapabilities::NONE,
                connect_speed: 0,
            },
            deadline: None,
            local_recv_window: 0,
            local_processing_delay: 0,
            clear_pending: false,
        }
    }

    pub(crate) fn state(&self) -> CallState {
        self.snapshot.state
    }

    pub(crate) fn local_id(&self) -> Option<u16> {
        self.snapshot.local_call_id
    }

    pub(crate) fn peer_id(&self) -> Option<u16> {
        self.snapshot.peer_call_id
    }
}
