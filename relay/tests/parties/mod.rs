//! The two real parties of hush-relay/1, in Rust, as `hush-run` and `hush` will run them:
//! `shared::relay`'s pairing state machine over the tools' blocking client
//! (`shared::cli::relay_client`), sealing and opening with the real envelope (mode 0x03).
//! Every step reports its failure instead of panicking, so tests can check *which* error
//! each side ends with; every wait is bounded (long-polls of 5 s, a few of them).

// A test helper: a failed setup step is a failed test, and expect says where.
#![allow(clippy::unwrap_used, dead_code)]

use std::sync::mpsc;

use shared::cli::relay_client::{Queue, RelayClient, RelayError, Room, parse_pin};
use shared::relay::{Code, Event, Pairing, PairingError, ReceiverCode, RoomContext, Session, Side};
use shared::{Credentials, Metadata, SealOptions};

/// Seconds of one long-poll.
const WAIT: u32 = 5;
/// Long-polls per awaited item (so at most 30 s).
const POLLS: usize = 6;

/// Why a party stopped.
#[derive(Debug)]
pub enum Failure {
    /// The pairing state machine refused (wrong code, tampering, ...).
    Pairing(PairingError),
    /// The relay refused or could not be reached (`burned`, `denied`, ...).
    Relay(RelayError),
    /// The payload did not open: the envelope's own error. Nothing was released.
    Open(shared::Error),
    /// An awaited message never came within the bound.
    Timeout(&'static str),
}

impl From<RelayError> for Failure {
    fn from(e: RelayError) -> Self {
        Failure::Relay(e)
    }
}

impl From<PairingError> for Failure {
    fn from(e: PairingError) -> Self {
        Failure::Pairing(e)
    }
}

impl Failure {
    /// The relay's `error` code, if the relay refused.
    pub fn relay_code(&self) -> Option<&str> {
        match self {
            Failure::Relay(e) => e.code(),
            _ => None,
        }
    }
}

pub fn client(url: &str, pin: &str) -> RelayClient {
    RelayClient::new(url, Some(parse_pin(pin).expect("pin"))).expect("client")
}

fn sent(event: Event) -> Vec<u8> {
    match event {
        Event::Send { msg, .. } => msg,
        Event::Paired => panic!("expected a message"),
    }
}

/// Polls `get` until it gives something, at most `POLLS` times.
fn await_item<T>(
    what: &'static str,
    mut get: impl FnMut() -> Result<Option<T>, RelayError>,
) -> Result<T, Failure> {
    for _ in 0..POLLS {
        if let Some(item) = get()? {
            return Ok(item);
        }
    }
    Err(Failure::Timeout(what))
}

/// The sender (`hush-run`): its room and code.
pub struct Sender {
    pub client: RelayClient,
    pub room: Room,
    pub code: Code,
}

impl Sender {
    /// Creates a room for `receivers` and draws the code.
    pub fn open(url: &str, pin: &str, receivers: u8) -> Sender {
        let client = client(url, pin);
        let room = client.create_room(receivers).expect("room");
        let code = Code::generate(room.nameplate).expect("code");
        Sender { client, room, code }
    }

    /// The code as shown to (and typed by) a person.
    pub fn shown_code(&self) -> String {
        self.code.to_shown().to_string()
    }

    /// Waits until `n` receivers joined; their slots.
    pub fn slots(&self, n: usize) -> Vec<u8> {
        let mut slots = Vec::new();
        for _ in 0..POLLS * 2 {
            let after = slots.last().copied().unwrap_or(0);
            slots.extend(
                self.client
                    .slots(&self.room.token, &self.room.room, after, WAIT)
                    .expect("slots"),
            );
            if slots.len() >= n {
                return slots;
            }
        }
        panic!("only {} of {n} receivers joined", slots.len());
    }

    /// Pairs with the receiver of `slot`. A wrong confirmation burns the room (one guess
    /// per code), as hush-run does, and is returned.
    pub fn pair(&self, slot: u8) -> Result<Session, Failure> {
        let (c, t, room) = (&self.client, &self.room.token, self.room.room.as_str());
        let context = RoomContext {
            nameplate: self.room.nameplate,
            nonce: self.room.nonce,
            slot,
        };
        let (mut pairing, first) = Pairing::start(Side::Sender, &self.code, context);
        c.put(t, room, slot, Queue::ToReceiver, 0, &sent(first))?;
        for seq in 0..2 {
            let msg = await_item("a message from the receiver", || {
                c.get(t, room, slot, Queue::ToSender, seq, WAIT)
            })?;
            match pairing.receive(seq, &msg) {
                Ok(events) => {
                    for event in events {
                        if let Event::Send { seq, msg } = event {
                            c.put(t, room, slot, Queue::ToReceiver, seq, &msg)?;
                        }
                    }
                }
                Err(e) => {
                    if e == PairingError::WrongCode {
                        c.burn(t, room)?;
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(pairing.session().expect("paired after both messages"))
    }

    /// Seals `plaintext` for the session of `slot` and stores it; returns the sealed bytes.
    pub fn deliver(&self, slot: u8, session: &Session, plaintext: &[u8], id: &str) -> Vec<u8> {
        let sealed = shared::seal(
            &Credentials::Relay(session.clone()),
            &Metadata::default(),
            plaintext,
            false,
            SealOptions::default(),
        )
        .expect("seal");
        self.client
            .put_payload(&self.room.token, &self.room.room, slot, id, &sealed)
            .expect("put payload");
        sealed
    }

    /// Denies the receiver of `slot` (its next call is 410 `denied`).
    pub fn deny(&self, slot: u8) {
        self.client
            .delete_slot(&self.room.token, &self.room.room, slot)
            .expect("deny");
    }
}

/// What a receiver ended with.
#[derive(Debug)]
pub struct Received {
    pub receiver_code: ReceiverCode,
    pub plaintext: Vec<u8>,
}

/// The receiver (`hush receive CODE`): joins with the typed code, pairs, shows its receiver
/// code (sent on `shown`, the person reading the screen), then waits for its payload,
/// opens it with the real envelope path and deletes it only if it opened.
pub fn receive(
    url: &str,
    pin: &str,
    typed: &str,
    shown: Option<mpsc::Sender<ReceiverCode>>,
) -> Result<Received, Failure> {
    let client = client(url, pin);
    let code = Code::parse(typed).expect("typed code");
    let joined = client.join(code.nameplate())?;
    let context = RoomContext {
        nameplate: code.nameplate(),
        nonce: joined.nonce,
        slot: joined.slot,
    };
    let (mut pairing, first) = Pairing::start(Side::Receiver, &code, context);
    let (t, room, slot) = (&joined.token, joined.room.as_str(), joined.slot);
    client.put(t, room, slot, Queue::ToSender, 0, &sent(first))?;
    for seq in 0..2 {
        let msg = await_item("a message from the sender", || {
            client.get(t, room, slot, Queue::ToReceiver, seq, WAIT)
        })?;
        for event in pairing.receive(seq, &msg)? {
            if let Event::Send { seq, msg } = event {
                client.put(t, room, slot, Queue::ToSender, seq, &msg)?;
            }
        }
    }
    let session = pairing.session().expect("paired after both messages");
    if let Some(shown) = shown {
        let _ = shown.send(session.receiver_code);
    }
    let (id, sealed) = await_item("the payload", || client.get_payload(t, room, slot, WAIT))?;
    let opened =
        shared::open(&sealed, &[Credentials::Relay(session.clone())]).map_err(Failure::Open)?;
    client.delete_payload(t, room, slot, &id)?;
    Ok(Received {
        receiver_code: session.receiver_code,
        plaintext: opened.stdout.to_vec(),
    })
}
