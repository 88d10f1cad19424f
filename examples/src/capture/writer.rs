//! `--write-decrypted`: a pcap (LINKTYPE_RAW) of every IPv4 packet of
//! the capture, in which each MPPE packet that decrypted is replaced by
//! its plaintext PPP frame, so that Wireshark decodes the inner IP
//! traffic. Packets that did not decrypt stay as they were; records that
//! are not IPv4 (ARP, IPv6 neighbour discovery) are left out.

use std::io::{self, Write};

use pptp_core::wire::gre::GrePacket;

use crate::pcap::{internet_checksum, write_file_header, write_record};

/// Writes the decrypted capture.
#[derive(Debug)]
pub struct DecryptedWriter<W: Write> {
    out: W,
    /// Records written.
    pub packets: u64,
    /// MPPE packets replaced by their plaintext.
    pub replaced: u64,
}

impl<W: Write> DecryptedWriter<W> {
    /// Writes the file header.
    pub fn new(mut out: W) -> io::Result<Self> {
        write_file_header(&mut out)?;
        Ok(DecryptedWriter {
            out,
            packets: 0,
            replaced: 0,
        })
    }

    /// An IPv4 packet as captured.
    pub fn packet(&mut self, time_us: u64, ip: &[u8]) -> io::Result<()> {
        write_record(&mut self.out, time_us, &[ip])?;
        self.packets += 1;
        Ok(())
    }

    /// An IPv4 packet carrying GRE whose PPP frame becomes `ppp_frame`.
    /// Falls back to the packet as captured if it is not IPv4 + GRE.
    pub fn with_ppp_frame(&mut self, time_us: u64, ip: &[u8], ppp_frame: &[u8]) -> io::Result<()> {
        match replace_gre_payload(ip, ppp_frame) {
            Some(new_ip) => {
                self.replaced += 1;
                self.packet(time_us, &new_ip)
            }
            None => self.packet(time_us, ip),
        }
    }

    /// Flushes and returns the output.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// `ip` (IPv4 carrying enhanced GRE) with the GRE payload replaced: the
/// GRE Payload Length (RFC 2637 §4.1), the IPv4 Total Length and header
/// checksum (RFC 791 §3.1) follow.
pub fn replace_gre_payload(ip: &[u8], payload: &[u8]) -> Option<Vec<u8>> {
    let header_len = usize::from(ip.first()? & 0x0f) * 4;
    let gre_bytes = ip.get(header_len..)?;
    let gre = GrePacket::new_checked(gre_bytes).ok()?;
    let gre_header = gre_bytes.get(..gre.header_len())?;
    let total = header_len + gre_header.len() + payload.len();
    let total16 = u16::try_from(total).ok()?;
    let payload16 = u16::try_from(payload.len()).ok()?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(ip.get(..header_len)?);
    out.extend_from_slice(gre_header);
    out.extend_from_slice(payload);
    out[2..4].copy_from_slice(&total16.to_be_bytes());
    out[10..12].copy_from_slice(&[0, 0]);
    let sum = internet_checksum(&out[..header_len]);
    out[10..12].copy_from_slice(&sum.to_be_bytes());
    // GRE Payload Length: octets 4..6 of the GRE header.
    out[header_len + 4..header_len + 6].copy_from_slice(&payload16.to_be_bytes());
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replacing_the_payload_fixes_the_lengths_and_checksum() {
        let mut ip = vec![
            0x45, 0, 0, 0, 0, 1, 0x40, 0, 64, 47, 0, 0, 192, 0, 2, 1, 192, 0, 2, 2,
        ];
        let gre = [0x30, 0x81, 0x88, 0x0b, 0, 4, 0, 7, 0, 0, 0, 1, 0, 0, 0, 0];
        ip.extend_from_slice(&gre);
        ip.extend_from_slice(&[0xff, 0x03, 0x00, 0xfd]);
        let total = ip.len() as u16;
        ip[2..4].copy_from_slice(&total.to_be_bytes());
        let new = replace_gre_payload(&ip, &[0xff, 0x03, 0x21, 0x45, 0, 0]).unwrap();
        assert_eq!(usize::from(u16::from_be_bytes([new[2], new[3]])), new.len());
        assert_eq!(internet_checksum(&new[..20]), 0);
        let g = GrePacket::new_checked(&new[20..]).unwrap();
        assert_eq!(g.payload(), &[0xff, 0x03, 0x21, 0x45, 0, 0]);
        assert!(replace_gre_payload(&[0x45], &[]).is_none());
    }
}
