//! SIGINT, SIGTERM, SIGHUP and SIGQUIT recorded in a flag, so that the main loop can clear
//! the clipboard and restore the terminal before exiting. SIGQUIT (`Ctrl-\`) is a way out
//! like the others: left to its default action it would end hush with the clipboard full.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use signal_hook::consts::signal::{SIGHUP, SIGINT, SIGQUIT, SIGTERM};

/// The signals that end hush, each after clearing what it must.
pub const TERMINATING: [i32; 4] = [SIGINT, SIGTERM, SIGHUP, SIGQUIT];

/// The last termination signal received, if any.
#[derive(Clone)]
pub struct Signals(Arc<AtomicUsize>);

impl Signals {
    /// Installs the handlers.
    pub fn install() -> std::io::Result<Self> {
        let flag = Arc::new(AtomicUsize::new(0));
        for sig in TERMINATING {
            signal_hook::flag::register_usize(sig, Arc::clone(&flag), sig as usize)?;
        }
        Ok(Self(flag))
    }

    /// The signal received, if any.
    pub fn pending(&self) -> Option<i32> {
        match self.0.load(Ordering::SeqCst) {
            0 => None,
            sig => i32::try_from(sig).ok(),
        }
    }
}

/// The conventional exit status after a signal: 128 + its number.
pub fn exit_code(sig: i32) -> u8 {
    u8::try_from(128 + sig).unwrap_or(1)
}
