//! Signals: Ctrl-C and SIGTERM must reach the command, and hush-run must outlive it so that
//! it can report how it ended and exit the same way.
//!
//! The shared signal thread (`shared::cli::signals`) receives SIGINT, SIGTERM, SIGHUP and
//! SIGQUIT (and SIGCHLD, to see the command stopped by Ctrl-Z: see `job`) and offers each
//! to the hook installed here. While a command runs, a signal *sent* by a
//! process (`kill`, a supervisor, `timeout`) is forwarded to the command's whole process
//! group (see `job`), so that every process of a pipeline gets it, not only `sh`. One
//! raised by the terminal's keys (Ctrl-C, Ctrl-\) is not forwarded while the command's
//! group has the terminal: the kernel delivered it to that group already, and a second
//! copy would make programs that count Ctrl-C presses misbehave. A hang-up is always
//! forwarded (see `handle`).
//! If the command could not be given the terminal, hush-run is the one that gets it, and
//! forwards it like any other.
//!
//! With no command running (at a prompt, or while writing output) the hook declines, and
//! the shared thread stops hush-run at once: it restores the terminal if a hidden prompt
//! had turned echo off, removes an unfinished output file, and ends by the same signal (a
//! shell reports 128+N), so that a script running it stops too.

use std::sync::{Arc, Mutex, MutexGuard};

use rustix::process::{Pid, WaitId, WaitIdOptions};
use shared::cli::signals::{self as shared_signals, SIGCHLD, SIGHUP};

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
}

/// Handle on the signal thread's shared state.
#[derive(Clone)]
pub struct Signals {
    state: Arc<Mutex<State>>,
}

impl Signals {
    /// Starts the signal thread with hush-run's hook.
    pub fn install() -> shared::cli::error::Result<Self> {
        let state = Arc::new(Mutex::new(State::default()));
        shared_signals::install("hush-run")?;
        let shared = Arc::clone(&state);
        shared_signals::set_hook(Some(Arc::new(move |signal, from_terminal| {
            handle(&shared, signal, from_terminal)
        })));
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
}

/// Takes the signal while a command runs (and SIGCHLD always); `false` leaves it to the
/// shared thread, which ends hush-run.
fn handle(state: &Mutex<State>, signal: i32, from_terminal: bool) -> bool {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if signal == SIGCHLD {
        if let Some(child) = &mut state.child {
            child.check_stopped();
        }
        return true;
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
        return true;
    }
    false
}

/// Ends hush-run the way the signal would have (see `shared::cli::signals::die_by`).
pub fn die_by(signal: i32) -> ! {
    shared_signals::die_by(signal)
}
