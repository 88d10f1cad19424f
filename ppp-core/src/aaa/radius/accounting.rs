//! Accounting-Request contents (RFC 2866, Gigawords from RFC 2869).

use core::net::Ipv4Addr;

use super::attributes as attr;
use super::wire::PacketWriter;
use super::Error;

/// Acct-Status-Type (RFC 2866 §5.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum AccountingStatus {
    /// 1: the session started.
    Start,
    /// 2: the session ended.
    Stop,
    /// 3: periodic update ("Interim-Update", RFC 2866 §5.1).
    InterimUpdate,
}

impl AccountingStatus {
    /// The attribute value.
    pub const fn value(self) -> u32 {
        match self {
            AccountingStatus::Start => 1,
            AccountingStatus::Stop => 2,
            AccountingStatus::InterimUpdate => 3,
        }
    }
}

/// Acct-Terminate-Cause lives with the per-session AAA component, which
/// chooses it; TACACS+ hosts use it too.
pub use crate::aaa::session::TerminateCause;

/// One accounting record. "Input" is what the NAS received from the user
/// (RFC 2866 §5.3), "output" what it sent to the user.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AccountingRecord<'a> {
    /// Start, Interim-Update or Stop.
    pub status: AccountingStatus,
    /// Acct-Session-Id: the same in every record of one session.
    pub session_id: &'a [u8],
    /// User-Name as authenticated.
    pub username: &'a [u8],
    /// Acct-Session-Time in seconds (omitted in Start).
    pub session_time: u32,
    /// Octets received from the user (64-bit: low 32 bits in
    /// Acct-Input-Octets, high in Acct-Input-Gigawords, RFC 2869 §5.1).
    pub input_octets: u64,
    /// Octets sent to the user.
    pub output_octets: u64,
    /// Packets received from the user.
    pub input_packets: u32,
    /// Packets sent to the user.
    pub output_packets: u32,
    /// Acct-Terminate-Cause (Stop only).
    pub terminate_cause: Option<TerminateCause>,
    /// Framed-IP-Address given to the user.
    pub framed_ip: Option<Ipv4Addr>,
    /// Calling-Station-Id (the PPTP client's address as text).
    pub calling_station_id: Option<&'a [u8]>,
    /// Class from the Access-Accept, echoed (RFC 2865 §5.25).
    pub class: Option<&'a [u8]>,
}

impl<'a> AccountingRecord<'a> {
    /// A record with the counters at zero.
    pub fn new(status: AccountingStatus, session_id: &'a [u8], username: &'a [u8]) -> Self {
        AccountingRecord {
            status,
            session_id,
            username,
            session_time: 0,
            input_octets: 0,
            output_octets: 0,
            input_packets: 0,
            output_packets: 0,
            terminate_cause: None,
            framed_ip: None,
            calling_station_id: None,
            class: None,
        }
    }

    /// Writes the record's attributes.
    pub fn emit(&self, w: &mut PacketWriter<'_>) -> Result<(), Error> {
        w.integer(attr::ACCT_STATUS_TYPE, self.status.value())?;
        w.attribute(attr::ACCT_SESSION_ID, self.session_id)?;
        w.attribute(attr::USER_NAME, self.username)?;
        w.integer(attr::ACCT_AUTHENTIC, attr::ACCT_AUTHENTIC_RADIUS)?;
        if let Some(ip) = self.framed_ip {
            w.attribute(attr::FRAMED_IP_ADDRESS, &ip.octets())?;
        }
        if let Some(id) = self.calling_station_id {
            w.attribute(attr::CALLING_STATION_ID, id)?;
        }
        if let Some(class) = self.class {
            w.attribute(attr::CLASS, class)?;
        }
        // RFC 2866 §5.3-5.9: counters "can only be present in
        // Accounting-Request records where the Acct-Status-Type is set to
        // Stop"; RFC 2869 §2.1 allows them in Interim-Update too.
        if self.status != AccountingStatus::Start {
            w.integer(attr::ACCT_SESSION_TIME, self.session_time)?;
            w.integer(attr::ACCT_INPUT_OCTETS, self.input_octets as u32)?;
            w.integer(attr::ACCT_OUTPUT_OCTETS, self.output_octets as u32)?;
            w.integer(attr::ACCT_INPUT_GIGAWORDS, (self.input_octets >> 32) as u32)?;
            w.integer(
                attr::ACCT_OUTPUT_GIGAWORDS,
                (self.output_octets >> 32) as u32,
            )?;
            w.integer(attr::ACCT_INPUT_PACKETS, self.input_packets)?;
            w.integer(attr::ACCT_OUTPUT_PACKETS, self.output_packets)?;
        }
        if self.status == AccountingStatus::Stop {
            if let Some(cause) = self.terminate_cause {
                w.integer(attr::ACCT_TERMINATE_CAUSE, cause.value())?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::super::wire::{Code, Packet};
    use super::*;

    #[test]
    fn stop_record_splits_64_bit_counters() {
        let mut record = AccountingRecord::new(AccountingStatus::Stop, b"sess-1", b"User");
        record.input_octets = (5u64 << 32) | 1234;
        record.output_octets = 99;
        record.session_time = 60;
        record.terminate_cause = Some(TerminateCause::UserRequest);
        let mut buf = [0u8; 256];
        let mut w = PacketWriter::new(&mut buf, Code::AccountingRequest, 3, &[0; 16]).unwrap();
        record.emit(&mut w).unwrap();
        let n = w.finish_accounting_request(b"s");
        let p = Packet::new_checked(&buf[..n]).unwrap();
        let int = |k| attr::integer(p.attributes().find(k).unwrap()).unwrap();
        assert_eq!(int(attr::ACCT_STATUS_TYPE), 2);
        assert_eq!(int(attr::ACCT_INPUT_OCTETS), 1234);
        assert_eq!(int(attr::ACCT_INPUT_GIGAWORDS), 5);
        assert_eq!(int(attr::ACCT_OUTPUT_OCTETS), 99);
        assert_eq!(int(attr::ACCT_OUTPUT_GIGAWORDS), 0);
        assert_eq!(int(attr::ACCT_TERMINATE_CAUSE), 1);
        assert_eq!(int(attr::ACCT_SESSION_TIME), 60);
        // The Request Authenticator is MD5(packet with zero auth | secret).
        let mut zeroed = buf[..n].to_vec();
        zeroed[4..20].fill(0);
        let expected = super::super::wire::md5_parts(&[&zeroed, b"s"]);
        assert_eq!(p.authenticator(), expected);
        // Start carries no counters.
        let start = AccountingRecord::new(AccountingStatus::Start, b"sess-1", b"User");
        let mut w = PacketWriter::new(&mut buf, Code::AccountingRequest, 3, &[0; 16]).unwrap();
        start.emit(&mut w).unwrap();
        let n = w.finish_accounting_request(b"s");
        let p = Packet::new_checked(&buf[..n]).unwrap();
        assert!(p.attributes().find(attr::ACCT_INPUT_OCTETS).is_none());
    }
}
