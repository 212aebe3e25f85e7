//! Worker overhead per intent: the signal worker's handler ([`vanta_app::worker::handle_delivery`])
//! on queued open intents, one user each (so no risk limit refuses them), with the in-memory
//! store, fixed prices and a chat that drops messages.
//!
//! - DRY: the paper venue fills. Baseline: the paper venue's fill of the same order alone.
//! - LIVE: a venue that, like the Avantis venue, signs every order before it fills it (a keccak
//!   digest of the order, through the exec-mode gate, which reads the stored mode, and the local
//!   secp256k1 key), then fills on a paper book. Baseline: the DRY pipeline.
//!
//! Included: message parsing, intent load and transitions, validation, risk, the effective
//! exec mode read (twice), the venue, settling the position, the notice, the copy check.

use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use alloy_primitives::keccak256;
use async_trait::async_trait;
use vanta_app::gate::GatedSigner;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::intent::{Action, Intent, IntentState, OpenOrder, Origin};
use vanta_domain::market::{PairCatalog, PairSymbol, Side};
use vanta_domain::memory::PaperVenue;
use vanta_domain::money::{Leverage, Price, SlippageP, Usdc};
use vanta_domain::ports::{ControlStore, IntentStore, Lookup, Purpose, Signer, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::time::Clock;
use vanta_domain::{DomainError, DomainResult};

use crate::world::World;
use crate::{Report, Row, median, us};

/// A LIVE venue that signs each order with the delegate key before filling it on a paper book.
pub struct SigningVenue {
    pub book: Arc<PaperVenue>,
    pub signer: Arc<dyn Signer>,
    /// Signatures made (each a KMS `Sign` in production).
    pub signatures: std::sync::atomic::AtomicU64,
}

#[async_trait]
impl Venue for SigningVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.book.pairs().await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        let bytes = serde_json::to_vec(order).map_err(|e| DomainError::Internal(e.to_string()))?;
        let purpose = if matches!(order, VenueOrder::Open { .. }) { Purpose::Entry } else { Purpose::Exit };
        self.signer.sign_digest_for(keccak256(bytes), purpose).await?;
        self.signatures.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.book.execute(client_ref, order).await
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(trader).await
    }
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        self.book.lookup(client_ref).await
    }
}

fn order() -> Result<OpenOrder, String> {
    Ok(OpenOrder {
        pair: PairSymbol::parse("BTC/USD").map_err(|e| e.to_string())?,
        side: Side::Long,
        collateral: Usdc::from_str("100").map_err(|e| e.to_string())?,
        leverage: Leverage::from_whole(5).map_err(|e| e.to_string())?,
        tp: None,
        sl: None,
        slippage: None,
    })
}

/// What the worker did over one run of intents (from the first message taken to the last).
struct Counted {
    store: crate::counting::Totals,
    sends: u64,
    notices: u64,
}

/// Queues one open intent per user `first..first+n` and runs each message through the worker;
/// the per-message times and what the worker asked of the store and queue meanwhile.
async fn run_intents(world: &World, first: i64, n: usize, verified: bool) -> Result<(Vec<Duration>, Counted), String> {
    let order = order()?;
    for k in 0..n {
        let id = first + k as i64;
        let user = if verified { world.verified_user(id, false).await? } else { world.user(id).await? };
        let intent_id = IntentId::parse(&format!("sig:bench:w{id}")).map_err(|e| e.to_string())?;
        let intent = Intent::new(
            intent_id.clone(),
            user.id,
            Origin::Telegram { update_id: id },
            Action::Open(order.clone()),
            format!("h{id}"),
            world.clock.now(),
        );
        world.store.create_intent(&intent).await.map_err(|e| e.to_string())?;
        vanta_app::pipeline::enqueue(&world.deps, &user, &intent_id).await.map_err(|e| e.to_string())?;
    }
    let mut times = Vec::with_capacity(n);
    world.store.reset();
    let (sends, notices) = (world.sends.sent(), world.chat.sent());
    loop {
        let batch = world.queue.take(10).map_err(|e| e.to_string())?;
        if batch.is_empty() {
            break;
        }
        for m in batch {
            let t = Instant::now();
            vanta_app::worker::handle_delivery(&world.deps, &m.body, 1).await.map_err(|e| e.to_string())?;
            times.push(t.elapsed());
        }
    }
    let counted = Counted { store: world.store.totals(), sends: world.sends.sent() - sends, notices: world.chat.sent() - notices };
    // Every intent must have settled (nothing refused, nothing failed): otherwise the figure
    // would measure a shorter path.
    for k in 0..n {
        let id = IntentId::parse(&format!("sig:bench:w{}", first + k as i64)).map_err(|e| e.to_string())?;
        let state = world.store.get_intent(&id).await.map_err(|e| e.to_string())?.map(|i| (i.state, i.reason, i.mode));
        match state {
            Some((IntentState::Settled, _, mode)) if mode == Some(if verified { ExecMode::Live } else { ExecMode::Dry }) => {}
            other => return Err(format!("worker bench: intent {id} ended {other:?}")),
        }
    }
    Ok((times, counted))
}

fn mean(times: &[Duration]) -> Duration {
    if times.is_empty() { Duration::ZERO } else { times.iter().sum::<Duration>() / times.len() as u32 }
}

pub async fn run(report: &mut Report, n: usize) -> Result<(), String> {
    // DRY.
    let dry = World::new(&[])?;
    run_intents(&dry, 1_000_000, n.min(50), false).await?; // warm-up
    let (dry_times, dry_counted) = run_intents(&dry, 2_000_000, n, false).await?;
    // Baseline: the paper venue's fill of the same order alone.
    let mut fills = Vec::with_capacity(n);
    let reference = Price::from_str("100000").map_err(|e| e.to_string())?;
    for k in 0..n {
        // One trader per fill: the venue holds at most 40 trades per pair and trader.
        let mut who = [7u8; 20];
        who[..8].copy_from_slice(&(k as u64).to_be_bytes());
        let o = VenueOrder::Open {
            trader: TraderAddress::paper(who),
            pair: vanta_domain::market::PairIndex(1),
            side: Side::Long,
            collateral: Usdc::from_str("100").map_err(|e| e.to_string())?,
            leverage: Leverage::from_whole(5).map_err(|e| e.to_string())?,
            reference_price: reference,
            slippage: SlippageP::from_str("0.5").map_err(|e| e.to_string())?,
            tp: None,
            sl: None,
        };
        let id = IntentId::parse(&format!("sig:bench:f{k}")).map_err(|e| e.to_string())?;
        let t = Instant::now();
        dry.paper.execute(&id, &o).await.map_err(|e| e.to_string())?;
        fills.push(t.elapsed());
    }

    // LIVE: the gate and the local key in front of a paper book.
    let mut live = World::new(&[("COPY_EXECUTION_MODE", "LIVE")])?;
    let key = vanta_chain::signer::LocalKeySigner::random().map_err(|e| e.to_string())?.with_chain_id(Some(8453));
    let key: Arc<dyn Signer> = Arc::new(key);
    let gated: Arc<dyn Signer> = Arc::new(GatedSigner::new(key.clone(), live.store.clone(), live.deps.config.exec));
    let book = Arc::new(PaperVenue::new(live.catalog.clone(), live.prices.clone(), live.clock.clone()));
    let venue = Arc::new(SigningVenue { book, signer: gated, signatures: Default::default() });
    live.deps = live.deps.clone().with_signer(key.clone()).with_live_venue(venue.clone());
    let c = ExecControl { mode: ExecMode::Live, stop: StopLevel::None, updated_by: None, updated_at: live.clock.now(), version: 1 };
    live.store.put_exec_control(&c).await.map_err(|e| e.to_string())?;
    run_intents(&live, 3_000_000, n.min(50), true).await?; // warm-up
    let signed_before = venue.signatures.load(std::sync::atomic::Ordering::Relaxed);
    let (live_times, live_counted) = run_intents(&live, 4_000_000, n, true).await?;
    let signatures = venue.signatures.load(std::sync::atomic::Ordering::Relaxed) - signed_before;
    // The signature alone.
    let mut sigs = Vec::with_capacity(n);
    for k in 0..n {
        let t = Instant::now();
        key.sign_digest(keccak256(k.to_be_bytes())).await.map_err(|e| e.to_string())?;
        sigs.push(t.elapsed());
    }

    let s = "worker";
    let (dry_mean, live_mean, fill_mean, sig_mean) = (mean(&dry_times), mean(&live_times), mean(&fills), mean(&sigs));
    report.rows.push(
        Row::new(s, "DRY pipeline per intent (paper venue, memory store)", us(dry_mean), "µs").against(us(fill_mean), "paper fill alone"),
    );
    report.rows.push(Row::new(s, "LIVE pipeline per intent (gate + local key)", us(live_mean), "µs").against(us(dry_mean), "DRY pipeline"));
    report.rows.push(
        Row::new(s, "one local-key signature", us(sig_mean), "µs").against(crate::fanout::KMS_FLOOR_US, "KMS floor: 300 Sign/s = 3.33 ms"),
    );
    report.details.insert(
        "worker".into(),
        serde_json::json!({
            "intents": n,
            "dry_mean_us": us(dry_mean), "dry_median_us": us(median(dry_times)),
            "live_mean_us": us(live_mean), "live_median_us": us(median(live_times)),
            "paper_fill_mean_us": us(fill_mean), "local_signature_mean_us": us(sig_mean),
            "per_dry_intent": crate::cost::PerUnit::of_run(n, us(dry_mean) * n as f64 / 1e3, &dry_counted.store, dry_counted.sends, dry_counted.notices, 0),
            "per_live_intent": crate::cost::PerUnit::of_run(n, us(live_mean) * n as f64 / 1e3, &live_counted.store, live_counted.sends, live_counted.notices, signatures),
        }),
    );
    Ok(())
}
