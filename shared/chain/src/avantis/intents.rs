//! Intent builders (`POST /v2/intents/*`): the API's typed data is decoded into a local
//! [`Intent`], its digest recomputed under the `/v2/meta` domain and compared with the API's;
//! only a matching intent is handed to the signer.

use std::collections::{BTreeMap, BTreeSet};

use alloy::primitives::{Address, B256, I256, U256};
use reqwest::Method;
use serde_json::{Value, json};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::{PairIndex, Side};
use vanta_domain::money::{Leverage, Price, SlippageP, Usdc, format_scaled};
use vanta_domain::ports::Signer;

use super::local::{self, IntentTerms};
use super::{AvantisClient, CallError, Safety, Service};
use crate::eip712::{AvantisDomain, Intent, IntentKind, verify_digest};

/// An intent as the tx-builder built it, checked: same kind as asked, domain equal to the
/// `/v2/meta` trading domain, local digest equal to the API's, `encodedIntent` equal to the local
/// ABI encoding. Only such a payload can be signed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IntentPayload {
    pub kind: IntentKind,
    pub intent: Intent,
    /// The verified digest (computed locally).
    pub digest: B256,
    /// `abi.encode(struct)`, equal to the API's `encodedIntent`.
    pub encoded_intent: Vec<u8>,
    /// `trader-or-delegate` or `trader-only`.
    pub signer_rule: String,
    /// The typed-data message as returned (decimal strings), for bodies that flatten it.
    pub message: Value,
}

/// A payload with its signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIntent {
    pub payload: IntentPayload,
    /// `r ‖ s ‖ v`, `v` ∈ {27, 28}.
    pub signature: [u8; 65],
    /// Who signed (the trader or a delegate).
    pub signer: Address,
}

impl SignedIntent {
    /// `0x` + 130 hex digits.
    pub fn signature_hex(&self) -> String {
        format!("0x{}", alloy::hex::encode(self.signature))
    }
    /// `0x` + the `encodedIntent` hex.
    pub fn encoded_hex(&self) -> String {
        format!("0x{}", alloy::hex::encode(&self.payload.encoded_intent))
    }
}

/// 65 bytes `r ‖ s ‖ v` (`v` = 27 + parity) of a signature.
pub fn signature_hex(sig: &alloy::primitives::Signature) -> String {
    format!("0x{}", alloy::hex::encode(signature_bytes(sig)))
}

pub(crate) fn signature_bytes(sig: &alloy::primitives::Signature) -> [u8; 65] {
    let mut out = [0u8; 65];
    let (r, s) = out.split_at_mut(32);
    r.copy_from_slice(&sig.r().to_be_bytes::<32>());
    if let Some(s) = s.get_mut(..32) {
        s.copy_from_slice(&sig.s().to_be_bytes::<32>());
    }
    if let Some(v) = out.get_mut(64) {
        *v = 27 + u8::from(sig.v());
    }
    out
}

fn hex_bytes(s: &str) -> Option<Vec<u8>> {
    let h = s.trim().strip_prefix("0x").or_else(|| s.trim().strip_prefix("0X"))?;
    alloy::hex::decode(h).ok()
}

/// The EIP-712 `encodeType` string described by a `types` object for `primary`.
fn encode_type_of(types: &serde_json::Map<String, Value>, primary: &str) -> Option<String> {
    fn one(types: &serde_json::Map<String, Value>, name: &str) -> Option<(String, Vec<String>)> {
        let fields = types.get(name)?.as_array()?;
        let mut parts = Vec::new();
        let mut deps = Vec::new();
        for f in fields {
            let fname = f.get("name")?.as_str()?;
            let ftype = f.get("type")?.as_str()?;
            let base = ftype.split('[').next().unwrap_or(ftype);
            if types.contains_key(base) {
                deps.push(base.to_owned());
            }
            parts.push(format!("{ftype} {fname}"));
        }
        Some((format!("{name}({})", parts.join(",")), deps))
    }
    let (head, mut todo) = one(types, primary)?;
    let mut seen = BTreeSet::new();
    let mut rendered = BTreeMap::new();
    while let Some(dep) = todo.pop() {
        if dep == primary || !seen.insert(dep.clone()) {
            continue;
        }
        let (s, more) = one(types, &dep)?;
        rendered.insert(dep, s);
        todo.extend(more);
    }
    Some(std::iter::once(head).chain(rendered.into_values()).collect())
}

/// Checks an intent-builder answer (the envelope's `data`) against the expected kind and the
/// trading domain from `/v2/meta`. Pure: no signer is involved.
pub fn verify_payload(text: &str, expected: IntentKind, domain: &AvantisDomain) -> DomainResult<IntentPayload> {
    let bad = |m: String| DomainError::Internal(format!("Avantis {expected} intent: {m}; refusing to sign"));
    let v: Value = serde_json::from_str(text).map_err(|e| bad(format!("not JSON: {e}")))?;
    let primary = v.get("primaryType").or_else(|| v.get("intent")).and_then(Value::as_str).unwrap_or_default();
    let kind: IntentKind = primary.parse().map_err(|_| bad(format!("unknown primary type {primary:?}")))?;
    if kind != expected {
        return Err(bad(format!("the API built a {kind}")));
    }
    if let Some(d) = v.get("domain") {
        let name = d.get("name").and_then(Value::as_str).unwrap_or_default();
        let version = d.get("version").and_then(Value::as_str).unwrap_or_default();
        let chain = d.get("chainId").and_then(super::decimal::json_u64);
        let contract = d.get("verifyingContract").and_then(Value::as_str).and_then(super::parse_address);
        if name != domain.name || version != domain.version || chain != Some(domain.chain_id) || contract != Some(domain.verifying_contract)
        {
            return Err(bad(format!(
                "its domain ({name} v{version}, chain {chain:?}, contract {contract:?}) is not the trading domain ({} v{}, chain {}, contract {})",
                domain.name, domain.version, domain.chain_id, domain.verifying_contract
            )));
        }
    }
    if let Some(types) = v.get("types").and_then(Value::as_object) {
        let theirs = encode_type_of(types, kind.name()).ok_or_else(|| bad("unreadable types".into()))?;
        if theirs != kind.encode_type() {
            return Err(bad(format!("type drift: API {theirs:?}, local {:?}", kind.encode_type())));
        }
    }
    let message = v.get("message").cloned().ok_or_else(|| bad("no message".into()))?;
    let intent = Intent::from_message(kind, &message).map_err(|e| bad(e.to_string()))?;
    let api_digest = v.get("digest").and_then(Value::as_str).ok_or_else(|| bad("no digest".into()))?;
    let digest = verify_digest(&intent, domain, api_digest).map_err(|e| DomainError::Internal(e.to_string()))?;
    let encoded_intent = intent.abi_encode();
    if let Some(enc) = v.get("encodedIntent").and_then(Value::as_str)
        && hex_bytes(enc).as_deref() != Some(encoded_intent.as_slice())
    {
        return Err(bad("encodedIntent differs from the local ABI encoding of the message".into()));
    }
    let signer_rule = v.get("signerRule").and_then(Value::as_str).unwrap_or("trader-or-delegate").to_owned();
    Ok(IntentPayload { kind, intent, digest, encoded_intent, signer_rule, message })
}

/// The fields of an open the venue asked for; the built intent must carry exactly these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OpenRequest {
    pub trader: TraderAddress,
    pub pair: PairIndex,
    pub side: Side,
    pub collateral: Usdc,
    pub leverage: Leverage,
    pub open_price: Price,
    pub slippage: SlippageP,
    pub tp: Option<Price>,
    pub sl: Option<Price>,
    /// Upside (PnL-fee) pair: `market_pnl`.
    pub pnl: bool,
    /// The nonce of the locally built intent (a random one when `None`); never sent to the
    /// tx-builder.
    pub nonce: Option<U256>,
}

/// A market close.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseRequest {
    pub trader: TraderAddress,
    pub pair: PairIndex,
    pub trade_index: u32,
    pub collateral: Usdc,
    /// The position's on-chain open timestamp (seconds).
    pub open_timestamp: Option<u64>,
    pub expected_price: Option<Price>,
    /// The nonce of the locally built intent (a random one when `None`); never sent to the
    /// tx-builder.
    pub nonce: Option<U256>,
}

/// A partial (off-chain) TP/SL order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartialTpSlRequest {
    pub trader: TraderAddress,
    pub pair: PairIndex,
    pub trade_index: u32,
    /// The position's side.
    pub side: Side,
    pub take_profit: bool,
    /// Base-asset amount to close, 1e10.
    pub coin_size_raw: u64,
    /// Fixed trigger price.
    pub price: Price,
    pub open_timestamp: Option<u64>,
}

fn set(body: &mut Value, key: &str, value: String) {
    if let Some(o) = body.as_object_mut() {
        o.insert(key.to_owned(), Value::String(value));
    }
}

fn p10(raw: u64) -> String {
    format_scaled(i128::from(raw), 10)
}

fn mismatch(kind: IntentKind, field: &str) -> DomainError {
    DomainError::Internal(format!("Avantis built a {kind} whose {field} differs from the request; refusing to sign"))
}

impl AvantisClient {
    /// `POST /v2/intents/{path}` and [`verify_payload`] under the `/v2/meta` trading domain.
    /// Nothing beyond the order itself is asked for (no nonce, no deadline: the official client
    /// sends neither).
    pub async fn build_intent(&self, path: &str, body: &Value, expected: IntentKind) -> DomainResult<IntentPayload> {
        let domain = self.signing_domain().await?;
        let text = self
            .call(Service::TxBuilder, Method::POST, &format!("/v2/intents/{path}"), &[], Some(body), Safety::Idempotent)
            .await
            .map_err(CallError::for_read)?;
        verify_payload(&text, expected, &domain)
    }

    /// The `/v2/meta` trading domain, refused unless it is for the configured chain.
    pub(crate) async fn signing_domain(&self) -> DomainResult<AvantisDomain> {
        let domain = self.trading_domain().await?;
        if domain.chain_id != self.cfg.chain_id {
            return Err(DomainError::Internal(format!(
                "trading domain is for chain {}, configured chain is {}: refusing to sign",
                domain.chain_id, self.cfg.chain_id
            )));
        }
        Ok(domain)
    }

    /// Nonce and deadline of a locally built intent: the given nonce (derived from the intent
    /// reference by the venue) or a random one; the deadline `intent_deadline` (or the SDK's
    /// 120 s) from now.
    fn local_terms(&self, nonce: Option<U256>) -> IntentTerms {
        let ttl = self.cfg.intent_deadline.map_or(local::DEFAULT_INTENT_TTL_MS, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
        IntentTerms { deadline_ms: self.now_ms().saturating_add(ttl), nonce: nonce.unwrap_or_else(crate::eip712::random_nonce) }
    }

    /// Signs a verified payload with `signer` (the trader or an enabled delegate), stating the
    /// purpose the intent's own kind has (an open is an entry, a close an exit), so the exec-mode
    /// gate decides by what is signed, not by what the caller meant.
    pub async fn sign_intent(&self, payload: IntentPayload, signer: &dyn Signer) -> DomainResult<SignedIntent> {
        let purpose = payload.intent.kind().purpose();
        let sig = signer.sign_digest_for(payload.digest, purpose).await?;
        let recovered = crate::signer::recover_address(payload.digest, &sig)?;
        if recovered != signer.address().address() {
            return Err(DomainError::Internal("the signature does not recover to the signer".into()));
        }
        Ok(SignedIntent { payload, signature: signature_bytes(&sig), signer: recovered })
    }

    /// A market-open intent, built locally ([`local::open_trade`], nonce `r.nonce`) and
    /// cross-checked against the one `/v2/intents/open` builds for the same order (sent as the
    /// SDK sends it: no `openPrice`, the venue resolves it from its feed; no nonce).
    pub async fn open_intent(&self, r: &OpenRequest) -> DomainResult<IntentPayload> {
        let mut body = json!({
            "trader": r.trader.address().to_checksum(None),
            "pairIndex": r.pair.0.to_string(),
            "side": r.side.as_str(),
            "orderType": if r.pnl { "market_pnl" } else { "market" },
            "collateralUsdc": r.collateral.to_string(),
            "leverage": p10(r.leverage.raw()),
            "slippagePercent": r.slippage.to_string(),
        });
        if let Some(tp) = r.tp {
            set(&mut body, "takeProfit", tp.to_string());
        }
        if let Some(sl) = r.sl {
            set(&mut body, "stopLoss", sl.to_string());
        }
        let api = self.build_intent("open", &body, IntentKind::OpenTradeReq).await?;
        let domain = self.signing_domain().await?;
        let local = local::open_trade(r, self.local_terms(r.nonce));
        local::cross_check(&api.intent, &local, &domain)?;
        Ok(local::payload(local, &domain))
    }

    /// A market-close intent, built locally ([`local::close_trade`], nonce `r.nonce`) and
    /// cross-checked against the one `/v2/intents/close` builds for the same close.
    pub async fn close_intent(&self, r: &CloseRequest) -> DomainResult<IntentPayload> {
        let mut body = json!({
            "trader": r.trader.address().to_checksum(None),
            "pairIndex": r.pair.0.to_string(),
            "tradeIndex": r.trade_index.to_string(),
            "collateralToCloseUsdc": r.collateral.to_string(),
        });
        if let Some(ts) = r.open_timestamp {
            set(&mut body, "openTimestamp", ts.to_string());
        }
        if let Some(p) = r.expected_price {
            set(&mut body, "expectedPrice", p.to_string());
        }
        let api = self.build_intent("close", &body, IntentKind::CloseTradeReq).await?;
        let domain = self.signing_domain().await?;
        let mut local = local::close_trade(r, self.local_terms(r.nonce));
        local::adopt_close_defaults(&mut local, &api.intent, r);
        local::cross_check(&api.intent, &local, &domain)?;
        Ok(local::payload(local, &domain))
    }

    /// A global TP/SL update, built locally as the SDK builds it (no tx-builder call). Both
    /// legs are signed: `0` removes the SL and resets the TP to the venue's cap, so callers pass
    /// the untouched leg's live value (see `AvantisVenue`).
    pub async fn tpsl_update_intent(
        &self,
        trader: TraderAddress,
        pair: PairIndex,
        trade_index: u32,
        tp: Option<Price>,
        sl: Option<Price>,
        nonce: Option<U256>,
    ) -> DomainResult<IntentPayload> {
        let domain = self.signing_domain().await?;
        let (tp, sl) = (tp.map_or(0, Price::raw), sl.map_or(0, Price::raw));
        let intent = local::update_tpsl(trader, pair, trade_index, tp, sl, self.local_terms(nonce));
        Ok(local::payload(intent, &domain))
    }

    /// Builds and checks a partial TP/SL (`/v2/intents/tpsl-partial`, fixed trigger price).
    pub async fn tpsl_partial_intent(&self, r: &PartialTpSlRequest) -> DomainResult<IntentPayload> {
        let mut body = json!({
            "trader": r.trader.address().to_checksum(None),
            "pairIndex": r.pair.0.to_string(),
            "tradeIndex": r.trade_index.to_string(),
            "side": r.side.as_str(),
            "kind": if r.take_profit { "take_profit" } else { "stop_loss" },
            "coinExposure": p10(r.coin_size_raw),
            "triggerType": "fixed",
            "price": r.price.to_string(),
        });
        if let Some(ts) = r.open_timestamp {
            set(&mut body, "openTimestamp", ts.to_string());
        }
        let p = self.build_intent("tpsl-partial", &body, IntentKind::TpSlReq).await?;
        let Intent::TpSlReq(m) = &p.intent else { return Err(mismatch(IntentKind::TpSlReq, "kind")) };
        let checks: [(&str, bool); 8] = [
            ("trader", m.trader == r.trader.address()),
            ("pairIndex", m.pairIndex == U256::from(r.pair.0)),
            ("index", m.index == U256::from(r.trade_index)),
            ("buy", m.buy == r.side.is_buy()),
            ("coinSize", m.coinSize == U256::from(r.coin_size_raw)),
            ("price", m.price == U256::from(r.price.raw()) && m.triggerType == 0 && m.percentage == I256::ZERO),
            ("orderType", m.orderType == if r.take_profit { 4 } else { 5 }),
            ("timestamp", r.open_timestamp.is_none_or(|ts| m.timestamp == U256::from(ts))),
        ];
        if let Some((field, _)) = checks.iter().find(|(_, ok)| !ok) {
            return Err(mismatch(IntentKind::TpSlReq, field));
        }
        Ok(p)
    }

    /// Builds and checks the cancel proof of a partial TP/SL (`/v2/intents/offchain-cancel`).
    pub async fn offchain_cancel_intent(&self, entity_id: &str) -> DomainResult<IntentPayload> {
        let p = self.build_intent("offchain-cancel", &json!({ "entityId": entity_id }), IntentKind::CancelOffchainOrder).await?;
        match &p.intent {
            Intent::CancelOffchainOrder(m) if m.entityId == entity_id => Ok(p),
            _ => Err(mismatch(IntentKind::CancelOffchainOrder, "entityId")),
        }
    }
}

/// The `_deadline` (unix ms) of the intents the venue sends.
pub(crate) fn intent_deadline(intent: &Intent) -> Option<U256> {
    match intent {
        Intent::OpenTradeReq(m) => Some(m._deadline),
        Intent::CloseTradeReq(m) => Some(m._deadline),
        Intent::OpenTradeCoinExposureReq(m) => Some(m._deadline),
        Intent::CloseTradeCoinExposureReq(m) => Some(m._deadline),
        Intent::IncreasePositionSizeReq(m) => Some(m._deadline),
        Intent::IncreasePositionSizeWithCoinExposureReq(m) => Some(m._deadline),
        Intent::UpdateTpSlReq(m) => Some(m._deadline),
        _ => None,
    }
}
