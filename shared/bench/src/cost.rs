//! What Vanta costs a month on AWS, for 1 000 users and 10 000 signals a day and for 100× that.
//!
//! The model multiplies three things, each kept apart so it can be checked:
//!
//! 1. **The template** (`template.yaml`, read with serde_yaml): each function's memory and
//!    architecture (its own or the `Globals`, `!Ref Architecture` resolved to the parameter's
//!    default), its schedule (`rate(...)` events), the binary it runs; the number of alarms and
//!    the metrics they read (a metric-math alarm is billed per metric), dashboards, KMS keys and
//!    FIFO queues with a Lambda event source; whether tracing is on (`!Ref Tracing`); the log
//!    retention. A resource under a `Condition` counts when the condition holds for the
//!    parameters' defaults.
//! 2. **The bench's per-request figures** ([`Measured`]): for a signal at the webhook, an intent
//!    in the worker (LIVE: the exec-mode gate and one signature per order) and a TP/SL tick, the
//!    CPU time measured on loopback and the store calls, items read and written, queue sends,
//!    notices and signatures counted by the bench's wrappers; each function's measured cold
//!    start. Figures the bench does not measure (the bot's commands, the notifier, the indexer's
//!    tick) are [`Assumptions`], as are the network round trips a function waits for in AWS
//!    (DynamoDB, SQS, KMS, the venue, Telegram), which Lambda bills as duration.
//! 3. **A dated price list** ([`US_EAST_1`]): AWS list prices in us-east-1, without the free tier.
//!
//! The custom metrics are counted from [`vanta_app::emf::SPECS`] ([`vanta_app::emf::cloudwatch_series`]):
//! the code cannot write a series its specs do not declare. Lambda's CPU is proportional to
//! memory (one vCPU at [`Assumptions::vcpu_mb`]), so the CPU the bench measures on a full core
//! is scaled up for a function configured smaller.
//!
//! Every figure is an estimate (floating point, like the timings; no trading amount is computed
//! here). [`estimate`] is pure: the unit test checks its arithmetic on fixed inputs.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_yaml::Value;

use crate::{Report, Row};

/// AWS list prices of one region (USD), as of [`PriceList::dated`].
#[derive(Debug, Clone, Serialize)]
pub struct PriceList {
    pub dated: &'static str,
    pub region: &'static str,
    pub lambda_gb_s_arm64: f64,
    pub lambda_gb_s_x86_64: f64,
    pub lambda_per_million_requests: f64,
    /// DynamoDB on-demand (after the November 2024 price cut).
    pub dynamo_per_million_wru: f64,
    pub dynamo_per_million_rru: f64,
    pub dynamo_storage_gb_month: f64,
    /// Continuous backups (point-in-time recovery), per GB-month of table size.
    pub dynamo_pitr_gb_month: f64,
    /// SQS FIFO, per million requests (64 KB chunks; every message here is smaller).
    pub sqs_fifo_per_million: f64,
    pub kms_key_month: f64,
    /// KMS requests on asymmetric keys other than RSA 2048 (the secp256k1 `Sign`).
    pub kms_asymmetric_per_10k: f64,
    pub kms_per_10k: f64,
    /// API Gateway HTTP API, first 300 million requests a month.
    pub http_api_per_million: f64,
    pub logs_ingest_gb: f64,
    pub logs_storage_gb_month: f64,
    /// A custom metric (EMF extracts them from the logs at no other charge), first 10 000;
    /// prorated by the hour: a series pays for the hours in which it receives data.
    pub metric_month: f64,
    /// A standard-resolution alarm, per metric it reads (metric math: each metric).
    pub alarm_month: f64,
    pub dashboard_month: f64,
    pub xray_per_million_traces: f64,
    /// Scheduled invocations: SAM `Schedule` events are EventBridge rules, whose scheduled
    /// events are free; the model charges EventBridge Scheduler's price as an upper bound.
    pub schedule_per_million: f64,
}

/// us-east-1 list prices as published on the AWS pricing pages (no free tier applied).
pub const US_EAST_1: PriceList = PriceList {
    dated: "2026-12-02",
    region: "us-east-1",
    lambda_gb_s_arm64: 0.000_013_333_4,
    lambda_gb_s_x86_64: 0.000_016_666_7,
    lambda_per_million_requests: 0.20,
    dynamo_per_million_wru: 0.625,
    dynamo_per_million_rru: 0.125,
    dynamo_storage_gb_month: 0.25,
    dynamo_pitr_gb_month: 0.20,
    sqs_fifo_per_million: 0.50,
    kms_key_month: 1.00,
    kms_asymmetric_per_10k: 0.15,
    kms_per_10k: 0.03,
    http_api_per_million: 1.00,
    logs_ingest_gb: 0.50,
    logs_storage_gb_month: 0.03,
    metric_month: 0.30,
    alarm_month: 0.10,
    dashboard_month: 3.00,
    xray_per_million_traces: 5.00,
    schedule_per_million: 1.00,
};

/// Hours AWS bills a month as.
pub const MONTH_HOURS: f64 = 730.0;
pub const MONTH_SECS: f64 = MONTH_HOURS * 3600.0;
pub const MONTH_DAYS: f64 = MONTH_HOURS / 24.0;

/// What the model assumes where the bench measures nothing.
#[derive(Debug, Clone, Serialize)]
pub struct Assumptions {
    /// Share of intents that run LIVE (sign and wait for the venue); the rest run DRY.
    pub live_share: f64,
    /// A LIVE order's wait for the venue (submit → fill seen), billed as worker duration.
    pub venue_wait_ms: f64,
    /// Round trips inside AWS, billed as duration of the function that waits.
    pub dynamo_call_ms: f64,
    pub sqs_call_ms: f64,
    pub kms_sign_ms: f64,
    pub telegram_call_ms: f64,
    /// The tick's price fetches (all pairs at once).
    pub price_fetch_ms: f64,
    /// Bot commands and button presses per user and day, and what each costs.
    pub telegram_updates_per_user_day: f64,
    pub telegram_update: PerUnit,
    /// The notifier per notice (one Telegram call besides).
    pub notifier_cpu_ms: f64,
    /// The indexer tick: venue and catalog calls besides the store.
    pub indexer_tick_ms: f64,
    /// Open positions per user: the indexer reads the whole live book each tick.
    pub open_positions_per_user: f64,
    pub position_item_bytes: f64,
    /// Items a query returns per page (1 MB pages).
    pub items_per_page: f64,
    /// Write units per item written: about half the items go in transactions (2 WRU) and
    /// most carry a GSI key (one more WRU); items stay under 1 KB.
    pub wru_per_item_written: f64,
    /// Read units per keyed item read (strongly consistent, under 4 KB).
    pub rru_per_item_read: f64,
    /// Log bytes per invocation (platform START/END/REPORT lines, JSON app lines, EMF lines),
    /// and per HTTP API request in the access log.
    pub log_bytes_per_invocation: f64,
    pub access_log_bytes_per_request: f64,
    /// Share of invocations that start a new instance (billed init, KMS GetPublicKey).
    pub cold_start_share: f64,
    /// Cold start where the bench did not measure one.
    pub cold_start_ms: f64,
    /// Empty long polls of each SQS event source per minute (5 pollers, 20 s polls).
    pub sqs_idle_polls_per_min: f64,
    /// SQS requests per delivered message besides its send: receive and delete.
    pub sqs_requests_per_delivery: f64,
    /// GetQueueAttributes per TP/SL tick (queue and DLQ depth gauges).
    pub queue_stats_per_tick: f64,
    /// Stored bytes per user (profile, sources, follows, positions, intents within their TTL).
    pub storage_bytes_per_user: f64,
    /// Pairs with open positions and price sources (the pair-dimensioned metrics).
    pub pairs_traded: f64,
    pub price_sources: f64,
    /// X-Ray's default sampling: the first request each second, then this share.
    pub xray_extra_share: f64,
    /// Hours a month in which the incident-only metrics ([`vanta_app::emf::Cadence::OnIncident`])
    /// receive data: a day of incidents a month.
    pub incident_hours_per_month: f64,
    /// The memory at which a Lambda function has one full vCPU; below it, CPU time stretches.
    pub vcpu_mb: f64,
}

pub const ASSUMPTIONS: Assumptions = Assumptions {
    live_share: 1.0,
    venue_wait_ms: 3_000.0,
    dynamo_call_ms: 5.0,
    sqs_call_ms: 10.0,
    kms_sign_ms: 25.0,
    telegram_call_ms: 150.0,
    price_fetch_ms: 100.0,
    telegram_updates_per_user_day: 5.0,
    telegram_update: PerUnit {
        cpu_ms: 2.0,
        store_calls: 4.0,
        items_read: 3.0,
        items_written: 1.0,
        queue_sends: 0.2,
        notices: 0.0,
        signatures: 0.0,
        telegram_calls: 1.0,
    },
    notifier_cpu_ms: 1.0,
    indexer_tick_ms: 300.0,
    open_positions_per_user: 2.0,
    position_item_bytes: 1_000.0,
    items_per_page: 1_000.0,
    wru_per_item_written: 2.0,
    rru_per_item_read: 1.0,
    log_bytes_per_invocation: 1_500.0,
    access_log_bytes_per_request: 300.0,
    cold_start_share: 0.02,
    cold_start_ms: 50.0,
    sqs_idle_polls_per_min: 15.0,
    sqs_requests_per_delivery: 2.0,
    queue_stats_per_tick: 2.0,
    storage_bytes_per_user: 100_000.0,
    pairs_traded: 10.0,
    price_sources: 2.0,
    xray_extra_share: 0.05,
    incident_hours_per_month: 24.0,
    vcpu_mb: 1769.0,
};

/// What one unit of work (a signal, an intent, a tick) does, per unit.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct PerUnit {
    /// CPU time of the handler itself (measured on loopback, in-memory store).
    pub cpu_ms: f64,
    pub store_calls: f64,
    pub items_read: f64,
    pub items_written: f64,
    pub queue_sends: f64,
    pub notices: f64,
    pub signatures: f64,
    pub telegram_calls: f64,
}

impl PerUnit {
    /// From one run of `n` units: its time and what the bench's wrappers counted.
    pub fn of_run(n: usize, cpu_ms_total: f64, store: &crate::counting::Totals, queue_sends: u64, notices: u64, signatures: u64) -> Self {
        let n = n.max(1) as f64;
        Self {
            cpu_ms: cpu_ms_total / n,
            store_calls: (store.read_calls + store.write_calls) as f64 / n,
            items_read: store.items_read as f64 / n,
            items_written: store.items_written as f64 / n,
            queue_sends: queue_sends as f64 / n,
            notices: notices as f64 / n,
            signatures: signatures as f64 / n,
            telegram_calls: 0.0,
        }
    }
}

/// The bench's figures the model uses.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Measured {
    /// `POST /signals` at the webhook (CPU: the loopback p50, HTTP included).
    pub signal: PerUnit,
    /// One LIVE intent in the worker.
    pub live_intent: PerUnit,
    /// One DRY intent in the worker.
    pub dry_intent: PerUnit,
    /// One TP/SL tick over the 1k book.
    pub tick: PerUnit,
    /// Cold start (start → first answer) by binary name, where measured.
    pub cold_start_ms: BTreeMap<String, f64>,
}

/// One function of the template.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Function {
    /// Logical id (`WebhookFunction`).
    pub id: String,
    /// The binary it runs (`webhook`).
    pub binary: String,
    pub memory_mb: f64,
    pub arch: String,
    /// Scheduled invocations a month (0: none).
    pub scheduled_per_month: f64,
}

/// What the model reads from the template.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Template {
    pub functions: Vec<Function>,
    pub alarms: usize,
    /// Metrics the alarms read (billed each): one per plain alarm, each `MetricStat` of a
    /// metric-math alarm.
    pub alarm_metrics: usize,
    pub dashboards: usize,
    pub kms_keys: usize,
    /// FIFO queues that feed a function (each polled by its event source).
    pub polled_queues: usize,
    pub tracing: bool,
    pub log_retention_days: f64,
}

fn tag_free(v: &Value) -> &Value {
    match v {
        Value::Tagged(t) => &t.value,
        other => other,
    }
}

/// `!Ref Name` resolved to the parameter's default; a plain value as it is.
fn resolve<'a>(doc: &'a Value, v: &'a Value) -> &'a Value {
    if let Value::Tagged(t) = v
        && t.tag == "Ref"
        && let Some(name) = t.value.as_str()
        && let Some(default) = doc.get("Parameters").and_then(|p| p.get(name)).and_then(|p| p.get("Default"))
    {
        return default;
    }
    tag_free(v)
}

/// Whether condition `name` of the template holds for the parameters' defaults (`!Equals`,
/// `!Not`, `!And`, `!Or` over `!Ref`s and literals; anything else holds).
pub fn condition_holds(doc: &Value, name: &str) -> bool {
    let Some(c) = doc.get("Conditions").and_then(|c| c.get(name)) else { return true };
    eval_condition(doc, c, 0).unwrap_or(true)
}

fn eval_condition(doc: &Value, v: &Value, depth: u8) -> Option<bool> {
    if depth > 8 {
        return None;
    }
    let Value::Tagged(t) = v else { return None };
    let args = t.value.as_sequence();
    let scalar = |v: &Value| -> Option<String> {
        let v = resolve(doc, v);
        v.as_str().map(str::to_owned).or_else(|| v.as_f64().map(|n| n.to_string())).or_else(|| v.as_bool().map(|b| b.to_string()))
    };
    match t.tag.to_string().trim_start_matches('!') {
        "Equals" => match args?.as_slice() {
            [a, b] => Some(scalar(a)? == scalar(b)?),
            _ => None,
        },
        "Not" => Some(!eval_condition(doc, args?.first()?, depth + 1)?),
        "And" => args?.iter().map(|a| eval_condition(doc, a, depth + 1)).try_fold(true, |acc, x| Some(acc && x?)),
        "Or" => args?.iter().map(|a| eval_condition(doc, a, depth + 1)).try_fold(false, |acc, x| Some(acc || x?)),
        "Condition" => Some(condition_holds(doc, t.value.as_str()?)),
        _ => None,
    }
}

fn number(doc: &Value, v: Option<&Value>) -> Option<f64> {
    let v = resolve(doc, v?);
    v.as_f64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

/// Invocations a month of `rate(N unit)`.
pub fn rate_per_month(expr: &str) -> Result<f64, String> {
    let inner = expr.trim().strip_prefix("rate(").and_then(|s| s.strip_suffix(')')).ok_or_else(|| format!("not a rate: {expr}"))?;
    let mut parts = inner.split_whitespace();
    let n: f64 = parts.next().and_then(|n| n.parse().ok()).ok_or_else(|| format!("bad rate: {expr}"))?;
    let unit = parts.next().unwrap_or_default().trim_end_matches('s');
    let secs = match unit {
        "minute" => 60.0,
        "hour" => 3600.0,
        "day" => 86_400.0,
        _ => return Err(format!("bad rate unit: {expr}")),
    };
    if n <= 0.0 {
        return Err(format!("bad rate: {expr}"));
    }
    Ok(MONTH_SECS / (n * secs))
}

/// Reads the template's text.
pub fn read_template(text: &str) -> Result<Template, String> {
    let doc: Value = serde_yaml::from_str(text).map_err(|e| format!("template.yaml: {e}"))?;
    let globals = doc.get("Globals").and_then(|g| g.get("Function"));
    let resources = doc.get("Resources").and_then(Value::as_mapping).ok_or("template.yaml: no Resources")?;
    let mut t = Template {
        functions: Vec::new(),
        alarms: 0,
        alarm_metrics: 0,
        dashboards: 0,
        kms_keys: 0,
        polled_queues: 0,
        tracing: false,
        log_retention_days: 0.0,
    };
    let global = |key: &str| globals.and_then(|g| g.get(key));
    t.tracing = global("Tracing").map(|v| resolve(&doc, v)).and_then(Value::as_str) == Some("Active");
    for (id, r) in resources {
        let id = id.as_str().unwrap_or_default().to_owned();
        let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default();
        if let Some(c) = r.get("Condition").and_then(Value::as_str)
            && !condition_holds(&doc, c)
        {
            continue;
        }
        let props = r.get("Properties");
        let prop = |key: &str| props.and_then(|p| p.get(key));
        match kind {
            "AWS::CloudWatch::Alarm" => {
                t.alarms += 1;
                let math = prop("Metrics").and_then(Value::as_sequence).map(|m| m.iter().filter(|x| x.get("MetricStat").is_some()).count());
                t.alarm_metrics += math.unwrap_or(1).max(1);
            }
            "AWS::CloudWatch::Dashboard" => t.dashboards += 1,
            "AWS::KMS::Key" => t.kms_keys += 1,
            // A queue read through an explicit mapping (on the `live` alias) is polled all the same.
            "AWS::Lambda::EventSourceMapping" => t.polled_queues += 1,
            "AWS::Logs::LogGroup" => {
                if let Some(d) = number(&doc, prop("RetentionInDays")) {
                    t.log_retention_days = t.log_retention_days.max(d);
                }
            }
            "AWS::Serverless::Function" => {
                let memory_mb = number(&doc, prop("MemorySize").or_else(|| global("MemorySize"))).unwrap_or(128.0);
                let arch = prop("Architectures")
                    .or_else(|| global("Architectures"))
                    .and_then(|a| tag_free(a).as_sequence().and_then(|s| s.first()))
                    .map(|a| resolve(&doc, a))
                    .and_then(Value::as_str)
                    .unwrap_or("x86_64")
                    .to_owned();
                let binary = r
                    .get("Metadata")
                    .and_then(|m| m.get("BuildProperties"))
                    .and_then(|b| b.get("Binary"))
                    .and_then(Value::as_str)
                    .unwrap_or(&id)
                    .to_owned();
                let mut scheduled = 0.0;
                for (_, e) in prop("Events").and_then(Value::as_mapping).into_iter().flatten() {
                    match e.get("Type").and_then(Value::as_str) {
                        Some("Schedule" | "ScheduleV2") => {
                            if let Some(expr) = e
                                .get("Properties")
                                .and_then(|p| p.get("Schedule").or_else(|| p.get("ScheduleExpression")))
                                .and_then(Value::as_str)
                            {
                                scheduled += rate_per_month(expr)?;
                            }
                        }
                        Some("SQS") => t.polled_queues += 1,
                        _ => {}
                    }
                }
                t.functions.push(Function { id, binary, memory_mb, arch, scheduled_per_month: scheduled });
            }
            _ => {}
        }
    }
    if t.functions.is_empty() {
        return Err("template.yaml: no functions".into());
    }
    Ok(t)
}

/// One sizing of the model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Scale {
    pub users: f64,
    pub signals_per_day: f64,
}

pub const SCALES: [Scale; 2] =
    [Scale { users: 1_000.0, signals_per_day: 10_000.0 }, Scale { users: 100_000.0, signals_per_day: 1_000_000.0 }];

/// The goal at the first size, USD a month.
pub const GOAL_USD: f64 = 10.0;

/// One priced line: what, how much of it a month, and its cost.
#[derive(Debug, Clone, Serialize)]
pub struct Line {
    pub service: &'static str,
    pub item: String,
    /// What the quantity is made of at this size.
    pub detail: String,
    pub quantity: f64,
    pub unit: &'static str,
    pub usd: f64,
}

/// The month at one size.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    pub scale: Scale,
    pub lines: Vec<Line>,
    pub total_usd: f64,
}

/// The services whose cost follows from the work itself and no setting of the template: KMS
/// (the keys and one `Sign` per LIVE order), DynamoDB (the exactly-once records), SQS (each
/// intent and notice through a FIFO queue) and API Gateway (each signal and update).
pub const PHYSICAL: [&str; 4] = ["KMS", "DynamoDB", "SQS", "API Gateway"];

impl Estimate {
    /// The month without the dashboard (`CreateDashboard` = false).
    pub fn without_dashboard(&self) -> f64 {
        self.total_usd - self.lines.iter().filter(|l| l.service == "CloudWatch" && l.item == "dashboards").map(|l| l.usd).sum::<f64>()
    }

    /// The part of the month no template setting changes ([`PHYSICAL`]).
    pub fn physical(&self) -> f64 {
        self.lines.iter().filter(|l| PHYSICAL.contains(&l.service)).map(|l| l.usd).sum()
    }

    /// Cost by service, largest first.
    pub fn by_service(&self) -> Vec<(&'static str, f64)> {
        let mut m: BTreeMap<&'static str, f64> = BTreeMap::new();
        for l in &self.lines {
            *m.entry(l.service).or_default() += l.usd;
        }
        let mut v: Vec<_> = m.into_iter().collect();
        v.sort_by(|a, b| b.1.total_cmp(&a.1));
        v
    }
}

/// The CloudWatch series the functions can write, by metric name, from
/// [`vanta_app::emf::cloudwatch_series`]: (metric, series, metric-months billed). A series
/// written every hour is one metric-month; one written only during incidents pays for
/// [`Assumptions::incident_hours_per_month`] of the month's hours.
pub fn metric_series(a: &Assumptions) -> Vec<(&'static str, f64, f64)> {
    vanta_app::emf::cloudwatch_series()
        .into_iter()
        .map(|(name, n, cadence)| {
            let n = n as f64;
            let share = match cadence {
                vanta_app::emf::Cadence::Steady => 1.0,
                vanta_app::emf::Cadence::OnIncident => (a.incident_hours_per_month / MONTH_HOURS).min(1.0),
            };
            (name, n, n * share)
        })
        .collect()
}

/// How much longer CPU work takes at `memory_mb` than on one full vCPU.
pub fn cpu_stretch(a: &Assumptions, memory_mb: f64) -> f64 {
    if memory_mb <= 0.0 { 1.0 } else { (a.vcpu_mb / memory_mb).max(1.0) }
}

fn lambda_cost(p: &PriceList, f: &Function, invocations: f64, ms_each: f64, init_ms: f64, a: &Assumptions) -> (f64, f64) {
    // Lambda bills each invocation's duration rounded up to the millisecond, and (for a
    // custom runtime) the init phase of a cold start.
    let billed_ms = ms_each.ceil() + a.cold_start_share * init_ms.ceil();
    let gb_s = invocations * billed_ms / 1000.0 * f.memory_mb / 1024.0;
    let price = if f.arch == "arm64" { p.lambda_gb_s_arm64 } else { p.lambda_gb_s_x86_64 };
    (gb_s, gb_s * price + invocations * p.lambda_per_million_requests / 1e6)
}

/// The month at `scale`: pure arithmetic over its inputs.
pub fn estimate(t: &Template, m: &Measured, a: &Assumptions, p: &PriceList, scale: Scale) -> Estimate {
    let mut lines = Vec::new();
    let mut push = |service, item: String, detail: String, quantity: f64, unit, usd: f64| {
        lines.push(Line { service, item, detail, quantity, unit, usd })
    };

    // Work a month.
    let signals = scale.signals_per_day * MONTH_DAYS;
    let updates = scale.users * a.telegram_updates_per_user_day * MONTH_DAYS;
    let intents = signals; // each signal is one intent
    let live = intents * a.live_share;
    let dry = intents - live;
    let notices = live * m.live_intent.notices + dry * m.dry_intent.notices + signals * m.signal.notices;
    let positions = scale.users * a.open_positions_per_user;

    // Duration of one unit in AWS: its CPU (at the function's share of a vCPU) plus the round
    // trips it waits for.
    let mem = |binary: &str| t.functions.iter().find(|f| f.binary == binary).map_or(a.vcpu_mb, |f| f.memory_mb);
    let wait_at = |u: &PerUnit, memory_mb: f64| {
        u.cpu_ms * cpu_stretch(a, memory_mb)
            + u.store_calls * a.dynamo_call_ms
            + u.queue_sends * a.sqs_call_ms
            + u.signatures * a.kms_sign_ms
            + u.telegram_calls * a.telegram_call_ms
    };
    let worker_mb = mem("signal-worker");
    let worker_ms = if intents > 0.0 {
        (live * (wait_at(&m.live_intent, worker_mb) + a.venue_wait_ms) + dry * wait_at(&m.dry_intent, worker_mb)) / intents
    } else {
        0.0
    };
    let indexer_pages = (positions / a.items_per_page).ceil().max(1.0);

    // Invocations and duration by binary.
    let mut invocations_total = 0.0;
    let mut traces = 0.0;
    for f in &t.functions {
        let stretch = cpu_stretch(a, f.memory_mb);
        let (n, ms) = match f.binary.as_str() {
            "webhook" => (signals, wait_at(&m.signal, f.memory_mb)),
            "telegram" => (updates, wait_at(&a.telegram_update, f.memory_mb)),
            "signal-worker" => (intents, worker_ms),
            "notifier" => (notices, a.notifier_cpu_ms * stretch + a.telegram_call_ms),
            "tpsl" => (f.scheduled_per_month, wait_at(&m.tick, f.memory_mb) + a.price_fetch_ms + a.queue_stats_per_tick * a.sqs_call_ms),
            "indexer" => (f.scheduled_per_month, a.indexer_tick_ms + indexer_pages * a.dynamo_call_ms),
            _ => (f.scheduled_per_month, a.cold_start_ms),
        };
        // The measured start is CPU on a full core (moto answers in about a millisecond).
        let init = m.cold_start_ms.get(&f.binary).copied().unwrap_or(a.cold_start_ms) * stretch;
        let (gb_s, usd) = lambda_cost(p, f, n, ms, init, a);
        push(
            "Lambda",
            format!("{} ({} MB {})", f.binary, f.memory_mb, f.arch),
            format!("{n:.0} invocations × {ms:.1} ms"),
            gb_s,
            "GB-s",
            usd,
        );
        invocations_total += n;
        // The sampling reservoir is one trace a second per function.
        let reservoir = n.min(MONTH_SECS);
        traces += reservoir + (n - reservoir) * a.xray_extra_share;
    }
    let scheduled: f64 = t.functions.iter().map(|f| f.scheduled_per_month).sum();
    push(
        "EventBridge",
        "scheduled invocations (upper bound)".into(),
        String::new(),
        scheduled,
        "invocations",
        scheduled * p.schedule_per_million / 1e6,
    );

    // DynamoDB.
    let per = |u: &PerUnit, n: f64| (u.items_read * n, u.items_written * n);
    let units = [
        ("signals", per(&m.signal, signals)),
        ("intents", {
            let (lr, lw) = per(&m.live_intent, live);
            let (dr, dw) = per(&m.dry_intent, dry);
            (lr + dr, lw + dw)
        }),
        ("TP/SL ticks", per(&m.tick, t.functions.iter().filter(|f| f.binary == "tpsl").map(|f| f.scheduled_per_month).sum())),
        ("bot updates", per(&a.telegram_update, updates)),
    ];
    for (what, (read, written)) in units {
        push(
            "DynamoDB",
            format!("{what}: reads"),
            String::new(),
            read * a.rru_per_item_read,
            "RRU",
            read * a.rru_per_item_read * p.dynamo_per_million_rru / 1e6,
        );
        push(
            "DynamoDB",
            format!("{what}: writes"),
            String::new(),
            written * a.wru_per_item_written,
            "WRU",
            written * a.wru_per_item_written * p.dynamo_per_million_wru / 1e6,
        );
    }
    // The indexer reads the whole live book each tick (a paged, eventually consistent query:
    // half a unit per 4 KB).
    let indexer_ticks: f64 = t.functions.iter().filter(|f| f.binary == "indexer").map(|f| f.scheduled_per_month).sum();
    let book_rru = indexer_ticks * (positions * a.position_item_bytes / 4096.0 * 0.5).max(indexer_pages * 0.5);
    push(
        "DynamoDB",
        "indexer: live book each tick".into(),
        format!("{positions:.0} positions"),
        book_rru,
        "RRU",
        book_rru * p.dynamo_per_million_rru / 1e6,
    );
    let gb = scale.users * a.storage_bytes_per_user / 1e9;
    push(
        "DynamoDB",
        "storage + point-in-time recovery".into(),
        String::new(),
        gb,
        "GB-month",
        gb * (p.dynamo_storage_gb_month + p.dynamo_pitr_gb_month),
    );

    // SQS (FIFO): sends, each delivery's receive and delete, the event sources' empty polls,
    // and the tick's depth gauges.
    let sends = signals * m.signal.queue_sends
        + live * m.live_intent.queue_sends
        + dry * m.dry_intent.queue_sends
        + updates * a.telegram_update.queue_sends
        + scheduled_of(t, "tpsl") * m.tick.queue_sends
        + notices;
    let deliveries = intents + notices;
    let polls = t.polled_queues as f64 * a.sqs_idle_polls_per_min * MONTH_HOURS * 60.0;
    let stats = scheduled_of(t, "tpsl") * a.queue_stats_per_tick;
    let sqs = sends + deliveries * a.sqs_requests_per_delivery + polls + stats;
    push(
        "SQS",
        "FIFO requests".into(),
        format!("{sends:.0} sends, {deliveries:.0} deliveries, {polls:.0} empty polls, {stats:.0} depth reads"),
        sqs,
        "requests",
        sqs * p.sqs_fifo_per_million / 1e6,
    );

    // KMS: the keys, every signature, a public-key read per cold start of a signing function.
    push("KMS", "keys".into(), String::new(), t.kms_keys as f64, "key-months", t.kms_keys as f64 * p.kms_key_month);
    let signs = live * m.live_intent.signatures + dry * m.dry_intent.signatures;
    let public_keys = (intents + updates) * a.cold_start_share;
    push(
        "KMS",
        "secp256k1 requests".into(),
        format!("{signs:.0} Sign, {public_keys:.0} GetPublicKey"),
        signs + public_keys,
        "requests",
        (signs + public_keys) * p.kms_asymmetric_per_10k / 1e4,
    );

    // API Gateway: every signal and bot update.
    let http = signals + updates;
    push("API Gateway", "HTTP API requests".into(), String::new(), http, "requests", http * p.http_api_per_million / 1e6);

    // CloudWatch.
    let log_gb = (invocations_total * a.log_bytes_per_invocation + http * a.access_log_bytes_per_request) / 1e9;
    push("CloudWatch", "logs ingested".into(), String::new(), log_gb, "GB", log_gb * p.logs_ingest_gb);
    let stored = log_gb * a_retention_months(t);
    push(
        "CloudWatch",
        format!("logs stored ({} days)", t.log_retention_days),
        String::new(),
        stored,
        "GB-month",
        stored * p.logs_storage_gb_month,
    );
    let series = metric_series(a);
    let count: f64 = series.iter().map(|(_, n, _)| n).sum();
    let billed: f64 = series.iter().map(|(_, _, b)| b).sum();
    push(
        "CloudWatch",
        "custom metrics (EMF)".into(),
        format!("{count:.0} series in emf.rs, {billed:.1} metric-months (incident-only series prorated)"),
        billed,
        "metric-months",
        billed * p.metric_month,
    );
    push(
        "CloudWatch",
        "alarms".into(),
        format!("{} alarms reading {} metrics", t.alarms, t.alarm_metrics),
        t.alarm_metrics as f64,
        "alarm metrics",
        t.alarm_metrics as f64 * p.alarm_month,
    );
    push("CloudWatch", "dashboards".into(), String::new(), t.dashboards as f64, "dashboards", t.dashboards as f64 * p.dashboard_month);
    let traced = if t.tracing { traces } else { 0.0 };
    push(
        "X-Ray",
        if t.tracing { "traces recorded (default sampling)".into() } else { "traces (Tracing = PassThrough: none recorded)".into() },
        String::new(),
        traced,
        "traces",
        traced * p.xray_per_million_traces / 1e6,
    );

    let total_usd = lines.iter().map(|l| l.usd).sum();
    Estimate { scale, lines, total_usd }
}

fn scheduled_of(t: &Template, binary: &str) -> f64 {
    t.functions.iter().filter(|f| f.binary == binary).map(|f| f.scheduled_per_month).sum()
}

/// Months of logs kept at steady state.
fn a_retention_months(t: &Template) -> f64 {
    t.log_retention_days / MONTH_DAYS
}

/// The bench's figures, from the sections that ran before (`report.details`).
pub fn measured(report: &Report) -> Result<Measured, String> {
    let unit = |section: &str, key: &str| -> Result<PerUnit, String> {
        let v = report
            .details
            .get(section)
            .and_then(|s| s.get(key))
            .ok_or_else(|| format!("cost: the {section} section did not record {key}"))?;
        serde_json::from_value(v.clone()).map_err(|e| format!("cost: {section}.{key}: {e}"))
    };
    let mut m = Measured {
        signal: unit("ingest", "per_signal")?,
        live_intent: unit("worker", "per_live_intent")?,
        dry_intent: unit("worker", "per_dry_intent")?,
        tick: unit("tpsl", "per_tick")?,
        cold_start_ms: BTreeMap::new(),
    };
    if let Some(bins) = report.details.get("cold_start").and_then(|c| c.get("binaries")).and_then(|b| b.as_array()) {
        for b in bins {
            if let (Some(name), Some(ms)) = (b.get("binary").and_then(|n| n.as_str()), b.get("first_answer_ms").and_then(|n| n.as_f64())) {
                m.cold_start_ms.insert(name.to_owned(), ms);
            }
        }
    }
    Ok(m)
}

/// The cost table: every line at both sizes.
pub fn table(estimates: &[Estimate]) -> String {
    let mut out = String::from("| service | item | ");
    for e in estimates {
        out.push_str(&format!("{:.0} users, {:.0} signals/day | ", e.scale.users, e.scale.signals_per_day));
    }
    out.push('\n');
    out.push_str("|---|---|");
    out.push_str(&"---:|".repeat(estimates.len()));
    out.push('\n');
    let Some(first) = estimates.first() else { return out };
    for (i, l) in first.lines.iter().enumerate() {
        out.push_str(&format!("| {} | {} | ", l.service, l.item));
        for e in estimates {
            let line = e.lines.get(i);
            out.push_str(&format!(
                "${:.2} ({} {}) | ",
                line.map_or(0.0, |l| l.usd),
                crate::fmt_num(line.map_or(0.0, |l| l.quantity)),
                l.unit
            ));
        }
        out.push('\n');
    }
    out.push_str("| **total** | | ");
    for e in estimates {
        out.push_str(&format!("**${:.2}** | ", e.total_usd));
    }
    out.push('\n');
    out.push_str("| total without the dashboard | CreateDashboard = false | ");
    for e in estimates {
        out.push_str(&format!("${:.2} | ", e.without_dashboard()));
    }
    out.push('\n');
    out.push_str(&format!("| of which physical | {} | ", PHYSICAL.join(", ")));
    for e in estimates {
        out.push_str(&format!("${:.2} | ", e.physical()));
    }
    out.push('\n');
    if let Some(first) = estimates.first() {
        let verdict = if first.total_usd <= GOAL_USD { "met" } else { "not met" };
        out.push_str(&format!(
            "\ngoal ≤ ${GOAL_USD:.0} a month at {:.0} users / {:.0} signals a day: {verdict} (${:.2}; ${:.2} without the dashboard; ${:.2} of it physical: {})\n",
            first.scale.users,
            first.scale.signals_per_day,
            first.total_usd,
            first.without_dashboard(),
            first.physical(),
            first.by_service().iter().filter(|(s, _)| PHYSICAL.contains(s)).map(|(s, u)| format!("{s} ${u:.2}")).collect::<Vec<_>>().join(", "),
        ));
    }
    out
}

/// Prices the template with the bench's figures; adds the rows and `details.cost`; the answer
/// is the cost table.
pub fn run(report: &mut Report, template: &std::path::Path) -> Result<String, String> {
    let text = std::fs::read_to_string(template).map_err(|e| format!("{}: {e}", template.display()))?;
    let t = read_template(&text)?;
    let m = measured(report)?;
    let estimates: Vec<Estimate> = SCALES.iter().map(|s| estimate(&t, &m, &ASSUMPTIONS, &US_EAST_1, *s)).collect();
    let s = "cost";
    for e in &estimates {
        let size = format!("{:.0} users, {:.0} signals/day", e.scale.users, e.scale.signals_per_day);
        let mut row = Row::new(s, format!("{size}: AWS a month"), e.total_usd, "USD").against(GOAL_USD, "the $10 goal");
        if e.scale.users <= 1_000.0 {
            row = row.goal("≤ $10 a month");
        }
        report.rows.push(row);
        report
            .rows
            .push(Row::new(s, format!("{size}: without the dashboard"), e.without_dashboard(), "USD").against(GOAL_USD, "the $10 goal"));
        report.rows.push(
            Row::new(s, format!("{size}: physical ({})", PHYSICAL.join(", ")), e.physical(), "USD")
                .against(e.total_usd, "the month's total"),
        );
        for (service, usd) in e.by_service().into_iter().take(3) {
            report.rows.push(Row::new(s, format!("{size}: {service}"), usd, "USD").against(e.total_usd, "the month's total"));
        }
    }
    report.details.insert(
        "cost".into(),
        serde_json::json!({
            "prices": US_EAST_1, "assumptions": ASSUMPTIONS, "template": t, "measured": m, "estimates": estimates,
        }),
    );
    Ok(table(&estimates))
}

#[cfg(test)]
#[path = "cost_tests.rs"]
mod tests;
