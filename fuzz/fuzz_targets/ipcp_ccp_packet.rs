//! IPCP and CCP option handling: for any option list, the handlers' answer
//! is a well-formed option list; every rejected option appears unmodified
//! in the request (RFC 1661 §5.4); the server's IP-Address Nak names the
//! assigned address; a CCP MPPE Nak names exactly one strength. Automata
//! fed arbitrary packets and timeouts only emit valid control packets
//! within the bound.
#![no_main]

use std::net::Ipv4Addr;

use libfuzzer_sys::fuzz_target;
use mppe::{PixEncryption, Policy, SupportedBits};
use ppp_core::ccp::CcpOptions;
use ppp_core::fsm::{
    Config, Fsm, OptionHandler, Options, ResponseBuilder, Verdict, MAX_PACKET_LEN,
};
use ppp_core::ipcp::{IpcpConfig, IpcpOptions, Role};
use ppp_core::time::{Duration, Instant};
use ppp_core::wire::packet::{validate_options, OptionIter, Packet};

const ASSIGNED: Ipv4Addr = Ipv4Addr::new(172, 16, 1, 1);

fn check_response(request: &[u8], rb: &ResponseBuilder) {
    validate_options(rb.nak_options()).unwrap();
    validate_options(rb.reject_options()).unwrap();
    for rejected in OptionIter::new(rb.reject_options()).flatten() {
        assert!(
            OptionIter::new(request)
                .flatten()
                .any(|o| o.kind == rejected.kind && o.data == rejected.data),
            "rejected option not in the request"
        );
    }
}

fn handlers(data: &[u8]) {
    let Ok(options) = Options::new(data) else {
        return;
    };
    // IPCP server with an assigned address and one DNS server.
    let mut server = IpcpOptions::new(
        Role::Server,
        IpcpConfig {
            local_address: Some(Ipv4Addr::new(10, 0, 0, 1)),
            dns: [Some(Ipv4Addr::new(8, 8, 8, 8)), None],
            ..IpcpConfig::default()
        },
    );
    server.set_peer_address(Some(ASSIGNED));
    let mut rb = ResponseBuilder::new();
    server.process_request(options, &mut rb);
    check_response(data, &rb);
    if rb.verdict() == Verdict::Nak {
        for o in OptionIter::new(rb.nak_options()).flatten() {
            if o.kind == 3 {
                assert_eq!(o.data, ASSIGNED.octets());
            }
        }
    }
    if rb.verdict() == Verdict::Ack {
        let peer = server.negotiated().peer_address;
        assert!(peer.is_none() || peer == Some(ASSIGNED));
    }
    let mut client = IpcpOptions::new(Role::Client, IpcpConfig::client());
    let mut rb = ResponseBuilder::new();
    client.process_request(options, &mut rb);
    check_response(data, &rb);
    // Client adjusting to a Nak/Reject with these options never panics.
    client.on_nak(options);
    client.on_reject(options);
    // CCP with every policy shape.
    for policy in [
        Policy::disabled(),
        Policy::pix(PixEncryption::Auto, false),
        Policy::pix(PixEncryption::Bits40, true),
        Policy::pix(PixEncryption::Bits128, false),
    ] {
        let mut ccp = CcpOptions::new(policy);
        let mut rb = ResponseBuilder::new();
        ccp.process_request(options, &mut rb);
        check_response(data, &rb);
        for o in OptionIter::new(rb.nak_options()).flatten() {
            assert_eq!(o.kind, 18);
            let bits = SupportedBits::parse(o.data).unwrap();
            assert!(bits.strengths().single().is_some());
        }
        let _ = ccp.on_nak(options);
        let _ = ccp.on_reject(options);
        let _ = ccp.outcome();
    }
}

fn drive<H: OptionHandler>(mut m: Fsm<H>, data: &[u8]) {
    let mut now = Instant::ZERO;
    m.open(now);
    m.up(now);
    let mut rest = data;
    let mut buf = [0u8; MAX_PACKET_LEN + 8];
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (pkt, tail) = tail.split_at(len);
        rest = tail;
        if len == 0 {
            now = now + Duration::from_secs(3);
            m.handle_timeout(now);
        } else {
            let _ = m.handle_packet(now, pkt);
        }
        while let Some(t) = m.poll_transmit(&mut buf) {
            let n = t.len;
            assert!(n <= MAX_PACKET_LEN);
            let pkt = Packet::new_checked(&buf[..n]).unwrap();
            assert_eq!(usize::from(pkt.length()), n);
        }
        while m.poll_event().is_some() {}
    }
}

fuzz_target!(|data: &[u8]| {
    handlers(data);
    let mut ipcp = IpcpOptions::new(
        Role::Server,
        IpcpConfig::server(Ipv4Addr::new(10, 0, 0, 1), [None; 2]),
    );
    ipcp.set_peer_address(Some(ASSIGNED));
    drive(Fsm::new(ipcp, Config::default()), data);
    drive(
        Fsm::new(
            IpcpOptions::new(Role::Client, IpcpConfig::client()),
            Config::default(),
        ),
        data,
    );
    drive(
        Fsm::new(
            CcpOptions::new(Policy::pix(PixEncryption::Auto, false)),
            Config::default(),
        ),
        data,
    );
});
