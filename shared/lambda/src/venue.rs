//! The `chain` wiring: the venue's market (pair catalog, prices, the DRY paper book), EIP-1271
//! wallet checks and, for the functions that trade or read the venue, the KMS delegate keys and
//! the live venue.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use vanta_app::Deps;
use vanta_app::delegates::{DelegateKey, DelegatePool, PooledVenue};
use vanta_app::gate::GatedSigner;
use vanta_aws::direct::{DynamoNonceLease, DynamoTxStore};
use vanta_chain::avantis::{AvantisClient, AvantisConfig, AvantisVenue};
use vanta_chain::budget::BudgetedVenue;
use vanta_chain::direct::DirectConfig;
use vanta_chain::direct::venue::{DirectVenue, DirectVenueConfig};
use vanta_chain::market_feed::VenueMarket;
use vanta_chain::prices::ChainlinkFeeds;
use vanta_chain::signer::KmsSigner;
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{Chat, Signer, Venue};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::AvantisRoute;
use vanta_runtime::config::{BASE_CHAIN_ID, ChainlinkFeedsSetting};
use vanta_runtime::{Config, ConfigError};

use crate::base::{Table, base};
use crate::{Signing, StartError, aws_sdk_config, open_secrets};

/// The longest an order waits for its key's account nonce (the EIP-7702 authorisation's).
const AUTHORITY_NONCE_TIMEOUT: Duration = Duration::from_secs(3);

/// The longest a paper fill waits for the venue's spread quote.
const SPREAD_QUOTE_TIMEOUT: Duration = Duration::from_secs(3);

/// Builds the handlers' dependencies from AWS: DynamoDB store, SQS queue, the venue's market,
/// the Telegram chat (with the `telegram` feature) and, for signing functions, the KMS delegate
/// signer.
pub async fn deps(config: Config, signing: Signing) -> Result<Deps, StartError> {
    let sdk = aws_sdk_config().await;
    let config = open_secrets(config, &sdk).await?;
    Box::pin(build(config, signing, sdk)).await
}

/// The base plus the venue's market: its prices and paper venue, the pair catalog's refresh
/// source (the indexer's tick) and EIP-1271 checks over `BASE_RPC_URL`.
fn reads(config: Config, sdk: &aws_config::SdkConfig, chat: Arc<dyn Chat>) -> Result<(Deps, Table, AvantisClient), StartError> {
    let table = Table::open(&config, sdk)?;
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
    // The DRY paper fills take the venue's spread quote where the deployment has a risk engine.
    let spreads: Option<Arc<dyn vanta_domain::spread::SpreadQuotes>> = match &config.avantis.risk_v2 {
        Some(url) => Some(Arc::new(vanta_chain::avantis::spread::RiskSpreads::new(url, SPREAD_QUOTE_TIMEOUT)?)),
        None => None,
    };
    // The DRY paper book lives in the table, so every instance trades one paper account.
    let market = Arc::new(
        VenueMarket::new(avantis.clone(), config.pyth_hermes_url.clone(), chainlink, table.clock.clone())
            .with_book(table.store.clone())
            .with_sequencer(sequencer)
            .with_venue_feed(config.avantis.feed.clone())
            .with_spreads(spreads),
    );
    let rpc_url = config.base_rpc_url.clone();
    let mut deps = base(config, sdk, &table, chat, market.clone(), market);
    // The pair catalog is read from the table; the indexer's tick refreshes it from the venue's
    // `/v2/trading` (the source is used by nothing else).
    deps = deps.with_catalog_store(table.store.clone(), Some(Arc::new(avantis.clone())));
    // Wallet proofs by contract wallets (EIP-1271) are asked over the same RPC endpoint.
    deps = deps.with_contract_wallets(Arc::new(vanta_chain::eip1271::RpcContractWallets::new(&rpc_url)?));
    Ok((deps, table, avantis))
}

async fn build(config: Config, signing: Signing, sdk: aws_config::SdkConfig) -> Result<Deps, StartError> {
    // Settings first, network after: a function without its table says so at once, before any
    // key is asked for.
    config.require_table()?;
    let chat = crate::base::chat(&config)?;
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
    let (mut deps, table, avantis) = reads(config, &sdk, chat)?;
    let (store, clock) = (table.store.clone(), table.clock.clone());
    let env = deps.config.exec;
    let history_url = deps.config.avantis.history.clone();
    let (route, rpc_url, chain_id) = (deps.config.avantis_route, deps.config.base_rpc_url.clone(), deps.config.chain_id);
    // Every live venue call ends within this budget (below the signal worker's timeout).
    let budget = deps.config.venue_wait_budget();
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
    let dynamo = aws_sdk_dynamodb::Client::new(&sdk);
    let mut pool_keys = Vec::with_capacity(keys.len());
    let mut venues: BTreeMap<String, Arc<dyn Venue>> = BTreeMap::new();
    // Each market order's EIP-7702 authorisation is signed over the key's account nonce, read
    // over BASE_RPC_URL (a key that sent transactions, as on the direct route, is not at 0).
    let authority_nonces: Arc<dyn vanta_chain::avantis::eip7702::AuthorityNonce> =
        Arc::new(vanta_chain::avantis::eip7702::RpcAuthorityNonce::new(vanta_chain::rpc::provider(&rpc_url)?, AUTHORITY_NONCE_TIMEOUT));
    for (id, signer) in keys {
        // Every signature passes the exec-mode gate, whatever path asks for it.
        let gated: Arc<dyn Signer> = Arc::new(GatedSigner::new(signer.clone(), store.clone(), env));
        let relayer = Arc::new(
            AvantisVenue::new(avantis.clone(), gated.clone()).with_clock(clock.clone()).with_authority_nonces(authority_nonces.clone()),
        );
        let live: Arc<dyn Venue> = match route {
            AvantisRoute::Relayer => relayer,
            AvantisRoute::Direct => {
                let rpc = rpc_url.parse().map_err(|source| StartError::NotAUrl { setting: "BASE_RPC_URL", source })?;
                let provider = vanta_chain::rpc::provider_for(rpc);
                let lease = Arc::new(DynamoNonceLease::new(dynamo.clone(), table.name.clone(), clock.clone()));
                let txs = Arc::new(DynamoTxStore::new(dynamo.clone(), table.name.clone()));
                let tx_signer = vanta_chain::gated_tx::GatedTxSigner::new(signer.clone(), store.clone(), env);
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
        venues.remove(main).ok_or(StartError::NoMainVenue)?
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
                    .map_err(|e| StartError::NotAnAddress { address: address.clone(), source: Box::new(e) })
            })
            .collect::<Result<_, _>>()?,
    };
    Ok(Some(ChainlinkFeeds::new(&config.base_rpc_url, feeds)?.with_settings(config.price_feeds.clone())))
}

async fn tokio_timeout<T>(f: impl std::future::Future<Output = T>) -> Result<T, StartError> {
    tokio::time::timeout(Duration::from_secs(10), f).await.map_err(StartError::KmsTimeout)
}
