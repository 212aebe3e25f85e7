//! `make bench`: runs every section, prints the table and writes `target/bench.json`.
//!
//! `vanta-bench [--tiny] [--no-cold-start] [--out PATH]`: `--tiny` runs the same code at smoke
//! sizes; without `--no-cold-start` the release binaries must be built (`make bench` does it).

use std::path::PathBuf;

use vanta_bench::{Report, Sizes, coldstart};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tiny = args.iter().any(|a| a == "--tiny");
    let cold = !args.iter().any(|a| a == "--no-cold-start");
    let out = args
        .iter()
        .position(|a| a == "--out")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .unwrap_or_else(|| coldstart::release_dir().with_file_name("bench.json"));
    let mut report = Report::new(if tiny { Sizes::tiny() } else { Sizes::full() });
    if let Err(e) = run(&mut report, cold).await {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
    println!("{}", report.table());
    match serde_json::to_string_pretty(&report).map(|j| std::fs::write(&out, j)) {
        Ok(Ok(())) => println!("written to {}", out.display()),
        Ok(Err(e)) => {
            eprintln!("cannot write {}: {e}", out.display());
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot serialise the report: {e}");
            std::process::exit(1);
        }
    }
}

async fn run(report: &mut Report, cold: bool) -> Result<(), String> {
    vanta_bench::run_in_process(report).await?;
    if cold {
        coldstart::run(report, &coldstart::release_dir()).await?;
    } else {
        report.notes.push("cold start not measured (--no-cold-start)".into());
    }
    Ok(())
}
