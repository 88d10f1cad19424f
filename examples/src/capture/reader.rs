//! Reads pcap and pcapng files record by record, and finds the IPv4
//! packet in a record of the link types a PPTP capture comes in.
//!
//! Formats: classic pcap (both byte orders, microsecond and nanosecond
//! magic) and pcapng (sections of either byte order; Enhanced, Simple and
//! obsolete Packet Blocks; `if_tsresol`). Link types: Ethernet (with
//! 802.1Q/802.1ad tags), Linux cooked SLL and SLL2, raw IP (101, 228 and
//! the BSD value 12), BSD loopback (0, 108).
//!
//! Nothing here trusts a length in the file: a record or block longer
//! than [`MAX_BLOCK_LEN`] ends the reading with an error instead of
//! allocating what the file asks for, and a file cut short ends it too.

use std::io::{self, Read};

/// Largest pcapng block or pcap record accepted (a jumbo frame is 9 KiB;
/// 256 KiB is the snap length tcpdump uses).
pub const MAX_BLOCK_LEN: usize = 256 * 1024 + 64;
/// Most pcapng interfaces accepted in one section.
const MAX_INTERFACES: usize = 256;

/// LINKTYPE_NULL / LINKTYPE_LOOP: 4-octet address family, then IP.
const LINKTYPE_NULL: u16 = 0;
const LINKTYPE_ETHERNET: u16 = 1;
/// DLT_RAW on OpenBSD and some others.
const LINKTYPE_RAW_BSD: u16 = 12;
/// LINKTYPE_RAW: the record is the IP packet.
pub const LINKTYPE_RAW: u16 = 101;
const LINKTYPE_LOOP: u16 = 108;
const LINKTYPE_LINUX_SLL: u16 = 113;
const LINKTYPE_IPV4: u16 = 228;
const LINKTYPE_LINUX_SLL2: u16 = 276;

/// One captured packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    /// Capture time in microseconds since the epoch (0 when the file has
    /// none, as in a pcapng Simple Packet Block).
    pub time_us: u64,
    /// The link type of the interface it was captured on.
    pub link_type: u16,
    /// The captured octets (possibly fewer than were on the wire).
    pub data: Vec<u8>,
}

/// Why reading stopped early.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReadError {
    /// Not a pcap or pcapng file (the first four octets).
    UnknownFormat([u8; 4]),
    /// The file ends inside a header, record or block.
    Truncated {
        /// Offset of the record or block that is cut.
        offset: u64,
    },
    /// A length field out of bounds.
    BadLength {
        /// Offset of the record or block.
        offset: u64,
        /// The length it gives.
        len: u64,
    },
    /// A pcapng Enhanced/obsolete Packet Block names an interface that no
    /// Interface Description Block described.
    UnknownInterface {
        /// Offset of the block.
        offset: u64,
        /// The interface ID.
        interface: u32,
    },
    /// An I/O error of the underlying reader.
    Io(io::Error),
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::UnknownFormat(m) => write!(
                f,
                "not a pcap or pcapng file (starts {:02x}{:02x}{:02x}{:02x})",
                m[0], m[1], m[2], m[3]
            ),
            ReadError::Truncated { offset } => {
                write!(f, "file cut short in the record at offset {offset}")
            }
            ReadError::BadLength { offset, len } => {
                write!(f, "record at offset {offset} claims {len} octets")
            }
            ReadError::UnknownInterface { offset, interface } => write!(
                f,
                "block at offset {offset} names interface {interface}, never described"
            ),
            ReadError::Io(e) => write!(f, "read error: {e}"),
        }
    }
}

impl std::error::Error for ReadError {}

#[derive(Clone, Copy, Debug)]
enum Format {
    /// Classic pcap: byte order, nanosecond timestamps, link type.
    Pcap {
        big_endian: bool,
        nanos: bool,
        link_type: u16,
    },
    /// pcapng: the current section's byte order.
    Pcapng { big_endian: bool },
}

#[derive(Clone, Copy, Debug)]
struct Interface {
    link_type: u16,
    /// Timestamp units per second (pcapng `if_tsresol`, default 10^6).
    units_per_second: u64,
}

/// Reads records from a pcap or pcapng stream.
pub struct CaptureReader<R: Read> {
    input: R,
    format: Format,
    interfaces: Vec<Interface>,
    offset: u64,
    done: bool,
}

impl<R: Read> std::fmt::Debug for CaptureReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaptureReader")
            .field("format", &self.format)
            .field("offset", &self.offset)
            .finish_non_exhaustive()
    }
}

fn u16_at(b: &[u8], at: usize, big_endian: bool) -> u16 {
    let v = [
        b.get(at).copied().unwrap_or(0),
        b.get(at + 1).copied().unwrap_or(0),
    ];
    if big_endian {
        u16::from_be_bytes(v)
    } else {
        u16::from_le_bytes(v)
    }
}

fn u32_at(b: &[u8], at: usize, big_endian: bool) -> u32 {
    let mut v = [0u8; 4];
    for (i, o) in v.iter_mut().enumerate() {
        *o = b.get(at + i).copied().unwrap_or(0);
    }
    if big_endian {
        u32::from_be_bytes(v)
    } else {
        u32::from_le_bytes(v)
    }
}

/// pcapng's byte-order magic (in the Section Header Block).
const BYTE_ORDER_MAGIC: u32 = 0x1a2b_3c4d;
const BLOCK_SECTION_HEADER: u32 = 0x0a0d_0d0a;
const BLOCK_INTERFACE: u32 = 1;
const BLOCK_OBSOLETE_PACKET: u32 = 2;
const BLOCK_SIMPLE_PACKET: u32 = 3;
const BLOCK_ENHANCED_PACKET: u32 = 6;

impl<R: Read> CaptureReader<R> {
    /// Reads the file header and recognises the format.
    pub fn new(mut input: R) -> Result<Self, ReadError> {
        let mut magic = [0u8; 4];
        read_exact_or(&mut input, &mut magic, 0)?;
        let le = u32::from_le_bytes(magic);
        let format = match le {
            0xa1b2_c3d4 | 0xa1b2_3c4d | 0xd4c3_b2a1 | 0x4d3c_b2a1 => {
                let big_endian = matches!(le, 0xd4c3_b2a1 | 0x4d3c_b2a1);
                let nanos = matches!(le, 0xa1b2_3c4d | 0x4d3c_b2a1);
                let mut rest = [0u8; 20];
                read_exact_or(&mut input, &mut rest, 0)?;
                // The link type is the low 16 bits of the last field (the
                // upper bits carry the FCS length, pcap-savefile(5)).
                let link_type = (u32_at(&rest, 16, big_endian) & 0xffff) as u16;
                Format::Pcap {
                    big_endian,
                    nanos,
                    link_type,
                }
            }
            BLOCK_SECTION_HEADER => Format::Pcapng { big_endian: false },
            _ => return Err(ReadError::UnknownFormat(magic)),
        };
        let mut reader = CaptureReader {
            input,
            format,
            interfaces: Vec::new(),
            offset: 24,
            done: false,
        };
        if let Format::Pcapng { .. } = format {
            reader.offset = 0;
            reader.section_header(magic)?;
        }
        Ok(reader)
    }

    /// The next packet record; `Ok(None)` at the end of the file. After an
    /// error the reader returns `Ok(None)`.
    pub fn next_record(&mut self) -> Result<Option<Record>, ReadError> {
        if self.done {
            return Ok(None);
        }
        let result = match self.format {
            Format::Pcap {
                big_endian,
                nanos,
                link_type,
            } => self.pcap_record(big_endian, nanos, link_type),
            Format::Pcapng { .. } => self.pcapng_record(),
        };
        if !matches!(result, Ok(Some(_))) {
            self.done = true;
        }
        result
    }

    /// Reads exactly `buf.len()` octets; `Ok(false)` at a clean end of
    /// file before the first octet.
    fn read_or_end(&mut self, buf: &mut [u8]) -> Result<bool, ReadError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.input.read(&mut buf[filled..]) {
                Ok(0) if filled == 0 => return Ok(false),
                Ok(0) => {
                    return Err(ReadError::Truncated {
                        offset: self.offset,
                    })
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        Ok(true)
    }

    fn read_body(&mut self, len: usize) -> Result<Vec<u8>, ReadError> {
        let mut body = vec![0u8; len];
        read_exact_or(&mut self.input, &mut body, self.offset)?;
        Ok(body)
    }

    fn pcap_record(
        &mut self,
        big_endian: bool,
        nanos: bool,
        link_type: u16,
    ) -> Result<Option<Record>, ReadError> {
        let mut header = [0u8; 16];
        if !self.read_or_end(&mut header)? {
            return Ok(None);
        }
        let secs = u64::from(u32_at(&header, 0, big_endian));
        let frac = u64::from(u32_at(&header, 4, big_endian));
        let caplen = u32_at(&header, 8, big_endian) as usize;
        if caplen > MAX_BLOCK_LEN {
            return Err(ReadError::BadLength {
                offset: self.offset,
                len: caplen as u64,
            });
        }
        let data = self.read_body(caplen)?;
        self.offset += 16 + caplen as u64;
        let sub = if nanos { frac / 1000 } else { frac };
        Ok(Some(Record {
            time_us: secs * 1_000_000 + sub,
            link_type,
            data,
        }))
    }

    /// Reads the rest of a Section Header Block whose type was `first`.
    fn section_header(&mut self, _first: [u8; 4]) -> Result<(), ReadError> {
        let mut head = [0u8; 8];
        read_exact_or(&mut self.input, &mut head, self.offset)?;
        let big_endian = match u32::from_le_bytes([head[4], head[5], head[6], head[7]]) {
            BYTE_ORDER_MAGIC => false,
            m if m.swap_bytes() == BYTE_ORDER_MAGIC => true,
            _ => {
                return Err(ReadError::BadLength {
                    offset: self.offset,
                    len: 0,
                })
            }
        };
        let total = u32_at(&head, 0, big_endian) as usize;
        if !(28..=MAX_BLOCK_LEN).contains(&total) || total % 4 != 0 {
            return Err(ReadError::BadLength {
                offset: self.offset,
                len: total as u64,
            });
        }
        // Type (4) and the 8 read; the rest is version, section length,
        // options and the trailing length.
        let _ = self.read_body(total - 12)?;
        self.offset += total as u64;
        self.format = Format::Pcapng { big_endian };
        // A new section starts a new list of interfaces (pcapng §4.1).
        self.interfaces.clear();
        Ok(())
    }

    fn pcapng_record(&mut self) -> Result<Option<Record>, ReadError> {
        loop {
            let mut head = [0u8; 8];
            if !self.read_or_end(&mut head)? {
                return Ok(None);
            }
            if u32::from_le_bytes([head[0], head[1], head[2], head[3]]) == BLOCK_SECTION_HEADER {
                // The byte-order magic follows the length: re-read both
                // from there.
                let mut magic = [0u8; 4];
                magic.copy_from_slice(&head[..4]);
                let mut order = [0u8; 4];
                read_exact_or(&mut self.input, &mut order, self.offset)?;
                let big_endian = order != BYTE_ORDER_MAGIC.to_le_bytes();
                let total = u32_at(&head, 4, big_endian) as usize;
                if !(28..=MAX_BLOCK_LEN).contains(&total) || total % 4 != 0 {
                    return Err(ReadError::BadLength {
                        offset: self.offset,
                        len: total as u64,
                    });
                }
                let _ = self.read_body(total - 12)?;
                self.offset += total as u64;
                self.format = Format::Pcapng { big_endian };
                self.interfaces.clear();
                continue;
            }
            let Format::Pcapng { big_endian } = self.format else {
                return Ok(None);
            };
            let block_type = u32_at(&head, 0, big_endian);
            let total = u32_at(&head, 4, big_endian) as usize;
            if !(12..=MAX_BLOCK_LEN).contains(&total) || total % 4 != 0 {
                return Err(ReadError::BadLength {
                    offset: self.offset,
                    len: total as u64,
                });
            }
            let body = self.read_body(total - 8)?;
            let offset = self.offset;
            self.offset += total as u64;
            // The body without the trailing copy of the length.
            let body = &body[..body.len() - 4];
            match block_type {
                // Interfaces past the limit are not described: their
                // packets end the reading as unknown interfaces.
                BLOCK_INTERFACE if self.interfaces.len() < MAX_INTERFACES => {
                    let iface = interface_description(body, big_endian);
                    self.interfaces.push(iface);
                }
                BLOCK_ENHANCED_PACKET | BLOCK_OBSOLETE_PACKET => {
                    // Both blocks put the timestamp at 4, the captured
                    // length at 12 and the data at 20; the interface ID is
                    // 32 bits in one and 16 (then a drop count) in the
                    // other (pcapng §4.3, appendix A).
                    let interface = if block_type == BLOCK_ENHANCED_PACKET {
                        u32_at(body, 0, big_endian)
                    } else {
                        u32::from(u16_at(body, 0, big_endian))
                    };
                    let (ts_at, len_at, data_at) = (4usize, 12usize, 20usize);
                    let iface = *self
                        .interfaces
                        .get(interface as usize)
                        .ok_or(ReadError::UnknownInterface { offset, interface })?;
                    let caplen = u32_at(body, len_at, big_endian) as usize;
                    let data = body.get(data_at..data_at.saturating_add(caplen)).ok_or(
                        ReadError::BadLength {
                            offset,
                            len: caplen as u64,
                        },
                    )?;
                    let ts = (u64::from(u32_at(body, ts_at, big_endian)) << 32)
                        | u64::from(u32_at(body, ts_at + 4, big_endian));
                    return Ok(Some(Record {
                        time_us: scale_to_micros(ts, iface.units_per_second),
                        link_type: iface.link_type,
                        data: data.to_vec(),
                    }));
                }
                BLOCK_SIMPLE_PACKET => {
                    let iface = *self.interfaces.first().ok_or(ReadError::UnknownInterface {
                        offset,
                        interface: 0,
                    })?;
                    let wire_len = u32_at(body, 0, big_endian) as usize;
                    let data = body.get(4..).unwrap_or(&[]);
                    let data = &data[..data.len().min(wire_len)];
                    return Ok(Some(Record {
                        time_us: 0,
                        link_type: iface.link_type,
                        data: data.to_vec(),
                    }));
                }
                // Name resolution, statistics, custom, decryption secrets:
                // nothing a PPTP session needs.
                _ => {}
            }
        }
    }
}

fn read_exact_or<R: Read>(input: &mut R, buf: &mut [u8], offset: u64) -> Result<(), ReadError> {
    input.read_exact(buf).map_err(|e| match e.kind() {
        io::ErrorKind::UnexpectedEof => ReadError::Truncated { offset },
        _ => ReadError::Io(e),
    })
}

/// An Interface Description Block's link type and timestamp resolution.
fn interface_description(body: &[u8], big_endian: bool) -> Interface {
    let link_type = u16_at(body, 0, big_endian);
    let mut units_per_second = 1_000_000;
    // Options start after link type (2), reserved (2), snap length (4).
    let mut at = 8;
    while at + 4 <= body.len() {
        let code = u16_at(body, at, big_endian);
        let len = usize::from(u16_at(body, at + 2, big_endian));
        if code == 0 {
            break;
        }
        // if_tsresol (pcapng §4.2): bit 7 set, a power of two; clear, of ten.
        if code == 9 && len == 1 {
            if let Some(&r) = body.get(at + 4) {
                let exp = u32::from(r & 0x7f);
                units_per_second = if r & 0x80 != 0 {
                    1u64.checked_shl(exp).unwrap_or(u64::MAX)
                } else {
                    10u64.checked_pow(exp).unwrap_or(u64::MAX)
                };
            }
        }
        at += 4 + len.div_ceil(4) * 4;
    }
    Interface {
        link_type,
        units_per_second: units_per_second.max(1),
    }
}

fn scale_to_micros(ts: u64, units_per_second: u64) -> u64 {
    if units_per_second == 1_000_000 {
        return ts;
    }
    (u128::from(ts) * 1_000_000 / u128::from(units_per_second)) as u64
}

/// Where the IPv4 packet of a record starts, by link type; `None` for a
/// link type not listed in the module doc or a packet that is not IPv4
/// (ARP, IPv6).
pub fn ipv4_offset(link_type: u16, data: &[u8]) -> Option<usize> {
    let at = match link_type {
        LINKTYPE_ETHERNET => {
            let mut at = 12;
            let mut ethertype = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
            // Up to two VLAN tags (802.1Q 0x8100, 802.1ad 0x88a8).
            for _ in 0..2 {
                if ethertype == 0x8100 || ethertype == 0x88a8 {
                    at += 4;
                    ethertype = u16::from_be_bytes([*data.get(at)?, *data.get(at + 1)?]);
                }
            }
            (ethertype == 0x0800).then_some(at + 2)?
        }
        LINKTYPE_LINUX_SLL => {
            (u16::from_be_bytes([*data.get(14)?, *data.get(15)?]) == 0x0800).then_some(16)?
        }
        LINKTYPE_LINUX_SLL2 => {
            (u16::from_be_bytes([*data.first()?, *data.get(1)?]) == 0x0800).then_some(20)?
        }
        LINKTYPE_RAW | LINKTYPE_RAW_BSD | LINKTYPE_IPV4 => 0,
        LINKTYPE_NULL | LINKTYPE_LOOP => {
            // AF_INET is 2 on every system; the family is in host order
            // (NULL) or network order (LOOP).
            let family = data.get(..4)?;
            (family == [2, 0, 0, 0] || family == [0, 0, 0, 2]).then_some(4)?
        }
        _ => return None,
    };
    (data.get(at)? >> 4 == 4).then_some(at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pcap_file(link_type: u32, records: &[&[u8]]) -> Vec<u8> {
        let mut f = Vec::new();
        f.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
        f.extend_from_slice(&[2, 0, 4, 0]);
        f.extend_from_slice(&[0; 8]);
        f.extend_from_slice(&65_535u32.to_le_bytes());
        f.extend_from_slice(&link_type.to_le_bytes());
        for (i, r) in records.iter().enumerate() {
            f.extend_from_slice(&(i as u32).to_le_bytes());
            f.extend_from_slice(&7u32.to_le_bytes());
            f.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f.extend_from_slice(&(r.len() as u32).to_le_bytes());
            f.extend_from_slice(r);
        }
        f
    }

    #[test]
    fn reads_classic_pcap_records() {
        let f = pcap_file(101, &[&[0x45, 1, 2], &[0x45]]);
        let mut r = CaptureReader::new(&f[..]).unwrap();
        let a = r.next_record().unwrap().unwrap();
        assert_eq!((a.time_us, a.link_type, a.data), (7, 101, vec![0x45, 1, 2]));
        let b = r.next_record().unwrap().unwrap();
        assert_eq!(b.time_us, 1_000_007);
        assert!(r.next_record().unwrap().is_none());
    }

    #[test]
    fn a_cut_or_lying_file_is_an_error_not_a_panic() {
        let f = pcap_file(101, &[&[0x45, 1, 2, 3, 4]]);
        for cut in 0..f.len() {
            match CaptureReader::new(&f[..cut]) {
                Err(_) => {}
                Ok(mut r) => {
                    let first = r.next_record();
                    assert!(first.is_err() || first.unwrap().is_none(), "cut {cut}");
                }
            }
        }
        let mut huge = pcap_file(101, &[]);
        huge.extend_from_slice(&[0; 8]);
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        huge.extend_from_slice(&u32::MAX.to_le_bytes());
        let mut r = CaptureReader::new(&huge[..]).unwrap();
        assert!(matches!(r.next_record(), Err(ReadError::BadLength { .. })));
        assert!(matches!(
            CaptureReader::new(&b"GIF89a"[..]),
            Err(ReadError::UnknownFormat(_))
        ));
    }

    /// A pcapng block of `kind` with `body` (padded to 32 bits).
    fn block(big_endian: bool, kind: u32, body: &[u8]) -> Vec<u8> {
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let padded = body.len().div_ceil(4) * 4;
        let total = (12 + padded) as u32;
        let mut b = word(kind).to_vec();
        b.extend_from_slice(&word(total));
        b.extend_from_slice(body);
        b.resize(8 + padded, 0);
        b.extend_from_slice(&word(total));
        b
    }

    fn pcapng(big_endian: bool) -> Vec<u8> {
        let half = |v: u16| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let word = |v: u32| {
            if big_endian {
                v.to_be_bytes()
            } else {
                v.to_le_bytes()
            }
        };
        let mut shb = word(BYTE_ORDER_MAGIC).to_vec();
        shb.extend_from_slice(&half(1));
        shb.extend_from_slice(&half(0));
        shb.extend_from_slice(&[0xff; 8]); // section length unknown
                                           // Interface 0: SLL2, nanosecond timestamps (if_tsresol 9).
        let mut idb = half(276).to_vec();
        idb.extend_from_slice(&[0, 0]);
        idb.extend_from_slice(&word(0));
        idb.extend_from_slice(&half(9));
        idb.extend_from_slice(&half(1));
        idb.extend_from_slice(&[9, 0, 0, 0]);
        idb.extend_from_slice(&[0, 0, 0, 0]); // opt_endofopt
        let mut packet = vec![0x08, 0x00];
        packet.extend_from_slice(&[0; 18]);
        packet.extend_from_slice(&[0x45, 0, 0, 20]);
        let mut epb = word(0).to_vec();
        let ns: u64 = 1_500_000_000_123_456_789;
        epb.extend_from_slice(&word((ns >> 32) as u32));
        epb.extend_from_slice(&word(ns as u32));
        epb.extend_from_slice(&word(packet.len() as u32));
        epb.extend_from_slice(&word(packet.len() as u32));
        epb.extend_from_slice(&packet);
        let mut spb = word(packet.len() as u32).to_vec();
        spb.extend_from_slice(&packet);
        let mut f = block(big_endian, BLOCK_SECTION_HEADER, &shb);
        f.extend(block(big_endian, BLOCK_INTERFACE, &idb));
        f.extend(block(big_endian, 4, b"name resolution: skipped"));
        f.extend(block(big_endian, BLOCK_ENHANCED_PACKET, &epb));
        f.extend(block(big_endian, BLOCK_SIMPLE_PACKET, &spb));
        f
    }

    #[test]
    fn reads_pcapng_of_either_byte_order() {
        for big_endian in [false, true] {
            let f = pcapng(big_endian);
            let mut r = CaptureReader::new(&f[..]).unwrap();
            let a = r.next_record().unwrap().unwrap();
            assert_eq!(a.link_type, 276);
            assert_eq!(a.time_us, 1_500_000_000_123_456);
            assert_eq!(ipv4_offset(a.link_type, &a.data), Some(20));
            let b = r.next_record().unwrap().unwrap();
            assert_eq!((b.time_us, b.data), (0, a.data));
            assert!(r.next_record().unwrap().is_none());
            // Every prefix: an error or fewer records, never a panic.
            for cut in 0..f.len() {
                if let Ok(mut r) = CaptureReader::new(&f[..cut]) {
                    while let Ok(Some(_)) = r.next_record() {}
                }
            }
        }
        // A packet block before any interface is described.
        let mut f = pcapng(false);
        let idb_len = u32::from_le_bytes(f[32..36].try_into().unwrap()) as usize;
        f.drain(28..28 + idb_len);
        let mut r = CaptureReader::new(&f[..]).unwrap();
        assert!(matches!(
            r.next_record(),
            Err(ReadError::UnknownInterface { .. })
        ));
    }

    #[test]
    fn finds_ipv4_behind_each_link_type() {
        let ip = [0x45u8, 0, 0, 20];
        let mut eth = vec![0u8; 12];
        eth.extend_from_slice(&[0x81, 0x00, 0, 1, 0x08, 0x00]);
        eth.extend_from_slice(&ip);
        assert_eq!(ipv4_offset(1, &eth), Some(18));
        let mut sll = vec![0u8; 14];
        sll.extend_from_slice(&[0x08, 0x00]);
        sll.extend_from_slice(&ip);
        assert_eq!(ipv4_offset(113, &sll), Some(16));
        let mut sll2 = vec![0x08, 0x00];
        sll2.extend_from_slice(&[0; 18]);
        sll2.extend_from_slice(&ip);
        assert_eq!(ipv4_offset(276, &sll2), Some(20));
        assert_eq!(ipv4_offset(101, &ip), Some(0));
        assert_eq!(ipv4_offset(0, &[2, 0, 0, 0, 0x45]), Some(4));
        // ARP behind Ethernet, IPv6 raw, an unknown link type, nothing.
        let mut arp = vec![0u8; 12];
        arp.extend_from_slice(&[0x08, 0x06, 0x45]);
        assert_eq!(ipv4_offset(1, &arp), None);
        assert_eq!(ipv4_offset(101, &[0x60]), None);
        assert_eq!(ipv4_offset(147, &ip), None);
        assert_eq!(ipv4_offset(1, &[]), None);
    }
}
