//! The PPTP control connection (RFC 2637 §3) as a Sans-IO machine.
//!
//! [`Connection`] is one TCP control connection, in either role (see
//! [`crate::Role`] for the PAC/PNS mapping), carrying up to `MAX_CALLS`
//! calls. The host owns the TCP socket and the clock; the machine owns the
//! protocol:
//!
//! * start-up (SCCRQ/SCCRP) with the version check and the §3.1.3
//!   collision rule ([`Connection::handle_collision`]);
//! * keepalive (§3.1.4): an Echo-Request after [`Config::echo_interval`]
//!   without any message from the peer, teardown if the Echo-Reply does
//!   not come within [`Config::echo_timeout`];
//! * calls in both directions — Outgoing-Call-Request/-Reply (§3.2.4) and
//!   Incoming-Call-Request/-Reply/-Connected (§3.2.3) — with call IDs chosen
//!   by the host and checked for uniqueness;
//! * clearing one call (the client sends Call-Clear-Request, the server
//!   Call-Disconnect-Notify, as §2.12/§2.13 assign them), clearing the
//!   tunnel ([`Connection::close`]: every call first, then
//!   Stop-Control-Connection-Request);
//! * Set-Link-Info and WAN-Error-Notify, sent and surfaced as events;
//! * reply timeouts for every request ([`Config::reply_timeout`]);
//! * a compact parked form for the quiet established state of a one-call
//!   tunnel ([`Connection::park`], [`ParkedConnection`],
//!   [`Connection::unpark`]), for servers that hold many sessions.
//!
//! # Policies
//!
//! * **Framing errors** (bad magic cookie, impossible Length): the stream
//!   cannot be resynchronised (see [`stream`]), so the connection closes at
//!   once without sending anything more; [`Event::TunnelDown`] carries
//!   [`TunnelDownReason::ProtocolError`] and `handle_input` returns the
//!   error. The host then closes the TCP connection.
//! * **Malformed or unknown messages inside a good frame** (unknown control
//!   type, PPTP message type ≠ 1, wrong Length for the type): counted in
//!   [`TunnelStats::dropped_malformed`]; then, as RFC 2637 §3 asks ("the
//!   control connection should be closed and restarted"), the connection
//!   sends Stop-Control-Connection-Request and closes, with
//!   [`TunnelDownReason::ProtocolError`]. [`Config::close_on_malformed`] =
//!   `false` only drops them. A malformed SCCRQ during start-up is answered
//!   with SCCRP result 2 (General Error), error 2 (Bad-Format) and the
//!   connection closes (§2.2, §2.16).
//! * **Replies that do not come** within [`Config::reply_timeout`]: at
//!   start-up and for StopCCRP the connection closes ([`TunnelDownReason::Timeout`]);
//!   for a call (OCRP, ICRP, ICCN, CDN) the call goes down with
//!   [`CallDownReason::Timeout`] and, per §3, the connection closes too,
//!   unless [`Config::close_on_call_timeout`] is `false`. If our own host
//!   does not answer a peer's request in time, the peer gets OCRP result 6
//!   (Time-out) or ICRP result 3 and only that request ends.
//! * **Valid messages the state or role does not expect** (an SCCRP once
//!   established, an Echo-Reply nobody asked for, a reply for an unknown
//!   call): dropped and counted in [`TunnelStats::dropped_unexpected`]. A
//!   request sent to the wrong role (OCRQ to a client, ICRQ to a server) is
//!   refused with "Do Not Accept" so the peer does not wait for a reply.
//! * **Calls past `MAX_CALLS`**: refused with result 2 (General Error),
//!   error 4 (No-Resource) (§2.8, §2.10, §2.16: "insufficient resources to
//!   handle this command"); "Busy" (OCRP result 4) means a busy line and
//!   "Do Not Accept" an administrative refusal, which is what
//!   [`CallRefusal::DoNotAccept`] sends.
//! * **Bounded queues**: the outbound queue holds [`OUTBOUND_QUEUE`]
//!   messages and the event queue [`EVENT_QUEUE`] events. A host command
//!   that does not fit gets [`Error::QueueFull`] and changes nothing.
//!   Clears (one call, or all of them on close) that do not fit are
//!   remembered per call and sent as room appears. When the tunnel goes
//!   down, its calls are reported one by one from `poll_event`, so even
//!   thousands of calls never overflow the event queue. Input is the one
//!   place the peer controls the volume: [`Connection::handle_input_partial`]
//!   stops before a message whose reply or event would not fit and tells
//!   the host how much it consumed, so nothing is ever lost;
//!   [`Connection::handle_input`] takes everything and drops (and counts,
//!   in [`TunnelStats::dropped_queue_full`] and
//!   [`TunnelStats::events_dropped`]) what does not fit.
//!
//! # A complete host loop for each role
//!
//! Both machines run here in memory, connected by two byte pipes that
//! stand in for the TCP connection; a real host reads and writes a
//! `TcpStream` instead and arms a timer with `poll_timeout`.
//!
//! ```
//! use pptp_core::control::{CallAccept, CallParams, Config, Connection, Event};
//! use pptp_core::{Duration, Instant, Role};
//!
//! /// One turn of the client's host: TCP bytes in, events, TCP bytes out.
//! /// Returns when the host must call `handle_timeout` next.
//! fn client_turn(conn: &mut Connection<4>, now: Instant, tcp_in: &[u8], tcp_out: &mut Vec<u8>) -> Option<Instant> {
//!     if !tcp_in.is_empty() {
//!         conn.handle_input(now, tcp_in).expect("stream broken: close the socket");
//!     }
//!     while let Some(event) = conn.poll_event() {
//!         match event {
//!             // Dial as soon as the tunnel is up; call ID 7 is ours.
//!             Event::TunnelUp(_) => conn.place_call(now, 7, &CallParams::default()).unwrap(),
//!             Event::CallUp(up) => println!("client: GRE to peer call {}", up.peer_call_id),
//!             Event::CallDown(down) => println!("client: call down: {:?}", down.reason),
//!             Event::TunnelDown(why) => println!("client: tunnel down: {why:?}"),
//!             _ => {}
//!         }
//!     }
//!     let mut buf = [0u8; 1500];
//!     while let Some(t) = conn.poll_transmit(now, &mut buf) {
//!         tcp_out.extend_from_slice(&buf[..t.len]); // socket.write_all(...)
//!     }
//!     conn.poll_timeout()
//! }
//!
//! /// One turn of the server's host: accepts every call as call ID 42.
//! fn server_turn(conn: &mut Connection<4>, now: Instant, tcp_in: &[u8], tcp_out: &mut Vec<u8>) -> Option<Instant> {
//!     if !tcp_in.is_empty() {
//!         conn.handle_input(now, tcp_in).expect("stream broken: close the socket");
//!     }
//!     while let Some(event) = conn.poll_event() {
//!         match event {
//!             Event::CallRequested(request) => conn
//!                 .accept_call(now, request.peer_call_id, 42, &CallAccept::default())
//!                 .unwrap(),
//!             Event::LinkInfo { send_accm, .. } => println!("server: ACCM {send_accm:#x}"),
//!             _ => {}
//!         }
//!     }
//!     let mut buf = [0u8; 1500];
//!     while let Some(t) = conn.poll_transmit(now, &mut buf) {
//!         tcp_out.extend_from_slice(&buf[..t.len]);
//!     }
//!     conn.poll_timeout()
//! }
//!
//! let mut now = Instant::ZERO;
//! let mut client: Connection<4> = Connection::new(Role::Client, Config::default(), now);
//! let mut server: Connection<4> = Connection::new(Role::Server, Config::default(), now);
//! // The two directions of the "TCP connection".
//! let (mut to_server, mut to_client) = (Vec::new(), Vec::new());
//!
//! // Run both hosts until the wire is quiet: SCCRQ/SCCRP, OCRQ/OCRP.
//! let mut run = |now: Instant, client: &mut Connection<4>, server: &mut Connection<4>| loop {
//!     let (c2s, s2c) = (std::mem::take(&mut to_server), std::mem::take(&mut to_client));
//!     let client_timer = client_turn(client, now, &s2c, &mut to_server);
//!     let server_timer = server_turn(server, now, &c2s, &mut to_client);
//!     if to_server.is_empty() && to_client.is_empty() {
//!         return client_timer.into_iter().chain(server_timer).min();
//!     }
//! };
//! let next_timer = run(now, &mut client, &mut server);
//! assert_eq!(client.call(7).unwrap().peer_call_id, Some(42));
//! client.set_link_info(now, 7, 0, 0xffff_ffff).unwrap();
//! run(now, &mut client, &mut server);
//!
//! // Nothing happens for a minute: the keepalive timer fires and the
//! // Echo-Request / Echo-Reply exchange keeps the tunnel up.
//! let due = next_timer.unwrap();
//! assert_eq!(due, Instant::ZERO + Duration::from_secs(60));
//! now = due;
//! client.handle_timeout(now);
//! server.handle_timeout(now);
//! run(now, &mut client, &mut server);
//! assert_eq!(client.stats().echo_replies_received, 1);
//!
//! // Tear the tunnel down from the client: CCRQ, CDN, StopCCRQ, StopCCRP.
//! client.close(now).unwrap();
//! run(now, &mut client, &mut server);
//! assert!(client.is_closed() && server.is_closed());
//! ```

mod call;
mod connection;
mod parked;
mod reasons;
pub mod stream;

pub use call::{CallDirection, CallSnapshot, CallState};
pub use connection::Connection;
pub use parked::{NeedsConnection, ParkedConnection};
pub use stream::ControlStream;

use core::fmt;

use crate::time::{Duration, Instant};
use crate::wire::control::{
    BearerCapabilities, DisconnectResult, FramingCapabilities, GeneralError, IncomingCallResult,
    OutgoingCallResult, StartControlResult, StopReason, WireError, NAME_FIELD_LEN, STATS_FIELD_LEN,
};

/// Capacity of the outbound message queue of a [`Connection`].
pub const OUTBOUND_QUEUE: usize = 16;

/// Capacity of the event queue of a [`Connection`].
pub const EVENT_QUEUE: usize = 16;

/// A NUL-free byte string of up to 64 octets (host names, vendor strings,
/// phone numbers).
pub type NameBytes = heapless::Vec<u8, NAME_FIELD_LEN>;

/// Call statistics text of up to 128 octets.
pub type StatsBytes = heapless::Vec<u8, STATS_FIELD_LEN>;

/// Who sends the Start-Control-Connection-Request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum StartMode {
    /// The client initiates, the server waits (what deployed VPNs do).
    #[default]
    ByRole,
    /// Send SCCRQ at once, whatever the role (RFC 2637 lets either end
    /// start the control connection).
    Initiate,
    /// Wait for the peer's SCCRQ, whatever the role.
    Listen,
}

/// Settings of a control connection. `Default` gives RFC 2637's timers
/// (§3.1.4: 60 s) and the values Windows and the PIX send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// Who sends SCCRQ.
    pub start: StartMode,
    /// Host Name sent in SCCRQ/SCCRP (at most 64 octets, no NUL).
    pub host_name: NameBytes,
    /// Vendor String sent in SCCRQ/SCCRP.
    pub vendor_string: NameBytes,
    /// Framing Capabilities advertised.
    pub framing_capabilities: FramingCapabilities,
    /// Bearer Capabilities advertised.
    pub bearer_capabilities: BearerCapabilities,
    /// Maximum Channels advertised (RFC 2637 §2.1: zero from a PNS).
    pub maximum_channels: u16,
    /// Firmware Revision advertised.
    pub firmware_revision: u16,
    /// Send an Echo-Request after this long without a message from the
    /// peer (RFC 2637 §3.1.4: 60 s).
    pub echo_interval: Duration,
    /// Close the connection if the Echo-Reply has not arrived this long
    /// after the Echo-Request (§3.1.4: 60 s).
    pub echo_timeout: Duration,
    /// How long to wait for any other reply (RFC 2637 §3: 60 s): SCCRQ
    /// or SCCRP at start-up, OCRP, ICRP, ICCN, CDN after CCRQ, StopCCRP.
    pub reply_timeout: Duration,
    /// How long the host may take to accept or reject a peer's call
    /// request before the machine refuses it (OCRP result 6, Time-out; ICRP
    /// result 3). Shorter than the peer's reply timeout (RFC 2637 §3: 60
    /// s) so the refusal arrives before the peer gives up. Default 30 s.
    pub host_answer_timeout: Duration,
    /// True if our IP address, compared as an unsigned 32-bit number, is
    /// higher than the peer's: we win an SCCRQ collision (§3.1.3). Used
    /// when both ends send SCCRQ on this same connection; for the
    /// two-connection case see [`Connection::handle_collision`].
    pub local_address_is_higher: bool,
    /// Close the control connection when a well-framed but malformed
    /// message arrives (unknown control type, PPTP message type other than
    /// 1, wrong Length for its type), as RFC 2637 §3 asks; `false` drops
    /// and counts such messages instead. Default `true`.
    pub close_on_malformed: bool,
    /// Close the control connection when the peer leaves a call request or
    /// clear unanswered for [`Config::reply_timeout`] (OCRP, ICRP, ICCN,
    /// CDN after CCRQ), as RFC 2637 §3 asks for any expected reply;
    /// `false` ends only the call concerned, which suits a server with many
    /// healthy calls on one tunnel (the keepalive still catches a dead
    /// peer). Default `true`.
    pub close_on_call_timeout: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            start: StartMode::ByRole,
            host_name: NameBytes::new(),
            vendor_string: NameBytes::new(),
            framing_capabilities: FramingCapabilities::EITHER,
            bearer_capabilities: BearerCapabilities::ANY,
            maximum_channels: 0,
            firmware_revision: 0,
            echo_interval: Duration::from_secs(60),
            echo_timeout: Duration::from_secs(60),
            reply_timeout: Duration::from_secs(60),
            host_answer_timeout: Duration::from_secs(30),
            local_address_is_higher: false,
            close_on_malformed: true,
            close_on_call_timeout: true,
        }
    }
}

/// What the host asks for when it places a call: the client sends these in
/// an Outgoing-Call-Request (§2.7), the server in an Incoming-Call-Request
/// (§2.9) and later Incoming-Call-Connected (§2.11).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallParams<'a> {
    /// Call Serial Number (for logs on both ends).
    pub serial_number: u16,
    /// Minimum BPS (OCRQ).
    pub minimum_bps: u32,
    /// Maximum BPS (OCRQ).
    pub maximum_bps: u32,
    /// Bearer Type (OCRQ, ICRQ).
    pub bearer: BearerCapabilities,
    /// Framing Type (OCRQ, ICCN).
    pub framing: FramingCapabilities,
    /// Our Packet Receive Window Size for this call.
    pub recv_window_size: u16,
    /// Our Packet Processing Delay in 1/10 s.
    pub processing_delay: u16,
    /// Connect speed reported in ICCN (server).
    pub connect_speed: u32,
    /// Physical Channel ID (ICRQ).
    pub physical_channel_id: u32,
    /// Phone number (OCRQ) or dialed number (ICRQ), at most 64 octets.
    pub phone_number: &'a [u8],
    /// Dialing (calling) number (ICRQ), at most 64 octets.
    pub dialing_number: &'a [u8],
    /// Subaddress, at most 64 octets.
    pub subaddress: &'a [u8],
}

impl Default for CallParams<'_> {
    /// The values a Windows client puts in its OCRQ (seed trace 1):
    /// 56000–64000 bps, any bearer, either framing, window 16.
    fn default() -> Self {
        CallParams {
            serial_number: 0,
            minimum_bps: 56_000,
            maximum_bps: 64_000,
            bearer: BearerCapabilities::ANY,
            framing: FramingCapabilities::EITHER,
            recv_window_size: 16,
            processing_delay: 0,
            connect_speed: 64_000,
            physical_channel_id: 0,
            phone_number: &[],
            dialing_number: &[],
            subaddress: &[],
        }
    }
}

/// What the host answers when it accepts a peer's call request: the
/// server sends these in Outgoing-Call-Reply (§2.8), the client in
/// Incoming-Call-Reply (§2.10).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CallAccept {
    /// Connect Speed (OCRP).
    pub connect_speed: u32,
    /// Our Packet Receive Window Size for this call.
    pub recv_window_size: u16,
    /// Our Packet Processing / Transmit Delay in 1/10 s.
    pub processing_delay: u16,
    /// Physical Channel ID (OCRP).
    pub physical_channel_id: u32,
}

impl Default for CallAccept {
    /// 64000 bps and a window of 64 packets.
    fn default() -> Self {
        CallAccept {
            connect_speed: 64_000,
            recv_window_size: 64,
            processing_delay: 0,
            physical_channel_id: 0,
        }
    }
}

/// Why the host refuses a peer's call request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallRefusal {
    /// Administratively refused: OCRP result 7, ICRP result 3 ("Do Not
    /// Accept", §2.8, §2.10).
    DoNotAccept,
    /// No resources: result 2 (General Error), error 4 (No-Resource).
    NoResource,
}

/// What a server puts in a Call-Disconnect-Notify it sends on its own
/// ([`Connection::disconnect_call`], RFC 2637 §2.13).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Disconnect<'a> {
    /// Result Code (3, Admin Shutdown, for an administrative clear; 1,
    /// Lost Carrier, when the PPP link died).
    pub result: DisconnectResult,
    /// Error Code (with result 2).
    pub error: GeneralError,
    /// Cause Code.
    pub cause_code: u16,
    /// Call Statistics text, at most 128 octets (e.g. the PIX's byte
    /// counts).
    pub statistics: &'a [u8],
}

impl Default for Disconnect<'_> {
    /// Admin Shutdown, no error, no statistics.
    fn default() -> Self {
        Disconnect {
            result: DisconnectResult::AdminShutdown,
            error: GeneralError::None,
            cause_code: 0,
            statistics: &[],
        }
    }
}

/// WAN error counters reported in WAN-Error-Notify (§2.14).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct WanErrors {
    /// CRC errors.
    pub crc_errors: u32,
    /// Framing errors.
    pub framing_errors: u32,
    /// Hardware overruns.
    pub hardware_overruns: u32,
    /// Buffer overruns.
    pub buffer_overruns: u32,
    /// Time-out errors.
    pub timeout_errors: u32,
    /// Alignment errors.
    pub alignment_errors: u32,
}

/// What the peer told us about itself in its SCCRQ or SCCRP.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerInfo {
    /// Protocol Version.
    pub protocol_version: u16,
    /// Framing Capabilities.
    pub framing_capabilities: FramingCapabilities,
    /// Bearer Capabilities.
    pub bearer_capabilities: BearerCapabilities,
    /// Maximum Channels.
    pub maximum_channels: u16,
    /// Firmware Revision.
    pub firmware_revision: u16,
    /// Host Name (raw bytes up to the first NUL).
    pub host_name: NameBytes,
    /// Vendor String.
    pub vendor_string: NameBytes,
}

/// A peer's request for a call, for the host to accept or reject.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallRequest {
    /// The peer's call ID: pass it to `accept_call` / `reject_call`.
    pub peer_call_id: u16,
    /// OCRQ (received by a server) or ICRQ (received by a client).
    pub direction: CallDirection,
    /// Call Serial Number.
    pub serial_number: u16,
    /// Minimum BPS (OCRQ; 0 for ICRQ).
    pub minimum_bps: u32,
    /// Maximum BPS (OCRQ; 0 for ICRQ).
    pub maximum_bps: u32,
    /// Bearer Type.
    pub bearer: BearerCapabilities,
    /// Framing Type (OCRQ; none for ICRQ).
    pub framing: FramingCapabilities,
    /// The peer's Packet Receive Window Size (OCRQ; 0 for ICRQ).
    pub peer_recv_window: u16,
    /// The peer's Packet Processing Delay (OCRQ; 0 for ICRQ).
    pub peer_processing_delay: u16,
    /// Physical Channel ID (ICRQ; 0 for OCRQ).
    pub physical_channel_id: u32,
    /// Phone number (OCRQ) or dialed number (ICRQ).
    pub phone_number: NameBytes,
    /// Dialing number (ICRQ; empty for OCRQ).
    pub dialing_number: NameBytes,
    /// Subaddress.
    pub subaddress: NameBytes,
}

/// A call that came up.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallUp {
    /// Our call ID: the one GRE packets from the peer carry.
    pub local_call_id: u16,
    /// The peer's call ID: the one our GRE packets must carry.
    pub peer_call_id: u16,
    /// Which exchange created the call.
    pub direction: CallDirection,
    /// The peer's Packet Receive Window Size: our GRE send window.
    pub peer_recv_window: u16,
    /// The peer's Packet Processing / Transmit Delay in 1/10 s.
    pub peer_processing_delay: u16,
    /// Framing in use.
    pub framing: FramingCapabilities,
    /// Bearer in use.
    pub bearer: BearerCapabilities,
    /// Connect speed in bits per second.
    pub connect_speed: u32,
}

/// Why a call went down (or never came up).
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum CallDownReason {
    /// The server refused our Outgoing-Call-Request (OCRP result ≠ 1).
    OutgoingRefused {
        /// OCRP Result Code.
        result: OutgoingCallResult,
        /// OCRP Error Code.
        error: GeneralError,
        /// OCRP Cause Code.
        cause_code: u16,
    },
    /// The client refused our Incoming-Call-Request (ICRP result ≠ 1).
    IncomingRefused {
        /// ICRP Result Code.
        result: IncomingCallResult,
        /// ICRP Error Code.
        error: GeneralError,
    },
    /// The peer sent Call-Disconnect-Notify.
    Disconnected {
        /// CDN Result Code.
        result: DisconnectResult,
        /// CDN Error Code.
        error: GeneralError,
        /// CDN Cause Code.
        cause_code: u16,
        /// CDN Call Statistics text.
        statistics: StatsBytes,
    },
    /// The peer sent Call-Clear-Request; we answered with CDN result 4.
    ClearRequested,
    /// The host cleared or refused the call.
    Local,
    /// A reply (or the host's answer) did not come within
    /// [`Config::reply_timeout`].
    Timeout,
    /// The control connection went down, taking the call with it.
    TunnelDown,
}

/// A call that went down.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct CallDown {
    /// Our call ID, if one was assigned.
    pub local_call_id: Option<u16>,
    /// The peer's call ID, if known.
    pub peer_call_id: Option<u16>,
    /// Why.
    pub reason: CallDownReason,
}

/// Why the control connection went down.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TunnelDownReason {
    /// The host closed it ([`Connection::close`]).
    Local,
    /// The peer sent Stop-Control-Connection-Request.
    PeerStopped(StopReason),
    /// The peer refused our SCCRQ.
    PeerRefused {
        /// SCCRP Result Code.
        result: StartControlResult,
        /// SCCRP Error Code.
        error: GeneralError,
    },
    /// The peer's protocol version is not 1.0; we answered SCCRP result 5
    /// or sent StopCCRQ reason 2.
    VersionMismatch(u16),
    /// Start-up did not finish within [`Config::reply_timeout`], or the
    /// peer never answered our StopCCRQ.
    Timeout,
    /// No Echo-Reply within [`Config::echo_timeout`].
    EchoTimeout,
    /// The byte stream broke (bad cookie or length), or a start-up message
    /// was malformed.
    ProtocolError(WireError),
    /// SCCRQ collision (§3.1.3): this connection is the one that must go.
    Collision,
}

/// Something the host should know about.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Event {
    /// SCCRQ/SCCRP exchanged: calls may be placed.
    TunnelUp(PeerInfo),
    /// The control connection is down; close the TCP connection once
    /// [`Connection::is_closed`] is true.
    TunnelDown(TunnelDownReason),
    /// The peer asks for a call: answer with `accept_call` or `reject_call`
    /// within [`Config::reply_timeout`].
    CallRequested(CallRequest),
    /// A call came up.
    CallUp(CallUp),
    /// A call went down or was refused.
    CallDown(CallDown),
    /// Set-Link-Info received for a call: the ACCMs PPP should use.
    LinkInfo {
        /// Our call ID.
        local_call_id: u16,
        /// Send ACCM.
        send_accm: u32,
        /// Receive ACCM.
        receive_accm: u32,
    },
    /// WAN-Error-Notify received for a call.
    WanError {
        /// Our call ID.
        local_call_id: u16,
        /// The counters.
        errors: WanErrors,
    },
    /// No Echo-Reply came in time; [`Event::TunnelDown`] follows.
    EchoTimeout,
}

/// Counters of one control connection (what the PIX's `show vpdn tunnel`
/// prints for the control channel, plus drops by reason).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct TunnelStats {
    /// Control messages received (whole frames).
    pub messages_in: u64,
    /// Control messages transmitted.
    pub messages_out: u64,
    /// Octets received from TCP.
    pub bytes_in: u64,
    /// Octets handed to TCP.
    pub bytes_out: u64,
    /// Echo-Requests we sent.
    pub echo_requests_sent: u64,
    /// Matching Echo-Replies we received.
    pub echo_replies_received: u64,
    /// Echo-Requests the peer sent us.
    pub echo_requests_received: u64,
    /// Round-trip time of the last answered Echo-Request.
    pub last_echo_rtt: Option<Duration>,
    /// Frames dropped as malformed (unknown type, bad length for type).
    pub dropped_malformed: u64,
    /// Valid messages dropped as unexpected in the state, role or call.
    pub dropped_unexpected: u64,
    /// Replies dropped because the outbound queue was full.
    pub dropped_queue_full: u64,
    /// Events dropped because the event queue was full.
    pub events_dropped: u64,
    /// Peer call requests refused automatically (table full, reused ID).
    pub calls_refused: u64,
    /// Calls that reached the established state.
    pub calls_established: u64,
    /// When the tunnel came up.
    pub established_at: Option<Instant>,
}

/// Returned by [`Connection::poll_transmit`] and
/// [`ParkedConnection::poll_transmit`]: octets written to the caller's
/// buffer, one or more whole control messages for the connection's own
/// TCP stream (so `Transmit<()>`: the stream is the only destination).
pub use ppp_core::transmit::Transmit;

/// Errors of the control connection layer.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The byte stream broke; the connection is closed.
    Wire(WireError),
    /// The connection is closed.
    Closed,
    /// The operation needs an established control connection.
    NotEstablished,
    /// RFC 2637 gives this message to the other role (e.g. only the client
    /// (PNS) sends Set-Link-Info, only the server (PAC) WAN-Error-Notify).
    WrongRole,
    /// This local call ID is already in use on this connection.
    DuplicateCallId(u16),
    /// The call table (`MAX_CALLS`) is full.
    TooManyCalls,
    /// No call with this ID (local, or the peer's for `accept_call` /
    /// `reject_call`) in a state that allows the operation.
    UnknownCall(u16),
    /// The outbound queue is full: poll_transmit first.
    QueueFull,
    /// A byte string is longer than its 64-octet field.
    FieldTooLong(&'static str),
}

impl From<WireError> for Error {
    fn from(e: WireError) -> Self {
        Error::Wire(e)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Wire(e) => write!(f, "control stream error: {e}"),
            Error::Closed => f.write_str("control connection closed"),
            Error::NotEstablished => f.write_str("control connection not established"),
            Error::WrongRole => f.write_str("message not sent by this role (RFC 2637)"),
            Error::DuplicateCallId(id) => write!(f, "call ID {id} already in use"),
            Error::TooManyCalls => f.write_str("call table full"),
            Error::UnknownCall(id) => write!(f, "no call {id} in a suitable state"),
            Error::QueueFull => f.write_str("outbound queue full"),
            Error::FieldTooLong(name) => write!(f, "{name} longer than 64 octets"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}
