//! Per-session AAA: what a NAS remembers of each session between the AAA
//! server's answer and the accounting Stop, Sans-IO and without
//! allocation.
//!
//! The RADIUS and TACACS+ clients ([`super::radius`], [`super::tacacs`])
//! turn one request into bytes and one answer into a verdict. Between
//! them sits the NAS's own bookkeeping, which every host needs in the
//! same form: the Acct-Session-Id, the user, the Class to echo (RFC 2865
//! §5.25), when accounting started and when the next Interim-Update is
//! due (RFC 2866 §5.1), the Session-Timeout and Idle-Timeout deadlines
//! (RFC 2865 §5.27, §5.28), and the cause the Stop reports (RFC 2866
//! §5.10). [`Sessions`] keeps it in a table of the caller's memory, keyed
//! by a `u32` the host chooses (a PPTP host uses the endpoint's session
//! handle).
//!
//! ## The host's calls, in a session's order
//!
//! 1. [`Sessions::call_up`]: the call exists (NAS-Port, Calling-Station).
//! 2. [`Sessions::auth_started`]: the login goes to the AAA server; the
//!    returned session gives the Acct-Session-Id and NAS attributes.
//! 3. [`Sessions::verdict`]: the AAA server's answer, checked (the
//!    Framed-IP-Address against the host's addresses), with the notices
//!    a NAS logs ([`Decision::lines`]); its verdict goes to the link.
//! 4. [`Sessions::session_up`]: the network layer is up: an accounting
//!    Start to send, if accounting is on.
//! 5. [`Sessions::poll_timeout`] / [`Sessions::deadline`] and
//!    [`Sessions::handle_timeout`]: Interim-Updates to send, sessions to
//!    close (Session-Timeout, Idle-Timeout).
//! 6. [`Sessions::session_down`]: the accounting Stop to send.
//!
//! ## Bounds
//!
//! The table holds as many sessions as the caller's slots
//! ([`Slot`]); [`Sessions::call_up`] on a full table returns
//! [`Error::Full`] and the session is not tracked: the host refuses its
//! login (MS-CHAP error 691) rather than run a session the AAA server
//! would never see accounted. Every string is a fixed-capacity buffer
//! sized to what the protocols carry (User-Name 255 octets, Class 253).
//! Lookups are open addressing with linear probing over the slots, so a
//! host with thousands of sessions does not scan them per packet; the
//! scans that remain ([`Sessions::poll_timeout`], [`Sessions::due`]) are
//! for small hosts, and a large host keeps its own timer index fed by
//! [`Sessions::deadline`].
//!
//! ## Time
//!
//! Deadlines fire when `now >= deadline`; a clock that goes backwards
//! fires nothing early and makes no duration negative (session times
//! saturate at zero).

mod cause;
mod report;
// The tests read both protocols' record forms.
#[cfg(all(test, feature = "radius", feature = "tacacs"))]
mod tests;

use core::fmt;
use core::net::Ipv4Addr;

pub use cause::TerminateCause;
pub use report::{AccountingReport, Phase, SESSION_ID_LEN, STATION_LEN};

use super::bridge::{self, Note, VerdictInfo, MAX_CLASS_LEN};
use crate::auth::{MppeKeyMaterial, Name, Verdict};
use crate::link::Counters;
use crate::time::{Duration, Instant};

/// Which AAA protocol decides (it names the source in notices and
/// decides what MS-CHAPv1 key material means).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Protocol {
    /// RADIUS (RFC 2865/2866).
    Radius,
    /// TACACS+ (RFC 8907).
    Tacacs,
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Protocol::Radius => "RADIUS",
            Protocol::Tacacs => "TACACS+",
        })
    }
}

/// How the table behaves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Config {
    /// The protocol deciding logins.
    pub protocol: Protocol,
    /// Send accounting (Start, Interim-Update, Stop).
    pub accounting: bool,
    /// Interim-Update interval (RFC 2866 §5.1 status 3); `None` for none.
    pub interim: Option<Duration>,
    /// MPPE is configured on the links (notices about missing keys are
    /// only worth a line then).
    pub mppe_enabled: bool,
}

/// Errors of the table.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// Every slot is taken (the caller gave `capacity` slots).
    Full {
        /// How many slots there are.
        capacity: usize,
    },
    /// No session with this key.
    UnknownSession {
        /// The key asked for.
        key: u32,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Full { capacity } => write!(f, "AAA session table full ({capacity} sessions)"),
            Error::UnknownSession { key } => write!(f, "no AAA session {key}"),
        }
    }
}

/// Where a session's MPPE keys came from, as the status shows and the
/// log states.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum KeySource {
    /// MS-MPPE-Send-Key / MS-MPPE-Recv-Key (RFC 2548 §2.4.2, §2.4.3).
    RadiusSendRecv,
    /// MS-CHAP-MPPE-Keys (RFC 2548 §2.4.1), MS-CHAPv1.
    RadiusMsChapKeys,
    /// MS-CHAP material the NAS derives the keys from.
    MsChapMaterial,
}

impl KeySource {
    /// The source of `verdict`'s keys, if it carries any.
    pub fn of(verdict: &Verdict, protocol: Protocol) -> Option<KeySource> {
        match verdict {
            Verdict::Accept(a) => match (&a.key_material, protocol) {
                (Some(MppeKeyMaterial::External { .. }), _) => Some(KeySource::RadiusSendRecv),
                (Some(MppeKeyMaterial::MsChapV1 { .. }), Protocol::Radius) => {
                    Some(KeySource::RadiusMsChapKeys)
                }
                (Some(_), _) => Some(KeySource::MsChapMaterial),
                (None, _) => None,
            },
            Verdict::Reject(_) => None,
        }
    }
}

impl fmt::Display for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KeySource::RadiusSendRecv => "from RADIUS (MS-MPPE-Send-Key/Recv-Key)",
            KeySource::RadiusMsChapKeys => "from RADIUS (MS-CHAP-MPPE-Keys)",
            KeySource::MsChapMaterial => "from the AAA server's MS-CHAP material",
        })
    }
}

/// What the host knows of an address the AAA server assigned
/// (Framed-IP-Address, RFC 2865 §5.8; TACACS+ `addr=`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AddressUse {
    /// Another session (or the NAS itself) has it: the login is refused.
    InUse,
    /// Free and inside the host's pool (the endpoint reserves it there).
    InPool,
    /// Free and outside the pool: the host routes it (/32) to the tunnel.
    OutsidePool,
}

/// The session statistics a NAS shows.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Stats {
    /// Logins sent to the AAA server.
    pub logins: u64,
    /// Accepted (after the checks of [`Sessions::verdict`]).
    pub accepted: u64,
    /// Rejected (by the server, by the MPPE policy, by an address check,
    /// or because the request could not be sent).
    pub rejected: u64,
    /// Accepts without MPPE keys while MPPE was required (PIX 403110).
    pub missing_keys: u64,
}

/// One session's AAA state.
#[derive(Clone, Debug)]
pub struct Session {
    key: u32,
    nas_port: u32,
    calling_station: Ipv4Addr,
    acct_session_id: heapless::String<SESSION_ID_LEN>,
    username: Name,
    auth_pending: bool,
    keys: Option<KeySource>,
    address_from_aaa: Option<Ipv4Addr>,
    /// Framed-IP-Address outside the pool: the host's /32 route.
    route: Option<Ipv4Addr>,
    /// The peer's address once the network layer is up.
    address: Option<Ipv4Addr>,
    acct_started: Option<Instant>,
    next_interim: Option<Instant>,
    /// Session-Timeout (RFC 2865 §5.27): close at this time.
    session_deadline: Option<Instant>,
    /// Idle-Timeout (RFC 2865 §5.28), and the next look at the counters.
    idle_timeout: Option<Duration>,
    idle_check: Option<Instant>,
    /// IP packets both ways at the last idle check.
    idle_ip_packets: u64,
    /// Class from the Accept, echoed in accounting (RFC 2865 §5.25).
    class: heapless::Vec<u8, MAX_CLASS_LEN>,
    /// Why the NAS itself ended the session (a timeout fired).
    cause_override: Option<TerminateCause>,
}

impl Session {
    /// The host's key.
    pub fn key(&self) -> u32 {
        self.key
    }
    /// NAS-Port (a PPTP NAS uses its call ID).
    pub fn nas_port(&self) -> u32 {
        self.nas_port
    }
    /// The peer's address (Calling-Station-Id).
    pub fn calling_station(&self) -> Ipv4Addr {
        self.calling_station
    }
    /// Acct-Session-Id (RFC 2866 §5.5), the same in every record.
    pub fn acct_session_id(&self) -> &str {
        &self.acct_session_id
    }
    /// The user name of the login (empty before [`Sessions::auth_started`]).
    pub fn username(&self) -> &[u8] {
        &self.username
    }
    /// Where the MPPE keys came from, once accepted.
    pub fn key_source(&self) -> Option<KeySource> {
        self.keys
    }
    /// The address the AAA server assigned, if it did.
    pub fn address_from_aaa(&self) -> Option<Ipv4Addr> {
        self.address_from_aaa
    }
    /// Whether the accounting Start went out.
    pub fn accounting_started(&self) -> bool {
        self.acct_started.is_some()
    }
    /// The login is with the AAA server.
    pub fn auth_pending(&self) -> bool {
        self.auth_pending
    }

    /// The earliest of the session's deadlines.
    fn deadline(&self) -> Option<Instant> {
        [self.next_interim, self.session_deadline, self.idle_check]
            .into_iter()
            .flatten()
            .min()
    }

    fn report(
        &self,
        now: Instant,
        phase: Phase,
        counters: &Counters,
        cause: Option<TerminateCause>,
    ) -> AccountingReport {
        let started = self.acct_started.unwrap_or(now);
        AccountingReport::new(
            self,
            phase,
            now.saturating_duration_since(started),
            counters,
            cause,
        )
    }
}

/// One slot of the table's memory.
#[derive(Clone, Debug, Default)]
pub struct Slot(Option<Session>);

impl Slot {
    /// An empty slot.
    pub const fn new() -> Self {
        Slot(None)
    }
}

/// What the host does with an AAA server's answer.
#[derive(Clone, Debug)]
#[must_use = "the verdict must reach the link"]
pub struct Decision {
    /// For the link (`Link::verdict` / `Endpoint::auth_verdict`).
    pub verdict: Verdict,
    /// An address outside the pool: route it (/32) into the tunnel, and
    /// remove the route after [`Sessions::session_down`].
    pub add_route: Option<Ipv4Addr>,
    source: Protocol,
    user: Name,
    notices: heapless::Vec<Notice, MAX_NOTICES>,
}

/// At most this many notices per decision (one per kind below).
const MAX_NOTICES: usize = 12;

/// One thing a NAS logs about a verdict.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Notice {
    /// PIX syslog 403110: accepted without MPPE keys while required.
    MissingMppeKey,
    /// Access-Challenge cannot be relayed over PPP.
    Challenge,
    /// The Accept carried a malformed attribute.
    #[cfg(feature = "radius")]
    MalformedAccept(super::radius::Error),
    /// The server answered with an error.
    ServerError,
    /// No MPPE keys and MPPE not required: the session runs unencrypted.
    Unencrypted,
    /// The assigned address is taken: refused.
    AddressInUse(Ipv4Addr),
    /// The assigned address replaces the pool.
    Address {
        /// The address.
        address: Ipv4Addr,
        /// Inside the pool (reserved there) or outside (own route).
        in_pool: bool,
    },
    /// Where the keys came from.
    Keys(KeySource),
    /// Accepted without keys while MPPE is configured.
    NoKeys,
    /// Session-Timeout in seconds.
    SessionTimeout(u32),
    /// Idle-Timeout in seconds.
    IdleTimeout(u32),
    /// Class of this many octets.
    Class(usize),
    /// NBNS (WINS) server.
    Nbns(Ipv4Addr),
    /// DNS server.
    Dns(Ipv4Addr),
    /// PIX syslog 603103, success.
    Succeeded,
    /// PIX syslog 603103, failure.
    Failed {
        /// The link's reason.
        reason: crate::auth::FailureReason,
        /// The MS-CHAP error code.
        error_code: u32,
    },
}

/// A user name as text, invalid UTF-8 replaced.
struct Lossy<'a>(&'a [u8]);

impl fmt::Display for Lossy<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for chunk in self.0.utf8_chunks() {
            f.write_str(chunk.valid())?;
            if !chunk.invalid().is_empty() {
                f.write_str("\u{FFFD}")?;
            }
        }
        Ok(())
    }
}

/// One notice as a log line (without the host's session prefix).
pub struct NoticeLine<'a> {
    decision: &'a Decision,
    notice: &'a Notice,
}

impl fmt::Display for NoticeLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let source = self.decision.source;
        let user = Lossy(&self.decision.user);
        match self.notice {
            // The PIX's wording (syslog 403110, then 603103 "failed").
            Notice::MissingMppeKey => write!(
                f,
                "%PIX-3-403110 user \"{user}\" missing MPPE key from aaa server: {source} \
                 accepted without MPPE keys but encryption is required; session refused \
                 (error 691)"
            ),
            Notice::Challenge => write!(
                f,
                "{source} Access-Challenge cannot be relayed over PPP: rejected (691)"
            ),
            #[cfg(feature = "radius")]
            Notice::MalformedAccept(e) => write!(
                f,
                "{source} Accept with a malformed attribute ({e}): rejected (691)"
            ),
            Notice::ServerError => write!(f, "{source} server answered with an error: rejected (691)"),
            Notice::Unencrypted => write!(
                f,
                "{source} sent no MPPE keys: this session runs unencrypted (mppe is not required)"
            ),
            Notice::AddressInUse(a) => write!(
                f,
                "Framed-IP-Address {a} from {source} is already in use: rejecting (691)"
            ),
            Notice::Address { address, in_pool } => write!(
                f,
                "Framed-IP-Address {address} from {source} (instead of the pool{})",
                if *in_pool {
                    ", reserved in it"
                } else {
                    "; outside it, own route"
                }
            ),
            Notice::Keys(k) => write!(f, "MPPE keys {k}"),
            Notice::NoKeys => write!(f, "no MPPE keys from {source}: MPPE cannot run on this session"),
            Notice::SessionTimeout(s) => write!(f, "Session-Timeout {s} s from {source}"),
            Notice::IdleTimeout(s) => write!(f, "Idle-Timeout {s} s from {source}"),
            Notice::Class(n) => write!(f, "Class ({n} octets) from {source}, echoed in accounting"),
            Notice::Nbns(a) => write!(f, "NBNS (WINS) {a} from {source}"),
            Notice::Dns(a) => write!(f, "DNS {a} from {source}"),
            Notice::Succeeded => write!(
                f,
                "%PIX-6-603103 user \"{user}\": AAA authentication succeeded ({source})"
            ),
            Notice::Failed { reason, error_code } => write!(
                f,
                "%PIX-6-603103 user \"{user}\": AAA authentication failed ({source}: {reason:?}, error {error_code})"
            ),
        }
    }
}

impl Decision {
    /// The notices, in the order a NAS logs them.
    pub fn notices(&self) -> &[Notice] {
        &self.notices
    }

    /// The notices as log lines.
    pub fn lines(&self) -> impl Iterator<Item = NoticeLine<'_>> {
        self.notices.iter().map(move |notice| NoticeLine {
            decision: self,
            notice,
        })
    }

    fn note(&mut self, notice: Notice) {
        // One notice per kind at most, fewer than MAX_NOTICES kinds: the
        // push cannot fail; were it to, the line is lost, not the verdict.
        let _ = self.notices.push(notice);
    }
}

/// What a timer asks of the host.
#[derive(Clone, Debug, Default)]
#[must_use = "an interim record to send or a session to close"]
pub struct TimerActions {
    /// An Interim-Update (TACACS+ WATCHDOG) to send.
    pub interim: Option<AccountingReport>,
    /// Close the session: Session-Timeout or Idle-Timeout fired (the Stop
    /// will report this cause).
    pub close: Option<TerminateCause>,
}

/// What the host does when a session ends.
#[derive(Clone, Debug)]
#[must_use = "the accounting Stop must be sent"]
pub struct SessionDown {
    /// The accounting Stop to send (if Start was sent).
    pub stop: Option<AccountingReport>,
    /// The /32 route to remove (from [`Decision::add_route`]).
    pub remove_route: Option<Ipv4Addr>,
    /// The login was still with the AAA server: cancel that request.
    pub cancel_auth: bool,
}

/// The table: per-session AAA state in the caller's slots.
#[derive(Debug)]
pub struct Sessions<S> {
    slots: S,
    len: usize,
    config: Config,
    stats: Stats,
    shutting_down: bool,
}

impl<S: AsRef<[Slot]> + AsMut<[Slot]>> Sessions<S> {
    /// A table over `slots` (every slot is emptied).
    pub fn new(config: Config, mut slots: S) -> Self {
        for slot in slots.as_mut() {
            slot.0 = None;
        }
        Sessions {
            slots,
            len: 0,
            config,
            stats: Stats::default(),
            shutting_down: false,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Counters for the status.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Sessions held.
    pub fn len(&self) -> usize {
        self.len
    }

    /// No sessions held.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Slots in all.
    pub fn capacity(&self) -> usize {
        self.slots.as_ref().len()
    }

    /// The session under `key`.
    pub fn get(&self, key: u32) -> Option<&Session> {
        let i = self.find(key)?;
        self.slots.as_ref()[i].0.as_ref()
    }

    /// Every session, in slot order.
    pub fn iter(&self) -> impl Iterator<Item = &Session> {
        self.slots.as_ref().iter().filter_map(|s| s.0.as_ref())
    }

    /// The NAS is shutting down: sessions the host closes from now on
    /// end with Admin-Reboot, not Admin-Reset (RFC 2866 §5.10: "prior to
    /// rebooting the NAS").
    pub fn shutting_down(&mut self) {
        self.shutting_down = true;
    }

    /// A call came up: `nas_port` (NAS-Port, RFC 2865 §5.5) from
    /// `calling_station`; `session_id_random` (from the host's random
    /// source) makes the Acct-Session-Id unique across restarts (RFC 2866
    /// §5.5). A key already present starts over (its old state is
    /// dropped without a Stop: the host reused a key it never ended).
    pub fn call_up(
        &mut self,
        key: u32,
        nas_port: u32,
        calling_station: Ipv4Addr,
        session_id_random: u32,
    ) -> Result<&Session, Error> {
        let mut acct_session_id = heapless::String::new();
        // 8 + at most 8 hex digits: fits SESSION_ID_LEN.
        let _ = fmt::write(
            &mut acct_session_id,
            format_args!("{session_id_random:08X}{nas_port:04X}"),
        );
        let session = Session {
            key,
            nas_port,
            calling_station,
            acct_session_id,
            username: Name::new(),
            auth_pending: false,
            keys: None,
            address_from_aaa: None,
            route: None,
            address: None,
            acct_started: None,
            next_interim: None,
            session_deadline: None,
            idle_timeout: None,
            idle_check: None,
            idle_ip_packets: 0,
            class: heapless::Vec::new(),
            cause_override: None,
        };
        let i = self.insert_slot(key)?;
        Ok(self.slots.as_mut()[i].0.insert(session))
    }

    /// The login of `username` goes to the AAA server. The session gives
    /// the NAS attributes of the request.
    pub fn auth_started(&mut self, key: u32, username: &[u8]) -> Result<&Session, Error> {
        let s = self.session_mut(key)?;
        s.username.clear();
        // A Name holds what the link accepted as a name: it fits.
        let _ = s
            .username
            .extend_from_slice(&username[..username.len().min(crate::auth::MAX_NAME_LEN)]);
        s.auth_pending = true;
        self.stats.logins += 1;
        self.get(key).ok_or(Error::UnknownSession { key })
    }

    /// The AAA server's answer for `key` (or the host's rejection when
    /// the request could not be sent or timed out). `address_use` tells
    /// whether an assigned address is free, inside or outside the pool.
    pub fn verdict(
        &mut self,
        now: Instant,
        key: u32,
        verdict: Verdict,
        info: &VerdictInfo,
        address_use: impl FnOnce(Ipv4Addr) -> AddressUse,
    ) -> Result<Decision, Error> {
        let config = self.config;
        let s = self.session_mut(key)?;
        s.auth_pending = false;
        let mut d = Decision {
            verdict,
            add_route: None,
            source: config.protocol,
            user: s.username.clone(),
            notices: heapless::Vec::new(),
        };
        match info.note {
            Some(Note::MissingMppeKeys) => d.note(Notice::MissingMppeKey),
            Some(Note::Challenge) => d.note(Notice::Challenge),
            #[cfg(feature = "radius")]
            Some(Note::MalformedAccept(e)) => d.note(Notice::MalformedAccept(e)),
            Some(Note::ServerError) => d.note(Notice::ServerError),
            Some(Note::Unencrypted) if config.mppe_enabled => d.note(Notice::Unencrypted),
            _ => {}
        }
        if let Verdict::Accept(accept) = &d.verdict {
            if let Some(address) = accept.attributes.address {
                match address_use(address) {
                    AddressUse::InUse => {
                        d.note(Notice::AddressInUse(address));
                        d.verdict = bridge::rejection(691);
                    }
                    use_ => {
                        let in_pool = use_ == AddressUse::InPool;
                        if !in_pool {
                            d.add_route = Some(address);
                            s.route = Some(address);
                        }
                        d.note(Notice::Address { address, in_pool });
                    }
                }
            }
        }
        match &d.verdict {
            Verdict::Accept(accept) => {
                s.address_from_aaa = accept.attributes.address;
                s.keys = KeySource::of(&d.verdict, config.protocol);
                let (nbns, dns) = (
                    accept.attributes.primary_nbns,
                    accept.attributes.primary_dns,
                );
                match s.keys {
                    Some(k) => d.note(Notice::Keys(k)),
                    None if config.mppe_enabled => d.note(Notice::NoKeys),
                    None => {}
                }
                if let Some(secs) = info.session_timeout.filter(|s| *s > 0) {
                    s.session_deadline = Some(now + Duration::from_secs(secs.into()));
                    d.note(Notice::SessionTimeout(secs));
                }
                if let Some(secs) = info.idle_timeout.filter(|s| *s > 0) {
                    let timeout = Duration::from_secs(secs.into());
                    s.idle_timeout = Some(timeout);
                    s.idle_check = Some(now + timeout);
                    d.note(Notice::IdleTimeout(secs));
                }
                if !info.class.is_empty() {
                    s.class = info.class.clone();
                    d.note(Notice::Class(info.class.len()));
                }
                if let Some(nbns) = nbns {
                    d.note(Notice::Nbns(nbns));
                }
                if let Some(dns) = dns {
                    d.note(Notice::Dns(dns));
                }
                d.note(Notice::Succeeded);
                self.stats.accepted += 1;
            }
            Verdict::Reject(r) => {
                d.note(Notice::Failed {
                    reason: r.reason,
                    error_code: r.error_code,
                });
                self.stats.rejected += 1;
                if info.note == Some(Note::MissingMppeKeys) {
                    self.stats.missing_keys += 1;
                }
            }
        }
        Ok(d)
    }

    /// The host could not add the route of [`Decision::add_route`]:
    /// nothing to remove at the end.
    pub fn route_failed(&mut self, key: u32) {
        if let Ok(s) = self.session_mut(key) {
            s.route = None;
        }
    }

    /// The network layer is up with `address`: the accounting Start
    /// (RFC 2866 §5.1), once per session, when accounting is on and the
    /// AAA server authenticated the session.
    pub fn session_up(
        &mut self,
        now: Instant,
        key: u32,
        counters: &Counters,
        address: Option<Ipv4Addr>,
    ) -> Option<AccountingReport> {
        let config = self.config;
        let s = self.session_mut(key).ok()?;
        s.address = address;
        if !config.accounting || s.acct_started.is_some() || s.username.is_empty() {
            return None;
        }
        s.acct_started = Some(now);
        s.next_interim = config.interim.map(|i| now + i);
        Some(s.report(now, Phase::Start, counters, None))
    }

    /// When `key` next needs [`Sessions::handle_timeout`].
    pub fn deadline(&self, key: u32) -> Option<Instant> {
        self.get(key).and_then(Session::deadline)
    }

    /// The earliest deadline of all sessions. Scans every slot: for
    /// small tables; a large host indexes [`Sessions::deadline`] itself.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.iter().filter_map(Session::deadline).min()
    }

    /// The keys whose deadline has come (a scan, like `poll_timeout`).
    pub fn due(&self, now: Instant) -> impl Iterator<Item = u32> + '_ {
        self.iter()
            .filter(move |s| s.deadline().is_some_and(|d| d <= now))
            .map(Session::key)
    }

    /// `key`'s deadlines at `now`, with its current `counters`: an
    /// Interim-Update to send, or the session to close. Idle-Timeout
    /// counts IP packets both ways (RFC 2865 §5.28: "without any
    /// activity"); LCP echoes keep no session alive.
    pub fn handle_timeout(&mut self, now: Instant, key: u32, counters: &Counters) -> TimerActions {
        let mut actions = TimerActions::default();
        let interim = self.config.interim;
        let Ok(s) = self.session_mut(key) else {
            return actions;
        };
        if s.session_deadline.is_some_and(|d| d <= now) {
            s.session_deadline = None;
            s.cause_override = Some(TerminateCause::SessionTimeout);
            actions.close = Some(TerminateCause::SessionTimeout);
        }
        if s.idle_check.is_some_and(|d| d <= now) {
            let packets = counters.ip_in.saturating_add(counters.ip_out);
            match s.idle_timeout {
                Some(timeout) if packets != s.idle_ip_packets => {
                    s.idle_ip_packets = packets;
                    s.idle_check = Some(now + timeout);
                }
                Some(_) => {
                    s.idle_check = None;
                    if actions.close.is_none() {
                        s.cause_override = Some(TerminateCause::IdleTimeout);
                        actions.close = Some(TerminateCause::IdleTimeout);
                    }
                }
                None => s.idle_check = None,
            }
        }
        if s.next_interim.is_some_and(|d| d <= now) {
            s.next_interim = interim.map(|i| now + i);
            actions.interim = Some(s.report(now, Phase::Interim, counters, None));
        }
        actions
    }

    /// The session ended (`cause`, from how it ended; a timeout that
    /// fired takes precedence) with its final `counters`: the accounting
    /// Stop, the route to remove. The session leaves the table.
    pub fn session_down(
        &mut self,
        now: Instant,
        key: u32,
        cause: TerminateCause,
        counters: &Counters,
    ) -> Option<SessionDown> {
        let i = self.find(key)?;
        let s = self.remove_slot(i)?;
        let cause = match (s.cause_override, cause) {
            (Some(c), _) => c,
            (None, TerminateCause::AdminReset) if self.shutting_down => TerminateCause::AdminReboot,
            (None, c) => c,
        };
        let stop = s
            .acct_started
            .map(|_| s.report(now, Phase::Stop, counters, Some(cause)));
        Some(SessionDown {
            stop,
            remove_route: s.route,
            cancel_auth: s.auth_pending,
        })
    }

    // ---- the open-addressing table ----------------------------------------

    fn session_mut(&mut self, key: u32) -> Result<&mut Session, Error> {
        let i = self.find(key).ok_or(Error::UnknownSession { key })?;
        self.slots.as_mut()[i]
            .0
            .as_mut()
            .ok_or(Error::UnknownSession { key })
    }

    /// Where `key` would sit with no collisions (Fibonacci hashing, then
    /// Lemire's range reduction: no division, any slot count).
    fn home(key: u32, n: usize) -> usize {
        let h = key.wrapping_mul(0x9E37_79B9);
        ((u64::from(h) * n as u64) >> 32) as usize
    }

    fn find(&self, key: u32) -> Option<usize> {
        let slots = self.slots.as_ref();
        let n = slots.len();
        if n == 0 {
            return None;
        }
        let mut i = Self::home(key, n);
        for _ in 0..n {
            match &slots[i].0 {
                None => return None,
                Some(s) if s.key == key => return Some(i),
                Some(_) => i = (i + 1) % n,
            }
        }
        None
    }

    fn insert_slot(&mut self, key: u32) -> Result<usize, Error> {
        if let Some(i) = self.find(key) {
            return Ok(i);
        }
        let slots = self.slots.as_ref();
        let n = slots.len();
        if self.len >= n {
            return Err(Error::Full { capacity: n });
        }
        let mut i = Self::home(key, n);
        while slots[i].0.is_some() {
            i = (i + 1) % n;
        }
        self.len += 1;
        Ok(i)
    }

    /// Removes slot `i`, shifting later members of its probe run back so
    /// that lookups never stop early at the hole (Knuth's Algorithm R).
    fn remove_slot(&mut self, mut i: usize) -> Option<Session> {
        let slots = self.slots.as_mut();
        let n = slots.len();
        let removed = slots.get_mut(i)?.0.take()?;
        self.len -= 1;
        let mut j = i;
        loop {
            j = (j + 1) % n;
            let Some(home) = slots[j].0.as_ref().map(|s| Self::home(s.key, n)) else {
                break;
            };
            // Move j back to the hole at i unless its home lies
            // cyclically in (i, j].
            let stays = if i <= j {
                i < home && home <= j
            } else {
                i < home || home <= j
            };
            if !stays {
                slots[i].0 = slots[j].0.take();
                i = j;
            }
        }
        Some(removed)
    }
}
