//! Invariant: if a byte string parses as a control message, emitting the
//! repr gives a message of the type's exact length that re-parses to an
//! equal repr, and emitting that again gives the same bytes (a fixed
//! point). Parsing never panics, whatever the input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pptp_core::wire::control::{ControlMessage, ControlRepr, MAX_MESSAGE_LEN};

fuzz_target!(|data: &[u8]| {
    let Ok(repr) = ControlRepr::parse_bytes(data) else {
        // Rejected input must also be rejected by the view.
        assert!(ControlMessage::new_checked(data).is_err());
        return;
    };
    let mut first = [0u8; MAX_MESSAGE_LEN];
    let n = repr.emit(&mut first).expect("parsed reprs always emit");
    assert_eq!(n, repr.message_type().length());
    let again = ControlRepr::parse_bytes(&first[..n]).expect("emitted bytes parse");
    assert_eq!(again, repr);
    let mut second = [0u8; MAX_MESSAGE_LEN];
    let m = again.emit(&mut second).expect("emit");
    assert_eq!(&first[..n], &second[..m]);
});
