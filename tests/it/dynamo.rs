//! The DynamoDB store against moto, and the same behavioural checks against `MemoryStore`: every
//! `check_*` function takes `&dyn Store` and runs on both adapters, which proves they agree.
//! Tests named `dynamo_*` add what only the table can show (raw items, operator-written items,
//! page boundaries).

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use vanta_aws::dynamo::DynamoStore;
use vanta_domain::DomainError;
use vanta_domain::exec::{EnvExec, ExecControl, ExecMode, StopLevel, effective_exec};
use vanta_domain::ids::{ChatId, IntentId, PositionId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::{Action, CreateOutcome, Intent, IntentState, Transition};
use vanta_domain::memory::MemoryStore;
use vanta_domain::money::{Bps, Leverage, Price, Usdc};
use vanta_domain::ports::{ControlStore, IntentStore, MarkerStore, PositionStore, Store};
use vanta_domain::position::{Position, PositionStatus};
use vanta_domain::sealed::{SealedSecret, SourceSecret};
use vanta_domain::time::Timestamp;
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SignalSource, User};
use vanta_testkit::moto::Moto;

use crate::support::{eth_open_intent, eth_open_order, eth_position, moto_table};

// ---------------------------------------------------------------------------------------------
// Fixture: one moto and one fresh table per test

struct Fx {
    _moto: Moto,
    client: Client,
    table: String,
    store: DynamoStore,
}

impl Fx {
    async fn new() -> Self {
        let (moto, client, table) = moto_table("vanta-test").await;
        let store = DynamoStore::new(client.clone(), table.clone());
        Self { _moto: moto, client, table, store }
    }

    /// The raw item, as an operator with the AWS CLI would see it.
    async fn raw(&self, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(pk.into()))
            .key("sk", AttributeValue::S(sk.into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    async fn put_raw(&self, item: &[(&str, AttributeValue)]) {
        let mut req = self.client.put_item().table_name(&self.table);
        for (k, v) in item {
            req = req.item(*k, v.clone());
        }
        req.send().await.unwrap();
    }

    /// Every item whose `pk` starts with `prefix`.
    async fn scan_pk_prefix(&self, prefix: &str) -> Vec<HashMap<String, AttributeValue>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("begins_with(pk, :p)")
                .expression_attribute_values(":p", AttributeValue::S(prefix.into()))
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .unwrap();
            out.extend(page.items.unwrap_or_default());
            match page.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return out,
            }
        }
    }
}

fn s_attr(item: &HashMap<String, AttributeValue>, name: &str) -> String {
    item.get(name).and_then(|v| v.as_s().ok()).cloned().unwrap_or_else(|| panic!("no string {name} in {item:?}"))
}

fn n_attr(item: &HashMap<String, AttributeValue>, name: &str) -> i64 {
    item.get(name).and_then(|v| v.as_n().ok()).map(|v| v.parse().unwrap()).unwrap_or_else(|| panic!("no number {name} in {item:?}"))
}

// ---------------------------------------------------------------------------------------------
// Domain values

fn uid(n: i64) -> TelegramUserId {
    TelegramUserId(n)
}

fn user(n: i64) -> User {
    User::new(uid(n), ChatId(n), Timestamp(1_000))
}

fn addr(last: u8) -> TraderAddress {
    format!("0x{:040x}", u128::from(last) + 0xabc0_0000).parse().unwrap()
}

fn iid(s: &str) -> IntentId {
    IntentId::parse(s).unwrap()
}

fn pid(s: &str) -> PositionId {
    PositionId::parse(s).unwrap()
}

fn open_order(collateral: u64) -> Action {
    eth_open_order(collateral)
}

fn intent(id: &str, user: i64, at: i64, hash: &str) -> Intent {
    eth_open_intent(id, user, at, hash)
}

fn tr(from: IntentState, to: IntentState, at: i64) -> Transition {
    Transition::new(from, to, Timestamp(at)).unwrap()
}

fn position(id: &str, user: i64, opened_at: i64, status: PositionStatus) -> Position {
    Position { sl: Some(Price::from_whole(2_800).unwrap()), opened_at: Timestamp(opened_at), ..eth_position(id, user, status) }
}

fn closed(mut p: Position, at: i64) -> Position {
    p.status = PositionStatus::Closed;
    p.closed_at = Some(Timestamp(at));
    p.close_price = Some(Price::from_whole(3_100).unwrap());
    p
}

/// A sealed secret as the store sees it: opaque bytes (the envelope is tested in the domain and
/// in `tests/it/envelope.rs`).
fn sealed(tag: &str) -> SourceSecret {
    SourceSecret::Sealed(SealedSecret {
        version: 1,
        ciphertext: tag.as_bytes().to_vec(),
        nonce: vec![7; 12],
        wrapped_key: format!("dk-{tag}").into_bytes(),
    })
}

fn source(id: &str, owner: i64, token_hash: &str) -> SignalSource {
    SignalSource {
        id: SourceId::parse(id).unwrap(),
        owner: uid(owner),
        secret: sealed(&format!("secret-of-{id}")),
        tv_token_hash: token_hash.into(),
        active: true,
        created_at: Timestamp(1_000),
        rotated_at: None,
    }
}

fn follow(follower: i64, leader: LeaderRef) -> Follow {
    Follow {
        follower: uid(follower),
        leader,
        sizing: CopySizing::Ratio { ratio: Bps::new(5_000).unwrap() },
        max_leverage: Leverage::from_whole(5).unwrap(),
        per_trade_cap: Usdc::from_whole(50).unwrap(),
        daily_cap: Usdc::from_whole(200).unwrap(),
        counter: false,
        adopt_existing: false,
        stop_after_losses: 0,
        max_drawdown: Usdc::ZERO,
        active: true,
        since: Timestamp(1_000),
    }
}

fn control(mode: ExecMode, stop: StopLevel, version: u64) -> ExecControl {
    ExecControl { mode, stop, updated_by: Some(uid(7)), updated_at: Timestamp(5_000 + version as i64), version }
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(r: Result<T, DomainError>) {
    assert!(matches!(r, Err(DomainError::Conflict(_))), "expected Conflict, got {r:?}");
}

fn ids(v: &[Intent]) -> Vec<&str> {
    v.iter().map(|i| i.id.as_str()).collect()
}

// ---------------------------------------------------------------------------------------------
// Behavioural checks, the same for every adapter

/// A conditional put rejects a duplicate key: the same request is a Duplicate, a different
/// payload under the same id a Mismatch, and only the first one is stored.
async fn check_create_intent_is_idempotent(s: &dyn Store) {
    let first = intent("sig-1", 1, 1_000, "hash-a");
    assert_eq!(s.create_intent(&first).await.unwrap(), CreateOutcome::Created);
    assert_eq!(s.create_intent(&first).await.unwrap(), CreateOutcome::Duplicate(first.clone()));

    let mut other = intent("sig-1", 1, 2_000, "hash-b");
    other.action = open_order(999);
    assert_eq!(s.create_intent(&other).await.unwrap(), CreateOutcome::Mismatch(first.clone()));

    assert_eq!(s.get_intent(&first.id).await.unwrap(), Some(first.clone()));
    assert_eq!(s.user_intents(uid(1), 10).await.unwrap(), vec![first.clone()]);
    let trail = s.audit_trail(&first.id).await.unwrap();
    assert_eq!(trail.len(), 1, "one audit entry for one stored intent: {trail:?}");
    assert_eq!((trail[0].state, trail[0].at), (IntentState::Received, Timestamp(1_000)));
    assert_eq!(s.get_intent(&iid("never")).await.unwrap(), None);
}

/// A transition from the wrong state is refused and changes nothing; the audit trail keeps every
/// step in order, even steps in the same millisecond.
async fn check_wrong_state_transition_is_refused(s: &dyn Store) {
    let i = intent("sig-2", 1, 1_000, "h");
    s.create_intent(&i).await.unwrap();
    let validated = s.transition(&i.id, &tr(IntentState::Received, IntentState::Validated, 2_000)).await.unwrap();
    assert_eq!((validated.state, validated.updated_at), (IntentState::Validated, Timestamp(2_000)));

    assert_conflict(s.transition(&i.id, &tr(IntentState::Received, IntentState::Rejected, 3_000).with_reason("late")).await);
    assert_eq!(s.get_intent(&i.id).await.unwrap(), Some(validated.clone()), "the refused transition left the intent unchanged");
    assert_eq!(s.audit_trail(&i.id).await.unwrap().len(), 2, "and added no audit entry");

    let missing = s.transition(&iid("nope"), &tr(IntentState::Received, IntentState::Validated, 3_000)).await;
    assert!(matches!(missing, Err(DomainError::NotFound(_))), "{missing:?}");

    // Submitted → Ambiguous → Submitted → Failed, all in one millisecond.
    use IntentState::*;
    for (from, to) in [(Validated, Submitted), (Submitted, Ambiguous), (Ambiguous, Submitted), (Submitted, Failed)] {
        let t = tr(from, to, 5_000).with_mode(ExecMode::Dry).with_detail(format!("{from}->{to}"));
        let t = if to == Failed { t.with_reason("venue said no") } else { t };
        s.transition(&i.id, &t).await.unwrap();
    }
    let last = s.get_intent(&i.id).await.unwrap().unwrap();
    assert_eq!((last.state, last.attempts, last.mode), (Failed, 2, Some(ExecMode::Dry)));
    assert_eq!(last.reason.as_deref(), Some("venue said no"));
    let trail = s.audit_trail(&i.id).await.unwrap();
    assert_eq!(trail.iter().map(|e| e.state).collect::<Vec<_>>(), vec![Received, Validated, Submitted, Ambiguous, Submitted, Failed]);
    assert_eq!(trail[2].detail.as_deref(), Some("VALIDATED->SUBMITTED"));
    assert_eq!(trail[5].reason.as_deref(), Some("venue said no"));
    assert_conflict(s.transition(&i.id, &tr(Submitted, Settled, 6_000)).await);
}

/// settle_with_position is all or nothing: a taken position id leaves the intent in its state
/// and adds no audit entry; an intent in the wrong state creates no position.
async fn check_settle_rolls_back_as_a_whole(s: &dyn Store) {
    use IntentState::*;
    let i = intent("sig-3", 1, 1_000, "h");
    s.create_intent(&i).await.unwrap();
    s.transition(&i.id, &tr(Received, Validated, 1_100)).await.unwrap();
    let submitted = s.transition(&i.id, &tr(Validated, Submitted, 1_200)).await.unwrap();
    let taken = position("p-1", 1, 900, PositionStatus::Open);
    s.insert_position(&taken).await.unwrap();

    let mut clash = position("p-1", 1, 1_300, PositionStatus::Open);
    clash.opened_by = i.id.clone();
    assert_conflict(s.settle_with_position(&i.id, &tr(Submitted, Settled, 1_300), &clash).await);
    assert_eq!(s.get_intent(&i.id).await.unwrap(), Some(submitted.clone()), "the intent stays SUBMITTED");
    assert_eq!(s.audit_trail(&i.id).await.unwrap().len(), 3, "no audit entry was added");
    assert_eq!(s.get_position(uid(1), &taken.id).await.unwrap(), Some(taken.clone()), "the existing position is untouched");

    // The other condition: the intent is not in `from`, so the position is not created either.
    let j = intent("sig-4", 1, 1_000, "h");
    s.create_intent(&j).await.unwrap();
    let fresh = position("p-2", 1, 1_300, PositionStatus::Open);
    assert_conflict(s.settle_with_position(&j.id, &tr(Submitted, Settled, 1_300), &fresh).await);
    assert_eq!(s.get_position(uid(1), &fresh.id).await.unwrap(), None);
    assert_eq!(s.get_intent(&j.id).await.unwrap().unwrap().state, Received);

    // Both conditions hold: both items change, with the audit entry.
    let p3 = position("p-3", 1, 1_400, PositionStatus::Open);
    let settled = s.settle_with_position(&i.id, &tr(Submitted, Settled, 1_400).with_detail("fill 3000"), &p3).await.unwrap();
    assert_eq!(settled.state, Settled);
    assert_eq!(s.get_intent(&i.id).await.unwrap(), Some(settled));
    assert_eq!(s.get_position(uid(1), &p3.id).await.unwrap(), Some(p3.clone()));
    let trail = s.audit_trail(&i.id).await.unwrap();
    assert_eq!((trail.len(), trail[3].state, trail[3].detail.as_deref()), (4, Settled, Some("fill 3000")));

    let missing = s.settle_with_position(&iid("nope"), &tr(Submitted, Settled, 1_500), &position("p-9", 1, 1, PositionStatus::Open)).await;
    assert!(matches!(missing, Err(DomainError::NotFound(_))), "{missing:?}");
    assert_conflict(s.settle_with_position(&iid("nope"), &tr(Submitted, Settled, 1_500), &taken).await);
}

/// bind_address changes the claim and the user together or not at all; one address, one user.
async fn check_bind_address_is_atomic(s: &dyn Store) {
    let (x, y) = (addr(1), addr(2));
    let u1 = s.get_or_create_user(user(1)).await.unwrap();
    let u2 = s.get_or_create_user(user(2)).await.unwrap();
    assert_eq!(u1, user(1));
    let mut again = user(1);
    again.chat = ChatId(-5);
    assert_eq!(s.get_or_create_user(again).await.unwrap(), u1, "an existing user is returned as stored");

    let b1 = s.bind_address(uid(1), x).await.unwrap();
    assert_eq!(b1.trader, Some(x));
    assert_eq!(s.get_user(uid(1)).await.unwrap(), Some(b1.clone()));

    assert_conflict(s.bind_address(uid(2), x).await);
    assert_eq!(s.get_user(uid(1)).await.unwrap(), Some(b1.clone()), "the holder is unchanged");
    assert_eq!(s.get_user(uid(2)).await.unwrap(), Some(u2.clone()), "the loser is unchanged");
    assert_eq!(s.user_by_address(x).await.unwrap(), Some(b1.clone()));

    assert_eq!(s.bind_address(uid(1), x).await.unwrap(), b1, "binding the same address again is a no-op");
    let moved = s.bind_address(uid(1), y).await.unwrap();
    assert_eq!(moved.trader, Some(y));
    assert_eq!(s.user_by_address(x).await.unwrap(), None, "the previous address was released");
    assert_eq!(s.user_by_address(y).await.unwrap(), Some(moved.clone()));
    let b2 = s.bind_address(uid(2), x).await.unwrap();
    assert_eq!(s.user_by_address(x).await.unwrap(), Some(b2));

    assert!(matches!(s.bind_address(uid(99), addr(3)).await, Err(DomainError::NotFound(_))));
    assert_conflict(s.bind_address(uid(99), y).await);

    // update_user saves settings but never the trader.
    let mut edit = moved.clone();
    edit.username = Some("alice".into());
    edit.automation_paused = true;
    edit.trader = None;
    s.update_user(&edit).await.unwrap();
    let stored = s.get_user(uid(1)).await.unwrap().unwrap();
    assert_eq!((stored.username.as_deref(), stored.automation_paused, stored.trader), (Some("alice"), true, Some(y)));
    assert_eq!(s.user_by_address(y).await.unwrap(), Some(stored));
    assert!(matches!(s.update_user(&user(42)).await, Err(DomainError::NotFound(_))));
    assert_eq!(s.get_user(uid(42)).await.unwrap(), None);
}

/// gsi1: a user's intents newest first with a limit; a user's sources; a leader's followers.
async fn check_gsi1_queries(s: &dyn Store) {
    for (n, at) in [("a", 1_000), ("b", 5_000), ("c", 3_000), ("d", 4_000), ("e", 2_000)] {
        s.create_intent(&intent(&format!("u1-{n}"), 1, at, "h")).await.unwrap();
    }
    // Same millisecond: the larger id first, as the in-memory store orders them.
    s.create_intent(&intent("u1-x", 1, 6_000, "h")).await.unwrap();
    s.create_intent(&intent("u1-y", 1, 6_000, "h")).await.unwrap();
    s.create_intent(&intent("u2-a", 2, 9_000, "h")).await.unwrap();
    s.create_intent(&intent("u2-b", 2, 8_000, "h")).await.unwrap();

    assert_eq!(ids(&s.user_intents(uid(1), 3).await.unwrap()), ["u1-y", "u1-x", "u1-b"]);
    assert_eq!(ids(&s.user_intents(uid(1), 100).await.unwrap()), ["u1-y", "u1-x", "u1-b", "u1-d", "u1-c", "u1-e", "u1-a"]);
    assert_eq!(ids(&s.user_intents(uid(2), 10).await.unwrap()), ["u2-a", "u2-b"]);
    assert!(s.user_intents(uid(3), 10).await.unwrap().is_empty());
    assert!(s.user_intents(uid(1), 0).await.unwrap().is_empty());

    // Sources share gsi1's USER# partition with intents; only sources come back.
    for (id, owner) in [("beta", 1), ("alpha", 1), ("gamma", 2)] {
        s.create_source(&source(id, owner, &format!("hash-{id}"))).await.unwrap();
    }
    let mine: Vec<String> = s.user_sources(uid(1)).await.unwrap().into_iter().map(|x| x.id.to_string()).collect();
    assert_eq!(mine, ["alpha", "beta"]);
    assert_eq!(s.user_sources(uid(2)).await.unwrap(), vec![source("gamma", 2, "hash-gamma")]);
    assert!(s.user_sources(uid(3)).await.unwrap().is_empty());

    let leader = LeaderRef::User(uid(500));
    let whale = LeaderRef::Address(addr(9));
    for f in [10, 2, 1] {
        s.put_follow(&follow(f, leader.clone())).await.unwrap();
    }
    s.put_follow(&follow(1, whale.clone())).await.unwrap();
    let followers: Vec<i64> = s.followers(&leader).await.unwrap().iter().map(|f| f.follower.0).collect();
    assert_eq!(followers, [1, 2, 10], "numeric order, not text order");
    assert_eq!(s.followers(&whale).await.unwrap(), vec![follow(1, whale.clone())]);
    let mut expected = vec![follow(1, leader.clone()), follow(1, whale.clone())];
    expected.sort_by_key(|f| f.leader.key());
    assert_eq!(s.following(uid(1)).await.unwrap(), expected);

    let mut changed = follow(2, leader.clone());
    changed.counter = true;
    s.put_follow(&changed).await.unwrap();
    assert!(s.remove_follow(uid(10), &leader).await.unwrap());
    assert!(!s.remove_follow(uid(10), &leader).await.unwrap());
    assert_eq!(s.followers(&leader).await.unwrap(), vec![follow(1, leader.clone()), changed]);
    assert!(s.following(uid(10)).await.unwrap().is_empty());
}

/// gsi2: user by address, source by TradingView token hash, live positions (closing included,
/// closed dropping out).
async fn check_gsi2_queries(s: &dyn Store) {
    for n in [1, 2, 3] {
        s.get_or_create_user(user(n)).await.unwrap();
    }
    let b1 = s.bind_address(uid(1), addr(1)).await.unwrap();
    let b2 = s.bind_address(uid(2), addr(2)).await.unwrap();
    assert_eq!(s.user_by_address(addr(1)).await.unwrap(), Some(b1));
    assert_eq!(s.user_by_address(addr(2)).await.unwrap(), Some(b2));
    assert_eq!(s.user_by_address(addr(3)).await.unwrap(), None);

    let a = source("tv-a", 1, "aaaa");
    s.create_source(&a).await.unwrap();
    s.create_source(&source("tv-b", 2, "bbbb")).await.unwrap();
    assert_eq!(s.source_by_tv_token_hash("aaaa").await.unwrap(), Some(a.clone()));
    assert_eq!(s.source_by_tv_token_hash("bbbb").await.unwrap().map(|x| x.id.to_string()).as_deref(), Some("tv-b"));
    assert_eq!(s.source_by_tv_token_hash("cccc").await.unwrap(), None);
    let rotated = SignalSource { secret: sealed("new-secret"), tv_token_hash: "dddd".into(), rotated_at: Some(Timestamp(9_000)), ..a };
    s.rotate_source(uid(1), &rotated).await.unwrap();
    assert_eq!(s.source_by_tv_token_hash("aaaa").await.unwrap(), None, "the old token no longer resolves");
    let found = s.source_by_tv_token_hash("dddd").await.unwrap().unwrap();
    assert_eq!(found, rotated);
    assert_eq!(found.secret, sealed("new-secret"));

    let p1 = position("p1", 1, 3_000, PositionStatus::Open);
    let p2 = position("p2", 1, 1_000, PositionStatus::Closing);
    let p3 = position("p3", 2, 2_000, PositionStatus::Open);
    let p4 = closed(position("p4", 2, 500, PositionStatus::Open), 600);
    for p in [&p1, &p2, &p3, &p4] {
        s.insert_position(p).await.unwrap();
    }
    assert_eq!(s.live_positions().await.unwrap(), vec![p1.clone(), p2.clone(), p3.clone()]);
    let mut p1_closed = closed(p1.clone(), 4_000);
    s.update_position(&p1_closed, PositionStatus::Open).await.unwrap();
    p1_closed.version = 1; // every update increments the stored version
    assert_eq!(s.live_positions().await.unwrap(), vec![p2.clone(), p3.clone()], "a closed position drops out");
    assert_eq!(s.user_positions(uid(1), true).await.unwrap(), vec![p2.clone()]);
    assert_eq!(s.user_positions(uid(1), false).await.unwrap(), vec![p1_closed, p2.clone()]);
    assert_eq!(s.user_positions(uid(2), false).await.unwrap(), vec![p3, p4]);
    assert!(s.user_positions(uid(3), false).await.unwrap().is_empty());
    let mut reopened = p2.clone();
    reopened.status = PositionStatus::Open;
    s.update_position(&reopened, PositionStatus::Closing).await.unwrap();
    reopened.version = 1;
    assert!(s.live_positions().await.unwrap().contains(&reopened), "closing → open stays live");
}

/// Position writes are conditional on the id, on the stored status and on the version read.
async fn check_position_rules(s: &dyn Store) {
    let p = position("pos", 1, 1_000, PositionStatus::Open);
    s.insert_position(&p).await.unwrap();
    assert_conflict(s.insert_position(&position("pos", 1, 2_000, PositionStatus::Open)).await);
    s.insert_position(&position("pos", 2, 2_000, PositionStatus::Open)).await.unwrap(); // ids are per user

    let mut closing = p.clone();
    closing.status = PositionStatus::Closing;
    assert_conflict(s.update_position(&closing, PositionStatus::Closing).await); // stored is OPEN
    assert_eq!(s.get_position(uid(1), &p.id).await.unwrap(), Some(p.clone()));
    s.update_position(&closing, PositionStatus::Open).await.unwrap();
    // A write from the read before that one (version 0) loses, whatever it changes.
    let mut stale = p.clone();
    stale.trail = Some(vanta_domain::position::TrailingStop { distance: Bps::new(100).unwrap(), best: p.open_price, epoch: None });
    assert_conflict(s.update_position(&stale, PositionStatus::Open).await);
    closing.version = 1;
    assert_eq!(s.get_position(uid(1), &p.id).await.unwrap(), Some(closing.clone()));
    let mut gone = closed(closing.clone(), 3_000);
    s.update_position(&gone, PositionStatus::Closing).await.unwrap();
    gone.version = 2;
    let mut back = gone.clone();
    back.status = PositionStatus::Open;
    assert_conflict(s.update_position(&back, PositionStatus::Closed).await); // closed is final
    assert_eq!(s.get_position(uid(1), &p.id).await.unwrap(), Some(gone.clone()));
    let mut noted = gone.clone();
    noted.fees = Usdc::from_whole(1).unwrap();
    s.update_position(&noted, PositionStatus::Closed).await.unwrap(); // same status: a plain update
    noted.version = 3;
    assert_eq!(s.get_position(uid(1), &p.id).await.unwrap(), Some(noted.clone()));
    assert_conflict(s.update_position(&gone, PositionStatus::Closed).await); // version 2 was read before the fee note
    let missing = s.update_position(&position("nope", 1, 1, PositionStatus::Closed), PositionStatus::Open).await;
    assert!(matches!(missing, Err(DomainError::NotFound(_))), "{missing:?}");
    assert_eq!(s.get_position(uid(1), &pid("nope")).await.unwrap(), None);
}

/// The unresolved intents (SUBMITTED, AMBIGUOUS), oldest first, and the users with a wallet:
/// what the periodic scans read. A resolved intent leaves the list.
async fn check_open_intents_and_wallet_users(s: &dyn Store) {
    for (id, at) in [("late", 3_000), ("early", 1_000), ("mid", 2_000), ("idle", 500)] {
        s.create_intent(&intent(id, 1 + at / 1_000, at, "h")).await.unwrap();
    }
    assert!(s.open_intents().await.unwrap().is_empty(), "RECEIVED is not unresolved");
    for (id, at) in [("late", 3_000), ("early", 1_000), ("mid", 2_000)] {
        s.transition(&iid(id), &tr(IntentState::Received, IntentState::Validated, at + 1)).await.unwrap();
        s.transition(&iid(id), &tr(IntentState::Validated, IntentState::Submitted, at + 2)).await.unwrap();
    }
    s.transition(&iid("mid"), &tr(IntentState::Submitted, IntentState::Ambiguous, 5_000)).await.unwrap();
    let open = s.open_intents().await.unwrap();
    assert_eq!(ids(&open), ["early", "mid", "late"]);
    assert_eq!(open[1].state, IntentState::Ambiguous);
    s.transition(&iid("early"), &tr(IntentState::Submitted, IntentState::Failed, 6_000)).await.unwrap();
    s.transition(&iid("mid"), &tr(IntentState::Ambiguous, IntentState::Submitted, 6_000)).await.unwrap();
    assert_eq!(ids(&s.open_intents().await.unwrap()), ["mid", "late"], "a resolved intent leaves; AMBIGUOUS → SUBMITTED stays");
    s.transition(&iid("mid"), &tr(IntentState::Submitted, IntentState::Failed, 7_000)).await.unwrap();
    s.transition(&iid("late"), &tr(IntentState::Submitted, IntentState::Ambiguous, 7_000)).await.unwrap();
    s.transition(&iid("late"), &tr(IntentState::Ambiguous, IntentState::Failed, 8_000)).await.unwrap();
    assert!(s.open_intents().await.unwrap().is_empty());

    for n in [12, 3, 7] {
        s.get_or_create_user(user(n)).await.unwrap();
    }
    assert!(s.wallet_users().await.unwrap().is_empty(), "no wallet bound yet");
    s.bind_address(uid(12), addr(12)).await.unwrap();
    s.bind_address(uid(3), addr(3)).await.unwrap();
    let with: Vec<i64> = s.wallet_users().await.unwrap().iter().map(|u| u.id.0).collect();
    assert_eq!(with, [3, 12], "numeric order");
    assert!(s.wallet_users().await.unwrap().iter().all(|u| u.trader.is_some()));
}

/// Source ids are global; only the owner rotates.
async fn check_source_rules(s: &dyn Store) {
    let a = source("shared-name", 1, "h1");
    s.create_source(&a).await.unwrap();
    assert_conflict(s.create_source(&source("shared-name", 2, "h2")).await);
    assert_eq!(s.get_source(&a.id).await.unwrap(), Some(a.clone()));
    assert_eq!(s.get_source(&a.id).await.unwrap().unwrap().secret, sealed("secret-of-shared-name"));

    let theirs = SignalSource { owner: uid(2), secret: sealed("stolen"), ..a.clone() };
    assert!(matches!(s.rotate_source(uid(2), &theirs).await, Err(DomainError::Forbidden(_))));
    let sneaky = SignalSource { owner: uid(2), ..a.clone() };
    assert!(matches!(s.rotate_source(uid(1), &sneaky).await, Err(DomainError::Forbidden(_))), "cannot hand a source over");
    assert_eq!(s.get_source(&a.id).await.unwrap(), Some(a.clone()), "refused rotations changed nothing");
    assert!(matches!(s.rotate_source(uid(1), &source("ghost", 1, "h3")).await, Err(DomainError::NotFound(_))));
    assert_eq!(s.get_source(&SourceId::parse("ghost").unwrap()).await.unwrap(), None);

    let inactive = SignalSource { active: false, secret: sealed("s2"), rotated_at: Some(Timestamp(2_000)), ..a };
    s.rotate_source(uid(1), &inactive).await.unwrap();
    assert_eq!(s.get_source(&inactive.id).await.unwrap(), Some(inactive));
}

/// The exec-control item: optimistic versions, starting at 1.
async fn check_exec_control(s: &dyn Store) {
    // Heartbeats: last write wins per job, and they never disturb the exec-mode item.
    assert!(s.heartbeats().await.unwrap().is_empty());
    s.put_heartbeat("tpsl", Timestamp(1_000)).await.unwrap();
    s.put_heartbeat("indexer", Timestamp(2_000)).await.unwrap();
    s.put_heartbeat("tpsl", Timestamp(3_000)).await.unwrap();
    let mut beats = s.heartbeats().await.unwrap();
    beats.sort();
    assert_eq!(beats, vec![("indexer".to_owned(), Timestamp(2_000)), ("tpsl".to_owned(), Timestamp(3_000))]);
    assert_eq!(s.get_exec_control().await.unwrap(), None);
    assert_conflict(s.put_exec_control(&control(ExecMode::Live, StopLevel::None, 0)).await);
    assert_conflict(s.put_exec_control(&control(ExecMode::Live, StopLevel::None, 2)).await);
    let v1 = ExecControl { updated_by: None, ..control(ExecMode::Live, StopLevel::None, 1) };
    s.put_exec_control(&v1).await.unwrap();
    assert_eq!(s.get_exec_control().await.unwrap(), Some(v1));
    assert_conflict(s.put_exec_control(&control(ExecMode::Dry, StopLevel::Flatten, 1)).await);
    let v2 = control(ExecMode::Live, StopLevel::PauseEntries, 2);
    s.put_exec_control(&v2).await.unwrap();
    assert_eq!(s.get_exec_control().await.unwrap(), Some(v2.clone()));
    assert_conflict(s.put_exec_control(&control(ExecMode::Dry, StopLevel::None, 2)).await);
    assert_conflict(s.put_exec_control(&control(ExecMode::Dry, StopLevel::None, 4)).await);
    assert_eq!(s.get_exec_control().await.unwrap(), Some(v2), "refused writes changed nothing");
}

/// Markers: true once, false while live, true again once expired.
async fn check_mark_once(s: &dyn Store) {
    let t0 = 1_700_000_000_000;
    let at = |ms: i64| Timestamp(t0 + ms);
    assert!(s.mark_once("tg:update:1", at(0), at(60_000)).await.unwrap());
    assert!(!s.mark_once("tg:update:1", at(1), at(60_000)).await.unwrap());
    assert!(!s.mark_once("tg:update:1", at(59_999), at(120_000)).await.unwrap());
    assert!(s.mark_once("tg:update:2", at(1), at(60_000)).await.unwrap(), "other keys are independent");
    assert!(s.mark_once("tg:update:1", at(60_000), at(120_000)).await.unwrap(), "expired at its expiry time");
    assert!(!s.mark_once("tg:update:1", at(60_001), at(180_000)).await.unwrap(), "and live again until the new expiry");
    assert!(s.mark_once("tg:update:1", at(500_000), at(560_000)).await.unwrap());
}

/// Rate windows: `limit` hits per fixed window; refused hits are not counted; a new window opens
/// when the old one has expired (and only then).
async fn check_hit_window(s: &dyn Store) {
    let t0 = 1_700_000_000_000;
    let at = |ms: i64| Timestamp(t0 + ms);
    for n in 0..3 {
        assert!(s.hit_window("rate:1", at(n), at(60_000), 3).await.unwrap(), "hit {n} is within the limit");
    }
    assert!(!s.hit_window("rate:1", at(10), at(60_000), 3).await.unwrap());
    assert!(!s.hit_window("rate:1", at(59_999), at(90_000), 3).await.unwrap(), "still the first window");
    assert!(s.hit_window("rate:2", at(10), at(60_000), 3).await.unwrap(), "other keys are independent");
    assert!(!s.hit_window("rate:3", at(10), at(60_000), 0).await.unwrap(), "a zero limit refuses everything");
    for n in 0..3 {
        assert!(s.hit_window("rate:1", at(60_000 + n), at(120_000), 3).await.unwrap(), "a new window after expiry, hit {n}");
    }
    assert!(!s.hit_window("rate:1", at(60_100), at(500_000), 3).await.unwrap());
    assert!(!s.hit_window("rate:1", at(119_999), at(500_000), 3).await.unwrap(), "a refused hit does not extend the window");
    assert!(s.hit_window("rate:1", at(120_000), at(180_000), 3).await.unwrap());
}

/// Enough items that every query needs several pages when pages are small.
async fn check_many_items(s: &dyn Store) {
    let mut live = Vec::new();
    for n in 0..30 {
        let p = position(&format!("p{n:02}"), 1 + n % 3, 10_000 - n, PositionStatus::Open);
        s.insert_position(&p).await.unwrap();
        live.push(p);
    }
    for n in 0..5 {
        s.insert_position(&closed(position(&format!("c{n}"), 1, 1_000, PositionStatus::Open), 2_000)).await.unwrap();
    }
    live.sort_by(|a, b| (a.user, &a.id).cmp(&(b.user, &b.id)));
    assert_eq!(s.live_positions().await.unwrap(), live);
    assert_eq!(s.user_positions(uid(1), false).await.unwrap().len(), 15);
    assert_eq!(s.user_positions(uid(1), true).await.unwrap().len(), 10);

    for n in 0..9 {
        s.create_intent(&intent(&format!("many-{n}"), 1, 1_000 + n, "h")).await.unwrap();
    }
    assert_eq!(ids(&s.user_intents(uid(1), 5).await.unwrap()), ["many-8", "many-7", "many-6", "many-5", "many-4"]);
    assert_eq!(s.user_intents(uid(1), 50).await.unwrap().len(), 9);

    use IntentState::*;
    let id = iid("many-0");
    for (from, to) in [(Received, Validated), (Validated, Submitted), (Submitted, Ambiguous), (Ambiguous, Submitted), (Submitted, Settled)]
    {
        s.transition(&id, &tr(from, to, 2_000)).await.unwrap();
    }
    assert_eq!(s.audit_trail(&id).await.unwrap().len(), 6);

    let leader = LeaderRef::User(uid(77));
    for f in 1..=7 {
        s.put_follow(&follow(10 + f, leader.clone())).await.unwrap();
        s.put_follow(&follow(1, LeaderRef::User(uid(100 + f)))).await.unwrap();
        s.create_source(&source(&format!("src-{f}"), 1, &format!("h{f}"))).await.unwrap();
    }
    assert_eq!(s.followers(&leader).await.unwrap().len(), 7);
    assert_eq!(s.following(uid(1)).await.unwrap().len(), 7);
    assert_eq!(s.user_sources(uid(1)).await.unwrap().len(), 7);
}

// ---------------------------------------------------------------------------------------------
// MemoryStore: the reference

#[tokio::test]
async fn memory_create_intent_is_idempotent() {
    check_create_intent_is_idempotent(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_wrong_state_transition_is_refused() {
    check_wrong_state_transition_is_refused(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_settle_rolls_back_as_a_whole() {
    check_settle_rolls_back_as_a_whole(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_bind_address_is_atomic() {
    check_bind_address_is_atomic(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_queries() {
    check_gsi1_queries(&MemoryStore::new()).await;
    check_gsi2_queries(&MemoryStore::new()).await;
    check_many_items(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_open_intents_and_wallet_users() {
    check_open_intents_and_wallet_users(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_position_and_source_rules() {
    check_position_rules(&MemoryStore::new()).await;
    check_source_rules(&MemoryStore::new()).await;
}

#[tokio::test]
async fn memory_exec_control_and_markers() {
    check_exec_control(&MemoryStore::new()).await;
    check_mark_once(&MemoryStore::new()).await;
    check_hit_window(&MemoryStore::new()).await;
}

// ---------------------------------------------------------------------------------------------
// DynamoStore on moto

#[tokio::test]
async fn dynamo_table_matches_the_template() {
    let fx = Fx::new().await;
    let t = fx.client.describe_table().table_name(&fx.table).send().await.unwrap().table.unwrap();
    let keys: Vec<_> = t.key_schema().iter().map(|k| (k.attribute_name().to_owned(), k.key_type().as_str().to_owned())).collect();
    assert_eq!(keys, [("pk".to_owned(), "HASH".to_owned()), ("sk".to_owned(), "RANGE".to_owned())]);
    let mut gsis: Vec<_> = t
        .global_secondary_indexes()
        .iter()
        .map(|g| {
            let ks: Vec<_> = g.key_schema().iter().map(|k| k.attribute_name().to_owned()).collect();
            let proj = g.projection().and_then(|p| p.projection_type()).map(|p| p.as_str().to_owned());
            (g.index_name().unwrap_or_default().to_owned(), ks, proj)
        })
        .collect();
    gsis.sort();
    let all = Some("ALL".to_owned());
    assert_eq!(
        gsis,
        [
            ("gsi1".to_owned(), vec!["gsi1pk".to_owned(), "gsi1sk".to_owned()], all.clone()),
            ("gsi2".to_owned(), vec!["gsi2pk".to_owned(), "gsi2sk".to_owned()], all)
        ]
    );
    let billing = t.billing_mode_summary().and_then(|b| b.billing_mode()).map(|b| b.as_str().to_owned());
    assert_eq!(billing.as_deref(), Some("PAY_PER_REQUEST"));
    let ttl = fx.client.describe_time_to_live().table_name(&fx.table).send().await.unwrap().time_to_live_description.unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status().map(|s| s.as_str()), Some("ENABLED"));
}

#[tokio::test]
async fn dynamo_create_intent_rejects_a_duplicate_key() {
    let fx = Fx::new().await;
    check_create_intent_is_idempotent(&fx.store).await;
    let idem = fx.scan_pk_prefix("IDEM#").await;
    assert_eq!(idem.len(), 1, "one idempotency record: {idem:?}");
    assert_eq!(s_attr(&idem[0], "payload_hash"), "hash-a");
    assert!(!idem[0].contains_key("ttl"), "idempotency records never expire");
    let intents = fx.scan_pk_prefix("INTENT#").await;
    let sks: Vec<String> = intents.iter().map(|i| s_attr(i, "sk")).collect();
    assert_eq!(intents.len(), 2, "one intent and its first audit entry: {sks:?}");
    let item = fx.raw("INTENT#sig-1", "INTENT").await.unwrap();
    assert_eq!(s_attr(&item, "state"), "RECEIVED");
    assert_eq!(s_attr(&item, "gsi1pk"), "USER#1");
    assert_eq!(s_attr(&item, "gsi1sk"), "INTENT#0000000000001000#sig-1");
}

#[tokio::test]
async fn dynamo_wrong_state_transition_is_refused_and_leaves_the_item() {
    let fx = Fx::new().await;
    check_wrong_state_transition_is_refused(&fx.store).await;

    let i = intent("raw", 1, 1_000, "h");
    fx.store.create_intent(&i).await.unwrap();
    fx.store.transition(&i.id, &tr(IntentState::Received, IntentState::Validated, 2_000)).await.unwrap();
    let before = fx.raw("INTENT#raw", "INTENT").await.unwrap();
    assert_conflict(fx.store.transition(&i.id, &tr(IntentState::Received, IntentState::Rejected, 3_000)).await);
    assert_eq!(fx.raw("INTENT#raw", "INTENT").await.unwrap(), before, "the stored item is byte for byte the same");
    assert_eq!(s_attr(&before, "state"), "VALIDATED");
    // Two entries in the same millisecond get distinct sort keys.
    let audit: Vec<String> =
        fx.scan_pk_prefix("INTENT#sig-2").await.iter().map(|i| s_attr(i, "sk")).filter(|sk| sk.starts_with("AUDIT#")).collect();
    assert_eq!(audit.len(), 6);
    assert_eq!(audit.iter().filter(|sk| sk.starts_with("AUDIT#0000000000005000#")).count(), 4);
}

#[tokio::test]
async fn dynamo_settle_with_position_rolls_back_as_a_whole() {
    let fx = Fx::new().await;
    check_settle_rolls_back_as_a_whole(&fx.store).await;
    assert!(fx.raw("USER#1", "POS#p-2").await.is_none());
    let p3 = fx.raw("USER#1", "POS#p-3").await.unwrap();
    assert_eq!((s_attr(&p3, "status"), s_attr(&p3, "gsi2pk")), ("OPEN".to_owned(), "LIVE_POS".to_owned()));
    assert_eq!(s_attr(&p3, "gsi2sk"), "0000000000001400#1#p-3");
}

#[tokio::test]
async fn dynamo_bind_address_rolls_back_as_a_whole() {
    let fx = Fx::new().await;
    check_bind_address_is_atomic(&fx.store).await;
    // Exactly two claims remain: x → user 2, y → user 1.
    let mut claims: Vec<(String, i64)> = fx.scan_pk_prefix("ADDR#").await.iter().map(|c| (s_attr(c, "pk"), n_attr(c, "owner"))).collect();
    claims.sort();
    let mut expected = vec![(format!("ADDR#{}", addr(1).key()), 2), (format!("ADDR#{}", addr(2).key()), 1)];
    expected.sort();
    assert_eq!(claims, expected);
    let u1 = fx.raw("USER#1", "PROFILE").await.unwrap();
    assert_eq!(s_attr(&u1, "gsi2pk"), format!("ADDR#{}", addr(2).key()));
    assert_eq!(s_attr(&u1, "gsi2sk"), "USER#1");
    assert!(fx.raw("USER#99", "PROFILE").await.is_none());
}

#[tokio::test]
async fn dynamo_gsi1_queries_return_the_right_items_only() {
    let fx = Fx::new().await;
    check_gsi1_queries(&fx.store).await;
}

#[tokio::test]
async fn dynamo_gsi2_queries_return_the_right_items_only() {
    let fx = Fx::new().await;
    check_gsi2_queries(&fx.store).await;
    let closed = fx.raw("USER#1", "POS#p1").await.unwrap();
    assert_eq!(s_attr(&closed, "status"), "CLOSED");
    assert!(!closed.contains_key("gsi2pk") && !closed.contains_key("gsi2sk"), "a closed position leaves the sparse index: {closed:?}");
    let src = fx.raw("SOURCE#tv-a", "SOURCE").await.unwrap();
    assert_eq!(s_attr(&src, "gsi2pk"), "TVTOKEN#dddd");
    assert!(!src.contains_key("secret"), "never a plain secret attribute: {src:?}");
    assert_eq!(src.get("secret_ct"), Some(&AttributeValue::B(aws_sdk_dynamodb::primitives::Blob::new(b"new-secret".to_vec()))));
    assert_eq!(n_attr(&src, "enc_v"), 1);
}

#[tokio::test]
async fn dynamo_open_intents_and_wallet_users() {
    let fx = Fx::new().await;
    check_open_intents_and_wallet_users(&fx.store).await;
    // Resolved intents carry no entry of the sparse index; bound profiles are in gsi1.
    for id in ["early", "mid", "late", "idle"] {
        let item = fx.raw(&format!("INTENT#{id}"), "INTENT").await.unwrap();
        assert!(!item.contains_key("gsi2pk") && !item.contains_key("gsi2sk"), "{id}: {item:?}");
    }
    let profile = fx.raw("USER#3", "PROFILE").await.unwrap();
    assert_eq!((s_attr(&profile, "gsi1pk"), s_attr(&profile, "gsi1sk")), ("WALLET_USER".to_owned(), "USER#3".to_owned()));
    assert!(!fx.raw("USER#7", "PROFILE").await.unwrap().contains_key("gsi1pk"), "no wallet, not listed");
}

#[tokio::test]
async fn dynamo_position_and_source_rules() {
    let fx = Fx::new().await;
    check_position_rules(&fx.store).await;
    check_source_rules(&fx.store).await;
}

#[tokio::test]
async fn dynamo_exec_control_round_trip_and_operator_items() {
    let fx = Fx::new().await;
    check_exec_control(&fx.store).await;
    let item = fx.raw("CONTROL", "EXEC_MODE").await.unwrap();
    assert_eq!((s_attr(&item, "mode"), s_attr(&item, "stop"), n_attr(&item, "version")), ("LIVE".into(), "PAUSE_ENTRIES".into(), 2));

    // An operator overwrites the item with `aws dynamodb put-item`: only mode and stop.
    let s = AttributeValue::S;
    fx.put_raw(&[("pk", s("CONTROL".into())), ("sk", s("EXEC_MODE".into())), ("mode", s("LIVE".into())), ("stop", s("FLATTEN".into()))])
        .await;
    let read = fx.store.get_exec_control().await.unwrap().unwrap();
    assert_eq!(
        read,
        ExecControl { mode: ExecMode::Live, stop: StopLevel::Flatten, updated_by: None, updated_at: Timestamp(0), version: 0 }
    );
    assert_conflict(fx.store.put_exec_control(&control(ExecMode::Dry, StopLevel::None, 3)).await);
    let v1 = control(ExecMode::Dry, StopLevel::None, 1);
    fx.store.put_exec_control(&v1).await.unwrap();
    assert_eq!(fx.store.get_exec_control().await.unwrap(), Some(v1), "a versionless item counts as version 0");

    // A typo is an error, and the effective mode falls back to DRY.
    fx.put_raw(&[("pk", s("CONTROL".into())), ("sk", s("EXEC_MODE".into())), ("mode", s("YOLO".into())), ("stop", s("NONE".into()))]).await;
    let bad = fx.store.get_exec_control().await;
    assert!(matches!(bad, Err(DomainError::Internal(_))), "{bad:?}");
    let eff = effective_exec(EnvExec { mode: ExecMode::Live, emergency_stop: false }, bad);
    assert_eq!(eff.mode, ExecMode::Dry);
    fx.put_raw(&[("pk", s("CONTROL".into())), ("sk", s("EXEC_MODE".into())), ("mode", s("LIVE".into()))]).await;
    assert!(fx.store.get_exec_control().await.is_err(), "a missing stop is an error too");
}

#[tokio::test]
async fn dynamo_mark_once_and_expiry() {
    let fx = Fx::new().await;
    check_mark_once(&fx.store).await;
    let item = fx.raw("MARK#tg:update:2", "MARK").await.unwrap();
    let expires = 1_700_000_000_000 + 60_000;
    assert_eq!(n_attr(&item, "expires_at"), expires);
    assert_eq!(n_attr(&item, "ttl"), expires / 1000, "ttl is in epoch seconds");
    assert!(fx.store.mark_once("odd", Timestamp(0), Timestamp(1_500)).await.unwrap());
    assert_eq!(n_attr(&fx.raw("MARK#odd", "MARK").await.unwrap(), "ttl"), 2, "rounded up, never before expiry");
}

#[tokio::test]
async fn dynamo_hit_window_counts_and_expires() {
    let fx = Fx::new().await;
    check_hit_window(&fx.store).await;
    let item = fx.raw("WINDOW#rate:1", "WINDOW").await.unwrap();
    assert_eq!((n_attr(&item, "count"), n_attr(&item, "expires_at")), (1, 1_700_000_000_000 + 180_000));
    let full = fx.raw("WINDOW#rate:2", "WINDOW").await.unwrap();
    assert_eq!(n_attr(&full, "count"), 1);
    assert_eq!(n_attr(&full, "ttl"), (1_700_000_000_000 + 60_000) / 1000);
    // Refused hits are not counted.
    for _ in 0..5 {
        fx.store.hit_window("rate:4", Timestamp(1_000), Timestamp(9_000), 2).await.unwrap();
    }
    assert_eq!(n_attr(&fx.raw("WINDOW#rate:4", "WINDOW").await.unwrap(), "count"), 2);
}

#[tokio::test]
async fn dynamo_queries_follow_last_evaluated_key() {
    let fx = Fx::new().await;
    let paged = fx.store.clone().with_page_limit(2);
    check_many_items(&paged).await;
    // The same answers with DynamoDB's own page size.
    assert_eq!(fx.store.live_positions().await.unwrap(), paged.live_positions().await.unwrap());
    assert_eq!(fx.store.user_intents(uid(1), 5).await.unwrap(), paged.user_intents(uid(1), 5).await.unwrap());
    // And the emulator really pages at that size, so the loop above was exercised.
    let page = fx
        .client
        .query()
        .table_name(&fx.table)
        .index_name("gsi2")
        .key_condition_expression("gsi2pk = :p")
        .expression_attribute_values(":p", AttributeValue::S("LIVE_POS".into()))
        .limit(2)
        .send()
        .await
        .unwrap();
    assert_eq!(page.items().len(), 2);
    assert!(page.last_evaluated_key().is_some_and(|k| !k.is_empty()));
}
