//! [`AvantisVenue`]: the domain [`Venue`] port on Avantis v2, signing with the trader's key or an
//! enabled delegate's.
//!
//! Reconciliation of an ambiguous market submission (timeout, dropped stream, polling gave up):
//! 1. with a tracking id, replay its events; a terminal event decides;
//! 2. compare the trader's positions with the snapshot taken before submitting; a change that
//!    matches the order means it filled (no second submission);
//! 3. an accepted order (tracking id known) is never re-POSTed: still unknown → `Ambiguous`;
//! 4. without a tracking id, if nothing changed and the intent's nonce is unused (when
//!    `nonce_check` is on), the order provably did not execute: the *identical* signed payload is
//!    submitted once more (it can execute at most once: same nonce). Anything else → `Ambiguous`.
//!
//! With `deterministic_nonces` (the default) every order's intent nonce is derived from the signer
//! and the caller's reference, so one reference can execute at most once on Avantis whatever
//! is resubmitted, even across cold starts; `lookup` uses the same nonce to tell "never executed".
//! In-process, a reference that already filled returns its recorded fill instead of trading again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::U256;
use async_trait::async_trait;
use serde_json::Value;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairIndex, PairInfo, Side};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::ports::{Delegation, KnownPosition, Lookup, Purpose, Signer, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::time::{Clock, Timestamp};

use super::catalog::is_upside;
use super::decimal::json_u64;
use super::intents::{CloseRequest, OpenRequest, SignedIntent, intent_deadline};
use super::market::{MarketOutcome, MarketSubmission, Step, SubmitError, Tracker};
use super::{AvantisClient, AvantisConfig};
use crate::eip712::Intent;

/// Where positions are read from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionsSource {
    /// Core `/user-data` (what the SDK uses; includes triggers).
    #[default]
    Core,
    /// tx-builder `/v2/positions` (read from chain).
    TxBuilder,
}

/// A position in either source's terms.
type Pos = super::reads::TraderPosition;

/// What the positions say about an order.
enum PosCheck {
    Filled(VenueFill),
    /// It took effect but the fill cannot be reconstructed from positions.
    Changed(String),
    Unchanged,
}

/// Turns a market outcome into the fill of one particular order.
type FillFn = Arc<dyn Fn(&MarketOutcome) -> DomainResult<VenueFill> + Send + Sync>;
/// Tells from the trader's positions whether one particular order took effect.
type CheckFn = Arc<dyn Fn(&[Pos]) -> PosCheck + Send + Sync>;

/// What this process knows of an order it sent, by the caller's reference.
#[derive(Clone)]
enum Recorded {
    Filled(VenueFill),
    /// The submission ended ambiguous.
    Pending {
        trader: TraderAddress,
        tracking_id: Option<String>,
        deadline_ms: Option<U256>,
        fill_of: FillFn,
        check: CheckFn,
    },
}

/// Records kept in memory (a cold start forgets them; the nonce check still works).
const MAX_RECORDS: usize = 4096;

/// How long a positive delegation check is trusted.
const DELEGATION_TTL: Duration = Duration::from_secs(60);

/// The Avantis venue for one signing key (the trader's own or a delegate's).
pub struct AvantisVenue {
    client: AvantisClient,
    signer: Arc<dyn Signer>,
    clock: Arc<dyn Clock>,
    /// When each trader's delegation was last seen valid, by the venue's clock.
    delegation_ok: Mutex<HashMap<TraderAddress, Timestamp>>,
    records: Mutex<HashMap<IntentId, Recorded>>,
    /// Where the EIP-7702 authorisation's account nonce is read (None: a fresh delegate key's 0).
    authority_nonces: Option<Arc<dyn super::eip7702::AuthorityNonce>>,
}

impl std::fmt::Debug for AvantisVenue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvantisVenue").field("client", &self.client).field("signer", &self.signer.address()).finish_non_exhaustive()
    }
}

impl AvantisVenue {
    pub fn new(client: AvantisClient, signer: Arc<dyn Signer>) -> Self {
        Self {
            clock: Arc::clone(&client.clock),
            client,
            signer,
            delegation_ok: Mutex::new(HashMap::new()),
            records: Mutex::new(HashMap::new()),
            authority_nonces: None,
        }
    }

    /// Reads the signer's account nonce for every market order's EIP-7702 authorisation from
    /// `nonces` (over RPC, as the official client does when it has one). A failed read signs
    /// nothing.
    pub fn with_authority_nonces(mut self, nonces: Arc<dyn super::eip7702::AuthorityNonce>) -> Self {
        self.authority_nonces = Some(nonces);
        self
    }

    /// The account nonce the EIP-7702 authorisation is signed over: read (before anything is
    /// signed; a failure ends the order, unsigned), else a fresh delegate key's 0 (the Lambda
    /// wiring always reads it over `BASE_RPC_URL`).
    async fn authorization_nonce(&self, trader: TraderAddress) -> DomainResult<u64> {
        let me = self.signer.address();
        match &self.authority_nonces {
            Some(nonces) => nonces.account_nonce(me.address()).await.map_err(|e| {
                DomainError::Unavailable(format!(
                    "the account nonce of key {me} for the order's EIP-7702 authorisation could not be read ({e}); nothing was signed"
                ))
            }),
            None => {
                if me == trader {
                    tracing::warn!(signer = %me, "EIP-7702 authorisation over nonce 0 for a trader's own key without an RPC (stale if it ever sent a transaction)");
                }
                Ok(super::eip7702::DELEGATE_ACCOUNT_NONCE)
            }
        }
    }

    /// From a configuration (builds the client).
    pub fn from_config(cfg: AvantisConfig, signer: Arc<dyn Signer>) -> DomainResult<Self> {
        Ok(Self::new(AvantisClient::new(cfg)?, signer))
    }

    /// The clock for timestamps, deadlines and the delegation cache (the client's too).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.client = self.client.with_clock(clock.clone());
        self.clock = clock;
        self
    }

    pub fn client(&self) -> &AvantisClient {
        &self.client
    }

    async fn snapshot(&self, trader: TraderAddress) -> DomainResult<Vec<Pos>> {
        self.client.trader_positions(trader).await
    }

    /// A delegate must be enabled, unexpired and allowed to sign intents for `trader`.
    async fn ensure_can_sign(&self, trader: TraderAddress) -> DomainResult<()> {
        let me = self.signer.address();
        if me == trader {
            return Ok(());
        }
        let now = self.clock.now();
        let fresh = |at: Timestamp| now.since(at) >= 0 && now.since(at) < i64::try_from(DELEGATION_TTL.as_millis()).unwrap_or(i64::MAX);
        if self.delegation_ok.lock().ok().and_then(|m| m.get(&trader).copied()).is_some_and(fresh) {
            return Ok(());
        }
        let st = self.client.delegation(trader, me).await?;
        let now_s = u64::try_from(now.secs()).unwrap_or(0);
        // The relayer route signs intents: the delegation must allow exactly that.
        let why = if !st.is_enabled {
            Some("the delegation is not enabled")
        } else if st.expiry <= now_s {
            Some("the delegation has expired")
        } else if !st.can_sign_intents {
            Some("the delegation does not allow signing orders (canSignIntents is false)")
        } else {
            None
        };
        if let Some(why) = why {
            return Err(DomainError::Forbidden(format!(
                "Veranta does not let Vanta's key {me} trade for wallet {trader}: {why}. Nothing was signed; renew the delegation and try again."
            )));
        }
        if let Ok(mut m) = self.delegation_ok.lock() {
            m.insert(trader, now);
        }
        Ok(())
    }

    async fn pair_info(&self, pair: PairIndex) -> DomainResult<(Arc<PairCatalog>, PairInfo)> {
        let catalog = self.client.pairs().await?;
        let info =
            catalog.by_index(pair).cloned().ok_or_else(|| DomainError::Invalid(format!("Avantis has no pair at index {}", pair.0)))?;
        Ok((catalog, info))
    }

    fn now(&self) -> Timestamp {
        self.clock.now()
    }

    /// Unix ms for the EIP-7702 leg's exec nonce key.
    fn leg_clock_ms(&self) -> u64 {
        u64::try_from(self.clock.now().millis()).unwrap_or(0)
    }

    /// The intent nonce for `client_ref` ([`super::local::derived_nonce`] of the signer and the
    /// reference). Nonces are a per-signer bitmap, so a reference can execute at most once.
    pub fn client_nonce(&self, client_ref: &IntentId) -> Option<U256> {
        if !self.client.cfg.deterministic_nonces {
            return None;
        }
        Some(super::local::derived_nonce(self.signer.address().address(), client_ref.as_str()))
    }

    fn record(&self, client_ref: &IntentId, rec: Recorded) {
        if let Ok(mut m) = self.records.lock() {
            if m.len() >= MAX_RECORDS && !m.contains_key(client_ref) {
                m.clear();
            }
            m.insert(client_ref.clone(), rec);
        }
    }

    fn recorded(&self, client_ref: &IntentId) -> Option<Recorded> {
        self.records.lock().ok().and_then(|m| m.get(client_ref).cloned())
    }

    // -----------------------------------------------------------------------------------------
    // Open
    // -----------------------------------------------------------------------------------------

    async fn open(&self, client_ref: &IntentId, req: OpenRequest) -> DomainResult<VenueFill> {
        let (_, info) = self.pair_info(req.pair).await?;
        if !info.listed {
            return Err(DomainError::Refused(format!("{} is delisted on Veranta", info.symbol)));
        }
        self.ensure_can_sign(req.trader).await?;
        let before = self.snapshot(req.trader).await?;
        let payload = self.client.open_intent(&req).await?;
        // The EIP-7702 leg's call, decoded and compared with the order before anything is signed.
        let call = self.client.open_leg_calldata(&req, self.signer.address()).await?;
        let auth_nonce = self.authorization_nonce(req.trader).await?;
        let signed = self.client.sign_intent(payload, self.signer.as_ref()).await?;
        let leg = self.client.sign_leg_at(&call, self.signer.as_ref(), Purpose::Entry, self.leg_clock_ms(), auth_nonce).await?;
        let sub = MarketSubmission::new(if req.pnl { 6 } else { 0 }, &signed).with_leg(&leg);
        tracing::info!(intent = %client_ref, pair = req.pair.0, "submitting Avantis market open");
        let first = self.client.submit_market(&sub).await;
        let now = self.now();
        let owned = req.clone();
        let fill_of: FillFn = Arc::new(move |o: &MarketOutcome| open_fill(o, &owned, now));
        let side = req.side;
        let (pair, collateral) = (req.pair, req.collateral);
        let check: CheckFn = Arc::new(move |after: &[Pos]| {
            let new: Vec<&Pos> = after
                .iter()
                .filter(|p| p.pair == pair && p.buy == side.is_buy() && !before.iter().any(|b| b.pair == p.pair && b.index == p.index))
                .collect();
            match new.as_slice() {
                [] => PosCheck::Unchanged,
                [p] => {
                    let leverage = match Leverage::from_raw(p.leverage_raw) {
                        Ok(l) => l,
                        Err(e) => return PosCheck::Changed(format!("new position with unreadable leverage: {e}")),
                    };
                    PosCheck::Filled(VenueFill {
                        pair: p.pair,
                        trade_index: p.index,
                        side,
                        price: p.open_price,
                        collateral: p.collateral,
                        leverage,
                        fee: collateral.checked_sub(p.collateral).unwrap_or(Usdc::ZERO),
                        at: now,
                        venue_ref: format!("avantis:position:{}:{}", p.pair.0, p.index),
                        open_time: p.opened_at.filter(|t| *t > 0),
                    })
                }
                _ => PosCheck::Changed(format!("{} new positions on pair {}", new.len(), pair.0)),
            }
        });
        self.settle(client_ref, req.trader, &signed, &sub, first, fill_of, check).await
    }

    // -----------------------------------------------------------------------------------------
    // Close
    // -----------------------------------------------------------------------------------------

    async fn close(
        &self,
        client_ref: &IntentId,
        trader: TraderAddress,
        pair: PairIndex,
        trade_index: u32,
        collateral: Usdc,
        known: Option<KnownPosition>,
    ) -> DomainResult<VenueFill> {
        let (catalog, info) = self.pair_info(pair).await?;
        let model = catalog.fees(pair).cloned();
        self.ensure_can_sign(trader).await?;
        let before = self.snapshot(trader).await?;
        let pos = before
            .iter()
            .find(|p| p.pair == pair && p.index == trade_index)
            .cloned()
            .ok_or_else(|| DomainError::NotFound(format!("no open Avantis trade {trade_index} on pair {}", pair.0)))?;
        let leverage = Leverage::from_raw(pos.leverage_raw).map_err(|e| DomainError::Internal(format!("position leverage: {e}")))?;
        // Never close another trade that took the index: the venue's trade must be the recorded one.
        if let Some(k) = known {
            let side = if pos.buy { Side::Long } else { Side::Short };
            k.check(side, leverage, pos.open_price, pos.opened_at.filter(|t| *t > 0)).map_err(|why| {
                DomainError::NotFound(format!("Avantis trade {trade_index} on pair {} is not the recorded position: {why}", pair.0))
            })?;
        }
        let closing = collateral.min(pos.collateral);
        if closing.is_zero() {
            return Err(DomainError::Invalid("nothing to close".into()));
        }
        let req = CloseRequest {
            trader,
            pair,
            trade_index,
            collateral: closing,
            open_timestamp: pos.opened_at,
            expected_price: None,
            nonce: self.client_nonce(client_ref),
        };
        let payload = self.client.close_intent(&req).await?;
        let call = self.client.close_leg_calldata(&req, self.signer.address()).await?;
        let auth_nonce = self.authorization_nonce(trader).await?;
        let signed = self.client.sign_intent(payload, self.signer.as_ref()).await?;
        let leg = self.client.sign_leg_at(&call, self.signer.as_ref(), Purpose::Exit, self.leg_clock_ms(), auth_nonce).await?;
        let sub = MarketSubmission::new(if pos.is_pnl { 7 } else { 1 }, &signed).with_leg(&leg);
        tracing::info!(intent = %client_ref, pair = pair.0, trade_index, "submitting Avantis market close");
        let first = self.client.submit_market(&sub).await;
        let now = self.now();
        let side = if pos.buy { Side::Long } else { Side::Short };
        // The venue's close fee at the fill price (its maker/taker blend where the pair has
        // rates, none on an Upside pair; the venue's history has the exact figure).
        let closed = leverage.notional(closing)?;
        let flat = info.close_fee;
        let fill_of: FillFn = Arc::new(move |o: &MarketOutcome| {
            let MarketOutcome::Executed { tracking_id, payload, .. } = o else {
                return Err(DomainError::Internal("not an execution".into()));
            };
            let price = payload
                .get("price")
                .and_then(json_u64)
                .or_else(|| payload.get("t").and_then(|t| t.get("openPrice")).and_then(json_u64))
                .ok_or_else(|| DomainError::Internal("close execution without a price".into()))?;
            let fee = vanta_domain::compute::close_fee(model.as_ref(), side, closed, Price::from_raw(price), flat)?;
            Ok(VenueFill {
                pair,
                trade_index,
                side,
                price: Price::from_raw(price),
                collateral: closing,
                leverage,
                fee,
                at: now,
                venue_ref: market_ref(tracking_id, payload),
                open_time: None,
            })
        });
        let check: CheckFn = Arc::new(move |after: &[Pos]| match after.iter().find(|p| p.pair == pair && p.index == trade_index) {
            Some(p) if p.collateral == pos.collateral && p.opened_at == pos.opened_at => PosCheck::Unchanged,
            _ => PosCheck::Changed(format!("trade {trade_index} on pair {} was closed or reduced, fill price unknown", pair.0)),
        });
        self.settle(client_ref, trader, &signed, &sub, first, fill_of, check).await
    }

    // -----------------------------------------------------------------------------------------
    // TP/SL
    // -----------------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    async fn update_tpsl(
        &self,
        client_ref: &IntentId,
        trader: TraderAddress,
        pair: PairIndex,
        trade_index: u32,
        tp: Option<Price>,
        sl: Option<Price>,
        known: Option<KnownPosition>,
    ) -> DomainResult<VenueFill> {
        self.ensure_can_sign(trader).await?;
        let before = self.snapshot(trader).await?;
        let pos = before
            .iter()
            .find(|p| p.pair == pair && p.index == trade_index)
            .cloned()
            .ok_or_else(|| DomainError::NotFound(format!("no open Avantis trade {trade_index} on pair {}", pair.0)))?;
        let leverage = Leverage::from_raw(pos.leverage_raw).map_err(|e| DomainError::Internal(format!("position leverage: {e}")))?;
        if let Some(k) = known {
            let side = if pos.buy { Side::Long } else { Side::Short };
            k.check(side, leverage, pos.open_price, pos.opened_at.filter(|t| *t > 0)).map_err(|why| {
                DomainError::NotFound(format!("Avantis trade {trade_index} on pair {} is not the recorded position: {why}", pair.0))
            })?;
        }
        let fill = |venue_ref: String| VenueFill {
            pair,
            trade_index,
            side: if pos.buy { Side::Long } else { Side::Short },
            price: pos.open_price,
            collateral: pos.collateral,
            leverage,
            fee: Usdc::ZERO,
            at: self.now(),
            venue_ref,
            open_time: pos.opened_at.filter(|t| *t > 0),
        };
        // The untouched leg is the live position's, never 0 (an SL of 0 removes the stop, a TP
        // of 0 resets it to the cap).
        let want = (tp.unwrap_or(pos.tp), sl.unwrap_or(pos.sl));
        let before = (pos.tp, pos.sl);
        if shows_tpsl(&pos, want, before) {
            return Ok(fill("avantis:tpsl-visible".to_owned())); // already applied (a redelivery)
        }
        let payload =
            self.client.tpsl_update_intent(trader, pair, trade_index, Some(want.0), Some(want.1), self.client_nonce(client_ref)).await?;
        let signed = self.client.sign_intent(payload, self.signer.as_ref()).await?;
        let trader_text = if pos.trader_text.is_empty() { trader.address().to_checksum(None) } else { pos.trader_text.clone() };
        // A 2xx is acceptance only: the change is applied when /user-data shows it.
        let (accepted, venue_ref) = match self.client.put_global_tpsl(&trader_text, &signed, tp.is_some()).await {
            Ok(id) => (format!("Veranta accepted the TP/SL change ({id})"), format!("avantis:{id}")),
            Err(DomainError::Ambiguous(reason)) => {
                (format!("the TP/SL change may have been accepted ({reason})"), "avantis:tpsl-reconciled".to_owned())
            }
            // The same reference signed before (same nonce) was accepted already.
            Err(e @ (DomainError::Refused(_) | DomainError::Invalid(_))) if mentions_nonce(&e.to_string()) => {
                (format!("an earlier TP/SL change with this reference was accepted ({e})"), "avantis:tpsl-reconciled".to_owned())
            }
            Err(e) => return Err(e),
        };
        match self.wait_for_tpsl(trader, pair, trade_index, want, before).await {
            Some(()) => Ok(fill(venue_ref)),
            None => Err(DomainError::Ambiguous(format!(
                "{accepted}, but the position does not show it after {}s: not yet visible, it may still apply",
                self.client.cfg.tpsl_visible_timeout.as_secs()
            ))),
        }
    }

    /// Polls the position until it shows `want` (bounded by `tpsl_visible_timeout`).
    async fn wait_for_tpsl(
        &self,
        trader: TraderAddress,
        pair: PairIndex,
        trade_index: u32,
        want: (Price, Price),
        before: (Price, Price),
    ) -> Option<()> {
        let started = tokio::time::Instant::now();
        loop {
            if let Ok(now) = self.snapshot(trader).await
                && now.iter().any(|p| p.pair == pair && p.index == trade_index && shows_tpsl(p, want, before))
            {
                return Some(());
            }
            if started.elapsed() >= self.client.cfg.tpsl_visible_timeout {
                return None;
            }
            tokio::time::sleep(self.client.cfg.status_poll_interval).await;
        }
    }

    // -----------------------------------------------------------------------------------------
    // Settlement and reconciliation
    // -----------------------------------------------------------------------------------------

    #[allow(clippy::too_many_arguments)]
    async fn settle(
        &self,
        client_ref: &IntentId,
        trader: TraderAddress,
        signed: &SignedIntent,
        sub: &MarketSubmission,
        first: Result<MarketOutcome, SubmitError>,
        fill_of: FillFn,
        check: CheckFn,
    ) -> DomainResult<VenueFill> {
        let mut tracking_id = None;
        let result = self.reconcile(trader, signed, sub, first, fill_of.as_ref(), check.as_ref(), &mut tracking_id).await;
        if let Err(DomainError::Ambiguous(_)) = &result {
            let deadline_ms = intent_deadline(&signed.payload.intent);
            self.record(client_ref, Recorded::Pending { trader, tracking_id, deadline_ms, fill_of, check });
        }
        result
    }

    #[allow(clippy::too_many_arguments)]
    async fn reconcile(
        &self,
        trader: TraderAddress,
        signed: &SignedIntent,
        sub: &MarketSubmission,
        first: Result<MarketOutcome, SubmitError>,
        fill_of: &(dyn Fn(&MarketOutcome) -> DomainResult<VenueFill> + Send + Sync),
        check: &(dyn Fn(&[Pos]) -> PosCheck + Send + Sync),
        tracking_out: &mut Option<String>,
    ) -> DomainResult<VenueFill> {
        let mut result = first;
        let mut resubmitted = false;
        loop {
            let err = match result {
                Ok(MarketOutcome::Failed { queued: false, code, message, .. }) if !resubmitted => {
                    tracing::warn!(code = %code, message = %message, "Avantis order never reached the queue; resubmitting the same signed order once");
                    resubmitted = true;
                    result = self.client.submit_market(sub).await;
                    continue;
                }
                Ok(outcome) => return outcome_to_fill(&outcome, fill_of),
                Err(SubmitError::Rejected(e)) if resubmitted => {
                    // The first submission may have consumed the nonce after all.
                    return match self.positions_say(trader, check).await {
                        Some(PosCheck::Filled(f)) => Ok(f),
                        Some(PosCheck::Unchanged) if !mentions_nonce(&e.message) => Err(e.to_domain()),
                        Some(PosCheck::Changed(why)) => Err(DomainError::Ambiguous(why)),
                        _ => Err(DomainError::Ambiguous(format!("resubmission refused ({e}); the first submission may still settle"))),
                    };
                }
                Err(SubmitError::Rejected(e)) => return Err(e.to_domain()),
                Err(SubmitError::NotSent(m)) if !resubmitted => return Err(DomainError::Unavailable(m)),
                Err(e) => e,
            };
            tracing::warn!(error = ?err, "Avantis market submission ambiguous; reconciling");
            if let SubmitError::Pending { tracking_id, .. } = &err {
                *tracking_out = Some(tracking_id.clone());
            }
            // 1. Replay by tracking id.
            if let SubmitError::Pending { tracking_id, .. } = &err
                && let Ok(status) = self.client.tracking_status(tracking_id, None).await
            {
                let mut tracker = Tracker { tracking_id: Some(tracking_id.clone()), ..Tracker::default() };
                let terminal = status.events.iter().find_map(|ev| match tracker.apply(ev) {
                    Step::Done(o) => Some(o),
                    _ => None,
                });
                if let Some(o) = terminal {
                    result = Ok(o);
                    continue;
                }
            }
            // 2. Positions.
            match self.positions_say(trader, check).await {
                Some(PosCheck::Filled(f)) => return Ok(f),
                Some(PosCheck::Changed(why)) => return Err(DomainError::Ambiguous(why)),
                Some(PosCheck::Unchanged) => {}
                None => return Err(ambiguous(&err)),
            }
            // 3. Accepted orders are never re-POSTed; one resubmission at most.
            if resubmitted || matches!(err, SubmitError::Pending { .. }) {
                return Err(ambiguous(&err));
            }
            // 4. Nonce still unused?
            if self.client.cfg.nonce_check {
                let nonce = intent_nonce(&signed.payload.intent);
                let signer = TraderAddress::new(signed.signer).map_err(|_| ambiguous(&err))?;
                match self.client.nonce_status(signer, nonce).await {
                    Ok(st) if st.used == Some(false) => {}
                    Ok(st) => {
                        return Err(DomainError::Ambiguous(format!(
                            "{}; nonce {} (used: {:?}) and no position change yet",
                            ambiguous(&err),
                            nonce.map(|n| n.to_string()).unwrap_or_default(),
                            st.used
                        )));
                    }
                    Err(_) => return Err(ambiguous(&err)),
                }
            }
            tracing::warn!("Avantis order provably did not execute; resubmitting the same signed order once");
            resubmitted = true;
            result = self.client.submit_market(sub).await;
        }
    }

    async fn positions_say(&self, trader: TraderAddress, check: &(dyn Fn(&[Pos]) -> PosCheck + Send + Sync)) -> Option<PosCheck> {
        self.snapshot(trader).await.ok().map(|after| check(&after))
    }
}

/// Once a submission was ambiguous, every later failure leaves the order ambiguous.
fn ambiguous(err: &SubmitError) -> DomainError {
    match err.to_domain() {
        DomainError::Ambiguous(m) => DomainError::Ambiguous(m),
        other => DomainError::Ambiguous(format!("market order outcome unknown: {other}")),
    }
}

/// Whether a position shows the TP/SL levels `want`. A TP of 0 is corrected to the venue's cap,
/// so for it any change from `before` counts (as the SDK's wait does).
fn shows_tpsl(p: &Pos, want: (Price, Price), before: (Price, Price)) -> bool {
    let tp_ok = p.tp == want.0 || (want.0.is_zero() && p.tp != before.0);
    tp_ok && p.sl == want.1
}

/// The venue's implicit take-profit (`PairStorage.correctTp`: `open ± open × maxGain% /
/// leverage`), raw 1e10.
fn max_gain_tp(p: &Pos, info: &PairInfo) -> Option<u64> {
    let open = u128::from(p.open_price.raw());
    let delta = open.checked_mul(u128::from(info.max_gain.raw()))?.checked_div(u128::from(p.leverage_raw).checked_mul(100)?)?;
    let cap = if p.buy { open.checked_add(delta)? } else { open.saturating_sub(delta) };
    u64::try_from(cap).ok()
}

/// A TP at (within 0.01 % of) the venue's max-gain cap is the venue's default, not a level the
/// user set: it is not shown as theirs.
fn is_cap_tp(p: &Pos, info: Option<&PairInfo>) -> bool {
    let (Some(info), tp) = (info, p.tp.raw()) else { return false };
    if tp == 0 {
        return false;
    }
    max_gain_tp(p, info).is_some_and(|cap| cap.abs_diff(tp) <= cap / 10_000)
}

fn mentions_nonce(message: &str) -> bool {
    message.to_ascii_lowercase().contains("nonce")
}

fn intent_nonce(intent: &Intent) -> Option<U256> {
    match intent {
        Intent::OpenTradeReq(m) => Some(m._nonce),
        Intent::CloseTradeReq(m) => Some(m._nonce),
        Intent::OpenTradeCoinExposureReq(m) => Some(m._nonce),
        Intent::CloseTradeCoinExposureReq(m) => Some(m._nonce),
        Intent::IncreasePositionSizeReq(m) => Some(m._nonce),
        Intent::IncreasePositionSizeWithCoinExposureReq(m) => Some(m._nonce),
        _ => None,
    }
}

fn market_ref(tracking_id: &str, payload: &Value) -> String {
    if !tracking_id.is_empty() {
        return format!("avantis:{tracking_id}");
    }
    payload.get("transactionHash").and_then(Value::as_str).map_or_else(|| "avantis:unknown".to_owned(), |h| format!("avantis:{h}"))
}

fn outcome_to_fill(
    outcome: &MarketOutcome,
    fill_of: &(dyn Fn(&MarketOutcome) -> DomainResult<VenueFill> + Send + Sync),
) -> DomainResult<VenueFill> {
    match outcome {
        MarketOutcome::Executed { .. } => fill_of(outcome),
        MarketOutcome::Canceled { tracking_id, payload } => {
            let reason = payload.get("reason").and_then(Value::as_str).unwrap_or("declined by the protocol");
            Err(DomainError::Refused(format!("Avantis canceled market order {tracking_id}: {reason}")))
        }
        MarketOutcome::Failed { tracking_id, code, message, .. } => Err(DomainError::Refused(format!(
            "Avantis market order {} failed: {code}: {message}",
            tracking_id.as_deref().unwrap_or("(no tracking id)")
        ))),
    }
}

fn open_fill(o: &MarketOutcome, req: &OpenRequest, now: Timestamp) -> DomainResult<VenueFill> {
    let MarketOutcome::Executed { tracking_id, payload, .. } = o else {
        return Err(DomainError::Internal("not an execution".into()));
    };
    let bad = |m: &str| DomainError::Internal(format!("Avantis open execution: {m}"));
    let t = payload.get("t").ok_or_else(|| bad("no stored trade `t`"))?;
    let index = t.get("index").and_then(json_u64).and_then(|i| u32::try_from(i).ok()).ok_or_else(|| bad("no trade index"))?;
    let pair = t.get("pairIndex").and_then(json_u64);
    if pair != Some(u64::from(req.pair.0)) {
        return Err(bad("pair differs from the order"));
    }
    if t.get("buy").and_then(Value::as_bool) != Some(req.side.is_buy()) {
        return Err(bad("side differs from the order"));
    }
    let price = payload.get("price").and_then(json_u64).or_else(|| t.get("openPrice").and_then(json_u64)).ok_or_else(|| bad("no price"))?;
    let collateral = Usdc::from_raw(t.get("initialPosToken").and_then(json_u64).ok_or_else(|| bad("no initialPosToken"))?);
    let leverage = match t.get("leverage").and_then(json_u64) {
        Some(l) => Leverage::from_raw(l).map_err(|e| bad(&e.to_string()))?,
        None => req.leverage,
    };
    Ok(VenueFill {
        pair: req.pair,
        trade_index: index,
        side: req.side,
        price: Price::from_raw(price),
        collateral,
        leverage,
        fee: req.collateral.checked_sub(collateral).unwrap_or(Usdc::ZERO),
        at: now,
        venue_ref: market_ref(tracking_id, payload),
        open_time: t.get("timestamp").and_then(json_u64).filter(|secs| *secs > 0),
    })
}

#[async_trait]
impl Venue for AvantisVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }

    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.client.pairs().await
    }

    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        if let Some(Recorded::Filled(fill)) = self.recorded(client_ref) {
            return Ok(fill); // already executed in this process: never twice
        }
        let result = self.execute_once(client_ref, order).await;
        if let Ok(fill) = &result {
            self.record(client_ref, Recorded::Filled(fill.clone()));
        }
        result
    }

    /// What became of `client_ref`: a fill this process saw or can replay, `NotExecuted` when the
    /// reference's nonce is still unused on chain (and any intent this process signed for it has
    /// expired; with deterministic nonces a later resubmission under the same reference cannot
    /// execute twice), otherwise `Unknown`.
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        let rec = self.recorded(client_ref);
        let mut deadline = None;
        match &rec {
            Some(Recorded::Filled(f)) => return Ok(Lookup::Filled(f.clone())),
            Some(Recorded::Pending { trader, tracking_id, deadline_ms, fill_of, check }) => {
                deadline = *deadline_ms;
                if let Some(id) = tracking_id {
                    let status = self.client.tracking_status(id, None).await?;
                    let mut tracker = Tracker { tracking_id: Some(id.clone()), ..Tracker::default() };
                    for ev in &status.events {
                        if let Step::Done(o) = tracker.apply(ev) {
                            return match o {
                                MarketOutcome::Executed { .. } => {
                                    let fill = fill_of(&o)?;
                                    self.record(client_ref, Recorded::Filled(fill.clone()));
                                    Ok(Lookup::Filled(fill))
                                }
                                MarketOutcome::Canceled { .. } | MarketOutcome::Failed { .. } => Ok(Lookup::NotExecuted),
                            };
                        }
                    }
                    return Ok(Lookup::Unknown); // accepted, still running
                }
                match check(&self.snapshot(*trader).await?) {
                    PosCheck::Filled(fill) => {
                        self.record(client_ref, Recorded::Filled(fill.clone()));
                        return Ok(Lookup::Filled(fill));
                    }
                    PosCheck::Changed(_) => return Ok(Lookup::Unknown),
                    PosCheck::Unchanged => {}
                }
            }
            None => {}
        }
        let Some(nonce) = self.client_nonce(client_ref) else { return Ok(Lookup::Unknown) };
        let st = self.client.nonce_status(self.signer.address(), Some(nonce)).await?;
        let expired = deadline.is_none_or(|d| d < U256::from(u64::try_from(self.now().millis()).unwrap_or(0)));
        Ok(match st.used {
            Some(false) if expired => Lookup::NotExecuted,
            _ => Lookup::Unknown,
        })
    }

    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.positions_now(trader).await
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
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        Ok(Some(self.client.usdc_account(trader).await?.balance))
    }
    async fn delegation(&self, trader: TraderAddress, delegate: TraderAddress) -> DomainResult<Option<Delegation>> {
        let d = self.client.delegation(trader, delegate).await?;
        let expires_at = (d.expiry > 0).then(|| vanta_domain::time::Timestamp::from_secs(i64::try_from(d.expiry).unwrap_or(i64::MAX)));
        let live = d.is_enabled && expires_at.is_none_or(|t| t > self.clock.now());
        Ok(Some(Delegation { enabled: live, expires_at, can_trade: live && d.can_sign_intents }))
    }
    /// Core `/user-data` `limitOrders[]` (whatever the positions source).
    async fn limit_orders(&self, trader: TraderAddress) -> DomainResult<Option<Vec<vanta_domain::recon::VenueLimitOrder>>> {
        Ok(Some(self.client.limit_orders(trader).await?))
    }
}

impl AvantisVenue {
    async fn execute_once(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        match order {
            VenueOrder::Open { trader, pair, side, collateral, leverage, reference_price, slippage, tp, sl } => {
                let (_, info) = self.pair_info(*pair).await?;
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
                    pnl: is_upside(&info.symbol),
                    nonce: self.client_nonce(client_ref),
                };
                self.open(client_ref, req).await
            }
            VenueOrder::Close { trader, pair, trade_index, collateral, known } => {
                self.close(client_ref, *trader, *pair, *trade_index, *collateral, *known).await
            }
            VenueOrder::UpdateTpSl { trader, pair, trade_index, tp, sl, known } => {
                self.update_tpsl(client_ref, *trader, *pair, *trade_index, *tp, *sl, *known).await
            }
        }
    }

    /// The trader's positions in domain terms.
    /// A TP at the venue's max-gain cap is shown as none (it is the venue's default).
    pub async fn positions_now(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        let catalog = self.client.pairs().await.ok();
        let mut out = Vec::new();
        for p in self.snapshot(trader).await? {
            let mut v = p.to_venue(trader)?;
            if is_cap_tp(&p, catalog.as_ref().and_then(|c| c.by_index(p.pair))) {
                v.tp = None;
            }
            out.push(v);
        }
        Ok(out)
    }
}
