//! What the relay tests add to the tools' own pairing flow (`shared::cli::relay_flow`), and
//! no more: the sender is `SenderRoom` as it stands; the receiver is [`receive`], which is
//! `hush receive CODE` end to end — `Receiver::pair`, the receiver code shown, the payload
//! opened with the real envelope (mode 0x03) and acknowledged only if it opened. Every
//! failure is returned, not panicked on, so tests can check *which* error each side ends
//! with.

// A test helper: a failed setup step is a failed test, and expect says where.
#![allow(clippy::unwrap_used)]

use std::sync::mpsc;
use std::time::{Duration, Instant};

use shared::cli::relay_client::{RelayClient, parse_pin};
use shared::cli::relay_flow::{FlowError, Receiver};
use shared::relay::{Code, ReceiverCode, Session};
use shared::{Credentials, Metadata, SealOptions};

/// How long one side may wait for the other in a test, from its start.
pub const DEADLINE: Duration = Duration::from_secs(30);

/// Why the receiver stopped.
#[derive(Debug)]
pub enum Failure {
    /// The pairing or the relay stopped it (`Burned`, `Denied`, `Pairing(Tampered)`, ...).
    Flow(FlowError),
    /// The payload did not open: the envelope's own error. Nothing was released, and the
    /// payload was not acknowledged.
    Open(shared::Error),
}

/// A client of the tools pinned to `pin` (`sha256:…`).
pub fn client(url: &str, pin: &str) -> RelayClient {
    RelayClient::new(url, Some(parse_pin(pin).expect("pin"))).expect("client")
}

/// `plaintext` sealed for one receiver's session, as hush-run seals its output.
pub fn seal(session: &Session, plaintext: &[u8]) -> Vec<u8> {
    shared::seal(
        &Credentials::Relay(session.clone()),
        &Metadata::default(),
        plaintext,
        false,
        SealOptions::default(),
    )
    .expect("seal")
}

/// The receiver with the code `typed`, until `deadline`: pairs, shows its receiver code
/// (sent on `shown`: the person reading the screen), then opens the first payload and
/// acknowledges it. Returns the plaintext.
pub fn receive(
    client: RelayClient,
    typed: &str,
    deadline: Instant,
    shown: Option<mpsc::Sender<ReceiverCode>>,
) -> Result<Vec<u8>, Failure> {
    let code = Code::parse(typed).expect("typed code");
    let receiver = Receiver::pair(client, &code, deadline).map_err(Failure::Flow)?;
    // Paired means confirmed: this is when hush shows the receiver code.
    let session = receiver.session().clone();
    if let Some(shown) = shown {
        let _ = shown.send(session.receiver_code);
    }
    let (id, sealed) = receiver.next_payload(deadline).map_err(Failure::Flow)?;
    let opened = shared::open(&sealed, &[Credentials::Relay(session)]).map_err(Failure::Open)?;
    receiver.acknowledge(&id).map_err(Failure::Flow)?;
    Ok(opened.stdout.to_vec())
}

/// [`receive`] on a thread of its own, as the receiver is a machine of its own.
pub fn spawn_receiver(
    client: RelayClient,
    typed: &str,
    deadline: Instant,
    shown: Option<mpsc::Sender<ReceiverCode>>,
) -> std::thread::JoinHandle<Result<Vec<u8>, Failure>> {
    let typed = typed.to_owned();
    std::thread::spawn(move || receive(client, &typed, deadline, shown))
}
