//! `make bench`: what Vanta costs per signal, intent, follower, tick and cold start, each figure
//! beside a baseline measured in the same run, as a ratio. Everything runs on loopback; every
//! section is bounded by its sizes ([`Sizes`]).
//!
//! | section | value | baseline |
//! |---|---|---|
//! | signal ingest | `POST /signals` over HTTP (signed, unique ids: verify, idempotency record, enqueue) | a route answering 202 on the same server, same run |
//! | worker | the pipeline per intent, DRY (paper venue, in-memory store), and LIVE (gate + local key) | the paper venue's fill alone; the DRY pipeline |
//! | copy fan-out | leader's fill → every follower's intent queued, per follower | KMS's signing rate (300/s): 3.33 ms per signature |
//! | TP/SL tick | one tick over 1k / 10k / 100k open positions, 10 triggering: time and store reads | a tick over the 10 triggering positions alone |
//! | cold start | each function's release binary over a fake Runtime API: start → first answer, size, peak RSS | the Lambda runtime with an empty handler |
//! | cost | the month on AWS at 1 000 users / 10 000 signals a day and 100× that ([`cost`]) | the $10 goal; each service against the total |
#![allow(clippy::float_arithmetic)] // timings, ratios and the AWS cost estimate, never trading money

pub mod coldstart;
pub mod cost;
/// The counting store and queue (in the domain's test doubles, shared with the app's tests).
pub use vanta_domain::counting;
pub mod fanout;
pub mod ingest;
pub mod tpsl;
pub mod worker;
pub mod world;

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// How much each section does.
#[derive(Debug, Clone, Serialize)]
pub struct Sizes {
    /// Signal ingest: requests per route, and connections.
    pub ingest_requests: usize,
    pub ingest_connections: usize,
    /// Worker: intents per mode.
    pub worker_intents: usize,
    /// Copy fan-out: followers of the one leader.
    pub followers: usize,
    /// TP/SL: open positions per tick size, and measured ticks per size.
    pub tick_books: Vec<usize>,
    pub tick_repeats: usize,
    /// Positions whose trigger the tick's price crosses.
    pub triggering: usize,
}

impl Sizes {
    /// What `make bench` runs.
    pub fn full() -> Self {
        Self {
            ingest_requests: 20_000,
            ingest_connections: 16,
            worker_intents: 2_000,
            followers: 1_000,
            tick_books: vec![1_000, 10_000, 100_000],
            tick_repeats: 31,
            triggering: 10,
        }
    }
    /// A smoke run: tiny sizes, the same code.
    pub fn tiny() -> Self {
        Self {
            ingest_requests: 64,
            ingest_connections: 4,
            worker_intents: 10,
            followers: 30,
            tick_books: vec![20, 40],
            tick_repeats: 1,
            triggering: 2,
        }
    }
}

/// One line of the table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Row {
    pub section: String,
    pub metric: String,
    pub value: f64,
    pub unit: String,
    pub baseline: Option<f64>,
    /// What the baseline is.
    pub baseline_of: String,
    /// value / baseline.
    pub ratio: Option<f64>,
    /// The target for this figure, where it sets one.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub goal: Option<String>,
}

impl Row {
    pub fn new(section: &str, metric: impl Into<String>, value: f64, unit: &str) -> Self {
        Self {
            section: section.to_owned(),
            metric: metric.into(),
            value,
            unit: unit.to_owned(),
            baseline: None,
            baseline_of: String::new(),
            ratio: None,
            goal: None,
        }
    }
    pub fn against(mut self, baseline: f64, of: impl Into<String>) -> Self {
        self.baseline = Some(baseline);
        self.baseline_of = of.into();
        self.ratio = (baseline != 0.0).then(|| self.value / baseline);
        self
    }
    pub fn goal(mut self, goal: impl Into<String>) -> Self {
        self.goal = Some(goal.into());
        self
    }
}

/// Everything one run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Unix seconds at the start of the run.
    pub started_at: u64,
    pub machine: Machine,
    pub sizes: Sizes,
    pub rows: Vec<Row>,
    /// Section details (per-method store reads, raw latencies, what was skipped and why).
    pub details: serde_json::Map<String, serde_json::Value>,
    pub notes: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub cpus: usize,
    pub os: String,
    pub profile: String,
}

impl Report {
    pub fn new(sizes: Sizes) -> Self {
        let started_at = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let machine = Machine {
            cpus: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.to_owned(),
            profile: if cfg!(debug_assertions) { "debug".into() } else { "release".into() },
        };
        Self { started_at, machine, sizes, rows: Vec::new(), details: serde_json::Map::new(), notes: Vec::new() }
    }

    /// The table: `metric | value | baseline | ratio | goal`.
    pub fn table(&self) -> String {
        let mut out = String::new();
        out.push_str("| metric | value | baseline | ratio | goal |\n|---|---:|---|---:|---|\n");
        for r in &self.rows {
            let baseline = match r.baseline {
                Some(b) => format!("{} {} ({})", fmt_num(b), r.unit, r.baseline_of),
                None => r.baseline_of.clone(),
            };
            let ratio = r.ratio.map_or_else(|| "–".to_owned(), |x| format!("{x:.2}"));
            out.push_str(&format!(
                "| {}: {} | {} {} | {} | {} | {} |\n",
                r.section,
                r.metric,
                fmt_num(r.value),
                r.unit,
                baseline,
                ratio,
                r.goal.as_deref().unwrap_or("")
            ));
        }
        for n in &self.notes {
            out.push_str(&format!("\n- {n}"));
        }
        out.push('\n');
        out
    }
}

/// A figure with sensible precision.
pub fn fmt_num(x: f64) -> String {
    let a = x.abs();
    if a >= 1000.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Microseconds of a duration.
pub fn us(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Milliseconds of a duration.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The `q` quantile (0–1) of sorted samples.
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let i = ((sorted.len() - 1) as f64 * q).round() as usize;
    sorted.get(i.min(sorted.len() - 1)).copied().unwrap_or_default()
}

/// The median of samples (sorted here).
pub fn median(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    quantile(&samples, 0.5)
}

/// Runs every section in this process, ingest included (the harness test at tiny sizes;
/// `make bench` uses [`run_sections`]). Cold start is [`coldstart::run`], which needs the
/// release binaries.
pub async fn run_in_process(report: &mut Report) -> Result<(), String> {
    let sizes = report.sizes.clone();
    ingest::run(report, sizes.ingest_requests, sizes.ingest_connections).await?;
    worker::run(report, sizes.worker_intents).await?;
    fanout::run(report, sizes.followers).await?;
    tpsl::run(report, &sizes.tick_books, sizes.triggering, sizes.tick_repeats).await?;
    Ok(())
}

/// Every section as `make bench` runs it: ingest in `ingest_bin` (the ingest section alone, in
/// a process with the webhook's allocator, see [`ingest::in_webhook_process`]), the rest in this
/// one, whose allocator is the other functions' (the system's).
pub async fn run_sections(report: &mut Report, ingest_bin: &std::path::Path) -> Result<(), String> {
    let sizes = report.sizes.clone();
    ingest::in_webhook_process(report, ingest_bin, sizes.ingest_requests, sizes.ingest_connections).await?;
    worker::run(report, sizes.worker_intents).await?;
    fanout::run(report, sizes.followers).await?;
    tpsl::run(report, &sizes.tick_books, sizes.triggering, sizes.tick_repeats).await?;
    Ok(())
}

/// Runs one in-process section by name (`ingest`, `worker`, `fanout`, `tpsl`).
pub async fn run_section(report: &mut Report, section: &str) -> Result<(), String> {
    let sizes = report.sizes.clone();
    match section {
        "ingest" => ingest::run(report, sizes.ingest_requests, sizes.ingest_connections).await,
        "worker" => worker::run(report, sizes.worker_intents).await,
        "fanout" => fanout::run(report, sizes.followers).await,
        "tpsl" => tpsl::run(report, &sizes.tick_books, sizes.triggering, sizes.tick_repeats).await,
        other => Err(format!("no section {other} (ingest, worker, fanout, tpsl)")),
    }
}

#[cfg(test)]
mod tests;
