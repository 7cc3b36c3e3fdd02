//! Signals: Ctrl-C and SIGTERM must reach the command, and hush-run must outlive it so that
//! it can report how it ended and exit the same way.
//!
//! A dedicated thread receives SIGINT, SIGTERM, SIGHUP and SIGQUIT. While a command runs,
//! a signal *sent* by a process (`kill`, a supervisor, `timeout`) is forwarded to it; one
//! raised by the terminal (Ctrl-C, Ctrl-\, hang-up) is not, because the kernel already
//! delivered it to the whole foreground process group, command included, and a second copy
//! would make programs that count Ctrl-C presses misbehave. With no command running
//! (at a prompt, or while writing output) hush-run stops at once: it restores the terminal
//! if a hidden prompt had turned echo off, removes its unfinished output file, and ends by
//! the same signal (a shell reports 128+N), so that a script running it stops too.

use std::fs;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rustix::termios::{OptionalActions, Termios};
use signal_hook::consts::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};
use signal_hook::iterator::SignalsInfo;
use signal_hook::iterator::exfiltrator::WithOrigin;
use signal_hook::low_level::siginfo::Cause;

/// How long a terminal signal that also killed the command may arrive late.
const LATE: Duration = Duration::from_secs(2);

#[derive(Default)]
struct State {
    /// The running command's pid.
    child: Option<i32>,
    /// Signals from the terminal seen while the command ran (bit N for signal N).
    seen: u64,
    /// A terminal signal that killed the command but has not reached our thread yet: when it
    /// does, it was meant for the command, not for a prompt that follows.
    late: Option<(i32, Instant)>,
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
        let mut signals = SignalsInfo::<WithOrigin>::new([SIGINT, SIGTERM, SIGHUP, SIGQUIT])?;
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

    /// Runs `spawn` with the state locked and records the pid it returns, so that no signal
    /// slips between the start of the command and its registration.
    pub fn spawn_child<T>(
        &self,
        spawn: impl FnOnce() -> std::io::Result<(T, u32)>,
    ) -> std::io::Result<T> {
        let mut state = self.lock();
        let (value, pid) = spawn()?;
        state.child = i32::try_from(pid).ok();
        state.seen = 0;
        state.late = None;
        Ok(value)
    }

    /// The command has ended (killed by `signal`, if so): signals now stop hush-run itself.
    ///
    /// Ctrl-C reaches the command and hush-run at once, but our thread may read it only after
    /// the command is gone; that late copy must not stop an interactive session.
    pub fn clear_child(&self, signal: Option<i32>) {
        let mut state = self.lock();
        state.child = None;
        state.late = signal
            .filter(|&sig| (0..64).contains(&sig) && state.seen & (1 << sig) == 0)
            .map(|sig| (sig, Instant::now()));
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
    if from_terminal {
        if state.child.is_some() && (0..64).contains(&signal) {
            state.seen |= 1 << signal;
        }
        if let Some((late, when)) = state.late {
            if state.child.is_none() && late == signal && when.elapsed() < LATE {
                state.late = None;
                return;
            }
        }
    }
    if let Some(pid) = state.child {
        if !from_terminal {
            if let (Some(pid), Some(sig)) = (
                rustix::process::Pid::from_raw(pid),
                rustix::process::Signal::from_named_raw(signal),
            ) {
                // The command may have just exited: nothing to do then.
                let _ = rustix::process::kill_process(pid, sig);
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
