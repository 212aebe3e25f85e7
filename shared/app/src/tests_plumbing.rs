#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Health, routes, the Telegram webhook's plumbing, the worker's failure paths and the scheduled ticks.

use crate::tests_support::*;

fn fixture(name: &str) -> String {
    std::fs::read_to_string(format!("{}/../../events/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[tokio::test]
async fn health_routes_answer() {
    let s = sys();
    let r = testing::call(&s.deps, TestRequest::new("GET", "/healthz")).await;
    assert_eq!((r.status, r.body_json()["status"].as_str()), (200, Some("ok")));
    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", "/readyz")).await.status, 200);
    let h = testing::call(&s.deps, TestRequest::new("GET", "/health")).await.body_json();
    assert_eq!(h["exec_mode"], "DRY", "no operator setting means DRY");
    let m = testing::call(&s.deps, TestRequest::new("GET", "/metrics")).await;
    assert!(String::from_utf8_lossy(&m.body).contains("vanta_http_requests_total 4"));
}

#[tokio::test]
async fn unknown_routes_and_methods_say_why() {
    let s = sys();
    let r = testing::call(&s.deps, TestRequest::new("GET", "/nope")).await;
    assert_eq!(r.status, 404);
    assert!(r.body_json()["error"].as_str().unwrap().contains("/nope"));
    assert_eq!(testing::call(&s.deps, TestRequest::new("DELETE", "/healthz")).await.status, 405);
}

fn telegram_fixture_request() -> TestRequest {
    let ev: serde_json::Value = serde_json::from_str(&fixture("apigw-telegram-update.json")).unwrap();
    TestRequest::new("POST", "/telegram").with_body(ev["body"].as_str().unwrap().to_owned())
}

#[tokio::test]
async fn telegram_needs_the_secret_and_dedupes_updates() {
    let s = sys_with(&[("TELEGRAM_WEBHOOK_SECRET", "local_dev_webhook_secret")]);
    let req = telegram_fixture_request();
    assert_eq!(testing::call(&s.deps, req.clone()).await.status, 401, "missing secret");
    let bad = req.clone().with_header(telegram::SECRET_HEADER, "local_dev_webhook_secreT");
    assert_eq!(testing::call(&s.deps, bad).await.status, 401, "wrong secret");
    let good = req.with_header(telegram::SECRET_HEADER, "local_dev_webhook_secret");
    assert_eq!(testing::call(&s.deps, good.clone()).await.status, 200);
    assert_eq!(testing::call(&s.deps, good).await.status, 200);
    let counts = s.deps.metrics.render();
    assert!(counts.contains("vanta_telegram_updates_total 2") && counts.contains("vanta_telegram_duplicate_updates_total 1"), "{counts}");
}

#[tokio::test]
async fn telegram_without_a_configured_secret_refuses_everything() {
    let s = sys();
    let req = telegram_fixture_request().with_header(telegram::SECRET_HEADER, "");
    assert_eq!(testing::call(&s.deps, req).await.status, 503);
}

#[tokio::test]
async fn telegram_acknowledges_unreadable_authentic_updates() {
    let s = sys_with(&[("TELEGRAM_WEBHOOK_SECRET", "s3cret")]);
    let req = TestRequest::new("POST", "/telegram").with_header(telegram::SECRET_HEADER, "s3cret").with_body("not json");
    assert_eq!(testing::call(&s.deps, req).await.status, 200, "Telegram would retry anything else forever");
}

#[tokio::test]
async fn worker_fails_unknown_and_unreadable_messages_so_they_reach_the_dlq() {
    let s = sys();
    let ev: serde_json::Value = serde_json::from_str(&fixture("sqs-signal.json")).unwrap();
    let body = ev["Records"][0]["body"].as_str().unwrap();
    let err = worker::handle_message(&s.deps, body).await.unwrap_err();
    assert!(err.to_string().contains("intent"), "{err}");
    assert!(worker::handle_message(&s.deps, "garbage").await.unwrap_err().to_string().contains("unreadable"));
}

#[tokio::test]
async fn the_last_delivery_records_why_the_intent_was_dropped() {
    let s = sys();
    // An intent whose user record is missing fails on every delivery.
    let order = OpenOrder {
        pair: PairSymbol::parse("BTC").unwrap(),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        tp: None,
        sl: None,
        slippage: None,
    };
    let id = IntentId::parse("tg:orphan").unwrap();
    let intent = vanta_domain::intent::Intent::new(
        id.clone(),
        TelegramUserId(99),
        Origin::Telegram { update_id: 1 },
        Action::Open(order),
        "h".into(),
        s.clock.now(),
    );
    s.store.create_intent(&intent).await.unwrap();
    let body = serde_json::json!({ "intent_id": id }).to_string();
    for n in 1..worker::MAX_RECEIVES {
        assert!(worker::handle_delivery(&s.deps, &body, n).await.is_err());
        assert_eq!(s.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Received, "kept for the next delivery");
    }
    assert!(worker::handle_delivery(&s.deps, &body, worker::MAX_RECEIVES).await.is_err(), "still failed: SQS moves it to the DLQ");
    let i = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Failed);
    assert!(i.reason.unwrap().contains(&format!("gave up after {} attempts", worker::MAX_RECEIVES)));
}

#[tokio::test]
async fn scheduled_ticks_run() {
    let s = sys();
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().live_positions, 0);
    assert_eq!(schedule::indexer_tick(&s.deps).await.unwrap().job, "indexer");
}
