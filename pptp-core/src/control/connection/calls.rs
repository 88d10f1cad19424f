//! Calls (RFC 2637 §3.2): the peer's call messages (OCRQ/OCRP,
//! ICRQ/ICRP/ICCN, CCRQ/CDN, WEN, SLI) and the host's call commands.

use crate::control::call::{Call, CallDirection, CallState};
#[cfg(doc)]
use crate::control::Config;
use crate::control::{
    CallAccept, CallDown, CallDownReason, CallParams, CallRefusal, CallRequest, CallUp, Disconnect,
    Error, Event, NameBytes, StatsBytes, TunnelDownReason, WanErrors,
};
use crate::time::Instant;
use crate::wire::control::{
    Ccrq, Cdn, ControlRepr, DisconnectResult, GeneralError, Iccn, Icrp, Icrq, IncomingCallResult,
    Ocrp, Ocrq, OutgoingCallResult, Sli, StopCcrq, StopReason, Wen, NAME_FIELD_LEN,
    STATS_FIELD_LEN,
};
use crate::Role;

use super::{name_bytes, Connection, State};

impl<const MAX_CALLS: usize> Connection<MAX_CALLS> {
    /// Whether a peer's call request repeats the call ID of one of its
    /// calls that is still being set up or up. Such a request is dropped
    /// (counted in `dropped_unexpected`) without a reply: the call that
    /// has the ID gets its one answer, and a refusal carrying the same ID
    /// (RFC 2637 §2.16 error 5, Bad-Call ID) would reach the peer next to
    /// that call's acceptance and could make it clear the call it has.
    /// Only a broken or hostile peer sends one (TCP does not duplicate).
    pub(super) fn is_duplicate_request(&mut self, peer_call_id: u16) -> bool {
        let duplicate = self.calls.iter().any(|c| c.peer_id() == Some(peer_call_id));
        if duplicate {
            self.stats.dropped_unexpected += 1;
        }
        duplicate
    }

    /// Checks a peer's call request: the General Error code to refuse it
    /// with, if it must be refused.
    pub(super) fn screen_request(&self) -> Option<GeneralError> {
        if self.calls.is_full() {
            // RFC 2637 §2.16 error 4 (No-Resource).
            return Some(GeneralError::NoResource);
        }
        None
    }

    pub(super) fn on_ocrq(&mut self, now: Instant, m: &Ocrq<'_>) {
        if self.state != State::Established {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if self.role != Role::Server {
            // Only the PAC (server) places outgoing calls.
            self.stats.dropped_unexpected += 1;
            self.send_ocrp_refusal(
                m.call_id,
                OutgoingCallResult::DoNotAccept,
                GeneralError::None,
            );
            return;
        }
        if self.is_duplicate_request(m.call_id) {
            return;
        }
        if let Some(error) = self.screen_request() {
            self.stats.calls_refused += 1;
            self.send_ocrp_refusal(m.call_id, OutgoingCallResult::GeneralError, error);
            return;
        }
        let mut call = Call::new(CallDirection::Outgoing, CallState::WaitHost, now);
        call.snapshot.peer_call_id = Some(m.call_id);
        call.snapshot.peer_recv_window = m.packet_recv_window_size;
        call.snapshot.peer_processing_delay = m.packet_processing_delay;
        call.snapshot.framing = m.framing_type;
        call.snapshot.bearer = m.bearer_type;
        call.deadline = Some(now + self.config.host_answer_timeout);
        let _ = self.calls.push(call);
        self.push_event(Event::CallRequested(CallRequest {
            peer_call_id: m.call_id,
            direction: CallDirection::Outgoing,
            serial_number: m.call_serial_number,
            minimum_bps: m.minimum_bps,
            maximum_bps: m.maximum_bps,
            bearer: m.bearer_type,
            framing: m.framing_type,
            peer_recv_window: m.packet_recv_window_size,
            peer_processing_delay: m.packet_processing_delay,
            physical_channel_id: 0,
            phone_number: name_bytes(m.phone_number),
            dialing_number: NameBytes::new(),
            subaddress: name_bytes(m.subaddress),
        }));
    }

    pub(super) fn send_ocrp_refusal(
        &mut self,
        peer_call_id: u16,
        result: OutgoingCallResult,
        error: GeneralError,
    ) {
        self.enqueue_or_count(&ControlRepr::Ocrp(Ocrp {
            call_id: 0,
            peer_call_id,
            result,
            error,
            cause_code: 0,
            connect_speed: 0,
            packet_recv_window_size: 0,
            packet_processing_delay: 0,
            physical_channel_id: 0,
        }));
    }

    pub(super) fn send_icrp_refusal(
        &mut self,
        peer_call_id: u16,
        result: IncomingCallResult,
        error: GeneralError,
    ) {
        self.enqueue_or_count(&ControlRepr::Icrp(Icrp {
            call_id: 0,
            peer_call_id,
            result,
            error,
            packet_recv_window_size: 0,
            packet_transmit_delay: 0,
        }));
    }

    pub(super) fn on_ocrp(&mut self, now: Instant, m: Ocrp) {
        // A reply to an OCRQ we already cleared (CCRQ crossed the OCRP):
        // learn the server's call ID so its CDN can be matched.
        if let Some(index) = self.find(|c| {
            c.snapshot.direction == CallDirection::Outgoing
                && c.state() == CallState::WaitDisconnect
                && c.peer_id().is_none()
                && c.local_id() == Some(m.peer_call_id)
        }) {
            if let Some(call) = self.calls.get_mut(index) {
                call.snapshot.peer_call_id = Some(m.call_id);
            }
            if m.result != OutgoingCallResult::Connected {
                // Refused anyway: no CDN will come.
                self.remove_call(index, CallDownReason::Local);
            }
            return;
        }
        let Some(index) = self.find(|c| {
            c.snapshot.direction == CallDirection::Outgoing
                && c.state() == CallState::WaitReply
                && c.local_id() == Some(m.peer_call_id)
        }) else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if m.result == OutgoingCallResult::Connected {
            if let Some(call) = self.calls.get_mut(index) {
                call.snapshot.peer_call_id = Some(m.call_id);
                call.snapshot.peer_recv_window = m.packet_recv_window_size;
                call.snapshot.peer_processing_delay = m.packet_processing_delay;
                call.snapshot.connect_speed = m.connect_speed;
            }
            self.call_established(now, index);
        } else {
            self.remove_call(
                index,
                CallDownReason::OutgoingRefused {
                    result: m.result,
                    error: m.error,
                    cause_code: m.cause_code,
                },
            );
        }
    }

    pub(super) fn on_icrq(&mut self, now: Instant, m: &Icrq<'_>) {
        if self.state != State::Established {
            self.stats.dropped_unexpected += 1;
            return;
        }
        if self.role != Role::Client {
            // Only the PAC (server) announces incoming calls.
            self.stats.dropped_unexpected += 1;
            self.send_icrp_refusal(
                m.call_id,
                IncomingCallResult::DoNotAccept,
                GeneralError::None,
            );
            return;
        }
        if self.is_duplicate_request(m.call_id) {
            return;
        }
        if let Some(error) = self.screen_request() {
            self.stats.calls_refused += 1;
            self.send_icrp_refusal(m.call_id, IncomingCallResult::GeneralError, error);
            return;
        }
        let mut call = Call::new(CallDirection::Incoming, CallState::WaitHost, now);
        call.snapshot.peer_call_id = Some(m.call_id);
        call.snapshot.bearer = m.call_bearer_type;
        call.deadline = Some(now + self.config.host_answer_timeout);
        let _ = self.calls.push(call);
        self.push_event(Event::CallRequested(CallRequest {
            peer_call_id: m.call_id,
            direction: CallDirection::Incoming,
            serial_number: m.call_serial_number,
            minimum_bps: 0,
            maximum_bps: 0,
            bearer: m.call_bearer_type,
            framing: crate::wire::control::FramingCapabilities::NONE,
            peer_recv_window: 0,
            peer_processing_delay: 0,
            physical_channel_id: m.physical_channel_id,
            phone_number: name_bytes(m.dialed_number),
            dialing_number: name_bytes(m.dialing_number),
            subaddress: name_bytes(m.subaddress),
        }));
    }

    pub(super) fn on_icrp(&mut self, now: Instant, m: Icrp) {
        let Some(index) = self.find(|c| {
            c.snapshot.direction == CallDirection::Incoming
                && c.state() == CallState::WaitReply
                && c.local_id() == Some(m.peer_call_id)
        }) else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if m.result != IncomingCallResult::Connect {
            self.remove_call(
                index,
                CallDownReason::IncomingRefused {
                    result: m.result,
                    error: m.error,
                },
            );
            return;
        }
        let Some(call) = self.calls.get_mut(index) else {
            return;
        };
        call.snapshot.peer_call_id = Some(m.call_id);
        call.snapshot.peer_recv_window = m.packet_recv_window_size;
        call.snapshot.peer_processing_delay = m.packet_transmit_delay;
        let iccn = ControlRepr::Iccn(Iccn {
            peer_call_id: m.call_id,
            connect_speed: call.snapshot.connect_speed,
            packet_recv_window_size: call.local_recv_window,
            packet_transmit_delay: call.local_processing_delay,
            framing_type: call.snapshot.framing,
        });
        self.enqueue_or_count(&iccn);
        self.call_established(now, index);
    }

    pub(super) fn on_iccn(&mut self, now: Instant, m: Iccn) {
        let Some(index) = self
            .find(|c| c.state() == CallState::WaitConnect && c.local_id() == Some(m.peer_call_id))
        else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        if let Some(call) = self.calls.get_mut(index) {
            call.snapshot.connect_speed = m.connect_speed;
            call.snapshot.peer_recv_window = m.packet_recv_window_size;
            call.snapshot.peer_processing_delay = m.packet_transmit_delay;
            call.snapshot.framing = m.framing_type;
        }
        self.call_established(now, index);
    }

    pub(super) fn on_ccrq(&mut self, m: Ccrq) {
        // RFC 2637 §2.12: the CCRQ carries the sender's (PNS's) call ID,
        // i.e. our peer call ID. Only the server (PAC) receives CCRQ.
        let index = if self.role == Role::Server {
            self.find(|c| c.peer_id() == Some(m.call_id) && c.state() != CallState::WaitReply)
        } else {
            None
        };
        let Some(index) = index else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        let local = self.calls.get(index).and_then(Call::local_id);
        match local {
            Some(local) => self.enqueue_or_count(&ControlRepr::Cdn(Cdn {
                call_id: local,
                result: DisconnectResult::Request,
                error: GeneralError::None,
                cause_code: 0,
                call_statistics: &[],
            })),
            // The client withdrew an OCRQ the host has not answered yet. We
            // have no call ID to put in a CDN (0 could name another call),
            // so the OCRQ gets its reply instead: "Do Not Accept".
            None => self.send_ocrp_refusal(
                m.call_id,
                OutgoingCallResult::DoNotAccept,
                GeneralError::None,
            ),
        }
        self.remove_call(index, CallDownReason::ClearRequested);
    }

    pub(super) fn on_cdn(&mut self, m: &Cdn<'_>) {
        // RFC 2637 §2.13: the CDN carries the sender's (PAC's) call ID,
        // i.e. our peer call ID. RFC 2637 has only the PAC send CDN; we
        // accept it in either role because ending a call the peer has
        // ended is always right.
        // At a client, peer call IDs are the server's, so every call state
        // matches (a CDN may also withdraw an ICRQ the host has not
        // answered). At a server, peer IDs are the client's own, so only
        // an established call can be meant.
        let role = self.role;
        let Some(index) = self.find(|c| {
            c.peer_id() == Some(m.call_id)
                && (role == Role::Client || c.state() == CallState::Established)
        }) else {
            self.stats.dropped_unexpected += 1;
            return;
        };
        let mut statistics = StatsBytes::new();
        let _ = statistics.extend_from_slice(m.call_statistics);
        self.remove_call(
            index,
            CallDownReason::Disconnected {
                result: m.result,
                error: m.error,
                cause_code: m.cause_code,
                statistics,
            },
        );
    }

    pub(super) fn on_wen(&mut self, m: Wen) {
        // RFC 2637 §2.14: Peer's Call ID = the receiver's call ID.
        if self
            .find(|c| c.local_id() == Some(m.peer_call_id) && c.peer_id().is_some())
            .is_none()
        {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.push_event(Event::WanError {
            local_call_id: m.peer_call_id,
            errors: WanErrors {
                crc_errors: m.crc_errors,
                framing_errors: m.framing_errors,
                hardware_overruns: m.hardware_overruns,
                buffer_overruns: m.buffer_overruns,
                timeout_errors: m.timeout_errors,
                alignment_errors: m.alignment_errors,
            },
        });
    }

    pub(super) fn on_sli(&mut self, m: Sli) {
        // RFC 2637 §2.15: Peer's Call ID = the receiver's call ID. Windows
        // sends SLI as soon as its LCP is up, i.e. right after the call is
        // established; accept it in either role.
        if self
            .find(|c| c.local_id() == Some(m.peer_call_id) && c.state() == CallState::Established)
            .is_none()
        {
            self.stats.dropped_unexpected += 1;
            return;
        }
        self.push_event(Event::LinkInfo {
            local_call_id: m.peer_call_id,
            send_accm: m.send_accm,
            receive_accm: m.receive_accm,
        });
    }

    // --- host commands --------------------------------------------------

    pub(super) fn check_established(&self) -> Result<(), Error> {
        match self.state {
            State::Established => Ok(()),
            State::Closed => Err(Error::Closed),
            _ => Err(Error::NotEstablished),
        }
    }

    pub(super) fn check_new_local_id(&self, local_call_id: u16) -> Result<(), Error> {
        if self
            .calls
            .iter()
            .any(|c| c.local_id() == Some(local_call_id))
        {
            Err(Error::DuplicateCallId(local_call_id))
        } else {
            Ok(())
        }
    }

    pub(super) fn check_queue(&self) -> Result<(), Error> {
        if self.outbound.is_full() {
            Err(Error::QueueFull)
        } else {
            Ok(())
        }
    }

    /// Places a call with our call ID `local_call_id` (chosen by the host,
    /// unique on this connection): a client sends Outgoing-Call-Request, a
    /// server Incoming-Call-Request. [`Event::CallUp`] or
    /// [`Event::CallDown`] follows.
    pub fn place_call(
        &mut self,
        now: Instant,
        local_call_id: u16,
        params: &CallParams<'_>,
    ) -> Result<(), Error> {
        self.check_established()?;
        self.check_new_local_id(local_call_id)?;
        if self.calls.is_full() {
            return Err(Error::TooManyCalls);
        }
        self.check_queue()?;
        for (name, value) in [
            ("phone_number", params.phone_number),
            ("dialing_number", params.dialing_number),
            ("subaddress", params.subaddress),
        ] {
            if value.len() > NAME_FIELD_LEN {
                return Err(Error::FieldTooLong(name));
            }
        }
        let direction = match self.role {
            Role::Client => CallDirection::Outgoing,
            Role::Server => CallDirection::Incoming,
        };
        let repr = match self.role {
            Role::Client => ControlRepr::Ocrq(Ocrq {
                call_id: local_call_id,
                call_serial_number: params.serial_number,
                minimum_bps: params.minimum_bps,
                maximum_bps: params.maximum_bps,
                bearer_type: params.bearer,
                framing_type: params.framing,
                packet_recv_window_size: params.recv_window_size,
                packet_processing_delay: params.processing_delay,
                phone_number_length: params.phone_number.len() as u16,
                phone_number: params.phone_number,
                subaddress: params.subaddress,
            }),
            Role::Server => ControlRepr::Icrq(Icrq {
                call_id: local_call_id,
                call_serial_number: params.serial_number,
                call_bearer_type: params.bearer,
                physical_channel_id: params.physical_channel_id,
                dialed_number_length: params.phone_number.len() as u16,
                dialing_number_length: params.dialing_number.len() as u16,
                dialed_number: params.phone_number,
                dialing_number: params.dialing_number,
                subaddress: params.subaddress,
            }),
        };
        self.enqueue(&repr)?;
        let mut call = Call::new(direction, CallState::WaitReply, now);
        call.snapshot.local_call_id = Some(local_call_id);
        call.snapshot.bearer = params.bearer;
        call.snapshot.framing = params.framing;
        call.snapshot.connect_speed = match self.role {
            Role::Client => 0,
            Role::Server => params.connect_speed,
        };
        call.local_recv_window = params.recv_window_size;
        call.local_processing_delay = params.processing_delay;
        call.deadline = Some(now + self.config.reply_timeout);
        let _ = self.calls.push(call);
        Ok(())
    }

    /// Accepts the peer's call request `peer_call_id` (from
    /// [`Event::CallRequested`]) under our call ID `local_call_id`. A
    /// server answers OCRP "Connected" and the call is up at once
    /// ([`Event::CallUp`]); a client answers ICRP "Connect" and the call is
    /// up when the server's Incoming-Call-Connected arrives.
    pub fn accept_call(
        &mut self,
        now: Instant,
        peer_call_id: u16,
        local_call_id: u16,
        accept: &CallAccept,
    ) -> Result<(), Error> {
        self.check_established()?;
        let index = self
            .find(|c| c.state() == CallState::WaitHost && c.peer_id() == Some(peer_call_id))
            .ok_or(Error::UnknownCall(peer_call_id))?;
        self.check_new_local_id(local_call_id)?;
        self.check_queue()?;
        let Some(call) = self.calls.get_mut(index) else {
            return Err(Error::UnknownCall(peer_call_id));
        };
        call.snapshot.local_call_id = Some(local_call_id);
        call.local_recv_window = accept.recv_window_size;
        call.local_processing_delay = accept.processing_delay;
        match call.snapshot.direction {
            CallDirection::Outgoing => {
                call.snapshot.connect_speed = accept.connect_speed;
                let repr = ControlRepr::Ocrp(Ocrp {
                    call_id: local_call_id,
                    peer_call_id,
                    result: OutgoingCallResult::Connected,
                    error: GeneralError::None,
                    cause_code: 0,
                    connect_speed: accept.connect_speed,
                    packet_recv_window_size: accept.recv_window_size,
                    packet_processing_delay: accept.processing_delay,
                    physical_channel_id: accept.physical_channel_id,
                });
                self.enqueue(&repr)?;
                self.call_established(now, index);
            }
            CallDirection::Incoming => {
                call.snapshot.state = CallState::WaitConnect;
                call.deadline = Some(now + self.config.reply_timeout);
                let repr = ControlRepr::Icrp(Icrp {
                    call_id: local_call_id,
                    peer_call_id,
                    result: IncomingCallResult::Connect,
                    error: GeneralError::None,
                    packet_recv_window_size: accept.recv_window_size,
                    packet_transmit_delay: accept.processing_delay,
                });
                self.enqueue(&repr)?;
            }
        }
        Ok(())
    }

    /// Refuses the peer's call request `peer_call_id`.
    pub fn reject_call(
        &mut self,
        now: Instant,
        peer_call_id: u16,
        refusal: CallRefusal,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.check_established()?;
        let index = self
            .find(|c| c.state() == CallState::WaitHost && c.peer_id() == Some(peer_call_id))
            .ok_or(Error::UnknownCall(peer_call_id))?;
        self.check_queue()?;
        self.send_refusal(index, refusal);
        self.remove_call(index, CallDownReason::Local);
        Ok(())
    }

    pub(super) fn send_refusal(&mut self, index: usize, refusal: CallRefusal) {
        let Some(call) = self.calls.get(index) else {
            return;
        };
        let peer = call.peer_id().unwrap_or(0);
        match (call.snapshot.direction, refusal) {
            (CallDirection::Outgoing, CallRefusal::DoNotAccept) => {
                self.send_ocrp_refusal(peer, OutgoingCallResult::DoNotAccept, GeneralError::None)
            }
            (CallDirection::Outgoing, CallRefusal::NoResource) => self.send_ocrp_refusal(
                peer,
                OutgoingCallResult::GeneralError,
                GeneralError::NoResource,
            ),
            (CallDirection::Incoming, CallRefusal::DoNotAccept) => {
                self.send_icrp_refusal(peer, IncomingCallResult::DoNotAccept, GeneralError::None)
            }
            (CallDirection::Incoming, CallRefusal::NoResource) => self.send_icrp_refusal(
                peer,
                IncomingCallResult::GeneralError,
                GeneralError::NoResource,
            ),
        }
    }

    /// Clears the call `local_call_id` (the PIX's `clear vpdn ... id N`).
    /// RFC 2637 §2.12/§2.13: a client sends Call-Clear-Request and the call
    /// goes down when the server's Call-Disconnect-Notify arrives (or after
    /// [`Config::reply_timeout`]); a server sends Call-Disconnect-Notify
    /// (result 3, Admin Shutdown) and the call is down at once. If the
    /// outbound queue is full the message is sent as soon as it has room.
    pub fn clear_call(&mut self, now: Instant, local_call_id: u16) -> Result<(), Error> {
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        let index = self
            .find(|c| c.local_id() == Some(local_call_id) && c.state() != CallState::WaitDisconnect)
            .ok_or(Error::UnknownCall(local_call_id))?;
        self.clear_at(now, index);
        Ok(())
    }

    /// Sends the clearing message for the call at `index`, or marks it
    /// pending when the queue is full.
    pub(super) fn clear_at(&mut self, now: Instant, index: usize) {
        let Some(call) = self.calls.get_mut(index) else {
            return;
        };
        if call.clear_pending || call.state() == CallState::WaitDisconnect {
            return;
        }
        if self.outbound.is_full() || self.events.is_full() {
            call.clear_pending = true;
            self.clears_pending += 1;
            return;
        }
        self.send_clear(now, index);
    }

    pub(super) fn send_clear(&mut self, now: Instant, index: usize) {
        let Some(call) = self.calls.get(index).copied() else {
            return;
        };
        if call.state() == CallState::WaitHost {
            // Not ours yet: refuse the request instead.
            self.send_refusal(index, CallRefusal::DoNotAccept);
            self.remove_call(index, CallDownReason::Local);
            return;
        }
        let local = call.local_id().unwrap_or(0);
        match self.role {
            Role::Client => {
                let _ = self.enqueue(&ControlRepr::Ccrq(Ccrq { call_id: local }));
                if let Some(c) = self.calls.get_mut(index) {
                    c.snapshot.state = CallState::WaitDisconnect;
                    c.deadline = Some(now + self.config.reply_timeout);
                }
            }
            Role::Server => {
                let _ = self.enqueue(&ControlRepr::Cdn(Cdn {
                    call_id: local,
                    result: DisconnectResult::AdminShutdown,
                    error: GeneralError::None,
                    cause_code: 0,
                    call_statistics: &[],
                }));
                self.remove_call(index, CallDownReason::Local);
            }
        }
    }

    /// Disconnects the call `local_call_id` with a Call-Disconnect-Notify
    /// carrying the given result, cause and call statistics (server only:
    /// RFC 2637 §2.13 has the PAC send CDN; the PIX puts its byte and
    /// packet counts in the statistics text). The call is down at once.
    /// Unlike [`Connection::clear_call`] this fails with
    /// [`Error::QueueFull`] rather than deferring, since the statistics are
    /// borrowed.
    pub fn disconnect_call(
        &mut self,
        now: Instant,
        local_call_id: u16,
        disconnect: &Disconnect<'_>,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        if self.state == State::Closed {
            return Err(Error::Closed);
        }
        if self.role != Role::Server {
            return Err(Error::WrongRole);
        }
        if disconnect.statistics.len() > STATS_FIELD_LEN {
            return Err(Error::FieldTooLong("call_statistics"));
        }
        let index = self
            .find(|c| c.local_id() == Some(local_call_id))
            .ok_or(Error::UnknownCall(local_call_id))?;
        self.enqueue(&ControlRepr::Cdn(Cdn {
            call_id: local_call_id,
            result: disconnect.result,
            error: disconnect.error,
            cause_code: disconnect.cause_code,
            call_statistics: disconnect.statistics,
        }))?;
        self.remove_call(index, CallDownReason::Local);
        self.pump(now);
        Ok(())
    }

    /// Clears every call but keeps the control connection (the PIX's
    /// `clear vpdn ... all` for one tunnel): each call is cleared as by
    /// [`Connection::clear_call`]; requests the host has not answered are
    /// refused ("Do Not Accept"). Messages that do not fit in the outbound
    /// queue are sent as it drains.
    pub fn clear_all_calls(&mut self, now: Instant) -> Result<(), Error> {
        self.check_established()?;
        for index in (0..self.calls.len()).rev() {
            self.clear_at(now, index);
        }
        self.pump(now);
        Ok(())
    }

    /// Sends Set-Link-Info for an established call (client only: RFC 2637
    /// §2.15 has the PNS send it) with the ACCMs PPP negotiated.
    pub fn set_link_info(
        &mut self,
        now: Instant,
        local_call_id: u16,
        send_accm: u32,
        receive_accm: u32,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.check_established()?;
        if self.role != Role::Client {
            return Err(Error::WrongRole);
        }
        let peer = self.established_peer(local_call_id)?;
        self.enqueue(&ControlRepr::Sli(Sli {
            peer_call_id: peer,
            send_accm,
            receive_accm,
        }))
    }

    /// Sends WAN-Error-Notify for an established call (server only: RFC
    /// 2637 §2.14 has the PAC send it).
    pub fn wan_error_notify(
        &mut self,
        now: Instant,
        local_call_id: u16,
        errors: &WanErrors,
    ) -> Result<(), Error> {
        self.last_now = self.last_now.max(now);
        self.check_established()?;
        if self.role != Role::Server {
            return Err(Error::WrongRole);
        }
        let peer = self.established_peer(local_call_id)?;
        self.enqueue(&ControlRepr::Wen(Wen {
            peer_call_id: peer,
            crc_errors: errors.crc_errors,
            framing_errors: errors.framing_errors,
            hardware_overruns: errors.hardware_overruns,
            buffer_overruns: errors.buffer_overruns,
            timeout_errors: errors.timeout_errors,
            alignment_errors: errors.alignment_errors,
        }))
    }

    pub(super) fn established_peer(&self, local_call_id: u16) -> Result<u16, Error> {
        self.calls
            .iter()
            .find(|c| c.local_id() == Some(local_call_id) && c.state() == CallState::Established)
            .and_then(Call::peer_id)
            .ok_or(Error::UnknownCall(local_call_id))
    }

    pub(super) fn call_timed_out(&mut self, index: usize) {
        let Some(call) = self.calls.get(index).copied() else {
            return;
        };
        let local = call.local_id().unwrap_or(0);
        match call.state() {
            CallState::WaitHost => match call.snapshot.direction {
                // RFC 2637 §2.8 result 6: not established in the time
                // the PAC allows.
                CallDirection::Outgoing => self.send_ocrp_refusal(
                    call.peer_id().unwrap_or(0),
                    OutgoingCallResult::TimeOut,
                    GeneralError::None,
                ),
                CallDirection::Incoming => self.send_icrp_refusal(
                    call.peer_id().unwrap_or(0),
                    IncomingCallResult::DoNotAccept,
                    GeneralError::None,
                ),
            },
            CallState::WaitReply | CallState::WaitConnect => match self.role {
                // Tell the peer to forget the half-made call.
                Role::Client => self.enqueue_or_count(&ControlRepr::Ccrq(Ccrq { call_id: local })),
                Role::Server => self.enqueue_or_count(&ControlRepr::Cdn(Cdn {
                    call_id: local,
                    result: DisconnectResult::GeneralError,
                    error: GeneralError::None,
                    cause_code: 0,
                    call_statistics: &[],
                })),
            },
            // No CDN for our CCRQ: give up on it.
            CallState::WaitDisconnect | CallState::Established => {}
        }
        self.remove_call(index, CallDownReason::Timeout);
        let peer_was_silent = call.state() != CallState::WaitHost;
        if peer_was_silent && self.config.close_on_call_timeout {
            // RFC 2637 §3: "If an expected reply does not arrive within
            // 60 seconds, the control connection is closed."
            self.enqueue_or_count(&ControlRepr::StopCcrq(StopCcrq {
                reason: StopReason::None,
            }));
            self.shut_down(TunnelDownReason::Timeout, true);
        }
    }

    pub(super) fn call_established(&mut self, now: Instant, index: usize) {
        let Some(call) = self.calls.get_mut(index) else {
            return;
        };
        call.snapshot.state = CallState::Established;
        call.snapshot.established_at = Some(now);
        call.deadline = None;
        let s = call.snapshot;
        self.stats.calls_established += 1;
        self.push_event(Event::CallUp(CallUp {
            local_call_id: s.local_call_id.unwrap_or(0),
            peer_call_id: s.peer_call_id.unwrap_or(0),
            direction: s.direction,
            peer_recv_window: s.peer_recv_window,
            peer_processing_delay: s.peer_processing_delay,
            framing: s.framing,
            bearer: s.bearer,
            connect_speed: s.connect_speed,
        }));
    }

    pub(super) fn remove_call(&mut self, index: usize, reason: CallDownReason) {
        if index >= self.calls.len() {
            return;
        }
        let call = self.calls.swap_remove(index);
        if call.clear_pending {
            self.clears_pending = self.clears_pending.saturating_sub(1);
        }
        self.push_event(Event::CallDown(CallDown {
            local_call_id: call.local_id(),
            peer_call_id: call.peer_id(),
            reason,
        }));
    }
}
