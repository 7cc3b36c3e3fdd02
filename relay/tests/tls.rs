//! TLS of the real hush-relay with certificates from a test CA (rcgen), reached by the
//! tools' blocking client (`shared::cli::relay_client`): who is refused, and how.
//!
//! - a relay serving a CA-issued certificate: a client that trusts only the system's roots
//!   is refused with a TLS error (not retried), a wrong pin is refused, the right pin works;
//! - a relay with `--client-ca` (mutual TLS): no client certificate, or one from another
//!   CA, is refused at the handshake; one from the configured CA works end to end.
//!
//! Bad API keys (401) and silent TCP clients (cut at the handshake timeout) are covered by
//! relay.rs (`a_private_relay_wants_a_key_of_the_right_scope`,
//! `plain_http_and_silent_clients_are_cut_off`).

// The harness serves the other test binaries too: not every helper is used here.
#[allow(dead_code)]
mod harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use harness::Relay;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose,
};
use shared::cli::relay_client::{ClientIdentity, RelayClient, RelayConfig, RelayError, parse_pin};

/// A test certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("CA key");
        Ca {
            issuer: CertifiedIssuer::self_signed(params, key).expect("CA certificate"),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf for `names` with the given extended key usage: (certificate PEM, key PEM,
    /// `sha256:HEX` of its DER).
    fn leaf(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Leaf {
        let names: Vec<String> = names.iter().map(|s| (*s).to_owned()).collect();
        let mut params = CertificateParams::new(names).expect("params");
        params
            .distinguished_name
            .push(DnType::CommonName, "hush test leaf");
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("leaf");
        Leaf {
            cert: cert.pem(),
            key: key.serialize_pem(),
            pin: harness::fingerprint(cert.der()),
        }
    }
}

struct Leaf {
    cert: String,
    key: String,
    pin: String,
}

impl Leaf {
    /// Writes the certificate and key to `dir/NAME.pem` and `dir/NAME.key`.
    fn write(&self, dir: &Path, name: &str) -> (PathBuf, PathBuf) {
        let (cert, key) = (
            dir.join(format!("{name}.pem")),
            dir.join(format!("{name}.key")),
        );
        std::fs::write(&cert, &self.cert).expect("write cert");
        std::fs::write(&key, &self.key).expect("write key");
        (cert, key)
    }

    fn identity(&self) -> ClientIdentity {
        ClientIdentity::from_pem(self.cert.as_bytes(), self.key.as_bytes()).expect("identity")
    }
}

/// A relay serving a leaf of `ca`, with `extra` flags; returns the relay and its URL.
fn relay_with(dir: &Path, ca: &Ca, extra: &[&str]) -> (Relay, String, Leaf) {
    let server = ca.leaf(
        &["localhost", "127.0.0.1"],
        ExtendedKeyUsagePurpose::ServerAuth,
    );
    let (cert, key) = server.write(dir, "server");
    let mut args = vec![
        "--tls-cert",
        cert.to_str().expect("utf-8"),
        "--tls-key",
        key.to_str().expect("utf-8"),
    ];
    args.extend_from_slice(extra);
    let relay = Relay::start(&args);
    // The relay pins (and logs) the served leaf, not a self-signed one.
    assert_eq!(relay.pin, server.pin);
    assert!(!relay.cert_created);
    let url = format!("https://{}", relay.addr);
    (relay, url, server)
}

fn pinned(pin: &str, identity: Option<ClientIdentity>) -> RelayConfig {
    RelayConfig {
        pin: Some(parse_pin(pin).expect("pin")),
        identity,
    }
}

/// A client pinned to the relay creates a room and another joins it: the relay serves.
fn create_and_join(url: &str, config: &RelayConfig) -> Result<(), RelayError> {
    let client = RelayClient::with_config(url, config)?;
    let room = client.create_room(1)?;
    let joined = client.join(room.nameplate)?;
    assert_eq!(joined.slot, 1);
    assert_eq!(joined.room, room.room);
    Ok(())
}

#[test]
fn a_client_without_trust_in_the_relays_ca_is_refused_and_a_pin_decides() {
    let dir = tempfile::tempdir().expect("tmp");
    let ca = Ca::new("hush test CA");
    let (relay, url, server) = relay_with(dir.path(), &ca, &[]);

    // System roots only: the test CA is in none of them. The handshake fails, the client
    // says it is TLS, and does not retry it as if the relay were down.
    let client = RelayClient::new(&url, None).expect("no connection yet");
    let start = Instant::now();
    let err = client.create_room(1).expect_err("an untrusted CA");
    assert!(matches!(err, RelayError::Tls(_)), "{err:?}");
    let text = err.to_string();
    assert!(text.starts_with("TLS with the relay failed"), "{text}");
    assert!(
        text.contains("UnknownIssuer") || text.contains("unknown issuer"),
        "{text}"
    );
    // Retries (if TLS errors were retried) would take over 1.5 s of backoff.
    assert!(
        start.elapsed() < Duration::from_secs(1),
        "{:?}",
        start.elapsed()
    );

    // A wrong pin: refused before any request; so is a pin of the CA instead of the leaf.
    let zero = format!("sha256:{}", "0".repeat(64));
    let err = create_and_join(&url, &pinned(&zero, None)).expect_err("wrong pin");
    assert!(matches!(err, RelayError::PinMismatch(_)), "{err:?}");
    assert!(
        err.to_string().contains(&server.pin["sha256:".len()..]),
        "{err}"
    );
    let ca_pin = harness::fingerprint(ca.issuer.der());
    let err = create_and_join(&url, &pinned(&ca_pin, None)).expect_err("CA pin");
    assert!(matches!(err, RelayError::PinMismatch(_)), "{err:?}");

    // The pin of the served certificate works, although a CA issued it.
    create_and_join(&url, &pinned(&server.pin, None)).expect("pinned to the leaf");
    relay.stop();
}

#[test]
fn mutual_tls_admits_only_certificates_from_the_client_ca() {
    let dir = tempfile::tempdir().expect("tmp");
    let server_ca = Ca::new("hush test server CA");
    let client_ca = Ca::new("hush test client CA");
    let other_ca = Ca::new("someone else's CA");
    let ca_file = dir.path().join("client-ca.pem");
    std::fs::write(&ca_file, client_ca.pem()).expect("write CA");
    let (relay, url, server) = relay_with(
        dir.path(),
        &server_ca,
        &["--client-ca", ca_file.to_str().expect("utf-8")],
    );
    let laptop = client_ca.leaf(&["laptop"], ExtendedKeyUsagePurpose::ClientAuth);
    let stranger = other_ca.leaf(&["laptop"], ExtendedKeyUsagePurpose::ClientAuth);

    // No client certificate: the relay aborts the handshake ("certificate required").
    let err = create_and_join(&url, &pinned(&server.pin, None)).expect_err("anonymous");
    assert!(matches!(err, RelayError::Tls(_)), "{err:?}");
    assert!(
        err.to_string().contains("CertificateRequired"),
        "no certificate: {err}"
    );

    // A certificate from another CA (same names, right key usage): "unknown CA".
    let err = create_and_join(&url, &pinned(&server.pin, Some(stranger.identity())))
        .expect_err("another CA");
    assert!(matches!(err, RelayError::Tls(_)), "{err:?}");
    assert!(err.to_string().contains("UnknownCA"), "other CA: {err}");

    // A certificate from the client CA: served, from PEM files as a tool reads them.
    let (cert, key) = laptop.write(dir.path(), "laptop");
    let identity = ClientIdentity::from_pem_files(&cert, &key).expect("identity files");
    assert!(!format!("{identity:?}").contains("PRIVATE"), "{identity:?}");
    create_and_join(&url, &pinned(&server.pin, Some(identity))).expect("admitted");

    // Refused handshakes served nothing: the log has the admitted client's two requests
    // only (its lines arrive through a pipe: wait for them, bounded).
    let served = || {
        relay
            .logs()
            .lines()
            .filter(|l| l.contains("\"message\":\"request\""))
            .count()
    };
    let deadline = Instant::now() + Duration::from_secs(5);
    while served() < 2 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(served(), 2, "only the admitted client's two requests");
    relay.stop();
}

#[test]
fn a_client_ca_file_without_a_certificate_stops_the_relay_at_start() {
    let dir = tempfile::tempdir().expect("tmp");
    let empty = dir.path().join("empty.pem");
    std::fs::write(&empty, "no PEM here\n").expect("write");
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_hush-relay"))
        .args(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:0"])
        .arg("--state-dir")
        .arg(dir.path().join("state"))
        .arg("--client-ca")
        .arg(&empty)
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(4));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("holds no usable CA certificate"),
        "{stderr}"
    );
}
