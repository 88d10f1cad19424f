//! RFC 1662 asynchronous HDLC-like framing: flag `7e`, control escape
//! `7d`, Async-Control-Character-Map (ACCM) and the 16-bit FCS.
//!
//! This is what serial lines and ptys carry (pptp-linux hands pppd async
//! HDLC on its pty); PPTP's GRE carries PPP frames without it (RFC 2637
//! §4.3). The [`Encoder`] writes one frame into a caller buffer; the
//! [`Decoder`] takes input chunks of any size and yields whole frames from
//! a bounded internal buffer.
//!
//! Interop (see the lab notes): pptp-linux and pptpd escape every octet
//! below 0x20 whatever LCP negotiated. That is always accepted: the decoder
//! un-escapes any `7d`-escaped octet, and the receive ACCM only decides
//! which *unescaped* control characters are dropped (RFC 1662 §7.1).

use core::fmt;

/// The flag sequence that opens and closes a frame (RFC 1662 §4.1).
pub const FLAG: u8 = 0x7e;
/// The control escape octet (RFC 1662 §4.2).
pub const ESCAPE: u8 = 0x7d;
/// Octets following an escape are XORed with this.
pub const ESCAPE_XOR: u8 = 0x20;
/// Initial FCS-16 value (RFC 1662 App. C.2).
pub const FCS_INIT: u16 = 0xffff;
/// FCS-16 over a frame plus its (complemented) FCS (RFC 1662 App. C.2).
pub const FCS_GOOD: u16 = 0xf0b8;
/// The ACCM in force before LCP negotiates one: escape all of 0x00..=0x1f
/// (RFC 1662 §7.1).
pub const DEFAULT_ACCM: u32 = 0xffff_ffff;
/// The shortest valid frame, FCS included (RFC 1662 §4.3: "less than 4
/// octets when using the 16-bit FCS" are discarded).
pub const MIN_FRAME_WITH_FCS: usize = 4;

/// The FCS-16 lookup table (polynomial x^16 + x^12 + x^5 + 1, reflected,
/// 0x8408), built at compile time as RFC 1662 App. C.2 describes.
const FCS_TABLE: [u16; 256] = {
    let mut table = [0u16; 256];
    let mut b = 0;
    while b < 256 {
        let mut v = b as u16;
        let mut i = 0;
        while i < 8 {
            v = if v & 1 != 0 {
                (v >> 1) ^ 0x8408
            } else {
                v >> 1
            };
            i += 1;
        }
        table[b] = v;
        b += 1;
    }
    table
};

/// Updates an FCS-16 with `data` (RFC 1662 App. C.2 `pppfcs16`).
pub fn fcs16(mut fcs: u16, data: &[u8]) -> u16 {
    for &byte in data {
        fcs = (fcs >> 8) ^ FCS_TABLE[usize::from((fcs ^ u16::from(byte)) as u8)];
    }
    fcs
}

/// The FCS octets to append to `frame` (complemented, least significant
/// octet first; RFC 1662 App. C.2).
pub fn fcs_octets(frame: &[u8]) -> [u8; 2] {
    (fcs16(FCS_INIT, frame) ^ 0xffff).to_le_bytes()
}

/// What went wrong while framing or deframing.
#[non_exhaustive]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub enum Error {
    /// The frame's FCS does not check (RFC 1662 §4.3).
    BadFcs {
        /// The FCS-16 residue computed over frame + FCS (good is 0xf0b8).
        residue: u16,
        /// The frame length, FCS included.
        length: usize,
    },
    /// The frame exceeded the decoder's bound and was dropped up to the
    /// next flag.
    Overlong {
        /// The decoder's limit (octets, FCS included).
        limit: usize,
    },
    /// The sender aborted the frame with `7d 7e` (RFC 1662 §4.2).
    Aborted,
    /// A frame shorter than 4 octets, FCS included (RFC 1662 §4.3).
    Runt {
        /// Octets received between the flags after un-escaping.
        length: usize,
    },
    /// The encoder's output buffer is too small.
    BufferTooSmall {
        /// Octets required in the worst case for this frame.
        needed: usize,
        /// Octets available.
        available: usize,
    },
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Error::BadFcs { residue, length } => {
                write!(f, "bad FCS (residue {residue:04x}) on {length}-octet frame")
            }
            Error::Overlong { limit } => write!(f, "frame longer than {limit} octets"),
            Error::Aborted => f.write_str("frame aborted by sender (7d 7e)"),
            Error::Runt { length } => write!(f, "runt frame of {length} octets"),
            Error::BufferTooSmall { needed, available } => write!(
                f,
                "buffer too small: need {needed} octets, have {available}"
            ),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

/// Whether `byte` must be escaped when sending with `accm` (RFC 1662 §7.1:
/// the flag and escape octets always, control characters per ACCM).
pub fn needs_escape(byte: u8, accm: u32) -> bool {
    byte == FLAG || byte == ESCAPE || (byte < 0x20 && (accm >> byte) & 1 == 1)
}

/// The most octets [`Encoder::encode`] can write for a frame of
/// `frame_len` octets: two flags plus every octet (FCS included) escaped.
pub const fn max_encoded_len(frame_len: usize) -> usize {
    2 + 2 * (frame_len + 2)
}

/// Async HDLC encoder: flag, escaped frame + FCS, flag.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "defmt", derive(defmt::Format))]
pub struct Encoder {
    accm: u32,
}

impl Default for Encoder {
    fn default() -> Self {
        Encoder { accm: DEFAULT_ACCM }
    }
}

impl Encoder {
    /// An encoder escaping control characters per `accm` (bit n set:
    /// escape octet n).
    pub const fn new(accm: u32) -> Self {
        Encoder { accm }
    }

    /// Changes the transmit ACCM (after LCP, or a PPTP Set-Link-Info).
    pub fn set_accm(&mut self, accm: u32) {
        self.accm = accm;
    }

    /// The transmit ACCM.
    pub fn accm(&self) -> u32 {
        self.accm
    }

    /// Writes `7e`, the escaped `frame` and FCS, and `7e` into `out`;
    /// returns the octets written. The flag is not shared between frames,
    /// as pptp-linux and pppd do.
    pub fn encode(&self, frame: &[u8], out: &mut [u8]) -> Result<usize, Error> {
        // The worst case fits in most callers' buffers; only compute the
        // exact length when it might not.
        if out.len() < max_encoded_len(frame.len()) {
            let needed = self.encoded_len(frame);
            if needed > out.len() {
                return Err(Error::BufferTooSmall {
                    needed,
                    available: out.len(),
                });
            }
        }
        if let Some(d) = out.first_mut() {
            *d = FLAG;
        }
        let mut n = 1;
        let mut put = |byte: u8, n: &mut usize| {
            if needs_escape(byte, self.accm) {
                if let Some(d) = out.get_mut(*n..*n + 2) {
                    d[0] = ESCAPE;
                    d[1] = byte ^ ESCAPE_XOR;
                }
                *n += 2;
            } else {
                if let Some(d) = out.get_mut(*n) {
                    *d = byte;
                }
                *n += 1;
            }
        };
        let mut fcs = FCS_INIT;
        for &byte in frame {
            fcs = (fcs >> 8) ^ FCS_TABLE[usize::from((fcs ^ u16::from(byte)) as u8)];
            put(byte, &mut n);
        }
        for byte in (fcs ^ 0xffff).to_le_bytes() {
            put(byte, &mut n);
        }
        if let Some(d) = out.get_mut(n) {
            *d = FLAG;
        }
        Ok(n + 1)
    }

    /// The exact length [`Encoder::encode`] writes for `frame`.
    pub fn encoded_len(&self, frame: &[u8]) -> usize {
        let fcs = fcs_octets(frame);
        2 + frame
            .iter()
            .chain(fcs.iter())
            .map(|&b| if needs_escape(b, self.accm) { 2 } else { 1 })
            .sum::<usize>()
    }
}

/// What one `decode` call produced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decoded<'a> {
    /// Input octets consumed; feed the rest in the next call.
    pub consumed: usize,
    /// A frame (FCS removed) or the error that ended one, if a closing flag
    /// was reached.
    pub frame: Option<Result<&'a [u8], Error>>,
}

/// The receive state shared by [`Decoder`] and [`SliceDecoder`]; the
/// frame octets live in storage the wrapper owns or borrows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct RxState {
    len: usize,
    rx_accm: u32,
    escaped: bool,
    overlong: bool,
    /// The last call returned a frame still held in storage.
    pending_clear: bool,
    /// Running FCS-16 over the stored octets.
    fcs: u16,
}

impl RxState {
    const fn new() -> Self {
        RxState {
            len: 0,
            rx_accm: DEFAULT_ACCM,
            escaped: false,
            overlong: false,
            pending_clear: false,
            fcs: FCS_INIT,
        }
    }

    fn clear_frame(&mut self) {
        self.len = 0;
        self.fcs = FCS_INIT;
    }

    fn reset(&mut self) {
        self.clear_frame();
        self.escaped = false;
        self.overlong = false;
        self.pending_clear = false;
    }

    /// Consumes input up to and including the next closing flag; returns
    /// the octets consumed and, at a flag, the frame length or error.
    fn feed(&mut self, storage: &mut [u8], input: &[u8]) -> (usize, Option<Result<usize, Error>>) {
        if core::mem::replace(&mut self.pending_clear, false) {
            self.clear_frame();
        }
        let mut consumed = 0;
        for &byte in input {
            consumed += 1;
            if byte == FLAG {
                if let Some(result) = self.end_frame(storage.len()) {
                    return (consumed, Some(result));
                }
                continue;
            }
            // Octets before the first flag (a frame cut at start-up) are
            // collected too: the FCS decides.
            if byte == ESCAPE {
                self.escaped = true;
                continue;
            }
            let value = if self.escaped {
                self.escaped = false;
                byte ^ ESCAPE_XOR
            } else if byte < 0x20 && (self.rx_accm >> byte) & 1 == 1 {
                continue;
            } else {
                byte
            };
            if !self.overlong {
                if let Some(slot) = storage.get_mut(self.len) {
                    *slot = value;
                    self.len += 1;
                    self.fcs = (self.fcs >> 8)
                        ^ FCS_TABLE[usize::from((self.fcs ^ u16::from(value)) as u8)];
                } else {
                    self.overlong = true;
                }
            }
        }
        (consumed, None)
    }

    /// Handles a flag: `None` for an empty frame (back-to-back flags),
    /// otherwise the frame's length or error. A good frame stays stored
    /// until the next call.
    fn end_frame(&mut self, limit: usize) -> Option<Result<usize, Error>> {
        let was_escaped = core::mem::replace(&mut self.escaped, false);
        let overlong = core::mem::replace(&mut self.overlong, false);
        let len = self.len;
        let result = if was_escaped {
            Some(Err(Error::Aborted))
        } else if overlong {
            Some(Err(Error::Overlong { limit }))
        } else if len == 0 {
            // Back-to-back flags (RFC 1662 §4.1: inter-frame fill), or only
            // dropped control characters.
            None
        } else if len < MIN_FRAME_WITH_FCS {
            Some(Err(Error::Runt { length: len }))
        } else if self.fcs == FCS_GOOD {
            self.pending_clear = true;
            return Some(Ok(len - 2));
        } else {
            Some(Err(Error::BadFcs {
                residue: self.fcs,
                length: len,
            }))
        };
        self.clear_frame();
        result
    }
}

fn decoded(
    storage: &[u8],
    (consumed, result): (usize, Option<Result<usize, Error>>),
) -> Decoded<'_> {
    Decoded {
        consumed,
        frame: result.map(|r| r.map(|len| storage.get(..len).unwrap_or(&[]))),
    }
}

/// Streaming async HDLC decoder holding at most `N` octets of one frame
/// (FCS included) in an internal buffer.
#[derive(Clone, Debug)]
pub struct Decoder<const N: usize> {
    buf: [u8; N],
    state: RxState,
}

impl<const N: usize> Default for Decoder<N> {
    fn default() -> Self {
        Self::new()
    }
}

impl<const N: usize> Decoder<N> {
    /// A decoder with the default receive ACCM (all control characters
    /// flagged, RFC 1662 §7.1).
    pub const fn new() -> Self {
        Decoder {
            buf: [0; N],
            state: RxState::new(),
        }
    }

    /// Changes the receive ACCM: unescaped control characters flagged in it
    /// are dropped before the FCS check (RFC 1662 §7.1, inserted by
    /// intervening equipment).
    pub fn set_rx_accm(&mut self, accm: u32) {
        self.state.rx_accm = accm;
    }

    /// The largest frame (FCS included) the decoder keeps.
    pub const fn capacity(&self) -> usize {
        N
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.state.reset();
    }

    /// Consumes `input` up to and including the next closing flag. Call
    /// again with `&input[consumed..]` until all input is consumed.
    pub fn decode(&mut self, input: &[u8]) -> Decoded<'_> {
        let step = self.state.feed(&mut self.buf, input);
        decoded(&self.buf, step)
    }
}

/// The same streaming decoder writing frames into a caller-provided
/// buffer (its length bounds the frame, FCS included).
#[derive(Debug)]
pub struct SliceDecoder<'a> {
    buf: &'a mut [u8],
    state: RxState,
}

impl<'a> SliceDecoder<'a> {
    /// A decoder collecting frames in `buf`.
    pub fn new(buf: &'a mut [u8]) -> Self {
        SliceDecoder {
            buf,
            state: RxState::new(),
        }
    }

    /// Changes the receive ACCM (see [`Decoder::set_rx_accm`]).
    pub fn set_rx_accm(&mut self, accm: u32) {
        self.state.rx_accm = accm;
    }

    /// Forgets any partial frame.
    pub fn reset(&mut self) {
        self.state.reset();
    }

    /// Consumes `input` up to and including the next closing flag (see
    /// [`Decoder::decode`]).
    pub fn decode(&mut self, input: &[u8]) -> Decoded<'_> {
        let step = self.state.feed(self.buf, input);
        decoded(self.buf, step)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all<const N: usize>(
        dec: &mut Decoder<N>,
        input: &[u8],
        out: &mut heapless::Vec<Result<heapless::Vec<u8, 2048>, Error>, 16>,
    ) {
        let mut rest = input;
        while !rest.is_empty() {
            let d = dec.decode(rest);
            rest = &rest[d.consumed..];
            if let Some(r) = d.frame {
                let item = r.map(|f| heapless::Vec::from_slice(f).unwrap());
                out.push(item).unwrap();
            }
        }
    }

    #[test]
    fn fcs16_matches_rfc1662_check_values() {
        // CRC-16/X.25 check value of "123456789" (the RFC 1662 App. C FCS).
        assert_eq!(fcs16(FCS_INIT, b"123456789") ^ 0xffff, 0x906e);
        // RFC 1662 App. C.2: FCS over frame + transmitted FCS is 0xf0b8.
        let mut framed = heapless::Vec::<u8, 16>::from_slice(b"123456789").unwrap();
        framed.extend_from_slice(&fcs_octets(b"123456789")).unwrap();
        assert_eq!(fcs16(FCS_INIT, &framed), FCS_GOOD);
        assert_eq!(fcs_octets(b"123456789"), [0x6e, 0x90]);
    }

    #[test]
    fn encoder_escapes_flag_escape_and_accm_characters() {
        let frame = [0xff, 0x03, 0xc0, 0x21, 0x7e, 0x7d, 0x01, 0x11, 0x20];
        let mut out = [0u8; 64];
        let n = Encoder::new(0x0000_0002).encode(&frame, &mut out).unwrap();
        let enc = &out[..n];
        assert_eq!(enc[0], FLAG);
        assert_eq!(enc[n - 1], FLAG);
        // 0x7e and 0x7d always escaped; 0x01 escaped by ACCM bit 1; 0x11 not.
        assert_eq!(
            &enc[1..12],
            &[0xff, 0x03, 0xc0, 0x21, 0x7d, 0x5e, 0x7d, 0x5d, 0x7d, 0x21, 0x11]
        );
        assert_eq!(n, Encoder::new(0x0000_0002).encoded_len(&frame));
        // With the default ACCM 0x11 is escaped as well.
        let n2 = Encoder::default().encode(&frame, &mut out).unwrap();
        assert!(out[..n2].windows(2).any(|w| w == [0x7d, 0x31]));
        assert_eq!(
            Encoder::default().encode(&frame, &mut [0u8; 8]),
            Err(Error::BufferTooSmall {
                needed: n2,
                available: 8
            })
        );
        assert!(n2 <= max_encoded_len(frame.len()));
    }

    #[test]
    fn chunked_decoding_equals_whole_and_round_trips() {
        let frames: [&[u8]; 3] = [
            &[0xff, 0x03, 0xc0, 0x21, 0x01, 0x01, 0x00, 0x04],
            &[0xff, 0x03, 0x00, 0x21, 0x7e, 0x7d, 0x00, 0x1f, 0x20, 0x99],
            &[0x21, 0x45, 0x00],
        ];
        let mut stream = [0u8; 256];
        let mut len = 0;
        for (i, f) in frames.iter().enumerate() {
            let enc = Encoder::new(if i == 0 { DEFAULT_ACCM } else { 0 });
            len += enc.encode(f, &mut stream[len..]).unwrap();
        }
        let stream = &stream[..len];
        let mut whole = heapless::Vec::new();
        let mut dec = Decoder::<64>::new();
        dec.set_rx_accm(0);
        decode_all(&mut dec, stream, &mut whole);
        assert_eq!(whole.len(), 3);
        for (got, want) in whole.iter().zip(frames.iter()) {
            assert_eq!(got.as_ref().unwrap().as_slice(), *want);
        }
        let mut bytewise = heapless::Vec::new();
        let mut dec = Decoder::<64>::new();
        dec.set_rx_accm(0);
        for b in stream {
            decode_all(&mut dec, core::slice::from_ref(b), &mut bytewise);
        }
        assert_eq!(bytewise, whole);
    }

    #[test]
    fn accepts_everything_escaped_whatever_was_negotiated() {
        // pptp-linux escapes every control character (ACCM 0xffffffff).
        let frame = [0xff, 0x03, 0x00, 0x21, 0x00, 0x01, 0x1f, 0x45];
        let mut out = [0u8; 64];
        let n = Encoder::new(DEFAULT_ACCM).encode(&frame, &mut out).unwrap();
        let mut dec = Decoder::<32>::new();
        dec.set_rx_accm(0);
        let d = dec.decode(&out[..n]);
        assert_eq!(d.frame, Some(Ok(&frame[..])));
        assert_eq!(d.consumed, n);
    }

    #[test]
    fn drops_unescaped_control_characters_flagged_in_rx_accm() {
        let frame = [0xff, 0x03, 0x00, 0x21, 0x45];
        let mut out = [0u8; 32];
        let n = Encoder::new(0).encode(&frame, &mut out).unwrap();
        // Insert an XON (0x11) in the middle, as a modem might.
        let mut noisy = heapless::Vec::<u8, 40>::new();
        noisy.extend_from_slice(&out[..3]).unwrap();
        noisy.push(0x11).unwrap();
        noisy.extend_from_slice(&out[3..n]).unwrap();
        // The sender escapes nothing (ACCM 0), so `03` arrives bare: flag
        // only XON in the receive map.
        let mut dec = Decoder::<32>::new();
        dec.set_rx_accm(1 << 0x11);
        assert_eq!(dec.decode(&noisy).frame, Some(Ok(&frame[..])));
        // With the default map the bare `03` is dropped too (RFC 1662 §7.1).
        let mut default = Decoder::<32>::new();
        assert!(matches!(
            default.decode(&noisy).frame,
            Some(Err(Error::BadFcs { .. }))
        ));
        let mut strict = Decoder::<32>::new();
        strict.set_rx_accm(0);
        assert!(matches!(
            strict.decode(&noisy).frame,
            Some(Err(Error::BadFcs { length: 8, .. }))
        ));
    }

    #[test]
    fn reports_bad_fcs_overlong_aborted_and_runt() {
        let frame = [0xff, 0x03, 0x00, 0x21, 0x45, 0x46];
        let mut out = [0u8; 32];
        let n = Encoder::new(0).encode(&frame, &mut out).unwrap();
        let mut corrupt = out;
        corrupt[5] ^= 0x01;
        let mut dec = Decoder::<32>::new();
        dec.set_rx_accm(0);
        let want_residue = {
            let mut body = [0u8; 8];
            body[..6].copy_from_slice(&frame);
            body[6..].copy_from_slice(&fcs_octets(&frame));
            body[4] ^= 0x01;
            fcs16(FCS_INIT, &body)
        };
        assert_eq!(
            dec.decode(&corrupt[..n]).frame,
            Some(Err(Error::BadFcs {
                residue: want_residue,
                length: 8
            }))
        );

        let mut small = Decoder::<7>::new();
        small.set_rx_accm(0);
        let d = small.decode(&out[..n]);
        assert_eq!(d.frame, Some(Err(Error::Overlong { limit: 7 })));
        // The decoder recovers: a frame that fits decodes next.
        let short = [0x21, 0x45, 0x46];
        let m = Encoder::new(0).encode(&short, &mut corrupt).unwrap();
        assert_eq!(small.decode(&corrupt[..m]).frame, Some(Ok(&short[..])));
        let mut exact = Decoder::<8>::new();
        exact.set_rx_accm(0);
        assert_eq!(exact.decode(&out[..n]).frame, Some(Ok(&frame[..])));

        let mut dec = Decoder::<32>::new();
        assert_eq!(
            dec.decode(&[FLAG, 0x01, 0x02, ESCAPE, FLAG]).frame,
            Some(Err(Error::Aborted))
        );
        assert_eq!(
            dec.decode(&[0x21, 0x45, 0x46, FLAG]).frame,
            Some(Err(Error::Runt { length: 3 }))
        );
        // Flags alone yield nothing.
        let d = dec.decode(&[FLAG, FLAG, FLAG]);
        assert_eq!((d.consumed, d.frame), (3, None));
        assert_eq!(dec.capacity(), 32);
    }

    #[test]
    fn slice_decoder_matches_the_owned_decoder() {
        let frame = [
            0xff, 0x03, 0xc0, 0x21, 0x09, 0x01, 0x00, 0x08, 0x7e, 0x7d, 0x01, 0x02,
        ];
        let mut enc = [0u8; 64];
        let n = Encoder::default().encode(&frame, &mut enc).unwrap();
        let mut storage = [0u8; 14];
        let mut dec = SliceDecoder::new(&mut storage);
        let mut got = None;
        for b in &enc[..n] {
            if let Some(r) = dec.decode(core::slice::from_ref(b)).frame {
                got = Some(r.map(|f| heapless::Vec::<u8, 16>::from_slice(f).unwrap()));
            }
        }
        assert_eq!(got.unwrap().unwrap().as_slice(), &frame[..]);
        // One octet less of storage: overlong, reported with the limit.
        let mut small = [0u8; 13];
        let mut dec = SliceDecoder::new(&mut small);
        assert_eq!(
            dec.decode(&enc[..n]).frame,
            Some(Err(Error::Overlong { limit: 13 }))
        );
        dec.reset();
    }
}
