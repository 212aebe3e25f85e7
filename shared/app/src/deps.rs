//! What handlers depend on: ports and configuration, nothing else.

use std::sync::Arc;
use std::time::Instant;

use vanta_domain::exec::ExecMode;
use vanta_domain::exec::{EffectiveExec, effective_exec};
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{Chat, Prices, Queue, QueueStats, Signer, Store, Venue};
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
    /// The delegate address users register with Avantis (known wherever the key's public part is).
    pub delegate: Option<TraderAddress>,
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
    pub metrics: Arc<Metrics>,
    pub started: Instant,
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
        Self {
            config: Arc::new(config),
            store,
            queue,
            chat,
            clock,
            signer: None,
            delegate: None,
            notices: None,
            queue_stats: None,
            prices,
            paper,
            live: None,
            ops: OperatorLimits::default(),
            metrics: Arc::new(Metrics::default()),
            started: Instant::now(),
        }
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

    /// Adds the delegate signer (and so the delegate address).
    pub fn with_signer(mut self, signer: Arc<dyn Signer>) -> Self {
        self.delegate = Some(signer.address());
        self.signer = Some(signer);
        self
    }

    /// Adds the notifications queue (notices go through the notifier).
    pub fn with_notifications_queue(mut self, queue: Arc<dyn Queue>) -> Self {
        self.notices = Some(queue);
        self
    }

    /// Adds what reports the queue depths.
    pub fn with_queue_stats(mut self, stats: Arc<dyn QueueStats>) -> Self {
        self.queue_stats = Some(stats);
        self
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
