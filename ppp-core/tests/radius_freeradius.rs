//! The RADIUS client against the real FreeRADIUS 3.2 of
//! `../shared/aaa/start-freeradius.sh`, driven over std UDP sockets.
//! Run with `scripts/aaa-tests.sh` (starts the server, runs these with
//! `--ignored`). Settings from the environment, defaults as in
//! `../shared/aaa/lib.sh`.
#![cfg(feature = "radius")]
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::net::{SocketAddr, UdpSocket};
use std::time::{Duration as StdDuration, Instant as StdInstant};

use ppp_core::aaa::bridge::{MppePolicy, Note, MISSING_MPPE_KEY_MESSAGE};
use ppp_core::aaa::radius::client::{
    Event, RadiusClient, RadiusConfig, Randomness, RequestKind, ServerConfig, SessionInfo,
};
use ppp_core::aaa::radius::{AccountingRecord, AccountingStatus, TerminateCause};
use ppp_core::auth::{
    crypto, AuthRequest, AuthResponse, Method, MppeKeyMaterial, Password, Verdict,
};
use ppp_core::time::{Duration, Instant};
use ppp_core::wire::auth::{MsChapV1Response, MsChapV2Response};
use sha1::{Digest, Sha1};

const NEEDS: &str = "needs FreeRADIUS: scripts/aaa-tests.sh";

fn env(name: &str, default: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| default.to_string())
}

fn secret() -> Vec<u8> {
    env("AAA_RADIUS_SECRET", "pptp-ci-secret").into_bytes()
}
fn user() -> String {
    env("AAA_USER", "User")
}
fn pass() -> String {
    env("AAA_PASS", "clientPass")
}
fn auth_addr() -> SocketAddr {
    format!("127.0.0.1:{}", env("AAA_RADIUS_AUTH_PORT", "11812"))
        .parse()
        .unwrap()
}
fn acct_addr() -> SocketAddr {
    format!("127.0.0.1:{}", env("AAA_RADIUS_ACCT_PORT", "11813"))
        .parse()
        .unwrap()
}
fn detail_path() -> String {
    env(
        "AAA_RADIUS_DETAIL",
        "/var/tmp/pptp-aaa/freeradius/log/radacct/detail",
    )
}

fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    for chunk in out.chunks_mut(8) {
        let mut h = RandomState::new().build_hasher();
        h.write_u64(StdInstant::now().elapsed().as_nanos() as u64);
        let v = h.finish().to_le_bytes();
        chunk.copy_from_slice(&v[..chunk.len()]);
    }
    out
}

fn randomness() -> Randomness {
    Randomness {
        identifier: random_bytes::<1>()[0],
        authenticator: random_bytes(),
    }
}

/// The host: one UDP socket, server index → (auth, acct) addresses.
struct Host {
    socket: UdpSocket,
    servers: Vec<(SocketAddr, SocketAddr)>,
    origin: StdInstant,
    sent: Vec<usize>,
}

impl Host {
    fn new(servers: Vec<(SocketAddr, SocketAddr)>) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0").unwrap();
        Host {
            socket,
            servers,
            origin: StdInstant::now(),
            sent: Vec::new(),
        }
    }

    fn now(&self) -> Instant {
        Instant::from_millis(self.origin.elapsed().as_millis() as u64)
    }

    /// Drives `client` until it reports an event (or 10 s pass).
    fn run<const S: usize, const P: usize>(&mut self, client: &mut RadiusClient<S, P>) -> Event {
        let mut buf = [0u8; 4096];
        let end = StdInstant::now() + StdDuration::from_secs(10);
        loop {
            assert!(StdInstant::now() < end, "no event within 10 s");
            if let Some(event) = client.poll_event() {
                return event;
            }
            while let Some(t) = client.poll_transmit(self.now(), &mut buf) {
                let (auth, acct) = self.servers[t.to.server_index];
                let to = match t.to.kind {
                    RequestKind::Authentication => auth,
                    RequestKind::Accounting => acct,
                };
                self.sent.push(t.to.server_index);
                // A dead server may answer with ICMP; ignore send errors.
                let _ = self.socket.send_to(&buf[..t.len], to);
            }
            if let Some(event) = client.poll_event() {
                return event;
            }
            let now = self.now();
            let wait = client
                .poll_timeout()
                .map(|t| t.as_millis().saturating_sub(now.as_millis()).max(1))
                .unwrap_or(100);
            self.socket
                .set_read_timeout(Some(StdDuration::from_millis(wait)))
                .unwrap();
            match self.socket.recv_from(&mut buf) {
                Ok((n, from)) => {
                    let index = self
                        .servers
                        .iter()
                        .position(|(a, c)| *a == from || *c == from)
                        .expect("datagram from a configured server");
                    client
                        .handle_datagram(self.now(), index, &buf[..n])
                        .expect("FreeRADIUS's answer verifies");
                }
                Err(_) => client.handle_timeout(self.now()),
            }
        }
    }
}

fn config(mppe: MppePolicy) -> RadiusConfig {
    RadiusConfig {
        nas_ip: Some("127.0.0.1".parse().unwrap()),
        nas_identifier: heapless::Vec::from_slice(b"pptp-rs-test").unwrap(),
        initial_timeout: Duration::from_millis(300),
        max_timeout: Duration::from_millis(1200),
        attempts_per_server: 2,
        mppe,
    }
}

fn client(mppe: MppePolicy) -> (Host, RadiusClient<2, 4>) {
    let host = Host::new(vec![(auth_addr(), acct_addr())]);
    let client = RadiusClient::new(config(mppe), &[ServerConfig::new(&secret()).unwrap()]).unwrap();
    (host, client)
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
    let identifier = 7;
    AuthRequest {
        method: Method::ChapMd5,
        username: name(user),
        identifier,
        response: AuthResponse::ChapMd5 {
            challenge: heapless::Vec::from_slice(&challenge).unwrap(),
            response: crypto::chap_md5_response(identifier, password.as_bytes(), &challenge),
        },
    }
}

fn mschapv1(user: &str, password: &str) -> (AuthRequest, [u8; 8]) {
    let challenge: [u8; 8] = random_bytes();
    let hash = crypto::nt_password_hash(password.as_bytes()).unwrap();
    let request = AuthRequest {
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
    };
    (request, challenge)
}

struct V2 {
    request: AuthRequest,
    nt_response: [u8; 24],
    authenticator_response: [u8; 20],
}

fn mschapv2(user: &str, password: &str) -> V2 {
    let authenticator_challenge: [u8; 16] = random_bytes();
    let peer_challenge: [u8; 16] = random_bytes();
    let hash = crypto::nt_password_hash(password.as_bytes()).unwrap();
    let nt_response = crypto::generate_nt_response(
        &authenticator_challenge,
        &peer_challenge,
        user.as_bytes(),
        &hash,
    );
    let authenticator_response = crypto::generate_authenticator_response(
        &hash,
        &nt_response,
        &peer_challenge,
        &authenticator_challenge,
        user.as_bytes(),
    );
    V2 {
        request: AuthRequest {
            method: Method::MsChapV2,
            username: name(user),
            identifier: 9,
            response: AuthResponse::MsChapV2 {
                authenticator_challenge,
                response: MsChapV2Response {
                    peer_challenge,
                    nt_response,
                    flags: 0,
                },
            },
        },
        nt_response,
        authenticator_response,
    }
}

/// RFC 3079 §3.4 GetMasterKey + GetAsymmetricStartKey, computed here
/// with SHA-1 directly: (server send key, server receive key).
fn rfc3079_server_keys(password: &str, nt_response: &[u8; 24]) -> ([u8; 16], [u8; 16]) {
    const MAGIC1: &[u8] = b"This is the MPPE Master Key";
    const MAGIC2: &[u8] =
        b"On the client side, this is the send key; on the server side, it is the receive key.";
    const MAGIC3: &[u8] =
        b"On the client side, this is the receive key; on the server side, it is the send key.";
    let hash = crypto::nt_password_hash(password.as_bytes()).unwrap();
    let hash_hash = crypto::hash_nt_password_hash(&hash);
    let mut h = Sha1::new();
    h.update(hash_hash);
    h.update(nt_response);
    h.update(MAGIC1);
    let master: [u8; 20] = h.finalize().into();
    let start = |magic: &[u8]| {
        let mut h = Sha1::new();
        h.update(&master[..16]);
        h.update([0u8; 40]);
        h.update(magic);
        h.update([0xf2u8; 40]);
        let d: [u8; 20] = h.finalize().into();
        let mut k = [0u8; 16];
        k.copy_from_slice(&d[..16]);
        k
    };
    // Server side: send key from Magic3, receive key from Magic2.
    (start(MAGIC3), start(MAGIC2))
}

fn verdict(event: Event) -> (Verdict, ppp_core::aaa::bridge::VerdictInfo) {
    match event {
        Event::Verdict { verdict, info, .. } => (verdict, info),
        other => panic!("expected a verdict, got {other:?}"),
    }
}

fn authenticate(
    request: &AuthRequest,
    mppe: MppePolicy,
) -> (Verdict, ppp_core::aaa::bridge::VerdictInfo) {
    let (mut host, mut client) = client(mppe);
    let session = SessionInfo {
        nas_port: Some(42),
        calling_station_id: Some(b"198.51.100.7"),
        ..SessionInfo::default()
    };
    client
        .start_auth(host.now(), request, &session, randomness())
        .unwrap();
    let out = verdict(host.run(&mut client));
    assert_eq!(client.stats().bad_authenticators, 0);
    out
}

fn assert_rejected_691(v: &Verdict) {
    match v {
        Verdict::Reject(r) => assert_eq!(r.error_code, 691, "{r:?}"),
        other => panic!("expected a rejection, got {other:?}"),
    }
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn pap_accept_carries_framed_ip_and_dns() {
    let _ = NEEDS;
    let (v, _) = authenticate(&pap(&user(), &pass()), MppePolicy::Auto);
    let Verdict::Accept(a) = v else {
        panic!("PAP rejected: {v:?}")
    };
    // From the users file of start-freeradius.sh.
    assert_eq!(a.attributes.address, Some("192.0.2.10".parse().unwrap()));
    assert_eq!(
        a.attributes.primary_dns,
        Some("192.0.2.53".parse().unwrap())
    );
    assert!(a.key_material.is_none());
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn pap_wrong_password_rejected() {
    let (v, _) = authenticate(&pap(&user(), "not-the-password"), MppePolicy::Auto);
    assert_rejected_691(&v);
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn long_pap_password_spans_blocks() {
    // alice's password is 12 octets; also try a wrong 40-octet one so the
    // multi-block hiding is exercised against the server.
    let (v, _) = authenticate(
        &pap(
            &env("AAA_USER2", "alice"),
            &env("AAA_PASS2", "alice-pw-123"),
        ),
        MppePolicy::Auto,
    );
    assert!(matches!(v, Verdict::Accept(_)), "{v:?}");
    let (v, _) = authenticate(&pap(&user(), &"x".repeat(40)), MppePolicy::Auto);
    assert_rejected_691(&v);
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn chap_md5_accept_and_reject() {
    let (v, _) = authenticate(&chap(&user(), &pass()), MppePolicy::Auto);
    assert!(matches!(v, Verdict::Accept(_)), "{v:?}");
    let (v, _) = authenticate(&chap(&user(), "wrong"), MppePolicy::Auto);
    assert_rejected_691(&v);
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn mschapv1_accept_carries_keys_equal_to_local_derivation() {
    let (request, challenge) = mschapv1(&user(), &pass());
    let (v, info) = authenticate(&request, MppePolicy::Required);
    let Verdict::Accept(a) = v else {
        panic!("MS-CHAPv1 rejected: {v:?}")
    };
    let hash = crypto::nt_password_hash(pass().as_bytes()).unwrap();
    match a.key_material.as_ref().expect("MS-CHAP-MPPE-Keys") {
        MppeKeyMaterial::MsChapV1 {
            password_hash_hash,
            lm_hash_prefix,
            challenge: c,
        } => {
            // FreeRADIUS sends MD4(NT hash) as NT-Key (not the NT hash
            // RFC 2548 describes for MS-CHAP-MPPE-Keys) and a zero LM-Key.
            assert_eq!(*password_hash_hash, crypto::hash_nt_password_hash(&hash));
            assert_eq!(*lm_hash_prefix, None);
            assert_eq!(*c, challenge);
        }
        other => panic!("unexpected key material {other:?}"),
    }
    assert_eq!(info.note, None);
    assert!(info.encryption_policy.is_some());
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn mschapv1_wrong_password_rejected_with_691() {
    let (request, _) = mschapv1(&user(), "wrong");
    let (v, _) = authenticate(&request, MppePolicy::Auto);
    assert_rejected_691(&v);
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn mschapv2_accept_keys_and_authenticator_response_match_local() {
    let v2 = mschapv2(&user(), &pass());
    let (v, info) = authenticate(&v2.request, MppePolicy::Required);
    let Verdict::Accept(a) = v else {
        panic!("MS-CHAPv2 rejected: {v:?}")
    };
    assert_eq!(a.authenticator_response, Some(v2.authenticator_response));
    let (send, recv) = rfc3079_server_keys(&pass(), &v2.nt_response);
    match a.key_material.as_ref().expect("MS-MPPE keys") {
        MppeKeyMaterial::External { send_key, recv_key } => {
            assert_eq!(*send_key, send, "MS-MPPE-Send-Key = server send key");
            assert_eq!(*recv_key, recv, "MS-MPPE-Recv-Key = server receive key");
        }
        other => panic!("unexpected key material {other:?}"),
    }
    assert_eq!(a.attributes.address, Some("192.0.2.10".parse().unwrap()));
    assert_eq!(info.note, None);
    // MS-MPPE-Encryption-Types: 40+128 or 128 only, per the server config.
    assert!(
        matches!(info.encryption_types, Some(4) | Some(6)),
        "{info:?}"
    );
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn mschapv2_wrong_password_rejected_with_691() {
    let v2 = mschapv2(&user(), "wrong");
    let (v, _) = authenticate(&v2.request, MppePolicy::Auto);
    assert_rejected_691(&v);
    // alice with her password is accepted (second user of the config).
    let v2 = mschapv2(
        &env("AAA_USER2", "alice"),
        &env("AAA_PASS2", "alice-pw-123"),
    );
    let (v, _) = authenticate(&v2.request, MppePolicy::Auto);
    assert!(matches!(v, Verdict::Accept(_)), "{v:?}");
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn mppe_required_refuses_pap_accept_without_keys() {
    // FreeRADIUS accepts PAP but sends no MPPE keys: the PIX's rejection.
    let (v, info) = authenticate(&pap(&user(), &pass()), MppePolicy::Required);
    match v {
        Verdict::Reject(r) => {
            assert_eq!(r.error_code, 691);
            assert_eq!(&r.message[..], MISSING_MPPE_KEY_MESSAGE);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(info.note, Some(Note::MissingMppeKeys));
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn fails_over_from_a_dead_primary_to_freeradius() {
    // Primary: a loopback port nobody listens on.
    let dead_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = dead_socket.local_addr().unwrap();
    drop(dead_socket);
    let mut host = Host::new(vec![(dead, dead), (auth_addr(), acct_addr())]);
    let servers = [
        ServerConfig::new(b"whatever").unwrap(),
        ServerConfig::new(&secret()).unwrap(),
    ];
    let mut client: RadiusClient<2, 4> =
        RadiusClient::new(config(MppePolicy::Auto), &servers).unwrap();
    client
        .start_auth(
            host.now(),
            &pap(&user(), &pass()),
            &SessionInfo::default(),
            randomness(),
        )
        .unwrap();
    let (v, _) = verdict(host.run(&mut client));
    assert!(matches!(v, Verdict::Accept(_)), "{v:?}");
    // Two attempts on the dead primary, then the secondary.
    assert_eq!(host.sent, vec![0, 0, 1]);
    let stats = client.stats();
    assert_eq!((stats.retransmissions, stats.failovers), (1, 1));
    // The next request goes straight to the server that answered.
    host.sent.clear();
    client
        .start_auth(
            host.now(),
            &chap(&user(), &pass()),
            &SessionInfo::default(),
            randomness(),
        )
        .unwrap();
    let (v, _) = verdict(host.run(&mut client));
    assert!(matches!(v, Verdict::Accept(_)), "{v:?}");
    assert_eq!(host.sent, vec![1]);
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn all_servers_dead_times_out() {
    let dead_socket = UdpSocket::bind("127.0.0.1:0").unwrap();
    let dead = dead_socket.local_addr().unwrap();
    drop(dead_socket);
    let mut host = Host::new(vec![(dead, dead)]);
    let mut client: RadiusClient<1, 2> = RadiusClient::new(
        config(MppePolicy::Auto),
        &[ServerConfig::new(b"s").unwrap()],
    )
    .unwrap();
    let h = client
        .start_auth(
            host.now(),
            &pap(&user(), &pass()),
            &SessionInfo::default(),
            randomness(),
        )
        .unwrap();
    assert_eq!(host.run(&mut client), Event::Timeout { handle: h });
    assert_eq!(host.sent, vec![0, 0]);
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn wrong_secret_is_refused_by_authenticator_check() {
    let host = Host::new(vec![(auth_addr(), acct_addr())]);
    let mut cfg = config(MppePolicy::Auto);
    cfg.attempts_per_server = 1;
    let mut client: RadiusClient<1, 2> =
        RadiusClient::new(cfg, &[ServerConfig::new(b"not-the-secret").unwrap()]).unwrap();
    client
        .start_auth(
            host.now(),
            &chap(&user(), &pass()),
            &SessionInfo::default(),
            randomness(),
        )
        .unwrap();
    let mut buf = [0u8; 4096];
    let t = client.poll_transmit(host.now(), &mut buf).unwrap();
    host.socket.send_to(&buf[..t.len], auth_addr()).unwrap();
    host.socket
        .set_read_timeout(Some(StdDuration::from_millis(1500)))
        .unwrap();
    // FreeRADIUS drops a request whose Message-Authenticator fails (it
    // cannot verify with its secret) or answers a reject that fails ours.
    match host.socket.recv_from(&mut buf) {
        Ok((n, _)) => {
            let e = client
                .handle_datagram(host.now(), 0, &buf[..n])
                .unwrap_err();
            assert!(
                matches!(
                    e,
                    ppp_core::aaa::radius::Error::BadResponseAuthenticator
                        | ppp_core::aaa::radius::Error::BadMessageAuthenticator
                ),
                "{e:?}"
            );
            assert_eq!(client.stats().bad_authenticators, 1);
        }
        Err(_) => {
            // Dropped by the server: the request times out.
        }
    }
    assert_eq!(client.pending(), 1, "a bad answer does not end the request");
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn accounting_start_interim_stop_reach_the_detail_file() {
    let (mut host, mut client) = client(MppePolicy::Auto);
    let session_id = format!("pptp-rs-{:016x}", u64::from_le_bytes(random_bytes()));
    let u = user();
    let mut record =
        AccountingRecord::new(AccountingStatus::Start, session_id.as_bytes(), u.as_bytes());
    record.framed_ip = Some("192.0.2.10".parse().unwrap());
    record.calling_station_id = Some(b"198.51.100.7");
    for (status, time, input, output, cause) in [
        (AccountingStatus::Start, 0, 0, 0, None),
        (
            AccountingStatus::InterimUpdate,
            30,
            1_000_000u64,
            2_000u64,
            None,
        ),
        (
            AccountingStatus::Stop,
            61,
            (1u64 << 32) + 5000,
            (2u64 << 32) + 7000,
            Some(TerminateCause::UserRequest),
        ),
    ] {
        record.status = status;
        record.session_time = time;
        record.input_octets = input;
        record.output_octets = output;
        record.input_packets = 11;
        record.output_packets = 13;
        record.terminate_cause = cause;
        let h = client
            .start_accounting(host.now(), &record, randomness())
            .unwrap();
        assert_eq!(
            host.run(&mut client),
            Event::AccountingAcknowledged { handle: h }
        );
    }
    // The detail module writes before answering.
    let text = std::fs::read_to_string(detail_path()).expect("detail file");
    let records: Vec<&str> = text
        .split("\n\n")
        .filter(|r| r.contains(&session_id))
        .collect();
    assert_eq!(records.len(), 3, "three records for {session_id}");
    assert!(records[0].contains("Acct-Status-Type = Start"));
    assert!(records[1].contains("Acct-Status-Type = Interim-Update"));
    assert!(records[1].contains("Acct-Input-Octets = 1000000"));
    assert!(records[1].contains("Acct-Output-Octets = 2000"));
    let stop = records[2];
    for want in [
        "Acct-Status-Type = Stop",
        "Acct-Session-Time = 61",
        "Acct-Input-Octets = 5000",
        "Acct-Output-Octets = 7000",
        "Acct-Input-Gigawords = 1",
        "Acct-Output-Gigawords = 2",
        "Acct-Input-Packets = 11",
        "Acct-Output-Packets = 13",
        "Acct-Terminate-Cause = User-Request",
        "Framed-IP-Address = 192.0.2.10",
        "NAS-Port-Type = Virtual",
        "NAS-Identifier = \"pptp-rs-test\"",
    ] {
        assert!(stop.contains(want), "Stop record lacks {want}:\n{stop}");
    }
}

/// With `AAA_RADIUS_REPLY_MA=yes` (the script's first pass) FreeRADIUS
/// signs its replies and the client accepts them; with `no` (second pass:
/// a stock Debian 3.2.1, which does not sign) every reply is refused as
/// unsigned (BlastRADIUS hardening) and the request stays pending.
#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn reply_signature_policy_matches_server_config() {
    let signed = env("AAA_RADIUS_REPLY_MA", "yes") == "yes";
    let host = Host::new(vec![(auth_addr(), acct_addr())]);
    let mut client: RadiusClient<1, 2> = RadiusClient::new(
        config(MppePolicy::Auto),
        &[ServerConfig::new(&secret()).unwrap()],
    )
    .unwrap();
    client
        .start_auth(
            host.now(),
            &pap(&user(), &pass()),
            &SessionInfo::default(),
            randomness(),
        )
        .unwrap();
    let mut buf = [0u8; 4096];
    let t = client.poll_transmit(host.now(), &mut buf).unwrap();
    host.socket.send_to(&buf[..t.len], auth_addr()).unwrap();
    host.socket
        .set_read_timeout(Some(StdDuration::from_secs(3)))
        .unwrap();
    let (n, _) = host.socket.recv_from(&mut buf).expect("FreeRADIUS answers");
    let result = client.handle_datagram(host.now(), 0, &buf[..n]);
    if signed {
        assert_eq!(result, Ok(()));
        assert!(matches!(
            client.poll_event(),
            Some(Event::Verdict {
                verdict: Verdict::Accept(_),
                ..
            })
        ));
    } else {
        assert_eq!(
            result,
            Err(ppp_core::aaa::radius::Error::MissingMessageAuthenticator)
        );
        assert_eq!(client.poll_event(), None);
        assert_eq!(client.pending(), 1);
        assert_eq!(client.stats().bad_authenticators, 1);
    }
}

/// The whole external-AAA flow in process: ppp-core's MS-CHAP peer (the
/// Windows side) talks to ppp-core's authenticator (the PIX side), whose
/// `Event::AuthRequest` goes through the RADIUS client to FreeRADIUS and
/// whose verdict comes back from it. Both ends must report success, the
/// peer must have verified FreeRADIUS's authenticator response, and the
/// MPPE keys FreeRADIUS sent must equal the peer's own RFC 3079 keys
/// (mirrored: the server's send key is the client's receive key).
fn peer_and_authenticator_through_freeradius(method: Method, password: &str) -> bool {
    use ppp_core::auth::{
        Authenticator, AuthenticatorConfig, Event as AuthEvent, Peer, PeerConfig, Secret,
    };
    let (mut host, mut radius) = client(MppePolicy::Required);
    let now = Instant::ZERO;
    let challenge: [u8; 16] = random_bytes();
    let challenge = &challenge[..method.challenge_len().unwrap()];
    let mut server =
        Authenticator::new(method, AuthenticatorConfig::default(), now, 1, challenge).unwrap();
    let mut peer = Peer::new(
        method,
        PeerConfig::default(),
        now,
        user().as_bytes(),
        Secret::password(password.as_bytes()).unwrap(),
        0,
        Some(random_bytes()),
    )
    .unwrap();
    let mut buf = [0u8; 1500];
    let (mut server_ok, mut peer_ok) = (None, None);
    for _ in 0..10 {
        if let Some(t) = server.poll_transmit(now, &mut buf) {
            peer.handle_packet(now, &buf[..t.len]);
        }
        if let Some(t) = peer.poll_transmit(now, &mut buf) {
            server.handle_packet(now, &buf[..t.len]);
        }
        while let Some(e) = server.poll_event() {
            match e {
                AuthEvent::AuthRequest(request) => {
                    radius
                        .start_auth(now, &request, &SessionInfo::default(), randomness())
                        .unwrap();
                    let (verdict, _) = verdict(host.run(&mut radius));
                    server.verdict(now, verdict).unwrap();
                }
                AuthEvent::Success(s) => server_ok = Some(Ok(s)),
                AuthEvent::Failure(f) => server_ok = Some(Err(f.reason)),
                AuthEvent::ChallengeNeeded => server
                    .feed_challenge(now, &random_bytes::<16>()[..challenge.len()])
                    .unwrap(),
                // Only a local store's accept carries a new hash: a RADIUS
                // server keeps a changed password itself.
                AuthEvent::PasswordChanged(_) => {}
            }
        }
        while let Some(e) = peer.poll_event() {
            match e {
                AuthEvent::Success(s) => peer_ok = Some(Ok(s)),
                AuthEvent::Failure(f) => peer_ok = Some(Err(f.reason)),
                _ => {}
            }
        }
        if server_ok.is_some() && peer_ok.is_some() {
            break;
        }
    }
    match (
        server_ok.expect("server outcome"),
        peer_ok.expect("peer outcome"),
    ) {
        (Ok(s), Ok(p)) => {
            let server_keys = s.key_material.expect("keys from FreeRADIUS");
            let peer_keys = p.key_material.expect("the peer's own key inputs");
            match (method, server_keys, peer_keys) {
                (
                    Method::MsChapV2,
                    MppeKeyMaterial::External { send_key, recv_key },
                    MppeKeyMaterial::MsChapV2 { nt_response, .. },
                ) => {
                    let (send, recv) = rfc3079_server_keys(password, &nt_response);
                    assert_eq!((send_key, recv_key), (send, recv));
                }
                (
                    Method::MsChapV1,
                    MppeKeyMaterial::MsChapV1 {
                        password_hash_hash: a,
                        challenge: ca,
                        ..
                    },
                    MppeKeyMaterial::MsChapV1 {
                        password_hash_hash: b,
                        challenge: cb,
                        ..
                    },
                ) => assert_eq!((a, ca), (b, cb)),
                other => panic!("unexpected key material {other:?}"),
            }
            true
        }
        (Err(_), Err(_)) => false,
        other => panic!("the two ends disagree: {other:?}"),
    }
}

#[test]
#[ignore = "needs FreeRADIUS: scripts/aaa-tests.sh"]
fn mschap_peer_and_authenticator_agree_through_freeradius() {
    assert!(peer_and_authenticator_through_freeradius(
        Method::MsChapV2,
        &pass()
    ));
    assert!(peer_and_authenticator_through_freeradius(
        Method::MsChapV1,
        &pass()
    ));
}
