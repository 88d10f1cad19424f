//! CHAP (RFC 1994) with MD5, MS-CHAPv1 (RFC 2433) and MS-CHAPv2 (RFC
//! 2759): the authenticator sends Challenges and judges Responses; the
//! peer answers Challenges and, for MS-CHAPv2, checks the authenticator's
//! proof in the Success message.

use super::aaa::{AuthRequest, AuthResponse, Verdict, Verifier};
use super::credentials::{NameMatch, NtHash, Secret};
use super::{
    crypto, name_from, AuthenticatorConfig, Challenge, Event, Events, Failure, FailureReason,
    Message, Method, MppeKeyMaterial, Name, PasswordChange, PeerConfig, SetupError, Success,
    MAX_CHALLENGE_LEN,
};
use crate::auth::crypto::PW_BLOCK_PASSWORD_LEN;
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::auth::{
    ChapRepr, FailureChallenge, MsChapFailure, MsChapV1ChangePassword, MsChapV1ChangePasswordV1,
    MsChapV1Response, MsChapV2ChangePassword, MsChapV2Response, MsChapV2Success,
    CHANGE_PASSWORD_FLAG_USE_NT, ERROR_AUTHENTICATION_FAILURE, ERROR_PASSWD_EXPIRED,
    MSCHAP_RESPONSE_LEN, PROTOCOL_CHAP,
};

/// Longest Success/Failure message the authenticator builds: "S=" + 40
/// hex + " M=" + message, or `E=… R=… C=<32 hex> V=3 M=` + message.
const REPLY_LEN: usize = 64 + super::MAX_MESSAGE_LEN;

fn check_challenge(method: Method, challenge: &[u8]) -> Result<Challenge, SetupError> {
    let ok = match method.challenge_len() {
        Some(len) => challenge.len() == len,
        None => !challenge.is_empty() && challenge.len() <= MAX_CHALLENGE_LEN,
    };
    if !ok || method == Method::Pap {
        return Err(SetupError::ChallengeLength {
            method,
            length: challenge.len(),
        });
    }
    Challenge::from_slice(challenge).map_err(|_| SetupError::ChallengeLength {
        method,
        length: challenge.len(),
    })
}

fn array<const N: usize>(bytes: &[u8]) -> Option<[u8; N]> {
    bytes.try_into().ok()
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum NeedFor {
    RetryFailure,
    /// The `E=648` Failure offering Change-Password.
    ChangePasswordFailure,
    Rechallenge,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Challenge sent (or due); waiting for the Response.
    Challenging,
    /// Response handed to the verifier; waiting for `verdict`.
    AwaitingVerdict,
    /// Waiting for the host's next challenge.
    NeedChallenge(NeedFor),
    /// MS-CHAP Failure with R=1 sent; waiting for a new Response.
    RetryWait,
    /// MS-CHAP Failure with E=648 sent; waiting for Change-Password
    /// (RFC 2759 §7; MS-CHAPv1: RFC 2433 codes 5 and 6).
    ChangePasswordWait,
    /// Success sent.
    Succeeded,
    /// Final Failure sent (or timed out).
    Failed,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Tx {
    Challenge,
    Success,
    Failure,
}

/// The CHAP authenticator (MD5, MS-CHAPv1 or MS-CHAPv2).
#[derive(Clone, Debug)]
pub struct ChapAuthenticator {
    method: Method,
    config: AuthenticatorConfig,
    phase: Phase,
    /// Identifier of the current Challenge.
    identifier: u8,
    /// The challenge the next Response must answer.
    challenge: Challenge,
    fresh: heapless::Deque<Challenge, 2>,
    transmissions: u8,
    timer: Option<Instant>,
    retries_used: u8,
    /// The rejection a pending retry answers: its message goes in the
    /// "R=1" Failure, its reason is reported if the retry never comes.
    rejected: Option<(FailureReason, Message)>,
    authenticated: bool,
    /// E=648 was sent in this exchange: one password change per
    /// exchange, and its verdict is final (no R=1 retry after it).
    change_offered: bool,
    /// Identifier of the Response last answered with Success/Failure.
    answered: Option<u8>,
    /// Responses ignored: a stale Identifier (an earlier Challenge's), or a
    /// repeat while the verdict is pending.
    ignored_responses: u32,
    reply: heapless::Vec<u8, REPLY_LEN>,
    tx: Option<Tx>,
    username: Name,
    events: Events,
}

impl ChapAuthenticator {
    /// Creates the authenticator; the first `poll_transmit` sends a
    /// Challenge with `identifier` and `challenge` (8 octets for
    /// MS-CHAPv1, 16 for MS-CHAPv2, 1 to 64 for MD5; 16 is typical).
    pub fn new(
        method: Method,
        config: AuthenticatorConfig,
        identifier: u8,
        challenge: &[u8],
    ) -> Result<Self, SetupError> {
        let challenge = check_challenge(method, challenge)?;
        Ok(ChapAuthenticator {
            method,
            config,
            phase: Phase::Challenging,
            identifier,
            challenge,
            fresh: heapless::Deque::new(),
            transmissions: 0,
            timer: None,
            retries_used: 0,
            rejected: None,
            authenticated: false,
            change_offered: false,
            answered: None,
            ignored_responses: 0,
            reply: heapless::Vec::new(),
            tx: Some(Tx::Challenge),
            username: Name::new(),
            events: Events::default(),
        })
    }

    /// An authenticator for a re-authentication in the Network phase (RFC
    /// 1994 §3: the authenticator may send a new Challenge at any time):
    /// as [`ChapAuthenticator::new`], but the peer has already proved
    /// itself once, so its [`Success`] is marked
    /// [`Success::reauthentication`] and a rejection is final (no MS-CHAP
    /// retry: the retry of RFC 2433/2759 is for the first login).
    pub fn new_reauthentication(
        method: Method,
        config: AuthenticatorConfig,
        identifier: u8,
        challenge: &[u8],
    ) -> Result<Self, SetupError> {
        let mut authenticator = ChapAuthenticator::new(method, config, identifier, challenge)?;
        authenticator.authenticated = true;
        Ok(authenticator)
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The Identifier of the current Challenge.
    pub fn identifier(&self) -> u8 {
        self.identifier
    }

    /// Whether the exchange is settled in success and nothing waits to go
    /// out: the peer has had its Success and no Challenge is outstanding
    /// (a periodic re-challenge may be waiting for its challenge). Only
    /// then may the link replace this machine with a new Challenge.
    pub fn is_idle(&self) -> bool {
        matches!(
            self.phase,
            Phase::Succeeded | Phase::NeedChallenge(NeedFor::Rechallenge)
        ) && self.tx.is_none()
    }

    /// Responses ignored so far: a stale Identifier (RFC 1994 §4.1: the
    /// Response must carry the Challenge's Identifier), or a repeat while
    /// the verdict is pending.
    pub fn ignored_responses(&self) -> u32 {
        self.ignored_responses
    }

    /// Supplies a fresh challenge for a retry or re-challenge. Used at
    /// once if the machine is waiting for one ([`Event::ChallengeNeeded`]),
    /// queued (up to 2) otherwise.
    pub fn feed_challenge(&mut self, now: Instant, challenge: &[u8]) -> Result<(), SetupError> {
        let challenge = check_challenge(self.method, challenge)?;
        match self.phase {
            Phase::NeedChallenge(need) => {
                self.challenge = challenge;
                match need {
                    NeedFor::RetryFailure | NeedFor::ChangePasswordFailure => {
                        self.send_second_chance(now, need)
                    }
                    NeedFor::Rechallenge => self.start_rechallenge(),
                }
                Ok(())
            }
            _ => self
                .fresh
                .push_back(challenge)
                .map_err(|_| SetupError::ChallengeQueueFull),
        }
    }

    fn start_rechallenge(&mut self) {
        // RFC 1994 §4.1: the Identifier changes with each new Challenge.
        self.identifier = self.identifier.wrapping_add(1);
        self.phase = Phase::Challenging;
        self.transmissions = 0;
        self.tx = Some(Tx::Challenge);
        self.timer = None;
    }

    fn build_request(&self, identifier: u8, value: &[u8], name: &[u8]) -> Option<AuthRequest> {
        let username = name_from(name)?;
        let response = match self.method {
            Method::ChapMd5 => AuthResponse::ChapMd5 {
                challenge: self.challenge.clone(),
                response: array(value)?,
            },
            Method::MsChapV1 => AuthResponse::MsChapV1 {
                challenge: array(&self.challenge)?,
                response: MsChapV1Response::parse(value).ok()?,
            },
            Method::MsChapV2 => AuthResponse::MsChapV2 {
                authenticator_challenge: array(&self.challenge)?,
                response: MsChapV2Response::parse(value).ok()?,
            },
            Method::Pap => return None,
        };
        Some(AuthRequest {
            method: self.method,
            username,
            identifier,
            response,
        })
    }

    /// `packet` as this method's Change-Password, with the challenge of
    /// the `E=648` Failure it answers: RFC 2759 §7 (code 7) for MS-CHAPv2;
    /// RFC 2433 version 2 (code 6) or version 1 (code 5) for MS-CHAPv1.
    fn parse_change_password(&self, packet: &[u8]) -> Option<(u8, AuthResponse)> {
        match self.method {
            Method::MsChapV2 => {
                let packet = MsChapV2ChangePassword::parse_bytes(packet).ok()?;
                let authenticator_challenge = array(&self.challenge)?;
                Some((
                    packet.identifier,
                    AuthResponse::MsChapV2ChangePassword {
                        authenticator_challenge,
                        packet,
                    },
                ))
            }
            Method::MsChapV1 => {
                let challenge = array(&self.challenge)?;
                if let Ok(packet) = MsChapV1ChangePassword::parse_bytes(packet) {
                    return Some((
                        packet.identifier,
                        AuthResponse::MsChapV1ChangePassword { challenge, packet },
                    ));
                }
                let packet = MsChapV1ChangePasswordV1::parse_bytes(packet).ok()?;
                Some((
                    packet.identifier,
                    AuthResponse::MsChapV1ChangePasswordV1 { challenge, packet },
                ))
            }
            Method::ChapMd5 | Method::Pap => None,
        }
    }

    /// A Change-Password after our `E=648` Failure, or a repeat of the
    /// one already answered.
    fn receive_change_password(
        &mut self,
        identifier: u8,
        response: AuthResponse,
    ) -> Option<AuthRequest> {
        match self.phase {
            // §7: the Failure's Identifier plus one; as for a retry, any
            // but the Failure's own is taken.
            Phase::ChangePasswordWait if Some(identifier) != self.answered => {}
            Phase::Succeeded | Phase::Failed if Some(identifier) == self.answered => {
                // RFC 1994 §4.2: our answer was lost; send it again.
                self.tx = Some(if self.phase == Phase::Succeeded {
                    Tx::Success
                } else {
                    Tx::Failure
                });
                return None;
            }
            _ => return None,
        }
        self.answered = Some(identifier);
        self.timer = None;
        self.phase = Phase::AwaitingVerdict;
        self.tx = None;
        // §7, RFC 2433: no Name field; the account is the preceding
        // Response's.
        Some(AuthRequest {
            method: self.method,
            username: self.username.clone(),
            identifier,
            response,
        })
    }

    fn receive(&mut self, packet: &[u8]) -> Option<AuthRequest> {
        if self.change_offered {
            if let Some((identifier, response)) = self.parse_change_password(packet) {
                return self.receive_change_password(identifier, response);
            }
        }
        // Only Responses are for the authenticator; Challenges, Successes
        // and Failures belong to a peer machine on the same link, and
        // malformed packets are silently discarded.
        let Ok(ChapRepr::Response {
            identifier,
            value,
            name,
        }) = ChapRepr::parse_bytes(packet)
        else {
            return None;
        };
        match self.phase {
            Phase::Challenging if identifier == self.identifier => {}
            // A new attempt after "R=1": any Identifier but the failed one
            // (RFC 2433 "Failure Packet" / RFC 2759 §6 ask for a new Response to C=;
            // Windows increments the Identifier).
            Phase::RetryWait if Some(identifier) != self.answered => {}
            Phase::RetryWait | Phase::Succeeded | Phase::Failed
                if Some(identifier) == self.answered =>
            {
                // RFC 1994 §4.2: the Success/Failure may have been lost and
                // the peer repeats its Response: send the same answer again.
                self.tx = Some(if self.phase == Phase::Succeeded {
                    Tx::Success
                } else {
                    Tx::Failure
                });
                return None;
            }
            // Wrong Identifier, or a repeat while the verdict is pending.
            _ => {
                self.ignored_responses = self.ignored_responses.saturating_add(1);
                return None;
            }
        }
        self.answered = Some(identifier);
        self.timer = None;
        self.username = name_from(name).unwrap_or_default();
        match self.build_request(identifier, value, name) {
            Some(request) => {
                self.phase = Phase::AwaitingVerdict;
                self.tx = None;
                Some(request)
            }
            None => {
                let message = self.config.failure_message.clone();
                self.fail_final(
                    FailureReason::MalformedResponse,
                    ERROR_AUTHENTICATION_FAILURE,
                    &message,
                );
                None
            }
        }
    }

    /// Handles a received packet; a Response becomes [`Event::AuthRequest`].
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
            // The machine is awaiting this verdict, so this succeeds.
            let _ = self.verdict(now, verdict);
        }
    }

    fn set_reply(&mut self, text: &[u8]) {
        self.reply.clear();
        let len = text.len().min(REPLY_LEN);
        let _ = self.reply.extend_from_slice(text.get(..len).unwrap_or(&[]));
    }

    fn set_ms_chap_failure(&mut self, error: u32, retry: bool, message: &[u8]) {
        let challenge = match self.method {
            Method::MsChapV1 => array(&self.challenge).map(FailureChallenge::V1),
            _ => array(&self.challenge).map(FailureChallenge::V2),
        };
        // The 648 that offers a change (not a final one, e.g. an
        // external AAA server's on MS-CHAPv1).
        let change = error == ERROR_PASSWD_EXPIRED && self.change_offered;
        let version = match self.method {
            // RFC 2759 §6: always V=3 (as Windows servers do).
            Method::MsChapV2 => Some(3),
            // RFC 2433 "Failure Packet": V=2 or more asks for the
            // version 2 Change Password packet (version 1 is deprecated).
            _ if change => Some(2),
            _ => None,
        };
        let failure = MsChapFailure {
            error,
            retry,
            // RFC 2433 "Failure Packet": C= is the challenge of what
            // comes next, a retried Response or a Change Password; RFC
            // 2759 §6 always carries it.
            challenge: if self.method == Method::MsChapV2 || retry || change {
                challenge
            } else {
                None
            },
            version,
            message: (self.method == Method::MsChapV2).then_some(message),
        };
        let mut text = [0u8; REPLY_LEN];
        let len = failure.emit(&mut text).unwrap_or(0);
        self.set_reply(text.get(..len).unwrap_or(&[]));
    }

    fn fail_final(&mut self, reason: FailureReason, error: u32, message: &[u8]) {
        if self.method.is_ms_chap() {
            self.set_ms_chap_failure(error, false, message);
        } else {
            self.set_reply(message);
        }
        self.phase = Phase::Failed;
        self.tx = Some(Tx::Failure);
        self.timer = None;
        self.events.push(Event::Failure(Failure {
            method: self.method,
            username: self.username.clone(),
            reason,
        }));
    }

    /// The Failure that lets the peer try again with the new challenge:
    /// `E=691 R=1` for another Response (RFC 2759 §6), or `E=648 R=0` for
    /// a Change-Password (§7; R=0 because a plain Response would be
    /// refused again; Windows clients answer 648 with Change-Password
    /// whatever R says).
    fn send_second_chance(&mut self, now: Instant, need: NeedFor) {
        let message = match &self.rejected {
            Some((_, message)) => message.clone(),
            None => self.config.failure_message.clone(),
        };
        if need == NeedFor::ChangePasswordFailure {
            self.set_ms_chap_failure(ERROR_PASSWD_EXPIRED, false, &message);
            self.phase = Phase::ChangePasswordWait;
        } else {
            self.set_ms_chap_failure(ERROR_AUTHENTICATION_FAILURE, true, &message);
            self.phase = Phase::RetryWait;
        }
        self.tx = Some(Tx::Failure);
        self.timer = Some(now + self.config.wait_timeout);
    }

    /// Delivers the verdict for the pending [`Event::AuthRequest`].
    pub fn verdict(&mut self, now: Instant, verdict: Verdict) -> Result<(), SetupError> {
        if self.phase != Phase::AwaitingVerdict {
            return Err(SetupError::NotWaiting);
        }
        match verdict {
            Verdict::Accept(accept) => {
                let message: Message = if accept.message.is_empty() {
                    self.config.success_message.clone()
                } else {
                    accept.message.clone()
                };
                if self.method == Method::MsChapV2 {
                    let Some(authenticator_response) = accept.authenticator_response else {
                        let failure = self.config.failure_message.clone();
                        self.fail_final(
                            FailureReason::MissingAuthenticatorResponse,
                            ERROR_AUTHENTICATION_FAILURE,
                            &failure,
                        );
                        return Ok(());
                    };
                    let success = MsChapV2Success {
                        authenticator_response,
                        message: (!message.is_empty()).then_some(&message[..]),
                    };
                    let mut text = [0u8; REPLY_LEN];
                    let len = success.emit(&mut text).unwrap_or(0);
                    self.set_reply(text.get(..len).unwrap_or(&[]));
                } else {
                    self.set_reply(&message);
                }
                self.phase = Phase::Succeeded;
                self.tx = Some(Tx::Success);
                self.retries_used = 0;
                self.rejected = None;
                // `change_offered` stays: a repeated Change-Password must
                // still be recognised and answered with this Success.
                self.timer = self.config.rechallenge_interval.map(|d| now + d);
                if let Some(new_nt_hash) = accept.new_nt_hash.clone() {
                    // Before the Success, so a host persists the new hash
                    // before it reports the user logged in.
                    self.events.push(Event::PasswordChanged(PasswordChange {
                        username: self.username.clone(),
                        name_match: accept.name_match,
                        new_nt_hash,
                    }));
                }
                self.events.push(Event::Success(Success {
                    method: self.method,
                    username: self.username.clone(),
                    key_material: accept.key_material.clone(),
                    attributes: accept.attributes,
                    name_match: accept.name_match,
                    reauthentication: self.authenticated,
                }));
                self.authenticated = true;
            }
            Verdict::Reject(reject) => {
                let message = if reject.message.is_empty() {
                    self.config.failure_message.clone()
                } else {
                    reject.message.clone()
                };
                // RFC 2759 §6/§7: an expired password (the store's flag
                // or the AAA server's MS-CHAP-Error) is offered one
                // change, with a fresh challenge; later Responses in the
                // same exchange get the plain 691 rules. MS-CHAPv1 alike
                // (RFC 2433 "Failure Packet", Change Password codes 5/6).
                let change = self.method.is_ms_chap()
                    && reject.error_code == ERROR_PASSWD_EXPIRED
                    && !self.change_offered
                    && !self.authenticated;
                let retry = self.method.is_ms_chap()
                    && reject.error_code == ERROR_AUTHENTICATION_FAILURE
                    && self.retries_used < self.config.max_retries
                    && !self.change_offered
                    && !self.authenticated;
                if change || retry {
                    let need = if change {
                        self.change_offered = true;
                        NeedFor::ChangePasswordFailure
                    } else {
                        self.retries_used += 1;
                        NeedFor::RetryFailure
                    };
                    self.rejected = Some((reject.reason, message));
                    match self.fresh.pop_front() {
                        Some(challenge) => {
                            self.challenge = challenge;
                            self.send_second_chance(now, need);
                        }
                        None => {
                            self.phase = Phase::NeedChallenge(need);
                            self.tx = None;
                            self.events.push(Event::ChallengeNeeded);
                        }
                    }
                } else {
                    self.fail_final(reject.reason, reject.error_code, &message);
                }
            }
        }
        Ok(())
    }

    /// Whether a packet waits for [`ChapAuthenticator::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        self.tx.is_some()
    }

    /// Writes the next Challenge, Success or Failure into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        let tx = self.tx?;
        let repr = match tx {
            Tx::Challenge => ChapRepr::Challenge {
                identifier: self.identifier,
                value: &self.challenge,
                name: &self.config.name,
            },
            Tx::Success => ChapRepr::Success {
                identifier: self.answered.unwrap_or(self.identifier),
                message: &self.reply,
            },
            Tx::Failure => ChapRepr::Failure {
                identifier: self.answered.unwrap_or(self.identifier),
                message: &self.reply,
            },
        };
        let len = repr.emit(buf).ok()?;
        self.tx = None;
        if tx == Tx::Challenge {
            self.transmissions = self.transmissions.saturating_add(1);
            self.timer = Some(now + self.config.restart_interval);
        }
        Some(Transmit {
            to: PROTOCOL_CHAP,
            len,
        })
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    /// Ends the exchange silently (nothing more to send: the peer went
    /// quiet) and tells the host why.
    fn give_up(&mut self, reason: FailureReason) {
        self.phase = Phase::Failed;
        self.tx = None;
        self.events.push(Event::Failure(Failure {
            method: self.method,
            username: self.username.clone(),
            reason,
        }));
    }

    /// Retransmits the Challenge (same Identifier and value, so a late
    /// Response to an earlier copy still counts), gives up after
    /// [`AuthenticatorConfig::max_transmissions`], ends a retry wait, or
    /// starts a periodic re-challenge.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.timer.is_none_or(|t| now < t) {
            return;
        }
        self.timer = None;
        match self.phase {
            Phase::Challenging => {
                if self.transmissions >= self.config.max_transmissions {
                    self.give_up(FailureReason::Timeout);
                } else {
                    self.tx = Some(Tx::Challenge);
                }
            }
            Phase::RetryWait | Phase::ChangePasswordWait => {
                // The peer did not try again: the exchange ends with the
                // rejection it was offered a retry for (691 for a wrong
                // password), not as a timeout.
                let reason = self
                    .rejected
                    .take()
                    .map_or(FailureReason::Timeout, |(reason, _)| reason);
                self.give_up(reason);
            }
            Phase::Succeeded => match self.fresh.pop_front() {
                Some(challenge) => {
                    self.challenge = challenge;
                    self.start_rechallenge();
                }
                None => {
                    self.phase = Phase::NeedChallenge(NeedFor::Rechallenge);
                    self.events.push(Event::ChallengeNeeded);
                }
            },
            Phase::AwaitingVerdict | Phase::NeedChallenge(_) | Phase::Failed => {}
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum PeerPhase {
    WaitingChallenge,
    Responded,
    Succeeded,
    RetryPossible,
    /// MS-CHAP Failure `E=648` with a challenge: the host may call
    /// `change_password` (RFC 2759 §7; RFC 2433 code 6).
    PasswordExpired,
    Failed,
}

/// The Response last sent, kept to answer a retransmitted Challenge with
/// the same octets and to check the Success that follows.
#[derive(Clone, Debug)]
struct Sent {
    identifier: u8,
    challenge: Challenge,
    value: heapless::Vec<u8, MSCHAP_RESPONSE_LEN>,
    /// MS-CHAPv2: the authenticator response the Success must carry.
    expected: Option<[u8; 20]>,
    key_material: Option<MppeKeyMaterial>,
}

/// The Change-Password a peer sent instead of a Response, kept while it
/// waits for its Success/Failure (it is sent again like a Response).
#[derive(Clone, Debug)]
enum ChangeSent {
    /// RFC 2759 §7.
    V2(MsChapV2ChangePassword),
    /// RFC 2433 version 2 (code 6).
    V1(MsChapV1ChangePassword),
}

/// The CHAP peer (MD5, MS-CHAPv1 or MS-CHAPv2).
#[derive(Clone, Debug)]
pub struct ChapPeer {
    method: Method,
    config: PeerConfig,
    phase: PeerPhase,
    username: Name,
    secret: Secret,
    peer_challenges: heapless::Deque<[u8; 16], 2>,
    last_peer_challenge: Option<[u8; 16]>,
    sent: Option<Sent>,
    retry_with: Option<(u8, FailureChallenge)>,
    /// The Change-Password packet sent instead of a Response (RFC 2759
    /// §7), while it waits for its Success/Failure.
    change: Option<ChangeSent>,
    send: bool,
    timer: Option<Instant>,
    /// While a Response waits for its Success/Failure: when to send it
    /// again.
    resend_at: Option<Instant>,
    authenticated: bool,
    events: Events,
}

impl ChapPeer {
    /// Creates the peer; it waits [`PeerConfig::wait_timeout`] for a
    /// Challenge. MS-CHAPv2 needs a 16-octet `peer_challenge` from the
    /// host's random source (RFC 2759 §4).
    pub fn new(
        method: Method,
        config: PeerConfig,
        now: Instant,
        username: &[u8],
        secret: Secret,
        peer_challenge: Option<[u8; 16]>,
    ) -> Result<Self, SetupError> {
        let name = name_from(username).ok_or(SetupError::NameTooLong {
            length: username.len(),
        })?;
        if method == Method::MsChapV2 && peer_challenge.is_none() {
            return Err(SetupError::MissingPeerChallenge);
        }
        if method == Method::Pap {
            return Err(SetupError::ChallengeLength { method, length: 0 });
        }
        let mut peer_challenges = heapless::Deque::new();
        if let Some(c) = peer_challenge {
            let _ = peer_challenges.push_back(c);
        }
        Ok(ChapPeer {
            method,
            config,
            phase: PeerPhase::WaitingChallenge,
            username: name,
            secret,
            peer_challenges,
            last_peer_challenge: None,
            sent: None,
            retry_with: None,
            change: None,
            send: false,
            timer: Some(now + config.wait_timeout),
            resend_at: None,
            authenticated: false,
            events: Events::default(),
        })
    }

    /// The method.
    pub fn method(&self) -> Method {
        self.method
    }

    /// Replaces the secret used for later Challenges (re-challenges).
    pub fn set_secret(&mut self, secret: Secret) {
        self.secret = secret;
    }

    /// Supplies another MS-CHAPv2 Peer-Challenge for the next Challenge
    /// (re-challenge or retry). Without one the last is reused.
    pub fn feed_peer_challenge(&mut self, peer_challenge: [u8; 16]) -> Result<(), SetupError> {
        self.peer_challenges
            .push_back(peer_challenge)
            .map_err(|_| SetupError::ChallengeQueueFull)
    }

    fn fail(&mut self, reason: FailureReason) {
        self.stop(PeerPhase::Failed, reason);
    }

    /// Ends the exchange in `phase`: failed for good, or waiting for the
    /// host's retry or new password. Nothing more to send or resend; the
    /// host learns why.
    fn stop(&mut self, phase: PeerPhase, reason: FailureReason) {
        self.phase = phase;
        self.send = false;
        self.timer = None;
        self.resend_at = None;
        self.events.push(Event::Failure(Failure {
            method: self.method,
            username: self.username.clone(),
            reason,
        }));
    }

    fn compute(&mut self, identifier: u8, challenge: &[u8]) -> Result<Sent, FailureReason> {
        let bad = FailureReason::BadChallenge {
            length: challenge.len(),
        };
        let stored = Challenge::from_slice(challenge).map_err(|_| bad)?;
        let secret_reason = |e| match e {
            super::credentials::SecretError::CleartextRequired => FailureReason::CleartextRequired,
            super::credentials::SecretError::Unhashable(e) => {
                FailureReason::StoredSecretUnusable(e)
            }
        };
        let mut value = heapless::Vec::new();
        let (expected, key_material) = match self.method {
            Method::ChapMd5 => {
                let password = self.secret.cleartext().map_err(secret_reason)?;
                let response =
                    crypto::chap_md5_response(identifier, password.as_bytes(), challenge);
                let _ = value.extend_from_slice(&response);
                (None, None)
            }
            Method::MsChapV1 => {
                let challenge: [u8; 8] = array(challenge).ok_or(bad)?;
                let hash = self.secret.to_nt_hash().map_err(secret_reason)?;
                // The LM response is the weak one (RFC 2433 §12, Security
                // Considerations); send zeros
                // and the use-NT flag, as Windows NT did in the seed trace.
                let response = MsChapV1Response {
                    lm_response: [0; 24],
                    nt_response: crypto::mschapv1_nt_response(&challenge, hash.as_bytes()),
                    flags: 1,
                };
                let _ = value.extend_from_slice(&response.to_bytes());
                (
                    None,
                    Some(MppeKeyMaterial::MsChapV1 {
                        password_hash_hash: hash.hash_hash(),
                        lm_hash_prefix: self.secret.lm_hash_prefix(),
                        challenge,
                    }),
                )
            }
            Method::MsChapV2 => {
                let auth_challenge: [u8; 16] = array(challenge).ok_or(bad)?;
                let hash = self.secret.to_nt_hash().map_err(secret_reason)?;
                let peer_challenge = match self.peer_challenges.pop_front() {
                    Some(c) => c,
                    None => self.last_peer_challenge.ok_or(bad)?,
                };
                self.last_peer_challenge = Some(peer_challenge);
                let nt_response = crypto::generate_nt_response(
                    &auth_challenge,
                    &peer_challenge,
                    &self.username,
                    hash.as_bytes(),
                );
                let response = MsChapV2Response {
                    peer_challenge,
                    nt_response,
                    flags: 0,
                };
                let _ = value.extend_from_slice(&response.to_bytes());
                let expected = crypto::generate_authenticator_response(
                    hash.as_bytes(),
                    &nt_response,
                    &peer_challenge,
                    &auth_challenge,
                    &self.username,
                );
                (
                    Some(expected),
                    Some(MppeKeyMaterial::MsChapV2 {
                        password_hash_hash: hash.hash_hash(),
                        nt_response,
                    }),
                )
            }
            Method::Pap => return Err(bad),
        };
        Ok(Sent {
            identifier,
            challenge: stored,
            value,
            expected,
            key_material,
        })
    }

    fn respond(&mut self, now: Instant, identifier: u8, challenge: &[u8]) {
        self.change = None;
        match self.compute(identifier, challenge) {
            Ok(sent) => {
                self.sent = Some(sent);
                self.phase = PeerPhase::Responded;
                self.send = true;
                self.timer = Some(now + self.config.wait_timeout);
                self.resend_at = Some(now + self.config.restart_interval);
            }
            Err(reason) => self.fail(reason),
        }
    }

    /// Handles a received Challenge, Success or Failure.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let Ok(repr) = ChapRepr::parse_bytes(packet) else {
            return;
        };
        match repr {
            ChapRepr::Challenge {
                identifier, value, ..
            } => {
                if matches!(
                    self.phase,
                    PeerPhase::Failed | PeerPhase::RetryPossible | PeerPhase::PasswordExpired
                ) {
                    return;
                }
                let repeat = self
                    .sent
                    .as_ref()
                    .is_some_and(|s| s.identifier == identifier && s.challenge == value);
                if repeat && self.phase == PeerPhase::Responded {
                    // A retransmitted Challenge: our Response was lost.
                    self.send = true;
                } else if !repeat || self.phase == PeerPhase::WaitingChallenge {
                    self.respond(now, identifier, value);
                }
            }
            ChapRepr::Success {
                identifier,
                message,
            } => {
                let Some(sent) = self.sent.as_ref() else {
                    return;
                };
                if self.phase != PeerPhase::Responded || identifier != sent.identifier {
                    return;
                }
                if let Some(expected) = sent.expected {
                    // RFC 2759 §8.8: the peer checks the authenticator's
                    // proof of knowing the password; a wrong one ends the
                    // link as a failure.
                    match MsChapV2Success::parse(message) {
                        Ok(success)
                            if crypto::check_authenticator_response(
                                &expected,
                                &success.authenticator_response,
                            ) => {}
                        Ok(_) => return self.fail(FailureReason::AuthenticatorResponseMismatch),
                        Err(_) => return self.fail(FailureReason::MalformedSuccess),
                    }
                }
                let key_material = sent.key_material.clone();
                self.phase = PeerPhase::Succeeded;
                self.send = false;
                self.timer = None;
                self.resend_at = None;
                self.events.push(Event::Success(Success {
                    method: self.method,
                    username: self.username.clone(),
                    key_material,
                    attributes: Default::default(),
                    name_match: NameMatch::AsSent,
                    reauthentication: self.authenticated,
                }));
                self.authenticated = true;
            }
            ChapRepr::Failure {
                identifier,
                message,
            } => {
                let Some(sent) = self.sent.as_ref() else {
                    return;
                };
                if self.phase != PeerPhase::Responded || identifier != sent.identifier {
                    return;
                }
                let parsed = if self.method.is_ms_chap() {
                    MsChapFailure::parse(message).ok()
                } else {
                    None
                };
                let usable = parsed.and_then(|f| match (self.method, f.challenge) {
                    (Method::MsChapV1, Some(c @ FailureChallenge::V1(_)))
                    | (Method::MsChapV2, Some(c @ FailureChallenge::V2(_)))
                        if f.retry =>
                    {
                        Some(c)
                    }
                    _ => None,
                });
                let reason = FailureReason::RejectedByAuthenticator {
                    error_code: parsed.map(|f| f.error),
                    retry_allowed: usable.is_some(),
                };
                // RFC 2759 §7: after E=648 the peer may answer the
                // Failure's challenge with Change-Password (whatever R
                // says: Windows servers send R=0); not after a change
                // was just refused. MS-CHAPv1 likewise (RFC 2433 "Change
                // Password Packet"), when the Failure carries the
                // challenge: this machine does not guess an implicit one.
                let expired = parsed.and_then(|f| match (self.method, f.challenge) {
                    (Method::MsChapV1, Some(c @ FailureChallenge::V1(_)))
                    | (Method::MsChapV2, Some(c @ FailureChallenge::V2(_)))
                        if f.error == ERROR_PASSWD_EXPIRED && self.change.is_none() =>
                    {
                        Some(c)
                    }
                    _ => None,
                });
                if let Some(challenge) = expired {
                    self.retry_with = Some((identifier, challenge));
                    self.stop(PeerPhase::PasswordExpired, reason);
                    return;
                }
                match usable {
                    Some(challenge) => {
                        self.retry_with = Some((identifier, challenge));
                        self.stop(PeerPhase::RetryPossible, reason);
                    }
                    None => self.fail(reason),
                }
            }
            ChapRepr::Response { .. } => {}
        }
    }

    /// After a Failure with `retry_allowed`, answers its new challenge
    /// (with `secret` if given, e.g. a corrected password), using the
    /// Failure's Identifier plus one. A Failure with "R=1" but no usable
    /// "C=" (RFC 2433 leaves it optional for MS-CHAPv1) is treated as
    /// final: this machine does not guess the next challenge.
    pub fn retry(&mut self, now: Instant, secret: Option<Secret>) -> Result<(), SetupError> {
        let (identifier, challenge) = match (self.phase, self.retry_with.take()) {
            (PeerPhase::RetryPossible, Some(r)) => r,
            _ => return Err(SetupError::NotWaiting),
        };
        if let Some(secret) = secret {
            self.secret = secret;
        }
        self.respond(now, identifier.wrapping_add(1), challenge.as_bytes());
        Ok(())
    }

    /// After a Failure `E=648` (password expired, reported as
    /// [`FailureReason::RejectedByAuthenticator`] with error code 648),
    /// sends a Change-Password with `new_password` (UTF-8), answering the
    /// Failure's challenge with Identifier + 1: MS-CHAPv2's (RFC 2759 §7),
    /// or MS-CHAPv1's version 2 (RFC 2433, code 6; its LM fields zero and
    /// the use-NT flag set, as this peer's Responses). The host supplies
    /// the randomness: `peer_challenge` (MS-CHAPv2 only) and the 512
    /// octets that fill the password block before the password (RFC 2759
    /// §8.10, RFC 2433 A.12). On Success the new password is this peer's
    /// secret from then on (re-challenges).
    pub fn change_password(
        &mut self,
        now: Instant,
        new_password: &[u8],
        peer_challenge: [u8; 16],
        fill: &[u8; PW_BLOCK_PASSWORD_LEN],
    ) -> Result<(), SetupError> {
        let (identifier, challenge) = match (self.phase, self.retry_with) {
            (PeerPhase::PasswordExpired, Some(r)) => r,
            _ => return Err(SetupError::NotWaiting),
        };
        let new_hash =
            NtHash::from_password(new_password).map_err(SetupError::NewPasswordUnusable)?;
        // 256 UTF-16 units may take more than the 256 octets a Password
        // holds; MS-CHAP needs only the hash.
        let new_secret = Secret::password(new_password).unwrap_or(Secret::NtHash(new_hash.clone()));
        let old_hash = match self.secret.to_nt_hash() {
            Ok(hash) => hash,
            Err(super::credentials::SecretError::Unhashable(e)) => {
                return Err(SetupError::NewPasswordUnusable(e))
            }
            Err(super::credentials::SecretError::CleartextRequired) => {
                return Err(SetupError::NotWaiting)
            }
        };
        // RFC 2759 §8.9/§8.10 = RFC 2433 A.11/A.12, and §8.12 = A.14.
        let encrypted_password = crypto::encrypt_pw_block(new_password, old_hash.as_bytes(), fill)
            .map_err(SetupError::NewPasswordUnusable)?;
        let encrypted_hash =
            crypto::old_nt_hash_encrypted_with_new(old_hash.as_bytes(), new_hash.as_bytes());
        let identifier = identifier.wrapping_add(1);
        let (change, sent) = match challenge {
            FailureChallenge::V2(challenge) => {
                let nt_response = crypto::generate_nt_response(
                    &challenge,
                    &peer_challenge,
                    &self.username,
                    new_hash.as_bytes(),
                );
                let expected = crypto::generate_authenticator_response(
                    new_hash.as_bytes(),
                    &nt_response,
                    &peer_challenge,
                    &challenge,
                    &self.username,
                );
                self.last_peer_challenge = Some(peer_challenge);
                let change = ChangeSent::V2(MsChapV2ChangePassword {
                    identifier,
                    encrypted_password,
                    encrypted_hash,
                    peer_challenge,
                    nt_response,
                    flags: 0,
                });
                let sent = Sent {
                    identifier,
                    challenge: Challenge::from_slice(&challenge).unwrap_or_default(),
                    value: heapless::Vec::new(),
                    expected: Some(expected),
                    key_material: Some(MppeKeyMaterial::MsChapV2 {
                        password_hash_hash: new_hash.hash_hash(),
                        nt_response,
                    }),
                };
                (change, sent)
            }
            FailureChallenge::V1(challenge) => {
                // The NT Response with the new password over the
                // Failure's challenge, as a Response's (RFC 2433 A.5).
                let nt_response = crypto::mschapv1_nt_response(&challenge, new_hash.as_bytes());
                let change = ChangeSent::V1(MsChapV1ChangePassword {
                    identifier,
                    encrypted_password,
                    encrypted_hash,
                    nt_response,
                    flags: CHANGE_PASSWORD_FLAG_USE_NT,
                });
                let sent = Sent {
                    identifier,
                    challenge: Challenge::from_slice(&challenge).unwrap_or_default(),
                    value: heapless::Vec::new(),
                    expected: None,
                    // The authenticator learns no LM hash from the change:
                    // none here either, so both derive the same keys.
                    key_material: Some(MppeKeyMaterial::MsChapV1 {
                        password_hash_hash: new_hash.hash_hash(),
                        lm_hash_prefix: None,
                        challenge,
                    }),
                };
                (change, sent)
            }
        };
        self.change = Some(change);
        self.sent = Some(sent);
        self.secret = new_secret;
        self.retry_with = None;
        self.phase = PeerPhase::Responded;
        self.send = true;
        self.timer = Some(now + self.config.wait_timeout);
        self.resend_at = Some(now + self.config.restart_interval);
        Ok(())
    }

    /// Whether a Response or Change-Password waits for
    /// [`ChapPeer::poll_transmit`].
    pub fn has_transmit(&self) -> bool {
        self.send && self.sent.is_some()
    }

    /// Writes the pending Response into `buf`.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        if !self.send {
            return None;
        }
        let sent = self.sent.as_ref()?;
        if let Some(change) = self.change.as_ref() {
            let len = match change {
                ChangeSent::V2(packet) => packet.emit(buf),
                ChangeSent::V1(packet) => packet.emit(buf),
            }
            .ok()?;
            self.send = false;
            return Some(Transmit {
                to: PROTOCOL_CHAP,
                len,
            });
        }
        let len = ChapRepr::Response {
            identifier: sent.identifier,
            value: &sent.value,
            name: &self.username,
        }
        .emit(buf)
        .ok()?;
        self.send = false;
        Some(Transmit {
            to: PROTOCOL_CHAP,
            len,
        })
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let resend = self
            .resend_at
            .filter(|_| self.phase == PeerPhase::Responded);
        match (self.timer, resend) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Sends the Response again every [`PeerConfig::restart_interval`]
    /// while no Success/Failure came: if the Success was lost, the
    /// authenticator has nothing left to retransmit (it got our Response),
    /// and RFC 1994 §4.1's implementation note has it answer a repeated
    /// Response with the same Success or Failure. Gives up when no
    /// Challenge, or no answer to the Response, came within
    /// [`PeerConfig::wait_timeout`] (the authenticator retransmits
    /// Challenges, so a silent one is gone).
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == PeerPhase::Responded {
            if let Some(at) = self.resend_at.filter(|at| now >= *at) {
                self.send = true;
                self.resend_at = Some(at.max(now) + self.config.restart_interval);
            }
        } else {
            self.resend_at = None;
        }
        if self.timer.is_some_and(|t| now >= t)
            && matches!(
                self.phase,
                PeerPhase::WaitingChallenge | PeerPhase::Responded
            )
        {
            self.fail(FailureReason::Timeout);
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop()
    }
}
