//! `hush inbox`: the messages remembered servers dropped in this laptop's relay mailboxes
//! (`hush-run --to NAME`, docs/RELAY.md §12), one at a time, oldest first: fetched, opened
//! with the laptop's identity (device mode) and handed over as `hush open` does (clipboard,
//! pipe, or `-o FILE` only once it all authenticated). A message is deleted from the relay
//! once handed over, or once it proved it can never open here (an untrusted sender, not
//! for this laptop, damaged), so that it does not block the ones behind it.

use std::io::{self, IsTerminal};
use std::time::{Duration, Instant};

use shared::IdentitySecret;
use shared::cli::atomic::AtomicFile;
use shared::cli::devices::{self, MailboxKeys, Peers};
use shared::cli::relay_client::{RelayClient, Waiting, parse_pin};
use shared::cli::stdout::Stdout;
use shared::note;

use crate::cli::InboxArgs;
use crate::clipboard::ClipboardService;
use crate::creds;
use crate::failure::{Failure, RelayFailure};
use crate::open_cmd::{Destination, hand_over};

/// Seconds of each look while `--wait` lasts (one relay is asked, then the next).
const LOOK: u64 = 5;

/// One relay this laptop gave its mailbox on, reached.
pub(crate) struct Inbox {
    relay: String,
    client: RelayClient,
    keys: MailboxKeys,
}

/// Runs `hush inbox`.
pub fn run(args: &InboxArgs, clear_after: Option<Duration>) -> Result<(), Failure> {
    let file = args.identity.identity_passphrase_file.as_deref();
    let identity = creds::identity(file, false)?.ok_or(Failure::NoIdentity)?;
    let inboxes = reach(&identity.own, mailbox_relays(&identity.servers))?;
    if args.list {
        for inbox in &inboxes {
            for m in inbox.waiting(0)? {
                println!(
                    "{}  {} bytes  until {}  on {}",
                    m.id,
                    m.size,
                    devices::format_time(m.expires),
                    inbox.relay
                );
            }
        }
        return Ok(());
    }
    let Some((inbox, message, behind)) = oldest(&inboxes, args.wait)? else {
        return Err(Failure::Relay(RelayFailure::TimedOut {
            what: "no message waited in this laptop's mailbox",
            secs: args.wait,
        }));
    };
    let sealed = inbox.read(&message.id)?;
    let destination = match &args.output {
        Some(path) => Destination::File(path.clone(), AtomicFile::create(path)?),
        None if io::stdout().is_terminal() => {
            Destination::Clipboard(ClipboardService::start(clear_after).map_err(Failure::from)?)
        }
        None => Destination::Stdout(Stdout::new()?),
    };
    let delete = || {
        if let Err(e) = inbox.delete(&message.id) {
            note!("hush: could not delete the message from the mailbox ({e}); it expires there");
        }
    };
    let candidates = [identity.credentials()];
    let mut handed_over = || delete();
    let result = hand_over(
        destination,
        Box::new(io::Cursor::new(sealed)),
        &candidates,
        args.stderr,
        &mut handed_over,
    );
    if let Err(Failure::Format(e) | Failure::Opening { source: e, .. }) = &result {
        // It will never open with this identity: out of the way of the next ones.
        note!(
            "hush: message {} cannot open here ({e}); deleted from the mailbox",
            message.id
        );
        delete();
    }
    if behind > 0 {
        note!("hush: {behind} more message(s) wait in the mailbox (`hush inbox` again)");
    }
    result
}

impl Inbox {
    /// What waits, waiting up to `wait` seconds.
    pub(crate) fn waiting(&self, wait: u64) -> Result<Vec<Waiting>, Failure> {
        let wait = u32::try_from(wait).unwrap_or(u32::MAX);
        self.client
            .list_messages(&self.keys.owner, &self.keys.id, wait)
            .map_err(relay_failure)
    }

    /// One message's sealed bytes.
    pub(crate) fn read(&self, id: &str) -> Result<Vec<u8>, Failure> {
        self.client
            .read_message(&self.keys.owner, &self.keys.id, id)
            .map_err(relay_failure)
    }

    /// Deletes a message (it arrived, or can never open here).
    pub(crate) fn delete(&self, id: &str) -> Result<(), Failure> {
        self.client
            .delete_message(&self.keys.owner, &self.keys.id, id)
            .map_err(relay_failure)
    }
}

/// The relays (URL and pin) of the mailbox this laptop gave its servers (those not
/// forgotten).
pub(crate) fn mailbox_relays(servers: &Peers) -> Vec<(String, Option<String>)> {
    let mut relays: Vec<(String, Option<String>)> = servers
        .entries
        .iter()
        .filter(|e| e.forgotten.is_none())
        .filter_map(|e| e.mailbox.as_ref())
        .map(|m| (m.relay.clone(), m.pin.clone()))
        .collect();
    relays.sort();
    relays.dedup();
    relays
}

/// Each relay reached, and the mailbox registered there again (its lifetime starts again;
/// a relay that lost it has it back).
pub(crate) fn reach(
    own: &IdentitySecret,
    relays: Vec<(String, Option<String>)>,
) -> Result<Vec<Inbox>, Failure> {
    if relays.is_empty() {
        return Err(Failure::NoMailbox);
    }
    relays
        .into_iter()
        .map(|(relay, pin)| {
            let pin = pin
                .as_deref()
                .map(parse_pin)
                .transpose()
                .map_err(Failure::RelaySettings)?;
            let client = RelayClient::new(&relay, pin).map_err(relay_failure)?;
            let keys = devices::mailbox_keys(own, &relay);
            client
                .register_mailbox(&keys.owner, &keys.id, &keys.drop)
                .map_err(relay_failure)?;
            Ok(Inbox {
                relay,
                client,
                keys,
            })
        })
        .collect()
}

/// The oldest waiting message over every inbox, looking until `wait` seconds passed; and
/// how many more wait.
fn oldest(inboxes: &[Inbox], wait: u64) -> Result<Option<(&Inbox, Waiting, usize)>, Failure> {
    let deadline = Instant::now() + Duration::from_secs(wait);
    loop {
        let left = deadline.saturating_duration_since(Instant::now()).as_secs();
        let mut found: Vec<(&Inbox, Waiting)> = Vec::new();
        for inbox in inboxes {
            // Long-polls only with one relay: with several, each is asked in turn.
            let look = if inboxes.len() == 1 { left } else { 0 };
            found.extend(inbox.waiting(look)?.into_iter().map(|m| (inbox, m)));
        }
        // Oldest first: the one that expires first (every relay gives its own TTL, so
        // within a relay this is the drop order).
        found.sort_by_key(|(_, m)| m.expires);
        let behind = found.len().saturating_sub(1);
        if let Some((inbox, message)) = found.into_iter().next() {
            return Ok(Some((inbox, message, behind)));
        }
        if Instant::now() >= deadline {
            return Ok(None);
        }
        std::thread::sleep(Duration::from_secs(LOOK.min(left.max(1))));
    }
}

fn relay_failure(e: shared::cli::relay_client::RelayError) -> Failure {
    Failure::flow(shared::cli::relay_flow::FlowError::Relay(e))
}
