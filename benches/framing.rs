//! GRE + PPP framing overhead per packet, without encryption: what the data
//! path costs beyond MPPE (issue 6 target: at most 50 ns per packet).
//!
//! - `framing/send`: PPP header prepended in place (ACFC + PFC, RFC 1661
//!   §6.5/§6.6), then the enhanced GRE header written in front of it with
//!   sequence number (and an ack when one is due) (RFC 2637 §4.1), zero
//!   copy;
//! - `framing/receive`: GRE header check, call ID, in-order sequence and
//!   ack bookkeeping, then the PPP header parsed (payload by range, no
//!   copy);
//!
//! at 64, 576 and 1400 octets of IP payload. A summary line prints each
//! median in ns per packet against the target.
use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use ppp_core::wire::frame::{self, protocol, FieldCompression, Frame, MAX_HEADER_LEN};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::wire::gre::{GrePacket, HEADER_LEN_MAX};
use pptp_core::Instant;
use std::time::{Duration, Instant as WallClock};

const SIZES: [usize; 3] = [64, 576, 1400];
const HEADROOM: usize = HEADER_LEN_MAX + MAX_HEADER_LEN;

/// A session that has received one packet, so every packet it sends
/// carries an ack. Peer window 0: flow control off.
fn session(local: u16, peer: u16) -> GreSession {
    let mut s: GreSession = GreSession::new(GreConfig::new(local, peer, 0));
    let mut other: GreSession = GreSession::new(GreConfig::new(peer, local, 0));
    let mut buf = [0u8; 64];
    let n = other
        .encapsulate(Instant::ZERO, b"hello", &mut buf)
        .unwrap();
    let _ = s.decapsulate(Instant::ZERO, &buf[..n]).unwrap();
    s
}

/// One packet out: returns the GRE packet's range in `buf`.
fn send(s: &mut GreSession, buf: &mut [u8], ip_len: usize) -> std::ops::Range<usize> {
    let ppp_start =
        frame::prepend_header(protocol::IPV4, FieldCompression::BOTH, buf, HEADROOM).unwrap();
    let gre_base = ppp_start - HEADER_LEN_MAX;
    let frame_len = HEADROOM + ip_len - ppp_start;
    let r = s
        .encapsulate_in_place(Instant::ZERO, &mut buf[gre_base..], frame_len)
        .unwrap();
    r.start + gre_base..r.end + gre_base
}

/// One packet in: returns the IP payload length.
fn receive(s: &mut GreSession, packet: &[u8]) -> usize {
    match s.decapsulate(Instant::ZERO, packet) {
        Ok(Received::Deliver { payload, .. }) => {
            let f = Frame::parse(&packet[payload], FieldCompression::BOTH).unwrap();
            assert_eq!(f.protocol, protocol::IPV4);
            f.information.len()
        }
        other => panic!("{other:?}"),
    }
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("framing");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("send", size), &size, |b, &size| {
            let mut s = session(1, 2);
            let mut buf = vec![0x45u8; HEADROOM + size];
            b.iter(|| send(&mut s, black_box(&mut buf), size))
        });
        group.bench_with_input(BenchmarkId::new("receive", size), &size, |b, &size| {
            let mut peer = session(2, 1);
            let mut buf = vec![0x45u8; HEADROOM + size];
            let r = send(&mut peer, &mut buf, size);
            let mut packet = buf[r].to_vec();
            let mut receiver = session(1, 2);
            let mut seq = 1u32;
            b.iter(|| {
                // Always the next packet in order.
                GrePacket::new_unchecked(&mut packet[..]).set_sequence(seq);
                seq = seq.wrapping_add(1);
                receive(&mut receiver, black_box(&packet))
            })
        });
    }
    group.finish();
}

/// Best-of-7 medians of 200,000 packets each way, printed against the
/// target (criterion's own figures are above).
fn summary() {
    const TARGET_NS: f64 = 50.0;
    println!("framing summary (GRE + PPP, no encryption; target <= {TARGET_NS} ns per packet):");
    for size in SIZES {
        let mut best = (f64::MAX, f64::MAX);
        for _ in 0..7 {
            let mut a = session(1, 2);
            let mut z = session(2, 1);
            let mut buf = vec![0x45u8; HEADROOM + size];
            let n = 200_000u32;
            let mut packets = Vec::with_capacity(n as usize);
            let start = WallClock::now();
            for _ in 0..n {
                packets.push(send(&mut a, &mut buf, size));
            }
            let send_ns = start.elapsed().as_nanos() as f64 / f64::from(n);
            // Receive the same packet with a fresh sequence number each
            // time (the send loop above wrote them all into one buffer).
            let r = packets[0].clone();
            let mut packet = buf[r].to_vec();
            let start = WallClock::now();
            for seq in 1..=n {
                GrePacket::new_unchecked(&mut packet[..]).set_sequence(seq);
                black_box(receive(&mut z, &packet));
            }
            let receive_ns = start.elapsed().as_nanos() as f64 / f64::from(n);
            best = (best.0.min(send_ns), best.1.min(receive_ns));
        }
        println!(
            "  {size:4} B: send {:.1} ns, receive {:.1} ns per packet ({})",
            best.0,
            best.1,
            if best.0.max(best.1) <= TARGET_NS {
                "target met"
            } else {
                "target NOT met"
            }
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(2))
        .configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    summary();
}
