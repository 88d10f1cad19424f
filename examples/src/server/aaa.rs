//! External AAA for `pptp-server`: the transport of RADIUS (UDP) and
//! TACACS+ (TCP) from the server's `mio` loop, logging and status text.
//!
//! The PIX's `vpdn group 1 client authentication aaa TAG`: the endpoint
//! runs without local users, so each Response becomes
//! `Event::AuthRequest`; [`Server::auth_request`] hands it to the client;
//! the answer comes back in [`Server::aaa_run`] and goes to the endpoint's
//! `auth_verdict`.
//!
//! What a NAS decides per session (Acct-Session-Id, Class echo, the
//! Framed-IP-Address checks, where the MPPE keys came from, the
//! accounting Start/Interim-Update/Stop records, Session-Timeout and
//! Idle-Timeout, Acct-Terminate-Cause) lives in ppp-core's
//! `aaa::session::Sessions` and pptp-core's `SessionEnd::terminate_cause`,
//! so that every host (this one, a tokio host, a firmware) does it the
//! same way. This file keeps the sockets:
//!
//! * RADIUS (RFC 2865/2866/2548/3579): one UDP socket for every server's
//!   authentication and accounting port; a Framed-IP-Address outside the
//!   pool gets its own /32 route into the TUN.
//! * TACACS+ (RFC 8907): the TCP streams of ppp-core's
//!   `aaa::tacacs::TacacsPool`, which queues the authentication START per
//!   login, the authorization of `service=ppp protocol=ip` (`addr=`,
//!   `dns-servers=`) and accounting START/WATCHDOG/STOP, fails over
//!   between servers, and chooses one connection per session or one
//!   shared connection (single-connection mode); this file opens, reads,
//!   writes and closes the streams it asks for, and logs. TACACS+ has no
//!   MPPE key attribute: sessions run unencrypted, and `mppe_required` is
//!   refused when the configuration is loaded.
//!
//! Failures: an AAA server that does not answer (all retransmissions and
//! servers exhausted) rejects the login with MS-CHAP error 691 and a log
//! line, as the PIX does ("AAA authentication failed"). An Accept
//! without MPPE keys while `mppe_required` is set is the PIX's syslog
//! 403110 "missing MPPE key from aaa server": rejected with 691
//! (`ppp_core::aaa::bridge::MppePolicy::Required`), and logged.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, SocketAddr};

use mio::net::{TcpStream, UdpSocket};
use mio::{Interest, Registry, Token};
use ppp_core::aaa::bridge::{self, MppePolicy, VerdictInfo};
use ppp_core::aaa::radius::{
    self, RadiusClient, RadiusConfig, Randomness, RequestHandle, SessionInfo,
};
use ppp_core::aaa::session::{
    self, AccountingReport, AddressUse, Phase, Protocol, Sessions, Slot, TerminateCause,
};
use ppp_core::aaa::tacacs::pool::{self, AccountingResult};
use ppp_core::aaa::tacacs::{
    self, AuthorizationStatus, ConnectionId, SessionIds, TacacsConfig, TacacsPool,
};
use ppp_core::auth::{AuthRequest, Verdict};
use ppp_core::link::Counters;
use ppp_core::time::Duration;
use ppp_core::Instant as PppInstant;
use pptp_core::endpoint::{SessionEnd, SessionHandle};

use super::Server;
use crate::config::{AaaSettings, RadiusSettings, ServerConfig, TacacsSettings, MAX_AAA_SERVERS};
use crate::host::random_bytes;
use crate::timers::{earliest, TimerHeap};

use super::RADIUS;
/// TACACS+ connections take tokens from here up (far above the server's
/// own, which count up from 16).
const FIRST_TACACS_TOKEN: usize = usize::MAX / 2;
/// RADIUS requests in flight (logins and accounting records).
const RADIUS_PENDING: usize = 64;
/// TACACS+ sessions one connection may carry.
const TACACS_SESSIONS: usize = 8;

type Radius = RadiusClient<MAX_AAA_SERVERS, RADIUS_PENDING>;

/// A session as the AAA side names it: the endpoint's session handle.
type Key = u32;

/// A finished AAA transaction the server must act on.
enum Outcome {
    Verdict {
        call_id: Key,
        verdict: Verdict,
        info: VerdictInfo,
    },
}

/// The server's AAA side.
pub(crate) struct Aaa {
    backend: Backend,
    /// Per-session AAA state (ppp-core's table, in our memory).
    sessions: Sessions<Vec<Slot>>,
    /// Each session's earliest interim, Session-Timeout or idle-check
    /// deadline (`Sessions::deadline`), so that a loop turn looks only at
    /// the sessions that are due (a scan of every session on every turn
    /// cost O(sessions) per turn).
    timers: TimerHeap<Key>,
    mppe_required: bool,
    called_station: String,
    /// What the transport saw (the table counts logins and verdicts).
    stats: TransportStats,
}

#[derive(Debug, Default, Clone, Copy)]
struct TransportStats {
    timeouts: u64,
    acct_sent: u64,
    acct_acked: u64,
}

enum Backend {
    Local,
    Radius(Box<RadiusHost>),
    Tacacs(Box<TacacsHost>),
}

fn instant(ms: u64) -> PppInstant {
    PppInstant::from_millis(ms)
}

impl Aaa {
    /// The AAA side for `config`; opens the RADIUS socket (registered on
    /// `registry`) when RADIUS is configured.
    pub(super) fn new(config: &ServerConfig, registry: &Registry) -> Result<Self, String> {
        let mppe_enabled = config.mppe.policy().enabled();
        let mppe_required = mppe_enabled && config.mppe.required;
        let (backend, accounting, interim_secs) = match &config.aaa {
            AaaSettings::Local => (Backend::Local, false, 0),
            AaaSettings::Radius(settings) => (
                Backend::Radius(Box::new(RadiusHost::new(
                    settings,
                    mppe_required,
                    registry,
                )?)),
                settings.accounting,
                settings.interim_interval_secs,
            ),
            AaaSettings::Tacacs(settings) => {
                // The configuration loader already refused `required`;
                // TacacsHost::new checks the keys.
                if mppe_enabled {
                    log!(
                        "TACACS+ cannot carry MPPE keys (the origin document's PIX has the same \
                         limit): sessions authenticated by TACACS+ run unencrypted although \
                         mppe = {} (required = false)",
                        config.mppe
                    );
                }
                (
                    Backend::Tacacs(Box::new(TacacsHost::new(settings.clone())?)),
                    settings.accounting,
                    settings.interim_interval_secs,
                )
            }
        };
        let table = session::Config {
            protocol: match backend {
                Backend::Tacacs(_) => Protocol::Tacacs,
                _ => Protocol::Radius,
            },
            accounting,
            interim: (interim_secs > 0).then(|| Duration::from_secs(interim_secs)),
            mppe_enabled,
        };
        // Local users need no table. Otherwise twice the session limit: the
        // table's probe runs stay short, and a full table (more sessions
        // than max_sessions) refuses the login instead of losing
        // accounting.
        let slots = if matches!(backend, Backend::Local) {
            0
        } else {
            config.max_sessions.saturating_mul(2)
        };
        Ok(Aaa {
            backend,
            sessions: Sessions::new(table, vec![Slot::new(); slots]),
            timers: TimerHeap::new(),
            mppe_required,
            called_station: config.listen.ip().to_string(),
            stats: TransportStats::default(),
        })
    }

    /// Re-arms `key`'s timer after one of its deadlines changed.
    fn rearm(&mut self, key: Key) {
        let deadline = self.sessions.deadline(key).map(PppInstant::as_millis);
        self.timers.set(key, deadline);
    }

    /// Whether logins are decided by the local `[[users]]`.
    pub(super) fn is_local(&self) -> bool {
        matches!(self.backend, Backend::Local)
    }

    /// `local`, `radius` or `tacacs`.
    pub(super) fn method_name(&self) -> &'static str {
        match self.backend {
            Backend::Local => "local",
            Backend::Radius(_) => "radius",
            Backend::Tacacs(_) => "tacacs",
        }
    }

    /// Whether `token` is one of the AAA sockets.
    pub(super) fn owns(&self, token: Token) -> bool {
        match &self.backend {
            Backend::Radius(_) => token == RADIUS,
            Backend::Tacacs(t) => t.owns(token),
            Backend::Local => false,
        }
    }

    /// Nothing left to send or wait for (accounting Stops acknowledged).
    pub(super) fn idle(&self) -> bool {
        match &self.backend {
            Backend::Local => true,
            Backend::Radius(r) => r.client.pending() == 0,
            Backend::Tacacs(t) => t.pool.is_idle(),
        }
    }

    /// A call came up on tunnel `tunnel_id` from `peer`.
    pub(super) fn call_up(
        &mut self,
        session: SessionHandle,
        local_call_id: u16,
        tunnel_id: u32,
        peer: Ipv4Addr,
    ) {
        if self.is_local() {
            return;
        }
        let random = u32::from_be_bytes(random_bytes::<4>());
        if let Err(e) = self
            .sessions
            .call_up(session.0, local_call_id.into(), peer, random)
        {
            log!("tunnel {tunnel_id} call {local_call_id}: {e}: its login will be refused");
        }
    }

    /// SIGTERM: sessions closed from now on are accounted as
    /// Admin-Reboot (RFC 2866 §5.10: "prior to rebooting the NAS").
    pub(super) fn shutting_down(&mut self) {
        self.sessions.shutting_down();
    }

    /// Sends an accounting record (or queues it for a TACACS+
    /// connection); logs Start and Stop.
    fn account(&mut self, now: u64, report: AccountingReport) {
        let call = report.nas_port;
        let sent = match &mut self.backend {
            Backend::Local => return,
            Backend::Radius(r) => r.account(instant(now), &report),
            Backend::Tacacs(t) => t.account(instant(now), &report),
        };
        match sent {
            Ok(()) => {
                self.stats.acct_sent += 1;
                if report.phase != Phase::Interim {
                    log!("call {call}: {report}");
                }
            }
            Err(e) => log!("call {call}: accounting {} not sent: {e}", report.phase),
        }
    }

    /// The status lines (`show vpdn` / `status`).
    pub(super) fn status(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let _ = write!(
            out,
            "AAA: {}{}",
            self.method_name(),
            if self.mppe_required && !self.is_local() {
                " (MPPE required: an Accept without MPPE keys is refused)"
            } else {
                ""
            }
        );
        match &self.backend {
            Backend::Local => {
                let _ = writeln!(out, " (vpdn username list)");
                return out;
            }
            Backend::Radius(r) => {
                let servers: Vec<String> = r
                    .servers
                    .iter()
                    .map(|(a, c)| format!("{a}/{}", c.port()))
                    .collect();
                let st = r.client.stats();
                let interim = self.sessions.config().interim;
                let _ = writeln!(
                    out,
                    " servers {}; accounting {}{}; transmissions {} retransmissions {} failovers {} timeouts {} bad-authenticators {}",
                    servers.join(" "),
                    if r.accounting { "on" } else { "off" },
                    interim.map_or(String::new(), |i| format!(" (interim {} s)", i.as_secs())),
                    st.transmissions,
                    st.retransmissions,
                    st.failovers,
                    st.timeouts,
                    st.bad_authenticators
                );
            }
            Backend::Tacacs(t) => {
                let servers: Vec<String> = t
                    .settings
                    .servers
                    .iter()
                    .map(|s| s.address.to_string())
                    .collect();
                let _ = writeln!(
                    out,
                    " servers {}; single-connection {}; authorization {}; accounting {}; connections open {}; no MPPE keys (unencrypted)",
                    servers.join(" "),
                    t.settings.single_connection,
                    t.settings.authorization,
                    t.settings.accounting,
                    t.pool.connections()
                );
            }
        }
        let (s, t) = (self.sessions.stats(), self.stats);
        let _ = writeln!(
            out,
            "AAA logins {} accepted {} rejected {} (missing MPPE key {}) timed out {}; accounting records sent {} acknowledged {}",
            s.logins, s.accepted, s.rejected, s.missing_keys, t.timeouts, t.acct_sent, t.acct_acked
        );
        let mut calls: Vec<_> = self
            .sessions
            .iter()
            .filter(|c| !c.username().is_empty())
            .collect();
        calls.sort_by_key(|c| c.key());
        for c in calls {
            let _ = writeln!(
                out,
                "  call {} user {}: MPPE keys {}, address {}, acct-session-id {}{}",
                c.nas_port(),
                String::from_utf8_lossy(c.username()),
                c.key_source().map_or("none".to_string(), |k| k.to_string()),
                c.address_from_aaa()
                    .map_or("from the pool".to_string(), |a| format!("{a} from AAA")),
                c.acct_session_id(),
                if c.accounting_started() {
                    " (accounting started)"
                } else {
                    ""
                }
            );
        }
        out
    }
}

impl Server {
    /// A live session's counters and address, for accounting.
    fn record(&self, session: SessionHandle) -> (Counters, Option<Ipv4Addr>) {
        let view = self.endpoint.session(session);
        let counters = view
            .as_ref()
            .and_then(|v| v.link.copied())
            .unwrap_or_default();
        (counters, view.and_then(|v| v.address))
    }

    /// `Event::AuthRequest`: sends the login to the AAA server.
    pub(super) fn auth_request(&mut self, session: SessionHandle) {
        let Some(request) = self.endpoint.take_auth_request(session) else {
            return;
        };
        let now = self.clock.ms();
        let prefix = self.prefix(session);
        let aaa = &mut self.aaa;
        // PIX syslog 603103: "PPP virtual interface N, user U, AAA
        // authentication started".
        log!(
            "{prefix}: %PIX-6-603103 user \"{}\": {} AAA ({}) authentication started",
            String::from_utf8_lossy(&request.username),
            request.method,
            aaa.method_name()
        );
        let called = aaa.called_station.clone();
        let started = match aaa.sessions.auth_started(session.0, &request.username) {
            Err(e) => Err(e.to_string()),
            Ok(s) => {
                let peer = s.calling_station().to_string();
                let (nas_port, session_id) = (s.nas_port(), s.acct_session_id().to_string());
                match &mut aaa.backend {
                    Backend::Local => Err("no AAA server configured".to_string()),
                    Backend::Radius(r) => r.start_auth(
                        instant(now),
                        session.0,
                        &request,
                        &SessionInfo {
                            nas_port: Some(nas_port),
                            calling_station_id: Some(peer.as_bytes()),
                            called_station_id: Some(called.as_bytes()),
                            acct_session_id: Some(session_id.as_bytes()),
                        },
                    ),
                    Backend::Tacacs(t) => t.start_auth(instant(now), session.0, &request, &peer),
                }
            }
        };
        if let Err(e) = started {
            log!("{prefix}: AAA request not sent ({e}): rejecting (691)");
            self.deliver_verdict(session, bridge::rejection(691), VerdictInfo::default());
        }
    }

    /// `Event::SessionUp`: accounting Start.
    pub(super) fn aaa_session_up(&mut self, session: SessionHandle) {
        let (counters, address) = self.record(session);
        let now = self.clock.ms();
        let aaa = &mut self.aaa;
        if let Some(start) = aaa
            .sessions
            .session_up(instant(now), session.0, &counters, address)
        {
            aaa.account(now, start);
            aaa.rearm(session.0);
        }
    }

    /// `Event::SessionDown`: accounting Stop with the session's final
    /// counters, the Framed-IP route, the per-session state.
    pub(super) fn aaa_session_down(
        &mut self,
        session: SessionHandle,
        reason: &SessionEnd,
        counters: &Counters,
    ) {
        let key = session.0;
        let now = self.clock.ms();
        let aaa = &mut self.aaa;
        aaa.timers.set(key, None);
        let cause = reason.terminate_cause();
        let Some(down) = aaa
            .sessions
            .session_down(instant(now), key, cause, counters)
        else {
            return;
        };
        if let Some(addr) = down.remove_route {
            if let Err(e) = self.tun.del_route(addr, 32) {
                log!("session {key}: removing the route to {addr}: {e}");
            }
        }
        if down.cancel_auth {
            if let Backend::Radius(r) = &mut aaa.backend {
                r.cancel_auth(key);
            }
        }
        if let Some(stop) = down.stop {
            aaa.account(now, stop);
        }
    }

    /// The earliest AAA deadline (retransmission, reply wait, interim
    /// update, Session-Timeout), in clock ms.
    pub(super) fn aaa_deadline(&mut self) -> Option<u64> {
        let aaa = &mut self.aaa;
        let client = match &aaa.backend {
            // Local users: no AAA timers at all (and no scan of every
            // call on every loop turn: 12 % of the server's CPU at
            // 10,000 sessions before this early return).
            Backend::Local => return None,
            Backend::Radius(r) => r.client.poll_timeout().map(|i| i.as_millis()),
            Backend::Tacacs(t) => t.pool.poll_timeout().map(|i| i.as_millis()),
        };
        earliest([aaa.timers.next_deadline(), client])
    }

    /// Readiness on an AAA socket.
    pub(super) fn aaa_readable(&mut self, token: Token) {
        let now = self.clock.ms();
        let Server { aaa, poll, .. } = &mut *self;
        match &mut aaa.backend {
            Backend::Radius(r) => r.receive(instant(now)),
            Backend::Tacacs(t) => t.ready(token, instant(now), poll.registry()),
            Backend::Local => {}
        }
        self.aaa_run();
    }

    /// Sends what is queued, handles timeouts, and delivers finished
    /// transactions. Called once per loop iteration.
    pub(super) fn aaa_run(&mut self) {
        for _ in 0..16 {
            let now = self.clock.ms();
            let outcomes = {
                let Server { aaa, poll, .. } = &mut *self;
                match &mut aaa.backend {
                    Backend::Local => return,
                    Backend::Radius(r) => r.drive(instant(now), &mut aaa.stats),
                    Backend::Tacacs(t) => t.drive(instant(now), poll.registry(), &mut aaa.stats),
                }
            };
            self.aaa_session_timers(now);
            if outcomes.is_empty() {
                return;
            }
            for outcome in outcomes {
                match outcome {
                    Outcome::Verdict {
                        call_id,
                        verdict,
                        info,
                    } => self.deliver_verdict(SessionHandle(call_id), verdict, info),
                }
            }
        }
    }

    /// The sessions whose interim, Session-Timeout or idle check is due.
    fn aaa_session_timers(&mut self, now: u64) {
        // Only the sessions whose earliest deadline has come (the heap
        // disarms them; each is re-armed below).
        let mut close = Vec::new();
        while let Some(key) = self.aaa.timers.pop_due(now) {
            let (counters, _) = self.record(SessionHandle(key));
            let actions = self
                .aaa
                .sessions
                .handle_timeout(instant(now), key, &counters);
            if let Some(interim) = actions.interim {
                self.aaa.account(now, interim);
            }
            if let Some(cause) = actions.close {
                let call = self.aaa.sessions.get(key).map_or(0, |s| s.nas_port());
                close.push((SessionHandle(key), call, cause));
            }
            self.aaa.rearm(key);
        }
        let now = self.now();
        for (session, call, cause) in close {
            let why = if cause == TerminateCause::SessionTimeout {
                "Session-Timeout"
            } else {
                "Idle-Timeout"
            };
            log!("call {call}: {why} from the AAA server reached: closing");
            self.endpoint.close_session(now, session);
        }
    }

    /// Hands a verdict to its session (if it still exists), after the
    /// table's checks; logs what the table noticed.
    fn deliver_verdict(&mut self, session: SessionHandle, verdict: Verdict, info: VerdictInfo) {
        if self.endpoint.session(session).is_none() {
            log!("AAA answer for a session that is gone; dropped");
            return;
        }
        let now = self.now();
        let prefix = self.prefix(session);
        let ours: Option<Ipv4Addr> = self.config.local_address.into();
        let Server {
            aaa, endpoint, tun, ..
        } = self;
        let decided = aaa
            .sessions
            .verdict(now, session.0, verdict, &info, |addr| {
                if Some(addr) == ours || endpoint.address_in_use(addr) {
                    AddressUse::InUse
                } else if endpoint.pool().is_some_and(|p| p.contains(addr)) {
                    AddressUse::InPool
                } else {
                    AddressUse::OutsidePool
                }
            });
        let verdict = match decided {
            Ok(decision) => {
                for line in decision.lines() {
                    log!("{prefix}: {line}");
                }
                if let Some(addr) = decision.add_route {
                    if let Err(e) = tun.add_route(addr, 32) {
                        log!("{prefix}: route to {addr}: {e}");
                        aaa.sessions.route_failed(session.0);
                    }
                }
                decision.verdict
            }
            Err(e) => {
                log!("{prefix}: {e}: rejecting (691)");
                bridge::rejection(691)
            }
        };
        aaa.rearm(session.0);
        if !endpoint.auth_verdict(now, session, verdict) {
            log!("{prefix}: verdict not taken by the link (session gone or not waiting)");
        }
    }
}

// ---- RADIUS ------------------------------------------------------------------

enum RadiusPurpose {
    Auth { call_id: Key },
    Accounting { call_id: Key, phase: Phase },
}

struct RadiusHost {
    client: Box<Radius>,
    socket: UdpSocket,
    /// (authentication, accounting) address per server index.
    servers: Vec<(SocketAddr, SocketAddr)>,
    pending: HashMap<RequestHandle, RadiusPurpose>,
    accounting: bool,
}

impl RadiusHost {
    fn new(
        settings: &RadiusSettings,
        mppe_required: bool,
        registry: &Registry,
    ) -> Result<Self, String> {
        let mut servers = Vec::new();
        let mut configs = Vec::new();
        for s in &settings.servers {
            servers.push((s.auth, s.acct));
            configs.push(
                radius::ServerConfig::new(s.secret.as_bytes())
                    .map_err(|e| format!("RADIUS server {}: {e}", s.auth))?,
            );
        }
        let timeout = ppp_core::time::Duration::from_secs(settings.timeout_secs);
        let config = RadiusConfig {
            nas_ip: settings.nas_ip,
            nas_identifier: settings.nas_identifier.bytes().take(64).collect(),
            initial_timeout: timeout,
            max_timeout: ppp_core::time::Duration::from_secs(settings.timeout_secs * 4),
            attempts_per_server: settings.retries,
            mppe: if mppe_required {
                MppePolicy::Required
            } else {
                MppePolicy::Auto
            },
        };
        let client = Box::new(Radius::new(config, &configs).map_err(|e| format!("RADIUS: {e}"))?);
        let mut socket = UdpSocket::bind(SocketAddr::from(([0, 0, 0, 0], 0)))
            .map_err(|e| format!("RADIUS UDP socket: {e}"))?;
        registry
            .register(&mut socket, RADIUS, Interest::READABLE)
            .map_err(|e| format!("register RADIUS socket: {e}"))?;
        log!(
            "AAA: RADIUS servers {} (timeout {} s, {} tries per server), accounting {}",
            settings
                .servers
                .iter()
                .map(|s| format!("{}/{}", s.auth, s.acct.port()))
                .collect::<Vec<_>>()
                .join(" "),
            settings.timeout_secs,
            settings.retries,
            if settings.accounting { "on" } else { "off" }
        );
        Ok(RadiusHost {
            client,
            socket,
            servers,
            pending: HashMap::new(),
            accounting: settings.accounting,
        })
    }

    fn randomness() -> Randomness {
        Randomness {
            identifier: random_bytes::<1>()[0],
            authenticator: random_bytes::<16>(),
        }
    }

    fn start_auth(
        &mut self,
        now: PppInstant,
        call_id: Key,
        request: &AuthRequest,
        session: &SessionInfo,
    ) -> Result<(), String> {
        let handle = self
            .client
            .start_auth(now, request, session, Self::randomness())
            .map_err(|e| e.to_string())?;
        self.pending.insert(handle, RadiusPurpose::Auth { call_id });
        Ok(())
    }

    fn cancel_auth(&mut self, call_id: Key) {
        let handles: Vec<RequestHandle> = self
            .pending
            .iter()
            .filter(|(_, p)| matches!(p, RadiusPurpose::Auth { call_id: c } if *c == call_id))
            .map(|(h, _)| *h)
            .collect();
        for h in handles {
            self.client.cancel(h);
            self.pending.remove(&h);
        }
    }

    /// Sends one accounting record from the session table.
    fn account(&mut self, now: PppInstant, report: &AccountingReport) -> Result<(), String> {
        let handle = self
            .client
            .start_accounting(now, &report.radius(), Self::randomness())
            .map_err(|e| e.to_string())?;
        self.pending.insert(
            handle,
            RadiusPurpose::Accounting {
                call_id: report.key,
                phase: report.phase,
            },
        );
        Ok(())
    }

    fn receive(&mut self, now: PppInstant) {
        let mut buf = [0u8; radius::wire::MAX_PACKET_LEN];
        loop {
            let (n, from) = match self.socket.recv_from(&mut buf) {
                Ok(r) => r,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    // ICMP port unreachable surfaces here: retransmission
                    // and failover deal with it.
                    log!("RADIUS receive: {e}");
                    continue;
                }
            };
            let Some(index) = self
                .servers
                .iter()
                .position(|(auth, acct)| *auth == from || *acct == from)
            else {
                log!("RADIUS: datagram from {from}, not a configured server; dropped");
                continue;
            };
            if let Err(e) = self.client.handle_datagram(now, index, &buf[..n]) {
                log!("RADIUS: answer from {from} dropped: {e}");
            }
        }
    }

    fn drive(&mut self, now: PppInstant, stats: &mut TransportStats) -> Vec<Outcome> {
        self.client.handle_timeout(now);
        let mut buf = [0u8; radius::wire::MAX_PACKET_LEN];
        while let Some(t) = self.client.poll_transmit(now, &mut buf) {
            let Some(&(auth, acct)) = self.servers.get(t.to.server_index) else {
                continue;
            };
            let to = match t.to.kind {
                radius::RequestKind::Authentication => auth,
                radius::RequestKind::Accounting => acct,
            };
            if let Err(e) = self.socket.send_to(&buf[..t.len], to) {
                // Retransmission retries; a persistent error ends in Timeout.
                log!("RADIUS send to {to}: {e}");
            }
        }
        let mut outcomes = Vec::new();
        while let Some(event) = self.client.poll_event() {
            match event {
                radius::Event::Verdict {
                    handle,
                    verdict,
                    info,
                } => {
                    if let Some(RadiusPurpose::Auth { call_id }) = self.pending.remove(&handle) {
                        outcomes.push(Outcome::Verdict {
                            call_id,
                            verdict,
                            info,
                        });
                    }
                }
                radius::Event::AccountingAcknowledged { handle } => {
                    if let Some(RadiusPurpose::Accounting { call_id, phase }) =
                        self.pending.remove(&handle)
                    {
                        stats.acct_acked += 1;
                        log!("call {call_id}: RADIUS accounting {phase} acknowledged");
                    }
                }
                radius::Event::Timeout { handle } | radius::Event::Failed { handle, .. } => {
                    let what = match &event {
                        radius::Event::Failed { error, .. } => format!("failed: {error}"),
                        _ => format!(
                            "no answer from {} server(s) after every retransmission",
                            self.servers.len()
                        ),
                    };
                    match self.pending.remove(&handle) {
                        Some(RadiusPurpose::Auth { call_id }) => {
                            stats.timeouts += 1;
                            log!(
                                "call {call_id}: RADIUS Access-Request {what}: AAA authentication failed, rejecting (691)"
                            );
                            outcomes.push(Outcome::Verdict {
                                call_id,
                                verdict: bridge::rejection(691),
                                info: VerdictInfo::default(),
                            });
                        }
                        Some(RadiusPurpose::Accounting { call_id, phase }) => {
                            log!("call {call_id}: RADIUS accounting {phase} {what}; record lost");
                        }
                        None => {}
                    }
                }
            }
        }
        outcomes
    }
}

// ---- TACACS+ -----------------------------------------------------------------

/// TCP connections open at once (one per login in flight without
/// single-connection mode; more logins wait in the pool's queue).
const TACACS_CONNECTIONS: usize = 32;
/// TACACS+ jobs (logins and accounting records) waiting or in flight;
/// beyond it a login is refused (691) and a record logged as lost.
const TACACS_JOBS: usize = 128;

type Tacacs = TacacsPool<MAX_AAA_SERVERS, TACACS_CONNECTIONS, TACACS_SESSIONS, TACACS_JOBS>;

/// One TCP stream of the pool's connection table.
struct TacacsSocket {
    stream: TcpStream,
    server: usize,
    out: Vec<u8>,
    connected: bool,
}

/// The TACACS+ transport: ppp-core's [`TacacsPool`] decides what to send,
/// where, and what a reply means; this keeps its TCP streams.
struct TacacsHost {
    settings: TacacsSettings,
    pool: Box<Tacacs>,
    /// By `ConnectionId`; the mio token is `FIRST_TACACS_TOKEN + id`.
    sockets: HashMap<usize, TacacsSocket>,
}

fn session_id() -> u32 {
    u32::from_be_bytes(random_bytes::<4>())
}

impl TacacsHost {
    fn new(settings: TacacsSettings) -> Result<Self, String> {
        let mut configs = Vec::new();
        for s in &settings.servers {
            let mut c = TacacsConfig::new(s.key.as_bytes(), MppePolicy::Auto)
                .map_err(|e| format!("TACACS+ server {}: {e}", s.address))?;
            c.single_connection = settings.single_connection;
            c.timeout = Duration::from_secs(settings.timeout_secs);
            configs.push(c);
        }
        let pool = Box::new(
            Tacacs::new(&configs, settings.authorization).map_err(|e| format!("TACACS+: {e}"))?,
        );
        log!(
            "AAA: TACACS+ servers {} (timeout {} s, single-connection {}, authorization {}, accounting {})",
            settings
                .servers
                .iter()
                .map(|s| s.address.to_string())
                .collect::<Vec<_>>()
                .join(" "),
            settings.timeout_secs,
            settings.single_connection,
            settings.authorization,
            settings.accounting
        );
        Ok(TacacsHost {
            settings,
            pool,
            sockets: HashMap::new(),
        })
    }

    fn owns(&self, token: Token) -> bool {
        token
            .0
            .checked_sub(FIRST_TACACS_TOKEN)
            .is_some_and(|id| self.sockets.contains_key(&id))
    }

    fn start_auth(
        &mut self,
        now: PppInstant,
        key: Key,
        request: &AuthRequest,
        rem_addr: &str,
    ) -> Result<(), String> {
        let ids = SessionIds {
            authentication: session_id(),
            authorization: session_id(),
        };
        (self
            .pool
            .start_auth(now, key, request, rem_addr.as_bytes(), ids))
        .map_err(|e| e.to_string())
    }

    /// Queues one accounting record from the session table.
    fn account(&mut self, now: PppInstant, report: &AccountingReport) -> Result<(), String> {
        (self.pool.start_accounting(now, report, session_id())).map_err(|e| e.to_string())
    }

    fn drop_stream(&mut self, id: usize, registry: &Registry) {
        if let Some(mut s) = self.sockets.remove(&id) {
            let _ = registry.deregister(&mut s.stream);
            let _ = s.stream.shutdown(std::net::Shutdown::Both);
        }
    }

    /// Drops `id`'s stream and tells the pool (its sessions fail over).
    fn closed(&mut self, now: PppInstant, id: usize, registry: &Registry) {
        self.drop_stream(id, registry);
        self.pool.handle_closed(now, ConnectionId(id));
    }

    /// Readiness on a TACACS+ stream: the connect's result, pending
    /// writes, replies.
    fn ready(&mut self, token: Token, now: PppInstant, registry: &Registry) {
        let id = token.0.wrapping_sub(FIRST_TACACS_TOKEN);
        let Some(s) = self.sockets.get_mut(&id) else {
            return;
        };
        if !s.connected {
            // mio: a connect finished (or failed) when the stream turns
            // writable; take_error tells which.
            match s.stream.take_error() {
                Ok(Some(e)) | Err(e) => {
                    log!("TACACS+ connection to server {}: {e}", s.server + 1);
                    return self.closed(now, id, registry);
                }
                Ok(None) if s.stream.peer_addr().is_ok() => {
                    s.connected = true;
                    self.pool.handle_connected(now, ConnectionId(id));
                }
                Ok(None) => return,
            }
        }
        let mut buf = [0u8; 4096];
        loop {
            let Some(s) = self.sockets.get_mut(&id) else {
                return;
            };
            if let Err(e) = flush(s) {
                log!("TACACS+ connection to server {}: {e}", s.server + 1);
                return self.closed(now, id, registry);
            }
            match s.stream.read(&mut buf) {
                Ok(0) => return self.closed(now, id, registry),
                Ok(n) => {
                    if let Err(e) = self.pool.handle_input(now, ConnectionId(id), &buf[..n]) {
                        log!("TACACS+: reply dropped: {e}");
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    log!("TACACS+ connection to server {}: {e}", s.server + 1);
                    return self.closed(now, id, registry);
                }
            }
        }
    }

    /// Opens the stream the pool asked for.
    fn connect(&mut self, id: usize, server: usize, registry: &Registry) -> Result<(), String> {
        let address = self
            .settings
            .servers
            .get(server)
            .ok_or("no such server")?
            .address;
        let mut stream =
            TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
        registry
            .register(
                &mut stream,
                Token(FIRST_TACACS_TOKEN + id),
                Interest::READABLE | Interest::WRITABLE,
            )
            .map_err(|e| format!("register: {e}"))?;
        let _ = stream.set_nodelay(true);
        let socket = TacacsSocket {
            stream,
            server,
            out: Vec::new(),
            connected: false,
        };
        self.sockets.insert(id, socket);
        Ok(())
    }

    /// Times the pool out, writes its requests, performs its Connect and
    /// Close, and logs and returns its verdicts.
    fn drive(
        &mut self,
        now: PppInstant,
        registry: &Registry,
        stats: &mut TransportStats,
    ) -> Vec<Outcome> {
        self.pool.handle_timeout(now);
        let mut outcomes = Vec::new();
        let mut buf = [0u8; tacacs::client::MAX_REQUEST_LEN];
        loop {
            if let Some(t) = self.pool.poll_transmit(now, &mut buf) {
                let id = t.to.0;
                if let Some(s) = self.sockets.get_mut(&id) {
                    s.out.extend_from_slice(&buf[..t.len]);
                    if let Err(e) = flush(s) {
                        log!("TACACS+ connection to server {}: {e}", s.server + 1);
                        self.closed(now, id, registry);
                    }
                }
                continue;
            }
            let Some(event) = self.pool.poll_event() else {
                return outcomes;
            };
            match event {
                pool::Outcome::Connect { conn, server } => {
                    if let Err(e) = self.connect(conn.0, server, registry) {
                        log!("TACACS+ server {}: {e}", server + 1);
                        self.pool.handle_closed(now, conn);
                    }
                }
                pool::Outcome::Close { conn } => self.drop_stream(conn.0, registry),
                pool::Outcome::Failover {
                    key, from, to, why, ..
                } => log!(
                    "call {key}: TACACS+ server {} failed ({why}); trying server {}",
                    from + 1,
                    to + 1
                ),
                pool::Outcome::Verdict {
                    key,
                    verdict,
                    info,
                    authorization,
                    unanswered,
                } => {
                    if let Some(why) = unanswered {
                        stats.timeouts += 1;
                        log!("call {key}: TACACS+ {why} (every server tried): AAA authentication failed, rejecting (691)");
                    }
                    match authorization {
                        Some(o) if o.status == AuthorizationStatus::Pass => log!(
                            "call {key}: TACACS+ authorization passed (addr {}, dns {})",
                            or_none(o.attributes.address),
                            or_none(o.attributes.primary_dns)
                        ),
                        Some(o) => log!(
                            "call {key}: TACACS+ authorization of service=ppp protocol=ip: {}: rejecting (691)",
                            o.status
                        ),
                        None => {}
                    }
                    outcomes.push(Outcome::Verdict {
                        call_id: key,
                        verdict,
                        info,
                    });
                }
                pool::Outcome::Accounting { key, kind, result } => match result {
                    AccountingResult::Acknowledged => {
                        stats.acct_acked += 1;
                        log!("call {key}: TACACS+ accounting {kind} acknowledged");
                    }
                    AccountingResult::Refused => {
                        log!("call {key}: TACACS+ accounting {kind} refused by the server")
                    }
                    AccountingResult::Lost(why) => {
                        log!("call {key}: TACACS+ accounting {kind}: {why}; record lost")
                    }
                },
            }
        }
    }
}

/// Writes what the stream takes; the rest waits for writability.
fn flush(s: &mut TacacsSocket) -> io::Result<()> {
    while !s.out.is_empty() {
        match s.stream.write(&s.out) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                s.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// An optional address as an operator reads it.
fn or_none(address: Option<std::net::Ipv4Addr>) -> String {
    address.map_or("none".into(), |a| a.to_string())
}
