//! The relay's JSON control bodies (docs/RELAY.md §3.2): every parser of
//! `relay/src/api/bodies.rs` on arbitrary bytes. None may panic, and what one accepts is
//! within the protocol's bounds. Run: `cargo +nightly fuzz run relay_json` (README,
//! "Fuzzing"); `cargo test -p hush-relay` runs a proptest over the same parsers.
//!
//! hush-relay is a binary crate: the target compiles the parsers' own file, which is
//! self-contained for this reason (serde, serde_json and base64 only).
#![no_main]

#[path = "../../relay/src/api/bodies.rs"]
#[allow(dead_code)]
mod bodies;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(c) = bodies::create_room(data, 8, 3600) {
        assert!((1..=8).contains(&c.receivers));
        assert!(c.ttl.is_none_or(|t| (1..=3600).contains(&t)));
    }
    if let Ok(msg) = bodies::message(data) {
        assert!(!msg.is_empty() && msg.len() <= data.len());
    }
    let _ = bodies::join(data);
    let _ = bodies::delete_room(data);
});
