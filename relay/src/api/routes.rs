//! One handler per endpoint of §3.2. Handlers read and check the request, draw the random
//! values, call the store, and shape the answer; the store decides everything else.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use super::{App, ClientIp, bodies, input};
use crate::api_keys::Scope;
use crate::limits::{LongPoll, Refusal};
use crate::metrics;
use crate::store::{
    Caller, Hash, Join, MailboxId, NewRoom, PayloadState, Reason, RoomInfo, Store, StoreError,
    Written,
};

type AppState<S> = State<Arc<App<S>>>;
type ApiResult = Result<Response, ApiError>;

fn random<const N: usize>() -> Result<[u8; N], ApiError> {
    let mut b = [0u8; N];
    getrandom::fill(&mut b).map_err(|_| ApiError::Store(StoreError::Unavailable))?;
    Ok(b)
}

/// A new bearer token: the text for the client, the hash for the store.
fn new_token() -> Result<(String, Hash), ApiError> {
    let token: [u8; 32] = random()?;
    Ok((URL_SAFE_NO_PAD.encode(token), Sha256::digest(token).into()))
}

fn path<T>(p: Result<Path<T>, PathRejection>) -> Result<T, ApiError> {
    p.map(|Path(t)| t)
        .map_err(|_| ApiError::BadRequest("malformed path"))
}

fn room_json(info: &RoomInfo, token: &str) -> serde_json::Value {
    let mut v = json!({
        "room": hex::encode(info.room),
        "nameplate": info.nameplate.to_string(),
        "token": token,
        "nonce": STANDARD.encode(info.nonce),
        "expires": info.expires,
        "payload_expires": info.payload_expires,
    });
    // A join answers its slot (1..=8); the sender's answer has none.
    if info.slot > 0 {
        v["slot"] = json!(info.slot);
    }
    v
}

fn written(w: Written) -> Response {
    match w {
        Written::Created => StatusCode::CREATED.into_response(),
        Written::Same => StatusCode::OK.into_response(),
    }
}

/// A long-poll holds one of the address's long-poll places while it waits.
async fn long_poll<S>(app: &App<S>, ip: ClientIp, wait: u64) -> Result<Option<LongPoll>, ApiError> {
    if wait == 0 {
        return Ok(None);
    }
    app.limiter.long_poll(ip.0).await.map(Some).map_err(refused)
}

fn refused(r: Refusal) -> ApiError {
    match r {
        Refusal::Limited(l) => ApiError::RateLimited(l),
        Refusal::Store(e) => ApiError::Store(e),
    }
}

/// `POST /v1/rooms`
pub async fn create<S: Store>(
    State(app): AppState<S>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    api_key(&app, &headers, Scope::Create)?;
    let bytes = input::body(&headers, body, app.limits.max_control_body).await?;
    let req = bodies::create_room(
        &bytes,
        app.limits.max_slots,
        app.limits.max_code_ttl.as_secs(),
    )?;
    let code_ttl = req.ttl.map_or(app.limits.code_ttl, Duration::from_secs);
    let (token, token_hash) = new_token()?;
    let info = app
        .store
        .create_room(NewRoom {
            id: random()?,
            sender_token: token_hash,
            nonce: random()?,
            receivers: req.receivers,
            code_ttl,
        })
        .await?;
    ::metrics::counter!(metrics::ROOMS_CREATED).increment(1);
    Ok((StatusCode::CREATED, Json(room_json(&info, &token))).into_response())
}

/// `POST /v1/nameplates/{nameplate}/join`
pub async fn join<S: Store>(
    State(app): AppState<S>,
    Extension(ip): Extension<ClientIp>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    // Counted first: every attempt, good or bad, is a guess at a nameplate.
    app.limiter.join(ip.0).await.map_err(refused)?;
    api_key(&app, &headers, Scope::Join)?;
    let nameplate = input::nameplate(&path(p)?)?;
    let bytes = input::body(&headers, body, app.limits.max_control_body).await?;
    let join_id = bodies::join(&bytes)?;
    let (token, token_hash) = new_token()?;
    let result = app
        .store
        .join(Join {
            nameplate,
            join_id: Sha256::digest(join_id).into(),
            token: token_hash,
        })
        .await;
    let label = match &result {
        Ok(_) => "ok",
        Err(e) => ApiError::Store(e.clone()).code(),
    };
    ::metrics::counter!(metrics::JOINS, "result" => label).increment(1);
    let info = result?;
    Ok((StatusCode::CREATED, Json(room_json(&info, &token))).into_response())
}

/// On a private relay (`--api-keys`), the request's key must allow `scope`.
fn api_key<S>(app: &App<S>, headers: &HeaderMap, scope: Scope) -> Result<(), ApiError> {
    let Some(keys) = &app.api_keys else {
        return Ok(());
    };
    let key = headers
        .get("hush-api-key")
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::ApiKey)?;
    if keys.allows(scope, key) {
        Ok(())
    } else {
        Err(ApiError::ApiKey)
    }
}

fn caller(room: &str, headers: &HeaderMap) -> Result<Caller, ApiError> {
    let room = input::room_id(room)?;
    Ok(Caller {
        room,
        token: input::bearer(headers)?,
    })
}

/// `GET /v1/rooms/{room}/slots?after=N&wait=S`
pub async fn slots<S: Store>(
    State(app): AppState<S>,
    Extension(ip): Extension<ClientIp>,
    p: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let caller = caller(&path(p)?, &headers)?;
    let q = input::query(q.as_deref(), app.limits.max_wait.as_secs())?;
    let _poll = long_poll(&app, ip, q.wait).await?;
    let slots = app
        .store
        .slots(caller, q.after, Duration::from_secs(q.wait))
        .await?;
    Ok(Json(json!({ "slots": slots })).into_response())
}

/// `PUT /v1/rooms/{room}/slots/{slot}/{dir}/{seq}`
pub async fn put_message<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (room, slot, dir, seq) = path(p)?;
    let (slot, dir, seq) = (input::slot(&slot)?, input::dir(&dir)?, input::seq(&seq)?);
    let caller = caller(&room, &headers)?;
    let bytes = input::body(&headers, body, app.limits.max_control_body).await?;
    let msg = bodies::message(&bytes)?;
    let w = app.store.put_message(caller, slot, dir, seq, msg).await?;
    Ok(written(w))
}

/// `GET /v1/rooms/{room}/slots/{slot}/{dir}/{seq}?wait=S`
pub async fn get_message<S: Store>(
    State(app): AppState<S>,
    Extension(ip): Extension<ClientIp>,
    p: Result<Path<(String, String, String, String)>, PathRejection>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let (room, slot, dir, seq) = path(p)?;
    let (slot, dir, seq) = (input::slot(&slot)?, input::dir(&dir)?, input::seq(&seq)?);
    let caller = caller(&room, &headers)?;
    let q = input::query(q.as_deref(), app.limits.max_wait.as_secs())?;
    let _poll = long_poll(&app, ip, q.wait).await?;
    let found = app
        .store
        .get_message(caller, slot, dir, seq, Duration::from_secs(q.wait))
        .await?;
    Ok(match found {
        Some(msg) => Json(json!({ "msg": STANDARD.encode(msg) })).into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `PUT /v1/rooms/{room}/slots/{slot}/payloads/{id}`
pub async fn put_payload<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (room, slot, id) = path(p)?;
    let (slot, id) = (input::slot(&slot)?, input::payload_id(&id)?);
    let caller = caller(&room, &headers)?;
    let bytes = input::body(&headers, body, app.limits.max_payload).await?;
    let w = app.store.put_payload(caller, slot, id, bytes).await?;
    Ok(written(w))
}

/// `GET /v1/rooms/{room}/slots/{slot}/payload?wait=S`
pub async fn get_payload<S: Store>(
    State(app): AppState<S>,
    Extension(ip): Extension<ClientIp>,
    p: Result<Path<(String, String)>, PathRejection>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let (room, slot) = path(p)?;
    let slot = input::slot(&slot)?;
    let caller = caller(&room, &headers)?;
    let q = input::query(q.as_deref(), app.limits.max_wait.as_secs())?;
    let _poll = long_poll(&app, ip, q.wait).await?;
    let found = app
        .store
        .get_payload(caller, slot, Duration::from_secs(q.wait))
        .await?;
    Ok(match found {
        Some(p) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (
                    header::HeaderName::from_static("hush-payload-id"),
                    hex::encode(p.id),
                ),
            ],
            p.bytes,
        )
            .into_response(),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `DELETE /v1/rooms/{room}/slots/{slot}/payloads/{id}`
pub async fn delete_payload<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (room, slot, id) = path(p)?;
    let (slot, id) = (input::slot(&slot)?, input::payload_id(&id)?);
    let caller = caller(&room, &headers)?;
    if app.store.delete_payload(caller, slot, id).await? {
        ::metrics::counter!(metrics::DELIVERED).increment(1);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/rooms/{room}/slots/{slot}/payloads/{id}`
pub async fn payload_state<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (room, slot, id) = path(p)?;
    let (slot, id) = (input::slot(&slot)?, input::payload_id(&id)?);
    let caller = caller(&room, &headers)?;
    let (state, expires) = app.store.payload_state(caller, slot, id).await?;
    let state = match state {
        PayloadState::Stored => "stored",
        PayloadState::Delivered => "delivered",
    };
    Ok(Json(json!({ "state": state, "expires": expires })).into_response())
}

/// `DELETE /v1/rooms/{room}/slots/{slot}`
pub async fn delete_slot<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (room, slot) = path(p)?;
    let slot = input::slot(&slot)?;
    let caller = caller(&room, &headers)?;
    app.store.delete_slot(caller, slot).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `DELETE /v1/rooms/{room}`
pub async fn delete_room<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let caller = caller(&path(p)?, &headers)?;
    let bytes = input::body(&headers, body, app.limits.max_control_body).await?;
    let reason = match bodies::delete_room(&bytes)? {
        bodies::RoomEnd::Burned => Reason::Burned,
        bodies::RoomEnd::Done => Reason::Done,
    };
    app.store.delete_room(caller, reason).await?;
    if reason == Reason::Burned {
        ::metrics::counter!(metrics::BURNS).increment(1);
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

// --- mailboxes of registered devices (§12) -------------------------------------------------

fn mailbox_id(s: &str) -> Result<MailboxId, ApiError> {
    input::hex16(s, "the mailbox id is not 32 hex characters")
}

/// `PUT /v1/mailboxes/{mbox}`: registers or refreshes it (the owner's token).
pub async fn register_mailbox<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    api_key(&app, &headers, Scope::Join)?;
    let id = mailbox_id(&path(p)?)?;
    let owner = input::bearer(&headers)?;
    let bytes = input::body(&headers, body, app.limits.max_control_body).await?;
    let drop: Hash = Sha256::digest(bodies::register_mailbox(&bytes)?).into();
    let (w, expires) = app.store.register_mailbox(id, owner, drop).await?;
    let (status, result) = match w {
        Written::Created => (StatusCode::CREATED, "created"),
        Written::Same => (StatusCode::OK, "refreshed"),
    };
    ::metrics::counter!(metrics::MAILBOX_REGISTRATIONS, "result" => result).increment(1);
    Ok((status, Json(json!({ "expires": expires }))).into_response())
}

/// `DELETE /v1/mailboxes/{mbox}` (the owner).
pub async fn delete_mailbox<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<String>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let id = mailbox_id(&path(p)?)?;
    app.store
        .delete_mailbox(id, input::bearer(&headers)?)
        .await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// `GET /v1/mailboxes/{mbox}/messages?wait=S` (the owner).
pub async fn list_messages<S: Store>(
    State(app): AppState<S>,
    Extension(ip): Extension<ClientIp>,
    p: Result<Path<String>, PathRejection>,
    RawQuery(q): RawQuery,
    headers: HeaderMap,
) -> ApiResult {
    let id = mailbox_id(&path(p)?)?;
    let owner = input::bearer(&headers)?;
    let q = input::query(q.as_deref(), app.limits.max_wait.as_secs())?;
    let _poll = long_poll(&app, ip, q.wait).await?;
    let waiting = app
        .store
        .list_messages(id, owner, Duration::from_secs(q.wait))
        .await?;
    let messages: Vec<_> = waiting
        .iter()
        .map(|m| json!({ "id": hex::encode(m.id), "size": m.size, "expires": m.expires }))
        .collect();
    Ok(Json(json!({ "messages": messages })).into_response())
}

/// `PUT /v1/mailboxes/{mbox}/messages/{id}` (the drop token): octets.
pub async fn drop_message<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
    body: Body,
) -> ApiResult {
    let (mbox, message) = path(p)?;
    let (id, message) = (mailbox_id(&mbox)?, input::payload_id(&message)?);
    let drop = input::bearer(&headers)?;
    let bytes = input::body(&headers, body, app.limits.max_payload).await?;
    let w = app.store.drop_message(id, drop, message, bytes).await?;
    if w == Written::Created {
        ::metrics::counter!(metrics::MAILBOX_DROPS).increment(1);
    }
    Ok(written(w))
}

/// `GET /v1/mailboxes/{mbox}/messages/{id}` (the owner): octets.
pub async fn read_message<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (mbox, message) = path(p)?;
    let (id, message) = (mailbox_id(&mbox)?, input::payload_id(&message)?);
    let bytes = app
        .store
        .read_message(id, input::bearer(&headers)?, message)
        .await?;
    Ok(([(header::CONTENT_TYPE, "application/octet-stream")], bytes).into_response())
}

/// `DELETE /v1/mailboxes/{mbox}/messages/{id}` (the owner, once it has the message).
pub async fn delete_message<S: Store>(
    State(app): AppState<S>,
    p: Result<Path<(String, String)>, PathRejection>,
    headers: HeaderMap,
) -> ApiResult {
    let (mbox, message) = path(p)?;
    let (id, message) = (mailbox_id(&mbox)?, input::payload_id(&message)?);
    app.store
        .delete_message(id, input::bearer(&headers)?, message)
        .await?;
    ::metrics::counter!(metrics::MAILBOX_DELIVERED).increment(1);
    Ok(StatusCode::NO_CONTENT.into_response())
}
