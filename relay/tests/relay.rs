//! hush-relay against docs/RELAY.md §3, §4 and §7: the real binary on 127.0.0.1 port 0,
//! a pinned TLS client, every wait bounded.

// The harness serves the other test binaries too: not every helper is used here.
#[allow(dead_code)]
mod harness;

use std::os::unix::fs::PermissionsExt as _;
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::{Relay, create, join, join_id, msg, try_join};
use serde_json::json;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

fn slot_path(room: &harness::Room, slot: u64, rest: &str) -> String {
    format!("/v1/rooms/{}/slots/{slot}/{rest}", room.id)
}

#[tokio::test]
async fn a_whole_exchange_and_logs_without_secrets() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = create(&c, 1).await;
    let s = Some(room.token.as_str());
    let jid = join_id(7);
    let r = join(&c, &room.nameplate, &jid).await;
    assert_eq!(r.n, 1);
    let rt = Some(r.token.as_str());

    // The sender learns of the slot.
    let slots = c
        .req(
            "GET",
            &format!("/v1/rooms/{}/slots?after=0", room.id),
            s,
            None,
        )
        .await;
    assert_eq!(slots.status, 200);
    assert_eq!(slots.json()["slots"], json!([1]));

    // Messages both ways.
    let put = c
        .json(
            "PUT",
            &slot_path(&room, 1, "to-sender/0"),
            rt,
            msg(b"pake_R"),
        )
        .await;
    assert_eq!(put.status, 201);
    let got = c
        .req("GET", &slot_path(&room, 1, "to-sender/0"), s, None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.json(), msg(b"pake_R"));
    let put = c
        .json(
            "PUT",
            &slot_path(&room, 1, "to-receiver/0"),
            s,
            msg(b"pake_S"),
        )
        .await;
    assert_eq!(put.status, 201);
    let got = c
        .req("GET", &slot_path(&room, 1, "to-receiver/0"), rt, None)
        .await;
    assert_eq!(got.json(), msg(b"pake_S"));

    // A payload: stored, taken, deleted, then "delivered" for the sender.
    let id = "0123456789abcdef0123456789abcdef";
    let secret_payload = b"SEALED-PAYLOAD-BYTES".to_vec();
    let put = c
        .req(
            "PUT",
            &slot_path(&room, 1, &format!("payloads/{id}")),
            s,
            Some(secret_payload.clone()),
        )
        .await;
    assert_eq!(put.status, 201);
    let state = c
        .req(
            "GET",
            &slot_path(&room, 1, &format!("payloads/{id}")),
            s,
            None,
        )
        .await;
    assert_eq!(state.json()["state"], "stored");
    let got = c
        .req("GET", &slot_path(&room, 1, "payload"), rt, None)
        .await;
    assert_eq!(got.status, 200);
    assert_eq!(got.header("hush-payload-id").as_deref(), Some(id));
    assert_eq!(got.body, secret_payload);
    let del = c
        .req(
            "DELETE",
            &slot_path(&room, 1, &format!("payloads/{id}")),
            rt,
            None,
        )
        .await;
    assert_eq!(del.status, 204);
    let state = c
        .req(
            "GET",
            &slot_path(&room, 1, &format!("payloads/{id}")),
            s,
            None,
        )
        .await;
    assert_eq!(state.json()["state"], "delivered");
    assert!(state.json()["expires"].as_u64().unwrap() > 0);
    let none = c
        .req("GET", &slot_path(&room, 1, "payload"), rt, None)
        .await;
    assert_eq!(none.status, 204);

    // The receiver leaves, the sender ends the room.
    let leave = c
        .req(
            "DELETE",
            &format!("/v1/rooms/{}/slots/1", room.id),
            rt,
            None,
        )
        .await;
    assert_eq!(leave.status, 204);
    let done = c
        .json(
            "DELETE",
            &format!("/v1/rooms/{}", room.id),
            s,
            json!({"reason": "done"}),
        )
        .await;
    assert_eq!(done.status, 204);
    let gone = c
        .req("GET", &format!("/v1/rooms/{}/slots", room.id), s, None)
        .await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.error(), "not_found");

    // Metrics saw it.
    let (status, metrics) = relay.admin_get("/metrics").await;
    assert_eq!(status, 200);
    assert!(
        metrics.contains("hush_relay_rooms_created_total 1"),
        "{metrics}"
    );
    assert!(metrics.contains("hush_relay_joins_total{result=\"ok\"} 1"));
    assert!(metrics.contains("hush_relay_payloads_delivered_total 1"));
    assert!(metrics.contains("route=\"/v1/rooms/{room}/slots/{slot}/payload\""));
    assert_eq!(relay.admin_get("/healthz").await.0, 200);
    assert_eq!(relay.admin_get("/readyz").await.0, 200);

    // The log has routes and statuses, never a token, a join id, a room id or a payload.
    let logs = relay.logs();
    assert!(logs.contains("\"route\":\"/v1/rooms/{room}/slots/{slot}/{dir}/{seq}\""));
    for secret in [
        room.token.as_str(),
        r.token.as_str(),
        jid.as_str(),
        room.id.as_str(),
        "SEALED-PAYLOAD-BYTES",
        &STANDARD.encode(b"pake_R"),
    ] {
        assert!(!logs.contains(secret), "the log holds {secret}");
    }
    for line in logs.lines() {
        let v: serde_json::Value = serde_json::from_str(line).expect("every log line is JSON");
        if let Some(client) = v.get("client") {
            assert_eq!(client, "127.0.0.0/24");
        }
    }
}

#[tokio::test]
async fn retries_are_idempotent() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let a = create(&c, 2).await;
    let b = create(&c, 2).await;
    assert_ne!(a.id, b.id, "a retried creation is a new room");
    let s = Some(a.token.as_str());

    let first = join(&c, &a.nameplate, &join_id(1)).await;
    let again = join(&c, &a.nameplate, &join_id(1)).await;
    assert_eq!(first.n, again.n, "same join_id, same slot");
    // The retry's token is the slot's token now (the first answer was lost).
    let rt = Some(again.token.as_str());
    let p = slot_path(&a, first.n, "to-sender/3");
    assert_eq!(c.json("PUT", &p, rt, msg(b"x")).await.status, 201);
    assert_eq!(c.json("PUT", &p, rt, msg(b"x")).await.status, 200);
    let conflict = c.json("PUT", &p, rt, msg(b"y")).await;
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.error(), "conflict");
    let old = c
        .json("PUT", &p, Some(first.token.as_str()), msg(b"x"))
        .await;
    assert_eq!(old.status, 401);

    let id = "ffffffffffffffffffffffffffffffff";
    let pp = slot_path(&a, first.n, &format!("payloads/{id}"));
    assert_eq!(c.req("PUT", &pp, s, Some(vec![1, 2, 3])).await.status, 201);
    assert_eq!(c.req("PUT", &pp, s, Some(vec![1, 2, 3])).await.status, 200);
    assert_eq!(c.req("PUT", &pp, s, Some(vec![9])).await.status, 409);
    assert_eq!(c.req("DELETE", &pp, rt, None).await.status, 204);
    assert_eq!(c.req("DELETE", &pp, rt, None).await.status, 204);
    // Still recognised after delivery.
    assert_eq!(c.req("PUT", &pp, s, Some(vec![1, 2, 3])).await.status, 200);
    let room = format!("/v1/rooms/{}", a.id);
    let body = json!({"reason": "done"});
    assert_eq!(c.json("DELETE", &room, s, body.clone()).await.status, 204);
    assert_eq!(c.json("DELETE", &room, s, body).await.status, 204);
}

#[tokio::test]
async fn the_ninth_join_finds_the_room_full() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = create(&c, 8).await;
    for i in 1..=8u8 {
        assert_eq!(join(&c, &room.nameplate, &join_id(i)).await.n, u64::from(i));
    }
    let ninth = try_join(&c, &room.nameplate, &join_id(9)).await;
    assert_eq!(ninth.status, 409);
    assert_eq!(ninth.error(), "room_full");
    let too_many = c
        .json("POST", "/v1/rooms", None, json!({"receivers": 9}))
        .await;
    assert_eq!(too_many.status, 400);
}

#[tokio::test]
async fn twenty_racing_joins_for_the_last_slot_one_wins() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = create(&c, 2).await;
    join(&c, &room.nameplate, &join_id(0)).await;
    let mut tasks = Vec::new();
    for i in 1..=20u8 {
        let c = c.clone();
        let np = room.nameplate.clone();
        tasks.push(tokio::spawn(async move {
            try_join(&c, &np, &join_id(i)).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|&&s| s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|&&s| s == 409).count(),
        19,
        "{statuses:?}"
    );
}

#[tokio::test]
async fn a_burned_room_is_gone_for_the_other_side_and_a_denied_slot_too() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = create(&c, 2).await;
    let s = Some(room.token.as_str());
    let r1 = join(&c, &room.nameplate, &join_id(1)).await;
    let r2 = join(&c, &room.nameplate, &join_id(2)).await;

    // Deny slot 2.
    let deny = c
        .req("DELETE", &format!("/v1/rooms/{}/slots/2", room.id), s, None)
        .await;
    assert_eq!(deny.status, 204);
    let denied = c
        .req(
            "GET",
            &slot_path(&room, 2, "to-receiver/0"),
            Some(&r2.token),
            None,
        )
        .await;
    assert_eq!((denied.status, denied.error().as_str()), (410, "denied"));

    // Burn.
    let burn = c
        .json(
            "DELETE",
            &format!("/v1/rooms/{}", room.id),
            s,
            json!({"reason": "burned"}),
        )
        .await;
    assert_eq!(burn.status, 204);
    let r = c
        .req(
            "GET",
            &slot_path(&room, 1, "to-receiver/1"),
            Some(&r1.token),
            None,
        )
        .await;
    assert_eq!((r.status, r.error().as_str()), (410, "burned"));
    let again = try_join(&c, &room.nameplate, &join_id(3)).await;
    assert_eq!((again.status, again.error().as_str()), (410, "burned"));
    let sender = c
        .req("GET", &format!("/v1/rooms/{}/slots", room.id), s, None)
        .await;
    assert_eq!(sender.status, 410);
    let (_, metrics) = relay.admin_get("/metrics").await;
    assert!(metrics.contains("hush_relay_burns_total 1"));
}

#[tokio::test]
async fn long_polls_answer_on_arrival_and_204_after_the_wait() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = create(&c, 1).await;
    let s = room.token.clone();

    // The sender waits for a join.
    let waiter = {
        let c = c.clone();
        let path = format!("/v1/rooms/{}/slots?after=0&wait=20", room.id);
        let s = s.clone();
        tokio::spawn(async move {
            let t = Instant::now();
            (c.req("GET", &path, Some(&s), None).await, t.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let r = join(&c, &room.nameplate, &join_id(1)).await;
    let (res, took) = waiter.await.unwrap();
    assert_eq!(res.json()["slots"], json!([1]));
    assert!(took < Duration::from_secs(5), "woke after {took:?}");

    // The receiver waits for a message.
    let waiter = {
        let c = c.clone();
        let path = slot_path(&room, 1, "to-receiver/0?wait=20");
        let t = r.token.clone();
        tokio::spawn(async move {
            let start = Instant::now();
            (c.req("GET", &path, Some(&t), None).await, start.elapsed())
        })
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    let put = c
        .json(
            "PUT",
            &slot_path(&room, 1, "to-receiver/0"),
            Some(&s),
            msg(b"hello"),
        )
        .await;
    assert_eq!(put.status, 201);
    let (res, took) = waiter.await.unwrap();
    assert_eq!(res.status, 200);
    assert_eq!(res.json(), msg(b"hello"));
    assert!(took < Duration::from_secs(5), "woke after {took:?}");

    // Nothing comes: 204 after the wait.
    let start = Instant::now();
    let res = c
        .req(
            "GET",
            &slot_path(&room, 1, "payload?wait=1"),
            Some(&r.token),
            None,
        )
        .await;
    let took = start.elapsed();
    assert_eq!(res.status, 204);
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    let too_long = c
        .req(
            "GET",
            &slot_path(&room, 1, "payload?wait=26"),
            Some(&r.token),
            None,
        )
        .await;
    assert_eq!(too_long.status, 400);
}

#[tokio::test]
async fn tokens_decide_who_may_do_what() {
    let relay = Relay::start(&[]);
    let c = relay.client();
    let room = create(&c, 2).await;
    let other = create(&c, 1).await;
    let r1 = join(&c, &room.nameplate, &join_id(1)).await;
    join(&c, &room.nameplate, &join_id(2)).await;
    let p = slot_path(&room, 1, "to-receiver/0");

    let none = c.req("GET", &p, None, None).await;
    assert_eq!((none.status, none.error().as_str()), (401, "unauthorized"));
    let wrong = c.req("GET", &p, Some(&other.token), None).await;
    assert_eq!(wrong.status, 401);
    let garbage = c.req("GET", &p, Some("not-base64!"), None).await;
    assert_eq!(garbage.status, 401);
    // A receiver on another slot, a receiver reading the sender's queue, the sender
    // reading the receiver's payload: valid tokens outside their rights.
    let other_slot = c
        .req(
            "GET",
            &slot_path(&room, 2, "to-receiver/0"),
            Some(&r1.token),
            None,
        )
        .await;
    assert_eq!(
        (other_slot.status, other_slot.error().as_str()),
        (403, "forbidden")
    );
    let read_sender = c
        .req(
            "GET",
            &slot_path(&room, 1, "to-sender/0"),
            Some(&r1.token),
            None,
        )
        .await;
    assert_eq!(read_sender.status, 403);
    let sender_payload = c
        .req(
            "GET",
            &slot_path(&room, 1, "payload"),
            Some(&room.token),
            None,
        )
        .await;
    assert_eq!(sender_payload.status, 403);
    let list = c
        .req(
            "GET",
            &format!("/v1/rooms/{}/slots", room.id),
            Some(&r1.token),
            None,
        )
        .await;
    assert_eq!(list.status, 403);
    let burn = c
        .json(
            "DELETE",
            &format!("/v1/rooms/{}", room.id),
            Some(&r1.token),
            json!({"reason": "burned"}),
        )
        .await;
    assert_eq!(burn.status, 403);
}

#[tokio::test]
async fn malformed_and_oversized_requests() {
    let relay = Relay::start(&["--max-payload", "1024"]);
    let c = relay.client();
    let room = create(&c, 1).await;
    let r = join(&c, &room.nameplate, &join_id(1)).await;
    let s = Some(room.token.as_str());

    let big = c
        .req(
            "PUT",
            &slot_path(&room, 1, "payloads/00000000000000000000000000000000"),
            s,
            Some(vec![0; 1025]),
        )
        .await;
    assert_eq!((big.status, big.error().as_str()), (413, "too_large"));
    let big_json = c
        .req("POST", "/v1/rooms", None, Some(vec![b' '; 5000]))
        .await;
    assert_eq!(big_json.status, 413);
    let rt = Some(r.token.as_str());
    for (path, body) in [
        (slot_path(&room, 9, "to-sender/0"), msg(b"x")),
        (slot_path(&room, 1, "to-sender/16"), msg(b"x")),
        (slot_path(&room, 1, "sideways/0"), msg(b"x")),
        (slot_path(&room, 1, "to-sender/0"), json!({"msg": "***"})),
        (slot_path(&room, 1, "to-sender/0"), json!({"nope": 1})),
    ] {
        let res = c.json("PUT", &path, rt, body).await;
        assert_eq!(
            (res.status, res.error().as_str()),
            (400, "bad_request"),
            "{path}"
        );
    }
    let bad_np = try_join(&c, "0417", &join_id(2)).await;
    assert_eq!(bad_np.status, 400);
    let unknown_np = try_join(&c, "9998", &join_id(2)).await;
    assert_ne!(unknown_np.status, 201);
    let bad_id = try_join(&c, &room.nameplate, "c2hvcnQ=").await;
    assert_eq!(bad_id.status, 400);
    let nowhere = c.req("GET", "/v1/rooms", None, None).await;
    assert_eq!(nowhere.status, 400);
    let nothing = c.req("GET", "/etc/passwd", None, None).await;
    assert_eq!(
        (nothing.status, nothing.error().as_str()),
        (404, "not_found")
    );
}

#[tokio::test]
async fn rooms_and_codes_expire() {
    let relay = Relay::start(&[
        "--code-ttl",
        "1",
        "--max-code-ttl",
        "1",
        "--payload-ttl",
        "2",
        "--sweep-interval",
        "1",
    ]);
    let c = relay.client();
    let room = create(&c, 2).await;
    join(&c, &room.nameplate, &join_id(1)).await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let late = try_join(&c, &room.nameplate, &join_id(2)).await;
    assert_eq!((late.status, late.error().as_str()), (404, "not_found"));
    // The room still serves the pairing after the code expired...
    let list = c
        .req(
            "GET",
            &format!("/v1/rooms/{}/slots", room.id),
            Some(&room.token),
            None,
        )
        .await;
    assert_eq!(list.status, 200);
    // ...until its own TTL.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let list = c
        .req(
            "GET",
            &format!("/v1/rooms/{}/slots", room.id),
            Some(&room.token),
            None,
        )
        .await;
    assert_eq!(list.status, 404);
    // The sweeper (every second) dropped it.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (_, metrics) = relay.admin_get("/metrics").await;
        if metrics.contains("hush_relay_rooms_expired_total 1") {
            assert!(metrics.contains("hush_relay_rooms_live 0"));
            break;
        }
        assert!(Instant::now() < deadline, "not swept: {metrics}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let too_long = c
        .json("POST", "/v1/rooms", None, json!({"receivers": 1, "ttl": 2}))
        .await;
    assert_eq!(too_long.status, 400);
}

#[tokio::test]
async fn rate_limits_answer_429_with_retry_after() {
    let relay = Relay::start(&["--rate", "1", "--burst", "3", "--joins-per-minute", "1"]);
    let c = relay.client();
    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(c.req("GET", "/v1/nowhere", None, None).await);
    }
    let limited = statuses.iter().find(|r| r.status == 429).expect("no 429");
    assert_eq!(limited.error(), "rate_limited");
    assert!(
        limited
            .header("retry-after")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 1
    );
    drop(relay);

    let relay = Relay::start(&["--joins-per-minute", "2"]);
    let c = relay.client();
    let room = create(&c, 8).await;
    join(&c, &room.nameplate, &join_id(1)).await;
    join(&c, &room.nameplate, &join_id(2)).await;
    let third = try_join(&c, &room.nameplate, &join_id(3)).await;
    assert_eq!(third.status, 429);
    assert!(third.header("retry-after").unwrap().parse::<u64>().unwrap() >= 20);
    let (_, metrics) = relay.admin_get("/metrics").await;
    assert!(metrics.contains("hush_relay_rate_limited_total{limit=\"joins\"} 1"));
}

#[tokio::test]
async fn the_room_limit_answers_503_full() {
    let relay = Relay::start(&["--max-rooms", "2"]);
    let c = relay.client();
    create(&c, 1).await;
    create(&c, 1).await;
    let full = c
        .json("POST", "/v1/rooms", None, json!({"receivers": 1}))
        .await;
    assert_eq!((full.status, full.error().as_str()), (503, "full"));
    assert!(full.header("retry-after").is_some());
}

/// Reads until the server closes; panics if it has not within `limit`.
async fn closed_within(tcp: &mut TcpStream, limit: Duration) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    let deadline = Instant::now() + limit;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, tcp.read(&mut buf)).await {
            Err(_) => panic!("the server kept the connection open past {limit:?}"),
            Ok(Ok(0)) | Ok(Err(_)) => return out,
            Ok(Ok(n)) => out.extend_from_slice(&buf[..n]),
        }
    }
}

#[tokio::test]
async fn plain_http_and_silent_clients_are_cut_off() {
    let relay = Relay::start(&["--tls-handshake-timeout", "1", "--header-timeout", "1"]);

    // Plain HTTP on the TLS port: no HTTP answer, the connection closes at once.
    let mut tcp = TcpStream::connect(relay.addr).await.unwrap();
    tcp.write_all(b"GET /v1/rooms HTTP/1.1\r\nHost: localhost\r\n\r\n")
        .await
        .unwrap();
    let start = Instant::now();
    let out = closed_within(&mut tcp, Duration::from_secs(5)).await;
    assert!(!out.starts_with(b"HTTP/"), "answered plain HTTP");
    assert!(start.elapsed() < Duration::from_secs(2));

    // A client that connects and says nothing: cut at the handshake timeout.
    let mut silent = TcpStream::connect(relay.addr).await.unwrap();
    let start = Instant::now();
    closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(
        start.elapsed() >= Duration::from_millis(900),
        "{:?}",
        start.elapsed()
    );

    // A client that finishes TLS and sends half a request: cut at the header timeout.
    let start = Instant::now();
    let res = tokio::time::timeout(Duration::from_secs(8), async {
        let tcp = TcpStream::connect(relay.addr).await.unwrap();
        let mut tls = relay.client().tls(tcp).await;
        tls.write_all(b"GET /v1/rooms HTTP/1.1\r\nHost: loc")
            .await
            .unwrap();
        let mut buf = Vec::new();
        let _ = tls.read_to_end(&mut buf).await;
        buf
    })
    .await
    .expect("slow headers were not cut");
    assert!(start.elapsed() < Duration::from_secs(5));
    // hyper answers 408 or just closes; either way nothing was served.
    assert!(!res.starts_with(b"HTTP/1.1 2"));
}

#[tokio::test]
async fn the_pinned_certificate_is_the_served_one_and_survives_a_restart() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("relay-state");
    let relay = Relay::start_in(&dir, &[]);
    assert!(relay.cert_created);
    assert!(relay.pin.starts_with("sha256:") && relay.pin.len() == 7 + 64);
    let c = relay.client();
    assert_eq!(c.req("GET", "/v1/nowhere", None, None).await.status, 404);
    let seen = c
        .pin
        .seen()
        .map(|r| r.map(|der| harness::fingerprint(&der)));
    assert_eq!(seen, Some(Ok(relay.pin.clone())));
    let pem = std::fs::read_to_string(dir.join("cert.pem")).unwrap();
    let der = STANDARD
        .decode(
            pem.lines()
                .filter(|l| !l.starts_with("-----"))
                .collect::<String>(),
        )
        .unwrap();
    assert_eq!(harness::fingerprint(&der), relay.pin);
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&dir), 0o700);
    assert_eq!(mode(&dir.join("cert.pem")), 0o600);
    assert_eq!(mode(&dir.join("key.pem")), 0o600);
    let pin = relay.pin.clone();
    relay.stop();

    let relay = Relay::start_in(&dir, &[]);
    assert!(!relay.cert_created);
    assert_eq!(relay.pin, pin);
    assert_eq!(
        relay.client().req("GET", "/v1/x", None, None).await.status,
        404
    );

    // A client pinning anything else does not get through.
    let wrong = harness::Client::new(relay.addr, &format!("sha256:{}", "0".repeat(64)));
    assert!(
        wrong
            .try_req("GET", "/v1/x", None, &[], None)
            .await
            .is_err()
    );
}

#[tokio::test]
async fn a_private_relay_wants_a_key_of_the_right_scope() {
    use sha2::{Digest as _, Sha256};
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("api-keys");
    let hash = |k: &str| hex::encode(Sha256::digest(k.as_bytes()));
    std::fs::write(
        &keys,
        format!(
            "# two keys\ncreate:{}\njoin:{}\n",
            hash("ops-create"),
            hash("laptops")
        ),
    )
    .unwrap();
    let relay = Relay::start(&["--api-keys", keys.to_str().unwrap()]);
    let c = relay.client();
    let body = || Some(json!({"receivers": 1}).to_string().into_bytes());
    let create = |key: &'static str| {
        let c = &c;
        async move {
            let extra: Vec<(&str, &str)> = if key.is_empty() {
                vec![]
            } else {
                vec![("hush-api-key", key)]
            };
            c.req_with("POST", "/v1/rooms", None, &extra, body()).await
        }
    };
    for key in ["", "wrong", "laptops"] {
        let r = create(key).await;
        assert_eq!(r.status, 401, "create with {key:?}");
        assert_eq!(r.error(), "unauthorized");
    }
    let r = create("ops-create").await;
    assert_eq!(r.status, 201);
    let nameplate = r.json()["nameplate"].as_str().unwrap().to_owned();
    let join = |key: &'static str| {
        let c = &c;
        let path = format!("/v1/nameplates/{nameplate}/join");
        async move {
            let body = Some(json!({"join_id": join_id(3)}).to_string().into_bytes());
            c.req_with("POST", &path, None, &[("hush-api-key", key)], body)
                .await
        }
    };
    assert_eq!(
        join("ops-create").await.status,
        401,
        "a create key does not join"
    );
    assert_eq!(join("laptops").await.status, 201);
    assert!(!relay.logs().contains("laptops"), "a key in the logs");
    relay.stop();
}
