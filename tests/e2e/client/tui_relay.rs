//! The TUI's relay mode (`r`) against a real `hush-relay` on loopback, under Xvfb and tmux.
//! The server side is the tools' own Rust sender (`SenderRoom`), in the test: it opens a
//! room, pairs with the TUI, checks the receiver code the TUI shows, seals for that session
//! and delivers (or, as hush-run's fallback, gives the armored block to paste).

use std::path::Path;
use std::time::{Duration, Instant};

use hush_tests::TestRelay;
use shared::cli::relay_client::{RelayClient, parse_pin};
use shared::cli::relay_flow::{Candidate, SenderRoom, payload_id};
use shared::{Credentials, Metadata, SealOptions};

use super::desk::{Tmux, Xvfb, wait_until};

const DEADLINE: Duration = Duration::from_secs(30);
const SHORT: Duration = Duration::from_secs(5);

fn client(relay: &TestRelay) -> RelayClient {
    RelayClient::new(&relay.url, Some(parse_pin(&relay.pin).unwrap())).unwrap()
}

/// `hush --clear-after N --relay URL --relay-pin PIN` in a fresh pane, with an empty
/// settings folder; waits for its first screen.
fn start_tui(dir: &Path, x: &Xvfb, relay: &TestRelay, clear_after: u32) -> Tmux {
    let config = dir.join("config");
    std::fs::create_dir_all(&config).unwrap();
    let tmux = Tmux::start(
        dir,
        Some(&x.display),
        &format!(
            "XDG_CONFIG_HOME={} {} --clear-after {clear_after} --relay {} --relay-pin {}",
            config.display(),
            hush_tests::bin("hush").display(),
            relay.url,
            relay.pin
        ),
    );
    tmux.wait_for("q quit", SHORT);
    tmux
}

fn seal(candidate: &Candidate, plaintext: &[u8], armored: bool) -> Vec<u8> {
    let meta = Metadata {
        command: Some("wg genkey".into()),
        host: Some("vpn1".into()),
        ..Metadata::default()
    };
    shared::seal(
        &Credentials::Relay(candidate.session.clone()),
        &meta,
        plaintext,
        armored,
        SealOptions::default(),
    )
    .unwrap()
}

/// Opens a room, types its code into the TUI (`r`, the code, Enter), pairs, and checks
/// the receiver code the TUI shows against the sender's.
fn pair_through_the_tui(relay: &TestRelay, tmux: &Tmux) -> (SenderRoom, Candidate, String) {
    let mut room = SenderRoom::open(client(relay), 1).unwrap();
    let code = room.code().to_shown().to_string();
    tmux.keys(&["r"]);
    tmux.wait_for("Relay code", SHORT);
    tmux.keys(&[&code, "Enter"]);
    let candidate = room.next_receiver(Instant::now() + DEADLINE).unwrap();
    let rc = candidate.session.receiver_code.to_string();
    let nameplate = code.split('-').next().unwrap();
    let screen = tmux.wait_for(
        &format!("{nameplate}-XXXX-XXXX  receiver code {rc} — approve it on the server"),
        DEADLINE,
    );
    assert!(screen.contains("waiting for the output"), "{screen}");
    // Approved, as hush-run says after its prompt (docs/RELAY.md §11).
    room.approve(&candidate.approval(None).unwrap()).unwrap();
    (room, candidate, code)
}

/// The code's secret half in its two groups (either must never be drawn once submitted).
fn secret_groups(code: &str) -> Vec<String> {
    code.split('-').skip(1).map(str::to_owned).collect()
}

fn assert_not_in(history: &str, probes: &[String]) {
    for p in probes {
        assert!(
            !history.contains(p.as_str()),
            "the pane shows {p:?}:\n{history}"
        );
    }
}

#[test]
fn r_pairs_with_a_code_and_the_delivered_output_lands_on_the_clipboard_then_is_cleared() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, &relay, 4);

    // A typo is named in the field, before anything is sent; Esc cancels.
    tmux.keys(&["r"]);
    tmux.wait_for("Relay code", SHORT);
    tmux.keys(&["417-4K7M-Q2Z", "Enter"]);
    tmux.wait_for("has 7 characters after its number", SHORT);
    tmux.keys(&["Escape"]);
    tmux.wait_for("No code used", SHORT);

    let (room, candidate, code) = pair_through_the_tui(&relay, &tmux);
    assert_not_in(&tmux.history(), &secret_groups(&code));

    let plaintext = "WG-PRIVATE-KEY-yAnz5TF+lXXJte14tji3zlMNq+hd2rYUIgJBgB3fBmk=";
    let id = payload_id().unwrap();
    room.deliver(
        candidate.slot,
        &id,
        &seal(&candidate, plaintext.as_bytes(), false),
    )
    .unwrap();
    let mut got = None;
    wait_until(DEADLINE, "the clipboard to hold the output", || {
        got = x.clipboard();
        got.as_deref() == Some(plaintext.as_bytes())
    });
    let copied_at = Instant::now();
    let screen = tmux.wait_for("are on the clipboard", SHORT);
    assert!(screen.contains("relay pairing"), "{screen}");
    assert!(
        screen.contains("`wg genkey`"),
        "the metadata line:\n{screen}"
    );
    assert!(screen.contains("clears in"), "the countdown:\n{screen}");
    // Acknowledged once on the clipboard: the sender learns it was delivered.
    wait_until(SHORT, "the relay to report it delivered", || {
        room.delivered(candidate.slot, &id).unwrap_or(false)
    });
    // Cleared after --clear-after.
    wait_until(
        Duration::from_secs(8),
        "the clipboard to be cleared",
        || x.clipboard().is_none_or(|c| c.is_empty()),
    );
    assert!(
        copied_at.elapsed() >= Duration::from_secs(3),
        "cleared too early"
    );
    tmux.wait_for("Clipboard cleared", SHORT);
    let history = tmux.history();
    assert_not_in(&history, &secret_groups(&code));
    assert!(
        !history.contains(&plaintext[..20]),
        "the output was drawn:\n{history}"
    );

    // hush-run's fallback: a second pairing whose output could not be delivered is printed
    // as an armored block, which opens when pasted (the TUI holds the session).
    let (_room2, candidate2, code2) = pair_through_the_tui(&relay, &tmux);
    let second = "SETUP-KEY-fallback-0d5b2c9e";
    let block = seal(&candidate2, second.as_bytes(), true);
    tmux.paste(&block);
    wait_until(SHORT, "the fallback's output on the clipboard", || {
        x.clipboard().as_deref() == Some(second.as_bytes())
    });
    tmux.wait_for("are on the clipboard", SHORT);
    let history = tmux.history();
    assert_not_in(&history, &secret_groups(&code2));
    assert!(
        !history.contains(second),
        "the output was drawn:\n{history}"
    );

    tmux.keys(&["q"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    assert_not_in(&tmux.history(), &secret_groups(&code));
}

#[test]
fn a_denied_receiver_and_an_unknown_code_get_their_own_message() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, &relay, 4);
    let (room, candidate, _code) = pair_through_the_tui(&relay, &tmux);
    room.deny(candidate.slot).unwrap();
    tmux.wait_for("The sender denied this receiver", DEADLINE);
    // A well-formed code whose number no room holds: the relay's answer, by number.
    tmux.keys(&["r"]);
    tmux.wait_for("Relay code", SHORT);
    tmux.keys(&["9999-ABCD-EFGH", "Enter"]);
    let screen = tmux.wait_for("No pairing waits behind code number 9999", DEADLINE);
    assert!(screen.contains("9999-XXXX-XXXX"), "{screen}");
    assert!(!screen.contains("ABCD"), "{screen}");
    tmux.keys(&["q"]);
    assert!(tmux.wait_exit(SHORT).contains("EXITED rc=0"));
}

/// Quitting with a pairing that still waits for its output leaves the pairing's slot on the
/// relay (best effort, bounded): the sender's delivery to it is then refused, rather than
/// stored for a receiver that is gone. Quitting is not held up for long.
#[test]
fn quit_leaves_the_slots_of_waiting_pairings() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, &relay, 4);
    let (room, candidate, _code) = pair_through_the_tui(&relay, &tmux);
    let asked = Instant::now();
    tmux.keys(&["q"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "quit took {:?}",
        asked.elapsed()
    );
    let id = payload_id().unwrap();
    let refused = room
        .deliver(candidate.slot, &id, &seal(&candidate, b"for nobody", false))
        .expect_err("the slot was left");
    assert!(
        refused.to_string().contains("lost this pairing"),
        "{refused}"
    );
}

/// With the relay gone, quitting still ends promptly: leaving the slots is bounded.
#[test]
fn quit_with_the_relay_gone_is_not_held_up_by_leaving_the_slots() {
    let mut relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, &relay, 4);
    let (_room, _candidate, _code) = pair_through_the_tui(&relay, &tmux);
    relay.stop();
    let asked = Instant::now();
    tmux.keys(&["q"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    assert!(
        asked.elapsed() < Duration::from_secs(3),
        "quit took {:?}",
        asked.elapsed()
    );
}
