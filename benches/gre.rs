//! GRE data path per call: encapsulate and decapsulate with sequence and
//! acknowledgment processing, for 64, 576 and 1400-octet PPP frames.
//!
//! - `gre_encapsulate`: header with sequence number and piggybacked ack
//!   (plus the copy of the frame into the output buffer);
//! - `gre_encapsulate_in_place`: the same, header written in front of a
//!   frame already in place (no copy);
//! - `gre_decapsulate`: header check, call ID, in-order sequence tracking,
//!   ack bookkeeping (payload delivered by range, no copy);
//! - `gre_duplex`: a full exchange between two sessions per iteration
//!   (A sends, B receives and answers with a piggybacked ack, A receives
//!   and opens its window), counted as both frames' octets.
use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::wire::gre::GrePacket;
use pptp_core::Instant;

const SIZES: [usize; 3] = [64, 576, 1400];

/// A session that has received one packet, so every data packet it sends
/// carries an ack (the common case). Peer window 0: flow control off, so
/// the loop never hits "window full".
fn sender() -> GreSession {
    let mut s: GreSession = GreSession::new(GreConfig::new(1, 2, 0));
    let mut peer: GreSession = GreSession::new(GreConfig::new(2, 1, 0));
    let mut buf = [0u8; 64];
    let n = peer.encapsulate(Instant::ZERO, b"hello", &mut buf).unwrap();
    let _ = s.decapsulate(Instant::ZERO, &buf[..n]).unwrap();
    s
}

fn encapsulate(c: &mut Criterion) {
    let mut group = c.benchmark_group("gre_encapsulate");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let mut s = sender();
            let frame = vec![0x21u8; size];
            let mut out = vec![0u8; size + 16];
            b.iter(|| {
                s.encapsulate(Instant::ZERO, black_box(&frame), &mut out)
                    .unwrap()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("gre_encapsulate_in_place");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            let mut s = sender();
            let mut buf = vec![0x21u8; size + 16];
            b.iter(|| {
                s.encapsulate_in_place(Instant::ZERO, black_box(&mut buf), size)
                    .unwrap()
            });
        });
    }
    group.finish();
}

fn decapsulate(c: &mut Criterion) {
    let mut group = c.benchmark_group("gre_decapsulate");
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            // A data packet from the peer with seq and ack; each iteration
            // bumps its sequence number so it is always the next in order.
            let mut peer = sender();
            let mut packet = vec![0u8; size + 16];
            let n = peer
                .encapsulate(Instant::ZERO, &vec![0x21u8; size], &mut packet)
                .unwrap();
            packet.truncate(n);
            let mut receiver: GreSession = GreSession::new(GreConfig::new(2, 1, 0));
            let mut seq = 0u32;
            b.iter(|| {
                GrePacket::new_unchecked(&mut packet[..]).set_sequence(seq);
                seq = seq.wrapping_add(1);
                match receiver.decapsulate(Instant::ZERO, black_box(&packet)) {
                    Ok(Received::Deliver { payload, .. }) => payload.len(),
                    other => panic!("{other:?}"),
                }
            });
        });
    }
    group.finish();
}

fn duplex(c: &mut Criterion) {
    let mut group = c.benchmark_group("gre_duplex");
    for size in SIZES {
        group.throughput(Throughput::Bytes(2 * size as u64));
        group.bench_with_input(BenchmarkId::from_parameter(size), &size, |b, &size| {
            // Windows enforced (64 each way): the acks must keep them open.
            let mut a: GreSession = GreSession::new(GreConfig::new(1, 2, 64));
            let mut z: GreSession = GreSession::new(GreConfig::new(2, 1, 64));
            let frame = vec![0x21u8; size];
            let mut buf = vec![0u8; size + 16];
            let mut now = 0u64;
            b.iter(|| {
                now += 1;
                let t = Instant::from_millis(now);
                let n = a.encapsulate(t, &frame, &mut buf).unwrap();
                let r1 = z.decapsulate(t, &buf[..n]).unwrap();
                let n = z.encapsulate(t, &frame, &mut buf).unwrap();
                let r2 = a.decapsulate(t, &buf[..n]).unwrap();
                black_box((r1, r2))
            });
        });
    }
    group.finish();
}

criterion_group!(benches, encapsulate, decapsulate, duplex);
criterion_main!(benches);
