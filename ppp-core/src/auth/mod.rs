//! Authentication: PAP, CHAP-MD5, MS-CHAPv1 and MS-CHAPv2, both roles.
//!
//! After LCP has agreed on a method (LCP option 3, Authentication-Protocol)
//! the link creates, for each direction that authenticates, either an
//! [`Authenticator`] (the side that checks: the server, the PIX) or a
//! [`Peer`] (the side that proves: the client, Windows). Both are Sans-IO
//! machines driven like every machine in this crate:
//!
//! - `handle_packet(now, bytes)`: an authentication packet as it follows
//!   the PPP protocol field (`0xc023` PAP, `0xc223` CHAP). When both ends
//!   authenticate each other with CHAP, the link hands every CHAP packet to
//!   both machines: the authenticator only acts on Responses, the peer only
//!   on Challenges, Successes and Failures; everything else is ignored.
//! - `poll_transmit(now, buf) -> Option<Transmit<u16>>`: the next packet
//!   (the authentication packet only; the link adds PPP framing with the
//!   protocol number in [`Transmit::to`]).
//! - `poll_timeout()` / `handle_timeout(now)`: retransmissions of the
//!   Challenge (authenticator) or Authenticate-Request (PAP peer), waits,
//!   and the optional periodic re-challenge (RFC 1994 §2).
//! - `poll_event() -> Option<Event>`: success (with MPPE key material),
//!   failure (with a typed reason that maps to the Windows error number),
//!   requests for an external verdict, and requests for fresh challenges.
//!
//! Randomness stays with the host: the authenticator is given its first
//! challenge when created and later ones through `feed_challenge` (it asks
//! with [`Event::ChallengeNeeded`] when it has none left); the MS-CHAPv2
//! peer is given its 16-octet Peer-Challenge the same way.
//!
//! ## Verdicts: local or external
//!
//! When the authenticator has a complete Response it needs a verdict.
//! With `handle_packet_with(now, bytes, &verifier)` it asks a [`Verifier`]
//! at once (a [`CredentialStore`] is one: "local" authentication). With
//! plain `handle_packet` it emits [`Event::AuthRequest`] carrying the user
//! name, method, challenge and response (what RADIUS or TACACS+ needs),
//! keeps the link waiting without blocking, and takes the answer later in
//! `verdict(now, Verdict)`. Retransmitted Responses meanwhile are ignored,
//! so the host never sees the same request twice. For MS-CHAPv2 an
//! external Accept must carry the authenticator response (RADIUS
//! MS-CHAP2-Success, RFC 2548) or the authenticator cannot prove
//! itself to the peer and fails the exchange.
//!
//! ## MS-CHAP retries
//!
//! On an MS-CHAP rejection with error 691 the authenticator allows up to
//! [`AuthenticatorConfig::max_retries`] further attempts (default 2): it
//! sends Failure `E=691 R=1 C=<new challenge> …` with a fresh host
//! challenge and waits [`AuthenticatorConfig::wait_timeout`] for a new
//! Response (RFC 2433 "Failure Packet", RFC 2759 §6). After the last attempt it sends
//! "R=0" and reports the failure; [`FailureReason::windows_error`] gives
//! 691. The peer machine reports a rejection that allows a retry and
//! answers the new challenge if the host calls `retry`.
//!
//! ## Login throttling
//!
//! [`throttle::LoginThrottle`] counts failed logins per user name and per
//! peer address in fixed memory: later failures are answered later, and
//! a user or address with too many is refused untested for a while, with
//! the same 691 as a wrong password. The authenticator does not ask it
//! itself: the host (pptp-core's endpoint) asks it before every verdict
//! and holds the rejection for the delay it gives.
//!
//! ## Expired passwords: MS-CHAP Change-Password
//!
//! A rejection with error 648 (the store's [`CredentialStore::set_expired`]
//! flag, or an AAA server's MS-CHAP-Error `E=648`) makes the MS-CHAPv2
//! authenticator send Failure `E=648 R=0 C=<new challenge> V=3` (RFC 2759
//! §6) and wait for a Change-Password packet (§7, code 7): the new
//! password under the old NT hash, the old hash under the new one, and an
//! NT-Response with the new password to the new challenge. The verifier
//! checks all three ([`verify_with_secret`](aaa::verify_with_secret),
//! or RADIUS MS-CHAP2-CPW); on success a locally verified change is
//! reported as [`Event::PasswordChanged`] so the host can store the new
//! hash ([`CredentialStore::change_nt_hash`]). The peer reports the
//! Failure with error code 648 and sends Change-Password when its host
//! calls [`Peer::change_password`].
//!
//! MS-CHAPv1 (RFC 2433) likewise: Failure `E=648 R=0 C=<new 8-octet
//! challenge> V=2`, then a Change Password version 2 (code 6: the same
//! password block and encrypted hash as MS-CHAPv2's, an NT-Response with
//! the new password to `C=`) or version 1 (code 5: the NT hashes each
//! under the other). Their LM fields are never used (RFC 2433 §12). The
//! store verifies both; RADIUS gets version 2 as MS-CHAP-CPW-2 with
//! MS-CHAP-NT-Enc-PW (RFC 2548 §2.1.2), version 1 not at all (the
//! request cannot be built). The peer sends version 2.
//!
//! ## Example: both roles in one host loop
//!
//! ```
//! use ppp_core::auth::{
//!     Authenticator, AuthenticatorConfig, CredentialStore, DomainRule, Event, Method, Peer,
//!     PeerConfig, Secret,
//! };
//! use ppp_core::time::Instant;
//!
//! // The PIX's `vpdn username cisco password cisco`.
//! let mut users: CredentialStore<16> = CredentialStore::new(DomainRule::default());
//! users.insert_password(b"cisco", b"cisco").expect("room for one user");
//!
//! let now = Instant::ZERO;
//! // Challenges come from the host's random source.
//! let challenge = [0x5b; 16];
//! let peer_challenge = [0x21; 16];
//! let mut server = Authenticator::new(
//!     Method::MsChapV2, AuthenticatorConfig::default(), now, 1, &challenge)
//!     .expect("16-octet challenge");
//! let mut client = Peer::new(
//!     Method::MsChapV2, PeerConfig::default(), now, b"cisco",
//!     Secret::password(b"cisco").expect("short password"), 0, Some(peer_challenge))
//!     .expect("valid peer");
//!
//! let mut buf = [0u8; 1500];
//! let mut outcome = None;
//! for _ in 0..10 {
//!     // A real link frames these with the PPP protocol `t.to`.
//!     if let Some(t) = server.poll_transmit(now, &mut buf) {
//!         client.handle_packet(now, &buf[..t.len]);
//!     }
//!     if let Some(t) = client.poll_transmit(now, &mut buf) {
//!         server.handle_packet_with(now, &buf[..t.len], &users);
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if let Event::Success(s) = event {
//!             // `s.key_material` feeds the MPPE key derivation (RFC 3079).
//!             outcome = Some((s.username, s.key_material.is_some()));
//!         }
//!     }
//!     while let Some(event) = client.poll_event() {
//!         assert!(matches!(event, Event::Success(_)), "the server proved itself");
//!     }
//! }
//! let (user, keys) = outcome.expect("authenticated");
//! assert_eq!(&user[..], b"cisco");
//! assert!(keys);
//! ```

pub mod aaa;
pub mod chap;
pub mod credentials;
pub mod crypto;
pub mod pap;
pub mod throttle;

use core::fmt;

use zeroize::{Zeroize, ZeroizeOnDrop};

pub use aaa::{Accept, Attributes, AuthRequest, AuthResponse, Reject, Verdict, Verifier};
pub use chap::{ChapAuthenticator, ChapPeer};
pub use credentials::{CredentialStore, DomainRule, LmHash, NameMatch, NtHash, Password, Secret};
pub use pap::{PapAuthenticator, PapPeer};

use crate::time::{Duration, Instant};
use crate::transmit::Transmit;

/// Longest user or authenticator name kept, in octets (PAP's one-octet
/// Peer-ID-Length bounds it at 255; longer CHAP names are refused).
pub const MAX_NAME_LEN: usize = 255;
/// Longest human-readable message kept for Success/Failure/Ack/Nak.
pub const MAX_MESSAGE_LEN: usize = 128;
/// Longest CHAP challenge the authenticator accepts from the host.
pub const MAX_CHALLENGE_LEN: usize = 64;

/// A user or system name.
pub type Name = heapless::Vec<u8, MAX_NAME_LEN>;
/// A human-readable message.
pub type Message = heapless::Vec<u8, MAX_MESSAGE_LEN>;
/// A CHAP challenge value.
pub type Challenge = heapless::Vec<u8, MAX_CHALLENGE_LEN>;

/// Events queued per machine; further events are dropped (an exchange
/// produces at most two before the host polls: a password change's
/// [`Event::PasswordChanged`] and its [`Event::Success`]). Each slot holds
/// an [`Event`] of about 870 octets (user names are up to 255, and an
/// MS-CHAPv2 Change-Password request carries its 516-octet encrypted
/// password), so the queue is sized to that need: it is most of a
/// machine's memory.
pub const EVENT_QUEUE_LEN: usize = 2;

/// An authentication method, as agreed in LCP: the same type as
/// [`crate::wire::lcp::AuthMethod`] (one enum for LCP negotiation and the
/// authentication machines).
pub use crate::wire::lcp::AuthMethod as Method;

/// Inputs for MPPE key derivation (RFC 3079) after a successful MS-CHAP
/// exchange, or keys supplied by an external AAA server.
///
/// The `mppe` crate derives the session keys from these. Wiped on drop;
/// `Debug` prints only the variant.
#[derive(Clone, PartialEq, Eq, Zeroize, ZeroizeOnDrop)]
pub enum MppeKeyMaterial {
    /// MS-CHAPv2 (RFC 3079 §3): GetMasterKey(PasswordHashHash, NT-Response).
    MsChapV2 {
        /// HashNtPasswordHash (MD4 of the NT hash).
        password_hash_hash: [u8; 16],
        /// The peer's 24-octet NT-Response.
        nt_response: [u8; 24],
    },
    /// MS-CHAPv1 (RFC 3079 §2): 128-bit keys from the NT hash-hash and the
    /// challenge; 40/56-bit keys from the first 8 octets of the LM hash
    /// (RFC 3079 §2.1), known only when the cleartext password is.
    MsChapV1 {
        /// HashNtPasswordHash (MD4 of the NT hash).
        password_hash_hash: [u8; 16],
        /// First 8 octets of the LM password hash, if known.
        lm_hash_prefix: Option<[u8; 8]>,
        /// The authenticator's 8-octet challenge.
        challenge: [u8; 8],
    },
    /// Session keys from an AAA server (RADIUS MS-MPPE-Send-Key and
    /// MS-MPPE-Recv-Key, RFC 2548), from this side's view:
    /// `send_key` encrypts what this side sends.
    External {
        /// Key for traffic this side sends.
        send_key: [u8; 16],
        /// Key for traffic this side receives.
        recv_key: [u8; 16],
    },
}

impl fmt::Debug for MppeKeyMaterial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MppeKeyMaterial::MsChapV2 { .. } => "MppeKeyMaterial::MsChapV2(<redacted>)",
            MppeKeyMaterial::MsChapV1 { .. } => "MppeKeyMaterial::MsChapV1(<redacted>)",
            MppeKeyMaterial::External { .. } => "MppeKeyMaterial::External(<redacted>)",
        })
    }
}

/// Which MS-CHAPv1 start key 40- and 56-bit MPPE uses (128-bit always
/// uses the NT-based key, RFC 3079 §2.4).
///
/// RFC 3079 §2.1 derives the 40/56-bit start key from the first 8 octets
/// of the LAN Manager password hash; Windows 95/98/NT/2000 do that.
/// pppd and Linux (`ppp_mppe`) take the first 8 octets of the NT-based
/// key of §2.4 instead, and so did this crate before; the two ends must
/// agree or every data packet is garbage to the other.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum MsChapV1Keys {
    /// Server: decide from the peer's first MPPE packets, trying both
    /// keys and keeping the one that decrypts to a valid IPv4 packet
    /// (`LinkEvent::MsChapV1KeysDecided` says which). Until then nothing
    /// is sent encrypted. A client cannot decide that way (a server on
    /// `Auto` holds its packets too) and uses the NT-based key.
    #[default]
    Auto,
    /// The NT-hash based key (RFC 3079 §2.4 cut to 8 octets): pppd, Linux.
    Nt,
    /// The LM-hash based key (RFC 3079 §2.1): Windows. Needs the LM hash
    /// (a cleartext password, or RADIUS MS-CHAP-MPPE-Keys with a non-zero
    /// LM key); without it MPPE at 40/56 bits cannot start.
    Lm,
}

impl MsChapV1Keys {
    /// Parses `auto`, `nt` or `lm` (the configuration files' spelling).
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "auto" => Some(MsChapV1Keys::Auto),
            "nt" => Some(MsChapV1Keys::Nt),
            "lm" => Some(MsChapV1Keys::Lm),
            _ => None,
        }
    }

    /// The configuration files' spelling.
    pub fn name(self) -> &'static str {
        match self {
            MsChapV1Keys::Auto => "auto",
            MsChapV1Keys::Nt => "nt",
            MsChapV1Keys::Lm => "lm",
        }
    }
}

/// Why an authentication failed.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum FailureReason {
    /// No such user (under the store's [`DomainRule`]).
    UnknownUser,
    /// The response or password did not match.
    WrongPassword,
    /// The password was right but has expired (the store's flag, or
    /// the AAA server's MS-CHAP-Error `E=648`): MS-CHAPv2 peers are
    /// offered Change-Password (RFC 2759 §6, §7), MS-CHAPv1 peers RFC
    /// 2433's Change Password.
    PasswordExpired,
    /// PAP or CHAP-MD5 with a user whose store entry holds only the NT hash.
    CleartextRequired,
    /// The stored password has no NT hash (not UTF-8, or too long).
    StoredSecretUnusable(crypto::Error),
    /// An MS-CHAPv1 Response asking to use only the LM response, which
    /// this crate refuses (RFC 2433 §12, Security Considerations: the LM hash is the weak one).
    LmResponseRefused,
    /// The peer's Response was malformed (wrong value size, name too long).
    MalformedResponse,
    /// The external AAA server rejected the user.
    Rejected {
        /// The error code to report (691 unless the server said otherwise).
        error_code: u32,
    },
    /// An external Accept for MS-CHAPv2 without the authenticator response.
    MissingAuthenticatorResponse,
    /// No answer in time (retransmissions exhausted or wait expired).
    Timeout,
    /// Refused untested: the user or the peer's address is blocked after
    /// too many failures ([`throttle`]). The peer is told 691, exactly as
    /// for a wrong password (see [`FailureReason::windows_error`]).
    Throttled,
    /// The user already holds as many sessions as allowed (the server's
    /// per-user limit; a PIX user logs in once). Reported as 691, as a
    /// RADIUS server's Simultaneous-Use refusal reaches a Windows client.
    SessionLimit,
    /// Peer side: the authenticator sent Failure/Nak.
    RejectedByAuthenticator {
        /// MS-CHAP "E=" code, if the message had one.
        error_code: Option<u32>,
        /// MS-CHAP "R=1": the host may call `retry`.
        retry_allowed: bool,
    },
    /// Peer side: MS-CHAPv2 Success whose "S=" did not verify (RFC 2759 §8.8):
    /// the server does not know the password.
    AuthenticatorResponseMismatch,
    /// Peer side: an MS-CHAPv2 Success without a well-formed "S=".
    MalformedSuccess,
    /// Peer side: a Challenge of the wrong size for the method.
    BadChallenge {
        /// Its length.
        length: usize,
    },
}

impl FailureReason {
    /// The Windows RAS error number a user would see: 691 (access denied)
    /// for credential failures, 718 (PPP timeout) for timeouts, 778 (server
    /// identity not verified) when the MS-CHAPv2 authenticator response is
    /// wrong, or the code the AAA server or authenticator gave.
    pub const fn windows_error(&self) -> u32 {
        match *self {
            FailureReason::Rejected { error_code } => error_code,
            FailureReason::RejectedByAuthenticator {
                error_code: Some(code),
                ..
            } => code,
            FailureReason::Timeout => 718,
            FailureReason::PasswordExpired => crate::wire::auth::ERROR_PASSWD_EXPIRED,
            // Throttled stays 691 on purpose: 647 (account disabled), 648
            // (password expired) or 649 (no dial-in permission) would tell
            // a guesser that the name exists and that guessing is paused,
            // and a block must look exactly like a wrong password.
            FailureReason::Throttled => crate::wire::auth::ERROR_AUTHENTICATION_FAILURE,
            FailureReason::AuthenticatorResponseMismatch | FailureReason::MalformedSuccess => 778,
            _ => crate::wire::auth::ERROR_AUTHENTICATION_FAILURE,
        }
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FailureReason::UnknownUser => write!(f, "unknown user"),
            FailureReason::WrongPassword => write!(f, "wrong password"),
            FailureReason::PasswordExpired => write!(f, "password expired"),
            FailureReason::CleartextRequired => {
                write!(
                    f,
                    "method needs the cleartext password, only the NT hash is stored"
                )
            }
            FailureReason::StoredSecretUnusable(e) => write!(f, "stored password unusable: {e}"),
            FailureReason::LmResponseRefused => write!(f, "LM-only MS-CHAPv1 response refused"),
            FailureReason::MalformedResponse => write!(f, "malformed response"),
            FailureReason::Rejected { error_code } => {
                write!(f, "rejected by AAA (error {error_code})")
            }
            FailureReason::MissingAuthenticatorResponse => {
                write!(f, "AAA accept without MS-CHAPv2 authenticator response")
            }
            FailureReason::Timeout => write!(f, "timed out"),
            FailureReason::Throttled => {
                write!(
                    f,
                    "refused untested: user or address blocked after failures"
                )
            }
            FailureReason::SessionLimit => write!(f, "the user's session limit is reached"),
            FailureReason::RejectedByAuthenticator { error_code, .. } => match error_code {
                Some(code) => write!(f, "rejected by authenticator (error {code})"),
                None => write!(f, "rejected by authenticator"),
            },
            FailureReason::AuthenticatorResponseMismatch => {
                write!(f, "authenticator response did not verify")
            }
            FailureReason::MalformedSuccess => write!(f, "malformed MS-CHAPv2 success message"),
            FailureReason::BadChallenge { length } => {
                write!(f, "challenge of {length} octets unusable for the method")
            }
        }
    }
}

/// A successful authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Success {
    /// The method used.
    pub method: Method,
    /// The user name: as the peer sent it (authenticator) or as this side
    /// sent it (peer).
    pub username: Name,
    /// MPPE inputs (MS-CHAP) or keys from AAA; `None` otherwise.
    pub key_material: Option<MppeKeyMaterial>,
    /// Attributes from an external Accept (address, DNS).
    pub attributes: Attributes,
    /// Authenticator: which form of `username` found the local store's
    /// entry ([`Accept::name_match`]); the peer side: as sent.
    pub name_match: NameMatch,
    /// True after a periodic re-challenge (RFC 1994 §2) rather than the
    /// first authentication.
    pub reauthentication: bool,
}

/// A failed authentication.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// The method used.
    pub method: Method,
    /// The user name, when one was received (authenticator) or sent (peer).
    pub username: Name,
    /// Why.
    pub reason: FailureReason,
}

/// A password changed by MS-CHAP Change-Password (RFC 2759 §7, RFC 2433
/// codes 5/6) and
/// verified by the local store: the host stores the new hash
/// ([`CredentialStore::change_nt_hash`] with
/// `name_match.entry(&username)`). The core cannot do it itself: the
/// store is the host's, lent to the machine read-only for each verdict.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordChange {
    /// The user name as the peer sent it in its Response.
    pub username: Name,
    /// Which form of `username` found the store's entry.
    pub name_match: NameMatch,
    /// NtPasswordHash of the new password (wiped on drop).
    pub new_nt_hash: NtHash,
}

/// What a machine reports to the host.
// No allocator (no_std, no alloc): variants are stored inline, by design.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Event {
    /// Authentication succeeded.
    Success(Success),
    /// Authentication failed. On the authenticator and for the peer without
    /// `retry_allowed`, this is final: the link should terminate (RFC 1994
    /// §4.2, RFC 1334 §2.2.2).
    Failure(Failure),
    /// Authenticator, external mode: verify this and call `verdict`.
    AuthRequest(AuthRequest),
    /// Authenticator: a fresh challenge is needed (retry, password
    /// change or re-challenge); call `feed_challenge`.
    ChallengeNeeded,
    /// Authenticator: the peer changed its expired password; store the
    /// new hash. The [`Event::Success`] follows.
    PasswordChanged(PasswordChange),
}

/// Errors from setting up a machine or feeding it.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum SetupError {
    /// A challenge of the wrong length for the method (MS-CHAPv1 needs 8,
    /// MS-CHAPv2 16, CHAP-MD5 1 to [`MAX_CHALLENGE_LEN`]).
    ChallengeLength {
        /// The method.
        method: Method,
        /// The length given.
        length: usize,
    },
    /// The queue of fresh challenges is full.
    ChallengeQueueFull,
    /// A name longer than [`MAX_NAME_LEN`].
    NameTooLong {
        /// Its length.
        length: usize,
    },
    /// The MS-CHAPv2 peer needs a Peer-Challenge to start.
    MissingPeerChallenge,
    /// `verdict` without a pending request, or `retry` when no retry is
    /// allowed.
    NotWaiting,
    /// `change_password` with a new password that has no NT hash (not
    /// UTF-8, or more than 256 UTF-16 units).
    NewPasswordUnusable(crypto::Error),
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SetupError::ChallengeLength { method, length } => {
                write!(f, "challenge of {length} octets unusable for {method:?}")
            }
            SetupError::ChallengeQueueFull => write!(f, "challenge queue full"),
            SetupError::NameTooLong { length } => {
                write!(f, "name of {length} octets, at most {MAX_NAME_LEN}")
            }
            SetupError::MissingPeerChallenge => write!(f, "MS-CHAPv2 peer needs a peer challenge"),
            SetupError::NotWaiting => write!(f, "not waiting for that call"),
            SetupError::NewPasswordUnusable(e) => write!(f, "new password unusable: {e}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for SetupError {}

/// Timers and policy of an authenticator.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuthenticatorConfig {
    /// Our name, sent in CHAP Challenges (RFC 1994 §4.1). Default empty.
    pub name: Name,
    /// Time between Challenge retransmissions. Default 3 s (RFC 1661 §4.6
    /// restart timer; pppd's chap-restart).
    pub restart_interval: Duration,
    /// Challenge transmissions before giving up. Default 10 (pppd's
    /// chap-max-challenge).
    pub max_transmissions: u8,
    /// How long to wait for a PAP Authenticate-Request, or for the new
    /// Response after an MS-CHAP "R=1" Failure (then the rejection is
    /// reported as final). Default 30 s.
    pub wait_timeout: Duration,
    /// Periodic re-challenge after success (RFC 1994 §2), off by default.
    /// MPPE keys of the first exchange stay in use.
    pub rechallenge_interval: Option<Duration>,
    /// Further attempts after an MS-CHAP 691 failure. Default 2.
    pub max_retries: u8,
    /// Message for Success/Ack when the verdict has none. Default empty.
    pub success_message: Message,
    /// Message for Failure/Nak when the verdict has none. Default
    /// "Authentication failed".
    pub failure_message: Message,
}

impl Default for AuthenticatorConfig {
    fn default() -> Self {
        AuthenticatorConfig {
            name: Name::new(),
            restart_interval: Duration::from_secs(3),
            max_transmissions: 10,
            wait_timeout: Duration::from_secs(30),
            rechallenge_interval: None,
            max_retries: 2,
            success_message: Message::new(),
            failure_message: Message::from_slice(b"Authentication failed").unwrap_or_default(),
        }
    }
}

/// Timers of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct PeerConfig {
    /// PAP: time between Authenticate-Request retransmissions. Default 3 s
    /// (RFC 1334 §2.2.1 restart timer).
    pub restart_interval: Duration,
    /// PAP: Authenticate-Request transmissions before giving up. Default 10.
    pub max_transmissions: u8,
    /// How long to wait for a Challenge, or for Success/Failure after a
    /// Response. Default 30 s.
    pub wait_timeout: Duration,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            restart_interval: Duration::from_secs(3),
            max_transmissions: 10,
            wait_timeout: Duration::from_secs(30),
        }
    }
}

/// Bounded event queue shared by the machines.
#[derive(Clone, Debug, Default)]
pub(crate) struct Events {
    queue: heapless::Deque<Event, EVENT_QUEUE_LEN>,
}

impl Events {
    pub(crate) fn push(&mut self, event: Event) {
        // Bounded: when the host does not poll, later events are dropped
        // rather than growing memory.
        let _ = self.queue.push_back(event);
    }

    pub(crate) fn pop(&mut self) -> Option<Event> {
        self.queue.pop_front()
    }
}

pub(crate) fn name_from(bytes: &[u8]) -> Option<Name> {
    Name::from_slice(bytes).ok()
}

/// Copies at most [`MAX_MESSAGE_LEN`] octets of `bytes` into a message.
pub fn message_from(bytes: &[u8]) -> Message {
    let len = bytes.len().min(MAX_MESSAGE_LEN);
    Message::from_slice(bytes.get(..len).unwrap_or(&[])).unwrap_or_default()
}

/// The authenticator for any method: the side that checks the peer.
// No allocator (no_std, no alloc): variants are stored inline, by design.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Authenticator {
    /// PAP.
    Pap(PapAuthenticator),
    /// CHAP-MD5, MS-CHAPv1 or MS-CHAPv2.
    Chap(ChapAuthenticator),
}

impl Authenticator {
    /// Creates the authenticator for `method`. CHAP methods send their
    /// first Challenge with `identifier` and `challenge` on the first
    /// `poll_transmit`; PAP ignores both and waits for the peer's request.
    pub fn new(
        method: Method,
        config: AuthenticatorConfig,
        now: Instant,
        identifier: u8,
        challenge: &[u8],
    ) -> Result<Self, SetupError> {
        Ok(match method {
            Method::Pap => Authenticator::Pap(PapAuthenticator::new(config, now)),
            _ => Authenticator::Chap(ChapAuthenticator::new(
                method, config, identifier, challenge,
            )?),
        })
    }

    /// A CHAP authenticator for a re-authentication of a peer that has
    /// already proved itself (see [`ChapAuthenticator::new_reauthentication`]).
    /// PAP has none: RFC 1334 §2 leaves the exchange to the peer, which
    /// sends its Authenticate-Request once ([`SetupError::NotWaiting`]).
    pub fn new_reauthentication(
        method: Method,
        config: AuthenticatorConfig,
        identifier: u8,
        challenge: &[u8],
    ) -> Result<Self, SetupError> {
        match method {
            Method::Pap => Err(SetupError::NotWaiting),
            _ => Ok(Authenticator::Chap(
                ChapAuthenticator::new_reauthentication(method, config, identifier, challenge)?,
            )),
        }
    }

    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Authenticator::Pap(_) => Method::Pap,
            Authenticator::Chap(c) => c.method(),
        }
    }

    /// Whether a new re-authentication may replace this machine: CHAP
    /// settled in success with nothing left to send
    /// ([`ChapAuthenticator::is_idle`]); PAP never.
    pub fn is_idle(&self) -> bool {
        match self {
            Authenticator::Pap(_) => false,
            Authenticator::Chap(c) => c.is_idle(),
        }
    }

    /// CHAP Responses ignored so far (stale Identifier, or repeated while
    /// the verdict is pending); 0 for PAP.
    pub fn ignored_responses(&self) -> u32 {
        match self {
            Authenticator::Pap(_) => 0,
            Authenticator::Chap(c) => c.ignored_responses(),
        }
    }

    /// Handles a received packet; a complete response becomes
    /// [`Event::AuthRequest`] (external verdict).
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Authenticator::Pap(m) => m.handle_packet(now, packet),
            Authenticator::Chap(m) => m.handle_packet(now, packet),
        }
    }

    /// Handles a received packet, deciding at once with `verifier`.
    pub fn handle_packet_with<V: Verifier + ?Sized>(
        &mut self,
        now: Instant,
        packet: &[u8],
        verifier: &V,
    ) {
        match self {
            Authenticator::Pap(m) => m.handle_packet_with(now, packet, verifier),
            Authenticator::Chap(m) => m.handle_packet_with(now, packet, verifier),
        }
    }

    /// Delivers the verdict for the pending [`Event::AuthRequest`].
    pub fn verdict(&mut self, now: Instant, verdict: Verdict) -> Result<(), SetupError> {
        match self {
            Authenticator::Pap(m) => m.verdict(now, verdict),
            Authenticator::Chap(m) => m.verdict(now, verdict),
        }
    }

    /// Supplies a fresh challenge (CHAP methods; PAP ignores it).
    pub fn feed_challenge(&mut self, now: Instant, challenge: &[u8]) -> Result<(), SetupError> {
        match self {
            Authenticator::Pap(_) => Ok(()),
            Authenticator::Chap(m) => m.feed_challenge(now, challenge),
        }
    }

    /// Writes the next packet into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        match self {
            Authenticator::Pap(m) => m.poll_transmit(now, buf),
            Authenticator::Chap(m) => m.poll_transmit(now, buf),
        }
    }

    /// Whether a packet waits for `poll_transmit`.
    pub fn has_transmit(&self) -> bool {
        match self {
            Authenticator::Pap(m) => m.has_transmit(),
            Authenticator::Chap(m) => m.has_transmit(),
        }
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Authenticator::Pap(m) => m.poll_timeout(),
            Authenticator::Chap(m) => m.poll_timeout(),
        }
    }

    /// Runs timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self {
            Authenticator::Pap(m) => m.handle_timeout(now),
            Authenticator::Chap(m) => m.handle_timeout(now),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        match self {
            Authenticator::Pap(m) => m.poll_event(),
            Authenticator::Chap(m) => m.poll_event(),
        }
    }
}

/// The peer for any method: the side that proves its identity.
// No allocator (no_std, no alloc): variants are stored inline, by design.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum Peer {
    /// PAP.
    Pap(PapPeer),
    /// CHAP-MD5, MS-CHAPv1 or MS-CHAPv2.
    Chap(ChapPeer),
}

impl Peer {
    /// Creates the peer for `method` with this side's user name and
    /// secret. `identifier` is PAP's first Authenticate-Request identifier;
    /// `peer_challenge` is required for MS-CHAPv2 (RFC 2759 §4).
    pub fn new(
        method: Method,
        config: PeerConfig,
        now: Instant,
        username: &[u8],
        secret: Secret,
        identifier: u8,
        peer_challenge: Option<[u8; 16]>,
    ) -> Result<Self, SetupError> {
        Ok(match method {
            Method::Pap => Peer::Pap(PapPeer::new(config, now, username, secret, identifier)?),
            _ => Peer::Chap(ChapPeer::new(
                method,
                config,
                now,
                username,
                secret,
                peer_challenge,
            )?),
        })
    }

    /// The method.
    pub fn method(&self) -> Method {
        match self {
            Peer::Pap(_) => Method::Pap,
            Peer::Chap(c) => c.method(),
        }
    }

    /// Handles a received packet.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        match self {
            Peer::Pap(m) => m.handle_packet(now, packet),
            Peer::Chap(m) => m.handle_packet(now, packet),
        }
    }

    /// After a rejection with `retry_allowed`, answers the new challenge,
    /// with `secret` if given (e.g. a corrected password).
    pub fn retry(&mut self, now: Instant, secret: Option<Secret>) -> Result<(), SetupError> {
        match self {
            Peer::Pap(_) => Err(SetupError::NotWaiting),
            Peer::Chap(m) => m.retry(now, secret),
        }
    }

    /// MS-CHAPv2: a Peer-Challenge for the next Challenge (see
    /// [`ChapPeer::feed_peer_challenge`]); other methods ignore it.
    pub fn feed_peer_challenge(&mut self, peer_challenge: [u8; 16]) -> Result<(), SetupError> {
        match self {
            Peer::Chap(m) if m.method() == Method::MsChapV2 => {
                m.feed_peer_challenge(peer_challenge)
            }
            _ => Ok(()),
        }
    }

    /// After a Failure `E=648` (MS-CHAP), sends Change-Password with
    /// `new_password` ([`ChapPeer::change_password`]).
    pub fn change_password(
        &mut self,
        now: Instant,
        new_password: &[u8],
        peer_challenge: [u8; 16],
        fill: &[u8; crypto::PW_BLOCK_PASSWORD_LEN],
    ) -> Result<(), SetupError> {
        match self {
            Peer::Pap(_) => Err(SetupError::NotWaiting),
            Peer::Chap(m) => m.change_password(now, new_password, peer_challenge, fill),
        }
    }

    /// Writes the next packet into `buf`.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        match self {
            Peer::Pap(m) => m.poll_transmit(now, buf),
            Peer::Chap(m) => m.poll_transmit(now, buf),
        }
    }

    /// Whether a packet waits for `poll_transmit`.
    pub fn has_transmit(&self) -> bool {
        match self {
            Peer::Pap(m) => m.has_transmit(),
            Peer::Chap(m) => m.has_transmit(),
        }
    }

    /// When `handle_timeout` should next be called.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match self {
            Peer::Pap(m) => m.poll_timeout(),
            Peer::Chap(m) => m.poll_timeout(),
        }
    }

    /// Runs timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self {
            Peer::Pap(m) => m.handle_timeout(now),
            Peer::Chap(m) => m.handle_timeout(now),
        }
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<Event> {
        match self {
            Peer::Pap(m) => m.poll_event(),
            Peer::Chap(m) => m.poll_event(),
        }
    }
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod change_password_tests;
#[cfg(test)]
mod change_password_v1_tests;

#[cfg(test)]
pub(crate) mod testdata {
    //! Loads the shared vectors copied into `tests/data/`.
    extern crate std;
    use std::vec::Vec;

    /// Every `[[vector]]` of `kind` in a vector file.
    pub fn vectors(text: &str, kind: &str) -> Vec<toml::Table> {
        let doc: toml::Table = text.parse().expect("vector file parses");
        doc["vector"]
            .as_array()
            .expect("[[vector]] array")
            .iter()
            .filter_map(|v| v.as_table())
            .filter(|v| v["kind"].as_str() == Some(kind))
            .cloned()
            .collect()
    }

    /// Decodes a lower-case hex string value.
    pub fn hex(v: &toml::Value) -> Vec<u8> {
        let s = v.as_str().expect("hex string");
        assert!(s.len() % 2 == 0, "odd hex length");
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex digit"))
            .collect()
    }

    /// Decodes a hex string of exactly `N` octets.
    pub fn hex_n<const N: usize>(v: &toml::Value) -> [u8; N] {
        hex(v).try_into().expect("hex length")
    }

    /// A frame vector's authentication packet: drops `ff03` and the
    /// 2-octet protocol field, checking the protocol.
    pub fn frame_body(v: &toml::Value, protocol: u16) -> Vec<u8> {
        let frame = hex(v);
        assert_eq!(&frame[..2], &[0xff, 0x03]);
        assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), protocol);
        frame[4..].to_vec()
    }
}
