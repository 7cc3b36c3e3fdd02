//! One SPAKE2 exchange with explicit key confirmation, for either side (docs/RELAY.md §2
//! and §5), as a state machine: messages in (with their sequence number in the slot's
//! queue), events out (messages to send, the confirmed session). It does no I/O, so
//! messages may arrive late, twice or out of order: a duplicate is ignored, a message
//! that differs from one already received is an error, one that comes early waits.
//!
//! Queue `to-sender`: 0 = the receiver's SPAKE2 message, 1 = its confirmation.
//! Queue `to-receiver`: 0 = the sender's SPAKE2 message, 1 = its confirmation.

use spake2::{Ed25519Group, Identity, Password, Spake2};
use subtle::ConstantTimeEq;

use super::code::Code;
use super::schedule::{self, Keys, RoomContext, Session};

/// SPAKE2 identity of side A, the sender.
const SENDER_ID: &[u8] = b"hush-relay/1 sender";
/// SPAKE2 identity of side B, a receiver.
const RECEIVER_ID: &[u8] = b"hush-relay/1 receiver";
/// Sequence number of the SPAKE2 message in each queue.
pub const SEQ_PAKE: u8 = 0;
/// Sequence number of the confirmation in each queue.
pub const SEQ_CONFIRM: u8 = 1;

/// Which side of the pairing this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// `hush-run`: SPAKE2 side A; checks the receiver's confirmation first.
    Sender,
    /// `hush`: SPAKE2 side B; confirms first.
    Receiver,
}

/// What the caller must do next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Put `msg` at `seq` in this side's outgoing queue.
    Send {
        /// Sequence number (0: SPAKE2 message, 1: confirmation).
        seq: u8,
        /// The message.
        msg: Vec<u8>,
    },
    /// Both sides proved they used the same code.
    Paired,
}

/// Why a pairing failed. Each is final: the pairing accepts nothing more.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// The other side's confirmation is wrong: it used another code. For the sender this
    /// burns the room (one guess per code).
    #[error("wrong code used: someone may be attacking; start again")]
    WrongCode,
    /// The sender's confirmation is wrong although ours was accepted: the relay, or someone
    /// between, tampered with the messages.
    #[error(
        "the sender's confirmation is wrong: the relay or someone in between tampered with the pairing"
    )]
    Tampered,
    /// The other side's SPAKE2 message is not one.
    #[error("the other side's pairing message is malformed")]
    BadMessage,
    /// A message differs from one already received at the same place.
    #[error("the relay delivered two different messages for the same place")]
    Conflict,
    /// A sequence number this protocol does not use.
    #[error("unexpected message {0} in the pairing")]
    UnexpectedSequence(u8),
    /// The pairing failed earlier.
    #[error("the pairing has already failed")]
    Failed,
}

enum State {
    /// Waiting for the other side's SPAKE2 message.
    Started(Spake2<Ed25519Group>),
    /// Keys derived; waiting for (or checking) the other side's confirmation.
    Keyed(Box<Keys>),
    /// Confirmed.
    Paired(Box<Keys>),
    /// Failed for good.
    Failed,
}

/// One pairing over one slot.
pub struct Pairing {
    side: Side,
    room: RoomContext,
    own_pake: Vec<u8>,
    /// Messages received, by sequence number.
    received: [Option<Vec<u8>>; 2],
    state: State,
}

impl Pairing {
    /// Starts the exchange; returns the pairing and this side's SPAKE2 message to send at
    /// sequence 0.
    pub fn start(side: Side, code: &Code, room: RoomContext) -> (Self, Event) {
        let password = Password::new(&code.password()[..]);
        let (ids_a, ids_b) = (Identity::new(SENDER_ID), Identity::new(RECEIVER_ID));
        let started = match side {
            Side::Sender => Spake2::<Ed25519Group>::start_a(&password, &ids_a, &ids_b),
            Side::Receiver => Spake2::<Ed25519Group>::start_b(&password, &ids_a, &ids_b),
        };
        Self::started(side, room, started)
    }

    /// As [`Pairing::start`] with the SPAKE2 scalar drawn from `rng`: for the worked
    /// examples of docs/RELAY.md only (a predictable scalar gives the code away).
    #[cfg(feature = "hazmat")]
    pub fn start_with_rng(
        side: Side,
        code: &Code,
        room: RoomContext,
        rng: impl rand_core::CryptoRng + rand_core::RngCore,
    ) -> (Self, Event) {
        let password = Password::new(&code.password()[..]);
        let (ids_a, ids_b) = (Identity::new(SENDER_ID), Identity::new(RECEIVER_ID));
        let started = match side {
            Side::Sender => {
                Spake2::<Ed25519Group>::start_a_with_rng(&password, &ids_a, &ids_b, rng)
            }
            Side::Receiver => {
                Spake2::<Ed25519Group>::start_b_with_rng(&password, &ids_a, &ids_b, rng)
            }
        };
        Self::started(side, room, started)
    }

    fn started(
        side: Side,
        room: RoomContext,
        (spake, msg): (Spake2<Ed25519Group>, Vec<u8>),
    ) -> (Self, Event) {
        let pairing = Self {
            side,
            room,
            own_pake: msg.clone(),
            received: [None, None],
            state: State::Started(spake),
        };
        (pairing, Event::Send { seq: SEQ_PAKE, msg })
    }

    /// Takes the other side's message at `seq`; returns what to do next.
    pub fn receive(&mut self, seq: u8, msg: &[u8]) -> Result<Vec<Event>, PairingError> {
        if matches!(self.state, State::Failed) {
            return Err(PairingError::Failed);
        }
        let slot = self
            .received
            .get_mut(usize::from(seq))
            .ok_or(PairingError::UnexpectedSequence(seq))?;
        match slot {
            Some(earlier) if earlier.as_slice() == msg => return Ok(Vec::new()),
            Some(_) => return Err(self.fail(PairingError::Conflict)),
            None => *slot = Some(msg.to_vec()),
        }
        let events = self.advance();
        if events.is_err() {
            self.state = State::Failed;
        }
        events
    }

    fn fail(&mut self, e: PairingError) -> PairingError {
        self.state = State::Failed;
        e
    }

    /// Goes as far as the messages received allow.
    fn advance(&mut self) -> Result<Vec<Event>, PairingError> {
        let mut events = Vec::new();
        if let (State::Started(_), Some(theirs)) = (&self.state, &self.received[0]) {
            let theirs = theirs.clone();
            let State::Started(spake) = std::mem::replace(&mut self.state, State::Failed) else {
                return Err(PairingError::Failed);
            };
            let key = zeroize::Zeroizing::new(
                spake
                    .finish(&theirs)
                    .map_err(|_| PairingError::BadMessage)?,
            );
            let (pake_s, pake_r) = match self.side {
                Side::Sender => (&self.own_pake, &theirs),
                Side::Receiver => (&theirs, &self.own_pake),
            };
            let keys = Keys::derive(&key, schedule::transcript(&self.room, pake_s, pake_r));
            if self.side == Side::Receiver {
                // The receiver confirms first; the sender only after checking it.
                events.push(Event::Send {
                    seq: SEQ_CONFIRM,
                    msg: keys.confirm_r.to_vec(),
                });
            }
            self.state = State::Keyed(Box::new(keys));
        }
        if let (State::Keyed(keys), Some(confirm)) = (&self.state, &self.received[1]) {
            let (expected, wrong) = match self.side {
                Side::Sender => (&keys.confirm_r, PairingError::WrongCode),
                Side::Receiver => (&keys.confirm_s, PairingError::Tampered),
            };
            if !bool::from(expected[..].ct_eq(confirm)) {
                return Err(wrong);
            }
            if self.side == Side::Sender {
                events.push(Event::Send {
                    seq: SEQ_CONFIRM,
                    msg: keys.confirm_s.to_vec(),
                });
            }
            let State::Keyed(keys) = std::mem::replace(&mut self.state, State::Failed) else {
                return Err(PairingError::Failed);
            };
            self.state = State::Paired(keys);
            events.push(Event::Paired);
        }
        Ok(events)
    }

    /// The confirmed session, once [`Event::Paired`] came.
    pub fn session(&self) -> Option<Session> {
        match &self.state {
            State::Paired(keys) => Some(Session::from_keys(keys)),
            _ => None,
        }
    }

    /// Which side this is.
    pub fn side(&self) -> Side {
        self.side
    }
}

impl std::fmt::Debug for Pairing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Started(_) => "started",
            State::Keyed(_) => "keyed",
            State::Paired(_) => "paired",
            State::Failed => "failed",
        };
        f.debug_struct("Pairing")
            .field("side", &self.side)
            .field("room", &self.room)
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::relay::code::Nameplate;

    fn room(slot: u8) -> RoomContext {
        RoomContext {
            nameplate: Nameplate::new(417).unwrap(),
            nonce: [9; 32],
            slot,
        }
    }

    fn msg(event: Event) -> (u8, Vec<u8>) {
        match event {
            Event::Send { seq, msg } => (seq, msg),
            Event::Paired => panic!("expected a message"),
        }
    }

    fn sends(events: &[Event]) -> Vec<(u8, Vec<u8>)> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::Send { seq, msg } => Some((*seq, msg.clone())),
                Event::Paired => None,
            })
            .collect()
    }

    /// Runs a whole exchange; returns both sides.
    fn pair(s_code: &str, r_code: &str) -> (Pairing, Pairing, Result<(), PairingError>) {
        let (mut s, s0) = Pairing::start(Side::Sender, &Code::parse(s_code).unwrap(), room(1));
        let (mut r, r0) = Pairing::start(Side::Receiver, &Code::parse(r_code).unwrap(), room(1));
        let (_, s_pake) = msg(s0);
        let (_, r_pake) = msg(r0);
        assert!(
            s.receive(0, &r_pake).unwrap().is_empty(),
            "the sender waits"
        );
        let r_events = r.receive(0, &s_pake).unwrap();
        let [(1, ref confirm_r)] = sends(&r_events)[..] else {
            panic!("the receiver confirms first: {r_events:?}")
        };
        let s_events = match s.receive(1, confirm_r) {
            Ok(events) => events,
            Err(e) => return (s, r, Err(e)),
        };
        assert_eq!(s_events.last(), Some(&Event::Paired));
        let [(1, ref confirm_s)] = sends(&s_events)[..] else {
            panic!("the sender confirms: {s_events:?}")
        };
        let result = r.receive(1, confirm_s).map(|events| {
            assert_eq!(events, vec![Event::Paired]);
        });
        (s, r, result)
    }

    #[test]
    fn same_code_pairs_with_the_same_receiver_code_and_key() {
        let (s, r, result) = pair("417-4K7M-Q2ZP", "417-4k7m-q2zp");
        result.unwrap();
        let (ss, rs) = (s.session().unwrap(), r.session().unwrap());
        assert_eq!(ss.receiver_code, rs.receiver_code);
        assert_eq!(ss.transcript, rs.transcript);
        assert_eq!(ss.content_key(), rs.content_key());
        assert_eq!(ss.id(), rs.id());
        assert!(!format!("{ss:?}").contains(&format!("{:?}", ss.content_key())));
    }

    #[test]
    fn a_wrong_code_is_caught_by_the_sender_before_it_confirms() {
        let (s, r, result) = pair("417-4K7M-Q2ZP", "417-4K7M-Q2ZQ");
        assert_eq!(result, Err(PairingError::WrongCode));
        assert!(s.session().is_none() && r.session().is_none());
        // Nothing more is accepted: the room is burned.
        let mut s = s;
        assert_eq!(s.receive(1, &[0; 32]), Err(PairingError::Failed));
    }

    #[test]
    fn a_forged_sender_confirmation_is_tampering() {
        let code = Code::parse("417-4K7M-Q2ZP").unwrap();
        let (_, s0) = Pairing::start(Side::Sender, &code, room(1));
        let (mut r, _) = Pairing::start(Side::Receiver, &code, room(1));
        r.receive(0, &msg(s0).1).unwrap();
        assert_eq!(r.receive(1, &[0u8; 32]), Err(PairingError::Tampered));
    }

    #[test]
    fn messages_may_come_twice_or_early_but_never_differ() {
        let code = Code::parse("417-4K7M-Q2ZP").unwrap();
        let (mut s, s0) = Pairing::start(Side::Sender, &code, room(3));
        let (mut r, r0) = Pairing::start(Side::Receiver, &code, room(3));
        let (s_pake, r_pake) = (msg(s0).1, msg(r0).1);
        // The receiver gets its message twice: the second is ignored.
        let confirm_r = sends(&r.receive(0, &s_pake).unwrap())[0].1.clone();
        assert!(r.receive(0, &s_pake).unwrap().is_empty());
        // The sender gets the confirmation before the SPAKE2 message: it waits for it.
        assert!(s.receive(1, &confirm_r).unwrap().is_empty());
        let events = s.receive(0, &r_pake).unwrap();
        assert_eq!(events.last(), Some(&Event::Paired));
        // A different message where one was already taken is refused, and final.
        let mut other = r_pake.clone();
        other[5] ^= 1;
        assert_eq!(s.receive(0, &other), Err(PairingError::Conflict));
        assert_eq!(s.receive(0, &r_pake), Err(PairingError::Failed));
        assert_eq!(r.receive(7, b"x"), Err(PairingError::UnexpectedSequence(7)));
    }

    #[test]
    fn a_relay_that_swaps_slots_or_rooms_breaks_the_confirmation() {
        let code = Code::parse("417-4K7M-Q2ZP").unwrap();
        let (mut s, s0) = Pairing::start(Side::Sender, &code, room(1));
        // The receiver was told slot 2 (or another room's nonce): transcripts differ.
        let (mut r, r0) = Pairing::start(Side::Receiver, &code, room(2));
        let confirm_r = sends(&r.receive(0, &msg(s0).1).unwrap())[0].1.clone();
        s.receive(0, &msg(r0).1).unwrap();
        assert_eq!(s.receive(1, &confirm_r), Err(PairingError::WrongCode));
    }

    #[test]
    fn a_garbled_spake2_message_is_refused() {
        let code = Code::parse("417-4K7M-Q2ZP").unwrap();
        let (mut r, _) = Pairing::start(Side::Receiver, &code, room(1));
        assert_eq!(r.receive(0, b"short"), Err(PairingError::BadMessage));
    }

    #[test]
    fn a_session_seals_for_its_receiver_only() {
        let (s, r, result) = pair("417-4K7M-Q2ZP", "417-4K7M-Q2ZP");
        result.unwrap();
        let sender = crate::Credentials::Relay(s.session().unwrap());
        let receiver = crate::Credentials::Relay(r.session().unwrap());
        let meta = crate::Metadata::default();
        let sealed =
            crate::seal(&sender, &meta, b"wg private key", true, Default::default()).unwrap();
        let opened = crate::open(&sealed, std::slice::from_ref(&receiver)).unwrap();
        assert_eq!(&opened.stdout[..], b"wg private key");
        assert!(matches!(opened.mode, crate::Mode::Relay { .. }));
        // Another pairing with the same code (another receiver) cannot open it.
        let (_, other, result) = pair("417-4K7M-Q2ZP", "417-4K7M-Q2ZP");
        result.unwrap();
        let other = crate::Credentials::Relay(other.session().unwrap());
        let err = crate::open(&sealed, &[other]).unwrap_err();
        assert!(matches!(err, crate::Error::OtherPairing), "{err}");
        let key = crate::Credentials::generate().unwrap();
        let err = crate::open(&sealed, &[key]).unwrap_err();
        assert!(matches!(err, crate::Error::ModeMismatch { .. }), "{err}");
    }
}
