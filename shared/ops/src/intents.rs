//! `resolve-intent ID`: an intent and its audit trail, and, for one whose outcome is unknown
//! (AMBIGUOUS, or SUBMITTED and stuck), the operator's verdict after checking the venue. Only
//! "it never executed" can be recorded here (`--not-executed`): the intent ends FAILED with the
//! operator's reason in its audit trail, and its idempotency record stays, so the same request
//! never trades again. A fill is recorded by the indexer, which reconciles it with the venue.

use std::fmt::Write as _;

use vanta_domain::DomainResult;
use vanta_domain::ids::IntentId;
use vanta_domain::intent::{IntentState, Transition};
use vanta_domain::ports::IntentStore;
use vanta_domain::time::Timestamp;

use crate::control::iso;

/// What to do with the intent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Only show it.
    Show,
    /// The operator checked the venue: it never executed. Ends FAILED with this reason.
    NotExecuted(String),
}

/// Returns false when the intent is unknown or cannot be resolved as asked.
pub async fn resolve(store: &dyn IntentStore, id: &IntentId, what: &Resolution, now: Timestamp, out: &mut String) -> DomainResult<bool> {
    let Some(intent) = store.get_intent(id).await? else {
        let _ = writeln!(out, "intent {id} not found");
        return Ok(false);
    };
    let _ = writeln!(
        out,
        "intent {id}: {} of user {} ({}), state {}, mode {}, {} attempt(s), created {}, updated {}",
        intent.action.name(),
        intent.user,
        serde_json::to_value(&intent.origin)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default(),
        intent.state,
        intent.mode.map_or("-", |m| m.as_str()),
        intent.attempts,
        iso(intent.created_at),
        iso(intent.updated_at)
    );
    if let Some(r) = &intent.reason {
        let _ = writeln!(out, "reason: {r}");
    }
    for e in store.audit_trail(id).await? {
        let _ = writeln!(
            out,
            "  {} {:<10} {}{}",
            iso(e.at),
            e.state.as_str(),
            e.reason.unwrap_or_default(),
            e.detail.map(|d| format!(" [{d}]")).unwrap_or_default()
        );
    }
    let Resolution::NotExecuted(reason) = what else {
        if matches!(intent.state, IntentState::Ambiguous | IntentState::Submitted) {
            let _ = writeln!(
                out,
                "outcome unknown: check the trader's positions and history on Veranta. If it executed, the indexer records it within a minute; if it never did, run `vanta-ops resolve-intent {id} --not-executed \"<what you checked>\" --yes`."
            );
        }
        return Ok(true);
    };
    if !matches!(intent.state, IntentState::Ambiguous | IntentState::Submitted) {
        let _ = writeln!(out, "refused: only an AMBIGUOUS or SUBMITTED intent can be resolved; this one is {}", intent.state);
        return Ok(false);
    }
    let t = Transition::new(intent.state, IntentState::Failed, now)?
        .with_reason(format!("resolved by an operator: not executed ({reason})"))
        .with_detail("vanta-ops resolve-intent --not-executed");
    let after = store.transition(id, &t).await?;
    let _ = writeln!(out, "intent {id} is now {} (the request stays recorded: it never trades again)", after.state);
    Ok(true)
}
