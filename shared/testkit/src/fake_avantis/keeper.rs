//! The venue's keeper for the direct route: polls an RPC node (anvil) for new blocks and executes
//! the order a successful call to the trading contract carries.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use alloy::primitives::{Address, B256, U256};
use alloy::providers::{DynProvider, Provider};
use serde_json::Value;
use tokio::sync::watch;
use vanta_chain::avantis::trading_call::{TradingAction, TradingCall};
use vanta_chain::eip712::{CloseTradeReq, OpenTradeReq};

use super::book::{execute_close, execute_open};
use super::wire::{address, hex_bytes, intent_trade};
use super::{State, lock};

/// Executes the order a mined call carries (see [`FakeAvantis::report_mined_call`]): the
/// trading contract's ABI; a bare call trades for its sender, `delegatedAction` for the named
/// trader when the sender is an active delegate.
pub(super) fn execute_call(
    st: &mut State,
    tx_hash: B256,
    from: Address,
    to: Address,
    data: &[u8],
    block_timestamp: u64,
) -> Result<bool, String> {
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

pub(super) fn hex_u64(v: Option<&Value>) -> Option<u64> {
    let s = v?.as_str()?.strip_prefix("0x")?;
    u64::from_str_radix(s, 16).ok()
}

/// Polls the node for new blocks and executes the orders of successful calls to the target;
/// `progress` is told each block once it has been processed.
pub(super) async fn keeper_loop(provider: DynProvider, state: Arc<Mutex<State>>, mut next: u64, progress: watch::Sender<u64>) {
    loop {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let Ok(head) = provider.get_block_number().await else { continue };
        while next <= head {
            if keeper_block(&provider, &state, next).await.is_err() {
                break; // retried on the next poll (executions are per hash, never twice)
            }
            progress.send_replace(next);
            next += 1;
        }
    }
}

pub(super) async fn keeper_block(provider: &DynProvider, state: &Mutex<State>, number: u64) -> Result<(), String> {
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
