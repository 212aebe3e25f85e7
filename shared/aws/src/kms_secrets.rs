//! The master key of signal-source secrets in AWS KMS: a symmetric key (`SOURCE_SECRETS_KEY_ID`)
//! that makes a fresh `AES_256` data key per secret (`GenerateDataKey`, in the bot) and unwraps it
//! (`Decrypt`, in the webhook), both under the encryption context `{"source": <id>}`. The
//! envelope itself (AES-256-GCM, the data-key cache) is [`vanta_domain::sealed::Envelope`].

use std::sync::Arc;

use async_trait::async_trait;
use aws_sdk_kms::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_kms::primitives::Blob;
use aws_sdk_kms::types::DataKeySpec;
use vanta_domain::ids::SourceId;
use vanta_domain::sealed::{DATA_KEY_LEN, DataKey, Envelope, KeyWrap, PlainKey};
use vanta_domain::time::Clock;
use vanta_domain::{DomainError, DomainResult};
use zeroize::Zeroizing;

use crate::error::{AwsError, AwsErrorKind};

/// The encryption context's one key.
pub const CONTEXT_KEY: &str = "source";

/// KMS as the [`KeyWrap`] of source secrets.
#[derive(Clone)]
pub struct KmsKeyWrap {
    client: aws_sdk_kms::Client,
    key_id: String,
}

impl KmsKeyWrap {
    /// `key_id`: the key's ARN (or id or alias). Not a secret.
    pub fn new(client: aws_sdk_kms::Client, key_id: impl Into<String>) -> Self {
        Self { client, key_id: key_id.into() }
    }
}

/// The envelope over KMS, as the Lambda wiring builds it.
pub fn kms_envelope(client: aws_sdk_kms::Client, key_id: impl Into<String>, clock: Arc<dyn Clock>) -> Envelope<KmsKeyWrap> {
    Envelope::new(KmsKeyWrap::new(client, key_id), clock)
}

/// Codes that mean "ask again later".
const TRANSIENT: &[&str] = &[
    "ThrottlingException",
    "LimitExceededException",
    "DependencyTimeoutException",
    "KMSInternalException",
    "KeyUnavailableException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "InternalFailure",
];

/// Codes that mean the wrapped key is not one this key made for this source: tampered, moved
/// to another source, or from another key.
const NOT_OURS: &[&str] = &["InvalidCiphertextException", "IncorrectKeyException"];

fn kms_error<E>(op: &str, e: SdkError<E>) -> DomainError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    kms_adapter_error(op, e).into()
}

/// The adapter's error for a failed KMS call: a short text (KMS codes, never key material) and
/// the SDK's error as the source.
pub(crate) fn kms_adapter_error<E>(op: &str, e: SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = match &e {
        SdkError::TimeoutError(_) => (AwsErrorKind::Unavailable, format!("KMS {op} timed out")),
        SdkError::DispatchFailure(_) => (AwsErrorKind::Unavailable, format!("KMS {op} could not be reached")),
        SdkError::ResponseError(_) => (AwsErrorKind::Unavailable, format!("KMS {op} gave an unreadable response")),
        SdkError::ServiceError(se) => {
            let err = se.err();
            let code = err.code().unwrap_or("unknown");
            let status = se.raw().status();
            if NOT_OURS.contains(&code) {
                (AwsErrorKind::Forbidden, format!("the sealed secret does not open (KMS {op}: {code})"))
            } else if TRANSIENT.contains(&code) || status.is_server_error() || status.as_u16() == 429 {
                (AwsErrorKind::Unavailable, format!("KMS {op}: {code}"))
            } else {
                // Access denied, key disabled or missing, wrong key usage: our configuration.
                (AwsErrorKind::Internal, format!("KMS {op}: {code}: {}", err.message().unwrap_or("")))
            }
        }
        _ => (AwsErrorKind::Internal, format!("KMS {op} failed")),
    };
    AwsError::new(kind, message).with_source(e)
}

fn key_of(bytes: &[u8]) -> DomainResult<PlainKey> {
    let key: [u8; DATA_KEY_LEN] =
        bytes.try_into().map_err(|_| DomainError::Internal(format!("KMS returned a {}-byte data key, not 32", bytes.len())))?;
    Ok(Zeroizing::new(key))
}

#[async_trait]
impl KeyWrap for KmsKeyWrap {
    async fn generate(&self, source: &SourceId) -> DomainResult<DataKey> {
        let out = self
            .client
            .generate_data_key()
            .key_id(&self.key_id)
            .key_spec(DataKeySpec::Aes256)
            .encryption_context(CONTEXT_KEY, source.as_str())
            .send()
            .await
            .map_err(|e| kms_error("GenerateDataKey", e))?;
        let plain = out.plaintext().ok_or_else(|| DomainError::Internal("KMS GenerateDataKey returned no plaintext".into()))?;
        let wrapped = out.ciphertext_blob().ok_or_else(|| DomainError::Internal("KMS GenerateDataKey returned no ciphertext".into()))?;
        Ok(DataKey { plain: key_of(plain.as_ref())?, wrapped: wrapped.as_ref().to_vec() })
    }

    async fn unwrap(&self, source: &SourceId, wrapped: &[u8]) -> DomainResult<PlainKey> {
        if wrapped.is_empty() {
            return Err(DomainError::Forbidden("the sealed secret does not open (no wrapped key)".into()));
        }
        let out = self
            .client
            .decrypt()
            // Named, so a blob made by any other key is refused rather than opened.
            .key_id(&self.key_id)
            .ciphertext_blob(Blob::new(wrapped.to_vec()))
            .encryption_context(CONTEXT_KEY, source.as_str())
            .send()
            .await
            .map_err(|e| kms_error("Decrypt", e))?;
        let plain = out.plaintext().ok_or_else(|| DomainError::Internal("KMS Decrypt returned no plaintext".into()))?;
        key_of(plain.as_ref())
    }

    fn kind(&self) -> &'static str {
        "kms"
    }
}
