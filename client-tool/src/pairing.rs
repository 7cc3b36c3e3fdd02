//! The TUI's relay pairings (`r`): each runs on a worker thread of its own, so the event
//! loop never waits for the relay. The worker joins with the code and pairs, reports the
//! session (its receiver code goes on the screen, and the app keeps it to open a fallback
//! block), waits for the sealed output and hands it to the app, which opens it on the path
//! of pasted blocks. It acknowledges the message (the relay deletes it, and hush-run
//! reports it delivered) only once the app says the plaintext was handed over, then
//! leaves its slot. The same steps as `hush receive` (receive_cmd.rs), whose helpers it
//! uses; only where they report differs (events, not stderr).

use std::io;
use std::sync::Arc;
use std::sync::mpsc::{self, Sender};
use std::time::{Duration, Instant};

use shared::cli::failure::Failure as _;
use shared::cli::relay_client::RetryHook;
use shared::cli::relay_flow::{FlowError, Receiver};
use shared::relay::Code;
use zeroize::Zeroizing;

use crate::app::{Input, PairingEvent, PairingId};
use crate::failure::{Failure, RelayFailure};
use crate::receive_cmd::{connect, retry_status, wait_for_payload};

/// How long a pairing waits, in all: the pairing, the approval on the server, the command
/// and the delivery (`hush receive`'s default `--wait`, a code's default lifetime).
pub const WAIT: Duration = Duration::from_secs(900);

/// The relay to pair through.
#[derive(Clone)]
pub struct Settings {
    /// `https://HOST:PORT`.
    pub url: String,
    /// The certificate's SHA-256, for a self-signed relay.
    pub pin: Option<[u8; 32]>,
}

/// A running pairing: tells its worker what became of the delivered message.
pub struct Worker {
    verdict: Sender<bool>,
}

impl Worker {
    /// The plaintext was handed over (`true`: acknowledge) or not; the worker leaves its
    /// slot either way, and ends.
    pub fn done(&self, handed_over: bool) {
        let _ = self.verdict.send(handed_over);
    }
}

/// Where a worker's events go; `false` once nobody listens (the loop ended).
pub type Tell = Arc<dyn Fn(Input) -> bool + Send + Sync>;

/// Starts pairing `id` with `code` through the relay of `settings`.
pub fn spawn(settings: &Settings, id: PairingId, code: Code, tell: Tell) -> io::Result<Worker> {
    let (verdict, verdicts) = mpsc::channel();
    let settings = settings.clone();
    std::thread::Builder::new()
        .name(format!("pairing {id}"))
        .spawn(move || {
            let event = move |event| tell(Input::Pairing { id, event });
            run(&settings, code, &event, &verdicts);
        })?;
    Ok(Worker { verdict })
}

fn run(
    settings: &Settings,
    code: Code,
    event: &(impl Fn(PairingEvent) -> bool + Send + Sync + Clone + 'static),
    verdicts: &mpsc::Receiver<bool>,
) {
    let deadline = Instant::now() + WAIT;
    let nameplate = code.nameplate();
    let failed = |f: Failure| {
        let (message, hint) = describe(&f);
        event(PairingEvent::Failed { message, hint });
    };
    let flow_failed = |e: FlowError| match e {
        // `hush receive` names its --wait; the TUI has none.
        FlowError::TimedOut(what) => {
            event(PairingEvent::Failed {
                message: format!("{what} within {} min.", WAIT.as_secs() / 60),
                hint: Some("Ask the person at the server to start again: a new code.".into()),
            });
        }
        e => failed(Failure::Relay(RelayFailure::of(
            e,
            nameplate,
            WAIT.as_secs(),
        ))),
    };
    let status = event.clone();
    let hook: RetryHook = Arc::new(move |r| {
        status(PairingEvent::Status(retry_status(r)));
    });
    let client = match connect(&settings.url, settings.pin, hook) {
        Ok(client) => client,
        Err(f) => return failed(f),
    };
    let receiver = match Receiver::pair(client, &code, deadline) {
        Ok(receiver) => receiver,
        Err(e) => return flow_failed(e),
    };
    drop(code);
    if !event(PairingEvent::Paired(receiver.session().clone())) {
        let _ = receiver.leave();
        return;
    }
    let away = |e: &shared::cli::relay_client::RelayError| {
        event(PairingEvent::Status(format!(
            "the relay is away ({e}); still trying"
        )));
    };
    let (payload, sealed) = match wait_for_payload(&receiver, deadline, &away) {
        Ok(found) => found,
        Err(e) => {
            let _ = receiver.leave();
            return flow_failed(e);
        }
    };
    if event(PairingEvent::Delivered(Zeroizing::new(sealed)))
        && verdicts.recv() == Ok(true)
        && let Err(e) = receiver.acknowledge(&payload)
    {
        event(PairingEvent::Status(format!(
            "could not tell the relay the message arrived ({e}); it expires there"
        )));
    }
    let _ = receiver.leave();
}

/// A failure as the status line shows it: a sentence, and its hint.
fn describe(f: &Failure) -> (String, Option<String>) {
    let hint = f.hint().map(|h| crate::app::sentence(&h));
    (crate::app::sentence(f), hint)
}
