//! Signal ingest over HTTP on loopback: `POST /signals` (signed with the source's HMAC, a unique
//! id each, so every request runs the full path: verify, idempotency record, enqueue) against a
//! no-op axum router with one route answering 202, both served by the local runner's stack
//! (`vanta_local::serve`: `axum::serve` over hyper), in the same process.
//!
//! The load generator is closed-loop: `connections` keep-alive HTTP/1.1 connections, each
//! sending its share of requests one after another; bodies and signatures are made before the
//! clock starts. Both routes run the same way, each after a warm-up, in [`ROUNDS`] alternating
//! rounds (no-op, signals, no-op, ...), so a change of the machine's speed during the run (a
//! shared VM's neighbours) falls on both: throughput is all requests over all rounds' wall time,
//! latency quantiles are over every request.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use vanta_domain::ids::{SourceId, TelegramUserId};
use vanta_domain::ports::SourceStore;
use vanta_domain::time::Clock;
use vanta_domain::user::{SecretText, SignalSource};

use crate::world::World;
use crate::{Report, Row, ms, quantile};

/// Alternating rounds of each route.
pub const ROUNDS: usize = 5;

/// What one route did.
#[derive(Debug, Clone)]
pub struct Load {
    pub requests: usize,
    pub wall: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// Answers other than the expected status.
    pub unexpected: usize,
}

impl Load {
    /// One route's rounds as one run.
    fn of_rounds(rounds: Vec<(Vec<Duration>, Duration, usize)>) -> Self {
        let mut all = Vec::new();
        let (mut wall, mut unexpected) = (Duration::ZERO, 0);
        for (lat, w, u) in rounds {
            all.extend(lat);
            wall += w;
            unexpected += u;
        }
        all.sort();
        Load { requests: all.len(), wall, p50: quantile(&all, 0.5), p99: quantile(&all, 0.99), unexpected }
    }
    pub fn rps(&self) -> f64 {
        self.requests as f64 / self.wall.as_secs_f64().max(1e-9)
    }
}

struct Prepared {
    path: &'static str,
    headers: Vec<(&'static str, String)>,
    body: Bytes,
}

const SECRET: &str = "bench-secret";

fn source_id(c: usize) -> String {
    format!("bench-{c}")
}

fn signed(world: &World, round: &str, c: usize, i: usize) -> Prepared {
    let body = format!(
        r#"{{"source":"{}","id":"{round}-{c}-{i}","action":"open","pair":"BTC/USD","side":"long","collateral_usdc":"100","leverage":"5","tp":"120000","sl":"95000"}}"#,
        source_id(c)
    );
    let ts = world.clock.now().secs().to_string();
    let sig = vanta_app::signals::sign(SECRET, &ts, body.as_bytes());
    Prepared {
        path: "/signals",
        headers: vec![("x-vanta-timestamp", ts), ("x-vanta-signature", sig), ("content-type", "application/json".into())],
        body: Bytes::from(body),
    }
}

/// Sends `work` (one list per connection) to `addr`; every answer must be `expect`.
async fn drive(addr: std::net::SocketAddr, work: Vec<Vec<Prepared>>, expect: u16) -> Result<(Vec<Duration>, Duration, usize), String> {
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for list in work {
        tasks.spawn(async move {
            let stream = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
            stream.set_nodelay(true).map_err(|e| e.to_string())?;
            let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.map_err(|e| e.to_string())?;
            tokio::spawn(conn);
            let mut lat = Vec::with_capacity(list.len());
            let mut unexpected = 0usize;
            for p in list {
                let mut b = hyper::Request::post(p.path).header("host", "127.0.0.1");
                for (k, v) in &p.headers {
                    b = b.header(*k, v.as_str());
                }
                let req = b.body(Full::new(p.body)).map_err(|e| e.to_string())?;
                let t = Instant::now();
                send.ready().await.map_err(|e| e.to_string())?;
                let resp = send.send_request(req).await.map_err(|e| e.to_string())?;
                let status = resp.status().as_u16();
                let _ = resp.into_body().collect().await.map_err(|e| e.to_string())?;
                lat.push(t.elapsed());
                if status != expect {
                    unexpected += 1;
                }
            }
            Ok::<_, String>((lat, unexpected))
        });
    }
    let mut all = Vec::new();
    let mut unexpected = 0;
    while let Some(r) = tasks.join_next().await {
        let (lat, u) = r.map_err(|e| e.to_string())??;
        all.extend(lat);
        unexpected += u;
    }
    Ok((all, started.elapsed(), unexpected))
}

/// Splits `n` requests over `connections`, made by `make(connection, index)`.
fn plan(n: usize, connections: usize, mut make: impl FnMut(usize, usize) -> Prepared) -> Vec<Vec<Prepared>> {
    let per = n.div_ceil(connections.max(1));
    (0..connections.max(1)).map(|c| (0..per).map(|i| make(c, i)).collect()).collect()
}

pub async fn run(report: &mut Report, requests: usize, connections: usize) -> Result<(), String> {
    // One source per connection, so the per-source rate limit (at its maximum) never answers 429.
    let world = World::new(&[("SIGNAL_RATE_PER_MIN", "10000")])?;
    let owner = world.user(42).await?;
    for c in 0..connections {
        let s = SignalSource {
            id: SourceId::parse(&source_id(c)).map_err(|e| e.to_string())?,
            owner: TelegramUserId(owner.id.0),
            secret: SecretText::new(SECRET).into(),
            tv_token_hash: vanta_app::signals::token_hash(&format!("tv-{c}")),
            active: true,
            created_at: world.clock.now(),
            rotated_at: None,
        };
        world.store.create_source(&s).await.map_err(|e| e.to_string())?;
    }
    // The app's router (every route of both functions, as `make run` serves it) and the
    // baseline: one route answering 202 with a small JSON body, no layers.
    let app = vanta_app::http::router(world.deps.clone());
    let baseline = axum::Router::new()
        .route("/noop", axum::routing::post(|| async { vanta_app::http::json(202, &serde_json::json!({ "status": "accepted" })) }));
    let (stop_tx, stop_rx) = watch::channel(false);
    let listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let server = tokio::spawn(vanta_local::serve(listener, app, stop_rx.clone()));
    let noop_listener = TcpListener::bind("127.0.0.1:0").await.map_err(|e| e.to_string())?;
    let noop_addr = noop_listener.local_addr().map_err(|e| e.to_string())?;
    let noop_server = tokio::spawn(vanta_local::serve(noop_listener, baseline, stop_rx));

    let noop = |c: usize, i: usize| {
        let mut p = signed(&world, "noop", c, i);
        p.path = "/noop";
        p
    };
    let warm = (requests / 10).max(connections);
    // Room for every intent of the run, so the in-memory twins of DynamoDB and SQS never pause
    // to grow their maps under load.
    let intents = warm + requests.div_ceil(ROUNDS) * ROUNDS + connections;
    world.store.inner().reserve_intents(intents).map_err(|e| e.to_string())?;
    world.queue.reserve(intents).map_err(|e| e.to_string())?;
    drive(noop_addr, plan(warm, connections, noop), 202).await?;
    let warmed = drive(addr, plan(warm, connections, |c, i| signed(&world, "warm", c, i)), 202).await?.0.len();
    let per_round = requests.div_ceil(ROUNDS);
    world.store.reset();
    let sends = world.sends.sent();
    let (mut base, mut sig) = (Vec::new(), Vec::new());
    for round in 0..ROUNDS {
        base.push(drive(noop_addr, plan(per_round, connections, noop), 202).await?);
        let tag = format!("run{round}");
        sig.push(drive(addr, plan(per_round, connections, |c, i| signed(&world, &tag, c, i)), 202).await?);
    }
    let (base, sig) = (Load::of_rounds(base), Load::of_rounds(sig));
    let (store, sends) = (world.store.totals(), world.sends.sent() - sends);
    let _ = stop_tx.send(true);
    let _ = server.await;
    let _ = noop_server.await;
    let queued = world.queue.len();
    if sig.unexpected > 0 || base.unexpected > 0 {
        return Err(format!("ingest: {} signal and {} no-op answers were not 202", sig.unexpected, base.unexpected));
    }

    let s = "ingest";
    let of = format!("no-op 202 router, same server stack, {connections} conns");
    report
        .rows
        .push(Row::new(s, "POST /signals throughput", sig.rps(), "req/s").against(base.rps(), of.clone()).goal("≥ 0.50 of the no-op"));
    report.rows.push(Row::new(s, "POST /signals p50", ms(sig.p50), "ms").against(ms(base.p50), of.clone()));
    report.rows.push(Row::new(s, "POST /signals p99", ms(sig.p99), "ms").against(ms(base.p99), of).goal("≤ 1 ms"));
    report.details.insert(
        "ingest".into(),
        serde_json::json!({
            "connections": connections,
            "requests_per_route": sig.requests,
            "signals": { "wall_ms": ms(sig.wall), "rps": sig.rps(), "p50_ms": ms(sig.p50), "p99_ms": ms(sig.p99) },
            "noop": { "wall_ms": ms(base.wall), "rps": base.rps(), "p50_ms": ms(base.p50), "p99_ms": ms(base.p99) },
            "rounds": ROUNDS,
            "warm_up_signals": warmed,
            "intents_queued": queued,
            // Per signal, for the cost model: its CPU is the loopback p50 (HTTP included).
            "per_signal": crate::cost::PerUnit::of_run(sig.requests, ms(sig.p50) * sig.requests as f64, &store, sends, 0, 0),
        }),
    );
    Ok(())
}

/// The binary that runs the ingest section under the webhook's allocator (`src/bin/ingest.rs`),
/// built beside `vanta-bench`.
pub const BINARY: &str = "vanta-bench-ingest";

/// What [`BINARY`] writes: the section's rows and its details.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Section {
    pub rows: Vec<crate::Row>,
    pub details: serde_json::Map<String, serde_json::Value>,
}

/// Runs the ingest section in `bin` ([`BINARY`]) and adds its rows and details to `report`.
/// The webhook links mimalloc and the other functions the system allocator, and a process has
/// one allocator: ingest runs as the webhook does, the other sections as their functions do.
pub async fn in_webhook_process(report: &mut Report, bin: &std::path::Path, requests: usize, connections: usize) -> Result<(), String> {
    let out = std::env::temp_dir().join(format!("vanta-bench-ingest-{}.json", std::process::id()));
    let status = tokio::process::Command::new(bin)
        .args(["--requests", &requests.to_string(), "--connections", &connections.to_string(), "--out"])
        .arg(&out)
        .status()
        .await
        .map_err(|e| format!("{} did not start ({e}); make bench builds it", bin.display()))?;
    if !status.success() {
        return Err(format!("{} failed ({status})", bin.display()));
    }
    let text = std::fs::read_to_string(&out).map_err(|e| format!("{}: {e}", out.display()))?;
    let _ = std::fs::remove_file(&out);
    let section: Section = serde_json::from_str(&text).map_err(|e| format!("{}: {e}", out.display()))?;
    report.rows.extend(section.rows);
    report.details.extend(section.details);
    report.notes.push(format!(
        "ingest ran in {BINARY} (mimalloc, as the webhook); the other sections in vanta-bench (the system allocator, as their functions)"
    ));
    Ok(())
}
