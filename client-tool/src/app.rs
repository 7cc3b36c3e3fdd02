//! The TUI's state machine, without a terminal: inputs (keys, pastes, clipboard answers,
//! clipboard events, opened messages) in, effects (copy, read, clear, open, quit) out.
//! Opening is an effect too: a passphrase message costs seconds of Argon2id (a hostile
//! header up to the caps, about 15 s), which must not stall the keys that quit. The screen is drawn from
//! this state by `ui`, and nothing in it that the screen shows can hold a secret: keys
//! appear as fingerprints, plaintext as a byte count.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use shared::cli::remember::Offer;
use shared::relay::{Code, Nameplate, Session};
use shared::{Opened, Passphrase};
use zeroize::Zeroizing;

use crate::clipboard::{ClipboardError, Outcome, Released};
use crate::failure::hint_of;
use crate::keyring::{self, Keyring};

/// A key press, reduced to what hush uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key {
    /// A printable character.
    Char(char),
    /// Enter.
    Enter,
    /// Escape.
    Esc,
    /// Backspace.
    Backspace,
    /// Arrow up.
    Up,
    /// Arrow down.
    Down,
    /// Arrow left.
    Left,
    /// Arrow right.
    Right,
    /// Home.
    Home,
    /// End.
    End,
    /// Delete (the character under the cursor).
    Delete,
    /// Ctrl-C.
    CtrlC,
}

/// Something that happened.
pub enum Input {
    /// A key press.
    Key(Key),
    /// Text pasted into the window (bracketed paste: one atomic input).
    Paste(Zeroizing<String>),
    /// The clipboard's text, read after [`Effect::ReadClipboard`].
    ClipboardText(Result<Zeroizing<String>, ClipboardError>),
    /// The primary selection's text (what is selected with the mouse, on X11), read after
    /// [`Effect::ReadPrimary`] when the clipboard held no sealed block.
    PrimaryText(Result<Zeroizing<String>, ClipboardError>),
    /// The answer to [`Effect::Copy`]: when the copy will be cleared, or why it failed.
    Copied(Result<Option<Instant>, ClipboardError>),
    /// A lease ended (by time, by `c`).
    Released(Option<Released>),
    /// The answer to [`Effect::Open`].
    Opened {
        /// Where the sealed text came from.
        source: Source,
        /// The opened message, or why it did not open.
        result: shared::Result<Opened>,
    },
    /// What became of [`Effect::AnswerOffer`]: the server remembered (its name and
    /// fingerprint), declined (`None`), or why it could not be remembered.
    Remembered(Result<Option<String>, String>),
    /// News from the mailbox worker (a laptop with an identity and remembered servers).
    Mailbox(MailboxEvent),
    /// News from the worker of [`Effect::Pair`].
    Pairing {
        /// Which pairing.
        id: PairingId,
        /// What happened.
        event: PairingEvent,
    },
}

/// What the mailbox worker reports: how many messages wait, the oldest one's sealed bytes
/// (answered with [`Effect::MailboxDone`] before the next comes), or why it cannot look.
pub enum MailboxEvent {
    /// Messages waiting in the mailbox (on every relay it is on).
    Waiting(usize),
    /// The oldest message (device mode): opened on the path of pasted blocks.
    Arrived(Zeroizing<Vec<u8>>),
    /// The mailbox cannot be reached now (it is tried again).
    Failed(String),
}

/// A relay pairing of this session (numbered from 1).
pub type PairingId = u32;

/// What a pairing's worker reports, in this order: any number of `Status`, then `Paired`,
/// then `Delivered` (answered with [`Effect::RelayDone`]); or `Failed` at any point.
pub enum PairingEvent {
    /// A passing state: the relay does not answer and is tried again, and so on.
    Status(String),
    /// Paired: the session, whose receiver code the server must approve.
    Paired(Session),
    /// Approved, and the server offers to remember each other (`hush-run --remember`):
    /// the worker waits for [`Effect::AnswerOffer`].
    Offer(Offer),
    /// The sealed message came (envelope mode 0x03, for this pairing's session).
    Delivered(Zeroizing<Vec<u8>>),
    /// The pairing or the wait failed (the code is spent either way).
    Failed {
        /// What went wrong, as a sentence.
        message: String,
        /// What to do about it.
        hint: Option<String>,
    },
}

/// The identity's new passphrase, for [`Effect::CreateIdentity`] (compared by value in
/// tests only).
pub struct NewPassphrase(pub Passphrase);

impl PartialEq for NewPassphrase {
    fn eq(&self, other: &Self) -> bool {
        self.0.expose() == other.0.expose()
    }
}

impl Eq for NewPassphrase {}

/// A parsed code, for [`Effect::Pair`] (compared by value in tests only).
pub struct PairCode(pub Code);

impl PartialEq for PairCode {
    fn eq(&self, other: &Self) -> bool {
        self.0.to_shown() == other.0.to_shown()
    }
}

impl Eq for PairCode {}

/// What the app asks of the outside world.
#[derive(PartialEq, Eq)]
pub enum Effect {
    /// Put secret text on the clipboard; answer with [`Input::Copied`].
    Copy {
        /// The text (key, IV or plaintext).
        text: Zeroizing<String>,
        /// What it is, for messages ("key 1 7F3A-…").
        what: String,
    },
    /// Read the clipboard; answer with [`Input::ClipboardText`].
    ReadClipboard,
    /// Read the primary selection; answer with [`Input::PrimaryText`].
    ReadPrimary,
    /// Clear the clipboard now if it still holds ours; answer with [`Input::Released`].
    ClearClipboard,
    /// Open sealed data (armored or binary) with the keyring's candidates, away from the
    /// event loop; answer with [`Input::Opened`] whenever it is done.
    Open {
        /// The sealed data.
        text: Zeroizing<Vec<u8>>,
        /// Where it came from.
        source: Source,
    },
    /// Join the relay with the code and pair, on a worker thread that answers with
    /// [`Input::Pairing`] events.
    Pair {
        /// The pairing's number.
        id: PairingId,
        /// The code (used once, whatever happens).
        code: PairCode,
    },
    /// Tell a pairing's worker what became of its delivered message: handed over (on the
    /// clipboard, or held for `e`) — the relay deletes it — or not; it leaves the slot then.
    RelayDone {
        /// Which pairing.
        id: PairingId,
        /// Whether the plaintext was handed over.
        handed_over: bool,
    },
    /// Tell the mailbox worker what became of the message it brought: `delete` once handed
    /// over, or when it can never open here (it would block the ones behind it).
    MailboxDone {
        /// Delete it from the relay.
        delete: bool,
    },
    /// Make this laptop's identity, sealed with `passphrase` (then answer the offer as
    /// [`Effect::AnswerOffer`] with `accept`).
    CreateIdentity {
        /// Which pairing.
        id: PairingId,
        /// The offer it is for.
        offer: Offer,
        /// The identity's passphrase.
        passphrase: NewPassphrase,
    },
    /// Answer a pairing's offer to remember each other: with `accept`, remember the
    /// server under `name` (servers.toml) and give it this laptop's identity; else
    /// decline. Answer with [`Input::Remembered`].
    AnswerOffer {
        /// Which pairing.
        id: PairingId,
        /// The offer.
        offer: Offer,
        /// Remember it.
        accept: bool,
    },
    /// Leave (the caller clears the clipboard and restores the terminal).
    Quit,
}

impl std::fmt::Debug for Effect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Effect::Copy { what, .. } => write!(f, "Copy({what}, <redacted>)"),
            Effect::ReadClipboard => f.write_str("ReadClipboard"),
            Effect::ReadPrimary => f.write_str("ReadPrimary"),
            Effect::ClearClipboard => f.write_str("ClearClipboard"),
            Effect::Open { source, .. } => write!(f, "Open({source:?}, <text>)"),
            Effect::Pair { id, code } => write!(f, "Pair({id}, {:?})", code.0),
            Effect::RelayDone { id, handed_over } => write!(f, "RelayDone({id}, {handed_over})"),
            Effect::AnswerOffer { id, accept, .. } => write!(f, "AnswerOffer({id}, {accept})"),
            Effect::MailboxDone { delete } => write!(f, "MailboxDone({delete})"),
            Effect::CreateIdentity { id, .. } => write!(f, "CreateIdentity({id}, <redacted>)"),
            Effect::Quit => f.write_str("Quit"),
        }
    }
}

/// Where sealed text came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// `p`: the clipboard.
    Clipboard,
    /// `p`, when the clipboard held no block: the primary selection.
    Primary,
    /// A paste into the window.
    Paste,
    /// Delivered through the relay to this pairing.
    Relay(PairingId),
    /// From this laptop's mailbox (a remembered server's `hush-run --to`).
    Mailbox,
}

/// Which screen is up.
pub enum Screen {
    /// Keys, last opened message, clipboard.
    Main,
    /// The list of key bindings.
    Help,
    /// Typing a passphrase: never drawn, not even its length.
    Passphrase(Zeroizing<String>),
    /// Typing a label for the current key.
    Label(String),
    /// Typing a relay code (`r`).
    Code(CodeField),
    /// A server offers to remember this laptop: y or n.
    Remember(PairingId, Offer),
    /// Remembering it needs this laptop's identity, which does not exist yet: its new
    /// passphrase is typed twice, never drawn.
    NewIdentity(Box<NewIdentity>),
}

/// The identity's new passphrase being typed (for the pairing `id` and its offer).
pub struct NewIdentity {
    id: PairingId,
    offer: Offer,
    /// The first entry, once typed (the second must match it).
    first: Option<Passphrase>,
    typed: Zeroizing<String>,
}

impl NewIdentity {
    /// Whether the first entry is typed (the screen asks for it again).
    pub fn again(&self) -> bool {
        self.first.is_some()
    }
}

/// The one-line field where a relay code is typed. It is drawn while typed (to be
/// checked and edited: the code is one-time, spent once submitted); once submitted only
/// its number is ever shown.
pub struct CodeField {
    /// What was typed.
    pub text: Zeroizing<String>,
    /// The cursor, in characters.
    pub cursor: usize,
    /// Why the last Enter did not take it (nothing was sent).
    pub error: Option<String>,
}

impl CodeField {
    fn new() -> Self {
        Self {
            text: Zeroizing::new(String::with_capacity(MAX_CODE * 4)),
            cursor: 0,
            error: None,
        }
    }

    fn byte_at(&self, chars: usize) -> usize {
        self.text
            .char_indices()
            .nth(chars)
            .map_or(self.text.len(), |(i, _)| i)
    }

    fn insert(&mut self, c: char) {
        if c.is_control() || self.text.chars().count() >= MAX_CODE {
            return;
        }
        let at = self.byte_at(self.cursor);
        self.text.insert(at, c);
        self.cursor += 1;
        self.error = None;
    }

    fn edit(&mut self, key: Key) {
        let len = self.text.chars().count();
        match key {
            Key::Char(c) => self.insert(c),
            Key::Backspace if self.cursor > 0 => {
                self.cursor -= 1;
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
                self.error = None;
            }
            Key::Delete if self.cursor < len => {
                let at = self.byte_at(self.cursor);
                self.text.remove(at);
                self.error = None;
            }
            Key::Left => self.cursor = self.cursor.saturating_sub(1),
            Key::Right => self.cursor = (self.cursor + 1).min(len),
            Key::Home => self.cursor = 0,
            Key::End => self.cursor = len,
            _ => {}
        }
    }
}

/// Where a pairing is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingState {
    /// Joining and pairing with the code.
    Joining,
    /// Paired: waiting for the approval on the server and the output.
    Waiting,
    /// The message came and is being opened.
    Opening,
    /// The message was opened and handed over.
    Delivered,
    /// It failed: why.
    Failed(String),
}

/// A pairing as the screen shows it: the code's number (its secret half never), the
/// receiver code, and what it waits for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairingView {
    /// Its number.
    pub id: PairingId,
    /// The code's public half.
    pub nameplate: Nameplate,
    /// The receiver code, once paired.
    pub receiver_code: Option<String>,
    /// Where it is.
    pub state: PairingState,
    /// A passing note (the relay is tried again...).
    pub note: Option<String>,
}

impl PairingView {
    /// The code as it may be shown: `417-XXXX-XXXX`.
    pub fn masked_code(&self) -> String {
        format!("{}-XXXX-XXXX", self.nameplate)
    }

    /// Whether it still waits for something.
    pub fn active(&self) -> bool {
        matches!(
            self.state,
            PairingState::Joining | PairingState::Waiting | PairingState::Opening
        )
    }
}

/// How a status message looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tone {
    /// Neutral.
    Info,
    /// It worked.
    Good,
    /// It failed.
    Bad,
}

/// The one-line (or two-line) message under the keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// How it looks.
    pub tone: Tone,
    /// The message.
    pub text: String,
    /// What to do about it.
    pub hint: Option<String>,
}

/// What hush has on the clipboard, for the countdown bar.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseView {
    /// What it is.
    pub what: String,
    /// When it was copied.
    pub since: Instant,
    /// When it will be cleared (`None`: on exit only).
    pub deadline: Option<Instant>,
}

impl LeaseView {
    /// Seconds left (rounded up) and the fraction of time left, for the bar.
    pub fn remaining(&self, now: Instant) -> Option<(u64, f64)> {
        let deadline = self.deadline?;
        let total = deadline.saturating_duration_since(self.since).as_secs_f64();
        let left = deadline.saturating_duration_since(now).as_secs_f64();
        let ratio = if total > 0.0 {
            (left / total).clamp(0.0, 1.0)
        } else {
            0.0
        };
        Some((left.ceil() as u64, ratio))
    }
}

/// What the last opened message was, as the screen may show it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenView {
    /// Bytes of stdout.
    pub stdout_len: u64,
    /// Bytes of stderr.
    pub stderr_len: u64,
    /// Command, host, age, exit status (sanitized).
    pub meta: String,
    /// Which key opened it.
    pub key: String,
}

const MAX_PASSPHRASE: usize = 1024;
const MAX_LABEL: usize = 32;
/// Characters in the code field (a code is 13, with room for spaces and typos).
const MAX_CODE: usize = 24;
/// Pairings that may wait at once.
pub const MAX_WAITING: usize = 4;

/// The TUI's state.
pub struct App {
    /// The session's keys.
    pub keyring: Keyring,
    /// The screen up.
    pub screen: Screen,
    /// The message under the keys.
    pub status: Option<Status>,
    /// What hush has on the clipboard.
    pub lease: Option<LeaseView>,
    /// The last opened message.
    pub last_open: Option<OpenView>,
    /// Why there is no clipboard, if there is none.
    pub no_clipboard: Option<ClipboardError>,
    /// The clear-after setting, for the help screen.
    pub clear_after: Option<Duration>,
    /// The opened message's outputs, kept only while its plaintext is on the clipboard so
    /// that `e`/`o` can switch between stderr and stdout.
    held: Option<Opened>,
    /// What the pending copy is and the status to show once it succeeded.
    pending: Option<(String, Status)>,
    /// An [`Effect::Open`] is being carried out: one at a time.
    opening: bool,
    /// The relay pairings of the session, oldest first.
    pub pairings: Vec<PairingView>,
    next_pairing: PairingId,
    /// Why `r` cannot pair (no relay set, a broken settings file), if it cannot.
    relay_off: Option<(String, Option<String>)>,
    /// Delivered messages (a pairing's, the mailbox's) waiting for the opening under way.
    queued: VecDeque<(Source, Zeroizing<Vec<u8>>)>,
    /// Where the pending copy's plaintext came from (a pairing, the mailbox): told once it
    /// is on the clipboard.
    pending_ack: Option<Source>,
    /// Messages waiting in this laptop's mailbox, when it has one.
    pub mailbox: Option<usize>,
    /// Whether this laptop's identity is open (else remembering a server makes it).
    pub identity: bool,
}

impl App {
    /// A new session.
    pub fn new(clear_after: Option<Duration>, no_clipboard: Option<ClipboardError>) -> Self {
        let status = match &no_clipboard {
            Some(_) => None,
            None => Some(Status {
                tone: Tone::Info,
                text: "Press g for a new key, then k and i to copy its key and IV for hush-run."
                    .into(),
                hint: Some(
                    "Paste a sealed block into this window (or copy it and press p) to open it."
                        .into(),
                ),
            }),
        };
        Self {
            keyring: Keyring::default(),
            screen: Screen::Main,
            status,
            lease: None,
            last_open: None,
            no_clipboard,
            clear_after,
            held: None,
            pending: None,
            opening: false,
            pairings: Vec::new(),
            next_pairing: 1,
            relay_off: None,
            queued: VecDeque::new(),
            pending_ack: None,
            mailbox: None,
            identity: false,
        }
    }

    /// Says why `r` cannot pair: no relay set, or the settings cannot be used.
    pub fn relay_unavailable(&mut self, why: String, hint: Option<String>) {
        self.relay_off = Some((why, hint));
    }

    /// Warns that hush runs in an SSH session: its keys and the plaintext it opens live on
    /// the remote machine, and its clipboard is the forwarded display's, if any.
    pub fn warn_remote(&mut self) {
        self.fail(
            "hush is running over SSH: keys and plaintext would live on the remote machine.",
            Some("Run hush on your own computer; only hush-run belongs on the server."),
        );
    }

    fn say(&mut self, tone: Tone, text: impl Into<String>, hint: Option<String>) {
        self.status = Some(Status {
            tone,
            text: text.into(),
            hint,
        });
    }

    fn fail(&mut self, text: impl Into<String>, hint: Option<&str>) {
        self.say(Tone::Bad, text, hint.map(str::to_owned));
    }

    /// Handles one input at time `now`.
    pub fn handle(&mut self, input: Input, now: Instant) -> Vec<Effect> {
        match input {
            Input::Key(key) => self.key(key),
            Input::Paste(text) => self.paste(text),
            Input::ClipboardText(Ok(text)) => self.start_open(text, Source::Clipboard),
            Input::PrimaryText(Ok(text)) => self.start_open(text, Source::Primary),
            Input::Opened { source, result } => self.opened(source, result),
            Input::Pairing { id, event } => self.pairing_event(id, event),
            Input::Mailbox(event) => self.mailbox_event(event),
            Input::Remembered(result) => {
                match result {
                    Ok(Some(server)) => self.say(
                        Tone::Good,
                        format!("Remembered {server}."),
                        Some(
                            "It seals for this laptop with hush-run --to NAME: no key, no code."
                                .into(),
                        ),
                    ),
                    Ok(None) => self.say(Tone::Info, "Not remembered.", None),
                    Err(why) => self.fail(why, None),
                }
                vec![]
            }
            Input::PrimaryText(Err(_)) => {
                // No selection to fall back on: the clipboard's own error stands.
                self.no_block_anywhere();
                vec![]
            }
            Input::ClipboardText(Err(e)) => {
                self.fail(sentence(&e), None);
                vec![]
            }
            Input::Copied(result) => self.copied(result, now),
            Input::Released(released) => {
                self.released(released);
                vec![]
            }
        }
    }

    fn key(&mut self, key: Key) -> Vec<Effect> {
        if key == Key::CtrlC {
            return vec![Effect::Quit];
        }
        match self.screen {
            Screen::Passphrase(_) => self.passphrase_key(key),
            Screen::Label(_) => self.label_key(key),
            Screen::Code(_) => return self.code_key(key),
            Screen::Remember(..) => return self.remember_key(key),
            Screen::NewIdentity(..) => return self.new_identity_key(key),
            Screen::Help => {
                self.screen = Screen::Main;
                if key == Key::Char('q') {
                    return vec![Effect::Quit];
                }
            }
            Screen::Main => return self.main_key(key),
        }
        vec![]
    }

    /// y or n to a server's offer to remember each other (any other key waits).
    fn remember_key(&mut self, key: Key) -> Vec<Effect> {
        let accept = match key {
            Key::Char('y' | 'Y') => true,
            Key::Char('n' | 'N') | Key::Esc => false,
            _ => return vec![],
        };
        let Screen::Remember(id, offer) = std::mem::replace(&mut self.screen, Screen::Main) else {
            return vec![];
        };
        if accept && !self.identity {
            // Made on first use: its passphrase first.
            self.screen = Screen::NewIdentity(Box::new(NewIdentity {
                id,
                offer,
                first: None,
                typed: Zeroizing::new(String::with_capacity(MAX_PASSPHRASE)),
            }));
            return vec![];
        }
        vec![Effect::AnswerOffer { id, offer, accept }]
    }

    /// A key while the identity's new passphrase is typed (twice; never drawn). Esc
    /// declines the offer.
    fn new_identity_key(&mut self, key: Key) -> Vec<Effect> {
        let Screen::NewIdentity(new) = &mut self.screen else {
            return vec![];
        };
        match key {
            Key::Char(c) if new.typed.len() + c.len_utf8() <= MAX_PASSPHRASE => new.typed.push(c),
            Key::Backspace => {
                new.typed.pop();
            }
            Key::Esc => {
                let Screen::NewIdentity(new) = std::mem::replace(&mut self.screen, Screen::Main)
                else {
                    return vec![];
                };
                return vec![Effect::AnswerOffer {
                    id: new.id,
                    offer: new.offer,
                    accept: false,
                }];
            }
            Key::Enter => {
                let typed = std::mem::replace(&mut new.typed, Zeroizing::new(String::new()));
                let entry = match Passphrase::new(typed) {
                    Ok(p) => p,
                    Err(e) => {
                        self.fail(format!("{e}: type it again."), None);
                        return vec![];
                    }
                };
                match new.first.take() {
                    None => new.first = Some(entry),
                    Some(first) if first.expose() == entry.expose() => {
                        let Screen::NewIdentity(new) =
                            std::mem::replace(&mut self.screen, Screen::Main)
                        else {
                            return vec![];
                        };
                        return vec![Effect::CreateIdentity {
                            id: new.id,
                            offer: new.offer,
                            passphrase: NewPassphrase(entry),
                        }];
                    }
                    Some(_) => self.fail("The two entries differ: type it again.", None),
                }
            }
            _ => {}
        }
        vec![]
    }

    /// A key while the passphrase is typed (never drawn).
    fn passphrase_key(&mut self, key: Key) {
        let Screen::Passphrase(buf) = &mut self.screen else {
            return;
        };
        match key {
            Key::Char(c) if buf.len() + c.len_utf8() <= MAX_PASSPHRASE => buf.push(c),
            Key::Backspace => {
                buf.pop();
            }
            Key::Esc => {
                self.screen = Screen::Main;
                self.say(Tone::Info, "Passphrase unchanged.", None);
            }
            Key::Enter => {
                let typed = std::mem::replace(buf, Zeroizing::new(String::new()));
                self.screen = Screen::Main;
                match Passphrase::new(typed) {
                    Ok(p) => {
                        self.keyring.set_passphrase(p);
                        self.say(
                            Tone::Good,
                            "Passphrase set: messages sealed with it now open too.",
                            Some(
                                "hush-run --passphrase on the server uses the same passphrase."
                                    .into(),
                            ),
                        );
                    }
                    Err(e) => self.fail(format!("Passphrase not set: {e}"), None),
                }
            }
            _ => {}
        }
    }

    /// A key while the current key's label is typed.
    fn label_key(&mut self, key: Key) {
        let Screen::Label(buf) = &mut self.screen else {
            return;
        };
        match key {
            Key::Char(c) if buf.chars().count() < MAX_LABEL && !c.is_control() => buf.push(c),
            Key::Backspace => {
                buf.pop();
            }
            Key::Esc => self.screen = Screen::Main,
            Key::Enter => {
                let label = std::mem::take(buf).trim().to_owned();
                self.screen = Screen::Main;
                let label = (!label.is_empty()).then_some(label);
                if let Some(info) = self.keyring.set_label(label) {
                    let text = format!("Now {}.", info.describe());
                    self.say(Tone::Good, text, None);
                }
            }
            _ => {}
        }
    }

    /// A key while the relay code is typed.
    fn code_key(&mut self, key: Key) -> Vec<Effect> {
        let Screen::Code(field) = &mut self.screen else {
            return vec![];
        };
        match key {
            Key::Esc => {
                self.screen = Screen::Main;
                self.say(Tone::Info, "No code used.", None);
            }
            Key::Enter => match Code::parse(&field.text) {
                // Nothing was sent: the field stays, with the reason.
                Err(e) => field.error = Some(sentence(&e)),
                Ok(code) => {
                    self.screen = Screen::Main;
                    return self.start_pairing(code);
                }
            },
            other => field.edit(other),
        }
        vec![]
    }

    /// `r`: the code field, if a pairing can start.
    fn open_code_field(&mut self) {
        if let Some(why) = &self.no_clipboard {
            let why = sentence(why);
            self.fail(
                why,
                Some("`hush receive -o FILE CODE` writes a relay message to a file instead."),
            );
            return;
        }
        if let Some((why, hint)) = self.relay_off.clone() {
            self.say(Tone::Bad, why, hint);
            return;
        }
        if self.pairings.iter().filter(|p| p.active()).count() >= MAX_WAITING {
            self.fail(
                format!("{MAX_WAITING} pairings wait already: let one finish first."),
                None,
            );
            return;
        }
        self.screen = Screen::Code(CodeField::new());
    }

    fn start_pairing(&mut self, code: Code) -> Vec<Effect> {
        let id = self.next_pairing;
        self.next_pairing += 1;
        let view = PairingView {
            id,
            nameplate: code.nameplate(),
            receiver_code: None,
            state: PairingState::Joining,
            note: None,
        };
        self.say(
            Tone::Info,
            format!("Code {}: pairing through the relay…", view.masked_code()),
            Some("hush then shows a receiver code for the server to approve.".into()),
        );
        self.pairings.push(view);
        // Finished pairings beyond a few leave the list (their sessions stay held).
        while self.pairings.len() > 2 * MAX_WAITING {
            match self.pairings.iter().position(|p| !p.active()) {
                Some(i) => {
                    self.pairings.remove(i);
                }
                None => break,
            }
        }
        vec![Effect::Pair {
            id,
            code: PairCode(code),
        }]
    }

    fn pairing_event(&mut self, id: PairingId, event: PairingEvent) -> Vec<Effect> {
        let Some(view) = self.pairings.iter_mut().find(|p| p.id == id) else {
            // Not ours (any longer): a delivery is still answered, so its worker ends.
            return match event {
                PairingEvent::Delivered(_) => vec![Effect::RelayDone {
                    id,
                    handed_over: false,
                }],
                _ => vec![],
            };
        };
        let masked = view.masked_code();
        match event {
            PairingEvent::Status(note) => view.note = Some(note),
            PairingEvent::Paired(session) => {
                let receiver_code = session.receiver_code.to_string();
                view.receiver_code = Some(receiver_code.clone());
                view.state = PairingState::Waiting;
                view.note = None;
                let name = format!("relay pairing {receiver_code} (code {})", view.nameplate);
                self.keyring.add_relay(session, name);
                self.say(
                    Tone::Good,
                    format!(
                        "Code {masked}: receiver code {receiver_code} — approve it on the server."
                    ),
                    Some(
                        "Waiting for the output: it goes to the clipboard, never to the screen."
                            .into(),
                    ),
                );
            }
            PairingEvent::Offer(offer) => {
                view.note = None;
                // One question at a time: a second offer meanwhile is declined.
                if matches!(self.screen, Screen::Remember(..)) {
                    return vec![Effect::AnswerOffer {
                        id,
                        offer,
                        accept: false,
                    }];
                }
                self.screen = Screen::Remember(id, offer);
            }
            PairingEvent::Delivered(sealed) => {
                view.state = PairingState::Opening;
                view.note = None;
                if self.opening {
                    self.queued.push_back((Source::Relay(id), sealed));
                    self.say(
                        Tone::Info,
                        format!(
                            "Code {masked}: the output came; it opens after the block being opened."
                        ),
                        None,
                    );
                    return vec![];
                }
                return self.open_delivered(Source::Relay(id), sealed);
            }
            PairingEvent::Failed { message, hint } => {
                view.state = PairingState::Failed(message.clone());
                view.note = None;
                let text = format!("Code {masked}: {message}");
                self.say(Tone::Bad, text, hint);
            }
        }
        vec![]
    }

    fn mailbox_event(&mut self, event: MailboxEvent) -> Vec<Effect> {
        match event {
            MailboxEvent::Waiting(n) => self.mailbox = Some(n),
            MailboxEvent::Failed(why) => {
                self.mailbox.get_or_insert(0);
                self.say(Tone::Bad, format!("Mailbox: {why}"), None);
            }
            MailboxEvent::Arrived(sealed) => {
                if self.opening {
                    self.queued.push_back((Source::Mailbox, sealed));
                    return vec![];
                }
                return self.open_delivered(Source::Mailbox, sealed);
            }
        }
        vec![]
    }

    /// Opens a delivered message (a pairing's, the mailbox's) on the path of pasted blocks.
    fn open_delivered(&mut self, source: Source, sealed: Zeroizing<Vec<u8>>) -> Vec<Effect> {
        self.opening = true;
        let what = match source {
            Source::Mailbox => "A message came to the mailbox: opening…",
            _ => "The output came: opening…",
        };
        self.say(Tone::Info, what, None);
        vec![Effect::Open {
            text: sealed,
            source,
        }]
    }

    /// What tells a delivery's worker the end of its message.
    fn delivered(source: Source, handed_over: bool, opens: bool) -> Option<Effect> {
        match source {
            Source::Relay(id) => Some(Effect::RelayDone { id, handed_over }),
            Source::Mailbox => Some(Effect::MailboxDone {
                delete: handed_over || !opens,
            }),
            _ => None,
        }
    }

    fn set_pairing_state(&mut self, id: PairingId, state: PairingState) {
        if let Some(view) = self.pairings.iter_mut().find(|p| p.id == id) {
            view.state = state;
        }
    }

    /// A key on the main screen.
    fn main_key(&mut self, key: Key) -> Vec<Effect> {
        match key {
            Key::Char('q') | Key::Esc => return vec![Effect::Quit],
            Key::Char('?' | 'h') => self.screen = Screen::Help,
            Key::Char('g') => self.generate(),
            Key::Char(c @ ('k' | 'i')) => return self.copy_secret(c == 'i'),
            Key::Char('p') => return self.read_clipboard(),
            Key::Char('r') => self.open_code_field(),
            Key::Char('c') if self.lease.is_some() => return vec![Effect::ClearClipboard],
            Key::Char('c') => self.say(Tone::Info, "hush has nothing on the clipboard.", None),
            Key::Char(c @ ('e' | 'o')) => return self.copy_held(c == 'e'),
            Key::Char('l') => match self.keyring.current() {
                Some(info) => self.screen = Screen::Label(info.label.clone().unwrap_or_default()),
                None => self.fail("No key to label: press g first.", None),
            },
            Key::Char('P') => {
                self.screen =
                    Screen::Passphrase(Zeroizing::new(String::with_capacity(MAX_PASSPHRASE)))
            }
            Key::Up => self.keyring.select(-1),
            Key::Down => self.keyring.select(1),
            _ => {}
        }
        vec![]
    }

    fn generate(&mut self) {
        match self.keyring.generate() {
            Ok(info) => self.say(
                Tone::Good,
                format!("New {} is current.", info.describe()),
                Some("k copies its key, i its IV, for hush-run's Key: and IV: prompts.".into()),
            ),
            Err(e) => self.fail(format!("No key made: {e}"), None),
        }
    }

    /// `p`: the sealed block is read from the clipboard.
    fn read_clipboard(&mut self) -> Vec<Effect> {
        if let Some(why) = &self.no_clipboard {
            let why = sentence(why);
            self.fail(
                why,
                Some("You can paste the sealed block into this window instead."),
            );
            return vec![];
        }
        vec![Effect::ReadClipboard]
    }

    fn paste(&mut self, text: Zeroizing<String>) -> Vec<Effect> {
        match &mut self.screen {
            Screen::Passphrase(buf) => {
                let t = text.trim_end_matches(['\r', '\n']);
                if buf.len() + t.len() <= MAX_PASSPHRASE {
                    buf.push_str(t);
                }
                vec![]
            }
            Screen::Label(buf) => {
                buf.extend(
                    text.chars()
                        .filter(|c| !c.is_control())
                        .take(MAX_LABEL.saturating_sub(buf.chars().count())),
                );
                vec![]
            }
            Screen::Code(field) => {
                for c in text.trim().chars() {
                    field.insert(c);
                }
                vec![]
            }
            // The question waits for y or n; a pasted passphrase is not a typed one.
            Screen::Remember(..) | Screen::NewIdentity(..) => vec![],
            Screen::Help | Screen::Main => {
                self.screen = Screen::Main;
                self.start_open(text, Source::Paste)
            }
        }
    }

    fn copy_secret(&mut self, iv: bool) -> Vec<Effect> {
        if let Some(why) = &self.no_clipboard {
            let why = sentence(why);
            self.fail(why, None);
            return vec![];
        }
        let (Some(info), Some(text)) = (self.keyring.current(), self.keyring.current_secret(iv))
        else {
            self.fail("No key yet: press g to make one.", None);
            return vec![];
        };
        let what = format!(
            "{} of {}",
            if iv { "IV" } else { "key" },
            info.describe().replacen("key ", "", 1)
        );
        let next = if iv {
            "paste it at hush-run's IV: prompt"
        } else {
            "paste it at hush-run's Key: prompt, then press i"
        };
        let status = Status {
            tone: Tone::Good,
            text: format!("The {what} is on the clipboard."),
            hint: Some(format!("Now {next}.")),
        };
        self.pending = Some((what.clone(), status));
        vec![Effect::Copy { text, what }]
    }

    fn copy_held(&mut self, stderr: bool) -> Vec<Effect> {
        let Some(opened) = &self.held else {
            self.fail("Nothing opened is held: open a sealed block first.", None);
            return vec![];
        };
        let bytes = if stderr {
            &opened.stderr
        } else {
            &opened.stdout
        };
        let name = if stderr { "stderr" } else { "stdout" };
        if bytes.is_empty() {
            self.fail(format!("The message has no {name}."), None);
            return vec![];
        }
        let Ok(text) = std::str::from_utf8(bytes) else {
            self.fail(
                format!(
                    "Its {name} is binary ({} bytes): it cannot go on the clipboard as text.",
                    bytes.len()
                ),
                Some("Use `hush open -o FILE` for binary output."),
            );
            return vec![];
        };
        let text = Zeroizing::new(text.to_owned());
        let what = format!("{name} of the opened message");
        let status = Status {
            tone: Tone::Good,
            text: format!(
                "The {} bytes of {name} are on the clipboard (never shown here).",
                bytes.len()
            ),
            hint: None,
        };
        self.pending = Some((what.clone(), status));
        vec![Effect::Copy { text, what }]
    }

    fn no_block_anywhere(&mut self) {
        self.fail(
            "Not opened: no sealed block on the clipboard, nor in the selection.",
            Some("Copy the whole block printed by hush-run, from its BEGIN line to its END line."),
        );
    }

    /// Asks for sealed text to be opened with every key of the session, unless there is
    /// nowhere to put the plaintext, nothing to open it with, or an opening is under way.
    fn start_open(&mut self, text: Zeroizing<String>, source: Source) -> Vec<Effect> {
        if let Some(why) = &self.no_clipboard {
            // Nowhere to put the plaintext: do not even decrypt it.
            self.fail(
                format!("Not opened: {why}."),
                Some("`hush open -o FILE` writes the plaintext to a file instead."),
            );
            return vec![];
        }
        if self.keyring.candidates().is_empty() {
            self.fail(
                "No key or passphrase yet to open it with.",
                Some("Press g and give its key and IV to hush-run, or P to set a passphrase."),
            );
            return vec![];
        }
        if self.opening {
            // One at a time: a queue of passphrase derivations would keep the machine busy
            // for minutes, and results landing later would surprise the user.
            self.say(
                Tone::Bad,
                "Not opened: still opening the previous block.",
                Some("Wait for it, then paste or press p again; q quits at any time.".into()),
            );
            return vec![];
        }
        self.opening = true;
        let text_shown = if self.keyring.has_passphrase() {
            "Opening… (deriving the key from the passphrase takes a few seconds)"
        } else {
            "Opening…"
        };
        self.say(Tone::Info, text_shown, Some("q quits at any time.".into()));
        vec![Effect::Open {
            text: into_bytes(text),
            source,
        }]
    }

    /// The answer to [`Effect::Open`]. On failure, the clipboard is left as it was and the
    /// specific error shown.
    fn opened(&mut self, source: Source, result: shared::Result<Opened>) -> Vec<Effect> {
        if !std::mem::take(&mut self.opening) {
            // Nothing was asked: drop it (its buffers are wiped on drop).
            return vec![];
        }
        let mut effects = self.opened_result(source, result);
        // A message delivered meanwhile opens now.
        if !self.opening
            && let Some((source, sealed)) = self.queued.pop_front()
        {
            effects.extend(self.open_delivered(source, sealed));
        }
        effects
    }

    fn opened_result(&mut self, source: Source, result: shared::Result<Opened>) -> Vec<Effect> {
        match (result, source) {
            (Ok(opened), Source::Relay(_) | Source::Mailbox) => {
                let only_stderr = opened.stdout.is_empty() && !opened.stderr.is_empty();
                let effects = self.show_opened(opened, source);
                let copying = effects.iter().any(|e| matches!(e, Effect::Copy { .. }));
                if copying {
                    // Told once the copy answered (see `copied`).
                    self.pending_ack = Some(source);
                    if let Source::Relay(id) = source {
                        self.set_pairing_state(id, PairingState::Delivered);
                    }
                    return effects;
                }
                // Held for `e` (no stdout: handed over to hush), or binary (not copied).
                let held = only_stderr;
                if let Source::Relay(id) = source {
                    let state = if held {
                        PairingState::Delivered
                    } else {
                        PairingState::Failed("the output is binary: not copied".into())
                    };
                    self.set_pairing_state(id, state);
                }
                Self::delivered(source, held, true).into_iter().collect()
            }
            (Ok(opened), _) => self.show_opened(opened, source),
            (Err(e), Source::Relay(_) | Source::Mailbox) => {
                let hint = hint_of(&e);
                let text = format!("Not opened: {e}.");
                if let Source::Relay(id) = source {
                    self.set_pairing_state(id, PairingState::Failed(text.clone()));
                }
                self.fail(text, hint);
                Self::delivered(source, false, false).into_iter().collect()
            }
            // Selected but not copied? Terminals put a mouse selection in the primary
            // selection: look there before giving up.
            (Err(shared::Error::NoSealedBlock), Source::Clipboard) => {
                vec![Effect::ReadPrimary]
            }
            (Err(shared::Error::NoSealedBlock), Source::Primary) => {
                self.no_block_anywhere();
                vec![]
            }
            (Err(e), _) => {
                let hint = hint_of(&e);
                self.fail(format!("Not opened: {e}."), hint);
                vec![]
            }
        }
    }

    /// Says what was opened (never the plaintext) and puts its stdout on the clipboard.
    fn show_opened(&mut self, opened: Opened, source: Source) -> Vec<Effect> {
        let mut key = self
            .keyring
            .info(opened.key_index)
            .map(|i| i.describe())
            .unwrap_or_else(|| "?".into());
        // A remembered server's message: say which server sealed it.
        if let Some(server) = self
            .keyring
            .candidates()
            .get(opened.key_index)
            .and_then(|c| keyring::sealed_by(c, opened.mode))
        {
            key = format!("this laptop's identity, sealed by {server}");
        }
        if source == Source::Primary {
            key.push_str(" (from the selection)");
        }
        self.last_open = Some(OpenView {
            stdout_len: opened.summary.stdout_len,
            stderr_len: opened.summary.stderr_len,
            meta: keyring::describe_summary(&opened.summary),
            key: key.clone(),
        });
        let stderr_note = (opened.summary.stderr_len > 0).then(|| {
            format!(
                "It also holds {} bytes of stderr: press e to copy them instead.",
                opened.summary.stderr_len
            )
        });
        if opened.stdout.is_empty() && !opened.stderr.is_empty() {
            self.held = Some(opened);
            let text = format!("Opened with {key}: no stdout.");
            self.say(Tone::Info, text, stderr_note);
            return vec![];
        }
        let Ok(text) = std::str::from_utf8(&opened.stdout) else {
            self.fail(
                format!("Opened with {key}, but its output is binary: not copied."),
                Some("Use `hush open -o FILE` for binary output."),
            );
            return vec![];
        };
        let text = Zeroizing::new(text.to_owned());
        let what = "plaintext".to_owned();
        let status = Status {
            tone: Tone::Good,
            text: format!(
                "Opened with {key}: {} bytes are on the clipboard (never shown here).",
                opened.summary.stdout_len
            ),
            hint: stderr_note,
        };
        self.pending = Some((what.clone(), status));
        self.held = Some(opened);
        vec![Effect::Copy { text, what }]
    }

    fn copied(
        &mut self,
        result: Result<Option<Instant>, ClipboardError>,
        now: Instant,
    ) -> Vec<Effect> {
        let pending = self.pending.take();
        let done = self.pending_ack.take().and_then(|source| {
            if let (Err(_), Source::Relay(id)) = (&result, source) {
                self.set_pairing_state(id, PairingState::Failed("not copied".into()));
            }
            Self::delivered(source, result.is_ok(), true)
        });
        match (result, pending) {
            (Ok(deadline), Some((what, status))) => {
                self.lease = Some(LeaseView {
                    what,
                    since: now,
                    deadline,
                });
                self.status = Some(status);
            }
            (Ok(_), None) => {}
            (Err(e), _) => self.fail(sentence(&e), None),
        }
        done.into_iter().collect()
    }

    fn released(&mut self, released: Option<Released>) {
        self.lease = None;
        self.held = None;
        match released {
            Some(
                r @ Released {
                    outcome: Outcome::Failed(_),
                    ..
                },
            ) => self.fail(sentence(&r), None),
            Some(r) => self.say(Tone::Info, sentence(&r), None),
            None => self.say(Tone::Info, "hush has nothing on the clipboard.", None),
        }
    }
}

/// A pasted or read text as bytes to open, without a copy left behind.
fn into_bytes(mut text: Zeroizing<String>) -> Zeroizing<Vec<u8>> {
    Zeroizing::new(std::mem::take(&mut *text).into_bytes())
}

/// A message as a status line: capital first letter, full stop (the CLI prints the same
/// messages in lower case after `hush: `).
pub(crate) fn sentence(message: &impl std::fmt::Display) -> String {
    let text = message.to_string();
    let mut chars = text.chars();
    let mut out: String = chars
        .next()
        .map(|c| c.to_uppercase().collect())
        .unwrap_or_default();
    out.push_str(chars.as_str());
    if !out.ends_with('.') {
        out.push('.');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::{Credentials, Metadata, SealOptions};

    fn app() -> App {
        App::new(Some(Duration::from_secs(20)), None)
    }

    fn press(app: &mut App, c: char) -> Vec<Effect> {
        app.handle(Input::Key(Key::Char(c)), Instant::now())
    }

    fn copied_text(effects: Vec<Effect>) -> Zeroizing<String> {
        match effects.into_iter().next() {
            Some(Effect::Copy { text, .. }) => text,
            other => panic!("expected a copy, got {other:?}"),
        }
    }

    /// Feeds an input and carries out the openings it asks for, as the TUI's worker
    /// thread does (here at once); returns the other effects.
    fn feed(a: &mut App, input: Input) -> Vec<Effect> {
        let effects = a.handle(input, Instant::now());
        let mut rest = Vec::new();
        for effect in effects {
            match effect {
                Effect::Open { text, source } => {
                    let result = shared::open(&text[..], a.keyring.candidates());
                    rest.extend(feed(a, Input::Opened { source, result }));
                }
                other => rest.push(other),
            }
        }
        rest
    }

    fn status(app: &App) -> &Status {
        app.status.as_ref().expect("a status")
    }

    /// Seals `plain` with the app's current key: the test reads it the way the user does,
    /// through `k` and `i`.
    fn seal_for(app: &mut App, plain: &[u8]) -> String {
        let key = copied_text(press(app, 'k'));
        let iv = copied_text(press(app, 'i'));
        let creds = Credentials::KeyIv {
            key: shared::Key::parse(&key).unwrap(),
            iv: shared::Iv::parse(&iv).unwrap(),
        };
        let meta = Metadata {
            command: Some("cat secret\x1b[2J".into()),
            host: Some("vpn1".into()),
            ..Default::default()
        };
        String::from_utf8(shared::seal(&creds, &meta, plain, true, SealOptions::default()).unwrap())
            .unwrap()
    }

    #[test]
    fn g_makes_a_key_and_k_i_copy_it() {
        let mut a = app();
        assert!(press(&mut a, 'k').is_empty());
        assert_eq!(status(&a).tone, Tone::Bad);
        assert!(press(&mut a, 'g').is_empty());
        let fp = a
            .keyring
            .current()
            .unwrap()
            .fingerprint
            .unwrap()
            .to_string();
        assert!(status(&a).text.contains(&fp));
        let key = copied_text(press(&mut a, 'k'));
        assert_eq!(key.len(), 44);
        assert!(shared::Key::parse(&key).is_ok());
        a.handle(
            Input::Copied(Ok(Some(Instant::now() + Duration::from_secs(20)))),
            Instant::now(),
        );
        assert!(a.lease.as_ref().unwrap().what.starts_with("key of #1"));
        // Nothing shown holds the key.
        assert!(!status(&a).text.contains(key.as_str()));
        let iv = copied_text(press(&mut a, 'i'));
        assert_eq!(iv.len(), 16);
        assert!(shared::Iv::parse(&iv).is_ok());
    }

    #[test]
    fn opening_copies_exactly_the_plaintext_and_names_the_key() {
        let mut a = app();
        press(&mut a, 'g');
        let sealed_old = seal_for(&mut a, b"old server secret\n");
        press(&mut a, 'g');
        press(&mut a, 'l');
        for c in "vpn2".chars() {
            press(&mut a, c);
        }
        a.handle(Input::Key(Key::Enter), Instant::now());
        let sealed_new = seal_for(&mut a, b"new secret");
        assert_eq!(press(&mut a, 'p'), vec![Effect::ReadClipboard]);
        let effects = feed(&mut a, Input::ClipboardText(Ok(Zeroizing::new(sealed_new))));
        assert_eq!(copied_text(effects).as_str(), "new secret");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(status(&a).text.contains("key #2"), "{:?}", a.status);
        assert!(status(&a).text.contains("(vpn2)"));
        let view = a.last_open.clone().unwrap();
        assert_eq!(view.stdout_len, 10);
        assert!(
            view.meta.contains("`cat secret?[2J`"),
            "control characters are not drawn: {}",
            view.meta
        );
        // An older key still opens its messages, by a paste this time.
        let effects = feed(
            &mut a,
            Input::Paste(Zeroizing::new(format!("  junk\n{sealed_old}\r\n"))),
        );
        assert_eq!(copied_text(effects).as_str(), "old server secret\n");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(status(&a).text.contains("key #1"));
    }

    #[test]
    fn failures_say_what_is_wrong_and_copy_nothing() {
        let mut a = app();
        let none = feed(&mut a, Input::Paste(Zeroizing::new("whatever".into())));
        assert!(none.is_empty());
        assert!(status(&a).text.contains("No key"));
        press(&mut a, 'g');
        let sealed = seal_for(&mut a, b"secret");
        // No block on the clipboard: the primary selection is tried, then both are named.
        let effects = feed(
            &mut a,
            Input::ClipboardText(Ok(Zeroizing::new("hello".into()))),
        );
        assert_eq!(effects, vec![Effect::ReadPrimary]);
        let effects = feed(
            &mut a,
            Input::PrimaryText(Ok(Zeroizing::new("nothing either".into()))),
        );
        assert!(effects.is_empty());
        assert!(
            status(&a).text.contains("nor in the selection"),
            "{:?}",
            a.status
        );
        let effects = feed(
            &mut a,
            Input::ClipboardText(Ok(Zeroizing::new("hello".into()))),
        );
        assert_eq!(effects, vec![Effect::ReadPrimary]);
        let effects = feed(
            &mut a,
            Input::PrimaryText(Ok(Zeroizing::new(sealed.clone()))),
        );
        assert_eq!(copied_text(effects).as_str(), "secret");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(
            status(&a).text.contains("(from the selection)"),
            "{:?}",
            a.status
        );
        let cases = [
            (sealed[..sealed.len() - 40].to_owned(), "cut off"),
            (sealed.replacen("-----\n", "-----\n*", 1), "damaged"),
        ];
        for (input, want) in cases {
            let effects = feed(&mut a, Input::ClipboardText(Ok(Zeroizing::new(input))));
            assert!(effects.is_empty());
            assert_eq!(status(&a).tone, Tone::Bad);
            assert!(
                status(&a).text.contains(want),
                "{:?} lacks {want}",
                a.status
            );
        }
        // A flipped bit in the body: corrupted.
        let bytes = shared::armor::decode(sealed.as_bytes()).unwrap();
        let mut bad = bytes.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        let effects = feed(
            &mut a,
            Input::Paste(Zeroizing::new(shared::armor::armor(&bad))),
        );
        assert!(effects.is_empty());
        assert!(status(&a).text.contains("corrupted"), "{:?}", a.status);
        // Another key entirely: wrong key.
        let mut other = app();
        press(&mut other, 'g');
        let foreign = seal_for(&mut other, b"x");
        assert!(feed(&mut a, Input::Paste(Zeroizing::new(foreign))).is_empty());
        assert!(status(&a).text.contains("wrong key"), "{:?}", a.status);
    }

    #[test]
    fn passphrase_is_typed_hidden_and_opens_passphrase_messages() {
        let mut a = app();
        press(&mut a, 'P');
        for c in "correct horse".chars() {
            press(&mut a, c);
        }
        press(&mut a, 'x');
        a.handle(Input::Key(Key::Backspace), Instant::now());
        assert!(matches!(&a.screen, Screen::Passphrase(b) if b.as_str() == "correct horse"));
        a.handle(Input::Key(Key::Enter), Instant::now());
        assert!(matches!(a.screen, Screen::Main));
        assert!(a.keyring.has_passphrase());
        assert!(!status(&a).text.contains("horse"));
        let creds = Credentials::Passphrase(
            Passphrase::new(Zeroizing::new("correct horse".into())).unwrap(),
        );
        let fast = SealOptions {
            argon2: shared::Argon2Params {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        };
        let sealed = shared::seal(&creds, &Metadata::default(), b"pp secret", true, fast).unwrap();
        let effects = feed(
            &mut a,
            Input::Paste(Zeroizing::new(String::from_utf8(sealed).unwrap())),
        );
        assert_eq!(copied_text(effects).as_str(), "pp secret");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(status(&a).text.contains("passphrase"));
        // Esc leaves the passphrase as it was; an empty one is refused.
        press(&mut a, 'P');
        a.handle(Input::Key(Key::Enter), Instant::now());
        assert_eq!(status(&a).tone, Tone::Bad);
    }

    #[test]
    fn stderr_is_offered_with_e_and_dropped_when_the_lease_ends() {
        let mut a = app();
        press(&mut a, 'g');
        let key = copied_text(press(&mut a, 'k'));
        let iv = copied_text(press(&mut a, 'i'));
        let creds = Credentials::KeyIv {
            key: shared::Key::parse(&key).unwrap(),
            iv: shared::Iv::parse(&iv).unwrap(),
        };
        let mut w = shared::SealWriter::new(
            Vec::new(),
            &creds,
            &Metadata::default(),
            true,
            SealOptions::default(),
        )
        .unwrap();
        w.write(shared::Stream::Stdout, b"out").unwrap();
        w.write(shared::Stream::Stderr, b"warning").unwrap();
        let sealed = String::from_utf8(w.finish(Some(1)).unwrap()).unwrap();
        let effects = feed(&mut a, Input::Paste(Zeroizing::new(sealed)));
        assert_eq!(copied_text(effects).as_str(), "out");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(status(&a).hint.as_deref().unwrap_or("").contains("press e"));
        assert_eq!(copied_text(press(&mut a, 'e')).as_str(), "warning");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert_eq!(press(&mut a, 'c'), vec![Effect::ClearClipboard]);
        a.handle(
            Input::Released(Some(Released {
                what: "stderr".into(),
                outcome: Outcome::Cleared,
            })),
            Instant::now(),
        );
        assert!(a.lease.is_none());
        assert!(press(&mut a, 'o').is_empty());
        assert_eq!(status(&a).tone, Tone::Bad);
    }

    #[test]
    fn quit_help_and_no_clipboard() {
        let mut a = app();
        assert_eq!(press(&mut a, 'q'), vec![Effect::Quit]);
        assert_eq!(
            a.handle(Input::Key(Key::Esc), Instant::now()),
            vec![Effect::Quit]
        );
        assert_eq!(
            a.handle(Input::Key(Key::CtrlC), Instant::now()),
            vec![Effect::Quit]
        );
        press(&mut a, '?');
        assert!(matches!(a.screen, Screen::Help));
        press(&mut a, 'x');
        assert!(matches!(a.screen, Screen::Main));
        // Ctrl-C quits even while typing a passphrase.
        press(&mut a, 'P');
        assert_eq!(
            a.handle(Input::Key(Key::CtrlC), Instant::now()),
            vec![Effect::Quit]
        );

        let mut b = App::new(None, Some(ClipboardError::NoDisplay));
        press(&mut b, 'g');
        assert!(press(&mut b, 'k').is_empty());
        assert!(
            status(&b).text.starts_with("No clipboard available"),
            "{:?}",
            b.status
        );
        assert!(press(&mut b, 'p').is_empty());
        assert!(press(&mut b, 'c').is_empty());
        let pasted = feed(
            &mut b,
            Input::Paste(Zeroizing::new("-----BEGIN HUSH".into())),
        );
        assert!(pasted.is_empty());
        assert!(
            status(&b).text.starts_with("Not opened: no clipboard"),
            "{:?}",
            b.status
        );
    }

    #[test]
    fn a_failed_copy_is_reported_and_leaves_no_lease() {
        let mut a = app();
        press(&mut a, 'g');
        press(&mut a, 'k');
        a.handle(
            Input::Copied(Err(ClipboardError::Copy("x".into()))),
            Instant::now(),
        );
        assert!(a.lease.is_none());
        assert_eq!(status(&a).tone, Tone::Bad);
    }

    /// A passphrase and a block sealed with it (cheap Argon2 parameters).
    fn with_passphrase(a: &mut App, plain: &[u8]) -> String {
        let pass = || Passphrase::new(Zeroizing::new("open sesame".into())).unwrap();
        a.keyring.set_passphrase(pass());
        let fast = SealOptions {
            argon2: shared::Argon2Params {
                m_kib: 64,
                t: 1,
                p: 1,
            },
        };
        let creds = Credentials::Passphrase(pass());
        let sealed = shared::seal(&creds, &Metadata::default(), plain, true, fast).unwrap();
        String::from_utf8(sealed).unwrap()
    }

    #[test]
    fn opening_is_an_effect_and_quitting_does_not_wait_for_it() {
        let mut a = app();
        let sealed = with_passphrase(&mut a, b"slow secret");
        let effects = a.handle(Input::Paste(Zeroizing::new(sealed)), Instant::now());
        assert!(
            matches!(
                &effects[..],
                [Effect::Open {
                    source: Source::Paste,
                    ..
                }]
            ),
            "{effects:?}"
        );
        assert!(
            status(&a).text.contains("deriving the key"),
            "{:?}",
            a.status
        );
        // Every way out still answers while the key is being derived.
        assert_eq!(press(&mut a, 'q'), vec![Effect::Quit]);
        for key in [Key::Esc, Key::CtrlC] {
            assert_eq!(
                a.handle(Input::Key(key), Instant::now()),
                vec![Effect::Quit]
            );
        }
        // So do the other keys: g makes a key meanwhile.
        assert!(press(&mut a, 'g').is_empty());
        assert!(a.keyring.current().is_some());
    }

    #[test]
    fn a_second_block_while_opening_is_refused_and_the_first_result_still_lands() {
        let mut a = app();
        let first = with_passphrase(&mut a, b"first");
        let second = with_passphrase(&mut a, b"second");
        let effects = a.handle(Input::Paste(Zeroizing::new(first)), Instant::now());
        let [Effect::Open { text, source }] = &effects[..] else {
            panic!("{effects:?}")
        };
        let (text, source) = (text.clone(), *source);
        // Pasted again, and p, while the first one derives: not opened, and said so.
        assert!(feed(&mut a, Input::Paste(Zeroizing::new(second.clone()))).is_empty());
        assert!(status(&a).text.contains("still opening"), "{:?}", a.status);
        assert_eq!(press(&mut a, 'p'), vec![Effect::ReadClipboard]);
        assert!(feed(&mut a, Input::ClipboardText(Ok(Zeroizing::new(second)))).is_empty());
        assert!(status(&a).text.contains("still opening"));
        // The first answer arrives: its plaintext is copied, as if nothing came between.
        let result = shared::open(&text[..], a.keyring.candidates());
        let effects = a.handle(Input::Opened { source, result }, Instant::now());
        assert_eq!(copied_text(effects).as_str(), "first");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(
            status(&a).text.contains("with passphrase"),
            "{:?}",
            a.status
        );
        // Then a new block opens again.
        let third = with_passphrase(&mut a, b"third");
        let effects = feed(&mut a, Input::Paste(Zeroizing::new(third)));
        assert_eq!(copied_text(effects).as_str(), "third");
    }

    #[test]
    fn a_result_nobody_asked_for_is_dropped() {
        let mut a = app();
        let sealed = with_passphrase(&mut a, b"unasked");
        let before = a.status.clone();
        let result = shared::open(sealed.as_bytes(), a.keyring.candidates());
        let effects = a.handle(
            Input::Opened {
                source: Source::Paste,
                result,
            },
            Instant::now(),
        );
        assert!(effects.is_empty());
        assert_eq!(a.status, before);
        assert!(a.last_open.is_none());
    }

    /// Both ends of a pairing with `code`, run in memory: the session (the same keys on both
    /// sides).
    fn session_for(code: &str) -> Session {
        use shared::relay::{Event, Pairing, RoomContext, Side};
        let code = Code::parse(code).unwrap();
        let room = RoomContext {
            nameplate: code.nameplate(),
            nonce: [7; shared::relay::schedule::NONCE_LEN],
            slot: 1,
        };
        let (mut s, s0) = Pairing::start(Side::Sender, &code, room.clone());
        let (mut r, r0) = Pairing::start(Side::Receiver, &code, room);
        let msg = |e: Event| match e {
            Event::Send { msg, .. } => msg,
            Event::Paired => panic!("paired too early"),
        };
        let (s_pake, r_pake) = (msg(s0), msg(r0));
        assert!(s.receive(0, &r_pake).unwrap().is_empty());
        let mut r_events = r.receive(0, &s_pake).unwrap();
        let confirm_r = msg(r_events.remove(0));
        let mut s_events = s.receive(1, &confirm_r).unwrap();
        let confirm_s = msg(s_events.remove(0));
        r.receive(1, &confirm_s).unwrap();
        r.session().unwrap()
    }

    fn sealed_relay(session: &Session, plain: &[u8], armored: bool) -> Vec<u8> {
        let meta = Metadata {
            command: Some("wg genkey".into()),
            host: Some("vpn1".into()),
            ..Default::default()
        };
        shared::seal(
            &Credentials::Relay(session.clone()),
            &meta,
            plain,
            armored,
            SealOptions::default(),
        )
        .unwrap()
    }

    fn type_text(a: &mut App, text: &str) {
        for c in text.chars() {
            press(a, c);
        }
    }

    fn field(a: &App) -> &CodeField {
        match &a.screen {
            Screen::Code(f) => f,
            _ => panic!("the code field is not up"),
        }
    }

    #[test]
    fn r_opens_an_editable_code_field_esc_cancels_and_typos_are_named_without_the_relay() {
        let mut a = app();
        assert!(press(&mut a, 'r').is_empty());
        assert!(matches!(a.screen, Screen::Code(_)));
        // Esc: nothing used, nothing sent.
        assert!(a.handle(Input::Key(Key::Esc), Instant::now()).is_empty());
        assert!(matches!(a.screen, Screen::Main));
        assert!(status(&a).text.contains("No code used"), "{:?}", a.status);

        press(&mut a, 'r');
        // Too short: the field stays, with the length named.
        type_text(&mut a, "417-4K7M-Q2Z");
        assert!(a.handle(Input::Key(Key::Enter), Instant::now()).is_empty());
        let error = field(&a).error.clone().unwrap();
        assert!(error.contains("7 characters"), "{error}");
        // A character outside the alphabet: its position is named.
        type_text(&mut a, "*");
        assert!(field(&a).error.is_none(), "editing clears the error");
        assert!(a.handle(Input::Key(Key::Enter), Instant::now()).is_empty());
        let error = field(&a).error.clone().unwrap();
        assert!(error.starts_with("Character 8 after the number"), "{error}");
        // Edited in the middle: Backspace, Left, Right, Home, End, Delete.
        a.handle(Input::Key(Key::Backspace), Instant::now());
        a.handle(Input::Key(Key::Home), Instant::now());
        for _ in 0..5 {
            a.handle(Input::Key(Key::Right), Instant::now());
        }
        a.handle(Input::Key(Key::Delete), Instant::now());
        type_text(&mut a, "X");
        a.handle(Input::Key(Key::Left), Instant::now());
        a.handle(Input::Key(Key::Delete), Instant::now());
        type_text(&mut a, "K");
        a.handle(Input::Key(Key::End), Instant::now());
        type_text(&mut a, "P");
        assert_eq!(field(&a).text.as_str(), "417-4K7M-Q2ZP");
        let effects = a.handle(Input::Key(Key::Enter), Instant::now());
        let [Effect::Pair { id: 1, code }] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(code.0.to_shown().as_str(), "417-4K7M-Q2ZP");
        assert!(matches!(a.screen, Screen::Main));
        // From now on only the number is shown.
        assert_eq!(a.pairings[0].masked_code(), "417-XXXX-XXXX");
        assert_eq!(a.pairings[0].state, PairingState::Joining);
        assert!(status(&a).text.contains("417-XXXX-XXXX"), "{:?}", a.status);
        assert!(!status(&a).text.contains("4K7M"));
        // A code pasted into the field is taken as typed.
        press(&mut a, 'r');
        a.handle(
            Input::Paste(Zeroizing::new(" 12-abcd-efgh\n".into())),
            Instant::now(),
        );
        assert_eq!(field(&a).text.as_str(), "12-abcd-efgh");
    }

    #[test]
    fn r_is_refused_without_a_relay_or_a_clipboard() {
        let mut a = app();
        a.relay_unavailable("No relay given.".into(), Some("Use --relay.".into()));
        assert!(press(&mut a, 'r').is_empty());
        assert!(matches!(a.screen, Screen::Main));
        assert_eq!(status(&a).text, "No relay given.");
        let mut b = App::new(None, Some(ClipboardError::NoDisplay));
        press(&mut b, 'r');
        assert!(matches!(b.screen, Screen::Main));
        assert!(
            status(&b).text.starts_with("No clipboard"),
            "{:?}",
            b.status
        );
    }

    /// `r`, a code, Enter: the pairing's id.
    fn submit_code(a: &mut App, code: &str) -> PairingId {
        press(a, 'r');
        type_text(a, code);
        match &a.handle(Input::Key(Key::Enter), Instant::now())[..] {
            [Effect::Pair { id, .. }] => *id,
            other => panic!("{other:?}"),
        }
    }

    /// `code` submitted and paired: the pairing's id and its session.
    fn paired(a: &mut App, code: &str) -> (PairingId, Session) {
        let id = submit_code(a, code);
        let session = session_for(code);
        let event = PairingEvent::Paired(session.clone());
        feed(a, Input::Pairing { id, event });
        (id, session)
    }

    /// A laptop's identity in the keyring, and a server it knows: sealed messages of that
    /// server open, anything else does not.
    fn with_identity(a: &mut App) -> Credentials {
        let (laptop, server) = (
            shared::IdentitySecret::generate().unwrap(),
            shared::IdentitySecret::generate().unwrap(),
        );
        let peer = |name: &str, s: &shared::IdentitySecret| shared::Peer {
            name: name.into(),
            key: s.public(),
            forgotten: false,
        };
        a.keyring.add_identity(
            Credentials::Devices(shared::DeviceKeys {
                own: laptop.clone(),
                peers: vec![peer("vpn1", &server)],
            }),
            "this laptop's identity".into(),
        );
        Credentials::Devices(shared::DeviceKeys {
            own: server,
            peers: vec![peer("laptop", &laptop)],
        })
    }

    #[test]
    fn remembering_without_an_identity_asks_its_new_passphrase_twice_unseen() {
        let mut a = app();
        let id = submit_code(&mut a, "417-4K7M-Q2ZP");
        let offer = Offer {
            name: "laptop".into(),
            host: "vpn1".into(),
            identity: shared::IdentitySecret::generate().unwrap().public(),
        };
        let event = |event| Input::Pairing { id, event };
        feed(&mut a, event(PairingEvent::Offer(offer.clone())));
        assert!(matches!(a.screen, Screen::Remember(..)));
        assert!(
            press(&mut a, 'y').is_empty(),
            "no identity: its passphrase first"
        );
        let type_in = |a: &mut App, text: &str| {
            for c in text.chars() {
                assert!(press(a, c).is_empty());
            }
            a.handle(Input::Key(Key::Enter), Instant::now())
        };
        assert!(type_in(&mut a, "one").is_empty());
        assert!(matches!(&a.screen, Screen::NewIdentity(n) if n.again()));
        // Two entries that differ: asked again from the first.
        assert!(type_in(&mut a, "two").is_empty());
        assert!(status(&a).text.contains("differ"));
        assert!(matches!(&a.screen, Screen::NewIdentity(n) if !n.again()));
        assert!(type_in(&mut a, "same").is_empty());
        let effects = type_in(&mut a, "same");
        let [
            Effect::CreateIdentity {
                offer: o,
                passphrase,
                ..
            },
        ] = &effects[..]
        else {
            panic!("{effects:?}")
        };
        assert_eq!((o, passphrase.0.expose()), (&offer, &b"same"[..]));
        // Esc at that screen declines instead.
        feed(&mut a, event(PairingEvent::Offer(offer.clone())));
        press(&mut a, 'y');
        let effects = a.handle(Input::Key(Key::Esc), Instant::now());
        assert_eq!(
            effects,
            vec![Effect::AnswerOffer {
                id,
                offer,
                accept: false
            }]
        );
    }

    #[test]
    fn mailbox_messages_open_one_at_a_time_and_are_deleted_once_copied_or_hopeless() {
        let mut a = app();
        let server = with_identity(&mut a);
        let seal = |plain: &[u8]| {
            shared::seal(
                &server,
                &Metadata::default(),
                plain,
                false,
                SealOptions::default(),
            )
            .unwrap()
        };
        assert!(feed(&mut a, Input::Mailbox(MailboxEvent::Waiting(2))).is_empty());
        assert_eq!(a.mailbox, Some(2));
        // Opened with the identity, copied, then deleted from the relay.
        let effects = feed(
            &mut a,
            Input::Mailbox(MailboxEvent::Arrived(Zeroizing::new(seal(b"from vpn1")))),
        );
        assert_eq!(copied_text(effects).as_str(), "from vpn1");
        let done = a.handle(
            Input::Copied(Ok(Some(Instant::now() + Duration::from_secs(20)))),
            Instant::now(),
        );
        assert_eq!(done, vec![Effect::MailboxDone { delete: true }]);
        let said = &status(&a).text;
        assert!(said.contains("sealed by vpn1 (SHA256:"), "{said}");
        // A copy that fails: left on the relay for a later look.
        let effects = feed(
            &mut a,
            Input::Mailbox(MailboxEvent::Arrived(Zeroizing::new(seal(b"again")))),
        );
        assert_eq!(copied_text(effects).as_str(), "again");
        let done = a.handle(Input::Copied(Err(ClipboardError::Stopped)), Instant::now());
        assert_eq!(done, vec![Effect::MailboxDone { delete: false }]);
        // One that can never open here (not for this laptop): deleted, and said why.
        let stranger = Credentials::Devices(shared::DeviceKeys {
            own: shared::IdentitySecret::generate().unwrap(),
            peers: vec![shared::Peer {
                name: "x".into(),
                key: shared::IdentitySecret::generate().unwrap().public(),
                forgotten: false,
            }],
        });
        let sealed = shared::seal(
            &stranger,
            &Metadata::default(),
            b"no",
            false,
            SealOptions::default(),
        )
        .unwrap();
        let done = feed(
            &mut a,
            Input::Mailbox(MailboxEvent::Arrived(Zeroizing::new(sealed))),
        );
        assert_eq!(done, vec![Effect::MailboxDone { delete: true }]);
        assert!(
            status(&a).text.contains("sealed for other devices"),
            "{:?}",
            status(&a)
        );
    }

    #[test]
    fn a_delivered_message_goes_through_the_open_path_and_is_acknowledged_once_copied() {
        let mut a = app();
        let id = submit_code(&mut a, "417-4K7M-Q2ZP");
        let session = session_for("417-4K7M-Q2ZP");
        let rc = session.receiver_code.to_string();
        let event = |event| Input::Pairing { id, event };
        feed(
            &mut a,
            event(PairingEvent::Status(
                "no answer from the relay (x); trying again (2 of 6)".into(),
            )),
        );
        assert!(
            a.pairings[0]
                .note
                .as_deref()
                .unwrap()
                .contains("trying again")
        );
        assert!(feed(&mut a, event(PairingEvent::Paired(session.clone()))).is_empty());
        assert_eq!(
            status(&a).text,
            format!("Code 417-XXXX-XXXX: receiver code {rc} — approve it on the server.")
        );
        assert_eq!(a.pairings[0].state, PairingState::Waiting);
        // The output comes (binary, as the relay carries it): opened, then copied.
        let mut w = shared::SealWriter::new(
            Vec::new(),
            &Credentials::Relay(session.clone()),
            &Metadata::default(),
            false,
            SealOptions::default(),
        )
        .unwrap();
        w.write(shared::Stream::Stdout, b"wg private key").unwrap();
        w.write(shared::Stream::Stderr, b"a warning").unwrap();
        let sealed = w.finish(Some(0)).unwrap();
        let effects = a.handle(
            event(PairingEvent::Delivered(Zeroizing::new(sealed))),
            Instant::now(),
        );
        let [Effect::Open { text, source }] = &effects[..] else {
            panic!("{effects:?}")
        };
        assert_eq!(*source, Source::Relay(id));
        assert_eq!(a.pairings[0].state, PairingState::Opening);
        let result = shared::open(&text[..], a.keyring.candidates());
        let effects = a.handle(
            Input::Opened {
                source: *source,
                result,
            },
            Instant::now(),
        );
        assert_eq!(copied_text(effects).as_str(), "wg private key");
        // Acknowledged only once the copy succeeded.
        let done = a.handle(
            Input::Copied(Ok(Some(Instant::now() + Duration::from_secs(20)))),
            Instant::now(),
        );
        assert_eq!(
            done,
            vec![Effect::RelayDone {
                id,
                handed_over: true
            }]
        );
        assert_eq!(a.pairings[0].state, PairingState::Delivered);
        assert_eq!(a.lease.as_ref().unwrap().what, "plaintext");
        let view = a.last_open.clone().unwrap();
        assert!(
            view.key.contains(&format!("relay pairing {rc}")),
            "{view:?}"
        );
        assert!(status(&a).text.contains("14 bytes"), "{:?}", a.status);
        assert!(status(&a).hint.as_deref().unwrap().contains("press e"));
        // e and o switch, as for a pasted block.
        assert_eq!(copied_text(press(&mut a, 'e')).as_str(), "a warning");
        a.handle(Input::Copied(Ok(None)), Instant::now());
        assert_eq!(copied_text(press(&mut a, 'o')).as_str(), "wg private key");
    }

    #[test]
    fn a_delivery_that_fails_to_copy_or_open_is_not_acknowledged() {
        let mut a = app();
        let (id, session) = paired(&mut a, "417-4K7M-Q2ZP");
        let sealed = sealed_relay(&session, b"secret", false);
        let effects = feed(
            &mut a,
            Input::Pairing {
                id,
                event: PairingEvent::Delivered(Zeroizing::new(sealed)),
            },
        );
        assert!(matches!(effects[..], [Effect::Copy { .. }]));
        let done = a.handle(
            Input::Copied(Err(ClipboardError::Copy("x".into()))),
            Instant::now(),
        );
        assert_eq!(
            done,
            vec![Effect::RelayDone {
                id,
                handed_over: false
            }]
        );
        // Sealed for another pairing: the specific error, not acknowledged.
        let (id2, _) = paired(&mut a, "12-ABCD-EFGH");
        let other = session_for("99-ABCD-EFGH");
        let effects = feed(
            &mut a,
            Input::Pairing {
                id: id2,
                event: PairingEvent::Delivered(Zeroizing::new(sealed_relay(&other, b"x", false))),
            },
        );
        assert_eq!(
            effects,
            vec![Effect::RelayDone {
                id: id2,
                handed_over: false
            }]
        );
        assert!(
            status(&a).text.contains("another relay pairing"),
            "{:?}",
            a.status
        );
        assert!(matches!(a.pairings[1].state, PairingState::Failed(_)));
        // A failure from the relay is shown with its hint.
        let id3 = submit_code(&mut a, "13-ABCD-EFGH");
        feed(
            &mut a,
            Input::Pairing {
                id: id3,
                event: PairingEvent::Failed {
                    message: "The sender denied this receiver.".into(),
                    hint: Some("Start again.".into()),
                },
            },
        );
        assert_eq!(
            status(&a).text,
            "Code 13-XXXX-XXXX: The sender denied this receiver."
        );
        assert_eq!(status(&a).tone, Tone::Bad);
    }

    #[test]
    fn a_delivery_during_an_opening_waits_for_it() {
        let mut a = app();
        let first = with_passphrase(&mut a, b"pasted");
        let id = submit_code(&mut a, "417-4K7M-Q2ZP");
        let session = session_for("417-4K7M-Q2ZP");
        a.handle(
            Input::Pairing {
                id,
                event: PairingEvent::Paired(session.clone()),
            },
            Instant::now(),
        );
        let effects = a.handle(Input::Paste(Zeroizing::new(first)), Instant::now());
        let [Effect::Open { text, source }] = &effects[..] else {
            panic!("{effects:?}")
        };
        let (text, source) = (text.clone(), *source);
        let delivered = sealed_relay(&session, b"relayed", false);
        let queued = a.handle(
            Input::Pairing {
                id,
                event: PairingEvent::Delivered(Zeroizing::new(delivered)),
            },
            Instant::now(),
        );
        assert!(queued.is_empty(), "{queued:?}");
        let result = shared::open(&text[..], a.keyring.candidates());
        let effects = a.handle(Input::Opened { source, result }, Instant::now());
        assert!(
            matches!(
                &effects[..],
                [
                    Effect::Copy { .. },
                    Effect::Open {
                        source: Source::Relay(1),
                        ..
                    }
                ]
            ),
            "{effects:?}"
        );
    }

    #[test]
    fn a_held_session_opens_the_block_hush_run_printed_instead() {
        let mut a = app();
        let (_, session) = paired(&mut a, "417-4K7M-Q2ZP");
        // The relay gave up: hush-run printed the armored block, which is pasted.
        let block = String::from_utf8(sealed_relay(&session, b"fallback secret", true)).unwrap();
        let effects = feed(
            &mut a,
            Input::Paste(Zeroizing::new(format!("junk\n{block}"))),
        );
        assert_eq!(copied_text(effects).as_str(), "fallback secret");
        let done = a.handle(Input::Copied(Ok(None)), Instant::now());
        assert!(done.is_empty(), "a paste acknowledges nothing: {done:?}");
        assert!(status(&a).text.contains("relay pairing"), "{:?}", a.status);
        assert!(a.last_open.as_ref().unwrap().meta.contains("wg genkey"));
        // Keys made later still go before the session, and stay current.
        press(&mut a, 'g');
        assert_eq!(a.keyring.key_count(), 1);
        assert!(matches!(
            a.keyring.candidates()[0],
            Credentials::KeyIv { .. }
        ));
        assert!(a.keyring.current_secret(false).is_some());
    }

    #[test]
    fn countdown_fraction() {
        let t0 = Instant::now();
        let v = LeaseView {
            what: "k".into(),
            since: t0,
            deadline: Some(t0 + Duration::from_secs(20)),
        };
        let (secs, ratio) = v.remaining(t0 + Duration::from_secs(5)).unwrap();
        assert_eq!(secs, 15);
        assert!((ratio - 0.75).abs() < 1e-9);
        assert_eq!(v.remaining(t0 + Duration::from_secs(30)).unwrap().0, 0);
    }
}
