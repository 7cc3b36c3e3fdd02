//! What a relay client parses from people and from the relay: typed codes, nameplates, and
//! pairing messages of any length at any sequence number. Nothing may panic, and a pairing
//! fed garbage never pairs. Run: `cargo +nightly fuzz run relay` (README, "Fuzzing").
#![no_main]

use libfuzzer_sys::fuzz_target;
use shared::relay::{Code, Nameplate, Pairing, RoomContext, Side};

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let _ = Code::parse(&text);
    let _ = Nameplate::parse(&text);
    let code = Code::parse("417-4K7M-Q2ZP").expect("a valid code");
    let room = RoomContext { nameplate: code.nameplate(), nonce: [0; 32], slot: 1 };
    for side in [Side::Sender, Side::Receiver] {
        let (mut pairing, _) = Pairing::start(side, &code, room.clone());
        for piece in data.chunks(33) {
            let seq = piece.first().map_or(0, |b| b % 3);
            let _ = pairing.receive(seq, piece);
        }
        assert!(pairing.session().is_none(), "garbage must never pair");
    }
});
