//! `pptp-tool pcap`: reads a capture of PPTP sessions, follows every
//! tunnel and call, takes the MS-CHAP exchange from it, derives the MPPE
//! keys (RFC 3079) and decrypts every MPPE packet in both directions,
//! stateless and stateful (RFC 3078), saying what it could not decrypt
//! and why; optionally writes a copy of the capture with the plaintext
//! PPP frames in place of the MPPE packets.
//!
//! The seams: [`reader`] (pcap/pcapng and link layers), [`tcp_stream`]
//! (the control connection's bytes, bounded), [`session`] (tunnels,
//! calls, MS-CHAP, CCP, keys, the transcript), [`decrypt`] (one MPPE
//! direction against every candidate key), [`writer`] (the decrypted
//! capture).

pub mod decrypt;
pub mod reader;
pub mod session;
pub mod tcp_stream;
pub mod writer;

use std::io::{Read, Write};

pub use session::{Analyser, Report, Secret};

use reader::CaptureReader;
use writer::DecryptedWriter;

/// Reads the whole capture from `input`, prints the transcript and the
/// summary to `out`, and writes the decrypted capture to `decrypted` if
/// given. A file that ends early or lies about a length is analysed up
/// to there (the report's notes say so); an input that is no capture at
/// all, or an error writing, is an `Err`.
pub fn analyse<R: Read>(
    input: R,
    secret: Secret,
    out: &mut dyn Write,
    decrypted: Option<Box<dyn Write>>,
) -> Result<Report, String> {
    let mut reader = CaptureReader::new(input).map_err(|e| e.to_string())?;
    let writer = match decrypted {
        Some(w) => Some(DecryptedWriter::new(w).map_err(|e| format!("writing: {e}"))?),
        None => None,
    };
    let mut analyser = Analyser::new(secret, out, writer);
    let mut read_error = None;
    loop {
        match reader.next_record() {
            Ok(Some(record)) => analyser
                .record(&record)
                .map_err(|e| format!("writing: {e}"))?,
            Ok(None) => break,
            Err(e) => {
                analyser.note(format!("capture not read to the end: {e}"));
                read_error = Some(e.to_string());
                break;
            }
        }
    }
    let (mut report, writer) = analyser.finish();
    report.read_error = read_error;
    if let Some(w) = writer {
        w.finish().map_err(|e| format!("writing: {e}"))?;
    }
    Ok(report)
}
