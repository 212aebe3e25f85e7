//! Market data, answered in groups too: `/markets`, `/price`.

use vanta_domain::DomainResult;
use vanta_domain::market::PairSymbol;
use vanta_domain::money::Price;

use crate::pipeline::banner;
use crate::telegram::ctx::Ctx;
use crate::telegram::render::{ago, esc, usd};
use crate::telegram::ui::mode;

pub(super) async fn mark(ctx: &Ctx<'_>, pair: &PairSymbol) -> Option<Price> {
    ctx.deps.prices.quotes(pair).await.ok()?.into_iter().max_by_key(|q| q.published_at).map(|q| q.price)
}

pub(super) async fn markets(ctx: &Ctx<'_>) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let catalog = ctx.deps.venue(m).1.pairs().await?;
    let mut out = format!("{} · 📊 <b>Markets</b> (price · max leverage · min size · open fee)\n", banner(m));
    for p in catalog.iter().filter(|p| p.listed) {
        let price = mark(ctx, &p.symbol).await.map_or_else(|| "no price".to_owned(), |x| x.to_string());
        let note = if p.close_only { " · close-only" } else { "" };
        out.push_str(&format!(
            "<b>{}</b> {price} · {}x · {} · {}%{note}\n",
            esc(p.symbol.as_str()),
            p.max_leverage,
            usd(p.min_position),
            p.open_fee
        ));
    }
    ctx.reply(out).await;
    Ok(())
}

pub(super) async fn price(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/price btc</code>").await;
        return Ok(());
    };
    let pair = match PairSymbol::parse(raw) {
        Ok(p) => p,
        Err(e) => {
            ctx.reply(format!("⛔ {}", esc(&e.to_string()))).await;
            return Ok(());
        }
    };
    let deps = ctx.deps;
    let now = deps.clock.now();
    let quotes = deps.prices.quotes(&pair).await.unwrap_or_default();
    if quotes.is_empty() {
        ctx.reply(format!("No price for {} (unknown pair or feed down; see /markets).", esc(pair.as_str()))).await;
        return Ok(());
    }
    let mut out = format!("💲 <b>{}</b>\n", esc(pair.as_str()));
    for q in &quotes {
        out.push_str(&format!("{}: {} ({} old)\n", esc(&q.source), q.price, ago(now.since(q.published_at) / 1000)));
    }
    match vanta_domain::risk_engine::reference_price(&pair, &quotes, now, deps.ops.max_price_age_secs, deps.ops.max_price_deviation) {
        Ok(p) => out.push_str(&format!("Trading reference: {p}")),
        Err(r) => out.push_str(&format!("⚠️ Not tradable right now: {}", esc(&r.to_string()))),
    }
    ctx.reply(out).await;
    Ok(())
}
