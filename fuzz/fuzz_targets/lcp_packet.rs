//! LCP packets: parsing never panics; options iterate without panic and
//! every option that parses re-emits to its own bytes; an LCP machine fed
//! arbitrary packets and timeouts keeps its outputs within bounds (every
//! queued packet is a valid control packet no longer than the bound).
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp_core::fsm::MAX_PACKET_LEN;
use ppp_core::lcp::{AuthMethod, Lcp, LcpConfig};
use ppp_core::time::{Duration, Instant};
use ppp_core::wire::lcp::{Identification, LcpOption, TimeRemaining};
use ppp_core::wire::packet::{OptionIter, Packet};

fuzz_target!(|data: &[u8]| {
    // 1. One packet, parsed on its own.
    if let Ok(pkt) = Packet::new_checked(data) {
        for opt in OptionIter::new(pkt.data()).flatten() {
            if let Ok(parsed) = LcpOption::parse(opt) {
                let mut out = [0u8; 258];
                let n = parsed.emit(&mut out).unwrap();
                assert_eq!(out[0], opt.kind);
                assert_eq!(&out[2..n], opt.data);
            }
        }
    }
    // RFC 1570 §1.1/§1.2: the data of an Identification / Time-Remaining
    // re-emits to its own bytes.
    let mut out = vec![0u8; data.len()];
    if let Ok(id) = Identification::parse(data) {
        let n = id.emit(&mut out).unwrap();
        assert_eq!(&out[..n], data);
    }
    if let Ok(t) = TimeRemaining::parse(data) {
        let n = t.emit(&mut out).unwrap();
        assert_eq!(&out[..n], data);
    }
    // 2. A machine fed a stream of length-prefixed packets.
    let config = LcpConfig {
        echo_interval: Some(Duration::from_secs(5)),
        ..LcpConfig::default()
    }
    .with_auth_required(&[AuthMethod::MsChapV2, AuthMethod::MsChapV1])
    .with_auth_allowed(&[AuthMethod::MsChapV2]);
    let mut lcp = Lcp::new(config, 0x1234_5678);
    let mut now = Instant::from_millis(0);
    lcp.open(now);
    lcp.up(now);
    let mut rest = data;
    let mut buf = [0u8; MAX_PACKET_LEN + 8];
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len).min(tail.len());
        let (pkt, tail) = tail.split_at(len);
        rest = tail;
        if len == 0 {
            now = now + Duration::from_secs(4);
            lcp.handle_timeout(now);
        } else {
            let _ = lcp.handle_input(now, pkt);
        }
        while let Some(t) = lcp.poll_transmit(&mut buf) {
            assert_eq!(t.to, 0xc021);
            let n = t.len;
            assert!(n <= MAX_PACKET_LEN);
            let out = Packet::new_checked(&buf[..n]).unwrap();
            assert_eq!(usize::from(out.length()), n);
        }
        let mut events = 0;
        while lcp.poll_event().is_some() {
            events += 1;
            assert!(events <= 64);
        }
    }
});
