//! PPP frame header parsing (ACFC/PFC): never panics; a parsed frame
//! re-emits, in any compression form, to bytes that parse back to the same
//! protocol and information field; the zero-copy prepend writes the same
//! bytes as `emit`.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp_core::wire::frame::{self, FieldCompression, Frame, MAX_HEADER_LEN};

fuzz_target!(|data: &[u8]| {
    let Some((&flags, bytes)) = data.split_first() else {
        return;
    };
    let accept = FieldCompression {
        address_control: flags & 1 != 0,
        protocol: flags & 2 != 0,
    };
    let Ok(parsed) = Frame::parse(bytes, accept) else {
        return;
    };
    assert!(parsed.header_len <= MAX_HEADER_LEN);
    assert_eq!(&bytes[parsed.header_len..], parsed.information);
    for send in [
        FieldCompression::NONE,
        FieldCompression::BOTH,
        FieldCompression {
            address_control: true,
            protocol: false,
        },
        FieldCompression {
            address_control: false,
            protocol: true,
        },
    ] {
        let mut out = vec![0u8; parsed.information.len() + MAX_HEADER_LEN];
        let n = frame::emit(parsed.protocol, parsed.information, send, &mut out).unwrap();
        let again = Frame::parse(&out[..n], send).unwrap();
        assert_eq!(again.protocol, parsed.protocol);
        assert_eq!(again.information, parsed.information);
        let mut zc = vec![0u8; parsed.information.len() + MAX_HEADER_LEN];
        zc[MAX_HEADER_LEN..].copy_from_slice(parsed.information);
        let start = frame::prepend_header(parsed.protocol, send, &mut zc, MAX_HEADER_LEN).unwrap();
        assert_eq!(&zc[start..], &out[..n]);
    }
});
