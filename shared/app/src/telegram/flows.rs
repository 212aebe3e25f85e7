//! Confirmations and the guided `/open` flow (the button router is [`super::callbacks`]).
//!
//! A trade asked for in Telegram becomes a *pending* intent (`tg:<nonce>`, state RECEIVED, not
//! queued) and a message with Confirm/Cancel buttons whose data is `c:<nonce>` / `x:<nonce>`.
//! Pressing Confirm enqueues it for the pipeline, if and only if the presser is the intent's user
//! (by Telegram user id), it is still RECEIVED and younger than [`CONFIRM_TTL`]. An expired one
//! is rejected on the spot ("confirmation expired"), so it can never run later. A repeated press
//! is harmless: the queue and the pipeline both run an intent once.

use sha2::{Digest, Sha256};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::IntentId;
use vanta_domain::intent::{Action, CreateOutcome, Intent, IntentState, OpenOrder, Origin, Transition};
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, Usdc};
use vanta_domain::ports::Button;
use vanta_domain::position::{Position, distance_bps};
use vanta_domain::{DomainError, DomainResult};

use super::ctx::{CONFIRM_TTL, Ctx, DEDUP_TTL};
use super::render::{esc, pct, signed_usd, usd};
use super::ui::{Answer, button, edit, edit_with_buttons, mode, nonce, reply_banner};
use crate::Deps;
use crate::pipeline::{self, banner};

/// Leverage choices of the guided flow (the buttons carry the choice's index, not the value).
pub const FLOW_LEVERAGES: [u64; 6] = [2, 3, 5, 10, 15, 20];
/// Collateral choices (USDC) of the guided flow.
pub const FLOW_COLLATERALS: [u64; 6] = [10, 25, 50, 100, 250, 500];

pub(crate) fn intent_id(nonce: &str) -> DomainResult<IntentId> {
    IntentId::parse(&format!("tg:{nonce}"))
}

/// Rejects the user's own confirmations that expired unpressed ("confirmation expired"), so they
/// do not stay RECEIVED for ever. One that was confirmed in time is left alone, however long it
/// waits in the queue: it runs (the risk engine still refuses it, and says why, if its prices
/// are stale by then). Best effort: a failure is logged, never shown.
async fn expire_unconfirmed(ctx: &Ctx<'_>) {
    let now = ctx.deps.clock.now();
    let ttl = i64::try_from(CONFIRM_TTL.as_millis()).unwrap_or(i64::MAX);
    let Ok(recent) = ctx.deps.store.user_intents(ctx.user.id, 20).await else { return };
    for i in recent {
        if i.state == IntentState::Received && matches!(i.origin, Origin::Telegram { .. }) && now.since(i.created_at) > ttl {
            // Pressed in time (and queued)? The press left its mark; claiming the mark here
            // also keeps any later press of the expired button from queueing it.
            match ctx.deps.store.mark_once(&confirmed_key(&i.id), now, now.plus(DEDUP_TTL)).await {
                Ok(true) => {}
                Ok(false) => continue,
                Err(e) => {
                    tracing::debug!(intent = %i.id, error = %e, "confirmation state unknown; left as it is");
                    continue;
                }
            }
            let t = Transition::new(IntentState::Received, IntentState::Rejected, now).map(|t| t.with_reason("confirmation expired"));
            if let Ok(t) = t
                && let Err(e) = ctx.deps.store.transition(&i.id, &t).await
            {
                tracing::debug!(intent = %i.id, error = %e, "expired confirmation not closed");
            }
        }
    }
}

/// The marker a confirmation press leaves.
fn confirmed_key(id: &IntentId) -> String {
    format!("tg-confirmed:{id}")
}

/// Stores `action` as a pending intent of the user and asks them to confirm it.
pub(crate) async fn propose(ctx: &Ctx<'_>, action: Action, summary_html: &str) -> DomainResult<()> {
    expire_unconfirmed(ctx).await;
    let n = nonce();
    let id = intent_id(&n)?;
    let origin = Origin::Telegram { update_id: ctx.update_id };
    let hash = hex::encode(Sha256::digest(serde_json::to_vec(&(&origin, &action)).map_err(|e| DomainError::Internal(e.to_string()))?));
    let intent = Intent::new(id, ctx.user.id, origin, action, hash, ctx.deps.clock.now());
    match ctx.deps.store.create_intent(&intent).await? {
        CreateOutcome::Created => {}
        _ => return Err(DomainError::Conflict("confirmation id collision".into())),
    }
    let m = mode(ctx.deps).await;
    let html = format!(
        "{} · {summary_html}\n\n<i>Confirm within {} minutes. Only you can press these buttons.</i>",
        banner(m),
        CONFIRM_TTL.as_secs() / 60
    );
    ctx.reply_buttons(html, vec![vec![button("✅ Confirm", format!("c:{n}")), button("✖ Cancel", format!("x:{n}"))]]).await;
    Ok(())
}

/// Checks an order as the pipeline will, and proposes it with its size, fee and liquidation price.
pub(crate) async fn propose_open(ctx: &Ctx<'_>, mut order: OpenOrder) -> DomainResult<()> {
    let deps = ctx.deps;
    let exec = deps.effective_exec().await;
    if exec.mode == ExecMode::Live && !ctx.user.wallet_verified() {
        let why = match ctx.user.trader {
            Some(t) => format!("your wallet <code>{t}</code> is not verified: <code>/bind {t}</code> and sign the message first"),
            None => "bind and verify your Veranta wallet first: /bind &lt;address&gt;".to_owned(),
        };
        ctx.reply(format!("{} · ⛔ LIVE trades need a verified wallet; {why}", banner(exec.mode))).await;
        return Ok(());
    }
    let catalog = match crate::market::catalog_for_open(deps, deps.venue(exec.mode).1.as_ref()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::warn!(error = %e, "open not proposed: the venue's market list is unavailable");
            let why = "the venue's market list is unavailable right now, so no new position can be checked; try again in a minute (closing positions still works)";
            reply_banner(ctx, exec.mode, &format!("⛔ {why}")).await;
            return Ok(());
        }
    };
    let pair = match catalog.resolve(order.pair.as_str()) {
        Ok(p) => p.clone(),
        Err(e) => {
            reply_banner(ctx, exec.mode, &format!("⛔ {}", esc(&e.to_string()))).await;
            return Ok(());
        }
    };
    if let Some(why) = crate::market::closed_market(deps, &catalog, &pair) {
        reply_banner(ctx, exec.mode, &format!("⛔ {}", esc(&why))).await;
        return Ok(());
    }
    order.pair = pair.symbol.clone();
    let ctx_check = crate::risk_check::OpenContext { catalog: &catalog, pair: &pair, exec: &exec, ops: &deps.ops, automated: false };
    let checked = crate::risk_check::check_open(deps, &ctx.user, &order, &ctx_check).await?.verdict;
    let a = match checked {
        Ok(a) => a,
        Err(refusal) => {
            ctx.reply(format!("{} · ⛔ Not possible: {}", banner(exec.mode), esc(&refusal.to_string()))).await;
            return Ok(());
        }
    };
    let side = order.side.as_str().to_uppercase();
    let level = |p: Option<vanta_domain::money::Price>| p.map_or_else(|| "none".to_owned(), |p| p.to_string());
    // A DRY open fills as the venue would: half the venue's spread against the trader.
    let paper_fill = match exec.mode {
        ExecMode::Dry => {
            vanta_domain::spread::spread_price(a.reference_price, pair.spread, order.side.is_buy()).ok().map_or_else(String::new, |f| {
                format!("\nPaper fill ≈ {f} (half the venue's {}% spread against you; the venue's quote at the fill decides)", pair.spread)
            })
        }
        ExecMode::Live => String::new(),
    };
    let summary = format!(
        "<b>Open {side} {pair} {lev}x</b>\n\
         Collateral: {coll}\n\
         Size: {size}\n\
         Entry ≈ {entry} (oracle now; slippage up to {slip}%){paper_fill}\n\
         Open fee ≈ {fee}\n\
         Liquidation ≈ {liq} ({dist} away)\n\
         TP: {tp} · SL: {sl}",
        pair = esc(pair.symbol.as_str()),
        lev = order.leverage,
        coll = usd(order.collateral),
        size = usd(a.notional),
        entry = a.reference_price,
        slip = a.slippage,
        fee = usd(a.open_fee),
        liq = a.liquidation_price,
        dist = pct(a.liq_distance),
        tp = level(order.tp),
        sl = level(order.sl),
    );
    propose(ctx, Action::Open(order), &summary).await
}

/// A one-line description of a live position.
pub(crate) async fn describe_position(deps: &Deps, p: &Position) -> String {
    let mark = deps.prices.quotes(&p.pair).await.ok().and_then(|q| q.into_iter().max_by_key(|q| q.published_at).map(|q| q.price));
    let pnl = mark.and_then(|m| p.pnl_at(m).ok()).map_or_else(|| "unknown (no price)".to_owned(), signed_usd);
    format!(
        "{} {} {}x, collateral {}, entry {}, PnL now {pnl}",
        p.side.as_str().to_uppercase(),
        esc(p.pair.as_str()),
        p.leverage,
        usd(p.collateral),
        p.open_price
    )
}

// ---------------------------------------------------------------------------------------------
// Confirm and Cancel
// ---------------------------------------------------------------------------------------------

/// Loads a pending intent for the presser; `Err(answer)` when the press must do nothing.
async fn pending(ctx: &Ctx<'_>, n: &str) -> DomainResult<Result<Intent, Answer>> {
    let Ok(id) = intent_id(n) else { return Ok(Err(Answer::alert("This button is no longer valid."))) };
    let Some(intent) = ctx.deps.store.get_intent(&id).await? else {
        return Ok(Err(Answer::alert("This confirmation is unknown or expired; nothing was done.")));
    };
    if intent.user != ctx.user.id || !matches!(intent.origin, Origin::Telegram { .. }) {
        tracing::warn!(presser = %ctx.user.id, "foreign confirmation pressed; ignored");
        return Ok(Err(Answer::alert("This button belongs to someone else; nothing was done.")));
    }
    if intent.state != IntentState::Received {
        return Ok(Err(Answer::toast(format!("Already handled ({}).", intent.reason.as_deref().unwrap_or(intent.state.as_str())))));
    }
    Ok(Ok(intent))
}

pub(crate) async fn confirm(ctx: &Ctx<'_>, n: &str, message_id: Option<i64>) -> DomainResult<Answer> {
    let intent = match pending(ctx, n).await? {
        Ok(i) => i,
        Err(a) => return Ok(a),
    };
    let deps = ctx.deps;
    let now = deps.clock.now();
    let m = mode(deps).await;
    if now.since(intent.created_at) > i64::try_from(CONFIRM_TTL.as_millis()).unwrap_or(i64::MAX) {
        let t = Transition::new(IntentState::Received, IntentState::Rejected, now)?.with_reason("confirmation expired");
        deps.store.transition(&intent.id, &t).await?;
        edit(ctx, message_id, format!("{} · ⌛ This confirmation expired; nothing was done. Send the command again.", banner(m))).await;
        return Ok(Answer::alert("This confirmation expired; nothing was done."));
    }
    // Marked first: a confirmed intent is never expired by `expire_unconfirmed`, even while it
    // waits in the queue. A second press finds the mark and queues it again (the queue and the
    // pipeline drop the repeat), so a failed enqueue is recovered by pressing again.
    let first = deps.store.mark_once(&confirmed_key(&intent.id), now, now.plus(DEDUP_TTL)).await?;
    pipeline::enqueue(deps, &ctx.user, &intent.id).await?;
    if !first {
        return Ok(Answer::toast("Already confirmed."));
    }
    tracing::info!(user = %ctx.user.id, intent = %intent.id, action = intent.action.name(), "telegram trade confirmed");
    edit(
        ctx,
        message_id,
        format!("{} · ✅ Confirmed: {}. You will get a message when it is done.", banner(m), describe_action(&intent.action)),
    )
    .await;
    Ok(Answer::toast("Confirmed"))
}

pub(crate) async fn cancel(ctx: &Ctx<'_>, n: &str, message_id: Option<i64>) -> DomainResult<Answer> {
    let intent = match pending(ctx, n).await? {
        Ok(i) => i,
        Err(a) => return Ok(a),
    };
    let t = Transition::new(IntentState::Received, IntentState::Rejected, ctx.deps.clock.now())?.with_reason("cancelled");
    match ctx.deps.store.transition(&intent.id, &t).await {
        Ok(_) => {}
        // Confirmed (and picked up) meanwhile.
        Err(DomainError::Conflict(_)) => return Ok(Answer::toast("Too late: already confirmed.")),
        Err(e) => return Err(e),
    }
    edit(ctx, message_id, format!("{} · ✖ Cancelled: {}.", banner(mode(ctx.deps).await), describe_action(&intent.action))).await;
    Ok(Answer::toast("Cancelled"))
}

pub(crate) fn describe_action(a: &Action) -> String {
    match a {
        Action::Open(o) => {
            format!("open {} {} {}x with {}", o.side.as_str().to_uppercase(), esc(o.pair.as_str()), o.leverage, usd(o.collateral))
        }
        Action::Flip(o) => format!("flip to {} {}", o.side.as_str().to_uppercase(), esc(o.pair.as_str())),
        Action::Close { pair, side, .. } => format!("close {} {}", side.as_str().to_uppercase(), esc(pair.as_str())),
        Action::ClosePosition { .. } => "close the position".to_owned(),
        Action::UpdateTpSl { pair, side, .. } => format!("update TP/SL of {} {}", side.as_str().to_uppercase(), esc(pair.as_str())),
        Action::Pause => "pause automation".to_owned(),
        Action::Flatten => "close all positions".to_owned(),
    }
}

// ---------------------------------------------------------------------------------------------
// Guided /open: pair → side → leverage → collateral → confirmation
// ---------------------------------------------------------------------------------------------

/// The first step: the pair buttons.
pub(crate) async fn open_menu(deps: &Deps) -> DomainResult<(String, Vec<Vec<Button>>)> {
    let m = mode(deps).await;
    let catalog = deps.venue(m).1.pairs().await?;
    let buttons: Vec<Button> = catalog
        .iter()
        .filter(|p| p.listed && !p.close_only)
        .take(24)
        .map(|p| button(p.symbol.as_str(), format!("o:{}", p.index.0)))
        .collect();
    let rows = buttons.chunks(3).map(<[Button]>::to_vec).collect();
    Ok((format!("{} · <b>Open a position</b>\nStep 1 of 4: choose a market.", banner(m)), rows))
}

pub(crate) async fn guided_open(ctx: &Ctx<'_>, steps: &[&str], message_id: Option<i64>) -> DomainResult<Answer> {
    let deps = ctx.deps;
    let m = mode(deps).await;
    let catalog = deps.venue(m).1.pairs().await?;
    let invalid = || Ok(Answer::alert("This button is no longer valid; send /open again."));
    let Some(pair) = steps.first().and_then(|s| s.parse::<u16>().ok()).and_then(|i| catalog.by_index(PairIndex(i))).cloned() else {
        return invalid();
    };
    let side = match steps.get(1) {
        None => None,
        Some(&"l") => Some(Side::Long),
        Some(&"s") => Some(Side::Short),
        Some(_) => return invalid(),
    };
    let lev = match steps.get(2) {
        None => None,
        Some(s) => match s.parse::<usize>().ok().and_then(|i| FLOW_LEVERAGES.get(i)) {
            Some(l) => Some(*l),
            None => return invalid(),
        },
    };
    let coll = match steps.get(3) {
        None => None,
        Some(s) => match s.parse::<usize>().ok().and_then(|i| FLOW_COLLATERALS.get(i)) {
            Some(c) => Some(*c),
            None => return invalid(),
        },
    };
    let sym = esc(pair.symbol.as_str());
    let prefix = steps.join(":");
    let show = |text: String, rows: Vec<Vec<Button>>| edit_with_buttons(ctx, message_id, text, rows);
    match (side, lev, coll) {
        (None, _, _) => {
            show(
                format!("{} · <b>Open {sym}</b>\nStep 2 of 4: long or short?", banner(m)),
                vec![vec![button("📈 Long", format!("o:{prefix}:l")), button("📉 Short", format!("o:{prefix}:s"))]],
            )
            .await;
        }
        (Some(s), None, _) => {
            let max = pair.max_leverage.min(ctx.user.risk.bounded_by(&deps.ops).max_leverage);
            let choices: Vec<Button> = FLOW_LEVERAGES
                .iter()
                .enumerate()
                .filter(|(_, l)| Leverage::from_whole(**l).is_ok_and(|l| l <= max && l >= pair.min_leverage))
                .map(|(i, l)| button(format!("{l}x"), format!("o:{prefix}:{i}")))
                .collect();
            show(format!("{} · <b>Open {} {sym}</b>\nStep 3 of 4: leverage?", banner(m), s.as_str().to_uppercase()), vec![choices]).await;
        }
        (Some(s), Some(l), None) => {
            let choices: Vec<Button> =
                FLOW_COLLATERALS.iter().enumerate().map(|(i, c)| button(format!("${c}"), format!("o:{prefix}:{i}"))).collect();
            show(
                format!("{} · <b>Open {} {sym} {l}x</b>\nStep 4 of 4: collateral (USDC)? For another amount use <code>/{} {} &lt;amount&gt; {l}x</code>.", banner(m), s.as_str().to_uppercase(), s.as_str(), esc(pair.symbol.base())),
                choices.chunks(3).map(<[Button]>::to_vec).collect(),
            )
            .await;
        }
        (Some(s), Some(l), Some(c)) => {
            show(
                format!("{} · <b>Open {} {sym} {l}x ${c}</b>: see the confirmation below.", banner(m), s.as_str().to_uppercase()),
                Vec::new(),
            )
            .await;
            let order = OpenOrder {
                pair: pair.symbol.clone(),
                side: s,
                collateral: Usdc::from_whole(c)?,
                leverage: Leverage::from_whole(l)?,
                tp: None,
                sl: None,
                slippage: None,
            };
            propose_open(ctx, order).await?;
        }
    }
    Ok(Answer::ok())
}

/// Distance of a position's mark from its liquidation price, for `/positions`.
pub(crate) fn liq_line(p: &Position, mark: Option<vanta_domain::money::Price>) -> String {
    match (p.liquidation_price(), mark) {
        (Ok(liq), Some(mark)) => format!("liq {liq} ({} away)", pct(distance_bps(mark, liq))),
        (Ok(liq), None) => format!("liq {liq}"),
        _ => "liq unknown".to_owned(),
    }
}
