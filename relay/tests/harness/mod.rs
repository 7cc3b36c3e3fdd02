//! The test harness: starts the real `hush-relay` on 127.0.0.1 port 0, finds its port and
//! certificate pin on its first stdout line, talks to it over TLS with a client that pins
//! the certificate's SHA-256 (as `shared::relay` will), and stops it on drop.

// A test harness: a failed setup step is a failed test, and unwrap says where.
#![allow(clippy::unwrap_used)]

pub mod redis;

use std::io::{BufRead as _, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use http_body_util::{BodyExt as _, Full};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls::client::danger::ServerCertVerifier;
use rustls_pki_types::ServerName;
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use shared::cli::relay_client::{PinVerifier, parse_pin};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Longest any single request may take in a test (long-polls included).
const REQUEST_TIMEOUT: Duration = Duration::from_secs(40);

/// Flags every test relay gets unless the test sets them: limits high enough not to get in
/// the way of tests that are not about limits.
const DEFAULTS: &[(&str, &str)] = &[
    ("--rate", "1000"),
    ("--burst", "1000"),
    ("--joins-per-minute", "1000"),
];

pub struct Relay {
    child: Child,
    pub addr: SocketAddr,
    pub admin: SocketAddr,
    pub pin: String,
    pub cert_created: bool,
    lines: Arc<Mutex<Vec<String>>>,
    _tmp: Option<tempfile::TempDir>,
}

impl Relay {
    /// A relay with a fresh state directory.
    pub fn start(args: &[&str]) -> Relay {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("state");
        let mut relay = Relay::start_in(&dir, args);
        relay._tmp = Some(tmp);
        relay
    }

    /// A relay keeping its certificate in `dir`.
    pub fn start_in(dir: &Path, args: &[&str]) -> Relay {
        Relay::start_with_env(dir, args, &[])
    }

    /// As [`Relay::start_in`], with extra environment variables.
    pub fn start_with_env(dir: &Path, args: &[&str], env: &[(&str, &Path)]) -> Relay {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_hush-relay"));
        cmd.envs(env.iter().copied());
        cmd.args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
            .arg("--state-dir")
            .arg(dir);
        for (flag, value) in DEFAULTS {
            if !args.contains(flag) {
                cmd.args([flag, value]);
            }
        }
        cmd.args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (first_tx, first_rx) = mpsc::channel();
        let keep = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = first_tx.send(line.clone());
                keep.lock().unwrap().push(line);
            }
        });
        let first = match first_rx.recv_timeout(Duration::from_secs(20)) {
            Ok(line) => line,
            Err(_) => {
                let _ = child.kill();
                panic!("hush-relay printed no first line");
            }
        };
        let v: Value = serde_json::from_str(&first).unwrap();
        let url = v["url"].as_str().unwrap();
        let addr: SocketAddr = url.strip_prefix("https://").unwrap().parse().unwrap();
        assert!(addr.ip().is_loopback());
        let admin: SocketAddr = v["admin_url"]
            .as_str()
            .unwrap()
            .strip_prefix("http://")
            .unwrap()
            .parse()
            .unwrap();
        Relay {
            child,
            addr,
            admin,
            pin: v["cert_sha256"].as_str().unwrap().to_owned(),
            cert_created: v["cert_created"].as_bool().unwrap(),
            lines,
            _tmp: None,
        }
    }

    /// A client pinning this relay's certificate.
    pub fn client(&self) -> Client {
        Client::new(self.addr, &self.pin)
    }

    /// The relay's process id (for /proc readings).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything the relay logged so far.
    pub fn logs(&self) -> String {
        self.lines.lock().unwrap().join("\n")
    }

    /// Stops the relay and waits for it.
    pub fn stop(mut self) {
        self.kill();
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// A plain-HTTP GET on the admin listener: (status, body).
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
        let mut tcp = TcpStream::connect(self.admin).await.unwrap();
        let req = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        tcp.write_all(req.as_bytes()).await.unwrap();
        let mut out = Vec::new();
        tokio::time::timeout(Duration::from_secs(10), tcp.read_to_end(&mut out))
            .await
            .unwrap()
            .unwrap();
        let text = String::from_utf8_lossy(&out).into_owned();
        let status = text[9..12].parse().unwrap();
        let body = text
            .split_once("\r\n\r\n")
            .map(|x| x.1)
            .unwrap_or("")
            .to_owned();
        (status, body)
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.kill();
    }
}

pub fn fingerprint(der: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(der)))
}

/// One answer.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: hyper::HeaderMap,
    pub body: Vec<u8>,
}

impl Resp {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|_| panic!("not JSON: {:?}", String::from_utf8_lossy(&self.body)))
    }

    /// The `error` code of an error answer.
    pub fn error(&self) -> String {
        self.json()["error"].as_str().unwrap().to_owned()
    }

    pub fn header(&self, name: &str) -> Option<String> {
        self.headers
            .get(name)
            .map(|v| v.to_str().unwrap().to_owned())
    }
}

#[derive(Clone)]
pub struct Client {
    addr: SocketAddr,
    pub pin: Arc<PinVerifier>,
    config: Arc<rustls::ClientConfig>,
}

impl Client {
    pub fn new(addr: SocketAddr, pin: &str) -> Client {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let pin = Arc::new(PinVerifier::new(
            parse_pin(pin).unwrap(),
            Arc::clone(&provider),
        ));
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .dangerous()
            .with_custom_certificate_verifier(Arc::clone(&pin) as Arc<dyn ServerCertVerifier>)
            .with_no_client_auth();
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Client {
            addr,
            pin,
            config: Arc::new(config),
        }
    }

    /// A raw TLS stream over `tcp`, for tests that speak (or do not speak) HTTP by hand.
    pub async fn tls(&self, tcp: TcpStream) -> tokio_rustls::client::TlsStream<TcpStream> {
        TlsConnector::from(Arc::clone(&self.config))
            .connect(ServerName::try_from("localhost").unwrap(), tcp)
            .await
            .unwrap()
    }

    /// One request on a new connection; panics past `REQUEST_TIMEOUT`.
    pub async fn req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Vec<u8>>,
    ) -> Resp {
        self.req_with(method, path, token, &[], body).await
    }

    /// As [`Client::req`], with extra headers.
    pub async fn req_with(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Resp {
        tokio::time::timeout(
            REQUEST_TIMEOUT,
            self.try_req(method, path, token, extra, body),
        )
        .await
        .expect("request timed out")
        .expect("request failed")
    }

    pub async fn try_req(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        extra: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Result<Resp, Box<dyn std::error::Error + Send + Sync>> {
        let tcp = TcpStream::connect(self.addr).await?;
        let tls = TlsConnector::from(Arc::clone(&self.config))
            .connect(ServerName::try_from("localhost")?, tcp)
            .await?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
        tokio::spawn(conn);
        let mut req = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(t) = token {
            req = req.header("authorization", format!("Bearer {t}"));
        }
        for (name, value) in extra {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let res = sender.send_request(req).await?;
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        let body = res.into_body().collect().await?.to_bytes().to_vec();
        Ok(Resp {
            status,
            headers,
            body,
        })
    }

    pub async fn json(&self, method: &str, path: &str, token: Option<&str>, v: Value) -> Resp {
        self.req(method, path, token, Some(v.to_string().into_bytes()))
            .await
    }
}

/// A room as the sender sees it.
pub struct Room {
    pub id: String,
    pub nameplate: String,
    pub token: String,
    /// The room's nonce, bound into the pairing (docs/RELAY.md §2).
    pub nonce: [u8; 32],
}

/// A receiver's slot.
pub struct Slot {
    pub n: u64,
    pub token: String,
}

pub async fn create(c: &Client, receivers: u64) -> Room {
    let r = c
        .json(
            "POST",
            "/v1/rooms",
            None,
            serde_json::json!({ "receivers": receivers }),
        )
        .await;
    assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    Room {
        id: v["room"].as_str().unwrap().to_owned(),
        nameplate: v["nameplate"].as_str().unwrap().to_owned(),
        token: v["token"].as_str().unwrap().to_owned(),
        nonce: STANDARD
            .decode(v["nonce"].as_str().unwrap())
            .unwrap()
            .try_into()
            .unwrap(),
    }
}

pub fn join_id(n: u8) -> String {
    STANDARD.encode([n; 16])
}

pub async fn try_join(c: &Client, nameplate: &str, id: &str) -> Resp {
    c.json(
        "POST",
        &format!("/v1/nameplates/{nameplate}/join"),
        None,
        serde_json::json!({ "join_id": id }),
    )
    .await
}

pub async fn join(c: &Client, nameplate: &str, id: &str) -> Slot {
    let r = try_join(c, nameplate, id).await;
    assert_eq!(r.status, 201, "{:?}", String::from_utf8_lossy(&r.body));
    let v = r.json();
    Slot {
        n: v["slot"].as_u64().unwrap(),
        token: v["token"].as_str().unwrap().to_owned(),
    }
}

pub fn msg(bytes: &[u8]) -> Value {
    serde_json::json!({ "msg": STANDARD.encode(bytes) })
}
