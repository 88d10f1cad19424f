//! The Sans-IO RADIUS client: request table, identifiers, retransmission
//! with back-off over several servers, duplicate-response protection.
//!
//! The host owns the UDP sockets. Server `i` of the client is whatever
//! address pair the host associates with index `i` (authentication port
//! for [`RequestKind::Authentication`], accounting port for
//! [`RequestKind::Accounting`], both given in [`Transmit`]). Loop:
//!
//! 1. `start_auth` / `start_accounting` queue a request;
//! 2. `poll_transmit(now, buf)` yields datagrams to send to
//!    `Transmit::server_index`;
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

use core::net::Ipv4Addr;

use heapless::Deque;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::accounting::AccountingRecord;
use super::wire::{self, Code, Packet, PacketWriter, HEADER_LEN, MAX_PACKET_LEN};
use super::Error;
use crate::aaa::bridge::{self, MppePolicy, NasAttributes, RequestContext, VerdictInfo};
use crate::auth::{AuthRequest, AuthResponse, Password, Verdict};
use crate::time::{Duration, Instant};

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

/// A datagram written by `poll_transmit`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Transmit {
    /// Which configured server to send it to.
    pub server_index: usize,
    /// Which of its ports.
    pub kind: RequestKind,
    /// The request it belongs to.
    pub handle: RequestHandle,
    /// Octets written at the start of the buffer.
    pub len: usize,
}

/// What the client reports.
#[derive(Clone, Debug, PartialEq, Eq)]
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

impl<const SERVERS: usize, const PENDING: usize> core::fmt::Debug for RadiusClient<SERVERS, PENDING> {
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

    fn encode(slot: &Slot<SERVERS>, secret: &[u8], buf: &mut [u8]) -> Result<(usize, [u8; 16]), Error> {
        match slot.kind {
            RequestKind::Authentication => {
                let mut w = PacketWriter::new(buf, Code::AccessRequest, slot.identifier, &slot.authenticator)?;
                // RFC 3579 §3.2, BlastRADIUS: Message-Authenticator first.
                w.message_authenticator()?;
                w.attribute_region(slot.template.as_bytes())?;
                if let Some(password) = &slot.password {
                    w.user_password(password.as_bytes(), secret)?;
                }
                Ok((w.finish_request(secret), slot.authenticator))
            }
            RequestKind::Accounting => {
                let mut w = PacketWriter::new(buf, Code::AccountingRequest, slot.identifier, &[0; 16])?;
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
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit> {
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
                    server_index: slot.server,
                    kind: slot.kind,
                    handle: slot.handle,
                    len,
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
    pub fn handle_datagram(&mut self, now: Instant, server_index: usize, datagram: &[u8]) -> Result<(), Error> {
        let _ = now;
        let secret_len = self.servers.get(server_index).ok_or(Error::NoServer)?.secret().len();
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
            return Err(Error::UnexpectedCode {
                code: code.as_u8(),
            });
        }
        let identifier = packet.identifier();
        let secret = self.servers.get(server_index).ok_or(Error::NoServer)?.secret();
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
        let slot = self.slots.get(index).ok_or(Error::UnexpectedResponse { identifier })?;
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
