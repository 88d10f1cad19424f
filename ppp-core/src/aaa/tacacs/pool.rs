//! The Sans-IO TACACS+ dispatcher a NAS drives: a fixed-capacity job
//! queue and connection table over [`TacacsClient`], with server failover
//! and the single-connection / connection-per-session policy (RFC 8907
//! §4.3).
//!
//! A job is one TACACS+ session (RFC 8907 §3) on behalf of one PPP
//! session, named by the host's `key`: an authentication START
//! ([`TacacsPool::start_auth`]), the authorization of `service=ppp
//! protocol=ip` that follows an accept when configured (§6, §8.2), or
//! one accounting record ([`TacacsPool::start_accounting`], §7). Jobs
//! carry everything they send, so accounting for a session that has
//! already ended (its STOP) still goes out.
//!
//! The pool never touches a socket. It asks the host to open a TCP
//! connection ([`Outcome::Connect`]) and to close one
//! ([`Outcome::Close`]); the host reports what the stream did:
//!
//! * [`handle_connected`](TacacsPool::handle_connected): the TCP
//!   connect finished;
//! * [`handle_input`](TacacsPool::handle_input): octets read (any
//!   split);
//! * [`handle_closed`](TacacsPool::handle_closed): the connect failed,
//!   the server closed, or a read or write failed; the host has dropped
//!   the socket.
//!
//! After each input, and on each loop turn, the host polls in this
//! order: [`poll_transmit`](TacacsPool::poll_transmit) until `None`
//! (write the bytes to the stream the [`Transmit`] names),
//! [`poll_event`](TacacsPool::poll_event) until `None`, then
//! [`poll_timeout`](TacacsPool::poll_timeout) for its next wake-up and
//! [`handle_timeout`](TacacsPool::handle_timeout) when it comes.
//!
//! ## Failover
//!
//! A job whose server does not answer in time (the connect included),
//! refuses the connection, closes it, or sends a reply the client
//! cannot use, moves on to the next server, trying each server once
//! ([`Outcome::Failover`]). A server that answered becomes the one new
//! jobs try first (sticky failover). When every server failed, a login
//! is refused with MS-CHAP error 691 (the PIX's "AAA authentication
//! failed") and an accounting record is reported lost.
//!
//! ## Bounds and overflow policy
//!
//! * `JOBS` bounds the jobs in the pool (waiting, in flight, and
//!   finished but not yet polled). A new job beyond it is refused with
//!   [`Error::QueueFull`]: the host rejects the login (691) or logs the
//!   accounting record as lost. A job that fails over, or an
//!   authentication that goes on to authorization, keeps its place, so
//!   admitted work is never dropped for lack of room.
//! * `CONNECTIONS` bounds the open TCP connections; a job that finds no
//!   free connection waits in the queue, in order, until one closes.
//! * `SESSIONS` bounds the sessions one connection multiplexes in
//!   single-connection mode; beyond it a new connection is opened.
//! * Every outcome belongs to a job or a connection slot, which stays
//!   taken until the outcome is polled: there is no event queue to
//!   overflow.
//!
//! ## Session ids
//!
//! RFC 8907 §4.1 wants each session id random; the pool has no random
//! source, so the host passes fresh ids with each job. A job that fails
//! over keeps its id (a new session on another connection); on the rare
//! clash with a session on the same shared connection the pool steps the
//! id with xorshift until it is free.

use core::fmt;

use super::client::{
    AccountingKind, AuthorizationOutcome, Event, SessionHandle, TacacsClient, TacacsConfig,
};
use super::Error;
use crate::aaa::bridge::{self, VerdictInfo};
use crate::aaa::session::AccountingReport;
use crate::auth::{AuthRequest, Method, Name, Verdict};
use crate::time::Instant;
use crate::transmit::Transmit;

/// Longest `rem_addr` (the PPTP client's address as text) a job keeps.
pub const MAX_REM_ADDR_LEN: usize = 64;

/// A slot in the pool's connection table: the host keeps one TCP stream
/// per id, from [`Outcome::Connect`] until [`Outcome::Close`] (or its own
/// [`TacacsPool::handle_closed`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct ConnectionId(pub usize);

/// The random session ids (RFC 8907 §4.1) for one login: one for the
/// authentication session, one for the authorization that may follow.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionIds {
    /// The authentication START's session id.
    pub authentication: u32,
    /// The authorization REQUEST's session id (unused without
    /// authorization).
    pub authorization: u32,
}

/// What a job is, for the host's log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum JobKind {
    /// Authentication START (RFC 8907 §5).
    Authentication,
    /// Authorization of `service=ppp protocol=ip` (RFC 8907 §6).
    Authorization,
    /// An accounting record (RFC 8907 §7).
    Accounting(AccountingKind),
}

/// Why a server did not serve a job.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Failure {
    /// No reply (or no TCP connection) within the server's timeout.
    Timeout,
    /// The TCP connection could not be opened.
    ConnectFailed,
    /// The connection closed before the reply.
    Closed,
    /// The session failed in the client (bad reply, broken framing).
    Error(Error),
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Timeout => f.write_str("no reply in time"),
            Failure::ConnectFailed => f.write_str("connection refused or unreachable"),
            Failure::Closed => f.write_str("connection closed by the server"),
            Failure::Error(e) => write!(f, "{e}"),
        }
    }
}

/// How an accounting record ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AccountingResult {
    /// REPLY with SUCCESS (RFC 8907 §7.2).
    Acknowledged,
    /// REPLY with ERROR or FOLLOW.
    Refused,
    /// Every server failed: the record is lost.
    Lost(Failure),
}

/// What the host must do or know, from [`TacacsPool::poll_event`].
#[must_use = "a Connect or Close the host does not perform stalls the pool"]
#[derive(Clone, Debug, PartialEq, Eq)]
// No allocator to box the large variant; outcomes are moved once.
#[allow(clippy::large_enum_variant)]
pub enum Outcome {
    /// Open a TCP connection to server `server` (an index into the
    /// configured servers) for `conn`; then report
    /// [`TacacsPool::handle_connected`] or [`TacacsPool::handle_closed`].
    Connect {
        /// The slot the stream belongs to.
        conn: ConnectionId,
        /// Which server.
        server: usize,
    },
    /// Close and forget `conn`'s stream (idle per-session connection,
    /// broken framing, or a timeout).
    Close {
        /// The slot.
        conn: ConnectionId,
    },
    /// A login is decided: hand `verdict` to the session `key`.
    Verdict {
        /// The host's session.
        key: u32,
        /// Accept (after authorization, if configured) or rejection.
        verdict: Verdict,
        /// Notes for the session table (TACACS+: always no MPPE keys).
        info: VerdictInfo,
        /// The authorization's outcome, when one ran.
        authorization: Option<AuthorizationOutcome>,
        /// Set when every server failed: the verdict is the 691 rejection.
        unanswered: Option<Failure>,
    },
    /// An accounting record ended.
    Accounting {
        /// The host's session.
        key: u32,
        /// START, WATCHDOG or STOP.
        kind: AccountingKind,
        /// Acknowledged, refused or lost.
        result: AccountingResult,
    },
    /// A server failed a job; it goes to the next server.
    Failover {
        /// The host's session.
        key: u32,
        /// What the job was.
        job: JobKind,
        /// The server that failed.
        from: usize,
        /// The server tried next.
        to: usize,
        /// Why.
        why: Failure,
    },
}

// No allocator to box the large variant; jobs are moved once.
#[allow(clippy::large_enum_variant)]
enum Work {
    Authentication {
        request: AuthRequest,
        authorization_id: u32,
    },
    Authorization {
        verdict: Verdict,
        info: VerdictInfo,
        username: Name,
        method: Method,
    },
    Accounting {
        report: AccountingReport,
    },
    /// Finished; waits for `poll_event`.
    Done(Outcome),
}

impl Work {
    fn kind(&self) -> Option<JobKind> {
        match self {
            Work::Authentication { .. } => Some(JobKind::Authentication),
            Work::Authorization { .. } => Some(JobKind::Authorization),
            Work::Accounting { report } => Some(JobKind::Accounting(report.tacacs().kind)),
            Work::Done(_) => None,
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Place {
    Queued,
    InFlight { conn: usize, session_id: u32 },
    Done,
}

struct Job {
    key: u32,
    work: Work,
    rem_addr: heapless::Vec<u8, MAX_REM_ADDR_LEN>,
    server: usize,
    /// Servers tried so far, this one included.
    tries: usize,
    session_id: u32,
    place: Place,
    /// A failover not yet reported. Only the latest is kept (a second
    /// failover before the host polled replaces it): outcomes live in
    /// the job table, never in a queue of their own.
    notice: Option<Outcome>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Stage {
    /// `Connect` not yet polled; the connect must finish by `deadline`.
    Announce {
        deadline: Instant,
    },
    /// Waiting for the TCP connect, until the deadline.
    Connecting {
        deadline: Instant,
    },
    Connected,
    /// `Close` not yet polled; the slot is freed when it is.
    Closing,
}

struct Connection<const SESSIONS: usize> {
    client: TacacsClient<SESSIONS>,
    server: usize,
    stage: Stage,
}

/// The job queue and connection table; see the [module docs](self).
///
/// Capacities: `SERVERS` servers, `CONNECTIONS` TCP connections,
/// `SESSIONS` sessions per connection, `JOBS` jobs.
pub struct TacacsPool<
    const SERVERS: usize,
    const CONNECTIONS: usize,
    const SESSIONS: usize,
    const JOBS: usize,
> {
    servers: heapless::Vec<TacacsConfig, SERVERS>,
    authorization: bool,
    connections: [Option<Connection<SESSIONS>>; CONNECTIONS],
    jobs: heapless::Vec<Job, JOBS>,
    /// The server that answered last: new jobs try it first.
    preferred: usize,
}

impl<const SERVERS: usize, const CONNECTIONS: usize, const SESSIONS: usize, const JOBS: usize>
    fmt::Debug for TacacsPool<SERVERS, CONNECTIONS, SESSIONS, JOBS>
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TacacsPool")
            .field("servers", &self.servers.len())
            .field("connections", &self.connections())
            .field("jobs", &self.jobs.len())
            .field("preferred", &self.preferred)
            .finish()
    }
}

/// The next candidate session id after a clash (xorshift32: never 0 from
/// a non-zero id).
fn step_id(id: u32) -> u32 {
    let mut x = if id == 0 { 0x9e37_79b9 } else { id };
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    x
}

impl<const SERVERS: usize, const CONNECTIONS: usize, const SESSIONS: usize, const JOBS: usize>
    TacacsPool<SERVERS, CONNECTIONS, SESSIONS, JOBS>
{
    /// A pool over `servers` (primary first; each one's key, timeout and
    /// single-connection wish). With `authorization`, every accepted login
    /// is authorized for `service=ppp protocol=ip` before its verdict
    /// (RFC 8907 §6).
    pub fn new(servers: &[TacacsConfig], authorization: bool) -> Result<Self, Error> {
        if servers.is_empty() {
            return Err(Error::NoServer);
        }
        let mut list = heapless::Vec::new();
        for s in servers {
            list.push(s.clone())
                .map_err(|_| Error::TooManyServers { max: SERVERS })?;
        }
        Ok(TacacsPool {
            servers: list,
            authorization,
            connections: core::array::from_fn(|_| None),
            jobs: heapless::Vec::new(),
            preferred: 0,
        })
    }

    /// Connection slots in use (open, opening or closing).
    pub fn connections(&self) -> usize {
        self.connections.iter().flatten().count()
    }

    /// Jobs in the pool (waiting, in flight, or with an outcome to poll).
    pub fn pending(&self) -> usize {
        self.jobs.len()
    }

    /// Nothing left to send, wait for or report.
    pub fn is_idle(&self) -> bool {
        self.jobs.is_empty()
    }

    fn admit(
        &mut self,
        now: Instant,
        key: u32,
        work: Work,
        rem_addr: &[u8],
        session_id: u32,
    ) -> Result<(), Error> {
        let rem_addr = heapless::Vec::from_slice(rem_addr).map_err(|_| Error::FieldTooLong {
            field: "rem_addr",
            length: rem_addr.len(),
        })?;
        self.jobs
            .push(Job {
                key,
                work,
                rem_addr,
                server: self.preferred,
                tries: 1,
                session_id,
                place: Place::Queued,
                notice: None,
            })
            .map_err(|_| Error::QueueFull)?;
        self.settle(now);
        Ok(())
    }

    /// Queues the authentication of a PPP login (RFC 8907 §5.4.2) for the
    /// host's session `key`; `rem_addr` is the PPTP client's address as
    /// text. Its [`Outcome::Verdict`] comes after the authorization too,
    /// when that is configured.
    pub fn start_auth(
        &mut self,
        now: Instant,
        key: u32,
        request: &AuthRequest,
        rem_addr: &[u8],
        ids: SessionIds,
    ) -> Result<(), Error> {
        let work = Work::Authentication {
            request: request.clone(),
            authorization_id: ids.authorization,
        };
        self.admit(now, key, work, rem_addr, ids.authentication)
    }

    /// Queues one accounting record (RFC 8907 §7); it is kept, and sent,
    /// after the session it describes has ended.
    pub fn start_accounting(
        &mut self,
        now: Instant,
        report: &AccountingReport,
        session_id: u32,
    ) -> Result<(), Error> {
        let work = Work::Accounting {
            report: report.clone(),
        };
        let rem_addr = report.calling_station.clone();
        self.admit(now, report.key, work, rem_addr.as_bytes(), session_id)
    }

    fn connection(&mut self, conn: ConnectionId) -> Option<&mut Connection<SESSIONS>> {
        self.connections.get_mut(conn.0)?.as_mut()
    }

    /// The TCP connect of `conn` finished: its requests may be written.
    pub fn handle_connected(&mut self, now: Instant, conn: ConnectionId) {
        if let Some(c) = self.connection(conn) {
            if matches!(c.stage, Stage::Connecting { .. } | Stage::Announce { .. }) {
                c.stage = Stage::Connected;
            }
        }
        self.settle(now);
    }

    /// Octets read from `conn`. Returns the client's first error (a
    /// garbage or unexpected reply, dropped); the sessions it concerned
    /// fail over, and a stream whose framing broke is closed.
    pub fn handle_input(
        &mut self,
        now: Instant,
        conn: ConnectionId,
        bytes: &[u8],
    ) -> Result<(), Error> {
        let result = match self.connection(conn) {
            Some(c) if c.stage != Stage::Closing => {
                // Octets prove the connect finished.
                c.stage = Stage::Connected;
                c.client.handle_input(now, bytes)
            }
            _ => Ok(()),
        };
        self.settle(now);
        result
    }

    /// The host closed `conn` (connect failed, end of stream, or an I/O
    /// error) and dropped its socket; the slot is free at once, and its
    /// sessions fail over.
    pub fn handle_closed(&mut self, now: Instant, conn: ConnectionId) {
        let Some(slot) = self.connections.get_mut(conn.0) else {
            return;
        };
        let Some(c) = slot.take() else {
            return;
        };
        let why = match c.stage {
            Stage::Announce { .. } | Stage::Connecting { .. } => Failure::ConnectFailed,
            Stage::Connected | Stage::Closing => Failure::Closed,
        };
        self.fail_connection(conn.0, why);
        self.settle(now);
    }

    /// When [`handle_timeout`](Self::handle_timeout) is due: the earliest
    /// connect deadline or reply deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.connections
            .iter()
            .flatten()
            .filter_map(|c| match c.stage {
                Stage::Announce { deadline } | Stage::Connecting { deadline } => Some(deadline),
                Stage::Connected => c.client.poll_timeout(),
                Stage::Closing => None,
            })
            .min()
    }

    /// Fails what is late: connects past the server's timeout (the
    /// connection is closed) and sessions without a reply.
    pub fn handle_timeout(&mut self, now: Instant) {
        for i in 0..CONNECTIONS {
            let late = match self.connections.get_mut(i).and_then(Option::as_mut) {
                Some(c) => match c.stage {
                    Stage::Announce { deadline } | Stage::Connecting { deadline } => {
                        deadline <= now
                    }
                    Stage::Connected => {
                        c.client.handle_timeout(now);
                        false
                    }
                    Stage::Closing => false,
                },
                None => false,
            };
            if late {
                self.fail_connection(i, Failure::Timeout);
                self.close(i);
            }
        }
        self.settle(now);
    }

    /// The next request to write: `to` names the connection.
    pub fn poll_transmit(
        &mut self,
        now: Instant,
        buf: &mut [u8],
    ) -> Option<Transmit<ConnectionId>> {
        let mut found = None;
        for (i, slot) in self.connections.iter_mut().enumerate() {
            let Some(c) = slot else { continue };
            if c.stage != Stage::Connected {
                continue;
            }
            if let Some(t) = c.client.poll_transmit(now, buf) {
                found = Some(Transmit {
                    len: t.len,
                    to: ConnectionId(i),
                });
                break;
            }
        }
        if found.is_none() {
            // A buffer too small fails a session inside the client.
            self.settle(now);
        }
        found
    }

    /// The next outcome: connections to open or close first, then
    /// failovers, verdicts and accounting results in queue order.
    pub fn poll_event(&mut self) -> Option<Outcome> {
        for (i, slot) in self.connections.iter_mut().enumerate() {
            let Some(c) = slot else { continue };
            match c.stage {
                Stage::Closing => {
                    *slot = None;
                    return Some(Outcome::Close {
                        conn: ConnectionId(i),
                    });
                }
                Stage::Announce { deadline } => {
                    c.stage = Stage::Connecting { deadline };
                    return Some(Outcome::Connect {
                        conn: ConnectionId(i),
                        server: c.server,
                    });
                }
                Stage::Connecting { .. } | Stage::Connected => {}
            }
        }
        let index = self
            .jobs
            .iter()
            .position(|j| j.notice.is_some() || j.place == Place::Done)?;
        let job = self.jobs.get_mut(index)?;
        if let Some(notice) = job.notice.take() {
            return Some(notice);
        }
        match self.jobs.remove(index).work {
            Work::Done(outcome) => Some(outcome),
            _ => None,
        }
    }

    // ---- internals -----------------------------------------------------

    fn close(&mut self, index: usize) {
        if let Some(c) = self.connections.get_mut(index).and_then(Option::as_mut) {
            c.stage = Stage::Closing;
        }
    }

    /// Fails every job in flight on connection `index`.
    fn fail_connection(&mut self, index: usize, why: Failure) {
        for j in 0..self.jobs.len() {
            if matches!(self.jobs.get(j).map(|x| x.place), Some(Place::InFlight { conn, .. }) if conn == index)
            {
                self.fail_job(j, why);
            }
        }
    }

    /// Job `index` failed on its server: the next server, each once, then
    /// the give-up outcome.
    fn fail_job(&mut self, index: usize, why: Failure) {
        let servers = self.servers.len();
        let Some(job) = self.jobs.get_mut(index) else {
            return;
        };
        let Some(kind) = job.work.kind() else {
            return;
        };
        if job.tries < servers {
            let from = job.server;
            job.server = (job.server + 1) % servers;
            job.tries += 1;
            job.place = Place::Queued;
            job.notice = Some(Outcome::Failover {
                key: job.key,
                job: kind,
                from,
                to: job.server,
                why,
            });
            // The next job tries the server that is still believed up.
            self.preferred = job.server;
            return;
        }
        let outcome = match core::mem::replace(
            &mut job.work,
            Work::Done(Outcome::Close {
                conn: ConnectionId(0),
            }),
        ) {
            Work::Authentication { .. } | Work::Authorization { .. } => Outcome::Verdict {
                key: job.key,
                verdict: bridge::rejection(crate::wire::auth::ERROR_AUTHENTICATION_FAILURE),
                info: VerdictInfo::default(),
                authorization: None,
                unanswered: Some(why),
            },
            Work::Accounting { report } => Outcome::Accounting {
                key: job.key,
                kind: report.tacacs().kind,
                result: AccountingResult::Lost(why),
            },
            Work::Done(o) => o,
        };
        job.work = Work::Done(outcome);
        job.place = Place::Done;
    }

    /// A reply for job `index`.
    fn finish(&mut self, index: usize, server: usize, event: Event) {
        let authorize = self.authorization;
        let Some(job) = self.jobs.get_mut(index) else {
            return;
        };
        let key = job.key;
        let work = core::mem::replace(
            &mut job.work,
            Work::Done(Outcome::Close {
                conn: ConnectionId(0),
            }),
        );
        let (work, place) = match (work, event) {
            (
                Work::Authentication {
                    request,
                    authorization_id,
                },
                Event::Verdict { verdict, info, .. },
            ) => {
                if authorize && matches!(verdict, Verdict::Accept(_)) {
                    // RFC 8907 §6: ask what the user may use (service=ppp
                    // protocol=ip) before letting the link up; a new
                    // session with its own id, on the same server.
                    job.session_id = authorization_id;
                    job.tries = 1;
                    (
                        Work::Authorization {
                            verdict,
                            info,
                            username: request.username.clone(),
                            method: request.method,
                        },
                        Place::Queued,
                    )
                } else {
                    (
                        Work::Done(Outcome::Verdict {
                            key,
                            verdict,
                            info,
                            authorization: None,
                            unanswered: None,
                        }),
                        Place::Done,
                    )
                }
            }
            (Work::Authorization { verdict, info, .. }, Event::Authorization { outcome, .. }) => (
                Work::Done(Outcome::Verdict {
                    key,
                    verdict: outcome.apply(verdict),
                    info,
                    authorization: Some(outcome),
                    unanswered: None,
                }),
                Place::Done,
            ),
            (
                Work::Accounting { report },
                event @ (Event::AccountingAcknowledged { .. } | Event::AccountingRefused { .. }),
            ) => (
                Work::Done(Outcome::Accounting {
                    key,
                    kind: report.tacacs().kind,
                    result: if matches!(event, Event::AccountingAcknowledged { .. }) {
                        AccountingResult::Acknowledged
                    } else {
                        AccountingResult::Refused
                    },
                }),
                Place::Done,
            ),
            (work, event) => {
                // Timeout, Failed, or a reply of another kind (the client
                // checks the packet type, so the last cannot happen):
                // the server failed this job.
                job.work = work;
                let why = match event {
                    Event::Timeout { .. } => Failure::Timeout,
                    Event::Failed { error, .. } => Failure::Error(error),
                    _ => Failure::Error(Error::UnexpectedType { packet_type: 0 }),
                };
                self.fail_job(index, why);
                return;
            }
        };
        job.work = work;
        job.place = place;
        self.preferred = server;
    }

    /// Routes the clients' events to their jobs, closes broken and idle
    /// connections, and starts waiting jobs.
    fn settle(&mut self, now: Instant) {
        for i in 0..CONNECTIONS {
            while let Some((server, event)) = self.next_client_event(i) {
                let id = match &event {
                    Event::Verdict { handle, .. }
                    | Event::Authorization { handle, .. }
                    | Event::AccountingAcknowledged { handle }
                    | Event::AccountingRefused { handle }
                    | Event::Timeout { handle }
                    | Event::Failed { handle, .. } => handle.0,
                };
                let target = Place::InFlight {
                    conn: i,
                    session_id: id,
                };
                // An event for a job already failed over (its connection
                // closed meanwhile) has no target: dropped.
                if let Some(j) = self.jobs.iter().position(|j| j.place == target) {
                    self.finish(j, server, event);
                }
            }
            let single = self.single_connection(i);
            let Some(c) = self.connections.get_mut(i).and_then(Option::as_mut) else {
                continue;
            };
            if c.client.is_broken() {
                self.fail_connection(i, Failure::Error(Error::ConnectionBroken));
                self.close(i);
                continue;
            }
            // RFC 8907 §4.3: without single-connection (asked for and
            // echoed) a connection carries one session and is closed
            // after it.
            let busy = self
                .jobs
                .iter()
                .any(|j| matches!(j.place, Place::InFlight { conn, .. } if conn == i));
            if !busy && !single && c.stage != Stage::Closing {
                self.close(i);
            }
        }
        self.dispatch(now);
    }

    /// Connection `index`'s next client event, with its server.
    fn next_client_event(&mut self, index: usize) -> Option<(usize, Event)> {
        let c = self.connections.get_mut(index)?.as_mut()?;
        Some((c.server, c.client.poll_event()?))
    }

    /// Whether connection `index` stays open between sessions.
    fn single_connection(&self, index: usize) -> bool {
        match self.connections.get(index).and_then(Option::as_ref) {
            Some(c) => {
                self.servers
                    .get(c.server)
                    .is_some_and(|s| s.single_connection)
                    && c.client.single_connection() != Some(false)
            }
            None => false,
        }
    }

    /// A connection for a new session on `server`: the shared one in
    /// single-connection mode (while the server agrees and it has room),
    /// else a free slot. `None`: the table is full; the job waits.
    fn pick_connection(&mut self, server: usize, now: Instant) -> Option<usize> {
        let shared = self.servers.get(server)?.single_connection;
        if shared {
            for i in 0..CONNECTIONS {
                let fits = match self.connections.get(i).and_then(Option::as_ref) {
                    Some(c) => {
                        c.server == server
                            && c.stage != Stage::Closing
                            && !c.client.is_broken()
                            && c.client.single_connection() != Some(false)
                            && c.client.pending() < SESSIONS
                    }
                    None => false,
                };
                if fits {
                    return Some(i);
                }
            }
        }
        let config = self.servers.get(server)?.clone();
        let free = self.connections.iter().position(Option::is_none)?;
        // The connect counts against the reply timeout, as a server that
        // never completes the handshake is as dead as one that never
        // replies.
        let deadline = now + config.timeout;
        *self.connections.get_mut(free)? = Some(Connection {
            client: TacacsClient::new(config),
            server,
            stage: Stage::Announce { deadline },
        });
        Some(free)
    }

    /// Starts waiting jobs in queue order.
    fn dispatch(&mut self, now: Instant) {
        for index in 0..self.jobs.len() {
            let Some(job) = self.jobs.get(index) else {
                break;
            };
            if job.place != Place::Queued {
                continue;
            }
            let server = job.server;
            let Some(conn) = self.pick_connection(server, now) else {
                // Table full: the job keeps its place until a
                // connection closes.
                continue;
            };
            if let Err(e) = self.start_on(now, index, conn) {
                // Its retry waits for the next settle, so that one call
                // cannot spin through the servers.
                self.fail_job(index, Failure::Error(e));
                // A connection opened for it and never announced is
                // simply forgotten.
                let unused = !self
                    .jobs
                    .iter()
                    .any(|j| matches!(j.place, Place::InFlight { conn: c, .. } if c == conn));
                if let Some(slot) = self.connections.get_mut(conn) {
                    if unused
                        && matches!(slot, Some(c) if matches!(c.stage, Stage::Announce { .. }))
                    {
                        *slot = None;
                    }
                }
            }
        }
    }

    fn start_on(&mut self, now: Instant, index: usize, conn: usize) -> Result<(), Error> {
        let Some(job) = self.jobs.get_mut(index) else {
            return Ok(());
        };
        let Some(c) = self.connections.get_mut(conn).and_then(Option::as_mut) else {
            return Err(Error::ConnectionBroken);
        };
        // At most SESSIONS + 1 steps: the client holds SESSIONS ids.
        let mut id = job.session_id;
        for _ in 0..=SESSIONS {
            let started = match &job.work {
                Work::Authentication { request, .. } => {
                    c.client.start_auth(now, request, &job.rem_addr, id)
                }
                Work::Authorization {
                    username, method, ..
                } => c
                    .client
                    .start_authorization(now, username, *method, &job.rem_addr, id),
                Work::Accounting { report } => c.client.start_accounting(now, &report.tacacs(), id),
                Work::Done(_) => return Ok(()),
            };
            match started {
                Ok(SessionHandle(id)) => {
                    job.session_id = id;
                    job.place = Place::InFlight {
                        conn,
                        session_id: id,
                    };
                    return Ok(());
                }
                // A clash on a shared connection: step to another id.
                Err(Error::SessionIdInUse) => id = step_id(id),
                Err(e) => return Err(e),
            }
        }
        Err(Error::SessionIdInUse)
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::super::wire::{
        self, acct, authen_status, author_status, AcctReply, Args, AuthenReply, AuthorResponse,
        Header, HEADER_LEN,
    };
    use super::*;
    use crate::aaa::bridge::MppePolicy;
    use crate::aaa::session::Phase;
    use crate::auth::{AuthResponse, Password};
    use crate::time::Duration;

    const KEY: &[u8] = b"tac-key";
    const TIMEOUT: Duration = Duration::from_secs(5);
    type Pool = TacacsPool<2, 2, 3, 4>;

    fn config(single: bool) -> TacacsConfig {
        let mut c = TacacsConfig::new(KEY, MppePolicy::Auto).unwrap();
        c.single_connection = single;
        c.timeout = TIMEOUT;
        c
    }

    fn pool(single: bool, authorization: bool) -> Pool {
        Pool::new(&[config(single), config(single)], authorization).unwrap()
    }

    fn at(ms: u64) -> Instant {
        Instant::from_millis(ms)
    }

    fn pap() -> AuthRequest {
        AuthRequest {
            method: Method::Pap,
            username: heapless::Vec::from_slice(b"labuser").unwrap(),
            identifier: 1,
            response: AuthResponse::Pap {
                password: Password::new(b"labpass").unwrap(),
            },
        }
    }

    fn ids(n: u32) -> SessionIds {
        SessionIds {
            authentication: n,
            authorization: n + 1000,
        }
    }

    fn stop_report(key: u32) -> AccountingReport {
        AccountingReport {
            key,
            phase: Phase::Stop,
            session_id: heapless::String::try_from("0000002a").unwrap(),
            username: heapless::Vec::from_slice(b"labuser").unwrap(),
            nas_port: 7,
            calling_station: heapless::String::try_from("10.0.0.1").unwrap(),
            session_time: Duration::from_secs(60),
            octets_in: 1000,
            octets_out: 2000,
            frames_in: 10,
            frames_out: 20,
            address: None,
            class: heapless::Vec::new(),
            cause: None,
        }
    }

    fn events(p: &mut Pool) -> Vec<Outcome> {
        core::iter::from_fn(|| p.poll_event()).collect()
    }

    /// Every request written, with its connection and clear header.
    fn sent(p: &mut Pool, now: Instant) -> Vec<(ConnectionId, Header, Vec<u8>)> {
        let mut out = Vec::new();
        let mut buf = [0u8; 2048];
        while let Some(t) = p.poll_transmit(now, &mut buf) {
            let h = Header::parse(&buf[..t.len]).unwrap();
            let mut body = buf[HEADER_LEN..t.len].to_vec();
            wire::obfuscate(&h, KEY, &mut body);
            out.push((t.to, h, body));
        }
        out
    }

    fn reply(
        request: &Header,
        flags: u8,
        body: impl FnOnce(&mut [u8]) -> Result<usize, Error>,
    ) -> Vec<u8> {
        let mut out = [0u8; 2048];
        let h = Header {
            seq_no: request.seq_no + 1,
            flags,
            ..*request
        };
        let n = wire::emit_packet(&mut out, h, KEY, body).unwrap();
        out[..n].to_vec()
    }

    fn authen(status: u8) -> impl FnOnce(&mut [u8]) -> Result<usize, Error> {
        move |b| {
            AuthenReply {
                status,
                flags: 0,
                server_msg: b"",
                data: b"",
            }
            .emit(b)
        }
    }

    fn connects(outcomes: &[Outcome]) -> Vec<(ConnectionId, usize)> {
        outcomes
            .iter()
            .filter_map(|o| match o {
                Outcome::Connect { conn, server } => Some((*conn, *server)),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn per_session_connections_open_send_decide_and_close() {
        let mut p = pool(false, false);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(11))
            .unwrap();
        p.start_auth(at(0), 2, &pap(), b"10.0.0.2", ids(22))
            .unwrap();
        let ev = events(&mut p);
        assert_eq!(
            connects(&ev),
            [(ConnectionId(0), 0), (ConnectionId(1), 0)],
            "one connection per session, to the first server"
        );
        // Nothing is written before the TCP connect finished.
        assert!(sent(&mut p, at(0)).is_empty());
        p.handle_connected(at(1), ConnectionId(0));
        p.handle_connected(at(1), ConnectionId(1));
        let tx = sent(&mut p, at(1));
        assert_eq!(tx.len(), 2);
        assert_eq!((tx[0].0, tx[0].1.session_id), (ConnectionId(0), 11));
        assert_eq!((tx[1].0, tx[1].1.session_id), (ConnectionId(1), 22));
        p.handle_input(
            at(2),
            ConnectionId(1),
            &reply(&tx[1].1, 0, authen(authen_status::FAIL)),
        )
        .unwrap();
        let ev = events(&mut p);
        assert_eq!(ev.len(), 2, "{ev:?}");
        assert_eq!(
            ev[0],
            Outcome::Close {
                conn: ConnectionId(1)
            }
        );
        assert!(matches!(
            &ev[1],
            Outcome::Verdict {
                key: 2,
                verdict: Verdict::Reject(_),
                unanswered: None,
                ..
            }
        ));
        p.handle_input(
            at(2),
            ConnectionId(0),
            &reply(&tx[0].1, 0, authen(authen_status::PASS)),
        )
        .unwrap();
        let ev = events(&mut p);
        assert!(matches!(
            &ev[1],
            Outcome::Verdict {
                key: 1,
                verdict: Verdict::Accept(_),
                authorization: None,
                ..
            }
        ));
        assert!(p.is_idle());
        assert_eq!(p.connections(), 0);
    }

    #[test]
    fn accept_goes_on_to_authorization_with_its_own_session_id() {
        let mut p = pool(false, true);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(11))
            .unwrap();
        let _ = events(&mut p);
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        p.handle_input(
            at(1),
            ConnectionId(0),
            &reply(&tx[0].1, 0, authen(authen_status::PASS)),
        )
        .unwrap();
        let ev = events(&mut p);
        assert!(
            !ev.iter().any(|o| matches!(o, Outcome::Verdict { .. })),
            "{ev:?}"
        );
        let (conn, server) = connects(&ev)[0];
        assert_eq!(server, 0);
        p.handle_connected(at(1), conn);
        let tx = sent(&mut p, at(1));
        assert_eq!(tx[0].1.packet_type, 2, "an authorization REQUEST");
        assert_eq!(tx[0].1.session_id, 1011);
        let mut args = Args::new();
        args.push(b"addr=192.0.2.10").unwrap();
        let body = move |b: &mut [u8]| {
            AuthorResponse {
                status: author_status::PASS_ADD,
                server_msg: b"",
                data: b"",
                args,
            }
            .emit(b)
        };
        p.handle_input(at(2), conn, &reply(&tx[0].1, 0, body))
            .unwrap();
        let ev = events(&mut p);
        match ev.last() {
            Some(Outcome::Verdict {
                key: 1,
                verdict: Verdict::Accept(a),
                authorization: Some(o),
                ..
            }) => {
                assert_eq!(a.attributes.address, Some([192, 0, 2, 10].into()));
                assert_eq!(o.attributes.address, a.attributes.address);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn refused_connect_fails_over_to_the_next_server_then_gives_up() {
        let mut p = pool(false, false);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(11))
            .unwrap();
        let ev = events(&mut p);
        p.handle_closed(at(1), connects(&ev)[0].0);
        let ev = events(&mut p);
        assert!(ev.contains(&Outcome::Failover {
            key: 1,
            job: JobKind::Authentication,
            from: 0,
            to: 1,
            why: Failure::ConnectFailed
        }));
        assert_eq!(connects(&ev)[0].1, 1);
        p.handle_closed(at(2), connects(&ev)[0].0);
        let ev = events(&mut p);
        assert!(
            matches!(
                &ev[..],
                [Outcome::Verdict {
                    key: 1,
                    verdict: Verdict::Reject(_),
                    unanswered: Some(Failure::ConnectFailed),
                    ..
                }]
            ),
            "{ev:?}"
        );
        // The next login starts at the server that failed over last.
        p.start_auth(at(3), 2, &pap(), b"10.0.0.1", ids(12))
            .unwrap();
        assert_eq!(connects(&events(&mut p))[0].1, 1);
    }

    #[test]
    fn silent_server_and_hanging_connect_time_out_and_fail_over() {
        let mut p = pool(false, false);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(11))
            .unwrap();
        let _ = events(&mut p);
        p.handle_connected(at(0), ConnectionId(0));
        assert_eq!(sent(&mut p, at(100)).len(), 1);
        assert_eq!(p.poll_timeout(), Some(at(100) + TIMEOUT));
        p.handle_timeout(at(100) + TIMEOUT);
        let ev = events(&mut p);
        assert!(ev.contains(&Outcome::Close {
            conn: ConnectionId(0)
        }));
        assert!(ev.contains(&Outcome::Failover {
            key: 1,
            job: JobKind::Authentication,
            from: 0,
            to: 1,
            why: Failure::Timeout
        }));
        // Server 2 never completes the TCP handshake.
        let (conn, server) = connects(&ev)[0];
        assert_eq!(server, 1);
        let t = at(100) + TIMEOUT;
        assert_eq!(p.poll_timeout(), Some(t + TIMEOUT));
        p.handle_timeout(t + TIMEOUT);
        let ev = events(&mut p);
        assert!(ev.contains(&Outcome::Close { conn }));
        assert!(ev.iter().any(|o| matches!(
            o,
            Outcome::Verdict {
                key: 1,
                unanswered: Some(Failure::Timeout),
                ..
            }
        )));
        assert!(p.is_idle());
    }

    #[test]
    fn single_connection_multiplexes_and_stays_open() {
        let mut p = pool(true, false);
        for key in 1..=3 {
            p.start_auth(at(0), key, &pap(), b"10.0.0.1", ids(key))
                .unwrap();
        }
        let ev = events(&mut p);
        assert_eq!(
            connects(&ev),
            [(ConnectionId(0), 0)],
            "one shared connection"
        );
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        assert_eq!(tx.len(), 3);
        assert!(tx
            .iter()
            .all(|(c, h, _)| *c == ConnectionId(0) && h.flags & wire::FLAG_SINGLE_CONNECT != 0));
        // The fourth session exceeds SESSIONS: a second connection.
        p.start_auth(at(0), 4, &pap(), b"10.0.0.1", ids(4)).unwrap();
        assert_eq!(connects(&events(&mut p)), [(ConnectionId(1), 0)]);
        // All three replies in one read; the server echoes the flag.
        let mut bytes = Vec::new();
        for (_, h, _) in &tx {
            bytes.extend(reply(
                h,
                wire::FLAG_SINGLE_CONNECT,
                authen(authen_status::PASS),
            ));
        }
        p.handle_input(at(1), ConnectionId(0), &bytes).unwrap();
        let ev = events(&mut p);
        assert_eq!(ev.len(), 3, "three verdicts and no Close: {ev:?}");
        // A new login reuses the open connection without a Connect.
        p.start_auth(at(2), 5, &pap(), b"10.0.0.1", ids(5)).unwrap();
        assert!(connects(&events(&mut p)).is_empty());
        assert_eq!(sent(&mut p, at(2))[0].0, ConnectionId(0));
    }

    #[test]
    fn single_connection_refused_by_the_server_closes_when_idle() {
        let mut p = pool(true, false);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(1)).unwrap();
        let _ = events(&mut p);
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        p.handle_input(
            at(1),
            ConnectionId(0),
            &reply(&tx[0].1, 0, authen(authen_status::PASS)),
        )
        .unwrap();
        assert_eq!(
            events(&mut p)[0],
            Outcome::Close {
                conn: ConnectionId(0)
            }
        );
    }

    #[test]
    fn accounting_stop_outlives_its_session_and_is_acknowledged() {
        let mut p = pool(false, false);
        // The session table has already forgotten key 9: the job holds
        // everything it sends.
        p.start_accounting(at(0), &stop_report(9), 77).unwrap();
        let _ = events(&mut p);
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        let (_, h, body) = &tx[0];
        assert_eq!((h.packet_type, h.session_id), (3, 77));
        assert_eq!(body[0], acct::FLAG_STOP);
        let text = std::string::String::from_utf8_lossy(body).into_owned();
        assert!(
            text.contains("task_id=0000002a") && text.contains("bytes_in=1000"),
            "{text}"
        );
        let ack = |b: &mut [u8]| {
            AcctReply {
                server_msg: b"",
                data: b"",
                status: acct::STATUS_SUCCESS,
            }
            .emit(b)
        };
        p.handle_input(at(1), ConnectionId(0), &reply(h, 0, ack))
            .unwrap();
        assert!(events(&mut p).contains(&Outcome::Accounting {
            key: 9,
            kind: AccountingKind::Stop,
            result: AccountingResult::Acknowledged
        }));
    }

    #[test]
    fn full_tables_make_jobs_wait_and_a_full_queue_refuses() {
        let mut p = pool(false, false);
        for key in 1..=4 {
            p.start_auth(at(0), key, &pap(), b"10.0.0.1", ids(key))
                .unwrap();
        }
        assert_eq!(
            p.start_accounting(at(0), &stop_report(5), 5),
            Err(Error::QueueFull),
            "JOBS = 4: the fifth job is refused, the four keep their places"
        );
        let ev = events(&mut p);
        assert_eq!(connects(&ev).len(), 2, "CONNECTIONS = 2: jobs 3 and 4 wait");
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        p.handle_input(
            at(1),
            ConnectionId(0),
            &reply(&tx[0].1, 0, authen(authen_status::PASS)),
        )
        .unwrap();
        let ev = events(&mut p);
        // The slot is reused only after its Close was polled.
        let close = ev.iter().position(|o| {
            *o == Outcome::Close {
                conn: ConnectionId(0),
            }
        });
        let connect = ev.iter().position(|o| matches!(o, Outcome::Connect { .. }));
        assert!(close.is_some() && connect.is_none(), "{ev:?}");
        p.handle_timeout(at(1));
        let ev = events(&mut p);
        assert_eq!(connects(&ev), [(ConnectionId(0), 0)], "job 3 gets the slot");
        p.handle_connected(at(1), ConnectionId(0));
        assert_eq!(sent(&mut p, at(1))[0].1.session_id, 3);
        assert_eq!(p.pending(), 3);
    }

    #[test]
    fn garbage_replies_are_dropped_and_broken_framing_fails_over() {
        let mut p = pool(true, false);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(1)).unwrap();
        let _ = events(&mut p);
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        // Bad version, framing intact: dropped, the session waits on.
        let mut bad = reply(&tx[0].1, 0, authen(authen_status::PASS));
        bad[0] = 0x21;
        assert_eq!(
            p.handle_input(at(1), ConnectionId(0), &bad),
            Err(Error::BadVersion { version: 0x21 })
        );
        assert!(events(&mut p).is_empty());
        // A stray session id: dropped.
        let stray = Header {
            session_id: 0x5555,
            ..tx[0].1
        };
        assert!(p
            .handle_input(at(1), ConnectionId(0), &reply(&stray, 0, authen(1)))
            .is_err());
        assert!(events(&mut p).is_empty());
        // A header claiming a huge body: the stream is closed and the
        // login fails over.
        let mut huge = [0u8; HEADER_LEN];
        huge[0] = 0xc1;
        huge[1] = 1;
        huge[8..12].copy_from_slice(&u32::MAX.to_be_bytes());
        assert!(p.handle_input(at(1), ConnectionId(0), &huge).is_err());
        let ev = events(&mut p);
        assert!(
            ev.contains(&Outcome::Close {
                conn: ConnectionId(0)
            }),
            "{ev:?}"
        );
        assert!(ev.iter().any(|o| matches!(
            o,
            Outcome::Failover {
                key: 1,
                to: 1,
                why: Failure::Error(Error::ConnectionBroken),
                ..
            }
        )));
        // Input for a closed slot is ignored.
        assert_eq!(p.handle_input(at(2), ConnectionId(0), &huge), Ok(()));
        assert_eq!(p.handle_input(at(2), ConnectionId(99), b"x"), Ok(()));
    }

    #[test]
    fn construction_is_bounded() {
        assert_eq!(Pool::new(&[], false).unwrap_err(), Error::NoServer);
        let three = [config(false), config(false), config(false)];
        assert_eq!(
            Pool::new(&three, false).unwrap_err(),
            Error::TooManyServers { max: 2 }
        );
        assert!(step_id(0) != 0 && step_id(1) != 1);
    }

    #[test]
    fn clashing_session_ids_on_a_shared_connection_are_stepped() {
        let mut p = pool(true, false);
        p.start_auth(at(0), 1, &pap(), b"10.0.0.1", ids(7)).unwrap();
        p.start_auth(at(0), 2, &pap(), b"10.0.0.1", ids(7)).unwrap();
        let _ = events(&mut p);
        p.handle_connected(at(0), ConnectionId(0));
        let tx = sent(&mut p, at(0));
        assert_eq!(tx.len(), 2);
        assert_eq!(tx[0].1.session_id, 7);
        assert_eq!(tx[1].1.session_id, step_id(7));
    }
}
