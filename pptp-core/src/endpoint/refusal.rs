//! Control connections refused because the server is full: the 127-style
//! limit of the PIX, answered on the wire.
//!
//! At `max_sessions` (or with every full control machine busy) the server
//! still takes the TCP connection, waits for the peer's Start-Control-
//! Connection-Request and answers it with a Start-Control-Connection-Reply
//! carrying Result Code 2 (General error) and Error Code 4 (No-Resource:
//! "insufficient resources to handle this command now"), RFC 2637 §2.2 and
//! §2.16, then has the host close. Dropping the connection unanswered
//! leaves a Windows or pppd client to report a network error and retry at
//! once; a clear refusal tells it why. A refused connection costs one
//! slot and no machine, for at most [`SCCRQ_WAIT`].

use crate::control::NameBytes;
use crate::time::Duration;
use crate::wire::control::{
    BearerCapabilities, ControlRepr, FramingCapabilities, GeneralError, Sccrp, StartControlResult,
    MAGIC_COOKIE, PROTOCOL_VERSION,
};
use crate::Transmit;

/// The control message header (RFC 2637 §1.4): Length, PPTP Message Type,
/// Magic Cookie, Control Message Type, Reserved0.
const HEADER_LEN: usize = 12;
/// Start-Control-Connection-Request's Control Message Type and Length
/// (RFC 2637 §2.1).
const SCCRQ_TYPE: u16 = 1;
const SCCRQ_LEN: u16 = 156;

/// How long a refused connection may take to send its SCCRQ.
pub(crate) const SCCRQ_WAIT: Duration = Duration::from_secs(10);

/// Where a refused connection stands. Only the first message's header is
/// kept (12 octets, not a whole reassembler): a refused connection must
/// stay as small as a parked one.
#[derive(Clone, Debug)]
pub(crate) struct Refusal {
    header: [u8; HEADER_LEN],
    seen: u16,
    pub(crate) state: RefusalState,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RefusalState {
    /// Waiting for the SCCRQ.
    Waiting,
    /// The SCCRQ came: the reply is due.
    ReplyDue,
    /// Replied, or gave up: the host closes the connection.
    Done,
}

impl Refusal {
    pub(crate) fn new() -> Self {
        Refusal {
            header: [0; HEADER_LEN],
            seen: 0,
            state: RefusalState::Waiting,
        }
    }

    /// Takes the peer's bytes: an SCCRQ makes the reply due; anything else
    /// first (RFC 2637 §2.1: SCCRQ comes first), or a broken stream, ends
    /// it. Bytes after the SCCRQ are discarded.
    pub(crate) fn feed(&mut self, input: &[u8]) {
        for &octet in input {
            if self.state != RefusalState::Waiting {
                return;
            }
            if let Some(slot) = self.header.get_mut(usize::from(self.seen)) {
                *slot = octet;
            }
            self.seen = self.seen.saturating_add(1);
            if usize::from(self.seen) == HEADER_LEN && !self.is_sccrq_header() {
                self.state = RefusalState::Done;
            } else if self.seen == SCCRQ_LEN {
                self.state = RefusalState::ReplyDue;
            }
        }
    }

    /// The header says SCCRQ: Length 156, message type 1 (control), the
    /// Magic Cookie, Control Message Type 1.
    fn is_sccrq_header(&self) -> bool {
        let h = &self.header;
        let word = |i: usize| u16::from_be_bytes([h[i], h[i + 1]]);
        word(0) == SCCRQ_LEN
            && word(2) == 1
            && u32::from_be_bytes([h[4], h[5], h[6], h[7]]) == MAGIC_COOKIE
            && word(8) == SCCRQ_TYPE
    }

    /// Writes the refusal SCCRP into `buf` if it is due.
    pub(crate) fn poll_transmit(
        &mut self,
        host_name: &NameBytes,
        buf: &mut [u8],
    ) -> Option<Transmit> {
        if self.state != RefusalState::ReplyDue {
            return None;
        }
        let repr = ControlRepr::Sccrp(Sccrp {
            protocol_version: PROTOCOL_VERSION,
            result: StartControlResult::GeneralError,
            error: GeneralError::NoResource,
            framing_capabilities: FramingCapabilities::EITHER,
            bearer_capabilities: BearerCapabilities::ANY,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name,
            vendor_string: b"pptp-rs",
        });
        let n = repr.emit(buf).ok()?;
        self.state = RefusalState::Done;
        Some(Transmit::new(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::control::{Sccrq, MAX_MESSAGE_LEN};

    fn sccrq() -> ([u8; MAX_MESSAGE_LEN], usize) {
        let mut buf = [0u8; MAX_MESSAGE_LEN];
        let n = ControlRepr::Sccrq(Sccrq {
            protocol_version: PROTOCOL_VERSION,
            framing_capabilities: FramingCapabilities::EITHER,
            bearer_capabilities: BearerCapabilities::ANY,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name: b"client",
            vendor_string: b"test",
        })
        .emit(&mut buf)
        .unwrap_or(0);
        (buf, n)
    }

    #[test]
    fn sccrq_in_pieces_gets_result_2_error_4() {
        let (msg, n) = sccrq();
        let mut r = Refusal::new();
        for chunk in msg[..n].chunks(7) {
            r.feed(chunk);
        }
        assert_eq!(r.state, RefusalState::ReplyDue);
        let mut out = [0u8; 256];
        let len = r
            .poll_transmit(&NameBytes::new(), &mut out)
            .map_or(0, |t| t.len);
        match ControlRepr::parse_bytes(&out[..len]) {
            Ok(ControlRepr::Sccrp(p)) => {
                assert_eq!(p.result, StartControlResult::GeneralError);
                assert_eq!(p.error, GeneralError::NoResource);
            }
            other => panic!("not an SCCRP: {other:?}"),
        }
        assert_eq!(r.state, RefusalState::Done);
        assert!(r.poll_transmit(&NameBytes::new(), &mut out).is_none());
    }

    #[test]
    fn anything_but_sccrq_first_or_garbage_ends_without_reply() {
        let mut r = Refusal::new();
        r.feed(&[0xde; 40]);
        assert_eq!(r.state, RefusalState::Done);
        let mut out = [0u8; 256];
        assert!(r.poll_transmit(&NameBytes::new(), &mut out).is_none());
    }
}
