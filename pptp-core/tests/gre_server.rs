//! A server's GRE side with thousands of calls, through the public API
//! only: datagrams from every client are interleaved on one socket,
//! demultiplexed by call ID with a `CallTable`, and each reaches its own
//! `GreSession`; replies carry each client's call ID and acks.

use pptp_core::gre::{peek_call_id, CallTable, GreConfig, GreSession, Received, RecvError};
use pptp_core::wire::gre::{GreError, GrePacket};
use pptp_core::Instant;

const CALLS: usize = 3000;

/// The server's call ID for call `i`: scattered over the 16-bit space, as
/// a host drawing random IDs would.
fn server_call_id(i: usize) -> u16 {
    (i as u16).wrapping_mul(40_503).wrapping_add(17)
}

#[test]
fn three_thousand_calls_demultiplexed() {
    let mut table: Box<CallTable<u16, 4096>> = Box::default();
    let mut servers: Vec<GreSession> = Vec::with_capacity(CALLS);
    let mut clients: Vec<GreSession> = Vec::with_capacity(CALLS);
    for i in 0..CALLS {
        let server_id = server_call_id(i);
        let client_id = i as u16; // every client may pick any ID
        table.insert(server_id, i as u16).unwrap();
        servers.push(GreSession::new(GreConfig::new(server_id, client_id, 16)));
        let mut client_config = GreConfig::new(client_id, server_id, 16);
        client_config.initial_sequence = 1; // as Windows does
        clients.push(GreSession::new(client_config));
    }
    assert_eq!(table.len(), CALLS);

    let mut buf = [0u8; 64];
    let now = Instant::from_millis(5);
    // Three rounds; in each, every client sends one frame naming itself.
    for round in 0u8..3 {
        for (i, client) in clients.iter_mut().enumerate() {
            let frame = [(i >> 8) as u8, i as u8, round];
            let n = client.encapsulate(now, &frame, &mut buf).unwrap();
            let datagram = &buf[..n];
            let call_id = peek_call_id(datagram).unwrap();
            let slot = usize::from(table.get(call_id).expect("known call"));
            assert_eq!(slot, i);
            let server = &mut servers[slot];
            match server.decapsulate(now, datagram).unwrap() {
                Received::Deliver { payload, .. } => assert_eq!(&datagram[payload], &frame),
                other => panic!("call {i}: {other:?}"),
            }
            // The server answers; the reply reaches the right client and
            // acknowledges the client's packet.
            let n = server.encapsulate(now, b"ok", &mut buf).unwrap();
            let reply = GrePacket::new_checked(&buf[..n]).unwrap();
            assert_eq!(reply.call_id(), i as u16);
            assert_eq!(reply.ack(), Some(1 + u32::from(round)));
            assert!(matches!(
                client.decapsulate(now, &buf[..n]).unwrap(),
                Received::Deliver { .. }
            ));
            assert_eq!(client.status().unacked, 0);
        }
    }
    for (server, client) in servers.iter().zip(&clients) {
        assert_eq!(server.stats().delivered, 3);
        assert_eq!(client.stats().delivered, 3);
        assert_eq!(server.status().seq, Some(2));
        assert_eq!(client.status().seq, Some(3));
    }

    // A datagram for an unknown call is found absent; a session refuses a
    // datagram for another call; garbage never reaches the table.
    let unknown = (0..=u16::MAX).find(|id| !table.contains(*id)).unwrap();
    assert_eq!(table.get(unknown), None);
    let n = clients[0].encapsulate(now, b"x", &mut buf).unwrap();
    assert_eq!(
        servers[1].decapsulate(now, &buf[..n]),
        Err(RecvError::WrongCallId {
            expected: server_call_id(1),
            found: server_call_id(0)
        })
    );
    assert_eq!(
        peek_call_id(&[0x30, 0x81, 0x88]),
        Err(GreError::Truncated {
            needed: 8,
            available: 3
        })
    );

    // Calls come and go: tear half down, the rest still route.
    for i in (0..CALLS).step_by(2) {
        assert_eq!(table.remove(server_call_id(i)), Some(i as u16));
    }
    for i in 0..CALLS {
        let expected = (i % 2 == 1).then_some(i as u16);
        assert_eq!(table.get(server_call_id(i)), expected);
    }
}

#[test]
fn per_call_memory_is_small_without_a_reorder_buffer() {
    // What a server pays per call for the data path: the default session
    // holds no packet buffers.
    // holds no packet buffers; most of it is the 24 64-bit counters.
    let base = std::mem::size_of::<GreSession>();
    assert!(base <= 512, "{base}");
    // With pptp-linux-style reordering: 8 slots of 1600 octets plus a
    // few octets of bookkeeping each.
    let size = std::mem::size_of::<GreSession<8, 1600>>();
    assert!(
        (base + 8 * 1600..=base + 8 * (1600 + 24)).contains(&size),
        "{size}"
    );
}
