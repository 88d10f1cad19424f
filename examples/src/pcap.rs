//! A pcap writer for the demo: records the PPTP control connection as a
//! real TCP conversation (handshake, data, FIN) and GRE packets as IP
//! protocol 47, with synthesized IPv4 headers and correct checksums, so
//! Wireshark and tshark decode the whole session.
//!
//! Link type 101 (LINKTYPE_RAW): each record is a bare IPv4 packet. The
//! addresses come from the documentation ranges of RFC 5737; nothing is
//! ever sent to them.

use std::io::{self, Write};
use std::net::Ipv4Addr;

/// LINKTYPE_RAW: raw IPv4/IPv6, no link-layer header.
const LINKTYPE_RAW: u32 = 101;
const IPPROTO_TCP: u8 = 6;
const IPPROTO_GRE: u8 = 47;
/// Largest TCP payload per recorded segment.
const MSS: usize = 1460;

/// Which end sent a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The PPTP client (RFC 2637's PNS in dial-in use).
    Client,
    /// The PPTP server (RFC 2637's PAC in dial-in use).
    Server,
}

struct TcpEnd {
    addr: Ipv4Addr,
    port: u16,
    /// Next sequence number this end will send.
    next_seq: u32,
}

/// Writes one PPTP session (TCP control + GRE) as a pcap file.
pub struct PcapWriter<W: Write> {
    out: W,
    client: TcpEnd,
    server: TcpEnd,
    ip_id: u16,
    packets: u64,
}

impl<W: Write> PcapWriter<W> {
    /// Writes the pcap global header. The client is 198.51.100.10:49152,
    /// the server 192.0.2.1:1723.
    pub fn new(mut out: W) -> io::Result<Self> {
        write_file_header(&mut out)?;
        Ok(PcapWriter {
            out,
            client: TcpEnd {
                addr: Ipv4Addr::new(198, 51, 100, 10),
                port: 49152,
                next_seq: 0x1000_0000,
            },
            server: TcpEnd {
                addr: Ipv4Addr::new(192, 0, 2, 1),
                port: 1723,
                next_seq: 0x2000_0000,
            },
            ip_id: 1,
            packets: 0,
        })
    }

    /// How many packets have been written.
    pub fn packets(&self) -> u64 {
        self.packets
    }

    /// The TCP three-way handshake that opens the control connection.
    pub fn tcp_open(&mut self, at_ms: u64) -> io::Result<()> {
        self.tcp_segment(at_ms, Side::Client, TCP_SYN, &[])?;
        self.tcp_segment(at_ms, Side::Server, TCP_SYN | TCP_ACK, &[])?;
        self.tcp_segment(at_ms, Side::Client, TCP_ACK, &[])
    }

    /// Control-connection bytes sent by `from`, split into MSS-sized
    /// segments.
    pub fn tcp_data(&mut self, at_ms: u64, from: Side, data: &[u8]) -> io::Result<()> {
        for chunk in data.chunks(MSS) {
            self.tcp_segment(at_ms, from, TCP_ACK | TCP_PSH, chunk)?;
        }
        Ok(())
    }

    /// An orderly close started by `from`: FIN, FIN+ACK, ACK.
    pub fn tcp_close(&mut self, at_ms: u64, from: Side) -> io::Result<()> {
        let other = match from {
            Side::Client => Side::Server,
            Side::Server => Side::Client,
        };
        self.tcp_segment(at_ms, from, TCP_FIN | TCP_ACK, &[])?;
        self.tcp_segment(at_ms, other, TCP_FIN | TCP_ACK, &[])?;
        self.tcp_segment(at_ms, from, TCP_ACK, &[])
    }

    /// One enhanced-GRE packet (RFC 2637 §4.1) sent by `from`.
    pub fn gre(&mut self, at_ms: u64, from: Side, gre_packet: &[u8]) -> io::Result<()> {
        let (src, dst) = self.addresses(from);
        self.ip_packet(at_ms, src, dst, IPPROTO_GRE, gre_packet)
    }

    /// Flushes the underlying writer.
    pub fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }

    fn addresses(&self, from: Side) -> (Ipv4Addr, Ipv4Addr) {
        match from {
            Side::Client => (self.client.addr, self.server.addr),
            Side::Server => (self.server.addr, self.client.addr),
        }
    }

    fn tcp_segment(&mut self, at_ms: u64, from: Side, flags: u8, payload: &[u8]) -> io::Result<()> {
        let (me, peer) = match from {
            Side::Client => (&mut self.client, &self.server),
            Side::Server => (&mut self.server, &self.client),
        };
        let seq = me.next_seq;
        // SYN and FIN each take one sequence number (RFC 9293 §3.4).
        let consumed = payload.len() as u32 + u32::from(flags & (TCP_SYN | TCP_FIN) != 0);
        me.next_seq = me.next_seq.wrapping_add(consumed);
        let ack = if flags & TCP_ACK != 0 {
            peer.next_seq
        } else {
            0
        };
        let (src, dst, sport, dport) = (me.addr, peer.addr, me.port, peer.port);

        let mut seg = Vec::with_capacity(20 + payload.len());
        seg.extend_from_slice(&sport.to_be_bytes());
        seg.extend_from_slice(&dport.to_be_bytes());
        seg.extend_from_slice(&seq.to_be_bytes());
        seg.extend_from_slice(&ack.to_be_bytes());
        seg.push(5 << 4); // data offset: 5 words, no options
        seg.push(flags);
        seg.extend_from_slice(&65_535u16.to_be_bytes()); // window
        seg.extend_from_slice(&[0, 0, 0, 0]); // checksum, urgent pointer
        seg.extend_from_slice(payload);
        let mut pseudo = Vec::with_capacity(12 + seg.len());
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&[0, IPPROTO_TCP]);
        pseudo.extend_from_slice(&(seg.len() as u16).to_be_bytes());
        pseudo.extend_from_slice(&seg);
        let sum = internet_checksum(&pseudo);
        seg[16..18].copy_from_slice(&sum.to_be_bytes());
        self.ip_packet(at_ms, src, dst, IPPROTO_TCP, &seg)
    }

    fn ip_packet(
        &mut self,
        at_ms: u64,
        src: Ipv4Addr,
        dst: Ipv4Addr,
        proto: u8,
        payload: &[u8],
    ) -> io::Result<()> {
        let total = 20 + payload.len();
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(total as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&self.ip_id.to_be_bytes());
        ip[6] = 0x40; // don't fragment
        ip[8] = 64; // TTL
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src.octets());
        ip[16..20].copy_from_slice(&dst.octets());
        let sum = internet_checksum(&ip);
        ip[10..12].copy_from_slice(&sum.to_be_bytes());
        self.ip_id = self.ip_id.wrapping_add(1);

        write_record(&mut self.out, at_ms * 1000, &[&ip, payload])?;
        self.packets += 1;
        Ok(())
    }
}

/// The pcap global header of a LINKTYPE_RAW file with microsecond
/// timestamps (pcap-savefile(5)), little-endian.
pub fn write_file_header<W: Write>(out: &mut W) -> io::Result<()> {
    out.write_all(&0xa1b2_c3d4u32.to_le_bytes())?; // microsecond timestamps
    out.write_all(&2u16.to_le_bytes())?;
    out.write_all(&4u16.to_le_bytes())?;
    out.write_all(&0i32.to_le_bytes())?; // thiszone
    out.write_all(&0u32.to_le_bytes())?; // sigfigs
    out.write_all(&65_535u32.to_le_bytes())?; // snaplen
    out.write_all(&LINKTYPE_RAW.to_le_bytes())
}

/// One record at `time_us` (microseconds since the epoch) whose packet
/// is `parts` one after the other.
pub fn write_record<W: Write>(out: &mut W, time_us: u64, parts: &[&[u8]]) -> io::Result<()> {
    let len: usize = parts.iter().map(|p| p.len()).sum();
    out.write_all(&((time_us / 1_000_000) as u32).to_le_bytes())?;
    out.write_all(&((time_us % 1_000_000) as u32).to_le_bytes())?;
    out.write_all(&(len as u32).to_le_bytes())?;
    out.write_all(&(len as u32).to_le_bytes())?;
    for p in parts {
        out.write_all(p)?;
    }
    Ok(())
}

const TCP_FIN: u8 = 0x01;
const TCP_SYN: u8 = 0x02;
const TCP_PSH: u8 = 0x08;
const TCP_ACK: u8 = 0x10;

/// RFC 1071 Internet checksum.
pub fn internet_checksum(data: &[u8]) -> u16 {
    let mut sum: u32 = 0;
    let mut chunks = data.chunks_exact(2);
    for pair in &mut chunks {
        sum += u32::from(u16::from_be_bytes([pair[0], pair[1]]));
    }
    if let [last] = chunks.remainder() {
        sum += u32::from(*last) << 8;
    }
    while sum >> 16 != 0 {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_of_rfc1071_example() {
        // RFC 1071 §3: 00 01 f2 03 f4 f5 f6 f7 sums to ddf2 (one's complement 220d).
        assert_eq!(
            internet_checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
    }

    #[test]
    fn a_header_with_its_checksum_sums_to_zero() {
        let mut w = PcapWriter::new(Vec::new()).unwrap();
        w.tcp_open(0).unwrap();
        w.tcp_data(1, Side::Client, b"hello").unwrap();
        let bytes = w.out.clone();
        // Global header (24) + record header (16), then the first IPv4 header.
        let ip = &bytes[40..60];
        assert_eq!(internet_checksum(ip), 0);
        assert_eq!(w.packets(), 4);
        // The data segment's sequence number is one past the SYN's.
        let seg_off = 24 + 3 * (16 + 40) + 16 + 20;
        let seq = u32::from_be_bytes(bytes[seg_off + 4..seg_off + 8].try_into().unwrap());
        assert_eq!(seq, 0x1000_0001);
    }
}
