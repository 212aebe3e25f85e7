//! `exec-mode`, `stop`, `resume` and `status`: the exec-control item, written through the same
//! store code the bot uses (`ControlStore::put_exec_control`, optimistic locking on `version`),
//! so every write increments the version and records when it was made. The CLI writes with
//! `updated_by` empty: the bot shows such a write as made by the deployment, and FLATTEN progress
//! of a CLI stop goes to every configured admin.

use std::fmt::Write as _;

use vanta_domain::exec::{ExecControl, ExecMode, StopLevel, effective_exec};
use vanta_domain::ports::{ControlStore, PositionStore};
use vanta_domain::time::Timestamp;
use vanta_domain::{DomainError, DomainResult};

use crate::settings::Settings;

/// UTC time as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn iso(t: Timestamp) -> String {
    let (y, mo, d, h, mi, s) = t.civil();
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}

/// Reads, changes and writes the control item under optimistic locking (a few attempts), as
/// the bot's admin commands do.
pub async fn write_control(
    store: &dyn ControlStore,
    now: Timestamp,
    change: impl Fn(&mut ExecControl),
) -> DomainResult<(Option<ExecControl>, ExecControl)> {
    let mut last = DomainError::Unavailable("exec mode not written".into());
    for _ in 0..3 {
        let before = store.get_exec_control().await?;
        let current = before.clone().unwrap_or_else(|| ExecControl::initial(now));
        let mut next = current.clone();
        change(&mut next);
        next.updated_by = None;
        next.updated_at = now;
        next.version = current.version.saturating_add(1);
        match store.put_exec_control(&next).await {
            Ok(()) => return Ok((before, next)),
            Err(e @ DomainError::Conflict(_)) => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

fn describe(c: &Option<ExecControl>) -> String {
    match c {
        None => "not set (DRY)".to_owned(),
        Some(c) => format!("{} / stop {} (v{})", c.mode, c.stop.as_str(), c.version),
    }
}

/// The audit line printed (and logged) for every write.
fn audit_line(what: &str, before: &Option<ExecControl>, after: &ExecControl) -> String {
    format!("{what}: {} -> {} at {} by vanta-ops", describe(before), describe(&Some(after.clone())), iso(after.updated_at))
}

pub async fn set_mode(settings: &Settings, store: &dyn ControlStore, now: Timestamp, mode: ExecMode, out: &mut String) -> DomainResult<()> {
    let (before, after) = write_control(store, now, |c| c.mode = mode).await?;
    let _ = writeln!(out, "{}", audit_line("exec mode", &before, &after));
    effective(settings, store, out).await;
    Ok(())
}

pub async fn set_stop(
    settings: &Settings,
    store: &dyn ControlStore,
    now: Timestamp,
    level: StopLevel,
    out: &mut String,
) -> DomainResult<()> {
    let (before, after) = write_control(store, now, |c| c.stop = level).await?;
    let _ = writeln!(out, "{}", audit_line("emergency stop", &before, &after));
    match level {
        StopLevel::Flatten => {
            let _ = writeln!(
                out,
                "FLATTEN: the tpsl tick starts the closing sweep within a minute; progress goes to every admin on Telegram. `vanta-ops status` shows it."
            );
            if after.mode == ExecMode::Dry {
                let _ = writeln!(
                    out,
                    "WARNING: the stored mode is DRY, so LIVE positions are not signed and cannot close. Run `vanta-ops exec-mode LIVE --yes` to let the closes through (entries stay refused under the stop)."
                );
            }
        }
        StopLevel::PauseEntries => {
            let _ = writeln!(out, "PAUSE_ENTRIES: no new exposure anywhere; closes, TP/SL and reductions still run.");
        }
        StopLevel::None => {
            if settings.config.exec.emergency_stop {
                let _ = writeln!(
                    out,
                    "WARNING: the deployment still sets EMERGENCY_STOP: entries stay paused until a redeploy with EmergencyStop=false."
                );
            }
        }
    }
    effective(settings, store, out).await;
    Ok(())
}

async fn effective(settings: &Settings, store: &dyn ControlStore, out: &mut String) {
    let eff = effective_exec(settings.config.exec, store.get_exec_control().await);
    let _ = writeln!(out, "effective: {} / stop {}{}", eff.mode, eff.stop.as_str(), eff.why.map(|w| format!(" ({w})")).unwrap_or_default());
}

/// Every part of the state an operator asks for first.
pub async fn status<S: ControlStore + PositionStore + ?Sized>(
    settings: &Settings,
    store: &S,
    dlq: &crate::queues::Depths,
    now: Timestamp,
    out: &mut String,
) -> bool {
    let stored = store.get_exec_control().await;
    let mut healthy = stored.is_ok();
    let _ = writeln!(out, "stack:            {}", settings.stack.as_deref().unwrap_or("(none: settings from the environment)"));
    let _ = writeln!(out, "table:            {}", settings.get("TABLE_NAME").unwrap_or("?"));
    let _ = writeln!(
        out,
        "deployment:       COPY_EXECUTION_MODE={} EMERGENCY_STOP={}",
        settings.config.exec.mode, settings.config.exec.emergency_stop
    );
    let _ = match &stored {
        Ok(Some(c)) => writeln!(
            out,
            "stored exec_mode: {} / stop {} (version {}, updated {} by {})",
            c.mode,
            c.stop.as_str(),
            c.version,
            iso(c.updated_at),
            c.updated_by.map_or_else(|| "vanta-ops or the deployment".to_owned(), |u| format!("Telegram user {u}"))
        ),
        Ok(None) => writeln!(out, "stored exec_mode: not set (DRY)"),
        Err(e) => writeln!(out, "stored exec_mode: UNREADABLE ({e}): every function runs DRY"),
    };
    let eff = effective_exec(settings.config.exec, stored);
    let _ = writeln!(
        out,
        "effective:        {} / stop {}{}",
        eff.mode,
        eff.stop.as_str(),
        eff.why.map(|w| format!(" ({w})")).unwrap_or_default()
    );
    match store.live_positions().await {
        Ok(p) => {
            let _ = writeln!(out, "live positions:   {}", p.len());
        }
        Err(e) => {
            healthy = false;
            let _ = writeln!(out, "live positions:   unreadable ({e})");
        }
    }
    if let Ok(Some(r)) = store.get_flatten_run().await
        && r.ended_at.is_none()
    {
        let _ = writeln!(out, "FLATTEN sweep:    since {}, {} position(s) found live", iso(r.started_at), r.targets.len());
    }
    match store.heartbeats().await {
        Ok(h) if h.is_empty() => {
            let _ = writeln!(out, "scheduled runs:   none recorded yet");
        }
        Ok(h) => {
            for (job, at) in h {
                let _ = writeln!(out, "scheduled run:    {job} {}s ago ({})", now.since(at) / 1000, iso(at));
            }
        }
        Err(e) => {
            let _ = writeln!(out, "scheduled runs:   unreadable ({e})");
        }
    }
    for (name, d) in [("signals DLQ", &dlq.signals), ("notifications DLQ", &dlq.notifications)] {
        let _ = match d {
            Some(Ok(n)) => writeln!(out, "{name:<18}{n} message(s){}", if *n > 0 { "  <- see RUNBOOK.md#dlq-not-empty" } else { "" }),
            Some(Err(e)) => writeln!(out, "{name:<18}unreadable ({e})"),
            None => writeln!(out, "{name:<18}not configured"),
        };
    }
    healthy
}
