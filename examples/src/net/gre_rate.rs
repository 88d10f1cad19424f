//! What the raw GRE socket path alone carries: `pptp-tool gre-rate`.
//!
//! A tunnel's throughput is bounded by three things on a host: the
//! cipher, the kernel's handling of each GRE datagram, and our own code
//! between them. The cipher has its bench; this measures the second with
//! nothing of ours in the way. One end sends PPTP data packets (enhanced
//! GRE with a sequence number, RFC 2637 §4.1) of a chosen size as fast as
//! the socket takes them, in the same `sendmmsg` batches the hosts use;
//! the other reads them with the hosts' `recvmmsg` batches and counts.
//! No PPP, no MPPE, no TUN device: whatever a session reaches is a share
//! of this figure.
//!
//! Why it is needed: Linux cannot segment or coalesce PPTP's GRE. Its GRE
//! offloads handle version 0 only (`gre_gro_receive` and `gre_gso_segment`
//! give up on any flag beyond key and checksum, and PPTP sets the version
//! to 1 with the sequence and key bits), and a raw socket offers no
//! segmentation offload on send. So while plain TCP between two
//! namespaces moves 64 KiB per trip through the stack, a tunnel moves one
//! MTU-sized datagram per trip on its GRE hop, whatever the host does at
//! its TUN device.
//!
//! Bounded: the sender stops at its deadline; the receiver stops at its
//! deadline, after a second without datagrams once some arrived, or at
//! `wait` when none ever do.

use std::io;
use std::net::Ipv4Addr;
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use pptp_core::wire::gre::{GrePacket, GreRepr};

use super::gre::{Flushed, GreSocket, RecvBatch, SendBatch, BATCH, SEND_SLOT};

/// PPP protocol field of an IPv4 datagram (RFC 1661 §2, RFC 1332), so the
/// packets look like what a session sends (address and control fields
/// omitted, as PPTP peers negotiate them away).
const PPP_IPV4: [u8; 2] = [0x00, 0x21];

/// The receiver ends this long after the last datagram, once some came.
const IDLE_END: Duration = Duration::from_secs(1);

/// What one end counted.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct RateReport {
    /// GRE datagrams sent or received (of the measured Call ID).
    pub datagrams: u64,
    /// Their GRE payload octets (the PPP frames a session would carry).
    pub payload_octets: u64,
    /// From the first to the last datagram (receiver) or from start to
    /// deadline (sender).
    pub seconds: f64,
    /// Sender: datagrams the kernel refused with an error other than
    /// `EAGAIN` (dropped, as the hosts do). Receiver: 0.
    pub errors: u64,
    /// Sender: flushes that met a full socket and waited.
    pub blocked: u64,
}

impl RateReport {
    /// Payload Gb/s.
    pub fn gbps(&self) -> f64 {
        rate(self.payload_octets as f64 * 8.0, self.seconds) / 1e9
    }

    /// Datagrams per second.
    pub fn pps(&self) -> f64 {
        rate(self.datagrams as f64, self.seconds)
    }

    /// One line for scripts: `GRE_RATE role=... key=value ...`.
    pub fn line(&self, role: &str) -> String {
        format!(
            "GRE_RATE role={role} datagrams={} payload_octets={} seconds={:.3} gbps={:.4} pps={:.0} errors={} blocked={}",
            self.datagrams,
            self.payload_octets,
            self.seconds,
            self.gbps(),
            self.pps(),
            self.errors,
            self.blocked
        )
    }
}

fn rate(amount: f64, seconds: f64) -> f64 {
    if seconds > 0.0 {
        amount / seconds
    } else {
        0.0
    }
}

/// A PPTP data packet for `call_id` with a `payload`-octet PPP frame and
/// sequence number `sequence`, into `buf`; its length.
pub fn data_packet(
    call_id: u16,
    sequence: u32,
    payload: usize,
    buf: &mut [u8],
) -> Result<usize, String> {
    let payload_len = u16::try_from(payload)
        .ok()
        .filter(|&p| p >= 2)
        .ok_or_else(|| format!("payload {payload}: give 2 to 65535 octets"))?;
    let repr = GreRepr::data(call_id, payload_len, sequence, None);
    let total = repr.total_len();
    let packet = buf
        .get_mut(..total)
        .ok_or_else(|| format!("payload {payload}: at most {} octets", SEND_SLOT - 12))?;
    let header = repr.emit(packet).map_err(|e| format!("{e:?}"))?;
    packet[header..header + 2].copy_from_slice(&PPP_IPV4);
    packet[header + 2..].fill(0);
    Ok(total)
}

/// Sends data packets for `call_id` to `to` for `duration`, in batches of
/// [`BATCH`]: returns what the kernel took.
pub fn send(
    socket: &GreSocket,
    to: Ipv4Addr,
    call_id: u16,
    payload: usize,
    duration: Duration,
) -> Result<RateReport, String> {
    let mut packet = vec![0u8; SEND_SLOT];
    let len = data_packet(call_id, 0, payload, &mut packet)?;
    let mut batch = SendBatch::new();
    let start = Instant::now();
    let deadline = start + duration;
    let mut sequence = 0u32;
    let mut blocked_waits = 0u64;
    while Instant::now() < deadline {
        while batch.len() < BATCH {
            // Only the sequence number changes from packet to packet.
            GrePacket::new_unchecked(&mut packet[..len]).set_sequence(sequence);
            sequence = sequence.wrapping_add(1);
            socket.queue(&mut batch, to, &packet[..len]);
        }
        if socket.flush(&mut batch) == Flushed::Blocked {
            blocked_waits += 1;
            wait_for(socket, libc::POLLOUT, Duration::from_millis(10));
        }
    }
    let stats = batch.stats();
    Ok(RateReport {
        datagrams: stats.sent,
        payload_octets: stats.sent * payload as u64,
        seconds: start.elapsed().as_secs_f64(),
        errors: stats.dropped_error + stats.dropped_full,
        blocked: blocked_waits,
    })
}

/// [`send`] from `threads` threads at once, each with its own socket (as
/// pptp-server's workers have): what the whole host can push, where one
/// thread measures what one session's sender can. The sum of their
/// counts, over the longest thread's time.
pub fn send_from_threads(
    threads: usize,
    to: Ipv4Addr,
    call_id: u16,
    payload: usize,
    duration: Duration,
) -> Result<RateReport, String> {
    if !(1..=64).contains(&threads) {
        return Err(format!("--threads {threads}: give 1 to 64"));
    }
    let sockets = (0..threads)
        .map(|_| GreSocket::open().map_err(|e| e.to_string()))
        .collect::<Result<Vec<_>, _>>()?;
    let reports = std::thread::scope(|scope| {
        let running: Vec<_> = sockets
            .iter()
            .map(|socket| scope.spawn(move || send(socket, to, call_id, payload, duration)))
            .collect();
        running
            .into_iter()
            .map(|t| {
                t.join()
                    .unwrap_or_else(|_| Err("a sender thread panicked".into()))
            })
            .collect::<Result<Vec<_>, _>>()
    })?;
    Ok(reports
        .iter()
        .fold(RateReport::default(), |sum, r| RateReport {
            datagrams: sum.datagrams + r.datagrams,
            payload_octets: sum.payload_octets + r.payload_octets,
            seconds: sum.seconds.max(r.seconds),
            errors: sum.errors + r.errors,
            blocked: sum.blocked + r.blocked,
        }))
}

/// Counts the data packets for `call_id` that arrive within `duration`
/// of the first one (waiting at most `wait` for it), ending early after
/// a second without any.
pub fn receive(
    socket: &GreSocket,
    call_id: u16,
    duration: Duration,
    wait: Duration,
) -> io::Result<RateReport> {
    let mut batch = RecvBatch::new();
    let opened = Instant::now();
    let mut first: Option<Instant> = None;
    let mut last = opened;
    let mut report = RateReport::default();
    loop {
        let now = Instant::now();
        let end = match first {
            Some(f) => (f + duration).min(last + IDLE_END),
            None => opened + wait,
        };
        if now >= end {
            break;
        }
        let n = match socket.recv_batch(&mut batch) {
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                wait_for(socket, libc::POLLIN, end - now);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        let now = Instant::now();
        for i in 0..n {
            let Some((_, gre)) = batch.gre_mut(i) else {
                continue;
            };
            let Ok(packet) = GrePacket::new_checked(&*gre) else {
                continue;
            };
            if packet.call_id() != call_id || packet.sequence().is_none() {
                continue;
            }
            report.datagrams += 1;
            report.payload_octets += u64::from(packet.payload_len());
            first.get_or_insert(now);
            last = now;
        }
    }
    report.seconds = first.map_or(0.0, |f| (last - f).as_secs_f64());
    Ok(report)
}

/// Waits until the socket is ready for `events` or `timeout` passes.
fn wait_for(socket: &GreSocket, events: libc::c_short, timeout: Duration) {
    let mut fd = libc::pollfd {
        fd: socket.as_raw_fd(),
        events,
        revents: 0,
    };
    let ms = libc::c_int::try_from(timeout.as_millis().max(1)).unwrap_or(libc::c_int::MAX);
    // SAFETY: poll reads and writes exactly the one pollfd passed, which
    // lives across the call.
    unsafe { libc::poll(&mut fd, 1, ms) };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_data_packet_is_a_pptp_gre_packet_with_a_ppp_ipv4_frame() {
        let mut buf = [0xffu8; 64];
        let len = data_packet(0x1234, 7, 20, &mut buf).unwrap();
        assert_eq!(len, 12 + 20);
        let packet = GrePacket::new_checked(&buf[..len]).unwrap();
        let repr = GreRepr::parse(&packet).unwrap();
        assert_eq!(repr, GreRepr::data(0x1234, 20, 7, None));
        assert_eq!(&buf[12..14], &PPP_IPV4);
        assert!(buf[14..len].iter().all(|&b| b == 0));
        assert_eq!(buf[len], 0xff, "nothing written past the packet");
    }

    #[test]
    fn sizes_outside_a_slot_or_a_gre_payload_are_refused() {
        let mut buf = vec![0u8; SEND_SLOT];
        assert!(data_packet(1, 0, 1, &mut buf).is_err());
        assert!(data_packet(1, 0, SEND_SLOT, &mut buf).is_err());
        assert!(data_packet(1, 0, 70_000, &mut buf).is_err());
        assert!(data_packet(1, 0, SEND_SLOT - 12, &mut buf).is_ok());
    }

    #[test]
    fn rates_are_per_second_and_zero_without_time() {
        let r = RateReport {
            datagrams: 1000,
            payload_octets: 1_400_000,
            seconds: 0.5,
            ..Default::default()
        };
        assert_eq!(r.pps(), 2000.0);
        assert!((r.gbps() - 0.0224).abs() < 1e-9);
        assert_eq!(RateReport::default().gbps(), 0.0);
        assert!(r.line("receiver").contains("pps=2000 "));
    }

    #[test]
    fn thread_counts_outside_1_to_64_are_refused_before_any_socket_opens() {
        for threads in [0, 65] {
            let e = send_from_threads(threads, Ipv4Addr::LOCALHOST, 1, 100, Duration::ZERO);
            assert!(e.unwrap_err().contains("--threads"));
        }
    }

    /// Sender and receiver on 127.0.0.1 for 200 ms: the receiver counts
    /// what the sender's kernel took, less what a loaded loopback may
    /// drop, and nothing of another Call ID. Needs CAP_NET_RAW (CI runs
    /// as root); without it the test says so and stops.
    #[test]
    fn a_short_run_on_loopback_counts_the_datagrams_sent() {
        // SAFETY: geteuid has no preconditions and cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            eprintln!("not root: no raw socket, the run is not exercised");
            return;
        }
        // A Call ID no other test uses: raw sockets see every GRE packet
        // of the host.
        let call_id = 0x7e57;
        let receiver = GreSocket::open().unwrap();
        let sender = GreSocket::open().unwrap();
        let counted = std::thread::spawn(move || {
            receive(
                &receiver,
                call_id,
                Duration::from_secs(5),
                Duration::from_secs(5),
            )
            .unwrap()
        });
        // Other traffic on the same host: a different Call ID, not counted.
        let mut other = [0u8; 64];
        let n = data_packet(call_id + 1, 0, 40, &mut other).unwrap();
        sender.send(Ipv4Addr::LOCALHOST, &other[..n]).unwrap();
        let sent = send(
            &sender,
            Ipv4Addr::LOCALHOST,
            call_id,
            1400,
            Duration::from_millis(200),
        )
        .unwrap();
        // Two more threads, each with its own socket, counted together.
        let both = send_from_threads(
            2,
            Ipv4Addr::LOCALHOST,
            call_id,
            1400,
            Duration::from_millis(100),
        )
        .unwrap();
        assert!(both.datagrams > 0 && both.seconds >= 0.1);
        let sent = RateReport {
            datagrams: sent.datagrams + both.datagrams,
            ..sent
        };
        let got = counted.join().unwrap();
        assert!(sent.datagrams > 0);
        assert!(got.datagrams > 0 && got.datagrams <= sent.datagrams);
        assert_eq!(got.payload_octets, got.datagrams * 1400);
        assert!(got.seconds > 0.0 && got.seconds < 2.0, "{got:?}");
        assert_eq!(got.errors, 0);
    }
}
