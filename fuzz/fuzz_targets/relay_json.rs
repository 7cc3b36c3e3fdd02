//! The relay's JSON control bodies (docs/RELAY.md §3.2): every parser of
//! `relay/src/api/bodies.rs` on arbitrary bytes. None may panic, and what one accepts is
//! within the protocol's bounds. Run: `cargo +nightly fuzz run relay_json` (README,
//! "Fuzzing"); `cargo test -p hush-relay` runs a proptest over the same parsers.
//!
//! The parsers are reached through `hush_relay::fuzzing`, a hidden re-export of exactly
//! these functions: the fuzzer runs the relay's own code, not a copy of it.
#![no_main]

use hush_relay::fuzzing as bodies;
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
    let _ = bodies::register_mailbox(data);
});
