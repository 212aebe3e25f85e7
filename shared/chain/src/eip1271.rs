//! EIP-1271 over JSON-RPC: whether a contract wallet accepts a signature over a hash.
//!
//! `eth_getCode` tells a contract from an EOA; for a contract, `eth_call` of
//! `isValidSignature(bytes32 hash, bytes signature)` must return the magic value `0x1626ba7e`.
//! A revert or any other return value is a refusal; an RPC failure or a timeout is
//! `Unavailable` (the caller says "try again", never "verified").

use std::time::Duration;

use alloy::primitives::{Address, B256, Bytes};
use alloy::providers::{DynProvider, Provider};
use alloy::rpc::types::TransactionRequest;
use alloy::sol;
use alloy::sol_types::SolCall;
use async_trait::async_trait;
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::ContractWallets;
use vanta_domain::wallet::EIP1271_MAGIC;
use vanta_domain::{DomainError, DomainResult};

sol! {
    /// ERC-1271 (hand-written).
    interface IERC1271 {
        function isValidSignature(bytes32 hash, bytes signature) external view returns (bytes4 magicValue);
    }
}

/// The calldata of `isValidSignature(hash, signature)`.
pub fn is_valid_signature_calldata(hash: B256, signature: &[u8]) -> Vec<u8> {
    IERC1271::isValidSignatureCall { hash, signature: Bytes::copy_from_slice(signature) }.abi_encode()
}

/// Whether an `eth_call` return value is EIP-1271's "valid": the ABI-encoded `bytes4` magic value
/// (left-aligned in a 32-byte word; a bare 4-byte answer is accepted too).
pub fn is_magic(ret: &[u8]) -> bool {
    match ret.len() {
        4 => ret == EIP1271_MAGIC,
        32 => ret.get(..4) == Some(&EIP1271_MAGIC[..]) && ret.get(4..).is_some_and(|rest| rest.iter().all(|b| *b == 0)),
        _ => false,
    }
}

/// Contract-wallet checks through one RPC endpoint (`BASE_RPC_URL`).
pub struct RpcContractWallets {
    provider: DynProvider,
    /// Error texts show the endpoint's origin only (a provider URL often carries its key).
    redact: [String; 2],
    origin: String,
    timeout: Duration,
}

impl RpcContractWallets {
    pub fn new(rpc_url: &str) -> DomainResult<Self> {
        let url: url::Url = rpc_url.parse().map_err(|_| DomainError::Invalid("eip-1271: the RPC URL is not a URL".into()))?;
        let redact = [url.as_str().to_owned(), rpc_url.to_owned()];
        let origin = url.origin().ascii_serialization();
        // Its HTTP client is made on the first call (most cold starts never make one).
        let provider = crate::rpc::provider_for(url);
        Ok(Self { provider, redact, origin, timeout: Duration::from_secs(5) })
    }

    /// The time allowed for each RPC call (default 5 s).
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn unavailable(&self, what: &str, e: impl std::fmt::Display) -> DomainError {
        let e = self.redact.iter().fold(e.to_string(), |e, secret| e.replace(secret.as_str(), &self.origin));
        DomainError::Unavailable(format!("eip-1271 {what} failed: {e}"))
    }
}

#[async_trait]
impl ContractWallets for RpcContractWallets {
    async fn is_valid_signature(&self, wallet: TraderAddress, hash: B256, signature: &[u8]) -> DomainResult<Option<bool>> {
        let address: Address = wallet.address();
        let code = tokio::time::timeout(self.timeout, self.provider.get_code_at(address).into_future())
            .await
            .map_err(|_| DomainError::Unavailable("eip-1271: eth_getCode timed out".into()))?
            .map_err(|e| self.unavailable("eth_getCode", e))?;
        if code.is_empty() {
            return Ok(None);
        }
        let tx = TransactionRequest::default().to(address).input(is_valid_signature_calldata(hash, signature).into());
        match tokio::time::timeout(self.timeout, self.provider.call(tx).into_future()).await {
            Err(_) => Err(DomainError::Unavailable("eip-1271: eth_call timed out".into())),
            Ok(Ok(ret)) => Ok(Some(is_magic(&ret))),
            // A revert is the wallet's "no"; anything else (a rate limit, say) is the endpoint's trouble.
            Ok(Err(e)) if e.as_error_resp().is_some_and(|r| r.code == 3 || r.message.to_ascii_lowercase().contains("revert")) => {
                Ok(Some(false))
            }
            Ok(Err(e)) => Err(self.unavailable("eth_call", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::indexing_slicing)]
    use super::*;

    #[test]
    fn calldata_is_the_abi_encoding() {
        let hash = B256::repeat_byte(0x11);
        let data = is_valid_signature_calldata(hash, &[0xaa, 0xbb, 0xcc]);
        assert_eq!(&data[..4], &[0x16, 0x26, 0xba, 0x7e], "the selector is the magic value itself");
        assert_eq!(&data[4..36], hash.as_slice());
        assert_eq!(data[36..68][31], 0x40, "offset of the bytes argument");
        assert_eq!(data[68..100][31], 3, "its length");
        assert_eq!(&data[100..103], &[0xaa, 0xbb, 0xcc]);
        assert_eq!(data.len(), 4 + 32 * 4, "padded to a whole word");
    }

    #[test]
    fn only_the_magic_value_is_valid() {
        let mut word = [0u8; 32];
        word[..4].copy_from_slice(&EIP1271_MAGIC);
        assert!(is_magic(&word));
        assert!(is_magic(&EIP1271_MAGIC));
        word[31] = 1;
        assert!(!is_magic(&word));
        assert!(!is_magic(&[0u8; 32]));
        assert!(!is_magic(&[]));
        assert!(!is_magic(&[0xff, 0xff, 0xff, 0xff]));
    }
}
