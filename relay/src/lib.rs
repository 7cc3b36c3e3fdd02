//! hush-relay: the HTTPS relay of protocol hush-relay/1 (docs/RELAY.md).
//!
//! [`main`] parses the command line, sets up the JSON log, and runs the server until
//! SIGTERM or SIGINT; every failure to start is a `StartError` with its exit code.
//!
//! The public surface is small on purpose: [`main`] for the binary, and [`store`] with
//! [`Limits`] so that one conformance suite (`relay/tests/store.rs`) can drive every store
//! backend directly. The HTTP layer, limits and TLS stay private; the one exception is
//! `fuzzing`, hidden from the docs, for the fuzz target `relay_json`.

mod api;
mod api_keys;
mod config;
mod error;
mod limits;
mod metrics;
mod server;
pub mod store;
mod tls;

pub use config::Limits;

/// The parsers of the JSON control bodies (docs/RELAY.md §3.2), reachable for the fuzz
/// target `fuzz/fuzz_targets/relay_json.rs` only: not an API, no stability promised.
/// Bytes in, a value or the 400 message out; none may panic on any input.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::api::bodies::{create_room, delete_room, join, message, register_mailbox};
}

use std::io::Write as _;
use std::process::ExitCode;
use std::sync::Arc;

use clap::Parser as _;
use tokio::net::TcpListener;

use crate::config::{Cli, Config};
use crate::error::StartError;
use crate::store::memory::MemoryStore;
use crate::store::redis::RedisStore;

/// The relay's whole life: the command line, the log, the server; the exit code says why
/// it ended (`hush-relay --help` lists them).
pub fn main() -> ExitCode {
    // clap exits with 2 on a bad command line, 0 for --help and --version.
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_span_list(false)
        .with_writer(std::io::stdout)
        .init();
    let result = cli.into_config().and_then(|config| {
        tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .map_err(StartError::Runtime)?
            .block_on(run(config))
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            let _ = writeln!(std::io::stderr(), "hush-relay: {e}");
            tracing::error!(error = %e, "stopped");
            ExitCode::from(u8::try_from(e.exit_code()).unwrap_or(1))
        }
    }
}

async fn run(config: Config) -> Result<(), StartError> {
    // One crypto provider for the process: ring (the API's TLS and rediss:// alike; the
    // redis crate builds its rustls config from the process default). An error means one
    // is installed already, which is as good.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let tls = tls::load(&config.tls)?;
    // Redis first: a relay that cannot reach its store should not announce itself.
    let redis = match &config.redis {
        Some(url) => Some(RedisStore::connect(url, config.limits.clone()).await?),
        None => None,
    };
    let listener = bind(config.listen).await?;
    let admin = bind(config.admin_listen).await?;
    let prometheus = metrics::install()?;
    let local = listener.local_addr().map_err(StartError::Runtime)?;
    let admin_local = admin.local_addr().map_err(StartError::Runtime)?;
    let url = format!("https://{local}");
    // The first line on stdout: tests and supervisors read the port and the pin from it.
    tracing::info!(
        url = %url,
        admin_url = %format!("http://{admin_local}"),
        cert_sha256 = %tls.fingerprint,
        cert_created = tls.created,
        store = if redis.is_some() { "redis" } else { "memory" },
        "listening"
    );
    let _ = writeln!(
        std::io::stderr(),
        "hush-relay: listening on {url}; clients pin certificate {}",
        tls.fingerprint
    );
    let limiter = limits::Limiter::new(&config.rate);
    let parts = Listening {
        listener,
        admin,
        tls: tls.config,
        prometheus,
    };
    match redis {
        Some(store) => {
            let limiter = limiter.with_farm(store.farm_limits(), config.limits.max_wait);
            serve(&config, store, limiter, parts).await
        }
        None => {
            let store = MemoryStore::new(config.limits.clone());
            serve(&config, store, limiter, parts).await
        }
    }
}

/// What `run` bound before choosing the store.
struct Listening {
    listener: TcpListener,
    admin: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    prometheus: metrics_exporter_prometheus::PrometheusHandle,
}

/// Serves the API and the admin endpoints over `store` until a signal.
async fn serve<S: store::Store>(
    config: &Config,
    store: S,
    limiter: limits::Limiter,
    parts: Listening,
) -> Result<(), StartError> {
    let app = Arc::new(api::App {
        store,
        limits: config.limits.clone(),
        limiter,
        trusted_proxies: config.trusted_proxies.clone(),
        api_keys: config.api_keys.clone(),
    });
    let api_router = api::router(Arc::clone(&app));
    let admin_router = server::admin_router(Arc::clone(&app), parts.prometheus.clone());

    let api = server::serve_api(
        parts.listener,
        parts.tls,
        api_router,
        config.tls_handshake_timeout,
        config.header_timeout,
    );
    let sweeper = server::sweep(Arc::clone(&app), config.sweep_interval, parts.prometheus);
    tokio::select! {
        () = api => Ok(()),
        res = server::serve_admin(parts.admin, admin_router) => res.map_err(StartError::Runtime),
        _ = sweeper => Ok(()),
        () = shutdown() => {
            tracing::info!("stopping");
            Ok(())
        }
    }
}

async fn bind(addr: std::net::SocketAddr) -> Result<TcpListener, StartError> {
    TcpListener::bind(addr)
        .await
        .map_err(|source| StartError::Bind { addr, source })
}

/// SIGTERM (systemd, containers) or SIGINT (a terminal). Nothing to flush: the in-memory
/// store goes with the process, Redis keeps its own, and clients retry against a
/// restarted relay.
async fn shutdown() {
    use tokio::signal::unix::{SignalKind, signal};
    match signal(SignalKind::terminate()) {
        Ok(mut term) => {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
