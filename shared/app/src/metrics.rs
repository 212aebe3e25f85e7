//! Process-local counters, exposed as Prometheus text on `GET /metrics`, followed by the
//! application metrics of [`crate::emf`] under their CloudWatch names. (Under Lambda each
//! instance has its own; CloudWatch gets the application metrics as EMF log lines.)

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    pub http_requests: AtomicU64,
    pub http_client_errors: AtomicU64,
    pub telegram_updates: AtomicU64,
    pub telegram_duplicates: AtomicU64,
    pub worker_messages: AtomicU64,
    pub worker_failures: AtomicU64,
    pub schedule_ticks: AtomicU64,
    /// The application metrics: EMF lines under Lambda, and the same names on `/metrics`.
    pub emf: crate::emf::Emf,
}

impl Metrics {
    pub fn inc(c: &AtomicU64) {
        c.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        for (name, help, c) in [
            ("vanta_http_requests_total", "HTTP requests handled", &self.http_requests),
            ("vanta_http_client_errors_total", "HTTP requests refused with a 4xx", &self.http_client_errors),
            ("vanta_telegram_updates_total", "Authentic Telegram updates", &self.telegram_updates),
            ("vanta_telegram_duplicate_updates_total", "Telegram updates seen before", &self.telegram_duplicates),
            ("vanta_worker_messages_total", "Queue messages processed", &self.worker_messages),
            ("vanta_worker_failures_total", "Queue messages that failed", &self.worker_failures),
            ("vanta_schedule_ticks_total", "Scheduled ticks run", &self.schedule_ticks),
        ] {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter\n{name} {}", c.load(Ordering::Relaxed));
        }
        out.push_str(&self.emf.render_prometheus());
        out
    }
}
