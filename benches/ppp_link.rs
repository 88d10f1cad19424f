//! The PPP link: a complete in-memory setup (LCP → MS-CHAPv2 → IPCP + CCP
//! with MPPE-128 stateless) per iteration, and the data path (send_ip on
//! one link, handle_frame on the other) with MPPE-128 for 64/576/1400-octet
//! IP packets.

use std::net::Ipv4Addr;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::{Credentials, Entropy, Link, LinkConfig, LinkEvent};
use ppp_core::time::Instant;

struct Pair {
    server: Link,
    client: Link,
    store: CredentialStore<1>,
}

fn pair() -> Pair {
    let mut store = CredentialStore::new(DomainRule::default());
    store.insert_password(b"user", b"secret").unwrap();
    let server = Link::new(
        LinkConfig::server(Ipv4Addr::new(10, 0, 0, 1), [None; 2]),
        Entropy {
            magic: 1,
            challenge: [3; 16],
            identifier: 1,
        },
    );
    let client = Link::new(
        LinkConfig::client(Credentials::password(b"user", b"secret").unwrap()),
        Entropy {
            magic: 2,
            challenge: [4; 16],
            identifier: 1,
        },
    );
    Pair {
        server,
        client,
        store,
    }
}

/// Runs the setup to data-ready; panics if it does not get there.
fn establish(p: &mut Pair) {
    let now = Instant::ZERO;
    p.server.open(now);
    p.client.open(now);
    let mut buf = [0u8; 1600];
    for _ in 0..50 {
        while let Some(t) = p.server.poll_transmit(now, &mut buf) {
            let _ = p.client.handle_frame(now, &mut buf[..t.len]);
        }
        while let Some(t) = p.client.poll_transmit(now, &mut buf) {
            let _ = p.server.handle_frame_with(now, &mut buf[..t.len], &p.store);
        }
        while let Some(ev) = p.server.poll_event() {
            if ev == LinkEvent::AddressNeeded {
                p.server
                    .assign_peer_address(now, Some(Ipv4Addr::new(10, 0, 0, 2)));
            }
        }
        while p.client.poll_event().is_some() {}
        if p.server.is_data_ready() && p.client.is_data_ready() {
            return;
        }
    }
    panic!("link did not come up");
}

fn setup(c: &mut Criterion) {
    c.bench_function("ppp_link/setup LCP+MS-CHAPv2+IPCP+CCP(MPPE-128)", |b| {
        b.iter(|| {
            let mut p = pair();
            establish(&mut p);
            black_box(p.server.counters().frames_in)
        })
    });
}

fn data_path(c: &mut Criterion) {
    let mut group = c.benchmark_group("ppp_link/mppe128 send_ip+handle_frame");
    for len in [64usize, 576, 1400] {
        let mut p = pair();
        establish(&mut p);
        assert!(p.server.mppe_info().is_some());
        let mut ip = vec![0u8; len];
        ip[0] = 0x45;
        let mut out = [0u8; 1600];
        group.throughput(Throughput::Bytes(len as u64));
        group.bench_with_input(BenchmarkId::from_parameter(len), &len, |b, _| {
            b.iter(|| {
                let now = Instant::ZERO;
                let n = p.client.send_ip(now, black_box(&ip), &mut out).unwrap();
                let d = p.server.handle_frame(now, &mut out[..n]).unwrap().unwrap();
                black_box(d.len)
            })
        });
    }
    group.finish();
}

criterion_group!(benches, setup, data_path);
criterion_main!(benches);
