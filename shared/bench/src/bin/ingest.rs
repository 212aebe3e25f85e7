//! `vanta-bench-ingest --requests N --connections C --out PATH`: the ingest section alone, under
//! the webhook's allocator (mimalloc), for `vanta-bench` (whose own allocator is the other
//! functions', the system's). Writes the section's rows and details to PATH as JSON.

use vanta_bench::ingest::{self, Section};
use vanta_bench::{Report, Sizes};

/// The webhook's allocator (functions/webhook/src/main.rs).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter().position(|a| a == name).and_then(|i| args.get(i + 1)).cloned()
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |name: &str| arg(&args, name).and_then(|v| v.parse::<usize>().ok());
    let (Some(requests), Some(connections), Some(out)) = (number("--requests"), number("--connections"), arg(&args, "--out")) else {
        eprintln!("usage: vanta-bench-ingest --requests N --connections C --out PATH");
        std::process::exit(2);
    };
    let mut report = Report::new(Sizes::full());
    if let Err(e) = ingest::run(&mut report, requests, connections).await {
        eprintln!("ingest failed: {e}");
        std::process::exit(1);
    }
    let section = Section { rows: report.rows, details: report.details };
    match serde_json::to_string(&section).map(|j| std::fs::write(&out, j)) {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            eprintln!("cannot write {out}: {e}");
            std::process::exit(1);
        }
        Err(e) => {
            eprintln!("cannot serialise the section: {e}");
            std::process::exit(1);
        }
    }
}
