//! RC4, implemented here so that its state can be zeroized.
//!
//! MPPE (RFC 3078) encrypts with RC4. The RustCrypto `rc4` crate wipes
//! its state only with its optional `zeroize` feature, fixes the key length
//! in the type, and cannot be re-keyed in place, which MPPE does on every
//! key change; it was also about half as fast as this implementation in the
//! bench. So the cipher lives here, with [`ZeroizeOnDrop`] and an in-place
//! [`Rc4::rekey`]. The tests check it against RFC 6229's keystream vectors
//! and against the `rc4` crate with random keys.
//!
//! Speed: the permutation is held as `[u32; 256]` (as OpenSSL's x86-64 RC4
//! does: whole-register loads and stores, no partial-register merges), every
//! index is masked to 0..=255 so the compiler proves it in bounds and emits
//! no checks, the indices live in locals for the whole buffer, and
//! keystream octets are gathered eight at a time into a `u64` and XORed into
//! the data with one load and one store. Measured on the project machine
//! this was about twice as fast as the byte-wise textbook loop with a
//! `[u8; 256]` state (see `benches/mppe.rs`).
//!
//! Memory: [`CompactRc4`] holds the permutation as `[u8; 256]`: 258
//! octets instead of 1,028 per direction. It is what a parked session
//! keeps (`ppp_core::link::ParkedLink`: a server holding 100,000 quiet
//! sessions saves 150 MB). The same loop over octets ran at about 60 % of
//! the speed on the project machine (octet stores next to the following
//! loads), so busy sessions run on [`Rc4`] and only parked ones on the
//! compact form; [`Rc4::to_compact`] and [`CompactRc4::to_words`] move a
//! running state between the two without changing its keystream. The
//! tests run every vector against both.

use zeroize::{Zeroize, ZeroizeOnDrop};

/// An RC4 keystream state MPPE can run on: [`Rc4`] (fast) or
/// [`CompactRc4`] (small). Both produce the same keystream.
pub trait Keystream: Clone + Zeroize {
    /// Runs the RC4 key schedule for `key` (see [`Rc4::new`]).
    fn new(key: &[u8]) -> Self;
    /// Re-runs the key schedule in place, overwriting the old state.
    fn rekey(&mut self, key: &[u8]);
    /// XORs the next `data.len()` keystream octets into `data`.
    fn apply_keystream(&mut self, data: &mut [u8]);
}

/// Both representations: the same code over `[u32; 256]` and `[u8; 256]`.
macro_rules! rc4_state {
    ($(#[$doc:meta])* $name:ident, $cell:ty) => {
        $(#[$doc])*
        #[derive(Clone, Zeroize, ZeroizeOnDrop)]
        pub struct $name {
            /// The permutation; every entry is < 256.
            s: [$cell; 256],
            /// Index `i`.
            i: u8,
            /// Index `j`.
            j: u8,
        }

        impl $name {
            /// The identity permutation the key schedule starts from.
            const IDENTITY: [$cell; 256] = {
                let mut table = [0 as $cell; 256];
                let mut n = 0;
                while n < 256 {
                    table[n] = n as $cell;
                    n += 1;
                }
                table
            };

            /// Runs the RC4 key schedule for `key`.
            ///
            /// RC4 accepts keys of 1 to 256 octets; MPPE uses 8 (40/56-bit)
            /// or 16 (128-bit); longer keys are cut to 256 octets. An empty
            /// key is treated as a single zero octet so that the function
            /// cannot fail; no MPPE path passes one.
            pub fn new(key: &[u8]) -> Self {
                let mut rc4 = $name {
                    s: Self::IDENTITY,
                    i: 0,
                    j: 0,
                };
                rc4.rekey(key);
                rc4
            }

            /// Re-runs the key schedule in place (the old permutation is
            /// overwritten, so nothing of the previous key survives).
            pub fn rekey(&mut self, key: &[u8]) {
                const ZERO_KEY: [u8; 1] = [0];
                let key = match key.len() {
                    0 => &ZERO_KEY[..],
                    1..=256 => key,
                    _ => key.get(..256).unwrap_or(&ZERO_KEY[..]),
                };
                self.s = Self::IDENTITY;
                // MPPE keys are 8 or 16 octets: a fixed length lets the key
                // index be a mask instead of a wrapping counter (about 10%
                // faster, and the schedule runs twice per key change).
                let s = &mut self.s;
                match key.len() {
                    8 => schedule!(s, |i: usize| key.get(i & 7).copied().unwrap_or(0)),
                    16 => schedule!(s, |i: usize| key.get(i & 15).copied().unwrap_or(0)),
                    len => schedule!(s, |i: usize| key.get(i % len).copied().unwrap_or(0)),
                }
                self.i = 0;
                self.j = 0;
            }

            /// XORs the next `data.len()` keystream octets into `data`
            /// (encrypts or decrypts in place).
            #[inline]
            pub fn apply_keystream(&mut self, data: &mut [u8]) {
                let s = &mut self.s;
                let mut i = usize::from(self.i);
                let mut j = usize::from(self.j);
                // 16 octets per iteration as two 64-bit words (measured ~5%
                // faster than 8 per iteration, and than one u128).
                let mut chunks = data.chunks_exact_mut(16);
                for chunk in &mut chunks {
                    let mut words = [0u64; 2];
                    for word in words.iter_mut() {
                        for shift in [0u32, 8, 16, 24, 32, 40, 48, 56] {
                            *word |= u64::from(next_octet!(s, i, j)) << shift;
                        }
                    }
                    for (half, word) in chunk.chunks_exact_mut(8).zip(words) {
                        let mut bytes = [0u8; 8];
                        bytes.copy_from_slice(half);
                        half.copy_from_slice(&(u64::from_le_bytes(bytes) ^ word).to_le_bytes());
                    }
                }
                for b in chunks.into_remainder() {
                    // Every entry is < 256.
                    *b ^= next_octet!(s, i, j) as u8;
                }
                // Both stay < 256 (masked in `next_octet!`).
                self.i = i as u8;
                self.j = j as u8;
            }
        }

        impl Keystream for $name {
            fn new(key: &[u8]) -> Self {
                $name::new(key)
            }
            fn rekey(&mut self, key: &[u8]) {
                $name::rekey(self, key)
            }
            #[inline(always)]
            fn apply_keystream(&mut self, data: &mut [u8]) {
                $name::apply_keystream(self, data)
            }
        }
    };
}

/// The RC4 key schedule over the identity permutation in `s`, taking key
/// octet `key_at(i)` at step `i`.
macro_rules! schedule {
    ($s:expr, $key_at:expr) => {{
        let s = $s;
        let key_at = $key_at;
        let mut j = 0usize;
        let mut si = s[0];
        for i in 0..256usize {
            j = (j + si as usize + usize::from(key_at(i))) & 0xff;
            let sj = s[j];
            // Load S[i+1] before the swap's stores so the next step does
            // not wait for them (markedly faster); if the swap wrote
            // S[i+1] (j == i+1), the new value is `si`.
            let next = (i + 1) & 0xff;
            let next_si = s[next];
            s[i] = sj;
            s[j] = si;
            si = if next == j { si } else { next_si };
        }
    }};
}

/// One RC4 output step (PRGA): advances `i`, `j`, swaps, returns the
/// keystream octet as the cell type (widened, not truncated: one
/// instruction less per octet for words). `i` and `j` stay < 256, so every
/// index is in bounds and the compiler emits no checks.
macro_rules! next_octet {
    ($s:expr, $i:expr, $j:expr) => {{
        $i = ($i + 1) & 0xff;
        let si = $s[$i];
        $j = ($j + si as usize) & 0xff;
        let sj = $s[$j];
        $s[$i] = sj;
        $s[$j] = si;
        $s[(si as usize + sj as usize) & 0xff]
    }};
}

rc4_state!(
    /// The RC4 stream cipher state (permutation `S` and indices `i`, `j`),
    /// the permutation as 32-bit words for speed (1,028 octets).
    ///
    /// Zeroized on drop; [`Rc4::rekey`] overwrites all of it. `Debug` is
    /// deliberately not implemented: the state is as secret as the key.
    Rc4,
    u32
);

rc4_state!(
    /// The same RC4 state with the permutation as octets (258 octets),
    /// about 60 % of [`Rc4`]'s speed: what parked sessions keep (see the
    /// module docs).
    ///
    /// Zeroized on drop; `Debug` is deliberately not implemented.
    CompactRc4,
    u8
);

impl Rc4 {
    /// The same running state as octets: the keystream continues
    /// unchanged. `self` is left as it was (drop it to wipe it).
    pub fn to_compact(&self) -> CompactRc4 {
        let mut s = [0u8; 256];
        for (d, &v) in s.iter_mut().zip(self.s.iter()) {
            // Every entry is < 256.
            *d = v as u8;
        }
        let compact = CompactRc4 {
            s,
            i: self.i,
            j: self.j,
        };
        s.zeroize();
        compact
    }
}

impl CompactRc4 {
    /// The same running state as words: the keystream continues unchanged.
    pub fn to_words(&self) -> Rc4 {
        let mut s = [0u32; 256];
        for (d, &v) in s.iter_mut().zip(self.s.iter()) {
            *d = u32::from(v);
        }
        let words = Rc4 {
            s,
            i: self.i,
            j: self.j,
        };
        s.zeroize();
        words
    }
}

#[cfg(test)]
mod tests {
    use super::{CompactRc4, Keystream, Rc4};
    use rc4::{KeyInit, StreamCipher};

    /// RFC 6229 §2 sample offsets.
    const OFFSETS: [usize; 18] = [
        0, 16, 240, 256, 496, 512, 752, 768, 1008, 1024, 1520, 1536, 2032, 2048, 3056, 3072, 4080,
        4096,
    ];

    fn check_rfc6229(key: &[u8], rows: &[&str; 18]) {
        check_rfc6229_with::<Rc4>(key, rows);
        check_rfc6229_with::<CompactRc4>(key, rows);
    }

    fn check_rfc6229_with<C: Keystream>(key: &[u8], rows: &[&str; 18]) {
        let mut stream = [0u8; 4112];
        C::new(key).apply_keystream(&mut stream);
        for (offset, row) in OFFSETS.iter().zip(rows.iter()) {
            let want = hex::decode(row.replace(' ', "")).unwrap();
            assert_eq!(&stream[*offset..*offset + 16], &want[..], "offset {offset}");
        }
        // Same stream when produced in odd-sized pieces (exercises the
        // chunk remainder and the saved indices).
        let mut rc4 = C::new(key);
        let mut pieces = [0u8; 4112];
        let mut at = 0;
        for size in [1usize, 3, 7, 4, 5, 1000, 13, 2, 3077] {
            rc4.apply_keystream(&mut pieces[at..at + size]);
            at += size;
        }
        assert_eq!(at, 4112);
        assert_eq!(&pieces[..], &stream[..]);
    }

    #[test]
    fn rfc6229_40_bit_key() {
        check_rfc6229(
            &[1, 2, 3, 4, 5],
            &[
                "b2396305f03dc027ccc3524a0a1118a8",
                "6982944f18fc82d589c403a47a0d0919",
                "28cb1132c96ce286421dcaadb8b69eae",
                "1cfcf62b03eddb641d77dfcf7f8d8c93",
                "42b7d0cdd918a8a33dd51781c81f4041",
                "6459844432a7da923cfb3eb4980661f6",
                "ec10327bde2beefd18f9277680457e22",
                "eb62638d4f0ba1fe9fca20e05bf8ff2b",
                "45129048e6a0ed0b56b490338f078da5",
                "30abbcc7c20b01609f23ee2d5f6bb7df",
                "3294f744d8f9790507e70f62e5bbceea",
                "d8729db41882259bee4f825325f5a130",
                "1eb14a0c13b3bf47fa2a0ba93ad45b8b",
                "cc582f8ba9f265e2b1be9112e975d2d7",
                "f2e30f9bd102ecbf75aaade9bc35c43c",
                "ec0e11c479dc329dc8da7968fe965681",
                "068326a2118416d21f9d04b2cd1ca050",
                "ff25b58995996707e51fbdf08b34d875",
            ],
        );
    }

    #[test]
    fn rfc6229_128_bit_key() {
        check_rfc6229(
            &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16],
            &[
                "9ac7cc9a609d1ef7b2932899cde41b97",
                "5248c4959014126a6e8a84f11d1a9e1c",
                "065902e4b620f6cc36c8589f66432f2b",
                "d39d566bc6bce3010768151549f3873f",
                "b6d1e6c4a5e4771cad79538df295fb11",
                "c68c1d5c559a974123df1dbc52a43b89",
                "c5ecf88de897fd57fed301701b82a259",
                "eccbe13de1fcc91c11a0b26c0bc8fa4d",
                "e7a72574f8782ae26aabcf9ebcd66065",
                "bdf0324e6083dcc6d3cedd3ca8c53c16",
                "b40110c4190b5622a96116b0017ed297",
                "ffa0b514647ec04f6306b892ae661181",
                "d03d1bc03cd33d70dff9fa5d71963ebd",
                "8a44126411eaa78bd51e8d87a8879bf5",
                "fabeb76028ade2d0e48722e46c4615a3",
                "c05d88abd50357f935a63c59ee537623",
                "ff38265c1642c1abe8d3c2fe5e572bf8",
                "a36a4c301ae8ac13610ccbc12256cacc",
            ],
        );
    }

    /// A tiny xorshift generator: deterministic "random" keys and data.
    fn xorshift(state: &mut u64) -> u64 {
        let mut x = *state;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        *state = x;
        x
    }

    #[test]
    fn equals_rustcrypto_rc4_for_random_keys() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..200 {
            let len16 = round % 2 == 0;
            let mut key16 = [0u8; 16];
            for b in key16.iter_mut() {
                *b = xorshift(&mut seed) as u8;
            }
            let mut data = [0u8; 1500];
            for b in data.iter_mut() {
                *b = xorshift(&mut seed) as u8;
            }
            let len = (xorshift(&mut seed) % 1500) as usize;
            let mut ours = data;
            let mut theirs = data;
            if len16 {
                Rc4::new(&key16).apply_keystream(&mut ours[..len]);
                let mut r = rc4::Rc4::<rc4::consts::U16>::new(&key16.into());
                r.apply_keystream(&mut theirs[..len]);
            } else {
                let mut key8 = [0u8; 8];
                key8.copy_from_slice(&key16[..8]);
                Rc4::new(&key8).apply_keystream(&mut ours[..len]);
                let mut r = rc4::Rc4::<rc4::consts::U8>::new(&key8.into());
                r.apply_keystream(&mut theirs[..len]);
            }
            assert_eq!(&ours[..], &theirs[..], "round {round}");
        }
    }

    #[test]
    fn rekey_equals_fresh_and_zeroize_clears() {
        use zeroize::Zeroize;
        let mut a = Rc4::new(b"first key");
        let mut junk = [0u8; 77];
        a.apply_keystream(&mut junk);
        a.rekey(b"second key");
        let mut x = [0u8; 64];
        let mut y = [0u8; 64];
        a.apply_keystream(&mut x);
        Rc4::new(b"second key").apply_keystream(&mut y);
        assert_eq!(x, y);
        a.zeroize();
        assert!(a.s.iter().all(|&b| b == 0));
        // Keys longer than 256 octets are cut, not a panic.
        let long = [7u8; 300];
        let mut l1 = [0u8; 16];
        let mut l2 = [0u8; 16];
        Rc4::new(&long).apply_keystream(&mut l1);
        Rc4::new(&long[..256]).apply_keystream(&mut l2);
        assert_eq!(l1, l2);
        assert_eq!((a.i, a.j), (0, 0));
        // An empty key does not panic and behaves like the key [0].
        let mut e = [0u8; 16];
        let mut z = [0u8; 16];
        Rc4::new(&[]).apply_keystream(&mut e);
        Rc4::new(&[0]).apply_keystream(&mut z);
        assert_eq!(e, z);
    }

    #[test]
    fn converting_between_the_representations_keeps_the_keystream() {
        let mut seed = 0x0bad_cafe_1234_5678u64;
        for round in 0..50 {
            let mut key = [0u8; 16];
            for b in key.iter_mut() {
                *b = xorshift(&mut seed) as u8;
            }
            let split = (xorshift(&mut seed) % 600) as usize;
            let mut reference = [0u8; 1200];
            Rc4::new(&key).apply_keystream(&mut reference);
            // Words, then octets, then words again, at random points.
            let mut out = [0u8; 1200];
            let mut words = Rc4::new(&key);
            words.apply_keystream(&mut out[..split]);
            let mut compact = words.to_compact();
            drop(words);
            compact.apply_keystream(&mut out[split..split + 300]);
            let mut back = compact.to_words();
            back.apply_keystream(&mut out[split + 300..]);
            assert_eq!(&out[..], &reference[..], "round {round}");
            // A compact state keyed directly matches too.
            let mut c = [0u8; 1200];
            CompactRc4::new(&key).apply_keystream(&mut c);
            assert_eq!(&c[..], &reference[..]);
        }
    }
}
