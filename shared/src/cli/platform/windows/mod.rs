//! Windows: the terminal is the console (CONIN$/CONOUT$), the console's control events take
//! the place of signals, a private file has a DACL that lets nobody but the user in, and the
//! process keeps its memory out of crash reports where Windows allows it.

mod acl;
mod console;

use std::fs::File;
use std::io;
use std::os::windows::fs::OpenOptionsExt;
use std::os::windows::io::AsHandle;
use std::path::Path;

use windows_sys::Win32::Storage::FileSystem::FILE_FLAG_OPEN_REPARSE_POINT;
use windows_sys::Win32::System::Diagnostics::Debug::{
    SEM_FAILCRITICALERRORS, SEM_NOGPFAULTERRORBOX, SEM_NOOPENFILEERRORBOX, SetErrorMode,
};
use windows_sys::Win32::System::ErrorReporting::{WER_FAULT_REPORTING_FLAG_NOHEAP, WerSetFlags};
use windows_sys::Win32::System::Memory::{VirtualLock, VirtualUnlock};
use windows_sys::Win32::System::SystemInformation::{GetSystemInfo, SYSTEM_INFO};

use crate::cli::error::{Error, Result};

pub(crate) use acl::create_private;
pub(crate) use console::{
    HOOK_ONLY, Saved, TERMINAL, Terminal, die_by_default, signal_numbers, start_signal_thread,
};

// --- private files -----------------------------------------------------------------------

/// Opens a private file for reading: the path must be the file itself (a symbolic link or
/// other reparse point is opened as itself, not followed, and refused), a regular file,
/// owned by the user (or SYSTEM, or Administrators), and its DACL must let nobody else read
/// or write it. The checks are made on the open handle, so that the file cannot be swapped
/// between the check and the read.
pub(crate) fn open_private(path: &Path) -> Result<File> {
    let unreadable = |source| Error::Unreadable {
        path: path.to_owned(),
        source,
    };
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(FILE_FLAG_OPEN_REPARSE_POINT)
        .open(path)
        .map_err(unreadable)?;
    let meta = file.metadata().map_err(unreadable)?;
    if meta.file_type().is_symlink() {
        return Err(Error::Symlink {
            path: path.to_owned(),
        });
    }
    if !meta.is_file() {
        return Err(Error::NotAFile {
            path: path.to_owned(),
        });
    }
    acl::check_private(path, &file)?;
    Ok(file)
}

/// Creates a folder and its parents. Files in it get their owner-only DACL when created
/// ([`create_private`]), so the folder keeps the inherited permissions of the profile.
pub(crate) fn create_private_dir(path: &Path) -> io::Result<()> {
    std::fs::create_dir_all(path)
}

/// Descriptors cannot be handed over on Windows as they are on Unix (`--key-fd`).
pub(crate) fn take_inherited(_fd: i32) -> io::Result<File> {
    Err(io::Error::new(
        io::ErrorKind::Unsupported,
        "Windows cannot pass a key file by descriptor; give a key file instead",
    ))
}

/// A handle does not tell whether it appends; `cmd`'s `>> out` opens the file and moves to
/// its end, which the caller's "written at its end" check sees anyway.
pub(crate) fn is_append(_file: &File) -> Option<bool> {
    Some(false)
}

/// Standard output as a file of its own, with no buffer in between.
pub(crate) fn stdout_file() -> io::Result<File> {
    Ok(File::from(io::stdout().as_handle().try_clone_to_owned()?))
}

// --- process and memory ------------------------------------------------------------------

/// What Windows offers short of Linux's `PR_SET_DUMPABLE`: no crash dialog (which would
/// keep the process, and its secrets, alive and offer to send a report), and no heap in the
/// reports Windows Error Reporting still makes (`WER_FAULT_REPORTING_FLAG_NOHEAP`). Another
/// process of the same user can still read our memory (there is no per-process switch
/// against that without administrator rights); docs/hush.md says so.
pub(crate) fn harden_process() -> io::Result<()> {
    // SAFETY: both calls only set flags of this process; they take no pointers.
    #[allow(unsafe_code)]
    let hr = unsafe {
        SetErrorMode(SEM_FAILCRITICALERRORS | SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
        WerSetFlags(WER_FAULT_REPORTING_FLAG_NOHEAP)
    };
    if hr < 0 {
        return Err(io::Error::from_raw_os_error(hr));
    }
    Ok(())
}

pub(crate) fn page_size() -> usize {
    let mut info = SYSTEM_INFO::default();
    // SAFETY: GetSystemInfo fills the structure it is given, which lives on our stack.
    #[allow(unsafe_code)]
    unsafe {
        GetSystemInfo(&mut info)
    };
    (info.dwPageSize as usize).max(4096)
}

/// Locks the pages `[start, start + len)` (page-aligned, ours) in memory: `VirtualLock`
/// keeps them out of the page file. The default working set allows a few pages only, which
/// is enough for the keys; large plaintext buffers are wiped instead.
pub(crate) fn lock_pages(start: usize, len: usize) -> io::Result<()> {
    // SAFETY: VirtualLock reads and writes no memory; it fails on pages that are not ours.
    #[allow(unsafe_code)]
    let ok = unsafe { VirtualLock(start as *const core::ffi::c_void, len) };
    if ok == 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

pub(crate) fn unlock_pages(start: usize, len: usize) {
    // SAFETY: as for `lock_pages`.
    #[allow(unsafe_code)]
    let _ = unsafe { VirtualUnlock(start as *const core::ffi::c_void, len) };
}

/// Windows has no per-page exclusion from dumps a tool can rely on; the heap is left out of
/// error reports as a whole instead (see [`harden_process`]).
pub(crate) fn dont_dump_pages(_start: usize, _len: usize) {}
