use super::*;

/// Requests MRU 1500; judges peer options: type 1 ack, 2 nak, 3 reject.
#[derive(Debug, Default)]
struct TestHandler {
    naks: u32,
    rejects: u32,
    acks: u32,
    give_up_on_nak: bool,
    resets: u32,
}

impl OptionHandler for TestHandler {
    fn protocol(&self) -> u16 {
        0x8021
    }
    fn reset_request(&mut self) {
        self.resets += 1;
    }
    fn build_request(&mut self, out: &mut OptionWriter<'_>) -> Result<(), WireError> {
        out.push(1, &[0x05, 0xdc])
    }
    fn process_request(&mut self, options: Options<'_>, response: &mut ResponseBuilder) {
        for opt in options.iter() {
            match opt.kind {
                1 => {}
                2 => response.nak(opt, 2, &[0]),
                _ => response.reject(opt),
            }
        }
    }
    fn on_ack(&mut self, _: Options<'_>) {
        self.acks += 1;
    }
    fn on_nak(&mut self, _: Options<'_>) -> Progress {
        self.naks += 1;
        if self.give_up_on_nak {
            Progress::GiveUp
        } else {
            Progress::Continue
        }
    }
    fn on_reject(&mut self, _: Options<'_>) -> Progress {
        self.rejects += 1;
        Progress::Continue
    }
    fn handle_other(
        &mut self,
        _: Instant,
        _: State,
        packet: &Packet<&[u8]>,
        _: &mut Outbox<'_>,
    ) -> OtherCode {
        match packet.code() {
            Code::EchoRequest => OtherCode::EchoRequest,
            Code::EchoReply | Code::DiscardRequest => OtherCode::Rxr,
            _ => OtherCode::Unknown,
        }
    }
    fn echo_magic(&self) -> u32 {
        0x1122_3344
    }
}

/// RFC 1661 §4.1, transcribed cell by cell: rows are events in RFC
/// order, columns states 0..=9.
const RFC_1661_TABLE: &str = "
Up   | 2      | irc,scr/6 | -     | -             | -      | -      | -         | -         | -         | -
Down | -      | -         | 0     | tls/1         | 0      | 1      | 1         | 1         | 1         | tld/1
Open | tls/1  | 1         | irc,scr/6 | 3r        | 5r     | 5r     | 6         | 7         | 8         | 9r
Close| 0      | tlf/0     | 2     | 2             | 4      | 4      | irc,str/4 | irc,str/4 | irc,str/4 | tld,irc,str/4
TO+  | -      | -         | -     | -             | str/4  | str/5  | scr/6     | scr/6     | scr/8     | -
TO-  | -      | -         | -     | -             | tlf/2  | tlf/3  | tlf/3p    | tlf/3p    | tlf/3p    | -
RCR+ | -      | -         | sta/2 | irc,scr,sca/8 | 4      | 5      | sca/8     | sca,tlu/9 | sca/8     | tld,scr,sca/8
RCR- | -      | -         | sta/2 | irc,scr,scn/6 | 4      | 5      | scn/6     | scn/7     | scn/6     | tld,scr,scn/6
RCA  | -      | -         | sta/2 | sta/3         | 4      | 5      | irc/7     | scr/6x    | irc,tlu/9 | tld,scr/6x
RCN  | -      | -         | sta/2 | sta/3         | 4      | 5      | irc,scr/6 | scr/6x    | irc,scr/8 | tld,scr/6x
RTR  | -      | -         | sta/2 | sta/3         | sta/4  | sta/5  | sta/6     | sta/6     | sta/6     | tld,zrc,sta/5
RTA  | -      | -         | 2     | 3             | tlf/2  | tlf/3  | 6         | 6         | 8         | tld,scr/6
RUC  | -      | -         | scj/2 | scj/3         | scj/4  | scj/5  | scj/6     | scj/7     | scj/8     | scj/9
RXJ+ | -      | -         | 2     | 3             | 4      | 5      | 6         | 6         | 8         | 9
RXJ- | -      | -         | tlf/2 | tlf/3         | tlf/2  | tlf/3  | tlf/3     | tlf/3     | tlf/3     | tld,irc,str/5
RXR  | -      | -         | 2     | 3             | 4      | 5      | 6         | 7         | 8         | ser/9
";

const T0: Instant = Instant::from_millis(10_000);
const START_COUNT: u8 = 5;

/// Drives `event` into a machine in `state` through its public inputs.
fn inject(m: &mut Fsm<TestHandler>, event: Event) {
    let req_id = m.request_identifier();
    let ack = [2u8, req_id, 0, 8, 1, 4, 0x05, 0xdc];
    let nak = [3u8, req_id, 0, 8, 1, 4, 0x05, 0xd0];
    let packet: &[u8] = match event {
        Event::Up => return m.up(T0),
        Event::Down => return m.down(T0),
        Event::Open => return m.open(T0),
        Event::Close => return m.close(T0, b"bye"),
        Event::TimeoutRetry | Event::TimeoutExpired => {
            return m.handle_timeout(T0 + Duration::from_secs(3))
        }
        Event::RcrGood => &[1, 0x42, 0, 8, 1, 4, 0x05, 0xdc],
        Event::RcrBad => &[1, 0x42, 0, 7, 2, 3, 7],
        Event::Rca => &ack,
        Event::Rcn => &nak,
        Event::Rtr => &[5, 0x43, 0, 4],
        Event::Rta => &[6, 0x44, 0, 4],
        Event::Ruc => &[0x55, 0x45, 0, 4],
        Event::RxjGood => &[7, 0x46, 0, 8, 9, 1, 0, 4],
        Event::RxjBad => &[7, 0x46, 0, 8, 1, 1, 0, 4],
        Event::Rxr => &[9, 0x47, 0, 10, 0, 0, 0, 0, 0xaa, 0xbb],
    };
    let _ = m.handle_packet(T0, packet);
}

#[test]
fn every_cell_of_the_rfc1661_transition_table() {
    let rows: heapless::Vec<&str, 32> = RFC_1661_TABLE
        .lines()
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert_eq!(rows.len(), Event::ALL.len());
    let mut checked = 0;
    for (row, &event) in rows.iter().zip(Event::ALL.iter()) {
        let cells: heapless::Vec<&str, 12> = row.split('|').map(str::trim).collect();
        assert_eq!(cells.len(), 11, "{row}");
        for (&state, cell) in State::ALL.iter().zip(cells[1..].iter()) {
            // "acts/N" or "N" or "-"; footnote letters r/p/x dropped.
            let (acts, next) = match cell.rsplit_once('/') {
                Some((a, n)) => (a, n),
                None => ("", *cell),
            };
            let next_state = match next.trim_end_matches(['r', 'p', 'x']) {
                "-" => state,
                n => State::ALL[n.parse::<usize>().unwrap()],
            };
            let acts: heapless::Vec<&str, 4> = acts.split(',').filter(|a| !a.is_empty()).collect();

            let count = if event == Event::TimeoutExpired {
                0
            } else {
                START_COUNT
            };
            let mut m = Fsm::new(TestHandler::default(), Config::default());
            m.force_state(T0, state, count);
            let received_id = match event {
                Event::RcrGood | Event::RcrBad => 0x42,
                Event::Rtr => 0x43,
                Event::Rxr => 0x47,
                _ => m.request_identifier(),
            };
            inject(&mut m, event);

            let ctx = format_args!("{event:?} in {state:?} (cell {cell:?})");
            assert_eq!(m.state(), next_state, "{ctx}");

            let mut want_codes: heapless::Vec<u8, 4> = heapless::Vec::new();
            let mut want_events: heapless::Vec<&str, 4> = heapless::Vec::new();
            let mut want_count = count;
            let terminating = acts.contains(&"str");
            for a in &acts {
                match *a {
                    "tlu" => want_events.push("up").unwrap(),
                    "tld" => want_events.push("down").unwrap(),
                    "tls" => want_events.push("started").unwrap(),
                    "tlf" => want_events.push("finished").unwrap(),
                    "irc" => want_count = if terminating { 2 } else { 10 },
                    "zrc" => want_count = 0,
                    "scr" => {
                        want_codes.push(1).unwrap();
                        want_count -= 1;
                    }
                    "sca" => want_codes.push(2).unwrap(),
                    "scn" => want_codes.push(3).unwrap(),
                    "str" => {
                        want_codes.push(5).unwrap();
                        want_count -= 1;
                    }
                    "sta" => want_codes.push(6).unwrap(),
                    "scj" => want_codes.push(7).unwrap(),
                    "ser" => want_codes.push(10).unwrap(),
                    other => panic!("unknown action {other}"),
                }
            }
            let mut got_codes: heapless::Vec<u8, 4> = heapless::Vec::new();
            let mut buf = [0u8; 1500];
            while let Some(t) = m.poll_transmit(&mut buf) {
                got_codes.push(buf[0]).unwrap();
                let pkt = Packet::new_checked(&buf[..t.len]).unwrap();
                match pkt.code() {
                    Code::TerminateAck | Code::ConfigureAck | Code::ConfigureNak => {
                        assert_eq!(pkt.identifier(), received_id, "{ctx}")
                    }
                    Code::EchoReply => {
                        assert_eq!(pkt.identifier(), 0x47);
                        assert_eq!(pkt.data(), &[0x11, 0x22, 0x33, 0x44, 0xaa, 0xbb]);
                    }
                    Code::CodeReject => assert_eq!(&pkt.data()[..4], &[0x55, 0x45, 0, 4]),
                    Code::TerminateRequest => {
                        let want: &[u8] = if event == Event::Close { b"bye" } else { b"" };
                        assert_eq!(pkt.data(), want, "{ctx}");
                    }
                    _ => {}
                }
            }
            assert_eq!(got_codes, want_codes, "packets for {ctx}");
            let mut got_events: heapless::Vec<&str, 4> = heapless::Vec::new();
            while let Some(e) = m.poll_event() {
                got_events
                    .push(match e {
                        LayerEvent::Up => "up",
                        LayerEvent::Down(_) => "down",
                        LayerEvent::Started => "started",
                        LayerEvent::Finished(_) => "finished",
                    })
                    .unwrap();
            }
            assert_eq!(got_events, want_events, "layer events for {ctx}");
            assert_eq!(m.restart_count(), want_count, "restart counter for {ctx}");
            assert_eq!(
                m.poll_timeout().is_some(),
                next_state.uses_restart_timer(),
                "restart timer for {ctx}"
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 160);
}

#[test]
fn transition_function_agrees_with_the_table_on_next_states() {
    // A second, direct check of `transition` for a few cells whose
    // footnotes matter ([p] and [x] take the default).
    assert_eq!(
        transition(State::ReqSent, Event::TimeoutExpired).0,
        State::Stopped
    );
    assert_eq!(transition(State::AckRcvd, Event::Rca).0, State::ReqSent);
    assert_eq!(transition(State::Stopped, Event::Open).0, State::Stopped);
}

fn drain(m: &mut Fsm<TestHandler>) -> heapless::Vec<heapless::Vec<u8, 64>, 8> {
    let mut out = heapless::Vec::new();
    let mut buf = [0u8; 1500];
    while let Some(t) = m.poll_transmit(&mut buf) {
        out.push(heapless::Vec::from_slice(&buf[..t.len.min(64)]).unwrap())
            .unwrap();
    }
    out
}

#[test]
fn restart_timer_sends_max_configure_requests_then_stops() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.open(T0);
    assert_eq!(m.poll_event(), Some(LayerEvent::Started));
    m.up(T0);
    let mut now = T0;
    let mut sent = drain(&mut m).len();
    let mut ids: heapless::Vec<u8, 16> = heapless::Vec::new();
    ids.push(m.request_identifier()).unwrap();
    while let Some(t) = m.poll_timeout() {
        assert_eq!(t, now + Duration::from_secs(3));
        now = t;
        m.handle_timeout(now);
        let out = drain(&mut m);
        sent += out.len();
        if let Some(p) = out.first() {
            ids.push(p[1]).unwrap();
        }
    }
    assert_eq!(sent, 10, "Max-Configure requests");
    assert_eq!(m.state(), State::Stopped);
    assert_eq!(m.poll_event(), Some(LayerEvent::Finished(Cause::Timeout)));
    // Each transmission carries a new Identifier.
    for w in ids.windows(2) {
        assert_eq!(w[1], w[0].wrapping_add(1));
    }
}

#[test]
fn retransmit_request_resends_at_once_with_a_fresh_counter_and_identifier() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.open(T0);
    m.up(T0);
    // Two copies go unheard (the peer held its NCPs): Req-Sent, counter 8.
    let first = drain(&mut m);
    let late = T0 + Duration::from_secs(3);
    m.handle_timeout(late);
    assert_eq!(drain(&mut m).len(), 1);
    assert_eq!(m.restart_count(), 8);
    let now = late + Duration::from_millis(10);
    assert!(m.retransmit_request(now));
    let again = drain(&mut m);
    assert_eq!(again.len(), 1, "one Configure-Request at once");
    assert_eq!(again[0][0], 1);
    assert_ne!(again[0][1], first[0][1], "a new Identifier");
    assert_eq!(m.state(), State::ReqSent);
    assert_eq!(m.restart_count(), 9, "irc then scr: Max-Configure less one");
    assert_eq!(m.poll_timeout(), Some(now + Duration::from_secs(3)));
    // A late Ack to the first copy is stale (RFC 1661 §5.2).
    let stale = [2, first[0][1], 0, 8, 1, 4, 0x05, 0xdc];
    assert_eq!(
        m.handle_packet(now, &stale),
        Err(Error::StaleReply {
            identifier: first[0][1]
        })
    );
    assert_eq!(m.state(), State::ReqSent);
    // In Ack-Sent too; the state stays.
    m.handle_packet(now, &[1, 0x40, 0, 4]).unwrap();
    assert_eq!(m.state(), State::AckSent);
    drain(&mut m);
    assert!(m.retransmit_request(now));
    assert_eq!(drain(&mut m).len(), 1);
    assert_eq!(m.state(), State::AckSent);
    // Answered (Ack-Rcvd), Opened or not negotiating: nothing is sent.
    for state in [State::AckRcvd, State::Opened, State::Closed, State::Stopped] {
        m.force_state(now, state, 3);
        assert!(!m.retransmit_request(now), "{state:?}");
        assert!(drain(&mut m).is_empty(), "{state:?}");
        assert_eq!(m.state(), state);
        assert_eq!(m.restart_count(), 3);
    }
}

#[test]
fn close_sends_max_terminate_requests_with_reason() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.force_state(T0, State::Opened, 0);
    m.close(T0, b"admin");
    let first = drain(&mut m);
    assert_eq!(first.len(), 1);
    assert_eq!(
        &first[0][..],
        &[5, first[0][1], 0, 9, b'a', b'd', b'm', b'i', b'n']
    );
    assert_eq!(m.poll_event(), Some(LayerEvent::Down(Cause::Closed)));
    m.handle_timeout(T0 + Duration::from_secs(3));
    assert_eq!(drain(&mut m).len(), 1);
    m.handle_timeout(T0 + Duration::from_secs(6));
    assert_eq!(drain(&mut m).len(), 0);
    assert_eq!(m.state(), State::Closed);
    assert_eq!(m.poll_event(), Some(LayerEvent::Finished(Cause::Closed)));
}

#[test]
fn stale_and_mismatched_replies_are_discarded() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.force_state(T0, State::ReqSent, 5);
    let id = m.request_identifier();
    let stale = id.wrapping_sub(1);
    assert_eq!(
        m.handle_packet(T0, &[2, stale, 0, 8, 1, 4, 0x05, 0xdc]),
        Err(Error::StaleReply { identifier: stale })
    );
    assert_eq!(
        m.handle_packet(T0, &[2, id, 0, 8, 1, 4, 0x05, 0xdd]),
        Err(Error::AckMismatch)
    );
    assert_eq!(
        m.handle_packet(T0, &[4, id, 0, 6, 7, 2]),
        Err(Error::RejectMismatch)
    );
    assert_eq!(
        m.handle_packet(T0, &[3, stale, 0, 8, 1, 4, 0x05, 0xd0]),
        Err(Error::StaleReply { identifier: stale })
    );
    assert_eq!(m.state(), State::ReqSent);
    assert!(drain(&mut m).is_empty());
    // The right Ack moves on; a duplicate of it is stale.
    m.handle_packet(T0, &[2, id, 0, 8, 1, 4, 0x05, 0xdc])
        .unwrap();
    assert_eq!(m.state(), State::AckRcvd);
    assert_eq!(m.handler().acks, 1);
    assert_eq!(
        m.handle_packet(T0, &[2, id, 0, 8, 1, 4, 0x05, 0xdc]),
        Err(Error::StaleReply { identifier: id })
    );
    assert_eq!(m.state(), State::AckRcvd);
    // A proper-subset Reject is accepted.
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.force_state(T0, State::ReqSent, 5);
    let id = m.request_identifier();
    m.handle_packet(T0, &[4, id, 0, 8, 1, 4, 0x05, 0xdc])
        .unwrap();
    assert_eq!(m.handler().rejects, 1);
}

#[test]
fn malformed_packets_are_typed_errors() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    assert_eq!(m.handle_packet(T0, &[1, 1, 0, 4]), Err(Error::NotUp));
    m.force_state(T0, State::ReqSent, 5);
    assert_eq!(
        m.handle_packet(T0, &[1, 1, 0]),
        Err(Error::Malformed(WireError::Truncated {
            needed: 4,
            available: 3
        }))
    );
    assert_eq!(
        m.handle_packet(T0, &[1, 1, 0, 8, 1, 0, 0, 0]),
        Err(Error::Malformed(WireError::OptionLengthTooSmall {
            kind: 1,
            length: 0
        }))
    );
    assert_eq!(
        m.handle_packet(T0, &[1, 1, 0, 7, 1, 9, 0]),
        Err(Error::Malformed(WireError::OptionPastEnd {
            kind: 1,
            length: 9,
            available: 3
        }))
    );
    assert_eq!(
        m.handle_packet(T0, &[7, 1, 0, 4]),
        Err(Error::Malformed(WireError::Truncated {
            needed: 5,
            available: 4
        }))
    );
    assert_eq!(m.state(), State::ReqSent);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn max_failure_turns_naks_into_rejects() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.force_state(T0, State::ReqSent, 5);
    let req = [1u8, 9, 0, 11, 1, 4, 0x05, 0xdc, 2, 3, 7];
    for i in 0..7 {
        m.handle_packet(T0, &req).unwrap();
        let out = drain(&mut m);
        let want = if i < 5 { 3 } else { 4 };
        assert_eq!(out[0][0], want, "reply {i}");
        if want == 4 {
            // The Reject carries the original option unchanged.
            assert_eq!(&out[0][4..], &[2, 3, 7]);
        } else {
            assert_eq!(&out[0][4..], &[2, 3, 0]);
        }
    }
}

#[test]
fn give_up_closes_the_layer() {
    let handler = TestHandler {
        give_up_on_nak: true,
        ..TestHandler::default()
    };
    let mut m = Fsm::new(handler, Config::default());
    m.force_state(T0, State::ReqSent, 5);
    let id = m.request_identifier();
    m.handle_packet(T0, &[3, id, 0, 8, 1, 4, 0x05, 0xd0])
        .unwrap();
    assert_eq!(m.state(), State::Closing);
    assert_eq!(drain(&mut m)[0][0], 5);
    m.handle_packet(T0, &[6, 1, 0, 4]).unwrap();
    assert_eq!(m.poll_event(), Some(LayerEvent::Finished(Cause::GaveUp)));
}

#[test]
fn outbox_holds_one_largest_packet_and_refuses_what_does_not_fit() {
    let mut q = PacketQueue::default();
    let mut big = [0u8; MAX_PACKET_LEN];
    big[2..4].copy_from_slice(&(MAX_PACKET_LEN as u16).to_be_bytes());
    assert!(q.push(&big));
    let mut over = [0u8; OUTBOX_BYTES - MAX_PACKET_LEN + 1];
    over[3] = over.len() as u8;
    assert!(!q.push(&over), "past the octet bound");
    // A packet whose Length field lies is refused.
    assert!(!q.push(&[9, 1, 0, 9, 0]));
    let mut out = [0u8; MAX_PACKET_LEN];
    assert_eq!(q.pop_into(&mut out), Some((MAX_PACKET_LEN, true)));
    // Too small a buffer: the packet is removed, not copied.
    assert!(q.push(&[9, 2, 0, 6, 1, 2]));
    assert!(q.push(&[9, 3, 0, 4]));
    assert_eq!(q.pop_into(&mut [0u8; 5]), Some((6, false)));
    let mut small = [0u8; 4];
    assert_eq!(q.pop_into(&mut small), Some((4, true)));
    assert_eq!(small, [9, 3, 0, 4]);
    assert_eq!(q.pop_into(&mut small), None);
    assert!(q.is_empty());
}

#[test]
fn code_reject_is_truncated_to_peer_mru_and_queues_are_bounded() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.force_state(T0, State::Opened, 0);
    m.set_peer_mru(64);
    let mut big = [0u8; 200];
    big[0] = 0x77;
    big[3] = 200;
    m.handle_packet(T0, &big).unwrap();
    let mut buf = [0u8; 1500];
    let t = m.poll_transmit(&mut buf).unwrap();
    assert_eq!(t.len, 64);
    assert_eq!(&buf[..2], &[7, buf[1]]);
    assert_eq!(u16::from_be_bytes([buf[2], buf[3]]), 64);
    // Flood: the queue keeps at most OUTBOX_DEPTH packets.
    for _ in 0..20 {
        m.handle_packet(T0, &[0x77, 1, 0, 4]).unwrap();
    }
    assert_eq!(drain(&mut m).len(), OUTBOX_DEPTH);
    assert!(m.dropped_packets() >= 16);
    // A caller buffer too small drops instead of overflowing.
    m.handle_packet(T0, &[0x77, 1, 0, 4]).unwrap();
    assert_eq!(m.poll_transmit(&mut [0u8; 4]), None);
}

#[test]
fn protocol_reject_of_an_ncp_stops_it() {
    let mut m = Fsm::new(TestHandler::default(), Config::default());
    m.force_state(T0, State::ReqSent, 5);
    m.protocol_rejected(T0);
    assert_eq!(m.state(), State::Stopped);
    assert_eq!(
        m.poll_event(),
        Some(LayerEvent::Finished(Cause::PeerRejected))
    );
    assert_eq!(m.poll_timeout(), None);
    assert!(drain(&mut m).is_empty());
}

#[test]
fn negotiation_between_two_machines_opens_both() {
    let mut a = Fsm::new(TestHandler::default(), Config::default());
    let mut b = Fsm::new(TestHandler::default(), Config::default());
    for m in [&mut a, &mut b] {
        m.open(T0);
        m.up(T0);
    }
    let mut buf = [0u8; 1500];
    for _ in 0..10 {
        while let Some(t) = a.poll_transmit(&mut buf) {
            b.handle_packet(T0, &buf[..t.len]).unwrap();
        }
        while let Some(t) = b.poll_transmit(&mut buf) {
            a.handle_packet(T0, &buf[..t.len]).unwrap();
        }
    }
    assert_eq!((a.state(), b.state()), (State::Opened, State::Opened));
    assert_eq!(a.poll_timeout(), None);
    assert_eq!(a.handler().resets, 1);
    let t = a.poll_transmit_frame(FieldCompression::BOTH, &mut buf);
    assert_eq!(t, None);
}
