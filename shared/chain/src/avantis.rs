//! The Avantis v2 HTTP client and the [`Venue`](vanta_domain::ports::Venue) adapter on top of it.
//!
//! Services (each its own base URL, see [`AvantisConfig`]):
//! - tx-builder (`{ok,data}` envelope): `/v2/meta`, `/v2/pairs`, `/v2/positions`, `/v2/delegation`,
//!   `/v2/nonce`, `/v2/allowance`, intent builders `POST /v2/intents/*`;
//! - data service: `/v2/trading` (the pair catalog, human units);
//! - batched-market: `POST /market/execute-batched` (an SSE order-event stream) and
//!   `GET /tracking-id/{id}/status?afterSeq=` (replay);
//! - core API: `/user-data`, `POST/PUT/DELETE /price-triggers`.
//!
//! Safety rules kept here:
//! - every call has a timeout (connect, whole request, SSE idle gap, SSE lifetime), and the
//!   venue as a whole a total budget ([`crate::budget::BudgetedVenue`]);
//! - reads and stateless intent builders are retried on transport errors and 502/503/504;
//!   state-changing submissions only when the request provably never left (connect failure);
//! - a submission that timed out, lost its stream before an answer or got a 5xx is
//!   `DomainError::Ambiguous` (only a 4xx proves it was not accepted);
//! - an intent is signed only after its EIP-712 digest was recomputed locally under the domain
//!   from `/v2/meta` (whose chain id must equal the configured one) and matched the API's;
//! - amounts are integers; human-unit decimals from the API are converted from their JSON text.

pub mod calldata;
mod catalog;
pub mod decimal;
pub mod eip7702;
#[doc(hidden)]
pub mod fuzzing;
mod intents;
pub mod local;
mod market;
mod reads;
pub mod spread;
pub mod trading_call;
mod venue;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use alloy::primitives::Address;
use reqwest::Method;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::RwLock;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::time::{Clock, SystemClock};

pub use catalog::{AvantisMeta, catalog_from_trading_snapshot, trading_snapshot};
pub use intents::{CloseRequest, IntentPayload, OpenRequest, PartialTpSlRequest, SignedIntent, signature_hex, verify_payload};
pub use market::{MarketEvent, MarketOutcome, MarketSubmission, SubmitError, TrackingStatus};
pub use reads::{CorePosition, DelegationStatus, NonceStatus, OnchainTrade, PriceTrigger, TraderPosition, UsdcAccount, UserData};
pub use venue::{AvantisVenue, PositionsSource};

use crate::eip712::AvantisDomain;

// ---------------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------------

/// Base URLs, the expected chain and every timeout. Unknowns of the wire format (§9 of the
/// reference) are switches here rather than assumptions in code.
#[derive(Debug, Clone)]
pub struct AvantisConfig {
    /// tx-builder, e.g. `https://tx-builder.veranta.xyz`.
    pub tx_builder_url: String,
    /// batched-market, e.g. `https://prod-api.veranta.xyz/batched-market`.
    pub batched_market_url: String,
    /// core API, e.g. `https://prod-api.veranta.xyz/core`.
    pub core_url: String,
    /// data service, e.g. `https://prod-api.veranta.xyz/data`.
    pub data_url: String,
    /// The chain we sign for; `/v2/meta` must report the same or nothing is signed.
    pub chain_id: u64,
    pub connect_timeout: Duration,
    /// Whole-request timeout of plain calls, and the wait for the SSE response headers.
    pub request_timeout: Duration,
    /// Longest silence tolerated on the SSE stream (the server sends a heartbeat every ~15 s).
    pub sse_idle_timeout: Duration,
    /// Longest an SSE stream is read before switching to status polling.
    pub sse_max_duration: Duration,
    /// Status polling cadence and give-up time after a stream problem.
    pub status_poll_interval: Duration,
    pub status_poll_timeout: Duration,
    // The defaults of the stream and polling waits leave an order's usual path (reads, build,
    // sign, submit, stream, poll, reconcile) inside the venue budget (`VENUE_WAIT_BUDGET_SECS`,
    // enforced around every call by `crate::budget::BudgetedVenue`), so an order that is still
    // running is recorded as pending, with its tracking id, before the budget is spent.
    /// Extra attempts for safe calls (reads, intent builders, connect failures).
    pub retries: u32,
    /// First retry back-off; doubled per attempt.
    pub retry_backoff: Duration,
    /// Cross-check the data-service catalog against tx-builder `/v2/pairs` (index ↔ symbol).
    pub check_pairs_with_tx_builder: bool,
    /// During reconciliation, ask `/v2/nonce?check=` whether the intent's nonce was consumed
    /// (the response shape is not documented; `data.used` is read).
    pub nonce_check: bool,
    /// The deadline of locally built intents: now + this (the SDK's 120 s when `None`). A short
    /// deadline bounds how long an ambiguous order can still execute.
    pub intent_deadline: Option<Duration>,
    /// Derive each order's intent nonce from the signer and the caller's reference
    /// ([`local::derived_nonce`]; the intent is built locally, no request carries the nonce): a
    /// reference can then execute at most once, whatever is resubmitted, and [`AvantisVenue`]'s
    /// `lookup` can ask the chain whether it did.
    pub deterministic_nonces: bool,
    /// Positions source for [`AvantisVenue::positions`] and reconciliation.
    pub positions_source: PositionsSource,
    /// How long a TP/SL change the core API accepted is waited for on `/user-data` (polled every
    /// `status_poll_interval`) before it is reported as accepted but not yet visible.
    pub tpsl_visible_timeout: Duration,
    pub user_agent: String,
}

impl AvantisConfig {
    /// Production-like defaults for the given base URLs.
    pub fn new(
        tx_builder_url: impl Into<String>,
        batched_market_url: impl Into<String>,
        core_url: impl Into<String>,
        data_url: impl Into<String>,
        chain_id: u64,
    ) -> Self {
        Self {
            tx_builder_url: tx_builder_url.into(),
            batched_market_url: batched_market_url.into(),
            core_url: core_url.into(),
            data_url: data_url.into(),
            chain_id,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(15),
            sse_idle_timeout: Duration::from_secs(45),
            sse_max_duration: Duration::from_secs(8),
            status_poll_interval: Duration::from_secs(1),
            status_poll_timeout: Duration::from_secs(3),
            retries: 2,
            retry_backoff: Duration::from_millis(250),
            check_pairs_with_tx_builder: true,
            nonce_check: true,
            deterministic_nonces: true,
            intent_deadline: None,
            positions_source: PositionsSource::Core,
            tpsl_visible_timeout: Duration::from_secs(5),
            user_agent: concat!("vanta/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }

    /// Routed services behind one gateway (`{gateway}/core`, `/batched-market`, `/data`) plus the
    /// tx-builder host.
    pub fn gateway(gateway: &str, tx_builder_url: impl Into<String>, chain_id: u64) -> Self {
        let g = gateway.trim_end_matches('/');
        Self::new(tx_builder_url, format!("{g}/batched-market"), format!("{g}/core"), format!("{g}/data"), chain_id)
    }

    /// Base mainnet (chain 8453): the hosts of the Veranta SDK's mainnet profile.
    pub fn base_mainnet() -> Self {
        Self::gateway("https://prod-api.veranta.xyz", "https://tx-builder.veranta.xyz", crate::eip712::BASE_MAINNET_CHAIN_ID)
    }
}

// ---------------------------------------------------------------------------------------------
// Errors
// ---------------------------------------------------------------------------------------------

/// An error answer of an Avantis service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub status: u16,
    /// The envelope's `error.code` (`BAD_REQUEST`, `RATE_LIMITED`, …) or `UNKNOWN`.
    pub code: String,
    pub message: String,
    /// `error.details`, compact JSON text.
    pub details: Option<String>,
    /// Method and path (never a query string or body).
    pub endpoint: String,
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Avantis {} answered {} {}: {}", self.endpoint, self.status, self.code, self.message)?;
        if let Some(d) = &self.details {
            write!(f, " ({d})")?;
        }
        Ok(())
    }
}

impl ApiError {
    /// The domain error for this answer. Mapping is by `code` first (as the SDK does), then by
    /// HTTP status.
    pub fn to_domain(&self) -> DomainError {
        let text = self.to_string();
        match self.code.as_str() {
            "VALIDATION_ERROR" => DomainError::Invalid(text),
            "BAD_REQUEST" | "TX_REJECTED" | "SIMULATION_FAILED" => DomainError::Refused(text),
            "RATE_LIMITED" | "UPSTREAM_ERROR" | "RPC_ERROR" => DomainError::Unavailable(text),
            "GEO_RESTRICTED" => DomainError::Forbidden(text),
            "NOT_FOUND" => DomainError::NotFound(text),
            "INTERNAL_ERROR" => DomainError::Internal(text),
            _ => match self.status {
                404 => DomainError::NotFound(text),
                401 | 403 | 451 => DomainError::Forbidden(text),
                408 | 425 | 429 => DomainError::Unavailable(text),
                400..=499 => DomainError::Invalid(text),
                502..=504 => DomainError::Unavailable(text),
                _ => DomainError::Internal(text),
            },
        }
    }
}

/// A transport failure of one call: the text its domain error carries, and reqwest's error (down
/// to the connector's I/O error) as the source.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{message}")]
pub(crate) struct Transport {
    pub(crate) message: String,
    #[source]
    source: Option<Arc<reqwest::Error>>,
}

impl Transport {
    fn new(message: String) -> Self {
        Self { message, source: None }
    }

    fn caused_by(message: String, e: reqwest::Error) -> Self {
        Self { message, source: Some(Arc::new(e)) }
    }

    /// The domain error's text. The whole chain (URLs redacted) is logged here, where the
    /// failure becomes a [`DomainError`], once.
    fn into_message(self) -> String {
        if self.source.is_some() {
            tracing::warn!(error = %crate::redact::redact_urls(&crate::redact::error_chain(&self)), "Avantis call failed");
        }
        self.message
    }
}

/// How a call failed, by what it tells about the request's effect.
#[derive(Debug, Clone)]
pub(crate) enum CallError {
    /// The request provably never reached the server (connect failure).
    NotSent(Transport),
    /// Sent, but no complete answer (timeout, reset, body cut).
    NoAnswer(Transport),
    /// The service answered with an error.
    Api(ApiError),
    /// The answer could not be read.
    Decode(String),
}

impl CallError {
    /// The domain error for a call that changes nothing (a read or an intent builder).
    pub(crate) fn for_read(self) -> DomainError {
        match self {
            CallError::NotSent(t) | CallError::NoAnswer(t) => DomainError::Unavailable(t.into_message()),
            CallError::Api(e) => e.to_domain(),
            CallError::Decode(m) => DomainError::Internal(m),
        }
    }
    /// The domain error for a state-changing call: no answer, or a server-side failure (a 5xx may
    /// come from a gateway after the backend got the request), means the outcome is unknown.
    pub(crate) fn for_submission(self) -> DomainError {
        match self {
            CallError::NoAnswer(t) => DomainError::Ambiguous(t.into_message()),
            CallError::Api(e) if e.status >= 500 => DomainError::Ambiguous(e.to_string()),
            other => other.for_read(),
        }
    }
}

/// Whether a call may be repeated after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Safety {
    /// Changes nothing: retried on transport errors and 502/503/504.
    Idempotent,
    /// Changes state: retried only when the request provably never left.
    Submission,
}

/// Which base URL a call goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Service {
    TxBuilder,
    BatchedMarket,
    Core,
    Data,
}

// ---------------------------------------------------------------------------------------------
// The client
// ---------------------------------------------------------------------------------------------

/// The Avantis v2 HTTP client. Cheap to clone (shared connection pool and caches).
///
/// Wall-clock time (intent deadlines) comes from its [`Clock`] (the system clock unless
/// [`Self::with_clock`]); waits (retry back-off, status polling) are tokio timers.
#[derive(Clone)]
pub struct AvantisClient {
    pub(crate) cfg: Arc<AvantisConfig>,
    pub(crate) http: reqwest::Client,
    pub(crate) clock: Arc<dyn Clock>,
    meta: Arc<RwLock<Option<Arc<AvantisMeta>>>>,
    pairs: Arc<RwLock<Option<CachedPairs>>>,
}

/// The catalog and the Pyth feed ids of one `/v2/trading` snapshot.
type CachedPairs = (Arc<PairCatalog>, Arc<HashMap<PairSymbol, String>>);

impl std::fmt::Debug for AvantisClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AvantisClient")
            .field("tx_builder", &self.cfg.tx_builder_url)
            .field("chain_id", &self.cfg.chain_id)
            .finish_non_exhaustive()
    }
}

impl AvantisClient {
    pub fn new(cfg: AvantisConfig) -> DomainResult<Self> {
        for (name, u) in [
            ("tx-builder", &cfg.tx_builder_url),
            ("batched-market", &cfg.batched_market_url),
            ("core", &cfg.core_url),
            ("data", &cfg.data_url),
        ] {
            let parsed = url::Url::parse(u).map_err(|e| DomainError::Invalid(format!("Avantis {name} URL {u:?}: {e}")))?;
            if !matches!(parsed.scheme(), "http" | "https") {
                return Err(DomainError::Invalid(format!("Avantis {name} URL {u:?} is not http(s)")));
            }
        }
        let http = reqwest::Client::builder()
            .connect_timeout(cfg.connect_timeout)
            .timeout(cfg.request_timeout)
            .user_agent(cfg.user_agent.clone())
            .build()
            .map_err(|e| DomainError::Internal(format!("cannot build the Avantis HTTP client: {e}")))?;
        Ok(Self {
            cfg: Arc::new(cfg),
            http,
            clock: Arc::new(SystemClock),
            meta: Arc::new(RwLock::new(None)),
            pairs: Arc::new(RwLock::new(None)),
        })
    }

    /// The clock intent deadlines are computed from (tests pass a manual one).
    pub fn with_clock(mut self, clock: Arc<dyn Clock>) -> Self {
        self.clock = clock;
        self
    }

    /// Now, by the client's clock, as unix milliseconds.
    pub(crate) fn now_ms(&self) -> u64 {
        u64::try_from(self.clock.now().millis()).unwrap_or(0)
    }

    pub fn config(&self) -> &AvantisConfig {
        &self.cfg
    }

    pub(crate) fn url(&self, service: Service, path: &str) -> String {
        let base = match service {
            Service::TxBuilder => &self.cfg.tx_builder_url,
            Service::BatchedMarket => &self.cfg.batched_market_url,
            Service::Core => &self.cfg.core_url,
            Service::Data => &self.cfg.data_url,
        };
        format!("{}{}", base.trim_end_matches('/'), path)
    }

    /// One call with the retry policy of `safety`. Returns the payload text: the envelope's
    /// `data` for the tx-builder, the body otherwise (empty body → `null`).
    pub(crate) async fn call(
        &self,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        safety: Safety,
    ) -> Result<String, CallError> {
        let url = self.url(service, path);
        let endpoint = format!("{method} {path}");
        let mut attempt: u32 = 0;
        loop {
            let mut req = self.http.request(method.clone(), &url);
            if !query.is_empty() {
                req = req.query(query);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let result = match tokio::time::timeout(self.cfg.request_timeout, async {
                let resp = req.send().await?;
                let status = resp.status().as_u16();
                let bytes = resp.bytes().await?;
                Ok::<_, reqwest::Error>((status, bytes))
            })
            .await
            {
                Ok(Ok((status, bytes))) => read_answer(service, status, &bytes, &endpoint),
                Ok(Err(e)) => Err(transport_error(e, &endpoint)),
                Err(_) => {
                    Err(CallError::NoAnswer(Transport::new(format!("Avantis {endpoint} timed out after {:?}", self.cfg.request_timeout))))
                }
            };
            let retry = match (&result, safety) {
                (Err(CallError::NotSent(_)), _) => true,
                (Err(CallError::NoAnswer(_)), Safety::Idempotent) => true,
                (Err(CallError::Api(e)), Safety::Idempotent) => matches!(e.status, 502..=504),
                _ => false,
            };
            if retry && attempt < self.cfg.retries {
                let wait = self.cfg.retry_backoff.saturating_mul(2u32.saturating_pow(attempt));
                tracing::debug!(endpoint = %endpoint, attempt, "retrying Avantis call");
                tokio::time::sleep(wait).await;
                attempt += 1;
                continue;
            }
            return result;
        }
    }

    /// [`Self::call`] and JSON decoding of the payload.
    pub(crate) async fn call_json<T: serde::de::DeserializeOwned>(
        &self,
        service: Service,
        method: Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<&Value>,
        safety: Safety,
    ) -> Result<T, CallError> {
        let text = self.call(service, method.clone(), path, query, body, safety).await?;
        serde_json::from_str(&text).map_err(|e| CallError::Decode(format!("Avantis {method} {path}: unexpected answer: {e}")))
    }

    // -----------------------------------------------------------------------------------------
    // Bootstrap
    // -----------------------------------------------------------------------------------------

    /// `/v2/meta`, fetched once and cached. Refused if its chain id is not the configured one.
    pub async fn meta(&self) -> DomainResult<Arc<AvantisMeta>> {
        if let Some(m) = self.meta.read().await.as_ref() {
            return Ok(Arc::clone(m));
        }
        let text =
            self.call(Service::TxBuilder, Method::GET, "/v2/meta", &[], None, Safety::Idempotent).await.map_err(CallError::for_read)?;
        let meta = Arc::new(AvantisMeta::parse(&text, self.cfg.chain_id)?);
        *self.meta.write().await = Some(Arc::clone(&meta));
        Ok(meta)
    }

    /// The trading EIP-712 domain from `/v2/meta`.
    pub async fn trading_domain(&self) -> DomainResult<AvantisDomain> {
        Ok(self.meta().await?.trading_domain.clone())
    }

    /// The pair catalog (data service `/v2/trading`, checked against tx-builder `/v2/pairs` when
    /// configured), fetched once and cached; see [`Self::refresh_pairs`].
    pub async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        if let Some((c, _)) = self.pairs.read().await.as_ref() {
            return Ok(Arc::clone(c));
        }
        self.refresh_pairs().await
    }

    /// Each pair's Pyth price-feed id (`0x` + 64 hex) from the same `/v2/trading` snapshot as
    /// [`Self::pairs`] (fetched once and cached with it).
    pub async fn price_feeds(&self) -> DomainResult<HashMap<PairSymbol, String>> {
        if let Some((_, f)) = self.pairs.read().await.as_ref() {
            return Ok(f.as_ref().clone());
        }
        self.refresh_pairs().await?;
        Ok(self.pairs.read().await.as_ref().map(|(_, f)| f.as_ref().clone()).unwrap_or_default())
    }

    /// Fetches the catalog again and replaces the cached one.
    pub async fn refresh_pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        let text =
            self.call(Service::Data, Method::GET, "/v2/trading", &[], None, Safety::Idempotent).await.map_err(CallError::for_read)?;
        let (catalog, feeds) = trading_snapshot(&text)?;
        if self.cfg.check_pairs_with_tx_builder {
            match self.call(Service::TxBuilder, Method::GET, "/v2/pairs", &[], None, Safety::Idempotent).await {
                Ok(listing) => catalog::check_against_tx_builder(&catalog, &listing)?,
                // The v2 listing is not documented; a deployment without it is not a disagreement.
                Err(CallError::Api(e)) if e.status == 404 => {
                    tracing::warn!("tx-builder /v2/pairs is absent; pair symbols not cross-checked")
                }
                Err(e) => return Err(e.for_read()),
            }
        }
        let catalog = Arc::new(catalog);
        *self.pairs.write().await = Some((Arc::clone(&catalog), Arc::new(feeds)));
        Ok(catalog)
    }
}

/// Classifies a reqwest failure by whether the request can have reached the server.
fn transport_error(e: reqwest::Error, endpoint: &str) -> CallError {
    if e.is_connect() {
        CallError::NotSent(Transport::caused_by(format!("Avantis {endpoint}: cannot connect: {e}"), e))
    } else if e.is_builder() {
        CallError::Decode(format!("Avantis {endpoint}: bad request: {e}"))
    } else if e.is_timeout() {
        CallError::NoAnswer(Transport::caused_by(format!("Avantis {endpoint} timed out"), e))
    } else {
        CallError::NoAnswer(Transport::caused_by(format!("Avantis {endpoint}: connection failed after sending: {e}"), e))
    }
}

#[derive(serde::Deserialize)]
struct Envelope {
    ok: Option<bool>,
    data: Option<Box<RawValue>>,
    error: Option<EnvelopeError>,
}

#[derive(serde::Deserialize)]
struct EnvelopeError {
    code: Option<String>,
    message: Option<String>,
    details: Option<Box<RawValue>>,
}

/// Turns a response into the payload text or an [`ApiError`].
pub(crate) fn read_answer(service: Service, status: u16, body: &[u8], endpoint: &str) -> Result<String, CallError> {
    let text = String::from_utf8_lossy(body);
    let trimmed = text.trim();
    let is_error = status >= 400;
    if service == Service::TxBuilder {
        if let Ok(env) = serde_json::from_str::<Envelope>(trimmed) {
            match env.ok {
                Some(true) => return Ok(env.data.map_or_else(|| "null".to_owned(), |d| d.get().to_owned())),
                Some(false) => {
                    let err = env.error;
                    return Err(CallError::Api(ApiError {
                        status,
                        code: err.as_ref().and_then(|e| e.code.clone()).unwrap_or_else(|| "UNKNOWN".to_owned()),
                        message: err.as_ref().and_then(|e| e.message.clone()).unwrap_or_default(),
                        details: err.and_then(|e| e.details).map(|d| d.get().to_owned()).filter(|d| d != "null"),
                        endpoint: endpoint.to_owned(),
                    }));
                }
                None => {}
            }
        } else if !is_error {
            return Err(CallError::Decode(format!("Avantis {endpoint}: non-JSON response ({status})")));
        }
    }
    if !is_error {
        return Ok(if trimmed.is_empty() { "null".to_owned() } else { trimmed.to_owned() });
    }
    Err(CallError::Api(error_from_body(status, trimmed, endpoint)))
}

/// An error body of any service: the tx-builder envelope, a NestJS error
/// (`{statusCode, message: string | [string], error}`) or free text.
pub(crate) fn error_from_body(status: u16, body: &str, endpoint: &str) -> ApiError {
    let mut code = "UNKNOWN".to_owned();
    let mut message: String = body.chars().take(300).collect();
    let mut details = None;
    if let Ok(Value::Object(obj)) = serde_json::from_str::<Value>(body) {
        if let Some(Value::Object(err)) = obj.get("error") {
            if let Some(c) = err.get("code").and_then(Value::as_str) {
                code = c.to_owned();
            }
            if let Some(m) = err.get("message").and_then(Value::as_str) {
                message = m.to_owned();
            }
            details = err.get("details").filter(|d| !d.is_null()).map(Value::to_string);
        } else if let Some(m) = obj.get("message") {
            message = match m {
                Value::String(s) => s.clone(),
                Value::Array(items) => {
                    items.iter().map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_owned)).collect::<Vec<_>>().join("; ")
                }
                other => other.to_string(),
            };
            if let Some(c) = obj.get("code").and_then(Value::as_str) {
                code = c.to_owned();
            }
        }
    }
    ApiError { status, code, message, details, endpoint: endpoint.to_owned() }
}

/// Parses an address from API text (checksummed or lower case).
pub(crate) fn parse_address(s: &str) -> Option<Address> {
    s.trim().parse::<Address>().ok()
}
