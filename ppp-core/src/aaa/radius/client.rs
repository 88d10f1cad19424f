//! The Sans-IO RADIUS client: request table, identifiers, retransmission
//! with back-off over several servers, duplicate-response protection.
//!
//! The host owns the UDP sockets. Server `i` of the client is whatever
//! address pair the host associates with index `i` (authentication port
//! for [`RequestKind::Authentication`], accounting port for
//! [`RequestKind::Accounting`], both given in the [`Destination`] of each
//! [`Transmit`]). Loop:
//!
//! 1. `start_auth` / `start_accounting` queue a request;
//! 2. `poll_transmit(now, buf)` yields datagrams to send to
//!    `Transmit::to` ([`Destination::server_index`], [`Destination::kind`]);
//! 3. datagrams from server `i` go to `handle_datagram(now, i, bytes)`;
//! 4. `poll_timeout` / `handle_timeout` drive retransmissions (RFC 2865
//!    §2.4 leaves the policy to the NAS: here `initial_timeout`, doubled
//!    per retry up to `max_timeout`, `attempts_per_server` tries per
//!    server, then the next server);
//! 5. `poll_event` yields verdicts, accounting acknowledgements and
//!    timeouts.
//!
//! Failover is sticky: new requests start at the server that last
//! answered (the primary at first).
//!
//! ## Example
//!
//! ```
//! use ppp_core::aaa::radius::client::{
//!     Event, RadiusClient, RadiusConfig, Randomness, ServerConfig, SessionInfo,
//! };
//! use ppp_core::aaa::radius::wire::{Code, Packet, PacketWriter};
//! use ppp_core::auth::{AuthRequest, AuthResponse, Method, Name, Password, Verdict};
//! use ppp_core::time::Instant;
//!
//! let servers = [ServerConfig::new(b"secret").unwrap()];
//! let mut client: RadiusClient<2, 8> =
//!     RadiusClient::new(RadiusConfig::default(), &servers).unwrap();
//! // What the authenticator's Event::AuthRequest carried.
//! let request = AuthRequest {
//!     method: Method::Pap,
//!     username: Name::from_slice(b"User").unwrap(),
//!     identifier: 1,
//!     response: AuthResponse::Pap { password: Password::new(b"clientPass").unwrap() },
//! };
//! let now = Instant::ZERO;
//! // Identifier and Request Authenticator from the host's random source.
//! let random = Randomness { identifier: 42, authenticator: [0x5a; 16] };
//! let handle = client.start_auth(now, &request, &SessionInfo::default(), random).unwrap();
//!
//! let mut datagram = [0u8; 4096];
//! let t = client.poll_transmit(now, &mut datagram).unwrap();
//! // The host sends datagram[..t.len] to server t.to.server_index's auth port;
//! // here a stand-in server accepts it.
//! let sent = Packet::new_checked(&datagram[..t.len]).unwrap();
//! let mut answer = [0u8; 64];
//! let mut w = PacketWriter::new(&mut answer, Code::AccessAccept, sent.identifier(), &[0; 16]).unwrap();
//! w.message_authenticator().unwrap();
//! let n = w.finish_response(&sent.authenticator(), b"secret");
//!
//! client.handle_datagram(now, t.to.server_index, &answer[..n]).unwrap();
//! match client.poll_event() {
//!     Some(Event::Verdict { handle: h, verdict: Verdict::Accept(_), .. }) => assert_eq!(h, handle),
//!     other => panic!("{other:?}"),
//! }
//! ```

use core::net::Ipv4Addr;

use heapless::Deque;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::accounting::AccountingRecord;
use super::wire::{self, Code, Packet, PacketWriter, HEADER_LEN, MAX_PACKET_LEN};
use super::Error;
use crate::aaa::bridge::{self, MppePolicy, NasAttributes, RequestContext, VerdictInfo};
use crate::auth::{AuthRequest, AuthResponse, Password, Verdict};
use crate::time::{Duration, Instant};
use crate::transmit::Transmit;

/// Longest shared secret.
pub const MAX_SECRET_LEN: usize = 128;
/// Room for one request's attributes (without User-Password and
/// Message-Authenticator).
pub const MAX_TEMPLATE_LEN: usize = 1024;
/// Longest NAS-Identifier kept in the configuration.
pub const MAX_NAS_IDENTIFIER_LEN: usize = 64;
/// Answered requests remembered for duplicate detection.
pub const RECENT_LEN: usize = 8;

/// A RADIUS shared secret (RFC 2865 §3), wiped on drop.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct ServerConfig {
    secret: [u8; MAX_SECRET_LEN],
    secret_len: usize,
}

impl core::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("ServerConfig { secret: <redacted> }")
    }
}

impl ServerConfig {
    /// A server with `secret` (1 to 128 octets; RFC 2865 §3 requires it
    /// non-empty).
    pub fn new(secret: &[u8]) -> Result<Self, Error> {
        if secret.is_empty() || secret.len() > MAX_SECRET_LEN {
            return Err(Error::ValueTooLong {
                attribute: 0,
                length: secret.len(),
            });
        }
        let mut s = [0u8; MAX_SECRET_LEN];
        s[..secret.len()].copy_from_slice(secret);
        Ok(ServerConfig {
            secret: s,
            secret_len: secret.len(),
        })
    }

    /// The secret.
    pub fn secret(&self) -> &[u8] {
        self.secret.get(..self.secret_len).unwrap_or(&[])
    }
}

/// Client settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RadiusConfig {
    /// NAS-IP-Address sent in every request.
    pub nas_ip: Option<Ipv4Addr>,
    /// NAS-Identifier sent in every request (RFC 2865 §5.32; at least one
    /// of the two must be present: an empty identifier without an address
    /// sends "pptp").
    pub nas_identifier: heapless::Vec<u8, MAX_NAS_IDENTIFIER_LEN>,
    /// First retransmission timeout.
    pub initial_timeout: Duration,
    /// Longest retransmission timeout (back-off doubles up to this).
    pub max_timeout: Duration,
    /// Transmissions to one server before moving to the next.
    pub attempts_per_server: u8,
    /// MPPE policy applied to verdicts.
    pub mppe: MppePolicy,
}

impl Default for RadiusConfig {
    fn default() -> Self {
        RadiusConfig {
            nas_ip: None,
            nas_identifier: heapless::Vec::new(),
            initial_timeout: Duration::from_secs(3),
            max_timeout: Duration::from_secs(12),
            attempts_per_server: 3,
            mppe: MppePolicy::Auto,
        }
    }
}

/// Per-request values from the host's random source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Randomness {
    /// Preferred Identifier (the next free one is used if it is taken).
    pub identifier: u8,
    /// Request Authenticator (RFC 2865 §3: unpredictable and unique;
    /// unused for accounting, whose authenticator is a digest).
    pub authenticator: [u8; 16],
}

/// Per-session values for an Access-Request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionInfo<'a> {
    /// NAS-Port.
    pub nas_port: Option<u32>,
    /// Calling-Station-Id (the PPTP client's address as text).
    pub calling_station_id: Option<&'a [u8]>,
    /// Called-Station-Id.
    pub called_station_id: Option<&'a [u8]>,
    /// Acct-Session-Id.
    pub acct_session_id: Option<&'a [u8]>,
}

/// Identifies one request in events.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct RequestHandle(pub u32);

/// Authentication or accounting (they go to different server ports).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum RequestKind {
    /// Access-Request to the authentication port (1812).
    Authentication,
    /// Accounting-Request to the accounting port (1813).
    Accounting,
}

/// Where a datagram from [`RadiusClient::poll_transmit`] goes: the `to`
/// of its [`Transmit`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Destination {
    /// Which configured server to send it to.
    pub server_index: usize,
    /// Which of its ports: authentication (RFC 2865 §3, 1812) or
    /// accounting (RFC 2866 §3, 1813).
    pub kind: RequestKind,
    /// The request it belongs to.
    pub handle: RequestHandle,
}

/// What the client reports.
#[derive(Clone, Debug, PartialEq, Eq)]
// No allocator to box the large variant; events are moved once.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// The answer to an authentication request.
    Verdict {
        /// The request.
        handle: RequestHandle,
        /// Feed this to the authenticator's `verdict`.
        verdict: Verdict,
        /// NBNS servers, timeouts, encryption policy, and why the verdict
        /// differs from the server's answer.
        info: VerdictInfo,
    },
    /// An Accounting-Response arrived.
    AccountingAcknowledged {
        /// The request.
        handle: RequestHandle,
    },
    /// No server answered.
    Timeout {
        /// The request.
        handle: RequestHandle,
    },
    /// The request could not be encoded into the host's buffer.
    Failed {
        /// The request.
        handle: RequestHandle,
        /// Why.
        error: Error,
    },
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Datagrams sent (first transmissions and retransmissions).
    pub transmissions: u32,
    /// Retransmissions.
    pub retransmissions: u32,
    /// Moves to the next server.
    pub failovers: u32,
    /// Requests that timed out on every server.
    pub timeouts: u32,
    /// Responses dropped as duplicates of answered requests.
    pub duplicates: u32,
    /// Responses matching no request.
    pub unexpected: u32,
    /// Responses that did not parse.
    pub malformed: u32,
    /// Responses failing the Response Authenticator or
    /// Message-Authenticator check, or lacking the latter.
    pub bad_authenticators: u32,
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct Template {
    bytes: [u8; MAX_TEMPLATE_LEN],
    len: usize,
}

impl Template {
    fn as_bytes(&self) -> &[u8] {
        self.bytes.get(..self.len).unwrap_or(&[])
    }
}

struct Slot<const SERVERS: usize> {
    handle: RequestHandle,
    kind: RequestKind,
    identifier: u8,
    /// Access-Request: the random Request Authenticator.
    authenticator: [u8; 16],
    template: Template,
    password: Option<Password>,
    context: Option<RequestContext>,
    server: usize,
    servers_tried: usize,
    attempt: u8,
    timeout: Duration,
    deadline: Option<Instant>,
    /// The Request Authenticator as sent to each server (accounting
    /// authenticators depend on the secret).
    sent: [Option<[u8; 16]>; SERVERS],
}

#[derive(Clone, Copy)]
struct Recent {
    server: usize,
    identifier: u8,
    authenticator: [u8; 16],
}

/// The Sans-IO RADIUS client for up to `SERVERS` servers and `PENDING`
/// requests in flight (at most 256: one Identifier each).
pub struct RadiusClient<const SERVERS: usize, const PENDING: usize> {
    config: RadiusConfig,
    servers: heapless::Vec<ServerConfig, SERVERS>,
    slots: heapless::Vec<Slot<SERVERS>, PENDING>,
    events: Deque<Event, PENDING>,
    recent: Deque<Recent, RECENT_LEN>,
    preferred: usize,
    next_handle: u32,
    stats: Stats,
}

impl<const SERVERS: usize, const PENDING: usize> core::fmt::Debug
    for RadiusClient<SERVERS, PENDING>
{
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("RadiusClient")
            .field("servers", &self.servers.len())
            .field("pending", &self.slots.len())
            .field("stats", &self.stats)
            .finish()
    }
}

impl<const SERVERS: usize, const PENDING: usize> RadiusClient<SERVERS, PENDING> {
    /// A client for `servers` (primary first; at least one).
    pub fn new(config: RadiusConfig, servers: &[ServerConfig]) -> Result<Self, Error> {
        if servers.is_empty() || servers.len() > SERVERS {
            return Err(Error::NoServer);
        }
        let mut list = heapless::Vec::new();
        for s in servers {
            list.push(s.clone()).map_err(|_| Error::NoServer)?;
        }
        Ok(RadiusClient {
            config,
            servers: list,
            slots: heapless::Vec::new(),
            events: Deque::new(),
            recent: Deque::new(),
            preferred: 0,
            next_handle: 0,
            stats: Stats::default(),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &RadiusConfig {
        &self.config
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Requests in flight.
    pub fn pending(&self) -> usize {
        self.slots.len()
    }

    fn nas(&self) -> NasAttributes<'_> {
        let id: &[u8] = &self.config.nas_identifier;
        NasAttributes {
            nas_ip: self.config.nas_ip,
            nas_identifier: if !id.is_empty() {
                Some(id)
            } else if self.config.nas_ip.is_none() {
                // RFC 2865 §4.1: NAS-IP-Address or NAS-Identifier MUST be
                // present.
                Some(b"pptp")
            } else {
                None
            },
            ..NasAttributes::default()
        }
    }

    fn allocate(&mut self, preferred: u8) -> Result<(u8, RequestHandle), Error> {
        // One event per finished request may still be queued: keep
        // slots + events ≤ PENDING so the event queue never overflows.
        if self.slots.len() + self.events.len() >= PENDING || PENDING > 256 {
            return Err(Error::TooManyPending);
        }
        let taken = |id: u8, me: &Self| {
            me.slots.iter().any(|s| s.identifier == id)
                || me.recent.iter().any(|r| r.identifier == id)
        };
        let mut identifier = preferred;
        let mut tries = 0;
        while taken(identifier, self) {
            identifier = identifier.wrapping_add(1);
            tries += 1;
            if tries > 256 {
                return Err(Error::TooManyPending);
            }
        }
        let handle = RequestHandle(self.next_handle);
        self.next_handle = self.next_handle.wrapping_add(1);
        Ok((identifier, handle))
    }

    fn push_slot(&mut self, slot: Slot<SERVERS>) -> Result<RequestHandle, Error> {
        let handle = slot.handle;
        self.slots.push(slot).map_err(|_| Error::TooManyPending)?;
        Ok(handle)
    }

    /// Queues an Access-Request for `request`.
    pub fn start_auth(
        &mut self,
        now: Instant,
        request: &AuthRequest,
        session: &SessionInfo<'_>,
        randomness: Randomness,
    ) -> Result<RequestHandle, Error> {
        let _ = now;
        let password = match &request.response {
            AuthResponse::Pap { password } => {
                if password.as_bytes().len() > wire::MAX_PASSWORD_LEN {
                    return Err(Error::UnsupportedRequest);
                }
                Some(password.clone())
            }
            _ => None,
        };
        let mut nas = self.nas();
        nas.nas_port = session.nas_port;
        nas.calling_station_id = session.calling_station_id;
        nas.called_station_id = session.called_station_id;
        nas.acct_session_id = session.acct_session_id;
        let mut template = Template {
            bytes: [0; MAX_TEMPLATE_LEN],
            len: 0,
        };
        {
            let mut scratch = [0u8; HEADER_LEN + MAX_TEMPLATE_LEN];
            let mut w = PacketWriter::new(&mut scratch, Code::AccessRequest, 0, &[0; 16])?;
            bridge::write_access_request(&mut w, request, &nas)?;
            let len = w.len() - HEADER_LEN;
            template.bytes[..len].copy_from_slice(&scratch[HEADER_LEN..HEADER_LEN + len]);
            template.len = len;
            scratch.zeroize();
        }
        let (identifier, handle) = self.allocate(randomness.identifier)?;
        let server = self.preferred;
        self.push_slot(Slot {
            handle,
            kind: RequestKind::Authentication,
            identifier,
            authenticator: randomness.authenticator,
            template,
            password,
            context: Some(RequestContext::of(request)),
            server,
            servers_tried: 1,
            attempt: 0,
            timeout: self.config.initial_timeout,
            deadline: None,
            sent: [None; SERVERS],
        })
    }

    /// Queues an Accounting-Request (RFC 2866).
    pub fn start_accounting(
        &mut self,
        now: Instant,
        record: &AccountingRecord<'_>,
        randomness: Randomness,
    ) -> Result<RequestHandle, Error> {
        let _ = now;
        let mut template = Template {
            bytes: [0; MAX_TEMPLATE_LEN],
            len: 0,
        };
        {
            let mut scratch = [0u8; HEADER_LEN + MAX_TEMPLATE_LEN];
            let mut w = PacketWriter::new(&mut scratch, Code::AccountingRequest, 0, &[0; 16])?;
            record.emit(&mut w)?;
            let nas = self.nas();
            if let Some(ip) = nas.nas_ip {
                w.attribute(super::attributes::NAS_IP_ADDRESS, &ip.octets())?;
            }
            if let Some(id) = nas.nas_identifier {
                w.attribute(super::attributes::NAS_IDENTIFIER, id)?;
            }
            w.integer(
                super::attributes::NAS_PORT_TYPE,
                super::attributes::NAS_PORT_TYPE_VIRTUAL,
            )?;
            w.integer(
                super::attributes::SERVICE_TYPE,
                super::attributes::SERVICE_TYPE_FRAMED,
            )?;
            w.integer(
                super::attributes::FRAMED_PROTOCOL,
                super::attributes::FRAMED_PROTOCOL_PPP,
            )?;
            let len = w.len() - HEADER_LEN;
            template.bytes[..len].copy_from_slice(&scratch[HEADER_LEN..HEADER_LEN + len]);
            template.len = len;
        }
        let (identifier, handle) = self.allocate(randomness.identifier)?;
        let server = self.preferred;
        self.push_slot(Slot {
            handle,
            kind: RequestKind::Accounting,
            identifier,
            authenticator: [0; 16],
            template,
            password: None,
            context: None,
            server,
            servers_tried: 1,
            attempt: 0,
            timeout: self.config.initial_timeout,
            deadline: None,
            sent: [None; SERVERS],
        })
    }

    /// Abandons a request (no event follows).
    pub fn cancel(&mut self, handle: RequestHandle) -> bool {
        match self.slots.iter().position(|s| s.handle == handle) {
            Some(i) => {
                self.slots.swap_remove(i);
                true
            }
            None => false,
        }
    }

    fn encode(
        slot: &Slot<SERVERS>,
        secret: &[u8],
        buf: &mut [u8],
    ) -> Result<(usize, [u8; 16]), Error> {
        match slot.kind {
            RequestKind::Authentication => {
                let mut w = PacketWriter::new(
                    buf,
                    Code::AccessRequest,
                    slot.identifier,
                    &slot.authenticator,
                )?;
                // RFC 3579 §3.2, BlastRADIUS: Message-Authenticator first.
                w.message_authenticator()?;
                w.attribute_region(slot.template.as_bytes())?;
                if let Some(password) = &slot.password {
                    w.user_password(password.as_bytes(), secret)?;
                }
                Ok((w.finish_request(secret), slot.authenticator))
            }
            RequestKind::Accounting => {
                let mut w =
                    PacketWriter::new(buf, Code::AccountingRequest, slot.identifier, &[0; 16])?;
                w.attribute_region(slot.template.as_bytes())?;
                let len = w.finish_accounting_request(secret);
                let mut auth = [0u8; 16];
                auth.copy_from_slice(buf.get(4..HEADER_LEN).unwrap_or(&[0; 16]));
                Ok((len, auth))
            }
        }
    }

    /// The next datagram to send, written into `buf` (which should hold
    /// [`MAX_PACKET_LEN`] octets; a shorter one fails the request with
    /// [`Event::Failed`] if the packet does not fit).
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<Destination>> {
        let index = self.slots.iter().position(|s| s.deadline.is_none())?;
        let slot = self.slots.get_mut(index)?;
        let secret = self.servers.get(slot.server)?.secret();
        let limit = buf.len().min(MAX_PACKET_LEN);
        match Self::encode(slot, secret, buf.get_mut(..limit)?) {
            Ok((len, sent_authenticator)) => {
                if let Some(s) = slot.sent.get_mut(slot.server) {
                    *s = Some(sent_authenticator);
                }
                slot.deadline = Some(now + slot.timeout);
                self.stats.transmissions = self.stats.transmissions.saturating_add(1);
                Some(Transmit {
                    len,
                    to: Destination {
                        server_index: slot.server,
                        kind: slot.kind,
                        handle: slot.handle,
                    },
                })
            }
            Err(error) => {
                let handle = slot.handle;
                self.slots.swap_remove(index);
                let _ = self.events.push_back(Event::Failed { handle, error });
                None
            }
        }
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.slots.iter().filter_map(|s| s.deadline).min()
    }

    /// Retransmits, fails over or times out requests whose deadline passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        let servers = self.servers.len();
        let mut i = 0;
        while i < self.slots.len() {
            let Some(slot) = self.slots.get_mut(i) else {
                break;
            };
            match slot.deadline {
                Some(deadline) if deadline <= now => {}
                _ => {
                    i += 1;
                    continue;
                }
            }
            slot.deadline = None;
            if slot.attempt.saturating_add(1) < self.config.attempts_per_server {
                slot.attempt += 1;
                slot.timeout = Duration::from_millis(
                    slot.timeout
                        .as_millis()
                        .saturating_mul(2)
                        .min(self.config.max_timeout.as_millis()),
                );
                self.stats.retransmissions = self.stats.retransmissions.saturating_add(1);
                i += 1;
            } else if slot.servers_tried < servers {
                // RFC 2865 §2.4: "A NAS MAY use a secondary server".
                let dead = slot.server;
                slot.server = (slot.server + 1) % servers;
                slot.servers_tried += 1;
                slot.attempt = 0;
                slot.timeout = self.config.initial_timeout;
                self.stats.failovers = self.stats.failovers.saturating_add(1);
                if self.preferred == dead {
                    self.preferred = slot.server;
                }
                i += 1;
            } else {
                let handle = slot.handle;
                self.slots.swap_remove(i);
                self.stats.timeouts = self.stats.timeouts.saturating_add(1);
                let _ = self.events.push_back(Event::Timeout { handle });
            }
        }
    }

    /// A datagram from server `server_index`. Errors say why it was
    /// dropped (the request stays pending unless it was answered).
    pub fn handle_datagram(
        &mut self,
        now: Instant,
        server_index: usize,
        datagram: &[u8],
    ) -> Result<(), Error> {
        let _ = now;
        let secret_len = self
            .servers
            .get(server_index)
            .ok_or(Error::NoServer)?
            .secret()
            .len();
        let _ = secret_len;
        let packet = match Packet::new_checked(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.malformed = self.stats.malformed.saturating_add(1);
                return Err(e);
            }
        };
        let code = packet.code().ok_or(Error::UnknownCode {
            code: packet.code_octet(),
        })?;
        if !code.is_response() {
            self.stats.unexpected = self.stats.unexpected.saturating_add(1);
            return Err(Error::UnexpectedCode { code: code.as_u8() });
        }
        let identifier = packet.identifier();
        let secret = self
            .servers
            .get(server_index)
            .ok_or(Error::NoServer)?
            .secret();
        let Some(index) = self.slots.iter().position(|s| s.identifier == identifier) else {
            // A late or repeated answer to a request already answered.
            let duplicate = self.recent.iter().any(|r| {
                r.server == server_index
                    && r.identifier == identifier
                    && wire::verify_response(&packet, &r.authenticator, secret).is_ok()
            });
            return if duplicate {
                self.stats.duplicates = self.stats.duplicates.saturating_add(1);
                Err(Error::DuplicateResponse { identifier })
            } else {
                self.stats.unexpected = self.stats.unexpected.saturating_add(1);
                Err(Error::UnexpectedResponse { identifier })
            };
        };
        let slot = self
            .slots
            .get(index)
            .ok_or(Error::UnexpectedResponse { identifier })?;
        let expected_kind = match code {
            Code::AccountingResponse => RequestKind::Accounting,
            _ => RequestKind::Authentication,
        };
        if slot.kind != expected_kind {
            self.stats.unexpected = self.stats.unexpected.saturating_add(1);
            return Err(Error::UnexpectedCode { code: code.as_u8() });
        }
        let Some(request_authenticator) = slot.sent.get(server_index).copied().flatten() else {
            self.stats.unexpected = self.stats.unexpected.saturating_add(1);
            return Err(Error::WrongServer { server_index });
        };
        if let Err(e) = wire::verify_response(&packet, &request_authenticator, secret) {
            self.stats.bad_authenticators = self.stats.bad_authenticators.saturating_add(1);
            return Err(e);
        }
        let handle = slot.handle;
        let event = match slot.context {
            Some(context) => {
                let (verdict, info) = bridge::radius_verdict(
                    &packet,
                    secret,
                    &request_authenticator,
                    &context,
                    self.config.mppe,
                );
                Event::Verdict {
                    handle,
                    verdict,
                    info,
                }
            }
            None => Event::AccountingAcknowledged { handle },
        };
        self.slots.swap_remove(index);
        if self.recent.is_full() {
            self.recent.pop_front();
        }
        let _ = self.recent.push_back(Recent {
            server: server_index,
            identifier,
            authenticator: request_authenticator,
        });
        self.preferred = server_index;
        let _ = self.events.push_back(event);
        Ok(())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::super::attributes as attr;
    use super::super::ms;
    use super::*;
    use crate::aaa::bridge::Note;
    use crate::auth::{crypto, AuthResponse, Method, MppeKeyMaterial};
    use crate::wire::auth::MsChapV2Response;

    const SECRET: &[u8] = b"primary-secret";
    const SECRET2: &[u8] = b"secondary-secret";

    fn config() -> RadiusConfig {
        RadiusConfig {
            nas_ip: Some(Ipv4Addr::new(192, 0, 2, 1)),
            initial_timeout: Duration::from_millis(1000),
            max_timeout: Duration::from_millis(2500),
            attempts_per_server: 3,
            ..RadiusConfig::default()
        }
    }

    fn client() -> RadiusClient<2, 4> {
        RadiusClient::new(
            config(),
            &[
                ServerConfig::new(SECRET).unwrap(),
                ServerConfig::new(SECRET2).unwrap(),
            ],
        )
        .unwrap()
    }

    fn pap(password: &[u8]) -> AuthRequest {
        AuthRequest {
            method: Method::Pap,
            username: heapless::Vec::from_slice(b"User").unwrap(),
            identifier: 1,
            response: AuthResponse::Pap {
                password: Password::new(password).unwrap(),
            },
        }
    }

    fn rnd(identifier: u8) -> Randomness {
        Randomness {
            identifier,
            authenticator: [identifier; 16],
        }
    }

    fn start(c: &mut RadiusClient<2, 4>, id: u8) -> RequestHandle {
        c.start_auth(
            Instant::ZERO,
            &pap(b"clientPass"),
            &SessionInfo::default(),
            rnd(id),
        )
        .unwrap()
    }

    fn transmit(c: &mut RadiusClient<2, 4>, now: u64) -> (Transmit<Destination>, Vec<u8>) {
        let mut buf = [0u8; MAX_PACKET_LEN];
        let t = c
            .poll_transmit(Instant::from_millis(now), &mut buf)
            .unwrap();
        (t, buf[..t.len].to_vec())
    }

    /// A server's answer to `request`.
    fn answer(
        request: &[u8],
        code: Code,
        secret: &[u8],
        with_ma: bool,
        extra: impl FnOnce(&mut PacketWriter<'_>, &[u8; 16]),
    ) -> Vec<u8> {
        let p = Packet::new_checked(request).unwrap();
        let ra = p.authenticator();
        let mut buf = [0u8; 1024];
        let mut w = PacketWriter::new(&mut buf, code, p.identifier(), &[0; 16]).unwrap();
        if with_ma {
            w.message_authenticator().unwrap();
        }
        extra(&mut w, &ra);
        let n = w.finish_response(&ra, secret);
        buf[..n].to_vec()
    }

    #[test]
    fn access_request_is_signed_and_hides_the_password() {
        let mut c = client();
        start(&mut c, 5);
        let (t, bytes) = transmit(&mut c, 0);
        assert_eq!(
            (t.to.server_index, t.to.kind),
            (0, RequestKind::Authentication)
        );
        let p = Packet::new_checked(&bytes[..]).unwrap();
        assert_eq!(p.code(), Some(Code::AccessRequest));
        assert_eq!(p.identifier(), 5);
        assert_eq!(p.authenticator(), [5; 16]);
        // Message-Authenticator first (BlastRADIUS) and valid.
        let first = p.attributes().next().unwrap().unwrap();
        assert_eq!(first.kind, attr::MESSAGE_AUTHENTICATOR);
        let mut zeroed = bytes.clone();
        zeroed[22..38].fill(0);
        assert_eq!(wire::hmac_md5(SECRET, &[&zeroed]), first.value);
        // User-Password hidden with this server's secret.
        let hidden = p.attributes().find(attr::USER_PASSWORD).unwrap();
        let mut clear = [0u8; 16];
        wire::reveal(hidden, SECRET, &[5; 16], &mut clear);
        assert_eq!(&clear[..10], b"clientPass");
        assert_eq!(&clear[10..], &[0; 6]);
        let int = |k| attr::integer(p.attributes().find(k).unwrap()).unwrap();
        assert_eq!(int(attr::NAS_PORT_TYPE), attr::NAS_PORT_TYPE_VIRTUAL);
        assert_eq!(int(attr::SERVICE_TYPE), attr::SERVICE_TYPE_FRAMED);
        assert_eq!(int(attr::FRAMED_PROTOCOL), attr::FRAMED_PROTOCOL_PPP);
        assert_eq!(
            p.attributes().find(attr::TUNNEL_TYPE),
            Some(&[0, 0, 0, 1][..])
        );
        assert_eq!(
            p.attributes().find(attr::NAS_IP_ADDRESS),
            Some(&[192, 0, 2, 1][..])
        );
    }

    #[test]
    fn retransmits_with_backoff_then_fails_over_then_times_out() {
        let mut c = client();
        let h = start(&mut c, 9);
        let (_, first) = transmit(&mut c, 0);
        assert_eq!(c.poll_timeout(), Some(Instant::from_millis(1000)));
        assert!(c
            .poll_transmit(Instant::from_millis(10), &mut [0u8; 4096])
            .is_none());
        c.handle_timeout(Instant::from_millis(999));
        assert!(c
            .poll_transmit(Instant::from_millis(999), &mut [0u8; 4096])
            .is_none());
        c.handle_timeout(Instant::from_millis(1000));
        let (t, second) = transmit(&mut c, 1000);
        // Same Identifier and authenticator on the same server (RFC 2865 §3).
        assert_eq!((t.to.server_index, &second), (0, &first));
        assert_eq!(
            c.poll_timeout(),
            Some(Instant::from_millis(3000)),
            "doubled"
        );
        c.handle_timeout(Instant::from_millis(3000));
        let _ = transmit(&mut c, 3000);
        assert_eq!(c.poll_timeout(), Some(Instant::from_millis(5500)), "capped");
        c.handle_timeout(Instant::from_millis(5500));
        let (t, other) = transmit(&mut c, 5500);
        assert_eq!(t.to.server_index, 1, "failover");
        // Re-encoded with the secondary's secret.
        let p = Packet::new_checked(&other[..]).unwrap();
        let mut clear = [0u8; 16];
        wire::reveal(
            p.attributes().find(attr::USER_PASSWORD).unwrap(),
            SECRET2,
            &[9; 16],
            &mut clear,
        );
        assert_eq!(&clear[..10], b"clientPass");
        let mut now = 5500;
        for _ in 0..3 {
            now = c.poll_timeout().unwrap().as_millis();
            c.handle_timeout(Instant::from_millis(now));
            let _ = c.poll_transmit(Instant::from_millis(now), &mut [0u8; 4096]);
        }
        assert_eq!(c.poll_event(), Some(Event::Timeout { handle: h }));
        assert_eq!(c.pending(), 0);
        assert!(now > 5500);
        let s = c.stats();
        assert_eq!(
            (s.transmissions, s.retransmissions, s.failovers, s.timeouts),
            (6, 4, 1, 1)
        );
        // The secondary is now preferred.
        start(&mut c, 10);
        assert_eq!(transmit(&mut c, now).0.to.server_index, 1);
    }

    #[test]
    fn answer_is_delivered_once_and_duplicates_are_counted() {
        let mut c = client();
        let h = start(&mut c, 1);
        let (_, req) = transmit(&mut c, 0);
        let accept = answer(&req, Code::AccessAccept, SECRET, true, |w, _| {
            w.attribute(attr::FRAMED_IP_ADDRESS, &[10, 0, 0, 9])
                .unwrap();
        });
        c.handle_datagram(Instant::ZERO, 0, &accept).unwrap();
        match c.poll_event() {
            Some(Event::Verdict {
                handle,
                verdict: Verdict::Accept(a),
                info,
            }) => {
                assert_eq!(handle, h);
                assert_eq!(a.attributes.address, Some(Ipv4Addr::new(10, 0, 0, 9)));
                assert_eq!(info.note, Some(Note::Unencrypted));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &accept),
            Err(Error::DuplicateResponse { identifier: 1 })
        );
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.stats().duplicates, 1);
        assert_eq!(c.poll_timeout(), None);
        // The identifier is not reused while remembered.
        start(&mut c, 1);
        let (_, req) = transmit(&mut c, 0);
        assert_eq!(Packet::new_checked(&req[..]).unwrap().identifier(), 2);
    }

    #[test]
    fn bad_answers_are_typed_errors_and_leave_the_request_pending() {
        let mut c = client();
        start(&mut c, 1);
        let (_, req) = transmit(&mut c, 0);
        let forged = answer(&req, Code::AccessAccept, b"guessed", true, |_, _| {});
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &forged),
            Err(Error::BadResponseAuthenticator)
        );
        let unsigned = answer(&req, Code::AccessAccept, SECRET, false, |_, _| {});
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &unsigned),
            Err(Error::MissingMessageAuthenticator)
        );
        let mut tampered = answer(&req, Code::AccessAccept, SECRET, true, |_, _| {});
        tampered[30] ^= 0x80;
        // Fix up the Response Authenticator so only the MAC is wrong.
        let p = Packet::new_checked(&req[..]).unwrap();
        let digest =
            wire::md5_parts(&[&tampered[..4], &p.authenticator(), &tampered[20..], SECRET]);
        tampered[4..20].copy_from_slice(&digest);
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &tampered),
            Err(Error::BadMessageAuthenticator)
        );
        let acct = answer(&req, Code::AccountingResponse, SECRET, false, |_, _| {});
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &acct),
            Err(Error::UnexpectedCode { code: 5 })
        );
        let from_secondary = answer(&req, Code::AccessAccept, SECRET2, true, |_, _| {});
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 1, &from_secondary),
            Err(Error::WrongServer { server_index: 1 })
        );
        let mut unknown = answer(&req, Code::AccessAccept, SECRET, true, |_, _| {});
        unknown[1] = 77;
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &unknown),
            Err(Error::UnexpectedResponse { identifier: 77 })
        );
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &req),
            Err(Error::UnexpectedCode { code: 1 })
        );
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &req[..10]),
            Err(Error::Truncated { len: 10 })
        );
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 2, &req),
            Err(Error::NoServer)
        );
        assert_eq!(c.poll_event(), None);
        assert_eq!(c.pending(), 1);
        let s = c.stats();
        assert_eq!((s.bad_authenticators, s.malformed), (3, 1));
        // The genuine answer still ends it.
        let reject = answer(&req, Code::AccessReject, SECRET, true, |_, _| {});
        c.handle_datagram(Instant::ZERO, 0, &reject).unwrap();
        assert!(matches!(
            c.poll_event(),
            Some(Event::Verdict {
                verdict: Verdict::Reject(_),
                ..
            })
        ));
    }

    #[test]
    fn mschapv2_accept_yields_keys_and_authenticator_response() {
        let mut c = client();
        let request = AuthRequest {
            method: Method::MsChapV2,
            username: heapless::Vec::from_slice(b"User").unwrap(),
            identifier: 4,
            response: AuthResponse::MsChapV2 {
                authenticator_challenge: [1; 16],
                response: MsChapV2Response {
                    peer_challenge: [2; 16],
                    nt_response: [3; 24],
                    flags: 0,
                },
            },
        };
        c.start_auth(Instant::ZERO, &request, &SessionInfo::default(), rnd(3))
            .unwrap();
        let (_, req) = transmit(&mut c, 0);
        let p = Packet::new_checked(&req[..]).unwrap();
        let v2: Vec<_> = p.vendor_attributes(ms::VENDOR_MICROSOFT).collect();
        assert_eq!(v2[0].kind, ms::MS_CHAP_CHALLENGE);
        assert_eq!(v2[0].value, &[1; 16]);
        assert_eq!(v2[1].kind, ms::MS_CHAP2_RESPONSE);
        assert_eq!(&v2[1].value[..2], &[4, 0]);
        assert_eq!(&v2[1].value[2..18], &[2; 16]);
        assert_eq!(&v2[1].value[26..], &[3; 24]);
        let s_text = crate::wire::auth::format_authenticator_response(&[0xab; 20]);
        let accept = answer(&req, Code::AccessAccept, SECRET, true, |w, ra| {
            let mut success = [0u8; 43];
            success[0] = 4;
            success[1..].copy_from_slice(&s_text);
            w.vendor_attribute(ms::VENDOR_MICROSOFT, ms::MS_CHAP2_SUCCESS, &success)
                .unwrap();
            let mut out = [0u8; 64];
            let n = wire::encrypt_salted(&[0x51; 16], SECRET, ra, [0x80, 1], &mut out).unwrap();
            w.vendor_attribute(ms::VENDOR_MICROSOFT, ms::MS_MPPE_SEND_KEY, &out[..n])
                .unwrap();
            let n = wire::encrypt_salted(&[0x52; 16], SECRET, ra, [0x80, 2], &mut out).unwrap();
            w.vendor_attribute(ms::VENDOR_MICROSOFT, ms::MS_MPPE_RECV_KEY, &out[..n])
                .unwrap();
            w.vendor_attribute(
                ms::VENDOR_MICROSOFT,
                ms::MS_PRIMARY_NBNS_SERVER,
                &[10, 0, 0, 3],
            )
            .unwrap();
            w.attribute(attr::CLASS, b"billing-42").unwrap();
        });
        c.handle_datagram(Instant::ZERO, 0, &accept).unwrap();
        match c.poll_event() {
            Some(Event::Verdict {
                verdict: Verdict::Accept(a),
                info,
                ..
            }) => {
                assert_eq!(a.authenticator_response, Some([0xab; 20]));
                assert_eq!(
                    a.key_material,
                    Some(MppeKeyMaterial::External {
                        send_key: [0x51; 16],
                        recv_key: [0x52; 16]
                    })
                );
                assert_eq!(info.primary_nbns, Some(Ipv4Addr::new(10, 0, 0, 3)));
                assert_eq!(info.note, None);
                // RFC 2865 §5.25: kept to echo in accounting.
                assert_eq!(&info.class[..], b"billing-42");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn reject_carries_ms_chap_error_and_challenge_is_refused() {
        let mut c = client();
        start(&mut c, 1);
        start(&mut c, 2);
        let (_, r1) = transmit(&mut c, 0);
        let (_, r2) = transmit(&mut c, 0);
        let reject = answer(&r1, Code::AccessReject, SECRET, true, |w, _| {
            w.vendor_attribute(
                ms::VENDOR_MICROSOFT,
                ms::MS_CHAP_ERROR,
                b"\x01E=649 R=0 V=3",
            )
            .unwrap();
        });
        c.handle_datagram(Instant::ZERO, 0, &reject).unwrap();
        match c.poll_event() {
            Some(Event::Verdict {
                verdict: Verdict::Reject(r),
                ..
            }) => assert_eq!(r.error_code, 649),
            other => panic!("{other:?}"),
        }
        let challenge = answer(&r2, Code::AccessChallenge, SECRET, true, |_, _| {});
        c.handle_datagram(Instant::ZERO, 0, &challenge).unwrap();
        match c.poll_event() {
            Some(Event::Verdict {
                verdict: Verdict::Reject(r),
                info,
                ..
            }) => {
                assert_eq!(r.error_code, 691);
                assert_eq!(info.note, Some(Note::Challenge));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn tables_are_bounded() {
        let mut c = client();
        for i in 0..4 {
            start(&mut c, i);
        }
        assert_eq!(
            c.start_auth(Instant::ZERO, &pap(b"x"), &SessionInfo::default(), rnd(9)),
            Err(Error::TooManyPending)
        );
        // Too small a buffer fails the request instead of overrunning.
        let mut small = [0u8; 30];
        assert!(c.poll_transmit(Instant::ZERO, &mut small).is_none());
        assert!(matches!(
            c.poll_event(),
            Some(Event::Failed {
                error: Error::BufferTooSmall { .. },
                ..
            })
        ));
        assert_eq!(c.pending(), 3);
        assert!(RadiusClient::<1, 1>::new(config(), &[]).is_err());
        assert_eq!(
            ServerConfig::new(b"").unwrap_err(),
            Error::ValueTooLong {
                attribute: 0,
                length: 0
            }
        );
        // A 129-octet PAP password cannot be sent (RFC 2865 §5.2).
        let mut c = client();
        assert_eq!(
            c.start_auth(
                Instant::ZERO,
                &pap(&[b'a'; 129]),
                &SessionInfo::default(),
                rnd(1)
            ),
            Err(Error::UnsupportedRequest)
        );
        let _ = crypto::strip_domain(b"x");
    }

    #[test]
    fn accounting_response_is_verified() {
        let mut c = client();
        let record = AccountingRecord::new(super::super::AccountingStatus::Start, b"s1", b"User");
        let h = c.start_accounting(Instant::ZERO, &record, rnd(40)).unwrap();
        let (t, req) = transmit(&mut c, 0);
        assert_eq!(t.to.kind, RequestKind::Accounting);
        let forged = answer(&req, Code::AccountingResponse, b"nope", false, |_, _| {});
        assert_eq!(
            c.handle_datagram(Instant::ZERO, 0, &forged),
            Err(Error::BadResponseAuthenticator)
        );
        let good = answer(&req, Code::AccountingResponse, SECRET, false, |_, _| {});
        c.handle_datagram(Instant::ZERO, 0, &good).unwrap();
        assert_eq!(
            c.poll_event(),
            Some(Event::AccountingAcknowledged { handle: h })
        );
    }
}
