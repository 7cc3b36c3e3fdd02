//! What differs between operating systems, kept in one place: every other module of
//! [`crate::cli`] is written once, against the small interface below, and no `cfg` is
//! needed outside this folder.
//!
//! | concern | Unix (Linux, macOS) | Windows |
//! |---|---|---|
//! | terminal | /dev/tty, echo off with termios | CONIN$/CONOUT$, echo off with `SetConsoleMode` |
//! | signals | one thread reading SIGINT, SIGTERM, SIGHUP, SIGQUIT (signal-hook) | `SetConsoleCtrlHandler`: Ctrl-C, Ctrl-Break, closing the console, log-off |
//! | private files | `O_NOFOLLOW`, owner and mode 0600 checked with fstat; created 0600 | no reparse point; owner and DACL checked with `GetSecurityInfo`; created with an owner-only DACL |
//! | process | `RLIMIT_CORE` 0, `PR_SET_DUMPABLE` 0 (Linux), `mlock`, `MADV_DONTDUMP` (Linux) | no crash dialog and no heap in error reports (`SetErrorMode`, `WerSetFlags`), `VirtualLock` |
//!
//! Each platform file provides the same items: `Terminal` and `Saved` (a terminal and the
//! settings to put back), `start_signal_thread`, `die_by_default`, `open_private`,
//! `create_private`, `take_inherited`, `stdout_file`, `is_append`, `harden_process`, `page_size`,
//! `lock_pages`, `unlock_pages` and `dont_dump_pages`.

#[cfg(unix)]
mod unix;
#[cfg(unix)]
pub(crate) use unix::*;

#[cfg(windows)]
mod windows;
#[cfg(windows)]
pub(crate) use windows::*;
