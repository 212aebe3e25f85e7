//! Lambda `webhook`: the signal API and health routes behind API Gateway.

use lambda_http::Error;
use vanta_lambda::Signing;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    let deps = vanta_lambda::deps(config, Signing::No).await?;
    vanta_lambda::http::serve(vanta_app::http::api_router(deps.clone()), deps).await
}
