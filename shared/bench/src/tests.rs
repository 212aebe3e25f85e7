//! Smoke test: the harness runs at tiny sizes and its report is well-formed JSON with a
//! baseline and a ratio on every figure. No timing is asserted.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use super::*;

#[tokio::test]
async fn the_harness_runs_at_tiny_sizes_and_reports_every_figure_against_a_baseline() {
    let mut report = Report::new(Sizes::tiny());
    run_in_process(&mut report).await.unwrap();
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    for section in ["ingest", "worker", "copy fan-out", "tpsl tick"] {
        assert!(rows.iter().any(|r| r["section"] == section), "{section} missing: {json}");
    }
    for r in rows {
        assert!(r["value"].as_f64().unwrap() > 0.0, "a figure was measured: {r}");
        assert!(r["baseline"].as_f64().unwrap() > 0.0, "every figure has a baseline: {r}");
        assert!(r["ratio"].as_f64().is_some(), "and a ratio: {r}");
    }
    // The sections did the work they claim: every signal was queued, every follower's copy.
    assert_eq!(json["details"]["fanout"]["follower_intents"], 30);
    let ingest = &json["details"]["ingest"];
    assert_eq!(
        ingest["intents_queued"].as_u64().unwrap(),
        ingest["warm_up_signals"].as_u64().unwrap() + ingest["requests_per_route"].as_u64().unwrap(),
        "every signal (unique ids) was queued once: {ingest}"
    );
    // The TP/SL tick reads only the crossed triggers: doubling the book adds no read.
    let ticks = json["details"]["tpsl"]["ticks"].as_array().unwrap();
    assert_eq!((ticks[0]["open_positions"].as_u64(), ticks[1]["open_positions"].as_u64()), (Some(20), Some(40)));
    assert_eq!(ticks[0]["triggered"], ticks[1]["triggered"], "{ticks:?}");
    assert_eq!(ticks[0]["store"]["items_read"], ticks[1]["store"]["items_read"], "{ticks:?}");
    assert!(ticks[1]["store"]["items_read"].as_u64().unwrap() < 40, "{ticks:?}");
    // Trailing stops: part of each book trails, every measured tick was a new extreme that moved
    // every pair's trail book, and no tick rewrote a position; what a tick writes does not grow
    // with the trailing positions (the same items at 20 and at 40 open).
    for t in ticks {
        assert!(t["trailing_positions"].as_u64().unwrap() >= 5, "{t}");
        assert_eq!(t["extremes_moved"], json["sizes"]["tick_repeats"], "{t}");
        assert_eq!(t["store"]["position_writes"], 0, "{t}");
        assert!(t["by_method"]["put_trail_book"]["calls"].as_u64().unwrap() >= 3, "one book write per pair: {t}");
        assert!(t["by_method"].get("update_position").is_none(), "{t}");
    }
    assert!(ticks[1]["trailing_positions"].as_u64() > ticks[0]["trailing_positions"].as_u64(), "{ticks:?}");
    assert_eq!(ticks[0]["store"]["items_written"], ticks[1]["store"]["items_written"], "{ticks:?}");
    assert_eq!(ticks[0]["store"]["write_calls"], ticks[1]["store"]["write_calls"], "{ticks:?}");
    // The time split adds up: outside the store is at most the whole tick.
    for t in ticks {
        assert!(t["median_outside_store_ms"].as_f64().unwrap() <= t["median_ms"].as_f64().unwrap(), "{t}");
        assert!(t["store"]["store_nanos"].as_u64().unwrap() > 0, "{t}");
    }
    // The per-unit figures the cost model reads were recorded.
    assert!(json["details"]["ingest"]["per_signal"]["store_calls"].as_f64().unwrap() > 0.0);
    assert!(json["details"]["ingest"]["per_signal"]["queue_sends"].as_f64().unwrap() >= 1.0);
    assert_eq!(json["details"]["worker"]["per_live_intent"]["signatures"].as_f64(), Some(1.0));
    assert_eq!(json["details"]["worker"]["per_dry_intent"]["signatures"].as_f64(), Some(0.0));
    assert!(json["details"]["tpsl"]["per_tick"]["items_read"].as_f64().unwrap() > 0.0);
    // The cost model prices the template with these figures (rows and details.cost).
    let costs = cost::run(&mut report, &vanta_testkit::net::repo_root().join("template.yaml")).unwrap();
    assert!(costs.contains("| **total** |"), "{costs}");
    let json: serde_json::Value = serde_json::from_str(&serde_json::to_string(&report).unwrap()).unwrap();
    let rows = json["rows"].as_array().unwrap();
    let month = rows.iter().find(|r| r["section"] == "cost" && r["goal"].is_string()).unwrap();
    assert!(month["value"].as_f64().unwrap() > 1.0, "{month}");
    assert_eq!(json["details"]["cost"]["estimates"].as_array().map(Vec::len), Some(2));
    for r in rows {
        assert!(r["value"].as_f64().unwrap() > 0.0, "a figure was measured: {r}");
        assert!(r["baseline"].as_f64().unwrap() > 0.0, "every figure has a baseline: {r}");
    }
    let table = report.table();
    assert!(table.starts_with("| metric | value | baseline | ratio | goal |"), "{table}");
    assert_eq!(table.lines().filter(|l| l.starts_with("| ")).count(), rows.len() + 1);
}

#[tokio::test]
async fn the_counting_store_counts_reads_items_and_writes() {
    use vanta_domain::ids::{ChatId, TelegramUserId};
    use vanta_domain::ports::{PositionStore, UserStore};
    let store = counting::CountingStore::new(vanta_domain::memory::MemoryStore::new());
    let now = vanta_domain::time::Timestamp(world::T0);
    store.get_or_create_user(vanta_domain::user::User::new(TelegramUserId(1), ChatId(1), now)).await.unwrap();
    store.get_user(TelegramUserId(1)).await.unwrap();
    store.get_user(TelegramUserId(2)).await.unwrap();
    store.live_positions().await.unwrap();
    let t = store.totals();
    assert_eq!((t.read_calls, t.items_read, t.write_calls), (3, 1, 1));
    store.reset();
    assert_eq!(store.totals(), counting::Totals::default());
}
