//! A TUN device (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`): IPv4 packets in
//! and out, one per read/write.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

/// `TUNSETIFF` = `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

#[repr(C)]
struct IfReq {
    name: [libc::c_char; libc::IFNAMSIZ],
    flags: libc::c_short,
    _pad: [u8; 22],
}

/// Packets the kernel may queue for us to read (`txqueuelen`). The
/// default, 500, is shared by every session on the server's one device: in
/// the scale test one ICMP reply per session for 10,000 sessions
/// overflowed it (counted as TX drops of the device) while the loop was
/// busy with GRE. pptp-client uses it too: a single TCP flow overflowed
/// 500 while the client was encrypting.
pub const TX_QUEUE_LEN: u32 = 10_000;

/// An open, non-blocking TUN device.
pub struct Tun {
    file: File,
    name: String,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name`; needs root or
    /// CAP_NET_ADMIN.
    pub fn open(name: &str) -> io::Result<Self> {
        if name.is_empty() || name.len() >= libc::IFNAMSIZ {
            return Err(io::Error::new(io::ErrorKind::InvalidInput, "bad TUN name"));
        }
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
            .open("/dev/net/tun")
            .map_err(|e| io::Error::new(e.kind(), format!("/dev/net/tun: {e}")))?;
        let mut req = IfReq {
            name: [0; libc::IFNAMSIZ],
            flags: (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short,
            _pad: [0; 22],
        };
        for (dst, src) in req.name.iter_mut().zip(name.bytes()) {
            *dst = src as libc::c_char;
        }
        // SAFETY: TUNSETIFF reads and writes one `struct ifreq`; `req` is a
        // properly sized, initialised `#[repr(C)]` ifreq (16-octet name,
        // then the flags union padded to 24 octets) that outlives the call.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF as _, &mut req as *mut IfReq) };
        if rc < 0 {
            let e = io::Error::last_os_error();
            return Err(io::Error::new(
                e.kind(),
                format!("TUNSETIFF {name}: {e} (needs root or CAP_NET_ADMIN)"),
            ));
        }
        Ok(Tun {
            file,
            name: name.to_string(),
        })
    }

    /// The interface name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Brings the device up with `mtu`, a [`TX_QUEUE_LEN`] packet queue and
    /// our address `local`.
    pub fn configure(&self, local: Ipv4Addr, mtu: u16) -> io::Result<()> {
        let mtu = mtu.to_string();
        let queue = TX_QUEUE_LEN.to_string();
        super::ip(&[
            "link",
            "set",
            "dev",
            &self.name,
            "up",
            "mtu",
            &mtu,
            "txqueuelen",
            &queue,
        ])?;
        super::ip(&["addr", "replace", &format!("{local}/32"), "dev", &self.name])
    }

    /// Routes `net/prefix` into the device.
    pub fn add_route(&self, net: Ipv4Addr, prefix: u8) -> io::Result<()> {
        super::ip(&[
            "route",
            "replace",
            &format!("{net}/{prefix}"),
            "dev",
            &self.name,
        ])
    }

    /// Removes the route to `net/prefix` through the device.
    pub fn del_route(&self, net: Ipv4Addr, prefix: u8) -> io::Result<()> {
        super::ip(&[
            "route",
            "del",
            &format!("{net}/{prefix}"),
            "dev",
            &self.name,
        ])
    }

    /// Reads one packet.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        (&self.file).read(buf)
    }

    /// Writes one packet.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        (&self.file).write(packet).map(|_| ())
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
