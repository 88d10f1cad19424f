//! One server split over workers ([`ServerConfig::worker`]): each worker's
//! endpoint numbers its calls only from its own share of Call IDs and
//! hands out only its own slice of the pool, so a host can steer every GRE
//! packet to its worker by the Call ID alone; a packet for another share
//! is an unknown call, not a session's input.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod endpoint_support;

use endpoint_support::*;
use pptp_core::endpoint::{BuildError, CallIdShard, Endpoint, Event, GreInputError};
use pptp_core::wire::gre::GreRepr;

fn worker_pair(index: u16, count: u16, seed: u64) -> Pair {
    let config = server_config().worker(index, count).unwrap();
    let server =
        Endpoint::server(config, memory(8, 2, 2), TestRandom(seed), Some(users())).unwrap();
    let client = Endpoint::client(
        client_config(PASSWORD),
        memory(1, 1, 1),
        TestRandom(seed + 100),
    )
    .unwrap();
    Pair::new(server, client)
}

#[test]
fn each_worker_numbers_calls_from_its_share_and_addresses_from_its_slice() {
    let count = 3;
    let mut seen = Vec::new();
    for index in 0..count {
        // Several sessions per worker (new randomness each time), so a
        // lucky draw cannot pass the check.
        for round in 0..4u64 {
            let mut pair = worker_pair(index, count, 1 + round * 7 + u64::from(index));
            let slice = pair.server.pool().map(|p| (p.first(), p.last())).unwrap();
            pair.connect();
            pair.drive_for(5_000);
            let Some(Event::SessionUp { address, .. }) = pair.session_up(Side::Server) else {
                panic!("worker {index}: no session: {:?}", pair.server_events);
            };
            let address = address.unwrap();
            assert!(
                slice.0 <= address && address <= slice.1,
                "{address} outside {slice:?}"
            );
            let (local, _) = pair.server.sessions().next().unwrap().call_ids.unwrap();
            assert_eq!(CallIdShard::owner(local, count), index, "call ID {local}");
            // Data flows both ways in a worker as in a whole server.
            let up = Pair::ip_packet(address, TUNNEL_LOCAL, 200, 1);
            assert!(pair.client_send_ip(&up));
            pair.drive_for(100);
            assert_eq!(pair.server_ip.len(), 1);
            seen.push((index, local, slice));
        }
    }
    // The workers' pool slices do not overlap and cover the pool.
    let mut slices: Vec<_> = seen.iter().map(|s| s.2).collect();
    slices.dedup();
    assert_eq!(slices.len(), 3);
    assert_eq!(slices[0].0, POOL.0);
    assert_eq!(slices[2].1, POOL.1);
    for w in slices.windows(2) {
        assert_eq!(u32::from(w[0].1) + 1, u32::from(w[1].0));
    }
}

#[test]
fn a_gre_packet_for_another_workers_share_is_an_unknown_call() {
    let mut pair = worker_pair(1, 2, 5);
    pair.connect();
    pair.drive_for(5_000);
    assert!(pair.session_up(Side::Server).is_some());
    let (local, _) = pair.server.sessions().next().unwrap().call_ids.unwrap();
    // The same slot's number in the other share.
    let other = local - 1;
    assert_eq!(CallIdShard::owner(other, 2), 0);
    let mut d = vec![0u8; 16];
    let n = GreRepr::data(other, 0, 1, None)
        .emit_with_payload(&[], &mut d)
        .unwrap();
    d.truncate(n);
    let now = pair.instant();
    let r = pair.server.handle_gre(now, CLIENT_ADDR, &mut d).map(|_| ());
    assert_eq!(r, Err(GreInputError::UnknownCall(other)));
}

#[test]
fn a_worker_with_more_slots_than_its_share_numbers_is_refused() {
    // 64 workers leave each about 1,023 Call IDs: 600 slots do not fit
    // twice (new_call_id draws `slot + k * slots`, k >= 1).
    let config = server_config().worker(0, 64);
    // The default pool has 11 addresses: fewer than 64 workers.
    assert!(config.is_err());
    let mut whole = server_config();
    whole.pool = (
        std::net::Ipv4Addr::new(10, 0, 0, 0),
        std::net::Ipv4Addr::new(10, 0, 255, 255),
    );
    let config = whole.worker(0, 64).unwrap();
    let r = Endpoint::server(
        config.clone(),
        memory(600, 2, 2),
        TestRandom(1),
        Some(users()),
    );
    assert_eq!(r.err(), Some(BuildError::CallIds));
    assert!(Endpoint::server(config, memory(400, 2, 2), TestRandom(1), Some(users())).is_ok());
}
