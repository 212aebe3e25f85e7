//! The `webhook` function: health, readiness, metrics, the signal API routes and the wallet
//! signing page (`/link/{nonce}`, see [`crate::wallet`]).

use serde_json::json;
use vanta_domain::DomainError;
use vanta_domain::intent::{CreateOutcome, Intent, IntentState, Origin};
use vanta_domain::time::Timestamp;
use vanta_runtime::http::{HttpRequest, HttpResponse};

use crate::metrics::Metrics;
use crate::signals::{self, Refusal};
use crate::{Deps, outbox};

/// Routes one request. Never panics; every refusal carries a reason.
pub async fn handle(deps: &Deps, req: HttpRequest) -> HttpResponse {
    Metrics::inc(&deps.metrics.http_requests);
    let started = std::time::Instant::now();
    let resp = route(deps, &req).await;
    if (400..500).contains(&resp.status) {
        Metrics::inc(&deps.metrics.http_client_errors);
    }
    // The route template, never the raw path: `/signals/tv/<token>` carries a credential.
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    tracing::info!(method = %req.method, route = route_template(&req.path), status = resp.status, latency_ms, "http");
    resp
}

/// The route a path matched, as a template (`/signals/tv/{token}`), or `unmatched`: what request
/// logs carry instead of the path, so a token in a path never reaches the logs.
pub fn route_template(path: &str) -> &'static str {
    match path.trim_end_matches('/') {
        "/healthz" => "/healthz",
        "/readyz" => "/readyz",
        "/health" => "/health",
        "/metrics" => "/metrics",
        "/signals" => "/signals",
        "/telegram" => "/telegram",
        p if p.starts_with("/signals/tv/") => "/signals/tv/{token}",
        _ => "unmatched",
    }
}

async fn route(deps: &Deps, req: &HttpRequest) -> HttpResponse {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/healthz") => HttpResponse::json(200, &json!({ "status": "ok" })),
        ("GET", "/readyz") => readyz(deps).await,
        ("GET", "/health") => health(deps).await,
        ("GET", "/metrics") => HttpResponse::text(200, deps.metrics.render(), "text/plain; version=0.0.4"),
        ("POST", "/signals") => post_signal(deps, req, None).await,
        ("POST", p) if p.starts_with("/signals/tv/") => post_signal(deps, req, p.strip_prefix("/signals/tv/")).await,
        ("GET", p) if p.starts_with("/link/") => crate::wallet::link_get(deps, p.trim_start_matches("/link/")).await,
        ("POST", p) if p.starts_with("/link/") => crate::wallet::link_post(deps, req, p.trim_start_matches("/link/")).await,
        (_, "/healthz" | "/readyz" | "/health" | "/metrics" | "/signals") => HttpResponse::error(405, "method not allowed"),
        _ => HttpResponse::error(404, format!("no route for {} {}", req.method, req.path)),
    }
}

/// Ready when the store answers ([`crate::health::readyz`]).
async fn readyz(deps: &Deps) -> HttpResponse {
    let (status, body) = crate::health::readyz(deps).await;
    HttpResponse::json(status, &body)
}

/// Every component, `ok` / `degraded` / `down` ([`crate::health`]).
async fn health(deps: &Deps) -> HttpResponse {
    HttpResponse::json(200, &crate::health::health_json(deps).await)
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
async fn post_signal(deps: &Deps, req: &HttpRequest, tv_token: Option<&str>) -> HttpResponse {
    match accept_signal(deps, req, tv_token).await {
        Ok(resp) => resp,
        Err(r) => HttpResponse::error(r.status, r.reason),
    }
}

async fn accept_signal(deps: &Deps, req: &HttpRequest, tv_token: Option<&str>) -> Result<HttpResponse, Refusal> {
    if req.body.len() > MAX_SIGNAL_BYTES {
        return Err(Refusal::new(413, format!("body larger than {MAX_SIGNAL_BYTES} bytes")));
    }
    let unavailable = |e: DomainError| {
        tracing::warn!(error = %e, "signal not accepted: store unavailable");
        Refusal::new(503, "temporarily unavailable; nothing was accepted, retry")
    };
    let unauthorised = || Refusal::new(401, "unknown source or bad signature");
    let now = deps.clock.now();
    // Parsed once: the source finds the secret, the signal is refused only once authenticated.
    let body = signals::read_body(&req.body);
    let source = match tv_token {
        Some(token) => {
            if token.is_empty() || token.len() > 128 || token.contains('/') {
                return Err(unauthorised());
            }
            let source =
                deps.store.source_by_tv_token_hash(&signals::token_hash(token)).await.map_err(unavailable)?.ok_or_else(unauthorised)?;
            // TradingView cannot sign, so the path token is the credential and the body's source must match it.
            if body.source.clone()? != source.id {
                return Err(unauthorised());
            }
            source
        }
        None => {
            let ts = req.header(signals::TIMESTAMP_HEADER).ok_or_else(|| Refusal::new(401, "X-Vanta-Timestamp header is required"))?;
            let sig = req.header(signals::SIGNATURE_HEADER).ok_or_else(|| Refusal::new(401, "X-Vanta-Signature header is required"))?;
            let secs: i64 = ts.trim().parse().map_err(|_| Refusal::new(401, "X-Vanta-Timestamp must be unix seconds"))?;
            let id = body.source.clone()?;
            let source = deps.store.get_source(&id).await.map_err(unavailable)?.ok_or_else(unauthorised)?;
            let secret =
                vanta_domain::sealed::reveal(deps.source_secrets.as_ref(), &source).await.map_err(|e| sealed_refusal(&source.id, e))?;
            if !signals::verify_signature(secret.expose(), ts.trim(), &req.body, sig) {
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
    let signal = body.signal?;
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
    let reply = |status: u16, what: &str, state: IntentState| {
        HttpResponse::json(status, &json!({ "status": what, "id": signal.id, "intent": intent_id, "state": state.as_str() }))
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
