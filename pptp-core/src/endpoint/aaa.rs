//! The endpoint's share of per-session AAA: how a session ended, in
//! RADIUS accounting's words (Acct-Terminate-Cause, RFC 2866 §5.10). The
//! PPP link's own ends are mapped in ppp-core
//! (`impl From<&EndReason> for TerminateCause`); the PPTP layers above it
//! are mapped here, so that every host reports the same cause.

use ppp_core::aaa::session::TerminateCause;

use super::SessionEnd;
use crate::control::CallDownReason;

impl SessionEnd {
    /// Acct-Terminate-Cause for the accounting Stop of a session that
    /// ended this way (RFC 2866 §5.10), layer by layer.
    pub fn terminate_cause(&self) -> TerminateCause {
        match self {
            SessionEnd::Link(reason) => TerminateCause::from(reason),
            // The user hung up: pptp-linux and Windows clear the call
            // (Call-Clear-Request, RFC 2637 §2.12) or answer with
            // Call-Disconnect-Notify when the user disconnects.
            SessionEnd::Call(
                CallDownReason::ClearRequested | CallDownReason::Disconnected { .. },
            ) => TerminateCause::UserRequest,
            // This NAS cleared the call (an administrator or shutdown).
            SessionEnd::Call(CallDownReason::Local) => TerminateCause::AdminReset,
            // The call's set-up or reply timed out.
            SessionEnd::Call(CallDownReason::Timeout) => TerminateCause::LostService,
            // The control connection (RFC 2637 §2.3, §2.5) or its TCP
            // connection went away: the PPTP equivalent of carrier loss.
            SessionEnd::Call(_)
            | SessionEnd::Tunnel(_)
            | SessionEnd::ConnectionLost
            | SessionEnd::NoResource => TerminateCause::LostCarrier,
            // Never authenticated: no accounting Start was sent, but a
            // host that reports it says the NAS ended it.
            SessionEnd::SetupTimeout => TerminateCause::NasRequest,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ppp_core::link::EndReason;

    #[test]
    fn terminate_causes_follow_rfc_2866() {
        let link = |r| SessionEnd::Link(r).terminate_cause().value();
        assert_eq!(link(EndReason::PeerTerminated), 1, "User-Request");
        assert_eq!(
            SessionEnd::ConnectionLost.terminate_cause().value(),
            2,
            "Lost-Carrier"
        );
        assert_eq!(link(EndReason::LowerLayerDown), 2);
        assert_eq!(link(EndReason::KeepaliveLost), 2);
        assert_eq!(link(EndReason::AdminClose), 6, "Admin-Reset");
        assert_eq!(
            link(EndReason::MppeRequiredNotActive),
            15,
            "Service-Unavailable"
        );
        assert_eq!(link(EndReason::NoAddress), 9, "NAS-Error");
        assert_eq!(link(EndReason::NegotiationTimeout), 8, "Port-Error");
        assert_eq!(link(EndReason::Loopback), 17, "User-Error");
        let call = |r| SessionEnd::Call(r).terminate_cause().value();
        assert_eq!(call(CallDownReason::ClearRequested), 1, "the user hung up");
        assert_eq!(call(CallDownReason::Local), 6);
        assert_eq!(call(CallDownReason::Timeout), 3, "Lost-Service");
        assert_eq!(SessionEnd::NoResource.terminate_cause().value(), 2);
    }
}
