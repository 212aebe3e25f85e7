//! The `webhook` function: health, readiness, metrics and the signal API routes.

use serde_json::json;
use vanta_domain::exec::StopLevel;
use vanta_runtime::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};

use crate::Deps;
use crate::metrics::Metrics;

/// Routes one request. Never panics; every refusal carries a reason.
pub async fn handle(deps: &Deps, req: HttpRequest) -> HttpResponse {
    Metrics::inc(&deps.metrics.http_requests);
    let resp = route(deps, &req).await;
    if (400..500).contains(&resp.status) {
        Metrics::inc(&deps.metrics.http_client_errors);
    }
    tracing::info!(method = %req.method, path = %req.path, status = resp.status, "http");
    resp
}

async fn route(deps: &Deps, req: &HttpRequest) -> HttpResponse {
    let path = req.path.trim_end_matches('/');
    match (req.method.as_str(), path) {
        ("GET", "/healthz") => HttpResponse::json(200, &json!({ "status": "ok" })),
        ("GET", "/readyz") => readyz(deps).await,
        ("GET", "/health") => health(deps).await,
        ("GET", "/metrics") => HttpResponse::text(200, deps.metrics.render(), "text/plain; version=0.0.4"),
        ("POST", "/signals") => signals(req),
        ("POST", p) if p.starts_with("/signals/tv/") => signals(req),
        (_, "/healthz" | "/readyz" | "/health" | "/metrics" | "/signals") => HttpResponse::error(405, "method not allowed"),
        _ => HttpResponse::error(404, format!("no route for {} {}", req.method, req.path)),
    }
}

/// Ready when the store answers.
async fn readyz(deps: &Deps) -> HttpResponse {
    match deps.store.get_exec_control().await {
        Ok(_) => HttpResponse::json(200, &json!({ "status": "ready" })),
        Err(e) => {
            tracing::warn!(error = %e, "not ready: store unavailable");
            HttpResponse::json(503, &json!({ "status": "not ready", "error": "store unavailable" }))
        }
    }
}

async fn health(deps: &Deps) -> HttpResponse {
    let exec = deps.effective_exec().await;
    HttpResponse::json(
        200,
        &json!({
            "status": "ok",
            "version": env!("CARGO_PKG_VERSION"),
            "exec_mode": exec.mode.as_str(),
            "emergency_stop": exec.stop != StopLevel::None,
            "stop_level": exec.stop.as_str(),
            "uptime_secs": deps.started.elapsed().as_secs(),
        }),
    )
}

/// The signal API (its own issue). Until it lands, signals are refused with a clear reason and
/// nothing is queued: a refusal is safer than accepting what will not run.
fn signals(req: &HttpRequest) -> HttpResponse {
    if req.body.len() > MAX_BODY_BYTES {
        return HttpResponse::error(413, format!("body larger than {MAX_BODY_BYTES} bytes"));
    }
    HttpResponse::error(503, "signal ingestion is not enabled in this build yet; nothing was queued")
}
