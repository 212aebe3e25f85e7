//! Cold-start wiring shared by the Lambda functions: one place that turns a [`Config`] into the
//! AWS adapters behind [`Deps`]. A function's `main.rs` is then: tracing, config, `deps`, run.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::network::TxSigner;
use alloy::providers::{Provider, ProviderBuilder};
use secrecy::ExposeSecret;
use vanta_app::Deps;
use vanta_app::delegates::{DelegateKey, DelegatePool, PooledVenue};
use vanta_app::gate::GatedSigner;
use vanta_aws::direct::{DynamoNonceLease, DynamoTxStore};
use vanta_aws::dynamo::DynamoStore;
use vanta_aws::sqs::SqsQueue;
use vanta_chain::avantis::{AvantisClient, AvantisConfig, AvantisVenue};
use vanta_chain::budget::BudgetedVenue;
use vanta_chain::direct::DirectConfig;
use vanta_chain::direct::venue::{DirectVenue, DirectVenueConfig};
use vanta_chain::prices::{ChainlinkFeeds, CombinedPrices, PythHermes};
use vanta_chain::signer::KmsSigner;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::PaperVenue;
use vanta_domain::money::Usdc;
use vanta_domain::ports::{Chat, OutgoingMessage, Queue, QueueMessage};
use vanta_domain::ports::{Lookup, PriceQuote, Prices, Signer, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::time::Clock;
use vanta_domain::time::SystemClock;
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::AvantisRoute;
use vanta_runtime::config::{BASE_CHAIN_ID, ChainlinkFeedsSetting};
use vanta_runtime::{Config, ConfigError};

pub mod http;
pub mod secrets;

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

/// A cold-start failure: the function cannot run with this configuration.
#[derive(Debug)]
pub struct StartError(pub String);

impl std::fmt::Display for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for StartError {}

impl From<ConfigError> for StartError {
    fn from(e: ConfigError) -> Self {
        Self(e.to_string())
    }
}

impl From<DomainError> for StartError {
    fn from(e: DomainError) -> Self {
        Self(e.to_string())
    }
}

/// Reads the configuration and installs tracing.
pub fn config() -> Result<Config, StartError> {
    let config = Config::from_env()?;
    vanta_runtime::init_tracing(config.log_json);
    config.warn_deprecated_names();
    Ok(config)
}

/// Builds the handlers' dependencies from AWS: DynamoDB store, SQS queue, Telegram chat and, for
/// signing functions, the KMS delegate signer.
pub async fn deps(config: Config, signing: Signing) -> Result<Deps, StartError> {
    let sdk = vanta_runtime::aws_sdk_config().await;
    let config = open_secrets(config, &sdk).await?;
    Box::pin(build(config, signing, sdk)).await
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

async fn build(config: Config, signing: Signing, sdk: aws_config::SdkConfig) -> Result<Deps, StartError> {
    let table = config.require_table()?.to_owned();
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), table.clone());
    let sqs = config.signals_queue_url.as_ref().map(|url| {
        let q = SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url.clone());
        Arc::new(match &config.signals_dlq_url {
            Some(dlq) => q.with_dlq(dlq.clone()),
            None => q,
        })
    });
    let queue: Arc<dyn Queue> = match &sqs {
        Some(q) => q.clone(),
        None => Arc::new(NoQueue),
    };
    let chat: Arc<dyn Chat> = match &config.telegram_bot_token {
        Some(token) => Arc::new(vanta_telegram::TelegramChat::new(token.expose_secret(), &config.telegram_api_url)?),
        None => Arc::new(NoChat),
    };
    // The delegate-key pool: KMS_KEY_ID first, then KMS_POOL_KEY_ARNS (each key once).
    let keys: Vec<(String, Arc<KmsSigner>)> = match signing {
        Signing::No | Signing::ReadsOnly => Vec::new(),
        Signing::Yes | Signing::AddressOnly => {
            let main = config.kms_key_id.clone().ok_or(ConfigError::Missing("KMS_KEY_ID"))?;
            let kms = aws_sdk_kms::Client::new(&sdk);
            let mut ids = vec![main];
            for arn in &config.kms_pool_key_arns {
                if !ids.contains(arn) {
                    ids.push(arn.clone());
                }
            }
            let mut keys = Vec::with_capacity(ids.len());
            for id in ids {
                let signer = tokio_timeout(KmsSigner::new(kms.clone(), id.clone(), Some(config.chain_id))).await??;
                tracing::info!(delegate = %signer.address(), "delegate key ready");
                keys.push((id, Arc::new(signer)));
            }
            keys
        }
    };
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let store: Arc<DynamoStore> = Arc::new(store);
    let avantis = AvantisClient::new(AvantisConfig::new(
        config.avantis.tx_builder.clone(),
        config.avantis.batched_market.clone(),
        config.avantis.core.clone(),
        config.avantis.data.clone(),
        config.chain_id,
    ))?;
    let chainlink = chainlink_feeds(&config)?;
    // On Base mainnet with Chainlink, prices pass the sequencer gate: while Base's sequencer is
    // down, or back for less than an hour, no price is trusted (no trade, no trigger).
    let sequencer: Option<Arc<dyn vanta_domain::sequencer::SequencerStatus>> = match (&chainlink, config.chain_id) {
        (Some(_), BASE_CHAIN_ID) => Some(Arc::new(vanta_chain::sequencer::ChainlinkSequencer::base_mainnet(&config.base_rpc_url)?)),
        _ => None,
    };
    // The DRY paper book lives in the table, so every instance trades one paper account.
    let market = Arc::new(
        VenueMarket::new(avantis.clone(), config.pyth_hermes_url.clone(), chainlink, clock.clone())
            .with_book(store.clone())
            .with_sequencer(sequencer)
            .with_venue_feed(config.avantis.feed.clone()),
    );
    let env = config.exec;
    let history_url = config.avantis.history.clone();
    let (route, rpc_url, chain_id) = (config.avantis_route, config.base_rpc_url.clone(), config.chain_id);
    // Every live venue call ends within this budget (below the signal worker's timeout).
    let budget = config.venue_wait_budget();
    let notices = config.notifications_queue_url.clone().map(|url| Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(&sdk), url)));
    // Signal-source secrets: KMS when SOURCE_SECRETS_KEY_ID is set; otherwise nothing is sealed
    // or opened (never the dev-only local key under Lambda).
    let source_secrets: Arc<dyn vanta_domain::sealed::SourceSecrets> = match &config.source_secrets_key_id {
        Some(key) => Arc::new(vanta_aws::kms_secrets::kms_envelope(aws_sdk_kms::Client::new(&sdk), key.clone(), clock.clone())),
        None => Arc::new(vanta_domain::sealed::NoSourceSecrets),
    };
    let mut deps = Deps::new(config, store.clone(), queue, chat, clock.clone(), market.clone(), market).with_source_secrets(source_secrets);
    // Application metrics as CloudWatch EMF lines on stdout (each main flushes per invocation).
    deps.metrics.emf.to_stdout();
    // The pair catalog is read from the table; the indexer's tick refreshes it from the venue's
    // `/v2/trading` (the source is used by nothing else).
    deps = deps.with_catalog_store(store.clone(), Some(Arc::new(avantis.clone())));
    if let Some(q) = sqs {
        deps = deps.with_queue_stats(q);
    }
    // Wallet proofs by contract wallets (EIP-1271) are asked over the same RPC endpoint.
    deps = deps.with_contract_wallets(Arc::new(vanta_chain::eip1271::RpcContractWallets::new(&rpc_url)?));
    if let Some(n) = notices {
        // Notices go through notifications.fifo and the notifier (retried through outages).
        deps = deps.with_notifications_queue(n);
    }
    if signing == Signing::ReadsOnly {
        let reader: Arc<dyn Signer> = Arc::new(CannotSign(TraderAddress::paper(*b"vanta-indexer-reads!")));
        let venue: Arc<dyn Venue> = Arc::new(AvantisVenue::new(avantis, reader).with_clock(clock));
        let venue = with_history(venue, &history_url);
        let deps = deps.with_live_venue(Arc::new(BudgetedVenue::new(venue, budget)));
        // The delegation scan asks the venue about each user's own delegate: the public keys
        // only (no signer), and a start without them (the scan then skips) rather than none.
        return Ok(match delegate_addresses(&deps.config, &sdk).await {
            Some(pool) => deps.with_delegates(Arc::new(pool)),
            None => deps,
        });
    }
    if keys.is_empty() {
        return Ok(deps);
    }
    if signing == Signing::AddressOnly {
        // Reads only: the venue answers delegation and balance questions; it cannot sign.
        let pool = DelegatePool::new(
            keys.iter().map(|(id, k)| DelegateKey { id: id.clone(), address: KmsSigner::address(k), signer: None }).collect(),
        )?;
        let main = pool.main()?.address;
        let reader: Arc<dyn Signer> = Arc::new(CannotSign(main));
        let venue: Arc<dyn Venue> = Arc::new(AvantisVenue::new(avantis, reader).with_clock(clock));
        let venue = with_history(venue, &history_url);
        return Ok(deps.with_delegates(Arc::new(pool)).with_live_venue(Arc::new(BudgetedVenue::new(venue, budget))));
    }
    let mut pool_keys = Vec::with_capacity(keys.len());
    let mut venues: BTreeMap<String, Arc<dyn Venue>> = BTreeMap::new();
    for (id, signer) in keys {
        // Every signature passes the exec-mode gate, whatever path asks for it.
        let gated: Arc<dyn Signer> = Arc::new(GatedSigner::new(signer.clone(), store.clone(), env));
        let relayer = Arc::new(AvantisVenue::new(avantis.clone(), gated.clone()).with_clock(clock.clone()));
        let live: Arc<dyn Venue> = match route {
            AvantisRoute::Relayer => relayer,
            AvantisRoute::Direct => {
                let rpc = rpc_url.parse().map_err(|_| StartError("BASE_RPC_URL is not a URL".into()))?;
                let provider = ProviderBuilder::new().connect_http(rpc).erased();
                let lease = Arc::new(DynamoNonceLease::new(dynamo.clone(), table.clone(), clock.clone()));
                let txs = Arc::new(DynamoTxStore::new(dynamo.clone(), table.clone()));
                let tx_signer = GatedTxSigner { inner: signer.clone(), control: store.clone(), env };
                let mut direct = DirectConfig::new(chain_id);
                // Inside the venue budget: mining, then the keeper's fill; later waits (and
                // replacements) happen on the redeliveries that reconcile.
                direct.track_timeout = budget.saturating_sub(Duration::from_secs(5)).max(Duration::from_secs(1));
                let cfg = DirectVenueConfig { fill_timeout: Duration::from_secs(4).min(budget), ..DirectVenueConfig::default() };
                Arc::new(
                    DirectVenue::new(avantis.clone(), provider, tx_signer, lease, txs, clock.clone(), direct)
                        .with_config(cfg)
                        .with_tpsl_route(relayer),
                )
            }
        };
        pool_keys.push(DelegateKey { id: id.clone(), address: KmsSigner::address(&signer), signer: Some(gated) });
        venues.insert(id, live);
    }
    let pool = Arc::new(DelegatePool::new(pool_keys)?);
    let live: Arc<dyn Venue> = if pool.len() == 1 {
        let main = &pool.main()?.id;
        venues.remove(main).ok_or_else(|| StartError("no venue for the main delegate key".into()))?
    } else {
        // Each order is signed by the key of the user who owns the trader account.
        Arc::new(PooledVenue::new(store.clone(), pool.clone(), venues)?)
    };
    // Every venue call ends within the budget; the rest is left to reconciliation.
    deps = deps.with_delegates(pool).with_live_venue(Arc::new(BudgetedVenue::new(live, budget)));
    Ok(deps)
}

/// The delegate addresses of the pool (`KMS_KEY_ID`, then `KMS_POOL_KEY_ARNS`) from their public
/// keys, with no signing power; None (logged) when there is no key or KMS does not answer.
async fn delegate_addresses(config: &Config, sdk: &aws_config::SdkConfig) -> Option<DelegatePool> {
    let main = config.kms_key_id.clone()?;
    let kms = aws_sdk_kms::Client::new(sdk);
    let mut ids = vec![main];
    for arn in &config.kms_pool_key_arns {
        if !ids.contains(arn) {
            ids.push(arn.clone());
        }
    }
    let mut keys = Vec::with_capacity(ids.len());
    for id in ids {
        match tokio_timeout(KmsSigner::new(kms.clone(), id.clone(), Some(config.chain_id))).await {
            Ok(Ok(k)) => keys.push(DelegateKey { id, address: KmsSigner::address(&k), signer: None }),
            Ok(Err(e)) => {
                tracing::warn!(key = %id, error = %e, "delegate public key not readable; delegations are not scanned");
                return None;
            }
            Err(e) => {
                tracing::warn!(key = %id, error = %e, "delegate public key not readable; delegations are not scanned");
                return None;
            }
        }
    }
    DelegatePool::new(keys).ok()
}

/// The notifier's dependencies: no signer, and a chat that waits out Telegram's flood control
/// only briefly ([`vanta_app::notifier::MAX_RETRY_WAIT`]): a longer `retry_after` leaves the
/// notice to the queue's redelivery, so one invocation stays well inside the function's timeout.
pub async fn notifier_deps(config: Config) -> Result<Deps, StartError> {
    let sdk = vanta_runtime::aws_sdk_config().await;
    let config = open_secrets(config, &sdk).await?;
    let token = config.telegram_bot_token.clone().ok_or(ConfigError::Missing("TELEGRAM_BOT_TOKEN"))?;
    let chat = vanta_telegram::TelegramChat::new(token.expose_secret(), &config.telegram_api_url)?
        .with_max_retry_wait(vanta_app::notifier::MAX_RETRY_WAIT);
    // Boxed: the wiring's future is deep, and the function's own main stays plain.
    let mut deps = Box::pin(build(config, Signing::No, sdk)).await?;
    deps.chat = Arc::new(chat);
    // The notifier sends; it never queues notices for itself.
    deps.notices = None;
    Ok(deps)
}

/// The delegate's address without its signing power (functions that only read).
/// The venue plus Veranta's trade history, for the reconciler (`/sync`, the indexer). A history
/// URL that does not parse leaves the venue without history (positions alone), with a warning.
fn with_history(venue: Arc<dyn Venue>, url: &str) -> Arc<dyn Venue> {
    match vanta_chain::history::HistoryClient::new(url) {
        Ok(h) => Arc::new(vanta_chain::history::WithHistory::new(venue, h)),
        Err(e) => {
            tracing::warn!(error = %e, "no trade history: the reconciler reads positions alone");
            venue
        }
    }
}

struct CannotSign(TraderAddress);

#[async_trait::async_trait]
impl Signer for CannotSign {
    fn address(&self) -> TraderAddress {
        self.0
    }
    async fn sign_digest(&self, _: alloy::primitives::B256) -> DomainResult<alloy::primitives::Signature> {
        Err(DomainError::Forbidden("this function does not sign".into()))
    }
}

/// The exec-mode gate for transaction signatures (the direct route): only LIVE signs, and
/// entries only without an emergency stop.
struct GatedTxSigner {
    inner: Arc<KmsSigner>,
    control: Arc<DynamoStore>,
    env: vanta_domain::exec::EnvExec,
}

#[async_trait::async_trait]
impl TxSigner<alloy::primitives::Signature> for GatedTxSigner {
    fn address(&self) -> alloy::primitives::Address {
        TxSigner::address(&*self.inner)
    }
    async fn sign_transaction(
        &self,
        tx: &mut dyn alloy::consensus::SignableTransaction<alloy::primitives::Signature>,
    ) -> alloy::signers::Result<alloy::primitives::Signature> {
        // The same gate as for digests; the direct route states each send's purpose.
        vanta_app::gate::check(self.control.as_ref(), self.env, vanta_chain::signer::tx_purpose())
            .await
            .map_err(alloy::signers::Error::other)?;
        self.inner.sign_transaction(tx).await
    }
}

/// The Chainlink feeds of `CHAINLINK_FEEDS` (read through `BASE_RPC_URL`), if any: the built-in
/// Base mainnet feeds by default (on Base only), none with `none`.
fn chainlink_feeds(config: &Config) -> Result<Option<ChainlinkFeeds>, StartError> {
    let feeds = match &config.chainlink_feeds {
        ChainlinkFeedsSetting::Disabled => return Ok(None),
        ChainlinkFeedsSetting::BaseDefaults if config.chain_id != BASE_CHAIN_ID => {
            tracing::info!(chain_id = config.chain_id, "not on Base mainnet: no built-in Chainlink feeds (set CHAINLINK_FEEDS)");
            return Ok(None);
        }
        ChainlinkFeedsSetting::BaseDefaults => ChainlinkFeeds::base_mainnet_defaults(),
        ChainlinkFeedsSetting::Custom(list) => list
            .iter()
            .map(|(pair, address)| {
                address
                    .parse()
                    .map(|a| (pair.clone(), a))
                    .map_err(|_| StartError(format!("CHAINLINK_FEEDS: '{address}' is not an address")))
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Some(ChainlinkFeeds::new(&config.base_rpc_url, feeds)?.with_settings(config.price_feeds.clone())))
}

/// The venue's market data for DRY trading under Lambda: the pair catalog from Avantis and
/// prices from Pyth and Chainlink (asked together; the risk engine requires the fresh ones to
/// agree), loaded on first use and cached for the life of the instance.
struct VenueMarket {
    avantis: AvantisClient,
    hermes_url: String,
    chainlink: Option<Arc<ChainlinkFeeds>>,
    clock: Arc<dyn Clock>,
    loaded: tokio::sync::OnceCell<(Arc<PaperVenue>, Arc<dyn Prices>)>,
    book: Option<Arc<dyn vanta_domain::paper::PaperStore>>,
    sequencer: Option<Arc<dyn vanta_domain::sequencer::SequencerStatus>>,
    /// The venue's feed service: its price is a required cross-check of the oracles'.
    venue_feed: Option<String>,
}

impl VenueMarket {
    fn new(avantis: AvantisClient, hermes_url: String, chainlink: Option<ChainlinkFeeds>, clock: Arc<dyn Clock>) -> Self {
        Self {
            avantis,
            hermes_url,
            chainlink: chainlink.map(Arc::new),
            clock,
            loaded: tokio::sync::OnceCell::new(),
            book: None,
            sequencer: None,
            venue_feed: None,
        }
    }

    /// Puts every price behind the sequencer gate.
    fn with_sequencer(mut self, sequencer: Option<Arc<dyn vanta_domain::sequencer::SequencerStatus>>) -> Self {
        self.sequencer = sequencer;
        self
    }

    /// Cross-checks every price with the venue's own (`GET {feed}/v2/pairs/{i}/price-update-data`).
    fn with_venue_feed(mut self, feed_url: String) -> Self {
        self.venue_feed = Some(feed_url);
        self
    }

    /// Keeps the paper book in `book` (the table).
    fn with_book(mut self, book: Arc<dyn vanta_domain::paper::PaperStore>) -> Self {
        self.book = Some(book);
        self
    }

    async fn get(&self) -> DomainResult<&(Arc<PaperVenue>, Arc<dyn Prices>)> {
        self.loaded
            .get_or_try_init(|| async {
                let catalog = self.avantis.pairs().await?;
                let feeds = self.avantis.price_feeds().await?;
                let pyth: Arc<dyn Prices> = Arc::new(PythHermes::new(&self.hermes_url, feeds)?);
                let prices: Arc<dyn Prices> = match &self.chainlink {
                    Some(chainlink) => Arc::new(CombinedPrices::new(vec![("pyth".into(), pyth), ("chainlink".into(), chainlink.clone())])),
                    None => pyth,
                };
                let prices = match &self.venue_feed {
                    Some(url) => vanta_chain::venue_feed::venue_checked(prices, url, &catalog)?,
                    None => prices,
                };
                let prices: Arc<dyn Prices> = match &self.sequencer {
                    Some(status) => Arc::new(vanta_domain::sequencer::SequencerGated::new(prices, status.clone(), self.clock.clone())),
                    None => prices,
                };
                let paper = PaperVenue::new(catalog, prices.clone(), self.clock.clone());
                let paper = Arc::new(match &self.book {
                    Some(book) => paper.with_book(book.clone()),
                    None => paper,
                });
                Ok::<_, DomainError>((paper, prices))
            })
            .await
    }
}

#[async_trait::async_trait]
impl Prices for VenueMarket {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        self.get().await?.1.quotes(pair).await
    }
}

#[async_trait::async_trait]
impl Venue for VenueMarket {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.get().await?.0.pairs().await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        self.get().await?.0.execute(client_ref, order).await
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.get().await?.0.positions(trader).await
    }
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        // Paper fills are recorded in the table, so any instance knows an earlier one.
        self.get().await?.0.lookup(client_ref).await
    }
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.get().await?.0.equity(trader).await
    }
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.get().await?.0.wallet_usdc(trader).await
    }
}

async fn tokio_timeout<T>(f: impl std::future::Future<Output = T>) -> Result<T, StartError> {
    tokio::time::timeout(Duration::from_secs(10), f).await.map_err(|_| StartError("KMS did not answer within 10 s at cold start".into()))
}

/// The queue of a function that has no `SIGNALS_QUEUE_URL`: refuses to enqueue (nothing is lost:
/// the caller reports the failure).
struct NoQueue;

#[async_trait::async_trait]
impl Queue for NoQueue {
    async fn send(&self, _: QueueMessage) -> DomainResult<()> {
        Err(DomainError::Unavailable("SIGNALS_QUEUE_URL is not configured for this function".into()))
    }
}

/// The chat of a function without a Telegram token: logs that a message was not sent.
struct NoChat;

#[async_trait::async_trait]
impl Chat for NoChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        tracing::warn!(chat = %msg.chat, "TELEGRAM_BOT_TOKEN not configured; message not sent");
        Err(DomainError::Unavailable("telegram is not configured".into()))
    }
}

/// Registers the bot's command menu (`setMyCommands`) once per cold start, in the background; a
/// failure is logged and changes nothing else.
pub fn register_bot_commands(config: &Config) {
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
