//! The terminal around the app: raw mode, alternate screen, bracketed paste, the event
//! loop, and the guarantees on the way out: on q, Esc, Ctrl-C, `Ctrl-\`, SIGTERM, SIGHUP,
//! SIGQUIT and panic,
//! the clipboard is cleared (if it still holds hush's copy) and the terminal restored.

use std::collections::HashMap;
use std::io::{self, IsTerminal};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::time::{Duration, Instant};

use crossterm::event::{
    self, DisableBracketedPaste, EnableBracketedPaste, Event, KeyCode, KeyEventKind, KeyModifiers,
};
use crossterm::terminal::{self, EnterAlternateScreen, LeaveAlternateScreen};
use crossterm::{cursor, execute};
use ratatui::Terminal;
use ratatui::backend::CrosstermBackend;
use zeroize::Zeroizing;

use shared::cli::devices::{MailboxKeys, PeerKind};
use shared::cli::remember::{Offer, Reply};

use crate::app::{App, Effect, Input, Key, PairingEvent, PairingId, Source};
use crate::clipboard::{self, ClipboardError, ClipboardService};
use crate::creds;
use crate::failure::Failure;
use crate::mailbox;
use crate::pairing::{self, Worker};
use crate::signals::Signals;
use crate::ui;

/// Whether the terminal is in the TUI's mode (for the panic hook).
static TERMINAL_TAKEN: AtomicBool = AtomicBool::new(false);

/// Puts the terminal back as it was. Safe to call more than once, from anywhere.
fn restore_terminal() {
    if TERMINAL_TAKEN.swap(false, Ordering::SeqCst) {
        let _ = execute!(
            io::stdout(),
            DisableBracketedPaste,
            LeaveAlternateScreen,
            cursor::Show
        );
        let _ = terminal::disable_raw_mode();
    }
}

/// Restores the terminal and clears the clipboard before the panic message is printed.
pub fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        clipboard::emergency_release();
        previous(info);
    }));
}

/// Raw mode and the alternate screen for as long as it lives.
struct TerminalGuard;

impl TerminalGuard {
    fn enter() -> io::Result<Self> {
        terminal::enable_raw_mode()?;
        TERMINAL_TAKEN.store(true, Ordering::SeqCst);
        execute!(
            io::stdout(),
            EnterAlternateScreen,
            EnableBracketedPaste,
            cursor::Hide
        )?;
        Ok(Self)
    }
}

impl Drop for TerminalGuard {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// The relay flags of the TUI (`hush --relay URL --relay-pin sha256:HEX`).
pub struct RelayFlags<'a> {
    /// `--relay`.
    pub url: Option<&'a str>,
    /// `--relay-pin`.
    pub pin: Option<&'a str>,
}

/// Runs the TUI until the user quits or a signal arrives.
pub fn run(
    key_files: &[PathBuf],
    with_identity: bool,
    clear_after: Option<Duration>,
    relay: RelayFlags<'_>,
) -> Result<(), Failure> {
    if !io::stdin().is_terminal() || !io::stdout().is_terminal() {
        return Err(Failure::NoTerminalUi);
    }
    let mut loaded = Vec::new();
    for path in key_files {
        let label = path
            .file_name()
            .map(|n| crate::keyring::sanitize(&n.to_string_lossy(), 24));
        loaded.push((creds::read_key_file(path)?, label));
    }
    // Asked before the UI takes the terminal, once; none made yet is no question.
    let identity = if with_identity {
        creds::identity(None, false)?
    } else {
        None
    };
    let signals = Signals::install()?;
    let (service, no_clipboard) = match ClipboardService::start(clear_after) {
        Ok(s) => (Some(s), None),
        Err(why) => (None, Some(why)),
    };
    let mut app = App::new(clear_after, no_clipboard);
    if std::env::var_os("SSH_CONNECTION").is_some() || std::env::var_os("SSH_TTY").is_some() {
        app.warn_remote();
    }
    for (creds, label) in loaded {
        app.keyring.add(creds, label);
    }
    if let Some(identity) = &identity {
        let name = format!(
            "this laptop's identity {}",
            identity.own.public().fingerprint()
        );
        app.keyring.add_identity(identity.credentials(), name);
        app.identity = true;
    }
    // The relay is optional: settings that cannot be used only stop `r`, with their reason.
    let relay = match crate::receive_cmd::relay_settings(relay.url, relay.pin) {
        Ok((url, pin)) => Some(pairing::Settings { url, pin }),
        Err(f) => {
            use shared::cli::failure::Failure as _;
            let hint = f.hint().map(|h| crate::app::sentence(&h));
            app.relay_unavailable(crate::app::sentence(&f), hint);
            None
        }
    };

    let guard = TerminalGuard::enter()?;
    let mut workers = HashMap::new();
    let result = Terminal::new(CrosstermBackend::new(io::stdout()))
        .map_err(Failure::from)
        .and_then(|mut terminal| {
            let (tx, messages) = mpsc::channel();
            let mailbox = identity.as_ref().and_then(|i| start_mailbox(i, &tx));
            let ctx = Context {
                service: service.as_ref(),
                tx,
                relay,
                workers: &mut workers,
                identity,
                mailbox,
            };
            event_loop(&mut terminal, &mut app, ctx, &messages, &signals)
        });
    // A terminal error once the terminal is gone is the terminal going away.
    let result = result.map_err(|f| {
        if f.is_io() && !io::stdout().is_terminal() {
            Failure::TerminalGone
        } else {
            f
        }
    });
    // Whatever happened: clear the clipboard if it still holds ours, then restore.
    if let Some(service) = service {
        service.shutdown();
    }
    drop(guard);
    // Pairings still waiting: their slots are left on the relay (bounded; the terminal is
    // already back).
    pairing::leave_all(workers.into_values(), pairing::QUIT_LEAVE);
    result
}

type Term = Terminal<CrosstermBackend<io::Stdout>>;

/// What the event loop waits for: the terminal, or a worker thread's answer.
enum Message {
    /// A terminal event.
    Terminal(io::Result<Event>),
    /// The answer to [`Effect::Open`], or a pairing's event.
    Worker(Input),
}

/// What carrying out effects needs besides the app.
struct Context<'a> {
    service: Option<&'a ClipboardService>,
    tx: Sender<Message>,
    relay: Option<pairing::Settings>,
    workers: &'a mut HashMap<PairingId, Worker>,
    /// This laptop's identity and its servers, if it has one (and `--no-identity` is off).
    identity: Option<creds::Identity>,
    /// The mailbox worker, when the identity gave servers a mailbox.
    mailbox: Option<mailbox::Worker>,
}

/// Reads terminal events on a thread of its own. crossterm spins forever inside `read`
/// once the terminal is hung up (it retries a read that returns end-of-file), so the
/// main loop must never wait inside crossterm: it waits on this channel, where it can
/// also notice signals and a dead terminal, and leave (ending the process ends this
/// thread too).
fn spawn_input_thread(tx: Sender<Message>) -> io::Result<()> {
    std::thread::Builder::new()
        .name("input".into())
        .spawn(move || {
            loop {
                let event = event::read();
                let failed = event.is_err();
                if tx.send(Message::Terminal(event)).is_err() || failed {
                    return;
                }
            }
        })?;
    Ok(())
}

/// Opens sealed text on a thread of its own: Argon2id for a passphrase takes seconds (a
/// hostile header at the caps about 15 s), during which the loop must still quit on q,
/// Ctrl-C or a signal. Quitting does not wait for it: the process ends, and the thread
/// and its buffers with it. Answers at once only if the thread cannot start.
fn spawn_open(
    app: &App,
    text: Zeroizing<Vec<u8>>,
    source: Source,
    tx: &Sender<Message>,
) -> Option<Input> {
    // A copy of the keys for the thread: the keyring may change meanwhile (g, P).
    let candidates = app.keyring.candidates().to_vec();
    let tx = tx.clone();
    let spawned = std::thread::Builder::new()
        .name("open".into())
        .spawn(move || {
            let result = shared::open(&text, &candidates);
            // Gone only if the loop ended: the result is dropped, and wiped.
            let _ = tx.send(Message::Worker(Input::Opened { source, result }));
        });
    spawned.err().map(|e| Input::Opened {
        source,
        result: Err(shared::Error::Io(e)),
    })
}

/// Starts pairing `id` on a worker thread; answers at once only if it cannot start.
fn spawn_pairing(ctx: &mut Context<'_>, id: PairingId, code: shared::relay::Code) -> Option<Input> {
    let failed = |message: String| Input::Pairing {
        id,
        event: PairingEvent::Failed {
            message,
            hint: None,
        },
    };
    let Some(settings) = &ctx.relay else {
        return Some(failed("No relay set.".into()));
    };
    let tx = ctx.tx.clone();
    let tell: pairing::Tell = Arc::new(move |input| tx.send(Message::Worker(input)).is_ok());
    match pairing::spawn(settings, id, code, tell) {
        Ok(worker) => {
            ctx.workers.insert(id, worker);
            None
        }
        Err(e) => Some(failed(format!("Cannot start the pairing: {e}."))),
    }
}

fn event_loop(
    terminal: &mut Term,
    app: &mut App,
    mut ctx: Context<'_>,
    messages: &mpsc::Receiver<Message>,
    signals: &Signals,
) -> Result<(), Failure> {
    spawn_input_thread(ctx.tx.clone())?;
    let service = ctx.service;
    loop {
        if let Some(sig) = signals.pending() {
            return Err(Failure::Signal(sig));
        }
        if let Some(service) = service {
            for released in service.ended() {
                app.handle(Input::Released(Some(released)), Instant::now());
            }
        }
        terminal.draw(|frame| ui::draw(frame, app, Instant::now()))?;
        // A redraw writes only what changed, often nothing: write a harmless sequence on
        // every tick, so that a hung-up terminal (window closed, SSH gone) is noticed
        // even when no SIGHUP reaches hush.
        let alive = execute!(io::stdout(), cursor::Hide).is_ok() && io::stdout().is_terminal();
        if !alive {
            return Err(Failure::TerminalGone);
        }
        let event = match messages.recv_timeout(Duration::from_millis(200)) {
            Ok(Message::Terminal(event)) => event?,
            Ok(Message::Worker(input)) => {
                if apply(app, &mut ctx, input) {
                    return Ok(());
                }
                continue;
            }
            Err(RecvTimeoutError::Timeout) => continue,
            Err(RecvTimeoutError::Disconnected) => {
                return Err(Failure::InputClosed);
            }
        };
        let input = match event {
            Event::Key(k) if k.kind != KeyEventKind::Release => {
                match map_key(k.code, k.modifiers) {
                    Some(key) => Input::Key(key),
                    None => continue,
                }
            }
            Event::Paste(text) => Input::Paste(Zeroizing::new(text)),
            Event::Resize(..) => {
                terminal.autoresize()?;
                continue;
            }
            _ => continue,
        };
        #[cfg(debug_assertions)]
        test_panic(&input);
        if apply(app, &mut ctx, input) {
            return Ok(());
        }
    }
}

/// Debug builds only, for the end-to-end test of the panic path: the key named by
/// `HUSH_TEST_PANIC_KEY` panics, as a bug would.
#[cfg(debug_assertions)]
fn test_panic(input: &Input) {
    if let (Input::Key(Key::Char(c)), Some(want)) = (input, std::env::var_os("HUSH_TEST_PANIC_KEY"))
        && want.to_str() == Some(c.encode_utf8(&mut [0; 4]))
    {
        panic!("test panic requested with HUSH_TEST_PANIC_KEY");
    }
}

/// Feeds an input to the app and carries out its effects; `true` to quit.
fn apply(app: &mut App, ctx: &mut Context<'_>, input: Input) -> bool {
    let mut queue = app.handle(input, Instant::now());
    while !queue.is_empty() {
        let mut next = Vec::new();
        for effect in queue {
            let answer = match (effect, ctx.service) {
                (Effect::Quit, _) => return true,
                (Effect::Open { text, source }, _) => {
                    match spawn_open(app, text, source, &ctx.tx) {
                        Some(answer) => answer,
                        None => continue,
                    }
                }
                (Effect::Pair { id, code }, _) => match spawn_pairing(ctx, id, code.0) {
                    Some(answer) => answer,
                    None => continue,
                },
                (
                    Effect::CreateIdentity {
                        id,
                        offer,
                        passphrase,
                    },
                    _,
                ) => {
                    let answer = match create_identity(app, ctx, &passphrase.0) {
                        Ok(()) => answer_offer(app, ctx, &offer, true),
                        // Not made: the pairing goes on without remembering.
                        Err(why) => (Reply::Decline, None, Err(why)),
                    };
                    answered(ctx, id, answer)
                }
                (Effect::AnswerOffer { id, offer, accept }, _) => {
                    let answer = answer_offer(app, ctx, &offer, accept);
                    answered(ctx, id, answer)
                }
                (Effect::MailboxDone { delete }, _) => {
                    if let Some(worker) = &ctx.mailbox {
                        worker.done(delete);
                    }
                    continue;
                }
                (Effect::RelayDone { id, handed_over }, _) => {
                    if let Some(worker) = ctx.workers.remove(&id) {
                        worker.done(handed_over);
                    }
                    continue;
                }
                (Effect::Copy { text, what }, Some(s)) => Input::Copied(s.copy(text, what)),
                (Effect::ReadClipboard, Some(s)) => Input::ClipboardText(s.read()),
                (Effect::ReadPrimary, Some(s)) => Input::PrimaryText(s.read_primary()),
                (Effect::ClearClipboard, Some(s)) => match s.release() {
                    Ok(released) => Input::Released(released),
                    Err(e) => Input::Copied(Err(e)),
                },
                (_, None) => Input::Copied(Err(ClipboardError::Stopped)),
            };
            next.extend(app.handle(answer, Instant::now()));
        }
        queue = next;
    }
    false
}

/// An answer to an offer, as [`answer_offer`] makes it.
type Answer = (Reply, Option<MailboxKeys>, Result<Option<String>, String>);

/// Gives pairing `id`'s worker the answer (and the mailbox to register before it goes);
/// what to tell the app.
fn answered(ctx: &Context<'_>, id: PairingId, (reply, mailbox, result): Answer) -> Input {
    if let Some(worker) = ctx.workers.get(&id) {
        worker.answer(reply, mailbox);
    }
    Input::Remembered(result)
}

/// Starts looking into the mailbox `identity` gave its servers, if it gave one. Without
/// its thread the mailbox is only not looked into: nothing to say.
fn start_mailbox(identity: &creds::Identity, tx: &Sender<Message>) -> Option<mailbox::Worker> {
    let relays = crate::inbox_cmd::mailbox_relays(&identity.servers);
    if relays.is_empty() {
        return None;
    }
    let tx = tx.clone();
    let tell: pairing::Tell = Arc::new(move |input| tx.send(Message::Worker(input)).is_ok());
    mailbox::spawn(identity.own.clone(), relays, tell).ok()
}

/// Makes this laptop's identity (the first remembered server asks for it), sealed with
/// `passphrase`, and holds it for the session.
fn create_identity(
    app: &mut App,
    ctx: &mut Context<'_>,
    passphrase: &shared::Passphrase,
) -> Result<(), String> {
    let path = shared::cli::devices::path_of(shared::cli::devices::IDENTITY)
        .map_err(|e| crate::app::sentence(&e))?;
    let own =
        shared::cli::devices::create_identity(&path, passphrase, shared::SealOptions::default())
            .map_err(|e| crate::app::sentence(&e))?;
    let servers = shared::cli::devices::Peers::load(PeerKind::Servers)
        .map_err(|e| crate::app::sentence(&e))?;
    let identity = creds::Identity { own, servers };
    let name = format!(
        "this laptop's identity {}",
        identity.own.public().fingerprint()
    );
    app.keyring.add_identity(identity.credentials(), name);
    app.identity = true;
    ctx.identity = Some(identity);
    Ok(())
}

/// The answer to a server's offer to remember each other (with the mailbox the worker
/// registers first), and what to say about it: the server remembered under its host name
/// (servers.toml written, the identity accepting it from now on), or declined, or why it
/// could not be (no identity, a changed one).
fn answer_offer(app: &mut App, ctx: &mut Context<'_>, offer: &Offer, accept: bool) -> Answer {
    if !accept {
        return (Reply::Decline, None, Ok(None));
    }
    let (Some(identity), Some(relay)) = (ctx.identity.as_mut(), ctx.relay.as_ref()) else {
        return (
            Reply::Decline,
            None,
            Err(
                "Not remembered: this hush runs without an identity. `hush receive --remember \
                 CODE` makes one (then start hush again)."
                    .into(),
            ),
        );
    };
    match identity.remember(&offer.host, offer, (&relay.url, relay.pin)) {
        Ok((reply, keys)) => {
            app.keyring.set_servers(identity.servers.to_peers());
            // The first mailbox this laptop gave: look into it from now on.
            if ctx.mailbox.is_none() {
                ctx.mailbox = start_mailbox(identity, &ctx.tx);
            }
            let server = format!(
                "{} ({})",
                crate::keyring::sanitize(&offer.host, 64),
                offer.identity.fingerprint()
            );
            (reply, Some(keys), Ok(Some(server)))
        }
        Err(e) => {
            // Reloaded, so that an entry that could not be saved does not linger.
            if let Ok(servers) = shared::cli::devices::Peers::load(PeerKind::Servers) {
                identity.servers = servers;
            }
            (Reply::Decline, None, Err(crate::app::sentence(&e)))
        }
    }
}

fn map_key(code: KeyCode, modifiers: KeyModifiers) -> Option<Key> {
    if modifiers.contains(KeyModifiers::CONTROL) {
        // Raw mode turns Ctrl-C and `Ctrl-\` into keys rather than SIGINT and SIGQUIT: both
        // quit, as they would outside the UI. The byte `Ctrl-\` sends (0x1c) is read as
        // Ctrl-4, its old name on terminals; keyboards that report keys exactly send `\`.
        return matches!(code, KeyCode::Char('c' | 'C' | '\\' | '4')).then_some(Key::CtrlC);
    }
    Some(match code {
        KeyCode::Char(c) => Key::Char(c),
        KeyCode::Enter => Key::Enter,
        KeyCode::Esc => Key::Esc,
        KeyCode::Backspace => Key::Backspace,
        KeyCode::Up => Key::Up,
        KeyCode::Down => Key::Down,
        KeyCode::Left => Key::Left,
        KeyCode::Right => Key::Right,
        KeyCode::Home => Key::Home,
        KeyCode::End => Key::End,
        KeyCode::Delete => Key::Delete,
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_map() {
        assert_eq!(
            map_key(KeyCode::Char('c'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(
            map_key(KeyCode::Char('\\'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(
            map_key(KeyCode::Char('4'), KeyModifiers::CONTROL),
            Some(Key::CtrlC)
        );
        assert_eq!(map_key(KeyCode::Char('x'), KeyModifiers::CONTROL), None);
        assert_eq!(
            map_key(KeyCode::Char('P'), KeyModifiers::SHIFT),
            Some(Key::Char('P'))
        );
        assert_eq!(map_key(KeyCode::Esc, KeyModifiers::NONE), Some(Key::Esc));
        assert_eq!(map_key(KeyCode::F(1), KeyModifiers::NONE), None);
    }
}
