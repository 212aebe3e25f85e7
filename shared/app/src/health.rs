//! `/health` and `/readyz`: each component Vanta depends on, `ok` / `degraded` / `down`, and an
//! overall status (the worst of them).
//!
//! | component   | ok                                   | degraded                                  | down                         |
//! |-------------|--------------------------------------|-------------------------------------------|------------------------------|
//! | `store`     | the exec-mode item reads             |                                           | the read fails or times out  |
//! | `queue`     | depths read, DLQ empty               | DLQ not empty, depths unreadable          |                              |
//! | `prices`    | every watched pair has a trusted price | a pair without one (stale, disagreeing) |                              |
//! | `schedules` | each job ran within [`SCHEDULE_OK_SECS`] | within [`SCHEDULE_DOWN_SECS`]         | later, or never              |
//! | `signer`    | a delegate key (or not needed here)  | LIVE without a delegate key               |                              |
//! | `venue`     | the pair list reads                  | LIVE asked, but no LIVE venue here        | the pair list fails          |
//! | `exec`      | no emergency stop                    | an emergency stop is on                   |                              |
//!
//! Nothing secret is shown: no URLs (they may carry keys), no tokens, no key ids; the delegate
//! address is public. `/readyz` is 503 when the store, which every request needs, is down.

use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use vanta_domain::exec::StopLevel;
use vanta_domain::market::PairSymbol;
use vanta_domain::position::PositionStatus;
use vanta_domain::risk_engine;

use crate::Deps;

/// A job that ran within this many seconds is `ok` (the schedules tick every minute).
pub const SCHEDULE_OK_SECS: i64 = 150;
/// A job that has not run for longer than this is `down` (the alarm's five minutes).
pub const SCHEDULE_DOWN_SECS: i64 = 300;
/// Longest wait for one probe (store, queue, venue).
pub const PROBE_TIMEOUT: Duration = Duration::from_secs(3);
/// Most pairs shown (those with open positions first, then the venue's first pairs).
pub const MAX_PAIRS: usize = 20;
/// Pairs of the venue's list shown when no position is open.
const CATALOG_PAIRS: usize = 3;

/// A component's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Degraded,
    Down,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Degraded => "degraded",
            Status::Down => "down",
        }
    }
}

/// One component: its status and what it shows.
#[derive(Debug, Clone)]
pub struct Component {
    pub name: &'static str,
    pub status: Status,
    pub detail: Value,
}

impl Component {
    fn new(name: &'static str, status: Status, detail: Value) -> Self {
        Self { name, status, detail }
    }
    fn json(&self) -> Value {
        let mut v = self.detail.clone();
        if let Some(m) = v.as_object_mut() {
            m.insert("status".into(), json!(self.status.as_str()));
        }
        v
    }
}

/// Every component, probed now.
#[derive(Debug, Clone)]
pub struct Report {
    pub components: Vec<Component>,
}

impl Report {
    /// The worst component status.
    pub fn status(&self) -> Status {
        self.components.iter().map(|c| c.status).max().unwrap_or(Status::Ok)
    }
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }
    pub fn json(&self) -> serde_json::Map<String, Value> {
        self.components.iter().map(|c| (c.name.to_owned(), c.json())).collect()
    }
}

/// Sets `key` of a JSON object (nothing for any other value).
fn set(v: &mut Value, key: &str, value: Value) {
    if let Some(m) = v.as_object_mut() {
        m.insert(key.to_owned(), value);
    }
}

async fn bounded<T>(f: impl std::future::Future<Output = vanta_domain::DomainResult<T>>) -> Result<T, String> {
    match tokio::time::timeout(PROBE_TIMEOUT, f).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err(format!("no answer within {} s", PROBE_TIMEOUT.as_secs())),
    }
}

/// The store: one read of the exec-mode item.
pub async fn store(deps: &Deps) -> Component {
    let started = Instant::now();
    let read = bounded(deps.store.get_exec_control()).await;
    let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    match read {
        Ok(_) => Component::new("store", Status::Ok, json!({ "latency_ms": latency_ms })),
        Err(e) => {
            tracing::warn!(error = %e, "health: store unavailable");
            Component::new("store", Status::Down, json!({ "latency_ms": latency_ms, "error": "store unavailable" }))
        }
    }
}

async fn queue(deps: &Deps) -> Component {
    let Some(stats) = &deps.queue_stats else {
        return Component::new("queue", Status::Degraded, json!({ "error": "queue depths are not readable by this function" }));
    };
    match bounded(stats.depths()).await {
        Ok(d) => {
            let status = if d.dead_letters > 0 { Status::Degraded } else { Status::Ok };
            Component::new("queue", status, json!({ "queued": d.queued, "in_flight": d.in_flight, "dead_letters": d.dead_letters }))
        }
        Err(e) => {
            tracing::warn!(error = %e, "health: queue depths unavailable");
            Component::new("queue", Status::Degraded, json!({ "error": "queue depths unavailable" }))
        }
    }
}

/// The pairs whose prices matter now: those with open positions, else the venue's first few.
async fn watched_pairs(deps: &Deps) -> Vec<PairSymbol> {
    let mut pairs: Vec<PairSymbol> = Vec::new();
    if let Ok(live) = bounded(deps.store.live_positions()).await {
        for p in live.iter().filter(|p| p.status == PositionStatus::Open) {
            if !pairs.contains(&p.pair) {
                pairs.push(p.pair.clone());
            }
        }
    }
    if pairs.is_empty() {
        let venue = deps.live.as_ref().unwrap_or(&deps.paper);
        if let Ok(catalog) = bounded(deps.pair_catalog.get(venue.as_ref(), deps.clock.now())).await {
            pairs.extend(catalog.iter().filter(|p| p.listed).take(CATALOG_PAIRS).map(|p| p.symbol.clone()));
        }
    }
    pairs.truncate(MAX_PAIRS);
    pairs
}

/// Prices per pair and source with their age; a pair is `ok` when the risk engine would trust
/// its price now (fresh and agreeing sources), as TP/SL and every entry require.
pub async fn prices(deps: &Deps) -> Component {
    let now = deps.clock.now();
    let mut worst = Status::Ok;
    let mut rows = Vec::new();
    for pair in watched_pairs(deps).await {
        let quotes = bounded(deps.prices.quotes(&pair)).await.unwrap_or_default();
        let sources: Vec<Value> =
            quotes.iter().map(|q| json!({ "source": q.source, "age_secs": now.since(q.published_at).div_euclid(1000).max(0) })).collect();
        let trusted = risk_engine::reference_price(&pair, &quotes, now, deps.ops.max_price_age_secs, deps.ops.max_price_deviation);
        let mut row = json!({ "pair": pair.as_str(), "sources": sources });
        let status = match trusted {
            Ok(_) => Status::Ok,
            Err(why) => {
                set(&mut row, "reason", json!(why.to_string()));
                Status::Degraded
            }
        };
        set(&mut row, "status", json!(status.as_str()));
        worst = worst.max(status);
        rows.push(row);
    }
    Component::new("prices", worst, json!({ "max_age_secs": deps.ops.max_price_age_secs, "pairs": rows }))
}

/// The last run of each scheduled job.
pub async fn schedules(deps: &Deps) -> Component {
    let now = deps.clock.now();
    let runs = match bounded(deps.store.heartbeats()).await {
        Ok(r) => r,
        Err(_) => return Component::new("schedules", Status::Down, json!({ "error": "schedule runs unreadable" })),
    };
    let mut worst = Status::Ok;
    let mut jobs = Vec::new();
    for job in crate::emf::JOBS {
        let last = runs.iter().find(|(j, _)| j == job).map(|(_, at)| now.since(*at).div_euclid(1000).max(0));
        let status = match last {
            Some(s) if s <= SCHEDULE_OK_SECS => Status::Ok,
            Some(s) if s <= SCHEDULE_DOWN_SECS => Status::Degraded,
            _ => Status::Down,
        };
        worst = worst.max(status);
        jobs.push(json!({ "job": job, "status": status.as_str(), "last_run_secs_ago": last }));
    }
    Component::new("schedules", worst, json!({ "jobs": jobs }))
}

fn signer(deps: &Deps, live_asked: bool) -> Component {
    let keys = deps.delegates.as_ref().map_or(0, |p| p.len());
    match (deps.delegate, deps.signer.is_some()) {
        (Some(address), signs) => {
            Component::new("signer", Status::Ok, json!({ "delegate": address.to_string(), "keys": keys, "signs_here": signs }))
        }
        (None, _) if live_asked => Component::new(
            "signer",
            Status::Degraded,
            json!({ "keys": 0, "signs_here": false, "error": "LIVE is set but this function has no delegate key (the signal worker signs)" }),
        ),
        (None, _) => Component::new("signer", Status::Ok, json!({ "keys": 0, "signs_here": false })),
    }
}

async fn venue(deps: &Deps, live_asked: bool) -> Component {
    let (mode, venue) = deps.venue(if live_asked { vanta_domain::exec::ExecMode::Live } else { vanta_domain::exec::ExecMode::Dry });
    let route = match deps.config.avantis_route {
        vanta_runtime::AvantisRoute::Relayer => "relayer",
        vanta_runtime::AvantisRoute::Direct => "direct",
    };
    let base = json!({ "mode": mode.as_str(), "live_configured": deps.live.is_some(), "route": route });
    match bounded(venue.pairs()).await {
        Ok(c) => {
            let mut v = base;
            set(&mut v, "pairs", json!(c.len()));
            let status = if live_asked && deps.live.is_none() { Status::Degraded } else { Status::Ok };
            if status == Status::Degraded {
                set(&mut v, "error", json!("LIVE is set but this function has no LIVE venue; its trades would run DRY"));
            }
            Component::new("venue", status, v)
        }
        Err(e) => {
            tracing::warn!(error = %e, "health: venue pair list unavailable");
            let mut v = base;
            set(&mut v, "error", json!("the venue's pair list is unavailable"));
            Component::new("venue", Status::Down, v)
        }
    }
}

/// Every component, probed now (the store read and the exec mode once each).
pub async fn report(deps: &Deps) -> Report {
    let store = store(deps).await;
    let exec = deps.effective_exec().await;
    let live_asked = exec.mode == vanta_domain::exec::ExecMode::Live;
    let exec_component = Component::new(
        "exec",
        if exec.stop == StopLevel::None { Status::Ok } else { Status::Degraded },
        json!({
            "mode": exec.mode.as_str(),
            "stop_level": exec.stop.as_str(),
            "emergency_stop": exec.stop != StopLevel::None,
            "why": exec.why,
        }),
    );
    let components = vec![
        store,
        queue(deps).await,
        prices(deps).await,
        schedules(deps).await,
        signer(deps, live_asked),
        venue(deps, live_asked).await,
        exec_component,
    ];
    Report { components }
}

/// The `/health` body: overall status, version, uptime, the effective exec mode (also at the
/// top, as before) and every component.
pub async fn health_json(deps: &Deps) -> Value {
    let r = report(deps).await;
    let exec = r.component("exec").map(|c| c.detail.clone()).unwrap_or_default();
    json!({
        "status": r.status().as_str(),
        "version": env!("CARGO_PKG_VERSION"),
        "uptime_secs": deps.started.elapsed().as_secs(),
        "exec_mode": exec.get("mode").cloned().unwrap_or_default(),
        "emergency_stop": exec.get("emergency_stop").cloned().unwrap_or_default(),
        "stop_level": exec.get("stop_level").cloned().unwrap_or_default(),
        "components": r.json(),
    })
}

/// The `/readyz` answer: 503 when the store (every request needs it) is down.
pub async fn readyz(deps: &Deps) -> (u16, Value) {
    let s = store(deps).await;
    match s.status {
        Status::Down => (503, json!({ "status": "not ready", "error": "store unavailable", "components": { "store": s.json() } })),
        _ => (200, json!({ "status": "ready", "components": { "store": s.json() } })),
    }
}
