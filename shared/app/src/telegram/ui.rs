//! The primitives every part of the bot uses to talk to the chat: buttons and their opaque
//! nonces, the one answer each button press gets, editing the message a button hangs under, the
//! current mode for banners and a reply that carries the DRY/LIVE banner.

use vanta_domain::exec::ExecMode;
use vanta_domain::ports::{Button, OutgoingMessage};

use super::ctx::Ctx;
use crate::Deps;
use crate::pipeline::banner;

/// 128 random bits, hex.
pub(crate) fn nonce() -> String {
    let b: [u8; 16] = rand::random();
    hex::encode(b)
}

pub(crate) fn button(label: impl Into<String>, data: impl Into<String>) -> Button {
    Button { label: label.into(), data: data.into() }
}

/// Current effective mode (for banners).
pub(crate) async fn mode(deps: &Deps) -> ExecMode {
    deps.effective_exec().await.mode
}

/// Replies `<banner> · <html>`: the form of every trading reply.
pub(crate) async fn reply_banner(ctx: &Ctx<'_>, mode: ExecMode, html: &str) {
    ctx.reply(format!("{} · {html}", banner(mode))).await;
}

/// Replaces the message a button hangs under (or sends a new one).
pub(crate) async fn edit(ctx: &Ctx<'_>, message_id: Option<i64>, html: String) {
    edit_with_buttons(ctx, message_id, html, Vec::new()).await;
}

/// [`edit`] with buttons under the new text.
pub(crate) async fn edit_with_buttons(ctx: &Ctx<'_>, message_id: Option<i64>, html: String, buttons: Vec<Vec<Button>>) {
    let msg = OutgoingMessage { chat: ctx.chat, html, buttons };
    let result = match message_id {
        Some(id) => ctx.deps.chat.edit(id, &msg).await,
        None => ctx.deps.chat.send(&msg).await,
    };
    if let Err(e) = result {
        tracing::warn!(user = %ctx.user.id, error = %e, "message not updated");
    }
}

/// What to answer a button press with (every press gets exactly one answer).
pub(crate) struct Answer {
    pub text: Option<String>,
    pub alert: bool,
}

impl Answer {
    pub fn ok() -> Self {
        Self { text: None, alert: false }
    }
    pub fn toast(t: impl Into<String>) -> Self {
        Self { text: Some(t.into()), alert: false }
    }
    pub fn alert(t: impl Into<String>) -> Self {
        Self { text: Some(t.into()), alert: true }
    }
}
