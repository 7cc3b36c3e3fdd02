//! `--to NAME` with a relay mailbox (docs/RELAY.md §12): the command's output, sealed once
//! for the named devices (device mode), is dropped in each device's mailbox on its relay,
//! where the laptop's hush fetches it: nothing to paste. A device without a mailbox, a
//! relay that does not take the message (unreachable after the client's retries, the
//! mailbox unknown or full, the message too large), or `--print` gets the armored block
//! printed instead, once, for every device it was sealed for.

use std::fs::File;
use std::io::{self, Seek};

use shared::cli::devices::Mailbox;
use shared::cli::relay_client::{RelayClient, RelayError, Token, parse_pin};
use shared::cli::relay_flow::payload_id;
use shared::{Credentials, Metadata, SealOptions, SealWriter, Stream, note};

use crate::failure::{Failure, Result};
use crate::relay::{payload_of, print_block};

/// The devices of `--to` and their mailboxes (`None`: the block is printed for it).
pub struct Mailboxes {
    creds: Credentials,
    devices: Vec<(String, Option<Mailbox>)>,
}

/// One command's output, sealed (binary) into an unlinked temporary file until it is
/// dropped or printed.
pub struct Outgoing {
    sealer: SealWriter<File>,
}

impl Mailboxes {
    /// The devices named with `--to`, with their mailboxes.
    pub fn new(creds: Credentials, devices: Vec<(String, Option<Mailbox>)>) -> Self {
        Self { creds, devices }
    }

    /// The sealing credentials (this server's identity and the devices).
    pub fn credentials(&self) -> &Credentials {
        &self.creds
    }

    /// Whether any of the devices has a mailbox.
    pub fn any(&self) -> bool {
        self.devices.iter().any(|(_, m)| m.is_some())
    }

    /// The sealing credentials alone: the block is printed (or written to `-o FILE`).
    pub fn into_credentials(self) -> Credentials {
        self.creds
    }

    /// Starts sealing one command's output.
    pub fn start(&self, meta: &Metadata) -> Result<Outgoing> {
        let file = tempfile::tempfile().map_err(Failure::HoldFile)?;
        let sealer = SealWriter::new(file, &self.creds, meta, false, SealOptions::default())
            .map_err(Failure::StartSealing)?;
        Ok(Outgoing { sealer })
    }
}

impl Outgoing {
    /// Seals one read of output.
    pub fn take(&mut self, stream: Stream, data: &[u8]) -> shared::Result<()> {
        self.sealer.write(stream, data)
    }

    /// Ends the message and drops it in each mailbox, printing the block where it could
    /// not go. Returns the sealed size and where it went, for the note.
    pub fn finish(self, exit_status: i32, to: &Mailboxes) -> io::Result<(u64, String)> {
        let mut file = self
            .sealer
            .finish(Some(exit_status))
            .map_err(io::Error::other)?;
        let len = file.stream_position()?;
        let sealed = payload_of(&mut file, len)?;
        // One id for this message in every mailbox: a retry is the same drop.
        let id = payload_id().map_err(|e| io::Error::other(e.to_string()))?;
        let (mut dropped, mut printed) = (Vec::new(), Vec::new());
        for (name, mailbox) in &to.devices {
            let why = match (mailbox, &sealed) {
                (None, _) => "it has no mailbox".to_owned(),
                (Some(_), None) => {
                    format!("the sealed output ({len} bytes) is over a relay's limit (1 MiB)")
                }
                (Some(mailbox), Some(sealed)) => match drop_in(mailbox, &id, sealed) {
                    Ok(()) => {
                        dropped.push(format!("{name} (mailbox on {})", mailbox.relay));
                        continue;
                    }
                    Err(e) => format!("its relay did not take it ({e})"),
                },
            };
            note!("hush-run: {name}: {why}: the sealed block is printed below instead");
            printed.push(name.clone());
        }
        if !printed.is_empty() {
            print_block(&mut file)?;
        }
        let mut to = String::new();
        if !dropped.is_empty() {
            to.push_str(&format!(" into {}", dropped.join(", ")));
        }
        if !printed.is_empty() {
            to.push_str(&format!(" printed for {}", printed.join(", ")));
        }
        Ok((len, to))
    }
}

/// Drops `sealed` in `mailbox` with its drop token.
fn drop_in(mailbox: &Mailbox, id: &str, sealed: &[u8]) -> std::result::Result<(), RelayError> {
    let pin = mailbox.pin.as_deref().map(parse_pin).transpose()?;
    let client = RelayClient::new(&mailbox.relay, pin)?;
    let token = Token::new(mailbox.token.clone());
    client.drop_message(&token, &mailbox.id, id, sealed)
}
