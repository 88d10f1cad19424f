//! The phase machine (RFC 1661 §3.2): control frames in and out, and the
//! sub-machines' events driving LCP → authentication → IPCP/CCP.

#[cfg(feature = "mppe")]
use super::encryption::start_keys;
#[cfg(feature = "mppe")]
use super::mschapv1_keys::lm_candidate;
use super::{Delivered, EndReason, Error, Link, LinkEvent, Phase, Role};
use crate::auth::{self, Authenticator, FailureReason, Peer, Verifier};
use crate::fsm::{LayerEvent, State};
use crate::lcp::LcpEvent;
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::frame::{self, protocol};

impl Link {
    pub(super) fn dispatch(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        proto: u16,
        header_len: usize,
        verifier: Option<&dyn Verifier>,
    ) -> Result<Option<Delivered>, Error> {
        let info_range = header_len..frame.len();
        match proto {
            protocol::LCP => {
                let info = frame.get(info_range).unwrap_or(&[]);
                self.lcp.handle_input(now, info).map_err(|error| {
                    self.data.counters.dropped_control += 1;
                    Error::Control {
                        protocol: proto,
                        error,
                    }
                })?;
                Ok(None)
            }
            protocol::PAP | protocol::CHAP => {
                let info = frame.get(info_range).unwrap_or(&[]);
                let mut taken = false;
                let mut ignored = false;
                if let Some(auth) = self.authenticator.as_mut() {
                    if auth.method().protocol() == proto {
                        let before = auth.ignored_responses();
                        match verifier {
                            Some(v) => auth.handle_packet_with(now, info, v),
                            None => auth.handle_packet(now, info),
                        }
                        ignored = auth.ignored_responses() != before;
                        taken = true;
                    }
                }
                if ignored {
                    // A Response to an earlier Challenge (RFC 1994 §4.1: it
                    // must carry the current Identifier): dropped, counted.
                    self.data.counters.dropped_control += 1;
                    let identifier = info.get(1).copied().unwrap_or(0);
                    return Err(Error::StaleResponse { identifier });
                }
                if let Some(peer) = self.peer.as_mut() {
                    if peer.method().protocol() == proto {
                        peer.handle_packet(now, info);
                        taken = true;
                    }
                }
                if taken {
                    Ok(None)
                } else {
                    self.data.counters.dropped_phase += 1;
                    Err(Error::WrongPhase { protocol: proto })
                }
            }
            protocol::IPCP => {
                if self.phase != Phase::Network || !self.ipcp_started {
                    self.data.counters.dropped_phase += 1;
                    return Err(Error::WrongPhase { protocol: proto });
                }
                let info = frame.get(info_range).unwrap_or(&[]);
                self.ipcp.handle_packet(now, info).map_err(|error| {
                    self.data.counters.dropped_control += 1;
                    Error::Control {
                        protocol: proto,
                        error,
                    }
                })?;
                Ok(None)
            }
            #[cfg(feature = "mppe")]
            protocol::CCP => self.handle_ccp(now, frame.get(info_range).unwrap_or(&[])),
            protocol::IPV4 => {
                if !self.data_ready {
                    self.data.counters.dropped_phase += 1;
                    return Err(Error::NotReady);
                }
                self.data
                    .receive_plain(header_len, frame.len(), self.encryption_required())
                    .map(Some)
            }
            #[cfg(feature = "mppe")]
            protocol::COMPRESSED => self.receive_mppe(now, frame, header_len),
            other => {
                // RFC 1661 §5.7: Protocol-Reject, in Opened only.
                let info = frame.get(info_range).unwrap_or(&[]);
                self.lcp.send_protocol_reject(other, info);
                self.data.counters.dropped_unsupported += 1;
                Err(Error::ProtocolRejected { protocol: other })
            }
        }
    }

    pub(super) fn next_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        if self.lower_is_down {
            return None;
        }
        if self.finished {
            // After the end only LCP's last word (a Terminate-Ack) goes.
            return self.lcp.poll_transmit_frame(buf);
        }
        // LCP first, so its final Ack precedes the first Challenge; but a
        // pending close waits for the authentication verdict to go out
        // (the Failure before the Terminate-Request).
        if self.pending_close.is_none() {
            if let Some(t) = self.lcp.poll_transmit_frame(buf) {
                return Some(t);
            }
        }
        let send = self.lcp.negotiated().send;
        let hl = frame::header_len(protocol::CHAP, send);
        if let Some(body) = buf.get_mut(hl..) {
            let mut out = None;
            if let Some(a) = self.authenticator.as_mut() {
                out = a.poll_transmit(now, body);
            }
            if out.is_none() {
                if let Some(p) = self.peer.as_mut() {
                    out = p.poll_transmit(now, body);
                }
            }
            if let Some(t) = out {
                if frame::emit_header(t.to, send, buf).is_ok() {
                    return Some(Transmit {
                        len: hl + t.len,
                        to: t.to,
                    });
                }
            }
        }
        if let Some(reason) = self.pending_close.take() {
            self.close_lcp(now, reason);
            if let Some(t) = self.lcp.poll_transmit_frame(buf) {
                return Some(t);
            }
        }
        // CCP before IPCP: when CCP opens with a Configure-Ack of ours
        // and IPCP's request goes again at once (ipcp_after_ccp_opened),
        // a peer that holds IPCP until CCP opens (pppd with require-mppe)
        // must see the Ack first. pppd sends CCP first too (auth.c
        // start_networks opens CCP before the other NCPs).
        #[cfg(feature = "mppe")]
        if let Some(t) = self.ccp.poll_transmit_frame(send, buf) {
            return Some(t);
        }
        if let Some(t) = self.ipcp.poll_transmit_frame(send, buf) {
            return Some(t);
        }
        None
    }

    pub(super) fn push(&mut self, event: LinkEvent) {
        if self.finished && !matches!(event, LinkEvent::Down(_)) {
            return;
        }
        if self.events.is_full() {
            let _ = self.events.pop_front();
        }
        let _ = self.events.push_back(event);
    }

    pub(super) fn set_phase(&mut self, phase: Phase) {
        if self.phase != phase {
            self.phase = phase;
            self.push(LinkEvent::Phase(phase));
        }
    }

    pub(super) fn end(&mut self, reason: EndReason) {
        if self.finished {
            return;
        }
        let reason = *self.end_reason.get_or_insert(reason);
        self.data_ready = false;
        self.ipcp_started = false;
        #[cfg(feature = "mppe")]
        {
            self.data.mppe = None;
            self.keys = None;
            self.lm_candidate = None;
            self.key_trial = None;
        }
        self.authenticator = None;
        self.peer = None;
        self.set_phase(Phase::Dead);
        self.push(LinkEvent::Down(reason));
        self.finished = true;
    }

    /// Starts terminating for `reason` (kept as the end reason).
    pub(super) fn terminate(&mut self, now: Instant, reason: EndReason) {
        if self.end_reason.is_none() {
            self.end_reason = Some(reason);
        }
        self.ncps_down(now);
        self.close_lcp(now, reason);
    }

    pub(super) fn close_lcp(&mut self, now: Instant, reason: EndReason) {
        self.set_phase(Phase::Terminate);
        self.lcp
            .close_with_message(now, reason.lcp_reason(), reason.description().as_bytes());
    }

    pub(super) fn ncps_down(&mut self, now: Instant) {
        // The NCPs' lower layer (LCP in Opened) is gone: IPCP reports its
        // Down through its own event.
        self.ipcp.down(now);
        #[cfg(feature = "mppe")]
        self.ccp.down(now);
        self.data_ready = false;
        self.ipcp_started = false;
        #[cfg(feature = "mppe")]
        {
            self.data.mppe = None;
        }
        self.ccp_settled = false;
    }

    /// Processes every sub-machine's events until nothing changes.
    pub(super) fn drive(&mut self, now: Instant) {
        for _ in 0..8 {
            let mut changed = false;
            while let Some(ev) = self.lcp.poll_event() {
                changed = true;
                self.on_lcp_event(now, ev);
            }
            changed |= self.auth_events(now);
            while let Some(ev) = self.ipcp.poll_event() {
                changed = true;
                self.on_ipcp_event(now, ev);
            }
            #[cfg(feature = "mppe")]
            while let Some(ev) = self.ccp.poll_event() {
                changed = true;
                self.on_ccp_event(now, ev);
            }
            self.update_data_ready();
            if !changed {
                break;
            }
        }
    }

    pub(super) fn on_lcp_event(&mut self, now: Instant, ev: LcpEvent) {
        match ev {
            LcpEvent::Started => {}
            LcpEvent::Up => self.start_authentication(now),
            LcpEvent::Down => {
                // Renegotiation or termination: everything above LCP
                // starts over (RFC 1661 §3.2).
                self.encryption_refused_hint = self.peer_refused_our_plaintext();
                self.ncps_down(now);
                self.authenticator = None;
                self.peer = None;
                self.authenticator_done = false;
                self.peer_done = false;
                #[cfg(feature = "mppe")]
                {
                    // Keys belong to one authentication.
                    self.keys = None;
                    self.lm_candidate = None;
                    self.key_trial = None;
                }
                let terminating = matches!(self.lcp.state(), State::Closing | State::Stopping);
                self.set_phase(if terminating || self.end_reason.is_some() {
                    Phase::Terminate
                } else {
                    Phase::Establish
                });
            }
            LcpEvent::Finished(reason) => {
                let mut reason = EndReason::Lcp(reason);
                if reason == EndReason::PeerTerminated && self.encryption_refused_hint {
                    reason = EndReason::EncryptionRefused;
                }
                self.end(reason);
            }
            LcpEvent::Identification { message, .. } => {
                self.push(LinkEvent::Identification(message))
            }
            LcpEvent::TimeRemaining { .. } | LcpEvent::MagicNumbersLow => {}
            LcpEvent::ProtocolRejected(proto) => {
                self.push(LinkEvent::ProtocolRejected(proto));
                match proto {
                    protocol::IPCP => {
                        self.ipcp.protocol_rejected(now);
                    }
                    #[cfg(feature = "mppe")]
                    protocol::CCP => {
                        self.ccp.protocol_rejected(now);
                    }
                    _ => {}
                }
            }
        }
    }

    #[cfg(not(feature = "mppe"))]
    pub(super) fn peer_refused_our_plaintext(&self) -> bool {
        false
    }

    #[cfg(not(feature = "mppe"))]
    pub(super) fn encryption_required(&self) -> bool {
        false
    }

    pub(super) fn start_authentication(&mut self, now: Instant) {
        let negotiated = *self.lcp.negotiated();
        self.authenticator_done = true;
        self.peer_done = true;
        if let Some(method) = negotiated.peer_auth {
            let len = method.challenge_len().unwrap_or(16);
            let challenge = &self.entropy.challenge[..len];
            // RFC 1994 §4.1: the host's random Identifier, not a constant.
            let identifier = self.entropy.identifier;
            match Authenticator::new(method, self.config_auth.clone(), now, identifier, challenge) {
                Ok(a) => {
                    self.challenge_identifier = Some(identifier);
                    self.authenticator = Some(a);
                    self.authenticator_done = false;
                }
                Err(_) => {
                    self.terminate(now, EndReason::AuthFailed(FailureReason::Timeout));
                    return;
                }
            }
        }
        if let Some(method) = negotiated.local_auth {
            let Some(creds) = self.credentials.as_ref() else {
                // LCP only agrees to methods in `auth_allowed`; without
                // credentials we cannot prove anything.
                self.terminate(now, EndReason::NoCommonAuth);
                return;
            };
            let peer_challenge = Some(self.entropy.challenge);
            match Peer::new(
                method,
                self.config_peer,
                now,
                &creds.username,
                creds.secret.clone(),
                1,
                peer_challenge,
            ) {
                Ok(p) => {
                    self.peer = Some(p);
                    self.peer_done = false;
                }
                Err(_) => {
                    self.terminate(now, EndReason::NoCommonAuth);
                    return;
                }
            }
        }
        if self.authenticator_done && self.peer_done {
            self.start_network(now);
        } else {
            self.set_phase(Phase::Authenticate);
        }
    }

    pub(super) fn auth_events(&mut self, now: Instant) -> bool {
        let mut changed = false;
        while let Some(ev) = self.authenticator.as_mut().and_then(|a| a.poll_event()) {
            changed = true;
            self.on_auth_event(now, ev, true);
        }
        while let Some(ev) = self.peer.as_mut().and_then(|p| p.poll_event()) {
            changed = true;
            self.on_auth_event(now, ev, false);
        }
        changed
    }

    pub(super) fn on_auth_event(&mut self, now: Instant, ev: auth::Event, as_authenticator: bool) {
        match ev {
            auth::Event::AuthRequest(req) => {
                // A re-authentication keeps the name of the first: the
                // session (its address, accounting, per-user limit) is
                // that user's; Success checks the new name against it.
                if !self.reauthenticating(as_authenticator) {
                    self.username = req.username.clone();
                }
                self.auth_request = Some(req);
                self.push(LinkEvent::AuthRequest);
            }
            auth::Event::ChallengeNeeded => self.push(LinkEvent::ChallengeNeeded),
            auth::Event::PasswordChanged(change) => {
                self.password_change = Some(change);
                self.push(LinkEvent::PasswordChanged);
            }
            auth::Event::Success(s) => {
                if s.reauthentication {
                    // RFC 3079 §2/§3: MPPE keys come from the first
                    // authentication; a re-challenge leaves them (and the
                    // data path) alone, as Windows and pppd do.
                    if as_authenticator && s.username[..] != self.username[..] {
                        // The peer re-authenticated as someone else: the
                        // session is not theirs to take over.
                        self.push(LinkEvent::AuthFailed {
                            method: s.method,
                            reason: FailureReason::UnknownUser,
                        });
                        self.terminate(now, EndReason::AuthFailed(FailureReason::UnknownUser));
                    } else {
                        self.push(LinkEvent::Reauthenticated { method: s.method });
                    }
                    return;
                }
                #[cfg(feature = "mppe")]
                if let Some(material) = s.key_material.as_ref() {
                    self.keys = Some(start_keys(material, self.role));
                    // A local store's per-user setting overrides the
                    // link's (the client has no store: its own setting).
                    let setting = s.attributes.mschapv1_keys.unwrap_or(self.mschapv1_keys);
                    self.lm_candidate = lm_candidate(material, setting, self.role);
                }
                if as_authenticator {
                    if let Some(a) = s.attributes.address {
                        self.ipcp.handler_mut().set_peer_address(Some(a));
                        self.address_known = true;
                    }
                    if s.attributes.primary_dns.is_some() {
                        let dns = [s.attributes.primary_dns, s.attributes.secondary_dns];
                        self.ipcp.handler_mut().set_dns(dns);
                    }
                    if s.attributes.primary_nbns.is_some() {
                        let nbns = [s.attributes.primary_nbns, s.attributes.secondary_nbns];
                        self.ipcp.handler_mut().set_nbns(nbns);
                    }
                    self.authenticator_done = true;
                } else {
                    self.peer_done = true;
                }
                self.username = s.username.clone();
                self.push(LinkEvent::Authenticated {
                    method: s.method,
                    attributes: s.attributes,
                    name_match: s.name_match,
                });
                if self.authenticator_done && self.peer_done && self.phase == Phase::Authenticate {
                    self.start_network(now);
                }
            }
            auth::Event::Failure(f) => {
                if !self.reauthenticating(as_authenticator) {
                    self.username = f.username.clone();
                }
                self.push(LinkEvent::AuthFailed {
                    method: f.method,
                    reason: f.reason,
                });
                // E=648: the host may answer with `change_password`
                // (RFC 2759 §7).
                let retry = matches!(
                    f.reason,
                    FailureReason::RejectedByAuthenticator {
                        retry_allowed: true,
                        ..
                    } | FailureReason::RejectedByAuthenticator {
                        error_code: Some(crate::wire::auth::ERROR_PASSWD_EXPIRED),
                        ..
                    }
                );
                if !as_authenticator && retry && self.auth_retry {
                    // RFC 2759 §6 / RFC 2433 "Failure Packet": the authenticator waits
                    // for a new Response; the host decides.
                    return;
                }
                let reason = EndReason::AuthFailed(f.reason);
                self.end_reason.get_or_insert(reason);
                self.ncps_down(now);
                // Let the Failure packet go out before the Terminate.
                self.pending_close = Some(reason);
            }
        }
    }

    /// Whether an authenticator event belongs to a re-authentication: the
    /// peer proved itself before (RFC 1994 §3, a Challenge in the Network
    /// phase).
    fn reauthenticating(&self, as_authenticator: bool) -> bool {
        as_authenticator && self.authenticator_done && self.phase == Phase::Network
    }

    pub(super) fn start_network(&mut self, now: Instant) {
        self.set_phase(Phase::Network);
        #[cfg(feature = "mppe")]
        if !self.start_ccp(now) {
            return;
        }
        self.ccp_settled = false;
        if self.role == Role::Server && !self.address_known {
            self.address_requested = true;
            self.push(LinkEvent::AddressNeeded);
        }
        self.maybe_start_ipcp(now);
    }

    pub(super) fn maybe_start_ipcp(&mut self, now: Instant) {
        if self.phase != Phase::Network || self.ipcp_started {
            return;
        }
        if self.role == Role::Server && !self.address_known {
            return;
        }
        self.ipcp_started = true;
        self.ipcp.open(now);
        self.ipcp.up(now);
    }

    pub(super) fn on_ipcp_event(&mut self, now: Instant, ev: LayerEvent) {
        match ev {
            LayerEvent::Up => {
                let n = *self.ipcp.handler().negotiated();
                self.push(LinkEvent::IpcpUp(n));
            }
            LayerEvent::Down(_) => {
                self.push(LinkEvent::IpcpDown);
                self.data_ready = false;
            }
            LayerEvent::Started => {}
            LayerEvent::Finished(_) => {
                // Without IPCP the link carries nothing (IPv6CP and others
                // are not supported): end it.
                if self.phase == Phase::Network && self.end_reason.is_none() {
                    self.terminate(now, EndReason::IpcpFailed);
                }
            }
        }
    }

    /// Once IP flows the peer has had our Success: it reaches IPCP only
    /// after it. A finished authenticator with no timer (no periodic
    /// re-challenge) and nothing to send is dropped then; a later copy of
    /// the peer's Response is a stray from before, not the lost-Success
    /// case of RFC 1994 §4.1, and is discarded as out of phase. (The
    /// peer side is kept: the authenticator may challenge again at any
    /// time, RFC 1994 §3.)
    /// The same holds after a re-authentication's Success has gone out
    /// ([`Link::reauthenticate`]); one still running is kept.
    pub(super) fn retire_authenticator(&mut self) {
        let finished = self.authenticator_done
            && self.authenticator.as_ref().is_some_and(|a| {
                let settled = a.is_idle() || a.method() == auth::Method::Pap;
                settled && a.poll_timeout().is_none() && !a.has_transmit()
            });
        if finished {
            self.authenticator = None;
        }
    }

    pub(super) fn update_data_ready(&mut self) {
        #[cfg(feature = "mppe")]
        let ccp_ok = self.data.mppe.is_some()
            || (!self.policy.required
                && (self.ccp_settled || !self.ccp.handler().policy().enabled()));
        #[cfg(not(feature = "mppe"))]
        let ccp_ok = true;
        let ready = !self.finished
            && self.phase == Phase::Network
            && self.ipcp.state() == State::Opened
            && ccp_ok;
        if ready && !self.data_ready {
            self.data_ready = true;
            self.retire_authenticator();
            self.push(LinkEvent::DataReady);
        } else if ready {
            self.retire_authenticator();
        } else {
            self.data_ready = false;
        }
    }
}
