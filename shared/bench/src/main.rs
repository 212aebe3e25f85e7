//! `make bench`: runs every section, prints the table and writes `target/bench.json`.
//!
//! `vanta-bench [--tiny] [--no-cold-start] [--only SECTION] [--bin-dir DIR] [--out PATH]`:
//! `--tiny` runs the same code at smoke sizes; without `--no-cold-start` the function binaries
//! must be built in `DIR` (default `target/release`; `make bench` builds them). `--only tpsl`
//! (or `ingest`, `worker`, `fanout`) runs that one in-process section (no cold start), and
//! `--only coldstart` the cold starts alone (the binaries in `DIR`); the cost model needs every
//! section and is left out of both. The ingest section runs in `vanta-bench-ingest`, built
//! beside this binary with the webhook's allocator; the others run here, with the system
//! allocator the other functions use.

use std::path::PathBuf;

use vanta_bench::{Report, Sizes, coldstart};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let tiny = args.iter().any(|a| a == "--tiny");
    let only = args.iter().position(|a| a == "--only").and_then(|i| args.get(i + 1)).cloned();
    let cold = !args.iter().any(|a| a == "--no-cold-start") && only.is_none();
    let value = |name: &str| args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).map(PathBuf::from);
    let out = value("--out").unwrap_or_else(|| coldstart::release_dir().with_file_name("bench.json"));
    let bins = value("--bin-dir").unwrap_or_else(coldstart::release_dir);
    let mut report = Report::new(if tiny { Sizes::tiny() } else { Sizes::full() });
    let result = match only.as_deref() {
        Some("coldstart") => coldstart::run(&mut report, &bins).await,
        _ => run(&mut report, cold.then_some(bins), only.as_deref()).await,
    };
    if let Err(e) = result {
        eprintln!("bench failed: {e}");
        std::process::exit(1);
    }
    let costs = match only {
        Some(_) => None,
        None => match vanta_bench::cost::run(&mut report, &vanta_testkit::net::repo_root().join("template.yaml")) {
            Ok(t) => Some(t),
            Err(e) => {
                eprintln!("cost model failed: {e}");
                std::process::exit(1);
            }
        },
    };
    println!("{}", report.table());
    if let Some(costs) = costs {
        let p = &vanta_bench::cost::US_EAST_1;
        println!(
            "AWS cost a month ({}, list prices of {}, no free tier; assumptions in target/bench.json details.cost):\n{costs}",
            p.region, p.dated
        );
    }
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

async fn run(report: &mut Report, bins: Option<PathBuf>, only: Option<&str>) -> Result<(), String> {
    let ingest_bin = std::env::current_exe().map_err(|e| e.to_string())?.with_file_name(vanta_bench::ingest::BINARY);
    if let Some(section) = only {
        if section == "ingest" {
            let sizes = report.sizes.clone();
            return vanta_bench::ingest::in_webhook_process(report, &ingest_bin, sizes.ingest_requests, sizes.ingest_connections).await;
        }
        return vanta_bench::run_section(report, section).await;
    }
    vanta_bench::run_sections(report, &ingest_bin).await?;
    if let Some(dir) = bins {
        coldstart::run(report, &dir).await?;
    } else {
        report.notes.push("cold start not measured (--no-cold-start)".into());
    }
    Ok(())
}
