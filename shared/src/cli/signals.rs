//! One signal thread per process, for both binaries.
//!
//! SIGINT, SIGTERM, SIGHUP and SIGQUIT are received by a thread (never by a handler that
//! interrupts arbitrary code), which first offers the signal to the binary's *hook*: hush's
//! TUI and countdown set a flag and clear the clipboard in their own loop; hush-run
//! forwards a signal to the command it runs. A signal that no hook takes ends the process,
//! but first the thread puts right what must not outlive it: a terminal left without echo
//! by a hidden prompt, and unfinished output files. Then the process ends *by the same
//! signal*, so that a shell script running the tool stops as it would for any program.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use rustix::termios::{OptionalActions, Termios};
pub use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

use super::error::{Error, Result};

/// The signals that end a tool, and that it handles.
pub const TERMINATING: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];
/// Received too, for the hook only (hush-run watches its command stop on Ctrl-Z); its
/// default action is to be ignored, which is what happens when no hook takes it.
const HOOK_ONLY: [i32; 1] = [SIGCHLD];

/// A binary's own use of a signal: `(signal, raised by the terminal)`; returns `true` if it
/// took the signal (the process then goes on).
pub type Hook = Arc<dyn Fn(i32, bool) -> bool + Send + Sync>;

#[derive(Default)]
struct State {
    program: &'static str,
    hook: Option<Hook>,
    /// A terminal whose settings a hidden prompt changed, and the settings to put back.
    tty: Option<(OwnedFd, Termios)>,
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
    let mut signals =
        SignalsInfo::<WithOrigin>::new(TERMINATING.iter().chain(&HOOK_ONLY).copied())?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for origin in signals.forever() {
                let from_terminal = matches!(origin.cause, Cause::Kernel);
                handle(origin.signal, from_terminal);
            }
        })?;
    Ok(())
}

fn handle(signal: i32, from_terminal: bool) {
    // Called without the lock held: a hook may use this module.
    let hook = state().hook.clone();
    if hook.is_some_and(|hook| hook(signal, from_terminal)) || HOOK_ONLY.contains(&signal) {
        return;
    }
    let mut state = state();
    if let Some((fd, termios)) = &state.tty {
        let _ = rustix::termios::tcsetattr(fd, OptionalActions::Now, termios);
        // The prompt's line was left open: end it, so the shell's prompt starts clean.
        let _ = rustix::io::write(fd, b"\n");
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
pub fn restore_terminal_on_signal(restore: Option<(OwnedFd, Termios)>) {
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
/// other signals (SIGQUIT would dump core), or if that fails, exit with 128+N.
pub fn die_by(signal: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    if [SIGINT, SIGTERM, SIGHUP, SIGPIPE].contains(&signal) {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
    std::process::exit(128 + signal);
}
