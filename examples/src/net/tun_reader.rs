//! Reading the TUN device into the endpoint, for pptp-server and
//! pptp-client alike: packets (or the segments of a TSO read, see
//! [`super::tun_offload::Segmenter`]) go to the host's `send`, and a packet
//! whose peer's GRE window is full waits in the [`TunHold`] while reading
//! stops (back-pressure, [`super::hold`]). Segments of a super-packet
//! behind a held one wait with it, in order.

use std::io;

use pptp_core::endpoint::IpSendError;

use super::hold::{Reading, TunHold};
use super::tun::Tun;
use super::tun_offload::{ReadKind, Segmenter, SegmenterStats};

/// Where a [`TunReader`] reads: a [`Tun`], or a test's queue.
pub trait TunSource {
    /// One read, as [`Tun::recv_offloaded`].
    fn recv_offloaded(&self, buf: &mut [u8]) -> io::Result<(usize, ReadKind)>;
}

impl TunSource for Tun {
    fn recv_offloaded(&self, buf: &mut [u8]) -> io::Result<(usize, ReadKind)> {
        Tun::recv_offloaded(self, buf)
    }
}

/// The TUN reading state of one host, with its own handle on the device
/// (so that the host's `send` may write to it meanwhile).
pub struct TunReader<S: TunSource = Tun> {
    tun: S,
    hold: TunHold,
    segmenter: Segmenter,
    /// Where the segmenter builds each segment.
    segment: Vec<u8>,
    /// GSO reads of a kind we did not turn on (dropped).
    unexpected: u64,
}

impl<S: TunSource> TunReader<S> {
    /// Reads `tun` (a second handle on the host's device, see
    /// [`Tun::try_clone`]); nothing held; the buffers are allocated here,
    /// once.
    pub fn new(tun: S) -> Self {
        TunReader {
            tun,
            hold: TunHold::default(),
            segmenter: Segmenter::new(),
            segment: vec![0u8; 65_536],
            unexpected: 0,
        }
    }

    /// The back-pressure state (for the poll time-out and `status`).
    pub fn hold(&self) -> &TunHold {
        &self.hold
    }

    /// The TSO segmenter's counters and the unexpected GSO reads.
    pub fn segmenter_stats(&self) -> (SegmenterStats, u64) {
        (self.segmenter.stats(), self.unexpected)
    }

    /// Offers the held packet and the rest of a super-packet again, then
    /// reads until the device is empty, a packet must wait, or `budget`
    /// reads were made; whether more may be waiting. `now_ms` is the
    /// host's clock, read once per TUN read: the segments of one
    /// super-packet share its time, since reading the clock for each one
    /// cost the client 3 % of its time in a profile. `send` gives one IP
    /// packet to the endpoint (and its datagrams to the network) with
    /// that time; `on_error` hears of a failed read.
    pub fn read(
        &mut self,
        buf: &mut [u8],
        budget: usize,
        now_ms: impl Fn() -> u64,
        mut send: impl FnMut(u64, &[u8]) -> Result<(), IpSendError>,
        mut on_error: impl FnMut(&io::Error),
    ) -> bool {
        let mut now = now_ms();
        let mut reading = self.hold.retry(now, |p| send(now, p));
        reading = self.segments(reading, now, &mut send);
        for _ in 0..budget {
            if reading != Reading::Go {
                return false;
            }
            let read = self.tun.recv_offloaded(buf);
            now = now_ms();
            match read {
                Ok((n, ReadKind::Plain { .. })) => {
                    reading = self.hold.offer(now, &buf[..n], |p| send(now, p));
                }
                Ok((n, ReadKind::TcpV4 { mss })) => {
                    if self.segmenter.load(&buf[..n], mss) {
                        reading = self.segments(Reading::Go, now, &mut send);
                    }
                }
                Ok((_, ReadKind::Other)) => self.unexpected += 1,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    on_error(&e);
                    return false;
                }
            }
        }
        reading == Reading::Go
    }

    /// The super-packet's segments while reading may go on, at `now`.
    fn segments(
        &mut self,
        mut reading: Reading,
        now: u64,
        send: &mut impl FnMut(u64, &[u8]) -> Result<(), IpSendError>,
    ) -> Reading {
        while reading == Reading::Go {
            let Some(n) = self.segmenter.next_segment(&mut self.segment) else {
                break;
            };
            reading = self.hold.offer(now, &self.segment[..n], |p| send(now, p));
        }
        reading
    }
}

#[cfg(test)]
mod tests {
    use super::super::hold::HOLD_MAX_MS;
    use super::super::tun_offload::{TunBatch, VNET_HDR_LEN};
    use super::*;
    use std::cell::RefCell;
    use std::collections::VecDeque;

    /// A TUN device's queue of reads.
    struct Queue(RefCell<VecDeque<(Vec<u8>, ReadKind)>>);

    impl TunSource for Queue {
        fn recv_offloaded(&self, buf: &mut [u8]) -> io::Result<(usize, ReadKind)> {
            let (p, kind) = self
                .0
                .borrow_mut()
                .pop_front()
                .ok_or(io::ErrorKind::WouldBlock)?;
            buf[..p.len()].copy_from_slice(&p);
            Ok((p.len(), kind))
        }
    }

    /// A TCP/IPv4 segment of `payload` octets with correct checksums.
    fn segment(seq: u32, id: u16, payload: usize) -> Vec<u8> {
        let total = 40 + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.to_be_bytes());
        p[6] = 0x40;
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 204, 0, 1]);
        p[16..20].copy_from_slice(&[10, 204, 1, 1]);
        let s = ppp_core::wire::ipv4::checksum(&p[..20]);
        p[10..12].copy_from_slice(&s.to_be_bytes());
        p[20..22].copy_from_slice(&5201u16.to_be_bytes());
        p[22..24].copy_from_slice(&40000u16.to_be_bytes());
        p[24..28].copy_from_slice(&seq.to_be_bytes());
        p[32] = 5 << 4;
        p[33] = 0x10;
        p[34..36].copy_from_slice(&1000u16.to_be_bytes());
        for (k, b) in p[40..].iter_mut().enumerate() {
            *b = (seq as usize + k) as u8;
        }
        let pseudo = ppp_core::wire::ipv4::sum_words(&p[12..20]) + 6 + (total - 20) as u32;
        let s = !ppp_core::wire::ipv4::fold(pseudo + ppp_core::wire::ipv4::sum_words(&p[20..]));
        p[36..38].copy_from_slice(&s.to_be_bytes());
        p
    }

    /// What the kernel would hand a TSO device for `segments`.
    fn super_packet(segments: &[Vec<u8>]) -> (Vec<u8>, ReadKind) {
        let mut batch = TunBatch::new(true);
        let mut out = Vec::new();
        for s in segments {
            batch.push(s, &mut |w| {
                out.push(w.to_vec());
                Ok(())
            });
        }
        batch.flush(&mut |w| {
            out.push(w.to_vec());
            Ok(())
        });
        assert_eq!(out.len(), 1);
        let mut hdr = [0u8; VNET_HDR_LEN];
        hdr.copy_from_slice(&out[0][..VNET_HDR_LEN]);
        (
            out[0][VNET_HDR_LEN..].to_vec(),
            super::super::tun_offload::read_kind(&hdr),
        )
    }

    #[test]
    fn segments_behind_a_full_window_wait_with_it_in_order() {
        let segments: Vec<Vec<u8>> = (0..6).map(|k| segment(k * 1000, k as u16, 1000)).collect();
        let plain = segment(99_999, 77, 300);
        let queue = Queue(RefCell::new(VecDeque::from([
            super_packet(&segments),
            (
                plain.clone(),
                ReadKind::Plain {
                    partial_checksum: None,
                },
            ),
        ])));
        let mut reader = TunReader::new(queue);
        let mut buf = vec![0u8; 65_536];
        let sent = RefCell::new(Vec::new());
        // The window takes two packets, then is full.
        let room = RefCell::new(2usize);
        let times = RefCell::new(Vec::new());
        let send = |now: u64, p: &[u8]| {
            if *room.borrow() == 0 {
                return Err(IpSendError::WindowFull);
            }
            *room.borrow_mut() -= 1;
            sent.borrow_mut().push(p.to_vec());
            times.borrow_mut().push(now);
            Ok(())
        };
        // The clock: how often it is read, and a new time at each read.
        let clock_reads = std::cell::Cell::new(0u64);
        let clock = || {
            clock_reads.set(clock_reads.get() + 1);
            100 * clock_reads.get()
        };
        let more = reader.read(&mut buf, 16, clock, send, |e| panic!("{e}"));
        assert!(!more);
        assert!(reader.hold().is_holding());
        assert_eq!(sent.borrow().len(), 2);
        // Once on entry and once after the one TUN read: not per segment.
        assert_eq!(clock_reads.get(), 2);
        assert_eq!(*times.borrow(), [200, 200]);
        // The window opens: the held segment, the rest, then the next read.
        *room.borrow_mut() = 100;
        reader.read(&mut buf, 16, clock, send, |e| panic!("{e}"));
        let mut want = segments.clone();
        want.push(plain);
        assert_eq!(*sent.borrow(), want);
        // On entry (the held segment and the rest of its super-packet go
        // at that time), after the plain packet's read, after the read
        // that found the device empty.
        assert_eq!(clock_reads.get(), 5);
        assert_eq!(*times.borrow(), [200, 200, 300, 300, 300, 300, 400]);
        assert!(!reader.hold().is_holding());
        let (stats, unexpected) = reader.segmenter_stats();
        assert_eq!((stats.packets, stats.segments, unexpected), (1, 6, 0));
    }

    #[test]
    fn a_window_that_stays_shut_drops_the_held_segment_and_reading_goes_on() {
        let segments: Vec<Vec<u8>> = (0..3).map(|k| segment(k * 500, k as u16, 500)).collect();
        let queue = Queue(RefCell::new(VecDeque::from([super_packet(&segments)])));
        let mut reader = TunReader::new(queue);
        let mut buf = vec![0u8; 65_536];
        let full = |_: u64, _: &[u8]| Err(IpSendError::WindowFull);
        reader.read(&mut buf, 16, || 0, full, |e| panic!("{e}"));
        assert!(reader.hold().is_holding());
        // After the longest wait the held segment is dropped; the others
        // to the same address drop at once (the hold's rule), and reading
        // ends with the device empty.
        reader.read(&mut buf, 16, || HOLD_MAX_MS, full, |e| panic!("{e}"));
        assert!(!reader.hold().is_holding());
        assert_eq!(reader.hold().stats().dropped, 3);
    }
}
