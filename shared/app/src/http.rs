//! The HTTP surface: the webhook routes ([`crate::api`], [`crate::wallet`]) and Telegram's
//! webhook ([`crate::telegram::handle`]) as one [`axum::Router`].
//!
//! The same router runs under API Gateway (`vanta_lambda::http`, through `lambda_http`) and in
//! the local runner (`axum::serve`). What every request gets, as layers:
//! - a request log line (method, the route *template*, never the raw path: `/signals/tv/{token}`
//!   carries a credential; status; latency) and the `http_requests` / `http_client_errors`
//!   counters ([`observe`]);
//! - a body cap per route that reads a body ([`limit_body`]: 413 with the reason);
//! - refusals that say why: `{"error": reason}`, 405 for a known path with another method, 404
//!   otherwise; a trailing slash is forgiven (`/healthz/` is `/healthz`).
//!
//! The caller's IP is [`SourceIp`]: from API Gateway's request context under Lambda, from the
//! socket (`ConnectInfo`) under `axum::serve`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::Uri;
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::post;
use tower::ServiceExt;

use crate::Deps;
use crate::metrics::Metrics;

pub mod testing;

/// Every route: the webhook function's and the telegram function's (the local runner).
pub fn router(deps: Deps) -> Router {
    build(crate::api::routes().merge(telegram_routes()).merge(crate::api::bot_routes()), deps)
}

/// The webhook function's routes: the signal API, `/healthz`, `/readyz` and `/metrics`.
pub fn api_router(deps: Deps) -> Router {
    build(crate::api::routes(), deps)
}

/// The telegram function's routes: `POST /telegram`, the operator's `/health` and the wallet
/// signing page `/link/{nonce}`.
pub fn telegram_router(deps: Deps) -> Router {
    build(telegram_routes().merge(crate::api::bot_routes()), deps)
}

fn telegram_routes() -> Router<Shared> {
    // No body cap layer: an authentic oversized update is acknowledged (200), not refused, so
    // the secret is checked before the body is read ([`crate::telegram::handle`]).
    Router::new().route(
        "/telegram",
        post(|State(deps): State<Shared>, req: Request| async move {
            let (parts, body) = req.into_parts();
            crate::telegram::handle(&deps, &parts.headers, body).await
        }),
    )
}

fn build(routes: Router<Shared>, deps: Deps) -> Router {
    let deps: Shared = Arc::new(deps);
    let routes = routes.method_not_allowed_fallback(|| async { error(405, "method not allowed") });
    // The same routes, for a path retried without its trailing slash (no log layer of its own:
    // the request is logged once, by the outer router).
    let trimmed = routes.clone().fallback(not_found).with_state(deps.clone());
    routes
        .fallback(move |req: Request| without_trailing_slash(trimmed.clone(), req))
        .layer(middleware::from_fn_with_state(deps.clone(), observe))
        .with_state(deps)
}

/// `/healthz/` answers as `/healthz`; anything else unmatched is 404 with the reason.
async fn without_trailing_slash(routes: Router, req: Request) -> Response {
    let path = req.uri().path();
    let trimmed = path.trim_end_matches('/');
    if trimmed.len() == path.len() || trimmed.is_empty() {
        return not_found(req).await;
    }
    let target = match req.uri().query() {
        Some(q) => format!("{trimmed}?{q}"),
        None => trimmed.to_owned(),
    };
    let Ok(uri) = target.parse::<Uri>() else { return not_found(req).await };
    let (mut parts, body) = req.into_parts();
    parts.uri = uri;
    match routes.oneshot(Request::from_parts(parts, body)).await {
        Ok(resp) => resp,
        Err(never) => match never {},
    }
}

async fn not_found(req: Request) -> Response {
    error(404, format!("no route for {} {}", req.method(), req.uri().path()))
}

/// The request log line and the request counters, around every route and the fallback.
async fn observe(State(deps): State<Shared>, req: Request, next: Next) -> Response {
    Metrics::inc(&deps.metrics.http_requests);
    let started = Instant::now();
    let method = req.method().clone();
    // The route a request matched as its template; a retried trailing-slash path or an
    // unmatched one by [`crate::api::route_template`] (`unmatched`). Never the raw path.
    let matched = req.extensions().get::<MatchedPath>().cloned();
    let fallback = if matched.is_none() { crate::api::route_template(req.uri().path()) } else { "" };
    let resp = next.run(req).await;
    let status = resp.status().as_u16();
    if (400..500).contains(&status) {
        Metrics::inc(&deps.metrics.http_client_errors);
    }
    let route = matched.as_ref().map_or(fallback, MatchedPath::as_str);
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(method = %method, route, status, latency_ms, "http");
    resp
}

pub use crate::web::{MAX_BODY_BYTES, SourceIp, error, json, limit_body, text, with_body, with_headers};
pub(crate) use crate::web::{Shared, header_str, read_body};
