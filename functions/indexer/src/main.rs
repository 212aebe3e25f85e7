//! Lambda `indexer`: one scheduled tick per EventBridge event.

use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use lambda_runtime::{Error, LambdaEvent, run, service_fn};
use vanta_lambda::Signing;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    let deps = vanta_lambda::deps(config, Signing::ReadsOnly).await?;
    run(service_fn(|_: LambdaEvent<EventBridgeEvent<serde_json::Value>>| {
        let deps = deps.clone();
        async move {
            let report = vanta_app::schedule::indexer_tick(&deps).await;
            deps.metrics.emf.flush(deps.clock.now());
            Ok::<_, Error>(serde_json::to_value(report?)?)
        }
    }))
    .await
}
