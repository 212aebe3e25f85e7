//! The adapters' errors keep the SDK's error as their source, down to the connector's failure,
//! and the one log line at the port carries that chain.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::error::Error as StdError;
use std::sync::{Arc, Mutex};

use vanta_domain::DomainError;

use crate::error::{AwsError, AwsErrorKind};

/// A loopback port nothing listens on (bound, then released).
fn closed_port() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    format!("http://127.0.0.1:{port}")
}

/// Whether some error in `e`'s source chain is the connector's I/O error.
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

/// The domain error and what was logged while converting to it.
fn to_domain_logged(e: AwsError) -> (DomainError, String) {
    let out = Captured::default();
    let writer = out.clone();
    let subscriber =
        tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).with_max_level(tracing::Level::DEBUG).finish();
    let domain = tracing::subscriber::with_default(subscriber, || DomainError::from(e));
    let logs = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
    (domain, logs)
}

fn check(e: AwsError, expect_in_message: &str) {
    assert_eq!(e.kind(), AwsErrorKind::Unavailable, "{e:?}");
    assert!(e.source().is_some(), "the SDK's error is kept");
    assert!(reaches_io_error(&e), "the chain reaches the connector's I/O error: {}", e.chain());
    let chain = e.chain();
    assert!(chain.to_lowercase().contains("connection refused"), "{chain}");
    let (domain, logs) = to_domain_logged(e);
    assert!(matches!(&domain, DomainError::Unavailable(m) if m.contains(expect_in_message)), "{domain:?}");
    let lines: Vec<&str> = logs.lines().filter(|l| l.contains("aws call")).collect();
    assert_eq!(lines.len(), 1, "logged once: {logs}");
    assert!(lines[0].to_lowercase().contains("connection refused"), "the log line carries the chain: {logs}");
}

fn no_retries() -> aws_sdk_dynamodb::config::retry::RetryConfig {
    aws_sdk_dynamodb::config::retry::RetryConfig::disabled()
}

#[tokio::test]
async fn a_dynamodb_error_keeps_the_connection_failure_as_its_source() {
    use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(closed_port())
        .retry_config(no_retries())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(conf);
    let err = client.describe_table().table_name("t").send().await.unwrap_err();
    check(crate::dynamo::errors::sdk_error("DescribeTable", err), "dynamodb DescribeTable");
}

#[tokio::test]
async fn an_sqs_error_keeps_the_connection_failure_as_its_source() {
    use aws_sdk_sqs::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_sqs::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(closed_port())
        .retry_config(aws_sdk_sqs::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_sqs::Client::from_conf(conf);
    let err = client.send_message().queue_url("http://queue").message_body("x").send().await.unwrap_err();
    check(crate::sqs::sqs_adapter_error("queue send failed", err), "queue send failed");
}

#[tokio::test]
async fn a_kms_error_keeps_the_connection_failure_as_its_source_and_a_short_message() {
    use aws_sdk_kms::config::{BehaviorVersion, Credentials, Region};
    let conf = aws_sdk_kms::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(closed_port())
        .retry_config(aws_sdk_kms::config::retry::RetryConfig::disabled())
        .build();
    let client = aws_sdk_kms::Client::from_conf(conf);
    let err = client.decrypt().key_id("k").ciphertext_blob(aws_sdk_kms::primitives::Blob::new(vec![1u8])).send().await.unwrap_err();
    check(crate::kms_secrets::kms_adapter_error("Decrypt", err), "KMS Decrypt could not be reached");
}

#[test]
fn a_condition_failure_is_not_logged_as_a_problem() {
    let (domain, logs) = to_domain_logged(AwsError::new(AwsErrorKind::Conflict, "PutItem: the condition failed"));
    assert_eq!(domain, DomainError::Conflict("PutItem: the condition failed".into()));
    assert!(!logs.contains("WARN") && !logs.contains("ERROR"), "{logs}");
}
