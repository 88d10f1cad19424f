//! MPPE throughput: header + in-place encrypt/decrypt at 64/576/1400 octets,
//! 40 and 128 bit, stateful and stateless, against OpenSSL's RC4 (EVP,
//! legacy provider) and the RustCrypto `rc4` crate on the same sizes.
//!
//! After criterion's groups a short summary is printed, timed with
//! `std::time` in this process: throughput of each and the ratios the
//! project's targets are stated in (issue 5):
//! - stateful 128-bit 1400 B MPPE encrypt >= 90% of OpenSSL RC4,
//! - stateless 128-bit 1400 B per-packet time <= 1.5x stateful.
//!
//! Run: `cargo bench -p benches --bench mppe` (add `-- --quick` for a fast
//! look; the summary always runs).

use std::hint::black_box;
use std::time::Duration;

use benches::{mbps, time_per_call};

use criterion::{BenchmarkId, Criterion, Throughput};
use mppe::rc4::Rc4;
use mppe::{Config, Decrypter, Encrypter, KeyStrength, Mode, StartKey, HEADER_LEN};
use openssl::provider::Provider;
use openssl::symm::{Cipher, Crypter, Mode as SslMode};
use rc4::{KeyInit, StreamCipher};

const SIZES: [usize; 3] = [64, 576, 1400];
const KEY: [u8; 16] = *b"bench key 16 oct";

fn start() -> StartKey {
    StartKey::from_bytes(KEY)
}

fn strength_name(s: KeyStrength) -> &'static str {
    match s {
        KeyStrength::Bits40 => "40",
        KeyStrength::Bits56 => "56",
        KeyStrength::Bits128 => "128",
    }
}

fn mode_name(m: Mode) -> &'static str {
    match m {
        Mode::Stateful => "stateful",
        Mode::Stateless => "stateless",
    }
}

/// OpenSSL 3 keeps RC4 in the legacy provider; the providers must stay
/// loaded while the cipher is used.
fn openssl_providers() -> Option<(Provider, Provider)> {
    let legacy = Provider::load(None, "legacy").ok()?;
    let default = Provider::load(None, "default").ok()?;
    Some((legacy, default))
}

fn openssl_rc4() -> Crypter {
    let mut c = Crypter::new(Cipher::rc4(), SslMode::Encrypt, &KEY, None)
        .expect("OpenSSL RC4 (legacy provider)");
    c.pad(false);
    c
}

/// 4096 packets with consecutive coherency counts (a full cycle), so a
/// decrypter fed them round and round always sees the next count.
fn packet_ring(config: Config, size: usize) -> Vec<Vec<u8>> {
    let mut enc = Encrypter::new(&start(), config).expect("key");
    (0..4096)
        .map(|n| {
            let mut p = vec![0u8; HEADER_LEN + size];
            p[HEADER_LEN] = 0x00;
            p[HEADER_LEN + 1] = 0x21;
            p[HEADER_LEN + 2] = n as u8;
            enc.encrypt_in_place(&mut p).expect("encrypt");
            p
        })
        .collect()
}

fn bench_mppe(c: &mut Criterion) {
    for mode in [Mode::Stateful, Mode::Stateless] {
        for strength in [KeyStrength::Bits40, KeyStrength::Bits128] {
            let config = Config::new(strength, mode);
            let mut group = c.benchmark_group(format!(
                "mppe_encrypt/{}/{}",
                mode_name(mode),
                strength_name(strength)
            ));
            for size in SIZES {
                group.throughput(Throughput::Bytes(size as u64));
                let mut enc = Encrypter::new(&start(), config).expect("key");
                let mut buf = vec![0x5au8; HEADER_LEN + size];
                group.bench_function(BenchmarkId::from_parameter(size), |b| {
                    b.iter(|| {
                        black_box(enc.encrypt_in_place(black_box(&mut buf)).expect("ok"));
                    })
                });
            }
            group.finish();

            let mut group = c.benchmark_group(format!(
                "mppe_decrypt/{}/{}",
                mode_name(mode),
                strength_name(strength)
            ));
            for size in SIZES {
                group.throughput(Throughput::Bytes(size as u64));
                let ring = packet_ring(config, size);
                let mut dec = Decrypter::new(&start(), config).expect("key");
                let mut buf = vec![0u8; HEADER_LEN + size];
                let mut i = 0usize;
                group.bench_function(BenchmarkId::from_parameter(size), |b| {
                    b.iter(|| {
                        // The copy (<= 1.4 kB) stands in for the receive
                        // buffer filling; decryption is in place.
                        buf.copy_from_slice(&ring[i & 4095]);
                        i += 1;
                        black_box(dec.decrypt_in_place(&mut buf).expect("in sequence"));
                    })
                });
            }
            group.finish();
        }
    }

    let mut group = c.benchmark_group("rc4_keystream");
    let _providers = openssl_providers();
    for size in SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let mut ours = Rc4::new(&KEY);
        let mut buf = vec![0x5au8; size];
        group.bench_function(BenchmarkId::new("ours", size), |b| {
            b.iter(|| ours.apply_keystream(black_box(&mut buf)))
        });
        let mut theirs = rc4::Rc4::<rc4::consts::U16>::new(&KEY.into());
        group.bench_function(BenchmarkId::new("rc4_crate", size), |b| {
            b.iter(|| theirs.apply_keystream(black_box(&mut buf)))
        });
        if _providers.is_some() {
            let mut ssl = openssl_rc4();
            let input = vec![0x5au8; size];
            let mut out = vec![0u8; size + 16];
            group.bench_function(BenchmarkId::new("openssl", size), |b| {
                b.iter(|| black_box(ssl.update(black_box(&input), &mut out).expect("rc4")))
            });
        }
    }
    group.finish();
}

fn summary() {
    let budget = Duration::from_millis(400);
    println!();
    println!(
        "== MPPE summary (std::time, best of 7 rounds in {budget:?} per figure; machine is shared) =="
    );
    println!(
        "   RC4 state: {} B per direction as words (sessions), {} B as octets (parked sessions)",
        std::mem::size_of::<Rc4>(),
        std::mem::size_of::<mppe::rc4::CompactRc4>()
    );
    let providers = openssl_providers();
    for size in SIZES {
        let openssl_ns = providers.as_ref().map(|_| {
            let mut ssl = openssl_rc4();
            let input = vec![0x5au8; size];
            let mut out = vec![0u8; size + 16];
            time_per_call(budget, || {
                black_box(ssl.update(black_box(&input), &mut out).expect("rc4"));
            })
        });
        let mut crate_rc4 = rc4::Rc4::<rc4::consts::U16>::new(&KEY.into());
        let mut raw_buf = vec![0x5au8; size];
        let crate_ns = time_per_call(budget, || {
            crate_rc4.apply_keystream(black_box(&mut raw_buf))
        });
        let mut ours = Rc4::new(&KEY);
        let raw_ns = time_per_call(budget, || ours.apply_keystream(black_box(&mut raw_buf)));
        println!("-- {size} B");
        if let Some(ns) = openssl_ns {
            println!(
                "   OpenSSL RC4 (EVP legacy)     {:8.1} ns  {:8.1} MB/s",
                ns,
                mbps(size, ns)
            );
        } else {
            println!("   OpenSSL RC4: legacy provider not loadable, no baseline");
        }
        println!(
            "   rc4 crate keystream          {:8.1} ns  {:8.1} MB/s",
            crate_ns,
            mbps(size, crate_ns)
        );
        println!(
            "   our RC4 keystream            {:8.1} ns  {:8.1} MB/s",
            raw_ns,
            mbps(size, raw_ns)
        );
        // The parked sessions' data path: MPPE-128 stateful on the compact
        // RC4 state (octets).
        let config = Config::new(KeyStrength::Bits128, Mode::Stateful);
        let mut parked =
            Encrypter::<mppe::rc4::CompactRc4>::with_keystream(&start(), config).expect("key");
        let mut pbuf = vec![0x5au8; HEADER_LEN + size];
        let parked_ns = time_per_call(budget, || {
            black_box(parked.encrypt_in_place(black_box(&mut pbuf)).expect("ok"));
        });
        let ratio = openssl_ns
            .map(|o| {
                format!(
                    "  encrypt/OpenSSL throughput {:5.1}%",
                    o / parked_ns * 100.0
                )
            })
            .unwrap_or_default();
        println!(
            "   parked (compact RC4) 128-bit stateful enc {:8.1} ns {:8.1} MB/s{}",
            parked_ns,
            mbps(size, parked_ns),
            ratio
        );
        for strength in [KeyStrength::Bits40, KeyStrength::Bits128] {
            let mut per_mode = [0f64; 2];
            for (k, mode) in [Mode::Stateful, Mode::Stateless].into_iter().enumerate() {
                let config = Config::new(strength, mode);
                let mut enc = Encrypter::new(&start(), config).expect("key");
                let mut buf = vec![0x5au8; HEADER_LEN + size];
                let enc_ns = time_per_call(budget, || {
                    black_box(enc.encrypt_in_place(black_box(&mut buf)).expect("ok"));
                });
                per_mode[k] = enc_ns;
                let ring = packet_ring(config, size);
                let mut dec = Decrypter::new(&start(), config).expect("key");
                let mut i = 0usize;
                let dec_ns = time_per_call(budget, || {
                    buf.copy_from_slice(&ring[i & 4095]);
                    i += 1;
                    black_box(dec.decrypt_in_place(&mut buf).expect("ok"));
                });
                let ratio = openssl_ns
                    .map(|o| format!("  encrypt/OpenSSL throughput {:5.1}%", o / enc_ns * 100.0))
                    .unwrap_or_default();
                println!(
                    "   MPPE {:>3}-bit {:9} enc {:8.1} ns {:8.1} MB/s | dec {:8.1} ns {:8.1} MB/s{}",
                    strength_name(strength),
                    mode_name(mode),
                    enc_ns,
                    mbps(size, enc_ns),
                    dec_ns,
                    mbps(size, dec_ns),
                    ratio
                );
            }
            println!(
                "   MPPE {:>3}-bit stateless/stateful per-packet time: {:.2}x",
                strength_name(strength),
                per_mode[1] / per_mode[0]
            );
        }
        // Stateless decrypt when every other packet is lost: each packet
        // costs exactly two key changes (one extra).
        let config = Config::new(KeyStrength::Bits128, Mode::Stateless);
        let ring = packet_ring(config, size);
        let mut dec = Decrypter::new(&start(), config).expect("key");
        let mut buf = vec![0u8; HEADER_LEN + size];
        let mut i = 0usize;
        let lossy_ns = time_per_call(budget, || {
            buf.copy_from_slice(&ring[(2 * i + 1) & 4095]);
            i += 1;
            black_box(dec.decrypt_in_place(&mut buf).expect("ok"));
        });
        let changes = dec.stats().key_changes as f64 / dec.stats().packets as f64;
        println!(
            "   MPPE 128-bit stateless decrypt, 1 of 2 lost: {lossy_ns:8.1} ns/packet, {changes:.2} key changes/packet"
        );
    }
}

fn main() {
    let mut criterion = Criterion::default()
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
        .configure_from_args();
    bench_mppe(&mut criterion);
    criterion.final_summary();
    summary();
}
