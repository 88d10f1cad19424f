//! The IPv4 packets a PPP link carries, as far as a tunnel endpoint has to
//! touch them to fit them to the peer's MRU (RFC 1661 §6.1): the header
//! view ([`Packet`]), fragmentation (RFC 791 §2.3, §3.2), the ICMP
//! "fragmentation needed" error (RFC 792, RFC 1191 §4) and TCP MSS
//! clamping (RFC 879, RFC 6691), with the Internet checksum (RFC 1071)
//! and its incremental update (RFC 1624).
//!
//! A link's peer refuses frames over its MRU, so an IPv4 packet longer
//! than [`Link::max_ip_len`](crate::link::Link::max_ip_len) must be cut
//! into fragments (DF clear) or answered with ICMP (DF set) before it is
//! framed; and TCP, which sizes its segments from the MSS in the SYN,
//! avoids both when the MSS is clamped to what the link carries (what
//! pppd users set up with iptables' TCPMSS target, and accel-ppp does
//! itself).
//!
//! Every function takes bytes from the network and returns an
//! [`IpError`] for anything malformed; none of them panics.

use core::fmt;
use core::net::Ipv4Addr;

/// Field offsets of the IPv4 header (RFC 791 §3.1).
mod field {
    use core::ops::Range;
    pub const VER_IHL: usize = 0;
    pub const LENGTH: Range<usize> = 2..4;
    pub const IDENT: Range<usize> = 4..6;
    pub const FLAGS_OFFSET: Range<usize> = 6..8;
    pub const TTL: usize = 8;
    pub const PROTOCOL: usize = 9;
    pub const CHECKSUM: Range<usize> = 10..12;
    pub const SRC: Range<usize> = 12..16;
    pub const DST: Range<usize> = 16..20;
}

/// Length of the IPv4 header without options (RFC 791 §3.1: IHL 5).
pub const HEADER_LEN: usize = 20;
/// Length of a TCP header without options, and of an IPv4 header plus it:
/// what an MSS leaves out of the IP packet (RFC 879 §1, RFC 6691 §2).
pub const TCP_HEADER_LEN: usize = 20;
/// IP protocol numbers this module looks at.
pub mod protocol {
    /// ICMP (RFC 792).
    pub const ICMP: u8 = 1;
    /// TCP (RFC 793).
    pub const TCP: u8 = 6;
}

/// Flags field bits (RFC 791 §3.1), within the 16-bit flags/offset word.
const DONT_FRAGMENT: u16 = 0x4000;
const MORE_FRAGMENTS: u16 = 0x2000;
const OFFSET_MASK: u16 = 0x1fff;

/// What is wrong with an IPv4 packet, or why one cannot be emitted.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum IpError {
    /// The bytes end inside a header.
    Truncated {
        /// Octets the header needs.
        needed: usize,
        /// Octets present.
        available: usize,
    },
    /// The Version field is not 4.
    NotIpv4 {
        /// The Version found.
        version: u8,
    },
    /// IHL below 5: shorter than the fixed header (RFC 791 §3.1).
    BadHeaderLength {
        /// The IHL found (32-bit words).
        ihl: u8,
    },
    /// Total Length below the header or past the received bytes.
    BadTotalLength {
        /// The Total Length field.
        total: u16,
        /// The header's length.
        header_len: usize,
        /// Octets received.
        available: usize,
    },
    /// An IP option (RFC 791 §3.1) or TCP option (RFC 793 §3.1) whose
    /// length octet is below 2 or runs past the header.
    BadOption {
        /// The option's type.
        kind: u8,
        /// Its length octet (0 if missing).
        length: u8,
    },
    /// A TCP Data Offset below 5 or past the segment (RFC 793 §3.1).
    BadTcpHeaderLength {
        /// The Data Offset found (32-bit words).
        data_offset: u8,
    },
    /// A fragment's offset that is not a multiple of 8 or lies past the
    /// data, or whose 13-bit field would overflow (RFC 791 §3.1).
    BadFragmentOffset {
        /// The offset into the packet's data, in octets.
        offset: usize,
    },
    /// The MTU cannot carry the header and 8 octets of data.
    MtuTooSmall {
        /// The MTU.
        mtu: usize,
        /// The least it would need.
        needed: usize,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Octets needed.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}

impl fmt::Display for IpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            IpError::Truncated { needed, available } => {
                write!(f, "truncated: need {needed} octets, have {available}")
            }
            IpError::NotIpv4 { version } => write!(f, "IP version {version}, not 4"),
            IpError::BadHeaderLength { ihl } => write!(f, "IPv4 IHL {ihl} (< 5)"),
            IpError::BadTotalLength {
                total,
                header_len,
                available,
            } => write!(
                f,
                "IPv4 Total Length {total} invalid for a {header_len}-octet header in {available} octets"
            ),
            IpError::BadOption { kind, length } => {
                write!(f, "option type {kind} with bad length {length}")
            }
            IpError::BadTcpHeaderLength { data_offset } => {
                write!(f, "TCP Data Offset {data_offset} invalid")
            }
            IpError::BadFragmentOffset { offset } => {
                write!(f, "fragment offset {offset} invalid")
            }
            IpError::MtuTooSmall { mtu, needed } => {
                write!(f, "MTU {mtu} below the {needed} octets a fragment needs")
            }
            IpError::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: need {needed} octets, have {available}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for IpError {}

// ----- the Internet checksum -----

/// The ones'-complement sum of `data` as 16-bit big-endian words, an odd
/// last octet padded with zero (RFC 1071 §4.1), folded to at most
/// `0xffff` but not complemented: sums of several parts (a pseudo-header
/// and a segment) add before [`fold`].
///
/// It runs over every octet a host with TUN offloads sends or merges (it
/// was 41 % of the server's time in a profile of one TCP stream), so it
/// takes four octets an addition, using two properties RFC 1071 §2 gives:
/// the sum does not depend on byte order (§2(B): sum the words as they
/// lie in memory, little-endian here, and swap the folded result), and
/// carries may be deferred (§2(C): a 32-bit word counts as its two 16-bit
/// halves, since 2^16 is 1 modulo 2^16 - 1, and a 64-bit accumulator
/// cannot overflow below 2^32 words). The folded results are equal, not
/// just equivalent: each is 0 only when every word is 0 and otherwise the
/// one representative of the sum in 1..=0xffff.
pub fn sum_words(data: &[u8]) -> u32 {
    let mut words = data.chunks_exact(4);
    let mut sum: u64 = 0;
    for w in &mut words {
        sum += u64::from(u32::from_le_bytes([w[0], w[1], w[2], w[3]]));
    }
    // The last one to three octets, zero-padded: they start on a 32-bit
    // boundary, so the 16-bit words keep their places.
    let mut tail = [0u8; 4];
    let rest = words.remainder();
    tail[..rest.len()].copy_from_slice(rest);
    sum += u64::from(u32::from_le_bytes(tail));
    let mut folded = sum;
    while folded > 0xffff {
        folded = (folded & 0xffff) + (folded >> 16);
    }
    // Back from the little-endian words to the big-endian ones (§2(B)).
    u32::from((folded as u16).swap_bytes())
}

/// A ones'-complement sum folded to 16 bits (RFC 1071 §4.1).
pub fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    sum as u16
}

/// The Internet checksum of `data` (RFC 1071): the ones' complement of
/// the ones'-complement sum. Over data that includes its checksum it is 0.
pub fn checksum(data: &[u8]) -> u16 {
    !fold(sum_words(data))
}

/// A checksum updated for one 16-bit word changed from `old` to `new`,
/// RFC 1624 §3 equation 3: `HC' = ~(~HC + ~m + m')` (equation 2's
/// `~C + ~m + m'` without its -0 problem).
fn update_checksum(checksum: u16, old: u16, new: u16) -> u16 {
    !fold(u32::from(!checksum) + u32::from(!old) + u32::from(new))
}

// ----- the header view -----

/// A checked view of an IPv4 packet (smoltcp's `Packet`): after
/// [`Packet::new_checked`] no accessor can panic. The packet ends at its
/// Total Length; octets after it (link padding) are ignored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<T: AsRef<[u8]>> {
    buffer: T,
}

impl<T: AsRef<[u8]>> Packet<T> {
    /// Checks the Version, IHL and Total Length against the buffer.
    pub fn new_checked(buffer: T) -> Result<Self, IpError> {
        let bytes = buffer.as_ref();
        let available = bytes.len();
        if available < HEADER_LEN {
            return Err(IpError::Truncated {
                needed: HEADER_LEN,
                available,
            });
        }
        let version = bytes[field::VER_IHL] >> 4;
        if version != 4 {
            return Err(IpError::NotIpv4 { version });
        }
        let ihl = bytes[field::VER_IHL] & 0x0f;
        if ihl < 5 {
            return Err(IpError::BadHeaderLength { ihl });
        }
        let header_len = usize::from(ihl) * 4;
        if header_len > available {
            return Err(IpError::Truncated {
                needed: header_len,
                available,
            });
        }
        let total = u16::from_be_bytes([bytes[2], bytes[3]]);
        if usize::from(total) < header_len || usize::from(total) > available {
            return Err(IpError::BadTotalLength {
                total,
                header_len,
                available,
            });
        }
        Ok(Packet { buffer })
    }

    fn bytes(&self) -> &[u8] {
        self.buffer.as_ref()
    }

    fn word(&self, range: core::ops::Range<usize>) -> u16 {
        let b = &self.bytes()[range];
        u16::from_be_bytes([b[0], b[1]])
    }

    /// The header's length in octets (IHL × 4).
    pub fn header_len(&self) -> usize {
        usize::from(self.bytes()[field::VER_IHL] & 0x0f) * 4
    }

    /// The Total Length: header and data.
    pub fn total_len(&self) -> usize {
        usize::from(self.word(field::LENGTH))
    }

    /// The Identification field.
    pub fn ident(&self) -> u16 {
        self.word(field::IDENT)
    }

    /// DF: the sender forbids fragmentation (RFC 791 §3.1; RFC 1191 sets
    /// it to discover the path MTU).
    pub fn dont_fragment(&self) -> bool {
        self.word(field::FLAGS_OFFSET) & DONT_FRAGMENT != 0
    }

    /// MF: more fragments of the same datagram follow.
    pub fn more_fragments(&self) -> bool {
        self.word(field::FLAGS_OFFSET) & MORE_FRAGMENTS != 0
    }

    /// Where this fragment's data lies in the datagram, in octets (the
    /// field counts 8-octet units).
    pub fn frag_offset(&self) -> usize {
        usize::from(self.word(field::FLAGS_OFFSET) & OFFSET_MASK) * 8
    }

    /// Whether this is a fragment (MF set or a nonzero offset).
    pub fn is_fragment(&self) -> bool {
        self.more_fragments() || self.frag_offset() != 0
    }

    /// The Protocol field.
    pub fn protocol(&self) -> u8 {
        self.bytes()[field::PROTOCOL]
    }

    /// The source address.
    pub fn src_addr(&self) -> Ipv4Addr {
        let b = &self.bytes()[field::SRC];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The destination address.
    pub fn dst_addr(&self) -> Ipv4Addr {
        let b = &self.bytes()[field::DST];
        Ipv4Addr::new(b[0], b[1], b[2], b[3])
    }

    /// The header, options included.
    pub fn header(&self) -> &[u8] {
        &self.bytes()[..self.header_len()]
    }

    /// The data (up to Total Length).
    pub fn payload(&self) -> &[u8] {
        &self.bytes()[self.header_len()..self.total_len()]
    }

    /// Whether the header checksum is right.
    pub fn verify_checksum(&self) -> bool {
        checksum(self.header()) == 0
    }
}

impl<T: AsRef<[u8]> + AsMut<[u8]>> Packet<T> {
    /// The data, writable.
    pub fn payload_mut(&mut self) -> &mut [u8] {
        let (start, end) = (self.header_len(), self.total_len());
        &mut self.buffer.as_mut()[start..end]
    }
}

// ----- fragmentation (RFC 791 §2.3, §3.2) -----

/// One fragment written by [`fragment`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Fragment {
    /// The fragment's length at the start of the output buffer.
    pub len: usize,
    /// Where the next fragment starts in the packet's data, or `None`
    /// after the last.
    pub next: Option<usize>,
}

/// Writes the fragment of `packet` whose data starts `data_offset`
/// octets into the packet's data (0 for the first, then each
/// [`Fragment::next`]), at most `mtu` octets in all, at the start of
/// `out`. RFC 791 §3.2's procedure: every fragment but the last carries a
/// multiple of 8 data octets and MF; the first keeps every option, the
/// others only those whose copy flag is set (§3.1 "Options"); offsets add
/// to the packet's own, so a fragment is fragmented again correctly (its
/// last piece keeps its MF); the header checksum is computed anew. DF is
/// not looked at: the caller decides between this and [`frag_needed`].
pub fn fragment(
    packet: &Packet<&[u8]>,
    data_offset: usize,
    mtu: usize,
    out: &mut [u8],
) -> Result<Fragment, IpError> {
    let data = packet.payload();
    if data_offset % 8 != 0 || data_offset >= data.len().max(1) {
        return Err(IpError::BadFragmentOffset {
            offset: data_offset,
        });
    }
    let header = packet.header();
    // Checked for every fragment, so that a bad option list fails the
    // first call rather than leave a datagram half sent.
    let copied_len = copied_options_len(&header[HEADER_LEN..])?;
    // The header this fragment carries: all of it first, then the fixed
    // part and the copied options, padded to 32 bits with End of Option
    // List octets (0).
    let mut header_len = if data_offset == 0 {
        header.len()
    } else {
        HEADER_LEN + copied_len
    };
    header_len = (header_len + 3) & !3;
    if mtu < header_len + 8 {
        return Err(IpError::MtuTooSmall {
            mtu,
            needed: header_len + 8,
        });
    }
    let rest = data.len() - data_offset;
    let last = rest + header_len <= mtu;
    let take = if last { rest } else { (mtu - header_len) & !7 };
    let len = header_len + take;
    let available = out.len();
    let Some(out) = out.get_mut(..len) else {
        return Err(IpError::BufferTooSmall {
            needed: len,
            available,
        });
    };
    let units = (packet.frag_offset() + data_offset) / 8;
    let Ok(units) = u16::try_from(units) else {
        return Err(IpError::BadFragmentOffset {
            offset: data_offset,
        });
    };
    if units > OFFSET_MASK {
        return Err(IpError::BadFragmentOffset {
            offset: data_offset,
        });
    }
    out[..header_len].fill(0);
    out[..HEADER_LEN].copy_from_slice(&header[..HEADER_LEN]);
    if data_offset == 0 {
        out[HEADER_LEN..header.len()].copy_from_slice(&header[HEADER_LEN..]);
    } else {
        copy_options(&header[HEADER_LEN..], &mut out[HEADER_LEN..header_len]);
    }
    out[header_len..].copy_from_slice(&data[data_offset..data_offset + take]);
    out[field::VER_IHL] = 0x40 | (header_len / 4) as u8;
    out[field::LENGTH].copy_from_slice(&(len as u16).to_be_bytes());
    let more = !last || packet.more_fragments();
    let flags = packet.word(field::FLAGS_OFFSET) & DONT_FRAGMENT;
    let word = flags | if more { MORE_FRAGMENTS } else { 0 } | units;
    out[field::FLAGS_OFFSET].copy_from_slice(&word.to_be_bytes());
    out[field::CHECKSUM].fill(0);
    let sum = checksum(&out[..header_len]);
    out[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    Ok(Fragment {
        len,
        next: (!last).then_some(data_offset + take),
    })
}

/// Walks IP options (RFC 791 §3.1): type 0 ends the list, type 1 is one
/// octet, every other has a length octet of at least 2. Calls `each` with
/// every option (NOPs included) and its offset until the end.
fn walk_options(options: &[u8], mut each: impl FnMut(usize, &[u8])) -> Result<(), IpError> {
    let mut i = 0;
    while let Some(&kind) = options.get(i) {
        match kind {
            0 => break,
            1 => {
                each(i, &options[i..i + 1]);
                i += 1;
            }
            _ => {
                let length = options.get(i + 1).copied().unwrap_or(0);
                let end = i + usize::from(length);
                if length < 2 || end > options.len() {
                    return Err(IpError::BadOption { kind, length });
                }
                each(i, &options[i..end]);
                i = end;
            }
        }
    }
    Ok(())
}

/// Whether an option goes into every fragment: the copy flag, the type's
/// high bit (RFC 791 §3.1).
fn copied(option: &[u8]) -> bool {
    option.first().is_some_and(|k| k & 0x80 != 0)
}

fn copied_options_len(options: &[u8]) -> Result<usize, IpError> {
    let mut n = 0;
    walk_options(options, |_, o| {
        if copied(o) {
            n += o.len();
        }
    })?;
    Ok(n)
}

/// Copies the options with the copy flag into `out` (sized by
/// [`copied_options_len`] and already zeroed). Only called after
/// [`copied_options_len`] walked the same options without error.
fn copy_options(options: &[u8], out: &mut [u8]) {
    let mut at = 0;
    let _ = walk_options(options, |_, o| {
        if copied(o) {
            if let Some(dst) = out.get_mut(at..at + o.len()) {
                dst.copy_from_slice(o);
            }
            at += o.len();
        }
    });
}

// ----- ICMP "fragmentation needed" (RFC 792, RFC 1191 §4) -----

/// ICMP Destination Unreachable (RFC 792).
const ICMP_DEST_UNREACHABLE: u8 = 3;
/// Its code 4: fragmentation needed and DF set.
const ICMP_FRAG_NEEDED: u8 = 4;
/// Octets of the offending datagram's data an ICMP error quotes after its
/// header (RFC 792: "the first 64 bits of the original data datagram's
/// data").
const QUOTED_DATA: usize = 8;
/// TTL of the ICMP messages we originate (RFC 1700's recommended 64).
const ICMP_TTL: u8 = 64;

/// Whether an ICMP error may be sent about `packet`, RFC 1122 §3.2.2:
/// never about an ICMP error message (ICMP queries such as Echo, which
/// path MTU discovery with `ping -M do` sends, may be answered), a
/// fragment other than the first, a datagram to a broadcast or multicast
/// address, or one whose source is not a single host (0/8, 127/8,
/// multicast, class E and the limited broadcast).
pub fn icmp_error_allowed(packet: &Packet<&[u8]>) -> bool {
    if packet.frag_offset() != 0 {
        return false;
    }
    if packet.protocol() == protocol::ICMP {
        // Types known as queries and replies (RFC 792, RFC 950, RFC 1256);
        // anything else counts as an error, as Linux counts it.
        let query = matches!(packet.payload().first(), Some(0 | 8 | 9 | 10 | 13..=18));
        if !query {
            return false;
        }
    }
    let dst = packet.dst_addr();
    if dst.is_broadcast() || dst.is_multicast() {
        return false;
    }
    let src = packet.src_addr().octets();
    !(src[0] == 0 || src[0] == 127 || src[0] >= 224)
}

/// Writes, at the start of `out`, the ICMP Destination Unreachable,
/// code 4, that tells the sender of `packet` it must fit `next_hop_mtu`
/// (RFC 1191 §4: the MTU in the low 16 bits of the unused field), from
/// `source` (our address on the link) to the packet's source, quoting
/// the packet's header and first 8 data octets (RFC 792). Returns its
/// length. The caller checks [`icmp_error_allowed`] first.
pub fn frag_needed(
    packet: &Packet<&[u8]>,
    next_hop_mtu: u16,
    source: Ipv4Addr,
    out: &mut [u8],
) -> Result<usize, IpError> {
    let quoted_len = packet.header_len() + packet.payload().len().min(QUOTED_DATA);
    let quoted = &packet.bytes()[..quoted_len];
    let icmp_len = 8 + quoted_len;
    let len = HEADER_LEN + icmp_len;
    let available = out.len();
    let Some(out) = out.get_mut(..len) else {
        return Err(IpError::BufferTooSmall {
            needed: len,
            available,
        });
    };
    out.fill(0);
    out[field::VER_IHL] = 0x45;
    out[field::LENGTH].copy_from_slice(&(len as u16).to_be_bytes());
    out[field::TTL] = ICMP_TTL;
    out[field::PROTOCOL] = protocol::ICMP;
    out[field::SRC].copy_from_slice(&source.octets());
    out[field::DST].copy_from_slice(&packet.src_addr().octets());
    let sum = checksum(&out[..HEADER_LEN]);
    out[field::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    let icmp = &mut out[HEADER_LEN..];
    icmp[0] = ICMP_DEST_UNREACHABLE;
    icmp[1] = ICMP_FRAG_NEEDED;
    icmp[6..8].copy_from_slice(&next_hop_mtu.to_be_bytes());
    icmp[8..].copy_from_slice(quoted);
    let sum = checksum(icmp);
    icmp[2..4].copy_from_slice(&sum.to_be_bytes());
    Ok(len)
}

// ----- TCP MSS clamping (RFC 879, RFC 6691) -----

/// TCP header fields (RFC 793 §3.1).
mod tcp {
    use core::ops::Range;
    pub const CHECKSUM: Range<usize> = 16..18;
    pub const DATA_OFFSET: usize = 12;
    pub const FLAGS: usize = 13;
    pub const SYN: u8 = 0x02;
    /// Maximum Segment Size option: kind 2, length 4 (RFC 793 §3.1).
    pub const MSS_KIND: u8 = 2;
    pub const MSS_LEN: u8 = 4;
}

/// Lowers the MSS option of a TCP SYN (or SYN-ACK) in the IPv4 packet
/// `ip` to `max_mss` if it is larger, patching the TCP checksum
/// incrementally (RFC 1624) so the rest of the segment is not read.
/// Returns the MSS it replaced, or `None` when there was nothing to do:
/// not TCP, not a SYN, a fragment (the TCP header may be incomplete),
/// no MSS option, or an MSS already small enough. A SYN without the
/// option is left alone: its sender assumes 536 (RFC 879 §1, RFC 6691
/// §2), which fits any link that carries 576.
pub fn clamp_mss(ip: &mut [u8], max_mss: u16) -> Result<Option<u16>, IpError> {
    let mut packet = Packet::new_checked(ip)?;
    if packet.protocol() != protocol::TCP || packet.is_fragment() {
        return Ok(None);
    }
    let segment = packet.payload_mut();
    let available = segment.len();
    if available < TCP_HEADER_LEN {
        return Err(IpError::Truncated {
            needed: TCP_HEADER_LEN,
            available,
        });
    }
    let data_offset = segment[tcp::DATA_OFFSET] >> 4;
    let header_len = usize::from(data_offset) * 4;
    if data_offset < 5 || header_len > available {
        return Err(IpError::BadTcpHeaderLength { data_offset });
    }
    if segment[tcp::FLAGS] & tcp::SYN == 0 {
        return Ok(None);
    }
    // TCP options have IP's layout: End of List, No-Operation, then
    // kind/length/value (RFC 793 §3.1).
    let mut mss_at = None;
    walk_options(&segment[TCP_HEADER_LEN..header_len], |at, o| {
        if mss_at.is_none() && o.first() == Some(&tcp::MSS_KIND) {
            mss_at = Some((TCP_HEADER_LEN + at, o.len()));
        }
    })?;
    let Some((at, length)) = mss_at else {
        return Ok(None);
    };
    if length != usize::from(tcp::MSS_LEN) {
        return Err(IpError::BadOption {
            kind: tcp::MSS_KIND,
            length: length as u8,
        });
    }
    let value = at + 2;
    let mss = u16::from_be_bytes([segment[value], segment[value + 1]]);
    if mss <= max_mss {
        return Ok(None);
    }
    // The value may straddle two checksum words (after a single NOP): the
    // 16-bit words the sum sees start at even offsets of the segment (the
    // pseudo-header is 12 octets), so update every word it touches.
    let first_word = value & !1;
    let last_word = (value + 1) & !1;
    let old = [
        u16::from_be_bytes([segment[first_word], segment[first_word + 1]]),
        u16::from_be_bytes([segment[last_word], segment[last_word + 1]]),
    ];
    segment[value..value + 2].copy_from_slice(&max_mss.to_be_bytes());
    let mut sum = u16::from_be_bytes([
        segment[tcp::CHECKSUM.start],
        segment[tcp::CHECKSUM.start + 1],
    ]);
    for (i, word) in [first_word, last_word].into_iter().enumerate() {
        if i == 1 && word == first_word {
            break;
        }
        let new = u16::from_be_bytes([segment[word], segment[word + 1]]);
        sum = update_checksum(sum, old[i], new);
    }
    segment[tcp::CHECKSUM].copy_from_slice(&sum.to_be_bytes());
    Ok(Some(mss))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    /// A checksum written independently of [`checksum`]: a plain sum of
    /// 16-bit words in a u64, folded once at the end (RFC 1071 §4.1's
    /// "C" reference in another shape).
    fn reference_sum(parts: &[&[u8]]) -> u16 {
        let mut bytes = Vec::new();
        for p in parts {
            bytes.extend_from_slice(p);
        }
        if bytes.len() % 2 == 1 {
            bytes.push(0);
        }
        let mut sum: u64 = 0;
        for w in bytes.chunks(2) {
            sum += u64::from(w[0]) * 256 + u64::from(w[1]);
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum as u16
    }

    fn valid_header(header: &[u8]) -> bool {
        reference_sum(&[header]) == 0xffff
    }

    /// TCP's checksum over the pseudo-header (RFC 793 §3.1) and segment.
    fn valid_tcp(ip: &[u8]) -> bool {
        let hl = usize::from(ip[0] & 0x0f) * 4;
        let seg = &ip[hl..];
        let len = (seg.len() as u16).to_be_bytes();
        let pseudo = [&ip[12..20], &[0, 6], &len[..]].concat();
        reference_sum(&[&pseudo, seg]) == 0xffff
    }

    /// A UDP-like IPv4 packet of `len` octets with `options` (padded by
    /// the caller to a multiple of 4) and a right header checksum.
    fn packet(len: usize, options: &[u8], flags_offset: u16) -> Vec<u8> {
        let hl = HEADER_LEN + options.len();
        let mut p = std::vec![0u8; len];
        p[0] = 0x40 | (hl / 4) as u8;
        p[2..4].copy_from_slice(&(len as u16).to_be_bytes());
        p[4..6].copy_from_slice(&0xbeefu16.to_be_bytes());
        p[6..8].copy_from_slice(&flags_offset.to_be_bytes());
        p[8] = 64;
        p[9] = 17;
        p[12..16].copy_from_slice(&[10, 0, 0, 1]);
        p[16..20].copy_from_slice(&[192, 0, 2, 10]);
        p[20..hl].copy_from_slice(options);
        for (i, b) in p.iter_mut().enumerate().skip(hl) {
            *b = (i * 7 + i / 251) as u8;
        }
        let sum = checksum(&p[..hl]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        p
    }

    /// Every fragment of `p` for `mtu`, checked one by one.
    fn fragments(p: &[u8], mtu: usize) -> Vec<Vec<u8>> {
        let view = Packet::new_checked(p).unwrap();
        let mut out = std::vec![0u8; 2048];
        let mut all = Vec::new();
        let mut next = Some(0);
        while let Some(offset) = next {
            let f = fragment(&view, offset, mtu, &mut out).unwrap();
            assert!(f.len <= mtu);
            all.push(out[..f.len].to_vec());
            next = f.next;
            assert!(all.len() < 100);
        }
        all
    }

    /// Reassembles fragments as a receiver does (RFC 791 §3.2), by
    /// offset and length alone: the data, the MF of the last piece, and
    /// the offset of the first.
    fn reassemble(frags: &[Vec<u8>]) -> (Vec<u8>, bool, usize) {
        let mut data = Vec::new();
        let mut first = usize::MAX;
        let mut last_mf = false;
        let mut end_seen = 0;
        for f in frags {
            assert!(valid_header(&f[..usize::from(f[0] & 0xf) * 4]));
            let hl = usize::from(f[0] & 0x0f) * 4;
            let total = usize::from(u16::from_be_bytes([f[2], f[3]]));
            assert_eq!(total, f.len());
            let word = u16::from_be_bytes([f[6], f[7]]);
            let offset = usize::from(word & 0x1fff) * 8;
            first = first.min(offset);
            let piece = &f[hl..];
            let end = offset + piece.len();
            if end > end_seen {
                end_seen = end;
                last_mf = word & 0x2000 != 0;
            }
            if data.len() < end - first {
                data.resize(end - first, 0);
            }
            data[offset - first..end - first].copy_from_slice(piece);
            // Every fragment but the one that ends the data has MF and a
            // multiple of 8 octets.
            if end < end_seen || word & 0x2000 != 0 && f != frags.last().unwrap() {
                assert_eq!(piece.len() % 8, 0);
            }
        }
        (data, last_mf, first)
    }

    #[test]
    fn checksum_of_rfc1071_and_a_hand_checked_header() {
        // RFC 1071 §3's example: the sum is ddf2, so the checksum 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        // A header whose checksum b861 was computed by hand.
        let mut h = [
            0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11, 0x00, 0x00, 0xc0, 0xa8,
            0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7,
        ];
        assert_eq!(checksum(&h), 0xb861);
        h[10..12].copy_from_slice(&[0xb8, 0x61]);
        assert_eq!(checksum(&h), 0);
        // Odd length: the last octet is the high half of a word.
        assert_eq!(checksum(&[0xff]), 0x00ff);
    }

    /// RFC 1071 §4.1's loop, word by word with the end-around carry: the
    /// reference the four-octets-at-a-time sum must equal.
    fn sum_words_one_at_a_time(data: &[u8]) -> u32 {
        let mut sum: u32 = 0;
        for pair in data.chunks(2) {
            let word = u16::from_be_bytes([pair[0], pair.get(1).copied().unwrap_or(0)]);
            sum += u32::from(word);
            sum = (sum & 0xffff) + (sum >> 16);
        }
        sum
    }

    #[test]
    fn the_fast_sum_equals_the_word_by_word_sum_for_every_length_and_content() {
        // Every length from 0 to 1,600 (every remainder modulo 4, both
        // parities), over noise, all 0xff (sums that fold to 0xffff many
        // times over) and all 0 (the one sum that is 0).
        let mut state = 0x2545_f491_u32;
        let mut noise = [0u8; 1600];
        for b in noise.iter_mut() {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            *b = state as u8;
        }
        for data in [noise, [0xff; 1600], [0; 1600]] {
            for len in 0..=data.len() {
                let d = &data[..len];
                assert_eq!(sum_words(d), sum_words_one_at_a_time(d), "length {len}");
                assert!(sum_words(d) <= 0xffff);
            }
            // And from every starting offset within a word.
            for start in 1..4 {
                let d = &data[start..];
                assert_eq!(sum_words(d), sum_words_one_at_a_time(d), "from {start}");
            }
        }
    }

    #[test]
    fn incremental_update_matches_recomputation() {
        // RFC 1624 §4's example: a header word changes from 5555 to 3285.
        let mut words = [0xcd7au16, 0x5555, 0x1234, 0x0000];
        let bytes = |w: &[u16; 4]| -> Vec<u8> { w.iter().flat_map(|x| x.to_be_bytes()).collect() };
        let before = checksum(&bytes(&words));
        words[1] = 0x3285;
        assert_eq!(
            update_checksum(before, 0x5555, 0x3285),
            checksum(&bytes(&words))
        );
    }

    #[test]
    fn test_deconstruct() {
        let p = packet(100, &[], 0x4000 | 3);
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(v.header_len(), 20);
        assert_eq!(v.total_len(), 100);
        assert_eq!(v.ident(), 0xbeef);
        assert!(v.dont_fragment());
        assert!(!v.more_fragments());
        assert_eq!(v.frag_offset(), 24);
        assert!(v.is_fragment());
        assert_eq!(v.protocol(), 17);
        assert_eq!(v.src_addr(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(v.dst_addr(), Ipv4Addr::new(192, 0, 2, 10));
        assert_eq!(v.payload().len(), 80);
        assert!(v.verify_checksum());
        // Link padding after Total Length is not the packet's.
        let mut padded = p.clone();
        padded.extend_from_slice(&[0xaa; 5]);
        assert_eq!(
            Packet::new_checked(&padded[..]).unwrap().payload().len(),
            80
        );
    }

    #[test]
    fn fragments_reassemble_to_the_original_data() {
        for (len, mtu) in [
            (1400, 1196),
            (1400, 576),
            (4000, 1196),
            (1197, 1196),
            (61, 60),
        ] {
            let p = packet(len, &[], 0);
            let frags = fragments(&p, mtu);
            assert!(frags.len() >= 2, "{len} over {mtu}");
            let (data, mf, first) = reassemble(&frags);
            assert_eq!(data, p[20..], "{len} over {mtu}");
            assert!(!mf);
            assert_eq!(first, 0);
            for (i, f) in frags.iter().enumerate() {
                // Everything but length, flags/offset and checksum is the
                // original header's.
                assert_eq!(f[..2], p[..2]);
                assert_eq!(f[4..6], p[4..6]);
                assert_eq!(f[8..10], p[8..10]);
                assert_eq!(f[12..20], p[12..20]);
                let mf = u16::from_be_bytes([f[6], f[7]]) & 0x2000 != 0;
                assert_eq!(mf, i + 1 < frags.len());
            }
        }
        // 1,400 over 1,196: 1,176 data octets (a multiple of 8) then 204.
        let frags = fragments(&packet(1400, &[], 0), 1196);
        assert_eq!(frags.iter().map(Vec::len).collect::<Vec<_>>(), [1196, 224]);
        assert_eq!(frags[1][6..8], [0x00, 147]); // 1176 / 8
    }

    #[test]
    fn a_fragment_is_fragmented_again_with_its_offset_and_mf() {
        // The middle piece of some datagram: offset 185 units, MF set.
        let p = packet(1400, &[], 0x2000 | 185);
        let frags = fragments(&p, 600);
        let (data, mf, first) = reassemble(&frags);
        assert_eq!(data, p[20..]);
        assert!(mf, "the last piece keeps the original's MF");
        assert_eq!(first, 185 * 8);
        // The last piece of a datagram: its own last piece has no MF.
        let p = packet(1400, &[], 185);
        let (_, mf, _) = reassemble(&fragments(&p, 600));
        assert!(!mf);
        // DF is carried, not judged.
        let p = packet(1400, &[], 0x4000);
        assert!(fragments(&p, 600).iter().all(|f| f[6] & 0x40 != 0));
    }

    #[test]
    fn only_options_with_the_copy_flag_go_into_later_fragments() {
        // Record Route (type 7: copy flag clear), a NOP, Loose Source
        // Route (type 0x83: copy flag set), End of List: 20 + 16 octets.
        let options = [
            0x07, 7, 4, 0, 0, 0, 0,    // record route, one slot
            0x01, // NOP
            0x83, 7, 4, 198, 51, 100, 1, // LSRR
            0x00,
        ];
        let p = packet(1000, &options, 0);
        let frags = fragments(&p, 300);
        // The first keeps them all.
        assert_eq!(frags[0][0], 0x49);
        assert_eq!(frags[0][20..36], p[20..36]);
        for f in &frags[1..] {
            // 20 + 7 copied, padded with End of List to 28.
            assert_eq!(f[0], 0x47);
            assert_eq!(f[20..27], [0x83, 7, 4, 198, 51, 100, 1]);
            assert_eq!(f[27], 0);
        }
        let (data, _, _) = reassemble(&frags);
        assert_eq!(data, p[36..]);
    }

    #[test]
    fn fragment_rejects_what_it_cannot_do() {
        let p = packet(1400, &[], 0);
        let v = Packet::new_checked(&p[..]).unwrap();
        let mut out = [0u8; 2048];
        assert_eq!(
            fragment(&v, 4, 600, &mut out),
            Err(IpError::BadFragmentOffset { offset: 4 })
        );
        assert_eq!(
            fragment(&v, 1384, 600, &mut out),
            Err(IpError::BadFragmentOffset { offset: 1384 })
        );
        assert_eq!(
            fragment(&v, 0, 27, &mut out),
            Err(IpError::MtuTooSmall {
                mtu: 27,
                needed: 28
            })
        );
        assert_eq!(
            fragment(&v, 0, 600, &mut out[..100]),
            Err(IpError::BufferTooSmall {
                needed: 596,
                available: 100
            })
        );
        // An offset field near its 13-bit limit cannot grow further.
        let p = packet(1400, &[], 0x1fff);
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            fragment(&v, 576, 600, &mut out),
            Err(IpError::BadFragmentOffset { offset: 576 })
        );
        // An option running past the header.
        let p = packet(1400, &[0x83, 9, 4, 0], 0);
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            fragment(&v, 0, 600, &mut out),
            Err(IpError::BadOption {
                kind: 0x83,
                length: 9
            })
        );
        let p = packet(1400, &[0x83, 1, 0, 0], 0);
        let v = Packet::new_checked(&p[..]).unwrap();
        assert_eq!(
            fragment(&v, 0, 600, &mut out),
            Err(IpError::BadOption {
                kind: 0x83,
                length: 1
            })
        );
    }

    #[test]
    fn frag_needed_quotes_the_header_and_eight_octets() {
        let p = packet(1400, &[], 0x4000);
        let v = Packet::new_checked(&p[..]).unwrap();
        let mut out = [0u8; 100];
        let us = Ipv4Addr::new(192, 0, 2, 1);
        let n = frag_needed(&v, 1196, us, &mut out).unwrap();
        assert_eq!(n, 20 + 8 + 20 + 8);
        let icmp = &out[..n];
        assert!(valid_header(&icmp[..20]));
        assert_eq!(icmp[0], 0x45);
        assert_eq!(icmp[2..4], (n as u16).to_be_bytes());
        assert_eq!(icmp[9], 1);
        assert_eq!(icmp[12..16], us.octets());
        assert_eq!(icmp[16..20], [10, 0, 0, 1], "back to the packet's source");
        assert_eq!(reference_sum(&[&icmp[20..]]), 0xffff, "ICMP checksum");
        assert_eq!(icmp[20..28], [3, 4, icmp[22], icmp[23], 0, 0, 0x04, 0xac]);
        assert_eq!(icmp[28..], p[..28]);
        // A short packet is quoted whole.
        let p = packet(24, &[], 0x4000);
        let v = Packet::new_checked(&p[..]).unwrap();
        let n = frag_needed(&v, 576, us, &mut out).unwrap();
        assert_eq!(out[28..n], p[..]);
        assert_eq!(
            frag_needed(&v, 576, us, &mut out[..40]),
            Err(IpError::BufferTooSmall {
                needed: 52,
                available: 40
            })
        );
    }

    #[test]
    fn icmp_errors_are_not_sent_where_rfc_1122_forbids_them() {
        let with = |f: &dyn Fn(&mut Vec<u8>)| {
            let mut p = packet(1400, &[], 0x4000);
            f(&mut p);
            icmp_error_allowed(&Packet::new_checked(&p[..]).unwrap())
        };
        assert!(with(&|_| {}));
        // ICMP: an Echo Request may be answered, an error may not.
        assert!(with(&|p| {
            p[9] = 1;
            p[20] = 8;
        }));
        for kind in [3, 4, 5, 11, 12, 42] {
            assert!(!with(&|p| {
                p[9] = 1;
                p[20] = kind;
            }));
        }
        // Not the first fragment.
        assert!(!with(&|p| p[7] = 1));
        // The first fragment is.
        assert!(with(&|p| p[6] |= 0x20));
        // Broadcast and multicast destinations; sources that are no host.
        assert!(!with(&|p| p[16..20].copy_from_slice(&[255; 4])));
        assert!(!with(&|p| p[16] = 224));
        for first in [0, 127, 224, 240, 255] {
            assert!(!with(&|p| p[12] = first));
        }
    }

    /// A TCP SYN from 10.0.0.1:40000 to 192.0.2.10:80 with `options`,
    /// both checksums right.
    fn syn(options: &[u8], flags: u8) -> Vec<u8> {
        let tcp_len = TCP_HEADER_LEN + options.len();
        let mut p = packet(HEADER_LEN + tcp_len + 3, &[], 0x4000);
        p[9] = protocol::TCP;
        p[10..12].fill(0);
        let sum = checksum(&p[..20]);
        p[10..12].copy_from_slice(&sum.to_be_bytes());
        let seg = &mut p[20..];
        seg[..20].fill(0);
        seg[0..2].copy_from_slice(&40000u16.to_be_bytes());
        seg[2..4].copy_from_slice(&80u16.to_be_bytes());
        seg[4..8].copy_from_slice(&0x1234_5678u32.to_be_bytes());
        seg[12] = ((tcp_len / 4) as u8) << 4;
        seg[13] = flags;
        seg[14..16].copy_from_slice(&64240u16.to_be_bytes());
        seg[20..tcp_len].copy_from_slice(options);
        // The TCP checksum by the reference sum, not by `checksum`.
        let len = (seg.len() as u16).to_be_bytes();
        let pseudo = [&[10, 0, 0, 1, 192, 0, 2, 10][..], &[0, 6], &len[..]].concat();
        let sum = !reference_sum(&[&pseudo, seg]);
        seg[16..18].copy_from_slice(&sum.to_be_bytes());
        assert!(valid_tcp(&p));
        p
    }

    #[test]
    fn mss_of_a_syn_is_clamped_with_a_right_checksum() {
        // MSS first (even offset), and after one NOP (odd: the value
        // straddles two checksum words), and after SACK-permitted.
        for options in [
            &[2, 4, 0x05, 0xb4, 1, 1, 4, 2][..],
            &[1, 2, 4, 0x05, 0xb4, 1, 1, 0][..],
            &[4, 2, 2, 4, 0x05, 0xb4, 1, 0][..],
            &[1, 1, 1, 2, 4, 0x05, 0xb4, 0][..],
        ] {
            for flags in [0x02, 0x12] {
                let mut p = syn(options, flags);
                let original = p.clone();
                assert_eq!(clamp_mss(&mut p, 1156), Ok(Some(1460)), "{options:?}");
                assert!(valid_tcp(&p), "{options:?}");
                let at = 20 + 20 + options.iter().position(|&b| b == 0x05).unwrap();
                assert_eq!(p[at..at + 2], 1156u16.to_be_bytes());
                // Nothing else moved but the checksum.
                for (i, (a, b)) in p.iter().zip(&original).enumerate() {
                    if !(at..at + 2).contains(&i) && !(36..38).contains(&i) {
                        assert_eq!(a, b, "octet {i}");
                    }
                }
                // Clamping again finds nothing to do.
                assert_eq!(clamp_mss(&mut p, 1156), Ok(None));
                assert_eq!(clamp_mss(&mut p, 1400), Ok(None));
            }
        }
    }

    #[test]
    fn mss_is_left_alone_where_it_must_be() {
        let mss = [2, 4, 0x05, 0xb4];
        // Not a SYN.
        let mut p = syn(&mss, 0x10);
        assert_eq!(clamp_mss(&mut p, 1156), Ok(None));
        // No MSS option.
        let mut p = syn(&[1, 1, 4, 2], 0x02);
        assert_eq!(clamp_mss(&mut p, 1156), Ok(None));
        // Not TCP.
        let mut p = syn(&mss, 0x02);
        p[9] = 17;
        assert_eq!(clamp_mss(&mut p, 1156), Ok(None));
        // A fragment.
        let mut p = syn(&mss, 0x02);
        p[6] |= 0x20;
        assert_eq!(clamp_mss(&mut p, 1156), Ok(None));
        // An MSS option after End of List is not an option.
        let mut p = syn(&[0, 0, 0, 0, 2, 4, 0x05, 0xb4], 0x02);
        assert_eq!(clamp_mss(&mut p, 1156), Ok(None));
    }

    #[test]
    fn bad_bytes_get_typed_errors() {
        let good = syn(&[2, 4, 0x05, 0xb4], 0x02);
        let mut p = good.clone();
        // Truncated below the fixed header.
        for n in 0..20 {
            assert_eq!(
                Packet::new_checked(&p[..n]),
                Err(IpError::Truncated {
                    needed: 20,
                    available: n
                })
            );
        }
        // Version 6.
        p[0] = 0x65;
        assert_eq!(
            Packet::new_checked(&p[..]),
            Err(IpError::NotIpv4 { version: 6 })
        );
        // IHL below 5.
        for ihl in 0..5 {
            p[0] = 0x40 | ihl;
            assert_eq!(
                Packet::new_checked(&p[..]),
                Err(IpError::BadHeaderLength { ihl })
            );
        }
        // IHL past the buffer.
        p[0] = 0x4f;
        assert_eq!(
            Packet::new_checked(&p[..40]),
            Err(IpError::Truncated {
                needed: 60,
                available: 40
            })
        );
        // Total Length past the buffer, and below the header.
        let mut p = good.clone();
        p[2..4].copy_from_slice(&2000u16.to_be_bytes());
        assert_eq!(
            Packet::new_checked(&p[..]),
            Err(IpError::BadTotalLength {
                total: 2000,
                header_len: 20,
                available: good.len()
            })
        );
        p[2..4].copy_from_slice(&19u16.to_be_bytes());
        assert!(matches!(
            Packet::new_checked(&p[..]),
            Err(IpError::BadTotalLength { total: 19, .. })
        ));
        // TCP: shorter than its header, Data Offset below 5 or past the
        // segment, a bad option length, an MSS option of the wrong size.
        let mut p = good.clone();
        p[2..4].copy_from_slice(&30u16.to_be_bytes());
        assert_eq!(
            clamp_mss(&mut p, 1156),
            Err(IpError::Truncated {
                needed: 20,
                available: 10
            })
        );
        for offset in [0u8, 4, 15] {
            let mut p = good.clone();
            p[32] = offset << 4;
            assert_eq!(
                clamp_mss(&mut p, 1156),
                Err(IpError::BadTcpHeaderLength {
                    data_offset: offset
                })
            );
        }
        let mut p = syn(&[2, 0, 0x05, 0xb4], 0x02);
        assert_eq!(
            clamp_mss(&mut p, 1156),
            Err(IpError::BadOption { kind: 2, length: 0 })
        );
        let mut p = syn(&[1, 1, 3, 5], 0x02);
        assert_eq!(
            clamp_mss(&mut p, 1156),
            Err(IpError::BadOption { kind: 3, length: 5 })
        );
        let mut p = syn(&[2, 3, 0x05, 0], 0x02);
        assert_eq!(
            clamp_mss(&mut p, 1156),
            Err(IpError::BadOption { kind: 2, length: 3 })
        );
    }

    #[test]
    fn no_input_panics() {
        // Every truncation and every single-octet change of a SYN with
        // options and of a fragment with IP options: whatever each
        // function says, it says it without panicking.
        let samples = [
            syn(&[1, 2, 4, 0x05, 0xb4, 1, 1, 0], 0x02),
            packet(
                300,
                &[0x07, 7, 4, 0, 0, 0, 0, 0x01, 0x83, 7, 4, 1, 2, 3, 4, 0],
                0x2001,
            ),
        ];
        let mut out = [0u8; 400];
        for sample in &samples {
            for n in 0..=sample.len() {
                for i in 0..n.max(1) {
                    for value in [0x00, 0x01, 0x02, 0x05, 0x45, 0x4f, 0x83, 0xff] {
                        let mut p = sample[..n].to_vec();
                        if let Some(b) = p.get_mut(i) {
                            *b = value;
                        }
                        let _ = clamp_mss(&mut p, 536);
                        if let Ok(v) = Packet::new_checked(&p[..]) {
                            let _ = icmp_error_allowed(&v);
                            let _ = frag_needed(&v, 68, Ipv4Addr::LOCALHOST, &mut out);
                            let mut next = Some(0);
                            let mut guard = 0;
                            while let Some(offset) = next {
                                next = fragment(&v, offset, 68, &mut out).ok().and_then(|f| f.next);
                                guard += 1;
                                assert!(guard < 100);
                            }
                        }
                    }
                }
            }
        }
    }
}
