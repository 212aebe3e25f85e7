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

use crate::Deps;
use crate::metrics::Metrics;
use crate::pipeline::{self, Outcome};

/// The body of a `signals.fifo` message.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub intent_id: IntentId,
}

pub async fn handle_message(deps: &Deps, body: &str) -> DomainResult<()> {
    Metrics::inc(&deps.metrics.worker_messages);
    let result = async {
        let env: Envelope = serde_json::from_str(body).map_err(|e| DomainError::Invalid(format!("unreadable queue message: {e}")))?;
        let outcome = pipeline::run(deps, &env.intent_id).await?;
        tracing::info!(intent = %env.intent_id, outcome = ?outcome, "intent processed");
        Ok::<Outcome, DomainError>(outcome)
    }
    .await;
    match result {
        Ok(_) => Ok(()),
        Err(e) => {
            Metrics::inc(&deps.metrics.worker_failures);
            tracing::warn!(error = %e, "message not done; the queue will redeliver it");
            Err(e)
        }
    }
}
