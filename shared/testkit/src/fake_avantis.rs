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
//! `/v2/positions`. Test switches: wrong digests, injected failures per endpoint, delays, stalled
//! submissions (filled or lost), SSE streams dropped after acceptance, scripted market outcomes,
//! and a log of every request.

use std::collections::{BTreeMap, HashMap, HashSet, VecDeque};
use std::convert::Infallible;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use alloy::primitives::{Address, B256, I256, Signature, U256};
use alloy::providers::{DynProvider, Provider, ProviderBuilder};
use alloy::sol_types::SolValue;
use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Frame, Incoming};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::{JoinHandle, JoinSet};
use vanta_chain::avantis::eip7702::{
    DEFAULT_DELEGATION_TEMPLATE, DecodedExecute, EXECUTION_MODE_OP_DATA, authorization_digest, execute_digest,
};
use vanta_chain::avantis::trading_call::{self, TradingAction, TradingCall};
use vanta_chain::eip712::{
    AvantisDomain, CancelOffchainOrder, CloseTradeReq, Intent, IntentKind, OpenTradeReq, TpSlReq, Trade, UpdateTpSlReq, random_nonce,
};
use vanta_chain::signer::recover_address;
use vanta_domain::money::parse_scaled;

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

type Body = BoxBody<Bytes, std::io::Error>;

mod history;
pub use history::{HISTORY_MAX_LIMIT, HistoryFill};

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
}

impl Endpoint {
    /// Every endpoint, in declaration order.
    pub const ALL: [Endpoint; 22] = [
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
    task: JoinHandle<()>,
    keeper: Mutex<Option<JoinHandle<()>>>,
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

/// A three-pair (ETH = 0, BTC = 1, SOL = 2) stand-in for the stored snapshot.
pub fn builtin_snapshot() -> &'static str {
    BUILTIN_SNAPSHOT
}

/// The stored real testnet `/v2/trading` snapshot, or a three-pair stand-in when absent.
pub fn default_snapshot() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/avantis/vectors/trading_snapshot.json");
    std::fs::read_to_string(path).unwrap_or_else(|_| BUILTIN_SNAPSHOT.to_owned())
}

const BUILTIN_SNAPSHOT: &str = r#"{"dataVersion":3,"pairCount":3,"maxTradesPerPair":40,"totalOi":0,"maxOpenInterest":100000000,
"groupInfo":{"0":{"name":"CRYPTO1","maxOpenInterestP":26,"isSpreadDynamic":true,"groupMaxOI":26118551.95,"groupOI":0}},
"pairInfos":{
"0":{"index":0,"from":"ETH","feed":{"feedId":"0xff61491a931112ddf1bd8147cd1b641375f79f5825126d665480874634fd0ace"},"to":"USD","groupIndex":0,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75,"pnlMinLeverage":75,"pnlMaxLeverage":500},"spreadP":0.01,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80},"additionalPairParams2":{"closeOnlyMode":false}},
"1":{"index":1,"from":"BTC","feed":{"feedId":"0xe62df6c8b4a85fe1a67db44dc12de5db330f7ac66b72dc658afedf0f4a415b43"},"to":"USD","groupIndex":0,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75,"pnlMinLeverage":75,"pnlMaxLeverage":500},"spreadP":0,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80},"additionalPairParams2":{"closeOnlyMode":false}},
"2":{"index":2,"from":"SOL","feed":{"feedId":"0xef0d8b6fda2ceba41da15d4095d1da392a0d2f8ed0c6c7bc0f4cfac8c280b56d"},"to":"USD","groupIndex":1,"isPairListed":true,"leverages":{"minLeverage":1,"maxLeverage":75,"pnlMinLeverage":75,"pnlMaxLeverage":500},"spreadP":0.02,"openFeeP":0.045,"closeFeeP":0.045,"minLevPosUSDC":100,"values":{"maxGainP":2500,"maxSlP":80},"additionalPairParams2":{"closeOnlyMode":false}}}}"#;

fn pair_rows(snapshot: &str) -> BTreeMap<u16, PairRow> {
    let v: Value = serde_json::from_str(snapshot).unwrap_or(Value::Null);
    let infos = v.get("pairInfos").or_else(|| v.get("data").and_then(|d| d.get("pairInfos")));
    let mut out = BTreeMap::new();
    if let Some(obj) = infos.and_then(Value::as_object) {
        for p in obj.values() {
            let Some(index) = p.get("index").and_then(Value::as_u64).and_then(|i| u16::try_from(i).ok()) else { continue };
            let from = p.get("from").and_then(Value::as_str).unwrap_or_default().to_owned();
            let to = p.get("to").and_then(Value::as_str).unwrap_or_default().to_owned();
            out.insert(
                index,
                PairRow {
                    symbol: format!("{from}/{to}"),
                    from,
                    to,
                    listed: p.get("isPairListed").and_then(Value::as_bool).unwrap_or(false),
                    // Integers only: the fake never reads money through floats.
                    min_position: p.get("minLevPosUSDC").and_then(Value::as_u64).and_then(|m| m.checked_mul(1_000_000)),
                    max_gain_p: p.get("values").and_then(|v| v.get("maxGainP")).and_then(Value::as_u64).unwrap_or(2500),
                },
            );
        }
    }
    out
}

impl FakeAvantis {
    /// Serves the stored snapshot (or the stand-in) on a free loopback port.
    pub async fn start() -> Result<Self, String> {
        Self::start_with_snapshot(default_snapshot()).await
    }

    /// Serves the given `/v2/trading` snapshot text.
    pub async fn start_with_snapshot(snapshot: String) -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| format!("fake Avantis cannot bind: {e}"))?;
        let addr = listener.local_addr().map_err(|e| format!("fake Avantis has no address: {e}"))?;
        let state = Arc::new(Mutex::new(State {
            chain_id: FAKE_CHAIN_ID,
            router: FAKE_TRADING_ROUTER,
            prices: feed_prices(&pair_rows(&snapshot)),
            pairs: pair_rows(&snapshot),
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
        }));
        let served = Arc::clone(&state);
        let task = tokio::spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                let stream = match listener.accept().await {
                    Ok((stream, _)) => stream,
                    Err(e) => {
                        tracing::warn!(error = %e, "fake Avantis accept failed");
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                let state = Arc::clone(&served);
                conns.spawn(async move {
                    let svc = service_fn(move |req| handle(Arc::clone(&state), req));
                    let _ = http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
                while conns.try_join_next().is_some() {}
            }
        });
        Ok(Self { base: format!("http://{addr}"), state, task, keeper: Mutex::new(None) })
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
        apply_due_tpsl(&mut st);
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
        execute_call(&mut self.state(), tx_hash, from, to, data, block_timestamp)
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
        let task = tokio::spawn(keeper_loop(provider, state, head.saturating_add(1)));
        let old = self.keeper.lock().unwrap_or_else(|p| p.into_inner()).replace(task);
        if let Some(old) = old {
            old.abort();
        }
        Ok(())
    }
}

impl Drop for FakeAvantis {
    fn drop(&mut self) {
        if let Some(k) = self.keeper.lock().unwrap_or_else(|p| p.into_inner()).take() {
            k.abort();
        }
        self.task.abort();
    }
}

// ---------------------------------------------------------------------------------------------
// Responses
// ---------------------------------------------------------------------------------------------

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Svc {
    TxBuilder,
    Data,
    Batched,
    Core,
    Feed,
    History,
}

struct Reply {
    status: u16,
    body: Value,
    /// Served as-is instead of `body` (the snapshot).
    raw: Option<String>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Self {
        Self { status, body, raw: None }
    }
}

fn ok(svc: Svc, data: Value) -> Reply {
    match svc {
        Svc::TxBuilder => Reply::json(200, json!({ "ok": true, "data": data })),
        _ => Reply::json(200, data),
    }
}

fn err(svc: Svc, status: u16, code: &str, message: &str) -> Reply {
    match svc {
        // The history API answers HTTP 200 with `{success: false, errorMessage}`, except for a
        // rate limit or an outage, which a gateway answers with its own status.
        Svc::History if status < 429 => Reply::json(200, json!({ "success": false, "errorMessage": message })),
        Svc::History => Reply::json(status, json!({ "success": false, "errorMessage": message })),
        Svc::TxBuilder => Reply::json(status, json!({ "ok": false, "error": { "code": code, "message": message, "details": null } })),
        _ => {
            let error = StatusCode::from_u16(status).ok().and_then(|s| s.canonical_reason()).unwrap_or("Error");
            Reply::json(status, json!({ "statusCode": status, "message": [message], "error": error, "code": code }))
        }
    }
}

fn full(status: u16, content_type: &str, text: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(text)).map_err(|never: Infallible| match never {}).boxed());
    *resp.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    if let Ok(v) = http::HeaderValue::from_str(content_type) {
        resp.headers_mut().insert(http::header::CONTENT_TYPE, v);
    }
    resp
}

fn render(reply: Reply) -> Response<Body> {
    let text = reply.raw.unwrap_or_else(|| reply.body.to_string());
    full(reply.status, "application/json", text)
}

/// A body fed from a channel (the SSE stream); an `Err` item aborts the connection.
struct ChannelBody(mpsc::Receiver<Result<Bytes, std::io::Error>>);

impl hyper::body::Body for ChannelBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.poll_recv(cx).map(|o| o.map(|r| r.map(Frame::data)))
    }
}

// ---------------------------------------------------------------------------------------------
// Request parsing helpers
// ---------------------------------------------------------------------------------------------

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'%'
            && let Some(h) = bytes.get(i + 1..i + 3).and_then(|h| std::str::from_utf8(h).ok()).and_then(|h| u8::from_str_radix(h, 16).ok())
        {
            out.push(h);
            i += 3;
            continue;
        }
        out.push(if b == b'+' { b' ' } else { b });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn query_map(q: &str) -> HashMap<String, String> {
    q.split('&')
        .filter(|p| !p.is_empty())
        .map(|p| {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            (percent_decode(k), percent_decode(v))
        })
        .collect()
}

/// A request field as text: strings as-is, numbers as their JSON text.
fn text(body: &Value, name: &str) -> Option<String> {
    match body.get(name)? {
        Value::String(s) => Some(s.trim().to_owned()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn address(s: &str) -> Option<Address> {
    Address::from_str(s.trim()).ok()
}

fn uint(s: &str) -> Option<U256> {
    let s = s.trim();
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    U256::from_str_radix(s, 10).ok()
}

/// A human decimal at `scale` as raw units (exact; refused if too precise or negative).
fn human(s: &str, scale: u32) -> Option<u64> {
    parse_scaled(s, scale).ok().and_then(|v| u64::try_from(v).ok())
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s.trim().strip_prefix("0x")?;
    alloy::hex::decode(h).ok()
}

fn hex(bytes: &[u8]) -> String {
    format!("0x{}", alloy::hex::encode(bytes))
}

fn signature(s: &str) -> Option<Signature> {
    let b = hex_bytes(s)?;
    if b.len() != 65 {
        return None;
    }
    Signature::from_raw(&b).ok()
}

fn u256_u64(v: U256) -> u64 {
    u64::try_from(v).unwrap_or(u64::MAX)
}

fn mul_div(a: u64, b: u128, d: u128) -> u64 {
    if d == 0 {
        return 0;
    }
    u64::try_from(u128::from(a).saturating_mul(b) / d).unwrap_or(u64::MAX)
}

fn tx_hash(id: u64, tag: u8) -> String {
    let mut b = [0u8; 32];
    b[0] = tag;
    b[24..].copy_from_slice(&id.to_be_bytes());
    hex(&b)
}

// ---------------------------------------------------------------------------------------------
// EIP-712 payloads
// ---------------------------------------------------------------------------------------------

/// The `types` object (without `EIP712Domain`) described by an `encodeType` string.
fn types_json(kind: IntentKind) -> Value {
    let enc = kind.encode_type();
    let mut out = serde_json::Map::new();
    for part in enc.split(')').filter(|p| !p.is_empty()) {
        let Some((name, fields)) = part.split_once('(') else { continue };
        let list: Vec<Value> = fields
            .split(',')
            .filter(|f| !f.is_empty())
            .filter_map(|f| f.rsplit_once(' ').map(|(t, n)| json!({ "name": n, "type": t })))
            .collect();
        out.insert(name.to_owned(), Value::Array(list));
    }
    Value::Object(out)
}

fn trade_json(t: &Trade) -> Value {
    json!({
        "trader": t.trader.to_checksum(None), "pairIndex": t.pairIndex.to_string(), "index": t.index.to_string(),
        "initialPosToken": t.initialPosToken.to_string(), "positionSizeUSDC": t.positionSizeUSDC.to_string(),
        "openPrice": t.openPrice.to_string(), "buy": t.buy, "leverage": t.leverage.to_string(), "tp": t.tp.to_string(),
        "sl": t.sl.to_string(), "timestamp": t.timestamp.to_string(),
    })
}

fn message_json(intent: &Intent) -> Value {
    match intent {
        Intent::OpenTradeReq(m) => json!({
            "_t": trade_json(&m._t), "_type": m._type, "_slippageP": m._slippageP.to_string(),
            "_deadline": m._deadline.to_string(), "_nonce": m._nonce.to_string(),
        }),
        Intent::CloseTradeReq(m) => json!({
            "_trader": m._trader.to_checksum(None), "_pairIndex": m._pairIndex.to_string(), "_index": m._index.to_string(),
            "_openTimestamp": m._openTimestamp.to_string(), "_amount": m._amount.to_string(), "_wantedPrice": m._wantedPrice.to_string(),
            "_deadline": m._deadline.to_string(), "_nonce": m._nonce.to_string(),
        }),
        Intent::UpdateTpSlReq(m) => json!({
            "trader": m.trader.to_checksum(None), "_pairIndex": m._pairIndex.to_string(), "_index": m._index.to_string(),
            "_newTp": m._newTp.to_string(), "_newSl": m._newSl.to_string(), "_deadline": m._deadline.to_string(), "_nonce": m._nonce.to_string(),
        }),
        Intent::TpSlReq(m) => json!({
            "trader": m.trader.to_checksum(None), "pairIndex": m.pairIndex.to_string(), "index": m.index.to_string(),
            "triggerType": m.triggerType, "coinSize": m.coinSize.to_string(), "buy": m.buy, "price": m.price.to_string(),
            "percentage": m.percentage.to_string(), "timestamp": m.timestamp.to_string(), "signTimestamp": m.signTimestamp.to_string(),
            "orderType": m.orderType, "nonce": m.nonce.to_string(),
        }),
        Intent::CancelOffchainOrder(m) => json!({ "entityId": m.entityId }),
        _ => Value::Null,
    }
}

fn intent_payload(st: &State, intent: &Intent, meta: Value) -> Value {
    let kind = intent.kind();
    let domain = st.domain();
    let mut digest = intent.digest(&domain);
    if st.wrong_digest {
        let mut b = digest.0;
        b[31] ^= 0x01;
        digest = B256::from(b);
    }
    json!({
        "intent": kind.name(),
        "signerRule": if kind == IntentKind::DelegateReq { "trader-only" } else { "trader-or-delegate" },
        "domain": { "name": domain.name, "version": domain.version, "chainId": domain.chain_id,
                    "verifyingContract": format!("{:#x}", domain.verifying_contract) },
        "primaryType": kind.name(),
        "types": types_json(kind),
        "message": message_json(intent),
        "digest": format!("{digest:#x}"),
        "encodedIntent": hex(&intent.abi_encode()),
        "meta": meta,
    })
}

/// Recovers the signer of `intent` from a hex signature.
fn signer_of(st: &State, intent: &Intent, sig_hex: &str) -> Option<Address> {
    let sig = signature(sig_hex)?;
    recover_address(intent.digest(&st.domain()), &sig).ok()
}

// ---------------------------------------------------------------------------------------------
// Routing
// ---------------------------------------------------------------------------------------------

fn route(method: &Method, path: &str) -> Option<(Svc, Endpoint, String)> {
    let (svc, rest) = if let Some(r) = path.strip_prefix("/txb") {
        (Svc::TxBuilder, r)
    } else if let Some(r) = path.strip_prefix("/data") {
        (Svc::Data, r)
    } else if let Some(r) = path.strip_prefix("/batched-market") {
        (Svc::Batched, r)
    } else if let Some(r) = path.strip_prefix("/core") {
        (Svc::Core, r)
    } else if let Some(r) = path.strip_prefix("/feed") {
        (Svc::Feed, r)
    } else if let Some(r) = path.strip_prefix("/history") {
        (Svc::History, r)
    } else {
        return None;
    };
    let ep = match (svc, method.as_str(), rest) {
        (Svc::TxBuilder, "GET", "/v2/meta") => Endpoint::Meta,
        (Svc::TxBuilder, "GET", "/v2/pairs") => Endpoint::Pairs,
        (Svc::TxBuilder, "GET", "/v2/positions") => Endpoint::Positions,
        (Svc::TxBuilder, "GET", "/v2/delegation") => Endpoint::Delegation,
        (Svc::TxBuilder, "GET", "/v2/nonce") => Endpoint::Nonce,
        (Svc::TxBuilder, "GET", "/v2/allowance") => Endpoint::Allowance,
        (Svc::TxBuilder, "POST", "/v2/intents/open") => Endpoint::IntentOpen,
        (Svc::TxBuilder, "POST", "/v2/intents/close") => Endpoint::IntentClose,
        (Svc::TxBuilder, "POST", "/v2/intents/tpsl-update") => Endpoint::IntentTpslUpdate,
        (Svc::TxBuilder, "POST", "/v2/intents/tpsl-partial") => Endpoint::IntentTpslPartial,
        (Svc::TxBuilder, "POST", "/v2/intents/offchain-cancel") => Endpoint::IntentOffchainCancel,
        (Svc::TxBuilder, "POST", "/v2/trade/open") => Endpoint::TradeOpen,
        (Svc::TxBuilder, "POST", "/v2/trade/close") => Endpoint::TradeClose,
        (Svc::Data, "GET", "/v2/trading") => Endpoint::Trading,
        (Svc::Batched, "POST", "/market/execute-batched") => Endpoint::ExecuteBatched,
        (Svc::Batched, "GET", r) if r.starts_with("/tracking-id/") && r.ends_with("/status") => Endpoint::Status,
        (Svc::Core, "GET", "/user-data") => Endpoint::UserData,
        (Svc::Core, "POST", "/price-triggers") => Endpoint::PriceTriggerCreate,
        (Svc::Core, "PUT", r) if r.starts_with("/price-triggers/") => Endpoint::PriceTriggerPut,
        (Svc::Core, "DELETE", "/price-triggers") => Endpoint::PriceTriggerDelete,
        (Svc::Feed, "GET", r) if r.starts_with("/v2/pairs/") && r.ends_with("/price-update-data") => Endpoint::PriceUpdateData,
        (Svc::History, "GET", r) if r.starts_with("/v2/history/trade-history/") => Endpoint::TradeHistory,
        _ => return None,
    };
    Some((svc, ep, rest.to_owned()))
}

async fn handle(state: Arc<Mutex<State>>, req: Request<Incoming>) -> Result<Response<Body>, Infallible> {
    let method = req.method().clone();
    let full_path = req.uri().path().to_owned();
    let query = req.uri().query().unwrap_or_default().to_owned();
    let raw = match req.into_body().collect().await {
        Ok(b) => b.to_bytes(),
        Err(_) => Bytes::new(),
    };
    let body: Option<Value> = if raw.is_empty() { None } else { serde_json::from_slice(&raw).ok() };
    let routed = route(&method, &full_path);
    let log_index = {
        let mut st = lock(&state);
        st.log.push(LoggedRequest {
            method: method.to_string(),
            path: routed.as_ref().map_or_else(|| full_path.clone(), |(_, _, rest)| rest.clone()),
            endpoint: routed.as_ref().map(|(_, ep, _)| *ep),
            query: query.clone(),
            body: body.clone(),
            status: 0,
        });
        st.log.len() - 1
    };
    let Some((svc, ep, rest)) = routed else {
        return Ok(finish(&state, log_index, render(err(Svc::TxBuilder, 404, "NOT_FOUND", &format!("no route {method} {full_path}")))));
    };
    let delay = lock(&state).delays.get_mut(&ep).and_then(VecDeque::pop_front);
    if let Some(d) = delay {
        tokio::time::sleep(d).await;
    }
    let failure = lock(&state).failures.get_mut(&ep).and_then(VecDeque::pop_front);
    if let Some(f) = failure {
        return Ok(finish(&state, log_index, render(err(svc, f.status, &f.code, &f.message))));
    }
    if body.is_none() && matches!(method, Method::POST | Method::PUT | Method::DELETE) {
        return Ok(finish(&state, log_index, render(err(svc, 400, "VALIDATION_ERROR", "a JSON body is required"))));
    }
    let body = body.unwrap_or(Value::Null);
    let q = query_map(&query);
    let resp = match ep {
        Endpoint::ExecuteBatched => execute_batched(&state, &body).await,
        _ => render(dispatch(&state, svc, ep, &rest, &q, &body)),
    };
    Ok(finish(&state, log_index, resp))
}

fn finish(state: &Mutex<State>, index: usize, resp: Response<Body>) -> Response<Body> {
    if let Some(entry) = lock(state).log.get_mut(index) {
        entry.status = resp.status().as_u16();
    }
    resp
}

fn dispatch(state: &Mutex<State>, svc: Svc, ep: Endpoint, rest: &str, q: &HashMap<String, String>, body: &Value) -> Reply {
    let mut st = lock(state);
    apply_due_tpsl(&mut st);
    match ep {
        Endpoint::Meta => ok(svc, meta(&st)),
        Endpoint::Pairs => ok(
            svc,
            Value::Array(
                st.pairs
                    .iter()
                    .filter(|(_, p)| !p.from.is_empty() && !p.to.is_empty())
                    .map(|(i, p)| json!({ "index": i, "symbol": p.symbol, "from": p.from, "to": p.to }))
                    .collect(),
            ),
        ),
        Endpoint::Trading => Reply { status: 200, body: Value::Null, raw: Some(st.snapshot.clone()) },
        Endpoint::Positions => {
            let trader = q.get("trader").and_then(|t| address(t));
            let trades: Vec<Value> = trader
                .map(|t| st.book.iter().filter(|p| p.trader == t && !st.events.hides(p)).map(onchain_trade_json).collect())
                .unwrap_or_default();
            if let Some(t) = trader {
                st.events.read_by(t);
            }
            ok(svc, json!({ "trader": trader.map(|t| t.to_checksum(None)), "trades": trades, "limitOrders": [] }))
        }
        Endpoint::Delegation => {
            let (Some(trader), Some(delegate)) = (q.get("trader").and_then(|t| address(t)), q.get("delegate").and_then(|d| address(d)))
            else {
                return err(svc, 400, "VALIDATION_ERROR", "trader and delegate are required addresses");
            };
            let (enabled, expiry) = st.delegations.get(&(trader, delegate)).copied().unwrap_or((false, 0));
            let active = enabled && expiry > now_s();
            let (action, intents) = st.delegate_caps.get(&(trader, delegate)).copied().unwrap_or((true, true));
            ok(
                svc,
                json!({ "isEnabled": enabled, "expiry": expiry, "canDelegatedAction": active && action, "canSignIntents": active && intents }),
            )
        }
        Endpoint::Nonce => {
            let Some(signer) = q.get("trader").and_then(|t| address(t)) else {
                return err(svc, 400, "VALIDATION_ERROR", "trader must be an address");
            };
            let nonce = match q.get("check") {
                Some(c) => match uint(c) {
                    Some(n) => n,
                    None => return err(svc, 400, "VALIDATION_ERROR", "check must be a uint256"),
                },
                None => random_nonce(),
            };
            let used = st.used_nonces.contains(&(signer, nonce));
            ok(
                svc,
                json!({ "nonce": nonce.to_string(), "wordPos": (nonce >> 8usize).to_string(), "bitPos": u256_u64(nonce & U256::from(0xffu8)), "used": used }),
            )
        }
        Endpoint::Allowance => {
            let Some(trader) = q.get("trader").and_then(|t| address(t)) else {
                return err(svc, 400, "VALIDATION_ERROR", "trader must be an address");
            };
            let balance = st.balances.get(&trader).copied().unwrap_or(0);
            let human: Value = serde_json::from_str(&vanta_domain::money::format_scaled(i128::from(balance), 6)).unwrap_or(Value::Null);
            ok(
                svc,
                json!({ "trader": trader.to_checksum(None), "spender": "0x8a311D7048c35985aa31C131B9A13e03a5f7422d",
                        "balance": balance.to_string(), "allowance": U256::MAX.to_string(), "balanceUsdc": human }),
            )
        }
        Endpoint::IntentOpen => intent_open(&mut st, svc, body),
        Endpoint::IntentClose => intent_close(&mut st, svc, body),
        Endpoint::IntentTpslUpdate => intent_tpsl_update(&mut st, svc, body),
        Endpoint::IntentTpslPartial => intent_tpsl_partial(&mut st, svc, body),
        Endpoint::TradeOpen => trade_open(&mut st, svc, body),
        Endpoint::TradeClose => trade_close(&mut st, svc, body),
        Endpoint::IntentOffchainCancel => match text(body, "entityId") {
            Some(id) if !id.is_empty() => {
                let intent = Intent::CancelOffchainOrder(CancelOffchainOrder { entityId: id });
                ok(svc, intent_payload(&st, &intent, json!({})))
            }
            _ => err(svc, 400, "VALIDATION_ERROR", "entityId is required"),
        },
        Endpoint::Status => {
            let id = rest.trim_start_matches("/tracking-id/").trim_end_matches("/status");
            let after = q.get("afterSeq").and_then(|s| s.parse::<u64>().ok());
            match st.tracking.get(id) {
                None => err(svc, 404, "NOT_FOUND", "Unknown trackingId"),
                Some(events) => ok(
                    svc,
                    json!({ "events": events.iter().filter(|e| after.is_none_or(|a| e.seq > a)).map(|e| json!({
                        "seq": e.seq, "type": e.kind, "payload": e.payload, "at": e.at,
                    })).collect::<Vec<_>>() }),
                ),
            }
        }
        Endpoint::UserData => {
            let trader = q.get("trader").and_then(|t| address(t));
            let positions: Vec<Value> = trader
                .map(|t| st.book.iter().filter(|p| p.trader == t && !st.events.hides(p)).map(|p| core_position_json(&st, p)).collect())
                .unwrap_or_default();
            if let Some(t) = trader {
                st.events.read_by(t);
            }
            ok(svc, json!({ "positions": positions, "limitOrders": [] }))
        }
        Endpoint::PriceTriggerCreate => trigger_create(&mut st, svc, body),
        Endpoint::PriceTriggerPut => {
            let id = rest.trim_start_matches("/price-triggers/").to_owned();
            if id.starts_with("global-") { global_tpsl(&mut st, svc, &id, body) } else { trigger_replace(&mut st, svc, &id, body) }
        }
        Endpoint::PriceTriggerDelete => trigger_delete(&mut st, svc, body),
        Endpoint::PriceUpdateData => {
            let pair = rest.trim_start_matches("/v2/pairs/").trim_end_matches("/price-update-data");
            match pair.parse::<u16>().ok().and_then(|i| st.prices.get(&i).map(|p| (i, *p))) {
                None => err(svc, 404, "NOT_FOUND", &format!("no price for pair {pair}")),
                Some((i, price)) => ok(svc, price_update_json(i, price, now_s())),
            }
        }
        Endpoint::TradeHistory => {
            let (status, body) = history::trade_history(&st, rest);
            Reply::json(status, body)
        }
        Endpoint::ExecuteBatched => err(svc, 500, "INTERNAL_ERROR", "unreachable"),
    }
}

/// Fixed feed prices by base asset (1e10); a pair the table does not know trades at 100.
fn feed_prices(pairs: &BTreeMap<u16, PairRow>) -> BTreeMap<u16, u64> {
    pairs
        .iter()
        .map(|(i, p)| {
            let human: u64 = match p.from.as_str() {
                "ETH" => 3_000,
                "BTC" => 60_000,
                "SOL" => 150,
                _ => 100,
            };
            (*i, human * 10_000_000_000)
        })
        .collect()
}

/// The feed's answer: both legs (`pro` = Pyth Lazer, `core` = Pyth Hermes) with the human price
/// and placeholder update bytes (`PNAU` + pair + price; no chain verifies them).
fn price_update_json(pair: u16, price: u64, now: u64) -> Value {
    let human = vanta_domain::money::format_scaled(i128::from(price), 10);
    let mut bytes = b"PNAU".to_vec();
    bytes.extend_from_slice(&pair.to_be_bytes());
    bytes.extend_from_slice(&price.to_be_bytes());
    bytes.extend_from_slice(&now.to_be_bytes());
    let leg = |source: u8| {
        json!({ "pairIndex": pair, "price": human, "priceRaw": price.to_string(), "publishTime": now,
                "priceSourcing": source, "priceUpdateData": hex(&bytes) })
    };
    json!({ "pairIndex": pair, "pro": leg(1), "core": leg(0) })
}

/// Lands every accepted TP/SL update whose time has come (the operator's execution).
fn apply_due_tpsl(st: &mut State) {
    let now = now_ms();
    let (due, later): (Vec<PendingTpSl>, Vec<PendingTpSl>) =
        std::mem::take(&mut st.pending_tpsl).into_iter().partition(|u| u.due_ms <= now);
    st.pending_tpsl = later;
    for u in due {
        if let Some(p) = st.book.iter_mut().find(|p| p.trader == u.trader && p.pair == u.pair && p.index == u.index) {
            p.tp = u.tp;
            p.sl = u.sl;
        }
    }
}

/// The venue's TP correction (`PairStorage.correctTp`): a TP of 0 is the max-gain cap,
/// `open ± open × maxGain% / leverage`.
fn corrected_tp(open_price: u64, leverage: u64, buy: bool, tp: u64, max_gain_p: u64) -> u64 {
    if tp != 0 {
        return tp;
    }
    let delta = mul_div(open_price, u128::from(max_gain_p).saturating_mul(100_000_000), u128::from(leverage.max(1)));
    if buy { open_price.saturating_add(delta) } else { open_price.saturating_sub(delta) }
}

fn meta(st: &State) -> Value {
    let router = st.router.to_checksum(None);
    json!({
        "chainId": st.chain_id,
        "addresses": {
            "tradingRouter": router,
            "tradingStorage": "0x8a311D7048c35985aa31C131B9A13e03a5f7422d",
            "usdc": "0x833589fCD6eDb6E08f4c7C32D4f71b54bdA02913",
            "referral": "0x1A110bBA13A1f16cCa4b79758BD39290f29De82D",
            "delegationTemplate": DEFAULT_DELEGATION_TEMPLATE.to_checksum(None),
        },
        "eip712": {
            "trading": { "name": "AvantisTrading", "version": "1", "chainId": st.chain_id, "verifyingContract": router },
            "referral": { "name": "AvantisTrading", "version": "1", "chainId": st.chain_id, "verifyingContract": "0x1A110bBA13A1f16cCa4b79758BD39290f29De82D" },
            "signatureFormat": "rsv-65-bytes",
        },
        "enums": { "openOrderType": { "market": 0, "stop_limit": 1, "limit": 2, "market_pnl": 3 } },
        "units": { "price": "1e10", "leverage": "1e10", "usdc": "1e6" },
        "defaults": { "executionFeeWei": st.execution_fee_wei.to_string(), "intentDeadlineMs": INTENT_TTL_MS, "slippagePercent": "1" },
    })
}

fn liquidation_price(p: &FakePosition) -> u64 {
    let delta = mul_div(p.open_price, 9_000_000_000, u128::from(p.leverage.max(1)));
    if p.buy { p.open_price.saturating_sub(delta) } else { p.open_price.saturating_add(delta) }
}

fn onchain_trade_json(p: &FakePosition) -> Value {
    json!({
        "trader": p.trader.to_checksum(None), "pairIndex": p.pair.to_string(), "index": p.index.to_string(),
        "initialPosToken": p.collateral.to_string(), "positionSizeUSDC": mul_div(p.collateral, u128::from(p.leverage), 10_000_000_000).to_string(),
        "openPrice": p.open_price.to_string(), "buy": p.buy, "leverage": p.leverage.to_string(), "tp": p.tp.to_string(), "sl": p.sl.to_string(),
        "timestamp": p.opened_at.to_string(), "coinExposure": coin_size(p).to_string(), "liquidationPrice": liquidation_price(p).to_string(),
    })
}

/// Base-asset size, 1e10: notional(1e6) × 1e10 × 1e10 / openPrice / 1e6.
fn coin_size(p: &FakePosition) -> u64 {
    let notional = mul_div(p.collateral, u128::from(p.leverage), 10_000_000_000);
    let scaled = u128::from(notional).saturating_mul(10_000_000_000).saturating_mul(10_000_000_000);
    u64::try_from(scaled / u128::from(p.open_price.max(1)) / 1_000_000).unwrap_or(u64::MAX)
}

fn core_position_json(st: &State, p: &FakePosition) -> Value {
    let trader = p.trader.to_checksum(None);
    let mut triggers = Vec::new();
    for (leg, order_type, price) in [("tp", 0u8, p.tp), ("sl", 1u8, p.sl)] {
        if price != 0 {
            triggers.push(json!({
                "entityId": format!("global-{leg}-{trader}-{}-{}", p.pair, p.index), "trader": trader, "pairIndex": p.pair, "index": p.index,
                "timestamp": p.opened_at, "triggerType": 0, "coinSize": coin_size(p).to_string(), "buy": p.buy, "price": price.to_string(),
                "percentage": "0", "signTimestamp": p.opened_at * 1000, "orderType": order_type, "nonce": "0",
                "finalTriggerPrice": price.to_string(), "isGlobal": true,
            }));
        }
    }
    for t in st
        .triggers
        .iter()
        .filter(|t| t.req.trader == p.trader && t.req.pairIndex == U256::from(p.pair) && t.req.index == U256::from(p.index))
    {
        triggers.push(json!({
            "entityId": t.entity_id, "trader": trader, "pairIndex": p.pair, "index": p.index, "timestamp": u256_u64(t.req.timestamp),
            "triggerType": t.req.triggerType, "coinSize": t.req.coinSize.to_string(), "buy": t.req.buy, "price": t.req.price.to_string(),
            "percentage": t.req.percentage.to_string(), "signTimestamp": u256_u64(t.req.signTimestamp), "orderType": t.req.orderType,
            "nonce": t.req.nonce.to_string(), "finalTriggerPrice": t.req.price.to_string(), "isGlobal": false,
        }));
    }
    json!({
        "trader": trader, "pairIndex": p.pair, "index": p.index, "buy": p.buy, "isPnl": p.is_pnl,
        "collateral": p.collateral.to_string(), "leverage": p.leverage.to_string(), "openPrice": p.open_price.to_string(),
        "tp": p.tp.to_string(), "sl": p.sl.to_string(), "liquidationPrice": liquidation_price(p).to_string(),
        "rolloverFee": "0", "unrealisedFundingFee": "0", "lossProtection": "0", "openedAt": p.opened_at, "priceTriggers": triggers,
    })
}

// ---------------------------------------------------------------------------------------------
// Intent builders
// ---------------------------------------------------------------------------------------------

fn pair_of(st: &State, body: &Value) -> Result<(u16, PairRow), (u16, &'static str, String)> {
    let idx = match text(body, "pairIndex") {
        Some(t) => t.parse::<u16>().map_err(|_| (400, "VALIDATION_ERROR", format!("pairIndex {t:?} is not an index")))?,
        None => {
            let sym = text(body, "pair").ok_or((400, "VALIDATION_ERROR", "pairIndex or pair is required".to_owned()))?.to_ascii_uppercase();
            let exact = st.pairs.iter().find(|(_, p)| p.symbol == sym).map(|(i, _)| *i);
            let rewritten = sym.replace(['-', '_'], "/");
            exact.or_else(|| st.pairs.iter().find(|(_, p)| p.symbol == rewritten).map(|(i, _)| *i)).ok_or((
                400,
                "BAD_REQUEST",
                format!("Unknown pair {sym}"),
            ))?
        }
    };
    let row = st.pairs.get(&idx).cloned().ok_or((400, "BAD_REQUEST", format!("Unknown pair index {idx}")))?;
    Ok((idx, row))
}

macro_rules! field {
    ($svc:expr, $e:expr, $msg:expr) => {
        match $e {
            Some(v) => v,
            None => return err($svc, 400, "VALIDATION_ERROR", $msg),
        }
    };
}

/// The request's `deadlineMs`, or now + 120 s.
fn deadline_of(body: &Value) -> Option<U256> {
    match text(body, "deadlineMs") {
        Some(t) => uint(&t),
        None => Some(U256::from(now_ms() + INTENT_TTL_MS)),
    }
}

/// The request's `nonce`, or a random one.
fn nonce_of(body: &Value) -> Option<U256> {
    match text(body, "nonce") {
        Some(t) => uint(&t),
        None => Some(random_nonce()),
    }
}

fn find_position(st: &State, trader: Address, pair: u16, index: u32) -> Option<&FakePosition> {
    st.book.iter().find(|p| p.trader == trader && p.pair == pair && p.index == index)
}

/// Like `field!`, for parsers that return `Result<_, Reply>`.
macro_rules! need {
    ($svc:expr, $e:expr, $msg:expr) => {
        match $e {
            Some(v) => v,
            None => return Err(err($svc, 400, "VALIDATION_ERROR", $msg)),
        }
    };
}

/// The fields of a market open (intent or calldata builder), deadline and nonce 0.
fn parse_open(st: &State, svc: Svc, body: &Value) -> Result<(OpenTradeReq, PairRow), Reply> {
    let trader = need!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return Err(err(svc, s, c, &m)),
    };
    let buy = match text(body, "side").as_deref() {
        Some("long") => true,
        Some("short") => false,
        _ => return Err(err(svc, 400, "VALIDATION_ERROR", "side must be long or short")),
    };
    let order_type = match text(body, "orderType").as_deref().unwrap_or("market") {
        "market" => 0u8,
        "market_pnl" => 3,
        other => return Err(err(svc, 400, "BAD_REQUEST", &format!("the fake only builds market opens, not {other}"))),
    };
    let collateral = need!(svc, text(body, "collateralUsdc").and_then(|t| human(&t, 6)), "collateralUsdc must be a USDC amount");
    let leverage = need!(svc, text(body, "leverage").and_then(|t| human(&t, 10)), "leverage must be a decimal");
    // A market order without `openPrice` is built at the feed's price (the venue resolves it).
    let open_price = match text(body, "openPrice") {
        Some(t) => need!(svc, human(&t, 10), "openPrice must be a decimal"),
        None => need!(svc, st.prices.get(&pair).copied(), "openPrice is required: the feed has no price for this pair"),
    };
    let slippage = need!(svc, human(&text(body, "slippagePercent").unwrap_or_else(|| "1".into()), 10), "slippagePercent must be a decimal");
    let tp = need!(svc, text(body, "takeProfit").map_or(Some(0), |t| human(&t, 10)), "takeProfit must be a decimal");
    let sl = need!(svc, text(body, "stopLoss").map_or(Some(0), |t| human(&t, 10)), "stopLoss must be a decimal");
    let skip = body.get("skipValidation").and_then(Value::as_bool).unwrap_or(false);
    if !skip {
        if !row.listed {
            return Err(err(svc, 400, "BAD_REQUEST", &format!("Pair {} is not listed", row.symbol)));
        }
        if leverage < 10_000_000_000 || open_price == 0 {
            return Err(err(svc, 400, "BAD_REQUEST", "Leverage below 1x or no price"));
        }
        let notional = mul_div(collateral, u128::from(leverage), 10_000_000_000);
        if let Some(min) = row.min_position
            && notional < min
        {
            return Err(err(svc, 400, "BAD_REQUEST", &format!("Below minimum position ({} USDC)", min / 1_000_000)));
        }
    }
    Ok((
        OpenTradeReq {
            _t: Trade {
                trader,
                pairIndex: U256::from(pair),
                index: U256::ZERO,
                initialPosToken: U256::ZERO,
                positionSizeUSDC: U256::from(collateral),
                openPrice: U256::from(open_price),
                buy,
                leverage: U256::from(leverage),
                tp: U256::from(tp),
                sl: U256::from(sl),
                timestamp: U256::ZERO,
            },
            _type: order_type,
            _slippageP: U256::from(slippage),
            _deadline: U256::ZERO,
            _nonce: U256::ZERO,
        },
        row,
    ))
}

/// The fields of a market close (intent or calldata builder), deadline and nonce 0.
fn parse_close(st: &State, svc: Svc, body: &Value) -> Result<(CloseTradeReq, PairRow), Reply> {
    let trader = need!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return Err(err(svc, s, c, &m)),
    };
    let index = need!(svc, text(body, "tradeIndex").and_then(|t| t.parse::<u32>().ok()), "tradeIndex must be an integer");
    let amount = need!(svc, text(body, "collateralToCloseUsdc").and_then(|t| human(&t, 6)), "collateralToCloseUsdc must be a USDC amount");
    let wanted = need!(svc, text(body, "expectedPrice").map_or(Some(0), |t| human(&t, 10)), "expectedPrice must be a decimal");
    let Some(pos) = find_position(st, trader, pair, index) else {
        return Err(err(svc, 400, "BAD_REQUEST", &format!("No open trade {index} on {}", row.symbol)));
    };
    let open_ts = need!(svc, text(body, "openTimestamp").map_or(Some(pos.opened_at), |t| t.parse().ok()), "openTimestamp must be seconds");
    Ok((
        CloseTradeReq {
            _trader: trader,
            _pairIndex: U256::from(pair),
            _index: U256::from(index),
            _openTimestamp: U256::from(open_ts),
            _amount: U256::from(amount),
            _wantedPrice: U256::from(wanted),
            _deadline: U256::ZERO,
            _nonce: U256::ZERO,
        },
        row,
    ))
}

fn intent_open(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (mut m, row) = match parse_open(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    m._deadline = field!(svc, deadline_of(body), "deadlineMs must be unix milliseconds");
    m._nonce = field!(svc, nonce_of(body), "nonce must be a uint256");
    if st.tamper_intents > 0 {
        st.tamper_intents -= 1;
        m._t.positionSizeUSDC += U256::from(1_000_000u64);
    }
    ok(svc, intent_payload(st, &Intent::OpenTradeReq(m), json!({ "pair": row.symbol })))
}

fn intent_close(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (mut m, row) = match parse_close(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    m._deadline = field!(svc, deadline_of(body), "deadlineMs must be unix milliseconds");
    m._nonce = field!(svc, nonce_of(body), "nonce must be a uint256");
    if st.tamper_intents > 0 {
        st.tamper_intents -= 1;
        m._amount += U256::from(1_000_000u64);
    }
    ok(svc, intent_payload(st, &Intent::CloseTradeReq(m), json!({ "pair": row.symbol })))
}

// ---------------------------------------------------------------------------------------------
// Calldata builders and the keeper (the direct route)
// ---------------------------------------------------------------------------------------------

/// The `CallData` answer for `action`, signed by `delegate` when given (else `trader`; a
/// delegate's call is wrapped in `delegatedAction(trader, …)`), with the next tamper applied.
fn calldata_reply(st: &mut State, svc: Svc, body: &Value, trader: Address, action: TradingAction, description: String) -> Reply {
    let from = match text(body, "delegate") {
        Some(d) => field!(svc, address(&d), "delegate must be an address"),
        None => trader,
    };
    let value = match text(body, "executionFeeWei") {
        Some(v) => field!(svc, uint(&v), "executionFeeWei must be a uint256"),
        None => U256::from(st.execution_fee_wei),
    };
    let mut call = TradingCall { on_behalf_of: (from != trader).then_some(trader), action };
    let tamper = st.calldata_tampers.pop_front();
    if let Some(t) = tamper {
        tamper_call(&mut call, t);
    }
    let mut data = call.encode();
    if tamper == Some(CalldataTamper::Selector)
        && let Some(sel) = data.get_mut(..4)
    {
        sel.copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    }
    ok(
        svc,
        json!({
            "to": st.calldata_target().to_checksum(None), "from": from.to_checksum(None), "data": hex(&data),
            "value": format!("{value:#x}"), "chainId": st.chain_id, "description": description,
        }),
    )
}

fn tamper_call(call: &mut TradingCall, tamper: CalldataTamper) {
    let one_usdc = U256::from(1_000_000u64);
    match (&mut call.action, tamper) {
        (_, CalldataTamper::DelegatedFor) => call.on_behalf_of = Some(TAMPER_ADDRESS),
        (TradingAction::Open(c), CalldataTamper::Pair) => c.t.pairIndex += U256::from(1u8),
        (TradingAction::Open(c), CalldataTamper::Side) => c.t.buy = !c.t.buy,
        (TradingAction::Open(c), CalldataTamper::Collateral) => c.t.positionSizeUSDC += one_usdc,
        (TradingAction::Open(c), CalldataTamper::Leverage) => c.t.leverage *= U256::from(2u8),
        (TradingAction::Open(c), CalldataTamper::OpenPrice) => c.t.openPrice = c.t.openPrice * U256::from(11u8) / U256::from(10u8),
        (TradingAction::Open(c), CalldataTamper::Slippage) => {
            c._slippageP = if c._slippageP.is_zero() { U256::from(50_000_000_000u64) } else { c._slippageP * U256::from(5u8) }
        }
        (TradingAction::Open(c), CalldataTamper::TakeProfit) => c.t.tp += U256::from(1u8),
        (TradingAction::Open(c), CalldataTamper::StopLoss) => c.t.sl += U256::from(1u8),
        (TradingAction::Open(c), CalldataTamper::Trader) => c.t.trader = TAMPER_ADDRESS,
        (TradingAction::Open(c), CalldataTamper::OrderType) => c._type ^= 3,
        (TradingAction::Close(c), CalldataTamper::Pair) => c._pairIndex += U256::from(1u8),
        (TradingAction::Close(c), CalldataTamper::Collateral) => c._amount += one_usdc,
        (TradingAction::Close(c), CalldataTamper::TradeIndex) => c._index += U256::from(1u8),
        _ => {}
    }
}

fn call_trade(t: &Trade) -> trading_call::Trade {
    trading_call::Trade {
        trader: t.trader,
        pairIndex: t.pairIndex,
        index: t.index,
        initialPosToken: t.initialPosToken,
        positionSizeUSDC: t.positionSizeUSDC,
        openPrice: t.openPrice,
        buy: t.buy,
        leverage: t.leverage,
        tp: t.tp,
        sl: t.sl,
        timestamp: t.timestamp,
    }
}

fn intent_trade(t: &trading_call::Trade) -> Trade {
    Trade {
        trader: t.trader,
        pairIndex: t.pairIndex,
        index: t.index,
        initialPosToken: t.initialPosToken,
        positionSizeUSDC: t.positionSizeUSDC,
        openPrice: t.openPrice,
        buy: t.buy,
        leverage: t.leverage,
        tp: t.tp,
        sl: t.sl,
        timestamp: t.timestamp,
    }
}

fn trade_open(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (m, row) = match parse_open(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let side = if m._t.buy { "long" } else { "short" };
    let description = format!("Open {side} {} (market)", row.symbol);
    let action =
        TradingAction::Open(Box::new(trading_call::openTradeCall { t: call_trade(&m._t), _type: m._type, _slippageP: m._slippageP }));
    calldata_reply(st, svc, body, m._t.trader, action, description)
}

fn trade_close(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (m, row) = match parse_close(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let description = format!("Close trade {} on {}", m._index, row.symbol);
    let action =
        TradingAction::Close(trading_call::closeTradeMarketCall { _pairIndex: m._pairIndex, _index: m._index, _amount: m._amount });
    calldata_reply(st, svc, body, m._trader, action, description)
}

/// Executes the order a mined call carries (see [`FakeAvantis::report_mined_call`]): the
/// trading contract's ABI; a bare call trades for its sender, `delegatedAction` for the named
/// trader when the sender is an active delegate.
fn execute_call(st: &mut State, tx_hash: B256, from: Address, to: Address, data: &[u8], block_timestamp: u64) -> Result<bool, String> {
    if st.executed_calls.contains(&tx_hash) {
        return Ok(false);
    }
    if to != st.calldata_target() {
        return Err(format!("{tx_hash}: {to} is not the trading contract"));
    }
    let call = TradingCall::decode(data).map_err(|e| format!("{tx_hash}: {e}"))?;
    let trader = call.acting_for(from);
    if !st.authorized(trader, from) {
        return Err(format!("{tx_hash}: {from} may not trade for {trader}"));
    }
    let at = block_timestamp.saturating_mul(1000);
    let order_id = st.fresh_id();
    let event = match call.action {
        TradingAction::Open(c) => {
            if c.t.trader != trader {
                return Err(format!("{tx_hash}: a trade for {} sent for {trader}", c.t.trader));
            }
            let m = OpenTradeReq {
                _t: intent_trade(&c.t),
                _type: c._type,
                _slippageP: c._slippageP,
                _deadline: U256::ZERO,
                _nonce: U256::ZERO,
            };
            execute_open(st, &m, m._type == 3, order_id, at)
        }
        TradingAction::Close(c) => {
            let m = CloseTradeReq {
                _trader: trader,
                _pairIndex: c._pairIndex,
                _index: c._index,
                _openTimestamp: U256::ZERO,
                _amount: c._amount,
                _wantedPrice: U256::ZERO,
                _deadline: U256::ZERO,
                _nonce: U256::ZERO,
            };
            execute_close(st, &m, order_id, at).map_err(|code| format!("{tx_hash}: close failed: {code}"))?
        }
    };
    st.executed_calls.push(tx_hash);
    if event.kind == "Error" {
        return Err(format!("{tx_hash}: execution failed: {}", event.payload));
    }
    tracing::debug!(tx = %tx_hash, "fake Avantis keeper executed a direct order");
    Ok(true)
}

fn hex_u64(v: Option<&Value>) -> Option<u64> {
    let s = v?.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(s, 16).ok()
}

/// Polls the node for new blocks and executes the orders of successful calls to the target.
async fn keeper_loop(provider: DynProvider, state: Arc<Mutex<State>>, mut next: u64) {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(head) = provider.get_block_number().await else { continue };
        while next <= head {
            if keeper_block(&provider, &state, next).await.is_err() {
                break; // retried on the next poll (executions are per hash, never twice)
            }
            next += 1;
        }
    }
}

async fn keeper_block(provider: &DynProvider, state: &Mutex<State>, number: u64) -> Result<(), String> {
    let block: Value =
        provider.raw_request("eth_getBlockByNumber".into(), (format!("{number:#x}"), true)).await.map_err(|e| e.to_string())?;
    let timestamp = hex_u64(block.get("timestamp")).ok_or("block without timestamp")?;
    let (target, paused) = {
        let st = lock(state);
        (st.calldata_target(), st.keeper_paused)
    };
    if paused {
        return Ok(());
    }
    for tx in block.get("transactions").and_then(Value::as_array).map_or(&[][..], Vec::as_slice) {
        let to = tx.get("to").and_then(Value::as_str).and_then(address);
        if to != Some(target) {
            continue;
        }
        let (Some(hash), Some(from), Some(input)) = (
            tx.get("hash").and_then(Value::as_str).and_then(|h| B256::from_str(h).ok()),
            tx.get("from").and_then(Value::as_str).and_then(address),
            tx.get("input").or_else(|| tx.get("data")).and_then(Value::as_str).and_then(hex_bytes),
        ) else {
            continue;
        };
        let receipt: Value = provider.raw_request("eth_getTransactionReceipt".into(), (hash,)).await.map_err(|e| e.to_string())?;
        if receipt.get("status").and_then(Value::as_str) != Some("0x1") {
            continue;
        }
        if let Err(e) = execute_call(&mut lock(state), hash, from, target, &input, timestamp) {
            tracing::warn!(error = %e, "fake Avantis keeper did not execute a call");
        }
    }
    Ok(())
}

fn intent_tpsl_update(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let trader = field!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return err(svc, s, c, &m),
    };
    let index = field!(svc, text(body, "tradeIndex").and_then(|t| t.parse::<u32>().ok()), "tradeIndex must be an integer");
    let tp = field!(svc, text(body, "takeProfit").and_then(|t| human(&t, 10)), "takeProfit must be a decimal");
    let sl = field!(svc, text(body, "stopLoss").and_then(|t| human(&t, 10)), "stopLoss must be a decimal");
    let intent = Intent::UpdateTpSlReq(UpdateTpSlReq {
        trader,
        _pairIndex: U256::from(pair),
        _index: U256::from(index),
        _newTp: U256::from(tp),
        _newSl: U256::from(sl),
        _deadline: field!(svc, deadline_of(body), "deadlineMs must be unix milliseconds"),
        _nonce: field!(svc, nonce_of(body), "nonce must be a uint256"),
    });
    ok(svc, intent_payload(st, &intent, json!({ "pair": row.symbol })))
}

fn intent_tpsl_partial(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let trader = field!(svc, text(body, "trader").and_then(|t| address(&t)), "trader must be an address");
    let (pair, row) = match pair_of(st, body) {
        Ok(p) => p,
        Err((s, c, m)) => return err(svc, s, c, &m),
    };
    let index = field!(svc, text(body, "tradeIndex").and_then(|t| t.parse::<u32>().ok()), "tradeIndex must be an integer");
    let buy = match text(body, "side").as_deref() {
        Some("long") => true,
        Some("short") => false,
        _ => return err(svc, 400, "VALIDATION_ERROR", "side must be long or short"),
    };
    let order_type = match text(body, "kind").as_deref() {
        Some("take_profit" | "tp") => 4u8,
        Some("stop_loss" | "sl") => 5,
        _ => return err(svc, 400, "VALIDATION_ERROR", "kind must be take_profit or stop_loss"),
    };
    let coin = field!(svc, text(body, "coinExposure").and_then(|t| human(&t, 10)), "coinExposure must be a decimal");
    let (trigger_type, price, percentage) = match text(body, "triggerType").as_deref().unwrap_or("fixed") {
        "fixed" => (0u8, field!(svc, text(body, "price").and_then(|t| human(&t, 10)), "price is required for fixed triggers"), I256::ZERO),
        "percentage" => {
            let p = field!(svc, text(body, "percentage").and_then(|t| parse_scaled(&t, 10).ok()), "percentage must be a decimal");
            (1u8, 0, I256::try_from(p).unwrap_or(I256::ZERO))
        }
        _ => return err(svc, 400, "VALIDATION_ERROR", "triggerType must be fixed or percentage"),
    };
    let Some(pos) = find_position(st, trader, pair, index) else {
        return err(svc, 400, "BAD_REQUEST", &format!("No open trade {index} on {}", row.symbol));
    };
    let ts = field!(svc, text(body, "openTimestamp").map_or(Some(pos.opened_at), |t| t.parse().ok()), "openTimestamp must be seconds");
    let intent = Intent::TpSlReq(TpSlReq {
        trader,
        pairIndex: U256::from(pair),
        index: U256::from(index),
        triggerType: trigger_type,
        coinSize: U256::from(coin),
        buy,
        price: U256::from(price),
        percentage,
        timestamp: U256::from(ts),
        signTimestamp: U256::from(now_ms()),
        orderType: order_type,
        nonce: random_nonce(),
    });
    ok(svc, intent_payload(st, &intent, json!({ "pair": row.symbol })))
}

// ---------------------------------------------------------------------------------------------
// Batched market
// ---------------------------------------------------------------------------------------------

struct Accepted {
    tracking_id: String,
    events: Vec<LoggedEvent>,
}

fn nest(status: u16, message: &str) -> Response<Body> {
    render(err(Svc::Batched, status, "BAD_REQUEST", message))
}

/// Validates a submission; returns the intent and its signer.
fn validate_submission(st: &State, body: &Value) -> Result<(u8, Intent, Address), String> {
    let order_type = body.get("orderType").and_then(Value::as_u64).ok_or("orderType must be a JSON integer")?;
    let order_type = u8::try_from(order_type).map_err(|_| "orderType must be one of the supported values")?;
    if ![0u8, 1, 6, 7, 9, 12, 13, 14, 15, 16].contains(&order_type) {
        return Err("orderType must be one of the supported values".into());
    }
    let erc = body.get("erc712").ok_or("erc712 is required")?;
    let bytes = erc.get("userIntent").and_then(Value::as_str).and_then(hex_bytes).ok_or("erc712.userIntent must be 0x-hex")?;
    let sig = erc.get("userSignature").and_then(Value::as_str).ok_or("erc712.userSignature must be 0x-hex")?;
    let intent = match order_type {
        0 | 6 => Intent::OpenTradeReq(OpenTradeReq::abi_decode(&bytes).map_err(|e| format!("malformed intent: {e}"))?),
        1 | 7 => Intent::CloseTradeReq(CloseTradeReq::abi_decode(&bytes).map_err(|e| format!("malformed intent: {e}"))?),
        _ => return Err(format!("orderType {order_type} is not supported by the fake")),
    };
    let signer = signer_of(st, &intent, sig).ok_or("malformed signature")?;
    let (trader, deadline, nonce) = match &intent {
        Intent::OpenTradeReq(m) => {
            let pnl = m._type == 3;
            if pnl != (order_type == 6) {
                return Err("PnlOrderNotAllowed: order type and intent type differ".into());
            }
            (m._t.trader, m._deadline, m._nonce)
        }
        Intent::CloseTradeReq(m) => (m._trader, m._deadline, m._nonce),
        _ => return Err("unsupported intent".into()),
    };
    if !st.authorized(trader, signer) {
        return Err(format!("signer {signer} is neither the trader nor an active delegate"));
    }
    if deadline < U256::from(now_ms()) {
        return Err("InvalidDeadline: the intent has expired".into());
    }
    if st.used_nonces.contains(&(signer, nonce)) {
        return Err("InvalidNonce: nonce already used".into());
    }
    check_eip7702(st, body, signer, &intent)?;
    Ok((order_type, intent, signer))
}

/// The EIP-7702 leg (`RelayRequestParamsDto`), optional unless [`FakeAvantis::require_eip7702`].
/// When sent it must be a type-4 relay the chain would run as the same order: the smart account
/// is the intent's signer's own EOA, the calldata an ERC-7821 `execute(bytes32,bytes)` in op-data
/// mode signed by that EOA, running one call to the trading router that is the intent's order
/// (open price aside: the venue fills at its own), every authorisation for the delegation
/// template, this chain, signed by the EOA. Numbers are strings.
fn check_eip7702(st: &State, body: &Value, signer: Address, intent: &Intent) -> Result<(), String> {
    let Some(leg) = body.get("eip7702") else {
        if st.require_eip7702 {
            return Err("eip7702 is required: this deployment executes market orders through EIP-7702".into());
        }
        return Ok(());
    };
    let s = |name: &str| leg.get(name).and_then(Value::as_str).ok_or_else(|| format!("eip7702.{name} must be a string"));
    let digits = |name: &str, v: &str| {
        if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
            Ok(())
        } else {
            Err(format!("eip7702.{name} must be a decimal string"))
        }
    };
    let chain = s("chainId")?;
    digits("chainId", chain)?;
    if chain != st.chain_id.to_string() {
        return Err(format!("eip7702.chainId {chain} is not chain {}", st.chain_id));
    }
    let to = address(s("to")?).ok_or("eip7702.to must be an address")?;
    if to != signer {
        return Err(format!("eip7702.to {to} is not the intent's signer {signer}"));
    }
    let data = hex_bytes(s("data")?).ok_or("eip7702.data must be 0x-hex")?;
    let exec = DecodedExecute::decode(&data).map_err(|e| format!("eip7702.data: {e}"))?;
    if exec.mode != EXECUTION_MODE_OP_DATA {
        return Err("eip7702.data: not the ERC-7821 op-data batch mode".into());
    }
    let sig = Signature::from_raw(&exec.signature).map_err(|_| "eip7702.data: malformed smart-account signature")?;
    if recover_address(execute_digest(signer, st.chain_id, &exec.calls, exec.nonce), &sig).ok() != Some(signer) {
        return Err(format!("eip7702.data: the smart-account call is not signed by {signer}"));
    }
    let [call] = exec.calls.as_slice() else {
        return Err(format!("eip7702.data runs {} calls, not the one order", exec.calls.len()));
    };
    if call.to != st.router {
        return Err(format!("eip7702.data calls {}, not the trading router", call.to));
    }
    let order = TradingCall::decode(&call.data).map_err(|e| format!("eip7702.data: {e}"))?;
    same_order(intent, &order, signer).map_err(|f| format!("eip7702.data is not the intent's order ({f} differs)"))?;
    digits("gas", s("gas")?)?;
    let auths = leg.get("authorizationList").and_then(Value::as_array).ok_or("eip7702.authorizationList must be an array")?;
    if auths.is_empty() {
        return Err("eip7702.authorizationList must not be empty (a type-4 transaction carries one)".into());
    }
    for a in auths {
        let f =
            |name: &str| a.get(name).and_then(Value::as_str).ok_or_else(|| format!("eip7702.authorizationList[].{name} must be a string"));
        let template = address(f("address")?).ok_or("eip7702.authorizationList[].address must be an address")?;
        if template != DEFAULT_DELEGATION_TEMPLATE {
            return Err(format!("eip7702.authorizationList[].address {template} is not the delegation template"));
        }
        if f("chainId")? != st.chain_id.to_string() {
            return Err("eip7702.authorizationList[].chainId is not this chain".into());
        }
        let nonce = f("nonce")?;
        digits("authorizationList[].nonce", nonce)?;
        digits("authorizationList[].v", f("v")?)?;
        let mut rs = [U256::ZERO; 2];
        for (slot, name) in rs.iter_mut().zip(["r", "s"]) {
            let b = hex_bytes(f(name)?)
                .filter(|b| b.len() <= 32)
                .ok_or_else(|| format!("eip7702.authorizationList[].{name} must be 32-byte hex"))?;
            *slot = U256::from_be_slice(&b);
        }
        let parity = match a.get("yParity").and_then(Value::as_u64) {
            Some(p @ (0 | 1)) => p == 1,
            _ => return Err("eip7702.authorizationList[].yParity must be 0 or 1".into()),
        };
        let nonce: u64 = nonce.parse().map_err(|_| "eip7702.authorizationList[].nonce is too large")?;
        let auth_sig = Signature::new(rs[0], rs[1], parity);
        if recover_address(authorization_digest(st.chain_id, template, nonce), &auth_sig).ok() != Some(signer) {
            return Err(format!("eip7702.authorizationList[] is not signed by {signer}"));
        }
    }
    Ok(())
}

/// Whether the leg's trading call is the intent's order; `Err` names the first field that differs.
fn same_order(intent: &Intent, call: &TradingCall, signer: Address) -> Result<(), &'static str> {
    let first = |checks: &[(&'static str, bool)]| checks.iter().find(|(_, same)| !same).map_or(Ok(()), |(f, _)| Err(*f));
    match (intent, &call.action) {
        (Intent::OpenTradeReq(m), TradingAction::Open(c)) => first(&[
            ("trader", call.acting_for(signer) == m._t.trader && c.t.trader == m._t.trader),
            ("pair", c.t.pairIndex == m._t.pairIndex),
            ("side", c.t.buy == m._t.buy),
            ("collateral", c.t.positionSizeUSDC == m._t.positionSizeUSDC),
            ("leverage", c.t.leverage == m._t.leverage),
            ("tp", c.t.tp == m._t.tp),
            ("sl", c.t.sl == m._t.sl),
            ("order type", c._type == m._type),
            ("slippage", c._slippageP == m._slippageP),
        ]),
        (Intent::CloseTradeReq(m), TradingAction::Close(c)) => first(&[
            ("trader", call.acting_for(signer) == m._trader),
            ("pair", c._pairIndex == m._pairIndex),
            ("trade index", c._index == m._index),
            ("amount", c._amount == m._amount),
        ]),
        _ => Err("the function"),
    }
}

/// Runs an accepted order against the book and writes its event log.
fn process(st: &mut State, order_type: u8, intent: &Intent, signer: Address) -> Accepted {
    apply_due_tpsl(st);
    let outcome = st.outcomes.pop_front().unwrap_or(FakeOutcome::Execute);
    let id = st.fresh_id();
    let tracking_id = format!("trk-{id}");
    let order_id = id;
    let at = now_ms();
    let mut events = vec![LoggedEvent { seq: 0, kind: "MarketOrderAccepted".into(), payload: json!({ "trackingId": tracking_id }), at }];
    if outcome == FakeOutcome::EnqueueFailed {
        return Accepted {
            tracking_id,
            events: vec![LoggedEvent {
                seq: u64::MAX,
                kind: "Error".into(),
                payload: json!({ "code": "ENQUEUE_FAILED", "message": "could not enqueue" }),
                at,
            }],
        };
    }
    let nonce = match intent {
        Intent::OpenTradeReq(m) => m._nonce,
        Intent::CloseTradeReq(m) => m._nonce,
        _ => U256::ZERO,
    };
    st.used_nonces.insert((signer, nonce));
    let (trader, pair, open) = match intent {
        Intent::OpenTradeReq(m) => (m._t.trader, u16::try_from(m._t.pairIndex).unwrap_or(u16::MAX), true),
        Intent::CloseTradeReq(m) => (m._trader, u16::try_from(m._pairIndex).unwrap_or(u16::MAX), false),
        _ => (Address::ZERO, 0, true),
    };
    let is_pnl = order_type == 6 || order_type == 7;
    let buy = match intent {
        Intent::OpenTradeReq(m) => m._t.buy,
        Intent::CloseTradeReq(m) => find_position(st, trader, pair, u32::try_from(m._index).unwrap_or(u32::MAX)).is_some_and(|p| p.buy),
        _ => true,
    };
    if outcome == FakeOutcome::ExecuteAfterRetry {
        events.push(LoggedEvent {
            seq: 0,
            kind: "AttemptFailed".into(),
            payload: json!({ "attempt": 1, "code": "NO_PRICE", "message": "no fresh price", "willRetry": true }),
            at,
        });
    }
    events.push(LoggedEvent {
        seq: 1,
        kind: "MarketOrderInitiated".into(),
        payload: json!({ "orderId": order_id, "trader": trader.to_checksum(None), "pairIndex": pair, "open": open, "isBuy": buy,
                         "isPnl": is_pnl, "transactionHash": tx_hash(order_id, 1) }),
        at,
    });
    let terminal = match outcome {
        FakeOutcome::Cancel(reason) => LoggedEvent {
            seq: 2,
            kind: "MarketOrderCanceled".into(),
            payload: json!({ "orderId": order_id, "trader": trader.to_checksum(None), "pairIndex": pair, "transactionHash": tx_hash(order_id, 2), "reason": reason }),
            at,
        },
        FakeOutcome::Error(code) => error_event(&tracking_id, &code, "execution failed", at),
        FakeOutcome::Execute | FakeOutcome::ExecuteAfterRetry | FakeOutcome::EnqueueFailed => match intent {
            Intent::OpenTradeReq(m) => execute_open(st, m, is_pnl, order_id, at),
            Intent::CloseTradeReq(m) => {
                execute_close(st, m, order_id, at).unwrap_or_else(|code| error_event(&tracking_id, &code, "execution reverted", at))
            }
            _ => error_event(&tracking_id, "UNSUPPORTED", "unsupported", at),
        },
    };
    events.push(terminal);
    for (seq, e) in (0u64..).zip(events.iter_mut()) {
        e.seq = seq;
    }
    st.tracking.insert(tracking_id.clone(), events.clone());
    Accepted { tracking_id, events }
}

fn error_event(tracking_id: &str, code: &str, message: &str, at: u64) -> LoggedEvent {
    LoggedEvent {
        seq: 2,
        kind: "Error".into(),
        payload: json!({ "status": "failed", "code": code, "message": message, "trackingId": tracking_id }),
        at,
    }
}

fn trade_t(p: &FakePosition) -> Value {
    json!({
        "trader": p.trader.to_checksum(None), "pairIndex": p.pair, "index": p.index, "initialPosToken": p.collateral.to_string(),
        "positionSizeUSDC": mul_div(p.collateral, u128::from(p.leverage), 10_000_000_000).to_string(), "openPrice": p.open_price.to_string(),
        "buy": p.buy, "leverage": p.leverage.to_string(), "tp": p.tp.to_string(), "sl": p.sl.to_string(), "timestamp": p.opened_at,
    })
}

fn execute_open(st: &mut State, m: &OpenTradeReq, is_pnl: bool, order_id: u64, at: u64) -> LoggedEvent {
    let t = &m._t;
    let pair = u16::try_from(t.pairIndex).unwrap_or(u16::MAX);
    let used: Vec<u32> = st.book.iter().filter(|p| p.trader == t.trader && p.pair == pair).map(|p| p.index).collect();
    let Some(index) = (0..MAX_TRADES_PER_PAIR).find(|i| !used.contains(i)) else {
        return LoggedEvent {
            seq: 2,
            kind: "Error".into(),
            payload: json!({ "code": "MaxTradesPerPair", "message": "too many trades" }),
            at,
        };
    };
    let collateral = u256_u64(t.positionSizeUSDC);
    let leverage = u256_u64(t.leverage);
    let notional = mul_div(collateral, u128::from(leverage), 10_000_000_000);
    let fee = u64::try_from((u128::from(notional) * OPEN_FEE_P).div_ceil(PERCENT_100)).unwrap_or(u64::MAX);
    let pos = FakePosition {
        trader: t.trader,
        pair,
        index,
        buy: t.buy,
        is_pnl,
        collateral: collateral.saturating_sub(fee),
        leverage,
        open_price: u256_u64(t.openPrice),
        tp: corrected_tp(u256_u64(t.openPrice), leverage, t.buy, u256_u64(t.tp), st.pairs.get(&pair).map_or(2500, |p| p.max_gain_p)),
        sl: u256_u64(t.sl),
        opened_at: at / 1000,
    };
    let payload = json!({
        "orderId": order_id, "open": true, "price": pos.open_price.to_string(),
        "positionSizeUSDC": mul_div(pos.collateral, u128::from(leverage), 10_000_000_000).to_string(),
        "percentProfit": "0", "usdcSentToTrader": "0", "isPnl": is_pnl, "coinExposure": coin_size(&pos).to_string(),
        "isCoinExposureFixed": false, "t": trade_t(&pos), "transactionHash": tx_hash(order_id, 2),
    });
    if let Some(b) = st.balances.get_mut(&t.trader) {
        *b = b.saturating_sub(collateral);
    }
    history::record_open(st, &pos, fee, &tx_hash(order_id, 2), at);
    st.book.push(pos);
    LoggedEvent { seq: 2, kind: "MarketOrderExecuted".into(), payload, at }
}

fn execute_close(st: &mut State, m: &CloseTradeReq, order_id: u64, at: u64) -> Result<LoggedEvent, String> {
    let pair = u16::try_from(m._pairIndex).unwrap_or(u16::MAX);
    let index = u32::try_from(m._index).unwrap_or(u32::MAX);
    let pos_i = st.book.iter().position(|p| p.trader == m._trader && p.pair == pair && p.index == index).ok_or("PositionMismatch")?;
    let pos = st.book.get(pos_i).cloned().ok_or("PositionMismatch")?;
    if m._openTimestamp != U256::ZERO && m._openTimestamp != U256::from(pos.opened_at) {
        return Err("PositionMismatch".into());
    }
    let amount = u256_u64(m._amount).min(pos.collateral);
    let price = if m._wantedPrice == U256::ZERO { pos.open_price } else { u256_u64(m._wantedPrice) };
    let remaining = pos.collateral - amount;
    *st.balances.entry(m._trader).or_insert(0) += amount;
    history::record_market_close(st, &pos, amount, price, &tx_hash(order_id, 2), at);
    let mut after = pos.clone();
    after.collateral = remaining;
    if remaining == 0 {
        st.book.remove(pos_i);
    } else if let Some(p) = st.book.get_mut(pos_i) {
        p.collateral = remaining;
    }
    Ok(LoggedEvent {
        seq: 2,
        kind: "MarketOrderExecuted".into(),
        payload: json!({
            "orderId": order_id, "open": false, "price": price.to_string(),
            "positionSizeUSDC": mul_div(amount, u128::from(pos.leverage), 10_000_000_000).to_string(),
            "percentProfit": "0", "usdcSentToTrader": amount.to_string(), "isPnl": pos.is_pnl, "coinExposure": "0",
            "isCoinExposureFixed": false, "t": trade_t(&after), "transactionHash": tx_hash(order_id, 2),
        }),
        at,
    })
}

fn frame(e: &LoggedEvent) -> String {
    if e.seq == u64::MAX {
        format!("event: {}\ndata: {}\n\n", e.kind, e.payload)
    } else {
        format!("id: {}\nevent: {}\ndata: {}\n\n", e.seq, e.kind, e.payload)
    }
}

async fn execute_batched(state: &Mutex<State>, body: &Value) -> Response<Body> {
    let validated = {
        let st = lock(state);
        validate_submission(&st, body)
    };
    let (order_type, intent, signer) = match validated {
        Ok(v) => v,
        Err(m) => return nest(400, &m),
    };
    let stall = lock(state).stalls.pop_front();
    if let Some(Stall::LoseThenStall(d)) = stall {
        tokio::time::sleep(d).await;
        return render(err(Svc::Batched, 504, "GATEWAY_TIMEOUT", "upstream timed out"));
    }
    let (accepted, cut, delay) = {
        let mut st = lock(state);
        let accepted = process(&mut st, order_type, &intent, signer);
        // An un-id'd (never queued) answer has no stream to cut.
        let cut = if accepted.events.iter().any(|e| e.seq == u64::MAX) { None } else { st.cuts.pop_front() };
        (accepted, cut, st.event_delay)
    };
    if lock(state).events.take_drop_reply() {
        // Executed, and the reply lost: not a status line nor an event for a minute (the client
        // gives up first), then a gateway timeout.
        tokio::time::sleep(history::LOST_REPLY_SILENCE).await;
        return render(err(Svc::Batched, 504, "GATEWAY_TIMEOUT", "upstream timed out"));
    }
    tracing::debug!(tracking_id = %accepted.tracking_id, "fake Avantis accepted a market order");
    if let Some(Stall::FillThenStall(d)) = stall {
        tokio::time::sleep(d).await;
    }
    let (tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(16);
    tokio::spawn(async move {
        let _ = tx.send(Ok(Bytes::from_static(b"retry: 3000\n\n: open\n\n"))).await;
        for (i, e) in accepted.events.iter().enumerate() {
            if i > 0 {
                tokio::time::sleep(delay).await;
                let _ = tx.send(Ok(Bytes::from_static(b": hb\n\n"))).await;
            }
            if tx.send(Ok(Bytes::from(frame(e)))).await.is_err() {
                return;
            }
            if i == 0
                && let Some(cut) = cut
            {
                tokio::time::sleep(delay).await;
                let last = match cut {
                    StreamCut::Drop => Err(std::io::Error::new(std::io::ErrorKind::ConnectionReset, "stream dropped by the fake")),
                    StreamCut::StreamTimeout => Ok(Bytes::from(format!(
                        "event: Error\ndata: {}\n\n",
                        json!({ "code": "STREAM_TIMEOUT", "message": "Stream view expired", "trackingId": accepted.tracking_id })
                    ))),
                    StreamCut::EndWithoutTerminal => return,
                };
                let _ = tx.send(last).await;
                return;
            }
        }
    });
    let mut resp = Response::new(BodyExt::boxed(ChannelBody(rx)));
    resp.headers_mut().insert(http::header::CONTENT_TYPE, http::HeaderValue::from_static("text/event-stream; charset=utf-8"));
    resp.headers_mut().insert(http::header::CACHE_CONTROL, http::HeaderValue::from_static("no-cache"));
    resp
}

// ---------------------------------------------------------------------------------------------
// Core price triggers
// ---------------------------------------------------------------------------------------------

fn tpsl_from_body(body: &Value) -> Option<TpSlReq> {
    let num = |n: &str| text(body, n).and_then(|t| uint(&t));
    Some(TpSlReq {
        trader: address(&text(body, "trader")?)?,
        pairIndex: num("pairIndex")?,
        index: num("index")?,
        triggerType: u8::try_from(num("triggerType")?).ok()?,
        coinSize: num("coinSize")?,
        buy: body.get("buy")?.as_bool()?,
        price: num("price")?,
        percentage: I256::from_dec_str(&text(body, "percentage")?).ok()?,
        timestamp: num("timestamp")?,
        signTimestamp: num("signTimestamp")?,
        orderType: u8::try_from(num("orderType")?).ok()?,
        nonce: num("nonce").unwrap_or(U256::ZERO),
    })
}

fn verified_tpsl(st: &State, svc: Svc, body: &Value) -> Result<(TpSlReq, Address), Reply> {
    let req = tpsl_from_body(body).ok_or_else(|| err(svc, 400, "VALIDATION_ERROR", "malformed TpSlReq fields"))?;
    let sig = text(body, "signedMessage").ok_or_else(|| err(svc, 400, "VALIDATION_ERROR", "signedMessage is required"))?;
    let signer =
        signer_of(st, &Intent::TpSlReq(req.clone()), &sig).ok_or_else(|| err(svc, 400, "VALIDATION_ERROR", "malformed signature"))?;
    if !st.authorized(req.trader, signer) {
        return Err(err(svc, 403, "FORBIDDEN", "signature is neither the trader's nor an active delegate's"));
    }
    if req.signTimestamp > U256::from(now_ms() + 5_000) {
        return Err(err(svc, 400, "VALIDATION_ERROR", "signTimestamp is in the future"));
    }
    let pair = u16::try_from(req.pairIndex).unwrap_or(u16::MAX);
    let index = u32::try_from(req.index).unwrap_or(u32::MAX);
    match find_position(st, req.trader, pair, index) {
        Some(p) if U256::from(p.opened_at) == req.timestamp => Ok((req, signer)),
        Some(_) => Err(err(svc, 400, "BAD_REQUEST", "PositionMismatch: timestamp differs from the position's")),
        None => Err(err(svc, 404, "NOT_FOUND", "no such position")),
    }
}

fn entity_id(st: &mut State) -> String {
    let n = st.fresh_id();
    format!("665f1c2ab7a1b2c3{n:08x}")
}

fn trigger_create(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let (req, _) = match verified_tpsl(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    let id = entity_id(st);
    let reply = json!({ "entityId": id, "trader": req.trader.to_checksum(None), "pairIndex": u256_u64(req.pairIndex),
                        "index": u256_u64(req.index), "isGlobal": false, "orderType": req.orderType });
    st.triggers.push(StoredTrigger { entity_id: id, req });
    ok(svc, reply)
}

fn trigger_replace(st: &mut State, svc: Svc, id: &str, body: &Value) -> Reply {
    let Some(pos) = st.triggers.iter().position(|t| t.entity_id == id) else {
        return err(svc, 404, "NOT_FOUND", "no such price trigger");
    };
    let (req, _) = match verified_tpsl(st, svc, body) {
        Ok(v) => v,
        Err(r) => return r,
    };
    st.triggers.remove(pos);
    let new_id = entity_id(st);
    st.triggers.push(StoredTrigger { entity_id: new_id.clone(), req });
    ok(svc, json!({ "success": true, "result": { "oldEntityId": id, "newEntityId": new_id } }))
}

fn trigger_delete(st: &mut State, svc: Svc, body: &Value) -> Reply {
    let id = field!(svc, text(body, "entityId"), "entityId is required");
    let sig = field!(svc, text(body, "signedMessage"), "signedMessage is required");
    let Some(pos) = st.triggers.iter().position(|t| t.entity_id == id) else {
        return err(svc, 404, "NOT_FOUND", "no such price trigger");
    };
    let Some(signer) = signer_of(st, &Intent::CancelOffchainOrder(CancelOffchainOrder { entityId: id.clone() }), &sig) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed signature");
    };
    let owner = st.triggers.get(pos).map_or(Address::ZERO, |t| t.req.trader);
    if !st.authorized(owner, signer) {
        return err(svc, 403, "FORBIDDEN", "signature is neither the trader's nor an active delegate's");
    }
    st.triggers.remove(pos);
    ok(svc, json!({}))
}

fn global_tpsl(st: &mut State, svc: Svc, id: &str, body: &Value) -> Reply {
    // global-{tp|sl}-{trader}-{pair}-{index}
    let parts: Vec<&str> = id.split('-').collect();
    let (Some(leg), Some(trader), Some(pair), Some(index)) = (parts.get(1), parts.get(2), parts.get(3), parts.get(4)) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed global trigger id");
    };
    let (Some(trader), Ok(pair), Ok(index)) = (address(trader), pair.parse::<u16>(), index.parse::<u32>()) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed global trigger id");
    };
    if !matches!(*leg, "tp" | "sl") || parts.len() != 5 {
        return err(svc, 400, "VALIDATION_ERROR", "malformed global trigger id");
    }
    let Some(bytes) = text(body, "userIntent").and_then(|t| hex_bytes(&t)) else {
        return err(svc, 400, "VALIDATION_ERROR", "userIntent must be 0x-hex");
    };
    let Ok(m) = UpdateTpSlReq::abi_decode(&bytes) else {
        return err(svc, 400, "VALIDATION_ERROR", "userIntent is not an UpdateTpSlReq");
    };
    let sig = field!(svc, text(body, "signedMessage"), "signedMessage is required");
    let Some(signer) = signer_of(st, &Intent::UpdateTpSlReq(m.clone()), &sig) else {
        return err(svc, 400, "VALIDATION_ERROR", "malformed signature");
    };
    if m.trader != trader || m._pairIndex != U256::from(pair) || m._index != U256::from(index) {
        return err(svc, 400, "BAD_REQUEST", "the id does not match the signed intent");
    }
    if !st.authorized(trader, signer) {
        return err(svc, 403, "FORBIDDEN", "signature is neither the trader's nor an active delegate's");
    }
    if m._deadline < U256::from(now_ms()) {
        return err(svc, 400, "BAD_REQUEST", "InvalidDeadline");
    }
    if !st.used_nonces.insert((signer, m._nonce)) {
        return err(svc, 400, "BAD_REQUEST", "InvalidNonce");
    }
    let max_gain = st.pairs.get(&pair).map_or(2500, |p| p.max_gain_p);
    let Some(p) = st.book.iter().find(|p| p.trader == trader && p.pair == pair && p.index == index) else {
        return err(svc, 404, "NOT_FOUND", "no such position");
    };
    // Accepted, not executed: the operator lands it after `tpsl_delay` (a TP of 0 resets to the
    // max-gain cap), and only then does `/user-data` show it.
    let update = PendingTpSl {
        due_ms: now_ms().saturating_add(u64::try_from(st.tpsl_delay.as_millis()).unwrap_or(u64::MAX)),
        trader,
        pair,
        index,
        tp: corrected_tp(p.open_price, p.leverage, p.buy, u256_u64(m._newTp), max_gain),
        sl: u256_u64(m._newSl),
    };
    st.pending_tpsl.push(update);
    ok(svc, json!({ "success": true, "accepted": true }))
}
