//! Host networking for the server and client: the raw GRE socket (IP
//! protocol 47), the TUN device, and address/route helpers.

pub mod gre;
pub mod gre_rate;
pub mod hold;
pub mod tun;
pub mod tun_offload;
pub mod tun_reader;

use std::net::Ipv4Addr;
use std::process::Command;

/// The smallest list of CIDR blocks covering `first..=last` exactly (for
/// the routes that send the pool's addresses into the TUN device).
pub fn range_to_cidrs(first: Ipv4Addr, last: Ipv4Addr) -> Vec<(Ipv4Addr, u8)> {
    let (mut start, end) = (u64::from(u32::from(first)), u64::from(u32::from(last)));
    let mut out = Vec::new();
    while start <= end {
        // Largest block aligned at `start` that does not pass `end`.
        let mut size: u64 = if start == 0 {
            1 << 32
        } else {
            1 << start.trailing_zeros().min(32)
        };
        while start + size - 1 > end {
            size >>= 1;
        }
        let prefix = 32 - size.trailing_zeros() as u8;
        out.push((Ipv4Addr::from(start as u32), prefix));
        start += size;
    }
    out
}

/// Pending connections the listening socket queues (capped by the
/// kernel's `net.core.somaxconn`, 4096 by default since Linux 5.4).
/// `mio`'s `TcpListener::bind` uses 128, like `std`: when a few hundred
/// clients connect at once the queue overflows while the loop is busy,
/// and every dropped SYN costs its client the 1 s initial TCP
/// retransmission timeout (seen in the scale test as a p99 set-up time of
/// 1,050 ms with `ListenOverflows` counted).
pub const LISTEN_BACKLOG: i32 = 4096;

/// A non-blocking TCP listener on `addr` (`SO_REUSEADDR`, as `mio` sets
/// it) with a [`LISTEN_BACKLOG`] queue.
pub fn tcp_listener(addr: std::net::SocketAddr) -> std::io::Result<mio::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    Ok(mio::net::TcpListener::from_std(socket.into()))
}

/// The destination address of an IPv4 packet, if it is one.
pub fn ipv4_destination(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(
        packet[16], packet[17], packet[18], packet[19],
    ))
}

/// The source address of an IPv4 packet, if it is one.
pub fn ipv4_source(packet: &[u8]) -> Option<Ipv4Addr> {
    if packet.len() < 20 || packet[0] >> 4 != 4 {
        return None;
    }
    Some(Ipv4Addr::new(
        packet[12], packet[13], packet[14], packet[15],
    ))
}

/// Runs `ip ARGS...`, turning a failure into an error naming the command.
pub fn ip(args: &[&str]) -> std::io::Result<()> {
    let status = Command::new("ip").args(args).status()?;
    if status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(format!(
            "`ip {}` failed ({status})",
            args.join(" ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cidrs(a: &str, b: &str) -> Vec<String> {
        range_to_cidrs(a.parse().unwrap(), b.parse().unwrap())
            .into_iter()
            .map(|(n, p)| format!("{n}/{p}"))
            .collect()
    }

    #[test]
    fn pool_routes() {
        assert_eq!(
            cidrs("10.99.0.10", "10.99.0.19"),
            ["10.99.0.10/31", "10.99.0.12/30", "10.99.0.16/30"]
        );
        assert_eq!(cidrs("172.16.1.0", "172.16.1.255"), ["172.16.1.0/24"]);
        assert_eq!(cidrs("10.0.0.7", "10.0.0.7"), ["10.0.0.7/32"]);
        assert_eq!(cidrs("0.0.0.0", "255.255.255.255"), ["0.0.0.0/0"]);
        assert_eq!(
            cidrs("255.255.255.254", "255.255.255.255"),
            ["255.255.255.254/31"]
        );
    }

    #[test]
    fn pool_routes_cover_exactly() {
        let first = u32::from(Ipv4Addr::new(192, 168, 3, 77));
        let last = u32::from(Ipv4Addr::new(192, 168, 9, 3));
        let mut covered = 0u64;
        let mut next = first;
        for (net, prefix) in range_to_cidrs(first.into(), last.into()) {
            assert_eq!(u32::from(net), next, "contiguous, in order");
            let size = 1u64 << (32 - prefix);
            assert_eq!(u64::from(u32::from(net)) % size, 0, "aligned");
            covered += size;
            next = (u64::from(next) + size) as u32;
        }
        assert_eq!(covered, u64::from(last - first) + 1);
    }

    #[test]
    fn header_addresses() {
        let mut p = [0u8; 20];
        p[0] = 0x45;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[10, 99, 0, 10]);
        assert_eq!(ipv4_source(&p), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(ipv4_destination(&p), Some(Ipv4Addr::new(10, 99, 0, 10)));
        assert_eq!(ipv4_destination(&p[..19]), None);
        p[0] = 0x60;
        assert_eq!(ipv4_destination(&p), None);
    }
}
