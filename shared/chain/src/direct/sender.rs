//! [`DirectSender`]: lease a nonce, build and sign an EIP-1559 transaction, record it, broadcast
//! it, track its receipt, and replace it with higher fees (same nonce) while it is not mined.

use std::sync::Arc;
use std::time::Duration;

use alloy::consensus::{TxEip1559, TxEnvelope, TypedTransaction};
use alloy::eips::BlockNumberOrTag;
use alloy::eips::eip2718::Encodable2718;
use alloy::network::{Ethereum, EthereumWallet, NetworkWallet, TransactionBuilder, TxSigner};
use alloy::primitives::{Address, B256, Bytes, Signature, TxKind, U256};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::transports::{RpcError, TransportErrorKind};
use tokio::time::Instant;
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::time::Clock;

use vanta_domain::direct::{Lease, NonceLease};
use vanta_domain::direct::{TxAttempt, TxChange, TxNote, TxReceiptInfo, TxRecord, TxState, TxStore};

/// What to send: the tx-builder's `{to, data, value}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectCall {
    pub to: Address,
    pub data: Bytes,
    pub value: U256,
    /// Skips gas estimation (the call is sent even if a simulation would revert).
    pub gas_limit: Option<u64>,
}

impl DirectCall {
    pub fn new(to: Address, data: impl Into<Bytes>, value: U256) -> Self {
        Self { to, data: data.into(), value, gas_limit: None }
    }
    pub fn with_gas_limit(mut self, gas: u64) -> Self {
        self.gas_limit = Some(gas);
        self
    }
}

/// Fees and timing. Fees are wei per gas.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectConfig {
    /// The chain the signer signs for; checked against the node at construction.
    pub chain_id: u64,
    /// Gas limit = estimate × (10,000 + margin) / 10,000 + `gas_extra`.
    pub gas_margin_bps: u64,
    pub gas_extra: u64,
    /// No attempt's `maxFeePerGas` ever exceeds this.
    pub max_fee_cap: u128,
    /// The priority fee is the fee history's median tip, clamped to these.
    pub min_priority_fee: u128,
    pub max_priority_fee: u128,
    /// `maxFeePerGas` = next base fee × this + priority fee.
    pub base_fee_multiplier: u128,
    /// Replacement bump, in basis points (1,500 = +15 %).
    pub bump_bps: u64,
    /// The smallest bump the node accepts (geth: 10 %; we require 12.5 %); a replacement capped
    /// below this is not sent.
    pub min_bump_bps: u64,
    /// Replace when the latest attempt is not mined after this long.
    pub replace_after: Duration,
    /// How often to poll for receipts.
    pub poll_interval: Duration,
    /// How long [`DirectSender::track`] waits for a receipt before giving up (`Ambiguous`).
    pub track_timeout: Duration,
    /// Each JSON-RPC call's timeout.
    pub rpc_timeout: Duration,
    /// How long the chain must show the nonce used, with no receipt for any attempt, before the
    /// record is FAILED as "nonce used by another transaction" (receipts can lag the nonce on
    /// load-balanced RPC endpoints).
    pub consumed_grace: Duration,
    /// Fresh leases after "nonce too low" before giving up.
    pub max_nonce_retries: u32,
}

impl DirectConfig {
    /// Defaults for Base (chain 8453) style L2s: tips are tiny, blocks every 2 s.
    pub fn new(chain_id: u64) -> Self {
        Self {
            chain_id,
            gas_margin_bps: 2_000,
            gas_extra: 10_000,
            max_fee_cap: 50_000_000_000,
            min_priority_fee: 1_000_000,
            max_priority_fee: 2_000_000_000,
            base_fee_multiplier: 2,
            bump_bps: 1_500,
            min_bump_bps: 1_250,
            replace_after: Duration::from_secs(20),
            poll_interval: Duration::from_millis(500),
            track_timeout: Duration::from_secs(120),
            rpc_timeout: Duration::from_secs(10),
            consumed_grace: Duration::from_secs(30),
            max_nonce_retries: 5,
        }
    }
}

/// The fees for a new transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FeeQuote {
    /// The next block's base fee.
    pub base_fee: u128,
    pub max_fee_per_gas: u128,
    pub max_priority_fee_per_gas: u128,
    /// Whether the cap lowered `max_fee_per_gas`.
    pub capped: bool,
}

/// The end of a transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectOutcome {
    pub id: String,
    /// `Mined` or `Failed`.
    pub state: TxState,
    pub nonce: Option<u64>,
    /// The mined attempt (if mined).
    pub receipt: Option<TxReceiptInfo>,
    /// Why it failed (if it did).
    pub reason: Option<String>,
}

/// How the node answered `eth_sendRawTransaction`.
#[derive(Debug)]
enum Broadcast {
    Accepted,
    /// The same transaction is already in the pool.
    AlreadyKnown,
    /// The nonce was used by a mined transaction.
    NonceTooLow(String),
    /// Another transaction with this nonce is in the pool with higher or equal fees.
    Underpriced(String),
    /// The node refused it for another reason (insufficient funds, bad fees, …). Terminal.
    Rejected(String),
    /// No answer (timeout, connection): it may or may not have been accepted.
    Unknown(String),
}

/// Self-broadcasts EIP-1559 transactions for one signer.
pub struct DirectSender {
    provider: DynProvider,
    wallet: EthereumWallet,
    from: Address,
    lease: Arc<dyn NonceLease>,
    store: Arc<dyn TxStore>,
    clock: Arc<dyn Clock>,
    config: DirectConfig,
}

impl DirectSender {
    /// A sender on `provider` for `signer` (a [`crate::signer::KmsSigner`] or
    /// [`crate::signer::LocalKeySigner`]).
    pub fn new<S>(
        provider: DynProvider,
        signer: S,
        lease: Arc<dyn NonceLease>,
        store: Arc<dyn TxStore>,
        clock: Arc<dyn Clock>,
        config: DirectConfig,
    ) -> Self
    where
        S: TxSigner<Signature> + Send + Sync + 'static,
    {
        let from = signer.address();
        Self { provider, wallet: EthereumWallet::new(signer), from, lease, store, clock, config }
    }

    /// An HTTP provider without fillers (the sender fills everything itself), with the retry
    /// layer ([`crate::rpc::provider`]).
    pub fn http_provider(url: &str) -> DomainResult<DynProvider> {
        let url = url.parse().map_err(|e| DomainError::Invalid(format!("bad RPC URL: {e}")))?;
        Ok(crate::rpc::provider_for(url))
    }

    /// Checks that the node serves the configured chain.
    pub async fn check_chain(&self) -> DomainResult<()> {
        let id = self.rpc("eth_chainId", self.provider.get_chain_id()).await?;
        if id != self.config.chain_id {
            return Err(DomainError::Internal(format!("the node serves chain {id}, not {}", self.config.chain_id)));
        }
        Ok(())
    }

    pub fn from(&self) -> Address {
        self.from
    }

    pub fn config(&self) -> &DirectConfig {
        &self.config
    }

    /// Sends `call` under the idempotency id `id` and waits for it to be mined (replacing it
    /// as needed). Calling again with the same id resumes: it never sends a second transaction.
    ///
    /// `Ok` with `Mined` or `Failed` (reverted, or refused before broadcast); `Err(Ambiguous)`
    /// when not mined within `track_timeout` (call [`Self::track`] later).
    pub async fn send(&self, id: &str, call: &DirectCall) -> DomainResult<DirectOutcome> {
        match self.store.get(id).await? {
            None => {
                let rec = TxRecord::new(id, self.config.chain_id, self.from, call.to, call.value, call.data.clone(), self.clock.now());
                match self.store.create(&rec).await {
                    Ok(()) => {}
                    // Someone else created it meanwhile: treat as a resume.
                    Err(DomainError::Conflict(_)) => return self.resume(id).await,
                    Err(e) => return Err(e),
                }
            }
            Some(_) => return self.resume(id).await,
        }
        if let Some(done) = self.submit(id, call).await? {
            return Ok(done);
        }
        self.track(id).await
    }

    async fn resume(&self, id: &str) -> DomainResult<DirectOutcome> {
        let rec = self.load(id).await?;
        match rec.state {
            s if s.is_terminal() => Ok(outcome(&rec)),
            s if s.is_in_flight() => self.track(id).await,
            s => Err(DomainError::Ambiguous(format!("transaction {id} is {s}: another process is submitting it, or died while doing so"))),
        }
    }

    async fn load(&self, id: &str) -> DomainResult<TxRecord> {
        self.store.get(id).await?.ok_or_else(|| DomainError::NotFound(format!("transaction {id}")))
    }

    /// Leases a nonce, signs and broadcasts the first attempt; on success the record is SENT.
    /// Returns an outcome if the transaction ended before broadcast (FAILED).
    async fn submit(&self, id: &str, call: &DirectCall) -> DomainResult<Option<DirectOutcome>> {
        let mut state = TxState::Created;
        let mut attempts: u32 = 0;
        let mut last_error = String::new();
        for _ in 0..=self.config.max_nonce_retries {
            let pending = self.rpc("eth_getTransactionCount", self.provider.get_transaction_count(self.from).pending()).await?;
            let lease = self.lease.acquire(self.from, pending).await?;
            let signed = match self.prepare(call, &lease).await {
                Ok(s) => s,
                Err(Prepared::Reverted(reason)) => {
                    self.release(&lease).await;
                    let change = TxChange::to(TxState::Failed, self.clock.now()).with_note(format!("simulation reverted: {reason}"));
                    self.store.transition(id, state, &change).await?;
                    return Ok(Some(outcome(&self.load(id).await?)));
                }
                Err(Prepared::Error(e)) => {
                    self.release(&lease).await;
                    return Err(e);
                }
            };
            attempts = attempts.saturating_add(1);
            let attempt = signed.attempt(attempts, self.clock.now());
            let note = (attempts > 1).then(|| format!("re-signed with nonce {}: {last_error}", lease.nonce));
            let mut change = TxChange::to(TxState::Signed, attempt.at).with_attempt(attempt);
            change.note = note;
            if let Err(e) = self.store.transition(id, state, &change).await {
                self.release(&lease).await;
                return Err(e);
            }
            state = TxState::Signed;
            if self.clock.now() >= lease.expires_at {
                // Too slow: someone may have reclaimed the nonce. Give it back and lease again.
                self.release(&lease).await;
                last_error = "the lease expired before broadcast".into();
                continue;
            }
            match self.broadcast(&signed.raw).await {
                Broadcast::Accepted | Broadcast::AlreadyKnown => {
                    self.confirm(&lease).await;
                    self.store.transition(id, TxState::Signed, &TxChange::to(TxState::Sent, self.clock.now())).await?;
                    return Ok(None);
                }
                Broadcast::Unknown(e) => {
                    // It may be in the pool: keep the nonce, track it, and let replacement resend.
                    self.confirm(&lease).await;
                    let change = TxChange::to(TxState::Sent, self.clock.now()).with_note(format!("broadcast outcome unknown: {e}"));
                    self.store.transition(id, TxState::Signed, &change).await?;
                    return Ok(None);
                }
                Broadcast::NonceTooLow(e) | Broadcast::Underpriced(e) => {
                    // Another transaction holds this nonce: it is not ours to give back.
                    self.confirm(&lease).await;
                    tracing::warn!(tx = id, nonce = lease.nonce, error = %e, "nonce taken; leasing a fresh one");
                    last_error = e;
                }
                Broadcast::Rejected(e) => {
                    self.release(&lease).await;
                    let change = TxChange::to(TxState::Failed, self.clock.now()).with_note(format!("rejected by the node: {e}"));
                    self.store.transition(id, TxState::Signed, &change).await?;
                    return Ok(Some(outcome(&self.load(id).await?)));
                }
            }
        }
        Err(DomainError::Unavailable(format!("no usable nonce after {} tries: {last_error}", self.config.max_nonce_retries)))
    }

    /// Waits for a receipt of any attempt of `id`, replacing the transaction with higher fees
    /// when it is not mined within `replace_after`, until `track_timeout`.
    pub async fn track(&self, id: &str) -> DomainResult<DirectOutcome> {
        let deadline = Instant::now() + self.config.track_timeout;
        let mut last_sent = Instant::now();
        let mut cap_reached = false;
        let mut consumed_since: Option<Instant> = None;
        loop {
            let rec = self.load(id).await?;
            if rec.state.is_terminal() {
                return Ok(outcome(&rec));
            }
            if !rec.state.is_in_flight() {
                return Err(DomainError::Ambiguous(format!("transaction {id} is {}, not in flight", rec.state)));
            }
            let nonce = rec.nonce.ok_or_else(|| DomainError::Internal(format!("transaction {id} is in flight without a nonce")))?;
            if let Some(done) = self.check_receipts(&rec).await? {
                return Ok(done);
            }
            // Consumed by something that is not one of our attempts?
            let mined_nonce = self.rpc("eth_getTransactionCount", self.provider.get_transaction_count(self.from).latest()).await?;
            if mined_nonce <= nonce {
                consumed_since = None;
            } else if consumed_since.get_or_insert_with(Instant::now).elapsed() >= self.config.consumed_grace {
                let change = TxChange::to(TxState::Failed, self.clock.now())
                    .with_note(format!("nonce {nonce} was used by a transaction that is none of this record's attempts"));
                match self.store.transition(id, rec.state, &change).await {
                    // Another tracker got there first: its verdict stands.
                    Ok(()) | Err(DomainError::Conflict(_)) => return Ok(outcome(&self.load(id).await?)),
                    Err(e) => return Err(e),
                }
            }
            if Instant::now() >= deadline {
                return Err(DomainError::Ambiguous(format!(
                    "transaction {id} (nonce {nonce}) not mined within {:?}; it is {} and can be tracked again",
                    self.config.track_timeout, rec.state
                )));
            }
            if !cap_reached && consumed_since.is_none() && last_sent.elapsed() >= self.config.replace_after {
                last_sent = Instant::now();
                cap_reached = !self.replace(&rec, nonce).await?;
            }
            tokio::time::sleep(self.config.poll_interval).await;
        }
    }

    /// Sends one replacement. Returns false if the fee cap forbids any further bump.
    async fn replace(&self, rec: &TxRecord, nonce: u64) -> DomainResult<bool> {
        let Some(last) = rec.live_attempts().last().cloned() else {
            return Err(DomainError::Internal(format!("transaction {} is in flight without an attempt", rec.id)));
        };
        let market = self.quote_fees().await?;
        let fees = match bump_fees(&self.config, &last, &market) {
            Ok(f) => f,
            Err(why) => {
                tracing::warn!(tx = %rec.id, nonce, "{why}");
                self.store.annotate(&rec.id, &TxNote { at: self.clock.now(), text: why }).await?;
                return Ok(false);
            }
        };
        let call = DirectCall { to: rec.to, data: rec.data.clone(), value: rec.value, gas_limit: Some(last.gas_limit) };
        let signed = self.sign(&call, nonce, last.gas_limit, fees.0, fees.1).await?;
        let n = u32::try_from(rec.attempts.len()).unwrap_or(u32::MAX).saturating_add(1);
        let attempt = signed.attempt(n, self.clock.now());
        self.store.add_attempt(&rec.id, rec.state, &attempt).await?;
        match self.broadcast(&signed.raw).await {
            Broadcast::Accepted | Broadcast::AlreadyKnown => {
                let note = format!(
                    "replaced attempt {} by {n}: maxFeePerGas {} → {}, maxPriorityFeePerGas {} → {}",
                    last.n, last.max_fee_per_gas, fees.0, last.max_priority_fee_per_gas, fees.1
                );
                self.store.transition(&rec.id, rec.state, &TxChange::to(TxState::Replaced, self.clock.now()).with_note(note)).await?;
            }
            Broadcast::NonceTooLow(e) => {
                // One of the attempts (or something else) was mined: the next poll finds out.
                self.note(&rec.id, format!("replacement {n} not needed: {e}")).await?;
            }
            Broadcast::Underpriced(e) | Broadcast::Rejected(e) | Broadcast::Unknown(e) => {
                self.note(&rec.id, format!("replacement {n} not accepted: {e}")).await?;
            }
        }
        Ok(true)
    }

    async fn note(&self, id: &str, text: String) -> DomainResult<()> {
        self.store.annotate(id, &TxNote { at: self.clock.now(), text }).await
    }

    async fn check_receipts(&self, rec: &TxRecord) -> DomainResult<Option<DirectOutcome>> {
        for a in rec.live_attempts().collect::<Vec<_>>().into_iter().rev() {
            let Some(r) = self.rpc("eth_getTransactionReceipt", self.provider.get_transaction_receipt(a.hash)).await? else {
                continue;
            };
            let info = TxReceiptInfo {
                hash: a.hash,
                block_number: r.block_number.unwrap_or_default(),
                gas_used: r.gas_used,
                effective_gas_price: r.effective_gas_price,
                success: r.status(),
            };
            let (to, note) = if info.success {
                (TxState::Mined, format!("attempt {} mined in block {}", a.n, info.block_number))
            } else {
                (TxState::Failed, format!("attempt {} reverted in block {}", a.n, info.block_number))
            };
            let change = TxChange::to(to, self.clock.now()).with_receipt(info).with_note(note);
            match self.store.transition(&rec.id, rec.state, &change).await {
                Ok(()) | Err(DomainError::Conflict(_)) => {}
                Err(e) => return Err(e),
            }
            return Ok(Some(outcome(&self.load(&rec.id).await?)));
        }
        Ok(None)
    }

    /// The fees for a new transaction: the next base fee × multiplier + the median tip of the
    /// last blocks (clamped), never above the cap.
    pub async fn quote_fees(&self) -> DomainResult<FeeQuote> {
        let history = self.rpc("eth_feeHistory", self.provider.get_fee_history(5, BlockNumberOrTag::Latest, &[50.0])).await?;
        let base_fee = history.next_block_base_fee().ok_or_else(|| DomainError::Unavailable("the node returned no base fee".into()))?;
        let mut tips: Vec<u128> = history.reward.unwrap_or_default().iter().filter_map(|row| row.first().copied()).collect();
        tips.sort_unstable();
        let tip = tips.get(tips.len() / 2).copied().unwrap_or_default();
        Ok(quote(&self.config, base_fee, tip))
    }

    /// Gas limit, fees and signature for a new attempt on `lease`.
    async fn prepare(&self, call: &DirectCall, lease: &Lease) -> Result<Signed, Prepared> {
        let gas_limit = match call.gas_limit {
            Some(g) => g,
            None => self.estimate(call).await?,
        };
        let fees = self.quote_fees().await.map_err(Prepared::Error)?;
        if fees.capped {
            tracing::warn!(cap = self.config.max_fee_cap, base_fee = fees.base_fee, "maxFeePerGas lowered to the cap");
        }
        self.sign(call, lease.nonce, gas_limit, fees.max_fee_per_gas, fees.max_priority_fee_per_gas).await.map_err(Prepared::Error)
    }

    async fn estimate(&self, call: &DirectCall) -> Result<u64, Prepared> {
        let req = TransactionRequest::default().with_from(self.from).with_to(call.to).with_input(call.data.clone()).with_value(call.value);
        match tokio::time::timeout(self.config.rpc_timeout, self.provider.estimate_gas(req).pending()).await {
            Err(_) => Err(Prepared::Error(DomainError::Unavailable("eth_estimateGas timed out".into()))),
            Ok(Ok(g)) => {
                let with_margin =
                    u128::from(g) * u128::from(10_000 + self.config.gas_margin_bps) / 10_000 + u128::from(self.config.gas_extra);
                Ok(u64::try_from(with_margin).unwrap_or(u64::MAX))
            }
            Ok(Err(e)) => match e.as_error_resp() {
                Some(p) if p.code == 3 || p.message.to_ascii_lowercase().contains("revert") => {
                    Err(Prepared::Reverted(p.message.to_string()))
                }
                _ => Err(Prepared::Error(rpc_error("eth_estimateGas", &e))),
            },
        }
    }

    async fn sign(&self, call: &DirectCall, nonce: u64, gas_limit: u64, max_fee: u128, priority: u128) -> DomainResult<Signed> {
        let tx = TxEip1559 {
            chain_id: self.config.chain_id,
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
            to: TxKind::Call(call.to),
            value: call.value,
            input: call.data.clone(),
            access_list: Default::default(),
        };
        let envelope: TxEnvelope = NetworkWallet::<Ethereum>::sign_transaction_from(&self.wallet, self.from, TypedTransaction::Eip1559(tx))
            .await
            .map_err(|e| DomainError::Unavailable(format!("signing the transaction failed: {e}")))?;
        Ok(Signed {
            hash: *envelope.tx_hash(),
            raw: envelope.encoded_2718(),
            nonce,
            gas_limit,
            max_fee_per_gas: max_fee,
            max_priority_fee_per_gas: priority,
        })
    }

    async fn broadcast(&self, raw: &[u8]) -> Broadcast {
        match tokio::time::timeout(self.config.rpc_timeout, self.provider.send_raw_transaction(raw)).await {
            Err(_) => Broadcast::Unknown("eth_sendRawTransaction timed out".into()),
            Ok(Ok(_)) => Broadcast::Accepted,
            Ok(Err(e)) => classify_send_error(&e),
        }
    }

    async fn release(&self, lease: &Lease) {
        if let Err(e) = self.lease.release_unused(lease).await {
            // The lease expires and is reclaimed; log and go on.
            tracing::warn!(nonce = lease.nonce, error = %e, "could not give back an unused nonce");
        }
    }

    async fn confirm(&self, lease: &Lease) {
        if let Err(e) = self.lease.confirm(lease).await {
            tracing::warn!(nonce = lease.nonce, error = %e, "could not confirm a nonce lease");
        }
    }

    async fn rpc<T>(
        &self,
        method: &str,
        fut: impl std::future::IntoFuture<Output = Result<T, RpcError<TransportErrorKind>>>,
    ) -> DomainResult<T> {
        match tokio::time::timeout(self.config.rpc_timeout, fut.into_future()).await {
            Err(_) => Err(DomainError::Unavailable(format!("{method} timed out"))),
            Ok(r) => r.map_err(|e| rpc_error(method, &e)),
        }
    }
}

enum Prepared {
    Reverted(String),
    Error(DomainError),
}

struct Signed {
    hash: B256,
    raw: Vec<u8>,
    nonce: u64,
    gas_limit: u64,
    max_fee_per_gas: u128,
    max_priority_fee_per_gas: u128,
}

impl Signed {
    fn attempt(&self, n: u32, at: vanta_domain::time::Timestamp) -> TxAttempt {
        TxAttempt {
            n,
            hash: self.hash,
            nonce: self.nonce,
            gas_limit: self.gas_limit,
            max_fee_per_gas: self.max_fee_per_gas,
            max_priority_fee_per_gas: self.max_priority_fee_per_gas,
            at,
        }
    }
}

fn outcome(rec: &TxRecord) -> DirectOutcome {
    let reason = match rec.state {
        TxState::Failed => rec.history.last().and_then(|e| e.note.clone()),
        _ => None,
    };
    DirectOutcome { id: rec.id.clone(), state: rec.state, nonce: rec.nonce, receipt: rec.receipt.clone(), reason }
}

/// An RPC failure as a domain error. Transport errors embed the RPC URL, which may carry the
/// provider's key: it is cut to scheme and host ([`crate::redact::redact_urls`]).
pub(crate) fn rpc_error(method: &str, e: &RpcError<TransportErrorKind>) -> DomainError {
    let text = match e.as_error_resp() {
        Some(p) => format!("{method}: the node answered {} {}", p.code, p.message),
        None => format!("{method} failed: {e}"),
    };
    DomainError::Unavailable(crate::redact::redact_urls(&text))
}

fn classify_send_error(e: &RpcError<TransportErrorKind>) -> Broadcast {
    let Some(p) = e.as_error_resp() else {
        return Broadcast::Unknown(crate::redact::redact_urls(&e.to_string()));
    };
    let msg = p.message.to_ascii_lowercase();
    let text = p.message.to_string();
    if msg.contains("already known")
        || msg.contains("known transaction")
        || msg.contains("already imported")
        || msg.contains("already exists")
    {
        Broadcast::AlreadyKnown
    } else if msg.contains("nonce too low") || msg.contains("nonce has already been used") || msg.contains("invalid nonce") {
        Broadcast::NonceTooLow(text)
    } else if msg.contains("underpriced") || msg.contains("replacement") {
        Broadcast::Underpriced(text)
    } else {
        Broadcast::Rejected(text)
    }
}

/// `ceil(x × (10,000 + bps) / 10,000)`.
fn bumped(x: u128, bps: u64) -> u128 {
    let num = x.saturating_mul(10_000 + u128::from(bps));
    num.div_ceil(10_000)
}

/// The fees of a new transaction at `base_fee` with median tip `tip`.
pub fn quote(config: &DirectConfig, base_fee: u128, tip: u128) -> FeeQuote {
    let priority = tip.clamp(config.min_priority_fee, config.max_priority_fee.max(config.min_priority_fee));
    let wanted = base_fee.saturating_mul(config.base_fee_multiplier).saturating_add(priority);
    let capped = wanted > config.max_fee_cap;
    let max_fee = wanted.min(config.max_fee_cap);
    FeeQuote { base_fee, max_fee_per_gas: max_fee, max_priority_fee_per_gas: priority.min(max_fee), capped }
}

/// The fees of a replacement for `last`: both fees up by `bump_bps` (at least `min_bump_bps`
/// and at least 1 wei), and no lower than a fresh quote; `maxFeePerGas` never above the cap.
/// `Err(why)` if the cap leaves no room for the minimum bump.
pub fn bump_fees(config: &DirectConfig, last: &TxAttempt, market: &FeeQuote) -> Result<(u128, u128), String> {
    let min_fee = bumped(last.max_fee_per_gas, config.min_bump_bps).max(last.max_fee_per_gas.saturating_add(1));
    let min_tip = bumped(last.max_priority_fee_per_gas, config.min_bump_bps).max(last.max_priority_fee_per_gas.saturating_add(1));
    let bump = config.bump_bps.max(config.min_bump_bps);
    let tip = bumped(last.max_priority_fee_per_gas, bump).max(min_tip).max(market.max_priority_fee_per_gas);
    let want =
        bumped(last.max_fee_per_gas, bump).max(min_fee).max(market.base_fee.saturating_mul(config.base_fee_multiplier).saturating_add(tip));
    let fee = want.min(config.max_fee_cap);
    if fee < min_fee || fee < min_tip {
        return Err(format!(
            "fee cap {} reached: replacing attempt {} needs maxFeePerGas ≥ {min_fee} (wanted {want}); not sent, still tracking",
            config.max_fee_cap, last.n
        ));
    }
    Ok((fee, tip.min(fee)))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    fn attempt(fee: u128, tip: u128) -> TxAttempt {
        TxAttempt {
            n: 1,
            hash: B256::ZERO,
            nonce: 0,
            gas_limit: 21_000,
            max_fee_per_gas: fee,
            max_priority_fee_per_gas: tip,
            at: Default::default(),
        }
    }

    #[test]
    fn bumps_by_fifteen_percent_under_the_cap() {
        let mut c = DirectConfig::new(1);
        c.max_fee_cap = 1_000;
        c.min_priority_fee = 0;
        let market = quote(&c, 10, 0);
        assert_eq!(bump_fees(&c, &attempt(100, 10), &market), Ok((115, 12)));
    }

    #[test]
    fn clamps_to_the_cap_while_the_minimum_bump_fits() {
        let mut c = DirectConfig::new(1);
        c.max_fee_cap = 113;
        c.min_priority_fee = 0;
        let market = quote(&c, 10, 0);
        assert_eq!(bump_fees(&c, &attempt(100, 10), &market), Ok((113, 12)));
        c.max_fee_cap = 112;
        assert!(bump_fees(&c, &attempt(100, 10), &market).unwrap_err().contains("fee cap 112"));
    }

    #[test]
    fn quote_respects_the_cap() {
        let mut c = DirectConfig::new(1);
        c.max_fee_cap = 100;
        c.min_priority_fee = 5;
        let q = quote(&c, 60, 0);
        assert_eq!((q.max_fee_per_gas, q.max_priority_fee_per_gas, q.capped), (100, 5, true));
    }
}
