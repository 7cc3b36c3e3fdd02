//! Unix (Linux and macOS): the terminal is /dev/tty and termios, signals come from one
//! signal-hook thread, a private file is mode 0600 and owned by the user, and the process
//! is kept out of core dumps with rlimits (and `prctl` on Linux).

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsFd, FromRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use rustix::fs::{FileType, Mode};
use rustix::termios::{self, LocalModes, OptionalActions, Termios};

use crate::cli::error::{Error, Result};

// --- terminal ----------------------------------------------------------------------------

/// What the prompts read, as named in messages.
pub(crate) const TERMINAL: &str = "/dev/tty";

/// The controlling terminal, open for reading and writing.
pub(crate) struct Terminal(File);

/// Terminal settings to put back, with a descriptor of their own (so that the signal
/// thread can put them back whatever the prompt's owner is doing).
pub(crate) struct Saved {
    fd: OwnedFd,
    termios: Termios,
}

impl Terminal {
    /// Opens /dev/tty (close-on-exec, so a command started later does not inherit it).
    pub(crate) fn open() -> io::Result<Self> {
        let file = OpenOptions::new().read(true).write(true).open("/dev/tty")?;
        Ok(Self(file))
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.0.write_all(bytes).and_then(|()| self.0.flush())
    }

    /// Reads what was typed, up to the end of a line (canonical mode).
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }

    /// The current settings, to put back later.
    pub(crate) fn save(&self) -> io::Result<Saved> {
        let termios = termios::tcgetattr(&self.0)?;
        let fd = self.0.as_fd().try_clone_to_owned()?;
        Ok(Saved { fd, termios })
    }

    /// Turns echo off in canonical mode: the kernel still does line editing (backspace,
    /// Ctrl-U) and a paste arrives whole, but nothing typed is shown. Input typed before
    /// (with echo on, so it was seen) is thrown away (TCSAFLUSH): it must not become a secret.
    pub(crate) fn hide_input(&self, saved: &Saved) -> io::Result<()> {
        let mut hidden = saved.termios.clone();
        // No echo of characters, erase or kill; but echo the final newline so that the
        // next line starts on its own line.
        hidden
            .local_modes
            .remove(LocalModes::ECHO | LocalModes::ECHOE | LocalModes::ECHOK);
        hidden
            .local_modes
            .insert(LocalModes::ECHONL | LocalModes::ICANON);
        Ok(termios::tcsetattr(
            &self.0,
            OptionalActions::Flush,
            &hidden,
        )?)
    }

    /// Throws away input that is waiting.
    pub(crate) fn discard_input(&self) {
        let _ = termios::tcflush(&self.0, termios::QueueSelector::IFlush);
    }

    /// The window's size, columns and rows, if the terminal knows it.
    pub(crate) fn size(&self) -> Option<(u16, u16)> {
        let size = termios::tcgetwinsize(&self.0).ok()?;
        (size.ws_col > 0 && size.ws_row > 0).then_some((size.ws_col, size.ws_row))
    }
}

impl Saved {
    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            fd: self.fd.try_clone()?,
            termios: self.termios.clone(),
        })
    }

    /// Puts the settings back.
    pub(crate) fn restore(&self) {
        let _ = termios::tcsetattr(&self.fd, OptionalActions::Now, &self.termios);
    }

    /// Ends the line a prompt left open, so that the shell's prompt starts clean.
    pub(crate) fn end_line(&self) {
        let _ = rustix::io::write(&self.fd, b"\n");
    }
}

// --- signals -----------------------------------------------------------------------------

/// The system's signal numbers (SIGCHLD differs between Linux and macOS).
pub mod signal_numbers {
    pub use signal_hook::consts::{SIGCHLD, SIGHUP, SIGINT, SIGPIPE, SIGQUIT, SIGTERM};
}

/// Received too, for the binary's hook only (hush-run watches its command stop on Ctrl-Z);
/// SIGCHLD's default action is to be ignored, which is what happens when no hook takes it.
pub(crate) const HOOK_ONLY: [i32; 1] = [signal_numbers::SIGCHLD];

/// Starts the thread that receives `signals` and passes each to
/// `handle(signal, raised_by_the_terminal)`. Signals are read by a thread, never handled in
/// a handler that interrupts arbitrary code.
pub(crate) fn start_signal_thread(signals: &[i32], handle: fn(i32, bool)) -> io::Result<()> {
    origin::start(signals, handle)
}

/// Where a signal came from. On Linux the kernel says so (`si_code` `SI_KERNEL` for a
/// terminal's Ctrl-C, Ctrl-\ or hang-up), read with signal-hook's `extended-siginfo`.
#[cfg(any(target_os = "linux", target_os = "android"))]
mod origin {
    use signal_hook::iterator::SignalsInfo;
    use signal_hook::iterator::exfiltrator::WithOrigin;
    use signal_hook::low_level::siginfo::Cause;

    pub(super) fn start(signals: &[i32], handle: fn(i32, bool)) -> std::io::Result<()> {
        let mut signals = SignalsInfo::<WithOrigin>::new(signals)?;
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for origin in signals.forever() {
                    handle(origin.signal, matches!(origin.cause, Cause::Kernel));
                }
            })?;
        Ok(())
    }
}

/// Elsewhere (macOS) `si_code` does not tell a terminal's signal from a `kill`, and
/// signal-hook's reader of it is C code. A terminal sends SIGINT and SIGQUIT to its
/// foreground process group only, so one of those that reaches us while we are in the
/// foreground came from the terminal (a `kill -INT` from elsewhere at that moment is taken
/// for one too); SIGTERM and SIGHUP count as sent by a process.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
mod origin {
    use signal_hook::consts::{SIGINT, SIGQUIT};
    use signal_hook::iterator::Signals;

    pub(super) fn start(signals: &[i32], handle: fn(i32, bool)) -> std::io::Result<()> {
        let mut signals = Signals::new(signals)?;
        std::thread::Builder::new()
            .name("signals".into())
            .spawn(move || {
                for signal in signals.forever() {
                    let from_terminal = matches!(signal, SIGINT | SIGQUIT) && in_foreground();
                    handle(signal, from_terminal);
                }
            })?;
        Ok(())
    }

    fn in_foreground() -> bool {
        let Ok(tty) = std::fs::File::open("/dev/tty") else {
            return false;
        };
        rustix::termios::tcgetpgrp(&tty).ok() == Some(rustix::process::getpgrp())
    }
}

/// Ends the process by `signal`'s default action, for the signals whose default is to
/// end it without a core dump (SIGQUIT would dump one); returns if that did not happen.
pub(crate) fn die_by_default(signal: i32) {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGPIPE, SIGTERM};
    if [SIGINT, SIGTERM, SIGHUP, SIGPIPE].contains(&signal) {
        let _ = signal_hook::low_level::emulate_default_handler(signal);
    }
}

// --- private files -----------------------------------------------------------------------

/// Opens a private file for reading, following ssh's rules for private keys, checked on
/// the opened descriptor (fstat) so that nothing can swap the file between the check and
/// the read: the path must be the file itself (`O_NOFOLLOW`: a link could be pointed
/// elsewhere), a regular file, owned by the user or root, and neither readable nor
/// writable by group or others. The one exception is a descriptor handed over by the
/// caller (`/dev/fd/N`, e.g. a pipe): it is read as it is.
pub(crate) fn open_private(path: &Path) -> Result<File> {
    let unreadable = |source| Error::Unreadable {
        path: path.to_owned(),
        source,
    };
    let nofollow = rustix::fs::OFlags::NOFOLLOW.bits() as i32;
    let eloop = rustix::io::Errno::LOOP.raw_os_error();
    let opened = OpenOptions::new()
        .read(true)
        .custom_flags(nofollow)
        .open(path);
    let file = match opened {
        Ok(file) => file,
        Err(e) if e.raw_os_error() == Some(eloop) && is_inherited_fd(path) => {
            // /dev/fd/N is a link to a descriptor the caller opened for us.
            let file = File::open(path).map_err(unreadable)?;
            let stat = rustix::fs::fstat(&file).map_err(|e| unreadable(e.into()))?;
            if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
                return Ok(file);
            }
            // A regular file behind the descriptor still gets the usual checks.
            return check(path, file);
        }
        Err(e) if e.raw_os_error() == Some(eloop) => {
            return Err(Error::Symlink {
                path: path.to_owned(),
            });
        }
        Err(e) => return Err(unreadable(e)),
    };
    check(path, file)
}

fn is_inherited_fd(path: &Path) -> bool {
    path.starts_with("/dev/fd") || path.starts_with("/proc/self/fd")
}

fn check(path: &Path, file: File) -> Result<File> {
    let stat = rustix::fs::fstat(&file).map_err(|e| Error::Unreadable {
        path: path.to_owned(),
        source: e.into(),
    })?;
    if FileType::from_raw_mode(stat.st_mode) != FileType::RegularFile {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    let me = rustix::process::geteuid().as_raw();
    if stat.st_uid != me && stat.st_uid != 0 {
        return Err(Error::Owner {
            path: path.to_owned(),
            owner: stat.st_uid,
            me,
        });
    }
    let mode = Mode::from_raw_mode(stat.st_mode).bits() & 0o777;
    if mode & 0o077 != 0 {
        // mode_t is u32 on Linux, u16 on macOS.
        #[allow(clippy::useless_conversion)]
        let mode = u32::from(mode);
        return Err(Error::Permissions {
            path: path.to_owned(),
            mode,
        });
    }
    Ok(file)
}

/// Creates a new file (never an existing one) readable and writable by the user only,
/// from its creation: mode 0600.
pub(crate) fn create_private(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
}

/// Creates a folder (and its parents) that only the user may enter: mode 0700 for the
/// folders it creates; an existing folder is left as it is.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt as _;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(path)
}

/// Takes ownership of descriptor `fd` (3 or above) that the caller handed to the process.
///
/// Call this before the process opens descriptors of its own: a number the caller forgot
/// to open must be an error, not one of ours taken by mistake.
pub(crate) fn take_inherited(fd: i32) -> io::Result<File> {
    if fd < 3 {
        return Err(io::Error::from(io::ErrorKind::InvalidInput));
    }
    // Check it is open before taking ownership, so that a wrong number is an error message
    // and not a descriptor of ours closed behind our back.
    // SAFETY: the descriptor is only borrowed for this one fcntl call.
    #[allow(unsafe_code)]
    let borrowed = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    rustix::io::fcntl_getfd(borrowed)?;
    // SAFETY: the caller handed this descriptor (>= 3) to the process and nothing else in
    // it opened or owns it (this runs before we open any).
    #[allow(unsafe_code)]
    Ok(File::from(unsafe { OwnedFd::from_raw_fd(fd) }))
}

/// Whether `file` was opened to append (`>> out`), or `None` if that cannot be told.
pub(crate) fn is_append(file: &File) -> Option<bool> {
    let flags = rustix::fs::fcntl_getfl(file).ok()?;
    Some(flags.contains(rustix::fs::OFlags::APPEND))
}

/// Standard output as a file of its own, with no buffer in between.
pub(crate) fn stdout_file() -> io::Result<File> {
    Ok(File::from(io::stdout().as_fd().try_clone_to_owned()?))
}

// --- process and memory ------------------------------------------------------------------

/// Disables core dumps (`RLIMIT_CORE` 0) and, on Linux, makes the process non-dumpable
/// (`PR_SET_DUMPABLE` 0), which also forbids ptrace attach by other processes of the same
/// user and makes /proc/PID/mem unreadable to them. macOS has no such switch: there, only
/// the rlimit applies (and the system's own rule that a debugger needs the user's consent
/// or root).
pub(crate) fn harden_process() -> io::Result<()> {
    rustix::process::setrlimit(
        rustix::process::Resource::Core,
        rustix::process::Rlimit {
            current: Some(0),
            maximum: Some(0),
        },
    )?;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    rustix::process::set_dumpable_behavior(rustix::process::DumpableBehavior::NotDumpable)?;
    Ok(())
}

/// Whether the process is currently marked non-dumpable (Linux), for tests.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(crate) fn is_dumpable() -> io::Result<bool> {
    Ok(rustix::process::dumpable_behavior()? == rustix::process::DumpableBehavior::Dumpable)
}

pub(crate) fn page_size() -> usize {
    rustix::param::page_size()
}

/// Locks the pages `[start, start + len)` (page-aligned, mapped by this process) out of swap.
pub(crate) fn lock_pages(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: mlock only changes how the kernel pages the range in; it reads and writes
    // nothing, and the caller passes mapped pages.
    #[allow(unsafe_code)]
    unsafe {
        rustix::mm::mlock(start as *mut core::ffi::c_void, len)?;
    }
    Ok(())
}

pub(crate) fn unlock_pages(start: usize, len: usize) {
    // SAFETY: as for `lock_pages`: mapped pages, no memory touched.
    #[allow(unsafe_code)]
    let _ = unsafe { rustix::mm::munlock(start as *mut core::ffi::c_void, len) };
}

/// Leaves the pages out of core dumps (Linux), in case dumps are enabled again by a
/// debugger or a system setting after [`harden_process`].
pub(crate) fn dont_dump_pages(start: usize, len: usize) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        // SAFETY: MADV_DONTDUMP only marks the mapping; it does not change its contents or
        // validity. The caller passes page-aligned, mapped pages.
        #[allow(unsafe_code)]
        let _ = unsafe {
            rustix::mm::madvise(
                start as *mut core::ffi::c_void,
                len,
                rustix::mm::Advice::LinuxDontDump,
            )
        };
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = (start, len);
}
