//! The adapters' own error: which AWS call failed, what the caller should do about it, and the
//! SDK's error kept as its [`source`](std::error::Error::source) (the whole chain down to the
//! connector's I/O error).
//!
//! It becomes a [`DomainError`] at the port (`From<AwsError>`), which is also where the full
//! chain is logged, once. The domain error's text is the same as before the chain was kept: the
//! callers and their tests match on it.

use std::error::Error as StdError;

use vanta_domain::DomainError;

/// What the caller should do about a failed call (the [`DomainError`] it becomes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsErrorKind {
    /// A condition failed (expected by conditional writes; not logged as a problem).
    Conflict,
    /// Try again later: throttling, 5xx, timeouts, connection failures.
    Unavailable,
    /// The data is not ours to open (a sealed secret under another key or context).
    Forbidden,
    /// Our configuration or a request that could not be built.
    Internal,
}

/// One failed AWS SDK call.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct AwsError {
    kind: AwsErrorKind,
    /// The text of the domain error (no secrets: SDK errors carry no credentials).
    message: String,
    #[source]
    source: Option<Box<dyn StdError + Send + Sync + 'static>>,
}

impl AwsError {
    pub fn new(kind: AwsErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into(), source: None }
    }

    /// The SDK's error (or any other cause) as the source.
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    pub fn kind(&self) -> AwsErrorKind {
        self.kind
    }

    /// This error and every source, `": "`-joined (a source whose text is already in the line
    /// is skipped: the SDK's layers often repeat their cause).
    pub fn chain(&self) -> String {
        error_chain(self)
    }
}

pub use vanta_domain::error::error_chain;

impl From<AwsError> for DomainError {
    fn from(e: AwsError) -> Self {
        let chain = e.chain();
        match e.kind {
            AwsErrorKind::Conflict => tracing::debug!(error = %chain, "aws call: condition failed"),
            AwsErrorKind::Unavailable => tracing::warn!(error = %chain, "aws call unavailable"),
            AwsErrorKind::Forbidden | AwsErrorKind::Internal => tracing::error!(error = %chain, "aws call failed"),
        }
        match e.kind {
            AwsErrorKind::Conflict => DomainError::Conflict(e.message),
            AwsErrorKind::Unavailable => DomainError::Unavailable(e.message),
            AwsErrorKind::Forbidden => DomainError::Forbidden(e.message),
            AwsErrorKind::Internal => DomainError::Internal(e.message),
        }
    }
}
