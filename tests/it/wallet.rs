//! Proof of wallet ownership against real services: the store's proof rules on both adapters
//! (`MemoryStore` and `DynamoStore` on moto, the same `check_*` functions), what the table holds,
//! and the signing page in headless Chromium with an injected wallet.

use std::collections::HashMap;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::AttributeValue;
use vanta_aws::dynamo::{DynamoStore, create_table};
use vanta_chain::signer::LocalKeySigner;
use vanta_domain::DomainError;
use vanta_domain::ids::{ChatId, TelegramUserId, TraderAddress};
use vanta_domain::memory::MemoryStore;
use vanta_domain::ports::{Signer, Store, UserStore};
use vanta_domain::time::Timestamp;
use vanta_domain::user::User;
use vanta_domain::wallet::{AddressClaim, SiweSite, WalletChallenge};
use vanta_testkit::moto::Moto;

const T0: i64 = 1_795_852_800_000;

fn uid(n: i64) -> TelegramUserId {
    TelegramUserId(n)
}

fn addr(n: u8) -> TraderAddress {
    format!("0x{:040x}", u128::from(n) + 0x5a11_0000).parse().unwrap()
}

fn challenge(nonce: &str, user: i64, address: TraderAddress, at: i64) -> WalletChallenge {
    let site = SiweSite::from_base_url(Some("https://vanta.example.com"));
    WalletChallenge::new(nonce, uid(user), address, &site, 8453, Timestamp(at)).unwrap()
}

#[track_caller]
fn assert_conflict<T: std::fmt::Debug>(r: Result<T, DomainError>) {
    assert!(matches!(r, Err(DomainError::Conflict(_))), "expected Conflict, got {r:?}");
}

/// `personal_sign` by a local key, as `0x` hex.
pub(crate) async fn personal_sign(key: &LocalKeySigner, c: &WalletChallenge) -> String {
    let sig = key.sign_digest(c.digest()).await.unwrap();
    format!("0x{}", sig.as_bytes().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The `/verify` command that answers `user`'s latest challenge with `key`'s signature.
pub(crate) async fn verify_command(store: &dyn Store, user: i64, key: &LocalKeySigner) -> String {
    let c = store.user_challenges(uid(user), 1).await.unwrap().pop().expect("a challenge was issued");
    format!("/verify {}", personal_sign(key, &c).await)
}

// ---------------------------------------------------------------------------------------------
// The same rules on every adapter

/// Challenges: stored once per nonce, listed newest first per user (not mixed with the intents
/// and sources that share the user's index partition).
async fn check_challenges(s: &dyn Store) {
    for n in [1, 2] {
        s.get_or_create_user(User::new(uid(n), ChatId(n), Timestamp(1))).await.unwrap();
    }
    let a = challenge("nonceaaaaaaaaaaaaaaaaaaaaaaaaaa1", 1, addr(1), T0);
    let b = challenge("noncebbbbbbbbbbbbbbbbbbbbbbbbbb2", 1, addr(2), T0 + 5_000);
    let other = challenge("noncecccccccccccccccccccccccccc3", 2, addr(3), T0 + 9_000);
    for c in [&a, &b, &other] {
        s.put_challenge(c).await.unwrap();
    }
    assert_conflict(s.put_challenge(&a).await);
    assert_eq!(s.get_challenge(&a.nonce).await.unwrap(), Some(a.clone()));
    assert_eq!(s.get_challenge("nonceunknown000000000000").await.unwrap(), None);
    assert_eq!(s.user_challenges(uid(1), 10).await.unwrap(), vec![b.clone(), a.clone()]);
    assert_eq!(s.user_challenges(uid(1), 1).await.unwrap(), vec![b.clone()]);
    assert_eq!(s.user_challenges(uid(2), 10).await.unwrap(), vec![other]);
    assert!(s.user_challenges(uid(3), 10).await.unwrap().is_empty());
}

/// verify_binding: single use, expiry, the user's own challenge only, verified claims exclusive,
/// an unverified claim gives way to the prover, the previous address released; nothing changes
/// on any refusal.
async fn check_verify_binding(s: &dyn Store) {
    for n in [1, 2, 3] {
        s.get_or_create_user(User::new(uid(n), ChatId(n), Timestamp(1))).await.unwrap();
    }
    let (x, y) = (addr(10), addr(11));
    // User 2 holds x unverified (a binding from before proofs existed).
    let squatter = s.bind_address(uid(2), x).await.unwrap();
    assert_eq!((squatter.trader, squatter.trader_verified_at), (Some(x), None));
    assert_eq!(s.address_claim(x).await.unwrap(), Some(AddressClaim { owner: uid(2), verified: false }));
    assert_eq!(s.address_claim(y).await.unwrap(), None);

    // User 1 has y bound unverified and proves x.
    s.bind_address(uid(1), y).await.unwrap();
    let c = challenge("noncexxxxxxxxxxxxxxxxxxxxxxxxxx1", 1, x, T0);
    s.put_challenge(&c).await.unwrap();
    assert!(matches!(s.verify_binding("nonceunknown000000000000", uid(1), Timestamp(T0)).await, Err(DomainError::NotFound(_))));
    assert!(matches!(s.verify_binding(&c.nonce, uid(3), Timestamp(T0)).await, Err(DomainError::Forbidden(_))));
    assert_conflict(s.verify_binding(&c.nonce, uid(1), c.expires_at).await);
    assert_eq!(s.get_user(uid(1)).await.unwrap().unwrap().trader, Some(y), "an expired proof changed nothing");
    assert!(!s.get_challenge(&c.nonce).await.unwrap().unwrap().used);

    let at = Timestamp(T0 + 1_000);
    let u1 = s.verify_binding(&c.nonce, uid(1), at).await.unwrap();
    assert_eq!((u1.trader, u1.trader_verified_at), (Some(x), Some(at)));
    assert!(u1.wallet_verified());
    assert_eq!(s.get_user(uid(1)).await.unwrap(), Some(u1.clone()));
    assert_eq!(s.address_claim(x).await.unwrap(), Some(AddressClaim { owner: uid(1), verified: true }));
    assert_eq!(s.address_claim(y).await.unwrap(), None, "the previous address was released");
    let u2 = s.get_user(uid(2)).await.unwrap().unwrap();
    assert_eq!((u2.trader, u2.trader_verified_at), (None, None), "the unproved binding gave way to the owner");
    assert_eq!(s.user_by_address(x).await.unwrap().map(|u| u.id), Some(uid(1)));
    assert!(s.get_challenge(&c.nonce).await.unwrap().unwrap().used);

    // Single use.
    assert_conflict(s.verify_binding(&c.nonce, uid(1), at).await);
    // A second claimant: neither an unverified bind nor a proof of their own takes it.
    assert_conflict(s.bind_address(uid(3), x).await);
    let c3 = challenge("noncezzzzzzzzzzzzzzzzzzzzzzzzzz3", 3, x, T0);
    s.put_challenge(&c3).await.unwrap();
    assert_conflict(s.verify_binding(&c3.nonce, uid(3), at).await);
    assert!(!s.get_challenge(&c3.nonce).await.unwrap().unwrap().used, "the refused proof did not use the challenge");
    assert_eq!(s.get_user(uid(3)).await.unwrap().unwrap().trader, None);
    assert_eq!(s.get_user(uid(1)).await.unwrap(), Some(u1.clone()));

    // Settings never touch the proof; binding the same address again keeps it; another drops it.
    let mut edit = u1.clone();
    edit.trader_verified_at = None;
    edit.trader = None;
    edit.leader_opt_in = true;
    s.update_user(&edit).await.unwrap();
    let stored = s.get_user(uid(1)).await.unwrap().unwrap();
    assert!(stored.wallet_verified() && stored.leader_opt_in && stored.trader == Some(x));
    assert_eq!(s.bind_address(uid(1), x).await.unwrap(), stored);
    assert_eq!(s.address_claim(x).await.unwrap().map(|c| c.verified), Some(true));
    let moved = s.bind_address(uid(1), y).await.unwrap();
    assert_eq!((moved.trader, moved.trader_verified_at), (Some(y), None));
    assert_eq!(s.address_claim(y).await.unwrap(), Some(AddressClaim { owner: uid(1), verified: false }));
    // A user created with a proof in hand gets none.
    let mut forged = User::new(uid(4), ChatId(4), Timestamp(1));
    forged.trader = Some(addr(12));
    forged.trader_verified_at = Some(at);
    let created = s.get_or_create_user(forged).await.unwrap();
    assert_eq!((created.trader, created.trader_verified_at), (None, None));
}

#[tokio::test]
async fn memory_wallet_proofs() {
    check_challenges(&MemoryStore::new()).await;
    check_verify_binding(&MemoryStore::new()).await;
}

// ---------------------------------------------------------------------------------------------
// DynamoStore on moto

struct Fx {
    _moto: Moto,
    client: Client,
    table: String,
    store: DynamoStore,
}

impl Fx {
    async fn new(table: &str) -> Self {
        let moto = Moto::start().await.expect("moto starts");
        let conf = crate::support::sdk_config(&moto.endpoint).await;
        let client = Client::new(&conf);
        create_table(&client, table).await.expect("table created");
        let store = DynamoStore::new(client.clone(), table);
        Self { _moto: moto, client, table: table.to_owned(), store }
    }

    async fn raw(&self, pk: &str, sk: &str) -> Option<HashMap<String, AttributeValue>> {
        let key = |v: &str| AttributeValue::S(v.into());
        self.client
            .get_item()
            .table_name(&self.table)
            .key("pk", key(pk))
            .key("sk", key(sk))
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
}

#[tokio::test]
async fn dynamo_wallet_proofs() {
    let fx = Fx::new("vanta-wallet-proofs").await;
    check_challenges(&fx.store).await;
    let c = fx.raw("CHALLENGE#nonceaaaaaaaaaaaaaaaaaaaaaaaaaa1", "CHALLENGE").await.unwrap();
    assert_eq!(c.get("used"), Some(&AttributeValue::Bool(false)));
    assert_eq!(c.get("gsi1pk"), Some(&AttributeValue::S("USER#1".into())));
    let ttl: i64 = c.get("ttl").unwrap().as_n().unwrap().parse().unwrap();
    assert!(ttl * 1000 > T0 + 600_000, "kept past its expiry: {ttl}");

    let fx = Fx::new("vanta-wallet-binding").await;
    check_verify_binding(&fx.store).await;
    assert!(fx.raw(&format!("ADDR#{}", addr(10).key()), "CLAIM").await.is_none(), "released by the last move");
    let claim = fx.raw(&format!("ADDR#{}", addr(11).key()), "CLAIM").await.unwrap();
    assert_eq!(claim.get("verified"), Some(&AttributeValue::Bool(false)));
    assert_eq!(claim.get("owner").unwrap().as_n().unwrap(), "1");
    let u2 = fx.raw("USER#2", "PROFILE").await.unwrap();
    assert!(!u2.contains_key("gsi2pk"), "the dispossessed profile left the address index: {u2:?}");
}

#[tokio::test]
async fn dynamo_records_from_before_proofs_read_as_unverified() {
    let fx = Fx::new("vanta-wallet-legacy").await;
    let x = addr(20);
    // A profile and a claim as the previous version wrote them: no proof fields at all.
    let data = serde_json::json!({
        "id": 5, "chat": 5, "username": null, "trader": x.to_string(), "delegate_key": null, "active": true,
        "automation_paused": false, "risk": serde_json::to_value(vanta_domain::risk::RiskPolicy::default()).unwrap(), "created_at": 1
    });
    fx.put_raw(&[
        ("pk", AttributeValue::S("USER#5".into())),
        ("sk", AttributeValue::S("PROFILE".into())),
        ("data", AttributeValue::S(data.to_string())),
        ("rev", AttributeValue::N("3".into())),
        ("gsi2pk", AttributeValue::S(format!("ADDR#{}", x.key()))),
        ("gsi2sk", AttributeValue::S("USER#5".into())),
    ])
    .await;
    fx.put_raw(&[
        ("pk", AttributeValue::S(format!("ADDR#{}", x.key()))),
        ("sk", AttributeValue::S("CLAIM".into())),
        ("owner", AttributeValue::N("5".into())),
    ])
    .await;
    let u = fx.store.get_user(uid(5)).await.unwrap().unwrap();
    assert_eq!((u.trader, u.wallet_verified(), u.leader_opt_in), (Some(x), false, false));
    assert_eq!(fx.store.address_claim(x).await.unwrap(), Some(AddressClaim { owner: uid(5), verified: false }));
    // The owner (user 6) proves it: the legacy claim gives way.
    fx.store.get_or_create_user(User::new(uid(6), ChatId(6), Timestamp(1))).await.unwrap();
    let c = challenge("noncelegacy000000000000000000000", 6, x, T0);
    fx.store.put_challenge(&c).await.unwrap();
    assert!(fx.store.verify_binding(&c.nonce, uid(6), Timestamp(T0)).await.unwrap().wallet_verified());
    assert_eq!(fx.store.get_user(uid(5)).await.unwrap().unwrap().trader, None);
    let claim = fx.raw(&format!("ADDR#{}", x.key()), "CLAIM").await.unwrap();
    assert_eq!((claim.get("verified"), claim.get("owner")), (Some(&AttributeValue::Bool(true)), Some(&AttributeValue::N("6".into()))));
    assert_eq!(claim.get("verified_at"), Some(&AttributeValue::N(T0.to_string())));
    assert!(!fx.raw("USER#5", "PROFILE").await.unwrap().contains_key("gsi2pk"));
}

// ---------------------------------------------------------------------------------------------
// The signing page in a real browser

/// A loopback port that was free a moment ago.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).map(|a| a.port()).unwrap()
}

/// Runs `tests/support/link_page.mjs` against `url`: (exit success, the JSON it printed).
async fn drive_page(url: &str, address: &str, signature: &str, message: &str) -> (bool, serde_json::Value) {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let file = std::env::temp_dir().join(format!("vanta-link-{}-{}.txt", std::process::id(), free_port()));
    std::fs::write(&file, message).unwrap();
    let out = tokio::process::Command::new("node")
        .arg(root.join("tests/support/link_page.mjs"))
        .args([url, address, signature])
        .arg(&file)
        .current_dir(&root)
        .kill_on_drop(true)
        .output()
        .await
        .expect("node runs");
    let _ = std::fs::remove_file(&file);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let json = stdout.lines().rev().find_map(|l| serde_json::from_str(l).ok()).unwrap_or_else(|| {
        panic!("no result from the browser script: {stdout} / {}", String::from_utf8_lossy(&out.stderr));
    });
    (out.status.success(), json)
}

#[tokio::test]
#[cfg_attr(not(vanta_browser), ignore = "needs /usr/bin/chromium and node_modules/playwright-core (make test installs both)")]
async fn the_signing_page_binds_a_wallet_in_headless_chromium() {
    let port = free_port();
    let env = [("VANTA_HTTP_ADDR", format!("127.0.0.1:{port}")), ("PUBLIC_BASE_URL", format!("http://127.0.0.1:{port}"))];
    let config = vanta_runtime::Config::from_lookup(|k| env.iter().find(|(n, _)| *n == k).map(|(_, v)| v.clone())).unwrap();
    let running = vanta_local::System::build(config).unwrap().start().await.unwrap();
    let deps = running.deps.clone();
    let user = deps.store.get_or_create_user(User::new(uid(77), ChatId(77), Timestamp(1))).await.unwrap();
    let key = LocalKeySigner::random().unwrap();
    let c = vanta_app::wallet::issue(&deps, &user, key.address()).await.unwrap();
    let url = vanta_app::wallet::site(&deps).link(&c.nonce).unwrap();
    let address = key.address().to_string();

    // Another key's signature: the page shows the server's refusal, nothing is bound.
    let stranger = LocalKeySigner::random().unwrap();
    let (ok, out) = drive_page(&url, &address, &personal_sign(&stranger, &c).await, &c.message).await;
    assert!(!ok, "{out}");
    assert_eq!(out["httpStatus"], 200, "{out}");
    assert!(out["status"].as_str().unwrap_or_default().contains("not by"), "{out}");
    assert!(
        out["calls"].as_array().unwrap().iter().all(|c| c.get("mismatch").is_none()),
        "the page asked to sign the exact message: {out}"
    );
    assert!(!deps.store.get_user(uid(77)).await.unwrap().unwrap().wallet_verified());

    // The wallet's own signature: verified, and the page says so.
    let (ok, out) = drive_page(&url, &address, &personal_sign(&key, &c).await, &c.message).await;
    assert!(ok, "{out}");
    assert!(out["console"].as_array().unwrap().is_empty(), "no console errors (a CSP violation would be one): {out}");
    let u = deps.store.get_user(uid(77)).await.unwrap().unwrap();
    assert!(u.wallet_verified() && u.trader == Some(key.address()), "{u:?}");

    // The link works once.
    let (ok, out) = drive_page(&url, &address, &personal_sign(&key, &c).await, &c.message).await;
    assert!(!ok);
    assert_eq!(out["httpStatus"], 410, "{out}");
    running.stop().await;
}
