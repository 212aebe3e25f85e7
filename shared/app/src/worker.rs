//! The `signal-worker` function: one message of `signals.fifo`, run through the pipeline.
//!
//! `Ok` acknowledges the message (the intent reached a final state, or was final already).
//! `Err` leaves it to SQS: retried in order, and after the queue's maximum receives moved to the
//! DLQ with the reason in the logs and the intent's audit trail. Malformed messages fail too:
//! they reach the DLQ, they are never dropped.
//!
//! Messages are an intent (`{"intent_id"}`) or a page of a copy fan-out (`{"fanout"}`, see
//! [`crate::copy`]). Each delivery ends within [`TIME_BUDGET`], below the function's timeout:
//! venue calls end sooner on their own budget (`VENUE_WAIT_BUDGET_SECS`), and whatever is still
//! running then is cut; the intent's recorded state (SUBMITTED, AMBIGUOUS, a closing position)
//! makes the redelivery, about 30 s later, reconcile with the venue before anything is sent again.

use std::time::Duration;

use vanta_domain::DomainError;
use vanta_domain::DomainResult;
use vanta_domain::ids::IntentId;
use vanta_domain::intent::{IntentState, Transition};

use crate::Deps;
use crate::copy;
use crate::metrics::Metrics;
use crate::notifier;
use crate::outbox::{self, Delivery};
use crate::pipeline;

/// The message bodies, written and read in [`crate::outbox`] (re-exported for older callers).
pub use crate::outbox::{Envelope, FanoutEnvelope};

/// How many times SQS delivers a message before moving it to the DLQ (the template's
/// `maxReceiveCount`). With the 30 s visibility timeout that is about five minutes: longer than
/// an Avantis intent's deadline (~2 minutes), so an ambiguous order is settled by its own
/// redeliveries; anything still unknown after that is left to the indexer and the operator.
pub const MAX_RECEIVES: u32 = 10;

/// The longest one delivery runs (the function's timeout is 25 s: the rest is margin for the
/// runtime and the batch response).
pub const TIME_BUDGET: Duration = Duration::from_secs(21);

/// One delivery of a message (first delivery).
pub async fn handle_message(deps: &Deps, body: &str) -> DomainResult<()> {
    handle_delivery(deps, body, 1).await
}

/// One delivery of a message; `receive_count` is SQS's `ApproximateReceiveCount`. On the last
/// delivery a failure is recorded on the intent (when nothing can have reached a venue) and the
/// user is told, so the DLQ never holds a trade the user still thinks is pending.
#[tracing::instrument(skip(deps, body), fields(intent = tracing::field::Empty, fanout = tracing::field::Empty))]
pub async fn handle_delivery(deps: &Deps, body: &str, receive_count: u32) -> DomainResult<()> {
    Metrics::inc(&deps.metrics.worker_messages);
    let msg = Delivery::read(body);
    let span = tracing::Span::current();
    match &msg {
        Ok(Delivery::Intent(id)) => {
            span.record("intent", tracing::field::display(id));
        }
        Ok(Delivery::Fanout(job)) => {
            span.record("fanout", tracing::field::display(job.group()));
        }
        Err(_) => {}
    }
    let result = match &msg {
        Ok(Delivery::Intent(id)) => {
            let work = notifier::scope(format!("intent:{id}"), pipeline::run(deps, id));
            bounded(work).await.map(|outcome| {
                crate::emf::intent_outcome(deps, &outcome);
                tracing::info!(intent = %id, outcome = ?outcome, "intent processed")
            })
        }
        Ok(Delivery::Fanout(job)) => {
            let work = notifier::scope(job.dedup_id(), copy::run_fanout(deps, job));
            bounded(work).await.map(|made| tracing::info!(group = %job.group(), copies = made, "fan-out page processed"))
        }
        Err(e) => Err(e.clone()),
    };
    match result {
        Ok(()) => Ok(()),
        Err(e) => {
            Metrics::inc(&deps.metrics.worker_failures);
            if receive_count >= MAX_RECEIVES {
                tracing::error!(error = %e, receive_count, "message goes to the DLQ");
                if let Ok(Delivery::Intent(id)) = &msg {
                    give_up(deps, id, &e).await;
                }
            } else {
                tracing::warn!(error = %e, receive_count, "message not done; the queue will redeliver it");
            }
            Err(e)
        }
    }
}

/// `work`, cut at [`TIME_BUDGET`] (a cut is retryable: the redelivery reconciles first).
async fn bounded<T>(work: impl std::future::Future<Output = DomainResult<T>>) -> DomainResult<T> {
    match tokio::time::timeout(TIME_BUDGET, work).await {
        Ok(r) => r,
        Err(_) => Err(DomainError::Unavailable(format!(
            "not finished within {} s; the redelivery reconciles with the venue before anything is sent again",
            TIME_BUDGET.as_secs()
        ))),
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
        _ => {
            crate::emf::left_for_operator(deps, &intent);
            return tracing::error!(intent = %id, state = %intent.state, "intent left for reconciliation by an operator");
        }
    };
    if let Ok(t) = Transition::new(intent.state, to, deps.clock.now()) {
        let _ = deps.store.transition(id, &t.with_reason(reason.clone())).await;
    }
    if let Ok(Some(user)) = deps.store.get_user(intent.user).await {
        outbox::notify(
            deps,
            &user,
            intent.mode.unwrap_or_default(),
            &format!("❌ A request could not be processed and was dropped: {}", outbox::html_escape(&reason)),
        )
        .await;
    }
}
