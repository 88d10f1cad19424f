//! The raw GRE socket: `socket(AF_INET, SOCK_RAW, IPPROTO_GRE)`.
//!
//! One socket serves every call: the kernel hands us each IP protocol 47
//! datagram with its IPv4 header (raw IPv4 sockets always include it on
//! receive), and builds the header itself on send (`IP_HDRINCL` off).

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::os::fd::{AsRawFd, RawFd};

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// IP protocol number of GRE (RFC 2784).
pub const IPPROTO_GRE: i32 = 47;

/// Receive buffer asked for the shared raw socket (the kernel doubles it).
/// One socket carries every call, so a burst of one packet per session —
/// thousands of sessions negotiating at once — must fit: with Linux's
/// default (`net.core.rmem_default`, 208 KiB, a few hundred small
/// datagrams) the scale test lost LCP/CCP/CHAP packets and sessions waited
/// for PPP restart timers or failed. Memory is only used while datagrams
/// wait.
pub const RECV_BUFFER: usize = 8 << 20;
/// Send buffer asked for the shared raw socket.
pub const SEND_BUFFER: usize = 4 << 20;

/// A non-blocking raw GRE socket.
pub struct GreSocket {
    socket: Socket,
}

impl GreSocket {
    /// Opens the socket; needs root or CAP_NET_RAW.
    pub fn open() -> io::Result<Self> {
        let socket = Socket::new(Domain::IPV4, Type::RAW, Some(Protocol::from(IPPROTO_GRE)))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::PermissionDenied {
                    io::Error::new(
                        e.kind(),
                        "cannot open the raw GRE socket (IP protocol 47): run as root or with CAP_NET_RAW",
                    )
                } else {
                    e
                }
            })?;
        socket.set_nonblocking(true)?;
        set_buffer(&socket, libc::SO_RCVBUFFORCE, RECV_BUFFER);
        set_buffer(&socket, libc::SO_SNDBUFFORCE, SEND_BUFFER);
        Ok(GreSocket { socket })
    }

    /// Receives one datagram into `buf`; returns the sender and the range
    /// of the GRE packet (after the IPv4 header).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(Ipv4Addr, std::ops::Range<usize>)> {
        let n = (&self.socket).read(buf)?;
        let packet = &buf[..n];
        let header_len = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
        if n < 20 || header_len < 20 || header_len > n {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "short IPv4 header",
            ));
        }
        let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
        // Total Length bounds the datagram (the kernel gives exactly one).
        let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).clamp(header_len, n);
        Ok((source, header_len..total))
    }

    /// Sends one GRE packet to `peer`.
    pub fn send(&self, peer: Ipv4Addr, packet: &[u8]) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddrV4::new(peer, 0));
        self.socket.send_to(packet, &addr).map(|_| ())
    }
}

/// Sets a socket buffer size with the `*FORCE` option (root/CAP_NET_ADMIN:
/// not capped by `net.core.rmem_max`/`wmem_max`), falling back to the
/// capped option. Failure leaves the default: slower, not broken.
fn set_buffer(socket: &Socket, force_option: libc::c_int, bytes: usize) {
    let value = libc::c_int::try_from(bytes).unwrap_or(libc::c_int::MAX);
    // SAFETY: setsockopt reads `size_of::<c_int>()` bytes from a valid,
    // live `c_int` on a socket descriptor we own.
    let rc = unsafe {
        libc::setsockopt(
            socket.as_raw_fd(),
            libc::SOL_SOCKET,
            force_option,
            (&value as *const libc::c_int).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    if rc != 0 {
        let _ = if force_option == libc::SO_RCVBUFFORCE {
            socket.set_recv_buffer_size(bytes)
        } else {
            socket.set_send_buffer_size(bytes)
        };
    }
}

impl AsRawFd for GreSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.socket.as_raw_fd()
    }
}
