//! Arbitrary byte chunks, host commands and clock steps into a server and
//! a client control connection. Invariants: no panic; poll_transmit never
//! reports more than the caller's buffer and only whole messages; the
//! outbound queue stays bounded; once a connection is closed and its events
//! are drained, it produces no more events or bytes; the call table never
//! exceeds MAX_CALLS.
#![no_main]

use arbitrary::Arbitrary;
use libfuzzer_sys::fuzz_target;
use pptp_core::control::{
    CallAccept, CallParams, CallRefusal, Config, Connection, ControlStream, Event, WanErrors,
    OUTBOUND_QUEUE,
};
use pptp_core::wire::control::MAX_MESSAGE_LEN;
use pptp_core::{Duration, Instant, Role};

const MAX_CALLS: usize = 4;

#[derive(Arbitrary, Debug)]
enum Step {
    /// Raw bytes into the machine, as if read from TCP.
    Input(Vec<u8>),
    /// The same through the backpressured entry point.
    InputPartial(Vec<u8>),
    ClearAll,
    /// Advance the clock (seconds) and run timers.
    Tick(u8),
    /// Drain output with a buffer of this size.
    Transmit(u8),
    PlaceCall(u16),
    Accept(u16, u16),
    Reject(u16, bool),
    Clear(u16),
    LinkInfo(u16, u32, u32),
    WanError(u16),
    Close,
    Collision(bool),
}

#[derive(Arbitrary, Debug)]
struct Input {
    server_first: bool,
    server_steps: Vec<Step>,
    client_steps: Vec<Step>,
}

fn run(role: Role, steps: &[Step]) {
    let mut now = Instant::ZERO;
    let config = Config {
        echo_interval: Duration::from_secs(5),
        echo_timeout: Duration::from_secs(5),
        reply_timeout: Duration::from_secs(10),
        ..Config::default()
    };
    let mut conn: Connection<MAX_CALLS> = Connection::new(role, config, now);
    let mut closed_and_drained = false;
    let mut buf = [0u8; 4 * MAX_MESSAGE_LEN];
    for step in steps {
        match step {
            Step::Input(bytes) => {
                let _ = conn.handle_input(now, bytes);
            }
            Step::InputPartial(bytes) => {
                if let Ok(n) = conn.handle_input_partial(now, bytes) {
                    assert!(n <= bytes.len());
                }
            }
            Step::ClearAll => {
                let _ = conn.clear_all_calls(now);
            }
            Step::Tick(secs) => {
                now += Duration::from_secs(u64::from(*secs));
                conn.handle_timeout(now);
            }
            Step::Transmit(size) => {
                let size = usize::from(*size).max(1) * 4;
                let size = size.min(buf.len());
                while let Some(t) = conn.poll_transmit(now, &mut buf[..size]) {
                    assert!(t.len <= size, "wrote past the buffer");
                    assert!(!closed_and_drained, "bytes after close");
                    // Only whole, well-framed messages come out.
                    let mut stream = ControlStream::new();
                    let mut input = &buf[..t.len];
                    let mut count = 0;
                    while let Some(_m) = stream.feed(&mut input).expect("own output frames") {
                        count += 1;
                    }
                    assert!(count >= 1);
                    assert_eq!(stream.buffered(), 0);
                }
            }
            Step::PlaceCall(id) => {
                let _ = conn.place_call(now, *id, &CallParams::default());
            }
            Step::Accept(peer, local) => {
                let _ = conn.accept_call(now, *peer, *local, &CallAccept::default());
            }
            Step::Reject(peer, no_resource) => {
                let refusal = if *no_resource {
                    CallRefusal::NoResource
                } else {
                    CallRefusal::DoNotAccept
                };
                let _ = conn.reject_call(now, *peer, refusal);
            }
            Step::Clear(id) => {
                let _ = conn.clear_call(now, *id);
            }
            Step::LinkInfo(id, s, r) => {
                let _ = conn.set_link_info(now, *id, *s, *r);
            }
            Step::WanError(id) => {
                let _ = conn.wan_error_notify(now, *id, &WanErrors::default());
            }
            Step::Close => {
                let _ = conn.close(now);
            }
            Step::Collision(higher) => conn.handle_collision(now, *higher),
        }
        assert!(conn.call_count() <= MAX_CALLS);
        assert!(conn.pending_transmit_count() <= OUTBOUND_QUEUE);
        assert!(conn
            .pending_transmit_len()
            .is_none_or(|l| l <= MAX_MESSAGE_LEN));
        let mut drained = 0;
        while let Some(event) = conn.poll_event() {
            assert!(!closed_and_drained, "event after close: {event:?}");
            drained += 1;
            if let Event::CallUp(up) = event {
                assert!(conn.call(up.local_call_id).is_some() || conn.is_closed());
            }
        }
        assert!(drained <= pptp_core::control::EVENT_QUEUE + 1);
        if conn.is_closed() {
            closed_and_drained = true;
            assert_eq!(conn.poll_timeout(), None);
        }
    }
}

fuzz_target!(|input: Input| {
    if input.server_first {
        run(Role::Server, &input.server_steps);
        run(Role::Client, &input.client_steps);
    } else {
        run(Role::Client, &input.client_steps);
        run(Role::Server, &input.server_steps);
    }
});
