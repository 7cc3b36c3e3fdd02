//! Reading a request: path parts, query, bearer token, bounded bodies (the JSON bodies'
//! own parsers are in `bodies`). Every malformed
//! input is a 400 with its own message, never a panic.

use axum::body::Body;
use axum::http::{HeaderMap, header};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use http_body_util::BodyExt as _;
use sha2::{Digest as _, Sha256};

use super::error::ApiError;
use crate::store::{Dir, Hash, MAX_SEQ, PayloadId, RoomId};

/// The SHA-256 of the `Authorization: Bearer` token: the token itself goes no further.
pub fn bearer(headers: &HeaderMap) -> Result<Hash, ApiError> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or(ApiError::NoToken)?;
    let b64 = value
        .strip_prefix("Bearer ")
        .ok_or(ApiError::NoToken)?
        .trim();
    let mut token = [0u8; 32];
    match URL_SAFE_NO_PAD.decode_slice(b64, &mut token) {
        Ok(32) => Ok(Sha256::digest(token).into()),
        _ => Err(ApiError::NoToken),
    }
}

pub fn hex16(s: &str, what: &'static str) -> Result<[u8; 16], ApiError> {
    let mut out = [0u8; 16];
    // Lower case only (§3.2 "hex is lower case"): one spelling per id.
    if s.len() != 32 || s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(ApiError::BadRequest(what));
    }
    hex::decode_to_slice(s, &mut out).map_err(|_| ApiError::BadRequest(what))?;
    Ok(out)
}

pub fn room_id(s: &str) -> Result<RoomId, ApiError> {
    hex16(s, "the room id is not 32 lower-case hex characters")
}

pub fn payload_id(s: &str) -> Result<PayloadId, ApiError> {
    hex16(s, "the payload id is not 32 lower-case hex characters")
}

pub fn slot(s: &str) -> Result<u8, ApiError> {
    match s.parse::<u8>() {
        Ok(n @ 1..=8) if !s.starts_with('0') => Ok(n),
        _ => Err(ApiError::BadRequest("the slot is not a number from 1 to 8")),
    }
}

pub fn seq(s: &str) -> Result<u8, ApiError> {
    match s.parse::<u8>() {
        Ok(n) if n <= MAX_SEQ && (s == "0" || !s.starts_with('0')) => Ok(n),
        _ => Err(ApiError::BadRequest("the seq is not a number from 0 to 15")),
    }
}

pub fn dir(s: &str) -> Result<Dir, ApiError> {
    match s {
        "to-sender" => Ok(Dir::ToSender),
        "to-receiver" => Ok(Dir::ToReceiver),
        _ => Err(ApiError::BadRequest(
            "the direction is neither to-sender nor to-receiver",
        )),
    }
}

/// `1*4DIGIT`, no leading zero (§1).
pub fn nameplate(s: &str) -> Result<u16, ApiError> {
    let ok = (1..=4).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit());
    match s.parse::<u16>() {
        Ok(n) if ok && !s.starts_with('0') => Ok(n),
        _ => Err(ApiError::BadRequest(
            "the nameplate is not a number of 1 to 4 digits",
        )),
    }
}

/// The query parameters of the long-polls: `after` and `wait`.
#[derive(Debug, Default)]
pub struct Query {
    pub after: u8,
    pub wait: u64,
}

/// Parses `after=N&wait=S`; other parameters are ignored (readers ignore what they do not
/// know), a malformed known one is a 400.
pub fn query(raw: Option<&str>, max_wait: u64) -> Result<Query, ApiError> {
    let mut q = Query::default();
    for pair in raw.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        match k {
            "after" => {
                q.after = v
                    .parse()
                    .ok()
                    .filter(|&n| n <= 8)
                    .ok_or(ApiError::BadRequest("after is not a number from 0 to 8"))?;
            }
            "wait" => {
                q.wait = v
                    .parse()
                    .ok()
                    .filter(|&n| n <= max_wait)
                    .ok_or(ApiError::BadRequest("wait is out of range"))?;
            }
            _ => {}
        }
    }
    Ok(q)
}

/// Reads a body of at most `limit` bytes; a larger one is 413 without reading it all.
pub async fn body(headers: &HeaderMap, body: Body, limit: usize) -> Result<Vec<u8>, ApiError> {
    let declared = headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|n| n > limit as u64) {
        return Err(ApiError::TooLarge(limit));
    }
    let limited = http_body_util::Limited::new(body, limit);
    match limited.collect().await {
        Ok(collected) => Ok(collected.to_bytes().to_vec()),
        Err(e) if e.is::<http_body_util::LengthLimitError>() => Err(ApiError::TooLarge(limit)),
        Err(_) => Err(ApiError::BadRequest("the body could not be read")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parsers_refuse_what_is_not_canonical() {
        assert!(nameplate("417").is_ok());
        for bad in ["", "0", "017", "12345", "4a", "+4", "-1"] {
            assert!(nameplate(bad).is_err(), "{bad}");
        }
        assert_eq!(seq("0").unwrap(), 0);
        assert_eq!(seq("15").unwrap(), 15);
        for bad in ["16", "01", "", "x"] {
            assert!(seq(bad).is_err(), "{bad}");
        }
        for bad in ["0", "9", "01"] {
            assert!(slot(bad).is_err(), "{bad}");
        }
        assert!(room_id(&"ab".repeat(16)).is_ok());
        assert!(room_id(&"AB".repeat(16)).is_err());
        assert!(query(Some("wait=26"), 25).is_err());
        assert_eq!(query(Some("after=2&wait=5&x=y"), 25).unwrap().wait, 5);
    }
}
