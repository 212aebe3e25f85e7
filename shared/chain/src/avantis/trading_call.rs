//! The trading contract's entry points for market orders, as its ABI declares them
//! (`openTrade`, `closeTradeMarket`, and the delegate wrapper `delegatedAction`), and the check
//! that a tx-builder calldata is exactly the order that was asked for.
//!
//! The tx-builder (`POST /v2/trade/open`, `/v2/trade/close`) answers ready calldata; before it is
//! signed — as a direct transaction, or as the call inside a market order's EIP-7702 leg — it is
//! decoded with this ABI and every field is compared with the request: the target contract, the
//! function, who it acts for (the trader, or `delegatedAction(trader, …)` when a delegate signs),
//! pair, side, collateral, leverage, slippage, TP and SL (opens), trade index and amount
//! (closes). Any difference, or a function this module does not know, is `Refused` with the
//! field named: nothing is signed.
//!
//! Avantis v2 has no TP/SL calldata: the global TP/SL is a signed intent on the core API (the
//! public `updateTpAndSl` of v1 is gone), so no TP/SL function is accepted here.

use alloy::primitives::{Address, U256};
use alloy::sol;
use alloy::sol_types::SolCall;
use vanta_domain::error::{DomainError, DomainResult};

use super::calldata::CallData;
use super::intents::{CloseRequest, OpenRequest};

sol! {
    /// The position argument of `openTrade` (the trading storage's `Trade`).
    #[derive(Debug, PartialEq, Eq)]
    struct Trade {
        address trader;
        uint256 pairIndex;
        uint256 index;
        uint256 initialPosToken;
        uint256 positionSizeUSDC;
        uint256 openPrice;
        bool buy;
        uint256 leverage;
        uint256 tp;
        uint256 sl;
        uint256 timestamp;
    }

    /// Opens a trade (`_type` 0 market, 3 Upside/PnL market; `_slippageP` 1e10 per percent);
    /// `msg.value` is the execution fee.
    #[derive(Debug, PartialEq, Eq)]
    function openTrade(Trade t, uint8 _type, uint256 _slippageP) external payable returns (uint256 orderId);

    /// Closes `_amount` (USDC 1e6 of collateral) of the caller's trade `_index` on `_pairIndex`.
    #[derive(Debug, PartialEq, Eq)]
    function closeTradeMarket(uint256 _pairIndex, uint256 _index, uint256 _amount) external payable returns (uint256 orderId);

    /// A delegate runs `call_data` (another trading call) for `trader`.
    #[derive(Debug, PartialEq, Eq)]
    function delegatedAction(address trader, bytes call_data) external payable returns (bytes);
}

/// A decoded trading call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TradingAction {
    Open(Box<openTradeCall>),
    Close(closeTradeMarketCall),
}

/// A trading call as sent: the action, and the trader a delegate acts for when wrapped in
/// `delegatedAction`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradingCall {
    pub on_behalf_of: Option<Address>,
    pub action: TradingAction,
}

impl TradingCall {
    /// Decodes `data` (strictly: trailing or malformed bytes are refused). Only `openTrade`,
    /// `closeTradeMarket` and one level of `delegatedAction` around them are known.
    pub fn decode(data: &[u8]) -> Result<Self, String> {
        let selector = data.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()).ok_or("no function selector")?;
        if selector == delegatedActionCall::SELECTOR {
            let outer = delegatedActionCall::abi_decode_validate(data).map_err(|e| format!("malformed delegatedAction: {e}"))?;
            let action = decode_action(&outer.call_data)?;
            return Ok(Self { on_behalf_of: Some(outer.trader), action });
        }
        Ok(Self { on_behalf_of: None, action: decode_action(data)? })
    }

    /// The calldata of this call.
    pub fn encode(&self) -> Vec<u8> {
        let inner = match &self.action {
            TradingAction::Open(c) => c.abi_encode(),
            TradingAction::Close(c) => c.abi_encode(),
        };
        match self.on_behalf_of {
            Some(trader) => delegatedActionCall { trader, call_data: inner.into() }.abi_encode(),
            None => inner,
        }
    }

    /// The trader the call acts for when `sender` sends it.
    pub fn acting_for(&self, sender: Address) -> Address {
        self.on_behalf_of.unwrap_or(sender)
    }
}

fn decode_action(data: &[u8]) -> Result<TradingAction, String> {
    let selector = data.get(..4).and_then(|s| <[u8; 4]>::try_from(s).ok()).ok_or("no function selector")?;
    if selector == openTradeCall::SELECTOR {
        openTradeCall::abi_decode_validate(data).map(|c| TradingAction::Open(Box::new(c))).map_err(|e| format!("malformed openTrade: {e}"))
    } else if selector == closeTradeMarketCall::SELECTOR {
        closeTradeMarketCall::abi_decode_validate(data).map(TradingAction::Close).map_err(|e| format!("malformed closeTradeMarket: {e}"))
    } else {
        Err(format!("selector 0x{} is not a trading function Vanta signs", alloy::hex::encode(selector)))
    }
}

/// How the open price in an open's calldata is judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenPriceRule {
    /// We sent `openPrice`: the calldata must carry exactly it.
    Exact,
    /// The builder resolved it from its feed (market orders sent as the SDK sends them): it must
    /// lie within the order's slippage of our reference price.
    WithinSlippage,
}

/// Who signs and where the call must go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CallContext {
    /// The trading contract of `/v2/meta`.
    pub router: Address,
    /// Our key: the trader's own, or a delegate's (then the call must be wrapped for the trader).
    pub signer: Address,
}

fn refused(what: &str) -> DomainError {
    DomainError::refused_before_signing(format!("the tx-builder's calldata {what}"))
}

fn differs(field: &str, asked: impl std::fmt::Display, got: impl std::fmt::Display) -> DomainError {
    refused(&format!("differs from the order in {field} (asked {asked}, calldata has {got})"))
}

/// Target, function and the trader the call acts for.
fn decode_checked(call: &CallData, ctx: CallContext, trader: Address) -> DomainResult<TradingCall> {
    if call.to != ctx.router {
        return Err(refused(&format!("targets {}, not the trading contract {}", call.to, ctx.router)));
    }
    let decoded = TradingCall::decode(&call.data).map_err(|e| refused(&e))?;
    match decoded.on_behalf_of {
        None if ctx.signer != trader => {
            return Err(refused(&format!("is not wrapped in delegatedAction for {trader}, but Vanta's key {} is a delegate", ctx.signer)));
        }
        Some(_) if ctx.signer == trader => return Err(refused("wraps the trader's own call in delegatedAction")),
        Some(t) if t != trader => return Err(differs("the trader delegatedAction acts for", trader, t)),
        _ => {}
    }
    Ok(decoded)
}

/// Checks an open's calldata against `r` (see the module doc).
pub fn check_open(call: &CallData, r: &OpenRequest, price: OpenPriceRule, ctx: CallContext) -> DomainResult<()> {
    let trader = r.trader.address();
    let decoded = decode_checked(call, ctx, trader)?;
    let TradingAction::Open(c) = decoded.action else {
        return Err(refused("is not an openTrade call (a market open was asked)"));
    };
    let t = &c.t;
    if t.trader != trader {
        return Err(differs("the trade's trader", trader, t.trader));
    }
    let u = |v: u64| U256::from(v);
    let checks: [(&str, U256, U256); 10] = [
        ("pair", u(u64::from(r.pair.0)), t.pairIndex),
        ("side (1 = long)", u(u64::from(r.side.is_buy())), u(u64::from(t.buy))),
        ("collateral (USDC 1e6)", u(r.collateral.raw()), t.positionSizeUSDC),
        ("leverage (1e10)", u(r.leverage.raw()), t.leverage),
        ("slippage (1e10 per percent)", u(r.slippage.raw()), c._slippageP),
        ("take profit (1e10)", u(r.tp.map_or(0, |p| p.raw())), t.tp),
        ("stop loss (1e10)", u(r.sl.map_or(0, |p| p.raw())), t.sl),
        ("order type", u(if r.pnl { 3 } else { 0 }), u(u64::from(c._type))),
        ("trade index", U256::ZERO, t.index),
        ("initial position token", U256::ZERO, t.initialPosToken),
    ];
    if let Some((field, asked, got)) = checks.iter().find(|(_, a, g)| a != g) {
        return Err(differs(field, asked, got));
    }
    let reference = u(r.open_price.raw());
    match price {
        OpenPriceRule::Exact if t.openPrice != reference => return Err(differs("open price (1e10)", reference, t.openPrice)),
        OpenPriceRule::WithinSlippage if !within_slippage(reference, t.openPrice, c._slippageP) => {
            return Err(refused(&format!(
                "opens at {} (1e10), outside the order's {} (1e10 %) slippage of the reference price {reference}",
                t.openPrice, c._slippageP
            )));
        }
        _ => {}
    }
    Ok(())
}

/// `|price − reference| ≤ reference × slippageP / (100 × 1e10)`, exactly.
fn within_slippage(reference: U256, price: U256, slippage_p: U256) -> bool {
    let gap = if price > reference { price - reference } else { reference - price };
    match (gap.checked_mul(U256::from(1_000_000_000_000u64)), reference.checked_mul(slippage_p)) {
        (Some(lhs), Some(rhs)) => lhs <= rhs,
        _ => false,
    }
}

/// Checks a close's calldata against `r`.
pub fn check_close(call: &CallData, r: &CloseRequest, ctx: CallContext) -> DomainResult<()> {
    let trader = r.trader.address();
    let decoded = decode_checked(call, ctx, trader)?;
    let TradingAction::Close(c) = decoded.action else {
        return Err(refused("is not a closeTradeMarket call (a market close was asked)"));
    };
    let checks: [(&str, U256, U256); 3] = [
        ("pair", U256::from(r.pair.0), c._pairIndex),
        ("trade index", U256::from(r.trade_index), c._index),
        ("collateral to close (USDC 1e6)", U256::from(r.collateral.raw()), c._amount),
    ];
    if let Some((field, asked, got)) = checks.iter().find(|(_, a, g)| a != g) {
        return Err(differs(field, asked, got));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic, clippy::type_complexity)]
    use std::str::FromStr;

    use alloy::primitives::{Bytes, address};
    use vanta_domain::ids::TraderAddress;
    use vanta_domain::market::{PairIndex, Side};
    use vanta_domain::money::{Leverage, Price, SlippageP, Usdc};

    use super::*;

    const ROUTER: Address = address!("5FbDB2315678afecb367f032d93F642f64180aa3");
    const TRADER: Address = address!("1111111111111111111111111111111111111111");
    const DELEGATE: Address = address!("2222222222222222222222222222222222222222");

    #[test]
    fn selectors_are_the_trading_contracts() {
        // keccak256 of the canonical signatures (the reference lists the same four bytes).
        assert_eq!(openTradeCall::SELECTOR, [0x19, 0xcd, 0xe9, 0xa1]);
        assert_eq!(closeTradeMarketCall::SELECTOR, [0x2c, 0x3c, 0xbc, 0xe4]);
        assert_eq!(delegatedActionCall::SELECTOR, [0x9a, 0x10, 0xcc, 0x32]);
    }

    fn request() -> OpenRequest {
        OpenRequest {
            trader: TraderAddress::new(TRADER).unwrap(),
            pair: PairIndex(1),
            side: Side::Short,
            collateral: Usdc::from_str("250").unwrap(),
            leverage: Leverage::from_whole(5).unwrap(),
            open_price: Price::from_str("3000").unwrap(),
            slippage: SlippageP::from_str("0.5").unwrap(),
            tp: Some(Price::from_str("2500").unwrap()),
            sl: None,
            pnl: false,
            nonce: None,
        }
    }

    fn open_call(r: &OpenRequest) -> openTradeCall {
        openTradeCall {
            t: Trade {
                trader: r.trader.address(),
                pairIndex: U256::from(r.pair.0),
                index: U256::ZERO,
                initialPosToken: U256::ZERO,
                positionSizeUSDC: U256::from(r.collateral.raw()),
                openPrice: U256::from(r.open_price.raw()),
                buy: r.side.is_buy(),
                leverage: U256::from(r.leverage.raw()),
                tp: U256::from(r.tp.map_or(0, |p| p.raw())),
                sl: U256::ZERO,
                timestamp: U256::ZERO,
            },
            _type: 0,
            _slippageP: U256::from(r.slippage.raw()),
        }
    }

    fn calldata(data: Vec<u8>) -> CallData {
        CallData { to: ROUTER, data: Bytes::from(data), value: U256::ZERO, from: None, chain_id: None, description: None }
    }

    #[test]
    fn an_exact_open_passes_and_each_tampered_field_is_named() {
        let r = request();
        let own = CallContext { router: ROUTER, signer: TRADER };
        let good = TradingCall { on_behalf_of: None, action: TradingAction::Open(Box::new(open_call(&r))) };
        check_open(&calldata(good.encode()), &r, OpenPriceRule::Exact, own).unwrap();
        assert_eq!(TradingCall::decode(&good.encode()).unwrap(), good);

        let tampered: [(&str, fn(&mut openTradeCall)); 8] = [
            ("pair", |c| c.t.pairIndex = U256::from(2)),
            ("side", |c| c.t.buy = true),
            ("collateral", |c| c.t.positionSizeUSDC += U256::from(1)),
            ("leverage", |c| c.t.leverage *= U256::from(2)),
            ("slippage", |c| c._slippageP = U256::from(50_000_000_000u64)),
            ("take profit", |c| c.t.tp = U256::ZERO),
            ("stop loss", |c| c.t.sl = U256::from(1)),
            ("trader", |c| c.t.trader = DELEGATE),
        ];
        for (field, tamper) in tampered {
            let mut c = open_call(&r);
            tamper(&mut c);
            let data = TradingCall { on_behalf_of: None, action: TradingAction::Open(Box::new(c)) }.encode();
            let err = check_open(&calldata(data), &r, OpenPriceRule::Exact, own).unwrap_err();
            assert!(matches!(&err, DomainError::Refused(m) if m.contains(field) && m.contains("not signed")), "{field}: {err:?}");
            assert!(err.is_refused_before_signing(), "{field}: counted as a refusal, not a failure");
        }
    }

    #[test]
    fn the_open_price_is_exact_when_sent_and_within_slippage_when_resolved() {
        let r = request(); // reference 3000, slippage 0.5 % = 15
        let own = CallContext { router: ROUTER, signer: TRADER };
        let at = |price: &str| {
            let mut c = open_call(&r);
            c.t.openPrice = U256::from(Price::from_str(price).unwrap().raw());
            calldata(TradingCall { on_behalf_of: None, action: TradingAction::Open(Box::new(c)) }.encode())
        };
        assert!(check_open(&at("3001"), &r, OpenPriceRule::Exact, own).is_err());
        check_open(&at("3015"), &r, OpenPriceRule::WithinSlippage, own).unwrap();
        check_open(&at("2985"), &r, OpenPriceRule::WithinSlippage, own).unwrap();
        assert!(check_open(&at("3015.0001"), &r, OpenPriceRule::WithinSlippage, own).is_err());
    }

    #[test]
    fn delegates_need_the_wrapper_for_the_trader_and_unknown_calls_are_refused() {
        let r = request();
        let inner = TradingAction::Open(Box::new(open_call(&r)));
        let as_delegate = CallContext { router: ROUTER, signer: DELEGATE };
        let wrapped = TradingCall { on_behalf_of: Some(TRADER), action: inner.clone() }.encode();
        check_open(&calldata(wrapped.clone()), &r, OpenPriceRule::Exact, as_delegate).unwrap();
        let bare = TradingCall { on_behalf_of: None, action: inner.clone() }.encode();
        assert!(check_open(&calldata(bare), &r, OpenPriceRule::Exact, as_delegate).is_err());
        let other = TradingCall { on_behalf_of: Some(DELEGATE), action: inner }.encode();
        assert!(check_open(&calldata(other), &r, OpenPriceRule::Exact, as_delegate).is_err());
        // The trader's own key must not send a wrapped call.
        assert!(check_open(&calldata(wrapped.clone()), &r, OpenPriceRule::Exact, CallContext { router: ROUTER, signer: TRADER }).is_err());
        // Another contract, an unknown selector, trailing garbage.
        let elsewhere = CallData { to: DELEGATE, ..calldata(wrapped.clone()) };
        assert!(check_open(&elsewhere, &r, OpenPriceRule::Exact, as_delegate).is_err());
        let mut unknown = wrapped.clone();
        unknown[..4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
        let err = check_open(&calldata(unknown), &r, OpenPriceRule::Exact, as_delegate).unwrap_err();
        assert!(matches!(&err, DomainError::Refused(m) if m.contains("0xdeadbeef")), "{err:?}");
        let close = TradingCall {
            on_behalf_of: None,
            action: TradingAction::Close(closeTradeMarketCall { _pairIndex: U256::from(1), _index: U256::ZERO, _amount: U256::from(1) }),
        };
        assert!(check_open(&calldata(close.encode()), &r, OpenPriceRule::Exact, CallContext { router: ROUTER, signer: TRADER }).is_err());
    }

    #[test]
    fn a_close_is_compared_field_by_field() {
        let r = CloseRequest {
            trader: TraderAddress::new(TRADER).unwrap(),
            pair: PairIndex(4),
            trade_index: 2,
            collateral: Usdc::from_str("40").unwrap(),
            open_timestamp: None,
            expected_price: None,
            nonce: None,
        };
        let own = CallContext { router: ROUTER, signer: TRADER };
        let at = |pair: u64, index: u64, amount: u64| {
            let c = closeTradeMarketCall { _pairIndex: U256::from(pair), _index: U256::from(index), _amount: U256::from(amount) };
            calldata(TradingCall { on_behalf_of: None, action: TradingAction::Close(c) }.encode())
        };
        check_close(&at(4, 2, 40_000_000), &r, own).unwrap();
        for (bad, field) in [(at(5, 2, 40_000_000), "pair"), (at(4, 3, 40_000_000), "trade index"), (at(4, 2, 40_000_001), "collateral")] {
            let err = check_close(&bad, &r, own).unwrap_err();
            assert!(matches!(&err, DomainError::Refused(m) if m.contains(field)), "{field}: {err:?}");
        }
    }
}
