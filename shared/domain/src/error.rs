//! The one error type at the domain boundary, with the retry classification that the SQS batch
//! handler and the HTTP/Lambda error mapping rely on.

/// Everything that can go wrong, by what the caller should do about it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DomainError {
    /// Bad input. Terminal: tell the user why (HTTP 400/422, a Telegram reply).
    #[error("{0}")]
    Invalid(String),
    /// Refused by policy (risk engine, exec mode, pause). Terminal; the reason is for the user.
    #[error("{0}")]
    Refused(String),
    /// Not allowed for this user. Terminal.
    #[error("not allowed: {0}")]
    Forbidden(String),
    /// The thing asked for does not exist. Terminal.
    #[error("not found: {0}")]
    NotFound(String),
    /// A conditional write lost: the item exists already or is not in the expected state.
    /// Terminal for the write that lost; the caller re-reads to learn what happened.
    #[error("conflict: {0}")]
    Conflict(String),
    /// A dependency failed transiently (throttling, timeout before anything was sent). Retryable.
    #[error("unavailable: {0}")]
    Unavailable(String),
    /// A request may or may not have taken effect (timeout after sending). Never retried blindly:
    /// the venue is reconciled first.
    #[error("outcome unknown: {0}")]
    Ambiguous(String),
    /// A bug or a broken invariant. Retryable once (it may be a bad instance), then the DLQ.
    #[error("internal error: {0}")]
    Internal(String),
}

/// `e` and its sources, `": "`-joined: how a boundary error (an SDK's, an HTTP client's) is
/// logged once, whole. A source whose text is already in the line is skipped (layered errors
/// often repeat their cause). Not redacted: a chain that may hold a URL goes through the chain
/// crate's `redact_urls`.
pub fn error_chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut out = e.to_string();
    let mut next = e.source();
    while let Some(s) = next {
        let text = s.to_string();
        if !text.is_empty() && !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        next = s.source();
    }
    out
}

/// How a venue adapter ends a refusal its own check made before anything was signed or sent
/// (the direct route refusing tx-builder calldata that differs from the order, targets another
/// contract, …): see [`DomainError::refused_before_signing`].
const NOT_SIGNED: &str = ": not signed";

impl DomainError {
    /// A refusal by one of our own checks of an order before anything was signed or sent: the
    /// pipeline counts it as refused (a rule said no), never as a failed trade.
    pub fn refused_before_signing(why: impl std::fmt::Display) -> Self {
        DomainError::Refused(format!("{why}{NOT_SIGNED}"))
    }
    /// Whether this is a [`DomainError::refused_before_signing`].
    pub fn is_refused_before_signing(&self) -> bool {
        matches!(self, DomainError::Refused(m) if m.ends_with(NOT_SIGNED))
    }
    /// Whether the same operation may simply be tried again.
    pub fn is_retryable(&self) -> bool {
        matches!(self, DomainError::Unavailable(_) | DomainError::Internal(_))
    }
    /// Whether the error is the caller's (4xx) rather than ours (5xx).
    pub fn is_client_error(&self) -> bool {
        matches!(
            self,
            DomainError::Invalid(_)
                | DomainError::Refused(_)
                | DomainError::Forbidden(_)
                | DomainError::NotFound(_)
                | DomainError::Conflict(_)
        )
    }
}

pub type DomainResult<T> = Result<T, DomainError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("{text}")]
    struct Layer {
        text: &'static str,
        #[source]
        source: Option<Box<Layer>>,
    }

    #[test]
    fn an_error_chain_joins_every_source_once_and_skips_repeats() {
        let io = Layer { text: "connection refused", source: None };
        let repeat = Layer { text: "connection refused", source: Some(Box::new(io)) };
        let sdk = Layer { text: "dispatch failure", source: Some(Box::new(repeat)) };
        let top = Layer { text: "dynamodb GetItem failed", source: Some(Box::new(sdk)) };
        assert_eq!(error_chain(&top), "dynamodb GetItem failed: dispatch failure: connection refused");
        assert_eq!(error_chain(&Layer { text: "alone", source: None }), "alone");
    }

    #[test]
    fn a_refusal_before_signing_is_told_apart_from_other_refusals() {
        let e = DomainError::refused_before_signing("the tx-builder's calldata differs from the order in leverage");
        assert!(e.is_refused_before_signing());
        assert_eq!(e.to_string(), "the tx-builder's calldata differs from the order in leverage: not signed");
        assert!(!e.is_retryable());
        for other in [
            DomainError::Refused("the Avantis transaction t1 failed: execution reverted".into()),
            DomainError::Internal("x: not signed".into()),
        ] {
            assert!(!other.is_refused_before_signing(), "{other:?}");
        }
    }
}
