//! One signal thread per process, for both binaries.
//!
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT are received by a thread (never by a handler that
//! interrupts arbitrary code), which first offers the signal to the binary's *hook*: hush's
//! TUI and countdown set a flag and clear the clipboard in their own loop; hush-run
//! forwards a signal to the command it runs. A signal that no hook takes ends the process,
//! but first the thread puts right what must not outlive it: a terminal left without echo
//! by a hidden prompt, and unfinished output files. Then the process ends *by the same
//! signal*, so that a shell script running the tool stops as it would for any program.
//!
//! On Windows the console's events take the signals' place (see `platform`): Ctrl-C is
//! SIGINT, Ctrl-Break SIGQUIT, closing the console window SIGHUP, log-off and shutdown
//! SIGTERM; the process then ends with exit code 128+N.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::error::{Error, Result};
use super::platform::{self, HOOK_ONLY, Saved};

/// The signals' numbers (the system's on Unix; on Windows the POSIX numbers, naming the
/// console's events: see the module's documentation).
pub use super::platform::signal_numbers::*;

/// The signals that end a tool, and that it handles.
pub const TERMINATING: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// A binary's own use of a signal: `(signal, raised by the terminal)`; returns `true` if it
/// took the signal (the process then goes on).
pub type Hook = Arc<dyn Fn(i32, bool) -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    program: &'static str,
    hook: Option<Hook>,
    /// A terminal whose settings a hidden prompt changed, and the settings to put back.
    tty: Option<Saved>,
    /// Unfinished output files to remove.
    files: Vec<PathBuf>,
    /// Standard output as a regular file, and the length to cut it back to.
    stdout: Option<(std::fs::File, u64)>,
}

fn state() -> MutexGuard<'static, State> {
    static STATE: OnceLock<Mutex<State>> = OnceLock::new();
    // A poisoned lock only means a panic elsewhere; the state is still meaningful.
    STATE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner())
}

/// Starts the signal thread (once; later calls do nothing). `program` names the tool in
/// the notes it writes.
pub fn install(program: &'static str) -> Result<()> {
    static STARTED: OnceLock<std::result::Result<(), String>> = OnceLock::new();
    let started = STARTED.get_or_init(|| {
        state().program = program;
        start().map_err(|e| e.to_string())
    });
    started
        .clone()
        .map_err(|e| Error::Signals(std::io::Error::other(e)))
}

fn start() -> std::io::Result<()> {
    let signals: Vec<i32> = TERMINATING.iter().chain(&HOOK_ONLY).copied().collect();
    platform::start_signal_thread(&signals, handle)
}

fn handle(signal: i32, from_terminal: bool) {
    // Called without the lock held: a hook may use this module.
    let hook = state().hook.clone();
    if hook.is_some_and(|hook| hook(signal, from_terminal)) || HOOK_ONLY.contains(&signal) {
        return;
    }
    let mut state = state();
    if let Some(saved) = &state.tty {
        saved.restore();
        // The prompt's line was left open: end it, so the shell's prompt starts clean.
        saved.end_line();
    }
    let mut removed = false;
    for path in &state.files {
        removed |= fs::remove_file(path).is_ok();
    }
    if removed {
        crate::note!("{}: interrupted: no output file written", state.program);
    }
    if let Some((mut file, len)) = state.stdout.take() {
        if super::stdout::cut_back(&mut file, len).is_ok() {
            crate::note!(
                "{}: interrupted: the output was cut back to what it held before",
                state.program
            );
        }
    }
    die_by(signal);
}

/// Sets (or with `None` removes) the binary's hook.
pub fn set_hook(hook: Option<Hook>) {
    state().hook = hook;
}

/// Remembers terminal settings to put back if a signal ends the process (`None`: nothing
/// to put back any more).
pub(crate) fn restore_terminal_on_signal(restore: Option<Saved>) {
    state().tty = restore;
}

/// Removes `path` if a signal ends the process before [`keep`] is called for it.
pub fn remove_on_signal(path: &Path) {
    state().files.push(path.to_owned());
}

/// Cuts standard output (a regular file) back to the given length if a signal ends the
/// process (`None`: the output is final, or already cut back).
pub fn cut_back_on_signal(stdout: Option<(std::fs::File, u64)>) {
    state().stdout = stdout;
}

/// `path` is complete (or already gone): no longer remove it on a signal.
pub fn keep(path: &Path) {
    state().files.retain(|p| p != path);
}

/// Ends the process the way `signal` would have: a shell running the tool in a script sees
/// that it was interrupted (and stops the script) rather than a plain exit status. For
/// other signals (SIGQUIT would dump core), on Windows (no such thing), or if that fails,
/// exit with 128+N.
pub fn die_by(signal: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    platform::die_by_default(signal);
    std::process::exit(128 + signal);
}
