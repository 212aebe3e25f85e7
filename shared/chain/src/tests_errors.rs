//! Adapter errors keep their source down to the connector's I/O error, and the one log line at
//! the port carries that chain (URLs cut to their host).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use vanta_domain::error::DomainError;

use crate::avantis::{AvantisClient, AvantisConfig, CallError, Safety, Service};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

fn reaches_io_error(e: &(dyn StdError + 'static)) -> bool {
    let mut next: Option<&(dyn StdError + 'static)> = Some(e);
    while let Some(s) = next {
        if s.downcast_ref::<std::io::Error>().is_some() {
            return true;
        }
        next = s.source();
    }
    false
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs `f` with a subscriber that captures the log text.
fn logged<T>(f: impl FnOnce() -> T) -> (T, String) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_max_level(tracing::Level::DEBUG).finish();
    let value = tracing::subscriber::with_default(subscriber, f);
    let logs = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (value, logs)
}

#[tokio::test]
async fn an_avantis_connect_failure_keeps_reqwests_error_and_logs_its_chain_once() {
    let base = closed_port();
    let mut cfg = AvantisConfig::new(format!("{base}/key/SECRET"), base.clone(), base.clone(), base.clone(), 31337);
    cfg.retries = 0;
    cfg.connect_timeout = Duration::from_secs(2);
    let client = AvantisClient::new(cfg).unwrap();
    let err = client.call(Service::TxBuilder, Method::GET, "/v2/meta", &[], None, Safety::Idempotent).await.unwrap_err();
    let CallError::NotSent(transport) = err.clone() else { panic!("{err:?}") };
    assert!(transport.source().is_some_and(|s| s.downcast_ref::<Arc<reqwest::Error>>().is_some()), "reqwest's error is the source");
    assert!(reaches_io_error(&transport), "{}", crate::redact::error_chain(&transport));

    let (domain, logs) = logged(|| err.for_read());
    assert!(matches!(&domain, DomainError::Unavailable(m) if m.contains("cannot connect")), "{domain:?}");
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("Avantis call failed")).collect();
    assert_eq!(lines.len(), 1, "logged once: {logs}");
    assert!(lines[0].to_lowercase().contains("connection refused"), "the chain reaches the I/O error: {logs}");
    assert!(!logs.contains("SECRET"), "URLs are cut to their host: {logs}");
}

#[tokio::test]
async fn a_kms_signer_failure_keeps_the_sdk_error_and_logs_its_chain_once() {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(closed_port())
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_kms::Client::from_conf(conf);
    let err = alloy_signer_aws::AwsSigner::new(client, "alias/vanta".to_owned(), None).await.unwrap_err();
    let err = crate::signer::kms_signer_error("GetPublicKey", err);
    assert!(err.is_retryable(), "{err:?}");
    assert!(reaches_io_error(&err), "{}", crate::redact::error_chain(&err));

    let (domain, logs) = logged(|| DomainError::from(err));
    assert_eq!(domain, DomainError::Unavailable("KMS GetPublicKey could not be reached".into()));
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("KMS signer")).collect();
    assert_eq!(lines.len(), 1, "logged once: {logs}");
    assert!(lines[0].to_lowercase().contains("connection refused"), "{logs}");
}

#[tokio::test]
async fn a_market_data_read_keeps_reqwests_error_and_logs_its_chain_once() {
    let base = closed_port();
    let http = reqwest::Client::builder().connect_timeout(Duration::from_secs(2)).build().unwrap();
    let err = http.get(format!("{base}/v2/updates/price/latest?key=SECRET")).send().await.unwrap_err();
    let err = crate::http_error::HttpError::new(err, |e| format!("pyth: {e}"));
    assert!(err.source().is_some_and(|s| s.downcast_ref::<reqwest::Error>().is_some()), "reqwest's error is the source");
    assert!(reaches_io_error(&err), "{}", err.chain());
    assert!(!err.chain().contains("SECRET"), "{}", err.chain());

    let (domain, logs) = logged(|| DomainError::from(err));
    assert!(matches!(&domain, DomainError::Unavailable(m) if m.starts_with("pyth: ")), "{domain:?}");
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("HTTP read failed")).collect();
    assert_eq!(lines.len(), 1, "logged once: {logs}");
    assert!(lines[0].to_lowercase().contains("connection refused"), "the chain reaches the I/O error: {logs}");
    assert!(!logs.contains("SECRET"), "{logs}");
}

#[tokio::test]
async fn pyth_history_and_the_venue_feed_fail_as_unavailable_through_that_error() {
    let base = closed_port();
    let pair = vanta_domain::market::PairSymbol::parse("ETH/USD").unwrap();
    let pyth = crate::prices::PythHermes::new(&base, [(pair.clone(), "ab".to_owned())].into_iter().collect()).unwrap();
    let err = vanta_domain::ports::Prices::quotes(&pyth, &pair).await.unwrap_err();
    assert!(matches!(&err, DomainError::Unavailable(m) if m.starts_with("pyth: ")), "{err:?}");
    let history = crate::history::HistoryClient::new(&base).unwrap();
    let err = history.page(vanta_domain::ids::TraderAddress::paper(*b"errors-test-trader!!"), 0, 10).await.unwrap_err();
    assert!(matches!(&err, DomainError::Unavailable(m) if m.starts_with("trade history: ")), "{err:?}");
}
