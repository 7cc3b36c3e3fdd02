//! hush-run end-to-end tests.
//!
//! - `server::cli`: automation paths (key file, key descriptor), outputs, exit codes,
//!   streams, audit, the dependency tree, and the real WireGuard key round trip;
//! - `server::pty`: a user at a real terminal (rexpect pty): hidden prompts, re-prompts,
//!   Ctrl-C, secrets absent from /proc, interactive mode;
//! - `server::relay`: relay mode (`--relay`) in a pty against a real hush-relay, with a
//!   receiver built on the tools' pairing flow.
//!
//! Round trips are opened with the library (`shared::open`), and once through
//! `hush open --key-file` when the client is built.

#![allow(clippy::unwrap_used)]

mod cli;
mod pty;
pub(crate) mod relay;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use hush_tests::bin;
pub use hush_tests::listing;
use rexpect::process::WaitStatus;
use rexpect::session::PtySession;
use shared::{Credentials, Iv, Key};

/// A fresh key and IV, with a 0600 key file holding them.
pub struct Keys {
    pub dir: tempfile::TempDir,
    pub file: PathBuf,
    pub key_text: String,
    pub iv_text: String,
    pub key_raw: Vec<u8>,
    pub iv_raw: Vec<u8>,
}

impl Keys {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("key");
        let (key, iv) = (Key::generate().unwrap(), Iv::generate().unwrap());
        shared::cli::private_file::write_key_file(&file, &key, &iv, false).unwrap();
        Self {
            file,
            key_text: key.to_base64().to_string(),
            iv_text: iv.to_base64().to_string(),
            key_raw: key.expose().to_vec(),
            iv_raw: iv.expose().to_vec(),
            dir,
        }
    }

    pub fn creds(&self) -> Credentials {
        Credentials::KeyIv {
            key: Key::parse(&self.key_text).unwrap(),
            iv: Iv::parse(&self.iv_text).unwrap(),
        }
    }

    /// Opens sealed output (armored or binary) with the library; panics with the error.
    pub fn open(&self, sealed: &[u8]) -> shared::Opened {
        shared::open(sealed, &[self.creds()]).unwrap_or_else(|e| panic!("does not open: {e}"))
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Asserts that no form of the key or IV occurs in `haystack`.
    pub fn assert_absent(&self, haystack: &[u8], what: &str) {
        for (name, needle) in [
            ("key", self.key_text.as_bytes()),
            ("IV", self.iv_text.as_bytes()),
            ("raw key", &self.key_raw[..]),
            ("raw IV", &self.iv_raw[..]),
            // A fragment too, in case of wrapping or partial echo.
            ("key fragment", &self.key_text.as_bytes()[..12]),
            ("IV fragment", &self.iv_text.as_bytes()[..10]),
        ] {
            assert!(!contains(haystack, needle), "the {name} appears in {what}");
        }
    }
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && haystack.windows(needle.len()).any(|w| w == needle)
}

/// `hush-run --key-file K ARGS...` with stdin closed.
pub fn hush_run(keys: &Keys, args: &[&str]) -> Command {
    let mut cmd = Command::new(bin("hush-run"));
    cmd.arg("--key-file")
        .arg(&keys.file)
        .args(args)
        .stdin(Stdio::null());
    cmd
}

/// Runs a command to completion within `limit`, collecting its output; fails the test if it
/// takes longer (assert_cmd kills it then: a deadlock must fail, not hang the suite).
pub fn output_within(cmd: impl std::borrow::BorrowMut<Command>, limit: Duration) -> Output {
    let mut cmd = cmd;
    let out =
        assert_cmd::Command::from_std(std::mem::replace(cmd.borrow_mut(), Command::new("true")))
            .timeout(limit)
            .output()
            .unwrap();
    use std::os::unix::process::ExitStatusExt;
    assert!(
        out.status.signal() != Some(9),
        "timed out after {limit:?} (deadlock?); stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The status code, or 128+signal as a shell reports it.
pub fn code(out: &Output) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    out.status
        .code()
        .unwrap_or_else(|| 128 + out.status.signal().unwrap_or(0))
}

/// Direct children of `pid`, from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(child) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{child}/stat")) else {
            continue;
        };
        // The command name is in parentheses and may hold spaces: fields follow the last ')'.
        let Some(rest) = stat.rsplit_once(')').map(|(_, r)| r) else {
            continue;
        };
        let ppid = rest
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

/// All descendants of `pid` (children, their children, ...), from /proc.
pub fn descendants_of(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for child in children_of(p) {
            out.push(child);
            todo.push(child);
        }
    }
    out
}

/// The command name of a process ("" if it is gone).
pub fn comm(pid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/comm"))
        .unwrap_or_default()
        .trim_end()
        .to_owned()
}

/// Waits until a descendant of `pid` runs `name`, and returns its pid.
pub fn wait_for_descendant(pid: u32, name: &str) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(found) = descendants_of(pid).into_iter().find(|&p| comm(p) == name) {
            return found;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} never started {name}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Waits up to `limit` for `pid` to be gone; returns whether it is.
pub fn gone_within(pid: u32, limit: Duration) -> bool {
    let deadline = Instant::now() + limit;
    while alive(pid) {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Waits until `pid` has a child, and returns it.
pub fn wait_for_child(pid: u32) -> u32 {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some(&child) = children_of(pid).first() {
            return child;
        }
        assert!(
            Instant::now() < deadline,
            "process {pid} never started its command"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether a process exists and is not a zombie.
pub fn alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => !matches!(
            stat.rsplit_once(')')
                .and_then(|(_, r)| r.split_whitespace().next()),
            Some("Z")
        ),
        Err(_) => false,
    }
}

/// Quotes for sh.
pub fn sh_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

pub fn hush_run_path() -> String {
    bin("hush-run").display().to_string()
}

/// A script (usually hush-run) at a real terminal: a pty driven by rexpect, with echo on
/// (rexpect turns it off; a prompt that forgot to hide the entry would then show it).
pub(crate) struct Term {
    pub(crate) session: PtySession,
    pub(crate) transcript: String,
    pub(crate) pid: u32,
    /// A folder the session uses for as long as it runs (its settings folder).
    _keep: Option<tempfile::TempDir>,
}

impl Term {
    /// Runs `script` with sh in a fresh pty whose echo is on.
    pub(crate) fn start(script: &str) -> Self {
        let mut cmd = Command::new("sh");
        // Echo is turned on before the PID line: input sent once that line shows must be
        // echoed (the other order let a loaded machine send it before `stty echo` ran).
        cmd.arg("-c")
            .arg(format!("stty echo; echo PID=$$; {script}"));
        let mut session = rexpect::session::spawn_command(cmd, Some(60_000)).unwrap();
        let (before, matched) = session.exp_regex(r"PID=\d+").unwrap();
        let pid = matched[4..].parse().unwrap();
        Self {
            session,
            transcript: before + &matched,
            pid,
            _keep: None,
        }
    }

    /// Runs hush-run with `args` (already quoted for sh) in place of the shell.
    pub(crate) fn hush_run(args: &str) -> Self {
        Self::start(&format!("exec {} {args}", sh_quote(&hush_run_path())))
    }

    pub(crate) fn expect(&mut self, needle: &str) {
        match self.session.exp_string(needle) {
            Ok(before) => {
                self.transcript.push_str(&before);
                self.transcript.push_str(needle);
            }
            Err(e) => panic!(
                "expected {needle:?}: {e}\n--- transcript ---\n{}",
                self.transcript
            ),
        }
    }

    /// Waits for `regex`; returns what matched.
    pub(crate) fn expect_regex(&mut self, regex: &str) -> String {
        match self.session.exp_regex(regex) {
            Ok((before, matched)) => {
                self.transcript.push_str(&before);
                self.transcript.push_str(&matched);
                matched
            }
            Err(e) => panic!(
                "expected /{regex}/: {e}\n--- transcript ---\n{}",
                self.transcript
            ),
        }
    }

    /// Keeps `dir` until the session ends.
    pub(crate) fn keeping(mut self, dir: tempfile::TempDir) -> Self {
        self._keep = Some(dir);
        self
    }

    pub(crate) fn send_line(&mut self, line: &str) {
        self.session.send_line(line).unwrap();
        self.session.flush().unwrap();
    }

    /// Reads to the end; returns the exit code (128+N for a signal) and the transcript.
    pub(crate) fn finish(mut self) -> (i32, String) {
        match self.session.exp_eof() {
            Ok(rest) => self.transcript.push_str(&rest),
            Err(e) => panic!(
                "no end of output: {e}\n--- transcript ---\n{}",
                self.transcript
            ),
        }
        let code = match self.session.process().wait().unwrap() {
            WaitStatus::Exited(_, code) => code,
            WaitStatus::Signaled(_, sig, _) => 128 + sig as i32,
            other => panic!("unexpected wait status {other:?}"),
        };
        (code, self.transcript)
    }
}

/// The sealed blocks in a transcript, as a user would select them.
pub fn blocks_in(transcript: &str) -> Vec<String> {
    let (begin, end) = (
        "-----BEGIN HUSH SEALED MESSAGE-----",
        "-----END HUSH SEALED MESSAGE-----",
    );
    let mut out = Vec::new();
    let mut rest = transcript;
    while let Some(start) = rest.find(begin) {
        let Some(stop) = rest[start..].find(end) else {
            break;
        };
        out.push(rest[start..start + stop + end.len()].to_owned());
        rest = &rest[start + stop + end.len()..];
    }
    out
}

/// How many times a test command ran: it appends a line to `path` each time.
pub fn runs(path: &Path) -> usize {
    std::fs::read_to_string(path)
        .map(|t| t.lines().count())
        .unwrap_or(0)
}
