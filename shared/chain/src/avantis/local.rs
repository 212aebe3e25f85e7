//! Intents built locally, as the official SDK's local intent builder builds them: the struct in
//! Solidity field order from the request's raw integers, `encodedIntent` = `abi.encode(struct)`,
//! the digest computed under the `/v2/meta` trading domain. Byte-exact against the SDK's
//! `intent_encoding_reference.json` (golden test `shared/chain/tests/it/local_intents.rs`).
//!
//! Nonces: the chain keeps an unordered nonce bitmap per signer. The nonce of an order is derived
//! from the signer and Vanta's intent reference ([`derived_nonce`]), so the same intent,
//! retried, redelivered or sent again after a cold start, always signs the same nonce and the
//! chain refuses a second fill. No request field carries it: the official client never sends
//! a nonce to the tx-builder, and exactly-once does not depend on the builder honouring one.
//!
//! Where the tx-builder also builds the order (`/v2/intents/open`, `/close`), its intent is the
//! cross-check: verified against its own digest, then, with our nonce and deadline (and, for a
//! market open, our reference price) put in, its digest must equal the local one
//! ([`cross_check`]); any other difference means the two disagree about the order and nothing
//! is signed.

use alloy::primitives::{Address, U256, keccak256};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::market::PairIndex;

use super::intents::{CloseRequest, IntentPayload, OpenRequest};
use crate::eip712::{AvantisDomain, CloseTradeReq, Intent, OpenTradeReq, Trade, UpdateTpSlReq};

/// The SDK's default intent lifetime (`deadline` = now + 120 000 ms).
pub const DEFAULT_INTENT_TTL_MS: u64 = 120_000;

/// The nonce and deadline of one locally built intent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IntentTerms {
    /// Unix milliseconds.
    pub deadline_ms: u64,
    pub nonce: U256,
}

/// `keccak256("vanta:avantis:nonce:v1" ‖ signer ‖ reference)`: one nonce per signer and Vanta
/// intent reference, the same on every attempt and every instance.
pub fn derived_nonce(signer: Address, reference: &str) -> U256 {
    let mut pre = b"vanta:avantis:nonce:v1".to_vec();
    pre.extend_from_slice(signer.as_slice());
    pre.extend_from_slice(reference.as_bytes());
    U256::from_be_bytes(keccak256(&pre).0)
}

/// A market open (`OpenTradeReq`): `_t.timestamp` 0, `index` and `initialPosToken` 0,
/// `openPrice` the reference price slippage is measured from, `_type` 0 (market) or 3 (Upside,
/// `market_pnl`); an absent TP or SL is 0.
pub fn open_trade(r: &OpenRequest, terms: IntentTerms) -> Intent {
    open_trade_at(r, 0, terms)
}

/// [`open_trade`] with a given `_t.timestamp` (0 for every order Vanta sends; the golden
/// vectors carry one).
pub fn open_trade_at(r: &OpenRequest, trade_timestamp: u64, terms: IntentTerms) -> Intent {
    Intent::OpenTradeReq(OpenTradeReq {
        _t: Trade {
            trader: r.trader.address(),
            pairIndex: U256::from(r.pair.0),
            index: U256::ZERO,
            initialPosToken: U256::ZERO,
            positionSizeUSDC: U256::from(r.collateral.raw()),
            openPrice: U256::from(r.open_price.raw()),
            buy: r.side.is_buy(),
            leverage: U256::from(r.leverage.raw()),
            tp: U256::from(r.tp.map_or(0, |p| p.raw())),
            sl: U256::from(r.sl.map_or(0, |p| p.raw())),
            timestamp: U256::from(trade_timestamp),
        },
        _type: if r.pnl { 3 } else { 0 },
        _slippageP: U256::from(r.slippage.raw()),
        _deadline: U256::from(terms.deadline_ms),
        _nonce: terms.nonce,
    })
}

/// A market close (`CloseTradeReq`) of `r.collateral`; an unknown open timestamp is 0 and no
/// expected price is 0.
pub fn close_trade(r: &CloseRequest, terms: IntentTerms) -> Intent {
    Intent::CloseTradeReq(CloseTradeReq {
        _trader: r.trader.address(),
        _pairIndex: U256::from(r.pair.0),
        _index: U256::from(r.trade_index),
        _openTimestamp: U256::from(r.open_timestamp.unwrap_or(0)),
        _amount: U256::from(r.collateral.raw()),
        _wantedPrice: U256::from(r.expected_price.map_or(0, |p| p.raw())),
        _deadline: U256::from(terms.deadline_ms),
        _nonce: terms.nonce,
    })
}

/// A global TP/SL update (`UpdateTpSlReq`) carrying both legs, raw 1e10 (an SL of 0 removes the
/// stop, a TP of 0 resets it to the venue's max-gain cap).
pub fn update_tpsl(trader: TraderAddress, pair: PairIndex, trade_index: u32, tp_raw: u64, sl_raw: u64, terms: IntentTerms) -> Intent {
    Intent::UpdateTpSlReq(UpdateTpSlReq {
        trader: trader.address(),
        _pairIndex: U256::from(pair.0),
        _index: U256::from(trade_index),
        _newTp: U256::from(tp_raw),
        _newSl: U256::from(sl_raw),
        _deadline: U256::from(terms.deadline_ms),
        _nonce: terms.nonce,
    })
}

/// The signable payload of a locally built intent under `domain`.
pub fn payload(intent: Intent, domain: &AvantisDomain) -> IntentPayload {
    IntentPayload {
        kind: intent.kind(),
        digest: intent.digest(domain),
        encoded_intent: intent.abi_encode(),
        signer_rule: "trader-or-delegate".to_owned(),
        message: serde_json::Value::Null,
        intent,
    }
}

/// Whether the tx-builder's (already self-verified) intent is the locally built one, once our
/// nonce and deadline are put in, and for a market open also our reference price (the builder
/// resolves its own from the feed). For a close, the open timestamp and expected price the
/// builder filled in where we gave none are taken over first ([`adopt_close_defaults`]). `Err` names the
/// disagreement; nothing may then be signed.
pub fn cross_check(api: &Intent, local: &Intent, domain: &AvantisDomain) -> DomainResult<()> {
    let mut theirs = api.clone();
    match (&mut theirs, local) {
        (Intent::OpenTradeReq(t), Intent::OpenTradeReq(l)) => {
            t._nonce = l._nonce;
            t._deadline = l._deadline;
            t._t.openPrice = l._t.openPrice;
        }
        (Intent::CloseTradeReq(t), Intent::CloseTradeReq(l)) => {
            t._nonce = l._nonce;
            t._deadline = l._deadline;
        }
        _ => return Err(DomainError::Internal(format!("Veranta built a {} for a {}: refusing to sign", api.kind(), local.kind()))),
    }
    if theirs.digest(domain) == local.digest(domain) {
        return Ok(());
    }
    Err(DomainError::Internal(format!(
        "Veranta's {} differs from the locally built one ({}): refusing to sign",
        local.kind(),
        first_difference(&theirs, local)
    )))
}

/// Takes over the open timestamp and expected price the builder filled in where the request
/// gave none (the venue knows them; both only guard a close).
pub fn adopt_close_defaults(local: &mut Intent, api: &Intent, r: &CloseRequest) {
    if let (Intent::CloseTradeReq(l), Intent::CloseTradeReq(a)) = (local, api) {
        if r.open_timestamp.is_none() {
            l._openTimestamp = a._openTimestamp;
        }
        if r.expected_price.is_none() {
            l._wantedPrice = a._wantedPrice;
        }
    }
}

fn first_difference(a: &Intent, b: &Intent) -> &'static str {
    match (a, b) {
        (Intent::OpenTradeReq(a), Intent::OpenTradeReq(b)) => {
            let (x, y) = (&a._t, &b._t);
            [
                ("trader", x.trader == y.trader),
                ("pairIndex", x.pairIndex == y.pairIndex),
                ("buy (side)", x.buy == y.buy),
                ("positionSizeUSDC (collateral)", x.positionSizeUSDC == y.positionSizeUSDC),
                ("leverage", x.leverage == y.leverage),
                ("tp", x.tp == y.tp),
                ("sl", x.sl == y.sl),
                ("_slippageP", a._slippageP == b._slippageP),
                ("_type", a._type == b._type),
                ("index", x.index == y.index),
                ("initialPosToken", x.initialPosToken == y.initialPosToken),
                ("timestamp", x.timestamp == y.timestamp),
            ]
            .into_iter()
            .find(|(_, same)| !same)
            .map_or("a field", |(f, _)| f)
        }
        (Intent::CloseTradeReq(a), Intent::CloseTradeReq(b)) => [
            ("_trader", a._trader == b._trader),
            ("_pairIndex", a._pairIndex == b._pairIndex),
            ("_index", a._index == b._index),
            ("_amount (collateral)", a._amount == b._amount),
            ("_openTimestamp", a._openTimestamp == b._openTimestamp),
            ("_wantedPrice", a._wantedPrice == b._wantedPrice),
        ]
        .into_iter()
        .find(|(_, same)| !same)
        .map_or("a field", |(f, _)| f),
        _ => "the kind",
    }
}
