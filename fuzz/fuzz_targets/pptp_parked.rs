//! A parked server control connection (`ParkedConnection`) against a
//! never-parked twin. A client and two servers are set up in process (one
//! call, as a Windows client opens it); the first server is parked, the
//! twin stays a full `Connection`. Both get the same bytes (raw, or
//! well-formed messages of every type, split into chunks whose sizes come
//! from the input), the same clock steps and the same host commands. The
//! parked side is driven as a host drives it: unparked when it asks (or
//! for a host command), parked again whenever `Connection::park` accepts.
//!
//! Invariants after every step:
//! - no panic; `handle_input` never reports more octets than it was given;
//! - `poll_transmit` never writes past the caller's buffer, on either form;
//! - the parked side and the twin agree on everything observable: the
//!   bytes sent, the events, the counters, the next timer, the calls and
//!   whether the connection is closed.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pptp_core::control::{
    CallAccept, CallParams, CallSnapshot, Config, Connection, Event, NeedsConnection,
    ParkedConnection, TunnelStats, WanErrors,
};
use pptp_core::wire::control::{
    BearerCapabilities, Ccrq, Cdn, ControlRepr, DisconnectResult, EchoReply, EchoRequest,
    EchoResult, FramingCapabilities, GeneralError, Iccn, Icrp, Icrq, IncomingCallResult, Ocrp,
    Ocrq, OutgoingCallResult, Sccrp, Sccrq, Sli, StartControlResult, StopCcrp, StopCcrq,
    StopReason, StopResult, Wen, MAX_MESSAGE_LEN, PROTOCOL_VERSION,
};
use pptp_core::{Duration, Instant, Role};

type Conn = Connection<1>;

const CLIENT_CALL: u16 = 7;
const SERVER_CALL: u16 = 42;

#[derive(Arbitrary, Debug)]
enum Step {
    /// Bytes from the client; `chunks` gives the sizes the TCP reads
    /// split them into (0 means 1), the last read takes the rest.
    Raw { chunks: Vec<u8>, bytes: Vec<u8> },
    /// A well-formed message chosen by `kind`, with an identifier or call
    /// ID from `id`, read in pieces of `chunk` octets (0: whole).
    Message { kind: u8, id: u8, chunk: u8 },
    /// The clock moves on (seconds) and both run their timers.
    Tick(u8),
    /// The hosts drain output through buffers of this size (×4 octets).
    Transmit(u8),
    /// A host command (needs the full connection).
    Command(u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    short_timers: bool,
    steps: Vec<Step>,
}

fn drain(conn: &mut Conn, now: Instant, out: &mut Vec<u8>) {
    let mut buf = [0u8; 4 * MAX_MESSAGE_LEN];
    while let Some(t) = conn.poll_transmit(now, &mut buf) {
        assert!(t.len <= buf.len());
        out.extend_from_slice(&buf[..t.len]);
    }
}

/// A client and a server with one established call, queues drained.
fn established(config: &Config, now: Instant) -> Conn {
    let mut client = Conn::new(Role::Client, config.clone(), now);
    let mut server = Conn::new(Role::Server, config.clone(), now);
    loop {
        let (mut c2s, mut s2c) = (Vec::new(), Vec::new());
        drain(&mut client, now, &mut c2s);
        let _ = server.handle_input(now, &c2s);
        drain(&mut server, now, &mut s2c);
        let _ = client.handle_input(now, &s2c);
        let mut events = false;
        while let Some(event) = client.poll_event() {
            events = true;
            if let Event::TunnelUp(_) = event {
                let _ = client.place_call(now, CLIENT_CALL, &CallParams::default());
            }
        }
        while let Some(event) = server.poll_event() {
            events = true;
            if let Event::CallRequested(r) = event {
                let _ =
                    server.accept_call(now, r.peer_call_id, SERVER_CALL, &CallAccept::default());
            }
        }
        if c2s.is_empty() && s2c.is_empty() && !events {
            return server;
        }
    }
}

/// One server as its host drives it.
struct Host {
    config: Config,
    may_park: bool,
    parked: Option<ParkedConnection>,
    full: Option<Conn>,
    out: Vec<u8>,
    events: Vec<Event>,
    /// Size of the caller's buffer for poll_transmit.
    buf_len: usize,
}

impl Host {
    fn new(config: &Config, now: Instant, may_park: bool) -> Self {
        let mut host = Host {
            config: config.clone(),
            may_park,
            parked: None,
            full: Some(established(config, now)),
            out: Vec::new(),
            events: Vec::new(),
            buf_len: 4 * MAX_MESSAGE_LEN,
        };
        host.settle(now);
        host
    }

    fn unpark(&mut self, now: Instant) {
        if let Some(parked) = self.parked.take() {
            self.full = Some(Connection::unpark(parked, self.config.clone(), now));
        }
    }

    fn full(&mut self) -> &mut Conn {
        self.full.as_mut().expect("unparked")
    }

    /// Output through the caller's buffer size; a host whose buffer is
    /// too small for the next message retries with a large one.
    fn transmit(&mut self, now: Instant) {
        let mut buf = [0u8; 4 * MAX_MESSAGE_LEN];
        let size = self.buf_len;
        loop {
            let (t, pending) = match (&mut self.parked, &mut self.full) {
                (Some(p), _) => (
                    p.poll_transmit(now, &mut buf[..size]),
                    p.pending_transmit_len(),
                ),
                (None, Some(f)) => (
                    f.poll_transmit(now, &mut buf[..size]),
                    f.pending_transmit_len(),
                ),
                (None, None) => unreachable!(),
            };
            match t {
                Some(t) => {
                    assert!(t.len <= size, "wrote past the caller's buffer");
                    assert!(t.len >= 1);
                    self.out.extend_from_slice(&buf[..t.len]);
                }
                None => {
                    let Some(len) = pending else { break };
                    assert!(len > size && len <= MAX_MESSAGE_LEN);
                    let t = match (&mut self.parked, &mut self.full) {
                        (Some(p), _) => p.poll_transmit(now, &mut buf),
                        (None, Some(f)) => f.poll_transmit(now, &mut buf),
                        (None, None) => unreachable!(),
                    }
                    .expect("fits the large buffer");
                    self.out.extend_from_slice(&buf[..t.len]);
                }
            }
        }
    }

    /// Events and output of the full connection; then park if allowed.
    fn settle(&mut self, now: Instant) {
        if let Some(full) = self.full.as_mut() {
            while let Some(event) = full.poll_event() {
                self.events.push(event);
            }
        }
        self.transmit(now);
        if self.may_park {
            if let Some(full) = self.full.take() {
                match full.park() {
                    Ok(parked) => self.parked = Some(parked),
                    Err(full) => self.full = Some(full),
                }
            }
        }
    }

    fn input(&mut self, now: Instant, bytes: &[u8]) {
        let mut rest = bytes;
        while let Some(parked) = self.parked.as_mut() {
            match parked.handle_input(now, rest) {
                Ok(n) => {
                    assert!(n <= rest.len());
                    rest = &rest[n..];
                    let blocked = parked.pending_transmit_len().is_some();
                    self.transmit(now);
                    if rest.is_empty() {
                        return;
                    }
                    assert!(n > 0 || blocked, "no progress");
                }
                Err(NeedsConnection { consumed }) => {
                    assert!(consumed <= rest.len());
                    rest = &rest[consumed..];
                    self.unpark(now);
                }
            }
        }
        // The full machine, with backpressure so that neither side drops
        // anything whatever the chunk size.
        loop {
            if rest.is_empty() {
                break;
            }
            let full = self.full();
            match full.handle_input_partial(now, rest) {
                Ok(n) => {
                    assert!(n <= rest.len());
                    rest = &rest[n..];
                }
                Err(_) => break,
            }
            let full = self.full();
            let mut events = Vec::new();
            while let Some(event) = full.poll_event() {
                events.push(event);
            }
            self.events.extend(events);
            self.transmit(now);
        }
        self.settle(now);
    }

    fn timeout(&mut self, now: Instant) {
        if let Some(parked) = self.parked.as_mut() {
            parked.handle_timeout(now);
            let wake = parked.needs_connection();
            self.transmit(now);
            if !wake {
                return;
            }
            self.unpark(now);
        }
        self.full().handle_timeout(now);
        self.settle(now);
    }

    fn command(&mut self, now: Instant, which: u8) {
        self.unpark(now);
        let full = self.full();
        let _ = match which % 6 {
            0 => full.clear_call(now, SERVER_CALL),
            1 => full.close(now),
            2 => full.wan_error_notify(now, SERVER_CALL, &WanErrors::default()),
            3 => full.clear_all_calls(now),
            4 => full.place_call(now, 9, &CallParams::default()),
            // Nothing: unpark only, then park again.
            _ => Ok(()),
        };
        self.settle(now);
    }

    fn observe(&self) -> (TunnelStats, Option<Instant>, Vec<CallSnapshot>, bool) {
        match (&self.parked, &self.full) {
            (Some(p), _) => (*p.stats(), p.poll_timeout(), vec![p.call()], false),
            (None, Some(f)) => (
                *f.stats(),
                f.poll_timeout(),
                f.calls().collect(),
                f.is_closed(),
            ),
            (None, None) => unreachable!(),
        }
    }
}

fn message(kind: u8, id: u8) -> Vec<u8> {
    let id32 = u32::from(id);
    // Half the time the real call IDs, otherwise whatever `id` says.
    let (ours, theirs) = if id & 1 == 0 {
        (SERVER_CALL, CLIENT_CALL)
    } else {
        (u16::from(id), u16::from(id))
    };
    let none: &[u8] = &[];
    let repr = match kind % 16 {
        0 | 1 => ControlRepr::EchoRequest(EchoRequest { identifier: id32 }),
        2 | 3 => ControlRepr::EchoReply(EchoReply {
            identifier: id32 >> 1,
            result: EchoResult::from(id & 3),
            error: GeneralError::None,
        }),
        4 => ControlRepr::Ccrq(Ccrq { call_id: theirs }),
        5 => ControlRepr::Cdn(Cdn {
            call_id: theirs,
            result: DisconnectResult::LostCarrier,
            error: GeneralError::None,
            cause_code: 0,
            call_statistics: b"fuzz",
        }),
        6 => ControlRepr::Sli(Sli {
            peer_call_id: ours,
            send_accm: 0,
            receive_accm: id32,
        }),
        7 => ControlRepr::Wen(Wen {
            peer_call_id: ours,
            crc_errors: id32,
            framing_errors: 0,
            hardware_overruns: 0,
            buffer_overruns: 0,
            timeout_errors: 0,
            alignment_errors: 0,
        }),
        8 => ControlRepr::StopCcrq(StopCcrq {
            reason: StopReason::from(id % 4),
        }),
        9 => ControlRepr::StopCcrp(StopCcrp {
            result: StopResult::Ok,
            error: GeneralError::None,
        }),
        10 => ControlRepr::Ocrq(Ocrq {
            call_id: theirs,
            call_serial_number: 0,
            minimum_bps: 0,
            maximum_bps: 0,
            bearer_type: BearerCapabilities::ANY,
            framing_type: FramingCapabilities::EITHER,
            packet_recv_window_size: 16,
            packet_processing_delay: 0,
            phone_number_length: 0,
            phone_number: none,
            subaddress: none,
        }),
        11 => ControlRepr::Icrq(Icrq {
            call_id: theirs,
            call_serial_number: 0,
            call_bearer_type: BearerCapabilities::ANY,
            physical_channel_id: 0,
            dialed_number_length: 0,
            dialing_number_length: 0,
            dialed_number: none,
            dialing_number: none,
            subaddress: none,
        }),
        12 => ControlRepr::Sccrq(Sccrq {
            protocol_version: PROTOCOL_VERSION,
            framing_capabilities: FramingCapabilities::EITHER,
            bearer_capabilities: BearerCapabilities::ANY,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name: none,
            vendor_string: none,
        }),
        13 => ControlRepr::Sccrp(Sccrp {
            protocol_version: PROTOCOL_VERSION,
            result: StartControlResult::Ok,
            error: GeneralError::None,
            framing_capabilities: FramingCapabilities::EITHER,
            bearer_capabilities: BearerCapabilities::ANY,
            maximum_channels: 0,
            firmware_revision: 0,
            host_name: none,
            vendor_string: none,
        }),
        14 => ControlRepr::Ocrp(Ocrp {
            call_id: theirs,
            peer_call_id: ours,
            result: OutgoingCallResult::Connected,
            error: GeneralError::None,
            cause_code: 0,
            connect_speed: 0,
            packet_recv_window_size: 0,
            packet_processing_delay: 0,
            physical_channel_id: 0,
        }),
        _ if id & 2 == 0 => ControlRepr::Icrp(Icrp {
            call_id: theirs,
            peer_call_id: ours,
            result: IncomingCallResult::Connect,
            error: GeneralError::None,
            packet_recv_window_size: 0,
            packet_transmit_delay: 0,
        }),
        _ => ControlRepr::Iccn(Iccn {
            peer_call_id: ours,
            connect_speed: 0,
            packet_recv_window_size: 0,
            packet_transmit_delay: 0,
            framing_type: FramingCapabilities::EITHER,
        }),
    };
    let mut buf = [0u8; MAX_MESSAGE_LEN];
    let n = repr.emit(&mut buf).expect("fits");
    buf[..n].to_vec()
}

fn run(input: &Input) {
    let config = if input.short_timers {
        Config {
            echo_interval: Duration::from_secs(5),
            echo_timeout: Duration::from_secs(3),
            reply_timeout: Duration::from_secs(10),
            host_answer_timeout: Duration::from_secs(4),
            ..Config::default()
        }
    } else {
        Config::default()
    };
    let mut now = Instant::from_millis(1_000);
    let mut host = Host::new(&config, now, true);
    let mut twin = Host::new(&config, now, false);
    assert!(
        host.parked.is_some(),
        "an established one-call server parks"
    );
    for step in &input.steps {
        match step {
            Step::Raw { chunks, bytes } => {
                let mut rest = &bytes[..];
                let mut sizes = chunks.iter();
                while !rest.is_empty() {
                    let n = sizes
                        .next()
                        .map_or(rest.len(), |&s| usize::from(s).max(1))
                        .min(rest.len());
                    let (piece, tail) = rest.split_at(n);
                    host.input(now, piece);
                    twin.input(now, piece);
                    rest = tail;
                }
            }
            Step::Message { kind, id, chunk } => {
                let bytes = message(*kind, *id);
                let size = if *chunk == 0 {
                    bytes.len()
                } else {
                    usize::from(*chunk)
                };
                for piece in bytes.chunks(size) {
                    host.input(now, piece);
                    twin.input(now, piece);
                }
            }
            Step::Tick(secs) => {
                now += Duration::from_secs(u64::from(*secs));
                host.timeout(now);
                twin.timeout(now);
            }
            Step::Transmit(size) => {
                let size = (usize::from(*size) * 4).clamp(1, 4 * MAX_MESSAGE_LEN);
                host.buf_len = size;
                twin.buf_len = size;
                host.transmit(now);
                twin.transmit(now);
            }
            Step::Command(which) => {
                host.command(now, *which);
                twin.command(now, *which);
            }
        }
        assert_eq!(host.events, twin.events, "events");
        assert_eq!(host.out, twin.out, "bytes sent");
        assert_eq!(
            host.observe(),
            twin.observe(),
            "stats, timer, calls, closed"
        );
    }
}

fuzz_target!(|input: Input| run(&input));
