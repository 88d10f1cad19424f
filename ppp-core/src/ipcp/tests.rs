extern crate std;
use std::vec::Vec;

use super::*;
use crate::auth::testdata::{hex, vectors};
use crate::fsm::{Config, Fsm, State};
use crate::time::Instant;

const SEED: &str = include_str!("../../tests/data/seed_frames.toml");
const NOW: Instant = Instant::ZERO;

fn ip(a: u8, b: u8, c: u8, d: u8) -> Ipv4Addr {
    Ipv4Addr::new(a, b, c, d)
}

fn seed(id: &str) -> toml::Table {
    vectors(SEED, "ppp_frame")
        .into_iter()
        .find(|v| v["id"].as_str() == Some(id))
        .expect("vector present")
}

/// The PIX of trace 1: own address 99.99.99.2, no DNS/NBNS configured,
/// pool address 172.16.1.1 for this client.
fn pix() -> Fsm<IpcpOptions> {
    let config = IpcpConfig {
        local_address: Some(ip(99, 99, 99, 2)),
        ..IpcpConfig::default()
    };
    let mut h = IpcpOptions::new(Role::Server, config);
    h.set_peer_address(Some(ip(172, 16, 1, 1)));
    let mut m = Fsm::new(h, Config::default());
    m.open(NOW);
    m.up(NOW);
    m
}

fn frame(buf: &[u8]) -> Vec<u8> {
    let mut f = std::vec![0xff, 0x03, 0x80, 0x21];
    f.extend_from_slice(buf);
    f
}

fn next(m: &mut Fsm<IpcpOptions>) -> Vec<u8> {
    let mut buf = [0u8; 256];
    let t = m.poll_transmit(&mut buf).expect("a packet");
    frame(&buf[..t.len])
}

fn request(id: u8, options: &[(u8, [u8; 4])]) -> Vec<u8> {
    let mut data = std::vec![1, id, 0, 0];
    for (kind, value) in options {
        data.extend_from_slice(&[*kind, 6]);
        data.extend_from_slice(value);
    }
    let len = data.len() as u16;
    data[2..4].copy_from_slice(&len.to_be_bytes());
    data
}

#[test]
fn pix_trace_first_request_is_its_own_address() {
    let mut m = pix();
    assert_eq!(next(&mut m), hex(&seed("trace1-ppp-10")["hex"]));
}

#[test]
fn pix_trace_rejects_vj_and_unconfigured_name_servers() {
    // Frame 9 is printed truncated (22 of 44 octets); Length 40 means VJ,
    // IP-Address and the four RFC 1877 options, which is also what the
    // PIX's 38-octet reply (VJ + four name servers) rejects.
    let v = seed("trace1-ppp-09");
    let prefix = hex(&v["hex"]);
    let req = request(
        1,
        &[
            (2, [0x00, 0x2d, 0x0f, 0x01]),
            (3, [0; 4]),
            (129, [0; 4]),
            (130, [0; 4]),
            (131, [0; 4]),
            (132, [0; 4]),
        ],
    );
    assert_eq!(
        frame(&req).len(),
        v["frame_length"].as_integer().unwrap() as usize
    );
    assert!(frame(&req).starts_with(&prefix));
    let mut m = pix();
    let _ours = next(&mut m);
    m.handle_packet(NOW, &req).unwrap();
    let reply = next(&mut m);
    let observed = hex(&v["observed_pix_reply"]);
    let reply_vector = seed("trace1-ppp-11");
    assert!(reply.starts_with(&observed), "{reply:02x?}");
    assert_eq!(
        reply.len(),
        reply_vector["frame_length"].as_integer().unwrap() as usize
    );
}

#[test]
fn pix_trace_rejects_name_servers_then_naks_pool_address_then_acks() {
    let mut m = pix();
    let _ours = next(&mut m);
    // Frame 21 (truncated prefix; Length 34 = IP-Address + four RFC 1877).
    let v = seed("trace1-ppp-21");
    let req = request(
        2,
        &[
            (3, [0; 4]),
            (129, [0; 4]),
            (130, [0; 4]),
            (131, [0; 4]),
            (132, [0; 4]),
        ],
    );
    assert!(frame(&req).starts_with(&hex(&v["hex"])));
    m.handle_packet(NOW, &req).unwrap();
    let reply = next(&mut m);
    assert!(reply.starts_with(&hex(&v["observed_pix_reply"])));
    assert_eq!(
        reply.len(),
        seed("trace1-ppp-22")["frame_length"].as_integer().unwrap() as usize
    );
    // Frames 23-26, complete: Nak with the pool address, then Ack.
    for id in ["trace1-ppp-23", "trace1-ppp-25"] {
        let v = seed(id);
        let f = hex(&v["hex"]);
        m.handle_packet(NOW, &f[4..]).unwrap();
        assert_eq!(next(&mut m), hex(&v["observed_pix_reply"]), "{id}");
    }
    // The client's Ack of our request (frame 15): Opened.
    let ack = hex(&seed("trace1-ppp-15")["hex"]);
    m.handle_packet(NOW, &ack[4..]).unwrap();
    assert_eq!(m.state(), State::Opened);
    let n = m.handler().negotiated();
    assert_eq!(n.peer_address, Some(ip(172, 16, 1, 1)));
    assert_eq!(n.local_address, Some(ip(99, 99, 99, 2)));
    assert_eq!(n.dns, [None, None]);
}

#[test]
fn server_naks_configured_name_servers_and_a_wrong_address() {
    let config = IpcpConfig {
        local_address: Some(ip(10, 0, 0, 1)),
        dns: [Some(ip(8, 8, 8, 8)), None],
        nbns: [Some(ip(10, 0, 0, 5)), None],
        ..IpcpConfig::default()
    };
    let mut h = IpcpOptions::new(Role::Server, config);
    h.set_peer_address(Some(ip(10, 0, 0, 2)));
    let mut rb = ResponseBuilder::new();
    let req = request(1, &[(3, [10, 0, 0, 9]), (129, [0; 4]), (130, [0; 4])]);
    h.process_request(Options::new(&req[4..]).unwrap(), &mut rb);
    assert_eq!(rb.verdict(), Verdict::Nak);
    assert_eq!(
        rb.nak_options(),
        &[3, 6, 10, 0, 0, 2, 129, 6, 8, 8, 8, 8, 130, 6, 10, 0, 0, 5]
    );
    // Secondary DNS unset: Reject wins over Nak (RFC 1661 §5.4).
    let mut rb = ResponseBuilder::new();
    let req = request(2, &[(3, [10, 0, 0, 2]), (131, [0; 4])]);
    h.process_request(Options::new(&req[4..]).unwrap(), &mut rb);
    assert_eq!(rb.verdict(), Verdict::Reject);
    assert_eq!(rb.reject_options(), &[131, 6, 0, 0, 0, 0]);
    // The right values: Ack, committed.
    let mut rb = ResponseBuilder::new();
    let req = request(3, &[(3, [10, 0, 0, 2]), (129, [8, 8, 8, 8])]);
    h.process_request(Options::new(&req[4..]).unwrap(), &mut rb);
    assert_eq!(rb.verdict(), Verdict::Ack);
    assert_eq!(h.negotiated().peer_address, Some(ip(10, 0, 0, 2)));
    assert_eq!(h.negotiated().dns, [Some(ip(8, 8, 8, 8)), None]);
}

#[test]
fn server_rejects_old_ip_addresses_and_bad_lengths_and_prompts_for_an_address() {
    let mut h = IpcpOptions::new(Role::Server, IpcpConfig::server(ip(10, 0, 0, 1), [None; 2]));
    h.set_peer_address(Some(ip(10, 0, 0, 2)));
    let mut rb = ResponseBuilder::new();
    // IP-Addresses (1, 10 octets), IP-Address of 3 data octets.
    let opts = [1, 10, 0, 0, 0, 0, 0, 0, 0, 0, 3, 5, 1, 2, 3];
    h.process_request(Options::new(&opts).unwrap(), &mut rb);
    assert_eq!(rb.reject_options(), &opts);
    // No IP-Address at all: Nak prompting the assigned one.
    let mut rb = ResponseBuilder::new();
    h.process_request(Options::new(&[]).unwrap(), &mut rb);
    assert_eq!(rb.verdict(), Verdict::Nak);
    assert_eq!(rb.nak_options(), &[3, 6, 10, 0, 0, 2]);
    // No address to give: the option is rejected.
    h.set_peer_address(None);
    let mut rb = ResponseBuilder::new();
    h.process_request(Options::new(&[3, 6, 0, 0, 0, 0]).unwrap(), &mut rb);
    assert_eq!(rb.verdict(), Verdict::Reject);
}

#[test]
fn client_against_pix_style_server_gets_pool_address_and_dns() {
    let mut server_cfg = IpcpConfig::server(ip(99, 99, 99, 2), [Some(ip(1, 1, 1, 1)), None]);
    server_cfg.nbns = [None, None];
    let mut sh = IpcpOptions::new(Role::Server, server_cfg);
    sh.set_peer_address(Some(ip(172, 16, 1, 1)));
    let mut server = Fsm::new(sh, Config::default());
    let client_cfg = IpcpConfig {
        request_dns: true,
        request_nbns: true,
        ..IpcpConfig::default()
    };
    let mut client = Fsm::new(
        IpcpOptions::new(Role::Client, client_cfg),
        Config::default(),
    );
    for m in [&mut server, &mut client] {
        m.open(NOW);
        m.up(NOW);
    }
    let mut buf = [0u8; 256];
    for _ in 0..20 {
        while let Some(t) = server.poll_transmit(&mut buf) {
            let _ = client.handle_packet(NOW, &buf[..t.len]);
        }
        while let Some(t) = client.poll_transmit(&mut buf) {
            let _ = server.handle_packet(NOW, &buf[..t.len]);
        }
    }
    assert_eq!(server.state(), State::Opened);
    assert_eq!(client.state(), State::Opened);
    let c = client.handler().negotiated();
    assert_eq!(c.local_address, Some(ip(172, 16, 1, 1)));
    assert_eq!(c.peer_address, Some(ip(99, 99, 99, 2)));
    assert_eq!(c.dns, [Some(ip(1, 1, 1, 1)), None]);
    assert_eq!(c.nbns, [None, None]);
    let s = server.handler().negotiated();
    assert_eq!(s.peer_address, Some(ip(172, 16, 1, 1)));
    assert_eq!(s.dns, [Some(ip(1, 1, 1, 1)), None]);
}

/// Runs both machines until neither has anything to send.
fn exchange(a: &mut Fsm<IpcpOptions>, b: &mut Fsm<IpcpOptions>) {
    let mut buf = [0u8; 256];
    for _ in 0..20 {
        while let Some(t) = a.poll_transmit(&mut buf) {
            let _ = b.handle_packet(NOW, &buf[..t.len]);
        }
        while let Some(t) = b.poll_transmit(&mut buf) {
            let _ = a.handle_packet(NOW, &buf[..t.len]);
        }
    }
}

#[test]
fn renegotiation_from_opened_keeps_the_peer_address() {
    // Regression: a Configure-Request in Opened is judged (and the peer's
    // address recorded) before RFC 1661's tld runs; tld used to wipe the
    // address, leaving IPCP Opened with no peer address.
    let mut sh = IpcpOptions::new(
        Role::Server,
        IpcpConfig::server(ip(99, 99, 99, 2), [None, None]),
    );
    sh.set_peer_address(Some(ip(172, 16, 1, 1)));
    let mut server = Fsm::new(sh, Config::default());
    let mut client = Fsm::new(
        IpcpOptions::new(Role::Client, IpcpConfig::default()),
        Config::default(),
    );
    for m in [&mut server, &mut client] {
        m.open(NOW);
        m.up(NOW);
    }
    exchange(&mut server, &mut client);
    assert_eq!(
        (server.state(), client.state()),
        (State::Opened, State::Opened)
    );

    // The server renegotiates (as after a lost packet or a restart): its
    // Configure-Request reaches the client in Opened and is Acked there.
    server.down(NOW);
    server.up(NOW);
    exchange(&mut server, &mut client);
    assert_eq!(
        (server.state(), client.state()),
        (State::Opened, State::Opened)
    );
    assert_eq!(
        server.handler().negotiated().peer_address,
        Some(ip(172, 16, 1, 1))
    );
    assert_eq!(
        client.handler().negotiated().peer_address,
        Some(ip(99, 99, 99, 2))
    );
    assert_eq!(
        client.handler().negotiated().local_address,
        Some(ip(172, 16, 1, 1))
    );

    // A real layer-down still clears what was negotiated.
    server.down(NOW);
    assert_eq!(server.handler().negotiated().peer_address, None);
}

#[test]
fn client_rejects_server_options_it_cannot_honour() {
    let mut h = IpcpOptions::new(Role::Client, IpcpConfig::client());
    let mut rb = ResponseBuilder::new();
    // Server asks us for an address (0.0.0.0) and offers VJ.
    let opts = [3, 6, 0, 0, 0, 0, 2, 6, 0, 0x2d, 0x0f, 0x01];
    h.process_request(Options::new(&opts).unwrap(), &mut rb);
    assert_eq!(rb.reject_options(), &opts);
}

#[test]
fn malformed_ipcp_packets_are_typed_errors() {
    let mut m = pix();
    // Option length 0, option past the end, packet length past the data.
    assert_eq!(
        m.handle_packet(NOW, &[1, 1, 0, 6, 3, 0]),
        Err(crate::fsm::Error::Malformed(
            WireError::OptionLengthTooSmall { kind: 3, length: 0 }
        ))
    );
    assert!(matches!(
        m.handle_packet(NOW, &[1, 1, 0, 8, 3, 6, 0, 0]),
        Err(crate::fsm::Error::Malformed(
            WireError::OptionPastEnd { .. }
        ))
    ));
    assert!(matches!(
        m.handle_packet(NOW, &[1, 1, 0, 20, 3, 6, 0, 0, 0, 0]),
        Err(crate::fsm::Error::Malformed(
            WireError::BadPacketLength { .. }
        ))
    ));
    assert!(matches!(
        m.handle_packet(NOW, &[1, 1]),
        Err(crate::fsm::Error::Malformed(WireError::Truncated { .. }))
    ));
}
