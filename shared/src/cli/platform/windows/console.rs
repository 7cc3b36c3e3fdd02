//! The Windows console: hidden prompts on CONIN$/CONOUT$ with `SetConsoleMode`, and its
//! control events (Ctrl-C, Ctrl-Break, the window closed, log-off, shutdown) in place of
//! signals.

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::os::windows::io::AsRawHandle;
use std::sync::OnceLock;
use std::time::Duration;

use windows_sys::Win32::Foundation::{FALSE, HANDLE, TRUE};
use windows_sys::Win32::System::Console::{
    CONSOLE_MODE, CTRL_BREAK_EVENT, CTRL_C_EVENT, CTRL_CLOSE_EVENT, CTRL_LOGOFF_EVENT,
    CTRL_SHUTDOWN_EVENT, ENABLE_ECHO_INPUT, ENABLE_LINE_INPUT, ENABLE_PROCESSED_INPUT,
    FlushConsoleInputBuffer, GetConsoleMode, ReadConsoleW, SetConsoleCtrlHandler, SetConsoleMode,
};
use zeroize::Zeroizing;

use signal_numbers::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// What the prompts read, as named in messages.
pub(crate) const TERMINAL: &str = "the console";

/// The console: its input buffer and its screen buffer.
pub(crate) struct Terminal {
    input: File,
    output: File,
}

/// An input mode to put back, with handles of its own (for the signal thread).
pub(crate) struct Saved {
    input: File,
    output: File,
    mode: CONSOLE_MODE,
}

fn handle(file: &File) -> HANDLE {
    file.as_raw_handle()
}

fn console_mode(file: &File) -> io::Result<CONSOLE_MODE> {
    let mut mode = 0;
    // SAFETY: the handle is open for as long as `file` lives; `mode` is ours to fill.
    #[allow(unsafe_code)]
    let ok = unsafe { GetConsoleMode(handle(file), &mut mode) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(mode)
}

fn set_console_mode(file: &File, mode: CONSOLE_MODE) -> io::Result<()> {
    // SAFETY: the handle is open for as long as `file` lives.
    #[allow(unsafe_code)]
    let ok = unsafe { SetConsoleMode(handle(file), mode) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

impl Terminal {
    /// Opens the console of the process (whatever stdin and stdout are), not inherited by
    /// a process started later.
    pub(crate) fn open() -> io::Result<Self> {
        let input = OpenOptions::new().read(true).write(true).open("CONIN$")?;
        let output = OpenOptions::new().read(true).write(true).open("CONOUT$")?;
        // Not a console (CONIN$ opened something else): there is nobody to ask.
        console_mode(&input)?;
        Ok(Self { input, output })
    }

    /// The window's size: not asked of the console (callers then assume one row a line).
    pub(crate) fn size(&self) -> Option<(u16, u16)> {
        None
    }

    pub(crate) fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.output
            .write_all(bytes)
            .and_then(|()| self.output.flush())
    }

    /// Reads what was typed, up to the end of a line, as UTF-8. `ReadConsoleW` gives the
    /// characters as typed whatever the console's code page (a passphrase with accents
    /// stays the same passphrase); the UTF-16 buffer is wiped. Ctrl-Z at the start of a
    /// line is the end of input, as Ctrl-D is on Unix.
    pub(crate) fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        // A UTF-16 unit becomes at most 3 bytes of UTF-8: the result always fits.
        let mut wide = Zeroizing::new(vec![0u16; (buf.len() / 3).max(1)]);
        let mut got = 0u32;
        // SAFETY: the buffer holds `wide.len()` units and outlives the call; `got` is ours.
        #[allow(unsafe_code)]
        let ok = unsafe {
            ReadConsoleW(
                handle(&self.input),
                wide.as_mut_ptr().cast(),
                u32::try_from(wide.len()).unwrap_or(u32::MAX),
                &mut got,
                std::ptr::null(),
            )
        };
        if ok == 0 {
            return Err(io::Error::last_os_error());
        }
        let units = &wide[..got as usize];
        if units.first() == Some(&0x1a) {
            return Ok(0);
        }
        let mut len = 0;
        for c in char::decode_utf16(units.iter().copied()) {
            let c = c.unwrap_or(char::REPLACEMENT_CHARACTER);
            len += c.encode_utf8(&mut buf[len..]).len();
        }
        // With echo off the console does not echo the Enter either: end the line ourselves,
        // as ECHONL does on Unix, so that the next line starts on its own line.
        if units.last() == Some(&u16::from(b'\n'))
            && console_mode(&self.input).is_ok_and(|m| m & ENABLE_ECHO_INPUT == 0)
        {
            let _ = self.write_all(b"\r\n");
        }
        Ok(len)
    }

    pub(crate) fn save(&self) -> io::Result<Saved> {
        Ok(Saved {
            mode: console_mode(&self.input)?,
            input: self.input.try_clone()?,
            output: self.output.try_clone()?,
        })
    }

    /// Echo off in line mode (the console still edits the line and Ctrl-C still works);
    /// input typed before (with echo on, so it was seen) is thrown away.
    pub(crate) fn hide_input(&self, saved: &Saved) -> io::Result<()> {
        let mode = (saved.mode & !ENABLE_ECHO_INPUT) | ENABLE_LINE_INPUT | ENABLE_PROCESSED_INPUT;
        set_console_mode(&self.input, mode)?;
        self.discard_input();
        Ok(())
    }

    pub(crate) fn discard_input(&self) {
        // SAFETY: the handle is open for as long as `self` lives.
        #[allow(unsafe_code)]
        let _ = unsafe { FlushConsoleInputBuffer(handle(&self.input)) };
    }
}

impl Saved {
    pub(crate) fn try_clone(&self) -> io::Result<Self> {
        Ok(Self {
            input: self.input.try_clone()?,
            output: self.output.try_clone()?,
            mode: self.mode,
        })
    }

    pub(crate) fn restore(&self) {
        let _ = set_console_mode(&self.input, self.mode);
    }

    pub(crate) fn end_line(&self) {
        let _ = (&self.output).write_all(b"\r\n");
    }
}

// --- control events ----------------------------------------------------------------------

/// POSIX's numbers, naming the console's events so that both binaries and their exit codes
/// (128+N) speak of signals alike on every platform.
pub mod signal_numbers {
    /// The console window was closed.
    pub const SIGHUP: i32 = 1;
    /// Ctrl-C.
    pub const SIGINT: i32 = 2;
    /// Ctrl-Break.
    pub const SIGQUIT: i32 = 3;
    /// A broken pipe.
    pub const SIGPIPE: i32 = 13;
    /// Log-off or shutdown.
    pub const SIGTERM: i32 = 15;
}

/// Windows has no SIGCHLD: no signal is for the hook only.
pub(crate) const HOOK_ONLY: [i32; 0] = [];

static HANDLE_SIGNAL: OnceLock<fn(i32, bool)> = OnceLock::new();

/// Windows calls this on a thread of its own for each console event.
extern "system" fn on_console_event(event: u32) -> i32 {
    let signal = match event {
        CTRL_C_EVENT => SIGINT,
        CTRL_BREAK_EVENT => SIGQUIT,
        CTRL_CLOSE_EVENT => SIGHUP,
        CTRL_LOGOFF_EVENT | CTRL_SHUTDOWN_EVENT => SIGTERM,
        _ => return FALSE,
    };
    if let Some(handle) = HANDLE_SIGNAL.get() {
        // Ends the process unless the binary's hook took the event.
        handle(signal, true);
    }
    if event != CTRL_C_EVENT && event != CTRL_BREAK_EVENT {
        // For these Windows ends the process as soon as this returns (or after 5 s): wait,
        // so that the main loop can clear the clipboard and exit on its own.
        std::thread::sleep(Duration::from_secs(10));
    }
    TRUE
}

/// Receives the console's control events, each passed as its signal number to `handle`
/// (see `signals`): every event comes from the console, the terminal.
pub(crate) fn start_signal_thread(_signals: &[i32], handle: fn(i32, bool)) -> io::Result<()> {
    let _ = HANDLE_SIGNAL.set(handle);
    // SAFETY: the routine is a plain function that lives as long as the process.
    #[allow(unsafe_code)]
    let ok = unsafe { SetConsoleCtrlHandler(Some(on_console_event), TRUE) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Windows has no default action to die by: the caller exits with 128+N.
pub(crate) fn die_by_default(_signal: i32) {}
