//! CCP, the Compression Control Protocol (RFC 1962), carrying only MPPE
//! (RFC 3078 §2, option 18).
//!
//! [`CcpOptions`] is the [`OptionHandler`] the link plugs into the shared
//! [`crate::fsm`] automaton. Its decisions come from [`mppe::Policy`]:
//!
//! - our Configure-Request carries the MPPE option with every strength the
//!   policy allows, or nothing when MPPE is off: the PIX of the origin
//!   document sent an empty Configure-Request and Configure-Rejected the
//!   Windows client's MPPE+Stac offer;
//! - the peer's MPPE option is Acked, Nak'd with the bits we want, or
//!   Rejected ([`mppe::Policy::respond`]); every other compressor (Stac 17,
//!   Predictor, Deflate, BSD, ...) is Configure-Rejected;
//! - when CCP opens, [`CcpOptions::outcome`] gives the per-direction MPPE
//!   configuration ([`mppe::Policy::outcome`]);
//! - Reset-Request (14) is answered with Reset-Ack (15) and counted so the
//!   link can call [`mppe::Encrypter::reset_request`]; the link sends our
//!   Reset-Requests with [`crate::fsm::Fsm::send_packet`] when its
//!   decrypter lost sync (RFC 1962 §3.1, RFC 3078 §8.2).
//!
//! When the policy requires MPPE and the peer rejects it or cannot agree,
//! the handler gives up ([`Progress::GiveUp`], Terminate-Request data
//! "mppe required but not active", the PIX's log line) and records why
//! ([`CcpOptions::failure`]).

use mppe::policy::{OPTION_LEN, OPTION_TYPE};
use mppe::{NotAgreed, Policy, RequestResponse, SupportedBits};

use crate::fsm::{OptionHandler, Options, OtherCode, Outbox, Progress, ResponseBuilder, State};
use crate::time::Instant;
use crate::wire::frame::protocol;
use crate::wire::packet::{Code, OptionWriter, Packet};
use crate::wire::Error as WireError;

/// CCP Reset-Request code (RFC 1962 §3.1).
pub const RESET_REQUEST: u8 = 14;
/// CCP Reset-Ack code (RFC 1962 §3.1).
pub const RESET_ACK: u8 = 15;

/// The CCP option handler (MPPE only).
#[derive(Clone, Debug)]
pub struct CcpOptions {
    policy: Policy,
    /// Our request as it stands (`None`: MPPE not requested).
    want: Option<SupportedBits>,
    /// Our acknowledged request.
    ours_acked: Option<SupportedBits>,
    /// The peer's request we acknowledged last.
    peers_acked: Option<SupportedBits>,
    /// Reset-Requests received and not yet taken by the link.
    resets_received: u32,
    /// Reset-Acks received.
    reset_acks_received: u32,
    /// Why we gave up, if we did.
    failure: Option<NotAgreed>,
    /// The peer offered MPPE at some point (used to explain a peer that
    /// terminates after we rejected it).
    peer_offered_mppe: bool,
}

impl CcpOptions {
    /// A handler for `policy`.
    pub fn new(policy: Policy) -> Self {
        CcpOptions {
            policy,
            want: policy.initial_request(),
            ours_acked: None,
            peers_acked: None,
            resets_received: 0,
            reset_acks_received: 0,
            failure: None,
            peer_offered_mppe: false,
        }
    }

    /// The policy.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The MPPE configuration per direction once CCP is Opened
    /// ([`mppe::Policy::outcome`] of the acknowledged options).
    pub fn outcome(&self) -> Result<Option<mppe::Negotiated>, NotAgreed> {
        self.policy.outcome(self.ours_acked, self.peers_acked)
    }

    /// Why the handler gave up negotiating, if it did.
    pub fn failure(&self) -> Option<NotAgreed> {
        self.failure
    }

    /// Whether the peer ever offered MPPE in a Configure-Request.
    pub fn peer_offered_mppe(&self) -> bool {
        self.peer_offered_mppe
    }

    /// Takes the number of Reset-Requests received since the last call.
    pub fn take_reset_requests(&mut self) -> u32 {
        core::mem::take(&mut self.resets_received)
    }

    /// Reset-Acks received so far.
    pub fn reset_acks_received(&self) -> u32 {
        self.reset_acks_received
    }

    /// Counts a Reset-Ack received while the link is parked.
    pub(crate) fn count_reset_ack(&mut self) {
        self.reset_acks_received = self.reset_acks_received.saturating_add(1);
    }
}

impl OptionHandler for CcpOptions {
    fn protocol(&self) -> u16 {
        protocol::CCP
    }

    fn reset_request(&mut self) {
        self.want = self.policy.initial_request();
        self.ours_acked = None;
        self.failure = None;
    }

    fn build_request(&mut self, out: &mut OptionWriter<'_>) -> Result<(), WireError> {
        if let Some(bits) = self.want {
            out.push(OPTION_TYPE, &bits.to_bytes())?;
        }
        Ok(())
    }

    fn process_request(&mut self, options: Options<'_>, response: &mut ResponseBuilder) {
        let mut offered = None;
        for opt in options.iter() {
            if opt.kind != OPTION_TYPE {
                // Stac (17), Predictor, BSD, Deflate, ...: not spoken here.
                response.reject(opt);
                continue;
            }
            self.peer_offered_mppe = true;
            let Ok(bits) = SupportedBits::parse(opt.data) else {
                response.reject(opt);
                continue;
            };
            match self.policy.respond(bits) {
                RequestResponse::Ack => offered = Some(bits),
                RequestResponse::Nak(suggest) => {
                    response.nak(opt, OPTION_TYPE, &suggest.to_bytes())
                }
                RequestResponse::Reject => response.reject(opt),
            }
        }
        if response.verdict() == crate::fsm::Verdict::Ack {
            self.peers_acked = offered;
        }
    }

    fn on_ack(&mut self, _options: Options<'_>) {
        self.ours_acked = self.want;
    }

    fn on_nak(&mut self, options: Options<'_>) -> Progress {
        for opt in options.iter() {
            if opt.kind != OPTION_TYPE || usize::from(OPTION_LEN) != opt.data.len() + 2 {
                continue;
            }
            let Ok(bits) = SupportedBits::parse(opt.data) else {
                continue;
            };
            match self.policy.on_nak(bits) {
                Some(next) => self.want = Some(next),
                None => {
                    self.want = None;
                    if let Err(e) = self.policy.on_reject() {
                        self.failure = Some(e);
                        return Progress::GiveUp;
                    }
                }
            }
        }
        Progress::Continue
    }

    fn on_reject(&mut self, options: Options<'_>) -> Progress {
        if options.iter().any(|o| o.kind == OPTION_TYPE) {
            self.want = None;
            if let Err(e) = self.policy.on_reject() {
                self.failure = Some(e);
                return Progress::GiveUp;
            }
        }
        Progress::Continue
    }

    fn this_layer_down(&mut self) {
        // Only our side is forgotten here. RFC 1661 §4.1 judges a
        // Configure-Request that arrives in Opened (renegotiation) *before*
        // running tld, so clearing `peers_acked` now would lose the request
        // just Acked and leave CCP Opened with "one direction only". A
        // stale value cannot leak: Opened is reached only through a fresh
        // Configure-Ack of ours, which overwrites `peers_acked`.
        self.ours_acked = None;
    }

    fn handle_other(
        &mut self,
        _now: Instant,
        state: State,
        packet: &Packet<&[u8]>,
        out: &mut Outbox<'_>,
    ) -> OtherCode {
        match packet.code_octet() {
            RESET_REQUEST => {
                // RFC 1962 §3.1: only meaningful while Opened; the Ack
                // echoes the Identifier. MPPE carries no data in it.
                if state == State::Opened {
                    self.resets_received = self.resets_received.saturating_add(1);
                    out.send(Code::from(RESET_ACK), packet.identifier(), &[]);
                }
                OtherCode::Handled
            }
            RESET_ACK => {
                self.reset_acks_received = self.reset_acks_received.saturating_add(1);
                OtherCode::Handled
            }
            _ => OtherCode::Unknown,
        }
    }

    fn give_up_reason(&self) -> &[u8] {
        b"mppe required but not active"
    }
}

#[cfg(test)]
mod tests {
    extern crate std;
    use std::vec::Vec;

    use super::*;
    use crate::auth::testdata::{hex, vectors};
    use crate::fsm::{Config, Fsm, Verdict};
    use mppe::{KeyStrength, Mode, PixEncryption};

    const SEED: &str = include_str!("../tests/data/seed_frames.toml");
    const NOW: Instant = Instant::ZERO;

    fn seed(id: &str) -> toml::Table {
        vectors(SEED, "ppp_frame")
            .into_iter()
            .find(|v| v["id"].as_str() == Some(id))
            .expect("vector present")
    }

    fn next(m: &mut Fsm<CcpOptions>) -> Vec<u8> {
        let mut buf = [0u8; 256];
        let t = m.poll_transmit(&mut buf).expect("a packet");
        let mut f = std::vec![0xff, 0x03, 0x80, 0xfd];
        f.extend_from_slice(&buf[..t.len]);
        f
    }

    fn started(policy: Policy) -> Fsm<CcpOptions> {
        let mut m = Fsm::new(CcpOptions::new(policy), Config::default());
        m.open(NOW);
        m.up(NOW);
        m
    }

    #[test]
    fn pix_without_mppe_matches_the_trace() {
        let mut m = started(Policy::disabled());
        // Frame 13: the PIX's empty Configure-Request.
        assert_eq!(next(&mut m), hex(&seed("trace1-ppp-13")["hex"]));
        // Frames 12, 16, 17, 19: reject MPPE+Stac; Ack the empty request;
        // Terminate-Ack.
        for id in [
            "trace1-ppp-12",
            "trace1-ppp-16",
            "trace1-ppp-17",
            "trace1-ppp-19",
        ] {
            let v = seed(id);
            let f = hex(&v["hex"]);
            m.handle_packet(NOW, &f[4..]).unwrap();
            match v.get("observed_pix_reply") {
                Some(reply) => assert_eq!(next(&mut m), hex(reply), "{id}"),
                None => assert!(!m.has_transmit(), "{id}"),
            }
            if id == "trace1-ppp-17" {
                assert_eq!(m.state(), State::Opened);
                assert_eq!(m.handler().outcome(), Ok(None));
            }
        }
    }

    /// Two handlers negotiate; returns both outcomes.
    fn negotiate(a: Policy, b: Policy) -> (Fsm<CcpOptions>, Fsm<CcpOptions>) {
        let mut x = started(a);
        let mut y = started(b);
        let mut buf = [0u8; 256];
        for _ in 0..30 {
            while let Some(t) = x.poll_transmit(&mut buf) {
                let _ = y.handle_packet(NOW, &buf[..t.len]);
            }
            while let Some(t) = y.poll_transmit(&mut buf) {
                let _ = x.handle_packet(NOW, &buf[..t.len]);
            }
        }
        (x, y)
    }

    fn stateless(strength: KeyStrength) -> mppe::Negotiated {
        let c = mppe::Config::new(strength, Mode::Stateless);
        mppe::Negotiated {
            send: c,
            receive: c,
        }
    }

    #[test]
    fn policy_matrix() {
        use PixEncryption::*;
        let cases = [
            (
                Policy::pix(Auto, false),
                Policy::pix(Bits128, false),
                Ok(Some(stateless(KeyStrength::Bits128))),
            ),
            (
                Policy::pix(Auto, false),
                Policy::pix(Bits40, false),
                Ok(Some(stateless(KeyStrength::Bits40))),
            ),
            (
                Policy::pix(Bits128, true),
                Policy::pix(Auto, false),
                Ok(Some(stateless(KeyStrength::Bits128))),
            ),
            (Policy::pix(Bits40, false), Policy::disabled(), Ok(None)),
            (Policy::disabled(), Policy::disabled(), Ok(None)),
        ];
        for (i, (a, b, expected)) in cases.into_iter().enumerate() {
            let (x, y) = negotiate(a, b);
            assert_eq!(x.state(), State::Opened, "case {i}");
            assert_eq!(y.state(), State::Opened, "case {i}");
            assert_eq!(x.handler().outcome(), expected, "case {i}");
            assert_eq!(y.handler().outcome(), expected, "case {i}");
        }
        // Required against disabled: the requiring side gives up with the
        // PIX's reason.
        let (x, _y) = negotiate(Policy::pix(Bits128, true), Policy::disabled());
        assert_ne!(x.state(), State::Opened);
        assert_eq!(x.handler().failure(), Some(NotAgreed::RequiredButNotActive));
        // 40 only against 128 only, required: Nak then give up.
        let (x, y) = negotiate(Policy::pix(Bits40, true), Policy::pix(Bits128, false));
        assert_ne!(x.state(), State::Opened);
        assert_ne!(y.state(), State::Opened);
        assert_eq!(x.handler().failure(), Some(NotAgreed::RequiredButNotActive));
    }

    #[test]
    fn peer_mppe_offer_is_nakked_to_one_strength_and_stac_rejected() {
        let mut h = CcpOptions::new(Policy::pix(PixEncryption::Auto, false));
        let mut rb = ResponseBuilder::new();
        // H | S | L offered: Nak with H | S.
        h.process_request(Options::new(&[18, 6, 1, 0, 0, 0x60]).unwrap(), &mut rb);
        assert_eq!(rb.verdict(), Verdict::Nak);
        assert_eq!(rb.nak_options(), &[18, 6, 1, 0, 0, 0x40]);
        let mut rb = ResponseBuilder::new();
        h.process_request(
            Options::new(&[18, 6, 1, 0, 0, 0x40, 17, 5, 0, 1, 4]).unwrap(),
            &mut rb,
        );
        assert_eq!(rb.verdict(), Verdict::Reject);
        assert_eq!(rb.reject_options(), &[17, 5, 0, 1, 4]);
        // Malformed MPPE option length: rejected.
        let mut rb = ResponseBuilder::new();
        h.process_request(Options::new(&[18, 5, 1, 0, 0]).unwrap(), &mut rb);
        assert_eq!(rb.reject_options(), &[18, 5, 1, 0, 0]);
    }

    #[test]
    fn renegotiation_from_opened_keeps_both_directions() {
        // Regression: the peer's Configure-Request judged in Opened was
        // forgotten by the tld that follows it (RFC 1661 §4.1), so after a
        // renegotiation CCP reopened with "one direction only" and an
        // MPPE-required link ended with 742.
        let policy = Policy::pix(PixEncryption::Bits128, true);
        let (mut x, mut y) = negotiate(policy, policy);
        assert_eq!((x.state(), y.state()), (State::Opened, State::Opened));
        // y restarts its side (as after a lost packet): its request reaches
        // x in Opened.
        y.down(NOW);
        y.up(NOW);
        let mut buf = [0u8; 256];
        for _ in 0..30 {
            while let Some(t) = x.poll_transmit(&mut buf) {
                let _ = y.handle_packet(NOW, &buf[..t.len]);
            }
            while let Some(t) = y.poll_transmit(&mut buf) {
                let _ = x.handle_packet(NOW, &buf[..t.len]);
            }
        }
        assert_eq!((x.state(), y.state()), (State::Opened, State::Opened));
        assert_eq!(
            x.handler().outcome(),
            Ok(Some(stateless(KeyStrength::Bits128)))
        );
        assert_eq!(
            y.handler().outcome(),
            Ok(Some(stateless(KeyStrength::Bits128)))
        );
    }

    #[test]
    fn reset_request_is_acked_and_counted_only_when_opened() {
        let (mut x, _y) = negotiate(
            Policy::pix(PixEncryption::Bits128, false),
            Policy::pix(PixEncryption::Bits128, false),
        );
        assert_eq!(x.state(), State::Opened);
        x.handle_packet(NOW, &[RESET_REQUEST, 7, 0, 4]).unwrap();
        assert_eq!(next(&mut x), [0xff, 0x03, 0x80, 0xfd, RESET_ACK, 7, 0, 4]);
        assert_eq!(x.handler_mut().take_reset_requests(), 1);
        assert_eq!(x.handler_mut().take_reset_requests(), 0);
        x.handle_packet(NOW, &[RESET_ACK, 9, 0, 4]).unwrap();
        assert_eq!(x.handler().reset_acks_received(), 1);
        // Unknown code 16: Code-Reject.
        x.handle_packet(NOW, &[16, 1, 0, 4]).unwrap();
        assert_eq!(next(&mut x)[4], 7);
        let mut y = started(Policy::disabled());
        let _ = next(&mut y);
        y.handle_packet(NOW, &[RESET_REQUEST, 7, 0, 4]).unwrap();
        assert!(!y.has_transmit());
        assert_eq!(y.handler_mut().take_reset_requests(), 0);
    }
}
