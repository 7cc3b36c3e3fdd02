//! The API's errors: each is one row of docs/RELAY.md §3.3, answered as
//! `{"error": code, "message": text}`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::limits::Limited;
use crate::store::StoreError;

/// Seconds a client is told to wait when the relay is full.
const FULL_RETRY_AFTER: u64 = 30;
/// Seconds a client is told to wait when the store does not answer (Redis restarting,
/// usually back within seconds).
const UNAVAILABLE_RETRY_AFTER: u64 = 2;

/// A refused request.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("missing or malformed bearer token")]
    NoToken,
    #[error("missing or wrong API key (header Hush-Api-Key)")]
    ApiKey,
    #[error("no such route")]
    NoRoute,
    #[error("the body is larger than {0} bytes")]
    TooLarge(usize),
    #[error("too many requests from this address")]
    RateLimited(Limited),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<super::bodies::BodyError> for ApiError {
    fn from(e: super::bodies::BodyError) -> Self {
        ApiError::BadRequest(e.0)
    }
}

impl ApiError {
    fn parts(&self) -> (StatusCode, &'static str) {
        use StoreError as S;
        match self {
            ApiError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            ApiError::NoToken | ApiError::ApiKey | ApiError::Store(S::Unauthorized) => {
                (StatusCode::UNAUTHORIZED, "unauthorized")
            }
            ApiError::NoRoute | ApiError::Store(S::NotFound) => {
                (StatusCode::NOT_FOUND, "not_found")
            }
            ApiError::TooLarge(_) => (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
            ApiError::RateLimited(_) => (StatusCode::TOO_MANY_REQUESTS, "rate_limited"),
            ApiError::Store(S::Forbidden) => (StatusCode::FORBIDDEN, "forbidden"),
            ApiError::Store(S::RoomFull) => (StatusCode::CONFLICT, "room_full"),
            ApiError::Store(S::MailboxFull) => (StatusCode::CONFLICT, "mailbox_full"),
            // Too many payloads in a slot is a conflict with what the slot already holds:
            // retrying will not help until the receiver takes some.
            ApiError::Store(S::Conflict | S::TooManyPayloads) => (StatusCode::CONFLICT, "conflict"),
            ApiError::Store(S::Burned) => (StatusCode::GONE, "burned"),
            ApiError::Store(S::Denied) => (StatusCode::GONE, "denied"),
            ApiError::Store(S::Full(_)) => (StatusCode::SERVICE_UNAVAILABLE, "full"),
            ApiError::Store(S::Unavailable) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        }
    }

    /// The `error` code (also logged).
    pub fn code(&self) -> &'static str {
        self.parts().1
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let (status, code) = self.parts();
        let body = serde_json::json!({ "error": code, "message": self.to_string() });
        let mut res = (
            status,
            [(header::CONTENT_TYPE, "application/json")],
            body.to_string(),
        )
            .into_response();
        let retry = match &self {
            ApiError::RateLimited(l) => Some(l.retry_after()),
            ApiError::Store(StoreError::Full(_)) => Some(FULL_RETRY_AFTER),
            ApiError::Store(StoreError::Unavailable) => Some(UNAVAILABLE_RETRY_AFTER),
            _ => None,
        };
        if let Some(secs) = retry {
            res.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(secs));
        }
        res
    }
}
