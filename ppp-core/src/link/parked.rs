//! A parked link: the data path of an established PPP link without its
//! negotiation machinery.
//!
//! A [`Link`] in the Network phase with nothing in flight holds mostly
//! machinery it no longer uses: the three option automata with their
//! outbound queues, the authentication machines, the event queue and the
//! configuration. [`Link::park`] keeps only what the established link
//! needs (the agreed LCP, IPCP and CCP options, the MPPE state, the
//! keepalive and the counters): a [`ParkedLink`], a fraction of the size,
//! for hosts that hold very many sessions (`benches/session_setup.rs`
//! measures both).
//!
//! A parked link carries IP both ways (MPPE included), answers LCP
//! Echo-Requests, sends its own keepalive Echo-Requests, and handles CCP
//! Reset-Request and Reset-Ack (RFC 1962 §3.1, RFC 3078 §8.2), so an idle
//! or busy session never needs more. Anything else (a Configure-Request
//! that renegotiates, a Terminate-Request, a Protocol-Reject, an unknown
//! protocol, a lost keepalive) needs the full machine: the parked link
//! says so with [`Error::NeedsLink`] or [`ParkedLink::needs_link`] and
//! leaves the frame untouched, the host rebuilds the [`Link`] with
//! [`Link::unpark`] (re-supplying the configuration it shares between
//! sessions) and gives it the same frame. The rebuilt link continues as
//! if it had never been parked: same identifiers, timers, counters and
//! MPPE state.
//!
//! ```
//! use ppp_core::link::{Error, Link, LinkConfig, ParkedLink, Entropy};
//! use ppp_core::Instant;
//!
//! enum Session {
//!     Negotiating(Link),
//!     Parked(ParkedLink),
//! }
//!
//! /// One received frame; `config` is the server's shared configuration.
//! fn on_frame(session: Session, config: &LinkConfig, now: Instant, frame: &mut [u8]) -> Session {
//!     let mut link = match session {
//!         Session::Parked(mut parked) => match parked.handle_frame(now, frame) {
//!             Err(Error::NeedsLink) => {
//!                 // The host keeps the user name it was told at DataReady.
//!                 // Fresh randomness from the host for a renegotiation.
//!                 let entropy = Entropy { magic: 0x2f1e_4d3c, challenge: [0x5a; 16], identifier: 0x3c };
//!                 Link::unpark(parked, config.clone(), entropy, b"user", now)
//!             }
//!             _ => return Session::Parked(parked),
//!         },
//!         Session::Negotiating(link) => link,
//!     };
//!     let _ = link.handle_frame(now, frame);
//!     // ... drain poll_event and poll_transmit, then try to park again:
//!     match link.park() {
//!         Ok(parked) => Session::Parked(parked),
//!         Err(link) => Session::Negotiating(link),
//!     }
//! }
//! ```

use core::ops::Range;

use super::data_path::{send_ip_copied, ParkedDataPath};
use super::{Counters, Delivered, Entropy, Error, Link, LinkConfig, Phase, Role, SendError};
#[cfg(feature = "mppe")]
use super::{MppeInfo, MppeStats};
#[cfg(feature = "mppe")]
use crate::ccp::{CcpOptions, RESET_ACK, RESET_REQUEST};
use crate::fsm::{self, Fsm, State};
use crate::ipcp::{IpcpNegotiated, IpcpOptions, ParkedIpcp};
use crate::keepalive::Action;
use crate::lcp::{answers_our_echo, Lcp, Negotiated, ParkedLcp};
use crate::time::Instant;
use crate::transmit::Transmit;
use crate::wire::frame::{self, protocol, FieldCompression, Frame};
use crate::wire::packet::{Code, Packet, HEADER_LEN};

/// The largest Echo-Request data (after the Magic-Number) a parked link
/// echoes itself; longer ones go to the full link, which copies any
/// length. pppd and Windows send the Magic-Number alone.
const ECHO_DATA: usize = 12;

/// A control packet built while parked, waiting for
/// [`ParkedLink::poll_transmit`]: Echo-Reply or Echo-Request (LCP),
/// Reset-Ack or Reset-Request (CCP). The data is at most the
/// Magic-Number and [`ECHO_DATA`] octets.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct PendingPacket {
    /// LCP, or CCP when false.
    lcp: bool,
    code: u8,
    identifier: u8,
    len: u8,
    data: [u8; 4 + ECHO_DATA],
}

impl PendingPacket {
    fn data(&self) -> &[u8] {
        self.data.get(..usize::from(self.len)).unwrap_or(&[])
    }
}

/// An established PPP link with only its data path and keepalive; see the
/// [module docs](self). Built by [`Link::park`], turned back into a
/// [`Link`] by [`Link::unpark`]. Zeroizes its MPPE keys and RC4 state on
/// drop (through `mppe`).
pub struct ParkedLink {
    role: Role,
    lcp: ParkedLcp,
    ipcp: ParkedIpcp,
    ipcp_fsm: fsm::Snapshot,
    #[cfg(feature = "mppe")]
    ccp: CcpOptions,
    #[cfg(feature = "mppe")]
    ccp_fsm: fsm::Snapshot,
    #[cfg(feature = "mppe")]
    keys: Option<mppe::StartKeys>,
    /// MPPE required by the policy: plaintext IP is refused.
    encryption_required: bool,
    ccp_settled: bool,
    /// The keepalive is lost: the full link must close.
    wake: bool,
    /// One built packet waiting; the host drains it after each call, and
    /// when it has not, what would need a second slot goes to the full
    /// link instead.
    pending: Option<PendingPacket>,
    /// The link's data path, moved onto the compact RC4 state (258 octets
    /// per direction instead of 1,028; about 60 % of the speed, see
    /// `mppe::rc4`): a busy session is better unparked.
    data: ParkedDataPath,
}

impl core::fmt::Debug for ParkedLink {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ParkedLink")
            .field("role", &self.role)
            .field("needs_link", &self.wake)
            .field("counters", &self.data.counters)
            .finish_non_exhaustive()
    }
}

impl Link {
    /// Parks the link (see [`ParkedLink`]) if it is established and quiet:
    /// phase Network with IP ready, LCP and IPCP Opened, CCP settled, no
    /// event or packet waiting to be polled, no restart timer running and
    /// no authentication still in progress. Otherwise the link comes back
    /// unchanged. Drain [`Link::poll_event`] and [`Link::poll_transmit`]
    /// first. An MS-CHAPv1 link on `Auto` parks only after the peer's
    /// packets have decided its start key
    /// ([`LinkEvent::MsChapV1KeysDecided`](super::LinkEvent::MsChapV1KeysDecided)).
    ///
    /// Not kept: the user name (the host has it from
    /// [`LinkEvent::Authenticated`](super::LinkEvent::Authenticated) and
    /// gives it back to [`Link::unpark`]). The authenticator has already
    /// been retired when IP became ready (see `retire_authenticator`). A
    /// link that authenticated itself to its peer (a client) does not
    /// park: the peer may challenge it again at any time (RFC 1994 §3),
    /// and only the full link can answer.
    #[allow(clippy::result_large_err)]
    pub fn park(self) -> Result<ParkedLink, Link> {
        if !self.parkable() {
            return Err(self);
        }
        let lcp = self.lcp.park();
        let ipcp_fsm = self.ipcp.snapshot();
        #[cfg(feature = "mppe")]
        let ccp_fsm = self.ccp.snapshot();
        let encryption_required = self.encryption_required();
        let Link {
            role,
            ipcp,
            #[cfg(feature = "mppe")]
            ccp,
            #[cfg(feature = "mppe")]
            keys,
            ccp_settled,
            data,
            ..
        } = self;
        #[cfg(feature = "mppe")]
        let data = data.moved_to(mppe::session::Mppe::into_compact);
        Ok(ParkedLink {
            role,
            lcp,
            ipcp: ipcp.handler().park(),
            ipcp_fsm,
            #[cfg(feature = "mppe")]
            ccp: ccp.into_handler(),
            #[cfg(feature = "mppe")]
            ccp_fsm,
            #[cfg(feature = "mppe")]
            keys,
            encryption_required,
            ccp_settled,
            wake: false,
            pending: None,
            data,
        })
    }

    /// Whether [`Link::park`] would succeed now: a host asks first
    /// instead of moving the whole link in and back out.
    pub fn is_parkable(&self) -> bool {
        self.parkable()
    }

    fn parkable(&self) -> bool {
        let auth_quiet = self.authenticator.is_none() && self.peer.is_none();
        #[cfg(feature = "mppe")]
        let ccp_quiet = self.ccp.is_quiet();
        #[cfg(not(feature = "mppe"))]
        let ccp_quiet = true;
        // The MS-CHAPv1 key trial lives in the full link only: park once
        // the peer's packets have decided it (`mschapv1_keys.rs`).
        #[cfg(feature = "mppe")]
        let keys_decided = self.key_trial.is_none();
        #[cfg(not(feature = "mppe"))]
        let keys_decided = true;
        self.data_ready
            && !self.finished
            && self.phase == Phase::Network
            && self.authenticator_done
            && self.peer_done
            && self.ipcp_started
            && self.pending_close.is_none()
            && self.end_reason.is_none()
            && self.auth_request.is_none()
            && !self.lower_is_down
            && self.events.is_empty()
            && auth_quiet
            && self.lcp.parkable()
            && self.ipcp.is_quiet()
            && self.ipcp.state() == State::Opened
            && ccp_quiet
            && keys_decided
    }

    /// Rebuilds the full link from a parked one, in the state it would be
    /// in had it never been parked. `config` is the configuration the link
    /// was made with (a server shares one between sessions); `entropy`
    /// supplies the Magic-Number pool and challenge for a renegotiation;
    /// `username` is the name [`Link::username`] reported before parking.
    /// Packets the parked link built and the host has not polled yet are
    /// queued for [`Link::poll_transmit`]. After a lost keepalive
    /// ([`ParkedLink::needs_link`]) call [`Link::handle_timeout`], which
    /// closes the link as it would have.
    pub fn unpark(
        parked: ParkedLink,
        config: LinkConfig,
        entropy: Entropy,
        username: &[u8],
        now: Instant,
    ) -> Link {
        let lcp_config = config.lcp.clone();
        let ncp = config.ncp;
        let mut link = Link::new(config, entropy);
        let ParkedLink {
            lcp,
            ipcp,
            ipcp_fsm,
            #[cfg(feature = "mppe")]
            ccp,
            #[cfg(feature = "mppe")]
            ccp_fsm,
            #[cfg(feature = "mppe")]
            keys,
            ccp_settled,
            pending,
            data,
            ..
        } = parked;
        link.phase = Phase::Network;
        link.lcp = Lcp::restore(lcp_config, lcp);
        link.authenticator_done = true;
        link.peer_done = true;
        link.ipcp = Fsm::restore(IpcpOptions::restore(ipcp), ncp, ipcp_fsm);
        link.ipcp_started = true;
        link.address_known = true;
        #[cfg(feature = "mppe")]
        {
            link.ccp = Fsm::restore(ccp, ncp, ccp_fsm);
            link.keys = keys;
        }
        #[cfg(feature = "mppe")]
        let data = data.moved_to(mppe::session::Mppe::into_words);
        link.data = data;
        link.ccp_settled = ccp_settled;
        link.data_ready = true;
        let keep = username.len().min(link.username.capacity());
        let _ = link
            .username
            .extend_from_slice(username.get(..keep).unwrap_or(&[]));
        if let Some(p) = pending {
            let code = Code::from(p.code);
            if p.lcp {
                link.lcp.send_packet(code, p.identifier, p.data());
            } else {
                #[cfg(feature = "mppe")]
                link.ccp.send_packet(code, p.identifier, p.data());
            }
        }
        link.drive(now);
        link
    }
}

impl ParkedLink {
    /// The role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// What LCP agreed.
    pub fn lcp_negotiated(&self) -> &Negotiated {
        &self.lcp.negotiated
    }

    /// What IPCP agreed.
    pub fn ipcp_negotiated(&self) -> &IpcpNegotiated {
        self.ipcp.negotiated()
    }

    /// Server: the address given to the peer.
    pub fn assigned_peer_address(&self) -> Option<core::net::Ipv4Addr> {
        self.ipcp.assigned_peer_address()
    }

    /// MPPE per direction while active.
    #[cfg(feature = "mppe")]
    pub fn mppe_info(&self) -> Option<MppeInfo> {
        self.data.mppe_info()
    }

    /// MPPE counters while active.
    #[cfg(feature = "mppe")]
    pub fn mppe_stats(&self) -> Option<MppeStats> {
        self.data.mppe_stats()
    }

    /// The largest IPv4 packet [`ParkedLink::send_ip`] takes (as
    /// [`Link::max_ip_len`]).
    pub fn max_ip_len(&self) -> usize {
        self.data.max_ip_len(self.lcp.negotiated.peer_mru)
    }

    /// The counters (continued from the link's).
    pub fn counters(&self) -> &Counters {
        &self.data.counters
    }

    /// True when the parked link cannot go on by itself (the keepalive is
    /// lost): unpark it and call [`Link::handle_timeout`].
    pub fn needs_link(&self) -> bool {
        self.wake
    }

    /// Handles one received PPP frame, as [`Link::handle_frame`] does for
    /// the frames a parked link takes (IP, MPPE, LCP Echo and Discard, CCP
    /// Reset). Any other frame is left untouched and
    /// [`Error::NeedsLink`] returned: unpark and give the full link the
    /// same frame.
    // `now` times Reset-Requests, which exist only with MPPE.
    #[cfg_attr(not(feature = "mppe"), allow(unused_variables))]
    pub fn handle_frame(
        &mut self,
        now: Instant,
        frame: &mut [u8],
    ) -> Result<Option<Delivered>, Error> {
        let accept = self.lcp.negotiated.receive;
        let (proto, header_len) = match Frame::parse(frame, accept) {
            Ok(f) => (f.protocol, f.header_len),
            // The full link counts and reports malformed frames the
            // same way; it is cheaper not to duplicate that path.
            Err(_) => return Err(Error::NeedsLink),
        };
        let taken = match proto {
            protocol::LCP => self.lcp_packet(now, frame.get(header_len..).unwrap_or(&[])),
            #[cfg(feature = "mppe")]
            protocol::CCP => self.ccp_packet(frame.get(header_len..).unwrap_or(&[])),
            protocol::IPV4 => true,
            // Decrypting may call for a Reset-Request, which needs the
            // packet slot; once decrypted, the frame cannot be handed back.
            // (Without MPPE the full link Protocol-Rejects it.)
            #[cfg(feature = "mppe")]
            protocol::COMPRESSED => self.pending.is_none(),
            _ => false,
        };
        if !taken {
            return Err(Error::NeedsLink);
        }
        self.data.count_in(frame.len());
        match proto {
            protocol::IPV4 => self
                .data
                .receive_plain(header_len, frame.len(), self.encryption_required)
                .map(Some),
            #[cfg(feature = "mppe")]
            protocol::COMPRESSED => self.decrypt(now, frame, header_len),
            _ => Ok(None),
        }
    }

    /// An MPPE frame, decrypted in place by the data path; a Reset-Request
    /// it asks for takes the packet slot (free: checked before).
    #[cfg(feature = "mppe")]
    fn decrypt(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        header_len: usize,
    ) -> Result<Option<Delivered>, Error> {
        let (ccp_fsm, pending) = (&mut self.ccp_fsm, &mut self.pending);
        let delivered = self.data.decrypt(now, frame, header_len, || {
            let identifier = ccp_fsm.next_identifier();
            queue(pending, false, RESET_REQUEST, identifier, &[])
        })?;
        Ok(Some(self.data.deliver(delivered)))
    }

    /// An LCP packet: true if handled here (the automaton is Opened, so
    /// RFC 1661 §5.8's Echo-Request is answered with our Magic-Number and
    /// the same Identifier and data; Echo-Reply and Discard-Request are
    /// taken as the full link takes them).
    fn lcp_packet(&mut self, now: Instant, info: &[u8]) -> bool {
        let Ok(packet) = Packet::new_checked(info) else {
            return false;
        };
        let data = packet.data();
        match packet.code() {
            Code::EchoRequest => {
                let rest = data.get(4..).unwrap_or(&[]);
                if rest.len() > ECHO_DATA || self.pending.is_some() {
                    return false;
                }
                let magic = self.lcp.negotiated.local_magic.unwrap_or(0).to_be_bytes();
                let mut reply = [0u8; 4 + ECHO_DATA];
                reply[..4].copy_from_slice(&magic);
                reply[4..4 + rest.len()].copy_from_slice(rest);
                queue(
                    &mut self.pending,
                    true,
                    u8::from(Code::EchoReply),
                    packet.identifier(),
                    &reply[..4 + rest.len()],
                )
            }
            Code::EchoReply => {
                if answers_our_echo(self.lcp.negotiated.local_magic, data) {
                    if let Some(config) = self.lcp.keepalive_config() {
                        let mut keepalive = self.lcp.keepalive();
                        let _ = keepalive.on_reply(&config, now);
                        self.lcp.set_keepalive(keepalive);
                    }
                }
                true
            }
            Code::DiscardRequest => true,
            _ => false,
        }
    }

    /// A CCP packet: true if handled here (Reset-Request and Reset-Ack
    /// while CCP is Opened).
    #[cfg(feature = "mppe")]
    fn ccp_packet(&mut self, info: &[u8]) -> bool {
        if self.ccp_fsm.state != State::Opened {
            return false;
        }
        let Ok(packet) = Packet::new_checked(info) else {
            return false;
        };
        match packet.code_octet() {
            RESET_REQUEST => {
                // RFC 1962 §3.1: acknowledged with the same Identifier;
                // RFC 3078 §8.2: the next packet we send is flushed.
                if self.pending.is_some() {
                    return false;
                }
                self.data.reset_requests_received(1);
                queue(
                    &mut self.pending,
                    false,
                    RESET_ACK,
                    packet.identifier(),
                    &[],
                )
            }
            RESET_ACK => {
                self.ccp.count_reset_ack();
                true
            }
            _ => false,
        }
    }

    /// Writes the next control frame (Echo-Reply, Echo-Request, Reset-Ack,
    /// Reset-Request) into `buf`, fully framed. A frame that does not fit
    /// `buf` is dropped.
    pub fn poll_transmit(&mut self, _now: Instant, buf: &mut [u8]) -> Option<Transmit<u16>> {
        while let Some(p) = self.pending.take() {
            let (protocol, send) = if p.lcp {
                // LCP is never compressed (RFC 1661 §6.5, §6.6).
                (protocol::LCP, FieldCompression::NONE)
            } else {
                (protocol::CCP, self.lcp.negotiated.send)
            };
            let Ok(header_len) = frame::emit_header(protocol, send, buf) else {
                continue;
            };
            let data = p.data();
            let total = header_len + HEADER_LEN + data.len();
            let Some(out) = buf.get_mut(header_len..total) else {
                continue;
            };
            out[0] = p.code;
            out[1] = p.identifier;
            out[2..4].copy_from_slice(&((HEADER_LEN + data.len()) as u16).to_be_bytes());
            out[4..].copy_from_slice(data);
            self.data.count_out(total);
            return Some(Transmit {
                len: total,
                to: protocol,
            });
        }
        None
    }

    /// Frames and (with MPPE) encrypts the IPv4 packet `ip` into `out`, as
    /// [`Link::send_ip`].
    pub fn send_ip(&mut self, now: Instant, ip: &[u8], out: &mut [u8]) -> Result<usize, SendError> {
        send_ip_copied(ip, out, |buf, start| self.send_ip_in_place(now, buf, start))
    }

    /// Zero-copy send, as [`Link::send_ip_in_place`].
    pub fn send_ip_in_place(
        &mut self,
        _now: Instant,
        buf: &mut [u8],
        start: usize,
    ) -> Result<Range<usize>, SendError> {
        let negotiated = self.lcp.negotiated;
        self.data
            .send_in_place(negotiated.send, negotiated.peer_mru, buf, start)
    }

    /// When [`ParkedLink::handle_timeout`] should run (the keepalive).
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.wake || self.lcp.echo_rejected {
            return None;
        }
        let config = self.lcp.keepalive_config()?;
        self.lcp.keepalive().poll_timeout(&config)
    }

    /// Runs the keepalive, as LCP does (pppd's `lcp-echo-interval` and
    /// `lcp-echo-failure`, through the same [`crate::keepalive::Keepalive`]): an
    /// Echo-Request per interval; when as many go unanswered as allowed,
    /// [`ParkedLink::needs_link`] turns true.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.wake || self.lcp.echo_rejected {
            return;
        }
        let Some(config) = self.lcp.keepalive_config() else {
            return;
        };
        let mut keepalive = self.lcp.keepalive();
        match keepalive.on_timeout(&config, now) {
            Action::Nothing => {}
            // The full link closes with KeepaliveLost from the same state;
            // an unpolled packet leaves no slot for the request.
            Action::Dead => self.wake = true,
            Action::SendEcho if self.pending.is_some() => self.wake = true,
            Action::SendEcho => {
                let identifier = self.lcp.fsm.next_identifier();
                let magic = self.lcp.negotiated.local_magic.unwrap_or(0).to_be_bytes();
                queue(
                    &mut self.pending,
                    true,
                    u8::from(Code::EchoRequest),
                    identifier,
                    &magic,
                );
                keepalive.request_sent(now);
                self.lcp.set_keepalive(keepalive);
            }
        }
    }
}

/// Puts a packet in the parked link's one slot; false if the slot is
/// taken or `data` is too long for it.
fn queue(
    pending: &mut Option<PendingPacket>,
    lcp: bool,
    code: u8,
    identifier: u8,
    data: &[u8],
) -> bool {
    let mut packet = PendingPacket {
        lcp,
        code,
        identifier,
        len: 0,
        data: [0; 4 + ECHO_DATA],
    };
    let Some(slot) = packet.data.get_mut(..data.len()) else {
        return false;
    };
    slot.copy_from_slice(data);
    packet.len = data.len() as u8;
    if pending.is_some() {
        return false;
    }
    *pending = Some(packet);
    true
}
