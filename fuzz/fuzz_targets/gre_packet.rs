//! Enhanced GRE header parser (RFC 2637 §4.1).
//!
//! Invariants: parsing never panics; whatever parses re-emits to exactly
//! the octets it was parsed from (the header format has one encoding), and
//! the re-emitted packet parses to the same repr with the same payload.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pptp_core::wire::gre::{GrePacket, GreRepr};

fuzz_target!(|data: &[u8]| {
    let Ok(packet) = GrePacket::new_checked(data) else {
        return;
    };
    let repr = GreRepr::parse(&packet).expect("checked packet must parse");
    assert_eq!(repr.header_len(), packet.header_len());
    assert_eq!(repr.total_len() + packet.trailing_len(), data.len());
    let mut out = vec![0u8; repr.total_len()];
    let n = repr
        .emit_with_payload(packet.payload(), &mut out)
        .expect("a parsed repr must emit");
    assert_eq!(n, repr.total_len());
    assert_eq!(&out[..], &data[..n], "emit(parse(x)) != x");
    let again = GrePacket::new_checked(&out[..]).expect("emitted packet must parse");
    assert_eq!(GreRepr::parse(&again).unwrap(), repr);
    assert_eq!(again.payload(), packet.payload());
});
