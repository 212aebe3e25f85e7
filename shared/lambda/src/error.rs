//! [`StartError`]: why a function cannot start with its configuration. Each variant names the
//! setting or step that failed and keeps what failed beneath it (the configuration error, the
//! domain error of an adapter's constructor, the SSM SDK error, the elapsed timer) as its
//! [`source`](std::error::Error::source).
//!
//! The texts never hold a secret: a parameter's NAME, a setting's name and the service's error
//! code only (a secret's value is never put into an error; a keyed URL's parse error does not
//! echo the URL). `Debug` prints the whole chain, `": "`-joined: that is what a function's
//! `main` shows when its cold start fails.

use std::error::Error as StdError;

use vanta_domain::DomainError;
use vanta_runtime::ConfigError;

/// The SDK's error of an AWS call (`SdkError<…>`, boxed: it is large), as the source.
pub type SdkSource = Box<dyn StdError + Send + Sync + 'static>;

/// A cold-start failure: the function cannot run with this configuration.
#[derive(thiserror::Error)]
pub enum StartError {
    /// A setting is missing or malformed.
    #[error("invalid configuration")]
    Config(#[from] ConfigError),
    /// An adapter could not be built (a bad URL, a key KMS refused, an empty delegate pool…).
    #[error("the function's dependencies could not be built")]
    Wiring(#[from] DomainError),
    /// A named SSM parameter could not be read; `code` is the service's error code.
    #[error("{setting}: SSM parameter {name} could not be read ({code})")]
    SecretUnreadable {
        setting: &'static str,
        name: String,
        code: String,
        #[source]
        source: SdkSource,
    },
    /// SSM did not answer in time.
    #[error("{setting}: SSM did not answer within 10 s for parameter {name}")]
    SecretTimeout {
        setting: &'static str,
        name: String,
        #[source]
        source: tokio::time::error::Elapsed,
    },
    /// The parameter exists but holds nothing.
    #[error("{setting}: SSM parameter {name} is empty")]
    SecretEmpty { setting: &'static str, name: String },
    /// The parameter holds something of the wrong shape (`expected` says which; the value is
    /// never shown).
    #[error("{setting}: parameter {name} {expected}")]
    SecretMalformed { setting: &'static str, name: String, expected: &'static str },
    /// KMS did not answer in time (the delegate keys' public keys).
    #[error("KMS did not answer within 10 s at cold start")]
    KmsTimeout(#[source] tokio::time::error::Elapsed),
    /// A setting that must be a URL is not one (the URL itself is not repeated: it may be keyed).
    #[error("{setting} is not a URL")]
    NotAUrl {
        setting: &'static str,
        #[source]
        source: url::ParseError,
    },
    /// A `CHAINLINK_FEEDS` entry that is not an address.
    #[error("CHAINLINK_FEEDS: '{address}' is not an address")]
    NotAnAddress {
        address: String,
        #[source]
        source: Box<dyn StdError + Send + Sync + 'static>,
    },
    /// The delegate pool has no venue for its main key (a wiring bug).
    #[error("no venue for the main delegate key")]
    NoMainVenue,
    /// A function that reads no SSM parameter was given one (`names` lists the settings, never
    /// a value): a wiring mistake, said at once rather than ignored.
    #[error("the {function} reads no SSM parameter, but {names} is set")]
    UnexpectedSecret { function: &'static str, names: String },
}

impl StartError {
    /// This error and every source, `": "`-joined (a source whose text is already in the line
    /// is skipped: the SDK's layers often repeat their cause).
    pub fn chain(&self) -> String {
        vanta_domain::error::error_chain(self)
    }
}

impl std::fmt::Debug for StartError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.chain())
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]
    use super::*;

    /// A loopback port nothing listens on (bound, then released).
    fn closed_port() -> String {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        format!("http://127.0.0.1:{port}")
    }

    /// Every error of `e`'s `source()` chain, `e` first.
    fn sources<'a>(e: &'a (dyn StdError + 'static)) -> Vec<&'a (dyn StdError + 'static)> {
        let mut out = vec![e];
        let mut next = e.source();
        while let Some(s) = next {
            out.push(s);
            next = s.source();
        }
        out
    }

    #[tokio::test]
    async fn an_unreachable_ssm_keeps_the_sdk_error_down_to_the_io_error() {
        use aws_sdk_ssm::config::{BehaviorVersion, Credentials, Region};
        let conf = aws_sdk_ssm::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("test", "test", None, None, "test"))
            .endpoint_url(closed_port())
            .retry_config(aws_sdk_ssm::config::retry::RetryConfig::disabled())
            .build();
        let ssm = aws_sdk_ssm::Client::from_conf(conf);
        let err = crate::secrets::read(&ssm, crate::secrets::BOT_TOKEN_PARAM, "/vanta/t/bot-token").await.unwrap_err();
        assert!(matches!(&err, StartError::SecretUnreadable { name, .. } if name == "/vanta/t/bot-token"), "{err:?}");
        let chain = sources(&err);
        assert!(
            chain[1].downcast_ref::<aws_sdk_ssm::error::SdkError<aws_sdk_ssm::operation::get_parameter::GetParameterError>>().is_some()
        );
        assert!(chain.iter().any(|s| s.downcast_ref::<std::io::Error>().is_some()), "the chain reaches the I/O error: {err:?}");
        let shown = format!("{err:?}");
        assert!(shown.starts_with("TELEGRAM_BOT_TOKEN_PARAM: SSM parameter /vanta/t/bot-token could not be read"), "{shown}");
        assert!(shown.to_lowercase().contains("connection refused"), "Debug shows the whole chain: {shown}");
    }

    #[test]
    fn configuration_and_wiring_errors_are_the_source() {
        let err = StartError::from(ConfigError::Missing("TABLE_NAME"));
        let source = err.source().and_then(|s| s.downcast_ref::<ConfigError>());
        assert!(matches!(source, Some(ConfigError::Missing("TABLE_NAME"))), "{err:?}");
        assert_eq!(format!("{err:?}"), "invalid configuration: TABLE_NAME is required");

        let err = StartError::from(DomainError::Invalid("TELEGRAM_API_URL is not a URL".into()));
        assert!(err.source().and_then(|s| s.downcast_ref::<DomainError>()).is_some());
        assert!(err.chain().ends_with(": TELEGRAM_API_URL is not a URL"), "{}", err.chain());

        let err = StartError::NotAUrl { setting: "BASE_RPC_URL", source: "no scheme".parse::<url::Url>().unwrap_err() };
        assert!(err.source().and_then(|s| s.downcast_ref::<url::ParseError>()).is_some());
    }
}
