#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Copy trading: fan-out, sizing, skips, counter mode, the breaker and the copies' origin.

use crate::tests_support::*;

fn follow(follower: i64, leader: i64, sizing: CopySizing, max_lev: u64, at: Timestamp) -> Follow {
    Follow {
        follower: TelegramUserId(follower),
        leader: LeaderRef::User(TelegramUserId(leader)),
        sizing,
        max_leverage: Leverage::from_whole(max_lev).unwrap(),
        per_trade_cap: Usdc::from_str("500").unwrap(),
        daily_cap: Usdc::from_str("2000").unwrap(),
        counter: false,
        adopt_existing: false,
        active: true,
        since: at,
        stop_after_losses: 3,
        max_drawdown: Usdc::ZERO,
    }
}

#[tokio::test]
async fn a_leaders_trade_fans_out_with_each_sizing_mode_caps_and_leverage() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    for id in [2, 3, 4, 5] {
        s.user(id).await;
    }
    let at = s.clock.now();
    s.store.put_follow(&follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("150").unwrap() }, 20, at)).await.unwrap();
    s.store.put_follow(&follow(3, 1, CopySizing::Ratio { ratio: Bps::new(5_000).unwrap() }, 5, at)).await.unwrap();
    s.store.put_follow(&follow(4, 1, CopySizing::Proportional, 20, at)).await.unwrap();
    s.store.put_follow(&follow(5, 1, CopySizing::Fixed { collateral: Usdc::from_str("5").unwrap() }, 20, at)).await.unwrap();
    // Equity: leader $10 000 (paper default), follower 4 $25 000.
    s.paper.set_equity(pipeline::account(&s.user(4).await), Usdc::from_str("25000").unwrap()).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open = serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"400","leverage":"10","tp":"120000"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;

    let only = |ps: Vec<vanta_domain::position::Position>| ps.into_iter().next().expect("a copy");
    let f2 = only(s.positions(2).await);
    assert_eq!(
        (f2.collateral, f2.leverage),
        (Usdc::from_str("150").unwrap(), Leverage::from_whole(10).unwrap()),
        "fixed $150 at the leader's 10x"
    );
    let f3 = only(s.positions(3).await);
    assert_eq!(
        (f3.collateral, f3.leverage),
        (Usdc::from_str("200").unwrap(), Leverage::from_whole(5).unwrap()),
        "50 % of $400, leverage capped at 5x"
    );
    let f4 = only(s.positions(4).await);
    assert_eq!(f4.collateral, Usdc::from_str("500").unwrap(), "proportional 400 × 25000/10000 = 1000, capped at $500 per trade");
    assert_eq!(f4.tp, Some(Price::from_str("120000").unwrap()), "TP copied");
    assert!(s.positions(5).await.is_empty(), "$5 × 10x = $50 is below the $100 minimum");
    let notice = s.messages_to(5);
    assert!(notice.iter().any(|m| m.contains("skipped") && m.contains("below the venue minimum")), "{notice:?}");
    // Copies record latency and price difference.
    let trail = s.store.audit_trail(&f2.opened_by).await.unwrap();
    assert!(trail.last().unwrap().detail.as_ref().unwrap().contains("latency"), "{trail:?}");

    // Exits mirror the leader: half, then the rest.
    let close = serde_json::json!({"source":"leader","id":"L2","action":"close","pair":"BTC","side":"long","fraction":"0.5"});
    assert_eq!(post(&s, signed(&close.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    assert_eq!(only(s.positions(2).await).collateral, Usdc::from_str("75").unwrap());
    assert_eq!(only(s.positions(3).await).collateral, Usdc::from_str("100").unwrap());
}

#[tokio::test]
async fn a_copy_below_the_venue_minimum_is_skipped_with_a_notice() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let at = s.clock.now();
    s.store.put_follow(&follow(2, 1, CopySizing::Ratio { ratio: Bps::new(1_000).unwrap() }, 20, at)).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open =
        serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    assert!(s.positions(2).await.is_empty());
    let msgs = s.messages_to(2);
    assert!(msgs.iter().any(|m| m.contains("skipped") && m.contains("below the venue minimum of $100")), "{msgs:?}");
}

#[tokio::test]
async fn only_trades_after_the_follow_are_copied_and_counter_mode_takes_the_other_side() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let open = serde_json::json!({"source":"leader","id":"L0","action":"open","pair":"ETH","side":"long","collateral_usdc":"100","leverage":"5","tp":"4000","sl":"3000"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    s.clock.advance(std::time::Duration::from_secs(1));
    let mut f = follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now());
    f.counter = true;
    s.store.put_follow(&f).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open = serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5","tp":"110000","sl":"95000"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let ps = s.positions(2).await;
    assert_eq!(ps.len(), 1, "the ETH trade from before the follow was not copied");
    assert_eq!(ps[0].side, Side::Short);
    assert_eq!((ps[0].tp, ps[0].sl), (Some(Price::from_str("95000").unwrap()), Some(Price::from_str("110000").unwrap())), "TP and SL swap");
    // Adopting the leader's open positions is opt-in.
    let mut adopt = follow(3, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now());
    adopt.adopt_existing = true;
    s.user(3).await;
    s.store.put_follow(&adopt).await.unwrap();
    assert_eq!(copy::adopt_existing(&s.deps, &adopt).await.unwrap(), 2);
    s.drain().await;
    assert_eq!(s.positions(3).await.len(), 2);
}

#[tokio::test]
async fn the_follower_breaker_stops_copying_after_losses() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let mut f = follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now());
    f.stop_after_losses = 2;
    s.store.put_follow(&f).await.unwrap();
    for n in 0..2 {
        s.clock.advance(std::time::Duration::from_secs(1));
        s.set_price("BTC/USD", "100000");
        let open = serde_json::json!({"source":"leader","id":format!("o{n}"),"action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
        assert_eq!(signal(&s, open).await, 202);
        s.drain().await;
        s.set_price("BTC/USD", "99000");
        let close = serde_json::json!({"source":"leader","id":format!("c{n}"),"action":"close","pair":"BTC","side":"long"});
        assert_eq!(signal(&s, close).await, 202);
        s.drain().await;
    }
    assert_eq!(s.positions(2).await.iter().filter(|p| p.realised_pnl.unwrap().is_negative()).count(), 2);
    s.clock.advance(std::time::Duration::from_secs(1));
    s.set_price("BTC/USD", "100000");
    let open =
        serde_json::json!({"source":"leader","id":"o9","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    assert_eq!(s.positions(2).await.len(), 2, "no third copy");
    assert!(!s.store.following(TelegramUserId(2)).await.unwrap()[0].active);
    assert!(s.messages_to(2).iter().any(|m| m.contains("Copying stopped")));
}

#[tokio::test]
async fn copies_carry_their_origin() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    s.store.put_follow(&follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() }, 20, s.clock.now())).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open =
        serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, open).await, 202);
    s.drain().await;
    let intents = s.store.user_intents(TelegramUserId(2), 10).await.unwrap();
    assert_eq!(intents.len(), 1);
    assert!(matches!(intents[0].origin, Origin::Copy { .. }));
    assert!(matches!(intents[0].action, Action::Open(OpenOrder { side: Side::Long, .. })));
}

#[tokio::test]
async fn a_copy_records_the_leaders_position_and_copies_recorded_before_still_count() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    s.store.put_follow(&follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("150").unwrap() }, 20, s.clock.now())).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open = |id: &str| serde_json::json!({"source":"leader","id":id,"action":"open","pair":"BTC","side":"long","collateral_usdc":"100","leverage":"5"});
    assert_eq!(signal(&s, open("L1")).await, 202);
    s.drain().await;
    let leader = s.positions(1).await.into_iter().next().expect("the leader's position");
    let copy = s.positions(2).await.into_iter().next().expect("the copy");
    assert_eq!(copy.copy_of.as_deref(), Some(leader.id.as_str()), "the copy names the leader's position");
    assert!(copy.is_copy() && !leader.is_copy());
    // A copy recorded before the field: only its `copy:` intent id says what it is. It still
    // counts toward the daily copy cap ($2000): $150 + $1800 used leaves $50 for the next copy.
    let mut legacy = copy.clone();
    legacy.id = vanta_domain::ids::PositionId::parse("pos:legacy").unwrap();
    legacy.opened_by = IntentId::parse("copy:0123456789abcdef").unwrap();
    legacy.copy_of = None;
    legacy.collateral = Usdc::from_str("1800").unwrap();
    s.store.insert_position(&legacy).await.unwrap();
    assert!(legacy.is_copy());
    assert_eq!(signal(&s, open("L2")).await, 202);
    s.drain().await;
    let newest = s.positions(2).await.into_iter().filter(|p| p.id != copy.id && p.id != legacy.id).collect::<Vec<_>>();
    assert_eq!(newest.len(), 1, "the second copy");
    assert_eq!(newest[0].collateral, Usdc::from_str("50").unwrap(), "what the old and the new copy left of the daily cap");
}

#[tokio::test]
async fn a_leaders_dry_take_profit_hit_on_the_paper_venue_closes_the_followers_copies() {
    let s = sys();
    s.source(1, "leader", "k3y", "tvtok").await;
    s.lead(1).await;
    s.user(2).await;
    let at = s.clock.now();
    s.store.put_follow(&follow(2, 1, CopySizing::Fixed { collateral: Usdc::from_str("150").unwrap() }, 20, at)).await.unwrap();
    s.clock.advance(std::time::Duration::from_secs(1));
    let open =
        serde_json::json!({"source":"leader","id":"L1","action":"open","pair":"BTC","side":"long","collateral_usdc":"400","leverage":"10"});
    assert_eq!(post(&s, signed(&open.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    let copy = s.positions(2).await.into_iter().next().expect("a copy");
    assert_eq!(copy.tp, None);
    // The leader sets a take-profit afterwards (the copy keeps none of its own).
    let tpsl = serde_json::json!({"source":"leader","id":"L2","action":"update_tpsl","pair":"BTC","side":"long","tp":"105000"});
    assert_eq!(post(&s, signed(&tpsl.to_string(), "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    s.set_price("BTC/USD", "105500");
    // The paper venue closes the leader's trade, the reconciler records it and mirrors the exit.
    let r = schedule::indexer_tick(&s.deps).await.unwrap();
    let leader = s.positions(1).await.into_iter().next().unwrap();
    assert!(r.triggered.contains(&format!("{}:tp:closed-on-venue", leader.id)), "{r:?}");
    assert!(!r.triggered.iter().any(|t| t.starts_with(copy.id.as_str())), "the copy had no TP of its own: {r:?}");
    assert!(s.drain().await >= 1, "the copy's close was queued");
    assert_eq!(leader.status, PositionStatus::Closed);
    let copy = s.positions(2).await.into_iter().next().unwrap();
    assert_eq!(copy.status, PositionStatus::Closed, "the follower's copy mirrored the leader's exit");
    // A second run mirrors nothing more.
    schedule::indexer_tick(&s.deps).await.unwrap();
    assert_eq!(s.drain().await, 0);
}
