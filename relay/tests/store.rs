//! The store conformance suite: one set of test functions, generic over the `Store`
//! trait, run against the in-memory store and the Redis store (a throwaway redis-server
//! per test). Both must answer every call the same way (docs/RELAY.md §3, §4, §7).

// A test: a failed step is a failed test, and unwrap says where.
#![allow(clippy::unwrap_used)]

// Only the Redis helper of the harness is used here.
#[allow(dead_code)]
mod harness;

use std::collections::HashSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::redis::RedisServer;
use hush_relay::Limits;
use hush_relay::store::memory::MemoryStore;
use hush_relay::store::redis::RedisStore;
use hush_relay::store::{
    Caller, Dir, Join, NewRoom, PayloadState, Reason, RoomInfo, Store, StoreError, Waiting, Written,
};

/// Longest any one wait of this suite may take.
const BOUND: Duration = Duration::from_secs(10);

fn limits() -> Limits {
    Limits {
        max_rooms: 100,
        max_slots: 8,
        max_control_body: 4096,
        max_payload: 1 << 20,
        max_payloads_per_slot: 3,
        code_ttl: Duration::from_secs(60),
        max_code_ttl: Duration::from_secs(60),
        payload_ttl: Duration::from_secs(120),
        max_wait: Duration::from_secs(25),
        memory_budget: 1 << 24,
        max_mailboxes: 4,
        max_mailbox_messages: 3,
        mailbox_ttl: Duration::from_secs(3600),
        mailbox_message_ttl: Duration::from_secs(120),
    }
}

/// A store backend under test.
trait Backend: Sync {
    type S: Store;
    async fn store(&self, limits: Limits) -> Self::S;
    /// The Redis server behind the store, for the checks only Redis has (DBSIZE).
    fn redis(&self) -> Option<&RedisServer>;
}

struct Memory;

impl Backend for Memory {
    type S = MemoryStore;
    async fn store(&self, limits: Limits) -> MemoryStore {
        MemoryStore::new(limits)
    }
    fn redis(&self) -> Option<&RedisServer> {
        None
    }
}

struct Redis(RedisServer);

impl Backend for Redis {
    type S = RedisStore;
    async fn store(&self, limits: Limits) -> RedisStore {
        RedisStore::connect(&self.0.url(), limits).await.unwrap()
    }
    fn redis(&self) -> Option<&RedisServer> {
        Some(&self.0)
    }
}

/// Runs every listed test function against both stores.
macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Memory).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(&super::Redis(super::RedisServer::start())).await;
                }
            )*
        }
    };
}

conformance!(
    create_join_and_exchange_messages,
    join_retries_keep_the_slot_and_replace_the_token,
    payloads_are_idempotent_counted_and_tombstoned,
    denied_and_left_slots,
    burned_and_done_rooms,
    caps_refuse_without_evicting,
    nameplates_stay_unique_while_cooling_down,
    everything_expires,
    long_polls_wake_up_on_changes,
    twenty_concurrent_joins_for_the_last_slot_one_wins,
    mailboxes_take_drops_list_and_deliver_once,
    mailboxes_expire_and_are_bounded,
);

fn room(id: u8, receivers: u8, code_ttl: Duration) -> NewRoom {
    NewRoom {
        id: [id; 16],
        sender_token: [id; 32],
        nonce: [id ^ 0x55; 32],
        receivers,
        code_ttl,
    }
}

fn sender(info: &RoomInfo) -> Caller {
    Caller {
        room: info.room,
        // `room()` makes the sender token hash from the id byte.
        token: [info.room[0]; 32],
    }
}

fn receiver(info: &RoomInfo, token: u8) -> Caller {
    Caller {
        room: info.room,
        token: [token; 32],
    }
}

fn join(nameplate: u16, join_id: u8, token: u8) -> Join {
    Join {
        nameplate,
        join_id: [join_id; 32],
        token: [token; 32],
    }
}

const MIN: Duration = Duration::from_secs(60);
const NOW: Duration = Duration::ZERO;

async fn create_join_and_exchange_messages<B: Backend>(b: &B) {
    let s = b.store(limits()).await;
    let info = s.create_room(room(1, 2, MIN)).await.unwrap();
    assert_eq!(info.slot, 0);
    assert!((1..=9999).contains(&info.nameplate));
    assert!(info.payload_expires >= info.expires);
    let snd = sender(&info);

    assert_eq!(s.slots(snd, 0, NOW).await.unwrap(), Vec::<u8>::new());
    let r = s.join(join(info.nameplate, 7, 70)).await.unwrap();
    assert_eq!((r.room, r.slot, r.nonce), (info.room, 1, info.nonce));
    assert_eq!(r.nameplate, info.nameplate);
    let rcv = receiver(&info, 70);
    assert_eq!(s.slots(snd, 0, NOW).await.unwrap(), vec![1]);
    assert_eq!(s.slots(snd, 1, NOW).await.unwrap(), Vec::<u8>::new());

    // Messages: each side writes its own direction, reads the other.
    let put = |c, dir, seq, m: &[u8]| s.put_message(c, 1, dir, seq, m.to_vec());
    assert_eq!(
        put(rcv, Dir::ToSender, 0, b"pake R").await,
        Ok(Written::Created)
    );
    assert_eq!(
        put(rcv, Dir::ToSender, 0, b"pake R").await,
        Ok(Written::Same)
    );
    assert_eq!(
        put(rcv, Dir::ToSender, 0, b"other").await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        put(snd, Dir::ToReceiver, 0, b"pake S").await,
        Ok(Written::Created)
    );
    assert_eq!(
        put(rcv, Dir::ToReceiver, 1, b"x").await,
        Err(StoreError::Forbidden)
    );
    assert_eq!(
        put(snd, Dir::ToSender, 1, b"x").await,
        Err(StoreError::Forbidden)
    );
    let get = |c, dir, seq| s.get_message(c, 1, dir, seq, NOW);
    assert_eq!(
        get(snd, Dir::ToSender, 0).await.unwrap(),
        Some(b"pake R".to_vec())
    );
    assert_eq!(
        get(rcv, Dir::ToReceiver, 0).await.unwrap(),
        Some(b"pake S".to_vec())
    );
    assert_eq!(get(rcv, Dir::ToReceiver, 1).await.unwrap(), None);
    assert_eq!(get(rcv, Dir::ToSender, 0).await, Err(StoreError::Forbidden));
    // Another slot, a slot not taken, a wrong token, an unknown room or nameplate.
    assert_eq!(
        s.get_message(snd, 2, Dir::ToSender, 0, NOW).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.get_message(rcv, 2, Dir::ToReceiver, 0, NOW).await,
        Err(StoreError::Forbidden)
    );
    assert_eq!(
        get(receiver(&info, 99), Dir::ToReceiver, 0).await,
        Err(StoreError::Unauthorized)
    );
    let unknown = Caller {
        room: [0xee; 16],
        token: [1; 32],
    };
    assert_eq!(s.slots(unknown, 0, NOW).await, Err(StoreError::NotFound));
    let other = if info.nameplate == 9999 {
        9998
    } else {
        info.nameplate + 1
    };
    assert_eq!(
        s.join(join(other, 1, 2)).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(s.slots(rcv, 0, NOW).await, Err(StoreError::Forbidden));
    assert!(s.ready().await);
    assert_eq!(s.stats().await.rooms, 1);
}

async fn join_retries_keep_the_slot_and_replace_the_token<B: Backend>(b: &B) {
    let s = b.store(limits()).await;
    let info = s.create_room(room(2, 2, MIN)).await.unwrap();
    let first = s.join(join(info.nameplate, 1, 10)).await.unwrap();
    let again = s.join(join(info.nameplate, 1, 11)).await.unwrap();
    assert_eq!((first.slot, again.slot), (1, 1));
    // The lost answer's token no longer works; the new one does.
    assert_eq!(
        s.put_message(receiver(&info, 10), 1, Dir::ToSender, 0, b"m".to_vec())
            .await,
        Err(StoreError::Unauthorized)
    );
    assert_eq!(
        s.put_message(receiver(&info, 11), 1, Dir::ToSender, 0, b"m".to_vec())
            .await,
        Ok(Written::Created)
    );
    let second = s.join(join(info.nameplate, 2, 20)).await.unwrap();
    assert_eq!(second.slot, 2);
    assert_eq!(
        s.join(join(info.nameplate, 3, 30)).await.unwrap_err(),
        StoreError::RoomFull
    );
    // A retry of a slot already there still answers, room full or not.
    assert_eq!(s.join(join(info.nameplate, 2, 21)).await.unwrap().slot, 2);
    assert_eq!(s.slots(sender(&info), 0, NOW).await.unwrap(), vec![1, 2]);
}

async fn payloads_are_idempotent_counted_and_tombstoned<B: Backend>(b: &B) {
    let s = b.store(limits()).await;
    let info = s.create_room(room(3, 1, MIN)).await.unwrap();
    s.join(join(info.nameplate, 1, 10)).await.unwrap();
    let (snd, rcv) = (sender(&info), receiver(&info, 10));
    let big = vec![0xa5; 1 << 20];
    assert_eq!(
        s.put_payload(snd, 1, [1; 16], big.clone()).await,
        Ok(Written::Created)
    );
    assert_eq!(
        s.put_payload(snd, 1, [1; 16], big.clone()).await,
        Ok(Written::Same)
    );
    assert_eq!(
        s.put_payload(snd, 1, [1; 16], b"other".to_vec()).await,
        Err(StoreError::Conflict)
    );
    assert_eq!(
        s.put_payload(rcv, 1, [9; 16], b"x".to_vec()).await,
        Err(StoreError::Forbidden)
    );
    s.put_payload(snd, 1, [2; 16], b"second".to_vec())
        .await
        .unwrap();
    s.put_payload(snd, 1, [3; 16], b"third".to_vec())
        .await
        .unwrap();
    assert_eq!(
        s.put_payload(snd, 1, [4; 16], b"fourth".to_vec()).await,
        Err(StoreError::TooManyPayloads)
    );
    assert_eq!(
        s.get_payload(snd, 1, NOW).await.unwrap_err(),
        StoreError::Forbidden
    );
    // Oldest first; delivery leaves a tombstone.
    let p = s.get_payload(rcv, 1, NOW).await.unwrap().unwrap();
    assert_eq!((p.id, p.bytes.len()), ([1; 16], 1 << 20));
    assert_eq!(
        s.payload_state(snd, 1, [1; 16]).await.unwrap().0,
        PayloadState::Stored
    );
    assert!(s.delete_payload(rcv, 1, [1; 16]).await.unwrap());
    assert!(!s.delete_payload(rcv, 1, [1; 16]).await.unwrap());
    assert!(!s.delete_payload(rcv, 1, [8; 16]).await.unwrap());
    let (state, expires) = s.payload_state(snd, 1, [1; 16]).await.unwrap();
    assert_eq!(
        (state, expires),
        (PayloadState::Delivered, info.payload_expires)
    );
    assert_eq!(
        s.payload_state(snd, 1, [8; 16]).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        s.payload_state(rcv, 1, [1; 16]).await.unwrap_err(),
        StoreError::Forbidden
    );
    // A retried PUT of a delivered payload is still recognised, and still counts.
    assert_eq!(s.put_payload(snd, 1, [1; 16], big).await, Ok(Written::Same));
    assert_eq!(
        s.put_payload(snd, 1, [4; 16], b"fourth".to_vec()).await,
        Err(StoreError::TooManyPayloads)
    );
    let p = s.get_payload(rcv, 1, NOW).await.unwrap().unwrap();
    assert_eq!((p.id, p.bytes), ([2; 16], b"second".to_vec()));
}

async fn denied_and_left_slots<B: Backend>(b: &B) {
    let s = b.store(limits()).await;
    let info = s.create_room(room(4, 3, MIN)).await.unwrap();
    s.join(join(info.nameplate, 1, 10)).await.unwrap();
    s.join(join(info.nameplate, 2, 20)).await.unwrap();
    let snd = sender(&info);
    let (r1, r2) = (receiver(&info, 10), receiver(&info, 20));
    s.put_payload(snd, 2, [1; 16], b"p".to_vec()).await.unwrap();
    assert_eq!(s.delete_slot(r1, 2).await, Err(StoreError::Forbidden));
    // The sender denies slot 1: its receiver is told, a join retry too.
    s.delete_slot(snd, 1).await.unwrap();
    s.delete_slot(snd, 1).await.unwrap();
    assert_eq!(
        s.get_message(r1, 1, Dir::ToReceiver, 0, NOW).await,
        Err(StoreError::Denied)
    );
    assert_eq!(
        s.join(join(info.nameplate, 1, 11)).await.unwrap_err(),
        StoreError::Denied
    );
    // Receiver 2 takes its payload and leaves: gone for it, delivered for the sender.
    s.get_payload(r2, 2, NOW).await.unwrap().unwrap();
    s.delete_payload(r2, 2, [1; 16]).await.unwrap();
    s.delete_slot(r2, 2).await.unwrap();
    assert_eq!(
        s.get_payload(r2, 2, NOW).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        s.payload_state(snd, 2, [1; 16]).await.unwrap().0,
        PayloadState::Delivered
    );
    assert_eq!(
        s.join(join(info.nameplate, 2, 21)).await.unwrap_err(),
        StoreError::NotFound
    );
    // The denied and left slots still count: the third is the last.
    assert_eq!(s.join(join(info.nameplate, 3, 30)).await.unwrap().slot, 3);
    assert_eq!(s.slots(snd, 0, NOW).await.unwrap(), vec![1, 2, 3]);
}

async fn burned_and_done_rooms<B: Backend>(b: &B) {
    let mut l = limits();
    l.max_rooms = 2;
    let s = b.store(l).await;
    let burned = s.create_room(room(5, 2, MIN)).await.unwrap();
    s.join(join(burned.nameplate, 1, 10)).await.unwrap();
    let rcv = receiver(&burned, 10);
    assert_eq!(
        s.delete_room(rcv, Reason::Burned).await,
        Err(StoreError::Forbidden)
    );
    assert_eq!(
        s.delete_room(receiver(&burned, 99), Reason::Burned).await,
        Err(StoreError::Unauthorized)
    );
    s.delete_room(sender(&burned), Reason::Burned)
        .await
        .unwrap();
    s.delete_room(sender(&burned), Reason::Burned)
        .await
        .unwrap();
    assert_eq!(
        s.get_message(rcv, 1, Dir::ToReceiver, 0, NOW).await,
        Err(StoreError::Burned)
    );
    assert_eq!(
        s.slots(sender(&burned), 0, NOW).await,
        Err(StoreError::Burned)
    );
    assert_eq!(
        s.join(join(burned.nameplate, 2, 20)).await.unwrap_err(),
        StoreError::Burned
    );
    assert_eq!(
        s.get_message(receiver(&burned, 99), 1, Dir::ToReceiver, 0, NOW)
            .await,
        Err(StoreError::Unauthorized)
    );

    // Done: the room is gone (404), and no longer counts against the room bound.
    let done = s.create_room(room(6, 1, MIN)).await.unwrap();
    assert_eq!(
        s.create_room(room(7, 1, MIN)).await.unwrap_err(),
        StoreError::Full("rooms")
    );
    s.delete_room(sender(&done), Reason::Done).await.unwrap();
    s.delete_room(sender(&done), Reason::Done).await.unwrap();
    assert_eq!(
        s.slots(sender(&done), 0, NOW).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.join(join(done.nameplate, 1, 10)).await.unwrap_err(),
        StoreError::NotFound
    );
    s.create_room(room(7, 1, MIN)).await.unwrap();
}

async fn caps_refuse_without_evicting<B: Backend>(b: &B) {
    let mut l = limits();
    l.max_rooms = 3;
    let s = b.store(l).await;
    let mut rooms = Vec::new();
    for i in 0..3 {
        rooms.push(s.create_room(room(10 + i, 1, MIN)).await.unwrap());
    }
    assert_eq!(
        s.create_room(room(20, 1, MIN)).await.unwrap_err(),
        StoreError::Full("rooms")
    );
    // Every live room still works.
    for info in &rooms {
        assert_eq!(
            s.join(join(info.nameplate, 1, 1)).await.unwrap().room,
            info.room
        );
    }
    assert_eq!(s.stats().await.rooms, 3);
}

async fn nameplates_stay_unique_while_cooling_down<B: Backend>(b: &B) {
    let s = b.store(limits()).await;
    let code = Duration::from_secs(1);
    let mut old = HashSet::new();
    for i in 0..4 {
        let info = s.create_room(room(30 + i, 1, code)).await.unwrap();
        assert!(old.insert(info.nameplate), "nameplate reused while live");
    }
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The codes expired: they no longer join, and their nameplates cool down for as
    // long again. With four cooling, a store that forgot them would draw from 1..=9 and
    // almost surely hand one out again.
    for np in &old {
        assert_eq!(
            s.join(join(*np, 1, 1)).await.unwrap_err(),
            StoreError::NotFound
        );
    }
    for i in 0..4 {
        let info = s.create_room(room(40 + i, 1, MIN)).await.unwrap();
        assert!(
            old.insert(info.nameplate),
            "nameplate {} reused during its cooldown",
            info.nameplate
        );
    }
}

async fn everything_expires<B: Backend>(b: &B) {
    let mut l = limits();
    l.payload_ttl = Duration::from_secs(2);
    let s = b.store(l).await;
    let info = s
        .create_room(room(50, 1, Duration::from_secs(1)))
        .await
        .unwrap();
    s.join(join(info.nameplate, 1, 10)).await.unwrap();
    let rcv = receiver(&info, 10);
    s.put_payload(sender(&info), 1, [1; 16], b"p".to_vec())
        .await
        .unwrap();
    s.put_message(rcv, 1, Dir::ToSender, 0, b"m".to_vec())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The code expired: no more joins; the room itself lives on.
    assert_eq!(
        s.join(join(info.nameplate, 2, 20)).await.unwrap_err(),
        StoreError::NotFound
    );
    assert!(s.get_payload(rcv, 1, NOW).await.unwrap().is_some());
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(
        s.get_payload(rcv, 1, NOW).await.unwrap_err(),
        StoreError::NotFound
    );
    assert_eq!(
        s.slots(sender(&info), 0, NOW).await.unwrap_err(),
        StoreError::NotFound
    );
    let swept = s.sweep().await;
    if let Some(redis) = b.redis() {
        // Redis expires every key itself: nothing left, no sweeper needed.
        assert_eq!(swept.rooms, 0);
        let deadline = Instant::now() + BOUND;
        while redis.dbsize() != 0 {
            assert!(Instant::now() < deadline, "keys left: {}", redis.dbsize());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        assert_eq!(swept.rooms, 1);
        assert_eq!(s.stats().await.rooms, 0);
    }
}

async fn long_polls_wake_up_on_changes<B: Backend>(b: &B) {
    let s = Arc::new(b.store(limits()).await);
    let info = s.create_room(room(60, 1, MIN)).await.unwrap();
    let snd = sender(&info);
    // Nothing comes: the wait runs out and answers nothing.
    let start = Instant::now();
    assert_eq!(
        s.get_message(snd, 1, Dir::ToSender, 0, Duration::from_millis(1200))
            .await,
        Err(StoreError::NotFound),
        "no slot 1 yet"
    );
    assert!(start.elapsed() < Duration::from_millis(500));
    let start = Instant::now();
    assert_eq!(
        s.slots(snd, 0, Duration::from_millis(1200)).await.unwrap(),
        Vec::<u8>::new()
    );
    assert!(start.elapsed() >= Duration::from_millis(1200));
    assert!(start.elapsed() < BOUND);

    // A join wakes the sender's slot poll, a message and a payload the receiver's: well
    // before the 1 s re-check of the Redis store, so the wake-up came through pub/sub.
    let waiter = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let r = s.slots(snd, 0, Duration::from_secs(8)).await;
            (r, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let joined_at = Instant::now();
    s.join(join(info.nameplate, 1, 10)).await.unwrap();
    let (r, woke) = waiter.await.unwrap();
    assert_eq!(r.unwrap(), vec![1]);
    assert!(
        woke - joined_at < Duration::from_millis(600),
        "woke {:?} after the join",
        woke - joined_at
    );
    let rcv = receiver(&info, 10);
    let waiter = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            let m = s
                .get_message(rcv, 1, Dir::ToReceiver, 3, Duration::from_secs(8))
                .await;
            let p = s.get_payload(rcv, 1, Duration::from_secs(8)).await;
            (m, p, Instant::now())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.put_message(snd, 1, Dir::ToReceiver, 3, b"hello".to_vec())
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    let put_at = Instant::now();
    s.put_payload(snd, 1, [1; 16], b"sealed".to_vec())
        .await
        .unwrap();
    let (m, p, woke) = waiter.await.unwrap();
    assert_eq!(m.unwrap(), Some(b"hello".to_vec()));
    assert_eq!(p.unwrap().unwrap().bytes, b"sealed".to_vec());
    assert!(woke - put_at < Duration::from_millis(600));

    // A burn wakes a waiting receiver with the news.
    let waiter = {
        let s = Arc::clone(&s);
        tokio::spawn(async move {
            s.get_message(rcv, 1, Dir::ToReceiver, 4, Duration::from_secs(8))
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    s.delete_room(snd, Reason::Burned).await.unwrap();
    let r = tokio::time::timeout(Duration::from_secs(2), waiter)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(r, Err(StoreError::Burned));
}

async fn twenty_concurrent_joins_for_the_last_slot_one_wins<B: Backend>(b: &B) {
    let s = Arc::new(b.store(limits()).await);
    let info = s.create_room(room(70, 3, MIN)).await.unwrap();
    s.join(join(info.nameplate, 1, 10)).await.unwrap();
    s.join(join(info.nameplate, 2, 20)).await.unwrap();
    let start = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20u8)
        .map(|i| {
            let (s, start) = (Arc::clone(&s), Arc::clone(&start));
            tokio::spawn(async move {
                start.wait().await;
                s.join(join(info.nameplate, 100 + i, 100 + i)).await
            })
        })
        .collect();
    let mut won = Vec::new();
    let mut full = 0;
    for t in tasks {
        match tokio::time::timeout(BOUND, t).await.unwrap().unwrap() {
            Ok(r) => won.push(r.slot),
            Err(StoreError::RoomFull) => full += 1,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!((won, full), (vec![3], 19));
    assert_eq!(s.slots(sender(&info), 0, NOW).await.unwrap(), vec![1, 2, 3]);
}

/// Redis only: an outage is `Unavailable` (503) and `ready()` false, never a panic; after
/// a restart without persistence the store answers again on its own, and the lost room
/// is `NotFound`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_outage_is_unavailable_then_the_lost_room_is_not_found() {
    let mut server = RedisServer::start();
    let s = RedisStore::connect(&server.url(), limits()).await.unwrap();
    let info = s.create_room(room(80, 1, MIN)).await.unwrap();
    assert!(s.ready().await);
    server.kill();
    assert!(!s.ready().await);
    assert_eq!(
        s.slots(sender(&info), 0, NOW).await,
        Err(StoreError::Unavailable)
    );
    assert_eq!(
        s.create_room(room(81, 1, MIN)).await.unwrap_err(),
        StoreError::Unavailable
    );
    // A long-poll during the outage fails too, within its bound.
    let start = Instant::now();
    assert_eq!(
        s.get_message(sender(&info), 1, Dir::ToSender, 0, Duration::from_secs(2))
            .await,
        Err(StoreError::Unavailable)
    );
    assert!(start.elapsed() < BOUND);
    server.restart();
    let deadline = Instant::now() + BOUND;
    while !s.ready().await {
        assert!(Instant::now() < deadline, "the store did not reconnect");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        s.slots(sender(&info), 0, NOW).await,
        Err(StoreError::NotFound)
    );
    assert_eq!(
        s.join(join(info.nameplate, 1, 1)).await.unwrap_err(),
        StoreError::NotFound
    );
    let again = s.create_room(room(82, 1, MIN)).await.unwrap();
    s.join(join(again.nameplate, 1, 10)).await.unwrap();
}

/// A mailbox registered by its owner (token hash `[1; 32]`, drop hash `[2; 32]`) takes
/// drops by the drop token only, lists what waits (oldest first, long-polling while
/// nothing does), hands each message to the owner only, and a delivered message's id is
/// remembered: a retried drop does not deliver it twice.
async fn mailboxes_take_drops_list_and_deliver_once<B: Backend>(b: &B) {
    let s = Arc::new(b.store(limits()).await);
    let (mbox, owner, drop) = ([7u8; 16], [1u8; 32], [2u8; 32]);
    let (w, expires) = s.register_mailbox(mbox, owner, drop).await.unwrap();
    assert_eq!(w, Written::Created);
    assert!(expires > 0);
    // The owner again (a refresh, a new drop token); anyone else: a conflict.
    assert_eq!(
        s.register_mailbox(mbox, owner, drop).await.unwrap().0,
        Written::Same
    );
    assert_eq!(
        s.register_mailbox(mbox, [9; 32], drop).await.unwrap_err(),
        StoreError::Conflict
    );
    // Nothing yet: the long-poll waits, then a drop wakes it.
    let waiter = {
        let s = Arc::clone(&s);
        tokio::spawn(async move { s.list_messages(mbox, owner, BOUND).await })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        s.drop_message(mbox, drop, [1; 16], b"first".to_vec())
            .await
            .unwrap(),
        Written::Created
    );
    let woke = tokio::time::timeout(BOUND, waiter)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(woke.len(), 1);
    assert_eq!((woke[0].id, woke[0].size), ([1; 16], 5));
    s.drop_message(mbox, drop, [2; 16], b"second".to_vec())
        .await
        .unwrap();
    // Rights: the owner cannot drop, the dropper cannot read, strangers nothing.
    assert_eq!(
        s.drop_message(mbox, owner, [3; 16], b"x".to_vec())
            .await
            .unwrap_err(),
        StoreError::Unauthorized
    );
    assert_eq!(
        s.list_messages(mbox, drop, NOW).await.unwrap_err(),
        StoreError::Unauthorized
    );
    assert_eq!(
        s.read_message(mbox, drop, [1; 16]).await.unwrap_err(),
        StoreError::Unauthorized
    );
    assert_eq!(
        s.list_messages([8; 16], owner, NOW).await.unwrap_err(),
        StoreError::NotFound
    );
    // Retries: the same bytes are the same message; other bytes at that id a conflict.
    assert_eq!(
        s.drop_message(mbox, drop, [1; 16], b"first".to_vec())
            .await
            .unwrap(),
        Written::Same
    );
    assert_eq!(
        s.drop_message(mbox, drop, [1; 16], b"other".to_vec())
            .await
            .unwrap_err(),
        StoreError::Conflict
    );
    let ids: Vec<[u8; 16]> = s
        .list_messages(mbox, owner, NOW)
        .await
        .unwrap()
        .iter()
        .map(|m: &Waiting| m.id)
        .collect();
    assert_eq!(ids, [[1; 16], [2; 16]], "oldest first");
    assert_eq!(
        s.read_message(mbox, owner, [1; 16]).await.unwrap(),
        b"first"
    );
    s.delete_message(mbox, owner, [1; 16]).await.unwrap();
    s.delete_message(mbox, owner, [1; 16]).await.unwrap(); // idempotent
    assert_eq!(
        s.read_message(mbox, owner, [1; 16]).await.unwrap_err(),
        StoreError::NotFound
    );
    // Delivered: a retried drop is recognised, not delivered again.
    assert_eq!(
        s.drop_message(mbox, drop, [1; 16], b"first".to_vec())
            .await
            .unwrap(),
        Written::Same
    );
    let left = s.list_messages(mbox, owner, NOW).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].id, [2; 16]);
    // Deleted with everything in it; deleting again is done.
    s.delete_mailbox(mbox, owner).await.unwrap();
    s.delete_mailbox(mbox, owner).await.unwrap();
    assert_eq!(
        s.drop_message(mbox, drop, [4; 16], b"late".to_vec())
            .await
            .unwrap_err(),
        StoreError::NotFound
    );
}

/// A mailbox holds at most `max_mailbox_messages` (3 here) and refuses more rather than
/// drop any; messages go after their TTL and mailboxes after theirs, and with Redis
/// nothing at all is left.
async fn mailboxes_expire_and_are_bounded<B: Backend>(b: &B) {
    let mut l = limits();
    l.mailbox_message_ttl = Duration::from_secs(1);
    l.mailbox_ttl = Duration::from_secs(3);
    let s = b.store(l).await;
    let (mbox, owner, drop) = ([5u8; 16], [1u8; 32], [2u8; 32]);
    s.register_mailbox(mbox, owner, drop).await.unwrap();
    for n in 1..=3u8 {
        s.drop_message(mbox, drop, [n; 16], vec![n]).await.unwrap();
    }
    assert_eq!(
        s.drop_message(mbox, drop, [4; 16], vec![4])
            .await
            .unwrap_err(),
        StoreError::MailboxFull
    );
    assert_eq!(s.list_messages(mbox, owner, NOW).await.unwrap().len(), 3);
    tokio::time::sleep(Duration::from_millis(1300)).await;
    // Expired messages are gone, and their places free.
    assert!(s.list_messages(mbox, owner, NOW).await.unwrap().is_empty());
    s.drop_message(mbox, drop, [4; 16], vec![4]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(2000)).await;
    assert_eq!(
        s.list_messages(mbox, owner, NOW).await.unwrap_err(),
        StoreError::NotFound
    );
    s.sweep().await;
    if let Some(redis) = b.redis() {
        let deadline = Instant::now() + BOUND;
        while redis.dbsize() != 0 {
            assert!(Instant::now() < deadline, "keys left: {}", redis.dbsize());
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    } else {
        assert_eq!(
            s.stats().await.bytes,
            0,
            "everything given back to the budget"
        );
    }
}
