#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! One signal followed from the API to the fill: what each step reads from the store (the exec
//! mode once, the pair list once, the positions once) and that every log line on the way carries
//! the signal's intent id.

use std::io;
use std::sync::Mutex;

use vanta_domain::catalog::{CatalogStore, MemoryCatalogStore, StoredCatalog};

use crate::tests_support::*;
use vanta_domain::counting::CountingStore;

/// Counts the reads of the stored pair catalog.
#[derive(Default)]
struct CountingCatalog {
    inner: MemoryCatalogStore,
    reads: AtomicUsize,
}

#[async_trait]
impl CatalogStore for CountingCatalog {
    async fn get_catalog(&self) -> DomainResult<Option<StoredCatalog>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        self.inner.get_catalog().await
    }
    async fn put_catalog(&self, c: &StoredCatalog) -> DomainResult<()> {
        self.inner.put_catalog(c).await
    }
}

/// The webhook and the worker as two instances (two Lambdas) over one store, queue and catalog.
struct Instances {
    webhook: Deps,
    worker: Deps,
    store: Arc<CountingStore<MemoryStore>>,
    catalogs: Arc<CountingCatalog>,
    queue: Arc<MemoryQueue>,
    clock: Arc<ManualClock>,
}

async fn instances() -> Instances {
    let clock = Arc::new(ManualClock::new(Timestamp(1_795_852_800_000)));
    let store = Arc::new(CountingStore::new(MemoryStore::new()));
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let catalog = Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap());
    let catalogs = Arc::new(CountingCatalog::default());
    catalogs.put_catalog(&StoredCatalog { catalog: (*catalog).clone(), fetched_at: clock.now() }).await.unwrap();
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    let deps = || {
        Deps::new(config(&[]), store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper.clone())
            .with_catalog_store(catalogs.clone(), None)
    };
    let (webhook, worker) = (deps(), deps());
    for feed in ["pyth", "chainlink"] {
        prices.set(PairSymbol::parse("BTC/USD").unwrap(), feed, Price::from_str("100000").unwrap(), clock.now()).unwrap();
    }
    store.get_or_create_user(User::new(TelegramUserId(7), ChatId(7), clock.now())).await.unwrap();
    let source = SignalSource {
        id: SourceId::parse("strat").unwrap(),
        owner: TelegramUserId(7),
        secret: SecretText::new("k3y").into(),
        tv_token_hash: signals::token_hash("tvtok"),
        active: true,
        created_at: clock.now(),
        rotated_at: None,
    };
    store.create_source(&source).await.unwrap();
    Instances { webhook, worker, store, catalogs, queue, clock }
}

impl Instances {
    fn calls(&self, method: &str) -> u64 {
        self.store.counts().get(method).map_or(0, |c| c.calls)
    }
    fn reset(&self) {
        self.store.reset();
        self.catalogs.reads.store(0, Ordering::SeqCst);
    }
    /// The signal through the API (202), then its one queue message through the worker.
    async fn one_signal(&self) -> (u64, u64, u64, u64, u64, u64) {
        let req = signed(OPEN_BTC, "k3y", self.clock.now().secs());
        assert_eq!(testing::call(&self.webhook, req).await.status, 202);
        let api = (self.calls("get_exec_control"), self.catalogs.reads.load(Ordering::SeqCst) as u64, self.calls("user_positions"));
        self.reset();
        let batch = self.queue.take(10).unwrap();
        assert_eq!(batch.len(), 1, "one message queued");
        worker::handle_message(&self.worker, &batch[0].body).await.unwrap();
        let worker = (self.calls("get_exec_control"), self.catalogs.reads.load(Ordering::SeqCst) as u64, self.calls("user_positions"));
        (api.0, api.1, api.2, worker.0, worker.1, worker.2)
    }
}

/// The exec-control item is read once per pipeline step (the gate in front of a LIVE signer reads
/// it again right before signing; a DRY fill signs nothing), the pair list once per instance and
/// step, the user's positions once.
const EXEC_READS_PER_STEP: u64 = 1;

#[tokio::test]
async fn one_signal_reads_the_exec_mode_the_pair_list_and_the_positions_once_per_step() {
    let w = instances().await;
    w.reset();
    let (api_exec, api_catalog, api_positions, exec, catalog, positions) = w.one_signal().await;
    assert_eq!((api_exec, api_catalog, api_positions), (0, 1, 0), "the API: the pair list once, no exec mode, no positions");
    assert_eq!(exec, EXEC_READS_PER_STEP, "the worker reads the exec-control item once");
    assert_eq!(catalog, 1, "the worker reads the pair list once");
    assert_eq!(positions, 1, "the worker reads the user's positions once");
    let open = w.store.inner().user_positions(TelegramUserId(7), true).await.unwrap();
    assert_eq!(open.len(), 1, "and the signal opened its position");
    assert_eq!(open[0].status, PositionStatus::Open);
    assert!(!open[0].is_copy(), "a trader's own position is no copy");
}

// ----- one signal through the logs -------------------------------------------------------------

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl io::Write for Captured {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for Captured {
    type Writer = Captured;
    fn make_writer(&'a self) -> Self::Writer {
        self.clone()
    }
}

/// The intent ids a JSON log line carries: in its own fields and in every span it is in.
fn intents_of(line: &serde_json::Value) -> Vec<String> {
    let mut ids: Vec<String> = Vec::new();
    let mut take = |v: Option<&serde_json::Value>| {
        if let Some(id) = v.and_then(|v| v.as_str()) {
            ids.push(id.to_owned());
        }
    };
    take(line["fields"].get("intent"));
    for span in line["spans"].as_array().into_iter().flatten() {
        take(span.get("intent"));
    }
    ids
}

#[tokio::test]
async fn every_log_line_from_receive_to_fill_carries_the_intent_id() {
    let w = instances().await;
    let logs = Captured::default();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_span_list(true)
        .with_current_span(false)
        .with_max_level(tracing::Level::TRACE)
        .with_writer(logs.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    w.one_signal().await;
    drop(_guard);
    let text = String::from_utf8(logs.0.lock().unwrap().clone()).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    // The router's access line is written per request after the use case ends (its fields are the
    // route and status); every line of the signal's own path is in the use cases' spans.
    let path: Vec<&serde_json::Value> = lines.iter().filter(|l| l["fields"]["message"] != "http").collect();
    let said = |m: &str| path.iter().any(|l| l["fields"]["message"] == m);
    assert!(said("signal accepted") && said("intent processed"), "receive and fill are both logged:\n{text}");
    for line in &path {
        let ids = intents_of(line);
        assert!(!ids.is_empty(), "a line without the intent id: {line}");
        assert!(ids.iter().all(|id| id == "sig:strat:a-1"), "a line with another intent id: {line}");
    }
    let spans: Vec<&str> =
        path.iter().flat_map(|l| l["spans"].as_array().into_iter().flatten()).filter_map(|s| s["name"].as_str()).collect();
    for name in ["post_signal", "handle_delivery", "run"] {
        assert!(spans.contains(&name), "no line in the {name} span:\n{text}");
    }
}
