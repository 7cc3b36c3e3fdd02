//! The Lua scripts of the Redis store: one per store call, each one atomic step in Redis.
//!
//! Conventions shared by every script:
//! - A script answers `{'K', ...}` on success or `{'E', code}` on a refusal; the codes are
//!   the `StoreError`s of `super::redis::refusal`. Redis errors (down, OOM) stay errors.
//! - Time is Redis' own (`TIME`), so every relay instance of a farm agrees on expiry
//!   whatever its clock says.
//! - A room is one hash, `hush:room:{HEX}`, with a `PEXPIREAT` at its expiry: when it
//!   expires nothing of it is left. Its fields: `st` (open, burned), `t0` (sender token
//!   hash), `nonce`, `rcv` (receivers allowed), `np`, `ju` (joins until, ms), `ex`
//!   (expires, ms), `n` (slots taken); per slot `i`: `ti` (token hash), `ji` (join id
//!   hash), `si` (a active, d denied, l left), `mi` + `s`/`r` + seq (messages), `idsi`
//!   (payload ids in order, 16 bytes each), `pdi:ID` (payload digest, kept as the
//!   tombstone) and `pbi:ID` (payload bytes, removed on delivery).
//! - Every change of a room publishes on the channel named like the room's key: a
//!   wake-up hint for long-polls, which re-check the state themselves.
//! - Token comparisons are plain `==` on SHA-256 hashes of 256-bit tokens: timing could at
//!   most reveal a prefix of a hash, which does not help to find a token.

/// Redis' clock and the refusal answer: every script but the counters' starts with these.
const BASICS: &str = r#"
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function err(code) return {'E', code} end
"#;

/// Helpers every room script starts with (after [`BASICS`]).
const PRELUDE: &str = r#"
local function poke() redis.call('PUBLISH', KEYS[1], '') end
-- The caller of an open room: 0 for the sender, i for slot i's receiver; or nil and why.
local function caller(token, now)
  local r = redis.call('HMGET', KEYS[1], 'st', 'ex', 'n', 't0')
  if not r[1] or tonumber(r[2]) <= now then return nil, 'not_found' end
  local n = tonumber(r[3])
  local who = nil
  if r[4] == token then who = 0 end
  for i = 1, n do
    if redis.call('HGET', KEYS[1], 't' .. i) == token then who = i end
  end
  if who == nil then return nil, 'unauthorized' end
  if r[1] == 'burned' then return nil, 'burned' end
  return who, n
end
-- Checks the right ('sender' or 'own') on slot s and the slot's state; nil when fine.
local function slot_check(who, n, s, right)
  if (right == 'sender' and who ~= 0) or (right == 'own' and who ~= s) then
    return 'forbidden'
  end
  if s < 1 or s > n then return 'not_found' end
  local st = redis.call('HGET', KEYS[1], 's' .. s)
  if st == 'd' then return 'denied' end
  if st == 'l' then return 'not_found' end
  return nil
end
-- Drops a slot's messages and undelivered payloads; delivered tombstones stay.
local function clear_slot(s)
  for seq = 0, 15 do
    redis.call('HDEL', KEYS[1], 'm' .. s .. 's' .. seq, 'm' .. s .. 'r' .. seq)
  end
  local ids = redis.call('HGET', KEYS[1], 'ids' .. s) or ''
  local kept = ''
  for k = 0, #ids / 16 - 1 do
    local id = string.sub(ids, k * 16 + 1, k * 16 + 16)
    if redis.call('HDEL', KEYS[1], 'pb' .. s .. ':' .. id) == 1 then
      redis.call('HDEL', KEYS[1], 'pd' .. s .. ':' .. id)
    else
      kept = kept .. id
    end
  end
  redis.call('HSET', KEYS[1], 'ids' .. s, kept)
end
"#;

/// Helpers of the nameplate directory scripts (keys `hush:{np}:*`), after [`BASICS`].
const DIRECTORY_PRELUDE: &str = r#"
-- Lets a key live at least until at (ms): it then expires with the last of its entries.
local function extend(key, at, now)
  local ttl = redis.call('PTTL', key)
  if ttl < 0 or now + ttl < at then redis.call('PEXPIREAT', key, at) end
end
"#;

/// KEYS: map, used, rooms. ARGV: room hex, code TTL ms, payload TTL ms, max rooms, then
/// random numbers (the draws; the last one starts the walk of a dense range).
const ALLOCATE: &str = r#"
local now = now_ms()
-- Forget nameplates past their cooldown and rooms past their expiry.
for _, np in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)) do
  redis.call('HDEL', KEYS[1], np)
end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
if redis.call('ZCARD', KEYS[3]) >= tonumber(ARGV[4]) then return err('full:rooms') end
-- The range grows by a digit once half of it is taken (as the in-memory store does).
local used = redis.call('ZCARD', KEYS[2])
local hi = 9999
for _, h in ipairs({9, 99, 999}) do
  if used < math.floor(h / 2) then hi = h break end
end
local np = nil
for i = 5, #ARGV - 1 do
  local c = tonumber(ARGV[i]) % hi + 1
  if not redis.call('ZSCORE', KEYS[2], c) then np = c break end
end
if np == nil then
  local start = tonumber(ARGV[#ARGV]) % hi
  for i = 0, hi - 1 do
    local c = (start + i) % hi + 1
    if not redis.call('ZSCORE', KEYS[2], c) then np = c break end
  end
end
if np == nil then return err('full:nameplates') end
local code_ttl = tonumber(ARGV[2])
local join_until = now + code_ttl
local reusable = join_until + code_ttl
local expires = math.max(now + tonumber(ARGV[3]), join_until)
redis.call('HSET', KEYS[1], np, ARGV[1] .. ':' .. string.format('%.0f', join_until))
redis.call('ZADD', KEYS[2], reusable, np)
redis.call('ZADD', KEYS[3], expires, ARGV[1])
extend(KEYS[1], reusable, now)
extend(KEYS[2], reusable, now)
extend(KEYS[3], expires, now)
return {'K', np, string.format('%.0f', join_until), string.format('%.0f', expires)}
"#;

/// KEYS: map, used, rooms. ARGV: room hex, nameplate ('' to keep it cooling down).
/// Frees the room's place in the count, and its nameplate if the room never came to be.
const RELEASE: &str = r#"
redis.call('ZREM', KEYS[3], ARGV[1])
if ARGV[2] ~= '' then
  local v = redis.call('HGET', KEYS[1], ARGV[2])
  if v and string.sub(v, 1, 32) == ARGV[1] then
    redis.call('HDEL', KEYS[1], ARGV[2])
    redis.call('ZREM', KEYS[2], ARGV[2])
  end
end
return {'K'}
"#;

/// KEYS: map. ARGV: nameplate. The room behind a nameplate that still joins.
const LOOKUP: &str = r#"
local v = redis.call('HGET', KEYS[1], ARGV[1])
if not v then return err('not_found') end
local room, ju = string.match(v, '^(%x+):(%d+)$')
if not room or tonumber(ju) <= now_ms() then return err('not_found') end
return {'K', room}
"#;

/// KEYS: room. ARGV: sender token hash, nonce, receivers, nameplate, joins until, expires.
const CREATE: &str = r#"
if redis.call('EXISTS', KEYS[1]) == 1 then return err('exists') end
redis.call('HSET', KEYS[1], 'st', 'open', 't0', ARGV[1], 'nonce', ARGV[2], 'rcv', ARGV[3],
  'np', ARGV[4], 'ju', ARGV[5], 'ex', ARGV[6], 'n', 0)
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
return {'K'}
"#;

/// KEYS: room. ARGV: join id hash, token hash.
const JOIN: &str = r#"
local now = now_ms()
local r = redis.call('HMGET', KEYS[1], 'st', 'ex', 'n', 'rcv', 'ju', 'np', 'nonce')
if not r[1] or tonumber(r[2]) <= now or tonumber(r[5]) <= now then return err('not_found') end
if r[1] == 'burned' then return err('burned') end
local n = tonumber(r[3])
-- A retry: the same slot, with the new token (the first answer was lost).
for i = 1, n do
  if redis.call('HGET', KEYS[1], 'j' .. i) == ARGV[1] then
    local st = redis.call('HGET', KEYS[1], 's' .. i)
    if st == 'd' then return err('denied') end
    if st == 'l' then return err('not_found') end
    redis.call('HSET', KEYS[1], 't' .. i, ARGV[2])
    return {'K', i, r[6], r[7], r[5], r[2]}
  end
end
if n >= tonumber(r[4]) then return err('room_full') end
n = n + 1
redis.call('HSET', KEYS[1], 'n', n, 't' .. n, ARGV[2], 'j' .. n, ARGV[1], 's' .. n, 'a')
poke()
return {'K', n, r[6], r[7], r[5], r[2]}
"#;

/// KEYS: room. ARGV: token, after.
const SLOTS: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
if who ~= 0 then return err('forbidden') end
local out = {'K'}
for i = tonumber(ARGV[2]) + 1, n do out[#out + 1] = i end
return out
"#;

/// KEYS: room. ARGV: token, slot, dir ('s' to-sender, 'r' to-receiver), seq, message.
const PUT_MESSAGE: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
local s = tonumber(ARGV[2])
local right = 'sender'
if ARGV[3] == 's' then right = 'own' end
local e = slot_check(who, n, s, right)
if e then return err(e) end
local f = 'm' .. s .. ARGV[3] .. ARGV[4]
local old = redis.call('HGET', KEYS[1], f)
if old then
  if old == ARGV[5] then return {'K', 'same'} end
  return err('conflict')
end
redis.call('HSET', KEYS[1], f, ARGV[5])
poke()
return {'K', 'created'}
"#;

/// KEYS: room. ARGV: token, slot, dir, seq.
const GET_MESSAGE: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
local s = tonumber(ARGV[2])
local right = 'own'
if ARGV[3] == 's' then right = 'sender' end
local e = slot_check(who, n, s, right)
if e then return err(e) end
local m = redis.call('HGET', KEYS[1], 'm' .. s .. ARGV[3] .. ARGV[4])
if m then return {'K', m} end
return {'K'}
"#;

/// KEYS: room. ARGV: token, slot, payload id (16 bytes), SHA-256 of the bytes, bytes, max
/// payloads per slot.
const PUT_PAYLOAD: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
local s = tonumber(ARGV[2])
local e = slot_check(who, n, s, 'sender')
if e then return err(e) end
local d = redis.call('HGET', KEYS[1], 'pd' .. s .. ':' .. ARGV[3])
if d then
  if d == ARGV[4] then return {'K', 'same'} end
  return err('conflict')
end
local ids = redis.call('HGET', KEYS[1], 'ids' .. s) or ''
if #ids / 16 >= tonumber(ARGV[6]) then return err('too_many') end
redis.call('HSET', KEYS[1], 'ids' .. s, ids .. ARGV[3], 'pd' .. s .. ':' .. ARGV[3], ARGV[4],
  'pb' .. s .. ':' .. ARGV[3], ARGV[5])
poke()
return {'K', 'created'}
"#;

/// KEYS: room. ARGV: token, slot. The oldest undelivered payload.
const GET_PAYLOAD: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
local s = tonumber(ARGV[2])
local e = slot_check(who, n, s, 'own')
if e then return err(e) end
local ids = redis.call('HGET', KEYS[1], 'ids' .. s) or ''
for k = 0, #ids / 16 - 1 do
  local id = string.sub(ids, k * 16 + 1, k * 16 + 16)
  local b = redis.call('HGET', KEYS[1], 'pb' .. s .. ':' .. id)
  if b then return {'K', id, b} end
end
return {'K'}
"#;

/// KEYS: room. ARGV: token, slot, payload id. Delivery: the bytes go, the digest stays.
const DELETE_PAYLOAD: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
local s = tonumber(ARGV[2])
local e = slot_check(who, n, s, 'own')
if e then return err(e) end
local gone = redis.call('HDEL', KEYS[1], 'pb' .. s .. ':' .. ARGV[3])
if gone == 1 then poke() end
return {'K', gone}
"#;

/// KEYS: room. ARGV: token, slot, payload id.
const PAYLOAD_STATE: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
if who ~= 0 then return err('forbidden') end
local s = tonumber(ARGV[2])
-- Whatever the slot's state: after the receiver left, the sender still learns
-- that its payload was delivered.
if s < 1 or s > n then return err('not_found') end
if not redis.call('HGET', KEYS[1], 'pd' .. s .. ':' .. ARGV[3]) then return err('not_found') end
local ex = redis.call('HGET', KEYS[1], 'ex')
if redis.call('HEXISTS', KEYS[1], 'pb' .. s .. ':' .. ARGV[3]) == 1 then
  return {'K', 'stored', ex}
end
return {'K', 'delivered', ex}
"#;

/// KEYS: room. ARGV: token, slot.
const DELETE_SLOT: &str = r#"
local who, n = caller(ARGV[1], now_ms())
if not who then return err(n) end
local s = tonumber(ARGV[2])
if who ~= 0 and who ~= s then return err('forbidden') end
if s < 1 or s > n then return err('not_found') end
if redis.call('HGET', KEYS[1], 's' .. s) ~= 'a' then return {'K'} end
if who == 0 then
  redis.call('HSET', KEYS[1], 's' .. s, 'd')
else
  redis.call('HSET', KEYS[1], 's' .. s, 'l')
end
clear_slot(s)
poke()
return {'K'}
"#;

/// KEYS: room. ARGV: token, reason ('done' or 'burned'). Answers what happened: 'gone'
/// (nothing to do), 'done' (the room is deleted) or 'burned'.
const DELETE_ROOM: &str = r#"
local now = now_ms()
local r = redis.call('HMGET', KEYS[1], 'st', 'ex', 'n', 't0')
if not r[1] or tonumber(r[2]) <= now then return {'K', 'gone'} end
local who = nil
if r[4] == ARGV[1] then who = 0 end
for i = 1, tonumber(r[3]) do
  if redis.call('HGET', KEYS[1], 't' .. i) == ARGV[1] then who = i end
end
if who == nil then return err('unauthorized') end
if who ~= 0 then return err('forbidden') end
if r[1] == 'burned' then return {'K', 'gone'} end
if ARGV[2] == 'done' then
  redis.call('DEL', KEYS[1])
  poke()
  return {'K', 'done'}
end
-- Burned: the tokens stay to answer 410 to everyone until the room expires; data goes.
redis.call('HSET', KEYS[1], 'st', 'burned')
for i = 1, tonumber(r[3]) do clear_slot(i) end
poke()
return {'K', 'burned'}
"#;

/// KEYS: the address's join counter. ARGV: limit, window ms. Answers 0, or the ms until
/// the window ends when the limit is reached.
const JOIN_LIMIT: &str = r#"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
if n > tonumber(ARGV[1]) then
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) ttl = tonumber(ARGV[2]) end
  return ttl
end
return 0
"#;

/// KEYS: the address's long-poll counter. ARGV: limit, safety TTL ms. 1 taken, 0 refused.
const POLL_TAKE: &str = r#"
local n = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
if n > tonumber(ARGV[1]) then
  if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
  return 0
end
return 1
"#;

/// KEYS: the address's long-poll counter.
const POLL_GIVE: &str = r#"
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 1
"#;

/// Helpers every mailbox script starts with. A mailbox is one hash, `hush:mbox:{HEX}`, with
/// a `PEXPIREAT` at its expiry: `o` (owner token hash), `d` (drop token hash), `ex`
/// (expires, ms), `ids` (message ids in order, 16 bytes each), and per message `md:ID`
/// (digest, kept as the tombstone), `mb:ID` (bytes, removed on delivery) and `me:ID`
/// (expires, ms). Expired messages are dropped by the next script that reads the mailbox.
/// After [`BASICS`].
const MAILBOX_PRELUDE: &str = r#"
local function poke() redis.call('PUBLISH', KEYS[1], '') end
-- The live mailbox's message ids for the holder of token in field ('o' owner, 'd' drop),
-- its expired messages dropped first; or nil and why.
local function mailbox(token, field, now)
  local r = redis.call('HMGET', KEYS[1], 'ex', field)
  if not r[1] or tonumber(r[1]) <= now then return nil, 'not_found' end
  if r[2] ~= token then return nil, 'unauthorized' end
  local ids = redis.call('HGET', KEYS[1], 'ids') or ''
  local kept = ''
  for k = 0, #ids / 16 - 1 do
    local id = string.sub(ids, k * 16 + 1, k * 16 + 16)
    if tonumber(redis.call('HGET', KEYS[1], 'me:' .. id) or '0') <= now then
      redis.call('HDEL', KEYS[1], 'mb:' .. id, 'md:' .. id, 'me:' .. id)
    else
      kept = kept .. id
    end
  end
  if kept ~= ids then redis.call('HSET', KEYS[1], 'ids', kept) end
  return kept
end
"#;

/// KEYS: mailbox. ARGV: owner token hash, drop token hash, mailbox TTL ms.
const REGISTER_MAILBOX: &str = r#"
local now = now_ms()
local ex = string.format('%.0f', now + tonumber(ARGV[3]))
local r = redis.call('HMGET', KEYS[1], 'ex', 'o')
if r[1] and tonumber(r[1]) > now then
  if r[2] ~= ARGV[1] then return err('conflict') end
  redis.call('HSET', KEYS[1], 'd', ARGV[2], 'ex', ex)
  redis.call('PEXPIREAT', KEYS[1], ex)
  return {'K', 'same', ex}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[1], 'o', ARGV[1], 'd', ARGV[2], 'ex', ex, 'ids', '')
redis.call('PEXPIREAT', KEYS[1], ex)
return {'K', 'created', ex}
"#;

/// KEYS: mailbox. ARGV: drop token hash, message id, digest, bytes, max messages, TTL ms.
const DROP_MESSAGE: &str = r#"
local now = now_ms()
local ids, e = mailbox(ARGV[1], 'd', now)
if not ids then return err(e) end
local d = redis.call('HGET', KEYS[1], 'md:' .. ARGV[2])
if d then
  if d == ARGV[3] then return {'K', 'same'} end
  return err('conflict')
end
if #ids / 16 >= tonumber(ARGV[5]) then return err('mailbox_full') end
local me = string.format('%.0f', now + tonumber(ARGV[6]))
redis.call('HSET', KEYS[1], 'ids', ids .. ARGV[2], 'md:' .. ARGV[2], ARGV[3],
  'mb:' .. ARGV[2], ARGV[4], 'me:' .. ARGV[2], me)
poke()
return {'K', 'created'}
"#;

/// KEYS: mailbox. ARGV: owner token hash. Id, size and expiry of each waiting message.
const LIST_MESSAGES: &str = r#"
local ids, e = mailbox(ARGV[1], 'o', now_ms())
if not ids then return err(e) end
local out = {'K'}
for k = 0, #ids / 16 - 1 do
  local id = string.sub(ids, k * 16 + 1, k * 16 + 16)
  if redis.call('HEXISTS', KEYS[1], 'mb:' .. id) == 1 then
    out[#out + 1] = id
    out[#out + 1] = redis.call('HSTRLEN', KEYS[1], 'mb:' .. id)
    out[#out + 1] = redis.call('HGET', KEYS[1], 'me:' .. id)
  end
end
return out
"#;

/// KEYS: mailbox. ARGV: owner token hash, message id.
const READ_MESSAGE: &str = r#"
local ids, e = mailbox(ARGV[1], 'o', now_ms())
if not ids then return err(e) end
local b = redis.call('HGET', KEYS[1], 'mb:' .. ARGV[2])
if not b then return err('not_found') end
return {'K', b}
"#;

/// KEYS: mailbox. ARGV: owner token hash, message id. The bytes go, the digest stays.
const DELETE_MESSAGE: &str = r#"
local ids, e = mailbox(ARGV[1], 'o', now_ms())
if not ids then return err(e) end
if redis.call('HDEL', KEYS[1], 'mb:' .. ARGV[2]) == 1 then poke() end
return {'K'}
"#;

/// KEYS: mailbox. ARGV: owner token hash. Gone already is done.
const DELETE_MAILBOX: &str = r#"
local ids, e = mailbox(ARGV[1], 'o', now_ms())
if not ids then
  if e == 'not_found' then return {'K'} end
  return err(e)
end
redis.call('DEL', KEYS[1])
poke()
return {'K'}
"#;

/// Every script, compiled once per store (the SHA-1 is computed here; Redis learns the
/// script on its first EVALSHA that answers NOSCRIPT, e.g. after a restart).
pub struct Scripts {
    pub allocate: redis::Script,
    pub release: redis::Script,
    pub lookup: redis::Script,
    pub create: redis::Script,
    pub join: redis::Script,
    pub slots: redis::Script,
    pub put_message: redis::Script,
    pub get_message: redis::Script,
    pub put_payload: redis::Script,
    pub get_payload: redis::Script,
    pub delete_payload: redis::Script,
    pub payload_state: redis::Script,
    pub delete_slot: redis::Script,
    pub delete_room: redis::Script,
    pub join_limit: redis::Script,
    pub poll_take: redis::Script,
    pub poll_give: redis::Script,
    pub register_mailbox: redis::Script,
    pub drop_message: redis::Script,
    pub list_messages: redis::Script,
    pub read_message: redis::Script,
    pub delete_message: redis::Script,
    pub delete_mailbox: redis::Script,
}

impl Scripts {
    pub fn new() -> Self {
        let room = |body: &str| redis::Script::new(&format!("{BASICS}{PRELUDE}{body}"));
        let dir = |body: &str| redis::Script::new(&format!("{BASICS}{DIRECTORY_PRELUDE}{body}"));
        let mailbox = |body: &str| redis::Script::new(&format!("{BASICS}{MAILBOX_PRELUDE}{body}"));
        Scripts {
            allocate: dir(ALLOCATE),
            release: dir(RELEASE),
            lookup: dir(LOOKUP),
            create: room(CREATE),
            join: room(JOIN),
            slots: room(SLOTS),
            put_message: room(PUT_MESSAGE),
            get_message: room(GET_MESSAGE),
            put_payload: room(PUT_PAYLOAD),
            get_payload: room(GET_PAYLOAD),
            delete_payload: room(DELETE_PAYLOAD),
            payload_state: room(PAYLOAD_STATE),
            delete_slot: room(DELETE_SLOT),
            delete_room: room(DELETE_ROOM),
            join_limit: redis::Script::new(JOIN_LIMIT),
            poll_take: redis::Script::new(POLL_TAKE),
            poll_give: redis::Script::new(POLL_GIVE),
            register_mailbox: mailbox(REGISTER_MAILBOX),
            drop_message: mailbox(DROP_MESSAGE),
            list_messages: mailbox(LIST_MESSAGES),
            read_message: mailbox(READ_MESSAGE),
            delete_message: mailbox(DELETE_MESSAGE),
            delete_mailbox: mailbox(DELETE_MAILBOX),
        }
    }
}
