//! Host services the Sans-IO machines need: a millisecond clock and the
//! OS random number generator.

use ppp_core::link::Entropy;
use pptp_core::endpoint::{ControlEngine, LinkEngine, Random, Slot};

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

/// The OS random number generator as the endpoint's randomness.
#[derive(Clone, Copy, Debug, Default)]
pub struct OsRandom;

impl Random for OsRandom {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        // See `random_bytes` for why a failure is fatal.
        if let Err(e) = getrandom::getrandom(dest) {
            eprintln!("fatal: OS random number generator failed: {e}");
            std::process::exit(1);
        }
    }
}

/// An endpoint's memory on the heap: `slots` sessions, of which
/// `engines` may negotiate (or be unparked) at once.
pub type HeapMemory = (Vec<Slot>, Vec<ControlEngine>, Vec<LinkEngine>);

/// Builds [`HeapMemory`] element by element on the heap (a server with
/// 100,000 slots never builds them on the stack).
pub fn heap_memory(slots: usize, engines: usize) -> HeapMemory {
    (
        (0..slots).map(|_| Slot::new()).collect(),
        (0..engines).map(|_| ControlEngine::new()).collect(),
        (0..engines).map(|_| LinkEngine::new()).collect(),
    )
}

/// A fresh LCP magic number and CHAP challenge / peer challenge.
pub fn entropy() -> Entropy {
    let magic = u32::from_ne_bytes(random_bytes::<4>());
    Entropy {
        magic: if magic == 0 { 1 } else { magic },
        challenge: random_bytes::<16>(),
        identifier: random_bytes::<1>()[0],
    }
}

/// Raises the open-file limit (`RLIMIT_NOFILE`) to its hard maximum and
/// returns the new soft limit. Each session holds one TCP socket, and the
/// usual soft limit (1024) stops a server or load generator near 1,000
/// sessions.
pub fn raise_fd_limit() -> std::io::Result<u64> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `struct rlimit` into `limit`, which is
    // valid and properly sized for the call.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // An unlimited hard limit cannot be the soft one: Linux caps open
    // files at fs.nr_open.
    let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|s| s.trim().parse::<libc::rlim_t>().ok())
        .unwrap_or(1 << 20);
    limit.rlim_cur = limit.rlim_max.min(nr_open);
    // SAFETY: setrlimit reads one valid `struct rlimit`.
    if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(limit.rlim_cur)
}
