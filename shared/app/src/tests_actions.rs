#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Signal actions: close, flip, TP/SL updates, pause, flatten and risk refusals.

use crate::tests_support::*;

#[tokio::test]
async fn close_by_pair_and_side_with_a_fraction_then_all() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    s.set_price("BTC/USD", "101000");
    let half = serde_json::json!({"source":"strat","id":"c-1","action":"close","pair":"btc","side":"long","fraction":"0.5"});
    assert_eq!(signal(&s, half).await, 202);
    s.drain().await;
    let p = &s.positions(7).await[0];
    assert_eq!((p.status, p.collateral), (PositionStatus::Open, Usdc::from_str("50").unwrap()));
    assert!(p.realised_pnl.unwrap().raw() > 0, "closed half in profit");
    let rest = serde_json::json!({"source":"strat","id":"c-2","action":"close","pair":"BTC/USD","side":"long"});
    assert_eq!(signal(&s, rest).await, 202);
    s.drain().await;
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    let nothing = serde_json::json!({"source":"strat","id":"c-3","action":"close","pair":"BTC/USD","side":"long"});
    assert_eq!(signal(&s, nothing).await, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:c-3").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    assert!(s.messages_to(7).iter().any(|m| m.contains("no open long position on BTC/USD")));
}

#[tokio::test]
async fn a_flip_closes_before_it_opens() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let flip = serde_json::json!({"source":"strat","id":"f-1","action":"flip","pair":"BTC/USD","side":"short","collateral_usdc":"200","leverage":"3"});
    assert_eq!(signal(&s, flip).await, 202);
    s.drain().await;
    let ps = s.positions(7).await;
    assert_eq!(ps.len(), 2);
    let long = ps.iter().find(|p| p.side == Side::Long).unwrap();
    let short = ps.iter().find(|p| p.side == Side::Short).unwrap();
    assert_eq!((long.side, long.status), (Side::Long, PositionStatus::Closed));
    assert_eq!((short.side, short.status, short.collateral), (Side::Short, PositionStatus::Open, Usdc::from_str("200").unwrap()));
    let msgs = s.messages_to(7);
    let closed = msgs.iter().position(|m| m.contains("Closed long BTC/USD")).unwrap();
    let opened = msgs.iter().position(|m| m.contains("Opened short BTC/USD")).unwrap();
    assert!(closed < opened, "the close was reported (and done) before the open: {msgs:?}");
}

#[tokio::test]
async fn update_tpsl_pause_and_flatten() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let eth =
        serde_json::json!({"source":"strat","id":"e-1","action":"open","pair":"ETH","side":"short","collateral_usdc":"50","leverage":"4"});
    assert_eq!(signal(&s, eth).await, 202);
    s.drain().await;
    let tpsl =
        serde_json::json!({"source":"strat","id":"t-1","action":"update_tpsl","pair":"BTC","side":"long","tp":"110000","sl":"95000"});
    assert_eq!(signal(&s, tpsl).await, 202);
    s.drain().await;
    let btc = s.positions(7).await.into_iter().find(|p| p.pair.as_str() == "BTC/USD").unwrap();
    assert_eq!((btc.tp, btc.sl), (Some(Price::from_str("110000").unwrap()), Some(Price::from_str("95000").unwrap())));
    let wrong_side = serde_json::json!({"source":"strat","id":"t-2","action":"update_tpsl","pair":"BTC","side":"long","tp":"90000"});
    assert_eq!(signal(&s, wrong_side).await, 202);
    s.drain().await;
    assert_eq!(s.store.get_intent(&IntentId::parse("sig:strat:t-2").unwrap()).await.unwrap().unwrap().state, IntentState::Rejected);
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"fl","action":"flatten"})).await, 202);
    s.drain().await;
    assert!(s.positions(7).await.iter().all(|p| p.status == PositionStatus::Closed));
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"pz","action":"pause"})).await, 202);
    s.drain().await;
    assert!(s.user(7).await.automation_paused);
    let blocked = OPEN_BTC.replace("a-1", "a-9");
    assert_eq!(post(&s, signed(&blocked, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:a-9").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    assert!(i.reason.unwrap().contains("paused"));
}

#[tokio::test]
async fn risk_refusals_reach_the_user_with_the_reason_and_the_audit_trail_keeps_it() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let big = serde_json::json!({"source":"strat","id":"r-1","action":"open","pair":"BTC","side":"long","collateral_usdc":"5000","leverage":"10"});
    assert_eq!(signal(&s, big).await, 202);
    s.drain().await;
    let id = IntentId::parse("sig:strat:r-1").unwrap();
    let i = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    let trail = s.store.audit_trail(&id).await.unwrap();
    assert_eq!(trail.last().unwrap().state, IntentState::Rejected);
    assert!(trail.last().unwrap().reason.as_ref().unwrap().contains("10000"), "{:?}", trail.last());
    assert!(s.messages_to(7).iter().any(|m| m.contains("refused")), "{:?}", s.messages_to(7));
    let tiny =
        serde_json::json!({"source":"strat","id":"r-2","action":"open","pair":"BTC","side":"long","collateral_usdc":"10","leverage":"2"});
    assert_eq!(signal(&s, tiny).await, 202);
    s.drain().await;
    let r = s.store.get_intent(&IntentId::parse("sig:strat:r-2").unwrap()).await.unwrap().unwrap().reason.unwrap();
    assert!(r.contains("100"), "below the venue minimum: {r}");
    // Stale prices: no trade.
    s.clock.advance(std::time::Duration::from_secs(120));
    let stale = OPEN_BTC.replace("a-1", "r-3");
    assert_eq!(post(&s, signed(&stale, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let r = s.store.get_intent(&IntentId::parse("sig:strat:r-3").unwrap()).await.unwrap().unwrap();
    assert_eq!(r.state, IntentState::Rejected);
}
