//! Process hardening that both binaries apply before they read any secret.
//!
//! This is the one place the library touches the process: it must be done identically by
//! `hush-run` and `hush`, first thing in `main`, so it lives here rather than twice.

use std::io;

/// Disables core dumps (`RLIMIT_CORE` 0) and makes the process non-dumpable
/// (`PR_SET_DUMPABLE` 0), which also forbids ptrace attach by other processes of the
/// same user and makes /proc/PID/mem unreadable to them.
pub fn harden_process() -> io::Result<()> {
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
pub fn is_dumpable() -> io::Result<bool> {
    Ok(rustix::process::dumpable_behavior()? == rustix::process::DumpableBehavior::Dumpable)
}
