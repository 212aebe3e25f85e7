#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! Exactly once: concurrent posts, lost replies, crashes and redeliveries make one trade.

use crate::tests_support::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hundred_concurrent_identical_posts_make_one_trade() {
    let s = Arc::new(sys_with(&[("SIGNAL_RATE_PER_MIN", "1000")]));
    s.source(7, "strat", "k3y", "tvtok").await;
    let now = s.clock.now().secs();
    let mut tasks = Vec::new();
    for _ in 0..100 {
        let s = s.clone();
        tasks.push(tokio::spawn(async move { post(&s, signed(OPEN_BTC, "k3y", now)).await.0 }));
    }
    let mut codes = Vec::new();
    for t in tasks {
        codes.push(t.await.unwrap());
    }
    assert_eq!(codes.iter().filter(|c| **c == 202).count(), 1, "{codes:?}");
    assert_eq!(codes.iter().filter(|c| **c == 200).count(), 99);
    s.drain().await;
    // Even if the message came again after the queue's dedup window, the pipeline runs the intent once.
    s.clock.advance(std::time::Duration::from_secs(400));
    pipeline::enqueue(&s.deps, &s.user(7).await, &IntentId::parse("sig:strat:a-1").unwrap()).await.unwrap();
    assert_eq!(s.drain().await, 1);
    assert_eq!(s.positions(7).await.len(), 1);
    assert_eq!(s.paper.positions(pipeline::account(&s.user(7).await)).await.unwrap().len(), 1, "one trade on the venue");
}

/// A venue that executes, then loses the reply (a crash or a timeout after sending).
struct LosesReplies {
    inner: Arc<PaperVenue>,
    lose: AtomicU32,
}

#[async_trait]
impl Venue for LosesReplies {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.inner.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        let fill = self.inner.execute(r, o).await?;
        if self.lose.load(Ordering::SeqCst) > 0 {
            self.lose.fetch_sub(1, Ordering::SeqCst);
            return Err(DomainError::Ambiguous("connection reset after sending".into()));
        }
        Ok(fill)
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.inner.lookup(r).await
    }
}

#[tokio::test]
async fn a_lost_reply_is_reconciled_not_resubmitted() {
    let mut s = sys();
    let venue = Arc::new(LosesReplies { inner: s.paper.clone(), lose: AtomicU32::new(1) });
    s.deps.paper = venue;
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let msg = s.queue.take(1).unwrap().remove(0);
    assert!(worker::handle_message(&s.deps, &msg.body).await.is_err(), "ambiguous: the message is retried");
    let id = IntentId::parse("sig:strat:a-1").unwrap();
    assert_eq!(s.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Ambiguous);
    // SQS redelivers: the venue says it filled, so the fill is recorded without a second order.
    worker::handle_message(&s.deps, &msg.body).await.unwrap();
    let intent = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!((intent.state, intent.attempts), (IntentState::Settled, 1));
    assert_eq!(s.paper.positions(pipeline::account(&s.user(7).await)).await.unwrap().len(), 1);
    let trail: Vec<IntentState> = s.store.audit_trail(&id).await.unwrap().into_iter().map(|a| a.state).collect();
    assert_eq!(
        trail,
        [IntentState::Received, IntentState::Validated, IntentState::Submitted, IntentState::Ambiguous, IntentState::Settled]
    );
}

#[tokio::test]
async fn a_crash_after_submission_then_redelivery_makes_no_second_trade() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let id = IntentId::parse("sig:strat:a-1").unwrap();
    let user = s.user(7).await;
    // What the worker did before the crash: validated, recorded SUBMITTED, sent the order…
    use vanta_domain::intent::Transition;
    s.store.transition(&id, &Transition::new(IntentState::Received, IntentState::Validated, s.clock.now()).unwrap()).await.unwrap();
    s.store
        .transition(&id, &Transition::new(IntentState::Validated, IntentState::Submitted, s.clock.now()).unwrap().with_mode(ExecMode::Dry))
        .await
        .unwrap();
    let order = VenueOrder::Open {
        trader: pipeline::account(&user),
        pair: PairIndex(1),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: PercentP::from_str("0.5").unwrap(),
        tp: None,
        sl: None,
    };
    s.paper.execute(&id, &order).await.unwrap();
    // …and died before recording the fill. SQS redelivers the message:
    assert_eq!(s.drain().await, 1);
    assert_eq!(s.store.get_intent(&id).await.unwrap().unwrap().state, IntentState::Settled);
    assert_eq!(s.paper.positions(pipeline::account(&user)).await.unwrap().len(), 1, "still one trade");
    assert_eq!(s.positions(7).await.len(), 1, "and it is recorded");
}

#[tokio::test]
async fn an_order_that_never_reached_the_venue_is_resubmitted_exactly_once() {
    let s = sys();
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    let id = IntentId::parse("sig:strat:a-1").unwrap();
    use vanta_domain::intent::Transition;
    s.store.transition(&id, &Transition::new(IntentState::Received, IntentState::Validated, s.clock.now()).unwrap()).await.unwrap();
    s.store
        .transition(&id, &Transition::new(IntentState::Validated, IntentState::Submitted, s.clock.now()).unwrap().with_mode(ExecMode::Dry))
        .await
        .unwrap();
    // Crashed before sending: the venue has nothing for it.
    s.drain().await;
    let intent = s.store.get_intent(&id).await.unwrap().unwrap();
    assert_eq!((intent.state, intent.attempts), (IntentState::Settled, 2));
    assert_eq!(s.positions(7).await.len(), 1);
}
