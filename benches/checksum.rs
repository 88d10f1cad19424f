//! The Internet checksum (RFC 1071) over the sizes a host with TUN
//! offloads sums: every segment it merges is verified and every segment
//! it cuts from a TSO read is summed, so the sum runs over every octet of
//! a TCP stream (issue #15; it was 41 % of the server's time before it
//! took four octets an addition).
//!
//! `checksum/fast` is `ppp_core::wire::ipv4::sum_words`;
//! `checksum/word_by_word` is RFC 1071 §4.1's loop, one 16-bit word and
//! one end-around carry at a time, as the baseline. A summary line
//! prints GB/s of each and their ratio, measured side by side.
use benches::{mbps, time_per_call};
use criterion::{black_box, BenchmarkId, Criterion, Throughput};
use ppp_core::wire::ipv4::sum_words;
use std::time::Duration;

const SIZES: [usize; 4] = [20, 576, 1400, 65_535];

/// RFC 1071 §4.1, word by word: the baseline.
fn word_by_word(data: &[u8]) -> u32 {
    let mut sum: u32 = 0;
    for pair in data.chunks(2) {
        sum += u32::from(u16::from_be_bytes([
            pair[0],
            pair.get(1).copied().unwrap_or(0),
        ]));
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum
}

fn data(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 131 + 7) as u8).collect()
}

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("checksum");
    for size in SIZES {
        let d = data(size);
        assert_eq!(sum_words(&d), word_by_word(&d));
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_with_input(BenchmarkId::new("fast", size), &d, |b, d| {
            b.iter(|| sum_words(black_box(d)))
        });
        group.bench_with_input(BenchmarkId::new("word_by_word", size), &d, |b, d| {
            b.iter(|| word_by_word(black_box(d)))
        });
    }
    group.finish();
}

fn summary() {
    println!("checksum summary (GB/s, best of 7 rounds, side by side):");
    for size in SIZES {
        let d = data(size);
        let gbps = |sum: fn(&[u8]) -> u32| {
            let ns = time_per_call(Duration::from_millis(350), || {
                black_box(sum(black_box(&d)));
            });
            mbps(size, ns) / 1e3
        };
        let (fast, slow) = (gbps(sum_words), gbps(word_by_word));
        println!(
            "  {size:6} B: fast {fast:6.2} GB/s, word by word {slow:5.2} GB/s, {:.1} times",
            fast / slow
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    bench(&mut criterion);
    criterion.final_summary();
    summary();
}
