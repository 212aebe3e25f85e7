//! [`HttpError`]: a failed HTTP read of a market-data service (Pyth's Hermes, the venue's price
//! feed, the venue's trade history). It keeps reqwest's error (down to the connector's I/O
//! error) as its [`source`](std::error::Error::source); where it becomes a [`DomainError`] the
//! whole chain is logged once, every URL cut to its host ([`crate::redact`]). The domain error's
//! text is the short one the callers always saw.

use vanta_domain::error::DomainError;

use crate::redact::{error_chain, redact_urls};

/// One failed HTTP call (sending it, or reading its answer).
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct HttpError {
    /// The domain error's text (reqwest's own text without the URL).
    message: String,
    #[source]
    source: reqwest::Error,
}

impl HttpError {
    /// `e` with its URL removed, described by `message` (given the URL-less error).
    pub fn new(e: reqwest::Error, message: impl FnOnce(&reqwest::Error) -> String) -> Self {
        let source = e.without_url();
        Self { message: message(&source), source }
    }

    /// This error and every source, `": "`-joined, URLs cut to their host.
    pub fn chain(&self) -> String {
        redact_urls(&error_chain(self))
    }
}

impl From<HttpError> for DomainError {
    fn from(e: HttpError) -> Self {
        tracing::warn!(error = %e.chain(), "HTTP read failed");
        DomainError::Unavailable(e.message)
    }
}
