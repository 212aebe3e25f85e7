//! The button router: every callback query (a button press) is answered exactly once, after
//! the same checks as a command (not a bot, within the user's rate, a private chat, the presser's
//! own user record), and dispatched by its opaque data: `c:`/`x:` confirm or cancel a trade
//! ([`flows`]), `a:`/`ax:` an operator confirmation ([`admin`]), `p:` the position menu under
//! `/positions`, `ca` close all, `o:` a step of the guided `/open`.

use vanta_domain::DomainResult;
use vanta_domain::ids::{ChatId, PositionId};
use vanta_domain::intent::Action;
use vanta_domain::money::Bps;
use vanta_domain::ports::Button;
use vanta_domain::position::Position;

use super::ctx::{Ctx, load_user, within_rate};
use super::render::{esc, pct};
use super::ui::{Answer, button};
use super::update::CallbackQuery;
use super::{admin, flows};
use crate::Deps;
use crate::pipeline::banner;

pub(crate) async fn on_callback(deps: &Deps, update_id: i64, q: CallbackQuery) -> DomainResult<()> {
    if q.from.is_bot {
        return Ok(());
    }
    let chat = q.message.as_ref().map_or(ChatId(q.from.id), |m| ChatId(m.chat.id));
    if !within_rate(deps, q.from.id, chat).await? {
        return deps.chat.answer_callback(&q.id, Some("Too many presses; wait a minute."), false).await;
    }
    let answer = match press(deps, update_id, &q).await {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(update_id, error = %e, "button press failed");
            Answer::alert("Something went wrong; nothing was done. Please try again.")
        }
    };
    deps.chat.answer_callback(&q.id, answer.text.as_deref(), answer.alert).await
}

async fn press(deps: &Deps, update_id: i64, q: &CallbackQuery) -> DomainResult<Answer> {
    let Some(data) = q.data.as_deref() else { return Ok(Answer::ok()) };
    let (chat, private, message_id) = match &q.message {
        Some(m) => (ChatId(m.chat.id), m.chat.is_private(), Some(m.message_id)),
        None => (ChatId(q.from.id), true, None),
    };
    if !private {
        return Ok(Answer::alert("For your safety, Vanta acts on accounts only in a private chat with the bot."));
    }
    let user = load_user(deps, &q.from).await?;
    let ctx = Ctx { deps, user, chat, private, update_id };
    let parts: Vec<&str> = data.split(':').collect();
    match parts.as_slice() {
        ["c", n] => flows::confirm(&ctx, n, message_id).await,
        ["x", n] => flows::cancel(&ctx, n, message_id).await,
        ["a", kind, n] => admin::confirm(&ctx, kind, n, message_id, true).await,
        ["ax", kind, n] => admin::confirm(&ctx, kind, n, message_id, false).await,
        ["p", action, rest @ ..] => position_action(&ctx, action, &rest.join(":")).await,
        ["ca"] => {
            let live = deps.store.user_positions(ctx.user.id, true).await?;
            if live.is_empty() {
                return Ok(Answer::toast("You have no open positions."));
            }
            flows::propose(&ctx, Action::Flatten, &format!("<b>Close ALL {} of your positions</b>", live.len())).await?;
            Ok(Answer::ok())
        }
        ["o", rest @ ..] => flows::guided_open(&ctx, rest, message_id).await,
        _ => Ok(Answer::alert("This button is no longer valid.")),
    }
}

// ---------------------------------------------------------------------------------------------
// Position menu
// ---------------------------------------------------------------------------------------------

/// The buttons under one position in `/positions`.
pub(crate) fn position_buttons(p: &Position) -> Vec<Vec<Button>> {
    let id = p.id.as_str();
    let name = format!("{} {}", p.pair.base(), p.side.as_str());
    vec![vec![
        button(format!("✖ Close {name}"), format!("p:c:{id}")),
        button("🎯 TP/SL", format!("p:s:{id}")),
        button("⚖ SL→BE", format!("p:b:{id}")),
        button("〰 Trail", format!("p:t:{id}")),
    ]]
}

async fn position_action(ctx: &Ctx<'_>, action: &str, id: &str) -> DomainResult<Answer> {
    let not_found = || Ok(Answer::alert("Position not found: it is closed, or it is not yours."));
    let Ok(pid) = PositionId::parse(id) else { return not_found() };
    // Looked up under the presser's own id: another user's position is simply not there.
    let Some(p) = ctx.deps.store.get_position(ctx.user.id, &pid).await?.filter(|p| p.status.is_live() && p.user == ctx.user.id) else {
        return not_found();
    };
    let what = flows::describe_position(ctx.deps, &p).await;
    let base = esc(p.pair.base());
    match action {
        "c" => {
            flows::propose(ctx, Action::ClosePosition { position: p.id.clone(), fraction: Bps::FULL }, &format!("<b>Close</b> {what}"))
                .await?;
            Ok(Answer::ok())
        }
        "b" => {
            let action = Action::UpdateTpSl { pair: p.pair.clone(), side: p.side, tp: None, sl: Some(p.open_price) };
            let note = "The stop must stay on the losing side of the current price, so this works only while the position is in profit.";
            flows::propose(ctx, action, &format!("<b>Move SL to break-even ({})</b> on {what}\n{note}", p.open_price)).await?;
            Ok(Answer::ok())
        }
        "s" => {
            let level = |x: Option<vanta_domain::money::Price>| x.map_or_else(|| "none".to_owned(), |x| x.to_string());
            ctx.reply(format!(
                "{} · 🎯 {what}\nTP: {} · SL: {}\nSet them with <code>/tp {base} &lt;price&gt;</code> or <code>/sl {base} &lt;price&gt;</code>.",
                banner(p.mode),
                level(p.tp),
                level(p.sl)
            ))
            .await;
            Ok(Answer::ok())
        }
        "t" => {
            ctx.reply(format!(
                "{} · 〰 <code>/trail {base} &lt;percent&gt;</code> sets a stop that follows the best price by that distance; <code>/trail {base} off</code> removes it.{}",
                banner(p.mode),
                p.trail.map(|t| format!("\nNow: {} behind the best price {}, stop at {}.", pct(t.distance), t.best, t.level(p.side))).unwrap_or_default()
            ))
            .await;
            Ok(Answer::ok())
        }
        _ => Ok(Answer::alert("This button is no longer valid.")),
    }
}
