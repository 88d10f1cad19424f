//! The one IP packet per session the load generator sends through the
//! tunnel: an ICMP Echo Request (RFC 792) from the session's assigned
//! address to the server's tunnel address. The server's kernel answers it
//! from the TUN side, so a reply proves both directions: GRE + MPPE +
//! PPP in, TUN write, kernel, TUN read, PPP + MPPE + GRE out.

use std::net::Ipv4Addr;

/// Octets of the Echo Request: 20 (IPv4) + 8 (ICMP) + 32 (payload).
pub const ECHO_LEN: usize = 60;

/// RFC 1071 Internet checksum of `data`.
pub fn checksum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for pair in data.chunks(2) {
        let word = match pair {
            [a, b] => u16::from_be_bytes([*a, *b]),
            [a] => u16::from_be_bytes([*a, 0]),
            _ => 0,
        };
        sum += u32::from(word);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An IPv4 ICMP Echo Request from `source` to `destination` with
/// identifier `id` and sequence number `sequence`.
pub fn echo_request(
    source: Ipv4Addr,
    destination: Ipv4Addr,
    id: u16,
    sequence: u16,
) -> [u8; ECHO_LEN] {
    let mut p = [0u8; ECHO_LEN];
    write_echo_request(&mut p, source, destination, id, sequence);
    p
}

/// Octets of the shortest Echo Request [`write_echo_request`] writes:
/// the IPv4 and ICMP headers.
pub const ECHO_MIN_LEN: usize = 28;

/// Fills all of `packet` (at least [`ECHO_MIN_LEN`] and at most 65,535
/// octets, or nothing is written and `false` comes back) with an IPv4
/// ICMP Echo Request from `source` to `destination`, DF set, the payload
/// a repeating alphabet. The traffic phase sends these at the size asked.
pub fn write_echo_request(
    packet: &mut [u8],
    source: Ipv4Addr,
    destination: Ipv4Addr,
    id: u16,
    sequence: u16,
) -> bool {
    let Ok(total) = u16::try_from(packet.len()) else {
        return false;
    };
    if packet.len() < ECHO_MIN_LEN {
        return false;
    }
    let p = packet;
    p[..ECHO_MIN_LEN].fill(0);
    p[0] = 0x45; // version 4, 5 words of header
    p[2..4].copy_from_slice(&total.to_be_bytes());
    p[4..6].copy_from_slice(&id.to_be_bytes()); // IP identification
    p[6] = 0x40; // don't fragment
    p[8] = 64; // TTL
    p[9] = 1; // ICMP
    p[12..16].copy_from_slice(&source.octets());
    p[16..20].copy_from_slice(&destination.octets());
    let c = checksum(&p[..20]);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p[20] = 8; // Echo Request
    p[24..26].copy_from_slice(&id.to_be_bytes());
    p[26..28].copy_from_slice(&sequence.to_be_bytes());
    for (i, b) in p[28..].iter_mut().enumerate() {
        *b = b'a' + (i % 26) as u8;
    }
    let c = checksum(&p[20..]);
    p[22..24].copy_from_slice(&c.to_be_bytes());
    true
}

/// The identifier of an ICMP Echo Reply sent to `to`, if `packet` is one
/// (checksums verified).
pub fn echo_reply_id(packet: &[u8], to: Ipv4Addr) -> Option<u16> {
    let header = usize::from(packet.first()? & 0x0f) * 4;
    if packet.len() < header + 8 || packet[0] >> 4 != 4 || header < 20 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([packet[2], packet[3]]));
    if total < header + 8 || total > packet.len() {
        return None;
    }
    if packet[9] != 1 || packet[16..20] != to.octets() || checksum(&packet[..header]) != 0 {
        return None;
    }
    let icmp = &packet[header..total];
    if icmp[0] != 0 || checksum(icmp) != 0 {
        return None;
    }
    Some(u16::from_be_bytes([icmp[4], icmp[5]]))
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 10);
    const B: Ipv4Addr = Ipv4Addr::new(10, 200, 0, 1);

    #[test]
    fn rfc1071_example() {
        // RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2
        // (one's complement), so the checksum is !ddf2 = 220d.
        assert_eq!(
            checksum(&[0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]),
            0x220d
        );
        assert_eq!(checksum(&[0xff]), !0xff00);
    }

    #[test]
    fn request_is_well_formed() {
        let p = echo_request(A, B, 0x1234, 7);
        assert_eq!(checksum(&p[..20]), 0, "IP header checksum verifies");
        assert_eq!(checksum(&p[20..]), 0, "ICMP checksum verifies");
        assert_eq!(crate::net::ipv4_source(&p), Some(A));
        assert_eq!(crate::net::ipv4_destination(&p), Some(B));
        assert_eq!(p[20], 8);
        assert_eq!(&p[24..28], &[0x12, 0x34, 0, 7]);
    }

    #[test]
    fn sized_requests_are_well_formed_and_answerable() {
        for len in [ECHO_MIN_LEN, 29, ECHO_LEN, 576, 1400] {
            let mut p = vec![0xffu8; len];
            assert!(write_echo_request(&mut p, A, B, 9, 3), "{len}");
            assert_eq!(usize::from(u16::from_be_bytes([p[2], p[3]])), len);
            assert_eq!(checksum(&p[..20]), 0, "{len}: IP header checksum");
            assert_eq!(checksum(&p[20..]), 0, "{len}: ICMP checksum");
            assert_eq!(echo_reply_id(&reply_to(&p), A), Some(9), "{len}");
        }
        assert_eq!(
            echo_request(A, B, 1, 2).to_vec(),
            {
                let mut p = vec![0u8; ECHO_LEN];
                write_echo_request(&mut p, A, B, 1, 2);
                p
            },
            "the fixed-size request is the sized one at 60 octets"
        );
        let mut short = [0xffu8; ECHO_MIN_LEN - 1];
        assert!(!write_echo_request(&mut short, A, B, 1, 1));
        assert_eq!(short, [0xff; ECHO_MIN_LEN - 1], "nothing written");
        let mut huge = vec![0u8; 65_536];
        assert!(!write_echo_request(&mut huge, A, B, 1, 1));
    }

    /// What a kernel sends back: addresses swapped, type 0, checksums redone.
    fn reply_to(req: &[u8]) -> Vec<u8> {
        let mut r = req.to_vec();
        r[12..16].copy_from_slice(&req[16..20]);
        r[16..20].copy_from_slice(&req[12..16]);
        r[10] = 0;
        r[11] = 0;
        let c = checksum(&r[..20]);
        r[10..12].copy_from_slice(&c.to_be_bytes());
        r[20] = 0;
        r[22] = 0;
        r[23] = 0;
        let c = checksum(&r[20..]);
        r[22..24].copy_from_slice(&c.to_be_bytes());
        r
    }

    #[test]
    fn reply_is_recognised_and_bad_ones_are_not() {
        let req = echo_request(A, B, 0xbeef, 1);
        let rep = reply_to(&req);
        assert_eq!(echo_reply_id(&rep, A), Some(0xbeef));
        assert_eq!(echo_reply_id(&rep, B), None, "not for that address");
        assert_eq!(echo_reply_id(&req, B), None, "a request is not a reply");
        for cut in 0..rep.len() {
            assert_eq!(echo_reply_id(&rep[..cut], A), None, "truncated at {cut}");
        }
        let mut bad = rep.clone();
        bad[40] ^= 1;
        assert_eq!(echo_reply_id(&bad, A), None, "ICMP checksum");
        let mut bad = rep.clone();
        bad[8] ^= 1;
        assert_eq!(echo_reply_id(&bad, A), None, "IP header checksum");
        let mut bad = rep;
        bad[9] = 17;
        assert_eq!(echo_reply_id(&bad, A), None, "not ICMP");
    }
}
