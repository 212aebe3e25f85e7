//! Operator commands. Admins (`ADMIN_USER_IDS`, super-admins included) see `/status`, `/health`,
//! switch to `/exec DRY` and `/flatten_all` (both confirmed); only super-admins (`SUPER_ADMIN_IDS`)
//! switch to `/exec LIVE` and pull and release the emergency stop (`/emergency_stop flatten`
//! also starts the flatten sweep of [`crate::flatten`]). The stop and the mode live in the shared
//! `exec_mode` item (optimistic locking), so every function instance sees them — not in one
//! process's memory.
//!
//! Admin confirmations carry no intent: the ask writes a marker `tg-admin:<nonce>:<user>:<kind>`
//! that expires with the confirmation; a press first burns `tg-admin-used:<nonce>:<presser>`
//! (so each presser gets one try) and then requires the ask's marker, under the presser's own id,
//! to be still live.

use std::collections::BTreeSet;

use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::intent::{Action, CreateOutcome, Intent, Origin};
use vanta_domain::{DomainError, DomainResult};

use super::ctx::{CONFIRM_TTL, Ctx, DEDUP_TTL};
use super::render::ago;
use super::ui::{Answer, button, edit, nonce};
use crate::Deps;
use crate::pipeline::{self, banner, derived_id};

const NOT_ADMIN: &str = "⛔ This command is for Vanta's operators only.";
const NOT_SUPER: &str = "⛔ Only super-admins can pull or release the emergency stop.";
const NOT_SUPER_LIVE: &str = "⛔ Only super-admins can switch to LIVE. Admins may switch to DRY (<code>/exec DRY</code>).";

fn ask_key(n: &str, user: i64, kind: &str) -> String {
    format!("tg-admin:{n}:{user}:{kind}")
}

/// Asks the admin to confirm `kind` (`live`, `dry`, `flat`).
async fn ask(ctx: &Ctx<'_>, kind: &str, html: String) -> DomainResult<()> {
    let n = nonce();
    let now = ctx.deps.clock.now();
    ctx.deps.store.mark_once(&ask_key(&n, ctx.user.id.0, kind), now, now.plus(CONFIRM_TTL)).await?;
    let buttons = vec![vec![button("✅ Confirm", format!("a:{kind}:{n}")), button("✖ Cancel", format!("ax:{kind}:{n}"))]];
    ctx.reply_buttons(format!("{html}\n\n<i>Confirm within {} minutes.</i>", CONFIRM_TTL.as_secs() / 60), buttons).await;
    Ok(())
}

pub(super) async fn confirm(ctx: &Ctx<'_>, kind: &str, n: &str, message_id: Option<i64>, yes: bool) -> DomainResult<Answer> {
    let deps = ctx.deps;
    if !ctx.is_admin() {
        tracing::warn!(presser = %ctx.user.id, "non-admin pressed an admin confirmation");
        return Ok(Answer::alert("This button belongs to someone else; nothing was done."));
    }
    if n.len() != 32 || !n.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Ok(Answer::alert("This button is no longer valid."));
    }
    let now = deps.clock.now();
    if !deps.store.mark_once(&format!("tg-admin-used:{n}:{}", ctx.user.id), now, now.plus(DEDUP_TTL)).await? {
        return Ok(Answer::toast("Already handled."));
    }
    // `false` = the ask's marker for this presser and kind is still live.
    let expired_or_foreign = deps.store.mark_once(&ask_key(n, ctx.user.id.0, kind), now, now).await?;
    if expired_or_foreign {
        return Ok(Answer::alert("This confirmation expired or is not yours; nothing was done."));
    }
    if !yes {
        edit(ctx, message_id, "✖ Cancelled; nothing changed.".to_owned()).await;
        return Ok(Answer::toast("Cancelled"));
    }
    let text = match kind {
        "live" if !ctx.is_super_admin() => {
            // Asked by a super-admin, pressed by someone else (or their power was withdrawn since).
            tracing::warn!(presser = %ctx.user.id, "LIVE confirmation refused: not a super-admin");
            return Ok(Answer::alert("Only super-admins can switch to LIVE; nothing was done."));
        }
        "live" | "dry" => {
            let mode = if kind == "live" { ExecMode::Live } else { ExecMode::Dry };
            let c = write_control(deps, ctx, |c| c.mode = mode).await?;
            tracing::warn!(by = %ctx.user.id, mode = mode.as_str(), version = c.version, "exec mode changed from Telegram");
            let eff = deps.effective_exec().await;
            format!(
                "✅ Stored exec mode is now <b>{}</b>. Effective: {}{}",
                mode,
                banner(eff.mode),
                eff.why.map(|w| format!(" ({})", super::render::esc(&w))).unwrap_or_default()
            )
        }
        "flat" => {
            let n_users = flatten_all(deps, ctx, n).await?;
            tracing::warn!(by = %ctx.user.id, users = n_users, "flatten-all queued from Telegram");
            format!("✅ Flatten queued for {n_users} user(s) with open positions. Each is told when their positions close.")
        }
        _ => return Ok(Answer::alert("This button is no longer valid.")),
    };
    edit(ctx, message_id, text).await;
    Ok(Answer::toast("Done"))
}

/// Reads, changes and writes the control item under optimistic locking (a few attempts).
async fn write_control(deps: &Deps, ctx: &Ctx<'_>, change: impl Fn(&mut ExecControl)) -> DomainResult<ExecControl> {
    let mut last = DomainError::Unavailable("exec mode not written".into());
    for _ in 0..3 {
        let now = deps.clock.now();
        let current = deps.store.get_exec_control().await?.unwrap_or_else(|| ExecControl::initial(now));
        let mut next = current.clone();
        change(&mut next);
        next.updated_by = Some(ctx.user.id);
        next.updated_at = now;
        next.version = current.version.saturating_add(1);
        match deps.store.put_exec_control(&next).await {
            Ok(()) => return Ok(next),
            Err(e @ DomainError::Conflict(_)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// One Flatten intent per user with live positions.
async fn flatten_all(deps: &Deps, ctx: &Ctx<'_>, n: &str) -> DomainResult<usize> {
    let users: BTreeSet<_> = deps.store.live_positions().await?.into_iter().map(|p| p.user).collect();
    let mut queued = 0;
    for uid in users {
        let Some(user) = deps.store.get_user(uid).await? else { continue };
        let id = derived_id("flat", &[n, &uid.to_string()]);
        let origin = Origin::Admin { by: ctx.user.id };
        let intent = Intent::new(id.clone(), uid, origin, Action::Flatten, format!("flatten-all:{n}"), deps.clock.now());
        match deps.store.create_intent(&intent).await? {
            CreateOutcome::Created | CreateOutcome::Duplicate(_) => {}
            CreateOutcome::Mismatch(_) => continue,
        }
        pipeline::enqueue(deps, &user, &id).await?;
        queued += 1;
    }
    Ok(queued)
}

pub(super) async fn status(ctx: &Ctx<'_>) -> DomainResult<()> {
    if !ctx.is_admin() {
        ctx.reply(NOT_ADMIN).await;
        return Ok(());
    }
    let deps = ctx.deps;
    let eff = deps.effective_exec().await;
    let stored = match deps.store.get_exec_control().await {
        Ok(Some(c)) => format!(
            "{} / stop {} (v{}, by {}, {} ago)",
            c.mode,
            c.stop.as_str(),
            c.version,
            c.updated_by.map_or_else(|| "deployment".to_owned(), |u| u.to_string()),
            ago(deps.clock.now().since(c.updated_at) / 1000)
        ),
        Ok(None) => "not set (DRY)".to_owned(),
        Err(_) => "unreadable (DRY)".to_owned(),
    };
    let live = deps.store.live_positions().await.map_or_else(|_| "unknown".to_owned(), |p| p.len().to_string());
    let sweep = match deps.store.get_flatten_run().await {
        Ok(Some(r)) if r.ended_at.is_none() => format!(
            "\nFLATTEN sweep: since {} ago, {} position(s) found live, {live} still live",
            ago(deps.clock.now().since(r.started_at) / 1000),
            r.targets.len()
        ),
        _ => String::new(),
    };
    let depths = match &deps.queue_stats {
        Some(q) => match q.depths().await {
            Ok(d) => format!(
                "Queue: {} waiting, {} in flight · DLQ: {}{}",
                d.queued,
                d.in_flight,
                d.dead_letters,
                if d.dead_letters > 0 { " ⚠️" } else { "" }
            ),
            Err(e) => format!("Queue depth: unavailable ({})", super::render::esc(&e.to_string())),
        },
        None => "Queue depth: not readable by this function".to_owned(),
    };
    let now = deps.clock.now();
    let runs = match deps.store.heartbeats().await {
        Ok(h) if h.is_empty() => "no scheduled run recorded yet".to_owned(),
        Ok(h) => h.iter().map(|(job, at)| format!("{job} {} ago", ago(now.since(*at) / 1000))).collect::<Vec<_>>().join(", "),
        Err(_) => "unreadable".to_owned(),
    };
    let limits = match crate::limits::effective_limits(deps.store.as_ref(), &deps.ops).await {
        Ok(e) => super::render::esc(&crate::limits::describe(&e, &deps.ops)),
        Err(_) => "Operator limits: stored item unreadable (entries are refused until it reads)".to_owned(),
    };
    ctx.reply(format!(
        "🛠 <b>Status</b>\n\
         Effective: {} · stop {}{}\n\
         Stored exec_mode: {stored}\n\
         Deployment: COPY_EXECUTION_MODE={} EMERGENCY_STOP={}\n\
         Live venue here: {}\n\
         Live positions: {live}{sweep}\n\
         {depths}\n\
         Last scheduled runs: {runs}\n\
         {limits}",
        banner(eff.mode),
        eff.stop.as_str(),
        eff.why.map(|w| format!(" ({})", super::render::esc(&w))).unwrap_or_default(),
        deps.config.exec.mode,
        deps.config.exec.emergency_stop,
        if deps.live.is_some() { "configured" } else { "none (trades run DRY)" },
    ))
    .await;
    Ok(())
}

pub(super) async fn health(ctx: &Ctx<'_>) -> DomainResult<()> {
    if !ctx.is_admin() {
        ctx.reply(NOT_ADMIN).await;
        return Ok(());
    }
    let deps = ctx.deps;
    let store = if deps.store.get_exec_control().await.is_ok() { "✅ reachable" } else { "❌ unreachable" };
    let eff = deps.effective_exec().await;
    let market = match deps.venue(eff.mode).1.pairs().await {
        Ok(c) => {
            let mut fresh = 0;
            for p in c.iter().take(10) {
                let q = deps.prices.quotes(&p.symbol).await.unwrap_or_default();
                if vanta_domain::risk_engine::reference_price(
                    &p.symbol,
                    &q,
                    deps.clock.now(),
                    deps.ops.max_price_age_secs,
                    deps.ops.max_price_deviation,
                )
                .is_ok()
                {
                    fresh += 1;
                }
            }
            format!("✅ {} pairs; fresh agreeing prices for {fresh} of the first {}", c.len(), c.len().min(10))
        }
        Err(e) => format!("❌ {}", super::render::esc(&e.to_string())),
    };
    let m = &deps.metrics;
    ctx.reply(format!(
        "❤️ <b>Health</b> · v{}\nUptime (this instance): {}\nStore: {store}\nMarkets: {market}\nExec: {} · stop {}\nUpdates seen: {} (duplicates {}), worker messages {} (failed {})",
        env!("CARGO_PKG_VERSION"),
        ago(i64::try_from(deps.started.elapsed().as_secs()).unwrap_or(i64::MAX)),
        banner(eff.mode),
        eff.stop.as_str(),
        m.telegram_updates.load(std::sync::atomic::Ordering::Relaxed),
        m.telegram_duplicates.load(std::sync::atomic::Ordering::Relaxed),
        m.worker_messages.load(std::sync::atomic::Ordering::Relaxed),
        m.worker_failures.load(std::sync::atomic::Ordering::Relaxed),
    ))
    .await;
    Ok(())
}

pub(super) async fn exec(ctx: &Ctx<'_>, args: &[String]) -> DomainResult<()> {
    if !ctx.is_admin() {
        ctx.reply(NOT_ADMIN).await;
        return Ok(());
    }
    let Some(mode) = args.first().and_then(|a| a.parse::<ExecMode>().ok()) else {
        ctx.reply("Usage: <code>/exec DRY</code> or <code>/exec LIVE</code>").await;
        return Ok(());
    };
    if mode == ExecMode::Live && !ctx.is_super_admin() {
        tracing::warn!(user = %ctx.user.id, "/exec LIVE refused: not a super-admin");
        ctx.reply(NOT_SUPER_LIVE).await;
        return Ok(());
    }
    let mut warn = String::new();
    if mode == ExecMode::Live {
        if ctx.deps.config.exec.mode == ExecMode::Dry {
            warn.push_str("\n⚠️ The deployment is DRY (COPY_EXECUTION_MODE), so trades stay DRY until it is redeployed LIVE.");
        }
        if ctx.deps.config.exec.emergency_stop {
            warn.push_str("\n⚠️ EMERGENCY_STOP is set in the deployment: entries stay paused.");
        }
    }
    let kind = if mode == ExecMode::Live { "live" } else { "dry" };
    let icon = if mode == ExecMode::Live { "🔴" } else { "🧪" };
    ask(ctx, kind, format!("{icon} <b>Switch every trade path to {mode}?</b>{warn}")).await
}

pub(super) async fn emergency(ctx: &Ctx<'_>, stop: bool, args: &[String]) -> DomainResult<()> {
    if !ctx.is_super_admin() {
        tracing::warn!(user = %ctx.user.id, stop, "emergency command refused: not a super-admin");
        ctx.reply(NOT_SUPER).await;
        return Ok(());
    }
    let level = if !stop {
        StopLevel::None
    } else if args.first().is_some_and(|a| a.eq_ignore_ascii_case("flatten")) {
        StopLevel::Flatten
    } else {
        StopLevel::PauseEntries
    };
    let c = write_control(ctx.deps, ctx, |c| c.stop = level).await?;
    tracing::warn!(by = %ctx.user.id, stop = level.as_str(), version = c.version, "emergency stop changed from Telegram");
    crate::emf::emergency_stop_set(ctx.deps, level);
    // FLATTEN starts the sweep now (the tpsl tick carries it on); a release ends its run.
    let sweep = crate::flatten::sweep(ctx.deps).await;
    let eff = ctx.deps.effective_exec().await;
    let text = match level {
        StopLevel::Flatten => match sweep {
            Ok(r) => format!(
                "🛑 <b>Emergency stop (FLATTEN)</b>: nothing new trades. Closing every position now: {} user(s) queued, {} of {} positions closed so far. Progress follows here; /emergency_resume releases.",
                r.queued, r.closed, r.targets
            ),
            Err(e) => format!(
                "🛑 <b>Emergency stop (FLATTEN)</b> stored: nothing new trades. The closing sweep could not start now ({}); the next tpsl tick (within a minute) starts it.",
                super::render::esc(&e.to_string())
            ),
        },
        StopLevel::None if eff.stop != StopLevel::None => {
            format!("🟡 Stored stop released, but the deployment still says EMERGENCY_STOP: effective stop {}.", eff.stop.as_str())
        }
        StopLevel::None => "🟢 Emergency stop released: new entries are allowed again.".to_owned(),
        StopLevel::PauseEntries => "🛑 <b>Emergency stop</b>: no new entries anywhere. Closes, TP/SL and reductions still run. /flatten_all closes everything; /emergency_resume releases.".to_owned(),
    };
    ctx.reply(format!("{} · {text}", banner(eff.mode))).await;
    Ok(())
}

pub(super) async fn flatten(ctx: &Ctx<'_>) -> DomainResult<()> {
    if !ctx.is_admin() {
        ctx.reply(NOT_ADMIN).await;
        return Ok(());
    }
    let live = ctx.deps.store.live_positions().await?;
    let users: BTreeSet<_> = live.iter().map(|p| p.user).collect();
    let eff = ctx.deps.effective_exec().await;
    ask(ctx, "flat", format!("{} · 🧯 <b>Close all {} live positions of {} user(s)?</b>", banner(eff.mode), live.len(), users.len())).await
}
