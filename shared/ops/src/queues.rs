//! Dead-letter queue depths (SQS `GetQueueAttributes`: visible plus in-flight messages).

use aws_sdk_sqs::types::QueueAttributeName;

/// Each DLQ's depth: None when its URL is not known.
#[derive(Debug, Default)]
pub struct Depths {
    pub signals: Option<Result<u64, String>>,
    pub notifications: Option<Result<u64, String>>,
}

/// Messages in the queue at `url` (visible, in flight and delayed).
pub async fn depth(sqs: &aws_sdk_sqs::Client, url: &str) -> Result<u64, String> {
    let out = sqs
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
        .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesDelayed)
        .send()
        .await
        .map_err(|e| format!("GetQueueAttributes: {}", aws_sdk_sqs::error::DisplayErrorContext(&e)))?;
    let attrs = out.attributes().cloned().unwrap_or_default();
    let mut total = 0u64;
    for name in [
        QueueAttributeName::ApproximateNumberOfMessages,
        QueueAttributeName::ApproximateNumberOfMessagesNotVisible,
        QueueAttributeName::ApproximateNumberOfMessagesDelayed,
    ] {
        if let Some(v) = attrs.get(&name) {
            total = total.saturating_add(v.parse::<u64>().map_err(|_| format!("{} is not a number", name.as_str()))?);
        }
    }
    Ok(total)
}

pub async fn depths(sqs: &aws_sdk_sqs::Client, signals: Option<&str>, notifications: Option<&str>) -> Depths {
    Depths {
        signals: match signals {
            Some(u) => Some(depth(sqs, u).await),
            None => None,
        },
        notifications: match notifications {
            Some(u) => Some(depth(sqs, u).await),
            None => None,
        },
    }
}
