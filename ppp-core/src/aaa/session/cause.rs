//! Acct-Terminate-Cause (RFC 2866 §5.10): why a session ended, as the
//! accounting Stop reports it, and the PPP link's share of choosing it.
//!
//! The cause is RADIUS's vocabulary, but the decision is the NAS's, so it
//! lives here beside the session table rather than in the RADIUS client:
//! a TACACS+-only build has it as well, and `pptp_core::endpoint` maps its
//! PPTP-level ends (call cleared, control connection lost) onto it.

use crate::link::EndReason;

/// Acct-Terminate-Cause (RFC 2866 §5.10), the ones a PPTP NAS reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum TerminateCause {
    /// 1: the user ended the session (LCP Terminate, PPTP Call-Clear).
    UserRequest,
    /// 2: lost carrier (the PPTP control connection died).
    LostCarrier,
    /// 3: lost service.
    LostService,
    /// 4: idle timeout.
    IdleTimeout,
    /// 5: session timeout (Session-Timeout reached).
    SessionTimeout,
    /// 6: an administrator reset the session.
    AdminReset,
    /// 7: an administrator rebooted the NAS.
    AdminReboot,
    /// 8: port error (e.g. LCP echo failure).
    PortError,
    /// 9: NAS error.
    NasError,
    /// 10: NAS request.
    NasRequest,
    /// 11: NAS reboot.
    NasReboot,
    /// 15: service unavailable (e.g. MPPE could not be negotiated).
    ServiceUnavailable,
    /// 17: user error (e.g. bad PPP negotiation).
    UserError,
    /// Another RFC 2866 value.
    Other(u32),
}

impl TerminateCause {
    /// The attribute value.
    pub const fn value(self) -> u32 {
        match self {
            TerminateCause::UserRequest => 1,
            TerminateCause::LostCarrier => 2,
            TerminateCause::LostService => 3,
            TerminateCause::IdleTimeout => 4,
            TerminateCause::SessionTimeout => 5,
            TerminateCause::AdminReset => 6,
            TerminateCause::AdminReboot => 7,
            TerminateCause::PortError => 8,
            TerminateCause::NasError => 9,
            TerminateCause::NasRequest => 10,
            TerminateCause::NasReboot => 11,
            TerminateCause::ServiceUnavailable => 15,
            TerminateCause::UserError => 17,
            TerminateCause::Other(v) => v,
        }
    }
}

/// The link's end reasons as RFC 2866 §5.10 names them. PPTP hosts map
/// the call and control-connection layers on top of this
/// (`pptp_core::endpoint::SessionEnd::terminate_cause`).
impl From<&EndReason> for TerminateCause {
    fn from(reason: &EndReason) -> Self {
        use crate::lcp::EndReason as Lcp;
        match reason {
            // LCP Terminate-Request from the peer (RFC 1661 §5.5): the
            // user disconnected.
            EndReason::Lcp(Lcp::PeerTerminated) => TerminateCause::UserRequest,
            EndReason::Lcp(Lcp::AdminClose) => TerminateCause::AdminReset,
            // §5.10: "Lost-Carrier  DCD was dropped on the port": LCP echo
            // loss and the lower layer going away are the nearest a PPTP
            // NAS has.
            EndReason::Lcp(Lcp::KeepaliveLost | Lcp::LowerLayerDown) => TerminateCause::LostCarrier,
            // Encryption was required and could not be had (RFC 3078):
            // the service the user asked for is not available.
            EndReason::MppeRequiredNotActive | EndReason::EncryptionRefused => {
                TerminateCause::ServiceUnavailable
            }
            // The NAS had no address to give (pool exhausted).
            EndReason::NoAddress => TerminateCause::NasError,
            EndReason::Lcp(Lcp::NegotiationTimeout) | EndReason::IpcpFailed => {
                TerminateCause::PortError
            }
            // Authentication failures, no common protocol, loopback, a
            // rejected LCP: the user's side misbehaved or was refused.
            _ => TerminateCause::UserError,
        }
    }
}
