//! One update's context ([`Ctx`]: who acts, by Telegram user id, and where to answer), the
//! sender's user record, the per-user rate limit and the raw send every reply goes through.
//!
//! Every other module of the bot builds on this one; it imports none of them but [`super::update`].

use std::time::Duration;

use vanta_domain::DomainError;
use vanta_domain::ids::{ChatId, TelegramUserId};
use vanta_domain::ports::{Button, OutgoingMessage, OutgoingPhoto};
use vanta_domain::user::User;

use super::update::Sender;
use crate::Deps;

/// How long an `update_id` is remembered (Telegram gives up retrying well before).
pub const DEDUP_TTL: Duration = Duration::from_secs(48 * 3600);
/// How long a confirmation button works.
pub const CONFIRM_TTL: Duration = Duration::from_secs(120);
/// Commands and button presses one user may send a minute; more are dropped (after one notice),
/// so nobody can push the bot into Telegram's flood control for everyone else.
pub const USER_RATE_PER_MIN: u32 = 30;

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
pub(crate) async fn load_user(deps: &Deps, from: &Sender) -> Result<User, DomainError> {
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
