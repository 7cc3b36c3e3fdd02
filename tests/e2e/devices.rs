//! Registered devices end to end, the real binaries: a server (`hush-run`, in a pty) and a
//! laptop (`hush receive`, or the TUI in tmux under Xvfb) pair once through a real
//! `hush-relay` on loopback and remember each other; afterwards `hush-run --to NAME`
//! seals for the laptop with no key and no code, and the laptop opens it with its
//! identity (passphrase typed once). Each side's settings folder ($XDG_CONFIG_HOME) is a
//! temporary folder of its own.

// Test helpers: a failure here is a test failure.
#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use hush_tests::{TestRelay, bin};

use crate::client::desk::{Tmux, Xvfb, wait_until};
use crate::relay::Receive;
use crate::server::{Term, blocks_in, code, output_within, sh_quote};

const PATIENCE: Duration = Duration::from_secs(60);

/// These stories open identities many times (Argon2id, 64 MiB, both cores): one at a time,
/// so that they do not starve the suite's other tests of CPU.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}
const PASSPHRASE: &str = "laptop identity passphrase 7f3a";

/// One machine's settings folder ($XDG_CONFIG_HOME).
struct Side {
    dir: tempfile::TempDir,
}

impl Side {
    fn new() -> Side {
        Side {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    fn config(&self) -> &Path {
        self.dir.path()
    }

    /// A file of the tools' folder.
    fn file(&self, name: &str) -> PathBuf {
        self.dir.path().join("hush").join(name)
    }

    fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.file(name)).unwrap_or_default()
    }
}

/// A laptop: its settings folder, and a 0600 file with its identity's passphrase.
struct Laptop {
    side: Side,
    pass: PathBuf,
    _pass_dir: tempfile::TempDir,
}

impl Laptop {
    fn new() -> Laptop {
        let dir = tempfile::tempdir().unwrap();
        let pass = dir.path().join("pass");
        std::fs::write(&pass, format!("{PASSPHRASE}\n")).unwrap();
        std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).unwrap();
        Laptop {
            side: Side::new(),
            pass,
            _pass_dir: dir,
        }
    }

    /// `hush ARGS` with this laptop's settings, no display, stdin closed.
    fn hush(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(bin("hush"));
        cmd.env_remove("DISPLAY")
            .env_remove("WAYLAND_DISPLAY")
            .env("XDG_CONFIG_HOME", self.side.config())
            .stdin(Stdio::null())
            .args(args);
        cmd
    }

    /// `hush open --identity-passphrase-file PASS BLOCK`, to a pipe.
    fn open(&self, block: &str) -> Output {
        let dir = tempfile::tempdir().unwrap();
        let input = dir.path().join("block");
        std::fs::write(&input, block).unwrap();
        let pass = self.pass.display().to_string();
        let input = input.display().to_string();
        output_within(
            self.hush(&["open", "--identity-passphrase-file", &pass, &input]),
            PATIENCE,
        )
    }
}

/// `hush-run ARGS` with `server`'s settings, no terminal: `--to` needs none.
fn hush_run(server: &Side, args: &[&str]) -> Output {
    let mut cmd = Command::new(bin("hush-run"));
    cmd.env("XDG_CONFIG_HOME", server.config())
        .stdin(Stdio::null())
        .args(args);
    output_within(cmd, PATIENCE)
}

/// `hush-run --to NAME --print -- printf TEXT`: the block it printed (rather than dropped
/// in the device's mailbox).
fn sealed_for(server: &Side, name: &str, text: &str) -> String {
    let out = hush_run(
        server,
        &["--to", name, "--print", "--", "printf", "%s", text],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(&out), 0, "{stderr}");
    assert!(
        stderr.contains(&format!("sealing for {name} as this server (SHA256:")),
        "{stderr}"
    );
    let blocks = blocks_in(&String::from_utf8(out.stdout).unwrap());
    assert_eq!(blocks.len(), 1);
    format!("{}\n", blocks[0])
}

/// The hush TUI with `laptop`'s settings (`--clear-after 30`, and `relay` for `r`), in a
/// tmux pane of its own under `x`, in `dir`. With `passphrase`, the identity's passphrase
/// is typed at its prompt; either way the main screen is up when it returns.
fn start_tui(
    x: &Xvfb,
    dir: &Path,
    laptop: &Laptop,
    relay: Option<&TestRelay>,
    passphrase: bool,
) -> Tmux {
    let mut line = format!(
        "XDG_CONFIG_HOME={} {} --clear-after 30",
        sh_quote(&laptop.side.config().display().to_string()),
        sh_quote(&bin("hush").display().to_string())
    );
    if let Some(relay) = relay {
        line.push_str(&format!(" --relay {} --relay-pin {}", relay.url, relay.pin));
    }
    let tmux = Tmux::start(dir, Some(&x.display), &line);
    if passphrase {
        tmux.wait_for("Passphrase of this laptop's identity", PATIENCE);
        tmux.keys(&[PASSPHRASE, "Enter"]);
    }
    tmux.wait_for("q quit", PATIENCE);
    tmux
}

/// The TUI pairs (`r`, the code of `run`, a hush-run offering to remember) and hush-run
/// approves it: the TUI then asks whether to remember the server.
fn pair_in_tui(tmux: &Tmux, run: &mut Term) {
    let pairing_code = run.code();
    tmux.keys(&["r"]);
    tmux.wait_for("Relay code", PATIENCE);
    tmux.keys(&[&pairing_code, "Enter"]);
    tmux.wait_for("approve it on the server", PATIENCE);
    run.prompt();
    run.send_line("y");
    tmux.wait_for("Remember this server?", PATIENCE);
}

/// What one pairing with --remember left.
struct Remembered {
    /// `hush receive`'s exit code, stdout, stderr.
    receive: (i32, Vec<u8>, String),
    /// hush-run's exit code and terminal transcript.
    run: (i32, String),
}

/// hush-run at `server`'s terminal (a pty): `--relay --remember AS -- printf %s OUTPUT`.
fn offering(relay: &TestRelay, server: &Side, remember_as: &str, output: &str) -> Term {
    let script = format!(
        "XDG_CONFIG_HOME={} exec {} --relay {} --relay-pin {} --remember {remember_as} -- printf %s {}",
        sh_quote(&server.config().display().to_string()),
        sh_quote(&bin("hush-run").display().to_string()),
        relay.url,
        relay.pin,
        sh_quote(output),
    );
    Term::start(&script)
}

/// Pairs `server` (hush-run offering to remember the laptop as `remember_as`) and
/// `laptop` (`hush receive`, with `--remember[=NAME]` unless `server_name` is `None`, the
/// identity passphrase from its file) through `relay`, the receiver approved.
fn pair_and_remember(
    relay: &TestRelay,
    server: &Side,
    laptop: &Laptop,
    remember_as: &str,
    server_name: Option<&str>,
    output: &str,
) -> Remembered {
    let mut run = offering(relay, server, remember_as, output);
    let pairing_code = run.code();
    let remember = server_name.map(|name| match name {
        "" => "--remember".to_owned(),
        name => format!("--remember={name}"),
    });
    let pass = laptop.pass.display().to_string();
    let mut args = vec![
        "receive",
        "--relay",
        &relay.url,
        "--relay-pin",
        &relay.pin,
        "--identity-passphrase-file",
        &pass,
        &pairing_code,
    ];
    if let Some(remember) = &remember {
        args.push(remember);
    }
    let mut cmd = laptop.hush(&args);
    cmd.stdin(Stdio::null());
    let mut receive = Receive::start(cmd, None);
    let receiver_code = receive.receiver_code();
    assert_eq!(run.prompt(), receiver_code);
    run.send_line("y");
    Remembered {
        receive: receive.finish(PATIENCE),
        run: run.finish(),
    }
}

/// This machine's host name, as hush-run offers it.
fn host_name() -> String {
    let out = Command::new("uname").arg("-n").output().unwrap();
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

/// A laptop's identity secret, opened the way any hush message is: the identity file is a
/// passphrase-mode message.
fn identity_secret(laptop: &Laptop) -> Vec<u8> {
    let pass = laptop.pass.display().to_string();
    let file = laptop.side.file("identity").display().to_string();
    let out = output_within(
        laptop.hush(&["open", "--passphrase-file", &pass, &file]),
        PATIENCE,
    );
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    out.stdout
        .strip_prefix(b"hush device identity v1\n")
        .expect("the identity's plaintext")
        .to_vec()
}

/// The `key = "..."` of the first peer in a peers file.
fn first_key(peers_toml: &str) -> String {
    let line = peers_toml
        .lines()
        .find(|l| l.starts_with("key = "))
        .expect("a key line");
    line["key = ".len()..].trim_matches('"').to_owned()
}

#[test]
fn paired_once_then_three_runs_open_with_the_identity_in_the_tui_and_after_a_restart() {
    let _serial = one_at_a_time();
    let relay = TestRelay::start(&[]);
    let server = Side::new();
    let laptop = Laptop::new();
    let told = pair_and_remember(&relay, &server, &laptop, "laptop", Some("vpn1"), "first\n");
    let (rc, stdout, stderr) = &told.receive;
    assert_eq!(*rc, 0, "{stderr}");
    assert_eq!(stdout, b"first\n", "the pairing's own output");
    assert!(
        stderr.contains("made this laptop's identity SHA256:"),
        "{stderr}"
    );
    assert!(stderr.contains("remembered vpn1 (SHA256:"), "{stderr}");
    let (status, transcript) = &told.run;
    assert_eq!(*status, 0, "{transcript}");
    assert!(
        transcript.contains("made this server's identity SHA256:"),
        "{transcript}"
    );
    assert!(
        transcript.contains("remembered laptop (SHA256:"),
        "{transcript}"
    );
    // What each side keeps: both files private, the identity sealed.
    for (side, file) in [
        (&laptop.side, "identity"),
        (&laptop.side, "servers.toml"),
        (&server, "server-identity"),
        (&server, "devices.toml"),
    ] {
        let mode = std::fs::metadata(side.file(file))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{file}");
    }
    assert!(
        laptop
            .side
            .read("identity")
            .contains("BEGIN HUSH SEALED MESSAGE")
    );
    assert!(laptop.side.read("servers.toml").contains("name = \"vpn1\""));
    assert!(server.read("devices.toml").contains("name = \"laptop\""));
    let listed = hush_run(&server, &["devices", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).starts_with("laptop "));

    // Three runs later, no key, no code.
    let blocks: Vec<String> = (1..=3)
        .map(|n| sealed_for(&server, "laptop", &format!("device secret {n}\n")))
        .collect();

    // The TUI, its identity's passphrase typed at the start (hidden), opens them pasted.
    let x = Xvfb::start();
    let open_in_tui = |tmux: &Tmux, blocks: &[(usize, String)]| {
        for (n, block) in blocks {
            tmux.paste(block.as_bytes());
            let want = format!("device secret {n}\n");
            wait_until(PATIENCE, "the plaintext on the clipboard", || {
                x.clipboard().is_some_and(|c| c == want.as_bytes())
            });
            tmux.wait_for("sealed by vpn1 (SHA256:", PATIENCE);
        }
        tmux.keys(&["q"]);
        tmux.wait_exit(PATIENCE);
        let history = tmux.history();
        assert!(
            !history.contains(PASSPHRASE),
            "the passphrase was shown:\n{history}"
        );
        for n in 1..=3 {
            assert!(
                !history.contains(&format!("device secret {n}")),
                "{history}"
            );
        }
    };
    let numbered: Vec<(usize, String)> = blocks
        .iter()
        .cloned()
        .enumerate()
        .map(|(i, b)| (i + 1, b))
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let tmux = start_tui(&x, dir.path(), &laptop, None, true);
    open_in_tui(&tmux, &numbered[..2]);
    drop(tmux);
    // Restarted: the passphrase typed again, the identity opens the third.
    let dir = tempfile::tempdir().unwrap();
    let tmux = start_tui(&x, dir.path(), &laptop, None, true);
    open_in_tui(&tmux, &numbered[2..]);

    // The independent opener (docs/hush_open.py) opens fresh output with the identity.
    let ident = dir.path().join("identity.txt");
    let secret: [u8; 32] = identity_secret(&laptop).try_into().unwrap();
    let secret = shared::IdentitySecret::from_bytes(secret).to_base64();
    let secret = secret.as_str();
    let server_key = first_key(&laptop.side.read("servers.toml"));
    std::fs::write(
        &ident,
        format!("identity = {secret}\nserver = {server_key}\n"),
    )
    .unwrap();
    let block = dir.path().join("block");
    std::fs::write(&block, &blocks[0]).unwrap();
    let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/hush_open.py");
    let out = Command::new("python3")
        .arg(docs)
        .arg("--identity-file")
        .arg(&ident)
        .arg(&block)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, b"device secret 1\n");
}

/// Asserts `hush open` failed with `rc`, said `says`, and released nothing.
fn refused(out: &Output, rc: i32, says: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(code(out), rc, "{stderr}");
    assert!(stderr.contains(says), "expected {says:?} in: {stderr}");
    assert!(out.stdout.is_empty(), "something was released");
}

/// The block with its sender key id (header bytes 6..14) replaced by `id`.
fn with_sender(block: &str, id: &[u8; 8]) -> String {
    let opened = shared::armor::SealedInput::new(block.as_bytes()).unwrap();
    let mut bytes = Vec::new();
    std::io::Read::read_to_end(&mut { opened }, &mut bytes).unwrap();
    bytes[6..14].copy_from_slice(id);
    let mut armor = shared::armor::ArmorWriter::new(Vec::new()).unwrap();
    std::io::Write::write_all(&mut armor, &bytes).unwrap();
    String::from_utf8(armor.finish().unwrap()).unwrap()
}

#[test]
fn strangers_forgeries_other_laptops_forgotten_and_changed_servers_are_refused() {
    let _serial = one_at_a_time();
    let relay = TestRelay::start(&[]);
    let (server, laptop, other_laptop) = (Side::new(), Laptop::new(), Laptop::new());
    let host = host_name();
    for (who, name) in [(&laptop, "laptop"), (&other_laptop, "laptop2")] {
        let told = pair_and_remember(&relay, &server, who, name, Some(""), "x");
        assert_eq!(told.receive.0, 0, "{}", told.receive.2);
        assert!(
            told.receive
                .2
                .contains(&format!("remembered {host} (SHA256:"))
        );
    }
    let good = sealed_for(&server, "laptop", "for the laptop\n");
    let opened = laptop.open(&good);
    assert_eq!(
        code(&opened),
        0,
        "{}",
        String::from_utf8_lossy(&opened.stderr)
    );
    assert_eq!(opened.stdout, b"for the laptop\n");
    assert!(String::from_utf8_lossy(&opened.stderr).contains(&format!(
        "opened with this laptop's identity, sealed by {host} (SHA256:"
    )));

    // A server the laptop never paired with, that knows the laptop's key (its device list
    // copied): refused before anything is tried.
    let stranger = Side::new();
    std::fs::create_dir_all(stranger.file("")).unwrap();
    std::fs::copy(server.file("devices.toml"), stranger.file("devices.toml")).unwrap();
    let strange = sealed_for(&stranger, "laptop", "from a stranger\n");
    refused(
        &laptop.open(&strange),
        19,
        "a server this device never paired with",
    );

    // The stranger's message naming the known server as its sender: the stanza does not
    // verify under that server's key.
    let known = shared::PublicIdentity::parse(&first_key(&laptop.side.read("servers.toml")))
        .unwrap()
        .key_id();
    refused(
        &laptop.open(&with_sender(&strange, &known.0)),
        19,
        &format!("does not verify as sealed by {host}: forged, or altered"),
    );

    // Sealed for the other laptop.
    let theirs = sealed_for(&server, "laptop2", "for laptop2\n");
    refused(
        &laptop.open(&theirs),
        5,
        "sealed for other devices, not this one",
    );
    assert_eq!(other_laptop.open(&theirs).stdout, b"for laptop2\n");

    // The identity file: a wrong passphrase, readable by the group, not a passphrase
    // message at all.
    let wrong = tempfile::tempdir().unwrap();
    let wrong_pass = wrong.path().join("pass");
    std::fs::write(&wrong_pass, "not it\n").unwrap();
    std::fs::set_permissions(&wrong_pass, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = output_within(
        laptop.hush(&[
            "open",
            "--identity-passphrase-file",
            &wrong_pass.display().to_string(),
            "/dev/null",
        ]),
        PATIENCE,
    );
    refused(&out, 5, "wrong passphrase for this device's identity");
    let identity = laptop.side.file("identity");
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o640)).unwrap();
    refused(&laptop.open(&good), 8, "run: chmod 600");
    std::fs::set_permissions(&identity, std::fs::Permissions::from_mode(0o600)).unwrap();
    let saved = std::fs::read(&identity).unwrap();
    let key_file = wrong.path().join("key");
    let out = output_within(
        laptop.hush(&["keygen", "--out", &key_file.display().to_string()]),
        PATIENCE,
    );
    assert_eq!(code(&out), 0);
    let mut seal = laptop.hush(&["seal", "--key-file", &key_file.display().to_string()]);
    seal.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null());
    let mut child = seal.spawn().unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"not an identity").unwrap();
    let sealed = child.wait_with_output().unwrap();
    std::fs::write(&identity, &sealed.stdout).unwrap();
    refused(
        &laptop.open(&good),
        8,
        "is not a hush device identity: it is sealed with a key and IV, not a passphrase",
    );
    std::fs::write(&identity, &saved).unwrap();

    // The server reinstalled (a new identity) pairs again: the laptop refuses it loudly
    // and remembers nothing.
    std::fs::remove_file(server.file("server-identity")).unwrap();
    let before = laptop.side.read("servers.toml");
    let told = pair_and_remember(
        &relay,
        &server,
        &laptop,
        "laptop",
        Some(""),
        "after reinstall",
    );
    let (rc, stdout, stderr) = &told.receive;
    assert_eq!(*rc, 20, "{stderr}");
    assert!(
        stderr.contains(&format!("THE IDENTITY OF {host} HAS CHANGED")),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("hush servers forget {host}")),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "nothing received after the refusal");
    assert_eq!(laptop.side.read("servers.toml"), before);
    assert!(
        told.run.1.contains("declined to be remembered"),
        "{}",
        told.run.1
    );

    // Forgotten: its messages get their own refusal.
    let out = output_within(laptop.hush(&["servers", "forget", &host]), PATIENCE);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    refused(
        &laptop.open(&good),
        19,
        &format!("sealed by {host}, which this device has forgotten"),
    );
    let listed = output_within(laptop.hush(&["servers", "list"]), PATIENCE);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("FORGOTTEN"));

    // And the server forgets a device: --to refuses the name.
    let out = hush_run(&server, &["devices", "forget", "laptop2"]);
    assert_eq!(code(&out), 0, "{}", String::from_utf8_lossy(&out.stderr));
    let out = hush_run(&server, &["--to", "laptop2", "--", "true"]);
    assert_eq!(code(&out), 2);
    assert!(String::from_utf8_lossy(&out.stderr).contains("no device named laptop2"));
    assert!(!server.read("devices.toml").contains("laptop2"));
}

#[test]
fn the_tui_answers_an_offer_and_hush_receive_without_remember_declines_it() {
    let _serial = one_at_a_time();
    let relay = TestRelay::start(&[]);
    let (first, second, third) = (Side::new(), Side::new(), Side::new());
    let laptop = Laptop::new();
    // The laptop's identity comes from a first pairing (as "first": the TUI remembers the
    // next server by its host name, which every server here shares).
    let told = pair_and_remember(&relay, &first, &laptop, "laptop", Some("first"), "x");
    assert_eq!(told.receive.0, 0, "{}", told.receive.2);

    // Without --remember, hush receive declines the offer and still receives.
    let told = pair_and_remember(&relay, &third, &laptop, "laptop", None, "declined\n");
    let (rc, stdout, stderr) = &told.receive;
    assert_eq!(*rc, 0, "{stderr}");
    assert_eq!(stdout, b"declined\n");
    assert!(
        stderr.contains("offered to remember this laptop (as laptop); declined"),
        "{stderr}"
    );
    assert!(
        told.run.1.contains("declined to be remembered as laptop"),
        "{}",
        told.run.1
    );
    assert!(!third.file("devices.toml").exists());

    // The TUI: identity opened at the start, `r` and the code, approved, then its own
    // question: y remembers the server.
    let x = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    let tmux = start_tui(&x, dir.path(), &laptop, Some(&relay), true);
    let mut run = offering(&relay, &second, "laptop", "paired by the tui\n");
    pair_in_tui(&tmux, &mut run);
    let host = host_name();
    let screen = tmux.screen();
    assert!(screen.contains(&format!("{host} (SHA256:")), "{screen}");
    tmux.keys(&["y"]);
    wait_until(PATIENCE, "the output on the clipboard", || {
        x.clipboard().is_some_and(|c| c == b"paired by the tui\n")
    });
    let (status, transcript) = run.finish();
    assert_eq!(status, 0, "{transcript}");
    assert!(
        transcript.contains("remembered laptop (SHA256:"),
        "{transcript}"
    );
    assert!(
        laptop
            .side
            .read("servers.toml")
            .contains(&format!("name = \"{host}\""))
    );

    // The server it just remembered seals for it; the same TUI opens it.
    let block = sealed_for(&second, "laptop", "device secret via the tui\n");
    tmux.paste(block.as_bytes());
    wait_until(PATIENCE, "the plaintext on the clipboard", || {
        x.clipboard()
            .is_some_and(|c| c == b"device secret via the tui\n")
    });
    tmux.wait_for(&format!("sealed by {host} (SHA256:"), PATIENCE);
    tmux.keys(&["q"]);
    tmux.wait_exit(PATIENCE);
    assert!(!tmux.history().contains(PASSPHRASE));
}

/// `hush inbox` with the laptop's passphrase file: exit code, stdout, stderr.
fn inbox(laptop: &Laptop, extra: &[&str]) -> (i32, Vec<u8>, String) {
    let pass = laptop.pass.display().to_string();
    let mut args = vec!["inbox", "--identity-passphrase-file", &pass];
    args.extend_from_slice(extra);
    let out = output_within(laptop.hush(&args), PATIENCE);
    (
        code(&out),
        out.stdout,
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `hush-run --to laptop -- printf TEXT` with a mailbox: dropped there, or printed.
fn to_mailbox(server: &Side, text: &str) -> (String, String) {
    let out = hush_run(server, &["--to", "laptop", "--", "printf", "%s", text]);
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(code(&out), 0, "{stderr}");
    (String::from_utf8(out.stdout).unwrap(), stderr)
}

#[test]
fn the_mailbox_carries_messages_to_hush_inbox_once_and_is_given_again_after_a_relay_restart() {
    let _serial = one_at_a_time();
    let mut relay = TestRelay::start(&[]);
    let (server, laptop) = (Side::new(), Laptop::new());
    let told = pair_and_remember(&relay, &server, &laptop, "laptop", Some("vpn1"), "x");
    assert_eq!(told.receive.0, 0, "{}", told.receive.2);
    assert!(server.read("devices.toml").contains("[peer.mailbox]"));
    let listed = hush_run(&server, &["devices", "list"]);
    assert!(String::from_utf8_lossy(&listed.stdout).contains("  mailbox"));

    // Dropped: nothing printed, nothing to paste.
    for n in 1..=2 {
        let (stdout, stderr) = to_mailbox(&server, &format!("mailbox secret {n}\n"));
        assert!(stdout.is_empty(), "{stdout}");
        assert!(
            stderr.contains(&format!("into laptop (mailbox on {})", relay.url)),
            "{stderr}"
        );
    }
    let (rc, stdout, stderr) = inbox(&laptop, &["--list"]);
    assert_eq!(rc, 0, "{stderr}");
    assert_eq!(String::from_utf8(stdout).unwrap().lines().count(), 2);
    // One at a time, oldest first, each once.
    let (rc, stdout, stderr) = inbox(&laptop, &[]);
    assert_eq!(
        (rc, stdout.as_slice()),
        (0, &b"mailbox secret 1\n"[..]),
        "{stderr}"
    );
    assert!(stderr.contains("sealed by vpn1 (SHA256:"), "{stderr}");
    assert!(stderr.contains("1 more message(s) wait"), "{stderr}");
    let (rc, stdout, _) = inbox(&laptop, &[]);
    assert_eq!((rc, stdout.as_slice()), (0, &b"mailbox secret 2\n"[..]));
    let (rc, stdout, stderr) = inbox(&laptop, &[]);
    assert_eq!(rc, 18, "{stderr}");
    assert!(stdout.is_empty());
    assert!(stderr.contains("no message waited"), "{stderr}");

    // An in-memory relay restarted has lost the mailbox: hush-run prints the block (it
    // still opens with the identity); the laptop's next look registers the mailbox again,
    // and drops go there once more.
    relay.restart();
    let (stdout, stderr) = to_mailbox(&server, "lost relay\n");
    assert!(stderr.contains("its relay did not take it"), "{stderr}");
    let block = blocks_in(&stdout);
    assert_eq!(block.len(), 1, "{stdout}");
    let opened = laptop.open(&format!("{}\n", block[0]));
    assert_eq!(opened.stdout, b"lost relay\n");
    let (rc, _, stderr) = inbox(&laptop, &[]);
    assert_eq!(rc, 18, "{stderr}");
    let (stdout, _) = to_mailbox(&server, "back again\n");
    assert!(stdout.is_empty());
    let (rc, stdout, stderr) = inbox(&laptop, &["--wait", "5"]);
    assert_eq!(
        (rc, stdout.as_slice()),
        (0, &b"back again\n"[..]),
        "{stderr}"
    );

    // The relay down: printed at once, nothing lost.
    relay.stop();
    let (stdout, stderr) = to_mailbox(&server, "relay down\n");
    assert!(stderr.contains("its relay did not take it"), "{stderr}");
    assert_eq!(blocks_in(&stdout).len(), 1);
}

#[test]
fn three_runs_reach_the_running_tui_through_the_mailbox_and_a_restarted_tui_gets_the_one_sent_meanwhile()
 {
    let _serial = one_at_a_time();
    let relay = TestRelay::start(&[]);
    let (server, laptop) = (Side::new(), Laptop::new());
    let told = pair_and_remember(&relay, &server, &laptop, "laptop", Some("vpn1"), "x");
    assert_eq!(told.receive.0, 0, "{}", told.receive.2);
    let x = Xvfb::start();
    let start = |dir: &Path| {
        let tmux = start_tui(&x, dir, &laptop, None, true);
        tmux.wait_for("mailbox: 0 waiting", PATIENCE);
        tmux
    };
    let arrives = |tmux: &Tmux, text: &str| {
        wait_until(PATIENCE, "the message on the clipboard", || {
            x.clipboard().is_some_and(|c| c == text.as_bytes())
        });
        tmux.wait_for("sealed by vpn1 (SHA256:", PATIENCE);
    };
    let dir = tempfile::tempdir().unwrap();
    let tmux = start(dir.path());
    for n in 1..=2 {
        let text = format!("mailbox secret {n}\n");
        let (stdout, _) = to_mailbox(&server, &text);
        assert!(stdout.is_empty(), "dropped, not printed");
        arrives(&tmux, &text);
    }
    tmux.keys(&["q"]);
    tmux.wait_exit(PATIENCE);
    let history = tmux.history();
    drop(tmux);
    // Sent while no hush runs: it waits in the mailbox for the next start.
    to_mailbox(&server, "mailbox secret 3\n");
    let dir = tempfile::tempdir().unwrap();
    let tmux = start(dir.path());
    arrives(&tmux, "mailbox secret 3\n");
    tmux.wait_for("mailbox: 0 waiting", PATIENCE);
    tmux.keys(&["q"]);
    tmux.wait_exit(PATIENCE);
    for h in [history, tmux.history()] {
        assert!(!h.contains(PASSPHRASE), "the passphrase was shown:\n{h}");
        assert!(!h.contains("mailbox secret"), "a secret was shown:\n{h}");
    }
    // Each came once: nothing is left.
    let (rc, stdout, _) = inbox(&laptop, &["--list"]);
    assert_eq!((rc, stdout.as_slice()), (0, &b""[..]));
}

#[test]
fn the_tui_makes_the_identity_on_first_use_when_it_remembers_a_server() {
    let _serial = one_at_a_time();
    let relay = TestRelay::start(&[]);
    let (server, laptop) = (Side::new(), Laptop::new());
    let x = Xvfb::start();
    let dir = tempfile::tempdir().unwrap();
    // No identity yet: nothing is asked at the start.
    let tmux = start_tui(&x, dir.path(), &laptop, Some(&relay), false);
    let mut run = offering(&relay, &server, "laptop", "first\n");
    pair_in_tui(&tmux, &mut run);
    tmux.keys(&["y"]);
    // Its new passphrase, typed twice, never drawn.
    tmux.wait_for("makes this laptop's identity", PATIENCE);
    tmux.keys(&[PASSPHRASE, "Enter"]);
    tmux.wait_for("Type the new passphrase again", PATIENCE);
    tmux.keys(&[PASSPHRASE, "Enter"]);
    wait_until(PATIENCE, "the output on the clipboard", || {
        x.clipboard().is_some_and(|c| c == b"first\n")
    });
    let (status, transcript) = run.finish();
    assert_eq!(status, 0, "{transcript}");
    assert!(
        transcript.contains("remembered laptop (SHA256:"),
        "{transcript}"
    );
    assert!(laptop.side.file("identity").exists());
    assert!(laptop.side.read("servers.toml").contains("[peer.mailbox]"));
    // The identity opens with that passphrase, and the mailbox works at once.
    let (stdout, _) = to_mailbox(&server, "via the new mailbox\n");
    assert!(stdout.is_empty());
    wait_until(PATIENCE, "the mailbox message on the clipboard", || {
        x.clipboard().is_some_and(|c| c == b"via the new mailbox\n")
    });
    tmux.keys(&["q"]);
    tmux.wait_exit(PATIENCE);
    let history = tmux.history();
    assert!(!history.contains(PASSPHRASE), "{history}");
    assert_eq!(identity_secret(&laptop).len(), 32);
}
