//! The raw GRE socket: `socket(AF_INET, SOCK_RAW, IPPROTO_GRE)`.
//!
//! One socket serves every call: the kernel hands us each IP protocol 47
//! datagram with its IPv4 header (raw IPv4 sockets always include it on
//! receive), and builds the header itself on send (`IP_HDRINCL` off).
//!
//! The data path moves datagrams in batches (issue #15 item 2): one
//! `recvmmsg` fills a [`RecvBatch`] of up to [`BATCH`] datagrams, and GRE
//! datagrams for peers wait in a [`SendBatch`] until one `sendmmsg` sends
//! them (when it is full, and once per turn of the host's loop). Both are
//! allocated once, when the host starts: nothing per packet or per call.

use std::io::{self, Read};
use std::net::{Ipv4Addr, SocketAddrV4};
use std::ops::Range;
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

    /// Makes the kernel deliver to this socket only the GRE packets whose
    /// Call ID is in share `index` of `count`
    /// (`pptp_core::endpoint::CallIdShard`): with one such socket per
    /// worker, every packet reaches exactly the worker whose endpoint
    /// numbered its call, and no worker reads (or wakes for) another's.
    /// A classic BPF socket filter; every raw socket of protocol 47
    /// otherwise receives a copy of every GRE packet.
    pub fn steer_by_call_id(&self, index: u16, count: u16) -> io::Result<()> {
        let program = call_id_filter(index, count);
        let fprog = libc::sock_fprog {
            len: program.len() as libc::c_ushort,
            filter: program.as_ptr().cast_mut(),
        };
        // SAFETY: setsockopt reads one `sock_fprog` whose `filter` points
        // at `len` valid instructions; the kernel copies them before
        // returning, so `program` may go afterwards.
        let rc = unsafe {
            libc::setsockopt(
                self.socket.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_ATTACH_FILTER,
                (&fprog as *const libc::sock_fprog).cast(),
                std::mem::size_of::<libc::sock_fprog>() as libc::socklen_t,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        // Datagrams queued before the filter was attached may be anyone's:
        // drop them (the worker has no session yet).
        let mut scratch = [0u8; 2048];
        while (&self.socket).read(&mut scratch).is_ok() {}
        Ok(())
    }

    /// Receives one datagram into `buf`; returns the sender and the range
    /// of the GRE packet (after the IPv4 header).
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<(Ipv4Addr, Range<usize>)> {
        let n = (&self.socket).read(buf)?;
        ipv4_payload(&buf[..n])
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "short IPv4 header"))
    }

    /// Receives up to [`BATCH`] datagrams with one `recvmmsg` (at least
    /// one, or `WouldBlock`); read them with [`RecvBatch::gre_mut`].
    pub fn recv_batch(&self, batch: &mut RecvBatch) -> io::Result<usize> {
        batch.recv_from(self.socket.as_raw_fd())
    }

    /// Sends one GRE packet to `peer`.
    pub fn send(&self, peer: Ipv4Addr, packet: &[u8]) -> io::Result<()> {
        let addr = SockAddr::from(SocketAddrV4::new(peer, 0));
        self.socket.send_to(packet, &addr).map(|_| ())
    }

    /// Queues one GRE packet for `peer` in `batch` (see
    /// [`SendBatch::push_with`]: a full batch is sent first; if the socket
    /// would block, the packet is dropped and counted). A packet larger
    /// than a slot — none that the endpoint builds for a 1,500-octet link
    /// — is sent alone after the queue, so the order to a peer is kept.
    pub fn queue(&self, batch: &mut SendBatch, peer: Ipv4Addr, packet: &[u8]) {
        if packet.len() > SEND_SLOT {
            if self.flush(batch) == Flushed::Empty && self.send(peer, packet).is_ok() {
                batch.stats.sent += 1;
            } else {
                batch.stats.dropped_error += 1;
            }
            return;
        }
        let fd = self.socket.as_raw_fd();
        batch.push_with(peer, packet, |b| send_mmsg(fd, 0, b));
    }

    /// Sends what `batch` holds (one `sendmmsg` per run of datagrams the
    /// kernel takes); see [`SendBatch::flush_with`].
    pub fn flush(&self, batch: &mut SendBatch) -> Flushed {
        let fd = self.socket.as_raw_fd();
        batch.flush_with(|b| send_mmsg(fd, 0, b))
    }
}

/// The sender and the payload range of an IPv4 datagram (a raw IPv4
/// socket hands over the header), or `None` if the header is short.
fn ipv4_payload(packet: &[u8]) -> Option<(Ipv4Addr, Range<usize>)> {
    let n = packet.len();
    let header_len = usize::from(packet.first().copied().unwrap_or(0) & 0x0f) * 4;
    if n < 20 || header_len < 20 || header_len > n {
        return None;
    }
    let source = Ipv4Addr::new(packet[12], packet[13], packet[14], packet[15]);
    // Total Length bounds the datagram (the kernel gives exactly one).
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]])).clamp(header_len, n);
    Some((source, header_len..total))
}

/// Datagrams per `recvmmsg` and per `sendmmsg`. 32 is where the system
/// call's cost is spread thin (it is a few microseconds, a datagram's
/// processing with MPPE about as much) while a batch of acks still goes
/// out well within a quarter of the peer's window (hosts flush after
/// each received batch; `DEFAULT_RECEIVE_WINDOW` is 512).
pub const BATCH: usize = 32;

/// Room for each received datagram: the largest IPv4 datagram, so that
/// nothing the kernel hands over is cut, as with the 64 KiB buffer of
/// [`GreSocket::recv`]. 2 MiB of address space for a batch, allocated
/// once and zeroed by the allocator's fresh pages: only the first pages
/// of each slot, the ones datagrams are written to, become resident.
pub const RECV_SLOT: usize = 65_536;

/// Room for each queued datagram to send: a GRE header (16 octets), PPP
/// and MPPE headers (6) and a frame of up to the 1,500-octet MRU fit
/// with room to spare; anything larger goes alone ([`GreSocket::queue`]).
pub const SEND_SLOT: usize = 4096;

/// Datagrams read by one `recvmmsg`, in buffers allocated once.
pub struct RecvBatch {
    /// [`BATCH`] slots of [`RECV_SLOT`] octets.
    buf: Box<[u8]>,
    /// Length of each datagram received; `None` for one the kernel cut
    /// (`MSG_TRUNC`), which is dropped rather than parsed half.
    lens: [Option<usize>; BATCH],
    count: usize,
}

impl Default for RecvBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl RecvBatch {
    /// Allocates the [`BATCH`] receive buffers.
    pub fn new() -> Self {
        RecvBatch {
            buf: vec![0u8; BATCH * RECV_SLOT].into_boxed_slice(),
            lens: [None; BATCH],
            count: 0,
        }
    }

    /// Datagrams received by the last call.
    pub fn len(&self) -> usize {
        self.count
    }

    /// Whether the last call received nothing.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    /// Datagram `i` as received (with the IPv4 header on a raw socket);
    /// `None` past the end or if it was cut.
    pub fn datagram(&self, i: usize) -> Option<&[u8]> {
        let len = (*self.lens.get(i).filter(|_| i < self.count)?)?;
        Some(&self.buf[i * RECV_SLOT..i * RECV_SLOT + len])
    }

    /// Datagram `i` of a raw GRE socket: the sender and the GRE packet,
    /// writable (the endpoint decrypts in place). `None` past the end, if
    /// it was cut, or if its IPv4 header is short.
    pub fn gre_mut(&mut self, i: usize) -> Option<(Ipv4Addr, &mut [u8])> {
        let (source, range) = ipv4_payload(self.datagram(i)?)?;
        let start = i * RECV_SLOT;
        Some((
            source,
            &mut self.buf[start + range.start..start + range.end],
        ))
    }

    /// One `recvmmsg` on `fd` into the slots.
    fn recv_from(&mut self, fd: RawFd) -> io::Result<usize> {
        self.count = 0;
        let mut iovecs = [libc::iovec {
            iov_base: std::ptr::null_mut(),
            iov_len: 0,
        }; BATCH];
        for (iov, slot) in iovecs.iter_mut().zip(self.buf.chunks_exact_mut(RECV_SLOT)) {
            iov.iov_base = slot.as_mut_ptr().cast();
            iov.iov_len = slot.len();
        }
        // SAFETY: `mmsghdr` is plain old data (pointers, integers): all
        // zeros is a valid value (null name and control, no flags).
        let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
        for (h, iov) in headers.iter_mut().zip(iovecs.iter_mut()) {
            h.msg_hdr.msg_iov = iov;
            h.msg_hdr.msg_iovlen = 1;
        }
        // SAFETY: `headers` holds BATCH initialised `mmsghdr`s, each with
        // one iovec pointing at its own disjoint RECV_SLOT-octet slot of
        // `self.buf`; `iovecs`, `headers` and `self.buf` outlive the call
        // and nothing else touches them during it. No name or control
        // buffers are given, no time-out.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                headers.as_mut_ptr(),
                BATCH as libc::c_uint,
                0,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        let n = (n as usize).min(BATCH);
        for (len, h) in self.lens.iter_mut().zip(&headers[..n]) {
            *len = (h.msg_hdr.msg_flags & libc::MSG_TRUNC == 0).then_some(h.msg_len as usize);
        }
        self.count = n;
        Ok(n)
    }
}

/// Counters of a [`SendBatch`], for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SendStats {
    /// Datagrams the kernel took.
    pub sent: u64,
    /// `sendmmsg` calls that sent something.
    pub calls: u64,
    /// Flushes that stopped at `EAGAIN` with datagrams kept queued.
    pub blocked: u64,
    /// Datagrams dropped because the queue was full while the socket
    /// would block.
    pub dropped_full: u64,
    /// Datagrams the kernel refused with another error (no route, too
    /// big, no buffer): dropped, since sending again would fail again
    /// and hold up the datagrams queued behind.
    pub dropped_error: u64,
}

/// What [`SendBatch::flush_with`] left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flushed {
    /// Everything went (or was dropped for an error).
    Empty,
    /// The socket would block: the rest stays queued, in order, until the
    /// socket is writable again.
    Blocked,
}

/// GRE datagrams waiting for one `sendmmsg`: at most [`BATCH`], in
/// buffers allocated once.
///
/// Overflow policy: when the socket would block (`EAGAIN`), the
/// datagrams stay queued, in order, and go with the next flush (the
/// hosts flush every turn and keep the socket's writable interest, so
/// the turn after the socket drains sends them). The queue does not
/// grow: while it is full and the socket still blocks, new datagrams are
/// dropped and counted ([`SendStats::dropped_full`]), as a full
/// interface queue drops. Holding them longer would mean stopping the
/// TUN reads of every session sharing the socket; GRE is a datagram
/// service and the sequence numbers and TCP inside recover from a loss.
pub struct SendBatch {
    /// [`BATCH`] slots of [`SEND_SLOT`] octets.
    buf: Box<[u8]>,
    lens: [usize; BATCH],
    peers: [Ipv4Addr; BATCH],
    queued: usize,
    stats: SendStats,
}

impl Default for SendBatch {
    fn default() -> Self {
        Self::new()
    }
}

impl SendBatch {
    /// Allocates the [`BATCH`] send buffers.
    pub fn new() -> Self {
        SendBatch {
            buf: vec![0u8; BATCH * SEND_SLOT].into_boxed_slice(),
            lens: [0; BATCH],
            peers: [Ipv4Addr::UNSPECIFIED; BATCH],
            queued: 0,
            stats: SendStats::default(),
        }
    }

    /// Datagrams queued.
    pub fn len(&self) -> usize {
        self.queued
    }

    /// Whether nothing is queued.
    pub fn is_empty(&self) -> bool {
        self.queued == 0
    }

    /// Counters so far.
    pub fn stats(&self) -> SendStats {
        self.stats
    }

    /// Queued datagram `i`: its peer and octets.
    pub fn get(&self, i: usize) -> Option<(Ipv4Addr, &[u8])> {
        if i >= self.queued {
            return None;
        }
        Some((
            self.peers[i],
            &self.buf[i * SEND_SLOT..i * SEND_SLOT + self.lens[i]],
        ))
    }

    /// Queues `packet` (at most [`SEND_SLOT`] octets) for `peer`. A full
    /// queue is flushed with `send` first (see [`Self::flush_with`]); if
    /// it stays full the packet is dropped and counted. Whether it was
    /// queued.
    pub fn push_with(
        &mut self,
        peer: Ipv4Addr,
        packet: &[u8],
        send: impl FnMut(&SendBatch) -> io::Result<usize>,
    ) -> bool {
        if packet.len() > SEND_SLOT {
            self.stats.dropped_error += 1;
            return false;
        }
        if self.queued == BATCH {
            self.flush_with(send);
        }
        if self.queued == BATCH {
            self.stats.dropped_full += 1;
            return false;
        }
        let i = self.queued;
        self.buf[i * SEND_SLOT..i * SEND_SLOT + packet.len()].copy_from_slice(packet);
        self.lens[i] = packet.len();
        self.peers[i] = peer;
        self.queued += 1;
        true
    }

    /// Sends the queue with `send`, a `sendmmsg` of the queued datagrams
    /// that answers how many the kernel took from the front. What it did
    /// not take stays queued, in order, and is offered again at once:
    /// `sendmmsg` stops at the first datagram that fails and reports that
    /// error on the next call. `EAGAIN` ends the flush with the rest kept
    /// ([`Flushed::Blocked`]); another error drops the first datagram
    /// (counted) and goes on with the rest.
    pub fn flush_with(&mut self, mut send: impl FnMut(&SendBatch) -> io::Result<usize>) -> Flushed {
        while self.queued > 0 {
            match send(self) {
                Ok(0) => {
                    // Not an answer `sendmmsg` gives with datagrams to send;
                    // stop rather than spin.
                    self.stats.blocked += 1;
                    return Flushed::Blocked;
                }
                Ok(n) => {
                    let n = n.min(self.queued);
                    self.stats.sent += n as u64;
                    self.stats.calls += 1;
                    self.remove_front(n);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                    self.stats.blocked += 1;
                    return Flushed::Blocked;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    self.stats.dropped_error += 1;
                    self.remove_front(1);
                }
            }
        }
        Flushed::Empty
    }

    /// Drops the first `n` queued datagrams, moving the rest to the front
    /// (a copy only after a partial send, which is rare).
    fn remove_front(&mut self, n: usize) {
        let n = n.min(self.queued);
        for i in n..self.queued {
            let len = self.lens[i];
            self.buf
                .copy_within(i * SEND_SLOT..i * SEND_SLOT + len, (i - n) * SEND_SLOT);
            self.lens[i - n] = len;
            self.peers[i - n] = self.peers[i];
        }
        self.queued -= n;
    }
}

/// One `sendmmsg` on `fd` of every datagram queued in `batch`, each to its
/// peer at `port` (0 for a raw socket). How many the kernel took.
fn send_mmsg(fd: RawFd, port: u16, batch: &SendBatch) -> io::Result<usize> {
    let n = batch.len().min(BATCH);
    // SAFETY: `sockaddr_in` is plain old data; all zeros is valid.
    let mut names: [libc::sockaddr_in; BATCH] = unsafe { std::mem::zeroed() };
    let mut iovecs = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; BATCH];
    for i in 0..n {
        let Some((peer, bytes)) = batch.get(i) else {
            break;
        };
        names[i].sin_family = libc::AF_INET as libc::sa_family_t;
        names[i].sin_port = port.to_be();
        names[i].sin_addr.s_addr = u32::from(peer).to_be();
        // sendmsg only reads through iov_base (the pointer is *mut in
        // C's struct only).
        iovecs[i].iov_base = bytes.as_ptr().cast_mut().cast();
        iovecs[i].iov_len = bytes.len();
    }
    // SAFETY: `mmsghdr` is plain old data: all zeros is valid.
    let mut headers: [libc::mmsghdr; BATCH] = unsafe { std::mem::zeroed() };
    for ((h, name), iov) in headers
        .iter_mut()
        .zip(names.iter_mut())
        .zip(iovecs.iter_mut())
    {
        h.msg_hdr.msg_name = (name as *mut libc::sockaddr_in).cast();
        h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_in>() as libc::socklen_t;
        h.msg_hdr.msg_iov = iov;
        h.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `n` of `headers` are initialised, each naming its
    // own `sockaddr_in` (with its true length) and one iovec over a queued
    // datagram inside `batch.buf`, which the kernel only reads; `names`,
    // `iovecs`, `headers` and `batch` outlive the call.
    let sent = unsafe { libc::sendmmsg(fd, headers.as_mut_ptr(), n as libc::c_uint, 0) };
    if sent < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(sent as usize)
}

/// Sets a socket buffer size with the `*FORCE` option (root/CAP_NET_ADMIN:
/// not capped by `net.core.rmem_max`/`wmem_max`), falling back to the
/// capped option. Failure leaves the default: slower, not broken.
/// The classic BPF program of [`GreSocket::steer_by_call_id`]. A raw IPv4
/// socket's filter sees the packet from its IPv4 header: skip the header
/// (its length from IHL), load the GRE Call ID (octets 6-7 of the enhanced
/// header, RFC 2637 §4.1), keep the packet if `Call ID % count == index`.
/// A packet too short for the load is dropped by the BPF machine itself.
fn call_id_filter(index: u16, count: u16) -> [libc::sock_filter; 6] {
    // linux/filter.h's instruction classes and modes.
    const LD: u16 = 0x00;
    const LDX: u16 = 0x01;
    const ALU: u16 = 0x04;
    const JMP: u16 = 0x05;
    const RET: u16 = 0x06;
    const H: u16 = 0x08;
    const B: u16 = 0x10;
    const IND: u16 = 0x40;
    const MSH: u16 = 0xa0;
    const MOD: u16 = 0x90;
    const JEQ: u16 = 0x10;
    const K: u16 = 0x00;
    let op = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
    [
        op(LDX | B | MSH, 0, 0, 0),                       // X = 4 * (ip[0] & 0xf)
        op(LD | H | IND, 0, 0, 6),                        // A = Call ID
        op(ALU | MOD | K, 0, 0, u32::from(count.max(1))), // A %= count
        op(JMP | JEQ | K, 0, 1, u32::from(index)),        // A == index?
        op(RET | K, 0, 0, u32::MAX),                      // yes: the whole packet
        op(RET | K, 0, 0, 0),                             // no: drop
    ]
}

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

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::UdpSocket;

    fn peer(n: u8) -> Ipv4Addr {
        Ipv4Addr::new(10, 0, 0, n)
    }

    /// What the queue holds, in order.
    fn contents(b: &SendBatch) -> Vec<(Ipv4Addr, Vec<u8>)> {
        (0..b.len())
            .filter_map(|i| b.get(i).map(|(p, d)| (p, d.to_vec())))
            .collect()
    }

    /// Two workers' sockets (shares 0 and 1 of 2) and a third that sends
    /// GRE packets to 127.0.0.1 with Call IDs 20-27: each worker's socket
    /// receives exactly the IDs of its share. Needs CAP_NET_RAW (CI runs
    /// as root); without it the test says so and checks only the program.
    #[test]
    fn the_socket_filter_steers_each_call_id_to_one_worker() {
        let program = call_id_filter(1, 3);
        assert_eq!((program[2].k, program[3].k), (3, 1));
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: the socket filter is not exercised");
            return;
        }
        let workers = [GreSocket::open().unwrap(), GreSocket::open().unwrap()];
        for (i, w) in workers.iter().enumerate() {
            w.steer_by_call_id(i as u16, 2).unwrap();
        }
        let sender = GreSocket::open().unwrap();
        // A marker in the key's payload-length field tells our packets
        // from any other GRE on the host.
        let marker = 0x5a17u16;
        for id in 20u16..28 {
            let mut gre = [0x20, 0x01, 0x88, 0x0b, 0, 0, 0, 0];
            gre[4..6].copy_from_slice(&marker.to_be_bytes());
            gre[6..8].copy_from_slice(&id.to_be_bytes());
            sender.send(Ipv4Addr::LOCALHOST, &gre).unwrap();
        }
        // Loopback delivery is synchronous; a short wait covers a loaded
        // machine.
        std::thread::sleep(std::time::Duration::from_millis(50));
        for (i, w) in workers.iter().enumerate() {
            let mut got = Vec::new();
            let mut buf = [0u8; 2048];
            while let Ok((_, range)) = w.recv(&mut buf) {
                let gre = &buf[range];
                if gre.len() >= 8 && gre[4..6] == marker.to_be_bytes() {
                    got.push(u16::from_be_bytes([gre[6], gre[7]]));
                }
            }
            let want: Vec<u16> = (20u16..28).filter(|id| usize::from(id % 2) == i).collect();
            assert_eq!(got, want, "worker {i}");
        }
    }

    fn would_block() -> io::Result<usize> {
        Err(io::ErrorKind::WouldBlock.into())
    }

    #[test]
    fn a_partial_send_keeps_the_rest_in_order_and_offers_it_again() {
        let mut b = SendBatch::new();
        for n in 1..=5u8 {
            assert!(
                b.push_with(peer(n), &[n; 3][..usize::from(n) % 3 + 1], |_| would_block(
                ))
            );
        }
        // The kernel takes two, then would block.
        let mut calls = Vec::new();
        let left = b.flush_with(|q| {
            calls.push(q.len());
            if calls.len() == 1 {
                Ok(2)
            } else {
                would_block()
            }
        });
        assert_eq!(left, Flushed::Blocked);
        assert_eq!(calls, [5, 3], "the rest is offered again at once");
        assert_eq!(
            contents(&b),
            [
                (peer(3), vec![3u8; 1]),
                (peer(4), vec![4u8; 2]),
                (peer(5), vec![5u8; 3])
            ]
        );
        // The next flush sends exactly those.
        let mut seen = Vec::new();
        assert_eq!(
            b.flush_with(|q| {
                seen = contents(q);
                Ok(q.len())
            }),
            Flushed::Empty
        );
        assert_eq!(seen.len(), 3);
        assert_eq!(seen[0], (peer(3), vec![3u8; 1]));
        assert!(b.is_empty());
        let s = b.stats();
        assert_eq!((s.sent, s.calls, s.blocked, s.dropped_full), (5, 2, 1, 0));
    }

    #[test]
    fn the_queue_never_holds_more_than_a_batch() {
        let mut b = SendBatch::new();
        for i in 0..BATCH {
            assert!(b.push_with(peer(1), &[i as u8], |_| would_block()));
        }
        assert_eq!(b.len(), BATCH);
        // Full and the socket blocks: the new datagram is dropped, counted.
        let mut offered = 0;
        assert!(!b.push_with(peer(2), &[0xff], |q| {
            offered = q.len();
            would_block()
        }));
        assert_eq!(offered, BATCH, "a full queue is flushed first");
        assert_eq!(b.len(), BATCH);
        assert_eq!(b.stats().dropped_full, 1);
        assert_eq!(b.get(BATCH - 1), Some((peer(1), &[(BATCH - 1) as u8][..])));
        // Full, and the socket takes some: the new one is queued behind.
        let mut calls = 0;
        assert!(b.push_with(peer(2), &[0xff], |_| {
            calls += 1;
            if calls == 1 {
                Ok(BATCH - 1)
            } else {
                would_block()
            }
        }));
        assert_eq!(
            contents(&b),
            [(peer(1), vec![(BATCH - 1) as u8]), (peer(2), vec![0xff])]
        );
        // Larger than a slot: refused, not cut.
        assert!(!b.push_with(peer(3), &[0; SEND_SLOT + 1], |q| Ok(q.len())));
        assert_eq!(b.len(), 2);
    }

    #[test]
    fn an_error_drops_one_datagram_not_the_queue() {
        let mut b = SendBatch::new();
        for n in 1..=3u8 {
            assert!(b.push_with(peer(n), &[n], |_| would_block()));
        }
        let mut first = true;
        let left = b.flush_with(|q| {
            if std::mem::take(&mut first) {
                Err(io::Error::from_raw_os_error(libc::EHOSTUNREACH))
            } else {
                assert_eq!(contents(q)[0], (peer(2), vec![2]));
                Ok(q.len())
            }
        });
        assert_eq!(left, Flushed::Empty);
        let s = b.stats();
        assert_eq!((s.sent, s.dropped_error), (2, 1));
    }

    /// `sendmmsg` and `recvmmsg` themselves, on UDP over the loopback (no
    /// root needed; the raw GRE socket differs only in the IPv4 header
    /// it hands over on receive).
    #[test]
    fn sendmmsg_and_recvmmsg_move_a_batch_in_order() {
        let rx = UdpSocket::bind("127.0.0.1:0").unwrap();
        rx.set_nonblocking(true).unwrap();
        let tx = UdpSocket::bind("127.0.0.1:0").unwrap();
        tx.set_nonblocking(true).unwrap();
        let port = rx.local_addr().unwrap().port();
        let mut b = SendBatch::new();
        for n in 0..BATCH + 5 {
            let bytes = vec![n as u8; 100 + n];
            let fd = tx.as_raw_fd();
            assert!(b.push_with(Ipv4Addr::LOCALHOST, &bytes, |q| send_mmsg(fd, port, q)));
        }
        // The full batch went when the 33rd came; five wait.
        assert_eq!(b.len(), 5);
        assert_eq!(b.stats().sent, BATCH as u64);
        let fd = tx.as_raw_fd();
        assert_eq!(b.flush_with(|q| send_mmsg(fd, port, q)), Flushed::Empty);
        assert_eq!(b.stats().calls, 2);

        let mut r = RecvBatch::new();
        let mut got = Vec::new();
        loop {
            match r.recv_from(rx.as_raw_fd()) {
                Ok(n) => {
                    assert!(n <= BATCH);
                    got.extend((0..n).map(|i| r.datagram(i).unwrap().to_vec()));
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("recvmmsg: {e}"),
            }
        }
        assert_eq!(got.len(), BATCH + 5);
        for (n, d) in got.iter().enumerate() {
            assert_eq!(d, &vec![n as u8; 100 + n]);
        }
        // The first call filled a whole batch.
        assert_eq!(r.datagram(BATCH), None);
    }

    #[test]
    fn a_raw_datagram_is_parsed_past_its_ipv4_header() {
        let mut r = RecvBatch::new();
        let mut ip = [0u8; 24];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&24u16.to_be_bytes());
        ip[12..16].copy_from_slice(&[192, 0, 2, 7]);
        ip[20..24].copy_from_slice(&[1, 2, 3, 4]);
        r.buf[RECV_SLOT..RECV_SLOT + 24].copy_from_slice(&ip);
        r.lens[..2].copy_from_slice(&[Some(19), Some(24)]);
        r.count = 2;
        assert_eq!(r.gre_mut(0), None, "short header");
        let (source, gre) = r.gre_mut(1).unwrap();
        assert_eq!(source, Ipv4Addr::new(192, 0, 2, 7));
        assert_eq!(gre, &[1, 2, 3, 4]);
        assert_eq!(r.gre_mut(2), None);
    }
}
