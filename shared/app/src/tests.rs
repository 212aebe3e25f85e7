#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::sync::Arc;

use vanta_domain::memory::{MemoryQueue, MemoryStore, RecordingChat};
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_runtime::Config;
use vanta_runtime::http::HttpRequest;

use crate::{Deps, api, schedule, telegram, worker};

fn deps_with(env: &[(&str, &str)]) -> Deps {
    let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let config = Config::from_lookup(|k| m.get(k).cloned()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    Deps::new(config, Arc::new(MemoryStore::new()), Arc::new(MemoryQueue::new(clock.clone())), Arc::new(RecordingChat::new()), clock)
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn health_routes_answer() {
    let d = deps_with(&[]);
    let r = api::handle(&d, HttpRequest::new("GET", "/healthz")).await;
    assert_eq!((r.status, r.body_json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(api::handle(&d, HttpRequest::new("GET", "/readyz")).await.status, 200);
    let h = api::handle(&d, HttpRequest::new("GET", "/health")).await.body_json();
    assert_eq!(h["exec_mode"], "DRY", "no operator setting means DRY");
    let m = api::handle(&d, HttpRequest::new("GET", "/metrics")).await;
    assert!(String::from_utf8_lossy(&m.body).contains("vanta_http_requests_total 4"));
}

#[tokio::test]
async fn unknown_routes_and_methods_say_why() {
    let d = deps_with(&[]);
    let r = api::handle(&d, HttpRequest::new("GET", "/nope")).await;
    assert_eq!(r.status, 404);
    assert!(r.body_json()["error"].as_str().unwrap().contains("/nope"));
    assert_eq!(api::handle(&d, HttpRequest::new("DELETE", "/healthz")).await.status, 405);
}

#[tokio::test]
async fn signals_are_refused_until_the_pipeline_exists_and_nothing_is_queued() {
    let d = deps_with(&[]);
    let r = api::handle(&d, HttpRequest::new("POST", "/signals").with_body("{}")).await;
    assert_eq!(r.status, 503);
    let big = vec![b'x'; 70_000];
    assert_eq!(api::handle(&d, HttpRequest::new("POST", "/signals").with_body(big)).await.status, 413);
}

fn telegram_fixture_request() -> HttpRequest {
    let ev: serde_json::Value = serde_json::from_str(&fixture("apigw-telegram-update.json")).unwrap();
    HttpRequest::new("POST", "/telegram").with_body(ev["body"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn telegram_needs_the_secret_and_dedupes_updates() {
    let d = deps_with(&[("TELEGRAM_WEBHOOK_SECRET", "local_dev_webhook_secret")]);
    let req = telegram_fixture_request();
    assert_eq!(telegram::handle(&d, req.clone()).await.status, 401, "missing secret");
    let bad = req.clone().with_header(telegram::SECRET_HEADER, "local_dev_webhook_secreT");
    assert_eq!(telegram::handle(&d, bad).await.status, 401, "wrong secret");
    let good = req.with_header(telegram::SECRET_HEADER, "local_dev_webhook_secret");
    assert_eq!(telegram::handle(&d, good.clone()).await.status, 200);
    assert_eq!(telegram::handle(&d, good).await.status, 200);
    let counts = d.metrics.render();
    assert!(counts.contains("vanta_telegram_updates_total 2") && counts.contains("vanta_telegram_duplicate_updates_total 1"), "{counts}");
}

#[tokio::test]
async fn telegram_without_a_configured_secret_refuses_everything() {
    let d = deps_with(&[]);
    let req = telegram_fixture_request().with_header(telegram::SECRET_HEADER, "");
    assert_eq!(telegram::handle(&d, req).await.status, 503);
}

#[tokio::test]
async fn telegram_acknowledges_unreadable_authentic_updates() {
    let d = deps_with(&[("TELEGRAM_WEBHOOK_SECRET", "s3cret")]);
    let req = HttpRequest::new("POST", "/telegram").with_header(telegram::SECRET_HEADER, "s3cret").with_body("not json");
    assert_eq!(telegram::handle(&d, req).await.status, 200, "Telegram would retry anything else forever");
}

#[tokio::test]
async fn worker_never_executes_yet_and_fails_so_nothing_is_lost() {
    let d = deps_with(&[]);
    let ev: serde_json::Value = serde_json::from_str(&fixture("sqs-signal.json")).unwrap();
    let body = ev["Records"][0]["body"].as_str().unwrap();
    let err = worker::handle_message(&d, body).await.unwrap_err();
    assert!(err.to_string().contains("intent"), "{err}");
    assert!(worker::handle_message(&d, "garbage").await.unwrap_err().to_string().contains("unreadable"));
}

#[tokio::test]
async fn scheduled_ticks_run() {
    let d = deps_with(&[]);
    assert_eq!(schedule::tpsl_tick(&d).await.unwrap().live_positions, 0);
    assert_eq!(schedule::indexer_tick(&d).await.unwrap().job, "indexer");
}

#[test]
fn lambda_events_convert_to_requests() {
    let req = lambda_request(&fixture("apigw-healthz.json"));
    assert_eq!((req.method.as_str(), req.path.as_str()), ("GET", "/healthz"));
    assert_eq!(req.source_ip.as_deref(), Some("198.51.100.7"));
    let tg = lambda_request(&fixture("apigw-telegram-update.json"));
    assert_eq!(tg.header(telegram::SECRET_HEADER), Some("local_dev_webhook_secret"));
    assert!(tg.body.starts_with(b"{\"update_id\":900001"));
}

fn lambda_request(json: &str) -> HttpRequest {
    let req = lambda_http::request::from_str(json).unwrap();
    vanta_runtime::http::from_lambda(req)
}
