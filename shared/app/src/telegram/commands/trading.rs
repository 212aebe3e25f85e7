//! Trading: `/long`, `/short`, `/open`, `/close`, `/positions`, `/tp`, `/sl`, `/trail`, `/orders`,
//! `/history`, `/pnl`, `/sync`. Anything that trades goes through [`propose`] (a pending intent
//! and a confirmation), never to a venue.

use std::str::FromStr;

use vanta_domain::DomainResult;
use vanta_domain::intent::{Action, IntentState, Origin};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::money::{Bps, Price, SignedUsdc};
use vanta_domain::position::Position;

use super::markets::mark;
use crate::pipeline::banner;
use crate::telegram::callbacks;
use crate::telegram::chart::PnlChart;
use crate::telegram::ctx::{CONFIRM_TTL, Ctx};
use crate::telegram::flows::{self, describe_action, propose, propose_open};
use crate::telegram::parse;
use crate::telegram::render::{ago, esc, pct, signed_usd, usd};
use crate::telegram::ui::{self, mode, reply_banner};

/// `/open`: the first step of the guided flow.
pub(super) async fn open(ctx: &Ctx<'_>) -> DomainResult<()> {
    let (text, rows) = flows::open_menu(ctx.deps).await?;
    ctx.reply_buttons(text, rows).await;
    Ok(())
}

pub(super) async fn trade(ctx: &Ctx<'_>, side: Side, args: &[String]) -> DomainResult<()> {
    match parse::parse_open(side, args) {
        Ok(order) => propose_open(ctx, order).await,
        Err(why) => {
            reply_banner(ctx, mode(ctx.deps).await, &format!("⛔ {why}")).await;
            Ok(())
        }
    }
}

/// The user's live positions on a pair, and the side to act on (the only one, or the one named).
pub(super) async fn pick_side(
    ctx: &Ctx<'_>,
    pair_arg: &str,
    side_arg: Option<&str>,
) -> DomainResult<Result<(PairSymbol, Side, Vec<Position>), String>> {
    let pair = match PairSymbol::parse(pair_arg) {
        Ok(p) => p,
        Err(e) => return Ok(Err(esc(&e.to_string()))),
    };
    let live: Vec<Position> = ctx.deps.store.user_positions(ctx.user.id, true).await?.into_iter().filter(|p| p.pair == pair).collect();
    let side = match side_arg.map(Side::from_str) {
        Some(Ok(s)) => s,
        Some(Err(e)) => return Ok(Err(esc(&e.to_string()))),
        None => {
            let mut sides: Vec<Side> = live.iter().map(|p| p.side).collect();
            sides.dedup();
            match sides.as_slice() {
                [s] => *s,
                [] => return Ok(Err(format!("you have no open position on {}", esc(pair.as_str())))),
                _ => return Ok(Err(format!("you are long and short {}: add <code>long</code> or <code>short</code>", esc(pair.as_str())))),
            }
        }
    };
    let on_side: Vec<Position> = live.into_iter().filter(|p| p.side == side).collect();
    if on_side.is_empty() {
        return Ok(Err(format!("you have no open {} position on {}", side.as_str(), esc(pair.as_str()))));
    }
    Ok(Ok((pair, side, on_side)))
}

pub(super) async fn close(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let live = ctx.deps.store.user_positions(ctx.user.id, true).await?;
    if live.is_empty() {
        reply_banner(ctx, m, "You have no open positions.").await;
        return Ok(());
    }
    match args.first().map(|a| a.to_ascii_lowercase()) {
        None => {
            let mut rows: Vec<Vec<vanta_domain::ports::Button>> = live
                .iter()
                .take(20)
                .map(|p| {
                    vec![ui::button(
                        format!("✖ {} {} {}x {}", p.pair.base(), p.side.as_str(), p.leverage, usd(p.collateral)),
                        format!("p:c:{}", p.id),
                    )]
                })
                .collect();
            rows.push(vec![ui::button("✖ Close ALL", "ca")]);
            ctx.reply_buttons(format!("{} · Which position should I close?", banner(m)), rows).await;
            Ok(())
        }
        Some(a) if a == "all" => propose(ctx, Action::Flatten, &format!("<b>Close ALL {} of your positions</b>", live.len())).await,
        Some(_) => {
            let pair_arg = args.first().map(String::as_str).unwrap_or_default();
            match pick_side(ctx, pair_arg, args.get(1).map(String::as_str)).await? {
                Ok((pair, side, on_side)) => {
                    let mut what = String::new();
                    for p in &on_side {
                        what.push_str(&format!("\n• {}", flows::describe_position(ctx.deps, p).await));
                    }
                    propose(
                        ctx,
                        Action::Close { pair: pair.clone(), side, fraction: Bps::FULL },
                        &format!("<b>Close {} {}</b>{what}", side.as_str().to_uppercase(), esc(pair.as_str())),
                    )
                    .await
                }
                Err(why) => {
                    reply_banner(ctx, m, &format!("⛔ {why}")).await;
                    Ok(())
                }
            }
        }
    }
}

pub(super) async fn positions(ctx: &Ctx<'_>) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let live = ctx.deps.store.user_positions(ctx.user.id, true).await?;
    let resting = resting_orders_text(ctx).await;
    if live.is_empty() {
        reply_banner(ctx, m, "No open positions. /long, /short or /open to start.").await;
        if let Some(text) = resting {
            ctx.reply(text).await;
        }
        return Ok(());
    }
    ctx.reply(format!("{} · 📂 <b>{} open position(s)</b>", banner(m), live.len())).await;
    for p in live.iter().take(20) {
        let mk = mark(ctx, &p.pair).await;
        let pnl = mk.and_then(|x| p.pnl_at(x).ok()).map_or_else(|| "unknown".to_owned(), signed_usd);
        let level = |x: Option<Price>| x.map_or_else(|| "–".to_owned(), |x| x.to_string());
        let status = if p.status == vanta_domain::position::PositionStatus::Closing {
            " · closing…"
        } else if crate::reconcile::is_external(p) {
            " · external (opened outside Vanta)"
        } else {
            ""
        };
        let text = format!(
            "{} · <b>{} {} {}x</b>{status}\nCollateral {} · size {}\nEntry {} · mark {}\nPnL {pnl} · {}\nTP {} · SL {}",
            banner(p.mode),
            p.side.as_str().to_uppercase(),
            esc(p.pair.as_str()),
            p.leverage,
            usd(p.collateral),
            p.notional().map_or_else(|_| "?".to_owned(), usd),
            p.open_price,
            level(mk),
            flows::liq_line(p, mk),
            level(p.tp),
            level(p.sl),
        );
        ctx.reply_buttons(text, callbacks::position_buttons(p)).await;
    }
    if live.len() > 20 {
        ctx.reply(format!("…and {} more (not shown).", live.len() - 20)).await;
    }
    if let Some(text) = resting {
        ctx.reply(text).await;
    }
    Ok(())
}

/// The wallet's resting limit orders as the reconciler last read them (None when there are none).
async fn resting_orders_text(ctx: &Ctx<'_>) -> Option<String> {
    let wallet = ctx.user.trader?;
    let orders = ctx.deps.store.get_recon_wallet(wallet).await.ok().flatten()?.limit_orders;
    if orders.is_empty() {
        return None;
    }
    let catalog = ctx.deps.venue(vanta_domain::exec::ExecMode::Live).1.pairs().await.ok();
    let mut text = format!(
        "⏳ <b>{} resting limit order(s)</b>, placed outside Vanta; each opens a position when the price reaches it, \
         and Vanta counts them toward your limits:",
        orders.len()
    );
    for o in orders.iter().take(20) {
        let pair =
            catalog.as_ref().and_then(|c| c.by_index(o.pair)).map_or_else(|| format!("pair #{}", o.pair.0), |p| p.symbol.to_string());
        let levels = match (o.tp, o.sl) {
            (None, None) => String::new(),
            (tp, sl) => format!(
                " · TP {} · SL {}",
                tp.map_or_else(|| "–".to_owned(), |x| x.to_string()),
                sl.map_or_else(|| "–".to_owned(), |x| x.to_string())
            ),
        };
        text.push_str(&format!(
            "\n• {} {} {}x · {} at {}{levels}",
            o.side.as_str().to_uppercase(),
            esc(&pair),
            o.leverage,
            usd(o.collateral),
            o.price
        ));
    }
    Some(text)
}

/// `/sync`: the reconciler reads the user's own proven wallet now (at most once per 30 s).
pub(super) async fn sync(ctx: &Ctx<'_>) -> DomainResult<()> {
    let Some(wallet) = ctx.user.trader.filter(|_| ctx.user.wallet_verified()) else {
        ctx.reply("🔗 /sync reads your own proven wallet on Veranta: /bind and /verify it first.").await;
        return Ok(());
    };
    let now = ctx.deps.clock.now();
    if !ctx.deps.store.hit_window(&format!("sync:{}", ctx.user.id), now, now.plus(std::time::Duration::from_secs(30)), 1).await? {
        ctx.reply("⏳ Your wallet was read moments ago; /sync again in half a minute.").await;
        return Ok(());
    }
    if ctx.deps.live.is_none() {
        ctx.reply("ℹ️ Vanta has no Veranta connection here; the indexer reads your wallet every minute.").await;
        return Ok(());
    }
    crate::reconcile::watch_owner(ctx.deps, wallet, ctx.user.id).await;
    let r = crate::reconcile::run_wallet(ctx.deps, wallet, &crate::reconcile::Settings::default()).await?;
    ctx.reply(format!(
        "🔄 Read <code>{wallet}</code> on Veranta: {} close(s) recorded, {} open(s) resolved, {} failed, {} outside trade(s) adopted{}.",
        r.closes.len(),
        r.resolved.len(),
        r.failed.len(),
        r.adopted.len(),
        if r.missing.is_empty() { String::new() } else { format!(", {} position(s) not listed right now (kept open)", r.missing.len()) }
    ))
    .await;
    Ok(())
}

pub(super) async fn tpsl(ctx: &Ctx<'_>, is_tp: bool, args: &[String]) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let which = if is_tp { "tp" } else { "sl" };
    let (pair_arg, side_arg, price_arg) = match args {
        [p, x] => (p, None, x),
        [p, s, x] => (p, Some(s.as_str()), x),
        _ => {
            ctx.reply(format!("Usage: <code>/{which} &lt;pair&gt; [long|short] &lt;price&gt;</code>")).await;
            return Ok(());
        }
    };
    let level = match Price::from_str(price_arg) {
        Ok(p) if !p.is_zero() => p,
        Ok(_) => {
            ctx.reply("⛔ the price must be more than 0").await;
            return Ok(());
        }
        Err(e) => {
            ctx.reply(format!("⛔ {}", esc(&e.to_string()))).await;
            return Ok(());
        }
    };
    match pick_side(ctx, pair_arg, side_arg).await? {
        Ok((pair, side, on_side)) => {
            let (tp, sl) = if is_tp { (Some(level), None) } else { (None, Some(level)) };
            let label = if is_tp { "take-profit" } else { "stop-loss" };
            let summary = format!(
                "<b>Set {label} {level}</b> on {} {} ({} position(s))",
                side.as_str().to_uppercase(),
                esc(pair.as_str()),
                on_side.len()
            );
            propose(ctx, Action::UpdateTpSl { pair, side, tp, sl }, &summary).await
        }
        Err(why) => {
            reply_banner(ctx, m, &format!("⛔ {why}")).await;
            Ok(())
        }
    }
}

pub(super) async fn trail(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let (pair_arg, side_arg, pct_arg) = match args {
        [p, x] => (p, None, x),
        [p, s, x] => (p, Some(s.as_str()), x),
        _ => {
            ctx.reply("Usage: <code>/trail &lt;pair&gt; [long|short] &lt;percent|off&gt;</code> — a stop that follows the best price by that distance (Vanta's TP/SL executor closes the position when the price falls back to it).").await;
            return Ok(());
        }
    };
    let distance = if pct_arg.eq_ignore_ascii_case("off") {
        None
    } else {
        match Bps::from_percent_str(pct_arg.trim_end_matches('%')) {
            Ok(d) => Some(d),
            Err(e) => {
                ctx.reply(format!("⛔ {}", esc(&e.to_string()))).await;
                return Ok(());
            }
        }
    };
    match pick_side(ctx, pair_arg, side_arg).await? {
        Ok((pair, side, on_side)) => {
            let mut lines = String::new();
            for p in &on_side {
                // A trail is a setting on the position; the close it may trigger later is an intent.
                match crate::schedule::set_trail(ctx.deps, ctx.user.id, &p.id, distance).await {
                    Ok(next) => match next.trail {
                        Some(t) => lines.push_str(&format!(
                            "\n• {} from the best price {}: stop now at {}",
                            pct(t.distance),
                            t.best,
                            t.level(side)
                        )),
                        None => lines.push_str("\n• trailing stop removed"),
                    },
                    Err(e) => lines.push_str(&format!("\n• not set: {}", esc(&e.to_string()))),
                }
            }
            ctx.reply(format!("{} · 〰 <b>Trailing stop on {} {}</b>{lines}", banner(m), side.as_str().to_uppercase(), esc(pair.as_str())))
                .await;
            Ok(())
        }
        Err(why) => {
            reply_banner(ctx, m, &format!("⛔ {why}")).await;
            Ok(())
        }
    }
}

pub(super) async fn orders(ctx: &Ctx<'_>) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let live = ctx.deps.store.user_positions(ctx.user.id, true).await?;
    let mut out = format!("{} · 🎯 <b>TP/SL orders</b>\n", banner(m));
    let mut any = false;
    for p in &live {
        if p.tp.is_some() || p.sl.is_some() {
            any = true;
            let level = |x: Option<Price>| x.map_or_else(|| "–".to_owned(), |x| x.to_string());
            out.push_str(&format!(
                "{} {}: TP {} · SL {}\n",
                p.side.as_str().to_uppercase(),
                esc(p.pair.as_str()),
                level(p.tp),
                level(p.sl)
            ));
        }
    }
    if !any {
        out.push_str("No TP or SL set on your positions.\n");
    }
    out.push_str("Limit orders on Veranta: not visible to Vanta yet.");
    ctx.reply(out).await;
    Ok(())
}

pub(super) async fn history(ctx: &Ctx<'_>) -> DomainResult<()> {
    let deps = ctx.deps;
    let m = mode(deps).await;
    let now = deps.clock.now();
    let ttl_ms = i64::try_from(CONFIRM_TTL.as_millis()).unwrap_or(i64::MAX);
    let intents = deps.store.user_intents(ctx.user.id, 15).await?;
    let mut out = format!("{} · 🧾 <b>Recent requests</b>\n", banner(m));
    if intents.is_empty() {
        out.push_str("None yet.\n");
    }
    for i in &intents {
        let state = match (i.state, &i.origin) {
            (IntentState::Received, Origin::Telegram { .. }) if now.since(i.created_at) > ttl_ms => "not confirmed".to_owned(),
            (IntentState::Received, Origin::Telegram { .. }) => "awaiting your confirmation".to_owned(),
            (s, _) => s.as_str().to_lowercase(),
        };
        let reason = i
            .reason
            .as_deref()
            .filter(|_| matches!(i.state, IntentState::Rejected | IntentState::Failed))
            .map(|r| format!(": {}", esc(r)))
            .unwrap_or_default();
        let origin = match &i.origin {
            Origin::Signal { source, .. } => format!("signal {}", esc(source.as_str())),
            Origin::Telegram { .. } => "you".to_owned(),
            Origin::Copy { .. } => "copy".to_owned(),
            Origin::TpSl { .. } => "TP/SL".to_owned(),
            Origin::Admin { .. } => "operator".to_owned(),
        };
        let mode_tag = i.mode.map(|x| format!(" [{x}]")).unwrap_or_default();
        out.push_str(&format!(
            "• {} ago · {} ({origin}){mode_tag} — {state}{reason}\n",
            ago(now.since(i.created_at) / 1000),
            describe_action(&i.action)
        ));
    }
    let mut closed: Vec<Position> =
        deps.store.user_positions(ctx.user.id, false).await?.into_iter().filter(|p| !p.status.is_live()).collect();
    closed.sort_by_key(|p| std::cmp::Reverse(p.closed_at));
    if !closed.is_empty() {
        out.push_str("\n<b>Closed positions</b>\n");
        for p in closed.iter().take(10) {
            out.push_str(&format!(
                "• {} {} {}x [{}] {} · PnL {}\n",
                p.side.as_str().to_uppercase(),
                esc(p.pair.as_str()),
                p.leverage,
                p.mode,
                p.status.as_str().to_lowercase(),
                p.realised_pnl.map_or_else(|| "unknown".to_owned(), signed_usd)
            ));
        }
    }
    ctx.reply(out).await;
    Ok(())
}

pub(super) async fn pnl(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let deps = ctx.deps;
    let m = mode(deps).await;
    let Some((label, buckets, bucket_ms)) = parse::pnl_period(args.first().map(String::as_str)) else {
        ctx.reply("Usage: <code>/pnl [day|week|month]</code>").await;
        return Ok(());
    };
    let all = deps.store.user_positions(ctx.user.id, false).await?;
    let now = deps.clock.now().millis();
    let series = parse::pnl_buckets(&all, now, buckets, bucket_ms);
    let realised = SignedUsdc::from_raw(series.iter().fold(0i64, |a, b| a.saturating_add(*b)));
    let mut unrealised = SignedUsdc::ZERO;
    for p in all.iter().filter(|p| p.status.is_live()) {
        if let Some(mk) = mark(ctx, &p.pair).await {
            unrealised = unrealised.checked_add(p.pnl_at(mk)?)?;
        }
    }
    let start = now.saturating_sub(bucket_ms.saturating_mul(i64::try_from(buckets).unwrap_or(0)));
    let trades = all.iter().filter(|p| p.closed_at.is_some_and(|t| t.millis() > start)).count();
    let caption = format!(
        "{} · 📈 <b>PnL, {label}</b>\nRealised: {} over {trades} closed position(s) (after fees)\nUnrealised now: {}",
        banner(m),
        signed_usd(realised),
        signed_usd(unrealised)
    );
    let chart = PnlChart { title: format!("Realised PnL, {label}"), buckets: &series, start_ms: start, bucket_ms };
    match chart.png() {
        Ok(png) => ctx.photo(png, caption).await,
        Err(e) => {
            // The numbers still reach the user, as text.
            tracing::warn!(error = %e, "pnl chart not drawn; sending the numbers alone");
            ctx.reply(caption).await;
        }
    }
    Ok(())
}
