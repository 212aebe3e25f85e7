//! Automation: signal sources (`/signals`), `/pause` and `/resume`, copy trading (`/follow`,
//! `/unfollow`, `/following`, `/copy`) and being followed (`/leader`).

use vanta_domain::ids::SourceId;
use vanta_domain::money::{Leverage, Usdc};
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource};
use vanta_domain::{DomainError, DomainResult};

use crate::pipeline::{self, banner};
use crate::telegram::ctx::Ctx;
use crate::telegram::parse;
use crate::telegram::render::{ago, esc, pct, usd};
use crate::telegram::ui::{mode, reply_banner};
use crate::{copy, signals};

pub(super) async fn sources(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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
pub(super) async fn seal_source_secret(ctx: &Ctx<'_>, id: &SourceId, secret: &str) -> Option<vanta_domain::sealed::SealedSecret> {
    match ctx.deps.source_secrets.seal(id, &SecretText::new(secret)).await {
        Ok(sealed) => Some(sealed),
        Err(e) => {
            tracing::warn!(source = %id, error = %e, "signal source secret not sealed; nothing stored");
            ctx.reply("⛔ Signal sources cannot be created or rotated right now (the secrets key is unavailable). Nothing was changed; try again later.").await;
            None
        }
    }
}

pub(super) fn source_instructions(name: &str, secret: &str, token: &str, rotated: bool) -> String {
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

pub(super) async fn pause(ctx: &Ctx<'_>, paused: bool) -> DomainResult<()> {
    let mut u = ctx.user.clone();
    u.automation_paused = paused;
    ctx.deps.store.update_user(&u).await?;
    let text = if paused {
        "⏸ Automation paused: signals and copy trades will not open positions. Your open positions and their TP/SL stay as they are. /resume to restart."
    } else {
        "▶️ Automation resumed: signals and copy trades run again."
    };
    reply_banner(ctx, mode(ctx.deps).await, text).await;
    Ok(())
}

pub(super) fn leader_name(l: &LeaderRef) -> String {
    match l {
        LeaderRef::User(u) => format!("Vanta user {u}"),
        LeaderRef::Address(a) => format!("<code>{a}</code>"),
    }
}

pub(super) fn describe_follow(f: &Follow) -> String {
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

pub(super) async fn follow(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let deps = ctx.deps;
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/follow &lt;Vanta user id | 0x address&gt; [fixed=25] [max_lev=10] [per_trade=100] [daily=500] [counter] [adopt]</code>").await;
        return Ok(());
    };
    let leader = match parse::parse_leader(raw, ctx.user.id, ctx.user.trader) {
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
        if let Err(why) = parse::apply_copy_setting(&mut f, opt) {
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

pub(super) async fn unfollow(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    let Some(raw) = args.first() else {
        ctx.reply("Usage: <code>/unfollow &lt;Vanta user id | 0x address&gt;</code> (see /following)").await;
        return Ok(());
    };
    let leader = match parse::parse_leader(raw, ctx.user.id, ctx.user.trader) {
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

pub(super) async fn following(ctx: &Ctx<'_>) -> DomainResult<()> {
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

pub(super) async fn copy_settings(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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
    let leader = match parse::parse_leader(raw, ctx.user.id, ctx.user.trader) {
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
        if let Err(why) = parse::apply_copy_setting(&mut f, opt) {
            ctx.reply(format!("⛔ {why}")).await;
            return Ok(());
        }
    }
    ctx.deps.store.put_follow(&f).await?;
    ctx.reply(format!("✅ {}", describe_follow(&f))).await;
    Ok(())
}

pub(super) async fn leader(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
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
