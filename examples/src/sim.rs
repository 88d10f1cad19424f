//! The demo's world: a simulated clock, an in-memory network (one reliable
//! TCP byte stream each way, GRE datagrams each way with latency, loss and
//! reordering) and the host's seeded random source.
//!
//! Nothing here touches a socket or the wall clock, so a run is a pure
//! function of its seed and options.

use std::collections::VecDeque;

/// Which end of the simulated network.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum End {
    /// The PPTP client.
    Client,
    /// The PPTP server.
    Server,
}

impl End {
    /// The other end.
    pub fn other(self) -> End {
        match self {
            End::Client => End::Server,
            End::Server => End::Client,
        }
    }

    /// `client` or `server`.
    pub fn name(self) -> &'static str {
        match self {
            End::Client => "client",
            End::Server => "server",
        }
    }
}

/// The host's random source: SplitMix64 seeded by the user. Randomness
/// (challenges, magic numbers, call IDs) is the host's job; the core
/// crates never make any.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x5851_f42d_4c95_7f2d)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// The next 32 random bits.
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }

    /// A nonzero 16-bit value (call IDs).
    pub fn nonzero_u16(&mut self) -> u16 {
        loop {
            let v = (self.next_u64() >> 48) as u16;
            if v != 0 {
                return v;
            }
        }
    }

    /// Fills `buf` with random octets.
    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }

    /// True with probability `percent` / 100.
    pub fn chance(&mut self, percent: f64) -> bool {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * 100.0 < percent
    }
}

/// The endpoints' randomness in the demo: seeded, so a run repeats.
impl pptp_core::endpoint::Random for Rng {
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        self.fill(dest);
    }
}

/// Network behaviour.
#[derive(Clone, Copy, Debug)]
pub struct NetConfig {
    /// One-way latency in ms (TCP and GRE).
    pub latency_ms: u64,
    /// Percent of GRE datagrams dropped.
    pub gre_loss_percent: f64,
    /// Percent of GRE datagrams delayed by an extra 1..=3 latencies (they
    /// arrive after later ones: reordering).
    pub gre_reorder_percent: f64,
}

impl Default for NetConfig {
    fn default() -> Self {
        NetConfig {
            latency_ms: 10,
            gre_loss_percent: 0.0,
            gre_reorder_percent: 0.0,
        }
    }
}

/// Something the network delivers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Bytes of the TCP control connection.
    Tcp(Vec<u8>),
    /// One GRE datagram.
    Gre(Vec<u8>),
}

/// What happened to a GRE datagram handed to the network.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GreFate {
    /// Delivered after the normal latency.
    OnTime,
    /// Delivered late (after packets sent later).
    Delayed,
    /// Dropped.
    Lost,
}

#[derive(Debug)]
struct InFlight {
    at_ms: u64,
    order: u64,
    to: End,
    what: Delivery,
}

/// Counters of the simulated network.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NetStats {
    /// GRE datagrams sent into the network.
    pub gre_sent: u64,
    /// GRE datagrams the network dropped.
    pub gre_lost: u64,
    /// GRE datagrams the network delayed past later ones.
    pub gre_delayed: u64,
}

/// The in-memory network with its clock.
#[derive(Debug)]
pub struct Network {
    config: NetConfig,
    rng: Rng,
    now_ms: u64,
    order: u64,
    in_flight: VecDeque<InFlight>,
    /// Counters.
    pub stats: NetStats,
}

impl Network {
    /// A network at time 0; `rng` decides loss and reordering.
    pub fn new(config: NetConfig, rng: Rng) -> Self {
        Network {
            config,
            rng,
            now_ms: 0,
            order: 0,
            in_flight: VecDeque::new(),
            stats: NetStats::default(),
        }
    }

    /// The simulated time in ms.
    pub fn now_ms(&self) -> u64 {
        self.now_ms
    }

    fn push(&mut self, at_ms: u64, to: End, what: Delivery) {
        self.order += 1;
        self.in_flight.push_back(InFlight {
            at_ms,
            order: self.order,
            to,
            what,
        });
    }

    /// TCP bytes from `from`: reliable and in order.
    pub fn send_tcp(&mut self, from: End, bytes: Vec<u8>) {
        let at = self.now_ms + self.config.latency_ms;
        self.push(at, from.other(), Delivery::Tcp(bytes));
    }

    /// A GRE datagram from `from`, subject to loss and reordering unless
    /// `protected`.
    pub fn send_gre(&mut self, from: End, datagram: Vec<u8>, protected: bool) -> GreFate {
        self.stats.gre_sent += 1;
        if protected {
            let at = self.now_ms + self.config.latency_ms;
            self.push(at, from.other(), Delivery::Gre(datagram));
            return GreFate::OnTime;
        }
        if self.config.gre_loss_percent > 0.0 && self.rng.chance(self.config.gre_loss_percent) {
            self.stats.gre_lost += 1;
            return GreFate::Lost;
        }
        let mut at = self.now_ms + self.config.latency_ms;
        let mut fate = GreFate::OnTime;
        if self.config.gre_reorder_percent > 0.0 && self.rng.chance(self.config.gre_reorder_percent)
        {
            at += self.config.latency_ms * (1 + self.rng.next_u64() % 3);
            self.stats.gre_delayed += 1;
            fate = GreFate::Delayed;
        }
        self.push(at, from.other(), Delivery::Gre(datagram));
        fate
    }

    /// When the next delivery is due.
    pub fn next_delivery_ms(&self) -> Option<u64> {
        self.in_flight.iter().map(|f| f.at_ms).min()
    }

    /// Moves the clock to `at_ms` (never backwards).
    pub fn advance_to(&mut self, at_ms: u64) {
        self.now_ms = self.now_ms.max(at_ms);
    }

    /// Takes the earliest delivery due now, if any (ties in sending order).
    pub fn poll_delivery(&mut self) -> Option<(End, Delivery)> {
        let now = self.now_ms;
        let idx = self
            .in_flight
            .iter()
            .enumerate()
            .filter(|(_, f)| f.at_ms <= now)
            .min_by_key(|(_, f)| (f.at_ms, f.order))
            .map(|(i, _)| i)?;
        self.in_flight.remove(idx).map(|f| (f.to, f.what))
    }

    /// Whether anything is still in flight.
    pub fn is_idle(&self) -> bool {
        self.in_flight.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_numbers() {
        let (mut a, mut b) = (Rng::new(7), Rng::new(7));
        for _ in 0..10 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(Rng::new(7).next_u64(), Rng::new(8).next_u64());
    }

    #[test]
    fn tcp_is_in_order_and_delayed() {
        let mut net = Network::new(NetConfig::default(), Rng::new(1));
        net.send_tcp(End::Client, vec![1]);
        net.send_tcp(End::Client, vec![2]);
        assert_eq!(net.poll_delivery(), None);
        net.advance_to(net.next_delivery_ms().unwrap());
        assert_eq!(
            net.poll_delivery(),
            Some((End::Server, Delivery::Tcp(vec![1])))
        );
        assert_eq!(
            net.poll_delivery(),
            Some((End::Server, Delivery::Tcp(vec![2])))
        );
        assert!(net.is_idle());
    }

    #[test]
    fn loss_rate_is_roughly_honoured() {
        let config = NetConfig {
            gre_loss_percent: 20.0,
            ..NetConfig::default()
        };
        let mut net = Network::new(config, Rng::new(3));
        let lost = (0..1000)
            .filter(|_| net.send_gre(End::Client, vec![0], false) == GreFate::Lost)
            .count();
        assert!((120..280).contains(&lost), "{lost}");
    }
}
