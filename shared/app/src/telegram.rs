//! The `telegram` function: Telegram's webhook.
//!
//! Authentic updates (secret-token header, compared in constant time) get 200 whatever happens
//! next, because Telegram retries anything else; each `update_id` is handled once. Commands are
//! their own issue: until then an authentic update is acknowledged and logged, nothing more.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde::Deserialize;
use subtle::ConstantTimeEq;
use vanta_runtime::http::{HttpRequest, HttpResponse, MAX_BODY_BYTES};

use crate::Deps;
use crate::metrics::Metrics;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// How long an `update_id` is remembered (Telegram gives up retrying well before).
pub const DEDUP_TTL: Duration = Duration::from_secs(48 * 3600);

#[derive(Deserialize)]
struct UpdateHead {
    update_id: i64,
}

pub async fn handle(deps: &Deps, req: HttpRequest) -> HttpResponse {
    if req.method != "POST" {
        return HttpResponse::error(405, "method not allowed");
    }
    let Some(expected) = deps.config.telegram_webhook_secret.as_ref() else {
        // Without a secret anyone could forge updates: refuse everything.
        tracing::error!("TELEGRAM_WEBHOOK_SECRET is not set; refusing Telegram updates");
        return HttpResponse::error(503, "telegram webhook is not configured");
    };
    let given = req.header(SECRET_HEADER).unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        return HttpResponse::error(401, "bad or missing secret token");
    }
    if req.body.len() > MAX_BODY_BYTES {
        tracing::warn!(bytes = req.body.len(), "oversized Telegram update dropped");
        return HttpResponse::json(200, &serde_json::json!({ "ok": true }));
    }
    let Ok(head) = serde_json::from_slice::<UpdateHead>(&req.body) else {
        tracing::warn!("unreadable Telegram update dropped");
        return HttpResponse::json(200, &serde_json::json!({ "ok": true }));
    };
    Metrics::inc(&deps.metrics.telegram_updates);
    let now = deps.clock.now();
    match deps.store.mark_once(&format!("tg-update:{}", head.update_id), now, now.plus(DEDUP_TTL)).await {
        Ok(true) => tracing::info!(update_id = head.update_id, "telegram update received (commands not enabled in this build)"),
        Ok(false) => {
            Metrics::inc(&deps.metrics.telegram_duplicates);
            tracing::info!(update_id = head.update_id, "duplicate telegram update ignored");
        }
        // Let Telegram retry: nothing was done, so a retry is safe.
        Err(e) => {
            tracing::warn!(error = %e, "cannot record update; asking Telegram to retry");
            return HttpResponse::error(503, "temporarily unavailable");
        }
    }
    HttpResponse::json(200, &serde_json::json!({ "ok": true }))
}
