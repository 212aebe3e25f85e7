//! The FLATTEN stop: close every open position of every user, DRY and LIVE, then nothing trades.
//!
//! One sweep ([`sweep`]) serves every way the stop is pulled: `/emergency_stop flatten` runs it at
//! once, and the every-minute `tpsl` tick runs it while the stored level is FLATTEN (so a level an
//! operator wrote with the AWS CLI is noticed within a minute). Each sweep:
//!
//! 1. follows the stop in one run record ([`FlattenRun`]): when it began, who pulled it and every
//!    position found live since;
//! 2. queues one `Flatten` intent per user with live positions, named by the run and the user, so
//!    repeated and overlapping sweeps create each intent once; a user whose flatten ended with
//!    positions still open (a failed close) gets a new attempt, up to [`MAX_ATTEMPTS`] in all;
//! 3. reports "n of m positions closed; failures: …" to whoever pulled it (or every configured
//!    admin) whenever the counts or failures change, once per change whatever runs concurrently.
//!
//! The closes are ordinary pipeline exits: they run under every stop level, and closing a LIVE
//! position on Avantis removes its TP/SL (they are fields of the trade). Vanta rests no limit
//! orders on the venue, so there are none to cancel. Entries queued before the stop are refused by
//! the pipeline (and, in LIVE, at the signature by [`crate::gate`]).

use std::collections::{BTreeMap, BTreeSet};

use sha2::{Digest, Sha256};
use vanta_domain::DomainResult;
use vanta_domain::exec::{ExecMode, FlattenRun, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, PositionId, TelegramUserId, derived_id};
use vanta_domain::intent::{Action, CreateOutcome, Intent, IntentState, Origin};
use vanta_domain::ports::OutgoingMessage;
use vanta_domain::position::Position;

use crate::Deps;
use crate::outbox::{banner, enqueue, html_escape};

/// Flatten intents per user and stop: the first and at most two retries.
pub const MAX_ATTEMPTS: u32 = 3;

/// How long a progress report is remembered as sent.
const REPORT_TTL: std::time::Duration = std::time::Duration::from_secs(7 * 24 * 3600);

/// The `by` of flatten intents when an operator pulled the stop with the AWS CLI (no Telegram id).
pub const CLI_OPERATOR: TelegramUserId = TelegramUserId(0);

/// What a sweep found and did.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlattenReport {
    /// Whether the stored stop is FLATTEN.
    pub active: bool,
    /// Positions found live during this stop (m).
    pub targets: usize,
    /// Of those, closed by now (n).
    pub closed: usize,
    /// Flatten intents this sweep created (one per user and attempt; a repeat creates none).
    pub queued: usize,
    /// Why positions are still open, per user.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<String>,
    /// The progress line, when this sweep sent it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported: Option<String>,
}

/// The id of the `attempt`-th flatten intent of `user` in `run`.
pub fn intent_id(run: &FlattenRun, user: TelegramUserId, attempt: u32) -> IntentId {
    derived_id("flat", &[&run_key(run), &user.to_string(), &attempt.to_string()])
}

fn run_key(run: &FlattenRun) -> String {
    format!("{}:{}", run.activation, run.started_at.millis())
}

/// Runs one sweep (see the module docs). `Err` only when the stop or the positions cannot be read.
pub async fn sweep(deps: &Deps) -> DomainResult<FlattenReport> {
    let now = deps.clock.now();
    let control = deps.store.get_exec_control().await?;
    let stored = deps.store.get_flatten_run().await?;
    let Some(control) = control.filter(|c| c.stop == StopLevel::Flatten) else {
        if let Some(mut run) = stored.filter(|r| r.ended_at.is_none()) {
            run.ended_at = Some(now);
            deps.store.put_flatten_run(&run).await?;
            tracing::warn!(activation = run.activation, "FLATTEN released; the sweep stops");
        }
        return Ok(FlattenReport::default());
    };
    let mut run = match stored {
        Some(r) if r.ended_at.is_none() => r,
        _ => {
            tracing::warn!(version = control.version, by = ?control.updated_by, "FLATTEN stop seen: closing every position");
            FlattenRun { activation: control.version, started_at: now, by: control.updated_by, targets: BTreeSet::new(), ended_at: None }
        }
    };
    let live = deps.store.live_positions().await?;
    let mut by_user: BTreeMap<TelegramUserId, Vec<Position>> = BTreeMap::new();
    for p in live {
        run.targets.insert((p.user, p.id.clone()));
        by_user.entry(p.user).or_default().push(p);
    }
    // Record the targets before queueing, so a report never counts fewer than were queued.
    if let Some(other) = deps.store.get_flatten_run().await?.filter(|r| r.activation == run.activation && r.started_at == run.started_at) {
        run.targets.extend(other.targets);
    }
    deps.store.put_flatten_run(&run).await?;

    let mut report = FlattenReport { active: true, ..FlattenReport::default() };
    for (uid, positions) in &by_user {
        match ensure_intent(deps, &run, *uid, positions).await {
            Ok(step) => {
                report.queued += usize::from(step.queued);
                if let Some(f) = step.failure {
                    report.failures.push(format!("user {uid}: {f}"));
                }
            }
            Err(e) => {
                tracing::warn!(user = %uid, error = %e, "flatten intent not queued; the next tick tries again");
                report.failures.push(format!("user {uid}: not queued yet ({e})"));
            }
        }
    }
    let exec = deps.effective_exec().await;
    if exec.mode != ExecMode::Live && by_user.values().flatten().any(|p| p.mode == ExecMode::Live) {
        // The gate signs nothing in DRY, so LIVE closes wait: say so rather than stall silently.
        report.failures.push(
            "LIVE positions cannot close while the effective mode is DRY (nothing is signed); keep the mode LIVE with the FLATTEN stop"
                .into(),
        );
    }
    let still: BTreeSet<(TelegramUserId, PositionId)> = by_user.values().flatten().map(|p| (p.user, p.id.clone())).collect();
    report.targets = run.targets.len();
    report.closed = run.targets.iter().filter(|t| !still.contains(t)).count();
    report.reported = progress(deps, &run, &report).await;
    Ok(report)
}

/// What [`ensure_intent`] did for one user.
struct Step {
    /// A new intent was created and queued.
    queued: bool,
    failure: Option<String>,
}

/// Makes sure `user` has a flatten intent under way for this stop: queues the first, re-sends one
/// not yet picked up, and after a flatten that ended with positions still open queues the next
/// attempt (at most [`MAX_ATTEMPTS`]).
async fn ensure_intent(deps: &Deps, run: &FlattenRun, uid: TelegramUserId, positions: &[Position]) -> DomainResult<Step> {
    let Some(user) = deps.store.get_user(uid).await? else {
        return Ok(Step { queued: false, failure: Some("no such user; its positions cannot be closed by Vanta".into()) });
    };
    let mut last_failure: Option<String> = None;
    for attempt in 0..MAX_ATTEMPTS {
        let id = intent_id(run, uid, attempt);
        match deps.store.get_intent(&id).await? {
            None => {
                // Only a position that nothing is closing yet is worth a new attempt.
                if attempt > 0 && !positions.iter().any(|p| p.status == vanta_domain::position::PositionStatus::Open) {
                    return Ok(Step { queued: false, failure: last_failure });
                }
                let origin = Origin::Admin { by: run.by.unwrap_or(CLI_OPERATOR) };
                let hash = derived_id("h", &[&run_key(run), &uid.to_string(), &attempt.to_string()]).as_str().to_owned();
                let intent = Intent::new(id.clone(), uid, origin, Action::Flatten, hash, deps.clock.now());
                let (created, send) = match deps.store.create_intent(&intent).await? {
                    CreateOutcome::Created => (true, true),
                    CreateOutcome::Duplicate(i) => (false, i.state == IntentState::Received),
                    CreateOutcome::Mismatch(_) => (false, false),
                };
                if send {
                    enqueue(deps, &user, &id).await?;
                    tracing::warn!(user = %uid, attempt, intent = %id, positions = positions.len(), "flatten queued");
                }
                let failure = last_failure.map(|f| format!("retrying (attempt {} of {MAX_ATTEMPTS}) after: {f}", attempt + 1));
                return Ok(Step { queued: created, failure });
            }
            Some(i) if !i.state.is_final() => {
                if i.state == IntentState::Received {
                    enqueue(deps, &user, &id).await?; // not picked up yet; the queue and the pipeline drop repeats
                }
                let failure = last_failure.map(|f| format!("retrying (attempt {} of {MAX_ATTEMPTS}) after: {f}", attempt + 1));
                return Ok(Step { queued: false, failure });
            }
            Some(i) => {
                last_failure = Some(match i.state {
                    IntentState::Settled => "a position was still open after its flatten settled".to_owned(),
                    _ => i.reason.unwrap_or_else(|| format!("flatten {}", i.state.as_str())),
                });
            }
        }
    }
    Ok(Step {
        queued: false,
        failure: Some(format!(
            "still open after {MAX_ATTEMPTS} attempts (last: {}); close it by hand",
            last_failure.unwrap_or_else(|| "unknown".into())
        )),
    })
}

/// Sends the progress line when it changed since the last one sent for this stop (a marker per
/// line, so overlapping sweeps send it once). Returns the line when this sweep sent it.
async fn progress(deps: &Deps, run: &FlattenRun, r: &FlattenReport) -> Option<String> {
    let line = if r.closed == r.targets {
        match r.targets {
            0 => "🧯 <b>FLATTEN</b>: no open positions. Nothing trades until /emergency_resume.".to_owned(),
            m => format!("🧯 <b>FLATTEN</b>: {m} of {m} positions closed. Nothing trades until /emergency_resume."),
        }
    } else {
        let mut line = format!("🧯 <b>FLATTEN</b>: {} of {} positions closed", r.closed, r.targets);
        if !r.failures.is_empty() {
            line.push_str("; failures: ");
            line.push_str(&html_escape(&r.failures.join("; ")));
        }
        line.push('.');
        line
    };
    let now = deps.clock.now();
    let key = format!("flatten-report:{}:{}", run_key(run), hex::encode(Sha256::digest(line.as_bytes())));
    match deps.store.mark_once(&key, now, now.plus(REPORT_TTL)).await {
        Ok(true) => {}
        Ok(false) => return None,
        Err(e) => {
            tracing::warn!(error = %e, "flatten progress not reported (marker unavailable)");
            return None;
        }
    }
    let recipients: Vec<TelegramUserId> = match run.by.filter(|b| deps.config.is_admin(*b)) {
        Some(by) => vec![by],
        None => deps.config.admin_ids.iter().copied().collect(),
    };
    if recipients.is_empty() {
        tracing::warn!(progress = %line, "no admin to report FLATTEN progress to (ADMIN_USER_IDS is empty)");
    }
    let mode = deps.effective_exec().await.mode;
    for admin in recipients {
        let msg = OutgoingMessage::text(ChatId(admin.0), format!("{} · {line}", banner(mode)));
        if let Some(queue) = &deps.notices {
            // Through the notifier, like every notice: delivered late rather than never.
            let notice = crate::notifier::Notice { user: admin, chat: msg.chat, html: msg.html.clone() };
            match crate::notifier::enqueue(queue.as_ref(), &notice).await {
                Ok(()) => continue,
                Err(e) => tracing::warn!(admin = %admin, error = %e, "flatten progress not queued; sending it directly"),
            }
        }
        if let Err(e) = deps.chat.send(&msg).await {
            tracing::warn!(admin = %admin, error = %e, "flatten progress not delivered");
        }
    }
    tracing::warn!(closed = r.closed, targets = r.targets, failures = r.failures.len(), "flatten progress");
    Some(line)
}

/// The `tpsl` tick's call: a sweep whose failure is logged (the next tick tries again), never
/// fatal to the tick.
pub async fn on_tick(deps: &Deps) -> Option<FlattenReport> {
    match sweep(deps).await {
        Ok(r) => r.active.then_some(r),
        Err(e) => {
            tracing::error!(error = %e, "flatten sweep failed; the next tick tries again");
            None
        }
    }
}
