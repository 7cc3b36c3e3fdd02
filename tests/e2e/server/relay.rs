//! hush-run in relay mode (`--relay`), end to end: the built hush-run in a real pty (the
//! code on the terminal, the approval prompt), a real `hush-relay` on loopback, and on the
//! laptop's side a receiver built on the tools' own flow (`relay_flow::Receiver`), which
//! opens what it gets with the library, as `hush receive` does.

use std::path::Path;
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hush_tests::TestRelay;
use shared::Credentials;
use shared::cli::relay_client::{RelayClient, RelayError, parse_pin};
use shared::cli::relay_flow::{FlowError, Receiver};
use shared::relay::{Code, Session};

use super::{Term, blocks_in, hush_run_path, runs, sh_quote};

/// How long any one side waits for the other.
const PATIENCE: Duration = Duration::from_secs(60);

/// hush-run in a pty for relay mode (the cross-tool stories of tests/e2e/relay.rs drive
/// it too).
impl Term {
    /// hush-run with the relay's flags, `args`, and an empty settings folder.
    pub(crate) fn with_relay(relay: &TestRelay, args: &str) -> Self {
        let config = tempfile::tempdir().unwrap();
        let flags = format!("--relay {} --relay-pin {} {args}", relay.url, relay.pin);
        Self::with_settings(config, &flags)
    }

    /// hush-run with `flags` and `config` as $XDG_CONFIG_HOME.
    pub(crate) fn with_settings(config: tempfile::TempDir, flags: &str) -> Self {
        let script = format!(
            "XDG_CONFIG_HOME={} exec {} {flags}",
            sh_quote(&config.path().display().to_string()),
            sh_quote(&hush_run_path()),
        );
        Self::start(&script).keeping(config)
    }

    /// The code shown for the laptop.
    pub(crate) fn code(&mut self) -> String {
        self.expect("on your laptop: hush receive ");
        self.expect_regex(r"\d+-[0-9A-Z]{4}-[0-9A-Z]{4}")
    }

    /// Waits for the next approval prompt; returns its receiver code.
    pub(crate) fn prompt(&mut self) -> String {
        let line = self.expect_regex(r"receiver [0-9A-Z]{4}: approve\? \[y/N\] ");
        line["receiver ".len().."receiver ".len() + 4].to_owned()
    }
}

fn client(relay: &TestRelay) -> RelayClient {
    RelayClient::new(&relay.url, Some(parse_pin(&relay.pin).unwrap())).unwrap()
}

/// A laptop's thread: its session and what it opened.
type Laptop = JoinHandle<Result<(Session, Vec<u8>), FlowError>>;

/// The laptop: pairs with `code`, tells its receiver code, then (with `wait`) waits for
/// one payload, opens it and acknowledges it. Returns the session and what it opened.
fn laptop(client: RelayClient, code: &str, wait: bool) -> (mpsc::Receiver<String>, Laptop) {
    let code = Code::parse(code).unwrap();
    let (tx, rx) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let receiver = Receiver::pair(client, &code, deadline)?;
        let session = receiver.session().clone();
        let _ = tx.send(session.receiver_code.to_string());
        if !wait {
            return Ok((session, Vec::new()));
        }
        let (id, sealed) = loop {
            match receiver.next_payload(deadline) {
                // The relay is down for a while (the outbox test): try again.
                Err(FlowError::Relay(RelayError::Unreachable(_))) => {
                    std::thread::sleep(Duration::from_millis(300));
                }
                other => break other?,
            }
        };
        let opened = shared::open(&sealed, &[Credentials::Relay(session.clone())])
            .unwrap_or_else(|e| panic!("the payload does not open: {e}"));
        receiver.acknowledge(&id)?;
        Ok((session, opened.stdout.to_vec()))
    });
    (rx, thread)
}

/// `sh -c` that records its run in `marker`, waits `sleep` seconds, prints `secret`.
fn command(marker: &Path, sleep: u32, secret: &str) -> String {
    let script = format!(
        "echo ran >> {}; sleep {sleep}; printf '%s' {}",
        sh_quote(&marker.display().to_string()),
        sh_quote(secret)
    );
    format!("-- sh -c {}", sh_quote(&script))
}

#[test]
fn approved_receiver_gets_the_output_of_one_run() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut term = Term::with_relay(&relay, &command(&marker, 0, "wg private key\n"));
    let code = term.code();
    let (shown, laptop) = laptop(client(&relay), &code, true);
    let receiver_code = shown.recv_timeout(PATIENCE).expect("the laptop paired");
    assert_eq!(term.prompt(), receiver_code);
    // Nothing ran before the approval.
    assert_eq!(runs(&marker), 0);
    term.send_line("y");
    let (_, got) = laptop.join().unwrap().expect("delivered");
    assert_eq!(got, b"wg private key\n");
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
    assert_eq!(runs(&marker), 1, "the command ran once");
    assert!(
        transcript.contains(&format!("hush-run: delivered to {receiver_code}")),
        "{transcript}"
    );
    assert!(!transcript.contains("wg private key"), "{transcript}");
    assert!(blocks_in(&transcript).is_empty(), "no block printed");
    // The code was taken off the screen: its line was rewritten in place.
    let nameplate = code.split('-').next().unwrap();
    assert!(
        transcript.contains(&format!(
            "hush receive {nameplate}-XXXX-XXXX   (paired with"
        )),
        "{transcript}"
    );
}

#[test]
fn denied_receiver_gets_nothing_and_the_command_never_runs() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut term = Term::with_relay(&relay, &command(&marker, 0, "secret"));
    let code = term.code();
    let (shown, laptop) = laptop(client(&relay), &code, true);
    let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("n");
    let denied = laptop.join().unwrap().expect_err("denied");
    assert!(matches!(denied, FlowError::Denied), "{denied}");
    let (status, transcript) = term.finish();
    assert_eq!(status, 123, "{transcript}");
    assert!(
        transcript.contains(&format!("receiver {receiver_code} denied: it gets nothing")),
        "{transcript}"
    );
    assert!(
        transcript.contains("no receiver was approved; the command was not run"),
        "{transcript}"
    );
    assert_eq!(runs(&marker), 0, "the command never ran");
}

#[test]
fn a_wrong_code_burns_the_room_and_the_command_never_runs() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut term = Term::with_relay(&relay, &command(&marker, 0, "secret"));
    let code = term.code();
    // The right nameplate, another secret: one guess, and it is wrong.
    let nameplate = code.split('-').next().unwrap();
    let wrong = if code.ends_with("-0000-0000") {
        format!("{nameplate}-1111-1111")
    } else {
        format!("{nameplate}-0000-0000")
    };
    let (_, guesser) = laptop(client(&relay), &wrong, true);
    let (status, transcript) = term.finish();
    assert_eq!(status, 122, "{transcript}");
    assert!(
        transcript.contains("hush-run: wrong code used: someone may be attacking; start again"),
        "{transcript}"
    );
    assert!(!transcript.contains("approve?"), "{transcript}");
    assert_eq!(runs(&marker), 0, "the command never ran");
    let burned = guesser.join().unwrap().expect_err("no pairing");
    assert!(
        matches!(burned, FlowError::Burned | FlowError::Pairing(_)),
        "{burned}"
    );
    // And the right code is spent too.
    let (_, late) = laptop(client(&relay), &code, false);
    let late = late.join().unwrap().expect_err("burned");
    assert!(matches!(late, FlowError::Burned), "{late}");
}

#[test]
fn relay_gone_during_delivery_prints_the_block_which_the_session_opens() {
    let mut relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let args = format!(
        "--relay-timeout 2 {}",
        command(&marker, 1, "fallback secret\n")
    );
    let mut term = Term::with_relay(&relay, &args);
    let code = term.code();
    let (shown, laptop) = laptop(client(&relay), &code, false);
    let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("y");
    let (session, _) = laptop.join().unwrap().expect("paired");
    // The command sleeps a second: the relay goes before it ends, and never comes back.
    relay.stop();
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
    assert_eq!(runs(&marker), 1);
    assert!(
        transcript.contains("the relay stayed unreachable for 2 s (--relay-timeout)"),
        "{transcript}"
    );
    let found = blocks_in(&transcript);
    assert_eq!(found.len(), 1, "{transcript}");
    // The waiting hush opens the pasted block with the pairing's session.
    let opened = shared::open(found[0].as_bytes(), &[Credentials::Relay(session)])
        .unwrap_or_else(|e| panic!("the block does not open: {e}"));
    assert_eq!(&opened.stdout[..], b"fallback secret\n");
    assert!(!transcript.contains("fallback secret"), "{transcript}");
}

#[test]
fn output_over_the_relays_limit_is_printed_instead() {
    let relay = TestRelay::start(&["--max-payload", "2000"]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let big = "x".repeat(5000);
    let mut term = Term::with_relay(&relay, &command(&marker, 0, &big));
    let code = term.code();
    let (shown, laptop) = laptop(client(&relay), &code, false);
    let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("y");
    let (session, _) = laptop.join().unwrap().expect("paired");
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
    assert!(
        transcript.contains("over this relay's payload limit"),
        "{transcript}"
    );
    let found = blocks_in(&transcript);
    assert_eq!(found.len(), 1, "{transcript}");
    let opened = shared::open(found[0].as_bytes(), &[Credentials::Relay(session)]).unwrap();
    assert_eq!(opened.stdout.len(), 5000);
}

#[test]
fn three_receivers_two_approved_one_denied() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let args = format!("--receivers 3 {}", command(&marker, 0, "shared secret\n"));
    let mut term = Term::with_relay(&relay, &args);
    let code = term.code();
    let laptops: Vec<_> = (0..3)
        .map(|_| laptop(client(&relay), &code, true))
        .collect();
    // hush-run pairs the laptops one at a time, in join order: a laptop shows its code
    // once hush-run gets to it. The person denies the third laptop's code.
    let mut shown: Vec<Option<String>> = vec![None; 3];
    for _ in 0..3 {
        let asked = term.prompt();
        let deadline = Instant::now() + PATIENCE;
        let owner = loop {
            for (i, (rx, _)) in laptops.iter().enumerate() {
                if let Ok(code) = rx.try_recv() {
                    shown[i] = Some(code);
                }
            }
            if let Some(i) = shown.iter().position(|c| c.as_deref() == Some(&asked)) {
                break i;
            }
            assert!(Instant::now() < deadline, "{asked} is no laptop's code");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(runs(&marker), 0);
        term.send_line(if owner == 2 { "n" } else { "y" });
    }
    for (i, (_, thread)) in laptops.into_iter().enumerate() {
        let result = thread.join().unwrap();
        if i == 2 {
            let denied = result.expect_err("denied");
            assert!(matches!(denied, FlowError::Denied), "{denied}");
        } else {
            assert_eq!(result.expect("delivered").1, b"shared secret\n");
        }
    }
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
    assert_eq!(runs(&marker), 1, "one run for every receiver");
}

#[test]
fn interactive_mode_pairs_once_and_delivers_each_command() {
    let relay = TestRelay::start(&[]);
    let mut term = Term::with_relay(&relay, "");
    let code = Code::parse(&term.code()).unwrap();
    let client = client(&relay);
    let (tx, shown) = mpsc::channel();
    let laptop = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let receiver = Receiver::pair(client, &code, deadline)?;
        let session = Credentials::Relay(receiver.session().clone());
        let _ = tx.send(receiver.session().receiver_code.to_string());
        let mut got = Vec::new();
        for _ in 0..2 {
            let (id, sealed) = receiver.next_payload(deadline)?;
            let opened = shared::open(&sealed, std::slice::from_ref(&session)).unwrap();
            receiver.acknowledge(&id)?;
            got.push(opened.stdout.to_vec());
        }
        Ok::<_, FlowError>(got)
    });
    let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("y");
    term.expect("hush-run> ");
    term.send_line("printf first");
    term.expect(&format!("delivered to {receiver_code}"));
    term.expect("hush-run> ");
    term.send_line("printf second");
    term.expect(&format!("delivered to {receiver_code}"));
    term.expect("hush-run> ");
    term.send_line("");
    let got = laptop.join().unwrap().expect("both delivered");
    assert_eq!(got, [b"first".to_vec(), b"second".to_vec()]);
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
}

#[test]
fn an_expired_code_stops_before_the_command() {
    let relay = TestRelay::start(&["--code-ttl", "2"]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut term = Term::with_relay(&relay, &command(&marker, 0, "secret"));
    term.code();
    term.expect("(expires in ");
    let (status, transcript) = term.finish();
    assert_eq!(status, 123, "{transcript}");
    assert!(
        transcript
            .contains("the code expired with 0 of 1 receivers approved; the command was not run"),
        "{transcript}"
    );
    assert_eq!(runs(&marker), 0);
}

// The outbox that retries until the relay comes back is tested with both tools real in
// tests/e2e/relay.rs (relay_stopped_after_the_pairing_and_back_10_s_later_...).

/// The laptop paired, then went offline before the output came: hush-run says the message
/// is stored, leaves the room open, and the laptop fetches it later, once.
#[test]
fn a_message_for_an_offline_laptop_stays_stored_until_fetched() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut term = Term::with_relay(&relay, &command(&marker, 0, "stored secret\n"));
    let code = Code::parse(&term.code()).unwrap();
    let client = client(&relay);
    let (tx, shown) = mpsc::channel();
    let (online_tx, online) = mpsc::channel::<()>();
    let laptop = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let receiver = Receiver::pair(client, &code, deadline)?;
        let _ = tx.send(receiver.session().receiver_code.to_string());
        // Offline until told.
        let _ = online.recv_timeout(PATIENCE);
        let (id, sealed) = receiver.next_payload(deadline)?;
        let session = Credentials::Relay(receiver.session().clone());
        let opened = shared::open(&sealed, &[session]).unwrap();
        receiver.acknowledge(&id)?;
        // Once: nothing else waits.
        let again = receiver.next_payload(Instant::now() + Duration::from_secs(1));
        assert!(matches!(again, Err(FlowError::TimedOut(_))), "{again:?}");
        Ok::<_, FlowError>(opened.stdout.to_vec())
    });
    let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("y");
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
    assert!(
        transcript.contains(&format!("stored on the relay for {receiver_code} until ")),
        "{transcript}"
    );
    online_tx.send(()).unwrap();
    assert_eq!(laptop.join().unwrap().expect("fetched"), b"stored secret\n");
}

/// A failed command's output is withheld as without the relay: nothing is sent, the room
/// is closed; with --seal-on-error it is sent, with the status.
#[test]
fn a_failed_command_sends_nothing_unless_seal_on_error() {
    let relay = TestRelay::start(&[]);
    for seal_on_error in [false, true] {
        let flag = if seal_on_error {
            "--seal-on-error "
        } else {
            ""
        };
        let mut term =
            Term::with_relay(&relay, &format!("{flag}-- sh -c 'printf partial; exit 3'"));
        let code = term.code();
        let (shown, laptop) = laptop(client(&relay), &code, true);
        let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
        assert_eq!(term.prompt(), receiver_code);
        term.send_line("y");
        let (status, transcript) = term.finish();
        assert_eq!(status, 3, "{transcript}");
        let got = laptop.join().unwrap();
        if seal_on_error {
            assert_eq!(got.expect("sent anyway").1, b"partial");
        } else {
            assert!(
                transcript.contains(&format!("nothing was sent to {receiver_code}")),
                "{transcript}"
            );
            let ended = got.expect_err("nothing came");
            assert!(matches!(ended, FlowError::Lost), "{ended}");
        }
    }
}

/// `--relay` alone: the URL and the pin come from the settings file.
#[test]
fn the_relay_and_its_pin_come_from_the_settings_file() {
    let relay = TestRelay::start(&[]);
    let config = tempfile::tempdir().unwrap();
    std::fs::create_dir(config.path().join("hush")).unwrap();
    std::fs::write(
        config.path().join("hush/config.toml"),
        format!(
            "[relay]\nurl = \"{}\"\npin = \"{}\"\n",
            relay.url, relay.pin
        ),
    )
    .unwrap();
    // Refused if others may write it (whatever the umask).
    use std::os::unix::fs::PermissionsExt as _;
    let file = config.path().join("hush/config.toml");
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut term = Term::with_settings(config, "--relay -- printf 'from the settings'");
    let code = term.code();
    let (shown, laptop) = laptop(client(&relay), &code, true);
    let receiver_code = shown.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("yes");
    assert_eq!(
        laptop.join().unwrap().expect("delivered").1,
        b"from the settings"
    );
    let (status, transcript) = term.finish();
    assert_eq!(status, 0, "{transcript}");
}

/// A laptop that leaves after the approval without answering the offer to remember it (as
/// `hush receive` does right after refusing a changed identity, when its answer goes with
/// its slot): hush-run says so and runs nothing, since nothing would go anywhere.
#[test]
fn remember_offered_and_the_laptop_leaves_without_an_answer_runs_nothing() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let args = format!("--remember laptop {}", command(&marker, 0, "secret"));
    let mut term = Term::with_relay(&relay, &args);
    let code = Code::parse(&term.code()).unwrap();
    let (shown, approval) = (mpsc::channel(), mpsc::channel());
    let client = client(&relay);
    let laptop = std::thread::spawn(move || {
        let deadline = Instant::now() + PATIENCE;
        let receiver = Receiver::pair(client, &code, deadline)?;
        let _ = shown.0.send(receiver.session().receiver_code.to_string());
        let offer = receiver.approval(deadline)?;
        let _ = approval.0.send(offer.is_some());
        receiver.leave()
    });
    let receiver_code = shown.1.recv_timeout(PATIENCE).expect("paired");
    assert_eq!(term.prompt(), receiver_code);
    term.send_line("y");
    assert_eq!(approval.1.recv_timeout(PATIENCE), Ok(true), "an offer came");
    laptop.join().unwrap().expect("left");
    let (status, transcript) = term.finish();
    assert_eq!(status, 123, "{transcript}");
    assert!(
        transcript.contains("the laptop left without being remembered as laptop"),
        "{transcript}"
    );
    assert_eq!(runs(&marker), 0, "nothing ran");
}
