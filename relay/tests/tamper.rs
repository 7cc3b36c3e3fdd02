//! A malicious relay: a TLS-terminating man in the middle, written here and nowhere else
//! (it does not ship in hush-relay), that forwards to the real hush-relay and rewrites
//! bodies per attack. The clients pin *its* certificate, as they would pin a relay that
//! went bad. For each attack the real sender and receiver (`shared::relay` over
//! `shared::cli::relay_client`, `parties/`) must end with the right error, and no
//! plaintext reaches the receiver:
//!
//! - PAKE messages swapped between two concurrent rooms: each sender sees a wrong
//!   confirmation, burns its room ("wrong code used"), and each receiver is told `burned`;
//! - a confirmation replayed from another room: the sender burns; the sender's
//!   confirmation replayed: the receiver stops with "tampered";
//! - a payload replayed from another room, or swapped between two receivers: "sealed for
//!   another relay pairing"; a flipped ciphertext bit: "corrupted (authentication failed)".
//!
//! Each attack counts its rewrites and the tests check it happened: an attack that
//! silently did nothing would let the honest run succeed, and the test fail. The honest
//! proxy test shows the proxy itself breaks nothing.

// A test: a poisoned lock is a failed test.
#![allow(clippy::unwrap_used)]

// The harness serves the other test binaries too: not every helper is used here.
#[allow(dead_code)]
mod harness;
mod parties;

use std::collections::HashMap;
use std::convert::Infallible;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use harness::{Client, Relay};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use parties::{Failure, Sender, receive};
use shared::relay::PairingError;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

/// What the man in the middle does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Attack {
    /// Forwards everything unchanged.
    Honest,
    /// Each receiver gets the sender's SPAKE2 message of another room.
    SwapSenderPake,
    /// The victim room's sender gets the receiver confirmation of another room.
    ReplayConfirmR,
    /// The victim room's receiver gets the sender confirmation of another room.
    ReplayConfirmS,
    /// The victim room's receiver gets the payload of another room.
    ReplayPayload,
    /// One bit of every payload's first ciphertext chunk is flipped.
    FlipCiphertext,
    /// The payloads of slots 1 and 2 of a room are swapped.
    SwapPayloads,
}

/// The attacker's memory: every message and payload that went through, by room, slot and
/// place (`to-sender/1`, `payload`, ...).
struct Tamper {
    attack: Attack,
    victim: Mutex<Option<String>>,
    seen: Mutex<HashMap<(String, u8, String), Vec<u8>>>,
    rewrites: AtomicUsize,
}

/// Offset of a byte inside the first ciphertext chunk of a mode-0x03 envelope: header (14)
/// + salt (24) + commitment (32), then 100 bytes into the chunk.
const FIRST_CHUNK_BYTE: usize = 14 + 24 + 32 + 100;

/// `/v1/rooms/{room}/slots/{slot}/{rest}` (query dropped): (room, slot, rest).
fn slot_path(path: &str) -> Option<(String, u8, String)> {
    let path = path.split('?').next()?;
    let parts: Vec<&str> = path.split('/').collect();
    match parts.as_slice() {
        ["", "v1", "rooms", room, "slots", slot, rest @ ..] if !rest.is_empty() => {
            Some(((*room).to_owned(), slot.parse().ok()?, rest.join("/")))
        }
        _ => None,
    }
}

fn msg_body(bytes: &[u8]) -> Vec<u8> {
    serde_json::json!({ "msg": STANDARD.encode(bytes) })
        .to_string()
        .into_bytes()
}

fn msg_of(body: &[u8]) -> Option<Vec<u8>> {
    let v: serde_json::Value = serde_json::from_slice(body).ok()?;
    STANDARD.decode(v["msg"].as_str()?).ok()
}

impl Tamper {
    fn new(attack: Attack) -> Arc<Tamper> {
        Arc::new(Tamper {
            attack,
            victim: Mutex::new(None),
            seen: Mutex::new(HashMap::new()),
            rewrites: AtomicUsize::new(0),
        })
    }

    fn set_victim(&self, room: &str) {
        *self.victim.lock().unwrap() = Some(room.to_owned());
    }

    fn is_victim(&self, room: &str) -> bool {
        self.victim.lock().unwrap().as_deref() == Some(room)
    }

    fn rewrites(&self) -> usize {
        self.rewrites.load(Ordering::SeqCst)
    }

    fn record(&self, room: &str, slot: u8, place: &str, bytes: Vec<u8>) {
        self.seen
            .lock()
            .unwrap()
            .insert((room.to_owned(), slot, place.to_owned()), bytes);
    }

    /// A recorded item at `place` that `pick` accepts, waiting for it (bounded: 10 s).
    async fn donor(&self, place: &str, pick: impl Fn(&str, u8) -> bool) -> Option<Vec<u8>> {
        for _ in 0..200 {
            let found = self
                .seen
                .lock()
                .unwrap()
                .iter()
                .find(|((r, s, p), _)| p == place && pick(r, *s))
                .map(|(_, v)| v.clone());
            if found.is_some() {
                return found;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Records what a client sends, and rewrites it per attack.
    async fn request(&self, method: &str, path: &str, body: Vec<u8>) -> Vec<u8> {
        let Some((room, slot, rest)) = slot_path(path) else {
            return body;
        };
        if method != "PUT" {
            return body;
        }
        if rest.starts_with("payloads/") {
            self.record(&room, slot, "payload", body.clone());
            return body;
        }
        let Some(msg) = msg_of(&body) else {
            return body;
        };
        self.record(&room, slot, &rest, msg);
        if self.attack == Attack::ReplayConfirmR && rest == "to-sender/1" && self.is_victim(&room) {
            let other = self.donor(&rest, |r, _| r != room).await;
            if let Some(other) = other {
                self.rewrites.fetch_add(1, Ordering::SeqCst);
                return msg_body(&other);
            }
        }
        body
    }

    /// Rewrites what the relay answers, per attack.
    async fn response(&self, method: &str, path: &str, status: u16, body: Vec<u8>) -> Vec<u8> {
        let Some((room, slot, rest)) = slot_path(path) else {
            return body;
        };
        if method != "GET" || status != 200 {
            return body;
        }
        let other_room = |r: &str, _| r != room;
        let replaced = match (self.attack, rest.as_str()) {
            (Attack::SwapSenderPake, "to-receiver/0") => self
                .donor("to-receiver/0", other_room)
                .await
                .map(|m| msg_body(&m)),
            (Attack::ReplayConfirmS, "to-receiver/1") if self.is_victim(&room) => self
                .donor("to-receiver/1", other_room)
                .await
                .map(|m| msg_body(&m)),
            (Attack::ReplayPayload, "payload") if self.is_victim(&room) => {
                self.donor("payload", other_room).await
            }
            (Attack::SwapPayloads, "payload") => {
                self.donor("payload", |r, s| r == room && s != slot).await
            }
            (Attack::FlipCiphertext, "payload") if body.len() > FIRST_CHUNK_BYTE => {
                let mut flipped = body.clone();
                flipped[FIRST_CHUNK_BYTE] ^= 0x01;
                Some(flipped)
            }
            _ => None,
        };
        match replaced {
            Some(new) => {
                self.rewrites.fetch_add(1, Ordering::SeqCst);
                new
            }
            None => body,
        }
    }
}

/// The man in the middle: its URL and the pin of its own certificate.
struct Proxy {
    url: String,
    pin: String,
    tamper: Arc<Tamper>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    fn start(rt: &tokio::runtime::Runtime, relay: &Relay, attack: Attack) -> Proxy {
        let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let key = rcgen::KeyPair::generate().expect("key");
        let cert = rcgen::CertificateParams::new(names)
            .expect("params")
            .self_signed(&key)
            .expect("cert");
        let pin = harness::fingerprint(cert.der());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let key_der =
            rustls_pki_types::PrivateKeyDer::try_from(key.serialize_der()).expect("key der");
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("versions")
            .with_no_client_auth()
            .with_single_cert(vec![cert.der().clone()], key_der)
            .expect("server config");
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        let acceptor = TlsAcceptor::from(Arc::new(config));
        let listener = rt.block_on(TcpListener::bind("127.0.0.1:0")).expect("bind");
        let url = format!("https://{}", listener.local_addr().expect("addr"));
        let upstream = relay.client();
        let tamper = Tamper::new(attack);
        let shared_tamper = Arc::clone(&tamper);
        let task = rt.spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, upstream, tamper) = (
                    acceptor.clone(),
                    upstream.clone(),
                    Arc::clone(&shared_tamper),
                );
                tokio::spawn(async move {
                    let Ok(Ok(tls)) =
                        tokio::time::timeout(Duration::from_secs(10), acceptor.accept(tcp)).await
                    else {
                        return;
                    };
                    let service = hyper::service::service_fn(move |req| {
                        forward(req, upstream.clone(), Arc::clone(&tamper))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .await;
                });
            }
        });
        Proxy {
            url,
            pin,
            tamper,
            task,
        }
    }
}

/// One request: to the real relay (pinned), through the attack both ways.
async fn forward(
    req: hyper::Request<Incoming>,
    upstream: Client,
    tamper: Arc<Tamper>,
) -> Result<hyper::Response<Full<Bytes>>, Infallible> {
    let method = req.method().as_str().to_owned();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| "/".to_owned(), |p| p.as_str().to_owned());
    let headers: Vec<(&str, String)> = ["authorization", "content-type"]
        .into_iter()
        .filter_map(|name| {
            let v = req.headers().get(name)?.to_str().ok()?;
            Some((name, v.to_owned()))
        })
        .collect();
    let body = match req.into_body().collect().await {
        Ok(b) => b.to_bytes().to_vec(),
        Err(_) => Vec::new(),
    };
    let body = tamper.request(&method, &path, body).await;
    let extra: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
    let answer = tokio::time::timeout(
        Duration::from_secs(40),
        upstream.try_req(&method, &path, None, &extra, Some(body)),
    )
    .await;
    let mut res = hyper::Response::builder();
    let Ok(Ok(answer)) = answer else {
        return Ok(res
            .status(502)
            .body(Full::new(Bytes::new()))
            .expect("response"));
    };
    for name in ["content-type", "hush-payload-id", "retry-after"] {
        if let Some(v) = answer.headers.get(name) {
            res = res.header(name, v);
        }
    }
    let body = tamper
        .response(&method, &path, answer.status, answer.body)
        .await;
    Ok(res
        .status(answer.status)
        .body(Full::new(Bytes::from(body)))
        .expect("response"))
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime")
}

/// One room through the proxy: the sender pairs with its single receiver and, if paired,
/// delivers `plaintext`; returns (sender's pairing result, receiver's result).
fn one_room(
    proxy: &Proxy,
    sender: Sender,
    plaintext: &'static [u8],
) -> (
    Result<(), Failure>,
    Result<parties::Received, Failure>,
    mpsc::Receiver<shared::relay::ReceiverCode>,
) {
    let (shown_tx, shown) = mpsc::channel();
    let (url, pin, typed) = (proxy.url.clone(), proxy.pin.clone(), sender.shown_code());
    let receiver = std::thread::spawn(move || receive(&url, &pin, &typed, Some(shown_tx)));
    let slot = sender.slots(1)[0];
    let paired = sender.pair(slot).map(|session| {
        sender.deliver(
            slot,
            &session,
            plaintext,
            "0123456789abcdef0123456789abcdef",
        );
    });
    (paired, receiver.join().expect("receiver thread"), shown)
}

#[test]
fn an_honest_proxy_changes_nothing() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&rt, &relay, Attack::Honest);
    let sender = Sender::open(&proxy.url, &proxy.pin, 1);
    let (paired, received, shown) = one_room(&proxy, sender, b"wg0 key\n");
    paired.expect("sender");
    let received = received.expect("receiver");
    assert_eq!(received.plaintext, b"wg0 key\n");
    assert_eq!(shown.try_recv().ok(), Some(received.receiver_code));
    assert_eq!(proxy.tamper.rewrites(), 0);
}

#[test]
fn pake_messages_swapped_between_two_rooms_burn_both() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Arc::new(Proxy::start(&rt, &relay, Attack::SwapSenderPake));
    let rooms: Vec<_> = (0..2)
        .map(|_| {
            let proxy = Arc::clone(&proxy);
            let sender = Sender::open(&proxy.url, &proxy.pin, 1);
            std::thread::spawn(move || {
                let (paired, received, shown) = one_room(&proxy, sender, b"secret\n");
                (paired, received, shown.try_recv().is_ok())
            })
        })
        .collect();
    for room in rooms {
        let (paired, received, shown) = room.join().expect("room thread");
        // The sender checks the receiver's confirmation first: wrong, it burns the room.
        assert!(
            matches!(paired, Err(Failure::Pairing(PairingError::WrongCode))),
            "{paired:?}"
        );
        // The receiver learns it from the relay: the room is burned; no receiver code was
        // shown and no payload came.
        let err = received.expect_err("no payload");
        assert_eq!(err.relay_code(), Some("burned"), "{err:?}");
        assert!(!shown);
    }
    assert_eq!(proxy.tamper.rewrites(), 2, "both receivers were fed");
}

#[test]
fn a_receiver_confirmation_replayed_from_another_room_burns_the_room() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&rt, &relay, Attack::ReplayConfirmR);
    // Room B, honest: the attacker records its messages.
    let b = Sender::open(&proxy.url, &proxy.pin, 1);
    let (paired, received, _) = one_room(&proxy, b, b"room B\n");
    paired.expect("room B pairs");
    received.expect("room B delivers");
    // Room A: its receiver's confirmation is replaced by B's.
    let a = Sender::open(&proxy.url, &proxy.pin, 1);
    proxy.tamper.set_victim(&a.room.room);
    let (paired, received, shown) = one_room(&proxy, a, b"room A\n");
    assert!(
        matches!(paired, Err(Failure::Pairing(PairingError::WrongCode))),
        "{paired:?}"
    );
    let err = received.expect_err("no payload");
    assert_eq!(err.relay_code(), Some("burned"), "{err:?}");
    assert!(shown.try_recv().is_err(), "no receiver code shown");
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn a_sender_confirmation_replayed_from_another_room_is_tampering_for_the_receiver() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&rt, &relay, Attack::ReplayConfirmS);
    let b = Sender::open(&proxy.url, &proxy.pin, 1);
    let (paired, received, _) = one_room(&proxy, b, b"room B\n");
    paired.expect("room B pairs");
    received.expect("room B delivers");
    let a = Sender::open(&proxy.url, &proxy.pin, 1);
    proxy.tamper.set_victim(&a.room.room);
    let (paired, received, shown) = one_room(&proxy, a, b"room A\n");
    // The sender's check passed (the receiver's confirmation was genuine) ...
    paired.expect("the sender cannot tell");
    // ... but the receiver sees a confirmation that is not its sender's: it stops before
    // showing a receiver code, and never takes the payload.
    assert!(
        matches!(received, Err(Failure::Pairing(PairingError::Tampered))),
        "{received:?}"
    );
    assert!(shown.try_recv().is_err(), "no receiver code shown");
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn a_payload_replayed_from_another_room_is_refused_unopened() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&rt, &relay, Attack::ReplayPayload);
    let b = Sender::open(&proxy.url, &proxy.pin, 1);
    let (paired, received, _) = one_room(&proxy, b, b"room B\n");
    paired.expect("room B pairs");
    received.expect("room B delivers");
    let a = Sender::open(&proxy.url, &proxy.pin, 1);
    proxy.tamper.set_victim(&a.room.room);
    let (paired, received, shown) = one_room(&proxy, a, b"room A\n");
    paired.expect("room A pairs");
    assert!(
        shown.try_recv().is_ok(),
        "paired: the receiver code was shown"
    );
    // The envelope's session id and commitment belong to room B's pairing.
    assert!(
        matches!(received, Err(Failure::Open(shared::Error::OtherPairing))),
        "{received:?}"
    );
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn a_flipped_ciphertext_bit_fails_authentication_and_releases_nothing() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&rt, &relay, Attack::FlipCiphertext);
    let sender = Sender::open(&proxy.url, &proxy.pin, 1);
    // Three chunks (16 KiB each): the flip is in the first, a full chunk, so the reader
    // knows it is not a cut but an altered chunk.
    static BIG: [u8; 40_000] = [b'k'; 40_000];
    let (paired, received, _) = one_room(&proxy, sender, &BIG);
    paired.expect("pairs");
    // shared::open returns no plaintext on any error: nothing is released.
    assert!(
        matches!(received, Err(Failure::Open(shared::Error::Corrupted))),
        "{received:?}"
    );
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn payloads_swapped_between_two_receivers_open_for_neither() {
    let rt = runtime();
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&rt, &relay, Attack::SwapPayloads);
    let sender = Sender::open(&proxy.url, &proxy.pin, 2);
    let receivers: Vec<_> = (0..2)
        .map(|_| {
            let (url, pin, typed) = (proxy.url.clone(), proxy.pin.clone(), sender.shown_code());
            std::thread::spawn(move || receive(&url, &pin, &typed, None))
        })
        .collect();
    for slot in sender.slots(2) {
        let session = sender.pair(slot).expect("pairs");
        let id = format!("{slot:032x}");
        sender.deliver(slot, &session, format!("for slot {slot}\n").as_bytes(), &id);
    }
    for r in receivers {
        let received = r.join().expect("receiver thread");
        assert!(
            matches!(received, Err(Failure::Open(shared::Error::OtherPairing))),
            "{received:?}"
        );
    }
    assert_eq!(proxy.tamper.rewrites(), 2);
}
