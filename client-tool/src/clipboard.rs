//! The clipboard, with the discipline of password managers (DESIGN.md, principle 6).
//!
//! - One long-lived clipboard handle, owned by one thread ([`ClipboardService`]): on X11 the
//!   process that put text on the clipboard must stay alive to serve it, and arboard wants
//!   one handle per process.
//! - Every copy is marked for exclusion from clipboard history.
//! - A [`Lease`] remembers what hush put there: after the timeout the clipboard is cleared
//!   only if it still holds exactly that (the user may have copied something else since); a
//!   new copy replaces the old lease and its timer; on exit the lease is released the same way.

use std::sync::OnceLock;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// Why the clipboard could not do what hush asked. Backend details (arboard's own words)
/// are kept as text; none of them holds clipboard content.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ClipboardError {
    /// No display server to hold a clipboard.
    // Only Linux needs a display server for its clipboard, and has a primary selection.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    #[error(
        "no clipboard available: neither DISPLAY nor WAYLAND_DISPLAY is set (headless or SSH session)"
    )]
    NoDisplay,
    /// The system clipboard could not be opened.
    #[error("no clipboard available: {0}")]
    Unavailable(String),
    /// Copying failed.
    #[error("could not copy to the clipboard: {0}")]
    Copy(String),
    /// Reading the clipboard failed.
    #[error("could not read the clipboard: {0}")]
    Read(String),
    /// Reading the primary selection failed.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    #[error("could not read the selection: {0}")]
    ReadSelection(String),
    /// Clearing failed.
    #[error("could not clear the clipboard: {0}")]
    Clear(String),
    /// The clipboard thread could not be started.
    #[error("could not start the clipboard thread: {0}")]
    Thread(String),
    /// The clipboard thread is gone.
    #[error("the clipboard thread has stopped")]
    Stopped,
    /// The clipboard thread did not answer in time.
    #[error("the clipboard did not answer")]
    NoAnswer,
}

impl ClipboardError {
    /// What to do about it, where there is something to say.
    pub fn hint(&self) -> Option<&'static str> {
        matches!(self, Self::NoDisplay | Self::Unavailable(_)).then_some(ADVICE)
    }
}

/// What a clipboard can do, as the lease needs it. The real one is arboard; tests use a fake.
pub trait Backend {
    /// Puts secret text on the clipboard, excluded from clipboard history.
    fn set_secret(&mut self, text: &str) -> Result<(), ClipboardError>;
    /// Reads the clipboard's text.
    fn get_text(&mut self) -> Result<Zeroizing<String>, ClipboardError>;
    /// Reads the primary selection's text (X11's mouse selection); empty where there is none.
    fn get_primary(&mut self) -> Result<Zeroizing<String>, ClipboardError>;
    /// Empties the clipboard.
    fn clear(&mut self) -> Result<(), ClipboardError>;
}

/// The system clipboard through arboard.
pub struct Arboard(arboard::Clipboard);

impl Arboard {
    /// Opens the system clipboard, explaining plainly when there is none.
    pub fn open() -> Result<Self, ClipboardError> {
        #[cfg(target_os = "linux")]
        if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
            return Err(ClipboardError::NoDisplay);
        }
        arboard::Clipboard::new()
            .map(Self)
            .map_err(|e| ClipboardError::Unavailable(e.to_string()))
    }
}

/// What to do without a clipboard.
pub const ADVICE: &str = "run hush on your own computer (not over SSH), or use `hush open -o FILE`";

impl Backend for Arboard {
    fn set_secret(&mut self, text: &str) -> Result<(), ClipboardError> {
        let set = self.0.set();
        #[cfg(target_os = "linux")]
        let set = {
            use arboard::SetExtLinux as _;
            set.exclude_from_history()
        };
        // macOS: org.nspasteboard.ConcealedType, which clipboard managers honour.
        #[cfg(target_os = "macos")]
        let set = {
            use arboard::SetExtApple as _;
            set.exclude_from_history()
        };
        // Windows: ExcludeClipboardContentFromMonitorProcessing keeps every clipboard
        // monitor away; a monitor that ignores it still finds history (Win+V) and cloud
        // sync refused by the two DWORD 0 formats, as KeePassXC sets all three.
        #[cfg(windows)]
        let set = {
            use arboard::SetExtWindows as _;
            set.exclude_from_monitoring()
                .exclude_from_history()
                .exclude_from_cloud()
        };
        set.text(text)
            .map_err(|e| ClipboardError::Copy(e.to_string()))
    }

    fn get_text(&mut self) -> Result<Zeroizing<String>, ClipboardError> {
        match self.0.get_text() {
            Ok(t) => Ok(Zeroizing::new(t)),
            Err(arboard::Error::ContentNotAvailable) => Ok(Zeroizing::new(String::new())),
            Err(e) => Err(ClipboardError::Read(e.to_string())),
        }
    }

    fn get_primary(&mut self) -> Result<Zeroizing<String>, ClipboardError> {
        #[cfg(target_os = "linux")]
        {
            use arboard::{GetExtLinux as _, LinuxClipboardKind};
            match self.0.get().clipboard(LinuxClipboardKind::Primary).text() {
                Ok(t) => Ok(Zeroizing::new(t)),
                Err(arboard::Error::ContentNotAvailable) => Ok(Zeroizing::new(String::new())),
                Err(e) => Err(ClipboardError::ReadSelection(e.to_string())),
            }
        }
        #[cfg(not(target_os = "linux"))]
        Ok(Zeroizing::new(String::new()))
    }

    fn clear(&mut self) -> Result<(), ClipboardError> {
        self.0
            .clear()
            .map_err(|e| ClipboardError::Clear(e.to_string()))
    }
}

/// How a lease ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// The clipboard still held our text and was cleared.
    Cleared,
    /// The clipboard held something else by then: left alone.
    Replaced,
    /// The clipboard could not be read, so it is not hush's (see [`Lease::release`]): left alone.
    Unreadable(ClipboardError),
    /// Clearing failed.
    Failed(ClipboardError),
}

/// The one wording of how a lease ended, for the TUI's status line and `hush open`.
impl std::fmt::Display for Released {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = &self.what;
        match &self.outcome {
            Outcome::Cleared => write!(f, "clipboard cleared ({what})"),
            Outcome::Replaced => write!(
                f,
                "the clipboard holds something else now: left alone ({what} is gone)"
            ),
            Outcome::Unreadable(e) => write!(
                f,
                "{e}: another program holds the clipboard, left alone ({what} is gone)"
            ),
            Outcome::Failed(e) => write!(f, "{e}"),
        }
    }
}

/// The end of a lease, reported to the UI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Released {
    /// What had been copied ("key 7F3A-…", "plaintext", …); never the text itself.
    pub what: String,
    /// How it ended.
    pub outcome: Outcome,
}

/// What hush currently has on the clipboard.
struct Held {
    text: Zeroizing<String>,
    what: String,
    deadline: Option<Instant>,
}

/// The record of what hush put on the clipboard, and until when.
#[derive(Default)]
pub struct Lease {
    held: Option<Held>,
}

impl Lease {
    /// Copies `text`, replacing any earlier lease and its timer. `clear_after` of `None`
    /// never clears by time (only on exit). On failure the earlier lease stays as it was.
    pub fn copy<B: Backend + ?Sized>(
        &mut self,
        backend: &mut B,
        text: Zeroizing<String>,
        what: String,
        clear_after: Option<Duration>,
        now: Instant,
    ) -> Result<Option<Instant>, ClipboardError> {
        backend.set_secret(&text)?;
        // A timeout too far away to represent is no timeout at all.
        let deadline = clear_after.and_then(|d| now.checked_add(d));
        self.held = Some(Held {
            text,
            what,
            deadline,
        });
        Ok(deadline)
    }

    /// When the current lease expires.
    pub fn deadline(&self) -> Option<Instant> {
        self.held.as_ref().and_then(|h| h.deadline)
    }

    /// Whether hush holds a lease.
    #[cfg(test)]
    pub fn is_held(&self) -> bool {
        self.held.is_some()
    }

    /// Ends the lease if its time has come.
    pub fn tick<B: Backend + ?Sized>(&mut self, backend: &mut B, now: Instant) -> Option<Released> {
        match self.deadline() {
            Some(d) if now >= d => self.release(backend),
            _ => None,
        }
    }

    /// Whether the clipboard still holds what hush put there.
    pub fn still_ours<B: Backend + ?Sized>(&self, backend: &mut B) -> Result<bool, ClipboardError> {
        let Some(held) = &self.held else {
            return Ok(false);
        };
        let current = backend.get_text()?;
        Ok(constant_time_eq(current.as_bytes(), held.text.as_bytes()))
    }

    /// Ends the lease now: clears the clipboard if it still holds our text. `None` when
    /// there was no lease.
    pub fn release<B: Backend + ?Sized>(&mut self, backend: &mut B) -> Option<Released> {
        let held = self.held.take()?;
        let outcome = match backend.get_text() {
            Ok(current) if constant_time_eq(current.as_bytes(), held.text.as_bytes()) => {
                match backend.clear() {
                    Ok(()) => Outcome::Cleared,
                    Err(e) => Outcome::Failed(e),
                }
            }
            Ok(_) => Outcome::Replaced,
            // Unreadable. While hush owns the clipboard, reading it is served from hush's own
            // memory and cannot fail, so another program owns it: leave that alone.
            Err(e) => Outcome::Unreadable(e),
        };
        Some(Released {
            what: held.what.clone(),
            outcome,
        })
    }
}

/// Compares without stopping at the first difference (the clipboard may hold a secret).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    subtle::ConstantTimeEq::ct_eq(a, b).into()
}

type Reply<T> = Sender<T>;

enum Request {
    Copy {
        text: Zeroizing<String>,
        what: String,
        reply: Reply<Result<Option<Instant>, ClipboardError>>,
    },
    Read {
        reply: Reply<Result<Zeroizing<String>, ClipboardError>>,
    },
    ReadPrimary {
        reply: Reply<Result<Zeroizing<String>, ClipboardError>>,
    },
    StillOurs {
        reply: Reply<Result<bool, ClipboardError>>,
    },
    Release {
        reply: Reply<Option<Released>>,
    },
    Shutdown {
        reply: Reply<Option<Released>>,
    },
}

/// A handle on the clipboard thread.
pub struct ClipboardService {
    tx: Sender<Request>,
    events: Receiver<Released>,
    thread: Option<JoinHandle<()>>,
}

/// A sender kept for the panic hook and signal paths, which have no access to the service.
static EMERGENCY: OnceLock<Sender<Request>> = OnceLock::new();

/// How long requests to the clipboard thread may take before hush gives up waiting.
const REPLY_TIMEOUT: Duration = Duration::from_secs(5);

impl ClipboardService {
    /// Starts the clipboard thread with the system clipboard.
    pub fn start(clear_after: Option<Duration>) -> Result<Self, ClipboardError> {
        Self::start_with(Arboard::open, clear_after)
    }

    /// Starts the clipboard thread; `open` runs on it and makes the backend.
    pub fn start_with<B, F>(open: F, clear_after: Option<Duration>) -> Result<Self, ClipboardError>
    where
        B: Backend,
        F: FnOnce() -> Result<B, ClipboardError> + Send + 'static,
    {
        let (tx, rx) = mpsc::channel::<Request>();
        let (ev_tx, events) = mpsc::channel();
        let (ready_tx, ready_rx) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("clipboard".into())
            .spawn(move || {
                let mut backend = match open() {
                    Ok(b) => {
                        let _ = ready_tx.send(Ok(()));
                        b
                    }
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                serve(&mut backend, rx, ev_tx, clear_after);
            })
            .map_err(|e| ClipboardError::Thread(e.to_string()))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(e),
            Err(_) => return Err(ClipboardError::Stopped),
        }
        let _ = EMERGENCY.set(tx.clone());
        Ok(Self {
            tx,
            events,
            thread: Some(thread),
        })
    }

    fn ask<T>(&self, make: impl FnOnce(Reply<T>) -> Request) -> Result<T, ClipboardError> {
        let (reply, rx) = mpsc::channel();
        self.tx
            .send(make(reply))
            .map_err(|_| ClipboardError::Stopped)?;
        rx.recv_timeout(REPLY_TIMEOUT)
            .map_err(|_| ClipboardError::NoAnswer)
    }

    /// Copies secret text; returns when the lease expires (`None`: never).
    pub fn copy(
        &self,
        text: Zeroizing<String>,
        what: String,
    ) -> Result<Option<Instant>, ClipboardError> {
        self.ask(|reply| Request::Copy { text, what, reply })?
    }

    /// Reads the clipboard's text.
    pub fn read(&self) -> Result<Zeroizing<String>, ClipboardError> {
        self.ask(|reply| Request::Read { reply })?
    }

    /// Reads the primary selection's text.
    pub fn read_primary(&self) -> Result<Zeroizing<String>, ClipboardError> {
        self.ask(|reply| Request::ReadPrimary { reply })?
    }

    /// Whether the clipboard still holds what hush put there.
    pub fn still_ours(&self) -> Result<bool, ClipboardError> {
        self.ask(|reply| Request::StillOurs { reply })?
    }

    /// Clears now if the clipboard still holds what hush put there.
    pub fn release(&self) -> Result<Option<Released>, ClipboardError> {
        self.ask(|reply| Request::Release { reply })
    }

    /// Leases that ended by time since the last call.
    pub fn ended(&self) -> Vec<Released> {
        self.events.try_iter().collect()
    }

    /// Waits up to `timeout` for a lease to end by time.
    pub fn wait_ended(&self, timeout: Duration) -> Option<Released> {
        self.events.recv_timeout(timeout).ok()
    }

    /// Releases the lease and stops the thread.
    pub fn shutdown(mut self) -> Option<Released> {
        let released = self.ask(|reply| Request::Shutdown { reply }).ok().flatten();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        released
    }
}

impl Drop for ClipboardService {
    fn drop(&mut self) {
        if let Some(t) = self.thread.take() {
            let (reply, rx) = mpsc::channel();
            if self.tx.send(Request::Shutdown { reply }).is_ok() {
                let _ = rx.recv_timeout(REPLY_TIMEOUT);
            }
            let _ = t.join();
        }
    }
}

/// Clears the clipboard if it still holds what hush put there, from anywhere (the panic
/// hook, a signal path). Waits a little for the clipboard thread; never panics.
pub fn emergency_release() {
    if let Some(tx) = EMERGENCY.get() {
        let (reply, rx) = mpsc::channel();
        if tx.send(Request::Release { reply }).is_ok() {
            let _ = rx.recv_timeout(Duration::from_secs(2));
        }
    }
}

fn serve<B: Backend>(
    backend: &mut B,
    rx: Receiver<Request>,
    events: Sender<Released>,
    clear_after: Option<Duration>,
) {
    let mut lease = Lease::default();
    loop {
        let request = match lease.deadline() {
            Some(deadline) => rx.recv_timeout(deadline.saturating_duration_since(Instant::now())),
            None => rx.recv().map_err(|_| RecvTimeoutError::Disconnected),
        };
        match request {
            Ok(Request::Copy { text, what, reply }) => {
                let _ = reply.send(lease.copy(backend, text, what, clear_after, Instant::now()));
            }
            Ok(Request::Read { reply }) => {
                let _ = reply.send(backend.get_text());
            }
            Ok(Request::ReadPrimary { reply }) => {
                let _ = reply.send(backend.get_primary());
            }
            Ok(Request::StillOurs { reply }) => {
                let _ = reply.send(lease.still_ours(backend));
            }
            Ok(Request::Release { reply }) => {
                let _ = reply.send(lease.release(backend));
            }
            Ok(Request::Shutdown { reply }) => {
                let _ = reply.send(lease.release(backend));
                return;
            }
            Err(RecvTimeoutError::Timeout) => {
                if let Some(released) = lease.tick(backend, Instant::now()) {
                    let _ = events.send(released);
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                lease.release(backend);
                return;
            }
        }
    }
}

#[cfg(test)]
pub mod fake {
    //! A clipboard in memory, shared so that a test can play "another program".
    use std::sync::{Arc, Mutex};

    use super::*;

    /// The state of the fake clipboard.
    #[derive(Default, Debug)]
    pub struct State {
        /// Its text.
        pub text: String,
        /// Copies marked secret.
        pub secret_sets: usize,
        /// Clears.
        pub clears: usize,
        /// Reads fail (another program owns the clipboard and does not answer).
        pub unreadable: bool,
    }

    /// A fake clipboard; clones share the state.
    #[derive(Clone, Default)]
    pub struct Fake(pub Arc<Mutex<State>>);

    impl Fake {
        /// What it holds.
        pub fn text(&self) -> String {
            self.0.lock().unwrap().text.clone()
        }
        /// Another program copies something.
        pub fn other_copy(&self, text: &str) {
            self.0.lock().unwrap().text = text.to_owned();
        }
    }

    impl Backend for Fake {
        fn set_secret(&mut self, text: &str) -> Result<(), ClipboardError> {
            let mut s = self.0.lock().unwrap();
            s.text = text.to_owned();
            s.secret_sets += 1;
            Ok(())
        }
        fn get_text(&mut self) -> Result<Zeroizing<String>, ClipboardError> {
            let s = self.0.lock().unwrap();
            if s.unreadable {
                return Err(ClipboardError::Read("timeout".into()));
            }
            Ok(Zeroizing::new(s.text.clone()))
        }
        fn get_primary(&mut self) -> Result<Zeroizing<String>, ClipboardError> {
            Ok(Zeroizing::new(String::new()))
        }
        fn clear(&mut self) -> Result<(), ClipboardError> {
            let mut s = self.0.lock().unwrap();
            s.text.clear();
            s.clears += 1;
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::fake::Fake;
    use super::*;

    fn z(s: &str) -> Zeroizing<String> {
        Zeroizing::new(s.to_owned())
    }

    const SECS: Option<Duration> = Some(Duration::from_secs(10));

    #[test]
    fn clears_after_the_timeout_when_unchanged() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        let t0 = Instant::now();
        lease
            .copy(&mut cb, z("secret"), "key".into(), SECS, t0)
            .unwrap();
        assert_eq!(cb.text(), "secret");
        assert_eq!(cb.0.lock().unwrap().secret_sets, 1);
        assert_eq!(lease.tick(&mut cb, t0 + Duration::from_secs(9)), None);
        assert_eq!(cb.text(), "secret");
        let r = lease.tick(&mut cb, t0 + Duration::from_secs(10)).unwrap();
        assert_eq!(
            r,
            Released {
                what: "key".into(),
                outcome: Outcome::Cleared
            }
        );
        assert_eq!(cb.text(), "");
        assert!(!lease.is_held());
    }

    #[test]
    fn leaves_alone_what_the_user_copied_since() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        let t0 = Instant::now();
        lease
            .copy(&mut cb, z("secret"), "plaintext".into(), SECS, t0)
            .unwrap();
        cb.other_copy("user's own text");
        let r = lease.tick(&mut cb, t0 + Duration::from_secs(11)).unwrap();
        assert_eq!(r.outcome, Outcome::Replaced);
        assert_eq!(cb.text(), "user's own text");
        assert_eq!(cb.0.lock().unwrap().clears, 0);
    }

    #[test]
    fn an_unreadable_clipboard_is_not_ours_and_left_alone() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        lease
            .copy(&mut cb, z("secret"), "key".into(), SECS, Instant::now())
            .unwrap();
        cb.other_copy("another program's");
        cb.0.lock().unwrap().unreadable = true;
        let r = lease.release(&mut cb).unwrap();
        assert!(
            matches!(r.outcome, Outcome::Unreadable(ref e) if e.to_string().contains("timeout"))
        );
        assert_eq!(cb.0.lock().unwrap().clears, 0);
    }

    #[test]
    fn a_new_copy_replaces_the_timer() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        let t0 = Instant::now();
        lease
            .copy(&mut cb, z("key"), "key".into(), SECS, t0)
            .unwrap();
        lease
            .copy(
                &mut cb,
                z("iv"),
                "IV".into(),
                SECS,
                t0 + Duration::from_secs(8),
            )
            .unwrap();
        // The first copy's deadline passes: nothing happens.
        assert_eq!(lease.tick(&mut cb, t0 + Duration::from_secs(12)), None);
        assert_eq!(cb.text(), "iv");
        let r = lease.tick(&mut cb, t0 + Duration::from_secs(18)).unwrap();
        assert_eq!(
            r,
            Released {
                what: "IV".into(),
                outcome: Outcome::Cleared
            }
        );
        assert_eq!(cb.text(), "");
    }

    #[test]
    fn never_clears_by_time_with_zero_but_clears_on_exit() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        let t0 = Instant::now();
        assert_eq!(
            lease.copy(&mut cb, z("s"), "key".into(), None, t0).unwrap(),
            None
        );
        assert_eq!(lease.tick(&mut cb, t0 + Duration::from_secs(100_000)), None);
        assert_eq!(cb.text(), "s");
        assert_eq!(lease.release(&mut cb).unwrap().outcome, Outcome::Cleared);
        assert_eq!(cb.text(), "");
        assert_eq!(lease.release(&mut cb), None);
    }

    #[test]
    fn an_absurd_timeout_does_not_panic() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        let huge = Some(Duration::from_secs(u64::MAX));
        assert_eq!(
            lease
                .copy(&mut cb, z("s"), "key".into(), huge, Instant::now())
                .unwrap(),
            None
        );
        assert_eq!(lease.release(&mut cb).unwrap().outcome, Outcome::Cleared);
    }

    #[test]
    fn still_ours_tracks_the_clipboard() {
        let mut cb = Fake::default();
        let mut lease = Lease::default();
        assert!(!lease.still_ours(&mut cb).unwrap());
        lease
            .copy(&mut cb, z("s"), "key".into(), SECS, Instant::now())
            .unwrap();
        assert!(lease.still_ours(&mut cb).unwrap());
        cb.other_copy("s2");
        assert!(!lease.still_ours(&mut cb).unwrap());
    }

    #[test]
    fn service_clears_on_timeout_and_on_shutdown() {
        let cb = Fake::default();
        let shared = cb.clone();
        let svc =
            ClipboardService::start_with(move || Ok(shared), Some(Duration::from_millis(100)))
                .unwrap();
        svc.copy(z("one"), "key".into()).unwrap();
        assert_eq!(svc.read().unwrap().as_str(), "one");
        let ended = svc.wait_ended(Duration::from_secs(5)).unwrap();
        assert_eq!(ended.outcome, Outcome::Cleared);
        assert_eq!(cb.text(), "");
        svc.copy(z("two"), "IV".into()).unwrap();
        let released = svc.shutdown().unwrap();
        assert_eq!(
            released,
            Released {
                what: "IV".into(),
                outcome: Outcome::Cleared
            }
        );
        assert_eq!(cb.text(), "");
    }

    #[test]
    fn service_exit_leaves_a_user_copy_alone() {
        let cb = Fake::default();
        let shared = cb.clone();
        let svc = ClipboardService::start_with(move || Ok(shared), None).unwrap();
        svc.copy(z("secret"), "plaintext".into()).unwrap();
        cb.other_copy("mine");
        assert!(!svc.still_ours().unwrap());
        assert_eq!(svc.shutdown().unwrap().outcome, Outcome::Replaced);
        assert_eq!(cb.text(), "mine");
    }

    #[test]
    fn service_reports_an_unavailable_clipboard() {
        let err = ClipboardService::start_with(|| Err::<Fake, _>(ClipboardError::NoDisplay), None)
            .err()
            .unwrap();
        assert_eq!(err, ClipboardError::NoDisplay);
    }
}
