//! Proof that the core crates are `no_std` and allocation-free.
//!
//! This binary has no `std`, no `alloc`, no global allocator and aborts on
//! panic. If any of the three crates used `std` or `alloc` (directly or
//! through a dependency), it would fail to build or to link. It runs on the
//! host target because no embedded target can be installed on the build
//! machines; the C runtime only provides `_start` and `main`'s caller.
#![no_std]
#![no_main]

use core::hint::black_box;
use core::panic::PanicInfo;

use mppe::keys::{KeyStrength, StartKey};
use mppe::session::{Decrypter, Encrypter, Mode};
use ppp_core::wire::hdlc;
use pptp_core::control::{Config, Connection};
use pptp_core::gre::{GreConfig, GreSession, Received};
use pptp_core::Role;

use core::net::Ipv4Addr;
use ppp_core::auth::{CredentialStore, DomainRule};
use ppp_core::link::{Credentials, LinkConfig, MppePolicy, PixEncryption};
use pptp_core::endpoint::{
    ClientConfig, ControlEngine, Destination, Endpoint, Event, LinkEngine, Outbound, Random,
    ServerConfig, Slot, TcpInput,
};

// The C library supplies `_start` (through crt1.o) and the process exit
// that call our `main`; nothing in the core crates uses it.
#[link(name = "c")]
extern "C" {}

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {}
}

/// Exercises each crate's machines once; returns the number of failed
/// checks (the process exit status).
fn run() -> i32 {
    let mut failures = 0;
    let mut check = |ok: bool| {
        if !ok {
            failures += 1;
        }
    };
    let now = pptp_core::Instant::from_millis(black_box(1_000));

    // pptp-core: a client and a server control connection complete the
    // SCCRQ/SCCRP start-up through caller-owned buffers.
    let mut client = Connection::<4>::new(Role::Client, Config::default(), now);
    let mut server = Connection::<4>::new(Role::Server, Config::default(), now);
    let mut buf = [0u8; 256];
    for _ in 0..4 {
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            check(server.handle_input(now, &buf[..t.len]).is_ok());
        }
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            check(client.handle_input(now, &buf[..t.len]).is_ok());
        }
    }
    check(client.is_established() && server.is_established());

    // pptp-core: one GRE data packet from one call's data path to the other.
    let mut gre_a = GreSession::<0, 0>::new(GreConfig::new(1, 2, 64));
    let mut gre_b = GreSession::<0, 0>::new(GreConfig::new(2, 1, 64));
    let mut datagram = [0u8; 64];
    let payload = black_box(*b"\xff\x03\xc0\x21hello");
    match gre_a.encapsulate(now, &payload, &mut datagram) {
        Ok(len) => match gre_b.decapsulate(now, &datagram[..len]) {
            Ok(Received::Deliver { payload: range, .. }) => check(datagram[range] == payload),
            _ => check(false),
        },
        Err(_) => check(false),
    }

    // ppp-core: an LCP frame through RFC 1662 async HDLC and back.
    let mut escaped = [0u8; 64];
    let encoder = hdlc::Encoder::new(hdlc::DEFAULT_ACCM);
    match encoder.encode(&payload, &mut escaped) {
        Ok(len) => {
            let mut decoder = hdlc::Decoder::<64>::new();
            let decoded = decoder.decode(&escaped[..len]);
            check(matches!(decoded.frame, Some(Ok(frame)) if frame == payload));
        }
        Err(_) => check(false),
    }

    // mppe: encrypt and decrypt one packet in place with 128-bit stateless
    // keys.
    let key = StartKey::from_bytes(black_box([0x5a; 16]));
    let config = mppe::session::Config::new(KeyStrength::Bits128, Mode::Stateless);
    if let (Ok(mut enc), Ok(mut dec)) = (Encrypter::new(&key, config), Decrypter::new(&key, config))
    {
        let mut packet = [0u8; 16];
        packet[2..].copy_from_slice(b"\x00\x21ip-packet...");
        let plain = packet;
        check(enc.encrypt_in_place(&mut packet).is_ok());
        check(packet[2..] != plain[2..]);
        check(dec.decrypt_in_place(&mut packet).is_ok());
        check(packet[2..] == plain[2..]);
    } else {
        check(false);
    }

    failures + endpoint_session()
}

/// Host randomness stand-in (a firmware would read its hardware RNG).
struct Lcg(u64);

impl Random for Lcg {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for b in dest {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            *b = (self.0 >> 56) as u8;
        }
    }
}

/// A whole session through the endpoint, server and client in this one
/// process, on fixed buffers: SCCRQ to MS-CHAPv2, MPPE-128 required, IP
/// packets both ways, then the client hangs up and both ends free
/// everything. Returns the number of failed checks.
fn endpoint_session() -> i32 {
    const SERVER: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
    const CLIENT: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
    let mut failures = 0;
    let mut link = LinkConfig::server(Ipv4Addr::new(192, 0, 2, 1), [None, None]);
    link.mppe = MppePolicy::pix(PixEncryption::Bits128, true);
    let mut config = ServerConfig::new(
        link,
        Ipv4Addr::new(192, 0, 2, 10),
        Ipv4Addr::new(192, 0, 2, 11),
    );
    config.reserved_engines = 0;
    let mut users = CredentialStore::<1>::new(DomainRule::default());
    let Ok(()) = users.insert_password(b"alice", b"clientPass") else {
        return 1;
    };
    let server_memory = (
        [Slot::new(), Slot::new()],
        [ControlEngine::new()],
        [LinkEngine::new()],
    );
    let Ok(mut server) = Endpoint::server(config, server_memory, Lcg(1), Some(users)) else {
        return 1;
    };
    let Ok(credentials) = Credentials::password(b"alice", b"clientPass") else {
        return 1;
    };
    let client_memory = ([Slot::new()], [ControlEngine::new()], [LinkEngine::new()]);
    let Ok(mut client) = Endpoint::client(
        ClientConfig::new(LinkConfig::client(credentials)),
        client_memory,
        Lcg(2),
    ) else {
        return 1;
    };
    let mut now = pptp_core::Instant::from_millis(black_box(0));
    let (Ok(server_conn), Ok(client_conn)) =
        (server.accept(now, CLIENT), client.connect(now, SERVER))
    else {
        return 1;
    };
    let mut buf = [0u8; 2048];
    let mut up = [false; 2];
    let mut closed = [false; 2];
    let mut peer_address = None;
    let mut ip_received = [0usize; 2];
    let mut ip_sent = false;
    let mut hung_up = false;
    for _round in 0..2000 {
        // Server output: TCP and GRE go straight into the client.
        while let Some(t) = server.poll_transmit(now, &mut buf) {
            match t.to {
                Destination::Tcp(_) => {
                    if !matches!(
                        client.handle_tcp(now, client_conn, &buf[..t.len]),
                        TcpInput::Consumed
                    ) {
                        failures += 1;
                    }
                }
                Destination::Gre(_) => {
                    if let Ok(Some(d)) = client.handle_gre(now, SERVER, &mut buf[..t.len]) {
                        ip_received[1] += usize::from(buf[d.range][..4] == [0x45, 0, 0, 40]);
                    }
                }
                Destination::Ip(_) => ip_received[0] += 1,
            }
        }
        while let Some(t) = client.poll_transmit(now, &mut buf) {
            match t.to {
                Destination::Tcp(_) => {
                    if !matches!(
                        server.handle_tcp(now, server_conn, &buf[..t.len]),
                        TcpInput::Consumed
                    ) {
                        failures += 1;
                    }
                }
                Destination::Gre(_) => {
                    if let Ok(Some(d)) = server.handle_gre(now, CLIENT, &mut buf[..t.len]) {
                        ip_received[0] += usize::from(buf[d.range][..4] == [0x45, 0, 0, 40]);
                    }
                }
                Destination::Ip(_) => ip_received[1] += 1,
            }
        }
        while let Some(e) = server.poll_event() {
            match e {
                Event::SessionUp { address, mppe, .. } => {
                    up[0] = mppe.is_some();
                    peer_address = address;
                }
                Event::ConnectionClosed { .. } => closed[0] = true,
                _ => {}
            }
        }
        while let Some(e) = client.poll_event() {
            match e {
                Event::SessionUp { mppe, .. } => up[1] = mppe.is_some(),
                Event::ConnectionClosed { .. } => closed[1] = true,
                _ => {}
            }
        }
        if up == [true, true] && !ip_sent {
            ip_sent = true;
            let Some(peer) = peer_address else {
                return failures + 1;
            };
            let mut packet = [0u8; 40];
            packet[..4].copy_from_slice(&[0x45, 0, 0, 40]);
            packet[12..16].copy_from_slice(&[192, 0, 2, 1]);
            packet[16..20].copy_from_slice(&peer.octets());
            set_ipv4_checksum(&mut packet);
            let mut out = [0u8; 128];
            match server.send_ip(now, &mut Outbound::new(&packet), &mut out) {
                Ok(Some(t)) => {
                    if let Ok(Some(_)) = client.handle_gre(now, SERVER, &mut out[..t.len]) {
                        ip_received[1] += 1;
                    }
                }
                Ok(None) | Err(_) => failures += 1,
            }
            packet[12..16].copy_from_slice(&peer.octets());
            packet[16..20].copy_from_slice(&[192, 0, 2, 1]);
            set_ipv4_checksum(&mut packet);
            match client.send_ip(now, &mut Outbound::new(&packet), &mut out) {
                Ok(Some(t)) => {
                    if let Ok(Some(_)) = server.handle_gre(now, CLIENT, &mut out[..t.len]) {
                        ip_received[0] += 1;
                    }
                }
                Ok(None) | Err(_) => failures += 1,
            }
        }
        if ip_sent && !hung_up {
            hung_up = true;
            let session = client.sessions().next().map(|v| v.session);
            if let Some(s) = session {
                client.close_session(now, s);
            }
        }
        if closed == [true, true] {
            break;
        }
        now = now + pptp_core::Duration::from_millis(10);
        server.handle_timeout(now);
        client.handle_timeout(now);
    }
    let checks = [
        up == [true, true],
        ip_received == [1, 1],
        closed == [true, true],
        server.is_idle() && client.is_idle(),
        server.pool().is_some_and(|p| p.allocated() == 0),
    ];
    failures + checks.iter().filter(|ok| !**ok).count() as i32
}

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    run()
}

/// Writes the IPv4 header checksum (RFC 791 §3.1): a stateless MPPE
/// receiver keeps only packets that decrypt to a valid header.
fn set_ipv4_checksum(packet: &mut [u8; 40]) {
    packet[10] = 0;
    packet[11] = 0;
    let mut sum: u32 = 0;
    let mut i = 0;
    while i < 20 {
        sum += u32::from(u16::from_be_bytes([packet[i], packet[i + 1]]));
        i += 2;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    let [hi, lo] = (!(sum as u16)).to_be_bytes();
    packet[10] = hi;
    packet[11] = lo;
}
