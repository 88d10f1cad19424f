//! RADIUS: arbitrary datagrams through the packet view (whatever parses
//! re-emits byte for byte through `PacketWriter`), response verification
//! and attribute decoding; then arbitrary datagrams, and datagrams built
//! from the input's attributes and correctly signed, into a client with
//! pending requests: no panic, at most one event per request, tables
//! bounded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp_core::aaa::bridge::MppePolicy;
use ppp_core::aaa::radius::client::{
    Event, RadiusClient, RadiusConfig, Randomness, ServerConfig, SessionInfo,
};
use ppp_core::aaa::radius::ms::ResponseAttributes;
use ppp_core::aaa::radius::wire::{self, Attributes, Code, Packet, PacketWriter, HEADER_LEN};
use ppp_core::aaa::radius::{AccountingRecord, AccountingStatus};
use ppp_core::auth::{AuthRequest, AuthResponse, Method};
use ppp_core::time::{Duration, Instant};
use ppp_core::wire::auth::MsChapV2Response;

const SECRET: &[u8] = b"fuzz-secret";

fn roundtrip(data: &[u8]) {
    let Ok(p) = Packet::new_checked(data) else {
        return;
    };
    let mut buf = [0u8; 4096];
    let code = p.code().expect("checked packets have known codes");
    let mut w = PacketWriter::new(&mut buf, code, p.identifier(), &p.authenticator()).unwrap();
    for a in p.attributes() {
        let a = a.expect("checked packets have valid attributes");
        w.attribute(a.kind, a.value)
            .expect("a parsed attribute re-emits");
    }
    assert_eq!(w.len(), usize::from(p.length()));
    assert_eq!(
        &buf[HEADER_LEN..usize::from(p.length())],
        &p.as_bytes()[HEADER_LEN..]
    );
    let _ = wire::verify_response(&p, &[7; 16], SECRET);
    let _ = ResponseAttributes::parse(&p, SECRET, &[7; 16]);
    for v in p.vendor_attributes(311) {
        let _ = wire::decrypt_salted(v.value, SECRET, &[7; 16], v.kind);
    }
}

fn request() -> AuthRequest {
    AuthRequest {
        method: Method::MsChapV2,
        username: ppp_core::auth::Name::from_slice(b"User").unwrap(),
        identifier: 1,
        response: AuthResponse::MsChapV2 {
            authenticator_challenge: [1; 16],
            response: MsChapV2Response {
                peer_challenge: [2; 16],
                nt_response: [3; 24],
                flags: 0,
            },
        },
    }
}

fuzz_target!(|data: &[u8]| {
    roundtrip(data);

    let config = RadiusConfig {
        mppe: if data.first().is_some_and(|b| b & 1 == 1) {
            MppePolicy::Required
        } else {
            MppePolicy::Auto
        },
        initial_timeout: Duration::from_millis(10),
        ..RadiusConfig::default()
    };
    let servers = [
        ServerConfig::new(SECRET).unwrap(),
        ServerConfig::new(b"other").unwrap(),
    ];
    let mut client: RadiusClient<2, 4> = RadiusClient::new(config, &servers).unwrap();
    let now = Instant::ZERO;
    client
        .start_auth(
            now,
            &request(),
            &SessionInfo::default(),
            Randomness {
                identifier: 0,
                authenticator: [9; 16],
            },
        )
        .unwrap();
    let record = AccountingRecord::new(AccountingStatus::Stop, b"s", b"User");
    client
        .start_accounting(
            now,
            &record,
            Randomness {
                identifier: 1,
                authenticator: [0; 16],
            },
        )
        .unwrap();
    let mut buf = [0u8; 4096];
    let mut requests = Vec::new();
    while let Some(t) = client.poll_transmit(now, &mut buf) {
        assert!(t.len <= buf.len());
        Packet::new_checked(&buf[..t.len]).expect("the client emits valid packets");
        requests.push(buf[..t.len].to_vec());
    }
    assert_eq!(requests.len(), 2);

    // Raw datagrams, from both servers.
    for chunk in data.split(|&b| b == 0xff).take(8) {
        let _ = client.handle_datagram(now, 0, chunk);
        let _ = client.handle_datagram(now, 1, chunk);
    }
    // A correctly signed answer carrying the input's attributes.
    for req in &requests {
        let rq = Packet::new_checked(&req[..]).unwrap();
        let code = match (rq.code(), data.get(1).copied().unwrap_or(0) % 3) {
            (Some(Code::AccountingRequest), _) => Code::AccountingResponse,
            (_, 0) => Code::AccessAccept,
            (_, 1) => Code::AccessReject,
            _ => Code::AccessChallenge,
        };
        let mut out = [0u8; 4096];
        let mut w = PacketWriter::new(&mut out, code, rq.identifier(), &[0; 16]).unwrap();
        let _ = w.message_authenticator();
        for a in Attributes::new(data.get(2..).unwrap_or(&[]), 0).filter_map(Result::ok) {
            if w.attribute(a.kind, a.value).is_err() {
                break;
            }
        }
        let n = w.finish_response(&rq.authenticator(), SECRET);
        let _ = client.handle_datagram(now, 0, &out[..n]);
        // The same again is a duplicate at most.
        let _ = client.handle_datagram(now, 0, &out[..n]);
    }
    let mut t = now;
    for _ in 0..20 {
        t += Duration::from_millis(50);
        client.handle_timeout(t);
        while client.poll_transmit(t, &mut buf).is_some() {}
    }
    let mut events = 0;
    while let Some(e) = client.poll_event() {
        events += 1;
        if let Event::Failed { .. } = e {
            panic!("a 4096-octet buffer always fits");
        }
    }
    assert_eq!(events, 2, "exactly one event per request");
    assert_eq!(client.pending(), 0);
});
