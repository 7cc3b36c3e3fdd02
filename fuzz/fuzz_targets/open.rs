//! Arbitrary input through the armor decoder, the envelope parser, the chunk decryptor and
//! the payload parser: it must never panic, and must never return plaintext for input it
//! did not produce. Run: `cargo +nightly fuzz run open` (README, "Fuzzing").
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::{Credentials, Iv, Key, Metadata, SealOptions};

fuzz_target!(|data: &[u8]| {
    let creds = [Credentials::KeyIv { key: Key::from_bytes([7; 32]), iv: Iv::from_bytes([9; 12]) }];
    // Text and binary, as they come.
    let _ = shared::armor::decode(data);
    let _ = shared::open(data, &creds);
    // The fuzzer cannot forge a commitment, so also seal the input and mangle the result
    // with the input's first bytes, to reach the chunk and payload parsers.
    if let Ok(mut sealed) = shared::seal(&creds[0], &Metadata::default(), data, false, SealOptions::default()) {
        if let (Some(&at), Some(&xor)) = (data.first(), data.get(1)) {
            let len = sealed.len();
            sealed[at as usize * 7 % len] ^= xor;
            if xor != 0 {
                assert!(shared::open(&sealed, &creds).is_err());
            }
        }
    }
});
