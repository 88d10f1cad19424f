//! External AAA for `pptp-server`: RADIUS over UDP and TACACS+ over TCP,
//! both driven by ppp-core's Sans-IO clients from the server's `mio` loop.
//!
//! The PIX's `vpdn group 1 client authentication aaa TAG`: the link is
//! fed with plain `Link::handle_frame` (no local verifier), so each
//! Response becomes `LinkEvent::AuthRequest`; [`auth_request`] hands it
//! to the client; the answer comes back in [`Server::aaa_run`] and goes
//! to `Link::verdict`.
//!
//! * RADIUS (RFC 2865/2866/2548/3579): one UDP socket for every server's
//!   authentication and accounting port. The Accept's MPPE keys
//!   (MS-MPPE-Send-Key / MS-MPPE-Recv-Key, or MS-CHAP-MPPE-Keys for
//!   MS-CHAPv1) become the link's MPPE keys (`MppeKeyMaterial` in the
//!   verdict); Framed-IP-Address replaces the pool (an address inside the
//!   pool is reserved, one outside gets its own /32 route into the TUN
//!   and never enters the pool); DNS servers reach IPCP. Accounting:
//!   Start when IPCP opens, Interim-Update every `interim_interval_secs`,
//!   Stop with octets/packets (64-bit through Gigawords) and
//!   Acct-Terminate-Cause when the session ends.
//! * TACACS+ (RFC 8907): authentication START per login, then (if
//!   configured) authorization of `service=ppp protocol=ip` for `addr=` /
//!   `dns-servers=`, accounting START/WATCHDOG/STOP. One TCP connection
//!   per session, or one shared connection in single-connection mode.
//!   TACACS+ has no MPPE key attribute: sessions run unencrypted, and
//!   `mppe_required` is refused when the configuration is loaded.
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
use ppp_core::aaa::bridge::{self, MppePolicy, Note, VerdictInfo};
use ppp_core::aaa::radius::{
    self, AccountingRecord, AccountingStatus, RadiusClient, RadiusConfig, Randomness,
    RequestHandle, SessionInfo, TerminateCause,
};
use ppp_core::aaa::tacacs::{
    self, AccountingKind, AuthorizationStatus, TacacsClient, TacacsConfig,
};
use ppp_core::auth::{AuthRequest, Method, MppeKeyMaterial, Verdict};
use ppp_core::link::{Counters, EndReason};
use ppp_core::Instant as PppInstant;
use pptp_core::control::CallDownReason;
use pptp_core::endpoint::{SessionEnd, SessionHandle};

use super::Server;
use crate::config::{AaaSettings, RadiusSettings, ServerConfig, TacacsSettings, MAX_AAA_SERVERS};
use crate::host::{random_bytes, Clock};
use crate::timers::{earliest, TimerHeap};

/// The RADIUS UDP socket's token.
pub(super) const RADIUS: Token = Token(5);
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

/// What an accounting record reports of a session.
pub(super) struct Record {
    counters: Counters,
    address: Option<Ipv4Addr>,
}

/// What one call's AAA is doing.
#[derive(Debug, Default)]
pub(super) struct CallAaa {
    tunnel_id: u32,
    /// Our PPTP call ID (the NAS-Port).
    local_call_id: u16,
    /// The peer's address, once assigned (Framed-IP-Address in records).
    address: Option<Ipv4Addr>,
    peer: Option<Ipv4Addr>,
    acct_session_id: String,
    username: String,
    /// The login being decided (RADIUS handle or TACACS+ session).
    auth_pending: bool,
    /// Framed-IP-Address outside the pool: a /32 route of its own.
    outside_pool_route: Option<Ipv4Addr>,
    /// Where the MPPE keys came from.
    keys: Option<&'static str>,
    address_from_aaa: Option<Ipv4Addr>,
    /// Accounting Start sent at this clock value (ms).
    acct_started_ms: Option<u64>,
    next_interim_ms: Option<u64>,
    /// Session-Timeout from the Accept: close at this clock value (ms).
    session_deadline_ms: Option<u64>,
    /// Idle-Timeout from the Accept (ms), and when to look at the
    /// session's IP counters next.
    idle_timeout_ms: Option<u64>,
    idle_check_ms: Option<u64>,
    /// IP packets both ways at the last idle check.
    idle_ip_packets: u64,
    /// Class from the Access-Accept, echoed in accounting (RFC 2865
    /// §5.25).
    class: Vec<u8>,
    /// Why we ended the session ourselves (Session-Timeout).
    cause_override: Option<TerminateCause>,
}

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
    calls: HashMap<Key, CallAaa>,
    /// Each call's earliest interim, Session-Timeout or idle-check
    /// deadline, so that a loop turn looks only at the calls that are due
    /// (a scan of every call on every turn cost O(calls) per turn).
    timers: TimerHeap<Key>,
    mppe_required: bool,
    mppe_enabled: bool,
    called_station: String,
    clock: Clock,
    /// The server is shutting down (SIGTERM): sessions end with
    /// Admin-Reboot.
    shutting_down: bool,
    /// Logins sent, accepted, rejected, timed out.
    stats: AaaStats,
}

#[derive(Debug, Default, Clone, Copy)]
struct AaaStats {
    logins: u64,
    accepted: u64,
    rejected: u64,
    timeouts: u64,
    missing_keys: u64,
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
    pub(super) fn new(
        config: &ServerConfig,
        registry: &Registry,
        clock: Clock,
    ) -> Result<Self, String> {
        let mppe_enabled = config.mppe.policy().enabled();
        let mppe_required = mppe_enabled && config.mppe.required;
        let backend = match &config.aaa {
            AaaSettings::Local => Backend::Local,
            AaaSettings::Radius(settings) => Backend::Radius(Box::new(RadiusHost::new(
                settings,
                mppe_required,
                registry,
            )?)),
            AaaSettings::Tacacs(settings) => {
                // The configuration loader already refused `required`.
                TacacsConfig::new(settings.servers[0].key.as_bytes(), MppePolicy::Auto)
                    .map_err(|e| format!("TACACS+: {e}"))?;
                if mppe_enabled {
                    log!(
                        "TACACS+ cannot carry MPPE keys (the origin document's PIX has the same \
                         limit): sessions authenticated by TACACS+ run unencrypted although \
                         mppe = {:?} (required = false)",
                        config.mppe.strength
                    );
                }
                Backend::Tacacs(Box::new(TacacsHost::new(settings.clone())))
            }
        };
        Ok(Aaa {
            backend,
            calls: HashMap::new(),
            timers: TimerHeap::new(),
            mppe_required,
            mppe_enabled,
            called_station: config.listen.ip().to_string(),
            clock,
            shutting_down: false,
            stats: AaaStats::default(),
        })
    }

    /// Re-arms `call_id`'s timer after one of its deadlines changed.
    fn rearm(&mut self, call_id: Key) {
        let deadline = self
            .calls
            .get(&call_id)
            .and_then(|c| earliest([c.next_interim_ms, c.session_deadline_ms, c.idle_check_ms]));
        self.timers.set(call_id, deadline);
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
            Backend::Tacacs(t) => t.conns.contains_key(&token),
            Backend::Local => false,
        }
    }

    /// Nothing left to send or wait for (accounting Stops acknowledged).
    pub(super) fn idle(&self) -> bool {
        match &self.backend {
            Backend::Local => true,
            Backend::Radius(r) => r.client.pending() == 0,
            Backend::Tacacs(t) => t.jobs.is_empty() && t.conns.values().all(|c| c.jobs.is_empty()),
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
        let id = random_bytes::<4>();
        self.calls.insert(
            session.0,
            CallAaa {
                tunnel_id,
                local_call_id,
                peer: Some(peer),
                acct_session_id: format!("{:08X}{local_call_id:04X}", u32::from_be_bytes(id)),
                ..CallAaa::default()
            },
        );
    }

    /// SIGTERM: sessions closed from now on are accounted as
    /// Admin-Reboot (RFC 2866 §5.10: "prior to rebooting the NAS").
    pub(super) fn shutting_down(&mut self) {
        self.shutting_down = true;
    }

    /// The status lines (`show vpdn` / `status`).
    pub(super) fn status(&self) -> String {
        use std::fmt::Write;
        let mut out = String::new();
        let s = self.stats;
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
                let _ = writeln!(
                    out,
                    " servers {}; accounting {}{}; transmissions {} retransmissions {} failovers {} timeouts {} bad-authenticators {}",
                    servers.join(" "),
                    if r.accounting { "on" } else { "off" },
                    if r.interim_ms > 0 {
                        format!(" (interim {} s)", r.interim_ms / 1000)
                    } else {
                        String::new()
                    },
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
                    t.conns.len()
                );
            }
        }
        let _ = writeln!(
            out,
            "AAA logins {} accepted {} rejected {} (missing MPPE key {}) timed out {}; accounting records sent {} acknowledged {}",
            s.logins, s.accepted, s.rejected, s.missing_keys, s.timeouts, s.acct_sent, s.acct_acked
        );
        let mut ids: Vec<&Key> = self.calls.keys().collect();
        ids.sort();
        for id in ids {
            let c = &self.calls[id];
            let id = c.local_call_id;
            if c.username.is_empty() {
                continue;
            }
            let _ = writeln!(
                out,
                "  call {id} user {}: MPPE keys {}, address {}, acct-session-id {}{}",
                c.username,
                c.keys.unwrap_or("none"),
                c.address_from_aaa
                    .map_or("from the pool".to_string(), |a| format!("{a} from AAA")),
                c.acct_session_id,
                if c.acct_started_ms.is_some() {
                    " (accounting started)"
                } else {
                    ""
                }
            );
        }
        out
    }
}

/// RFC 2866 §5.10 for how a session ended, layer by layer.
fn terminate_cause(reason: &SessionEnd) -> TerminateCause {
    match reason {
        SessionEnd::Link(EndReason::PeerTerminated) => TerminateCause::UserRequest,
        SessionEnd::Link(EndReason::AdminClose) => TerminateCause::AdminReset,
        SessionEnd::Link(EndReason::KeepaliveLost | EndReason::LowerLayerDown) => {
            TerminateCause::LostCarrier
        }
        SessionEnd::Link(EndReason::MppeRequiredNotActive | EndReason::EncryptionRefused) => {
            TerminateCause::ServiceUnavailable
        }
        SessionEnd::Link(EndReason::NoAddress) => TerminateCause::NasError,
        SessionEnd::Link(EndReason::NegotiationTimeout | EndReason::IpcpFailed) => {
            TerminateCause::PortError
        }
        SessionEnd::Link(_) => TerminateCause::UserError,
        // The user hung up: pptp-linux and Windows clear the call when the
        // user disconnects.
        SessionEnd::Call(CallDownReason::ClearRequested | CallDownReason::Disconnected { .. }) => {
            TerminateCause::UserRequest
        }
        SessionEnd::Call(CallDownReason::Local) => TerminateCause::AdminReset,
        SessionEnd::Call(CallDownReason::Timeout) => TerminateCause::LostService,
        SessionEnd::Call(_)
        | SessionEnd::Tunnel(_)
        | SessionEnd::ConnectionLost
        | SessionEnd::NoResource => TerminateCause::LostCarrier,
    }
}

fn key_source(verdict: &Verdict, backend: &str) -> Option<&'static str> {
    match verdict {
        Verdict::Accept(a) => match (&a.key_material, backend) {
            (Some(MppeKeyMaterial::External { .. }), _) => {
                Some("from RADIUS (MS-MPPE-Send-Key/Recv-Key)")
            }
            (Some(MppeKeyMaterial::MsChapV1 { .. }), "radius") => {
                Some("from RADIUS (MS-CHAP-MPPE-Keys)")
            }
            (Some(_), _) => Some("from the AAA server's MS-CHAP material"),
            (None, _) => None,
        },
        Verdict::Reject(_) => None,
    }
}

impl Server {
    /// The record of a live session for accounting.
    fn record(&self, session: SessionHandle) -> Record {
        let view = self.endpoint.session(session);
        Record {
            counters: view
                .as_ref()
                .and_then(|v| v.link.copied())
                .unwrap_or_default(),
            address: view.and_then(|v| v.address),
        }
    }

    /// `Event::AuthRequest`: sends the login to the AAA server.
    pub(super) fn auth_request(&mut self, session: SessionHandle) {
        let Some(request) = self.endpoint.take_auth_request(session) else {
            return;
        };
        let now = self.now();
        let aaa = &mut self.aaa;
        let user = String::from_utf8_lossy(&request.username).into_owned();
        let state = aaa.calls.entry(session.0).or_default();
        state.username = user.clone();
        state.auth_pending = true;
        let (tunnel_id, id) = (state.tunnel_id, state.local_call_id);
        let peer = state.peer.map(|p| p.to_string()).unwrap_or_default();
        let session_id = state.acct_session_id.clone();
        aaa.stats.logins += 1;
        // PIX syslog 603103: "PPP virtual interface N, user U, AAA
        // authentication started".
        log!(
            "tunnel {tunnel_id} call {id}: %PIX-6-603103 user \"{user}\": {:?} AAA ({}) authentication started",
            request.method,
            aaa.method_name()
        );
        let called = aaa.called_station.clone();
        let started = match &mut aaa.backend {
            Backend::Local => Err("no AAA server configured".to_string()),
            Backend::Radius(r) => r.start_auth(
                now,
                session.0,
                u32::from(id),
                &request,
                &peer,
                &called,
                &session_id,
            ),
            Backend::Tacacs(t) => {
                t.queue(
                    session.0,
                    JobKind::Auth {
                        request: Box::new(request.clone()),
                    },
                    peer,
                );
                Ok(())
            }
        };
        if let Err(e) = started {
            log!("tunnel {tunnel_id} call {id}: AAA request not sent ({e}): rejecting (691)");
            if let Some(s) = aaa.calls.get_mut(&session.0) {
                s.auth_pending = false;
            }
            aaa.stats.rejected += 1;
            if !self
                .endpoint
                .auth_verdict(now, session, bridge::rejection(691))
            {
                log!("tunnel {tunnel_id} call {id}: verdict not taken (session gone)");
            }
        }
    }

    /// `Event::SessionUp`: accounting Start.
    pub(super) fn aaa_session_up(&mut self, session: SessionHandle) {
        let record = self.record(session);
        let aaa = &mut self.aaa;
        let now_ms = aaa.clock.ms();
        let Some(state) = aaa.calls.get_mut(&session.0) else {
            return;
        };
        state.address = record.address;
        if state.acct_started_ms.is_some() || state.username.is_empty() {
            return;
        }
        let id = session.0;
        let sent = match &mut aaa.backend {
            Backend::Local => return,
            Backend::Radius(r) => {
                if !r.accounting {
                    return;
                }
                state.next_interim_ms = (r.interim_ms > 0).then(|| now_ms + r.interim_ms);
                r.account(
                    instant(now_ms),
                    id,
                    state,
                    &record,
                    AccountingStatus::Start,
                    now_ms,
                )
            }
            Backend::Tacacs(t) => {
                if !t.settings.accounting {
                    return;
                }
                state.next_interim_ms = (t.settings.interim_interval_secs > 0)
                    .then(|| now_ms + t.settings.interim_interval_secs * 1000);
                t.account(id, state, &record, AccountingKind::Start, now_ms);
                Ok(())
            }
        };
        state.acct_started_ms = Some(now_ms);
        match sent {
            Ok(()) => {
                aaa.stats.acct_sent += 1;
                log!(
                    "tunnel {} call {}: accounting Start (session {})",
                    state.tunnel_id,
                    state.local_call_id,
                    state.acct_session_id
                );
            }
            Err(e) => log!(
                "tunnel {} call {}: accounting Start not sent: {e}",
                state.tunnel_id,
                state.local_call_id
            ),
        }
        aaa.rearm(id);
    }

    /// `Event::SessionDown`: accounting Stop with the session's final
    /// counters, the Framed-IP route, the per-call state.
    pub(super) fn aaa_session_down(
        &mut self,
        session: SessionHandle,
        reason: &SessionEnd,
        counters: &Counters,
    ) {
        let id = session.0;
        let now_ms = self.aaa.clock.ms();
        self.aaa.timers.set(id, None);
        let Some(mut state) = self.aaa.calls.remove(&id) else {
            return;
        };
        if let Some(addr) = state.outside_pool_route.take() {
            if let Err(e) = self.tun.del_route(addr, 32) {
                log!(
                    "call {}: removing the route to {addr}: {e}",
                    state.local_call_id
                );
            }
        }
        if state.auth_pending {
            if let Backend::Radius(r) = &mut self.aaa.backend {
                r.cancel_auth(id);
            }
        }
        let Some(started) = state.acct_started_ms else {
            return;
        };
        let cause = match (state.cause_override, reason) {
            (Some(cause), _) => cause,
            (None, SessionEnd::Link(EndReason::AdminClose)) if self.aaa.shutting_down => {
                TerminateCause::AdminReboot
            }
            (None, reason) => terminate_cause(reason),
        };
        let record = Record {
            counters: *counters,
            address: state.address,
        };
        let aaa = &mut self.aaa;
        let sent = match &mut aaa.backend {
            Backend::Local => return,
            Backend::Radius(r) => {
                r.account_stop(instant(now_ms), id, &state, &record, cause, started, now_ms)
            }
            Backend::Tacacs(t) => {
                t.account(id, &state, &record, AccountingKind::Stop, now_ms);
                Ok(())
            }
        };
        let c = counters;
        match sent {
            Ok(()) => {
                aaa.stats.acct_sent += 1;
                log!(
                    "tunnel {} call {}: accounting Stop (session {}, {} s, in {} octets/{} packets, out {} octets/{} packets, cause {:?})",
                    state.tunnel_id,
                    state.local_call_id,
                    state.acct_session_id,
                    now_ms.saturating_sub(started) / 1000,
                    c.octets_in,
                    c.frames_in,
                    c.octets_out,
                    c.frames_out,
                    cause
                );
            }
            Err(e) => log!(
                "tunnel {} call {}: accounting Stop not sent: {e}",
                state.tunnel_id,
                state.local_call_id
            ),
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
            Backend::Tacacs(t) => t.poll_timeout(),
        };
        earliest([aaa.timers.next_deadline(), client])
    }

    /// Readiness on an AAA socket.
    pub(super) fn aaa_readable(&mut self, token: Token) {
        let now = self.clock.ms();
        match &mut self.aaa.backend {
            Backend::Radius(r) => r.receive(instant(now)),
            Backend::Tacacs(t) => t.ready(token, now),
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
                    Backend::Tacacs(t) => t.drive(now, poll.registry(), &mut aaa.stats),
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

    fn aaa_session_timers(&mut self, now: u64) {
        // Only the calls whose earliest deadline has come (the heap
        // disarms them; each is re-armed below).
        let mut due = Vec::new();
        while let Some(id) = self.aaa.timers.pop_due(now) {
            due.push(id);
        }
        if due.is_empty() {
            return;
        }
        let mut close = Vec::new();
        for &id in &due {
            let session = SessionHandle(id);
            let record = self.record(session);
            let ip_packets = record.counters.ip_in + record.counters.ip_out;
            let Some(state) = self.aaa.calls.get_mut(&id) else {
                continue;
            };
            if state.session_deadline_ms.is_some_and(|d| d <= now) {
                state.session_deadline_ms = None;
                state.cause_override = Some(TerminateCause::SessionTimeout);
                close.push((session, state.local_call_id, "Session-Timeout"));
            }
            // Idle-Timeout (RFC 2865 §5.28): no IP packet either way for
            // that long. Looked at only when a check is due.
            if state.idle_check_ms.is_some_and(|d| d <= now) {
                match state.idle_timeout_ms {
                    Some(timeout) if ip_packets != state.idle_ip_packets => {
                        state.idle_ip_packets = ip_packets;
                        state.idle_check_ms = Some(now + timeout);
                    }
                    Some(_) => {
                        state.idle_check_ms = None;
                        state.cause_override = Some(TerminateCause::IdleTimeout);
                        close.push((session, state.local_call_id, "Idle-Timeout"));
                    }
                    None => state.idle_check_ms = None,
                }
            }
            if state.next_interim_ms.is_some_and(|d| d <= now) {
                let started = state.acct_started_ms.unwrap_or(now);
                let sent = match &mut self.aaa.backend {
                    Backend::Radius(r) => {
                        state.next_interim_ms = Some(now + r.interim_ms);
                        r.account(
                            instant(now),
                            id,
                            state,
                            &record,
                            AccountingStatus::InterimUpdate,
                            started,
                        )
                    }
                    Backend::Tacacs(t) => {
                        state.next_interim_ms = Some(now + t.settings.interim_interval_secs * 1000);
                        t.account(id, state, &record, AccountingKind::Watchdog, now);
                        Ok(())
                    }
                    Backend::Local => {
                        state.next_interim_ms = None;
                        Ok(())
                    }
                };
                match sent {
                    Ok(()) => self.aaa.stats.acct_sent += 1,
                    Err(e) => log!(
                        "call {}: interim accounting not sent: {e}",
                        state.local_call_id
                    ),
                }
            }
        }
        for &id in &due {
            self.aaa.rearm(id);
        }
        let now = self.now();
        for (session, call, why) in close {
            log!("call {call}: {why} from the AAA server reached: closing");
            self.endpoint.close_session(now, session);
        }
    }

    /// Hands a verdict to its session (if it still exists).
    fn deliver_verdict(&mut self, session: SessionHandle, mut verdict: Verdict, info: VerdictInfo) {
        let now = self.clock.ms();
        let method = self.aaa.method_name();
        let source = if method == "radius" {
            "RADIUS"
        } else {
            "TACACS+"
        };
        let Some(view) = self.endpoint.session(session) else {
            log!("AAA answer for a session that is gone; dropped");
            return;
        };
        let _ = view;
        let prefix = self.prefix(session);
        let user = self
            .aaa
            .calls
            .get(&session.0)
            .map(|s| s.username.clone())
            .unwrap_or_default();
        match info.note {
            Some(Note::MissingMppeKeys) => {
                self.aaa.stats.missing_keys += 1;
                // PIX syslog 403110, then 603103 "AAA authentication failed".
                log!(
                    "{prefix}: %PIX-3-403110 user \"{user}\" missing MPPE key from aaa server: \
                     {source} accepted without MPPE keys but encryption is required; session \
                     refused (error 691)"
                );
            }
            Some(Note::Challenge) => log!(
                "{prefix}: {source} Access-Challenge cannot be relayed over PPP: rejected (691)"
            ),
            Some(Note::MalformedAccept(e)) => {
                log!("{prefix}: {source} Accept with a malformed attribute ({e}): rejected (691)")
            }
            Some(Note::ServerError) => {
                log!("{prefix}: {source} server answered with an error: rejected (691)")
            }
            Some(Note::Unencrypted) if self.aaa.mppe_enabled => log!(
                "{prefix}: {source} sent no MPPE keys: this session runs unencrypted (mppe is not required)"
            ),
            _ => {}
        }
        let in_pool = |server: &Server, addr: Ipv4Addr| {
            server.endpoint.pool().is_some_and(|p| p.contains(addr))
        };
        let mut outside_route = None;
        if let Verdict::Accept(accept) = &verdict {
            if let Some(addr) = accept.attributes.address {
                // The endpoint gives the peer this address instead of one
                // from the pool (reserving it there if it is inside); one
                // outside the pool gets its own /32 route into the TUN.
                let ours = Some(addr) == self.config.local_address.into();
                if ours || self.endpoint.address_in_use(addr) {
                    log!(
                        "{prefix}: Framed-IP-Address {addr} from {source} is already in use: rejecting (691)"
                    );
                    verdict = bridge::rejection(691);
                } else {
                    let inside = in_pool(self, addr);
                    if !inside {
                        match self.tun.add_route(addr, 32) {
                            Ok(()) => outside_route = Some(addr),
                            Err(e) => log!("{prefix}: route to {addr}: {e}"),
                        }
                    }
                    log!(
                        "{prefix}: Framed-IP-Address {addr} from {source} (instead of the pool{})",
                        if inside {
                            ", reserved in it"
                        } else {
                            "; outside it, own route"
                        }
                    );
                }
            }
        }
        let state = self.aaa.calls.entry(session.0).or_default();
        state.auth_pending = false;
        if outside_route.is_some() {
            state.outside_pool_route = outside_route;
        }
        match &verdict {
            Verdict::Accept(accept) => {
                self.aaa.stats.accepted += 1;
                state.address_from_aaa = accept.attributes.address;
                state.keys = key_source(&verdict, method);
                match state.keys {
                    Some(k) => log!("{prefix}: MPPE keys {k}"),
                    None if self.aaa.mppe_enabled => {
                        log!(
                            "{prefix}: no MPPE keys from {source}: MPPE cannot run on this session"
                        )
                    }
                    None => {}
                }
                if let Some(secs) = info.session_timeout.filter(|s| *s > 0) {
                    state.session_deadline_ms = Some(now + u64::from(secs) * 1000);
                    log!("{prefix}: Session-Timeout {secs} s from {source}");
                }
                if let Some(secs) = info.idle_timeout.filter(|s| *s > 0) {
                    let timeout = u64::from(secs) * 1000;
                    state.idle_timeout_ms = Some(timeout);
                    state.idle_check_ms = Some(now + timeout);
                    log!("{prefix}: Idle-Timeout {secs} s from {source}");
                }
                if !info.class.is_empty() {
                    state.class = info.class.to_vec();
                    log!(
                        "{prefix}: Class ({} octets) from {source}, echoed in accounting",
                        info.class.len()
                    );
                }
                if let Some(nbns) = accept.attributes.primary_nbns {
                    // The link hands address, DNS and NBNS to IPCP.
                    log!("{prefix}: NBNS (WINS) {nbns} from {source}");
                }
                if let Some(dns) = accept.attributes.primary_dns {
                    log!("{prefix}: DNS {dns} from {source}");
                }
                log!("{prefix}: %PIX-6-603103 user \"{user}\": AAA authentication succeeded ({source})");
            }
            Verdict::Reject(r) => {
                self.aaa.stats.rejected += 1;
                log!(
                    "{prefix}: %PIX-6-603103 user \"{user}\": AAA authentication failed ({source}: {:?}, error {})",
                    r.reason,
                    r.error_code
                );
            }
        }
        self.aaa.rearm(session.0);
        let now = self.now();
        if !self.endpoint.auth_verdict(now, session, verdict) {
            log!("{prefix}: verdict not taken by the link (session gone or not waiting)");
        }
    }
}

// ---- RADIUS ------------------------------------------------------------------

enum RadiusPurpose {
    Auth {
        call_id: Key,
    },
    Accounting {
        call_id: Key,
        status: AccountingStatus,
    },
}

struct RadiusHost {
    client: Box<Radius>,
    socket: UdpSocket,
    /// (authentication, accounting) address per server index.
    servers: Vec<(SocketAddr, SocketAddr)>,
    pending: HashMap<RequestHandle, RadiusPurpose>,
    accounting: bool,
    interim_ms: u64,
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
            interim_ms: settings.interim_interval_secs * 1000,
        })
    }

    fn randomness() -> Randomness {
        Randomness {
            identifier: random_bytes::<1>()[0],
            authenticator: random_bytes::<16>(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn start_auth(
        &mut self,
        now: PppInstant,
        call_id: Key,
        nas_port: u32,
        request: &AuthRequest,
        peer: &str,
        called: &str,
        session_id: &str,
    ) -> Result<(), String> {
        let session = SessionInfo {
            nas_port: Some(nas_port),
            calling_station_id: Some(peer.as_bytes()),
            called_station_id: Some(called.as_bytes()),
            acct_session_id: Some(session_id.as_bytes()),
        };
        let handle = self
            .client
            .start_auth(now, request, &session, Self::randomness())
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

    fn account(
        &mut self,
        now: PppInstant,
        call_id: Key,
        state: &CallAaa,
        call: &Record,
        status: AccountingStatus,
        started_ms: u64,
    ) -> Result<(), String> {
        self.send_record(
            now,
            call_id,
            state,
            call,
            status,
            None,
            started_ms,
            now.as_millis(),
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn account_stop(
        &mut self,
        now: PppInstant,
        call_id: Key,
        state: &CallAaa,
        call: &Record,
        cause: TerminateCause,
        started_ms: u64,
        now_ms: u64,
    ) -> Result<(), String> {
        self.send_record(
            now,
            call_id,
            state,
            call,
            AccountingStatus::Stop,
            Some(cause),
            started_ms,
            now_ms,
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn send_record(
        &mut self,
        now: PppInstant,
        call_id: Key,
        state: &CallAaa,
        call: &Record,
        status: AccountingStatus,
        cause: Option<TerminateCause>,
        started_ms: u64,
        now_ms: u64,
    ) -> Result<(), String> {
        let counters = &call.counters;
        let peer = state.peer.map(|p| p.to_string()).unwrap_or_default();
        let mut record = AccountingRecord::new(
            status,
            state.acct_session_id.as_bytes(),
            state.username.as_bytes(),
        );
        // RFC 2866 §5.3/§5.4: input = from the user, output = to the user.
        record.session_time = (now_ms.saturating_sub(started_ms) / 1000) as u32;
        record.input_octets = counters.octets_in;
        record.output_octets = counters.octets_out;
        record.input_packets = counters.frames_in.min(u64::from(u32::MAX)) as u32;
        record.output_packets = counters.frames_out.min(u64::from(u32::MAX)) as u32;
        record.terminate_cause = cause;
        record.framed_ip = call.address;
        record.calling_station_id = Some(peer.as_bytes());
        record.class = (!state.class.is_empty()).then_some(&state.class[..]);
        let handle = self
            .client
            .start_accounting(now, &record, Self::randomness())
            .map_err(|e| e.to_string())?;
        self.pending
            .insert(handle, RadiusPurpose::Accounting { call_id, status });
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

    fn drive(&mut self, now: PppInstant, stats: &mut AaaStats) -> Vec<Outcome> {
        self.client.handle_timeout(now);
        let mut buf = [0u8; radius::wire::MAX_PACKET_LEN];
        while let Some(t) = self.client.poll_transmit(now, &mut buf) {
            let Some(&(auth, acct)) = self.servers.get(t.server_index) else {
                continue;
            };
            let to = match t.kind {
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
                    if let Some(RadiusPurpose::Accounting { call_id, status }) =
                        self.pending.remove(&handle)
                    {
                        stats.acct_acked += 1;
                        log!("call {call_id}: RADIUS accounting {status:?} acknowledged");
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
                        Some(RadiusPurpose::Accounting { call_id, status }) => {
                            log!(
                                "call {call_id}: RADIUS accounting {status:?} {what}; record lost"
                            );
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

enum JobKind {
    Auth {
        request: Box<AuthRequest>,
    },
    Authorization {
        verdict: Box<Verdict>,
        info: Box<VerdictInfo>,
        username: String,
        method: Method,
    },
    Accounting {
        kind: AccountingKind,
        username: String,
        task_id: String,
        elapsed: u32,
        bytes_in: u64,
        bytes_out: u64,
        paks_in: u64,
        paks_out: u64,
        addr: Option<Ipv4Addr>,
    },
}

struct Job {
    call_id: Key,
    kind: JobKind,
    rem_addr: String,
    /// Index of the server to try.
    server: usize,
    /// Servers tried so far.
    tries: usize,
}

struct TacacsConn {
    stream: TcpStream,
    client: Box<TacacsClient<TACACS_SESSIONS>>,
    server: usize,
    out: Vec<u8>,
    /// Sessions in flight on this connection, by session id.
    jobs: HashMap<u32, Job>,
    broken: bool,
}

struct TacacsHost {
    settings: TacacsSettings,
    /// Jobs waiting for a connection.
    jobs: Vec<Job>,
    conns: HashMap<Token, TacacsConn>,
    next_token: usize,
    /// The server that answered last (sticky failover).
    preferred: usize,
}

impl TacacsHost {
    fn new(settings: TacacsSettings) -> Self {
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
        TacacsHost {
            settings,
            jobs: Vec::new(),
            conns: HashMap::new(),
            next_token: FIRST_TACACS_TOKEN,
            preferred: 0,
        }
    }

    fn queue(&mut self, call_id: Key, kind: JobKind, rem_addr: String) {
        self.jobs.push(Job {
            call_id,
            kind,
            rem_addr,
            server: self.preferred,
            tries: 1,
        });
    }

    fn account(
        &mut self,
        call_id: Key,
        state: &CallAaa,
        call: &Record,
        kind: AccountingKind,
        now_ms: u64,
    ) {
        let c = &call.counters;
        let elapsed = state
            .acct_started_ms
            .map_or(0, |s| now_ms.saturating_sub(s) / 1000) as u32;
        self.queue(
            call_id,
            JobKind::Accounting {
                kind,
                username: state.username.clone(),
                task_id: state.acct_session_id.clone(),
                elapsed,
                bytes_in: c.octets_in,
                bytes_out: c.octets_out,
                paks_in: c.frames_in,
                paks_out: c.frames_out,
                addr: call.address,
            },
            state.peer.map(|p| p.to_string()).unwrap_or_default(),
        );
    }

    fn poll_timeout(&self) -> Option<u64> {
        self.conns
            .values()
            .filter_map(|c| c.client.poll_timeout().map(|i| i.as_millis()))
            .min()
    }

    fn config(&self, server: usize) -> Option<TacacsConfig> {
        let s = self.settings.servers.get(server)?;
        let mut c = TacacsConfig::new(s.key.as_bytes(), MppePolicy::Auto).ok()?;
        c.single_connection = self.settings.single_connection;
        c.timeout = ppp_core::time::Duration::from_secs(self.settings.timeout_secs);
        Some(c)
    }

    /// A connection for a new session on `server`: the shared one in
    /// single-connection mode (while the server agrees), else a new one.
    fn connection(&mut self, server: usize, registry: &Registry) -> Result<Token, String> {
        if self.settings.single_connection {
            if let Some((&token, _)) = self.conns.iter().find(|(_, c)| {
                c.server == server
                    && !c.broken
                    && c.client.single_connection() != Some(false)
                    && c.jobs.len() < TACACS_SESSIONS
            }) {
                return Ok(token);
            }
        }
        let address = self
            .settings
            .servers
            .get(server)
            .ok_or("no such server")?
            .address;
        let config = self.config(server).ok_or("bad TACACS+ key")?;
        let mut stream =
            TcpStream::connect(address).map_err(|e| format!("connect {address}: {e}"))?;
        self.next_token += 1;
        let token = Token(self.next_token);
        registry
            .register(&mut stream, token, Interest::READABLE | Interest::WRITABLE)
            .map_err(|e| format!("register: {e}"))?;
        let _ = stream.set_nodelay(true);
        self.conns.insert(
            token,
            TacacsConn {
                stream,
                client: Box::new(TacacsClient::new(config)),
                server,
                out: Vec::new(),
                jobs: HashMap::new(),
                broken: false,
            },
        );
        Ok(token)
    }

    /// Starts `job` on a connection; on failure gives it back.
    fn start(&mut self, now: u64, job: Job, registry: &Registry) -> Result<(), Box<(Job, String)>> {
        let token = match self.connection(job.server, registry) {
            Ok(t) => t,
            Err(e) => return Err(Box::new((job, e))),
        };
        let Some(conn) = self.conns.get_mut(&token) else {
            return Err(Box::new((job, "connection vanished".into())));
        };
        let session_id = loop {
            let id = u32::from_be_bytes(random_bytes::<4>());
            if id != 0 && !conn.jobs.contains_key(&id) {
                break id;
            }
        };
        let t = instant(now);
        let rem = job.rem_addr.as_bytes();
        let started = match &job.kind {
            JobKind::Auth { request } => conn.client.start_auth(t, request, rem, session_id),
            JobKind::Authorization {
                username, method, ..
            } => conn
                .client
                .start_authorization(t, username.as_bytes(), *method, rem, session_id),
            JobKind::Accounting {
                kind,
                username,
                task_id,
                elapsed,
                bytes_in,
                bytes_out,
                paks_in,
                paks_out,
                addr,
            } => conn.client.start_accounting(
                t,
                &tacacs::AccountingRecord {
                    kind: *kind,
                    username: username.as_bytes(),
                    rem_addr: rem,
                    task_id: task_id.as_bytes(),
                    elapsed_time: *elapsed,
                    bytes_in: *bytes_in,
                    bytes_out: *bytes_out,
                    paks_in: *paks_in,
                    paks_out: *paks_out,
                    addr: *addr,
                },
                session_id,
            ),
        };
        if let Err(e) = started {
            return Err(Box::new((job, e.to_string())));
        }
        conn.jobs.insert(session_id, job);
        let mut buf = [0u8; tacacs::client::MAX_REQUEST_LEN];
        while let Some(tx) = conn.client.poll_transmit(t, &mut buf) {
            conn.out.extend_from_slice(&buf[..tx.len]);
        }
        flush_tacacs(conn);
        Ok(())
    }

    fn ready(&mut self, token: Token, now: u64) {
        let Some(conn) = self.conns.get_mut(&token) else {
            return;
        };
        flush_tacacs(conn);
        let mut buf = [0u8; 4096];
        loop {
            match conn.stream.read(&mut buf) {
                Ok(0) => {
                    conn.broken = true;
                    break;
                }
                Ok(n) => {
                    if let Err(e) = conn.client.handle_input(instant(now), &buf[..n]) {
                        log!("TACACS+: reply dropped: {e}");
                    }
                    if conn.client.is_broken() {
                        conn.broken = true;
                        break;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    log!("TACACS+ connection to server {}: {e}", conn.server + 1);
                    conn.broken = true;
                    break;
                }
            }
        }
    }

    fn drive(&mut self, now: u64, registry: &Registry, stats: &mut AaaStats) -> Vec<Outcome> {
        let mut outcomes = Vec::new();
        let mut retry: Vec<(Job, String)> = Vec::new();
        for conn in self.conns.values_mut() {
            conn.client.handle_timeout(instant(now));
            while let Some(event) = conn.client.poll_event() {
                let (session, result) = match event {
                    tacacs::Event::Verdict {
                        handle,
                        verdict,
                        info,
                    } => (
                        handle.0,
                        Ok(Reply::Verdict(Box::new(verdict), Box::new(info))),
                    ),
                    tacacs::Event::Authorization { handle, outcome } => {
                        (handle.0, Ok(Reply::Authorization(outcome)))
                    }
                    tacacs::Event::AccountingAcknowledged { handle } => {
                        (handle.0, Ok(Reply::Accounted(true)))
                    }
                    tacacs::Event::AccountingRefused { handle } => {
                        (handle.0, Ok(Reply::Accounted(false)))
                    }
                    tacacs::Event::Timeout { handle } => {
                        (handle.0, Err("no reply in time".to_string()))
                    }
                    tacacs::Event::Failed { handle, error } => (handle.0, Err(error.to_string())),
                };
                let Some(job) = conn.jobs.remove(&session) else {
                    continue;
                };
                match result {
                    Ok(reply) => {
                        self.preferred = conn.server;
                        finish_tacacs(
                            job,
                            reply,
                            self.settings.authorization,
                            &mut outcomes,
                            &mut self.jobs,
                            stats,
                        );
                    }
                    Err(e) => retry.push((job, e)),
                }
            }
            if conn.broken {
                for (_, job) in conn.jobs.drain() {
                    retry.push((job, "connection closed by the server".to_string()));
                }
            }
        }
        // Close idle per-session connections and broken ones.
        let single = self.settings.single_connection;
        let closing: Vec<Token> = self
            .conns
            .iter()
            .filter(|(_, c)| {
                c.broken
                    || (c.jobs.is_empty()
                        && (!single || c.client.single_connection() == Some(false)))
            })
            .map(|(t, _)| *t)
            .collect();
        for token in closing {
            if let Some(mut c) = self.conns.remove(&token) {
                let _ = registry.deregister(&mut c.stream);
                let _ = c.stream.shutdown(std::net::Shutdown::Both);
            }
        }
        // Failover: the next server, once each.
        let servers = self.settings.servers.len();
        for (mut job, why) in retry {
            if job.tries < servers {
                log!(
                    "call {}: TACACS+ server {} failed ({why}); trying server {}",
                    job.call_id,
                    job.server + 1,
                    (job.server + 1) % servers + 1
                );
                job.server = (job.server + 1) % servers;
                job.tries += 1;
                self.preferred = job.server;
                self.jobs.push(job);
            } else {
                give_up(job, &why, &mut outcomes, stats);
            }
        }
        let queued = std::mem::take(&mut self.jobs);
        for job in queued {
            if let Err(failed) = self.start(now, job, registry) {
                let (mut job, why) = *failed;
                if job.tries < servers {
                    job.server = (job.server + 1) % servers;
                    job.tries += 1;
                    self.jobs.push(job);
                } else {
                    give_up(job, &why, &mut outcomes, stats);
                }
            }
        }
        outcomes
    }
}

enum Reply {
    Verdict(Box<Verdict>, Box<VerdictInfo>),
    Authorization(tacacs::AuthorizationOutcome),
    Accounted(bool),
}

fn finish_tacacs(
    job: Job,
    reply: Reply,
    authorize: bool,
    outcomes: &mut Vec<Outcome>,
    queue: &mut Vec<Job>,
    stats: &mut AaaStats,
) {
    let call_id = job.call_id;
    match (job.kind, reply) {
        (JobKind::Auth { request }, Reply::Verdict(verdict, info)) => {
            if authorize && matches!(*verdict, Verdict::Accept(_)) {
                // RFC 8907 §6: ask what the user may use (service=ppp
                // protocol=ip) before letting the link up.
                queue.push(Job {
                    call_id,
                    kind: JobKind::Authorization {
                        verdict,
                        info,
                        username: String::from_utf8_lossy(&request.username).into_owned(),
                        method: request.method,
                    },
                    rem_addr: job.rem_addr,
                    server: job.server,
                    tries: 1,
                });
            } else {
                outcomes.push(Outcome::Verdict {
                    call_id,
                    verdict: *verdict,
                    info: *info,
                });
            }
        }
        (JobKind::Authorization { verdict, info, .. }, Reply::Authorization(outcome)) => {
            if outcome.status != AuthorizationStatus::Pass {
                log!(
                    "call {call_id}: TACACS+ authorization of service=ppp protocol=ip: {:?}: rejecting (691)",
                    outcome.status
                );
            } else {
                log!(
                    "call {call_id}: TACACS+ authorization passed (addr {:?}, dns {:?})",
                    outcome.attributes.address,
                    outcome.attributes.primary_dns
                );
            }
            outcomes.push(Outcome::Verdict {
                call_id,
                verdict: outcome.apply(*verdict),
                info: *info,
            });
        }
        (JobKind::Accounting { kind, .. }, Reply::Accounted(ok)) => {
            if ok {
                stats.acct_acked += 1;
                log!("call {call_id}: TACACS+ accounting {kind:?} acknowledged");
            } else {
                log!("call {call_id}: TACACS+ accounting {kind:?} refused by the server");
            }
        }
        (_, _) => log!("call {call_id}: TACACS+ reply of the wrong kind; dropped"),
    }
}

fn give_up(job: Job, why: &str, outcomes: &mut Vec<Outcome>, stats: &mut AaaStats) {
    let call_id = job.call_id;
    match job.kind {
        JobKind::Auth { .. } | JobKind::Authorization { .. } => {
            stats.timeouts += 1;
            log!(
                "call {call_id}: TACACS+ {why} (every server tried): AAA authentication failed, rejecting (691)"
            );
            outcomes.push(Outcome::Verdict {
                call_id,
                verdict: bridge::rejection(691),
                info: VerdictInfo::default(),
            });
        }
        JobKind::Accounting { kind, .. } => {
            log!("call {call_id}: TACACS+ accounting {kind:?}: {why}; record lost")
        }
    }
}

fn flush_tacacs(conn: &mut TacacsConn) {
    while !conn.out.is_empty() && !conn.broken {
        match conn.stream.write(&conn.out) {
            Ok(0) => {
                conn.broken = true;
            }
            Ok(n) => {
                conn.out.drain(..n);
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == io::ErrorKind::NotConnected => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log!("TACACS+ connection to server {}: {e}", conn.server + 1);
                conn.broken = true;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn terminate_causes_follow_rfc_2866() {
        let link = |r| terminate_cause(&SessionEnd::Link(r)).value();
        assert_eq!(link(EndReason::PeerTerminated), 1, "User-Request");
        assert_eq!(
            terminate_cause(&SessionEnd::ConnectionLost).value(),
            2,
            "Lost-Carrier"
        );
        assert_eq!(link(EndReason::LowerLayerDown), 2);
        assert_eq!(link(EndReason::AdminClose), 6);
        assert_eq!(link(EndReason::MppeRequiredNotActive), 15);
        assert_eq!(
            terminate_cause(&SessionEnd::Call(CallDownReason::ClearRequested)).value(),
            1,
            "the user hung up (Call-Clear-Request)"
        );
    }

    #[test]
    fn key_sources_name_the_attributes() {
        use ppp_core::auth::Accept;
        let external = Verdict::Accept(Accept {
            key_material: Some(MppeKeyMaterial::External {
                send_key: [1; 16],
                recv_key: [2; 16],
            }),
            ..Accept::default()
        });
        assert_eq!(
            key_source(&external, "radius"),
            Some("from RADIUS (MS-MPPE-Send-Key/Recv-Key)")
        );
        let v1 = Verdict::Accept(Accept {
            key_material: Some(MppeKeyMaterial::MsChapV1 {
                password_hash_hash: [3; 16],
                lm_hash_prefix: None,
                challenge: [4; 8],
            }),
            ..Accept::default()
        });
        assert_eq!(
            key_source(&v1, "radius"),
            Some("from RADIUS (MS-CHAP-MPPE-Keys)")
        );
        assert_eq!(
            key_source(&Verdict::Accept(Accept::default()), "tacacs"),
            None
        );
        assert_eq!(key_source(&bridge::rejection(691), "radius"), None);
    }
}
