//! Reassembly of control messages from the TCP byte stream.
//!
//! TCP delivers the control channel as a byte stream: one `read` may hold
//! part of a message, exactly one, or several. [`ControlStream`] takes the
//! bytes in chunks of any size and hands out whole messages, holding at
//! most one partial message ([`MAX_MESSAGE_LEN`] octets) in between.
//!
//! # Malformed input policy
//!
//! The only thing that keeps a receiver in step with a PPTP byte stream is
//! the Length field, and the only check that it is still in step is the
//! Magic Cookie (RFC 2637 §1.4: "the Magic Cookie ... is used by the
//! receiver to ensure that it is properly synchronized with the TCP data
//! stream"). So the reassembler distinguishes two kinds of bad input:
//!
//! * **Framing errors** — a wrong magic cookie, or a Length field shorter
//!   than the header or longer than any control message. The position of
//!   the next message cannot be known, the stream cannot be
//!   resynchronised, and the reassembler fails for good: every later call
//!   returns the same error. [`crate::control::Connection`] then closes
//!   the control connection (the host closes the TCP connection); RFC 2637
//!   §3.1.4 lets a peer close the TCP connection whenever the control
//!   connection is unusable.
//! * **Message errors** — a PPTP Message Type other than 1, an unknown
//!   Control Message Type, or a Length that does not match a known type.
//!   The Length still frames the message, so the reassembler returns it
//!   and stays in step; [`crate::wire::control::ControlMessage::new_checked`]
//!   reports the typed error and the connection machine decides: by
//!   default it follows RFC 2637 §3 ("the control connection should be
//!   closed and restarted") but, since the stream is still in step, it can
//!   first send Stop-Control-Connection-Request, or drop the message if
//!   configured to (see [`crate::control::Config::close_on_malformed`]).

use crate::wire::control::{WireError, HEADER_LEN, MAGIC_COOKIE, MAX_MESSAGE_LEN};

/// Reassembles control messages from TCP stream chunks (see the module
/// docs for the error policy).
#[derive(Clone, Debug)]
pub struct ControlStream {
    buffer: [u8; MAX_MESSAGE_LEN],
    filled: usize,
    /// Length of the message being assembled, known once the header is in.
    expected: Option<usize>,
    failed: Option<WireError>,
}

impl Default for ControlStream {
    fn default() -> Self {
        Self::new()
    }
}

impl ControlStream {
    /// Capacity of the internal buffer: the longest control message.
    pub const CAPACITY: usize = MAX_MESSAGE_LEN;

    /// An empty reassembler.
    pub const fn new() -> Self {
        ControlStream {
            buffer: [0; MAX_MESSAGE_LEN],
            filled: 0,
            expected: None,
            failed: None,
        }
    }

    /// Octets of a partial message currently held.
    pub fn buffered(&self) -> usize {
        self.filled
    }

    /// The framing error that stopped this reassembler, if any.
    pub fn error(&self) -> Option<WireError> {
        self.failed
    }

    /// Consumes bytes from the front of `input` until one message is
    /// complete and returns it (it stays valid until the next call), or
    /// returns `Ok(None)` once `input` is used up without completing one.
    ///
    /// The returned message has a valid cookie and a Length between 12 and
    /// [`MAX_MESSAGE_LEN`]; its other header fields are not checked here.
    /// After a framing error, `input` is left where the error was found
    /// and every later call returns the same error.
    pub fn feed<'s>(&'s mut self, input: &mut &[u8]) -> Result<Option<&'s [u8]>, WireError> {
        if let Some(error) = self.failed {
            return Err(error);
        }
        loop {
            let target = self.expected.unwrap_or(HEADER_LEN);
            let want = target.saturating_sub(self.filled);
            if want == 0 {
                if self.expected.is_none() {
                    // Header complete: learn the length or fail for good.
                    match self.frame_length() {
                        Ok(len) => {
                            self.expected = Some(len);
                            continue;
                        }
                        Err(error) => {
                            self.failed = Some(error);
                            return Err(error);
                        }
                    }
                }
                let len = self.filled;
                self.filled = 0;
                self.expected = None;
                return Ok(self.buffer.get(..len));
            }
            if input.is_empty() {
                return Ok(None);
            }
            let take = want.min(input.len());
            let (head, rest) = input.split_at(take);
            if let Some(dst) = self.buffer.get_mut(self.filled..self.filled + take) {
                dst.copy_from_slice(head);
            }
            self.filled += take;
            *input = rest;
        }
    }

    /// The octets of the partial message held (what
    /// [`crate::control::Connection::park`] carries over).
    pub(crate) fn partial(&self) -> &[u8] {
        self.buffer.get(..self.filled).unwrap_or(&[])
    }

    /// A reassembler that already holds `bytes` (at most
    /// [`MAX_MESSAGE_LEN`]; any excess is dropped) as the start of the next
    /// message, as if they had been fed. The header is not checked here:
    /// the next [`ControlStream::feed`], even with no input, checks it as
    /// soon as 12 octets are held and then returns a message that is
    /// already complete, or the framing error.
    pub(crate) fn with_partial(bytes: &[u8]) -> Self {
        let mut stream = Self::new();
        let n = bytes.len().min(MAX_MESSAGE_LEN);
        if let (Some(dst), Some(src)) = (stream.buffer.get_mut(..n), bytes.get(..n)) {
            dst.copy_from_slice(src);
        }
        // `expected` stays None: `feed` computes `want` with a saturating
        // subtraction, so with 12 or more octets held it goes straight to
        // the header check and learns the length there.
        stream.filled = n;
        stream
    }

    fn frame_length(&self) -> Result<usize, WireError> {
        let b = &self.buffer;
        let cookie = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        if cookie != MAGIC_COOKIE {
            return Err(WireError::BadMagicCookie(cookie));
        }
        let length = u16::from_be_bytes([b[0], b[1]]);
        let len = usize::from(length);
        if !(HEADER_LEN..=MAX_MESSAGE_LEN).contains(&len) {
            return Err(WireError::BadLength {
                message_type: u16::from_be_bytes([b[8], b[9]]),
                length,
            });
        }
        Ok(len)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const ECHO: [u8; 16] = [
        0x00, 0x10, 0x00, 0x01, 0x1a, 0x2b, 0x3c, 0x4d, 0x00, 0x05, 0x00, 0x00, 0x00, 0x00, 0x00,
        0x01,
    ];

    fn collect(stream: &mut ControlStream, mut input: &[u8], out: &mut [[u8; 16]; 4]) -> usize {
        let mut n = 0;
        while let Some(m) = stream.feed(&mut input).unwrap() {
            out[n].copy_from_slice(m);
            n += 1;
        }
        assert!(input.is_empty());
        n
    }

    #[test]
    fn several_messages_in_one_chunk() {
        let mut both = [0u8; 32];
        both[..16].copy_from_slice(&ECHO);
        both[16..].copy_from_slice(&ECHO);
        let mut s = ControlStream::new();
        let mut out = [[0u8; 16]; 4];
        assert_eq!(collect(&mut s, &both, &mut out), 2);
        assert_eq!(out[0], ECHO);
        assert_eq!(out[1], ECHO);
        assert_eq!(s.buffered(), 0);
    }

    #[test]
    fn byte_by_byte() {
        let mut s = ControlStream::new();
        for (i, b) in ECHO.iter().enumerate() {
            let mut input = core::slice::from_ref(b);
            let got = s.feed(&mut input).unwrap().map(|m| m.len());
            if i + 1 == ECHO.len() {
                assert_eq!(got, Some(16));
            } else {
                assert_eq!(got, None);
                assert_eq!(s.buffered(), i + 1);
            }
        }
    }

    #[test]
    fn bad_cookie_is_fatal_and_sticky() {
        let mut bad = ECHO;
        bad[7] = 0x4e;
        let mut s = ControlStream::new();
        let mut input = &bad[..];
        assert_eq!(
            s.feed(&mut input),
            Err(WireError::BadMagicCookie(0x1a2b3c4e))
        );
        assert_eq!(input.len(), 4, "stopped right after the header");
        let mut more = &ECHO[..];
        assert_eq!(
            s.feed(&mut more),
            Err(WireError::BadMagicCookie(0x1a2b3c4e))
        );
        assert_eq!(s.error(), Some(WireError::BadMagicCookie(0x1a2b3c4e)));
    }

    #[test]
    fn length_outside_bounds_is_fatal() {
        for length in [0u16, 11, 221, 0xffff] {
            let mut bad = ECHO;
            bad[..2].copy_from_slice(&length.to_be_bytes());
            let mut s = ControlStream::new();
            let mut input = &bad[..];
            assert_eq!(
                s.feed(&mut input),
                Err(WireError::BadLength {
                    message_type: 5,
                    length
                })
            );
        }
    }

    #[test]
    fn with_partial_resumes_where_feeding_stopped() {
        // A partial header, a header plus part of the body, and a whole
        // message: each resumes exactly as if the octets had been fed.
        for split in [0, 5, 12, 14, 16] {
            let mut s = ControlStream::with_partial(&ECHO[..split]);
            assert_eq!(s.partial(), &ECHO[..split]);
            let mut rest = &ECHO[split..];
            assert_eq!(s.feed(&mut rest), Ok(Some(&ECHO[..])), "split {split}");
            assert!(rest.is_empty());
            assert_eq!(s.buffered(), 0);
        }
        let mut bad = ECHO;
        bad[4] = 0;
        let mut s = ControlStream::with_partial(&bad[..12]);
        let mut none: &[u8] = &[];
        assert_eq!(
            s.feed(&mut none),
            Err(WireError::BadMagicCookie(0x002b3c4d))
        );
    }

    #[test]
    fn unknown_type_with_sane_length_is_framed() {
        let mut odd = ECHO;
        odd[9] = 0x63; // control type 99
        let mut s = ControlStream::new();
        let mut input = &odd[..];
        assert_eq!(s.feed(&mut input), Ok(Some(&odd[..])));
    }
}
