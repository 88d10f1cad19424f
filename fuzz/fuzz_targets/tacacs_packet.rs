//! TACACS+: arbitrary bytes through the header and every body parser
//! (whatever parses re-emits to the same bytes); then arbitrary stream
//! bytes, split at arbitrary points, and correctly obfuscated replies with
//! arbitrary bodies, into a client with one session of each kind: no
//! panic, at most one event per session, nothing pending grows.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp_core::aaa::bridge::MppePolicy;
use ppp_core::aaa::tacacs::wire::{
    self, AcctReply, AcctRequest, AuthenContinue, AuthenReply, AuthenStart, AuthorRequest,
    AuthorResponse, Header, HEADER_LEN,
};
use ppp_core::aaa::tacacs::{AccountingKind, AccountingRecord, TacacsClient, TacacsConfig};
use ppp_core::auth::{AuthRequest, AuthResponse, Method, Password};
use ppp_core::time::{Duration, Instant};

const KEY: &[u8] = b"fuzz-key";

macro_rules! roundtrip {
    ($ty:ident, $body:expr) => {
        if let Ok(v) = $ty::parse($body) {
            let mut out = [0u8; 8192];
            let n = v.emit(&mut out).expect("a parsed body re-emits");
            assert_eq!(&out[..n], $body, stringify!($ty));
        }
    };
}

fuzz_target!(|data: &[u8]| {
    let _ = Header::parse(data);
    let body = data.get(HEADER_LEN.min(data.len())..).unwrap_or(&[]);
    for b in [data, body] {
        roundtrip!(AuthenStart, b);
        roundtrip!(AuthenReply, b);
        roundtrip!(AuthenContinue, b);
        roundtrip!(AuthorRequest, b);
        roundtrip!(AuthorResponse, b);
        roundtrip!(AcctRequest, b);
        roundtrip!(AcctReply, b);
    }

    let mut config = TacacsConfig::new(KEY, MppePolicy::Auto).unwrap();
    config.single_connection = data.first().is_some_and(|b| b & 1 == 1);
    let mut client: TacacsClient<3> = TacacsClient::new(config);
    let now = Instant::ZERO;
    let pap = AuthRequest {
        method: Method::Pap,
        username: ppp_core::auth::Name::from_slice(b"User").unwrap(),
        identifier: 1,
        response: AuthResponse::Pap {
            password: Password::new(b"pw").unwrap(),
        },
    };
    client.start_auth(now, &pap, b"10.0.0.1", 1).unwrap();
    client
        .start_authorization(now, b"User", Method::Pap, b"10.0.0.1", 2)
        .unwrap();
    let record = AccountingRecord {
        kind: AccountingKind::Stop,
        username: b"User",
        rem_addr: b"",
        task_id: b"t",
        elapsed_time: 1,
        bytes_in: 2,
        bytes_out: 3,
        paks_in: 4,
        paks_out: 5,
        addr: None,
    };
    client.start_accounting(now, &record, 3).unwrap();
    let mut buf = [0u8; 2048];
    let mut headers = Vec::new();
    while let Some(t) = client.poll_transmit(now, &mut buf) {
        headers.push(Header::parse(&buf[..t.len]).expect("the client emits valid headers"));
    }
    assert_eq!(headers.len(), 3);

    // Obfuscated replies with the input as body, for each session, in the
    // order the input's second octet picks.
    let order = data.get(1).copied().unwrap_or(0);
    let mut stream = Vec::new();
    for i in 0..3 {
        let h = headers[(i + usize::from(order)) % 3];
        let mut out = [0u8; HEADER_LEN + wire::MAX_BODY_LEN];
        let reply = Header {
            seq_no: 2,
            flags: 0,
            ..h
        };
        let take = body.len().min(wire::MAX_BODY_LEN);
        if let Ok(n) = wire::emit_packet(&mut out, reply, KEY, |b| {
            b[..take].copy_from_slice(&body[..take]);
            Ok(take)
        }) {
            stream.extend_from_slice(&out[..n]);
        }
    }
    // Then the raw input.
    stream.extend_from_slice(data);
    let step = usize::from(data.get(2).copied().unwrap_or(1)).max(1);
    for piece in stream.chunks(step) {
        let _ = client.handle_input(now, piece);
        while client.poll_transmit(now, &mut buf).is_some() {}
    }
    client.handle_timeout(now + Duration::from_secs(3600));
    let mut events = 0;
    while client.poll_event().is_some() {
        events += 1;
    }
    assert!(events <= 3);
    // GETPASS may have produced a CONTINUE that then timed out: every
    // session ends in exactly one event once the timeout passed.
    assert_eq!(client.pending(), 0);
    assert_eq!(events, 3);
});
