//! Lambda `telegram`: Telegram's webhook behind API Gateway.

use lambda_http::Error;
use vanta_lambda::Signing;

#[tokio::main]
async fn main() -> Result<(), Error> {
    let config = vanta_lambda::config()?;
    let deps = vanta_lambda::deps(config, Signing::AddressOnly).await?;
    vanta_lambda::register_bot_commands(&deps.config);
    vanta_lambda::http::serve(vanta_app::http::telegram_router(deps.clone()), deps).await
}
