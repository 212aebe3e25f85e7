//! A fake Avantis v2 backend on a loopback port, speaking the documented wire formats:
//!
//! - tx-builder under `/txb` (`{ok,data}` / `{ok:false,error:{code,message,details}}` envelope):
//!   `GET /v2/meta`, `/v2/pairs`, `/v2/positions`, `/v2/delegation`, `/v2/nonce`, and the intent
//!   builders `POST /v2/intents/{open,close,tpsl-update,tpsl-partial,offchain-cancel}` returning
//!   real EIP-712 typed data, digest and `encodedIntent` (computed with `vanta_chain::eip712`);
//! - data service under `/data`: `GET /v2/trading` (the stored testnet snapshot when present);
//! - batched-market under `/batched-market`: `POST /market/execute-batched` (decodes the
//!   ABI-encoded intent, recovers the signer, checks trader/delegate, deadline and nonce, then
//!   answers an SSE stream `MarketOrderAccepted → MarketOrderInitiated → MarketOrderExecuted`, or a
//!   cancel/error), `GET /tracking-id/{id}/status?afterSeq=` (append-only event log per tracking id);
//! - core under `/core`: `GET /user-data`, `POST /price-triggers`, `PUT /price-triggers/{id}`
//!   (global TP/SL or partial replace), `DELETE /price-triggers`;
//! - the tx-builder calldata builders `POST /v2/trade/open` and `POST /v2/trade/close` (the direct
//!   route): `CallData {to, from, data, value, chainId, description}` with `to` = the trading
//!   router of `/v2/meta` (or [`FakeAvantis::set_calldata_target`]), `data` = the trading
//!   contract's real ABI calldata (`openTrade(Trade, uint8, uint256)`,
//!   `closeTradeMarket(uint256, uint256, uint256)`, wrapped in `delegatedAction(trader, …)` when
//!   a `delegate` is named; [`vanta_chain::avantis::trading_call`]), `value` = the execution
//!   fee ([`FakeAvantis::set_execution_fee_wei`], `0x0` by default); a test can tamper with one
//!   field of the next answers ([`FakeAvantis::tamper_next_calldata`]). Building changes nothing:
//!   an order executes only once a transaction carrying its calldata is mined with success, as
//!   the venue's keeper would do it — either reported by the test
//!   ([`FakeAvantis::report_mined_call`]) or seen on the chain by the fake's keeper
//!   ([`FakeAvantis::start_keeper`], which polls an RPC node for new blocks). The position then
//!   shows in `/user-data` and `/v2/positions`, opened at the request's block timestamp.
//! - the EIP-7702 leg of a market order (`eip7702`), when sent, is checked as the chain would
//!   judge the type-4 transaction: the smart account is the intent's signer, its `execute` call is
//!   signed by it and runs exactly one call, to the trading router, of the same order as the
//!   intent; every authorisation is for the delegation template and signed by it. With
//!   [`FakeAvantis::require_eip7702`] the fake behaves as a deployment in EIP-7702 mode: an
//!   intent-only order is refused with 400.
//!
//! An in-memory book keeps positions per trader, so a market open shows up in `/user-data` and
//! `/v2/positions`, and resting limit orders ([`FakeAvantis::place_limit_order`]), served in
//! their `limitOrders[]` and filled by the keeper when the price crosses them (`limits`). Test switches: wrong digests, injected failures per endpoint, delays, stalled
//! submissions (filled or lost), SSE streams dropped after acceptance, scripted market outcomes,
//! and a log of every request.
//!
//! Layout: this file holds the handle ([`FakeAvantis`]), its state and the test controls;
//! `routes` the routing, request log and injected failures; one file per service
//! (`tx_builder`, `market` for the batched market and its event stream, `core`, `data`, `feed`,
//! `history`); `book` the positions and executing orders against them; `validate` the checks on
//! submissions and signatures; `keeper` the direct route's keeper; `wire` the envelope and the
//! JSON and hex helpers.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{Provider, ProviderBuilder};
use serde_json::Value;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use vanta_chain::eip712::{AvantisDomain, TpSlReq};

use crate::server::Server;

/// The golden-vector chain id the fake serves in `/v2/meta`.
pub const FAKE_CHAIN_ID: u64 = 31337;

/// The golden-vector TradingRouter.
pub const FAKE_TRADING_ROUTER: Address = alloy::primitives::address!("5FbDB2315678afecb367f032d93F642f64180aa3");

/// Open fee the fake charges: 0.045 % of notional (1e10 per percent).
const OPEN_FEE_P: u128 = 450_000_000;

const PERCENT_100: u128 = 1_000_000_000_000;

const INTENT_TTL_MS: u64 = 120_000;

const MAX_TRADES_PER_PAIR: u32 = 40;

/// The address a tampered calldata puts where the trader belongs.
pub const TAMPER_ADDRESS: Address = alloy::primitives::address!("000000000000000000000000000000000000dEaD");

/// One field of a built calldata changed ([`FakeAvantis::tamper_next_calldata`]): what a
/// compromised or buggy tx-builder could answer. A change that does not apply to the answer
/// (e.g. `Side` on a close) leaves it as built.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CalldataTamper {
    /// Opens and closes: the next pair index.
    Pair,
    /// Opens: the other side.
    Side,
    /// Opens: 1 USDC more collateral; closes: 1 USDC more to close.
    Collateral,
    /// Opens: twice the leverage.
    Leverage,
    /// Opens: an open price 10 % above the built one.
    OpenPrice,
    /// Opens: five times the slippage (5 % when none).
    Slippage,
    /// Opens: the TP moved by 1 (a TP where none was asked).
    TakeProfit,
    /// Opens: the SL moved by 1 (an SL where none was asked).
    StopLoss,
    /// Opens: the trade's trader replaced by [`TAMPER_ADDRESS`].
    Trader,
    /// Opens: the other market order type (Upside ↔ fixed fee).
    OrderType,
    /// Closes: the next trade index.
    TradeIndex,
    /// The `delegatedAction` wrapper acts for [`TAMPER_ADDRESS`] (a bare call gets one).
    DelegatedFor,
    /// The selector becomes `0xdeadbeef`.
    Selector,
}

#[macro_use]
mod wire;
mod book;
mod core;
mod data;
mod feed;
mod history;
mod keeper;
mod limits;
mod market;
mod risk;
mod routes;
mod tx_builder;
mod validate;

pub use data::{builtin_snapshot, default_snapshot};
pub use history::{HISTORY_MAX_LIMIT, HistoryFill};
pub use limits::FakeLimitOrder;

/// The endpoints, for switches and the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Endpoint {
    Meta,
    Pairs,
    Positions,
    Delegation,
    Nonce,
    Allowance,
    IntentOpen,
    IntentClose,
    IntentTpslUpdate,
    IntentTpslPartial,
    IntentOffchainCancel,
    TradeOpen,
    TradeClose,
    Trading,
    ExecuteBatched,
    Status,
    UserData,
    PriceTriggerCreate,
    PriceTriggerPut,
    PriceTriggerDelete,
    /// The feed service: `GET {feed}/v2/pairs/{i}/price-update-data`.
    PriceUpdateData,
    /// The history service: `GET {history}/v2/history/trade-history/{trader}/{page}/{limit}`.
    TradeHistory,
    /// The risk engine v2: `POST {risk_v2}/spread`.
    Spread,
}

impl Endpoint {
    /// Every endpoint, in declaration order.
    pub const ALL: [Endpoint; 23] = [
        Endpoint::Meta,
        Endpoint::Pairs,
        Endpoint::Positions,
        Endpoint::Delegation,
        Endpoint::Nonce,
        Endpoint::Allowance,
        Endpoint::IntentOpen,
        Endpoint::IntentClose,
        Endpoint::IntentTpslUpdate,
        Endpoint::IntentTpslPartial,
        Endpoint::IntentOffchainCancel,
        Endpoint::TradeOpen,
        Endpoint::TradeClose,
        Endpoint::Trading,
        Endpoint::ExecuteBatched,
        Endpoint::Status,
        Endpoint::UserData,
        Endpoint::PriceTriggerCreate,
        Endpoint::PriceTriggerPut,
        Endpoint::PriceTriggerDelete,
        Endpoint::PriceUpdateData,
        Endpoint::TradeHistory,
        Endpoint::Spread,
    ];

    /// The endpoint's name (its variant, e.g. `ExecuteBatched`).
    pub fn name(self) -> String {
        format!("{self:?}")
    }

    /// The endpoint of a name, case-insensitively.
    pub fn from_name(name: &str) -> Option<Endpoint> {
        Self::ALL.into_iter().find(|e| e.name().eq_ignore_ascii_case(name))
    }
}

/// An injected error answer. tx-builder endpoints wrap it in the envelope, the others answer a
/// NestJS-style body `{statusCode, message, error, code}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeFailure {
    pub status: u16,
    pub code: String,
    pub message: String,
}

impl FakeFailure {
    pub fn new(status: u16, code: &str, message: &str) -> Self {
        Self { status, code: code.to_owned(), message: message.to_owned() }
    }
}

/// What a stalled market submission does before the (late) answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stall {
    /// The order is accepted and filled at once, but the answer only starts after the delay.
    FillThenStall(Duration),
    /// The request is received (and logged) but never processed; after the delay the fake
    /// answers 504.
    LoseThenStall(Duration),
}

/// How the SSE stream of an accepted order is cut right after `MarketOrderAccepted` (the order
/// still executes; the status replay has every event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamCut {
    /// The connection is aborted.
    Drop,
    /// An un-id'd `Error{code: STREAM_TIMEOUT}`, then a clean end.
    StreamTimeout,
    /// A clean end without a terminal event.
    EndWithoutTerminal,
}

/// A scripted outcome for the next market order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FakeOutcome {
    Execute,
    /// One `AttemptFailed{code: NO_PRICE, willRetry: true}`, then executed.
    ExecuteAfterRetry,
    /// `MarketOrderCanceled` with this reason (nonce consumed, nothing else changes).
    Cancel(String),
    /// A persisted terminal `Error` with this code.
    Error(String),
    /// An un-id'd `Error{code: ENQUEUE_FAILED}`: never queued, nonce not consumed.
    EnqueueFailed,
}

/// One request as the fake saw it.
#[derive(Debug, Clone, PartialEq)]
pub struct LoggedRequest {
    pub method: String,
    /// The path after the service prefix (e.g. `/v2/intents/open`).
    pub path: String,
    pub endpoint: Option<Endpoint>,
    pub query: String,
    pub body: Option<Value>,
    /// The answer's status; 0 while the request is still being answered.
    pub status: u16,
}

/// A position in the fake's book (raw venue units).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakePosition {
    pub trader: Address,
    pub pair: u16,
    pub index: u32,
    pub buy: bool,
    pub is_pnl: bool,
    /// 1e6
    pub collateral: u64,
    /// 1e10
    pub leverage: u64,
    /// 1e10
    pub open_price: u64,
    pub tp: u64,
    pub sl: u64,
    /// Unix seconds.
    pub opened_at: u64,
}

/// Base URLs of the services.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FakeAvantisUrls {
    pub tx_builder: String,
    pub batched_market: String,
    pub core: String,
    pub data: String,
    /// The feed service (`price-update-data`).
    pub feed: String,
    /// The history service (`trade-history`).
    pub history: String,
    /// The risk engine v2 (`POST /spread`).
    pub risk_v2: String,
}

/// What the fake's risk engine answers for a pair's spread ([`FakeAvantis::set_spread`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FakeSpread {
    /// A quote: percent × 1e10 without flow, and with flow when given.
    Quote { without_flow10: u64, with_flow10: Option<u64> },
    /// `403 SPREAD_BLOCKED`.
    Blocked,
    /// `404 SPREAD_UNAVAILABLE`.
    Unavailable,
}

impl Default for FakeSpread {
    /// The reference's example: 0.05 % without flow, 0.075 % with.
    fn default() -> Self {
        FakeSpread::Quote { without_flow10: 500_000_000, with_flow10: Some(750_000_000) }
    }
}

#[derive(Debug, Clone)]
struct PairRow {
    symbol: String,
    from: String,
    to: String,
    listed: bool,
    /// Minimum notional, 1e6 (integer snapshot values only).
    min_position: Option<u64>,
    /// `values.maxGainP` (integer percent).
    max_gain_p: u64,
}

#[derive(Debug, Clone)]
struct StoredTrigger {
    entity_id: String,
    req: TpSlReq,
}

#[derive(Debug, Clone)]
struct LoggedEvent {
    seq: u64,
    kind: String,
    payload: Value,
    at: u64,
}

struct State {
    chain_id: u64,
    router: Address,
    snapshot: String,
    pairs: BTreeMap<u16, PairRow>,
    book: Vec<FakePosition>,
    used_nonces: HashSet<(Address, U256)>,
    delegations: HashMap<(Address, Address), (bool, u64)>,
    /// Capabilities withheld from an active delegation: `(canDelegatedAction, canSignIntents)`.
    delegate_caps: HashMap<(Address, Address), (bool, bool)>,
    /// The next `n` open/close intents are built with a different size (self-consistent digest).
    tamper_intents: usize,
    /// The keeper sees mined calls but executes none (until unpaused; a test reports by hand).
    keeper_paused: bool,
    /// USDC wallet balances, 1e6.
    balances: HashMap<Address, u64>,
    tracking: HashMap<String, Vec<LoggedEvent>>,
    next_id: u64,
    triggers: Vec<StoredTrigger>,
    wrong_digest: bool,
    failures: HashMap<Endpoint, VecDeque<FakeFailure>>,
    delays: HashMap<Endpoint, VecDeque<Duration>>,
    stalls: VecDeque<Stall>,
    cuts: VecDeque<StreamCut>,
    outcomes: VecDeque<FakeOutcome>,
    event_delay: Duration,
    log: Vec<LoggedRequest>,
    /// Where calldata points (`None`: the trading router).
    calldata_target: Option<Address>,
    /// The calldata `value`, wei.
    execution_fee_wei: u128,
    /// Changes applied to the next calldata answers, one each.
    calldata_tampers: VecDeque<CalldataTamper>,
    /// EIP-7702 mode: intent-only market orders are refused.
    require_eip7702: bool,
    /// Transactions whose calldata was executed, by hash.
    executed_calls: Vec<B256>,
    /// The feed's price per pair, 1e10: market opens without `openPrice` are built at it.
    prices: BTreeMap<u16, u64>,
    /// Global TP/SL updates accepted by `PUT /price-triggers/global-…` and not yet executed by
    /// the operator; each lands in the book once its time (unix ms) has come.
    pending_tpsl: Vec<PendingTpSl>,
    /// How long the operator takes to execute an accepted TP/SL update.
    tpsl_delay: Duration,
    /// The trade history and the venue's own actions (`history`).
    events: history::VenueEvents,
    /// Resting limit orders (`limits`).
    limit_orders: Vec<limits::FakeLimitOrder>,
    /// The risk engine's spread per pair (default [`FakeSpread::default`]).
    spreads: HashMap<u16, FakeSpread>,
}

#[derive(Debug, Clone)]
struct PendingTpSl {
    due_ms: u64,
    trader: Address,
    pair: u16,
    index: u32,
    tp: u64,
    sl: u64,
}

impl State {
    fn domain(&self) -> AvantisDomain {
        AvantisDomain::avantis(self.chain_id, self.router)
    }

    fn authorized(&self, trader: Address, signer: Address) -> bool {
        signer == trader || self.delegations.get(&(trader, signer)).is_some_and(|(on, expiry)| *on && *expiry > now_s())
    }

    fn calldata_target(&self) -> Address {
        self.calldata_target.unwrap_or(self.router)
    }

    fn fresh_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }
}

/// A running fake Avantis; stopped on drop.
pub struct FakeAvantis {
    /// `http://127.0.0.1:<port>`
    pub base: String,
    state: Arc<Mutex<State>>,
    _server: Server,
    keeper: Mutex<Option<JoinHandle<()>>>,
    /// The last block the running keeper has processed (see [`FakeAvantis::keeper_processed`]).
    keeper_progress: Mutex<Option<watch::Receiver<u64>>>,
}

fn lock(state: &Mutex<State>) -> MutexGuard<'_, State> {
    state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn now_s() -> u64 {
    now_ms() / 1000
}

impl FakeAvantis {
    /// Serves the stored snapshot (or the stand-in) on a free loopback port.
    pub async fn start() -> Result<Self, String> {
        Self::start_with_snapshot(default_snapshot()).await
    }

    /// Serves the given `/v2/trading` snapshot text.
    pub async fn start_with_snapshot(snapshot: String) -> Result<Self, String> {
        let state = Arc::new(Mutex::new(State {
            chain_id: FAKE_CHAIN_ID,
            router: FAKE_TRADING_ROUTER,
            prices: feed::feed_prices(&data::pair_rows(&snapshot)),
            pairs: data::pair_rows(&snapshot),
            snapshot,
            book: Vec::new(),
            used_nonces: HashSet::new(),
            delegations: HashMap::new(),
            delegate_caps: HashMap::new(),
            tamper_intents: 0,
            keeper_paused: false,
            balances: HashMap::new(),
            tracking: HashMap::new(),
            next_id: 0,
            triggers: Vec::new(),
            wrong_digest: false,
            failures: HashMap::new(),
            delays: HashMap::new(),
            stalls: VecDeque::new(),
            cuts: VecDeque::new(),
            outcomes: VecDeque::new(),
            event_delay: Duration::from_millis(5),
            log: Vec::new(),
            calldata_target: None,
            execution_fee_wei: 0,
            calldata_tampers: VecDeque::new(),
            require_eip7702: false,
            executed_calls: Vec::new(),
            pending_tpsl: Vec::new(),
            tpsl_delay: Duration::ZERO,
            events: history::VenueEvents::default(),
            limit_orders: Vec::new(),
            spreads: HashMap::new(),
        }));
        let served = Arc::clone(&state);
        let server = Server::start("fake Avantis", move |req| routes::handle(Arc::clone(&served), req))
            .await
            .map_err(|e| format!("fake Avantis cannot bind: {e}"))?;
        Ok(Self { base: server.url(), state, _server: server, keeper: Mutex::new(None), keeper_progress: Mutex::new(None) })
    }

    fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    pub fn urls(&self) -> FakeAvantisUrls {
        FakeAvantisUrls {
            tx_builder: format!("{}/txb", self.base),
            batched_market: format!("{}/batched-market", self.base),
            core: format!("{}/core", self.base),
            data: format!("{}/data", self.base),
            feed: format!("{}/feed", self.base),
            history: format!("{}/history", self.base),
            risk_v2: format!("{}/risk/v2", self.base),
        }
    }

    pub fn chain_id(&self) -> u64 {
        self.state().chain_id
    }

    /// Changes the chain id `/v2/meta` and the intent domains report.
    pub fn set_chain_id(&self, chain_id: u64) {
        self.state().chain_id = chain_id;
    }

    pub fn trading_router(&self) -> Address {
        self.state().router
    }

    /// The trading domain the fake signs intents under.
    pub fn domain(&self) -> AvantisDomain {
        self.state().domain()
    }

    /// When on, intent builders answer a digest that is not the typed data's.
    pub fn set_wrong_digest(&self, on: bool) {
        self.state().wrong_digest = on;
    }

    /// The next `n` requests to `endpoint` answer `failure`.
    pub fn fail_next(&self, endpoint: Endpoint, n: usize, failure: FakeFailure) {
        let mut st = self.state();
        let q = st.failures.entry(endpoint).or_default();
        q.extend(std::iter::repeat_n(failure, n));
    }

    /// The next `n` requests to `endpoint` wait `delay` before being handled.
    pub fn delay_next(&self, endpoint: Endpoint, n: usize, delay: Duration) {
        let mut st = self.state();
        st.delays.entry(endpoint).or_default().extend(std::iter::repeat_n(delay, n));
    }

    /// The next market submission stalls as described.
    pub fn stall_next_submission(&self, stall: Stall) {
        self.state().stalls.push_back(stall);
    }

    /// The next `n` accepted market orders have their SSE stream cut right after
    /// `MarketOrderAccepted` (the order still executes; the replay has every event).
    pub fn drop_stream_after_accept(&self, n: usize) {
        self.state().cuts.extend(std::iter::repeat_n(StreamCut::Drop, n));
    }

    /// The next accepted market order's stream is cut as described.
    pub fn cut_stream_after_accept(&self, cut: StreamCut) {
        self.state().cuts.push_back(cut);
    }

    /// Scripts the outcome of the next market order (default: executed).
    pub fn push_outcome(&self, outcome: FakeOutcome) {
        self.state().outcomes.push_back(outcome);
    }

    /// Pause between streamed events.
    pub fn set_event_delay(&self, delay: Duration) {
        self.state().event_delay = delay;
    }

    /// Records a delegation (`expiry` in unix seconds).
    /// Sets the feed price of a pair (1e10).
    pub fn set_price(&self, pair: u16, raw: u64) {
        self.state().prices.insert(pair, raw);
    }

    /// What the risk engine answers for `pair`'s spread from now on.
    pub fn set_spread(&self, pair: u16, spread: FakeSpread) {
        self.state().spreads.insert(pair, spread);
    }

    /// The feed price of a pair (1e10), if the feed knows it.
    pub fn price(&self, pair: u16) -> Option<u64> {
        self.state().prices.get(&pair).copied()
    }

    /// How long the operator takes to execute an accepted global TP/SL update (`PUT` answers at
    /// once; `/user-data` shows the new levels only after this delay — zero: from the next read).
    pub fn set_tpsl_delay(&self, delay: Duration) {
        self.state().tpsl_delay = delay;
    }

    pub fn set_delegate(&self, trader: Address, delegate: Address, enabled: bool, expiry: u64) {
        self.state().delegations.insert((trader, delegate), (enabled, expiry));
    }

    /// The next `n` intents `/v2/intents/open` and `/close` build are for 1 USDC more than asked
    /// (with a digest that matches what they carry): a builder that disagrees with the client.
    pub fn tamper_next_intents(&self, n: usize) {
        self.state().tamper_intents = n;
    }

    /// While paused, the keeper executes none of the calls it sees mined (a venue that has not
    /// acted yet); [`FakeAvantis::report_mined_call`] still executes one by hand.
    pub fn pause_keeper(&self, paused: bool) {
        self.state().keeper_paused = paused;
    }

    /// What `/v2/delegation` reports an active delegation may do (both by default): the
    /// direct route needs `canDelegatedAction`, the relayer route `canSignIntents`.
    pub fn set_delegate_capabilities(&self, trader: Address, delegate: Address, can_delegated_action: bool, can_sign_intents: bool) {
        self.state().delegate_caps.insert((trader, delegate), (can_delegated_action, can_sign_intents));
    }

    /// Sets a trader's USDC wallet balance (raw 1e6). Opens take the collateral from it, closes
    /// pay the closed collateral back.
    pub fn set_balance(&self, trader: Address, raw: u64) {
        self.state().balances.insert(trader, raw);
    }

    pub fn balance(&self, trader: Address) -> u64 {
        self.state().balances.get(&trader).copied().unwrap_or(0)
    }

    /// Adds a position to the book (for close and TP/SL tests).
    pub fn insert_position(&self, p: FakePosition) {
        self.state().book.push(p);
    }

    /// The trader's positions.
    pub fn positions(&self, trader: Address) -> Vec<FakePosition> {
        let mut st = self.state();
        book::apply_due_tpsl(&mut st);
        st.book.iter().filter(|p| p.trader == trader).cloned().collect()
    }

    /// Ids of the trader's partial TP/SL orders.
    pub fn trigger_ids(&self, trader: Address) -> Vec<String> {
        self.state().triggers.iter().filter(|t| t.req.trader == trader).map(|t| t.entity_id.clone()).collect()
    }

    /// Every request so far, oldest first.
    pub fn requests(&self) -> Vec<LoggedRequest> {
        self.state().log.clone()
    }

    /// How many requests reached `endpoint`.
    pub fn count(&self, endpoint: Endpoint) -> usize {
        self.state().log.iter().filter(|r| r.endpoint == Some(endpoint)).count()
    }

    /// How many market submissions arrived (`POST /market/execute-batched`).
    pub fn submissions(&self) -> usize {
        self.count(Endpoint::ExecuteBatched)
    }

    pub fn clear_requests(&self) {
        self.state().log.clear();
    }

    // -----------------------------------------------------------------------------------------
    // The direct route (calldata builders and the keeper)
    // -----------------------------------------------------------------------------------------

    /// Changes the trading router `/v2/meta` reports (and the intent domains use), e.g. to a
    /// contract deployed on anvil.
    pub fn set_trading_router(&self, router: Address) {
        self.state().router = router;
    }

    /// Makes the calldata builders point `to` somewhere else than the trading router (`None`
    /// restores it).
    pub fn set_calldata_target(&self, target: Option<Address>) {
        self.state().calldata_target = target;
    }

    /// The `value` of built calldata (and `defaults.executionFeeWei` of `/v2/meta`), in wei.
    pub fn set_execution_fee_wei(&self, wei: u128) {
        self.state().execution_fee_wei = wei;
    }

    /// The next calldata answer (`/v2/trade/open` or `/close`) carries `tamper`.
    pub fn tamper_next_calldata(&self, tamper: CalldataTamper) {
        self.state().calldata_tampers.push_back(tamper);
    }

    /// EIP-7702 mode (`true`): market orders without an `eip7702` leg are refused with 400, as
    /// the venue does once its operators switch the mechanism.
    pub fn require_eip7702(&self, on: bool) {
        self.state().require_eip7702 = on;
    }

    /// Reports a transaction mined with success: when it calls the calldata target with a
    /// fake order's calldata, from the trader or an active delegate, the order executes (as the
    /// keeper would), the position opening at `block_timestamp` (unix seconds). Each hash is
    /// executed once; `Ok(false)` when it was before. A refused call (unknown selector, signer not
    /// the trader nor an active delegate) is `Err` and can be reported again later.
    pub fn report_mined_call(&self, tx_hash: B256, from: Address, to: Address, data: &[u8], block_timestamp: u64) -> Result<bool, String> {
        keeper::execute_call(&mut self.state(), tx_hash, from, to, data, block_timestamp)
    }

    /// Hashes of the transactions the keeper (or [`Self::report_mined_call`]) processed.
    pub fn executed_calls(&self) -> Vec<B256> {
        self.state().executed_calls.clone()
    }

    /// Starts the keeper on the node at `rpc_url`: from the next block on, every transaction to
    /// the calldata target mined with status 1 is passed to [`Self::report_mined_call`]. Polls
    /// every 50 ms; stopped on drop (or replaced by another call).
    pub async fn start_keeper(&self, rpc_url: &str) -> Result<(), String> {
        let url = rpc_url.parse().map_err(|e| format!("bad RPC URL {rpc_url:?}: {e}"))?;
        let provider = ProviderBuilder::new().disable_recommended_fillers().connect_http(url).erased();
        let head = provider.get_block_number().await.map_err(|e| format!("the keeper cannot read the chain: {e}"))?;
        let state = Arc::clone(&self.state);
        let (progress, processed) = watch::channel(head);
        let task = tokio::spawn(keeper::keeper_loop(provider, state, head.saturating_add(1), progress));
        *self.keeper_progress.lock().unwrap_or_else(|p| p.into_inner()) = Some(processed);
        let old = self.keeper.lock().unwrap_or_else(|p| p.into_inner()).replace(task);
        if let Some(old) = old {
            old.abort();
        }
        Ok(())
    }
}

impl FakeAvantis {
    /// The last block the keeper has processed (every call mined in it and before has been
    /// executed or passed over); `None` before [`Self::start_keeper`].
    pub fn keeper_processed_block(&self) -> Option<u64> {
        self.keeper_progress.lock().unwrap_or_else(|p| p.into_inner()).as_ref().map(|rx| *rx.borrow())
    }

    /// Waits until the keeper has processed block `block` (see [`Self::keeper_processed_block`]),
    /// at most `timeout`: what a test waits on instead of sleeping. `Err` when the keeper is not
    /// running, stopped, or did not get there in time.
    pub async fn keeper_processed(&self, block: u64, timeout: Duration) -> Result<(), String> {
        let rx = self.keeper_progress.lock().unwrap_or_else(|p| p.into_inner()).clone();
        let mut rx = rx.ok_or("the keeper is not started")?;
        let outcome = tokio::time::timeout(timeout, rx.wait_for(|done| *done >= block)).await.map(|r| r.is_ok());
        match outcome {
            Ok(true) => Ok(()),
            Ok(false) => Err("the keeper stopped".into()),
            Err(_) => Err(format!("the keeper did not process block {block} within {timeout:?} (at {})", *rx.borrow())),
        }
    }
}

impl Drop for FakeAvantis {
    fn drop(&mut self) {
        if let Some(k) = self.keeper.lock().unwrap_or_else(|p| p.into_inner()).take() {
            k.abort();
        }
    }
}
