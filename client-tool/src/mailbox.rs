//! The TUI's mailbox: a worker thread of its own looks into this laptop's relay mailboxes
//! (docs/RELAY.md §12; long-polling when there is one relay), tells the app how many
//! messages wait, and brings them one at a time, oldest first: the app opens each on the
//! path of pasted blocks and says what became of it ([`Worker::done`]) before the next one
//! comes. A message is deleted from the relay once handed over, or when it can never open
//! here; one that could not be copied waits there for a later look.

use std::io;
use std::sync::mpsc::{self, RecvTimeoutError};
use std::time::Duration;

use shared::IdentitySecret;
use shared::cli::failure::Failure as _;
use zeroize::Zeroizing;

use crate::app::{Input, MailboxEvent};
use crate::inbox_cmd::{Inbox, reach};
use crate::pairing::Tell;
use shared::cli::relay_client::Waiting;

/// The longest long-poll (docs/RELAY.md §3.2).
const LONG_POLL: u64 = 25;
/// The pause between looks with several relays, or after a failure.
const PAUSE: Duration = Duration::from_secs(5);
const AFTER_FAILURE: Duration = Duration::from_secs(30);

/// The running worker: told what became of each message it brought.
pub struct Worker {
    verdict: mpsc::Sender<bool>,
}

impl Worker {
    /// The message it brought: delete it from the relay (`true`), or leave it there.
    pub fn done(&self, delete: bool) {
        let _ = self.verdict.send(delete);
    }
}

/// Starts looking into the mailboxes on `relays` (URL and pin), with the keys of `own`.
pub fn spawn(
    own: IdentitySecret,
    relays: Vec<(String, Option<String>)>,
    tell: Tell,
) -> io::Result<Worker> {
    let (verdict, verdicts) = mpsc::channel();
    // The worker's copy lives as long as the TUI: out of swap and core dumps too.
    shared::cli::hardening::protect_secret(own.expose());
    std::thread::Builder::new()
        .name("mailbox".into())
        .spawn(move || run(&own, relays, &tell, &verdicts))?;
    Ok(Worker { verdict })
}

fn run(
    own: &IdentitySecret,
    relays: Vec<(String, Option<String>)>,
    tell: &Tell,
    verdicts: &mpsc::Receiver<bool>,
) {
    let failed = |why: String| tell(Input::Mailbox(MailboxEvent::Failed(why)));
    let inboxes = loop {
        match reach(own, relays.clone()) {
            Ok(inboxes) => break inboxes,
            Err(e) => {
                if !failed(crate::app::sentence(&e)) {
                    return;
                }
                std::thread::sleep(AFTER_FAILURE);
            }
        }
    };
    loop {
        let pause = match look(&inboxes, tell, verdicts) {
            Ok(Some(pause)) => pause,
            Ok(None) => return,
            Err(e) => {
                let hint = e.hint().map(|h| format!(" ({h})")).unwrap_or_default();
                if !failed(format!("{}{hint}", crate::app::sentence(&e))) {
                    return;
                }
                AFTER_FAILURE
            }
        };
        std::thread::sleep(pause);
    }
}

/// One look at every mailbox: tells how many wait, brings the oldest and waits for its
/// verdict. The pause before the next look, or `None` once the app is gone.
fn look(
    inboxes: &[Inbox],
    tell: &Tell,
    verdicts: &mpsc::Receiver<bool>,
) -> Result<Option<Duration>, crate::failure::Failure> {
    let list = |wait: u64| -> Result<Vec<(&Inbox, Waiting)>, crate::failure::Failure> {
        let mut waiting = Vec::new();
        for inbox in inboxes {
            waiting.extend(inbox.waiting(wait)?.into_iter().map(|m| (inbox, m)));
        }
        waiting.sort_by_key(|(_, m)| m.expires);
        Ok(waiting)
    };
    // The count at once; then, with one relay and nothing there, a long-poll.
    let mut waiting = list(0)?;
    if waiting.is_empty() && inboxes.len() == 1 {
        if !tell(Input::Mailbox(MailboxEvent::Waiting(0))) {
            return Ok(None);
        }
        waiting = list(LONG_POLL)?;
    }
    if !tell(Input::Mailbox(MailboxEvent::Waiting(waiting.len()))) {
        return Ok(None);
    }
    let Some((inbox, message)) = waiting.into_iter().next() else {
        // A long-poll already waited; with several relays, pause between looks.
        return Ok(Some(if inboxes.len() == 1 {
            Duration::ZERO
        } else {
            PAUSE
        }));
    };
    let sealed = Zeroizing::new(inbox.read(&message.id)?);
    if !tell(Input::Mailbox(MailboxEvent::Arrived(sealed))) {
        return Ok(None);
    }
    match verdicts.recv_timeout(Duration::from_secs(3600)) {
        Ok(true) => inbox.delete(&message.id).map(|()| Some(Duration::ZERO)),
        // Not handed over (the clipboard failed): it waits there for a later look.
        Ok(false) | Err(RecvTimeoutError::Timeout) => Ok(Some(AFTER_FAILURE)),
        Err(RecvTimeoutError::Disconnected) => Ok(None),
    }
}
