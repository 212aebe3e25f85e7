//! The local runner: every Vanta function in one process over the same handlers the Lambdas use.
//!
//! - HTTP on `VANTA_HTTP_ADDR`: the `webhook` routes and the `telegram` webhook route;
//! - an in-process FIFO queue feeding the `signal-worker` handler (SQS's rules: order, dedup,
//!   failed messages retried, then dead-lettered after [`MAX_RECEIVES`]);
//! - an in-process notifications queue feeding the `notifier` handler the same way, so notices
//!   survive a Telegram outage here too;
//! - schedule ticks for `tpsl` and `indexer` every `VANTA_TICK_SECS` (default 60);
//! - the in-memory store, DRY mode whatever the environment says.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use secrecy::ExposeSecret;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use vanta_app::{Deps, notifier, schedule, worker};
use vanta_domain::exec::ExecMode;
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue};
use vanta_domain::ports::{Chat, OutgoingMessage, QueueMessage};
use vanta_domain::time::{Clock, SystemClock};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::Config;

/// Receives before a local message is dead-lettered (as in the SAM template).
pub const MAX_RECEIVES: u32 = worker::MAX_RECEIVES;

/// Prints chat messages to the console when no Telegram token is configured.
pub struct ConsoleChat;

#[async_trait::async_trait]
impl Chat for ConsoleChat {
    async fn send(&self, msg: &OutgoingMessage) -> DomainResult<()> {
        println!("[telegram → chat {}] {}", msg.chat, msg.html);
        Ok(())
    }
}

pub mod demo;
mod polling;

/// The assembled system, not yet listening.
pub struct System {
    pub deps: Deps,
    pub queue: Arc<MemoryQueue>,
    /// The in-process `notifications.fifo`.
    pub notices: Arc<MemoryQueue>,
    pub prices: Arc<FixedPrices>,
    tick: Duration,
}

impl System {
    /// Wires in-memory adapters. The exec mode is forced to DRY: the local runner never trades.
    pub fn build(mut config: Config) -> Result<Self, DomainError> {
        if config.exec.mode == ExecMode::Live {
            tracing::warn!("COPY_EXECUTION_MODE=LIVE ignored: the local runner is always DRY");
        }
        config.exec.mode = ExecMode::Dry;
        if config.public_base_url.is_none() && config.http_addr.port() != 0 {
            // The wallet signing page (/link/{nonce}) is served here.
            config.public_base_url = Some(format!("http://{}", config.http_addr));
        }
        let clock: Arc<dyn Clock> = Arc::new(SystemClock);
        let queue = Arc::new(MemoryQueue::new(clock.clone()));
        let chat: Arc<dyn Chat> = match &config.telegram_bot_token {
            Some(token) => Arc::new(vanta_telegram::TelegramChat::new(token.expose_secret(), &config.telegram_api_url)?),
            None => Arc::new(ConsoleChat),
        };
        let tick = std::env::var("VANTA_TICK_SECS").ok().and_then(|s| s.parse().ok()).map_or(Duration::from_secs(60), Duration::from_secs);
        // A fresh throwaway key per run: the local runner never trades, and no key is kept.
        let signer = vanta_chain::signer::LocalKeySigner::random()?.with_chain_id(Some(config.chain_id));
        let prices = Arc::new(FixedPrices::new());
        let catalog = Arc::new(demo::catalog()?);
        let paper = Arc::new(PaperVenue::new(catalog.clone(), prices.clone(), clock.clone()));
        let notices = Arc::new(MemoryQueue::new(clock.clone()));
        let deps = Deps::new(config, Arc::new(MemoryStore::new()), queue.clone(), chat, clock, prices.clone(), paper)
            // The pair catalog is kept in the store and refreshed by the indexer tick, as on Lambda.
            .with_catalog_store(
                Arc::new(vanta_domain::catalog::MemoryCatalogStore::new()),
                Some(Arc::new(vanta_domain::catalog::StaticCatalog(catalog))),
            )
            .with_signer(Arc::new(signer))
            .with_queue_stats(queue.clone())
            .with_notifications_queue(notices.clone());
        Ok(Self { deps, queue, notices, prices, tick })
    }

    /// Binds the HTTP address and starts every loop.
    pub async fn start(self) -> std::io::Result<Running> {
        demo::seed(&self.deps, &self.prices).await.map_err(std::io::Error::other)?;
        vanta_app::market::refresh_catalog(&self.deps).await;
        let listener = TcpListener::bind(self.deps.config.http_addr).await?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = watch::channel(false);
        let mut tasks = JoinSet::new();
        tasks.spawn(serve(listener, vanta_app::http::router(self.deps.clone()), stop_rx.clone()));
        tasks.spawn(run_worker(self.deps.clone(), self.queue.clone(), stop_rx.clone()));
        tasks.spawn(run_notifier(self.deps.clone(), self.notices.clone(), stop_rx.clone()));
        tasks.spawn(run_schedules(self.deps.clone(), self.tick, stop_rx.clone()));
        if let (Some(token), None) = (&self.deps.config.telegram_bot_token, &self.deps.config.telegram_webhook_secret) {
            match vanta_telegram::TelegramChat::new(token.expose_secret(), &self.deps.config.telegram_api_url) {
                Ok(chat) => {
                    tasks.spawn(polling::run(self.deps.clone(), chat, stop_rx.clone()));
                }
                Err(e) => tracing::warn!(error = %e, "telegram long polling not started"),
            }
        }
        tasks.spawn(demo::run_price_feed(self.prices.clone(), self.deps.clock.clone(), stop_rx));
        Ok(Running { addr, stop_tx, tasks, deps: self.deps })
    }
}

/// A started system.
pub struct Running {
    pub addr: SocketAddr,
    pub deps: Deps,
    stop_tx: watch::Sender<bool>,
    tasks: JoinSet<()>,
}

impl Running {
    /// What is running and how to poke it.
    pub fn banner(&self) -> String {
        let a = self.addr;
        let tg = match (&self.deps.config.telegram_bot_token, &self.deps.config.telegram_webhook_secret) {
            (Some(_), None) => "Bot API, long polling (message your bot; setMyCommands registered)",
            (Some(_), Some(_)) => "Bot API, webhook on POST /telegram",
            (None, _) => "console (set TELEGRAM_BOT_TOKEN to talk to a real bot)",
        };
        format!(
            "\nVanta is running locally — DRY mode, in-memory store, no AWS.\n\n\
             \x20 http            http://{a}\n\
             \x20 webhook fn      GET /healthz /readyz /health /metrics, POST /signals, POST /signals/tv/{{token}}\n\
             \x20 telegram fn     POST /telegram (needs TELEGRAM_WEBHOOK_SECRET)\n\
             \x20 signal-worker   in-process FIFO queue\n\
             \x20 notifier        in-process notifications queue (retried through Telegram outages)\n\
             \x20 tpsl, indexer   every {}s\n\
             \x20 chat            {tg}\n\
             \x20 dev delegate    {signer} (throwaway key, this run only)\n\n\
             Demo trader {user} owns signal source '{source}' (secret from VANTA_DEMO_SOURCE_SECRET, default shown below).\n\
             Open a DRY position with a signed signal:\n\n\
             \x20 BODY='{{\"source\":\"{source}\",\"id\":\"demo-'$(date +%s)'\",\"action\":\"open\",\"pair\":\"BTC/USD\",\"side\":\"long\",\"collateral_usdc\":\"100\",\"leverage\":\"5\"}}'\n\
             \x20 TS=$(date +%s); SIG=$(printf '%s.%s' \"$TS\" \"$BODY\" | openssl dgst -sha256 -hmac '{secret}' | sed 's/^.* //')\n\
             \x20 curl -s -X POST http://{a}/signals -H \"X-Vanta-Timestamp: $TS\" -H \"X-Vanta-Signature: sha256=$SIG\" -d \"$BODY\"\n\n\
             TradingView webhook URL for the demo source (message = the same JSON):\n\
             \x20 http://{a}/signals/tv/{tv}\n\n\
             Also: curl -s http://{a}/health · /metrics · /readyz\n\n\
             Ctrl-C stops everything.\n",
            schedule_secs(&self.deps),
            user = demo::DEMO_USER,
            source = self.deps.config.demo_source_id,
            secret = self.deps.config.demo_source_secret.expose_secret(),
            tv = demo::DEMO_TV_TOKEN,
            signer = self.deps.signer.as_ref().map_or_else(|| "none".to_owned(), |s| s.address().to_string()),
        )
    }

    /// Stops every loop and waits for them.
    pub async fn stop(mut self) {
        let _ = self.stop_tx.send(true);
        while self.tasks.join_next().await.is_some() {}
    }
}

fn schedule_secs(_deps: &Deps) -> u64 {
    std::env::var("VANTA_TICK_SECS").ok().and_then(|s| s.parse().ok()).unwrap_or(60)
}

/// Serves HTTP/1.1 on `listener` until `stop` changes: the server stack of `make run`
/// (`axum::serve`, `TCP_NODELAY`, each connection's peer address as the caller's IP). Here `router` is
/// [`vanta_app::http::router`], every route of both functions; `make bench` measures the signal
/// API on it against a no-op router.
pub async fn serve(listener: TcpListener, router: axum::Router, mut stop: watch::Receiver<bool>) {
    use axum::serve::ListenerExt;
    let listener = listener.tap_io(|tcp| {
        // Answers leave at once rather than waiting on Nagle's algorithm.
        let _ = tcp.set_nodelay(true);
    });
    let app = router.into_make_service_with_connect_info::<SocketAddr>();
    let shutdown = async move {
        let _ = stop.changed().await;
    };
    if let Err(e) = axum::serve(listener, app).with_graceful_shutdown(shutdown).await {
        tracing::warn!(error = %e, "http server stopped");
    }
}

/// Which handler a local queue feeds.
#[derive(Clone, Copy)]
enum Consumer {
    Worker,
    Notifier,
}

impl Consumer {
    fn max_receives(self) -> u32 {
        match self {
            Consumer::Worker => MAX_RECEIVES,
            Consumer::Notifier => notifier::MAX_RECEIVES,
        }
    }
    /// How long a failed message waits before it is received again (the queue's visibility
    /// timeout, shortened for a local run).
    fn retry_after(self) -> Duration {
        match self {
            Consumer::Worker => Duration::from_secs(2),
            Consumer::Notifier => Duration::from_secs(5),
        }
    }
    async fn handle(self, deps: &Deps, body: &str, receive_count: u32) -> DomainResult<()> {
        match self {
            Consumer::Worker => worker::handle_delivery(deps, body, receive_count).await,
            Consumer::Notifier => notifier::handle_delivery(deps, body, receive_count).await,
        }
    }
}

/// Feeds queued messages to the worker handler with SQS FIFO semantics: in order; a failed
/// message is retried (with the rest behind it) up to [`MAX_RECEIVES`] times, then dead-lettered.
async fn run_worker(deps: Deps, queue: Arc<MemoryQueue>, stop: watch::Receiver<bool>) {
    run_queue(Consumer::Worker, deps, queue, stop).await
}

/// Feeds queued notices to the notifier handler, with the same rules as [`run_worker`] (and
/// the notifications queue's [`notifier::MAX_RECEIVES`]).
pub async fn run_notifier(deps: Deps, queue: Arc<MemoryQueue>, stop: watch::Receiver<bool>) {
    run_queue(Consumer::Notifier, deps, queue, stop).await
}

async fn run_queue(consumer: Consumer, deps: Deps, queue: Arc<MemoryQueue>, mut stop: watch::Receiver<bool>) {
    let max_receives = consumer.max_receives();
    let mut receives: std::collections::HashMap<String, u32> = std::collections::HashMap::new();
    loop {
        let batch = queue.take(10).unwrap_or_default();
        if batch.is_empty() {
            tokio::select! {
                _ = queue.wait() => {},
                _ = tokio::time::sleep(Duration::from_secs(1)) => {},
                _ = stop.changed() => return,
            }
            continue;
        }
        let mut rest: Vec<QueueMessage> = Vec::new();
        for msg in batch {
            if !rest.is_empty() {
                rest.push(msg);
                continue;
            }
            let attempt = receives.get(&msg.dedup_id).copied().unwrap_or(0) + 1;
            match consumer.handle(&deps, &msg.body, attempt).await {
                Ok(()) => {
                    receives.remove(&msg.dedup_id);
                }
                Err(e) => {
                    let n = receives.entry(msg.dedup_id.clone()).or_insert(0);
                    *n += 1;
                    if *n >= max_receives {
                        tracing::error!(dedup_id = %msg.dedup_id, error = %e, "message dead-lettered after {max_receives} receives");
                        receives.remove(&msg.dedup_id);
                        let _ = queue.dead_letter(msg);
                    } else {
                        tracing::warn!(dedup_id = %msg.dedup_id, error = %e, attempt = *n, "message failed; will retry");
                        rest.push(msg);
                    }
                }
            }
        }
        if !rest.is_empty() {
            let _ = queue.put_back(rest);
            tokio::select! {
                _ = tokio::time::sleep(consumer.retry_after()) => {},
                _ = stop.changed() => return,
            }
        }
    }
}

async fn run_schedules(deps: Deps, every: Duration, mut stop: watch::Receiver<bool>) {
    let mut interval = tokio::time::interval(every);
    loop {
        tokio::select! {
            _ = interval.tick() => {
                if let Err(e) = schedule::tpsl_tick(&deps).await { tracing::warn!(error = %e, "tpsl tick failed"); }
                if let Err(e) = schedule::indexer_tick(&deps).await { tracing::warn!(error = %e, "indexer tick failed"); }
            }
            _ = stop.changed() => return,
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;

    fn config(env: &[(&str, &str)]) -> Config {
        let m: std::collections::HashMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
        Config::from_lookup(|k| m.get(k).cloned()).unwrap()
    }

    #[tokio::test]
    async fn serves_health_over_real_http_and_stops() {
        let sys = System::build(config(&[("VANTA_HTTP_ADDR", "127.0.0.1:0"), ("COPY_EXECUTION_MODE", "LIVE")])).unwrap();
        assert_eq!(sys.deps.config.exec.mode, ExecMode::Dry, "the local runner is always DRY");
        let running = sys.start().await.unwrap();
        let base = format!("http://{}", running.addr);
        let r = reqwest::get(format!("{base}/healthz")).await.unwrap();
        assert_eq!(r.status(), 200);
        let h: serde_json::Value = reqwest::get(format!("{base}/health")).await.unwrap().json().await.unwrap();
        assert_eq!(h["exec_mode"], "DRY");
        let tg = reqwest::Client::new().post(format!("{base}/telegram")).body("{}").send().await.unwrap();
        assert_eq!(tg.status(), 503, "no webhook secret configured: refused");
        let big = reqwest::Client::new()
            .post(format!("{base}/signals"))
            .body(vec![b'x'; vanta_app::http::MAX_BODY_BYTES + 1])
            .send()
            .await
            .unwrap();
        assert_eq!(big.status(), 413);
        assert!(running.banner().contains(&base));
        running.stop().await;
        assert!(reqwest::get(format!("{base}/healthz")).await.is_err(), "stopped means not listening");
    }

    #[tokio::test(start_paused = true)]
    async fn failed_messages_are_retried_then_dead_lettered_not_lost_in_a_loop() {
        let sys = System::build(config(&[("VANTA_HTTP_ADDR", "127.0.0.1:0")])).unwrap();
        let queue = sys.queue.clone();
        let deps = sys.deps.clone();
        use vanta_domain::ports::Queue;
        queue.send(QueueMessage { group: "g".into(), dedup_id: "d1".into(), body: "{\"intent_id\":\"nope\"}".into() }).await.unwrap();
        let (tx, rx) = watch::channel(false);
        let h = tokio::spawn(run_worker(deps.clone(), queue.clone(), rx));
        // Virtual time: the runtime skips ahead whenever every task is waiting.
        tokio::time::sleep(Duration::from_secs(120)).await;
        let _ = tx.send(true);
        h.await.unwrap();
        assert!(queue.is_empty(), "dead-lettered after {MAX_RECEIVES} receives");
        assert_eq!(queue.dead_letters().len(), 1, "kept in the local DLQ, not lost");
        assert!(deps.metrics.render().contains(&format!("vanta_worker_failures_total {MAX_RECEIVES}")), "{}", deps.metrics.render());
    }
}
