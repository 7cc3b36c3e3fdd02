//! Relay mode end to end, the real binaries on both sides: `hush-run --relay` on the
//! server's terminal (a tmux pane, or a rexpect pty) and `hush receive` or the hush TUI
//! (`r`) on the laptop (a tmux pane under Xvfb, so that its output goes to the X
//! clipboard, or a pipe), through a
//! real `hush-relay` on loopback (in memory; Redis-backed where the room must outlive a
//! relay restart, and a two-instance farm on one Redis).
//!
//! Every server listens on 127.0.0.1; every wait is bounded.

// Test helpers: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use hush_tests::{RedisServer, TestRelay};
use shared::cli::relay_client::{RelayClient, parse_pin};
use shared::cli::relay_flow::SenderRoom;

use crate::client::desk::{Tmux, Xvfb, wait_until};
use crate::server::{Term, blocks_in, hush_run_path, runs, sh_quote};

/// How long any one side waits for the other.
const PATIENCE: Duration = Duration::from_secs(60);

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

// ---------------------------------------------------------------------------------------
// Reading the screens

/// The first token after `after` in `text` that is a whole code (`417-4K7M-Q2ZP`).
fn code_in(text: &str, after: &str) -> Option<String> {
    text.match_indices(after).find_map(|(at, _)| {
        let token: String = text[at + after.len()..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-')
            .collect();
        let parts: Vec<&str> = token.split('-').collect();
        let whole = parts.len() == 3
            && !parts[0].is_empty()
            && parts[0].chars().all(|c| c.is_ascii_digit())
            && parts[1].len() == 4
            && parts[2].len() == 4
            // Not the line rewritten once the pairing is over.
            && parts[1..] != ["XXXX", "XXXX"];
        whole.then_some(token)
    })
}

/// The 4 characters after each `before` in `text`, in order.
fn codes_after(text: &str, before: &str) -> Vec<String> {
    text.match_indices(before)
        .map(|(at, _)| text[at + before.len()..].chars().take(4).collect())
        .collect()
}

/// The receiver codes of hush-run's approval prompts on a screen, in order.
fn prompts_in(text: &str) -> Vec<String> {
    text.match_indices(": approve? [y/N]")
        .filter_map(|(at, _)| {
            let before = &text[..at];
            let code = before.get(before.len().checked_sub(4)?..)?;
            before[..before.len() - 4]
                .ends_with("receiver ")
                .then(|| code.to_owned())
        })
        .collect()
}

/// Every way the code's secret half could be written: upper and lower case, with and
/// without its hyphen.
fn secret_forms(code: &str) -> Vec<String> {
    let (_, secret) = code.split_once('-').expect("a code");
    let bare = secret.replace('-', "");
    let mut forms = vec![secret.to_owned(), bare.clone()];
    forms.extend([secret.to_lowercase(), bare.to_lowercase()]);
    forms
}

/// Fails if a scrollback shows the code's secret half or any of `secrets`, also across
/// a line the terminal wrapped.
fn assert_never_shown(history: &str, code: &str, secrets: &[&str], whose: &str) {
    let joined = history.replace('\n', "");
    for probe in secret_forms(code)
        .iter()
        .map(String::as_str)
        .chain(secrets.iter().copied())
    {
        assert!(
            !history.contains(probe) && !joined.contains(probe),
            "{whose}'s scrollback shows a secret ({probe:?}):\n{history}"
        );
    }
}

/// `sh -c` that records its run in `marker`, sleeps `sleep` seconds, and prints `output`
/// (printf escapes: `\n`, `\0`, `\377`).
fn command(marker: &Path, sleep: u32, output: &str) -> String {
    let script = format!(
        "echo ran >> {}; sleep {sleep}; printf {}",
        sh_quote(&marker.display().to_string()),
        sh_quote(output)
    );
    format!("-- sh -c {}", sh_quote(&script))
}

/// A shell command line for hush-run with `relay` and `args`, and an empty settings folder.
fn hush_run_line(relay: &TestRelay, config: &Path, args: &str) -> String {
    format!(
        "XDG_CONFIG_HOME={} {} --relay {} --relay-pin {} {args}",
        sh_quote(&config.display().to_string()),
        sh_quote(&hush_run_path()),
        relay.url,
        relay.pin,
    )
}

/// A shell command line for hush (`sub`: `receive`, or nothing for the TUI) with a
/// 3-second clipboard countdown, `relay` and its pin, and an empty settings folder.
fn hush_line(relay: &TestRelay, config: &Path, sub: &str) -> String {
    format!(
        "XDG_CONFIG_HOME={} {} --clear-after 3 {sub} --relay {} --relay-pin {}",
        sh_quote(&config.display().to_string()),
        sh_quote(&hush_tests::bin("hush").display().to_string()),
        relay.url,
        relay.pin,
    )
}

// ---------------------------------------------------------------------------------------
// The server's side in a tmux pane

/// A tmux pane of its own (its own tmux server), in a folder of its own.
struct Pane {
    tmux: Tmux,
    _dir: tempfile::TempDir,
}

impl Pane {
    fn start(display: Option<&str>, command: &str) -> Pane {
        let dir = tempfile::tempdir().unwrap();
        let tmux = Tmux::start(dir.path(), display, command);
        Pane { tmux, _dir: dir }
    }

    /// Makes the pane's window `columns` wide.
    fn resize(&self, columns: u16) {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(self._dir.path().join("tmux.sock"))
            .args(["resize-window", "-t", "0", "-x", &columns.to_string()])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Waits until `found` finds something on the screen.
    fn wait_for_match<T>(&self, what: &str, mut found: impl FnMut(&str) -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            let screen = self.tmux.screen();
            if let Some(t) = found(&screen) {
                return t;
            }
            assert!(
                start.elapsed() < PATIENCE,
                "the screen never showed {what}; it shows:\n{screen}"
            );
            std::thread::sleep(Duration::from_millis(30));
        }
    }

    /// hush-run's code, once its line is whole.
    fn code(&self) -> String {
        self.wait_for_match("the code", |s| code_in(s, "on your laptop: hush receive "))
    }

    /// The receiver code of hush-run's `n`-th approval prompt (from 1).
    fn prompt(&self, n: usize) -> String {
        self.wait_for_match(&format!("approval prompt {n}"), |s| {
            prompts_in(s).get(n - 1).cloned()
        })
    }

    /// The exit status the pane's shell reported.
    fn exit_status(&self, timeout: Duration) -> i32 {
        let screen = self.tmux.wait_exit(timeout);
        let at = screen.find("EXITED rc=").expect("EXITED") + "EXITED rc=".len();
        let digits: String = screen[at..]
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        digits.parse().unwrap()
    }
}

// ---------------------------------------------------------------------------------------
// The laptop's side to a pipe

/// `hush receive` with its stdout to a pipe; its stderr lines arrive on a channel. Killed
/// if still running when dropped. The client tests (tests/e2e/client/relay.rs) use it too.
pub(crate) struct Receive {
    child: Child,
    stdout: Option<JoinHandle<Vec<u8>>>,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
    _config: Option<tempfile::TempDir>,
}

impl Receive {
    /// `hush receive` at `url` (pinned to `pin`) with `extra` arguments and the code, and
    /// an empty settings folder.
    fn spawn(url: &str, pin: &str, extra: &[&str], code: &str) -> Receive {
        let config = tempfile::tempdir().unwrap();
        let mut cmd = Command::new(hush_tests::bin("hush"));
        cmd.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", config.path())
            .args(["receive", "--relay", url, "--relay-pin", pin])
            .args(extra)
            .arg(code);
        Self::start(cmd, Some(config))
    }

    /// Runs `cmd` (a prepared `hush receive`), keeping `config` until it ends.
    pub(crate) fn start(mut cmd: Command, config: Option<tempfile::TempDir>) -> Receive {
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut out = child.stdout.take().unwrap();
        let stdout = std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = out.read_to_end(&mut bytes);
            bytes
        });
        let stderr = child.stderr.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Receive {
            child,
            stdout: Some(stdout),
            lines,
            seen: Vec::new(),
            _config: config,
        }
    }

    /// Waits (at most `PATIENCE`) for a stderr line containing `text`; returns it.
    pub(crate) fn line_with(&mut self, text: &str) -> String {
        let until = Instant::now() + PATIENCE;
        loop {
            let left = until.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(text) {
                        return line;
                    }
                }
                Err(_) => panic!("no stderr line with {text:?}; saw {:?}", self.seen),
            }
        }
    }

    fn on(relay: &TestRelay, extra: &[&str], code: &str) -> Receive {
        Self::spawn(&relay.url, &relay.pin, extra, code)
    }

    /// The stderr lines so far (without waiting).
    fn poll(&mut self) -> &[String] {
        while let Ok(line) = self.lines.try_recv() {
            self.seen.push(line);
        }
        &self.seen
    }

    /// The receiver code, once shown.
    fn shown_code(&mut self) -> Option<String> {
        self.poll()
            .iter()
            .find_map(|l| codes_after(l, "receiver code ").into_iter().next())
    }

    /// Waits for the receiver code.
    pub(crate) fn receiver_code(&mut self) -> String {
        let until = Instant::now() + PATIENCE;
        loop {
            if let Some(code) = self.shown_code() {
                return code;
            }
            assert!(
                Instant::now() < until,
                "no receiver code; saw {:?}",
                self.seen
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the end (bounded): exit code, stdout, stderr.
    pub(crate) fn finish(mut self, timeout: Duration) -> (i32, Vec<u8>, String) {
        let until = Instant::now() + timeout;
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() >= until {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "hush receive did not end in {timeout:?}; saw {:?}",
                    self.seen
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let stdout = self.stdout.take().unwrap().join().unwrap();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        (status.code().unwrap_or(-1), stdout, self.seen.join("\n"))
    }
}

impl Drop for Receive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------------------
// 1 and 7: the story, both tools on real terminals

/// What the story left behind.
struct Told {
    clipboard: Vec<u8>,
    code: String,
    receiver_code: String,
    server_history: String,
    laptop_history: String,
}

/// The story of the issue: hush-run (at `server`) in one tmux pane, `hush receive` (at
/// `laptop`) in another under Xvfb. The code is read off hush-run's pane and typed at hush's
/// hidden prompt; the receiver codes are compared and `y` answered on hush-run's pane; the
/// output reaches the X clipboard and is cleared after hush's countdown. `marker` counts
/// the command's runs (none before the approval).
fn story(server: &TestRelay, laptop: &TestRelay, args: &str, marker: &Path) -> Told {
    let x = Xvfb::start();
    let config = tempfile::tempdir().unwrap();
    let run = Pane::start(None, &hush_run_line(server, config.path(), args));
    let hush = Pane::start(
        Some(&x.display),
        &hush_line(laptop, config.path(), "receive"),
    );
    hush.tmux.wait_for("typed hidden", PATIENCE);
    let code = run.code();
    // Typed as a careful user does: at the hidden prompt, not on the command line.
    hush.tmux.keys(&[&code, "Enter"]);
    let receiver_code = hush.wait_for_match("the receiver code", |s| {
        s.contains("approve it on the server")
            .then(|| codes_after(s, "receiver code ").into_iter().next())
            .flatten()
    });
    assert_eq!(
        run.prompt(1),
        receiver_code,
        "the codes shown on both sides"
    );
    assert_eq!(runs(marker), 0, "nothing ran before the approval");
    run.tmux.keys(&["y", "Enter"]);

    let mut clipboard = None;
    wait_until(PATIENCE, "the output on the clipboard", || {
        clipboard = x.clipboard().filter(|c| !c.is_empty());
        clipboard.is_some()
    });
    let copied = Instant::now();
    let clipboard = clipboard.unwrap();
    run.tmux
        .wait_for(&format!("delivered to {receiver_code}"), PATIENCE);
    assert_eq!(run.exit_status(PATIENCE), 0, "{}", run.tmux.history());
    assert_eq!(runs(marker), 1, "the command ran once");
    hush.tmux.wait_for("clears in", PATIENCE);
    assert_eq!(hush.exit_status(PATIENCE), 0, "{}", hush.tmux.history());
    // Cleared after the countdown (3 s from the copy, seen a little after it).
    assert!(
        x.clipboard().is_none_or(|c| c.is_empty()),
        "the clipboard was not cleared"
    );
    assert!(
        copied.elapsed() >= Duration::from_secs(2),
        "cleared too soon"
    );

    let server_history = run.tmux.history();
    let nameplate = code.split('-').next().unwrap();
    assert!(
        server_history.contains(&format!(
            "hush receive {nameplate}-XXXX-XXXX   (paired with {receiver_code})"
        )),
        "the code's line is rewritten:\n{server_history}"
    );
    Told {
        clipboard,
        code,
        receiver_code,
        server_history,
        laptop_history: hush.tmux.history(),
    }
}

impl Told {
    fn assert_nothing_shown(&self, secrets: &[&str]) {
        assert_never_shown(&self.server_history, &self.code, secrets, "hush-run");
        assert_never_shown(&self.laptop_history, &self.code, secrets, "hush");
        assert!(
            self.laptop_history
                .contains(&format!("receiver code {}", self.receiver_code)),
            "{}",
            self.laptop_history
        );
        // Checked: they show no secret. What each screen shows (the README's example).
        println!("hush-run's pane:\n{}", self.server_history.trim_end());
        println!("hush's pane:\n{}", self.laptop_history.trim_end());
    }
}

#[test]
fn the_story_code_typed_approved_output_on_the_clipboard_and_on_no_screen() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let told = story(
        &relay,
        &relay,
        &command(&marker, 0, "private key 7f3a9c1e\\n"),
        &marker,
    );
    assert_eq!(told.clipboard, b"private key 7f3a9c1e\n");
    told.assert_nothing_shown(&["private key", "7f3a9c1e"]);
}

/// The same story through a farm: one Redis, two relays sharing one state directory (so
/// one certificate and pin); hush-run talks to one, hush to the other. With wg installed,
/// the command is the real `wg genkey`.
#[test]
fn the_story_through_a_two_instance_redis_farm() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().unwrap();
    let a = TestRelay::start_in(state.path(), &["--redis", &redis.url]);
    let b = TestRelay::start_in(state.path(), &["--redis", &redis.url]);
    assert_eq!(a.pin, b.pin, "one certificate for the farm");
    assert_ne!(a.url, b.url);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let wg = Command::new("wg")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let args = if wg {
        let script = format!(
            "echo ran >> {}; wg genkey",
            sh_quote(&marker.display().to_string())
        );
        format!("-- sh -c {}", sh_quote(&script))
    } else {
        command(&marker, 0, "farm key 5d6e0c1f\\n")
    };
    let told = story(&a, &b, &args, &marker);
    let text = String::from_utf8(told.clipboard.clone()).unwrap();
    if wg {
        // A WireGuard private key: 32 bytes in base64, and `wg pubkey` takes it.
        assert_eq!(text.trim_end().len(), 44, "{text:?}");
        let mut pubkey = Command::new("wg")
            .arg("pubkey")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut pubkey.stdin.take().unwrap(), text.as_bytes()).unwrap();
        assert!(pubkey.wait().unwrap().success(), "wg pubkey refused it");
        told.assert_nothing_shown(&[&text.trim_end()[..12]]);
    } else {
        assert_eq!(text, "farm key 5d6e0c1f\n");
        told.assert_nothing_shown(&["5d6e0c1f"]);
    }
}

// ---------------------------------------------------------------------------------------
// 1b. The story with the TUI: `r` in the hush window

/// hush-run in one tmux pane and the hush TUI in another (under Xvfb), paired and approved.
struct TuiStory {
    x: Xvfb,
    run: Pane,
    tui: Pane,
    code: String,
    receiver_code: String,
    _config: tempfile::TempDir,
}

/// The issue's story up to the approval: hush-run (with `args`) in one pane, `hush` (the
/// TUI, `--clear-after 3`) in another. The code is read off hush-run's pane; in the TUI the
/// user presses `r`, types it and Enter; the receiver code the TUI shows is compared with
/// hush-run's prompt, and `y` answered. Nothing runs before the approval.
fn paired_with_the_tui(relay: &TestRelay, args: &str, marker: &Path) -> TuiStory {
    let x = Xvfb::start();
    let config = tempfile::tempdir().unwrap();
    let run = Pane::start(None, &hush_run_line(relay, config.path(), args));
    let tui = Pane::start(Some(&x.display), &hush_line(relay, config.path(), ""));
    tui.tmux.wait_for("q quit", PATIENCE);
    let code = run.code();
    tui.tmux.keys(&["r"]);
    tui.tmux.wait_for("Relay code", PATIENCE);
    tui.tmux.keys(&[&code, "Enter"]);
    let receiver_code = tui.wait_for_match("the receiver code", |s| {
        s.contains("approve it on the server")
            .then(|| codes_after(s, "receiver code ").into_iter().next())
            .flatten()
    });
    let nameplate = code.split('-').next().unwrap();
    let screen = tui.tmux.screen();
    assert!(
        screen.contains(&format!("{nameplate}-XXXX-XXXX")),
        "the code masked once submitted:\n{screen}"
    );
    assert_eq!(
        run.prompt(1),
        receiver_code,
        "the codes shown on both sides"
    );
    assert_eq!(runs(marker), 0, "nothing ran before the approval");
    run.tmux.keys(&["y", "Enter"]);
    TuiStory {
        x,
        run,
        tui,
        code,
        receiver_code,
        _config: config,
    }
}

impl TuiStory {
    /// Neither pane shows the code's secret half or any of `secrets`; the TUI's is read
    /// while it runs (its alternate screen) and again after `q` (the shell's screen).
    fn assert_nothing_shown(&self, secrets: &[&str]) {
        assert_never_shown(&self.run.tmux.history(), &self.code, secrets, "hush-run");
        assert_never_shown(&self.tui.tmux.history(), &self.code, secrets, "hush");
        self.tui.tmux.keys(&["q"]);
        assert_eq!(
            self.tui.exit_status(PATIENCE),
            0,
            "{}",
            self.tui.tmux.history()
        );
        assert_never_shown(&self.tui.tmux.history(), &self.code, secrets, "hush");
    }
}

#[test]
fn the_story_with_the_tui_r_code_approved_output_on_the_clipboard_and_on_no_screen() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let story = paired_with_the_tui(
        &relay,
        &command(&marker, 0, "private key 2b8e61d4\\n"),
        &marker,
    );
    let mut clipboard = None;
    wait_until(PATIENCE, "the output on the clipboard", || {
        clipboard = story.x.clipboard().filter(|c| !c.is_empty());
        clipboard.is_some()
    });
    let copied = Instant::now();
    assert_eq!(
        clipboard.unwrap(),
        b"private key 2b8e61d4\n",
        "exactly the output"
    );
    let screen = story.tui.tmux.wait_for("are on the clipboard", PATIENCE);
    assert!(screen.contains("clears in"), "the countdown:\n{screen}");
    story
        .run
        .tmux
        .wait_for(&format!("delivered to {}", story.receiver_code), PATIENCE);
    assert_eq!(
        story.run.exit_status(PATIENCE),
        0,
        "{}",
        story.run.tmux.history()
    );
    assert_eq!(runs(&marker), 1, "the command ran once");
    // Cleared after the countdown (3 s from the copy, seen a little after it).
    wait_until(
        Duration::from_secs(10),
        "the clipboard to be cleared",
        || story.x.clipboard().is_none_or(|c| c.is_empty()),
    );
    assert!(
        copied.elapsed() >= Duration::from_secs(2),
        "cleared too soon"
    );
    story.tui.tmux.wait_for("Clipboard cleared", PATIENCE);
    let server = story.run.tmux.history();
    let nameplate = story.code.split('-').next().unwrap();
    assert!(
        server.contains(&format!(
            "hush receive {nameplate}-XXXX-XXXX   (paired with {})",
            story.receiver_code
        )),
        "the code's line is rewritten:\n{server}"
    );
    story.assert_nothing_shown(&["private key", "2b8e61d4"]);
}

/// The relay dies after the approval and never comes back: hush-run (`--relay-timeout 2`)
/// prints the armored block; pasted into the TUI that paired (and still waits), it opens
/// onto the clipboard with the session the TUI holds.
#[test]
fn relay_never_back_the_block_hush_run_prints_opens_in_the_waiting_tui() {
    let mut relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let args = format!(
        "--relay-timeout 2 {}",
        command(&marker, 2, "fallback key 6a0f93c7\\n")
    );
    let story = paired_with_the_tui(&relay, &args, &marker);
    // The command sleeps 2 s: the relay is gone before its output exists.
    relay.stop();
    assert_eq!(
        story.run.exit_status(PATIENCE),
        0,
        "{}",
        story.run.tmux.history()
    );
    assert_eq!(runs(&marker), 1, "the command ran once");
    // The block as a selection of the pane copies it (the armor ignores the line breaks).
    let server = story.run.tmux.history();
    assert!(
        server.replace('\n', "").contains(&format!(
            "the sealed block for receiver {} is printed below instead",
            story.receiver_code
        )),
        "{server}"
    );
    let found = blocks_in(&server);
    assert_eq!(found.len(), 1, "{server}");
    assert!(story.x.clipboard().is_none_or(|c| c.is_empty()));
    story.tui.tmux.paste(found[0].as_bytes());
    wait_until(PATIENCE, "the fallback's output on the clipboard", || {
        story.x.clipboard().as_deref() == Some(b"fallback key 6a0f93c7\n".as_slice())
    });
    let screen = story.tui.tmux.wait_for("are on the clipboard", PATIENCE);
    assert!(screen.contains("relay pairing"), "{screen}");
    story.assert_nothing_shown(&["fallback key", "6a0f93c7"]);
}

// ---------------------------------------------------------------------------------------
// 2. To a pipe

#[test]
fn receive_to_a_pipe_gets_the_exact_bytes_from_hush_run_in_a_pty() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut run = Term::with_relay(
        &relay,
        &command(
            &marker,
            0,
            "key\\0with \\377 binary\\r\\nand no final newline",
        ),
    );
    let code = run.code();
    let mut hush = Receive::on(&relay, &[], &code);
    let receiver_code = hush.receiver_code();
    assert_eq!(run.prompt(), receiver_code);
    run.send_line("y");
    let (rc, stdout, stderr) = hush.finish(PATIENCE);
    assert_eq!(rc, 0, "{stderr}");
    assert_eq!(stdout, b"key\0with \xff binary\r\nand no final newline");
    let (status, transcript) = run.finish();
    assert_eq!(status, 0, "{transcript}");
    assert_eq!(runs(&marker), 1);
    assert!(
        transcript.contains(&format!("delivered to {receiver_code}")),
        "{transcript}"
    );
    assert!(blocks_in(&transcript).is_empty(), "{transcript}");
    assert!(!transcript.contains("binary"), "{transcript}");
}

// ---------------------------------------------------------------------------------------
// 3. Three receivers, one denied

#[test]
fn three_receivers_one_denied_gets_nothing_and_exits_15_the_others_get_the_output() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let config = tempfile::tempdir().unwrap();
    let args = format!(
        "--receivers 3 {}",
        command(&marker, 0, "team secret 91c20b4d\\n")
    );
    // A narrow window (50 columns): the code's line wraps, and so does the denial's
    // warning. hush-run starts once the window has its size.
    let run = Pane::start(
        None,
        &format!("read go; {}", hush_run_line(&relay, config.path(), &args)),
    );
    run.resize(50);
    run.tmux.keys(&["Enter"]);
    let code = run.wait_for_match("the code", |s| {
        code_in(&s.replace('\n', ""), "on your laptop: hush receive ")
    });
    let mut laptops: Vec<Receive> = (0..3).map(|_| Receive::on(&relay, &[], &code)).collect();
    // hush-run pairs the laptops one at a time, in join order; the person denies the
    // third laptop's code whenever it comes.
    let mut denied = None;
    for n in 1..=3 {
        let asked = run.prompt(n);
        let until = Instant::now() + PATIENCE;
        let owner = loop {
            if let Some(i) = laptops
                .iter_mut()
                .position(|l| l.shown_code().as_deref() == Some(&asked))
            {
                break i;
            }
            assert!(Instant::now() < until, "{asked} is no laptop's code");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert_eq!(runs(&marker), 0);
        if owner == 2 {
            denied = Some(asked);
            run.tmux.keys(&["n", "Enter"]);
        } else {
            run.tmux.keys(&["y", "Enter"]);
        }
    }
    let denied = denied.unwrap();
    for (i, laptop) in laptops.into_iter().enumerate() {
        let (rc, stdout, stderr) = laptop.finish(PATIENCE);
        if i == 2 {
            assert_eq!(rc, 15, "the denied receiver's code: {stderr}");
            assert!(stdout.is_empty(), "the denied receiver got something");
            assert!(stderr.contains("denied"), "{stderr}");
        } else {
            assert_eq!(rc, 0, "{stderr}");
            assert_eq!(stdout, b"team secret 91c20b4d\n");
        }
    }
    assert_eq!(run.exit_status(PATIENCE), 0, "{}", run.tmux.history());
    assert_eq!(runs(&marker), 1, "one run for all the receivers");
    let history = run.tmux.history();
    let joined = history.replace('\n', "");
    assert!(
        joined.contains(&format!("receiver {denied} denied: it gets nothing")),
        "{history}"
    );
    assert!(joined.contains("XXXX-XXXX   (paired with "), "{history}");
    assert!(
        history.contains("approve? [y/N] y"),
        "no prompt erased:\n{history}"
    );
    // The code's line and the denial's warning wrap: the code still goes, whole.
    assert_never_shown(&history, &code, &["91c20b4d"], "hush-run");
}

// ---------------------------------------------------------------------------------------
// 4. A wrong code

#[test]
fn a_wrong_code_burns_the_room_hush_run_exits_122_and_hush_receive_14() {
    let relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut run = Term::with_relay(&relay, &command(&marker, 0, "never sent"));
    let code = run.code();
    // The right number, one character of the secret changed: a mistyped code.
    let (number, secret) = code.split_once('-').unwrap();
    let other = if secret.starts_with('0') { '1' } else { '0' };
    let wrong = format!("{number}-{other}{}", &secret[1..]);
    let hush = Receive::on(&relay, &[], &wrong);
    let (rc, stdout, stderr) = hush.finish(PATIENCE);
    assert_eq!(rc, 14, "{stderr}");
    assert!(stdout.is_empty());
    assert!(
        stderr.contains("the sender burned the room: the code was wrong, or someone else tried it"),
        "{stderr}"
    );
    assert!(!stderr.contains("receiver code"), "{stderr}");
    let (status, transcript) = run.finish();
    assert_eq!(status, 122, "{transcript}");
    assert!(
        transcript.contains("wrong code used: someone may be attacking; start again"),
        "{transcript}"
    );
    assert!(!transcript.contains("approve?"), "{transcript}");
    assert_eq!(runs(&marker), 0, "the command never ran");
    // The right code is spent with the room: the same burned room, the same exit code.
    let late = Receive::on(&relay, &[], &code);
    let (rc, stdout, stderr) = late.finish(PATIENCE);
    assert!(stdout.is_empty());
    assert_eq!(rc, 14, "the right code after the burn: {stderr}");
    assert!(stderr.contains("the sender burned the room"), "{stderr}");
}

// ---------------------------------------------------------------------------------------
// 5. The relay goes away after the pairing

/// Pairs hush-run (in a pty, with `args`) and one `hush receive` (with `extra`), approves;
/// returns both and the receiver code.
fn paired_in_pty(relay: &TestRelay, args: &str, extra: &[&str]) -> (Term, Receive, String) {
    let mut run = Term::with_relay(relay, args);
    let code = run.code();
    let mut hush = Receive::on(relay, extra, &code);
    let receiver_code = hush.receiver_code();
    assert_eq!(run.prompt(), receiver_code);
    run.send_line("y");
    (run, hush, receiver_code)
}

#[test]
fn relay_stopped_after_the_pairing_and_back_10_s_later_the_outbox_delivers() {
    let redis = RedisServer::start();
    let mut relay = TestRelay::start(&["--redis", &redis.url]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let args = format!(
        "--relay-timeout 60 {}",
        command(&marker, 1, "outbox key 0c1f5d6e\\n")
    );
    let (mut run, hush, receiver_code) = paired_in_pty(&relay, &args, &["--wait", "120"]);
    relay.stop();
    run.expect_regex("the relay is unreachable; retrying");
    std::thread::sleep(Duration::from_secs(10));
    relay.restart();
    let (rc, stdout, stderr) = hush.finish(PATIENCE);
    assert_eq!(rc, 0, "{stderr}");
    assert_eq!(stdout, b"outbox key 0c1f5d6e\n");
    assert!(stderr.contains("the relay is away"), "{stderr}");
    let (status, transcript) = run.finish();
    assert_eq!(status, 0, "{transcript}");
    assert_eq!(runs(&marker), 1);
    assert!(
        transcript.contains(&format!("delivered to {receiver_code}")),
        "{transcript}"
    );
    assert!(blocks_in(&transcript).is_empty(), "{transcript}");
}

#[test]
fn relay_never_back_hush_run_prints_the_block_and_hush_receive_says_it_lost_the_relay() {
    let mut relay = TestRelay::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let args = format!(
        "--relay-timeout 3 {}",
        command(&marker, 1, "fallback key 3e9b\\n")
    );
    let (run, hush, receiver_code) = paired_in_pty(&relay, &args, &["--wait", "12"]);
    relay.stop();
    let (status, transcript) = run.finish();
    assert_eq!(status, 0, "{transcript}");
    assert_eq!(runs(&marker), 1);
    assert!(
        transcript.contains(&format!(
            "the sealed block for receiver {receiver_code} is printed below instead"
        )),
        "{transcript}"
    );
    let found = blocks_in(&transcript);
    assert_eq!(found.len(), 1, "{transcript}");
    assert!(!transcript.contains("fallback key"), "{transcript}");
    // Well-formed armor around a relay-session envelope (mode 0x03).
    let sealed = shared::armor::decode(found[0].as_bytes()).expect("the block decodes");
    assert_eq!(&sealed[..6], b"HUSH\x01\x03", "a relay-session envelope");
    // Without the pairing's session (which only the waiting hush holds) it opens for nobody.
    let keys = tempfile::tempdir().unwrap();
    let key_file = hush_tests::key_file(
        keys.path(),
        "k",
        &shared::Key::generate().unwrap(),
        &shared::Iv::generate().unwrap(),
    );
    let block = keys.path().join("block.txt");
    std::fs::write(&block, &found[0]).unwrap();
    let open = Command::new(hush_tests::bin("hush"))
        .env_remove("DISPLAY")
        .args(["open", "--key-file"])
        .arg(&key_file)
        .arg("-o")
        .arg(keys.path().join("out"))
        .arg(&block)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&open.stderr);
    assert_eq!(open.status.code(), Some(5), "{said}");
    assert!(
        said.contains("this message was sealed with a relay pairing"),
        "{said}"
    );
    // hush receive, waiting with its --wait, reports the relay gone.
    let (rc, stdout, stderr) = hush.finish(PATIENCE);
    assert!(stdout.is_empty());
    assert!(stderr.contains("the relay is away"), "{stderr}");
    // Its last word: unreachable (exit 10), not "nothing came" (18). It cannot know that
    // hush-run printed the block, and being a one-shot command it takes no pasted block:
    // it says that there may be one, and that only the TUI (which keeps the pairing until
    // quit) opens it.
    assert_eq!(rc, 10, "{stderr}");
    assert!(
        stderr.contains("hush: the relay is unreachable"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hush-run may have printed the output as a sealed block instead"),
        "{stderr}"
    );
    assert!(
        stderr.contains("hint: that block opens only in a hush TUI that paired"),
        "{stderr}"
    );
    // To a pipe, the retry status is written once per state, not once per attempt of
    // every long-poll: no "(2 of 6)" counts, and no line twice.
    let retries: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("no answer from the relay"))
        .collect();
    assert!(!stderr.contains(" of 6)"), "{stderr}");
    let mut unique = retries.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), retries.len(), "{stderr}");
    println!("hush receive's stderr:\n{stderr}");
}

// ---------------------------------------------------------------------------------------
// 6. The laptop offline while the output is stored

/// A TCP forwarder standing for the laptop's network: `offline` cuts every connection and
/// closes the port (connections are refused, as with no network); `online` opens it again.
struct Network {
    port: u16,
    upstream: String,
    conns: Arc<Mutex<Vec<TcpStream>>>,
    stop: Arc<AtomicBool>,
    accepting: Option<JoinHandle<()>>,
}

impl Network {
    fn to(relay_url: &str) -> Network {
        let upstream = relay_url.trim_start_matches("https://").to_owned();
        let mut net = Network {
            port: 0,
            upstream,
            conns: Arc::default(),
            stop: Arc::default(),
            accepting: None,
        };
        net.online();
        net
    }

    fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.port)
    }

    fn online(&mut self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).unwrap();
        self.port = listener.local_addr().unwrap().port();
        self.stop.store(false, Ordering::SeqCst);
        let (stop, conns, upstream) =
            (self.stop.clone(), self.conns.clone(), self.upstream.clone());
        self.accepting = Some(std::thread::spawn(move || {
            for laptop in listener.incoming() {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let (Ok(laptop), Ok(relay)) = (laptop, TcpStream::connect(&upstream)) else {
                    continue;
                };
                let mut list = conns.lock().unwrap();
                for (mut from, mut to) in [
                    (laptop.try_clone().unwrap(), relay.try_clone().unwrap()),
                    (relay.try_clone().unwrap(), laptop.try_clone().unwrap()),
                ] {
                    std::thread::spawn(move || {
                        let _ = std::io::copy(&mut from, &mut to);
                        let _ = to.shutdown(std::net::Shutdown::Write);
                    });
                }
                list.extend([laptop, relay]);
            }
        }));
    }

    fn offline(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread, which then drops the listener.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
        if let Some(thread) = self.accepting.take() {
            thread.join().unwrap();
        }
        for conn in self.conns.lock().unwrap().drain(..) {
            let _ = conn.shutdown(std::net::Shutdown::Both);
        }
    }
}

impl Drop for Network {
    fn drop(&mut self) {
        self.offline();
    }
}

/// The laptop loses its network after the approval, before the output comes: hush-run
/// stores the message on the relay and ends; `hush receive` (still running: the pairing
/// lives in its memory) keeps trying, and once the network is back, within the payload
/// TTL, it gets the message, once. A new `hush receive` with the spent code gets nothing.
#[test]
fn laptop_offline_while_the_output_is_stored_and_back_within_the_ttl_gets_it_once() {
    let relay = TestRelay::start(&[]);
    let mut network = Network::to(&relay.url);
    let dir = tempfile::tempdir().unwrap();
    let marker = dir.path().join("runs");
    let mut run = Term::with_relay(&relay, &command(&marker, 2, "stored key 4d91c20b\\n"));
    let code = run.code();
    let mut hush = Receive::spawn(&network.url(), &relay.pin, &["--wait", "120"], &code);
    let receiver_code = hush.receiver_code();
    assert_eq!(run.prompt(), receiver_code);
    run.send_line("y");
    // The command sleeps 2 s: the laptop is gone before its output exists.
    network.offline();
    let (status, transcript) = run.finish();
    assert_eq!(status, 0, "{transcript}");
    assert!(
        transcript.contains(&format!("stored on the relay for {receiver_code} until ")),
        "{transcript}"
    );
    assert!(blocks_in(&transcript).is_empty(), "{transcript}");
    // Offline a little longer, then back.
    std::thread::sleep(Duration::from_secs(3));
    network.online();
    let (rc, stdout, stderr) = hush.finish(PATIENCE);
    assert_eq!(rc, 0, "{stderr}");
    assert_eq!(stdout, b"stored key 4d91c20b\n", "delivered once, whole");
    assert!(stderr.contains("the relay is away"), "{stderr}");
    assert_eq!(runs(&marker), 1);
    // A second `hush receive` cannot come back into the pairing: the code is spent.
    let again = Receive::on(&relay, &["--wait", "10"], &code);
    let (rc, stdout, stderr) = again.finish(PATIENCE);
    assert!(stdout.is_empty(), "delivered twice");
    assert_eq!(rc, 13, "{stderr}");
}
