//! The paper venue: the DRY adapter of the [`Venue`] port (production: every DRY trade under
//! Lambda and in the local runner fills here).

use std::sync::Arc;

use async_trait::async_trait;

use crate::error::{DomainError, DomainResult};
use crate::exec::ExecMode;
use crate::ids::{IntentId, TraderAddress, derived_id};
use crate::market::{PairCatalog, PairIndex, PairSymbol, Side};
use crate::money::{Bps, PercentP, Price, SignedUsdc, Usdc};
use crate::paper::{MemoryPaperBook, PaperAccount, PaperStore};
use crate::ports::{Lookup, Prices, Venue, VenueFill, VenueOrder, VenuePosition};
use crate::recon::{CloseReason, VenueClose, VenueHistory};
use crate::spread::{SpreadAsk, SpreadQuote, SpreadQuotes, spread_price};
use crate::time::Clock;
use crate::time::Timestamp;

/// The paper venue: fills market orders at the freshest oracle quote, moved against the trader by
/// half the venue's spread ([`spread_price`]), and charges the venue's open/close fee on notional.
/// Slippage beyond the order's tolerance is refused, as the venue would. Its book (cash, open
/// trades, fills) lives in a [`PaperStore`]: in memory by default, in the table under Lambda
/// ([`PaperVenue::with_book`]), so every instance trades one paper account per trader.
///
/// **The spread** is the venue's quote for the order where the deployment has a quote service
/// ([`PaperVenue::with_spreads`], `POST {risk_v2}/spread`), else the pair's `spreadP` from the
/// catalog. When the venue quotes no spread (blocked, unavailable, or the quote cannot be had) it
/// does not execute: a paper open is refused with the reason; a paper close (reduce-only, never
/// refused) still fills at the catalog's spread, or the oracle price when the catalog has none, and
/// its fill says so (in its `venue_ref`).
///
/// **Venue-held exits.** Like the venue, it holds each trade's take-profit and stop-loss (from
/// the open order and [`VenueOrder::UpdateTpSl`]) and its keeper step
/// ([`Venue::run_triggers`], run by the indexer's tick for every trader with DRY positions)
/// closes a trade whose TP, SL or liquidation price the trusted mark crossed: at the mark less
/// half the spread, with the venue's close fee, the collateral returned with the PnL less the
/// fee. Each such close is kept in the account's history ([`Venue::history`]), where the
/// reconciler finds and records it as it records Veranta's TP, SL and liquidations.
pub struct PaperVenue {
    catalog: Arc<PairCatalog>,
    prices: Arc<dyn Prices>,
    clock: Arc<dyn Clock>,
    book: Arc<dyn PaperStore>,
    spreads: Option<Arc<dyn SpreadQuotes>>,
}

/// The spread a paper fill uses, and what the fill says about it when it is not the venue's.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SpreadBasis {
    spread: PercentP,
    note: Option<String>,
}

/// Paper equity of an account nobody set a balance for.
pub const DEFAULT_PAPER_EQUITY: Usdc = Usdc::from_raw(10_000_000_000);

/// How often a paper write is tried again when another writer changed the account meanwhile.
const PAPER_ATTEMPTS: usize = 8;

impl PaperVenue {
    pub fn new(catalog: Arc<PairCatalog>, prices: Arc<dyn Prices>, clock: Arc<dyn Clock>) -> Self {
        Self { catalog, prices, clock, book: Arc::new(MemoryPaperBook::new()), spreads: None }
    }

    /// Asks `spreads` (the venue's spread quotes) for every fill's spread instead of taking the
    /// catalog's `spreadP`.
    pub fn with_spreads(mut self, spreads: Arc<dyn SpreadQuotes>) -> Self {
        self.spreads = Some(spreads);
        self
    }

    /// Keeps the book in `book` (shared by every instance that uses the same store).
    pub fn with_book(mut self, book: Arc<dyn PaperStore>) -> Self {
        self.book = book;
        self
    }

    /// Sets an account's paper equity (default [`DEFAULT_PAPER_EQUITY`]): its cash becomes
    /// `equity` less the margin of its open paper trades.
    pub async fn set_equity(&self, trader: TraderAddress, equity: Usdc) -> DomainResult<()> {
        for _ in 0..PAPER_ATTEMPTS {
            let mut acct = self.account(trader).await?;
            acct.cash = equity.checked_sub(acct.margin()?).unwrap_or(Usdc::ZERO);
            match self.book.commit_paper(&acct, None).await {
                Err(DomainError::Conflict(_)) => continue,
                other => return other,
            }
        }
        Err(DomainError::Unavailable("the paper account is busy; try again".into()))
    }

    async fn account(&self, trader: TraderAddress) -> DomainResult<PaperAccount> {
        Ok(self.book.paper_account(trader).await?.unwrap_or_else(|| PaperAccount::fresh(trader)))
    }

    async fn mark(&self, pair: &PairSymbol) -> DomainResult<Price> {
        let quotes = self.prices.quotes(pair).await?;
        quotes
            .iter()
            .max_by_key(|q| q.published_at)
            .map(|q| q.price)
            .ok_or_else(|| DomainError::Unavailable(format!("no price for {pair}")))
    }
}

#[async_trait]
impl Venue for PaperVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        Ok(self.catalog.clone())
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        // The paper venue, like a careful real one, never executes the same order twice, whichever
        // instance sees it again.
        if let Some(done) = self.book.paper_fill(client_ref).await? {
            return Ok(done);
        }
        let trader = match order {
            VenueOrder::Open { trader, .. } | VenueOrder::Close { trader, .. } | VenueOrder::UpdateTpSl { trader, .. } => *trader,
        };
        let mark = match order {
            VenueOrder::UpdateTpSl { .. } => None,
            VenueOrder::Open { pair, .. } | VenueOrder::Close { pair, .. } => {
                let info = self.catalog.by_index(*pair).ok_or_else(|| DomainError::Invalid(format!("no pair {pair}")))?;
                Some(self.mark(&info.symbol).await?)
            }
        };
        let basis = match (order, mark) {
            (VenueOrder::UpdateTpSl { .. }, _) | (_, None) => None,
            (_, Some(m)) => Some(self.spread_basis(order, m).await?),
        };
        for _ in 0..PAPER_ATTEMPTS {
            let mut acct = self.account(trader).await?;
            let fill = self.apply(client_ref, order, mark, basis.as_ref(), &mut acct)?;
            match self.book.commit_paper(&acct, Some((client_ref, &fill))).await {
                Ok(()) => return Ok(fill),
                Err(DomainError::Conflict(_)) => {
                    if let Some(done) = self.book.paper_fill(client_ref).await? {
                        return Ok(done);
                    }
                }
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Unavailable("the paper account is busy; try again".into()))
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        Ok(self.book.paper_account(trader).await?.map(|a| a.positions).unwrap_or_default())
    }
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        Ok(match self.book.paper_fill(client_ref).await? {
            Some(f) => Lookup::Filled(f),
            None => Lookup::NotExecuted,
        })
    }
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.account(trader).await?.equity().map(Some)
    }
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        Ok(Some(self.account(trader).await?.cash))
    }
    async fn history(&self, trader: TraderAddress, since: Option<Timestamp>) -> DomainResult<Option<VenueHistory>> {
        let closes = self.book.paper_account(trader).await?.map(|a| a.closes).unwrap_or_default();
        Ok(Some(VenueHistory { closes: closes.into_iter().filter(|c| since.is_none_or(|t| c.at >= t)).collect() }))
    }
    async fn run_triggers(&self, trader: TraderAddress, max_age_secs: u32, max_deviation: Bps) -> DomainResult<Vec<VenueClose>> {
        let Some(acct) = self.book.paper_account(trader).await? else { return Ok(Vec::new()) };
        let now = self.clock.now();
        let mut marks: Vec<(PairIndex, Option<Price>)> = Vec::new();
        let mut due: Vec<(VenuePosition, CloseReason, Price)> = Vec::new();
        for p in &acct.positions {
            let mark = match marks.iter().find(|(pair, _)| *pair == p.pair) {
                Some((_, m)) => *m,
                None => {
                    let m = self.trusted_mark(p.pair, now, max_age_secs, max_deviation).await;
                    marks.push((p.pair, m));
                    m
                }
            };
            // No trusted price: nothing fires (a stale price must not close a trade).
            let Some(mark) = mark else { continue };
            if let Some(reason) = venue_trigger(p, mark) {
                due.push((p.clone(), reason, mark));
            }
        }
        let mut closed = Vec::new();
        for (p, reason, mark) in due {
            if let Some(c) = self.close_triggered(&p, reason, mark).await? {
                closed.push(c);
            }
        }
        Ok(closed)
    }
}

/// Which venue-held exit, if any, `mark` fires for the paper trade `p` (pure): liquidation
/// first, then the stop-loss, then the take-profit, as the venue's keeper.
pub fn venue_trigger(p: &VenuePosition, mark: Price) -> Option<CloseReason> {
    let beyond = |level: Price, above: bool| if above { mark >= level } else { mark <= level };
    let (profit_above, loss_above) = match p.side {
        Side::Long => (true, false),
        Side::Short => (false, true),
    };
    if let Ok(liq) = crate::position::liquidation_price(p.side, p.open_price, p.leverage)
        && beyond(liq, loss_above)
    {
        return Some(CloseReason::Liquidation);
    }
    if let Some(sl) = p.sl.filter(|l| !l.is_zero())
        && beyond(sl, loss_above)
    {
        return Some(CloseReason::StopLoss);
    }
    if let Some(tp) = p.tp.filter(|l| !l.is_zero())
        && beyond(tp, profit_above)
    {
        return Some(CloseReason::TakeProfit);
    }
    None
}

/// Whether the book's trade `q` is the trade `p` (pair, index, side, open time).
fn same_trade(q: &VenuePosition, p: &VenuePosition) -> bool {
    q.pair == p.pair && q.trade_index == p.trade_index && q.side == p.side && q.open_time == p.open_time
}

impl PaperVenue {
    /// The pair's trusted mark at `now` (the TP/SL tick's rule, [`crate::risk_engine::reference_price`]),
    /// or None when there is none (no quote, stale, the sources disagree).
    async fn trusted_mark(&self, pair: PairIndex, now: Timestamp, max_age_secs: u32, max_deviation: Bps) -> Option<Price> {
        let info = self.catalog.by_index(pair)?;
        let quotes = match self.prices.quotes(&info.symbol).await {
            Ok(q) => q,
            Err(e) => {
                tracing::warn!(pair = %info.symbol, error = %e, "no price for the paper keeper; nothing fires on this pair");
                return None;
            }
        };
        match crate::risk_engine::reference_price(&info.symbol, &quotes, now, max_age_secs, max_deviation) {
            Ok(m) => Some(m),
            Err(why) => {
                tracing::info!(pair = %info.symbol, reason = %why, "no trusted price for the paper keeper; nothing fires on this pair");
                None
            }
        }
    }

    /// Closes the book's trade `p` for `reason` at `mark` (its full collateral, as a market
    /// close with the venue's spread and close fee) and records the close in the account's
    /// history, in one versioned write under the trade's own order reference: a second run, or
    /// one that overlaps, finds it closed (or the reference filled) and closes nothing. None when
    /// the trade is no longer in the book.
    async fn close_triggered(&self, p: &VenuePosition, reason: CloseReason, mark: Price) -> DomainResult<Option<VenueClose>> {
        let trader = p.trader;
        let open_time = p.open_time.map_or_else(|| "?".to_owned(), |t| t.to_string());
        let client_ref = derived_id("pkeep", &[&trader.key(), &p.pair.0.to_string(), &p.trade_index.to_string(), &open_time]);
        let order = VenueOrder::Close { trader, pair: p.pair, trade_index: p.trade_index, collateral: p.collateral, known: None };
        // A close is never refused: without the venue's spread quote it takes the catalog's.
        let basis = self.spread_basis(&order, mark).await?;
        for _ in 0..PAPER_ATTEMPTS {
            if self.book.paper_fill(&client_ref).await?.is_some() {
                return Ok(None); // closed by another run
            }
            let mut acct = self.account(trader).await?;
            let Some(held) = acct.positions.iter().find(|q| same_trade(q, p)).cloned() else { return Ok(None) };
            let order = VenueOrder::Close { trader, pair: p.pair, trade_index: p.trade_index, collateral: held.collateral, known: None };
            let fill = self.apply(&client_ref, &order, Some(mark), Some(&basis), &mut acct)?;
            // What the trade realised: its PnL at the fill less the fee, never a loss beyond its
            // collateral (the book returns nothing below that).
            let gross = crate::position::pnl(held.side, fill.collateral, held.leverage, held.open_price, fill.price)?;
            let net = gross.checked_sub(SignedUsdc::from_usdc(fill.fee)?)?;
            let floor = SignedUsdc::ZERO.checked_sub(SignedUsdc::from_usdc(fill.collateral)?)?;
            let close = VenueClose {
                id: client_ref.as_str().to_owned(),
                pair: p.pair,
                trade_index: p.trade_index,
                open_time: held.open_time,
                side: held.side,
                price: fill.price,
                collateral: fill.collateral,
                remaining: Usdc::ZERO,
                fee: fill.fee,
                net_pnl: net.max(floor),
                reason,
                at: fill.at,
            };
            acct.record_close(close.clone());
            match self.book.commit_paper(&acct, Some((&client_ref, &fill))).await {
                Ok(()) => {
                    tracing::info!(pair = p.pair.0, trade_index = p.trade_index, reason = ?reason, price = %fill.price, "paper keeper closed a trade");
                    return Ok(Some(close));
                }
                Err(DomainError::Conflict(_)) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(DomainError::Unavailable("the paper account is busy; try again".into()))
    }

    /// The spread `order` fills with at `mark` (see [`PaperVenue`]): the venue's quote, else the
    /// catalog's; an open the venue would not execute is refused here.
    async fn spread_basis(&self, order: &VenueOrder, mark: Price) -> DomainResult<SpreadBasis> {
        let (pair, trader) = match order {
            VenueOrder::Open { pair, trader, .. }
            | VenueOrder::Close { pair, trader, .. }
            | VenueOrder::UpdateTpSl { pair, trader, .. } => (*pair, *trader),
        };
        let info = self.catalog.by_index(pair).ok_or_else(|| DomainError::Invalid(format!("no pair {pair}")))?;
        let catalog = SpreadBasis { spread: info.spread, note: None };
        let Some(spreads) = &self.spreads else {
            return Ok(catalog);
        };
        let ask = match order {
            VenueOrder::Open { side, collateral, leverage, .. } => {
                Some(SpreadAsk { pair, trader, side: *side, is_open: true, coin_size10: 0, leverage: *leverage }.sized(*collateral, mark))
            }
            VenueOrder::Close { trade_index, collateral, known, .. } => {
                // Side and leverage of the trade being closed: the book's, else the record's.
                let booked = self.account(trader).await?.positions.into_iter().find(|p| p.pair == pair && p.trade_index == *trade_index);
                let held = booked
                    .as_ref()
                    .map(|p| (p.side, p.leverage, p.collateral))
                    .or_else(|| known.map(|k| (k.side, k.leverage, *collateral)));
                held.map(|(side, leverage, held)| {
                    SpreadAsk { pair, trader, side, is_open: false, coin_size10: 0, leverage }.sized((*collateral).min(held), mark)
                })
            }
            VenueOrder::UpdateTpSl { .. } => None,
        };
        let Some(ask) = ask else {
            // Nothing to close: the fill reports that (no quote needed).
            return Ok(catalog);
        };
        let is_open = ask.is_open;
        let missing = match spreads.spread(&ask).await {
            Ok(SpreadQuote::Quoted(spread)) => return Ok(SpreadBasis { spread, note: None }),
            Ok(SpreadQuote::Blocked(why)) => format!("the venue blocks a spread for {} now ({why})", info.symbol),
            Ok(SpreadQuote::Unavailable(why)) => format!("the venue has no spread for {} now ({why})", info.symbol),
            Err(e) => format!("the venue's spread for {} could not be had ({e})", info.symbol),
        };
        if is_open {
            // As the venue: no spread, no execution. Nothing was booked.
            return Err(DomainError::Refused(format!("{missing}; the venue would not execute this open, so the paper open is not filled")));
        }
        tracing::warn!(pair = %info.symbol, reason = %missing, "paper close without the venue's spread quote");
        let note = if info.spread.is_zero() {
            format!("{missing}; closed at the oracle price")
        } else {
            format!("{missing}; closed with the catalog's spread of {}%", info.spread)
        };
        Ok(SpreadBasis { spread: info.spread, note: Some(note) })
    }

    /// Applies `order` to `acct` (read just now) and returns the fill; `mark` is the pair's
    /// latest price and `basis` the spread it fills with (None for a TP/SL update).
    fn apply(
        &self,
        client_ref: &IntentId,
        order: &VenueOrder,
        mark: Option<Price>,
        basis: Option<&SpreadBasis>,
        acct: &mut PaperAccount,
    ) -> DomainResult<VenueFill> {
        let now = self.clock.now();
        let no_price = || DomainError::Unavailable("no price for the paper fill".into());
        let spread = basis.map_or(PercentP::ZERO, |b| b.spread);
        let venue_ref = match basis.and_then(|b| b.note.as_deref()) {
            Some(note) => format!("paper:{client_ref} ({note})"),
            None => format!("paper:{client_ref}"),
        };
        match order {
            VenueOrder::Open { trader, pair, side, collateral, leverage, reference_price, slippage, tp, sl } => {
                let info = self.catalog.by_index(*pair).ok_or_else(|| DomainError::Invalid(format!("no pair {pair}")))?;
                let fill = spread_price(mark.ok_or_else(no_price)?, spread, side.is_buy())?;
                let limit = crate::money::mul_div_floor(
                    u128::from(reference_price.raw()),
                    u128::from(slippage.raw()),
                    u128::from(PercentP::HUNDRED.raw()),
                )
                .ok_or_else(|| DomainError::Internal("slippage overflow".into()))?;
                let (f, r) = (u128::from(fill.raw()), u128::from(reference_price.raw()));
                let slipped = match side {
                    Side::Long => f > r + limit,
                    Side::Short => f + limit < r,
                };
                if slipped {
                    return Err(DomainError::Refused(format!("price moved beyond the slippage tolerance ({fill} vs {reference_price})")));
                }
                let notional = leverage.notional(*collateral)?;
                let fee = crate::compute::open_fee(self.catalog.fees(*pair), *side, notional, info.open_fee)?;
                let cost = collateral.checked_add(fee)?;
                acct.cash = acct.cash.checked_sub(cost).map_err(|_| {
                    DomainError::Refused(format!("the paper balance ({}) does not cover the collateral and fee ({cost})", acct.cash))
                })?;
                let open_time = u64::try_from(now.secs()).unwrap_or(0);
                let used: Vec<u32> = acct.positions.iter().filter(|p| p.pair == *pair).map(|p| p.trade_index).collect();
                let trade_index = (0..40u32)
                    .find(|i| !used.contains(i))
                    .ok_or_else(|| DomainError::Refused("40 trades open on this pair already".into()))?;
                acct.positions.push(VenuePosition {
                    trader: *trader,
                    pair: *pair,
                    trade_index,
                    side: *side,
                    collateral: *collateral,
                    leverage: *leverage,
                    open_price: fill,
                    tp: *tp,
                    sl: *sl,
                    open_time: Some(open_time),
                });
                Ok(VenueFill {
                    pair: *pair,
                    trade_index,
                    side: *side,
                    price: fill,
                    collateral: *collateral,
                    leverage: *leverage,
                    fee,
                    at: now,
                    venue_ref: venue_ref.clone(),
                    open_time: Some(open_time),
                })
            }
            VenueOrder::Close { pair, trade_index, collateral, known, .. } => {
                let info = self.catalog.by_index(*pair).ok_or_else(|| DomainError::Invalid(format!("no pair {pair}")))?;
                // The book's trade at (pair, index) is closed only when it is the recorded
                // position (same identity); what Vanta recorded decides side and leverage.
                let is_it = |p: &VenuePosition| known.is_none_or(|k| k.check(p.side, p.leverage, p.open_price, p.open_time).is_ok());
                let at = acct.positions.iter().position(|p| p.pair == *pair && p.trade_index == *trade_index && is_it(p));
                let booked = at.and_then(|i| acct.positions.get(i)).cloned();
                // A trade the keeper closed already (TP, SL, liquidation) is not closed again:
                // the fill is that close, and nothing moves in the book.
                if booked.is_none()
                    && let Some(k) = known
                    && let Some(c) = acct.closes.iter().rev().find(|c| {
                        c.pair == *pair
                            && c.trade_index == *trade_index
                            && c.side == k.side
                            && k.open_time.is_some()
                            && c.open_time == k.open_time
                    })
                {
                    return Ok(VenueFill {
                        pair: *pair,
                        trade_index: *trade_index,
                        side: c.side,
                        price: c.price,
                        collateral: c.collateral,
                        leverage: k.leverage,
                        fee: c.fee,
                        at: c.at,
                        venue_ref: format!("paper:{} (closed by the venue: {})", c.id, c.reason.words()),
                        open_time: None,
                    });
                }
                let (side, leverage, held, open_price) = match (known, &booked) {
                    (_, Some(p)) => (p.side, p.leverage, p.collateral, Some(p.open_price)),
                    (Some(k), None) => (k.side, k.leverage, *collateral, k.open_price),
                    (None, None) => return Err(DomainError::NotFound("no such open trade".into())),
                };
                // A close is never refused: a spread that leaves no price closes at the oracle's.
                let mark = mark.ok_or_else(no_price)?;
                let fill = spread_price(mark, spread, !side.is_buy()).unwrap_or(mark);
                let closing = (*collateral).min(held);
                // The venue's close: its close fee (maker/taker where the pair has rates), or on
                // an Upside pair its share of the profit (charged like a fee here).
                let model = self.catalog.fees(*pair);
                let mut fee = crate::compute::close_fee(model, side, leverage.notional(closing)?, fill, info.close_fee)?;
                let pnl = match open_price {
                    Some(o) => crate::position::pnl(side, closing, leverage, o, fill)?,
                    None => crate::money::SignedUsdc::ZERO,
                };
                if let (Some(m), Some(o)) = (model.filter(|m| m.upside), open_price) {
                    let net = crate::compute::net_pnl(
                        side,
                        o,
                        fill,
                        closing,
                        leverage,
                        Some(m.pnl_tiers.as_slice()),
                        PercentP::ZERO,
                        Usdc::ZERO,
                        crate::money::SignedUsdc::ZERO,
                    )?;
                    fee = net.profit_share;
                }
                // A trade the book holds returns its collateral plus the PnL less the fee, never
                // below nothing (a loss beyond the collateral is the venue's). A recorded
                // position the book does not hold (opened before the book was shared) settles
                // its net PnL against the cash, which never goes below nothing.
                let net = i128::from(pnl.raw()) - i128::from(fee.raw());
                let cash = i128::from(acct.cash.raw());
                let cash = match booked {
                    Some(_) => cash + (i128::from(closing.raw()) + net).max(0),
                    None => (cash + net).max(0),
                };
                acct.cash = Usdc::from_raw(u64::try_from(cash).map_err(|_| DomainError::Internal("paper cash overflow".into()))?);
                if let Some(i) = at
                    && let Some(p) = acct.positions.get_mut(i)
                {
                    match p.collateral.checked_sub(closing) {
                        Ok(left) if !left.is_zero() => p.collateral = left,
                        _ => {
                            acct.positions.remove(i);
                        }
                    }
                }
                Ok(VenueFill {
                    pair: *pair,
                    trade_index: *trade_index,
                    side,
                    price: fill,
                    collateral: closing,
                    leverage,
                    fee,
                    at: now,
                    venue_ref: venue_ref.clone(),
                    open_time: None,
                })
            }
            VenueOrder::UpdateTpSl { pair, trade_index, tp, sl, known, .. } => {
                // The book's TP and SL are what its keeper fires on. A trade the book does not
                // hold is not an error here (nor is another trade at the same index: it is left
                // alone).
                let is_it = |p: &VenuePosition| known.is_none_or(|k| k.check(p.side, p.leverage, p.open_price, p.open_time).is_ok());
                let Some(p) = acct.positions.iter_mut().find(|p| p.pair == *pair && p.trade_index == *trade_index && is_it(p)) else {
                    return Ok(VenueFill {
                        pair: *pair,
                        trade_index: *trade_index,
                        side: Side::Long, // an update carries no fill; callers ignore it
                        price: Price::ZERO,
                        collateral: Usdc::ZERO,
                        leverage: crate::money::Leverage::ONE,
                        fee: Usdc::ZERO,
                        at: now,
                        venue_ref: format!("paper:{client_ref}"),
                        open_time: None,
                    });
                };
                // A leg not given stays as it is.
                p.tp = tp.or(p.tp);
                p.sl = sl.or(p.sl);
                Ok(VenueFill {
                    pair: *pair,
                    trade_index: *trade_index,
                    side: p.side,
                    price: p.open_price,
                    collateral: p.collateral,
                    leverage: p.leverage,
                    fee: Usdc::ZERO,
                    at: now,
                    venue_ref: format!("paper:{client_ref}"),
                    open_time: p.open_time,
                })
            }
        }
    }
}
