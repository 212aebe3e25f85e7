//! What handlers depend on: ports and configuration, nothing else.

use std::sync::Arc;
use std::time::Instant;

use vanta_domain::exec::ExecMode;
use vanta_domain::exec::{EffectiveExec, effective_exec};
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{Chat, ContractWallets, Prices, Queue, QueueStats, Signer, Store, Venue};
use vanta_domain::risk::OperatorLimits;
use vanta_domain::time::Clock;
use vanta_runtime::Config;

use crate::metrics::Metrics;

/// Everything a handler may use. Cheap to clone.
#[derive(Clone)]
pub struct Deps {
    pub config: Arc<Config>,
    pub store: Arc<dyn Store>,
    pub queue: Arc<dyn Queue>,
    pub chat: Arc<dyn Chat>,
    pub clock: Arc<dyn Clock>,
    /// The delegate signer, in the functions that sign (signal worker, TP/SL) and the local runner.
    pub signer: Option<Arc<dyn Signer>>,
    /// The main delegate address (known wherever the key's public part is). Users register their
    /// own key's address: see [`crate::delegates::address_for`].
    pub delegate: Option<TraderAddress>,
    /// The delegate-key pool (the main key alone when no pool is configured).
    pub delegates: Option<Arc<crate::delegates::DelegatePool>>,
    /// `notifications.fifo`, where configured: [`crate::pipeline::notify`] queues notices there
    /// for the notifier instead of sending them itself.
    pub notices: Option<Arc<dyn Queue>>,
    /// Signal queue and DLQ depths, where this function may read them.
    pub queue_stats: Option<Arc<dyn QueueStats>>,
    pub prices: Arc<dyn Prices>,
    /// The paper venue (DRY).
    pub paper: Arc<dyn Venue>,
    /// Avantis (LIVE), where configured. Without it every trade runs DRY.
    pub live: Option<Arc<dyn Venue>>,
    pub ops: OperatorLimits,
    /// EIP-1271 checks of contract wallets (over `BASE_RPC_URL`), where this function has RPC.
    /// Without it only EOA signatures prove a wallet.
    pub contract_wallets: Option<Arc<dyn ContractWallets>>,
    pub metrics: Arc<Metrics>,
    pub started: Instant,
    /// The venue's pair list as the signal API checks it (per instance, short-lived).
    pub pair_catalog: Arc<crate::signals::CatalogCache>,
    /// Seals and opens signal-source secrets. [`Deps::new`] gives the dev-only local key (tests,
    /// `make run`); the Lambda wiring replaces it with KMS, or with
    /// [`vanta_domain::sealed::NoSourceSecrets`] when no key is configured.
    pub source_secrets: Arc<dyn vanta_domain::sealed::SourceSecrets>,
}

impl Deps {
    pub fn new(
        config: Config,
        store: Arc<dyn Store>,
        queue: Arc<dyn Queue>,
        chat: Arc<dyn Chat>,
        clock: Arc<dyn Clock>,
        prices: Arc<dyn Prices>,
        paper: Arc<dyn Venue>,
    ) -> Self {
        let ops = config.operator_limits.clone();
        let source_secrets = Arc::new(vanta_domain::sealed::local_dev(clock.clone()));
        Self {
            config: Arc::new(config),
            store,
            queue,
            chat,
            clock,
            signer: None,
            delegate: None,
            delegates: None,
            notices: None,
            queue_stats: None,
            prices,
            paper,
            live: None,
            ops,
            contract_wallets: None,
            metrics: Arc::new(Metrics::default()),
            started: Instant::now(),
            pair_catalog: Arc::default(),
            source_secrets,
        }
    }

    /// Seals and opens signal-source secrets with `secrets`.
    pub fn with_source_secrets(mut self, secrets: Arc<dyn vanta_domain::sealed::SourceSecrets>) -> Self {
        self.source_secrets = secrets;
        self
    }

    /// Adds the LIVE venue.
    pub fn with_live_venue(mut self, venue: Arc<dyn Venue>) -> Self {
        self.live = Some(venue);
        self
    }

    /// The venue for a mode: LIVE only when a live venue exists; anything else is the paper venue.
    pub fn venue(&self, mode: ExecMode) -> (ExecMode, Arc<dyn Venue>) {
        match (mode, &self.live) {
            (ExecMode::Live, Some(v)) => (ExecMode::Live, v.clone()),
            _ => (ExecMode::Dry, self.paper.clone()),
        }
    }

    /// Adds the delegate signer (and so the delegate address), as a pool of one.
    pub fn with_signer(mut self, signer: Arc<dyn Signer>) -> Self {
        let id = self.config.kms_key_id.clone().unwrap_or_else(|| "local".to_owned());
        self.delegates = Some(Arc::new(crate::delegates::DelegatePool::single(id, signer.clone())));
        self.delegate = Some(signer.address());
        self.signer = Some(signer);
        self
    }

    /// Adds EIP-1271 checks of contract wallets.
    pub fn with_contract_wallets(mut self, wallets: Arc<dyn ContractWallets>) -> Self {
        self.contract_wallets = Some(wallets);
        self
    }

    /// Adds the delegate-key pool: its main key is the delegate (and, where it signs, the signer).
    pub fn with_delegates(mut self, pool: Arc<crate::delegates::DelegatePool>) -> Self {
        if let Ok(main) = pool.main() {
            self.delegate = Some(main.address);
            self.signer = main.signer.clone();
        }
        self.delegates = Some(pool);
        self
    }

    /// Adds the notifications queue (notices go through the notifier).
    pub fn with_notifications_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.notices = Some(queue);
        self
    }

    /// Keeps the venue's pair catalog in `store` (read there by the signal API, the bot and the
    /// worker); `source`, in the indexer, refreshes it from the venue.
    pub fn with_catalog_store(
        mut self,
        store: Arc<dyn vanta_domain::catalog::CatalogStore>,
        source: Option<Arc<dyn vanta_domain::catalog::CatalogSource>>,
    ) -> Self {
        self.pair_catalog = Arc::new(crate::signals::CatalogCache::stored(store, source));
        self
    }

    /// Adds what reports the queue depths.
    pub fn with_queue_stats(mut self, stats: Arc<dyn QueueStats>) -> Self {
        self.queue_stats = Some(stats);
        self
    }

    /// The operator limits in force now: the deployment's ([`Deps::ops`], from `OPERATOR_*`)
    /// tightened by the stored `CONTROL`/`LIMITS` item, never loosened by it. An unreadable item
    /// is an error (`Unavailable`): callers that would add exposure refuse rather than guess.
    /// The ops CLI's `preflight` calls this through [`crate::limits::effective_limits`].
    pub async fn operator_limits(&self) -> vanta_domain::DomainResult<OperatorLimits> {
        crate::limits::effective_limits(self.store.as_ref(), &self.ops).await.map(|e| e.limits)
    }

    /// The effective exec mode, read now from the store and combined with the environment.
    /// Any failure reads as DRY. Call it immediately before signing, never cache it.
    pub async fn effective_exec(&self) -> EffectiveExec {
        let stored = self.store.get_exec_control().await;
        if let Err(e) = &stored {
            tracing::warn!(error = %e, "exec mode unreadable; failing closed to DRY");
        }
        effective_exec(self.config.exec, stored)
    }
}
