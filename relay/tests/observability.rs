//! The relay's metrics and logs after a run of known counts: three pairings (two honest and
//! delivered, one with a wrong code that the sender burns), a join into the burned room,
//! one join over the per-address limit, an undelivered payload, and two rooms left to
//! expire. `/metrics` must match the run exactly, and no log line may hold a code's secret,
//! a token, a room or join id, or any body (base64 of messages, payloads, plaintext); the
//! client address is logged as its /24 only.
//!
//! Each request is made through `Counted`, which tallies it by route template, so the
//! latency histogram's count per route is known exactly too.

// A test: a failed step is a failed test, and unwrap says where.
#![allow(clippy::unwrap_used)]

// The harness serves the other test binaries too: not every helper is used here.
#[allow(dead_code)]
mod harness;

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::{Client, Relay, Resp, msg};
use serde_json::json;
use shared::relay::{Code, Event, Nameplate, Pairing, PairingError, RoomContext, Side};
use shared::{Credentials, Metadata, SealOptions};

/// Requests made, by route template (as the relay labels them).
struct Counted {
    c: Client,
    calls: Mutex<HashMap<&'static str, u64>>,
}

const ROOMS: &str = "/v1/rooms";
const JOIN: &str = "/v1/nameplates/{nameplate}/join";
const ROOM: &str = "/v1/rooms/{room}";
const MESSAGE: &str = "/v1/rooms/{room}/slots/{slot}/{dir}/{seq}";
const PAYLOAD_ID: &str = "/v1/rooms/{room}/slots/{slot}/payloads/{id}";
const PAYLOAD: &str = "/v1/rooms/{room}/slots/{slot}/payload";

impl Counted {
    async fn call(
        &self,
        route: &'static str,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        *self.calls.lock().expect("lock").entry(route).or_default() += 1;
        self.c.req(method, path, token, body).await
    }

    async fn json(
        &self,
        route: &'static str,
        method: &str,
        path: &str,
        token: Option<&str>,
        v: serde_json::Value,
    ) -> Resp {
        self.call(route, method, path, token, Some(v.to_string().into_bytes()))
            .await
    }
}

fn sent(events: Vec<Event>) -> Vec<u8> {
    events
        .into_iter()
        .find_map(|e| match e {
            Event::Send { msg, .. } => Some(msg),
            Event::Paired => None,
        })
        .expect("a message to send")
}

fn msg_of(r: &Resp) -> Vec<u8> {
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    STANDARD
        .decode(r.json()["msg"].as_str().expect("msg"))
        .expect("b64")
}

/// What must never be in a log line.
#[derive(Default)]
struct Secrets(Vec<String>);

impl Secrets {
    fn add(&mut self, s: impl Into<String>) {
        self.0.push(s.into());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.add(STANDARD.encode(b));
    }
}

/// A room left after one pairing.
struct Done {
    id: String,
    token: String,
    nameplate: String,
    slot: u8,
}

/// One pairing by hand over the relay (both sides in turn, no waiting: every message is
/// there when read); with `wrong`, the receiver typed another secret and the sender burns.
/// The payload, if any, is delivered and deleted.
async fn pairing(t: &Counted, wrong: bool, secrets: &mut Secrets) -> Done {
    let r = t
        .json(ROOMS, "POST", ROOMS, None, json!({"receivers": 1}))
        .await;
    assert_eq!(r.status, 201);
    let v = r.json();
    let (id, token) = (v["room"].as_str().unwrap(), v["token"].as_str().unwrap());
    let nameplate = Nameplate::parse(v["nameplate"].as_str().unwrap()).unwrap();
    let nonce: [u8; 32] = STANDARD
        .decode(v["nonce"].as_str().unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let code = Code::generate(nameplate).unwrap();
    let typed = if wrong {
        Code::generate(nameplate).unwrap()
    } else {
        Code::parse(&code.to_shown()).unwrap()
    };
    for c in [&code, &typed] {
        let shown = c.to_shown().to_string();
        let secret = shown.split_once('-').unwrap().1.to_owned();
        secrets.add(secret.replace('-', ""));
        secrets.add(secret);
    }
    secrets.add(id);
    secrets.add(token);

    let join_id = {
        let mut b = [0u8; 16];
        getrandom::fill(&mut b).unwrap();
        STANDARD.encode(b)
    };
    let j = t
        .json(
            JOIN,
            "POST",
            &format!("/v1/nameplates/{nameplate}/join"),
            None,
            json!({ "join_id": join_id }),
        )
        .await;
    assert_eq!(j.status, 201);
    let jv = j.json();
    let rtoken = jv["token"].as_str().unwrap().to_owned();
    let slot = u8::try_from(jv["slot"].as_u64().unwrap()).unwrap();
    secrets.add(join_id);
    secrets.add(&rtoken);
    let (s, rt) = (Some(token), Some(rtoken.as_str()));
    let base = format!("/v1/rooms/{id}/slots/{slot}");
    let ctx = RoomContext {
        nameplate,
        nonce,
        slot,
    };

    let (mut sender, s0) = Pairing::start(Side::Sender, &code, ctx.clone());
    let (mut receiver, r0) = Pairing::start(Side::Receiver, &typed, ctx);
    let (pake_s, pake_r) = (sent(vec![s0]), sent(vec![r0]));
    secrets.bytes(&pake_s);
    secrets.bytes(&pake_r);
    let put = |path: String, tok, bytes: Vec<u8>| async move {
        let r = t.json(MESSAGE, "PUT", &path, tok, msg(&bytes)).await;
        assert_eq!(r.status, 201);
    };
    let get =
        |path: String, tok| async move { msg_of(&t.call(MESSAGE, "GET", &path, tok, None).await) };
    put(format!("{base}/to-receiver/0"), s, pake_s).await;
    put(format!("{base}/to-sender/0"), rt, pake_r).await;
    let got = get(format!("{base}/to-receiver/0"), rt).await;
    let confirm_r = sent(receiver.receive(0, &got).unwrap());
    secrets.bytes(&confirm_r);
    put(format!("{base}/to-sender/1"), rt, confirm_r).await;
    let got = get(format!("{base}/to-sender/0"), s).await;
    assert!(sender.receive(0, &got).unwrap().is_empty());
    let got = get(format!("{base}/to-sender/1"), s).await;
    match sender.receive(1, &got) {
        Err(PairingError::WrongCode) => {
            assert!(wrong);
            let burn = t
                .json(
                    ROOM,
                    "DELETE",
                    &format!("/v1/rooms/{id}"),
                    s,
                    json!({"reason": "burned"}),
                )
                .await;
            assert_eq!(burn.status, 204);
        }
        Ok(events) => {
            assert!(!wrong);
            let confirm_s = sent(events);
            secrets.bytes(&confirm_s);
            put(format!("{base}/to-receiver/1"), s, confirm_s).await;
            let got = get(format!("{base}/to-receiver/1"), rt).await;
            assert_eq!(receiver.receive(1, &got).unwrap(), vec![Event::Paired]);
            let plaintext = b"the VPN's setup key 4b1d\n";
            secrets.bytes(plaintext);
            let sealed = shared::seal(
                &Credentials::Relay(sender.session().unwrap()),
                &Metadata::default(),
                plaintext,
                false,
                SealOptions::default(),
            )
            .unwrap();
            secrets.bytes(&sealed);
            secrets.bytes(&sealed[..24]);
            let pid = "0123456789abcdef0123456789abcdef";
            let p = format!("{base}/payloads/{pid}");
            let r = t.call(PAYLOAD_ID, "PUT", &p, s, Some(sealed)).await;
            assert_eq!(r.status, 201);
            let r = t
                .call(PAYLOAD, "GET", &format!("{base}/payload"), rt, None)
                .await;
            assert_eq!(r.status, 200);
            let opened =
                shared::open(&r.body, &[Credentials::Relay(receiver.session().unwrap())]).unwrap();
            assert_eq!(&opened.stdout[..], plaintext);
            let r = t.call(PAYLOAD_ID, "DELETE", &p, rt, None).await;
            assert_eq!(r.status, 204);
        }
        Err(e) => panic!("{e}"),
    }
    Done {
        id: id.to_owned(),
        token: token.to_owned(),
        nameplate: nameplate.to_string(),
        slot,
    }
}

/// `name{labels} value` lines of the Prometheus text format.
fn parse_metrics(text: &str) -> HashMap<String, f64> {
    text.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .filter_map(|l| {
            let (k, v) = l.rsplit_once(' ')?;
            Some((k.to_owned(), v.parse().ok()?))
        })
        .collect()
}

fn value(m: &HashMap<String, f64>, key: &str) -> f64 {
    *m.get(key)
        .unwrap_or_else(|| panic!("no {key} in the metrics: {m:?}"))
}

#[tokio::test]
async fn metrics_match_a_run_of_known_counts_and_logs_hold_no_secret() {
    // A TTL long enough for the run (well under a second here), short enough to see the
    // rooms that are not ended expire within the test.
    let relay = Relay::start(&[
        "--joins-per-minute",
        "4",
        "--code-ttl",
        "8",
        "--max-code-ttl",
        "8",
        "--payload-ttl",
        "8",
        "--sweep-interval",
        "1",
    ]);
    let t = Counted {
        c: relay.client(),
        calls: Mutex::new(HashMap::new()),
    };
    let mut secrets = Secrets::default();

    // Two honest pairings, each delivered (joins 1 and 2); the first room is ended.
    let first = pairing(&t, false, &mut secrets).await;
    let r = t
        .json(
            ROOM,
            "DELETE",
            &format!("/v1/rooms/{}", first.id),
            Some(&first.token),
            json!({"reason": "done"}),
        )
        .await;
    assert_eq!(r.status, 204);
    let second = pairing(&t, false, &mut secrets).await;
    // A second payload for the second receiver, never taken: 1000 bytes stay stored.
    let stored = vec![0x5au8; 1000];
    secrets.bytes(&stored);
    let r = t
        .call(
            PAYLOAD_ID,
            "PUT",
            &format!(
                "/v1/rooms/{}/slots/{}/payloads/{}",
                second.id,
                second.slot,
                "f".repeat(32)
            ),
            Some(&second.token),
            Some(stored),
        )
        .await;
    assert_eq!(r.status, 201);
    // A wrong code: the sender burns the room (join 3).
    let burned = pairing(&t, true, &mut secrets).await;
    // Join 4: into the burned room (410); join 5: over the limit of 4 a minute (429).
    let path = format!("/v1/nameplates/{}/join", burned.nameplate);
    let body = json!({"join_id": STANDARD.encode([4u8; 16])});
    let r = t.json(JOIN, "POST", &path, None, body.clone()).await;
    assert_eq!((r.status, r.error().as_str()), (410, "burned"));
    let r = t.json(JOIN, "POST", &path, None, body).await;
    assert_eq!((r.status, r.error().as_str()), (429, "rate_limited"));

    let (status, text) = relay.admin_get("/metrics").await;
    assert_eq!(status, 200);
    let m = parse_metrics(&text);
    assert_eq!(value(&m, "hush_relay_rooms_created_total"), 3.0);
    assert_eq!(value(&m, "hush_relay_joins_total{result=\"ok\"}"), 3.0);
    assert_eq!(value(&m, "hush_relay_joins_total{result=\"burned\"}"), 1.0);
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("hush_relay_joins_total"))
            .count(),
        2,
        "no other join result: {text}"
    );
    assert_eq!(value(&m, "hush_relay_burns_total"), 1.0);
    assert_eq!(value(&m, "hush_relay_payloads_delivered_total"), 2.0);
    assert_eq!(
        value(&m, "hush_relay_rate_limited_total{limit=\"joins\"}"),
        1.0
    );
    assert_eq!(
        m.keys()
            .filter(|k| k.starts_with("hush_relay_rate_limited_total"))
            .count(),
        1,
        "no other limit hit: {text}"
    );
    assert_eq!(value(&m, "hush_relay_payload_bytes_stored"), 1000.0);
    // The room ended with "done" is gone; the second and the burned one are live.
    assert_eq!(value(&m, "hush_relay_rooms_live"), 2.0);
    // The latency histogram counted every request, by route, exactly.
    let calls = t.calls.lock().expect("lock").clone();
    let mut total = 0;
    for (route, n) in &calls {
        let key = format!("hush_relay_request_duration_seconds_count{{route=\"{route}\"}}");
        assert_eq!(value(&m, &key), *n as f64, "{route}");
        total += n;
    }
    let histogram_total: f64 = m
        .iter()
        .filter(|(k, _)| k.starts_with("hush_relay_request_duration_seconds_count"))
        .map(|(_, v)| v)
        .sum();
    assert_eq!(histogram_total, total as f64);
    assert_eq!(calls[JOIN], 5);
    assert_eq!(calls[ROOMS], 3);

    // The two rooms not ended expire (one with its undelivered payload), and are swept.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let m = parse_metrics(&relay.admin_get("/metrics").await.1);
        if m.get("hush_relay_rooms_expired_total") == Some(&2.0) {
            assert_eq!(value(&m, "hush_relay_payloads_expired_total"), 1.0);
            assert_eq!(value(&m, "hush_relay_rooms_live"), 0.0);
            assert_eq!(value(&m, "hush_relay_payload_bytes_stored"), 0.0);
            break;
        }
        assert!(Instant::now() < deadline, "not swept");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }

    // The log: one JSON line per request (the histogram's count), nothing secret in any
    // line, the client's address truncated. Lines arrive through a pipe: wait (bounded).
    let deadline = Instant::now() + Duration::from_secs(5);
    let requests = |logs: &str| {
        logs.lines()
            .filter(|l| l.contains("\"message\":\"request\""))
            .count() as u64
    };
    while requests(&relay.logs()) < total && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let logs = relay.logs();
    assert_eq!(requests(&logs), total);
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("every log line is JSON");
        for secret in &secrets.0 {
            assert!(!line.contains(secret.as_str()), "{secret:?} in {line}");
        }
        if v["message"] == "request" {
            assert_eq!(v["client"], "127.0.0.0/24", "{line}");
            assert!(!line.contains("127.0.0.1"), "a full address: {line}");
        }
    }
    relay.stop();
}
