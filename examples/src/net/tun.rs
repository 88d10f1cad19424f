//! A TUN device (`/dev/net/tun`, `IFF_TUN | IFF_NO_PI`): IPv4 packets in
//! and out, one per read/write; opened with [`Tun::open_offloading`], each
//! read and write also carries a `virtio_net_hdr` (`IFF_VNET_HDR`), so that
//! a write may hand the kernel many TCP segments at once
//! ([`super::tun_offload`]).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::fs::OpenOptionsExt;

use super::tun_offload::{read_kind, ReadKind, VNET_HDR_LEN};

/// `TUNSETIFF` = `_IOW('T', 202, int)`.
const TUNSETIFF: libc::c_ulong = 0x4004_54ca;
/// `TUNSETOFFLOAD` = `_IOW('T', 208, unsigned int)`.
const TUNSETOFFLOAD: libc::c_ulong = 0x4004_54d0;

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
    /// `IFF_VNET_HDR`: every read and write starts with the header.
    vnet_hdr: bool,
}

impl Tun {
    /// Creates (or attaches to) the TUN device `name`; needs root or
    /// CAP_NET_ADMIN.
    pub fn open(name: &str) -> io::Result<Self> {
        Self::open_with(name, false)
    }

    /// As [`Tun::open`], with `IFF_VNET_HDR` and TSO: [`Tun::send_with_header`]
    /// takes the merged packets of a [`super::tun_offload::TunBatch`], and
    /// [`Tun::recv_offloaded`] may return TCP super-packets.
    /// [`Tun::recv`] and [`Tun::send`] still move bare IP packets.
    pub fn open_offloading(name: &str) -> io::Result<Self> {
        let tun = Self::open_with(name, true)?;
        tun.enable_tso()?;
        Ok(tun)
    }

    fn open_with(name: &str, vnet_hdr: bool) -> io::Result<Self> {
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
            flags: (libc::IFF_TUN | libc::IFF_NO_PI | if vnet_hdr { libc::IFF_VNET_HDR } else { 0 })
                as libc::c_short,
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
            vnet_hdr,
        })
    }

    /// A second handle on the same device (`dup`): one part of a host may
    /// read it while another writes.
    pub fn try_clone(&self) -> io::Result<Self> {
        Ok(Tun {
            file: self.file.try_clone()?,
            name: self.name.clone(),
            vnet_hdr: self.vnet_hdr,
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

    /// Reads one packet (a GSO read of a device with TSO turned on is an
    /// error here: see [`Tun::recv_offloaded`]).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        if !self.vnet_hdr {
            return (&self.file).read(buf);
        }
        match self.recv_offloaded(buf)? {
            (n, ReadKind::Plain { .. }) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "GSO packet from the TUN device",
            )),
        }
    }

    /// Reads one packet and says what it is: a plain packet (its partial
    /// checksum, if any, completed here), or a GSO packet for a
    /// [`super::tun_offload::Segmenter`].
    pub fn recv_offloaded(&self, buf: &mut [u8]) -> io::Result<(usize, ReadKind)> {
        if !self.vnet_hdr {
            let n = (&self.file).read(buf)?;
            return Ok((
                n,
                ReadKind::Plain {
                    partial_checksum: None,
                },
            ));
        }
        let mut hdr = [0u8; VNET_HDR_LEN];
        let n = (&self.file)
            .read_vectored(&mut [io::IoSliceMut::new(&mut hdr), io::IoSliceMut::new(buf)])?;
        let n = n.checked_sub(VNET_HDR_LEN).ok_or_else(|| {
            io::Error::new(
                io::ErrorKind::InvalidData,
                "TUN read shorter than its header",
            )
        })?;
        let kind = read_kind(&hdr);
        // With checksum offload (on with TSO) the stack leaves a local
        // sender's checksum partial: the field holds the pseudo-header's
        // sum, and the checksum over the rest completes it.
        if let ReadKind::Plain {
            partial_checksum: Some((start, offset)),
        } = kind
        {
            let at = start + offset;
            if start >= n || at + 2 > n {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "bad checksum offsets",
                ));
            }
            let sum = ppp_core::wire::ipv4::checksum(&buf[start..n]);
            buf[at..at + 2].copy_from_slice(&sum.to_be_bytes());
        }
        Ok((n, kind))
    }

    /// Lets the kernel hand this device whole TCP/IPv4 super-packets
    /// (TSO) and packets with partial checksums (`TUNSETOFFLOAD`
    /// `TUN_F_CSUM | TUN_F_TSO4`): read them with
    /// [`Tun::recv_offloaded`].
    fn enable_tso(&self) -> io::Result<()> {
        if !self.vnet_hdr {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "TSO needs IFF_VNET_HDR",
            ));
        }
        const TUN_F_CSUM: libc::c_ulong = 0x01;
        const TUN_F_TSO4: libc::c_ulong = 0x02;
        // SAFETY: TUNSETOFFLOAD takes its flags as the argument itself (no
        // pointer) on a TUN descriptor we own.
        let rc = unsafe {
            libc::ioctl(
                self.file.as_raw_fd(),
                TUNSETOFFLOAD as _,
                TUN_F_CSUM | TUN_F_TSO4,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Writes one packet.
    pub fn send(&self, packet: &[u8]) -> io::Result<()> {
        if self.vnet_hdr {
            let plain = super::tun_offload::PLAIN_HDR;
            return (&self.file)
                .write_vectored(&[io::IoSlice::new(&plain), io::IoSlice::new(packet)])
                .map(|_| ());
        }
        (&self.file).write(packet).map(|_| ())
    }

    /// Writes one packet that starts with its `virtio_net_hdr` (a device
    /// from [`Tun::open_offloading`]; others take the bare packet).
    pub fn send_with_header(&self, packet: &[u8]) -> io::Result<()> {
        if self.vnet_hdr {
            (&self.file).write(packet).map(|_| ())
        } else {
            self.send(packet.get(VNET_HDR_LEN..).unwrap_or_default())
        }
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}
