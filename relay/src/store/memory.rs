//! The in-memory store: one process, one lock, nothing on disk.
//!
//! The lock is a plain `std::sync::Mutex` held only for short, non-async steps; long-polls
//! wait outside it on a per-room `watch` channel, which every change of the room pokes.
//! Subscribing happens under the lock, right after the check, so no change can slip in
//! between "not there yet" and the wait.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;
use tokio::sync::watch;
use tokio::time::Instant;

use super::{
    Caller, Dir, Hash, Join, MAX_SEQ, MailboxId, NewRoom, Payload, PayloadId, PayloadState, Reason,
    RoomId, RoomInfo, Stats, Store, StoreError, Swept, Waiting, Written,
};
use crate::config::Limits;

/// Bytes charged to the memory budget for a room and for a slot, beyond the messages and
/// payloads they hold: the maps, the structs, the channel, the allocator's share. Measured:
/// 2000 rooms with one slot each grew the debug binary's RSS by 9 MB, about 4.6 KB per
/// room and slot, so the two together charge 4 KiB (the rest is tokio and connections).
const ROOM_OVERHEAD: usize = 2048;
const SLOT_OVERHEAD: usize = 2048;
/// A mailbox's share, like a room's; each message's bytes are charged on top.
const MAILBOX_OVERHEAD: usize = 2048;

/// Largest nameplate: the code's nameplate is at most 4 digits (§1).
const NAMEPLATE_CEILING: u16 = 9999;

/// The in-memory store.
pub struct MemoryStore {
    limits: Limits,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    rooms: HashMap<RoomId, Room>,
    mailboxes: HashMap<MailboxId, Mailbox>,
    nameplates: HashMap<u16, Nameplate>,
    /// Bytes charged to the budget (overheads, messages, payloads).
    bytes: usize,
    payload_bytes: usize,
}

struct Nameplate {
    room: RoomId,
    /// Joins are accepted until then (ms since the epoch).
    join_until: u64,
    /// Not handed out again before then: a late receiver typing an old code must not land
    /// in someone else's room.
    reusable_at: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum RoomState {
    Open,
    /// Kept (without its data) until it expires, to answer 410.
    Burned,
}

struct Room {
    nameplate: u16,
    state: RoomState,
    sender: Hash,
    nonce: [u8; 32],
    receivers: u8,
    /// ms since the epoch
    join_until: u64,
    expires: u64,
    slots: Vec<Slot>,
    /// Poked on every change; long-polls subscribe to it. Dropped with the room, which
    /// wakes them too.
    changed: watch::Sender<()>,
    /// Bytes this room charges to the budget (so dropping it gives back exactly that).
    bytes: usize,
    payload_bytes: usize,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum SlotState {
    Active,
    Denied,
    Left,
}

struct Slot {
    token: Hash,
    join_id: Hash,
    state: SlotState,
    to_sender: [Option<Vec<u8>>; MAX_SEQ as usize + 1],
    to_receiver: [Option<Vec<u8>>; MAX_SEQ as usize + 1],
    /// In the order stored: the receiver gets the oldest undelivered first.
    payloads: Vec<StoredPayload>,
}

struct StoredPayload {
    id: PayloadId,
    /// SHA-256 of the bytes, kept after delivery so a retried PUT is still recognised.
    digest: Hash,
    /// `None` once delivered (the tombstone).
    bytes: Option<Vec<u8>>,
}

/// A registered device's mailbox (§12).
struct Mailbox {
    owner: Hash,
    drop: Hash,
    /// ms since the epoch; pushed back by every registration.
    expires: u64,
    /// In the order dropped.
    messages: Vec<Dropped>,
    changed: watch::Sender<()>,
    /// Bytes charged to the budget.
    bytes: usize,
}

struct Dropped {
    id: PayloadId,
    digest: Hash,
    /// `None` once fetched (the tombstone, which answers a retried drop).
    bytes: Option<Vec<u8>>,
    /// ms since the epoch.
    expires: u64,
}

impl Mailbox {
    /// Drops expired messages and tombstones; returns the bytes freed.
    fn expire(&mut self, now: u64) -> usize {
        let mut freed = 0;
        self.messages.retain(|m| {
            let keep = m.expires > now;
            if !keep {
                freed += m.bytes.as_ref().map_or(0, Vec::len);
            }
            keep
        });
        self.bytes -= freed;
        freed
    }
}

/// Who a token belongs to, within its room.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Who {
    Sender,
    Receiver(u8),
}

/// What an operation needs from the caller.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Right {
    Sender,
    OwnSlot,
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// Unix seconds, rounded up: a client never sees an expiry earlier than the real one.
fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// A uniform-enough draw in 1..=hi (the bias of a u32 modulo ≤ 9999 is below 10^-5, and a
/// nameplate is public anyway).
fn random_in(hi: u16) -> Result<u16, StoreError> {
    let mut b = [0u8; 4];
    getrandom::fill(&mut b).map_err(|_| StoreError::Unavailable)?;
    let n = u32::from_le_bytes(b) % u32::from(hi);
    // n < hi ≤ u16::MAX, so it fits.
    Ok(u16::try_from(n).unwrap_or(0) + 1)
}

impl Room {
    /// Matches the token against the sender's and every slot's in constant time (no early
    /// exit: the time does not tell which comparison matched, or how far).
    fn who(&self, token: &Hash) -> Option<Who> {
        let mut found = None;
        if bool::from(self.sender.ct_eq(token)) {
            found = Some(Who::Sender);
        }
        for (i, slot) in self.slots.iter().enumerate() {
            if bool::from(slot.token.ct_eq(token)) {
                found = Some(Who::Receiver(slot_number(i)));
            }
        }
        found
    }

    fn poke(&self) {
        self.changed.send_replace(());
    }

    fn info(&self, id: RoomId, slot: u8) -> RoomInfo {
        RoomInfo {
            room: id,
            nameplate: self.nameplate,
            slot,
            nonce: self.nonce,
            expires: secs(self.join_until),
            payload_expires: secs(self.expires),
        }
    }

    /// Checks the caller's right on slot `n` and the slot's state.
    fn slot_mut(&mut self, who: Who, n: u8, right: Right) -> Result<&mut Slot, StoreError> {
        let allowed = match (right, who) {
            (Right::Sender, Who::Sender) => true,
            (Right::OwnSlot, Who::Receiver(own)) => own == n,
            _ => false,
        };
        if !allowed {
            return Err(StoreError::Forbidden);
        }
        let slot = usize::from(n)
            .checked_sub(1)
            .and_then(|i| self.slots.get_mut(i))
            .ok_or(StoreError::NotFound)?;
        match slot.state {
            SlotState::Active => Ok(slot),
            SlotState::Denied => Err(StoreError::Denied),
            SlotState::Left => Err(StoreError::NotFound),
        }
    }
}

fn slot_number(index: usize) -> u8 {
    // Slots are at most 8.
    u8::try_from(index + 1).unwrap_or(u8::MAX)
}

impl Slot {
    fn queue(&mut self, dir: Dir) -> &mut [Option<Vec<u8>>; MAX_SEQ as usize + 1] {
        match dir {
            Dir::ToSender => &mut self.to_sender,
            Dir::ToReceiver => &mut self.to_receiver,
        }
    }

    /// Drops messages and undelivered payloads; keeps delivered tombstones so the sender
    /// can still see "delivered". Returns (bytes, payload bytes) freed.
    fn clear(&mut self) -> (usize, usize) {
        let mut freed = 0;
        for msg in self.to_sender.iter_mut().chain(self.to_receiver.iter_mut()) {
            freed += msg.take().map_or(0, |m| m.len());
        }
        let mut payload_freed = 0;
        self.payloads.retain(|p| match &p.bytes {
            Some(b) => {
                payload_freed += b.len();
                false
            }
            None => true,
        });
        (freed + payload_freed, payload_freed)
    }
}

impl Inner {
    /// The room of a caller, authenticated, and still open.
    fn room(&mut self, caller: &Caller, now: u64) -> Result<(&mut Room, Who), StoreError> {
        let room = self
            .rooms
            .get_mut(&caller.room)
            .filter(|r| now < r.expires)
            .ok_or(StoreError::NotFound)?;
        let who = room.who(&caller.token).ok_or(StoreError::Unauthorized)?;
        match room.state {
            RoomState::Open => Ok((room, who)),
            RoomState::Burned => Err(StoreError::Burned),
        }
    }

    fn charge(&mut self, add: usize, budget: usize) -> Result<(), StoreError> {
        if self.bytes.saturating_add(add) > budget {
            return Err(StoreError::Full("memory budget"));
        }
        self.bytes += add;
        Ok(())
    }

    /// A free nameplate. The range grows by a decimal digit once half of it is taken, so
    /// nameplates stay short on a quiet relay and a random draw mostly hits a free one. The
    /// draw is random (not sequential) so a nameplate says nothing about the room count or
    /// its neighbours, and it is independent of every secret.
    fn allocate_nameplate(&self, now: u64) -> Result<u16, StoreError> {
        let used = self.nameplates.len();
        let hi = [9u16, 99, 999]
            .into_iter()
            .find(|&hi| used < usize::from(hi) / 2)
            .unwrap_or(NAMEPLATE_CEILING);
        let free = |n: u16| self.nameplates.get(&n).is_none_or(|e| e.reusable_at <= now);
        for _ in 0..32 {
            let n = random_in(hi)?;
            if free(n) {
                return Ok(n);
            }
        }
        // Dense: walk from a random start.
        let start = random_in(hi)?;
        (0..hi)
            .map(|i| (start - 1 + i) % hi + 1)
            .find(|&n| free(n))
            .ok_or(StoreError::Full("nameplates"))
    }

    /// A live mailbox whose owner (`owner`) or dropper (not `owner`) holds `token`, its
    /// expired messages dropped.
    fn mailbox(
        &mut self,
        id: &MailboxId,
        token: &Hash,
        owner: bool,
        now: u64,
    ) -> Result<&mut Mailbox, StoreError> {
        let mailbox = self
            .mailboxes
            .get_mut(id)
            .filter(|m| now < m.expires)
            .ok_or(StoreError::NotFound)?;
        let expected = if owner { &mailbox.owner } else { &mailbox.drop };
        if !bool::from(expected.ct_eq(token)) {
            return Err(StoreError::Unauthorized);
        }
        let freed = mailbox.expire(now);
        self.bytes -= freed;
        // Borrowed again: `self.bytes` was written in between.
        self.mailboxes.get_mut(id).ok_or(StoreError::NotFound)
    }

    fn remove_mailbox(&mut self, id: &MailboxId) -> Option<Mailbox> {
        let mailbox = self.mailboxes.remove(id)?;
        self.bytes = self.bytes.saturating_sub(mailbox.bytes);
        Some(mailbox)
    }

    fn remove_room(&mut self, id: &RoomId) -> Option<Room> {
        let room = self.rooms.remove(id)?;
        self.bytes = self.bytes.saturating_sub(room.bytes);
        self.payload_bytes = self.payload_bytes.saturating_sub(room.payload_bytes);
        Some(room)
    }
}

/// What a long-poll waits on.
#[derive(Clone, Copy)]
enum Watched {
    Room(RoomId),
    Mailbox(MailboxId),
}

impl MemoryStore {
    /// An empty store bounded by `limits`.
    pub fn new(limits: Limits) -> Self {
        MemoryStore {
            limits,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic while holding the lock cannot leave the maps half-updated in a way that
        // matters more than refusing every later request: keep serving.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `check` until it finds its item, or until `wait` passed. `check` runs under the
    /// lock; the wait happens outside it, on the channel of the room (or mailbox) watched.
    async fn wait_for<T>(
        &self,
        watched: Watched,
        wait: Duration,
        mut check: impl FnMut(&mut Inner, u64) -> Result<Option<T>, StoreError>,
    ) -> Result<Option<T>, StoreError> {
        let deadline = Instant::now() + wait;
        loop {
            let mut rx = {
                let mut inner = self.lock();
                if let Some(found) = check(&mut inner, now_ms())? {
                    return Ok(Some(found));
                }
                let channel = match watched {
                    Watched::Room(id) => inner.rooms.get(&id).map(|r| &r.changed),
                    Watched::Mailbox(id) => inner.mailboxes.get(&id).map(|m| &m.changed),
                };
                match channel {
                    Some(changed) => changed.subscribe(),
                    None => return Err(StoreError::NotFound),
                }
            };
            if Instant::now() >= deadline {
                return Ok(None);
            }
            // A change, or the room dropped (the sender side of the channel gone): look
            // again. The timeout ends the wait.
            if tokio::time::timeout_at(deadline, rx.changed())
                .await
                .is_err()
            {
                return Ok(None);
            }
        }
    }
}

impl Store for MemoryStore {
    async fn create_room(&self, new: NewRoom) -> Result<RoomInfo, StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        if inner.rooms.len() >= self.limits.max_rooms {
            return Err(StoreError::Full("rooms"));
        }
        let nameplate = inner.allocate_nameplate(now)?;
        inner.charge(ROOM_OVERHEAD, self.limits.memory_budget)?;
        let code_ttl = ms(new.code_ttl);
        let join_until = now.saturating_add(code_ttl);
        // The room outlives its code: payloads flow after the pairing.
        let expires = now
            .saturating_add(ms(self.limits.payload_ttl))
            .max(join_until);
        inner.nameplates.insert(
            nameplate,
            Nameplate {
                room: new.id,
                join_until,
                reusable_at: join_until.saturating_add(code_ttl),
            },
        );
        let room = Room {
            nameplate,
            state: RoomState::Open,
            sender: new.sender_token,
            nonce: new.nonce,
            receivers: new.receivers,
            join_until,
            expires,
            slots: Vec::new(),
            changed: watch::Sender::new(()),
            bytes: ROOM_OVERHEAD,
            payload_bytes: 0,
        };
        let info = room.info(new.id, 0);
        inner.rooms.insert(new.id, room);
        Ok(info)
    }

    async fn join(&self, join: Join) -> Result<RoomInfo, StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let id = inner
            .nameplates
            .get(&join.nameplate)
            .filter(|n| now < n.join_until)
            .map(|n| n.room)
            .ok_or(StoreError::NotFound)?;
        let budget = self.limits.memory_budget;
        let room = inner
            .rooms
            .get_mut(&id)
            .filter(|r| now < r.expires)
            .ok_or(StoreError::NotFound)?;
        if room.state == RoomState::Burned {
            return Err(StoreError::Burned);
        }
        // A retry: the same slot, with the new token (the first answer was lost).
        let mut again = None;
        for (i, slot) in room.slots.iter().enumerate() {
            if bool::from(slot.join_id.ct_eq(&join.join_id)) {
                again = Some(i);
            }
        }
        if let Some(i) = again {
            let slot = &mut room.slots[i];
            return match slot.state {
                SlotState::Active => {
                    slot.token = join.token;
                    Ok(room.info(id, slot_number(i)))
                }
                SlotState::Denied => Err(StoreError::Denied),
                SlotState::Left => Err(StoreError::NotFound),
            };
        }
        if room.slots.len() >= usize::from(room.receivers) {
            return Err(StoreError::RoomFull);
        }
        room.slots.push(Slot {
            token: join.token,
            join_id: join.join_id,
            state: SlotState::Active,
            to_sender: Default::default(),
            to_receiver: Default::default(),
            payloads: Vec::new(),
        });
        room.bytes += SLOT_OVERHEAD;
        room.poke();
        let info = room.info(id, slot_number(room.slots.len() - 1));
        if let Err(e) = inner.charge(SLOT_OVERHEAD, budget) {
            // Undo: the slot was never handed out.
            if let Some(room) = inner.rooms.get_mut(&id) {
                room.slots.pop();
                room.bytes -= SLOT_OVERHEAD;
            }
            return Err(e);
        }
        Ok(info)
    }

    async fn slots(
        &self,
        caller: Caller,
        after: u8,
        wait: Duration,
    ) -> Result<Vec<u8>, StoreError> {
        self.wait_for(Watched::Room(caller.room), wait, |inner, now| {
            let (room, who) = inner.room(&caller, now)?;
            if who != Who::Sender {
                return Err(StoreError::Forbidden);
            }
            let above: Vec<u8> = (0..room.slots.len())
                .map(slot_number)
                .filter(|&n| n > after)
                .collect();
            Ok((!above.is_empty()).then_some(above))
        })
        .await
        .map(Option::unwrap_or_default)
    }

    async fn put_message(
        &self,
        caller: Caller,
        slot: u8,
        dir: Dir,
        seq: u8,
        msg: Vec<u8>,
    ) -> Result<Written, StoreError> {
        let now = now_ms();
        let budget = self.limits.memory_budget;
        let mut inner = self.lock();
        let len = msg.len();
        {
            let (room, who) = inner.room(&caller, now)?;
            let right = match dir {
                Dir::ToReceiver => Right::Sender,
                Dir::ToSender => Right::OwnSlot,
            };
            let s = room.slot_mut(who, slot, right)?;
            let cell = s
                .queue(dir)
                .get_mut(usize::from(seq))
                .ok_or(StoreError::NotFound)?;
            if let Some(old) = cell {
                return if *old == msg {
                    Ok(Written::Same)
                } else {
                    Err(StoreError::Conflict)
                };
            }
        }
        inner.charge(len, budget)?;
        let (room, who) = inner.room(&caller, now)?;
        let right = match dir {
            Dir::ToReceiver => Right::Sender,
            Dir::ToSender => Right::OwnSlot,
        };
        let s = room.slot_mut(who, slot, right)?;
        if let Some(cell) = s.queue(dir).get_mut(usize::from(seq)) {
            *cell = Some(msg);
        }
        room.bytes += len;
        room.poke();
        Ok(Written::Created)
    }

    async fn get_message(
        &self,
        caller: Caller,
        slot: u8,
        dir: Dir,
        seq: u8,
        wait: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let right = match dir {
            Dir::ToSender => Right::Sender,
            Dir::ToReceiver => Right::OwnSlot,
        };
        self.wait_for(Watched::Room(caller.room), wait, |inner, now| {
            let (room, who) = inner.room(&caller, now)?;
            let s = room.slot_mut(who, slot, right)?;
            Ok(s.queue(dir).get(usize::from(seq)).cloned().flatten())
        })
        .await
    }

    async fn put_payload(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
        bytes: Vec<u8>,
    ) -> Result<Written, StoreError> {
        let now = now_ms();
        let budget = self.limits.memory_budget;
        let max = self.limits.max_payloads_per_slot;
        let digest: Hash = Sha256::digest(&bytes).into();
        let len = bytes.len();
        let mut inner = self.lock();
        {
            let (room, who) = inner.room(&caller, now)?;
            let s = room.slot_mut(who, slot, Right::Sender)?;
            if let Some(old) = s.payloads.iter().find(|p| p.id == id) {
                return if old.digest == digest {
                    Ok(Written::Same)
                } else {
                    Err(StoreError::Conflict)
                };
            }
            if s.payloads.len() >= max {
                return Err(StoreError::TooManyPayloads);
            }
        }
        inner.charge(len, budget)?;
        inner.payload_bytes += len;
        let (room, who) = inner.room(&caller, now)?;
        let s = room.slot_mut(who, slot, Right::Sender)?;
        s.payloads.push(StoredPayload {
            id,
            digest,
            bytes: Some(bytes),
        });
        room.bytes += len;
        room.payload_bytes += len;
        room.poke();
        Ok(Written::Created)
    }

    async fn get_payload(
        &self,
        caller: Caller,
        slot: u8,
        wait: Duration,
    ) -> Result<Option<Payload>, StoreError> {
        self.wait_for(Watched::Room(caller.room), wait, |inner, now| {
            let (room, who) = inner.room(&caller, now)?;
            let s = room.slot_mut(who, slot, Right::OwnSlot)?;
            Ok(s.payloads.iter().find_map(|p| {
                p.bytes.as_ref().map(|b| Payload {
                    id: p.id,
                    bytes: b.clone(),
                })
            }))
        })
        .await
    }

    async fn delete_payload(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
    ) -> Result<bool, StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let (room, who) = inner.room(&caller, now)?;
        let s = room.slot_mut(who, slot, Right::OwnSlot)?;
        // Deleting what is gone (or was never there) is done: DELETE is idempotent.
        let taken = s
            .payloads
            .iter_mut()
            .find(|p| p.id == id)
            .and_then(|p| p.bytes.take());
        let delivered = taken.is_some();
        let freed = taken.map_or(0, |b| b.len());
        room.bytes -= freed;
        room.payload_bytes -= freed;
        if delivered {
            room.poke();
        }
        inner.bytes -= freed;
        inner.payload_bytes -= freed;
        Ok(delivered)
    }

    async fn payload_state(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
    ) -> Result<(PayloadState, u64), StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let (room, who) = inner.room(&caller, now)?;
        if who != Who::Sender {
            return Err(StoreError::Forbidden);
        }
        let expires = secs(room.expires);
        // Looked up whatever the slot's state: after the receiver left, the sender still
        // learns that its payload was delivered.
        let s = usize::from(slot)
            .checked_sub(1)
            .and_then(|i| room.slots.get(i))
            .ok_or(StoreError::NotFound)?;
        let p = s
            .payloads
            .iter()
            .find(|p| p.id == id)
            .ok_or(StoreError::NotFound)?;
        let state = match p.bytes {
            Some(_) => PayloadState::Stored,
            None => PayloadState::Delivered,
        };
        Ok((state, expires))
    }

    async fn delete_slot(&self, caller: Caller, slot: u8) -> Result<(), StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let (room, who) = inner.room(&caller, now)?;
        if let Who::Receiver(own) = who {
            if own != slot {
                return Err(StoreError::Forbidden);
            }
        }
        let s = usize::from(slot)
            .checked_sub(1)
            .and_then(|i| room.slots.get_mut(i))
            .ok_or(StoreError::NotFound)?;
        if s.state != SlotState::Active {
            return Ok(());
        }
        s.state = match who {
            Who::Sender => SlotState::Denied,
            Who::Receiver(_) => SlotState::Left,
        };
        let (freed, payload_freed) = s.clear();
        room.bytes -= freed;
        room.payload_bytes -= payload_freed;
        room.poke();
        inner.bytes -= freed;
        inner.payload_bytes -= payload_freed;
        Ok(())
    }

    async fn delete_room(&self, caller: Caller, reason: Reason) -> Result<(), StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let Some(room) = inner
            .rooms
            .get_mut(&caller.room)
            .filter(|r| now < r.expires)
        else {
            // Gone already: DELETE is idempotent.
            return Ok(());
        };
        if room.who(&caller.token).ok_or(StoreError::Unauthorized)? != Who::Sender {
            return Err(StoreError::Forbidden);
        }
        if room.state == RoomState::Burned {
            return Ok(());
        }
        match reason {
            Reason::Done => {
                // The nameplate entry stays: it cools down before reuse either way.
                inner.remove_room(&caller.room);
            }
            Reason::Burned => {
                // Keep the room's tokens to answer 410 to everyone; drop its data.
                room.state = RoomState::Burned;
                let (mut freed, mut payload_freed) = (0, 0);
                for s in &mut room.slots {
                    let (f, p) = s.clear();
                    freed += f;
                    payload_freed += p;
                }
                room.bytes -= freed;
                room.payload_bytes -= payload_freed;
                room.poke();
                inner.bytes -= freed;
                inner.payload_bytes -= payload_freed;
            }
        }
        Ok(())
    }

    async fn register_mailbox(
        &self,
        id: MailboxId,
        owner: Hash,
        drop: Hash,
    ) -> Result<(Written, u64), StoreError> {
        let now = now_ms();
        let expires = now.saturating_add(ms(self.limits.mailbox_ttl));
        let mut inner = self.lock();
        if let Some(mailbox) = inner.mailboxes.get_mut(&id).filter(|m| now < m.expires) {
            if !bool::from(mailbox.owner.ct_eq(&owner)) {
                return Err(StoreError::Conflict);
            }
            mailbox.drop = drop;
            mailbox.expires = expires;
            return Ok((Written::Same, secs(expires)));
        }
        // An expired one under the same id is gone for good.
        inner.remove_mailbox(&id);
        if inner.mailboxes.len() >= self.limits.max_mailboxes {
            return Err(StoreError::Full("mailboxes"));
        }
        inner.charge(MAILBOX_OVERHEAD, self.limits.memory_budget)?;
        inner.mailboxes.insert(
            id,
            Mailbox {
                owner,
                drop,
                expires,
                messages: Vec::new(),
                changed: watch::Sender::new(()),
                bytes: MAILBOX_OVERHEAD,
            },
        );
        Ok((Written::Created, secs(expires)))
    }

    async fn drop_message(
        &self,
        id: MailboxId,
        drop: Hash,
        message: PayloadId,
        bytes: Vec<u8>,
    ) -> Result<Written, StoreError> {
        let now = now_ms();
        let digest: Hash = Sha256::digest(&bytes).into();
        let len = bytes.len();
        let mut inner = self.lock();
        {
            let mailbox = inner.mailbox(&id, &drop, false, now)?;
            if let Some(old) = mailbox.messages.iter().find(|m| m.id == message) {
                return if old.digest == digest {
                    Ok(Written::Same)
                } else {
                    Err(StoreError::Conflict)
                };
            }
            if mailbox.messages.len() >= self.limits.max_mailbox_messages {
                return Err(StoreError::MailboxFull);
            }
        }
        inner.charge(len, self.limits.memory_budget)?;
        let expires = now.saturating_add(ms(self.limits.mailbox_message_ttl));
        let mailbox = inner.mailbox(&id, &drop, false, now)?;
        mailbox.messages.push(Dropped {
            id: message,
            digest,
            bytes: Some(bytes),
            expires,
        });
        mailbox.bytes += len;
        mailbox.changed.send_replace(());
        Ok(Written::Created)
    }

    async fn list_messages(
        &self,
        id: MailboxId,
        owner: Hash,
        wait: Duration,
    ) -> Result<Vec<Waiting>, StoreError> {
        self.wait_for(Watched::Mailbox(id), wait, |inner, now| {
            let mailbox = inner.mailbox(&id, &owner, true, now)?;
            let waiting: Vec<Waiting> = mailbox
                .messages
                .iter()
                .filter_map(|m| {
                    m.bytes.as_ref().map(|b| Waiting {
                        id: m.id,
                        size: b.len(),
                        expires: secs(m.expires),
                    })
                })
                .collect();
            Ok((!waiting.is_empty()).then_some(waiting))
        })
        .await
        .map(Option::unwrap_or_default)
    }

    async fn read_message(
        &self,
        id: MailboxId,
        owner: Hash,
        message: PayloadId,
    ) -> Result<Vec<u8>, StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let mailbox = inner.mailbox(&id, &owner, true, now)?;
        mailbox
            .messages
            .iter()
            .find(|m| m.id == message)
            .and_then(|m| m.bytes.clone())
            .ok_or(StoreError::NotFound)
    }

    async fn delete_message(
        &self,
        id: MailboxId,
        owner: Hash,
        message: PayloadId,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        let mailbox = inner.mailbox(&id, &owner, true, now)?;
        let freed = mailbox
            .messages
            .iter_mut()
            .find(|m| m.id == message)
            .and_then(|m| m.bytes.take())
            .map_or(0, |b| b.len());
        mailbox.bytes -= freed;
        inner.bytes -= freed;
        Ok(())
    }

    async fn delete_mailbox(&self, id: MailboxId, owner: Hash) -> Result<(), StoreError> {
        let now = now_ms();
        let mut inner = self.lock();
        match inner.mailbox(&id, &owner, true, now) {
            Ok(_) => {
                // Dropping it (and its channel) wakes its long-polls, which then find it gone.
                inner.remove_mailbox(&id);
                Ok(())
            }
            Err(StoreError::NotFound) => Ok(()),
            Err(e) => Err(e),
        }
    }

    async fn sweep(&self) -> Swept {
        let now = now_ms();
        let mut inner = self.lock();
        let gone: Vec<MailboxId> = inner
            .mailboxes
            .iter()
            .filter(|(_, m)| m.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        for id in gone {
            inner.remove_mailbox(&id);
        }
        let mut freed = 0;
        for mailbox in inner.mailboxes.values_mut() {
            freed += mailbox.expire(now);
        }
        inner.bytes -= freed;
        let expired: Vec<RoomId> = inner
            .rooms
            .iter()
            .filter(|(_, r)| r.expires <= now)
            .map(|(id, _)| *id)
            .collect();
        let mut swept = Swept::default();
        for id in expired {
            if let Some(room) = inner.remove_room(&id) {
                swept.rooms += 1;
                swept.payloads += room
                    .slots
                    .iter()
                    .flat_map(|s| &s.payloads)
                    .filter(|p| p.bytes.is_some())
                    .count() as u64;
            }
        }
        inner.nameplates.retain(|_, n| n.reusable_at > now);
        swept
    }

    async fn stats(&self) -> Stats {
        let inner = self.lock();
        Stats {
            rooms: inner.rooms.len(),
            payload_bytes: inner.payload_bytes,
            bytes: inner.bytes,
        }
    }

    async fn ready(&self) -> bool {
        // Usable as long as the process runs; a poisoned lock is recovered in `lock`.
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            max_rooms: 100,
            max_slots: 8,
            max_control_body: 4096,
            max_payload: 1 << 20,
            max_payloads_per_slot: 2,
            code_ttl: Duration::from_secs(60),
            max_code_ttl: Duration::from_secs(60),
            payload_ttl: Duration::from_secs(120),
            max_wait: Duration::from_secs(25),
            memory_budget: 1 << 20,
            max_mailboxes: 4,
            max_mailbox_messages: 3,
            mailbox_ttl: Duration::from_secs(3600),
            mailbox_message_ttl: Duration::from_secs(120),
        }
    }

    fn new_room(id: u8, receivers: u8) -> NewRoom {
        NewRoom {
            id: [id; 16],
            sender_token: [id; 32],
            nonce: [0; 32],
            receivers,
            code_ttl: Duration::from_secs(60),
        }
    }

    #[tokio::test]
    async fn nameplates_are_unique_and_short_while_few() {
        let store = MemoryStore::new(limits());
        let mut seen = std::collections::HashSet::new();
        for i in 0..50 {
            let info = store.create_room(new_room(i, 1)).await.unwrap();
            assert!(info.nameplate >= 1 && info.nameplate <= 999);
            assert!(seen.insert(info.nameplate), "nameplate reused while live");
        }
    }

    #[tokio::test]
    async fn memory_budget_refuses_instead_of_evicting() {
        let mut l = limits();
        l.memory_budget = ROOM_OVERHEAD * 3;
        let store = MemoryStore::new(l);
        for i in 0..3 {
            store.create_room(new_room(i, 1)).await.unwrap();
        }
        assert_eq!(
            store.create_room(new_room(9, 1)).await.unwrap_err(),
            StoreError::Full("memory budget")
        );
        assert_eq!(store.stats().await.rooms, 3);
    }

    #[tokio::test]
    async fn payload_count_is_bounded_and_accounting_returns_to_zero() {
        let store = MemoryStore::new(limits());
        let info = store.create_room(new_room(1, 1)).await.unwrap();
        let r = store
            .join(Join {
                nameplate: info.nameplate,
                join_id: [7; 32],
                token: [8; 32],
            })
            .await
            .unwrap();
        let s = Caller {
            room: info.room,
            token: [1; 32],
        };
        let rc = Caller {
            room: info.room,
            token: [8; 32],
        };
        store
            .put_payload(s, r.slot, [1; 16], vec![1; 100])
            .await
            .unwrap();
        store
            .put_payload(s, r.slot, [2; 16], vec![2; 50])
            .await
            .unwrap();
        assert_eq!(
            store.put_payload(s, r.slot, [3; 16], vec![3]).await,
            Err(StoreError::TooManyPayloads)
        );
        assert_eq!(store.stats().await.payload_bytes, 150);
        store.delete_payload(rc, r.slot, [1; 16]).await.unwrap();
        store.delete_slot(rc, r.slot).await.unwrap();
        let stats = store.stats().await;
        assert_eq!(stats.payload_bytes, 0);
        assert_eq!(stats.bytes, ROOM_OVERHEAD + SLOT_OVERHEAD);
        assert_eq!(
            store.payload_state(s, r.slot, [1; 16]).await.unwrap().0,
            PayloadState::Delivered
        );
        store.delete_room(s, Reason::Done).await.unwrap();
        assert_eq!(store.stats().await.bytes, 0);
    }
}
