//! Job control: the command runs in a process group of its own (so that a signal reaches
//! every process of a pipeline, not only `sh`), and that group gets the terminal while it
//! runs, as a shell gives the terminal to a job.
//!
//! With the terminal, Ctrl-C and Ctrl-\ reach the whole command and nothing else, and the
//! command can read the terminal (its own prompts) without being stopped by SIGTTIN.
//! hush-run takes the terminal back as soon as the command ends, is stopped, or hush-run
//! fails (on drop): a terminal left to a dead group would ignore the shell's next
//! commands.

use std::fs::{File, OpenOptions};
use std::os::unix::process::CommandExt;
use std::process::Command;

use rustix::process::{Pid, Signal};
use rustix::termios::{tcgetpgrp, tcsetpgrp};

/// The signal the kernel sends the command if hush-run dies first (SIGKILL cannot be
/// forwarded). SIGTERM rather than SIGKILL: it is what hush-run itself would have
/// forwarded, and it lets a setup command remove its temporary files or locks; a command
/// that ignores it cannot print on unseen, since its stdout pipe is gone with hush-run
/// (its next write gets SIGPIPE or EPIPE).
#[cfg(any(target_os = "linux", target_os = "android"))]
const DEATH_SIGNAL: Signal = Signal::TERM;

/// Sets up `cmd` to start a process group of its own, and to be signalled if hush-run dies.
///
/// The death signal comes when the *thread* that spawned the command ends, not the
/// process: spawn from the main thread.
pub fn prepare(cmd: &mut Command) {
    cmd.process_group(0);
    die_with_parent(cmd);
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[allow(unsafe_code)]
fn die_with_parent(cmd: &mut Command) {
    let parent = rustix::process::getpid();
    let hook = move || -> std::io::Result<()> {
        rustix::process::set_parent_process_death_signal(Some(DEATH_SIGNAL))?;
        // hush-run may have died between fork and prctl: then no signal will ever come.
        if rustix::process::getppid() != Some(parent) {
            return Err(rustix::io::Errno::SRCH.into());
        }
        Ok(())
    };
    // SAFETY: the hook runs in the forked child before exec, where only async-signal-safe
    // calls are allowed: it makes two raw system calls (prctl, getppid) through rustix,
    // and its error is a plain errno (no allocation, no lock).
    unsafe {
        cmd.pre_exec(hook);
    }
}

/// macOS has no parent-death signal (`PR_SET_PDEATHSIG` is Linux's): a command that
/// outlives a killed hush-run still cannot print on unseen, since its stdout pipe is gone.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn die_with_parent(_cmd: &mut Command) {}

/// The terminal, handed to the command's process group; taken back on drop.
pub struct Foreground {
    tty: File,
    /// hush-run's own process group.
    ours: Pid,
    /// The command's process group.
    command: Pid,
}

impl Foreground {
    /// Gives the terminal to `command`'s group if hush-run is in the foreground of its
    /// controlling terminal. `None` otherwise (no terminal, or hush-run runs in the
    /// background): then the terminal is not ours to give.
    pub fn give(command: Pid) -> Option<Self> {
        // Close-on-exec: the next command does not inherit it.
        let tty = OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/tty")
            .ok()?;
        let ours = rustix::process::getpgrp();
        if tcgetpgrp(&tty).ok()? != ours {
            return None;
        }
        with_sigttou_blocked(|| tcsetpgrp(&tty, command)).ok()?;
        Some(Self { tty, ours, command })
    }

    /// Whether the command's group has the terminal.
    pub fn held(&self) -> bool {
        tcgetpgrp(&self.tty).ok() == Some(self.command)
    }

    /// Takes the terminal back, if the command's group still has it (after a stop and
    /// `bg`, the shell has it, and it is not ours to take).
    fn take_back(&self) {
        if self.held() {
            let _ = with_sigttou_blocked(|| tcsetpgrp(&self.tty, self.ours));
        }
    }

    /// The command was stopped (Ctrl-Z, SIGSTOP): take the terminal back and stop
    /// hush-run's own group the same way, so that the shell sees the job stopped and can
    /// resume it. Once hush-run is continued, give the terminal to the command again (if
    /// hush-run was resumed in the foreground: `fg`, not `bg`) and continue the command.
    ///
    /// If hush-run's group is orphaned (no job-control shell above it), the kernel discards
    /// the stop and the command is continued at once: nobody could resume it otherwise.
    pub fn command_stopped(&self) {
        self.take_back();
        // hush-run does not handle SIGTSTP: it stops here until continued.
        let _ = rustix::process::kill_process_group(self.ours, Signal::TSTP);
        if tcgetpgrp(&self.tty).ok() == Some(self.ours) {
            let _ = with_sigttou_blocked(|| tcsetpgrp(&self.tty, self.command));
        }
        let _ = rustix::process::kill_process_group(self.command, Signal::CONT);
    }
}

impl Drop for Foreground {
    fn drop(&mut self) {
        self.take_back();
    }
}

/// Runs `f` with SIGTTOU blocked in this thread, as shells do around tcsetpgrp: called
/// from a background group (the command has the terminal), tcsetpgrp would otherwise stop
/// hush-run with SIGTTOU. Blocking (rather than ignoring) leaves the command's signal
/// dispositions alone, and the command does not inherit the mask: std clears it in the
/// child before exec, and the command is spawned outside this function anyway.
#[allow(unsafe_code)]
fn with_sigttou_blocked<T>(f: impl FnOnce() -> T) -> T {
    // SAFETY: `sigset_t` is plain data, initialised by sigemptyset before any use;
    // pthread_sigmask changes only this thread's mask and is given valid pointers.
    let old = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTTOU);
        (libc::pthread_sigmask(libc::SIG_BLOCK, &set, &mut old) == 0).then_some(old)
    };
    let result = f();
    if let Some(old) = old {
        // SAFETY: `old` is the mask pthread_sigmask filled in above.
        unsafe {
            libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        }
    }
    result
}
