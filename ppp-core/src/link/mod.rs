//! The PPP link: LCP, authentication, IPCP and CCP/MPPE composed into one
//! Sans-IO machine per PPTP call (or serial line), both roles.
//!
//! # Phases (RFC 1661 §3.2)
//!
//! `Dead → Establish → Authenticate → Network → Terminate → Dead`.
//! [`Link::open`] starts LCP (the lower layer, the PPTP call, is up when
//! the host calls it). When LCP opens, each direction that LCP agreed to
//! authenticate runs: the server is the authenticator
//! ([`crate::auth::Authenticator`]), the client the peer
//! ([`crate::auth::Peer`]). After success, IPCP and CCP negotiate together
//! (RFC 1661 §3.6), CCP's packets sent first; when CCP opens, an IPCP
//! Configure-Request still unanswered goes again at once, because pppd
//! with `require-mppe` holds its IPCP until its CCP opens and refuses
//! what came before. IP packets flow once IPCP is Opened and CCP has
//! settled: encrypted with MPPE when CCP agreed on it, in plaintext only
//! when the MPPE policy is not `required`.
//!
//! # Host loop
//!
//! ```text
//! link.open(now);
//! loop {
//!     // a GRE payload (one PPP frame) arrived:
//!     match link.handle_frame(now, &mut frame) {       // decrypts in place
//!         Ok(Some(d)) => tun.write(&frame[d.range()]),  // an IP packet
//!         Ok(None) => {}                                // control traffic
//!         Err(e) => log(e),                             // dropped, counted
//!     }
//!     // an IP packet from the tun device:
//!     if let Ok(n) = link.send_ip(now, &ip, &mut out) { gre.send(&out[..n]) }
//!     while let Some(t) = link.poll_transmit(now, &mut out) { gre.send(&out[..t.len]) }
//!     while let Some(ev) = link.poll_event() {
//!         match ev {
//!             LinkEvent::AuthRequest => {                    // external AAA
//!                 let req = link.take_auth_request().unwrap();
//!                 radius.send(req)  // later: link.verdict(now, verdict)
//!             }
//!             LinkEvent::AddressNeeded => link.assign_peer_address(now, pool.allocate().ok()),
//!             LinkEvent::ChallengeNeeded => link.feed_challenge(now, &random16()),
//!             LinkEvent::Down(reason) => { pool.release(..); break }    // final
//!             _ => {}
//!         }
//!     }
//!     sleep_until(link.poll_timeout()); link.handle_timeout(now);
//! }
//! ```
//!
//! # Example: a server and a client in one process
//!
//! ```
//! use core::net::Ipv4Addr;
//! use ppp_core::auth::{CredentialStore, DomainRule};
//! use ppp_core::ipcp::AddressPool;
//! use ppp_core::link::{Credentials, Entropy, Link, LinkConfig, LinkEvent};
//! use ppp_core::time::Instant;
//!
//! // The PIX's `vpdn username cisco password cisco` and
//! // `ip local pool pptp-pool 172.16.1.1-172.16.1.50`.
//! let mut users: CredentialStore<4> = CredentialStore::new(DomainRule::default());
//! users.insert_password(b"cisco", b"cisco").unwrap();
//! let mut pool: AddressPool<1> =
//!     AddressPool::new(Ipv4Addr::new(172, 16, 1, 1), Ipv4Addr::new(172, 16, 1, 50)).unwrap();
//!
//! // Randomness comes from the host (here fixed for the example).
//! let server_config = LinkConfig::server(Ipv4Addr::new(99, 99, 99, 2), [None, None]);
//! let mut server = Link::new(server_config, Entropy { magic: 0x1234, challenge: [7; 16], identifier: 0x42 });
//! let client_config = LinkConfig::client(Credentials::password(b"cisco", b"cisco").unwrap());
//! let mut client = Link::new(client_config, Entropy { magic: 0x5678, challenge: [9; 16], identifier: 0 });
//!
//! let now = Instant::ZERO;
//! server.open(now);
//! client.open(now);
//! let mut buf = [0u8; 1600];
//! while !(server.is_data_ready() && client.is_data_ready()) {
//!     // In a real host these frames travel in GRE packets.
//!     while let Some(t) = server.poll_transmit(now, &mut buf) {
//!         let _ = client.handle_frame(now, &mut buf[..t.len]);
//!     }
//!     while let Some(t) = client.poll_transmit(now, &mut buf) {
//!         let _ = server.handle_frame_with(now, &mut buf[..t.len], &users);
//!     }
//!     while let Some(event) = server.poll_event() {
//!         if event == LinkEvent::AddressNeeded {
//!             server.assign_peer_address(now, pool.allocate().ok());
//!         }
//!     }
//!     while client.poll_event().is_some() {}
//! }
//! assert_eq!(client.ipcp_negotiated().local_address, Some(Ipv4Addr::new(172, 16, 1, 1)));
//! # #[cfg(feature = "mppe")]
//! assert!(client.mppe_info().is_some(), "MPPE-128 stateless by default");
//!
//! // An IP packet from the client's tun device to the server's.
//! // (A valid IPv4 header, checksum included: a stateless MPPE receiver
//! // keeps only packets that decrypt to one.)
//! let ip = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0x07, 0x63, 172, 16, 1, 1, 99, 99, 99, 2];
//! let n = client.send_ip(now, &ip, &mut buf).unwrap();
//! let delivered = server.handle_frame(now, &mut buf[..n]).unwrap().unwrap();
//! assert_eq!(&buf[delivered.range()], &ip);
//! ```
//!
//! Local authentication: [`Link::handle_frame_with`] decides with a
//! [`Verifier`] such as a [`crate::auth::CredentialStore`] at once; with
//! plain [`Link::handle_frame`] the server emits [`LinkEvent::AuthRequest`]
//! and waits for [`Link::verdict`] (RADIUS, TACACS+), without blocking.
//!
//! # What is negotiated and what is refused
//!
//! - Network protocols other than IPv4 (IPCP 8021) and CCP (80fd),
//!   including IPv6CP (8057), IPX and AppleTalk, get an LCP
//!   Protocol-Reject (RFC 1661 §5.7). **IPv6CP is not supported.**
//! - Protocol 0x00FD (MPPE) is accepted only while MPPE is active;
//!   plaintext IPv4 (0x0021) is refused while MPPE is active or required.
//! - Server without an address for the peer: when the host answers
//!   [`LinkEvent::AddressNeeded`] with `None` (pool exhausted) the link
//!   ends with [`EndReason::NoAddress`] (Windows error 720, no PPP control
//!   protocols could be configured), before IPCP starts.
//! - MS-CHAP retries: the server presets allow none
//!   ([`AuthenticatorConfig::max_retries`] 0, so both ends report 691 at
//!   once); raise it to let clients retry. A client link ends on the first
//!   failure unless [`LinkConfig::auth_retry`] is set, in which case the
//!   host answers "E=691 R=1" with [`Link::retry_auth`].
//!
//! # Framing
//!
//! [`Link::handle_frame`] takes one whole PPP frame (address/control and
//! protocol fields, as carried in enhanced GRE: RFC 2637 §4.1), accepting
//! the compressed forms LCP agreed. [`Link::poll_transmit`] and
//! [`Link::send_ip`] write whole frames, compressed as the peer agreed
//! (LCP itself is never compressed, RFC 1661 §6.5-6.6).

use core::fmt;
use core::net::Ipv4Addr;
use core::ops::Range;

use heapless::Deque;

use crate::auth::{
    AuthRequest, Authenticator, AuthenticatorConfig, Name, Peer, PeerConfig, Secret, SetupError,
    Verdict, Verifier,
};
#[cfg(feature = "mppe")]
use crate::ccp::CcpOptions;
use crate::fsm::Fsm;
use crate::ipcp::{IpcpNegotiated, IpcpOptions};
use crate::lcp::Lcp;
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::frame::{self, Frame};

// The link's parts, one concern per file: the host's settings, what it
// is told, the phase machine of RFC 1661 §3.2 with its control-frame
// dispatch, the IP data path shared with the parked form, and (only with
// the `mppe` feature) CCP's outcome and the MPPE half of the data path.
mod config;
mod data_path;
#[cfg(feature = "mppe")]
mod encryption;
mod events;
#[cfg(feature = "mppe")]
mod mschapv1_keys;
pub mod parked;
mod phases;

use data_path::{send_ip_copied, DataPath};

pub use config::{Credentials, Entropy, LinkConfig, Role};
#[cfg(feature = "mppe")]
pub use encryption::{MppeInfo, MppeStats};
pub use events::{Counters, Delivered, EndReason, Error, LinkEvent, Phase, SendError};
#[cfg(feature = "mppe")]
pub use mschapv1_keys::MAX_TRIAL_PACKETS;
pub use parked::ParkedLink;

#[cfg(feature = "mppe")]
pub use mppe::{
    KeyStrength, Mode as MppeMode, ModePreference, PixEncryption, Policy as MppePolicy, Strengths,
};

/// Octets [`Link::send_ip_in_place`] needs in front of the IP packet: the
/// PPP header (at most 4), the MPPE header (2) and the inner protocol (2).
pub const HEADROOM: usize = frame::MAX_HEADER_LEN + 4;
/// Events that can wait in the link's queue (the oldest is dropped when
/// full; the final [`LinkEvent::Down`] is always kept).
pub const EVENT_DEPTH: usize = 8;

/// The PPP link machine. See the [module docs](self).
pub struct Link {
    role: Role,
    phase: Phase,
    config_auth: AuthenticatorConfig,
    config_peer: PeerConfig,
    credentials: Option<Credentials>,
    auth_retry: bool,
    entropy: Entropy,
    lcp: Lcp,
    authenticator: Option<Authenticator>,
    peer: Option<Peer>,
    authenticator_done: bool,
    peer_done: bool,
    /// Server: the Identifier of our last CHAP Challenge, so that a
    /// re-authentication's differs (RFC 1994 §4.1) even when the host's
    /// random octet repeats.
    challenge_identifier: Option<u8>,
    ipcp: Fsm<IpcpOptions>,
    ipcp_started: bool,
    address_requested: bool,
    address_known: bool,
    #[cfg(feature = "mppe")]
    ccp: Fsm<CcpOptions>,
    #[cfg(feature = "mppe")]
    policy: mppe::Policy,
    #[cfg(feature = "mppe")]
    keys: Option<mppe::StartKeys>,
    /// MS-CHAPv1 40/56-bit key setting: the config's, then the user's.
    #[cfg(feature = "mppe")]
    mschapv1_keys: crate::auth::MsChapV1Keys,
    /// The LM-based keys still to be decided on when CCP opens.
    #[cfg(feature = "mppe")]
    lm_candidate: Option<mschapv1_keys::LmCandidate>,
    /// `Auto`: the second decrypter until the peer's packets decide.
    /// Only in the full link: a link with a trial does not park.
    #[cfg(feature = "mppe")]
    key_trial: Option<mschapv1_keys::KeyTrial>,
    ccp_settled: bool,
    data_ready: bool,
    username: Name,
    auth_request: Option<AuthRequest>,
    password_change: Option<crate::auth::PasswordChange>,
    encryption_refused_hint: bool,
    lower_is_down: bool,
    pending_close: Option<EndReason>,
    end_reason: Option<EndReason>,
    finished: bool,
    events: Deque<LinkEvent, EVENT_DEPTH>,
    /// IP both ways, MPPE and the counters: shared with [`ParkedLink`].
    data: DataPath,
}

impl fmt::Debug for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Link")
            .field("role", &self.role)
            .field("phase", &self.phase)
            .field("lcp", &self.lcp.state())
            .field("ipcp", &self.ipcp.state())
            .field("data_ready", &self.data_ready)
            .field("end_reason", &self.end_reason)
            .field("counters", &self.data.counters)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// A link in phase Dead. `entropy` is host randomness (magic number,
    /// challenge).
    pub fn new(config: LinkConfig, entropy: Entropy) -> Self {
        let LinkConfig {
            role,
            lcp,
            authenticator,
            peer,
            credentials,
            auth_retry,
            ipcp,
            ncp,
            #[cfg(feature = "mppe")]
            mppe,
            #[cfg(feature = "mppe")]
            mschapv1_keys,
        } = config;
        Link {
            role,
            phase: Phase::Dead,
            config_auth: authenticator,
            config_peer: peer,
            credentials,
            auth_retry,
            entropy,
            lcp: Lcp::new(lcp, entropy.magic),
            authenticator: None,
            peer: None,
            authenticator_done: false,
            peer_done: false,
            challenge_identifier: None,
            ipcp: Fsm::new(IpcpOptions::new(role, ipcp), ncp),
            ipcp_started: false,
            address_requested: false,
            address_known: false,
            #[cfg(feature = "mppe")]
            ccp: Fsm::new(CcpOptions::new(mppe), ncp),
            #[cfg(feature = "mppe")]
            policy: mppe,
            #[cfg(feature = "mppe")]
            keys: None,
            #[cfg(feature = "mppe")]
            mschapv1_keys,
            #[cfg(feature = "mppe")]
            lm_candidate: None,
            #[cfg(feature = "mppe")]
            key_trial: None,
            ccp_settled: false,
            data_ready: false,
            username: Name::new(),
            auth_request: None,
            password_change: None,
            encryption_refused_hint: false,
            lower_is_down: false,
            pending_close: None,
            end_reason: None,
            finished: false,
            events: Deque::new(),
            data: DataPath::new(),
        }
    }

    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        self.phase
    }

    /// Why the link ended, once it has.
    pub fn end_reason(&self) -> Option<EndReason> {
        self.end_reason
    }

    /// Whether IP packets can be sent and received.
    pub fn is_data_ready(&self) -> bool {
        self.data_ready
    }

    /// LCP (state, negotiated options).
    pub fn lcp(&self) -> &Lcp {
        &self.lcp
    }

    /// IPCP's automaton (state, negotiated addresses).
    pub fn ipcp(&self) -> &Fsm<IpcpOptions> {
        &self.ipcp
    }

    /// What IPCP agreed (complete once [`LinkEvent::IpcpUp`]).
    pub fn ipcp_negotiated(&self) -> &IpcpNegotiated {
        self.ipcp.handler().negotiated()
    }

    /// The largest IPv4 packet [`Link::send_ip`] takes now: the peer's MRU
    /// (RFC 1661 §6.1), less MPPE's 4 octets (header and inner protocol)
    /// while MPPE is active. Use it as the tunnel interface's MTU.
    pub fn max_ip_len(&self) -> usize {
        self.data.max_ip_len(self.lcp.negotiated().peer_mru)
    }

    /// The counters.
    pub fn counters(&self) -> &Counters {
        &self.data.counters
    }

    /// Server: the address given to the peer (release it to the pool after
    /// [`LinkEvent::Down`]).
    pub fn assigned_peer_address(&self) -> Option<Ipv4Addr> {
        self.ipcp.handler().assigned_peer_address()
    }

    /// Administrative Open: the lower layer is up; LCP starts.
    pub fn open(&mut self, now: Instant) {
        if self.finished || self.phase != Phase::Dead {
            return;
        }
        self.set_phase(Phase::Establish);
        self.lcp.open(now);
        self.lcp.up(now);
        self.drive(now);
    }

    /// Closes the link for `reason` (normally [`EndReason::AdminClose`]):
    /// NCPs go down and LCP sends Terminate-Request.
    pub fn close(&mut self, now: Instant, reason: EndReason) {
        if self.finished {
            return;
        }
        if self.phase == Phase::Dead {
            self.end(reason);
            return;
        }
        self.terminate(now, reason);
        self.drive(now);
    }

    /// The lower layer (PPTP call) went down: the link ends at once.
    pub fn lower_down(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        self.end_reason.get_or_insert(EndReason::LowerLayerDown);
        self.lower_is_down = true;
        self.lcp.down(now);
        self.drive(now);
        if !self.finished {
            self.end(EndReason::LowerLayerDown);
        }
    }

    /// Server: the peer's address (from the host's pool or an AAA
    /// attribute), normally after [`LinkEvent::AddressNeeded`]. `None`:
    /// none available; the link ends with [`EndReason::NoAddress`]. May be
    /// called before the event to preassign.
    pub fn assign_peer_address(&mut self, now: Instant, address: Option<Ipv4Addr>) {
        if self.finished {
            return;
        }
        self.ipcp.handler_mut().set_peer_address(address);
        self.address_known = address.is_some();
        if address.is_none() && self.address_requested {
            self.terminate(now, EndReason::NoAddress);
        } else {
            self.maybe_start_ipcp(now);
        }
        self.drive(now);
    }

    /// Server, external AAA: the request announced by
    /// [`LinkEvent::AuthRequest`] (user name, method, challenge and
    /// response: what RADIUS or TACACS+ needs). `None` once taken.
    pub fn take_auth_request(&mut self) -> Option<AuthRequest> {
        self.auth_request.take()
    }

    /// Server: the password change announced by
    /// [`LinkEvent::PasswordChanged`] (user name, store entry and new NT
    /// hash, to persist). `None` once taken.
    pub fn take_password_change(&mut self) -> Option<crate::auth::PasswordChange> {
        self.password_change.take()
    }

    /// The user name of the last authentication: the name the peer gave
    /// (server) or the name we sent (client); empty before.
    pub fn username(&self) -> &[u8] {
        &self.username
    }

    /// Server, external AAA: the verdict for the pending
    /// [`LinkEvent::AuthRequest`].
    pub fn verdict(&mut self, now: Instant, verdict: Verdict) -> Result<(), SetupError> {
        let auth = self.authenticator.as_mut().ok_or(SetupError::NotWaiting)?;
        self.auth_request = None;
        let result = auth.verdict(now, verdict);
        self.drive(now);
        result
    }

    /// Client: answers the authenticator's new challenge after an
    /// [`LinkEvent::AuthFailed`] whose reason allows a retry (only with
    /// [`LinkConfig::auth_retry`]), with `secret` if given (a corrected
    /// password). To give up instead, call [`Link::close`].
    pub fn retry_auth(&mut self, now: Instant, secret: Option<Secret>) -> Result<(), SetupError> {
        let peer = self.peer.as_mut().ok_or(SetupError::NotWaiting)?;
        let result = peer.retry(now, secret);
        self.drive(now);
        result
    }

    /// Client, MS-CHAPv2: a fresh Peer-Challenge (RFC 2759 §4: 16 random
    /// octets) for the authenticator's next Challenge, such as a
    /// re-authentication in the Network phase (RFC 1994 §3). Without one
    /// the last is used again. A host gives one after each
    /// [`LinkEvent::Authenticated`] and [`LinkEvent::Reauthenticated`];
    /// up to two wait ([`SetupError::ChallengeQueueFull`] beyond). Other
    /// methods ignore it.
    pub fn feed_peer_challenge(&mut self, peer_challenge: [u8; 16]) -> Result<(), SetupError> {
        let peer = self.peer.as_mut().ok_or(SetupError::NotWaiting)?;
        peer.feed_peer_challenge(peer_challenge)
    }

    /// Client: after [`LinkEvent::AuthFailed`] with error 648 (password
    /// expired; only with [`LinkConfig::auth_retry`]), sends a
    /// Change-Password with `new_password` (MS-CHAPv2: RFC 2759 §7;
    /// MS-CHAPv1: RFC 2433 code 6). The host gives the randomness: a
    /// fresh Peer-Challenge (MS-CHAPv2 only) and the 512 octets that pad
    /// the encrypted password block (§8.10).
    pub fn change_password(
        &mut self,
        now: Instant,
        new_password: &[u8],
        peer_challenge: [u8; 16],
        fill: &[u8; crate::auth::crypto::PW_BLOCK_PASSWORD_LEN],
    ) -> Result<(), SetupError> {
        let peer = self.peer.as_mut().ok_or(SetupError::NotWaiting)?;
        let result = peer.change_password(now, new_password, peer_challenge, fill);
        self.drive(now);
        result
    }

    /// Server: a fresh challenge after [`LinkEvent::ChallengeNeeded`]:
    /// the host's random octets, of which the method takes what it needs
    /// (as [`Link::reauthenticate`]: MS-CHAPv1 8, RFC 2433 §5; MS-CHAPv2
    /// 16, RFC 2759 §4), so one 16-octet source serves every method.
    pub fn feed_challenge(&mut self, now: Instant, challenge: &[u8]) -> Result<(), SetupError> {
        let auth = self.authenticator.as_mut().ok_or(SetupError::NotWaiting)?;
        let len = auth
            .method()
            .challenge_len()
            .map_or(challenge.len(), |len| len.min(challenge.len()));
        let result = auth.feed_challenge(now, challenge.get(..len).unwrap_or(challenge));
        self.drive(now);
        result
    }

    /// Server: authenticates the peer again, at once, with a new CHAP
    /// Challenge whose Identifier and value come from `entropy` (its
    /// `magic` is not used). RFC 1994 §3: the authenticator may send a new
    /// Challenge at any time during the Network phase; §4.1: its
    /// Identifier changes. IP keeps flowing meanwhile. The Response is
    /// judged as the first one was ([`Link::handle_frame_with`]'s verifier
    /// or [`LinkEvent::AuthRequest`]); success is reported as
    /// [`LinkEvent::Reauthenticated`], failure ends the link
    /// ([`LinkEvent::AuthFailed`], then [`EndReason::AuthFailed`]; RFC
    /// 1994 §3: the authenticator SHOULD terminate the link).
    ///
    /// The MPPE keys stay those of the first authentication: RFC 3079 §2
    /// and §3 derive them from the exchange that opened the link, and
    /// neither Windows nor pppd rekey on a re-challenge.
    ///
    /// [`SetupError::NotWaiting`] when there is nothing to re-authenticate
    /// (not the authenticator, not yet in the Network phase, PAP, which
    /// RFC 1334 §2 leaves to the peer) or an exchange is still running.
    /// A periodic re-challenge ([`AuthenticatorConfig::rechallenge_interval`])
    /// announces itself with [`LinkEvent::ChallengeNeeded`] in the
    /// Network phase: answer it with this method.
    pub fn reauthenticate(&mut self, now: Instant, entropy: Entropy) -> Result<(), SetupError> {
        let method = self.lcp.negotiated().peer_auth;
        let running = self.authenticator.as_ref().is_some_and(|a| !a.is_idle());
        let Some(method) = method.filter(|_| {
            !self.finished
                && self.phase == Phase::Network
                && self.authenticator_done
                && self.pending_close.is_none()
                && !running
        }) else {
            return Err(SetupError::NotWaiting);
        };
        let mut identifier = entropy.identifier;
        if self.challenge_identifier == Some(identifier) {
            identifier = identifier.wrapping_add(1);
        }
        let len = method.challenge_len().unwrap_or(entropy.challenge.len());
        let challenge = entropy.challenge.get(..len).unwrap_or(&entropy.challenge);
        let authenticator = Authenticator::new_reauthentication(
            method,
            self.config_auth.clone(),
            identifier,
            challenge,
        )?;
        self.authenticator = Some(authenticator);
        self.challenge_identifier = Some(identifier);
        self.drive(now);
        Ok(())
    }

    /// Handles one received PPP frame; an IPv4 packet is delivered in
    /// place (decrypted when MPPE is active). Authentication Responses are
    /// surfaced as [`LinkEvent::AuthRequest`] (external AAA).
    pub fn handle_frame(
        &mut self,
        now: Instant,
        frame: &mut [u8],
    ) -> Result<Option<Delivered>, Error> {
        self.handle_frame_inner(now, frame, None)
    }

    /// As [`Link::handle_frame`], deciding authentication at once with
    /// `verifier` (local credential store).
    pub fn handle_frame_with(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        verifier: &dyn Verifier,
    ) -> Result<Option<Delivered>, Error> {
        self.handle_frame_inner(now, frame, Some(verifier))
    }

    fn handle_frame_inner(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        verifier: Option<&dyn Verifier>,
    ) -> Result<Option<Delivered>, Error> {
        self.data.count_in(frame.len());
        if self.phase == Phase::Dead {
            self.data.counters.dropped_dead += 1;
            return Err(Error::Dead);
        }
        let accept = self.lcp.negotiated().receive;
        let (proto, header_len) = match Frame::parse(frame, accept) {
            Ok(f) => (f.protocol, f.header_len),
            Err(e) => {
                self.data.counters.dropped_malformed += 1;
                return Err(Error::Frame(e));
            }
        };
        let result = self.dispatch(now, frame, proto, header_len, verifier);
        self.drive(now);
        result
    }

    /// Writes the next control frame (LCP, authentication, IPCP, CCP) into
    /// `buf`, fully framed.
    pub fn poll_transmit(&mut self, now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        let t = self.next_transmit(now, buf);
        if let Some(t) = t {
            self.data.count_out(t.len);
        }
        self.drive(now);
        t
    }

    /// Frames and (when MPPE is active) encrypts the IPv4 packet `ip` into
    /// `out`; returns the frame length.
    pub fn send_ip(&mut self, now: Instant, ip: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        send_ip_copied(ip, out, |buf, start| self.send_ip_in_place(now, buf, start))
    }

    /// Zero-copy send: the IPv4 packet is `buf[start..]`, with at least
    /// [`HEADROOM`] octets before it. Writes the headers in front of it,
    /// encrypts in place, and returns the frame's range in `buf`.
    pub fn send_ip_in_place(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
        start: usize,
    ) -> Result<Range<usize>, SendError> {
        if !self.data_ready {
            return Err(SendError::NotReady);
        }
        #[cfg(feature = "mppe")]
        self.keys_undecided()?;
        let negotiated = self.lcp.negotiated();
        self.data
            .send_in_place(negotiated.send, negotiated.peer_mru, buf, start)
    }

    /// When [`Link::handle_timeout`] should run next.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.finished {
            return None;
        }
        let mut next = self.lcp.poll_timeout();
        let mut consider = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        consider(self.authenticator.as_ref().and_then(|a| a.poll_timeout()));
        consider(self.peer.as_ref().and_then(|p| p.poll_timeout()));
        consider(self.ipcp.poll_timeout());
        #[cfg(feature = "mppe")]
        consider(self.ccp.poll_timeout());
        next
    }

    /// Runs the timers that are due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.finished {
            return;
        }
        let due = |t: Option<Instant>| t.is_some_and(|t| t <= now);
        if due(self.lcp.poll_timeout()) {
            self.lcp.handle_timeout(now);
        }
        if let Some(a) = self.authenticator.as_mut() {
            if due(a.poll_timeout()) {
                a.handle_timeout(now);
            }
        }
        if let Some(p) = self.peer.as_mut() {
            if due(p.poll_timeout()) {
                p.handle_timeout(now);
            }
        }
        if due(self.ipcp.poll_timeout()) {
            self.ipcp.handle_timeout(now);
        }
        #[cfg(feature = "mppe")]
        if due(self.ccp.poll_timeout()) {
            self.ccp.handle_timeout(now);
        }
        self.drive(now);
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }
}
