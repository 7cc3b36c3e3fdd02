//! The TUI under Xvfb, driven by tmux; xclip reads the X clipboard. The pane is 80x24.

use std::fs;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use shared::{Credentials, Iv, Key, Metadata, SealOptions};

use super::desk::{Tmux, Xvfb, wait_until};
use super::write_mode;

const SHORT: Duration = Duration::from_secs(5);
/// A bound for steps whose speed is not what a test checks, on a machine that runs the
/// whole suite at once (a CI run once took more than `SHORT` to open and copy a block).
const LOADED: Duration = Duration::from_secs(30);

fn hush_path() -> String {
    hush_tests::bin("hush").display().to_string()
}

/// Starts `hush --clear-after N` in a fresh pane and waits for its first screen.
fn start_tui(dir: &Path, x: &Xvfb, clear_after: u32) -> Tmux {
    let tmux = Tmux::start(
        dir,
        Some(&x.display),
        &format!("{} --clear-after {clear_after}", hush_path()),
    );
    tmux.wait_for("q quit", SHORT);
    tmux
}

/// Waits for the clipboard to hold something other than `not`, and returns it.
fn clipboard_change(x: &Xvfb, not: Option<&[u8]>) -> Vec<u8> {
    let mut got = None;
    wait_until(SHORT, "the clipboard to change", || {
        got = x.clipboard();
        got.is_some() && got.as_deref() != not
    });
    got.unwrap_or_default()
}

/// `g`, `k`, `i`: returns the key and IV text read back from the clipboard.
fn new_key(tmux: &Tmux, x: &Xvfb) -> (String, String) {
    let before = x.clipboard();
    tmux.keys(&["g"]);
    tmux.wait_for("(current)", SHORT);
    tmux.keys(&["k"]);
    let key = String::from_utf8(clipboard_change(x, before.as_deref())).unwrap();
    tmux.keys(&["i"]);
    let iv = String::from_utf8(clipboard_change(x, Some(key.as_bytes()))).unwrap();
    (key, iv)
}

fn creds(key: &str, iv: &str) -> Credentials {
    Credentials::KeyIv {
        key: Key::parse(key).unwrap(),
        iv: Iv::parse(iv).unwrap(),
    }
}

fn assert_never_shown(tmux: &Tmux, secrets: &[&str]) {
    let history = tmux.history();
    for s in secrets {
        // Even a part of it: the first 12 characters of a key or IV, or of a plaintext.
        let probe: String = s.chars().take(12).collect();
        assert!(
            !history.contains(&probe),
            "the pane showed a secret ({probe:?}):\n{history}"
        );
    }
}

#[test]
fn keys_are_copied_and_cleared_after_the_timeout_and_a_new_copy_replaces_the_timer() {
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, 4);
    tmux.keys(&["g"]);
    let screen = tmux.wait_for("(current)", SHORT);
    tmux.keys(&["k"]);
    let key = String::from_utf8(clipboard_change(&x, None)).unwrap();
    let copied_key_at = Instant::now();
    assert_eq!(key.len(), 44, "32 bytes in base64: {key:?}");
    assert_eq!(Key::parse(&key).unwrap().expose().len(), 32);
    assert!(screen.contains("key #1 "), "{screen}");

    // After 3 of the 4 seconds, copy the IV: its own 4 seconds start now.
    // (Times are taken so that a slow machine can only make the bounds looser: the key was
    // copied before `copied_key_at`, the IV after `pressed_i_at`.)
    std::thread::sleep(Duration::from_secs(3).saturating_sub(copied_key_at.elapsed()));
    let pressed_i_at = Instant::now();
    tmux.keys(&["i"]);
    let iv = String::from_utf8(clipboard_change(&x, Some(key.as_bytes()))).unwrap();
    assert_eq!(iv.len(), 16, "12 bytes in base64: {iv:?}");
    assert_eq!(Iv::parse(&iv).unwrap().expose().len(), 12);
    let fingerprint = creds(&key, &iv).fingerprint().unwrap().to_string();
    assert!(
        tmux.screen().contains(&fingerprint),
        "the fingerprint of the copied pair is shown"
    );
    tmux.wait_for("clears in", SHORT);

    // The key's deadline (at most 4 s after `copied_key_at`) passes: the IV stays, its
    // timer (at least 4 s after `pressed_i_at`, so 7 s after `copied_key_at`) replaced it.
    std::thread::sleep(Duration::from_millis(5200).saturating_sub(copied_key_at.elapsed()));
    assert_eq!(
        x.clipboard().as_deref(),
        Some(iv.as_bytes()),
        "cleared on the old timer"
    );

    // Then it is gone, a little after 4 seconds.
    wait_until(Duration::from_secs(6), "the IV to be cleared", || {
        x.clipboard().is_none_or(|c| c.is_empty())
    });
    let cleared_after = pressed_i_at.elapsed();
    assert!(
        cleared_after >= Duration::from_secs(4),
        "cleared too early: {cleared_after:?}"
    );
    tmux.wait_for("Clipboard cleared", SHORT);
    assert_never_shown(&tmux, &[&key, &iv]);

    tmux.keys(&["q"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    assert!(!tmux.alternate_on(), "alternate screen left");
    assert!(
        screen.contains("\nicanon"),
        "terminal back in canonical mode:\n{screen}"
    );
    assert!(
        !screen.contains("q quit"),
        "the TUI is gone from the screen:\n{screen}"
    );
}

#[test]
fn p_opens_the_clipboard_and_paste_opens_pasted_text_never_showing_the_plaintext() {
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, 4);
    let (key, iv) = new_key(&tmux, &x);
    // Seal as hush-run would, with the key read back from the clipboard: through
    // `hush seal --key-file` (a 0600 key file) and through the library.
    let key_path = dir.path().join("k");
    write_mode(
        &key_path,
        format!("key = {key}\niv = {iv}\n").as_bytes(),
        0o600,
    );
    let plaintext = "PRITUNL-SETUP-KEY-3f9a1c0e77d24b6c\n";
    let sealed = Command::new(hush_path())
        .args(["seal", "--key-file"])
        .arg(&key_path)
        .stdin(
            fs::File::open({
                let p = dir.path().join("plain");
                fs::write(&p, plaintext).unwrap();
                p
            })
            .unwrap(),
        )
        .output()
        .unwrap();
    assert!(sealed.status.success());
    x.copy(&sealed.stdout);

    let pressed = Instant::now();
    tmux.keys(&["p"]);
    wait_until(SHORT, "the plaintext on the clipboard", || {
        x.clipboard().as_deref() == Some(plaintext.as_bytes())
    });
    let latency = pressed.elapsed();
    println!(
        "p to plaintext on the clipboard: {} ms",
        latency.as_millis()
    );
    let screen = tmux.wait_for("Opened with key #1", SHORT);
    println!("screen after opening with p:\n{screen}");
    assert!(
        screen.contains(&format!("{} bytes", plaintext.len())),
        "{screen}"
    );
    assert!(screen.contains("clears in"), "{screen}");

    // A bracketed paste of another block (hush-run's metadata this time) opens at once.
    let meta = Metadata {
        command: Some("wg genkey".into()),
        host: Some("vpn1".into()),
        user: Some("root".into()),
        ..Default::default()
    };
    let second = "WG-PRIVATE-KEY-aGVsbG8gd29ybGQ=";
    let sealed2 = shared::seal(
        &creds(&key, &iv),
        &meta,
        second.as_bytes(),
        true,
        SealOptions::default(),
    )
    .unwrap();
    // A terminal selection: CRLF line ends, indentation and text around the block.
    let pasted = format!(
        "$ hush-run -- wg genkey\r\n  {}\r\n$ ",
        String::from_utf8(sealed2).unwrap().replace('\n', "\r\n  ")
    );
    tmux.paste(pasted.as_bytes());
    wait_until(SHORT, "the pasted block's plaintext", || {
        x.clipboard().as_deref() == Some(second.as_bytes())
    });
    let screen = tmux.wait_for("root@vpn1", SHORT);
    assert!(screen.contains("`wg genkey`"), "{screen}");
    assert_never_shown(&tmux, &[&key, &iv, plaintext, second]);

    // `c` clears it at once, while hush keeps running (so it is hush that cleared it, not
    // the X server dropping the selection of a process that ended).
    tmux.keys(&["c"]);
    wait_until(Duration::from_secs(1), "c to clear the plaintext", || {
        x.clipboard().is_none_or(|c| c.is_empty())
    });
    tmux.wait_for("Clipboard cleared (plaintext)", SHORT);

    // Selected with the mouse but not copied: the block is in the primary selection only,
    // the clipboard holds something else. p looks there too.
    x.copy(b"unrelated text");
    x.select(&sealed.stdout);
    tmux.keys(&["p"]);
    wait_until(SHORT, "the selected block's plaintext", || {
        x.clipboard().as_deref() == Some(plaintext.as_bytes())
    });
    tmux.wait_for("(from the selection)", SHORT);
    tmux.keys(&["q"]);
    assert!(tmux.wait_exit(SHORT).contains("EXITED rc=0"));
}

#[test]
fn bad_blocks_show_their_error_and_the_users_copy_is_never_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let tmux = start_tui(dir.path(), &x, 4);
    let (key, iv) = new_key(&tmux, &x);
    let sealed = shared::seal(
        &creds(&key, &iv),
        &Metadata::default(),
        &[b's'; 5000],
        false,
        SealOptions::default(),
    )
    .unwrap();
    // Flip one bit deep in the body: still valid armor, but a chunk fails authentication.
    let mut bad = sealed.clone();
    let at = bad.len() - 30;
    bad[at] ^= 0x01;
    let corrupted = shared::armor::armor(&bad);

    // The user copies the corrupted block: hush's IV on the clipboard is replaced.
    x.copy(corrupted.as_bytes());
    let copied_at = Instant::now();
    tmux.keys(&["p"]);
    let screen = tmux.wait_for("corrupted", SHORT);
    assert!(screen.contains("Not opened"), "{screen}");
    assert_eq!(
        x.clipboard().as_deref(),
        Some(corrupted.as_bytes()),
        "the clipboard is left as it was"
    );

    // Other failures, each with its own message, the clipboard untouched.
    let cases = [
        (corrupted[..corrupted.len() / 2].to_owned(), "cut off"),
        ("just some text".to_owned(), "no sealed block"),
        (
            String::from_utf8(
                shared::seal(
                    &Credentials::generate().unwrap(),
                    &Metadata::default(),
                    b"x",
                    true,
                    SealOptions::default(),
                )
                .unwrap(),
            )
            .unwrap(),
            "wrong key",
        ),
    ];
    for (text, message) in cases {
        x.copy(text.as_bytes());
        tmux.keys(&["p"]);
        tmux.wait_for(message, SHORT);
        assert_eq!(
            x.clipboard().as_deref(),
            Some(text.as_bytes()),
            "clipboard changed after {message}"
        );
    }
    // What the user copied is still there after hush's timer ran out.
    std::thread::sleep(Duration::from_secs(5).saturating_sub(copied_at.elapsed()));
    tmux.wait_for("holds something else now", SHORT);
    assert!(
        x.clipboard().is_some_and(|c| !c.is_empty()),
        "the user's copy was cleared"
    );
    assert_never_shown(&tmux, &[&key, &iv, &"s".repeat(12)]);
    tmux.keys(&["Escape"]);
    assert!(tmux.wait_exit(SHORT).contains("EXITED rc=0"));
}

#[test]
fn quitting_and_signals_clear_the_clipboard_and_restore_the_terminal() {
    // In raw mode Ctrl-\ is a key, not SIGQUIT: it quits like Ctrl-C. A SIGQUIT sent from
    // outside clears the clipboard like SIGTERM.
    let ways = [
        ("q", 0),
        ("C-c", 0),
        ("C-\\", 0),
        ("TERM", 143),
        ("HUP", 129),
        ("QUIT", 131),
    ];
    for (how, rc) in ways {
        let dir = tempfile::tempdir().unwrap();
        let x = Xvfb::start();
        // A long timeout: whatever clears the clipboard here is the way out, not the timer.
        let tmux = start_tui(dir.path(), &x, 600);
        let (_key, iv) = new_key(&tmux, &x);
        assert_eq!(x.clipboard().as_deref(), Some(iv.as_bytes()));
        if how.len() == 1 || how.starts_with("C-") {
            tmux.keys(&[how]);
        } else {
            let shell = tmux.pane_pid();
            let out = Command::new("pkill")
                .args([&format!("-{how}"), "-P", &shell.to_string(), "-x", "hush"])
                .output()
                .unwrap();
            assert!(out.status.success(), "pkill found no hush");
        }
        let screen = tmux.wait_exit(SHORT);
        assert!(
            screen.contains(&format!("EXITED rc={rc}")),
            "{how}: {screen}"
        );
        assert!(
            screen.contains("\nicanon"),
            "{how}: terminal not restored:\n{screen}"
        );
        assert!(!tmux.alternate_on(), "{how}: still on the alternate screen");
        assert!(
            x.clipboard().is_none_or(|c| c.is_empty()),
            "{how}: clipboard not cleared"
        );
    }
}

/// A new key file `k` and `secret` sealed with it in `sealed.txt`; returns both paths.
fn sealed_file(dir: &Path, secret: &str) -> (std::path::PathBuf, std::path::PathBuf) {
    let key_path = dir.join("k");
    let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
    shared::cli::private_file::write_key_file(&key_path, &key, &iv, false).unwrap();
    let sealed = shared::seal(
        &Credentials::KeyIv { key, iv },
        &Metadata::default(),
        secret.as_bytes(),
        true,
        SealOptions::default(),
    )
    .unwrap();
    let sealed_path = dir.join("sealed.txt");
    fs::write(&sealed_path, sealed).unwrap();
    (key_path, sealed_path)
}

#[test]
fn open_subcommand_on_a_terminal_uses_the_clipboard_with_a_countdown() {
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let secret = "db-password-Zx81-never-on-screen";
    let (key_path, sealed_path) = sealed_file(dir.path(), secret);
    let cmd = format!(
        "{} open --clear-after 3 -k {} {}",
        hush_path(),
        key_path.display(),
        sealed_path.display()
    );
    let tmux = Tmux::start(dir.path(), Some(&x.display), &cmd);
    wait_until(SHORT, "the plaintext on the clipboard", || {
        x.clipboard().as_deref() == Some(secret.as_bytes())
    });
    tmux.wait_for("clears in", SHORT);
    let screen = tmux.wait_exit(Duration::from_secs(8));
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    assert!(screen.contains("clipboard cleared"), "{screen}");
    assert!(x.clipboard().is_none_or(|c| c.is_empty()));
    assert_never_shown(&tmux, &[secret]);
}

#[test]
fn ctrl_backslash_during_the_open_countdown_clears_the_clipboard() {
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let secret = "quit-must-not-leave-this-behind";
    let (key_path, sealed_path) = sealed_file(dir.path(), secret);
    // The pane's shell would die of the SIGQUIT too (and the pane with it): it traps it,
    // which leaves hush the default action to replace.
    let cmd = format!(
        "trap true QUIT; {} open --clear-after 600 -k {} {}",
        hush_path(),
        key_path.display(),
        sealed_path.display()
    );
    let tmux = Tmux::start(dir.path(), Some(&x.display), &cmd);
    wait_until(SHORT, "the plaintext on the clipboard", || {
        x.clipboard().as_deref() == Some(secret.as_bytes())
    });
    tmux.wait_for("clears in", SHORT);
    // Not raw mode here: the terminal turns Ctrl-\ into SIGQUIT.
    tmux.keys(&["C-\\"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=131"), "{screen}");
    assert!(screen.contains("clipboard cleared"), "{screen}");
    assert!(x.clipboard().is_none_or(|c| c.is_empty()));
}

#[test]
fn without_a_display_hush_says_there_is_no_clipboard_and_what_to_do() {
    let dir = tempfile::tempdir().unwrap();
    let tmux = Tmux::start(dir.path(), None, &hush_path());
    let screen = tmux.wait_for("No clipboard", SHORT);
    assert!(screen.contains("not over SSH"), "{screen}");
    tmux.keys(&["g"]);
    tmux.wait_for("(current)", SHORT);
    tmux.keys(&["k"]);
    tmux.wait_for("no clipboard available", SHORT);
    tmux.keys(&["q"]);
    assert!(tmux.wait_exit(SHORT).contains("EXITED rc=0"));

    // `hush open` with a terminal for stdout and no clipboard: exit 9 and the advice.
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("k");
    let status = Command::new(hush_path())
        .args(["keygen", "-o"])
        .arg(&key_path)
        .output()
        .unwrap();
    assert!(status.status.success());
    let cmd = format!("echo x | {} open -k {}", hush_path(), key_path.display());
    let tmux = Tmux::start(dir.path(), None, &cmd);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=9"), "{screen}");
    assert!(screen.contains("-o FILE"), "{screen}");
}

#[test]
fn passphrase_typed_hidden_key_files_loaded_and_resizing() {
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let key_path = dir.path().join("vpn1.key");
    let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
    shared::cli::private_file::write_key_file(&key_path, &key, &iv, false).unwrap();
    let fingerprint = shared::Fingerprint::of(&key, &iv).to_string();
    let by_key = shared::seal(
        &Credentials::KeyIv { key, iv },
        &Metadata::default(),
        b"from the key file",
        true,
        SealOptions::default(),
    )
    .unwrap();
    let pass_path = dir.path().join("pw");
    let passphrase = "tr0ub4dor and 3 horses";
    write_mode(&pass_path, format!("{passphrase}\n").as_bytes(), 0o600);
    let by_pass = Command::new(hush_path())
        .args(["seal", "--passphrase-file"])
        .arg(&pass_path)
        .arg(&pass_path)
        .output()
        .unwrap();
    assert!(by_pass.status.success());

    let cmd = format!(
        "{} --clear-after 4 --key-file {}",
        hush_path(),
        key_path.display()
    );
    let tmux = Tmux::start(dir.path(), Some(&x.display), &cmd);
    let screen = tmux.wait_for("q quit", SHORT);
    assert!(
        screen.contains(&format!("key #1 {fingerprint} (vpn1.key)")),
        "{screen}"
    );

    tmux.paste(&by_key);
    wait_until(SHORT, "the key file's message opened", || {
        x.clipboard().as_deref() == Some(&b"from the key file"[..])
    });
    tmux.wait_for("Opened with key #1", SHORT);

    // P: the passphrase is typed into a prompt that shows nothing of it.
    tmux.keys(&["P"]);
    tmux.wait_for("not shown", SHORT);
    tmux.keys(&["-l", passphrase]);
    std::thread::sleep(Duration::from_millis(300));
    assert!(!tmux.screen().contains("horses"));
    tmux.keys(&["Enter"]);
    tmux.wait_for("Passphrase set", SHORT);
    tmux.paste(&by_pass.stdout);
    wait_until(
        Duration::from_secs(10),
        "the passphrase message opened",
        || x.clipboard().as_deref() == Some(format!("{passphrase}\n").as_bytes()),
    );
    tmux.wait_for("Opened with passphrase", SHORT);
    assert_never_shown(&tmux, &[passphrase, "from the key file"]);

    // Resizing redraws at the new size, the hint line still at the bottom.
    for (w, h) in [("100", "30"), ("60", "20"), ("80", "24")] {
        let out = Command::new("tmux")
            .arg("-S")
            .arg(dir.path().join("tmux.sock"))
            .args(["resize-window", "-t", "0", "-x", w, "-y", h])
            .output()
            .unwrap();
        assert!(out.status.success());
        let rows: usize = h.parse().unwrap();
        wait_until(SHORT, "a redraw at the new size", || {
            let screen = tmux.screen();
            let lines: Vec<&str> = screen.lines().collect();
            lines.len() == rows && lines[rows - 1].starts_with("g new key")
        });
    }
    tmux.keys(&["q"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
}

#[test]
fn subcommand_prompts_read_the_terminal_without_echo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let h = hush_path();
    fs::write(dir.path().join("plain"), "prompted secret").unwrap();
    let passphrase = "purple-elephant-71";
    // seal asks twice (confirmation), open once; then open reads a block pasted into the
    // terminal and stops at its END line, without Ctrl-D.
    let cmd = format!(
        "{h} seal --passphrase -o {d}/sealed {d}/plain && {h} open --passphrase -o {d}/out {d}/sealed \
         && {h} keygen -o {d}/k >/dev/null && {h} seal -k {d}/k {d}/plain > {d}/sealed2 \
         && {h} open -k {d}/k -o {d}/out2 \
         && {h} seal -k {d}/k -o {d}/sealed3 && {h} open -k {d}/k -o {d}/out3 {d}/sealed3"
    );
    let tmux = Tmux::start(dir.path(), None, &cmd);
    for prompts in 1..=3 {
        wait_until(SHORT, "a passphrase prompt", || {
            tmux.screen().matches("Passphrase").count() == prompts
        });
        tmux.keys(&["-l", passphrase]);
        tmux.keys(&["Enter"]);
    }
    tmux.wait_for("Paste the sealed block", Duration::from_secs(10));
    tmux.paste(&fs::read(dir.path().join("sealed2")).unwrap());
    // Text to seal typed on a terminal is read hidden.
    tmux.wait_for("Text to seal (hidden", SHORT);
    tmux.keys(&["-l", "typed hidden secret"]);
    tmux.keys(&["Enter"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=0"), "{screen}");
    assert_eq!(
        fs::read(dir.path().join("out")).unwrap(),
        b"prompted secret"
    );
    assert_eq!(
        fs::read(dir.path().join("out2")).unwrap(),
        b"prompted secret"
    );
    assert_eq!(
        fs::read(dir.path().join("out3")).unwrap(),
        b"typed hidden secret"
    );
    assert_never_shown(
        &tmux,
        &[passphrase, "prompted secret", "typed hidden secret"],
    );
}

/// The terminal goes away (window closed, SSH connection lost) and, as happens when hush
/// runs under a shell that ignores SIGHUP, no signal reaches hush: it must notice by
/// itself, clear the clipboard and exit, not spin on the dead terminal.
#[test]
fn a_terminal_that_goes_away_without_sighup_ends_hush() {
    for mode in ["tui", "open"] {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().display();
        let x = Xvfb::start();
        let key_path = dir.path().join("k");
        let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
        shared::cli::private_file::write_key_file(&key_path, &key, &iv, false).unwrap();
        let secret = "still-secret-after-hangup";
        let sealed = shared::seal(
            &Credentials::KeyIv { key, iv },
            &Metadata::default(),
            secret.as_bytes(),
            true,
            SealOptions::default(),
        )
        .unwrap();
        fs::write(dir.path().join("sealed"), sealed).unwrap();
        let h = hush_path();
        let run = match mode {
            "tui" => format!("{h} --clear-after 600 --key-file {d}/k 2>{d}/err"),
            _ => format!("{h} open --clear-after 600 -k {d}/k {d}/sealed"),
        };
        let tmux = Tmux::start(
            dir.path(),
            Some(&x.display),
            &format!("trap '' HUP; {run}; echo $? > {d}/rc"),
        );
        if mode == "tui" {
            tmux.wait_for("q quit", LOADED);
            tmux.paste(&fs::read(dir.path().join("sealed")).unwrap());
        }
        wait_until(LOADED, "the plaintext on the clipboard", || {
            x.clipboard().as_deref() == Some(secret.as_bytes())
        });
        drop(tmux);
        let rc_path = dir.path().join("rc");
        wait_until(SHORT, "hush to exit after its terminal went away", || {
            fs::read_to_string(&rc_path).is_ok_and(|rc| !rc.is_empty())
        });
        assert_eq!(
            fs::read_to_string(&rc_path).unwrap().trim(),
            "129",
            "{mode}"
        );
        assert!(x.clipboard().is_none_or(|c| c.is_empty()), "{mode}");
        if mode == "tui" {
            let err = fs::read_to_string(dir.path().join("err")).unwrap();
            assert!(err.contains("terminal went away"), "{err}");
        }
    }
}

/// A bug that panics still clears the clipboard and restores the terminal (the panic hook
/// runs before the message is printed). Debug builds panic on a key named in
/// `HUSH_TEST_PANIC_KEY`; release builds have no such hook, and this test is skipped there.
#[test]
fn a_panic_clears_the_clipboard_and_restores_the_terminal() {
    if !cfg!(debug_assertions) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let x = Xvfb::start();
    let cmd = format!(
        "RUST_BACKTRACE=0 HUSH_TEST_PANIC_KEY=Z {} --clear-after 600",
        hush_path()
    );
    let tmux = Tmux::start(dir.path(), Some(&x.display), &cmd);
    tmux.wait_for("q quit", SHORT);
    let (_key, iv) = new_key(&tmux, &x);
    assert_eq!(x.clipboard().as_deref(), Some(iv.as_bytes()));
    tmux.keys(&["Z"]);
    let screen = tmux.wait_exit(SHORT);
    assert!(screen.contains("EXITED rc=101"), "{screen}");
    assert!(tmux.history().contains("test panic requested"), "{screen}");
    assert!(
        screen.contains("\nicanon"),
        "terminal not restored:\n{screen}"
    );
    assert!(!tmux.alternate_on());
    assert!(
        x.clipboard().is_none_or(|c| c.is_empty()),
        "clipboard not cleared"
    );
}

/// Ctrl-C (SIGINT), SIGTERM or SIGHUP at any of hush's hidden prompts puts the terminal
/// back (echo and line editing on) before hush ends by the signal.
#[test]
fn a_signal_at_a_hidden_prompt_restores_echo() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path().display();
    let h = hush_path();
    let prompts = [
        (
            format!("{h} open --passphrase -o {d}/out {d}/none"),
            "Passphrase:",
        ),
        (
            format!("{h} seal --passphrase -o {d}/out {d}/none"),
            "Passphrase:",
        ),
        (format!("{h} seal --passphrase-file {d}/p"), "Text to seal"),
    ];
    write_mode(&dir.path().join("p"), b"a passphrase\n", 0o600);
    for (case, (command, prompt)) in prompts.iter().enumerate() {
        for (signal, number) in [("INT", 2), ("TERM", 15), ("HUP", 1)] {
            // A tmux server (and socket) of its own for each case.
            let pane_dir = dir.path().join(format!("{case}-{signal}"));
            fs::create_dir(&pane_dir).unwrap();
            // The echo mode after hush, as the shell sees it ("echo" or "-echo").
            let script =
                format!("{command}; rc=\\$?; stty -a | grep -ow -- '-\\?echo'; exit \\$rc");
            let tmux = Tmux::start(&pane_dir, None, &format!("sh -c \"{script}\""));
            tmux.wait_for(prompt, SHORT);
            let hush = pid_of_hush_under(tmux.pane_pid());
            let killed = Command::new("kill")
                .args([&format!("-{signal}"), &hush.to_string()])
                .status()
                .unwrap();
            assert!(killed.success());
            let screen = tmux.wait_exit(SHORT);
            let case = format!("{command} / SIG{signal}:\n{screen}");
            assert!(
                screen.contains(&format!("EXITED rc={}", 128 + number)),
                "{case}"
            );
            assert!(screen.lines().any(|l| l.trim() == "echo"), "{case}");
            assert!(!screen.contains("-echo"), "{case}");
            assert!(!screen.contains("-icanon"), "{case}");
        }
    }
}

/// The hush process below the pane's shell (two levels: the pane's sh, then our sh -c).
fn pid_of_hush_under(pane: u32) -> u32 {
    let mut found = None;
    wait_until(SHORT, "hush to start", || {
        let out = Command::new("pgrep").args(["-x", "hush"]).output().unwrap();
        found = String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter_map(|l| l.trim().parse::<u32>().ok())
            .find(|&pid| descends_from(pid, pane));
        found.is_some()
    });
    found.unwrap()
}

fn descends_from(mut pid: u32, ancestor: u32) -> bool {
    for _ in 0..8 {
        if pid == ancestor {
            return true;
        }
        let Ok(stat) = fs::read_to_string(format!("/proc/{pid}/stat")) else {
            return false;
        };
        // The parent pid is the second field after the command name in parentheses.
        let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|p| p.parse().ok())
        else {
            return false;
        };
        pid = ppid;
    }
    false
}

/// A passphrase block whose header asks for costly Argon2id parameters (within the caps):
/// the derivation takes seconds, then the passphrase is found wrong.
fn costly_block() -> String {
    let mut envelope = b"HUSH\x01\x02".to_vec();
    // m = 512 MiB, t = 16, p = 1: about 4.5 s here (256 MiB, t = 4 is only 0.7 s).
    for field in [512 * 1024u32, 16, 1] {
        envelope.extend_from_slice(&field.to_be_bytes());
    }
    envelope.extend_from_slice(&[7u8; 16 + 56 + 40]);
    shared::armor::armor(&envelope)
}

#[test]
fn quitting_while_a_costly_passphrase_derives_is_immediate_and_clears_the_clipboard() {
    for (how, rc) in [("q", 0), ("TERM", 143)] {
        let dir = tempfile::tempdir().unwrap();
        let x = Xvfb::start();
        let tmux = start_tui(dir.path(), &x, 600);
        let (_key, iv) = new_key(&tmux, &x);
        tmux.keys(&["P"]);
        tmux.keys(&["h", "u", "n", "t", "e", "r", "2", "Enter"]);
        tmux.wait_for("Passphrase set", SHORT);
        tmux.paste(costly_block().as_bytes());
        tmux.wait_for("deriving the key", SHORT);
        assert_eq!(x.clipboard().as_deref(), Some(iv.as_bytes()));
        let asked = Instant::now();
        if how == "q" {
            tmux.keys(&[how]);
        } else {
            let shell = tmux.pane_pid();
            let out = Command::new("pkill")
                .args([&format!("-{how}"), "-P", &shell.to_string(), "-x", "hush"])
                .output()
                .unwrap();
            assert!(out.status.success(), "pkill found no hush");
        }
        let screen = tmux.wait_exit(SHORT);
        let took = asked.elapsed();
        assert!(
            screen.contains(&format!("EXITED rc={rc}")),
            "{how}: {screen}"
        );
        // The derivation alone takes seconds: leaving well before it ends shows the loop
        // never waited for it (the margin allows for the harness's polling).
        assert!(took < Duration::from_millis(1500), "{how}: took {took:?}");
        assert!(
            x.clipboard().is_none_or(|c| c.is_empty()),
            "{how}: clipboard not cleared"
        );
    }
}
