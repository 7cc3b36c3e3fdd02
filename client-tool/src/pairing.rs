//! The TUI's relay pairings (`r`): each runs on a worker thread of its own, so the event
//! loop never waits for the relay. The worker joins with the code and pairs, reports the
//! session (its receiver code goes on the screen, and the app keeps it to open a fallback
//! block), waits for the sealed output and hands it to the app, which opens it on the path
//! of pasted blocks. It acknowledges the message (the relay deletes it, and hush-run
//! reports it delivered) only once the app says the plaintext was handed over, then
//! leaves its slot. Quitting hush leaves the slots of the pairings still waiting
//! ([`leave_all`]: best effort, bounded, so that the relay does not keep a slot, and the
//! sender's output, for a receiver that is gone). The same steps as `hush receive` (receive_cmd.rs), whose helpers it
//! uses; only where they report differs (events, not stderr).

use std::io;
use std::sync::mpsc::{self, Sender};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use shared::cli::devices::MailboxKeys;
use shared::cli::failure::Failure as _;
use shared::cli::relay_client::RetryHook;
use shared::cli::relay_flow::{FlowError, Receiver, SlotExit};
use shared::cli::remember::Reply;
use shared::relay::Code;
use zeroize::Zeroizing;

use crate::app::{Input, PairingEvent, PairingId};
use crate::failure::{Failure, RelayFailure};
use crate::receive_cmd::{connect, retry_status, through_outages, wait_for_payload};

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

/// How long quitting waits, at most, for the relay to hear that hush left its slots.
pub const QUIT_LEAVE: Duration = Duration::from_secs(1);

/// The slot of a paired worker, until it is left (by the worker or by [`leave_all`]).
type Exit = Arc<Mutex<Option<SlotExit>>>;

/// Takes the slot's way out, once: whoever gets it leaves.
fn take(exit: &Exit) -> Option<SlotExit> {
    exit.lock().ok().and_then(|mut e| e.take())
}

/// A running pairing: tells its worker the answer to an offer to remember each other, and
/// what became of the delivered message.
pub struct Worker {
    verdict: Sender<bool>,
    answer: Sender<(Reply, Option<MailboxKeys>)>,
    exit: Exit,
}

impl Worker {
    /// The answer to the server's offer to remember each other ([`PairingEvent::Offer`]),
    /// and the mailbox to register on the relay before it goes.
    pub fn answer(&self, reply: Reply, mailbox: Option<MailboxKeys>) {
        let _ = self.answer.send((reply, mailbox));
    }

    /// The plaintext was handed over (`true`: acknowledge) or not; the worker leaves its
    /// slot either way, and ends.
    pub fn done(&self, handed_over: bool) {
        let _ = self.verdict.send(handed_over);
    }
}

/// Leaves the slots of `workers` still paired (hush is quitting: their worker threads end
/// with the process), each on a thread of its own, waiting at most `within` in all. Best
/// effort: a relay that does not answer in time keeps the slot until the room expires.
pub fn leave_all(workers: impl IntoIterator<Item = Worker>, within: Duration) {
    let deadline = Instant::now() + within;
    let (done, finished) = mpsc::channel();
    let mut leaving = 0;
    for exit in workers.into_iter().filter_map(|w| take(&w.exit)) {
        let done = done.clone();
        let spawned = std::thread::Builder::new()
            .name("leave".into())
            .spawn(move || {
                let _ = exit.leave();
                let _ = done.send(());
            });
        if spawned.is_ok() {
            leaving += 1;
        }
    }
    for _ in 0..leaving {
        let left = deadline.saturating_duration_since(Instant::now());
        if finished.recv_timeout(left).is_err() {
            return;
        }
    }
}

/// Where a worker's events go; `false` once nobody listens (the loop ended).
pub type Tell = Arc<dyn Fn(Input) -> bool + Send + Sync>;

/// Starts pairing `id` with `code` through the relay of `settings`.
pub fn spawn(settings: &Settings, id: PairingId, code: Code, tell: Tell) -> io::Result<Worker> {
    let (verdict, verdicts) = mpsc::channel();
    let (answer, answers) = mpsc::channel();
    let exit = Exit::default();
    let worker_exit = exit.clone();
    let settings = settings.clone();
    std::thread::Builder::new()
        .name(format!("pairing {id}"))
        .spawn(move || {
            let event = move |event| tell(Input::Pairing { id, event });
            let from_app = FromApp { verdicts, answers };
            run(&settings, code, &event, &from_app, &worker_exit);
        })?;
    Ok(Worker {
        verdict,
        answer,
        exit,
    })
}

/// What the app tells a worker.
struct FromApp {
    verdicts: mpsc::Receiver<bool>,
    answers: mpsc::Receiver<(Reply, Option<MailboxKeys>)>,
}

fn run(
    settings: &Settings,
    code: Code,
    event: &(impl Fn(PairingEvent) -> bool + Send + Sync + Clone + 'static),
    from_app: &FromApp,
    exit: &Exit,
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
    if let Ok(mut slot) = exit.lock() {
        *slot = Some(receiver.exit());
    }
    // Leaves the slot unless hush, quitting, already did.
    let leave = |receiver: Receiver| {
        if take(exit).is_some() {
            let _ = receiver.leave();
        }
    };
    if !event(PairingEvent::Paired(receiver.session().clone())) {
        return leave(receiver);
    }
    let away = |e: &shared::cli::relay_client::RelayError| {
        event(PairingEvent::Status(format!(
            "the relay is away ({e}); still trying"
        )));
    };
    let offer = match through_outages(deadline, &away, || receiver.approval(deadline)) {
        Ok(offer) => offer,
        Err(e) => {
            leave(receiver);
            return flow_failed(e);
        }
    };
    if let Some(offer) = offer {
        if !event(PairingEvent::Offer(offer)) {
            return leave(receiver);
        }
        // Unanswered by the deadline (or the app gone): declined.
        let left = deadline.saturating_duration_since(Instant::now());
        let (reply, mailbox) = from_app
            .answers
            .recv_timeout(left)
            .unwrap_or((Reply::Decline, None));
        if let Some(keys) = mailbox
            && let Err(e) = receiver
                .client()
                .register_mailbox(&keys.owner, &keys.id, &keys.drop)
        {
            event(PairingEvent::Status(format!(
                "could not register this laptop's mailbox on the relay ({e}); it is tried again"
            )));
        }
        if let Err(e) = receiver.reply(&reply) {
            leave(receiver);
            return flow_failed(e);
        }
    }
    let (payload, sealed) = match wait_for_payload(&receiver, deadline, &away) {
        Ok(found) => found,
        Err(e) => {
            leave(receiver);
            return flow_failed(e);
        }
    };
    if event(PairingEvent::Delivered(Zeroizing::new(sealed)))
        && from_app.verdicts.recv() == Ok(true)
        && let Err(e) = receiver.acknowledge(&payload)
    {
        event(PairingEvent::Status(format!(
            "could not tell the relay the message arrived ({e}); it expires there"
        )));
    }
    leave(receiver);
}

/// A failure as the status line shows it: a sentence, and its hint.
fn describe(f: &Failure) -> (String, Option<String>) {
    let hint = f.hint().map(|h| crate::app::sentence(&h));
    (crate::app::sentence(f), hint)
}
