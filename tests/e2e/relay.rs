//! Relay mode end to end: the built tools against a real `hush-relay` on loopback.

use hush_tests::TestRelay;
use shared::cli::relay_client::{RelayClient, parse_pin};
use shared::cli::relay_flow::SenderRoom;

/// The harness's relay answers over pinned TLS, and comes back after a restart on the
/// same address with the same pin (what the outbox tests rely on), empty.
#[test]
fn the_test_relay_serves_and_restarts_with_its_pin() {
    let mut relay = TestRelay::start(&[]);
    let pin = parse_pin(&relay.pin).expect("pin");
    let client = RelayClient::new(&relay.url, Some(pin)).expect("client");
    let room = SenderRoom::open(client, 1).expect("a room");
    relay.restart();
    // The room was in memory: gone, and said so.
    let lost = room
        .delivered(1, "00000000000000000000000000000000")
        .expect_err("the room is gone");
    assert!(lost.to_string().contains("lost this pairing"), "{lost}");
}
