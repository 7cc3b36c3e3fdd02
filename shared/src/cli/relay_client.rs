//! The tools' blocking client of hush-relay/1 (docs/RELAY.md §3): no async runtime in
//! `hush` or `hush-run`, every call retried with backoff and jitter where §3.4 says it is
//! safe (all of them), long-polls held by the relay.
//!
//! TLS: the system's usual web roots (webpki), or a pinned certificate. With a pin, every
//! connection's handshake is checked by [`PinVerifier`], which compares the served
//! certificate's SHA-256 (in constant time) and checks the handshake signatures with it:
//! a swapped certificate fails, and a pinned certificate need not be self-signed (one
//! issued by a CA is pinned the same way; its chain and names are not consulted). The
//! constructor makes one such handshake first, so a wrong pin is a precise error at once.
//!
//! A private relay may require a client certificate (mutual TLS, `hush-relay
//! --client-ca`): [`ClientIdentity`] holds one, read from PEM files, and the client presents
//! it on every connection. A TLS failure (an untrusted or wrong certificate, a refused
//! client certificate) is [`RelayError::Tls`] and is not retried: retrying cannot fix it.

use std::fmt;
use std::io::{Read, Write as _};
use std::net::TcpStream;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, TcpConnector,
    Transport, TransportAdapter,
};
use zeroize::Zeroizing;

use crate::relay::Nameplate;

/// How long a call (with its retries) may take beyond its long-poll wait.
const CALL_BUDGET: Duration = Duration::from_secs(30);
/// Attempts of one call at most.
const ATTEMPTS: u32 = 6;
/// The longest long-poll the protocol allows (docs/RELAY.md §3.2), in seconds.
pub const LONGEST_WAIT: u32 = 25;
/// Largest payload a client fetches (the relay's limit is 1 MiB).
const MAX_PAYLOAD: u64 = 2 * 1024 * 1024;

/// Why a relay call failed.
#[derive(Debug, thiserror::Error)]
pub enum RelayError {
    /// The URL is not an `https://` URL.
    #[error("the relay URL must start with https:// (got {0})")]
    NotHttps(String),
    /// The pin is not `sha256:` and 64 hex digits.
    #[error("the relay pin must look like sha256:<64 hex digits>")]
    BadPin,
    /// The relay's certificate does not match the pin.
    #[error(
        "the relay's certificate does not match the pin (sha256:{0}): another server, or the relay was re-keyed"
    )]
    PinMismatch(String),
    /// The TLS handshake failed: the relay's certificate is not trusted (no pin and not
    /// from a known CA), or the relay refused our client certificate (or our lack of one).
    #[error("TLS with the relay failed: {0}")]
    Tls(String),
    /// The client certificate or its key cannot be read or used.
    #[error("the client certificate cannot be used: {0}")]
    Identity(String),
    /// No connection, after the retries.
    #[error("the relay is unreachable: {0}")]
    Unreachable(String),
    /// The relay answered an error (docs/RELAY.md §3.3).
    #[error("the relay refused: {message} ({code}, HTTP {status})")]
    Refused {
        /// HTTP status.
        status: u16,
        /// The `error` field.
        code: String,
        /// The `message` field.
        message: String,
    },
    /// The relay answered something that does not follow the protocol.
    #[error("the relay's answer is malformed: {0}")]
    Malformed(&'static str),
}

impl RelayError {
    /// The `error` code of a refusal (`burned`, `denied`, `not_found`, ...).
    pub fn code(&self) -> Option<&str> {
        match self {
            Self::Refused { code, .. } => Some(code),
            _ => None,
        }
    }
}

/// A room or slot token: a bearer secret, wiped on drop and never printed.
#[derive(Clone)]
pub struct Token(Zeroizing<String>);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

/// A message waiting in a mailbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Waiting {
    /// Its id (32 hex characters).
    pub id: String,
    /// Its size in bytes.
    pub size: u64,
    /// Unix seconds: the relay drops it then.
    pub expires: u64,
}

/// What the relay gave the sender for a new room.
#[derive(Debug)]
pub struct Room {
    /// Room id.
    pub room: String,
    /// The code's public half.
    pub nameplate: Nameplate,
    /// The sender's token.
    pub token: Token,
    /// The room nonce.
    pub nonce: [u8; 32],
    /// Unix seconds after which the nameplate no longer joins.
    pub expires: u64,
    /// Unix seconds after which the room, its slots and payloads are gone (0 if the relay
    /// did not say).
    pub payload_expires: u64,
}

/// What the relay gave a receiver that joined.
#[derive(Debug)]
pub struct Joined {
    /// Room id.
    pub room: String,
    /// The receiver's slot.
    pub slot: u8,
    /// The receiver's token.
    pub token: Token,
    /// The room nonce.
    pub nonce: [u8; 32],
}

/// A message queue of a slot.
#[derive(Debug, Clone, Copy)]
pub enum Queue {
    /// Receiver → sender.
    ToSender,
    /// Sender → receiver.
    ToReceiver,
}

impl Queue {
    fn path(self) -> &'static str {
        match self {
            Queue::ToSender => "to-sender",
            Queue::ToReceiver => "to-receiver",
        }
    }
}

/// A client certificate and its private key, for relays that require one (mutual TLS).
/// The key is never printed (`Debug` shows only how many certificates the chain has).
pub struct ClientIdentity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    /// The same, as the HTTP agent takes it.
    ureq: ureq::tls::ClientCert,
}

impl Clone for ClientIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
            ureq: self.ureq.clone(),
        }
    }
}

impl fmt::Debug for ClientIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientIdentity")
            .field("certificates", &self.chain.len())
            .field("key", &"<redacted>")
            .finish()
    }
}

impl ClientIdentity {
    /// The certificate chain (leaf first) and the private key (PKCS#8, PKCS#1 or SEC1), PEM.
    pub fn from_pem(chain: &[u8], key: &[u8]) -> Result<Self, RelayError> {
        let chain: Vec<_> = CertificateDer::pem_slice_iter(chain)
            .collect::<Result<_, _>>()
            .map_err(|_| RelayError::Identity("the certificate file is not PEM".into()))?;
        if chain.is_empty() {
            return Err(RelayError::Identity(
                "the certificate file holds no certificate".into(),
            ));
        }
        let no_key = || RelayError::Identity("the key file holds no PEM private key".into());
        let ureq_key = ureq::tls::PrivateKey::from_pem(key).map_err(|_| no_key())?;
        let key = PrivateKeyDer::from_pem_slice(key).map_err(|_| no_key())?;
        let ureq_chain: Vec<_> = chain
            .iter()
            .map(|c| ureq::tls::Certificate::from_der(c).to_owned())
            .collect();
        let ureq = ureq::tls::ClientCert::new_with_certs(&ureq_chain, ureq_key);
        // rustls checks that the key is usable and is the certificate's (the HTTP agent
        // would panic on a bad one later).
        rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(|e| RelayError::Identity(e.to_string()))?
        .with_root_certificates(rustls::RootCertStore::empty())
        .with_client_auth_cert(chain.clone(), key.clone_key())
        .map_err(|e| RelayError::Identity(e.to_string()))?;
        Ok(Self { chain, key, ureq })
    }

    /// As [`ClientIdentity::from_pem`], from two files (the key file's bytes are wiped
    /// after reading).
    pub fn from_pem_files(chain: &Path, key: &Path) -> Result<Self, RelayError> {
        let read = |p: &Path| {
            std::fs::read(p)
                .map(Zeroizing::new)
                .map_err(|e| RelayError::Identity(format!("{}: {e}", p.display())))
        };
        Self::from_pem(&read(chain)?, &read(key)?)
    }

    fn for_ureq(&self) -> ureq::tls::ClientCert {
        self.ureq.clone()
    }
}

/// How a client reaches a relay: the pin, and a client certificate for a relay that asks.
#[derive(Debug, Clone, Default)]
pub struct RelayConfig {
    /// SHA-256 of the relay's certificate; `None`: the usual web roots.
    pub pin: Option<[u8; 32]>,
    /// Presented when the relay asks for a client certificate (mutual TLS).
    pub identity: Option<ClientIdentity>,
}

/// A retry of a relay call about to happen: for a status line while the relay is away.
#[derive(Debug, Clone)]
pub struct Retry {
    /// The attempt about to be made (2 for the first retry).
    pub attempt: u32,
    /// Attempts at most.
    pub of: u32,
    /// Why the last attempt failed (a connection error, `HTTP 429`, ...); no secret.
    pub reason: String,
    /// The pause before the attempt.
    pub pause: Duration,
}

/// Told of every retry (see [`RelayClient::on_retry`]).
pub type RetryHook = Arc<dyn Fn(&Retry) + Send + Sync>;

/// A connection to one relay. Clones share the agent and its pool of connections.
#[derive(Clone)]
pub struct RelayClient {
    agent: ureq::Agent,
    base: String,
    on_retry: Option<RetryHook>,
}

impl fmt::Debug for RelayClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RelayClient")
            .field("base", &self.base)
            .finish_non_exhaustive()
    }
}

/// A pin as hush-relay prints it: `sha256:HEX`.
pub fn pin_text(pin: &[u8; 32]) -> String {
    format!("sha256:{}", super::hex(pin))
}

/// Parses `sha256:HEX` (as [`pin_text`] writes it).
pub fn parse_pin(text: &str) -> Result<[u8; 32], RelayError> {
    let hex = text.strip_prefix("sha256:").ok_or(RelayError::BadPin)?;
    if hex.len() != 64 {
        return Err(RelayError::BadPin);
    }
    let mut pin = [0u8; 32];
    for (i, byte) in pin.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| RelayError::BadPin)?;
    }
    Ok(pin)
}

impl RelayClient {
    /// A client of the relay at `url` (`https://host:port`), pinned to a certificate's
    /// SHA-256 or verified against the usual web roots.
    pub fn new(url: &str, pin: Option<[u8; 32]>) -> Result<Self, RelayError> {
        Self::with_config(
            url,
            &RelayConfig {
                pin,
                identity: None,
            },
        )
    }

    /// As [`RelayClient::new`], with every setting of [`RelayConfig`].
    pub fn with_config(url: &str, config: &RelayConfig) -> Result<Self, RelayError> {
        let base = url.trim_end_matches('/').to_owned();
        let authority = base
            .strip_prefix("https://")
            .filter(|a| !a.is_empty() && !a.contains('/'))
            .ok_or_else(|| RelayError::NotHttps(url.to_owned()))?;
        let identity = config.identity.as_ref();
        let agent_config = ureq::Agent::config_builder()
            .tls_config(
                ureq::tls::TlsConfig::builder()
                    .root_certs(ureq::tls::RootCerts::WebPki)
                    .client_cert(identity.map(ClientIdentity::for_ureq))
                    .build(),
            )
            .http_status_as_error(false)
            // Each phase has its own bound, and there is no global one on purpose: with a
            // global (or resolve) timeout, ureq looks the host up on a thread of its own,
            // one thread per request. The lookup is left to the system resolver's own
            // timeouts; the answer may take a long-poll's wait plus a margin.
            .timeout_connect(Some(Duration::from_secs(10)))
            .timeout_send_request(Some(Duration::from_secs(15)))
            .timeout_send_body(Some(Duration::from_secs(30)))
            .timeout_recv_response(Some(Duration::from_secs(u64::from(LONGEST_WAIT) + 15)))
            .timeout_recv_body(Some(Duration::from_secs(30)))
            .build();
        let agent = match config.pin {
            Some(pin) => {
                // Checked once up front for a precise error, then on every connection.
                pinned_certificate(authority, &pin, identity)?;
                let tls = PinnedTls {
                    config: pinned_config(&pin, identity)?,
                };
                ureq::Agent::with_parts(
                    agent_config,
                    TcpConnector::default().chain(tls),
                    DefaultResolver::default(),
                )
            }
            None => agent_config.into(),
        };
        Ok(Self {
            agent,
            base,
            on_retry: None,
        })
    }

    /// Calls `hook` before each retry of a call (a tool shows a status line while the
    /// relay is unreachable or busy).
    #[must_use]
    pub fn on_retry(mut self, hook: RetryHook) -> Self {
        self.on_retry = Some(hook);
        self
    }

    /// `POST /v1/rooms`.
    pub fn create_room(&self, receivers: u8) -> Result<Room, RelayError> {
        let v = self.json(
            "POST",
            "/v1/rooms",
            None,
            Some(json!({"receivers": receivers})),
            0,
        )?;
        let v = v.ok_or(RelayError::Malformed("no body"))?;
        Ok(Room {
            room: text(&v, "room")?,
            nameplate: Nameplate::parse(&text(&v, "nameplate")?)
                .ok_or(RelayError::Malformed("nameplate"))?,
            token: Token(Zeroizing::new(text(&v, "token")?)),
            nonce: nonce(&v)?,
            expires: v["expires"]
                .as_u64()
                .ok_or(RelayError::Malformed("expires"))?,
            payload_expires: v["payload_expires"].as_u64().unwrap_or(0),
        })
    }

    /// `POST /v1/nameplates/{n}/join`, with a random join id so that a retry gets the same
    /// slot.
    pub fn join(&self, nameplate: Nameplate) -> Result<Joined, RelayError> {
        let mut join_id = [0u8; 16];
        getrandom::fill(&mut join_id).map_err(|e| RelayError::Unreachable(e.to_string()))?;
        let body = json!({"join_id": STANDARD.encode(join_id)});
        let path = format!("/v1/nameplates/{nameplate}/join");
        let v = self
            .json("POST", &path, None, Some(body), 0)?
            .ok_or(RelayError::Malformed("no body"))?;
        let slot = v["slot"]
            .as_u64()
            .and_then(|s| u8::try_from(s).ok())
            .ok_or(RelayError::Malformed("slot"))?;
        Ok(Joined {
            room: text(&v, "room")?,
            slot,
            token: Token(Zeroizing::new(text(&v, "token")?)),
            nonce: nonce(&v)?,
        })
    }

    /// Slots above `after`, waiting up to `wait` seconds for one.
    pub fn slots(
        &self,
        t: &Token,
        room: &str,
        after: u8,
        wait: u32,
    ) -> Result<Vec<u8>, RelayError> {
        let path = format!("/v1/rooms/{room}/slots?after={after}&wait={wait}");
        let v = self.json("GET", &path, Some(t), None, wait)?;
        let slots = v.as_ref().and_then(|v| v["slots"].as_array());
        Ok(slots
            .map(|a| {
                a.iter()
                    .filter_map(|s| s.as_u64()?.try_into().ok())
                    .collect()
            })
            .unwrap_or_default())
    }

    /// Puts a message at `seq` of a queue (a retry of the same message is fine).
    pub fn put(
        &self,
        t: &Token,
        room: &str,
        slot: u8,
        q: Queue,
        seq: u8,
        msg: &[u8],
    ) -> Result<(), RelayError> {
        let path = format!("/v1/rooms/{room}/slots/{slot}/{}/{seq}", q.path());
        self.json(
            "PUT",
            &path,
            Some(t),
            Some(json!({"msg": STANDARD.encode(msg)})),
            0,
        )
        .map(|_| ())
    }

    /// The message at `seq` of a queue, waiting up to `wait` seconds; `None` if none came.
    pub fn get(
        &self,
        t: &Token,
        room: &str,
        slot: u8,
        q: Queue,
        seq: u8,
        wait: u32,
    ) -> Result<Option<Vec<u8>>, RelayError> {
        let path = format!(
            "/v1/rooms/{room}/slots/{slot}/{}/{seq}?wait={wait}",
            q.path()
        );
        match self.json("GET", &path, Some(t), None, wait)? {
            None => Ok(None),
            Some(v) => STANDARD
                .decode(text(&v, "msg")?)
                .map(Some)
                .map_err(|_| RelayError::Malformed("msg")),
        }
    }

    /// Stores a sealed payload under `id` (32 hex characters) for `slot`.
    pub fn put_payload(
        &self,
        t: &Token,
        room: &str,
        slot: u8,
        id: &str,
        sealed: &[u8],
    ) -> Result<(), RelayError> {
        let path = format!("/v1/rooms/{room}/slots/{slot}/payloads/{id}");
        self.call(
            "PUT",
            &path,
            Some(t),
            Some(sealed.to_vec()),
            "application/octet-stream",
            0,
        )
        .map(|_| ())
    }

    /// The oldest undelivered payload of the slot and its id, waiting up to `wait` seconds.
    pub fn get_payload(
        &self,
        t: &Token,
        room: &str,
        slot: u8,
        wait: u32,
    ) -> Result<Option<(String, Vec<u8>)>, RelayError> {
        let path = format!("/v1/rooms/{room}/slots/{slot}/payload?wait={wait}");
        Ok(self
            .call("GET", &path, Some(t), None, "", wait)?
            .map(|(id, body)| (id.unwrap_or_default(), body)))
    }

    /// Marks a payload delivered (the relay deletes it, keeping a tombstone).
    pub fn delete_payload(
        &self,
        t: &Token,
        room: &str,
        slot: u8,
        id: &str,
    ) -> Result<(), RelayError> {
        let path = format!("/v1/rooms/{room}/slots/{slot}/payloads/{id}");
        self.call("DELETE", &path, Some(t), None, "", 0).map(|_| ())
    }

    /// Deletes a slot: the sender denies its receiver (who then gets 410 `denied`), or a
    /// receiver leaves.
    pub fn delete_slot(&self, t: &Token, room: &str, slot: u8) -> Result<(), RelayError> {
        let path = format!("/v1/rooms/{room}/slots/{slot}");
        self.call("DELETE", &path, Some(t), None, "", 0).map(|_| ())
    }

    /// Whether the receiver took a payload (`GET .../payloads/{id}`, sender only).
    pub fn payload_delivered(
        &self,
        t: &Token,
        room: &str,
        slot: u8,
        id: &str,
    ) -> Result<bool, RelayError> {
        let path = format!("/v1/rooms/{room}/slots/{slot}/payloads/{id}");
        let v = self
            .json("GET", &path, Some(t), None, 0)?
            .ok_or(RelayError::Malformed("no body"))?;
        match v["state"].as_str() {
            Some("delivered") => Ok(true),
            Some("stored") => Ok(false),
            _ => Err(RelayError::Malformed("state")),
        }
    }

    /// Ends the room: the exchange is over (reason `done`).
    pub fn close(&self, t: &Token, room: &str) -> Result<(), RelayError> {
        self.delete_room(t, room, "done")
    }

    /// Burns the room: a confirmation failed (one guess per code).
    pub fn burn(&self, t: &Token, room: &str) -> Result<(), RelayError> {
        self.delete_room(t, room, "burned")
    }

    /// `PUT /v1/mailboxes/{mailbox}` (docs/RELAY.md §12): registers this device's mailbox,
    /// or refreshes it, with the token that may drop messages in it. Its expiry.
    pub fn register_mailbox(
        &self,
        owner: &Token,
        mailbox: &str,
        drop: &Token,
    ) -> Result<u64, RelayError> {
        let path = format!("/v1/mailboxes/{mailbox}");
        let body = json!({ "drop": drop.0.as_str() });
        let v = self
            .json("PUT", &path, Some(owner), Some(body), 0)?
            .ok_or(RelayError::Malformed("no body"))?;
        v["expires"]
            .as_u64()
            .ok_or(RelayError::Malformed("expires"))
    }

    /// `PUT /v1/mailboxes/{mailbox}/messages/{id}`: drops a sealed message (the drop
    /// token; a retry with the same id and bytes is harmless).
    pub fn drop_message(
        &self,
        drop: &Token,
        mailbox: &str,
        id: &str,
        sealed: &[u8],
    ) -> Result<(), RelayError> {
        let path = format!("/v1/mailboxes/{mailbox}/messages/{id}");
        self.call(
            "PUT",
            &path,
            Some(drop),
            Some(sealed.to_vec()),
            "application/octet-stream",
            0,
        )
        .map(|_| ())
    }

    /// `GET /v1/mailboxes/{mailbox}/messages?wait=S`: what waits, oldest first, waiting
    /// up to `wait` seconds for something.
    pub fn list_messages(
        &self,
        owner: &Token,
        mailbox: &str,
        wait: u32,
    ) -> Result<Vec<Waiting>, RelayError> {
        let path = format!("/v1/mailboxes/{mailbox}/messages?wait={wait}");
        let v = self
            .json("GET", &path, Some(owner), None, wait)?
            .ok_or(RelayError::Malformed("no body"))?;
        v["messages"]
            .as_array()
            .ok_or(RelayError::Malformed("messages"))?
            .iter()
            .map(|m| {
                Ok(Waiting {
                    id: text(m, "id")?,
                    size: m["size"].as_u64().ok_or(RelayError::Malformed("size"))?,
                    expires: m["expires"]
                        .as_u64()
                        .ok_or(RelayError::Malformed("expires"))?,
                })
            })
            .collect()
    }

    /// `GET /v1/mailboxes/{mailbox}/messages/{id}`: one message's sealed bytes.
    pub fn read_message(
        &self,
        owner: &Token,
        mailbox: &str,
        id: &str,
    ) -> Result<Vec<u8>, RelayError> {
        let path = format!("/v1/mailboxes/{mailbox}/messages/{id}");
        self.call("GET", &path, Some(owner), None, "", 0)?
            .map(|(_, body)| body)
            .ok_or(RelayError::Malformed("no body"))
    }

    /// `DELETE /v1/mailboxes/{mailbox}/messages/{id}`: the message arrived.
    pub fn delete_message(&self, owner: &Token, mailbox: &str, id: &str) -> Result<(), RelayError> {
        let path = format!("/v1/mailboxes/{mailbox}/messages/{id}");
        self.call("DELETE", &path, Some(owner), None, "", 0)
            .map(|_| ())
    }

    fn delete_room(&self, t: &Token, room: &str, reason: &str) -> Result<(), RelayError> {
        let path = format!("/v1/rooms/{room}");
        let body = json!({ "reason": reason });
        self.json("DELETE", &path, Some(t), Some(body), 0)
            .map(|_| ())
    }

    fn json(
        &self,
        method: &str,
        path: &str,
        t: Option<&Token>,
        body: Option<Value>,
        wait: u32,
    ) -> Result<Option<Value>, RelayError> {
        let body = body.map(|b| b.to_string().into_bytes());
        match self.call(method, path, t, body, "application/json", wait)? {
            None => Ok(None),
            Some((_, bytes)) if bytes.is_empty() => Ok(Some(Value::Null)),
            Some((_, bytes)) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|_| RelayError::Malformed("not JSON")),
        }
    }

    /// One call with retries; `None` for 204. Returns the payload id header and the body.
    fn call(
        &self,
        method: &str,
        path: &str,
        t: Option<&Token>,
        body: Option<Vec<u8>>,
        content_type: &str,
        wait: u32,
    ) -> Result<Answer, RelayError> {
        let deadline = Instant::now() + CALL_BUDGET + Duration::from_secs(u64::from(wait));
        let url = format!("{}{path}", self.base);
        let mut last = String::new();
        // The relay's own refusal when the last attempt was answered 429 or 5xx: after the
        // retries, "rate limited" or "full" says more than "unreachable".
        let mut last_refusal = None;
        for attempt in 0..ATTEMPTS {
            if attempt > 0 {
                let pause = backoff(attempt);
                if Instant::now() + pause > deadline {
                    break;
                }
                if let Some(hook) = &self.on_retry {
                    hook(&Retry {
                        attempt: attempt + 1,
                        of: ATTEMPTS,
                        reason: last.clone(),
                        pause,
                    });
                }
                std::thread::sleep(pause);
            }
            let mut req = ureq::http::Request::builder().method(method).uri(&url);
            if let Some(t) = t {
                req = req.header("Authorization", format!("Bearer {}", t.0.as_str()));
            }
            if body.is_some() {
                req = req.header("Content-Type", content_type);
            }
            let req = req
                .body(body.clone().unwrap_or_default())
                .map_err(|_| RelayError::Malformed("request"))?;
            let mut resp = match self.agent.run(req) {
                Ok(resp) => resp,
                Err(e) if is_tls(&e) => return Err(RelayError::Tls(e.to_string())),
                Err(e) => {
                    last = e.to_string();
                    last_refusal = None;
                    continue;
                }
            };
            let status = resp.status().as_u16();
            if matches!(status, 429 | 502 | 503 | 504) {
                last = format!("HTTP {status}");
                let mut bytes = Vec::new();
                let _ = resp
                    .body_mut()
                    .as_reader()
                    .take(4096)
                    .read_to_end(&mut bytes);
                last_refusal = Some(refusal(status, &bytes));
                continue;
            }
            let id = resp
                .headers()
                .get("Hush-Payload-Id")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            let mut bytes = Vec::new();
            resp.body_mut()
                .as_reader()
                .take(MAX_PAYLOAD)
                .read_to_end(&mut bytes)
                .map_err(|e| RelayError::Unreachable(e.to_string()))?;
            return match status {
                204 => Ok(None),
                200..=299 => Ok(Some((id, bytes))),
                _ => Err(refusal(status, &bytes)),
            };
        }
        Err(last_refusal.unwrap_or(RelayError::Unreachable(last)))
    }
}

/// A TLS failure: a certificate the client does not trust, or a handshake the relay
/// aborted (its alert, e.g. "certificate required" on a relay with mutual TLS).
fn is_tls(e: &ureq::Error) -> bool {
    match e {
        ureq::Error::Rustls(_) | ureq::Error::Tls(_) => true,
        ureq::Error::Io(io) => io
            .get_ref()
            .is_some_and(|inner| inner.is::<rustls::Error>()),
        _ => false,
    }
}

/// A relay's answer: `None` for 204 (a long-poll that ended empty), else the
/// `Hush-Payload-Id` header (payloads only) and the body.
type Answer = Option<(Option<String>, Vec<u8>)>;

/// Exponential backoff with jitter: 100 ms, 200 ms, 400 ms, ... up to 3 s, ± half.
fn backoff(attempt: u32) -> Duration {
    let base = 100u64.saturating_mul(1 << attempt.min(5)).min(3000);
    let mut r = [0u8; 2];
    let jitter = match getrandom::fill(&mut r) {
        Ok(()) => u64::from(u16::from_le_bytes(r)) % base,
        Err(_) => base / 2,
    };
    Duration::from_millis(base / 2 + jitter)
}

fn refusal(status: u16, body: &[u8]) -> RelayError {
    let v: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    RelayError::Refused {
        status,
        code: v["error"].as_str().unwrap_or("http_error").to_owned(),
        message: v["message"].as_str().unwrap_or("no message").to_owned(),
    }
}

fn text(v: &Value, field: &'static str) -> Result<String, RelayError> {
    v[field]
        .as_str()
        .map(str::to_owned)
        .ok_or(RelayError::Malformed(field))
}

fn nonce(v: &Value) -> Result<[u8; 32], RelayError> {
    STANDARD
        .decode(text(v, "nonce")?)
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or(RelayError::Malformed("nonce"))
}

impl Token {
    /// Wraps a token given by the relay.
    pub fn new(text: String) -> Self {
        Self(Zeroizing::new(text))
    }

    /// The token's text (to hand it to whoever may use it: a mailbox's drop token).
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Connects once to `authority` and returns the server's certificate if its SHA-256 is
/// `pin` (the handshake signatures are checked too, so only the key's holder passes).
fn pinned_certificate(
    authority: &str,
    pin: &[u8; 32],
    identity: Option<&ClientIdentity>,
) -> Result<Vec<u8>, RelayError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinVerifier::new(*pin, Arc::clone(&provider)));
    let config = client_config(verifier.clone(), provider, identity)?;
    let host = authority
        .rsplit_once(':')
        .map_or(authority, |(h, _)| h)
        .trim_start_matches('[')
        .trim_end_matches(']');
    let name = ServerName::try_from(host.to_owned())
        .map_err(|_| RelayError::NotHttps(authority.to_owned()))?;
    let addr = if authority.contains(':') {
        authority.to_owned()
    } else {
        format!("{authority}:443")
    };
    let unreachable = |e: std::io::Error| RelayError::Unreachable(e.to_string());
    let mut tcp = TcpStream::connect(&addr).map_err(unreachable)?;
    tcp.set_read_timeout(Some(Duration::from_secs(10)))
        .map_err(unreachable)?;
    let mut conn = rustls::ClientConnection::new(config, name)
        .map_err(|e| RelayError::Unreachable(e.to_string()))?;
    let handshake = conn
        .complete_io(&mut tcp)
        .map_err(|e| pending_alert(&mut conn, &mut tcp).unwrap_or(e));
    match (handshake, verifier.seen()) {
        (Ok(_), Some(Ok(der))) => Ok(der),
        (_, Some(Err(got))) => Err(RelayError::PinMismatch(got)),
        (Err(e), _) if e.get_ref().is_some_and(|i| i.is::<rustls::Error>()) => {
            Err(RelayError::Tls(e.to_string()))
        }
        (Err(e), _) => Err(RelayError::Unreachable(e.to_string())),
        (Ok(_), None) => Err(RelayError::Malformed("no certificate")),
    }
}

/// rustls' client settings with `verifier`, presenting `identity` when the relay asks.
fn client_config(
    verifier: Arc<dyn ServerCertVerifier>,
    provider: Arc<rustls::crypto::CryptoProvider>,
    identity: Option<&ClientIdentity>,
) -> Result<Arc<rustls::ClientConfig>, RelayError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| RelayError::Tls(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let mut config = match identity {
        None => builder.with_no_client_auth(),
        Some(id) => builder
            .with_client_auth_cert(id.chain.clone(), id.key.clone_key())
            .map_err(|e| RelayError::Identity(e.to_string()))?,
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// The settings of every pinned connection.
fn pinned_config(
    pin: &[u8; 32],
    identity: Option<&ClientIdentity>,
) -> Result<Arc<rustls::ClientConfig>, RelayError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier = Arc::new(PinVerifier::new(*pin, Arc::clone(&provider)));
    client_config(verifier, provider, identity)
}

/// The HTTP agent's TLS layer for a pinned relay: rustls with [`PinVerifier`] on every
/// connection (ureq's own TLS layer only knows root certificates, and a CA-issued
/// certificate is not a root).
#[derive(Debug)]
struct PinnedTls {
    config: Arc<rustls::ClientConfig>,
}

impl<In: Transport> Connector<In> for PinnedTls {
    type Out = Either<In, PinnedTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Ok(None);
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("no host in the relay URL"))?
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        let name = ServerName::try_from(host)
            .map_err(|_| ureq::Error::Tls("the relay's host is not a valid name"))?;
        let mut conn = rustls::ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        if let Err(e) = conn.complete_io(&mut sock) {
            return Err(pending_alert(&mut conn, &mut sock).unwrap_or(e).into());
        }
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(PinnedTransport {
            buffers,
            stream: rustls::StreamOwned { conn, sock },
        })))
    }
}

/// One pinned TLS connection, as the agent reads and writes it.
struct PinnedTransport {
    buffers: LazyBuffers,
    stream: rustls::StreamOwned<rustls::ClientConnection, TransportAdapter>,
}

impl fmt::Debug for PinnedTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PinnedTransport")
    }
}

impl PinnedTransport {
    /// After a failed write, the relay's reason if it sent one (see [`pending_alert`]).
    fn pending_alert(&mut self) -> Option<std::io::Error> {
        let rustls::StreamOwned { conn, sock } = &mut self.stream;
        pending_alert(conn, sock)
    }
}

/// After a failed write, the relay's alert if one is waiting unread. In TLS 1.3 the client
/// finishes its handshake first; a relay that refuses the client certificate sends an
/// alert and closes, and the client's next write fails ("broken pipe") with the alert
/// still in the socket. Reading it gives the real error ("certificate required",
/// "unknown CA") instead of a dead connection that would be retried.
fn pending_alert(
    conn: &mut rustls::ClientConnection,
    sock: &mut impl Read,
) -> Option<std::io::Error> {
    // An alert is a few bytes: a handful of reads at most.
    for _ in 0..4 {
        match conn.read_tls(sock) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        if let Err(e) = conn.process_new_packets() {
            return Some(std::io::Error::new(std::io::ErrorKind::InvalidData, e));
        }
    }
    None
}

impl Transport for PinnedTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        if let Err(e) = self.stream.write_all(output) {
            return Err(self.pending_alert().unwrap_or(e).into());
        }
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let amount = self.stream.read(input)?;
        self.buffers.input_appended(amount);
        Ok(amount > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

/// A rustls verifier that accepts exactly the certificate whose SHA-256 is the pin (and
/// checks the handshake signatures with it). Public for the relay's own tests, which pin
/// the same way over tokio-rustls.
#[derive(Debug)]
pub struct PinVerifier {
    pin: [u8; 32],
    provider: Arc<rustls::crypto::CryptoProvider>,
    /// The certificate, or the hex SHA-256 of a wrong one.
    seen: Mutex<Option<Result<Vec<u8>, String>>>,
}

impl PinVerifier {
    /// A verifier for `pin`, checking signatures with `provider`'s algorithms.
    pub fn new(pin: [u8; 32], provider: Arc<rustls::crypto::CryptoProvider>) -> Self {
        Self {
            pin,
            provider,
            seen: Mutex::new(None),
        }
    }

    /// The last certificate offered: its DER if it matched the pin, else its hex SHA-256.
    pub fn seen(&self) -> Option<Result<Vec<u8>, String>> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

impl ServerCertVerifier for PinVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let digest: [u8; 32] = Sha256::digest(end_entity.as_ref()).into();
        let ok = bool::from(digest.ct_eq(&self.pin));
        let seen = if ok {
            Ok(end_entity.to_vec())
        } else {
            Err(super::hex(&digest))
        };
        *self.seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(seen);
        if ok {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "certificate does not match the pin".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.provider.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider
            .signature_verification_algorithms
            .supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_and_urls_are_checked_before_any_connection() {
        assert!(matches!(parse_pin("sha256:zz"), Err(RelayError::BadPin)));
        assert!(matches!(
            parse_pin(&"a".repeat(64)),
            Err(RelayError::BadPin)
        ));
        assert_eq!(
            parse_pin(&format!("sha256:{}", "0f".repeat(32))).unwrap(),
            [0x0f; 32]
        );
        assert!(matches!(
            RelayClient::new("http://127.0.0.1:1", None),
            Err(RelayError::NotHttps(_))
        ));
        let t = Token::new("secret-token".into());
        assert!(!format!("{t:?}").contains("secret"));
        assert!(matches!(
            ClientIdentity::from_pem(b"", b""),
            Err(RelayError::Identity(_))
        ));
    }

    #[test]
    fn backoff_grows_and_stays_bounded() {
        for attempt in 1..10 {
            let d = backoff(attempt);
            assert!(d <= Duration::from_millis(4500), "{d:?}");
            assert!(d >= Duration::from_millis(50), "{d:?}");
        }
    }
}
