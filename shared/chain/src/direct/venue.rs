//! [`DirectVenue`]: the domain [`Venue`] port on the direct route — tx-builder calldata
//! (`POST /v2/trade/*`) → an EIP-1559 transaction signed by our key → our RPC node.
//!
//! For each market order:
//! 1. the calldata is built by the client ([`AvantisClient::open_calldata`] / `close_calldata`);
//! 2. it is checked: decoded with the trading contract's ABI, it must be exactly the order asked
//!    for (function, trader or `delegatedAction` wrapper, pair, side, collateral, leverage,
//!    open price, slippage, TP/SL; for a close pair, trade index and amount — see
//!    [`crate::avantis::trading_call`]); `to` must be the trading contract of `/v2/meta` (anything
//!    else is refused before signing: a compromised API must not make us send a transaction elsewhere), `value`
//!    at most [`DirectVenueConfig::max_value`], the selector in
//!    [`DirectVenueConfig::allowed_selectors`] when that list is set;
//! 3. it is sent by [`DirectSender`] under the id `client_ref` (the order itself is written as a
//!    note on the new record, before anything is signed). A retry with the same reference
//!    resumes that record — it is never rebuilt nor sent twice;
//! 4. once MINED, the order is not yet a trade: the venue's keeper executes it in a later
//!    transaction. The trader's positions are polled until the fill shows (a new position on the
//!    order's pair and side, opened at or after the request's block, that was not there before)
//!    or [`DirectVenueConfig::fill_timeout`] passes (`Ambiguous`);
//! 5. FAILED (reverted on chain, refused by the simulation or the node) → `Refused` with the reason.
//!
//! Closes: the position going away (or shrinking) is visible in the positions, but the execution
//! price is only in the keeper's event, which this route does not decode yet; a mined close
//! therefore ends `Ambiguous` with that explanation (the caller reconciles, as for any close whose
//! price is unknown). TP/SL: Avantis v2 has no calldata route (the global TP/SL is an intent PUT to
//! the core API, in direct mode too): `UpdateTpSl` goes to the route given with
//! [`DirectVenue::with_tpsl_route`] (an [`crate::avantis::AvantisVenue`]), else it is refused.
//!
//! The key may be the trader's or an active delegate's: the builders are then asked to wrap the
//! call (`delegate`, the API answers `delegatedAction(trader, calldata)` with `from` = our key,
//! which is checked); an allow-list of selectors must then include the wrapper's.
//!
//! [`Venue::lookup`] answers from the transaction record: no record → `NotExecuted`; FAILED
//! before broadcast or reverted → `NotExecuted`; MINED and the fill visible → `Filled`; anything
//! else → `Unknown`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::eips::BlockNumberOrTag;
use alloy::network::TxSigner;
use alloy::primitives::{Signature, U256};
use alloy::providers::{DynProvider, Provider};
use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, Side};
use vanta_domain::money::{Leverage, Usdc};
use vanta_domain::ports::{Lookup, Purpose, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::time::Clock;

use super::sender::{DirectCall, DirectConfig, DirectOutcome, DirectSender};
use crate::avantis::calldata::{CallData, CallOptions};
use crate::avantis::trading_call::{CallContext, OpenPriceRule, check_close, check_open};
use crate::avantis::{AvantisClient, CloseRequest, OpenRequest};
use crate::signer::with_purpose;
use vanta_domain::direct::NonceLease;
use vanta_domain::direct::{TxAttempt, TxChange, TxNote, TxReceiptInfo, TxRecord, TxState, TxStore};

/// The prefix of the note that carries the order on its transaction record.
const ORDER_NOTE: &str = "vanta:direct-order:v1 ";

/// Fills remembered in process (a cold start finds them again from the record and positions).
const MAX_FILLS: usize = 4096;

/// Settings of the direct venue (the transaction itself is configured by [`DirectConfig`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectVenueConfig {
    /// How long, after the request is mined, the keeper may take before the order is
    /// `Ambiguous`.
    pub fill_timeout: Duration,
    /// Positions polling cadence while waiting for the keeper.
    pub fill_poll_interval: Duration,
    /// The largest `value` (wei) a calldata may carry (execution and oracle fees are tiny).
    pub max_value: U256,
    /// When set, only calldata with one of these selectors is sent.
    pub allowed_selectors: Option<Vec<[u8; 4]>>,
    /// `executionFeeWei` asked of the builders (the API's default when `None`).
    pub execution_fee_wei: Option<U256>,
    /// Sends with this gas limit instead of estimating (no simulation).
    pub gas_limit: Option<u64>,
}

impl Default for DirectVenueConfig {
    fn default() -> Self {
        Self {
            fill_timeout: Duration::from_secs(60),
            fill_poll_interval: Duration::from_secs(1),
            // 0.01 ETH.
            max_value: U256::from(10_000_000_000_000_000u64),
            allowed_selectors: None,
            execution_fee_wei: None,
            gas_limit: None,
        }
    }
}

/// What the record's note says about the order.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
struct OrderNote {
    order: VenueOrder,
    /// Trade indices already open on the order's pair before it was sent (opens).
    #[serde(default)]
    before: Vec<u32>,
    /// The position's collateral before a close (raw 1e6).
    #[serde(default)]
    position_collateral: Option<u64>,
}

impl OrderNote {
    fn text(&self) -> DomainResult<String> {
        serde_json::to_string(self).map(|j| format!("{ORDER_NOTE}{j}")).map_err(|e| DomainError::Internal(format!("order note: {e}")))
    }

    fn of(rec: &TxRecord) -> Option<Self> {
        rec.notes.iter().find_map(|n| n.text.strip_prefix(ORDER_NOTE).and_then(|j| serde_json::from_str(j).ok()))
    }
}

/// The store handed to the sender: writes the order note right after the record is created
/// (before anything is signed), so the record always says what it was for.
struct NotingStore {
    inner: Arc<dyn TxStore>,
    clock: Arc<dyn Clock>,
    pending: Mutex<HashMap<String, String>>,
}

impl NotingStore {
    fn expect(&self, id: &str, text: String) {
        if let Ok(mut m) = self.pending.lock() {
            m.insert(id.to_owned(), text);
        }
    }
    fn forget(&self, id: &str) {
        if let Ok(mut m) = self.pending.lock() {
            m.remove(id);
        }
    }
}

#[async_trait]
impl TxStore for NotingStore {
    async fn create(&self, record: &TxRecord) -> DomainResult<()> {
        self.inner.create(record).await?;
        let text = self.pending.lock().ok().and_then(|mut m| m.remove(&record.id));
        if let Some(text) = text
            && let Err(e) = self.inner.annotate(&record.id, &TxNote { at: self.clock.now(), text }).await
        {
            // The record still works; only a cold-start lookup loses the order's details.
            tracing::warn!(tx = %record.id, error = %e, "could not note the order on its transaction record");
        }
        Ok(())
    }
    async fn get(&self, id: &str) -> DomainResult<Option<TxRecord>> {
        self.inner.get(id).await
    }
    async fn transition(&self, id: &str, expected: TxState, change: &TxChange) -> DomainResult<()> {
        self.inner.transition(id, expected, change).await
    }
    async fn add_attempt(&self, id: &str, expected: TxState, attempt: &TxAttempt) -> DomainResult<()> {
        self.inner.add_attempt(id, expected, attempt).await
    }
    async fn annotate(&self, id: &str, note: &TxNote) -> DomainResult<()> {
        self.inner.annotate(id, note).await
    }
}

/// A position as the venue's positions source reports it.
type Seen = crate::avantis::TraderPosition;

/// What the positions say about a mined order.
enum Found {
    Fill(VenueFill),
    /// It took effect, but no fill can be given (reason).
    Changed(String),
    NotYet,
}

/// The direct route as a [`Venue`], for one signing key (the trader's or a delegate's).
pub struct DirectVenue {
    client: AvantisClient,
    sender: DirectSender,
    provider: DynProvider,
    store: Arc<NotingStore>,
    clock: Arc<dyn Clock>,
    config: DirectVenueConfig,
    tpsl: Option<Arc<dyn Venue>>,
    fills: Mutex<HashMap<String, VenueFill>>,
}

impl std::fmt::Debug for DirectVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectVenue").field("client", &self.client).field("from", &self.sender.from()).finish_non_exhaustive()
    }
}

/// What the transactions of `order` are signed for: an open is an entry, anything else an exit.
fn purpose_of(order: &VenueOrder) -> Purpose {
    match order {
        VenueOrder::Open { .. } => Purpose::Entry,
        VenueOrder::Close { .. } | VenueOrder::UpdateTpSl { .. } => Purpose::Exit,
    }
}

impl DirectVenue {
    /// A venue sending from `signer`'s address through `provider`, with nonces from `lease` and
    /// records in `store` (see [`DirectSender::new`]).
    pub fn new<S>(
        client: AvantisClient,
        provider: DynProvider,
        signer: S,
        lease: Arc<dyn NonceLease>,
        store: Arc<dyn TxStore>,
        clock: Arc<dyn Clock>,
        direct: DirectConfig,
    ) -> Self
    where
        S: TxSigner<Signature> + Send + Sync + 'static,
    {
        let store = Arc::new(NotingStore { inner: store, clock: Arc::clone(&clock), pending: Mutex::new(HashMap::new()) });
        let sender_store: Arc<dyn TxStore> = store.clone();
        let sender = DirectSender::new(provider.clone(), signer, lease, sender_store, Arc::clone(&clock), direct);
        Self { client, sender, provider, store, clock, config: DirectVenueConfig::default(), tpsl: None, fills: Mutex::new(HashMap::new()) }
    }

    pub fn with_config(mut self, config: DirectVenueConfig) -> Self {
        self.config = config;
        self
    }

    /// Where `UpdateTpSl` orders go (Avantis v2 has no calldata route for them).
    pub fn with_tpsl_route(mut self, venue: Arc<dyn Venue>) -> Self {
        self.tpsl = Some(venue);
        self
    }

    pub fn client(&self) -> &AvantisClient {
        &self.client
    }

    /// The sender (for `check_chain`, `track`, `quote_fees`).
    pub fn sender(&self) -> &DirectSender {
        &self.sender
    }

    pub fn config(&self) -> &DirectVenueConfig {
        &self.config
    }

    /// The transaction record of `client_ref`.
    pub async fn record(&self, client_ref: &IntentId) -> DomainResult<Option<TxRecord>> {
        self.store.get(client_ref.as_str()).await
    }

    fn signer(&self) -> DomainResult<TraderAddress> {
        TraderAddress::new(self.sender.from()).map_err(|_| DomainError::Internal("the direct signer has the zero address".into()))
    }

    fn remembered(&self, client_ref: &IntentId) -> Option<VenueFill> {
        self.fills.lock().ok().and_then(|m| m.get(client_ref.as_str()).cloned())
    }

    fn remember(&self, client_ref: &IntentId, fill: &VenueFill) {
        if let Ok(mut m) = self.fills.lock() {
            if m.len() >= MAX_FILLS && !m.contains_key(client_ref.as_str()) {
                m.clear();
            }
            m.insert(client_ref.as_str().to_owned(), fill.clone());
        }
    }

    async fn pair_info(&self, pair: PairIndex) -> DomainResult<PairInfo> {
        let catalog = self.client.pairs().await?;
        catalog.by_index(pair).cloned().ok_or_else(|| DomainError::Invalid(format!("Avantis has no pair at index {}", pair.0)))
    }

    async fn snapshot(&self, trader: TraderAddress) -> DomainResult<Vec<Seen>> {
        self.client.trader_positions(trader).await
    }

    // -----------------------------------------------------------------------------------------
    // Sending
    // -----------------------------------------------------------------------------------------

    /// Builds, checks and sends a new order.
    async fn send_new(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        let signer = self.signer()?;
        if let VenueOrder::Open { trader, .. } | VenueOrder::Close { trader, .. } = order {
            self.ensure_can_act(*trader, signer).await?;
        }
        let (call, note) = match order {
            VenueOrder::Open { trader, pair, side, collateral, leverage, reference_price, slippage, tp, sl } => {
                let info = self.pair_info(*pair).await?;
                if !info.listed {
                    return Err(DomainError::Refused(format!("{} is delisted on Veranta", info.symbol)));
                }
                let before = self.snapshot(*trader).await?;
                let req = OpenRequest {
                    trader: *trader,
                    pair: *pair,
                    side: *side,
                    collateral: *collateral,
                    leverage: *leverage,
                    open_price: *reference_price,
                    slippage: *slippage,
                    tp: *tp,
                    sl: *sl,
                    pnl: is_upside(&info),
                    nonce: None,
                };
                let opts = CallOptions { execution_fee_wei: self.config.execution_fee_wei, ..CallOptions::signed_by(signer, *trader) };
                let call = self.client.open_calldata(&req, &opts).await?;
                // We sent the reference price: the calldata must open at exactly it.
                check_open(&call, &req, OpenPriceRule::Exact, self.call_context(signer).await?)?;
                let before = before.iter().filter(|p| p.pair == *pair).map(|p| p.index).collect();
                (call, OrderNote { order: order.clone(), before, position_collateral: None })
            }
            VenueOrder::Close { trader, pair, trade_index, collateral, known } => {
                let before = self.snapshot(*trader).await?;
                let pos = before
                    .iter()
                    .find(|p| p.pair == *pair && p.index == *trade_index)
                    .ok_or_else(|| DomainError::NotFound(format!("no open Avantis trade {trade_index} on pair {}", pair.0)))?;
                // Never close another trade that took the index: it must be the recorded one.
                if let Some(k) = known {
                    let leverage = Leverage::from_raw(pos.leverage_raw)
                        .map_err(|e| DomainError::Internal(format!("Avantis position leverage: {e}")))?;
                    let side = if pos.buy { Side::Long } else { Side::Short };
                    k.check(side, leverage, pos.open_price, pos.opened_at.filter(|t| *t > 0)).map_err(|why| {
                        DomainError::NotFound(format!("Avantis trade {trade_index} on pair {} is not the recorded position: {why}", pair.0))
                    })?;
                }
                let closing = (*collateral).min(pos.collateral);
                if closing.is_zero() {
                    return Err(DomainError::Invalid("nothing to close".into()));
                }
                let req = CloseRequest {
                    trader: *trader,
                    pair: *pair,
                    trade_index: *trade_index,
                    collateral: closing,
                    open_timestamp: pos.opened_at,
                    expected_price: None,
                    nonce: None,
                };
                let opts = CallOptions { execution_fee_wei: self.config.execution_fee_wei, ..CallOptions::signed_by(signer, *trader) };
                let call = self.client.close_calldata(&req, &opts).await?;
                check_close(&call, &req, self.call_context(signer).await?)?;
                let order = VenueOrder::Close { trader: *trader, pair: *pair, trade_index: *trade_index, collateral: closing, known: None };
                (call, OrderNote { order, before: Vec::new(), position_collateral: Some(pos.collateral.raw()) })
            }
            VenueOrder::UpdateTpSl { .. } => return Err(DomainError::Internal("TP/SL updates have no calldata route".into())),
        };
        self.check_call(&call).await?;
        let mut direct = DirectCall::new(call.to, call.data.clone(), call.value);
        direct.gas_limit = self.config.gas_limit;
        let id = client_ref.as_str();
        self.store.expect(id, note.text()?);
        tracing::info!(intent = %client_ref, to = %call.to, "sending an Avantis direct transaction");
        let sent = with_purpose(purpose_of(order), self.sender.send(id, &direct)).await;
        self.store.forget(id);
        self.settle(id, &note, &sent?).await
    }

    /// The direct route sends `delegatedAction(trader, …)` from a delegate key: the delegation
    /// must be enabled, unexpired and allow exactly that (`canDelegatedAction`). Checked before
    /// anything is built or signed.
    async fn ensure_can_act(&self, trader: TraderAddress, signer: TraderAddress) -> DomainResult<()> {
        if signer == trader {
            return Ok(());
        }
        let st = self.client.delegation(trader, signer).await?;
        let now_s = u64::try_from(self.clock.now().secs()).unwrap_or(0);
        let why = if !st.is_enabled {
            Some("the delegation is not enabled")
        } else if st.expiry <= now_s {
            Some("the delegation has expired")
        } else if !st.can_delegated_action {
            Some("the delegation does not allow transactions on the wallet's behalf (canDelegatedAction is false)")
        } else {
            None
        };
        match why {
            Some(why) => Err(DomainError::Forbidden(format!(
                "Veranta does not let Vanta's key {signer} trade for wallet {trader}: {why}. Nothing was signed; renew the delegation and try again."
            ))),
            None => Ok(()),
        }
    }

    /// The trading contract (from `/v2/meta`) and our key, for the calldata checks.
    async fn call_context(&self, signer: TraderAddress) -> DomainResult<CallContext> {
        Ok(CallContext { router: self.client.meta().await?.trading_router, signer: signer.address() })
    }

    /// Refuses calldata we must not send.
    async fn check_call(&self, call: &CallData) -> DomainResult<()> {
        let meta = self.client.meta().await?;
        call.check_target(&meta)?;
        if call.value > self.config.max_value {
            return Err(DomainError::refused_before_signing(format!(
                "the tx-builder's calldata carries {} wei, above the {} wei allowed",
                call.value, self.config.max_value
            )));
        }
        if let Some(allowed) = &self.config.allowed_selectors
            && !call.selector().is_some_and(|s| allowed.contains(&s))
        {
            return Err(DomainError::refused_before_signing(format!(
                "the tx-builder's calldata calls selector 0x{}, which is not allowed",
                alloy::hex::encode(call.selector().unwrap_or_default())
            )));
        }
        Ok(())
    }

    /// Resumes the record of an order sent before (never rebuilt, never sent twice).
    async fn resume(&self, client_ref: &IntentId, order: &VenueOrder, rec: TxRecord) -> DomainResult<VenueFill> {
        if !rec.state.is_terminal() {
            // Tracking may sign replacements of it: the target must still be the trading contract.
            let meta = self.client.meta().await?;
            if rec.to != meta.trading_router {
                return Err(DomainError::Internal(format!(
                    "transaction {client_ref} targets {}, not the trading contract {}",
                    rec.to, meta.trading_router
                )));
            }
        }
        let note = OrderNote::of(&rec).unwrap_or_else(|| OrderNote { order: order.clone(), before: Vec::new(), position_collateral: None });
        tracing::info!(intent = %client_ref, state = %rec.state, "resuming an Avantis direct transaction");
        // Replacements (fee bumps) are signed for what the recorded order is.
        let out =
            with_purpose(purpose_of(&note.order), self.sender.send(&rec.id, &DirectCall::new(rec.to, rec.data.clone(), rec.value))).await?;
        self.settle(&rec.id, &note, &out).await
    }

    /// From the end of the transaction to the fill.
    async fn settle(&self, id: &str, note: &OrderNote, out: &DirectOutcome) -> DomainResult<VenueFill> {
        match out.state {
            TxState::Failed => Err(DomainError::Refused(format!(
                "the Avantis transaction {id} failed: {}",
                out.reason.as_deref().unwrap_or("no reason recorded")
            ))),
            TxState::Mined => {
                let receipt =
                    out.receipt.as_ref().ok_or_else(|| DomainError::Internal(format!("transaction {id} is MINED without a receipt")))?;
                let block_ts = self
                    .block_timestamp(receipt.block_number)
                    .await
                    .map_err(|e| DomainError::Ambiguous(format!("transaction {id} was mined, but its block cannot be read: {e}")))?;
                let deadline = Instant::now() + self.config.fill_timeout;
                let mut last_error = None;
                loop {
                    match self.find(note, receipt, block_ts).await {
                        Ok(Found::Fill(fill)) => return Ok(fill),
                        Ok(Found::Changed(why)) => return Err(DomainError::Ambiguous(why)),
                        Ok(Found::NotYet) => {}
                        Err(e) => last_error = Some(e.to_string()),
                    }
                    if Instant::now() >= deadline {
                        return Err(DomainError::Ambiguous(format!(
                            "the Avantis request {:#x} was mined in block {}, but the keeper's execution did not show in the positions within {:?}{}",
                            receipt.hash,
                            receipt.block_number,
                            self.config.fill_timeout,
                            last_error.map(|e| format!(" (last error: {e})")).unwrap_or_default()
                        )));
                    }
                    tokio::time::sleep(self.config.fill_poll_interval).await;
                }
            }
            other => Err(DomainError::Internal(format!("transaction {id} ended {other}"))),
        }
    }

    async fn block_timestamp(&self, number: u64) -> DomainResult<u64> {
        let timeout = self.sender.config().rpc_timeout;
        match tokio::time::timeout(timeout, self.provider.get_block_by_number(BlockNumberOrTag::Number(number))).await {
            Err(_) => Err(DomainError::Unavailable("eth_getBlockByNumber timed out".into())),
            Ok(Err(e)) => Err(crate::direct::sender::rpc_error("eth_getBlockByNumber", &e)),
            Ok(Ok(None)) => Err(DomainError::Unavailable(format!("the node does not know block {number}"))),
            Ok(Ok(Some(block))) => Ok(block.header.timestamp),
        }
    }

    /// Looks for the order's effect in the trader's positions.
    async fn find(&self, note: &OrderNote, receipt: &TxReceiptInfo, block_ts: u64) -> DomainResult<Found> {
        let venue_ref = format!("avantis:{:#x}", receipt.hash);
        match &note.order {
            VenueOrder::Open { trader, pair, side, collateral, .. } => {
                let after = self.snapshot(*trader).await?;
                let new: Vec<&Seen> = after
                    .iter()
                    .filter(|p| {
                        p.pair == *pair
                            && p.buy == side.is_buy()
                            && !note.before.contains(&p.index)
                            && p.opened_at.is_none_or(|t| t >= block_ts)
                    })
                    .collect();
                match new.as_slice() {
                    [] => Ok(Found::NotYet),
                    [p] => {
                        let leverage = Leverage::from_raw(p.leverage_raw)
                            .map_err(|e| DomainError::Internal(format!("Avantis position leverage: {e}")))?;
                        Ok(Found::Fill(VenueFill {
                            pair: p.pair,
                            trade_index: p.index,
                            side: *side,
                            price: p.open_price,
                            collateral: p.collateral,
                            leverage,
                            fee: collateral.checked_sub(p.collateral).unwrap_or(Usdc::ZERO),
                            at: self.clock.now(),
                            venue_ref,
                            open_time: p.opened_at.filter(|t| *t > 0),
                        }))
                    }
                    many => Ok(Found::Changed(format!(
                        "{} new positions on pair {} after the request {venue_ref}: cannot tell which one is this order's",
                        many.len(),
                        pair.0
                    ))),
                }
            }
            VenueOrder::Close { trader, pair, trade_index, .. } => {
                let after = self.snapshot(*trader).await?;
                let before = note.position_collateral.map(Usdc::from_raw);
                match after.iter().find(|p| p.pair == *pair && p.index == *trade_index) {
                    Some(p) if before.is_none_or(|b| p.collateral >= b) => Ok(Found::NotYet),
                    _ => Ok(Found::Changed(format!(
                        "trade {trade_index} on pair {} was closed or reduced by the request {venue_ref}; the execution price is only in \
                         the keeper's event, which the direct route does not read yet",
                        pair.0
                    ))),
                }
            }
            VenueOrder::UpdateTpSl { .. } => Ok(Found::Changed("not a calldata order".into())),
        }
    }
}

/// Upside (PnL-fee) pairs have a symbol part ending in `_UPSIDE`.
fn is_upside(info: &PairInfo) -> bool {
    info.symbol.as_str().split('/').any(|part| part.ends_with("_UPSIDE"))
}

#[async_trait]
impl Venue for DirectVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }

    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.client.pairs().await
    }

    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        if let VenueOrder::UpdateTpSl { .. } = order {
            return match &self.tpsl {
                Some(route) => route.execute(client_ref, order).await,
                None => Err(DomainError::Refused(
                    "Avantis v2 has no calldata route for TP/SL updates (they are signed intents), and no intent route is configured"
                        .into(),
                )),
            };
        }
        if let Some(fill) = self.remembered(client_ref) {
            return Ok(fill); // already executed in this process: never twice
        }
        let result = match self.store.get(client_ref.as_str()).await? {
            Some(rec) => self.resume(client_ref, order, rec).await,
            None => self.send_new(client_ref, order).await,
        };
        match &result {
            Ok(fill) => self.remember(client_ref, fill),
            Err(e) => tracing::warn!(intent = %client_ref, error = %e, "Avantis direct order not filled"),
        }
        result
    }

    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        if let Some(fill) = self.remembered(client_ref) {
            return Ok(Lookup::Filled(fill));
        }
        let Some(rec) = self.store.get(client_ref.as_str()).await? else {
            return match &self.tpsl {
                Some(route) => route.lookup(client_ref).await,
                None => Ok(Lookup::NotExecuted),
            };
        };
        match rec.state {
            TxState::Failed => {
                let reverted = rec.receipt.as_ref().is_some_and(|r| !r.success);
                let never_broadcast = !rec.state_path().contains(&TxState::Sent);
                Ok(if reverted || never_broadcast { Lookup::NotExecuted } else { Lookup::Unknown })
            }
            TxState::Mined => {
                let (Some(note), Some(receipt)) = (OrderNote::of(&rec), rec.receipt.as_ref()) else { return Ok(Lookup::Unknown) };
                let block_ts = self.block_timestamp(receipt.block_number).await?;
                match self.find(&note, receipt, block_ts).await? {
                    Found::Fill(fill) => {
                        self.remember(client_ref, &fill);
                        Ok(Lookup::Filled(fill))
                    }
                    Found::Changed(_) | Found::NotYet => Ok(Lookup::Unknown),
                }
            }
            _ => Ok(Lookup::Unknown),
        }
    }

    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.snapshot(trader).await?.iter().map(|p| p.to_venue(trader)).collect()
    }

    /// Core `/user-data` `limitOrders[]`.
    async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Option<Vec<vanta_domain::recon::VenueLimitOrder>>> {
        Ok(Some(self.client.limit_orders(trader).await?))
    }

    /// USDC in the wallet (`/v2/allowance` raw `balance`) plus the collateral of open positions.
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        let account = self.client.usdc_account(trader).await?;
        let mut total = account.balance;
        for p in self.snapshot(trader).await? {
            total = total.checked_add(p.collateral)?;
        }
        Ok(Some(total))
    }
}
