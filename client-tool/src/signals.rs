//! SIGINT, SIGTERM, SIGHUP and SIGQUIT while hush holds the clipboard: the shared signal
//! thread (`shared::cli::signals`) records the signal in a flag instead of ending the
//! process, so that the main loop clears the clipboard and restores the terminal first.
//! Elsewhere (`hush open -o`, `keygen`, a prompt) the shared thread ends hush after putting
//! the terminal back and removing an unfinished file.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, Ordering};

use shared::cli::signals as shared_signals;

/// The last termination signal received while the hook was installed, if any.
pub struct Signals(Arc<AtomicI32>);

impl Signals {
    /// Takes termination signals into a flag until dropped.
    pub fn install() -> Result<Self, shared::cli::Error> {
        let flag = Arc::new(AtomicI32::new(0));
        shared_signals::install("hush")?;
        let seen = Arc::clone(&flag);
        shared_signals::set_hook(Some(Arc::new(move |signal, _| {
            seen.store(signal, Ordering::SeqCst);
            true
        })));
        Ok(Self(flag))
    }

    /// The signal received, if any.
    pub fn pending(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            sig => Some(sig),
        }
    }
}

impl Drop for Signals {
    fn drop(&mut self) {
        shared_signals::set_hook(None);
    }
}
