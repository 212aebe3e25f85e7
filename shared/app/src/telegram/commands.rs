//! Every command, by name. Replies are HTML with user text escaped; trading replies carry the
//! DRY/LIVE banner; anything that trades goes through [`flows::propose`] (a pending intent and a
//! confirmation), never to a venue.

use std::str::FromStr;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{Action, IntentState, OpenOrder, Origin};
use vanta_domain::market::{PairSymbol, Side};
use vanta_domain::money::{Bps, Leverage, Price, SignedUsdc, Usdc};
use vanta_domain::position::Position;
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};

use super::flows::{self, describe_action, mode, propose, propose_open};
use super::render::{ago, bar_chart_png, esc, pct, signed_usd, usd};
use super::update::Command;
use super::{CONFIRM_TTL, Ctx, admin};
use crate::pipeline::{self, banner};
use crate::{copy, signals, wallet};

/// The command menu registered with `setMyCommands` (operator commands are left out of the menu).
pub const COMMANDS: &[(&str, &str)] = &[
    ("start", "Welcome and first steps"),
    ("help", "All commands"),
    ("bind", "Bind your Veranta wallet: /bind 0x…"),
    ("verify", "Prove your wallet: /verify 0x<signature>"),
    ("wallet", "Your wallet, delegate and mode"),
    ("balance", "Equity and margin in use"),
    ("markets", "Pairs, prices, max leverage, min size"),
    ("price", "Price of a pair: /price btc"),
    ("long", "Open a long: /long btc 100 5x [tp=.. sl=..]"),
    ("short", "Open a short: /short eth 50 10x"),
    ("open", "Open a position step by step"),
    ("close", "Close: /close [pair|all]"),
    ("positions", "Open positions with PnL and liquidation"),
    ("tp", "Set take-profit: /tp btc 120000"),
    ("sl", "Set stop-loss: /sl btc 95000"),
    ("trail", "Move the stop to a distance: /trail btc 2"),
    ("orders", "TP/SL orders"),
    ("history", "Recent trades and requests"),
    ("sync", "Read your wallet on Veranta now"),
    ("pnl", "PnL with a chart: /pnl [day|week|month]"),
    ("signals", "Signal sources: list, new, rotate"),
    ("pause", "Pause your automation"),
    ("resume", "Resume your automation"),
    ("follow", "Copy a leader: /follow <id|0x…>"),
    ("unfollow", "Stop copying a leader"),
    ("following", "Leaders you copy"),
    ("copy", "Copy settings"),
    ("leader", "Let others copy you: /leader on|off"),
    ("risk", "Your risk limits"),
    ("setrisk", "Change a limit: /setrisk max_leverage=10"),
];

/// Commands that touch no account, answered in groups too.
const GROUP_SAFE: &[&str] = &["start", "help", "markets", "price"];

pub(super) async fn run(ctx: &Ctx<'_>, cmd: &Command) -> DomainResult<()> {
    let name = cmd.name.as_str();
    if !ctx.private && !GROUP_SAFE.contains(&name) {
        ctx.reply("🔒 For your safety, Vanta acts on your account only in a private chat with the bot. Message me directly.").await;
        return Ok(());
    }
    let args = &cmd.args;
    let result = match name {
        "start" => start(ctx).await,
        "help" => help(ctx).await,
        "bind" => bind(ctx, args).await,
        "verify" => verify(ctx, args).await,
        "leader" => leader(ctx, args).await,
        "wallet" => wallet(ctx).await,
        "balance" => balance(ctx).await,
        "markets" => markets(ctx).await,
        "price" => price(ctx, args).await,
        "long" => trade(ctx, Side::Long, args).await,
        "short" => trade(ctx, Side::Short, args).await,
        "open" => {
            let (text, rows) = flows::open_menu(ctx.deps).await?;
            ctx.reply_buttons(text, rows).await;
            Ok(())
        }
        "close" => close(ctx, args).await,
        "positions" => positions(ctx).await,
        "tp" | "sl" => tpsl(ctx, name == "tp", args).await,
        "trail" => trail(ctx, args).await,
        "orders" => orders(ctx).await,
        "history" => history(ctx).await,
        "sync" => sync(ctx).await,
        "pnl" => pnl(ctx, args).await,
        "signals" => sources(ctx, args).await,
        "pause" | "resume" => pause(ctx, name == "pause").await,
        "follow" => follow(ctx, args).await,
        "unfollow" => unfollow(ctx, args).await,
        "following" => following(ctx).await,
        "copy" => copy_settings(ctx, args).await,
        "risk" => risk(ctx).await,
        "setrisk" => setrisk(ctx, args).await,
        "status" => admin::status(ctx).await,
        "health" => admin::health(ctx).await,
        "exec" => admin::exec(ctx, args).await,
        "emergency_stop" => admin::emergency(ctx, true, args).await,
        "emergency_resume" => admin::emergency(ctx, false, args).await,
        "flatten_all" => admin::flatten(ctx).await,
        other => {
            ctx.reply(format!("Unknown command /{}.\n\n{}", esc(other), help_text(ctx.is_admin()))).await;
            Ok(())
        }
    };
    if let Err(e) = &result {
        let text = if e.is_retryable() {
            "⚠️ Temporarily unavailable; nothing was done. Please try again in a moment.".to_owned()
        } else {
            format!("⛔ {}", esc(&e.to_string()))
        };
        ctx.reply(text).await;
    }
    result
}

fn help_text(admin: bool) -> String {
    let mut s = String::from(
        "<b>Vanta commands</b>\n\
         <b>Start</b>: /start · /bind &lt;0x address&gt; · /verify &lt;signature&gt; · /wallet · /balance\n\
         <b>Markets</b>: /markets · /price &lt;pair&gt;\n\
         <b>Trade</b>: /long or /short &lt;pair&gt; &lt;collateral&gt; &lt;leverage&gt;x [tp=..] [sl=..] [slip=..]\n\
         \u{20} e.g. <code>/long btc 100 5x tp=120000 sl=95000</code>\n\
         /open (step by step) · /close [pair [long|short]|all] · /positions\n\
         /tp &lt;pair&gt; &lt;price&gt; · /sl &lt;pair&gt; &lt;price&gt; · /trail &lt;pair&gt; &lt;percent&gt;\n\
         /orders · /history · /pnl [day|week|month]\n\
         <b>Automation</b>: /signals [new|rotate &lt;name&gt;] · /pause · /resume\n\
         /follow &lt;user id|0x…&gt; · /unfollow · /following · /copy · /leader on|off\n\
         <b>Risk</b>: /risk · /setrisk key=value\n\
         Every trade asks for a confirmation first.",
    );
    if admin {
        s.push_str("\n<b>Operators</b>: /status · /health · /exec DRY (LIVE: super-admins) · /flatten_all · /emergency_stop [flatten] · /emergency_resume (super-admins)");
    }
    s
}

async fn start(ctx: &Ctx<'_>) -> DomainResult<()> {
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

async fn help(ctx: &Ctx<'_>) -> DomainResult<()> {
    ctx.reply(help_text(ctx.is_admin())).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Onboarding
// ---------------------------------------------------------------------------------------------

fn delegate_line(ctx: &Ctx<'_>, user: &User) -> String {
    match crate::delegates::address_for(ctx.deps, user) {
        Some(d) => format!("Your Vanta delegate address: <code>{d}</code>"),
        None => "Vanta's delegate address: not configured in this deployment (ask the operators).".to_owned(),
    }
}

/// Asks Veranta whether the delegate may trade for `trader`, in words.
async fn delegation_line(ctx: &Ctx<'_>, user: &User, trader: TraderAddress) -> String {
    let (Some(delegate), Some(venue)) = (crate::delegates::address_for(ctx.deps, user), ctx.deps.live.as_ref()) else {
        return "Delegation check: not possible here (no Veranta connection configured); LIVE trades need the delegate registered."
            .to_owned();
    };
    let delegation = venue.delegation(trader, delegate).await;
    crate::emf::delegation_checked(ctx.deps, user.id, &delegation);
    match delegation {
        Ok(Some(d)) if d.can_trade => match d.expires_at {
            Some(t) => format!("Delegation: ✅ active (until {} UTC).", super::render::utc(t)),
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

async fn bind(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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
        super::render::utc(c.expires_at),
        esc(&c.message)
    ))
    .await;
    Ok(())
}

async fn verify(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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

async fn leader(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let on = match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
        Some("on") => true,
        Some("off") => false,
        _ => {
            let state = if ctx.user.leader_opt_in {
                format!("on: others can follow you with <code>/follow {}</code>", ctx.user.id)
            } else {
                "off: nobody can follow you".to_owned()
            };
            ctx.reply(format!("👑 Leader: {state}.\nUsage: <code>/leader on</code> · <code>/leader off</code>")).await;
            return Ok(());
        }
    };
    if on && !ctx.user.wallet_verified() {
        ctx.reply("⛔ Only a verified wallet can be followed: /bind your wallet and sign the message first.").await;
        return Ok(());
    }
    let mut u = ctx.user.clone();
    u.leader_opt_in = on;
    ctx.deps.store.update_user(&u).await?;
    if !on && ctx.user.leader_opt_in {
        // Followers learn why copying stopped (best effort: a failed notice changes nothing).
        let m = mode(ctx.deps).await;
        for f in ctx.deps.store.followers(&LeaderRef::User(ctx.user.id)).await.unwrap_or_default() {
            if let Ok(Some(follower)) = ctx.deps.store.get_user(f.follower).await {
                let text = format!(
                    "👥 Vanta user {} is no longer a leader: their new trades are not copied. Copies you hold still follow their exits. <code>/unfollow {}</code> removes the follow.",
                    ctx.user.id, ctx.user.id
                );
                pipeline::notify(ctx.deps, &follower, m, &text).await;
            }
        }
    }
    ctx.reply(if on {
        format!(
            "👑 You are a leader: other Vanta users can <code>/follow {}</code> and copy your new trades (they see each trade's pair, side, size and time). <code>/leader off</code> stops it.",
            ctx.user.id
        )
    } else {
        "👑 Leader off: nobody can follow you, and your followers stop copying your new trades. Copies they already hold still follow your exits.".to_owned()
    })
    .await;
    Ok(())
}

async fn wallet(ctx: &Ctx<'_>) -> DomainResult<()> {
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
        .map(|c| {
            format!("\nPending proof: <code>{}</code>, until {} UTC (/verify 0x…signature)", c.address, super::render::utc(c.expires_at))
        })
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

async fn balance(ctx: &Ctx<'_>) -> DomainResult<()> {
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

// ---------------------------------------------------------------------------------------------
// Markets
// ---------------------------------------------------------------------------------------------

async fn mark(ctx: &Ctx<'_>, pair: &PairSymbol) -> Option<Price> {
    ctx.deps.prices.quotes(pair).await.ok()?.into_iter().max_by_key(|q| q.published_at).map(|q| q.price)
}

async fn markets(ctx: &Ctx<'_>) -> DomainResult<()> {
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

async fn price(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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

// ---------------------------------------------------------------------------------------------
// Trading
// ---------------------------------------------------------------------------------------------

/// Parses `<pair> <collateral> <leverage>x [tp=..] [sl=..] [slip=..]`.
pub fn parse_open(side: Side, args: &[String]) -> Result<OpenOrder, String> {
    let usage = || {
        format!(
            "Usage: <code>/{} &lt;pair&gt; &lt;collateral USDC&gt; &lt;leverage&gt;x [tp=price] [sl=price] [slip=percent]</code>, e.g. <code>/{} btc 100 5x</code>",
            side.as_str(),
            side.as_str()
        )
    };
    let [pair, collateral, leverage, options @ ..] = args else { return Err(usage()) };
    let e = |x: DomainError| esc(&x.to_string());
    let pair = PairSymbol::parse(pair).map_err(e)?;
    let collateral = Usdc::from_str(collateral.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?;
    if collateral.is_zero() {
        return Err("collateral must be more than 0".into());
    }
    let leverage = Leverage::from_str(leverage).map_err(|x| esc(&x.to_string()))?;
    let mut order = OpenOrder { pair, side, collateral, leverage, tp: None, sl: None, slippage: None };
    for opt in options {
        let Some((k, v)) = opt.split_once('=') else { return Err(format!("'{}' is not key=value. {}", esc(opt), usage())) };
        match k.to_ascii_lowercase().as_str() {
            "tp" => order.tp = Some(Price::from_str(v).map_err(|x| esc(&x.to_string()))?),
            "sl" => order.sl = Some(Price::from_str(v).map_err(|x| esc(&x.to_string()))?),
            "slip" | "slippage" => {
                order.slippage = Some(vanta_domain::money::SlippageP::from_bps(
                    Bps::from_percent_str(v.trim_end_matches('%')).map_err(|x| esc(&x.to_string()))?,
                ))
            }
            other => return Err(format!("unknown option '{}' (tp, sl, slip)", esc(other))),
        }
    }
    Ok(order)
}

async fn trade(ctx: &Ctx<'_>, side: Side, args: &[String]) -> DomainResult<()> {
    match parse_open(side, args) {
        Ok(order) => propose_open(ctx, order).await,
        Err(why) => {
            ctx.reply(format!("{} · ⛔ {why}", banner(mode(ctx.deps).await))).await;
            Ok(())
        }
    }
}

/// The user's live positions on a pair, and the side to act on (the only one, or the one named).
async fn pick_side(
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

async fn close(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let live = ctx.deps.store.user_positions(ctx.user.id, true).await?;
    if live.is_empty() {
        ctx.reply(format!("{} · You have no open positions.", banner(m))).await;
        return Ok(());
    }
    match args.first().map(|a| a.to_ascii_lowercase()) {
        None => {
            let mut rows: Vec<Vec<vanta_domain::ports::Button>> = live
                .iter()
                .take(20)
                .map(|p| {
                    vec![flows::button(
                        format!("✖ {} {} {}x {}", p.pair.base(), p.side.as_str(), p.leverage, usd(p.collateral)),
                        format!("p:c:{}", p.id),
                    )]
                })
                .collect();
            rows.push(vec![flows::button("✖ Close ALL", "ca")]);
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
                    ctx.reply(format!("{} · ⛔ {why}", banner(m))).await;
                    Ok(())
                }
            }
        }
    }
}

async fn positions(ctx: &Ctx<'_>) -> DomainResult<()> {
    let m = mode(ctx.deps).await;
    let live = ctx.deps.store.user_positions(ctx.user.id, true).await?;
    if live.is_empty() {
        ctx.reply(format!("{} · No open positions. /long, /short or /open to start.", banner(m))).await;
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
        ctx.reply_buttons(text, flows::position_buttons(p)).await;
    }
    if live.len() > 20 {
        ctx.reply(format!("…and {} more (not shown).", live.len() - 20)).await;
    }
    Ok(())
}

/// `/sync`: the reconciler reads the user's own proven wallet now (at most once per 30 s).
async fn sync(ctx: &Ctx<'_>) -> DomainResult<()> {
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

async fn tpsl(ctx: &Ctx<'_>, is_tp: bool, args: &[String]) -> DomainResult<()> {
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
            ctx.reply(format!("{} · ⛔ {why}", banner(m))).await;
            Ok(())
        }
    }
}

async fn trail(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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
            ctx.reply(format!("{} · ⛔ {why}", banner(m))).await;
            Ok(())
        }
    }
}

async fn orders(ctx: &Ctx<'_>) -> DomainResult<()> {
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

async fn history(ctx: &Ctx<'_>) -> DomainResult<()> {
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

/// Realised PnL per bucket over the period, oldest first: (buckets, bucket length in ms).
pub fn pnl_buckets(positions: &[Position], now_ms: i64, buckets: usize, bucket_ms: i64) -> Vec<i64> {
    let mut out = vec![0i64; buckets];
    let start = now_ms - bucket_ms * i64::try_from(buckets).unwrap_or(0);
    for p in positions {
        let (Some(at), Some(pnl)) = (p.closed_at, p.realised_pnl) else { continue };
        if at.millis() <= start || at.millis() > now_ms {
            continue;
        }
        let idx = usize::try_from((at.millis() - start - 1) / bucket_ms).unwrap_or(0);
        if let Some(slot) = out.get_mut(idx) {
            *slot = slot.saturating_add(pnl.raw());
        }
    }
    out
}

async fn pnl(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let deps = ctx.deps;
    let m = mode(deps).await;
    let (label, buckets, bucket_ms) = match args.first().map(|a| a.to_ascii_lowercase()).as_deref() {
        None | Some("day") => ("last 24 hours", 24usize, 3_600_000i64),
        Some("week") => ("last 7 days", 7, 86_400_000),
        Some("month") => ("last 30 days", 30, 86_400_000),
        Some(_) => {
            ctx.reply("Usage: <code>/pnl [day|week|month]</code>").await;
            return Ok(());
        }
    };
    let all = deps.store.user_positions(ctx.user.id, false).await?;
    let now = deps.clock.now().millis();
    let series = pnl_buckets(&all, now, buckets, bucket_ms);
    let realised = SignedUsdc::from_raw(series.iter().fold(0i64, |a, b| a.saturating_add(*b)));
    let mut unrealised = SignedUsdc::ZERO;
    for p in all.iter().filter(|p| p.status.is_live()) {
        if let Some(mk) = mark(ctx, &p.pair).await {
            unrealised = unrealised.checked_add(p.pnl_at(mk)?)?;
        }
    }
    let trades =
        all.iter().filter(|p| p.closed_at.is_some_and(|t| t.millis() > now - bucket_ms * i64::try_from(buckets).unwrap_or(0))).count();
    let caption = format!(
        "{} · 📈 <b>PnL, {label}</b>\nRealised: {} over {trades} closed position(s) (after fees)\nUnrealised now: {}",
        banner(m),
        signed_usd(realised),
        signed_usd(unrealised)
    );
    ctx.photo(bar_chart_png(&series, 360, 180), caption).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Automation
// ---------------------------------------------------------------------------------------------

async fn sources(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let deps = ctx.deps;
    match (args.first().map(|a| a.to_ascii_lowercase()).as_deref(), args.get(1)) {
        (None | Some("list"), _) => {
            let list = deps.store.user_sources(ctx.user.id).await?;
            let mut out = String::from("📡 <b>Your signal sources</b>\n");
            if list.is_empty() {
                out.push_str("None yet.\n");
            }
            for s in &list {
                out.push_str(&format!(
                    "• <code>{}</code> {} · created {} ago{}\n",
                    esc(s.id.as_str()),
                    if s.active { "active" } else { "disabled" },
                    ago(deps.clock.now().since(s.created_at) / 1000),
                    s.rotated_at.map(|r| format!(" · rotated {} ago", ago(deps.clock.now().since(r) / 1000))).unwrap_or_default()
                ));
            }
            out.push_str("\n<code>/signals new &lt;name&gt;</code> creates one; <code>/signals rotate &lt;name&gt;</code> replaces its secret and TradingView URL.\nSecrets are shown once, when created or rotated.");
            ctx.reply(out).await;
            Ok(())
        }
        (Some(verb @ ("new" | "rotate")), Some(name)) => {
            let id = match SourceId::parse(name) {
                Ok(id) => id,
                Err(e) => {
                    ctx.reply(format!("⛔ {}", esc(&e.to_string()))).await;
                    return Ok(());
                }
            };
            let secret = signals::random_secret();
            let token = signals::random_secret();
            let now = deps.clock.now();
            if verb == "new" {
                let Some(sealed) = seal_source_secret(ctx, &id, &secret).await else { return Ok(()) };
                let s = SignalSource {
                    id: id.clone(),
                    owner: ctx.user.id,
                    secret: sealed.into(),
                    tv_token_hash: signals::token_hash(&token),
                    active: true,
                    created_at: now,
                    rotated_at: None,
                };
                match deps.store.create_source(&s).await {
                    Ok(()) => {}
                    Err(DomainError::Conflict(_)) => {
                        ctx.reply("⛔ That name is taken; choose another.").await;
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            } else {
                // Only the owner's own sources: anyone else's look like they do not exist.
                let Some(mut s) = deps.store.get_source(&id).await?.filter(|s| s.owner == ctx.user.id) else {
                    ctx.reply(format!("⛔ You have no source named <code>{}</code>.", esc(id.as_str()))).await;
                    return Ok(());
                };
                // Sealed afresh (a new data key), which also seals a legacy plain secret.
                let Some(sealed) = seal_source_secret(ctx, &id, &secret).await else { return Ok(()) };
                s.secret = sealed.into();
                s.tv_token_hash = signals::token_hash(&token);
                s.rotated_at = Some(now);
                match deps.store.rotate_source(ctx.user.id, &s).await {
                    Ok(()) => {}
                    Err(DomainError::Forbidden(_) | DomainError::NotFound(_)) => {
                        ctx.reply(format!("⛔ You have no source named <code>{}</code>.", esc(id.as_str()))).await;
                        return Ok(());
                    }
                    Err(e) => return Err(e),
                }
            }
            tracing::info!(user = %ctx.user.id, source = %id, verb, "signal source credentials issued");
            ctx.reply(source_instructions(id.as_str(), &secret, &token, verb == "rotate")).await;
            Ok(())
        }
        _ => {
            ctx.reply("Usage: <code>/signals</code> · <code>/signals new &lt;name&gt;</code> · <code>/signals rotate &lt;name&gt;</code>")
                .await;
            Ok(())
        }
    }
}

/// Seals a new source secret; None (after telling the user nothing changed) when it cannot be
/// sealed now: a secret is never stored in the clear.
async fn seal_source_secret(ctx: &Ctx<'_>, id: &SourceId, secret: &str) -> Option<vanta_domain::sealed::SealedSecret> {
    match ctx.deps.source_secrets.seal(id, &SecretText::new(secret)).await {
        Ok(sealed) => Some(sealed),
        Err(e) => {
            tracing::warn!(source = %id, error = %e, "signal source secret not sealed; nothing stored");
            ctx.reply("⛔ Signal sources cannot be created or rotated right now (the secrets key is unavailable). Nothing was changed; try again later.").await;
            None
        }
    }
}

fn source_instructions(name: &str, secret: &str, token: &str, rotated: bool) -> String {
    let n = esc(name);
    let body = format!(
        r#"{{"source":"{n}","id":"alert-1","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5"}}"#
    );
    let tv = format!(
        r#"{{"source":"{n}","id":"{{{{timenow}}}}","action":"open","pair":"{{{{ticker}}}}","side":"long","collateral_usdc":"100","leverage":"5"}}"#
    );
    format!(
        "🔑 <b>Source <code>{n}</code> {}</b> — these are shown <b>once</b>; store them now.\n\
         Secret (HMAC key): <code>{secret}</code>\n\n\
         <b>Signed request</b> (<code>$VANTA_API</code> = your deployment's API URL):\n\
         <pre>BODY='{body}'\n\
         TS=$(date +%s)\n\
         SIG=$(printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')\n\
         curl -X POST \"$VANTA_API/signals\" -H \"X-Vanta-Timestamp: $TS\" -H \"X-Vanta-Signature: sha256=$SIG\" -d \"$BODY\"</pre>\n\
         <b>TradingView</b> webhook URL:\n<code>$VANTA_API/signals/tv/{token}</code>\n\
         Alert message:\n<pre>{tv}</pre>\n\
         Actions: open, close, flip, update_tpsl, pause, flatten. Each id runs at most once.",
        if rotated { "rotated (the old secret and URL stopped working)" } else { "created" },
        body = esc(&body),
        tv = esc(&tv),
    )
}

async fn pause(ctx: &Ctx<'_>, paused: bool) -> DomainResult<()> {
    let mut u = ctx.user.clone();
    u.automation_paused = paused;
    ctx.deps.store.update_user(&u).await?;
    let text = if paused {
        "⏸ Automation paused: signals and copy trades will not open positions. Your open positions and their TP/SL stay as they are. /resume to restart."
    } else {
        "▶️ Automation resumed: signals and copy trades run again."
    };
    ctx.reply(format!("{} · {text}", banner(mode(ctx.deps).await))).await;
    Ok(())
}

fn parse_leader(ctx: &Ctx<'_>, raw: &str) -> Result<LeaderRef, String> {
    let leader = if raw.starts_with("0x") || raw.starts_with("0X") {
        LeaderRef::Address(TraderAddress::from_str(raw).map_err(|e| esc(&e.to_string()))?)
    } else {
        LeaderRef::User(TelegramUserId::from_str(raw).map_err(|e| esc(&e.to_string()))?)
    };
    if leader == LeaderRef::User(ctx.user.id) || ctx.user.trader.is_some_and(|t| leader == LeaderRef::Address(t)) {
        return Err("you cannot follow yourself".into());
    }
    Ok(leader)
}

fn leader_name(l: &LeaderRef) -> String {
    match l {
        LeaderRef::User(u) => format!("Vanta user {u}"),
        LeaderRef::Address(a) => format!("<code>{a}</code>"),
    }
}

/// Applies one `key=value` copy setting.
pub fn apply_copy_setting(f: &mut Follow, opt: &str) -> Result<(), String> {
    let (k, v) = opt.split_once('=').unwrap_or((opt, ""));
    match k.to_ascii_lowercase().as_str() {
        "fixed" => f.sizing = CopySizing::Fixed { collateral: Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))? },
        "ratio" => f.sizing = CopySizing::Ratio { ratio: Bps::from_percent_str(v.trim_end_matches('%')).map_err(|x| esc(&x.to_string()))? },
        "proportional" => f.sizing = CopySizing::Proportional,
        "max_lev" | "max_leverage" => f.max_leverage = Leverage::from_str(v).map_err(|x| esc(&x.to_string()))?,
        "per_trade" => f.per_trade_cap = Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?,
        "daily" => f.daily_cap = Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?,
        "counter" => f.counter = !matches!(v, "off" | "0" | "false" | "no"),
        "adopt" => f.adopt_existing = !matches!(v, "off" | "0" | "false" | "no"),
        "stop_after" => f.stop_after_losses = v.parse().map_err(|_| format!("'{}' is not a whole number", esc(v)))?,
        "max_dd" => f.max_drawdown = Usdc::from_str(v.trim_start_matches('$')).map_err(|x| esc(&x.to_string()))?,
        "on" => f.active = true,
        "off" => f.active = false,
        other => {
            return Err(format!(
                "unknown setting '{}' (fixed=USDC, ratio=PCT, proportional, max_lev=N, per_trade=USDC, daily=USDC, counter, adopt, stop_after=N, max_dd=USDC, on, off)",
                esc(other)
            ));
        }
    }
    Ok(())
}

fn describe_follow(f: &Follow) -> String {
    let sizing = match &f.sizing {
        CopySizing::Fixed { collateral } => format!("fixed {}", usd(*collateral)),
        CopySizing::Ratio { ratio } => format!("{} of the leader's collateral", pct(*ratio)),
        CopySizing::Proportional => "proportional to equity".to_owned(),
    };
    format!(
        "{} — {}: {sizing}, max {}x, per trade {}, daily {}{}{}{}{}",
        leader_name(&f.leader),
        if f.active { "active" } else { "stopped" },
        f.max_leverage,
        usd(f.per_trade_cap),
        usd(f.daily_cap),
        if f.counter { ", counter-trading" } else { "" },
        if f.adopt_existing { ", adopts open positions" } else { "" },
        if f.stop_after_losses > 0 { format!(", stops after {} losses", f.stop_after_losses) } else { String::new() },
        if f.max_drawdown.is_zero() { String::new() } else { format!(", stops at {} loss", usd(f.max_drawdown)) },
    )
}

async fn follow(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let deps = ctx.deps;
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/follow &lt;Vanta user id | 0x address&gt; [fixed=25] [max_lev=10] [per_trade=100] [daily=500] [counter] [adopt]</code>").await;
        return Ok(());
    };
    let leader = match parse_leader(ctx, raw) {
        Ok(l) => l,
        Err(why) => {
            ctx.reply(format!("⛔ {why}")).await;
            return Ok(());
        }
    };
    if let LeaderRef::User(u) = &leader {
        match deps.store.get_user(*u).await? {
            None => {
                ctx.reply("⛔ That is not a Vanta user.").await;
                return Ok(());
            }
            Some(l) if !l.leader_opt_in => {
                ctx.reply(format!("⛔ Vanta user {u} is not a leader: they have not opted in to be followed (<code>/leader on</code>)."))
                    .await;
                return Ok(());
            }
            Some(l) if !l.wallet_verified() => {
                ctx.reply(format!("⛔ Vanta user {u} cannot be followed yet: their wallet is not verified.")).await;
                return Ok(());
            }
            Some(_) => {}
        }
    }
    let mut f = Follow {
        follower: ctx.user.id,
        leader,
        sizing: CopySizing::Fixed { collateral: Usdc::from_whole(25)? },
        max_leverage: Leverage::from_whole(10)?,
        per_trade_cap: Usdc::from_whole(100)?,
        daily_cap: Usdc::from_whole(500)?,
        counter: false,
        adopt_existing: false,
        stop_after_losses: 0,
        max_drawdown: Usdc::ZERO,
        active: true,
        since: deps.clock.now(),
    };
    for opt in args.iter().skip(1) {
        if let Err(why) = apply_copy_setting(&mut f, opt) {
            ctx.reply(format!("⛔ {why}")).await;
            return Ok(());
        }
    }
    if let Some(why) = copy::follow_refusal(deps, ctx.user.id, &f.leader).await? {
        ctx.reply(format!("⛔ Not followed: {}.", esc(&why))).await;
        return Ok(());
    }
    deps.store.put_follow(&f).await?;
    let adopted = if f.adopt_existing { copy::adopt_existing(deps, &f).await.unwrap_or(0) } else { 0 };
    let m = mode(deps).await;
    ctx.reply(format!(
        "{} · 👥 Following {}\n{}\nOnly trades opened from now on are copied{}. Copies obey your /risk limits. /copy changes settings.",
        banner(m),
        leader_name(&f.leader),
        describe_follow(&f),
        if f.adopt_existing { format!("; {adopted} open position(s) adopted") } else { String::new() }
    ))
    .await;
    if let LeaderRef::Address(a) = f.leader {
        match crate::reconcile::watch_leader(ctx.deps, a).await {
            Ok(()) => ctx.reply("ℹ️ Vanta's reconciler now watches this Veranta address: its new trades and exits are copied within about a minute of happening.").await,
            Err(e) => {
                tracing::warn!(error = %e, "outside leader not registered with the reconciler");
                ctx.reply("⚠️ The follow is saved, but the address could not be put under watch just now: send the /follow again in a minute.").await
            }
        }
    }
    Ok(())
}

async fn unfollow(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/unfollow &lt;Vanta user id | 0x address&gt;</code> (see /following)").await;
        return Ok(());
    };
    let leader = match parse_leader(ctx, raw) {
        Ok(l) => l,
        Err(why) => {
            ctx.reply(format!("⛔ {why}")).await;
            return Ok(());
        }
    };
    let removed = ctx.deps.store.remove_follow(ctx.user.id, &leader).await?;
    ctx.reply(if removed {
        format!("✅ No longer following {}. Open copies stay open; close them with /close.", leader_name(&leader))
    } else {
        format!("You were not following {}.", leader_name(&leader))
    })
    .await;
    Ok(())
}

async fn following(ctx: &Ctx<'_>) -> DomainResult<()> {
    let list = ctx.deps.store.following(ctx.user.id).await?;
    let mut out = String::from("👥 <b>Leaders you copy</b>\n");
    if list.is_empty() {
        out.push_str("None. /follow &lt;user id | 0x address&gt; to start.");
    }
    for f in &list {
        out.push_str(&format!("• {}\n", describe_follow(f)));
    }
    ctx.reply(out).await;
    Ok(())
}

async fn copy_settings(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let Some(raw) = args.first() else {
        let list = ctx.deps.store.following(ctx.user.id).await?;
        let mut out = String::from("⚙️ <b>Copy settings</b>\n");
        for f in &list {
            out.push_str(&format!("• {}\n", describe_follow(f)));
        }
        out.push_str("Change with <code>/copy &lt;leader&gt; key=value …</code>: fixed=USDC, ratio=PCT, proportional, max_lev=N, per_trade=USDC, daily=USDC, counter, adopt, stop_after=N, max_dd=USDC, on, off.");
        ctx.reply(out).await;
        return Ok(());
    };
    let leader = match parse_leader(ctx, raw) {
        Ok(l) => l,
        Err(why) => {
            ctx.reply(format!("⛔ {why}")).await;
            return Ok(());
        }
    };
    let Some(mut f) = ctx.deps.store.following(ctx.user.id).await?.into_iter().find(|f| f.leader == leader) else {
        ctx.reply(format!("You are not following {}. /follow first.", leader_name(&leader))).await;
        return Ok(());
    };
    for opt in args.iter().skip(1) {
        if let Err(why) = apply_copy_setting(&mut f, opt) {
            ctx.reply(format!("⛔ {why}")).await;
            return Ok(());
        }
    }
    ctx.deps.store.put_follow(&f).await?;
    ctx.reply(format!("✅ {}", describe_follow(&f))).await;
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Risk
// ---------------------------------------------------------------------------------------------

async fn risk(ctx: &Ctx<'_>) -> DomainResult<()> {
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

async fn setrisk(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use vanta_domain::time::Timestamp;

    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_owned).collect()
    }

    #[test]
    fn parses_trade_commands_exactly() {
        let o = parse_open(Side::Long, &args("btc 100 5x tp=120000 sl=95000.5 slip=0.3")).unwrap();
        assert_eq!(o.pair.as_str(), "BTC/USD");
        assert_eq!(o.collateral, Usdc::from_raw(100_000_000));
        assert_eq!(o.leverage, Leverage::from_whole(5).unwrap());
        assert_eq!(o.tp, Some(Price::from_str("120000").unwrap()));
        assert_eq!(o.sl.unwrap().raw(), 950_005_000_000_000);
        assert_eq!(o.slippage.unwrap().to_bps_floor().raw(), 30);
        assert_eq!(parse_open(Side::Short, &args("ETH/USD $12.5 2.5X")).unwrap().collateral, Usdc::from_raw(12_500_000));
        for bad in [
            "btc",
            "btc 100",
            "btc abc 5x",
            "btc 100 0x",
            "btc 0 5x",
            "btc 100 5x tp",
            "btc 100 5x foo=1",
            "btc 1e3 5x",
            "btc 100 5x tp=-1",
        ] {
            assert!(parse_open(Side::Long, &args(bad)).is_err(), "{bad}");
        }
        // User text in errors comes back escaped.
        let e = parse_open(Side::Long, &args("btc 100 5x <b>=1")).unwrap_err();
        assert!(e.contains("&lt;b&gt;") && !e.contains("<b>="), "{e}");
    }

    #[test]
    fn copy_settings_parse() {
        let mut f = Follow {
            follower: TelegramUserId(1),
            leader: LeaderRef::User(TelegramUserId(2)),
            sizing: CopySizing::Proportional,
            max_leverage: Leverage::ONE,
            per_trade_cap: Usdc::ZERO,
            daily_cap: Usdc::ZERO,
            counter: false,
            adopt_existing: false,
            stop_after_losses: 0,
            max_drawdown: Usdc::ZERO,
            active: true,
            since: Timestamp(0),
        };
        for o in ["fixed=50", "max_lev=7x", "per_trade=80", "daily=$300", "counter", "stop_after=3", "off"] {
            apply_copy_setting(&mut f, o).unwrap();
        }
        assert_eq!(f.sizing, CopySizing::Fixed { collateral: Usdc::from_whole(50).unwrap() });
        assert_eq!(f.max_leverage, Leverage::from_whole(7).unwrap());
        assert!(f.counter && !f.active && f.stop_after_losses == 3);
        apply_copy_setting(&mut f, "ratio=50%").unwrap();
        assert_eq!(f.sizing, CopySizing::Ratio { ratio: Bps::new(5000).unwrap() });
        assert!(apply_copy_setting(&mut f, "yolo=1").is_err());
    }

    #[test]
    fn pnl_buckets_count_closes_in_their_hour() {
        let hour = 3_600_000;
        let now = 100 * hour;
        // From JSON, so fields added later with defaults do not break this test.
        let pos = |closed: i64, pnl: i64| -> Position {
            serde_json::from_value(serde_json::json!({
                "id": "p", "user": 1, "pair": "BTC/USD", "pair_index": 1, "trade_index": null, "side": "long",
                "collateral": "0", "leverage": "1", "open_price": "1", "tp": null, "sl": null, "mode": "DRY",
                "status": "CLOSED", "opened_by": "i", "opened_at": 0, "closed_at": closed, "close_price": null,
                "realised_pnl": SignedUsdc::from_raw(pnl), "fees": "0"
            }))
            .unwrap()
        };
        let b = pnl_buckets(&[pos(now, 5), pos(now - hour / 2, 1), pos(now - 23 * hour - 1, -3), pos(now - 25 * hour, 100)], now, 24, hour);
        assert_eq!(b.len(), 24);
        assert_eq!(b[23], 6);
        assert_eq!(b[0], -3);
        assert_eq!(b.iter().sum::<i64>(), 3);
    }
}
