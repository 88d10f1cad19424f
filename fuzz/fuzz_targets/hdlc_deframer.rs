//! Async HDLC decoder fed in chunks: never panics, frames never exceed the
//! bound, chunked decoding equals one-shot decoding, and every decoded
//! frame re-encodes (with any ACCM) to bytes that decode to the same frame.
#![no_main]

use libfuzzer_sys::fuzz_target;
use ppp_core::wire::hdlc::{Decoder, Encoder};

const N: usize = 256;

fn decode_all(chunks: &[&[u8]], rx_accm: u32) -> Vec<Result<Vec<u8>, ppp_core::wire::hdlc::Error>> {
    let mut dec = Decoder::<N>::new();
    dec.set_rx_accm(rx_accm);
    let mut out = Vec::new();
    for chunk in chunks {
        let mut rest = *chunk;
        while !rest.is_empty() {
            let d = dec.decode(rest);
            assert!(d.consumed > 0 && d.consumed <= rest.len());
            rest = &rest[d.consumed..];
            if let Some(r) = d.frame {
                if let Ok(f) = &r {
                    assert!(f.len() + 2 <= N);
                }
                out.push(r.map(|f| f.to_vec()));
            }
        }
    }
    out
}

fuzz_target!(|data: &[u8]| {
    if data.len() < 6 {
        return;
    }
    let accm = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
    let chunk = usize::from(data[4]).max(1);
    let input = &data[5..];
    let whole = decode_all(&[input], accm);
    let chunks: Vec<&[u8]> = input.chunks(chunk).collect();
    assert_eq!(decode_all(&chunks, accm), whole);
    for frame in whole.into_iter().flatten() {
        let enc = Encoder::new(accm);
        let mut buf = vec![0u8; ppp_core::wire::hdlc::max_encoded_len(frame.len())];
        let n = enc.encode(&frame, &mut buf).unwrap();
        assert_eq!(n, enc.encoded_len(&frame));
        // The receiver drops unescaped control characters in its map; the
        // encoder escaped exactly those, so the same map round-trips.
        let again = decode_all(&[&buf[..n]], accm);
        assert_eq!(again, vec![Ok(frame)]);
    }
});
