//! What every function's wiring starts from: the table, the queues, the signal secrets and the
//! chat.

use std::sync::Arc;

use vanta_app::Deps;
use vanta_aws::dynamo::DynamoStore;
use vanta_aws::sqs::SqsQueue;
use vanta_domain::ports::{Chat, Prices, Queue, Venue};
use vanta_domain::time::{Clock, SystemClock};
use vanta_runtime::Config;

#[cfg(feature = "chain")]
use crate::NoChat;
use crate::{NoQueue, StartError};

/// The table every function works on, and the clock.
pub(crate) struct Table {
    /// The table's name (the direct route's adapters open it again).
    #[cfg(feature = "chain")]
    pub name: String,
    pub store: Arc<DynamoStore>,
    pub clock: Arc<dyn Clock>,
}

impl Table {
    pub(crate) fn open(config: &Config, sdk: &aws_config::SdkConfig) -> Result<Self, StartError> {
        let name = config.require_table()?.to_owned();
        let store = Arc::new(DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), name.clone()));
        Ok(Self {
            #[cfg(feature = "chain")]
            name,
            store,
            clock: Arc::new(SystemClock),
        })
    }
}

/// The base [`Deps`]: the table's store (also the pair catalog's home), the signal queue (and
/// its depths), `notifications.fifo`, the signal-source secrets (KMS), `chat`, and
/// `prices`/`paper` as given (the venue's market, or [`NoMarket`]).
pub(crate) fn base(
    config: Config,
    sdk: &aws_config::SdkConfig,
    table: &Table,
    chat: Arc<dyn Chat>,
    prices: Arc<dyn Prices>,
    paper: Arc<dyn Venue>,
) -> Deps {
    let sqs = config.signals_queue_url.as_ref().map(|url| {
        let q = SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url.clone());
        Arc::new(match &config.signals_dlq_url {
            Some(dlq) => q.with_dlq(dlq.clone()),
            None => q,
        })
    });
    let queue: Arc<dyn Queue> = match &sqs {
        Some(q) => q.clone(),
        None => Arc::new(NoQueue),
    };
    let notices = config.notifications_queue_url.clone().map(|url| Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), url)));
    // Signal-source secrets: KMS when SOURCE_SECRETS_KEY_ID is set; otherwise nothing is sealed
    // or opened (never the dev-only local key under Lambda).
    let source_secrets: Arc<dyn vanta_domain::sealed::SourceSecrets> = match &config.source_secrets_key_id {
        Some(key) => Arc::new(vanta_aws::kms_secrets::kms_envelope(aws_sdk_kms::Client::new(sdk), key.clone(), table.clock.clone())),
        None => Arc::new(vanta_domain::sealed::NoSourceSecrets),
    };
    let mut deps =
        Deps::new(config, table.store.clone(), queue, chat, table.clock.clone(), prices, paper).with_source_secrets(source_secrets);
    // Application metrics as CloudWatch EMF lines on stdout (each main flushes per invocation).
    deps.metrics.emf.to_stdout();
    // The pair catalog is read from the table; the indexer's tick refreshes it from the venue
    // (the `chain` wiring adds that source).
    deps = deps.with_catalog_store(table.store.clone(), None);
    if let Some(q) = sqs {
        deps = deps.with_queue_stats(q);
    }
    if let Some(n) = notices {
        // Notices go through notifications.fifo and the notifier (retried through outages).
        deps = deps.with_notifications_queue(n);
    }
    deps
}

/// The chat of a function: Telegram when a bot token is configured (and the function is built
/// with the `telegram` feature), else [`NoChat`].
#[cfg(feature = "chain")]
pub(crate) fn chat(config: &Config) -> Result<Arc<dyn Chat>, StartError> {
    #[cfg(feature = "telegram")]
    if let Some(token) = &config.telegram_bot_token {
        use secrecy::ExposeSecret;
        return Ok(Arc::new(vanta_telegram::TelegramChat::new(token.expose_secret(), &config.telegram_api_url)?));
    }
    #[cfg(not(feature = "telegram"))]
    if config.telegram_bot_token.is_some() {
        tracing::warn!("TELEGRAM_BOT_TOKEN is set but this function is built without the Telegram chat; messages are not sent");
    }
    Ok(Arc::new(NoChat))
}
