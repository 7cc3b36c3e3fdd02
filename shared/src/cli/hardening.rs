//! Process hardening that both binaries apply before they read any secret, and the memory
//! rules for secrets they hold: locked out of swap, left out of core dumps, wiped.
//!
//! Where the platform refuses (a small `RLIMIT_MEMLOCK`, an unprivileged container), the
//! secret is still wiped after use: locking is a defence in depth, so failing to lock is
//! told once on stderr and never stops the tool.

use std::io;
use std::ops::{Deref, DerefMut};
use std::sync::atomic::{AtomicBool, Ordering};

use zeroize::Zeroize;

use super::platform;
use crate::Credentials;

/// Keeps the process out of core dumps and crash reports, and (Linux) out of reach of
/// ptrace and /proc/PID/mem for other processes of the same user; what each platform
/// allows is in `platform` and docs/hush.md ("Platforms").
pub fn harden_process() -> io::Result<()> {
    platform::harden_process()
}

/// Whether the process is currently marked non-dumpable (Linux), for tests.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub fn is_dumpable() -> io::Result<bool> {
    platform::is_dumpable()
}

/// Set once a lock failed, so that the warning is given once per process.
static WARNED: AtomicBool = AtomicBool::new(false);

fn warn_once(what: &str, e: &io::Error) {
    if !WARNED.swap(true, Ordering::Relaxed) {
        crate::note!("warning: cannot lock {what} in memory ({e}); it may reach swap");
    }
}

/// The pages that hold `bytes`, as (start, length), page-aligned.
fn pages(bytes: &[u8]) -> (usize, usize) {
    let page = platform::page_size();
    let start = bytes.as_ptr() as usize & !(page - 1);
    let end = (bytes.as_ptr() as usize + bytes.len()).div_ceil(page) * page;
    (start, end - start)
}

/// Locks the pages holding `bytes` out of swap. The pages stay locked after the secret is
/// dropped: the few pages of a tool's keys are not worth tracking, and they hold nothing
/// once the secret is wiped.
fn mlock(bytes: &[u8]) -> io::Result<()> {
    if bytes.is_empty() {
        return Ok(());
    }
    let (start, len) = pages(bytes);
    platform::lock_pages(start, len)
}

fn munlock(bytes: &[u8]) {
    if !bytes.is_empty() {
        let (start, len) = pages(bytes);
        platform::unlock_pages(start, len);
    }
}

/// Leaves the pages holding `bytes` out of core dumps where the platform can (Linux), in
/// case dumps are enabled again by a debugger or a system setting after [`harden_process`].
fn dont_dump(bytes: &[u8]) {
    if !bytes.is_empty() {
        let (start, len) = pages(bytes);
        platform::dont_dump_pages(start, len);
    }
}

/// Keeps a long-lived key (or passphrase) out of swap and core dumps.
pub fn protect_credentials(creds: &Credentials) {
    let parts: [&[u8]; 2] = match creds {
        Credentials::KeyIv { key, iv } => [key.expose(), iv.expose()],
        Credentials::Passphrase(p) => [p.expose(), &[]],
        Credentials::Relay(session) => [&session.content_key()[..], &[]],
        Credentials::Devices(keys) => [&keys.own.expose()[..], &[]],
    };
    for part in parts {
        protect_secret(part);
    }
}

/// Keeps one long-lived secret's bytes (where they stay: a boxed key, not a copy about to
/// be dropped) out of swap and core dumps.
pub fn protect_secret(bytes: &[u8]) {
    dont_dump(bytes);
    if let Err(e) = mlock(bytes) {
        warn_once("the key", &e);
    }
}

/// A fixed-size buffer for plaintext or secrets: allocated once (never reallocated, so no
/// copy is left behind), locked out of swap where allowed, left out of core dumps, and
/// wiped before it is freed.
pub struct SecretBuf {
    bytes: Box<[u8]>,
    locked: bool,
}

impl SecretBuf {
    /// A zeroed buffer of `len` bytes.
    pub fn new(len: usize) -> Self {
        let bytes = vec![0u8; len].into_boxed_slice();
        dont_dump(&bytes);
        // Large plaintext buffers may exceed RLIMIT_MEMLOCK: wiping still protects them.
        let locked = mlock(&bytes).is_ok();
        Self { bytes, locked }
    }
}

impl Deref for SecretBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl DerefMut for SecretBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        &mut self.bytes
    }
}

impl Drop for SecretBuf {
    fn drop(&mut self) {
        self.bytes.zeroize();
        if self.locked {
            munlock(&self.bytes);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_range_covers_the_bytes() {
        let page = platform::page_size();
        let buf = vec![1u8; page + 10];
        let (start, len) = pages(&buf[5..page + 7]);
        assert_eq!(start % page, 0);
        assert_eq!(len % page, 0);
        assert!(start <= buf.as_ptr() as usize + 5);
        assert!(start + len >= buf.as_ptr() as usize + page + 7);
    }

    #[test]
    fn secret_buffers_are_usable_and_sized_once() {
        let mut buf = SecretBuf::new(64 * 1024);
        buf[..5].copy_from_slice(b"hello");
        assert_eq!(&buf[..5], b"hello");
        assert_eq!(buf.len(), 64 * 1024);
    }
}
