//! Running the command: stdout (and with --seal-stderr, stderr) piped into the sealer in
//! large reads with one buffer for the whole run; stdin inherited so the command's own
//! prompts work; stderr otherwise inherited so errors show as they happen.
//!
//! With both streams piped, one thread polls both pipes, so a command that floods one of
//! them while we wait on the other cannot deadlock, and the records keep roughly the order
//! in which the command wrote them.

use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::process::ExitStatusExt;
use std::process::{ChildStderr, ChildStdout, ExitStatus, Stdio};

use rustix::event::{PollFd, PollFlags};
use rustix::process::{Pid, WaitId, WaitIdOptions};
use shared::Stream;
use shared::cli::hardening::SecretBuf;

use crate::command::Spec;
use crate::job::{self, Foreground};
use crate::signals::Signals;

/// Bytes per read from the command's pipes.
const READ_BUF: usize = 256 * 1024;
/// Pipe capacity asked for: fewer, larger reads (the kernel may grant less).
const PIPE_SIZE: usize = 1024 * 1024;

/// Where the command's output goes.
pub trait Sink {
    /// Takes one read's worth of output.
    fn take(&mut self, stream: Stream, data: &[u8]) -> shared::Result<()>;
}

/// How the command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Exited with a status.
    Exited(i32),
    /// Killed by a signal.
    Signaled(i32),
}

impl Ended {
    fn from_status(status: ExitStatus) -> Self {
        match (status.code(), status.signal()) {
            (Some(code), _) => Ended::Exited(code),
            (None, Some(sig)) => Ended::Signaled(sig),
            // Stopped/continued are not reported by wait(); treat as a failure.
            (None, None) => Ended::Exited(1),
        }
    }

    /// hush-run's own failures and plain exit codes.
    pub fn code(code: i32) -> Self {
        Ended::Exited(code)
    }

    /// hush-run's exit code for it, as a shell computes `$?`.
    pub fn exit_code(self) -> i32 {
        match self {
            Ended::Exited(code) => code,
            Ended::Signaled(sig) => 128 + sig,
        }
    }

    /// For messages: "exit status 3" or "signal 15 (SIGTERM)".
    pub fn describe(self) -> String {
        match self {
            Ended::Exited(code) => format!("failed with exit status {code}"),
            Ended::Signaled(sig) => match signal_hook::low_level::signal_name(sig) {
                Some(name) => format!("was killed by signal {sig} ({name})"),
                None => format!("was killed by signal {sig}"),
            },
        }
    }
}

/// Why the run did not complete.
pub enum RunError {
    /// The command could not be started.
    Spawn(io::Error),
    /// Reading its output or sealing it failed; the command was stopped.
    Output(shared::Error),
}

/// Byte counts of a completed run.
pub struct Outcome {
    /// How the command ended.
    pub ended: Ended,
    /// Bytes it wrote to stdout.
    pub stdout_bytes: u64,
    /// Bytes of stderr that were sealed.
    pub stderr_bytes: u64,
}

/// Runs `spec`, feeding its output to `sink`, and waits for it.
///
/// Call it from the main thread: the command's death signal (see `job`) fires when the
/// thread that spawned it ends.
pub fn run(
    spec: &Spec,
    seal_stderr: bool,
    signals: &Signals,
    sink: &mut dyn Sink,
) -> Result<Outcome, RunError> {
    let mut cmd = spec.command();
    cmd.stdin(Stdio::inherit()).stdout(Stdio::piped());
    cmd.stderr(if seal_stderr {
        Stdio::piped()
    } else {
        Stdio::inherit()
    });
    job::prepare(&mut cmd);
    let mut child = signals
        .spawn_child(|| {
            let child = cmd.spawn()?;
            let pid = child.id();
            // spawn returns once the command has started: its group exists by now.
            let foreground = i32::try_from(pid)
                .ok()
                .and_then(Pid::from_raw)
                .and_then(Foreground::give);
            Ok((child, pid, foreground))
        })
        .map_err(RunError::Spawn)?;
    // From here the command is registered: whatever happens (even a panic), it is cleared
    // and the terminal handed back.
    let registered = Registered(signals);
    let group = i32::try_from(child.id()).ok().and_then(Pid::from_raw);
    let stdout = child.stdout.take();
    let stderr = child.stderr.take();
    let mut counts = (0u64, 0u64);
    let pumped = match (stdout, stderr) {
        (Some(out), Some(err)) => pump_both(out, err, sink, &mut counts),
        (Some(out), None) => pump_one(out, sink, &mut counts.0),
        _ => Ok(()),
    };
    if pumped.is_err() {
        // Output can no longer be sealed: stop the command rather than let it run on
        // unseen (its pipes are closed, so it would get SIGPIPE at its next write anyway).
        if let Some(group) = group {
            let _ = rustix::process::kill_process_group(group, rustix::process::Signal::TERM);
        }
    }
    // Wait for the end without reaping, stop forwarding signals, then reap: once reaped,
    // the pid may be reused, and a forwarded signal must never reach a stranger.
    if let Some(pid) = group {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOWAIT;
        let wait = || rustix::process::waitid(WaitId::Pid(pid), options);
        while matches!(wait(), Err(rustix::io::Errno::INTR)) {}
    }
    // The terminal goes back to hush-run before anything is reported.
    drop(registered);
    let status = loop {
        match child.wait() {
            Ok(status) => break Ok(status),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => break Err(e),
        }
    };
    pumped.map_err(RunError::Output)?;
    let status = status.map_err(|e| RunError::Output(shared::Error::Io(e)))?;
    Ok(Outcome {
        ended: Ended::from_status(status),
        stdout_bytes: counts.0,
        stderr_bytes: counts.1,
    })
}

/// Clears the registered command on drop (see [`Signals::clear_child`]).
struct Registered<'a>(&'a Signals);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        self.0.clear_child();
    }
}

/// Asks for a larger pipe: fewer wake-ups and system calls on large outputs. Only Linux
/// lets a pipe be sized (macOS grows its pipes on its own).
fn widen(pipe: impl AsFd) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    let _ = rustix::pipe::fcntl_setpipe_size(pipe, PIPE_SIZE);
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (pipe, PIPE_SIZE);
}

fn read_retrying(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

fn pump_one(mut out: ChildStdout, sink: &mut dyn Sink, count: &mut u64) -> shared::Result<()> {
    widen(&out);
    // The command's plaintext output passes through it: locked out of swap and core dumps
    // where allowed, and wiped when the run ends.
    let mut buf = SecretBuf::new(READ_BUF);
    loop {
        let n = read_retrying(&mut out, &mut buf)?;
        if n == 0 {
            return Ok(());
        }
        sink.take(Stream::Stdout, &buf[..n])?;
        *count += n as u64;
    }
}

fn pump_both(
    mut out: ChildStdout,
    mut err: ChildStderr,
    sink: &mut dyn Sink,
    counts: &mut (u64, u64),
) -> shared::Result<()> {
    widen(&out);
    widen(&err);
    // The command's plaintext output passes through it: locked out of swap and core dumps
    // where allowed, and wiped when the run ends.
    let mut buf = SecretBuf::new(READ_BUF);
    let (mut out_open, mut err_open) = (true, true);
    while out_open || err_open {
        let (out_ready, err_ready) = {
            let mut fds = Vec::with_capacity(2);
            if out_open {
                fds.push(PollFd::new(&out, PollFlags::IN));
            }
            if err_open {
                fds.push(PollFd::new(&err, PollFlags::IN));
            }
            match rustix::event::poll(&mut fds, None) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(shared::Error::Io(e.into())),
            }
            let ready = |fd: &PollFd<'_>| !fd.revents().is_empty();
            let mut it = fds.iter();
            let o = out_open && it.next().is_some_and(ready);
            let e = err_open && it.next().is_some_and(ready);
            (o, e)
        };
        if out_ready {
            let n = read_retrying(&mut out, &mut buf)?;
            if n == 0 {
                out_open = false;
            } else {
                sink.take(Stream::Stdout, &buf[..n])?;
                counts.0 += n as u64;
            }
        }
        if err_ready {
            let n = read_retrying(&mut err, &mut buf)?;
            if n == 0 {
                err_open = false;
            } else {
                sink.take(Stream::Stderr, &buf[..n])?;
                counts.1 += n as u64;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(Ended::Exited(3).exit_code(), 3);
        assert_eq!(Ended::Signaled(15).exit_code(), 143);
        assert_eq!(
            Ended::Signaled(15).describe(),
            "was killed by signal 15 (SIGTERM)"
        );
    }
}
