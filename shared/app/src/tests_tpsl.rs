#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Exits: DRY take-profit, stop-loss and liquidation fired by the paper venue's keeper and recorded
//! by the reconciler, trailing stops fired by the TP/SL tick, and the daily loss limit.

use crate::tests_support::*;

/// The paper account DRY trades of user `id` fill on.
async fn paper_account_of(s: &Sys, id: i64) -> TraderAddress {
    pipeline::account(&s.user(id).await)
}

/// User 7 was told the $20 daily loss limit was reached, and their next open is refused.
async fn the_day_is_over_for_new_entries(s: &Sys) {
    assert!(s.messages_to(7).iter().any(|m| m.contains("Daily loss limit of $20 reached")), "{:?}", s.messages_to(7));
    let again =
        serde_json::json!({"source":"strat","id":"o2","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(s, again).await, 202);
    s.drain().await;
    let i = s.store.get_intent(&IntentId::parse("sig:strat:o2").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
}

#[tokio::test]
async fn a_dry_take_profit_is_closed_by_the_paper_venue_and_recorded_once_by_the_reconciler() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000","sl":"97000"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    let opened = s.positions(7).await[0].clone();
    let trader = paper_account_of(&s, 7).await;
    assert_eq!(opened.wallet, Some(trader));
    let held = s.paper.positions(trader).await.unwrap();
    assert_eq!((held[0].tp, held[0].sl), (opened.tp, opened.sl), "the paper venue holds the TP and SL");
    s.set_price("BTC/USD", "104000");
    assert!(schedule::indexer_tick(&s.deps).await.unwrap().triggered.is_empty(), "not there yet");
    s.set_price("BTC/USD", "105500");
    // The TP/SL tick fires nothing of the venue's: no close intent.
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty());
    assert_eq!(s.drain().await, 0);
    // The indexer's tick: the paper venue's keeper closes the trade, the reconciler records it.
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.contains(&"paper:1:0:tp".to_owned()), "{r:?}");
    assert!(r.triggered.contains(&format!("{}:tp:closed-on-venue", opened.id)), "{r:?}");
    assert!(s.paper.positions(trader).await.unwrap().is_empty(), "closed in the book");
    // Overlapping runs (two ticks, a keeper and a reconciler at once) close and record nothing more.
    let settings = crate::reconcile::Settings::default();
    let (a, b, c, d) = tokio::join!(
        schedule::indexer_tick(&s.deps),
        schedule::indexer_tick(&s.deps),
        s.deps.paper.run_triggers(trader, s.deps.ops.max_price_age_secs, s.deps.ops.max_price_deviation),
        crate::reconcile::run_all(&s.deps, &settings),
    );
    assert!(a.unwrap().triggered.is_empty() && b.unwrap().triggered.is_empty());
    assert!(c.unwrap().is_empty());
    assert!(d.unwrap().closes.is_empty());
    assert_eq!(s.drain().await, 0, "no close intent: the venue closed it");

    let history = s.paper.history(trader, None).await.unwrap().unwrap().closes;
    assert_eq!(history.len(), 1, "one close in the paper venue's history");
    let c = &history[0];
    assert_eq!(c.reason, vanta_domain::recon::CloseReason::TakeProfit);
    // At the mark less half the spread (0.01 %), with the close fee on the notional.
    assert_eq!(c.price, Price::from_str("105494.725").unwrap());
    assert!(!c.fee.is_zero());
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    assert_eq!(p.close_price, Some(c.price));
    assert_eq!(p.realised_pnl, Some(c.net_pnl));
    assert!(c.net_pnl.raw() > 0);
    let open_fee = p.fees.checked_sub(c.fee).unwrap();
    assert!(!open_fee.is_zero(), "the position's fees are the open fee and the close fee");
    // The book settled the same numbers: cash is the starting equity less the open fee plus the net.
    let cash = s.paper.equity(trader).await.unwrap().unwrap();
    let expected =
        i128::from(vanta_domain::paper_venue::DEFAULT_PAPER_EQUITY.raw()) - i128::from(open_fee.raw()) + i128::from(c.net_pnl.raw());
    assert_eq!(i128::from(cash.raw()), expected);
    let told: Vec<String> = s.messages_to(7).into_iter().filter(|m| m.contains("Take-profit hit")).collect();
    assert_eq!(told.len(), 1, "told once: {told:?}");
    assert!(told[0].contains("Take-profit hit by the paper venue: long BTC/USD"), "{told:?}");
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
    let trader = paper_account_of(&s, 7).await;
    // A stale price triggers nothing: not the tick, not the paper venue's keeper.
    s.clock.advance(std::time::Duration::from_secs(120));
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.is_empty());
    assert_eq!(r.skipped_pairs.len(), 2);
    // Stale quotes past both levels: still nothing.
    let stale = s.clock.now().minus(std::time::Duration::from_secs(120));
    for src in ["pyth", "chainlink"] {
        s.prices.set(PairSymbol::parse("BTC/USD").unwrap(), src, Price::from_str("102500").unwrap(), stale).unwrap();
        s.prices.set(PairSymbol::parse("ETH/USD").unwrap(), src, Price::from_str("3300").unwrap(), stale).unwrap();
    }
    assert!(schedule::indexer_tick(&s.deps).await.unwrap().triggered.is_empty());
    assert_eq!(s.paper.positions(trader).await.unwrap().len(), 2, "nothing closed at a stale price");
    assert!(s.positions(7).await.iter().all(|p| p.status == PositionStatus::Open));
    s.set_price("BTC/USD", "102500"); // short's stop
    s.set_price("ETH/USD", "3300"); // 20x long liquidates about 4.25 % down (3351)
    assert!(schedule::tpsl_tick(&s.deps).await.unwrap().triggered.is_empty(), "the venue's exits, not Vanta's");
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":sl:closed-on-venue")), "{r:?}");
    assert!(r.triggered.iter().any(|t| t.ends_with(":liquidation:closed-on-venue")), "{r:?}");
    assert_eq!(s.drain().await, 0);
    let ps = s.positions(7).await;
    let get = |pair: &str| ps.iter().find(|p| p.pair.as_str() == pair).unwrap().clone();
    assert_eq!(get("BTC/USD").status, PositionStatus::Closed);
    assert!(get("BTC/USD").realised_pnl.unwrap().is_negative());
    let eth = get("ETH/USD");
    assert_eq!(eth.status, PositionStatus::Liquidated);
    assert_eq!(eth.realised_pnl.unwrap().raw(), -100_000_000, "a liquidation loses the collateral, no more");
    let msgs = s.messages_to(7);
    assert!(msgs.iter().any(|m| m.contains("Stop-loss hit by the paper venue: short BTC/USD")), "{msgs:?}");
    assert!(msgs.iter().any(|m| m.contains("Liquidated by the paper venue: long ETH/USD")), "{msgs:?}");
}

#[tokio::test]
async fn a_dry_stop_loss_counts_toward_the_daily_loss_limit() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let mut u = s.user(7).await;
    u.risk.daily_loss_limit = Usdc::from_str("20").unwrap();
    s.store.update_user(&u).await.unwrap();
    let open = serde_json::json!({"source":"strat","id":"o1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"10","sl":"97000"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    s.set_price("BTC/USD", "96900"); // through the stop: about -$31 at 10x
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":sl:closed-on-venue")), "{r:?}");
    assert!(s.positions(7).await[0].realised_pnl.unwrap().raw() < -20_000_000);
    assert!(s.user(7).await.automation_paused, "the paper venue's stop-loss counts toward the day's loss");
    the_day_is_over_for_new_entries(&s).await;
}

#[tokio::test]
async fn a_manual_close_after_the_paper_venue_closed_settles_nothing_twice() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    let trader = paper_account_of(&s, 7).await;
    s.set_price("BTC/USD", "105500");
    // The keeper closes the trade; a close signal arrives before the reconciler runs.
    let closed = s.deps.paper.run_triggers(trader, s.deps.ops.max_price_age_secs, s.deps.ops.max_price_deviation).await.unwrap();
    assert_eq!(closed.len(), 1);
    let cash = s.paper.equity(trader).await.unwrap().unwrap();
    assert_eq!(signal(&s, serde_json::json!({"source":"strat","id":"c","action":"close","pair":"BTC","side":"long"})).await, 202);
    s.drain().await;
    assert_eq!(s.paper.equity(trader).await.unwrap().unwrap(), cash, "the book settled the trade once");
    let p = &s.positions(7).await[0];
    assert_eq!(p.status, PositionStatus::Closed);
    assert_eq!((p.close_price, p.realised_pnl), (Some(closed[0].price), Some(closed[0].net_pnl)), "the venue's close, once");
    // The reconciler then finds it recorded.
    assert!(crate::reconcile::run_all(&s.deps, &crate::reconcile::Settings::default()).await.unwrap().closes.is_empty());
}

#[tokio::test]
async fn a_dry_position_recorded_without_its_wallet_still_has_its_take_profit_fired_by_the_tick() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    let open = serde_json::json!({"source":"strat","id":"o","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"105000"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    let p = s.positions(7).await[0].clone();
    // As recorded before positions carried their wallet: on no paper account the keeper runs.
    let legacy = pipeline::modify_position(&s.deps, p.user, &p.id, |q| {
        q.wallet = None;
        true
    })
    .await
    .unwrap()
    .unwrap();
    assert_eq!(legacy.wallet, None);
    assert_eq!(crate::tpsl::trigger(&legacy, Price::from_str("104000").unwrap()), None, "not there yet");
    assert_eq!(crate::tpsl::trigger(&legacy, Price::from_str("105500").unwrap()), Some(crate::tpsl::Trigger::TakeProfit));
    // With its wallet the same position is the paper venue's to close, not the tick's.
    assert_eq!(crate::tpsl::trigger(&p, Price::from_str("105500").unwrap()), None);
    s.set_price("BTC/USD", "105500");
    let r = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(r.triggered.iter().any(|t| t.ends_with(":tp")), "{r:?}");
    s.drain().await;
    let closed = &s.positions(7).await[0];
    assert_eq!(closed.status, PositionStatus::Closed, "{closed:?}");
    assert!(closed.realised_pnl.unwrap().raw() > 0);
    assert!(s.messages_to(7).iter().any(|m| m.contains("Take-profit hit")));
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
    the_day_is_over_for_new_entries(&s).await;
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
