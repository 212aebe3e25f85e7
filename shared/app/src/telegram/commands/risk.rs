//! Risk limits: `/risk`, `/setrisk`.

use vanta_domain::DomainResult;

use crate::telegram::ctx::Ctx;
use crate::telegram::render::{esc, pct, usd};

pub(super) async fn risk(ctx: &Ctx<'_>) -> DomainResult<()> {
    let ops = &ctx.deps.operator_limits().await?;
    let p = ctx.user.risk.bounded_by(ops);
    let pairs = if p.allowed_pairs.is_empty() {
        "all".to_owned()
    } else {
        p.allowed_pairs.iter().map(|x| esc(x.as_str())).collect::<Vec<_>>().join(", ")
    };
    ctx.reply(format!(
        "🛡 <b>Your risk limits</b> (operator maximum in brackets)\n\
         max_leverage: {}x [{}x]\n\
         max_position: {} [{}]\n\
         max_open_positions: {} [{}]\n\
         daily_loss_limit: {} [{}]\n\
         loss_streak: {} → cooldown_minutes: {}\n\
         max_daily_trades: {} [{}]\n\
         max_daily_volume: {} [{}]\n\
         max_slippage: {}% [{}%] · slippage (default): {}%\n\
         min_liq_distance: {} [at least {}]\n\
         allowed_pairs: {pairs}\n\
         Change with <code>/setrisk key=value</code>.",
        p.max_leverage,
        ops.max_leverage,
        usd(p.max_position),
        usd(ops.max_position),
        p.max_open_positions,
        ops.max_open_positions,
        usd(p.daily_loss_limit),
        usd(ops.max_daily_loss),
        p.loss_streak,
        p.cooldown_minutes,
        p.max_daily_trades,
        ops.max_daily_trades,
        usd(p.max_daily_volume),
        usd(ops.max_daily_volume),
        p.max_slippage,
        ops.max_slippage,
        p.default_slippage,
        pct(p.min_liq_distance),
        pct(ops.min_liq_distance),
    ))
    .await;
    Ok(())
}

pub(super) async fn setrisk(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    if args.is_empty() {
        ctx.reply("Usage: <code>/setrisk key=value [key=value …]</code>, e.g. <code>/setrisk max_leverage=10 daily_loss_limit=200</code>. /risk shows the keys.").await;
        return Ok(());
    }
    // The limits in force now: the stored item may have tightened the deployment's.
    let ops = match ctx.deps.operator_limits().await {
        Ok(ops) => ops,
        Err(e) => {
            tracing::warn!(error = %e, "operator limits unreadable; /setrisk refused");
            ctx.reply("⛔ The operator limits cannot be read right now; nothing was changed. Try again shortly.").await;
            return Ok(());
        }
    };
    let mut policy = ctx.user.risk.clone();
    for opt in args {
        let Some((k, v)) = opt.split_once('=') else {
            ctx.reply(format!("⛔ '{}' is not key=value; nothing was changed.", esc(opt))).await;
            return Ok(());
        };
        if let Err(e) = policy.set(k, v, &ops) {
            ctx.reply(format!("⛔ {}; nothing was changed.", esc(&e.to_string()))).await;
            return Ok(());
        }
    }
    let mut u = ctx.user.clone();
    u.risk = policy;
    ctx.deps.store.update_user(&u).await?;
    ctx.reply(format!("✅ Updated: {}. /risk shows all limits.", args.iter().map(|a| esc(a)).collect::<Vec<_>>().join(", "))).await;
    Ok(())
}
