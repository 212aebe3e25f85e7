//! `vanta-fuzz [--target NAME]... [--inputs N] [--seed S] [--start I]`: runs each target (all by
//! default), prints the per-target table, and exits non-zero on any panic, hang or violation.

use std::process::ExitCode;

use vanta_fuzz::{Config, FUZZ_INPUTS, run, table, targets};

fn main() -> ExitCode {
    let mut cfg = Config { inputs: FUZZ_INPUTS, ..Config::default() };
    let mut names: Vec<String> = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut value = |what: &str| args.next().ok_or_else(|| format!("{a} needs {what}"));
        let parsed: Result<(), String> = match a.as_str() {
            "--target" => value("a target name").map(|v| names.push(v)),
            "--inputs" => value("a count").and_then(|v| v.parse().map_err(|e| format!("--inputs: {e}"))).map(|n| cfg.inputs = n),
            "--seed" => value("a number").and_then(|v| v.parse().map_err(|e| format!("--seed: {e}"))).map(|n| cfg.seed = n),
            "--start" => value("an index").and_then(|v| v.parse().map_err(|e| format!("--start: {e}"))).map(|n| cfg.start = n),
            "--list" => {
                println!("{}", targets::NAMES.join("\n"));
                return ExitCode::SUCCESS;
            }
            other => Err(format!("unknown argument {other} (--target NAME, --inputs N, --seed S, --start I, --list)")),
        };
        if let Err(e) = parsed {
            eprintln!("vanta-fuzz: {e}");
            return ExitCode::from(2);
        }
    }
    if names.is_empty() {
        names = targets::NAMES.iter().map(|s| (*s).to_owned()).collect();
    }
    let mut reports = Vec::new();
    for name in &names {
        let mut target = match targets::build(name) {
            Ok(t) => t,
            Err(e) => {
                eprintln!("vanta-fuzz: {e}");
                return ExitCode::from(2);
            }
        };
        eprintln!("fuzzing {name}: {} ({} inputs, seed {})", target.what, cfg.inputs, cfg.seed);
        let r = run(&mut target, &cfg);
        eprintln!("  {} inputs, {} panics, {} violations, max {:.1?} per input", r.inputs, r.panics, r.violations, r.max_time);
        reports.push(r);
    }
    println!("{}", table(&reports));
    if reports.iter().all(vanta_fuzz::Report::clean) { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}
