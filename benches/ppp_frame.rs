//! PPP framing per packet: GRE-style header encode/parse (ACFC/PFC) and
//! RFC 1662 async HDLC encode/decode, at 64, 576 and 1400 octets.

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ppp_core::wire::frame::{self, protocol, FieldCompression, Frame, MAX_HEADER_LEN};
use ppp_core::wire::hdlc::{max_encoded_len, Decoder, Encoder};

const SIZES: [usize; 3] = [64, 576, 1400];

fn payload(len: usize) -> Vec<u8> {
    // Every octet value, so HDLC escaping is exercised realistically.
    (0..len).map(|i| (i * 7 + 3) as u8).collect()
}

fn ppp_frame(c: &mut Criterion) {
    let mut group = c.benchmark_group("ppp_frame");
    for size in SIZES {
        let data = payload(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(
            BenchmarkId::new("encode_prepend", size),
            &data,
            |b, data| {
                let mut buf = vec![0u8; MAX_HEADER_LEN + data.len()];
                buf[MAX_HEADER_LEN..].copy_from_slice(data);
                b.iter(|| {
                    frame::prepend_header(
                        protocol::IPV4,
                        FieldCompression::BOTH,
                        black_box(&mut buf),
                        MAX_HEADER_LEN,
                    )
                    .unwrap()
                })
            },
        );
        let mut framed = vec![0u8; MAX_HEADER_LEN + size];
        let n = frame::emit(protocol::IPV4, &data, FieldCompression::NONE, &mut framed).unwrap();
        framed.truncate(n);
        group.bench_with_input(BenchmarkId::new("parse", size), &framed, |b, framed| {
            b.iter(|| Frame::parse(black_box(framed), FieldCompression::BOTH).unwrap())
        });
    }
    group.finish();
}

fn hdlc(c: &mut Criterion) {
    let mut group = c.benchmark_group("hdlc");
    for size in SIZES {
        let data = payload(size);
        group.throughput(Throughput::Bytes(size as u64));
        let enc = Encoder::new(0);
        let mut out = vec![0u8; max_encoded_len(size)];
        group.bench_with_input(BenchmarkId::new("encode", size), &data, |b, data| {
            b.iter(|| enc.encode(black_box(data), &mut out).unwrap())
        });
        let mut encoded = vec![0u8; max_encoded_len(size)];
        let n = enc.encode(&data, &mut encoded).unwrap();
        encoded.truncate(n);
        group.bench_with_input(BenchmarkId::new("decode", size), &encoded, |b, encoded| {
            let mut dec = Decoder::<2048>::new();
            dec.set_rx_accm(0);
            b.iter(|| {
                let d = dec.decode(black_box(encoded));
                assert!(matches!(d.frame, Some(Ok(_))));
            })
        });
    }
    group.finish();
}

criterion_group!(benches, ppp_frame, hdlc);
criterion_main!(benches);
