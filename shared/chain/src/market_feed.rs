//! The market of a DRY deployment: the venue's pair catalog and the oracles' prices, with the
//! paper venue ([`PaperVenue`]) filling DRY orders at those prices ([`VenueMarket`]). It is both
//! the functions' [`Prices`] and their paper [`Venue`].

use std::sync::Arc;

use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{IntentId, TraderAddress};
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::money::Usdc;
use vanta_domain::paper::PaperStore;
use vanta_domain::paper_venue::PaperVenue;
use vanta_domain::ports::{Lookup, PriceQuote, Prices, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::sequencer::{SequencerGated, SequencerStatus};
use vanta_domain::time::Clock;
use vanta_domain::{DomainError, DomainResult};

use crate::avantis::AvantisClient;
use crate::prices::{ChainlinkFeeds, CombinedPrices, PythHermes};

/// The venue's market data for DRY trading under Lambda: the pair catalog from Avantis and
/// prices from Pyth and Chainlink (asked together; the risk engine requires the fresh ones to
/// agree), loaded on first use and cached for the life of the instance. A load that fails is
/// an error (no price, no paper fill) and is tried again on the next call.
pub struct VenueMarket {
    avantis: AvantisClient,
    hermes_url: String,
    chainlink: Option<Arc<ChainlinkFeeds>>,
    clock: Arc<dyn Clock>,
    loaded: tokio::sync::OnceCell<(Arc<PaperVenue>, Arc<dyn Prices>)>,
    book: Option<Arc<dyn PaperStore>>,
    sequencer: Option<Arc<dyn SequencerStatus>>,
    /// The venue's feed service: its price is a required cross-check of the oracles'.
    venue_feed: Option<String>,
    /// The venue's spread quotes the paper venue fills with (else the catalog's `spreadP`).
    spreads: Option<Arc<dyn vanta_domain::spread::SpreadQuotes>>,
}

impl VenueMarket {
    pub fn new(avantis: AvantisClient, hermes_url: String, chainlink: Option<ChainlinkFeeds>, clock: Arc<dyn Clock>) -> Self {
        Self {
            avantis,
            hermes_url,
            chainlink: chainlink.map(Arc::new),
            clock,
            loaded: tokio::sync::OnceCell::new(),
            book: None,
            sequencer: None,
            venue_feed: None,
            spreads: None,
        }
    }

    /// Paper fills take the venue's spread quote (`POST {risk_v2}/spread`), see [`PaperVenue`].
    pub fn with_spreads(mut self, spreads: Option<Arc<dyn vanta_domain::spread::SpreadQuotes>>) -> Self {
        self.spreads = spreads;
        self
    }

    /// Puts every price behind the sequencer gate.
    pub fn with_sequencer(mut self, sequencer: Option<Arc<dyn SequencerStatus>>) -> Self {
        self.sequencer = sequencer;
        self
    }

    /// Cross-checks every price with the venue's own (`GET {feed}/v2/pairs/{i}/price-update-data`).
    pub fn with_venue_feed(mut self, feed_url: String) -> Self {
        self.venue_feed = Some(feed_url);
        self
    }

    /// Keeps the paper book in `book` (the table).
    pub fn with_book(mut self, book: Arc<dyn PaperStore>) -> Self {
        self.book = Some(book);
        self
    }

    async fn get(&self) -> DomainResult<&(Arc<PaperVenue>, Arc<dyn Prices>)> {
        self.loaded
            .get_or_try_init(|| async {
                let catalog = self.avantis.pairs().await?;
                let feeds = self.avantis.price_feeds().await?;
                let pyth: Arc<dyn Prices> = Arc::new(PythHermes::new(&self.hermes_url, feeds)?);
                let prices: Arc<dyn Prices> = match &self.chainlink {
                    Some(chainlink) => Arc::new(CombinedPrices::new(vec![("pyth".into(), pyth), ("chainlink".into(), chainlink.clone())])),
                    None => pyth,
                };
                let prices = match &self.venue_feed {
                    Some(url) => crate::venue_feed::venue_checked(prices, url, &catalog)?,
                    None => prices,
                };
                let prices: Arc<dyn Prices> = match &self.sequencer {
                    Some(status) => Arc::new(SequencerGated::new(prices, status.clone(), self.clock.clone())),
                    None => prices,
                };
                let paper = PaperVenue::new(catalog, prices.clone(), self.clock.clone());
                let paper = match &self.spreads {
                    Some(spreads) => paper.with_spreads(spreads.clone()),
                    None => paper,
                };
                let paper = Arc::new(match &self.book {
                    Some(book) => paper.with_book(book.clone()),
                    None => paper,
                });
                Ok::<_, DomainError>((paper, prices))
            })
            .await
    }
}

#[async_trait::async_trait]
impl Prices for VenueMarket {
    async fn quotes(&self, pair: &PairSymbol) -> DomainResult<Vec<PriceQuote>> {
        self.get().await?.1.quotes(pair).await
    }
}

#[async_trait::async_trait]
impl Venue for VenueMarket {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.get().await?.0.pairs().await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        self.get().await?.0.execute(client_ref, order).await
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.get().await?.0.positions(trader).await
    }
    async fn lookup(&self, client_ref: &IntentId) -> DomainResult<Lookup> {
        // Paper fills are recorded in the table, so any instance knows an earlier one.
        self.get().await?.0.lookup(client_ref).await
    }
    async fn equity(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.get().await?.0.equity(trader).await
    }
    async fn wallet_usdc(&self, trader: TraderAddress) -> DomainResult<Option<Usdc>> {
        self.get().await?.0.wallet_usdc(trader).await
    }
    async fn history(
        &self,
        trader: TraderAddress,
        since: Option<vanta_domain::time::Timestamp>,
    ) -> DomainResult<Option<vanta_domain::recon::VenueHistory>> {
        // The paper venue's own closes (TP, SL, liquidation by its keeper), kept in the table.
        self.get().await?.0.history(trader, since).await
    }
    async fn run_triggers(
        &self,
        trader: TraderAddress,
        max_age_secs: u32,
        max_deviation: vanta_domain::money::Bps,
    ) -> DomainResult<Vec<vanta_domain::recon::VenueClose>> {
        self.get().await?.0.run_triggers(trader, max_age_secs, max_deviation).await
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing, clippy::panic)]

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;
    use vanta_domain::market::Side;
    use vanta_domain::money::{Leverage, Price};
    use vanta_domain::paper::MemoryPaperBook;
    use vanta_domain::time::SystemClock;
    use vanta_testkit::fake_avantis::FakeAvantis;

    use super::*;
    use crate::avantis::AvantisConfig;

    fn client(fake: &FakeAvantis) -> AvantisClient {
        let u = fake.urls();
        AvantisClient::new(AvantisConfig::new(u.tx_builder, u.batched_market, u.core, u.data, fake.chain_id())).unwrap()
    }

    /// A Hermes that answers every request with one price (8 decimals) for `feed`, published now.
    async fn hermes(feed: &str, price: &str) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let published = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs();
        let body =
            serde_json::json!({"parsed": [{"id": feed, "price": {"price": price, "conf": "1000", "expo": -8, "publish_time": published}}]})
                .to_string();
        tokio::spawn(async move {
            while let Ok((mut conn, _)) = listener.accept().await {
                let body = body.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 8192];
                    let mut seen = Vec::new();
                    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                        match conn.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => seen.extend_from_slice(&buf[..n]),
                        }
                    }
                    let head = format!(
                        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                        body.len()
                    );
                    let _ = conn.write_all(head.as_bytes()).await;
                    let _ = conn.write_all(body.as_bytes()).await;
                    let _ = conn.shutdown().await;
                });
            }
        });
        url
    }

    fn open(pair: vanta_domain::market::PairIndex, reference: Price) -> VenueOrder {
        VenueOrder::Open {
            trader: TraderAddress::paper(*b"market-feed-unittest"),
            pair,
            side: Side::Long,
            collateral: "100".parse().unwrap(),
            leverage: Leverage::from_whole(2).unwrap(),
            reference_price: reference,
            slippage: "1".parse().unwrap(),
            tp: None,
            sl: None,
        }
    }

    #[tokio::test]
    async fn without_prices_the_dry_market_lists_pairs_but_quotes_and_fills_nothing() {
        let fake = FakeAvantis::start().await.unwrap();
        // Nothing listens on port 9: Pyth cannot be read.
        let market = VenueMarket::new(client(&fake), "http://127.0.0.1:9".into(), None, Arc::new(SystemClock));
        assert_eq!(market.mode(), ExecMode::Dry);
        let eth = market.pairs().await.unwrap().resolve("ETH/USD").unwrap().clone();
        let quotes = market.quotes(&eth.symbol).await;
        assert!(quotes.as_ref().map_or(true, Vec::is_empty), "no price is made up: {quotes:?}");
        let id = IntentId::parse("mf-no-price").unwrap();
        assert!(market.execute(&id, &open(eth.index, "3000".parse().unwrap())).await.is_err(), "no paper fill without a price");
        assert!(matches!(market.lookup(&id).await.unwrap(), Lookup::NotExecuted));
    }

    #[tokio::test]
    async fn the_dry_market_fills_paper_orders_at_the_oracle_price_into_its_book() {
        let fake = FakeAvantis::start().await.unwrap();
        let avantis = client(&fake);
        let catalog = avantis.pairs().await.unwrap();
        let eth = catalog.resolve("ETH/USD").unwrap().clone();
        let feed = avantis.price_feeds().await.unwrap()[&eth.symbol].trim_start_matches("0x").to_owned();
        let hermes = hermes(&feed, "300000000000").await;
        let book = Arc::new(MemoryPaperBook::new());
        let market = VenueMarket::new(avantis, hermes, None, Arc::new(SystemClock)).with_book(book.clone());

        let q = market.quotes(&eth.symbol).await.unwrap();
        assert_eq!(q.iter().map(|q| (q.source.as_str(), q.price)).collect::<Vec<_>>(), vec![("pyth", "3000".parse::<Price>().unwrap())]);

        let id = IntentId::parse("mf-fill").unwrap();
        let fill = market.execute(&id, &open(eth.index, "3000".parse().unwrap())).await.unwrap();
        assert!(fill.price >= "3000".parse::<Price>().unwrap(), "a long fills at the mark or worse (half the spread)");
        // The fill is in the book the market was given, and answered again, not repeated.
        assert!(book.paper_fill(&id).await.unwrap().is_some());
        assert!(matches!(market.lookup(&id).await.unwrap(), Lookup::Filled(_)));
        assert_eq!(market.execute(&id, &open(eth.index, "3000".parse().unwrap())).await.unwrap(), fill);
        assert_eq!(market.positions(TraderAddress::paper(*b"market-feed-unittest")).await.unwrap().len(), 1);
    }
}
