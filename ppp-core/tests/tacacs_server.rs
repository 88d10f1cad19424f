//! The TACACS+ client against `scripts/tacacs_test_server.py`, a loopback
//! server built on the PyPI `tacacs_plus` package (header, obfuscation,
//! and its request packers/reply parsers cross-check every packet) and
//! `../shared/aaa/aaacrypto.py` for MS-CHAP. Run with
//! `scripts/aaa-tests.sh`.
#![cfg(feature = "tacacs")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration as StdDuration, Instant as StdInstant};

use ppp_core::aaa::bridge::{MppePolicy, Note};
use ppp_core::aaa::session::{AccountingReport, Phase};
use ppp_core::aaa::tacacs::pool::AccountingResult;
use ppp_core::aaa::tacacs::{
    AccountingKind, AccountingRecord, AuthorizationStatus, ConnectionId, Error, Event, Outcome,
    SessionIds, TacacsClient, TacacsConfig, TacacsPool,
};
use ppp_core::auth::{crypto, AuthRequest, AuthResponse, Method, Password, Verdict};
use ppp_core::time::Instant;
use ppp_core::wire::auth::{MsChapV1Response, MsChapV2Response};

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}
fn user() -> String {
    env("AAA_USER", "User")
}
fn pass() -> String {
    env("AAA_PASS", "clientPass")
}

fn random_u64() -> u64 {
    let mut h = RandomState::new().build_hasher();
    h.write_u64(StdInstant::now().elapsed().as_nanos() as u64);
    h.finish()
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let v = random_u64().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

fn session_id() -> u32 {
    random_u64() as u32
}

struct Conn {
    stream: TcpStream,
    origin: StdInstant,
}

impl Conn {
    fn open() -> Self {
        let addr = format!("127.0.0.1:{}", env("AAA_TACACS_PORT", "10049"));
        let stream = TcpStream::connect(addr).expect("TACACS+ test server listening");
        Conn {
            stream,
            origin: StdInstant::now(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Drives the client until an event (10 s at most).
    fn run<const S: usize>(&mut self, client: &mut TacacsClient<S>) -> Event {
        let mut buf = [0u8; 4096];
        let end = StdInstant::now() + StdDuration::from_secs(10);
        loop {
            assert!(StdInstant::now() < end, "no event within 10 s");
            while let Some(t) = client.poll_transmit(self.now(), &mut buf) {
                self.stream.write_all(&buf[..t.len]).unwrap();
            }
            if let Some(e) = client.poll_event() {
                return e;
            }
            self.stream
                .set_read_timeout(Some(StdDuration::from_millis(200)))
                .unwrap();
            match self.stream.read(&mut buf) {
                Ok(0) => panic!("server closed the connection"),
                // Feed in small pieces to exercise reassembly.
                Ok(n) => {
                    for piece in buf[..n].chunks(7) {
                        client
                            .handle_input(self.now(), piece)
                            .expect("reply parses");
                    }
                }
                Err(_) => client.handle_timeout(self.now()),
            }
        }
    }
}

fn config() -> TacacsConfig {
    TacacsConfig::new(
        env("AAA_TACACS_SECRET", "pptp-ci-tacacs").as_bytes(),
        MppePolicy::Auto,
    )
    .unwrap()
}

fn name(s: &str) -> ppp_core::auth::Name {
    heapless::Vec::from_slice(s.as_bytes()).unwrap()
}

fn pap(user: &str, password: &str) -> AuthRequest {
    AuthRequest {
        method: Method::Pap,
        username: name(user),
        identifier: 1,
        response: AuthResponse::Pap {
            password: Password::new(password.as_bytes()).unwrap(),
        },
    }
}

fn chap(user: &str, password: &str) -> AuthRequest {
    let challenge: [u8; 16] = random_bytes();
    AuthRequest {
        method: Method::ChapMd5,
        username: name(user),
        identifier: 0x42,
        response: AuthResponse::ChapMd5 {
            challenge: heapless::Vec::from_slice(&challenge).unwrap(),
            response: crypto::chap_md5_response(0x42, password.as_bytes(), &challenge),
        },
    }
}

fn mschapv1(user: &str, password: &str) -> AuthRequest {
    let challenge: [u8; 8] = random_bytes();
    let hash = crypto::nt_password_hash(password.as_bytes()).unwrap();
    AuthRequest {
        method: Method::MsChapV1,
        username: name(user),
        identifier: 3,
        response: AuthResponse::MsChapV1 {
            challenge,
            response: MsChapV1Response {
                lm_response: [0; 24],
                nt_response: crypto::mschapv1_nt_response(&challenge, &hash),
                flags: 1,
            },
        },
    }
}

fn mschapv2(user: &str, password: &str) -> (AuthRequest, [u8; 20]) {
    let ac: [u8; 16] = random_bytes();
    let pc: [u8; 16] = random_bytes();
    let hash = crypto::nt_password_hash(password.as_bytes()).unwrap();
    let nt = crypto::generate_nt_response(&ac, &pc, user.as_bytes(), &hash);
    let s = crypto::generate_authenticator_response(&hash, &nt, &pc, &ac, user.as_bytes());
    (
        AuthRequest {
            method: Method::MsChapV2,
            username: name(user),
            identifier: 9,
            response: AuthResponse::MsChapV2 {
                authenticator_challenge: ac,
                response: MsChapV2Response {
                    peer_challenge: pc,
                    nt_response: nt,
                    flags: 0,
                },
            },
        },
        s,
    )
}

fn authenticate(request: &AuthRequest) -> (Verdict, Option<Note>) {
    let mut conn = Conn::open();
    let mut client: TacacsClient<2> = TacacsClient::new(config());
    let id = session_id();
    client
        .start_auth(conn.now(), request, b"198.51.100.7", id)
        .unwrap();
    match conn.run(&mut client) {
        Event::Verdict {
            handle,
            verdict,
            info,
        } => {
            assert_eq!(handle.0, id);
            (verdict, info.note)
        }
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn assert_accept(v: &(Verdict, Option<Note>)) {
    assert!(matches!(v.0, Verdict::Accept(_)), "{v:?}");
    // TACACS+ cannot carry MPPE keys: the session is unencrypted.
    assert_eq!(v.1, Some(Note::Unencrypted));
}

fn assert_reject(v: &(Verdict, Option<Note>)) {
    match &v.0 {
        Verdict::Reject(r) => assert_eq!(r.error_code, 691),
        other => panic!("expected a rejection, got {other:?}"),
    }
    assert_eq!(v.1, None, "a FAIL, not a server error");
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn pap_accept_and_reject() {
    assert_accept(&authenticate(&pap(&user(), &pass())));
    assert_reject(&authenticate(&pap(&user(), "wrong")));
    assert_reject(&authenticate(&pap("nobody", &pass())));
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn pap_getpass_is_answered_with_continue() {
    assert_accept(&authenticate(&pap("getpass", "getpass-pw")));
    assert_reject(&authenticate(&pap("getpass", "nope")));
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn chap_accept_and_reject() {
    assert_accept(&authenticate(&chap(&user(), &pass())));
    assert_reject(&authenticate(&chap(&user(), "wrong")));
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn mschapv1_accept_and_reject() {
    assert_accept(&authenticate(&mschapv1(&user(), &pass())));
    assert_reject(&authenticate(&mschapv1(&user(), "wrong")));
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn mschapv2_accept_carries_authenticator_response_and_reject() {
    let (request, s) = mschapv2(&user(), &pass());
    let v = authenticate(&request);
    assert_accept(&v);
    match v.0 {
        Verdict::Accept(a) => assert_eq!(a.authenticator_response, Some(s)),
        _ => unreachable!(),
    }
    let (request, _) = mschapv2(
        &env("AAA_USER2", "alice"),
        &env("AAA_PASS2", "alice-pw-123"),
    );
    assert_accept(&authenticate(&request));
    let (request, _) = mschapv2(&user(), "wrong");
    assert_reject(&authenticate(&request));
}

fn authorize(username: &str) -> ppp_core::aaa::tacacs::AuthorizationOutcome {
    let mut conn = Conn::open();
    let mut client: TacacsClient<2> = TacacsClient::new(config());
    client
        .start_authorization(
            conn.now(),
            username.as_bytes(),
            Method::MsChapV2,
            b"198.51.100.7",
            session_id(),
        )
        .unwrap();
    match conn.run(&mut client) {
        Event::Authorization { outcome, .. } => outcome,
        other => panic!("expected authorization, got {other:?}"),
    }
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn authorization_of_ppp_ip_returns_address_and_dns() {
    let outcome = authorize(&user());
    assert_eq!(outcome.status, AuthorizationStatus::Pass);
    assert_eq!(
        outcome.attributes.address,
        Some("192.0.2.10".parse().unwrap())
    );
    assert_eq!(
        outcome.attributes.primary_dns,
        Some("192.0.2.53".parse().unwrap())
    );
    assert_eq!(
        outcome.attributes.secondary_dns,
        Some("192.0.2.54".parse().unwrap())
    );
    // Applied to an accept, the attributes go to IPCP.
    let merged = outcome.apply(Verdict::Accept(Default::default()));
    match merged {
        Verdict::Accept(a) => assert_eq!(a.attributes, outcome.attributes),
        other => panic!("{other:?}"),
    }
    let alice = authorize(&env("AAA_USER2", "alice"));
    assert_eq!(alice.status, AuthorizationStatus::Pass);
    assert_eq!(alice.attributes.address, None);
    let nobody = authorize("nobody");
    assert_eq!(nobody.status, AuthorizationStatus::Fail);
    assert!(matches!(
        nobody.apply(Verdict::Accept(Default::default())),
        Verdict::Reject(_)
    ));
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn accounting_start_watchdog_stop_are_recorded() {
    let log_path = env("AAA_TACACS_ACCT_LOG", "/var/tmp/pptp-aaa/tacacs/acct.log");
    let task = format!("{:08x}", random_u64() as u32);
    let u = user();
    for (kind, elapsed, bytes_in, bytes_out) in [
        (AccountingKind::Start, 0, 0, 0),
        (AccountingKind::Watchdog, 30, 1000u64, 2000u64),
        (AccountingKind::Stop, 61, (1u64 << 32) + 5, 7000u64),
    ] {
        let mut conn = Conn::open();
        let mut client: TacacsClient<2> = TacacsClient::new(config());
        let record = AccountingRecord {
            kind,
            username: u.as_bytes(),
            rem_addr: b"198.51.100.7",
            task_id: task.as_bytes(),
            elapsed_time: elapsed,
            bytes_in,
            bytes_out,
            paks_in: 11,
            paks_out: 13,
            addr: Some("192.0.2.10".parse().unwrap()),
        };
        let h = client
            .start_accounting(conn.now(), &record, session_id())
            .unwrap();
        assert_eq!(
            conn.run(&mut client),
            Event::AccountingAcknowledged { handle: h }
        );
    }
    let text = std::fs::read_to_string(&log_path).expect("accounting log");
    let lines: Vec<&str> = text.lines().filter(|l| l.contains(&task)).collect();
    assert_eq!(lines.len(), 3, "{text}");
    assert!(lines[0].contains("\"flags\": 2"));
    assert!(lines[1].contains("\"flags\": 8"));
    assert!(lines[1].contains("\"bytes_in\": \"1000\""));
    let stop = lines[2];
    for want in [
        "\"flags\": 4",
        "\"elapsed_time\": \"61\"",
        "\"bytes_in\": \"4294967301\"",
        "\"bytes_out\": \"7000\"",
        "\"paks_in\": \"11\"",
        "\"paks_out\": \"13\"",
        "\"addr\": \"192.0.2.10\"",
        "\"service\": \"ppp\"",
    ] {
        assert!(stop.contains(want), "Stop lacks {want}: {stop}");
    }
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn single_connection_carries_several_sessions() {
    let mut conn = Conn::open();
    let mut cfg = config();
    cfg.single_connection = true;
    let mut client: TacacsClient<4> = TacacsClient::new(cfg);
    client
        .start_auth(
            conn.now(),
            &chap(&user(), &pass()),
            b"198.51.100.7",
            session_id(),
        )
        .unwrap();
    assert!(matches!(
        conn.run(&mut client),
        Event::Verdict {
            verdict: Verdict::Accept(_),
            ..
        }
    ));
    assert_eq!(client.single_connection(), Some(true));
    // Two more sessions at once on the same connection.
    client
        .start_auth(
            conn.now(),
            &mschapv1(&user(), "wrong"),
            b"198.51.100.7",
            session_id(),
        )
        .unwrap();
    client
        .start_authorization(
            conn.now(),
            user().as_bytes(),
            Method::MsChapV1,
            b"198.51.100.7",
            session_id(),
        )
        .unwrap();
    let mut got = vec![conn.run(&mut client), conn.run(&mut client)];
    got.sort_by_key(|e| matches!(e, Event::Authorization { .. }));
    assert!(
        matches!(
            &got[0],
            Event::Verdict {
                verdict: Verdict::Reject(_),
                ..
            }
        ),
        "{got:?}"
    );
    assert!(matches!(&got[1], Event::Authorization { .. }), "{got:?}");
}

type Streams = HashMap<ConnectionId, TcpStream>;

/// A blocking host for the pool: std TCP streams (kept in `streams`
/// across calls, as a shared connection outlives one job), nothing else.
/// Returns the outcomes other than Connect/Close until `want` came.
fn run_pool(
    pool: &mut TacacsPool<2, 4, 4, 8>,
    streams: &mut Streams,
    origin: StdInstant,
    want: usize,
) -> Vec<Outcome> {
    let now = || Instant::from_millis(origin.elapsed().as_millis() as u64);
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let end = StdInstant::now() + StdDuration::from_secs(20);
    while seen.len() < want {
        assert!(StdInstant::now() < end, "no outcome within 20 s: {seen:?}");
        while let Some(t) = pool.poll_transmit(now(), &mut buf) {
            (&streams[&t.to]).write_all(&buf[..t.len]).unwrap();
        }
        while let Some(o) = pool.poll_event() {
            match o {
                Outcome::Connect { conn, server } => {
                    let port = if server == 0 {
                        // Nothing listens on port 1: refused.
                        "1".to_string()
                    } else {
                        env("AAA_TACACS_PORT", "10049")
                    };
                    let addr = format!("127.0.0.1:{port}").parse().unwrap();
                    match TcpStream::connect_timeout(&addr, StdDuration::from_secs(2)) {
                        Ok(s) => {
                            s.set_nonblocking(true).unwrap();
                            streams.insert(conn, s);
                            pool.handle_connected(now(), conn);
                        }
                        Err(_) => pool.handle_closed(now(), conn),
                    }
                }
                Outcome::Close { conn } => {
                    streams.remove(&conn);
                }
                other => seen.push(other),
            }
        }
        let ids: Vec<ConnectionId> = streams.keys().copied().collect();
        for id in ids {
            match (&streams[&id]).read(&mut buf) {
                Ok(0) => {
                    streams.remove(&id);
                    pool.handle_closed(now(), id);
                }
                Ok(n) => pool
                    .handle_input(now(), id, &buf[..n])
                    .expect("reply parses"),
                Err(_) => {}
            }
        }
        pool.handle_timeout(now());
        std::thread::sleep(StdDuration::from_millis(5));
    }
    seen
}

#[test]
#[ignore = "needs the TACACS+ test server: scripts/aaa-tests.sh"]
fn pool_fails_over_then_authenticates_authorizes_and_accounts() {
    for single in [false, true] {
        let mut c = config();
        c.single_connection = single;
        let mut pool: TacacsPool<2, 4, 4, 8> = TacacsPool::new(&[c.clone(), c], true).unwrap();
        let origin = StdInstant::now();
        let mut streams = Streams::new();
        let ids = SessionIds {
            authentication: session_id(),
            authorization: session_id(),
        };
        let now = Instant::from_millis(0);
        pool.start_auth(now, 1, &pap(&user(), &pass()), b"198.51.100.7", ids)
            .unwrap();
        let seen = run_pool(&mut pool, &mut streams, origin, 2);
        assert!(
            matches!(
                seen[0],
                Outcome::Failover {
                    key: 1,
                    from: 0,
                    to: 1,
                    ..
                }
            ),
            "{seen:?}"
        );
        match &seen[1] {
            Outcome::Verdict {
                key: 1,
                verdict: Verdict::Accept(a),
                authorization: Some(o),
                ..
            } => {
                assert_eq!(o.status, AuthorizationStatus::Pass);
                assert_eq!(a.attributes.address, Some("192.0.2.10".parse().unwrap()));
            }
            other => panic!("single {single}: {other:?}"),
        }
        // The STOP of a session nobody tracks any more still goes out;
        // the server that answered is now tried first.
        let report = AccountingReport {
            key: 1,
            phase: Phase::Stop,
            session_id: heapless::String::try_from("pool0001").unwrap(),
            username: name(&user()),
            nas_port: 1,
            calling_station: heapless::String::try_from("198.51.100.7").unwrap(),
            session_time: ppp_core::time::Duration::from_secs(3),
            octets_in: 10,
            octets_out: 20,
            frames_in: 1,
            frames_out: 2,
            address: Some("192.0.2.10".parse().unwrap()),
            class: heapless::Vec::new(),
            cause: None,
        };
        pool.start_accounting(now, &report, session_id()).unwrap();
        let seen = run_pool(&mut pool, &mut streams, origin, 1);
        assert_eq!(
            seen[0],
            Outcome::Accounting {
                key: 1,
                kind: AccountingKind::Stop,
                result: AccountingResult::Acknowledged
            }
        );
        assert!(pool.is_idle());
        // RFC 8907 §4.3: the shared connection stays open only when the
        // server echoed the flag (the test server does).
        assert_eq!(pool.connections(), usize::from(single), "single {single}");
    }
}

#[test]
fn mppe_required_is_refused_at_configuration() {
    // Needs no server: the configuration check itself.
    assert_eq!(
        TacacsConfig::new(b"key", MppePolicy::Required).unwrap_err(),
        Error::MppeRequiresRadius
    );
}
