//! The `signal-worker` function: one message of `signals.fifo`, run through the pipeline.
//!
//! `Ok` acknowledges the message (the intent reached a final state, or was final already).
//! `Err` leaves it to SQS: retried in order, and after the queue's maximum receives moved to the
//! DLQ with the reason in the logs and the intent's audit trail. Malformed messages fail too:
//! they reach the DLQ, they are never dropped.

use serde::Deserialize;
use vanta_domain::DomainError;
use vanta_domain::DomainResult;
use vanta_domain::ids::IntentId;
use vanta_domain::intent::{IntentState, Transition};

use crate::Deps;
use crate::metrics::Metrics;
use crate::pipeline;

/// The body of a `signals.fifo` message.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub intent_id: IntentId,
}

/// How many times SQS delivers a message before moving it to the DLQ (the template's
/// `maxReceiveCount`).
pub const MAX_RECEIVES: u32 = 5;

/// One delivery of a message (first delivery).
pub async fn handle_message(deps: &Deps, body: &str) -> DomainResult<()> {
    handle_delivery(deps, body, 1).await
}

/// One delivery of a message; `receive_count` is SQS's `ApproximateReceiveCount`. On the last
/// delivery a failure is recorded on the intent (when nothing can have reached a venue) and the
/// user is told, so the DLQ never holds a trade the user still thinks is pending.
pub async fn handle_delivery(deps: &Deps, body: &str, receive_count: u32) -> DomainResult<()> {
    Metrics::inc(&deps.metrics.worker_messages);
    let env = serde_json::from_str::<Envelope>(body).map_err(|e| DomainError::Invalid(format!("unreadable queue message: {e}")));
    let result = match &env {
        Ok(env) => pipeline::run(deps, &env.intent_id).await,
        Err(e) => Err(e.clone()),
    };
    match result {
        Ok(outcome) => {
            if let Ok(env) = &env {
                tracing::info!(intent = %env.intent_id, outcome = ?outcome, "intent processed");
            }
            Ok(())
        }
        Err(e) => {
            Metrics::inc(&deps.metrics.worker_failures);
            if receive_count >= MAX_RECEIVES {
                tracing::error!(error = %e, receive_count, "message goes to the DLQ");
                if let Ok(env) = &env {
                    give_up(deps, &env.intent_id, &e).await;
                }
            } else {
                tracing::warn!(error = %e, receive_count, "message not done; the queue will redeliver it");
            }
            Err(e)
        }
    }
}

/// Records why an intent is abandoned. Only intents that cannot have reached a venue (RECEIVED,
/// VALIDATED) are failed; SUBMITTED and AMBIGUOUS ones keep their state for an operator to
/// reconcile, with the reason in their audit trail.
async fn give_up(deps: &Deps, id: &IntentId, e: &DomainError) {
    let Ok(Some(intent)) = deps.store.get_intent(id).await else { return };
    let reason = format!("gave up after {MAX_RECEIVES} attempts: {e}");
    let to = match intent.state {
        IntentState::Received | IntentState::Validated => IntentState::Failed,
        _ => return tracing::error!(intent = %id, state = %intent.state, "intent left for reconciliation by an operator"),
    };
    if let Ok(t) = Transition::new(intent.state, to, deps.clock.now()) {
        let _ = deps.store.transition(id, &t.with_reason(reason.clone())).await;
    }
    if let Ok(Some(user)) = deps.store.get_user(intent.user).await {
        pipeline::notify(
            deps,
            &user,
            intent.mode.unwrap_or_default(),
            &format!("❌ A request could not be processed and was dropped: {}", pipeline::html_escape(&reason)),
        )
        .await;
    }
}
