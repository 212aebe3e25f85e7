//! Vanta's fuzzer: structure-aware fuzzing of every parser that reads input from the internet,
//! on stable Rust (no `cargo fuzz`, no nightly).
//!
//! Each [`Target`] has valid seeds and its grammar's tokens; the [`mutate::Mutator`] derives
//! input `i` of a run from `(seed, i)` alone, so any input can be replayed
//! (`vanta-fuzz --target T --seed S --start I --inputs 1`). Every input runs under
//! `catch_unwind` and a watchdog: a panic is reported with its input (hex) and how to replay it,
//! an input that runs longer than [`Config::hang_after`] stops the run with the same report.
//! A target's check also fails an input whose refusal is not a clear error (an `Err` or HTTP 4xx
//! without a reason, a 5xx, a Telegram message left without a reply).
//!
//! `make fuzz` runs 1 000 000 inputs per target (release build); `make test` runs
//! [`TEST_INPUTS`] per target through this crate's tests.

pub mod mutate;
pub mod replies;
pub mod rng;
pub mod targets;

use std::collections::BTreeSet;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mutate::Mutator;
use rng::Rng;

/// Inputs per target in `make test` (the crate's tests).
pub const TEST_INPUTS: u64 = 20_000;
/// Inputs per target in `make fuzz`.
pub const FUZZ_INPUTS: u64 = 1_000_000;

/// What a target made of one input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Refused, with the reason the sender is given (never empty).
    Refused(String),
}

/// An input's result: `Err` is a violation of the target's contract (a refusal without a reason,
/// a server error, a message nobody answered), reported like a panic.
pub type Check = Result<Verdict, String>;

/// Feeds one input to the code under test.
pub type RunFn = Box<dyn FnMut(&[u8]) -> Check>;

/// A fuzz target: a name, its mutator, and the function that feeds one input to the code under
/// test and checks what came back.
pub struct Target {
    pub name: &'static str,
    pub what: &'static str,
    pub mutator: Mutator,
    pub run: RunFn,
}

/// How a run is made.
#[derive(Debug, Clone)]
pub struct Config {
    pub inputs: u64,
    pub seed: u64,
    /// Index of the first input (to replay one input of an earlier run).
    pub start: u64,
    /// An input that runs longer than this stops the run as a hang.
    pub hang_after: Duration,
    /// Failures kept in full per target (inputs as hex).
    pub keep_failures: usize,
}

impl Default for Config {
    fn default() -> Self {
        Self { inputs: TEST_INPUTS, seed: 0x5EED_F00D, start: 0, hang_after: Duration::from_secs(10), keep_failures: 5 }
    }
}

/// One failing input, with what it takes to replay it.
#[derive(Debug, Clone)]
pub struct Failure {
    pub index: u64,
    pub kind: &'static str,
    pub detail: String,
    pub input_hex: String,
}

/// A target's figures.
#[derive(Debug, Clone, Default)]
pub struct Report {
    pub name: String,
    pub inputs: u64,
    pub accepted: u64,
    pub refused: u64,
    /// Refusal reasons with the sender's own text (quoted parts, numbers) masked out.
    pub reasons: BTreeSet<String>,
    pub panics: u64,
    pub violations: u64,
    pub max_time: Duration,
    pub total_time: Duration,
    pub failures: Vec<Failure>,
    pub seed: u64,
}

impl Report {
    pub fn clean(&self) -> bool {
        self.panics == 0 && self.violations == 0
    }
}

static LAST_PANIC: Mutex<Option<String>> = Mutex::new(None);
static HOOK: std::sync::Once = std::sync::Once::new();

/// Panics are caught and reported with their input; the default hook's message is kept quiet.
fn install_panic_hook() {
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if IN_TARGET.load(Ordering::SeqCst) {
                let at = info.location().map(|l| format!(" at {}:{}", l.file(), l.line())).unwrap_or_default();
                let msg = info
                    .payload()
                    .downcast_ref::<&str>()
                    .map(|s| (*s).to_owned())
                    .or_else(|| info.payload().downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "panic".to_owned());
                if let Ok(mut g) = LAST_PANIC.lock() {
                    *g = Some(format!("{msg}{at}"));
                }
            } else {
                previous(info);
            }
        }));
    });
}

static IN_TARGET: AtomicBool = AtomicBool::new(false);

/// Masks the sender's own text out of a reason, so the set counts kinds of refusal.
pub fn reason_kind(reason: &str) -> String {
    let mut out = String::new();
    let mut quoted = false;
    let mut last_digit = false;
    for c in reason.chars().take(160) {
        if c == '\'' || c == '"' || c == '`' {
            if !quoted {
                out.push_str("'…'");
            }
            quoted = !quoted;
            continue;
        }
        if quoted {
            continue;
        }
        if c.is_ascii_digit() {
            if !last_digit {
                out.push('#');
            }
            last_digit = true;
            continue;
        }
        last_digit = false;
        out.push(c);
    }
    out
}

/// Runs `cfg.inputs` inputs through `target`.
pub fn run(target: &mut Target, cfg: &Config) -> Report {
    install_panic_hook();
    let mut report = Report { name: target.name.to_owned(), seed: cfg.seed, ..Report::default() };
    // The watchdog: an input still running after `hang_after` ends the process with its input.
    let current: Arc<Mutex<(u64, Vec<u8>)>> = Arc::new(Mutex::new((0, Vec::new())));
    let started_ms = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicBool::new(false));
    let epoch = Instant::now();
    let watchdog = {
        let (current, started_ms, done) = (current.clone(), started_ms.clone(), done.clone());
        let (name, seed, bound) = (target.name, cfg.seed, cfg.hang_after);
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let at = started_ms.load(Ordering::SeqCst);
                if at == 0 {
                    continue;
                }
                let now = u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
                if now.saturating_sub(at) > u64::try_from(bound.as_millis()).unwrap_or(u64::MAX) {
                    let (index, input) = current.lock().map(|g| g.clone()).unwrap_or_default();
                    eprintln!(
                        "HANG in target {name}: input {index} ran longer than {bound:?}\n  replay: vanta-fuzz --target {name} --seed {seed} --start {index} --inputs 1\n  input (hex): {}",
                        hex::encode(&input)
                    );
                    std::process::exit(3);
                }
            }
        })
    };
    for index in cfg.start..cfg.start.saturating_add(cfg.inputs) {
        let mut rng = Rng::for_input(cfg.seed, index);
        let input = target.mutator.generate(&mut rng);
        if let Ok(mut g) = current.lock() {
            g.0 = index;
            g.1.clone_from(&input);
        }
        let t0 = Instant::now();
        started_ms.store(u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX).max(1), Ordering::SeqCst);
        IN_TARGET.store(true, Ordering::SeqCst);
        let result = std::panic::catch_unwind(AssertUnwindSafe(|| (target.run)(&input)));
        IN_TARGET.store(false, Ordering::SeqCst);
        started_ms.store(0, Ordering::SeqCst);
        let took = t0.elapsed();
        report.inputs += 1;
        report.total_time += took;
        report.max_time = report.max_time.max(took);
        let failure = |kind: &'static str, detail: String| Failure { index, kind, detail, input_hex: hex::encode(&input) };
        match result {
            Ok(Ok(Verdict::Accepted)) => report.accepted += 1,
            Ok(Ok(Verdict::Refused(reason))) => {
                report.refused += 1;
                if report.reasons.len() < 10_000 {
                    report.reasons.insert(reason_kind(&reason));
                }
            }
            Ok(Err(violation)) => {
                report.violations += 1;
                if report.failures.len() < cfg.keep_failures {
                    report.failures.push(failure("violation", violation));
                }
            }
            Err(_) => {
                report.panics += 1;
                let msg = LAST_PANIC.lock().ok().and_then(|mut g| g.take()).unwrap_or_else(|| "panic".to_owned());
                if report.failures.len() < cfg.keep_failures {
                    report.failures.push(failure("panic", msg));
                }
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    report
}

/// The per-target table.
pub fn table(reports: &[Report]) -> String {
    let mut s = String::new();
    s.push_str(&format!(
        "{:<18} {:>10} {:>10} {:>10} {:>8} {:>7} {:>10} {:>12} {:>12}\n",
        "target", "inputs", "accepted", "refused", "reasons", "panics", "violations", "max/input", "mean/input"
    ));
    for r in reports {
        let mean = if r.inputs == 0 { Duration::ZERO } else { r.total_time / u32::try_from(r.inputs).unwrap_or(u32::MAX).max(1) };
        s.push_str(&format!(
            "{:<18} {:>10} {:>10} {:>10} {:>8} {:>7} {:>10} {:>12} {:>12}\n",
            r.name,
            r.inputs,
            r.accepted,
            r.refused,
            r.reasons.len(),
            r.panics,
            r.violations,
            format!("{:.1?}", r.max_time),
            format!("{:.1?}", mean)
        ));
    }
    for r in reports {
        for f in &r.failures {
            s.push_str(&format!(
                "\n{} {} input {}: {}\n  replay: vanta-fuzz --target {} --seed {} --start {} --inputs 1\n  input (hex): {}\n",
                r.name, f.kind, f.index, f.detail, r.name, r.seed, f.index, f.input_hex
            ));
        }
    }
    s
}

#[cfg(test)]
mod tests;
