//! The two sides of a pairing over a relay, blocking: the protocol's state machines
//! (`shared::relay`) driven through the tools' client (`relay_client`), in the order of
//! docs/RELAY.md §2. `hush-run` is the [`SenderRoom`], `hush` the [`Receiver`]; the relay's
//! tests and load generator drive the same two types, so what they measure is what the
//! tools do.
//!
//! Every wait is a long-poll bounded by a deadline: a side that never answers costs the
//! other one its deadline, not forever.

use std::time::Instant;

use crate::relay::{Code, Event, Pairing, PairingError, RoomContext, Session, Side};

use super::relay_client::{Joined, LONGEST_WAIT, Queue, RelayClient, RelayError, Room, Token};
use super::remember::{self, Offer, RememberError, Reply};

/// Why a pairing or a delivery stopped.
#[derive(Debug, thiserror::Error)]
pub enum FlowError {
    /// A relay call failed (unreachable, refused, malformed).
    #[error(transparent)]
    Relay(#[from] RelayError),
    /// The sender: a receiver's confirmation was wrong, so the room was burned.
    #[error("wrong code used: someone may be attacking; the room is burned, start again")]
    WrongCode,
    /// The receiver: the room was burned — this code was wrong, or another receiver tried
    /// a wrong one first.
    #[error(
        "the sender burned the room: the code was wrong, or someone else tried it; ask for a new code"
    )]
    Burned,
    /// The receiver: the sender denied this receiver.
    #[error("the sender denied this receiver")]
    Denied,
    /// The room, the slot or a message vanished mid-pairing: the relay restarted without
    /// its state, or the pairing expired.
    #[error("the relay lost this pairing (it restarted, or the pairing expired); start again")]
    Lost,
    /// The pairing itself failed (tampering, malformed or conflicting messages).
    #[error(transparent)]
    Pairing(#[from] PairingError),
    /// Nothing came before the deadline.
    #[error("{0} before the deadline")]
    TimedOut(&'static str),
    /// A remember message that does not open or parse.
    #[error(transparent)]
    Remember(#[from] RememberError),
}

impl FlowError {
    /// The meaning of a relay refusal mid-pairing, for a side that holds a room or slot.
    fn from_refusal(e: RelayError) -> Self {
        match e.code() {
            Some("burned") => FlowError::Burned,
            Some("denied") => FlowError::Denied,
            Some("not_found") => FlowError::Lost,
            _ => FlowError::Relay(e),
        }
    }
}

/// Seconds to long-poll now: what is left before `deadline`, at most the protocol's bound.
fn wait_until(deadline: Instant) -> Option<u32> {
    let left = deadline.checked_duration_since(Instant::now())?;
    let secs = u32::try_from(left.as_secs()).unwrap_or(LONGEST_WAIT);
    Some(secs.clamp(1, LONGEST_WAIT))
}

/// Long-polls `get` until it yields or `deadline` passes.
fn poll<T>(
    deadline: Instant,
    what: &'static str,
    mut get: impl FnMut(u32) -> Result<Option<T>, RelayError>,
) -> Result<T, FlowError> {
    while let Some(wait) = wait_until(deadline) {
        if let Some(found) = get(wait).map_err(FlowError::from_refusal)? {
            return Ok(found);
        }
    }
    Err(FlowError::TimedOut(what))
}

/// Runs one side's half of the SPAKE2 exchange on a slot: sends what the state machine
/// says, reads the other side's messages in order, until it is paired or fails.
fn exchange(
    mut pairing: Pairing,
    first: Event,
    deadline: Instant,
    mut put: impl FnMut(u8, &[u8]) -> Result<(), RelayError>,
    mut get: impl FnMut(u8, u32) -> Result<Option<Vec<u8>>, RelayError>,
) -> Result<Session, FlowError> {
    let mut events = vec![first];
    let mut next = 0u8;
    loop {
        for event in events.drain(..) {
            match event {
                Event::Send { seq, msg } => put(seq, &msg).map_err(FlowError::from_refusal)?,
                Event::Paired => {
                    return pairing
                        .session()
                        .ok_or(FlowError::Pairing(PairingError::Failed));
                }
            }
        }
        let msg = poll(deadline, "the other side's pairing message", |w| {
            get(next, w)
        })?;
        events = pairing.receive(next, &msg)?;
        next += 1;
    }
}

/// A random payload id: 32 hex characters, reused by retries of the same delivery.
pub fn payload_id() -> Result<String, RelayError> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id).map_err(|e| RelayError::Unreachable(e.to_string()))?;
    Ok(super::hex(&id))
}

/// A receiver the sender paired with: its slot and the confirmed session, whose
/// `receiver_code` the person at the sender compares before approving.
#[derive(Debug)]
pub struct Candidate {
    /// The receiver's slot.
    pub slot: u8,
    /// The confirmed session (seals for this receiver only).
    pub session: Session,
}

impl Candidate {
    /// Its approval (docs/RELAY.md §11), with an offer of this server's identity if it
    /// should be remembered; sealed once, so that sending it again is the same message.
    pub fn approval(&self, offer: Option<&Offer>) -> Result<Approval, FlowError> {
        Ok(Approval {
            slot: self.slot,
            sealed: remember::seal_approval(&self.session, offer)?,
        })
    }
}

/// A receiver's approval, sealed for its session ([`Candidate::approval`]).
#[derive(Debug, Clone)]
pub struct Approval {
    slot: u8,
    sealed: Vec<u8>,
}

/// The sender's room: made with a fresh code, paired slot by slot.
#[derive(Debug)]
pub struct SenderRoom {
    client: RelayClient,
    room: Room,
    code: Code,
    /// Highest slot seen so far.
    seen: u8,
    /// Slots that joined but [`SenderRoom::next_receiver`] has not paired yet.
    pending: Vec<u8>,
}

impl SenderRoom {
    /// Creates a room for up to `receivers` receivers and draws the code's secret.
    pub fn open(client: RelayClient, receivers: u8) -> Result<Self, FlowError> {
        let room = client.create_room(receivers)?;
        let code = Code::generate(room.nameplate)
            .map_err(|_| RelayError::Unreachable("no randomness for the code".into()))?;
        Ok(Self {
            client,
            room,
            code,
            seen: 0,
            pending: Vec::new(),
        })
    }

    /// The code to show to the person at the receiver.
    pub fn code(&self) -> &Code {
        &self.code
    }

    /// Unix seconds after which the code no longer joins.
    pub fn expires(&self) -> u64 {
        self.room.expires
    }

    /// Unix seconds after which the room and the payloads stored in it are gone (0 if the
    /// relay did not say).
    pub fn payload_expires(&self) -> u64 {
        self.room.payload_expires
    }

    /// Waits until `deadline` for receivers to join; returns the slots that joined since
    /// the last call (at least one), in join order.
    pub fn joined(&mut self, deadline: Instant) -> Result<Vec<u8>, FlowError> {
        let (client, room, after) = (&self.client, &self.room, self.seen);
        let mut slots = poll(deadline, "no receiver joined", |w| {
            let slots = client.slots(&room.token, &room.room, after, w)?;
            Ok((!slots.is_empty()).then_some(slots))
        })?;
        slots.sort_unstable();
        self.seen = slots.last().copied().unwrap_or(self.seen);
        Ok(slots)
    }

    /// Pairs with the receiver in `slot` (one SPAKE2 exchange and both confirmations),
    /// until `deadline`. A wrong code burns the room ([`FlowError::WrongCode`]): the code
    /// is spent, whoever typed it.
    pub fn pair(&self, slot: u8, deadline: Instant) -> Result<Candidate, FlowError> {
        let (client, room, t) = (&self.client, &self.room, &self.room.token);
        let context = RoomContext {
            nameplate: room.nameplate,
            nonce: room.nonce,
            slot,
        };
        let (pairing, first) = Pairing::start(Side::Sender, &self.code, context);
        let put = |seq, msg: &[u8]| client.put(t, &room.room, slot, Queue::ToReceiver, seq, msg);
        let get = |seq, w| client.get(t, &room.room, slot, Queue::ToSender, seq, w);
        match exchange(pairing, first, deadline, put, get) {
            Ok(session) => Ok(Candidate { slot, session }),
            Err(FlowError::Pairing(PairingError::WrongCode)) => {
                // One guess per code: the whole room goes, for every receiver.
                client.burn(t, &room.room)?;
                Err(FlowError::WrongCode)
            }
            Err(e) => Err(e),
        }
    }

    /// The next receiver to join, paired ([`SenderRoom::joined`], then
    /// [`SenderRoom::pair`]), until `deadline`.
    pub fn next_receiver(&mut self, deadline: Instant) -> Result<Candidate, FlowError> {
        if self.pending.is_empty() {
            self.pending = self.joined(deadline)?;
        }
        let slot = self.pending.remove(0);
        self.pair(slot, deadline)
    }

    /// Refuses a receiver (its next call answers 410 `denied`).
    pub fn deny(&self, slot: u8) -> Result<(), FlowError> {
        let t = &self.room.token;
        Ok(self.client.delete_slot(t, &self.room.room, slot)?)
    }

    /// Stores a sealed payload for an approved receiver under `id` (see [`payload_id`];
    /// a retry with the same id and bytes is harmless).
    pub fn deliver(&self, slot: u8, id: &str, sealed: &[u8]) -> Result<(), FlowError> {
        let t = &self.room.token;
        self.client
            .put_payload(t, &self.room.room, slot, id, sealed)
            .map_err(FlowError::from_refusal)
    }

    /// Whether the receiver took the payload.
    pub fn delivered(&self, slot: u8, id: &str) -> Result<bool, FlowError> {
        let t = &self.room.token;
        self.client
            .payload_delivered(t, &self.room.room, slot, id)
            .map_err(FlowError::from_refusal)
    }

    /// Tells a paired receiver it was approved (the receiver reads this before waiting
    /// for its payload). Safe to repeat with the same [`Approval`].
    pub fn approve(&self, approval: &Approval) -> Result<(), FlowError> {
        let (t, room) = (&self.room.token, &self.room.room);
        self.client
            .put(
                t,
                room,
                approval.slot,
                Queue::ToReceiver,
                remember::SEQ,
                &approval.sealed,
            )
            .map_err(FlowError::from_refusal)
    }

    /// The receiver's answer to the offer of [`SenderRoom::approve`], until `deadline`.
    pub fn reply(&self, receiver: &Candidate, deadline: Instant) -> Result<Reply, FlowError> {
        let (t, room, slot) = (&self.room.token, &self.room.room, receiver.slot);
        let sealed = poll(deadline, "no answer to the offer to remember", |w| {
            self.client
                .get(t, room, slot, Queue::ToSender, remember::SEQ, w)
        })?;
        Ok(Reply::open(&receiver.session, &sealed)?)
    }

    /// Ends the room: everything in it goes now rather than at its expiry.
    pub fn close(self) -> Result<(), FlowError> {
        Ok(self.client.close(&self.room.token, &self.room.room)?)
    }
}

/// The receiver's side: joined and paired, then waiting for payloads.
#[derive(Debug)]
pub struct Receiver {
    client: RelayClient,
    joined: Joined,
    session: Session,
}

impl Receiver {
    /// Joins the room behind the code's nameplate and pairs with the sender, until
    /// `deadline`. The code is used once, whatever happens.
    pub fn pair(client: RelayClient, code: &Code, deadline: Instant) -> Result<Self, FlowError> {
        // An unknown or expired nameplate stays the relay's refusal (404 `not_found`): the
        // code is wrong or old, which is not "the relay lost the pairing".
        let joined = client.join(code.nameplate()).map_err(|e| match e.code() {
            Some("not_found") => FlowError::Relay(e),
            _ => FlowError::from_refusal(e),
        })?;
        let context = RoomContext {
            nameplate: code.nameplate(),
            nonce: joined.nonce,
            slot: joined.slot,
        };
        let (pairing, first) = Pairing::start(Side::Receiver, code, context);
        let (t, room, slot) = (&joined.token, joined.room.as_str(), joined.slot);
        let put = |seq, msg: &[u8]| client.put(t, room, slot, Queue::ToSender, seq, msg);
        let get = |seq, w| client.get(t, room, slot, Queue::ToReceiver, seq, w);
        let session = exchange(pairing, first, deadline, put, get)?;
        Ok(Self {
            client,
            joined,
            session,
        })
    }

    /// The confirmed session: its `receiver_code` is shown for the sender's approval, and
    /// it opens what the sender seals.
    pub fn session(&self) -> &Session {
        &self.session
    }

    /// Waits until `deadline` for the next sealed payload; returns its id and bytes.
    pub fn next_payload(&self, deadline: Instant) -> Result<(String, Vec<u8>), FlowError> {
        let (t, room, slot) = (self.token(), self.joined.room.as_str(), self.joined.slot);
        poll(deadline, "no message came", |w| {
            self.client.get_payload(t, room, slot, w)
        })
    }

    /// Tells the relay the payload arrived: it deletes the bytes.
    pub fn acknowledge(&self, id: &str) -> Result<(), FlowError> {
        let (t, room, slot) = (self.token(), self.joined.room.as_str(), self.joined.slot);
        self.client
            .delete_payload(t, room, slot, id)
            .map_err(FlowError::from_refusal)
    }

    /// Waits until `deadline` for the sender's approval (a denial is
    /// [`FlowError::Denied`]); returns its offer to remember each other, if it made one.
    pub fn approval(&self, deadline: Instant) -> Result<Option<Offer>, FlowError> {
        let (t, room, slot) = (self.token(), self.joined.room.as_str(), self.joined.slot);
        let sealed = poll(deadline, "the sender did not approve", |w| {
            self.client
                .get(t, room, slot, Queue::ToReceiver, remember::SEQ, w)
        })?;
        Ok(remember::open_approval(&self.session, &sealed)?)
    }

    /// Answers the sender's offer.
    pub fn reply(&self, reply: &Reply) -> Result<(), FlowError> {
        let sealed = reply.seal(&self.session)?;
        let (t, room, slot) = (self.token(), self.joined.room.as_str(), self.joined.slot);
        self.client
            .put(t, room, slot, Queue::ToSender, remember::SEQ, &sealed)
            .map_err(FlowError::from_refusal)
    }

    /// Leaves the room (the slot and what is left in it go).
    pub fn leave(self) -> Result<(), FlowError> {
        let (t, room, slot) = (self.token(), self.joined.room.as_str(), self.joined.slot);
        Ok(self.client.delete_slot(t, room, slot)?)
    }

    /// A way out of the slot for another thread: the TUI, quitting while this receiver's
    /// worker waits in a long-poll, leaves the slot with it.
    pub fn exit(&self) -> SlotExit {
        SlotExit {
            client: self.client.clone(),
            token: self.joined.token.clone(),
            room: self.joined.room.clone(),
            slot: self.joined.slot,
        }
    }

    fn token(&self) -> &Token {
        &self.joined.token
    }

    /// The relay client it pairs through (to register this device's mailbox there).
    pub fn client(&self) -> &RelayClient {
        &self.client
    }
}

/// A receiver's slot, to leave from another thread ([`Receiver::exit`]).
#[derive(Debug, Clone)]
pub struct SlotExit {
    client: RelayClient,
    token: Token,
    room: String,
    slot: u8,
}

impl SlotExit {
    /// Leaves the room, as [`Receiver::leave`].
    pub fn leave(&self) -> Result<(), FlowError> {
        Ok(self
            .client
            .delete_slot(&self.token, &self.room, self.slot)?)
    }
}
