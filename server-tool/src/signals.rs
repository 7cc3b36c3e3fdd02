//! Signals: Ctrl-C and SIGTERM must reach the command, and hush-run must outlive it so that
//! it can report how it ended and exit the same way.
//!
//! The shared signal thread (`shared::cli::signals`) receives SIGINT, SIGTERM, SIGHUP and
//! SIGQUIT and offers each to the hook installed here. While a command runs,
//! a signal *sent* by a process (`kill`, a supervisor, `timeout`) is forwarded to it; one
//! raised by the terminal (Ctrl-C, Ctrl-\, hang-up) is not, because the kernel already
//! delivered it to the whole foreground process group, command included, and a second copy
//! would make programs that count Ctrl-C presses misbehave. With no command running
//! (at a prompt, or while writing output) the hook declines, and the shared thread stops
//! hush-run at once: it restores the terminal if a hidden prompt had turned echo off,
//! removes an unfinished output file, and ends by the same signal (a shell reports 128+N),
//! so that a script running it stops too.

use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use shared::cli::signals as shared_signals;

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
}

/// Takes the signal while a command runs (or a late copy of one that ended it); `false`
/// leaves it to the shared thread, which ends hush-run.
fn handle(state: &Mutex<State>, signal: i32, from_terminal: bool) -> bool {
    let mut state = state.lock().unwrap_or_else(|e| e.into_inner());
    if from_terminal {
        if state.child.is_some() && (0..64).contains(&signal) {
            state.seen |= 1 << signal;
        }
        if let Some((late, when)) = state.late {
            if state.child.is_none() && late == signal && when.elapsed() < LATE {
                state.late = None;
                return true;
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
        return true;
    }
    false
}

/// Ends hush-run the way the signal would have (see `shared::cli::signals::die_by`).
pub fn die_by(signal: i32) -> ! {
    shared_signals::die_by(signal)
}
