#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Observability: the EMF lines handlers write, `/metrics` under the same names, `/health` and
//! `/readyz` per component, and alarms sent to the admins.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use crate::http::testing::{self, TestRequest};
use async_trait::async_trait;
use serde_json::{Value, json};
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, SourceId, TelegramUserId};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::Price;
use vanta_domain::ports::*;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};

use crate::emf::names;
use crate::tests_support::pair;
use crate::{Deps, alarms, emf, notifier, schedule, signals, worker};

const T0: i64 = 1_750_000_000_000;

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
}

fn sys_with(env: &[(&str, &str)]) -> Sys {
    let config = crate::tests_support::config(env);
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let catalog = PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap();
    let paper = Arc::new(PaperVenue::new(Arc::new(catalog), prices.clone(), clock.clone()));
    let deps =
        Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper).with_queue_stats(queue.clone());
    deps.metrics.emf.capture();
    let s = Sys { deps, store, queue, chat, clock, prices };
    s.set_price("BTC/USD", "100000");
    s.set_price("ETH/USD", "3500");
    s
}

fn sys() -> Sys {
    sys_with(&[])
}

impl Sys {
    fn set_price(&self, sym: &str, p: &str) {
        self.set_price_at(sym, p, self.clock.now());
    }
    fn set_price_at(&self, sym: &str, p: &str, at: Timestamp) {
        let price = Price::from_str(p).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "pyth", price, at).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "chainlink", price, at).unwrap();
    }
    async fn source(&self, owner: i64) {
        self.store.get_or_create_user(User::new(TelegramUserId(owner), ChatId(owner), self.clock.now())).await.unwrap();
        let s = SignalSource {
            id: SourceId::parse("strat").unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash("tvtok"),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    async fn signal(&self, body: Value) -> u16 {
        let (body, ts) = (body.to_string(), self.clock.now().secs().to_string());
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        testing::call(&self.deps, req).await.status
    }
    async fn drain(&self) {
        for _ in 0..10 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
    }
    /// The EMF lines written since the last call, parsed.
    fn lines(&self) -> Vec<Value> {
        self.deps.metrics.emf.take_lines(self.clock.now()).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
    async fn set_exec(&self, mode: ExecMode, stop: StopLevel) {
        let current = self.store.get_exec_control().await.unwrap().map_or(0, |c| c.version);
        let c = ExecControl { mode, stop, updated_by: None, updated_at: self.clock.now(), version: current + 1 };
        self.store.put_exec_control(&c).await.unwrap();
    }
}

/// The lines that carry metric `name`, each checked to be well-formed EMF: namespace Vanta, the
/// metric declared with its unit, every dimension named a root key.
fn with_metric<'a>(lines: &'a [Value], name: &str) -> Vec<&'a Value> {
    lines
        .iter()
        .filter(|l| l.get(name).is_some())
        .inspect(|l| {
            let d = &l["_aws"]["CloudWatchMetrics"][0];
            assert_eq!(d["Namespace"], "Vanta");
            assert!(l["_aws"]["Timestamp"].as_i64().unwrap() > 0);
            let m = d["Metrics"].as_array().unwrap().iter().find(|m| m["Name"] == name).expect("declared");
            assert_eq!(m["Unit"], emf::spec_of(name).unwrap().unit);
            for set in d["Dimensions"].as_array().unwrap() {
                for dim in set.as_array().unwrap() {
                    assert!(l.get(dim.as_str().unwrap()).is_some(), "dimension {dim} has a value");
                }
            }
        })
        .collect()
}

fn open_btc(id: &str) -> Value {
    json!({"source":"strat","id":id,"action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5","slippage_pct":"0.5"})
}

// ----- EMF from the handlers --------------------------------------------------------------------

#[tokio::test]
async fn a_fill_and_a_refusal_are_intent_outcomes_with_the_success_rate_and_volume() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("a-1")).await, 202);
    s.drain().await;
    let lines = s.lines();
    let filled = with_metric(&lines, names::INTENT_OUTCOMES);
    assert_eq!(filled.len(), 1, "{lines:?}");
    assert_eq!((filled[0]["outcome"].as_str(), filled[0][names::INTENT_OUTCOMES].as_i64()), (Some("filled"), Some(1)));
    assert_eq!(filled[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["outcome"]]));
    let rate = with_metric(&lines, names::INTENT_SUCCESS_RATE);
    assert_eq!(rate[0][names::INTENT_SUCCESS_RATE], 100);
    let trades = with_metric(&lines, names::TRADES);
    assert_eq!(trades.len(), 1);
    assert_eq!(trades[0]["mode"], "DRY");
    // 100 USDC at 5x: 500 USDC of notional, written exactly from the integer.
    assert_eq!(trades[0][names::TRADE_VOLUME_USDC], 500);
    assert_eq!(trades[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["mode"]]), "per mode only (no all-modes series)");

    // Refused by a rule: counted, and not a failure of the success rate.
    let lev = json!({"source":"strat","id":"a-2","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"75"});
    assert_eq!(s.signal(lev).await, 202);
    s.drain().await;
    let lines = s.lines();
    let refused = with_metric(&lines, names::INTENT_OUTCOMES);
    assert_eq!(refused.len(), 1, "{lines:?}");
    assert_eq!(refused[0]["outcome"], "refused");
    assert!(with_metric(&lines, names::INTENT_SUCCESS_RATE).is_empty());
    assert!(with_metric(&lines, names::TRADES).is_empty());

    // The same names on /metrics.
    let m = testing::call(&s.deps, TestRequest::new("GET", "/metrics")).await;
    let text = String::from_utf8_lossy(&m.body).to_string();
    assert!(text.contains("intent_outcomes{outcome=\"filled\"} 1"), "{text}");
    assert!(text.contains("intent_outcomes{outcome=\"refused\"} 1"), "{text}");
    assert!(text.contains("intent_success_rate 100"), "{text}");
    assert!(text.contains("trade_volume_usdc{mode=\"DRY\"} 500"), "{text}");
    for spec in emf::SPECS {
        assert!(text.contains(&format!("# TYPE {} ", spec.name)), "{} on /metrics", spec.name);
    }
}

#[tokio::test]
async fn a_redelivered_final_intent_is_not_counted_twice() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("a-1")).await, 202);
    s.drain().await;
    let _ = s.lines();
    worker::handle_message(&s.deps, r#"{"intent_id":"sig:strat:a-1"}"#).await.unwrap();
    assert!(with_metric(&s.lines(), names::INTENT_OUTCOMES).is_empty());
}

#[tokio::test]
async fn the_tpsl_tick_reports_prices_positions_queue_stop_and_its_run() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("a-1")).await, 202);
    s.drain().await;
    s.store.put_heartbeat("indexer", Timestamp(T0 - 90_000)).await.unwrap();
    // BTC quoted 40 s ago by both sources: stale (TP/SL skips it) and reported so.
    s.clock.advance(Duration::from_secs(40));
    s.set_exec(ExecMode::Dry, StopLevel::PauseEntries).await;
    let _ = s.lines();
    let report = schedule::tpsl_tick(&s.deps).await.unwrap();
    assert_eq!(report.skipped_pairs, vec!["BTC/USD".to_owned()]);
    let lines = s.lines();
    let ages = with_metric(&lines, names::PRICE_AGE);
    assert_eq!(ages.len(), 2, "one per source");
    assert!(ages.iter().all(|l| l["pair"] == "BTC/USD" && l[names::PRICE_AGE] == 40));
    assert!(
        ages.iter().all(|l| l["_aws"]["CloudWatchMetrics"][0]["Dimensions"] == json!([["source"]])),
        "the pair is a property, not a dimension"
    );
    let stale = with_metric(&lines, names::PRICE_STALENESS);
    assert_eq!((stale[0]["pair"].as_str(), stale[0][names::PRICE_STALENESS].as_i64()), (Some("BTC/USD"), Some(40)));
    assert_eq!(stale[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]), "the alarm's one series; the pair a property");
    assert!(with_metric(&lines, names::ACTIVE_POSITIONS).is_empty(), "the tick reads no live book");
    // The queue depths and schedule ages are on /metrics only (AWS/SQS publishes the depths).
    for name in [names::DLQ_DEPTH, names::QUEUE_DEPTH, names::QUEUE_IN_FLIGHT, names::SCHEDULE_LAST_SUCCESS_AGE] {
        assert!(with_metric(&lines, name).is_empty(), "{name} is not written to CloudWatch");
    }
    let text = s.deps.metrics.render();
    assert!(text.contains("\ndlq_depth 0\n") && text.contains("\nqueue_depth 0\n"), "{text}");
    assert!(text.contains("schedule_last_success_age_seconds{job=\"indexer\"} 130"), "{text}");
    assert_eq!(with_metric(&lines, names::EMERGENCY_STOP)[0][names::EMERGENCY_STOP], 1, "pause is level 1");
    let runs = with_metric(&lines, names::SCHEDULE_RUNS);
    assert_eq!((runs[0]["job"].as_str(), runs[0][names::SCHEDULE_RUNS].as_i64()), (Some("tpsl"), Some(1)));
    assert_eq!(with_metric(&lines, names::RECONCILER_LAG)[0][names::RECONCILER_LAG], 130);
    // Active positions come from the indexer, which reads the live book every run.
    schedule::indexer_tick(&s.deps).await.unwrap();
    let lines = s.lines();
    let active = with_metric(&lines, names::ACTIVE_POSITIONS);
    let dry = active.iter().find(|l| l["mode"] == "DRY").unwrap();
    assert_eq!(dry[names::ACTIVE_POSITIONS], 1);
}

#[tokio::test]
async fn a_dead_lettered_message_shows_in_the_dlq_depth() {
    let s = sys();
    s.queue.dead_letter(QueueMessage { group: "g".into(), dedup_id: "d".into(), body: "{}".into() }).unwrap();
    schedule::tpsl_tick(&s.deps).await.unwrap();
    assert!(with_metric(&s.lines(), names::DLQ_DEPTH).is_empty(), "AWS/SQS has it in CloudWatch");
    let text = s.deps.metrics.render();
    assert!(text.contains("\ndlq_depth 1\n"), "{text}");
}

struct DownChat;

#[async_trait]
impl Chat for DownChat {
    async fn send(&self, _: &OutgoingMessage) -> DomainResult<()> {
        Err(DomainError::Unavailable("telegram 502".into()))
    }
}

#[tokio::test]
async fn notice_deliveries_and_failures_are_counted() {
    let mut s = sys();
    let notice = json!({"user": 7, "chat": 7, "html": "hi"}).to_string();
    notifier::handle_delivery(&s.deps, &notice, 1).await.unwrap();
    assert_eq!(with_metric(&s.lines(), names::NOTIFICATIONS_SENT)[0][names::NOTIFICATIONS_SENT], 1);
    s.deps.chat = Arc::new(DownChat);
    assert!(notifier::handle_delivery(&s.deps, &notice, 2).await.is_err());
    let lines = s.lines();
    assert_eq!(with_metric(&lines, names::NOTIFICATION_FAILURES)[0][names::NOTIFICATION_FAILURES], 1);
    assert!(with_metric(&lines, names::NOTIFICATIONS_SENT).is_empty());
}

#[tokio::test]
async fn per_user_and_per_intent_values_are_properties_not_dimensions() {
    let s = sys();
    let at = Timestamp(T0 + 3 * 86_400_000);
    let d = Ok(Some(Delegation { enabled: true, expires_at: Some(at), can_trade: true }));
    emf::delegation_checked(&s.deps, TelegramUserId(42), &d);
    emf::delegation_checked(&s.deps, TelegramUserId(43), &Ok(Some(Delegation { enabled: true, expires_at: None, can_trade: true })));
    let lines = s.lines();
    let exp = with_metric(&lines, names::DELEGATION_EXPIRY);
    assert_eq!(exp.len(), 1, "a delegation without an end has no expiry");
    assert_eq!((exp[0]["user"].as_str(), exp[0][names::DELEGATION_EXPIRY].as_i64()), (Some("42"), Some(3 * 86_400)));
    assert_eq!(exp[0]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([[]]), "no metric per user");
    emf::emergency_stop_set(&s.deps, StopLevel::Flatten);
    emf::emergency_stop_set(&s.deps, StopLevel::None);
    let lines = s.lines();
    assert_eq!(
        with_metric(&lines, names::EMERGENCY_STOP_ACTIVATIONS)[0][names::EMERGENCY_STOP_ACTIVATIONS],
        1,
        "a release is no activation"
    );
    assert_eq!(with_metric(&lines, names::EMERGENCY_STOP)[0][names::EMERGENCY_STOP], json!([2, 0]), "both values, in order");
}

#[test]
fn every_name_has_a_spec_and_unknown_names_are_not_recorded() {
    for n in [
        names::INTENT_OUTCOMES,
        names::INTENT_SUCCESS_RATE,
        names::PRICE_AGE,
        names::PRICE_STALENESS,
        names::QUEUE_DEPTH,
        names::QUEUE_IN_FLIGHT,
        names::DLQ_DEPTH,
        names::ACTIVE_POSITIONS,
        names::TRADE_VOLUME_USDC,
        names::TRADES,
        names::EMERGENCY_STOP_ACTIVATIONS,
        names::EMERGENCY_STOP,
        names::SCHEDULE_RUNS,
        names::SCHEDULE_LAST_SUCCESS_AGE,
        names::RECONCILER_LAG,
        names::NOTIFICATIONS_SENT,
        names::NOTIFICATION_FAILURES,
        names::DELEGATION_EXPIRY,
        names::AMBIGUOUS_INTENT_AGE,
        names::INTENTS_LEFT_FOR_OPERATOR,
        names::AMBIGUOUS_INTENTS,
    ] {
        assert!(emf::spec_of(n).is_some(), "{n}");
    }
    assert_eq!(emf::SPECS.len(), 21);
    let e = emf::Emf::default();
    e.capture();
    e.record("made_up", 1, &[], &[]);
    assert!(e.take_lines(Timestamp(T0)).is_empty());
    // Decimal volume without floating point: 1.5 USDC.
    e.record(names::TRADE_VOLUME_USDC, 1_500_000, &[("mode", "DRY")], &[]);
    let lines = e.take_lines(Timestamp(T0));
    assert!(lines[0].contains("\"trade_volume_usdc\":1.5"), "{lines:?}");
    assert!(e.render_prometheus().contains("trade_volume_usdc{mode=\"DRY\"} 1.5"));
}

#[test]
fn a_dimension_outside_the_spec_is_not_recorded_so_the_series_are_counted_from_the_specs() {
    let e = emf::Emf::default();
    e.capture();
    // A pair as a dimension, an unknown mode, a missing dimension, a dimension on a metric without one.
    e.record(names::PRICE_STALENESS, 5, &[("pair", "BTC/USD")], &[]);
    e.record(names::TRADES, 1, &[("mode", "PAPER")], &[]);
    e.record(names::TRADES, 1, &[], &[]);
    e.record(names::EMERGENCY_STOP, 1, &[("user", "42")], &[]);
    assert!(e.take_lines(Timestamp(T0)).is_empty());
    assert!(!e.render_prometheus().contains("trades{"), "nothing on /metrics either");
    // Every value a spec declares is recorded, each its own series.
    for mode in emf::MODES {
        e.record(names::TRADES, 1, &[("mode", mode)], &[]);
    }
    e.record(names::PRICE_STALENESS, 5, &[], &[("pair", "BTC/USD")]);
    let lines = e.take_lines(Timestamp(T0));
    assert_eq!(lines.len(), 3, "{lines:?}");
    // The series CloudWatch can bill: each declared value of each metric it receives.
    let series = emf::cloudwatch_series();
    let count = |n: &str| series.iter().find(|(m, _, _)| *m == n).map(|(_, c, _)| *c);
    assert_eq!(count(names::INTENT_OUTCOMES), Some(4));
    assert_eq!(count(names::PRICE_AGE), Some(emf::PRICE_SOURCES.len()));
    assert_eq!(count(names::PRICE_STALENESS), Some(1));
    assert_eq!(count(names::TRADES), Some(2));
    assert_eq!(count(names::DLQ_DEPTH), None, "not written to CloudWatch");
    assert_eq!(series.iter().map(|(_, c, _)| c).sum::<usize>(), 26);
}

// ----- /health and /readyz ------------------------------------------------------------------------

async fn health(s: &Sys) -> Value {
    let r = testing::call(&s.deps, TestRequest::new("GET", "/health")).await;
    assert_eq!(r.status, 200);
    r.body_json()
}

#[tokio::test]
async fn health_is_ok_per_component_when_all_is_well() {
    let s = sys();
    for job in ["tpsl", "indexer"] {
        s.store.put_heartbeat(job, s.clock.now()).await.unwrap();
    }
    let h = health(&s).await;
    assert_eq!(h["status"], "ok", "{h}");
    let c = &h["components"];
    for name in ["store", "queue", "prices", "schedules", "signer", "venue", "exec"] {
        assert_eq!(c[name]["status"], "ok", "{name}: {h}");
    }
    assert_eq!(c["queue"]["dead_letters"], 0);
    assert_eq!(c["exec"]["mode"], "DRY");
    assert_eq!(c["venue"]["mode"], "DRY");
    let pairs = c["prices"]["pairs"].as_array().unwrap();
    assert!(!pairs.is_empty());
    assert_eq!(pairs[0]["sources"].as_array().unwrap().len(), 2);
    assert_eq!(pairs[0]["sources"][0]["age_secs"], 0);
    let jobs = c["schedules"]["jobs"].as_array().unwrap();
    assert!(jobs.iter().all(|j| j["status"] == "ok" && j["last_run_secs_ago"] == 0));
}

#[tokio::test]
async fn a_stale_price_degrades_health_but_not_readiness() {
    let s = sys();
    s.source(7).await;
    assert_eq!(s.signal(open_btc("a-1")).await, 202);
    s.drain().await;
    for job in ["tpsl", "indexer"] {
        s.store.put_heartbeat(job, s.clock.now()).await.unwrap();
    }
    s.clock.advance(Duration::from_secs(45));
    s.set_price("ETH/USD", "3500");
    let h = health(&s).await;
    assert_eq!(h["status"], "degraded", "{h}");
    let prices = &h["components"]["prices"];
    assert_eq!(prices["status"], "degraded");
    let pairs = prices["pairs"].as_array().unwrap();
    assert_eq!(pairs.len(), 1, "the pair with an open position: {prices}");
    let btc = &pairs[0];
    assert_eq!((btc["pair"].as_str(), btc["status"].as_str()), (Some("BTC/USD"), Some("degraded")));
    assert_eq!(btc["sources"][0]["age_secs"], 45);
    assert!(!btc["reason"].as_str().unwrap().is_empty());
    // Signals can still be accepted (the pipeline refuses trades on a stale price).
    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", "/readyz")).await.status, 200);
}

#[tokio::test]
async fn a_missed_schedule_is_degraded_then_down() {
    let s = sys();
    s.store.put_heartbeat("tpsl", s.clock.now()).await.unwrap();
    s.store.put_heartbeat("indexer", s.clock.now()).await.unwrap();
    s.clock.advance(Duration::from_secs(200));
    s.set_price("BTC/USD", "100000");
    s.set_price("ETH/USD", "3500");
    s.store.put_heartbeat("indexer", s.clock.now()).await.unwrap();
    let h = health(&s).await;
    let jobs = h["components"]["schedules"]["jobs"].as_array().unwrap().clone();
    let tpsl = jobs.iter().find(|j| j["job"] == "tpsl").unwrap();
    assert_eq!((tpsl["status"].as_str(), tpsl["last_run_secs_ago"].as_i64()), (Some("degraded"), Some(200)));
    assert_eq!(h["status"], "degraded");
    s.clock.advance(Duration::from_secs(200));
    s.set_price("BTC/USD", "100000");
    s.set_price("ETH/USD", "3500");
    let h = health(&s).await;
    assert_eq!(h["components"]["schedules"]["status"], "down", "{h}");
    assert_eq!(h["status"], "down");
    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", "/readyz")).await.status, 200, "the webhook does not need the ticks");
}

#[tokio::test]
async fn health_shows_the_stop_and_nothing_secret() {
    let s = sys_with(&[
        ("TELEGRAM_BOT_TOKEN", "123456:SECRET-TOKEN"),
        ("BASE_RPC_URL", "https://base.example/v2/SECRETKEY"),
        ("PYTH_HERMES_URL", "https://hermes.example/?key=SECRETKEY"),
    ]);
    s.set_exec(ExecMode::Dry, StopLevel::Flatten).await;
    let h = health(&s).await;
    assert_eq!(h["components"]["exec"]["status"], "degraded");
    assert_eq!(h["components"]["exec"]["stop_level"], "FLATTEN");
    assert_eq!(h["stop_level"], "FLATTEN");
    let text = h.to_string();
    for secret in ["SECRET", "example", "http"] {
        assert!(!text.contains(secret), "{secret} in {text}");
    }
}

// ----- alarms to the admins -----------------------------------------------------------------------

fn alarm_event(name: &str, state: &str, description: &str) -> Value {
    let message = json!({
        "AlarmName": name,
        "AlarmDescription": description,
        "NewStateValue": state,
        "NewStateReason": "Threshold Crossed: 1 datapoint [45.0] was greater than the threshold (30.0).",
        "StateChangeTime": "2026-12-02T01:00:00.000+0000",
    });
    json!({"Records": [{"EventSource": "aws:sns", "EventVersion": "1.0", "Sns": {"Subject": "ALARM", "Message": message.to_string()}}]})
}

#[tokio::test]
async fn an_alarm_reaches_every_admin_with_what_to_do_and_the_runbook_section() {
    let s = sys_with(&[("ADMIN_USER_IDS", "100,200")]);
    let event = alarm_event(
        "vanta-stale-prices",
        "ALARM",
        "A price in use is older than 30 s. What to do: check the price sources in /health. Runbook: https://example.org/RUNBOOK.md#stale-prices",
    );
    assert!(alarms::is_sns_event(&event));
    assert_eq!(alarms::handle_sns_event(&s.deps, &event).await.unwrap(), 2);
    let sent = s.chat.sent();
    assert_eq!(sent.iter().map(|m| m.chat).collect::<Vec<_>>(), vec![ChatId(100), ChatId(200)]);
    let html = &sent[0].html;
    assert!(html.contains("🚨 <b>ALARM</b> · vanta-stale-prices"), "{html}");
    assert!(html.contains("What to do: check the price sources in /health."), "{html}");
    assert!(html.contains("<a href=\"https://example.org/RUNBOOK.md#stale-prices\">"), "{html}");
    assert!(html.contains("greater than the threshold"), "{html}");
    let lines = s.lines();
    assert_eq!(with_metric(&lines, names::NOTIFICATIONS_SENT)[0][names::NOTIFICATIONS_SENT], json!([1, 1]));
}

#[tokio::test]
async fn an_alarm_without_a_link_gets_its_section_and_a_failed_send_is_retried() {
    let mut s = sys_with(&[("ADMIN_USER_IDS", "100")]);
    let html = alarms::render(
        None,
        alarm_event("vanta-indexer-schedule-missed", "OK", "No indexer run.")["Records"][0]["Sns"]["Message"].as_str().unwrap(),
    );
    assert!(html.contains("✅ <b>OK</b>") && html.contains("Recovered."), "{html}");
    assert!(html.contains("<code>RUNBOOK.md#schedule-missed</code>"), "{html}");
    assert_eq!(alarms::anchor_for("vanta-signal-worker-throttled"), "function-errors");
    s.deps.chat = Arc::new(DownChat);
    let event = alarm_event("vanta-dlq-not-empty", "ALARM", "x");
    assert!(alarms::handle_sns_event(&s.deps, &event).await.is_err(), "Lambda retries it");
    // An SQS batch is not an alarm.
    assert!(!alarms::is_sns_event(&json!({"Records": [{"eventSource": "aws:sqs", "body": "{}"}]})));
}
