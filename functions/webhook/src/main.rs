//! Lambda `webhook`: the signal API and health routes behind API Gateway.

use lambda_http::{Error, Request, run, service_fn};
use vanta_runtime::http::{from_lambda, to_lambda};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    let deps = vanta_lambda::api_deps(config).await?;
    run(service_fn(|req: Request| {
        let deps = deps.clone();
        async move {
            let resp = vanta_app::api::handle(&deps, from_lambda(req)).await;
            deps.metrics.emf.flush(deps.clock.now());
            Ok::<_, Error>(to_lambda(resp))
        }
    }))
    .await
}
