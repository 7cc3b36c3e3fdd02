//! Why the relay could not start or had to stop: one enum, each variant with its message
//! and exit code (documented in `--help`).

use std::net::SocketAddr;
use std::path::PathBuf;

/// A failure before or outside of serving requests.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    #[error("bad setting: {0}")]
    BadSetting(&'static str),
    #[error("no state directory: set --state-dir, XDG_STATE_HOME or HOME")]
    NoStateDir,
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("cannot {action} {path}: {source}")]
    StateFile {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path} holds no usable {what}")]
    BadPem { path: PathBuf, what: &'static str },
    #[error("{path}, line {line}: {reason}")]
    ApiKeys {
        path: PathBuf,
        line: usize,
        reason: &'static str,
    },
    #[error("cannot make the self-signed certificate: {0}")]
    CertGen(#[from] rcgen::Error),
    #[error("TLS setup refused the certificate or key: {0}")]
    Tls(#[from] rustls::Error),
    #[error("cannot require client certificates from {path}: {source}")]
    ClientCa {
        path: PathBuf,
        source: rustls::server::VerifierBuilderError,
    },
    #[error("cannot start the metrics recorder: {0}")]
    Metrics(String),
    #[error("runtime failure: {0}")]
    Runtime(std::io::Error),
    #[error("cannot use the Redis store (--redis): {0}")]
    Redis(#[from] crate::store::redis::RedisSetupError),
}

impl StartError {
    /// The process exit code of this failure (the table in `--help`).
    pub fn exit_code(&self) -> i32 {
        match self {
            StartError::BadSetting(_) | StartError::NoStateDir | StartError::ApiKeys { .. } => 2,
            StartError::Bind { .. } => 3,
            StartError::StateFile { .. }
            | StartError::BadPem { .. }
            | StartError::CertGen(_)
            | StartError::Tls(_)
            | StartError::ClientCa { .. } => 4,
            StartError::Metrics(_) | StartError::Runtime(_) => 1,
            StartError::Redis(_) => 5,
        }
    }
}
