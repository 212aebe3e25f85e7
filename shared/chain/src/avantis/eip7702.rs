//! The EIP-7702 leg of a market order (`eip7702` of `POST /market/execute-batched`): the same
//! order as a pre-signed type-4 transaction, so the venue can execute either mechanism (its
//! operators switch between them; in EIP-7702 mode an intent-only order is refused).
//!
//! Layout, as the official client builds it: the signer's own EOA runs the Gelato delegation
//! template (ERC-7821 smart account). Its calldata is `execute(bytes32 mode, bytes
//! executionData)` with the op-data batch mode, `executionData = abi.encode(Call[] calls,
//! bytes opData)`, `opData = uint192 nonce key ‖ 65-byte signature` over the EIP-712
//! `Execute(bytes32 mode,Call[] calls,uint256 nonce)` in the domain `GelatoDelegation` / `0.0.1` /
//! chain / the EOA itself. The one call is the tx-builder's calldata for the order (checked
//! before, see [`super::trading_call`]). An EIP-7702 authorisation for the template, over the
//! EOA's protocol nonce, rides with every leg (idempotent once the code is set).
//! Byte-exact against the SDK's `eip7702_reference.json` (unit test below).

use alloy::eips::eip7702::Authorization;
use alloy::primitives::{Address, B256, Bytes, U256, address, b256};
use alloy::sol;
use alloy::sol_types::{Eip712Domain, SolCall, SolStruct, SolValue};
use serde_json::{Value, json};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{Purpose, Signer};

use super::AvantisClient;
use super::calldata::{CallData, CallOptions, open_body};
use super::intents::{CloseRequest, OpenRequest, signature_bytes};
use super::trading_call::{CallContext, OpenPriceRule, check_close, check_open};
use crate::signer::recover_address;

/// The Gelato delegation template the SDK authorises by default (same on Base and its testnet).
pub const DEFAULT_DELEGATION_TEMPLATE: Address = address!("5aF42746a8Af42d8a4708dF238C53F1F71abF0E0");
/// ERC-7821 batch call type, op-data execution mode.
pub const EXECUTION_MODE_OP_DATA: B256 = b256!("0100000000007821000100000000000000000000000000000000000000000000");
/// The gas limit the SDK puts on a leg when it cannot estimate.
pub const DEFAULT_LEG_GAS: u64 = 2_000_000;

sol! {
    /// One call of an ERC-7821 batch.
    #[derive(Debug, PartialEq, Eq)]
    struct Call {
        address to;
        uint256 value;
        bytes data;
    }

    /// What the smart account's owner signs.
    #[derive(Debug, PartialEq, Eq)]
    struct Execute {
        bytes32 mode;
        Call[] calls;
        uint256 nonce;
    }

    /// The smart account's entry point.
    #[derive(Debug, PartialEq, Eq)]
    function execute(bytes32 mode, bytes executionData) external payable;
}

/// The digest the EOA `account` signs for `calls` under exec nonce `nonce`.
pub fn execute_digest(account: Address, chain_id: u64, calls: &[Call], nonce: U256) -> B256 {
    let domain = Eip712Domain::new(Some("GelatoDelegation".into()), Some("0.0.1".into()), Some(U256::from(chain_id)), Some(account), None);
    Execute { mode: EXECUTION_MODE_OP_DATA, calls: calls.to_vec(), nonce }.eip712_signing_hash(&domain)
}

/// `execute(mode, abi.encode(calls, nonceKey ‖ signature))`; the nonce key is `nonce >> 64`.
pub fn encode_execute(calls: &[Call], nonce: U256, signature: &[u8; 65]) -> Vec<u8> {
    let key = (nonce >> 64usize).to_be_bytes::<32>();
    let mut op_data = key.get(8..).map(<[u8]>::to_vec).unwrap_or_default();
    op_data.extend_from_slice(signature);
    let execution_data = (calls.to_vec(), Bytes::from(op_data)).abi_encode_params();
    executeCall { mode: EXECUTION_MODE_OP_DATA, executionData: execution_data.into() }.abi_encode()
}

/// An `execute` calldata taken apart: the calls, the exec nonce and the owner's signature.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodedExecute {
    pub mode: B256,
    pub calls: Vec<Call>,
    pub nonce: U256,
    pub signature: [u8; 65],
}

impl DecodedExecute {
    pub fn decode(data: &[u8]) -> Result<Self, String> {
        let outer = executeCall::abi_decode_validate(data).map_err(|e| format!("not an execute(bytes32,bytes) call: {e}"))?;
        let (calls, op_data) = <(Vec<Call>, Bytes)>::abi_decode_params_validate(&outer.executionData)
            .map_err(|e| format!("executionData is not (Call[], bytes): {e}"))?;
        let (key, sig) = op_data.split_at_checked(24).ok_or("opData is shorter than its nonce key")?;
        let signature = <[u8; 65]>::try_from(sig).map_err(|_| format!("opData carries {} signature bytes, not 65", sig.len()))?;
        let mut word = [0u8; 32];
        if let Some(tail) = word.get_mut(8..) {
            tail.copy_from_slice(key);
        }
        Ok(Self { mode: outer.mode, calls, nonce: U256::from_be_bytes(word) << 64usize, signature })
    }
}

/// A fresh exec nonce: a key from the time (ms × 1000 + `salt` < 1000), sequence 0.
pub fn fresh_exec_nonce(now_ms: u64, salt: u16) -> U256 {
    (U256::from(now_ms) * U256::from(1000u16) + U256::from(salt % 1000)) << 64usize
}

/// The signed authorisation for `template` over the EOA nonce `nonce`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedAuthorization {
    pub address: Address,
    pub chain_id: u64,
    pub nonce: u64,
    pub r: U256,
    pub s: U256,
    pub y_parity: u8,
}

/// The digest an EIP-7702 authorisation signs: `keccak256(0x05 ‖ rlp([chain_id, address, nonce]))`.
pub fn authorization_digest(chain_id: u64, template: Address, nonce: u64) -> B256 {
    Authorization { chain_id: U256::from(chain_id), address: template, nonce }.signature_hash()
}

/// What the leg is built from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LegTerms {
    pub chain_id: u64,
    pub template: Address,
    /// The EOA's protocol nonce the authorisation is signed over.
    pub account_nonce: u64,
    pub exec_nonce: U256,
    pub gas: u64,
}

/// A built leg (`RelayRequestParamsDto`: numbers as decimal strings, `yParity` a number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Eip7702Leg {
    pub account: Address,
    pub data: Vec<u8>,
    pub gas: u64,
    pub chain_id: u64,
    pub authorization: SignedAuthorization,
}

impl Eip7702Leg {
    pub fn body(&self) -> Value {
        let a = &self.authorization;
        json!({
            "chainId": self.chain_id.to_string(),
            "to": self.account.to_checksum(None),
            "data": format!("0x{}", alloy::hex::encode(&self.data)),
            "gas": self.gas.to_string(),
            "authorizationList": [{
                "address": a.address.to_checksum(None),
                "chainId": a.chain_id.to_string(),
                "nonce": a.nonce.to_string(),
                "r": format!("0x{}", alloy::hex::encode(a.r.to_be_bytes::<32>())),
                "s": format!("0x{}", alloy::hex::encode(a.s.to_be_bytes::<32>())),
                "yParity": a.y_parity,
                "v": (u16::from(a.y_parity) + 27).to_string(),
            }],
        })
    }
}

async fn sign_checked(signer: &dyn Signer, digest: B256, purpose: Purpose) -> DomainResult<alloy::primitives::Signature> {
    let sig = signer.sign_digest_for(digest, purpose).await?;
    if recover_address(digest, &sig)? != signer.address().address() {
        return Err(DomainError::Internal("the EIP-7702 signature does not recover to the signer".into()));
    }
    Ok(sig)
}

/// Signs the leg that runs `call` (already checked against the order) from `signer`'s EOA.
/// `purpose` is the order's (the key's gate decides by it, as for the intent).
pub async fn build_leg(signer: &dyn Signer, purpose: Purpose, call: &CallData, terms: LegTerms) -> DomainResult<Eip7702Leg> {
    let account = signer.address().address();
    let calls = [Call { to: call.to, value: call.value, data: call.data.clone() }];
    let sig = sign_checked(signer, execute_digest(account, terms.chain_id, &calls, terms.exec_nonce), purpose).await?;
    let data = encode_execute(&calls, terms.exec_nonce, &signature_bytes(&sig));
    let auth_sig = sign_checked(signer, authorization_digest(terms.chain_id, terms.template, terms.account_nonce), purpose).await?;
    Ok(Eip7702Leg {
        account,
        data,
        gas: terms.gas,
        chain_id: terms.chain_id,
        authorization: SignedAuthorization {
            address: terms.template,
            chain_id: terms.chain_id,
            nonce: terms.account_nonce,
            r: auth_sig.r(),
            s: auth_sig.s(),
            y_parity: u8::from(auth_sig.v()),
        },
    })
}

// ---------------------------------------------------------------------------------------------
// The relayer route: the order's calldata, checked, then the signed leg
// ---------------------------------------------------------------------------------------------

/// The EOA nonce the authorisation is signed over when no RPC is configured. A delegate key that
/// never sends a transaction (the relayer does) has nonce 0, as the official client assumes
/// without an RPC; a key that has sent transactions (the direct route's delegate, a trader's own
/// key) needs its nonce read ([`AuthorityNonce`]): a stale authorisation is skipped on-chain, so
/// the template is never set and the leg's call reverts.
pub const DELEGATE_ACCOUNT_NONCE: u64 = 0;

/// The authority's account (protocol) nonce an EIP-7702 authorisation must carry: the SDK reads
/// `eth_getTransactionCount(signer, "pending")` when it has an RPC (`execution/engine.py`).
#[async_trait::async_trait]
pub trait AuthorityNonce: Send + Sync {
    async fn account_nonce(&self, authority: Address) -> DomainResult<u64>;
}

/// [`AuthorityNonce`] over JSON-RPC ([`crate::rpc::provider_for`]): the pending transaction count.
#[derive(Clone)]
pub struct RpcAuthorityNonce {
    provider: alloy::providers::DynProvider,
    timeout: std::time::Duration,
}

impl std::fmt::Debug for RpcAuthorityNonce {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RpcAuthorityNonce").finish_non_exhaustive()
    }
}

impl RpcAuthorityNonce {
    /// Over `provider`, each read bounded by `timeout`.
    pub fn new(provider: alloy::providers::DynProvider, timeout: std::time::Duration) -> Self {
        Self { provider, timeout }
    }
}

#[async_trait::async_trait]
impl AuthorityNonce for RpcAuthorityNonce {
    async fn account_nonce(&self, authority: Address) -> DomainResult<u64> {
        use alloy::providers::Provider;
        let read = self.provider.get_transaction_count(authority).pending();
        match tokio::time::timeout(self.timeout, read).await {
            Ok(Ok(n)) => Ok(n),
            // The node's error text may carry the endpoint (an API key): never repeated.
            Ok(Err(e)) => {
                tracing::warn!(error = %crate::redact::redact_urls(&e.to_string()), "eth_getTransactionCount failed");
                Err(DomainError::Unavailable("the RPC node did not answer eth_getTransactionCount".into()))
            }
            Err(_) => Err(DomainError::Unavailable(format!("eth_getTransactionCount timed out after {:?}", self.timeout))),
        }
    }
}

impl AvantisClient {
    /// The tx-builder's calldata for the open `r` as the official client asks it for the leg
    /// (`/v2/trade/open` with the intent builder's fields, no `openPrice`: the venue resolves it;
    /// `delegate` when `signer` is not the trader), checked against `r` before anything is signed
    /// (the price within the order's slippage of our reference).
    pub async fn open_leg_calldata(&self, r: &OpenRequest, signer: TraderAddress) -> DomainResult<CallData> {
        let opts = CallOptions::signed_by(signer, r.trader);
        let mut body = open_body(r, &opts);
        if let Some(o) = body.as_object_mut() {
            o.remove("openPrice");
        }
        let call = self.build_calldata("trade/open", &body, Some(signer.address())).await?;
        let ctx = CallContext { router: self.meta().await?.trading_router, signer: signer.address() };
        check_open(&call, r, OpenPriceRule::WithinSlippage, ctx)?;
        Ok(call)
    }

    /// The tx-builder's calldata for the close `r` (`/v2/trade/close`), checked against `r`.
    pub async fn close_leg_calldata(&self, r: &CloseRequest, signer: TraderAddress) -> DomainResult<CallData> {
        let call = self.close_calldata(r, &CallOptions::signed_by(signer, r.trader)).await?;
        let ctx = CallContext { router: self.meta().await?.trading_router, signer: signer.address() };
        check_close(&call, r, ctx)?;
        Ok(call)
    }

    /// Signs the leg running `call` from `signer`'s EOA (exec nonce from `now_ms`), authorised
    /// over [`DELEGATE_ACCOUNT_NONCE`] (a fresh delegate key).
    pub async fn sign_leg(&self, call: &CallData, signer: &dyn Signer, purpose: Purpose, now_ms: u64) -> DomainResult<Eip7702Leg> {
        self.sign_leg_at(call, signer, purpose, now_ms, DELEGATE_ACCOUNT_NONCE).await
    }

    /// [`Self::sign_leg`] with the authorisation over the EOA's account nonce `account_nonce`.
    pub async fn sign_leg_at(
        &self,
        call: &CallData,
        signer: &dyn Signer,
        purpose: Purpose,
        now_ms: u64,
        account_nonce: u64,
    ) -> DomainResult<Eip7702Leg> {
        let terms = LegTerms {
            chain_id: self.cfg.chain_id,
            template: DEFAULT_DELEGATION_TEMPLATE,
            account_nonce,
            exec_nonce: fresh_exec_nonce(now_ms, rand::random::<u16>()),
            gas: DEFAULT_LEG_GAS,
        };
        build_leg(signer, purpose, call, terms).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use std::str::FromStr;

    use secrecy::SecretString;

    use super::*;
    use crate::signer::LocalKeySigner;

    /// `../shared/avantis/vectors/eip7702_reference.json` (located by `build.rs`).
    fn reference() -> Value {
        let path = std::path::Path::new(env!("VANTA_SHARED_AVANTIS")).join("vectors/eip7702_reference.json");
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn the_selector_is_erc7821_execute() {
        assert_eq!(executeCall::SELECTOR, [0xe9, 0xae, 0x5c, 0x53]);
    }

    #[tokio::test]
    #[cfg_attr(not(vanta_shared), ignore = "../shared/avantis is not present")]
    async fn smart_account_calldata_and_authorisation_match_the_sdk_vector() {
        let v = reference();
        let key = v["privateKey"].as_str().unwrap().trim_start_matches("0x").to_owned();
        let signer = LocalKeySigner::from_secret_hex(&SecretString::from(key)).unwrap();
        let owner = Address::from_str(v["owner"].as_str().unwrap()).unwrap();
        assert_eq!(Signer::address(&signer).address(), owner);
        let chain_id = v["chainId"].as_u64().unwrap();
        let calls: Vec<Call> = v["calls"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| Call {
                to: Address::from_str(c["to"].as_str().unwrap()).unwrap(),
                value: U256::from_str(c["value"].as_str().unwrap()).unwrap(),
                data: Bytes::from_str(c["data"].as_str().unwrap()).unwrap(),
            })
            .collect();
        let nonce = U256::from_str(v["nonce"].as_str().unwrap()).unwrap();
        let sig = Signer::sign_digest(&signer, execute_digest(owner, chain_id, &calls, nonce)).await.unwrap();
        let data = encode_execute(&calls, nonce, &signature_bytes(&sig));
        assert_eq!(format!("0x{}", alloy::hex::encode(&data)), v["encodeCallData"].as_str().unwrap());
        let back = DecodedExecute::decode(&data).unwrap();
        assert_eq!((back.mode, back.calls, back.nonce), (EXECUTION_MODE_OP_DATA, calls, nonce));

        let a = &v["authorization"];
        let template = Address::from_str(a["address"].as_str().unwrap()).unwrap();
        assert_eq!(template, DEFAULT_DELEGATION_TEMPLATE);
        let auth = Signer::sign_digest(&signer, authorization_digest(chain_id, template, a["nonce"].as_u64().unwrap())).await.unwrap();
        assert_eq!(format!("0x{}", alloy::hex::encode(auth.r().to_be_bytes::<32>())), a["r"].as_str().unwrap());
        assert_eq!(format!("0x{}", alloy::hex::encode(auth.s().to_be_bytes::<32>())), a["s"].as_str().unwrap());
        assert_eq!(u64::from(auth.v()), a["yParity"].as_u64().unwrap());
    }

    #[tokio::test]
    async fn a_built_leg_decodes_to_the_checked_call() {
        let signer = LocalKeySigner::random().unwrap();
        let call = CallData {
            to: Address::repeat_byte(0x5f),
            data: Bytes::from_static(&[0x19, 0xcd, 0xe9, 0xa1, 1, 2, 3]),
            value: U256::from(7u8),
            from: None,
            chain_id: None,
            description: None,
        };
        let terms = LegTerms {
            chain_id: 31337,
            template: DEFAULT_DELEGATION_TEMPLATE,
            account_nonce: 0,
            exec_nonce: fresh_exec_nonce(1_760_000_000_000, 3),
            gas: DEFAULT_LEG_GAS,
        };
        let leg = build_leg(&signer, Purpose::Entry, &call, terms).await.unwrap();
        let body = leg.body();
        assert_eq!(body["to"], json!(Signer::address(&signer).address().to_checksum(None)));
        assert_eq!((body["chainId"].clone(), body["gas"].clone()), (json!("31337"), json!("2000000")));
        assert_eq!(body["authorizationList"][0]["nonce"], json!("0"));
        let d = DecodedExecute::decode(&leg.data).unwrap();
        assert_eq!(d.calls, vec![Call { to: call.to, value: call.value, data: call.data.clone() }]);
        assert_eq!(d.nonce, terms.exec_nonce);
        let sig = alloy::primitives::Signature::from_raw(&d.signature).unwrap();
        let digest = execute_digest(leg.account, 31337, &d.calls, d.nonce);
        assert_eq!(recover_address(digest, &sig).unwrap(), leg.account);
    }
}
