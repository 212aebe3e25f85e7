//! Lambda `notifier`: `notifications.fifo` batches sent to Telegram, with partial batch failures
//! in FIFO order (a notice not delivered is redelivered later, then dead-lettered); and the
//! alarm topic's SNS records, sent to every admin on Telegram ([`vanta_app::alarms`]).

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use vanta_lambda::sqs_batch::fifo_batch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    let deps = vanta_lambda::notifier_deps(config).await?;
    run(service_fn(|event: LambdaEvent<serde_json::Value>| {
        let deps = deps.clone();
        async move {
            if vanta_app::alarms::is_sns_event(&event.payload) {
                // An alarm: a failure is an error, so Lambda's asynchronous retries send it again.
                let sent = vanta_app::alarms::handle_sns_event(&deps, &event.payload).await;
                deps.metrics.emf.flush(deps.clock.now());
                return Ok::<_, Error>(serde_json::json!({ "alarms_sent": sent? }));
            }
            let records = serde_json::from_value::<SqsEvent>(event.payload)?.records;
            let response: SqsBatchResponse = fifo_batch(&records, |m| {
                let (deps, body) = (deps.clone(), m.body.clone().unwrap_or_default());
                let receives = m.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
                async move { vanta_app::notifier::handle_delivery(&deps, &body, receives).await }
            })
            .await;
            deps.metrics.emf.flush(deps.clock.now());
            Ok::<_, Error>(serde_json::to_value(response)?)
        }
    }))
    .await
}
