//! A parked link without MPPE (and, in the build without the `mppe`
//! feature, without any MPPE code): plaintext IP both ways, and an MPPE
//! frame answered as the never-parked link answers it.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod link_support;

use link_support::*;
use ppp_core::link::{Entropy, Error, Link};

#[test]
fn a_parked_plaintext_link_matches_its_twin() {
    let mut plain = Pair::new(server_config(), client_config(PASSWORD));
    plain.establish();
    let mut parked_pair = Pair::new(server_config(), client_config(PASSWORD));
    parked_pair.establish();
    let server = std::mem::replace(
        &mut parked_pair.server,
        Link::new(
            server_config(),
            Entropy {
                magic: 1,
                challenge: [0; 16],
                identifier: 1,
            },
        ),
    );
    let mut parked = server.park().expect("an established quiet link parks");
    let now = plain.now;
    // The client's IP reaches both servers alike.
    let ip = ip_packet(200, 3);
    let mut out = [0u8; 1600];
    let n = plain.client.send_ip(now, &ip, &mut out).unwrap();
    let frame = out[..n].to_vec();
    let mut a = frame.clone();
    let got = plain.server.handle_frame(now, &mut a).unwrap().unwrap();
    assert_eq!(&a[got.range()], &ip[..]);
    let mut b = frame.clone();
    let got = parked.handle_frame(now, &mut b).unwrap().unwrap();
    assert_eq!(&b[got.range()], &ip[..]);
    // Server to client, identical frames.
    let na = plain.server.send_ip(now, &ip, &mut out).unwrap();
    let wa = out[..na].to_vec();
    let nb = parked.send_ip(now, &ip, &mut out).unwrap();
    assert_eq!(wa, out[..nb].to_vec());
    // An MPPE frame although no MPPE was agreed: the parked link takes it
    // as the full link does (MppeNotActive with the mppe feature), or
    // hands it over to be Protocol-Rejected (without it).
    let mppe_frame = [0xff, 0x03, 0x00, 0xfd, 0x90, 0x00, 1, 2, 3, 4];
    let mut a = mppe_frame;
    let want = plain.server.handle_frame(now, &mut a);
    let mut b = mppe_frame;
    let got = match parked.handle_frame(now, &mut b) {
        Err(Error::NeedsLink) => {
            assert_eq!(b, mppe_frame);
            let mut link = Link::unpark(
                parked,
                server_config(),
                Entropy {
                    magic: 0x1122_3344,
                    challenge: [0x5b; 16],
                    identifier: 1,
                },
                USER,
                now,
            );
            let r = link.handle_frame(now, &mut b);
            assert_eq!(*link.counters(), *plain.server.counters());
            r
        }
        other => {
            assert_eq!(*parked.counters(), *plain.server.counters());
            other
        }
    };
    assert_eq!(got, want);
}
