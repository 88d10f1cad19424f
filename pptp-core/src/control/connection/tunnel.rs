//! Tunnel start-up (SCCRQ/SCCRP), teardown (StopCCRQ/StopCCRP, close,
//! collisions) and the Echo keepalive (RFC 2637 §2.1–§2.6, §3.1).

#[cfg(doc)]
use crate::control::Config;
use crate::control::{Error, Event, PeerInfo, TunnelDownReason};
use crate::time::Instant;
use crate::wire::control::{
    ControlRepr, EchoReply, EchoRequest, EchoResult, GeneralError, Sccrp, Sccrq,
    StartControlResult, StopCcrp, StopCcrq, StopReason, StopResult, PROTOCOL_VERSION,
};
use ppp_core::keepalive::{Keepalive, KeepaliveConfig};

use super::{encode, name_bytes, Connection, State};

impl<const MAX_CALLS: usize> Connection<MAX_CALLS> {
    /// Queues an SCCRP with our parameters (counted if there is no room).
    pub(super) fn send_sccrp(&mut self, result: StartControlResult, error: GeneralError) {
        let reply = ControlRepr::Sccrp(Sccrp {
            protocol_version: PROTOCOL_VERSION,
            result,
            error,
            framing_capabilities: self.config.framing_capabilities,
            bearer_capabilities: self.config.bearer_capabilities,
            maximum_channels: self.config.maximum_channels,
            firmware_revision: self.config.firmware_revision,
            host_name: &self.config.host_name,
            vendor_string: &self.config.vendor_string,
        });
        if encode(&mut self.outbound, &reply).is_err() {
            self.stats.dropped_queue_full += 1;
        }
    }

    pub(super) fn on_sccrq(&mut self, now: Instant, m: &Sccrq<'_>) {
        match self.state {
            State::Idle => {}
            // RFC 2637 §3.1.3 on a single connection: the end with the
            // higher address ignores the other's SCCRQ and keeps waiting
            // for its SCCRP; the lower one answers it.
            State::WaitCtlReply if !self.config.local_address_is_higher => {}
            _ => {
                self.stats.dropped_unexpected += 1;
                return;
            }
        }
        if m.protocol_version != PROTOCOL_VERSION {
            // RFC 2637 §2.2: result 5, with the version we do support.
            self.send_sccrp(StartControlResult::BadVersion, GeneralError::None);
            self.shut_down(TunnelDownReason::VersionMismatch(m.protocol_version), true);
            return;
        }
        self.send_sccrp(StartControlResult::Ok, GeneralError::None);
        self.establish(
            now,
            peer_info(
                m.protocol_version,
                m.framing_capabilities,
                m.bearer_capabilities,
                m.maximum_channels,
                m.firmware_revision,
                m.host_name,
                m.vendor_string,
            ),
        );
    }

    pub(super) fn on_sccrp(&mut self, now: Instant, m: &Sccrp<'_>) {
        if self.state != State::WaitCtlReply {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if m.result != StartControlResult::Ok {
            self.shut_down(
                TunnelDownReason::PeerRefused {
                    result: m.result,
                    error: m.error,
                },
                false,
            );
            return;
        }
        if m.protocol_version != PROTOCOL_VERSION {
            // RFC 2637 §2.3: Stop-Protocol when we cannot speak the
            // peer's version; we do not wait for its StopCCRP.
            self.enqueue_or_count(&ControlRepr::StopCcrq(StopCcrq {
                reason: StopReason::StopProtocol,
            }));
            self.shut_down(TunnelDownReason::VersionMismatch(m.protocol_version), true);
            return;
        }
        self.establish(
            now,
            peer_info(
                m.protocol_version,
                m.framing_capabilities,
                m.bearer_capabilities,
                m.maximum_channels,
                m.firmware_revision,
                m.host_name,
                m.vendor_string,
            ),
        );
    }

    pub(super) fn establish(&mut self, now: Instant, peer: PeerInfo) {
        self.state = State::Established;
        self.deadline = None;
        self.last_received = now;
        self.keepalive.on_traffic(&self.keepalive_config(), now);
        self.stats.established_at = Some(now);
        self.push_event(Event::TunnelUp(peer));
    }

    pub(super) fn on_stop_request(&mut self, m: StopCcrq) {
        // RFC 2637 §2.3/§2.4: always acknowledged, whatever our state (a
        // peer may give up during start-up, or both ends may close at
        // once); the connection is then over.
        self.enqueue_or_count(&ControlRepr::StopCcrp(StopCcrp {
            result: StopResult::Ok,
            error: GeneralError::None,
        }));
        self.shut_down(TunnelDownReason::PeerStopped(m.reason), true);
    }

    pub(super) fn on_stop_reply(&mut self) {
        if self.state == (State::Stopping { stop_sent: true }) {
            self.shut_down(TunnelDownReason::Local, true);
        } else {
            self.stats.dropped_unexpected += 1;
        }
    }

    pub(super) fn on_echo_request(&mut self, m: EchoRequest) {
        if !matches!(self.state, State::Established | State::Stopping { .. }) {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.stats.echo_requests_received += 1;
        self.enqueue_or_count(&ControlRepr::EchoReply(EchoReply {
            identifier: m.identifier,
            result: EchoResult::Ok,
            error: GeneralError::None,
        }));
    }

    pub(super) fn on_echo_reply(&mut self, now: Instant, m: EchoReply) {
        if answers_our_echo(&self.keepalive, self.next_echo_id, m.identifier) {
            self.stats.echo_replies_received += 1;
            let config = self.keepalive_config();
            self.stats.last_echo_rtt = self.keepalive.on_reply(&config, now);
        } else {
            self.stats.dropped_unexpected += 1;
        }
    }

    /// The keepalive as configured (RFC 2637 §3.1.4: 60 s idle, 60 s for
    /// the reply, by default).
    pub(super) fn keepalive_config(&self) -> KeepaliveConfig {
        KeepaliveConfig::pptp(self.config.echo_interval, self.config.echo_timeout)
    }

    /// Closes the control connection (the PIX's `clear vpdn tunnel`):
    /// every call is cleared first (client: CCRQ and wait for CDN; server:
    /// CDN), then Stop-Control-Connection-Request (reason 1) is sent and
    /// the connection closes on the Stop-Control-Connection-Reply or after
    /// [`Config::reply_timeout`]. Before start-up has finished the
    /// connection just closes.
    pub fn close(&mut self, now: Instant) -> Result<(), Error> {
        match self.state {
            State::Closed => Err(Error::Closed),
            State::Stopping { .. } => Ok(()),
            State::Idle | State::WaitCtlReply => {
                self.shut_down(TunnelDownReason::Local, false);
                Ok(())
            }
            State::Established => {
                self.state = State::Stopping { stop_sent: false };
                for index in (0..self.calls.len()).rev() {
                    self.clear_at(now, index);
                }
                self.pump(now);
                Ok(())
            }
        }
    }

    /// Applies the SCCRQ collision rule of RFC 2637 §3.1.3 across two TCP
    /// connections to the same peer. The host calls this on each of the
    /// two connections when it sees an SCCRQ arrive on one while its own
    /// SCCRQ is outstanding on the other, with `local_is_higher` = our IP
    /// address compared with the peer's as unsigned 32-bit numbers.
    ///
    /// * On the connection we opened: the higher end keeps waiting for the
    ///   SCCRP; the lower end closes it without sending anything more.
    /// * On the connection the peer opened: the lower end answers the
    ///   SCCRQ as usual; the higher end must send nothing on it, so the
    ///   machine drops any queued reply and closes (call this before the
    ///   first `poll_transmit` after the SCCRQ).
    ///
    /// Either way, a connection that has to go ends with
    /// [`TunnelDownReason::Collision`].
    pub fn handle_collision(&mut self, now: Instant, local_is_higher: bool) {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return;
        }
        let must_go = if self.initiator {
            !local_is_higher
        } else {
            local_is_higher
        };
        if must_go {
            self.shut_down(TunnelDownReason::Collision, false);
        }
    }
}

pub(super) fn peer_info(
    protocol_version: u16,
    framing_capabilities: crate::wire::control::FramingCapabilities,
    bearer_capabilities: crate::wire::control::BearerCapabilities,
    maximum_channels: u16,
    firmware_revision: u16,
    host_name: &[u8],
    vendor_string: &[u8],
) -> PeerInfo {
    PeerInfo {
        protocol_version,
        framing_capabilities,
        bearer_capabilities,
        maximum_channels,
        firmware_revision,
        host_name: name_bytes(host_name),
        vendor_string: name_bytes(vendor_string),
    }
}

/// Whether an Echo-Reply (RFC 2637 §2.6) with `identifier` answers our
/// outstanding Echo-Request: our Identifiers are sequential, so the
/// outstanding one is the last handed out, `next_echo_id - 1`.
pub(in crate::control) fn answers_our_echo(
    keepalive: &Keepalive,
    next_echo_id: u32,
    identifier: u32,
) -> bool {
    keepalive.is_outstanding() && identifier == next_echo_id.wrapping_sub(1)
}
