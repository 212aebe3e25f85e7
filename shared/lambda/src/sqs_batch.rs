//! The FIFO batch rule: process records in order; at the first failure report that record and
//! every later one as failed, so SQS redelivers them in the same order (per-group order holds).

use std::future::Future;

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsMessage};

/// Runs `handle` over the records in order and builds the partial-batch response.
pub async fn fifo_batch<F, Fut, E>(records: &[SqsMessage], mut handle: F) -> SqsBatchResponse
where
    F: FnMut(&SqsMessage) -> Fut,
    Fut: Future<Output = Result<(), E>>,
    E: std::fmt::Display,
{
    let mut response = SqsBatchResponse::default();
    let mut failed = false;
    for record in records {
        let id = record.message_id.clone().unwrap_or_default();
        if !failed && let Err(e) = handle(record).await {
            tracing::warn!(message_id = %id, error = %e, "message failed; it and the rest of the batch will be retried");
            failed = true;
        }
        if failed {
            let mut f = BatchItemFailure::default();
            f.item_identifier = id;
            response.batch_item_failures.push(f);
        }
    }
    response
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    fn msg(id: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some(id.to_owned());
        m.body = Some(id.to_owned());
        m
    }

    #[tokio::test]
    async fn first_failure_fails_the_rest_and_stops_processing() {
        let records = [msg("a"), msg("b"), msg("c"), msg("d")];
        let mut seen = Vec::new();
        let r = fifo_batch(&records, |m| {
            let body = m.body.clone().unwrap();
            seen.push(body.clone());
            async move { if body == "b" { Err("boom") } else { Ok(()) } }
        })
        .await;
        let failed: Vec<_> = r.batch_item_failures.iter().map(|f| f.item_identifier.as_str()).collect();
        assert_eq!(failed, ["b", "c", "d"]);
        assert_eq!(seen, ["a", "b"], "nothing after a failure is processed");
    }

    #[tokio::test]
    async fn all_good_reports_nothing() {
        let r = fifo_batch(&[msg("a")], |_| async { Ok::<_, String>(()) }).await;
        assert!(r.batch_item_failures.is_empty());
    }
}
