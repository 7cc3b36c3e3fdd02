//! A malicious relay: a TLS-terminating man in the middle, written here and nowhere else
//! (it does not ship in hush-relay), that forwards to the real hush-relay and rewrites
//! bodies per attack. The clients pin *its* certificate, as they would pin a relay that
//! went bad. For each attack the tools' own sender and receiver
//! (`shared::cli::relay_flow`, with the envelope on top: `parties/`) must end with the
//! right error, and no plaintext reaches the receiver:
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
//!
//! The proxy also records every exchange it decrypts (request and answer, all headers and
//! bodies): the listening attacker of `the_codes_secret_half_is_in_no_request`, which
//! looks for the code's secret in every form it could be sent in.

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
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
use harness::{Client, Relay};
use http_body_util::{BodyExt as _, Full};
use hyper::body::{Bytes, Incoming};
use hyper_util::rt::TokioIo;
use parties::{DEADLINE, Failure, seal, spawn_receiver};
use shared::cli::relay_client::RelayClient;
use shared::cli::relay_flow::{FlowError, SenderRoom, payload_id};
use shared::relay::{Code, Nameplate, PairingError, ReceiverCode};
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
/// place (`to-sender/1`, `payload`, ...); every exchange as it was on the wire.
struct Tamper {
    attack: Attack,
    /// The nameplate of the room under attack (the tests know a room by its code).
    victim: Mutex<Option<Nameplate>>,
    /// Room id → nameplate, read from the relay's answers to `POST /v1/rooms`.
    rooms: Mutex<HashMap<String, String>>,
    seen: Mutex<HashMap<(String, u8, String), Vec<u8>>>,
    rewrites: AtomicUsize,
    /// Each decrypted request, then its answer, as HTTP/1.1 text: start line, every
    /// header, a blank line, the body's bytes (the answer's as the client got it).
    captured: Mutex<Vec<Vec<u8>>>,
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
            rooms: Mutex::new(HashMap::new()),
            seen: Mutex::new(HashMap::new()),
            rewrites: AtomicUsize::new(0),
            captured: Mutex::new(Vec::new()),
        })
    }

    fn set_victim(&self, nameplate: Nameplate) {
        *self.victim.lock().unwrap() = Some(nameplate);
    }

    fn is_victim(&self, room: &str) -> bool {
        let Some(victim) = *self.victim.lock().unwrap() else {
            return false;
        };
        self.rooms.lock().unwrap().get(room) == Some(&victim.to_string())
    }

    fn capture(&self, exchange: Vec<u8>) {
        self.captured.lock().unwrap().push(exchange);
    }

    fn captured(&self) -> Vec<Vec<u8>> {
        self.captured.lock().unwrap().clone()
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
        if (method, path, status) == ("POST", "/v1/rooms", 201) {
            // Which room a code's nameplate names: the victim is chosen by its code.
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
            if let (Some(room), Some(nameplate)) = (v["room"].as_str(), v["nameplate"].as_str()) {
                let mut rooms = self.rooms.lock().unwrap();
                rooms.insert(room.to_owned(), nameplate.to_owned());
            }
        }
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

/// The man in the middle: its URL and the pin of its own certificate, on a runtime of its
/// own (the clients are the tools' blocking ones).
struct Proxy {
    url: String,
    pin: String,
    tamper: Arc<Tamper>,
    task: tokio::task::JoinHandle<()>,
    // Dropped last, after the task is aborted.
    _rt: tokio::runtime::Runtime,
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Proxy {
    /// A client of the tools that pins the proxy's certificate.
    fn client(&self) -> RelayClient {
        parties::client(&self.url, &self.pin)
    }

    fn start(relay: &Relay, attack: Attack) -> Proxy {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
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
            _rt: rt,
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
    let mut request = http_head(&format!("{method} {path} HTTP/1.1"), req.headers());
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
    request.extend_from_slice(&body);
    tamper.capture(request);
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
    let mut response = http_head(&format!("HTTP/1.1 {}", answer.status), &answer.headers);
    response.extend_from_slice(&body);
    tamper.capture(response);
    Ok(res
        .status(answer.status)
        .body(Full::new(Bytes::from(body)))
        .expect("response"))
}

/// A start line and every header as on the wire, then the blank line.
fn http_head(start: &str, headers: &hyper::HeaderMap) -> Vec<u8> {
    let mut out = format!("{start}\r\n").into_bytes();
    for (name, value) in headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What one room through the proxy ended with.
struct Outcome {
    /// The sender: the receiver code of the receiver it paired with (and delivered to).
    sender: Result<ReceiverCode, FlowError>,
    /// The receiver: the plaintext it opened.
    receiver: Result<Vec<u8>, Failure>,
    /// The receiver code the receiver showed, if it got that far.
    shown: Option<ReceiverCode>,
}

impl Outcome {
    /// A wrong confirmation: the sender burned the room ("wrong code used"), and the
    /// receiver learnt it from the relay (`burned`) before showing a receiver code.
    fn assert_burned(&self) {
        assert!(
            matches!(self.sender, Err(FlowError::WrongCode)),
            "{:?}",
            self.sender
        );
        assert!(
            matches!(self.receiver, Err(Failure::Flow(FlowError::Burned))),
            "{:?}",
            self.receiver
        );
        assert_eq!(self.shown, None, "no receiver code shown");
    }
}

/// A room for one receiver, made through the proxy.
fn open_room(proxy: &Proxy) -> SenderRoom {
    SenderRoom::open(proxy.client(), 1).expect("room")
}

/// One room through the proxy: the sender pairs with its single receiver and, if paired,
/// delivers `plaintext`.
fn one_room(proxy: &Proxy, mut room: SenderRoom, plaintext: &[u8]) -> Outcome {
    let deadline = Instant::now() + DEADLINE;
    let (shown_tx, shown) = mpsc::channel();
    let typed = room.code().to_shown();
    let receiver = spawn_receiver(proxy.client(), &typed, deadline, Some(shown_tx));
    let sender = room.next_receiver(deadline).map(|paired| {
        let sealed = seal(&paired.session, plaintext);
        let id = payload_id().expect("id");
        room.deliver(paired.slot, &id, &sealed).expect("stored");
        paired.session.receiver_code
    });
    let receiver = receiver.join().expect("receiver thread");
    Outcome {
        sender,
        receiver,
        shown: shown.try_recv().ok(),
    }
}

/// An honest room B through the proxy, so that the attacker has B's messages to replay;
/// then room A, the victim.
fn replayed_into_a_victim(proxy: &Proxy) -> Outcome {
    let b = one_room(proxy, open_room(proxy), b"room B\n");
    b.sender.expect("room B pairs");
    b.receiver.expect("room B delivers");
    let a = open_room(proxy);
    proxy.tamper.set_victim(a.code().nameplate());
    one_room(proxy, a, b"room A\n")
}

#[test]
fn an_honest_proxy_changes_nothing() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::Honest);
    let out = one_room(&proxy, open_room(&proxy), b"wg0 key\n");
    let paired = out.sender.expect("sender");
    assert_eq!(out.receiver.expect("receiver"), b"wg0 key\n");
    // Both screens show the same receiver code.
    assert_eq!(out.shown, Some(paired));
    assert_eq!(proxy.tamper.rewrites(), 0);
}

#[test]
fn pake_messages_swapped_between_two_rooms_burn_both() {
    let relay = Relay::start(&[]);
    let proxy = Arc::new(Proxy::start(&relay, Attack::SwapSenderPake));
    let rooms: Vec<_> = (0..2)
        .map(|_| {
            let proxy = Arc::clone(&proxy);
            let room = open_room(&proxy);
            std::thread::spawn(move || one_room(&proxy, room, b"secret\n"))
        })
        .collect();
    for room in rooms {
        // The sender checks the receiver's confirmation first: wrong, it burns the room;
        // the receiver is told by the relay, and no payload came.
        room.join().expect("room thread").assert_burned();
    }
    assert_eq!(proxy.tamper.rewrites(), 2, "both receivers were fed");
}

#[test]
fn a_receiver_confirmation_replayed_from_another_room_burns_the_room() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::ReplayConfirmR);
    // Room A's receiver confirmation is replaced by room B's.
    replayed_into_a_victim(&proxy).assert_burned();
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn a_sender_confirmation_replayed_from_another_room_is_tampering_for_the_receiver() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::ReplayConfirmS);
    let out = replayed_into_a_victim(&proxy);
    // The sender's check passed (the receiver's confirmation was genuine) ...
    out.sender.expect("the sender cannot tell");
    // ... but the receiver sees a confirmation that is not its sender's: it stops before
    // showing a receiver code, and never takes the payload.
    assert!(
        matches!(
            out.receiver,
            Err(Failure::Flow(FlowError::Pairing(PairingError::Tampered)))
        ),
        "{:?}",
        out.receiver
    );
    assert_eq!(out.shown, None, "no receiver code shown");
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn a_payload_replayed_from_another_room_is_refused_unopened() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::ReplayPayload);
    let out = replayed_into_a_victim(&proxy);
    let paired = out.sender.expect("room A pairs");
    assert_eq!(
        out.shown,
        Some(paired),
        "paired: the receiver code was shown"
    );
    // The envelope's session id and commitment belong to room B's pairing.
    assert!(
        matches!(
            out.receiver,
            Err(Failure::Open(shared::Error::OtherPairing))
        ),
        "{:?}",
        out.receiver
    );
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn a_flipped_ciphertext_bit_fails_authentication_and_releases_nothing() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::FlipCiphertext);
    // Three chunks (16 KiB each): the flip is in the first, a full chunk, so the reader
    // knows it is not a cut but an altered chunk.
    let out = one_room(&proxy, open_room(&proxy), &[b'k'; 40_000]);
    out.sender.expect("pairs");
    // shared::open returns no plaintext on any error: nothing is released.
    assert!(
        matches!(out.receiver, Err(Failure::Open(shared::Error::Corrupted))),
        "{:?}",
        out.receiver
    );
    assert_eq!(proxy.tamper.rewrites(), 1);
}

#[test]
fn payloads_swapped_between_two_receivers_open_for_neither() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::SwapPayloads);
    let deadline = Instant::now() + DEADLINE;
    let mut room = SenderRoom::open(proxy.client(), 2).expect("room");
    let typed = room.code().to_shown();
    let receivers: Vec<_> = (0..2)
        .map(|_| spawn_receiver(proxy.client(), &typed, deadline, None))
        .collect();
    for _ in 0..2 {
        let paired = room.next_receiver(deadline).expect("pairs");
        let plaintext = format!("for slot {}\n", paired.slot);
        let sealed = seal(&paired.session, plaintext.as_bytes());
        let id = payload_id().expect("id");
        room.deliver(paired.slot, &id, &sealed).expect("stored");
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

/// Crockford's base32 alphabet (docs/RELAY.md §1).
const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/// Every form in which the secret half of `shown` (`417-4K7M-Q2ZP`) could leave a side:
/// as text with and without its hyphen, the SPAKE2 password (`417-4K7MQ2ZP`), its 40 bits
/// as raw bytes; each also in hex and in base64 (standard and URL-safe). Text is matched
/// case-insensitively (see [`leak`]), so each is listed once, in lower case.
fn secret_forms(shown: &str) -> Vec<Vec<u8>> {
    let (nameplate, secret) = shown.split_once('-').expect("a code");
    let plain = secret.replace('-', "");
    // The 40 bits, most significant first: decoded here independently, then checked
    // against shared's own encoding so that the raw form is the real one.
    let value = plain.bytes().fold(0u64, |acc, c| {
        let digit = CROCKFORD.iter().position(|&x| x == c).expect("crockford");
        (acc << 5) | digit as u64
    });
    let bits: [u8; 5] = value.to_be_bytes()[3..].try_into().expect("5 bytes");
    let np = Nameplate::parse(nameplate).expect("nameplate");
    assert_eq!(*Code::from_bits(np, &bits).to_shown(), shown);
    let texts = [
        secret.to_owned(),
        plain.clone(),
        format!("{nameplate}-{plain}"),
    ];
    let mut forms: Vec<Vec<u8>> = Vec::new();
    let raws = texts
        .iter()
        .flat_map(|t| [t.to_uppercase(), t.to_lowercase()])
        .map(String::into_bytes)
        .chain([bits.to_vec()]);
    for raw in raws {
        forms.push(hex::encode(&raw).into_bytes());
        for engine in [STANDARD, URL_SAFE, STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            forms.push(engine.encode(&raw).into_bytes());
        }
        forms.push(raw);
    }
    forms.sort();
    forms.dedup();
    forms
}

/// The first form found in `haystack`, or in anything in it that decodes as base64 or hex
/// (a base64 field holds the secret at any alignment). Text and hex are matched
/// case-insensitively; base64 and raw bytes exactly as well, so that an upper-case text
/// form inside a base64 field is still caught.
fn leak(forms: &[Vec<u8>], haystack: &[u8]) -> Option<String> {
    let mut places = vec![haystack.to_vec()];
    for token in haystack.split(|b| !(b.is_ascii_alphanumeric() || b"+/=_-".contains(b))) {
        let trimmed: Vec<u8> = token.iter().copied().filter(|&b| b != b'=').collect();
        for engine in [STANDARD_NO_PAD, URL_SAFE_NO_PAD] {
            places.extend(engine.decode(&trimmed).ok());
        }
        places.extend(hex::decode(token).ok());
    }
    for place in &places {
        let lower = place.to_ascii_lowercase();
        for form in forms {
            let found = |hay: &[u8]| hay.windows(form.len()).any(|w| w == form.as_slice());
            if found(place) || found(&lower) {
                return Some(format!("{:?}", String::from_utf8_lossy(form)));
            }
        }
    }
    None
}

/// The scanner itself can fail: each kind of form, planted in a body the way a careless
/// client would send it, is found.
#[test]
fn the_secret_scanner_finds_every_form_it_claims_to() {
    let shown = "417-4K7M-Q2ZP";
    let forms = secret_forms(shown);
    let bits = [0x21u8, 0x4e, 0x9b, 0xc5, 0xf6];
    let shown = Code::from_bits(Nameplate::parse("417").expect("np"), &bits).to_shown();
    let forms_of_bits = secret_forms(&shown);
    let planted: Vec<(Vec<u8>, &[Vec<u8>])> = vec![
        (b"GET /x?code=4k7m-q2zp".to_vec(), &forms),
        (b"{\"c\":\"4K7mQ2Zp\"}".to_vec(), &forms),
        (b"password: 417-4K7MQ2ZP".to_vec(), &forms),
        (hex::encode_upper(b"4K7MQ2ZP").into_bytes(), &forms),
        // Base64 at an alignment no encoding of the form alone has.
        (
            format!("{{\"msg\":\"{}\"}}", STANDARD.encode(b"xx417-4K7MQ2ZPyy")).into_bytes(),
            &forms,
        ),
        (URL_SAFE_NO_PAD.encode(b"4k7m-q2zp").into_bytes(), &forms),
        (
            [b"\x00\x01".as_slice(), &bits, b"\xff"].concat(),
            &forms_of_bits,
        ),
    ];
    for (body, forms) in planted {
        assert!(
            leak(forms, &body).is_some(),
            "missed in {:?}",
            String::from_utf8_lossy(&body)
        );
    }
    // And it is not a scanner that finds everything.
    assert_eq!(
        leak(&forms, b"POST /v1/nameplates/417/join 4K7M Q2ZQ"),
        None
    );
}

/// docs/RELAY.md §1: "The secret never leaves S or R in any request." A full pairing and
/// delivery through a proxy that only listens: no decrypted request or answer, header or
/// body, holds the code's secret half in any form, nor does any line the relay logged;
/// the nameplate, sent on purpose, is there (the capture is real).
#[test]
fn the_codes_secret_half_is_in_no_request() {
    let relay = Relay::start(&[]);
    let proxy = Proxy::start(&relay, Attack::Honest);
    let room = open_room(&proxy);
    let shown = room.code().to_shown().to_string();
    let nameplate = room.code().nameplate();
    let out = one_room(&proxy, room, b"captured but sealed\n");
    out.sender.expect("sender");
    assert_eq!(out.receiver.expect("receiver"), b"captured but sealed\n");
    assert_eq!(proxy.tamper.rewrites(), 0);

    let captured = proxy.tamper.captured();
    // Every step of the flow went through the capture: creation, the join (by nameplate),
    // both PAKE messages and both confirmations, the payload stored, taken, acknowledged.
    let starts: Vec<String> = captured
        .iter()
        .filter_map(|e| {
            let line = e.split(|&b| b == b'\r').next()?;
            Some(String::from_utf8_lossy(line).into_owned())
        })
        .collect();
    let join = format!("/v1/nameplates/{nameplate}/join ");
    let expected = [
        ("POST", "/v1/rooms "),
        ("POST", join.as_str()),
        ("PUT", "/to-receiver/0 "),
        ("GET", "/to-receiver/0?"),
        ("PUT", "/to-sender/0 "),
        ("GET", "/to-sender/0?"),
        ("PUT", "/to-sender/1 "),
        ("PUT", "/to-receiver/1 "),
        ("PUT", "/payloads/"),
        ("GET", "/payload?"),
        ("DELETE", "/payloads/"),
    ];
    for (method, part) in expected {
        assert!(
            starts
                .iter()
                .any(|s| s.starts_with(&format!("{method} /")) && s.contains(part)),
            "no {method} {part:?} in the capture: {starts:#?}"
        );
    }
    // Answers too: the one to the join holds the room's nonce, a 201.
    assert!(starts.iter().any(|s| s.starts_with("HTTP/1.1 201")));
    assert!(
        captured
            .iter()
            .all(|e| e.windows(4).any(|w| w == b"\r\n\r\n")),
        "every exchange has its headers"
    );

    let forms = secret_forms(&shown);
    for exchange in &captured {
        if let Some(form) = leak(&forms, exchange) {
            panic!(
                "the code's secret ({form}) went over the wire: {:?}",
                String::from_utf8_lossy(exchange)
            );
        }
    }
    let logs = relay.logs();
    assert!(logs.contains("listening"), "the relay logged: {logs}");
    if let Some(form) = leak(&forms, logs.as_bytes()) {
        panic!("the code's secret ({form}) is in the relay's log");
    }
    relay.stop();
}
