//! The router's own rules: refusals that say why, body caps per route, Telegram's secret
//! before its body, the request counters, the caller's IP.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

use std::sync::Arc;

use vanta_domain::market::PairCatalog;
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::time::{ManualClock, Timestamp};
use vanta_runtime::Config;

use crate::Deps;
use crate::http::testing::{self, TestRequest};
use crate::http::{MAX_BODY_BYTES, SourceIp};

fn deps(env: &[(&str, &str)]) -> Deps {
    let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([]).unwrap()), prices.clone(), clock.clone()));
    let config = Config::from_lookup(|k| m.get(k).cloned()).unwrap();
    Deps::new(
        config,
        Arc::new(MemoryStore::new()),
        Arc::new(MemoryQueue::new(clock.clone())),
        Arc::new(RecordingChat::new()),
        clock,
        prices,
        paper,
    )
}

#[tokio::test]
async fn refusals_say_why_and_a_trailing_slash_is_forgiven() {
    let d = deps(&[]);
    let r = testing::call(&d, TestRequest::new("GET", "/healthz/")).await;
    assert_eq!((r.status, r.body_json()["status"].as_str()), (200, Some("ok")));
    for (method, path) in
        [("DELETE", "/healthz"), ("GET", "/signals"), ("GET", "/telegram"), ("GET", "/signals/tv/abc"), ("PUT", "/link/n")]
    {
        let r = testing::call(&d, TestRequest::new(method, path)).await;
        assert_eq!((r.status, r.body_json()["error"].as_str()), (405, Some("method not allowed")), "{method} {path}");
    }
    let r = testing::call(&d, TestRequest::new("GET", "/nope/")).await;
    assert_eq!(r.status, 404);
    assert!(r.body_json()["error"].as_str().unwrap().contains("no route for GET /nope"), "{:?}", r.body_json());
    assert!(d.metrics.render().contains("vanta_http_client_errors_total 6"), "{}", d.metrics.render());
}

#[tokio::test]
async fn bodies_over_a_routes_cap_are_413_with_the_cap() {
    let d = deps(&[]);
    for path in ["/signals", "/signals/tv/some-token", "/link/somenonce"] {
        let r = testing::call(&d, TestRequest::new("POST", path).with_body(vec![b'x'; 8 * 1024 + 1])).await;
        assert_eq!((r.status, r.body_json()["error"].as_str()), (413, Some("body larger than 8192 bytes")), "{path}");
    }
}

#[tokio::test]
async fn telegram_checks_the_secret_before_it_reads_an_oversized_update() {
    let d = deps(&[("TELEGRAM_WEBHOOK_SECRET", "s3cret")]);
    let huge = vec![b'{'; MAX_BODY_BYTES + 1];
    let r = testing::call(&d, TestRequest::new("POST", "/telegram").with_body(huge.clone())).await;
    assert_eq!(r.status, 401, "not authentic: refused whatever its size");
    let authentic = TestRequest::new("POST", "/telegram").with_header(crate::telegram::SECRET_HEADER, "s3cret");
    let r = testing::call(&d, authentic.with_body(huge)).await;
    assert_eq!((r.status, r.body_json()["ok"].as_bool()), (200, Some(true)), "authentic: acknowledged so Telegram stops retrying");
    assert!(d.metrics.render().contains("vanta_telegram_updates_total 0"), "dropped unread");
}

#[test]
fn the_callers_ip_comes_from_the_adapter_or_the_socket() {
    use axum::extract::ConnectInfo;
    let mut ext = axum::http::Extensions::new();
    assert_eq!(SourceIp::of(&ext), None);
    ext.insert(ConnectInfo(std::net::SocketAddr::from(([127, 0, 0, 1], 9))));
    assert_eq!(SourceIp::of(&ext), Some([127, 0, 0, 1].into()), "axum::serve: the socket's peer");
    ext.insert(SourceIp([198, 51, 100, 7].into()));
    assert_eq!(SourceIp::of(&ext), Some([198, 51, 100, 7].into()), "Lambda: API Gateway's source IP wins");
}
