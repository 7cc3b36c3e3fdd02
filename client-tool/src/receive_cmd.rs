//! `hush receive [CODE]`: pairs with `hush-run` through a relay with the one-time code,
//! shows the receiver code for the server's approval, waits for the sealed output, opens it
//! (envelope mode 0x03) and hands it over as `hush open` does: onto the clipboard (stdout
//! is a terminal), to a pipe, or to `-o FILE` only once the whole message authenticated.
//!
//! Everything that can be refused without the relay is checked first (the code's form, the
//! relay settings, the clipboard, the output file), because joining uses the code up. The
//! payload is acknowledged (the relay deletes it, and hush-run reports it delivered) only
//! once the plaintext was handed over; the slot is left at the end either way.

use std::cell::Cell;
use std::io::{self, IsTerminal};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shared::Credentials;
use shared::cli::atomic::AtomicFile;
use shared::cli::config;
use shared::cli::devices::{MailboxKeys, PeerKind, Peers};
use shared::cli::prompt::Tty;
use shared::cli::relay_client::{RelayClient, RelayError, Retry, RetryHook, parse_pin};
use shared::cli::relay_flow::{FlowError, Receiver};
use shared::cli::remember::{Offer, Reply};
use shared::cli::stderr::StatusLine;
use shared::cli::stdout::Stdout;
use shared::note;
use shared::relay::Code;

use crate::cli::ReceiveArgs;
use crate::clipboard::ClipboardService;
use crate::creds;
use crate::failure::{Failure, RelayFailure};
use crate::keyring::sanitize;
use crate::open_cmd::{Destination, hand_over};
use crate::tui::RelayFlags;

/// Tries at the hidden code prompt before giving up (a typo costs nothing: the code is
/// checked before anything is sent).
const CODE_TRIES: u32 = 3;
/// Tries to reach a pinned relay at the start (its certificate is checked once up front).
const CONNECT_TRIES: u32 = 5;

/// Runs `hush receive`.
/// `outer` are the relay flags given before the subcommand, used where its own are absent.
pub fn run(
    args: &ReceiveArgs,
    clear_after: Option<Duration>,
    outer: RelayFlags<'_>,
) -> Result<(), Failure> {
    let (url, pin) = relay_settings(
        args.relay.as_deref().or(outer.url),
        args.relay_pin.as_deref().or(outer.pin),
    )?;
    let code = match &args.code {
        Some(typed) => Code::parse(typed).map_err(Failure::BadCode)?,
        None => ask_code()?,
    };
    let destination = match &args.output {
        Some(path) => Destination::File(path.clone(), AtomicFile::create(path)?),
        None if io::stdout().is_terminal() => {
            Destination::Clipboard(ClipboardService::start(clear_after).map_err(Failure::from)?)
        }
        None => Destination::Stdout(Stdout::new()?),
    };

    let status = Arc::new(StatusLine::new());
    let result = receive(args, code, destination, &url, pin, &status);
    // The failure's message starts a line of its own.
    status.clear();
    result
}

/// Pairs with `code` and hands the output over to `destination`.
fn receive(
    args: &ReceiveArgs,
    code: Code,
    destination: Destination,
    url: &str,
    pin: Option<[u8; 32]>,
    status: &Arc<StatusLine>,
) -> Result<(), Failure> {
    let nameplate = code.nameplate();
    let failed = |e| Failure::Relay(RelayFailure::of(e, nameplate, args.wait));
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    let hook = status.clone();
    let client = connect(url, pin, Arc::new(move |r: &Retry| show_retry(&hook, r)))?;
    status.clear();
    note!("hush: joining code number {nameplate} on {url}");
    let receiver = Receiver::pair(client, &code, deadline).map_err(failed)?;
    drop(code);
    let session = receiver.session().clone();
    status.clear();
    note!(
        "hush: receiver code {} — approve it on the server",
        session.receiver_code
    );
    note!(
        "hush: waiting for the approval and the output (up to --wait {} s)",
        args.wait
    );
    let was_away = Cell::new(false);
    let away = |e: &RelayError| {
        was_away.set(true);
        status.clear();
        note!("hush: the relay is away ({e}); still trying until the deadline");
    };
    let gone = |e: FlowError| {
        let _ = receiver.exit().leave();
        let gave_up = matches!(
            e,
            FlowError::Relay(_) | FlowError::TimedOut(_) | FlowError::Lost
        );
        // hush-run, unable to deliver meanwhile, may have printed its block: only the
        // TUI, which keeps the pairing, opens it.
        if was_away.get() && gave_up {
            Failure::Relay(RelayFailure::AwayAfterPairing(Box::new(RelayFailure::of(
                e, nameplate, args.wait,
            ))))
        } else {
            failed(e)
        }
    };
    let offer = through_outages(deadline, &away, || receiver.approval(deadline)).map_err(&gone)?;
    if let Some(offer) = offer {
        status.clear();
        if let Err(e) = answer_offer(&receiver, &offer, args, (url, pin)) {
            let _ = receiver.leave();
            return Err(e);
        }
    }
    let (id, sealed) = wait_for_payload(&receiver, deadline, &away).map_err(&gone)?;
    status.clear();
    let candidates = [Credentials::Relay(session)];
    shared::cli::hardening::protect_credentials(&candidates[0]);
    let mut receiver = Some(receiver);
    // Once the plaintext is where it goes: the relay deletes the payload (hush-run then
    // reports it delivered) and the slot.
    let mut handed_over = || {
        if let Some(receiver) = receiver.take() {
            if let Err(e) = receiver.acknowledge(&id) {
                note!("hush: could not tell the relay the message arrived ({e}); it expires there");
            }
            let _ = receiver.leave();
        }
    };
    let input = Box::new(io::Cursor::new(sealed));
    let result = hand_over(
        destination,
        input,
        &candidates,
        args.stderr,
        &mut handed_over,
    );
    if let Some(receiver) = receiver {
        let _ = receiver.leave();
    }
    result
}

/// The relay's URL and pin: the flags (`--relay`, `--relay-pin`) first, then the settings
/// file.
pub(crate) fn relay_settings(
    relay: Option<&str>,
    relay_pin: Option<&str>,
) -> Result<(String, Option<[u8; 32]>), Failure> {
    // The file is read only for what the flags leave open, so that a broken file does not
    // stop a command line that says everything.
    let file = if relay.is_some() && relay_pin.is_some() {
        config::Config::default()
    } else {
        config::load()?
    };
    let url = relay
        .map(str::to_owned)
        .or(file.relay.url)
        .ok_or_else(|| Failure::NoRelay(settings_path()))?;
    if !url.starts_with("https://") {
        return Err(Failure::RelaySettings(RelayError::NotHttps(url)));
    }
    // A pin from the file belongs to the file's relay, not to one given with --relay.
    let pin_text = match (relay, relay_pin) {
        (_, Some(pin)) => Some(pin.to_owned()),
        (Some(_), None) => None,
        (None, None) => file.relay.pin,
    };
    let pin = pin_text
        .map(|p| parse_pin(&p))
        .transpose()
        .map_err(Failure::RelaySettings)?;
    Ok((url, pin))
}

fn settings_path() -> String {
    config::default_path().map_or_else(
        || "$XDG_CONFIG_HOME/hush/config.toml".to_owned(),
        |p| p.display().to_string(),
    )
}

/// Asks for the code on the terminal, without echo: it stays out of shell history and off
/// the screen. A malformed code is asked again (nothing was sent yet).
fn ask_code() -> Result<Code, Failure> {
    let mut tty = Tty::open().map_err(Failure::CodePrompt)?;
    let mut hidden = tty.hidden().map_err(Failure::CodePrompt)?;
    for attempt in 1..=CODE_TRIES {
        let Some(typed) = hidden
            .ask("Code from hush-run (typed hidden): ")
            .map_err(Failure::CodePrompt)?
        else {
            hidden.say("\n");
            return Err(Failure::NoCode);
        };
        hidden.say("\n");
        match Code::parse(&typed) {
            Ok(code) => return Ok(code),
            Err(e) if attempt < CODE_TRIES => {
                hidden.say(&format!("hush: {e}; try again\n"));
                hidden.discard_pending();
            }
            Err(e) => return Err(Failure::BadCode(e)),
        }
    }
    Err(Failure::NoCode)
}

/// Shows a retry on the status line: the state, and the attempt on a terminal.
fn show_retry(status: &StatusLine, r: &Retry) {
    status.show(
        &format!("hush: {}", retry_state(r)),
        &format!(" ({} of {})", r.attempt, r.of),
    );
}

/// A retry's state: `no answer from the relay (…); trying again`.
fn retry_state(r: &Retry) -> String {
    format!("no answer from the relay ({}); trying again", r.reason)
}

/// The status line of a retry: `no answer from the relay (…); trying again (2 of 6)`.
pub(crate) fn retry_status(r: &Retry) -> String {
    format!("{} ({} of {})", retry_state(r), r.attempt, r.of)
}

/// A client of the relay whose retries go to `hook`. A pinned relay is reached once up
/// front (to check its certificate): that first contact is retried here, with the same
/// hook.
pub(crate) fn connect(
    url: &str,
    pin: Option<[u8; 32]>,
    hook: RetryHook,
) -> Result<RelayClient, Failure> {
    let mut attempt = 1;
    loop {
        match RelayClient::new(url, pin) {
            Ok(client) => return Ok(client.on_retry(hook)),
            Err(RelayError::Unreachable(reason)) if attempt < CONNECT_TRIES => {
                let pause = Duration::from_secs(u64::from(attempt));
                attempt += 1;
                hook(&Retry {
                    attempt,
                    of: CONNECT_TRIES,
                    reason,
                    pause,
                });
                std::thread::sleep(pause);
            }
            Err(e @ (RelayError::NotHttps(_) | RelayError::BadPin)) => {
                return Err(Failure::RelaySettings(e));
            }
            Err(e) => return Err(Failure::Relay(RelayFailure::Flow(FlowError::Relay(e)))),
        }
    }
}

/// Answers the server's offer to remember each other: with `--remember`, remembers it and
/// gives this laptop's identity (made on first use); without, declines. A server name
/// remembered with another identity is refused loudly, before any passphrase is asked.
fn answer_offer(
    receiver: &Receiver,
    offer: &Offer,
    args: &ReceiveArgs,
    relay: (&str, Option<[u8; 32]>),
) -> Result<(), Failure> {
    let Some(name) = &args.remember else {
        receiver.reply(&Reply::Decline).map_err(Failure::flow)?;
        note!(
            "hush: the server {} offered to remember this laptop (as {}); declined \
             (`hush receive --remember` accepts)",
            sanitize(&offer.host, 64),
            sanitize(&offer.name, 64)
        );
        return Ok(());
    };
    let name = if name.is_empty() { &offer.host } else { name };
    // Whatever stops it, the server hears "no" rather than waiting for its deadline.
    let declined = |e: Failure| {
        let _ = receiver.reply(&Reply::Decline);
        e
    };
    // Checked before the passphrase is asked: a changed identity is the news.
    Peers::load(PeerKind::Servers)
        .and_then(|mut servers| servers.remember(name, &offer.identity, None))
        .map_err(|e| declined(e.into()))?;
    let file = args.identity.identity_passphrase_file.as_deref();
    let (reply, keys) = creds::identity(file, true)
        .and_then(|i| i.ok_or(Failure::NoIdentity))
        .and_then(|mut identity| Ok(identity.remember(name, offer, relay)?))
        .map_err(declined)?;
    register_mailbox(receiver.client(), &keys);
    receiver.reply(&reply).map_err(Failure::flow)?;
    note!(
        "hush: remembered {name} ({}); it calls this laptop {as_name}: `hush-run --to \
         {as_name}` seals for it, with no key and no code",
        offer.identity.fingerprint(),
        as_name = sanitize(&offer.name, 64),
    );
    Ok(())
}

/// Registers (or refreshes) this laptop's mailbox on the relay; a failure is only said:
/// the mailbox is registered again whenever hush looks into it, and until then the server
/// prints its blocks instead.
pub(crate) fn register_mailbox(client: &RelayClient, keys: &MailboxKeys) {
    if let Err(e) = client.register_mailbox(&keys.owner, &keys.id, &keys.drop) {
        note!(
            "hush: could not register this laptop's mailbox on the relay ({e}); it is tried again by `hush inbox` and the TUI"
        );
    }
}

/// The next payload, until `deadline` (see [`through_outages`]).
pub(crate) fn wait_for_payload(
    receiver: &Receiver,
    deadline: Instant,
    on_away: &dyn Fn(&RelayError),
) -> Result<(String, Vec<u8>), FlowError> {
    through_outages(deadline, on_away, || receiver.next_payload(deadline))
}

/// Calls `call` (a long-poll) until it answers or `deadline` passes. A relay that goes away
/// meanwhile (the laptop went offline, the relay restarts) is tried again until the
/// deadline: reading is idempotent, and what the relay stores waits there for its TTL.
/// `on_away` hears the first such failure.
pub(crate) fn through_outages<T>(
    deadline: Instant,
    on_away: &dyn Fn(&RelayError),
    mut call: impl FnMut() -> Result<T, FlowError>,
) -> Result<T, FlowError> {
    let mut away: Option<RelayError> = None;
    loop {
        // The deadline passed while the relay was away: that is the cause, not "nothing
        // came" (which the next call would answer at once).
        if Instant::now() >= deadline
            && let Some(e) = away.take()
        {
            return Err(FlowError::Relay(e));
        }
        match call() {
            Ok(found) => return Ok(found),
            Err(FlowError::Relay(e)) if is_transient(&e) && Instant::now() < deadline => {
                if away.is_none() {
                    on_away(&e);
                }
                away = Some(e);
                std::thread::sleep(
                    Duration::from_secs(2).min(deadline.saturating_duration_since(Instant::now())),
                );
            }
            Err(e) => return Err(e),
        }
    }
}

/// A failure that waiting may cure: no connection, or a busy relay.
fn is_transient(e: &RelayError) -> bool {
    matches!(
        e,
        RelayError::Unreachable(_)
            | RelayError::Refused {
                status: 429 | 502 | 503 | 504,
                ..
            }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn retry(attempt: u32, reason: &str) -> Retry {
        Retry {
            attempt,
            of: 6,
            reason: reason.to_owned(),
            pause: Duration::from_millis(100),
        }
    }

    /// To a log, two long-polls' full cycles of retries while the relay stays away make one
    /// line; another reason makes another.
    #[test]
    fn the_status_is_written_once_per_state_off_a_terminal() {
        let line = StatusLine::for_terminal(false);
        let written: Vec<String> = (0..2)
            .flat_map(|_| 2..=6)
            .map(|n| retry(n, "connection refused"))
            .chain([retry(2, "timed out"), retry(3, "timed out")])
            .filter_map(|r| {
                let state = format!("hush: {}", retry_state(&r));
                line.render(&state, &format!(" ({} of {})", r.attempt, r.of))
            })
            .collect();
        assert_eq!(
            written,
            [
                "hush: no answer from the relay (connection refused); trying again\n",
                "hush: no answer from the relay (timed out); trying again\n",
            ]
        );
    }

    /// The TUI's status names the attempt.
    #[test]
    fn the_tuis_status_names_the_attempt() {
        assert_eq!(
            retry_status(&retry(2, "refused")),
            "no answer from the relay (refused); trying again (2 of 6)"
        );
    }
}
