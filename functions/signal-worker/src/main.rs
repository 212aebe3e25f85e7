//! Lambda `signal-worker`: `signals.fifo` batches, with partial batch failures in FIFO order.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use vanta_lambda::Signing;
use vanta_lambda::sqs_batch::fifo_batch;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    let deps = vanta_lambda::deps(config, Signing::Yes).await?;
    run(service_fn(|event: LambdaEvent<SqsEvent>| {
        let deps = deps.clone();
        async move {
            let records = event.payload.records;
            let response: SqsBatchResponse = fifo_batch(&records, |m| {
                let (deps, body) = (deps.clone(), m.body.clone().unwrap_or_default());
                let receives = m.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok()).unwrap_or(1);
                async move { vanta_app::worker::handle_delivery(&deps, &body, receives).await }
            })
            .await;
            deps.metrics.emf.flush(deps.clock.now());
            Ok::<_, Error>(response)
        }
    }))
    .await
}
