//! Why a call or a control connection went down, in words: what a host
//! logs and what an operator reads (`SessionEnd`'s `Display` nests these).
//! Result and error codes are printed as the numbers RFC 2637 §2.16 and
//! the message sections define, which is what a peer's log shows too.

use core::fmt;

use super::{CallDownReason, TunnelDownReason};

impl fmt::Display for CallDownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CallDownReason::OutgoingRefused {
                result,
                error,
                cause_code,
            } => write!(
                f,
                "Outgoing-Call-Request refused (result {}, error {}, cause {cause_code})",
                u8::from(result),
                u8::from(error)
            ),
            CallDownReason::IncomingRefused { result, error } => write!(
                f,
                "Incoming-Call-Request refused (result {}, error {})",
                u8::from(result),
                u8::from(error)
            ),
            CallDownReason::Disconnected {
                result,
                error,
                cause_code,
                ..
            } => write!(
                f,
                "peer sent Call-Disconnect-Notify (result {}, error {}, cause {cause_code})",
                u8::from(result),
                u8::from(error)
            ),
            CallDownReason::ClearRequested => f.write_str("peer sent Call-Clear-Request"),
            CallDownReason::Local => f.write_str("cleared by this end"),
            CallDownReason::Timeout => f.write_str("no reply in time"),
            CallDownReason::TunnelDown => f.write_str("its control connection went down"),
        }
    }
}

impl fmt::Display for TunnelDownReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TunnelDownReason::Local => f.write_str("closed by this end"),
            TunnelDownReason::PeerStopped(reason) => write!(
                f,
                "peer sent Stop-Control-Connection-Request (reason {})",
                u8::from(reason)
            ),
            TunnelDownReason::PeerRefused { result, error } => write!(
                f,
                "Start-Control-Connection-Request refused (result {}, error {})",
                u8::from(result),
                u8::from(error)
            ),
            TunnelDownReason::VersionMismatch(v) => {
                write!(f, "peer speaks protocol version {}.{}", v >> 8, v & 0xff)
            }
            TunnelDownReason::Timeout => f.write_str("no reply in time"),
            TunnelDownReason::EchoTimeout => f.write_str("no Echo-Reply (keepalive lost)"),
            TunnelDownReason::ProtocolError(e) => write!(f, "protocol error: {e}"),
            TunnelDownReason::Collision => f.write_str("SCCRQ collision (RFC 2637 §3.1.3)"),
        }
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::string::ToString;

    use super::*;
    use crate::wire::control::{DisconnectResult, GeneralError, StopReason};

    #[test]
    fn reasons_read_as_words_with_rfc_codes() {
        let cdn = CallDownReason::Disconnected {
            result: DisconnectResult::AdminShutdown,
            error: GeneralError::None,
            cause_code: 0,
            statistics: Default::default(),
        };
        assert_eq!(
            cdn.to_string(),
            "peer sent Call-Disconnect-Notify (result 3, error 0, cause 0)"
        );
        assert_eq!(
            TunnelDownReason::PeerStopped(StopReason::LocalShutdown).to_string(),
            "peer sent Stop-Control-Connection-Request (reason 3)"
        );
        assert_eq!(
            TunnelDownReason::VersionMismatch(0x0200).to_string(),
            "peer speaks protocol version 2.0"
        );
    }

    /// The endpoint's `SessionEnd` nests these: no `Debug` structure in a
    /// host's log line.
    #[cfg(feature = "endpoint")]
    #[test]
    fn session_end_nests_the_words() {
        use crate::endpoint::SessionEnd;
        assert_eq!(
            SessionEnd::Call(CallDownReason::ClearRequested).to_string(),
            "PPTP call: peer sent Call-Clear-Request"
        );
        assert_eq!(
            SessionEnd::Tunnel(TunnelDownReason::EchoTimeout).to_string(),
            "PPTP control connection: no Echo-Reply (keepalive lost)"
        );
    }
}
