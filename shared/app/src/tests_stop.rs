#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The FLATTEN stop and its sweep, the signing gate's stop level, super-admin LIVE, signal ids and
//! pairs at ingestion, and the delegate-key pool.

use std::collections::BTreeMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::http::testing::{self, TestRequest};
use alloy_primitives::{B256, Signature};
use async_trait::async_trait;
use vanta_domain::exec::{EnvExec, ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{IntentState, Origin};
use vanta_domain::market::{PairCatalog, PairIndex, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::ports::*;
use vanta_domain::position::Position;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{SecretText, SignalSource, User};
use vanta_domain::{DomainError, DomainResult};
use vanta_runtime::Config;

use crate::delegates::{DelegateKey, DelegatePool, PooledVenue};
use crate::gate::GatedSigner;
use crate::tests_support::pair;
use crate::{Deps, delegates, flatten, schedule, signals, telegram, worker};

const T0: i64 = 1_795_852_800_000;
const SUPER: i64 = 1;
const ADMIN: i64 = 2;

// ----- harness --------------------------------------------------------------------------------

fn catalog() -> Arc<PairCatalog> {
    Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap())
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    prices: Arc<FixedPrices>,
    update: AtomicUsize,
}

fn sys_with(env: &[(&str, &str)]) -> Sys {
    let mut env: BTreeMap<String, String> = env.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect();
    env.entry("SUPER_ADMIN_IDS".into()).or_insert_with(|| SUPER.to_string());
    env.entry("ADMIN_USER_IDS".into()).or_insert_with(|| ADMIN.to_string());
    env.entry("TELEGRAM_WEBHOOK_SECRET".into()).or_insert_with(|| "s3cret".into());
    let config = Config::from_lookup(|k| env.get(k).cloned()).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(PaperVenue::new(catalog(), prices.clone(), clock.clone()));
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices.clone(), paper);
    let s = Sys { deps, store, queue, chat, clock, prices, update: AtomicUsize::new(1) };
    s.set_price("BTC/USD", "100000");
    s.set_price("ETH/USD", "3500");
    s
}

fn sys() -> Sys {
    sys_with(&[])
}

impl Sys {
    fn set_price(&self, sym: &str, p: &str) {
        let now = self.clock.now();
        let price = Price::from_str(p).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "pyth", price, now).unwrap();
        self.prices.set(PairSymbol::parse(sym).unwrap(), "chainlink", price, now).unwrap();
    }
    async fn user(&self, id: i64) -> User {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.unwrap()
    }
    async fn source(&self, owner: i64, id: &str, secret: &str) {
        self.user(owner).await;
        let s = SignalSource {
            id: SourceId::parse(id).unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new(secret).into(),
            tv_token_hash: signals::token_hash(&format!("tv-{id}")),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    async fn post(&self, body: &serde_json::Value, secret: &str) -> (u16, serde_json::Value) {
        let body = body.to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign(secret, &ts, body.as_bytes()))
            .with_body(body);
        let r = testing::call(&self.deps, req).await;
        (r.status, r.body_json())
    }
    /// Opens a position for `user` through a signal of their own source.
    async fn open(&self, user: i64, id: &str, pair: &str, side: &str) {
        let src = format!("src{user}");
        if self.store.get_source(&SourceId::parse(&src).unwrap()).await.unwrap().is_none() {
            self.source(user, &src, "k3y").await;
        }
        let body = serde_json::json!({"source": src, "id": id, "action": "open", "pair": pair, "side": side,
            "collateral_usdc": "100", "leverage": "5"});
        assert_eq!(self.post(&body, "k3y").await.0, 202);
    }
    async fn drain(&self) -> usize {
        let mut handled = 0;
        for _ in 0..20 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                handled += 1;
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
        handled
    }
    async fn live_positions(&self) -> Vec<Position> {
        self.store.live_positions().await.unwrap()
    }
    fn messages_to(&self, chat: i64) -> Vec<OutgoingMessage> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).collect()
    }
    fn texts_to(&self, chat: i64) -> Vec<String> {
        self.messages_to(chat).into_iter().map(|m| m.html).collect()
    }
    /// `user` sends `text` in their private chat.
    async fn say(&self, user: i64, text: &str) {
        let id = self.update.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"update_id": id, "message": {"message_id": id, "date": self.clock.now().secs(),
            "chat": {"id": user, "type": "private"}, "from": {"id": user, "is_bot": false, "first_name": "u"}, "text": text}});
        telegram::process_update(&self.deps, body.to_string().as_bytes()).await.unwrap();
    }
    /// `user` presses the button with `data` under message `message_id`.
    async fn press(&self, user: i64, data: &str) {
        let id = self.update.fetch_add(1, Ordering::SeqCst);
        let body = serde_json::json!({"update_id": id, "callback_query": {"id": format!("cb{id}"), "data": data,
            "from": {"id": user, "is_bot": false, "first_name": "u"}, "message": {"message_id": 1, "chat": {"id": user, "type": "private"}}}});
        telegram::process_update(&self.deps, body.to_string().as_bytes()).await.unwrap();
    }
    async fn control(&self) -> Option<ExecControl> {
        self.store.get_exec_control().await.unwrap()
    }
    /// An operator writes the control item (as with the AWS CLI: no Telegram id).
    async fn operator_sets(&self, mode: ExecMode, stop: StopLevel) {
        let version = self.control().await.map_or(0, |c| c.version) + 1;
        let c = ExecControl { mode, stop, updated_by: None, updated_at: self.clock.now(), version };
        self.store.put_exec_control(&c).await.unwrap();
    }
}

fn last_buttons(s: &Sys, chat: i64) -> Vec<String> {
    s.messages_to(chat).last().map(|m| m.buttons.iter().flatten().map(|b| b.data.clone()).collect()).unwrap_or_default()
}

// ----- the signing gate -------------------------------------------------------------------------

/// A key that counts its signatures and remembers what they were for.
struct RecordingKey {
    address: TraderAddress,
    signed: Mutex<Vec<Purpose>>,
}

impl RecordingKey {
    fn new(byte: u8) -> Arc<Self> {
        let mut a = [0u8; 20];
        a[19] = byte;
        Arc::new(Self { address: TraderAddress::new(a.into()).unwrap(), signed: Mutex::new(Vec::new()) })
    }
    fn signed(&self) -> Vec<Purpose> {
        self.signed.lock().unwrap().clone()
    }
}

#[async_trait]
impl Signer for RecordingKey {
    fn address(&self) -> TraderAddress {
        self.address
    }
    async fn sign_digest(&self, digest: B256) -> DomainResult<Signature> {
        self.sign_digest_for(digest, Purpose::Entry).await
    }
    async fn sign_digest_for(&self, _: B256, purpose: Purpose) -> DomainResult<Signature> {
        self.signed.lock().unwrap().push(purpose);
        Ok(Signature::test_signature())
    }
}

#[tokio::test]
async fn after_the_stop_is_pulled_an_entry_is_refused_at_the_signature_and_an_exit_still_signs() {
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let key = RecordingKey::new(0xaa);
    let gated = GatedSigner::new(key.clone(), s.store.clone(), s.deps.config.exec);
    s.operator_sets(ExecMode::Live, StopLevel::None).await;
    gated.sign_digest_for(B256::ZERO, Purpose::Entry).await.unwrap();
    gated.sign_digest_for(B256::ZERO, Purpose::Exit).await.unwrap();
    assert_eq!(key.signed().len(), 2, "LIVE without a stop signs both");

    for stop in [StopLevel::PauseEntries, StopLevel::Flatten] {
        s.operator_sets(ExecMode::Live, stop).await;
        let err = gated.sign_digest_for(B256::ZERO, Purpose::Entry).await.unwrap_err();
        assert!(matches!(err, DomainError::Refused(_)) && err.to_string().contains(stop.as_str()), "{err}");
        // A digest whose purpose is not stated may open exposure: refused too.
        assert!(gated.sign_digest(B256::ZERO).await.is_err());
        gated.sign_digest_for(B256::ZERO, Purpose::Exit).await.unwrap();
    }
    assert_eq!(key.signed(), [Purpose::Entry, Purpose::Exit, Purpose::Exit, Purpose::Exit], "only the exits reached the key");

    // The deployment's EMERGENCY_STOP counts like a stored stop; DRY signs nothing at all.
    let env = EnvExec { mode: ExecMode::Live, emergency_stop: true };
    s.operator_sets(ExecMode::Live, StopLevel::None).await;
    let by_env = GatedSigner::new(key.clone(), s.store.clone(), env);
    assert!(by_env.sign_digest_for(B256::ZERO, Purpose::Entry).await.is_err());
    by_env.sign_digest_for(B256::ZERO, Purpose::Exit).await.unwrap();
    s.operator_sets(ExecMode::Dry, StopLevel::Flatten).await;
    assert!(gated.sign_digest_for(B256::ZERO, Purpose::Exit).await.unwrap_err().to_string().contains("DRY"));
    assert_eq!(key.signed().len(), 5);
}

/// A LIVE venue that signs each order with its key, stating the purpose its kind has (as the
/// Avantis venue does), over a paper book.
struct KeyedVenue {
    book: Arc<PaperVenue>,
    signer: Arc<dyn Signer>,
}

#[async_trait]
impl Venue for KeyedVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.book.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        let purpose = if matches!(o, VenueOrder::Open { .. }) { Purpose::Entry } else { Purpose::Exit };
        self.signer.sign_digest_for(B256::ZERO, purpose).await?;
        self.book.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.book.lookup(r).await
    }
}

/// A LIVE deployment whose delegate pool holds `n` recording keys, each behind the gate and with
/// its own venue; orders are routed by the trader's user.
fn live_pool_sys(n: u8) -> (Sys, Vec<Arc<RecordingKey>>) {
    let mut s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let mut keys = Vec::new();
    let mut pool_keys = Vec::new();
    let mut venues: BTreeMap<String, Arc<dyn Venue>> = BTreeMap::new();
    for i in 0..n {
        let key = RecordingKey::new(0xa0 + i);
        let gated: Arc<dyn Signer> = Arc::new(GatedSigner::new(key.clone(), s.store.clone(), s.deps.config.exec));
        let id = format!("local-{i}");
        let book = Arc::new(PaperVenue::new(catalog(), s.prices.clone(), s.clock.clone()));
        venues.insert(id.clone(), Arc::new(KeyedVenue { book, signer: gated.clone() }));
        pool_keys.push(DelegateKey { id, address: key.address, signer: Some(gated) });
        keys.push(key);
    }
    let pool = Arc::new(DelegatePool::new(pool_keys).unwrap());
    let live = Arc::new(PooledVenue::new(s.store.clone(), pool.clone(), venues).unwrap());
    s.deps = s.deps.clone().with_delegates(pool).with_live_venue(live);
    (s, keys)
}

/// Binds a wallet for `user` the way `/bind` does (claim, then the delegate key).
async fn bind(s: &Sys, user: i64) -> User {
    let key = crate::tests_wallet::Key::new(u8::try_from(user % 200).unwrap() + 30);
    prove(s, user, &key).await
}

/// Binds `key`'s wallet to `user` the way users do: a challenge, signed by the wallet, verified
/// (which is also when the user's delegate key is assigned).
async fn prove(s: &Sys, user: i64, key: &crate::tests_wallet::Key) -> User {
    let before = s.user(user).await;
    let c = crate::wallet::issue(&s.deps, &before, key.address()).await.unwrap();
    let sig = hex::decode(key.personal_sign_hex(&c.message).trim_start_matches("0x")).unwrap();
    crate::wallet::complete(&s.deps, &before, &c, &sig).await.unwrap()
}

// ----- FLATTEN ------------------------------------------------------------------------------------

#[tokio::test]
async fn emergency_stop_flatten_closes_every_users_positions_and_reports_progress() {
    let s = sys();
    s.open(7, "a", "BTC/USD", "long").await;
    s.open(8, "b", "ETH/USD", "short").await;
    s.open(9, "c", "BTC/USD", "long").await;
    s.open(9, "d", "ETH/USD", "long").await;
    s.drain().await;
    assert_eq!(s.live_positions().await.len(), 4);
    // An entry queued before the stop, not yet run.
    s.open(7, "late", "ETH/USD", "long").await;

    // An admin may not pull it; a super-admin may.
    s.say(ADMIN, "/emergency_stop flatten").await;
    assert!(s.control().await.is_none(), "nothing stored for a mere admin");
    assert!(s.texts_to(ADMIN).last().unwrap().contains("Only super-admins"));
    s.say(SUPER, "/emergency_stop flatten").await;
    assert_eq!(s.control().await.unwrap().stop, StopLevel::Flatten);
    let reply = s.texts_to(SUPER).into_iter().find(|m| m.contains("FLATTEN") && m.contains("queued")).unwrap();
    assert!(reply.contains("3 user(s) queued") && reply.contains("0 of 4 positions closed"), "{reply}");

    s.drain().await;
    assert!(s.live_positions().await.is_empty(), "every position of every user closed");
    let late = s.store.get_intent(&IntentId::parse("sig:src7:late").unwrap()).await.unwrap().unwrap();
    assert_eq!(late.state, IntentState::Rejected, "the entry queued before the stop did not trade");
    for u in [7, 8, 9] {
        assert!(s.texts_to(u).iter().any(|m| m.contains("Closed")), "user {u} was told");
    }
    s.say(SUPER, "/status").await;
    let status = s.texts_to(SUPER).last().cloned().unwrap();
    assert!(status.contains("FLATTEN sweep") && status.contains("4 position(s) found live, 0 still live"), "{status}");

    // The next tick reports the result once; further ticks change nothing and repeat nothing.
    let before = s.texts_to(SUPER).len();
    schedule::tpsl_tick(&s.deps).await.unwrap();
    let done = s.texts_to(SUPER);
    assert_eq!(done.len(), before + 1);
    assert!(done.last().unwrap().contains("4 of 4 positions closed"), "{:?}", done.last());
    let intents_before = s.store.user_intents(TelegramUserId(9), 50).await.unwrap().len();
    schedule::tpsl_tick(&s.deps).await.unwrap();
    flatten::sweep(&s.deps).await.unwrap();
    assert_eq!(s.texts_to(SUPER).len(), before + 1, "no repeated report");
    assert_eq!(s.store.user_intents(TelegramUserId(9), 50).await.unwrap().len(), intents_before, "no new intents");
    assert_eq!(s.drain().await, 0);

    // Nothing trades while FLATTEN holds.
    s.open(8, "after", "BTC/USD", "long").await;
    s.drain().await;
    assert!(s.live_positions().await.is_empty());
    let after = s.store.get_intent(&IntentId::parse("sig:src8:after").unwrap()).await.unwrap().unwrap();
    assert_eq!(after.state, IntentState::Rejected);
}

#[tokio::test]
async fn a_flatten_level_written_by_the_cli_is_swept_by_the_tick_and_reported_to_the_admins() {
    let s = sys();
    s.open(7, "a", "BTC/USD", "long").await;
    s.open(8, "b", "ETH/USD", "long").await;
    s.drain().await;
    // A position whose owner has no user record cannot be closed by Vanta: a failure to report.
    let mut orphan = s.live_positions().await[0].clone();
    orphan.user = TelegramUserId(99);
    orphan.id = PositionId::parse("pos:orphan").unwrap();
    s.store.insert_position(&orphan).await.unwrap();

    s.operator_sets(ExecMode::Dry, StopLevel::Flatten).await;
    let r = flatten::sweep(&s.deps).await.unwrap();
    assert!(r.active);
    assert_eq!((r.closed, r.targets, r.queued), (0, 3, 2));
    let first = s.texts_to(SUPER);
    assert_eq!(first.len(), 1, "a CLI stop reports to every configured admin");
    assert_eq!(s.texts_to(ADMIN), first);
    assert!(first[0].contains("0 of 3 positions closed") && first[0].contains("user 99: no such user"), "{}", first[0]);

    // An overlapping sweep queues nothing twice and repeats no report.
    let again = flatten::sweep(&s.deps).await.unwrap();
    assert_eq!(again.queued, 0);
    assert_eq!(s.texts_to(SUPER).len(), 1);

    s.drain().await;
    schedule::tpsl_tick(&s.deps).await.unwrap();
    // (The tick reads only crossed levels now, so the live book is counted in the store.)
    assert_eq!(s.live_positions().await.len(), 1, "only the orphan is left");
    let last = s.texts_to(ADMIN).last().cloned().unwrap();
    assert!(last.contains("2 of 3 positions closed") && last.contains("user 99"), "{last}");

    // Released: the run ends, a new FLATTEN is a new run with new intents.
    s.operator_sets(ExecMode::Dry, StopLevel::None).await;
    assert!(!flatten::sweep(&s.deps).await.unwrap().active);
    assert!(s.store.get_flatten_run().await.unwrap().unwrap().ended_at.is_some());
    s.clock.advance(std::time::Duration::from_secs(60));
    s.set_price("BTC/USD", "100000");
    s.open(7, "b2", "BTC/USD", "long").await;
    s.drain().await;
    assert_eq!(s.store.user_positions(TelegramUserId(7), true).await.unwrap().len(), 1, "trading resumed");
    s.operator_sets(ExecMode::Dry, StopLevel::Flatten).await;
    let r = flatten::sweep(&s.deps).await.unwrap();
    assert_eq!(r.queued, 1, "user 7's new position is flattened by the new run");
    s.drain().await;
    assert_eq!(s.store.user_positions(TelegramUserId(7), true).await.unwrap().len(), 0);
}

#[tokio::test]
async fn flatten_closes_live_positions_with_their_own_keys_while_entries_are_refused_at_the_signature() {
    let (s, keys) = live_pool_sys(2);
    s.operator_sets(ExecMode::Live, StopLevel::None).await;
    for u in [7, 8, 9, 10] {
        bind(&s, u).await;
        s.open(u, "a", "BTC/USD", "long").await;
    }
    s.drain().await;
    let live = s.live_positions().await;
    assert_eq!(live.len(), 4);
    assert!(live.iter().all(|p| p.mode == ExecMode::Live));
    let entries: usize = keys.iter().map(|k| k.signed().len()).sum();
    assert_eq!(entries, 4);

    // FLATTEN with the mode DRY: LIVE closes cannot sign, and the report says why.
    s.operator_sets(ExecMode::Dry, StopLevel::Flatten).await;
    let r = flatten::sweep(&s.deps).await.unwrap();
    assert!(r.failures.iter().any(|f| f.contains("effective mode is DRY")), "{:?}", r.failures);
    assert!(s.texts_to(ADMIN).last().unwrap().contains("effective mode is DRY"));
    assert_eq!(keys.iter().map(|k| k.signed().len()).sum::<usize>(), 4, "nothing signed in DRY");

    s.operator_sets(ExecMode::Live, StopLevel::Flatten).await;
    flatten::sweep(&s.deps).await.unwrap();
    s.drain().await;
    assert!(s.live_positions().await.is_empty(), "LIVE positions closed under FLATTEN");
    let signed: Vec<Purpose> = keys.iter().flat_map(|k| k.signed()).collect();
    assert_eq!(signed.iter().filter(|p| **p == Purpose::Exit).count(), 4, "each close was signed as an exit");

    // An entry that reaches a venue under the stop is refused at the signature itself.
    let venue = s.deps.live.clone().unwrap();
    let order = VenueOrder::Open {
        trader: s.store.get_user(TelegramUserId(7)).await.unwrap().unwrap().trader.unwrap(),
        pair: PairIndex(1),
        side: Side::Long,
        collateral: Usdc::from_str("100").unwrap(),
        leverage: Leverage::from_whole(5).unwrap(),
        reference_price: Price::from_str("100000").unwrap(),
        slippage: vanta_domain::money::SlippageP::from_str("1").unwrap(),
        tp: None,
        sl: None,
    };
    let err = venue.execute(&IntentId::parse("direct-open").unwrap(), &order).await.unwrap_err();
    assert!(err.to_string().contains("FLATTEN"), "{err}");
    let after: usize = keys.iter().map(|k| k.signed().len()).sum();
    assert_eq!(after, 8, "nothing more was signed");
}

// ----- super-admin LIVE ---------------------------------------------------------------------------

#[tokio::test]
async fn only_super_admins_switch_to_live_admins_may_switch_to_dry() {
    let s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    s.say(ADMIN, "/exec LIVE").await;
    let refused = s.texts_to(ADMIN).last().cloned().unwrap();
    assert!(refused.contains("Only super-admins can switch to LIVE"), "{refused}");
    assert!(last_buttons(&s, ADMIN).is_empty(), "no confirmation offered");
    assert!(s.control().await.is_none());

    s.say(SUPER, "/exec LIVE").await;
    let confirm = last_buttons(&s, SUPER).into_iter().find(|d| d.starts_with("a:live:")).unwrap();
    // The admin cannot press the super-admin's button either.
    s.press(ADMIN, &confirm).await;
    assert!(s.control().await.is_none());
    s.press(SUPER, &confirm).await;
    assert_eq!(s.control().await.unwrap().mode, ExecMode::Live);

    s.say(ADMIN, "/exec DRY").await;
    let confirm = last_buttons(&s, ADMIN).into_iter().find(|d| d.starts_with("a:dry:")).unwrap();
    s.press(ADMIN, &confirm).await;
    assert_eq!(s.control().await.unwrap().mode, ExecMode::Dry, "an admin may switch to DRY");
}

// ----- signal ids and pairs at ingestion ----------------------------------------------------------

#[tokio::test]
async fn signal_ids_with_colons_no_longer_collide() {
    let s = sys();
    s.source(7, "a:b", "k1").await;
    s.source(8, "a", "k2").await;
    let body = |source: &str, id: &str| {
        serde_json::json!({"source": source, "id": id, "action": "open", "pair": "BTC/USD", "side": "long",
            "collateral_usdc": "100", "leverage": "5"})
    };
    let (st1, r1) = s.post(&body("a:b", "c"), "k1").await;
    let (st2, r2) = s.post(&body("a", "b:c"), "k2").await;
    assert_eq!((st1, st2), (202, 202), "{r1} {r2}");
    assert_ne!(r1["intent"], r2["intent"]);
    assert_eq!(r1["intent"], "sig2:3:a:b:c");
    assert_eq!(r2["intent"], "sig2:1:a:b:c");
    s.drain().await;
    assert_eq!(s.store.user_positions(TelegramUserId(7), true).await.unwrap().len(), 1);
    assert_eq!(s.store.user_positions(TelegramUserId(8), true).await.unwrap().len(), 1);
    // Retries are duplicates of their own signal only.
    assert_eq!(s.post(&body("a:b", "c"), "k1").await.0, 200);
    assert_eq!(s.post(&body("a", "b:c"), "k2").await.0, 200);
    // Ids without a colon keep their readable form.
    let (st, r) = s.post(&body("a", "plain-1"), "k2").await;
    assert_eq!((st, r["intent"].as_str()), (202, Some("sig:a:plain-1")));
    // The longest source and signal ids, colons included, still make an intent id.
    let long_source = format!("x:{}", "s".repeat(62));
    s.source(9, &long_source, "k9").await;
    let long_id = format!("y:{}", "i".repeat(126));
    let (st, r) = s.post(&body(&long_source, &long_id), "k9").await;
    assert_eq!(st, 202, "{r}");
    assert_eq!(r["intent"].as_str().unwrap(), format!("sig2:64:{long_source}:{long_id}"));
}

#[tokio::test]
async fn a_signal_accepted_under_the_old_id_keeps_its_one_intent() {
    let s = sys();
    s.source(7, "a:b", "k1").await;
    // Stored before ids told such pairs apart.
    let legacy = IntentId::parse("sig:a:b:c").unwrap();
    let body = serde_json::json!({"source": "a:b", "id": "c", "action": "open", "pair": "BTC/USD", "side": "long",
        "collateral_usdc": "100", "leverage": "5"});
    let signal = signals::parse(body.to_string().as_bytes()).unwrap();
    let old = vanta_domain::intent::Intent::new(
        legacy.clone(),
        TelegramUserId(7),
        Origin::Signal { source: signal.source.clone(), signal: signal.id.clone() },
        signal.action.clone(),
        signal.payload_hash(),
        s.clock.now(),
    );
    s.store.create_intent(&old).await.unwrap();
    let (st, r) = s.post(&body, "k1").await;
    assert_eq!((st, r["intent"].as_str()), (200, Some("sig:a:b:c")), "a retry of the old signal is a duplicate");
}

#[tokio::test]
async fn source_and_signal_ids_outside_the_alphabet_are_422_naming_the_field() {
    let s = sys();
    s.source(7, "strat", "k3y").await;
    let (st, r) = s.post(&serde_json::json!({"source": "strat", "id": "has space", "action": "pause"}), "k3y").await;
    assert_eq!(st, 422);
    let reason = r.to_string();
    assert!(reason.contains("id:") && reason.contains("letters, digits"), "{reason}");
    let (st, r) = s.post(&serde_json::json!({"source": "st/rat", "id": "x", "action": "pause"}), "k3y").await;
    assert_eq!(st, 422, "{r}");
    assert!(r.to_string().contains("source:"), "{r}");
}

/// A venue whose pair list can be switched off, counting reads.
struct FlakyCatalog {
    inner: Arc<PaperVenue>,
    down: std::sync::atomic::AtomicBool,
    reads: AtomicUsize,
}

#[async_trait]
impl Venue for FlakyCatalog {
    fn mode(&self) -> ExecMode {
        ExecMode::Dry
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.reads.fetch_add(1, Ordering::SeqCst);
        if self.down.load(Ordering::SeqCst) {
            return Err(DomainError::Unavailable("pairs endpoint down".into()));
        }
        self.inner.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        self.inner.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(t).await
    }
}

#[tokio::test]
async fn an_unlisted_pair_is_422_at_ingestion_and_an_unreadable_list_refuses_only_entries() {
    let mut s = sys();
    let flaky = Arc::new(FlakyCatalog {
        inner: Arc::new(PaperVenue::new(catalog(), s.prices.clone(), s.clock.clone())),
        down: false.into(),
        reads: AtomicUsize::new(0),
    });
    s.deps.paper = flaky.clone();
    s.source(7, "strat", "k3y").await;
    let open = |id: &str, pair: &str| {
        serde_json::json!({"source": "strat", "id": id, "action": "open", "pair": pair, "side": "long",
            "collateral_usdc": "100", "leverage": "5"})
    };
    let (st, r) = s.post(&open("x1", "DOGE/USD"), "k3y").await;
    assert_eq!(st, 422, "{r}");
    assert!(r.to_string().contains("DOGE/USD") && r.to_string().contains("pair"), "{r}");
    assert!(s.store.get_intent(&IntentId::parse("sig:strat:x1").unwrap()).await.unwrap().is_none(), "nothing accepted");
    assert_eq!(s.post(&open("x2", "btc"), "k3y").await.0, 202);
    assert_eq!(flaky.reads.load(Ordering::SeqCst), 1, "the list is cached");

    // Past the TTL the list cannot be read, and the last one is too old to serve.
    flaky.down.store(true, Ordering::SeqCst);
    s.clock.advance(std::time::Duration::from_secs(2 * 3600));
    s.set_price("BTC/USD", "100000");
    let (st, r) = s.post(&open("x3", "BTC/USD"), "k3y").await;
    assert_eq!(st, 503, "{r}");
    assert!(s.store.get_intent(&IntentId::parse("sig:strat:x3").unwrap()).await.unwrap().is_none(), "nothing accepted: retry");
    let close = serde_json::json!({"source": "strat", "id": "x4", "action": "close", "pair": "BTC/USD", "side": "long"});
    assert_eq!(s.post(&close, "k3y").await.0, 202, "an exit is never refused for the list");
    let flat = serde_json::json!({"source": "strat", "id": "x5", "action": "flatten"});
    assert_eq!(s.post(&flat, "k3y").await.0, 202);

    // A short outage within the stale window serves the list read before.
    flaky.down.store(false, Ordering::SeqCst);
    assert_eq!(s.post(&open("x6", "ETH/USD"), "k3y").await.0, 202);
    flaky.down.store(true, Ordering::SeqCst);
    s.clock.advance(std::time::Duration::from_secs(600));
    assert_eq!(s.post(&open("x7", "ETH/USD"), "k3y").await.0, 202);
    assert_eq!(s.post(&open("x8", "NOPE/USD"), "k3y").await.0, 422);
}

// ----- the delegate-key pool ----------------------------------------------------------------------

#[tokio::test]
async fn users_spread_over_the_pool_and_each_signs_with_their_own_stable_key() {
    let (s, keys) = live_pool_sys(2);
    s.operator_sets(ExecMode::Live, StopLevel::None).await;
    let pool = s.deps.delegates.clone().unwrap();
    let mut by_key: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for u in 100..110 {
        let user = bind(&s, u).await;
        let key = user.delegate_key.clone().unwrap();
        assert_eq!(pool.pick(TelegramUserId(u)).unwrap().id, key, "assigned by the stable pick");
        by_key.entry(key).or_default().push(u);
    }
    assert_eq!(by_key.len(), 2, "users are spread over both keys: {by_key:?}");

    // Each user's orders are signed by their own key.
    for u in 100..110 {
        s.open(u, "o", "BTC/USD", "long").await;
    }
    s.drain().await;
    for (i, key) in keys.iter().enumerate() {
        let users = &by_key[&format!("local-{i}")];
        assert_eq!(key.signed().len(), users.len(), "key {i} signed exactly for its users");
    }

    // Stable: binding again keeps the key, whatever the pool's order or size says now.
    let u = by_key["local-1"][0];
    let before = s.store.get_user(TelegramUserId(u)).await.unwrap().unwrap();
    let again = bind(&s, u).await;
    assert_eq!(again.delegate_key, before.delegate_key);

    // /wallet shows the user's own delegate address (the one to register with Avantis).
    s.say(u, "/wallet").await;
    let wallet = s.texts_to(u).last().cloned().unwrap();
    assert!(wallet.contains(&keys[1].address.to_string()), "{wallet}");
    assert!(!wallet.contains(&keys[0].address.to_string()), "{wallet}");
}

#[tokio::test]
async fn a_user_bound_before_keys_were_assigned_keeps_the_main_key_and_an_unknown_key_signs_nothing() {
    let (s, keys) = live_pool_sys(3);
    s.operator_sets(ExecMode::Live, StopLevel::None).await;
    let pool = s.deps.delegates.clone().unwrap();
    // Bound before the pool: no stored key.
    let legacy = (200..300).map(TelegramUserId).find(|u| pool.pick(*u).unwrap().id != "local-0").unwrap();
    let user = s.user(legacy.0).await;
    let wallet = crate::tests_wallet::Key::new(77);
    s.store.bind_address(legacy, wallet.address()).await.unwrap();
    assert_eq!(crate::delegates::address_for(&s.deps, &s.store.get_user(legacy).await.unwrap().unwrap()), Some(keys[0].address));
    // LIVE needs the wallet proved; proving the address they had pins the main key they registered.
    let proved = prove(&s, legacy.0, &wallet).await;
    assert_eq!(proved.delegate_key.as_deref(), Some("local-0"));
    s.open(legacy.0, "o", "BTC/USD", "long").await;
    s.drain().await;
    assert_eq!(keys[0].signed().len(), 1, "the main key signs for them");
    // Rebinding the same address pins the main key they registered.
    let pinned = delegates::assign_at_bind(
        &s.deps,
        &s.store.get_user(legacy).await.unwrap().unwrap(),
        user.trader.unwrap_or_else(|| wallet.address()),
    )
    .await
    .unwrap();
    assert_eq!(pinned.delegate_key.as_deref(), Some("local-0"));

    // A stored key that is not in the pool signs nothing and says why.
    let mut moved = s.store.get_user(legacy).await.unwrap().unwrap();
    moved.delegate_key = Some("arn:aws:kms:us-east-1:111122223333:key/gone".into());
    s.store.update_user(&moved).await.unwrap();
    s.open(legacy.0, "o2", "ETH/USD", "long").await;
    s.drain().await;
    assert_eq!(keys.iter().map(|k| k.signed().len()).sum::<usize>(), 1, "nothing more was signed");
    let i = s.store.get_intent(&IntentId::parse(&format!("sig:src{}:o2", legacy.0)).unwrap()).await.unwrap().unwrap();
    assert!(i.reason.as_deref().unwrap_or_default().contains("delegate key"), "{:?}", i.reason);
}

#[test]
fn a_key_listed_twice_counts_once_and_the_pick_is_stable() {
    let a = RecordingKey::new(1);
    let b = RecordingKey::new(2);
    let key = |id: &str, k: &Arc<RecordingKey>| DelegateKey { id: id.into(), address: k.address, signer: None };
    let pool = DelegatePool::new(vec![
        key("main-id", &a),
        key("arn:aws:kms:us-east-1:111122223333:key/main", &a),
        key("extra", &b),
        key("extra", &b),
    ])
    .unwrap();
    assert_eq!(pool.keys().iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["main-id", "extra"]);
    assert_eq!(pool.main().unwrap().id, "main-id");
    for u in 1..50 {
        assert_eq!(pool.pick(TelegramUserId(u)).unwrap().id, pool.pick(TelegramUserId(u)).unwrap().id);
    }
    assert!(DelegatePool::new(Vec::new()).is_err());
}
