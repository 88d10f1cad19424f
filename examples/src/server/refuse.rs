//! Control connections refused because the server is full.
//!
//! At `max_sessions` the server still accepts the TCP connection, waits for
//! the peer's Start-Control-Connection-Request and answers it with a
//! Start-Control-Connection-Reply carrying Result Code 2 (General error,
//! "Error Code indicates the problem") and Error Code 4 (No-Resource,
//! "insufficient resources to handle this command now") — RFC 2637 §2.2
//! and §2.16 — then closes. Dropping the connection unanswered (what the
//! server did before) leaves a Windows or pppd client to report a
//! network error and retry at once; a clear refusal tells it why.
//!
//! The close is graceful: after the reply our sending side is shut down
//! (FIN) and the socket is kept until the peer closes its side or
//! [`LINGER_MS`] pass, because closing a socket with unread input makes
//! Linux send a RST that can destroy the reply before the peer reads it.
//!
//! Refusals are bounded: at most [`MAX_PENDING`] connections wait at once
//! (beyond that the TCP connection is closed at once, counted), and each
//! waits at most [`SCCRQ_WAIT_MS`] for its request.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::io::{self, Read, Write};

use mio::net::TcpStream;
use mio::{Interest, Registry, Token};
use pptp_core::control::{Config as ControlConfig, ControlStream};
use pptp_core::wire::control::{
    ControlRepr, GeneralError, Sccrp, StartControlResult, MAX_MESSAGE_LEN, PROTOCOL_VERSION,
};

use super::timers::TimerHeap;

/// Refused connections waiting at once, at most.
pub const MAX_PENDING: usize = 1024;
/// How long a refused connection may take to send its SCCRQ.
pub const SCCRQ_WAIT_MS: u64 = 10_000;
/// How long the socket is kept after the reply for the peer to close.
pub const LINGER_MS: u64 = 2_000;

struct Pending {
    stream: TcpStream,
    reassembly: Box<ControlStream>,
    answered: bool,
}

/// The connections being refused and the counts for `status`.
pub(crate) struct Refusals {
    pending: HashMap<Token, Pending>,
    deadlines: TimerHeap<Token>,
    reply: Vec<u8>,
    /// SCCRPs with result 2 / error 4 sent.
    pub(crate) answered: u64,
    /// Refused connections closed without a reply (no SCCRQ in time,
    /// something else sent first, too many waiting).
    pub(crate) dropped: u64,
}

/// The refusal SCCRP (RFC 2637 §2.2 with §2.16 error 4), encoded once.
pub fn refusal_reply(host_name: &[u8]) -> Vec<u8> {
    let defaults = ControlConfig::default();
    let repr = ControlRepr::Sccrp(Sccrp {
        protocol_version: PROTOCOL_VERSION,
        result: StartControlResult::GeneralError,
        error: GeneralError::NoResource,
        framing_capabilities: defaults.framing_capabilities,
        bearer_capabilities: defaults.bearer_capabilities,
        maximum_channels: 0,
        firmware_revision: 0,
        host_name: &host_name[..host_name.len().min(64)],
        vendor_string: b"pptp-rs",
    });
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    match repr.emit(&mut buf) {
        Ok(n) => buf[..n].to_vec(),
        // Only a buffer or field size error is possible, and both are
        // ruled out above; an empty reply then just closes.
        Err(_) => Vec::new(),
    }
}

impl Refusals {
    /// No refusals yet; replies name the server `host_name`.
    pub(crate) fn new(host_name: &[u8]) -> Self {
        Refusals {
            pending: HashMap::new(),
            deadlines: TimerHeap::new(),
            reply: refusal_reply(host_name),
            answered: 0,
            dropped: 0,
        }
    }

    /// Whether `token` is a connection being refused.
    pub(crate) fn contains(&self, token: Token) -> bool {
        self.pending.contains_key(&token)
    }

    /// Takes a freshly accepted connection to refuse.
    pub(crate) fn add(
        &mut self,
        registry: &Registry,
        token: Token,
        mut stream: TcpStream,
        now: u64,
    ) {
        if self.pending.len() >= MAX_PENDING
            || registry
                .register(&mut stream, token, Interest::READABLE)
                .is_err()
        {
            self.dropped += 1;
            let _ = stream.shutdown(std::net::Shutdown::Both);
            return;
        }
        self.deadlines.set(token, Some(now + SCCRQ_WAIT_MS));
        self.pending.insert(
            token,
            Pending {
                stream,
                reassembly: Box::new(ControlStream::new()),
                answered: false,
            },
        );
    }

    /// Reads what the connection sent: answers its SCCRQ, or closes it.
    pub(crate) fn readable(&mut self, registry: &Registry, token: Token, now: u64) {
        let Some(p) = self.pending.get_mut(&token) else {
            return;
        };
        let mut buf = [0u8; 512];
        let close = loop {
            match p.stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(n) if p.answered => {
                    let _ = n; // after the reply, input is discarded
                }
                Ok(n) => {
                    let mut input = &buf[..n];
                    match answer(p, &mut input, &self.reply) {
                        Step::More => {}
                        Step::Answered => {
                            self.answered += 1;
                            self.deadlines.set(token, Some(now + LINGER_MS));
                        }
                        Step::Close => break true,
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break false,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(_) => break true,
            }
        };
        if close {
            self.close(registry, token);
        }
    }

    /// Closes the connections whose time is up.
    pub(crate) fn expire(&mut self, registry: &Registry, now: u64) {
        while let Some(token) = self.deadlines.pop_due(now) {
            self.close(registry, token);
        }
    }

    /// The earliest refusal deadline.
    pub(crate) fn next_deadline(&mut self) -> Option<u64> {
        self.deadlines.next_deadline()
    }

    /// One line for `status`.
    pub(crate) fn status_line(&self) -> String {
        let mut s = String::new();
        let _ = writeln!(
            s,
            "Refused at max_sessions: {} (SCCRP result 2 error 4 sent), {} closed unanswered, {} pending",
            self.answered,
            self.dropped,
            self.pending.len()
        );
        s
    }

    fn close(&mut self, registry: &Registry, token: Token) {
        self.deadlines.set(token, None);
        if let Some(mut p) = self.pending.remove(&token) {
            if !p.answered {
                self.dropped += 1;
            }
            let _ = registry.deregister(&mut p.stream);
            let _ = p.stream.shutdown(std::net::Shutdown::Both);
        }
    }
}

enum Step {
    More,
    Answered,
    Close,
}

/// Feeds bytes to the reassembler; on a complete SCCRQ sends `reply` and
/// half-closes.
fn answer(p: &mut Pending, input: &mut &[u8], reply: &[u8]) -> Step {
    let message = match p.reassembly.feed(input) {
        Ok(Some(m)) => m,
        Ok(None) => return Step::More,
        Err(_) => return Step::Close,
    };
    if !matches!(ControlRepr::parse_bytes(message), Ok(ControlRepr::Sccrq(_))) {
        // RFC 2637 §2.1: SCCRQ comes first; anything else on a connection
        // we are refusing anyway just ends it.
        return Step::Close;
    }
    // A fresh connection's send buffer is empty, so the 156 octets go in
    // one write; if not, the peer learns nothing more from a partial reply
    // than from the close. Bytes after the SCCRQ are discarded.
    if reply.is_empty() || !matches!(p.stream.write(reply), Ok(n) if n == reply.len()) {
        return Step::Close;
    }
    let _ = p.stream.shutdown(std::net::Shutdown::Write);
    p.answered = true;
    Step::Answered
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_is_sccrp_general_error_no_resource() {
        let bytes = refusal_reply(b"pptp-server");
        assert_eq!(bytes.len(), 156, "RFC 2637 §2.2: SCCRP is 156 octets");
        match ControlRepr::parse_bytes(&bytes).expect("parses") {
            ControlRepr::Sccrp(m) => {
                assert_eq!(m.result, StartControlResult::GeneralError);
                assert_eq!(u8::from(m.result), 2);
                assert_eq!(m.error, GeneralError::NoResource);
                assert_eq!(u8::from(m.error), 4);
                assert_eq!(m.protocol_version, PROTOCOL_VERSION);
                assert_eq!(m.host_name, b"pptp-server");
            }
            other => panic!("not an SCCRP: {other:?}"),
        }
        // An over-long host name is cut to the 64-octet field.
        let long = refusal_reply(&[b'h'; 100]);
        assert_eq!(long.len(), 156);
    }

    #[test]
    fn a_client_connection_machine_reads_it_as_a_refusal() {
        use pptp_core::control::{Connection, Event, TunnelDownReason};
        use pptp_core::{Instant, Role};
        let mut client: Connection<1> =
            Connection::new(Role::Client, ControlConfig::default(), Instant::ZERO);
        let mut sccrq = [0u8; 256];
        let n = client
            .poll_transmit(Instant::ZERO, &mut sccrq)
            .expect("SCCRQ")
            .len;
        assert!(matches!(
            ControlRepr::parse_bytes(&sccrq[..n]),
            Ok(ControlRepr::Sccrq(_))
        ));
        let _ = client.handle_input(Instant::ZERO, &refusal_reply(b"s"));
        let mut saw = None;
        while let Some(e) = client.poll_event() {
            if let Event::TunnelDown(r) = e {
                saw = Some(r);
            }
        }
        match saw {
            Some(TunnelDownReason::PeerRefused { .. }) => {}
            other => panic!("expected PeerRefused, got {other:?}"),
        }
        assert!(client.is_closed());
    }

    /// Over real loopback TCP: the SCCRQ is answered with the refusal, the
    /// server's side closes, and the counters say so.
    #[test]
    fn refuses_over_tcp_and_closes() {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let mut peer = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (accepted, _) = listener.accept().unwrap();
        accepted.set_nonblocking(true).unwrap();
        let poll = mio::Poll::new().unwrap();
        let mut refusals = Refusals::new(b"pptp-server");
        let token = Token(99);
        refusals.add(poll.registry(), token, TcpStream::from_std(accepted), 0);
        assert!(refusals.contains(token));
        assert_eq!(refusals.next_deadline(), Some(SCCRQ_WAIT_MS));

        // Nothing sent yet: nothing answered.
        refusals.readable(poll.registry(), token, 5);
        assert_eq!(refusals.answered, 0);
        assert!(refusals.contains(token));

        // A client's SCCRQ, in two pieces.
        let mut client: pptp_core::control::Connection<1> = pptp_core::control::Connection::new(
            pptp_core::Role::Client,
            ControlConfig::default(),
            pptp_core::Instant::ZERO,
        );
        let mut sccrq = [0u8; 256];
        let n = client
            .poll_transmit(pptp_core::Instant::ZERO, &mut sccrq)
            .unwrap()
            .len;
        peer.write_all(&sccrq[..10]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        refusals.readable(poll.registry(), token, 10);
        assert_eq!(refusals.answered, 0, "half an SCCRQ is not answered");
        peer.write_all(&sccrq[10..n]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(20));
        refusals.readable(poll.registry(), token, 20);
        assert_eq!(refusals.answered, 1);
        assert_eq!(refusals.next_deadline(), Some(20 + LINGER_MS));

        // The peer reads exactly the refusal, then the end of the stream.
        peer.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .unwrap();
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, refusal_reply(b"pptp-server"));

        // The peer closes too: the server side is released, not "dropped".
        drop(peer);
        std::thread::sleep(std::time::Duration::from_millis(20));
        refusals.readable(poll.registry(), token, 30);
        assert!(!refusals.contains(token));
        assert_eq!((refusals.answered, refusals.dropped), (1, 0));
        assert!(refusals
            .status_line()
            .contains("Refused at max_sessions: 1 "));
    }

    #[test]
    fn silent_or_wrong_peers_are_closed_and_counted() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let poll = mio::Poll::new().unwrap();
        let mut refusals = Refusals::new(b"s");
        // One says nothing until the deadline; one sends garbage.
        let _silent = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (a, _) = listener.accept().unwrap();
        a.set_nonblocking(true).unwrap();
        refusals.add(poll.registry(), Token(1), TcpStream::from_std(a), 0);
        let mut noisy = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (b, _) = listener.accept().unwrap();
        b.set_nonblocking(true).unwrap();
        refusals.add(poll.registry(), Token(2), TcpStream::from_std(b), 0);
        noisy.write_all(&[0u8; 16]).unwrap(); // bad magic cookie
        std::thread::sleep(std::time::Duration::from_millis(20));
        refusals.readable(poll.registry(), Token(2), 1);
        assert!(!refusals.contains(Token(2)));
        refusals.expire(poll.registry(), SCCRQ_WAIT_MS - 1);
        assert!(refusals.contains(Token(1)));
        refusals.expire(poll.registry(), SCCRQ_WAIT_MS);
        assert!(!refusals.contains(Token(1)));
        assert_eq!((refusals.answered, refusals.dropped), (0, 2));
        assert_eq!(refusals.next_deadline(), None);
    }
}
