#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The exec-mode gate: LIVE signs, the stop and DRY sign nothing.

use crate::tests_support::*;

/// A LIVE venue that must sign each order; counts signatures.
struct SigningVenue {
    inner: Arc<PaperVenue>,
    signer: Arc<dyn Signer>,
}

struct CountingSigner(AtomicUsize);

#[async_trait]
impl Signer for CountingSigner {
    fn address(&self) -> TraderAddress {
        TraderAddress::from_str("0x00000000000000000000000000000000000000aa").unwrap()
    }
    async fn sign_digest(&self, _: B256) -> DomainResult<Signature> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(Signature::test_signature())
    }
}

#[async_trait]
impl Venue for SigningVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.inner.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        self.signer.sign_digest(B256::ZERO).await?;
        self.inner.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.inner.lookup(r).await
    }
}

fn live_sys() -> (Sys, Arc<CountingSigner>) {
    let mut s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let counter = Arc::new(CountingSigner(AtomicUsize::new(0)));
    let gated = Arc::new(GatedSigner::new(counter.clone(), s.store.clone(), s.deps.config.exec));
    let live_book =
        Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([pair_min(1, "BTC/USD", "100")]).unwrap()), s.prices.clone(), s.clock.clone()));
    s.deps.live = Some(Arc::new(SigningVenue { inner: live_book, signer: gated }));
    (s, counter)
}

#[tokio::test]
async fn live_mode_signs_and_the_emergency_stop_after_enqueue_signs_nothing() {
    let (s, signatures) = live_sys();
    s.set_exec(ExecMode::Live, StopLevel::None).await;
    s.source(7, "strat", "k3y", "tvtok").await;
    s.lead(7).await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.drain().await;
    assert_eq!(signatures.0.load(Ordering::SeqCst), 1, "LIVE signs");
    assert!(s.messages_to(7).iter().any(|m| m.contains("LIVE") && m.contains("Opened")));

    // A second signal is queued, then an operator pulls the stop before the worker runs.
    let second = OPEN_BTC.replace("a-1", "a-2");
    assert_eq!(post(&s, signed(&second, "k3y", s.clock.now().secs())).await.0, 202);
    s.set_exec(ExecMode::Live, StopLevel::PauseEntries).await;
    s.drain().await;
    assert_eq!(signatures.0.load(Ordering::SeqCst), 1, "nothing more was signed");
    let intent = s.store.get_intent(&IntentId::parse("sig:strat:a-2").unwrap()).await.unwrap().unwrap();
    assert_eq!(intent.state, IntentState::Rejected);
    assert!(intent.reason.unwrap().contains("paused"));
}

#[tokio::test]
async fn switching_to_dry_between_enqueue_and_execution_signs_nothing() {
    let (s, signatures) = live_sys();
    s.set_exec(ExecMode::Live, StopLevel::None).await;
    s.source(7, "strat", "k3y", "tvtok").await;
    assert_eq!(post(&s, signed(OPEN_BTC, "k3y", s.clock.now().secs())).await.0, 202);
    s.set_exec(ExecMode::Dry, StopLevel::None).await;
    s.drain().await;
    assert_eq!(signatures.0.load(Ordering::SeqCst), 0);
    let p = &s.positions(7).await[0];
    assert_eq!(p.mode, ExecMode::Dry, "it ran on the paper venue instead");
    assert!(s.messages_to(7).iter().any(|m| m.contains("DRY")));
}

#[tokio::test]
async fn the_gate_refuses_to_sign_when_the_setting_is_unreadable_or_dry() {
    struct Broken;
    #[async_trait]
    impl ControlStore for Broken {
        async fn get_exec_control(&self) -> DomainResult<Option<ExecControl>> {
            Err(DomainError::Unavailable("timeout".into()))
        }
        async fn put_exec_control(&self, _: &ExecControl) -> DomainResult<()> {
            Ok(())
        }
    }
    let counter = Arc::new(CountingSigner(AtomicUsize::new(0)));
    let env = vanta_domain::exec::EnvExec { mode: ExecMode::Live, emergency_stop: false };
    let gated = GatedSigner::new(counter.clone(), Arc::new(Broken), env);
    assert!(gated.sign_digest(B256::ZERO).await.unwrap_err().to_string().contains("DRY"));
    assert_eq!(counter.0.load(Ordering::SeqCst), 0);
}
