//! Application metrics: CloudWatch embedded metric format (EMF) under Lambda, Prometheus text on
//! the local runner's `GET /metrics`, under the **same names** ([`names`]).
//!
//! Handlers record with the one-line helpers at the bottom of this file ([`intent_outcome`],
//! [`trade`], [`price_quotes`], ...). Every recording goes into two places inside the instance's
//! [`Metrics`](crate::metrics::Metrics):
//!
//! - a buffer, written by [`Emf::flush`] (each Lambda `main.rs` calls it after every invocation)
//!   as one EMF JSON line per dimension set to the sink: stdout under Lambda (CloudWatch Logs
//!   turns the lines into metrics in namespace [`NAMESPACE`]), a capture in tests, nothing on the
//!   local runner;
//! - a registry (counters summed, gauges last value, rates averaged) that `/metrics` renders.
//!
//! Dimensions stay low-cardinality and closed: each metric declares the one dimension it is
//! recorded with and every value that dimension can take ([`Spec::dimension`]), and a recording
//! outside that set is refused with a warning. So the series CloudWatch can bill are counted
//! from [`SPECS`] alone ([`cloudwatch_series`], which the bench's cost model prices). Pairs, users
//! and intents are EMF *properties*: searchable fields of the log line (CloudWatch Logs
//! Insights: `filter ispresent(price_age_seconds) | stats max(price_age_seconds) by source, pair`),
//! not dimensions (no metric per pair, user or intent). A few metrics are kept for the local
//! runner's `/metrics` only ([`Spec::cloudwatch`] false): AWS publishes the same figure for free
//! (the queue depths, `AWS/SQS`) or another metric carries it (`reconciler_lag_seconds`). Values
//! are integers; the USDC volume is written from its 1e6 integer as an exact decimal (no floating
//! point).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;

use vanta_domain::exec::{ExecMode, StopLevel};
use vanta_domain::ids::TelegramUserId;
use vanta_domain::intent::{Intent, Outcome};
use vanta_domain::market::PairSymbol;
use vanta_domain::money::{Leverage, Usdc};
use vanta_domain::ports::{Delegation, PriceQuote};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::time::Timestamp;

use crate::Deps;

/// The CloudWatch namespace of every Vanta metric.
pub const NAMESPACE: &str = "Vanta";

/// The metric names, shared by CloudWatch (EMF), `/metrics`, the template's alarms and the ops
/// CLI. Dimensions are given in brackets.
pub mod names {
    /// Count [outcome = filled | refused | failed | ambiguous]. `refused` is a rule or the
    /// user's settings saying no; `ambiguous` counts each time an order's outcome became unknown.
    pub const INTENT_OUTCOMES: &str = "intent_outcomes";
    /// Percent, one sample per intent that ended: 100 filled (settled), 0 failed. Its average
    /// over a period is the success rate. Refusals by rule are not failures and not counted.
    pub const INTENT_SUCCESS_RATE: &str = "intent_success_rate";
    /// Seconds [source] (property `pair`): age of each source's latest quote, for the pairs the
    /// TP/SL tick watches (pairs with open positions).
    pub const PRICE_AGE: &str = "price_age_seconds";
    /// Seconds [] (property `pair`): age of the freshest quote of a pair. Its maximum is the
    /// alarm's "oldest price in use"; the pair is in the log line.
    pub const PRICE_STALENESS: &str = "price_staleness_seconds";
    /// Count: messages waiting on `signals.fifo` (`/metrics` only: `AWS/SQS` publishes it).
    pub const QUEUE_DEPTH: &str = "queue_depth";
    /// Count: messages being processed (in flight) on `signals.fifo` (`/metrics` only).
    pub const QUEUE_IN_FLIGHT: &str = "queue_in_flight";
    /// Count: messages in the signals DLQ (`/metrics` only; the DLQ alarm reads `AWS/SQS`).
    pub const DLQ_DEPTH: &str = "dlq_depth";
    /// Count [mode]: open (and closing) positions.
    pub const ACTIVE_POSITIONS: &str = "active_positions";
    /// USDC [mode]: notional of each fill (opens and closes); its daily sum is the daily volume.
    pub const TRADE_VOLUME_USDC: &str = "trade_volume_usdc";
    /// Count [mode]: fills; the daily sum is the daily trade count.
    pub const TRADES: &str = "trades";
    /// Count: emergency stops pulled (from Telegram).
    pub const EMERGENCY_STOP_ACTIVATIONS: &str = "emergency_stop_activations";
    /// Level of the effective emergency stop: 0 none, 1 pause, 2 flatten (each TP/SL tick).
    pub const EMERGENCY_STOP: &str = "emergency_stop";
    /// Count [job = tpsl | indexer]: scheduled runs that completed.
    pub const SCHEDULE_RUNS: &str = "schedule_runs";
    /// Seconds [job]: since each schedule's last completed run (each TP/SL tick; `/metrics`
    /// only: in CloudWatch the indexer's is `reconciler_lag_seconds`, and the tick's own is
    /// always about a minute when it is written at all).
    pub const SCHEDULE_LAST_SUCCESS_AGE: &str = "schedule_last_success_age_seconds";
    /// Seconds: since the reconciler (indexer) last completed a run.
    pub const RECONCILER_LAG: &str = "reconciler_lag_seconds";
    /// Count: notices delivered to Telegram by the notifier.
    pub const NOTIFICATIONS_SENT: &str = "notifications_sent";
    /// Count: notice deliveries that failed (Telegram down, 5xx, long flood control); the
    /// queue delivers them again.
    pub const NOTIFICATION_FAILURES: &str = "notification_failures";
    /// Seconds until a user's delegation expires (property `user`); negative once expired.
    pub const DELEGATION_EXPIRY: &str = "delegation_expiry_seconds";
    /// Seconds since an intent whose order outcome is unknown was created (property `intent`).
    pub const AMBIGUOUS_INTENT_AGE: &str = "ambiguous_intent_age_seconds";
    /// Count: intents left SUBMITTED or AMBIGUOUS for an operator (their message reached the DLQ).
    pub const INTENTS_LEFT_FOR_OPERATOR: &str = "intents_left_for_operator";
    /// Count: intents whose order outcome is unknown (SUBMITTED or AMBIGUOUS) now, each indexer
    /// tick ([`crate::scans`]).
    pub const AMBIGUOUS_INTENTS: &str = "ambiguous_intents";
}

/// How a metric aggregates on `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Summed since the process started.
    Counter,
    /// The last value recorded.
    Gauge,
    /// The average of every sample (a rate in percent).
    Mean,
}

/// The one dimension a metric is recorded with, and every value it can take.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dimension {
    pub key: &'static str,
    pub values: &'static [&'static str],
}

/// How often a CloudWatch series is written. CloudWatch bills a custom metric by the hour in
/// which it receives data (prorated), so a series written only while something is wrong costs
/// a fraction of one written every hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cadence {
    /// Every scheduled tick, or with the steady traffic: every hour of the month.
    Steady,
    /// Only while something is wrong (a stop pulled, a failed notice, an intent left for an
    /// operator).
    OnIncident,
}

/// One metric: its name, unit, decimals of its integer values and description.
#[derive(Debug, Clone, Copy)]
pub struct Spec {
    pub name: &'static str,
    /// The CloudWatch unit.
    pub unit: &'static str,
    pub kind: Kind,
    /// The recorded integers are in units of 10^-decimals (USDC: 6).
    pub decimals: u32,
    /// The dimension it is recorded with (None: no dimension, one series).
    pub dimension: Option<Dimension>,
    /// Written to CloudWatch as EMF (false: the local runner's `/metrics` only).
    pub cloudwatch: bool,
    pub cadence: Cadence,
    pub help: &'static str,
}

impl Spec {
    /// The CloudWatch series it can make: one per dimension value, or one (0 when it is not
    /// written to CloudWatch).
    pub fn series(&self) -> usize {
        match (self.cloudwatch, self.dimension) {
            (false, _) => 0,
            (true, None) => 1,
            (true, Some(d)) => d.values.len(),
        }
    }
}

const fn spec(name: &'static str, unit: &'static str, kind: Kind, help: &'static str) -> Spec {
    Spec { name, unit, kind, decimals: 0, dimension: None, cloudwatch: true, cadence: Cadence::Steady, help }
}

const fn by(key: &'static str, values: &'static [&'static str], s: Spec) -> Spec {
    Spec { dimension: Some(Dimension { key, values }), ..s }
}

const fn local_only(s: Spec) -> Spec {
    Spec { cloudwatch: false, ..s }
}

const fn on_incident(s: Spec) -> Spec {
    Spec { cadence: Cadence::OnIncident, ..s }
}

/// The intent outcomes (`outcome`).
pub const OUTCOMES: [&str; 4] = ["filled", "refused", "failed", "ambiguous"];
/// The execution modes (`mode`), as [`ExecMode::as_str`] writes them.
pub const MODES: [&str; 2] = ["DRY", "LIVE"];
/// The price sources (`source`): Pyth, Chainlink and the venue's own feed.
pub const PRICE_SOURCES: [&str; 3] = ["pyth", vanta_domain::feeds::CHAINLINK, vanta_domain::feeds::VENUE];

/// Every metric this module records.
pub const SPECS: &[Spec] = &[
    by(
        "outcome",
        &OUTCOMES,
        spec(names::INTENT_OUTCOMES, "Count", Kind::Counter, "Intents by outcome (filled, refused, failed, ambiguous)"),
    ),
    spec(names::INTENT_SUCCESS_RATE, "Percent", Kind::Mean, "Percent of ended intents that filled"),
    by("source", &PRICE_SOURCES, spec(names::PRICE_AGE, "Seconds", Kind::Gauge, "Age of each source's latest quote")),
    spec(names::PRICE_STALENESS, "Seconds", Kind::Gauge, "Age of a pair's freshest quote"),
    local_only(spec(names::QUEUE_DEPTH, "Count", Kind::Gauge, "Messages waiting on signals.fifo")),
    local_only(spec(names::QUEUE_IN_FLIGHT, "Count", Kind::Gauge, "Messages in flight on signals.fifo")),
    local_only(spec(names::DLQ_DEPTH, "Count", Kind::Gauge, "Messages in the signals DLQ")),
    by("mode", &MODES, spec(names::ACTIVE_POSITIONS, "Count", Kind::Gauge, "Open and closing positions")),
    by("mode", &MODES, Spec { decimals: 6, ..spec(names::TRADE_VOLUME_USDC, "None", Kind::Counter, "Notional of fills in USDC") }),
    by("mode", &MODES, spec(names::TRADES, "Count", Kind::Counter, "Fills")),
    on_incident(spec(names::EMERGENCY_STOP_ACTIVATIONS, "Count", Kind::Counter, "Emergency stops pulled")),
    spec(names::EMERGENCY_STOP, "None", Kind::Gauge, "Effective emergency stop (0 none, 1 pause, 2 flatten)"),
    by("job", &JOBS, spec(names::SCHEDULE_RUNS, "Count", Kind::Counter, "Completed scheduled runs")),
    local_only(by("job", &JOBS, spec(names::SCHEDULE_LAST_SUCCESS_AGE, "Seconds", Kind::Gauge, "Seconds since a schedule last completed"))),
    spec(names::RECONCILER_LAG, "Seconds", Kind::Gauge, "Seconds since the reconciler last completed"),
    spec(names::NOTIFICATIONS_SENT, "Count", Kind::Counter, "Notices delivered"),
    on_incident(spec(names::NOTIFICATION_FAILURES, "Count", Kind::Counter, "Notice deliveries that failed")),
    spec(names::DELEGATION_EXPIRY, "Seconds", Kind::Gauge, "Seconds until a user's delegation expires"),
    spec(names::AMBIGUOUS_INTENT_AGE, "Seconds", Kind::Gauge, "Age of an intent whose outcome is unknown"),
    on_incident(spec(names::INTENTS_LEFT_FOR_OPERATOR, "Count", Kind::Counter, "Intents left for an operator to reconcile")),
    spec(names::AMBIGUOUS_INTENTS, "Count", Kind::Gauge, "Intents whose order outcome is unknown now"),
];

/// Every CloudWatch series the code can write: (metric, series, cadence), one entry per metric
/// written to CloudWatch. [`Emf::record`] refuses any dimension outside its spec, so this is
/// the whole of what CloudWatch can bill.
pub fn cloudwatch_series() -> Vec<(&'static str, usize, Cadence)> {
    SPECS.iter().filter(|s| s.cloudwatch).map(|s| (s.name, s.series(), s.cadence)).collect()
}

/// Whether `dims` is what `spec` declares: nothing for a metric without a dimension, else its
/// one key with one of its values.
fn dims_allowed(spec: &Spec, dims: &[(&'static str, &str)]) -> bool {
    match (spec.dimension, dims) {
        (None, []) => true,
        (Some(d), [(key, value)]) => *key == d.key && d.values.contains(value),
        _ => false,
    }
}

/// The spec of `name` (every name in [`names`] has one).
pub fn spec_of(name: &str) -> Option<&'static Spec> {
    SPECS.iter().find(|s| s.name == name)
}

/// Where flushed EMF lines go.
#[derive(Debug, Default)]
enum Sink {
    /// Nowhere (local runner, unit tests that do not look).
    #[default]
    Off,
    /// Standard output, where the Lambda runtime hands them to CloudWatch Logs.
    Stdout,
    /// Kept for a test to read ([`Emf::take_lines`]).
    Capture(Vec<String>),
}

type Pairs = Vec<(&'static str, String)>;

#[derive(Debug, Default)]
struct Agg {
    sum: i128,
    count: u64,
    last: i64,
}

#[derive(Debug, Default)]
struct State {
    sink: Sink,
    /// (dimensions, properties) → metric → values, until the next flush.
    pending: BTreeMap<(Pairs, Pairs), BTreeMap<&'static str, Vec<i64>>>,
    /// (metric, dimensions + properties) → aggregate, for `/metrics`.
    registry: BTreeMap<(&'static str, Pairs), Agg>,
}

/// The emitter and registry of one instance (inside [`crate::metrics::Metrics`]).
#[derive(Debug, Default)]
pub struct Emf {
    state: Mutex<State>,
}

impl Emf {
    fn with<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        let mut guard = match self.state.lock() {
            Ok(g) => g,
            // A panic elsewhere while holding the lock: the data is still usable.
            Err(poisoned) => poisoned.into_inner(),
        };
        f(&mut guard)
    }

    /// Flushed lines go to stdout (the Lambda functions' cold start sets this).
    pub fn to_stdout(&self) {
        self.with(|s| s.sink = Sink::Stdout);
    }

    /// Flushed lines are kept for [`Emf::take_lines`] (tests).
    pub fn capture(&self) {
        self.with(|s| s.sink = Sink::Capture(Vec::new()));
    }

    /// Flushes at `now` and returns every line captured so far (tests; empty unless
    /// [`Emf::capture`] was called).
    pub fn take_lines(&self, now: Timestamp) -> Vec<String> {
        self.flush(now);
        self.with(|s| match &mut s.sink {
            Sink::Capture(lines) => std::mem::take(lines),
            _ => Vec::new(),
        })
    }

    /// Records `value` of metric `name` with `dims` (its spec's dimension and one of its
    /// values) and `props` (searchable fields, not dimensions). Unknown names, and dimensions
    /// outside the spec, are ignored with a warning (no unplanned CloudWatch series).
    pub fn record(&self, name: &'static str, value: i64, dims: &[(&'static str, &str)], props: &[(&'static str, &str)]) {
        let Some(spec) = spec_of(name) else {
            tracing::warn!(metric = name, "unknown metric not recorded");
            return;
        };
        if !dims_allowed(spec, dims) {
            tracing::warn!(metric = name, dimensions = ?dims, "dimensions outside the metric's spec; not recorded");
            return;
        }
        let own = |p: &[(&'static str, &str)]| p.iter().map(|(k, v)| (*k, (*v).to_owned())).collect::<Pairs>();
        let (dims, props) = (own(dims), own(props));
        self.with(|s| {
            let mut labels = dims.clone();
            labels.extend(props.iter().cloned());
            let agg = s.registry.entry((name, labels)).or_default();
            agg.sum = agg.sum.saturating_add(i128::from(value));
            agg.count = agg.count.saturating_add(1);
            agg.last = value;
            let values = s.pending.entry((dims, props)).or_default().entry(name).or_default();
            // EMF takes at most 100 values per metric and line.
            if values.len() < 100 {
                values.push(value);
            }
        });
    }

    /// Writes what was recorded since the last flush: one EMF line per dimension set.
    pub fn flush(&self, now: Timestamp) {
        self.with(|s| {
            let pending = std::mem::take(&mut s.pending);
            if matches!(s.sink, Sink::Off) {
                return;
            }
            for ((dims, props), mut metrics) in pending {
                // `/metrics`-only figures are in the registry already; CloudWatch never sees them.
                metrics.retain(|name, _| spec_of(name).is_some_and(|s| s.cloudwatch));
                if metrics.is_empty() {
                    continue;
                }
                let line = emf_line(now, &dims, &props, &metrics);
                match &mut s.sink {
                    Sink::Off => {}
                    Sink::Stdout => println!("{line}"),
                    Sink::Capture(lines) => lines.push(line),
                }
            }
        });
    }

    /// The registry as Prometheus text (the same names as in CloudWatch).
    pub fn render_prometheus(&self) -> String {
        let mut out = String::new();
        self.with(|s| {
            for spec in SPECS {
                let series: Vec<_> = s.registry.iter().filter(|((n, _), _)| *n == spec.name).collect();
                let kind = if spec.kind == Kind::Counter { "counter" } else { "gauge" };
                let _ = writeln!(out, "# HELP {} {}\n# TYPE {} {kind}", spec.name, spec.help, spec.name);
                for ((_, labels), agg) in series {
                    let value = match spec.kind {
                        Kind::Counter => decimal(agg.sum, spec.decimals),
                        Kind::Gauge => decimal(i128::from(agg.last), spec.decimals),
                        // Two decimals, exactly: sum * 100 / count in hundredths.
                        Kind::Mean => decimal(agg.sum.saturating_mul(100) / i128::from(agg.count.max(1)), 2),
                    };
                    let _ = writeln!(out, "{}{} {value}", spec.name, prom_labels(labels));
                }
            }
        });
        out
    }
}

/// `raw` × 10^-decimals as an exact decimal string (`1500000`, 6 → `1.5`).
fn decimal(raw: i128, decimals: u32) -> String {
    if decimals == 0 {
        return raw.to_string();
    }
    let unit = 10i128.pow(decimals);
    let (int, frac) = (raw.abs() / unit, raw.abs() % unit);
    let sign = if raw < 0 { "-" } else { "" };
    if frac == 0 {
        return format!("{sign}{int}");
    }
    let frac = format!("{frac:0width$}", width = decimals as usize);
    format!("{sign}{int}.{}", frac.trim_end_matches('0'))
}

fn json_str(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".to_owned())
}

fn emf_line(now: Timestamp, dims: &Pairs, props: &Pairs, metrics: &BTreeMap<&'static str, Vec<i64>>) -> String {
    let names: Vec<String> = dims.iter().map(|(k, _)| json_str(k)).collect();
    let mut defs = Vec::new();
    // One dimension set: exactly the recorded dimensions (no rollups, see [`Spec::series`]).
    let dim_sets = [format!("[{}]", names.join(","))];
    for name in metrics.keys() {
        let Some(spec) = spec_of(name) else { continue };
        defs.push(format!("{{\"Name\":{},\"Unit\":{}}}", json_str(name), json_str(spec.unit)));
    }
    let mut line = format!(
        "{{\"_aws\":{{\"Timestamp\":{},\"CloudWatchMetrics\":[{{\"Namespace\":{},\"Dimensions\":[{}],\"Metrics\":[{}]}}]}}",
        now.millis(),
        json_str(NAMESPACE),
        dim_sets.join(","),
        defs.join(",")
    );
    for (k, v) in dims.iter().chain(props.iter()) {
        let _ = write!(line, ",{}:{}", json_str(k), json_str(v));
    }
    for (name, values) in metrics {
        let decimals = spec_of(name).map_or(0, |s| s.decimals);
        let rendered: Vec<String> = values.iter().map(|v| decimal(i128::from(*v), decimals)).collect();
        let _ = match rendered.as_slice() {
            [one] => write!(line, ",{}:{one}", json_str(name)),
            many => write!(line, ",{}:[{}]", json_str(name), many.join(",")),
        };
    }
    line.push('}');
    line
}

fn prom_labels(labels: &Pairs) -> String {
    if labels.is_empty() {
        return String::new();
    }
    let esc = |v: &str| v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
    let inner: Vec<String> = labels.iter().map(|(k, v)| format!("{k}=\"{}\"", esc(v))).collect();
    format!("{{{}}}", inner.join(","))
}

// ---------------------------------------------------------------------------------------------
// What handlers record (one line at the point where the outcome is known)
// ---------------------------------------------------------------------------------------------

fn emf(deps: &Deps) -> &Emf {
    &deps.metrics.emf
}

fn secs_between(from: Timestamp, to: Timestamp) -> i64 {
    to.since(from).div_euclid(1000)
}

/// An intent the pipeline finished with `outcome` (the signal worker). A redelivery of an
/// intent that was final already is not counted again.
pub fn intent_outcome(deps: &Deps, outcome: &Outcome) {
    let (label, rate) = match outcome {
        Outcome::Settled => ("filled", Some(100)),
        Outcome::Rejected(_) => ("refused", None),
        Outcome::Failed(_) => ("failed", Some(0)),
        Outcome::AlreadyFinal(_) => return,
    };
    emf(deps).record(names::INTENT_OUTCOMES, 1, &[("outcome", label)], &[]);
    if let Some(r) = rate {
        emf(deps).record(names::INTENT_SUCCESS_RATE, r, &[], &[]);
    }
}

/// An intent's order outcome is unknown (it became AMBIGUOUS, or still is on a redelivery).
pub fn ambiguous(deps: &Deps, intent: &Intent) {
    let age = secs_between(intent.created_at, deps.clock.now());
    emf(deps).record(names::INTENT_OUTCOMES, 1, &[("outcome", "ambiguous")], &[]);
    emf(deps).record(names::AMBIGUOUS_INTENT_AGE, age, &[], &[("intent", intent.id.as_str())]);
}

/// An intent left SUBMITTED or AMBIGUOUS for an operator (its message goes to the DLQ).
pub fn left_for_operator(deps: &Deps, intent: &Intent) {
    let age = secs_between(intent.created_at, deps.clock.now());
    emf(deps).record(names::INTENTS_LEFT_FOR_OPERATOR, 1, &[], &[("intent", intent.id.as_str())]);
    emf(deps).record(names::AMBIGUOUS_INTENT_AGE, age, &[], &[("intent", intent.id.as_str())]);
}

/// A fill (open or close) of `collateral` at `leverage` in `mode`.
pub fn trade(deps: &Deps, mode: ExecMode, leverage: Leverage, collateral: Usdc) {
    let notional = leverage.notional(collateral).unwrap_or(Usdc::from_raw(u64::MAX));
    let mode = [("mode", mode.as_str())];
    emf(deps).record(names::TRADES, 1, &mode, &[]);
    emf(deps).record(names::TRADE_VOLUME_USDC, i64::try_from(notional.raw()).unwrap_or(i64::MAX), &mode, &[]);
}

/// The quotes of `pair` as a tick read them: each source's age, and the pair's staleness (the
/// age of its freshest quote; no quote at all reads as one day). The pair is a property.
pub fn price_quotes(deps: &Deps, pair: &PairSymbol, quotes: &[PriceQuote]) {
    let now = deps.clock.now();
    let mut freshest: Option<i64> = None;
    for q in quotes {
        let age = secs_between(q.published_at, now).max(0);
        emf(deps).record(names::PRICE_AGE, age, &[("source", q.source.as_str())], &[("pair", pair.as_str())]);
        freshest = Some(freshest.map_or(age, |f| f.min(age)));
    }
    emf(deps).record(names::PRICE_STALENESS, freshest.unwrap_or(NO_PRICE_AGE), &[], &[("pair", pair.as_str())]);
}

/// The staleness recorded for a pair without any quote.
pub const NO_PRICE_AGE: i64 = 86_400;

/// A scheduled job completed a run.
pub fn schedule_run(deps: &Deps, job: &str) {
    emf(deps).record(names::SCHEDULE_RUNS, 1, &[("job", job)], &[]);
}

/// The scheduled jobs whose last run the TP/SL tick reports.
pub const JOBS: [&str; 2] = ["tpsl", "indexer"];

/// Open and closing positions by mode, from a read of the live book (the indexer's).
pub fn active_positions(deps: &Deps, live: &[Position]) {
    let active =
        |m: ExecMode| live.iter().filter(|p| p.mode == m && matches!(p.status, PositionStatus::Open | PositionStatus::Closing)).count();
    for mode in [ExecMode::Dry, ExecMode::Live] {
        emf(deps).record(names::ACTIVE_POSITIONS, i64::try_from(active(mode)).unwrap_or(i64::MAX), &[("mode", mode.as_str())], &[]);
    }
}

/// The TP/SL tick's gauges: queue and DLQ depths, the effective emergency stop, each
/// schedule's last success and the reconciler's lag (read concurrently). (Active positions come from the indexer,
/// which reads the live book; the tick reads only crossed triggers.) Reads that fail are logged
/// and leave their gauge out (never the tick).
pub async fn tick_gauges(deps: &Deps) {
    let now = deps.clock.now();
    // Three independent reads at once: the tick waits for one round trip, not three.
    let depths = async {
        match &deps.queue_stats {
            Some(stats) => Some(stats.depths().await),
            None => None,
        }
    };
    let (depths, exec, runs) = tokio::join!(depths, deps.effective_exec(), deps.store.heartbeats());
    if let Some(depths) = depths {
        match depths {
            Ok(d) => {
                let n = |v: u64| i64::try_from(v).unwrap_or(i64::MAX);
                emf(deps).record(names::QUEUE_DEPTH, n(d.queued), &[], &[]);
                emf(deps).record(names::QUEUE_IN_FLIGHT, n(d.in_flight), &[], &[]);
                emf(deps).record(names::DLQ_DEPTH, n(d.dead_letters), &[], &[]);
            }
            Err(e) => tracing::warn!(error = %e, "queue depths not readable; not recorded"),
        }
    }
    emf(deps).record(names::EMERGENCY_STOP, stop_level(exec.stop), &[], &[]);
    match runs {
        Ok(runs) => {
            for job in JOBS {
                // A job that never ran reads as a day ago (the alarm on its runs says it first).
                let age = runs.iter().find(|(j, _)| j == job).map_or(NO_PRICE_AGE, |(_, at)| secs_between(*at, now).max(0));
                emf(deps).record(names::SCHEDULE_LAST_SUCCESS_AGE, age, &[("job", job)], &[]);
                if job == "indexer" {
                    emf(deps).record(names::RECONCILER_LAG, age, &[], &[]);
                }
            }
        }
        Err(e) => tracing::warn!(error = %e, "schedule runs not readable; not recorded"),
    }
}

/// The stop level as the `emergency_stop` gauge reports it.
pub fn stop_level(stop: StopLevel) -> i64 {
    match stop {
        StopLevel::None => 0,
        StopLevel::PauseEntries => 1,
        StopLevel::Flatten => 2,
    }
}

/// The emergency stop was set to `level` (an activation unless it is a release); the gauge
/// follows at once.
pub fn emergency_stop_set(deps: &Deps, level: StopLevel) {
    if level != StopLevel::None {
        emf(deps).record(names::EMERGENCY_STOP_ACTIVATIONS, 1, &[], &[]);
    }
    emf(deps).record(names::EMERGENCY_STOP, stop_level(level), &[], &[]);
}

/// The result of sending a notice: delivered, or failed (a user who blocked the bot is neither:
/// there is nobody to deliver to).
pub fn notice_delivery(deps: &Deps, sent: &vanta_domain::DomainResult<()>) {
    match sent {
        Ok(()) => emf(deps).record(names::NOTIFICATIONS_SENT, 1, &[], &[]),
        Err(vanta_domain::DomainError::Forbidden(_)) => {}
        Err(_) => emf(deps).record(names::NOTIFICATION_FAILURES, 1, &[], &[]),
    }
}

/// A user's delegation as the venue reported it: one that may trade and ends records its expiry.
pub fn delegation_checked(deps: &Deps, user: TelegramUserId, delegation: &vanta_domain::DomainResult<Option<Delegation>>) {
    if let Ok(Some(Delegation { can_trade: true, expires_at: Some(at), .. })) = delegation {
        delegation_expiry(deps, user, *at);
    }
}

/// A user's delegation ends at `expires_at` (the user id is a property, not a dimension).
pub fn delegation_expiry(deps: &Deps, user: TelegramUserId, expires_at: Timestamp) {
    let secs = secs_between(deps.clock.now(), expires_at);
    emf(deps).record(names::DELEGATION_EXPIRY, secs, &[], &[("user", &user.to_string())]);
}
