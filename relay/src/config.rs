//! The command line (clap derive) and the settings the server runs with.
//!
//! Every bound of docs/RELAY.md §7 is a flag with the document's default, so an operator
//! can lower it (a small relay) and the tests can shrink TTLs and timeouts to seconds.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::error::StartError;

const AFTER_HELP: &str = "\
Exit codes:
  0  stopped by SIGTERM or SIGINT
  1  an unexpected runtime failure
  2  a bad command line
  3  a listen address could not be bound
  4  the TLS certificate or key could not be read, made or saved (state directory), or
     the --client-ca file holds no usable CA certificate
  5  --redis: the URL is malformed, or Redis did not answer at start

Without --tls-cert/--tls-key the relay makes a self-signed certificate (ECDSA P-256) once,
keeps it in the state directory, and logs its SHA-256 (`sha256:HEX`) on its first line:
clients pin that value. The first line on stdout is JSON with the bound URL.

With --client-ca the relay is private at the TLS layer (mutual TLS): a client without a
certificate issued by that CA fails the handshake before any request is read.";

/// hush-relay: pairs hush-run and hush with a short one-time code and carries sealed
/// output between them (protocol hush-relay/1, docs/RELAY.md). It sees only public PAKE
/// values and ciphertext.
#[derive(Debug, Parser)]
#[command(name = "hush-relay", version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Address of the HTTPS API (port 0 picks a free port).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8443")]
    pub listen: SocketAddr,

    /// Address of the plain-HTTP admin endpoints (/metrics, /healthz, /readyz). Keep it on
    /// loopback or a private network.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:9443")]
    pub admin_listen: SocketAddr,

    /// PEM certificate chain to serve (with --tls-key). Without it a self-signed
    /// certificate is made and kept in the state directory.
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key of --tls-cert (PKCS#8, PKCS#1 or SEC1).
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Extra DNS name for the self-signed certificate (repeatable; localhost, 127.0.0.1
    /// and ::1 are always in it).
    #[arg(long = "hostname", value_name = "NAME")]
    pub hostnames: Vec<String>,

    /// Where the self-signed certificate is kept (0700; files 0600). Default:
    /// $XDG_STATE_HOME/hush-relay, else ~/.local/state/hush-relay.
    #[arg(long, value_name = "DIR")]
    pub state_dir: Option<PathBuf>,

    /// A reverse proxy or load balancer whose X-Forwarded-For is believed (repeatable).
    /// From any other peer the header is ignored.
    #[arg(long = "trusted-proxy", value_name = "ADDR")]
    pub trusted_proxies: Vec<IpAddr>,

    /// Mutual TLS: every client must present a certificate chaining to a CA in FILE (PEM,
    /// one or more CA certificates); any other client fails the TLS handshake. Without
    /// it, no client certificate is asked for.
    #[arg(long, value_name = "FILE")]
    pub client_ca: Option<PathBuf>,

    /// A private relay: room creation and joins need a key (header Hush-Api-Key) whose
    /// SHA-256 is in FILE, one per line as create:HEX or join:HEX.
    #[arg(long, value_name = "FILE")]
    pub api_keys: Option<PathBuf>,

    /// Keep rooms in Redis (redis://HOST:PORT[/DB] or rediss:// for TLS) instead of this
    /// process' memory: several relays sharing one Redis serve the same rooms (a farm
    /// behind a load balancer), and joins and long-polls per address are counted
    /// farm-wide. Redis 6.2 or later; the URL (which may hold a password) is never logged.
    #[arg(long, value_name = "URL")]
    pub redis: Option<String>,

    /// Most rooms alive at once; beyond it room creation answers 503.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_rooms: usize,

    /// Most receivers (slots) per room (at most 8, the protocol's bound).
    #[arg(long, value_name = "N", default_value_t = 8, value_parser = clap::value_parser!(u8).range(1..=8))]
    pub max_slots: u8,

    /// Largest JSON control body, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 4096)]
    pub max_control_body: usize,

    /// Largest payload, in bytes.
    #[arg(long, value_name = "BYTES", default_value_t = 1 << 20)]
    pub max_payload: usize,

    /// Most payloads (stored or delivered) per slot.
    #[arg(long, value_name = "N", default_value_t = 16)]
    pub max_payloads_per_slot: usize,

    /// Code TTL in seconds when the sender asks for none: how long the nameplate joins
    /// (then it cools down for as long before reuse).
    #[arg(long, value_name = "SECS", default_value_t = 900)]
    pub code_ttl: u64,

    /// Longest code TTL a sender may ask for, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub max_code_ttl: u64,

    /// How long a room, its slots and payloads live, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub payload_ttl: u64,

    /// Most mailboxes of registered devices alive at once (in-memory store); beyond it a
    /// new mailbox answers 503.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub max_mailboxes: usize,

    /// Most messages (waiting or delivered) a mailbox holds; beyond it a drop answers 409.
    #[arg(long, value_name = "N", default_value_t = 32)]
    pub max_mailbox_messages: usize,

    /// How long a mailbox lives after its owner last registered it, in days.
    #[arg(long, value_name = "DAYS", default_value_t = 30)]
    pub mailbox_ttl_days: u64,

    /// How long a message waits in a mailbox for its owner, in seconds (at most 7 days).
    #[arg(long, value_name = "SECS", default_value_t = 86_400)]
    pub mailbox_message_ttl: u64,

    /// Longest long-poll `wait`, in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 25)]
    pub max_wait: u64,

    /// Requests per second per client address (token bucket refill).
    #[arg(long, value_name = "N", default_value_t = 20)]
    pub rate: u32,

    /// Burst of requests per client address (token bucket size).
    #[arg(long, value_name = "N", default_value_t = 40)]
    pub burst: u32,

    /// Joins per minute per client address (each join is a guess at a nameplate).
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub joins_per_minute: u32,

    /// Concurrent long-polls per client address.
    #[arg(long, value_name = "N", default_value_t = 64)]
    pub max_long_polls: u32,

    /// Seconds a client has to finish the TLS handshake.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub tls_handshake_timeout: u64,

    /// Seconds a client has to send a request's headers (slowloris).
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub header_timeout: u64,

    /// Memory budget of the in-memory store, in MiB (rooms, messages, payloads).
    #[arg(long, value_name = "MIB", default_value_t = 256)]
    pub memory_budget: usize,

    /// Seconds between two sweeps of expired rooms, nameplates and rate-limit entries.
    #[arg(long, value_name = "SECS", default_value_t = 10)]
    pub sweep_interval: u64,
}

/// The settings, checked: what the server and the store read.
#[derive(Debug, Clone)]
pub struct Config {
    pub listen: SocketAddr,
    pub admin_listen: SocketAddr,
    pub tls: TlsSettings,
    pub trusted_proxies: Vec<IpAddr>,
    pub api_keys: Option<crate::api_keys::ApiKeys>,
    pub redis: Option<String>,
    pub limits: Limits,
    pub rate: RateSettings,
    pub tls_handshake_timeout: Duration,
    pub header_timeout: Duration,
    pub sweep_interval: Duration,
}

/// The served certificate and whom the relay asks for a client certificate.
#[derive(Debug, Clone)]
pub struct TlsSettings {
    pub source: TlsSource,
    /// With `--client-ca`: the PEM file of the CAs a client certificate must chain to.
    pub client_ca: Option<PathBuf>,
}

/// Where the certificate comes from.
#[derive(Debug, Clone)]
pub enum TlsSource {
    Files {
        cert: PathBuf,
        key: PathBuf,
    },
    SelfSigned {
        state_dir: PathBuf,
        hostnames: Vec<String>,
    },
}

/// The store's bounds (the store enforces them, so every store backend agrees).
#[derive(Debug, Clone)]
pub struct Limits {
    /// Rooms alive at once (`--max-rooms`); beyond, creation is `Full("rooms")`.
    pub max_rooms: usize,
    /// Receivers a room may ask for (`--max-slots`, at most 8).
    pub max_slots: u8,
    /// Largest JSON control body in bytes (checked by the HTTP layer).
    pub max_control_body: usize,
    /// Largest payload in bytes (checked by the HTTP layer).
    pub max_payload: usize,
    /// Payloads per slot, stored or delivered.
    pub max_payloads_per_slot: usize,
    /// Code TTL when the sender asks for none.
    pub code_ttl: Duration,
    /// Longest code TTL a sender may ask for.
    pub max_code_ttl: Duration,
    /// How long a room and everything in it lives.
    pub payload_ttl: Duration,
    /// Longest long-poll.
    pub max_wait: Duration,
    /// Bytes the in-memory store may hold (the Redis store leaves this to Redis'
    /// `maxmemory`).
    pub memory_budget: usize,
    /// Mailboxes alive at once (in-memory store).
    pub max_mailboxes: usize,
    /// Messages a mailbox holds, waiting or delivered.
    pub max_mailbox_messages: usize,
    /// How long a mailbox lives after its owner last registered it.
    pub mailbox_ttl: Duration,
    /// How long a message waits in a mailbox.
    pub mailbox_message_ttl: Duration,
}

/// Per-address request limits.
#[derive(Debug, Clone)]
pub struct RateSettings {
    pub per_second: u32,
    pub burst: u32,
    pub joins_per_minute: u32,
    pub max_long_polls: u32,
}

/// The protocol's own ceilings (§7): a flag may lower a bound, never raise it past these.
const CODE_TTL_CEILING: u64 = 3600;
const PAYLOAD_TTL_CEILING: u64 = 24 * 3600;
const WAIT_CEILING: u64 = 25;
const MAILBOX_MESSAGE_TTL_CEILING: u64 = 7 * 24 * 3600;
const MAILBOX_TTL_CEILING_DAYS: u64 = 365;

impl Cli {
    /// Checks the flags against each other and the protocol's ceilings.
    pub fn into_config(self) -> Result<Config, StartError> {
        let bad = |what: &'static str| Err(StartError::BadSetting(what));
        if self.max_code_ttl == 0 || self.max_code_ttl > CODE_TTL_CEILING {
            return bad("--max-code-ttl must be 1..=3600 seconds");
        }
        if self.code_ttl == 0 || self.code_ttl > self.max_code_ttl {
            return bad("--code-ttl must be 1..=--max-code-ttl seconds");
        }
        if self.payload_ttl == 0 || self.payload_ttl > PAYLOAD_TTL_CEILING {
            return bad("--payload-ttl must be 1..=86400 seconds");
        }
        if self.mailbox_message_ttl == 0 || self.mailbox_message_ttl > MAILBOX_MESSAGE_TTL_CEILING {
            return bad("--mailbox-message-ttl must be 1..=604800 seconds (7 days)");
        }
        if self.mailbox_ttl_days == 0 || self.mailbox_ttl_days > MAILBOX_TTL_CEILING_DAYS {
            return bad("--mailbox-ttl-days must be 1..=365");
        }
        if self.max_mailboxes == 0 || self.max_mailbox_messages == 0 {
            return bad("--max-mailboxes and --max-mailbox-messages must be at least 1");
        }
        if self.max_wait > WAIT_CEILING {
            return bad("--max-wait must be 0..=25 seconds");
        }
        if self.rate == 0 || self.burst == 0 || self.joins_per_minute == 0 {
            return bad("--rate, --burst and --joins-per-minute must be at least 1");
        }
        if self.max_rooms == 0 || self.max_payload == 0 || self.max_control_body < 256 {
            return bad("--max-rooms and --max-payload must be at least 1, --max-control-body 256");
        }
        if self.tls_handshake_timeout == 0 || self.header_timeout == 0 || self.sweep_interval == 0 {
            return bad("timeouts and --sweep-interval must be at least 1 second");
        }
        let source = match (self.tls_cert, self.tls_key) {
            (Some(cert), Some(key)) => TlsSource::Files { cert, key },
            _ => TlsSource::SelfSigned {
                state_dir: match self.state_dir {
                    Some(dir) => dir,
                    None => default_state_dir()?,
                },
                hostnames: self.hostnames,
            },
        };
        Ok(Config {
            listen: self.listen,
            admin_listen: self.admin_listen,
            tls: TlsSettings {
                source,
                client_ca: self.client_ca,
            },
            trusted_proxies: self.trusted_proxies,
            api_keys: self
                .api_keys
                .as_deref()
                .map(crate::api_keys::ApiKeys::load)
                .transpose()?,
            redis: self.redis,
            limits: Limits {
                max_rooms: self.max_rooms,
                max_slots: self.max_slots,
                max_control_body: self.max_control_body,
                max_payload: self.max_payload,
                max_payloads_per_slot: self.max_payloads_per_slot,
                code_ttl: Duration::from_secs(self.code_ttl),
                max_code_ttl: Duration::from_secs(self.max_code_ttl),
                payload_ttl: Duration::from_secs(self.payload_ttl),
                max_wait: Duration::from_secs(self.max_wait),
                memory_budget: self.memory_budget.saturating_mul(1 << 20),
                max_mailboxes: self.max_mailboxes,
                max_mailbox_messages: self.max_mailbox_messages,
                mailbox_ttl: Duration::from_secs(self.mailbox_ttl_days * 86_400),
                mailbox_message_ttl: Duration::from_secs(self.mailbox_message_ttl),
            },
            rate: RateSettings {
                per_second: self.rate,
                burst: self.burst,
                joins_per_minute: self.joins_per_minute,
                max_long_polls: self.max_long_polls,
            },
            tls_handshake_timeout: Duration::from_secs(self.tls_handshake_timeout),
            header_timeout: Duration::from_secs(self.header_timeout),
            sweep_interval: Duration::from_secs(self.sweep_interval),
        })
    }
}

/// `$XDG_STATE_HOME/hush-relay`, else `~/.local/state/hush-relay` (the XDG default).
fn default_state_dir() -> Result<PathBuf, StartError> {
    // An empty or relative XDG_STATE_HOME is invalid per the XDG spec: ignore it.
    if let Some(dir) = std::env::var_os("XDG_STATE_HOME").map(PathBuf::from) {
        if dir.is_absolute() {
            return Ok(dir.join("hush-relay"));
        }
    }
    match std::env::var_os("HOME").map(PathBuf::from) {
        Some(home) if home.is_absolute() => Ok(home.join(".local/state/hush-relay")),
        _ => Err(StartError::NoStateDir),
    }
}
