//! The HTTP interface of docs/RELAY.md §3: routes, and the middleware every request passes
//! (client address, rate limit, access log, latency metric).

pub mod bodies;
mod error;
mod input;
mod routes;

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{delete, get, post, put};

pub use error::ApiError;

use crate::config::Limits;
use crate::limits::Limiter;
use crate::metrics;
use crate::store::Store;

/// What the handlers share.
pub struct App<S> {
    pub store: S,
    pub limits: Limits,
    pub limiter: Limiter,
    pub trusted_proxies: Vec<IpAddr>,
    /// With `--api-keys`: who may create and join.
    pub api_keys: Option<crate::api_keys::ApiKeys>,
}

/// The TCP peer of a connection (set by the server for every request).
#[derive(Debug, Clone, Copy)]
pub struct Peer(pub SocketAddr);

/// The client's address: the peer, or what a trusted proxy says in X-Forwarded-For.
#[derive(Debug, Clone, Copy)]
pub struct ClientIp(pub IpAddr);

/// The API's router over a store.
pub fn router<S: Store>(app: Arc<App<S>>) -> Router {
    let room = "/v1/rooms/{room}";
    Router::new()
        .route("/v1/rooms", post(routes::create::<S>))
        .route("/v1/nameplates/{nameplate}/join", post(routes::join::<S>))
        .route(room, delete(routes::delete_room::<S>))
        .route(&format!("{room}/slots"), get(routes::slots::<S>))
        .route(
            &format!("{room}/slots/{{slot}}"),
            delete(routes::delete_slot::<S>),
        )
        .route(
            &format!("{room}/slots/{{slot}}/{{dir}}/{{seq}}"),
            put(routes::put_message::<S>).get(routes::get_message::<S>),
        )
        .route(
            &format!("{room}/slots/{{slot}}/payload"),
            get(routes::get_payload::<S>),
        )
        .route(
            &format!("{room}/slots/{{slot}}/payloads/{{id}}"),
            put(routes::put_payload::<S>)
                .get(routes::payload_state::<S>)
                .delete(routes::delete_payload::<S>),
        )
        .route(
            "/v1/mailboxes/{mbox}",
            put(routes::register_mailbox::<S>).delete(routes::delete_mailbox::<S>),
        )
        .route(
            "/v1/mailboxes/{mbox}/messages",
            get(routes::list_messages::<S>),
        )
        .route(
            "/v1/mailboxes/{mbox}/messages/{id}",
            put(routes::drop_message::<S>)
                .get(routes::read_message::<S>)
                .delete(routes::delete_message::<S>),
        )
        .fallback(|| async { ApiError::NoRoute })
        .method_not_allowed_fallback(|| async {
            ApiError::BadRequest("this method is not allowed on this path")
        })
        .layer(middleware::from_fn_with_state(
            Arc::clone(&app),
            observe::<S>,
        ))
        .with_state(app)
}

/// Every request: find the client's address, apply its request limit, run the handler,
/// then log one line and record the latency. The log has the route *template* (no room
/// ids), the status and a truncated address — never a token, a code or a body.
async fn observe<S: Store>(
    State(app): State<Arc<App<S>>>,
    mut req: Request,
    next: Next,
) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
    let peer = req.extensions().get::<Peer>().map(|p| p.0.ip());
    let ip = client_ip(peer, req.headers(), &app.trusted_proxies);
    let method = req.method().clone();
    let id = request_id();
    let mut res = match app.limiter.request(ip) {
        Err(limited) => axum::response::IntoResponse::into_response(ApiError::RateLimited(limited)),
        Ok(()) => {
            req.extensions_mut().insert(ClientIp(ip));
            next.run(req).await
        }
    };
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert("hush-request-id", v);
    }
    let elapsed = start.elapsed();
    ::metrics::histogram!(metrics::REQUEST_SECONDS, "route" => route.clone())
        .record(elapsed.as_secs_f64());
    tracing::info!(
        request_id = %id,
        method = %method,
        route = %route,
        status = res.status().as_u16(),
        latency_ms = elapsed.as_secs_f64() * 1000.0,
        client = %truncated(ip),
        "request"
    );
    res
}

/// The peer, unless it is a trusted proxy: then the right-most X-Forwarded-For entry that
/// is not itself a trusted proxy (entries further left are whatever the client wrote).
fn client_ip(peer: Option<IpAddr>, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    let peer = peer.map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), canonical);
    if !trusted.contains(&peer) {
        return peer;
    }
    let forwarded = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    forwarded
        .iter()
        .rev()
        .map(|s| s.parse::<IpAddr>().map(canonical))
        .take_while(Result::is_ok)
        .flatten()
        .find(|ip| !trusted.contains(ip))
        .unwrap_or(peer)
}

/// IPv4-mapped IPv6 addresses as IPv4, so one client has one key.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The address as logged: its /24 (IPv4) or /48 (IPv6), enough to tell networks apart,
/// not enough to name a person.
pub fn truncated(ip: IpAddr) -> String {
    match canonical(ip) {
        IpAddr::V4(v4) => {
            let [a, b, c, _] = v4.octets();
            format!("{a}.{b}.{c}.0/24")
        }
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{}/48", Ipv6Addr::new(s[0], s[1], s[2], 0, 0, 0, 0, 0))
        }
    }
}

fn request_id() -> String {
    let mut b = [0u8; 8];
    // A request id need not be secret or even unique: a failed draw is all zeros.
    let _ = getrandom::fill(&mut b);
    hex::encode(b)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forwarded_for_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", "6.6.6.6, 203.0.113.7".parse().unwrap());
        // Untrusted peer: the header is ignored.
        assert_eq!(client_ip(Some(proxy), &h, &[]), proxy);
        // Trusted: the right-most entry (the one the proxy added).
        assert_eq!(
            client_ip(Some(proxy), &h, &[proxy]),
            "203.0.113.7".parse::<IpAddr>().unwrap()
        );
        h.insert("x-forwarded-for", "junk".parse().unwrap());
        assert_eq!(client_ip(Some(proxy), &h, &[proxy]), proxy);
    }

    #[test]
    fn logged_addresses_are_truncated() {
        assert_eq!(truncated("203.0.113.77".parse().unwrap()), "203.0.113.0/24");
        assert_eq!(
            truncated("2001:db8:aa:bb::1".parse().unwrap()),
            "2001:db8:aa::/48"
        );
        assert_eq!(
            truncated("::ffff:192.0.2.9".parse().unwrap()),
            "192.0.2.0/24"
        );
    }
}
