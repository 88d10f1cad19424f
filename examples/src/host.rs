//! Host services the Sans-IO machines need: a millisecond clock and the
//! OS random number generator.

use ppp_core::link::Entropy;

/// Milliseconds since the host program started: the clock of every machine.
#[derive(Clone, Copy, Debug)]
pub struct Clock(std::time::Instant);

impl Clock {
    /// A clock starting now.
    pub fn start() -> Self {
        Clock(std::time::Instant::now())
    }

    /// Milliseconds since start.
    pub fn ms(&self) -> u64 {
        self.0.elapsed().as_millis() as u64
    }
}

/// `N` bytes from the OS RNG (`getrandom(2)`).
pub fn random_bytes<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    // getrandom(2) only fails before the kernel pool is seeded or when the
    // syscall is missing; both are fatal for a VPN endpoint that needs
    // unpredictable challenges.
    if let Err(e) = getrandom::getrandom(&mut b) {
        eprintln!("fatal: OS random number generator failed: {e}");
        std::process::exit(1);
    }
    b
}

/// A fresh LCP magic number and CHAP challenge / peer challenge.
pub fn entropy() -> Entropy {
    let magic = u32::from_ne_bytes(random_bytes::<4>());
    Entropy {
        magic: if magic == 0 { 1 } else { magic },
        challenge: random_bytes::<16>(),
    }
}

/// A random non-zero call ID not rejected by `taken`.
pub fn call_id(taken: impl Fn(u16) -> bool) -> u16 {
    loop {
        let id = u16::from_ne_bytes(random_bytes::<2>());
        if id != 0 && !taken(id) {
            return id;
        }
    }
}
