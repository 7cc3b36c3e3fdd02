//! A relay farm: one redis-server, two `hush-relay --redis` instances with the same
//! certificate (one state directory, so one pin), and a round-robin TCP proxy in front
//! (TLS passes through it, as through a TCP load balancer). A pairing of the Rust sender
//! and receiver (the tools' blocking client) survives the loss of an instance; a Redis
//! restarted without persistence loses the room, and the client is told so clearly;
//! `/readyz` follows Redis down and back without a relay restart.

// A test: a failed step is a failed test, and unwrap says where.
#![allow(clippy::unwrap_used)]

// The harness serves the other test binaries too: not every helper is used here.
#[allow(dead_code)]
mod harness;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use harness::Relay;
use harness::redis::RedisServer;
use shared::cli::relay_client::{Queue, RelayClient, RelayError, parse_pin};
use shared::cli::relay_flow::{FlowError, Receiver, SenderRoom};
use shared::relay::Code;
use shared::{Credentials, Metadata, SealOptions};
use tokio::net::{TcpListener, TcpStream};

/// How long any one wait of this test may take.
const BOUND: Duration = Duration::from_secs(20);

/// A round-robin TCP proxy: each connection goes to the next backend, skipping one that
/// refuses the connection (as a balancer's health check would). Bytes pass untouched.
struct Proxy {
    addr: SocketAddr,
    /// Connections forwarded to each backend.
    counts: Arc<Vec<AtomicUsize>>,
    backends: Arc<Mutex<Vec<SocketAddr>>>,
}

impl Proxy {
    fn start(rt: &tokio::runtime::Runtime, backends: Vec<SocketAddr>) -> Proxy {
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let addr = listener.local_addr().unwrap();
        let counts: Arc<Vec<AtomicUsize>> =
            Arc::new(backends.iter().map(|_| AtomicUsize::new(0)).collect());
        let backends = Arc::new(Mutex::new(backends));
        let (c, b) = (Arc::clone(&counts), Arc::clone(&backends));
        // Runs until the runtime is dropped at the end of the test.
        rt.spawn(async move {
            let next = AtomicUsize::new(0);
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    continue;
                };
                let list = b.lock().unwrap().clone();
                let first = next.fetch_add(1, Ordering::Relaxed);
                let c = Arc::clone(&c);
                tokio::spawn(async move {
                    for i in 0..list.len() {
                        let k = (first + i) % list.len();
                        let Ok(Ok(mut upstream)) = tokio::time::timeout(
                            Duration::from_secs(1),
                            TcpStream::connect(list[k]),
                        )
                        .await
                        else {
                            continue;
                        };
                        c[k].fetch_add(1, Ordering::Relaxed);
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
                        return;
                    }
                });
            }
        });
        Proxy {
            addr,
            counts,
            backends,
        }
    }

    fn counts(&self) -> Vec<usize> {
        self.counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect()
    }
}

#[test]
fn a_farm_survives_an_instance_and_tells_when_redis_lost_the_room() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let mut redis = RedisServer::start();
    let url = redis.url();
    let state = tempfile::tempdir().unwrap();
    // A makes the certificate; B, started after, finds it: one pin for the farm.
    let a = Relay::start_in(state.path(), &["--redis", &url]);
    let b = Relay::start_in(state.path(), &["--redis", &url]);
    assert_eq!(a.pin, b.pin);
    assert!(a.logs().contains(r#""store":"redis""#), "{}", a.logs());
    let proxy = Proxy::start(&rt, vec![a.addr, b.addr]);
    let base = format!("https://{}", proxy.addr);
    let pin = parse_pin(&a.pin).unwrap();

    // --- A pairing through the proxy (the tools' own flow); instance A is SIGKILLed
    // between the join and the confirmation.
    let deadline = Instant::now() + BOUND;
    let sender = RelayClient::new(&base, Some(pin)).expect("sender client");
    let mut room = SenderRoom::open(sender.clone(), 1).expect("room");
    let typed = room.code().to_shown().to_string();
    let receiver_base = base.clone();
    let receiver = std::thread::spawn(move || {
        let client = RelayClient::new(&receiver_base, Some(pin)).expect("receiver client");
        let code = Code::parse(&typed).expect("typed code");
        let receiver = Receiver::pair(client, &code, deadline).expect("paired");
        let (id, sealed) = receiver.next_payload(deadline).expect("a payload");
        let session = receiver.session().clone();
        let opened = shared::open(&sealed, &[Credentials::Relay(session.clone())]).expect("opens");
        receiver.acknowledge(&id).expect("acknowledged");
        // One delivery per message id: nothing more comes, even after the sender's retry.
        let again = receiver.next_payload(Instant::now() + Duration::from_secs(3));
        (session.receiver_code, opened.stdout.to_vec(), id, again)
    });

    let slots = room.joined(deadline).expect("a receiver joined");
    // The receiver joined: instance A dies (SIGKILL) before either side confirms.
    let a_addr = a.addr;
    a.stop();
    let candidate = room.pair(slots[0], deadline).expect("the codes match");
    let sealed = shared::seal(
        &Credentials::Relay(candidate.session.clone()),
        &Metadata::default(),
        b"farm key 51c0\n",
        false,
        SealOptions::default(),
    )
    .expect("seal");
    let id = "00112233445566778899aabbccddeeff";
    room.deliver(candidate.slot, id, &sealed).expect("stored");
    // A retried upload of the same message (a lost answer) is the same message.
    room.deliver(candidate.slot, id, &sealed)
        .expect("stored again");
    let (receiver_code, plaintext, got_id, again) = receiver.join().expect("receiver thread");
    assert_eq!(receiver_code, candidate.session.receiver_code);
    assert_eq!(plaintext, b"farm key 51c0\n");
    assert_eq!(got_id, id);
    assert!(
        matches!(again, Err(FlowError::TimedOut(_))),
        "a second delivery of one message id: {again:?}"
    );
    let counts = proxy.counts();
    assert!(
        counts[0] > 0 && counts[1] > 0,
        "both instances served: {counts:?}"
    );

    // --- Redis restarted without persistence in the middle of a pairing: the room is
    // gone, and the client is told that plainly (404 not_found), not left waiting.
    proxy.backends.lock().unwrap().retain(|&x| x != a_addr);
    let room = sender.create_room(1).expect("second room");
    let joiner = RelayClient::new(&base, Some(pin)).expect("client");
    let joined = joiner.join(room.nameplate).expect("join");
    assert_eq!(rt.block_on(b.admin_get("/readyz")).0, 200);
    redis.kill();
    let deadline = Instant::now() + BOUND;
    while rt.block_on(b.admin_get("/readyz")).0 != 503 {
        assert!(
            Instant::now() < deadline,
            "/readyz stayed 200 without Redis"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    // The receiver writes while Redis is down: 503s, retried by the client, until Redis
    // is back, empty.
    let put = std::thread::spawn(move || {
        joiner.put(
            &joined.token,
            &joined.room,
            joined.slot,
            Queue::ToSender,
            0,
            b"pake R",
        )
    });
    std::thread::sleep(Duration::from_millis(300));
    redis.restart();
    let deadline = Instant::now() + BOUND;
    while rt.block_on(b.admin_get("/readyz")).0 != 200 {
        assert!(Instant::now() < deadline, "/readyz did not come back");
        std::thread::sleep(Duration::from_millis(100));
    }
    let err = put
        .join()
        .expect("put thread")
        .expect_err("the room is gone");
    assert!(
        matches!(&err, RelayError::Refused { status: 404, code, .. } if code == "not_found"),
        "{err}"
    );
    assert!(err.to_string().contains("lost it"), "{err}");
    let err = sender
        .slots(&room.token, &room.room, 0, 0)
        .expect_err("the room is gone");
    assert_eq!(err.code(), Some("not_found"), "{err}");
    // The farm works again without a restart of the relay.
    let room = sender.create_room(1).expect("a room after the restart");
    RelayClient::new(&base, Some(pin))
        .expect("client")
        .join(room.nameplate)
        .expect("join after the restart");
    b.stop();
}

/// Joins and long-polls per address are counted in Redis: the limits hold for the farm,
/// whichever instance a client reaches.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_address_limits_are_farm_wide() {
    let redis = RedisServer::start();
    let url = redis.url();
    let state = tempfile::tempdir().unwrap();
    let flags = [
        "--redis",
        &url,
        "--joins-per-minute",
        "2",
        "--max-long-polls",
        "1",
    ];
    let a = Relay::start_in(state.path(), &flags);
    let b = Relay::start_in(state.path(), &flags);
    let (ca, cb) = (a.client(), b.client());
    let room = harness::create(&ca, 8).await;
    assert_eq!(
        harness::try_join(&ca, &room.nameplate, &harness::join_id(1))
            .await
            .status,
        201
    );
    assert_eq!(
        harness::try_join(&cb, &room.nameplate, &harness::join_id(2))
            .await
            .status,
        201
    );
    let third = harness::try_join(&ca, &room.nameplate, &harness::join_id(3)).await;
    assert_eq!(
        (third.status, third.error().as_str()),
        (429, "rate_limited")
    );
    assert!(third.header("retry-after").is_some());

    // One long-poll held on A: a second one on B is refused; once A's ends, B's goes.
    let path = format!("/v1/rooms/{}/slots?after=8&wait=2", room.id);
    let held = {
        let (ca, path, token) = (ca.clone(), path.clone(), room.token.clone());
        tokio::spawn(async move { ca.req("GET", &path, Some(&token), None).await })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let refused = cb.req("GET", &path, Some(&room.token), None).await;
    assert_eq!(
        (refused.status, refused.error().as_str()),
        (429, "rate_limited")
    );
    assert_eq!(held.await.unwrap().status, 200);
    let deadline = Instant::now() + BOUND;
    loop {
        let r = cb
            .req(
                "GET",
                &path.replace("wait=2", "wait=1"),
                Some(&room.token),
                None,
            )
            .await;
        if r.status == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the long-poll place was never given back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `rediss://`: the relay reaches Redis over TLS (rustls with ring), verifying Redis'
/// certificate against the system's roots (here a private CA given by SSL_CERT_FILE); a
/// Redis whose certificate it cannot verify stops it at start (exit 5).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_connects_over_verified_tls() {
    use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
    let dir = tempfile::tempdir().unwrap();
    let ca_key = KeyPair::generate().unwrap();
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca_cert = ca_params.self_signed(&ca_key).unwrap();
    let issuer = Issuer::new(ca_params, ca_key);
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&key, &issuer)
        .unwrap();
    let [ca_pem, cert_pem, key_pem] = ["ca.pem", "cert.pem", "key.pem"].map(|n| dir.path().join(n));
    std::fs::write(&ca_pem, ca_cert.pem()).unwrap();
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, key.serialize_pem()).unwrap();
    let redis = RedisServer::start_tls(&cert_pem, &key_pem, &ca_pem);
    let url = redis.tls_url();

    let state = dir.path().join("state");
    let relay = Relay::start_with_env(
        &state,
        &["--redis", &url],
        &[("SSL_CERT_FILE", ca_pem.as_path())],
    );
    let c = relay.client();
    let room = harness::create(&c, 1).await;
    harness::join(&c, &room.nameplate, &harness::join_id(1)).await;
    assert!(redis.dbsize() > 0, "the room is in the TLS Redis");
    assert_eq!(relay.admin_get("/readyz").await.0, 200);

    // With another CA as the only root, the same Redis is not trusted: the relay does
    // not start.
    let other_key = KeyPair::generate().unwrap();
    let mut other = CertificateParams::new(Vec::<String>::new()).unwrap();
    other.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let other_pem = dir.path().join("other-ca.pem");
    std::fs::write(&other_pem, other.self_signed(&other_key).unwrap().pem()).unwrap();
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_hush-relay"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(&state)
        .args(["--redis", &url])
        .env("SSL_CERT_FILE", &other_pem)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + BOUND;
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the relay started with an unverified Redis");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    assert_eq!(status.code(), Some(5), "{stderr}");
    assert!(stderr.contains("invalid peer certificate"), "{stderr}");
}
