//! The `signal-worker` function: one message of `signals.fifo`.
//!
//! The execution pipeline is its own issue. Until it lands, a message is checked and then
//! *failed*, so SQS keeps it and finally moves it to the DLQ: nothing is executed and nothing is
//! lost.

use serde::Deserialize;
use vanta_domain::ids::IntentId;
use vanta_domain::{DomainError, DomainResult};

use crate::Deps;
use crate::metrics::Metrics;

/// The body of a `signals.fifo` message.
#[derive(Debug, Deserialize)]
pub struct Envelope {
    pub intent_id: IntentId,
}

pub async fn handle_message(deps: &Deps, body: &str) -> DomainResult<()> {
    Metrics::inc(&deps.metrics.worker_messages);
    let result = async {
        let env: Envelope = serde_json::from_str(body).map_err(|e| DomainError::Invalid(format!("unreadable queue message: {e}")))?;
        let intent = deps.store.get_intent(&env.intent_id).await?.ok_or_else(|| DomainError::NotFound(format!("intent {}", env.intent_id)))?;
        Err(DomainError::Unavailable(format!("intent {} kept for later: the execution pipeline is not enabled in this build", intent.id)))
    }
    .await;
    if result.is_err() {
        Metrics::inc(&deps.metrics.worker_failures);
    }
    result
}
