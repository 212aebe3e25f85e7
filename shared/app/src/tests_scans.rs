#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]
//! The indexer tick's scans ([`crate::scans`]): unresolved intents (gauges each tick, admins told
//! once past 10 minutes, a resolved intent leaves the scan) and delegation expiry (recorded per
//! user at most every 50 minutes, users told once when under 7 days).

use std::collections::HashMap;
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use serde_json::Value;
use vanta_domain::DomainResult;
use vanta_domain::exec::ExecMode;
use vanta_domain::ids::{ChatId, IntentId, SignalId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{Action, Intent, IntentState, Origin, Transition};
use vanta_domain::market::{PairCatalog, PairSymbol, Side};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::Bps;
use vanta_domain::ports::{Delegation, IntentStore, UserStore, Venue, VenueFill, VenueOrder, VenuePosition};
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::User;
use vanta_runtime::Config;

use crate::emf::names;
use crate::{Deps, scans, schedule};

const T0: i64 = 1_750_000_000_000;
const ADMIN: i64 = 900;
const DAY_MS: i64 = 86_400_000;

/// The paper venue, plus delegations per trader (and how often they were asked for).
struct DelegationVenue {
    inner: Arc<PaperVenue>,
    delegations: Mutex<HashMap<TraderAddress, Delegation>>,
    asked: AtomicUsize,
}

#[async_trait]
impl Venue for DelegationVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.inner.pairs().await
    }
    async fn execute(&self, client_ref: &IntentId, order: &VenueOrder) -> DomainResult<VenueFill> {
        self.inner.execute(client_ref, order).await
    }
    async fn positions(&self, trader: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.inner.positions(trader).await
    }
    async fn delegation(&self, trader: TraderAddress, _: TraderAddress) -> DomainResult<Option<Delegation>> {
        self.asked.fetch_add(1, Ordering::SeqCst);
        Ok(self.delegations.lock().unwrap().get(&trader).cloned())
    }
}

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
    venue: Arc<DelegationVenue>,
}

fn delegate() -> TraderAddress {
    TraderAddress::from_str("0x00000000000000000000000000000000000000dd").unwrap()
}

fn wallet(n: u8) -> TraderAddress {
    TraderAddress::from_str(&format!("0x{:040x}", 0xabc0_0000u64 + u64::from(n))).unwrap()
}

/// `live`: with the delegation venue as the LIVE venue and a delegate address.
fn sys(live: bool) -> Sys {
    let config = Config::from_lookup(|k| (k == "ADMIN_USER_IDS").then(|| ADMIN.to_string())).unwrap();
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    let paper = Arc::new(PaperVenue::new(Arc::new(PairCatalog::default()), prices.clone(), clock.clone()));
    let venue = Arc::new(DelegationVenue { inner: paper.clone(), delegations: Mutex::default(), asked: AtomicUsize::new(0) });
    let mut deps = Deps::new(config, store.clone(), queue, chat.clone(), clock.clone(), prices, paper);
    if live {
        deps = deps.with_live_venue(venue.clone());
        deps.delegate = Some(delegate());
    }
    deps.metrics.emf.capture();
    Sys { deps, store, chat, clock, venue }
}

impl Sys {
    fn lines(&self) -> Vec<Value> {
        self.deps.metrics.emf.take_lines(self.clock.now()).iter().map(|l| serde_json::from_str(l).unwrap()).collect()
    }
    fn advance_mins(&self, m: u64) {
        self.clock.advance(Duration::from_secs(m * 60));
    }
    /// An intent created now, moved to SUBMITTED (and AMBIGUOUS when `ambiguous`).
    async fn submitted(&self, id: &str, ambiguous: bool) {
        let origin = Origin::Signal { source: SourceId::parse("strat").unwrap(), signal: SignalId::parse(id).unwrap() };
        let action = Action::Close { pair: PairSymbol::parse("BTC/USD").unwrap(), side: Side::Long, fraction: Bps::FULL };
        let intent = Intent::new(IntentId::parse(id).unwrap(), TelegramUserId(7), origin, action, format!("h-{id}"), self.clock.now());
        self.store.create_intent(&intent).await.unwrap();
        self.move_to(id, IntentState::Received, IntentState::Validated).await;
        self.move_to(id, IntentState::Validated, IntentState::Submitted).await;
        if ambiguous {
            self.move_to(id, IntentState::Submitted, IntentState::Ambiguous).await;
        }
    }
    async fn move_to(&self, id: &str, from: IntentState, to: IntentState) {
        let t = Transition::new(from, to, self.clock.now()).unwrap();
        self.store.transition(&IntentId::parse(id).unwrap(), &t).await.unwrap();
    }
    fn sent_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
}

/// The values of metric `name` in `lines`, each with its `property` (well-formed EMF, no
/// dimensions: one metric for all, ids as properties).
fn values(lines: &[Value], name: &str, property: &str) -> Vec<(Option<String>, i64)> {
    let mut out = Vec::new();
    for l in lines.iter().filter(|l| l.get(name).is_some()) {
        let d = &l["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(d["Namespace"], "Vanta");
        assert_eq!(d["Dimensions"], serde_json::json!([[]]), "{name}: no dimensions");
        let unit = d["Metrics"].as_array().unwrap().iter().find(|m| m["Name"] == name).unwrap()["Unit"].clone();
        assert_eq!(unit, crate::emf::spec_of(name).unwrap().unit);
        let prop = l.get(property).and_then(Value::as_str).map(str::to_owned);
        match &l[name] {
            Value::Array(vs) => out.extend(vs.iter().map(|v| (prop.clone(), v.as_i64().unwrap()))),
            v => out.push((prop, v.as_i64().unwrap())),
        }
    }
    out
}

#[tokio::test]
async fn unresolved_intents_are_gauged_each_tick_and_told_to_the_admins_once_past_ten_minutes() {
    let s = sys(false);
    // Nothing unresolved: the count and the age are 0 (the alarm's metric never goes missing).
    schedule::indexer_tick(&s.deps).await.unwrap();
    let lines = s.lines();
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENTS, "intent"), [(None, 0)]);
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENT_AGE, "intent"), [(None, 0)]);

    s.submitted("first", false).await;
    s.advance_mins(4);
    s.submitted("second", true).await;
    // RECEIVED and final intents are not unresolved.
    let done = Intent::new(
        IntentId::parse("done").unwrap(),
        TelegramUserId(7),
        Origin::Telegram { update_id: 1 },
        Action::Pause,
        "h".into(),
        Timestamp(T0),
    );
    s.store.create_intent(&done).await.unwrap();
    s.advance_mins(1);

    // The indexer tick runs the scan: two unresolved, the oldest 5 minutes old; nobody told yet.
    schedule::indexer_tick(&s.deps).await.unwrap();
    let lines = s.lines();
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENTS, "intent"), [(None, 2)]);
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENT_AGE, "intent"), [(Some("first".into()), 300)]);
    assert!(s.sent_to(ADMIN).is_empty());

    // Past 10 minutes: the age crosses the alarm's 600 s, and the admins hear about it once.
    s.advance_mins(6);
    let r = scans::run(&s.deps).await;
    assert_eq!((r.open_intents, r.oldest_age_secs), (Some(2), Some(660)));
    assert_eq!(r.stuck_told, [IntentId::parse("first").unwrap()]);
    assert_eq!(values(&s.lines(), names::AMBIGUOUS_INTENT_AGE, "intent"), [(Some("first".into()), 660)]);
    let told = s.sent_to(ADMIN);
    assert_eq!(told.len(), 1, "{told:?}");
    assert!(told[0].contains("<code>first</code>") && told[0].contains("SUBMITTED"), "{}", told[0]);
    assert!(told[0].contains("vanta-ops resolve-intent first"), "says what to do: {}", told[0]);
    assert!(s.sent_to(7).is_empty(), "the user is not told by the scan");

    s.advance_mins(1);
    let r = scans::run(&s.deps).await;
    assert!(r.stuck_told.is_empty(), "told once: {r:?}");
    assert_eq!(s.sent_to(ADMIN).len(), 1);

    // `first` resolved: it leaves the scan; `second` (AMBIGUOUS) is now the oldest, and is told.
    s.move_to("first", IntentState::Submitted, IntentState::Failed).await;
    s.advance_mins(3);
    let _ = s.lines();
    let r = scans::run(&s.deps).await;
    assert_eq!((r.open_intents, r.oldest_age_secs), (Some(1), Some(660)));
    assert_eq!(r.stuck_told, [IntentId::parse("second").unwrap()]);
    let lines = s.lines();
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENTS, "intent"), [(None, 1)]);
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENT_AGE, "intent"), [(Some("second".into()), 660)]);
    let told = s.sent_to(ADMIN);
    assert_eq!(told.len(), 2);
    assert!(told[1].contains("<code>second</code>") && told[1].contains("AMBIGUOUS"), "{}", told[1]);

    // Both resolved: back to zero, and nobody is told again.
    s.move_to("second", IntentState::Ambiguous, IntentState::Failed).await;
    schedule::indexer_tick(&s.deps).await.unwrap();
    let lines = s.lines();
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENTS, "intent"), [(None, 0)]);
    assert_eq!(values(&lines, names::AMBIGUOUS_INTENT_AGE, "intent"), [(None, 0)]);
    assert_eq!(s.sent_to(ADMIN).len(), 2);
}

async fn user_with_wallet(s: &Sys, id: i64, active: bool) -> User {
    let u = s.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), s.clock.now())).await.unwrap();
    let mut u = s.store.bind_address(u.id, wallet(u8::try_from(id).unwrap())).await.unwrap();
    if !active {
        u.active = false;
        s.store.update_user(&u).await.unwrap();
    }
    u
}

fn delegation_until(at: i64) -> Delegation {
    Delegation { enabled: true, expires_at: Some(Timestamp(at)), can_trade: true }
}

#[tokio::test]
async fn delegation_expiry_is_recorded_per_user_and_a_user_under_seven_days_is_told_once() {
    let s = sys(true);
    user_with_wallet(&s, 7, true).await;
    user_with_wallet(&s, 8, true).await;
    user_with_wallet(&s, 10, false).await;
    s.store.get_or_create_user(User::new(TelegramUserId(9), ChatId(9), s.clock.now())).await.unwrap(); // no wallet
    {
        let mut d = s.venue.delegations.lock().unwrap();
        d.insert(wallet(7), delegation_until(T0 + 3 * DAY_MS));
        d.insert(wallet(8), delegation_until(T0 + 30 * DAY_MS));
        d.insert(wallet(10), delegation_until(T0 + DAY_MS));
    }

    let r = scans::run(&s.deps).await;
    assert_eq!(r.delegations_checked, Some(2), "active users with a wallet only");
    assert_eq!(s.venue.asked.load(Ordering::SeqCst), 2);
    let mut got = values(&s.lines(), names::DELEGATION_EXPIRY, "user");
    got.sort();
    assert_eq!(got, [(Some("7".into()), 3 * 86_400), (Some("8".into()), 30 * 86_400)]);
    assert_eq!(r.expiring_told, [TelegramUserId(7)]);
    let told = s.sent_to(7);
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("ends in 72 h"), "{}", told[0]);
    assert!(told[0].contains(crate::wallet::DELEGATE_UI_URL) && told[0].contains(&delegate().to_string()), "what to do: {}", told[0]);
    assert!(s.sent_to(8).is_empty() && s.sent_to(10).is_empty() && s.sent_to(9).is_empty());

    // Ten minutes later: not due (at most every 50 minutes), nothing asked or recorded.
    s.advance_mins(10);
    let r = scans::run(&s.deps).await;
    assert_eq!(r.delegations_checked, None);
    assert_eq!(s.venue.asked.load(Ordering::SeqCst), 2);
    assert!(values(&s.lines(), names::DELEGATION_EXPIRY, "user").is_empty());

    // Within the hour again (the alarm's period): recorded again, the user not told twice.
    s.advance_mins(41);
    schedule::indexer_tick(&s.deps).await.unwrap();
    assert_eq!(s.venue.asked.load(Ordering::SeqCst), 4);
    let mut got = values(&s.lines(), names::DELEGATION_EXPIRY, "user");
    got.sort();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0], (Some("7".into()), 3 * 86_400 - 51 * 60));
    assert_eq!(s.sent_to(7).len(), 1, "told once");

    // User 8's delegation is re-registered with a short end: they are told (about that expiry).
    s.venue.delegations.lock().unwrap().insert(wallet(8), delegation_until(T0 + 2 * DAY_MS));
    s.advance_mins(50);
    let r = scans::run(&s.deps).await;
    assert_eq!(r.expiring_told, [TelegramUserId(8)]);
    assert_eq!(s.sent_to(8).len(), 1);
    assert_eq!(s.sent_to(7).len(), 1);
}

#[tokio::test]
async fn without_a_live_venue_or_delegate_no_delegation_is_asked() {
    let s = sys(false);
    user_with_wallet(&s, 7, true).await;
    let r = scans::run(&s.deps).await;
    assert_eq!(r.delegations_checked, None);
    assert!(values(&s.lines(), names::DELEGATION_EXPIRY, "user").is_empty());
    assert!(s.sent_to(7).is_empty());
}
