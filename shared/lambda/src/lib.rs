//! Cold-start wiring shared by the Lambda functions: one place that turns a [`Config`] into the
//! AWS adapters behind `vanta_app::Deps`. A function's `main.rs` is then: tracing, config, deps, run.
//!
//! Each function links only what it uses. The base (`base.rs`: DynamoDB store, SQS queues, signal
//! secrets) is always there; two cargo features add the rest:
//!
//! - `chain` (vanta-chain, alloy): the venue's market (pair catalog refresh, Pyth/Chainlink
//!   prices, the DRY paper book), EIP-1271 wallet checks and, for the functions that trade, the
//!   KMS delegate keys and the live venue (`deps`).
//! - `telegram` (vanta-telegram, teloxide): the Telegram chat (`notifier_deps`,
//!   `register_bot_commands`).
//!
//! The wiring functions are separate too, so a binary that never calls the signing path does not
//! link it even when a workspace build turns every feature on: `webhook` calls `api_deps`
//! (the base only: no market, no key, no chat, no RPC; built without either feature),
//! `notifier` calls `notifier_deps` (store, queue, chat; no venue: its `Prices`/`Venue`
//! refuse), the others `deps`.

use vanta_runtime::Config;

mod base;
pub mod error;
pub mod http;
pub mod secrets;
pub mod sqs_batch;
mod stubs;
#[cfg(feature = "chain")]
mod venue;

pub use error::StartError;
pub use stubs::{NoChat, NoMarket, NoQueue};
#[cfg(feature = "chain")]
pub use venue::deps;

/// Whether this function signs (the signal worker) and so needs the KMS delegate keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signing {
    Yes,
    /// Reads the delegate's public key only (the bot shows the address and checks delegations;
    /// its role may not `kms:Sign`, and nothing here would ask).
    AddressOnly,
    /// No key at all, but a venue that reads (positions, history): the indexer's reconciler.
    /// Every signature it might be asked for is refused.
    ReadsOnly,
    No,
}

/// Reads the configuration and installs tracing.
pub fn config() -> Result<Config, StartError> {
    let config = Config::from_env()?;
    vanta_runtime::init_tracing(config.log_json);
    config.warn_deprecated_names();
    Ok(config)
}

/// The AWS SDK configuration. Credentials and region come from the environment, where Lambda
/// puts them (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`):
/// the SDK's default chain would try them first anyway, and naming them keeps its other
/// providers (profiles, instance metadata, containers, web identity through STS) out of every
/// function. `AWS_ENDPOINT_URL` (a local emulator) is honoured by the SDK itself.
pub async fn aws_sdk_config() -> aws_config::SdkConfig {
    use aws_config::environment::{EnvironmentVariableCredentialsProvider, EnvironmentVariableRegionProvider};
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .credentials_provider(EnvironmentVariableCredentialsProvider::new())
        .region(EnvironmentVariableRegionProvider::new())
        .load()
        .await
}

/// Reads the secrets this function's environment names (`*_PARAM`) from SSM Parameter Store,
/// once, at cold start ([`secrets`]).
pub async fn open_secrets(config: Config, sdk: &aws_config::SdkConfig) -> Result<Config, StartError> {
    let names = secrets::SecretNames::from_env();
    if names.is_empty() {
        return Ok(config);
    }
    secrets::open(config, &aws_sdk_ssm::Client::new(sdk), &names).await
}

/// The `webhook` function's dependencies: the signal API with `/healthz`, `/readyz` and
/// `/metrics`. The base only: the store (the pair catalog is read from the table, where the
/// indexer keeps it), the signal queue, `notifications.fifo` and the signal-source secrets. It
/// never signs, never chats and reads no price, venue or RPC: its `Prices`/`Venue` refuse
/// ([`NoMarket`]); `/health` and the wallet page are the `telegram` function's.
pub async fn api_deps(config: Config) -> Result<vanta_app::Deps, StartError> {
    use std::sync::Arc;
    // It holds no secret of its own (the sources' secrets are sealed in the table): a `*_PARAM`
    // setting here is a wiring mistake, said at once rather than ignored.
    let names = secrets::SecretNames::from_env();
    if !names.is_empty() {
        return Err(StartError::UnexpectedSecret { function: "webhook", names: names.describe() });
    }
    let sdk = aws_sdk_config().await;
    let table = base::Table::open(&config, &sdk)?;
    let market = Arc::new(NoMarket("the signal API"));
    Ok(base::base(config, &sdk, &table, Arc::new(NoChat), market.clone(), market))
}

/// The notifier's dependencies: the store, the queues and a chat that waits out Telegram's flood
/// control only briefly ([`vanta_app::notifier::MAX_RETRY_WAIT`]): a longer `retry_after` leaves
/// the notice to the queue's redelivery, so one invocation stays well inside the function's
/// timeout. No signer and no venue: its prices and paper venue refuse ([`NoMarket`]).
#[cfg(feature = "telegram")]
pub async fn notifier_deps(config: Config) -> Result<vanta_app::Deps, StartError> {
    use secrecy::ExposeSecret;
    use std::sync::Arc;
    let sdk = aws_sdk_config().await;
    let config = open_secrets(config, &sdk).await?;
    let token = config.telegram_bot_token.clone().ok_or(vanta_runtime::ConfigError::Missing("TELEGRAM_BOT_TOKEN"))?;
    let chat = vanta_telegram::TelegramChat::new(token.expose_secret(), &config.telegram_api_url)?
        .with_max_retry_wait(vanta_app::notifier::MAX_RETRY_WAIT);
    let table = base::Table::open(&config, &sdk)?;
    let market = Arc::new(NoMarket("the notifier"));
    let mut deps = base::base(config, &sdk, &table, Arc::new(chat), market.clone(), market);
    // The notifier sends; it never queues notices for itself.
    deps.notices = None;
    Ok(deps)
}

/// Registers the bot's command menu (`setMyCommands`) once per cold start, in the background; a
/// failure is logged and changes nothing else.
#[cfg(feature = "telegram")]
pub fn register_bot_commands(config: &Config) {
    use secrecy::ExposeSecret;
    let Some(token) = config.telegram_bot_token.as_ref() else { return };
    let chat = match vanta_telegram::TelegramChat::new(token.expose_secret(), &config.telegram_api_url) {
        Ok(c) => c,
        Err(e) => return tracing::warn!(error = %e, "command menu not registered"),
    };
    tokio::spawn(async move {
        if let Err(e) = chat.set_my_commands(vanta_app::telegram::COMMANDS).await {
            tracing::warn!(error = %e, "setMyCommands failed; the command menu is not registered");
        }
    });
}
