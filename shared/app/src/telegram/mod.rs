//! The `telegram` function: Telegram's webhook, and the bot behind it.
//!
//! Authentic updates (secret-token header, compared in constant time) get 200 whatever happens
//! next, because Telegram retries anything else; each `update_id` is handled once
//! ([`process_update`], which the local runner's long polling calls too).
//!
//! Rules every command follows:
//! - the actor is the Telegram **user id** of the sender (or of whoever pressed a button), never
//!   the chat; in groups only market data is answered, nothing touches an account;
//! - messages older than [`MAX_MESSAGE_AGE`] and edited messages are not executed;
//! - every trade is an intent run by the pipeline; Telegram creates it *pending* and enqueues it
//!   only when its owner confirms within [`CONFIRM_TTL`] (button data are opaque ids);
//! - every trading reply carries the DRY/LIVE banner; user text is HTML-escaped.
//!
//! The modules, each importing only from those listed before it (a test checks that no two
//! import each other):
//! - `update` (Telegram's JSON, command parsing), `render` (formatting), `chart` (the `/pnl`
//!   image) and `parse` (command arguments: pure, tested alone);
//! - `ctx` (one update's context, the rate limit, the user record, the raw send) and `ui`
//!   (buttons, nonces, button answers, edits, replies with the banner);
//! - `flows` (trade confirmations and the guided `/open`) and `admin` (operator commands);
//! - `commands` (the command table behind dispatch, `/help` and the menu, and the handlers by
//!   section) and `callbacks` (the button router);
//! - this module: the webhook and the dispatch of each update.

mod admin;
mod callbacks;
mod chart;
mod commands;
mod ctx;
mod flows;
mod parse;
pub mod render;
#[cfg(test)]
mod tests;
mod ui;
pub mod update;

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use vanta_domain::DomainError;
use vanta_domain::ids::{ChatId, TelegramUserId};
use vanta_domain::ports::OutgoingMessage;

use self::ctx::{Ctx, load_user, send_raw, within_rate};
use self::update::{Incoming, Message};
use crate::Deps;
use crate::metrics::Metrics;
use crate::web::{MAX_BODY_BYTES, error, header_str, json};

pub use self::commands::COMMANDS;
pub use self::ctx::{CONFIRM_TTL, DEDUP_TTL, USER_RATE_PER_MIN};

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// Messages older than this are dropped, not executed (a backlog after downtime, a replay).
pub const MAX_MESSAGE_AGE: Duration = Duration::from_secs(300);

/// Why an old command was not executed, with its age in words (a clock far off, or a date
/// Telegram never sends, reads as "more than a day").
fn stale_text(age_secs: i64) -> String {
    match age_secs {
        ..=3_599 => format!("That command is {} minutes old, so it was not executed.", age_secs / 60),
        3_600..=86_399 => format!("That command is {} hours old, so it was not executed.", age_secs / 3_600),
        _ => "That command is more than a day old, so it was not executed.".to_owned(),
    }
}

/// `POST /telegram` (the router answers 405 to any other method). The secret token is checked
/// before the body is read, so an authentic update over [`MAX_BODY_BYTES`] is acknowledged and
/// dropped (Telegram would retry a refusal forever) while anyone else gets 401.
pub async fn handle(deps: &Deps, headers: &HeaderMap, body: Body) -> Response {
    let Some(expected) = deps.config.telegram_webhook_secret.as_ref() else {
        // Without a secret anyone could forge updates: refuse everything.
        tracing::error!("TELEGRAM_WEBHOOK_SECRET is not set; refusing Telegram updates");
        return error(503, "telegram webhook is not configured");
    };
    let given = header_str(headers, SECRET_HEADER).unwrap_or_default();
    if !bool::from(given.as_bytes().ct_eq(expected.expose_secret().as_bytes())) {
        return error(401, "bad or missing secret token");
    }
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        tracing::warn!(max_bytes = MAX_BODY_BYTES, "oversized or unreadable Telegram update dropped");
        return json(200, &serde_json::json!({ "ok": true }));
    };
    match process_update(deps, &body).await {
        Ok(()) => json(200, &serde_json::json!({ "ok": true })),
        // Nothing was done (the update could not even be recorded): let Telegram retry.
        Err(e) => {
            tracing::warn!(error = %e, "cannot record update; asking Telegram to retry");
            error(503, "temporarily unavailable")
        }
    }
}

/// Handles one authentic update (the webhook after its checks, and long polling). `Err` only when
/// the update could not be recorded, so nothing was done and a retry is safe.
pub async fn process_update(deps: &Deps, body: &[u8]) -> Result<(), DomainError> {
    let Some((update_id, incoming)) = update::parse(body) else {
        tracing::warn!("unreadable Telegram update dropped");
        return Ok(());
    };
    Metrics::inc(&deps.metrics.telegram_updates);
    let now = deps.clock.now();
    if !deps.store.mark_once(&format!("tg-update:{update_id}"), now, now.plus(DEDUP_TTL)).await? {
        Metrics::inc(&deps.metrics.telegram_duplicates);
        tracing::info!(update_id, "duplicate telegram update ignored");
        return Ok(());
    }
    let result = match incoming {
        Incoming::Message(m) => on_message(deps, update_id, m).await,
        Incoming::Edited(m) => on_edited(deps, &m).await,
        Incoming::Callback(q) => callbacks::on_callback(deps, update_id, q).await,
        Incoming::Ignored(why) => {
            tracing::debug!(update_id, why, "telegram update ignored");
            Ok(())
        }
    };
    if let Err(e) = result {
        // Acknowledged anyway: the update was recorded, and repeating half of it is worse.
        tracing::warn!(update_id, error = %e, "telegram update not fully handled");
    }
    Ok(())
}

async fn on_edited(deps: &Deps, m: &Message) -> Result<(), DomainError> {
    let Some(from) = m.from.as_ref().filter(|f| !f.is_bot) else { return Ok(()) };
    let is_command = m.text.as_deref().and_then(update::command).is_some();
    if is_command && m.chat.is_private() {
        let msg = OutgoingMessage::text(ChatId(m.chat.id), "✏️ Edited messages are not executed. Send the command again as a new message.");
        send_raw(deps, TelegramUserId(from.id), &msg).await;
    }
    Ok(())
}

async fn on_message(deps: &Deps, update_id: i64, m: Message) -> Result<(), DomainError> {
    // Channel posts and anonymous admins have no user to authorise: nothing to do.
    let Some(from) = m.from.clone().filter(|f| !f.is_bot) else { return Ok(()) };
    let private = m.chat.is_private();
    let cmd = m.text.as_deref().and_then(update::command);
    let now = deps.clock.now();
    let age = now.secs().saturating_sub(m.date);
    if i128::from(age) > i128::from(MAX_MESSAGE_AGE.as_secs()) {
        tracing::info!(update_id, age_secs = age, "stale telegram message dropped");
        // Only commands are refused for their age; anything else gets the answer a fresh
        // message would (nothing is executed either way), so nobody in a private chat is
        // left without a reply.
        if cmd.is_some() {
            if private {
                let msg = OutgoingMessage::text(ChatId(m.chat.id), format!("⌛ {} Send it again if you still want it.", stale_text(age)));
                send_raw(deps, TelegramUserId(from.id), &msg).await;
            }
            return Ok(());
        }
    }
    let Some(cmd) = cmd else {
        if private {
            let what =
                if m.text.is_some() { "I only understand commands." } else { "I only read text commands (photos and files are ignored)." };
            send_raw(deps, TelegramUserId(from.id), &OutgoingMessage::text(ChatId(m.chat.id), format!("{what} Send /help for the list.")))
                .await;
        }
        return Ok(());
    };
    if !within_rate(deps, from.id, ChatId(m.chat.id)).await? {
        return Ok(());
    }
    let user = load_user(deps, &from).await?;
    let ctx = Ctx { deps, user, chat: ChatId(m.chat.id), private, update_id };
    commands::run(&ctx, &cmd).await
}
