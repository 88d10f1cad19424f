//! The Sans-IO TACACS+ client for one TCP connection.
//!
//! The host opens a TCP connection to the server, creates a
//! [`TacacsClient`], and loops: `poll_transmit` → write the bytes to the
//! stream; bytes read from the stream → `handle_input`; `poll_timeout` /
//! `handle_timeout` for servers that go quiet; `poll_event` for verdicts,
//! authorization results and accounting acknowledgements.
//!
//! Sessions (RFC 8907 §3) are identified by the host's random session
//! id. Without single-connection mode (§4.3) the host uses one connection
//! per session and closes it after the session's event; with it (and if
//! the server echoed the flag, [`TacacsClient::single_connection`]) the
//! connection is kept and several sessions may be multiplexed.
//!
//! After [`Error::ConnectionBroken`] (or an `Oversized` frame) the stream
//! cannot be re-synchronised: close it; pending sessions fail with
//! [`Event::Failed`].

use core::fmt;
use core::net::Ipv4Addr;

use heapless::Deque;
use zeroize::{Zeroize, ZeroizeOnDrop};

use super::wire::{
    self, acct, authen_status, authen_type, author_status, AcctReply, AcctRequest, Args,
    AuthenContinue, AuthenReply, AuthenStart, AuthorRequest, AuthorResponse, Header, PacketType,
    RequestInfo, HEADER_LEN, MAX_BODY_LEN,
};
use super::Error;
use crate::aaa::bridge::{self, MppePolicy, Note, RequestContext, VerdictInfo};
use crate::auth::{Accept, AuthRequest, AuthResponse, Method, Password, Verdict};
use crate::time::{Duration, Instant};
use crate::transmit::Transmit;

/// Longest key.
pub const MAX_KEY_LEN: usize = 128;
/// Room for one encoded request packet.
pub const MAX_REQUEST_LEN: usize = 1024;

/// Client settings. Construct with [`TacacsConfig::new`], which refuses
/// `mppe required`.
#[derive(Clone, Zeroize, ZeroizeOnDrop)]
pub struct TacacsConfig {
    key: [u8; MAX_KEY_LEN],
    key_len: usize,
    /// Ask for single-connection mode (RFC 8907 §4.3).
    #[zeroize(skip)]
    pub single_connection: bool,
    /// How long to wait for each reply.
    #[zeroize(skip)]
    pub timeout: Duration,
    /// The `port` field (the NAS's name for the session's line).
    #[zeroize(skip)]
    pub port: heapless::Vec<u8, 32>,
    /// Privilege level sent (RFC 8907 §5.1; 1 = user).
    #[zeroize(skip)]
    pub priv_lvl: u8,
    #[zeroize(skip)]
    mppe: MppePolicy,
}

impl core::fmt::Debug for TacacsConfig {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TacacsConfig")
            .field("key", &"<redacted>")
            .field("single_connection", &self.single_connection)
            .field("timeout", &self.timeout)
            .field("mppe", &self.mppe)
            .finish()
    }
}

impl TacacsConfig {
    /// A configuration with `key` (1 to 128 octets). With
    /// [`MppePolicy::Required`] it fails with
    /// [`Error::MppeRequiresRadius`]: TACACS+ cannot deliver MPPE keys.
    pub fn new(key: &[u8], mppe: MppePolicy) -> Result<Self, Error> {
        if mppe == MppePolicy::Required {
            return Err(Error::MppeRequiresRadius);
        }
        if key.is_empty() || key.len() > MAX_KEY_LEN {
            return Err(Error::BadKey);
        }
        let mut k = [0u8; MAX_KEY_LEN];
        k[..key.len()].copy_from_slice(key);
        Ok(TacacsConfig {
            key: k,
            key_len: key.len(),
            single_connection: false,
            timeout: Duration::from_secs(5),
            port: heapless::Vec::from_slice(b"pptp").unwrap_or_default(),
            priv_lvl: 1,
            mppe,
        })
    }

    fn key(&self) -> &[u8] {
        self.key.get(..self.key_len).unwrap_or(&[])
    }

    /// The MPPE policy (always [`MppePolicy::Auto`]).
    pub fn mppe(&self) -> MppePolicy {
        self.mppe
    }
}

/// A session, named by its session id.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct SessionHandle(pub u32);

/// Authorization outcome status (RFC 8907 §6.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AuthorizationStatus {
    /// PASS_ADD or PASS_REPL.
    Pass,
    /// FAIL: the user may not use PPP/IP.
    Fail,
    /// ERROR or FOLLOW (not followed).
    Error,
}

impl fmt::Display for AuthorizationStatus {
    /// RFC 8907 §6.2's names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AuthorizationStatus::Pass => "PASS",
            AuthorizationStatus::Fail => "FAIL",
            AuthorizationStatus::Error => "ERROR",
        })
    }
}

/// What authorization of `service=ppp protocol=ip` returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AuthorizationOutcome {
    /// Status.
    pub status: AuthorizationStatus,
    /// `addr=`, `dns-servers=` (first two), for IPCP.
    pub attributes: crate::auth::Attributes,
}

impl AuthorizationOutcome {
    /// Combines an authentication verdict with this outcome: a failed
    /// authorization turns an Accept into a rejection (691); a passed one
    /// adds the address and DNS servers.
    pub fn apply(&self, verdict: Verdict) -> Verdict {
        match (verdict, self.status) {
            (Verdict::Accept(mut a), AuthorizationStatus::Pass) => {
                let attrs = self.attributes;
                a.attributes.address = attrs.address.or(a.attributes.address);
                a.attributes.primary_dns = attrs.primary_dns.or(a.attributes.primary_dns);
                a.attributes.secondary_dns = attrs.secondary_dns.or(a.attributes.secondary_dns);
                Verdict::Accept(a)
            }
            (Verdict::Accept(_), _) => bridge::rejection(691),
            (other, _) => other,
        }
    }
}

/// Accounting record type (RFC 8907 §7.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AccountingKind {
    /// START.
    Start,
    /// WATCHDOG (interim update).
    Watchdog,
    /// STOP.
    Stop,
}

impl fmt::Display for AccountingKind {
    /// RFC 8907 §7.1's names.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            AccountingKind::Start => "START",
            AccountingKind::Watchdog => "WATCHDOG",
            AccountingKind::Stop => "STOP",
        })
    }
}

/// One accounting record (RFC 8907 §8.3 argument names).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountingRecord<'a> {
    /// START, WATCHDOG or STOP.
    pub kind: AccountingKind,
    /// User name.
    pub username: &'a [u8],
    /// The PPTP client's address as text.
    pub rem_addr: &'a [u8],
    /// `task_id`: the same in START and STOP of one session.
    pub task_id: &'a [u8],
    /// `elapsed_time` in seconds (WATCHDOG/STOP).
    pub elapsed_time: u32,
    /// `bytes_in` (from the user).
    pub bytes_in: u64,
    /// `bytes_out` (to the user).
    pub bytes_out: u64,
    /// `paks_in`.
    pub paks_in: u64,
    /// `paks_out`.
    pub paks_out: u64,
    /// `addr`: the address assigned.
    pub addr: Option<Ipv4Addr>,
}

/// What the client reports.
#[derive(Clone, Debug, PartialEq, Eq)]
// No allocator to box the large variant; events are moved once.
#[allow(clippy::large_enum_variant)]
pub enum Event {
    /// Authentication finished.
    Verdict {
        /// The session.
        handle: SessionHandle,
        /// For the authenticator's `verdict`.
        verdict: Verdict,
        /// Why it differs from the server's answer, if it does
        /// (always [`Note::Unencrypted`] on accept: no MPPE keys).
        info: VerdictInfo,
    },
    /// Authorization finished.
    Authorization {
        /// The session.
        handle: SessionHandle,
        /// The outcome.
        outcome: AuthorizationOutcome,
    },
    /// Accounting REPLY with SUCCESS.
    AccountingAcknowledged {
        /// The session.
        handle: SessionHandle,
    },
    /// Accounting REPLY with ERROR or FOLLOW.
    AccountingRefused {
        /// The session.
        handle: SessionHandle,
    },
    /// No reply in time.
    Timeout {
        /// The session.
        handle: SessionHandle,
    },
    /// The session failed (bad reply, broken connection, buffer).
    Failed {
        /// The session.
        handle: SessionHandle,
        /// Why.
        error: Error,
    },
}

#[derive(Zeroize, ZeroizeOnDrop)]
struct OutBuf {
    bytes: [u8; MAX_REQUEST_LEN],
    len: usize,
}

// No allocator to box the large variant; events are moved once.
#[allow(clippy::large_enum_variant)]
enum Kind {
    Authentication {
        context: RequestContext,
        password: Option<Password>,
    },
    Authorization,
    Accounting,
}

struct Session {
    id: u32,
    kind: Kind,
    /// The seq_no of the last packet sent (the reply has this + 1).
    last_seq: u8,
    version: u8,
    out: OutBuf,
    out_pending: bool,
    deadline: Option<Instant>,
}

impl Session {
    fn packet_type(&self) -> PacketType {
        match self.kind {
            Kind::Authentication { .. } => PacketType::Authentication,
            Kind::Authorization => PacketType::Authorization,
            Kind::Accounting => PacketType::Accounting,
        }
    }
}

/// The Sans-IO TACACS+ client for one connection and up to `SESSIONS`
/// concurrent sessions.
pub struct TacacsClient<const SESSIONS: usize> {
    config: TacacsConfig,
    rx: [u8; HEADER_LEN + MAX_BODY_LEN],
    rx_len: usize,
    sessions: heapless::Vec<Session, SESSIONS>,
    events: Deque<Event, SESSIONS>,
    single_connection: Option<bool>,
    broken: bool,
}

impl<const SESSIONS: usize> core::fmt::Debug for TacacsClient<SESSIONS> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("TacacsClient")
            .field("sessions", &self.sessions.len())
            .field("single_connection", &self.single_connection)
            .field("broken", &self.broken)
            .finish()
    }
}

fn authen_type_of(method: Method) -> u8 {
    match method {
        Method::Pap => authen_type::PAP,
        Method::ChapMd5 => authen_type::CHAP,
        Method::MsChapV1 => authen_type::MSCHAP,
        Method::MsChapV2 => authen_type::MSCHAPV2,
    }
}

/// Finds `S=` followed by 40 hex digits (the MS-CHAPv2 authenticator
/// response) in `text`.
fn find_authenticator_response(text: &[u8]) -> Option<[u8; 20]> {
    let at = text.windows(2).position(|w| w == b"S=")?;
    let candidate = text.get(at..at + crate::wire::auth::AUTHENTICATOR_RESPONSE_STR_LEN)?;
    crate::wire::auth::parse_authenticator_response(candidate).ok()
}

fn parse_ipv4(text: &[u8]) -> Option<Ipv4Addr> {
    core::str::from_utf8(text).ok()?.trim().parse().ok()
}

/// A small arena for formatted argument strings.
struct Arena {
    bytes: [u8; 512],
    len: usize,
    ranges: heapless::Vec<(usize, usize), { wire::MAX_ARGS }>,
}

impl Arena {
    fn new() -> Self {
        Arena {
            bytes: [0; 512],
            len: 0,
            ranges: heapless::Vec::new(),
        }
    }

    fn push(&mut self, parts: &[&[u8]]) -> Result<(), Error> {
        let start = self.len;
        for p in parts {
            let end = self.len + p.len();
            self.bytes
                .get_mut(self.len..end)
                .ok_or(Error::BufferTooSmall { needed: end })?
                .copy_from_slice(p);
            self.len = end;
        }
        self.ranges
            .push((start, self.len))
            .map_err(|_| Error::TooManyArgs)
    }

    fn number(&mut self, name: &[u8], value: u64) -> Result<(), Error> {
        let mut digits = [0u8; 20];
        let mut i = digits.len();
        let mut v = value;
        loop {
            i -= 1;
            digits[i] = b'0' + (v % 10) as u8;
            v /= 10;
            if v == 0 {
                break;
            }
        }
        self.push(&[name, b"=", &digits[i..]])
    }

    fn args(&self) -> Result<Args<'_>, Error> {
        let mut args = Args::new();
        for &(s, e) in &self.ranges {
            args.push(self.bytes.get(s..e).unwrap_or(&[]))?;
        }
        Ok(args)
    }
}

impl<const SESSIONS: usize> TacacsClient<SESSIONS> {
    /// A client for a fresh connection.
    pub fn new(config: TacacsConfig) -> Self {
        TacacsClient {
            config,
            rx: [0; HEADER_LEN + MAX_BODY_LEN],
            rx_len: 0,
            sessions: heapless::Vec::new(),
            events: Deque::new(),
            single_connection: None,
            broken: false,
        }
    }

    /// Whether the server agreed to single-connection mode (None until
    /// its first reply).
    pub fn single_connection(&self) -> Option<bool> {
        self.single_connection
    }

    /// Whether the stream lost its framing: close the connection.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sessions in progress.
    pub fn pending(&self) -> usize {
        self.sessions.len()
    }

    fn header(&self, packet_type: PacketType, version: u8, seq_no: u8, session_id: u32) -> Header {
        Header {
            version,
            packet_type: packet_type.as_u8(),
            seq_no,
            flags: if self.config.single_connection {
                wire::FLAG_SINGLE_CONNECT
            } else {
                0
            },
            session_id,
            length: 0,
        }
    }

    fn check_new(&self, session_id: u32) -> Result<(), Error> {
        if self.broken {
            return Err(Error::ConnectionBroken);
        }
        if self.sessions.len() + self.events.len() >= SESSIONS {
            return Err(Error::TooManySessions);
        }
        if self.sessions.iter().any(|s| s.id == session_id) {
            return Err(Error::SessionIdInUse);
        }
        Ok(())
    }

    fn add(
        &mut self,
        id: u32,
        kind: Kind,
        version: u8,
        out: OutBuf,
    ) -> Result<SessionHandle, Error> {
        self.sessions
            .push(Session {
                id,
                kind,
                last_seq: 1,
                version,
                out,
                out_pending: true,
                deadline: None,
            })
            .map_err(|_| Error::TooManySessions)?;
        Ok(SessionHandle(id))
    }

    /// Starts an authentication session (RFC 8907 §5.4.2: inbound PPP
    /// login with authen_type PAP, CHAP, MSCHAP or MSCHAPV2, minor
    /// version 1). `session_id` comes from the host's random source;
    /// `rem_addr` is the PPTP client's address as text.
    pub fn start_auth(
        &mut self,
        now: Instant,
        request: &AuthRequest,
        rem_addr: &[u8],
        session_id: u32,
    ) -> Result<SessionHandle, Error> {
        let _ = now;
        self.check_new(session_id)?;
        // Data per §5.4.2: PAP the password; CHAP the PPP id, challenge
        // and response; MS-CHAP the PPP id, challenge and the 49-octet
        // Response value.
        let mut data = [0u8; 1 + 64 + 49];
        let mut password = None;
        let data_len = match &request.response {
            AuthResponse::Pap { password: p } => {
                let bytes = p.as_bytes();
                let d = data.get_mut(..bytes.len()).ok_or(Error::FieldTooLong {
                    field: "data",
                    length: bytes.len(),
                })?;
                d.copy_from_slice(bytes);
                password = Some(p.clone());
                bytes.len()
            }
            AuthResponse::ChapMd5 {
                challenge,
                response,
            } => {
                data[0] = request.identifier;
                let c = challenge.len();
                data[1..1 + c].copy_from_slice(challenge);
                data[1 + c..17 + c].copy_from_slice(response);
                17 + c
            }
            AuthResponse::MsChapV1 {
                challenge,
                response,
            } => {
                data[0] = request.identifier;
                data[1..9].copy_from_slice(challenge);
                data[9..58].copy_from_slice(&response.to_bytes());
                58
            }
            AuthResponse::MsChapV2 {
                authenticator_challenge,
                response,
            } => {
                data[0] = request.identifier;
                data[1..17].copy_from_slice(authenticator_challenge);
                data[17..66].copy_from_slice(&response.to_bytes());
                66
            }
            AuthResponse::MsChapV2ChangePassword { .. }
            | AuthResponse::MsChapV1ChangePassword { .. }
            | AuthResponse::MsChapV1ChangePasswordV1 { .. } => {
                return Err(Error::PasswordChangeUnsupported)
            }
        };
        let start = AuthenStart {
            action: wire::ACTION_LOGIN,
            priv_lvl: self.config.priv_lvl,
            authen_type: authen_type_of(request.method),
            authen_service: wire::AUTHEN_SERVICE_PPP,
            user: &request.username,
            port: &self.config.port,
            rem_addr,
            data: data.get(..data_len).unwrap_or(&[]),
        };
        let version = (wire::MAJOR_VERSION << 4) | 1;
        let header = self.header(PacketType::Authentication, version, 1, session_id);
        let mut out = OutBuf {
            bytes: [0; MAX_REQUEST_LEN],
            len: 0,
        };
        out.len = wire::emit_packet(&mut out.bytes, header, self.config.key(), |b| start.emit(b))?;
        data.zeroize();
        self.add(
            session_id,
            Kind::Authentication {
                context: RequestContext::of(request),
                password,
            },
            version,
            out,
        )
    }

    /// Starts authorization of `service=ppp protocol=ip` for `username`
    /// (RFC 8907 §6.1, §8.2), after it authenticated with `method`.
    pub fn start_authorization(
        &mut self,
        now: Instant,
        username: &[u8],
        method: Method,
        rem_addr: &[u8],
        session_id: u32,
    ) -> Result<SessionHandle, Error> {
        let _ = now;
        self.check_new(session_id)?;
        let mut args = Args::new();
        args.push(b"service=ppp")?;
        args.push(b"protocol=ip")?;
        let request = AuthorRequest {
            info: RequestInfo {
                authen_method: wire::AUTHEN_METHOD_TACACSPLUS,
                priv_lvl: self.config.priv_lvl,
                authen_type: authen_type_of(method),
                authen_service: wire::AUTHEN_SERVICE_PPP,
                user: username,
                port: &self.config.port,
                rem_addr,
            },
            args,
        };
        let version = wire::MAJOR_VERSION << 4;
        let header = self.header(PacketType::Authorization, version, 1, session_id);
        let mut out = OutBuf {
            bytes: [0; MAX_REQUEST_LEN],
            len: 0,
        };
        out.len = wire::emit_packet(&mut out.bytes, header, self.config.key(), |b| {
            request.emit(b)
        })?;
        drop(request);
        self.add(session_id, Kind::Authorization, version, out)
    }

    /// Sends an accounting record (RFC 8907 §7.1, argument names §8.3).
    pub fn start_accounting(
        &mut self,
        now: Instant,
        record: &AccountingRecord<'_>,
        session_id: u32,
    ) -> Result<SessionHandle, Error> {
        let _ = now;
        self.check_new(session_id)?;
        let mut arena = Arena::new();
        arena.push(&[b"task_id=", record.task_id])?;
        arena.push(&[b"service=ppp"])?;
        arena.push(&[b"protocol=ip"])?;
        let mut addr_text = [0u8; 15];
        if let Some(addr) = record.addr {
            let mut w = TextWriter {
                buf: &mut addr_text,
                len: 0,
            };
            let _ = core::fmt::write(&mut w, format_args!("{addr}"));
            let n = w.len;
            arena.push(&[b"addr=", &addr_text[..n]])?;
        }
        if record.kind != AccountingKind::Start {
            arena.number(b"elapsed_time", u64::from(record.elapsed_time))?;
            arena.number(b"bytes_in", record.bytes_in)?;
            arena.number(b"bytes_out", record.bytes_out)?;
            arena.number(b"paks_in", record.paks_in)?;
            arena.number(b"paks_out", record.paks_out)?;
        }
        let flags = match record.kind {
            AccountingKind::Start => acct::FLAG_START,
            AccountingKind::Watchdog => acct::FLAG_WATCHDOG,
            AccountingKind::Stop => acct::FLAG_STOP,
        };
        let request = AcctRequest {
            flags,
            info: RequestInfo {
                authen_method: wire::AUTHEN_METHOD_TACACSPLUS,
                priv_lvl: self.config.priv_lvl,
                authen_type: 0,
                authen_service: wire::AUTHEN_SERVICE_PPP,
                user: record.username,
                port: &self.config.port,
                rem_addr: record.rem_addr,
            },
            args: arena.args()?,
        };
        let version = wire::MAJOR_VERSION << 4;
        let header = self.header(PacketType::Accounting, version, 1, session_id);
        let mut out = OutBuf {
            bytes: [0; MAX_REQUEST_LEN],
            len: 0,
        };
        out.len = wire::emit_packet(&mut out.bytes, header, self.config.key(), |b| {
            request.emit(b)
        })?;
        drop(request);
        self.add(session_id, Kind::Accounting, version, out)
    }

    /// The next packet to write to the stream.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<Transmit<SessionHandle>> {
        let index = self.sessions.iter().position(|s| s.out_pending)?;
        let session = self.sessions.get_mut(index)?;
        let len = session.out.len;
        match buf.get_mut(..len) {
            Some(dst) => {
                dst.copy_from_slice(session.out.bytes.get(..len).unwrap_or(&[]));
                session.out_pending = false;
                session.deadline = Some(now + self.config.timeout);
                Some(Transmit {
                    len,
                    to: SessionHandle(session.id),
                })
            }
            None => {
                let handle = SessionHandle(session.id);
                self.sessions.swap_remove(index);
                let _ = self.events.push_back(Event::Failed {
                    handle,
                    error: Error::BufferTooSmall { needed: len },
                });
                None
            }
        }
    }

    /// When `handle_timeout` should be called next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.sessions.iter().filter_map(|s| s.deadline).min()
    }

    /// Times out sessions whose reply is late.
    pub fn handle_timeout(&mut self, now: Instant) {
        while let Some(i) = self
            .sessions
            .iter()
            .position(|s| s.deadline.is_some_and(|d| d <= now))
        {
            let handle = SessionHandle(self.sessions.swap_remove(i).id);
            let _ = self.events.push_back(Event::Timeout { handle });
        }
    }

    fn fail_all(&mut self, error: Error) {
        while let Some(s) = self.sessions.pop() {
            let _ = self.events.push_back(Event::Failed {
                handle: SessionHandle(s.id),
                error,
            });
        }
    }

    /// Bytes read from the stream (any split). Returns the first error
    /// met; packets after it in `bytes` are still processed unless the
    /// connection broke.
    pub fn handle_input(&mut self, now: Instant, mut bytes: &[u8]) -> Result<(), Error> {
        let mut result = Ok(());
        while !bytes.is_empty() {
            if self.broken {
                return Err(Error::ConnectionBroken);
            }
            let room = self.rx.len() - self.rx_len;
            let n = room.min(bytes.len());
            self.rx[self.rx_len..self.rx_len + n].copy_from_slice(&bytes[..n]);
            self.rx_len += n;
            bytes = &bytes[n..];
            loop {
                if self.rx_len < HEADER_LEN {
                    break;
                }
                let header = match Header::parse(&self.rx[..self.rx_len]) {
                    Ok(h) => h,
                    Err(Error::Oversized { length }) => {
                        self.broken = true;
                        self.fail_all(Error::ConnectionBroken);
                        return Err(Error::Oversized { length });
                    }
                    Err(e) => {
                        // Framing is intact (the length is in bounds):
                        // skip the packet.
                        let len =
                            u32::from_be_bytes([self.rx[8], self.rx[9], self.rx[10], self.rx[11]]);
                        if len as usize > MAX_BODY_LEN {
                            self.broken = true;
                            self.fail_all(Error::ConnectionBroken);
                            return Err(e);
                        }
                        let total = HEADER_LEN + len as usize;
                        if self.rx_len < total {
                            break;
                        }
                        self.consume(total);
                        if result.is_ok() {
                            result = Err(e);
                        }
                        continue;
                    }
                };
                let total = HEADER_LEN + header.length as usize;
                if self.rx_len < total {
                    break;
                }
                let mut body = [0u8; MAX_BODY_LEN];
                let body = &mut body[..header.length as usize];
                body.copy_from_slice(&self.rx[HEADER_LEN..total]);
                self.consume(total);
                if let Err(e) = self.process(now, &header, body) {
                    if result.is_ok() {
                        result = Err(e);
                    }
                }
                body.zeroize();
            }
        }
        result
    }

    fn consume(&mut self, n: usize) {
        self.rx.copy_within(n..self.rx_len, 0);
        self.rx_len -= n;
    }

    fn fail(&mut self, index: usize, error: Error) -> Error {
        if index < self.sessions.len() {
            let handle = SessionHandle(self.sessions.swap_remove(index).id);
            let _ = self.events.push_back(Event::Failed { handle, error });
        }
        error
    }

    fn process(&mut self, now: Instant, header: &Header, body: &mut [u8]) -> Result<(), Error> {
        let Some(index) = self.sessions.iter().position(|s| s.id == header.session_id) else {
            return Err(Error::UnknownSession {
                session_id: header.session_id,
            });
        };
        let session = &self.sessions[index];
        let expected = session.last_seq.wrapping_add(1);
        if session.out_pending || header.seq_no != expected {
            return Err(self.fail(
                index,
                Error::BadSequence {
                    seq_no: header.seq_no,
                    expected,
                },
            ));
        }
        if header.packet_type != session.packet_type().as_u8() {
            return Err(self.fail(
                index,
                Error::UnexpectedType {
                    packet_type: header.packet_type,
                },
            ));
        }
        if header.flags & wire::FLAG_UNENCRYPTED != 0 {
            return Err(self.fail(index, Error::Unobfuscated));
        }
        if self.single_connection.is_none() {
            self.single_connection = Some(header.flags & wire::FLAG_SINGLE_CONNECT != 0);
        }
        wire::obfuscate(header, self.config.key(), body);
        let handle = SessionHandle(header.session_id);
        let event = match &self.sessions[index].kind {
            Kind::Authentication { context, password } => {
                let reply = match AuthenReply::parse(body) {
                    Ok(r) => r,
                    Err(e) => return Err(self.fail(index, e)),
                };
                let context = *context;
                match reply.status {
                    authen_status::GETPASS if password.is_some() => {
                        // A server that asks for the PAP password again:
                        // CONTINUE with it (RFC 8907 §5.3).
                        let seq = header.seq_no.wrapping_add(1);
                        if seq == 0 {
                            // §4.1: sequence numbers must not wrap.
                            return Err(self.fail(
                                index,
                                Error::BadSequence {
                                    seq_no: 255,
                                    expected: 0,
                                },
                            ));
                        }
                        let version = self.sessions[index].version;
                        let h = self.header(
                            PacketType::Authentication,
                            version,
                            seq,
                            header.session_id,
                        );
                        let key_copy = self.config.clone();
                        let session = &mut self.sessions[index];
                        let pw = match &session.kind {
                            Kind::Authentication {
                                password: Some(p), ..
                            } => p.clone(),
                            _ => return Ok(()),
                        };
                        let cont = AuthenContinue {
                            user_msg: pw.as_bytes(),
                            data: b"",
                            flags: 0,
                        };
                        match wire::emit_packet(&mut session.out.bytes, h, key_copy.key(), |b| {
                            cont.emit(b)
                        }) {
                            Ok(len) => {
                                session.out.len = len;
                                session.out_pending = true;
                                session.last_seq = seq;
                                session.deadline = None;
                                return Ok(());
                            }
                            Err(e) => return Err(self.fail(index, e)),
                        }
                    }
                    authen_status::PASS => {
                        let mut accept = Accept::default();
                        if context.method == Method::MsChapV2 {
                            // RFC 8907 does not say where the MS-CHAPv2
                            // authenticator response travels; accept
                            // "S=<40 hex>" in data or server_msg.
                            accept.authenticator_response = find_authenticator_response(reply.data)
                                .or_else(|| find_authenticator_response(reply.server_msg));
                        }
                        let mut info = VerdictInfo::default();
                        let verdict = bridge::apply_mppe_policy(
                            Verdict::Accept(accept),
                            self.config.mppe,
                            &mut info,
                        );
                        Event::Verdict {
                            handle,
                            verdict,
                            info,
                        }
                    }
                    authen_status::FAIL => Event::Verdict {
                        handle,
                        verdict: bridge::rejection(crate::wire::auth::ERROR_AUTHENTICATION_FAILURE),
                        info: VerdictInfo::default(),
                    },
                    _ => Event::Verdict {
                        handle,
                        verdict: bridge::rejection(crate::wire::auth::ERROR_AUTHENTICATION_FAILURE),
                        info: VerdictInfo {
                            note: Some(Note::ServerError),
                            ..VerdictInfo::default()
                        },
                    },
                }
            }
            Kind::Authorization => {
                let response = match AuthorResponse::parse(body) {
                    Ok(r) => r,
                    Err(e) => return Err(self.fail(index, e)),
                };
                let status = match response.status {
                    author_status::PASS_ADD | author_status::PASS_REPL => AuthorizationStatus::Pass,
                    author_status::FAIL => AuthorizationStatus::Fail,
                    _ => AuthorizationStatus::Error,
                };
                let mut attributes = crate::auth::Attributes::default();
                if status == AuthorizationStatus::Pass {
                    attributes.address = response.args.get(b"addr").and_then(parse_ipv4);
                    if let Some(list) = response.args.get(b"dns-servers") {
                        let mut it = list
                            .split(|&c| c == b' ' || c == b',')
                            .filter(|s| !s.is_empty())
                            .filter_map(parse_ipv4);
                        attributes.primary_dns = it.next();
                        attributes.secondary_dns = it.next();
                    }
                }
                Event::Authorization {
                    handle,
                    outcome: AuthorizationOutcome { status, attributes },
                }
            }
            Kind::Accounting => {
                let reply = match AcctReply::parse(body) {
                    Ok(r) => r,
                    Err(e) => return Err(self.fail(index, e)),
                };
                if reply.status == acct::STATUS_SUCCESS {
                    Event::AccountingAcknowledged { handle }
                } else {
                    Event::AccountingRefused { handle }
                }
            }
        };
        let _ = now;
        self.sessions.swap_remove(index);
        let _ = self.events.push_back(event);
        Ok(())
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }
}

/// `core::fmt::Write` into a fixed buffer (truncates).
struct TextWriter<'b> {
    buf: &'b mut [u8],
    len: usize,
}

impl core::fmt::Write for TextWriter<'_> {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len + s.len();
        let dst = self.buf.get_mut(self.len..end).ok_or(core::fmt::Error)?;
        dst.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::wire::auth::MsChapV2Response;

    const KEY: &[u8] = b"tac-key";

    fn client() -> TacacsClient<3> {
        TacacsClient::new(TacacsConfig::new(KEY, MppePolicy::Auto).unwrap())
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

    fn sent(c: &mut TacacsClient<3>) -> Vec<u8> {
        let mut buf = [0u8; 2048];
        let t = c.poll_transmit(Instant::ZERO, &mut buf).unwrap();
        buf[..t.len].to_vec()
    }

    /// Decodes a client packet: header and clear body.
    fn open(packet: &[u8]) -> (Header, Vec<u8>) {
        let h = Header::parse(packet).unwrap();
        let mut body = packet[HEADER_LEN..].to_vec();
        assert_eq!(body.len(), h.length as usize);
        wire::obfuscate(&h, KEY, &mut body);
        (h, body)
    }

    /// A server reply to `request` with `seq_no`.
    fn reply(
        request: &Header,
        seq_no: u8,
        flags: u8,
        body: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Vec<u8> {
        let mut out = [0u8; 2048];
        let h = Header {
            seq_no,
            flags,
            ..*request
        };
        let n = wire::emit_packet(&mut out, h, KEY, body).unwrap();
        out[..n].to_vec()
    }

    fn authen_reply(
        status: u8,
        data: &'static [u8],
    ) -> impl FnOnce(&mut [u8]) -> Result<usize, Error> {
        move |b| {
            AuthenReply {
                status,
                flags: 0,
                server_msg: b"",
                data,
            }
            .emit(b)
        }
    }

    #[test]
    fn mppe_required_is_refused() {
        assert_eq!(
            TacacsConfig::new(KEY, MppePolicy::Required).unwrap_err(),
            Error::MppeRequiresRadius
        );
        assert_eq!(
            TacacsConfig::new(b"", MppePolicy::Auto).unwrap_err(),
            Error::BadKey
        );
    }

    #[test]
    fn pap_start_layout_and_pass() {
        let mut c = client();
        let h = c
            .start_auth(Instant::ZERO, &pap(b"clientPass"), b"10.0.0.1", 0xdead_beef)
            .unwrap();
        let packet = sent(&mut c);
        let (header, body) = open(&packet);
        assert_eq!(
            (header.version, header.packet_type, header.seq_no),
            (0xc1, 1, 1)
        );
        assert_eq!(header.session_id, 0xdead_beef);
        let start = AuthenStart::parse(&body).unwrap();
        assert_eq!(start.authen_type, authen_type::PAP);
        assert_eq!(start.authen_service, wire::AUTHEN_SERVICE_PPP);
        assert_eq!(start.data, b"clientPass");
        assert_eq!(start.rem_addr, b"10.0.0.1");
        // Reply split across many reads.
        let r = reply(&header, 2, 0, authen_reply(authen_status::PASS, b""));
        for b in r.chunks(1) {
            c.handle_input(Instant::ZERO, b).unwrap();
        }
        match c.poll_event() {
            Some(Event::Verdict {
                handle,
                verdict: Verdict::Accept(_),
                info,
            }) => {
                assert_eq!(handle, h);
                assert_eq!(info.note, Some(Note::Unencrypted));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.single_connection(), Some(false));
        assert_eq!(c.pending(), 0);
    }

    #[test]
    fn getpass_leads_to_continue_with_seq_3() {
        let mut c = client();
        c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 7).unwrap();
        let (header, _) = open(&sent(&mut c));
        c.handle_input(
            Instant::ZERO,
            &reply(&header, 2, 0, authen_reply(authen_status::GETPASS, b"")),
        )
        .unwrap();
        assert_eq!(c.poll_event(), None);
        let (h3, body) = open(&sent(&mut c));
        assert_eq!(h3.seq_no, 3);
        let cont = AuthenContinue::parse(&body).unwrap();
        assert_eq!(cont.user_msg, b"pw");
        c.handle_input(
            Instant::ZERO,
            &reply(&header, 4, 0, authen_reply(authen_status::FAIL, b"")),
        )
        .unwrap();
        assert!(matches!(
            c.poll_event(),
            Some(Event::Verdict {
                verdict: Verdict::Reject(_),
                ..
            })
        ));
    }

    #[test]
    fn mschapv2_pass_takes_authenticator_response_from_data() {
        let mut c = client();
        let request = AuthRequest {
            method: Method::MsChapV2,
            username: heapless::Vec::from_slice(b"User").unwrap(),
            identifier: 5,
            response: AuthResponse::MsChapV2 {
                authenticator_challenge: [1; 16],
                response: MsChapV2Response {
                    peer_challenge: [2; 16],
                    nt_response: [3; 24],
                    flags: 0,
                },
            },
        };
        c.start_auth(Instant::ZERO, &request, b"", 9).unwrap();
        let (header, body) = open(&sent(&mut c));
        let start = AuthenStart::parse(&body).unwrap();
        assert_eq!(start.authen_type, authen_type::MSCHAPV2);
        assert_eq!(start.data.len(), 66);
        assert_eq!(start.data[0], 5);
        assert_eq!(&start.data[1..17], &[1; 16]);
        assert_eq!(&start.data[17..33], &[2; 16]);
        assert_eq!(&start.data[41..65], &[3; 24]);
        let s = crate::wire::auth::format_authenticator_response(&[0x5a; 20]);
        let s: &'static [u8] = std::boxed::Box::leak(std::boxed::Box::new(s));
        c.handle_input(
            Instant::ZERO,
            &reply(&header, 2, 0, authen_reply(authen_status::PASS, s)),
        )
        .unwrap();
        match c.poll_event() {
            Some(Event::Verdict {
                verdict: Verdict::Accept(a),
                ..
            }) => {
                assert_eq!(a.authenticator_response, Some([0x5a; 20]));
                assert!(a.key_material.is_none(), "TACACS+ has no MPPE keys");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn bad_replies_are_typed_errors() {
        let mut c = client();
        c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 1).unwrap();
        c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 2).unwrap();
        c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 3).unwrap();
        assert_eq!(
            c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 4),
            Err(Error::TooManySessions)
        );
        let (h1, _) = open(&sent(&mut c));
        let (h2, _) = open(&sent(&mut c));
        let (h3, _) = open(&sent(&mut c));
        // Unknown session: dropped, others untouched.
        let stray = Header {
            session_id: 99,
            ..h1
        };
        assert_eq!(
            c.handle_input(Instant::ZERO, &reply(&stray, 2, 0, authen_reply(1, b""))),
            Err(Error::UnknownSession { session_id: 99 })
        );
        // Wrong sequence number: the session fails.
        assert_eq!(
            c.handle_input(Instant::ZERO, &reply(&h1, 4, 0, authen_reply(1, b""))),
            Err(Error::BadSequence {
                seq_no: 4,
                expected: 2
            })
        );
        assert!(matches!(
            c.poll_event(),
            Some(Event::Failed {
                error: Error::BadSequence { .. },
                ..
            })
        ));
        // Unobfuscated reply: refused.
        assert_eq!(
            c.handle_input(
                Instant::ZERO,
                &reply(&h2, 2, wire::FLAG_UNENCRYPTED, authen_reply(1, b""))
            ),
            Err(Error::Unobfuscated)
        );
        assert!(matches!(
            c.poll_event(),
            Some(Event::Failed {
                error: Error::Unobfuscated,
                ..
            })
        ));
        // A body that does not parse (wrong key garbles it).
        let mut garbled = reply(&h3, 2, 0, authen_reply(1, b"abc"));
        garbled[HEADER_LEN + 3] ^= 0x40;
        assert!(matches!(
            c.handle_input(Instant::ZERO, &garbled),
            Err(Error::BadBody { .. })
        ));
        assert!(matches!(c.poll_event(), Some(Event::Failed { .. })));
        assert_eq!(c.pending(), 0);
        // Bad version: skipped without losing framing.
        c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 5).unwrap();
        let (h5, _) = open(&sent(&mut c));
        let mut bad = reply(&h5, 2, 0, authen_reply(1, b""));
        bad[0] = 0xd0;
        let good = reply(&h5, 2, 0, authen_reply(1, b""));
        let mut both = bad.clone();
        both.extend_from_slice(&good);
        assert_eq!(
            c.handle_input(Instant::ZERO, &both),
            Err(Error::BadVersion { version: 0xd0 })
        );
        assert!(matches!(
            c.poll_event(),
            Some(Event::Verdict {
                verdict: Verdict::Accept(_),
                ..
            })
        ));
        // Oversized frame: the connection is broken for good.
        c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 6).unwrap();
        let mut huge = [0u8; 12];
        Header {
            length: 1 << 20,
            ..h5
        }
        .emit(&mut huge)
        .unwrap();
        assert_eq!(
            c.handle_input(Instant::ZERO, &huge),
            Err(Error::Oversized { length: 1 << 20 })
        );
        assert!(c.is_broken());
        assert!(matches!(
            c.poll_event(),
            Some(Event::Failed {
                error: Error::ConnectionBroken,
                ..
            })
        ));
        assert_eq!(
            c.handle_input(Instant::ZERO, &[0]),
            Err(Error::ConnectionBroken)
        );
        assert_eq!(
            c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 7),
            Err(Error::ConnectionBroken)
        );
    }

    #[test]
    fn timeout_and_small_buffer() {
        let mut c = client();
        let h = c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 1).unwrap();
        assert!(c.poll_transmit(Instant::ZERO, &mut [0u8; 8]).is_none());
        assert!(matches!(
            c.poll_event(),
            Some(Event::Failed {
                error: Error::BufferTooSmall { .. },
                ..
            })
        ));
        let h2 = c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 2).unwrap();
        assert_ne!(h, h2);
        sent(&mut c);
        assert_eq!(c.poll_timeout(), Some(Instant::from_millis(5000)));
        c.handle_timeout(Instant::from_millis(4999));
        assert_eq!(c.poll_event(), None);
        c.handle_timeout(Instant::from_millis(5000));
        assert_eq!(c.poll_event(), Some(Event::Timeout { handle: h2 }));
        assert_eq!(
            c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 8)
                .and_then(|_| c.start_auth(Instant::ZERO, &pap(b"pw"), b"", 8)),
            Err(Error::SessionIdInUse)
        );
    }

    #[test]
    fn authorization_and_accounting_layouts() {
        let mut c = client();
        c.start_authorization(Instant::ZERO, b"User", Method::MsChapV1, b"10.0.0.1", 11)
            .unwrap();
        let (h, body) = open(&sent(&mut c));
        assert_eq!((h.version, h.packet_type), (0xc0, 2));
        let req = AuthorRequest::parse(&body).unwrap();
        assert_eq!(req.args.get(b"service"), Some(&b"ppp"[..]));
        assert_eq!(req.args.get(b"protocol"), Some(&b"ip"[..]));
        assert_eq!(req.info.authen_type, authen_type::MSCHAP);
        let r = reply(&h, 2, 0, |b| {
            let mut args = Args::new();
            args.push(b"addr=10.1.1.1")?;
            args.push(b"dns-servers=10.1.1.53,10.1.1.54")?;
            AuthorResponse {
                status: author_status::PASS_REPL,
                server_msg: b"",
                data: b"",
                args,
            }
            .emit(b)
        });
        c.handle_input(Instant::ZERO, &r).unwrap();
        match c.poll_event() {
            Some(Event::Authorization { outcome, .. }) => {
                assert_eq!(outcome.status, AuthorizationStatus::Pass);
                assert_eq!(outcome.attributes.address, Some(Ipv4Addr::new(10, 1, 1, 1)));
                assert_eq!(
                    outcome.attributes.secondary_dns,
                    Some(Ipv4Addr::new(10, 1, 1, 54))
                );
            }
            other => panic!("{other:?}"),
        }
        let record = AccountingRecord {
            kind: AccountingKind::Stop,
            username: b"User",
            rem_addr: b"10.0.0.1",
            task_id: b"t1",
            elapsed_time: 61,
            bytes_in: u64::MAX,
            bytes_out: 0,
            paks_in: 1,
            paks_out: 2,
            addr: Some(Ipv4Addr::new(192, 0, 2, 10)),
        };
        c.start_accounting(Instant::ZERO, &record, 12).unwrap();
        let (h, body) = open(&sent(&mut c));
        let req = AcctRequest::parse(&body).unwrap();
        assert_eq!(req.flags, acct::FLAG_STOP);
        assert_eq!(
            req.args.get(b"bytes_in"),
            Some(&b"18446744073709551615"[..])
        );
        assert_eq!(req.args.get(b"bytes_out"), Some(&b"0"[..]));
        assert_eq!(req.args.get(b"addr"), Some(&b"192.0.2.10"[..]));
        assert_eq!(req.args.get(b"task_id"), Some(&b"t1"[..]));
        let r = reply(&h, 2, 0, |b| {
            AcctReply {
                server_msg: b"",
                data: b"",
                status: acct::STATUS_ERROR,
            }
            .emit(b)
        });
        c.handle_input(Instant::ZERO, &r).unwrap();
        assert!(matches!(
            c.poll_event(),
            Some(Event::AccountingRefused { .. })
        ));
    }
}
