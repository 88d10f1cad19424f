//! PAP (RFC 1334 §2): the authenticator waits for an Authenticate-Request
//! and answers Ack or Nak; the peer sends the request and retransmits it
//! until answered.

use super::aaa::{AuthRequest, AuthResponse, Verdict, Verifier};
use super::credentials::{NameMatch, Password, Secret};
use super::{
    name_from, AuthenticatorConfig, Event, Events, Failure, FailureReason, Message, Method, Name,
    PeerConfig, SetupError, Success,
};
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::auth::{PapRepr, PROTOCOL_PAP};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AuthPhase {
    Waiting,
    AwaitingVerdict,
    Acked,
    Naked,
}

/// The PAP authenticator.
#[derive(Clone, Debug)]
pub struct PapAuthenticator {
    config: AuthenticatorConfig,
    phase: AuthPhase,
    timer: Option<Instant>,
    reply_identifier: u8,
    reply_message: Message,
    send_reply: bool,
    username: Name,
    events: Events,
}

impl PapAuthenticator {
    /// Starts waiting for the peer's Authenticate-Request; gives up after
    /// [`AuthenticatorConfig::wait_timeout`] (RFC 1334 §2.1 leaves the
    /// wait to the implementation; pppd's pap-timeout).
    pub fn new(config: AuthenticatorConfig, now: Instant) -> Self {
        let timer = Some(now + config.wait_timeout);
        PapAuthenticator {
            config,
            phase: AuthPhase::Waiting,
            timer,
            reply_identifier: 0,
            reply_message: Message::new(),
            send_reply: false,
            username: Name::new(),
            events: Events::default(),
        }
    }

    fn receive(&mut self, packet: &[u8]) -> Option<AuthRequest> {
        let Ok(PapRepr::AuthenticateRequest {
            identifier,
            peer_id,
            password,
        }) = PapRepr::parse_bytes(packet)
        else {
            // Acks/Naks are for a PAP peer; malformed packets are dropped.
            return None;
        };
        match self.phase {
            AuthPhase::Waiting => {
                // Peer-ID and password are at most 255 octets (one-octet
                // lengths), so both copies succeed.
                let username = name_from(peer_id)?;
                let password = Password::new(password).ok()?;
                self.phase = AuthPhase::AwaitingVerdict;
                self.timer = None;
                self.reply_identifier = identifier;
                self.username = username.clone();
                Some(AuthRequest {
                    method: Method::Pap,
                    username,
                    identifier,
                    response: AuthResponse::Pap { password },
                })
            }
            // A retransmitted request while the verdict is pending: the
            // host already has it.
            AuthPhase::AwaitingVerdict => None,
            AuthPhase::Acked | AuthPhase::Naked => {
                // RFC 1334 §2.2.1: the request is retransmitted when the
                // Ack/Nak is lost; answer again with the same verdict and
                // the new Identifier.
                self.reply_identifier = identifier;
                self.send_reply = true;
                None
            }
        }
    }

    /// Handles a received packet; a request becomes [`Event::AuthRequest`].
    pub fn handle_packet(&mut self, _now: Instant, packet: &[u8]) {
        if let Some(request) = self.receive(packet) {
            self.events.push(Event::AuthRequest(request));
        }
    }

    /// Handles a received packet, deciding at once with `verifier`.
    pub fn handle_packet_with<V: Verifier + ?Sized>(
        &mut self,
        now: Instant,
        packet: &[u8],
        verifier: &V,
    ) {
        if let Some(request) = self.receive(packet) {
            let verdict = verifier.decide(&request);
            // The request was just accepted for a verdict, so this succeeds.
            let _ = self.verdict(now, verdict);
        }
    }

    /// Delivers the verdict for the pending request.
    pub fn verdict(&mut self, _now: Instant, verdict: Verdict) -> Result<(), SetupError> {
        if self.phase != AuthPhase::AwaitingVerdict {
            return Err(SetupError::NotWaiting);
        }
        self.send_reply = true;
        match verdict {
            Verdict::Accept(accept) => {
                self.phase = AuthPhase::Acked;
                self.reply_message = if accept.message.is_empty() {
                    self.config.success_message.clone()
                } else {
                    accept.message.clone()
                };
                self.events.push(Event::Success(Success {
                    method: Method::Pap,
                    username: self.username.clone(),
                    key_material: accept.key_material.clone(),
                    attributes: accept.attributes,
                    name_match: accept.name_match,
                    reauthentication: false,
                }));
            }
            Verdict::Reject(reject) => {
                // RFC 1334 §2.2.2: a Nak is final; the link should end.
                self.phase = AuthPhase::Naked;
                self.reply_message = if reject.message.is_empty() {
                    self.config.failure_message.clone()
                } else {
                    reject.message.clone()
                };
                self.events.push(Event::Failure(Failure {
                    method: Method::Pap,
                    username: self.username.clone(),
                    reason: reject.reason,
                }));
            }
        }
        Ok(())
    }

    /// Whether a reply waits for [`PapAuthenticator::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        self.send_reply && matches!(self.phase, AuthPhase::Acked | AuthPhase::Naked)
    }

    /// Writes the pending Ack or Nak into `buf`.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        if !self.send_reply {
            return None;
        }
        let identifier = self.reply_identifier;
        let message = &self.reply_message[..];
        let repr = match self.phase {
            AuthPhase::Acked => PapRepr::AuthenticateAck {
                identifier,
                message,
            },
            AuthPhase::Naked => PapRepr::AuthenticateNak {
                identifier,
                message,
            },
            _ => return None,
        };
        let len = repr.emit(buf).ok()?;
        self.send_reply = false;
        Some(Transmit {
            to: PROTOCOL_PAP,
            len,
        })
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Gives up when no request came in time.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timer.is_some_and(|t| now >= t) && self.phase == AuthPhase::Waiting {
            self.timer = None;
            self.phase = AuthPhase::Naked;
            self.events.push(Event::Failure(Failure {
                method: Method::Pap,
                username: Name::new(),
                reason: FailureReason::Timeout,
            }));
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerPhase {
    Requesting,
    Done,
}

/// The PAP peer: sends Peer-ID and password until Ack or Nak.
#[derive(Clone, Debug)]
pub struct PapPeer {
    config: PeerConfig,
    phase: PeerPhase,
    username: Name,
    password: Option<Password>,
    identifier: u8,
    transmissions: u8,
    send: bool,
    timer: Option<Instant>,
    events: Events,
}

impl PapPeer {
    /// Creates the peer; the first `poll_transmit` sends the request with
    /// `identifier`. A hash-only secret cannot do PAP: the machine then
    /// reports [`FailureReason::CleartextRequired`] at once.
    pub fn new(
        config: PeerConfig,
        now: Instant,
        username: &[u8],
        secret: Secret,
        identifier: u8,
    ) -> Result<Self, SetupError> {
        let name = name_from(username).ok_or(SetupError::NameTooLong {
            length: username.len(),
        })?;
        let mut events = Events::default();
        let (phase, password) = match secret.cleartext() {
            Ok(password) => (PeerPhase::Requesting, Some(password.clone())),
            Err(_) => {
                events.push(Event::Failure(Failure {
                    method: Method::Pap,
                    username: name.clone(),
                    reason: FailureReason::CleartextRequired,
                }));
                (PeerPhase::Done, None)
            }
        };
        Ok(PapPeer {
            config,
            phase,
            username: name,
            password,
            identifier,
            transmissions: 0,
            send: phase == PeerPhase::Requesting,
            timer: (phase == PeerPhase::Requesting).then_some(now),
            events,
        })
    }

    /// Handles a received Ack or Nak.
    pub fn handle_packet(&mut self, _now: Instant, packet: &[u8]) {
        if self.phase != PeerPhase::Requesting {
            return;
        }
        // Only an answer to the latest request counts; an answer to an
        // earlier one is followed by an answer to the retransmission.
        match PapRepr::parse_bytes(packet) {
            Ok(PapRepr::AuthenticateAck { identifier, .. }) if identifier == self.identifier => {
                self.finish(None);
            }
            Ok(PapRepr::AuthenticateNak { identifier, .. }) if identifier == self.identifier => {
                self.finish(Some(FailureReason::RejectedByAuthenticator {
                    error_code: None,
                    retry_allowed: false,
                }));
            }
            _ => {}
        }
    }

    fn finish(&mut self, failure: Option<FailureReason>) {
        self.phase = PeerPhase::Done;
        self.timer = None;
        self.send = false;
        self.events.push(match failure {
            None => Event::Success(Success {
                method: Method::Pap,
                username: self.username.clone(),
                key_material: None,
                attributes: Default::default(),
                name_match: NameMatch::AsSent,
                reauthentication: false,
            }),
            Some(reason) => Event::Failure(Failure {
                method: Method::Pap,
                username: self.username.clone(),
                reason,
            }),
        });
    }

    /// Whether a request waits for [`PapPeer::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        self.send && self.phase == PeerPhase::Requesting
    }

    /// Writes the Authenticate-Request when one is due.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        if !self.send || self.phase != PeerPhase::Requesting {
            return None;
        }
        let password = self.password.as_ref()?;
        let repr = PapRepr::AuthenticateRequest {
            identifier: self.identifier,
            peer_id: &self.username,
            password: password.as_bytes(),
        };
        let len = repr.emit(buf).ok()?;
        self.send = false;
        self.transmissions = self.transmissions.saturating_add(1);
        self.timer = Some(now + self.config.restart_interval);
        Some(Transmit {
            to: PROTOCOL_PAP,
            len,
        })
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.send {
            // Due now: the request waits for `poll_transmit`.
            return None;
        }
        self.timer
    }

    /// Retransmits the request, or gives up after
    /// [`PeerConfig::max_transmissions`].
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase != PeerPhase::Requesting || self.send || self.timer.is_none_or(|t| now < t) {
            return;
        }
        if self.transmissions >= self.config.max_transmissions {
            self.finish(Some(FailureReason::Timeout));
            return;
        }
        // pppd changes the Identifier on each transmission so an answer can
        // be matched to the latest request.
        self.identifier = self.identifier.wrapping_add(1);
        self.send = true;
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }
}
