#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The signal API: every reply code of the contract.

use crate::tests_support::*;

#[tokio::test]
async fn signal_accepted_then_duplicate_then_conflict() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let (code, body) = post(&s, signed(OPEN_BTC, "k3y", now)).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!((body["status"].as_str(), body["id"].as_str()), (Some("accepted"), Some("a-1")));
    // The same signal again (a TradingView retry): 200 duplicate, nothing new queued.
    let (code, body) = post(&s, signed(OPEN_BTC, "k3y", now)).await;
    assert_eq!((code, body["status"].as_str()), (200, Some("duplicate")));
    // The same id with numbers written differently is still the same request.
    let same = OPEN_BTC.replace(r#""collateral_usdc":"100""#, r#""collateral_usdc":100.000"#);
    assert_eq!(post(&s, signed(&same, "k3y", now)).await.0, 200);
    // The same id with a different payload: 409, and the first one stands.
    let other = OPEN_BTC.replace(r#""leverage":"5""#, r#""leverage":"6""#);
    let (code, body) = post(&s, signed(&other, "k3y", now)).await;
    assert_eq!(code, 409);
    assert!(body["error"].as_str().unwrap().contains("a-1"));
    assert_eq!(s.drain().await, 1, "one message, though the duplicates re-sent while it waited were dropped by FIFO dedup");
    assert_eq!(s.positions(7).await.len(), 1);
}

#[tokio::test]
async fn signal_auth_failures_are_401_with_a_reason() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    assert_eq!(post(&s, signed(OPEN_BTC, "wrong", now)).await.0, 401, "bad signature");
    let (code, body) = post(&s, signed(OPEN_BTC, "k3y", now - 301)).await;
    assert_eq!(code, 401, "stale timestamp");
    assert!(body["error"].as_str().unwrap().contains("replay window"));
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", now + 301)).await.0, 401, "timestamp from the future");
    let unsigned = TestRequest::new("POST", "/signals").with_body(OPEN_BTC);
    let (code, body) = post(&s, unsigned).await;
    assert_eq!(code, 401);
    assert!(body["error"].as_str().unwrap().contains("X-Vanta-Timestamp"));
    let unknown = OPEN_BTC.replace("strat", "nobody");
    assert_eq!(post(&s, signed(&unknown, "k3y", now)).await.0, 401, "unknown source");
    // A tampered body under a valid signature of the original.
    let ts = now.to_string();
    let sig = signals::sign("k3y", &ts, OPEN_BTC.as_bytes());
    let tampered = OPEN_BTC.replace(r#""collateral_usdc":"100""#, r#""collateral_usdc":"1000""#);
    let req = TestRequest::new("POST", "/signals")
        .with_header("x-vanta-timestamp", &ts)
        .with_header("x-vanta-signature", &sig)
        .with_body(tampered);
    assert_eq!(post(&s, req).await.0, 401);
    assert!(s.queue.is_empty(), "nothing refused was queued");
}

#[tokio::test]
async fn invalid_signals_get_400_or_422_with_the_reason() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let cases: &[(&str, u16, &str)] = &[
        ("not json", 400, "JSON"),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":true}"#,
            400,
            "decimal",
        ),
        (r#"{"source":"strat","id":"x","action":"teleport"}"#, 422, "unknown action"),
        (r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","leverage":"5"}"#, 422, "collateral_usdc is required"),
        (r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"up","collateral_usdc":"100","leverage":"5"}"#, 422, "side"),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"1.0000001","leverage":"5"}"#,
            422,
            "decimal places",
        ),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"0"}"#,
            422,
            "leverage",
        ),
        (r#"{"source":"strat","id":"x","action":"close","pair":"BTC","side":"long","fraction":"1.5"}"#, 422, "fraction"),
        (r#"{"source":"strat","id":"x","action":"close","pair":"BTC","side":"long","leverage":"3"}"#, 422, "not used by action"),
        (
            r#"{"source":"strat","id":"x","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","colour":"red"}"#,
            422,
            "unknown field",
        ),
        (r#"{"source":"strat","id":"x","action":"update_tpsl","pair":"BTC","side":"long"}"#, 422, "tp, sl or both"),
        (r#"{"source":"strat","id":"bad id!","action":"pause"}"#, 422, "signal id"),
    ];
    for (body, want, reason) in cases {
        let (code, reply) = post(&s, signed(body, "k3y", now)).await;
        assert_eq!(code, *want, "{body} → {reply}");
        assert!(reply["error"].as_str().unwrap().contains(reason), "{body}: '{}' lacks '{reason}'", reply["error"]);
    }
    // Exact numbers are fine as JSON numbers too.
    let numeric = r#"{"source":"strat","id":"n","action":"open","pair":"BTC","side":"long","collateral_usdc":100.5,"leverage":5}"#;
    assert_eq!(post(&s, signed(numeric, "k3y", now)).await.0, 202);
}

#[tokio::test]
async fn oversized_signals_are_413_and_bursts_are_429() {
    let s = sys_with(&[("SIGNAL_RATE_PER_MIN", "3")]);
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let huge = format!(r#"{{"source":"strat","id":"big","action":"pause","pad":"{}"}}"#, "x".repeat(10_000));
    assert_eq!(post(&s, signed(&huge, "k3y", now)).await.0, 413);
    for i in 0..3 {
        let body = format!(r#"{{"source":"strat","id":"p{i}","action":"pause"}}"#);
        assert_eq!(post(&s, signed(&body, "k3y", now)).await.0, 202);
    }
    let (code, reply) = post(&s, signed(r#"{"source":"strat","id":"p9","action":"pause"}"#, "k3y", now)).await;
    assert_eq!(code, 429);
    assert!(reply["error"].as_str().unwrap().contains("3 signals a minute"));
    s.clock.advance(std::time::Duration::from_secs(61));
    let later = s.clock.now().secs();
    assert_eq!(
        post(&s, signed(r#"{"source":"strat","id":"p9","action":"pause"}"#, "k3y", later)).await.0,
        202,
        "a new minute, a new budget"
    );
}

#[tokio::test]
async fn tradingview_route_takes_text_plain_json_with_the_path_token() {
    let s = sys();
    s.source(7, "strat", "k3y", "tv-secret-token").await;
    let tv = |token: &str, body: &str| {
        TestRequest::new("POST", &format!("/signals/tv/{token}"))
            .with_header("content-type", "text/plain; charset=utf-8")
            .with_body(body.to_owned())
    };
    let (code, reply) = post(&s, tv("tv-secret-token", OPEN_BTC)).await;
    assert_eq!(code, 202, "{reply}");
    assert_eq!(post(&s, tv("tv-secret-token", OPEN_BTC)).await.0, 200);
    assert_eq!(post(&s, tv("wrong-token", OPEN_BTC)).await.0, 401);
    let other_source = OPEN_BTC.replace("strat", "someone-else");
    assert_eq!(post(&s, tv("tv-secret-token", &other_source)).await.0, 401, "the token's source must be the body's");
    s.drain().await;
    assert_eq!(s.positions(7).await.len(), 1);
}
