//! # The endpoint: a whole PPTP server or client behind one Sans-IO object
//!
//! The machines of the three crates ([`Connection`](crate::control::Connection),
//! [`GreSession`](crate::gre::GreSession), [`Link`](ppp_core::link::Link),
//! their parked forms, the address pool, the AAA verdicts) are wired
//! together here once, so that a host keeps only its sockets, TUN device,
//! clock, randomness, AAA transport and user interface. [`Server`] answers
//! any number of control connections (RFC 2637's PAC: it answers
//! Start-Control-Connection-Request and Outgoing-Call-Request); [`Client`]
//! places one call (RFC 2637's PNS). Both are one [`Endpoint`] core with a
//! different role, as rustls keeps one connection core under several
//! shells.
//!
//! Nothing here allocates, reads a clock, draws a random number or can
//! panic on input: memory is the caller's ([`Memory`]), time is passed in,
//! randomness comes through the host's [`Random`], and every queue has a
//! fixed bound with a written overflow policy.
//!
//! ## The host loop
//!
//! Inputs are `handle_*` calls; outputs are polled. After any input, the
//! host polls in this order until each returns `None`:
//!
//! 1. [`Endpoint::poll_transmit`]: bytes for a TCP connection, a GRE
//!    datagram for an address, or an IP packet for the host's TUN device
//!    ([`Destination`]);
//! 2. [`Endpoint::poll_event`]: sessions up and down, AAA requests,
//!    connections to close;
//! 3. [`Endpoint::poll_timeout`]: when to call [`Endpoint::handle_timeout`].
//!
//! ```
//! use pptp_core::endpoint::{Destination, Endpoint, Event, Outbound, Random, ServerConfig};
//! use pptp_core::endpoint::{ControlEngine, LinkEngine, Slot};
//! use pptp_core::time::Instant;
//! use ppp_core::link::LinkConfig;
//! use core::net::Ipv4Addr;
//!
//! struct HostRandom(u64); // a host uses its OS or hardware RNG here
//! impl Random for HostRandom {
//!     fn fill_bytes(&mut self, dest: &mut [u8]) {
//!         for b in dest {
//!             self.0 = self.0.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
//!             *b = (self.0 >> 56) as u8;
//!         }
//!     }
//! }
//!
//! // Storage for 4 sessions, 2 of which may negotiate at once.
//! let memory = (
//!     core::array::from_fn::<Slot, 4, _>(|_| Slot::new()),
//!     core::array::from_fn::<ControlEngine, 2, _>(|_| ControlEngine::new()),
//!     core::array::from_fn::<LinkEngine, 2, _>(|_| LinkEngine::new()),
//! );
//! let link = LinkConfig::server(Ipv4Addr::new(192, 0, 2, 1), [None, None]);
//! let config = ServerConfig::new(link, Ipv4Addr::new(192, 0, 2, 10), Ipv4Addr::new(192, 0, 2, 20));
//! let users = ppp_core::auth::CredentialStore::<4>::new(Default::default());
//! let mut server = Endpoint::server(config, memory, HostRandom(1), Some(users)).unwrap();
//!
//! // A host's loop turn (sockets left out):
//! let now = Instant::from_millis(0);
//! let conn = server.accept(now, Ipv4Addr::new(198, 51, 100, 7)).unwrap();
//! let _ = server.handle_tcp(now, conn, &[]); // bytes read from that TCP socket
//! let mut buf = [0u8; 2048];
//! while let Some(t) = server.poll_transmit(now, &mut buf) {
//!     match t.to {
//!         Destination::Tcp(_conn) => { /* write buf[..t.len] to that socket */ }
//!         Destination::Gre(_addr) => { /* send buf[..t.len] as GRE to addr */ }
//!         Destination::Ip(_session) => { /* write buf[..t.len] to the TUN device */ }
//!     }
//! }
//! // An IPv4 packet read from the TUN device (here: for no session).
//! let tun_read = [0x45, 0, 0, 20, 0, 0, 0, 0, 64, 17, 0, 0, 192, 0, 2, 1, 192, 0, 2, 10];
//! let mut packet = Outbound::new(&tun_read);
//! let mut out = [0u8; 2048];
//! while let Ok(Some(t)) = server.send_ip(now, &mut packet, &mut out) {
//!     match t.to {
//!         Destination::Gre(_addr) => { /* send out[..t.len] as GRE: the packet or a fragment */ }
//!         Destination::Ip(_session) => { /* ICMP "fragmentation needed": to the TUN device */ }
//!         Destination::Tcp(_) => {}
//!     }
//! }
//! while let Some(event) = server.poll_event() {
//!     if let Event::ConnectionClosed { .. } = event { /* close that socket */ }
//! }
//! let _wake_at = server.poll_timeout(); // then handle_timeout(now) at or after it
//! ```
//!
//! GRE datagrams go in through [`Endpoint::handle_gre`], which decrypts
//! an IP packet in the caller's buffer and says where it lies (no copy on
//! the common path); IP packets from the host go out through
//! [`Endpoint::send_ip`], which writes the GRE datagram into the caller's
//! buffer (boringtun's `decapsulate`/`encapsulate`). A packet longer than
//! its session carries (the peer's MRU less framing) goes out as
//! fragments, one per call, or, with DF set, comes back as an ICMP
//! "fragmentation needed" for the TUN device; TCP SYNs have their MSS
//! clamped both ways (see `ip.rs`).
//!
//! ## Memory
//!
//! A session lives in a [`Slot`] (its parked control connection, GRE
//! state and parked PPP link: under 2 KiB). While a session negotiates,
//! renegotiates or moves much data it borrows a full machine from the
//! engine pools ([`ControlEngine`], [`LinkEngine`]); when it is quiet it
//! parks and gives the engine back. The number of engines bounds how many
//! sessions may negotiate at once, which is also what keeps peers that
//! never authenticate from taking every slot: a share of the engines
//! ([`ServerConfig::reserved_engines`]) is kept for sessions that are
//! already up.
//!
//! A server's login throttle ([`ServerConfig::login_throttle`],
//! [`THROTTLE_USERS`] names and [`THROTTLE_SOURCES`] addresses with
//! recent failures) lives in the endpoint itself: 16,536 octets. A
//! rejection it holds back waits in the session's [`LinkEngine`], which a
//! session that authenticates has anyway, so a [`Slot`] stays 2,048
//! octets.

mod aaa;
mod core;
mod early;
mod ip;
mod limits;
mod link_info;
mod login;
mod memory;
mod reauth;
mod refusal;
mod session;
mod shard;
mod timers;
mod types;

pub use self::core::{BuildError, Endpoint, POOL_CAPACITY};
pub use limits::Limits;
pub use login::{THROTTLE_SOURCES, THROTTLE_USERS};
pub use memory::{ControlEngine, LinkEngine, Memory, Slot};
pub use shard::{CallIdShard, ShardError, MAX_WORKERS};
pub use types::{
    AcceptError, CallRequestParams, ClientConfig, ConnectionHandle, Delivered, Destination,
    EndpointStats, Event, ExternalAaa, GreInputError, IpSendError, MtuCounters, Outbound, Parking,
    Random, ServerConfig, SessionEnd, SessionHandle, SessionView, TcpInput, Transmit, UserName,
    DEFAULT_RECEIVE_WINDOW, MAX_SLOTS, USER_NAME_MAX,
};

/// An endpoint that answers calls.
pub type Server<M, R, V> = Endpoint<M, R, V>;
/// An endpoint that places one call.
pub type Client<M, R> = Endpoint<M, R, ExternalAaa>;
