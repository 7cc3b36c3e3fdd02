//! The server's certificate: given as PEM files, or self-signed once and kept in the state
//! directory so the SHA-256 that clients pin survives restarts; and, with `--client-ca`,
//! the verifier that makes every client present a certificate from that CA (mutual TLS).

use std::fs;
use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject as _;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use sha2::{Digest as _, Sha256};

use crate::config::{TlsSettings, TlsSource};
use crate::error::StartError;

const CERT_FILE: &str = "cert.pem";
const KEY_FILE: &str = "key.pem";

/// The TLS settings and the pin of the served certificate.
pub struct Tls {
    pub config: Arc<ServerConfig>,
    /// `sha256:HEX` of the leaf certificate's DER.
    pub fingerprint: String,
    /// True when this start made a new self-signed certificate (clients must re-pin).
    pub created: bool,
}

/// Loads or makes the certificate and builds rustls' server configuration (TLS 1.2 and
/// 1.3, the ring provider, HTTP/1.1 only; client certificates required with a client CA).
pub fn load(settings: &TlsSettings) -> Result<Tls, StartError> {
    let source = &settings.source;
    let (chain, key, created) = match source {
        TlsSource::Files { cert, key } => (read_chain(cert)?, read_key(key)?, false),
        TlsSource::SelfSigned {
            state_dir,
            hostnames,
        } => self_signed(state_dir, hostnames)?,
    };
    let fingerprint = match chain.first() {
        Some(leaf) => fingerprint(leaf),
        None => {
            return Err(StartError::BadPem {
                path: cert_path(source),
                what: "certificate",
            });
        }
    };
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(Arc::clone(&provider))
        .with_safe_default_protocol_versions()?;
    let builder = match &settings.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => builder.with_client_cert_verifier(client_verifier(path, provider)?),
    };
    let mut config = builder.with_single_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        config: Arc::new(config),
        fingerprint,
        created,
    })
}

/// A verifier that accepts only clients whose certificate chains (webpki: validity
/// dates, key usage for client authentication, signatures) to a CA of the PEM file at
/// `path`. Anonymous clients are refused: the handshake fails with "certificate required".
fn client_verifier(
    path: &Path,
    provider: Arc<rustls::crypto::CryptoProvider>,
) -> Result<Arc<dyn rustls::server::danger::ClientCertVerifier>, StartError> {
    let bad = || StartError::BadPem {
        path: path.to_owned(),
        what: "CA certificate",
    };
    let mut roots = RootCertStore::empty();
    let cas = read_chain(path).map_err(|e| match e {
        StartError::BadPem { .. } => bad(),
        other => other,
    })?;
    for ca in cas {
        roots.add(ca).map_err(|_| bad())?;
    }
    WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
        .build()
        .map_err(|source| StartError::ClientCa {
            path: path.to_owned(),
            source,
        })
}

/// `sha256:HEX` of a DER certificate: the value clients pin.
pub fn fingerprint(cert: &CertificateDer<'_>) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(cert.as_ref())))
}

fn cert_path(source: &TlsSource) -> PathBuf {
    match source {
        TlsSource::Files { cert, .. } => cert.clone(),
        TlsSource::SelfSigned { state_dir, .. } => state_dir.join(CERT_FILE),
    }
}

fn read_chain(path: &Path) -> Result<Vec<CertificateDer<'static>>, StartError> {
    let bytes = read(path)?;
    let chain: Vec<_> = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<_, _>>()
        .map_err(|_| StartError::BadPem {
            path: path.to_owned(),
            what: "certificate",
        })?;
    if chain.is_empty() {
        return Err(StartError::BadPem {
            path: path.to_owned(),
            what: "certificate",
        });
    }
    Ok(chain)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, StartError> {
    let bytes = read(path)?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|_| StartError::BadPem {
        path: path.to_owned(),
        what: "private key",
    })
}

fn read(path: &Path) -> Result<Vec<u8>, StartError> {
    fs::read(path).map_err(|source| StartError::StateFile {
        action: "read",
        path: path.to_owned(),
        source,
    })
}

type Material = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, bool);

/// The kept self-signed certificate, or a new one when the directory has none.
fn self_signed(dir: &Path, hostnames: &[String]) -> Result<Material, StartError> {
    let cert_file = dir.join(CERT_FILE);
    let key_file = dir.join(KEY_FILE);
    if cert_file.exists() && key_file.exists() {
        // Kept as it is even if --hostname changed: a new certificate would break every
        // client's pin. Delete the files to make a new one.
        return Ok((read_chain(&cert_file)?, read_key(&key_file)?, false));
    }
    make_private_dir(dir)?;
    let mut names = vec![
        "localhost".to_owned(),
        "127.0.0.1".to_owned(),
        "::1".to_owned(),
    ];
    names.extend(hostnames.iter().cloned());
    let key_pair = rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?;
    let mut params = rcgen::CertificateParams::new(names)?;
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "hush-relay");
    let cert = params.self_signed(&key_pair)?;
    // The key first: a certificate file without its key would be read back as "no usable
    // private key" on the next start.
    write_private(&key_file, key_pair.serialize_pem().as_bytes())?;
    write_private(&cert_file, cert.pem().as_bytes())?;
    let key =
        PrivateKeyDer::try_from(key_pair.serialize_der()).map_err(|_| StartError::BadPem {
            path: key_file.clone(),
            what: "private key",
        })?;
    Ok((vec![cert.der().clone()], key, true))
}

/// Creates the directory 0700, or tightens an existing one to 0700 (it holds a key).
fn make_private_dir(dir: &Path) -> Result<(), StartError> {
    let err = |action, source| StartError::StateFile {
        action,
        path: dir.to_owned(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(|e| err("create", e))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| err("chmod", e))
}

/// Writes a 0600 file through a temporary name and a rename, so a crash never leaves a
/// half-written key behind.
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), StartError> {
    let tmp = path.with_extension("tmp");
    let err = |action, source| StartError::StateFile {
        action,
        path: path.to_owned(),
        source,
    };
    let _ = fs::remove_file(&tmp);
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(|e| err("create", e))?;
    file.write_all(bytes).map_err(|e| err("write", e))?;
    file.sync_all().map_err(|e| err("sync", e))?;
    fs::rename(&tmp, path).map_err(|e| err("rename", e))
}
