//! TUN offloads: merged writes and segmented reads (issue #15 item 2).
//!
//! Each TUN write or read costs a system call and a trip through the
//! kernel's IP and TCP code; in a profile of pptp-server receiving one TCP
//! stream without MPPE, the TUN writes took a third of its CPU, most of it
//! TCP input run once per segment. With `IFF_VNET_HDR` each read and write
//! carries a `virtio_net_hdr` that may describe a GSO packet: many TCP
//! segments as one.
//!
//! **Writes** ([`TunBatch`]): the TCP segments of one flow decrypted from
//! a batch of GRE datagrams go to the kernel as one packet, which then
//! runs TCP input once for them, as for the packets its own GRO merges
//! from a network card (and, if the packet is forwarded instead, cuts it
//! back into segments on output). Segments merge only when Linux's own GRO
//! would merge them (`tcp_gro_receive`, `inet_gro_receive`): IPv4 without
//! options or fragments, the same addresses, TOS, TTL and IP flags, IDs
//! counting up by one; TCP with the same ports, acknowledgement, window,
//! header length and options, sequence numbers that continue each other,
//! only ACK set (PSH allowed on the last), every payload the first's size
//! except a shorter last. Each segment's TCP checksum is verified before it
//! merges: the merged packet's checksum is left to the kernel as already
//! verified (`VIRTIO_NET_HDR_F_NEEDS_CSUM` over the whole), so a corrupted
//! segment must not get in; it is written on its own and the kernel drops
//! it.
//!
//! **Reads** ([`Segmenter`]): with TSO turned on for the device
//! (`TUNSETOFFLOAD`), the kernel's TCP senders hand us up to 64 KiB at a
//! time, and we cut it into the segments the wire carries, as a network
//! card with TSO does (RFC 793 §3.1 checksums, IP IDs counting up, PSH and
//! FIN on the last segment only, CWR on the first only).

use std::io;

use ppp_core::wire::ipv4::{fold, sum_words};

/// Octets of `struct virtio_net_hdr` (without `num_buffers`).
pub const VNET_HDR_LEN: usize = 10;
/// `VIRTIO_NET_HDR_F_NEEDS_CSUM`.
const F_NEEDS_CSUM: u8 = 1;
/// `VIRTIO_NET_HDR_GSO_TCPV4`.
const GSO_TCPV4: u8 = 1;

/// Segments held for one flush at most (a GRE receive batch).
pub const MAX_HELD: usize = 64;
/// The largest segment held for merging; larger packets are written at
/// once (a TCP segment inside a 1,500-octet path is far below).
pub const MAX_SEGMENT: usize = 2048;
/// Longest merged IP packet (its total-length field).
const MAX_MERGED: usize = 65_535;
/// Segments in one merged packet at most (Linux's `MAX_SKB_FRAGS` is 17
/// pages; 44 segments of 1,460 fill 64 KiB).
const MAX_SEGMENTS: usize = 45;

/// A `virtio_net_hdr` for a packet that needs nothing of the kernel.
pub const PLAIN_HDR: [u8; VNET_HDR_LEN] = [0; VNET_HDR_LEN];

/// The TCP segment facts merging compares.
#[derive(Clone, Copy, Debug)]
struct Segment {
    /// IPv4 header length (20: options refuse merging).
    ip_len: usize,
    /// TCP header length.
    tcp_len: usize,
    payload: usize,
    seq: u32,
    ip_id: u16,
    flags: u8,
}

const ACK: u8 = 0x10;
const PSH: u8 = 0x08;

/// The segment's facts if it is a TCP/IPv4 segment that may merge: no IP
/// options or fragments, a payload, ACK (and perhaps PSH) only, and a
/// correct TCP checksum.
fn segment(p: &[u8]) -> Option<Segment> {
    if p.len() < 40 || p[0] != 0x45 || p[9] != 6 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([p[2], p[3]]));
    let frag = u16::from_be_bytes([p[6], p[7]]);
    // MF set or a fragment offset: a fragment.
    if total != p.len() || frag & 0x3fff != 0 {
        return None;
    }
    let tcp = &p[20..];
    let tcp_len = usize::from(tcp[12] >> 4) * 4;
    if tcp_len < 20 || tcp_len > tcp.len() {
        return None;
    }
    let flags = tcp[13];
    if flags & !PSH != ACK {
        return None;
    }
    let payload = tcp.len() - tcp_len;
    if payload == 0 || !tcp_checksum_ok(p) {
        return None;
    }
    Some(Segment {
        ip_len: 20,
        tcp_len,
        payload,
        seq: u32::from_be_bytes([tcp[4], tcp[5], tcp[6], tcp[7]]),
        ip_id: u16::from_be_bytes([p[4], p[5]]),
        flags,
    })
}

/// `data`'s ones'-complement sum added to `sum`, not folded.
fn sum16(data: &[u8], sum: u32) -> u32 {
    sum + sum_words(data)
}

/// The TCP pseudo-header's sum (RFC 793 §3.1) for `tcp_len` octets.
fn pseudo_header(p: &[u8], tcp_len: usize) -> u32 {
    sum16(&p[12..20], 0) + 6 + tcp_len as u32
}

fn tcp_checksum_ok(p: &[u8]) -> bool {
    let tcp = &p[20..];
    fold(sum16(tcp, pseudo_header(p, tcp.len()))) == 0xffff
}

/// Whether `next` continues the group that starts with `first` and ends
/// with `last` (the rules of Linux's GRO, see the module docs).
fn continues(
    first_bytes: &[u8],
    first: &Segment,
    last: &Segment,
    next_bytes: &[u8],
    next: &Segment,
) -> bool {
    let (a, b) = (first_bytes, next_bytes);
    // A short or PSH segment ends its group.
    last.payload == first.payload
        && last.flags == ACK
        && next.payload <= first.payload
        && next.tcp_len == first.tcp_len
        && next.seq == last.seq.wrapping_add(last.payload as u32)
        && next.ip_id == last.ip_id.wrapping_add(1)
        // TOS; IP flags; TTL and protocol; addresses.
        && a[1] == b[1]
        && a[6] & 0xe0 == b[6] & 0xe0
        && a[8..10] == b[8..10]
        && a[12..20] == b[12..20]
        // Ports; acknowledgement; header length, flags but PSH, window;
        // options.
        && a[20..24] == b[20..24]
        && a[28..32] == b[28..32]
        && a[32] == b[32]
        && a[34..36] == b[34..36]
        && a[40..20 + first.tcp_len] == b[40..20 + next.tcp_len]
}

/// TCP segments taken from one GRE batch, written to the TUN device by
/// [`TunBatch::flush`], merged where they may be.
pub struct TunBatch {
    /// The held segments, back to back.
    data: Vec<u8>,
    /// Their ranges in `data`.
    held: Vec<(usize, usize)>,
    /// The merged packet being built: header, then IP packet.
    out: Vec<u8>,
    stats: TunBatchStats,
    /// Whether segments are held and merged: only for a device that
    /// takes a `virtio_net_hdr` (`IFF_VNET_HDR`); otherwise each packet is
    /// written at once (still with the plain header before it, which
    /// [`super::tun::Tun::send_with_header`] leaves out).
    merge: bool,
}

/// What the batch did, for `status`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TunBatchStats {
    /// Packets handed to the batch.
    pub packets: u64,
    /// TUN writes made for them.
    pub writes: u64,
    /// Writes that failed (the packet or merged packet is lost).
    pub errors: u64,
}

impl TunBatch {
    /// An empty batch that merges segments when `merge`; its buffers are
    /// allocated here, once.
    pub fn new(merge: bool) -> Self {
        TunBatch {
            data: Vec::with_capacity(if merge { MAX_HELD * MAX_SEGMENT } else { 0 }),
            held: Vec::with_capacity(MAX_HELD),
            out: Vec::with_capacity(VNET_HDR_LEN + MAX_MERGED),
            stats: TunBatchStats::default(),
            merge,
        }
    }

    /// Counters since the start.
    pub fn stats(&self) -> TunBatchStats {
        self.stats
    }

    /// Takes one IP packet for the TUN device: held if it may merge with
    /// others, else written at once (after what is held, to keep the
    /// order).
    pub fn push(&mut self, packet: &[u8], write: &mut impl FnMut(&[u8]) -> io::Result<()>) {
        self.stats.packets += 1;
        let mergeable = self.merge && packet.len() <= MAX_SEGMENT && segment(packet).is_some();
        if !mergeable {
            self.flush(write);
            self.out.clear();
            self.out.extend_from_slice(&PLAIN_HDR);
            self.out.extend_from_slice(packet);
            self.write_out(write);
            return;
        }
        if self.held.len() == MAX_HELD {
            self.flush(write);
        }
        let start = self.data.len();
        self.data.extend_from_slice(packet);
        self.held.push((start, self.data.len()));
    }

    /// Writes what is held: runs of segments that continue each other as
    /// one merged packet each, the rest one by one.
    pub fn flush(&mut self, write: &mut impl FnMut(&[u8]) -> io::Result<()>) {
        let mut i = 0;
        while i < self.held.len() {
            let (s, e) = self.held[i];
            let Some(first) = segment(&self.data[s..e]) else {
                i += 1;
                continue;
            };
            let mut last = first;
            let mut total = e - s;
            let mut end = i + 1;
            while end < self.held.len() && end - i < MAX_SEGMENTS {
                let (ns, ne) = self.held[end];
                let Some(next) = segment(&self.data[ns..ne]) else {
                    break;
                };
                if total + next.payload > MAX_MERGED
                    || !continues(&self.data[s..e], &first, &last, &self.data[ns..ne], &next)
                {
                    break;
                }
                total += next.payload;
                last = next;
                end += 1;
            }
            self.build(i, end, &first, last.flags);
            self.write_out(write);
            i = end;
        }
        self.held.clear();
        self.data.clear();
    }

    /// Builds held segments `from..to` into `out`: one packet with a plain
    /// header, or the merged packet with its GSO header.
    fn build(&mut self, from: usize, to: usize, first: &Segment, last_flags: u8) {
        self.out.clear();
        let (s, e) = self.held[from];
        if to - from == 1 {
            self.out.extend_from_slice(&PLAIN_HDR);
            self.out.extend_from_slice(&self.data[s..e]);
            return;
        }
        let headers = first.ip_len + first.tcp_len;
        let mut hdr = [0u8; VNET_HDR_LEN];
        hdr[0] = F_NEEDS_CSUM;
        hdr[1] = GSO_TCPV4;
        // Little-endian: a TUN device uses the host's order for the
        // legacy header, and this host (x86-64, aarch64) is little-endian.
        hdr[2..4].copy_from_slice(&(headers as u16).to_le_bytes());
        hdr[4..6].copy_from_slice(&(first.payload as u16).to_le_bytes());
        hdr[6..8].copy_from_slice(&(first.ip_len as u16).to_le_bytes());
        hdr[8..10].copy_from_slice(&16u16.to_le_bytes());
        self.out.extend_from_slice(&hdr);
        self.out.extend_from_slice(&self.data[s..s + headers]);
        for &(ps, pe) in &self.held[from..to] {
            self.out.extend_from_slice(&self.data[ps + headers..pe]);
        }
        let ip = &mut self.out[VNET_HDR_LEN..];
        let total = ip.len();
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[10..12].copy_from_slice(&[0, 0]);
        let ip_sum = ppp_core::wire::ipv4::checksum(&ip[..20]);
        ip[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        // The last segment's PSH.
        ip[33] = last_flags;
        // NEEDS_CSUM: the checksum field holds the pseudo-header's sum,
        // the kernel completes it over the TCP header and data.
        let pseudo = fold(pseudo_header(ip, total - 20));
        ip[36..38].copy_from_slice(&pseudo.to_be_bytes());
    }

    fn write_out(&mut self, write: &mut impl FnMut(&[u8]) -> io::Result<()>) {
        self.stats.writes += 1;
        if write(&self.out).is_err() {
            self.stats.errors += 1;
        }
    }
}

/// `VIRTIO_NET_HDR_GSO_NONE`'s packet or a GSO packet's facts, from the
/// header of a TUN read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ReadKind {
    /// One packet; its checksum may need completing.
    Plain {
        /// `VIRTIO_NET_HDR_F_NEEDS_CSUM`: where the sum starts, and the
        /// field's offset from there.
        partial_checksum: Option<(usize, usize)>,
    },
    /// A TCP/IPv4 super-packet to cut into segments of `mss` payload.
    TcpV4 { mss: usize },
    /// A GSO kind we did not turn on (UDP, IPv6, ECN): dropped.
    Other,
}

/// What the header of a TUN read says.
pub fn read_kind(hdr: &[u8; VNET_HDR_LEN]) -> ReadKind {
    let u16_at = |i: usize| usize::from(u16::from_le_bytes([hdr[i], hdr[i + 1]]));
    match hdr[1] {
        0 => ReadKind::Plain {
            partial_checksum: (hdr[0] & F_NEEDS_CSUM != 0).then(|| (u16_at(6), u16_at(8))),
        },
        GSO_TCPV4 if u16_at(4) > 0 => ReadKind::TcpV4 { mss: u16_at(4) },
        _ => ReadKind::Other,
    }
}

/// Cuts a TCP/IPv4 GSO packet read from the TUN device into segments.
pub struct Segmenter {
    packet: Vec<u8>,
    headers: usize,
    mss: usize,
    /// Offset of the next segment's payload in `packet`; `None` when
    /// nothing is left.
    next: Option<usize>,
    index: u16,
    /// Super-packets taken and segments made, for `status`.
    stats: SegmenterStats,
}

/// What the segmenter did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SegmenterStats {
    /// GSO packets read.
    pub packets: u64,
    /// Segments cut from them.
    pub segments: u64,
    /// GSO packets that were not TCP/IPv4 as announced (dropped).
    pub malformed: u64,
}

impl Default for Segmenter {
    fn default() -> Self {
        Self::new()
    }
}

impl Segmenter {
    /// An empty segmenter; its buffer is allocated here, once.
    pub fn new() -> Self {
        Segmenter {
            packet: Vec::with_capacity(MAX_MERGED),
            headers: 0,
            mss: 0,
            next: None,
            index: 0,
            stats: SegmenterStats::default(),
        }
    }

    /// Counters since the start.
    pub fn stats(&self) -> SegmenterStats {
        self.stats
    }

    /// Whether segments of the last packet are still to come.
    pub fn is_active(&self) -> bool {
        self.next.is_some()
    }

    /// Takes a GSO packet of `mss`-octet segments; false (and counted)
    /// when it is not a TCP/IPv4 packet whose lengths agree.
    pub fn load(&mut self, packet: &[u8], mss: usize) -> bool {
        self.next = None;
        let ok = packet.len() >= 40
            && packet[0] >> 4 == 4
            && packet[9] == 6
            && usize::from(u16::from_be_bytes([packet[2], packet[3]])) == packet.len()
            && mss > 0;
        let ip_len = usize::from(packet.first().map_or(0, |b| b & 0x0f)) * 4;
        let tcp_len = packet
            .get(ip_len + 12)
            .map_or(0, |b| usize::from(b >> 4) * 4);
        let headers = ip_len + tcp_len;
        if !ok || ip_len < 20 || tcp_len < 20 || headers >= packet.len() {
            self.stats.malformed += 1;
            return false;
        }
        self.stats.packets += 1;
        self.packet.clear();
        self.packet.extend_from_slice(packet);
        self.headers = headers;
        self.mss = mss;
        self.next = Some(headers);
        self.index = 0;
        true
    }

    /// The next segment, built into `out`; its length, or `None` when the
    /// packet is done (or `out` is too small: the rest is dropped).
    pub fn next_segment(&mut self, out: &mut [u8]) -> Option<usize> {
        let start = self.next?;
        let end = (start + self.mss).min(self.packet.len());
        let (h, p) = (self.headers, &self.packet);
        let len = h + (end - start);
        if out.len() < len {
            self.next = None;
            return None;
        }
        let ip_len = usize::from(p[0] & 0x0f) * 4;
        out[..h].copy_from_slice(&p[..h]);
        out[h..len].copy_from_slice(&p[start..end]);
        let last = end == p.len();
        let first = self.index == 0;
        // IP: total length, ID counting up (as the kernel's own GSO for
        // TCP), checksum.
        let id = u16::from_be_bytes([p[4], p[5]]).wrapping_add(self.index);
        out[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        out[4..6].copy_from_slice(&id.to_be_bytes());
        out[10..12].copy_from_slice(&[0, 0]);
        let ip_sum = ppp_core::wire::ipv4::checksum(&out[..ip_len]);
        out[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        // TCP: sequence number, flags, checksum over the pseudo-header.
        let t = ip_len;
        let seq = u32::from_be_bytes([p[t + 4], p[t + 5], p[t + 6], p[t + 7]])
            .wrapping_add((start - h) as u32);
        out[t + 4..t + 8].copy_from_slice(&seq.to_be_bytes());
        const FIN: u8 = 0x01;
        const CWR: u8 = 0x80;
        if !last {
            out[t + 13] &= !(FIN | PSH);
        }
        if !first {
            out[t + 13] &= !CWR;
        }
        out[t + 16..t + 18].copy_from_slice(&[0, 0]);
        let pseudo = sum16(&out[12..20], 0) + 6 + (len - ip_len) as u32;
        let tcp_sum = !fold(sum16(&out[t..len], pseudo));
        out[t + 16..t + 18].copy_from_slice(&tcp_sum.to_be_bytes());
        self.index = self.index.wrapping_add(1);
        self.stats.segments += 1;
        self.next = (!last).then_some(end);
        Some(len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A TCP/IPv4 segment of `payload` octets (filled from `seq`) with a
    /// timestamp option, correct checksums.
    fn seg(seq: u32, id: u16, payload: usize, flags: u8) -> Vec<u8> {
        let tcp_len = 32;
        let total = 20 + tcp_len + payload;
        let mut p = vec![0u8; total];
        p[0] = 0x45;
        p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        p[4..6].copy_from_slice(&id.to_be_bytes());
        p[6] = 0x40; // DF
        p[8] = 64;
        p[9] = 6;
        p[12..16].copy_from_slice(&[10, 204, 1, 1]);
        p[16..20].copy_from_slice(&[10, 204, 0, 1]);
        let ip_sum = !fold(sum16(&p[..20], 0));
        p[10..12].copy_from_slice(&ip_sum.to_be_bytes());
        let t = &mut p[20..];
        t[0..2].copy_from_slice(&40000u16.to_be_bytes());
        t[2..4].copy_from_slice(&5201u16.to_be_bytes());
        t[4..8].copy_from_slice(&seq.to_be_bytes());
        t[8..12].copy_from_slice(&777u32.to_be_bytes());
        t[12] = ((tcp_len / 4) as u8) << 4;
        t[13] = flags;
        t[14..16].copy_from_slice(&512u16.to_be_bytes());
        t[20..32].copy_from_slice(&[1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 7]);
        for (k, b) in t[tcp_len..].iter_mut().enumerate() {
            *b = (seq as usize + k) as u8;
        }
        let sum = !fold(sum16(&p[20..], pseudo_header(&p, total - 20)));
        p[36..38].copy_from_slice(&sum.to_be_bytes());
        p
    }

    fn run(packets: &[Vec<u8>]) -> (Vec<Vec<u8>>, TunBatchStats) {
        run_with(true, packets)
    }

    fn run_with(merge: bool, packets: &[Vec<u8>]) -> (Vec<Vec<u8>>, TunBatchStats) {
        let mut batch = TunBatch::new(merge);
        let mut writes = Vec::new();
        let mut write = |w: &[u8]| {
            writes.push(w.to_vec());
            Ok(())
        };
        for p in packets {
            batch.push(p, &mut write);
        }
        batch.flush(&mut write);
        (writes, batch.stats())
    }

    /// What the kernel does with a GSO write (`skb_segment` and the
    /// checksum completion): cut a written packet back into segments.
    fn resegment(w: &[u8]) -> Vec<Vec<u8>> {
        let (hdr, ip) = w.split_at(VNET_HDR_LEN);
        if hdr[1] == 0 {
            assert_eq!(hdr, PLAIN_HDR);
            return vec![ip.to_vec()];
        }
        assert_eq!((hdr[0], hdr[1]), (F_NEEDS_CSUM, GSO_TCPV4));
        let headers = usize::from(u16::from_le_bytes([hdr[2], hdr[3]]));
        let mss = usize::from(u16::from_le_bytes([hdr[4], hdr[5]]));
        assert_eq!(u16::from_le_bytes([hdr[6], hdr[7]]), 20);
        assert_eq!(u16::from_le_bytes([hdr[8], hdr[9]]), 16);
        // The IP header is valid as written.
        assert_eq!(fold(sum16(&ip[..20], 0)), 0xffff);
        assert_eq!(usize::from(u16::from_be_bytes([ip[2], ip[3]])), ip.len());
        // The checksum field holds the pseudo-header sum.
        let pseudo = fold(pseudo_header(ip, ip.len() - 20));
        assert_eq!(u16::from_be_bytes([ip[36], ip[37]]), pseudo);
        let chunks: Vec<&[u8]> = ip[headers..].chunks(mss).collect();
        let seq0 = u32::from_be_bytes([ip[24], ip[25], ip[26], ip[27]]);
        let id0 = u16::from_be_bytes([ip[4], ip[5]]);
        let mut out = Vec::new();
        for (k, c) in chunks.iter().enumerate() {
            let mut p = ip[..headers].to_vec();
            p.extend_from_slice(c);
            let total = p.len();
            p[2..4].copy_from_slice(&(total as u16).to_be_bytes());
            p[4..6].copy_from_slice(&(id0 + k as u16).to_be_bytes());
            p[10..12].copy_from_slice(&[0, 0]);
            let s = !fold(sum16(&p[..20], 0));
            p[10..12].copy_from_slice(&s.to_be_bytes());
            p[24..28].copy_from_slice(&(seq0 + (k * mss) as u32).to_be_bytes());
            if k + 1 < chunks.len() {
                p[33] &= !PSH;
            }
            p[36..38].copy_from_slice(&[0, 0]);
            let s = !fold(sum16(&p[20..], pseudo_header(&p, total - 20)));
            p[36..38].copy_from_slice(&s.to_be_bytes());
            out.push(p);
        }
        out
    }

    /// `n` full segments of `size` from `seq`/`id` on, then a shorter
    /// last one of `last` octets with PSH: what a TCP sender's burst is.
    fn burst(seq: u32, id: u16, n: u32, size: usize, last: usize) -> Vec<Vec<u8>> {
        let mut packets: Vec<Vec<u8>> = (0..n)
            .map(|k| seg(seq + k * size as u32, id + k as u16, size, ACK))
            .collect();
        packets.push(seg(seq + n * size as u32, id + n as u16, last, ACK | PSH));
        packets
    }

    /// `len` pseudo-random octets from `seed`.
    fn noise(seed: &mut u32, len: usize) -> Vec<u8> {
        (0..len)
            .map(|_| {
                *seed = seed.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                (*seed >> 16) as u8
            })
            .collect()
    }

    #[test]
    fn a_run_of_full_segments_becomes_one_write_that_cuts_back_into_them() {
        let packets = burst(1000, 50, 10, 1300, 700);
        let (writes, stats) = run(&packets);
        assert_eq!(writes.len(), 1);
        assert_eq!(
            stats,
            TunBatchStats {
                packets: 11,
                writes: 1,
                errors: 0
            }
        );
        assert_eq!(writes[0].len(), VNET_HDR_LEN + 52 + 10 * 1300 + 700);
        assert_eq!(resegment(&writes[0]), packets);
        // A device without IFF_VNET_HDR: every packet on its own, plain.
        let (writes, stats) = run_with(false, &packets);
        assert_eq!(stats.writes, 11);
        for (w, p) in writes.iter().zip(&packets) {
            assert_eq!(
                (&w[..VNET_HDR_LEN], &w[VNET_HDR_LEN..]),
                (&PLAIN_HDR[..], &p[..])
            );
        }
    }

    #[test]
    fn what_linux_would_not_merge_is_written_on_its_own_in_order() {
        let base = |k: u32| seg(1000 + k * 1300, 50 + k as u16, 1300, ACK);
        let mut gap = base(2);
        gap[24..28].copy_from_slice(&(99u32).to_be_bytes()); // sequence jump
        let mut bad = base(3);
        bad[60] ^= 0xff; // corrupted payload: checksum wrong
        let other_flow = {
            let mut p = base(4);
            p[20..22].copy_from_slice(&40001u16.to_be_bytes());
            let total = p.len();
            p[36..38].copy_from_slice(&[0, 0]);
            let s = !fold(sum16(&p[20..], pseudo_header(&p, total - 20)));
            p[36..38].copy_from_slice(&s.to_be_bytes());
            p
        };
        let syn_like = seg(1000, 1, 1300, 0x02 | ACK);
        let udp = {
            let mut p = base(5);
            p[9] = 17;
            p
        };
        let cases: Vec<Vec<Vec<u8>>> = vec![
            vec![base(0), base(1), gap.clone()],
            vec![base(0), base(1), bad.clone()],
            vec![base(0), other_flow.clone()],
            vec![syn_like.clone(), base(1)],
            vec![base(0), udp.clone(), base(1)],
            // A short segment ends its group: the next starts a new one.
            vec![seg(1000, 50, 600, ACK), seg(1600, 51, 600, ACK)],
        ];
        for packets in cases {
            let (writes, _) = run(&packets);
            let back: Vec<Vec<u8>> = writes.iter().flat_map(|w| resegment(w)).collect();
            assert_eq!(back, packets, "order and bytes kept");
        }
        // The gap: the first two merge, the third alone.
        let (writes, _) = run(&[base(0), base(1), gap]);
        assert_eq!(writes.len(), 2);
        // The corrupted segment is never merged: the kernel sees its bad
        // checksum.
        let (writes, _) = run(&[base(0), base(1), bad.clone()]);
        assert_eq!(writes.len(), 2);
        assert_eq!(&writes[1][VNET_HDR_LEN..], &bad[..]);
        // Non-TCP between segments flushes what is held first.
        let (writes, _) = run(&[base(0), udp, base(1)]);
        assert_eq!(writes.len(), 3);
    }

    #[test]
    fn a_merged_packet_stays_within_the_ip_length_and_segment_limits() {
        let packets: Vec<Vec<u8>> = (0..MAX_HELD as u32)
            .map(|k| seg(k * 1400, k as u16, 1400, ACK))
            .collect();
        let (writes, stats) = run(&packets);
        for w in &writes {
            assert!(w.len() - VNET_HDR_LEN <= MAX_MERGED);
        }
        assert!(writes.len() >= 2);
        assert_eq!(stats.packets, MAX_HELD as u64);
        let back: Vec<Vec<u8>> = writes.iter().flat_map(|w| resegment(w)).collect();
        assert_eq!(back, packets);
    }

    #[test]
    fn bad_bytes_never_panic_and_are_written_as_they_are() {
        let mut seed = 7u32;
        for len in [0usize, 1, 19, 20, 39, 40, 41, 60, 1500, 3000] {
            for _ in 0..50 {
                let mut p = noise(&mut seed, len);
                if len >= 40 {
                    p[0] = 0x45;
                    p[9] = 6;
                }
                let (writes, _) = run(&[p.clone(), p.clone()]);
                let back: Vec<u8> = writes
                    .iter()
                    .flat_map(|w| w[VNET_HDR_LEN..].to_vec())
                    .collect();
                assert_eq!(back, [p.clone(), p].concat());
            }
        }
    }

    #[test]
    fn a_tso_read_is_cut_into_the_segments_a_merge_would_make_of_it() {
        // Segments as the kernel's TCP would send them; merged by
        // TunBatch into one GSO packet, cut by Segmenter: the same bytes.
        let packets = burst(5000, 900, 7, 1200, 333);
        let (writes, _) = run(&packets);
        assert_eq!(writes.len(), 1);
        let mut hdr = [0u8; VNET_HDR_LEN];
        hdr.copy_from_slice(&writes[0][..VNET_HDR_LEN]);
        let ReadKind::TcpV4 { mss } = read_kind(&hdr) else {
            panic!("not TCPv4 GSO: {hdr:?}");
        };
        assert_eq!(mss, 1200);
        let mut s = Segmenter::new();
        assert!(s.load(&writes[0][VNET_HDR_LEN..], mss));
        let mut out = vec![0u8; 2048];
        let mut got = Vec::new();
        while let Some(n) = s.next_segment(&mut out) {
            got.push(out[..n].to_vec());
        }
        assert_eq!(got, packets);
        assert!(!s.is_active());
        assert_eq!(
            s.stats(),
            SegmenterStats {
                packets: 1,
                segments: 8,
                malformed: 0
            }
        );
        // The kernel's header for a plain packet, and one to complete.
        assert_eq!(
            read_kind(&PLAIN_HDR),
            ReadKind::Plain {
                partial_checksum: None
            }
        );
        let partial = [F_NEEDS_CSUM, 0, 0, 0, 0, 0, 20, 0, 16, 0];
        assert_eq!(
            read_kind(&partial),
            ReadKind::Plain {
                partial_checksum: Some((20, 16))
            }
        );
        assert_eq!(read_kind(&[0, 3, 0, 0, 0, 5, 0, 0, 0, 0]), ReadKind::Other);
    }

    #[test]
    fn a_bad_gso_read_is_refused_and_cut_segments_fit_or_stop() {
        let mut s = Segmenter::new();
        assert!(!s.load(&[0x45; 30], 1000));
        assert!(!s.load(&seg(1, 1, 100, ACK)[..60], 1000));
        assert!(!s.load(&seg(1, 1, 100, ACK), 0));
        assert_eq!(s.stats().malformed, 3);
        assert!(s.load(&seg(1, 1, 3000, ACK), 1000));
        let mut small = [0u8; 100];
        assert_eq!(s.next_segment(&mut small), None);
        assert!(!s.is_active());
        let mut seed = 3u32;
        for len in [40usize, 41, 52, 53, 200, 1500] {
            for _ in 0..100 {
                let mut p = noise(&mut seed, len);
                p[0] = 0x45;
                p[9] = 6;
                p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
                if s.load(&p, 1 + (seed as usize % 1500)) {
                    let mut out = vec![0u8; 2048];
                    let mut n = 0;
                    while s.next_segment(&mut out).is_some() {
                        n += 1;
                        assert!(n <= len);
                    }
                }
            }
        }
    }
}
