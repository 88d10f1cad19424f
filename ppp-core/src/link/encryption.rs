//! The link's encryption (only with the `mppe` feature): CCP's outcome
//! (RFC 1962, RFC 3078 §2), MPPE start keys from the authentication
//! (RFC 3079), and the receive half of the MPPE data path, shared by
//! [`Link`] and [`super::ParkedLink`].

use super::data_path::DataPath;
use super::{Counters, Delivered, EndReason, Error, Link, LinkEvent, Phase, Role};
use crate::auth;
use crate::ccp::{CcpOptions, RESET_REQUEST};
use crate::fsm::{Fsm, LayerEvent, State};
use crate::time::{Duration, Instant, PackedMillis};
use crate::wire::frame::protocol;
use crate::wire::packet::Code;
use crate::wire::Error as WireError;
use mppe::rc4::Keystream;

/// Whether the first octets of a decrypted MPPE payload are the IPv4
/// protocol field, compressed (RFC 1661 §6.5) or not.
pub(super) fn is_ipv4_protocol(head: &[u8]) -> bool {
    matches!(head, [0x21, ..] | [0x00, 0x21])
}

/// Whether a decrypted MPPE payload (inner protocol field, compressed or
/// not, then the packet) is a well-formed IPv4 packet: version 4, a
/// header length and total length that fit, and a correct header checksum
/// (RFC 791 §3.1). This is what proves a stateless packet genuine: MPPE
/// has no integrity check, but RC4 under a key the forger does not know
/// turns the forger's bytes into noise, which passes these checks with a
/// probability of about 2^-26.
pub(super) fn is_valid_ipv4_frame(plain: &[u8]) -> bool {
    let ip = match plain {
        [0x21, rest @ ..] | [0x00, 0x21, rest @ ..] => rest,
        _ => return false,
    };
    let Some(&first) = ip.first() else {
        return false;
    };
    let header_len = usize::from(first & 0x0f) * 4;
    if first >> 4 != 4 || header_len < 20 || ip.len() < header_len {
        return false;
    }
    let total = usize::from(u16::from_be_bytes([ip[2], ip[3]]));
    if total < header_len || total > ip.len() {
        return false;
    }
    let mut sum: u32 = ip[..header_len]
        .chunks_exact(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum == 0xffff
}

/// How often a stateless receiver may try a packet that needs more key
/// changes than `mppe::Config::max_rekeys_per_packet` (up to 2,048
/// SHA-1 key changes, a few milliseconds): enough to come back in step
/// after a long outage, too rare for a forger to burn the CPU with.
pub(super) const LONG_CATCH_UP_EVERY: Duration = Duration::from_secs(5);

/// How often a CCP Reset-Request is repeated while the stateful MPPE
/// decrypter still discards packets (pppd's reset-ack timeout is 1 s).
pub(super) const RESET_REQUEST_REPEAT: Duration = Duration::from_secs(1);

/// MPPE as agreed, per direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MppeInfo {
    /// What we send.
    pub send: mppe::Config,
    /// What we receive.
    pub receive: mppe::Config,
}

impl MppeInfo {
    pub(super) fn of<C: Keystream>(m: &mppe::session::Mppe<C>) -> Self {
        MppeInfo {
            send: *m.encrypter.config(),
            receive: *m.decrypter.config(),
        }
    }
}

impl MppeStats {
    pub(super) fn of<C: Keystream>(m: &mppe::session::Mppe<C>) -> Self {
        MppeStats {
            send: *m.encrypter.stats(),
            receive: *m.decrypter.stats(),
        }
    }
}

/// Per-direction MPPE counters.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct MppeStats {
    /// The encrypter's counters.
    pub send: mppe::EncrypterStats,
    /// The decrypter's counters.
    pub receive: mppe::DecrypterStats,
}

impl Link {
    /// CCP's automaton.
    pub fn ccp(&self) -> &Fsm<CcpOptions> {
        &self.ccp
    }

    /// MPPE per direction while active.
    pub fn mppe_info(&self) -> Option<MppeInfo> {
        self.data.mppe_info()
    }

    /// MPPE counters while active.
    pub fn mppe_stats(&self) -> Option<MppeStats> {
        self.data.mppe_stats()
    }

    /// A CCP packet in phase Network. The peer's Reset-Requests make the
    /// encrypter flush on its next packet (RFC 3078 §8.2).
    pub(super) fn handle_ccp(
        &mut self,
        now: Instant,
        info: &[u8],
    ) -> Result<Option<Delivered>, Error> {
        if self.phase != Phase::Network {
            self.data.counters.dropped_phase += 1;
            return Err(Error::WrongPhase {
                protocol: protocol::CCP,
            });
        }
        self.ccp.handle_packet(now, info).map_err(|error| {
            self.data.counters.dropped_control += 1;
            Error::Control {
                protocol: protocol::CCP,
                error,
            }
        })?;
        let resets = self.ccp.handler_mut().take_reset_requests();
        if resets > 0 {
            self.data.reset_requests_received(resets);
        }
        Ok(None)
    }

    /// Network phase: CCP starts afresh with the MPPE policy if the
    /// authentication gave keys (RFC 3079), disabled otherwise. False when
    /// MPPE is required and cannot run: the link is terminating.
    pub(super) fn start_ccp(&mut self, now: Instant) -> bool {
        let policy = if self.keys.is_some() {
            self.policy
        } else if self.policy.required {
            // No MS-CHAP keys and no AAA keys: MPPE cannot run.
            self.terminate(now, EndReason::MppeRequiredNotActive);
            return false;
        } else {
            mppe::Policy::disabled()
        };
        let config = *self.ccp.config();
        self.ccp = Fsm::new(CcpOptions::new(policy), config);
        self.ccp.open(now);
        self.ccp.up(now);
        true
    }

    /// An MPPE frame (protocol 00FD): decrypted in place by the data
    /// path (while an MS-CHAPv1 `Auto` link has not chosen its key, under
    /// both candidates: see `mschapv1_keys.rs`).
    pub(super) fn receive_mppe(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        header_len: usize,
    ) -> Result<Option<Delivered>, Error> {
        if self.key_trial.is_some() {
            return self.decrypt_on_trial(now, frame, header_len);
        }
        self.decrypt(now, frame, header_len)
    }

    /// An MPPE frame decrypted in place by the data path; a
    /// Reset-Request it asks for goes out through CCP.
    pub(super) fn decrypt(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        header_len: usize,
    ) -> Result<Option<Delivered>, Error> {
        let ccp = &mut self.ccp;
        let delivered = self.data.decrypt(now, frame, header_len, || {
            let id = ccp.next_identifier();
            ccp.send_packet(Code::from(RESET_REQUEST), id, &[])
        })?;
        if !self.data_ready {
            self.data.counters.dropped_phase += 1;
            return Err(Error::NotReady);
        }
        Ok(Some(self.data.deliver(delivered)))
    }

    /// Whether the policy refuses plaintext IP (`mppe ... required`).
    pub(super) fn encryption_required(&self) -> bool {
        self.policy.required
    }

    pub(super) fn peer_refused_our_plaintext(&self) -> bool {
        self.phase == Phase::Network
            && self.data.mppe.is_none()
            && !self.data.ip_received()
            && self.ccp.handler().peer_offered_mppe()
            && !self.policy.enabled()
    }

    pub(super) fn on_ccp_event(&mut self, now: Instant, ev: LayerEvent) {
        if self.phase != Phase::Network {
            return;
        }
        match ev {
            LayerEvent::Up => match self.ccp.handler().outcome() {
                Ok(Some(negotiated)) => match self.build_mppe(&negotiated) {
                    Some(m) => {
                        self.data.mppe = Some(m);
                        self.ccp_settled = true;
                        self.push(LinkEvent::CcpUp(Some(MppeInfo {
                            send: negotiated.send,
                            receive: negotiated.receive,
                        })));
                        self.ipcp_after_ccp_opened(now);
                    }
                    None => self.ccp_failed(now),
                },
                Ok(None) => {
                    if self.policy.required {
                        self.terminate(now, EndReason::MppeRequiredNotActive);
                    } else {
                        self.ccp_settled = true;
                        self.push(LinkEvent::CcpUp(None));
                        self.ipcp_after_ccp_opened(now);
                    }
                }
                Err(_) => self.ccp_failed(now),
            },
            LayerEvent::Down(_) => {
                // CCP left Opened: either it is renegotiating (a
                // Configure-Request arrived in Opened, RFC 1661 §4.1 tld)
                // or it is on its way to Finished. Stop the data path until
                // it reopens with fresh MPPE state (RFC 1962 §2); only if it
                // finishes without agreeing does "required" end the link
                // (ccp_failed, through LayerEvent::Finished).
                self.data.ccp_down();
                self.suspend_key_trial();
                self.ccp_settled = false;
            }
            LayerEvent::Started => {}
            LayerEvent::Finished(_) => self.ccp_failed(now),
        }
    }

    /// CCP reached Opened: our IPCP Configure-Request goes again at once
    /// if it is still unanswered (RFC 1661 §4.1 TO+ run early, restart
    /// counter reinitialised: [`Fsm::retransmit_request`]).
    ///
    /// Why: IPCP and CCP start together (RFC 1661 §3.6: each NCP is
    /// configured separately and "MAY be Opened and Closed at any time";
    /// RFC 1962 sets no order), but pppd with `require-mppe` opens its
    /// IPCP only from `ccp_up` (pppd/auth.c `start_networks` opens CCP
    /// and ECP alone when MPPE is wanted; ccp.c `ccp_up` calls
    /// `continue_networks`). Until then its IPCP sits in Closed and
    /// answers our Configure-Request with a Terminate-Ack (fsm.c
    /// `fsm_rconfreq`, RFC 1661 §4.1 RCR in Closed), which changes
    /// nothing here (RTA in Req-Sent/Ack-Sent), so without this the link
    /// waited a full restart timer (3 s) after CCP opened. A peer that
    /// heard the earlier copy and whose Ack is in flight costs one extra
    /// request: the late Ack carries the old Identifier and is discarded
    /// (§5.2). Whatever CCP agreed (MPPE or nothing), a peer holding its
    /// NCPs for CCP releases them now. We do not hold IPCP ourselves: a
    /// peer's IPCP Configure-Request before CCP opens is answered (§3.6),
    /// as Windows expects; no IP flows before CCP settles
    /// (`update_data_ready`), so nothing leaks in plaintext when MPPE is
    /// required.
    fn ipcp_after_ccp_opened(&mut self, now: Instant) {
        if self.ipcp_started {
            self.ipcp.retransmit_request(now);
        }
    }

    /// CCP could not give MPPE: fatal when required (the PIX's "mppe
    /// required but not active"), otherwise plaintext.
    pub(super) fn ccp_failed(&mut self, now: Instant) {
        self.data.mppe = None;
        self.suspend_key_trial();
        if self.policy.required {
            self.terminate(now, EndReason::MppeRequiredNotActive);
            return;
        }
        if self.ccp.state() == State::Opened {
            self.ccp.close(now, b"mppe not agreed");
        }
        if !self.ccp_settled {
            self.ccp_settled = true;
            self.push(LinkEvent::CcpUp(None));
        }
    }
}

impl<C: Keystream> DataPath<C> {
    /// Whether an IP packet has been delivered (a peer that sends none
    /// after refusing our plaintext is told apart by it).
    pub(super) fn ip_received(&self) -> bool {
        self.counters.ip_in > 0
    }

    /// MPPE per direction while active.
    pub(super) fn mppe_info(&self) -> Option<MppeInfo> {
        self.mppe.as_ref().map(MppeInfo::of)
    }

    /// MPPE counters while active.
    pub(super) fn mppe_stats(&self) -> Option<MppeStats> {
        self.mppe.as_ref().map(MppeStats::of)
    }

    /// The peer sent `count` CCP Reset-Requests (RFC 1962 §3.1): our
    /// encrypter flushes on its next packet (RFC 3078 §8.2).
    pub(super) fn reset_requests_received(&mut self, count: u32) {
        self.counters.reset_requests_received += u64::from(count);
        if let Some(m) = self.mppe.as_mut() {
            m.encrypter.reset_request();
        }
    }

    /// CCP left Opened: no MPPE until it reopens with fresh state
    /// (RFC 1962 §2), and no Reset-Request is awaited any more.
    pub(super) fn ccp_down(&mut self) {
        self.mppe = None;
        self.last_resync_attempt = PackedMillis::NONE;
    }

    /// Decrypts the MPPE packet at `frame[header_len..]` in place and
    /// returns the IPv4 packet's place, not yet delivered (the owner
    /// decides). When the decrypter asks for a CCP Reset-Request
    /// (RFC 3078 §8.2), `send_reset_request` sends one and says whether it
    /// went out; the data path times the repeats.
    pub(super) fn decrypt(
        &mut self,
        now: Instant,
        frame: &mut [u8],
        header_len: usize,
        send_reset_request: impl FnOnce() -> bool,
    ) -> Result<Delivered, Error> {
        let last_attempt = self.last_resync_attempt.instant();
        let stateless = self
            .mppe
            .as_mut()
            .filter(|m| m.decrypter.config().mode == mppe::Mode::Stateless);
        let allowed = stateless.map(|m| {
            if last_attempt.is_none_or(|at| now >= at + LONG_CATCH_UP_EVERY) {
                m.decrypter.allow_long_catch_up();
            }
            m.decrypter.long_catch_up_allowed()
        });
        let received = decrypt_ip(
            self.mppe.as_mut(),
            &mut self.counters,
            last_attempt,
            now,
            frame,
            header_len,
        );
        if let Some(before) = allowed {
            let after = self
                .mppe
                .as_ref()
                .is_some_and(|m| m.decrypter.long_catch_up_allowed());
            if before && !after {
                self.last_resync_attempt = PackedMillis::from_instant(Some(now));
            }
            return received.result;
        }
        if received.synchronised {
            self.last_resync_attempt = PackedMillis::NONE;
        }
        if received.reset_request && send_reset_request() {
            self.counters.reset_requests_sent += 1;
            self.last_resync_attempt = PackedMillis::from_instant(Some(now));
        }
        received.result
    }

    /// The same data path on another RC4 state layout (parking and
    /// unparking; the keystream position is kept, see `mppe::rc4`).
    pub(super) fn moved_to<D: Keystream>(
        self,
        convert: impl FnOnce(mppe::session::Mppe<C>) -> mppe::session::Mppe<D>,
    ) -> DataPath<D> {
        DataPath {
            mppe: self.mppe.map(convert),
            last_resync_attempt: self.last_resync_attempt,
            counters: self.counters,
        }
    }
}

/// The inner protocol of a decrypted MPPE payload and the length of its
/// field: compressed to one octet or not (RFC 3078 §3: the PPP protocol
/// field is part of what is encrypted; RFC 1661 §6.5).
pub(super) fn inner_protocol(plain: &[u8]) -> (u16, usize) {
    match plain {
        [first, ..] if first & 1 == 1 => (u16::from(*first), 1),
        [a, b, ..] => (u16::from_be_bytes([*a, *b]), 2),
        _ => (0, plain.len()),
    }
}

/// What [`decrypt_ip`] found, for its owner to act on.
struct Received {
    /// The decrypted IPv4 packet's place in the frame, or why not.
    result: Result<Delivered, Error>,
    /// Send a CCP Reset-Request now (RFC 3078 §8.2).
    reset_request: bool,
    /// The decrypter is in step again: forget the last Reset-Request.
    synchronised: bool,
}

/// The receive half of the MPPE data path, shared by [`Link`] and
/// [`ParkedLink`]: decrypts the MPPE packet at `frame[header_len..]` in
/// place and checks its inner protocol. Counts drops; the owner sends the
/// Reset-Request it asks for.
fn decrypt_ip<C: Keystream>(
    mppe: Option<&mut mppe::session::Mppe<C>>,
    counters: &mut Counters,
    last_resync_attempt: Option<Instant>,
    now: Instant,
    frame: &mut [u8],
    header_len: usize,
) -> Received {
    let fail = |counters: &mut Counters, error: Error, reset_request: bool| {
        counters.dropped_mppe += 1;
        Received {
            result: Err(error),
            reset_request,
            synchronised: false,
        }
    };
    let Some(m) = mppe else {
        // RFC 1962 §2.1: compressed datagrams before CCP opened are
        // discarded.
        return fail(counters, Error::MppeNotActive, false);
    };
    let Some(packet) = frame.get_mut(header_len..) else {
        let error = Error::Frame(WireError::Truncated {
            needed: header_len,
            available: 0,
        });
        return fail(counters, error, false);
    };
    // A repeat is due once per RESET_REQUEST_REPEAT while the decrypter
    // waits (RFC 1962 §3.1 leaves the timing to the implementation; pppd
    // repeats after 1 s).
    let repeat_due = last_resync_attempt.is_none_or(|at| now >= at + RESET_REQUEST_REPEAT);
    // Stateful: trial decryption of flushed packets (mppe's
    // `decrypt_in_place_checked`): pppd/Linux change keys on every
    // flushed packet, so a lost one would otherwise leave this end a key
    // behind until CCP is renegotiated. Stateless: a packet moves the key
    // schedule only if it decrypts to a valid IPv4 packet, so a forged
    // GRE packet cannot put the receiver out of step (see
    // `mppe::Decrypter::decrypt_in_place_verified`). Only IPv4 travels
    // inside MPPE on this link (IPCP is the only network protocol).
    let decrypted =
        match m
            .decrypter
            .decrypt_in_place_verified(packet, is_ipv4_protocol, is_valid_ipv4_frame)
        {
            Ok(d) => d,
            Err(e) => {
                // RFC 3078 §8.2 (stateful): ask the sender to flush. The
                // Reset-Request or the flushed packet answering it can be
                // lost too, so while the decrypter still waits, repeat the
                // request. Without this one lost packet would stall the
                // receive direction for good.
                let repeat = matches!(e, mppe::DecryptError::AwaitingFlush { .. }) && repeat_due;
                return fail(
                    counters,
                    Error::Decrypt(e),
                    e.needs_reset_request() || repeat,
                );
            }
        };
    let inner_start = header_len + mppe::HEADER_LEN;
    let plain = frame
        .get(inner_start..inner_start + decrypted.len)
        .unwrap_or(&[]);
    let (inner, inner_len) = inner_protocol(plain);
    if inner != protocol::IPV4 {
        // Stateful: garbage here means the keys are out of step (MPPE
        // has no integrity check). Treat it as a loss: discard until a
        // flushed packet and ask for one (RFC 3078 §8.2). The packet did
        // decrypt, so the last request was answered and a new one is due
        // at once; `resynchronise` is true only when the decrypter was in
        // step, so a run of such packets asks once, and the repeats go by
        // RESET_REQUEST_REPEAT through AwaitingFlush.
        let reset = m.decrypter.resynchronise();
        let mut received = fail(counters, Error::InnerProtocol { protocol: inner }, reset);
        received.synchronised = !reset;
        return received;
    }
    Received {
        result: Ok(Delivered {
            start: inner_start + inner_len,
            len: decrypted.len - inner_len,
        }),
        reset_request: false,
        synchronised: true,
    }
}

/// MPPE start keys from the authentication's key material (RFC 3079).
pub(super) fn start_keys(material: &auth::MppeKeyMaterial, role: Role) -> mppe::StartKeys {
    use mppe::keys::{mschapv1_start_key, mschapv2_start_keys, Side};
    match material {
        auth::MppeKeyMaterial::MsChapV2 {
            password_hash_hash,
            nt_response,
        } => {
            let side = match role {
                Role::Server => Side::Server,
                Role::Client => Side::Client,
            };
            mschapv2_start_keys(password_hash_hash, nt_response, side)
        }
        // RFC 3079 §2.4 NT-based key for every strength (what pppd and
        // Linux do for 40/56-bit too).
        auth::MppeKeyMaterial::MsChapV1 {
            password_hash_hash,
            challenge,
            ..
        } => mppe::StartKeys::symmetric(mschapv1_start_key(challenge, password_hash_hash)),
        auth::MppeKeyMaterial::External { send_key, recv_key } => mppe::StartKeys {
            send: mppe::StartKey::from_bytes(*send_key),
            receive: mppe::StartKey::from_bytes(*recv_key),
        },
    }
}
