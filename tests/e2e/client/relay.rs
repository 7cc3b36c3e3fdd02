//! `hush receive` against a real `hush-relay` on loopback. The server side is the tools'
//! own Rust sender (`SenderRoom`), in the test: it opens a room, pairs with the `hush`
//! child, checks the receiver code hush shows, seals for that session and delivers.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use hush_tests::TestRelay;
use shared::cli::relay_client::{RelayClient, parse_pin};
use shared::cli::relay_flow::{Candidate, SenderRoom, payload_id};
use shared::{Credentials, Metadata, SealOptions};

use super::desk::{Tmux, Xvfb, wait_until};
use crate::relay::Receive;

const DEADLINE: Duration = Duration::from_secs(30);

fn client(relay: &TestRelay) -> RelayClient {
    RelayClient::new(&relay.url, Some(parse_pin(&relay.pin).unwrap())).unwrap()
}

/// `hush receive` for `relay`, with an empty settings folder and no display.
fn receive(relay: &TestRelay, config: &Path) -> Command {
    let mut cmd = Command::new(hush_tests::bin("hush"));
    cmd.env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .env("XDG_CONFIG_HOME", config)
        .args(["receive", "--relay", &relay.url, "--relay-pin", &relay.pin]);
    cmd
}

/// The receiver code hush printed, from its stderr line.
fn receiver_code_in(line: &str) -> String {
    let after = line.split("receiver code ").nth(1).unwrap();
    after.chars().take(4).collect()
}

/// The code's secret half (the 8 characters after the number), as it must never appear.
fn secret_half(code: &str) -> String {
    code.split_once('-').unwrap().1.replace('-', "")
}

fn seal_for(candidate: &Candidate, plaintext: &[u8]) -> Vec<u8> {
    let meta = Metadata {
        command: Some("wg genkey".into()),
        ..Metadata::default()
    };
    shared::seal(
        &Credentials::Relay(candidate.session.clone()),
        &meta,
        plaintext,
        false,
        SealOptions::default(),
    )
    .unwrap()
}

/// One pairing up to the receiver code: the room, the code, the running `hush receive`
/// (with `extra` arguments before the code) and the sender's candidate, whose receiver code
/// was checked against what hush showed.
fn paired(relay: &TestRelay, config: &Path, extra: &[&str]) -> (SenderRoom, Receive, Candidate) {
    let mut room = SenderRoom::open(client(relay), 1).unwrap();
    let code = room.code().to_shown().to_string();
    let mut cmd = receive(relay, config);
    cmd.args(extra).arg(&code);
    let mut hush = Receive::start(cmd, None);
    let candidate = room.next_receiver(Instant::now() + DEADLINE).unwrap();
    let shown = hush.line_with("receiver code ");
    assert!(shown.contains("approve it on the server"), "{shown}");
    assert_eq!(
        receiver_code_in(&shown),
        candidate.session.receiver_code.to_string()
    );
    // Approved, as hush-run says after its prompt (docs/RELAY.md §11).
    room.approve(&candidate.approval(None).unwrap()).unwrap();
    (room, hush, candidate)
}

#[test]
fn receive_to_a_pipe_writes_exactly_the_output_and_acknowledges_it() {
    let relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    let (room, hush, candidate) = paired(&relay, config.path(), &[]);
    let plaintext = b"private key: 8Jk2\x00binary\xff and a line\n";
    let id = payload_id().unwrap();
    room.deliver(candidate.slot, &id, &seal_for(&candidate, plaintext))
        .unwrap();
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 0, "{stderr}");
    assert_eq!(stdout, plaintext);
    assert!(stderr.contains("opened with the relay pairing"), "{stderr}");
    assert!(stderr.contains("wg genkey"), "the metadata line: {stderr}");
    // Acknowledged: the sender learns it was delivered (the slot was left after).
    assert!(room.delivered(candidate.slot, &id).unwrap());
    let secret = secret_half(&room.code().to_shown());
    assert!(!stderr.contains(&secret), "the code's secret on stderr");
}

#[test]
fn receive_o_writes_a_0600_file_and_nothing_when_the_message_is_corrupted() {
    use std::os::unix::fs::PermissionsExt;
    let relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("wg.key");
    let out_arg = out.display().to_string();

    let (room, hush, candidate) = paired(&relay, config.path(), &["-o", &out_arg]);
    let id = payload_id().unwrap();
    room.deliver(candidate.slot, &id, &seal_for(&candidate, b"the key\n"))
        .unwrap();
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 0, "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(std::fs::read(&out).unwrap(), b"the key\n");
    let mode = std::fs::metadata(&out).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    assert!(room.delivered(candidate.slot, &id).unwrap());

    // A payload altered on its way: exit 6, no file, and not acknowledged.
    std::fs::remove_file(&out).unwrap();
    let (room, hush, candidate) = paired(&relay, config.path(), &["-o", &out_arg]);
    let mut sealed = seal_for(&candidate, &vec![b'x'; 100_000]);
    let n = sealed.len();
    sealed[n / 2] ^= 1;
    let id = payload_id().unwrap();
    room.deliver(candidate.slot, &id, &sealed).unwrap();
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 6, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("corrupted"), "{stderr}");
    assert_eq!(hush_tests::listing(dir.path()), Vec::<String>::new());
    // Not delivered: the receiver left without taking it, so it is gone (not_found).
    assert!(!room.delivered(candidate.slot, &id).unwrap_or(false));
}

#[test]
fn a_denied_receiver_gets_nothing_and_its_own_exit_code() {
    let relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    let (room, hush, candidate) = paired(&relay, config.path(), &[]);
    room.deny(candidate.slot).unwrap();
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 15, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("denied"), "{stderr}");
}

#[test]
fn a_wrong_code_burns_the_room_and_exits_14() {
    let relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    let mut room = SenderRoom::open(client(&relay), 1).unwrap();
    let code = room.code().to_shown().to_string();
    // Same number, another secret: a guess.
    let (number, secret) = code.split_once('-').unwrap();
    let first = secret.chars().next().unwrap();
    let other = if first == '0' { '1' } else { '0' };
    let wrong = format!("{number}-{other}{}", &secret[1..]);
    let mut cmd = receive(&relay, config.path());
    cmd.arg(&wrong);
    let hush = Receive::start(cmd, None);
    let sender = room.next_receiver(Instant::now() + DEADLINE);
    assert!(
        sender.is_err_and(|e| e.to_string().contains("wrong code used")),
        "the sender burns the room"
    );
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 14, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("the sender burned the room: the code was wrong, or someone else tried it"),
        "{stderr}"
    );
    assert!(!stderr.contains("receiver code"), "{stderr}");
}

#[test]
fn codes_and_settings_are_refused_before_any_network_call() {
    let config = tempfile::tempdir().unwrap();
    // No relay listens there: a network call would say "unreachable" (exit 10), not these.
    let run = |args: &[&str]| {
        let out = Command::new(hush_tests::bin("hush"))
            .env_remove("DISPLAY")
            .env("XDG_CONFIG_HOME", config.path())
            .args(["receive", "--relay", "https://127.0.0.1:9"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (rc, err) = run(&["417-4K7M-Q2Z"]);
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("the code has 7 characters after its number; it needs 8"),
        "{err}"
    );
    assert!(
        !err.contains("4K7MQ2Z"),
        "the typed code is not repeated: {err}"
    );
    let (rc, err) = run(&["417-4K7M-Q2ZU"]);
    assert_eq!(rc, 2, "{err}");
    assert!(
        err.contains("character 8 after the number is not valid"),
        "{err}"
    );
    let (rc, err) = run(&["4K7M-Q2ZP"]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("must start with a number"), "{err}");
    let (rc, err) = run(&["--relay-pin", "sha256:12", "417-4K7M-Q2ZP"]);
    assert_eq!(rc, 2, "{err}");
    assert!(err.contains("sha256:<64 hex digits>"), "{err}");
    // Nothing listens: unreachable, after retries shown on stderr. To a pipe the status
    // is written once for its state, not once per attempt.
    let (rc, err) = run(&["417-4K7M-Q2ZP"]);
    assert_eq!(rc, 10, "{err}");
    assert!(err.contains("the relay is unreachable"), "{err}");
    assert_eq!(
        err.matches("hush: no answer from the relay (").count(),
        1,
        "one retry status line: {err}"
    );
    assert!(
        !err.contains(" of 6)"),
        "no attempt counts off a terminal: {err}"
    );
    assert!(!err.contains("4K7M"), "{err}");
}

#[test]
fn relay_refusals_have_their_own_exit_codes() {
    let relay = TestRelay::start(&["--joins-per-minute", "1"]);
    let config = tempfile::tempdir().unwrap();
    let run = |code: &str, pin: &str| {
        let out = Command::new(hush_tests::bin("hush"))
            .env_remove("DISPLAY")
            .env("XDG_CONFIG_HOME", config.path())
            .args(["receive", "--relay", &relay.url, "--relay-pin", pin, code])
            .stdin(Stdio::null())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    // Unknown number: nothing waits behind it.
    let (rc, err) = run("9999-4K7M-Q2ZP", &relay.pin);
    assert_eq!(rc, 13, "{err}");
    assert!(
        err.contains("no pairing waits behind code number 9999"),
        "{err}"
    );
    // The second join within the minute: rate-limited (after retries).
    let (rc, err) = run("9998-4K7M-Q2ZP", &relay.pin);
    assert_eq!(rc, 12, "{err}");
    assert!(err.contains("rate_limited"), "{err}");
    // Another certificate's pin.
    let wrong_pin = format!("sha256:{}", "ab".repeat(32));
    let (rc, err) = run("9997-4K7M-Q2ZP", &wrong_pin);
    assert_eq!(rc, 11, "{err}");
    assert!(err.contains("does not match the pin"), "{err}");
    // No pin for a self-signed certificate.
    let out = Command::new(hush_tests::bin("hush"))
        .env_remove("DISPLAY")
        .env("XDG_CONFIG_HOME", config.path())
        .args(["receive", "--relay", &relay.url, "9996-4K7M-Q2ZP"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(11), "{err}");
}

#[test]
fn the_relay_and_its_pin_come_from_the_settings_file() {
    use std::os::unix::fs::PermissionsExt;
    let relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    let folder = config.path().join("hush");
    std::fs::create_dir(&folder).unwrap();
    let file = folder.join("config.toml");
    std::fs::write(
        &file,
        format!(
            "[relay]\nurl = \"{}\"\npin = \"{}\"\n",
            relay.url, relay.pin
        ),
    )
    .unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut room = SenderRoom::open(client(&relay), 1).unwrap();
    let code = room.code().to_shown().to_string();
    let mut cmd = Command::new(hush_tests::bin("hush"));
    cmd.env_remove("DISPLAY")
        .env("XDG_CONFIG_HOME", config.path())
        .args(["receive", &code]);
    let hush = Receive::start(cmd, None);
    let candidate = room.next_receiver(Instant::now() + DEADLINE).unwrap();
    room.approve(&candidate.approval(None).unwrap()).unwrap();
    room.deliver(
        candidate.slot,
        &payload_id().unwrap(),
        &seal_for(&candidate, b"ok"),
    )
    .unwrap();
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!((rc, stdout.as_slice()), (0, &b"ok"[..]), "{stderr}");
}

/// A terminal, a display: the code typed at the hidden prompt, the plaintext on the
/// clipboard with its countdown, and neither the code's secret nor the plaintext on screen.
#[test]
fn receive_at_a_terminal_asks_for_the_code_hidden_and_puts_the_output_on_the_clipboard() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let mut room = SenderRoom::open(client(&relay), 1).unwrap();
    let code = room.code().to_shown().to_string();
    let command = format!(
        "XDG_CONFIG_HOME={} {} --clear-after 3 receive --relay {} --relay-pin {}",
        dir.path().display(),
        hush_tests::bin("hush").display(),
        relay.url,
        relay.pin
    );
    let tmux = Tmux::start(dir.path(), Some(&x.display), &command);
    tmux.wait_for("typed hidden", DEADLINE);
    // A typo first: said precisely, and asked again.
    tmux.keys(&["417-4K7M", "Enter"]);
    tmux.wait_for("try again", DEADLINE);
    tmux.keys(&[&code, "Enter"]);
    let candidate = room.next_receiver(Instant::now() + DEADLINE).unwrap();
    let screen = tmux.wait_for("approve it on the server", DEADLINE);
    assert!(
        screen.contains(&format!(
            "receiver code {}",
            candidate.session.receiver_code
        )),
        "{screen}"
    );
    let plaintext = "wg-private-key-abcdefghijklmnop=";
    room.approve(&candidate.approval(None).unwrap()).unwrap();
    room.deliver(
        candidate.slot,
        &payload_id().unwrap(),
        &seal_for(&candidate, plaintext.as_bytes()),
    )
    .unwrap();
    let mut got = None;
    wait_until(DEADLINE, "the clipboard to hold the output", || {
        got = x.clipboard();
        got.as_deref() == Some(plaintext.as_bytes())
    });
    tmux.wait_for("clears in", DEADLINE);
    let screen = tmux.wait_exit(DEADLINE);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    // Cleared after the lease.
    assert_ne!(x.clipboard().as_deref(), Some(plaintext.as_bytes()));
    let history = tmux.history();
    assert!(!history.contains(&secret_half(&code)), "{history}");
    assert!(!history.contains(&code[..6]), "{history}");
    assert!(!history.contains("wg-private"), "{history}");
}

#[test]
fn a_relay_that_lost_the_pairing_exits_17_and_a_silent_sender_18() {
    let mut relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    // Paired, then the (in-memory) relay restarts empty: the pairing is gone.
    let (_room, hush, _candidate) = paired(&relay, config.path(), &[]);
    relay.restart();
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 17, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("lost this pairing"), "{stderr}");

    // Paired, approved never: nothing within --wait.
    let (_room, hush, _candidate) = paired(&relay, config.path(), &["--wait", "3"]);
    let (rc, stdout, stderr) = hush.finish(DEADLINE);
    assert_eq!(rc, 18, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("within 3 s (--wait)"), "{stderr}");
}
