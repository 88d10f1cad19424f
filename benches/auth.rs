//! Authentication costs: the MS-CHAP primitives and one complete local
//! MS-CHAPv2 verification (what a server pays per login).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use ppp_core::auth::{
    aaa::verify_with_secret, crypto, AuthRequest, AuthResponse, Method, Name, Secret, Verdict,
};
use ppp_core::wire::auth::MsChapV2Response;

fn primitives(c: &mut Criterion) {
    c.bench_function("nt_password_hash/10 chars", |b| {
        b.iter(|| crypto::nt_password_hash(black_box(b"clientPass")))
    });
    let hash = crypto::nt_password_hash(b"clientPass").unwrap();
    c.bench_function("generate_nt_response", |b| {
        b.iter(|| {
            crypto::generate_nt_response(
                black_box(&[1; 16]),
                black_box(&[2; 16]),
                black_box(b"User"),
                black_box(&hash),
            )
        })
    });
    c.bench_function("chap_md5_response", |b| {
        b.iter(|| crypto::chap_md5_response(black_box(1), black_box(b"cisco"), black_box(&[3; 16])))
    });
}

fn verify(c: &mut Criterion) {
    let hash = crypto::nt_password_hash(b"clientPass").unwrap();
    let nt_response = crypto::generate_nt_response(&[1; 16], &[2; 16], b"User", &hash);
    let request = AuthRequest {
        method: Method::MsChapV2,
        username: Name::from_slice(b"User").unwrap(),
        identifier: 1,
        response: AuthResponse::MsChapV2 {
            authenticator_challenge: [1; 16],
            response: MsChapV2Response {
                peer_challenge: [2; 16],
                nt_response,
                flags: 0,
            },
        },
    };
    let secret = Secret::password(b"clientPass").unwrap();
    assert!(matches!(
        verify_with_secret(&request, &secret),
        Verdict::Accept(_)
    ));
    c.bench_function("verify mschapv2 (local, cleartext)", |b| {
        b.iter(|| verify_with_secret(black_box(&request), black_box(&secret)))
    });
}

criterion_group!(benches, primitives, verify);
criterion_main!(benches);
