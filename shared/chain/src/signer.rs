//! Signer adapters for the domain [`Signer`] port.
//!
//! - [`KmsSigner`]: the production signer; the key never leaves AWS KMS.
//! - [`LocalKeySigner`]: a private key in memory, for `make run` and tests only.
//!
//! Both return 65-byte signatures with low `s` and the recovery id, and refuse to return a
//! signature that does not recover to their address. Both also implement alloy's
//! [`TxSigner`] (with the same check), so the direct route can wrap them in an
//! [`EthereumWallet`] to sign EIP-1559 transactions.

use std::fmt;

use alloy::consensus::SignableTransaction;
use alloy::network::{EthereumWallet, TxSigner};
use alloy::primitives::{Address, B256, ChainId, Signature};
use alloy::signers::local::PrivateKeySigner;
use alloy::signers::{Signer as AlloySigner, SignerSync};
use alloy_signer_aws::{AwsSigner, AwsSignerError};
use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use secrecy::zeroize::Zeroizing;
use secrecy::{ExposeSecret, SecretString};
use vanta_domain::error::{DomainError, DomainResult};
use vanta_domain::ids::TraderAddress;
use vanta_domain::ports::{Purpose, Signer};

// ---------------------------------------------------------------------------------------------
// The purpose of transaction signatures
// ---------------------------------------------------------------------------------------------

tokio::task_local! {
    static TX_PURPOSE: Purpose;
}

/// Runs `f` with transaction signatures inside it made for `purpose`. alloy's [`TxSigner`] has no
/// room for it, so the direct route states it around each send and a gate reads it with
/// [`tx_purpose`].
pub async fn with_purpose<F: std::future::Future>(purpose: Purpose, f: F) -> F::Output {
    TX_PURPOSE.scope(purpose, f).await
}

/// The purpose stated by the innermost [`with_purpose`]; none stated counts as an entry.
pub fn tx_purpose() -> Purpose {
    TX_PURPOSE.try_with(|p| *p).unwrap_or(Purpose::Entry)
}

// ---------------------------------------------------------------------------------------------
// Checks shared by both signers
// ---------------------------------------------------------------------------------------------

/// The address that signed `digest` (no EIP-191 prefix, no hashing). A high-`s` signature
/// recovers like `ecrecover` does.
pub fn recover_address(digest: B256, signature: &Signature) -> DomainResult<Address> {
    signature
        .recover_address_from_prehash(&digest)
        .map_err(|e| DomainError::Invalid(format!("no signer can be recovered from the signature: {e}")))
}

/// Normalises `s` to the lower half (flipping the recovery id with it) and checks that the
/// signature recovers to `expected` over `digest`. Returns the normalised signature.
pub fn checked_signature(digest: B256, signature: Signature, expected: Address) -> DomainResult<Signature> {
    let signature = signature.normalized_s();
    let recovered = signature
        .recover_address_from_prehash(&digest)
        .map_err(|e| DomainError::Internal(format!("the signer returned an unrecoverable signature: {e}")))?;
    if recovered != expected {
        return Err(DomainError::Internal(format!("the signature recovers to {recovered}, not to the signer's address {expected}")));
    }
    Ok(signature)
}

/// Whether `s` is in the lower half of the curve order (EIP-2).
pub fn is_low_s(signature: &Signature) -> bool {
    signature.normalize_s().is_none()
}

// ---------------------------------------------------------------------------------------------
// KMS
// ---------------------------------------------------------------------------------------------

/// Signs with an AWS KMS `ECC_SECG_P256K1` / `SIGN_VERIFY` key. Build it once per cold start:
/// construction calls `GetPublicKey` and caches the key and address; each signature is one
/// `Sign` call (`MessageType=DIGEST`).
#[derive(Clone, Debug)]
pub struct KmsSigner {
    inner: AwsSigner,
    address: TraderAddress,
}

impl KmsSigner {
    /// `key_id` may be a key id, key ARN, alias name or alias ARN (prefer a key id or ARN: the
    /// address is cached, so retargeting an alias breaks signing). `chain_id` is used for
    /// transaction signing only.
    pub async fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>, chain_id: Option<ChainId>) -> DomainResult<Self> {
        let inner = AwsSigner::new(client, key_id.into(), chain_id).await.map_err(|e| aws_error("GetPublicKey", e))?;
        Self::from_aws_signer(inner)
    }

    /// Wraps an already-built alloy signer.
    pub fn from_aws_signer(inner: AwsSigner) -> DomainResult<Self> {
        let address = TraderAddress::new(AlloySigner::address(&inner))
            .map_err(|_| DomainError::Internal("the KMS key derives the zero address".into()))?;
        Ok(Self { inner, address })
    }

    /// The key's address. (Inherent, so `signer.address()` is not ambiguous between the domain
    /// port and alloy's `TxSigner`.)
    pub fn address(&self) -> TraderAddress {
        self.address
    }

    /// The alloy signer inside, for what needs the raw alloy API.
    pub fn aws_signer(&self) -> &AwsSigner {
        &self.inner
    }

    pub fn into_aws_signer(self) -> AwsSigner {
        self.inner
    }

    pub fn chain_id(&self) -> Option<ChainId> {
        AlloySigner::chain_id(&self.inner)
    }

    /// A wallet for an alloy provider; transactions are signed through [`TxSigner`] below.
    pub fn wallet(&self) -> EthereumWallet {
        EthereumWallet::new(self.clone())
    }
}

#[async_trait]
impl Signer for KmsSigner {
    fn address(&self) -> TraderAddress {
        self.address
    }

    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        let signature = self.inner.sign_hash(&digest).await.map_err(|e| alloy_error("Sign", e))?;
        checked_signature(digest, signature, self.address.address())
    }
}

#[async_trait]
impl TxSigner<Signature> for KmsSigner {
    fn address(&self) -> Address {
        self.address.address()
    }

    async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
        // The inner signer fills or checks the chain id before hashing, so hash afterwards.
        let signature = self.inner.sign_transaction(tx).await?;
        checked_signature(tx.signature_hash(), signature, self.address.address()).map_err(alloy::signers::Error::other)
    }
}

/// A failed KMS call of the signer: what the caller should do (the [`DomainError`] it becomes),
/// a short text (KMS codes, never key material) and alloy's or the SDK's error as the source.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct KmsError {
    retryable: bool,
    message: String,
    #[source]
    source: Box<dyn std::error::Error + Send + Sync + 'static>,
}

impl KmsError {
    fn new(retryable: bool, message: String, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        Self { retryable, message, source: Box::new(source) }
    }

    /// Whether asking again may succeed (`Unavailable`; otherwise `Internal`).
    pub fn is_retryable(&self) -> bool {
        self.retryable
    }
}

impl From<KmsError> for DomainError {
    /// Logs the whole chain (the one place it is logged) and keeps the short text.
    fn from(e: KmsError) -> Self {
        let chain = crate::redact::redact_urls(&crate::redact::error_chain(&e));
        if e.retryable {
            tracing::warn!(error = %chain, "KMS signer unavailable");
            DomainError::Unavailable(e.message)
        } else {
            tracing::error!(error = %chain, "KMS signer failed");
            DomainError::Internal(e.message)
        }
    }
}

/// Maps an alloy signer error (which boxes the [`AwsSignerError`]) to a domain error.
fn alloy_error(op: &str, e: alloy::signers::Error) -> DomainError {
    kms_alloy_error(op, e).into()
}

pub(crate) fn kms_alloy_error(op: &str, e: alloy::signers::Error) -> KmsError {
    let (retryable, message) = match &e {
        alloy::signers::Error::Other(inner) => match inner.downcast_ref::<AwsSignerError>() {
            Some(aws) => classify(op, aws),
            None => (false, format!("KMS {op} failed: {inner}")),
        },
        other => (false, format!("KMS {op} failed: {other}")),
    };
    KmsError::new(retryable, message, e)
}

fn aws_error(op: &str, e: AwsSignerError) -> DomainError {
    kms_signer_error(op, e).into()
}

pub(crate) fn kms_signer_error(op: &str, e: AwsSignerError) -> KmsError {
    let (retryable, message) = classify(op, &e);
    KmsError::new(retryable, message, e)
}

/// Whether the failure is worth retrying, and its short text.
fn classify(op: &str, e: &AwsSignerError) -> (bool, String) {
    match e {
        AwsSignerError::Sign(sdk) => sdk_error(op, sdk),
        AwsSignerError::GetPublicKey(sdk) => sdk_error(op, sdk),
        AwsSignerError::SignatureRecoveryFailed => (false, "KMS returned a signature that does not recover to the key's address".into()),
        AwsSignerError::SignatureNotFound | AwsSignerError::PublicKeyNotFound => (true, format!("KMS {op} answered without its result")),
        AwsSignerError::K256(_) | AwsSignerError::Spki(_) | AwsSignerError::Hex(_) => {
            (false, format!("KMS {op} answered something that is not a secp256k1 key or signature"))
        }
    }
}

/// KMS error codes worth retrying: throttling and KMS-side transient faults.
const TRANSIENT_CODES: &[&str] = &[
    "ThrottlingException",
    "ThrottledException",
    "TooManyRequestsException",
    "RequestLimitExceeded",
    "KMSInternalException",
    "DependencyTimeoutException",
    "KeyUnavailableException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
];

fn sdk_error<E: ProvideErrorMetadata>(op: &str, e: &SdkError<E>) -> (bool, String) {
    match e {
        // Sign and GetPublicKey change nothing, so asking again is always safe.
        SdkError::TimeoutError(_) => (true, format!("KMS {op} timed out")),
        SdkError::DispatchFailure(_) => (true, format!("KMS {op} could not be reached")),
        SdkError::ResponseError(_) => (true, format!("KMS {op} gave an unreadable response")),
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("unknown");
            let message = err.message().unwrap_or("");
            let status = se.raw().status();
            // Otherwise access denied, key not found/disabled/wrong usage, bad request: our
            // configuration.
            let retryable = TRANSIENT_CODES.contains(&code) || status.is_server_error() || status.as_u16() == 429;
            (retryable, format!("KMS {op}: {code}: {message}"))
        }
        SdkError::ConstructionFailure(_) => (false, format!("KMS {op} request could not be built")),
        _ => (false, format!("KMS {op} failed")),
    }
}

// ---------------------------------------------------------------------------------------------
// Local key (make run and tests only)
// ---------------------------------------------------------------------------------------------

/// Signs with a private key held in memory. For `make run` and tests only: production keys live
/// in KMS. `Debug` shows the address, never the key.
#[derive(Clone)]
pub struct LocalKeySigner {
    inner: PrivateKeySigner,
    address: TraderAddress,
}

impl LocalKeySigner {
    /// From 64 hex digits (with or without `0x`).
    pub fn from_secret_hex(key: &SecretString) -> DomainResult<Self> {
        let text = key.expose_secret().trim();
        let hex = text.strip_prefix("0x").or_else(|| text.strip_prefix("0X")).unwrap_or(text);
        let bad = || DomainError::Invalid("the local signing key must be 32 bytes as 64 hex digits".into());
        if hex.len() != 64 {
            return Err(bad());
        }
        let mut bytes = Zeroizing::new([0u8; 32]);
        alloy::hex::decode_to_slice(hex, bytes.as_mut_slice()).map_err(|_| bad())?;
        let inner = PrivateKeySigner::from_slice(bytes.as_slice())
            .map_err(|_| DomainError::Invalid("the local signing key is not a valid secp256k1 key".into()))?;
        Self::from_alloy(inner)
    }

    /// A fresh random key.
    pub fn random() -> DomainResult<Self> {
        Self::from_alloy(PrivateKeySigner::random())
    }

    /// Wraps an alloy local signer.
    pub fn from_alloy(inner: PrivateKeySigner) -> DomainResult<Self> {
        let address =
            TraderAddress::new(inner.address()).map_err(|_| DomainError::Internal("the local key derives the zero address".into()))?;
        Ok(Self { inner, address })
    }

    /// The key's address (inherent, like [`KmsSigner::address`]).
    pub fn address(&self) -> TraderAddress {
        self.address
    }

    /// Sets the chain id used for transaction signing.
    pub fn with_chain_id(mut self, chain_id: Option<ChainId>) -> Self {
        self.inner.set_chain_id(chain_id);
        self
    }

    pub fn chain_id(&self) -> Option<ChainId> {
        AlloySigner::chain_id(&self.inner)
    }

    /// The alloy signer inside.
    pub fn alloy_signer(&self) -> &PrivateKeySigner {
        &self.inner
    }

    /// A wallet for an alloy provider.
    pub fn wallet(&self) -> EthereumWallet {
        EthereumWallet::new(self.clone())
    }
}

impl fmt::Debug for LocalKeySigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalKeySigner")
            .field("address", &self.address.address())
            .field("chain_id", &self.chain_id())
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl Signer for LocalKeySigner {
    fn address(&self) -> TraderAddress {
        self.address
    }

    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        let signature = self.inner.sign_hash_sync(&digest).map_err(|e| DomainError::Internal(format!("local signing failed: {e}")))?;
        checked_signature(digest, signature, self.address.address())
    }
}

#[async_trait]
impl TxSigner<Signature> for LocalKeySigner {
    fn address(&self) -> Address {
        self.address.address()
    }

    async fn sign_transaction(&self, tx: &mut dyn SignableTransaction<Signature>) -> alloy::signers::Result<Signature> {
        let signature = TxSigner::sign_transaction(&self.inner, tx).await?;
        checked_signature(tx.signature_hash(), signature, self.address.address()).map_err(alloy::signers::Error::other)
    }
}
