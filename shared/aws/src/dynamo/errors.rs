//! SDK errors → [`DomainError`], by what the caller should do about them.
//!
//! | SDK outcome | DomainError |
//! |---|---|
//! | `ConditionalCheckFailedException`, a transaction cancelled by a condition | `Conflict` |
//! | throttling, 5xx, transaction conflicts, timeouts, dispatch (connection) failures | `Unavailable` |
//! | a request the SDK could not build, a validation error, anything else | `Internal` |

use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use vanta_domain::DomainError;

use crate::error::{AwsError, AwsErrorKind};

/// Error codes that mean "try again later".
const TRANSIENT_CODES: &[&str] = &[
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "ThrottlingException",
    "Throttling",
    "InternalServerError",
    "InternalFailure",
    "ServiceUnavailable",
    "TransactionInProgressException",
    "TransactionConflictException",
    "LimitExceededException",
];

/// Cancellation reasons of one transaction item that mean "try again later".
const TRANSIENT_REASONS: &[&str] = &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded", "RequestLimitExceeded"];

const CONDITION_FAILED_CODE: &str = "ConditionalCheckFailedException";
const CONDITION_FAILED_REASON: &str = "ConditionalCheckFailed";

/// Maps a single-item operation's error. A failed condition becomes `Conflict`, which callers of
/// conditional writes match on (it is the only way such a write returns `Conflict`).
pub(crate) fn sdk<E>(op: &str, e: SdkError<E>) -> DomainError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    sdk_error(op, e).into()
}

/// [`sdk`] as the adapter's error, the SDK's error kept as its source.
pub(crate) fn sdk_error<E>(op: &str, e: SdkError<E>) -> AwsError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let (kind, message) = match &e {
        SdkError::ServiceError(se) => {
            let code = se.err().code().unwrap_or("");
            if code == CONDITION_FAILED_CODE {
                (AwsErrorKind::Conflict, format!("{op}: the condition failed"))
            } else if TRANSIENT_CODES.contains(&code) || se.raw().status().is_server_error() {
                (AwsErrorKind::Unavailable, format!("dynamodb {op}: {}", DisplayErrorContext(&e)))
            } else {
                (AwsErrorKind::Internal, format!("dynamodb {op}: {}", DisplayErrorContext(&e)))
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            (AwsErrorKind::Unavailable, format!("dynamodb {op}: {}", DisplayErrorContext(&e)))
        }
        _ => (AwsErrorKind::Internal, format!("dynamodb {op}: {}", DisplayErrorContext(&e))),
    };
    AwsError::new(kind, message).with_source(e)
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub(crate) enum TxError {
    /// Cancelled because at least one item's condition failed; `failed[i]` says whether item `i`'s
    /// did (empty when the service did not say which).
    Condition {
        failed: Vec<bool>,
    },
    Other(DomainError),
}

impl TxError {
    /// Whether item `i`'s condition is known to have failed.
    pub(crate) fn failed(&self, i: usize) -> bool {
        match self {
            TxError::Condition { failed } => failed.get(i).copied().unwrap_or(false),
            TxError::Other(_) => false,
        }
    }
}

impl From<TxError> for DomainError {
    fn from(e: TxError) -> Self {
        match e {
            TxError::Condition { .. } => DomainError::Conflict("a condition of the transaction failed".into()),
            TxError::Other(e) => e,
        }
    }
}

impl From<DomainError> for TxError {
    fn from(e: DomainError) -> Self {
        TxError::Other(e)
    }
}

pub(crate) fn transact(op: &str, e: SdkError<TransactWriteItemsError>) -> TxError {
    if let Some(TransactWriteItemsError::TransactionCanceledException(c)) = e.as_service_error() {
        let codes: Vec<&str> = c.cancellation_reasons().iter().map(|r| r.code().unwrap_or("None")).collect();
        if codes.contains(&CONDITION_FAILED_REASON) {
            return TxError::Condition { failed: codes.iter().map(|c| *c == CONDITION_FAILED_REASON).collect() };
        }
        if codes.is_empty() && c.message().is_some_and(|m| m.contains(CONDITION_FAILED_REASON)) {
            return TxError::Condition { failed: Vec::new() };
        }
        if codes.iter().any(|c| TRANSIENT_REASONS.contains(c)) {
            let message = format!("dynamodb {op}: transaction cancelled ({})", codes.join(", "));
            return TxError::Other(AwsError::new(AwsErrorKind::Unavailable, message).with_source(e).into());
        }
        let message = format!("dynamodb {op}: transaction cancelled ({})", codes.join(", "));
        return TxError::Other(AwsError::new(AwsErrorKind::Internal, message).with_source(e).into());
    }
    TxError::Other(sdk(op, e))
}
