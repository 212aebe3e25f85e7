#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The TP/SL executor: take-profit, stop-loss, liquidation, trailing stops and the daily loss limit.

use crate::tests_support::*;

#[tokio::test]
async fn take_profit_hits_once_and_closes_through_the_pipeline() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000","sl":"97000"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    s.set_price("BTC/USD", "104000");
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "not there yet");
    s.set_price("BTC/USD", "105500");
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert_eq!(r.triggered.len(), 1);
    assert!(r.triggered[0].ends_with(":tp"));
    schedule::tpsl_tick(&s.deps).await.unwrap(); // seen again before the worker ran
    assert_eq!(s.drain().await, 1, "one close, however many ticks saw the hit");
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    assert!(p.realised_pnl.unwrap().raw() > 0);
    assert!(s.messages_to(7).iter().any(|m| m.contains("Take-profit hit: closed long BTC/USD")), "{:?}", s.messages_to(7));
}

#[tokio::test]
async fn stop_loss_short_side_and_liquidation_and_stale_prices() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let short = serde_json::json!({"source":"strat","id":"s","action":"open","pair":"BTC","side":"short","collateral_usdc":"100","leverage":"5","sl":"102000"});
    assert_eq!(signal(&s, short).await, 202);
    let eth =
        serde_json::json!({"source":"strat","id":"e","action":"open","pair":"ETH","side":"long","collateral_usdc":"100","leverage":"20"});
    assert_eq!(signal(&s, eth).await, 202);
    s.drain().await;
    // A stale price triggers nothing.
    s.clock.advance(std::time::Duration::from_secs(120));
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty());
    assert_eq!(r.skipped_pairs.len(), 2);
    s.set_price("BTC/USD", "102500"); // short's stop
    s.set_price("ETH/USD", "3300"); // 20x long liquidates about 4.25 % down (3351)
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert_eq!(r.triggered.len(), 2, "{r:?}");
    assert!(r.triggered.iter().any(|t| t.ends_with(":sl")) && r.triggered.iter().any(|t| t.ends_with(":liquidation")));
    s.drain().await;
    let ps = s.positions(7).await;
    let status = |pair: &str| ps.iter().find(|p| p.pair.as_str() == pair).unwrap().status;
    assert_eq!(status("BTC/USD"), PositionStatus::Closed);
    assert_eq!(status("ETH/USD"), PositionStatus::Liquidated);
    let msgs = s.messages_to(7);
    assert!(msgs.iter().any(|m| m.contains("Stop-loss hit: closed short BTC/USD")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("Liquidated: long ETH/USD")), "{msgs:?}");
}

#[tokio::test]
async fn trailing_stop_follows_the_best_price() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(
        signal(
            &s,
            serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"})
        )
        .await,
        202
    );
    s.drain().await;
    let id = s.positions(7).await[0].id.clone();
    assert!(schedule::set_trail(&s.deps, TelegramUserId(8), &id, Some(Bps::new(100).unwrap())).await.is_err(), "only the owner");
    schedule::set_trail(&s.deps, TelegramUserId(7), &id, Some(Bps::new(100).unwrap())).await.unwrap();
    s.set_price("BTC/USD", "110000");
    schedule::tpsl_tick(&s.deps).await.unwrap();
    let p = s.positions(7).await[0].clone();
    assert_eq!(schedule::trail_now(&s.deps, &p).await.unwrap().unwrap().best, Price::from_str("110000").unwrap());
    s.set_price("BTC/USD", "109000"); // 0.9 % below the best: holds
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty());
    s.set_price("BTC/USD", "108800"); // 1.09 % below: trail hit
    assert_eq!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.len(), 1);
    s.drain().await;
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    assert!(p.realised_pnl.unwrap().raw() > 0, "the trail locked in profit");
}

#[tokio::test]
async fn reaching_the_daily_loss_limit_pauses_automation_and_says_so() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let mut u = s.user(7).await;
    u.risk.daily_loss_limit = Usdc::from_str("20").unwrap();
    s.store.update_user(&u).await.unwrap();
    let open =
        serde_json::json!({"source":"strat","id":"o1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"10"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    s.set_price("BTC/USD", "97000"); // -3 % at 10x: about -$30
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"c1","action":"close","pair":"BTC","side":"long"})).await, 202);
    s.drain().await;
    assert!(s.user(7).await.automation_paused, "the day's loss passed $20");
    assert!(s.messages_to(7).iter().any(|m| m.contains("Daily loss limit of $20 reached")), "{:?}", s.messages_to(7));
    let again =
        serde_json::json!({"source":"strat","id":"o2","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, again).await, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:o2").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
}

#[tokio::test]
async fn a_dry_position_opened_on_one_instance_closes_on_another() {
    let mut s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    // A cold start: a new paper venue with an empty book of its own (Lambda instances share the
    // table, not memory).
    let catalog = PairCatalog::new([pair_min(0, "ETH/USD", "100"), pair_min(1, "BTC/USD", "100")]).unwrap();
    s.deps.paper = Arc::new(PaperVenue::new(Arc::new(catalog), s.prices.clone(), s.clock.clone()));
    // This instance opens a short on the same pair: its own book reuses trade index 0.
    let short =
        serde_json::json!({"source":"strat","id":"s","action":"open","pair":"BTC","side":"short","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, short).await, 202);
    let tpsl = serde_json::json!({"source":"strat","id":"t","action":"update_tpsl","pair":"BTC","side":"long","sl":"95000"});
    assert_eq!(signal(&s, tpsl).await, 202);
    let close = serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long","fraction":"0.5"});
    assert_eq!(signal(&s, close).await, 202);
    s.drain().await;
    let ps = s.positions(7).await;
    let short = ps.iter().find(|p| p.side == Side::Short).unwrap();
    assert_eq!((short.status, short.collateral), (PositionStatus::Open, Usdc::from_str("100").unwrap()), "the short is untouched");
    let p = ps.iter().find(|p| p.side == Side::Long).unwrap();
    assert_eq!(p.sl, Some(Price::from_str("95000").unwrap()));
    assert_eq!((p.status, p.collateral), (PositionStatus::Open, Usdc::from_str("50").unwrap()));
    assert_eq!(p.fees, Usdc::from_str("0.3375").unwrap(), "open fee on $500 plus close fee on $250");
}
