//! The HTTP routes outside Telegram's: the `webhook` function's signal intake with its liveness,
//! readiness and metrics routes ([`routes`]), and the operator's `/health` and the wallet signing
//! page (`/link/{nonce}`, see [`crate::wallet`]), which the `telegram` function serves
//! ([`bot_routes`]): they read prices and ask contract wallets over RPC, which the signal intake
//! never needs, so the internet's hottest route links neither.

use axum::Router;
use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::json;
use vanta_domain::DomainError;
use vanta_domain::ids::IntentId;
use vanta_domain::intent::{CreateOutcome, Intent, IntentState, Origin};
use vanta_domain::time::Timestamp;

use crate::signals::{self, Refusal};
use crate::web::{self, Shared, header_str};
use crate::{Deps, outbox};

/// The webhook function's routes: the signal API, `/healthz`, `/readyz` and `/metrics`
/// ([`crate::http::api_router`] adds the layers and refusals). No price, venue or RPC read.
pub(crate) fn routes() -> Router<Shared> {
    let signal_cap = || middleware::from_fn_with_state(MAX_SIGNAL_BYTES, web::limit_body);
    Router::new()
        .route("/healthz", get(|| async { web::json(200, &json!({ "status": "ok" })) }))
        .route("/readyz", get(|State(deps): State<Shared>| async move { readyz(&deps).await }))
        .route(
            "/metrics",
            get(|State(deps): State<Shared>| async move { web::text(200, deps.metrics.render(), "text/plain; version=0.0.4") }),
        )
        .route("/signals", post(signed_signal).layer(signal_cap()))
        .route("/signals/tv/{token}", post(tradingview_signal).layer(signal_cap()))
}

/// The routes the `telegram` function serves beside `/telegram`: the operator's `/health`
/// (prices, venue, queues, jobs) and the wallet signing page, which checks contract wallets
/// (EIP-1271) over RPC.
pub(crate) fn bot_routes() -> Router<Shared> {
    Router::new().route("/health", get(|State(deps): State<Shared>| async move { health(&deps).await })).route(
        "/link/{nonce}",
        get(|State(deps): State<Shared>, req: Request| async move { crate::wallet::link_get(&deps, path_tail(&req, "/link/")).await })
            .merge(post(link_post).layer(middleware::from_fn_with_state(crate::wallet::MAX_LINK_BODY, web::limit_body))),
    )
}

/// The raw last segment of a path under `prefix` (not percent-decoded: a token or nonce is
/// compared as it was sent).
fn path_tail<'a>(req: &'a Request, prefix: &str) -> &'a str {
    req.uri().path().strip_prefix(prefix).unwrap_or_default()
}

async fn link_post(State(deps): State<Shared>, req: Request) -> Response {
    let nonce = path_tail(&req, "/link/").to_owned();
    let body = web::read_body(req.into_body()).await;
    crate::wallet::link_post(&deps, &body, &nonce).await
}

async fn signed_signal(State(deps): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = web::read_body(body).await;
    post_signal(&deps, &parts.headers, &body, None).await
}

async fn tradingview_signal(State(deps): State<Shared>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = web::read_body(body).await;
    let token = parts.uri.path().strip_prefix("/signals/tv/").unwrap_or_default();
    post_signal(&deps, &parts.headers, &body, Some(token)).await
}

/// The route a path matched, as a template (`/signals/tv/{token}`), or `unmatched`: what request
/// logs carry instead of the path, so a token in a path never reaches the logs. (The router logs
/// the template it matched; this names the paths it matches only without a trailing slash.)
pub fn route_template(path: &str) -> &'static str {
    match path.trim_end_matches('/') {
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/signals" => "/signals",
        "/telegram" => "/telegram",
        p if p.starts_with("/signals/tv/") => "/signals/tv/{token}",
        p if p.starts_with("/link/") => "/link/{nonce}",
        _ => "unmatched",
    }
}

/// Ready when the store answers ([`crate::health::readyz`]).
async fn readyz(deps: &Deps) -> Response {
    let (status, body) = crate::health::readyz(deps).await;
    web::json(status, &body)
}

/// Every component, `ok` / `degraded` / `down` ([`crate::health`]).
async fn health(deps: &Deps) -> Response {
    web::json(200, &crate::health::health_json(deps).await)
}

/// A source secret that cannot be opened: nothing is accepted. The key unreachable or not
/// configured is `503` (retry later); a sealed secret that does not open (tampered with, or moved
/// from another source) is `500`, and its owner rotates it. Never verified with anything else.
fn sealed_refusal(source: &vanta_domain::ids::SourceId, e: DomainError) -> Refusal {
    match e {
        DomainError::Unavailable(_) => {
            tracing::warn!(source = %source, error = %e, "signal not accepted: the source's secret cannot be opened now");
            Refusal::new(503, "signal secrets are unavailable right now; nothing was accepted, retry")
        }
        _ => {
            tracing::error!(source = %source, error = %e, "signal not accepted: the source's stored secret does not open");
            Refusal::new(
                500,
                "this source's stored secret cannot be opened; nothing was accepted. Its owner must rotate it (/signals rotate in the bot)",
            )
        }
    }
}

/// Largest signal body (a signal is a few hundred bytes).
pub const MAX_SIGNAL_BYTES: usize = 8 * 1024;

/// `POST /signals` (HMAC + timestamp) and `POST /signals/tv/{token}` (TradingView).
///
/// 202 accepted · 200 duplicate · 409 same id, other payload · 401 bad auth or stale · 400/422
/// invalid · 413 too large · 429 rate limited · 503 try again (nothing was lost: retry).
#[tracing::instrument(skip_all, fields(intent = tracing::field::Empty))]
/// (Bodies over [`MAX_SIGNAL_BYTES`] are refused with 413 by the route's body cap.)
async fn post_signal(deps: &Deps, headers: &HeaderMap, body: &[u8], tv_token: Option<&str>) -> Response {
    match accept_signal(deps, headers, body, tv_token).await {
        Ok(resp) => resp,
        Err(r) => web::error(r.status, r.reason),
    }
}

/// The answer to an accepted or repeated signal: `{"id", "intent", "state", "status"}`
/// (written straight from the fields, keys in this order as before).
#[derive(serde::Serialize)]
struct SignalReply<'a> {
    id: &'a vanta_domain::ids::SignalId,
    intent: &'a IntentId,
    state: &'static str,
    status: &'static str,
}

async fn accept_signal(deps: &Deps, headers: &HeaderMap, body: &[u8], tv_token: Option<&str>) -> Result<Response, Refusal> {
    let unavailable = |e: DomainError| {
        tracing::warn!(error = %e, "signal not accepted: store unavailable");
        Refusal::new(503, "temporarily unavailable; nothing was accepted, retry")
    };
    let unauthorised = || Refusal::new(401, "unknown source or bad signature");
    let now = deps.clock.now();
    // Parsed once: the source finds the secret, the signal is refused only once authenticated.
    let parsed = signals::read_body(body);
    let source = match tv_token {
        Some(token) => {
            if token.is_empty() || token.len() > 128 || token.contains('/') {
                return Err(unauthorised());
            }
            let source =
                deps.store.source_by_tv_token_hash(&signals::token_hash(token)).await.map_err(unavailable)?.ok_or_else(unauthorised)?;
            // TradingView cannot sign, so the path token is the credential and the body's source must match it.
            if parsed.source.clone()? != source.id {
                return Err(unauthorised());
            }
            source
        }
        None => {
            let ts =
                header_str(headers, signals::TIMESTAMP_HEADER).ok_or_else(|| Refusal::new(401, "X-Vanta-Timestamp header is required"))?;
            let sig =
                header_str(headers, signals::SIGNATURE_HEADER).ok_or_else(|| Refusal::new(401, "X-Vanta-Signature header is required"))?;
            let secs: i64 = ts.trim().parse().map_err(|_| Refusal::new(401, "X-Vanta-Timestamp must be unix seconds"))?;
            let id = parsed.source.clone()?;
            let source = deps.store.get_source(&id).await.map_err(unavailable)?.ok_or_else(unauthorised)?;
            let secret =
                vanta_domain::sealed::reveal(deps.source_secrets.as_ref(), &source).await.map_err(|e| sealed_refusal(&source.id, e))?;
            if !signals::verify_signature(secret.expose(), ts.trim(), body, sig) {
                return Err(unauthorised());
            }
            let age = now.secs().saturating_sub(secs).abs();
            if age > i64::from(deps.config.signal_replay_window_secs) {
                return Err(Refusal::new(401, format!("timestamp outside the {}s replay window", deps.config.signal_replay_window_secs)));
            }
            source
        }
    };
    if !source.active {
        return Err(Refusal::new(401, "this source is disabled"));
    }
    let signal = parsed.signal?;
    if signal.source != source.id {
        return Err(unauthorised());
    }
    let window_end = Timestamp((now.millis().div_euclid(60_000) + 1) * 60_000);
    let allowed = deps
        .store
        .hit_window(&format!("rate:source:{}:{}", source.id, window_end.millis()), now, window_end, deps.config.signal_rate_per_min)
        .await
        .map_err(unavailable)?;
    if !allowed {
        return Err(Refusal::new(429, format!("rate limit of {} signals a minute for this source", deps.config.signal_rate_per_min)));
    }
    let venue = deps.live.as_ref().unwrap_or(&deps.paper);
    let catalog = deps.pair_catalog.get(venue.as_ref(), now).await;
    signals::check_pair(&signal, catalog.as_deref())?;
    let user =
        deps.store.get_user(source.owner).await.map_err(unavailable)?.ok_or_else(|| Refusal::new(401, "this source has no owner"))?;
    let mut intent_id = signal.intent_id()?;
    if let Some(legacy) = signal.legacy_intent_id() {
        // Accepted before ids told such pairs apart: the same signal keeps its one intent.
        let same = |o: &Origin| matches!(o, Origin::Signal { source: s, signal: i } if *s == signal.source && *i == signal.id);
        if deps.store.get_intent(&legacy).await.map_err(unavailable)?.is_some_and(|i| same(&i.origin)) {
            intent_id = legacy;
        }
    }
    tracing::Span::current().record("intent", tracing::field::display(&intent_id));
    let intent = Intent::new(
        intent_id.clone(),
        user.id,
        Origin::Signal { source: signal.source.clone(), signal: signal.id.clone() },
        signal.action.clone(),
        signal.payload_hash(),
        now,
    );
    let created = deps.store.create_intent(&intent).await.map_err(unavailable)?;
    let reply = |status: u16, what: &'static str, state: IntentState| {
        web::json(status, &SignalReply { id: &signal.id, intent: &intent_id, state: state.as_str(), status: what })
    };
    match created {
        CreateOutcome::Created => {
            outbox::enqueue(deps, &user, &intent_id).await.map_err(unavailable)?;
            tracing::info!(source = %source.id, signal = %signal.id, action = signal.action.name(), "signal accepted");
            Ok(reply(202, "accepted", IntentState::Received))
        }
        CreateOutcome::Duplicate(existing) => {
            // Not yet picked up (say the first enqueue failed): send it again; the queue and the
            // pipeline both drop repeats, so this cannot trade twice.
            if existing.state == IntentState::Received {
                outbox::enqueue(deps, &user, &intent_id).await.map_err(unavailable)?;
            }
            Ok(reply(200, "duplicate", existing.state))
        }
        CreateOutcome::Mismatch(_) => {
            Err(Refusal::new(409, format!("signal id '{}' was already used with a different payload", signal.id)))
        }
    }
}
