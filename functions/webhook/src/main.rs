//! Lambda `webhook`: the signal API and health routes behind API Gateway.

use lambda_http::Error;

/// mimalloc: the signal path allocates per request (see the workspace manifest).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    // The base only: no market, no key, no chat, no RPC (the webhook never signs).
    let deps = vanta_lambda::api_deps(config).await?;
    vanta_lambda::http::serve(vanta_app::http::api_router(deps.clone()), deps).await
}
