//! One accounting record as the table produces it, owned (a TACACS+ host
//! may hold it until a connection is free), and its RADIUS (RFC 2866) and
//! TACACS+ (RFC 8907 §8) forms.

use core::fmt::{self, Write};
use core::net::Ipv4Addr;

use super::{Session, TerminateCause};
use crate::aaa::bridge::MAX_CLASS_LEN;
use crate::auth::Name;
use crate::link::Counters;
use crate::time::Duration;

/// Longest Acct-Session-Id the table makes: 8 hex digits of randomness
/// and up to 8 of the NAS-Port.
pub const SESSION_ID_LEN: usize = 16;
/// Longest Calling-Station-Id: a dotted IPv4 address.
pub const STATION_LEN: usize = 15;

/// Which record of a session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Phase {
    /// RADIUS Start, TACACS+ START.
    Start,
    /// RADIUS Interim-Update, TACACS+ WATCHDOG.
    Interim,
    /// RADIUS Stop, TACACS+ STOP.
    Stop,
}

impl fmt::Display for Phase {
    /// RADIUS's names for the record (RFC 2866 §5.1 Acct-Status-Type).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Phase::Start => "Start",
            Phase::Interim => "Interim-Update",
            Phase::Stop => "Stop",
        })
    }
}

/// One accounting record. "In" is what the NAS received from the user
/// (RFC 2866 §5.3), "out" what it sent to the user.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccountingReport {
    /// The session's key in the table.
    pub key: u32,
    /// Start, Interim or Stop.
    pub phase: Phase,
    /// Acct-Session-Id / TACACS+ `task_id`.
    pub session_id: heapless::String<SESSION_ID_LEN>,
    /// The user.
    pub username: Name,
    /// NAS-Port.
    pub nas_port: u32,
    /// Calling-Station-Id / `rem_addr`: the peer's address as text.
    pub calling_station: heapless::String<STATION_LEN>,
    /// Time since the Start (zero in the Start).
    pub session_time: Duration,
    /// Octets from the user.
    pub octets_in: u64,
    /// Octets to the user.
    pub octets_out: u64,
    /// Frames from the user.
    pub frames_in: u64,
    /// Frames to the user.
    pub frames_out: u64,
    /// The address the user has (Framed-IP-Address / `addr`).
    pub address: Option<Ipv4Addr>,
    /// The Accept's Class, echoed (RFC 2865 §5.25); empty if none.
    pub class: heapless::Vec<u8, MAX_CLASS_LEN>,
    /// Acct-Terminate-Cause (Stop only).
    pub cause: Option<TerminateCause>,
}

impl AccountingReport {
    pub(super) fn new(
        session: &Session,
        phase: Phase,
        session_time: Duration,
        counters: &Counters,
        cause: Option<TerminateCause>,
    ) -> Self {
        let mut calling_station = heapless::String::new();
        // A dotted quad is at most STATION_LEN characters.
        let _ = write!(calling_station, "{}", session.calling_station);
        AccountingReport {
            key: session.key,
            phase,
            session_id: session.acct_session_id.clone(),
            username: session.username.clone(),
            nas_port: session.nas_port,
            calling_station,
            session_time,
            octets_in: counters.octets_in,
            octets_out: counters.octets_out,
            frames_in: counters.frames_in,
            frames_out: counters.frames_out,
            address: session.address,
            class: session.class.clone(),
            cause,
        }
    }

    /// Session time in whole seconds, as both protocols carry it
    /// (saturating at `u32::MAX`, 136 years).
    pub fn session_secs(&self) -> u32 {
        u32::try_from(self.session_time.as_secs()).unwrap_or(u32::MAX)
    }

    /// The RADIUS Accounting-Request contents (RFC 2866; octets beyond
    /// 32 bits go in the Gigawords of RFC 2869 §5.1-2, which the client
    /// writes; packet counts saturate at the attribute's 32 bits).
    #[cfg(feature = "radius")]
    pub fn radius(&self) -> crate::aaa::radius::AccountingRecord<'_> {
        use crate::aaa::radius::{AccountingRecord, AccountingStatus};
        let status = match self.phase {
            Phase::Start => AccountingStatus::Start,
            Phase::Interim => AccountingStatus::InterimUpdate,
            Phase::Stop => AccountingStatus::Stop,
        };
        let mut r = AccountingRecord::new(status, self.session_id.as_bytes(), &self.username);
        r.session_time = self.session_secs();
        r.input_octets = self.octets_in;
        r.output_octets = self.octets_out;
        r.input_packets = u32::try_from(self.frames_in).unwrap_or(u32::MAX);
        r.output_packets = u32::try_from(self.frames_out).unwrap_or(u32::MAX);
        r.terminate_cause = self.cause;
        r.framed_ip = self.address;
        r.calling_station_id = Some(self.calling_station.as_bytes());
        r.class = (!self.class.is_empty()).then_some(&self.class[..]);
        r
    }

    /// The TACACS+ accounting request's arguments (RFC 8907 §8.3).
    #[cfg(feature = "tacacs")]
    pub fn tacacs(&self) -> crate::aaa::tacacs::AccountingRecord<'_> {
        use crate::aaa::tacacs::{AccountingKind, AccountingRecord};
        AccountingRecord {
            kind: match self.phase {
                Phase::Start => AccountingKind::Start,
                Phase::Interim => AccountingKind::Watchdog,
                Phase::Stop => AccountingKind::Stop,
            },
            username: &self.username,
            rem_addr: self.calling_station.as_bytes(),
            task_id: self.session_id.as_bytes(),
            elapsed_time: self.session_secs(),
            bytes_in: self.octets_in,
            bytes_out: self.octets_out,
            paks_in: self.frames_in,
            paks_out: self.frames_out,
            addr: self.address,
        }
    }
}

impl fmt::Display for AccountingReport {
    /// The record as a NAS logs it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "accounting {} (session {}, {} s, in {} octets/{} packets, out {} octets/{} packets",
            self.phase,
            self.session_id,
            self.session_secs(),
            self.octets_in,
            self.frames_in,
            self.octets_out,
            self.frames_out
        )?;
        if let Some(cause) = self.cause {
            write!(f, ", cause {cause:?}")?;
        }
        f.write_str(")")
    }
}
