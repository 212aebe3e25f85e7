//! EIP-1271 checks over JSON-RPC against a real EVM: a contract wallet on anvil
//! (`tests/contracts/OwnerWallet.sol`, compiled artifact next to it) that accepts its owner
//! key's signature, refuses any other, and an EOA that has no code.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes, eip191_hash_message};
use alloy::providers::Provider;
use serde_json::{Value, json};
use vanta_chain::direct::DirectSender;
use vanta_chain::eip1271::RpcContractWallets;
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::DomainError;
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{ContractWallets, Signer};
use vanta_testkit::anvil::{Anvil, DEV_ADDRESS};

const WALLET_ARTIFACT: &str = include_str!("../contracts/OwnerWallet.json");

/// Deploys an `OwnerWallet` owned by `owner` from anvil's dev account.
async fn deploy_wallet(anvil: &Anvil, owner: Address) -> TraderAddress {
    let p = DirectSender::http_provider(&anvil.endpoint).unwrap();
    let artifact: Value = serde_json::from_str(WALLET_ARTIFACT).unwrap();
    let mut code = Bytes::from_str(artifact["bytecode"].as_str().unwrap()).unwrap().to_vec();
    code.extend_from_slice(B256::left_padding_from(owner.as_slice()).as_slice());
    let tx = json!({"from": DEV_ADDRESS, "data": Bytes::from(code), "gas": "0x200000"});
    let hash: B256 = p.raw_request("eth_sendTransaction".into(), (tx,)).await.unwrap();
    let r = crate::support::wait_receipt(&p, hash).await;
    assert!(r.status(), "deployment reverted: {r:?}");
    TraderAddress::new(r.contract_address.unwrap()).unwrap()
}

async fn personal_sign(key: &LocalKeySigner, message: &str) -> (B256, Vec<u8>) {
    let hash = eip191_hash_message(message.as_bytes());
    (hash, key.sign_digest(hash).await.unwrap().as_bytes().to_vec())
}

#[tokio::test]
async fn a_contract_wallet_accepts_its_owners_signature_only() {
    let anvil = Anvil::start().await.unwrap();
    let owner = LocalKeySigner::random().unwrap();
    let wallet = deploy_wallet(&anvil, owner.address().address()).await;
    let checker = RpcContractWallets::new(&anvil.endpoint).unwrap();
    let message = "vanta.example.com wants you to sign in with your Ethereum account:\n...";

    let (hash, sig) = personal_sign(&owner, message).await;
    assert_eq!(checker.is_valid_signature(wallet, hash, &sig).await.unwrap(), Some(true));

    let stranger = LocalKeySigner::random().unwrap();
    let (_, wrong) = personal_sign(&stranger, message).await;
    assert_eq!(checker.is_valid_signature(wallet, hash, &wrong).await.unwrap(), Some(false), "another key");
    let (other_hash, _) = personal_sign(&owner, "another message").await;
    assert_eq!(checker.is_valid_signature(wallet, other_hash, &sig).await.unwrap(), Some(false), "another hash");
    assert_eq!(checker.is_valid_signature(wallet, hash, &sig[..64]).await.unwrap(), Some(false), "a malformed signature");

    // An EOA has no code: recovery decides, not EIP-1271.
    assert_eq!(checker.is_valid_signature(owner.address(), hash, &sig).await.unwrap(), None);
}

#[tokio::test]
async fn an_unreachable_endpoint_is_unavailable_and_never_shows_its_url() {
    let port = vanta_testkit::net::free_port().unwrap();
    let url = format!("http://127.0.0.1:{port}/v2/SECRET-API-KEY");
    let checker = RpcContractWallets::new(&url).unwrap().with_timeout(Duration::from_secs(2));
    let wallet = TraderAddress::from_str("0x00000000000000000000000000000000000005af").unwrap();
    let e = checker.is_valid_signature(wallet, B256::ZERO, &[0u8; 65]).await.unwrap_err();
    assert!(matches!(e, DomainError::Unavailable(_)), "{e:?}");
    assert!(!e.to_string().contains("SECRET-API-KEY"), "{e}");
}

#[tokio::test]
async fn a_wallet_that_reverts_refuses() {
    // A contract whose every call reverts (runtime code: PUSH0 PUSH0 REVERT).
    let anvil = Anvil::start().await.unwrap();
    let p = DirectSender::http_provider(&anvil.endpoint).unwrap();
    let reverting: Address = "0x00000000000000000000000000000000000bad01".parse().unwrap();
    let _: Value = p.raw_request("anvil_setCode".into(), (reverting, Bytes::from_static(&[0x5f, 0x5f, 0xfd]))).await.unwrap();
    let checker = RpcContractWallets::new(&anvil.endpoint).unwrap();
    let r = checker.is_valid_signature(TraderAddress::new(reverting).unwrap(), B256::ZERO, &[1u8; 65]).await.unwrap();
    assert_eq!(r, Some(false));
}
