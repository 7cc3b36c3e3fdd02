//! Bounded load through the real hush-relay: whole pairings at a concurrency of 32 with no
//! error, and a flood of room creations from one address that the rate limit turns away
//! without the relay's memory growing, all of it gone after the TTLs. Speed is not judged
//! here (that is `scripts/bench-relay`); correctness under load is.

#[allow(dead_code)]
mod harness;
mod loadgen;

use std::sync::Arc;
use std::time::{Duration, Instant};

use harness::Relay;
use harness::redis::RedisServer;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use shared::cli::relay_client::{RelayClient, parse_pin};

/// Room creations in the flood.
const FLOOD: usize = 10_000;
/// Connections the flood is spread over.
const FLOOD_CONNECTIONS: usize = 4;

fn client(relay: &Relay) -> RelayClient {
    let url = format!("https://{}", relay.addr);
    RelayClient::new(&url, Some(parse_pin(&relay.pin).expect("pin"))).expect("client")
}

/// A figure of /proc/PID/status, in KiB.
fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("status");
    status
        .lines()
        .find_map(|l| {
            l.strip_prefix(field)?
                .trim()
                .strip_suffix("kB")?
                .trim()
                .parse()
                .ok()
        })
        .expect("field in /proc status")
}

/// A gauge or counter's value in the Prometheus text (0 when absent).
fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && !l.starts_with('#'))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Limits well above the load: these runs are about correctness, not the limiter.
const OPEN_LIMITS: &[&str] = &[
    "--rate",
    "100000",
    "--burst",
    "100000",
    "--joins-per-minute",
    "100000",
    "--max-long-polls",
    "1000",
];

/// 200 pairings at concurrency 32, senders on `senders[i % n]` and receivers on the next
/// relay; zero errors, and every room closed afterwards.
fn two_hundred_pairings(relays: &[&Relay]) {
    let connect = |worker: usize| {
        let at = |i: usize| client(relays[i % relays.len()]);
        (at(worker), at(worker + 1))
    };
    let report = loadgen::run(connect, 200, 32, 4096);
    assert!(report.errors.is_empty(), "errors: {:?}", report.errors);
    assert_eq!((report.pairings, report.latencies.len()), (200, 200));
    let rt = tokio::runtime::Runtime::new().expect("runtime");
    let (mut created, mut delivered) = (0.0, 0.0);
    for relay in relays {
        let (_, metrics) = rt.block_on(relay.admin_get("/metrics"));
        assert_eq!(metric(&metrics, metrics_name::ROOMS_LIVE), 0.0, "{metrics}");
        created += metric(&metrics, metrics_name::CREATED);
        delivered += metric(&metrics, metrics_name::DELIVERED);
    }
    assert_eq!((created, delivered), (200.0, 200.0));
    eprintln!(
        "load: 200 pairings on {} relay(s) in {:.2} s ({:.0}/s, p99 {} ms) on a debug build",
        relays.len(),
        report.elapsed.as_secs_f64(),
        report.rate(),
        report.quantile(0.99).as_millis()
    );
}

#[test]
fn two_hundred_pairings_at_concurrency_32_without_an_error() {
    let relay = Relay::start(OPEN_LIMITS);
    two_hundred_pairings(&[&relay]);
    relay.stop();
}

/// The same load on a farm: two instances on one Redis, each pairing's sender on one and
/// its receiver on the other; afterwards Redis holds nothing but what expires by itself.
#[test]
fn two_hundred_pairings_on_a_two_instance_redis_farm_without_an_error() {
    let redis = RedisServer::start();
    let state = tempfile::tempdir().expect("tempdir");
    let url = redis.url();
    let flags = [OPEN_LIMITS, &["--redis", &url]].concat();
    let a = Relay::start_in(state.path(), &flags);
    let b = Relay::start_in(state.path(), &flags);
    assert_eq!(a.pin, b.pin, "one certificate for the farm");
    two_hundred_pairings(&[&a, &b]);
    a.stop();
    b.stop();
}

mod metrics_name {
    pub const ROOMS_LIVE: &str = "hush_relay_rooms_live";
    pub const CREATED: &str = "hush_relay_rooms_created_total";
    pub const DELIVERED: &str = "hush_relay_payloads_delivered_total";
}

/// One keep-alive HTTPS connection to the relay.
async fn connection(relay: &Relay) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
    let tcp = tokio::net::TcpStream::connect(relay.addr)
        .await
        .expect("connect");
    let tls = relay.client().tls(tcp).await;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("http handshake");
    tokio::spawn(conn);
    sender
}

/// Flags of a flood run: the default per-address limits (20 requests/s, burst 40), short
/// TTLs so that the end of the test sees everything expire, and a small memory budget.
const FLOOD_FLAGS: &[&str] = &[
    "--rate",
    "20",
    "--burst",
    "40",
    "--code-ttl",
    "2",
    "--payload-ttl",
    "3",
    "--sweep-interval",
    "1",
    "--memory-budget",
    "16",
];
const FLOOD_BUDGET_KIB: u64 = 16 * 1024;

/// 10 000 room creations from one address over a few keep-alive connections: the burst
/// and then the rate get through, every other answer is 429 with `Retry-After`, and the
/// relay's RSS stays under its memory budget.
async fn flood(relay: &Arc<Relay>) {
    let rss_before = status_kib(relay.pid(), "VmRSS:");
    let started = Instant::now();
    let mut tasks = Vec::new();
    for c in 0..FLOOD_CONNECTIONS {
        let relay = Arc::clone(relay);
        tasks.push(tokio::spawn(async move {
            let mut conn = connection(&relay).await;
            let mut counts = [0usize; 3]; // 201, 429, other
            for _ in (c..FLOOD).step_by(FLOOD_CONNECTIONS) {
                if conn.ready().await.is_err() {
                    // The relay may close a connection (it never should here): reconnect.
                    conn = connection(&relay).await;
                }
                let req = hyper::Request::post("/v1/rooms")
                    .header("host", "localhost")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from_static(br#"{"receivers":1}"#)))
                    .expect("request");
                let res = conn.send_request(req).await.expect("answer");
                let i = match res.status().as_u16() {
                    201 => 0,
                    429 => {
                        assert!(res.headers().contains_key("retry-after"));
                        1
                    }
                    _ => 2,
                };
                counts[i] += 1;
                let _ = res.into_body().collect().await;
            }
            counts
        }));
    }
    let mut counts = [0usize; 3];
    for t in tasks {
        let c = tokio::time::timeout(Duration::from_secs(120), t)
            .await
            .expect("the flood ends in time")
            .expect("flood task");
        for i in 0..3 {
            counts[i] += c[i];
        }
    }
    let elapsed = started.elapsed().as_secs_f64();
    let [created, limited, other] = counts;
    eprintln!(
        "flood: {created} created, {limited} turned away (429), {other} other, {elapsed:.1} s"
    );
    assert_eq!(other, 0, "every answer is 201 or 429");
    assert_eq!(created + limited, FLOOD);
    // The bucket lets through its burst and then its rate; a little slack for timing.
    let allowed = 40.0 + 20.0 * elapsed + 5.0;
    assert!(
        (created as f64) <= allowed,
        "{created} rooms in {elapsed:.1} s"
    );
    assert!(created >= 40, "the burst goes through");

    let peak = status_kib(relay.pid(), "VmHWM:");
    eprintln!("flood: relay RSS {rss_before} KiB before, peak {peak} KiB");
    assert!(
        peak <= FLOOD_BUDGET_KIB,
        "the relay's RSS went past its memory budget: {peak} KiB"
    );
}

/// Polls `left` (what is still stored) until it is 0, for at most 15 s.
async fn until_nothing_is_left(what: &str, mut left: impl AsyncFnMut() -> f64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let n = left().await;
        if n == 0.0 {
            return;
        }
        assert!(Instant::now() < deadline, "{n} {what} left after the TTLs");
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

fn stop(relay: Arc<Relay>) {
    match Arc::try_unwrap(relay) {
        Ok(relay) => relay.stop(),
        Err(_) => panic!("the relay is still shared"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_room_creations_is_turned_away_and_leaves_nothing_behind() {
    let relay = Arc::new(Relay::start(FLOOD_FLAGS));
    flood(&relay).await;
    // After the TTLs (and a sweep), no room and no byte is left.
    until_nothing_is_left("rooms or bytes", async || {
        let (_, metrics) = relay.admin_get("/metrics").await;
        metric(&metrics, metrics_name::ROOMS_LIVE) + metric(&metrics, "hush_relay_store_bytes")
    })
    .await;
    stop(relay);
}

/// The same flood on a relay with a Redis store: after the TTLs, Redis holds no key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_on_redis_leaves_no_key_behind() {
    let redis = RedisServer::start();
    let url = redis.url();
    let relay = Arc::new(Relay::start(&[FLOOD_FLAGS, &["--redis", &url]].concat()));
    flood(&relay).await;
    assert!(redis.dbsize() > 0, "the rooms are in Redis");
    until_nothing_is_left("Redis keys", async || redis.dbsize() as f64).await;
    stop(relay);
}
