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

    failures
}

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    run()
}
