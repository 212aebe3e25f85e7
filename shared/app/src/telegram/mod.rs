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

mod admin;
mod commands;
mod flows;
pub mod render;
pub mod update;

use std::time::Duration;

use axum::body::Body;
use axum::http::HeaderMap;
use axum::response::Response;
use secrecy::ExposeSecret;
use subtle::ConstantTimeEq;
use vanta_domain::DomainError;
use vanta_domain::ids::{ChatId, TelegramUserId};
use vanta_domain::ports::{Button, OutgoingMessage, OutgoingPhoto};
use vanta_domain::user::User;

use self::update::{Incoming, Message};
use crate::Deps;
use crate::http::{MAX_BODY_BYTES, error, header_str, json};
use crate::metrics::Metrics;

pub use commands::COMMANDS;

pub const SECRET_HEADER: &str = "x-telegram-bot-api-secret-token";
/// How long an `update_id` is remembered (Telegram gives up retrying well before).
pub const DEDUP_TTL: Duration = Duration::from_secs(48 * 3600);
/// Messages older than this are dropped, not executed (a backlog after downtime, a replay).
pub const MAX_MESSAGE_AGE: Duration = Duration::from_secs(300);
/// How long a confirmation button works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(120);
/// Commands and button presses one user may send a minute; more are dropped (after one notice),
/// so nobody can push the bot into Telegram's flood control for everyone else.
pub const USER_RATE_PER_MIN: u32 = 30;

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
        Incoming::Callback(q) => flows::on_callback(deps, update_id, q).await,
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

/// Counts one command or press of `user` in this minute; false when over [`USER_RATE_PER_MIN`]
/// (the first time in a minute the user is told why).
pub(crate) async fn within_rate(deps: &Deps, user: i64, chat: ChatId) -> Result<bool, DomainError> {
    let now = deps.clock.now();
    let end = vanta_domain::time::Timestamp((now.millis().div_euclid(60_000) + 1) * 60_000);
    if deps.store.hit_window(&format!("rate:tg:{user}:{}", end.millis()), now, end, USER_RATE_PER_MIN).await? {
        return Ok(true);
    }
    tracing::info!(user, "telegram user over the rate limit; dropped");
    if deps.store.mark_once(&format!("tg-slow:{user}:{}", end.millis()), now, end).await? && chat.0 == user {
        let text = format!(
            "🐢 More than {USER_RATE_PER_MIN} commands a minute: the rest of this minute's are ignored. Nothing was executed for them."
        );
        send_raw(deps, TelegramUserId(user), &OutgoingMessage::text(chat, text)).await;
    }
    Ok(false)
}

/// The sender's user record, created on first contact; a returning user who had blocked the bot
/// is active again (they are writing to it).
async fn load_user(deps: &Deps, from: &update::Sender) -> Result<User, DomainError> {
    let id = TelegramUserId(from.id);
    let mut user = deps.store.get_or_create_user(User::new(id, ChatId(from.id), deps.clock.now())).await?;
    let username = from.username.clone().filter(|u| !u.is_empty());
    if !user.active || (username.is_some() && user.username != username) {
        user.active = true;
        if username.is_some() {
            user.username = username;
        }
        deps.store.update_user(&user).await?;
    }
    Ok(user)
}

/// One update's context: who acts (by user id), where to answer.
pub(crate) struct Ctx<'a> {
    pub deps: &'a Deps,
    pub user: User,
    /// The chat the update came from (replies go there).
    pub chat: ChatId,
    pub private: bool,
    pub update_id: i64,
}

impl Ctx<'_> {
    pub async fn reply(&self, html: impl Into<String>) {
        self.send(OutgoingMessage::text(self.chat, html)).await;
    }
    pub async fn reply_buttons(&self, html: impl Into<String>, buttons: Vec<Vec<Button>>) {
        self.send(OutgoingMessage { chat: self.chat, html: html.into(), buttons }).await;
    }
    pub async fn send(&self, msg: OutgoingMessage) {
        send_raw(self.deps, self.user.id, &msg).await;
    }
    pub async fn photo(&self, png: Vec<u8>, caption_html: String) {
        let photo = OutgoingPhoto { chat: self.chat, png, caption_html };
        if let Err(e) = self.deps.chat.send_photo(&photo).await {
            tracing::warn!(user = %self.user.id, error = %e, "chart not delivered");
            mark_blocked(self.deps, self.user.id, &e).await;
        }
    }
    pub fn is_admin(&self) -> bool {
        self.deps.config.is_admin(self.user.id)
    }
    pub fn is_super_admin(&self) -> bool {
        self.deps.config.is_super_admin(self.user.id)
    }
}

/// Sends, logging failures; a user who blocked the bot is marked inactive.
pub(crate) async fn send_raw(deps: &Deps, user: TelegramUserId, msg: &OutgoingMessage) {
    if let Err(e) = deps.chat.send(msg).await {
        tracing::warn!(user = %user, error = %e, "telegram reply not delivered");
        mark_blocked(deps, user, &e).await;
    }
}

async fn mark_blocked(deps: &Deps, user: TelegramUserId, e: &DomainError) {
    if !matches!(e, DomainError::Forbidden(_)) {
        return;
    }
    if let Ok(Some(mut u)) = deps.store.get_user(user).await
        && u.active
    {
        u.active = false;
        if let Err(e) = deps.store.update_user(&u).await {
            tracing::warn!(user = %user, error = %e, "cannot mark user inactive");
        }
    }
}
