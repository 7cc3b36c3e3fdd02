//! Listening: the TLS API (handshake and header timeouts), the plain-HTTP admin endpoints,
//! and the sweeper that drops what expired.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::routing::get;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

use crate::api::{App, Peer};
use crate::limits::Limiter;
use crate::metrics;
use crate::store::Store;

/// Serves the API on `listener` forever: one task per connection.
///
/// A connection gets `handshake` to finish TLS — a plain-HTTP request fails the handshake
/// at once, a silent client is cut at the timeout (axum #2741: without one, idle sockets
/// pile up) — then `headers` to send each request's headers (slowloris).
pub async fn serve_api(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    router: Router,
    handshake: Duration,
    headers: Duration,
) {
    let acceptor = TlsAcceptor::from(tls);
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(e) => {
                // Out of descriptors or a connection reset before accept: back off a
                // little instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let accept = acceptor.accept(tcp).into_fallible();
            let stream = match tokio::time::timeout(handshake, accept).await {
                Ok(Ok(stream)) => stream,
                Ok(Err((e, tcp))) => {
                    tracing::debug!(error = %e, "TLS handshake failed");
                    linger(tcp).await;
                    return;
                }
                Err(_) => {
                    tracing::debug!("TLS handshake timed out");
                    return;
                }
            };
            let service = hyper::service::service_fn(move |mut req: hyper::Request<Incoming>| {
                req.extensions_mut().insert(Peer(peer));
                router.clone().oneshot(req)
            });
            let conn = hyper::server::conn::http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(headers)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
        });
    }
}

/// After a failed handshake (its alert sent): half-closes and reads what the client still
/// sends, briefly, before closing. Closed with unread bytes, a socket answers RST, and a
/// client's kernel may then drop the alert before the client reads it. Under TLS 1.3 a
/// client refused for its certificate (mutual TLS) has usually sent its request already,
/// and it should learn "unknown CA", not "connection reset".
async fn linger(mut tcp: tokio::net::TcpStream) {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    const LINGER: Duration = Duration::from_secs(1);
    const MOST: usize = 64 * 1024;
    if tcp.shutdown().await.is_err() {
        return;
    }
    let mut buf = [0u8; 4096];
    let mut read = 0;
    let drain = async {
        while read < MOST {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => read += n,
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

/// `/metrics`, `/healthz`, `/readyz` on plain HTTP.
pub fn admin_router<S: Store>(app: Arc<App<S>>, prometheus: PrometheusHandle) -> Router {
    let ready_app = Arc::clone(&app);
    Router::new()
        .route(
            "/metrics",
            get(move || async move {
                update_gauges(&app.store).await;
                prometheus.render()
            }),
        )
        .route("/healthz", get(|| async { "ok\n" }))
        .route(
            "/readyz",
            get(move || async move {
                if ready_app.store.ready().await {
                    (StatusCode::OK, "ready\n").into_response()
                } else {
                    (StatusCode::SERVICE_UNAVAILABLE, "store unavailable\n").into_response()
                }
            }),
        )
}

/// Serves the admin router until the process ends.
pub async fn serve_admin(listener: TcpListener, router: Router) -> Result<(), std::io::Error> {
    axum::serve(listener, router).await
}

async fn update_gauges<S: Store>(store: &S) {
    let stats = store.stats().await;
    ::metrics::gauge!(metrics::ROOMS_LIVE).set(stats.rooms as f64);
    ::metrics::gauge!(metrics::PAYLOAD_BYTES).set(stats.payload_bytes as f64);
    ::metrics::gauge!(metrics::STORE_BYTES).set(stats.bytes as f64);
}

/// Every `interval`: drop expired rooms and nameplates, refilled rate-limit buckets, and
/// fold the histograms (the exporter needs its upkeep).
pub async fn sweep<S: Store>(
    store: Arc<App<S>>,
    interval: Duration,
    prometheus: PrometheusHandle,
) -> Infallible {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let swept = store.store.sweep().await;
        ::metrics::counter!(metrics::EXPIRED_ROOMS).increment(swept.rooms);
        ::metrics::counter!(metrics::EXPIRED_PAYLOADS).increment(swept.payloads);
        prune(&store.limiter);
        update_gauges(&store.store).await;
        prometheus.run_upkeep();
    }
}

fn prune(limiter: &Limiter) {
    limiter.prune();
}
