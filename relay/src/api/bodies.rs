//! The JSON control bodies of docs/RELAY.md §3.2, parsed and checked: bytes in, a value or
//! the 400 message out. Pure (serde, serde_json and base64 only); the fuzz target
//! `fuzz/fuzz_targets/relay_json.rs` calls these functions through `hush_relay::fuzzing`.
//! No panic on any input, and the work is bounded by the input (the server caps bodies at
//! 4 KiB first).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::Deserialize;

/// A refused body: the `message` of the 400 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BodyError(pub &'static str);

const NOT_JSON: BodyError = BodyError("the body is not the expected JSON");

/// `POST /v1/rooms`: `{"receivers": 1..=max_slots, "ttl": 1..=max_ttl?}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CreateRoom {
    pub receivers: u8,
    /// Seconds; `None` for the relay's default.
    pub ttl: Option<u64>,
}

#[derive(Deserialize)]
struct CreateJson {
    receivers: u64,
    ttl: Option<u64>,
}

/// The body of `POST /v1/rooms`, within this relay's `max_slots` and `max_ttl`.
pub fn create_room(bytes: &[u8], max_slots: u8, max_ttl: u64) -> Result<CreateRoom, BodyError> {
    let req: CreateJson = serde_json::from_slice(bytes).map_err(|_| NOT_JSON)?;
    let receivers = u8::try_from(req.receivers)
        .ok()
        .filter(|n| (1..=max_slots).contains(n))
        .ok_or(BodyError("receivers is out of range"))?;
    if req.ttl.is_some_and(|t| !(1..=max_ttl).contains(&t)) {
        return Err(BodyError("ttl is out of range"));
    }
    Ok(CreateRoom {
        receivers,
        ttl: req.ttl,
    })
}

#[derive(Deserialize)]
struct JoinJson {
    join_id: String,
}

/// `POST /v1/nameplates/{n}/join`: `{"join_id": b64 of 16 bytes}`.
pub fn join(bytes: &[u8]) -> Result<[u8; 16], BodyError> {
    let req: JoinJson = serde_json::from_slice(bytes).map_err(|_| NOT_JSON)?;
    let id = b64(&req.join_id, "join_id is not base64 of 16 bytes")?;
    id.try_into()
        .map_err(|_| BodyError("join_id is not base64 of 16 bytes"))
}

#[derive(Deserialize)]
struct MessageJson {
    msg: String,
}

/// `PUT .../{dir}/{seq}`: `{"msg": non-empty b64}`.
pub fn message(bytes: &[u8]) -> Result<Vec<u8>, BodyError> {
    let req: MessageJson = serde_json::from_slice(bytes).map_err(|_| NOT_JSON)?;
    b64(&req.msg, "msg is not non-empty base64")
}

/// Why the sender ends a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RoomEnd {
    Burned,
    Done,
}

#[derive(Deserialize)]
struct DeleteRoomJson {
    reason: String,
}

/// `DELETE /v1/rooms/{room}`: `{"reason": "burned" | "done"}`.
pub fn delete_room(bytes: &[u8]) -> Result<RoomEnd, BodyError> {
    let req: DeleteRoomJson = serde_json::from_slice(bytes).map_err(|_| NOT_JSON)?;
    match req.reason.as_str() {
        "burned" => Ok(RoomEnd::Burned),
        "done" => Ok(RoomEnd::Done),
        _ => Err(BodyError("reason is neither burned nor done")),
    }
}

#[derive(Deserialize)]
struct MailboxJson {
    drop: String,
}

/// `PUT /v1/mailboxes/{mbox}`: `{"drop": b64url of the 32-byte drop token}`; the token
/// itself, which the relay only hashes.
pub fn register_mailbox(bytes: &[u8]) -> Result<[u8; 32], BodyError> {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let req: MailboxJson = serde_json::from_slice(bytes).map_err(|_| NOT_JSON)?;
    URL_SAFE_NO_PAD
        .decode(&req.drop)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or(BodyError("drop is not b64url of a 32-byte token"))
}

/// Standard base64 with padding, not empty.
fn b64(s: &str, what: &'static str) -> Result<Vec<u8>, BodyError> {
    match STANDARD.decode(s) {
        Ok(bytes) if !bytes.is_empty() => Ok(bytes),
        _ => Err(BodyError(what)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_body_takes_its_shape_only() {
        assert_eq!(
            create_room(br#"{"receivers": 3, "ttl": 60, "x": 1}"#, 8, 3600),
            Ok(CreateRoom {
                receivers: 3,
                ttl: Some(60)
            })
        );
        for bad in [
            &br#"{"receivers": 0}"#[..],
            br#"{"receivers": 9}"#,
            br#"{"receivers": 256}"#,
            br#"{"receivers": 1, "ttl": 0}"#,
            br#"{"receivers": 1, "ttl": 3601}"#,
            br#"{"receivers": -1}"#,
            br#"{"receivers": "1"}"#,
            b"[]",
            b"",
        ] {
            assert!(create_room(bad, 8, 3600).is_err(), "{bad:?}");
        }
        assert_eq!(
            join(br#"{"join_id": "AAAAAAAAAAAAAAAAAAAAAA=="}"#),
            Ok([0; 16])
        );
        assert!(join(br#"{"join_id": "c2hvcnQ="}"#).is_err());
        assert_eq!(message(br#"{"msg": "aGk="}"#), Ok(b"hi".to_vec()));
        assert!(message(br#"{"msg": ""}"#).is_err());
        assert!(message(br#"{"msg": "***"}"#).is_err());
        assert_eq!(delete_room(br#"{"reason": "done"}"#), Ok(RoomEnd::Done));
        assert!(delete_room(br#"{"reason": "Done"}"#).is_err());
        let token = "A".repeat(43);
        assert_eq!(
            register_mailbox(format!(r#"{{"drop": "{token}"}}"#).as_bytes()),
            Ok([0; 32])
        );
        for bad in [&br#"{"drop": "AAAA"}"#[..], br#"{"drop": 1}"#, b"{}"] {
            assert!(register_mailbox(bad).is_err(), "{bad:?}");
        }
    }

    /// Bodies shaped like the real ones with hostile values, and raw bytes.
    fn bodies() -> impl Strategy<Value = Vec<u8>> {
        let value = prop_oneof![
            any::<i64>().prop_map(|n| n.to_string()),
            any::<u64>().prop_map(|n| n.to_string()),
            "\\PC{0,40}".prop_map(|s| serde_json::Value::String(s).to_string()),
            "[A-Za-z0-9+/=]{0,40}".prop_map(|s| format!("\"{s}\"")),
            Just("null".to_owned()),
            Just("1e999".to_owned()),
            Just("[[[[[[[[[[]]]]]]]]]]".to_owned()),
        ];
        let key = prop_oneof![
            Just("receivers"),
            Just("ttl"),
            Just("join_id"),
            Just("msg"),
            Just("reason"),
            Just("drop"),
            Just("other"),
        ];
        prop_oneof![
            proptest::collection::vec((key, value), 0..4).prop_map(|fields| {
                let inner: Vec<String> = fields
                    .iter()
                    .map(|(k, v)| format!("\"{k}\": {v}"))
                    .collect();
                format!("{{{}}}", inner.join(", ")).into_bytes()
            }),
            proptest::collection::vec(any::<u8>(), 0..512),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// No body panics any parser, and what is accepted is within the bounds.
        #[test]
        fn no_body_panics_and_accepted_values_are_in_range(body in bodies()) {
            if let Ok(c) = create_room(&body, 8, 3600) {
                prop_assert!((1..=8).contains(&c.receivers));
                prop_assert!(c.ttl.is_none_or(|t| (1..=3600).contains(&t)));
            }
            if let Ok(m) = message(&body) {
                prop_assert!(!m.is_empty() && m.len() <= body.len());
            }
            let _ = join(&body);
            let _ = delete_room(&body);
            let _ = register_mailbox(&body);
        }
    }
}
