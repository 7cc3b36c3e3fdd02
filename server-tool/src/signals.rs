//! Signals: Ctrl-C and SIGTERM must reach the command, and hush-run must outlive it so that
//! it can report how it ended and exit the same way.
//!
//! A dedicated thread receives SIGINT, SIGTERM, SIGHUP and SIGQUIT (and SIGCHLD, to see
//! the command stopped by Ctrl-Z: see `job`). While a command runs, a signal *sent* by a
//! process (`kill`, a supervisor, `timeout`) is forwarded to the command's whole process
//! group (see `job`), so that every process of a pipeline gets it, not only `sh`. One
//! raised by the terminal's keys (Ctrl-C, Ctrl-\) is not forwarded while the command's
//! group has the terminal: the kernel delivered it to that group already, and a second
//! copy would make programs that count Ctrl-C presses misbehave. A hang-up is always
//! forwarded (see `handle`).
//! If the command could not be given the terminal, hush-run is the one that gets it, and
//! forwards it like any other.
//!
//! With no command running (at a prompt, or while writing output) hush-run stops at once:
//! it restores the terminal if a hidden prompt had turned echo off, removes its unfinished
//! output file, and ends by the same signal (a shell reports 128+N), so that a script
//! running it stops too.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};

use rustix::process::{Pid, WaitId, WaitIdOptions};
use rustix::termios::{OptionalActions, Termios};
use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

use crate::job::Foreground;

/// The running command, as the signal thread sees it.
struct Running {
    /// Its process group (the command's pid: it leads the group).
    group: Pid,
    /// The terminal, if the command's group was given it; given back on drop, that is
    /// when the command is cleared.
    foreground: Option<Foreground>,
    /// Whether its group has the terminal now (so terminal signals reach it directly).
    has_terminal: bool,
}

impl Running {
    /// On SIGCHLD: if the command was stopped while it had the terminal (Ctrl-Z), pass the
    /// stop on to hush-run's own job rather than leave the terminal to a stopped group.
    /// This runs here, not on the main thread, which is busy reading the command's output.
    fn check_stopped(&mut self) {
        let Some(foreground) = &self.foreground else {
            return;
        };
        // Only stop reports, consumed: an exit stays for the main thread to collect.
        let options = WaitIdOptions::STOPPED | WaitIdOptions::NOHANG;
        if let Ok(Some(status)) = rustix::process::waitid(WaitId::Pid(self.group), options) {
            if status.stopped() {
                self.has_terminal = false;
                foreground.command_stopped();
                self.has_terminal = foreground.held();
            }
        }
    }
}

#[derive(Default)]
struct State {
    /// The running command.
    child: Option<Running>,
    /// A terminal whose settings a hidden prompt changed, and the settings to put back.
    tty: Option<(OwnedFd, Termios)>,
    /// An unfinished output file to remove.
    temp: Option<PathBuf>,
}

/// Handle on the signal thread's shared state.
#[derive(Clone)]
pub struct Signals {
    state: Arc<Mutex<State>>,
}

impl Signals {
    /// Starts the signal thread.
    pub fn install() -> std::io::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        let mut signals =
            SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGCHLD])?;
        let shared = Arc::clone(&state);
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for origin in signals.forever() {
                    handle(
                        &shared,
                        origin.signal,
                        matches!(origin.cause, Cause::Kernel),
                    );
                }
            })?;
        Ok(Self { state })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A poisoned lock only means a panic elsewhere; the state is still meaningful.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `spawn` with the state locked and records the process group it returns (and
    /// the terminal, if that group was given it), so that no signal slips between the start
    /// of the command and its registration.
    pub fn spawn_child<T>(
        &self,
        spawn: impl FnOnce() -> std::io::Result<(T, u32, Option<Foreground>)>,
    ) -> std::io::Result<T> {
        let mut state = self.lock();
        let (value, pid, foreground) = spawn()?;
        state.child = i32::try_from(pid)
            .ok()
            .and_then(Pid::from_raw)
            .map(|group| Running {
                group,
                has_terminal: foreground.is_some(),
                foreground,
            });
        Ok(value)
    }

    /// The command has ended: the terminal goes back to hush-run, and signals now stop
    /// hush-run itself. Called before the command is reaped: once reaped, its pid (and
    /// group id) may be reused, and a forwarded signal must never reach a stranger.
    pub fn clear_child(&self) {
        let running = self.lock().child.take();
        drop(running);
    }

    /// Remembers terminal settings to restore if hush-run is stopped at a hidden prompt.
    pub fn set_tty_restore(&self, restore: Option<(OwnedFd, Termios)>) {
        self.lock().tty = restore;
    }

    /// Remembers an unfinished output file to remove if hush-run is stopped.
    pub fn set_temp(&self, path: Option<PathBuf>) {
        self.lock().temp = path;
    }
}

fn handle(state: &Mutex<State>, signal: i32, from_terminal: bool) {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if signal == SIGCHLD {
        if let Some(child) = &mut state.child {
            child.check_stopped();
        }
        return;
    }
    if let Some(child) = &state.child {
        // A hang-up is forwarded even from the terminal: the kernel sends it to the session
        // leader only, which hush-run is when started as `ssh -t host hush-run ...`, and the
        // command would not hear of it otherwise (a second copy is harmless).
        let delivered = from_terminal && child.has_terminal && signal != SIGHUP;
        if !delivered {
            if let Some(sig) = rustix::process::Signal::from_named_raw(signal) {
                // The command may have just exited: nothing to do then.
                let _ = rustix::process::kill_process_group(child.group, sig);
            }
        }
        return;
    }
    if let Some((fd, termios)) = &state.tty {
        let _ = rustix::termios::tcsetattr(fd, OptionalActions::Now, termios);
        let _ = rustix::io::write(fd, b"\n");
    }
    if let Some(path) = &state.temp {
        let _ = fs::remove_file(path);
    }
    die_by(signal);
}

/// Ends hush-run the way the signal would have: a shell running hush-run in a script sees
/// that it was interrupted (and stops the script, as it would for any program) rather
/// than a plain exit status. For other signals, or if that fails, exit with 128+N.
pub fn die_by(signal: i32) -> ! {
    use std::io::Write;
    let _ = std::io::stderr().flush();
    if [SIGINT, SIGTERM, SIGHUP, signal_hook::consts::SIGPIPE].contains(&signal) {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
    std::process::exit(128 + signal);
}
