//! Proof of wallet ownership and leader opt-in, end to end over the in-memory store with real
//! secp256k1 signatures: binding, refusals, the rebind rule, the LIVE gate, copy fan-out and
//! the signing page's routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use crate::http::testing::{self, TestRequest};
use async_trait::async_trait;
use k256::ecdsa::SigningKey;
use vanta_domain::DomainResult;
use vanta_domain::exec::{ExecControl, ExecMode, StopLevel};
use vanta_domain::ids::{ChatId, IntentId, SourceId, TelegramUserId, TraderAddress};
use vanta_domain::intent::IntentState;
use vanta_domain::market::{PairCatalog, PairSymbol};
use vanta_domain::memory::{FixedPrices, MemoryQueue, MemoryStore, PaperVenue, RecordingChat};
use vanta_domain::money::{Leverage, Price, Usdc};
use vanta_domain::ports::*;
use vanta_domain::time::{Clock, ManualClock, Timestamp};
use vanta_domain::user::{CopySizing, Follow, LeaderRef, SecretText, SignalSource, User};
use vanta_domain::wallet::{ChallengeState, WalletChallenge};

use crate::tests_support::pair;
use crate::{Deps, signals, wallet, worker};

const T0: i64 = 1_795_852_800_000;

/// A secp256k1 key that answers `personal_sign` as a wallet does (r ‖ s ‖ v, v = 27/28).
pub(crate) struct Key(SigningKey);

impl Key {
    pub fn new(seed: u8) -> Self {
        Self(SigningKey::from_slice(&[seed; 32]).unwrap())
    }
    pub fn address(&self) -> TraderAddress {
        let point = self.0.verifying_key().to_encoded_point(false);
        TraderAddress::new(alloy_primitives::Address::from_raw_public_key(&point.as_bytes()[1..])).unwrap()
    }
    pub fn personal_sign_hex(&self, message: &str) -> String {
        let digest = alloy_primitives::eip191_hash_message(message.as_bytes());
        let (sig, rec) = self.0.sign_prehash_recoverable(digest.as_slice()).unwrap();
        let mut out = sig.to_bytes().to_vec();
        out.push(27 + rec.to_byte());
        format!("0x{}", hex::encode(out))
    }
}

/// Binds a wallet to `user` with a proof (store level: the signature path is tested below) and
/// opts the user in as a leader. For other tests that need a followable, LIVE-capable user.
pub(crate) async fn verified_leader(store: &MemoryStore, user: TelegramUserId, now: Timestamp) -> User {
    let key = Key::new(u8::try_from(user.0 % 200).unwrap() + 20);
    let site = vanta_domain::wallet::SiweSite::from_base_url(None);
    let c = WalletChallenge::new(&wallet::new_nonce(), user, key.address(), &site, 8453, now).unwrap();
    store.put_challenge(&c).await.unwrap();
    let mut u = store.verify_binding(&c.nonce, user, now).await.unwrap();
    u.leader_opt_in = true;
    store.update_user(&u).await.unwrap();
    store.get_user(user).await.unwrap().unwrap()
}

// ----- a small system --------------------------------------------------------------------------

struct Sys {
    deps: Deps,
    store: Arc<MemoryStore>,
    queue: Arc<MemoryQueue>,
    chat: Arc<RecordingChat>,
    clock: Arc<ManualClock>,
}

fn sys_with(env: &[(&str, &str)]) -> Sys {
    let config = crate::tests_support::config(env);
    let clock = Arc::new(ManualClock::new(Timestamp(T0)));
    let store = Arc::new(MemoryStore::new());
    let queue = Arc::new(MemoryQueue::new(clock.clone()));
    let chat = Arc::new(RecordingChat::new());
    let prices = Arc::new(FixedPrices::new());
    for (sym, p) in [("BTC/USD", "100000"), ("ETH/USD", "3500")] {
        for src in ["pyth", "chainlink"] {
            prices.set(PairSymbol::parse(sym).unwrap(), src, Price::from_str(p).unwrap(), clock.now()).unwrap();
        }
    }
    let catalog = Arc::new(PairCatalog::new([pair(0, "ETH/USD"), pair(1, "BTC/USD")]).unwrap());
    let paper = Arc::new(PaperVenue::new(catalog, prices.clone(), clock.clone()));
    let deps = Deps::new(config, store.clone(), queue.clone(), chat.clone(), clock.clone(), prices, paper);
    Sys { deps, store, queue, chat, clock }
}

fn sys() -> Sys {
    sys_with(&[("PUBLIC_BASE_URL", "https://vanta.example.com")])
}

impl Sys {
    async fn user(&self, id: i64) -> User {
        self.store.get_or_create_user(User::new(TelegramUserId(id), ChatId(id), self.clock.now())).await.unwrap()
    }
    async fn fresh(&self, id: i64) -> User {
        self.store.get_user(TelegramUserId(id)).await.unwrap().unwrap()
    }
    /// `/bind` then a signature by `key` over the challenge.
    async fn prove(&self, id: i64, key: &Key) -> User {
        let u = self.fresh(id).await;
        let c = wallet::issue(&self.deps, &u, key.address()).await.unwrap();
        wallet::verify_pasted(&self.deps, &u, &key.personal_sign_hex(&c.message)).await.unwrap().0
    }
    async fn source(&self, owner: i64, id: &str) {
        self.user(owner).await;
        let s = SignalSource {
            id: SourceId::parse(id).unwrap(),
            owner: TelegramUserId(owner),
            secret: SecretText::new("k3y").into(),
            tv_token_hash: signals::token_hash(&format!("tv-{id}")),
            active: true,
            created_at: self.clock.now(),
            rotated_at: None,
        };
        self.store.create_source(&s).await.unwrap();
    }
    async fn signal(&self, body: serde_json::Value) -> u16 {
        let body = body.to_string();
        let ts = self.clock.now().secs().to_string();
        let req = TestRequest::new("POST", "/signals")
            .with_header("X-Vanta-Timestamp", &ts)
            .with_header("X-Vanta-Signature", &signals::sign("k3y", &ts, body.as_bytes()))
            .with_body(body);
        testing::call(&self.deps, req).await.status
    }
    async fn drain(&self) {
        for _ in 0..20 {
            let batch = self.queue.take(10).unwrap();
            if batch.is_empty() {
                break;
            }
            for m in batch {
                let _ = worker::handle_message(&self.deps, &m.body).await;
            }
        }
    }
    async fn live(&self, id: i64) -> Vec<vanta_domain::position::Position> {
        self.store.user_positions(TelegramUserId(id), true).await.unwrap()
    }
    fn messages_to(&self, chat: i64) -> Vec<String> {
        self.chat.sent().into_iter().filter(|m| m.chat == ChatId(chat)).map(|m| m.html).collect()
    }
}

fn open(source: &str, id: &str) -> serde_json::Value {
    serde_json::json!({"source": source, "id": id, "action": "open", "pair": "BTC/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"})
}

fn close(source: &str, id: &str) -> serde_json::Value {
    serde_json::json!({"source": source, "id": id, "action": "close", "pair": "BTC/USD", "side": "long"})
}

// ----- the proof ---------------------------------------------------------------------------------

#[tokio::test]
async fn a_good_key_binds_and_another_key_an_expired_or_reused_challenge_and_a_second_claimant_are_refused() {
    let s = sys();
    let (alice, other, carol_key) = (Key::new(1), Key::new(2), Key::new(3));
    let u1 = s.user(1).await;

    // /bind stores a pending challenge: nothing is bound yet.
    let c = wallet::issue(&s.deps, &u1, alice.address()).await.unwrap();
    assert!(c.message.starts_with("vanta.example.com wants you to sign in with your Ethereum account:\n"), "{}", c.message);
    assert!(
        c.message.contains(&alice.address().to_string()) && c.message.contains("Telegram user 1") && c.message.contains("Chain ID: 8453")
    );
    assert_eq!(c.nonce.len(), vanta_domain::wallet::NONCE_LEN);
    assert_eq!(s.fresh(1).await.trader, None, "pending only");
    assert_eq!(wallet::site(&s.deps).link(&c.nonce).unwrap(), format!("https://vanta.example.com/link/{}", c.nonce));

    // Another key's signature over the right message is refused with the reason.
    let r = wallet::verify_pasted(&s.deps, &u1, &other.personal_sign_hex(&c.message)).await.unwrap_err();
    assert_eq!(r.status, 422);
    assert!(r.reason.contains(&other.address().to_string()) && r.reason.contains(&alice.address().to_string()), "{}", r.reason);
    // A signature of other text by the right key is refused too.
    let r = wallet::verify_pasted(&s.deps, &u1, &alice.personal_sign_hex("something else")).await.unwrap_err();
    assert_eq!(r.status, 422, "{r:?}");
    assert!(!s.fresh(1).await.wallet_verified());

    // The good key binds, verified.
    let good = alice.personal_sign_hex(&c.message);
    let (u, used) = wallet::verify_pasted(&s.deps, &u1, &good).await.unwrap();
    assert_eq!(used.nonce, c.nonce);
    assert!(u.wallet_verified() && u.trader == Some(alice.address()));
    assert_eq!(s.fresh(1).await, u);

    // The same challenge again: refused as used.
    let r = wallet::verify_pasted(&s.deps, &u1, &good).await.unwrap_err();
    assert_eq!(r.status, 410);
    assert!(r.reason.contains("used already"), "{}", r.reason);

    // A second claimant of the verified wallet is refused at /bind.
    let u2 = s.user(2).await;
    let r = wallet::issue(&s.deps, &u2, alice.address()).await.unwrap_err();
    assert_eq!(r.status, 409);
    assert!(r.reason.contains("already verified by another"), "{}", r.reason);

    // An expired challenge is refused.
    let u3 = s.user(3).await;
    let c3 = wallet::issue(&s.deps, &u3, carol_key.address()).await.unwrap();
    s.clock.advance(Duration::from_secs(601));
    let r = wallet::verify_pasted(&s.deps, &u3, &carol_key.personal_sign_hex(&c3.message)).await.unwrap_err();
    assert_eq!(r.status, 410);
    assert!(r.reason.contains("expired"), "{}", r.reason);
    assert_eq!(s.fresh(3).await.trader, None);

    // Garbage is refused as such.
    assert_eq!(wallet::verify_pasted(&s.deps, &u3, "0x1234zz").await.unwrap_err().status, 400);
    assert_eq!(wallet::verify_pasted(&s.deps, &s.user(9).await, &good).await.unwrap_err().status, 404, "no challenge at all");
}

#[tokio::test]
async fn an_unverified_binding_does_not_lock_out_the_owner_who_proves_it() {
    let s = sys();
    let owner = Key::new(5);
    s.user(4).await;
    // User 4 bound the address before proofs existed (or typed someone else's address).
    let squatter = s.store.bind_address(TelegramUserId(4), owner.address()).await.unwrap();
    assert!(!squatter.wallet_verified());
    // The owner, user 5, proves it and wins; user 4's unproved binding is dropped.
    s.user(5).await;
    let u5 = s.prove(5, &owner).await;
    assert!(u5.wallet_verified());
    assert_eq!(s.fresh(4).await.trader, None);
    assert!(s.messages_to(4).iter().any(|m| m.contains("no longer bound to you")), "the displaced user is told");
    assert!(s.messages_to(5).iter().all(|m| !m.contains("no longer bound")));
    assert_eq!(s.store.user_by_address(owner.address()).await.unwrap().unwrap().id, TelegramUserId(5));
    // And user 4 can no longer get it back by proving nothing.
    let r = wallet::issue(&s.deps, &s.fresh(4).await, owner.address()).await.unwrap_err();
    assert_eq!(r.status, 409);
}

#[tokio::test]
async fn rebinding_is_refused_while_the_wallet_has_positions_or_orders_and_allowed_after() {
    let s = sys();
    let (old, new) = (Key::new(11), Key::new(12));
    s.source(1, "mine").await;
    s.prove(1, &old).await;
    assert_eq!(s.signal(open("mine", "o-1")).await, 202);

    // An order in flight (queued, not yet run) blocks a rebind.
    let r = wallet::issue(&s.deps, &s.fresh(1).await, new.address()).await.unwrap_err();
    assert_eq!(r.status, 409);
    assert!(r.reason.contains("in flight"), "{}", r.reason);

    // So does the open position it made.
    s.drain().await;
    let before = s.live(1).await;
    assert_eq!(before.len(), 1);
    let r = wallet::issue(&s.deps, &s.fresh(1).await, new.address()).await.unwrap_err();
    assert!(r.reason.contains("1 open position"), "{}", r.reason);
    assert_eq!(s.fresh(1).await.trader, Some(old.address()));
    // Binding the same wallet again is no rebind.
    assert!(wallet::issue(&s.deps, &s.fresh(1).await, old.address()).await.is_ok());

    // A challenge issued while flat is not completed once a position opened meanwhile.
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(s.signal(close("mine", "c-1")).await, 202);
    s.drain().await;
    assert!(s.live(1).await.is_empty());
    let c = wallet::issue(&s.deps, &s.fresh(1).await, new.address()).await.unwrap();
    assert_eq!(s.signal(open("mine", "o-2")).await, 202);
    s.drain().await;
    let r = wallet::verify_pasted(&s.deps, &s.fresh(1).await, &new.personal_sign_hex(&c.message)).await.unwrap_err();
    assert_eq!(r.status, 409, "{r:?}");
    let kept = s.live(1).await;
    assert_eq!(s.fresh(1).await.trader, Some(old.address()), "the old wallet stays while it has a position");

    // Flat again: the rebind goes through and the old wallet's closed positions are untouched.
    assert_eq!(s.signal(close("mine", "c-2")).await, 202);
    s.drain().await;
    let closed_before = s.store.user_positions(TelegramUserId(1), false).await.unwrap();
    let u = wallet::verify_pasted(&s.deps, &s.fresh(1).await, &new.personal_sign_hex(&c.message)).await.unwrap().0;
    assert_eq!((u.trader, u.wallet_verified()), (Some(new.address()), true));
    assert_eq!(s.store.user_positions(TelegramUserId(1), false).await.unwrap(), closed_before);
    assert_eq!(s.store.address_claim(old.address()).await.unwrap(), None, "the old wallet was released");
    assert_eq!(kept.len(), 1);
}

// ----- the LIVE gate -----------------------------------------------------------------------------

/// A LIVE venue that signs each order it executes; counts the signatures.
struct SigningVenue {
    book: Arc<PaperVenue>,
    signatures: Arc<AtomicUsize>,
}

#[async_trait]
impl Venue for SigningVenue {
    fn mode(&self) -> ExecMode {
        ExecMode::Live
    }
    async fn pairs(&self) -> DomainResult<Arc<PairCatalog>> {
        self.book.pairs().await
    }
    async fn execute(&self, r: &IntentId, o: &VenueOrder) -> DomainResult<VenueFill> {
        self.signatures.fetch_add(1, Ordering::SeqCst);
        self.book.execute(r, o).await
    }
    async fn positions(&self, t: TraderAddress) -> DomainResult<Vec<VenuePosition>> {
        self.book.positions(t).await
    }
    async fn lookup(&self, r: &IntentId) -> DomainResult<Lookup> {
        self.book.lookup(r).await
    }
}

#[tokio::test]
async fn a_live_open_of_an_unverified_wallet_is_refused_before_signing_and_its_exits_are_not() {
    let mut s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE")]);
    let signatures = Arc::new(AtomicUsize::new(0));
    let prices = Arc::new(FixedPrices::new());
    prices.set(PairSymbol::parse("BTC/USD").unwrap(), "pyth", Price::from_str("100000").unwrap(), s.clock.now()).unwrap();
    let book = Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([pair(1, "BTC/USD")]).unwrap()), prices, s.clock.clone()));
    s.deps.live = Some(Arc::new(SigningVenue { book, signatures: signatures.clone() }));
    s.store
        .put_exec_control(&ExecControl {
            mode: ExecMode::Live,
            stop: StopLevel::None,
            updated_by: None,
            updated_at: s.clock.now(),
            version: 1,
        })
        .await
        .unwrap();
    let key = Key::new(21);
    s.source(7, "strat").await;
    s.store.bind_address(TelegramUserId(7), key.address()).await.unwrap(); // a legacy, unverified binding

    assert_eq!(s.signal(open("strat", "a-1")).await, 202);
    s.drain().await;
    assert_eq!(signatures.load(Ordering::SeqCst), 0, "nothing was signed");
    let i = s.store.get_intent(&IntentId::parse("sig:strat:a-1").unwrap()).await.unwrap().unwrap();
    assert_eq!(i.state, IntentState::Rejected);
    assert!(i.reason.as_deref().unwrap().contains("not verified"), "{:?}", i.reason);
    assert!(s.messages_to(7).iter().any(|m| m.contains("refused") && m.contains("not verified")));

    // Proved: LIVE opens sign.
    s.prove(7, &key).await;
    assert_eq!(s.signal(open("strat", "a-2")).await, 202);
    s.drain().await;
    assert_eq!(signatures.load(Ordering::SeqCst), 1);
    assert_eq!(s.live(7).await.len(), 1);

    // A LIVE position held by a user who is no longer verified (their unproved binding gave way to
    // the owner, say) still closes: exits are never refused.
    s.user(8).await;
    let mut p = s.live(7).await.pop().unwrap();
    p.user = TelegramUserId(8);
    s.store.insert_position(&p).await.unwrap();
    s.store.bind_address(TelegramUserId(8), Key::new(22).address()).await.unwrap();
    let src = SignalSource {
        id: SourceId::parse("eight").unwrap(),
        owner: TelegramUserId(8),
        secret: SecretText::new("k3y").into(),
        tv_token_hash: signals::token_hash("tv-eight"),
        active: true,
        created_at: s.clock.now(),
        rotated_at: None,
    };
    s.store.create_source(&src).await.unwrap();
    assert_eq!(s.signal(close("eight", "x-1")).await, 202);
    s.drain().await;
    assert!(s.live(8).await.is_empty(), "the unverified user's LIVE position closed");
}

// ----- leaders -------------------------------------------------------------------------------------

fn follow(follower: i64, leader: i64, at: Timestamp) -> Follow {
    Follow {
        follower: TelegramUserId(follower),
        leader: LeaderRef::User(TelegramUserId(leader)),
        sizing: CopySizing::Fixed { collateral: Usdc::from_str("100").unwrap() },
        max_leverage: Leverage::from_whole(20).unwrap(),
        per_trade_cap: Usdc::from_str("500").unwrap(),
        daily_cap: Usdc::from_str("2000").unwrap(),
        counter: false,
        adopt_existing: false,
        stop_after_losses: 0,
        max_drawdown: Usdc::ZERO,
        active: true,
        since: at,
    }
}

#[tokio::test]
async fn only_an_opted_in_verified_leader_is_copied_and_opting_out_stops_new_copies_not_exits() {
    let s = sys();
    s.source(1, "lead").await;
    s.user(2).await;
    // A follow that exists (say from before opt-in was required) of a user who never opted in.
    s.store.put_follow(&follow(2, 1, s.clock.now())).await.unwrap();
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(s.signal(open("lead", "l-1")).await, 202);
    s.drain().await;
    assert_eq!(s.live(1).await.len(), 1);
    assert!(s.live(2).await.is_empty(), "a non-leader is not copied");

    // Verified but not opted in: still not copied.
    s.prove(1, &Key::new(31)).await;
    assert_eq!(s.signal(open("lead", "l-2")).await, 202);
    s.drain().await;
    assert!(s.live(2).await.is_empty());

    // Opted in: copied.
    let mut u = s.fresh(1).await;
    u.leader_opt_in = true;
    s.store.update_user(&u).await.unwrap();
    s.clock.advance(Duration::from_secs(1));
    assert_eq!(s.signal(serde_json::json!({"source": "lead", "id": "l-3", "action": "open", "pair": "ETH/USD", "side": "long", "collateral_usdc": "100", "leverage": "5"})).await, 202);
    s.drain().await;
    assert_eq!(s.live(2).await.len(), 1, "copied once opted in");

    // Opted out: new trades are not copied, but the copy already held follows the leader's exit.
    u.leader_opt_in = false;
    s.store.update_user(&u).await.unwrap();
    assert_eq!(s.signal(open("lead", "l-4")).await, 202);
    s.drain().await;
    assert_eq!(s.live(2).await.len(), 1, "no new copy");
    assert_eq!(
        s.signal(serde_json::json!({"source": "lead", "id": "x-eth", "action": "close", "pair": "ETH/USD", "side": "long"})).await,
        202
    );
    s.drain().await;
    assert!(s.live(2).await.is_empty(), "the exit was mirrored");
}

// ----- the signing page ----------------------------------------------------------------------------

#[tokio::test]
async fn the_link_page_signs_once_and_refuses_unknown_expired_and_wrong_signatures() {
    let s = sys();
    let key = Key::new(41);
    let u = s.user(1).await;
    let c = wallet::issue(&s.deps, &u, key.address()).await.unwrap();
    let path = format!("/link/{}", c.nonce);

    let page = testing::call(&s.deps, TestRequest::new("GET", &path)).await;
    assert_eq!(page.status, 200);
    let header = |name: &str| page.header(name).unwrap_or_default().to_owned();
    assert!(header("content-type").starts_with("text/html"));
    let csp = header("content-security-policy");
    assert!(csp.contains("default-src 'none'") && csp.contains(&wallet::csp_hash(wallet::LINK_SCRIPT)) && !csp.contains("unsafe"), "{csp}");
    let html = String::from_utf8(page.body.to_vec()).unwrap();
    assert!(html.contains(&format!("<pre id=\"msg\">{}</pre>", wallet::html(&c.message))), "the whole message in one pre block");
    assert!(html.contains("Sign with wallet") && !html.contains("src=\"http"), "self-contained");

    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", "/link/unknownnonce00000000")).await.status, 404);
    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", "/link/<script>")).await.status, 404);

    let post = |body: String| TestRequest::new("POST", &path).with_header("content-type", "application/json").with_body(body);
    let r = testing::call(&s.deps, post("not json".into())).await;
    assert_eq!(r.status, 400);
    let wrong = Key::new(42).personal_sign_hex(&c.message);
    let r = testing::call(&s.deps, post(serde_json::json!({"signature": wrong}).to_string())).await;
    assert_eq!(r.status, 422);
    assert!(r.body_json()["error"].as_str().unwrap().contains("not by"));

    let good = serde_json::json!({"signature": key.personal_sign_hex(&c.message)}).to_string();
    let r = testing::call(&s.deps, post(good.clone())).await;
    assert_eq!(r.status, 200, "{:?}", r.body_json());
    assert_eq!(r.body_json()["status"], "verified");
    assert!(s.fresh(1).await.wallet_verified());
    assert!(s.messages_to(1).iter().any(|m| m.contains("verified") && m.contains(&key.address().to_string())), "told on Telegram");

    // Used: the page and the post say so.
    assert_eq!(testing::call(&s.deps, TestRequest::new("GET", &path)).await.status, 410);
    assert_eq!(testing::call(&s.deps, post(good)).await.status, 410);

    // Expired.
    let c2 = wallet::issue(&s.deps, &s.user(2).await, Key::new(43).address()).await.unwrap();
    s.clock.advance(Duration::from_secs(600));
    assert_eq!(c2.state_at(s.clock.now()), ChallengeState::Expired);
    let r = testing::call(&s.deps, TestRequest::new("GET", &format!("/link/{}", c2.nonce))).await;
    assert_eq!(r.status, 410);
    assert!(String::from_utf8_lossy(&r.body).contains("expired"));
}

#[test]
fn base64_and_csp_hashes() {
    assert_eq!(wallet::base64(b""), "");
    assert_eq!(wallet::base64(b"f"), "Zg==");
    assert_eq!(wallet::base64(b"fo"), "Zm8=");
    assert_eq!(wallet::base64(b"foo"), "Zm9v");
    assert_eq!(wallet::csp_hash("abc"), "'sha256-ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0='");
}

#[tokio::test]
async fn a_contract_wallet_proves_itself_through_eip1271() {
    /// A contract wallet that accepts exactly one signature over exactly one hash.
    struct OneSig {
        wallet: TraderAddress,
        hash: std::sync::Mutex<Option<alloy_primitives::B256>>,
        sig: Vec<u8>,
    }
    #[async_trait]
    impl ContractWallets for OneSig {
        async fn is_valid_signature(&self, w: TraderAddress, hash: alloy_primitives::B256, sig: &[u8]) -> DomainResult<Option<bool>> {
            if w != self.wallet {
                return Ok(None);
            }
            Ok(Some(Some(hash) == *self.hash.lock().unwrap() && sig == self.sig.as_slice()))
        }
    }
    let mut s = sys();
    let safe = TraderAddress::from_str("0x00000000000000000000000000000000000005af").unwrap();
    let cw = Arc::new(OneSig { wallet: safe, hash: std::sync::Mutex::new(None), sig: vec![0xab; 97] });
    s.deps.contract_wallets = Some(cw.clone());
    let u = s.user(1).await;
    let c = wallet::issue(&s.deps, &u, safe).await.unwrap();
    *cw.hash.lock().unwrap() = Some(c.digest());
    let r = wallet::verify_pasted(&s.deps, &u, &format!("0x{}", "cd".repeat(97))).await.unwrap_err();
    assert_eq!(r.status, 422);
    assert!(r.reason.contains("did not accept"), "{}", r.reason);
    let (v, _) = wallet::verify_pasted(&s.deps, &u, &format!("0x{}", "ab".repeat(97))).await.unwrap();
    assert!(v.wallet_verified() && v.trader == Some(safe));
}

// ----- on Telegram -----------------------------------------------------------------------------------

impl Sys {
    /// Sends `text` as a private message from `user` and returns the bot's last reply to them.
    async fn say(&self, user: i64, text: &str) -> String {
        static NEXT: AtomicUsize = AtomicUsize::new(1);
        let update = serde_json::json!({"update_id": NEXT.fetch_add(1, Ordering::SeqCst), "message": {
            "message_id": 1, "from": {"id": user, "is_bot": false, "first_name": "T"},
            "chat": {"id": user, "type": "private", "first_name": "T"}, "date": self.clock.now().secs(), "text": text}});
        crate::telegram::process_update(&self.deps, update.to_string().as_bytes()).await.unwrap();
        self.messages_to(user).pop().unwrap_or_default()
    }
}

#[tokio::test]
async fn an_unverified_wallet_says_so_and_gets_no_balance_no_live_trade_and_no_leadership_until_proved() {
    let mut s = sys_with(&[("COPY_EXECUTION_MODE", "LIVE"), ("PUBLIC_BASE_URL", "https://vanta.example.com")]);
    let signatures = Arc::new(AtomicUsize::new(0));
    let book =
        Arc::new(PaperVenue::new(Arc::new(PairCatalog::new([pair(1, "BTC/USD")]).unwrap()), Arc::new(FixedPrices::new()), s.clock.clone()));
    s.deps.live = Some(Arc::new(SigningVenue { book, signatures: signatures.clone() }));
    s.store
        .put_exec_control(&ExecControl {
            mode: ExecMode::Live,
            stop: StopLevel::None,
            updated_by: None,
            updated_at: s.clock.now(),
            version: 1,
        })
        .await
        .unwrap();
    let key = Key::new(51);
    s.user(7).await;
    s.store.bind_address(TelegramUserId(7), key.address()).await.unwrap(); // from before proofs existed

    let w = s.say(7, "/wallet").await;
    assert!(w.contains(&key.address().to_string()) && w.contains("not verified"), "{w}");
    let b = s.say(7, "/balance").await;
    assert!(b.contains("only for a verified wallet"), "{b}");
    let l = s.say(7, "/long btc 100 5x").await;
    assert!(l.contains("LIVE trades need a verified wallet"), "{l}");
    assert!(s.store.user_intents(TelegramUserId(7), 10).await.unwrap().is_empty(), "nothing was proposed");
    let lead = s.say(7, "/leader on").await;
    assert!(lead.contains("Only a verified wallet"), "{lead}");

    // /bind answers with the whole message in one <pre> block and the signing link.
    let bind = s.say(7, &format!("/bind {}", key.address())).await;
    let c = s.store.user_challenges(TelegramUserId(7), 1).await.unwrap().pop().unwrap();
    assert!(bind.contains(&format!("<pre>{}</pre>", crate::telegram::render::esc(&c.message))), "{bind}");
    assert!(bind.contains(&format!("https://vanta.example.com/link/{}", c.nonce)), "{bind}");
    let pending = s.say(7, "/wallet").await;
    assert!(pending.contains("Pending proof"), "{pending}");

    let wrong = s.say(7, &format!("/verify {}", Key::new(52).personal_sign_hex(&c.message))).await;
    assert!(wrong.contains("Not verified") && wrong.contains("not by"), "{wrong}");
    let ok = s.say(7, &format!("/verify {}", key.personal_sign_hex(&c.message))).await;
    assert!(ok.contains("verified"), "{ok}");
    let w = s.say(7, "/wallet").await;
    assert!(w.contains("✅ verified") && !w.contains("Pending proof"), "{w}");
    assert!(s.say(7, "/balance").await.contains("Balance"));
    assert!(s.say(7, "/leader on").await.contains("You are a leader"));
    assert!(s.fresh(7).await.leader_opt_in);
    s.user(8).await;
    s.store.put_follow(&follow(8, 7, s.clock.now())).await.unwrap();
    let off = s.say(7, "/leader off").await;
    assert!(s.messages_to(8).iter().any(|m| m.contains("no longer a leader")), "the follower is told");
    assert!(off.contains("Leader off") && !s.fresh(7).await.leader_opt_in, "{off}");
    assert_eq!(signatures.load(Ordering::SeqCst), 0);
}
