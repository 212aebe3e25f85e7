//! Onboarding: `/start`, `/bind` and `/verify` (the wallet proof), `/wallet`, `/balance`.

use std::str::FromStr;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::TraderAddress;
use vanta_domain::money::{SignedUsdc, Usdc};
use vanta_domain::user::User;
use vanta_domain::{DomainError, DomainResult};

use super::markets::mark;
use crate::pipeline::{self, banner};
use crate::telegram::ctx::Ctx;
use crate::telegram::render::{self, esc, signed_usd, usd};
use crate::telegram::ui::mode;
use crate::wallet;

pub(super) async fn start(ctx: &Ctx<'_>) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    ctx.reply(format!(
        "👋 <b>Welcome to Vanta</b> — trade Veranta (formerly Avantis) perpetuals on Base from Telegram.\n\
         Mode now: {}. In DRY every trade is simulated on a paper account at oracle prices.\n\n\
         1. /bind &lt;your wallet address&gt; and sign the message to prove it is yours — then register Vanta's delegate with Veranta (it can trade, never withdraw).\n\
         2. /markets to see pairs, /long or /open to trade — every trade asks you to confirm.\n\
         3. /positions, /pnl, /risk to keep an eye on things.\n\n/help lists everything.",
        banner(m)
    ))
    .await;
    Ok(())
}

pub(super) fn delegate_line(ctx: &Ctx<'_>, user: &User) -> String {
    match crate::delegates::address_for(ctx.deps, user) {
        Some(d) => format!("Your Vanta delegate address: <code>{d}</code>"),
        None => "Vanta's delegate address: not configured in this deployment (ask the operators).".to_owned(),
    }
}

/// Asks Veranta whether the delegate may trade for `trader`, in words.
pub(super) async fn delegation_line(ctx: &Ctx<'_>, user: &User, trader: TraderAddress) -> String {
    let (Some(delegate), Some(venue)) = (crate::delegates::address_for(ctx.deps, user), ctx.deps.live.as_ref()) else {
        return "Delegation check: not possible here (no Veranta connection configured); LIVE trades need the delegate registered."
            .to_owned();
    };
    let delegation = venue.delegation(trader, delegate).await;
    crate::emf::delegation_checked(ctx.deps, user.id, &delegation);
    match delegation {
        Ok(Some(d)) if d.can_trade => match d.expires_at {
            Some(t) => format!("Delegation: ✅ active (until {} UTC).", render::utc(t)),
            None => "Delegation: ✅ active.".to_owned(),
        },
        Ok(Some(d)) if d.enabled => {
            format!(
                "Delegation: ⚠️ registered, but it may not sign trades; re-register it with trading allowed at {}.",
                wallet::DELEGATE_UI_URL
            )
        }
        Ok(Some(_)) => format!(
            "Delegation: ❌ not registered (or expired) yet — LIVE trades will fail until you register it at {}.",
            wallet::DELEGATE_UI_URL
        ),
        Ok(None) => "Delegation check: the venue cannot tell.".to_owned(),
        Err(e) => format!("Delegation check failed for now ({}); try /wallet later.", esc(&e.to_string())),
    }
}

pub(super) async fn bind(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/bind 0xYourWalletAddress</code> — then sign the message I send to prove the wallet is yours.").await;
        return Ok(());
    };
    let address = match TraderAddress::from_str(raw) {
        Ok(a) => a,
        Err(e) => {
            ctx.reply(format!("⛔ {}", esc(&e.to_string()))).await;
            return Ok(());
        }
    };
    if ctx.user.trader == Some(address) && ctx.user.wallet_verified() {
        ctx.reply(format!("✅ <code>{address}</code> is already your verified wallet. /wallet shows it and the delegation.")).await;
        return Ok(());
    }
    let c = match wallet::issue(ctx.deps, &ctx.user, address).await {
        Ok(c) => c,
        Err(r) if r.status == 503 => return Err(DomainError::Unavailable(r.reason)),
        Err(r) => {
            ctx.reply(format!("⛔ Not bound: {}.", esc(&r.reason))).await;
            return Ok(());
        }
    };
    let how = match wallet::site(ctx.deps).link(&c.nonce) {
        Some(link) => format!(
            "Open <a href=\"{}\">the signing page</a> in a browser with your wallet, or sign the message elsewhere (personal_sign) and send <code>/verify 0x…signature</code>.",
            esc(&link)
        ),
        None => "Sign it with personal_sign (for example in your wallet's \"sign message\" tool) and send <code>/verify 0x…signature</code>. (This deployment has no signing page: PUBLIC_BASE_URL is not set.)".to_owned(),
    };
    let keep = match ctx.user.trader.filter(|t| *t != address) {
        Some(t) => format!("\nUntil then your wallet stays <code>{t}</code>."),
        None => String::new(),
    };
    ctx.reply(format!(
        "🔏 <b>Prove that <code>{address}</code> is yours</b>\nSign this message with that wallet. Signing is free (no transaction); it expires in {} minutes, at {} UTC, and works once.\n<pre>{}</pre>\n{how}{keep}",
        vanta_domain::wallet::CHALLENGE_TTL.as_secs() / 60,
        render::utc(c.expires_at),
        esc(&c.message)
    ))
    .await;
    Ok(())
}

pub(super) async fn verify(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/verify 0x&lt;signature&gt;</code> — the personal_sign signature of the message /bind sent you.").await;
        return Ok(());
    };
    match wallet::verify_pasted(ctx.deps, &ctx.user, raw).await {
        Ok((u, c)) => {
            let delegation = delegation_line(ctx, &u, c.address).await;
            ctx.reply(format!("{}\n{delegation}", wallet::verified_html(ctx.deps, &u, &c.address))).await;
            Ok(())
        }
        Err(r) if r.status == 503 => Err(DomainError::Unavailable(r.reason)),
        Err(r) => {
            ctx.reply(format!("⛔ Not verified: {}.", esc(&r.reason))).await;
            Ok(())
        }
    }
}

pub(super) async fn wallet(ctx: &Ctx<'_>) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let bound = match ctx.user.trader {
        None => "not bound (use /bind)".to_owned(),
        Some(a) if ctx.user.wallet_verified() => format!("<code>{a}</code> ✅ verified"),
        Some(a) => format!(
            "<code>{a}</code> ⚠️ <b>not verified</b> — LIVE trading, /balance and being followed need proof: send <code>/bind {a}</code> and sign the message"
        ),
    };
    let now = ctx.deps.clock.now();
    let pending = ctx
        .deps
        .store
        .user_challenges(ctx.user.id, 1)
        .await?
        .into_iter()
        .find(|c| {
            c.state_at(now) == vanta_domain::wallet::ChallengeState::Open
                && !(ctx.user.wallet_verified() && ctx.user.trader == Some(c.address))
        })
        .map(|c| format!("\nPending proof: <code>{}</code>, until {} UTC (/verify 0x…signature)", c.address, render::utc(c.expires_at)))
        .unwrap_or_default();
    let leader = if ctx.user.leader_opt_in { "on (others may /follow you)" } else { "off" };
    let paper = if ctx.user.trader.is_none() {
        format!("\nDRY paper account: <code>{}</code>", pipeline::account(&ctx.user))
    } else {
        String::new()
    };
    let delegation = match ctx.user.trader {
        Some(t) => format!("\n{}", delegation_line(ctx, &ctx.user, t).await),
        None => String::new(),
    };
    ctx.reply(format!(
        "{} · 👛 <b>Wallet</b>\nTrading account: {bound}{pending}{paper}\n{}{delegation}\nAutomation: {}\nLeader: {leader}",
        banner(m),
        delegate_line(ctx, &ctx.user),
        if ctx.user.automation_paused { "paused (/resume)" } else { "on" }
    ))
    .await;
    Ok(())
}

pub(super) async fn balance(ctx: &Ctx<'_>) -> DomainResult<()> {
    let deps = ctx.deps;
    let m = mode(deps).await;
    if let Some(t) = ctx.user.trader.filter(|_| !ctx.user.wallet_verified()) {
        ctx.reply(format!(
            "{} · ⛔ Balances are shown only for a verified wallet. Prove <code>{t}</code> is yours: <code>/bind {t}</code> and sign the message.",
            banner(m)
        ))
        .await;
        return Ok(());
    }
    let live = deps.store.user_positions(ctx.user.id, true).await?;
    let mut margin = Usdc::ZERO;
    let mut unrealised = SignedUsdc::ZERO;
    let mut priced = true;
    for p in &live {
        margin = margin.checked_add(p.collateral)?;
        match mark(ctx, &p.pair).await {
            Some(mk) => unrealised = unrealised.checked_add(p.pnl_at(mk)?)?,
            None => priced = false,
        }
    }
    let (_, venue) = deps.venue(m);
    let equity = venue.equity(pipeline::account(&ctx.user)).await.ok().flatten();
    let equity_line = match (m, equity) {
        (ExecMode::Dry, Some(e)) => format!("Paper equity (DRY): {}", usd(e)),
        (_, Some(e)) => format!("Equity on Veranta: {}", usd(e)),
        (_, None) => "Equity: unknown (the venue does not report it)".to_owned(),
    };
    let wallet_line = match (&ctx.user.trader, &deps.live) {
        (Some(t), Some(v)) => match v.wallet_usdc(*t).await {
            Ok(Some(u)) => format!("USDC in your wallet: {}", usd(u)),
            Ok(None) => "USDC in your wallet: the venue cannot tell".to_owned(),
            Err(e) => format!("USDC in your wallet: unavailable for now ({})", esc(&e.to_string())),
        },
        (None, _) => "USDC in your wallet: bind your wallet first (/bind)".to_owned(),
        (Some(_), None) => "USDC in your wallet: no Veranta connection in this deployment".to_owned(),
    };
    ctx.reply(format!(
        "{} · 💰 <b>Balance</b>\n{equity_line}\nMargin in use: {} in {} position(s)\nUnrealised PnL: {}{}\n{wallet_line}",
        banner(m),
        usd(margin),
        live.len(),
        signed_usd(unrealised),
        if priced { "" } else { " (some prices unavailable)" }
    ))
    .await;
    Ok(())
}
