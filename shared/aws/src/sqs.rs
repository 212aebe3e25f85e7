//! SQS FIFO adapter for the Queue port.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use vanta_domain::ports::{Queue, QueueDepths, QueueMessage, QueueStats};
use vanta_domain::{DomainError, DomainResult};

use crate::error::{AwsError, AwsErrorKind};

/// Sends to one FIFO queue (`signals.fifo`), and reports its depth and its DLQ's.
#[derive(Clone, Debug)]
pub struct SqsQueue {
    client: Client,
    url: String,
    dlq_url: Option<String>,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> Self {
        Self { client, url: url.into(), dlq_url: None }
    }
    /// The dead-letter queue whose depth [`QueueStats::depths`] reports.
    pub fn with_dlq(mut self, url: impl Into<String>) -> Self {
        self.dlq_url = Some(url.into());
        self
    }

    async fn counts(&self, url: &str) -> DomainResult<(u64, u64)> {
        let out = self
            .client
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .map_err(|e| sqs_error("queue attributes", e))?;
        let get = |a: QueueAttributeName| out.attributes().and_then(|m| m.get(&a)).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        Ok((get(QueueAttributeName::ApproximateNumberOfMessages), get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)))
    }
}

#[async_trait]
impl QueueStats for SqsQueue {
    async fn depths(&self) -> DomainResult<QueueDepths> {
        let (queued, in_flight) = self.counts(&self.url).await?;
        let dead_letters = match &self.dlq_url {
            Some(d) => {
                let (v, f) = self.counts(d).await?;
                v + f
            }
            None => 0,
        };
        Ok(QueueDepths { queued, in_flight, dead_letters })
    }
}

#[async_trait]
impl Queue for SqsQueue {
    async fn send(&self, msg: QueueMessage) -> DomainResult<()> {
        if msg.group.is_empty() || msg.dedup_id.is_empty() {
            return Err(DomainError::Invalid("FIFO messages need a group and a deduplication id".into()));
        }
        // SQS limits the deduplication id to 128 characters of a restricted set.
        let dedup = sanitize_dedup_id(&msg.dedup_id);
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_group_id(&msg.group)
            .message_deduplication_id(dedup)
            .message_body(&msg.body)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| sqs_error("queue send failed", e))
    }
}

/// An SQS failure (all `Unavailable`: the caller retries or the message is redelivered), the
/// SDK's error kept as the source and its chain logged once.
fn sqs_error<E>(what: &str, e: aws_sdk_sqs::error::SdkError<E>) -> DomainError
where
    E: std::error::Error + Send + Sync + 'static,
{
    sqs_adapter_error(what, e).into()
}

pub(crate) fn sqs_adapter_error<E>(what: &str, e: aws_sdk_sqs::error::SdkError<E>) -> AwsError
where
    E: std::error::Error + Send + Sync + 'static,
{
    let message = format!("{what}: {}", aws_sdk_sqs::error::DisplayErrorContext(&e));
    AwsError::new(AwsErrorKind::Unavailable, message).with_source(e)
}

/// A deduplication id SQS accepts: ids that fit its alphabet and length pass unchanged; others
/// become a SHA-256-like stable digest of themselves so distinct ids stay distinct.
pub fn sanitize_dedup_id(id: &str) -> String {
    let ok = id.len() <= 128 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b"!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~".contains(&b));
    if ok {
        return id.to_owned();
    }
    // FNV-1a 128-bit: stable across processes, no extra dependency; collisions are not a
    // security concern here because the store's idempotency record is the real guard.
    let mut h: u128 = 0x6c62272e07bb014262b821756295c58d;
    for b in id.bytes() {
        h ^= u128::from(b);
        h = h.wrapping_mul(0x0000000001000000000000000000013B);
    }
    format!("h-{h:032x}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_ids_are_valid_and_stable() {
        assert_eq!(sanitize_dedup_id("sig:my-strategy:alert-42"), "sig:my-strategy:alert-42");
        let long = "x".repeat(200);
        let a = sanitize_dedup_id(&long);
        assert!(a.len() <= 128);
        assert_eq!(a, sanitize_dedup_id(&long));
        assert_ne!(sanitize_dedup_id("ü1"), sanitize_dedup_id("ü2"));
    }
}
