//! The Redis store: several relay instances share one Redis, so any instance serves any
//! call (docs/RELAY.md §4, §9).
//!
//! - **One script per call.** Every store call is one Lua script (`super::lua`), run with
//!   EVALSHA (EVAL when Redis answers NOSCRIPT, e.g. after a restart): a join, a claim, a
//!   payload delivery is one atomic step in Redis, never a GET then a DEL from here.
//! - **Keys.** A room is one hash, `hush:room:{HEX}`: its hash tag keeps it in one slot
//!   of a Redis Cluster, and its `PEXPIREAT` drops all of it at once. The nameplate
//!   directory (nameplate → room, the nameplates cooling down, the live-room count) sits
//!   under one fixed tag, `hush:{np}:*`, so allocating a nameplate is one atomic script in
//!   one slot. Creating a room then touches two slots in two scripts: the directory first
//!   (allocation), then the room; if the second fails, a third script frees the
//!   allocation (and if that fails too, the entries expire on their own: the nameplate
//!   after its cooldown, the count entry at the room's expiry). Until the room exists,
//!   a join on its nameplate answers 404, which is right: nobody was told the nameplate
//!   yet. The fixed tag makes the directory one Cluster slot's load; it holds a few
//!   bytes per room and sees two short scripts per pairing.
//! - **TTLs.** Every key gets a `PEXPIRE`: when everything expired, Redis holds nothing
//!   (`DBSIZE` 0) without a sweeper, so [`Store::sweep`] does nothing here.
//! - **Long-polls.** One subscriber connection per relay process (`PSUBSCRIBE
//!   hush:room:*`) fans wake-ups out to the local waiters of each room. A wake-up is only
//!   a hint: the waiter runs its script again, and it also re-checks every
//!   [`RECHECK`], so a message lost with a dropped connection costs a second, not a
//!   wake-up. Every relay receives every room's wake-ups (empty messages): per-room
//!   SUBSCRIBE would save that traffic at the price of a command per long-poll.
//! - **Failures.** The connection manager reconnects on its own; a failed call is
//!   [`StoreError::Unavailable`] (503 with `Retry-After`), a Redis out of memory is
//!   [`StoreError::Full`] — never a panic. A Redis restarted without persistence has lost
//!   its rooms: every call on them answers 404 `not_found`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Script, Value};
use sha2::{Digest as _, Sha256};
use tokio::sync::watch;
use tokio::time::Instant;

use super::lua::Scripts;
use super::{
    Caller, Dir, Hash, Join, MailboxId, NewRoom, Payload, PayloadId, PayloadState, Reason, RoomId,
    RoomInfo, Stats, Store, StoreError, Swept, Waiting, Written,
};
use crate::config::Limits;

/// A long-poll looks again at least this often, whatever pub/sub says.
pub const RECHECK: Duration = Duration::from_secs(1);
/// Longest wait for one Redis call: past it the call is `Unavailable`.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// Between two attempts of the subscriber to (re)connect.
const RESUBSCRIBE_PAUSE: Duration = Duration::from_millis(500);
/// How often the subscriber checks its connection (a silent one would stay stale).
const SUBSCRIBER_PING: Duration = Duration::from_secs(10);

const DIR_MAP: &str = "hush:{np}:map";
const DIR_USED: &str = "hush:{np}:used";
const DIR_ROOMS: &str = "hush:{np}:rooms";
/// Keys (and pub/sub channels) of rooms start with this, then `{HEX}`.
const ROOM_PREFIX: &str = "hush:room:";
/// Keys (and channels) of mailboxes start with this, then `{HEX}`.
const MAILBOX_PREFIX: &str = "hush:mbox:";

/// Why the Redis store could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RedisSetupError {
    /// The URL is neither `redis://` nor `rediss://`, or does not parse.
    #[error("the Redis URL must be redis://HOST[:PORT][/DB] or rediss://… (TLS)")]
    BadUrl,
    /// Redis could not be reached, or its TLS certificate was not trusted.
    #[error("cannot reach Redis: {0}")]
    Unreachable(String),
}

/// The Redis store. Cheap to share: the connection manager multiplexes every call.
pub struct RedisStore {
    conn: ConnectionManager,
    limits: Limits,
    scripts: Arc<Scripts>,
    hub: Arc<Hub>,
    subscriber: tokio::task::JoinHandle<()>,
}

impl Drop for RedisStore {
    fn drop(&mut self) {
        self.subscriber.abort();
    }
}

impl RedisStore {
    /// Connects to Redis at `url` (`redis://` or `rediss://`, TLS through rustls with the
    /// system's roots) and starts the subscriber. Fails when Redis does not answer now;
    /// later outages are survived (calls fail with `Unavailable` until it is back).
    pub async fn connect(url: &str, limits: Limits) -> Result<Self, RedisSetupError> {
        if !(url.starts_with("redis://") || url.starts_with("rediss://")) {
            return Err(RedisSetupError::BadUrl);
        }
        // The URL may hold a password: it is never logged, and neither is the parse error.
        let client = redis::Client::open(url).map_err(|_| RedisSetupError::BadUrl)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(CALL_TIMEOUT))
            .set_response_timeout(Some(CALL_TIMEOUT))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let conn = tokio::time::timeout(
            CALL_TIMEOUT * 2,
            ConnectionManager::new_with_config(client.clone(), config),
        )
        .await
        .map_err(|_| RedisSetupError::Unreachable("timed out".into()))?
        .map_err(|e| RedisSetupError::Unreachable(e.to_string()))?;
        let hub = Arc::new(Hub::default());
        let subscriber = tokio::spawn(subscribe(client, Arc::clone(&hub)));
        Ok(RedisStore {
            conn,
            limits,
            scripts: Arc::new(Scripts::new()),
            hub,
            subscriber,
        })
    }

    /// The farm-wide per-address counters on this store's Redis (joins, long-polls).
    pub fn farm_limits(&self) -> FarmLimits {
        FarmLimits {
            conn: self.conn.clone(),
            scripts: Arc::clone(&self.scripts),
        }
    }

    /// Runs one script; a refusal (`{'E', code}`) becomes its `StoreError`, a success the
    /// values after the `'K'`.
    async fn run(
        &self,
        script: &Script,
        key: &str,
        args: &[&[u8]],
    ) -> Result<Vec<Value>, StoreError> {
        run(&self.conn, script, &[key], args).await
    }

    /// Runs `check` until it finds its item or `wait` passed: after every wake-up of the
    /// room's channel, and at least every [`RECHECK`].
    async fn wait_for<T, F, Fut>(
        &self,
        room: RoomId,
        wait: Duration,
        mut check: F,
    ) -> Result<Option<T>, StoreError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, StoreError>>,
    {
        let deadline = Instant::now() + wait;
        // Subscribed before the first check, so a change between the check and the wait
        // is seen.
        let mut sub = self.hub.subscribe(room);
        loop {
            sub.rx.borrow_and_update();
            if let Some(found) = check().await? {
                return Ok(Some(found));
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(None);
            }
            let next = deadline.min(now + RECHECK);
            // Either a wake-up or the periodic re-check: look again either way.
            let _ = tokio::time::timeout_at(next, sub.rx.changed()).await;
        }
    }
}

/// Runs a script on `conn` with a bounded time.
async fn run(
    conn: &ConnectionManager,
    script: &Script,
    keys: &[&str],
    args: &[&[u8]],
) -> Result<Vec<Value>, StoreError> {
    let mut inv = script.prepare_invoke();
    for k in keys {
        inv.key(*k);
    }
    for a in args {
        inv.arg(*a);
    }
    let mut conn = conn.clone();
    let value = match tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async::<Value>(&mut conn)).await
    {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(redis_failure(&e)),
        Err(_) => {
            tracing::warn!(store = "redis", "a Redis call timed out");
            return Err(StoreError::Unavailable);
        }
    };
    let Value::Array(mut items) = value else {
        return Err(malformed());
    };
    if items.is_empty() {
        return Err(malformed());
    }
    let status = items.remove(0);
    match bytes(&status).as_deref() {
        Some(b"K") => Ok(items),
        Some(b"E") => Err(refusal(items.first().and_then(bytes).as_deref())),
        _ => Err(malformed()),
    }
}

/// A Redis error: out of memory (`maxmemory` with `noeviction`) is a full relay; anything
/// else (down, timeout, restarted) is unavailable. Logged without keys or values.
fn redis_failure(e: &redis::RedisError) -> StoreError {
    if e.code() == Some("OOM") {
        tracing::warn!(store = "redis", "Redis is out of memory");
        return StoreError::Full("Redis memory");
    }
    tracing::warn!(store = "redis", error_kind = ?e.kind(), "a Redis call failed");
    StoreError::Unavailable
}

fn malformed() -> StoreError {
    tracing::error!(store = "redis", "a script answered something unexpected");
    StoreError::Unavailable
}

/// A script's refusal code as the store's error.
fn refusal(code: Option<&[u8]>) -> StoreError {
    match code {
        Some(b"not_found") => StoreError::NotFound,
        Some(b"unauthorized") => StoreError::Unauthorized,
        Some(b"forbidden") => StoreError::Forbidden,
        Some(b"room_full") => StoreError::RoomFull,
        Some(b"conflict") => StoreError::Conflict,
        Some(b"too_many") => StoreError::TooManyPayloads,
        Some(b"mailbox_full") => StoreError::MailboxFull,
        Some(b"burned") => StoreError::Burned,
        Some(b"denied") => StoreError::Denied,
        Some(b"full:rooms") => StoreError::Full("rooms"),
        Some(b"full:nameplates") => StoreError::Full("nameplates"),
        _ => malformed(),
    }
}

fn bytes(v: &Value) -> Option<Vec<u8>> {
    match v {
        Value::BulkString(b) => Some(b.clone()),
        Value::SimpleString(s) => Some(s.clone().into_bytes()),
        Value::Int(i) => Some(i.to_string().into_bytes()),
        _ => None,
    }
}

fn int(v: Option<&Value>) -> Result<u64, StoreError> {
    match v {
        Some(Value::Int(i)) => u64::try_from(*i).map_err(|_| malformed()),
        Some(Value::BulkString(b)) => std::str::from_utf8(b)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(malformed),
        _ => Err(malformed()),
    }
}

fn fixed<const N: usize>(v: Option<&Value>) -> Result<[u8; N], StoreError> {
    v.and_then(bytes)
        .and_then(|b| b.try_into().ok())
        .ok_or_else(malformed)
}

/// Unix seconds, rounded up, from Redis' milliseconds (as the in-memory store rounds).
fn secs(ms: u64) -> u64 {
    ms.div_ceil(1000)
}

fn ms(d: Duration) -> Vec<u8> {
    d.as_millis().to_string().into_bytes()
}

fn room_key(room: &RoomId) -> String {
    format!("{ROOM_PREFIX}{{{}}}", hex::encode(room))
}

fn mailbox_key(id: &MailboxId) -> String {
    format!("{MAILBOX_PREFIX}{{{}}}", hex::encode(id))
}

fn num(n: impl ToString) -> Vec<u8> {
    n.to_string().into_bytes()
}

fn dir_code(dir: Dir) -> &'static [u8] {
    match dir {
        Dir::ToSender => b"s",
        Dir::ToReceiver => b"r",
    }
}

/// The room info a join script answers: slot, nameplate, nonce, joins until, expires.
fn joined_info(room: RoomId, v: &[Value]) -> Result<RoomInfo, StoreError> {
    let slot = u8::try_from(int(v.first())?).map_err(|_| malformed())?;
    let nameplate = u16::try_from(int(v.get(1))?).map_err(|_| malformed())?;
    Ok(RoomInfo {
        room,
        nameplate,
        slot,
        nonce: fixed(v.get(2))?,
        expires: secs(int(v.get(3))?),
        payload_expires: secs(int(v.get(4))?),
    })
}

impl Store for RedisStore {
    async fn create_room(&self, new: NewRoom) -> Result<RoomInfo, StoreError> {
        let hex_id = hex::encode(new.id);
        // The draws for the nameplate: random numbers from here, because a script's own
        // math.random is seeded the same way on every call.
        let mut draws = [0u8; 33 * 4];
        getrandom::fill(&mut draws).map_err(|_| StoreError::Unavailable)?;
        let draws: Vec<Vec<u8>> = draws
            .chunks_exact(4)
            .map(|c| num(u32::from_le_bytes([c[0], c[1], c[2], c[3]])))
            .collect();
        let code_ttl = ms(new.code_ttl);
        let payload_ttl = ms(self.limits.payload_ttl);
        let max_rooms = num(self.limits.max_rooms);
        let mut args: Vec<&[u8]> = vec![hex_id.as_bytes(), &code_ttl, &payload_ttl, &max_rooms];
        args.extend(draws.iter().map(Vec::as_slice));
        let dir = [DIR_MAP, DIR_USED, DIR_ROOMS];
        let v = run(&self.conn, &self.scripts.allocate, &dir, &args).await?;
        let nameplate = u16::try_from(int(v.first())?).map_err(|_| malformed())?;
        let (join_until, expires) = (int(v.get(1))?, int(v.get(2))?);
        let created = self
            .run(
                &self.scripts.create,
                &room_key(&new.id),
                &[
                    &new.sender_token,
                    &new.nonce,
                    &num(new.receivers),
                    &num(nameplate),
                    &num(join_until),
                    &num(expires),
                ],
            )
            .await;
        if let Err(e) = created {
            // Give the nameplate and the room's place back; if even that fails, both
            // expire on their own.
            let np = num(nameplate);
            let _ = run(
                &self.conn,
                &self.scripts.release,
                &dir,
                &[hex_id.as_bytes(), &np],
            )
            .await;
            return Err(match e {
                StoreError::NotFound => StoreError::Unavailable,
                e => e,
            });
        }
        Ok(RoomInfo {
            room: new.id,
            nameplate,
            slot: 0,
            nonce: new.nonce,
            expires: secs(join_until),
            payload_expires: secs(expires),
        })
    }

    async fn join(&self, join: Join) -> Result<RoomInfo, StoreError> {
        let np = num(join.nameplate);
        let v = run(&self.conn, &self.scripts.lookup, &[DIR_MAP], &[&np]).await?;
        let mut room: RoomId = [0; 16];
        let hex_room = v.first().and_then(bytes).ok_or_else(malformed)?;
        hex::decode_to_slice(&hex_room, &mut room).map_err(|_| malformed())?;
        let v = self
            .run(
                &self.scripts.join,
                &room_key(&room),
                &[&join.join_id, &join.token],
            )
            .await?;
        let info = joined_info(room, &v)?;
        if info.nameplate != join.nameplate {
            // The directory and the room disagree: not a room this nameplate may join.
            return Err(StoreError::NotFound);
        }
        Ok(info)
    }

    async fn slots(
        &self,
        caller: Caller,
        after: u8,
        wait: Duration,
    ) -> Result<Vec<u8>, StoreError> {
        let (key, after) = (&room_key(&caller.room), &num(after));
        self.wait_for(caller.room, wait, || async move {
            let v = self
                .run(&self.scripts.slots, key, &[&caller.token, after])
                .await?;
            let slots = v
                .iter()
                .map(|x| int(Some(x)).and_then(|n| u8::try_from(n).map_err(|_| malformed())))
                .collect::<Result<Vec<u8>, _>>()?;
            Ok((!slots.is_empty()).then_some(slots))
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
        let v = self
            .run(
                &self.scripts.put_message,
                &room_key(&caller.room),
                &[&caller.token, &num(slot), dir_code(dir), &num(seq), &msg],
            )
            .await?;
        written(v.first())
    }

    async fn get_message(
        &self,
        caller: Caller,
        slot: u8,
        dir: Dir,
        seq: u8,
        wait: Duration,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        let key = &room_key(&caller.room);
        let (slot, seq) = (&num(slot), &num(seq));
        self.wait_for(caller.room, wait, || async move {
            let v = self
                .run(
                    &self.scripts.get_message,
                    key,
                    &[&caller.token, slot, dir_code(dir), seq],
                )
                .await?;
            Ok(v.first().and_then(bytes))
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
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let max = num(self.limits.max_payloads_per_slot);
        let v = self
            .run(
                &self.scripts.put_payload,
                &room_key(&caller.room),
                &[&caller.token, &num(slot), &id, &digest, &bytes, &max],
            )
            .await?;
        written(v.first())
    }

    async fn get_payload(
        &self,
        caller: Caller,
        slot: u8,
        wait: Duration,
    ) -> Result<Option<Payload>, StoreError> {
        let (key, slot) = (&room_key(&caller.room), &num(slot));
        self.wait_for(caller.room, wait, || async move {
            let v = self
                .run(&self.scripts.get_payload, key, &[&caller.token, slot])
                .await?;
            if v.is_empty() {
                return Ok(None);
            }
            Ok(Some(Payload {
                id: fixed(v.first())?,
                bytes: v.get(1).and_then(bytes).ok_or_else(malformed)?,
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
        let v = self
            .run(
                &self.scripts.delete_payload,
                &room_key(&caller.room),
                &[&caller.token, &num(slot), &id],
            )
            .await?;
        Ok(int(v.first())? == 1)
    }

    async fn payload_state(
        &self,
        caller: Caller,
        slot: u8,
        id: PayloadId,
    ) -> Result<(PayloadState, u64), StoreError> {
        let v = self
            .run(
                &self.scripts.payload_state,
                &room_key(&caller.room),
                &[&caller.token, &num(slot), &id],
            )
            .await?;
        let state = match v.first().and_then(bytes).as_deref() {
            Some(b"stored") => PayloadState::Stored,
            Some(b"delivered") => PayloadState::Delivered,
            _ => return Err(malformed()),
        };
        Ok((state, secs(int(v.get(1))?)))
    }

    async fn delete_slot(&self, caller: Caller, slot: u8) -> Result<(), StoreError> {
        self.run(
            &self.scripts.delete_slot,
            &room_key(&caller.room),
            &[&caller.token, &num(slot)],
        )
        .await
        .map(drop)
    }

    async fn delete_room(&self, caller: Caller, reason: Reason) -> Result<(), StoreError> {
        let reason: &[u8] = match reason {
            Reason::Done => b"done",
            Reason::Burned => b"burned",
        };
        let v = self
            .run(
                &self.scripts.delete_room,
                &room_key(&caller.room),
                &[&caller.token, reason],
            )
            .await?;
        if v.first().and_then(bytes).as_deref() == Some(b"done") {
            // The room no longer counts against --max-rooms; its nameplate keeps cooling
            // down. Best effort: the count entry expires with the room's TTL anyway.
            let hex_id = hex::encode(caller.room);
            let dir = [DIR_MAP, DIR_USED, DIR_ROOMS];
            let _ = run(
                &self.conn,
                &self.scripts.release,
                &dir,
                &[hex_id.as_bytes(), b""],
            )
            .await;
        }
        Ok(())
    }

    async fn register_mailbox(
        &self,
        id: MailboxId,
        owner: Hash,
        drop: Hash,
    ) -> Result<(Written, u64), StoreError> {
        let ttl = ms(self.limits.mailbox_ttl);
        let v = self
            .run(
                &self.scripts.register_mailbox,
                &mailbox_key(&id),
                &[&owner, &drop, &ttl],
            )
            .await?;
        Ok((written(v.first())?, secs(int(v.get(1))?)))
    }

    async fn drop_message(
        &self,
        id: MailboxId,
        drop: Hash,
        message: PayloadId,
        bytes: Vec<u8>,
    ) -> Result<Written, StoreError> {
        let digest: [u8; 32] = Sha256::digest(&bytes).into();
        let max = num(self.limits.max_mailbox_messages);
        let ttl = ms(self.limits.mailbox_message_ttl);
        let v = self
            .run(
                &self.scripts.drop_message,
                &mailbox_key(&id),
                &[&drop, &message, &digest, &bytes, &max, &ttl],
            )
            .await?;
        written(v.first())
    }

    async fn list_messages(
        &self,
        id: MailboxId,
        owner: Hash,
        wait: Duration,
    ) -> Result<Vec<Waiting>, StoreError> {
        let key = &mailbox_key(&id);
        self.wait_for(id, wait, || async move {
            let v = self
                .run(&self.scripts.list_messages, key, &[&owner])
                .await?;
            let waiting = v
                .chunks(3)
                .map(|m| {
                    Ok(Waiting {
                        id: fixed(m.first())?,
                        size: usize::try_from(int(m.get(1))?).map_err(|_| malformed())?,
                        expires: secs(int(m.get(2))?),
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
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
        let v = self
            .run(
                &self.scripts.read_message,
                &mailbox_key(&id),
                &[&owner, &message],
            )
            .await?;
        v.first().and_then(bytes).ok_or_else(malformed)
    }

    async fn delete_message(
        &self,
        id: MailboxId,
        owner: Hash,
        message: PayloadId,
    ) -> Result<(), StoreError> {
        self.run(
            &self.scripts.delete_message,
            &mailbox_key(&id),
            &[&owner, &message],
        )
        .await
        .map(drop)
    }

    async fn delete_mailbox(&self, id: MailboxId, owner: Hash) -> Result<(), StoreError> {
        self.run(&self.scripts.delete_mailbox, &mailbox_key(&id), &[&owner])
            .await
            .map(drop)
    }

    async fn sweep(&self) -> Swept {
        // Redis expires every key itself (PEXPIRE on each): nothing to sweep here.
        Swept::default()
    }

    async fn stats(&self) -> Stats {
        let mut conn = self.conn.clone();
        // Rooms not yet expired by this process' clock (the set is pruned only when a
        // room is created; a gauge may be off by a clock skew's worth).
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis());
        let rooms = tokio::time::timeout(
            CALL_TIMEOUT,
            redis::cmd("ZCOUNT")
                .arg(DIR_ROOMS)
                .arg(format!("({now}"))
                .arg("+inf")
                .query_async::<usize>(&mut conn),
        )
        .await;
        let used = tokio::time::timeout(
            CALL_TIMEOUT,
            redis::cmd("INFO")
                .arg("memory")
                .query_async::<String>(&mut conn),
        )
        .await;
        // Redis' own used_memory stands for the store's bytes; payload bytes are not
        // counted separately in Redis (that would take a farm-wide counter per write).
        Stats {
            rooms: rooms.ok().and_then(Result::ok).unwrap_or(0),
            payload_bytes: 0,
            bytes: used
                .ok()
                .and_then(Result::ok)
                .and_then(|info| {
                    info.lines()
                        .find_map(|l| l.strip_prefix("used_memory:"))
                        .and_then(|n| n.trim().parse().ok())
                })
                .unwrap_or(0),
        }
    }

    async fn ready(&self) -> bool {
        let mut conn = self.conn.clone();
        matches!(
            tokio::time::timeout(
                CALL_TIMEOUT,
                redis::cmd("PING").query_async::<String>(&mut conn)
            )
            .await,
            Ok(Ok(_))
        )
    }
}

fn written(v: Option<&Value>) -> Result<Written, StoreError> {
    match v.and_then(bytes).as_deref() {
        Some(b"created") => Ok(Written::Created),
        Some(b"same") => Ok(Written::Same),
        _ => Err(malformed()),
    }
}

/// The local waiters of each room: a `watch` channel per room with waiters, poked by the
/// subscriber. Entries go when their last waiter does.
#[derive(Default)]
struct Hub {
    rooms: Mutex<HashMap<RoomId, Waiters>>,
}

struct Waiters {
    tx: watch::Sender<()>,
    count: usize,
}

struct Subscription<'a> {
    hub: &'a Hub,
    room: RoomId,
    rx: watch::Receiver<()>,
}

impl Hub {
    fn lock(&self) -> MutexGuard<'_, HashMap<RoomId, Waiters>> {
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn subscribe(&self, room: RoomId) -> Subscription<'_> {
        let mut rooms = self.lock();
        let w = rooms.entry(room).or_insert_with(|| Waiters {
            tx: watch::Sender::new(()),
            count: 0,
        });
        w.count += 1;
        let rx = w.tx.subscribe();
        Subscription {
            hub: self,
            room,
            rx,
        }
    }

    fn notify(&self, room: &RoomId) {
        if let Some(w) = self.lock().get(room) {
            w.tx.send_replace(());
        }
    }

    /// After a (re)subscription: messages may have been lost meanwhile.
    fn notify_all(&self) {
        for w in self.lock().values() {
            w.tx.send_replace(());
        }
    }
}

impl Drop for Subscription<'_> {
    fn drop(&mut self) {
        let mut rooms = self.hub.lock();
        if let Some(w) = rooms.get_mut(&self.room) {
            w.count -= 1;
            if w.count == 0 {
                rooms.remove(&self.room);
            }
        }
    }
}

/// The room (or mailbox) id in a channel name `hush:room:{HEX}` (`hush:mbox:{HEX}`). Both
/// kinds of waiters share the hub: ids are 16 random bytes, and a stray wake-up only makes
/// a waiter look again.
fn channel_room(channel: &str) -> Option<RoomId> {
    let hex_id = channel
        .strip_prefix(ROOM_PREFIX)
        .or_else(|| channel.strip_prefix(MAILBOX_PREFIX))?
        .strip_prefix('{')?
        .strip_suffix('}')?;
    let mut room = [0u8; 16];
    hex::decode_to_slice(hex_id, &mut room).ok()?;
    Some(room)
}

/// The subscriber: one pub/sub connection for the process, re-made whenever it drops,
/// for as long as the store lives (the task is aborted with it).
async fn subscribe(client: redis::Client, hub: Arc<Hub>) {
    loop {
        if let Err(e) = subscribe_once(&client, &hub).await {
            tracing::warn!(store = "redis", error_kind = ?e.kind(), "the Redis subscriber dropped");
        }
        // Whatever was published while not subscribed is lost: everyone looks again.
        hub.notify_all();
        tokio::time::sleep(RESUBSCRIBE_PAUSE).await;
    }
}

async fn subscribe_once(client: &redis::Client, hub: &Hub) -> redis::RedisResult<()> {
    let timed_out = || redis::RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
    let pubsub = tokio::time::timeout(CALL_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| timed_out())??;
    let (mut sink, mut stream) = pubsub.split();
    for prefix in [ROOM_PREFIX, MAILBOX_PREFIX] {
        tokio::time::timeout(CALL_TIMEOUT, sink.psubscribe(format!("{prefix}*")))
            .await
            .map_err(|_| timed_out())??;
    }
    hub.notify_all();
    let mut ping = tokio::time::interval(SUBSCRIBER_PING);
    ping.tick().await;
    loop {
        tokio::select! {
            msg = stream.next() => match msg {
                Some(msg) => {
                    if let Some(room) = channel_room(msg.get_channel_name()) {
                        hub.notify(&room);
                    }
                }
                None => return Ok(()),
            },
            _ = ping.tick() => {
                tokio::time::timeout(CALL_TIMEOUT, sink.ping::<Value>())
                    .await
                    .map_err(|_| timed_out())??;
            }
        }
    }
}

/// Per-address counters shared by every relay of a farm (docs/RELAY.md §7): joins per
/// minute and concurrent long-polls. Keys `hush:ip:{KEY}:j` and `hush:ip:{KEY}:p`, each
/// with a TTL.
#[derive(Clone)]
pub struct FarmLimits {
    conn: ConnectionManager,
    scripts: Arc<Scripts>,
}

/// What a farm-wide counter said.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FarmVerdict {
    /// Counted and allowed.
    Allowed,
    /// Over the limit; retry after this long.
    Refused(Duration),
}

impl FarmLimits {
    fn key(addr: u128, what: &str) -> String {
        format!("hush:ip:{{{addr:032x}}}:{what}")
    }

    /// One join attempt from `addr` within a fixed one-minute window.
    pub async fn join(&self, addr: u128, per_minute: u32) -> Result<FarmVerdict, StoreError> {
        let key = Self::key(addr, "j");
        let v = run_raw(
            &self.conn,
            &self.scripts.join_limit,
            &key,
            &[&num(per_minute), b"60000"],
        )
        .await?;
        Ok(match v {
            0 => FarmVerdict::Allowed,
            ms => FarmVerdict::Refused(Duration::from_millis(ms.unsigned_abs())),
        })
    }

    /// Takes one of `addr`'s long-poll places; `ttl` bounds how long a place taken by a
    /// relay that died (and so never gave it back) stays taken.
    pub async fn take_poll(&self, addr: u128, max: u32, ttl: Duration) -> Result<bool, StoreError> {
        let key = Self::key(addr, "p");
        let v = run_raw(
            &self.conn,
            &self.scripts.poll_take,
            &key,
            &[&num(max), &ms(ttl)],
        )
        .await?;
        Ok(v == 1)
    }

    /// Gives a long-poll place back.
    pub async fn give_poll(&self, addr: u128) {
        let key = Self::key(addr, "p");
        // On failure the count expires by its TTL.
        let _ = run_raw(&self.conn, &self.scripts.poll_give, &key, &[]).await;
    }
}

/// Runs a script that answers an integer.
async fn run_raw(
    conn: &ConnectionManager,
    script: &Script,
    key: &str,
    args: &[&[u8]],
) -> Result<i64, StoreError> {
    let mut inv = script.key(key);
    for a in args {
        inv.arg(*a);
    }
    let mut conn = conn.clone();
    match tokio::time::timeout(CALL_TIMEOUT, inv.invoke_async::<i64>(&mut conn)).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(redis_failure(&e)),
        Err(_) => Err(StoreError::Unavailable),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_name_their_room() {
        let room = [0xab; 16];
        assert_eq!(channel_room(&room_key(&room)), Some(room));
        assert_eq!(channel_room("hush:room:{zz}"), None);
        assert_eq!(channel_room("hush:{np}:map"), None);
    }
}
