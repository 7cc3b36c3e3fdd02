//! The relay's state: rooms, nameplates, slots, messages, payloads — behind one trait.
//!
//! Everything the protocol decides about state lives here, not in the HTTP layer: who may
//! do what with a token, idempotent writes, the slot count, nameplate allocation, TTLs and
//! the memory bounds. A store answers each call atomically (the in-memory store under one
//! lock; the Redis store with one Lua script per call), so several relay instances
//! sharing one store agree, and one conformance suite (`relay/tests/store.rs`) runs
//! against every backend. Tokens and join ids reach the store only as SHA-256 hashes.

mod lua;
pub mod memory;
pub mod redis;

use std::future::Future;
use std::time::Duration;

/// 16 random bytes, shown as 32 hex characters.
pub type RoomId = [u8; 16];
/// SHA-256 of a bearer token or of a join id.
pub type Hash = [u8; 32];
/// A payload's id, chosen by the sender (16 random bytes).
pub type PayloadId = [u8; 16];

/// A registered device's mailbox (§12): 16 random bytes chosen by its owner.
pub type MailboxId = [u8; 16];

/// Highest message sequence number (§3.2: `seq` is 0..=15).
pub const MAX_SEQ: u8 = 15;

/// A message queue of a slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Written by the receiver, read by the sender.
    ToSender,
    /// Written by the sender, read by the receiver.
    ToReceiver,
}

/// Why the sender deletes its room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// A confirmation failed: every later call on the room answers 410 `burned`.
    Burned,
    /// The exchange is over: the room is gone (404 afterwards).
    Done,
}

/// The caller of a room operation: which room, and the hash of the bearer token.
#[derive(Debug, Clone, Copy)]
pub struct Caller {
    /// The room called.
    pub room: RoomId,
    /// SHA-256 of the bearer token.
    pub token: Hash,
}

/// What the sender provides to create a room (the random values are drawn by the caller
/// so that every backend gets them the same way).
#[derive(Debug, Clone)]
pub struct NewRoom {
    /// The new room's id.
    pub id: RoomId,
    /// SHA-256 of the sender's token.
    pub sender_token: Hash,
    /// The room nonce bound into every transcript.
    pub nonce: [u8; 32],
    /// Slots the room may have (1..=8).
    pub receivers: u8,
    /// How long the nameplate joins.
    pub code_ttl: Duration,
}

/// A join: the nameplate, the hash of the client's join id (the idempotency key) and the
/// hash of the token the receiver will use.
#[derive(Debug, Clone)]
pub struct Join {
    /// The nameplate typed.
    pub nameplate: u16,
    /// SHA-256 of the client's join id.
    pub join_id: Hash,
    /// SHA-256 of the token the receiver will use.
    pub token: Hash,
}

/// What creation and joins answer.
#[derive(Debug, Clone)]
pub struct RoomInfo {
    /// The room's id.
    pub room: RoomId,
    /// Its nameplate.
    pub nameplate: u16,
    /// 0 for the sender, 1..=8 for a receiver.
    pub slot: u8,
    /// The room nonce.
    pub nonce: [u8; 32],
    /// Unix seconds: the nameplate joins until then.
    pub expires: u64,
    /// Unix seconds: the room and everything in it is gone then.
    pub payload_expires: u64,
}

/// A write that was new, or the same as one already stored (a retry).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// Stored now.
    Created,
    /// The same bytes were there already (a retry).
    Same,
}

/// What the sender learns of a payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PayloadState {
    /// Waiting for its receiver.
    Stored,
    /// Taken and deleted by its receiver (a tombstone).
    Delivered,
}

/// A payload handed to its receiver.
#[derive(Debug, Clone)]
pub struct Payload {
    /// The id the sender chose.
    pub id: PayloadId,
    /// The sealed bytes.
    pub bytes: Vec<u8>,
}

/// A message waiting in a mailbox, as its owner's listing shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Waiting {
    /// The id its sender chose.
    pub id: PayloadId,
    /// Its size in bytes.
    pub size: usize,
    /// Unix seconds: it is dropped then.
    pub expires: u64,
}

/// Counts for metrics and the memory gauge.
#[derive(Debug, Clone, Copy, Default)]
pub struct Stats {
    /// Rooms alive (burned ones included).
    pub rooms: usize,
    /// Bytes of undelivered payloads (the in-memory store; 0 for Redis).
    pub payload_bytes: usize,
    /// Bytes held: the budget's charge (memory), Redis' `used_memory` (Redis).
    pub bytes: usize,
}

/// What one sweep removed.
#[derive(Debug, Clone, Copy, Default)]
pub struct Swept {
    /// Rooms dropped.
    pub rooms: u64,
    /// Undelivered payloads dropped with them.
    pub payloads: u64,
}

/// Why a store refused; each maps to one row of §3.3.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// 404 `not_found`; also a room a restarted Redis (without persistence) lost.
    #[error(
        "no such nameplate, room, slot, message or payload: it expired, or the relay lost it \
         (restarted); start the pairing again"
    )]
    NotFound,
    /// 401 `unauthorized`.
    #[error("missing or wrong token")]
    Unauthorized,
    /// 403 `forbidden`.
    #[error("this token may not do that")]
    Forbidden,
    /// 409 `room_full`.
    #[error("every slot of the room is taken")]
    RoomFull,
    /// 409 `conflict`.
    #[error("a different message or payload is already stored there")]
    Conflict,
    /// 409 `conflict` (the slot's payload count).
    #[error("the slot holds as many payloads as allowed")]
    TooManyPayloads,
    /// 409 `mailbox_full`.
    #[error("the mailbox holds as many messages as allowed; its owner has not fetched them")]
    MailboxFull,
    /// 410 `burned`.
    #[error("the room was burned after a failed confirmation")]
    Burned,
    /// 410 `denied`.
    #[error("the sender denied this slot")]
    Denied,
    /// 503 `full`: a bound of the relay (which one).
    #[error("the relay is full ({0})")]
    Full(&'static str),
    /// 503 `unavailable`: the store (Redis) does not answer.
    #[error("the relay's store is unavailable; try again shortly")]
    Unavailable,
}

/// A relay store. Every method is one atomic step; the `wait` of the reading methods is a
/// long-poll: the call returns as soon as the item exists, or `None` after `wait`.
pub trait Store: Send + Sync + 'static {
    /// Creates a room and allocates its nameplate.
    fn create_room(
        &self,
        new: NewRoom,
    ) -> impl Future<Output = Result<RoomInfo, StoreError>> + Send;

    /// Joins the room behind a nameplate: a new slot, or the same slot again for the same
    /// join id (its token is then replaced by the new one: the client lost the answer).
    fn join(&self, join: Join) -> impl Future<Output = Result<RoomInfo, StoreError>> + Send;

    /// The slots above `after` (sender only); waits for one when there is none.
    fn slots(
        &self,
        caller: Caller,
        after: u8,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;

    /// Writes message `seq` of a slot's queue.
    fn put_message(
        &self,
        caller: Caller,
        slot: u8,
        dir: Dir,
        seq: u8,
        msg: Vec<u8>,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// Reads message `seq` of a slot's queue.
    fn get_message(
        &self,
        caller: Caller,
        slot: u8,
        dir: Dir,
        seq: u8,
        wait: Duration,
    ) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;

    /// Stores a payload for a slot (sender only).
    fn put_payload(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// The oldest undelivered payload of the caller's slot (receiver only).
    fn get_payload(
        &self,
        caller: Caller,
        slot: u8,
        wait: Duration,
    ) -> impl Future<Output = Result<Option<Payload>, StoreError>> + Send;

    /// Marks a payload delivered: its bytes go, a tombstone stays (receiver only). True
    /// when this call delivered it (false: already delivered, or never stored).
    fn delete_payload(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// A payload's state and the Unix second it expires (sender only).
    fn payload_state(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
    ) -> impl Future<Output = Result<(PayloadState, u64), StoreError>> + Send;

    /// The sender denies a slot, or its receiver leaves it.
    fn delete_slot(
        &self,
        caller: Caller,
        slot: u8,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The sender ends the room.
    fn delete_room(
        &self,
        caller: Caller,
        reason: Reason,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Registers a mailbox for its owner (the token hash `owner`), or refreshes it (its
    /// lifetime starts again, and `drop` replaces the drop token's hash). Another owner's
    /// mailbox is a conflict. Answers whether it was new, and its expiry (Unix seconds).
    fn register_mailbox(
        &self,
        id: MailboxId,
        owner: Hash,
        drop: Hash,
    ) -> impl Future<Output = Result<(Written, u64), StoreError>> + Send;

    /// Drops a message in a mailbox (the drop token). A retry of a message already there,
    /// or already fetched (its tombstone), is `Same`.
    fn drop_message(
        &self,
        id: MailboxId,
        drop: Hash,
        message: PayloadId,
        bytes: Vec<u8>,
    ) -> impl Future<Output = Result<Written, StoreError>> + Send;

    /// The messages waiting in a mailbox, oldest first (the owner); waits for one when
    /// there is none.
    fn list_messages(
        &self,
        id: MailboxId,
        owner: Hash,
        wait: Duration,
    ) -> impl Future<Output = Result<Vec<Waiting>, StoreError>> + Send;

    /// One waiting message's bytes (the owner).
    fn read_message(
        &self,
        id: MailboxId,
        owner: Hash,
        message: PayloadId,
    ) -> impl Future<Output = Result<Vec<u8>, StoreError>> + Send;

    /// Deletes a message once fetched: its bytes go, a tombstone stays until it would
    /// have expired (the owner). Idempotent.
    fn delete_message(
        &self,
        id: MailboxId,
        owner: Hash,
        message: PayloadId,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Deletes a mailbox and everything in it (the owner). Idempotent.
    fn delete_mailbox(
        &self,
        id: MailboxId,
        owner: Hash,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Drops what outlived its TTL.
    fn sweep(&self) -> impl Future<Output = Swept> + Send;

    /// Counts for the metrics.
    fn stats(&self) -> impl Future<Output = Stats> + Send;

    /// Whether the store answers (`/readyz`).
    fn ready(&self) -> impl Future<Output = bool> + Send;
}
