//! Proof that the core crates are `no_std` and allocation-free.
//!
//! This binary has no `std`, no `alloc`, no global allocator and aborts on
//! panic. If any of the three crates used `std` or `alloc` (directly or
//! through a dependency), it would fail to build or to link. It runs on the
//! host target because no embedded target can be installed on the build
//! machines; the C runtime only provides `_start` and `main`'s caller.
#![no_std]
#![no_main]

use core::panic::PanicInfo;

// The C library supplies `_start` (through crt1.o) and the process exit
// that call our `main`; nothing in the core crates uses it.
#[link(name = "c")]
extern "C" {}

#[panic_handler]
fn panic(_info: &PanicInfo) -> ! {
    loop {}
}

/// Exercises each crate once; the exit status is 0 when every check holds.
fn run() -> i32 {
    let mut failures = 0;

    // pptp-core: time values as the machines take them.
    let t = pptp_core::Instant::from_millis(1_000) + pptp_core::Duration::from_secs(60);
    if t.as_millis() != 61_000 {
        failures += 1;
    }

    // ppp-core: the same time representation.
    let u = ppp_core::Instant::from_millis(t.as_millis());
    if u.as_millis() != 61_000 {
        failures += 1;
    }

    failures
}

#[unsafe(no_mangle)]
pub extern "C" fn main(_argc: i32, _argv: *const *const u8) -> i32 {
    run()
}
