//! A GRE data path (`GreSession`) driven by an arbitrary sequence of
//! datagrams (raw bytes or well-formed data/ack packets with arbitrary
//! numbers), sends and clock advances, with and without a reorder buffer.
//!
//! Invariants after every step:
//! - the books balance: every datagram is malformed, for another call,
//!   sequence-less or a data packet; every data packet is delivered,
//!   dropped or held (`GreStats::is_consistent`);
//! - held packets never exceed the buffer's slots;
//! - nothing is written past a caller's buffer, and what is written
//!   parses back as the packet it claims to be;
//! - a delivered range lies inside the datagram;
//! - frames reach PPP in strictly increasing sequence order (checked when
//!   every datagram was well-formed, so the frame carries its number);
//! - after `handle_timeout(now)` and `poll_transmit(now)` (with room for
//!   an ack), `poll_timeout()` is empty or later than `now`: no timer is
//!   left overdue, so a host loop cannot spin.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pptp_core::gre::{serial, GreConfig, GreSession, Received};
use pptp_core::wire::gre::{GrePacket, GreRepr};
use pptp_core::{Duration, Instant};

const LOCAL: u16 = 0x4000;
const PEER: u16 = 7;

#[derive(Arbitrary, Debug)]
enum Op {
    /// Any bytes at all.
    Raw(Vec<u8>),
    /// A well-formed data packet whose payload is its sequence number.
    Data { seq: u32, ack: Option<u32> },
    /// A well-formed acknowledgment-only packet.
    Ack(u32),
    /// The host sends a frame of this length into a buffer of that size.
    Send { len: u8, buf: u8, in_place: bool },
    /// Time passes (milliseconds).
    Advance(u16),
    /// The host runs timers, transmits due acks and drains deliveries.
    Poll { buf: u8 },
}

#[derive(Arbitrary, Debug)]
struct Input {
    peer_window: u16,
    receive_window: u16,
    slow_start: bool,
    initial_sequence: u32,
    max_jump: u16,
    ack_delay_ms: u8,
    reorder_timeout_ms: u8,
    ops: Vec<Op>,
}

struct Harness<const H: usize, const S: usize> {
    session: GreSession<H, S>,
    now: Instant,
    last_delivered: Option<u32>,
    well_formed_only: bool,
}

impl<const H: usize, const S: usize> Harness<H, S> {
    fn deliver(&mut self, frame: &[u8]) {
        if self.well_formed_only {
            let seq = u32::from_be_bytes(frame.try_into().expect("4-octet frames"));
            if let Some(last) = self.last_delivered {
                assert!(serial::is_after(seq, last), "{seq} after {last}");
            }
            self.last_delivered = Some(seq);
        }
    }

    fn receive(&mut self, datagram: &[u8]) {
        let result = self.session.decapsulate(self.now, datagram);
        if let Ok(Received::Deliver {
            payload,
            queued_before,
        }) = result
        {
            assert!(payload.end <= datagram.len() && payload.start <= payload.end);
            for _ in 0..queued_before {
                let frame = self.session.poll_deliver().expect("queued frame").to_vec();
                assert!(frame.len() <= S, "held frames fit their slots");
                self.deliver(&frame);
            }
            self.deliver(&datagram[payload]);
        }
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(frame) = self.session.poll_deliver() {
            let frame = frame.to_vec();
            assert!(frame.len() <= S, "held frames fit their slots");
            self.deliver(&frame);
        }
    }

    fn check(&self) {
        let held = self.session.held();
        assert!(held <= H);
        assert!(
            self.session.stats().is_consistent(held),
            "{:?}",
            self.session.stats()
        );
    }

    fn step(&mut self, op: &Op) {
        match op {
            Op::Raw(bytes) => {
                if GrePacket::new_checked(&bytes[..]).is_ok_and(|p| p.call_id() == LOCAL) {
                    self.well_formed_only = false;
                }
                self.receive(bytes);
            }
            Op::Data { seq, ack } => {
                let repr = GreRepr::data(LOCAL, 4, *seq, *ack);
                let mut buf = vec![0u8; repr.total_len()];
                repr.emit_with_payload(&seq.to_be_bytes(), &mut buf)
                    .unwrap();
                self.receive(&buf);
            }
            Op::Ack(ack) => {
                let mut buf = [0u8; 12];
                GreRepr::ack_only(LOCAL, *ack).emit(&mut buf).unwrap();
                self.receive(&buf);
            }
            Op::Send { len, buf, in_place } => {
                let frame = vec![0xa5u8; usize::from(*len)];
                let mut out = vec![0u8; usize::from(*buf)];
                let sent_before = self.session.stats().packets_sent;
                let packet = if *in_place {
                    if let Some(dst) = out.get_mut(16..16 + frame.len()) {
                        dst.copy_from_slice(&frame);
                    }
                    self.session
                        .encapsulate_in_place(self.now, &mut out, frame.len())
                        .ok()
                        .map(|r| out[r].to_vec())
                } else {
                    self.session
                        .encapsulate(self.now, &frame, &mut out)
                        .ok()
                        .map(|n| out[..n].to_vec())
                };
                match packet {
                    Some(packet) => {
                        assert!(packet.len() <= usize::from(*buf));
                        let p = GrePacket::new_checked(&packet[..]).expect("we emit valid GRE");
                        assert_eq!(p.call_id(), PEER);
                        assert_eq!(p.payload(), &frame[..]);
                        assert_eq!(p.sequence(), self.session.status().seq);
                        assert_eq!(self.session.stats().packets_sent, sent_before + 1);
                    }
                    None => assert_eq!(self.session.stats().packets_sent, sent_before),
                }
            }
            Op::Advance(ms) => self.now += Duration::from_millis(u64::from(*ms)),
            Op::Poll { buf } => {
                if self.session.poll_timeout().is_some_and(|at| at <= self.now) {
                    self.session.handle_timeout(self.now);
                }
                self.drain();
                let mut out = vec![0u8; usize::from(*buf)];
                if let Ok(Some(t)) = self.session.poll_transmit(self.now, &mut out) {
                    let n = t.len;
                    assert!(n <= out.len());
                    let p = GrePacket::new_checked(&out[..n]).expect("we emit valid GRE");
                    assert_eq!((p.sequence(), p.call_id()), (None, PEER));
                    assert!(p.ack().is_some());
                }
                // Once the timers due now have run and a big enough buffer
                // took the due ack, nothing is due any more.
                if out.len() >= 12 {
                    let next = self.session.poll_timeout();
                    assert!(
                        next.is_none_or(|at| at > self.now),
                        "{next:?} <= {:?}",
                        self.now
                    );
                }
            }
        }
        self.check();
    }
}

fn run<const H: usize, const S: usize>(input: &Input) {
    let mut config = GreConfig::new(LOCAL, PEER, input.peer_window);
    config.receive_window = input.receive_window;
    config.slow_start = input.slow_start;
    config.initial_sequence = input.initial_sequence;
    config.max_sequence_jump = u32::from(input.max_jump);
    config.ack_delay = Duration::from_millis(u64::from(input.ack_delay_ms));
    config.reorder_timeout = Duration::from_millis(u64::from(input.reorder_timeout_ms));
    let mut harness = Harness::<H, S> {
        session: GreSession::new(config),
        now: Instant::ZERO,
        last_delivered: None,
        well_formed_only: true,
    };
    for op in input.ops.iter().take(512) {
        harness.step(op);
    }
}

fuzz_target!(|input: Input| {
    run::<0, 0>(&input);
    run::<4, 4>(&input);
});
